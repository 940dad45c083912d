/* SSE/SSE2/SSE3 floating-point arithmetic, comparisons and conversions
 * (SDM Vol. 1 ch. 10-11, Vol. 2 pages of each): ADD SUB MUL DIV SQRT MIN
 * MAX RCP RSQRT (ps ss pd sd), CMPcc, (U)COMISS/SD, the CVT* family,
 * ADDSUBPS/PD, HADD/HSUB.
 *
 * The operations themselves are the host's IEEE float/double arithmetic
 * with the MXCSR rounding mode set through fenv and the result flags read
 * back the same way. Everything where x86 differs from plain IEEE or from
 * other hosts is done here in integers: NaN selection (first source QNaN,
 * SNaN quieting, the default NaN FFC00000), DAZ, FTZ, the denormal flag,
 * exception precedence and the integer-indefinite conversions. */
#include <fenv.h>
#include <float.h>
#include <math.h>

#include "cpu/sse.h"

#if FLT_EVAL_METHOD != 0
#error "SSE emulation needs float/double evaluated at their own precision (FLT_EVAL_METHOD 0)"
#endif

/* Lane formats (IEEE binary32 / binary64). */
struct ffmt {
    unsigned bits;
    uint64_t sign, expm, fracm, qbit;
    uint64_t defnan;  /* QNaN floating-point indefinite (SDM Vol. 1 4.8.3.7) */
};
static const struct ffmt F32 = { 32, 0x80000000u, 0x7f800000u, 0x007fffffu, 0x00400000u, 0xffc00000u };
static const struct ffmt F64 = { 64, 1ull << 63, 0x7ff0000000000000ull, 0x000fffffffffffffull,
                                 1ull << 51, 0xfff8000000000000ull };

static bool f_nan(const struct ffmt *f, uint64_t v) { return (v & f->expm) == f->expm && (v & f->fracm); }
static bool f_snan(const struct ffmt *f, uint64_t v) { return f_nan(f, v) && !(v & f->qbit); }
static bool f_denorm(const struct ffmt *f, uint64_t v) { return !(v & f->expm) && (v & f->fracm); }
static bool f_zero(const struct ffmt *f, uint64_t v) { return !(v & ~f->sign); }

/* The state of one instruction: MXCSR and the flags raised so far. */
struct fpx {
    uint32_t mxcsr;
    unsigned flags;
    uint32_t host_saved;  /* host MXCSR around a host operation (x86-64 hosts) */
};

static unsigned fpx_rc(const struct fpx *x) { return (x->mxcsr >> MXCSR_RC_SHIFT) & 3; }

/* DAZ: denormal sources read as zero of the same sign (SDM Vol. 1 10.2.3.4). */
static uint64_t daz(const struct fpx *x, const struct ffmt *f, uint64_t v)
{
    if ((x->mxcsr & MXCSR_DAZ) && f_denorm(f, v))
        return v & f->sign;
    return v;
}

/* --- host arithmetic -------------------------------------------------------
 * On x86-64 hosts float/double arithmetic is SSE, so MXCSR itself is set and
 * read (much cheaper than fenv, which also saves the x87 environment);
 * elsewhere fenv does the same job. The asm statements are volatile with a
 * memory clobber, and the operands volatile, so nothing moves across them. */
#if defined(__x86_64__) && !defined(CAIXA_SSE_FENV)  /* CAIXA_SSE_FENV: test the portable path */
#define HOST_MXCSR_KEEP ~(0x6000u | 0x8040u | MXCSR_FLAGS)  /* RC, FZ, DAZ, flags */
#define HOST_MXCSR_MASKED 0x1f80u

static void host_begin(struct fpx *x)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v) : : "memory");
    x->host_saved = v;
    v = (v & HOST_MXCSR_KEEP) | HOST_MXCSR_MASKED | (fpx_rc(x) << MXCSR_RC_SHIFT);
    __asm__ volatile("ldmxcsr %0" : : "m"(v) : "memory");
}

