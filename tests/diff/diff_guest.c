/* caixa side of the differential tester: a vCPU without a VM, put straight
 * into 64-bit long mode (CR0.PE|PG, CR4.PAE, EFER.LME|LMA, 4-level paging)
 * at CPL 0. The host's region is mapped at the same linear address onto
 * guest RAM; every exception vector leads to its own HLT, so the final RIP
 * tells which vector (if any) was raised. */
#include <stdio.h>
#include <string.h>

#include "cpu/cpu_int.h"
#include "diff.h"

#define GUEST_RAM (4u << 20)
#define G_PML4 0x1000u
#define G_PDPT 0x2000u
#define G_PD_LOW 0x3000u       /* maps linear 0..1 GiB */
#define G_PD_REGION 0x4000u    /* the region's 1 GiB slot, if not the first */
#define G_GDT 0x10000u
#define G_IDT 0x11000u
#define G_STUBS 0x12000u       /* HLT for vector v at G_STUBS + v */
#define G_STACK_TOP 0x30000u
#define G_REGION_PHYS 0x200000u
#define N_VECTORS 32
#define BUDGET 200000u

/* Page-table entry bits (SDM Vol. 3A 4.5, tables 4-14..4-18). */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

/* Descriptors (SDM Vol. 3A 3.4.5): flat 64-bit code, data, 32-bit code. */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18
#define DESC_CODE64 0x00af9b000000ffffull
#define DESC_DATA 0x00cf93000000ffffull
#define DESC_CODE32 0x00cf9b000000ffffull
/* 64-bit interrupt gate, present, DPL 0 (SDM Vol. 3A 6.14.1). */
#define GATE_INT64 0x8e00ull

static physmem pm;
static struct cpu cpu;
static uint64_t region_lin;

static uint32_t bus_in(void *o, uint16_t port, unsigned size)
{
    (void)o; (void)port; (void)size;
    return 0xffffffffu;
}
static void bus_out(void *o, uint16_t port, unsigned size, uint32_t v)
{
    (void)o; (void)port; (void)size; (void)v;
}
static int bus_ack(void *o)
{
    (void)o;
    return -1;
}
static uint64_t bus_clock(void *o)
{
    (void)o;
    return 0;
}

static void poke64(uint64_t gpa, uint64_t v)
{
    physmem_rw(&pm, gpa, &v, 8, true);
}

int guest_init(uint64_t region)
{
    region_lin = region;
    if (physmem_init(&pm, GUEST_RAM) < 0)
        return -1;
    struct cpu_bus bus = { .io_in = bus_in, .io_out = bus_out, .intr_ack = bus_ack, .clock_ns = bus_clock };
    if (cpu_init(&cpu, 0, &pm, &bus) < 0)
        return -1;

    /* Paging: identity 2 MiB page at 0 (tables, GDT, IDT, stubs, stack) and
     * the region's 2 MiB at G_REGION_PHYS. */
    poke64(G_PML4, G_PDPT | PTE_P | PTE_RW);
    poke64(G_PDPT, G_PD_LOW | PTE_P | PTE_RW);
    poke64(G_PD_LOW, 0 | PTE_P | PTE_RW | PTE_PS);
    uint64_t pd = G_PD_LOW;
    if (region >> 30) {
        pd = G_PD_REGION;
        poke64(G_PDPT + 8 * ((region >> 30) & 511), G_PD_REGION | PTE_P | PTE_RW);
    }
    poke64(pd + 8 * ((region >> 21) & 511), G_REGION_PHYS | PTE_P | PTE_RW | PTE_PS);

    poke64(G_GDT + SEL_CODE64, DESC_CODE64);
    poke64(G_GDT + SEL_DATA, DESC_DATA);
    poke64(G_GDT + SEL_CODE32, DESC_CODE32);
    for (unsigned v = 0; v < N_VECTORS; v++) {
        uint64_t h = G_STUBS + v;
        uint64_t lo = (h & 0xffff) | ((uint64_t)SEL_CODE64 << 16) | (GATE_INT64 << 32) |
                      ((h >> 16) & 0xffff) << 48;
        poke64(G_IDT + 16 * v, lo);
        poke64(G_IDT + 16 * v + 8, h >> 32);
        uint8_t hlt = 0xf4;
        physmem_rw(&pm, G_STUBS + v, &hlt, 1, true);
    }

    struct cpu_state *s = &cpu.s;
    s->gdtr.base = G_GDT;
    s->gdtr.limit = 0x1f;
    s->idtr.base = G_IDT;
    s->idtr.limit = 16 * N_VECTORS - 1;
    s->cr3 = G_PML4;
    s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    s->efer = EFER_LME | EFER_LMA;
    s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG;
    for (int i = S_ES; i <= S_GS; i++) {
        s->seg[i].sel = SEL_DATA;
        s->seg[i].base = 0;
        s->seg[i].limit = 0xffffffffu;
        s->seg[i].attr = SEGA_P | SEGA_S | 0x3 | SEGA_DB | SEGA_G;
    }
    s->cpl = 0;
    cpu_flush_all(&cpu);
    return 0;
}

