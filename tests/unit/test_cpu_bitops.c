/* Bit operations (src/cpu/bitops.c) per the Intel SDM Vol. 2 pages BT BTS
 * BTR BTC (bit base and signed register offsets), BSF BSR POPCNT LZCNT
 * BSWAP. */
#include "cpu_test_harness.h"

/* 32-bit */
static const uint8_t bt_mem_neg[] = {
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, /* mov dword [0x10000], 0 */
    0xc7, 0x05, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* mov dword [0x0fffc], 0 */
    0xb9, 0xff, 0xff, 0xff, 0xff,               /* mov ecx, -1 */
    0x0f, 0xab, 0x0d, 0x00, 0x00, 0x01, 0x00,   /* bts dword [0x10000], ecx */
    0x66, 0xb8, 0x23, 0x00,                     /* mov ax, 35 */
    0x66, 0x0f, 0xab, 0x05, 0x00, 0x00, 0x01, 0x00, /* bts word [0x10000], ax */
};
/* 64-bit */
static const uint8_t bt_imm[] = {
    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, /* mov rax, 0x8000000000000000 */
    0x48, 0x0f, 0xba, 0xe0, 0x3f,               /* bt rax, 63 */
    0x48, 0x89, 0xc3,                           /* mov rbx, rax */
    0x48, 0x0f, 0xba, 0xf3, 0x7f,               /* btr rbx, 127 */
    0x0f, 0xba, 0xf8, 0x03,                     /* btc eax, 3 */
};
/* 64-bit */
static const uint8_t bsf_zero[] = {
    0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff,   /* mov rdx, -1 */
    0x31, 0xc9,                                 /* xor ecx, ecx */
    0x0f, 0xbc, 0xd1,                           /* bsf edx, ecx */
};
/* 64-bit */
static const uint8_t scans[] = {
    0x48, 0xb9, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x00, /* mov rcx, 0x00f0000000001000 */
    0x48, 0x0f, 0xbc, 0xc1,                     /* bsf rax, rcx */
    0x48, 0x0f, 0xbd, 0xd9,                     /* bsr rbx, rcx */
    0xf3, 0x48, 0x0f, 0xb8, 0xd1,               /* popcnt rdx, rcx */
    0xf3, 0x48, 0x0f, 0xbd, 0xf1,               /* lzcnt rsi, rcx */
};
/* 64-bit */
static const uint8_t bswap[] = {
    0x48, 0xb8, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* mov rax, 0x0102030405060708 */
    0x48, 0x0f, 0xc8,                           /* bswap rax */
    0xbb, 0x44, 0x33, 0x22, 0x11,               /* mov ebx, 0x11223344 */
    0x0f, 0xcb,                                 /* bswap ebx */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

/* A register bit offset selects memory around the operand: -1 is bit 31
 * of the dword below, 35 is bit 3 of the third word. */
static void test_bt_memory_offsets(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, bt_mem_neg);
    assert_int_equal(th_peek(&t, 0xfffc, 4), 0x80000000u);
    assert_int_equal(th_peek(&t, 0x10000, 4), 0);
    assert_int_equal(th_peek(&t, 0x10004, 2), 8);
    assert_flags(&t, FL_CF, 0);
    th_destroy(&t);
}

static void test_bt_imm(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, bt_imm);
    assert_int_equal(th_reg(&t, R_BX), 0);
    assert_int_equal(th_reg(&t, R_AX), 8);
    assert_flags(&t, FL_CF, 0);
    th_destroy(&t);
}

static void test_bsf_zero(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, bsf_zero);
    assert_int_equal(th_reg(&t, R_DX), ~0ull); /* destination left unchanged */
    assert_flags(&t, FL_ZF, FL_ZF);
    th_destroy(&t);
}

static void test_scans(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, scans);
    assert_int_equal(th_reg(&t, R_AX), 12);
    assert_int_equal(th_reg(&t, R_BX), 55);
    assert_int_equal(th_reg(&t, R_DX), 5);
    assert_int_equal(th_reg(&t, R_SI), 8);
    assert_flags(&t, FL_CF | FL_ZF, 0);
    th_destroy(&t);
}

static void test_bswap(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, bswap);
    assert_int_equal(th_reg(&t, R_AX), 0x0807060504030201ull);
    assert_int_equal(th_reg(&t, R_BX), 0x44332211u);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bt_memory_offsets), cmocka_unit_test(test_bt_imm),
        cmocka_unit_test(test_bsf_zero),          cmocka_unit_test(test_scans),
        cmocka_unit_test(test_bswap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
