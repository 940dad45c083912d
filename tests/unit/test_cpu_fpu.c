/* The x87 FPU (src/cpu/fpu*.c, softfloat80.c) against the host CPU.
 *
 * The same machine code runs on caixa's CPU (64-bit mode) and natively on
 * the host: FNINIT, FLDCW, load operands A and B (and memory operand C)
 * relative to RBX, the instruction under test, FNSTSW, then three FSTPs
 * and a second FNSTSW (which also exercise stack faults). Every byte of the
 * data area must come out identical: results, status word (TOP, C0-C3,
 * flags), stored integers/reals/BCD. Operands are random and edge values
 * (zeros, denormals, pseudo-denormals, unnormals, infinities, NaNs, huge
 * and tiny), in every rounding mode and precision, exceptions masked.
 * Transcendentals are checked against the host within a few ulps. */
#if defined(__x86_64__)
#include "cpu_test_harness.h"
#include "cpu_test_fpe.h"

#include <math.h>
#include <stdio.h>
#include <sys/mman.h>

#include "cpu/fpu.h"

#define ITER 4000
#define DATA_LEN 1024

/* Data layout (offsets from RBX). */
#define D_A 0x00
#define D_B 0x10
#define D_C 0x20      /* 8-byte memory operand */
#define D_CW 0x28
#define D_SW1 0x2a
#define D_SW2 0x2c
#define D_CF 0x2e     /* SETB/SETE/SETP after the instruction */
#define D_R0 0x40
#define D_R1 0x50
#define D_R2 0x60
#define D_ST 0x70     /* store destination */

static const uint8_t prologue[] = {
    0x31, 0xc0,             /* xor eax, eax: defined EFLAGS for the SETcc below */
    0xdb, 0xe3,             /* fninit */
    0xd9, 0x6b, D_CW,       /* fldcw [rbx+CW] */
    0xdb, 0x6b, D_B,        /* fld tword [rbx+B] */
    0xdb, 0x6b, D_A,        /* fld tword [rbx+A] */
};
static const uint8_t epilogue[] = {
    0xdd, 0x7b, D_SW1,       /* fnstsw [rbx+SW1] */
    0x0f, 0x92, 0x43, D_CF,  /* setb [rbx+CF] */
    0x0f, 0x94, 0x43, D_CF + 1,
    0x0f, 0x9a, 0x43, D_CF + 2,
    0xdb, 0x7b, D_R0,        /* fstp tword [rbx+R0] */
    0xdb, 0x7b, D_R1,
    0xdb, 0x7b, D_R2,
    0xdd, 0x7b, D_SW2,       /* fnstsw [rbx+SW2] */
    0xdb, 0xe3,              /* fninit */
};

struct fcase {
    const char *name;
    uint8_t op[16];
    uint8_t len;
    uint8_t cmem;  /* kind of the memory operand C: 0 none/random, 4 f32, 8 f64, 2/3/5 ints, 10 bcd */
};
#define FC(nm, kind, ...) { nm, { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), kind }
enum { C_RAND = 0, C_F32 = 4, C_F64 = 8, C_I16 = 2, C_I32 = 3, C_I64 = 5, C_BCD = 10 };

