/* 80-bit extended precision arithmetic in integers (see softfloat80.h).
 *
 * Every finite result goes through round_core(): the exact value is held as
 * a 128-bit significand whose bit 127 weighs 2^(exp - bias), the low bits
 * below the rounding point only matter as round/sticky information. */
#include "cpu/softfloat80.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef unsigned __int128 u128;

const fx80 f80_indefinite = { 0xc000000000000000ull, 0xffff };

#define SIG_INT (1ull << 63)
#define SIG_QUIET (1ull << 62)
/* Unmasked overflow/underflow on a register destination: the exponent is
 * wrapped by 3 * 2^13 (SDM Vol. 1 8.5.4/8.5.5). */
#define X87_WRAP 24576

/* Biased (extended-bias) exponent ranges of the destination formats. */
#define EXT_EMIN 1
#define EXT_EMAX 0x7ffe
#define F32_EMIN (1 - 127 + F80_BIAS)
#define F32_EMAX (254 - 127 + F80_BIAS)
#define F64_EMIN (1 - 1023 + F80_BIAS)
#define F64_EMAX (2046 - 1023 + F80_BIAS)

static int clz64(uint64_t x) { return x ? __builtin_clzll(x) : 64; }
static int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? clz64(hi) : 64 + clz64((uint64_t)x);
}

enum f80_class f80_classify(fx80 a)
{
    unsigned e = a.se & 0x7fff;
    if (e == 0)
        return a.mant ? F80_DENORMAL : F80_ZERO;
    if (!(a.mant & SIG_INT))
        return F80_UNSUPPORTED;  /* unnormal, pseudo-NaN, pseudo-infinity */
    if (e == 0x7fff) {
        if (!(a.mant << 1))
            return F80_INF;
        return (a.mant & SIG_QUIET) ? F80_QNAN : F80_SNAN;
    }
    return F80_NORMAL;
}

/* Finite nonzero operand -> normalized significand and exponent (may go
 * below 1 for denormals). */
static void unpack(fx80 a, int32_t *exp, uint64_t *sig)
{
    int32_t e = a.se & 0x7fff;
    int s = clz64(a.mant);
    if (e == 0)
        e = 1;  /* denormals and pseudo-denormals weigh 2^(1-bias) */
    *sig = a.mant << s;
    *exp = e - s;
}

static bool round_up(const struct sf_env *e, bool sign, u128 r, u128 half, bool odd)
{
    switch (e->rc) {
    case SF_RN: return r > half || (r == half && odd);
    case SF_RD: return sign;
    case SF_RU: return !sign;
    default: return false;
    }
}

/* Rounds sign * x * 2^(exp - bias - 127) to prec bits within [emin, emax].
 * wrap != 0: an unmasked OE/UE biases the exponent (register destination);
 * wrap == 0: the flag alone is raised (the caller stores nothing).
 * Returns the 64-bit significand (bit 63 clear for denormals, 0 for zero)
 * and *pexp; *pexp > emax means infinity. */
