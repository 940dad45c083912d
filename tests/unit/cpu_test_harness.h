/* A small harness for CPU instruction unit tests: guest RAM, a vCPU put
 * directly in real, 32-bit protected or 64-bit mode with flat segments
 * (and identity paging for 64-bit), code loaded at TH_CODE and run until it
 * reaches the `jmp $` appended after it. Exceptions in every mode end in a
 * `jmp $` stub per vector (th_vector tells which). Header-only so that each
 * tests/unit/test_cpu_*.c stays one file. */
#ifndef CAIXA_TESTS_CPU_TEST_HARNESS_H
#define CAIXA_TESTS_CPU_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cpu/cpu_int.h"

#define TH_RAM (16u << 20)
#define TH_CODE 0x1000u       /* code is loaded here */
#define TH_STACK 0x8000u      /* initial rSP */
#define TH_DATA 0x10000u      /* scratch data for the tests */
#define TH_PT 0x100000u       /* page tables of the 64-bit setup */
#define TH_VEC 0x3000u        /* exception stubs: `jmp $` at TH_VEC + 4 * vector */
#define TH_GDT 0x5000u        /* protected/long mode: GDT and IDT whose gates lead to the stubs */
#define TH_IDT 0x6000u
#define TH_BUDGET 100000u

enum th_mode { TH_REAL, TH_PM16, TH_PM32, TH_LM64 };

struct th {
    physmem pm;
    struct cpu cpu;
    uint64_t end;             /* address of the final `jmp $` */
    /* port I/O seen by the bus callbacks */
    uint32_t io_in_val;
    uint16_t io_last_port;
    uint32_t io_last_out;
    unsigned io_count;
};

static inline uint32_t th_io_in(void *opaque, uint16_t port, unsigned size)
{
    struct th *t = opaque;
    t->io_last_port = port;
    t->io_count++;
    return (t->io_in_val + t->io_count - 1) & (uint32_t)size_mask(size);
}

static inline void th_io_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
    struct th *t = opaque;
    (void)size;
    t->io_last_port = port;
    t->io_last_out = val;
    t->io_count++;
}

static inline int th_intr_ack(void *opaque) { (void)opaque; return -1; }
static inline uint64_t th_clock(void *opaque) { (void)opaque; return 0; }

/* Flat descriptor caches: type 3 data, type 0xb code (SDM Vol. 3A 3.4.5.1). */
#define TH_ATTR_DATA (SEGA_P | SEGA_S | 0x3)
#define TH_ATTR_CODE (SEGA_P | SEGA_S | 0xb)

static inline void th_seg(struct cpu *cpu, int seg, uint16_t attr, uint32_t limit)
{
    cpu->s.seg[seg].sel = 0;
    cpu->s.seg[seg].base = 0;
    cpu->s.seg[seg].limit = limit;
    cpu->s.seg[seg].attr = attr;
}

/* GDT selectors of the protected/long-mode setups, with the raw descriptors
 * (SDM Vol. 3A 3.4.5: flat, present, DPL 0, type 0xb code). */
#define TH_SEL_CODE16 0x08
#define TH_SEL_CODE32 0x10
#define TH_SEL_CODE64 0x18
/* Interrupt gates (type 0xe, present) from every vector to its stub. */
static inline void th_idt(struct th *t, enum th_mode mode)
{
    static const uint64_t th_gdt[4] = {
        0, 0x00009b000000ffffull, 0x00cf9b000000ffffull, 0x00af9b000000ffffull,
    };
    uint16_t sel = mode == TH_LM64 ? TH_SEL_CODE64 : mode == TH_PM32 ? TH_SEL_CODE32 : TH_SEL_CODE16;
    unsigned gate = mode == TH_LM64 ? 16 : 8;
    for (uint64_t v = 0; v < 32; v++) {
        uint64_t off = TH_VEC + 4 * v;
        uint64_t g[2] = { (off & 0xffff) | ((uint64_t)sel << 16) | (0x8eull << 40) | ((off >> 16) << 48), off >> 32 };
        physmem_rw(&t->pm, TH_IDT + gate * v, g, gate, true);
    }
    physmem_rw(&t->pm, TH_GDT, (void *)th_gdt, sizeof(th_gdt), true);
    t->cpu.s.gdtr.base = TH_GDT;
    t->cpu.s.gdtr.limit = sizeof(th_gdt) - 1;
    t->cpu.s.idtr.base = TH_IDT;
    t->cpu.s.idtr.limit = (uint16_t)(32 * gate - 1);
    t->cpu.s.seg[S_CS].sel = sel;
}

