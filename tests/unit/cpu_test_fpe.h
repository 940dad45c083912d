/* Running faulting floating-point code on the host: SIGFPE leaves through
 * siglongjmp with the FXSAVE image and RIP at the fault, which the x87/SSE
 * tests compare with caixa's #MF/#XM state. */
#ifndef CAIXA_TESTS_CPU_TEST_FPE_H
#define CAIXA_TESTS_CPU_TEST_FPE_H

#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#define TH_REG_RIP 16  /* REG_RIP of <sys/ucontext.h> (which wants _GNU_SOURCE) */

struct th_fpe {
    sigjmp_buf jb;
    struct _libc_fpstate fp;  /* FXSAVE image at the fault */
    uint64_t rip;
};
static struct th_fpe th_fpe_state;

static inline void th_fpe_handler(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    (void)sig;
    (void)si;
    th_fpe_state.fp = *uc->uc_mcontext.fpregs;
    th_fpe_state.rip = (uint64_t)uc->uc_mcontext.gregs[TH_REG_RIP];
    siglongjmp(th_fpe_state.jb, 1);
}

static inline void th_fpe_install(struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = th_fpe_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGFPE, &sa, old);
}

/* Back to the default host floating-point environment after a fault. */
static inline void th_fpe_reset_host(void)
{
    uint32_t mx = 0x1f80;
    __asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(mx) : "memory");
}

#endif