static uint64_t round_core(struct sf_env *e, bool sign, int32_t *pexp, u128 x, int prec,
                           int32_t emin, int32_t emax, int32_t wrap)
{
    int32_t exp = *pexp;
    if (x == 0) {
        *pexp = 0;
        return 0;
    }
    int s = clz128(x);
    x <<= s;
    exp -= s;
    int lsb = 128 - prec;
    u128 mask = ((u128)1 << lsb) - 1, half = (u128)1 << (lsb - 1);
    bool tiny = false;
    if (exp < emin) {
        /* tininess after rounding with unbounded exponent (SDM Vol. 1 4.9.1.5) */
        int32_t re = exp;
        u128 r = x & mask;
        if (r && round_up(e, sign, r, half, (x >> lsb) & 1) && (x | mask) == ~(u128)0)
            re++;
        tiny = re < emin;
    }
    if (tiny && !(e->masks & SF_UE)) {
        e->flags |= SF_UE;
        if (wrap) {
            exp += wrap;
            if (exp < emin) {  /* massive underflow (FSCALE): zero, rounded down */
                e->flags |= SF_PE;
                e->c1 = false;
                *pexp = 0;
                return 0;
            }
            tiny = false;
        }
    }
    if (tiny || exp < emin) {
        int32_t sh = emin - exp;
        if (sh >= 128)
            x = 1;  /* sticky only */
        else if (sh > 0)
            x = (x >> sh) | ((x & (((u128)1 << sh) - 1)) != 0);
        exp = emin;
    }
    u128 r = x & mask;
    u128 hi = x >> lsb;
    e->c1 = false;
    if (r) {
        e->flags |= SF_PE;
        if (tiny)
            e->flags |= SF_UE;
        if (round_up(e, sign, r, half, hi & 1)) {
            hi++;
            e->c1 = true;
            if (hi >> prec) {
                hi >>= 1;
                exp++;
            }
        }
    }
    uint64_t sig = (uint64_t)hi << (64 - prec);
    if (sig == 0) {
        *pexp = 0;
        return 0;
    }
    if (exp > emax) {
        e->flags |= SF_OE;
        if (!(e->masks & SF_OE) && wrap) {
            exp -= wrap;
            if (exp > emax) {  /* massive overflow (FSCALE): infinity, rounded up */
                e->flags |= SF_PE;
                e->c1 = true;
                *pexp = emax + 1;
                return SIG_INT;
            }
        } else {
            e->flags |= SF_PE;
            bool inf = e->rc == SF_RN || (e->rc == SF_RU && !sign) || (e->rc == SF_RD && sign);
            e->c1 = inf;
            if (inf) {
                *pexp = emax + 1;
                return SIG_INT;
            }
            *pexp = emax;
            return ~0ull << (64 - prec);
        }
    }
    *pexp = exp;
    return sig;
}

static fx80 pack_ext(struct sf_env *e, bool sign, int32_t exp, u128 x, int prec)
{
    uint64_t sig = round_core(e, sign, &exp, x, prec, EXT_EMIN, EXT_EMAX, X87_WRAP);
    if (sig == 0)
        return f80_make(sign, 0, 0);
    if (exp > EXT_EMAX)
        return f80_make(sign, 0x7fff, SIG_INT);
    return f80_make(sign, (sig & SIG_INT) ? (uint16_t)exp : 0, sig);
}

fx80 f80_round_pack(struct sf_env *e, bool sign, int32_t exp, uint64_t sig, uint64_t ext)
{
    return pack_ext(e, sign, exp, ((u128)sig << 64) | ext, e->prec);
}

static fx80 quiet(fx80 a) { a.mant |= SIG_QUIET; return a; }

fx80 f80_propagate_nan(struct sf_env *e, fx80 a, fx80 b)
{
    enum f80_class ca = f80_classify(a), cb = f80_classify(b);
    bool na = ca == F80_QNAN || ca == F80_SNAN, nb = cb == F80_QNAN || cb == F80_SNAN;
    if (ca == F80_SNAN || cb == F80_SNAN)
        e->flags |= SF_IE;
    if (na && nb && ca != cb)
        return quiet(ca == F80_QNAN ? a : b);  /* the QNaN beats the SNaN */
    if (na && nb) {
        /* both NaN of one kind: the larger significand wins (SDM Vol. 1 table 4-7) */
        uint64_t ma = a.mant | SIG_QUIET, mb = b.mant | SIG_QUIET;
        if (ma != mb)
            return quiet(ma > mb ? a : b);
        return quiet((a.se & 0x8000) ? b : a);
    }
    return quiet(na ? a : b);
}

static fx80 invalid(struct sf_env *e)
{
    e->flags |= SF_IE;
    return f80_indefinite;
}

/* Common operand screening of two-operand arithmetic: NaN, unsupported
 * formats and the denormal flag. Returns true with *res set when done. */
static bool screen2(struct sf_env *e, fx80 a, fx80 b, fx80 *res)
{
    enum f80_class ca = f80_classify(a), cb = f80_classify(b);
    if (ca == F80_UNSUPPORTED || cb == F80_UNSUPPORTED) {
        *res = invalid(e);
        return true;
    }
    if (ca == F80_QNAN || ca == F80_SNAN || cb == F80_QNAN || cb == F80_SNAN) {
        *res = f80_propagate_nan(e, a, b);
        return true;
    }
    if (ca == F80_DENORMAL || cb == F80_DENORMAL)
        e->flags |= SF_DE;
    return false;
}

static bool is_zero(fx80 a) { return !(a.se & 0x7fff) && !a.mant; }
static bool is_inf(fx80 a) { return (a.se & 0x7fff) == 0x7fff && a.mant == SIG_INT; }

