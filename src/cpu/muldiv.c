/* Multiplication and division: MUL IMUL (one-, two- and three-operand) DIV
 * IDIV (Intel SDM Vol. 2 "MUL", "IMUL", "DIV", "IDIV"). Flags are eager:
 * CF = OF = the high half is significant; SF ZF AF PF are undefined: as on
 * Intel processors SF and PF follow the low half, ZF and AF are cleared.
 * DIV/IDIV leave the flags alone. */
#include "cpu/cpu_int.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

static void mul_flags(struct cpu *cpu, unsigned size, uint64_t lo, bool overflow)
{
    uint32_t f = overflow ? (FL_CF | FL_OF) : 0;
    lo &= size_mask(size);
    if (lo & sign_bit(size))
        f |= FL_SF;
    if (!__builtin_parity((unsigned)(lo & 0xff)))
        f |= FL_PF;
    flags_write(cpu, FL_ARITH, f);
}

/* Stores a double-width result: AX for bytes, else rDX:rAX. */
static void store_wide(struct cpu *cpu, const struct insn *in, unsigned size, uint64_t lo, uint64_t hi)
{
    if (size == 1) {
        greg_write(cpu, in, R_AX, 2, ((hi & 0xff) << 8) | (lo & 0xff));
        return;
    }
    greg_write(cpu, in, R_AX, size, lo);
    greg_write(cpu, in, R_DX, size, hi);
}

/* F6/F7 /4 MUL */
static void op_mul(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t m = size_mask(size);
    uint64_t a = greg_read(cpu, in, R_AX, size), b = rm_read(cpu, in, size) & m;
    u128 p = (u128)a * b;
    uint64_t lo, hi;
    if (size == 8) {
        lo = (uint64_t)p;
        hi = (uint64_t)(p >> 64);
    } else {
        lo = (uint64_t)p & m;
        hi = ((uint64_t)p >> (size * 8)) & m;
    }
    store_wide(cpu, in, size, lo, hi);
    mul_flags(cpu, size, lo, hi != 0);
}

/* Signed product of two size-wide values; *ovf when it does not fit in size. */
static uint64_t imul_core(unsigned size, uint64_t a, uint64_t b, uint64_t *hi, bool *ovf)
{
    s128 p = (s128)sext(a, size) * (s128)sext(b, size);
    u128 up = (u128)p;
    uint64_t lo = (uint64_t)up & size_mask(size);
    if (size == 8)
        *hi = (uint64_t)(up >> 64);
    else
        *hi = (uint64_t)(up >> (size * 8)) & size_mask(size);
    *ovf = (s128)sext(lo, size) != p;
    return lo;
}

/* F6/F7 /5 IMUL r/m: rDX:rAX = rAX * r/m */
static void op_imul1(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t hi;
    bool ovf;
    uint64_t lo = imul_core(size, greg_read(cpu, in, R_AX, size), rm_read(cpu, in, size), &hi, &ovf);
    store_wide(cpu, in, size, lo, hi);
    mul_flags(cpu, size, lo, ovf);
}

/* 0F AF IMUL r, r/m */
static void op_imul2(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t hi;
    bool ovf;
    uint64_t lo = imul_core(size, greg_read(cpu, in, in->reg, size), rm_read(cpu, in, size), &hi, &ovf);
    greg_write(cpu, in, in->reg, size, lo);
    mul_flags(cpu, size, lo, ovf);
}

/* 69 IMUL r, r/m, immz; 6B IMUL r, r/m, imm8 */
static void op_imul3(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t hi;
    bool ovf;
    uint64_t lo = imul_core(size, rm_read(cpu, in, size), in->imm, &hi, &ovf);
    greg_write(cpu, in, in->reg, size, lo);
    mul_flags(cpu, size, lo, ovf);
}

/* The double-width dividend: AX for bytes, else rDX:rAX. */
static u128 dividend(struct cpu *cpu, const struct insn *in, unsigned size)
{
    if (size == 1)
        return greg_read(cpu, in, R_AX, 2);
    return ((u128)greg_read(cpu, in, R_DX, size) << (size * 8)) | greg_read(cpu, in, R_AX, size);
}

