#include "vmm/exec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/errors.h"
#include "runtime/log.h"
#include "runtime/spin.h"
#include "runtime/util.h"
#include "vmm/clock.h"
#include "vmm/vm_int.h"
#include "vmm/vm_time.h"

/* The vCPU this thread runs: MMIO callbacks of per-CPU registers (the
 * local APIC page) ask which vCPU made the access. */
static _Thread_local struct vm_vcpu *cur_vcpu;

void exec_set_current(struct vm_vcpu *v)
{
    cur_vcpu = v;
}

int vm_current_cpu(struct vm *vm)
{
    struct vm_vcpu *v = cur_vcpu;
    return v && v->vm == vm ? v->cpu.index : -1;
}

void vm_vcpu_kick_locked(struct vm_vcpu *v)
{
    atomic_store(&v->cpu.exit_request, 1);
    v->wake_seq++;
    pthread_cond_broadcast(&v->vm->cond);
}

void vm_cpu_init(struct vm *vm, int cpu_index)
{
    if (cpu_index < 0 || cpu_index >= vm->ncpus)
        return;
    struct vm_vcpu *v = &vm->vcpu[cpu_index];
    pthread_mutex_lock(&vm->lock);
    v->init_pending = true;
    v->sipi_vector = -1; /* only a SIPI after this INIT starts it */
    vm_vcpu_kick_locked(v);
    pthread_mutex_unlock(&vm->lock);
}

void vm_cpu_sipi(struct vm *vm, int cpu_index, uint8_t vector)
{
    if (cpu_index < 0 || cpu_index >= vm->ncpus)
        return;
    struct vm_vcpu *v = &vm->vcpu[cpu_index];
    pthread_mutex_lock(&vm->lock);
    /* SDM Vol. 3A 8.4.4.1: a SIPI reaches only a processor that waits for
     * one; an INIT not yet acted on will make this one wait. */
    if ((v->wait_sipi || v->init_pending) && v->sipi_vector < 0) {
        v->sipi_vector = vector;
        vm_vcpu_kick_locked(v);
    }
    pthread_mutex_unlock(&vm->lock);
}

/* A SIPI with vector V starts the AP in real mode at V000:0000 with CS
 * selector V << 8 (SDM Vol. 3A 8.4.4.1, 10.6.1 "Start-Up"). */
static void start_at_sipi(struct vm_vcpu *v)
{
    struct cpu *c = &v->cpu;
    unsigned vec = (unsigned)v->sipi_vector & 0xffu;
    c->s.seg[S_CS].sel = (uint16_t)(vec << 8);
    c->s.seg[S_CS].base = (uint64_t)vec << 12;
    c->s.rip = 0;
    c->s.halted = false;
    v->sipi_vector = -1;
    v->wait_sipi = false;
    cpu_flush_all(c);
}

/* Lock held once. Returns false when the thread must end (VM OFF). */
static bool service(struct vm_vcpu *v)
{
    struct vm *vm = v->vm;
    for (;;) {
        atomic_store(&v->cpu.exit_request, 0);
        if (vm->req_poweroff || vm->state == VM_OFF) {
            vm->state = VM_OFF;
            pthread_cond_broadcast(&vm->cond);
            return false;
        }
        /* A paused VM stays still, even with a reset pending: whoever paused
         * it (the debugger) looks at the vCPUs until it resumes. */
        bool paused = vm->state == VM_PAUSED;
        if (!paused && vm->req_reset && v->cpu.index == 0) {
            vm_do_reset_request(v);
            continue;
        }
        if (paused || vm->state == VM_RESETTING || vm->req_reset) {
            v->parked = true;
            pthread_cond_broadcast(&vm->cond);
            pthread_cond_wait(&vm->cond, &vm->lock);
            v->parked = false;
            continue;
        }
        if (v->init_pending) {
            v->init_pending = false;
            vm_vcpu_do_init(v);
            continue;
        }
        if (v->wait_sipi) {
            if (v->sipi_vector >= 0) {
                start_at_sipi(v);
                continue;
            }
            /* Wait-for-SIPI: asleep until INIT, SIPI or a request. */
            v->sleeping = true;
            pthread_cond_wait(&vm->cond, &vm->lock);
            v->sleeping = false;
            continue;
        }
        /* Any vCPU that passes by runs what is due (the clock is shared). */
        vm_time_run_timers(vm);
        return true;
    }
}

static struct timespec host_ts(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
}

struct halt_poll {
    struct vm_vcpu *v;
    uint64_t seq;
};

/* Every event that ends a halt bumps wake_seq (under the lock: read here
 * without it) or sets a pending NMI. */