void guest_destroy(void)
{
    cpu_destroy(&cpu);
    physmem_destroy(&pm);
}

static uint8_t *region_ptr(uint64_t off)
{
    return pm.ram + G_REGION_PHYS + off;
}

void guest_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4])
{
    static struct tcase tc;
    static struct dresult res;
    static const struct form cpuid_form = { "cpuid", MAP_0F, 0xa2, EXT_NONE, 0, SZ_D, I_NONE, RM_ANY, 0, 0, 0, "0f a2" };
    memset(&tc, 0, sizeof(tc));
    tc.f = &cpuid_form;
    tc.code[0] = 0x0f;
    tc.code[1] = 0xa2;
    tc.len = 2;
    tc.in.regs[0] = leaf;
    tc.in.regs[1] = sub;
    tc.in.rflags = 2;
    tc.in.mxcsr = 0x1f80;
    guest_run(&tc, &res);
    if (res.fault >= 0 || res.lost) {
        memset(out, 0, 4 * sizeof(out[0]));
        return;
    }
    out[0] = (uint32_t)res.st.regs[0];
    out[1] = (uint32_t)res.st.regs[3];
    out[2] = (uint32_t)res.st.regs[1];
    out[3] = (uint32_t)res.st.regs[2];
}

void guest_run(const struct tcase *tc, struct dresult *out)
{
    struct cpu_state *s = &cpu.s;
    uint64_t at = host_insn_addr(tc->compat);
    uint64_t off = at - region_lin;

    memcpy(region_ptr(off), tc->code, tc->len);
    region_ptr(off)[tc->len] = 0xf4;   /* HLT ends the run */
    cpu_invalidate_code_page(&cpu, G_REGION_PHYS + off);
    cpu_invalidate_code_page(&cpu, G_REGION_PHYS + off + tc->len);
    memcpy(region_ptr(WIN_OFF), tc->win, WIN_SIZE);
    /* The window is written by the host pointer: drop blocks if a test ever
     * ran code from it. */
    cpu_invalidate_code_page(&cpu, G_REGION_PHYS + WIN_OFF);

    memcpy(s->regs, tc->in.regs, sizeof(s->regs));
    if (!(tc->f->sp & S_STACK))
        s->regs[R_SP] = G_STACK_TOP;
    s->seg[S_CS].sel = tc->compat ? SEL_CODE32 : SEL_CODE64;
    s->seg[S_CS].base = 0;
    s->seg[S_CS].limit = 0xffffffffu;
    s->seg[S_CS].attr = SEGA_P | SEGA_S | 0xb | SEGA_G | (tc->compat ? SEGA_DB : SEGA_L);
    if (tc->code16) {
        /* as the host's LDT segment: base = the region, 64 KiB, 16-bit */
        s->seg[S_CS].base = region_lin;
        s->seg[S_CS].limit = 0xffff;
        s->seg[S_CS].attr = SEGA_P | SEGA_S | 0xb;
        at -= region_lin;
    }
    s->cpl = 0;
    s->rip = at;
    s->halted = false;
    s->intr_shadow = 0;
    cpu.exc_vec = -1;
    cpu.delivering = -1;
    cpu_update_mode(&cpu);
    /* IF as the host's user mode has it (PUSHF shows it); nothing interrupts */
    cpu_set_rflags(&cpu, (tc->in.rflags & (DF_ARITH | DF_DF)) | FL_IF);
    memcpy(s->fpu.xmm, tc->in.xmm, sizeof(s->fpu.xmm));
    s->fpu.mxcsr = tc->in.mxcsr;

    enum cpu_exit why = cpu_run(&cpu, BUDGET);

    out->st = tc->in;
    memcpy(out->st.regs, s->regs, sizeof(s->regs));
    out->st.rflags = cpu_get_rflags(&cpu);
    memcpy(out->st.xmm, s->fpu.xmm, sizeof(s->fpu.xmm));
    out->st.mxcsr = s->fpu.mxcsr;
    out->st.fsw = s->fpu.fsw;
    memcpy(out->win, region_ptr(WIN_OFF), WIN_SIZE);
    out->end_rip = s->rip;
    out->fault = -1;
    out->lost = false;
    if (why != CPU_EXIT_HALT) {
        out->lost = true;
    } else if (s->rip == at + tc->len + 1) {
        /* reached our HLT */
    } else if (s->rip > G_STUBS && s->rip <= G_STUBS + N_VECTORS) {
        out->fault = (int)(s->rip - G_STUBS - 1);
    } else {
        out->lost = true;
    }
}
