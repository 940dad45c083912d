/* Superblocks and in-block loops (exec.c, fast_ops.h): a taken branch to a
 * record of its own block runs on there, a JMP within the page continues
 * the block. Counts, budgets, self-modifying code, faults and requests from
 * other threads must be exactly as if every branch left its block. The
 * oracle for counts is the same code run with a breakpoint armed elsewhere,
 * which turns the in-block loops off. */
#include <pthread.h>
#include <time.h>

#include "cpu_test_harness.h"

#define FAR_AWAY 0x7ff000u   /* a breakpoint address no test reaches */

/* Runs code (ending in HLT) in 64-bit mode; returns the instructions run. */
static uint64_t run64(struct th *t, const uint8_t *code, size_t n, bool loops, uint64_t budget,
                      enum cpu_exit *why)
{
    th_init(t, TH_LM64);
    th_poke(t, TH_CODE, code, n);
    cpu_flush_all(&t->cpu);
    t->cpu.n_breakpoints = loops ? 0 : 1;
    t->cpu.breakpoints[0] = FAR_AWAY;
    uint64_t start = t->cpu.insn_count;
    enum cpu_exit e = cpu_run(&t->cpu, budget);
    if (why)
        *why = e;
    return t->cpu.insn_count - start;
}

/* dec ecx / jnz back: counted exactly, with and without the loop. */
static void test_loop_count(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0xb9, 0xe8, 0x03, 0x00, 0x00,  /* mov ecx, 1000 */
        0xff, 0xc9,                    /* L: dec ecx */
        0x75, 0xfc,                    /* jnz L */
        0xf4,                          /* hlt */
    };
    struct th t;
    enum cpu_exit why;
    uint64_t plain = run64(&t, code, sizeof(code), false, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    th_destroy(&t);
    uint64_t looped = run64(&t, code, sizeof(code), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_CX), 0);
    assert_int_equal(looped, plain);
    assert_int_equal(looped, 1 + 2 * 1000 + 1);
    th_destroy(&t);
}

/* The budget ends an in-block loop at a block boundary, with the count
 * matching the registers. */
static void test_loop_budget(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0xb9, 0xe8, 0x03, 0x00, 0x00,  /* mov ecx, 1000 */
        0xff, 0xc9,                    /* L: dec ecx */
        0x75, 0xfc,                    /* jnz L */
        0xf4,                          /* hlt */
    };
    struct th t;
    enum cpu_exit why;
    uint64_t n = run64(&t, code, sizeof(code), true, 501, &why);
    assert_int_equal(why, CPU_EXIT_BUDGET);
    assert_true(n >= 501 && n <= 501 + 64);
    uint64_t k = 1000 - (th_reg(&t, R_CX) & 0xffffffff);
    assert_int_equal(n, 1 + 2 * k);
    assert_int_equal(t.cpu.s.rip, TH_CODE + 5);
    th_destroy(&t);
}

/* A forward Jcc inside the block and a JMP over junk that the superblock
 * follows. */
static void test_forward_and_jmp(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0x31, 0xc0,                    /* 0: xor eax, eax */
        0xb9, 0x64, 0x00, 0x00, 0x00,  /* 2: mov ecx, 100 */
        0xf6, 0xc1, 0x01,              /* 7: L: test cl, 1 */
        0x74, 0x02,                    /* 10: jz skip */
        0xff, 0xc0,                    /* 12: inc eax */
        0xeb, 0x02,                    /* 14: skip: jmp next */
        0x0f, 0x0b,                    /* 16: ud2 (never run) */
        0xff, 0xc9,                    /* 18: next: dec ecx */
        0x75, 0xf1,                    /* 20: jnz L */
        0xf4,                          /* 22: hlt */
    };
    struct th t;
    enum cpu_exit why;
    uint64_t plain = run64(&t, code, sizeof(code), false, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_AX), 50);
    th_destroy(&t);
    uint64_t looped = run64(&t, code, sizeof(code), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_AX), 50);
    assert_int_equal(looped, plain);
    assert_int_equal(t.cpu.s.rip, TH_CODE + 23);
    th_destroy(&t);
}

