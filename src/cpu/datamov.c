/* Data movement: MOV (all general forms), MOVZX MOVSX MOVSXD, LEA, XCHG,
 * NOP and the hint NOPs, CMPXCHG CMPXCHG8B/16B, XADD, CMOVcc, SETcc,
 * CBW/CWDE/CDQE, CWD/CDQ/CQO, LAHF SAHF, MOVBE, CLC STC CMC CLD STD, XLAT
 * (Intel SDM Vol. 2 instruction pages). */
#include "cpu/cpu_int.h"

/* 88/89 MOV r/m, reg */
static void op_mov_rm_r(struct cpu *cpu, const struct insn *in)
{
    rm_write(cpu, in, in->opsize, greg_read(cpu, in, in->reg, in->opsize));
}

/* 8A/8B MOV reg, r/m */
static void op_mov_r_rm(struct cpu *cpu, const struct insn *in)
{
    greg_write(cpu, in, in->reg, in->opsize, rm_read(cpu, in, in->opsize));
}

/* C6/C7 /0 MOV r/m, imm */
static void op_mov_rm_imm(struct cpu *cpu, const struct insn *in)
{
    rm_write(cpu, in, in->opsize, in->imm);
}

/* B0-BF MOV reg, imm (in->reg carries REX.B) */
static void op_mov_r_imm(struct cpu *cpu, const struct insn *in)
{
    greg_write(cpu, in, in->reg, in->opsize, in->imm);
}

/* A0/A1 MOV AL/rAX, moffs; A2/A3 MOV moffs, AL/rAX */
static void op_mov_a_moffs(struct cpu *cpu, const struct insn *in)
{
    uint64_t off = in->imm & size_mask(in->addrsize);
    greg_write(cpu, in, R_AX, in->opsize, mem_read(cpu, in->seg, off, in->opsize));
}

static void op_mov_moffs_a(struct cpu *cpu, const struct insn *in)
{
    uint64_t off = in->imm & size_mask(in->addrsize);
    mem_write(cpu, in->seg, off, in->opsize, greg_read(cpu, in, R_AX, in->opsize));
}

/* 0F B6/B7 MOVZX, 0F BE/BF MOVSX: source is a byte or a word */
static void op_movzx(struct cpu *cpu, const struct insn *in)
{
    unsigned ssize = (in->op & 1) ? 2 : 1;
    greg_write(cpu, in, in->reg, in->opsize, rm_read(cpu, in, ssize));
}

static void op_movsx(struct cpu *cpu, const struct insn *in)
{
    unsigned ssize = (in->op & 1) ? 2 : 1;
    greg_write(cpu, in, in->reg, in->opsize, (uint64_t)sext(rm_read(cpu, in, ssize), ssize));
}

/* 63 MOVSXD (64-bit mode): sign-extends a dword with REX.W, else a plain move */
static void op_movsxd(struct cpu *cpu, const struct insn *in)
{
    unsigned ssize = in->opsize == 8 ? 4 : in->opsize;
    greg_write(cpu, in, in->reg, in->opsize, (uint64_t)sext(rm_read(cpu, in, ssize), ssize));
}

/* 8D LEA: the offset truncated to the operand size */
static void op_lea(struct cpu *cpu, const struct insn *in)
{
    greg_write(cpu, in, in->reg, in->opsize, insn_ea(cpu, in));
}

/* 86/87 XCHG r/m, reg (locked implicitly with memory) */
static void op_xchg_rm_r(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t r = greg_read(cpu, in, in->reg, size);
    if (in->mod == 3) {
        uint64_t v = greg_read(cpu, in, in->rm, size);
        greg_write(cpu, in, in->rm, size, r);
        greg_write(cpu, in, in->reg, size, v);
        return;
    }
    /* Always a locked cycle with memory (SDM XCHG). */
    uint64_t lin = seg_lin(cpu, in->seg, insn_ea(cpu, in), size, ACC_W);
    greg_write(cpu, in, in->reg, size, locked_rmw(cpu, lin, size, LK_XCHG, r));
}

/* 90+r XCHG rAX, reg. 90 itself (no REX.B) is NOP, and F3 90 is PAUSE: they
 * do not zero-extend EAX in 64-bit mode (SDM NOP, XCHG). */
