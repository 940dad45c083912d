/* Protected-mode system architecture (src/cpu/seg.c, interrupt.c, farctl.c,
 * task.c, io.c): segment-load checks and their error codes, limit and type
 * checks, privilege transitions through IRET, interrupt gates, call gates
 * and task switches, the I/O permission bitmap and V86 mode, checked
 * against the Intel SDM Vol. 3A chapters 5-7 and 20. Code bytes assembled
 * with nasm (org 0x1000); the source is in the comments. */
#include "cpu_sys_harness.h"

/* 32-bit */
static const uint8_t np_load[] = {
    0x66, 0xb8, 0x38, 0x00,                     /* mov ax, 0x38 */
    0x8e, 0xd8,                                 /* mov ds, ax */
};
/* 32-bit */
static const uint8_t gp_load[] = {
    0x66, 0xb8, 0x00, 0x10,                     /* mov ax, 0x1000 */
    0x8e, 0xc0,                                 /* mov es, ax */
};
/* 32-bit */
static const uint8_t ss_rpl[] = {
    0x66, 0xb8, 0x23, 0x00,                     /* mov ax, 0x23 */
    0x8e, 0xd0,                                 /* mov ss, ax */
};
/* 32-bit */
static const uint8_t ss_ro[] = {
    0x66, 0xb8, 0x80, 0x00,                     /* mov ax, 0x80 */
    0x8e, 0xd0,                                 /* mov ss, ax */
};
/* 32-bit */
static const uint8_t null_use[] = {
    0x31, 0xc0,                                 /* xor eax, eax */
    0x8e, 0xe0,                                 /* mov fs, ax */
    0x64, 0xa1, 0x00, 0x01, 0x00, 0x00,         /* mov eax, [fs:0x100] */
};
/* 32-bit */
static const uint8_t expdown[] = {
    0x66, 0xb8, 0x48, 0x00,                     /* mov ax, 0x48 */
    0x8e, 0xc0,                                 /* mov es, ax */
    0x26, 0xa1, 0x00, 0x20, 0x00, 0x00,         /* mov eax, [es:0x2000] */
    0x26, 0xa1, 0xfc, 0x0f, 0x00, 0x00,         /* mov eax, [es:0xffc] */
};
/* 32-bit */
static const uint8_t rodata[] = {
    0x66, 0xb8, 0x80, 0x00,                     /* mov ax, 0x80 */
    0x8e, 0xd8,                                 /* mov ds, ax */
    0xa1, 0x00, 0x01, 0x00, 0x00,               /* mov eax, [0x100] */
    0xa3, 0x00, 0x01, 0x00, 0x00,               /* mov [0x100], eax */
};
/* 32-bit */
static const uint8_t xcode_load[] = {
    0x66, 0xb8, 0x88, 0x00,                     /* mov ax, 0x88 */
    0x8e, 0xd8,                                 /* mov ds, ax */
};
/* 32-bit */
static const uint8_t to_ring3_int[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfd */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x10, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0xb8, 0x34, 0x12, 0x00, 0x00,               /* mov eax, 0x1234 */
    0xcd, 0x80,                                 /* int 0x80 */
};
/* 32-bit */
static const uint8_t ring3_int_dpl[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfd */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x10, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0xcd, 0x81,                                 /* int 0x81 */
};
/* 32-bit */
static const uint8_t ring3_callgate[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfd */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x10, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0x68, 0x11, 0x11, 0x11, 0x11,               /* push 0x11111111 */
    0x68, 0x22, 0x22, 0x22, 0x22,               /* push 0x22222222 */
    0x9a, 0x00, 0x00, 0x00, 0x00, 0x43, 0x00,   /* call 0x43:0 */
    0xbb, 0x99, 0x00, 0x00, 0x00,               /* mov ebx, 0x99 */
};
/* 32-bit */
static const uint8_t gate_target[] = {
    0xf4,                                       /* hlt */
    0xca, 0x08, 0x00,                           /* retf 8 */
};
/* 32-bit */
static const uint8_t task_call[] = {
    0x9a, 0x00, 0x00, 0x00, 0x00, 0x50, 0x00,   /* call 0x50:0 */
    0xbb, 0x55, 0x55, 0x00, 0x00,               /* mov ebx, 0x5555 */
};
/* 32-bit */
static const uint8_t task2_code[] = {
    0xb9, 0x77, 0x00, 0x00, 0x00,               /* mov ecx, 0x77 */
    0xcf,                                       /* iretd */
};
/* 32-bit */
static const uint8_t task_int[] = {
    0xcd, 0x90,                                 /* int 0x90 */
    0xbb, 0x66, 0x66, 0x00, 0x00,               /* mov ebx, 0x6666 */
};
/* 32-bit */
static const uint8_t ring3_io[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x6a, 0x02,                                 /* push 0x2 */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x11, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0xe4, 0x60,                                 /* in al, 0x60 */
    0xe6, 0x61,                                 /* out 0x61, al */
};
/* 32-bit */
static const uint8_t v86_int_gp[] = {
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x68, 0x02, 0x00, 0x02, 0x00,               /* push 0x20002 */
    0x6a, 0x00,                                 /* push 0 */
    0x68, 0x1c, 0x10, 0x00, 0x00,               /* push v86 */
    0xcf,                                       /* iretd */
    /* v86: */
    0xcd, 0x21,                                 /* int 0x21 */
};
/* 32-bit */
static const uint8_t v86_int_iopl3[] = {
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x68, 0x02, 0x30, 0x02, 0x00,               /* push 0x23002 */
    0x6a, 0x00,                                 /* push 0 */
    0x68, 0x1c, 0x10, 0x00, 0x00,               /* push v86 */
    0xcf,                                       /* iretd */
    /* v86: */
    0xcd, 0x21,                                 /* int 0x21 */
};
/* 32-bit */
static const uint8_t ud2[] = {
    0x0f, 0x0b,                                 /* ud2 */
};

