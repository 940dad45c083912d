/* String instructions (src/cpu/string.c) per the Intel SDM Vol. 2 pages
 * MOVS CMPS STOS LODS SCAS INS OUTS and REP/REPE/REPNE: address-size
 * registers (16-bit wrap, a32 in 64-bit mode), DF, termination conditions,
 * a REP longer than one execution slice, port I/O. */
#include "cpu_test_harness.h"

/* 16-bit */
static const uint8_t movs_wrap16[] = {
    0xbe, 0xfe, 0xff,                           /* mov si, 0xfffe */
    0xbf, 0x00, 0x20,                           /* mov di, 0x2000 */
    0xb9, 0x04, 0x00,                           /* mov cx, 4 */
    0xf3, 0xa4,                                 /* rep movsb */
};
/* 32-bit */
static const uint8_t stosd_df[] = {
    0xfd,                                       /* std */
    0xbf, 0x0c, 0x00, 0x01, 0x00,               /* mov edi, 0x1000c */
    0xb9, 0x04, 0x00, 0x00, 0x00,               /* mov ecx, 4 */
    0xb8, 0x44, 0x33, 0x22, 0x11,               /* mov eax, 0x11223344 */
    0xf3, 0xab,                                 /* rep stosd */
    0xfc,                                       /* cld */
};
/* 64-bit */
static const uint8_t cmps_repe[] = {
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x61, 0x62, 0x63, 0x58, /* mov dword [0x10000], 0x58636261 */
    0xc7, 0x04, 0x25, 0x00, 0x01, 0x01, 0x00, 0x61, 0x62, 0x63, 0x59, /* mov dword [0x10100], 0x59636261 */
    0xbe, 0x00, 0x00, 0x01, 0x00,               /* mov rsi, 0x10000 */
    0xbf, 0x00, 0x01, 0x01, 0x00,               /* mov rdi, 0x10100 */
    0xb9, 0x0a, 0x00, 0x00, 0x00,               /* mov rcx, 10 */
    0xf3, 0xa6,                                 /* repe cmpsb */
};
/* 64-bit */
static const uint8_t scas_repne[] = {
    0xc7, 0x04, 0x25, 0x00, 0x02, 0x01, 0x00, 0x68, 0x65, 0x6c, 0x6c, /* mov dword [0x10200], 0x6c6c6568 */
    0xc7, 0x04, 0x25, 0x04, 0x02, 0x01, 0x00, 0x6f, 0x00, 0x00, 0x00, /* mov dword [0x10204], 0x0000006f */
    0x31, 0xc0,                                 /* xor eax, eax */
    0xbf, 0x00, 0x02, 0x01, 0x00,               /* mov rdi, 0x10200 */
    0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff,   /* mov rcx, -1 */
    0xf2, 0xae,                                 /* repne scasb */
};
/* 64-bit */
static const uint8_t lods_a32[] = {
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0xef, 0xbe, 0xad, 0xde, /* mov dword [0x10000], 0xdeadbeef */
    0x48, 0xbe, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, /* mov rsi, 0x100010000 */
    0x67, 0xad,                                 /* a32 lodsd */
};
/* 64-bit */
static const uint8_t long_rep[] = {
    0xbf, 0x00, 0x00, 0x20, 0x00,               /* mov rdi, 0x200000 */
    0xb9, 0xa0, 0x86, 0x01, 0x00,               /* mov rcx, 100000 */
    0xb0, 0xa5,                                 /* mov al, 0xa5 */
    0xf3, 0xaa,                                 /* rep stosb */
};
/* 32-bit */
static const uint8_t outs_ins[] = {
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x11, 0x22, 0x33, 0x00, /* mov dword [0x10000], 0x00332211 */
    0xbe, 0x00, 0x00, 0x01, 0x00,               /* mov esi, 0x10000 */
    0xbf, 0x00, 0x01, 0x01, 0x00,               /* mov edi, 0x10100 */
    0x66, 0xba, 0x80, 0x00,                     /* mov dx, 0x80 */
    0xb9, 0x03, 0x00, 0x00, 0x00,               /* mov ecx, 3 */
    0xf3, 0x6e,                                 /* rep outsb */
    0xb9, 0x02, 0x00, 0x00, 0x00,               /* mov ecx, 2 */
    0xf3, 0x66, 0x6d,                           /* rep insw */
};
/* 64-bit */
static const uint8_t rep_zero[] = {
    0xbf, 0x00, 0x00, 0x01, 0x00,               /* mov rdi, 0x10000 */
    0x31, 0xc9,                                 /* xor ecx, ecx */
    0xb0, 0x01,                                 /* mov al, 1 */
    0xf3, 0xaa,                                 /* rep stosb */
};
/* 16-bit */
static const uint8_t fault_mid_rep[] = {
    0x66, 0xbf, 0xfe, 0xff, 0x00, 0x00,         /* mov edi, 0xfffe */
    0x66, 0xb9, 0x04, 0x00, 0x00, 0x00,         /* mov ecx, 4 */
    0xb0, 0x77,                                 /* mov al, 0x77 */
    0xf3, 0x67, 0xaa,                           /* a32 rep stosb */
};
/* 32-bit */
static const uint8_t fault_limit_pm32[] = {
    0xbf, 0x00, 0x00, 0x01, 0x00,               /* mov edi, 0x10000 */
    0xb9, 0x08, 0x00, 0x00, 0x00,               /* mov ecx, 8 */
    0xb0, 0x55,                                 /* mov al, 0x55 */
    0xf3, 0xaa,                                 /* rep stosb */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

/* 16-bit SI wraps from 0xffff to 0 within the segment. */
static void test_movs_wrap16(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_poke(&t, 0xfffe, (uint8_t[]){ 0x11, 0x22 }, 2);
    th_poke(&t, 0x0000, (uint8_t[]){ 0x33, 0x44 }, 2);
    th_run_ok(&t, movs_wrap16, sizeof(movs_wrap16));
    assert_int_equal(th_peek(&t, 0x2000, 4), 0x44332211u);
    assert_int_equal(th_reg(&t, R_SI) & 0xffff, 2);
    assert_int_equal(th_reg(&t, R_DI) & 0xffff, 0x2004);
    assert_int_equal(th_reg(&t, R_CX) & 0xffff, 0);
    th_destroy(&t);
}

static void test_stos_backwards(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, stosd_df);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(th_peek(&t, 0x10000 + 4 * i, 4), 0x11223344u);
    assert_int_equal(th_reg(&t, R_DI), 0xfffc);
    assert_int_equal(th_flags(&t) & FL_DF, 0);
    th_destroy(&t);
}

