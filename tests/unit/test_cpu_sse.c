/* SSE/SSE2/SSE3/SSSE3 (src/cpu/sse*.c, ssse3.c) against the host CPU: each
 * instruction runs on caixa's CPU (64-bit mode, xmm0 op= xmm1) and natively
 * with the same MXCSR over thousands of random and edge operands (zeros,
 * denormals, infinities, NaNs, extremes) in every rounding mode with and
 * without DAZ/FTZ; results, MXCSR and EFLAGS must be identical. */
#if defined(__x86_64__)
#include "cpu_test_harness.h"
#include "cpu_test_fpe.h"

#include <stdio.h>

#include "cpu/sse.h"

#define ITER 3000
#define MXCSR_ALL_MASKED 0x1f80u

typedef union { uint8_t b[16]; uint16_t w[8]; uint32_t d[4]; uint64_t q[2]; } v128;

/* The host side: xmm0 = d, xmm1 = s, MXCSR = *m; returns xmm0, MXCSR,
 * RFLAGS and RAX. */
struct host_out {
    v128 x0;
    uint32_t mxcsr;
    uint64_t flags, rax;
};
#define HOST_FN(name, text)                                                                   \
    static void name(const v128 *d, const v128 *s, uint32_t m, uint64_t rax, struct host_out *o) \
    {                                                                                          \
        uint32_t saved;                                                                        \
        v128 x0 = *d;                                                                          \
        uint32_t mx = m;                                                                       \
        uint64_t fl, ax = rax;                                                                 \
        __asm__ volatile("stmxcsr %[sv]\n\t"                                                   \
                         "movdqu %[x0], %%xmm0\n\t"                                            \
                         "movdqu %[x1], %%xmm1\n\t"                                            \
                         "ldmxcsr %[mx]\n\t"                                                   \
                         "xor %%ecx, %%ecx\n\t" /* clean flags */                              \
                         text "\n\t"                                                           \
                         /* step over the red zone, where the compiler may  \
                          * keep `saved` (clang does) */                      \
                         "lea -128(%%rsp), %%rsp\n\tpushfq\n\tpopq %[fl]\n\t"                  \
                         "lea 128(%%rsp), %%rsp\n\t"                                           \
                         "stmxcsr %[mx]\n\t"                                                   \
                         "ldmxcsr %[sv]\n\t"                                                   \
                         "movdqu %%xmm0, %[x0]\n\t"                                            \
                         : [x0] "+m"(x0), [mx] "+m"(mx), [sv] "=m"(saved), [fl] "=r"(fl),      \
                           "+a"(ax)                                                            \
                         : [x1] "m"(*s)                                                        \
                         : "xmm0", "xmm1", "rcx", "cc", "memory");                             \
        o->x0 = x0;                                                                            \
        o->mxcsr = mx;                                                                         \
        o->flags = fl;                                                                         \
        o->rax = ax;                                                                           \
    }

struct sse_case {
    const char *name;
    uint8_t code[8];
    uint8_t len;
    void (*host)(const v128 *, const v128 *, uint32_t, uint64_t, struct host_out *);
    uint8_t lane;      /* 4: float lanes, 8: double lanes, 1: integer bytes */
    uint8_t check;     /* CHK_* */
};
#define CHK_X0 1
#define CHK_FLAGS 2
#define CHK_RAX 4
#define CHK_RAX32 8
#define CHK_MM0 16   /* MMX form: mm0 = low half of d, mm1 = low half of s */

