/* Host side of the differential tester: generated machine code in a fixed
 * RWX region loads the register file and EFLAGS from a struct dstate, runs
 * the instruction under test, and stores everything back. Faults (#DE,
 * #UD ...) arrive as signals; the handler records the vector from the
 * kernel's trap number and jumps back out. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/ldt.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ucontext.h>

#include "diff.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* The instruction under test sits at TEST_OFF; the prologue jumps (64-bit)
 * or far returns (compat) there. */
/* Linux x86-64 user code selectors (arch/x86 segment layout): __USER32_CS
 * and __USER_CS. */
#define USER32_CS 0x23
#define USER64_CS 0x33
#define USER_DS 0x2b   /* 64-bit processes run with null DS/ES: load it for 32-bit code */
/* LDT entry 0, RPL 3: a 16-bit code segment whose base is the region. */
#define LDT16_CS 0x07

static uint8_t *region;
static bool code16_ok;
static sigjmp_buf fault_jb;
static volatile sig_atomic_t fault_vec;
static uint8_t altstack[1 << 16];

bool host_has_code16(void)
{
    return code16_ok;
}

bool host_is_amd(void)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    /* "AuthenticAMD" in EBX, EDX, ECX */
    return __get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
}

bool host_gs_zero(void)
{
    unsigned long base = 1;
    return syscall(SYS_arch_prctl, ARCH_GET_GS, &base) == 0 && base == 0;
}

uint64_t host_region(void)
{
    return (uint64_t)(uintptr_t)region;
}

uint64_t host_insn_addr(bool compat)
{
    (void)compat;
    return (uint64_t)(uintptr_t)region + TEST_OFF;
}

struct emit {
    uint8_t *p;
};

static void e8(struct emit *e, unsigned b) { *e->p++ = (uint8_t)b; }
static void e32(struct emit *e, uint32_t v)
{
    memcpy(e->p, &v, 4);
    e->p += 4;
}

/* op reg, [rdi + disp32] with optional REX.W */
static void mem_rdi(struct emit *e, bool w, unsigned pfx, const uint8_t *op, unsigned oplen, unsigned reg, uint32_t disp)
{
    if (pfx)
        e8(e, pfx);
    unsigned rex = (w ? 8u : 0u) | (reg >= 8 ? 4u : 0u);
    if (rex)
        e8(e, 0x40 | rex);
    for (unsigned i = 0; i < oplen; i++)
        e8(e, op[i]);
    e8(e, 0x80 | ((reg & 7) << 3) | 7);  /* mod 10, rm = rdi */
    e32(e, disp);
}

#define OFF(f) ((uint32_t)offsetof(struct dstate, f))

