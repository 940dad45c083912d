/* Superblocks and in-block loops (exec.c, fast_ops.h): a taken branch to a
 * record of its own block runs on there, a JMP within the page continues
 * the block. Counts, budgets, self-modifying code, faults and requests from
 * other threads must be exactly as if every branch left its block. The
 * oracle for counts is the same code run with a breakpoint armed elsewhere,
 * which turns the in-block loops off. A CMP or TEST fused with its Jcc
 * must branch and leave the flags as the host CPU does. */
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

/* Runs a loop that ends in HLT with and without in-block loops: the same
 * count both ways, `want` in all, ECX `cx` at the end. */
static void check_loop_count(const uint8_t *code, size_t n, uint64_t cx, uint64_t want)
{
    struct th t;
    enum cpu_exit why;
    uint64_t plain = run64(&t, code, n, false, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    th_destroy(&t);
    uint64_t looped = run64(&t, code, n, true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_CX), cx);
    assert_int_equal(looped, plain);
    assert_int_equal(looped, want);
    th_destroy(&t);
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
    check_loop_count(code, sizeof(code), 0, 1 + 2 * 1000 + 1);
}

/* Blocks run on into the next without cpu_run (block_leave) after a CALL,
 * a RET and a JMP through a register, counted exactly; the block reached
 * that way starts afresh: its not-taken JO (whose condition after DEC
 * takes the slow form) falls through, whatever the indirect JMP before it
 * asked of the block it left. */
static void test_chain(void **state)
{
    (void)state;
    static const uint8_t calls[] = {
        0xb9, 0x64, 0x00, 0x00, 0x00,  /* 0: mov ecx, 100 */
        0xe8, 0x06, 0x00, 0x00, 0x00,  /* 5: L: call F */
        0xff, 0xc9,                    /* 10: dec ecx */
        0x75, 0xf7,                    /* 12: jnz L */
        0xf4,                          /* 14: hlt */
        0x90,                          /* 15: nop */
        0xff, 0xc3,                    /* 16: F: inc ebx */
        0xc3,                          /* 18: ret */
    };
    check_loop_count(calls, sizeof(calls), 0, 1 + 5 * 100 + 1);
    static const uint8_t jumps[] = {
        0xba, 0x03, 0x00, 0x00, 0x00,              /* 0: mov edx, 3 */
        0x48, 0x8d, 0x05, 0x09, 0x00, 0x00, 0x00,  /* 5: O: lea rax, [rip + 9] (L2) */
        0xb9, 0x01, 0x00, 0x00, 0x00,              /* 12: mov ecx, 1 */
        0xff, 0xe0,                                /* 17: jmp rax */
        0x0f, 0x0b,                                /* 19: ud2 (never run) */
        0xff, 0xc3,                                /* 21: L2: inc ebx */
        0xff, 0xc9,                                /* 23: dec ecx */
        0x70, 0xfa,                                /* 25: jo L2 (not taken; after DEC, its slow form) */
        0xff, 0xca,                                /* 27: dec edx */
        0x75, 0xe6,                                /* 29: jnz O */
        0xf4,                                      /* 31: hlt */
    };
    check_loop_count(jumps, sizeof(jumps), 0, 1 + 8 * 3 + 1);
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

/* --- CMP/TEST fused with the Jcc after it (exec.c fuse_with_jcc) -------- */

/* The flags the host computes for x - y (cmp) or x & y (test) at size. */
static uint64_t host_flags(bool test, unsigned size, uint64_t x, uint64_t y)
{
    uint64_t f;
#define HOST_FLAGS(insn, sfx, type)                                                         \
    __asm__(insn sfx " %2, %1\n\tpushfq\n\tpopq %0" : "=r"(f) : "r"((type)x), "r"((type)y) : "cc")
    switch (size * 2 + test) {
    case 2: HOST_FLAGS("cmp", "b", uint8_t); break;
    case 3: HOST_FLAGS("test", "b", uint8_t); break;
    case 8: HOST_FLAGS("cmp", "l", uint32_t); break;
    case 9: HOST_FLAGS("test", "l", uint32_t); break;
    case 16: HOST_FLAGS("cmp", "q", uint64_t); break;
    default: HOST_FLAGS("test", "q", uint64_t); break;
    }
#undef HOST_FLAGS
    return f;
}

/* Jcc condition cc on flags f (SDM Vol. 2 Jcc, table B-1). */
static bool cond_of(unsigned cc, uint64_t f)
{
    bool cf = f & 1, pf = f & 4, zf = f & 0x40, sf = f & 0x80, of = f & 0x800, r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
    }
    return (cc & 1) ? !r : r;
}

/* One flag-setting form: its bytes (rax holds x, rbx y, [rsi], [gs:rsi]
 * and the RIP-relative slot x), what it computes, and whether its second
 * operand is y's low byte as an imm8. */