static inline void th_init(struct th *t, enum th_mode mode)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(physmem_init(&t->pm, TH_RAM), 0);
    struct cpu_bus bus = { .opaque = t, .io_in = th_io_in, .io_out = th_io_out, .intr_ack = th_intr_ack, .clock_ns = th_clock };
    assert_int_equal(cpu_init(&t->cpu, 0, &t->pm, &bus), 0);
    struct cpu *cpu = &t->cpu;
    uint16_t big = mode == TH_REAL || mode == TH_PM16 ? 0 : SEGA_DB | SEGA_G;
    uint32_t limit = big ? 0xffffffffu : 0xffffu;
    for (int s = S_ES; s <= S_GS; s++)
        th_seg(cpu, s, (uint16_t)(TH_ATTR_DATA | big), limit);
    th_seg(cpu, S_CS, (uint16_t)(TH_ATTR_CODE | big), limit);
    /* real mode: an IVT whose entries point at `jmp $` stubs */
    for (unsigned v = 0; v < 32; v++) {
        uint32_t ivt = TH_VEC + 4 * v;
        uint8_t stub[2] = { 0xeb, 0xfe };
        physmem_rw(&t->pm, 4 * v, &ivt, 4, true); /* segment 0, offset TH_VEC + 4v */
        physmem_rw(&t->pm, TH_VEC + 4 * v, stub, 2, true);
    }
    if (mode != TH_REAL) {
        cpu->s.cr0 |= CR0_PE;
        th_idt(t, mode);
    }
    if (mode == TH_LM64) {
        /* identity map of the first 1 GiB with 2 MiB pages (SDM Vol. 3A 4.5) */
        uint64_t pml4e = (TH_PT + 0x1000) | 3, pdpte = (TH_PT + 0x2000) | 3;
        physmem_rw(&t->pm, TH_PT, &pml4e, 8, true);
        physmem_rw(&t->pm, TH_PT + 0x1000, &pdpte, 8, true);
        for (uint64_t i = 0; i < 512; i++) {
            uint64_t pde = (i << 21) | 0x83;
            physmem_rw(&t->pm, TH_PT + 0x2000 + 8 * i, &pde, 8, true);
        }
        cpu->s.cr3 = TH_PT;
        cpu->s.cr4 |= CR4_PAE;
        cpu->s.efer |= EFER_LME | EFER_LMA;
        cpu->s.cr0 |= CR0_PG;
        cpu->s.seg[S_CS].attr = (uint16_t)(TH_ATTR_CODE | SEGA_L | SEGA_G);
    }
    cpu->s.rip = TH_CODE;
    cpu->s.regs[R_SP] = TH_STACK;
    cpu_update_mode(cpu);
    cpu_flush_all(cpu);
}

static inline void th_destroy(struct th *t)
{
    cpu_destroy(&t->cpu);
    physmem_destroy(&t->pm);
}

static inline void th_poke(struct th *t, uint64_t addr, const void *p, size_t n)
{
    assert_true(physmem_rw(&t->pm, addr, (void *)p, n, true));
}

static inline uint64_t th_peek(struct th *t, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    assert_true(physmem_rw(&t->pm, addr, &v, size, false));
    return v;
}

/* Loads code at TH_CODE followed by `jmp $` and runs until it is reached
 * (or the budget ends). Returns the final rip. */
static inline uint64_t th_run(struct th *t, const uint8_t *code, size_t n)
{
    static const uint8_t jmp_self[2] = { 0xeb, 0xfe };
    th_poke(t, TH_CODE, code, n);
    th_poke(t, TH_CODE + n, jmp_self, 2);
    t->end = TH_CODE + n;
    cpu_flush_all(&t->cpu);
    /* Stop at the end marker rather than spin on it for the whole budget. */
    t->cpu.breakpoints[0] = t->cpu.s.seg[S_CS].base + t->end;
    t->cpu.n_breakpoints = 1;
    t->cpu.resume_at_bp = false;
    cpu_run(&t->cpu, TH_BUDGET);
    t->cpu.n_breakpoints = 0;
    return t->cpu.s.rip;
}

/* Runs and checks the code reached its end. */
static inline void th_run_ok(struct th *t, const uint8_t *code, size_t n)
{
    uint64_t rip = th_run(t, code, n);
    assert_int_equal(rip, t->end);
}

/* The vector whose stub the code ended in, or -1. */
static inline int th_vector(struct th *t)
{
    uint64_t rip = t->cpu.s.rip;
    if (t->cpu.s.seg[S_CS].base == 0 && rip >= TH_VEC && rip < TH_VEC + 4 * 32 && !(rip & 3))
        return (int)((rip - TH_VEC) / 4);
    return -1;
}

static inline uint64_t th_flags(struct th *t) { return cpu_get_rflags(&t->cpu); }

static inline uint64_t th_reg(struct th *t, int r) { return t->cpu.s.regs[r]; }

#define TH_CODE_ARR(...) ((const uint8_t[]){ __VA_ARGS__ })
#define TH_RUN(t, ...) th_run_ok((t), TH_CODE_ARR(__VA_ARGS__), sizeof(TH_CODE_ARR(__VA_ARGS__)))

/* Checks the arithmetic flags in mask. */
#define assert_flags(t, mask, expect) \
    assert_int_equal(th_flags(t) & (mask), (expect) & (mask))

#endif
