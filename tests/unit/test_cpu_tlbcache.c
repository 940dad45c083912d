/* The software TLB's victim entries and the block cache's jump cache, links
 * and page-spilling blocks (src/cpu/mmu.c, exec.c), driven by guest code:
 * - INVLPG, MOV to CR3 and a CR4.PGE toggle invalidate a translation even
 *   while it sits in a victim slot, of the supervisor or the CPL 3 TLB set
 *   (SDM Vol. 3A 4.10.4.1);
 * - a write through an alias whose write entry waits in a victim slot still
 *   reaches code decoded from its page (self-modifying code, Vol. 3A 11.6);
 * - a supervisor-only page reached at CPL 0 (its block cached, linked and
 *   in the jump cache) faults when CPL 3 jumps, calls or returns to it:
 *   #PF with P, U/S and I/D set and CR2 = the target (Vol. 3A 4.6, 4.7),
 *   also after many SYSCALL/SYSRET and INT/IRETQ round trips;
 * - an instruction that spills onto the next page runs the bytes that page
 *   maps now (after INVLPG), and at each linear alias the bytes of that
 *   alias's next page.
 * Linear pages 4 MiB apart share a TLB index (1024 entries, direct-mapped):
 * that is how the tests put an entry in a victim slot, and a white-box
 * check says it is there before the flush, so that a change of the TLB's
 * shape cannot quietly leave the victims uncovered.
 * Code bytes assembled with nasm; the source is in the comments. */
#include <inttypes.h>

#include "cpu_sys_harness.h"

#define FAR_AWAY 0x7ff000u   /* a breakpoint address no test reaches */

/* 32-bit paging (SDM Vol. 3A 4.3): a page directory and two page tables
 * mapping linear 0-8 MiB to the same physical addresses with 4 KiB pages. */
#define PD32 0x20000u
#define PT32_0 0x21000u      /* linear 0-4 MiB */
#define PT32_1 0x22000u      /* linear 4-8 MiB */
#define PTE_P 0x1u
#define PTE_RW 0x2u
#define PTE_US 0x4u
#define PTE_G 0x100u
#define FOUR_MIB 0x400000u   /* TLB_SIZE pages: the same TLB index */
/* The page directory of the harness's 64-bit identity map: 2 MiB each. */
#define LM_PDE(n) (TH_PT + 0x2000 + 8 * (n))

static void pg32_map(struct th *t, uint32_t lin, uint32_t pte)
{
    uint32_t pt = lin < FOUR_MIB ? PT32_0 : PT32_1;
    sys_put32(t, pt + ((lin >> 12) & 0x3ff) * 4, pte);
}

static void pg32_init(struct th *t)
{
    th_init(t, TH_PM32);
    for (uint32_t lin = 0; lin < 2 * FOUR_MIB; lin += PAGE_SIZE)
        pg32_map(t, lin, lin | PTE_P | PTE_RW);
    sys_put32(t, PD32, PT32_0 | PTE_P | PTE_RW);
    sys_put32(t, PD32 + 4, PT32_1 | PTE_P | PTE_RW);
    t->cpu.s.cr3 = PD32;
    t->cpu.s.cr0 |= CR0_PG;
    cpu_flush_all(&t->cpu);
}

/* Loads code at TH_CODE and runs it to a HLT. With nothing armed, blocks
 * follow their links and the jump cache inside the loop; `armed` sets a
 * breakpoint that is never reached, so each block goes through the checks
 * at the loop top instead. Returns why cpu_run stopped. */
static enum cpu_exit run_code(struct th *t, const uint8_t *code, size_t n, bool armed)
{
    th_poke(t, TH_CODE, code, n);
    cpu_flush_all(&t->cpu);
    t->cpu.breakpoints[0] = FAR_AWAY;
    t->cpu.n_breakpoints = armed ? 1 : 0;
    return cpu_run(&t->cpu, TH_BUDGET);
}

/* Runs on from a HLT to the next one. */
static enum cpu_exit run_on(struct th *t)
{
    t->cpu.s.halted = false;
    return cpu_run(&t->cpu, TH_BUDGET);
}

static void assert_halted_at(struct th *t, enum cpu_exit why, uint64_t rip)
{
    if (why != CPU_EXIT_HALT || t->cpu.s.rip != rip)
        print_error("stopped (%d) at %#" PRIx64 " (vector %d), not HLT before %#" PRIx64 "\n", (int)why,
                    t->cpu.s.rip, th_vector(t), rip);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(t->cpu.s.rip, rip);
}

/* White-box premise: the translation of linear page `lin` sits in a victim
 * slot of TLB set `set` (0 supervisor, 1 CPL 3), and not in the entry lin
 * indexes. Returns its tags: 1 read, 2 write, 4 fetch. */