static fx80 addsub(struct sf_env *e, fx80 a, fx80 b, bool neg)
{
    fx80 res;
    if (screen2(e, a, b, &res))
        return res;
    bool sa = f80_sign(a), sb = f80_sign(b) ^ neg;
    if (is_inf(a) || is_inf(b)) {
        if (is_inf(a) && is_inf(b) && sa != sb)
            return invalid(e);
        return is_inf(a) ? a : f80_make(sb, 0x7fff, SIG_INT);
    }
    bool za = is_zero(a), zb = is_zero(b);
    if (za && zb)
        return f80_make(sa == sb ? sa : e->rc == SF_RD, 0, 0);
    int32_t ea, eb;
    uint64_t ma, mb;
    if (za) {
        unpack(b, &eb, &mb);
        return pack_ext(e, sb, eb, (u128)mb << 64, e->prec);
    }
    unpack(a, &ea, &ma);
    if (zb)
        return pack_ext(e, sa, ea, (u128)ma << 64, e->prec);
    unpack(b, &eb, &mb);
    if (ea < eb || (ea == eb && ma < mb)) {
        int32_t te = ea; ea = eb; eb = te;
        uint64_t tm = ma; ma = mb; mb = tm;
        bool ts = sa; sa = sb; sb = ts;
    }
    /* bit 126 holds the integer bit so that a carry fits */
    u128 x = (u128)ma << 63, y = (u128)mb << 63;
    int32_t d = ea - eb;
    if (d >= 127)
        y = 1;
    else if (d > 0)
        y = (y >> d) | ((y & (((u128)1 << d) - 1)) != 0);
    if (sa == sb)
        return pack_ext(e, sa, ea + 1, x + y, e->prec);
    if (x == y)
        return f80_make(e->rc == SF_RD, 0, 0);
    return pack_ext(e, sa, ea + 1, x - y, e->prec);
}

fx80 f80_add(struct sf_env *e, fx80 a, fx80 b) { return addsub(e, a, b, false); }
fx80 f80_sub(struct sf_env *e, fx80 a, fx80 b) { return addsub(e, a, b, true); }

fx80 f80_mul(struct sf_env *e, fx80 a, fx80 b)
{
    fx80 res;
    if (screen2(e, a, b, &res))
        return res;
    bool s = f80_sign(a) ^ f80_sign(b);
    if (is_inf(a) || is_inf(b)) {
        if (is_zero(a) || is_zero(b))
            return invalid(e);
        return f80_make(s, 0x7fff, SIG_INT);
    }
    if (is_zero(a) || is_zero(b))
        return f80_make(s, 0, 0);
    int32_t ea, eb;
    uint64_t ma, mb;
    unpack(a, &ea, &ma);
    unpack(b, &eb, &mb);
    return pack_ext(e, s, ea + eb - F80_BIAS + 1, (u128)ma * mb, e->prec);
}

/* Significand quotient ma/mb as a 128-bit value with sticky, bit 127
 * weighing 2 (so the caller's exponent is ea - eb + bias). */
static u128 div_sig(uint64_t ma, uint64_t mb)
{
    u128 num = (u128)ma << 64;
    u128 q1 = num / mb;
    uint64_t r1 = (uint64_t)(num % mb);
    u128 n2 = (u128)r1 << 64;
    uint64_t q2 = (uint64_t)(n2 / mb);
    bool sticky = (n2 % mb) != 0 || (q2 & 1);
    return (q1 << 63) | (q2 >> 1) | sticky;
}

fx80 f80_div(struct sf_env *e, fx80 a, fx80 b)
{
    fx80 res;
    uint8_t before = e->flags;
    if (screen2(e, a, b, &res))
        return res;
    bool s = f80_sign(a) ^ f80_sign(b);
    if (is_inf(a)) {
        if (is_inf(b))
            return invalid(e);
        return f80_make(s, 0x7fff, SIG_INT);
    }
    if (is_inf(b))
        return f80_make(s, 0, 0);
    if (is_zero(b)) {
        if (is_zero(a))
            return invalid(e);
        e->flags = (uint8_t)((before | (e->flags & ~SF_DE)) | SF_ZE);  /* #Z takes precedence over #D */
        return f80_make(s, 0x7fff, SIG_INT);
    }
    if (is_zero(a))
        return f80_make(s, 0, 0);
    int32_t ea, eb;
    uint64_t ma, mb;
    unpack(a, &ea, &ma);
    unpack(b, &eb, &mb);
    return pack_ext(e, s, ea - eb + F80_BIAS, div_sig(ma, mb), e->prec);
}

