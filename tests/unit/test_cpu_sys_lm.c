/* IA-32e system architecture (src/cpu/interrupt.c, farctl.c, fastsys.c,
 * msr.c, sysinsn.c): the 64-bit IDT with IST stacks and 16-byte aligned
 * frames, IRETQ between rings, 64-bit call gates, SYSCALL/SYSRET, SWAPGS
 * and the MSR checks, against the Intel SDM Vol. 3A 5.8, 6.14 and Vol. 2.
 * Code bytes assembled with nasm (org 0x1000); the source is in the
 * comments. */
#include "cpu_sys_harness.h"

/* 64-bit */
static const uint8_t noncanon[] = {
    0xbc, 0xf8, 0x7f, 0x00, 0x00,               /* mov rsp, 0x7ff8 */
    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,/* mov rax, 0x0000800000000000 */
    0x8b, 0x18,                                 /* mov ebx, [rax] */
};
/* 64-bit */
static const uint8_t lm_ring3_int[] = {
    0x6a, 0x73,                                 /* push 0x73 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfq */
    0x6a, 0x7b,                                 /* push 0x7b */
    0x68, 0x11, 0x10, 0x00, 0x00,               /* push ring3 */
    0x48, 0xcf,                                 /* iretq */
    /* ring3: */
    0xcd, 0x80,                                 /* int 0x80 */
    0xbb, 0x33, 0x33, 0x00, 0x00,               /* mov ebx, 0x3333 */
};
/* 64-bit */
static const uint8_t lm_syscall[] = {
    0xb9, 0x81, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000081 */
    0x31, 0xc0,                                 /* xor eax, eax */
    0xba, 0x08, 0x00, 0x68, 0x00,               /* mov edx, 0x00680008 */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x82, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000082 */
    0xb8, 0x00, 0x50, 0x00, 0x00,               /* mov eax, 0x5000 */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x84, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000084 */
    0xb8, 0x00, 0x02, 0x00, 0x00,               /* mov eax, 0x200 */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x80, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000080 */
    0x0f, 0x32,                                 /* rdmsr */
    0x83, 0xc8, 0x01,                           /* or eax, 1 */
    0x0f, 0x30,                                 /* wrmsr */
    0x6a, 0x73,                                 /* push 0x73 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x68, 0x02, 0x02, 0x00, 0x00,               /* push 0x202 */
    0x6a, 0x7b,                                 /* push 0x7b */
    0x68, 0x49, 0x10, 0x00, 0x00,               /* push ring3 */
    0x48, 0xcf,                                 /* iretq */
    /* ring3: */
    0x41, 0xbc, 0x42, 0x00, 0x00, 0x00,         /* mov r12, 0x42 */
    0x0f, 0x05,                                 /* syscall */
    /* after: */
    0x41, 0xbd, 0x43, 0x00, 0x00, 0x00,         /* mov r13, 0x43 */
};
/* 64-bit */
static const uint8_t sysret_target[] = {
    0xf4,                                       /* hlt */
    0x48, 0x0f, 0x07,                           /* o64 sysret */
};
/* 64-bit */
static const uint8_t lm_swapgs[] = {
    0xb9, 0x02, 0x01, 0x00, 0xc0,               /* mov ecx, 0xc0000102 */
    0xb8, 0x00, 0x50, 0x34, 0x12,               /* mov eax, 0x12345000 */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x01, 0x01, 0x00, 0xc0,               /* mov ecx, 0xc0000101 */
    0xb8, 0x00, 0x10, 0x00, 0x00,               /* mov eax, 0x1000 */
    0x0f, 0x30,                                 /* wrmsr */
    0x0f, 0x01, 0xf8,                           /* swapgs */
    0xb9, 0x01, 0x01, 0x00, 0xc0,               /* mov ecx, 0xc0000101 */
    0x0f, 0x32,                                 /* rdmsr */
    0x89, 0xc6,                                 /* mov esi, eax */
    0xb9, 0x02, 0x01, 0x00, 0xc0,               /* mov ecx, 0xc0000102 */
    0x0f, 0x32,                                 /* rdmsr */
    0x89, 0xc7,                                 /* mov edi, eax */
};
/* 64-bit */
static const uint8_t lm_callgate[] = {
    0x6a, 0x73,                                 /* push 0x73 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfq */
    0x6a, 0x7b,                                 /* push 0x7b */
    0x68, 0x11, 0x10, 0x00, 0x00,               /* push ring3 */
    0x48, 0xcf,                                 /* iretq */
    /* ring3: */
    0xff, 0x1c, 0x25, 0x00, 0x00, 0x01, 0x00,   /* call far dword [abs 0x10000] */
    0xbb, 0x44, 0x44, 0x00, 0x00,               /* mov ebx, 0x4444 */
};
/* 64-bit */
static const uint8_t retfq_target[] = {
    0xf4,                                       /* hlt */
    0x48, 0xcb,                                 /* o64 retf */
};
/* 64-bit */
static const uint8_t lm_rdmsr_bad[] = {
    0xb9, 0x80, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000080 */
    0x0f, 0x32,                                 /* rdmsr */
    0x89, 0xc6,                                 /* mov esi, eax */
    0xb9, 0x78, 0x56, 0x34, 0x12,               /* mov ecx, 0x12345678 */
    0x0f, 0x32,                                 /* rdmsr */
};
/* 64-bit */
static const uint8_t lm_wrmsr_noncanon[] = {
    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,/* mov rax, 0x0000800000000000 */
    0xb9, 0x00, 0x01, 0x00, 0xc0,               /* mov ecx, 0xc0000100 */
    0x48, 0x89, 0xc2,                           /* mov rdx, rax */
    0x48, 0xc1, 0xea, 0x20,                     /* shr rdx, 32 */
    0x0f, 0x30,                                 /* wrmsr */
};
/* 64-bit */
static const uint8_t lm_clear_pg[] = {
    0x0f, 0x20, 0xc0,                           /* mov rax, cr0 */
    0x25, 0xff, 0xff, 0xff, 0x7f,               /* and eax, 0x7fffffff */
    0x0f, 0x22, 0xc0,                           /* mov cr0, rax */
};