static unsigned victim_tags(struct th *t, int set, uint64_t lin)
{
    const struct cpu_tlb *tlb = t->cpu.tlb;
    const struct tlb_entry *l1 = &tlb->e[set][(lin >> PAGE_SHIFT) & (TLB_SIZE - 1)];
    assert_true(l1->tag_r != lin && l1->tag_w != lin && l1->tag_x != lin);
    unsigned tags = 0;
    for (unsigned i = 0; i < VTLB_SIZE; i++) {
        const struct tlb_entry *v = &tlb->ve[set][i];
        tags |= (v->tag_r == lin ? 1u : 0) | (v->tag_w == lin ? 2u : 0) | (v->tag_x == lin ? 4u : 0);
    }
    return tags;
}

/* --- a: flushes reach victim entries --------------------------------------- */

#define A_LIN 0x300000u        /* page A, and B = A + 4 MiB at its TLB index */
#define B_LIN (A_LIN + FOUR_MIB)
#define A_NEW 0x301000u        /* the page A is remapped to */
#define A_OLD_VAL 0x11111111u
#define A_NEW_VAL 0x22222222u
#define B_VAL 0x33333333u

/* 32-bit; A equ 0x300000, B equ 0x700000, PTE_A equ 0x21000 + 0x300 * 4 */
static const uint8_t a_invlpg[] = {
    0xa1, 0x00, 0x00, 0x30, 0x00,               /* mov eax, [A] */
    0x8b, 0x1d, 0x00, 0x00, 0x70, 0x00,         /* mov ebx, [B] */
    0xa1, 0x00, 0x00, 0x30, 0x00,               /* mov eax, [A] */
    0x8b, 0x1d, 0x00, 0x00, 0x70, 0x00,         /* mov ebx, [B] */
    0xc7, 0x05, 0x00, 0x1c, 0x02, 0x00, 0x03, 0x10, 0x30, 0x00,/* mov dword [PTE_A], 0x301003 */
    0xf4,                                       /* hlt */
    0x0f, 0x01, 0x3d, 0x00, 0x00, 0x30, 0x00,   /* invlpg [A] */
    0x8b, 0x0d, 0x00, 0x00, 0x70, 0x00,         /* mov ecx, [B] */
    0x8b, 0x15, 0x00, 0x00, 0x30, 0x00,         /* mov edx, [A] */
    0xf4,                                       /* hlt */
};
/* The same with a MOV to CR3 in place of the INVLPG. */
static const uint8_t a_cr3[] = {
    0xa1, 0x00, 0x00, 0x30, 0x00,               /* mov eax, [A] */
    0x8b, 0x1d, 0x00, 0x00, 0x70, 0x00,         /* mov ebx, [B] */
    0xa1, 0x00, 0x00, 0x30, 0x00,               /* mov eax, [A] */
    0x8b, 0x1d, 0x00, 0x00, 0x70, 0x00,         /* mov ebx, [B] */
    0xc7, 0x05, 0x00, 0x1c, 0x02, 0x00, 0x03, 0x10, 0x30, 0x00,/* mov dword [PTE_A], 0x301003 */
    0xf4,                                       /* hlt */
    0x0f, 0x20, 0xde,                           /* mov esi, cr3 */
    0x0f, 0x22, 0xde,                           /* mov cr3, esi */
    0x8b, 0x0d, 0x00, 0x00, 0x70, 0x00,         /* mov ecx, [B] */
    0x8b, 0x15, 0x00, 0x00, 0x30, 0x00,         /* mov edx, [A] */
    0xf4,                                       /* hlt */
};
/* The same with a global A (PTE G = 1, CR4.PGE = 1), flushed by turning
 * CR4.PGE off and on. */
static const uint8_t a_pge[] = {
    0xa1, 0x00, 0x00, 0x30, 0x00,               /* mov eax, [A] */
    0x8b, 0x1d, 0x00, 0x00, 0x70, 0x00,         /* mov ebx, [B] */
    0xa1, 0x00, 0x00, 0x30, 0x00,               /* mov eax, [A] */
    0x8b, 0x1d, 0x00, 0x00, 0x70, 0x00,         /* mov ebx, [B] */
    0xc7, 0x05, 0x00, 0x1c, 0x02, 0x00, 0x03, 0x11, 0x30, 0x00,/* mov dword [PTE_A], 0x301103 */
    0xf4,                                       /* hlt */
    0x0f, 0x20, 0xe6,                           /* mov esi, cr4 */
    0x81, 0xe6, 0x7f, 0xff, 0xff, 0xff,         /* and esi, ~0x80 */
    0x0f, 0x22, 0xe6,                           /* mov cr4, esi */
    0x81, 0xce, 0x80, 0x00, 0x00, 0x00,         /* or esi, 0x80 */
    0x0f, 0x22, 0xe6,                           /* mov cr4, esi */
    0x8b, 0x0d, 0x00, 0x00, 0x70, 0x00,         /* mov ecx, [B] */
    0x8b, 0x15, 0x00, 0x00, 0x30, 0x00,         /* mov edx, [A] */
    0xf4,                                       /* hlt */
};
#define A_FILL_LEN 33   /* up to the first HLT: the same in all three */

