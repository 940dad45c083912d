#include "runtime/spin.h"

#include "runtime/util.h"

/* Longer waits are not worth a core. 200 us is KVM's default halt_poll_ns;
 * it covers a 1 MiB read out of the host's page cache, whose completion a
 * sleeping vCPU would otherwise see tens of microseconds late (a wake-up on
 * a virtualised host): 50 us gave virtio 1 MiB reads 1.9 GB/s, 200 us 2.2. */
#define SPIN_MAX_NS 200000u
/* Where a window starts growing from after it shrank to nothing. */
#define SPIN_START_NS 4000u

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

bool spin_wait(const struct spin_window *w, bool (*done)(void *arg), void *arg)
{
    if (!w->ns)
        return false;
    uint64_t start = mono_ns();
    for (;;) {
        if (done(arg))
            return true;
        cpu_relax();
        if (mono_ns() - start >= w->ns)
            return done(arg);
    }
}

void spin_window_update(struct spin_window *w, uint64_t waited_ns)
{
    if (waited_ns <= SPIN_MAX_NS) {
        /* Within reach: the next wait spins long enough to catch it. */
        while (w->ns < waited_ns)
            w->ns = w->ns ? w->ns * 2 : SPIN_START_NS;
        if (w->ns > SPIN_MAX_NS)
            w->ns = SPIN_MAX_NS;
    } else {
        w->ns /= 2;
        if (w->ns < SPIN_START_NS)
            w->ns = 0;
    }
}