static unsigned host_end(struct fpx *x)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v) : : "memory");
    __asm__ volatile("ldmxcsr %0" : : "m"(x->host_saved) : "memory");
    return v & (MXCSR_IE | MXCSR_ZE | MXCSR_OE | MXCSR_UE | MXCSR_PE);  /* #D is computed here */
}
#else
static const int host_rc[4] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO };

static void host_begin(struct fpx *x)
{
    if (fpx_rc(x))
        fesetround(host_rc[fpx_rc(x)]);
    feclearexcept(FE_ALL_EXCEPT);
}

static unsigned host_end(struct fpx *x)
{
    int fe = fetestexcept(FE_ALL_EXCEPT);
    if (fpx_rc(x))
        fesetround(FE_TONEAREST);
    unsigned f = 0;
    if (fe & FE_INVALID) f |= MXCSR_IE;
    if (fe & FE_DIVBYZERO) f |= MXCSR_ZE;
    if (fe & FE_OVERFLOW) f |= MXCSR_OE;
    if (fe & FE_UNDERFLOW) f |= MXCSR_UE;
    if (fe & FE_INEXACT) f |= MXCSR_PE;
    return f;
}
#endif

enum { K_ADD, K_SUB, K_MUL, K_DIV, K_SQRT, K_MIN, K_MAX, K_RCP, K_RSQRT };

static float u2f(uint64_t v) { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); return f; }
static uint64_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double u2d(uint64_t v) { double d; memcpy(&d, &v, 8); return d; }
static uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* The volatile operands keep the compiler from moving the arithmetic
 * across the fenv calls. */
static uint64_t host_op(int k, const struct ffmt *f, uint64_t a, uint64_t b)
{
    if (f->bits == 32) {
        volatile float x = u2f(a), y = u2f(b), r;
        switch (k) {
        case K_ADD: r = x + y; break;
        case K_SUB: r = x - y; break;
        case K_MUL: r = x * y; break;
        case K_DIV: r = x / y; break;
        default: r = __builtin_sqrtf(y); break;
        }
        return f2u(r);
    }
    volatile double x = u2d(a), y = u2d(b), r;
    switch (k) {
    case K_ADD: r = x + y; break;
    case K_SUB: r = x - y; break;
    case K_MUL: r = x * y; break;
    case K_DIV: r = x / y; break;
    default: r = __builtin_sqrt(y); break;
    }
    return d2u(r);
}

/* Result post-processing: default NaN, underflow and FTZ (SDM Vol. 1
 * 10.2.3.3, 11.5.2.5). */
static uint64_t post(struct fpx *x, const struct ffmt *f, uint64_t r, unsigned hf)
{
    if (f_nan(f, r))
        r = f->defnan;
    if (f_denorm(f, r) || (hf & MXCSR_UE)) {
        bool masked = x->mxcsr & (MXCSR_UE << MXCSR_MASK_SHIFT);
        if (!masked) {
            hf |= MXCSR_UE;           /* unmasked: tiny is enough */
        } else if (x->mxcsr & MXCSR_FZ) {
            r &= f->sign;
            hf |= MXCSR_UE | MXCSR_PE;
        }
    }
    x->flags |= hf;
    return r;
}

/* Quiet NaN result of a NaN source (x86: first source operand's NaN). */
static uint64_t nan_result(struct fpx *x, const struct ffmt *f, bool na, uint64_t a, uint64_t b)
{
    if ((na && f_snan(f, a)) || f_snan(f, b))
        x->flags |= MXCSR_IE;
    return (na ? a : b) | f->qbit;
}

/* With #O or #U unmasked the instruction stops, and #P then says whether
 * the result rounded to the destination precision with an unbounded
 * exponent is inexact (SDM Vol. 1 11.5.2.4/5), which the host's
 * range-limited result cannot tell: the operation is redone in the
 * extended format, whose exponent range holds every float/double result. */
static bool unmasked_range(const struct fpx *x, const struct ffmt *f, uint64_t r, unsigned hf)
{
    unsigned um = ~(x->mxcsr >> MXCSR_MASK_SHIFT) & (MXCSR_OE | MXCSR_UE);
    bool tiny = f_denorm(f, r) || (hf & MXCSR_UE);
    return (hf & MXCSR_OE & um) || (tiny && (um & MXCSR_UE));
}