#define CASE(nm, bytes_, lane_, chk, text) HOST_FN(host_##nm, text)
#include "test_cpu_sse_cases.h"
#undef CASE
#define CASE(nm, bytes_, lane_, chk, text) \
    { #nm, { bytes_ }, sizeof((uint8_t[]){ bytes_ }), host_##nm, lane_, chk },
static const struct sse_case cases[] = {
#include "test_cpu_sse_cases.h"
};
#undef CASE

static uint64_t rs = 0x618967849827f31bull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static uint32_t rnd_f32(void)
{
    static const uint32_t edge[] = {
        0, 0x80000000u, 1, 0x80000001u, 0x007fffffu, 0x00800000u, 0x80800000u, 0x7f7fffffu,
        0xff7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u,
        0xffa00000u, 0x3f800000u, 0xbf800000u, 0x4f000000u, 0xcf000000u, 0x5f000000u,
        0x3f000000u, 0x3fc00000u, 0x40200000u, 0x00400000u, 0x7fffffffu,
    };
    switch (rnd() % 4) {
    case 0: return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
    case 1: return (uint32_t)rnd() & 0x807fffffu;                   /* denormal */
    case 2: return ((uint32_t)rnd() & 0x807fffffu) | ((0x7f + (uint32_t)(rnd() % 40) - 20) << 23);
    default: return (uint32_t)rnd();
    }
}

static uint64_t rnd_f64(void)
{
    static const uint64_t edge[] = {
        0, 1ull << 63, 1, 0x000fffffffffffffull, 0x0010000000000000ull, 0x7fefffffffffffffull,
        0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000000000ull,
        0x7ff0000000000001ull, 0x3ff0000000000000ull, 0xbff0000000000000ull, 0x41e0000000000000ull,
        0xc1e0000000000000ull, 0x43e0000000000000ull, 0x3fe0000000000000ull, 0x3ff8000000000000ull,
        0x36a0000000000000ull, 0x47f0000000000000ull, 0x380fffffffffffffull,
    };
    switch (rnd() % 4) {
    case 0: return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
    case 1: return rnd() & 0x800fffffffffffffull;
    case 2: return (rnd() & 0x800fffffffffffffull) | ((0x3ffull + rnd() % 80 - 40) << 52);
    default: return rnd();
    }
}

static void rnd_vec(v128 *v, unsigned lane)
{
    if (lane == 2)
        lane = 1;
    if (lane == 4)
        for (int i = 0; i < 4; i++)
            v->d[i] = rnd_f32();
    else if (lane == 8)
        for (int i = 0; i < 2; i++)
            v->q[i] = rnd_f64();
    else
        for (int i = 0; i < 2; i++)
            v->q[i] = (rnd() % 4 == 0) ? rnd() & 0x8080808080808080ull : rnd();
}

static uint32_t rnd_mxcsr(void)
{
    uint32_t m = MXCSR_ALL_MASKED | ((uint32_t)(rnd() % 4) << 13);
    if (rnd() % 4 == 0)
        m |= 0x40;    /* DAZ */
    if (rnd() % 4 == 0)
        m |= 0x8000;  /* FTZ */
    return m;
}

static void setup_sse(struct th *t)
{
    th_init(t, TH_LM64);
    t->cpu.s.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
}

static bool run_one(struct th *t, const struct sse_case *c, const v128 *d, const v128 *s, uint32_t mx,
                    uint64_t rax, bool first)
{
    struct cpu *cpu = &t->cpu;
    memcpy(cpu->s.fpu.xmm[0].b, d, 16);
    memcpy(cpu->s.fpu.xmm[1].b, s, 16);
    cpu->s.fpu.st[0].mant = d->q[0];
    cpu->s.fpu.st[1].mant = s->q[0];
    cpu->s.fpu.mxcsr = mx;
    cpu->s.regs[R_AX] = rax;
    cpu->s.regs[R_CX] = 0;
    cpu_set_rflags(cpu, 0x2);
    if (first) {
        th_run_ok(t, c->code, c->len);
    } else {
        cpu->s.rip = TH_CODE;
        cpu_run(cpu, 3);
        assert_int_equal(cpu->s.rip, t->end);
    }
    struct host_out h;
    c->host(d, s, mx, rax, &h);
    bool ok = true;
    if ((c->check & CHK_X0) && memcmp(cpu->s.fpu.xmm[0].b, h.x0.b, 16))
        ok = false;
    if (cpu->s.fpu.mxcsr != h.mxcsr)
        ok = false;
    if ((c->check & CHK_MM0) && cpu->s.fpu.st[0].mant != h.x0.q[0])
        ok = false;
    if ((c->check & CHK_FLAGS) && (th_flags(t) & FL_ARITH) != (h.flags & FL_ARITH))
        ok = false;
    if ((c->check & CHK_RAX) && cpu->s.regs[R_AX] != h.rax)
        ok = false;
    if ((c->check & CHK_RAX32) && (uint32_t)cpu->s.regs[R_AX] != (uint32_t)h.rax)
        ok = false;
    if (!ok) {
        fprintf(stderr, "%s mxcsr %#x\n d %016llx%016llx\n s %016llx%016llx\n", c->name, mx,
                (unsigned long long)d->q[1], (unsigned long long)d->q[0], (unsigned long long)s->q[1],
                (unsigned long long)s->q[0]);
        fprintf(stderr, " caixa %016llx%016llx mxcsr %#x fl %#llx rax %#llx\n",
                (unsigned long long)cpu->s.fpu.xmm[0].q[1], (unsigned long long)cpu->s.fpu.xmm[0].q[0],
                cpu->s.fpu.mxcsr, (unsigned long long)(th_flags(t) & FL_ARITH),
                (unsigned long long)cpu->s.regs[R_AX]);
        fprintf(stderr, " mm0 caixa %016llx host %016llx\n", (unsigned long long)cpu->s.fpu.st[0].mant,
                (unsigned long long)h.x0.q[0]);
        fprintf(stderr, " host  %016llx%016llx mxcsr %#x fl %#llx rax %#llx\n", (unsigned long long)h.x0.q[1],
                (unsigned long long)h.x0.q[0], h.mxcsr, (unsigned long long)(h.flags & FL_ARITH),
                (unsigned long long)h.rax);
    }
    return ok;
}

static void test_against_host(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    unsigned failures = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sse_case *c = &cases[i];
        setup_sse(t);
        unsigned bad = 0;
        for (unsigned n = 0; n < ITER; n++) {
            v128 d, s;
            rnd_vec(&d, c->lane);
            rnd_vec(&s, c->lane);
            if (rnd() % 8 == 0)
                s = d;
            uint64_t rax = rnd();
            if (!run_one(t, c, &d, &s, c->lane <= 2 ? MXCSR_ALL_MASKED : rnd_mxcsr(), rax, n == 0))
                if (++bad >= 3)
                    break;
        }
        failures += bad;
        th_destroy(t);
    }
    free(t);
    assert_int_equal(failures, 0);
}

