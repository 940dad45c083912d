/* The specialised handlers' memory shapes and what their quick forms must
 * leave exactly as the generic path would (fast_ops.h): base + index *
 * scale + displacement operands (the `_x` handlers, which the differential
 * tester does not generate), a TLB miss falling back to the slow form,
 * accesses that cross a page, and RIP of an exception raised inside a
 * block whose earlier records left RIP behind (insn_rip). Expected values
 * follow the SDM's MOV, ADD, MOVSXD and DIV pages. */
#include "cpu_test_harness.h"

/* 64-bit */
static const uint8_t indexed[] = {
    0xbb, 0x00, 0x00, 0x01, 0x00,               /* mov ebx, 0x10000 */
    0xb9, 0x03, 0x00, 0x00, 0x00,               /* mov ecx, 3 */
    0xb8, 0x44, 0x33, 0x22, 0x11,               /* mov eax, 0x11223344 */
    0x89, 0x44, 0x8b, 0x08,                     /* mov [rbx+rcx*4+8], eax */
    0x83, 0x44, 0x8b, 0x08, 0x01,               /* add dword [rbx+rcx*4+8], 1 */
    0x8b, 0x54, 0x8b, 0x08,                     /* mov edx, [rbx+rcx*4+8] */
    0x66, 0x89, 0x04, 0x4b,                     /* mov [rbx+rcx*2], ax */
    0x48, 0x63, 0x74, 0x8b, 0x08,               /* movsxd rsi, [rbx+rcx*4+8] */
    0xb9, 0xfe, 0x0f, 0x00, 0x00,               /* mov ecx, 0xffe */
    0xc7, 0x04, 0x0b, 0xdd, 0xcc, 0xbb, 0xaa,   /* mov dword [rbx+rcx], 0xaabbccdd */
    0x8b, 0x3c, 0x0b,                           /* mov edi, [rbx+rcx] */
};

static void test_indexed(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_LM64);
    th_run_ok(&t, indexed, sizeof(indexed));
    assert_int_equal(th_peek(&t, TH_DATA + 0x14, 4), 0x11223345);
    assert_int_equal(th_reg(&t, R_DX), 0x11223345);
    assert_int_equal(th_peek(&t, TH_DATA + 6, 2), 0x3344);
    assert_int_equal(th_reg(&t, R_SI), 0x11223345);
    /* across the page boundary at TH_DATA + 0x1000 */
    assert_int_equal(th_peek(&t, TH_DATA + 0xffe, 2), 0xccdd);
    assert_int_equal(th_peek(&t, TH_DATA + 0x1000, 2), 0xaabb);
    assert_int_equal(th_reg(&t, R_DI), 0xaabbccdd);
    th_destroy(&t);
}

/* 64-bit: #DE from the quick DIV after records that never wrote RIP: the
 * exception frame holds the DIV's own address. */
static const uint8_t div_zero[] = {
    0x31, 0xd2,                                 /* xor edx, edx */
    0x31, 0xc9,                                 /* xor ecx, ecx */
    0xb8, 0x07, 0x00, 0x00, 0x00,               /* mov eax, 7 */
    0xf7, 0xf1,                                 /* div ecx */
};

static void test_div_fault_rip(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_LM64);
    th_run(&t, div_zero, sizeof(div_zero));
    assert_int_equal(th_vector(&t), EXC_DE);
    uint64_t sp = th_reg(&t, R_SP);
    assert_int_equal(th_peek(&t, sp, 8), TH_CODE + 9);
    th_destroy(&t);
}

/* 64-bit: a 128-bit dividend (rDX nonzero) takes the slow form; the
 * quotient and remainder are the SDM's. */
static const uint8_t div_wide[] = {
    0xba, 0x01, 0x00, 0x00, 0x00,               /* mov edx, 1 */
    0x31, 0xc0,                                 /* xor eax, eax */
    0xb9, 0x03, 0x00, 0x00, 0x00,               /* mov ecx, 3 */
    0x48, 0xf7, 0xf1,                           /* div rcx: 2^64 / 3 */
};

static void test_div_wide(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_LM64);
    th_run_ok(&t, div_wide, sizeof(div_wide));
    assert_int_equal(th_reg(&t, R_AX), 0x5555555555555555ull);
    assert_int_equal(th_reg(&t, R_DX), 1);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexed),
        cmocka_unit_test(test_div_fault_rip),
        cmocka_unit_test(test_div_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