static void test_repe_cmps(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, cmps_repe);
    assert_int_equal(th_reg(&t, R_CX), 6);
    assert_int_equal(th_reg(&t, R_SI), 0x10004);
    assert_int_equal(th_reg(&t, R_DI), 0x10104);
    assert_flags(&t, FL_ZF | FL_CF, FL_CF); /* 'X' - 'Y' borrows */
    th_destroy(&t);
}

static void test_repne_scas(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, scas_repne);
    assert_int_equal(th_reg(&t, R_CX), (uint64_t)-7);
    assert_int_equal(th_reg(&t, R_DI), 0x10206);
    assert_flags(&t, FL_ZF, FL_ZF);
    th_destroy(&t);
}

/* a32 in 64-bit mode: ESI is the pointer and is written zero-extended. */
static void test_lods_a32(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, lods_a32);
    assert_int_equal(th_reg(&t, R_AX), 0xdeadbeefu);
    assert_int_equal(th_reg(&t, R_SI), 0x10004);
    th_destroy(&t);
}

/* Longer than one slice: the instruction restarts until rCX is 0. */
static void test_long_rep(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, long_rep);
    assert_int_equal(th_reg(&t, R_CX), 0);
    assert_int_equal(th_reg(&t, R_DI), 0x200000 + 100000);
    assert_int_equal(th_peek(&t, 0x200000, 1), 0xa5);
    assert_int_equal(th_peek(&t, 0x200000 + 99999, 1), 0xa5);
    assert_int_equal(th_peek(&t, 0x200000 + 100000, 1), 0);
    th_destroy(&t);
}

static void test_outs_ins(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_PM32);
    t.io_in_val = 0x5000;
    th_run_ok(&t, outs_ins, sizeof(outs_ins));
    assert_int_equal(t.io_last_port, 0x80);
    assert_int_equal(t.io_last_out, 0x33);
    assert_int_equal(t.io_count, 5);
    /* th_io_in returns io_in_val + (calls so far) */
    assert_int_equal(th_peek(&t, 0x10100, 4), (0x5004u << 16) | 0x5003u);
    assert_int_equal(th_reg(&t, R_SI), 0x10003);
    assert_int_equal(th_reg(&t, R_DI), 0x10104);
    th_destroy(&t);
}

static void test_rep_zero_count(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, rep_zero);
    assert_int_equal(th_peek(&t, 0x10000, 1), 0);
    assert_int_equal(th_reg(&t, R_DI), 0x10000);
    th_destroy(&t);
}

/* A fault part-way leaves the registers of the iterations done (restartable):
 * a32 STOSB in real mode runs past the 64 KiB limit of ES. */
static void test_fault_mid_rep(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_run(&t, fault_mid_rep, sizeof(fault_mid_rep));
    assert_int_equal(th_vector(&t), EXC_GP);
    assert_int_equal(th_reg(&t, R_DI), 0x10000);
    assert_int_equal(th_reg(&t, R_CX), 2);
    assert_int_equal(th_peek(&t, 0xfffe, 2), 0x7777);
    th_destroy(&t);
}