static fx80 to_ext(const struct ffmt *f, uint64_t v)
{
    struct sf_env t = { SF_RN, 64, 0x3f, 0, false };
    return f->bits == 32 ? f80_from_f32(&t, (uint32_t)v) : f80_from_f64(&t, v);
}

static unsigned exact_pe(const struct fpx *x, int k, const struct ffmt *f, uint64_t a, uint64_t b)
{
    struct sf_env e = { (uint8_t)fpx_rc(x), (uint8_t)(f->bits == 32 ? 24 : 53), 0x3f, 0, false };
    fx80 ea = to_ext(f, a), eb = to_ext(f, b);
    switch (k) {
    case K_ADD: f80_add(&e, ea, eb); break;
    case K_SUB: f80_sub(&e, ea, eb); break;
    case K_MUL: f80_mul(&e, ea, eb); break;
    case K_DIV: f80_div(&e, ea, eb); break;
    default: f80_sqrt(&e, eb); break;
    }
    return (e.flags & SF_PE) ? MXCSR_PE : 0;
}

/* Two-operand arithmetic dst k src (sqrt uses src only). */
static uint64_t fp_arith(struct fpx *x, int k, const struct ffmt *f, uint64_t a, uint64_t b)
{
    bool unary = k == K_SQRT;
    a = daz(x, f, a);
    b = daz(x, f, b);
    bool na = !unary && f_nan(f, a);
    if (na || f_nan(f, b))
        return nan_result(x, f, na, a, b);
    unsigned de = ((!unary && f_denorm(f, a)) || f_denorm(f, b)) ? MXCSR_DE : 0;
    host_begin(x);
    uint64_t r = host_op(k, f, a, b);
    unsigned hf = host_end(x);
    if (hf & (MXCSR_IE | MXCSR_ZE))
        de = 0;  /* #I and #Z take precedence over #D (SDM Vol. 1 11.5.2) */
    if (unmasked_range(x, f, r, hf))
        hf = (hf & ~(unsigned)MXCSR_PE) | exact_pe(x, k, f, a, b);
    return post(x, f, r, hf | de);
}

/* Signed-magnitude order of two non-NaN values: -1, 0, 1. */
static int f_order(const struct ffmt *f, uint64_t a, uint64_t b)
{
    if (f_zero(f, a) && f_zero(f, b))
        return 0;
    uint64_t ka = (a & f->sign) ? ~a & (f->sign | (f->sign - 1)) : a | f->sign;
    uint64_t kb = (b & f->sign) ? ~b & (f->sign | (f->sign - 1)) : b | f->sign;
    return ka < kb ? -1 : ka > kb;
}

/* MIN/MAX: any NaN or both zeros -> the second (source) operand. */
static uint64_t fp_minmax(struct fpx *x, bool max, const struct ffmt *f, uint64_t a, uint64_t b)
{
    a = daz(x, f, a);
    b = daz(x, f, b);
    if (f_nan(f, a) || f_nan(f, b)) {
        x->flags |= MXCSR_IE;
        return b;
    }
    if (f_denorm(f, a) || f_denorm(f, b))
        x->flags |= MXCSR_DE;
    int o = f_order(f, a, b);
    if (o == 0)
        return b;
    return (max ? o > 0 : o < 0) ? a : b;
}

/* RCPPS/RSQRTPS: 12-bit approximations; here the exact value rounded to 12
 * significant bits, relative error <= 2^-12 (the SDM bound is 1.5 * 2^-12).
 * Denormal sources count as zero and tiny results flush to zero, as
 * Intel's tables do; no flags are raised. */
static uint64_t fp_approx(bool rsqrt, uint64_t a)
{
    const struct ffmt *f = &F32;
    uint32_t s = (uint32_t)(a & f->sign);
    if (f_nan(f, a))
        return a | f->qbit;
    if (f_zero(f, a) || f_denorm(f, a))
        return s | f->expm;
    if (rsqrt && s)
        return f->defnan;
    if ((a & ~f->sign) == f->expm)
        return s;
    double v = u2f(a);
    double r = rsqrt ? 1.0 / sqrt(v) : 1.0 / v;
    int e;
    double m = frexp(fabs(r), &e);
    m = floor(m * 4096.0 + 0.5) / 4096.0;
    float fr = (float)ldexp(m, e);
    if (fr < FLT_MIN)
        return s;
    return s | f2u(fr);
}