/* 64-bit */
static const uint8_t lm_ltr[] = {
    0x66, 0xb8, 0x28, 0x00,                     /* mov ax, 0x28 */
    0x0f, 0x00, 0xd8,                           /* ltr ax */
    0x66, 0xb8, 0x90, 0x00,                     /* mov ax, 0x90 */
    0x0f, 0x00, 0xd0,                           /* lldt ax */
    0x66, 0x0f, 0x00, 0xcb,                     /* str bx */
    0x66, 0x0f, 0x00, 0xc1,                     /* sldt cx */
    0x31, 0xc0,                                 /* xor eax, eax */
    0x0f, 0x00, 0xd0,                           /* lldt ax */
};
/* 64-bit (then 32-bit compatibility mode after "compat:") */
static const uint8_t lm_iret_compat[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfq */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x11, 0x10, 0x00, 0x00,               /* push compat */
    0x48, 0xcf,                                 /* iretq */
    /* compat: */
    0x89, 0xe0,                                 /* mov eax, esp */
    0xcd, 0x80,                                 /* int 0x80 */
};

#define LM_RUN(t, code) do { sys_lm64_init(t); sys_run((t), (code), sizeof(code)); } while (0)

static void test_noncanonical_frame(void **st)
{
    (void)st;
    struct th t;
    LM_RUN(&t, noncanon);                /* #GP(0), frame aligned down to 16 */
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x7ff0 - 48);
    assert_int_equal(sys_stk(&t, 0, 8), 0);
    assert_int_equal(sys_stk(&t, 1, 8), TH_CODE + 15);
    assert_int_equal(sys_stk(&t, 2, 8), SEL_CODE64);
    assert_true(sys_stk(&t, 3, 8) & FL_RF);
    assert_int_equal(sys_stk(&t, 4, 8), 0x7ff8);
    assert_int_equal(sys_stk(&t, 5, 8), SEL_DATA0);
    th_destroy(&t);

    sys_lm64_init(&t);                   /* the same through an IST1 gate */
    sys_idt64(&t, EXC_GP, SEL_CODE64, SYS_STUBS + 16 * EXC_GP, ST_INT32, 0, 1);
    sys_run(&t, noncanon, sizeof(noncanon));
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_IST1 - 48);
    assert_int_equal(sys_stk(&t, 4, 8), 0x7ff8);
    th_destroy(&t);
}