/* Reads A then B twice (B's fill pushes A into a victim slot), remaps A and
 * halts; then the flush, B again (its entry stays where A's would go) and
 * A, which must read the new page: INVLPG, a MOV to CR3 (A not global) and
 * a change of CR4.PGE invalidate A's translation, wherever it is cached
 * (SDM Vol. 3A 4.10.4.1). */
static void flush_reaches_victim(const uint8_t *code, size_t n, bool global)
{
    struct th t;
    pg32_init(&t);
    if (global) {
        t.cpu.s.cr4 |= CR4_PGE;
        pg32_map(&t, A_LIN, A_LIN | PTE_P | PTE_RW | PTE_G);
    }
    sys_put32(&t, A_LIN, A_OLD_VAL);
    sys_put32(&t, A_NEW, A_NEW_VAL);
    sys_put32(&t, B_LIN, B_VAL);
    assert_halted_at(&t, run_code(&t, code, n, false), TH_CODE + A_FILL_LEN);
    assert_int_equal(th_reg(&t, R_AX), A_OLD_VAL);
    assert_int_equal(th_reg(&t, R_BX), B_VAL);
    assert_true(victim_tags(&t, 0, A_LIN) & 1);   /* premise: A is a victim */
    assert_halted_at(&t, run_on(&t), TH_CODE + n);
    assert_int_equal(th_reg(&t, R_CX), B_VAL);
    assert_int_equal(th_reg(&t, R_DX), A_NEW_VAL);
    th_destroy(&t);
}

static void test_invlpg_reaches_victim(void **state)
{
    (void)state;
    flush_reaches_victim(a_invlpg, sizeof(a_invlpg), false);
}

static void test_mov_cr3_reaches_victim(void **state)
{
    (void)state;
    flush_reaches_victim(a_cr3, sizeof(a_cr3), false);
}

static void test_pge_toggle_reaches_global_victim(void **state)
{
    (void)state;
    flush_reaches_victim(a_pge, sizeof(a_pge), true);
}

/* The same at CPL 3, whose entries (and victims) are a TLB set of their
 * own, with the kernel doing the flush. 64-bit; A equ 0x300000,
 * B equ 0x700000, KSYS equ 0x2000. */
static const uint8_t au_code[] = {
    0xb9, 0x81, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000081 */
    0x31, 0xc0,                                 /* xor eax, eax */
    0xba, 0x08, 0x00, 0x68, 0x00,               /* mov edx, 0x00680008 */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x82, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000082 */
    0xb8, 0x00, 0x20, 0x00, 0x00,               /* mov eax, KSYS */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x80, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000080 */
    0x0f, 0x32,                                 /* rdmsr */
    0x83, 0xc8, 0x01,                           /* or eax, 1 */
    0x0f, 0x30,                                 /* wrmsr */
    0x6a, 0x73,                                 /* push 0x73 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x6a, 0x02,                                 /* push 0x2 */
    0x6a, 0x7b,                                 /* push 0x7b */
    0x68, 0x3a, 0x10, 0x00, 0x00,               /* push ring3 */
    0x48, 0xcf,                                 /* iretq */
    /* ring3: */
    0x44, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00,/* mov r8d, [A] */
    0x44, 0x8b, 0x0c, 0x25, 0x00, 0x00, 0x70, 0x00,/* mov r9d, [B] */
    0x44, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00,/* mov r8d, [A] */
    0x44, 0x8b, 0x0c, 0x25, 0x00, 0x00, 0x70, 0x00,/* mov r9d, [B] */
    0x31, 0xc0,                                 /* xor eax, eax */
    0x0f, 0x05,                                 /* syscall */
    0xb8, 0x01, 0x00, 0x00, 0x00,               /* mov eax, 1 */
    0x0f, 0x05,                                 /* syscall */
    0x44, 0x8b, 0x14, 0x25, 0x00, 0x00, 0x70, 0x00,/* mov r10d, [B] */
    0x44, 0x8b, 0x2c, 0x25, 0x00, 0x00, 0x30, 0x00,/* mov r13d, [A] */
    0xb8, 0x02, 0x00, 0x00, 0x00,               /* mov eax, 2 */
    0x0f, 0x05,                                 /* syscall */
};
/* at KSYS; PTE_A equ 0x111000 + 0x100 * 8. System call 0 and 2 halt
 * (the premise check, the end), 1 remaps A, then INVLPG (r12 = 0) or a MOV
 * to CR3 (r12 = 1). */
