/* Port I/O: the IOPL and TSS I/O-permission-bitmap check (SDM Vol. 1 19.5),
 * then the bus; and the IN/OUT instructions E4-E7, EC-EF. */
#include "cpu/cpu_sys.h"

#define TSS_IOMAP_BASE 0x66   /* I/O map base field of the 32/64-bit TSS */

/* Ports whose bits are all clear in the bitmap are allowed; a bitmap
 * beyond the TSS limit denies (SDM Vol. 1 19.5.2). */
static bool io_allowed(struct cpu *cpu, uint16_t port, unsigned size)
{
    if (cpu_real(cpu) || (!cpu_v86(cpu) && cpu->s.cpl <= cpu_iopl(cpu)))
        return true;
    const struct seg_cache *tr = &cpu->s.seg[S_TR];
    unsigned type = tr->attr & SEGA_TYPE;
    if ((tr->attr & SEGA_S) || (type != ST_TSS32 && type != ST_TSS32_BUSY) || tr->limit < TSS_IOMAP_BASE + 1)
        return false;
    uint32_t off = (uint32_t)sys_read(cpu, tr->base + TSS_IOMAP_BASE, 2) + port / 8;
    if (off + 1 > tr->limit)
        return false;
    uint32_t bits = (uint32_t)sys_read(cpu, tr->base + off, 2);
    uint32_t mask = ((1u << size) - 1) << (port & 7);
    return !(bits & mask);
}

uint32_t io_in(struct cpu *cpu, uint16_t port, unsigned size)
{
    if (!io_allowed(cpu, port, size))
        cpu_gp0(cpu);
    if (!cpu->bus.io_in)
        return (uint32_t)size_mask(size);
    return cpu->bus.io_in(cpu->bus.opaque, port, size) & (uint32_t)size_mask(size);
}

void io_out(struct cpu *cpu, uint16_t port, unsigned size, uint32_t val)
{
    if (!io_allowed(cpu, port, size))
        cpu_gp0(cpu);
    if (cpu->bus.io_out)
        cpu->bus.io_out(cpu->bus.opaque, port, size, val & (uint32_t)size_mask(size));
    /* A device may have changed the memory map or raised a line. */
    cpu->block_end = true;
}

static unsigned io_size(const struct insn *in)
{
    return in->opsize > 4 ? 4 : in->opsize;
}

static void in_to_ax(struct cpu *cpu, const struct insn *in, uint16_t port)
{
    unsigned size = io_size(in);
    greg_write(cpu, in, R_AX, size, io_in(cpu, port, size));
}

static void op_in_imm(struct cpu *cpu, const struct insn *in) { in_to_ax(cpu, in, (uint16_t)in->imm); }
static void op_in_dx(struct cpu *cpu, const struct insn *in) { in_to_ax(cpu, in, (uint16_t)cpu->s.regs[R_DX]); }

static void op_out_imm(struct cpu *cpu, const struct insn *in)
{
    unsigned size = io_size(in);
    io_out(cpu, (uint16_t)in->imm, size, (uint32_t)greg_read(cpu, in, R_AX, size));
}

static void op_out_dx(struct cpu *cpu, const struct insn *in)
{
    unsigned size = io_size(in);
    io_out(cpu, (uint16_t)cpu->s.regs[R_DX], size, (uint32_t)greg_read(cpu, in, R_AX, size));
}

static const struct op_def io_ops[] = {
    {OP1 | 0xe4, -1, -1, PFX_ANY, OPF_BYTE | OPF_IMM8U, op_in_imm, "in"},
    {OP1 | 0xe5, -1, -1, PFX_ANY, OPF_IMM8U, op_in_imm, "in"},
    {OP1 | 0xe6, -1, -1, PFX_ANY, OPF_BYTE | OPF_IMM8U | OPF_END, op_out_imm, "out"},
    {OP1 | 0xe7, -1, -1, PFX_ANY, OPF_IMM8U | OPF_END, op_out_imm, "out"},
    {OP1 | 0xec, -1, -1, PFX_ANY, OPF_BYTE, op_in_dx, "in"},
    {OP1 | 0xed, -1, -1, PFX_ANY, 0, op_in_dx, "in"},
    {OP1 | 0xee, -1, -1, PFX_ANY, OPF_BYTE | OPF_END, op_out_dx, "out"},
    {OP1 | 0xef, -1, -1, PFX_ANY, OPF_END, op_out_dx, "out"},
    OPS_END
};
OPS_REGISTER(io_ops);
