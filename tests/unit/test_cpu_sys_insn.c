/* System instructions (src/cpu/sysinsn.c, sysdesc.c, sysflags.c, msr.c,
 * cpuid.c, interrupt.c in real mode): control registers and the long-mode
 * switch, descriptor probes, SGDT/STR, RDTSC and the TSC MSR, CPUID, the
 * IOPL rules of POPF/CLI/HLT, and real-mode INT/IRET, per the Intel SDM
 * Vol. 2 and Vol. 3A. Code bytes assembled with nasm (org 0x1000); the
 * source is in the comments. */
#include "cpu_sys_harness.h"

/* 16-bit */
static const uint8_t real_int[] = {
    0xcd, 0x10,                                 /* int 0x10 */
};
/* 16-bit */
static const uint8_t real_int_iret[] = {
    0xfb,                                       /* sti */
    0xcd, 0x20,                                 /* int 0x20 */
    0xbb, 0x34, 0x12,                           /* mov bx, 0x1234 */
};
/* 16-bit */
static const uint8_t real_pg_no_pe[] = {
    0x66, 0xb8, 0x00, 0x00, 0x00, 0x80,         /* mov eax, 0x80000000 */
    0x0f, 0x22, 0xc0,                           /* mov cr0, eax */
};
/* 32-bit */
static const uint8_t cr4_reserved[] = {
    0x0f, 0x20, 0xe0,                           /* mov eax, cr4 */
    0x0d, 0x00, 0x20, 0x00, 0x00,               /* or eax, 0x2000 */
    0x0f, 0x22, 0xe0,                           /* mov cr4, eax */
};
/* 32-bit */
static const uint8_t lar_lsl[] = {
    0x66, 0xb8, 0x10, 0x00,                     /* mov ax, 0x10 */
    0x0f, 0x02, 0xd8,                           /* lar ebx, ax */
    0x0f, 0x03, 0xc8,                           /* lsl ecx, ax */
    0x66, 0xb8, 0x38, 0x00,                     /* mov ax, 0x38 */
    0x0f, 0x00, 0xe0,                           /* verr ax */
    0x0f, 0x94, 0xc2,                           /* setz dl */
    0x66, 0xb8, 0x80, 0x00,                     /* mov ax, 0x80 */
    0x0f, 0x00, 0xe8,                           /* verw ax */
    0x0f, 0x94, 0xc6,                           /* setz dh */
    0x66, 0xb8, 0x00, 0x10,                     /* mov ax, 0x1000 */
    0x0f, 0x03, 0xf0,                           /* lsl esi, ax */
    0x0f, 0x94, 0x05, 0x00, 0x00, 0x01, 0x00,   /* setz byte [0x10000] */
    0x66, 0xb8, 0x28, 0x00,                     /* mov ax, 0x28 */
    0x0f, 0x02, 0xf8,                           /* lar edi, ax */
};
/* 32-bit */
static const uint8_t sgdt_sidt[] = {
    0x0f, 0x01, 0x05, 0x00, 0x00, 0x01, 0x00,   /* sgdt [0x10000] */
    0x0f, 0x01, 0x0d, 0x10, 0x00, 0x01, 0x00,   /* sidt [0x10010] */
    0x66, 0x0f, 0x00, 0xc8,                     /* str ax */
    0x66, 0x0f, 0x00, 0xc1,                     /* sldt cx */
};
/* 32-bit */
static const uint8_t tsc[] = {
    0x0f, 0x31,                                 /* rdtsc */
    0x89, 0xc6,                                 /* mov esi, eax */
    0x89, 0xd7,                                 /* mov edi, edx */
    0xb9, 0x10, 0x00, 0x00, 0x00,               /* mov ecx, 0x10 */
    0xb8, 0x00, 0x10, 0x00, 0x00,               /* mov eax, 0x1000 */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0x0f, 0x31,                                 /* rdtsc */
};
/* 32-bit */
static const uint8_t ring3_popf_cli[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x68, 0x02, 0x02, 0x00, 0x00,               /* push 0x202 */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x14, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0x6a, 0x00,                                 /* push 0 */
    0x9d,                                       /* popfd */
    0x9c,                                       /* pushfd */
    0x5b,                                       /* pop ebx */
    0xfa,                                       /* cli */
};
/* 32-bit */
static const uint8_t ring3_hlt[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x6a, 0x02,                                 /* push 0x2 */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x11, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0xf4,                                       /* hlt */
};
/* 32-bit */
static const uint8_t cpuid01[] = {
    0x31, 0xc0,                                 /* xor eax, eax */
    0x0f, 0xa2,                                 /* cpuid */
    0x89, 0xde,                                 /* mov esi, ebx */
    0x89, 0xd7,                                 /* mov edi, edx */
    0x89, 0xcd,                                 /* mov ebp, ecx */
    0xb8, 0x01, 0x00, 0x00, 0x00,               /* mov eax, 1 */
    0x0f, 0xa2,                                 /* cpuid */
};
/* 32-bit */
static const uint8_t ltr_busy[] = {
    0x66, 0xb8, 0x50, 0x00,                     /* mov ax, 0x50 */
    0x0f, 0x00, 0xd8,                           /* ltr ax */
};
/* 32-bit */
static const uint8_t ltr_twice[] = {
    0x66, 0xb8, 0x50, 0x00,                     /* mov ax, 0x50 */
    0x0f, 0x00, 0xd8,                           /* ltr ax */
    0x66, 0xb8, 0x50, 0x00,                     /* mov ax, 0x50 */
    0x0f, 0x00, 0xd8,                           /* ltr ax */
};
/* 32-bit */
static const uint8_t enter_long[] = {
    0x0f, 0x20, 0xe0,                           /* mov eax, cr4 */
    0x83, 0xc8, 0x20,                           /* or eax, 0x20 */
    0x0f, 0x22, 0xe0,                           /* mov cr4, eax */
    0xb8, 0x00, 0x00, 0x10, 0x00,               /* mov eax, 0x100000 */
    0x0f, 0x22, 0xd8,                           /* mov cr3, eax */
    0xb9, 0x80, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000080 */
    0x0f, 0x32,                                 /* rdmsr */
    0x0d, 0x00, 0x01, 0x00, 0x00,               /* or eax, 0x100 */
    0x0f, 0x30,                                 /* wrmsr */
    0x0f, 0x20, 0xc0,                           /* mov eax, cr0 */
    0x0d, 0x00, 0x00, 0x00, 0x80,               /* or eax, 0x80000000 */
    0x0f, 0x22, 0xc0,                           /* mov cr0, eax */
    0xb9, 0x80, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000080 */
    0x0f, 0x32,                                 /* rdmsr */
    0x89, 0xc6,                                 /* mov esi, eax */
    0xea, 0x3a, 0x10, 0x00, 0x00, 0x68, 0x00,   /* jmp 0x68:lm64 */
    /* lm64: */
    0x48, 0xbf, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00,/* mov rdi, 0x123456789 */
};

