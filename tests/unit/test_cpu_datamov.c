/* Data movement (src/cpu/datamov.c) per the Intel SDM Vol. 2 pages: MOV
 * moffs, NOP/XCHG, CMOVcc, CMPXCHG, CMPXCHG8B/16B, XADD, SETcc, the
 * conversions, LAHF/SAHF, MOVBE, XLAT, LEA, MOVZX/MOVSX/MOVSXD, the hint
 * NOPs and the flag instructions. */
#include "cpu_test_harness.h"

/* 16-bit */
static const uint8_t moffs16[] = {
    0xb4, 0x11,                                 /* mov ah, 0x11 */
    0xa0, 0x34, 0x12,                           /* mov al, [0x1234] */
    0xa3, 0x00, 0x20,                           /* mov [0x2000], ax */
};
/* 64-bit */
static const uint8_t nop90[] = {
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,   /* mov rax, -1 */
    0x90,                                       /* db 0x90 */
};
/* 64-bit */
static const uint8_t xchg_eax[] = {
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff,   /* mov rax, -1 */
    0x87, 0xc0,                                 /* db 0x87, 0xc0 */
    0x41, 0xb8, 0x05, 0x00, 0x00, 0x00,         /* mov r8, 5 */
    0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff,   /* mov rbx, -1 */
    0x4c, 0x87, 0xc3,                           /* xchg r8, rbx */
};
/* 64-bit */
static const uint8_t cmov_false[] = {
    0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff,   /* mov rbx, -1 */
    0x31, 0xc0,                                 /* xor eax, eax */
    0x0f, 0x45, 0xd8,                           /* cmovnz ebx, eax */
};
/* 64-bit */
static const uint8_t cmpxchg_ok_fail[] = {
    /* mov dword [0x10000], 5 */
    /* mov eax, 5 */
    /* mov ecx, 9 */
    /* lock cmpxchg [0x10000], ecx */
    /* mov esi, 0 */
    /* jnz fail */
    /* mov esi, 1 */
    /* fail: */
    /* mov eax, 5 */
    /* cmpxchg [0x10000], ecx */
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0xb8,
    0x05, 0x00, 0x00, 0x00, 0xb9, 0x09, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0xb1,
    0x0c, 0x25, 0x00, 0x00, 0x01, 0x00, 0xbe, 0x00, 0x00, 0x00, 0x00, 0x75,
    0x05, 0xbe, 0x01, 0x00, 0x00, 0x00, 0xb8, 0x05, 0x00, 0x00, 0x00, 0x0f,
    0xb1, 0x0c, 0x25, 0x00, 0x00, 0x01, 0x00,
};
/* 64-bit */
static const uint8_t cx16[] = {
    0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, /* mov qword [0x10000], 1 */
    0x48, 0xc7, 0x04, 0x25, 0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, /* mov qword [0x10008], 2 */
    0xb8, 0x01, 0x00, 0x00, 0x00,               /* mov rax, 1 */
    0xba, 0x02, 0x00, 0x00, 0x00,               /* mov rdx, 2 */
    0xbb, 0x03, 0x00, 0x00, 0x00,               /* mov rbx, 3 */
    0xb9, 0x04, 0x00, 0x00, 0x00,               /* mov rcx, 4 */
    0xf0, 0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x00, 0x00, 0x01, 0x00, /* lock cmpxchg16b [0x10000] */
    0xb8, 0x07, 0x00, 0x00, 0x00,               /* mov rax, 7 */
    0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x00, 0x00, 0x01, 0x00, /* cmpxchg16b [0x10000] */
};
/* 64-bit */
static const uint8_t cx16_unaligned[] = {
    0xbb, 0x08, 0x00, 0x01, 0x00,               /* mov rbx, 0x10008 */
    0x48, 0x0f, 0xc7, 0x0b,                     /* cmpxchg16b [rbx] */
};
/* 16-bit */
static const uint8_t cx8_16bit[] = {
    0x66, 0xc7, 0x06, 0x00, 0x30, 0x11, 0x11, 0x11, 0x11, /* mov dword [0x3000], 0x11111111 */
    0x66, 0xc7, 0x06, 0x04, 0x30, 0x22, 0x22, 0x22, 0x22, /* mov dword [0x3004], 0x22222222 */
    0x66, 0xb8, 0x11, 0x11, 0x11, 0x11,         /* mov eax, 0x11111111 */
    0x66, 0xba, 0x22, 0x22, 0x22, 0x22,         /* mov edx, 0x22222222 */
    0x66, 0xbb, 0xaa, 0xaa, 0xaa, 0xaa,         /* mov ebx, 0xaaaaaaaa */
    0x66, 0xb9, 0xbb, 0xbb, 0xbb, 0xbb,         /* mov ecx, 0xbbbbbbbb */
    0x0f, 0xc7, 0x0e, 0x00, 0x30,               /* cmpxchg8b [0x3000] */
};
/* 32-bit */
static const uint8_t xadd_mem[] = {
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00, /* mov dword [0x10000], 10 */
    0xb8, 0x03, 0x00, 0x00, 0x00,               /* mov eax, 3 */
    0xf0, 0x0f, 0xc1, 0x05, 0x00, 0x00, 0x01, 0x00, /* lock xadd [0x10000], eax */
};
/* 64-bit */
static const uint8_t setcc[] = {
    0xc6, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x55, /* mov byte [0x10000], 0x55 */
    0xb8, 0x01, 0x00, 0x00, 0x00,               /* mov eax, 1 */
    0x83, 0xf8, 0x02,                           /* cmp eax, 2 */
    0x0f, 0x92, 0xc0,                           /* setb al */
    0x0f, 0x9f, 0xc3,                           /* setg bl */
    0x0f, 0x9c, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, /* setl [0x10000] */
};
/* 64-bit */
static const uint8_t convert[] = {
    0xb8, 0x80, 0x00, 0x00, 0x00,               /* mov eax, 0x80 */
    0x66, 0x98,                                 /* cbw */
    0x89, 0xc1,                                 /* mov ecx, eax */
    0x98,                                       /* cwde */
    0x89, 0xc2,                                 /* mov edx, eax */
    0x48, 0x98,                                 /* cdqe */
    0x48, 0x89, 0xc6,                           /* mov rsi, rax */
    0x48, 0x99,                                 /* cqo */
};
/* 16-bit */
static const uint8_t cwd16[] = {
    0xb8, 0x00, 0x80,                           /* mov ax, 0x8000 */
    0x99,                                       /* cwd */
};
/* 64-bit */
static const uint8_t lahf_sahf[] = {
    0xb4, 0xd5,                                 /* mov ah, 0xd5 */
    0x9e,                                       /* sahf */
    0xb4, 0x00,                                 /* mov ah, 0 */
    0x9f,                                       /* lahf */
};
/* 64-bit */
static const uint8_t movbe[] = {
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0x44, 0x33, 0x22, 0x11, /* mov dword [0x10000], 0x11223344 */
    0x0f, 0x38, 0xf0, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00, /* movbe eax, [0x10000] */
    0x66, 0x0f, 0x38, 0xf1, 0x04, 0x25, 0x04, 0x00, 0x01, 0x00, /* movbe [0x10004], ax */
};
/* 16-bit */
static const uint8_t xlat16[] = {
    0xbb, 0x00, 0x30,                           /* mov bx, 0x3000 */
    0xb0, 0x05,                                 /* mov al, 5 */
    0xd7,                                       /* xlatb */
};
/* 64-bit */
static const uint8_t lea_forms[] = {
    0x48, 0xbb, 0x10, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, /* mov rbx, 0xffffffff00000010 */
    0xb9, 0x20, 0x00, 0x00, 0x00,               /* mov rcx, 0x20 */
    0x8d, 0x04, 0x4b,                           /* lea eax, [rbx+rcx*2] */
    0x67, 0x48, 0x8d, 0x14, 0x4b,               /* lea rdx, [ebx+ecx*2] */
    0x66, 0x8d, 0x34, 0x0b,                     /* lea si, [rbx+rcx] */
    0x48, 0x63, 0xf8,                           /* movsxd rdi, eax */
    0xb8, 0x00, 0x00, 0x00, 0x80,               /* mov eax, 0x80000000 */
    0x4c, 0x63, 0xc0,                           /* movsxd r8, eax */
};
/* 16-bit */
static const uint8_t lea16[] = {
    0xbb, 0xf0, 0xff,                           /* mov bx, 0xfff0 */
    0xbe, 0x20, 0x00,                           /* mov si, 0x20 */
    0x8d, 0x40, 0x10,                           /* lea ax, [bx+si+0x10] */
    0x66, 0x0f, 0xb6, 0x0e, 0x00, 0x40,         /* movzx ecx, byte [0x4000] */
    0x66, 0x0f, 0xbf, 0x16, 0x00, 0x40,         /* movsx edx, word [0x4000] */
};
/* 64-bit */
static const uint8_t hint_nops[] = {
    0x0f, 0x1f, 0x80, 0x00, 0x00, 0xff, 0x7f,   /* nop dword [rax+0x7fff0000] */
    0x66, 0x0f, 0x1f, 0x84, 0x40, 0x00, 0x00, 0xff, 0x7f, /* nop word [rax+rax*2+0x7fff0000] */
    0x0f, 0x18, 0x80, 0x00, 0x00, 0xff, 0x7f,   /* db 0x0f, 0x18, 0x80, 0, 0, 0xff, 0x7f */
    0xf3, 0x0f, 0x1e, 0xfa,                     /* db 0xf3, 0x0f, 0x1e, 0xfa */
    0xf3, 0x90,                                 /* pause */
};
/* 32-bit */
static const uint8_t flag_ops[] = {
    0xf9,                                       /* stc */
    0xf5,                                       /* cmc */
    0xfd,                                       /* std */
    0xb8, 0x00, 0x00, 0x00, 0x00,               /* mov eax, 0 */
    0xfc,                                       /* cld */
    0xf9,                                       /* stc */
};

