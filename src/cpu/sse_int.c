/* MMX and SSE2 packed-integer instructions, MMX forms (no prefix) and XMM
 * forms (66) alike (SDM Vol. 1 ch. 9 and 11.4, Vol. 2 pages of each):
 * PADD/PSUB (with saturation), PCMPEQ/PCMPGT, PAND/PANDN/POR/PXOR, PMUL*,
 * PMADDWD, PSADBW, PAVG, PMIN/PMAX, shifts (register, immediate, byte-wise
 * PSLLDQ/PSRLDQ), PACK*, PUNPCK*, PSHUFW/D/HW/LW, PINSRW/PEXTRW,
 * PMOVMSKB, MOVD/MOVQ/MOVDQA/MOVDQU/MOVQ2DQ/MOVDQ2Q and EMMS. */
#include "cpu/sse.h"

void vop_load(struct cpu *cpu, const struct insn *in, struct vop *v, unsigned mmx_src_bytes)
{
    if (sse_is_xmm(in)) {
        fpu_check_sse(cpu);
        xmm_t s;
        sse_read128(cpu, in, &s, true);
        memcpy(v->s, s.b, 16);
        memcpy(v->d, xreg(cpu, in->reg)->b, 16);
        v->n = 16;
        return;
    }
    fpu_check_mmx(cpu);
    uint64_t s;
    if (in->mod == 3)
        s = mmx_get(cpu, in->rm);
    else
        s = mem_read(cpu, in->seg, insn_ea(cpu, in), mmx_src_bytes);
    fpu_mmx_state(cpu);
    uint64_t d = mmx_get(cpu, in->reg);
    memset(v->s + 8, 0, 8);
    memset(v->d + 8, 0, 8);
    memcpy(v->s, &s, 8);
    memcpy(v->d, &d, 8);
    v->n = 8;
}

void vop_store(struct cpu *cpu, const struct insn *in, const struct vop *v)
{
    if (v->n == 16) {
        memcpy(xreg(cpu, in->reg)->b, v->d, 16);
    } else {
        uint64_t d;
        memcpy(&d, v->d, 8);
        mmx_set(cpu, in->reg, d);
    }
}

/* --- lane helpers ---------------------------------------------------------- */
static uint64_t getl(const uint8_t *p, unsigned es)
{
    uint64_t v = 0;
    memcpy(&v, p, es);
    return v;
}
static void putl(uint8_t *p, unsigned es, uint64_t v) { memcpy(p, &v, es); }

static uint64_t sat_s(int64_t v, unsigned es)
{
    int64_t hi = (int64_t)(sign_bit(es) - 1), lo = -hi - 1;
    return (uint64_t)(v > hi ? hi : v < lo ? lo : v) & size_mask(es);
}
static uint64_t sat_u(int64_t v, unsigned es)
{
    int64_t hi = (int64_t)size_mask(es);
    return (uint64_t)(v > hi ? hi : v < 0 ? 0 : v);
}

/* --- element-wise operations ------------------------------------------------ */
enum {
    PK_NONE, PK_ADD, PK_ADDS, PK_ADDUS, PK_SUB, PK_SUBS, PK_SUBUS, PK_CMPEQ, PK_CMPGT,
    PK_AND, PK_ANDN, PK_OR, PK_XOR, PK_MULLO, PK_MULHS, PK_MULHU, PK_AVG,
    PK_MINU, PK_MAXU, PK_MINS, PK_MAXS,
};
static const struct { uint8_t kind, es; } ptab[256] = {
    [0xfc] = { PK_ADD, 1 }, [0xfd] = { PK_ADD, 2 }, [0xfe] = { PK_ADD, 4 }, [0xd4] = { PK_ADD, 8 },
    [0xec] = { PK_ADDS, 1 }, [0xed] = { PK_ADDS, 2 }, [0xdc] = { PK_ADDUS, 1 }, [0xdd] = { PK_ADDUS, 2 },
    [0xf8] = { PK_SUB, 1 }, [0xf9] = { PK_SUB, 2 }, [0xfa] = { PK_SUB, 4 }, [0xfb] = { PK_SUB, 8 },
    [0xe8] = { PK_SUBS, 1 }, [0xe9] = { PK_SUBS, 2 }, [0xd8] = { PK_SUBUS, 1 }, [0xd9] = { PK_SUBUS, 2 },
    [0x74] = { PK_CMPEQ, 1 }, [0x75] = { PK_CMPEQ, 2 }, [0x76] = { PK_CMPEQ, 4 },
    [0x64] = { PK_CMPGT, 1 }, [0x65] = { PK_CMPGT, 2 }, [0x66] = { PK_CMPGT, 4 },
    [0xdb] = { PK_AND, 8 }, [0xdf] = { PK_ANDN, 8 }, [0xeb] = { PK_OR, 8 }, [0xef] = { PK_XOR, 8 },
    [0xd5] = { PK_MULLO, 2 }, [0xe5] = { PK_MULHS, 2 }, [0xe4] = { PK_MULHU, 2 },
    [0xe0] = { PK_AVG, 1 }, [0xe3] = { PK_AVG, 2 },
    [0xda] = { PK_MINU, 1 }, [0xde] = { PK_MAXU, 1 }, [0xea] = { PK_MINS, 2 }, [0xee] = { PK_MAXS, 2 },
};

