/* Stack instructions (src/cpu/stack.c) per the Intel SDM Vol. 2 pages PUSH
 * POP PUSHA POPA ENTER LEAVE: rSP-relative operands, operand sizes, 16-bit
 * stack wrap, nested ENTER frames. */
#include "cpu_test_harness.h"

/* 64-bit */
static const uint8_t push_pop64[] = {
    0x48, 0x89, 0xe0,                           /* mov rax, rsp */
    0x54,                                       /* push rsp */
    0x5b,                                       /* pop rbx */
    0x6a, 0xff,                                 /* push -1 */
    0x59,                                       /* pop rcx */
    0x66, 0x68, 0x34, 0x12,                     /* push word 0x1234 */
    0x48, 0x89, 0xe2,                           /* mov rdx, rsp */
    0x66, 0x5e,                                 /* pop si */
    0x6a, 0x01,                                 /* push 1 */
    0x6a, 0x02,                                 /* push 2 */
    0x8f, 0x04, 0x24,                           /* pop qword [rsp] */
};
/* 16-bit */
static const uint8_t pusha16[] = {
    0xb8, 0x01, 0x00,                           /* mov ax, 1 */
    0xb9, 0x02, 0x00,                           /* mov cx, 2 */
    0xba, 0x03, 0x00,                           /* mov dx, 3 */
    0xbb, 0x04, 0x00,                           /* mov bx, 4 */
    0xbd, 0x06, 0x00,                           /* mov bp, 6 */
    0xbe, 0x07, 0x00,                           /* mov si, 7 */
    0xbf, 0x08, 0x00,                           /* mov di, 8 */
    0x60,                                       /* pusha */
    0xc7, 0x06, 0xf6, 0x7f, 0x34, 0x12,         /* mov word [0x7ff6], 0x1234 */
    0x31, 0xc0,                                 /* xor ax, ax */
    0x31, 0xc9,                                 /* xor cx, cx */
    0x31, 0xd2,                                 /* xor dx, dx */
    0x31, 0xdb,                                 /* xor bx, bx */
    0x31, 0xed,                                 /* xor bp, bp */
    0x31, 0xf6,                                 /* xor si, si */
    0x31, 0xff,                                 /* xor di, di */
    0x61,                                       /* popa */
};
/* 16-bit */
static const uint8_t sp_wrap16[] = {
    0xbc, 0x00, 0x00,                           /* mov sp, 0 */
    0xb8, 0xef, 0xbe,                           /* mov ax, 0xbeef */
    0x50,                                       /* push ax */
};
/* 32-bit */
static const uint8_t enter_leave[] = {
    0xbd, 0x00, 0x70, 0x00, 0x00,               /* mov ebp, 0x7000 */
    0xc7, 0x05, 0xfc, 0x6f, 0x00, 0x00, 0xaa, 0xaa, 0x00, 0x00, /* mov dword [0x6ffc], 0xaaaa */
    0xc7, 0x05, 0xf8, 0x6f, 0x00, 0x00, 0xbb, 0xbb, 0x00, 0x00, /* mov dword [0x6ff8], 0xbbbb */
    0xc8, 0x08, 0x00, 0x03,                     /* enter 8, 3 */
    0x89, 0xe6,                                 /* mov esi, esp */
    0x89, 0xef,                                 /* mov edi, ebp */
    0xc9,                                       /* leave */
};
/* 64-bit */
static const uint8_t enter64[] = {
    0xbd, 0x55, 0x55, 0x00, 0x00,               /* mov rbp, 0x5555 */
    0xc8, 0x20, 0x00, 0x00,                     /* enter 0x20, 0 */
    0x48, 0x89, 0xe6,                           /* mov rsi, rsp */
    0x48, 0x89, 0xef,                           /* mov rdi, rbp */
    0xc9,                                       /* leave */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

static void test_push_pop64(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, push_pop64);
    assert_int_equal(th_reg(&t, R_BX), TH_STACK);        /* PUSH RSP pushes the old value */
    assert_int_equal(th_reg(&t, R_CX), ~0ull);           /* imm8 sign-extended to 64 bits */
    assert_int_equal(th_reg(&t, R_DX), TH_STACK - 2);    /* 66h: a 2-byte push */
    assert_int_equal(th_reg(&t, R_SI) & 0xffff, 0x1234);
    /* POP [RSP] stores at the incremented RSP */
    assert_int_equal(th_reg(&t, R_SP), TH_STACK - 8);
    assert_int_equal(th_peek(&t, TH_STACK - 8, 8), 2);
    th_destroy(&t);
}

/* POPA skips the saved SP. */
static void test_pusha_popa(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, pusha16);
    static const uint16_t expect[8] = { 1, 2, 3, 4, 0x8000, 6, 7, 8 };
    for (unsigned i = 0; i < 8; i++)
        if (i != R_SP)
            assert_int_equal(th_reg(&t, (int)i) & 0xffff, expect[i]);
    assert_int_equal(th_reg(&t, R_SP) & 0xffff, 0x8000);
    assert_int_equal(th_peek(&t, 0x7ffe, 2), 1);   /* AX pushed first */
    assert_int_equal(th_peek(&t, 0x7ff0, 2), 8);   /* DI last */
    th_destroy(&t);
}

static void test_sp_wrap16(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, sp_wrap16);
    assert_int_equal(th_reg(&t, R_SP), 0xfffe);
    assert_int_equal(th_peek(&t, 0xfffe, 2), 0xbeef);
    th_destroy(&t);
}

/* ENTER 8, 3: the old frame pointer, two copied display entries, the new
 * frame pointer, then 8 bytes of locals (SDM ENTER, nesting). */
static void test_enter_nested(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, enter_leave);
    assert_int_equal(th_reg(&t, R_SI), 0x7fe8);
    assert_int_equal(th_reg(&t, R_DI), 0x7ffc);
    assert_int_equal(th_peek(&t, 0x7ffc, 4), 0x7000);
    assert_int_equal(th_peek(&t, 0x7ff8, 4), 0xaaaa);
    assert_int_equal(th_peek(&t, 0x7ff4, 4), 0xbbbb);
    assert_int_equal(th_peek(&t, 0x7ff0, 4), 0x7ffc);
    assert_int_equal(th_reg(&t, R_SP), 0x8000);
    assert_int_equal(th_reg(&t, R_BP), 0x7000);
    th_destroy(&t);
}

static void test_enter64(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, enter64);
    assert_int_equal(th_reg(&t, R_SI), 0x7fd8);
    assert_int_equal(th_reg(&t, R_DI), 0x7ff8);
    assert_int_equal(th_peek(&t, 0x7ff8, 8), 0x5555);
    assert_int_equal(th_reg(&t, R_SP), 0x8000);
    assert_int_equal(th_reg(&t, R_BP), 0x5555);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_pop64),   cmocka_unit_test(test_pusha_popa),
        cmocka_unit_test(test_sp_wrap16),    cmocka_unit_test(test_enter_nested),
        cmocka_unit_test(test_enter64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
