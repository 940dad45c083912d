/* 80-bit extended precision arithmetic of the x87 (SDM Vol. 1 ch. 4 and 8),
 * in integers: correct rounding in the four RC modes, precision control,
 * denormals, infinities, NaNs, the six exception flags and the masked
 * responses. The x87 layer (fpu*.c) decides what an unmasked exception does
 * with the result. */
#ifndef CAIXA_CPU_SOFTFLOAT80_H
#define CAIXA_CPU_SOFTFLOAT80_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t mant;  /* explicit integer bit 63 */
    uint16_t se;    /* sign bit 15, biased exponent 0-14 */
} fx80;

/* Exception flags, in the FSW/FCW/MXCSR bit order (SDM Vol. 1 8.1.3). */
#define SF_IE 0x01
#define SF_DE 0x02
#define SF_ZE 0x04
#define SF_OE 0x08
#define SF_UE 0x10
#define SF_PE 0x20

/* Rounding control (FCW.RC, MXCSR.RC). */
enum { SF_RN = 0, SF_RD = 1, SF_RU = 2, SF_RZ = 3 };

#define F80_BIAS 16383
#define F80_EXP_MAX 0x7fff

struct sf_env {
    uint8_t rc;      /* SF_RN.. */
    uint8_t prec;    /* 24, 53 or 64 significand bits (FCW.PC) */
    uint8_t masks;   /* masked exceptions (FCW bits 0-5) */
    uint8_t flags;   /* raised by the operation */
    bool c1;         /* the last rounding went away from zero (FSW.C1) */
};

/* Classes of an 80-bit value (FXAM-like). */
enum f80_class { F80_ZERO, F80_NORMAL, F80_DENORMAL, F80_INF, F80_QNAN, F80_SNAN, F80_UNSUPPORTED };
enum f80_class f80_classify(fx80 a);
static inline bool f80_sign(fx80 a) { return a.se >> 15; }
static inline bool f80_is_nan(fx80 a) { enum f80_class c = f80_classify(a); return c == F80_QNAN || c == F80_SNAN; }

extern const fx80 f80_indefinite;  /* QNaN real indefinite: FFFF C000000000000000 */
static inline fx80 f80_make(bool sign, uint16_t exp, uint64_t mant)
{
    fx80 r = { mant, (uint16_t)((sign ? 0x8000 : 0) | exp) };
    return r;
}

fx80 f80_add(struct sf_env *e, fx80 a, fx80 b);
fx80 f80_sub(struct sf_env *e, fx80 a, fx80 b);
fx80 f80_mul(struct sf_env *e, fx80 a, fx80 b);
fx80 f80_div(struct sf_env *e, fx80 a, fx80 b);
fx80 f80_sqrt(struct sf_env *e, fx80 a);
/* FRNDINT: to an integer in the current rounding mode (or toward zero). */
fx80 f80_round_int(struct sf_env *e, fx80 a);
/* FSCALE: a * 2^trunc(b). */
fx80 f80_scale(struct sf_env *e, fx80 a, fx80 b);
/* FPREM (nearest=false) / FPREM1: partial remainder; *q gets the low three
 * quotient bits, *partial whether the reduction is incomplete (C2). */
fx80 f80_rem(struct sf_env *e, fx80 a, fx80 b, bool nearest, uint64_t *q, bool *partial);
/* FXTRACT: *sig gets the significand (exponent 0), returns the exponent. */
fx80 f80_xtract(struct sf_env *e, fx80 a, fx80 *sig);
/* Rounds an extended value at the current precision (after transcendental
 * results are computed at higher precision elsewhere). */
fx80 f80_round_pack(struct sf_env *e, bool sign, int32_t exp, uint64_t sig, uint64_t ext);

/* Comparison: returns one of these; IE on SNaN (quiet) or any NaN (!quiet). */
enum { F80_LT = 0, F80_EQ = 1, F80_GT = 2, F80_UN = 3 };
int f80_compare(struct sf_env *e, fx80 a, fx80 b, bool quiet);

/* Conversions. */
fx80 f80_from_i64(int64_t v);
fx80 f80_from_f32(struct sf_env *e, uint32_t v);
fx80 f80_from_f64(struct sf_env *e, uint64_t v);
uint32_t f80_to_f32(struct sf_env *e, fx80 a);
uint64_t f80_to_f64(struct sf_env *e, fx80 a);
/* To a signed integer of `bytes` (2, 4, 8); out of range or NaN: IE and the
 * integer indefinite (most negative value). trunc: FISTTP. */
int64_t f80_to_int(struct sf_env *e, fx80 a, unsigned bytes, bool trunc);
/* Packed BCD (FBLD/FBSTP): 10 bytes, sign in byte 9 bit 7. */
fx80 f80_from_bcd(const uint8_t bcd[10]);
void f80_to_bcd(struct sf_env *e, fx80 a, uint8_t bcd[10]);

/* Quiets a NaN and picks the NaN result of a two-operand operation (SDM
 * Vol. 1 table 4-7). Sets IE for SNaNs. */
fx80 f80_propagate_nan(struct sf_env *e, fx80 a, fx80 b);

/* Host long double bridge, for the transcendental functions only. */
long double f80_to_ld(fx80 a);
fx80 f80_from_ld(struct sf_env *e, long double v);

#endif