static uint64_t lane_op(unsigned kind, unsigned es, uint64_t a, uint64_t b)
{
    int64_t sa = sext(a, es), sb = sext(b, es);
    uint64_t m = size_mask(es);
    switch (kind) {
    case PK_ADD: return (a + b) & m;
    case PK_ADDS: return sat_s(sa + sb, es);
    case PK_ADDUS: return sat_u((int64_t)(a + b), es);
    case PK_SUB: return (a - b) & m;
    case PK_SUBS: return sat_s(sa - sb, es);
    case PK_SUBUS: return sat_u((int64_t)a - (int64_t)b, es);
    case PK_CMPEQ: return a == b ? m : 0;
    case PK_CMPGT: return sa > sb ? m : 0;
    case PK_AND: return a & b;
    case PK_ANDN: return ~a & b & m;
    case PK_OR: return a | b;
    case PK_XOR: return a ^ b;
    case PK_MULLO: return (uint64_t)(sa * sb) & m;
    case PK_MULHS: return (uint64_t)((sa * sb) >> 16) & m;
    case PK_MULHU: return ((a * b) >> 16) & m;
    case PK_AVG: return (a + b + 1) >> 1;
    case PK_MINU: return a < b ? a : b;
    case PK_MAXU: return a > b ? a : b;
    case PK_MINS: return sa < sb ? a : b;
    default: return sa > sb ? a : b;
    }
}

/* The wrapping and bitwise forms are most of what kernels run (crypto,
 * checksums, string routines): one straight loop per form, which the
 * compiler can turn into host SIMD, instead of a switch per lane. */
typedef void lanes_fn(uint8_t *d, const uint8_t *s, unsigned n);
#define LANES(name, T, expr)                                    \
    static void name(uint8_t *d, const uint8_t *s, unsigned n) \
    {                                                           \
        for (unsigned i = 0; i < n; i += sizeof(T)) {           \
            T a, b, r;                                          \
            memcpy(&a, d + i, sizeof a);                        \
            memcpy(&b, s + i, sizeof b);                        \
            r = (T)(expr);                                      \
            memcpy(d + i, &r, sizeof r);                        \
        }                                                       \
    }
LANES(add8, uint8_t, a + b)
LANES(add16, uint16_t, a + b)
LANES(add32, uint32_t, a + b)
LANES(add64, uint64_t, a + b)
LANES(sub8, uint8_t, a - b)
LANES(sub16, uint16_t, a - b)
LANES(sub32, uint32_t, a - b)
LANES(sub64, uint64_t, a - b)
LANES(cmpeq8, uint8_t, a == b ? 0xffu : 0)
LANES(cmpeq16, uint16_t, a == b ? 0xffffu : 0)
LANES(cmpeq32, uint32_t, a == b ? 0xffffffffu : 0)
LANES(cmpgt8, int8_t, a > b ? -1 : 0)
LANES(cmpgt16, int16_t, a > b ? -1 : 0)
LANES(cmpgt32, int32_t, a > b ? -1 : 0)
LANES(and64, uint64_t, a & b)
LANES(andn64, uint64_t, ~a & b)
LANES(or64, uint64_t, a | b)
LANES(xor64, uint64_t, a ^ b)
LANES(mullo16, uint16_t, (uint32_t)a * b)

