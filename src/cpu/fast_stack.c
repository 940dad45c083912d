/* Specialised PUSH and POP of a register and PUSH imm (fast_ops.h), at
 * operand sizes 4 and 8. Semantics as the generic handlers in stack.c. */
#include "cpu/fast_ops.h"

/* 50-57 PUSH reg (PUSH rSP pushes the value before the decrement); 68/6A
 * PUSH imm (sign-extended to the operand size) */
FAST_INLINE bool push_do(struct cpu *cpu, const struct insn *in, bool imm, unsigned size, unsigned mem)
{
    uint64_t v = imm ? in->imm : greg_read(cpu, in, in->reg, size);
    if (FAST_QUICK(mem)) {
        uint8_t *p;
        if (!fast_stack_host(cpu, -(int64_t)size, size, true, &p))
            return false;
        fast_store(p, size, v);
        cpu->s.regs[R_SP] -= size;
        return true;
    }
    fast_push(cpu, size, v);
    return true;
}

/* 58-5F POP reg (POP rSP leaves the popped value in rSP) */
FAST_INLINE bool pop_do(struct cpu *cpu, const struct insn *in, int unused, unsigned size, unsigned mem)
{
    (void)unused;
    uint64_t v;
    if (FAST_QUICK(mem)) {
        uint8_t *p;
        if (!fast_stack_host(cpu, 0, size, false, &p))
            return false;
        v = fast_load(p, size);
        cpu->s.regs[R_SP] += size;
    } else {
        v = fast_pop(cpu, size);
    }
    greg_write(cpu, in, in->reg, size, v);
    return true;
}

FAST_PLAIN48(push_r, push_do, false)
FAST_PLAIN48(push_i, push_do, true)
FAST_PLAIN48(pop_r, pop_do, 0)

#define PUSH_POP_ROWS(r)                                                                    \
    FAST_PLAIN_ROWS48(OP1 | (0x50 + (r)), push_r), FAST_PLAIN_ROWS48(OP1 | (0x58 + (r)), pop_r)

static const struct op_fast fast_stack_ops[] = {
    PUSH_POP_ROWS(0), PUSH_POP_ROWS(1), PUSH_POP_ROWS(2), PUSH_POP_ROWS(3),
    PUSH_POP_ROWS(4), PUSH_POP_ROWS(5), PUSH_POP_ROWS(6), PUSH_POP_ROWS(7),
    FAST_PLAIN_ROWS48(OP1 | 0x68, push_i), FAST_PLAIN_ROWS48(OP1 | 0x6a, push_i),
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_stack_ops);