/* 32-bit */
static const uint8_t v86_vme_int[] = {
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x6a, 0x00,                                 /* push 0 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x68, 0x02, 0x02, 0x02, 0x00,               /* push 0x20202 */
    0x6a, 0x00,                                 /* push 0 */
    0x68, 0x1c, 0x10, 0x00, 0x00,               /* push v86 */
    0xcf,                                       /* iretd */
    /* v86: */
    0xcd, 0x21,                                 /* int 0x21 */
};

/* 32-bit */
static const uint8_t ring3_conf[] = {
    0x6a, 0x23,                                 /* push 0x23 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x9c,                                       /* pushfd */
    0x6a, 0x1b,                                 /* push 0x1b */
    0x68, 0x10, 0x10, 0x00, 0x00,               /* push ring3 */
    0xcf,                                       /* iretd */
    /* ring3: */
    0xea, 0x17, 0x10, 0x00, 0x00, 0xa3, 0x00,   /* jmp 0xa3:0x1017 (the next insn) */
    0xbb, 0x5a, 0x00, 0x00, 0x00,               /* mov ebx, 0x5a */
};

/* Runs code and expects the stub of vector vec, with error code err (or
 * none when err < 0) and the fault's EIP at faulting_ip. */
static void expect_exc(struct th *t, int vec, int64_t err, uint32_t ip)
{
    assert_int_equal(sys_vec(t), vec);
    unsigned i = 0;
    if (err >= 0)
        assert_int_equal(sys_stk(t, i++, 4), (uint64_t)err);
    assert_int_equal(sys_stk(t, i, 4), ip);
}

#define PM_RUN(t, code) do { sys_pm32_init(t); sys_run((t), (code), sizeof(code)); } while (0)

static void test_seg_load_faults(void **st)
{
    (void)st;
    struct th t;
    PM_RUN(&t, np_load);                 /* not present data: #NP(sel) */
    expect_exc(&t, EXC_NP, 0x38, TH_CODE + 4);
    th_destroy(&t);
    PM_RUN(&t, gp_load);                 /* beyond the GDT limit: #GP(sel) */
    expect_exc(&t, EXC_GP, 0x1000, TH_CODE + 4);
    th_destroy(&t);
    PM_RUN(&t, ss_rpl);                  /* SS with RPL != CPL: #GP(sel) */
    expect_exc(&t, EXC_GP, 0x20, TH_CODE + 4);
    th_destroy(&t);
    PM_RUN(&t, ss_ro);                   /* SS read-only: #GP(sel) */
    expect_exc(&t, EXC_GP, 0x80, TH_CODE + 4);
    th_destroy(&t);
    PM_RUN(&t, xcode_load);              /* execute-only code into DS: #GP(sel) */
    expect_exc(&t, EXC_GP, 0x88, TH_CODE + 4);
    th_destroy(&t);
}