/* 32-bit */
static const uint8_t crmisc[] = {
    0x0f, 0x20, 0xc0,                           /* mov eax, cr0 */
    0x83, 0xc8, 0x08,                           /* or eax, 8 */
    0x0f, 0x22, 0xc0,                           /* mov cr0, eax */
    0x0f, 0x06,                                 /* clts */
    0x66, 0x0f, 0x01, 0xe3,                     /* smsw bx */
    0x66, 0xb8, 0x0e, 0x00,                     /* mov ax, 0xe */
    0x0f, 0x01, 0xf0,                           /* lmsw ax */
    0x0f, 0x01, 0xe1,                           /* smsw ecx */
    0xb8, 0x55, 0x00, 0x00, 0x00,               /* mov eax, 0x55 */
    0x0f, 0x23, 0xc0,                           /* mov dr0, eax */
    0x0f, 0x23, 0xf8,                           /* mov dr7, eax */
    0x0f, 0x21, 0xee,                           /* mov esi, dr5 */
    0x0f, 0x21, 0xc7,                           /* mov edi, dr0 */
};
/* 64-bit */
static const uint8_t lm_rdtscp_cr8[] = {
    0xb9, 0x03, 0x01, 0x00, 0xc0,               /* mov ecx, 0xc0000103 */
    0xb8, 0x07, 0x00, 0x00, 0x00,               /* mov eax, 7 */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0x0f, 0x01, 0xf9,                           /* rdtscp */
    0x89, 0xce,                                 /* mov esi, ecx */
    0xb8, 0x09, 0x00, 0x00, 0x00,               /* mov rax, 9 */
    0x44, 0x0f, 0x22, 0xc0,                     /* mov cr8, rax */
    0x44, 0x0f, 0x20, 0xc7,                     /* mov rdi, cr8 */
};