static lanes_fn *const fast_lanes[256] = {
    [0xfc] = add8, [0xfd] = add16, [0xfe] = add32, [0xd4] = add64,
    [0xf8] = sub8, [0xf9] = sub16, [0xfa] = sub32, [0xfb] = sub64,
    [0x74] = cmpeq8, [0x75] = cmpeq16, [0x76] = cmpeq32,
    [0x64] = cmpgt8, [0x65] = cmpgt16, [0x66] = cmpgt32,
    [0xdb] = and64, [0xdf] = andn64, [0xeb] = or64, [0xef] = xor64,
    [0xd5] = mullo16,
};

static void op_pelem(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    lanes_fn *fast = fast_lanes[in->op & 0xff];
    if (fast) {
        fast(v.d, v.s, v.n);
    } else {
        unsigned kind = ptab[in->op & 0xff].kind, es = ptab[in->op & 0xff].es;
        for (unsigned i = 0; i < v.n; i += es)
            putl(v.d + i, es, lane_op(kind, es, getl(v.d + i, es), getl(v.s + i, es)));
    }
    vop_store(cpu, in, &v);
}

/* PMULUDQ (0F F4): low dwords of each qword -> 64-bit products. */
static void op_pmuludq(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    for (unsigned i = 0; i < v.n; i += 8)
        putl(v.d + i, 8, getl(v.d + i, 4) * getl(v.s + i, 4));
    vop_store(cpu, in, &v);
}

/* PMADDWD (0F F5) */
static void op_pmaddwd(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    for (unsigned i = 0; i < v.n; i += 4) {
        int64_t p0 = sext(getl(v.d + i, 2), 2) * sext(getl(v.s + i, 2), 2);
        int64_t p1 = sext(getl(v.d + i + 2, 2), 2) * sext(getl(v.s + i + 2, 2), 2);
        putl(v.d + i, 4, (uint64_t)(p0 + p1) & 0xffffffffu);
    }
    vop_store(cpu, in, &v);
}

/* PSADBW (0F F6): per qword, the sum of absolute byte differences. */
static void op_psadbw(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    for (unsigned i = 0; i < v.n; i += 8) {
        uint64_t sum = 0;
        for (unsigned j = 0; j < 8; j++)
            sum += v.d[i + j] > v.s[i + j] ? v.d[i + j] - v.s[i + j] : v.s[i + j] - v.d[i + j];
        putl(v.d + i, 8, sum);
    }
    vop_store(cpu, in, &v);
}

/* --- shifts ------------------------------------------------------------- */
enum { SH_SRL, SH_SRA, SH_SLL };

static void shift_lanes(struct vop *v, unsigned kind, unsigned es, uint64_t count)
{
    unsigned bits = es * 8;
    for (unsigned i = 0; i < v->n; i += es) {
        uint64_t a = getl(v->d + i, es), r;
        if (kind == SH_SRA) {
            unsigned c = count >= bits ? bits - 1 : (unsigned)count;
            r = (uint64_t)(sext(a, es) >> c) & size_mask(es);
        } else if (count >= bits) {
            r = 0;
        } else {
            r = kind == SH_SRL ? a >> count : (a << count) & size_mask(es);
        }
        putl(v->d + i, es, r);
    }
}

/* PSRLW/D/Q PSRAW/D PSLLW/D/Q by mm/xmm/m (0F D1-D3, E1-E2, F1-F3) */
static void op_pshift_reg(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    unsigned op = in->op & 0xff;
    unsigned kind = op >= 0xf1 ? SH_SLL : op >= 0xe1 ? SH_SRA : SH_SRL;
    unsigned es = 1u << (op & 3);  /* 1 -> 2, 2 -> 4, 3 -> 8 */
    shift_lanes(&v, kind, es, getl(v.s, 8));
    vop_store(cpu, in, &v);
}

/* Groups 0F 71/72/73 ib on the rm register: /2 SRL, /4 SRA, /6 SLL;
 * 73 /3 PSRLDQ, /7 PSLLDQ (XMM only). */