/* CMPccPS/PD/SS/SD predicates 0-7 (SDM Vol. 2 CMPPS table 3-7). */
static uint64_t fp_cmp(struct fpx *x, unsigned pred, const struct ffmt *f, uint64_t a, uint64_t b)
{
    a = daz(x, f, a);
    b = daz(x, f, b);
    bool un = f_nan(f, a) || f_nan(f, b);
    bool signaling = pred == 1 || pred == 2 || pred == 5 || pred == 6;
    if (f_snan(f, a) || f_snan(f, b) || (un && signaling))
        x->flags |= MXCSR_IE;
    else if (!un && (f_denorm(f, a) || f_denorm(f, b)))
        x->flags |= MXCSR_DE;
    int o = un ? 2 : f_order(f, a, b);
    bool r;
    switch (pred & 7) {
    case 0: r = o == 0; break;
    case 1: r = o == -1; break;
    case 2: r = o == -1 || o == 0; break;
    case 3: r = un; break;
    case 4: r = o != 0; break;
    case 5: r = o != -1; break;
    case 6: r = !(o == -1 || o == 0); break;
    default: r = !un; break;
    }
    return r ? (f->sign | (f->sign - 1)) : 0;
}

/* float <-> double (CVTSS2SD, CVTSD2SS and the packed forms). */
static uint64_t fp_cvt(struct fpx *x, const struct ffmt *from, uint64_t a)
{
    a = daz(x, from, a);
    bool up = from->bits == 32;
    const struct ffmt *to = up ? &F64 : &F32;
    if (f_nan(from, a)) {
        if (f_snan(from, a))
            x->flags |= MXCSR_IE;
        uint64_t fr = a & from->fracm;
        fr = up ? fr << 29 : fr >> 29;
        return ((a & from->sign) ? to->sign : 0) | to->expm | to->qbit | fr;
    }
    unsigned de = f_denorm(from, a) ? MXCSR_DE : 0;
    host_begin(x);
    uint64_t r;
    if (up) {
        volatile float v = u2f(a);
        volatile double d = v;
        r = d2u(d);
    } else {
        volatile double v = u2d(a);
        volatile float fl = (float)v;
        r = f2u(fl);
    }
    unsigned hf = host_end(x);
    if (!up && unmasked_range(x, to, r, hf)) {
        /* the double rounded to 24 bits, unbounded exponent (see exact_pe) */
        struct sf_env e = { (uint8_t)fpx_rc(x), 24, 0x3f, 0, false };
        f80_mul(&e, to_ext(from, a), f80_make(false, F80_BIAS, 1ull << 63));
        hf = (hf & ~(unsigned)MXCSR_PE) | ((e.flags & SF_PE) ? MXCSR_PE : 0);
    }
    return post(x, to, r, hf | de);
}

/* Integer -> float/double with the MXCSR rounding. */
static uint64_t fp_from_int(struct fpx *x, const struct ffmt *to, int64_t v)
{
    host_begin(x);
    uint64_t r;
    volatile int64_t iv = v;
    if (to->bits == 32) {
        volatile float fl = (float)iv;
        r = f2u(fl);
    } else {
        volatile double d = (double)iv;
        r = d2u(d);
    }
    x->flags |= host_end(x) & MXCSR_PE;
    return r;
}

/* Float/double -> int32/int64: out of range or NaN give #I and the integer
 * indefinite (SDM Vol. 1 4.8.3.7); done exactly through the extended format. */
static int64_t fp_to_int(struct fpx *x, const struct ffmt *f, uint64_t a, unsigned bytes, bool trunc)
{
    a = daz(x, f, a);
    struct sf_env t = { SF_RN, 64, 0x3f, 0, false };
    fx80 v = f->bits == 32 ? f80_from_f32(&t, (uint32_t)a) : f80_from_f64(&t, a);
    struct sf_env e = { (uint8_t)fpx_rc(x), 64, 0x3f, 0, false };
    int64_t r = f80_to_int(&e, v, bytes, trunc);
    x->flags |= e.flags & (SF_IE | SF_PE);
    return r;
}

