/* ALU instructions (src/cpu/alu.c): results and flags per the Intel SDM
 * Vol. 2 pages of ADD ADC SUB SBB AND OR XOR CMP INC DEC NEG NOT TEST ADCX
 * ADOX. Code bytes assembled with nasm; the source is in the comments. */
#include "cpu_test_harness.h"

/* 64-bit */
static const uint8_t add_of[] = {
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,   /* mov rax, -1 */
    0xb8, 0xff, 0xff, 0xff, 0x7f,               /* mov eax, 0x7fffffff */
    0x83, 0xc0, 0x01,                           /* add eax, 1 */
};
/* 64-bit */
static const uint8_t add_carry64[] = {
    0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff,   /* mov rbx, -1 */
    0x48, 0x83, 0xc3, 0x01,                     /* add rbx, 1 */
};
/* 64-bit */
static const uint8_t adc_sbb[] = {
    0xf9,                                       /* stc */
    0xba, 0x0a, 0x00, 0x00, 0x00,               /* mov edx, 10 */
    0x83, 0xd2, 0x05,                           /* adc edx, 5 */
    0xf9,                                       /* stc */
    0xbe, 0x0a, 0x00, 0x00, 0x00,               /* mov esi, 10 */
    0x83, 0xde, 0x0f,                           /* sbb esi, 15 */
};
/* 64-bit */
static const uint8_t byte_regs[] = {
    0xb8, 0x34, 0x12, 0x00, 0x00,               /* mov eax, 0x1234 */
    0xb4, 0x80,                                 /* mov ah, 0x80 */
    0x80, 0xc4, 0x80,                           /* add ah, 0x80 */
};
/* 64-bit */
static const uint8_t inc_keeps_cf[] = {
    0xf9,                                       /* stc */
    0xb9, 0xff, 0xff, 0xff, 0xff,               /* mov ecx, 0xffffffff */
    0xff, 0xc1,                                 /* inc ecx */
};
/* 64-bit */
static const uint8_t neg_forms[] = {
    0xb9, 0x02, 0x00, 0x00, 0x00,               /* mov rcx, 2 */
    0x48, 0xf7, 0xd9,                           /* neg rcx */
    0x45, 0x31, 0xc0,                           /* xor r8d, r8d */
    0x49, 0xf7, 0xd8,                           /* neg r8 */
};
/* 64-bit */
static const uint8_t logic_clears[] = {
    0xf9,                                       /* stc */
    0xb8, 0x80, 0x00, 0x00, 0x00,               /* mov eax, 0x80 */
    0xa8, 0x80,                                 /* test al, 0x80 */
};
/* 64-bit */
static const uint8_t mem_rmw[] = {
    0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x34, 0x12, 0x00, 0x00, /* mov qword [0x10000], 0x1234 */
    0x48, 0x83, 0x24, 0x25, 0x00, 0x00, 0x01, 0x00, 0x0f, /* and qword [0x10000], 0x0f */
    0xf0, 0x80, 0x0c, 0x25, 0x00, 0x00, 0x01, 0x00, 0x80, /* lock or byte [0x10000], 0x80 */
    0x83, 0x04, 0x25, 0x04, 0x00, 0x01, 0x00, 0xff, /* add dword [0x10004], -1 */
    0xf0, 0xff, 0x04, 0x25, 0x08, 0x00, 0x01, 0x00, /* lock inc dword [0x10008] */
    0xf6, 0x14, 0x25, 0x09, 0x00, 0x01, 0x00,   /* not byte [0x10009] */
    0x66, 0x83, 0x2c, 0x25, 0x0a, 0x00, 0x01, 0x00, 0x01, /* sub word [0x1000a], 1 */
};
/* 64-bit */
static const uint8_t cmp_no_write[] = {
    0xb8, 0x05, 0x00, 0x00, 0x00,               /* mov eax, 5 */
    0x83, 0xf8, 0x06,                           /* cmp eax, 6 */
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00, /* mov dword [0x10000], 7 */
    0x83, 0x3c, 0x25, 0x00, 0x00, 0x01, 0x00, 0x07, /* cmp dword [0x10000], 7 */
};
/* 64-bit */
static const uint8_t adx[] = {
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,   /* mov rax, -1 */
    0xbb, 0x01, 0x00, 0x00, 0x00,               /* mov rbx, 1 */
    0xf8,                                       /* clc */
    0x66, 0x48, 0x0f, 0x38, 0xf6, 0xc3,         /* adcx rax, rbx */
    0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff,   /* mov rdx, -1 */
    0xb9, 0x01, 0x00, 0x00, 0x00,               /* mov rcx, 1 */
    0xf3, 0x48, 0x0f, 0x38, 0xf6, 0xd1,         /* adox rdx, rcx */
};
/* 16-bit */
static const uint8_t alu16[] = {
    0xb8, 0xfe, 0xff,                           /* mov ax, 0xfffe */
    0x83, 0xc0, 0x03,                           /* add ax, 3 */
    0xbb, 0x00, 0x80,                           /* mov bx, 0x8000 */
    0x83, 0xeb, 0x01,                           /* sub bx, 1 */
};
/* 32-bit */
static const uint8_t sbb8[] = {
    0xf8,                                       /* clc */
    0xb0, 0x00,                                 /* mov al, 0 */
    0x1c, 0x01,                                 /* sbb al, 1 */
    0xb3, 0x40,                                 /* mov bl, 0x40 */
    0x80, 0xcb, 0x01,                           /* or bl, 0x01 */
    0x80, 0xf3, 0x41,                           /* xor bl, 0x41 */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

static void test_add_overflow(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, add_of);
    assert_int_equal(th_reg(&t, R_AX), 0x80000000u); /* 32-bit result zero-extends */
    assert_flags(&t, FL_ARITH, FL_OF | FL_SF | FL_AF | FL_PF);
    th_destroy(&t);
}