static void test_ring3_int_iretq(void **st)
{
    (void)st;
    struct th t;
    sys_lm64_init(&t);
    sys_idt64(&t, 0x80, SEL_CODE64, SYS_STUBS + 16 * 0x80, ST_INT32, 3, 0);
    static const uint8_t iretq[] = { 0x48, 0xcf };
    th_poke(&t, SYS_STUBS + 16 * 0x80 + 1, iretq, 2);
    sys_run(&t, lm_ring3_int, sizeof(lm_ring3_int));
    assert_int_equal(sys_vec(&t), 0x80);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, 0);              /* null SS, RPL 0 */
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 40);
    assert_int_equal(sys_stk(&t, 0, 8), TH_CODE + 0x13);
    assert_int_equal(sys_stk(&t, 1, 8), SEL_CODE3_64);
    assert_int_equal(sys_stk(&t, 3, 8), 0x7000);
    assert_int_equal(sys_stk(&t, 4, 8), SEL_DATA3_64);
    sys_resume(&t);
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA3_64);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x7000);
    assert_int_equal(t.cpu.s.regs[R_BX], 0x3333);
    th_destroy(&t);
}

static void test_syscall_sysret(void **st)
{
    (void)st;
    struct th t;
    sys_lm64_init(&t);
    th_poke(&t, 0x5000, sysret_target, sizeof(sysret_target));
    sys_run(&t, lm_syscall, sizeof(lm_syscall));
    assert_int_equal(t.cpu.s.rip, 0x5001);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, 0x08);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, 0x10);
    assert_true(cpu_is64(&t.cpu));
    assert_int_equal(t.cpu.s.regs[R_CX], t.end - 6);
    assert_true(t.cpu.s.regs[R_R11] & FL_IF);
    assert_false(t.cpu.s.rflags & FL_IF);                    /* masked by SFMASK */
    assert_int_equal(t.cpu.s.regs[R_R12], 0x42);
    sys_resume(&t);
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CODE3_64);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA3_64);
    assert_true(t.cpu.s.rflags & FL_IF);
    assert_int_equal(t.cpu.s.regs[R_R13], 0x43);
    th_destroy(&t);
}

static void test_swapgs(void **st)
{
    (void)st;
    struct th t;
    sys_lm64_init(&t);
    th_run_ok(&t, lm_swapgs, sizeof(lm_swapgs));
    assert_int_equal(th_reg(&t, R_SI), 0x12345000);
    assert_int_equal(th_reg(&t, R_DI), 0x1000);
    th_destroy(&t);
}

static void test_call_gate64(void **st)
{
    (void)st;
    struct th t;
    sys_lm64_init(&t);
    th_poke(&t, SYS_GATE_TARGET, retfq_target, sizeof(retfq_target));
    sys_put32(&t, TH_DATA, 0);
    sys_put16(&t, TH_DATA + 4, SEL_CGATE64 | 3);
    sys_run(&t, lm_callgate, sizeof(lm_callgate));
    assert_int_equal(t.cpu.s.rip, SYS_GATE_TARGET + 1);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CODE64);
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 32);
    assert_int_equal(sys_stk(&t, 0, 8), TH_CODE + 0x18);
    assert_int_equal(sys_stk(&t, 1, 8), SEL_CODE3_64);
    assert_int_equal(sys_stk(&t, 2, 8), 0x7000);
    assert_int_equal(sys_stk(&t, 3, 8), SEL_DATA3_64);
    sys_resume(&t);                      /* RETFQ to ring 3 */
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x7000);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA3_64);
    assert_int_equal(t.cpu.s.regs[R_BX], 0x4444);
    th_destroy(&t);
}

