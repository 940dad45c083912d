/* Specialised SHL/SAL, SHR and SAR (group 2 /4 /6, /5, /7) by imm8, by 1 and
 * by CL, for byte, word and 32/64-bit operands (fast_ops.h). Semantics and lazy
 * flags as shift_rm() and shift_op() in shift.c. */
#include "cpu/fast_ops.h"

/* The count is masked to 5 bits, 6 with 64-bit operands (SDM SAL/SAR/SHL/SHR). */
#define COUNT_MASK32 0x1f
#define COUNT_MASK64 0x3f

enum { K_SHL, K_SHR, K_SAR };
enum { C_IMM, C_ONE, C_CL };

/* dst (masked) shifted by cnt (1 .. width-1 or up to 31 for narrow
 * operands), with the lazy flags of the shift. */
FAST_INLINE uint64_t shift_calc(struct cpu *cpu, unsigned kind, unsigned size, uint64_t dst, unsigned cnt)
{
    uint64_t m = size_mask(size), res;
    switch (kind) {
    case K_SHL: res = (dst << cnt) & m; lf_set(cpu, LF_SHL, size, dst, cnt, res); break;
    case K_SHR: res = dst >> cnt; lf_set(cpu, LF_SHR, size, dst, cnt, res); break;
    default: res = (uint64_t)(sext(dst, size) >> cnt) & m; lf_set(cpu, LF_SAR, size, dst, cnt, res); break;
    }
    return res;
}

/* A zero count changes no flag but still writes the operand (which
 * zero-extends a 32-bit register and faults on a read-only page). */
FAST_INLINE bool shift_do(struct cpu *cpu, const struct insn *in, unsigned kind, unsigned csrc, unsigned size,
                          unsigned mem)
{
    unsigned count = csrc == C_IMM ? (unsigned)in->imm & 0xff
                   : csrc == C_ONE ? 1 : (unsigned)cpu->s.regs[R_CX] & 0xff;
    unsigned cnt = count & (size == 8 ? COUNT_MASK64 : COUNT_MASK32);
    struct fast_rmw r = { 0, NULL };
    uint64_t v;
    if (!FAST_IS_MEM(mem))
        v = greg_read(cpu, in, in->rm, size);
    else if (!fast_rmw_get(cpu, in, size, mem, &r, &v))
        return false;
    v &= size_mask(size);
    if (cnt)
        v = shift_calc(cpu, kind, size, v, cnt);
    if (FAST_IS_MEM(mem))
        fast_rmw_put(cpu, &r, size, mem, v);
    else
        greg_write(cpu, in, in->rm, size, v);
    return true;
}

#define SHIFT_FNS(name, K)                                                                  \
    FAST_RM_PAIR(name##_i, 1, shift_do, K, C_IMM) FAST_RM_PAIRS248(name##_i, shift_do, K, C_IMM) \
    FAST_RM_PAIR(name##_1, 1, shift_do, K, C_ONE) FAST_RM_PAIRS248(name##_1, shift_do, K, C_ONE) \
    FAST_RM_PAIR(name##_cl, 1, shift_do, K, C_CL) FAST_RM_PAIRS248(name##_cl, shift_do, K, C_CL)
SHIFT_FNS(shl, K_SHL)
SHIFT_FNS(shr, K_SHR)
SHIFT_FNS(sar, K_SAR)

/* C0/C1 imm8, D0/D1 by 1, D2/D3 by CL; n is ModRM.reg. */
#define SHIFT_ROWS(n, name)                                                                 \
    FAST_RM_ROWS(OP1 | 0xc0, n, name##_i, 1), FAST_RM_ROWS248(OP1 | 0xc1, n, name##_i),    \
    FAST_RM_ROWS(OP1 | 0xd0, n, name##_1, 1), FAST_RM_ROWS248(OP1 | 0xd1, n, name##_1),    \
    FAST_RM_ROWS(OP1 | 0xd2, n, name##_cl, 1), FAST_RM_ROWS248(OP1 | 0xd3, n, name##_cl)

static const struct op_fast fast_shift_ops[] = {
    SHIFT_ROWS(4, shl), SHIFT_ROWS(5, shr), SHIFT_ROWS(6, shl), SHIFT_ROWS(7, sar),
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_shift_ops);
