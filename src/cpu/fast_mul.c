/* Specialised two- and three-operand IMUL (0F AF, 69, 6B) at operand sizes
 * 4 and 8 (fast_ops.h). Semantics and flags as muldiv.c: CF = OF = the
 * product does not fit; SF and PF follow the result, ZF and AF are cleared
 * (as Intel processors leave these undefined flags). */
#include "cpu/fast_ops.h"

/* Signed a * b truncated to size, setting the flags. */
FAST_INLINE uint64_t imul_calc(struct cpu *cpu, unsigned size, uint64_t a, uint64_t b)
{
    uint64_t lo;
    bool ovf;
    if (size == 8) {
        int64_t p;
        ovf = __builtin_mul_overflow(sext(a, 8), sext(b, 8), &p);
        lo = (uint64_t)p;
    } else {
        /* both factors fit in 32 bits: the product fits in 64 */
        int64_t p = sext(a, size) * sext(b, size);
        lo = (uint64_t)p & size_mask(size);
        ovf = sext(lo, size) != p;
    }
    uint32_t f = ovf ? (FL_CF | FL_OF) : 0;
    if (lo & sign_bit(size))
        f |= FL_SF;
    if (!__builtin_parity((unsigned)(lo & 0xff)))
        f |= FL_PF;
    fast_flags_arith(cpu, f);
    return lo;
}

/* 0F AF IMUL reg, r/m (imm false); 69/6B IMUL reg, r/m, imm (imm true) */
FAST_INLINE bool imul_do(struct cpu *cpu, const struct insn *in, bool imm, unsigned size, unsigned mem)
{
    uint64_t b;
    if (!fast_rm_get(cpu, in, size, mem, &b))
        return false;
    uint64_t a = imm ? in->imm : greg_read(cpu, in, in->reg, size);
    greg_write(cpu, in, in->reg, size, imul_calc(cpu, size, a, b));
    return true;
}

FAST_RM_PAIRS48(imul2_, imul_do, false)
FAST_RM_PAIRS48(imul3_, imul_do, true)

static const struct op_fast fast_mul_ops[] = {
    FAST_RM_ROWS48(OP0F | 0xaf, -1, imul2_),
    FAST_RM_ROWS48(OP1 | 0x69, -1, imul3_), FAST_RM_ROWS48(OP1 | 0x6b, -1, imul3_),
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_mul_ops);