static void test_seg_use_faults(void **st)
{
    (void)st;
    struct th t;
    PM_RUN(&t, null_use);                /* access through a null FS: #GP(0) */
    expect_exc(&t, EXC_GP, 0, TH_CODE + 4);
    assert_int_equal(t.cpu.s.seg[S_FS].sel, 0);
    th_destroy(&t);
    PM_RUN(&t, expdown);                 /* expand-down: 0x2000 ok, 0xffc is below the limit */
    expect_exc(&t, EXC_GP, 0, TH_CODE + 12);
    /* the accessed bit was set in the descriptor */
    assert_true(th_peek(&t, SYS_GDT + SEL_EXPDN + 5, 1) & 1);
    th_destroy(&t);
    PM_RUN(&t, rodata);                  /* read ok, write to read-only data: #GP(0) */
    expect_exc(&t, EXC_GP, 0, TH_CODE + 11);
    th_destroy(&t);
}

/* Calls seg_lin() directly; returns the vector it raised, or -1. */
static int try_seg_lin(struct th *t, int seg, uint64_t off, unsigned size, int acc, uint32_t *err)
{
    jmp_buf jb;
    t->cpu.jmp = &jb;
    if (setjmp(jb)) {
        *err = t->cpu.exc_err;
        return t->cpu.exc_vec;
    }
    (void)seg_lin(&t->cpu, seg, off, size, acc);
    return -1;
}

static void test_seg_lin_checks(void **st)
{
    (void)st;
    struct th t;
    uint32_t err = 99;
    sys_pm32_init(&t);
    sys_load(&t, S_SS, SEL_EXPDN);       /* 16-bit expand-down: 0x1000..0xffff */
    assert_int_equal(try_seg_lin(&t, S_SS, 0x1c, 4, ACC_W, &err), EXC_SS);
    assert_int_equal(err, 0);
    assert_int_equal(try_seg_lin(&t, S_SS, 0x1000, 4, ACC_W, &err), -1);
    assert_int_equal(try_seg_lin(&t, S_SS, 0xfffe, 4, ACC_W, &err), EXC_SS);   /* beyond 0xffff */
    sys_load(&t, S_DS, SEL_DATA0);
    t.cpu.s.seg[S_DS].limit = 0xfff;
    assert_int_equal(try_seg_lin(&t, S_DS, 0xffc, 4, ACC_R, &err), -1);
    assert_int_equal(try_seg_lin(&t, S_DS, 0xffd, 4, ACC_R, &err), EXC_GP);
    sys_load(&t, S_ES, SEL_XCODE);       /* execute-only code: no reads */
    assert_int_equal(try_seg_lin(&t, S_ES, 0, 1, ACC_R, &err), EXC_GP);
    sys_load(&t, S_ES, SEL_CODE0);       /* readable code: reads, no writes */
    assert_int_equal(try_seg_lin(&t, S_ES, 0, 1, ACC_R, &err), -1);
    assert_int_equal(try_seg_lin(&t, S_ES, 0, 1, ACC_W, &err), EXC_GP);
    th_destroy(&t);

    sys_lm64_init(&t);                   /* 64-bit: canonical checks, FS base */
    assert_int_equal(try_seg_lin(&t, S_DS, 0x0000800000000000ull, 1, ACC_R, &err), EXC_GP);
    assert_int_equal(try_seg_lin(&t, S_SS, 0xffff7fffffffffffull, 8, ACC_R, &err), EXC_SS);
    assert_int_equal(try_seg_lin(&t, S_DS, 0xffff800000000000ull, 1, ACC_R, &err), -1);
    t.cpu.s.seg[S_FS].base = 0x00007ffffffff000ull;
    assert_int_equal(try_seg_lin(&t, S_FS, 0x1000, 1, ACC_R, &err), EXC_GP);
    th_destroy(&t);
}