fx80 f80_sqrt(struct sf_env *e, fx80 a)
{
    enum f80_class c = f80_classify(a);
    if (c == F80_UNSUPPORTED)
        return invalid(e);
    if (c == F80_QNAN || c == F80_SNAN)
        return f80_propagate_nan(e, a, a);
    if (c == F80_ZERO)
        return a;
    if (f80_sign(a))
        return invalid(e);
    if (c == F80_INF)
        return a;
    if (c == F80_DENORMAL)
        e->flags |= SF_DE;
    int32_t ea;
    uint64_t m;
    unpack(a, &ea, &m);
    int32_t unb = ea - F80_BIAS;
    u128 n;
    int32_t re;
    if (unb & 1) {
        n = (u128)m << 64;
        re = (unb - 1) / 2;
    } else {
        n = (u128)m << 63;
        re = unb / 2;
    }
    uint64_t q = 0;
    for (int bit = 63; bit >= 0; bit--) {
        uint64_t t = q | (1ull << bit);
        if ((u128)t * t <= n)
            q = t;
    }
    u128 rem = n - (u128)q * q;
    u128 x = (u128)q << 64;
    if (rem > q)
        x |= (u128)3 << 62;  /* above half: round bit and sticky */
    else if (rem)
        x |= 1;
    return pack_ext(e, false, re + F80_BIAS, x, e->prec);
}

/* Integer part of |a| rounded by rc (finite a); *cat: 0 exact, 1 below
 * half, 2 half, 3 above half of the discarded fraction. *ovf when >= 2^64. */
static uint64_t int_mag(const struct sf_env *e, fx80 a, int rc, bool *inexact, bool *up, bool *ovf)
{
    *inexact = *up = *ovf = false;
    if (is_zero(a))
        return 0;
    int32_t ea;
    uint64_t m;
    unpack(a, &ea, &m);
    int32_t sh = F80_BIAS + 63 - ea;
    if (sh < 0) {
        *ovf = true;
        return 0;
    }
    if (sh == 0)
        return m;
    uint64_t ip;
    int cat;
    if (sh >= 65) {
        ip = 0;
        cat = 1;
    } else if (sh == 64) {
        ip = 0;
        cat = m > SIG_INT ? 3 : m == SIG_INT ? 2 : 1;
    } else {
        ip = m >> sh;
        uint64_t fr = m & ((1ull << sh) - 1), half = 1ull << (sh - 1);
        cat = fr == 0 ? 0 : fr < half ? 1 : fr == half ? 2 : 3;
    }
    if (!cat)
        return ip;
    *inexact = true;
    bool s = f80_sign(a), inc;
    struct sf_env t = *e;
    t.rc = (uint8_t)rc;
    inc = round_up(&t, s, (u128)cat, 2, ip & 1);
    if (inc) {
        *up = true;
        ip++;
    }
    return ip;
}

fx80 f80_round_int(struct sf_env *e, fx80 a)
{
    enum f80_class c = f80_classify(a);
    if (c == F80_UNSUPPORTED)
        return invalid(e);
    if (c == F80_QNAN || c == F80_SNAN)
        return f80_propagate_nan(e, a, a);
    if (c == F80_ZERO || c == F80_INF)
        return a;
    if (c == F80_DENORMAL)
        e->flags |= SF_DE;
    bool inexact, up, ovf;
    uint64_t ip = int_mag(e, a, e->rc, &inexact, &up, &ovf);
    e->c1 = up;
    if (ovf)
        return a;  /* already an integer */
    if (inexact)
        e->flags |= SF_PE;
    if (ip == 0)
        return f80_make(f80_sign(a), 0, 0);
    int s = clz64(ip);
    return f80_make(f80_sign(a), (uint16_t)(F80_BIAS + 63 - s), ip << s);
}

