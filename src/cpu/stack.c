/* The stack: push/pop primitives of cpu_int.h and the instructions PUSH POP
 * (register, immediate, r/m), PUSHA POPA, ENTER LEAVE (Intel SDM Vol. 2
 * instruction pages; Vol. 1 6.2 for the stack address size). Instructions
 * that write several stack slots compute them all before moving rSP, so a
 * fault leaves rSP as it was. */
#include "cpu/cpu_int.h"

unsigned stack_asize(const struct cpu *cpu)
{
    if (cpu_is64(cpu))
        return 8;
    return (cpu->s.seg[S_SS].attr & SEGA_DB) ? 4 : 2;
}

void push(struct cpu *cpu, unsigned size, uint64_t v)
{
    unsigned as = stack_asize(cpu);
    uint64_t sp = (cpu->s.regs[R_SP] - size) & size_mask(as);
    mem_write(cpu, S_SS, sp, size, v);
    areg_write(cpu, R_SP, as, sp);
}

uint64_t pop(struct cpu *cpu, unsigned size)
{
    unsigned as = stack_asize(cpu);
    uint64_t sp = cpu->s.regs[R_SP] & size_mask(as);
    uint64_t v = mem_read(cpu, S_SS, sp, size);
    areg_write(cpu, R_SP, as, sp + size);
    return v;
}

uint64_t stack_read(struct cpu *cpu, uint64_t sp_off, unsigned size)
{
    uint64_t m = size_mask(stack_asize(cpu));
    return mem_read(cpu, S_SS, ((cpu->s.regs[R_SP] & m) + sp_off) & m, size);
}

/* 50-57 PUSH reg (PUSH rSP pushes the value before the decrement) */
static void op_push_r(struct cpu *cpu, const struct insn *in)
{
    push(cpu, in->opsize, greg_read(cpu, in, in->reg, in->opsize));
}

/* 58-5F POP reg (POP rSP leaves the popped value in rSP) */
static void op_pop_r(struct cpu *cpu, const struct insn *in)
{
    uint64_t v = pop(cpu, in->opsize);
    greg_write(cpu, in, in->reg, in->opsize, v);
}

/* 68 PUSH immz, 6A PUSH imm8 (sign-extended to the operand size) */
static void op_push_imm(struct cpu *cpu, const struct insn *in)
{
    push(cpu, in->opsize, in->imm);
}

/* FF /6 PUSH r/m */
static void op_push_rm(struct cpu *cpu, const struct insn *in)
{
    push(cpu, in->opsize, rm_read(cpu, in, in->opsize));
}

/* 8F /0 POP r/m: an rSP-based address is computed with rSP already
 * incremented (SDM POP), but rSP only changes once the store succeeded. */
static void op_pop_rm(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize, as = stack_asize(cpu);
    uint64_t old_sp = cpu->s.regs[R_SP];
    uint64_t v = stack_read(cpu, 0, size);
    uint64_t new_sp = ((old_sp & size_mask(as)) + size) & size_mask(as);
    if (in->mod == 3) {
        areg_write(cpu, R_SP, as, new_sp);
        greg_write(cpu, in, in->rm, size, v);
        return;
    }
    areg_write(cpu, R_SP, as, new_sp);
    uint64_t ea = insn_ea(cpu, in);
    cpu->s.regs[R_SP] = old_sp;
    mem_write(cpu, in->seg, ea, size, v);
    areg_write(cpu, R_SP, as, new_sp);
}

/* 60 PUSHA: AX CX DX BX (original) SP BP SI DI */
static void op_pusha(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize, as = stack_asize(cpu);
    uint64_t m = size_mask(as), sp = cpu->s.regs[R_SP] & m;
    for (unsigned r = R_AX; r <= R_DI; r++) {
        sp = (sp - size) & m;
        mem_write(cpu, S_SS, sp, size, greg_read(cpu, in, r, size));
    }
    areg_write(cpu, R_SP, as, sp);
}

