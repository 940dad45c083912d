/* Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP in all their
 * encodings, INC DEC NEG NOT TEST, ADCX ADOX (Intel SDM Vol. 2 instruction
 * pages of each). Flags are lazy (flags.c) except ADCX/ADOX. */
#include "cpu/cpu_int.h"

enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* The operation is a compile-time constant in every handler (one handler
 * per operation and form), so the switches below fold away. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Computes dst OP src at size, records the lazy flags and returns the result. */
ALWAYS_INLINE uint64_t alu_op(struct cpu *cpu, unsigned op, unsigned size, uint64_t dst, uint64_t src)
{
    uint64_t m = size_mask(size), res;
    dst &= m;
    src &= m;
    switch (op) {
    case ALU_ADD:
        res = (dst + src) & m;
        lf_set(cpu, LF_ADD, size, dst, src, res);
        break;
    case ALU_ADC:
        res = (dst + src + (flag_cf(cpu) ? 1 : 0)) & m;
        lf_set(cpu, LF_ADC, size, dst, src, res);
        break;
    case ALU_SBB:
        res = (dst - src - (flag_cf(cpu) ? 1 : 0)) & m;
        lf_set(cpu, LF_SBB, size, dst, src, res);
        break;
    case ALU_SUB:
    case ALU_CMP:
        res = (dst - src) & m;
        lf_set(cpu, LF_SUB, size, dst, src, res);
        break;
    case ALU_OR: res = dst | src; lf_set(cpu, LF_LOGIC, size, dst, src, res); break;
    case ALU_AND: res = dst & src; lf_set(cpu, LF_LOGIC, size, dst, src, res); break;
    default: res = dst ^ src; lf_set(cpu, LF_LOGIC, size, dst, src, res); break;
    }
    return res;
}

/* Linear address of a read-modify-write memory operand: one segment check
 * (a writable data segment is readable) for both accesses. */
ALWAYS_INLINE uint64_t rmw_lin(struct cpu *cpu, const struct insn *in, unsigned size)
{
    return seg_lin(cpu, in->seg, insn_ea(cpu, in), size, ACC_W);
}

/* LOCK r/m OP= src (m: memory): one host atomic whose old value gives the
 * flags. ADC/SBB add the carry in and SUB/SBB add the negation, which
 * leaves the same bits as the operation itself. */
static void alu_locked(struct cpu *cpu, const struct insn *in, unsigned op, uint64_t src)
{
    static const uint8_t lk[8] = { LK_ADD, LK_OR, LK_ADD, LK_ADD, LK_AND, LK_ADD, LK_XOR, LK_ADD };
    unsigned size = in->opsize;
    uint64_t cin = (op == ALU_ADC || op == ALU_SBB) && flag_cf(cpu) ? 1 : 0;
    uint64_t v = src + cin;
    if (op == ALU_SUB || op == ALU_SBB)
        v = 0 - v;
    uint64_t old = locked_rmw(cpu, rmw_lin(cpu, in, size), size, lk[op], v);
    alu_op(cpu, op, size, old, src);   /* CF is still the one added in */
}

/* r/m OP= src */
ALWAYS_INLINE void alu_rm(struct cpu *cpu, const struct insn *in, unsigned op, uint64_t src)
{
    unsigned size = in->opsize;
    if (in->mod == 3) {
        uint64_t res = alu_op(cpu, op, size, greg_read(cpu, in, in->rm, size), src);
        if (op != ALU_CMP)
            greg_write(cpu, in, in->rm, size, res);
        return;
    }
    if (op == ALU_CMP) {
        alu_op(cpu, op, size, mem_read(cpu, in->seg, insn_ea(cpu, in), size), src);
        return;
    }
    if (unlikely(in->lock)) {
        alu_locked(cpu, in, op, src);
        return;
    }
    uint64_t lin = rmw_lin(cpu, in, size);
    uint64_t res = alu_op(cpu, op, size, lin_read(cpu, lin, size, ACC_R), src);
    lin_write(cpu, lin, size, res, ACC_W);
}

/* reg OP= r/m */
ALWAYS_INLINE void alu_r_rm(struct cpu *cpu, const struct insn *in, unsigned op)
{
    unsigned size = in->opsize;
    uint64_t res = alu_op(cpu, op, size, greg_read(cpu, in, in->reg, size), rm_read(cpu, in, size));
    if (op != ALU_CMP)
        greg_write(cpu, in, in->reg, size, res);
}

