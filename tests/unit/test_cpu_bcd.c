/* BCD adjustments (src/cpu/bcd.c), with the worked examples of the Intel
 * SDM Vol. 2 DAA and DAS pages and the AAA AAS AAM AAD pseudo-code. */
#include "cpu_test_harness.h"

/* 32-bit */
static const uint8_t daa_ex[] = {
    0xb0, 0x79,                                 /* mov al, 0x79 */
    0xb3, 0x35,                                 /* mov bl, 0x35 */
    0x00, 0xd8,                                 /* add al, bl */
    0x27,                                       /* daa */
};
/* 32-bit */
static const uint8_t das_ex[] = {
    0xb0, 0x35,                                 /* mov al, 0x35 */
    0xb3, 0x47,                                 /* mov bl, 0x47 */
    0x28, 0xd8,                                 /* sub al, bl */
    0x2f,                                       /* das */
};
/* 16-bit */
static const uint8_t aaa_ex[] = {
    0xb8, 0x09, 0x00,                           /* mov ax, 0x0009 */
    0x04, 0x08,                                 /* add al, 0x08 */
    0x37,                                       /* aaa */
};
/* 16-bit */
static const uint8_t aas_ex[] = {
    0xb8, 0x02, 0x01,                           /* mov ax, 0x0102 */
    0x2c, 0x05,                                 /* sub al, 5 */
    0x3f,                                       /* aas */
};
/* 16-bit */
static const uint8_t aam_ex[] = {
    0xb8, 0x3f, 0x00,                           /* mov ax, 0x003f */
    0xd4, 0x0a,                                 /* aam */
};
/* 16-bit */
static const uint8_t aad_ex[] = {
    0xb8, 0x07, 0x06,                           /* mov ax, 0x0607 */
    0xd5, 0x0a,                                 /* aad */
};
/* 16-bit */
static const uint8_t aam_zero[] = {
    0xb8, 0x34, 0x12,                           /* mov ax, 0x1234 */
    0xd4, 0x00,                                 /* aam 0 */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)
#define BCD_FLAGS (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)

static void test_daa(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, daa_ex);
    assert_int_equal(th_reg(&t, R_AX) & 0xff, 0x14);
    assert_flags(&t, BCD_FLAGS, FL_AF | FL_PF | FL_CF);
    th_destroy(&t);
}

static void test_das(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, das_ex);
    assert_int_equal(th_reg(&t, R_AX) & 0xff, 0x88);
    assert_flags(&t, BCD_FLAGS, FL_SF | FL_AF | FL_PF | FL_CF);
    th_destroy(&t);
}

static void test_aaa_aas(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, aaa_ex);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x0107);
    assert_flags(&t, FL_AF | FL_CF, FL_AF | FL_CF);
    th_destroy(&t);
    RUN(&t, TH_REAL, aas_ex);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x0007);
    assert_flags(&t, FL_AF | FL_CF, FL_AF | FL_CF);
    th_destroy(&t);
}

static void test_aam_aad(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, aam_ex);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x0603);
    assert_flags(&t, FL_SF | FL_ZF | FL_PF, FL_PF);
    th_destroy(&t);
    RUN(&t, TH_REAL, aad_ex);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x0043);
    assert_flags(&t, FL_SF | FL_ZF | FL_PF, 0);
    th_destroy(&t);
}

static void test_aam_zero(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_run(&t, aam_zero, sizeof(aam_zero));
    assert_int_equal(th_vector(&t), EXC_DE);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x1234);
    th_destroy(&t);
}

/* DAA (27) is invalid in 64-bit mode. */
static void test_no64(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_LM64);
    struct insn in;
    uint8_t daa = 0x27;
    th_poke(&t, TH_CODE, &daa, 1);
    jmp_buf jb;
    t.cpu.jmp = &jb;
    if (!setjmp(jb)) {
        cpu_decode(&t.cpu, TH_CODE, &in);
        fail_msg("DAA decoded in 64-bit mode");
    }
    assert_int_equal(t.cpu.exc_vec, EXC_UD);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daa),     cmocka_unit_test(test_das),      cmocka_unit_test(test_aaa_aas),
        cmocka_unit_test(test_aam_aad), cmocka_unit_test(test_aam_zero), cmocka_unit_test(test_no64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