/* 32-bit */
static const uint8_t bound_br[] = {
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,/* mov dword [0x10000], 0 */
    0xc7, 0x05, 0x04, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00,/* mov dword [0x10004], 10 */
    0xb8, 0x0a, 0x00, 0x00, 0x00,               /* mov eax, 10 */
    0x62, 0x05, 0x00, 0x00, 0x01, 0x00,         /* bound eax, [0x10000] */
    0xb8, 0x0b, 0x00, 0x00, 0x00,               /* mov eax, 11 */
    0x62, 0x05, 0x00, 0x00, 0x01, 0x00,         /* bound eax, [0x10000] */
};
/* 32-bit */
static const uint8_t into_of[] = {
    0xb0, 0x7f,                                 /* mov al, 0x7f */
    0x04, 0x01,                                 /* add al, 1 */
    0xce,                                       /* into */
};

/* 32-bit */
static const uint8_t sysenter32[] = {
    0xb9, 0x74, 0x01, 0x00, 0x00,               /* mov ecx, 0x174 */
    0xb8, 0x08, 0x00, 0x00, 0x00,               /* mov eax, 0x08 */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x75, 0x01, 0x00, 0x00,               /* mov ecx, 0x175 */
    0xb8, 0x00, 0x90, 0x00, 0x00,               /* mov eax, 0x9000 */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x76, 0x01, 0x00, 0x00,               /* mov ecx, 0x176 */
    0xb8, 0x00, 0x50, 0x00, 0x00,               /* mov eax, 0x5000 */
    0x0f, 0x30,                                 /* wrmsr */
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x68, 0x02, 0x02, 0x00, 0x00,               /* push 0x202 */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x3a, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0xb9, 0xf0, 0x6f, 0x00, 0x00,               /* mov ecx, 0x6ff0 */
    0xba, 0x46, 0x10, 0x00, 0x00,               /* mov edx, back */
    0x0f, 0x34,                                 /* sysenter */
    /* back: */
    0xbb, 0x77, 0x00, 0x00, 0x00,               /* mov ebx, 0x77 */
};
/* 32-bit */
static const uint8_t sysexit_target[] = {
    0xf4,                                       /* hlt */
    0x0f, 0x35,                                 /* sysexit */
};
/* 32-bit */
static const uint8_t sreg_ops[] = {
    0x1e,                                       /* push ds */
    0x06,                                       /* push es */
    0x0f, 0xa0,                                 /* push fs */
    0x0f, 0xa8,                                 /* push gs */
    0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0x78, 0x56, 0x34, 0x12,/* mov dword [0x10000], 0x12345678 */
    0x66, 0xc7, 0x05, 0x04, 0x00, 0x01, 0x00, 0x10, 0x00,/* mov word [0x10004], 0x10 */
    0xc5, 0x05, 0x00, 0x00, 0x01, 0x00,         /* lds eax, [0x10000] */
    0xc7, 0x05, 0x08, 0x00, 0x01, 0x00, 0xf0, 0x7f, 0x00, 0x00,/* mov dword [0x10008], 0x7ff0 */
    0x66, 0xc7, 0x05, 0x0c, 0x00, 0x01, 0x00, 0x10, 0x00,/* mov word [0x1000c], 0x10 */
    0x0f, 0xb2, 0x25, 0x08, 0x00, 0x01, 0x00,   /* lss esp, [0x10008] */
    0x0f, 0xa9,                                 /* pop gs */
    0x66, 0x8c, 0xeb,                           /* mov bx, gs */
    0x66, 0x8c, 0xd1,                           /* mov cx, ss */
};
/* 32-bit */
static const uint8_t pop_ss_shadow[] = {
    0x17,                                       /* pop ss */
};