/* Runs a case on the host; true if it raised SIGFPE (th_fpe_state holds
 * the state at the fault). */
static bool host_try(const struct sse_case *c, const v128 *d, const v128 *s, uint32_t mx, uint64_t rax,
                     struct host_out *h)
{
    if (sigsetjmp(th_fpe_state.jb, 1) == 0) {
        c->host(d, s, mx, rax, h);
        return false;
    }
    th_fpe_reset_host();
    return true;
}

/* Unmasked exceptions: random MXCSR masks cleared. Where the host raises
 * SIGFPE (#XM), caixa must raise #XM with the same MXCSR and the destination
 * untouched; elsewhere the results must agree as in the masked runs. */
static void test_unmasked_against_host(void **state)
{
    (void)state;
    struct sigaction old;
    th_fpe_install(&old);
    struct th *t = malloc(sizeof(*t));
    unsigned failures = 0, faults = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sse_case *c = &cases[i];
        if (c->lane != 4 && c->lane != 8)
            continue;
        setup_sse(t);
        unsigned bad = 0;
        for (unsigned n = 0; n < 500 && bad < 3; n++) {
            v128 d, s;
            rnd_vec(&d, c->lane);
            rnd_vec(&s, c->lane);
            uint32_t mx = rnd_mxcsr() & ~(((uint32_t)rnd() & 0x3f) << 7);
            uint64_t rax = rnd();
            struct cpu *cpu = &t->cpu;
            memcpy(cpu->s.fpu.xmm[0].b, &d, 16);
            memcpy(cpu->s.fpu.xmm[1].b, &s, 16);
            cpu->s.fpu.mxcsr = mx;
            cpu->s.regs[R_AX] = rax;
            cpu->s.regs[R_SP] = TH_STACK;
            cpu->s.rip = TH_CODE;
            if (n == 0)
                th_run(t, c->code, c->len);
            else
                cpu_run(cpu, 5);
            int gvec = cpu->s.rip == t->end ? -1 : th_vector(t);
            struct host_out h;
            bool faulted = host_try(c, &d, &s, mx, rax, &h);
            bool ok;
            if (faulted) {
                faults++;
                ok = gvec == EXC_XM && cpu->s.fpu.mxcsr == th_fpe_state.fp.mxcsr &&
                     !memcmp(cpu->s.fpu.xmm[0].b, &th_fpe_state.fp._xmm[0], 16);
            } else {
                ok = gvec == -1 && cpu->s.fpu.mxcsr == h.mxcsr;
                if ((c->check & CHK_X0) && memcmp(cpu->s.fpu.xmm[0].b, h.x0.b, 16))
                    ok = false;
                if ((c->check & CHK_RAX) && cpu->s.regs[R_AX] != h.rax)
                    ok = false;
                if ((c->check & CHK_MM0) && cpu->s.fpu.st[0].mant != h.x0.q[0])
                    ok = false;
            }
            if (!ok) {
                bad++;
                fprintf(stderr, "%s mxcsr %#x host %s (mxcsr %#x) caixa vector %d mxcsr %#x\n d %016llx%016llx\n s %016llx%016llx\n",
                        c->name, mx, faulted ? "#XM" : "ok", faulted ? th_fpe_state.fp.mxcsr : h.mxcsr, gvec,
                        cpu->s.fpu.mxcsr, (unsigned long long)d.q[1], (unsigned long long)d.q[0],
                        (unsigned long long)s.q[1], (unsigned long long)s.q[0]);
            }
        }
        failures += bad;
        th_destroy(t);
    }
    free(t);
    sigaction(SIGFPE, &old, NULL);
    assert_true(faults > 100);
    assert_int_equal(failures, 0);
}