static void test_ring3_int_gate(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    sys_idt32(&t, 0x80, mkgate(SEL_CODE0, SYS_STUBS + 16 * 0x80, ST_INT32, 3, 0));
    t.cpu.s.rflags |= FL_IF;
    sys_run(&t, to_ring3_int, sizeof(to_ring3_int));
    assert_int_equal(sys_vec(&t), 0x80);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA0);          /* SS0:ESP0 from the TSS */
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 20);
    assert_int_equal(sys_stk(&t, 0, 4), TH_CODE + 23);            /* EIP after INT */
    assert_int_equal(sys_stk(&t, 1, 4), SEL_CODE3);
    assert_true(sys_stk(&t, 2, 4) & FL_IF);
    assert_int_equal(sys_stk(&t, 3, 4), SYS_STACK3);
    assert_int_equal(sys_stk(&t, 4, 4), SEL_DATA3);
    assert_false(t.cpu.s.rflags & FL_IF);                         /* interrupt gate */
    assert_int_equal(t.cpu.s.regs[R_AX], 0x1234);
    /* IRET to ring 3 nulled DS/ES/FS/GS (DPL 0 < CPL 3) */
    assert_int_equal(t.cpu.s.seg[S_DS].sel, 0);
    assert_int_equal(t.cpu.s.seg[S_ES].sel, 0);
    th_destroy(&t);
}

static void test_ring3_int_dpl_check(void **st)
{
    (void)st;
    struct th t;
    PM_RUN(&t, ring3_int_dpl);           /* INT 0x81 through a DPL 0 gate: #GP(0x81*8+2) */
    expect_exc(&t, EXC_GP, 0x81 * 8 + 2, TH_CODE + 16);
    assert_int_equal(sys_stk(&t, 2, 4), SEL_CODE3);
    th_destroy(&t);
}

static void test_call_gate(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_poke(&t, SYS_GATE_TARGET, gate_target, sizeof(gate_target));
    sys_run(&t, ring3_callgate, sizeof(ring3_callgate));
    assert_int_equal(t.cpu.s.rip, SYS_GATE_TARGET + 1);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CODE0);
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 24);
    assert_int_equal(sys_stk(&t, 0, 4), TH_CODE + 33);     /* return EIP */
    assert_int_equal(sys_stk(&t, 1, 4), SEL_CODE3);
    assert_int_equal(sys_stk(&t, 2, 4), 0x22222222);       /* parameters, same order */
    assert_int_equal(sys_stk(&t, 3, 4), 0x11111111);
    assert_int_equal(sys_stk(&t, 4, 4), SYS_STACK3 - 8);
    assert_int_equal(sys_stk(&t, 5, 4), SEL_DATA3);
    sys_resume(&t);                      /* RETF 8 back to ring 3 */
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.seg[S_SS].sel, SEL_DATA3);
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK3);
    assert_int_equal(t.cpu.s.regs[R_BX], 0x99);
    th_destroy(&t);
}

static void setup_task2(struct th *t)
{
    th_poke(t, 0x5100, task2_code, sizeof(task2_code));
    sys_put32(t, SYS_TSS2 + 0x20, 0x5100);      /* EIP */
    sys_put32(t, SYS_TSS2 + 0x24, 0x2);         /* EFLAGS */
    sys_put32(t, SYS_TSS2 + 0x38, 0x6000);      /* ESP */
    sys_put16(t, SYS_TSS2 + 0x48, SEL_DATA0);   /* ES */
    sys_put16(t, SYS_TSS2 + 0x4c, SEL_CODE0);   /* CS */
    sys_put16(t, SYS_TSS2 + 0x50, SEL_DATA0);   /* SS */
    sys_put16(t, SYS_TSS2 + 0x54, SEL_DATA0);   /* DS */
    t->cpu.s.regs[R_CX] = 0x1111;
}

static void test_task_call_iret(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    setup_task2(&t);
    th_run_ok(&t, task_call, sizeof(task_call));
    assert_int_equal(t.cpu.s.regs[R_BX], 0x5555);
    assert_int_equal(t.cpu.s.regs[R_CX], 0x1111);              /* restored from the old TSS */
    assert_int_equal(t.cpu.s.seg[S_TR].sel, SEL_TSS);
    assert_int_equal(th_peek(&t, SYS_TSS2, 2), SEL_TSS);        /* back link */
    assert_int_equal(th_peek(&t, SYS_TSS2 + 0x2c, 4), 0x77);    /* task 2's ECX saved */
    assert_int_equal(th_peek(&t, SYS_TSS2 + 0x24, 4) & FL_NT, 0); /* IRET clears NT in the image */
    assert_int_equal(th_peek(&t, SYS_GDT + SEL_TSS2 + 5, 1) & 0xf, ST_TSS32);  /* not busy */
    assert_int_equal(th_peek(&t, SYS_GDT + SEL_TSS + 5, 1) & 0xf, ST_TSS32_BUSY);
    assert_int_equal(th_peek(&t, SYS_TSS + 0x20, 4), TH_CODE + 7); /* old EIP */
    assert_true(t.cpu.s.cr0 & CR0_TS);
    assert_false(cpu_get_rflags(&t.cpu) & FL_NT);
    th_destroy(&t);
}

