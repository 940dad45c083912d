/* x87 transcendental instructions: F2XM1 FYL2X FYL2XP1 FPTAN FPATAN FSIN
 * FCOS FSINCOS (SDM Vol. 2 pages of each).
 *
 * Operand screening (empty registers, NaNs, unsupported formats, denormals,
 * out-of-range arguments) follows the SDM; the function value itself comes
 * from the host's long double libm, which is within the x87's documented
 * error (about 1 ulp) but not bit-identical to Intel's microcode. Exception
 * flags of the computation come from the host fenv. */
#include <fenv.h>
#include <math.h>

#include "cpu/fpu.h"

/* FSIN/FCOS/FSINCOS/FPTAN accept |x| < 2^63 (SDM Vol. 2 FSIN). */
#define TRIG_MAX_EXP (F80_BIAS + 63)

static unsigned host_flags(int fe)
{
    unsigned f = 0;
    if (fe & FE_INVALID) f |= SF_IE;
    if (fe & FE_DIVBYZERO) f |= SF_ZE;
    if (fe & FE_OVERFLOW) f |= SF_OE;
    if (fe & FE_UNDERFLOW) f |= SF_UE;
    if (fe & FE_INEXACT) f |= SF_PE;
    return f;
}

/* Converts a host result to extended and collects the flags. */
static fx80 result(struct sf_env *e, long double v, int fe)
{
    fx80 r = f80_from_ld(e, v);
    e->flags |= (uint8_t)host_flags(fe);
    if (isnan(v) && !(e->flags & SF_IE))
        e->flags |= SF_IE;
    if (isnan(v))
        r = f80_indefinite;
    return r;
}

/* Checks ST(0) (and ST(1) if n == 2) are usable: empty registers raise
 * the stack fault; NaNs propagate. Returns false when the instruction is
 * done: *out then holds the masked response and *store whether to write it. */
static bool screen(struct cpu *cpu, struct sf_env *e, unsigned n, fx80 *out, bool *store)
{
    *store = false;
    if (x87_empty(cpu, 0) || (n == 2 && x87_empty(cpu, 1))) {
        *store = x87_underflow(cpu);
        *out = f80_indefinite;
        return false;
    }
    fx80 a = x87_st(cpu, 0), b = n == 2 ? x87_st(cpu, 1) : a;
    enum f80_class ca = f80_classify(a), cb = f80_classify(b);
    if (ca == F80_UNSUPPORTED || cb == F80_UNSUPPORTED) {
        e->flags |= SF_IE;
        *out = f80_indefinite;
        *store = x87_commit(cpu, e, false);
        return false;
    }
    if (f80_is_nan(a) || f80_is_nan(b)) {
        *out = f80_propagate_nan(e, a, b);
        *store = x87_commit(cpu, e, false);
        return false;
    }
    if (ca == F80_DENORMAL || cb == F80_DENORMAL)
        e->flags |= SF_DE;
    return true;
}

static void begin_host(void) { feclearexcept(FE_ALL_EXCEPT); }
static int end_host(void) { return fetestexcept(FE_ALL_EXCEPT); }

/* F2XM1 (D9 F0): 2^x - 1 for -1 <= x <= 1. */
void x87_f2xm1(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    struct sf_env e = x87_env(cpu);
    fx80 r;
    bool store;
    if (screen(cpu, &e, 1, &r, &store)) {
        fx80 a = x87_st(cpu, 0);
        enum f80_class c = f80_classify(a);
        if (c == F80_ZERO || (c == F80_INF && !f80_sign(a))) {
            r = a;
        } else if (c == F80_INF) {
            r = f80_make(true, F80_BIAS, 1ull << 63);  /* -1 */
        } else {
            long double x = f80_to_ld(a);
            begin_host();
            volatile long double v = expm1l(x * 0.6931471805599453094172321214581766L);
            r = result(&e, v, end_host());
        }
        store = x87_commit(cpu, &e, false);
    }
    if (store)
        x87_set_st(cpu, 0, r);
}

