/* Near branches (src/cpu/branch.c) per the Intel SDM Vol. 2 pages Jcc JMP
 * CALL RET LOOP/LOOPcc JrCXZ: return addresses, RET imm16, counters at the
 * address size, 16-bit operand-size truncation, #GP for a target beyond the
 * CS limit or non-canonical. */
#include "cpu_test_harness.h"

/* 64-bit */
static const uint8_t call_ret[] = {
    /* xor ebx, ebx */
    /* call f */
    /* add ebx, 2 */
    /* jmp done */
    /* f: */
    /* mov ebx, 1 */
    /* mov rcx, [rsp] */
    /* ret */
    /* done: */
    /* call g */
    /* jmp out */
    /* g: */
    /* ret 8 */
    /* out: */
    0x31, 0xdb, 0xe8, 0x05, 0x00, 0x00, 0x00, 0x83, 0xc3, 0x02, 0xeb, 0x0a,
    0xbb, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x0c, 0x24, 0xc3, 0xe8, 0x02,
    0x00, 0x00, 0x00, 0xeb, 0x03, 0xc2, 0x08, 0x00,
};
/* 64-bit */
static const uint8_t loops[] = {
    /* mov ecx, 5 */
    /* xor eax, eax */
    /* l1: */
    /* inc eax */
    /* loop l1 */
    /* mov ecx, 10 */
    /* mov edx, 0 */
    /* l2: */
    /* inc edx */
    /* cmp edx, 3 */
    /* loopne l2 */
    /* mov rsi, rcx */
    /* xor ecx, ecx */
    /* jrcxz ok */
    /* mov edi, 99 */
    /* ok: */
    0xb9, 0x05, 0x00, 0x00, 0x00, 0x31, 0xc0, 0xff, 0xc0, 0xe2, 0xfc, 0xb9,
    0x0a, 0x00, 0x00, 0x00, 0xba, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc2, 0x83,
    0xfa, 0x03, 0xe0, 0xf9, 0x48, 0x89, 0xce, 0x31, 0xc9, 0xe3, 0x05, 0xbf,
    0x63, 0x00, 0x00, 0x00,
};
/* 64-bit */
static const uint8_t a32_loop[] = {
    /* mov rcx, 0x100000002 */
    /* xor eax, eax */
    /* l: */
    /* inc eax */
    /* a32 loop l */
    0x48, 0xb9, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x31, 0xc0,
    0xff, 0xc0, 0x67, 0xe2, 0xfb,
};
/* 16-bit */
static const uint8_t jcc16[] = {
    /* mov ax, 0 */
    /* cmp ax, 1 */
    /* jl less */
    /* mov bx, 1 */
    /* jmp end */
    /* less: */
    /* mov bx, 2 */
    /* end: */
    /* jcxz z */
    /* mov si, 1 */
    /* z: */
    0xb8, 0x00, 0x00, 0x83, 0xf8, 0x01, 0x7c, 0x05, 0xbb, 0x01, 0x00, 0xeb,
    0x03, 0xbb, 0x02, 0x00, 0xe3, 0x03, 0xbe, 0x01, 0x00,
};
/* 64-bit */
static const uint8_t jmp_noncanon[] = {
    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, /* mov rax, 0x0000800000000000 */
    0xff, 0xe0,                                 /* jmp rax */
};
/* 16-bit */
static const uint8_t jmp_beyond_limit[] = {
    0x66, 0xe9,                                 /* db 0x66, 0xe9 */
    0x45, 0x23, 0x01, 0x00,                     /* dd 0x12345 */
};
/* 32-bit */
static const uint8_t call_r16[] = {
    0xb8, 0x78, 0x56, 0x34, 0x12,               /* mov eax, 0x12345678 */
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, /* mov dword [0x10000], 0 */
    0x66, 0xff, 0xd0,                           /* call ax */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

static void test_call_ret(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, call_ret);
    assert_int_equal(th_reg(&t, R_BX), 3);
    assert_int_equal(th_reg(&t, R_CX), TH_CODE + 7);   /* pushed return address */
    assert_int_equal(th_reg(&t, R_SP), TH_STACK + 8);  /* RET 8 released 8 bytes */
    th_destroy(&t);
}

static void test_loops(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, loops);
    assert_int_equal(th_reg(&t, R_AX), 5);
    assert_int_equal(th_reg(&t, R_DX), 3);
    assert_int_equal(th_reg(&t, R_SI), 7);
    assert_int_equal(th_reg(&t, R_DI), 0);  /* JRCXZ taken */
    th_destroy(&t);
}

/* With 67h the counter is ECX, written zero-extended (as Intel hosts do). */
static void test_loop_a32(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, a32_loop);
    assert_int_equal(th_reg(&t, R_AX), 2);
    assert_int_equal(th_reg(&t, R_CX), 0);
    th_destroy(&t);
}

static void test_jcc_real(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, jcc16);
    assert_int_equal(th_reg(&t, R_BX) & 0xffff, 2);
    assert_int_equal(th_reg(&t, R_SI) & 0xffff, 0);
    th_destroy(&t);
}

static void test_noncanonical(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_LM64);
    th_run(&t, jmp_noncanon, sizeof(jmp_noncanon));
    assert_int_equal(th_vector(&t), EXC_GP);
    uint64_t sp = th_reg(&t, R_SP);
    assert_int_equal(th_peek(&t, sp, 8), 0);
    assert_int_equal(th_peek(&t, sp + 8, 8), TH_CODE + 10);  /* the JMP itself */
    th_destroy(&t);
}

/* A 32-bit JMP in real mode past the 64 KiB CS limit: #GP. */
static void test_beyond_limit(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_run(&t, jmp_beyond_limit, sizeof(jmp_beyond_limit));
    assert_int_equal(th_vector(&t), EXC_GP);
    th_destroy(&t);
}

/* CALL with a 16-bit operand size truncates the target and pushes 2 bytes. */
static void test_call_r16(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_PM32);
    th_poke(&t, 0x5678, (uint8_t[]){ 0xeb, 0xfe }, 2);
    th_run(&t, call_r16, sizeof(call_r16));
    assert_int_equal(t.cpu.s.rip, 0x5678);
    assert_int_equal(th_reg(&t, R_SP), TH_STACK - 2);
    assert_int_equal(th_peek(&t, TH_STACK - 2, 2), (TH_CODE + sizeof(call_r16)) & 0xffff);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_ret),     cmocka_unit_test(test_loops),
        cmocka_unit_test(test_loop_a32),     cmocka_unit_test(test_jcc_real),
        cmocka_unit_test(test_noncanonical), cmocka_unit_test(test_beyond_limit),
        cmocka_unit_test(test_call_r16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