static void op_xchg_a_r(struct cpu *cpu, const struct insn *in)
{
    if (in->reg == R_AX)
        return;
    unsigned size = in->opsize;
    uint64_t a = greg_read(cpu, in, R_AX, size);
    greg_write(cpu, in, R_AX, size, greg_read(cpu, in, in->reg, size));
    greg_write(cpu, in, in->reg, size, a);
}

/* 0F 1F /0 NOP r/m, the reserved hint NOPs 0F 18-1F and the prefetches:
 * no memory access */
static void op_nop(struct cpu *cpu, const struct insn *in)
{
    (void)cpu;
    (void)in;
}

/* 0F B0/B1 CMPXCHG r/m, reg: flags of CMP accumulator, dest. The memory form
 * always writes (the old value back on failure), as the locked cycle does. */
static void op_cmpxchg(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t m = size_mask(size);
    uint64_t acc = greg_read(cpu, in, R_AX, size), src = greg_read(cpu, in, in->reg, size);
    uint64_t ea = 0, dst;
    if (in->mod == 3)
        dst = greg_read(cpu, in, in->rm, size);
    else if (in->lock) {
        /* A failed compare writes nothing back here: the bytes are the same,
         * and the write access was checked. */
        dst = locked_cmpxchg(cpu, seg_lin(cpu, in->seg, insn_ea(cpu, in), size, ACC_W), size, acc, src);
        if (acc != dst)
            greg_write(cpu, in, R_AX, size, dst);
        lf_set(cpu, LF_SUB, size, acc, dst, (acc - dst) & m);
        return;
    } else {
        ea = insn_ea(cpu, in);
        dst = mem_read(cpu, in->seg, ea, size);
    }
    bool eq = acc == dst;
    if (in->mod != 3)
        mem_write(cpu, in->seg, ea, size, eq ? src : dst);
    else if (eq)
        greg_write(cpu, in, in->rm, size, src);
    if (!eq)
        greg_write(cpu, in, R_AX, size, dst);
    lf_set(cpu, LF_SUB, size, acc, dst, (acc - dst) & m);
}

/* CMPXCHG16B needs a 16-byte aligned operand (SDM CMPXCHG8B/CMPXCHG16B). */
#define CMPXCHG16B_ALIGN 16

/* 0F C7 /1 CMPXCHG8B m64 / REX.W CMPXCHG16B m128: ZF = equal; others kept */
static void op_cmpxchg8b(struct cpu *cpu, const struct insn *in)
{
    uint64_t ea = insn_ea(cpu, in);
    bool eq;
    if (in->opsize == 8) {
        if (ea & (CMPXCHG16B_ALIGN - 1))
            cpu_gp0(cpu);
        uint64_t lin = seg_lin(cpu, in->seg, ea, 16, ACC_W);
        if (in->lock) {
            uint64_t cmp[2] = { cpu->s.regs[R_AX], cpu->s.regs[R_DX] };
            const uint64_t src[2] = { cpu->s.regs[R_BX], cpu->s.regs[R_CX] };
            eq = locked_cmpxchg16(cpu, lin, cmp, src);
            cpu->s.regs[R_AX] = cmp[0];
            cpu->s.regs[R_DX] = cmp[1];
            flags_write(cpu, FL_ZF, eq ? FL_ZF : 0);
            return;
        }
        lin_probe_write(cpu, lin, 16);
        uint64_t lo = lin_read(cpu, lin, 8, ACC_R), hi = lin_read(cpu, lin + 8, 8, ACC_R);
        eq = lo == cpu->s.regs[R_AX] && hi == cpu->s.regs[R_DX];
        if (eq) {
            lin_write(cpu, lin, 8, cpu->s.regs[R_BX], ACC_W);
            lin_write(cpu, lin + 8, 8, cpu->s.regs[R_CX], ACC_W);
        } else {
            lin_write(cpu, lin, 8, lo, ACC_W);
            lin_write(cpu, lin + 8, 8, hi, ACC_W);
            cpu->s.regs[R_AX] = lo;
            cpu->s.regs[R_DX] = hi;
        }
    } else {
        uint64_t cmp = (cpu->s.regs[R_AX] & 0xffffffff) | (cpu->s.regs[R_DX] << 32);
        if (in->lock) {
            uint64_t src = (cpu->s.regs[R_BX] & 0xffffffff) | (cpu->s.regs[R_CX] << 32);
            uint64_t v = locked_cmpxchg(cpu, seg_lin(cpu, in->seg, ea, 8, ACC_W), 8, cmp, src);
            eq = v == cmp;
            if (!eq) {
                greg_write(cpu, in, R_AX, 4, v);
                greg_write(cpu, in, R_DX, 4, v >> 32);
            }
            flags_write(cpu, FL_ZF, eq ? FL_ZF : 0);
            return;
        }
        uint64_t v = mem_read(cpu, in->seg, ea, 8);
        eq = v == cmp;
        if (eq) {
            mem_write(cpu, in->seg, ea, 8, (cpu->s.regs[R_BX] & 0xffffffff) | (cpu->s.regs[R_CX] << 32));
        } else {
            mem_write(cpu, in->seg, ea, 8, v);
            greg_write(cpu, in, R_AX, 4, v);
            greg_write(cpu, in, R_DX, 4, v >> 32);
        }
    }
    flags_write(cpu, FL_ZF, eq ? FL_ZF : 0);
}

