/* Shifts and rotates: group 2 (C0 C1 D0-D3: ROL ROR RCL RCR SHL SHR SAL SAR)
 * and SHLD/SHRD (Intel SDM Vol. 2 "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR",
 * "SHLD", "SHRD"). SHL/SHR/SAR use lazy flags; the others are eager. */
#include "cpu/cpu_int.h"

/* The count is masked to 5 bits, 6 with 64-bit operands (SDM SAL/SAR/SHL/SHR). */
#define COUNT_MASK32 0x1f
#define COUNT_MASK64 0x3f

enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static unsigned count_mask(unsigned size) { return size == 8 ? COUNT_MASK64 : COUNT_MASK32; }

static uint32_t szp_flags(uint64_t res, unsigned size)
{
    uint32_t f = 0;
    res &= size_mask(size);
    if (res == 0)
        f |= FL_ZF;
    if (res & sign_bit(size))
        f |= FL_SF;
    if (!__builtin_parity((unsigned)(res & 0xff)))
        f |= FL_PF;
    return f;
}

static inline unsigned msb(uint64_t v, unsigned size) { return (v & sign_bit(size)) ? 1 : 0; }

/* Shift/rotate dst by the masked count; returns the result, sets flags.
 * cnt == 0 is handled by the caller. OF is defined for 1-bit rotates only;
 * for longer ones Intel processors report it as for a 1-bit rotate of the
 * original operand, which these formulas give for every count, except
 * that ROL/ROR of a register by an immediate count other than 1 leave OF
 * unchanged (observed on Intel hosts; the memory forms compute it). */
static uint64_t shift_op(struct cpu *cpu, unsigned kind, unsigned size, uint64_t dst, unsigned cnt, bool imm)
{
    unsigned bits = size * 8, r, cf, of;
    uint64_t m = size_mask(size), res;
    dst &= m;
    unsigned top2 = msb(dst, size) ^ (unsigned)((dst >> (bits - 2)) & 1);
    switch (kind) {
    case SH_ROL:
        r = cnt % bits;
        res = r ? ((dst << r) | (dst >> (bits - r))) & m : dst;
        cf = res & 1;
        of = top2;
        flags_write(cpu, imm && cnt != 1 ? FL_CF : FL_CF | FL_OF, (cf ? FL_CF : 0) | (of ? FL_OF : 0));
        return res;
    case SH_ROR:
        r = cnt % bits;
        res = r ? ((dst >> r) | (dst << (bits - r))) & m : dst;
        cf = msb(res, size);
        of = msb(dst, size) ^ (unsigned)(dst & 1);
        flags_write(cpu, imm && cnt != 1 ? FL_CF : FL_CF | FL_OF, (cf ? FL_CF : 0) | (of ? FL_OF : 0));
        return res;
    case SH_RCL:
    case SH_RCR: {
        /* rotation through CF: the 8/16-bit counts are taken mod 9/17; a
         * rotation by 0 after that changes no flag */
        r = size == 1 ? cnt % 9 : size == 2 ? cnt % 17 : cnt;
        if (r == 0)
            return dst;
        uint64_t cin = flag_cf(cpu) ? 1 : 0;
        if (kind == SH_RCL) {
            res = ((dst << r) | (cin << (r - 1)) | (r > 1 ? dst >> (bits + 1 - r) : 0)) & m;
            cf = (dst >> (bits - r)) & 1;
            of = top2;
        } else {
            res = ((dst >> r) | (cin << (bits - r)) | (r > 1 ? dst << (bits + 1 - r) : 0)) & m;
            cf = (dst >> (r - 1)) & 1;
            of = msb(dst, size) ^ (unsigned)cin;
        }
        flags_write(cpu, FL_CF | FL_OF, (cf ? FL_CF : 0) | (of ? FL_OF : 0));
        return res;
    }
    case SH_SHL:
    case SH_SAL:
        res = (dst << cnt) & m;
        lf_set(cpu, LF_SHL, size, dst, cnt, res);
        return res;
    case SH_SHR:
        res = dst >> cnt;
        lf_set(cpu, LF_SHR, size, dst, cnt, res);
        return res;
    default: /* SAR */
        res = (uint64_t)(sext(dst, size) >> cnt) & m;
        lf_set(cpu, LF_SAR, size, dst, cnt, res);
        return res;
    }
}

static void shift_rm(struct cpu *cpu, const struct insn *in, unsigned count, bool imm)
{
    unsigned size = in->opsize, kind = in->reg & 7;
    unsigned cnt = count & count_mask(size);
    if (in->mod == 3) {
        uint64_t v = greg_read(cpu, in, in->rm, size);
        /* a zero count changes no flag but still writes (zero-extends) the register */
        greg_write(cpu, in, in->rm, size, cnt ? shift_op(cpu, kind, size, v, cnt, imm) : v);
        return;
    }
    /* the operand is written even for a zero count: a read-only segment or
     * page faults as on Intel processors */
    uint64_t lin = seg_lin(cpu, in->seg, insn_ea(cpu, in), size, ACC_W);
    uint64_t v = lin_read(cpu, lin, size, ACC_R);
    lin_write(cpu, lin, size, cnt ? shift_op(cpu, kind, size, v, cnt, false) : v, ACC_W);
}