fx80 f80_scale(struct sf_env *e, fx80 a, fx80 b)
{
    fx80 res;
    if (screen2(e, a, b, &res))
        return res;
    bool ia = is_inf(a), ib = is_inf(b), sb = f80_sign(b);
    if (is_zero(a)) {
        if (ib && !sb)
            return invalid(e);
        return a;
    }
    if (ia) {
        if (ib && sb)
            return invalid(e);
        return a;
    }
    if (ib)
        return sb ? f80_make(f80_sign(a), 0, 0) : f80_make(f80_sign(a), 0x7fff, SIG_INT);
    bool inexact, up, ovf;
    uint64_t n = int_mag(e, b, SF_RZ, &inexact, &up, &ovf);
    if (is_zero(b)) {
        if ((a.se & 0x7fff) == 0 && (a.mant & SIG_INT))
            a.se |= 1;  /* pseudo-denormal normalized; a denormal stays as it is */
        return a;
    }
    int32_t sc = (ovf || n > 0x10000) ? 0x10000 : (int32_t)n;  /* beyond any exponent range */
    if (sb)
        sc = -sc;
    int32_t ea;
    uint64_t m;
    unpack(a, &ea, &m);
    return pack_ext(e, f80_sign(a), ea + sc, (u128)m << 64, 64);
}

fx80 f80_rem(struct sf_env *e, fx80 a, fx80 b, bool nearest, uint64_t *q, bool *partial)
{
    fx80 res;
    uint8_t before = e->flags;
    *q = 0;
    *partial = false;
    if (screen2(e, a, b, &res))
        return res;
    if (is_inf(a) || is_zero(b)) {
        e->flags = before;  /* #I takes precedence over #D */
        return invalid(e);
    }
    if (is_zero(a) || is_inf(b)) {
        if ((a.se & 0x7fff) == 0 && (a.mant & SIG_INT))
            a.se |= 1;  /* a pseudo-denormal comes back normalized */
        return a;
    }
    int32_t ea, eb;
    uint64_t ma, mb;
    unpack(a, &ea, &ma);
    unpack(b, &eb, &mb);
    int32_t d = ea - eb, unit = eb, iters = d;
    u128 bb = mb, r = ma;
    if (d < 0) {
        if (!nearest || d < -1)  /* |a| < |b|: the remainder is a itself */
            return pack_ext(e, f80_sign(a), ea + 64, (u128)ma, 64);
        bb = (u128)mb << 1;
        unit = ea;
        iters = 0;
    } else if (d >= 64) {
        /* incomplete reduction: exponent drops by 32..63 (SDM FPREM) */
        *partial = true;
        iters = 32 + ((d - 32) & 31);
        unit = eb + (d - iters);
    }
    uint64_t qq = 0;
    if (d >= 0 && r >= bb) {
        r -= bb;
        qq = 1;
    }
    for (int32_t i = 0; i < iters; i++) {
        r <<= 1;
        qq <<= 1;
        if (r >= bb) {
            r -= bb;
            qq |= 1;
        }
    }
    bool s = f80_sign(a);
    if (nearest && !*partial && (2 * r > bb || (2 * r == bb && (qq & 1)))) {
        r = bb - r;
        qq++;
        s = !s;
    }
    *q = qq;
    if (r == 0)
        return f80_make(f80_sign(a), 0, 0);
    return pack_ext(e, s, unit + 64, r, 64);
}

fx80 f80_xtract(struct sf_env *e, fx80 a, fx80 *sig)
{
    enum f80_class c = f80_classify(a);
    if (c == F80_UNSUPPORTED) {
        *sig = invalid(e);
        return *sig;
    }
    if (c == F80_QNAN || c == F80_SNAN) {
        *sig = f80_propagate_nan(e, a, a);
        return *sig;
    }
    if (c == F80_ZERO) {
        e->flags |= SF_ZE;
        *sig = a;
        return f80_make(true, 0x7fff, SIG_INT);
    }
    if (c == F80_INF) {
        *sig = a;
        return f80_make(false, 0x7fff, SIG_INT);
    }
    if (c == F80_DENORMAL)
        e->flags |= SF_DE;
    int32_t ea;
    uint64_t m;
    unpack(a, &ea, &m);
    *sig = f80_make(f80_sign(a), F80_BIAS, m);
    return f80_from_i64(ea - F80_BIAS);
}