static void emit_prologue(struct emit *e, bool compat, bool code16, bool stack)
{
    static const uint8_t mov_load[] = { 0x8b }, movdqu_load[] = { 0x0f, 0x6f };
    static const uint8_t ldmxcsr[] = { 0x0f, 0xae }, push_m[] = { 0xff };
    e8(e, 0x53);                       /* push rbx */
    e8(e, 0x55);                       /* push rbp */
    e8(e, 0x41); e8(e, 0x54);          /* push r12..r15 */
    e8(e, 0x41); e8(e, 0x55);
    e8(e, 0x41); e8(e, 0x56);
    e8(e, 0x41); e8(e, 0x57);
    e8(e, 0x57);                       /* push rdi (the struct) */
    for (unsigned x = 0; x < 16; x++)
        mem_rdi(e, false, 0xf3, movdqu_load, 2, x, OFF(xmm) + 16 * x);
    mem_rdi(e, false, 0, ldmxcsr, 2, 2, OFF(mxcsr));
    mem_rdi(e, false, 0, push_m, 1, 6, OFF(rflags));
    e8(e, 0x9d);                       /* popfq */
    for (unsigned r = 0; r < 16; r++)
        if (r != 4 && r != 7)
            mem_rdi(e, true, 0, mov_load, 1, r, OFF(regs) + 8 * r);
    if (stack) {
        /* mov [save], rsp ; mov rsp, [rdi + regs[4]] */
        e8(e, 0x48); e8(e, 0x89); e8(e, 0x24); e8(e, 0x25); e32(e, (uint32_t)(uintptr_t)(region + SAVE_OFF));
        mem_rdi(e, true, 0, mov_load, 1, 4, OFF(regs) + 8 * 4);
    }
    mem_rdi(e, true, 0, mov_load, 1, 7, OFF(regs) + 8 * 7);
    uint64_t here, target = (uint64_t)(uintptr_t)region + TEST_OFF;
    if (!compat) {
        e8(e, 0xe9);                   /* jmp rel32 to the test */
        here = (uint64_t)(uintptr_t)e->p + 4;
        e32(e, (uint32_t)(target - here));
        return;
    }
    uint32_t save = (uint32_t)(uintptr_t)(region + SAVE_OFF);
    uint16_t ds = USER_DS;
    memcpy(region + SAVE_OFF + 8, &ds, 2);
    /* mov ds, [save+8] ; mov es, [save+8] ; mov [save], rsp ; mov rsp, lowstack ;
     * push USER32_CS ; push target ; retfq */
    e8(e, 0x8e); e8(e, 0x1c); e8(e, 0x25); e32(e, save + 8);
    e8(e, 0x8e); e8(e, 0x04); e8(e, 0x25); e32(e, save + 8);
    e8(e, 0x48); e8(e, 0x89); e8(e, 0x24); e8(e, 0x25); e32(e, save);
    e8(e, 0x48); e8(e, 0xc7); e8(e, 0xc4); e32(e, (uint32_t)(uintptr_t)(region + LOWSTACK_OFF));
    e8(e, 0x6a); e8(e, code16 ? LDT16_CS : USER32_CS);
    e8(e, 0x68); e32(e, code16 ? TEST_OFF : (uint32_t)target);
    e8(e, 0x48); e8(e, 0xcb);
}

static void emit_epilogue(struct emit *e, bool compat, bool code16, bool stack)
{
    static const uint8_t mov_store[] = { 0x89 }, movdqu_store[] = { 0x0f, 0x7f };
    static const uint8_t mxcsr_op[] = { 0x0f, 0xae }, pop_m[] = { 0x8f }, fnstsw[] = { 0xdd };
    if (code16) {
        /* 16-bit code: push dword USER64_CS ; push dword lab64 ; o32 retf */
        e8(e, 0x66); e8(e, 0x6a); e8(e, USER64_CS);
        e8(e, 0x66); e8(e, 0x68);
        uint32_t lab64 = (uint32_t)(uintptr_t)(e->p + 4 + 2);
        e32(e, lab64);
        e8(e, 0x66); e8(e, 0xcb);
        e8(e, 0x48); e8(e, 0x8b); e8(e, 0x24); e8(e, 0x25);
        e32(e, (uint32_t)(uintptr_t)(region + SAVE_OFF));
    } else if (compat) {
        /* 32-bit code: push USER64_CS ; push lab64 ; retf */
        e8(e, 0x6a); e8(e, USER64_CS);
        e8(e, 0x68);
        uint32_t lab64 = (uint32_t)(uintptr_t)(e->p + 4 + 1);
        e32(e, lab64);
        e8(e, 0xcb);
        /* lab64: mov rsp, [save] */
        e8(e, 0x48); e8(e, 0x8b); e8(e, 0x24); e8(e, 0x25);
        e32(e, (uint32_t)(uintptr_t)(region + SAVE_OFF));
    }
    if (stack) {
        /* mov [save+16], rsp ; mov rsp, [save] */
        e8(e, 0x48); e8(e, 0x89); e8(e, 0x24); e8(e, 0x25); e32(e, (uint32_t)(uintptr_t)(region + SAVE_OFF + 16));
        e8(e, 0x48); e8(e, 0x8b); e8(e, 0x24); e8(e, 0x25); e32(e, (uint32_t)(uintptr_t)(region + SAVE_OFF));
    }
    e8(e, 0x57);                                   /* push rdi (test value) */
    e8(e, 0x48); e8(e, 0x8b); e8(e, 0x7c); e8(e, 0x24); e8(e, 0x08); /* mov rdi, [rsp+8] */
    for (unsigned r = 0; r < 16; r++)
        if (r != 4 && r != 7)
            mem_rdi(e, true, 0, mov_store, 1, r, OFF(regs) + 8 * r);
    e8(e, 0x9c);                                   /* pushfq */
    mem_rdi(e, false, 0, pop_m, 1, 0, OFF(rflags));
    mem_rdi(e, false, 0, pop_m, 1, 0, OFF(regs) + 8 * 7);
    for (unsigned x = 0; x < 16; x++)
        mem_rdi(e, false, 0xf3, movdqu_store, 2, x, OFF(xmm) + 16 * x);
    mem_rdi(e, false, 0, mxcsr_op, 2, 3, OFF(mxcsr));          /* stmxcsr */
    mem_rdi(e, false, 0, mxcsr_op, 2, 2, OFF(mxcsr_default));  /* ldmxcsr */
    mem_rdi(e, false, 0, fnstsw, 1, 7, OFF(fsw));
    e8(e, 0xdb); e8(e, 0xe3);                      /* fninit: the ABI's x87 state */
    e8(e, 0xfc);                                   /* cld */
    e8(e, 0x5f);                                   /* pop rdi */
    e8(e, 0x41); e8(e, 0x5f);
    e8(e, 0x41); e8(e, 0x5e);
    e8(e, 0x41); e8(e, 0x5d);
    e8(e, 0x41); e8(e, 0x5c);
    e8(e, 0x5d);
    e8(e, 0x5b);
    e8(e, 0xc3);
}