/* AL/eAX OP= imm */
ALWAYS_INLINE void alu_a_imm(struct cpu *cpu, const struct insn *in, unsigned op)
{
    unsigned size = in->opsize;
    uint64_t res = alu_op(cpu, op, size, greg_read(cpu, in, R_AX, size), in->imm);
    if (op != ALU_CMP)
        greg_write(cpu, in, R_AX, size, res);
}

/* Handlers of one operation: 00-3F forms 0/1 (r/m, reg), 2/3 (reg, r/m),
 * 4/5 (AL/eAX, imm) and group 1 (80-83 /op: r/m, imm). */
#define ALU_HANDLERS(name, OP)                                                              static void op_##name##_rm_r(struct cpu *cpu, const struct insn *in)                    {                                                                                           alu_rm(cpu, in, OP, greg_read(cpu, in, in->reg, in->opsize));                       }                                                                                       static void op_##name##_r_rm(struct cpu *cpu, const struct insn *in) { alu_r_rm(cpu, in, OP); }     static void op_##name##_a_imm(struct cpu *cpu, const struct insn *in) { alu_a_imm(cpu, in, OP); }     static void op_##name##_rm_imm(struct cpu *cpu, const struct insn *in) { alu_rm(cpu, in, OP, in->imm); }
ALU_HANDLERS(add, ALU_ADD)
ALU_HANDLERS(or, ALU_OR)
ALU_HANDLERS(adc, ALU_ADC)
ALU_HANDLERS(sbb, ALU_SBB)
ALU_HANDLERS(and, ALU_AND)
ALU_HANDLERS(sub, ALU_SUB)
ALU_HANDLERS(xor, ALU_XOR)
ALU_HANDLERS(cmp, ALU_CMP)

/* INC/DEC keep CF (SDM INC, DEC). */
ALWAYS_INLINE uint64_t incdec(struct cpu *cpu, bool inc, unsigned size, uint64_t v)
{
    uint64_t m = size_mask(size);
    v &= m;
    uint64_t res = (inc ? v + 1 : v - 1) & m;
    lf_inc_dec(cpu, inc, size, v, res);
    return res;
}

/* 40-47 INC r, 48-4F DEC r (legacy modes: REX prefixes in 64-bit mode) */
ALWAYS_INLINE void incdec_r(struct cpu *cpu, const struct insn *in, bool inc)
{
    unsigned size = in->opsize;
    greg_write(cpu, in, in->reg, size, incdec(cpu, inc, size, greg_read(cpu, in, in->reg, size)));
}

static void op_inc_r(struct cpu *cpu, const struct insn *in) { incdec_r(cpu, in, true); }
static void op_dec_r(struct cpu *cpu, const struct insn *in) { incdec_r(cpu, in, false); }

/* FE/FF /0 INC, /1 DEC */
ALWAYS_INLINE void incdec_rm(struct cpu *cpu, const struct insn *in, bool inc)
{
    unsigned size = in->opsize;
    if (in->mod == 3) {
        greg_write(cpu, in, in->rm, size, incdec(cpu, inc, size, greg_read(cpu, in, in->rm, size)));
        return;
    }
    if (unlikely(in->lock)) {
        uint64_t old = locked_rmw(cpu, rmw_lin(cpu, in, size), size, LK_ADD, inc ? 1 : size_mask(size));
        incdec(cpu, inc, size, old);
        return;
    }
    uint64_t lin = rmw_lin(cpu, in, size);
    uint64_t res = incdec(cpu, inc, size, lin_read(cpu, lin, size, ACC_R));
    lin_write(cpu, lin, size, res, ACC_W);
}

static void op_inc_rm(struct cpu *cpu, const struct insn *in) { incdec_rm(cpu, in, true); }
static void op_dec_rm(struct cpu *cpu, const struct insn *in) { incdec_rm(cpu, in, false); }

/* F6/F7 /2 NOT: no flags */
static void op_not(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    if (in->mod == 3) {
        greg_write(cpu, in, in->rm, size, ~greg_read(cpu, in, in->rm, size));
        return;
    }
    if (in->lock) {
        locked_rmw(cpu, rmw_lin(cpu, in, size), size, LK_XOR, size_mask(size));
        return;
    }
    uint64_t ea = insn_ea(cpu, in);
    uint64_t v = mem_read(cpu, in->seg, ea, size);
    mem_write(cpu, in->seg, ea, size, ~v);
}