#define RUN(t, mode, code) do { th_init((t), (mode)); th_run_ok((t), (code), sizeof(code)); } while (0)

static void test_moffs16(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_poke(&t, 0x1234, (uint8_t[]){ 0xab }, 1);
    th_run_ok(&t, moffs16, sizeof(moffs16));
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x11ab);
    assert_int_equal(th_peek(&t, 0x2000, 2), 0x11ab);
    th_destroy(&t);
}

/* 90 is NOP even in 64-bit mode (no zero-extension); 87 C0 is a real XCHG. */
static void test_nop_xchg(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, nop90);
    assert_int_equal(th_reg(&t, R_AX), ~0ull);
    th_destroy(&t);
    RUN(&t, TH_LM64, xchg_eax);
    assert_int_equal(th_reg(&t, R_AX), 0xffffffffu);
    assert_int_equal(th_reg(&t, R_R8), ~0ull);
    assert_int_equal(th_reg(&t, R_BX), 5);
    th_destroy(&t);
}

/* CMOV with a false condition still zero-extends a 32-bit destination. */
static void test_cmov_false(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, cmov_false);
    assert_int_equal(th_reg(&t, R_BX), 0xffffffffu);
    th_destroy(&t);
}

static void test_cmpxchg(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, cmpxchg_ok_fail);
    assert_int_equal(th_reg(&t, R_SI), 1);
    assert_int_equal(th_peek(&t, 0x10000, 4), 9);
    assert_int_equal(th_reg(&t, R_AX), 9);
    assert_flags(&t, FL_ZF, 0);
    th_destroy(&t);
}

