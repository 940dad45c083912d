#include "vmm/vm_time.h"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm/clock.h"
#include "vmm/vm_int.h"

/* The host timer wakes vCPU 0 (the bootstrap processor) when a deadline
 * passes; any vCPU that is awake runs due timers (exec.c). */
#define TIMER_CPU 0

void vm_time_deadline_changed(void *opaque, uint64_t deadline)
{
    struct vm *vm = opaque;
    if (vm->timerfd < 0)
        return;
    struct itimerspec its = {0};
    if (deadline != VCLOCK_NO_DEADLINE && vm->state == VM_RUNNING) {
        uint64_t host = vclock_host_ns(vm->clock, deadline);
        if (host == 0)
            host = 1; /* 0 would disarm */
        its.it_value.tv_sec = (time_t)(host / 1000000000u);
        its.it_value.tv_nsec = (long)(host % 1000000000u);
    }
    timerfd_settime(vm->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
    /* A halted vCPU recomputes how long it may sleep. */
    pthread_cond_broadcast(&vm->cond);
}

void vm_time_on_timerfd(void *opaque, int fd, uint32_t events)
{
    (void)events;
    struct vm *vm = opaque;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&vm->lock);
    if (vm->state == VM_RUNNING) {
        atomic_store(&vm->vcpu[TIMER_CPU].cpu.exit_request, 1);
        vm->vcpu[TIMER_CPU].wake_seq++;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

void vm_time_run_timers(struct vm *vm)
{
    vclock_run_timers(vm->clock, vclock_now(vm->clock));
}

/* --- device.h: time ------------------------------------------------------- */

uint64_t vm_clock_ns(struct vm *vm)
{
    return vclock_now(vm->clock);
}

struct timer *vm_timer_new(struct vm *vm, timer_cb cb, void *opaque)
{
    return vclock_timer_new(vm->clock, cb, opaque);
}

void vm_timer_mod(struct timer *t, uint64_t expire_ns)
{
    vclock_timer_mod(t, expire_ns);
}

void vm_timer_del(struct timer *t)
{
    vclock_timer_del(t);
}

void vm_timer_free(struct timer *t)
{
    vclock_timer_free(t);
}

int64_t vm_host_time(struct vm *vm)
{
    (void)vm;
    return (int64_t)time(NULL);
}