static void test_real_int_iret(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_run(&t, real_int, sizeof(real_int));
    assert_int_equal(th_vector(&t), 0x10);
    assert_int_equal(th_reg(&t, R_SP), TH_STACK - 6);
    assert_int_equal(th_peek(&t, TH_STACK - 6, 2), TH_CODE + 2);   /* IP after INT */
    assert_int_equal(th_peek(&t, TH_STACK - 4, 2), 0);              /* CS */
    th_destroy(&t);

    th_init(&t, TH_REAL);
    static const uint8_t iret16[] = { 0xcf };
    uint32_t ivt = 0x2000;
    th_poke(&t, 4 * 0x20, &ivt, 4);      /* 0000:2000 */
    th_poke(&t, 0x2000, iret16, 1);
    th_run_ok(&t, real_int_iret, sizeof(real_int_iret));
    assert_int_equal(th_reg(&t, R_BX), 0x1234);
    assert_int_equal(th_reg(&t, R_SP), TH_STACK);
    assert_true(th_flags(&t) & FL_IF);   /* restored by IRET */
    th_destroy(&t);
}

static void test_cr_checks(void **st)
{
    (void)st;
    struct th t;
    th_init(&t, TH_REAL);
    th_run(&t, real_pg_no_pe, sizeof(real_pg_no_pe));   /* PG without PE: #GP(0) */
    assert_int_equal(th_vector(&t), EXC_GP);
    assert_false(t.cpu.s.cr0 & CR0_PG);
    th_destroy(&t);

    sys_pm32_init(&t);                   /* CR4.VMXE is not implemented: #GP(0) */
    sys_run(&t, cr4_reserved, sizeof(cr4_reserved));
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 1, 4), TH_CODE + 8);
    th_destroy(&t);
}

static void test_enter_long_mode(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    sys_put64(&t, TH_PT, (TH_PT + 0x1000) | 3);
    sys_put64(&t, TH_PT + 0x1000, (TH_PT + 0x2000) | 3);
    for (uint64_t i = 0; i < 512; i++)
        sys_put64(&t, TH_PT + 0x2000 + 8 * i, (i << 21) | 0x83);
    th_run_ok(&t, enter_long, sizeof(enter_long));
    /* CR0.PG with EFER.LME and CR4.PAE activated IA-32e mode */
    assert_int_equal(th_reg(&t, R_SI), EFER_LME | EFER_LMA);
    assert_true(t.cpu.s.efer & EFER_LMA);
    assert_true(cpu_is64(&t.cpu));
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CODE64);
    assert_int_equal(th_reg(&t, R_DI), 0x123456789ull);
    th_destroy(&t);
}

static void test_lar_lsl_verr(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, lar_lsl, sizeof(lar_lsl));
    assert_int_equal(th_reg(&t, R_BX), 0x00c09300);          /* G D P DPL0 S type 3 */
    assert_int_equal(th_reg(&t, R_CX), 0xffffffff);          /* granular limit */
    assert_int_equal(th_reg(&t, R_DX) & 0xffff, 0x0001);     /* VERR ok, VERW of read-only fails */
    assert_int_equal(th_peek(&t, TH_DATA, 1), 0);            /* LSL outside the GDT: ZF = 0 */
    assert_int_equal(th_reg(&t, R_SI), 0);                   /* ... and no write */
    assert_int_equal(th_reg(&t, R_DI), 0x00008b00);          /* busy 32-bit TSS */
    th_destroy(&t);
}

static void test_sgdt_str(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, sgdt_sidt, sizeof(sgdt_sidt));
    assert_int_equal(th_peek(&t, TH_DATA, 2), SYS_GDT_LIMIT);
    assert_int_equal(th_peek(&t, TH_DATA + 2, 4), SYS_GDT);
    assert_int_equal(th_peek(&t, TH_DATA + 0x10, 2), 256 * 8 - 1);
    assert_int_equal(th_peek(&t, TH_DATA + 0x12, 4), SYS_IDT);
    assert_int_equal(th_reg(&t, R_AX) & 0xffff, SEL_TSS);
    th_destroy(&t);
}