static const struct fcase cases[] = {
    FC("fadd st0,st1", 0, 0xd8, 0xc1), FC("fmul st0,st1", 0, 0xd8, 0xc9),
    FC("fsub st0,st1", 0, 0xd8, 0xe1), FC("fsubr st0,st1", 0, 0xd8, 0xe9),
    FC("fdiv st0,st1", 0, 0xd8, 0xf1), FC("fdivr st0,st1", 0, 0xd8, 0xf9),
    FC("fadd st1,st0", 0, 0xdc, 0xc1), FC("fsubr st1,st0", 0, 0xdc, 0xe1),
    FC("fsub st1,st0", 0, 0xdc, 0xe9), FC("fdivr st1,st0", 0, 0xdc, 0xf1),
    FC("fdiv st1,st0", 0, 0xdc, 0xf9), FC("faddp", 0, 0xde, 0xc1), FC("fmulp", 0, 0xde, 0xc9),
    FC("fsubrp", 0, 0xde, 0xe1), FC("fsubp", 0, 0xde, 0xe9), FC("fdivrp", 0, 0xde, 0xf1),
    FC("fdivp", 0, 0xde, 0xf9),
    FC("fcom", 0, 0xd8, 0xd1), FC("fcomp", 0, 0xd8, 0xd9), FC("fcompp", 0, 0xde, 0xd9),
    FC("fucom", 0, 0xdd, 0xe1), FC("fucomp", 0, 0xdd, 0xe9), FC("fucompp", 0, 0xda, 0xe9),
    FC("fcomi", 0, 0xdb, 0xf1), FC("fucomi", 0, 0xdb, 0xe9), FC("fcomip", 0, 0xdf, 0xf1),
    FC("fucomip", 0, 0xdf, 0xe9), FC("ftst", 0, 0xd9, 0xe4), FC("fxam", 0, 0xd9, 0xe5),
    FC("fsqrt", 0, 0xd9, 0xfa), FC("frndint", 0, 0xd9, 0xfc), FC("fscale", 0, 0xd9, 0xfd),
    FC("fprem", 0, 0xd9, 0xf8), FC("fprem1", 0, 0xd9, 0xf5), FC("fxtract", 0, 0xd9, 0xf4),
    FC("fchs", 0, 0xd9, 0xe0), FC("fabs", 0, 0xd9, 0xe1), FC("fxch", 0, 0xd9, 0xc9),
    FC("fld st1", 0, 0xd9, 0xc1), FC("fst st1", 0, 0xdd, 0xd1), FC("fstp st1", 0, 0xdd, 0xd9),
    FC("fld1", 0, 0xd9, 0xe8), FC("fldl2t", 0, 0xd9, 0xe9), FC("fldl2e", 0, 0xd9, 0xea),
    FC("fldpi", 0, 0xd9, 0xeb), FC("fldlg2", 0, 0xd9, 0xec), FC("fldln2", 0, 0xd9, 0xed),
    FC("fldz", 0, 0xd9, 0xee), FC("fincstp", 0, 0xd9, 0xf7), FC("fdecstp", 0, 0xd9, 0xf6),
    FC("ffree st1", 0, 0xdd, 0xc1), FC("ffreep", 0, 0xdf, 0xc0),
    FC("fcmovb", 0, 0xf9, 0xda, 0xc1), FC("fcmovne", 0, 0xf8, 0xdb, 0xc9),
    FC("fadd m32", C_F32, 0xd8, 0x43, D_C), FC("fmul m64", C_F64, 0xdc, 0x4b, D_C),
    FC("fsub m32", C_F32, 0xd8, 0x63, D_C), FC("fsubr m64", C_F64, 0xdc, 0x6b, D_C),
    FC("fdiv m32", C_F32, 0xd8, 0x73, D_C), FC("fdivr m64", C_F64, 0xdc, 0x7b, D_C),
    FC("fcom m32", C_F32, 0xd8, 0x53, D_C), FC("fcomp m64", C_F64, 0xdc, 0x5b, D_C),
    FC("fiadd m32", C_I32, 0xda, 0x43, D_C), FC("fimul m16", C_I16, 0xde, 0x4b, D_C),
    FC("fisub m16", C_I16, 0xde, 0x63, D_C), FC("fidivr m32", C_I32, 0xda, 0x7b, D_C),
    FC("ficom m32", C_I32, 0xda, 0x53, D_C), FC("ficomp m16", C_I16, 0xde, 0x5b, D_C),
    FC("fld m32", C_F32, 0xd9, 0x43, D_C), FC("fld m64", C_F64, 0xdd, 0x43, D_C),
    FC("fild m16", C_I16, 0xdf, 0x43, D_C), FC("fild m32", C_I32, 0xdb, 0x43, D_C),
    FC("fild m64", C_I64, 0xdf, 0x6b, D_C),
    FC("fst m32", 0, 0xd9, 0x53, D_ST), FC("fstp m64", 0, 0xdd, 0x5b, D_ST),
    FC("fist m16", 0, 0xdf, 0x53, D_ST), FC("fist m32", 0, 0xdb, 0x53, D_ST),
    FC("fistp m64", 0, 0xdf, 0x7b, D_ST), FC("fisttp m16", 0, 0xdf, 0x4b, D_ST),
    FC("fisttp m32", 0, 0xdb, 0x4b, D_ST), FC("fisttp m64", 0, 0xdd, 0x4b, D_ST),
    FC("fbstp", 0, 0xdf, 0x73, D_ST), FC("fstp m80", 0, 0xdb, 0x7b, D_ST),
    FC("fbld", C_BCD, 0xdf, 0x63, D_C - 2),
    /* stack faults: pop twice first, then operate on empty registers */
    FC("empty fadd", 0, 0xdd, 0xd8, 0xdd, 0xd8, 0xd8, 0xc1),
    FC("empty fst m32", 0, 0xdd, 0xd8, 0xdd, 0xd8, 0xd9, 0x53, D_ST),
    FC("empty fistp", 0, 0xdd, 0xd8, 0xdd, 0xd8, 0xdf, 0x7b, D_ST),
    FC("empty fcom", 0, 0xdd, 0xd8, 0xd8, 0xd1),
    FC("empty fxch", 0, 0xdd, 0xd8, 0xd9, 0xc9),
    FC("overflow fld", 0, 0xd9, 0xf6, 0xd9, 0xf6, 0xd9, 0xf6, 0xd9, 0xf6, 0xd9, 0xe8),
    /* MMX aliasing: movq mm0, [C] sets TOP = 0, all tags valid, exponent all ones */
#define MMX_INIT 0x0f, 0x6f, 0x43, D_C, 0x0f, 0x6f, 0x4b, D_C, 0x0f, 0x6f, 0x53, D_C  /* movq mm0-mm2, [C] */
    FC("movq mm0 then x87", 0, MMX_INIT),
    FC("paddb mm1 then x87", 0, MMX_INIT, 0x0f, 0xfc, 0xc8),
    FC("psllq mm0 then x87", 0, MMX_INIT, 0x0f, 0x73, 0xf0, 0x07),
    FC("emms then x87", 0, MMX_INIT, 0x0f, 0x77),
};

