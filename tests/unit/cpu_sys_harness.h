/* Protected-mode and long-mode fixtures for the system-architecture tests
 * (tests/unit/test_cpu_sys_*.c): a GDT, an IDT whose every vector points at
 * a `hlt` stub, and TSSs in guest RAM, built on cpu_test_harness.h. A test
 * runs code until a stub halts the CPU and then reads the vector and the
 * stack frame. */
#ifndef CAIXA_TESTS_CPU_SYS_HARNESS_H
#define CAIXA_TESTS_CPU_SYS_HARNESS_H

#include "cpu_test_harness.h"
#include "cpu/cpu_sys.h"

#define SYS_GDT 0x20000u
#define SYS_TSS 0x21000u      /* 32-bit or 64-bit TSS of the boot task */
#define SYS_TSS2 0x22000u     /* a second 32-bit TSS */
#define SYS_IDT 0x23000u
#define SYS_STUBS 0x24000u    /* `hlt` at SYS_STUBS + 16 * vector */
#define SYS_LDT 0x26000u
#define SYS_STACK0 0x9000u    /* ring-0 stack of the TSS */
#define SYS_STACK3 0x7000u    /* a ring-3 stack */
#define SYS_IST1 0xa000u      /* IST1 stack of the 64-bit TSS */
#define SYS_IOMAP 0x68u       /* I/O bitmap offset in the TSS */

/* GDT layout */
enum {
    SEL_CODE0 = 0x08, SEL_DATA0 = 0x10, SEL_CODE3 = 0x1b, SEL_DATA3 = 0x23,
    SEL_TSS = 0x28,       /* 16 bytes in the 64-bit layout (0x28, 0x30) */
    SEL_NP = 0x38,        /* data, not present */
    SEL_CGATE = 0x40,     /* call gate, DPL 3 -> SEL_CODE0:SYS_GATE_TARGET, 2 params */
    SEL_EXPDN = 0x48,     /* expand-down data, limit 0xfff, 16-bit */
    SEL_TSS2 = 0x50,
    SEL_CODE16 = 0x58,    /* 16-bit ring-0 code */
    SEL_TASKGATE = 0x60,  /* task gate -> SEL_TSS2 */
    SEL_CODE64 = 0x68,    /* 64-bit ring-0 code */
    SEL_CODE3_64 = 0x7b,  /* 64-bit ring-3 code (after DATA3 at 0x70) */
    SEL_DATA3_64 = 0x73,
    SEL_RODATA = 0x80,    /* read-only data */
    SEL_XCODE = 0x88,     /* execute-only code */
    SEL_LDT = 0x90,
    SEL_CGATE64 = 0x98,   /* 64-bit call gate (16 bytes) */
    SYS_GDT_LIMIT = 0xaf,
};
#define SYS_GATE_TARGET 0x5000u

#define A_CODE32 (SEGA_P | SEGA_S | 0xb | SEGA_DB | SEGA_G)
#define A_DATA32 (SEGA_P | SEGA_S | 0x3 | SEGA_DB | SEGA_G)
#define A_DPL3 (3 << SEGA_DPL_SHIFT)

static inline uint64_t mkdesc(uint32_t base, uint32_t limit, unsigned attr)
{
    return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)(attr & 0xff) << 40) |
           ((uint64_t)(attr & 0xf00) << 44) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)(base >> 24) << 56);
}

static inline uint64_t mkgate(uint16_t sel, uint32_t off, unsigned type, unsigned dpl, unsigned params)
{
    return (off & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)params << 32) |
           ((uint64_t)(type | 0x80 | (dpl << 5)) << 40) | ((uint64_t)(off >> 16) << 48);
}

static inline void sys_put64(struct th *t, uint64_t addr, uint64_t v) { th_poke(t, addr, &v, 8); }
static inline void sys_put32(struct th *t, uint64_t addr, uint32_t v) { th_poke(t, addr, &v, 4); }
static inline void sys_put16(struct th *t, uint64_t addr, uint16_t v) { th_poke(t, addr, &v, 2); }
static inline void sys_gdt(struct th *t, unsigned sel, uint64_t d) { sys_put64(t, SYS_GDT + (sel & ~7u), d); }

