/* Segment-register instructions: PUSH/POP Sreg, MOV Sreg, MOV from Sreg,
 * LDS LES LSS LFS LGS (SDM Vol. 2 MOV, POP, PUSH, LDS/LES/LFS/LGS/LSS). */
#include "cpu/cpu_sys.h"

/* PUSH Sreg: the selector zero-extended to the operand size. */
static void op_push_sreg(struct cpu *cpu, const struct insn *in)
{
    int seg;
    switch (in->op) {
    case OP1 | 0x06: seg = S_ES; break;
    case OP1 | 0x0e: seg = S_CS; break;
    case OP1 | 0x16: seg = S_SS; break;
    case OP1 | 0x1e: seg = S_DS; break;
    case OP0F | 0xa0: seg = S_FS; break;
    default: seg = S_GS; break;
    }
    push(cpu, in->opsize, cpu->s.seg[seg].sel);
}

static void pop_sreg(struct cpu *cpu, const struct insn *in, int seg)
{
    uint16_t sel = (uint16_t)stack_read(cpu, 0, in->opsize);
    seg_load(cpu, seg, sel);
    (void)pop(cpu, in->opsize);
    if (seg == S_SS)
        cpu->s.intr_shadow = SHADOW_MOVSS;   /* POP SS blocks interrupts for one insn */
}

static void op_pop_es(struct cpu *cpu, const struct insn *in) { pop_sreg(cpu, in, S_ES); }
static void op_pop_ss(struct cpu *cpu, const struct insn *in) { pop_sreg(cpu, in, S_SS); }
static void op_pop_ds(struct cpu *cpu, const struct insn *in) { pop_sreg(cpu, in, S_DS); }
static void op_pop_fs(struct cpu *cpu, const struct insn *in) { pop_sreg(cpu, in, S_FS); }
static void op_pop_gs(struct cpu *cpu, const struct insn *in) { pop_sreg(cpu, in, S_GS); }

/* 8E MOV Sreg, r/m16; CS and reg 6/7 are #UD. */
static void op_mov_sreg_rm(struct cpu *cpu, const struct insn *in)
{
    int seg = in->reg & 7;
    if (seg == S_CS || seg > S_GS)
        cpu_ud(cpu);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    seg_load(cpu, seg, sel);
    if (seg == S_SS)
        cpu->s.intr_shadow = SHADOW_MOVSS;
}

/* 8C MOV r/m, Sreg: 16 bits to memory, zero-extended into a register. */
static void op_mov_rm_sreg(struct cpu *cpu, const struct insn *in)
{
    int seg = in->reg & 7;
    if (seg > S_GS)
        cpu_ud(cpu);
    uint16_t sel = cpu->s.seg[seg].sel;
    if (in->mod == 3)
        greg_write(cpu, in, in->rm, in->opsize == 2 ? 2 : in->opsize, sel);
    else
        mem_write(cpu, in->seg, insn_ea(cpu, in), 2, sel);
}

/* Far pointer loads: offset of the operand size, then the selector. */
static void load_far(struct cpu *cpu, const struct insn *in, int seg)
{
    uint64_t ea = insn_ea(cpu, in);
    uint64_t off = mem_read(cpu, in->seg, ea, in->opsize);
    uint16_t sel = mem_read16(cpu, in->seg, (ea + in->opsize) & size_mask(in->addrsize));
    seg_load(cpu, seg, sel);
    greg_write(cpu, in, in->reg, in->opsize, off);
}

static void op_les(struct cpu *cpu, const struct insn *in) { load_far(cpu, in, S_ES); }
static void op_lds(struct cpu *cpu, const struct insn *in) { load_far(cpu, in, S_DS); }
static void op_lss(struct cpu *cpu, const struct insn *in) { load_far(cpu, in, S_SS); }
static void op_lfs(struct cpu *cpu, const struct insn *in) { load_far(cpu, in, S_FS); }
static void op_lgs(struct cpu *cpu, const struct insn *in) { load_far(cpu, in, S_GS); }

#define NO64 OPF_NO64
#define M OPF_MODRM
static const struct op_def sysseg_ops[] = {
    {OP1 | 0x06, -1, -1, PFX_ANY, NO64, op_push_sreg, "push es"},
    {OP1 | 0x0e, -1, -1, PFX_ANY, NO64, op_push_sreg, "push cs"},
    {OP1 | 0x16, -1, -1, PFX_ANY, NO64, op_push_sreg, "push ss"},
    {OP1 | 0x1e, -1, -1, PFX_ANY, NO64, op_push_sreg, "push ds"},
    {OP0F | 0xa0, -1, -1, PFX_ANY, OPF_DEF64, op_push_sreg, "push fs"},
    {OP0F | 0xa8, -1, -1, PFX_ANY, OPF_DEF64, op_push_sreg, "push gs"},
    {OP1 | 0x07, -1, -1, PFX_ANY, NO64, op_pop_es, "pop es"},
    {OP1 | 0x17, -1, -1, PFX_ANY, NO64 | OPF_END, op_pop_ss, "pop ss"},
    {OP1 | 0x1f, -1, -1, PFX_ANY, NO64, op_pop_ds, "pop ds"},
    {OP0F | 0xa1, -1, -1, PFX_ANY, OPF_DEF64, op_pop_fs, "pop fs"},
    {OP0F | 0xa9, -1, -1, PFX_ANY, OPF_DEF64, op_pop_gs, "pop gs"},
    {OP1 | 0x8e, -1, -1, PFX_ANY, M, op_mov_sreg_rm, "mov sreg"},
    {OP1 | 0x8e, 2, -1, PFX_ANY, M | OPF_END, op_mov_sreg_rm, "mov ss"},
    {OP1 | 0x8c, -1, -1, PFX_ANY, M, op_mov_rm_sreg, "mov"},
    {OP1 | 0xc4, -1, -1, PFX_ANY, M | OPF_MEM | NO64, op_les, "les"},
    {OP1 | 0xc5, -1, -1, PFX_ANY, M | OPF_MEM | NO64, op_lds, "lds"},
    {OP0F | 0xb2, -1, -1, PFX_ANY, M | OPF_MEM | OPF_END, op_lss, "lss"},
    {OP0F | 0xb4, -1, -1, PFX_ANY, M | OPF_MEM, op_lfs, "lfs"},
    {OP0F | 0xb5, -1, -1, PFX_ANY, M | OPF_MEM, op_lgs, "lgs"},
    OPS_END
};
OPS_REGISTER(sysseg_ops);