struct flagger {
    const char *name;
    uint8_t code[4];
    unsigned len;
    bool test, imm8, swap;   /* swap: y - x */
    unsigned size;
    bool riprel;             /* a disp32 to x's slot follows the code */
};
static const struct flagger flaggers[] = {
    {"cmp rax, rbx", {0x48, 0x39, 0xd8}, 3, false, false, false, 8, false},
    {"cmp eax, ebx", {0x39, 0xd8}, 2, false, false, false, 4, false},
    {"cmp al, bl", {0x38, 0xd8}, 2, false, false, false, 1, false},
    {"cmp rbx, rax (3B)", {0x48, 0x3b, 0xd8}, 3, false, false, true, 8, false},
    {"cmp rax, imm8", {0x48, 0x83, 0xf8}, 3, false, true, false, 8, false},
    {"cmp dword [rsi], ebx", {0x39, 0x1e}, 2, false, false, false, 4, false},
    {"cmp rbx, [rsi]", {0x48, 0x3b, 0x1e}, 3, false, false, true, 8, false},
    {"cmp byte [rsi], imm8", {0x80, 0x3e}, 2, false, true, false, 1, false},
    {"test rax, rbx", {0x48, 0x85, 0xd8}, 3, true, false, false, 8, false},
    {"test eax, ebx", {0x85, 0xd8}, 2, true, false, false, 4, false},
    {"test byte [rsi], imm8", {0xf6, 0x06}, 2, true, true, false, 1, false},
    {"test [rsi], rbx", {0x48, 0x85, 0x1e}, 3, true, false, false, 8, false},
    {"cmp dword [rip], ebx", {0x39, 0x1d}, 2, false, false, false, 4, true},
    {"cmp rbx, [rip]", {0x48, 0x3b, 0x1d}, 3, false, false, true, 8, true},
    {"test byte [rip], imm8", {0xf6, 0x05}, 2, true, true, false, 1, true},
    {"cmp qword [gs:rsi], imm8", {0x65, 0x48, 0x83, 0x3e}, 4, false, true, false, 8, false},
};

#define CC_STRIDE 16   /* result bytes per condition: taken, flags */

/* For each of the 16 conditions: xor edx, edx; the flagger; Jcc over
 * "mov dl, 1"; pushfq; pop r8; store dl and r8 at rdi; rdi += 16. The
 * flagger and the Jcc are neighbours in one block: the fused record. */
static size_t emit_cases(uint8_t *c, const struct flagger *fl, uint64_t y)
{
    size_t n = 0;
    for (unsigned cc = 0; cc < 16; cc++) {
        static const uint8_t xor_edx[] = {0x31, 0xd2};
        static const uint8_t tail[] = {
            0xb2, 0x01,                    /* mov dl, 1 (not taken) */
            0x9c, 0x41, 0x58,              /* pushfq; pop r8 */
            0x88, 0x17,                    /* mov [rdi], dl */
            0x4c, 0x89, 0x47, 0x08,        /* mov [rdi+8], r8 */
            0x48, 0x83, 0xc7, CC_STRIDE,   /* add rdi, 16 */
        };
        memcpy(c + n, xor_edx, sizeof xor_edx);
        n += sizeof xor_edx;
        memcpy(c + n, fl->code, fl->len);
        n += fl->len;
        if (fl->riprel) {
            /* RIP-relative: from the end of the instruction to TH_DATA */
            int32_t d = (int32_t)(TH_DATA - (TH_CODE + n + 4 + (fl->imm8 ? 1 : 0)));
            memcpy(c + n, &d, 4);
            n += 4;
        }
        if (fl->imm8)
            c[n++] = (uint8_t)y;
        c[n++] = (uint8_t)(0x70 + cc);
        c[n++] = 2;
        memcpy(c + n, tail, sizeof tail);
        n += sizeof tail;
    }
    c[n++] = 0xf4;   /* hlt */
    return n;
}

/* Every condition after every fused form, on values around the signed and
 * unsigned boundaries, against the host: the branch taken or not, and the
 * flags left behind (AF aside after TEST, where it is undefined). */