static void op_shift_imm(struct cpu *cpu, const struct insn *in) { shift_rm(cpu, in, (unsigned)in->imm & 0xff, true); }
static void op_shift_1(struct cpu *cpu, const struct insn *in) { shift_rm(cpu, in, 1, false); }
static void op_shift_cl(struct cpu *cpu, const struct insn *in)
{
    shift_rm(cpu, in, (unsigned)cpu->s.regs[R_CX] & 0xff, false);
}

/* SHLD/SHRD dst, src, cnt (cnt masked, nonzero). A 16-bit count above 16
 * has an undefined result; Intel processors shift the chain dst:src:dst,
 * which is what this computes. */
static uint64_t shxd(struct cpu *cpu, bool left, unsigned size, uint64_t dst, uint64_t src, unsigned cnt)
{
    unsigned bits = size * 8, cf;
    uint64_t m = size_mask(size), res;
    dst &= m;
    src &= m;
    if (size == 2) {
        uint64_t chain = (dst << 32) | (src << 16) | dst;
        if (left) {
            res = (chain >> (32 - cnt)) & m;
            cf = (chain >> (48 - cnt)) & 1;
        } else {
            res = (chain >> cnt) & m;
            cf = (chain >> (cnt - 1)) & 1;
        }
    } else if (left) {
        res = ((dst << cnt) | (src >> (bits - cnt))) & m;
        cf = (dst >> (bits - cnt)) & 1;
    } else {
        res = ((dst >> cnt) | (src << (bits - cnt))) & m;
        cf = (dst >> (cnt - 1)) & 1;
    }
    uint32_t f = szp_flags(res, size) | (cf ? FL_CF : 0);
    /* OF: sign change of a 1-bit shift (defined for count 1; Intel
     * processors report the same for longer counts) */
    unsigned first_in = left ? (unsigned)(dst >> (bits - 2)) & 1 : (unsigned)(src & 1);
    if (msb(dst, size) ^ first_in)
        f |= FL_OF;
    flags_write(cpu, FL_ARITH, f);
    return res;
}

static void shxd_rm(struct cpu *cpu, const struct insn *in, unsigned count)
{
    unsigned size = in->opsize;
    bool left = (in->op & 0xff) < 0xa8;
    unsigned cnt = count & count_mask(size);
    uint64_t src = greg_read(cpu, in, in->reg, size);
    if (in->mod == 3) {
        uint64_t v = greg_read(cpu, in, in->rm, size);
        greg_write(cpu, in, in->rm, size, cnt ? shxd(cpu, left, size, v, src, cnt) : v);
        return;
    }
    uint64_t lin = seg_lin(cpu, in->seg, insn_ea(cpu, in), size, ACC_W);
    uint64_t v = lin_read(cpu, lin, size, ACC_R);
    lin_write(cpu, lin, size, cnt ? shxd(cpu, left, size, v, src, cnt) : v, ACC_W);
}

static void op_shxd_imm(struct cpu *cpu, const struct insn *in) { shxd_rm(cpu, in, (unsigned)in->imm & 0xff); }
static void op_shxd_cl(struct cpu *cpu, const struct insn *in)
{
    shxd_rm(cpu, in, (unsigned)cpu->s.regs[R_CX] & 0xff);
}

#define M OPF_MODRM
#define B OPF_BYTE
#define GRP2_ROWS(n, name)                                                          \
    {OP1 | 0xc0, n, -1, PFX_ANY, M | B | OPF_IMM8U, op_shift_imm, name},           \
    {OP1 | 0xc1, n, -1, PFX_ANY, M | OPF_IMM8U, op_shift_imm, name},               \
    {OP1 | 0xd0, n, -1, PFX_ANY, M | B, op_shift_1, name},                         \
    {OP1 | 0xd1, n, -1, PFX_ANY, M, op_shift_1, name},                             \
    {OP1 | 0xd2, n, -1, PFX_ANY, M | B, op_shift_cl, name},                        \
    {OP1 | 0xd3, n, -1, PFX_ANY, M, op_shift_cl, name}

static const struct op_def shift_ops[] = {
    GRP2_ROWS(0, "rol"), GRP2_ROWS(1, "ror"), GRP2_ROWS(2, "rcl"), GRP2_ROWS(3, "rcr"),
    GRP2_ROWS(4, "shl"), GRP2_ROWS(5, "shr"), GRP2_ROWS(6, "sal"), GRP2_ROWS(7, "sar"),
    {OP0F | 0xa4, -1, -1, PFX_ANY, M | OPF_IMM8U, op_shxd_imm, "shld"},
    {OP0F | 0xa5, -1, -1, PFX_ANY, M, op_shxd_cl, "shld"},
    {OP0F | 0xac, -1, -1, PFX_ANY, M | OPF_IMM8U, op_shxd_imm, "shrd"},
    {OP0F | 0xad, -1, -1, PFX_ANY, M, op_shxd_cl, "shrd"},
    OPS_END};
OPS_REGISTER(shift_ops);
