/* The execution loop: self-modifying code, the block cache, the interrupt
 * shadow, NMI blocking, budgets and the triple fault (SDM Vol. 3A 6.7.1,
 * 6.8.3, 6.15 and 11.6). */
#include "cpu_test_harness.h"

static int ack_vector = -1;
static int test_intr_ack(void *opaque)
{
    (void)opaque;
    return ack_vector;
}

/* A store into the next instruction of the same block is seen at once
 * (SDM Vol. 3A 11.6: self-modifying code). */
static void test_smc_same_block(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_REAL);
    const uint8_t code[] = {
        0xc6, 0x06, 0x06, 0x10, 0x42,  /* mov byte [0x1006], 0x42  (imm of the next insn) */
        0xb0, 0x00,                    /* 0x1005: mov al, 0x00 -> becomes mov al, 0x42 */
    };
    th_run_ok(&t, code, sizeof(code));
    assert_int_equal(t.cpu.s.regs[R_AX] & 0xff, 0x42);
    th_destroy(&t);
}

/* Code that ran once (and sits in the cache) is replaced by a guest store. */
static void test_smc_cached_block(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_REAL);
    const uint8_t code[] = { 0xb8, 0x11, 0x11 };   /* mov ax, 0x1111 */
    th_run_ok(&t, code, sizeof(code));
    assert_int_equal(t.cpu.s.regs[R_AX] & 0xffff, 0x1111);
    /* Patch the immediate with a guest store, then run the old code again. */
    const uint8_t patch[] = {
        0xc7, 0x06, 0x01, 0x10, 0x22, 0x22,        /* 0x1000+: mov word [0x1001], 0x2222 */
    };
    th_poke(&t, TH_CODE + 0x100, patch, sizeof(patch));
    th_poke(&t, TH_CODE + 0x100 + sizeof(patch), (const uint8_t[]){ 0xeb, 0xfe }, 2);
    t.cpu.s.rip = TH_CODE + 0x100;
    t.cpu.breakpoints[0] = TH_CODE + 0x100 + sizeof(patch);
    t.cpu.n_breakpoints = 1;
    cpu_run(&t.cpu, 1000);
    t.cpu.n_breakpoints = 0;
    t.cpu.s.rip = TH_CODE;
    cpu_run(&t.cpu, 2);
    assert_int_equal(t.cpu.s.regs[R_AX] & 0xffff, 0x2222);
    th_destroy(&t);
}

/* STI: the interrupt comes after exactly one more instruction. */
static void test_sti_shadow(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_REAL);
    t.cpu.bus.intr_ack = test_intr_ack;
    ack_vector = 5;
    atomic_store(&t.cpu.intr_line, 1);
    const uint8_t code[] = {
        0xfb,              /* sti */
        0xb8, 0x01, 0x00,  /* mov ax, 1 */
        0xbb, 0x02, 0x00,  /* mov bx, 2 */
        0xfa,              /* cli */
    };
    t.cpu.s.regs[R_AX] = t.cpu.s.regs[R_BX] = 0;
    th_run(&t, code, sizeof(code));
    /* Vector 5's IVT entry leads to its stub at TH_VEC + 4 * 5. */
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * 5);
    assert_int_equal(t.cpu.s.regs[R_AX] & 0xffff, 1);
    assert_int_equal(t.cpu.s.regs[R_BX] & 0xffff, 0);
    /* The pushed return address is the MOV BX. */
    uint64_t sp = t.cpu.s.regs[R_SP] & 0xffff;
    assert_int_equal(th_peek(&t, sp, 2), TH_CODE + 4);
    th_destroy(&t);
}

/* An NMI blocks further NMIs until IRET (SDM Vol. 3A 6.7.1). */
static void test_nmi_blocking(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_REAL);
    const uint8_t code[] = { 0x90, 0x90 };   /* nop; nop */
    const uint8_t iret = 0xcf;
    th_poke(&t, TH_CODE, code, sizeof(code));
    th_poke(&t, TH_CODE + 0x800, &iret, 1);
    t.cpu.s.rip = TH_CODE;
    atomic_store(&t.cpu.nmi_pending, 1);
    cpu_run(&t.cpu, 1);                      /* NMI taken, its stub spins */
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_NMI);
    assert_true(t.cpu.s.nmi_blocked);
    atomic_store(&t.cpu.nmi_pending, 1);
    cpu_run(&t.cpu, 5);                      /* blocked: the second one waits */
    assert_int_equal(atomic_load(&t.cpu.nmi_pending), 1);
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_NMI);
    t.cpu.s.rip = TH_CODE + 0x800;           /* the handler's IRET */
    cpu_run(&t.cpu, 1);
    assert_false(t.cpu.s.nmi_blocked);
    assert_int_equal(t.cpu.s.rip, TH_CODE);
    cpu_run(&t.cpu, 1);                      /* and now the second NMI */
    assert_int_equal(atomic_load(&t.cpu.nmi_pending), 0);
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_NMI);
    th_destroy(&t);
}

/* A block decoded under one CS limit is not run past a lower one: the
 * instruction beyond the limit faults (#GP(0), SDM Vol. 3A 5.3). */
