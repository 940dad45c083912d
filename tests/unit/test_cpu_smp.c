/* Several vCPUs on one guest RAM, each on its own host thread: LOCK'd and
 * XCHG memory operations stay atomic (totals of shared counters after
 * millions of iterations), and code one vCPU patches reaches another that
 * is executing it within a bounded number of block boundaries. Also the
 * locked slow paths on one vCPU: a code page, MMIO, a fault on the second
 * page of a split operand. */
#include <pthread.h>

#include "cpu_test_harness.h"

#define NCPU 4
#define DATA 0x40000u        /* shared counters, page aligned */
#define CODE_MIXED 0x20000u
#define CODE_PATCH 0x21000u
#define CODE_MISC 0x22000u
#define CODE_EXEC 0x50000u   /* the page one vCPU executes and another patches */
#define MMIO_BASE 0x3000000u

/* counters.asm: the single-size atomics, looped r8 times. */
static const uint8_t code_counters[] = {
    0xf0, 0x48, 0x83, 0x07, 0x01,                   /* lock add qword [rdi], 1 */
    0xb8, 0x01, 0x00, 0x00, 0x00,                   /* mov eax, 1 */
    0xf0, 0x48, 0x0f, 0xc1, 0x47, 0x08,             /* lock xadd [rdi+8], rax */
    0x48, 0x8b, 0x47, 0x10,                         /* mov rax, [rdi+0x10] */
    0x48, 0x8d, 0x50, 0x01,                         /* .cas: lea rdx, [rax+1] */
    0xf0, 0x48, 0x0f, 0xb1, 0x57, 0x10,             /* lock cmpxchg [rdi+0x10], rdx */
    0x75, 0xf4,                                     /* jnz .cas */
    0xf0, 0xff, 0x47, 0x18,                         /* lock inc dword [rdi+0x18] */
    0xf0, 0x48, 0x83, 0xaf, 0x90, 0x00, 0x00, 0x00, 0x01, /* lock sub qword [rdi+0x90], 1 */
    0xf9,                                           /* stc */
    0xf0, 0x48, 0x83, 0x97, 0xb0, 0x00, 0x00, 0x00, 0x00, /* lock adc qword [rdi+0xb0], 0 */
    0xf9,                                           /* stc */
    0xf0, 0x48, 0x83, 0x9f, 0xb8, 0x00, 0x00, 0x00, 0x00, /* lock sbb qword [rdi+0xb8], 0 */
    0xf0, 0x48, 0x0f, 0xbb, 0xb7, 0xa0, 0x00, 0x00, 0x00, /* lock btc [rdi+0xa0], rsi */
    0xf0, 0x80, 0x8f, 0xc0, 0x00, 0x00, 0x00, 0x00, /* lock or byte [rdi+0xc0], 0 */
    0xf0, 0x80, 0xb7, 0xc8, 0x00, 0x00, 0x00, 0x01, /* lock xor byte [rdi+0xc8], 1 */
    0xf0, 0x80, 0xb7, 0xc8, 0x00, 0x00, 0x00, 0x01, /* lock xor byte [rdi+0xc8], 1 */
    0xf0, 0x48, 0xf7, 0x97, 0xd0, 0x00, 0x00, 0x00, /* lock not qword [rdi+0xd0] */
    0xf0, 0x48, 0xf7, 0x97, 0xd0, 0x00, 0x00, 0x00, /* lock not qword [rdi+0xd0] */
    0xf0, 0x48, 0xf7, 0x9f, 0xd8, 0x00, 0x00, 0x00, /* lock neg qword [rdi+0xd8] */
    0xf0, 0x48, 0xf7, 0x9f, 0xd8, 0x00, 0x00, 0x00, /* lock neg qword [rdi+0xd8] */
    0x49, 0xff, 0xc8,                               /* dec r8 */
    0x0f, 0x85, 0x75, 0xff, 0xff, 0xff,             /* jnz top */
    0xeb, 0xfe,                                     /* jmp $ */
};

/* mixed.asm: CMPXCHG16B/8B loops, operands split across words and pages,
 * misaligned ones inside a word, and an XCHG spinlock around a plain
 * increment. */