static void op_pshift_imm(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    struct insn r = *in;
    r.reg = in->rm;  /* the destination is the rm register */
    if (sse_is_xmm(in)) {
        fpu_check_sse(cpu);
        memcpy(v.d, xreg(cpu, r.reg)->b, 16);
        v.n = 16;
    } else {
        fpu_enter_mmx(cpu);
        uint64_t d = mmx_get(cpu, r.reg);
        memcpy(v.d, &d, 8);
        v.n = 8;
    }
    unsigned op = in->op & 0xff, g = in->reg & 7, count = (unsigned)in->imm & 0xff;
    if (op == 0x73 && (g == 3 || g == 7)) {
        uint8_t t[16] = { 0 };
        unsigned c = count > 16 ? 16 : count;
        for (unsigned i = 0; i < 16; i++) {
            if (g == 3 && i + c < 16)
                t[i] = v.d[i + c];
            if (g == 7 && i >= c)
                t[i] = v.d[i - c];
        }
        memcpy(v.d, t, 16);
    } else {
        unsigned kind = g == 2 ? SH_SRL : g == 4 ? SH_SRA : SH_SLL;
        shift_lanes(&v, kind, 1u << (op - 0x70), count);
    }
    vop_store(cpu, &r, &v);
}

/* --- pack / unpack / shuffle ------------------------------------------------- */
/* PACKSSWB (63), PACKUSWB (67), PACKSSDW (6B) */
static void op_pack(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    vop_load(cpu, in, &v, 8);
    unsigned op = in->op & 0xff, es = op == 0x6b ? 4 : 2, oes = es / 2, half = v.n / es;
    uint8_t t[16];
    for (unsigned i = 0; i < 2 * half; i++) {
        const uint8_t *src = i < half ? v.d : v.s;
        int64_t x = sext(getl(src + (i % half) * es, es), es);
        putl(t + i * oes, oes, op == 0x67 ? sat_u(x, oes) : sat_s(x, oes));
    }
    memcpy(v.d, t, v.n);
    vop_store(cpu, in, &v);
}

/* PUNPCKLBW/WD/DQ (60-62), PUNPCKHBW/WD/DQ (68-6A), PUNPCKLQDQ/HQDQ (66 6C/6D) */
static void op_punpck(struct cpu *cpu, const struct insn *in)
{
    struct vop v;
    unsigned op = in->op & 0xff;
    bool high = op >= 0x68 && op != 0x6c;
    vop_load(cpu, in, &v, high ? 8 : 4);
    unsigned es = op >= 0x6c ? 8 : 1u << (op & 3);
    unsigned base = high ? v.n / 2 : 0;
    uint8_t t[16];
    for (unsigned i = 0; i < v.n / 2; i += es) {
        memcpy(t + 2 * i, v.d + base + i, es);
        memcpy(t + 2 * i + es, v.s + base + i, es);
    }
    memcpy(v.d, t, v.n);
    vop_store(cpu, in, &v);
}

/* PSHUFW (0F 70), PSHUFD (66), PSHUFHW (F3), PSHUFLW (F2) */
static void op_pshuf(struct cpu *cpu, const struct insn *in)
{
    unsigned imm = (unsigned)in->imm;
    if (!in->rep && !in->pfx66) {
        fpu_check_mmx(cpu);
        uint64_t s = mmx_read_src(cpu, in), r = 0;
        fpu_mmx_state(cpu);
        for (unsigned i = 0; i < 4; i++)
            r |= ((s >> (16 * ((imm >> (2 * i)) & 3))) & 0xffff) << (16 * i);
        mmx_set(cpu, in->reg, r);
        return;
    }
    fpu_check_sse(cpu);
    xmm_t s, r;
    sse_read128(cpu, in, &s, true);
    r = s;
    if (in->rep == PFX_REP || in->rep == PFX_REPNE) {
        unsigned b = in->rep == PFX_REP ? 4 : 0;
        for (unsigned i = 0; i < 4; i++)
            r.w[b + i] = s.w[b + ((imm >> (2 * i)) & 3)];
    } else {
        for (unsigned i = 0; i < 4; i++)
            r.d[i] = s.d[(imm >> (2 * i)) & 3];
    }
    *xreg(cpu, in->reg) = r;
}