static const uint8_t au_ksys[] = {
    0x83, 0xf8, 0x01,                           /* cmp eax, 1 */
    0x74, 0x04,                                 /* je remap */
    0xf4,                                       /* hlt */
    0x48, 0x0f, 0x07,                           /* o64 sysret */
    /* remap: */
    0xc7, 0x04, 0x25, 0x00, 0x18, 0x11, 0x00, 0x07, 0x10, 0x30, 0x00,/* mov dword [PTE_A], 0x301007 */
    0x45, 0x85, 0xe4,                           /* test r12d, r12d */
    0x75, 0x0b,                                 /* jnz reload */
    0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x30, 0x00,/* invlpg [A] */
    0x48, 0x0f, 0x07,                           /* o64 sysret */
    /* reload: */
    0x0f, 0x20, 0xd8,                           /* mov rax, cr3 */
    0x0f, 0x22, 0xd8,                           /* mov cr3, rax */
    0x48, 0x0f, 0x07,                           /* o64 sysret */
};
#define AU_KSYS 0x2000u
#define AU_PT_A 0x111000u        /* 4 KiB page tables of linear 2-4 MiB and 6-8 MiB */
#define AU_PT_B 0x112000u

static void user_flush_reaches_victim(bool mov_cr3)
{
    struct th t;
    sys_lm64_init(&t);
    for (uint64_t i = 0; i < 512; i++) {
        sys_put64(&t, AU_PT_A + 8 * i, (0x200000 + i * PAGE_SIZE) | PTE_P | PTE_RW | PTE_US);
        sys_put64(&t, AU_PT_B + 8 * i, (0x600000 + i * PAGE_SIZE) | PTE_P | PTE_RW | PTE_US);
    }
    sys_put64(&t, LM_PDE(1), AU_PT_A | PTE_P | PTE_RW | PTE_US);
    sys_put64(&t, LM_PDE(3), AU_PT_B | PTE_P | PTE_RW | PTE_US);
    th_poke(&t, AU_KSYS, au_ksys, sizeof(au_ksys));
    sys_put32(&t, A_LIN, A_OLD_VAL);
    sys_put32(&t, A_NEW, A_NEW_VAL);
    sys_put32(&t, B_LIN, B_VAL);
    t.cpu.s.regs[R_R12] = mov_cr3;
    assert_halted_at(&t, run_code(&t, au_code, sizeof(au_code), false), AU_KSYS + 6);
    assert_int_equal(t.cpu.s.cpl, 0);
    assert_int_equal(th_reg(&t, R_R8), A_OLD_VAL);
    assert_int_equal(th_reg(&t, R_R9), B_VAL);
    assert_true(victim_tags(&t, 1, A_LIN) & 1);   /* premise: A is a CPL 3 victim */
    assert_halted_at(&t, run_on(&t), AU_KSYS + 6);
    assert_int_equal(th_reg(&t, R_AX), 2);
    assert_int_equal(th_reg(&t, R_R10), B_VAL);
    assert_int_equal(th_reg(&t, R_R13), A_NEW_VAL);
    th_destroy(&t);
}

static void test_invlpg_reaches_user_victim(void **state)
{
    (void)state;
    user_flush_reaches_victim(false);
}

static void test_mov_cr3_reaches_user_victim(void **state)
{
    (void)state;
    user_flush_reaches_victim(true);
}

/* --- b: self-modifying code through an alias in a victim slot -------------- */

#define C_LIN 0x300000u                /* code, at physical C_LIN */
#define ALIAS_LIN (C_LIN + FOUR_MIB)   /* the same physical page, at C's TLB index */

/* 32-bit; C equ 0x300000, ALIAS equ 0x700000 */
static const uint8_t b_smc[] = {
    0xc6, 0x05, 0x00, 0x08, 0x70, 0x00, 0x5a,   /* mov byte [ALIAS + 0x800], 0x5a */
    0x8b, 0x1d, 0x00, 0x08, 0x30, 0x00,         /* mov ebx, [C + 0x800] */
    0xf4,                                       /* hlt */
    0xe8, 0xed, 0xef, 0x2f, 0x00,               /* call C */
    0x89, 0xc6,                                 /* mov esi, eax */
    0xc7, 0x05, 0x01, 0x00, 0x70, 0x00, 0x02, 0x00, 0x00, 0x00,/* mov dword [ALIAS + 1], 2 */
    0xe8, 0xdc, 0xef, 0x2f, 0x00,               /* call C */
    0x89, 0xc7,                                 /* mov edi, eax */
    0xf4,                                       /* hlt */
};
#define B_FILL_LEN 14   /* up to the first HLT */
/* at C (org 0x300000) */
static const uint8_t b_code[] = {
    0xb8, 0x01, 0x00, 0x00, 0x00,               /* mov eax, 1 */
    0xc3,                                       /* ret */
};

