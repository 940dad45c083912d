/* Shifts and rotates (src/cpu/shift.c): results and flags per the Intel
 * SDM Vol. 2 pages SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR, SHLD, SHRD. Code bytes
 * assembled with nasm; the source is in the comments. */
#include "cpu_test_harness.h"

/* 64-bit */
static const uint8_t shl_count0[] = {
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,   /* mov rax, -1 */
    0xb1, 0x20,                                 /* mov cl, 32 */
    0xf9,                                       /* stc */
    0xd3, 0xe0,                                 /* shl eax, cl */
};
/* 64-bit */
static const uint8_t shl_of1[] = {
    0xb8, 0x00, 0x00, 0x00, 0x40,               /* mov eax, 0x40000000 */
    0xd1, 0xe0,                                 /* shl eax, 1 */
};
/* 64-bit */
static const uint8_t sar_neg[] = {
    0x48, 0xc7, 0xc3, 0xef, 0xff, 0xff, 0xff,   /* mov rbx, -17 */
    0x48, 0xc1, 0xfb, 0x02,                     /* sar rbx, 2 */
};
/* 64-bit */
static const uint8_t rcl9[] = {
    0xf9,                                       /* stc */
    0xb0, 0x81,                                 /* mov al, 0x81 */
    0xb1, 0x09,                                 /* mov cl, 9 */
    0xd2, 0xd0,                                 /* rcl al, cl */
    0xb2, 0x81,                                 /* mov dl, 0x81 */
    0xd0, 0xd2,                                 /* rcl dl, 1 */
};
/* 64-bit */
static const uint8_t rcr_ror[] = {
    0xf8,                                       /* clc */
    0x66, 0xbb, 0x01, 0x00,                     /* mov bx, 0x0001 */
    0x66, 0xd1, 0xdb,                           /* rcr bx, 1 */
    0x66, 0xbe, 0x01, 0x80,                     /* mov si, 0x8001 */
    0x66, 0xc1, 0xce, 0x04,                     /* ror si, 4 */
};
/* 16-bit */
static const uint8_t shld16[] = {
    0xb8, 0x34, 0x12,                           /* mov ax, 0x1234 */
    0xbb, 0xcd, 0xab,                           /* mov bx, 0xabcd */
    0x0f, 0xa4, 0xd8, 0x04,                     /* shld ax, bx, 4 */
    0xba, 0x34, 0x12,                           /* mov dx, 0x1234 */
    0x0f, 0xac, 0xda, 0x08,                     /* shrd dx, bx, 8 */
};
/* 64-bit */
static const uint8_t shrd64[] = {
    0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* mov rax, 0x0123456789abcdef */
    0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff,   /* mov rbx, -1 */
    0x48, 0x0f, 0xac, 0xd8, 0x3c,               /* shrd rax, rbx, 60 */
};
/* 32-bit */
static const uint8_t shl_mem[] = {
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x80, /* mov dword [0x10000], 0x80000001 */
    0xd1, 0x25, 0x00, 0x00, 0x01, 0x00,         /* shl dword [0x10000], 1 */
};
/* 32-bit */
static const uint8_t count0_cs_write[] = {
    /* xor ecx, ecx */
    /* sar byte [cs:0x10000], cl */
    0x31, 0xc9, 0x2e, 0xd2, 0x3d, 0x00, 0x00, 0x01, 0x00,
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

/* A masked count of 0 changes no flag but still zero-extends a 32-bit register. */
static void test_count_zero(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, shl_count0);
    assert_int_equal(th_reg(&t, R_AX), 0xffffffffu);
    assert_flags(&t, FL_CF, FL_CF);
    th_destroy(&t);
}

static void test_shl_overflow(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, shl_of1);
    assert_int_equal(th_reg(&t, R_AX), 0x80000000u);
    assert_flags(&t, FL_CF | FL_OF | FL_SF | FL_ZF, FL_OF | FL_SF);
    th_destroy(&t);
}

static void test_sar(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, sar_neg);
    assert_int_equal(th_reg(&t, R_BX), (uint64_t)-5);
    assert_flags(&t, FL_CF | FL_SF | FL_OF, FL_CF | FL_SF);
    th_destroy(&t);
}

/* RCL of a byte by 9 rotates by 0 (count mod 9); RCL by 1 sets OF. */
static void test_rcl(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, rcl9);
    assert_int_equal(th_reg(&t, R_AX) & 0xff, 0x81);
    assert_int_equal(th_reg(&t, R_DX) & 0xff, 0x03);
    assert_flags(&t, FL_CF | FL_OF, FL_CF | FL_OF);
    th_destroy(&t);
}

static void test_rcr_ror(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, rcr_ror);
    assert_int_equal(th_reg(&t, R_BX) & 0xffff, 0);
    assert_int_equal(th_reg(&t, R_SI) & 0xffff, 0x1800);
    assert_flags(&t, FL_CF, 0);
    th_destroy(&t);
}

static void test_shld_shrd16(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, shld16);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x234a);
    assert_int_equal(th_reg(&t, R_DX) & 0xffff, 0xcd12);
    assert_flags(&t, FL_CF | FL_SF | FL_ZF, FL_SF);
    th_destroy(&t);
}

static void test_shrd64(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, shrd64);
    assert_int_equal(th_reg(&t, R_AX), 0xfffffffffffffff0ull);
    assert_flags(&t, FL_CF | FL_SF, FL_SF);
    th_destroy(&t);
}

static void test_shift_memory(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, shl_mem);
    assert_int_equal(th_peek(&t, 0x10000, 4), 2);
    assert_flags(&t, FL_CF | FL_OF | FL_ZF, FL_CF | FL_OF);
    th_destroy(&t);
}

/* A memory shift by 0 still writes its operand: through a CS override
 * (execute/read code segment) that is #GP(0), as on Intel processors. */
static void test_count_zero_writes(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_PM32);
    th_run(&t, count0_cs_write, sizeof(count0_cs_write));
    assert_int_equal(th_vector(&t), EXC_GP);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_zero), cmocka_unit_test(test_shl_overflow),
        cmocka_unit_test(test_sar),        cmocka_unit_test(test_rcl),
        cmocka_unit_test(test_rcr_ror),    cmocka_unit_test(test_shld_shrd16),
        cmocka_unit_test(test_shrd64),     cmocka_unit_test(test_shift_memory),
        cmocka_unit_test(test_count_zero_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