/* A loop that rewrites an immediate of its own body: the next iteration
 * runs the new bytes (SDM Vol. 3A 11.6). */
static void test_loop_smc(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0xb9, 0x03, 0x00, 0x00, 0x00,  /* 0: mov ecx, 3 */
        0x31, 0xdb,                    /* 5: xor ebx, ebx */
        0xb8, 0x01, 0x00, 0x00, 0x00,  /* 7: L: mov eax, 1 (imm at 8) */
        0x01, 0xc3,                    /* 12: add ebx, eax */
        0xc7, 0x05, 0xf0, 0xff, 0xff, 0xff,
        0x05, 0x00, 0x00, 0x00,        /* 14: mov dword [rip - 16], 5 (-> 8) */
        0xff, 0xc9,                    /* 24: dec ecx */
        0x75, 0xeb,                    /* 26: jnz L */
        0xf4,                          /* 28: hlt */
    };
    struct th t;
    enum cpu_exit why;
    run64(&t, code, sizeof(code), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_BX), 1 + 5 + 5);
    th_destroy(&t);
}

/* RET to a non-canonical address: #GP(0) at the RET, rSP not moved. */
static void test_ret_noncanonical(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x80,  /* mov rax, 0x8000000000000000 */
        0x50,                                  /* push rax */
        0xc3,                                  /* ret */
    };
    struct th t;
    run64(&t, code, sizeof(code), true, 1000, NULL);
    assert_int_equal(th_vector(&t), EXC_GP);
    uint64_t sp = th_reg(&t, R_SP);
    assert_int_equal(th_peek(&t, sp, 8), 0);                  /* error code */
    assert_int_equal(th_peek(&t, sp + 8, 8), TH_CODE + 11);   /* RIP: the RET */
    assert_int_equal(th_peek(&t, sp + 32, 8), TH_STACK - 8);  /* RSP */
    th_destroy(&t);
}

static void *request_later(void *arg)
{
    struct cpu *cpu = arg;
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    atomic_store(&cpu->exit_request, 1);
    return NULL;
}

/* `jmp $` loops inside its block, yet a request from another thread ends
 * the run. */
static void test_loop_request(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0xeb, 0xfe };   /* jmp $ */
    struct th t;
    th_init(&t, TH_LM64);
    th_poke(&t, TH_CODE, code, sizeof(code));
    cpu_flush_all(&t.cpu);
    pthread_t thr;
    assert_int_equal(pthread_create(&thr, NULL, request_later, &t.cpu), 0);
    enum cpu_exit why = cpu_run(&t.cpu, UINT64_C(1) << 50);
    pthread_join(thr, NULL);
    assert_int_equal(why, CPU_EXIT_REQUEST);
    assert_int_equal(t.cpu.s.rip, TH_CODE);
    th_destroy(&t);
}

/* After STI only one instruction runs before the next check: a block that
 * starts with a JMP the block went on at (a superblock) runs that JMP
 * alone, and RIP is its target, not the bytes after it. */
static void test_shadow_superblock_jmp(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0xfb,                          /* sti (ends its block) */
        0xeb, 0x02,                    /* jmp L (the next block goes on at L) */
        0x0f, 0x0b,                    /* ud2 */
        0xbb, 0x07, 0x00, 0x00, 0x00,  /* L: mov ebx, 7 */
        0xf4,                          /* hlt */
    };
    struct th t;
    enum cpu_exit why;
    uint64_t n = run64(&t, code, sizeof(code), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_BX), 7);
    assert_int_equal(n, 4);
    th_destroy(&t);
}

/* Multi-byte NOPs inside a block have no record of their own (exec.c):
 * they still count, an in-block loop across them counts them, a jump to
 * one runs from there, and a fault after them reports its own RIP. */