/* --- lanes ------------------------------------------------------------------ */
static uint64_t lane(const xmm_t *v, bool dbl, unsigned i) { return dbl ? v->q[i] : v->d[i]; }
static void set_lane(xmm_t *v, bool dbl, unsigned i, uint64_t x)
{
    if (dbl)
        v->q[i] = x;
    else
        v->d[i] = (uint32_t)x;
}

/* Prefix -> form: ps (none), pd (66), ss (F3), sd (F2). */
static bool form_dbl(const struct insn *in) { return in->rep == PFX_REPNE || (!in->rep && in->pfx66); }
static bool form_scalar(const struct insn *in) { return in->rep != 0; }

/* Source operand of a ps/pd/ss/sd form. */
static void read_src(struct cpu *cpu, const struct insn *in, xmm_t *s)
{
    if (form_scalar(in))
        s->q[0] = sse_read_low(cpu, in, form_dbl(in) ? 8 : 4);
    else
        sse_read128(cpu, in, s, true);
}

static void finish(struct cpu *cpu, const struct insn *in, const struct fpx *x, const xmm_t *r)
{
    sse_raise_flags(cpu, x->flags);
    *xreg(cpu, in->reg) = *r;
}

/* 0F 51-53 58-59 5C-5F: SQRT RSQRT RCP ADD MUL SUB MIN DIV MAX */
static void op_fp_arith(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    bool dbl = form_dbl(in), scalar = form_scalar(in);
    const struct ffmt *f = dbl ? &F64 : &F32;
    xmm_t s, r = *xreg(cpu, in->reg);
    read_src(cpu, in, &s);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    unsigned n = scalar ? 1 : dbl ? 2 : 4;
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = lane(&r, dbl, i), b = lane(&s, dbl, i), v;
        switch (in->op & 0xff) {
        case 0x51: v = fp_arith(&x, K_SQRT, f, a, b); break;
        case 0x52: v = fp_approx(true, b); break;
        case 0x53: v = fp_approx(false, b); break;
        case 0x58: v = fp_arith(&x, K_ADD, f, a, b); break;
        case 0x59: v = fp_arith(&x, K_MUL, f, a, b); break;
        case 0x5c: v = fp_arith(&x, K_SUB, f, a, b); break;
        case 0x5d: v = fp_minmax(&x, false, f, a, b); break;
        case 0x5e: v = fp_arith(&x, K_DIV, f, a, b); break;
        default: v = fp_minmax(&x, true, f, a, b); break;
        }
        set_lane(&r, dbl, i, v);
    }
    finish(cpu, in, &x, &r);
}

/* CMPPS/PD/SS/SD (0F C2 ib) */
static void op_fp_cmp(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    bool dbl = form_dbl(in), scalar = form_scalar(in);
    const struct ffmt *f = dbl ? &F64 : &F32;
    xmm_t s, r = *xreg(cpu, in->reg);
    read_src(cpu, in, &s);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    unsigned n = scalar ? 1 : dbl ? 2 : 4;
    for (unsigned i = 0; i < n; i++)
        set_lane(&r, dbl, i, fp_cmp(&x, (unsigned)in->imm & 7, f, lane(&r, dbl, i), lane(&s, dbl, i)));
    finish(cpu, in, &x, &r);
}

/* ADDSUBPS (F2 0F D0), ADDSUBPD (66 0F D0) */
static void op_addsub(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    bool dbl = !in->rep;
    const struct ffmt *f = dbl ? &F64 : &F32;
    xmm_t s, r = *xreg(cpu, in->reg);
    sse_read128(cpu, in, &s, true);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    for (unsigned i = 0; i < (dbl ? 2u : 4u); i++)
        set_lane(&r, dbl, i, fp_arith(&x, (i & 1) ? K_ADD : K_SUB, f, lane(&r, dbl, i), lane(&s, dbl, i)));
    finish(cpu, in, &x, &r);
}