static uint64_t rs = 0xda2a46dcaf029578ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void rnd_f80(uint8_t *p)
{
    uint64_t m = rnd();
    uint16_t se = (uint16_t)rnd();
    switch (rnd() % 12) {
    case 0: se &= 0x8000; break;                                   /* denormal / pseudo-denormal */
    case 1: se |= 0x7fff; m |= 1ull << 63; if (rnd() & 1) m = 1ull << 63; break;  /* inf / NaN */
    case 2: m = 0; se &= 0x8000; break;                            /* zero */
    case 3: se = (uint16_t)((se & 0x8000) | (0x3fff + rnd() % 80 - 40)); m |= 1ull << 63; m &= ~0xffffull; break;
    case 4: se = (uint16_t)((se & 0x8000) | (rnd() % 200)); m |= 1ull << 63; break;
    case 5: se = (uint16_t)((se & 0x8000) | (0x7ffe - rnd() % 200)); m |= 1ull << 63; break;
    case 6: m &= ~(1ull << 63); break;                             /* unnormal / pseudo-NaN */
    case 7: se = (uint16_t)((se & 0x8000) | (0x3fff + rnd() % 70)); m |= 1ull << 63; m &= ~0xfffffffffull; break;
    default: se = (uint16_t)((se & 0x8000) | (0x3fff + rnd() % 2000 - 1000)); m |= 1ull << 63; break;
    }
    memcpy(p, &m, 8);
    memcpy(p + 8, &se, 2);
}

static void rnd_mem(uint8_t *p, unsigned kind)
{
    uint64_t v = rnd();
    switch (kind) {
    case C_F32: {
        static const uint32_t e[] = { 0, 0x80000000u, 1, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                                      0x3f800000u, 0x00800000u, 0x7f7fffffu };
        uint32_t f = rnd() % 3 == 0 ? e[rnd() % 10] : (uint32_t)v;
        memcpy(p, &f, 4);
        break;
    }
    case C_F64: {
        static const uint64_t e[] = { 0, 1ull << 63, 1, 0x7ff0000000000000ull, 0x7ff8000000000000ull,
                                      0x7ff0000000000001ull, 0x3ff0000000000000ull, 0x000fffffffffffffull };
        uint64_t f = rnd() % 3 == 0 ? e[rnd() % 8] : v;
        memcpy(p, &f, 8);
        break;
    }
    case C_BCD: {
        uint8_t b[10];
        for (int i = 0; i < 9; i++)
            b[i] = (uint8_t)((rnd() % 10) | ((rnd() % 10) << 4));
        b[9] = (rnd() & 1) ? 0x80 : 0;
        memcpy(p - 2, b, 10);
        break;
    }
    default:
        memcpy(p, &v, 8);
        break;
    }
}

static uint16_t rnd_cw(void)
{
    static const uint16_t pc[3] = { 0x000, 0x200, 0x300 };
    return (uint16_t)(0x007f | pc[rnd() % 3] | ((rnd() % 4) << 10));
}

/* --- host execution ----------------------------------------------------- */
struct host_code {
    uint8_t *page;
};

static bool host_init(struct host_code *h)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    h->page = p;
    return true;
}

static void host_run(struct host_code *h, const uint8_t *code, size_t n, uint8_t *data)
{
    memcpy(h->page, code, n);
    h->page[n] = 0xc3;  /* ret */
    __builtin___clear_cache((char *)h->page, (char *)h->page + n + 1);
    __asm__ volatile("sub $128, %%rsp\n\t"  /* keep clear of the red zone */
                     "push %%rbx\n\t"
                     "mov %%rsi, %%rbx\n\t"
                     "call *%%rax\n\t"
                     "pop %%rbx\n\t"
                     "add $128, %%rsp\n\t"
                     :
                     : "a"(h->page), "S"(data)
                     : "memory", "rcx", "rdx", "rdi", "r8", "r9", "r10", "r11", "cc");
}