/* 0F C0/C1 XADD r/m, reg: reg = old dest, dest = sum */
static void op_xadd(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t m = size_mask(size);
    uint64_t src = greg_read(cpu, in, in->reg, size), dst, sum;
    if (in->mod == 3) {
        dst = greg_read(cpu, in, in->rm, size);
        sum = (dst + src) & m;
        greg_write(cpu, in, in->reg, size, dst);
        greg_write(cpu, in, in->rm, size, sum);
    } else if (in->lock) {
        dst = locked_rmw(cpu, seg_lin(cpu, in->seg, insn_ea(cpu, in), size, ACC_W), size, LK_ADD, src);
        sum = (dst + src) & m;
        greg_write(cpu, in, in->reg, size, dst);
    } else {
        uint64_t ea = insn_ea(cpu, in);
        dst = mem_read(cpu, in->seg, ea, size);
        sum = (dst + src) & m;
        mem_write(cpu, in->seg, ea, size, sum);
        greg_write(cpu, in, in->reg, size, dst);
    }
    lf_set(cpu, LF_ADD, size, dst, src, sum);
}

/* 0F 40-4F CMOVcc: the source is always read; a 32-bit destination is
 * zero-extended in 64-bit mode even when the condition is false. */
static void op_cmov(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    uint64_t v = rm_read(cpu, in, size);
    if (!cond_true(cpu, in->op & 0xf))
        v = greg_read(cpu, in, in->reg, size);
    greg_write(cpu, in, in->reg, size, v);
}

/* 0F 90-9F SETcc r/m8 */
static void op_setcc(struct cpu *cpu, const struct insn *in)
{
    rm_write(cpu, in, 1, cond_true(cpu, in->op & 0xf) ? 1 : 0);
}

/* 98 CBW/CWDE/CDQE */
static void op_cbw(struct cpu *cpu, const struct insn *in)
{
    unsigned half = in->opsize / 2;
    greg_write(cpu, in, R_AX, in->opsize, (uint64_t)sext(cpu->s.regs[R_AX], half));
}

/* 99 CWD/CDQ/CQO */
static void op_cwd(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize;
    bool neg = (cpu->s.regs[R_AX] & sign_bit(size)) != 0;
    greg_write(cpu, in, R_DX, size, neg ? ~0ull : 0);
}

/* The flags LAHF/SAHF move: SF ZF AF PF CF (bit 1 reads as 1). */
#define LAHF_MASK (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)

/* 9F LAHF */
static void op_lahf(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    uint64_t f = (cpu_get_rflags(cpu) & LAHF_MASK) | FL_1;
    cpu->s.regs[R_AX] = (cpu->s.regs[R_AX] & ~0xff00ull) | (f << 8);
}

/* 9E SAHF */
static void op_sahf(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    flags_write(cpu, LAHF_MASK, (uint32_t)(cpu->s.regs[R_AX] >> 8) & LAHF_MASK);
}

static uint64_t byteswap(uint64_t v, unsigned size)
{
    switch (size) {
    case 2: return __builtin_bswap16((uint16_t)v);
    case 4: return __builtin_bswap32((uint32_t)v);
    default: return __builtin_bswap64(v);
    }
}

