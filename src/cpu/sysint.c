/* Software interrupts and BOUND: INT n, INT3, INTO, INT1 (ICEBP)
 * (SDM Vol. 2 INT n/INTO/INT3/INT1, BOUND). */
#include "cpu/cpu_sys.h"

static void op_int(struct cpu *cpu, const struct insn *in)
{
    cpu_interrupt(cpu, (int)(in->imm & 0xff), INTR_SOFT, false, 0);
    cpu->block_end = true;
}

static void op_int3(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu_interrupt(cpu, EXC_BP, INTR_INT3, false, 0);
    cpu->block_end = true;
}

static void op_into(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (flag_of(cpu)) {
        cpu_interrupt(cpu, EXC_OF, INTR_INTO, false, 0);
        cpu->block_end = true;
    }
}

static void op_int1(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    cpu_interrupt(cpu, EXC_DB, INTR_ICEBP, false, 0);
    cpu->block_end = true;
}

/* BOUND r, m16&16 / m32&32: signed bounds, #BR (a fault) when outside. */
static void op_bound(struct cpu *cpu, const struct insn *in)
{
    unsigned sz = in->opsize;
    uint64_t ea = insn_ea(cpu, in);
    int64_t lo = sext(mem_read(cpu, in->seg, ea, sz), sz);
    int64_t hi = sext(mem_read(cpu, in->seg, (ea + sz) & size_mask(in->addrsize), sz), sz);
    int64_t v = sext(greg_read(cpu, in, in->reg, sz), sz);
    if (v < lo || v > hi)
        cpu_raise(cpu, EXC_BR, 0);
}

static const struct op_def sysint_ops[] = {
    {OP1 | 0xcd, -1, -1, PFX_ANY, OPF_IMM8U | OPF_END, op_int, "int"},
    {OP1 | 0xcc, -1, -1, PFX_ANY, OPF_END, op_int3, "int3"},
    {OP1 | 0xce, -1, -1, PFX_ANY, OPF_NO64 | OPF_END, op_into, "into"},
    {OP1 | 0xf1, -1, -1, PFX_ANY, OPF_END, op_int1, "int1"},
    {OP1 | 0x62, -1, -1, PFX_ANY, OPF_MODRM | OPF_MEM | OPF_NO64, op_bound, "bound"},
    OPS_END
};
OPS_REGISTER(sysint_ops);