static size_t build(uint8_t *code, const struct fcase *c)
{
    size_t n = 0;
    memcpy(code + n, prologue, sizeof(prologue));
    n += sizeof(prologue);
    memcpy(code + n, c->op, c->len);
    n += c->len;
    memcpy(code + n, epilogue, sizeof(epilogue));
    return n + sizeof(epilogue);
}

static void guest_setup(struct th *t)
{
    th_init(t, TH_LM64);
    t->cpu.s.cr0 |= CR0_NE | CR0_MP;
    t->cpu.s.regs[R_BX] = TH_DATA;
}

static bool guest_run(struct th *t, const uint8_t *code, size_t n, uint8_t *data, bool first)
{
    th_poke(t, TH_DATA, data, DATA_LEN);
    t->cpu.s.regs[R_BX] = TH_DATA;
    if (first) {
        th_run_ok(t, code, n);
    } else {
        t->cpu.s.rip = TH_CODE;
        cpu_run(&t->cpu, 30);
        if (t->cpu.s.rip != t->end)
            return false;
    }
    assert_true(physmem_rw(&t->pm, TH_DATA, data, DATA_LEN, false));
    return true;
}

static void dump(const char *who, const uint8_t *d)
{
    fprintf(stderr, " %s: sw %04x/%04x cf %d%d%d r0 %04x:%016llx r1 %04x:%016llx r2 %04x:%016llx st %016llx:%04x\n",
            who, d[D_SW1] | d[D_SW1 + 1] << 8, d[D_SW2] | d[D_SW2 + 1] << 8, d[D_CF], d[D_CF + 1], d[D_CF + 2],
            d[D_R0 + 8] | d[D_R0 + 9] << 8, *(const unsigned long long *)(const void *)(d + D_R0),
            d[D_R1 + 8] | d[D_R1 + 9] << 8, *(const unsigned long long *)(const void *)(d + D_R1),
            d[D_R2 + 8] | d[D_R2 + 9] << 8, *(const unsigned long long *)(const void *)(d + D_R2),
            *(const unsigned long long *)(const void *)(d + D_ST), d[D_ST + 8] | d[D_ST + 9] << 8);
}

static void test_against_host(void **state)
{
    (void)state;
    struct host_code h = { NULL };
    if (!host_init(&h))
        skip();
    struct th *t = malloc(sizeof(*t));
    unsigned failures = 0;
    _Alignas(16) static uint8_t in[DATA_LEN], hd[DATA_LEN], gd[DATA_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct fcase *c = &cases[i];
        uint8_t code[128];
        size_t n = build(code, c);
        guest_setup(t);
        unsigned bad = 0;
        for (unsigned k = 0; k < ITER && bad < 3; k++) {
            memset(in, 0, sizeof(in));
            rnd_f80(in + D_A);
            rnd_f80(in + D_B);
            if (rnd() % 8 == 0)
                memcpy(in + D_B, in + D_A, 10);
            rnd_mem(in + D_C, c->cmem);
            uint16_t cw = rnd_cw();
            memcpy(in + D_CW, &cw, 2);
            /* FCMOV reads the flags of the STC/CLC-like prefix bytes: f9 stc, f8 clc */
            memcpy(hd, in, DATA_LEN);
            memcpy(gd, in, DATA_LEN);
            host_run(&h, code, n, hd);
            bool ran = guest_run(t, code, n, gd, k == 0);
            if (!ran || memcmp(hd, gd, 0x80)) {
                bad++;
                fprintf(stderr, "%s: cw %04x a %04x:%016llx b %04x:%016llx c %016llx%s\n", c->name, cw,
                        in[D_A + 8] | in[D_A + 9] << 8, *(unsigned long long *)(void *)(in + D_A),
                        in[D_B + 8] | in[D_B + 9] << 8, *(unsigned long long *)(void *)(in + D_B),
                        *(unsigned long long *)(void *)(in + D_C), ran ? "" : " (guest faulted)");
                dump("host ", hd);
                dump("caixa", gd);
            }
        }
        failures += bad;
        th_destroy(t);
    }
    free(t);
    munmap(h.page, 4096);
    assert_int_equal(failures, 0);
}

/* Runs code on the host; true if it raised SIGFPE. */
static bool host_try(struct host_code *h, const uint8_t *code, size_t n, uint8_t *data)
{
    if (sigsetjmp(th_fpe_state.jb, 1) == 0) {
        host_run(h, code, n, data);
        return false;
    }
    th_fpe_reset_host();
    return true;
}

/* Unmasked exceptions: random FCW masks cleared. Where the host takes #MF
 * (SIGFPE) at a waiting instruction, caixa must take #MF at the same
 * instruction with the same status word, tags, registers and memory;
 * elsewhere everything must agree as in the masked runs. */