static const uint8_t code_mixed[] = {
    0x48, 0x8b, 0x47, 0x20,                         /* mov rax, [rdi+0x20] */
    0x48, 0x8b, 0x57, 0x28,                         /* mov rdx, [rdi+0x28] */
    0x48, 0x8d, 0x58, 0x01,                         /* .c16: lea rbx, [rax+1] */
    0x48, 0x8d, 0x4a, 0x01,                         /* lea rcx, [rdx+1] */
    0xf0, 0x48, 0x0f, 0xc7, 0x4f, 0x20,             /* lock cmpxchg16b [rdi+0x20] */
    0x75, 0xf0,                                     /* jnz .c16 */
    0x8b, 0x47, 0x30,                               /* mov eax, [rdi+0x30] */
    0x8b, 0x57, 0x34,                               /* mov edx, [rdi+0x34] */
    0x67, 0x8d, 0x58, 0x01,                         /* .c8: lea ebx, [eax+1] */
    0x67, 0x8d, 0x4a, 0x02,                         /* lea ecx, [edx+2] */
    0xf0, 0x0f, 0xc7, 0x4f, 0x30,                   /* lock cmpxchg8b [rdi+0x30] */
    0x75, 0xf1,                                     /* jnz .c8 */
    0xf0, 0x83, 0x47, 0x3e, 0x01,                   /* lock add dword [rdi+0x3e], 1 (two words) */
    0xf0, 0x66, 0xff, 0x47, 0x49,                   /* lock inc word [rdi+0x49] (inside a word) */
    0xf0, 0x83, 0x87, 0xfe, 0x0f, 0x00, 0x00, 0x01, /* lock add dword [rdi+0xffe], 1 (two pages) */
    0x66, 0xb8, 0x01, 0x00,                         /* mov ax, 1 */
    0xf0, 0x66, 0x0f, 0xc1, 0x47, 0x4d,             /* lock xadd [rdi+0x4d], ax */
    0xb8, 0x01, 0x00, 0x00, 0x00,                   /* .spin: mov eax, 1 */
    0x87, 0x87, 0x80, 0x00, 0x00, 0x00,             /* xchg [rdi+0x80], eax */
    0x85, 0xc0,                                     /* test eax, eax */
    0x75, 0xf1,                                     /* jnz .spin */
    0x48, 0xff, 0x87, 0x88, 0x00, 0x00, 0x00,       /* inc qword [rdi+0x88] */
    0xc7, 0x87, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* mov dword [rdi+0x80], 0 */
    0x49, 0xff, 0xc8,                               /* dec r8 */
    0x75, 0x92,                                     /* jnz top */
    0xeb, 0xfe,                                     /* jmp $ */
};

/* exec.asm, at CODE_EXEC: loops until the immediate at offset 1 is patched. */
static const uint8_t code_exec[] = {
    0xb8, 0x00, 0x00, 0x00, 0x00,                   /* top: mov eax, 0 (patched) */
    0x48, 0xff, 0x87, 0x00, 0x01, 0x00, 0x00,       /* inc qword [rdi+0x100] */
    0xc6, 0x87, 0x08, 0x01, 0x00, 0x00, 0x01,       /* mov byte [rdi+0x108], 1 */
    0x85, 0xc0,                                     /* test eax, eax */
    0x74, 0xe9,                                     /* jz top */
    0xeb, 0xfe,                                     /* jmp $ */
};
#define EXEC_LOOP_INSNS 5   /* instructions per iteration */
#define EXEC_IMM 1
#define EXEC_COUNT 0x100
#define EXEC_STARTED 0x108
#define PATCH_SNAP 0x110

/* patch.asm: waits until the executor runs, patches [rbx], then snapshots
 * the executor's iteration count. */
static const uint8_t code_patch[] = {
    0x80, 0xbf, 0x08, 0x01, 0x00, 0x00, 0x00,       /* .wait: cmp byte [rdi+0x108], 0 */
    0x74, 0xf7,                                     /* je .wait */
    0xc7, 0x03, 0x01, 0x00, 0x00, 0x00,             /* mov dword [rbx], 1 */
    0x48, 0x8b, 0x87, 0x00, 0x01, 0x00, 0x00,       /* mov rax, [rdi+0x100] */
    0x48, 0x89, 0x87, 0x10, 0x01, 0x00, 0x00,       /* mov [rdi+0x110], rax */
    0xeb, 0xfe,                                     /* jmp $ */
};