/* FYL2X (D9 F1) and FYL2XP1 (D9 F9): ST(1) = ST(1) * log2(ST(0) [+1]), pop. */
static void yl2x(struct cpu *cpu, bool p1)
{
    struct sf_env e = x87_env(cpu);
    fx80 r;
    bool store;
    if (screen(cpu, &e, 2, &r, &store)) {
        long double x = f80_to_ld(x87_st(cpu, 0)), y = f80_to_ld(x87_st(cpu, 1));
        begin_host();
        volatile long double v;
        if (p1)
            v = y * (log1pl(x) * 1.4426950408889634073599246810018921L);
        else
            v = y * log2l(x);
        int fe = end_host();
        r = result(&e, v, fe);
        store = x87_commit(cpu, &e, false);
    }
    if (store) {
        x87_set_st(cpu, 1, r);
        x87_pop(cpu);
    }
}
void x87_fyl2x(struct cpu *cpu, const struct insn *in) { (void)in; yl2x(cpu, false); }
void x87_fyl2xp1(struct cpu *cpu, const struct insn *in) { (void)in; yl2x(cpu, true); }

/* FPATAN (D9 F3): ST(1) = atan2(ST(1), ST(0)), pop. */
void x87_fpatan(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    struct sf_env e = x87_env(cpu);
    fx80 r;
    bool store;
    if (screen(cpu, &e, 2, &r, &store)) {
        long double x = f80_to_ld(x87_st(cpu, 0)), y = f80_to_ld(x87_st(cpu, 1));
        begin_host();
        volatile long double v = atan2l(y, x);
        int fe = end_host();
        r = result(&e, v, fe & ~FE_INVALID);
        store = x87_commit(cpu, &e, false);
    }
    if (store) {
        x87_set_st(cpu, 1, r);
        x87_pop(cpu);
    }
}

/* Out-of-range trig argument: C2 = 1 and ST(0) unchanged. */
static bool trig_range(struct cpu *cpu, fx80 a)
{
    if ((a.se & 0x7fff) >= TRIG_MAX_EXP && f80_classify(a) != F80_INF) {
        x87_set_cc(cpu, FSW_C2);
        return false;
    }
    return true;
}

enum { T_SIN, T_COS, T_TAN };

/* The x87 reduces trigonometric arguments with a 66-bit pi (SDM Vol. 1
 * 8.3.10): x = k * pi66/2 + r exactly, r then evaluated. Doing the same
 * keeps results within an ulp or two of the hardware also for large x. */
#define PI66_HALF_HI 0x3ull                 /* pi66/2 = P * 2^-65, P = 66 bits */
#define PI66_HALF_LO 0x243f6a8885a308d3ull  /* low 64 bits of P */

static long double reduce(fx80 a, unsigned *quadrant)
{
    typedef unsigned __int128 u128;
    int32_t ex = (int32_t)(a.se & 0x7fff) - F80_BIAS;
    *quadrant = 0;
    if (ex < 0 || !(a.mant >> 63))
        return fabsl(f80_to_ld(a));  /* |x| < 1: no reduction */
    u128 p = ((u128)PI66_HALF_HI << 64) | PI66_HALF_LO;
    u128 x = (u128)a.mant << (ex + 2);  /* |x| in units of 2^-65; ex <= 62 */
    u128 q = x / p, r = x % p;
    if (r > p / 2) {
        r = p - r;
        q++;
        *quadrant = 4;  /* remainder negated */
    }
    *quadrant |= (unsigned)(q & 3);
    long double v = ldexpl((long double)(uint64_t)(r >> 2), -63) + ldexpl((long double)(uint64_t)(r & 3), -65);
    return v;
}