static void test_unmasked_against_host(void **state)
{
    (void)state;
    struct host_code h = { NULL };
    if (!host_init(&h))
        skip();
    struct sigaction old;
    th_fpe_install(&old);
    struct th *t = malloc(sizeof(*t));
    unsigned failures = 0, faults = 0;
    _Alignas(16) static uint8_t in[DATA_LEN], hd[DATA_LEN], gd[DATA_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct fcase *c = &cases[i];
        uint8_t code[128];
        size_t n = build(code, c);
        guest_setup(t);
        unsigned bad = 0;
        for (unsigned k = 0; k < 500 && bad < 3; k++) {
            memset(in, 0, sizeof(in));
            rnd_f80(in + D_A);
            rnd_f80(in + D_B);
            rnd_mem(in + D_C, c->cmem);
            uint16_t cw = (uint16_t)(rnd_cw() & ~(rnd() & 0x3f));
            memcpy(in + D_CW, &cw, 2);
            memcpy(hd, in, DATA_LEN);
            memcpy(gd, in, DATA_LEN);
            bool faulted = host_try(&h, code, n, hd);
            struct cpu *cpu = &t->cpu;
            th_poke(t, TH_DATA, gd, DATA_LEN);
            cpu->s.regs[R_BX] = TH_DATA;
            cpu->s.regs[R_SP] = TH_STACK;
            cpu->s.rip = TH_CODE;
            if (k == 0)
                th_run(t, code, n);
            else
                cpu_run(cpu, 40);
            assert_true(physmem_rw(&t->pm, TH_DATA, gd, DATA_LEN, false));
            int gvec = cpu->s.rip == t->end ? -1 : th_vector(t);
            bool ok = !memcmp(hd, gd, 0x80);
            if (faulted) {
                faults++;
                uint64_t grip = th_peek(t, cpu->s.regs[R_SP], 8);  /* RIP of the #MF frame */
                ok = ok && gvec == EXC_MF && grip - TH_CODE == th_fpe_state.rip - (uint64_t)(uintptr_t)h.page;
                ok = ok && cpu->s.fpu.fsw == th_fpe_state.fp.swd && fpu_ftw_abridged(cpu) == th_fpe_state.fp.ftw;
                for (unsigned r = 0; r < 8 && ok; r++) {
                    if (!((th_fpe_state.fp.ftw >> ((fpu_top(cpu) + r) & 7)) & 1))
                        continue;
                    fx80 v = x87_st(cpu, r);
                    ok = !memcmp(&v.mant, th_fpe_state.fp._st[r].significand, 8) &&
                         v.se == th_fpe_state.fp._st[r].exponent;
                }
            } else {
                ok = ok && gvec == -1;
            }
            if (!ok) {
                bad++;
                fprintf(stderr, "%s: cw %04x a %04x:%016llx b %04x:%016llx c %016llx host %s caixa vector %d\n",
                        c->name, cw, in[D_A + 8] | in[D_A + 9] << 8, *(unsigned long long *)(void *)(in + D_A),
                        in[D_B + 8] | in[D_B + 9] << 8, *(unsigned long long *)(void *)(in + D_B),
                        *(unsigned long long *)(void *)(in + D_C), faulted ? "#MF" : "ok", gvec);
                if (faulted)
                    fprintf(stderr, " host  fsw %04x ftw %02x at +%llu\n caixa fsw %04x ftw %02x at +%llu\n",
                            th_fpe_state.fp.swd, th_fpe_state.fp.ftw,
                            (unsigned long long)(th_fpe_state.rip - (uint64_t)(uintptr_t)h.page), cpu->s.fpu.fsw,
                            fpu_ftw_abridged(cpu), (unsigned long long)(th_peek(t, cpu->s.regs[R_SP], 8) - TH_CODE));
                dump("host ", hd);
                dump("caixa", gd);
            }
        }
        failures += bad;
        th_destroy(t);
    }
    free(t);
    munmap(h.page, 4096);
    sigaction(SIGFPE, &old, NULL);
    assert_true(faults > 100);
    assert_int_equal(failures, 0);
}

/* Transcendentals: within 4 ulps of the host (same flags apart from PE/UE
 * subtleties), arguments in each instruction's documented domain. */