/* 61 POPA: the saved SP slot is skipped */
static void op_popa(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize, as = stack_asize(cpu);
    uint64_t v[8];
    for (unsigned i = 0; i < 8; i++)
        v[i] = stack_read(cpu, (uint64_t)i * size, size);
    for (unsigned i = 0; i < 8; i++)
        if (R_DI - i != R_SP)
            greg_write(cpu, in, R_DI - i, size, v[i]);
    areg_write(cpu, R_SP, as, (cpu->s.regs[R_SP] & size_mask(as)) + 8 * size);
}

/* ENTER takes its nesting level modulo 32 (SDM ENTER). */
#define ENTER_LEVEL_MASK 0x1f

/* C8 iw ib ENTER size, level */
static void op_enter(struct cpu *cpu, const struct insn *in)
{
    unsigned os = in->opsize, as = stack_asize(cpu);
    unsigned level = in->imm2 & ENTER_LEVEL_MASK;
    uint64_t alloc = in->imm & 0xffff;
    uint64_t m = size_mask(as);
    uint64_t sp = cpu->s.regs[R_SP] & m, bp = cpu->s.regs[R_BP] & m;
    sp = (sp - os) & m;
    mem_write(cpu, S_SS, sp, os, greg_read(cpu, in, R_BP, os));
    uint64_t frame = sp;
    if (level > 0) {
        for (unsigned i = 1; i < level; i++) {
            bp = (bp - os) & m;
            uint64_t v = mem_read(cpu, S_SS, bp, os);
            sp = (sp - os) & m;
            mem_write(cpu, S_SS, sp, os, v);
        }
        sp = (sp - os) & m;
        mem_write(cpu, S_SS, sp, os, frame);
    }
    sp = (sp - alloc) & m;
    /* #SS if the new stack top lies outside the segment (SDM ENTER) */
    if (alloc)
        (void)seg_lin(cpu, S_SS, sp, 1, ACC_W);
    areg_write(cpu, R_BP, as, frame);
    areg_write(cpu, R_SP, as, sp);
}

/* C9 LEAVE: rSP = rBP, then rBP = pop */
static void op_leave(struct cpu *cpu, const struct insn *in)
{
    unsigned os = in->opsize, as = stack_asize(cpu);
    uint64_t m = size_mask(as), bp = cpu->s.regs[R_BP] & m;
    uint64_t v = mem_read(cpu, S_SS, bp, os);
    areg_write(cpu, R_SP, as, bp + os);
    greg_write(cpu, in, R_BP, os, v);
}

#define D OPF_DEF64
#define PLUS_R(base, flags, fn, name)                                                     \
    {(base) + 0, -1, -1, PFX_ANY, flags, fn, name}, {(base) + 1, -1, -1, PFX_ANY, flags, fn, name}, \
    {(base) + 2, -1, -1, PFX_ANY, flags, fn, name}, {(base) + 3, -1, -1, PFX_ANY, flags, fn, name}, \
    {(base) + 4, -1, -1, PFX_ANY, flags, fn, name}, {(base) + 5, -1, -1, PFX_ANY, flags, fn, name}, \
    {(base) + 6, -1, -1, PFX_ANY, flags, fn, name}, {(base) + 7, -1, -1, PFX_ANY, flags, fn, name}

static const struct op_def stack_ops[] = {
    PLUS_R(OP1 | 0x50, D, op_push_r, "push"),
    PLUS_R(OP1 | 0x58, D, op_pop_r, "pop"),
    {OP1 | 0x68, -1, -1, PFX_ANY, D | OPF_IMMZ, op_push_imm, "push"},
    {OP1 | 0x6a, -1, -1, PFX_ANY, D | OPF_IMM8, op_push_imm, "push"},
    {OP1 | 0xff, 6, -1, PFX_ANY, D | OPF_MODRM, op_push_rm, "push"},
    {OP1 | 0x8f, 0, -1, PFX_ANY, D | OPF_MODRM, op_pop_rm, "pop"},
    {OP1 | 0x60, -1, -1, PFX_ANY, OPF_NO64, op_pusha, "pusha"},
    {OP1 | 0x61, -1, -1, PFX_ANY, OPF_NO64, op_popa, "popa"},
    {OP1 | 0xc8, -1, -1, PFX_ANY, D | OPF_ENTER, op_enter, "enter"},
    {OP1 | 0xc9, -1, -1, PFX_ANY, D, op_leave, "leave"},
    OPS_END};
OPS_REGISTER(stack_ops);
