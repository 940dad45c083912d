/* SSE/SSE2/SSE3 data movement and bitwise forms of the floating-point
 * types (SDM Vol. 2 pages of each): MOVUPS/MOVAPS/MOVSS/MOVSD and the pd
 * forms, MOVLPS/MOVHPS/MOVHLPS/MOVLHPS/MOVLPD/MOVHPD, MOVSLDUP/MOVSHDUP/
 * MOVDDUP, LDDQU, UNPCKL/H, SHUFPS/PD, AND/ANDN/OR/XOR, MOVMSKPS/PD,
 * MOVNTPS/PD/DQ/Q/I, MASKMOVQ/MASKMOVDQU; plus the operand helpers. */
#include "cpu/sse.h"

static uint64_t lin_wrap(const struct cpu *cpu, uint64_t lin)
{
    return cpu_is64(cpu) ? lin : lin & 0xffffffffull;
}

void sse_read128(struct cpu *cpu, const struct insn *in, xmm_t *out, bool aligned)
{
    if (in->mod == 3) {
        *out = *xreg(cpu, in->rm);
        return;
    }
    uint64_t lin = fpu_operand_lin(cpu, in, 16, ACC_R);
    if (aligned && (lin & (SSE_ALIGN - 1)))
        cpu_gp0(cpu);
    xmm_t v;
    v.q[0] = lin_read(cpu, lin, 8, ACC_R);
    v.q[1] = lin_read(cpu, lin_wrap(cpu, lin + 8), 8, ACC_R);
    *out = v;
}

void sse_write128(struct cpu *cpu, const struct insn *in, const xmm_t *v, bool aligned)
{
    uint64_t lin = fpu_operand_lin(cpu, in, 16, ACC_W);
    if (aligned && (lin & (SSE_ALIGN - 1)))
        cpu_gp0(cpu);
    lin_probe_write(cpu, lin, 16);
    lin_write(cpu, lin, 8, v->q[0], ACC_W);
    lin_write(cpu, lin_wrap(cpu, lin + 8), 8, v->q[1], ACC_W);
}

uint64_t sse_read_low(struct cpu *cpu, const struct insn *in, unsigned size)
{
    if (in->mod == 3)
        return xreg(cpu, in->rm)->q[0] & size_mask(size);
    return mem_read(cpu, in->seg, insn_ea(cpu, in), size);
}

uint64_t mmx_read_src(struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        return mmx_get(cpu, in->rm);
    return mem_read64(cpu, in->seg, insn_ea(cpu, in));
}

static void store64(struct cpu *cpu, const struct insn *in, uint64_t v)
{
    mem_write(cpu, in->seg, insn_ea(cpu, in), 8, v);
}

/* --- whole-register moves -------------------------------------------------- */
/* MOVUPS/MOVUPD (0F 10), MOVAPS/MOVAPD (0F 28), LDDQU (F2 0F F0) */
static void op_mov_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t v;
    sse_read128(cpu, in, &v, (in->op & 0xff) == 0x28);
    *xreg(cpu, in->reg) = v;
}

/* MOVUPS/MOVUPD (0F 11), MOVAPS/MOVAPD (0F 29), MOVNTPS/PD (0F 2B), MOVNTDQ (66 0F E7) */
static void op_mov_store(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t v = *xreg(cpu, in->reg);
    if (in->mod == 3)
        *xreg(cpu, in->rm) = v;
    else
        sse_write128(cpu, in, &v, (in->op & 0xff) != 0x11);
}

/* MOVSS/MOVSD (F3/F2 0F 10): memory loads zero the rest. */
static void op_movs_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    unsigned size = in->rep == PFX_REP ? 4 : 8;
    xmm_t *d = xreg(cpu, in->reg);
    if (in->mod == 3) {
        uint64_t v = xreg(cpu, in->rm)->q[0];
        if (size == 4)
            d->d[0] = (uint32_t)v;
        else
            d->q[0] = v;
        return;
    }
    uint64_t v = mem_read(cpu, in->seg, insn_ea(cpu, in), size);
    d->q[0] = v;
    d->q[1] = 0;
}

/* MOVSS/MOVSD (F3/F2 0F 11) */
static void op_movs_store(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    unsigned size = in->rep == PFX_REP ? 4 : 8;
    uint64_t v = xreg(cpu, in->reg)->q[0];
    if (in->mod == 3) {
        xmm_t *d = xreg(cpu, in->rm);
        if (size == 4)
            d->d[0] = (uint32_t)v;
        else
            d->q[0] = v;
        return;
    }
    mem_write(cpu, in->seg, insn_ea(cpu, in), size, v & size_mask(size));
}

/* --- half moves ------------------------------------------------------------ */
/* 0F 12 / 66 0F 12: MOVHLPS (register), MOVLPS/MOVLPD (memory) */
static void op_movlps_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    uint64_t v = in->mod == 3 ? xreg(cpu, in->rm)->q[1] : mem_read64(cpu, in->seg, insn_ea(cpu, in));
    xreg(cpu, in->reg)->q[0] = v;
}