static void test_nops(void **state)
{
    (void)state;
    static const uint8_t loop[] = {
        0xb9, 0xe8, 0x03, 0x00, 0x00,              /* mov ecx, 1000 */
        0x0f, 0x1f, 0x00,                          /* L: nop dword [rax] */
        0xff, 0xc9,                                /* dec ecx */
        0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00,        /* nop word [rax + rax] */
        0x75, 0xf3,                                /* jnz L */
        0x0f, 0x1f, 0x40, 0x00,                    /* nop dword [rax + 0] */
        0xf4,                                      /* hlt */
    };
    struct th t;
    enum cpu_exit why;
    for (int loops = 0; loops < 2; loops++) {
        uint64_t n = run64(&t, loop, sizeof(loop), loops, TH_BUDGET, &why);
        assert_int_equal(why, CPU_EXIT_HALT);
        assert_int_equal(th_reg(&t, R_CX), 0);
        assert_int_equal(n, 1 + 4 * 1000 + 2);
        assert_int_equal(t.cpu.s.rip, TH_CODE + sizeof(loop));
        th_destroy(&t);
    }
    /* The loop again, back to the DEC this time (a record after a NOP). */
    static const uint8_t loop2[] = {
        0xb9, 0x64, 0x00, 0x00, 0x00,              /* mov ecx, 100 */
        0x0f, 0x1f, 0x00,                          /* nop dword [rax] */
        0xff, 0xc9,                                /* L: dec ecx */
        0x0f, 0x1f, 0x00,                          /* nop dword [rax] */
        0x0f, 0x1f, 0x00,                          /* nop dword [rax] */
        0x75, 0xf6,                                /* jnz L */
        0xf4,                                      /* hlt */
    };
    uint64_t n = run64(&t, loop2, sizeof(loop2), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(n, 2 + 4 * 100 + 1);
    th_destroy(&t);
    /* A budget that ends inside: the count still matches the registers. */
    n = run64(&t, loop2, sizeof(loop2), true, 203, &why);
    assert_int_equal(why, CPU_EXIT_BUDGET);
    uint64_t k = 100 - (th_reg(&t, R_CX) & 0xffffffff);
    assert_int_equal(n, 2 + 4 * k);
    th_destroy(&t);
    /* A function that starts with a NOP (its block's records start after
     * it), called twice. */
    static const uint8_t call[] = {
        0x31, 0xc0,                                /* xor eax, eax */
        0xe8, 0x06, 0x00, 0x00, 0x00,              /* call f */
        0xe8, 0x01, 0x00, 0x00, 0x00,              /* call f */
        0xf4,                                      /* hlt */
        0x0f, 0x1f, 0x44, 0x00, 0x00,              /* f: nop dword [rax + rax] */
        0xff, 0xc0,                                /* inc eax */
        0xc3,                                      /* ret */
    };
    n = run64(&t, call, sizeof(call), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_AX), 2);
    assert_int_equal(n, 1 + 2 * 4 + 1);
    th_destroy(&t);
    /* After STI one instruction runs alone: the NOP a block starts with. */
    static const uint8_t shadow[] = {
        0xfb,                                      /* sti (ends its block) */
        0x0f, 0x1f, 0x00,                          /* nop dword [rax] */
        0xbb, 0x07, 0x00, 0x00, 0x00,              /* mov ebx, 7 */
        0xf4,                                      /* hlt */
    };
    n = run64(&t, shadow, sizeof(shadow), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_BX), 7);
    assert_int_equal(n, 4);
    assert_int_equal(t.cpu.s.rip, TH_CODE + sizeof(shadow));
    th_destroy(&t);
    /* #GP after two NOPs: RIP is the faulting instruction's. */
    static const uint8_t fault[] = {
        0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x80,     /* mov rax, 0x8000000000000000 */
        0x0f, 0x1f, 0x00,                          /* nop dword [rax] */
        0x0f, 0x1f, 0x00,                          /* nop dword [rax] */
        0x48, 0x8b, 0x00,                          /* mov rax, [rax]: non-canonical */
    };
    run64(&t, fault, sizeof(fault), true, 1000, NULL);
    assert_int_equal(th_vector(&t), EXC_GP);
    assert_int_equal(th_peek(&t, th_reg(&t, R_SP) + 8, 8), TH_CODE + 16);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_count),       cmocka_unit_test(test_loop_budget),
        cmocka_unit_test(test_forward_and_jmp),  cmocka_unit_test(test_loop_smc),
        cmocka_unit_test(test_ret_noncanonical), cmocka_unit_test(test_loop_request),
        cmocka_unit_test(test_shadow_superblock_jmp), cmocka_unit_test(test_nops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