static void test_transcendental(void **state)
{
    (void)state;
    struct host_code h = { NULL };
    if (!host_init(&h))
        skip();
    static const struct fcase tc[] = {
        FC("f2xm1", 0, 0xd9, 0xf0), FC("fyl2x", 0, 0xd9, 0xf1), FC("fptan", 0, 0xd9, 0xf2),
        FC("fpatan", 0, 0xd9, 0xf3), FC("fyl2xp1", 0, 0xd9, 0xf9), FC("fsincos", 0, 0xd9, 0xfb),
        FC("fsin", 0, 0xd9, 0xfe), FC("fcos", 0, 0xd9, 0xff),
    };
    struct th *t = malloc(sizeof(*t));
    _Alignas(16) static uint8_t in[DATA_LEN], hd[DATA_LEN], gd[DATA_LEN];
    unsigned failures = 0;
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        uint8_t code[128];
        size_t n = build(code, &tc[i]);
        guest_setup(t);
        for (unsigned k = 0; k < 1000; k++) {
            memset(in, 0, sizeof(in));
            long double a, b = (long double)(rnd() % 1000000) / 1000.0L + 0.5L;
            if (tc[i].op[1] == 0xf0 || tc[i].op[1] == 0xf9)
                a = (long double)((int64_t)(rnd() % 2000001) - 1000000) / 2000000.0L;  /* [-0.5, 0.5] */
            else if (tc[i].op[1] == 0xf1)
                a = (long double)(rnd() % 1000000 + 1) / 1000.0L;
            else if (k % 4 == 0)
                a = ldexpl((long double)(rnd() >> 1), -(int)(rnd() % 64));  /* up to 2^63 */
            else
                a = (long double)((int64_t)(rnd() % 2000001) - 1000000) / 1000.0L;
            memcpy(in + D_A, &a, 10);
            memcpy(in + D_B, &b, 10);
            uint16_t cw = 0x037f;
            memcpy(in + D_CW, &cw, 2);
            memcpy(hd, in, DATA_LEN);
            memcpy(gd, in, DATA_LEN);
            host_run(&h, code, n, hd);
            assert_true(guest_run(t, code, n, gd, k == 0));
            /* TOP, C2 and the stack contents' classes must agree */
            uint16_t hs, gs;
            memcpy(&hs, hd + D_SW1, 2);
            memcpy(&gs, gd + D_SW1, 2);
            bool ok = (hs & 0x3c41) == (gs & 0x3c41);
            for (int r = 0; r < 3; r++) {
                long double hv, gv;
                memcpy(&hv, hd + D_R0 + 16 * r, 10);
                memcpy(&gv, gd + D_R0 + 16 * r, 10);
                long double diff = hv - gv, tol = __builtin_fabsl(hv) * 0x1p-60L + 0x1p-16000L;
                if (!(hv == gv || (__builtin_isnan(hv) && __builtin_isnan(gv)) || __builtin_fabsl(diff) <= tol))
                    ok = false;
            }
            if (!ok) {
                failures++;
                fprintf(stderr, "%s: a %La b %La\n", tc[i].name, a, b);
                dump("host ", hd);
                dump("caixa", gd);
            }
        }
        th_destroy(t);
    }
    free(t);
    munmap(h.page, 4096);
    assert_int_equal(failures, 0);
}

/* Unmasked exceptions: ES/B set, the result not stored, then #MF at the
 * next waiting instruction (CR0.NE = 1); FNSTSW does not fault. */
static void test_unmasked_mf(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    guest_setup(t);
    uint8_t d[64] = { 0 };
    uint16_t cw = 0x037b;  /* ZM clear */
    memcpy(d + D_CW, &cw, 2);
    long double one = 1.0L, zero = 0.0L;
    memcpy(d + D_A, &one, 10);
    memcpy(d + D_B, &zero, 10);
    th_poke(t, TH_DATA, d, sizeof(d));
    /* fninit; fldcw; fld B; fld A; fdiv st0, st1; fnstsw [SW1]; fwait */
    uint8_t code[] = { 0xdb, 0xe3, 0xd9, 0x6b, D_CW, 0xdb, 0x6b, D_B, 0xdb, 0x6b, D_A,
                       0xd8, 0xf1, 0xdd, 0x7b, D_SW1, 0x9b };
    th_run(t, code, sizeof(code));
    /* the FWAIT faulted: rip at it, no IDT so the vCPU is stuck there or reset */
    uint16_t sw = (uint16_t)th_peek(t, TH_DATA + D_SW1, 2);
    assert_int_equal(sw & (FSW_ES | FSW_B | SF_ZE), FSW_ES | FSW_B | SF_ZE);
    fx80 st0 = x87_st(&t->cpu, 0);
    assert_int_equal(st0.se, 0x3fff);  /* 1.0 unchanged */
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    free(t);
}

/* CR0.EM / CR0.TS -> #NM; FWAIT only with MP and TS. */
static void test_nm(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    guest_setup(t);
    t->cpu.s.cr0 |= CR0_TS;
    th_run(t, TH_CODE_ARR(0xd9, 0xe8), 2);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    guest_setup(t);
    t->cpu.s.cr0 = (t->cpu.s.cr0 | CR0_TS) & ~(uint64_t)CR0_MP;
    th_run_ok(t, TH_CODE_ARR(0x9b), 1);
    th_destroy(t);
    guest_setup(t);
    t->cpu.s.cr0 |= CR0_EM;
    th_run(t, TH_CODE_ARR(0xd9, 0xe8), 2);
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    free(t);
}