/* #UD without CR4.OSFXSR, #NM with CR0.TS, #GP on a misaligned MOVAPS,
 * #XM for an unmasked exception with nothing written (64-bit mode has no
 * IDT here: the fault leaves rip at the instruction). */
static void test_faults(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    setup_sse(t);
    t->cpu.s.cr4 &= ~(uint64_t)CR4_OSFXSR;
    th_run(t, TH_CODE_ARR(0x0f, 0x58, 0xc1), 3);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);

    setup_sse(t);
    t->cpu.s.cr0 |= CR0_TS;
    th_run(t, TH_CODE_ARR(0x0f, 0x58, 0xc1), 3);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);

    /* movaps xmm0, [0x10008] */
    setup_sse(t);
    th_run(t, TH_CODE_ARR(0x0f, 0x28, 0x04, 0x25, 0x08, 0x00, 0x01, 0x00), 8);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    /* movups is fine */
    setup_sse(t);
    th_run_ok(t, TH_CODE_ARR(0x0f, 0x10, 0x04, 0x25, 0x08, 0x00, 0x01, 0x00), 8);
    th_destroy(t);

    /* divss by zero with ZM clear: #XM, xmm0 unchanged, ZE recorded */
    setup_sse(t);
    t->cpu.s.fpu.mxcsr = 0x1f80 & ~0x200u;
    t->cpu.s.fpu.xmm[0].d[0] = 0x3f800000u;
    t->cpu.s.fpu.xmm[1].d[0] = 0;
    th_run(t, TH_CODE_ARR(0xf3, 0x0f, 0x5e, 0xc1), 4);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    assert_int_equal(t->cpu.s.fpu.xmm[0].d[0], 0x3f800000u);
    th_destroy(t);
    free(t);
}

