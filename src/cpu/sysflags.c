/* EFLAGS system instructions: CLI, STI, PUSHF, POPF and the privilege
 * rules of EFLAGS writes (SDM Vol. 2 CLI/STI/PUSHF/POPF, Vol. 3A 20.3
 * for VME and PVI). */
#include "cpu/cpu_sys.h"

/* Bits POPF may write with a 32/64-bit operand (SDM Vol. 2 POPF). */
#define FL_POPF32 (FL_ARITH | FL_TF | FL_IF | FL_DF | FL_IOPL | FL_NT | FL_AC | FL_ID)

void eflags_write_checked(struct cpu *cpu, uint64_t val, unsigned size)
{
    uint64_t cur = cpu_get_rflags(cpu);
    uint64_t mask;
    if (cpu_v86(cpu)) {
        if (cpu_iopl(cpu) < 3) {
            /* Only the 16-bit form with VME works: IF goes to VIF. */
            if (size != 2 || !(cpu->s.cr4 & CR4_VME))
                cpu_gp0(cpu);
            if (((cur & FL_VIP) && (val & FL_IF)) || (val & FL_TF))
                cpu_gp0(cpu);
            mask = 0xffff & ~(uint64_t)(FL_IF | FL_IOPL);
            cur = (cur & ~(uint64_t)FL_VIF) | ((val & FL_IF) ? FL_VIF : 0);
        } else {
            mask = FL_POPF32 & ~(uint64_t)FL_IOPL;
        }
    } else {
        mask = FL_POPF32;
        if (cpu->s.cpl > 0)
            mask &= ~(uint64_t)FL_IOPL;
        if (cpu->s.cpl > cpu_iopl(cpu))
            mask &= ~(uint64_t)FL_IF;
    }
    if (size == 2)
        mask &= 0xffff;
    /* RF is cleared by a 32/64-bit POPF (SDM Vol. 2 POPF). */
    if (size != 2)
        cur &= ~(uint64_t)FL_RF;
    cpu_set_rflags(cpu, (cur & ~mask) | (val & mask));
}

static void op_pushf(struct cpu *cpu, const struct insn *in)
{
    uint64_t fl = cpu_get_rflags(cpu);
    unsigned size = in->opsize;
    if (cpu_v86(cpu) && cpu_iopl(cpu) < 3) {
        if (size != 2 || !(cpu->s.cr4 & CR4_VME))
            cpu_gp0(cpu);
        /* The image shows IF = VIF and IOPL = 3 (SDM Vol. 3A 20.3.3.3). */
        fl = (fl & ~(uint64_t)FL_IF) | ((fl & FL_VIF) ? FL_IF : 0) | FL_IOPL;
    }
    /* VM and RF are not stored (SDM Vol. 2 PUSHF). */
    push(cpu, size, fl & ~(uint64_t)(FL_VM | FL_RF) & size_mask(size));
}

static void op_popf(struct cpu *cpu, const struct insn *in)
{
    uint64_t v = stack_read(cpu, 0, in->opsize);
    eflags_write_checked(cpu, v, in->opsize);
    (void)pop(cpu, in->opsize);
    cpu->block_end = true;
}

/* CLI/STI: IF when CPL <= IOPL; VIF for V86 with VME and for CPL 3 with
 * PVI (SDM Vol. 2 CLI, table 3-7). */
static bool use_vif(struct cpu *cpu)
{
    if (cpu_real(cpu))
        return false;
    if (cpu_v86(cpu)) {
        if (cpu_iopl(cpu) == 3)
            return false;
        if (cpu->s.cr4 & CR4_VME)
            return true;
        cpu_gp0(cpu);
    }
    if (cpu->s.cpl <= cpu_iopl(cpu))
        return false;
    if (cpu->s.cpl == 3 && (cpu->s.cr4 & CR4_PVI))
        return true;
    cpu_gp0(cpu);
}

static void op_cli(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (use_vif(cpu))
        cpu->s.rflags &= ~(uint64_t)FL_VIF;
    else
        cpu->s.rflags &= ~(uint64_t)FL_IF;
}

static void op_sti(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (use_vif(cpu)) {
        if (cpu->s.rflags & FL_VIP)
            cpu_gp0(cpu);
        cpu->s.rflags |= FL_VIF;
        return;
    }
    if (!(cpu->s.rflags & FL_IF)) {
        /* Interrupts stay blocked until after the next instruction. */
        cpu->s.intr_shadow = SHADOW_STI;
        cpu->s.rflags |= FL_IF;
    }
}

static const struct op_def sysflags_ops[] = {
    {OP1 | 0x9c, -1, -1, PFX_ANY, OPF_DEF64, op_pushf, "pushf"},
    {OP1 | 0x9d, -1, -1, PFX_ANY, OPF_DEF64 | OPF_END, op_popf, "popf"},
    {OP1 | 0xfa, -1, -1, PFX_ANY, 0, op_cli, "cli"},
    {OP1 | 0xfb, -1, -1, PFX_ANY, OPF_END, op_sti, "sti"},
    OPS_END
};
OPS_REGISTER(sysflags_ops);