/* F6/F7 /3 NEG: flags of 0 - dst, so CF = (dst != 0) (SDM NEG) */
static void op_neg(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t m = size_mask(size);
    if (in->mod == 3) {
        uint64_t v = greg_read(cpu, in, in->rm, size);
        uint64_t res = (0 - v) & m;
        lf_set(cpu, LF_SUB, size, 0, v, res);
        greg_write(cpu, in, in->rm, size, res);
        return;
    }
    if (in->lock) {
        uint64_t v = locked_rmw(cpu, rmw_lin(cpu, in, size), size, LK_NEG, 0);
        lf_set(cpu, LF_SUB, size, 0, v, (0 - v) & m);
        return;
    }
    uint64_t ea = insn_ea(cpu, in);
    uint64_t v = mem_read(cpu, in->seg, ea, size);
    uint64_t res = (0 - v) & m;
    mem_write(cpu, in->seg, ea, size, res);
    lf_set(cpu, LF_SUB, size, 0, v, res);
}

/* TEST: AND without writing the result. */
static void test_flags(struct cpu *cpu, unsigned size, uint64_t a, uint64_t b)
{
    uint64_t m = size_mask(size);
    lf_set(cpu, LF_LOGIC, size, a & m, b & m, a & b & m);
}

/* 84/85 TEST r/m, reg */
static void op_test_rm_r(struct cpu *cpu, const struct insn *in)
{
    test_flags(cpu, in->opsize, rm_read(cpu, in, in->opsize), greg_read(cpu, in, in->reg, in->opsize));
}

/* A8/A9 TEST AL/eAX, imm */
static void op_test_a_imm(struct cpu *cpu, const struct insn *in)
{
    test_flags(cpu, in->opsize, greg_read(cpu, in, R_AX, in->opsize), in->imm);
}

/* F6/F7 /0 TEST r/m, imm (and /1, which Intel processors execute as /0) */
static void op_test_rm_imm(struct cpu *cpu, const struct insn *in)
{
    test_flags(cpu, in->opsize, rm_read(cpu, in, in->opsize), in->imm);
}

/* 66 0F 38 F6 ADCX (CF only), F3 0F 38 F6 ADOX (OF only): 32 or 64 bits,
 * the 66 prefix is mandatory and does not make it 16-bit (SDM ADCX/ADOX). */
static void adx(struct cpu *cpu, const struct insn *in, uint32_t flag)
{
    unsigned size = in->opsize == 8 ? 8 : 4;
    uint64_t m = size_mask(size);
    uint64_t a = greg_read(cpu, in, in->reg, size);
    uint64_t b = rm_read(cpu, in, size) & m;
    bool cin = flag == FL_CF ? flag_cf(cpu) : flag_of(cpu);
    uint64_t res = (a + b + (cin ? 1 : 0)) & m;
    bool cout = res < a || (cin && res == a);
    flags_write(cpu, flag, cout ? flag : 0);
    greg_write(cpu, in, in->reg, size, res);
}

static void op_adcx(struct cpu *cpu, const struct insn *in) { adx(cpu, in, FL_CF); }
static void op_adox(struct cpu *cpu, const struct insn *in) { adx(cpu, in, FL_OF); }