/* PINSRW (0F C4): word from r32/m16 into lane imm. */
static void op_pinsrw(struct cpu *cpu, const struct insn *in)
{
    bool x = sse_is_xmm(in);
    if (x)
        fpu_check_sse(cpu);
    else
        fpu_check_mmx(cpu);
    uint16_t w = (uint16_t)rm_read(cpu, in, 2);
    if (x) {
        xreg(cpu, in->reg)->w[in->imm & 7] = w;
    } else {
        fpu_mmx_state(cpu);
        unsigned sh = 16 * (in->imm & 3);
        mmx_set(cpu, in->reg, (mmx_get(cpu, in->reg) & ~(0xffffull << sh)) | ((uint64_t)w << sh));
    }
}

/* PEXTRW (0F C5): lane imm into r32 (zero-extended). */
static void op_pextrw(struct cpu *cpu, const struct insn *in)
{
    uint64_t w;
    if (sse_is_xmm(in)) {
        fpu_check_sse(cpu);
        w = xreg(cpu, in->rm)->w[in->imm & 7];
    } else {
        fpu_enter_mmx(cpu);
        w = (mmx_get(cpu, in->rm) >> (16 * (in->imm & 3))) & 0xffff;
    }
    greg_write(cpu, in, in->reg, in->opsize == 8 ? 8 : 4, w);
}

/* PMOVMSKB (0F D7): byte sign bits into r32. */
static void op_pmovmskb(struct cpu *cpu, const struct insn *in)
{
    uint8_t b[16];
    unsigned n;
    if (sse_is_xmm(in)) {
        fpu_check_sse(cpu);
        memcpy(b, xreg(cpu, in->rm)->b, 16);
        n = 16;
    } else {
        fpu_enter_mmx(cpu);
        uint64_t v = mmx_get(cpu, in->rm);
        memcpy(b, &v, 8);
        n = 8;
    }
    uint64_t m = 0;
    for (unsigned i = 0; i < n; i++)
        m |= (uint64_t)(b[i] >> 7) << i;
    greg_write(cpu, in, in->reg, in->opsize == 8 ? 8 : 4, m);
}

/* --- moves ------------------------------------------------------------------ */
/* MOVD/MOVQ mm/xmm, r/m32/64 (0F 6E, 66 0F 6E): zero-extended. */
static void op_movd_load(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize == 8 ? 8 : 4;
    if (sse_is_xmm(in)) {
        fpu_check_sse(cpu);
        uint64_t v = rm_read(cpu, in, size);
        xmm_t *d = xreg(cpu, in->reg);
        d->q[0] = v;
        d->q[1] = 0;
        return;
    }
    fpu_check_mmx(cpu);
    uint64_t v = rm_read(cpu, in, size);
    fpu_mmx_state(cpu);
    mmx_set(cpu, in->reg, v);
}

/* MOVD/MOVQ r/m32/64, mm/xmm (0F 7E, 66 0F 7E) */
static void op_movd_store(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->opsize == 8 ? 8 : 4;
    uint64_t v;
    if (sse_is_xmm(in)) {
        fpu_check_sse(cpu);
        v = xreg(cpu, in->reg)->q[0];
    } else {
        fpu_check_mmx(cpu);
        v = mmx_get(cpu, in->reg);
    }
    rm_write(cpu, in, size, v & size_mask(size));
    if (!sse_is_xmm(in))
        fpu_mmx_state(cpu);
}

/* MOVQ mm, mm/m64 (0F 6F) */
static void op_movq_mm_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_mmx(cpu);
    uint64_t v = mmx_read_src(cpu, in);
    fpu_mmx_state(cpu);
    mmx_set(cpu, in->reg, v);
}

/* MOVQ mm/m64, mm (0F 7F) */
static void op_movq_mm_store(struct cpu *cpu, const struct insn *in)
{
    fpu_check_mmx(cpu);
    uint64_t v = mmx_get(cpu, in->reg);
    if (in->mod == 3)
        mmx_set(cpu, in->rm, v);
    else
        mem_write(cpu, in->seg, insn_ea(cpu, in), 8, v);
    fpu_mmx_state(cpu);
}

/* MOVDQA (66 0F 6F) / MOVDQU (F3 0F 6F) */
static void op_movdq_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t v;
    sse_read128(cpu, in, &v, in->rep != PFX_REP);
    *xreg(cpu, in->reg) = v;
}

/* MOVDQA (66 0F 7F) / MOVDQU (F3 0F 7F) */
static void op_movdq_store(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t v = *xreg(cpu, in->reg);
    if (in->mod == 3)
        *xreg(cpu, in->rm) = v;
    else
        sse_write128(cpu, in, &v, in->rep != PFX_REP);
}