static void on_fault(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    (void)sig;
    (void)si;
    fault_vec = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
    siglongjmp(fault_jb, 1);
}

uint64_t host_init(void)
{
    /* Below 2 GiB so that 32-bit code and sign-extended imm32 reach it. */
    static const uint64_t candidates[] = { 0x40000000, 0x50000000, 0x60000000, 0x30000000,
                                           0x20000000, 0x70000000, 0x10000000 };
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        void *p = mmap((void *)(uintptr_t)candidates[i], REGION_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED)
            continue;
        if ((uintptr_t)p != candidates[i]) {
            munmap(p, REGION_SIZE);
            continue;
        }
        region = p;
        break;
    }
    if (!region)
        return 0;
    /* LDT: 16-bit code, base = the region, limit 64 KiB (SDM Vol. 3A 3.4.5) */
    struct user_desc d;
    memset(&d, 0, sizeof(d));
    d.entry_number = 0;
    d.base_addr = (unsigned)(uintptr_t)region;
    d.limit = 0xffff;
    d.seg_32bit = 0;
    d.contents = 2;   /* code, non-conforming */
    d.useable = 1;
    code16_ok = syscall(SYS_modify_ldt, 1, &d, sizeof(d)) == 0;
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    return (uint64_t)(uintptr_t)region;
}

typedef void (*host_fn)(struct dstate *);

void host_run(const struct tcase *tc, struct dresult *out)
{
    struct emit e = { region + CODE_OFF };
    bool stack = (tc->f->sp & S_STACK) != 0;
    emit_prologue(&e, tc->compat, tc->code16, stack);
    e.p = region + TEST_OFF;
    memcpy(e.p, tc->code, tc->len);
    e.p += tc->len;
    emit_epilogue(&e, tc->compat, tc->code16, stack);
    memcpy(region + WIN_OFF, tc->win, WIN_SIZE);

    out->st = tc->in;
    out->st.mxcsr_default = 0x1f80;
    out->fault = -1;
    out->lost = false;
    host_fn fn;
    void *entry = region + CODE_OFF;
    memcpy(&fn, &entry, sizeof(fn));
    if (sigsetjmp(fault_jb, 1) == 0) {
        fn(&out->st);
    } else {
        out->fault = fault_vec;
        /* The generated code did not reach its epilogue: restore the
         * x87/SSE state the C code expects. */
        __asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(out->st.mxcsr_default));
    }
    if (stack && out->fault < 0)
        memcpy(&out->st.regs[4], region + SAVE_OFF + 16, 8);
    memcpy(out->win, region + WIN_OFF, WIN_SIZE);
}