/* HADDPS/HSUBPS (F2 0F 7C/7D), HADDPD/HSUBPD (66 0F 7C/7D) */
static void op_hadd(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    bool dbl = !in->rep;
    int k = (in->op & 0xff) == 0x7c ? K_ADD : K_SUB;
    const struct ffmt *f = dbl ? &F64 : &F32;
    xmm_t s, d = *xreg(cpu, in->reg), r;
    sse_read128(cpu, in, &s, true);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    unsigned half = dbl ? 1 : 2;
    for (unsigned i = 0; i < 2 * half; i++) {
        const xmm_t *v = i < half ? &d : &s;
        unsigned j = (i % half) * 2;
        set_lane(&r, dbl, i, fp_arith(&x, k, f, lane(v, dbl, j), lane(v, dbl, j + 1)));
    }
    finish(cpu, in, &x, &r);
}

/* COMISS/COMISD (0F 2F), UCOMISS/UCOMISD (0F 2E): ZF PF CF; OF SF AF cleared. */
static void op_comis(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    bool dbl = in->pfx66;
    const struct ffmt *f = dbl ? &F64 : &F32;
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    uint64_t b = daz(&x, f, sse_read_low(cpu, in, dbl ? 8 : 4));
    uint64_t a = daz(&x, f, xreg(cpu, in->reg)->q[0] & size_mask(dbl ? 8 : 4));
    bool un = f_nan(f, a) || f_nan(f, b);
    bool quiet = (in->op & 0xff) == 0x2e;
    if (f_snan(f, a) || f_snan(f, b) || (un && !quiet))
        x.flags |= MXCSR_IE;
    else if (!un && (f_denorm(f, a) || f_denorm(f, b)))
        x.flags |= MXCSR_DE;
    sse_raise_flags(cpu, x.flags);
    uint32_t fl;
    if (un) {
        fl = FL_ZF | FL_PF | FL_CF;
    } else {
        int o = f_order(f, a, b);
        fl = o == 0 ? FL_ZF : o < 0 ? FL_CF : 0;
    }
    flags_write(cpu, FL_ARITH, fl);
}

/* --- conversions ------------------------------------------------------------ */
/* CVTPS2PD (0F 5A), CVTPD2PS (66 0F 5A), CVTSS2SD (F3), CVTSD2SS (F2) */
static void op_cvt_fp(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, r = *xreg(cpu, in->reg);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    if (in->rep == PFX_REP) {           /* ss -> sd */
        r.q[0] = fp_cvt(&x, &F32, sse_read_low(cpu, in, 4));
    } else if (in->rep == PFX_REPNE) {  /* sd -> ss */
        r.d[0] = (uint32_t)fp_cvt(&x, &F64, sse_read_low(cpu, in, 8));
    } else if (in->pfx66) {             /* pd -> ps */
        sse_read128(cpu, in, &s, true);
        r.d[0] = (uint32_t)fp_cvt(&x, &F64, s.q[0]);
        r.d[1] = (uint32_t)fp_cvt(&x, &F64, s.q[1]);
        r.q[1] = 0;
    } else {                            /* ps -> pd */
        uint64_t v = sse_read_low(cpu, in, 8);
        r.q[0] = fp_cvt(&x, &F32, v & 0xffffffffu);
        r.q[1] = fp_cvt(&x, &F32, v >> 32);
    }
    finish(cpu, in, &x, &r);
}

/* CVTDQ2PS (0F 5B), CVTPS2DQ (66 0F 5B), CVTTPS2DQ (F3 0F 5B) */
static void op_cvt_5b(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, r;
    sse_read128(cpu, in, &s, true);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    for (unsigned i = 0; i < 4; i++) {
        if (!in->rep && !in->pfx66)
            r.d[i] = (uint32_t)fp_from_int(&x, &F32, (int32_t)s.d[i]);
        else
            r.d[i] = (uint32_t)fp_to_int(&x, &F32, s.d[i], 4, in->rep == PFX_REP);
    }
    finish(cpu, in, &x, &r);
}