/* The same round trip through a 16-bit TSS (SDM Vol. 3A 7.6). */
static void test_task16_call_iret(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    th_poke(&t, 0x5100, task2_code, sizeof(task2_code));
    sys_gdt(&t, SEL_TSS2, mkdesc(SYS_TSS2, 0x2b, SEGA_P | ST_TSS16));
    sys_put16(&t, SYS_TSS2 + 0x0e, 0x5100);     /* IP */
    sys_put16(&t, SYS_TSS2 + 0x10, 0x2);        /* FLAGS */
    sys_put16(&t, SYS_TSS2 + 0x1a, 0x6000);     /* SP */
    sys_put16(&t, SYS_TSS2 + 0x22, SEL_DATA0);  /* ES */
    sys_put16(&t, SYS_TSS2 + 0x24, SEL_CODE0);  /* CS */
    sys_put16(&t, SYS_TSS2 + 0x26, SEL_DATA0);  /* SS */
    sys_put16(&t, SYS_TSS2 + 0x28, SEL_DATA0);  /* DS */
    t.cpu.s.regs[R_CX] = 0x1111;
    th_run_ok(&t, task_call, sizeof(task_call));
    assert_int_equal(t.cpu.s.regs[R_BX], 0x5555);
    assert_int_equal(t.cpu.s.regs[R_CX], 0x1111);
    assert_int_equal(t.cpu.s.seg[S_TR].sel, SEL_TSS);
    assert_int_equal(th_peek(&t, SYS_TSS2, 2), SEL_TSS);        /* back link */
    assert_int_equal(th_peek(&t, SYS_TSS2 + 0x14, 2), 0x77);    /* CX saved in 16 bits */
    assert_int_equal(th_peek(&t, SYS_GDT + SEL_TSS2 + 5, 1) & 0xf, ST_TSS16);
    assert_false(cpu_get_rflags(&t.cpu) & FL_NT);
    th_destroy(&t);
}

static void test_task_gate_int(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    setup_task2(&t);
    sys_idt32(&t, 0x90, mkgate(SEL_TSS2, 0, ST_TASK, 0, 0));
    th_run_ok(&t, task_int, sizeof(task_int));
    assert_int_equal(t.cpu.s.regs[R_BX], 0x6666);
    assert_int_equal(t.cpu.s.seg[S_TR].sel, SEL_TSS);
    th_destroy(&t);
}

static void test_task_jmp_trap(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    setup_task2(&t);
    sys_put16(&t, SYS_TSS2 + 0x64, 1);  /* T: debug trap on entry */
    static const uint8_t jmp_tss2[] = { 0xea, 0, 0, 0, 0, 0x50, 0 };   /* jmp 0x50:0 */
    sys_run(&t, jmp_tss2, sizeof(jmp_tss2));
    assert_int_equal(sys_vec(&t), EXC_DB);
    assert_int_equal(t.cpu.s.seg[S_TR].sel, SEL_TSS2);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x6000 - 12);       /* the new task's stack */
    assert_int_equal(sys_stk(&t, 0, 4), 0x5100);             /* before its first instruction */
    assert_true(t.cpu.s.dr[6] & (1u << 15));                 /* DR6.BT */
    /* JMP: the old TSS is no longer busy, no back link, NT clear */
    assert_int_equal(th_peek(&t, SYS_GDT + SEL_TSS + 5, 1) & 0xf, ST_TSS32);
    assert_int_equal(th_peek(&t, SYS_TSS2, 2), 0);
    assert_false(sys_stk(&t, 2, 4) & FL_NT);
    th_destroy(&t);
}

#define SEL_CONF0 0xa0      /* conforming code, DPL 0 */
#define SEL_CODE_NP 0xa8    /* code, not present */

/* Far JMP checks (SDM Vol. 2 JMP, Vol. 3A 5.8.1): each target selector and
 * the vector and error code it must raise at CPL 0, or -1 for none. */