/* The write through ALIAS fills a write entry; the read of C pushes it into
 * a victim slot; running C makes the page a code page. Patching C's
 * immediate through ALIAS must then reach the code: the next call returns
 * 2 (SDM Vol. 3A 11.6: a write to code takes effect for the instructions
 * after it). */
static void test_smc_through_victim_alias(void **state)
{
    (void)state;
    for (int armed = 0; armed < 2; armed++) {
        struct th t;
        pg32_init(&t);
        pg32_map(&t, ALIAS_LIN, C_LIN | PTE_P | PTE_RW);
        th_poke(&t, C_LIN, b_code, sizeof(b_code));
        assert_halted_at(&t, run_code(&t, b_smc, sizeof(b_smc), armed), TH_CODE + B_FILL_LEN);
        assert_int_equal(th_reg(&t, R_BX), 0x5a);
        assert_true(victim_tags(&t, 0, ALIAS_LIN) & 2);   /* premise: a write entry in a victim */
        assert_halted_at(&t, run_on(&t), TH_CODE + sizeof(b_smc));
        assert_int_equal(th_reg(&t, R_SI), 1);
        assert_int_equal(th_reg(&t, R_DI), 2);
        assert_int_equal(th_peek(&t, C_LIN + 1, 4), 2);
        th_destroy(&t);
    }
}

/* --- c: supervisor-only code after CPL 0 reached it --------------------------- */

#define SUPER 0x402000u      /* supervisor-only code page (PTE U/S = 0) */
#define KSYS 0x403000u       /* SYSCALL entry (LSTAR), supervisor-only page */
#define KINT 0x403040u       /* INT 0x80 handler */
#define SHARED 0x2000u       /* user page: goes to rbx, run at CPL 0 and 3 */
#define SHARED2 0x2100u      /* a copy only CPL 3 runs: no link to SUPER */
#define USERFN 0x2800u
#define LM_PT 0x110000u      /* 4 KiB page table of linear 4-6 MiB */
#define C_KLOOPS 4           /* CPL 0 reaches SUPER through SHARED this often */
#define C_SYSCALL_OFF 0x6d   /* the SYSCALL in c_lm */
#define C_ROUNDS 20
/* #PF error code (SDM Vol. 3A 4.7): P, U/S, I/D */
#define PFEC_P 0x01u
#define PFEC_U 0x04u
#define PFEC_I 0x10u

/* 64-bit; SUPER equ 0x402000, SHARED equ 0x2000, USERFN equ 0x2800,
 * KSYS equ 0x403000. Sets up SYSCALL (STAR, LSTAR, SFMASK, EFER.SCE) and
 * EFER.NXE; calls SHARED with rbx = SUPER at CPL 0; IRETQ to CPL 3, which
 * runs r12 rounds of SHARED(USERFN) and a system call (the kernel calls
 * SHARED(SUPER) and returns rax * 2 + 1), then calls r15 with rbx = SUPER. */
