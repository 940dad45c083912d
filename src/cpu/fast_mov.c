/* Specialised data movement (fast_ops.h): MOV in its register, memory and
 * immediate forms (byte, word and 32/64-bit operands), MOVZX MOVSX MOVSXD,
 * LEA, CMOVcc and SETcc, and the multi-byte NOP. Semantics as the generic
 * handlers in datamov.c. */
#include "cpu/fast_ops.h"

/* 88/89 MOV r/m, reg */
FAST_INLINE bool store_do(struct cpu *cpu, const struct insn *in, int unused, unsigned size, unsigned mem)
{
    (void)unused;
    return fast_rm_put(cpu, in, size, mem, greg_read(cpu, in, in->reg, size));
}

/* 8A/8B MOV reg, r/m (ssize 0: the operand size); MOVZX/MOVSX read a byte or
 * a word (ssize) and extend it. */
FAST_INLINE bool load_do(struct cpu *cpu, const struct insn *in, unsigned ssize, bool sign, unsigned size,
                         unsigned mem)
{
    uint64_t v;
    if (!fast_rm_get(cpu, in, ssize ? ssize : size, mem, &v))
        return false;
    if (sign)
        v = (uint64_t)sext(v, ssize);
    greg_write(cpu, in, in->reg, size, v);
    return true;
}

/* C6/C7 /0 MOV r/m, imm; B0-BF MOV reg, imm (rm names the register) */
FAST_INLINE bool imm_do(struct cpu *cpu, const struct insn *in, int unused, unsigned size, unsigned mem)
{
    (void)unused;
    return fast_rm_put(cpu, in, size, mem, in->imm);
}

/* 8D LEA: the offset truncated to the operand size */
FAST_INLINE bool lea_do(struct cpu *cpu, const struct insn *in, int unused, unsigned size, unsigned mem)
{
    (void)unused;
    greg_write(cpu, in, in->reg, size, fast_ea(cpu, in, mem));
    return true;
}

/* 0F 40-4F CMOVcc: the source is always read; the destination is written
 * (zero-extended) even when the condition is false. */
FAST_INLINE bool cmov_do(struct cpu *cpu, const struct insn *in, unsigned cc, unsigned size, unsigned mem)
{
    uint64_t v;
    bool take;
    if (!fast_rm_get(cpu, in, size, mem, &v) || !fast_cond(cpu, cc, mem, &take))
        return false;
    if (!take)
        v = greg_read(cpu, in, in->reg, size);
    greg_write(cpu, in, in->reg, size, v);
    return true;
}

/* 0F 90-9F SETcc r/m8 */
FAST_INLINE bool setcc_do(struct cpu *cpu, const struct insn *in, unsigned cc, unsigned size, unsigned mem)
{
    bool take;
    return fast_cond(cpu, cc, mem, &take) && fast_rm_put(cpu, in, size, mem, take ? 1 : 0);
}

FAST_RM_PAIR(st, 1, store_do, 0) FAST_RM_PAIR(st, 2, store_do, 0) FAST_RM_PAIRS48(st, store_do, 0)
FAST_RM_PAIR(ld, 1, load_do, 0, false) FAST_RM_PAIR(ld, 2, load_do, 0, false) FAST_RM_PAIRS48(ld, load_do, 0, false)
/* 63 MOVSXD with REX.W (64-bit mode only) */
FAST_RM_PAIR(sxd, 8, load_do, 4, true)
FAST_RM_PAIRS48(zx8_, load_do, 1, false)
FAST_RM_PAIRS48(zx16_, load_do, 2, false)
FAST_RM_PAIRS48(sx8_, load_do, 1, true)
FAST_RM_PAIRS48(sx16_, load_do, 2, true)
FAST_RM_PAIR(imm, 1, imm_do, 0) FAST_RM_PAIR(imm, 2, imm_do, 0) FAST_RM_PAIRS48(imm, imm_do, 0)
FAST_RM_PAIRS48(lea, lea_do, 0)
#define CC_FNS(cc, unused) FAST_RM_PAIRS48(cmov##cc##_, cmov_do, cc) FAST_RM_PAIR(set##cc##_, 1, setcc_do, cc)
FAST_EACH_CC(CC_FNS, 0)

/* 0F 1F NOP r/m (any ModRM.reg, size and form): no memory access, as op_nop */
FAST_HANDLER(nop_rm)
{
    return fast_next(cpu, in + 1);
}

/* B0+r / B8+r: the register form of the C6/C7 handlers */
#define MOV_IMM_ROWS(r)                                                                     \
    {OP1 | (0xb0 + (r)), -1, 1, FAST_ANY, 0, imm1_r},                                       \
    {OP1 | (0xb8 + (r)), -1, 4, FAST_ANY, 0, imm4_r},                                       \
    {OP1 | (0xb8 + (r)), -1, 8, FAST_ANY, 0, imm8_r}
#define CC_ROWS(cc, unused)                                                                 \
    FAST_RM_ROWS48(OP0F | (0x40 + (cc)), -1, cmov##cc##_), FAST_RM_ROWS(OP0F | (0x90 + (cc)), -1, set##cc##_, 1),

static const struct op_fast fast_mov_ops[] = {
    FAST_RM_ROWS(OP1 | 0x88, -1, st, 1), FAST_RM_ROWS(OP1 | 0x89, -1, st, 2), FAST_RM_ROWS48(OP1 | 0x89, -1, st),
    FAST_RM_ROWS(OP1 | 0x8a, -1, ld, 1), FAST_RM_ROWS(OP1 | 0x8b, -1, ld, 2), FAST_RM_ROWS48(OP1 | 0x8b, -1, ld),
    FAST_RM_ROWS(OP1 | 0x63, -1, sxd, 8),
    {OP0F | 0x1f, -1, 0, FAST_ANY, 0, nop_rm},
    FAST_RM_ROWS48(OP0F | 0xb6, -1, zx8_), FAST_RM_ROWS48(OP0F | 0xb7, -1, zx16_),
    FAST_RM_ROWS48(OP0F | 0xbe, -1, sx8_), FAST_RM_ROWS48(OP0F | 0xbf, -1, sx16_),
    FAST_RM_ROWS(OP1 | 0xc6, 0, imm, 1), FAST_RM_ROWS(OP1 | 0xc7, 0, imm, 2), FAST_RM_ROWS48(OP1 | 0xc7, 0, imm),
    MOV_IMM_ROWS(0), MOV_IMM_ROWS(1), MOV_IMM_ROWS(2), MOV_IMM_ROWS(3),
    MOV_IMM_ROWS(4), MOV_IMM_ROWS(5), MOV_IMM_ROWS(6), MOV_IMM_ROWS(7),
    /* (LEA's register form is #UD before a handler is chosen) */
    FAST_RM_ROWS48(OP1 | 0x8d, -1, lea),
    FAST_EACH_CC(CC_ROWS, 0)
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_mov_ops);