/* Stores quotient in AL/rAX and remainder in AH/rDX. */
static void store_divres(struct cpu *cpu, const struct insn *in, unsigned size, uint64_t q, uint64_t r)
{
    if (size == 1)
        greg_write(cpu, in, R_AX, 2, ((r & 0xff) << 8) | (q & 0xff));
    else {
        greg_write(cpu, in, R_AX, size, q);
        greg_write(cpu, in, R_DX, size, r);
    }
}

/* F6/F7 /6 DIV: #DE on a zero divisor or a quotient too wide (SDM DIV) */
static void op_div(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t d = rm_read(cpu, in, size) & size_mask(size);
    if (d == 0)
        cpu_raise(cpu, EXC_DE, 0);
    u128 n = dividend(cpu, in, size);
    u128 q = n / d;
    if (q > size_mask(size))
        cpu_raise(cpu, EXC_DE, 0);
    store_divres(cpu, in, size, (uint64_t)q, (uint64_t)(n % d));
}

/* F6/F7 /7 IDIV: quotient truncated toward zero, remainder has the sign of
 * the dividend; #DE if the quotient does not fit (SDM IDIV). Computed on
 * magnitudes so that no signed overflow can occur. */
static void op_idiv(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize, bits = size * 8;
    uint64_t draw = rm_read(cpu, in, size) & size_mask(size);
    if (draw == 0)
        cpu_raise(cpu, EXC_DE, 0);
    u128 n = dividend(cpu, in, size);
    /* sign of the 2*bits-wide dividend */
    bool nneg = (n >> (2 * bits - 1)) & 1;
    u128 nmag = n;
    if (nneg) {
        nmag = ~n + 1;
        if (bits < 64)
            nmag &= ((u128)1 << (2 * bits)) - 1;
    }
    bool dneg = (draw & sign_bit(size)) != 0;
    uint64_t dmag = dneg ? (0 - draw) & size_mask(size) : draw;
    u128 qmag = nmag / dmag, rmag = nmag % dmag;
    bool qneg = nneg != dneg;
    /* positive quotients up to 2^(bits-1)-1, negative down to -2^(bits-1) */
    u128 limit = (u128)1 << (bits - 1);
    if (qneg ? qmag > limit : qmag >= limit)
        cpu_raise(cpu, EXC_DE, 0);
    uint64_t q = (uint64_t)qmag, r = (uint64_t)rmag;
    if (qneg)
        q = 0 - q;
    if (nneg)
        r = 0 - r;
    store_divres(cpu, in, size, q, r);
}

#define M OPF_MODRM
#define B OPF_BYTE
static const struct op_def muldiv_ops[] = {
    {OP1 | 0xf6, 4, -1, PFX_ANY, M | B, op_mul, "mul"},
    {OP1 | 0xf7, 4, -1, PFX_ANY, M, op_mul, "mul"},
    {OP1 | 0xf6, 5, -1, PFX_ANY, M | B, op_imul1, "imul"},
    {OP1 | 0xf7, 5, -1, PFX_ANY, M, op_imul1, "imul"},
    {OP1 | 0xf6, 6, -1, PFX_ANY, M | B, op_div, "div"},
    {OP1 | 0xf7, 6, -1, PFX_ANY, M, op_div, "div"},
    {OP1 | 0xf6, 7, -1, PFX_ANY, M | B, op_idiv, "idiv"},
    {OP1 | 0xf7, 7, -1, PFX_ANY, M, op_idiv, "idiv"},
    {OP0F | 0xaf, -1, -1, PFX_ANY, M, op_imul2, "imul"},
    {OP1 | 0x69, -1, -1, PFX_ANY, M | OPF_IMMZ, op_imul3, "imul"},
    {OP1 | 0x6b, -1, -1, PFX_ANY, M | OPF_IMM8, op_imul3, "imul"},
    OPS_END};
OPS_REGISTER(muldiv_ops);