static void test_add_carry64(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, add_carry64);
    assert_int_equal(th_reg(&t, R_BX), 0);
    assert_flags(&t, FL_ARITH, FL_CF | FL_ZF | FL_PF | FL_AF);
    th_destroy(&t);
}

static void test_adc_sbb(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, adc_sbb);
    assert_int_equal(th_reg(&t, R_DX), 16);
    assert_int_equal(th_reg(&t, R_SI), 0xfffffffau);
    assert_flags(&t, FL_CF | FL_SF | FL_ZF | FL_OF, FL_CF | FL_SF);
    th_destroy(&t);
}

static void test_byte_regs(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, byte_regs);
    assert_int_equal(th_reg(&t, R_AX), 0x34);
    assert_flags(&t, FL_CF | FL_ZF | FL_OF | FL_SF, FL_CF | FL_ZF | FL_OF);
    th_destroy(&t);
}

static void test_inc_keeps_cf(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, inc_keeps_cf);
    assert_int_equal(th_reg(&t, R_CX), 0);
    assert_flags(&t, FL_CF | FL_ZF | FL_AF | FL_OF, FL_CF | FL_ZF | FL_AF);
    th_destroy(&t);
}

static void test_neg(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, neg_forms);
    assert_int_equal(th_reg(&t, R_CX), (uint64_t)-2);
    assert_int_equal(th_reg(&t, R_R8), 0);
    assert_flags(&t, FL_CF | FL_ZF, FL_ZF); /* NEG 0: CF = 0 */
    th_destroy(&t);
}

static void test_logic_flags(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, logic_clears);
    assert_flags(&t, FL_CF | FL_OF | FL_ZF | FL_SF | FL_PF, FL_SF);
    th_destroy(&t);
}

static void test_memory_rmw(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, mem_rmw);
    assert_int_equal(th_peek(&t, 0x10000, 8), 0xffffffff00000084ull);
    assert_int_equal(th_peek(&t, 0x10008, 4), 0xffffff01u);
    assert_int_equal(th_peek(&t, 0x1000a, 2), 0xffff);
    assert_flags(&t, FL_CF | FL_SF | FL_ZF, FL_CF | FL_SF);
    th_destroy(&t);
}

static void test_cmp(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, cmp_no_write);
    assert_int_equal(th_reg(&t, R_AX), 5);
    assert_int_equal(th_peek(&t, 0x10000, 4), 7);
    assert_flags(&t, FL_CF | FL_ZF, FL_ZF);
    th_destroy(&t);
}

static void test_adx(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, adx);
    assert_int_equal(th_reg(&t, R_AX), 0);
    assert_int_equal(th_reg(&t, R_DX), 0);
    assert_flags(&t, FL_CF | FL_OF, FL_CF | FL_OF);
    th_destroy(&t);
}

static void test_real_mode_16(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, alu16);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 1);
    assert_int_equal(th_reg(&t, R_BX) & 0xffff, 0x7fff);
    assert_flags(&t, FL_CF | FL_OF | FL_SF, FL_OF);
    th_destroy(&t);
}

static void test_pm32_sbb(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, sbb8);
    assert_int_equal(th_reg(&t, R_AX) & 0xff, 0xff);
    assert_int_equal(th_reg(&t, R_BX) & 0xff, 0);
    assert_flags(&t, FL_CF | FL_ZF | FL_OF, FL_ZF);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_overflow), cmocka_unit_test(test_add_carry64),
        cmocka_unit_test(test_adc_sbb),      cmocka_unit_test(test_byte_regs),
        cmocka_unit_test(test_inc_keeps_cf), cmocka_unit_test(test_neg),
        cmocka_unit_test(test_logic_flags),  cmocka_unit_test(test_memory_rmw),
        cmocka_unit_test(test_cmp),          cmocka_unit_test(test_adx),
        cmocka_unit_test(test_real_mode_16), cmocka_unit_test(test_pm32_sbb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