#define M OPF_MODRM
#define B OPF_BYTE
#define L OPF_LOCK
/* The eight ALU operations share encodings 0x00+8*op .. 0x05+8*op. */
#define ALU_ROWS(base, name, lock)                                                          \
    {OP1 | ((base) + 0), -1, -1, PFX_ANY, M | B | (lock), op_##name##_rm_r, #name},         \
    {OP1 | ((base) + 1), -1, -1, PFX_ANY, M | (lock), op_##name##_rm_r, #name},             \
    {OP1 | ((base) + 2), -1, -1, PFX_ANY, M | B, op_##name##_r_rm, #name},                  \
    {OP1 | ((base) + 3), -1, -1, PFX_ANY, M, op_##name##_r_rm, #name},                      \
    {OP1 | ((base) + 4), -1, -1, PFX_ANY, B | OPF_IMM8, op_##name##_a_imm, #name},          \
    {OP1 | ((base) + 5), -1, -1, PFX_ANY, OPF_IMMZ, op_##name##_a_imm, #name}
/* Group 1 (80, 81, 82, 83) member /n. 82 is an alias of 80, invalid in 64-bit mode. */
#define GRP1_ROWS(n, name, lock)                                                            \
    {OP1 | 0x80, n, -1, PFX_ANY, M | B | OPF_IMM8 | (lock), op_##name##_rm_imm, #name},     \
    {OP1 | 0x81, n, -1, PFX_ANY, M | OPF_IMMZ | (lock), op_##name##_rm_imm, #name},         \
    {OP1 | 0x82, n, -1, PFX_ANY, M | B | OPF_IMM8 | OPF_NO64 | (lock), op_##name##_rm_imm, #name}, \
    {OP1 | 0x83, n, -1, PFX_ANY, M | OPF_IMM8 | (lock), op_##name##_rm_imm, #name}

static const struct op_def alu_ops[] = {
    ALU_ROWS(0x00, add, L), ALU_ROWS(0x08, or, L), ALU_ROWS(0x10, adc, L),
    ALU_ROWS(0x18, sbb, L), ALU_ROWS(0x20, and, L), ALU_ROWS(0x28, sub, L),
    ALU_ROWS(0x30, xor, L), ALU_ROWS(0x38, cmp, 0),
    GRP1_ROWS(0, add, L), GRP1_ROWS(1, or, L), GRP1_ROWS(2, adc, L),
    GRP1_ROWS(3, sbb, L), GRP1_ROWS(4, and, L), GRP1_ROWS(5, sub, L),
    GRP1_ROWS(6, xor, L), GRP1_ROWS(7, cmp, 0),
    {OP1 | 0x40, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x41, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x42, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x43, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x44, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x45, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x46, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x47, -1, -1, PFX_ANY, OPF_NO64, op_inc_r, "inc"},
    {OP1 | 0x48, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x49, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x4a, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x4b, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x4c, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x4d, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x4e, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0x4f, -1, -1, PFX_ANY, OPF_NO64, op_dec_r, "dec"},
    {OP1 | 0xfe, 0, -1, PFX_ANY, M | B | L, op_inc_rm, "inc"},
    {OP1 | 0xfe, 1, -1, PFX_ANY, M | B | L, op_dec_rm, "dec"},
    {OP1 | 0xff, 0, -1, PFX_ANY, M | L, op_inc_rm, "inc"},
    {OP1 | 0xff, 1, -1, PFX_ANY, M | L, op_dec_rm, "dec"},
    {OP1 | 0x84, -1, -1, PFX_ANY, M | B, op_test_rm_r, "test"},
    {OP1 | 0x85, -1, -1, PFX_ANY, M, op_test_rm_r, "test"},
    {OP1 | 0xa8, -1, -1, PFX_ANY, B | OPF_IMM8, op_test_a_imm, "test"},
    {OP1 | 0xa9, -1, -1, PFX_ANY, OPF_IMMZ, op_test_a_imm, "test"},
    {OP1 | 0xf6, 0, -1, PFX_ANY, M | B | OPF_IMM8, op_test_rm_imm, "test"},
    {OP1 | 0xf6, 1, -1, PFX_ANY, M | B | OPF_IMM8, op_test_rm_imm, "test"},
    {OP1 | 0xf7, 0, -1, PFX_ANY, M | OPF_IMMZ, op_test_rm_imm, "test"},
    {OP1 | 0xf7, 1, -1, PFX_ANY, M | OPF_IMMZ, op_test_rm_imm, "test"},
    {OP1 | 0xf6, 2, -1, PFX_ANY, M | B | L, op_not, "not"},
    {OP1 | 0xf7, 2, -1, PFX_ANY, M | L, op_not, "not"},
    {OP1 | 0xf6, 3, -1, PFX_ANY, M | B | L, op_neg, "neg"},
    {OP1 | 0xf7, 3, -1, PFX_ANY, M | L, op_neg, "neg"},
    {OP38 | 0xf6, -1, -1, PFX_66, M, op_adcx, "adcx"},
    {OP38 | 0xf6, -1, -1, PFX_F3, M, op_adox, "adox"},
    OPS_END};
OPS_REGISTER(alu_ops);
