/* Specialised near control transfers (fast_ops.h): Jcc per condition, JMP
 * and CALL rel and r/m, RET, at operand sizes 4 and 8. Semantics as the
 * generic handlers in branch.c: the target is checked (and the operand
 * read) before rSP moves. */
#define FAST_MAY_END 1   /* taken, a branch leaves its block */
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
    if (FAST_QUICK(mem)) {
        uint8_t *p;
        if (!fast_stack_host(cpu, -(int64_t)size, size, true, &p))
            return false;
        fast_branch(cpu, target, size);
        fast_store(p, size, ret);
        cpu->s.regs[R_SP] -= size;
        return true;
    }
    fast_branch(cpu, target, size);
    fast_push(cpu, size, ret);
    return true;
}

/* C3 RET, C2 iw RET imm16: pops the target, then releases imm16 bytes */
FAST_INLINE bool ret_do(struct cpu *cpu, const struct insn *in, bool imm, unsigned size, unsigned mem)
{
    uint64_t rel = imm ? in->imm & 0xffff : 0;
    if (FAST_QUICK(mem)) {
        uint8_t *p;
        if (!fast_stack_host(cpu, 0, size, false, &p))
            return false;
        fast_branch(cpu, fast_load(p, size), size);
        cpu->s.regs[R_SP] += size + rel;
        return true;
    }
    unsigned as = fast_stack_asize(cpu);
    uint64_t sp = cpu->s.regs[R_SP] & size_mask(as);
    fast_branch(cpu, mem_read(cpu, S_SS, sp, size), size);
    areg_write(cpu, R_SP, as, sp + size + rel);
    return true;
}

/* Operand size 8 exists only in 64-bit mode (fast_taken64). */
#define JCC64(cc, unused)                                                                   \
    FAST_PLAIN(jcc##cc##_, 4, jcc_do, cc)                                                   \
    FAST_SLOW_HANDLER(jcc##cc##_8_s, FAST_R, jcc_do, cc, 8)                                 \
    FAST_HANDLER(jcc##cc##_8)                                                               \
    {                                                                                       \
        bool take;                                                                          \
        if (!fast_cond(cpu, cc, FAST_RQ, &take))                                            \
            return jcc##cc##_8_s(cpu, in);                                                  \
        if (!take)                                                                          \
            return fast_next(cpu, in + 1);                                                  \
        return fast_taken64(cpu, in, fast_rip64(cpu, in) + in->len + in->imm);              \
    }
FAST_EACH_CC(JCC64, 0)

FAST_PLAIN(jmp_rel, 4, jmp_do, true)
FAST_HANDLER(jmp_rel8)
{
    return fast_taken64(cpu, in, fast_rip64(cpu, in) + in->len + in->imm);
}

FAST_PLAIN(call_rel, 4, call_do, true)
FAST_SLOW_HANDLER(call_rel8_s, FAST_R, call_do, true, 8)
FAST_HANDLER(call_rel8)
{
    uint64_t ret = fast_rip64(cpu, in) + in->len, target = ret + in->imm;
    uint8_t *p;
    if (!fast_stack_host(cpu, -8, 8, true, &p))
        return call_rel8_s(cpu, in);
    if (!is_canonical(target))
        fast_raise(cpu, in, EXC_GP);
    fast_store(p, 8, ret);
    cpu->s.regs[R_SP] -= 8;
    cpu->s.rip = target;
    return block_leave(cpu, in);
}

/* C3 RET, C2 iw RET imm16 */
#define RET64(name, rel)                                                                    \
    FAST_SLOW_HANDLER(name##8_s, FAST_R, ret_do, (rel) != 0, 8)                             \
    FAST_HANDLER(name##8)                                                                   \
    {                                                                                       \
        uint8_t *p;                                                                         \
        if (!fast_stack_host(cpu, 0, 8, false, &p))                                         \
            return name##8_s(cpu, in);                                                      \
        uint64_t target = fast_load(p, 8);                                                  \
        if (!is_canonical(target))                                                          \
            fast_raise(cpu, in, EXC_GP);                                                    \
        cpu->s.regs[R_SP] += 8 + ((rel) ? in->imm & 0xffff : 0);                            \
        cpu->s.rip = target;                                                                \
        return block_leave(cpu, in);                                                        \
    }
FAST_PLAIN(ret, 4, ret_do, false)
FAST_PLAIN(ret_imm, 4, ret_do, true)
RET64(ret, 0)
RET64(ret_imm, 1)

FAST_RM_PAIRS48(jmp_rm, jmp_do, false)
FAST_RM_PAIRS48(call_rm, call_do, false)

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
