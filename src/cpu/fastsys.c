/* Fast system calls and their companions: SYSCALL SYSRET SYSENTER SYSEXIT
 * SWAPGS RDTSCP (SDM Vol. 2 instruction pages, Vol. 3A 5.8.7-5.8.8). */
#include "cpu/cpu_sys.h"

/* Flat segments these instructions load without reading descriptors. */
#define FLAT_CODE (SEGA_P | SEGA_S | SEGA_G | DT_CODE | DT_RW | DT_ACCESSED)
#define FLAT_DATA (SEGA_P | SEGA_S | SEGA_G | SEGA_DB | DT_RW | DT_ACCESSED)
/* RFLAGS bits SYSRET restores from R11 (SDM Vol. 2 SYSRET). */
#define SYSRET_FLAGS 0x3c7fd7ull

static void set_flat(struct cpu *cpu, int seg, uint16_t sel, uint16_t attr)
{
    struct seg_cache *sc = &cpu->s.seg[seg];
    sc->sel = sel;
    sc->base = 0;
    sc->limit = 0xffffffff;
    sc->attr = attr;
}

static void enter(struct cpu *cpu, uint16_t cs, bool code64, uint16_t ss, unsigned cpl)
{
    uint16_t dpl = (uint16_t)(cpl << SEGA_DPL_SHIFT);
    set_flat(cpu, S_CS, cs, FLAT_CODE | dpl | (code64 ? SEGA_L : SEGA_DB));
    set_flat(cpu, S_SS, ss, FLAT_DATA | dpl);
    cpu->s.cpl = (uint8_t)cpl;
    cpu_update_mode(cpu);
    cpu->block_end = true;
}

static void op_syscall(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    /* Intel: only in 64-bit mode, with EFER.SCE. */
    if (!cpu_is64(cpu) || !(cpu->s.efer & EFER_SCE))
        cpu_ud(cpu);
    uint64_t fl = cpu_get_rflags(cpu);
    uint16_t cs = (uint16_t)(cpu->s.star >> 32) & SEL_MASK;
    cpu->s.regs[R_CX] = cpu->next_rip;
    cpu->s.regs[R_R11] = fl & ~(uint64_t)FL_RF;
    enter(cpu, cs, true, (uint16_t)(cs + 8), 0);
    cpu_set_rflags(cpu, fl & ~cpu->s.sfmask & ~(uint64_t)FL_RF);
    cpu->next_rip = cpu->s.lstar;
}

static void op_sysret(struct cpu *cpu, const struct insn *in)
{
    if (!cpu_is64(cpu) || !(cpu->s.efer & EFER_SCE))
        cpu_ud(cpu);
    if (cpu->s.cpl != 0)
        cpu_gp0(cpu);
    uint16_t base = (uint16_t)(cpu->s.star >> 48);
    bool to64 = in->opsize == 8;
    uint64_t ip = cpu->s.regs[R_CX];
    /* Intel checks RCX before leaving ring 0. */
    if (to64 && !is_canonical(ip))
        cpu_gp0(cpu);
    if (!to64)
        ip &= 0xffffffffull;
    uint16_t cs = (uint16_t)((to64 ? base + 16 : base) | 3);
    enter(cpu, cs, to64, (uint16_t)((base + 8) | 3), 3);
    cpu_set_rflags(cpu, (cpu->s.regs[R_R11] & SYSRET_FLAGS) | FL_1);
    cpu->next_rip = ip;
}

static void op_sysenter(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    uint16_t cs = (uint16_t)cpu->s.sysenter_cs & SEL_MASK;
    if (cpu_real(cpu) || !(cs & SEL_INDEX))
        cpu_gp0(cpu);
    bool lma = cpu_lma(cpu);
    uint64_t fl = cpu_get_rflags(cpu) & ~(uint64_t)(FL_VM | FL_IF | FL_RF);
    cpu_set_rflags(cpu, fl);
    enter(cpu, cs, lma, (uint16_t)(cs + 8), 0);
    cpu->s.regs[R_SP] = lma ? cpu->s.sysenter_esp : cpu->s.sysenter_esp & 0xffffffffull;
    cpu->next_rip = lma ? cpu->s.sysenter_eip : cpu->s.sysenter_eip & 0xffffffffull;
}

static void op_sysexit(struct cpu *cpu, const struct insn *in)
{
    uint16_t base = (uint16_t)cpu->s.sysenter_cs;
    if (!cpu_protected(cpu) || !(base & SEL_INDEX) || cpu->s.cpl != 0)
        cpu_gp0(cpu);
    bool to64 = in->opsize == 8;
    uint64_t ip = cpu->s.regs[R_DX], sp = cpu->s.regs[R_CX];
    if (to64 && (!is_canonical(ip) || !is_canonical(sp)))
        cpu_gp0(cpu);
    if (!to64) {
        ip &= 0xffffffffull;
        sp &= 0xffffffffull;
    }
    uint16_t cs = (uint16_t)((base + (to64 ? 32 : 16)) | 3);
    uint16_t ss = (uint16_t)((base + (to64 ? 40 : 24)) | 3);
    enter(cpu, cs, to64, ss, 3);
    cpu->s.regs[R_SP] = sp;
    cpu->next_rip = ip;
}

static void op_swapgs(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (!cpu_is64(cpu))
        cpu_ud(cpu);
    if (cpu->s.cpl != 0)
        cpu_gp0(cpu);
    uint64_t t = cpu->s.seg[S_GS].base;
    cpu->s.seg[S_GS].base = cpu->s.kernel_gs_base;
    cpu->s.kernel_gs_base = t;
}

static void op_rdtscp(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if ((cpu->s.cr4 & CR4_TSD) && cpu->s.cpl != 0)
        cpu_gp0(cpu);
    uint64_t t = cpu_tsc(cpu), aux = 0;
    (void)msr_read(cpu, 0xc0000103u, &aux);   /* IA32_TSC_AUX */
    cpu->s.regs[R_AX] = t & 0xffffffffull;
    cpu->s.regs[R_DX] = t >> 32;
    cpu->s.regs[R_CX] = aux & 0xffffffffull;
}

static const struct op_def fastsys_ops[] = {
    {OP0F | 0x05, -1, -1, PFX_ANY, OPF_END, op_syscall, "syscall"},
    {OP0F | 0x07, -1, -1, PFX_ANY, OPF_END, op_sysret, "sysret"},
    {OP0F | 0x34, -1, -1, PFX_ANY, OPF_END, op_sysenter, "sysenter"},
    {OP0F | 0x35, -1, -1, PFX_ANY, OPF_END, op_sysexit, "sysexit"},
    {OP0F | 0x01, 7, 0, PFX_ANY, OPF_MODRM | OPF_REG, op_swapgs, "swapgs"},
    {OP0F | 0x01, 7, 1, PFX_ANY, OPF_MODRM | OPF_REG, op_rdtscp, "rdtscp"},
    OPS_END
};
OPS_REGISTER(fastsys_ops);
