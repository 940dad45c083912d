/* Specialised two- and three-operand IMUL (0F AF, 69, 6B), one-operand MUL
 * and IMUL (F7 /4 /5) and DIV (F7 /6) at operand sizes 4 and 8 (fast_ops.h).
 * Semantics and flags as muldiv.c: CF = OF = the product does not fit (MUL:
 * the high half is not zero); SF and PF follow the low half, ZF and AF are
 * cleared (as Intel processors leave these undefined flags); DIV changes no
 * flag. */
#include "cpu/fast_ops.h"

/* The flags of a product: lo its low half, ovf whether it does not fit. */
FAST_INLINE void mul_flags_set(struct cpu *cpu, unsigned size, uint64_t lo, bool ovf)
{
    uint32_t f = ovf ? (FL_CF | FL_OF) : 0;
    if (lo & sign_bit(size))
        f |= FL_SF;
    if (!__builtin_parity((unsigned)(lo & 0xff)))
        f |= FL_PF;
    fast_flags_arith(cpu, f);
}

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
    mul_flags_set(cpu, size, lo, ovf);
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

/* F7 /4 MUL, /5 IMUL r/m: rDX:rAX = rAX * r/m */
FAST_INLINE bool mul1_do(struct cpu *cpu, const struct insn *in, bool sign, unsigned size, unsigned mem)
{
    uint64_t b, lo, hi;
    if (!fast_rm_get(cpu, in, size, mem, &b))
        return false;
    uint64_t a = cpu->s.regs[R_AX] & size_mask(size);
    b &= size_mask(size);
    bool ovf;
    if (size == 8) {
        if (sign) {
            __int128 p = (__int128)(int64_t)a * (int64_t)b;
            lo = (uint64_t)p;
            hi = (uint64_t)((unsigned __int128)p >> 64);
            ovf = (__int128)(int64_t)lo != p;
        } else {
            unsigned __int128 p = (unsigned __int128)a * b;
            lo = (uint64_t)p;
            hi = (uint64_t)(p >> 64);
            ovf = hi != 0;
        }
    } else {
        /* both factors fit in 32 bits: the product fits in 64 */
        uint64_t p = sign ? (uint64_t)(sext(a, 4) * sext(b, 4)) : a * b;
        lo = p & 0xffffffffu;
        hi = p >> 32;
        ovf = sign ? sext(lo, 4) != (int64_t)p : hi != 0;
        hi &= 0xffffffffu;
    }
    cpu->s.regs[R_AX] = lo;
    cpu->s.regs[R_DX] = hi;
    mul_flags_set(cpu, size, lo, ovf);
    return true;
}

/* F7 /6 DIV r/m: rAX = rDX:rAX / r/m, rDX = the remainder; #DE on a zero
 * divisor or a quotient too wide. A quick form divides only a dividend
 * that fits in 64 bits (no call): 32-bit operands, or rDX zero. */
FAST_INLINE bool div_do(struct cpu *cpu, const struct insn *in, int unused, unsigned size, unsigned mem)
{
    (void)unused;
    uint64_t d, q, r;
    if (!fast_rm_get(cpu, in, size, mem, &d))
        return false;
    d &= size_mask(size);
    uint64_t hi = cpu->s.regs[R_DX] & size_mask(size), lo = cpu->s.regs[R_AX] & size_mask(size);
    if (size == 8 && hi != 0 && FAST_QUICK(mem))
        return false;
    if (d == 0)
        fast_raise(cpu, in, EXC_DE);
    if (size == 8 && hi != 0) {
        unsigned __int128 n = ((unsigned __int128)hi << 64) | lo, qq = n / d;
        if (qq >> 64)
            fast_raise(cpu, in, EXC_DE);
        q = (uint64_t)qq;
        r = (uint64_t)(n % d);
    } else {
        uint64_t n = size == 8 ? lo : (hi << 32) | lo;
        q = n / d;
        r = n % d;
        if (q > size_mask(size))
            fast_raise(cpu, in, EXC_DE);
    }
    cpu->s.regs[R_AX] = q;
    cpu->s.regs[R_DX] = r;
    return true;
}

FAST_RM_PAIRS48(mul_, mul1_do, false)
FAST_RM_PAIRS48(imul1_, mul1_do, true)
FAST_RM_PAIRS48(div_, div_do, 0)

static const struct op_fast fast_mul_ops[] = {
    FAST_RM_ROWS48(OP0F | 0xaf, -1, imul2_),
    FAST_RM_ROWS48(OP1 | 0x69, -1, imul3_), FAST_RM_ROWS48(OP1 | 0x6b, -1, imul3_),
    FAST_RM_ROWS48(OP1 | 0xf7, 4, mul_), FAST_RM_ROWS48(OP1 | 0xf7, 5, imul1_),
    FAST_RM_ROWS48(OP1 | 0xf7, 6, div_),
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_mul_ops);