/* MOVQ xmm, xmm/m64 (F3 0F 7E): upper half cleared. */
static void op_movq_xmm_load(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    uint64_t v = sse_read_low(cpu, in, 8);
    xmm_t *d = xreg(cpu, in->reg);
    d->q[0] = v;
    d->q[1] = 0;
}

/* MOVQ xmm/m64, xmm (66 0F D6) */
static void op_movq_xmm_store(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    uint64_t v = xreg(cpu, in->reg)->q[0];
    if (in->mod == 3) {
        xmm_t *d = xreg(cpu, in->rm);
        d->q[0] = v;
        d->q[1] = 0;
    } else {
        mem_write(cpu, in->seg, insn_ea(cpu, in), 8, v);
    }
}

/* MOVQ2DQ xmm, mm (F3 0F D6) / MOVDQ2Q mm, xmm (F2 0F D6) */
static void op_movq2dq(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    fpu_enter_mmx(cpu);
    if (in->rep == PFX_REP) {
        xmm_t *d = xreg(cpu, in->reg);
        d->q[0] = mmx_get(cpu, in->rm);
        d->q[1] = 0;
    } else {
        mmx_set(cpu, in->reg, xreg(cpu, in->rm)->q[0]);
    }
}

/* EMMS (0F 77): every x87 register empty. */
static void op_emms(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    fpu_check_mmx(cpu);
    cpu->s.fpu.ftw_full = 0xffff;
}