static void test_cmpxchg16b(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, cx16);
    assert_int_equal(th_peek(&t, 0x10000, 8), 3);
    assert_int_equal(th_peek(&t, 0x10008, 8), 4);
    assert_int_equal(th_reg(&t, R_AX), 3);
    assert_int_equal(th_reg(&t, R_DX), 4);
    assert_flags(&t, FL_ZF, 0);
    th_destroy(&t);
}

/* CMPXCHG16B needs 16-byte alignment: #GP(0). */
static void test_cmpxchg16b_unaligned(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_LM64);
    th_run(&t, cx16_unaligned, sizeof(cx16_unaligned));
    assert_int_equal(th_vector(&t), EXC_GP);
    uint64_t sp = th_reg(&t, R_SP);
    assert_int_equal(th_peek(&t, sp, 8), 0);                /* error code */
    assert_int_equal(th_peek(&t, sp + 8, 8), TH_CODE + 5);  /* the faulting instruction */
    th_destroy(&t);
}

static void test_cmpxchg8b_real(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_REAL, cx8_16bit);
    assert_int_equal(th_peek(&t, 0x3000, 8), 0xbbbbbbbbaaaaaaaaull);
    assert_flags(&t, FL_ZF, FL_ZF);
    th_destroy(&t);
}

static void test_xadd(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, xadd_mem);
    assert_int_equal(th_peek(&t, 0x10000, 4), 13);
    assert_int_equal(th_reg(&t, R_AX), 10);
    th_destroy(&t);
}