/* FNSTENV/FLDENV, FNSAVE/FRSTOR and FXSAVE/FXRSTOR round trips, and the
 * image fields the host writes identically (control, status, tags, the
 * registers). */
static void test_images(void **state)
{
    (void)state;
    struct host_code h = { NULL };
    if (!host_init(&h))
        skip();
    /* fninit; fldcw; fld B; fld A; fld1; fnstenv [rbx+0x100]; fnsave [rbx+0x140];
     * frstor [rbx+0x140]; fxsave [rbx+0x200]; fninit; fxrstor [rbx+0x200];
     * fstp R0; fstp R1; fstp R2; fnstsw SW2; fninit */
    static const uint8_t code[] = {
        0xdb, 0xe3, 0xd9, 0x6b, D_CW, 0xdb, 0x6b, D_B, 0xdb, 0x6b, D_A, 0xd9, 0xe8,
        0xd9, 0xb3, 0x00, 0x01, 0x00, 0x00,
        0xdd, 0xb3, 0x40, 0x01, 0x00, 0x00,
        0xdd, 0xa3, 0x40, 0x01, 0x00, 0x00,
        0x0f, 0xae, 0x83, 0x00, 0x02, 0x00, 0x00,
        0xdb, 0xe3,
        0x0f, 0xae, 0x8b, 0x00, 0x02, 0x00, 0x00,
        0xdb, 0x7b, D_R0, 0xdb, 0x7b, D_R1, 0xdb, 0x7b, D_R2, 0xdd, 0x7b, D_SW2, 0xdb, 0xe3,
    };
    struct th *t = malloc(sizeof(*t));
    guest_setup(t);
    t->cpu.s.cr4 |= CR4_OSFXSR;
    _Alignas(16) static uint8_t in[DATA_LEN], hd[DATA_LEN], gd[DATA_LEN];
    unsigned failures = 0;
    for (unsigned k = 0; k < 500; k++) {
        memset(in, 0, sizeof(in));
        rnd_f80(in + D_A);
        rnd_f80(in + D_B);
        uint16_t cw = rnd_cw();
        memcpy(in + D_CW, &cw, 2);
        memcpy(hd, in, DATA_LEN);
        memcpy(gd, in, DATA_LEN);
        host_run(&h, code, sizeof(code), hd);
        assert_true(guest_run(t, code, sizeof(code), gd, k == 0));
        bool ok = !memcmp(hd, gd, 0x80);
        ok = ok && !memcmp(hd + 0x100, gd + 0x100, 12);               /* FSTENV: FCW FSW FTW */
        ok = ok && !memcmp(hd + 0x140, gd + 0x140, 12);               /* FSAVE env */
        ok = ok && !memcmp(hd + 0x140 + 28, gd + 0x140 + 28, 30);     /* FSAVE: the 3 loaded registers */
        ok = ok && !memcmp(hd + 0x200, gd + 0x200, 5);                /* FXSAVE FCW FSW FTW */
        /* MXCSR_MASK: the low 16 bits as the host's; above them an AMD host
         * sets its MM bit (17), which caixa's Intel model does not have. */
        ok = ok && !memcmp(hd + 0x200 + 28, gd + 0x200 + 28, 2) && !gd[0x200 + 30] && !gd[0x200 + 31];
        ok = ok && !memcmp(hd + 0x200 + 32, gd + 0x200 + 32, 48);     /* ST0-ST2 */
        if (!ok) {
            failures++;
            for (int o = 0; o < 0x2a0; o += 16) {
                if (memcmp(hd + o, gd + o, 16)) {
                    fprintf(stderr, "%03x host ", o);
                    for (int j = 0; j < 16; j++)
                        fprintf(stderr, "%02x", hd[o + j]);
                    fprintf(stderr, " caixa ");
                    for (int j = 0; j < 16; j++)
                        fprintf(stderr, "%02x", gd[o + j]);
                    fprintf(stderr, "\n");
                }
            }
            if (failures > 3)
                break;
        }
    }
    th_destroy(t);
    free(t);
    munmap(h.page, 4096);
    assert_int_equal(failures, 0);
}

/* Unmasked overflow with a register destination: the exponent is wrapped
 * by 24576 and stored, OE and ES set (SDM Vol. 1 8.5.4). */