static bool halt_event(void *arg)
{
    const struct halt_poll *h = arg;
    return __atomic_load_n(&h->v->wake_seq, __ATOMIC_ACQUIRE) != h->seq ||
           atomic_load(&h->v->cpu.nmi_pending);
}

/* HLT: sleep until an event since `seq` (INTR rising, NMI, INIT, SIPI,
 * kick), a request, or (vCPU 0) the next timer deadline. The other vCPUs
 * need no deadline: vCPU 0, or the host timer that kicks it, runs every
 * due timer, and a timer that interrupts a vCPU wakes it. It polls first
 * (runtime/spin.h), the lock released; the host timer kicks vCPU 0 then
 * as well. Lock held once. */
static void halt_wait(struct vm_vcpu *v, uint64_t seq)
{
    struct vm *vm = v->vm;
    uint64_t start = mono_ns();
    struct halt_poll h = {v, seq};
    pthread_mutex_unlock(&vm->lock);
    bool caught = spin_wait(&v->halt_spin, halt_event, &h);
    pthread_mutex_lock(&vm->lock);
    if (caught) {
        spin_window_update(&v->halt_spin, mono_ns() - start);
        return;
    }
    v->sleeping = true;
    while (v->wake_seq == seq && !vm_requests_pending(vm) && !atomic_load(&v->cpu.nmi_pending)) {
        uint64_t dl = v->cpu.index == 0 ? vclock_deadline(vm->clock) : VCLOCK_NO_DEADLINE;
        if (dl == VCLOCK_NO_DEADLINE) {
            pthread_cond_wait(&vm->cond, &vm->lock);
            continue;
        }
        if (dl <= vclock_now(vm->clock))
            break;
        struct timespec ts = host_ts(vclock_host_ns(vm->clock, dl));
        pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
    }
    v->sleeping = false;
    spin_window_update(&v->halt_spin, mono_ns() - start);
}

static void request_shutdown_reset(struct vm *vm, struct cpu *c)
{
    char why[128];
    snprintf(why, sizeof why, "vCPU %d shut down (triple fault) at %04x:%016" PRIx64, c->index,
             c->s.seg[S_CS].sel, c->s.rip);
    vm_request_reset_why(vm, why);
}

static void *vcpu_thread(void *arg)
{
    struct vm_vcpu *v = arg;
    struct vm *vm = v->vm;
    struct cpu *c = &v->cpu;
    exec_set_current(v);
    pthread_mutex_lock(&vm->lock);
    for (;;) {
        if (!service(v))
            break;
        uint64_t seq = v->wake_seq;
        pthread_mutex_unlock(&vm->lock);

        enum cpu_exit why = cpu_run(c, EXEC_SLICE_INSNS);

        switch (why) {
        case CPU_EXIT_BUDGET:
        case CPU_EXIT_REQUEST:
            pthread_mutex_lock(&vm->lock);
            break;
        case CPU_EXIT_HALT:
            pthread_mutex_lock(&vm->lock);
            halt_wait(v, seq);
            break;
        case CPU_EXIT_RESET:
            pthread_mutex_lock(&vm->lock);
            request_shutdown_reset(vm, c);
            break;
        case CPU_EXIT_DEBUG: {
            pthread_mutex_lock(&vm->lock);
            vm_debug_fn fn = vm->debug_fn;
            void *op = vm->debug_opaque;
            pthread_mutex_unlock(&vm->lock);
            if (fn)
                fn(op, c);
            pthread_mutex_lock(&vm->lock);
            break;
        }
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

int exec_start(struct vm *vm)
{
    for (int i = 0; i < vm->ncpus; i++) {
        struct vm_vcpu *v = &vm->vcpu[i];
        /* Every vCPU gets its thread; the APs wait there for INIT/SIPI. */
        int e = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (e) {
            log_error("vCPU %d thread: %s", i, strerror(e));
            pthread_mutex_lock(&vm->lock);
            vm->req_poweroff = true;
            vm->exit_status = CAIXA_EXIT_FAILURE;
            vm_kick_all(vm);
            bool any = false;
            for (int k = 0; k < i; k++)
                any |= vm->vcpu[k].started;
            if (!any)
                vm->state = VM_OFF;
            pthread_mutex_unlock(&vm->lock);
            return -1;
        }
        pthread_mutex_lock(&vm->lock);
        v->started = true;
        pthread_mutex_unlock(&vm->lock);
    }
    return 0;
}

void exec_join(struct vm *vm)
{
    for (int i = 0; i < vm->ncpus; i++) {
        if (vm->vcpu[i].started) {
            pthread_join(vm->vcpu[i].thread, NULL);
            vm->vcpu[i].started = false;
        }
    }
}