static void test_far_jmp_checks(void **st)
{
    (void)st;
    static const struct { uint16_t sel; uint32_t off; int vec; uint32_t err; } cases[] = {
        { 0x0000, 0x1000, EXC_GP, 0 },               /* null selector */
        { SEL_NP, 0x1000, EXC_GP, SEL_NP },          /* data segment */
        { SEL_CODE3, 0x1000, EXC_GP, SEL_CODE3 & ~3u },  /* non-conforming, DPL != CPL */
        { SEL_CODE_NP, 0x1000, EXC_NP, SEL_CODE_NP },
        { SEL_CODE16, 0x12345, EXC_GP, 0 },          /* beyond the 64 KiB limit */
        { SEL_CGATE, 0, -1, 0 },                     /* call gate: JMP to non-conforming DPL 0 ok */
        { SEL_CONF0, 0x5000, -1, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct th t;
        sys_pm32_init(&t);
        sys_gdt(&t, SEL_CONF0, mkdesc(0, 0xfffff, A_CODE32 | 0x4));
        sys_gdt(&t, SEL_CODE_NP, mkdesc(0, 0xfffff, A_CODE32 & ~SEGA_P));
        t.cpu.s.gdtr.limit = 0xaf;
        static const uint8_t hlt = 0xf4;
        th_poke(&t, SYS_GATE_TARGET, &hlt, 1);
        uint8_t code[7] = { 0xea };
        memcpy(code + 1, &cases[i].off, 4);
        memcpy(code + 5, &cases[i].sel, 2);
        sys_run(&t, code, sizeof(code));
        if (cases[i].vec < 0) {
            assert_int_equal(t.cpu.s.rip, SYS_GATE_TARGET + 1);
            assert_int_equal(t.cpu.s.seg[S_CS].sel & 3, 0);
        } else {
            expect_exc(&t, cases[i].vec, cases[i].err, TH_CODE);
        }
        th_destroy(&t);
    }
}

/* A conforming code segment runs at the caller's CPL (SDM Vol. 3A 5.8.1.2). */
static void test_conforming_keeps_cpl(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    sys_gdt(&t, SEL_CONF0, mkdesc(0, 0xfffff, A_CODE32 | 0x4));
    sys_run(&t, ring3_conf, sizeof(ring3_conf));
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.seg[S_CS].sel, SEL_CONF0 | 3);
    assert_int_equal(th_reg(&t, R_BX), 0x5a);
    th_destroy(&t);
}

static void test_task_busy(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    /* a far call to the busy current TSS: #GP(sel) */
    static const uint8_t call_busy[] = { 0x9a, 0, 0, 0, 0, 0x28, 0 };   /* call 0x28:0 */
    sys_run(&t, call_busy, sizeof(call_busy));
    expect_exc(&t, EXC_GP, SEL_TSS, TH_CODE);
    th_destroy(&t);
}

static void test_io_bitmap(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    uint8_t deny61 = 1u << (0x61 & 7);
    th_poke(&t, SYS_TSS + SYS_IOMAP + 0x61 / 8, &deny61, 1);
    sys_run(&t, ring3_io, sizeof(ring3_io));
    expect_exc(&t, EXC_GP, 0, TH_CODE + 19);
    assert_int_equal(t.io_last_port, 0x60);    /* the IN went through */
    assert_int_equal(t.io_count, 1);
    th_destroy(&t);
}

static void test_v86_int_iopl(void **st)
{
    (void)st;
    struct th t;
    PM_RUN(&t, v86_int_gp);              /* INT n in V86 with IOPL < 3: #GP(0) */
    expect_exc(&t, EXC_GP, 0, TH_CODE + 0x1c);
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 40);
    assert_int_equal(sys_stk(&t, 2, 4), 0);                      /* CS */
    assert_true(sys_stk(&t, 3, 4) & FL_VM);
    assert_int_equal(sys_stk(&t, 4, 4), 0x7000);
    assert_false(cpu_get_rflags(&t.cpu) & FL_VM);
    assert_int_equal(t.cpu.s.seg[S_DS].sel, 0);
    assert_false(t.cpu.s.seg[S_DS].attr & SEGA_P);
    th_destroy(&t);

    sys_pm32_init(&t);
    sys_idt32(&t, 0x21, mkgate(SEL_CODE0, SYS_STUBS + 16 * 0x21, ST_INT32, 3, 0));
    sys_run(&t, v86_int_iopl3, sizeof(v86_int_iopl3));
    assert_int_equal(sys_vec(&t), 0x21);
    assert_int_equal(sys_stk(&t, 0, 4), TH_CODE + 0x1e);        /* after INT */
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 36);
    /* IRETD from ring 0 back to V86 mode */
    static const uint8_t iretd = 0xcf;
    th_poke(&t, SYS_STUBS + 16 * 0x21 + 1, &iretd, 1);
    sys_resume(&t);
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_true(cpu_v86(&t.cpu));
    assert_int_equal(t.cpu.s.cpl, 3);
    assert_int_equal(t.cpu.s.regs[R_SP], 0x7000);
    assert_int_equal(t.cpu.s.seg[S_DS].base, 0);
    assert_int_equal(t.cpu.s.seg[S_SS].limit, 0xffff);
    th_destroy(&t);
}