int f80_compare(struct sf_env *e, fx80 a, fx80 b, bool quiet)
{
    enum f80_class ca = f80_classify(a), cb = f80_classify(b);
    if (ca == F80_UNSUPPORTED || cb == F80_UNSUPPORTED) {
        e->flags |= SF_IE;
        return F80_UN;
    }
    bool na = ca == F80_QNAN || ca == F80_SNAN, nb = cb == F80_QNAN || cb == F80_SNAN;
    if (na || nb) {
        if (!quiet || ca == F80_SNAN || cb == F80_SNAN)
            e->flags |= SF_IE;
        return F80_UN;
    }
    if (ca == F80_DENORMAL || cb == F80_DENORMAL)
        e->flags |= SF_DE;
    if (ca == F80_ZERO && cb == F80_ZERO)
        return F80_EQ;
    bool sa = f80_sign(a), sb = f80_sign(b);
    if (ca == F80_ZERO)
        return sb ? F80_GT : F80_LT;
    if (cb == F80_ZERO)
        return sa ? F80_LT : F80_GT;
    if (sa != sb)
        return sa ? F80_LT : F80_GT;
    int32_t ea, eb;
    uint64_t ma, mb;
    unpack(a, &ea, &ma);
    unpack(b, &eb, &mb);
    if (ca == F80_INF) { ea = 0x7fff; ma = SIG_INT; }
    if (cb == F80_INF) { eb = 0x7fff; mb = SIG_INT; }
    int mag = ea != eb ? (ea < eb ? -1 : 1) : ma != mb ? (ma < mb ? -1 : 1) : 0;
    if (mag == 0)
        return F80_EQ;
    return (mag < 0) != sa ? F80_LT : F80_GT;
}

fx80 f80_from_i64(int64_t v)
{
    if (v == 0)
        return f80_make(false, 0, 0);
    bool s = v < 0;
    uint64_t m = s ? -(uint64_t)v : (uint64_t)v;
    int sh = clz64(m);
    return f80_make(s, (uint16_t)(F80_BIAS + 63 - sh), m << sh);
}

/* IEEE single/double -> extended (exact). */
static fx80 from_ieee(struct sf_env *e, uint64_t v, int fbits, int ebits)
{
    bool s = (v >> (fbits + ebits)) & 1;
    int32_t ex = (int32_t)((v >> fbits) & ((1u << ebits) - 1));
    uint64_t fr = v & ((1ull << fbits) - 1);
    int32_t emax = (1 << ebits) - 1, bias = (1 << (ebits - 1)) - 1;
    if (ex == emax) {
        if (!fr)
            return f80_make(s, 0x7fff, SIG_INT);
        fx80 n = f80_make(s, 0x7fff, SIG_INT | (fr << (63 - fbits)));
        if (!(n.mant & SIG_QUIET))
            e->flags |= SF_IE;
        return quiet(n);
    }
    if (ex == 0) {
        if (!fr)
            return f80_make(s, 0, 0);
        e->flags |= SF_DE;
        int sh = clz64(fr);
        return f80_make(s, (uint16_t)(F80_BIAS - bias + 1 + (63 - fbits) - sh), fr << sh);
    }
    return f80_make(s, (uint16_t)(ex - bias + F80_BIAS), SIG_INT | (fr << (63 - fbits)));
}

fx80 f80_from_f32(struct sf_env *e, uint32_t v) { return from_ieee(e, v, 23, 8); }
fx80 f80_from_f64(struct sf_env *e, uint64_t v) { return from_ieee(e, v, 52, 11); }

/* extended -> IEEE single/double with rounding (FST m32/m64). */
static uint64_t to_ieee(struct sf_env *e, fx80 a, int fbits, int ebits, int32_t emin, int32_t emax)
{
    enum f80_class c = f80_classify(a);
    bool s = f80_sign(a);
    uint64_t sbit = (uint64_t)s << (fbits + ebits);
    uint64_t einf = ((1ull << ebits) - 1) << fbits;
    switch (c) {
    case F80_UNSUPPORTED:
        e->flags |= SF_IE;
        return (1ull << (fbits + ebits)) | einf | (1ull << (fbits - 1));
    case F80_SNAN:
        e->flags |= SF_IE;
        /* fall through */
    case F80_QNAN:
        return sbit | einf | (1ull << (fbits - 1)) | ((a.mant << 1) >> (64 - fbits));
    case F80_INF:
        return sbit | einf;
    case F80_ZERO:
        return sbit;
    default:
        break;  /* no #D on stores of denormals (as Intel hardware does) */
    }
    int32_t ex;
    uint64_t m;
    unpack(a, &ex, &m);
    uint64_t sig = round_core(e, s, &ex, (u128)m << 64, fbits + 1, emin, emax, 0);
    if (sig == 0)
        return sbit;
    if (ex > emax)
        return sbit | einf;
    uint64_t fr = (sig >> (63 - fbits)) & ((1ull << fbits) - 1);
    if (!(sig & SIG_INT))
        return sbit | fr;
    return sbit | ((uint64_t)(ex - emin + 1) << fbits) | fr;
}