static long double trig(int k, fx80 a)
{
    unsigned qd;
    long double r = reduce(a, &qd), s, c;
    bool neg_r = qd & 4, neg_x = f80_sign(a);
    if (neg_r)
        r = -r;
    s = sinl(r);
    c = cosl(r);
    /* rotate by quadrant (of |x|) */
    long double sv, cv;
    switch (qd & 3) {
    case 0: sv = s; cv = c; break;
    case 1: sv = c; cv = -s; break;
    case 2: sv = -s; cv = -c; break;
    default: sv = -c; cv = s; break;
    }
    if (neg_x)
        sv = -sv;
    switch (k) {
    case T_SIN: return sv;
    case T_COS: return cv;
    default: {
        long double t = (qd & 1) ? -c / s : s / c;
        return neg_x ? -t : t;
    }
    }
}

/* FSIN (D9 FE), FCOS (D9 FF), FPTAN (D9 F2: pushes 1.0 too). */
static void trig1(struct cpu *cpu, int k)
{
    struct sf_env e = x87_env(cpu);
    fx80 r;
    bool store;
    cpu->s.fpu.fsw &= ~FSW_C2;  /* C2 = 1 only for an out-of-range argument */
    if (k == T_TAN && !x87_empty(cpu, 0) && !x87_empty(cpu, 7)) {
        if (x87_overflow(cpu)) {
            x87_set_st(cpu, 0, f80_indefinite);
            x87_push(cpu, f80_indefinite);
        }
        return;
    }
    if (screen(cpu, &e, 1, &r, &store)) {
        fx80 a = x87_st(cpu, 0);
        if (!trig_range(cpu, a))
            return;
        if (f80_classify(a) == F80_INF) {
            e.flags |= SF_IE;
            r = f80_indefinite;
        } else if (f80_classify(a) == F80_ZERO && k != T_COS) {
            r = a;
        } else {
            begin_host();
            volatile long double v = trig(k, a);
            r = result(&e, v, end_host());
        }
        store = x87_commit(cpu, &e, false);
        if (store && k == T_TAN) {
            x87_set_st(cpu, 0, r);
            x87_push(cpu, f80_make(false, F80_BIAS, 1ull << 63));
            return;
        }
    }
    if (store)
        x87_set_st(cpu, 0, r);
}
void x87_fsin(struct cpu *cpu, const struct insn *in) { (void)in; trig1(cpu, T_SIN); }
void x87_fcos(struct cpu *cpu, const struct insn *in) { (void)in; trig1(cpu, T_COS); }
void x87_fptan(struct cpu *cpu, const struct insn *in) { (void)in; trig1(cpu, T_TAN); }

/* FSINCOS (D9 FB): ST(0) = sin, then push cos. */
void x87_fsincos(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    struct sf_env e = x87_env(cpu);
    fx80 s, c;
    bool store;
    cpu->s.fpu.fsw &= ~FSW_C2;  /* C2 = 1 only for an out-of-range argument */
    if (!x87_empty(cpu, 0) && !x87_empty(cpu, 7)) {
        if (x87_overflow(cpu)) {
            x87_set_st(cpu, 0, f80_indefinite);
            x87_push(cpu, f80_indefinite);
        }
        return;
    }
    if (!screen(cpu, &e, 1, &s, &store)) {
        if (store) {
            x87_set_st(cpu, 0, s);
            x87_push(cpu, s);
        }
        return;
    }
    fx80 a = x87_st(cpu, 0);
    if (!trig_range(cpu, a))
        return;
    if (f80_classify(a) == F80_INF) {
        e.flags |= SF_IE;
        s = c = f80_indefinite;
    } else {
        begin_host();
        volatile long double vs = trig(T_SIN, a), vc = trig(T_COS, a);
        int fe = end_host();
        s = f80_classify(a) == F80_ZERO ? a : result(&e, vs, fe);
        c = result(&e, vc, fe);
    }
    if (x87_commit(cpu, &e, false)) {
        x87_set_st(cpu, 0, s);
        x87_push(cpu, c);
    }
}