static const uint8_t c_lm[] = {
    0xb9, 0x81, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000081 */
    0x31, 0xc0,                                 /* xor eax, eax */
    0xba, 0x08, 0x00, 0x68, 0x00,               /* mov edx, 0x00680008 */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x82, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000082 */
    0xb8, 0x00, 0x30, 0x40, 0x00,               /* mov eax, KSYS */
    0x31, 0xd2,                                 /* xor edx, edx */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x84, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000084 */
    0xb8, 0x00, 0x02, 0x00, 0x00,               /* mov eax, 0x200 */
    0x0f, 0x30,                                 /* wrmsr */
    0xb9, 0x80, 0x00, 0x00, 0xc0,               /* mov ecx, 0xc0000080 */
    0x0f, 0x32,                                 /* rdmsr */
    0x0d, 0x01, 0x08, 0x00, 0x00,               /* or eax, 0x801 */
    0x0f, 0x30,                                 /* wrmsr */
    0xbb, 0x00, 0x20, 0x40, 0x00,               /* mov ebx, SUPER */
    0xbd, 0x04, 0x00, 0x00, 0x00,               /* mov ebp, 4 */
    /* kloop: */
    0xe8, 0xbb, 0x0f, 0x00, 0x00,               /* call SHARED */
    0xff, 0xcd,                                 /* dec ebp */
    0x75, 0xf7,                                 /* jnz kloop */
    0x6a, 0x73,                                 /* push 0x73 */
    0x68, 0x00, 0x70, 0x00, 0x00,               /* push 0x7000 */
    0x6a, 0x02,                                 /* push 0x2 */
    0x6a, 0x7b,                                 /* push 0x7b */
    0x68, 0x5b, 0x10, 0x00, 0x00,               /* push ring3 */
    0x48, 0xcf,                                 /* iretq */
    /* ring3: */
    0x45, 0x85, 0xe4,                           /* test r12d, r12d */
    0x74, 0x17,                                 /* jz last */
    /* uloop: */
    0xbb, 0x00, 0x28, 0x00, 0x00,               /* mov ebx, USERFN */
    0xe8, 0x96, 0x0f, 0x00, 0x00,               /* call SHARED */
    0x44, 0x89, 0xe0,                           /* mov eax, r12d */
    0x0f, 0x05,                                 /* syscall */
    0x49, 0x01, 0xc5,                           /* add r13, rax */
    0x41, 0xff, 0xcc,                           /* dec r12d */
    0x75, 0xe9,                                 /* jnz uloop */
    /* last: */
    0xbb, 0x00, 0x20, 0x40, 0x00,               /* mov ebx, SUPER */
    0x41, 0xff, 0xd7,                           /* call r15 */
    0x0f, 0x0b,                                 /* ud2 */
};
/* at KSYS */
static const uint8_t c_ksys[] = {
    0xbb, 0x00, 0x20, 0x40, 0x00,               /* mov ebx, SUPER */
    0xe8, 0xf6, 0xef, 0xbf, 0xff,               /* call SHARED */
    0x8d, 0x44, 0x00, 0x01,                     /* lea eax, [rax * 2 + 1] */
    0x41, 0xff, 0xc6,                           /* inc r14d */
    0x48, 0x0f, 0x07,                           /* o64 sysret */
};
/* at KINT */
static const uint8_t c_kint[] = {
    0xbb, 0x00, 0x20, 0x40, 0x00,               /* mov ebx, SUPER */
    0xe8, 0xb6, 0xef, 0xbf, 0xff,               /* call SHARED */
    0x8d, 0x44, 0x00, 0x01,                     /* lea eax, [rax * 2 + 1] */
    0x41, 0xff, 0xc6,                           /* inc r14d */
    0x48, 0xcf,                                 /* iretq */
};
/* at SUPER */
static const uint8_t c_super[] = {
    0x41, 0xff, 0xc0,                           /* inc r8d */
    0xc3,                                       /* ret */
};
/* at USERFN */
static const uint8_t c_user[] = {
    0x41, 0xff, 0xc1,                           /* inc r9d */
    0xc3,                                       /* ret */
};
/* the three ways SHARED (and SHARED2) reach rbx */
static const uint8_t c_shared_call[] = {
    0xff, 0xd3,                                 /* call rbx */
    0xc3,                                       /* ret */
};
static const uint8_t c_shared_jmp[] = {
    0xff, 0xe3,                                 /* jmp rbx */
};
static const uint8_t c_shared_ret[] = {
    0x53,                                       /* push rbx */
    0xc3,                                       /* ret */
};

enum reach { BY_CALL, BY_JMP, BY_RET };
enum gate { NO_CALLS, BY_SYSCALL, BY_INT };

/* CPL 0 reaches SUPER through SHARED (SUPER's block is then cached, linked
 * from SHARED's and in the jump cache); CPL 3 makes its system calls, then
 * reaches SUPER the same way from SHARED (`via_link`: a link made at CPL 0
 * is there to be followed) or from SHARED2 (only the jump cache knows
 * SUPER). A user-mode fetch from a supervisor-only page: #PF with P, U/S
 * and I/D (reported with EFER.NXE = 1, SDM Vol. 3A 4.7), CR2 and the saved
 * RIP = SUPER, RSP as the CALL, JMP or RET left it. */