/* VME: an INT n whose redirection bit is clear goes to the V86 program's own
 * IVT, with IF = VIF and IOPL = 3 in the pushed FLAGS (SDM Vol. 3A 20.3.3). */
static void test_v86_vme_redirect(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    t.cpu.s.cr4 |= CR4_VME;
    uint8_t zero[16] = { 0 };   /* vectors 0-0x7f; bytes 0x66-0x67 hold the map base */
    th_poke(&t, SYS_TSS + SYS_IOMAP - 32, zero, sizeof(zero));
    uint32_t ivt = 0x2000;               /* 0000:2000 */
    th_poke(&t, 4 * 0x21, &ivt, 4);
    static const uint8_t spin[] = { 0xeb, 0xfe };
    th_poke(&t, 0x2000, spin, 2);
    sys_run(&t, v86_vme_int, sizeof(v86_vme_int));
    assert_int_equal(t.cpu.s.rip, 0x2000);
    assert_true(cpu_v86(&t.cpu));
    assert_int_equal(t.cpu.s.regs[R_SP], 0x7000 - 6);
    assert_int_equal(th_peek(&t, 0x7000 - 6, 2), TH_CODE + 0x1e);   /* IP after INT */
    assert_int_equal(th_peek(&t, 0x7000 - 4, 2), 0);                /* CS */
    assert_int_equal(th_peek(&t, 0x7000 - 2, 2), FL_1 | FL_IOPL);   /* IF = VIF = 0 */
    assert_true(t.cpu.s.rflags & FL_IF);                            /* the real IF stays */
    th_destroy(&t);
}

static void test_exc_frame_rf(void **st)
{
    (void)st;
    struct th t;
    PM_RUN(&t, ud2);
    expect_exc(&t, EXC_UD, -1, TH_CODE);
    assert_true(sys_stk(&t, 2, 4) & FL_RF);    /* faults push RF = 1 */
    assert_int_equal(sys_stk(&t, 1, 4), SEL_CODE0);
    th_destroy(&t);
}

static void test_idt_limit(void **st)
{
    (void)st;
    struct th t;
    sys_pm32_init(&t);
    t.cpu.s.idtr.limit = 0x80 * 8 - 1;   /* vector 0x80 outside: #GP(0x80*8+2) */
    static const uint8_t int80[] = { 0xcd, 0x80 };
    sys_run(&t, int80, sizeof(int80));
    expect_exc(&t, EXC_GP, 0x80 * 8 + 2, TH_CODE);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seg_load_faults),
        cmocka_unit_test(test_seg_use_faults),
        cmocka_unit_test(test_seg_lin_checks),
        cmocka_unit_test(test_ring3_int_gate),
        cmocka_unit_test(test_ring3_int_dpl_check),
        cmocka_unit_test(test_call_gate),
        cmocka_unit_test(test_task_call_iret),
        cmocka_unit_test(test_task16_call_iret),
        cmocka_unit_test(test_task_gate_int),
        cmocka_unit_test(test_task_jmp_trap),
        cmocka_unit_test(test_task_busy),
        cmocka_unit_test(test_far_jmp_checks),
        cmocka_unit_test(test_conforming_keeps_cpl),
        cmocka_unit_test(test_io_bitmap),
        cmocka_unit_test(test_v86_int_iopl),
        cmocka_unit_test(test_v86_vme_redirect),
        cmocka_unit_test(test_exc_frame_rf),
        cmocka_unit_test(test_idt_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