/* 0F 16 / 66 0F 16: MOVLHPS (register), MOVHPS/MOVHPD (memory) */
static void op_movhps_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    uint64_t v = in->mod == 3 ? xreg(cpu, in->rm)->q[0] : mem_read64(cpu, in->seg, insn_ea(cpu, in));
    xreg(cpu, in->reg)->q[1] = v;
}

/* 0F 13 / 0F 17 (and 66): MOVLPS/MOVLPD/MOVHPS/MOVHPD stores */
static void op_movlhps_store(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    store64(cpu, in, xreg(cpu, in->reg)->q[(in->op & 0xff) == 0x17]);
}

/* MOVSLDUP (F3 0F 12), MOVSHDUP (F3 0F 16), MOVDDUP (F2 0F 12) */
static void op_movdup(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, r;
    if (in->rep == PFX_REPNE) {
        uint64_t v = sse_read_low(cpu, in, 8);
        r.q[0] = r.q[1] = v;
    } else {
        sse_read128(cpu, in, &s, true);
        unsigned odd = (in->op & 0xff) == 0x16;
        for (unsigned i = 0; i < 4; i++)
            r.d[i] = s.d[(i & ~1u) | odd];
    }
    *xreg(cpu, in->reg) = r;
}

/* --- shuffles and unpacks -------------------------------------------------- */
/* UNPCKLPS/UNPCKHPS (0F 14/15), UNPCKLPD/UNPCKHPD (66) */
static void op_unpck(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, r, *d = xreg(cpu, in->reg);
    sse_read128(cpu, in, &s, true);
    unsigned hi = (in->op & 0xff) == 0x15;
    if (in->pfx66) {
        r.q[0] = d->q[hi];
        r.q[1] = s.q[hi];
    } else {
        r.d[0] = d->d[2 * hi];
        r.d[1] = s.d[2 * hi];
        r.d[2] = d->d[2 * hi + 1];
        r.d[3] = s.d[2 * hi + 1];
    }
    *d = r;
}

/* SHUFPS/SHUFPD (0F C6 ib) */
static void op_shuf(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, r, *d = xreg(cpu, in->reg);
    sse_read128(cpu, in, &s, true);
    unsigned imm = (unsigned)in->imm;
    if (in->pfx66) {
        r.q[0] = d->q[imm & 1];
        r.q[1] = s.q[(imm >> 1) & 1];
    } else {
        r.d[0] = d->d[imm & 3];
        r.d[1] = d->d[(imm >> 2) & 3];
        r.d[2] = s.d[(imm >> 4) & 3];
        r.d[3] = s.d[(imm >> 6) & 3];
    }
    *d = r;
}

/* --- bitwise --------------------------------------------------------------- */
/* ANDPS ANDNPS ORPS XORPS (0F 54-57) and the pd forms */
static void op_fp_logic(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, *d = xreg(cpu, in->reg);
    sse_read128(cpu, in, &s, true);
    for (unsigned i = 0; i < 2; i++) {
        switch (in->op & 0xff) {
        case 0x54: d->q[i] &= s.q[i]; break;
        case 0x55: d->q[i] = ~d->q[i] & s.q[i]; break;
        case 0x56: d->q[i] |= s.q[i]; break;
        default: d->q[i] ^= s.q[i]; break;
        }
    }
}

/* MOVMSKPS/MOVMSKPD (0F 50): sign bits into a general register. */
static void op_movmsk(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    const xmm_t *s = xreg(cpu, in->rm);
    uint32_t m = 0;
    if (in->pfx66)
        m = (uint32_t)((s->q[0] >> 63) | ((s->q[1] >> 63) << 1));
    else
        for (unsigned i = 0; i < 4; i++)
            m |= (s->d[i] >> 31) << i;
    greg_write(cpu, in, in->reg, in->opsize == 8 ? 8 : 4, m);
}

/* --- non-temporal and masked stores --------------------------------------- */
/* MOVNTI (0F C3): r32/r64 -> m */
static void op_movnti(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize == 8 ? 8 : 4;
    mem_write(cpu, in->seg, insn_ea(cpu, in), size, greg_read(cpu, in, in->reg, size));
}

/* MOVNTQ (0F E7): mm -> m64 */
static void op_movntq(struct cpu *cpu, const struct insn *in)
{
    fpu_enter_mmx(cpu);
    store64(cpu, in, mmx_get(cpu, in->reg));
}

/* MASKMOVQ (0F F7) / MASKMOVDQU (66 0F F7): bytes whose mask byte has bit 7
 * set go to DS:rDI (segment override allowed). */
