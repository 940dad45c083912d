/* Near control transfers: Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE, JrCXZ
 * and branch_near() (Intel SDM Vol. 2 instruction pages). In 64-bit mode
 * Intel processors ignore 66h on near branches: the rows use OPF_F64.
 * Targets are checked before anything else changes, so a #GP or a stack
 * fault leaves the registers as they were. */
#include "cpu/cpu_int.h"

void branch_near(struct cpu *cpu, uint64_t target, unsigned opsize)
{
    target &= size_mask(opsize);
    if (cpu_is64(cpu)) {
        /* canonical: bits 63..47 all equal (SDM Vol. 1 3.3.7.1) */
        if (!is_canonical(target))
            cpu_gp0(cpu);
    } else if (target > cpu->s.seg[S_CS].limit) {
        cpu_gp0(cpu);
    }
    cpu->next_rip = target;
    /* Conditional branches do not end their block; taken, they leave it. */
    cpu->block_end = true;
}

/* 70-7F, 0F 80-8F Jcc rel */
static void op_jcc(struct cpu *cpu, const struct insn *in)
{
    if (cond_true(cpu, in->op & 0xf))
        branch_near(cpu, cpu->next_rip + in->imm, in->opsize);
}

/* EB, E9 JMP rel */
static void op_jmp_rel(struct cpu *cpu, const struct insn *in)
{
    branch_near(cpu, cpu->next_rip + in->imm, in->opsize);
}

/* FF /4 JMP r/m */
static void op_jmp_rm(struct cpu *cpu, const struct insn *in)
{
    branch_near(cpu, rm_read(cpu, in, in->opsize), in->opsize);
}

/* E8 CALL rel */
static void op_call_rel(struct cpu *cpu, const struct insn *in)
{
    uint64_t ret = cpu->next_rip;
    branch_near(cpu, ret + in->imm, in->opsize);
    push(cpu, in->opsize, ret);
}

/* FF /2 CALL r/m (the operand is read before rSP moves) */
static void op_call_rm(struct cpu *cpu, const struct insn *in)
{
    uint64_t ret = cpu->next_rip;
    branch_near(cpu, rm_read(cpu, in, in->opsize), in->opsize);
    push(cpu, in->opsize, ret);
}

/* C3 RET, C2 iw RET imm16: pops the target, then releases imm16 bytes */
static void op_ret(struct cpu *cpu, const struct insn *in)
{
    unsigned os = in->opsize, as = stack_asize(cpu);
    uint64_t target = stack_read(cpu, 0, os);
    branch_near(cpu, target, os);
    uint64_t release = (in->op & 0xff) == 0xc2 ? (in->imm & 0xffff) : 0;
    areg_write(cpu, R_SP, as, (cpu->s.regs[R_SP] & size_mask(as)) + os + release);
}

/* E0 LOOPNE, E1 LOOPE, E2 LOOP: the counter is rCX at the address size */
static void op_loop(struct cpu *cpu, const struct insn *in)
{
    unsigned as = in->addrsize;
    uint64_t n = (areg_read(cpu, R_CX, as) - 1) & size_mask(as);
    bool take = n != 0;
    switch (in->op & 0xff) {
    case 0xe0: take = take && !flag_zf(cpu); break;
    case 0xe1: take = take && flag_zf(cpu); break;
    default: break;
    }
    if (take)
        branch_near(cpu, cpu->next_rip + in->imm, in->opsize);
    areg_write(cpu, R_CX, as, n);
}

/* E3 JCXZ/JECXZ/JRCXZ */
static void op_jcxz(struct cpu *cpu, const struct insn *in)
{
    if (areg_read(cpu, R_CX, in->addrsize) == 0)
        branch_near(cpu, cpu->next_rip + in->imm, in->opsize);
}

#define BR (OPF_END | OPF_F64)
#define REL8 (BR | OPF_IMM8 | OPF_REL)
#define RELZ (BR | OPF_IMMZ | OPF_REL)
/* Conditional: the block goes on past a branch not taken. */
#define CREL8 (OPF_F64 | OPF_IMM8 | OPF_REL)
#define CRELZ (OPF_F64 | OPF_IMMZ | OPF_REL)
#define JCC(base, flags, cc, name) {(base) | (cc), -1, -1, PFX_ANY, flags, op_jcc, name}
#define JCC_ROWS(base, flags)                                                                 \
    JCC(base, flags, 0x0, "jo"), JCC(base, flags, 0x1, "jno"), JCC(base, flags, 0x2, "jb"),   \
    JCC(base, flags, 0x3, "jae"), JCC(base, flags, 0x4, "je"), JCC(base, flags, 0x5, "jne"),  \
    JCC(base, flags, 0x6, "jbe"), JCC(base, flags, 0x7, "ja"), JCC(base, flags, 0x8, "js"),   \
    JCC(base, flags, 0x9, "jns"), JCC(base, flags, 0xa, "jp"), JCC(base, flags, 0xb, "jnp"),  \
    JCC(base, flags, 0xc, "jl"), JCC(base, flags, 0xd, "jge"), JCC(base, flags, 0xe, "jle"),  \
    JCC(base, flags, 0xf, "jg")

static const struct op_def branch_ops[] = {
    JCC_ROWS(OP1 | 0x70, CREL8),
    JCC_ROWS(OP0F | 0x80, CRELZ),
    {OP1 | 0xeb, -1, -1, PFX_ANY, REL8, op_jmp_rel, "jmp"},
    {OP1 | 0xe9, -1, -1, PFX_ANY, RELZ, op_jmp_rel, "jmp"},
    {OP1 | 0xe8, -1, -1, PFX_ANY, RELZ, op_call_rel, "call"},
    {OP1 | 0xff, 2, -1, PFX_ANY, BR | OPF_MODRM, op_call_rm, "call"},
    {OP1 | 0xff, 4, -1, PFX_ANY, BR | OPF_MODRM, op_jmp_rm, "jmp"},
    {OP1 | 0xc3, -1, -1, PFX_ANY, BR, op_ret, "ret"},
    {OP1 | 0xc2, -1, -1, PFX_ANY, BR | OPF_IMM16, op_ret, "ret"},
    {OP1 | 0xe0, -1, -1, PFX_ANY, CREL8, op_loop, "loopne"},
    {OP1 | 0xe1, -1, -1, PFX_ANY, CREL8, op_loop, "loope"},
    {OP1 | 0xe2, -1, -1, PFX_ANY, CREL8, op_loop, "loop"},
    {OP1 | 0xe3, -1, -1, PFX_ANY, CREL8, op_jcxz, "jcxz"},
    OPS_END};
OPS_REGISTER(branch_ops);