static void cpl3_faults_on_supervisor_code(enum reach how, enum gate gate, bool via_link, bool armed)
{
    static const struct { const uint8_t *code; size_t n; } shared[] = {
        [BY_CALL] = { c_shared_call, sizeof(c_shared_call) },
        [BY_JMP] = { c_shared_jmp, sizeof(c_shared_jmp) },
        [BY_RET] = { c_shared_ret, sizeof(c_shared_ret) },
    };
    struct th t;
    sys_lm64_init(&t);
    /* 4 KiB pages at 4-6 MiB, user-accessible but for SUPER and KSYS/KINT */
    for (uint64_t lin = 0x400000; lin < 0x600000; lin += PAGE_SIZE) {
        bool super = lin == SUPER || lin == (KSYS & ~0xfffull);
        sys_put64(&t, LM_PT + (lin - 0x400000) / PAGE_SIZE * 8, lin | PTE_P | PTE_RW | (super ? 0 : PTE_US));
    }
    sys_put64(&t, LM_PDE(2), LM_PT | PTE_P | PTE_RW | PTE_US);
    th_poke(&t, SUPER, c_super, sizeof(c_super));
    th_poke(&t, KSYS, c_ksys, sizeof(c_ksys));
    th_poke(&t, KINT, c_kint, sizeof(c_kint));
    th_poke(&t, USERFN, c_user, sizeof(c_user));
    th_poke(&t, SHARED, shared[how].code, shared[how].n);
    th_poke(&t, SHARED2, shared[how].code, shared[how].n);
    sys_idt64(&t, 0x80, SEL_CODE64, KINT, ST_INT32, 3, 0);
    uint8_t code[sizeof(c_lm)];
    memcpy(code, c_lm, sizeof(code));
    assert_int_equal(code[C_SYSCALL_OFF], 0x0f);
    assert_int_equal(code[C_SYSCALL_OFF + 1], 0x05);
    if (gate == BY_INT) {
        code[C_SYSCALL_OFF] = 0xcd;      /* int 0x80 */
        code[C_SYSCALL_OFF + 1] = 0x80;
    }
    unsigned rounds = gate == NO_CALLS ? 0 : C_ROUNDS;
    t.cpu.s.regs[R_R12] = rounds;
    t.cpu.s.regs[R_R15] = via_link ? SHARED : SHARED2;

    enum cpu_exit why = run_code(&t, code, sizeof(code), armed);
    if (sys_vec(&t) != EXC_PF)
        print_error("reach %d gate %d link %d armed %d: exit %d, rip %#" PRIx64 ", cpl %d\n", (int)how, (int)gate,
                    via_link, armed, (int)why, t.cpu.s.rip, t.cpu.s.cpl);
    assert_int_equal(why, CPU_EXIT_HALT);
    assert_int_equal(sys_vec(&t), EXC_PF);
    /* The rounds ran, each system call returning to CPL 3 with its result. */
    assert_int_equal(t.cpu.s.regs[R_R8] & 0xffffffff, C_KLOOPS + rounds);
    assert_int_equal(t.cpu.s.regs[R_R9] & 0xffffffff, rounds);
    assert_int_equal(t.cpu.s.regs[R_R14] & 0xffffffff, rounds);
    assert_int_equal(t.cpu.s.regs[R_R13], (uint64_t)rounds * rounds + 2 * rounds);
    /* A user-mode instruction fetch from a present supervisor page. */
    assert_int_equal(t.cpu.s.cr2, SUPER);
    assert_int_equal(t.cpu.s.regs[R_SP], SYS_STACK0 - 48);
    assert_int_equal(sys_stk(&t, 0, 8), PFEC_P | PFEC_U | PFEC_I);
    assert_int_equal(sys_stk(&t, 1, 8), SUPER);
    assert_int_equal(sys_stk(&t, 2, 8), SEL_CODE3_64);
    assert_int_equal(sys_stk(&t, 4, 8), SYS_STACK3 - (how == BY_CALL ? 16 : 8));
    assert_int_equal(sys_stk(&t, 5, 8), SEL_DATA3_64);
    th_destroy(&t);
}

static void cpl3_cases(enum reach how, enum gate gate)
{
    for (int via_link = 0; via_link < 2; via_link++)
        for (int armed = 0; armed < 2; armed++)
            cpl3_faults_on_supervisor_code(how, gate, via_link, armed);
}

static void test_cpl3_call_to_supervisor_page(void **state)
{
    (void)state;
    cpl3_cases(BY_CALL, NO_CALLS);
}

static void test_cpl3_jmp_to_supervisor_page(void **state)
{
    (void)state;
    cpl3_cases(BY_JMP, NO_CALLS);
}

static void test_cpl3_ret_to_supervisor_page(void **state)
{
    (void)state;
    cpl3_cases(BY_RET, NO_CALLS);
}

/* Many CPL changes that expire nothing (SYSCALL/SYSRET keep the mode), with
 * CPL 0 reaching SUPER in every round: still a fault at the end. */
static void test_syscall_rounds_then_cpl3_fault(void **state)
{
    (void)state;
    for (enum reach how = BY_CALL; how <= BY_RET; how++)
        cpl3_cases(how, BY_SYSCALL);
}

/* The same with INT 0x80 (through a DPL 3 gate) and IRETQ. */
static void test_int_rounds_then_cpl3_fault(void **state)
{
    (void)state;
    for (enum reach how = BY_CALL; how <= BY_RET; how++)
        cpl3_cases(how, BY_INT);
}

/* --- d: an instruction that spills onto the next page ------------------------- */

#define X1_LIN 0x300000u     /* first page, at physical X1_LIN */
#define Y1_LIN 0x500000u     /* a second linear alias of it */
#define Q1 0x302000u         /* X1's next page maps Q1, then Q2 */
#define Q2 0x303000u
#define Q3 0x304000u         /* Y1's next page */