/* A write to the executor's page before it is code there: the patcher's
 * TLB then holds a write entry for it. */
static const uint8_t code_warm[] = {
    0xc6, 0x04, 0x25, 0x00, 0x08, 0x05, 0x00, 0x00, /* mov byte [CODE_EXEC + 0x800], 0 */
    0xeb, 0xfe,
};

struct runner {
    pthread_t thread;
    struct cpu *cpu;
    uint64_t end;         /* rip of the final jmp $ */
    uint64_t max_insns;
    bool done;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    while (r->cpu->s.rip != r->end && r->cpu->insn_count < r->max_insns)
        cpu_run(r->cpu, 100000);
    r->done = r->cpu->s.rip == r->end;
    return NULL;
}

struct smp {
    struct th t;          /* physmem and vCPU 0 */
    struct cpu more[NCPU - 1];
    struct cpu *cpu[NCPU];
};

static void smp_init(struct smp *m)
{
    th_init(&m->t, TH_LM64);
    m->cpu[0] = &m->t.cpu;
    for (int i = 1; i < NCPU; i++) {
        struct cpu *c = &m->more[i - 1];
        assert_int_equal(cpu_init(c, i, &m->t.pm, &m->t.cpu.bus), 0);
        c->s = m->t.cpu.s;
        cpu_update_mode(c);
        cpu_flush_all(c);
        m->cpu[i] = c;
    }
}

static void smp_destroy(struct smp *m)
{
    for (int i = 1; i < NCPU; i++)
        cpu_destroy(&m->more[i - 1]);
    th_destroy(&m->t);
}