static void test_setcc(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, setcc);
    assert_int_equal(th_reg(&t, R_AX), 1);
    assert_int_equal(th_reg(&t, R_BX) & 0xff, 0);
    assert_int_equal(th_peek(&t, 0x10000, 1), 1);
    th_destroy(&t);
}

static void test_conversions(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, convert);
    assert_int_equal(th_reg(&t, R_CX), 0xff80);
    assert_int_equal(th_reg(&t, R_SI), 0xffffffffffffff80ull);
    assert_int_equal(th_reg(&t, R_DX), ~0ull);
    th_destroy(&t);
    RUN(&t, TH_REAL, cwd16);
    assert_int_equal(th_reg(&t, R_DX) & 0xffff, 0xffff);
    th_destroy(&t);
}

static void test_lahf_sahf(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, lahf_sahf);
    assert_int_equal((th_reg(&t, R_AX) >> 8) & 0xff, 0xd7);
    assert_flags(&t, FL_ARITH, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF);
    th_destroy(&t);
}

static void test_movbe(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, movbe);
    assert_int_equal(th_reg(&t, R_AX), 0x44332211u);
    assert_int_equal(th_peek(&t, 0x10004, 2), 0x1122);
    th_destroy(&t);
}

static void test_xlat(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_poke(&t, 0x3005, (uint8_t[]){ 0x99 }, 1);
    th_run_ok(&t, xlat16, sizeof(xlat16));
    assert_int_equal(th_reg(&t, R_AX) & 0xff, 0x99);
    th_destroy(&t);
}

static void test_lea_movsx(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, lea_forms);
    assert_int_equal(th_reg(&t, R_DX), 0x50);
    assert_int_equal(th_reg(&t, R_SI), 0x30);
    assert_int_equal(th_reg(&t, R_DI), 0x50);
    assert_int_equal(th_reg(&t, R_R8), 0xffffffff80000000ull);
    th_destroy(&t);
    th_init(&t, TH_REAL);
    th_poke(&t, 0x4000, (uint8_t[]){ 0x99, 0x88 }, 2);
    th_run_ok(&t, lea16, sizeof(lea16));
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, 0x20);
    assert_int_equal(th_reg(&t, R_CX), 0x99);
    assert_int_equal(th_reg(&t, R_DX), 0xffff8899u);
    th_destroy(&t);
}

/* The hint NOPs never touch their memory operand (here: unmapped). */
static void test_hint_nops(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_LM64, hint_nops);
    th_destroy(&t);
}

static void test_flag_ops(void **st)
{
    (void)st;
    struct th t;
    RUN(&t, TH_PM32, flag_ops);
    assert_int_equal(th_flags(&t) & (FL_CF | FL_DF), FL_CF);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moffs16),        cmocka_unit_test(test_nop_xchg),
        cmocka_unit_test(test_cmov_false),     cmocka_unit_test(test_cmpxchg),
        cmocka_unit_test(test_cmpxchg16b),     cmocka_unit_test(test_cmpxchg16b_unaligned),
        cmocka_unit_test(test_cmpxchg8b_real), cmocka_unit_test(test_xadd),
        cmocka_unit_test(test_setcc),          cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_lahf_sahf),      cmocka_unit_test(test_movbe),
        cmocka_unit_test(test_xlat),           cmocka_unit_test(test_lea_movsx),
        cmocka_unit_test(test_hint_nops),      cmocka_unit_test(test_flag_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