/* 32-bit; X1 equ 0x300000, Y1 equ 0x500000, PTE_X2 equ 0x21000 + 0x301 * 4 */
static const uint8_t d_spill[] = {
    0xb9, 0x03, 0x00, 0x00, 0x00,               /* mov ecx, 3 */
    /* .l1: */
    0xe8, 0xf4, 0xff, 0x2f, 0x00,               /* call X1 + 0xffe */
    0x49,                                       /* dec ecx */
    0x75, 0xf8,                                 /* jnz .l1 */
    0x89, 0xc6,                                 /* mov esi, eax */
    0xc7, 0x05, 0x04, 0x1c, 0x02, 0x00, 0x03, 0x30, 0x30, 0x00,/* mov dword [PTE_X2], 0x303003 */
    0x0f, 0x01, 0x3d, 0x00, 0x10, 0x30, 0x00,   /* invlpg [X1 + 0x1000] */
    0xb9, 0x03, 0x00, 0x00, 0x00,               /* mov ecx, 3 */
    /* .l2: */
    0xe8, 0xd4, 0xff, 0x2f, 0x00,               /* call X1 + 0xffe */
    0x49,                                       /* dec ecx */
    0x75, 0xf8,                                 /* jnz .l2 */
    0x89, 0xc7,                                 /* mov edi, eax */
    0xe8, 0xca, 0xff, 0x4f, 0x00,               /* call Y1 + 0xffe */
    0x89, 0xc5,                                 /* mov ebp, eax */
    0xe8, 0xc3, 0xff, 0x2f, 0x00,               /* call X1 + 0xffe */
    0x89, 0xc3,                                 /* mov ebx, eax */
    0xf4,                                       /* hlt */
};

/* `mov eax, imm32` at the last two bytes of X1 (b8 aa), its other three
 * immediate bytes and a `ret` on the next page: Q1 holds 11 11 11 c3, Q2
 * 22 22 22 c3, Q3 33 33 33 c3. After the remap and INVLPG the instruction
 * reads Q2 (SDM Vol. 3A 4.10.4.1); entered at Y1 it reads Y1's next page,
 * and at X1 again X1's. */
static void test_spilling_insn_follows_next_page(void **state)
{
    (void)state;
    static const uint8_t head[2] = { 0xb8, 0xaa };
    static const uint8_t tail1[4] = { 0x11, 0x11, 0x11, 0xc3 };
    static const uint8_t tail2[4] = { 0x22, 0x22, 0x22, 0xc3 };
    static const uint8_t tail3[4] = { 0x33, 0x33, 0x33, 0xc3 };
    for (int armed = 0; armed < 2; armed++) {
        struct th t;
        pg32_init(&t);
        pg32_map(&t, X1_LIN + PAGE_SIZE, Q1 | PTE_P | PTE_RW);
        pg32_map(&t, Y1_LIN, X1_LIN | PTE_P | PTE_RW);
        pg32_map(&t, Y1_LIN + PAGE_SIZE, Q3 | PTE_P | PTE_RW);
        th_poke(&t, X1_LIN + PAGE_SIZE - 2, head, sizeof(head));
        th_poke(&t, Q1, tail1, sizeof(tail1));
        th_poke(&t, Q2, tail2, sizeof(tail2));
        th_poke(&t, Q3, tail3, sizeof(tail3));
        assert_halted_at(&t, run_code(&t, d_spill, sizeof(d_spill), armed), TH_CODE + sizeof(d_spill));
        assert_int_equal(th_reg(&t, R_SI) & 0xffffffff, 0x111111aa);
        assert_int_equal(th_reg(&t, R_DI) & 0xffffffff, 0x222222aa);
        assert_int_equal(th_reg(&t, R_BP) & 0xffffffff, 0x333333aa);
        assert_int_equal(th_reg(&t, R_BX) & 0xffffffff, 0x222222aa);
        th_destroy(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invlpg_reaches_victim),
        cmocka_unit_test(test_mov_cr3_reaches_victim),
        cmocka_unit_test(test_pge_toggle_reaches_global_victim),
        cmocka_unit_test(test_invlpg_reaches_user_victim),
        cmocka_unit_test(test_mov_cr3_reaches_user_victim),
        cmocka_unit_test(test_smc_through_victim_alias),
        cmocka_unit_test(test_cpl3_call_to_supervisor_page),
        cmocka_unit_test(test_cpl3_jmp_to_supervisor_page),
        cmocka_unit_test(test_cpl3_ret_to_supervisor_page),
        cmocka_unit_test(test_syscall_rounds_then_cpl3_fault),
        cmocka_unit_test(test_int_rounds_then_cpl3_fault),
        cmocka_unit_test(test_spilling_insn_follows_next_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
