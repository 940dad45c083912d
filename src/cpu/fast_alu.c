/* Specialised ALU handlers (fast_ops.h): ADD OR ADC SBB AND SUB XOR CMP in
 * their r/m,reg / reg,r/m / r/m,imm / AL-eAX,imm encodings, TEST, INC DEC
 * NOT NEG r/m, for byte operands and 32/64-bit operands. Semantics and lazy
 * flags as the generic handlers in alu.c. */
#include "cpu/fast_ops.h"

/* ModRM.reg of group 1 and the opcode row of 00-3F (SDM Vol. 2 A.3). */
enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST };
/* Operand shapes: which operand is the destination, where the source is. */
enum { S_RM_R, S_R_RM, S_RM_I, S_A_I };

/* dst OP src at size: the result, with the lazy flags of the operation. */
FAST_INLINE uint64_t alu_calc(struct cpu *cpu, unsigned op, unsigned size, uint64_t dst, uint64_t src, bool cin)
{
    uint64_t m = size_mask(size), res;
    uint32_t lf = LF_LOGIC;
    dst &= m;
    src &= m;
    switch (op) {
    case A_ADD: res = dst + src; lf = LF_ADD; break;
    case A_ADC: res = dst + src + (cin ? 1 : 0); lf = LF_ADC; break;
    case A_SBB: res = dst - src - (cin ? 1 : 0); lf = LF_SBB; break;
    case A_SUB: case A_CMP: res = dst - src; lf = LF_SUB; break;
    case A_OR: res = dst | src; break;
    case A_XOR: res = dst ^ src; break;
    default: res = dst & src; break;   /* AND, TEST */
    }
    res &= m;
    lf_set(cpu, lf, size, dst, src, res);
    return res;
}

FAST_INLINE bool alu_do(struct cpu *cpu, const struct insn *in, unsigned op, unsigned shape, unsigned size,
                        unsigned mem)
{
    bool store = op != A_CMP && op != A_TEST, cin = false;
    uint64_t src = in->imm, v;
    if ((op == A_ADC || op == A_SBB) && !fast_cf(cpu, mem, &cin))
        return false;
    if (shape == S_RM_R)
        src = greg_read(cpu, in, in->reg, size);
    else if (shape == S_R_RM && !fast_rm_get(cpu, in, size, mem, &src))
        return false;
    if (FAST_IS_MEM(mem) && shape != S_R_RM) {
        if (!store) {
            if (!fast_rm_get(cpu, in, size, mem, &v))
                return false;
            alu_calc(cpu, op, size, v, src, cin);
            return true;
        }
        struct fast_rmw r = { 0, NULL };
        if (!fast_rmw_get(cpu, in, size, mem, &r, &v))
            return false;
        fast_rmw_put(cpu, &r, size, mem, alu_calc(cpu, op, size, v, src, cin));
        return true;
    }
    unsigned d = shape == S_R_RM ? in->reg : shape == S_A_I ? R_AX : in->rm;
    uint64_t res = alu_calc(cpu, op, size, greg_read(cpu, in, d, size), src, cin);
    if (store)
        greg_write(cpu, in, d, size, res);
    return true;
}

/* Handlers of one operation in each shape, at sizes 1, 4 and 8 (TEST has
 * no reg,r/m shape). */