static void test_ltr(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, ltr_busy, sizeof(ltr_busy));
    assert_int_equal(t.cpu.s.seg[S_TR].sel, SEL_TSS2);
    assert_int_equal(t.cpu.s.seg[S_TR].attr & SEGA_TYPE, ST_TSS32_BUSY);
    assert_int_equal(th_peek(&t, SYS_GDT + SEL_TSS2 + 5, 1) & 0xf, ST_TSS32_BUSY);
    th_destroy(&t);
    sys_pm32_init(&t);                   /* LTR of a busy TSS: #GP(sel) */
    sys_run(&t, ltr_twice, sizeof(ltr_twice));
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 0, 4), SEL_TSS2);
    th_destroy(&t);
}

static void test_tsc(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, tsc, sizeof(tsc));
    /* th_clock is 0: the TSC is the offset alone, set by WRMSR(0x10) */
    assert_int_equal(th_reg(&t, R_AX), 0x1000);
    assert_int_equal(th_reg(&t, R_DX), 0);
    th_destroy(&t);
}

static void test_ring3_flags(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    sys_run(&t, ring3_popf_cli, sizeof(ring3_popf_cli));
    /* POPF at CPL 3 > IOPL keeps IF; CLI faults */
    assert_int_equal(th_reg(&t, R_BX), FL_1 | FL_IF);
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 1, 4), TH_CODE + 0x19);
    th_destroy(&t);
    sys_pm32_init(&t);
    sys_run(&t, ring3_hlt, sizeof(ring3_hlt));        /* HLT at CPL 3: #GP(0) */
    assert_int_equal(sys_vec(&t), EXC_GP);
    assert_int_equal(sys_stk(&t, 1, 4), TH_CODE + 0x11);
    th_destroy(&t);
}

static void test_cpuid(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, cpuid01, sizeof(cpuid01));
    assert_int_equal(th_reg(&t, R_SI), 0x756e6547);   /* "Genu" */
    assert_int_equal(th_reg(&t, R_DI), 0x49656e69);   /* "ineI" */
    assert_int_equal(th_reg(&t, R_BP), 0x6c65746e);   /* "ntel" */
    assert_int_equal(th_reg(&t, R_AX), CPU_SIGNATURE);
    uint32_t edx = (uint32_t)th_reg(&t, R_DX), ecx = (uint32_t)th_reg(&t, R_CX);
    assert_true(edx & (1u << 25));                    /* SSE */
    assert_true(edx & (1u << 11));                    /* SEP */
    assert_false(edx & (1u << 9));                    /* no APIC yet */
    assert_true(ecx & (1u << 23));                    /* POPCNT */
    assert_false(ecx & (1u << 28));                   /* no AVX */
    uint32_t r[4];
    cpuid_query(&t.cpu, 0x80000008u, 0, r);
    assert_int_equal(r[0], 0x3028);                   /* 48 linear, 40 physical bits */
    cpuid_query(&t.cpu, 0x80000001u, 0, r);
    assert_true(r[3] & (1u << 29));                   /* LM */
    char brand[49] = { 0 };
    for (uint32_t l = 0; l < 3; l++) {
        cpuid_query(&t.cpu, 0x80000002u + l, 0, r);
        memcpy(brand + 16 * l, r, 16);
    }
    assert_string_equal(brand, cpu_model_name);
    cpu_set_apic_present(&t.cpu, true);
    cpuid_query(&t.cpu, 1, 0, r);
    assert_true(r[3] & (1u << 9));                    /* APIC once present and enabled */
    cpuid_query(&t.cpu, 0x40000000u, 0, r);           /* above the maximum: highest basic leaf */
    uint32_t r0[4], rmax[4];
    cpuid_query(&t.cpu, 0, 0, r0);
    cpuid_query(&t.cpu, r0[0], 0, rmax);
    assert_memory_equal(r, rmax, sizeof(r));
    th_destroy(&t);
}