/* Loads a segment register cache from the GDT, as the CPU would. */
static inline void sys_load(struct th *t, int seg, uint16_t sel)
{
    uint64_t d = th_peek(t, SYS_GDT + (sel & ~7u), 8);
    desc_to_cache(d, sel, &t->cpu.s.seg[seg]);
}

static inline void sys_idt32(struct th *t, unsigned vec, uint64_t gate) { sys_put64(t, SYS_IDT + vec * 8, gate); }

static inline void sys_idt64(struct th *t, unsigned vec, uint16_t sel, uint64_t off, unsigned type, unsigned dpl,
                             unsigned ist)
{
    uint64_t lo = mkgate(sel, (uint32_t)off, type, dpl, ist);
    sys_put64(t, SYS_IDT + vec * 16, lo);
    sys_put64(t, SYS_IDT + vec * 16 + 8, off >> 32);
}

static inline void sys_common(struct th *t)
{
    uint8_t hlt = 0xf4;
    for (unsigned v = 0; v < 256; v++)
        th_poke(t, SYS_STUBS + 16 * v, &hlt, 1);
    sys_gdt(t, SEL_CODE0, mkdesc(0, 0xfffff, A_CODE32));
    sys_gdt(t, SEL_DATA0, mkdesc(0, 0xfffff, A_DATA32));
    sys_gdt(t, SEL_CODE3, mkdesc(0, 0xfffff, A_CODE32 | A_DPL3));
    sys_gdt(t, SEL_DATA3, mkdesc(0, 0xfffff, A_DATA32 | A_DPL3));
    sys_gdt(t, SEL_NP, mkdesc(0, 0xfffff, A_DATA32 & ~SEGA_P));
    sys_gdt(t, SEL_EXPDN, mkdesc(0, 0xfff, SEGA_P | SEGA_S | 0x7));
    sys_gdt(t, SEL_CODE16, mkdesc(0, 0xffff, SEGA_P | SEGA_S | 0xb));
    sys_gdt(t, SEL_CODE64, mkdesc(0, 0xfffff, SEGA_P | SEGA_S | 0xb | SEGA_L | SEGA_G));
    sys_gdt(t, SEL_DATA3_64, mkdesc(0, 0xfffff, A_DATA32 | A_DPL3));
    sys_gdt(t, SEL_CODE3_64, mkdesc(0, 0xfffff, SEGA_P | SEGA_S | 0xb | SEGA_L | SEGA_G | A_DPL3));
    sys_gdt(t, SEL_RODATA, mkdesc(0, 0xfffff, SEGA_P | SEGA_S | 0x1 | SEGA_DB | SEGA_G));
    sys_gdt(t, SEL_XCODE, mkdesc(0, 0xfffff, SEGA_P | SEGA_S | 0x9 | SEGA_DB | SEGA_G));
    sys_gdt(t, SEL_LDT, mkdesc(SYS_LDT, 0xf, SEGA_P | ST_LDT));
    t->cpu.s.gdtr.base = SYS_GDT;
    t->cpu.s.gdtr.limit = SYS_GDT_LIMIT;
    t->cpu.s.idtr.base = SYS_IDT;
}

/* 32-bit protected mode at CPL 0: flat segments, a 32-bit TSS with ESP0 and
 * an all-clear I/O bitmap, interrupt gates (DPL 0) to the stubs. */