/* Runs n vCPUs on their threads from rip, each up to max_insns. */
static void run_all(struct smp *m, int n, uint64_t rip, uint64_t end, uint64_t iters, uint64_t max_insns)
{
    struct runner r[NCPU];
    for (int i = 0; i < n; i++) {
        struct cpu *c = m->cpu[i];
        c->s.rip = rip;
        c->s.regs[R_DI] = DATA;
        c->s.regs[R_SI] = (uint64_t)i;
        c->s.regs[R_R8] = iters;
        r[i] = (struct runner){ .cpu = c, .end = end, .max_insns = c->insn_count + max_insns };
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&r[i].thread, NULL, runner_main, &r[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(r[i].thread, NULL);
    for (int i = 0; i < n; i++)
        assert_true(r[i].done);
}

static uint64_t iterations(uint64_t dflt)
{
    const char *e = getenv("CAIXA_SMP_ITERS");
    return e ? strtoull(e, NULL, 0) : dflt;
}

static void test_counters(void **state)
{
    (void)state;
    struct smp *m = calloc(1, sizeof(*m));
    smp_init(m);
    const uint64_t n = iterations(1000000), total = n * NCPU;
    th_poke(&m->t, TH_CODE, code_counters, sizeof(code_counters));
    uint64_t ones = 1;
    th_poke(&m->t, DATA + 0xc0, &ones, 8);
    th_poke(&m->t, DATA + 0xc8, &ones, 8);
    run_all(m, NCPU, TH_CODE, TH_CODE + sizeof(code_counters) - 2, n, 200 * n);
    uint64_t add = th_peek(&m->t, DATA, 8), xadd = th_peek(&m->t, DATA + 8, 8);
    uint64_t cas = th_peek(&m->t, DATA + 0x10, 8), inc = th_peek(&m->t, DATA + 0x18, 4);
    print_message("%d vCPUs x %llu iterations: lock add %llu, xadd %llu, cmpxchg %llu, inc %llu (expect %llu)\n",
                  NCPU, (unsigned long long)n, (unsigned long long)add, (unsigned long long)xadd,
                  (unsigned long long)cas, (unsigned long long)inc, (unsigned long long)total);
    assert_int_equal(add, total);
    assert_int_equal(xadd, total);
    assert_int_equal(cas, total);
    assert_int_equal(inc, total & 0xffffffffu);
    assert_int_equal(th_peek(&m->t, DATA + 0x90, 8), 0 - total);
    assert_int_equal(th_peek(&m->t, DATA + 0xb0, 8), total);
    assert_int_equal(th_peek(&m->t, DATA + 0xb8, 8), 0 - total);
    /* each vCPU toggled its own bit n times */
    assert_int_equal(th_peek(&m->t, DATA + 0xa0, 8), (n & 1) ? (1u << NCPU) - 1 : 0);
    assert_int_equal(th_peek(&m->t, DATA + 0xc0, 8), 1);
    assert_int_equal(th_peek(&m->t, DATA + 0xc8, 8), 1);
    assert_int_equal(th_peek(&m->t, DATA + 0xd0, 8), 0);
    assert_int_equal(th_peek(&m->t, DATA + 0xd8, 8), 0);
    smp_destroy(m);
    free(m);
}

static void test_mixed(void **state)
{
    (void)state;
    struct smp *m = calloc(1, sizeof(*m));
    smp_init(m);
    const uint64_t n = iterations(1000000) / 5, total = n * NCPU;
    th_poke(&m->t, CODE_MIXED, code_mixed, sizeof(code_mixed));
    run_all(m, NCPU, CODE_MIXED, CODE_MIXED + sizeof(code_mixed) - 2, n, 400 * n);
    print_message("%d vCPUs x %llu iterations: cmpxchg16b %llu:%llu, split-word %llu, split-page %llu, "
                  "xchg-locked %llu (expect %llu)\n",
                  NCPU, (unsigned long long)n, (unsigned long long)th_peek(&m->t, DATA + 0x28, 8),
                  (unsigned long long)th_peek(&m->t, DATA + 0x20, 8),
                  (unsigned long long)th_peek(&m->t, DATA + 0x3e, 4),
                  (unsigned long long)th_peek(&m->t, DATA + 0xffe, 4),
                  (unsigned long long)th_peek(&m->t, DATA + 0x88, 8), (unsigned long long)total);
    assert_int_equal(th_peek(&m->t, DATA + 0x20, 8), total);
    assert_int_equal(th_peek(&m->t, DATA + 0x28, 8), total);
    assert_int_equal(th_peek(&m->t, DATA + 0x30, 4), total);
    assert_int_equal(th_peek(&m->t, DATA + 0x34, 4), 2 * total);
    assert_int_equal(th_peek(&m->t, DATA + 0x3e, 4), total);
    assert_int_equal(th_peek(&m->t, DATA + 0x49, 2), total & 0xffff);
    assert_int_equal(th_peek(&m->t, DATA + 0x4d, 2), total & 0xffff);
    assert_int_equal(th_peek(&m->t, DATA + 0xffe, 4), total);
    assert_int_equal(th_peek(&m->t, DATA + 0x88, 8), total);
    assert_int_equal(th_peek(&m->t, DATA + 0x80, 4), 0);
    smp_destroy(m);
    free(m);
}

/* vCPU 1 loops in CODE_EXEC while vCPU 0 patches its immediate; with warm,
 * vCPU 0 first holds a write TLB entry for the page. */
static void cross_patch(bool warm)
{
    struct smp *m = calloc(1, sizeof(*m));
    smp_init(m);
    uint64_t worst = 0;
    for (int round = 0; round < 50; round++) {
        uint64_t zero[4] = { 0 };
        th_poke(&m->t, CODE_EXEC, code_exec, sizeof(code_exec));
        th_poke(&m->t, CODE_PATCH, code_patch, sizeof(code_patch));
        th_poke(&m->t, DATA + EXEC_COUNT, zero, sizeof(zero));
        cpu_invalidate_code_page(m->cpu[0], CODE_EXEC);
        cpu_invalidate_code_page(m->cpu[0], CODE_PATCH);
        struct cpu *p = m->cpu[0], *x = m->cpu[1];
        if (warm) {
            th_poke(&m->t, CODE_MISC, code_warm, sizeof(code_warm));
            p->s.rip = CODE_MISC;
            cpu_run(p, 2);
            assert_int_equal(p->s.rip, CODE_MISC + sizeof(code_warm) - 2);
            assert_int_equal(tlb_entry(p, CODE_EXEC, ACC_W)->tag_w, CODE_EXEC);
        }
        struct runner r[2] = {
            { .cpu = x, .end = CODE_EXEC + sizeof(code_exec) - 2, .max_insns = x->insn_count + 200000000 },
            { .cpu = p, .end = CODE_PATCH + sizeof(code_patch) - 2, .max_insns = p->insn_count + 2000000000 },
        };
        x->s.rip = CODE_EXEC;
        x->s.regs[R_DI] = DATA;
        p->s.rip = CODE_PATCH;
        p->s.regs[R_DI] = DATA;
        p->s.regs[R_BX] = CODE_EXEC + EXEC_IMM;
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&r[i].thread, NULL, runner_main, &r[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(r[i].thread, NULL);
        assert_true(r[0].done);
        assert_true(r[1].done);
        /* Iterations the executor ran after the patch had landed. */
        uint64_t count = th_peek(&m->t, DATA + EXEC_COUNT, 8), snap = th_peek(&m->t, DATA + PATCH_SNAP, 8);
        assert_true(count >= snap);
        if (count - snap > worst)
            worst = count - snap;
    }
    print_message("%s: at most %llu loop iteration(s) after the patch\n", warm ? "warm TLB" : "cold TLB",
                  (unsigned long long)worst);
    /* A request is seen between blocks, and a block looping on itself
     * (exec.c's in-block loops) stops for checks every LOOP_SLICE (4096)
     * instructions: at most that many, plus the rebuilt block and a little
     * for the host's store buffering. A lost invalidation never ends (the
     * executor's budget runs out). */
    assert_true(worst * EXEC_LOOP_INSNS <= 4096 + 16 * EXEC_LOOP_INSNS);
    smp_destroy(m);
    free(m);
}

static void test_cross_patch(void **state)
{
    (void)state;
    cross_patch(false);
}

static void test_cross_patch_warm_tlb(void **state)
{
    (void)state;
    cross_patch(true);
}

/* --- the locked slow paths on one vCPU ------------------------------------ */

static uint64_t mmio_val;
static unsigned mmio_reads, mmio_writes;
static uint64_t mmio_read(void *o, uint64_t off, unsigned size)
{
    (void)o;
    (void)off;
    (void)size;
    mmio_reads++;
    return mmio_val;
}
static void mmio_write(void *o, uint64_t off, uint64_t val, unsigned size)
{
    (void)o;
    (void)off;
    (void)size;
    mmio_writes++;
    mmio_val = val;
}
static const mmio_ops test_mmio = { mmio_read, mmio_write };

static void test_locked_slow_paths(void **state)
{
    (void)state;
    struct th *t = calloc(1, sizeof(*t));
    th_init(t, TH_LM64);
    /* A locked add into the next instruction's immediate, on a code page. */
    TH_RUN(t, 0xf0, 0x80, 0x05, 0x01, 0x00, 0x00, 0x00, 0x07, /* lock add byte [rel +1], 7 */
           0xb8, 0x00, 0x00, 0x00, 0x00);                      /* mov eax, 0 */
    assert_int_equal(th_reg(t, R_AX), 7);
    /* MMIO: one read and one write, under the bus lock. */
    assert_int_equal(physmem_add_mmio(&t->pm, MMIO_BASE, PAGE_SIZE, &test_mmio, NULL), 0);
    mmio_val = 37;
    t->cpu.s.rip = TH_CODE;
    TH_RUN(t, 0xf0, 0x83, 0x04, 0x25, 0x00, 0x00, 0x00, 0x03, 0x05); /* lock add dword [MMIO_BASE], 5 */
    assert_int_equal(mmio_val, 42);
    assert_int_equal(mmio_reads, 1);
    assert_int_equal(mmio_writes, 1);
    /* Split across a present and a missing page: #PF, nothing written.
     * The last 2 MiB page below 1 GiB is remapped to RAM at 2 MiB. */
    uint64_t pde = 0x200000 | 0x83, pattern = 0x1122334455667788ull;
    th_poke(t, TH_PT + 0x2000 + 8 * 511, &pde, 8);
    th_poke(t, 0x3ffff8, &pattern, 8);
    cpu_flush_all(&t->cpu);
    t->cpu.s.rip = TH_CODE;
    th_run(t, TH_CODE_ARR(0xf0, 0x83, 0x04, 0x25, 0xfe, 0xff, 0xff, 0x3f, 0x01), 9); /* lock add dword [0x3ffffffe], 1 */
    assert_int_equal(th_vector(t), EXC_PF);
    assert_int_equal(t->cpu.s.cr2, 0x40000000);
    assert_int_equal(th_peek(t, 0x3ffff8, 8), pattern);
    th_destroy(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locked_slow_paths),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_cross_patch),
        cmocka_unit_test(test_cross_patch_warm_tlb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