static void test_unmasked_overflow_wraps(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    guest_setup(t);
    uint8_t d[64] = { 0 };
    uint16_t cw = 0x0377;  /* OM clear */
    uint64_t m = 1ull << 63;
    uint16_t se = 0x3fff + 12000;
    memcpy(d + D_CW, &cw, 2);
    memcpy(d + D_A, &m, 8);
    memcpy(d + D_A + 8, &se, 2);
    th_poke(t, TH_DATA, d, sizeof(d));
    /* fninit; fldcw; fld A; fmul st0, st0; fnstsw [SW1] */
    TH_RUN(t, 0xdb, 0xe3, 0xd9, 0x6b, D_CW, 0xdb, 0x6b, D_A, 0xd8, 0xc8, 0xdd, 0x7b, D_SW1);
    fx80 r = x87_st(&t->cpu, 0);
    assert_int_equal(r.se, 0x3fff + 24000 - 24576);
    assert_int_equal(r.mant, 1ull << 63);
    uint16_t sw = (uint16_t)th_peek(t, TH_DATA + D_SW1, 2);
    assert_int_equal(sw & (FSW_EXC | FSW_ES), SF_OE | FSW_ES);
    th_destroy(t);
    free(t);
}

/* Real mode FNSTENV/FLDENV in the 16-bit and 32-bit real-mode formats
 * (SDM Vol. 1 figures 8-10 and 8-12): linear instruction pointer and
 * opcode packed together. */
static void test_env_real(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    th_init(t, TH_REAL);
    /* fninit; fld1; fnstenv [0x100]; o32 fnstenv [0x180]; mov word [0x100], 0x027f;
     * fldenv [0x100]; fnstcw [0x200] */
    TH_RUN(t, 0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0x36, 0x00, 0x01, 0x66, 0xd9, 0x36, 0x80, 0x01,
           0xc7, 0x06, 0x00, 0x01, 0x7f, 0x02, 0xd9, 0x26, 0x00, 0x01, 0xd9, 0x3e, 0x00, 0x02);
    assert_int_equal(th_peek(t, 0x102, 2), 0x3800);            /* FSW: TOP = 7 */
    assert_int_equal(th_peek(t, 0x104, 2), 0x3fff);            /* FTW: ST0 valid */
    assert_int_equal(th_peek(t, 0x106, 2), TH_CODE + 2);       /* IP 15..0 of FLD1 */
    assert_int_equal(th_peek(t, 0x108, 2), 0x1e8);             /* IP 19..16, FOP D9 E8 */
    assert_int_equal(th_peek(t, 0x180, 4), 0xffff037f);        /* 32-bit format: FCW */
    assert_int_equal(th_peek(t, 0x188, 4), 0xffff3fff);
    assert_int_equal(th_peek(t, 0x18c, 4), 0xffff0000 | (TH_CODE + 2));
    assert_int_equal(th_peek(t, 0x190, 4), 0x1e8);
    assert_int_equal(th_peek(t, 0x200, 2), 0x027f);            /* FLDENV loaded FCW */
    assert_int_equal(t->cpu.s.fpu.fcw, 0x027f);
    th_destroy(t);
    free(t);
}

/* FXSAVE needs a 16-byte aligned operand; FXRSTOR rejects reserved MXCSR bits. */
static void test_fxsave_faults(void **state)
{
    (void)state;
    struct th *t = malloc(sizeof(*t));
    guest_setup(t);
    t->cpu.s.cr4 |= CR4_OSFXSR;
    th_run(t, TH_CODE_ARR(0x0f, 0xae, 0x04, 0x25, 0x08, 0x00, 0x01, 0x00), 8);  /* fxsave [0x10008] */
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    guest_setup(t);
    t->cpu.s.cr4 |= CR4_OSFXSR;
    uint32_t bad = 0x10000;
    th_poke(t, TH_DATA + 24, &bad, 4);
    th_run(t, TH_CODE_ARR(0x0f, 0xae, 0x0c, 0x25, 0x00, 0x00, 0x01, 0x00), 8);  /* fxrstor [0x10000] */
    assert_int_not_equal(t->cpu.s.rip, t->end);
    th_destroy(t);
    /* a good image round-trips XMM registers */
    guest_setup(t);
    t->cpu.s.cr4 |= CR4_OSFXSR;
    t->cpu.s.fpu.xmm[9].q[1] = 0x123456789abcdef0ull;
    TH_RUN(t, 0x0f, 0xae, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00);
    assert_int_equal(th_peek(t, TH_DATA + 160 + 9 * 16 + 8, 8), 0x123456789abcdef0ull);
    assert_int_equal(th_peek(t, TH_DATA + 28, 4), 0xffff);
    th_destroy(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_host),
        cmocka_unit_test(test_unmasked_against_host),
        cmocka_unit_test(test_transcendental),
        cmocka_unit_test(test_unmasked_mf),
        cmocka_unit_test(test_nm),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_unmasked_overflow_wraps),
        cmocka_unit_test(test_env_real),
        cmocka_unit_test(test_fxsave_faults),
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