/* CVTTPD2DQ (66 0F E6), CVTDQ2PD (F3 0F E6), CVTPD2DQ (F2 0F E6) */
static void op_cvt_e6(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t s, r;
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    if (in->rep == PFX_REP) {
        uint64_t v = sse_read_low(cpu, in, 8);
        r.q[0] = fp_from_int(&x, &F64, (int32_t)(uint32_t)v);
        r.q[1] = fp_from_int(&x, &F64, (int32_t)(uint32_t)(v >> 32));
    } else {
        sse_read128(cpu, in, &s, true);
        bool trunc = in->rep != PFX_REPNE;
        r.d[0] = (uint32_t)fp_to_int(&x, &F64, s.q[0], 4, trunc);
        r.d[1] = (uint32_t)fp_to_int(&x, &F64, s.q[1], 4, trunc);
        r.q[1] = 0;
    }
    finish(cpu, in, &x, &r);
}

/* CVTPI2PS (0F 2A), CVTPI2PD (66 0F 2A), CVTSI2SS (F3), CVTSI2SD (F2) */
static void op_cvt_2a(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    xmm_t r = *xreg(cpu, in->reg);
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    if (in->rep) {
        unsigned size = in->opsize == 8 ? 8 : 4;
        int64_t v = sext(rm_read(cpu, in, size), size);
        bool dbl = in->rep == PFX_REPNE;
        set_lane(&r, dbl, 0, fp_from_int(&x, dbl ? &F64 : &F32, v));
    } else {
        uint64_t v;
        if (in->mod == 3) {
            fpu_enter_mmx(cpu);
            v = mmx_get(cpu, in->rm);
        } else {
            v = mem_read64(cpu, in->seg, insn_ea(cpu, in));
        }
        bool dbl = in->pfx66;
        for (unsigned i = 0; i < 2; i++)
            set_lane(&r, dbl, i, fp_from_int(&x, dbl ? &F64 : &F32, (int32_t)(uint32_t)(v >> (32 * i))));
    }
    finish(cpu, in, &x, &r);
}

/* CVT(T)PS2PI (0F 2D/2C), CVT(T)PD2PI (66), CVT(T)SS2SI (F3), CVT(T)SD2SI (F2) */
static void op_cvt_2c(struct cpu *cpu, const struct insn *in)
{
    fpu_check_sse(cpu);
    bool trunc = (in->op & 0xff) == 0x2c;
    struct fpx x = { cpu->s.fpu.mxcsr, 0, 0 };
    if (in->rep) {
        bool dbl = in->rep == PFX_REPNE;
        unsigned size = in->opsize == 8 ? 8 : 4;
        uint64_t a = sse_read_low(cpu, in, dbl ? 8 : 4);
        int64_t v = fp_to_int(&x, dbl ? &F64 : &F32, a, size, trunc);
        sse_raise_flags(cpu, x.flags);
        greg_write(cpu, in, in->reg, size, (uint64_t)v);
        return;
    }
    uint64_t lo, hi;
    if (in->pfx66) {
        xmm_t s;
        sse_read128(cpu, in, &s, true);
        lo = (uint32_t)fp_to_int(&x, &F64, s.q[0], 4, trunc);
        hi = (uint32_t)fp_to_int(&x, &F64, s.q[1], 4, trunc);
    } else {
        uint64_t s = sse_read_low(cpu, in, 8);
        lo = (uint32_t)fp_to_int(&x, &F32, s & 0xffffffffu, 4, trunc);
        hi = (uint32_t)fp_to_int(&x, &F32, s >> 32, 4, trunc);
    }
    fpu_enter_mmx(cpu);
    sse_raise_flags(cpu, x.flags);
    mmx_set(cpu, in->reg, lo | (hi << 32));
}

#define M OPF_MODRM
#define R(op, pfx, fl, fn, name) { OP0F | (op), -1, -1, pfx, M | (fl), fn, name }
#define R4(op, fn, n) R(op, PFX_NONE, 0, fn, n "ps"), R(op, PFX_66, 0, fn, n "pd"), \
                      R(op, PFX_F3, 0, fn, n "ss"), R(op, PFX_F2, 0, fn, n "sd")