#define M OPF_MODRM
#define R(op, pfx, fl, fn, name) { OP0F | (op), -1, -1, pfx, M | (fl), fn, name }
#define R2(op, fn, name) R(op, PFX_NONE, 0, fn, name), R(op, PFX_66, 0, fn, name)
#define G(op, reg, pfx, name) { OP0F | (op), reg, -1, pfx, M | OPF_REG | OPF_IMM8U, op_pshift_imm, name }
static const struct op_def sse_int_ops[] = {
    R2(0xfc, op_pelem, "paddb"), R2(0xfd, op_pelem, "paddw"), R2(0xfe, op_pelem, "paddd"),
    R2(0xd4, op_pelem, "paddq"), R2(0xec, op_pelem, "paddsb"), R2(0xed, op_pelem, "paddsw"),
    R2(0xdc, op_pelem, "paddusb"), R2(0xdd, op_pelem, "paddusw"),
    R2(0xf8, op_pelem, "psubb"), R2(0xf9, op_pelem, "psubw"), R2(0xfa, op_pelem, "psubd"),
    R2(0xfb, op_pelem, "psubq"), R2(0xe8, op_pelem, "psubsb"), R2(0xe9, op_pelem, "psubsw"),
    R2(0xd8, op_pelem, "psubusb"), R2(0xd9, op_pelem, "psubusw"),
    R2(0x74, op_pelem, "pcmpeqb"), R2(0x75, op_pelem, "pcmpeqw"), R2(0x76, op_pelem, "pcmpeqd"),
    R2(0x64, op_pelem, "pcmpgtb"), R2(0x65, op_pelem, "pcmpgtw"), R2(0x66, op_pelem, "pcmpgtd"),
    R2(0xdb, op_pelem, "pand"), R2(0xdf, op_pelem, "pandn"), R2(0xeb, op_pelem, "por"),
    R2(0xef, op_pelem, "pxor"), R2(0xd5, op_pelem, "pmullw"), R2(0xe5, op_pelem, "pmulhw"),
    R2(0xe4, op_pelem, "pmulhuw"), R2(0xe0, op_pelem, "pavgb"), R2(0xe3, op_pelem, "pavgw"),
    R2(0xda, op_pelem, "pminub"), R2(0xde, op_pelem, "pmaxub"), R2(0xea, op_pelem, "pminsw"),
    R2(0xee, op_pelem, "pmaxsw"),
    R2(0xf4, op_pmuludq, "pmuludq"), R2(0xf5, op_pmaddwd, "pmaddwd"), R2(0xf6, op_psadbw, "psadbw"),
    R2(0xd1, op_pshift_reg, "psrlw"), R2(0xd2, op_pshift_reg, "psrld"), R2(0xd3, op_pshift_reg, "psrlq"),
    R2(0xe1, op_pshift_reg, "psraw"), R2(0xe2, op_pshift_reg, "psrad"),
    R2(0xf1, op_pshift_reg, "psllw"), R2(0xf2, op_pshift_reg, "pslld"), R2(0xf3, op_pshift_reg, "psllq"),
    G(0x71, 2, PFX_NONE, "psrlw"), G(0x71, 4, PFX_NONE, "psraw"), G(0x71, 6, PFX_NONE, "psllw"),
    G(0x71, 2, PFX_66, "psrlw"), G(0x71, 4, PFX_66, "psraw"), G(0x71, 6, PFX_66, "psllw"),
    G(0x72, 2, PFX_NONE, "psrld"), G(0x72, 4, PFX_NONE, "psrad"), G(0x72, 6, PFX_NONE, "pslld"),
    G(0x72, 2, PFX_66, "psrld"), G(0x72, 4, PFX_66, "psrad"), G(0x72, 6, PFX_66, "pslld"),
    G(0x73, 2, PFX_NONE, "psrlq"), G(0x73, 6, PFX_NONE, "psllq"),
    G(0x73, 2, PFX_66, "psrlq"), G(0x73, 3, PFX_66, "psrldq"), G(0x73, 6, PFX_66, "psllq"),
    G(0x73, 7, PFX_66, "pslldq"),
    R2(0x63, op_pack, "packsswb"), R2(0x67, op_pack, "packuswb"), R2(0x6b, op_pack, "packssdw"),
    R2(0x60, op_punpck, "punpcklbw"), R2(0x61, op_punpck, "punpcklwd"), R2(0x62, op_punpck, "punpckldq"),
    R2(0x68, op_punpck, "punpckhbw"), R2(0x69, op_punpck, "punpckhwd"), R2(0x6a, op_punpck, "punpckhdq"),
    R(0x6c, PFX_66, 0, op_punpck, "punpcklqdq"), R(0x6d, PFX_66, 0, op_punpck, "punpckhqdq"),
    R(0x70, PFX_NONE, OPF_IMM8U, op_pshuf, "pshufw"), R(0x70, PFX_66, OPF_IMM8U, op_pshuf, "pshufd"),
    R(0x70, PFX_F3, OPF_IMM8U, op_pshuf, "pshufhw"), R(0x70, PFX_F2, OPF_IMM8U, op_pshuf, "pshuflw"),
    R(0xc4, PFX_NONE, OPF_IMM8U, op_pinsrw, "pinsrw"), R(0xc4, PFX_66, OPF_IMM8U, op_pinsrw, "pinsrw"),
    R(0xc5, PFX_NONE, OPF_REG | OPF_IMM8U, op_pextrw, "pextrw"),
    R(0xc5, PFX_66, OPF_REG | OPF_IMM8U, op_pextrw, "pextrw"),
    R(0xd7, PFX_NONE, OPF_REG, op_pmovmskb, "pmovmskb"), R(0xd7, PFX_66, OPF_REG, op_pmovmskb, "pmovmskb"),
    R(0x6e, PFX_NONE, 0, op_movd_load, "movd"), R(0x6e, PFX_66, 0, op_movd_load, "movd"),
    R(0x7e, PFX_NONE, 0, op_movd_store, "movd"), R(0x7e, PFX_66, 0, op_movd_store, "movd"),
    R(0x6f, PFX_NONE, 0, op_movq_mm_load, "movq"), R(0x7f, PFX_NONE, 0, op_movq_mm_store, "movq"),
    R(0x6f, PFX_66, 0, op_movdq_load, "movdqa"), R(0x6f, PFX_F3, 0, op_movdq_load, "movdqu"),
    R(0x7f, PFX_66, 0, op_movdq_store, "movdqa"), R(0x7f, PFX_F3, 0, op_movdq_store, "movdqu"),
    R(0x7e, PFX_F3, 0, op_movq_xmm_load, "movq"), R(0xd6, PFX_66, 0, op_movq_xmm_store, "movq"),
    R(0xd6, PFX_F3, OPF_REG, op_movq2dq, "movq2dq"), R(0xd6, PFX_F2, OPF_REG, op_movq2dq, "movdq2q"),
    { OP0F | 0x77, -1, -1, PFX_NONE, 0, op_emms, "emms" },
    OPS_END
};
OPS_REGISTER(sse_int_ops);