#define ALU_FNS_NO_RRM(name, OP)                                                            \
    FAST_RM_PAIR(name##_rmr, 1, alu_do, OP, S_RM_R) FAST_RM_PAIRS48(name##_rmr, alu_do, OP, S_RM_R) \
    FAST_RM_PAIR(name##_rmi, 1, alu_do, OP, S_RM_I) FAST_RM_PAIRS48(name##_rmi, alu_do, OP, S_RM_I) \
    FAST_PLAIN(name##_ai, 1, alu_do, OP, S_A_I) FAST_PLAIN48(name##_ai, alu_do, OP, S_A_I)
#define ALU_FNS(name, OP)                                                                   \
    ALU_FNS_NO_RRM(name, OP)                                                                \
    FAST_RM_PAIR(name##_rrm, 1, alu_do, OP, S_R_RM) FAST_RM_PAIRS48(name##_rrm, alu_do, OP, S_R_RM)
ALU_FNS(add, A_ADD)
ALU_FNS(or, A_OR)
ALU_FNS(adc, A_ADC)
ALU_FNS(sbb, A_SBB)
ALU_FNS(and, A_AND)
ALU_FNS(sub, A_SUB)
ALU_FNS(xor, A_XOR)
ALU_FNS(cmp, A_CMP)
ALU_FNS_NO_RRM(test, A_TEST)

/* A CMP or TEST and the Jcc of the next record as one record (exec.c
 * fuses them): the comparison sets the lazy flags as alone, the condition
 * is read off them at once (folded for the pairs lf_cond_quick knows), and
 * the branch is the Jcc record's, whose own step stays for jumps to it. A
 * quick memory form that declines goes on in the flagger's slow handler,
 * which runs the Jcc record next as unfused. Faults: the comparison's own
 * (at its record), the Jcc's #GP on a non-canonical target (at the Jcc). */
FAST_INLINE const struct insn *cmp_jcc(struct cpu *cpu, const struct insn *in, insn_step slow, unsigned op,
                                       unsigned shape, unsigned size, unsigned mem, unsigned cc)
{
    if (!alu_do(cpu, in, op, shape, size, mem))
        return slow(cpu, in);
    bool take;
    fast_cond(cpu, cc, FAST_R, &take);
    const struct insn *j = in + 1;
    if (!take)
        return fast_next(cpu, in + 2);
    return fast_taken64(cpu, j, fast_rip64(cpu, j) + j->len + j->imm);
}
/* The conditions fused: all but O, NO, P, NP (cc 0, 1, 10, 11), which
 * compilers seldom test after a comparison. */
#define CMP_JCC_CC(cc, name, slow, op, shape, size, mem)                                    \
    FAST_HANDLER(name##_j##cc) { return cmp_jcc(cpu, in, slow, op, shape, size, mem, cc); }
#define CMP_JCC_EACH_CC(M, ...)                                                             \
    M(2, __VA_ARGS__) M(3, __VA_ARGS__) M(4, __VA_ARGS__) M(5, __VA_ARGS__)                 \
    M(6, __VA_ARGS__) M(7, __VA_ARGS__) M(8, __VA_ARGS__) M(9, __VA_ARGS__)                 \
    M(12, __VA_ARGS__) M(13, __VA_ARGS__) M(14, __VA_ARGS__) M(15, __VA_ARGS__)
#define CMP_JCC_STEPS(name)                                                                 \
    {NULL, NULL, name##_j2, name##_j3, name##_j4, name##_j5, name##_j6, name##_j7,            \
     name##_j8, name##_j9, NULL, NULL, name##_j12, name##_j13, name##_j14, name##_j15}
/* For the quick handler h (slow form: slow): its fused steps by cc. */
#define CMP_JCC(h, slow, op, shape, size, mem)                                              \
    CMP_JCC_EACH_CC(CMP_JCC_CC, h, slow, op, shape, size, mem)                              \
    static const insn_step h##_j[16] = CMP_JCC_STEPS(h);
/* stem<size>_r (register), stem<size>_b (base + displacement) and
 * stem<size>_q (RIP-relative, absolute, FS/GS: globals, per-CPU data) */
#define CMP_JCC_FORMS(stem, op, shape, size)                                                   \
    CMP_JCC(stem##size##_r, stem##size##_rs, op, shape, size, FAST_RQ)                      \
    CMP_JCC(stem##size##_b, stem##size##_m, op, shape, size, FAST_M64B)                     \
    CMP_JCC(stem##size##_q, stem##size##_m, op, shape, size, FAST_M64)
#define CMP_JCC_FORMS148(stem, op, shape)                                                      \
    CMP_JCC_FORMS(stem, op, shape, 1) CMP_JCC_FORMS(stem, op, shape, 4) CMP_JCC_FORMS(stem, op, shape, 8)
CMP_JCC_FORMS148(cmp_rmr, A_CMP, S_RM_R)
CMP_JCC_FORMS148(cmp_rrm, A_CMP, S_R_RM)
CMP_JCC_FORMS148(cmp_rmi, A_CMP, S_RM_I)
CMP_JCC_FORMS148(test_rmr, A_TEST, S_RM_R)
CMP_JCC_FORMS148(test_rmi, A_TEST, S_RM_I)

#define FUSABLE_FORMS(stem, size)                                                              \
    {stem##size##_r, stem##size##_r_j}, {stem##size##_b, stem##size##_b_j},                 \
    {stem##size##_q, stem##size##_q_j}
#define FUSABLE_FORMS148(stem) FUSABLE_FORMS(stem, 1), FUSABLE_FORMS(stem, 4), FUSABLE_FORMS(stem, 8)
static const struct {
    insn_step flagger;
    const insn_step *fused;
} fusable[] = {
    FUSABLE_FORMS148(cmp_rmr), FUSABLE_FORMS148(cmp_rrm), FUSABLE_FORMS148(cmp_rmi),
    FUSABLE_FORMS148(test_rmr), FUSABLE_FORMS148(test_rmi),
};

insn_step fast_fused_jcc(insn_step flagger, unsigned cc)
{
    for (size_t i = 0; i < sizeof fusable / sizeof fusable[0]; i++)
        if (fusable[i].flagger == flagger)
            return fusable[i].fused[cc & 15];
    return NULL;
}

/* INC/DEC r/m keep CF: it rides along in lf.src (lf_inc_dec). */
FAST_INLINE bool incdec_do(struct cpu *cpu, const struct insn *in, bool inc, unsigned size, unsigned mem)
{
    bool cf;
    if (!fast_cf(cpu, mem, &cf))
        return false;
    uint64_t m = size_mask(size), v;
    struct fast_rmw r = { 0, NULL };
    if (!FAST_IS_MEM(mem))
        v = greg_read(cpu, in, in->rm, size);
    else if (!fast_rmw_get(cpu, in, size, mem, &r, &v))
        return false;
    v &= m;
    uint64_t res = (inc ? v + 1 : v - 1) & m;
    lf_set(cpu, inc ? LF_INC : LF_DEC, size, v, cf, res);
    if (FAST_IS_MEM(mem))
        fast_rmw_put(cpu, &r, size, mem, res);
    else
        greg_write(cpu, in, in->rm, size, res);
    return true;
}
FAST_RM_PAIR(inc, 1, incdec_do, true) FAST_RM_PAIRS48(inc, incdec_do, true)
FAST_RM_PAIR(dec, 1, incdec_do, false) FAST_RM_PAIRS48(dec, incdec_do, false)

/* F6/F7 /2 NOT (no flags), /3 NEG (the flags of 0 - dst, as op_neg) */
FAST_INLINE bool notneg_do(struct cpu *cpu, const struct insn *in, bool neg, unsigned size, unsigned mem)
{
    uint64_t m = size_mask(size), v;
    struct fast_rmw r = { 0, NULL };
    if (!FAST_IS_MEM(mem))
        v = greg_read(cpu, in, in->rm, size);
    else if (!fast_rmw_get(cpu, in, size, mem, &r, &v))
        return false;
    v &= m;
    uint64_t res = (neg ? 0 - v : ~v) & m;
    if (neg)
        lf_set(cpu, LF_SUB, size, 0, v, res);
    if (FAST_IS_MEM(mem))
        fast_rmw_put(cpu, &r, size, mem, res);
    else
        greg_write(cpu, in, in->rm, size, res);
    return true;
}
FAST_RM_PAIR(not, 1, notneg_do, false) FAST_RM_PAIRS48(not, notneg_do, false)
FAST_RM_PAIR(neg, 1, notneg_do, true) FAST_RM_PAIRS48(neg, notneg_do, true)

/* 00+8n..05+8n and group 1 (80 81 82 83 /n) rows of one operation. */
#define ALU_ROWS(base, n, name)                                                             \
    FAST_RM_ROWS(OP1 | ((base) + 0), -1, name##_rmr, 1), FAST_RM_ROWS48(OP1 | ((base) + 1), -1, name##_rmr), \
    FAST_RM_ROWS(OP1 | ((base) + 2), -1, name##_rrm, 1), FAST_RM_ROWS48(OP1 | ((base) + 3), -1, name##_rrm), \
    FAST_PLAIN_ROW(OP1 | ((base) + 4), name##_ai, 1), FAST_PLAIN_ROWS48(OP1 | ((base) + 5), name##_ai), \
    FAST_RM_ROWS(OP1 | 0x80, n, name##_rmi, 1), FAST_RM_ROWS(OP1 | 0x82, n, name##_rmi, 1),                \
    FAST_RM_ROWS48(OP1 | 0x81, n, name##_rmi), FAST_RM_ROWS48(OP1 | 0x83, n, name##_rmi)

static const struct op_fast fast_alu_ops[] = {
    ALU_ROWS(0x00, 0, add), ALU_ROWS(0x08, 1, or), ALU_ROWS(0x10, 2, adc), ALU_ROWS(0x18, 3, sbb),
    ALU_ROWS(0x20, 4, and), ALU_ROWS(0x28, 5, sub), ALU_ROWS(0x30, 6, xor), ALU_ROWS(0x38, 7, cmp),
    /* TEST: 84/85 r/m,reg; A8/A9 AL/eAX,imm; F6/F7 /0 and /1 r/m,imm */
    FAST_RM_ROWS(OP1 | 0x84, -1, test_rmr, 1), FAST_RM_ROWS48(OP1 | 0x85, -1, test_rmr),
    FAST_PLAIN_ROW(OP1 | 0xa8, test_ai, 1), FAST_PLAIN_ROWS48(OP1 | 0xa9, test_ai),
    FAST_RM_ROWS(OP1 | 0xf6, 0, test_rmi, 1), FAST_RM_ROWS48(OP1 | 0xf7, 0, test_rmi),
    FAST_RM_ROWS(OP1 | 0xf6, 1, test_rmi, 1), FAST_RM_ROWS48(OP1 | 0xf7, 1, test_rmi),
    /* FE/FF /0 INC, /1 DEC */
    FAST_RM_ROWS(OP1 | 0xfe, 0, inc, 1), FAST_RM_ROWS48(OP1 | 0xff, 0, inc),
    FAST_RM_ROWS(OP1 | 0xfe, 1, dec, 1), FAST_RM_ROWS48(OP1 | 0xff, 1, dec),
    /* F6/F7 /2 NOT, /3 NEG */
    FAST_RM_ROWS(OP1 | 0xf6, 2, not, 1), FAST_RM_ROWS48(OP1 | 0xf7, 2, not),
    FAST_RM_ROWS(OP1 | 0xf6, 3, neg, 1), FAST_RM_ROWS48(OP1 | 0xf7, 3, neg),
    OPS_FAST_END};
OPS_FAST_REGISTER(fast_alu_ops);