static inline void sys_pm32_init(struct th *t)
{
    th_init(t, TH_PM32);
    sys_common(t);
    uint32_t tss_limit = SYS_IOMAP + 8192;   /* bitmap + the trailing 0xff byte */
    sys_gdt(t, SEL_TSS, mkdesc(SYS_TSS, tss_limit, SEGA_P | ST_TSS32_BUSY));
    sys_gdt(t, SEL_TSS2, mkdesc(SYS_TSS2, 0x67, SEGA_P | ST_TSS32));
    sys_gdt(t, SEL_CGATE, mkgate(SEL_CODE0, SYS_GATE_TARGET, ST_CALL32, 3, 2));
    sys_gdt(t, SEL_TASKGATE, mkgate(SEL_TSS2, 0, ST_TASK, 3, 0));
    sys_put32(t, SYS_TSS + 4, SYS_STACK0);
    sys_put16(t, SYS_TSS + 8, SEL_DATA0);
    sys_put16(t, SYS_TSS + 0x66, SYS_IOMAP);
    uint8_t ff = 0xff;
    th_poke(t, SYS_TSS + SYS_IOMAP + 8192, &ff, 1);
    for (unsigned v = 0; v < 256; v++)
        sys_idt32(t, v, mkgate(SEL_CODE0, SYS_STUBS + 16 * v, ST_INT32, 0, 0));
    t->cpu.s.idtr.limit = 256 * 8 - 1;
    sys_load(t, S_CS, SEL_CODE0);
    for (int s = S_ES; s <= S_GS; s++)
        if (s != S_CS)
            sys_load(t, s, SEL_DATA0);
    sys_load(t, S_TR, SEL_TSS);
    cpu_update_mode(&t->cpu);
}

/* 64-bit mode at CPL 0 with a 64-bit TSS (RSP0, IST1) and 64-bit
 * interrupt gates (DPL 0) to the stubs. */
static inline void sys_lm64_init(struct th *t)
{
    th_init(t, TH_LM64);
    /* user-accessible identity map, so ring 3 can run (U/S = 1 everywhere) */
    sys_put64(t, TH_PT, (TH_PT + 0x1000) | 7);
    sys_put64(t, TH_PT + 0x1000, (TH_PT + 0x2000) | 7);
    for (uint64_t i = 0; i < 512; i++)
        sys_put64(t, TH_PT + 0x2000 + 8 * i, (i << 21) | 0x87);
    sys_common(t);
    sys_gdt(t, SEL_TSS, mkdesc(SYS_TSS, 0x67, SEGA_P | ST_TSS32_BUSY));
    sys_gdt(t, SEL_TSS + 8, 0);
    sys_gdt(t, SEL_CGATE64, mkgate(SEL_CODE64, SYS_GATE_TARGET, ST_CALL32, 3, 0));
    sys_gdt(t, SEL_CGATE64 + 8, 0);
    sys_put64(t, SYS_TSS + 4, SYS_STACK0);
    sys_put64(t, SYS_TSS + 0x24, SYS_IST1);
    for (unsigned v = 0; v < 256; v++)
        sys_idt64(t, v, SEL_CODE64, SYS_STUBS + 16 * v, ST_INT32, 0, 0);
    t->cpu.s.idtr.limit = 256 * 16 - 1;
    sys_load(t, S_CS, SEL_CODE64);
    for (int s = S_ES; s <= S_GS; s++)
        if (s != S_CS)
            sys_load(t, s, SEL_DATA0);
    sys_load(t, S_TR, SEL_TSS);
    cpu_update_mode(&t->cpu);
}

/* Runs code at TH_CODE (followed by `jmp $`) until a stub halts the CPU. */
static inline void sys_run(struct th *t, const uint8_t *code, size_t n)
{
    th_run(t, code, n);
}

/* The vector whose stub halted the CPU, or -1. */
static inline int sys_vec(struct th *t)
{
    uint64_t rip = t->cpu.s.rip - 1;
    if (!t->cpu.s.halted || rip < SYS_STUBS || rip >= SYS_STUBS + 16 * 256 || (rip & 15))
        return -1;
    return (int)((rip - SYS_STUBS) / 16);
}

/* Stack slot i (of size bytes) above rSP. */
static inline uint64_t sys_stk(struct th *t, unsigned i, unsigned size)
{
    return th_peek(t, t->cpu.s.seg[S_SS].base + t->cpu.s.regs[R_SP] + (uint64_t)i * size, size);
}

/* Continues after a stub halted the CPU. */
static inline void sys_resume(struct th *t)
{
    t->cpu.s.halted = false;
    cpu_run(&t->cpu, TH_BUDGET);
}

#endif
