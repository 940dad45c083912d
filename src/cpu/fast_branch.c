/* Specialised near control transfers (fast_ops.h): Jcc per condition, JMP
 * and CALL rel and r/m, RET, at operand sizes 4 and 8. Semantics as the
 * generic handlers in branch.c: the target is checked (and the operand
 * read) before rSP moves. */
#include "cpu/fast_ops.h"

/* 70-7F, 0F 80-8F Jcc rel */
FAST_INLINE bool jcc_do(struct cpu *cpu, const struct insn *in, unsigned cc, unsigned size, unsigned mem)
{
    bool take;
    if (!fast_cond(cpu, cc, mem, &take))
        return false;
    if (take)
        fast_branch(cpu, cpu->next_rip + in->imm, size);
    return true;
}

/* EB/E9 JMP rel, FF /4 JMP r/m */
FAST_INLINE bool jmp_do(struct cpu *cpu, const struct insn *in, bool rel, unsigned size, unsigned mem)
{
    uint64_t target = cpu->next_rip + in->imm;
    if (!rel && !fast_rm_get(cpu, in, size, mem, &target))
        return false;
    fast_branch(cpu, target, size);
    return true;
}

/* E8 CALL rel, FF /2 CALL r/m */
FAST_INLINE bool call_do(struct cpu *cpu, const struct insn *in, bool rel, unsigned size, unsigned mem)
{
    uint64_t ret = cpu->next_rip, target = ret + in->imm;
    if (!rel && !fast_rm_get(cpu, in, size, mem, &target))
        return false;
    fast_branch(cpu, target, size);
    fast_push(cpu, size, ret);
    return true;
}

/* C3 RET, C2 iw RET imm16: pops the target, then releases imm16 bytes */
FAST_INLINE bool ret_do(struct cpu *cpu, const struct insn *in, bool imm, unsigned size, unsigned mem)
{
    (void)mem;
    unsigned as = fast_stack_asize(cpu);
    uint64_t sp = cpu->s.regs[R_SP] & size_mask(as);
    fast_branch(cpu, mem_read(cpu, S_SS, sp, size), size);
    areg_write(cpu, R_SP, as, sp + size + (imm ? in->imm & 0xffff : 0));
    return true;
}

#define JCC_FNS(cc, unused) FAST_PLAIN48(jcc##cc##_, jcc_do, cc)
FAST_EACH_CC(JCC_FNS, 0)
FAST_PLAIN48(jmp_rel, jmp_do, true)
FAST_RM_PAIRS48(jmp_rm, jmp_do, false)
FAST_PLAIN48(call_rel, call_do, true)
FAST_RM_PAIRS48(call_rm, call_do, false)
FAST_PLAIN48(ret, ret_do, false)
FAST_PLAIN48(ret_imm, ret_do, true)

#define JCC_ROWS(cc, unused)                                                                \
    FAST_PLAIN_ROWS48(OP1 | (0x70 + (cc)), jcc##cc##_), FAST_PLAIN_ROWS48(OP0F | (0x80 + (cc)), jcc##cc##_),

static const struct op_fast fast_branch_ops[] = {
    FAST_EACH_CC(JCC_ROWS, 0)
    FAST_PLAIN_ROWS48(OP1 | 0xeb, jmp_rel), FAST_PLAIN_ROWS48(OP1 | 0xe9, jmp_rel),
    FAST_PLAIN_ROWS48(OP1 | 0xe8, call_rel),
    FAST_RM_ROWS48(OP1 | 0xff, 4, jmp_rm), FAST_RM_ROWS48(OP1 | 0xff, 2, call_rm),
    FAST_PLAIN_ROWS48(OP1 | 0xc3, ret), FAST_PLAIN_ROWS48(OP1 | 0xc2, ret_imm),
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_branch_ops);