/* 0F 38 F0 MOVBE reg, m; 0F 38 F1 MOVBE m, reg */
static void op_movbe_load(struct cpu *cpu, const struct insn *in)
{
    greg_write(cpu, in, in->reg, in->opsize, byteswap(rm_read(cpu, in, in->opsize), in->opsize));
}

static void op_movbe_store(struct cpu *cpu, const struct insn *in)
{
    rm_write(cpu, in, in->opsize, byteswap(greg_read(cpu, in, in->reg, in->opsize), in->opsize));
}

/* F8 CLC, F9 STC, F5 CMC */
static void op_clc(struct cpu *cpu, const struct insn *in) { (void)in; flags_write(cpu, FL_CF, 0); }
static void op_stc(struct cpu *cpu, const struct insn *in) { (void)in; flags_write(cpu, FL_CF, FL_CF); }
static void op_cmc(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    flags_write(cpu, FL_CF, flag_cf(cpu) ? 0 : FL_CF);
}

/* FC CLD, FD STD: DF is never lazy */
static void op_cld(struct cpu *cpu, const struct insn *in) { (void)in; cpu->s.rflags &= ~(uint64_t)FL_DF; }
static void op_std(struct cpu *cpu, const struct insn *in) { (void)in; cpu->s.rflags |= FL_DF; }

/* D7 XLAT: AL = [seg: rBX + AL] at the address size */
static void op_xlat(struct cpu *cpu, const struct insn *in)
{
    uint64_t off = (cpu->s.regs[R_BX] + (cpu->s.regs[R_AX] & 0xff)) & size_mask(in->addrsize);
    greg_write(cpu, in, R_AX, 1, mem_read(cpu, in->seg, off, 1));
}

#define M OPF_MODRM
#define B OPF_BYTE
#define L OPF_LOCK
#define ROW(op, flags, fn, name) {(op), -1, -1, PFX_ANY, (flags), fn, name}
#define CC_ROW(base, cc, flags, fn, name) ROW((base) | (cc), flags, fn, name)
#define CC_ROWS(base, flags, fn, name)                                                      \
    CC_ROW(base, 0x0, flags, fn, name "o"), CC_ROW(base, 0x1, flags, fn, name "no"),        \
    CC_ROW(base, 0x2, flags, fn, name "b"), CC_ROW(base, 0x3, flags, fn, name "ae"),        \
    CC_ROW(base, 0x4, flags, fn, name "e"), CC_ROW(base, 0x5, flags, fn, name "ne"),        \
    CC_ROW(base, 0x6, flags, fn, name "be"), CC_ROW(base, 0x7, flags, fn, name "a"),        \
    CC_ROW(base, 0x8, flags, fn, name "s"), CC_ROW(base, 0x9, flags, fn, name "ns"),        \
    CC_ROW(base, 0xa, flags, fn, name "p"), CC_ROW(base, 0xb, flags, fn, name "np"),        \
    CC_ROW(base, 0xc, flags, fn, name "l"), CC_ROW(base, 0xd, flags, fn, name "ge"),        \
    CC_ROW(base, 0xe, flags, fn, name "le"), CC_ROW(base, 0xf, flags, fn, name "g")
#define PLUS_R_ROWS(base, flags, fn, name)                                                  \
    ROW((base) + 0, flags, fn, name), ROW((base) + 1, flags, fn, name),                     \
    ROW((base) + 2, flags, fn, name), ROW((base) + 3, flags, fn, name),                     \
    ROW((base) + 4, flags, fn, name), ROW((base) + 5, flags, fn, name),                     \
    ROW((base) + 6, flags, fn, name), ROW((base) + 7, flags, fn, name)