uint32_t f80_to_f32(struct sf_env *e, fx80 a) { return (uint32_t)to_ieee(e, a, 23, 8, F32_EMIN, F32_EMAX); }
uint64_t f80_to_f64(struct sf_env *e, fx80 a) { return to_ieee(e, a, 52, 11, F64_EMIN, F64_EMAX); }

int64_t f80_to_int(struct sf_env *e, fx80 a, unsigned bytes, bool trunc)
{
    uint64_t lim = 1ull << (bytes * 8 - 1);
    int64_t indef = (int64_t)(~0ull << (bytes * 8 - 1));
    enum f80_class c = f80_classify(a);
    e->c1 = false;
    if (c == F80_UNSUPPORTED || c == F80_QNAN || c == F80_SNAN || c == F80_INF) {
        e->flags |= SF_IE;
        return indef;
    }
    bool inexact, up, ovf;
    uint64_t m = int_mag(e, a, trunc ? SF_RZ : e->rc, &inexact, &up, &ovf);
    bool s = f80_sign(a);
    if (ovf || m > lim || (m == lim && !s)) {
        e->flags |= SF_IE;
        return indef;
    }
    if (inexact)
        e->flags |= SF_PE;
    e->c1 = up;
    return s ? (int64_t)(0 - m) : (int64_t)m;
}

fx80 f80_from_bcd(const uint8_t bcd[10])
{
    int64_t v = 0;
    for (int i = 8; i >= 0; i--)
        v = v * 100 + (bcd[i] >> 4) * 10 + (bcd[i] & 15);
    fx80 r = f80_from_i64(v);
    if (bcd[9] & 0x80)
        r.se |= 0x8000;
    return r;
}

void f80_to_bcd(struct sf_env *e, fx80 a, uint8_t bcd[10])
{
    enum f80_class c = f80_classify(a);
    bool inexact = false, up = false, ovf = true;
    uint64_t m = 0;
    if (c != F80_UNSUPPORTED && c != F80_QNAN && c != F80_SNAN && c != F80_INF) {
        m = int_mag(e, a, e->rc, &inexact, &up, &ovf);
    }
    if (ovf || m > 999999999999999999ull) {
        /* packed BCD indefinite (SDM Vol. 1 4.7) */
        e->flags |= SF_IE;
        memset(bcd, 0, 10);
        bcd[7] = 0xc0;
        bcd[8] = bcd[9] = 0xff;
        return;
    }
    if (inexact)
        e->flags |= SF_PE;
    e->c1 = up;
    for (int i = 0; i < 9; i++) {
        bcd[i] = (uint8_t)((m % 10) | ((m / 10 % 10) << 4));
        m /= 100;
    }
    bcd[9] = f80_sign(a) ? 0x80 : 0;
}

long double f80_to_ld(fx80 a)
{
    enum f80_class c = f80_classify(a);
    long double v;
    switch (c) {
    case F80_ZERO: v = 0.0L; break;
    case F80_INF: v = HUGE_VALL; break;
    case F80_NORMAL:
    case F80_DENORMAL: {
        int32_t ex;
        uint64_t m;
        unpack(a, &ex, &m);
        v = ldexpl((long double)m, ex - F80_BIAS - 63);
        break;
    }
    default: v = __builtin_nanl(""); break;
    }
    return f80_sign(a) ? -v : v;
}

fx80 f80_from_ld(struct sf_env *e, long double v)
{
    bool s = signbit(v);
    if (isnan(v))
        return f80_indefinite;
    if (isinf(v))
        return f80_make(s, 0x7fff, SIG_INT);
    if (v == 0)
        return f80_make(s, 0, 0);
    int ex;
    long double m = frexpl(fabsl(v), &ex);       /* [0.5, 1) */
    long double hi = ldexpl(m, 64);
    long double ip = floorl(hi);
    uint64_t sig = (uint64_t)ip;
    uint64_t lo = (uint64_t)ldexpl(hi - ip, 64);  /* extra bits of wider long doubles */
    return pack_ext(e, s, ex - 1 + F80_BIAS, ((u128)sig << 64) | lo, 64);
}