static void test_cr0_dr_misc(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, crmisc, sizeof(crmisc));
    assert_int_equal(th_reg(&t, R_BX) & 0xffff, 0x0011);     /* CLTS cleared TS */
    assert_int_equal(th_reg(&t, R_CX), 0x6000001f);          /* LMSW set MP EM TS, kept PE */
    assert_int_equal(th_reg(&t, R_SI), 0x455);               /* DR5 = DR7 without CR4.DE */
    assert_int_equal(th_reg(&t, R_DI), 0x55);
    th_destroy(&t);
    sys_lm64_init(&t);
    th_run_ok(&t, lm_rdtscp_cr8, sizeof(lm_rdtscp_cr8));
    assert_int_equal(th_reg(&t, R_SI), 7);                   /* IA32_TSC_AUX */
    assert_int_equal(th_reg(&t, R_DI), 9);                   /* CR8 (TPR) */
    th_destroy(&t);
}

static void test_bound_into(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    sys_run(&t, bound_br, sizeof(bound_br));       /* #BR is a fault: EIP of the BOUND */
    assert_int_equal(sys_vec(&t), EXC_BR);
    assert_int_equal(sys_stk(&t, 0, 4), TH_CODE + 36);
    th_destroy(&t);
    sys_pm32_init(&t);
    sys_run(&t, into_of, sizeof(into_of));         /* INTO with OF: #OF is a trap */
    assert_int_equal(sys_vec(&t), EXC_OF);
    assert_int_equal(sys_stk(&t, 0, 4), TH_CODE + 5);
    th_destroy(&t);
}

static void test_sysenter_sysexit(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_poke(&t, 0x5000, sysexit_target, sizeof(sysexit_target));
    sys_run(&t, sysenter32, sizeof(sysenter32));
    assert_int_equal(t.cpu.s.rip, 0x5001);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CODE0);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA0);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x9000);
    assert_false(t.cpu.s.rflags & FL_IF);
    sys_resume(&t);                      /* SYSEXIT: CS = SYSENTER_CS + 16, SS = + 24, RPL 3 */
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CODE3);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA3);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x6ff0);
    assert_int_equal(th_reg(&t, R_BX), 0x77);
    th_destroy(&t);
}

static void test_sreg_insns(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_run_ok(&t, sreg_ops, sizeof(sreg_ops));
    assert_int_equal(th_reg(&t, R_AX), 0x12345678);          /* LDS offset */
    assert_int_equal(t.cpu.s.seg[S_DS].sel, SEL_DATA0);
    assert_int_equal(th_reg(&t, R_SP), 0x7ff4);              /* LSS, then POP GS */
    assert_int_equal(th_reg(&t, R_BX) & 0xffff, SEL_DATA0);  /* GS as pushed */
    assert_int_equal(th_reg(&t, R_CX) & 0xffff, SEL_DATA0);
    assert_int_equal(th_peek(&t, 0x7ffc, 4), SEL_DATA0);     /* PUSH DS: 4-byte slot */
    th_destroy(&t);

    sys_pm32_init(&t);                   /* POP SS sets the MOV SS interrupt shadow */
    sys_put32(&t, TH_STACK, SEL_DATA0);
    t.cpu.s.regs[R_SP] = TH_STACK;
    th_run_ok(&t, pop_ss_shadow, sizeof(pop_ss_shadow));
    assert_int_equal(th_reg(&t, R_SP), TH_STACK + 4);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_int_iret),
        cmocka_unit_test(test_cr_checks),
        cmocka_unit_test(test_enter_long_mode),
        cmocka_unit_test(test_lar_lsl_verr),
        cmocka_unit_test(test_sgdt_str),
        cmocka_unit_test(test_ltr),
        cmocka_unit_test(test_tsc),
        cmocka_unit_test(test_ring3_flags),
        cmocka_unit_test(test_cpuid),
        cmocka_unit_test(test_cr0_dr_misc),
        cmocka_unit_test(test_bound_into),
        cmocka_unit_test(test_sysenter_sysexit),
        cmocka_unit_test(test_sreg_insns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