static const struct op_def datamov_ops[] = {
    ROW(OP1 | 0x88, M | B, op_mov_rm_r, "mov"),
    ROW(OP1 | 0x89, M, op_mov_rm_r, "mov"),
    ROW(OP1 | 0x8a, M | B, op_mov_r_rm, "mov"),
    ROW(OP1 | 0x8b, M, op_mov_r_rm, "mov"),
    {OP1 | 0xc6, 0, -1, PFX_ANY, M | B | OPF_IMM8, op_mov_rm_imm, "mov"},
    {OP1 | 0xc7, 0, -1, PFX_ANY, M | OPF_IMMZ, op_mov_rm_imm, "mov"},
    PLUS_R_ROWS(OP1 | 0xb0, B | OPF_IMM8, op_mov_r_imm, "mov"),
    PLUS_R_ROWS(OP1 | 0xb8, OPF_IMMV, op_mov_r_imm, "mov"),
    ROW(OP1 | 0xa0, B | OPF_MOFFS, op_mov_a_moffs, "mov"),
    ROW(OP1 | 0xa1, OPF_MOFFS, op_mov_a_moffs, "mov"),
    ROW(OP1 | 0xa2, B | OPF_MOFFS, op_mov_moffs_a, "mov"),
    ROW(OP1 | 0xa3, OPF_MOFFS, op_mov_moffs_a, "mov"),
    ROW(OP0F | 0xb6, M, op_movzx, "movzx"),
    ROW(OP0F | 0xb7, M, op_movzx, "movzx"),
    ROW(OP0F | 0xbe, M, op_movsx, "movsx"),
    ROW(OP0F | 0xbf, M, op_movsx, "movsx"),
    ROW(OP1 | 0x63, M | OPF_ONLY64, op_movsxd, "movsxd"),
    ROW(OP1 | 0x8d, M | OPF_MEM, op_lea, "lea"),
    ROW(OP1 | 0x86, M | B | L, op_xchg_rm_r, "xchg"),
    ROW(OP1 | 0x87, M | L, op_xchg_rm_r, "xchg"),
    PLUS_R_ROWS(OP1 | 0x90, 0, op_xchg_a_r, "xchg"),
    /* 0F 0D: PREFETCH/PREFETCHW, a hint (NOP) on current Intel processors */
    ROW(OP0F | 0x0d, M, op_nop, "prefetchw"),
    ROW(OP0F | 0x18, M, op_nop, "nop"),
    ROW(OP0F | 0x19, M, op_nop, "nop"),
    ROW(OP0F | 0x1a, M, op_nop, "nop"),
    ROW(OP0F | 0x1b, M, op_nop, "nop"),
    ROW(OP0F | 0x1c, M, op_nop, "nop"),
    ROW(OP0F | 0x1d, M, op_nop, "nop"),
    ROW(OP0F | 0x1e, M, op_nop, "nop"),
    ROW(OP0F | 0x1f, M, op_nop, "nop"),
    ROW(OP0F | 0xb0, M | B | L, op_cmpxchg, "cmpxchg"),
    ROW(OP0F | 0xb1, M | L, op_cmpxchg, "cmpxchg"),
    {OP0F | 0xc7, 1, -1, PFX_ANY, M | OPF_MEM | L, op_cmpxchg8b, "cmpxchg8b"},
    ROW(OP0F | 0xc0, M | B | L, op_xadd, "xadd"),
    ROW(OP0F | 0xc1, M | L, op_xadd, "xadd"),
    CC_ROWS(OP0F | 0x40, M, op_cmov, "cmov"),
    CC_ROWS(OP0F | 0x90, M | B, op_setcc, "set"),
    ROW(OP1 | 0x98, 0, op_cbw, "cbw"),
    ROW(OP1 | 0x99, 0, op_cwd, "cwd"),
    ROW(OP1 | 0x9f, 0, op_lahf, "lahf"),
    ROW(OP1 | 0x9e, 0, op_sahf, "sahf"),
    {OP38 | 0xf0, -1, -1, PFX_NONE, M | OPF_MEM, op_movbe_load, "movbe"},
    {OP38 | 0xf1, -1, -1, PFX_NONE, M | OPF_MEM, op_movbe_store, "movbe"},
    {OP38 | 0xf0, -1, -1, PFX_66, M | OPF_MEM, op_movbe_load, "movbe"},
    {OP38 | 0xf1, -1, -1, PFX_66, M | OPF_MEM, op_movbe_store, "movbe"},
    ROW(OP1 | 0xf8, 0, op_clc, "clc"),
    ROW(OP1 | 0xf9, 0, op_stc, "stc"),
    ROW(OP1 | 0xf5, 0, op_cmc, "cmc"),
    ROW(OP1 | 0xfc, 0, op_cld, "cld"),
    ROW(OP1 | 0xfd, 0, op_std, "std"),
    ROW(OP1 | 0xd7, 0, op_xlat, "xlat"),
    OPS_END};
OPS_REGISTER(datamov_ops);