static void test_cs_limit_on_cached_block(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_PM32);
    const uint8_t code[] = { 0x90, 0x90, 0xb8, 0x01, 0x00, 0x00, 0x00 };  /* nop; nop; mov eax, 1 */
    th_run_ok(&t, code, sizeof(code));                  /* cached with the 4 GiB limit */
    t.cpu.s.seg[S_CS].limit = TH_CODE + 2;              /* the MOV is now outside */
    t.cpu.s.regs[R_AX] = 0;
    t.cpu.s.rip = TH_CODE;
    cpu_run(&t.cpu, 3);
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_GP);
    assert_int_equal(t.cpu.s.regs[R_AX], 0);
    th_destroy(&t);
}

/* DR7 fields (SDM Vol. 3A 17.2.4) for breakpoint n. */
#define DR7_L(n) (1u << (2 * (n)))
#define DR7_RWLEN(n, rw, len) (((uint64_t)(rw) | ((uint64_t)(len) << 2)) << (16 + 4 * (n)))

/* An instruction breakpoint is a fault before the instruction; the frame
 * has RF set, so after IRET the instruction runs (SDM Vol. 3A 17.3.1.1). */
static void test_dr_instruction_breakpoint(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_PM32);
    const uint8_t code[] = { 0x90, 0x90, 0xb8, 0x01, 0x00, 0x00, 0x00 };  /* nop; nop; mov eax, 1 */
    t.cpu.s.dr[0] = TH_CODE + 1;
    t.cpu.s.dr[7] = 0x400 | DR7_L(0);
    dr_update(&t.cpu);
    t.cpu.s.regs[R_AX] = 0;
    th_run(&t, code, sizeof(code));
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_DB);
    assert_int_equal(t.cpu.s.dr[6] & 0xf, 1);
    uint64_t sp = t.cpu.s.regs[R_SP];
    assert_int_equal(th_peek(&t, sp, 4), TH_CODE + 1);          /* EIP: the instruction */
    assert_true(th_peek(&t, sp + 8, 4) & FL_RF);                 /* EFLAGS image */
    assert_int_equal(t.cpu.s.regs[R_AX], 0);
    /* IRET back: RF lets the breakpointed NOP run, then the rest. */
    const uint8_t iret = 0xcf;
    th_poke(&t, TH_DATA, &iret, 1);
    t.cpu.s.rip = TH_DATA;
    t.cpu.breakpoints[0] = t.end;
    t.cpu.n_breakpoints = 1;
    cpu_run(&t.cpu, 100);
    assert_int_equal(t.cpu.s.rip, t.end);
    assert_int_equal(t.cpu.s.regs[R_AX], 1);
    th_destroy(&t);
}

/* A data breakpoint is a trap after the access; R/W = 01b ignores reads. */
static void test_dr_data_breakpoint(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_PM32);
    const uint8_t code[] = {
        0xa1, 0x00, 0x00, 0x01, 0x00,                               /* mov eax, [TH_DATA]: a read */
        0xc7, 0x05, 0x02, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, /* mov dword [TH_DATA+2], 5 */
        0x90,                                                       /* nop */
    };
    t.cpu.s.dr[1] = TH_DATA;
    t.cpu.s.dr[7] = 0x400 | DR7_L(1) | DR7_RWLEN(1, 1, 3);   /* write, 4 bytes */
    dr_update(&t.cpu);
    th_run(&t, code, sizeof(code));
    assert_int_equal(t.cpu.s.rip, TH_VEC + 4 * EXC_DB);
    assert_int_equal(t.cpu.s.dr[6] & 0xf, 2);
    assert_int_equal(th_peek(&t, t.cpu.s.regs[R_SP], 4), TH_CODE + 15);  /* after the store */
    assert_int_equal(th_peek(&t, TH_DATA + 2, 4), 5);
    th_destroy(&t);
}

/* A budget ends the run between blocks. */
static void test_budget(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_REAL);
    const uint8_t loop[] = { 0xeb, 0xfe };   /* jmp $ */
    th_poke(&t, TH_CODE, loop, sizeof(loop));
    t.cpu.s.rip = TH_CODE;
    uint64_t before = t.cpu.insn_count;
    assert_int_equal(cpu_run(&t.cpu, 500), CPU_EXIT_BUDGET);
    assert_true(t.cpu.insn_count - before >= 500);
    assert_true(t.cpu.insn_count - before < 600);
    th_destroy(&t);
}

/* A fault while delivering a double fault shuts the CPU down: the machine
 * must reset (SDM Vol. 3A 6.15, interrupt 8). */
static void test_triple_fault(void **state)
{
    (void)state;
    struct th t;
    th_init(&t, TH_PM32);
    t.cpu.s.idtr.limit = 0;   /* every vector is outside the IDT: #GP, #DF, shutdown */
    const uint8_t code[] = { 0x0f, 0x0b };   /* ud2 */
    th_poke(&t, TH_CODE, code, sizeof(code));
    t.cpu.s.rip = TH_CODE;
    assert_int_equal(cpu_run(&t.cpu, 100), CPU_EXIT_RESET);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smc_same_block),
        cmocka_unit_test(test_smc_cached_block),
        cmocka_unit_test(test_sti_shadow),
        cmocka_unit_test(test_nmi_blocking),
        cmocka_unit_test(test_cs_limit_on_cached_block),
        cmocka_unit_test(test_dr_instruction_breakpoint),
        cmocka_unit_test(test_dr_data_breakpoint),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_triple_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