static const struct op_def sse_fp_ops[] = {
    R4(0x51, op_fp_arith, "sqrt"),
    R(0x52, PFX_NONE, 0, op_fp_arith, "rsqrtps"),
    R(0x52, PFX_F3, 0, op_fp_arith, "rsqrtss"),
    R(0x53, PFX_NONE, 0, op_fp_arith, "rcpps"),
    R(0x53, PFX_F3, 0, op_fp_arith, "rcpss"),
    R4(0x58, op_fp_arith, "add"),
    R4(0x59, op_fp_arith, "mul"),
    R4(0x5c, op_fp_arith, "sub"),
    R4(0x5d, op_fp_arith, "min"),
    R4(0x5e, op_fp_arith, "div"),
    R4(0x5f, op_fp_arith, "max"),
    R(0xc2, PFX_NONE, OPF_IMM8U, op_fp_cmp, "cmpps"),
    R(0xc2, PFX_66, OPF_IMM8U, op_fp_cmp, "cmppd"),
    R(0xc2, PFX_F3, OPF_IMM8U, op_fp_cmp, "cmpss"),
    R(0xc2, PFX_F2, OPF_IMM8U, op_fp_cmp, "cmpsd"),
    R(0xd0, PFX_66, 0, op_addsub, "addsubpd"),
    R(0xd0, PFX_F2, 0, op_addsub, "addsubps"),
    R(0x7c, PFX_66, 0, op_hadd, "haddpd"),
    R(0x7c, PFX_F2, 0, op_hadd, "haddps"),
    R(0x7d, PFX_66, 0, op_hadd, "hsubpd"),
    R(0x7d, PFX_F2, 0, op_hadd, "hsubps"),
    R(0x2e, PFX_NONE, 0, op_comis, "ucomiss"),
    R(0x2e, PFX_66, 0, op_comis, "ucomisd"),
    R(0x2f, PFX_NONE, 0, op_comis, "comiss"),
    R(0x2f, PFX_66, 0, op_comis, "comisd"),
    R(0x5a, PFX_NONE, 0, op_cvt_fp, "cvtps2pd"),
    R(0x5a, PFX_66, 0, op_cvt_fp, "cvtpd2ps"),
    R(0x5a, PFX_F3, 0, op_cvt_fp, "cvtss2sd"),
    R(0x5a, PFX_F2, 0, op_cvt_fp, "cvtsd2ss"),
    R(0x5b, PFX_NONE, 0, op_cvt_5b, "cvtdq2ps"),
    R(0x5b, PFX_66, 0, op_cvt_5b, "cvtps2dq"),
    R(0x5b, PFX_F3, 0, op_cvt_5b, "cvttps2dq"),
    R(0xe6, PFX_66, 0, op_cvt_e6, "cvttpd2dq"),
    R(0xe6, PFX_F3, 0, op_cvt_e6, "cvtdq2pd"),
    R(0xe6, PFX_F2, 0, op_cvt_e6, "cvtpd2dq"),
    R(0x2a, PFX_NONE, 0, op_cvt_2a, "cvtpi2ps"),
    R(0x2a, PFX_66, 0, op_cvt_2a, "cvtpi2pd"),
    R(0x2a, PFX_F3, 0, op_cvt_2a, "cvtsi2ss"),
    R(0x2a, PFX_F2, 0, op_cvt_2a, "cvtsi2sd"),
    R(0x2c, PFX_NONE, 0, op_cvt_2c, "cvttps2pi"),
    R(0x2c, PFX_66, 0, op_cvt_2c, "cvttpd2pi"),
    R(0x2c, PFX_F3, 0, op_cvt_2c, "cvttss2si"),
    R(0x2c, PFX_F2, 0, op_cvt_2c, "cvttsd2si"),
    R(0x2d, PFX_NONE, 0, op_cvt_2c, "cvtps2pi"),
    R(0x2d, PFX_66, 0, op_cvt_2c, "cvtpd2pi"),
    R(0x2d, PFX_F3, 0, op_cvt_2c, "cvtss2si"),
    R(0x2d, PFX_F2, 0, op_cvt_2c, "cvtsd2si"),
    OPS_END
};
OPS_REGISTER(sse_fp_ops);