/* MASKMOVDQU / MASKMOVQ: only bytes whose mask has bit 7 set reach DS:rDI. */
static void test_maskmov(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    setup_sse(t);
    uint8_t init[16];
    memset(init, 0xee, 16);
    th_poke(t, TH_DATA, init, 16);
    for (int i = 0; i < 16; i++) {
        t->cpu.s.fpu.xmm[0].b[i] = (uint8_t)i;
        t->cpu.s.fpu.xmm[1].b[i] = (i & 1) ? 0x80 : 0x7f;
    }
    t->cpu.s.regs[R_DI] = TH_DATA;
    TH_RUN(t, 0x66, 0x0f, 0xf7, 0xc1);  /* maskmovdqu xmm0, xmm1 */
    for (int i = 0; i < 16; i++)
        assert_int_equal(th_peek(t, TH_DATA + (uint64_t)i, 1), (i & 1) ? (uint64_t)i : 0xee);
    th_destroy(t);
    setup_sse(t);
    th_poke(t, TH_DATA, init, 16);
    t->cpu.s.fpu.st[0].mant = 0x0807060504030201ull;
    t->cpu.s.fpu.st[1].mant = 0x8000000000000080ull;
    t->cpu.s.regs[R_DI] = TH_DATA;
    TH_RUN(t, 0x0f, 0xf7, 0xc1);        /* maskmovq mm0, mm1 */
    assert_int_equal(th_peek(t, TH_DATA, 8), 0x08eeeeeeeeeeee01ull);
    assert_int_equal(t->cpu.s.fpu.ftw_full, 0);  /* MMX state entered: tags valid */
    th_destroy(t);
    free(t);
}

/* LDMXCSR with a reserved bit: #GP; STMXCSR round trip. */
static void test_mxcsr(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    setup_sse(t);
    uint32_t v = 0x7f80 | 0x40;
    th_poke(t, TH_DATA, &v, 4);
    /* ldmxcsr [0x10000]; stmxcsr [0x10004] */
    TH_RUN(t, 0x0f, 0xae, 0x14, 0x25, 0x00, 0x00, 0x01, 0x00, 0x0f, 0xae, 0x1c, 0x25, 0x04, 0x00, 0x01, 0x00);
    assert_int_equal(th_peek(t, TH_DATA + 4, 4), v);
    th_destroy(t);
    setup_sse(t);
    v = 0x10000;
    th_poke(t, TH_DATA, &v, 4);
    th_run(t, TH_CODE_ARR(0x0f, 0xae, 0x14, 0x25, 0x00, 0x00, 0x01, 0x00), 8);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    free(t);
}

/* RCPPS/RSQRTPS: relative error within 1.5 * 2^-12 of the exact value. */
static void test_rcp_rsqrt(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    setup_sse(t);
    for (unsigned n = 0; n < 2000; n++) {
        for (int i = 0; i < 4; i++) {
            uint32_t u = ((uint32_t)rnd() & 0x007fffffu) | ((0x7f + (uint32_t)(rnd() % 200) - 100) << 23);
            t->cpu.s.fpu.xmm[1].d[i] = u;
        }
        bool rs_ = n & 1;
        t->cpu.s.rip = TH_CODE;  /* th_run leaves rip at the end */
        if (rs_)
            th_run_ok(t, TH_CODE_ARR(0x0f, 0x52, 0xc1), 3);
        else
            th_run_ok(t, TH_CODE_ARR(0x0f, 0x53, 0xc1), 3);
        for (int i = 0; i < 4; i++) {
            float x, r;
            memcpy(&x, &t->cpu.s.fpu.xmm[1].d[i], 4);
            memcpy(&r, &t->cpu.s.fpu.xmm[0].d[i], 4);
            double exact = rs_ ? 1.0 / __builtin_sqrt((double)x) : 1.0 / (double)x;
            double err = __builtin_fabs((r - exact) / exact);
            assert_true(err <= 1.5 / 4096.0);
        }
    }
    th_destroy(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_host),
        cmocka_unit_test(test_unmasked_against_host),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_mxcsr),
        cmocka_unit_test(test_maskmov),
        cmocka_unit_test(test_rcp_rsqrt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
/* The host oracle needs an x86-64 host. */
#include <stdio.h>
int main(void)
{
    puts("skipped: not an x86-64 host");
    return 0;
}
#endif