/* With TF set a REP traps (#DB) after each iteration, on itself. */
static void test_rep_single_step(void **st)
{
    (void)st;
    static const uint8_t rep_stosb[] = { 0xf3, 0xaa }; /* rep stosb */
    struct th t;
    th_init(&t, TH_PM32);
    t.cpu.s.regs[R_DI] = 0x10000;
    t.cpu.s.regs[R_CX] = 5;
    t.cpu.s.regs[R_AX] = 0x66;
    cpu_set_rflags(&t.cpu, FL_1 | FL_TF);
    th_run(&t, rep_stosb, sizeof(rep_stosb));
    assert_int_equal(th_vector(&t), EXC_DB);
    assert_int_equal(th_reg(&t, R_CX), 4);
    assert_int_equal(th_reg(&t, R_DI), 0x10001);
    assert_int_equal(th_peek(&t, th_reg(&t, R_SP), 4), TH_CODE); /* EIP of the REP itself */
    assert_int_equal(th_peek(&t, 0x10000, 2), 0x66);
    th_destroy(&t);
}

/* a32 REP with ECX = 0 and RCX above 4 GiB: no iteration, but RCX is
 * written zero-extended (observed on Intel hosts). */
static void test_a32_zero_count(void **st)
{
    (void)st;
    static const uint8_t a32_rep_stosb[] = { 0x67, 0xf3, 0xaa }; /* a32 rep stosb */
    struct th t;
    th_init(&t, TH_LM64);
    t.cpu.s.regs[R_DI] = 0x10000;
    t.cpu.s.regs[R_CX] = 0x500000000ull;
    th_run_ok(&t, a32_rep_stosb, sizeof(a32_rep_stosb));
    assert_int_equal(th_reg(&t, R_CX), 0);
    assert_int_equal(th_reg(&t, R_DI), 0x10000);
    th_destroy(&t);
}

/* A byte-granular ES limit inside a page: the elements below the limit are
 * stored before the #GP, as element-wise execution does. */
static void test_fault_at_limit(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_PM32);
    t.cpu.s.seg[S_ES].attr = TH_ATTR_DATA | SEGA_DB;
    t.cpu.s.seg[S_ES].limit = 0x10003;
    th_run(&t, fault_limit_pm32, sizeof(fault_limit_pm32));
    assert_int_equal(th_vector(&t), EXC_GP);
    assert_int_equal(th_reg(&t, R_DI), 0x10004);
    assert_int_equal(th_reg(&t, R_CX), 4);
    assert_int_equal(th_peek(&t, 0x10000, 8), 0x55555555u);
    th_destroy(&t);
}

/* Forward REP STOS of every element size over a page edge, with a value
 * whose bytes differ (each element holds AL/AX/EAX/RAX's low part, SDM
 * STOS) and one whose bytes are alike; the byte after the run is kept. */
static void test_stos_sizes(void **st)
{
    (void)st;
    static const uint8_t stos_forms[][3] = {
        { 0xf3, 0xaa },       /* rep stosb */
        { 0x66, 0xf3, 0xab }, /* rep stosw */
        { 0xf3, 0xab },       /* rep stosd */
        { 0xf3, 0x48, 0xab }, /* rep stosq */
    };
    static const unsigned form_len[] = { 2, 3, 2, 3 };
    static const uint64_t values[] = { 0x8877665544332211ull, 0xa5a5a5a5a5a5a5a5ull, 0x00000000000000ffull };
    for (unsigned f = 0; f < 4; f++) {
        unsigned size = 1u << f;
        for (unsigned k = 0; k < 3; k++) {
            struct th t;
            th_init(&t, TH_LM64);
            uint8_t guard[80];
            memset(guard, 0xcc, sizeof(guard));
            th_poke(&t, 0x10fe0, guard, sizeof(guard));
            t.cpu.s.regs[R_DI] = 0x10fe8;   /* 64 bytes: 24 in one page, 40 in the next */
            t.cpu.s.regs[R_CX] = 64 / size;
            t.cpu.s.regs[R_AX] = values[k];
            th_run_ok(&t, stos_forms[f], form_len[f]);
            uint64_t want = values[k] & (size == 8 ? ~0ull : (1ull << (8 * size)) - 1);
            for (unsigned i = 0; i < 64; i += size)
                assert_int_equal(th_peek(&t, 0x10fe8 + i, size), want);
            assert_int_equal(th_peek(&t, 0x10fe7, 1), 0xcc);
            assert_int_equal(th_peek(&t, 0x11028, 1), 0xcc);
            assert_int_equal(th_reg(&t, R_DI), 0x11028);
            assert_int_equal(th_reg(&t, R_CX), 0);
            th_destroy(&t);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_movs_wrap16), cmocka_unit_test(test_stos_backwards),
        cmocka_unit_test(test_repe_cmps),   cmocka_unit_test(test_repne_scas),
        cmocka_unit_test(test_lods_a32),    cmocka_unit_test(test_long_rep),
        cmocka_unit_test(test_outs_ins),    cmocka_unit_test(test_rep_zero_count),
        cmocka_unit_test(test_fault_mid_rep), cmocka_unit_test(test_rep_single_step),
        cmocka_unit_test(test_a32_zero_count), cmocka_unit_test(test_fault_at_limit),
        cmocka_unit_test(test_stos_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
