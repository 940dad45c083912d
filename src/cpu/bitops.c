/* Bit operations: BT BTS BTR BTC (register offset and immediate forms), BSF
 * BSR, TZCNT LZCNT POPCNT, BSWAP (Intel SDM Vol. 2 instruction pages). */
#include "cpu/cpu_int.h"

enum { BIT_TEST, BIT_SET, BIT_RESET, BIT_COMPLEMENT };

static uint64_t bit_apply(unsigned kind, uint64_t v, uint64_t mask)
{
    switch (kind) {
    case BIT_SET: return v | mask;
    case BIT_RESET: return v & ~mask;
    case BIT_COMPLEMENT: return v ^ mask;
    default: return v;
    }
}

static unsigned log2_bits(unsigned size) { return size == 2 ? 4 : size == 4 ? 5 : 6; }

/* CF = the selected bit; the other arithmetic flags are undefined and kept. */
static void bit_rm(struct cpu *cpu, const struct insn *in, unsigned kind, uint64_t off, bool reg_offset)
{
    unsigned size = in->opsize, bits = size * 8;
    uint64_t mask = 1ull << (off & (bits - 1));
    uint64_t v, ea;
    if (in->mod == 3) {
        v = greg_read(cpu, in, in->rm, size);
        flags_write(cpu, FL_CF, (v & mask) ? FL_CF : 0);
        if (kind != BIT_TEST)
            greg_write(cpu, in, in->rm, size, bit_apply(kind, v, mask));
        return;
    }
    ea = insn_ea(cpu, in);
    if (reg_offset) {
        /* a register offset is signed and may select any bit around the
         * operand: the address moves by whole operands (SDM BT, "bit base") */
        int64_t words = sext(off, size) >> log2_bits(size);
        ea = (ea + (uint64_t)words * size) & size_mask(in->addrsize);
    }
    if (in->lock && kind != BIT_TEST) {
        /* LOCK BTS/BTR/BTC: one host atomic; CF from the old value. */
        static const uint8_t lk[4] = { LK_OR, LK_OR, LK_AND, LK_XOR };
        uint64_t lin = seg_lin(cpu, in->seg, ea, size, ACC_W);
        v = locked_rmw(cpu, lin, size, lk[kind], kind == BIT_RESET ? ~mask : mask);
        flags_write(cpu, FL_CF, (v & mask) ? FL_CF : 0);
        return;
    }
    v = mem_read(cpu, in->seg, ea, size);
    if (kind != BIT_TEST)
        mem_write(cpu, in->seg, ea, size, bit_apply(kind, v, mask));
    flags_write(cpu, FL_CF, (v & mask) ? FL_CF : 0);
}

/* 0F A3/AB/B3/BB: BT/BTS/BTR/BTC r/m, reg */
static void op_bt_r(struct cpu *cpu, const struct insn *in)
{
    unsigned kind = ((in->op & 0xff) >> 3) & 3;
    bit_rm(cpu, in, kind, greg_read(cpu, in, in->reg, in->opsize), true);
}

/* 0F BA /4../7: BT/BTS/BTR/BTC r/m, imm8 */
static void op_bt_imm(struct cpu *cpu, const struct insn *in)
{
    bit_rm(cpu, in, (in->reg & 7) - 4, in->imm & 0xff, false);
}

/* BSF/BSR: ZF = (source == 0), when the destination is left unchanged
 * (all 64 bits, also for 32-bit operands). CF OF SF AF PF are undefined;
 * Intel processors clear them except PF, the parity of the index. */
static void bit_scan(struct cpu *cpu, const struct insn *in, bool reverse)
{
    unsigned size = in->opsize;
    uint64_t v = rm_read(cpu, in, size) & size_mask(size);
    unsigned idx = 0;
    if (v) {
        idx = reverse ? 63u - (unsigned)__builtin_clzll(v) : (unsigned)__builtin_ctzll(v);
        greg_write(cpu, in, in->reg, size, idx);
    }
    flags_write(cpu, FL_ARITH, (v ? 0 : FL_ZF) | (__builtin_parity(idx) ? 0 : FL_PF));
}

static void op_bsf(struct cpu *cpu, const struct insn *in) { bit_scan(cpu, in, false); }
static void op_bsr(struct cpu *cpu, const struct insn *in) { bit_scan(cpu, in, true); }

/* F3 0F BD LZCNT: CF = (source == 0), ZF = (result == 0) (SDM LZCNT); the
 * undefined OF SF AF PF are cleared, as Intel processors do. */
static void op_lzcnt(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize, bits = size * 8;
    uint64_t v = rm_read(cpu, in, size) & size_mask(size);
    unsigned n = v ? (unsigned)__builtin_clzll(v) - (64 - bits) : bits;
    flags_write(cpu, FL_ARITH, (v ? 0 : FL_CF) | (n ? 0 : FL_ZF));
    greg_write(cpu, in, in->reg, size, n);
}

/* F3 0F B8 POPCNT: ZF = (source == 0), OF SF AF CF PF cleared (SDM POPCNT) */
static void op_popcnt(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t v = rm_read(cpu, in, size) & size_mask(size);
    flags_write(cpu, FL_ARITH, v ? 0 : FL_ZF);
    greg_write(cpu, in, in->reg, size, (uint64_t)__builtin_popcountll(v));
}

/* 0F C8+r BSWAP: the 16-bit form is undefined; Intel processors clear the
 * low word, as done here. */
static void op_bswap(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t v = greg_read(cpu, in, in->reg, size);
    if (size == 8)
        v = __builtin_bswap64(v);
    else if (size == 4)
        v = __builtin_bswap32((uint32_t)v);
    else
        v = 0;
    greg_write(cpu, in, in->reg, size, v);
}

#define M OPF_MODRM
#define L OPF_LOCK
static const struct op_def bitops_ops[] = {
    {OP0F | 0xa3, -1, -1, PFX_ANY, M, op_bt_r, "bt"},
    {OP0F | 0xab, -1, -1, PFX_ANY, M | L, op_bt_r, "bts"},
    {OP0F | 0xb3, -1, -1, PFX_ANY, M | L, op_bt_r, "btr"},
    {OP0F | 0xbb, -1, -1, PFX_ANY, M | L, op_bt_r, "btc"},
    {OP0F | 0xba, 4, -1, PFX_ANY, M | OPF_IMM8U, op_bt_imm, "bt"},
    {OP0F | 0xba, 5, -1, PFX_ANY, M | OPF_IMM8U | L, op_bt_imm, "bts"},
    {OP0F | 0xba, 6, -1, PFX_ANY, M | OPF_IMM8U | L, op_bt_imm, "btr"},
    {OP0F | 0xba, 7, -1, PFX_ANY, M | OPF_IMM8U | L, op_bt_imm, "btc"},
    {OP0F | 0xbc, -1, -1, PFX_ANY, M, op_bsf, "bsf"},
    {OP0F | 0xbd, -1, -1, PFX_ANY, M, op_bsr, "bsr"},
    /* TZCNT runs as BSF: the CPU model does not advertise BMI1 */
    {OP0F | 0xbc, -1, -1, PFX_F3, M, op_bsf, "bsf"},
    {OP0F | 0xbd, -1, -1, PFX_F3, M, op_lzcnt, "lzcnt"},
    {OP0F | 0xb8, -1, -1, PFX_F3, M, op_popcnt, "popcnt"},
    {OP0F | 0xc8, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xc9, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xca, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xcb, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xcc, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xcd, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xce, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    {OP0F | 0xcf, -1, -1, PFX_ANY, 0, op_bswap, "bswap"},
    OPS_END};
OPS_REGISTER(bitops_ops);