static void op_maskmov(struct cpu *cpu, const struct insn *in)
{
    uint8_t data[16], mask[16];
    unsigned n;
    if (in->pfx66) {
        fpu_check_sse(cpu);
        n = 16;
        memcpy(data, xreg(cpu, in->reg)->b, 16);
        memcpy(mask, xreg(cpu, in->rm)->b, 16);
    } else {
        fpu_enter_mmx(cpu);
        n = 8;
        uint64_t d = mmx_get(cpu, in->reg), m = mmx_get(cpu, in->rm);
        memcpy(data, &d, 8);
        memcpy(mask, &m, 8);
    }
    bool any = false;
    for (unsigned i = 0; i < n; i++)
        any |= mask[i] >> 7;
    if (!any)
        return;
    uint64_t off = areg_read(cpu, R_DI, in->addrsize);
    uint64_t lin = seg_lin(cpu, in->seg, off, n, ACC_W);
    lin_probe_write(cpu, lin, n);
    for (unsigned i = 0; i < n; i++)
        if (mask[i] >> 7)
            lin_write(cpu, lin_wrap(cpu, lin + i), 1, data[i], ACC_W);
}

#define M OPF_MODRM
#define R(op, pfx, fl, fn, name) { OP0F | (op), -1, -1, pfx, M | (fl), fn, name }
static const struct op_def sse_ops[] = {
    R(0x10, PFX_NONE, 0, op_mov_load, "movups"),
    R(0x10, PFX_66, 0, op_mov_load, "movupd"),
    R(0x10, PFX_F3, 0, op_movs_load, "movss"),
    R(0x10, PFX_F2, 0, op_movs_load, "movsd"),
    R(0x11, PFX_NONE, 0, op_mov_store, "movups"),
    R(0x11, PFX_66, 0, op_mov_store, "movupd"),
    R(0x11, PFX_F3, 0, op_movs_store, "movss"),
    R(0x11, PFX_F2, 0, op_movs_store, "movsd"),
    R(0x12, PFX_NONE, 0, op_movlps_load, "movlps"),
    R(0x12, PFX_66, OPF_MEM, op_movlps_load, "movlpd"),
    R(0x12, PFX_F3, 0, op_movdup, "movsldup"),
    R(0x12, PFX_F2, 0, op_movdup, "movddup"),
    R(0x13, PFX_NONE, OPF_MEM, op_movlhps_store, "movlps"),
    R(0x13, PFX_66, OPF_MEM, op_movlhps_store, "movlpd"),
    R(0x14, PFX_NONE, 0, op_unpck, "unpcklps"),
    R(0x14, PFX_66, 0, op_unpck, "unpcklpd"),
    R(0x15, PFX_NONE, 0, op_unpck, "unpckhps"),
    R(0x15, PFX_66, 0, op_unpck, "unpckhpd"),
    R(0x16, PFX_NONE, 0, op_movhps_load, "movhps"),
    R(0x16, PFX_66, OPF_MEM, op_movhps_load, "movhpd"),
    R(0x16, PFX_F3, 0, op_movdup, "movshdup"),
    R(0x17, PFX_NONE, OPF_MEM, op_movlhps_store, "movhps"),
    R(0x17, PFX_66, OPF_MEM, op_movlhps_store, "movhpd"),
    R(0x28, PFX_NONE, 0, op_mov_load, "movaps"),
    R(0x28, PFX_66, 0, op_mov_load, "movapd"),
    R(0x29, PFX_NONE, 0, op_mov_store, "movaps"),
    R(0x29, PFX_66, 0, op_mov_store, "movapd"),
    R(0x2b, PFX_NONE, OPF_MEM, op_mov_store, "movntps"),
    R(0x2b, PFX_66, OPF_MEM, op_mov_store, "movntpd"),
    R(0x50, PFX_NONE, OPF_REG, op_movmsk, "movmskps"),
    R(0x50, PFX_66, OPF_REG, op_movmsk, "movmskpd"),
    R(0x54, PFX_NONE, 0, op_fp_logic, "andps"),
    R(0x54, PFX_66, 0, op_fp_logic, "andpd"),
    R(0x55, PFX_NONE, 0, op_fp_logic, "andnps"),
    R(0x55, PFX_66, 0, op_fp_logic, "andnpd"),
    R(0x56, PFX_NONE, 0, op_fp_logic, "orps"),
    R(0x56, PFX_66, 0, op_fp_logic, "orpd"),
    R(0x57, PFX_NONE, 0, op_fp_logic, "xorps"),
    R(0x57, PFX_66, 0, op_fp_logic, "xorpd"),
    R(0xc3, PFX_NONE, OPF_MEM, op_movnti, "movnti"),
    R(0xc6, PFX_NONE, OPF_IMM8U, op_shuf, "shufps"),
    R(0xc6, PFX_66, OPF_IMM8U, op_shuf, "shufpd"),
    R(0xe7, PFX_NONE, OPF_MEM, op_movntq, "movntq"),
    R(0xe7, PFX_66, OPF_MEM, op_mov_store, "movntdq"),
    R(0xf0, PFX_F2, OPF_MEM, op_mov_load, "lddqu"),
    R(0xf7, PFX_NONE, OPF_REG, op_maskmov, "maskmovq"),
    R(0xf7, PFX_66, OPF_REG, op_maskmov, "maskmovdqu"),
    OPS_END
};
OPS_REGISTER(sse_ops);