static void test_msr_faults(void **st)
{
    (void)st;
    struct th t;
    LM_RUN(&t, lm_rdmsr_bad);            /* unknown MSR: #GP(0) */
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 1, 8), TH_CODE + 14);
    assert_int_equal(th_reg(&t, R_SI), EFER_LME | EFER_LMA);
    th_destroy(&t);
    LM_RUN(&t, lm_wrmsr_noncanon);       /* non-canonical FS_BASE: #GP(0) */
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 1, 8), TH_CODE + 22);
    th_destroy(&t);
    LM_RUN(&t, lm_clear_pg);             /* clearing CR0.PG in 64-bit mode: #GP(0) */
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 1, 8), TH_CODE + 8);
    assert_true(t.cpu.s.cr0 & CR0_PG);
    th_destroy(&t);
}

/* LTR and LLDT read 16-byte system descriptors in IA-32e mode. */
static void test_ltr_lldt64(void **st)
{
    (void)st;
    struct th t;
    sys_lm64_init(&t);                   /* upper half of the LDT descriptor is the call gate: #GP */
    sys_gdt(&t, SEL_TSS, mkdesc(SYS_TSS, 0x67, SEGA_P | ST_TSS32));
    sys_run(&t, lm_ltr, sizeof(lm_ltr));
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 0, 8), SEL_LDT);
    assert_int_equal(sys_stk(&t, 1, 8), TH_CODE + 11);
    th_destroy(&t);

    sys_lm64_init(&t);
    sys_gdt(&t, SEL_TSS, mkdesc(SYS_TSS, 0x67, SEGA_P | ST_TSS32));
    sys_gdt(&t, SEL_TSS + 8, 0x5);       /* base bits 63..32 */
    sys_gdt(&t, SEL_LDT + 8, 0);
    th_run_ok(&t, lm_ltr, sizeof(lm_ltr));
    assert_int_equal(t.cpu.s.seg[S_TR].sel, SEL_TSS);
    assert_int_equal(t.cpu.s.seg[S_TR].base, 0x500000000ull + SYS_TSS);
    assert_int_equal(t.cpu.s.seg[S_TR].attr & SEGA_TYPE, ST_TSS32_BUSY);
    assert_int_equal(th_peek(&t, SYS_GDT + SEL_TSS + 5, 1) & 0xf, ST_TSS32_BUSY);
    assert_int_equal(th_reg(&t, R_BX) & 0xffff, SEL_TSS);
    assert_int_equal(th_reg(&t, R_CX) & 0xffff, SEL_LDT);
    assert_false(t.cpu.s.seg[S_LDTR].attr & SEGA_P);          /* null LDT at the end */
    th_destroy(&t);
}

/* IRETQ to ring-3 compatibility mode, then INT back to the 64-bit kernel. */
static void test_iretq_to_compat(void **st)
{
    (void)st;
    struct th t;
    sys_lm64_init(&t);
    sys_idt64(&t, 0x80, SEL_CODE64, SYS_STUBS + 16 * 0x80, ST_INT32, 3, 0);
    sys_run(&t, lm_iret_compat, sizeof(lm_iret_compat));
    assert_int_equal(sys_vec(&t), 0x80);
    assert_int_equal(th_reg(&t, R_AX), 0x7000);              /* ran in compatibility mode */
    assert_true(cpu_is64(&t.cpu));
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 40);
    assert_int_equal(sys_stk(&t, 0, 8), TH_CODE + 0x15);
    assert_int_equal(sys_stk(&t, 1, 8), SEL_CODE3);
    assert_int_equal(sys_stk(&t, 3, 8), 0x7000);
    assert_int_equal(sys_stk(&t, 4, 8), SEL_DATA3);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noncanonical_frame),
        cmocka_unit_test(test_ring3_int_iretq),
        cmocka_unit_test(test_syscall_sysret),
        cmocka_unit_test(test_swapgs),
        cmocka_unit_test(test_call_gate64),
        cmocka_unit_test(test_msr_faults),
        cmocka_unit_test(test_ltr_lldt64),
        cmocka_unit_test(test_iretq_to_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