static void test_cmp_jcc(void **state)
{
    (void)state;
    static const uint64_t vals[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000u, 0xffffffffu,
                                    0x8000000000000000ull, 0x7fffffffffffffffull, ~0ull, 0x123456789abcdef0ull};
    const unsigned nv = sizeof vals / sizeof vals[0];
    static uint8_t code[16 * 40 + 1];
    for (size_t k = 0; k < sizeof flaggers / sizeof flaggers[0]; k++) {
        const struct flagger *fl = &flaggers[k];
        for (unsigned i = 0; i < nv; i++) {
            for (unsigned j = 0; j < nv; j++) {
                uint64_t x = vals[i], y = vals[(i * 7 + j * 3) % nv] ^ (j & 1);
                if (fl->imm8)
                    y = (uint64_t)(int64_t)(int8_t)y;
                struct th t;
                th_init(&t, TH_LM64);
                size_t n = emit_cases(code, fl, y);
                th_poke(&t, TH_CODE, code, n);
                th_poke(&t, TH_DATA, &x, 8);
                th_poke(&t, TH_DATA + 0x2000, &x, 8);
                cpu_flush_all(&t.cpu);
                t.cpu.s.regs[R_AX] = x;
                t.cpu.s.regs[R_BX] = y;
                t.cpu.s.regs[R_SI] = TH_DATA;
                t.cpu.s.seg[S_GS].base = 0x2000;   /* [gs:rsi]: x's second copy */
                t.cpu.s.regs[R_DI] = TH_DATA + 0x100;
                assert_int_equal(cpu_run(&t.cpu, TH_BUDGET), CPU_EXIT_HALT);
                uint64_t want = fl->swap ? host_flags(fl->test, fl->size, y, x) : host_flags(fl->test, fl->size, x, y);
                uint64_t mask = 0x8d5 & ~(fl->test ? 0x10ull : 0);   /* OF SF ZF AF PF CF */
                for (unsigned cc = 0; cc < 16; cc++) {
                    uint64_t at = TH_DATA + 0x100 + cc * CC_STRIDE;
                    bool taken = th_peek(&t, at, 1) == 0;
                    uint64_t got = th_peek(&t, at + 8, 8);
                    if (taken != cond_of(cc, want) || (got & mask) != (want & mask))
                        fail_msg("%s, x=%#llx y=%#llx, j%x: taken %d flags %#llx, host %d %#llx", fl->name,
                                 (unsigned long long)x, (unsigned long long)y, cc, taken,
                                 (unsigned long long)got, cond_of(cc, want), (unsigned long long)want);
                }
                th_destroy(&t);
            }
        }
    }
}

/* An in-block loop closed by a fused CMP/JNE counts as unfused. */
static void test_cmp_jcc_loop(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0x31, 0xc9,                          /* xor ecx, ecx */
        0xff, 0xc1,                          /* L: inc ecx */
        0x81, 0xf9, 0xe8, 0x03, 0x00, 0x00,  /* cmp ecx, 1000 */
        0x75, 0xf6,                          /* jne L */
        0xf4,                                /* hlt */
    };
    check_loop_count(code, sizeof(code), 1000, 1 + 3 * 1000 + 1);
}

/* A block entered in an STI shadow runs one instruction (cpu_run): a fused
 * CMP runs alone, its Jcc after it, not taken and then taken. */
static void test_cmp_jcc_shadow(void **state)
{
    (void)state;
    static const uint8_t code[] = {
        0xb8, 0x01, 0x00, 0x00, 0x00,  /* mov eax, 1 */
        0xbb, 0x02, 0x00, 0x00, 0x00,  /* mov ebx, 2 */
        0x31, 0xd2,                    /* xor edx, edx */
        0x31, 0xc9,                    /* xor ecx, ecx */
        0xfb,                          /* sti (IF was 0: a shadow; ends its block) */
        0x39, 0xd8,                    /* cmp eax, ebx */
        0x74, 0x02,                    /* je +2: not taken */
        0xb2, 0x01,                    /* mov dl, 1 */
        0xfa,                          /* cli */
        0xfb,                          /* sti */
        0x39, 0xc0,                    /* cmp eax, eax */
        0x75, 0x02,                    /* jne +2: not taken */
        0xb1, 0x01,                    /* mov cl, 1 */
        0x39, 0xd8,                    /* cmp eax, ebx */
        0x75, 0x02,                    /* jne +2: taken */
        0xb1, 0x02,                    /* mov cl, 2 */
        0xf4,                          /* hlt */
    };
    struct th t;
    enum cpu_exit why;
    uint64_t n = run64(&t, code, sizeof(code), true, TH_BUDGET, &why);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(th_reg(&t, R_DX), 1);
    assert_int_equal(th_reg(&t, R_CX), 1);
    assert_int_equal(n, 16);
    th_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_count),       cmocka_unit_test(test_loop_budget),
        cmocka_unit_test(test_forward_and_jmp),  cmocka_unit_test(test_loop_smc),
        cmocka_unit_test(test_ret_noncanonical), cmocka_unit_test(test_loop_request),
        cmocka_unit_test(test_shadow_superblock_jmp), cmocka_unit_test(test_nops),
        cmocka_unit_test(test_cmp_jcc),          cmocka_unit_test(test_cmp_jcc_loop),
        cmocka_unit_test(test_cmp_jcc_shadow),   cmocka_unit_test(test_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
