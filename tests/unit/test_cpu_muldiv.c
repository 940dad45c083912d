/* MUL IMUL DIV IDIV (src/cpu/muldiv.c) per the Intel SDM Vol. 2 pages,
 * including #DE on a zero divisor and on quotient overflow (checked in real
 * mode, where the exception lands in the harness's IVT stubs). */
#include "cpu_test_harness.h"

/* 64-bit */
static const uint8_t mul64[] = {
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,   /* mov rax, -1 */
    0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff,   /* mov rbx, -1 */
    0x48, 0xf7, 0xe3,                           /* mul rbx */
};
/* 64-bit */
static const uint8_t imul3[] = {
    0xbb, 0x00, 0x00, 0x00, 0x40,               /* mov rbx, 0x40000000 */
    0x6b, 0xcb, 0x04,                           /* imul ecx, ebx, 4 */
    0x48, 0x6b, 0xd3, 0x04,                     /* imul rdx, rbx, 4 */
};
/* 16-bit */
static const uint8_t imul1_16[] = {
    0xb8, 0xd4, 0xfe,                           /* mov ax, -300 */
    0xbb, 0xc8, 0x00,                           /* mov bx, 200 */
    0xf7, 0xeb,                                 /* imul bx */
};
/* 64-bit */
static const uint8_t div128[] = {
    0xba, 0x05, 0x00, 0x00, 0x00,               /* mov rdx, 5 */
    0xb8, 0x07, 0x00, 0x00, 0x00,               /* mov rax, 7 */
    0xbb, 0x06, 0x00, 0x00, 0x00,               /* mov rbx, 6 */
    0x48, 0xf7, 0xf3,                           /* div rbx */
};
/* 16-bit */
static const uint8_t idiv8[] = {
    0xb8, 0xf9, 0xff,                           /* mov ax, -7 */
    0xb3, 0x02,                                 /* mov bl, 2 */
    0xf6, 0xfb,                                 /* idiv bl */
};
/* 16-bit */
static const uint8_t idiv_min[] = {
    0x66, 0xba, 0xff, 0xff, 0xff, 0xff,         /* mov edx, -1 */
    0x66, 0xb8, 0x00, 0x00, 0x00, 0x80,         /* mov eax, 0x80000000 */
    0x66, 0xbb, 0xff, 0xff, 0xff, 0xff,         /* mov ebx, -1 */
    0x66, 0xf7, 0xfb,                           /* idiv ebx */
};
/* 16-bit */
static const uint8_t div_zero[] = {
    0x30, 0xdb,                                 /* xor bl, bl */
    0xb8, 0x01, 0x00,                           /* mov ax, 1 */
    0xf6, 0xf3,                                 /* div bl */
};
/* 16-bit */
static const uint8_t div_ovf[] = {
    0xba, 0x02, 0x00,                           /* mov dx, 2 */
    0xb8, 0x00, 0x00,                           /* mov ax, 0 */
    0xbb, 0x02, 0x00,                           /* mov bx, 2 */
    0xf7, 0xf3,                                 /* div bx */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

static void test_mul64(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, mul64);
    assert_int_equal(th_reg(&t, R_DX), 0xfffffffffffffffeull);
    assert_int_equal(th_reg(&t, R_AX), 1);
    assert_flags(&t, FL_CF | FL_OF, FL_CF | FL_OF);
    th_destroy(&t);
}

static void test_imul3(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, imul3);
    assert_int_equal(th_reg(&t, R_CX), 0);
    assert_int_equal(th_reg(&t, R_DX), 0x100000000ull);
    assert_flags(&t, FL_CF | FL_OF, 0);
    th_destroy(&t);
}

static void test_imul16(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, imul1_16);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x15a0);
    assert_int_equal(th_reg(&t, R_DX) & 0xffff, 0xffff);
    assert_flags(&t, FL_CF | FL_OF, FL_CF | FL_OF);
    th_destroy(&t);
}

static void test_div128(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, div128);
    assert_int_equal(th_reg(&t, R_AX), 0xd555555555555556ull);
    assert_int_equal(th_reg(&t, R_DX), 3);
    th_destroy(&t);
}

static void test_idiv8(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, idiv8);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0xfffd); /* AL = -3, AH = -1 */
    th_destroy(&t);
}

/* The faulting division leaves its operands unchanged. */
static void expect_de(const uint8_t *code, size_t n, uint64_t ax)
{
    struct th t;
    th_init(&t, TH_REAL);
    th_run(&t, code, n);
    assert_int_equal(th_vector(&t), EXC_DE);
    assert_int_equal(th_reg(&t, R_AX), ax);
    th_destroy(&t);
}

static void test_de(void **st)
{
    (void)st;
    expect_de(div_zero, sizeof(div_zero), 1);
    expect_de(div_ovf, sizeof(div_ovf), 0);
    expect_de(idiv_min, sizeof(idiv_min), 0x80000000u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mul64),  cmocka_unit_test(test_imul3), cmocka_unit_test(test_imul16),
        cmocka_unit_test(test_div128), cmocka_unit_test(test_idiv8), cmocka_unit_test(test_de),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
