/* The VM object: creation, the state machine, requests, machine reset. */
#define _GNU_SOURCE /* pipe2 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "drivers/blockdev.h"
#include "drivers/chardev.h"
#include "runtime/errors.h"
#include "runtime/evloop.h"
#include "runtime/log.h"
#include "runtime/util.h"
#include "vmm/clock.h"
#include "vmm/config.h"
#include "vmm/pio.h"
#include "vmm/vm_int.h"
#include "vmm/vm_io.h"
#include "vmm/vm_time.h"

/* IA32_APIC_BASE.BSP (SDM Vol. 3A 10.4.4). */
#define APIC_BASE_BSP_FLAG (1ull << 8)

/* Signals that end the VM cleanly (status 128 + signal) while it runs. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};

static int add_chardev(struct vm *vm, const char *name, const char *spec, const char *flag)
{
    struct chardev *cd = chardev_open(spec);
    if (!cd) {
        if (errno == EINVAL)
            log_error("%s %s: expected stdio, file:PATH or none", flag, spec);
        else
            log_error("%s %s: %s", flag, spec, strerror(errno));
        return -1;
    }
    vm->chardevs[vm->n_chardevs].name = xstrdup(name);
    vm->chardevs[vm->n_chardevs].cd = cd;
    vm->n_chardevs++;
    return 0;
}

/* Drives do their I/O from creation on (a device may read its medium
 * before the VM runs, and the unit tests never run it). */
static int add_drives(struct vm *vm, const struct vm_params *p)
{
    if (p->ndrives < 0 || p->ndrives > VM_MAX_DRIVES) {
        log_error("at most %d drives", VM_MAX_DRIVES);
        return -1;
    }
    for (int i = 0; i < p->ndrives; i++) {
        const struct vm_drive *d = &p->drives[i];
        struct blockdev *bd = blockdev_open(d->spec, d->cdrom ? BLK_MEDIA_CDROM : BLK_MEDIA_DISK, d->read_only);
        if (!bd)
            return -1;
        vm->drives[vm->n_drives++] = bd;
        if (blockdev_attach(bd, &vm->lock) < 0) {
            log_error("%s: I/O thread: %s", d->spec ? d->spec : "CD/DVD drive", strerror(errno));
            return -1;
        }
    }
    return 0;
}

struct vm *vm_create(const struct vm_params *p)
{
    struct vm *vm = xcalloc(1, sizeof *vm);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&vm->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->cond, &ca);
    pthread_condattr_destroy(&ca);
    vm->state = VM_CREATED;
    vm->no_reboot = p->no_reboot;
    vm->boot_fn = p->boot_fn;
    vm->boot_opaque = p->boot_opaque;
    vm->a20 = true;
    vm->timerfd = vm->sigfd = -1;
    vm->ncpus = 1;
    vm->cfg = config_new("Devices");
    vm->pio = pio_table_new();
    vm->clock = vclock_new();
    vclock_pause(vm->clock); /* virtual time starts with vm_run */
    vclock_set_deadline_hook(vm->clock, vm_time_deadline_changed, vm);

    if (p->ncpus > CAIXA_MAX_CPUS) {
        log_error("at most %d vCPUs", CAIXA_MAX_CPUS);
        goto fail;
    }
    vm->ncpus = p->ncpus < 1 ? 1 : p->ncpus;
    if (physmem_init(&vm->mem, p->ram_size) < 0) {
        log_error("cannot get %llu MiB of guest RAM from the host: %s",
                  (unsigned long long)(p->ram_size >> 20), strerror(errno));
        goto fail;
    }
    if (physmem_set_bios(&vm->mem, p->bios, p->bios_size) < 0) {
        log_error("BIOS image of %zu bytes not usable: %s", p->bios_size, strerror(errno));
        goto fail;
    }
    vm->loop = evloop_new();
    if (!vm->loop) {
        log_error("event loop: %s", strerror(errno));
        goto fail;
    }
    if (add_chardev(vm, "serial0", p->serial ? p->serial : "stdio", "--serial") < 0)
        goto fail;
    if (p->debugcon && add_chardev(vm, "debugcon", p->debugcon, "--debugcon") < 0)
        goto fail;
    if (add_drives(vm, p) < 0)
        goto fail;

    for (int i = 0; i < vm->ncpus; i++) {
        struct vm_vcpu *v = &vm->vcpu[i];
        struct cpu_bus bus = vm_cpu_bus(vm, i);
        v->sipi_vector = -1;
        if (cpu_init(&v->cpu, i, &vm->mem, &bus) < 0) {
            log_error("vCPU %d: cannot initialise", i);
            goto fail;
        }
        v->vm = vm; /* also marks the vCPU as initialised for vm_destroy */
        v->cpu.ncpus = vm->ncpus; /* after cpu_init, which clears the struct */
        v->cpu.trace = p->trace;
    }
    if (pc_create_devices(vm, p) < 0)
        goto fail;
    /* Power-on is a machine reset: every device and CPU in its reset state. */
    pthread_mutex_lock(&vm->lock);
    vm_machine_reset(vm);
    pthread_mutex_unlock(&vm->lock);
    return vm;
fail:
    vm_destroy(vm);
    return NULL;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->loop)
        evloop_stop(vm->loop);
    /* Requests in flight complete into devices that still exist. */
    for (int i = 0; i < vm->n_drives; i++)
        blockdev_detach(vm->drives[i]);
    for (int i = vm->n_devices - 1; i >= 0; i--) {
        device *d = vm->devices[i];
        vm->cur_dev = d->desc->name;
        if (d->desc->destroy)
            d->desc->destroy(d);
        free(d->state);
        free(d);
    }
    vm->cur_dev = NULL;
    for (int i = 0; i < vm->ncpus; i++)
        if (vm->vcpu[i].vm)
            cpu_destroy(&vm->vcpu[i].cpu);
    for (int i = 0; i < vm->n_drives; i++)
        blockdev_close(vm->drives[i]);
    for (int i = 0; i < vm->n_chardevs; i++) {
        chardev_close(vm->chardevs[i].cd);
        free(vm->chardevs[i].name);
    }
    if (vm->timerfd >= 0)
        close(vm->timerfd);
    if (vm->sigfd >= 0)
        close(vm->sigfd);
    evloop_free(vm->loop);
    vclock_free(vm->clock);
    pio_table_free(vm->pio);
    config_free(vm->cfg);
    physmem_destroy(&vm->mem);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}

/* --- host events ---------------------------------------------------------- */

/* Stop signals reach the event loop through a pipe written by an
 * async-signal-safe handler, whichever thread the kernel picks (threads that
 * others started, such as the debugger's, need no signal mask). One VM per
 * process runs at a time, so the pipe is process-wide. */
static int sig_pipe[2] = {-1, -1};
static struct sigaction sig_saved[ARRAY_SIZE(stop_signals)];

static void stop_signal_handler(int sig)
{
    int e = errno;
    uint8_t b = (uint8_t)sig;
    ssize_t r = write(sig_pipe[1], &b, 1);
    (void)r; /* pipe full: a stop is pending already */
    errno = e;
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
    (void)events;
    struct vm *vm = opaque;
    uint8_t b;
    if (read(fd, &b, 1) == 1) {
        log_info("signal %u: powering off", b);
        vm_request_poweroff(vm, 128 + b);
    }
}

static int install_stop_signals(struct vm *vm)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    vm->sigfd = sig_pipe[0];
    struct sigaction sa = {.sa_handler = stop_signal_handler};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
        sigaction(stop_signals[i], &sa, &sig_saved[i]);
    return 0;
}

static void remove_stop_signals(void)
{
    if (sig_pipe[1] < 0)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
        sigaction(stop_signals[i], &sig_saved[i], NULL);
    close(sig_pipe[1]);
    sig_pipe[1] = -1;
    sig_pipe[0] = -1; /* closed by vm_destroy as vm->sigfd */
}

static int setup_host_events(struct vm *vm)
{
    signal(SIGPIPE, SIG_IGN); /* a closed output pipe is an EPIPE, not a death */
    vm->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (install_stop_signals(vm) < 0 || vm->timerfd < 0 ||
        evloop_add_fd(vm->loop, vm->sigfd, EPOLLIN, on_signal, vm) < 0 ||
        evloop_add_fd(vm->loop, vm->timerfd, EPOLLIN, vm_time_on_timerfd, vm) < 0) {
        log_error("host event setup: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < vm->n_chardevs; i++)
        if (chardev_attach(vm->chardevs[i].cd, vm->loop, &vm->lock) < 0) {
            log_error("%s: %s", vm->chardevs[i].name, strerror(errno));
            return -1;
        }
    return 0;
}

int vm_run(struct vm *vm)
{
    if (vm->state != VM_CREATED)
        return CAIXA_EXIT_FAILURE;
    int status = CAIXA_EXIT_FAILURE;
    if (setup_host_events(vm) < 0)
        goto out;
    if (evloop_start(vm->loop) < 0) {
        log_error("event loop thread: %s", strerror(errno));
        goto out;
    }
    pthread_mutex_lock(&vm->lock);
    vm->state = VM_RUNNING;
    vclock_resume(vm->clock);
    vm_time_deadline_changed(vm, vclock_deadline(vm->clock));
    pthread_mutex_unlock(&vm->lock);
    exec_start(vm); /* on failure it has asked for power-off */
    pthread_mutex_lock(&vm->lock);
    while (vm->state != VM_OFF)
        pthread_cond_wait(&vm->cond, &vm->lock);
    status = vm->exit_status;
    pthread_mutex_unlock(&vm->lock);
    exec_join(vm);
out:
    evloop_stop(vm->loop);
    for (int i = 0; i < vm->n_chardevs; i++)
        chardev_detach(vm->chardevs[i].cd);
    remove_stop_signals();
    return status;
}

/* --- state machine -------------------------------------------------------- */

enum vm_state vm_get_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

void vm_kick_all(struct vm *vm)
{
    for (int i = 0; i < vm->ncpus; i++) {
        atomic_store(&vm->vcpu[i].cpu.exit_request, 1);
        vm->vcpu[i].wake_seq++;
    }
    pthread_cond_broadcast(&vm->cond);
}

bool vm_requests_pending(struct vm *vm)
{
    return vm->req_reset || vm->req_poweroff || vm->state != VM_RUNNING;
}

static bool all_parked(struct vm *vm, const struct vm_vcpu *except)
{
    for (int i = 0; i < vm->ncpus; i++) {
        const struct vm_vcpu *v = &vm->vcpu[i];
        if (v != except && v->started && !v->parked)
            return false;
    }
    return true;
}

void vm_pause(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    while (vm->state == VM_RESETTING)
        pthread_cond_wait(&vm->cond, &vm->lock);
    if (vm->state == VM_RUNNING) {
        vm->state = VM_PAUSED;
        vm_kick_all(vm);
        while (!all_parked(vm, NULL) && vm->state == VM_PAUSED)
            pthread_cond_wait(&vm->cond, &vm->lock);
        vclock_pause(vm->clock);
    }
    pthread_mutex_unlock(&vm->lock);
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state == VM_PAUSED) {
        vm->state = VM_RUNNING;
        vclock_resume(vm->clock);
        vm_time_deadline_changed(vm, vclock_deadline(vm->clock));
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

/* Called by the vCPU thread that found req_reset (lock held once). */
void vm_do_reset_request(struct vm_vcpu *self)
{
    struct vm *vm = self->vm;
    vm->req_reset = false;
    if (vm->no_reboot) {
        log_error("%s; stopping (--no-reboot)", vm->reset_reason);
        if (!vm->req_poweroff) {
            vm->req_poweroff = true;
            vm->exit_status = CAIXA_EXIT_RESET;
        }
        return;
    }
    log_info("%s: resetting the machine", vm->reset_reason);
    vm->state = VM_RESETTING; /* from RUNNING: a paused VM does not get here */
    vm_kick_all(vm);
    while (!all_parked(vm, self))
        pthread_cond_wait(&vm->cond, &vm->lock);
    vm_machine_reset(vm);
    vm->state = VM_RUNNING;
    pthread_cond_broadcast(&vm->cond);
}

void vm_machine_reset(struct vm *vm)
{
    physmem_reset(&vm->mem);
    vm->a20 = true;
    for (int i = 0; i < vm->n_devices; i++) {
        device *d = vm->devices[i];
        vm->cur_dev = d->desc->name;
        if (d->desc->reset)
            d->desc->reset(d);
    }
    vm->cur_dev = NULL;
    for (int i = 0; i < vm->ncpus; i++) {
        struct cpu *c = &vm->vcpu[i].cpu;
        cpu_reset(c);
        c->s.a20_mask_bit = vm->a20 ? 0 : 1;
        /* The APs wait for INIT/SIPI (SDM Vol. 3A 8.4.1); vCPU 0 is the BSP. */
        struct vm_vcpu *v = &vm->vcpu[i];
        v->wait_sipi = i != 0;
        v->init_pending = false;
        v->sipi_vector = -1;
        atomic_store(&c->nmi_pending, 0);
    }
    if (vm->boot_fn)
        vm->boot_fn(vm->boot_opaque, vm);
}

/* INIT (SDM Vol. 3A 9.1): like RESET, but caches, MSRs, MTRRs and the
 * x87/SSE state stay as they were; the APIC keeps its base (10.4.7.3). The
 * BSP then runs from the reset vector, an AP waits for a SIPI. */
void vm_vcpu_do_init(struct vm_vcpu *v)
{
    struct cpu *c = &v->cpu;
    struct cpu_state *s = &c->s;
    struct cpu_state keep = *s;
    cpu_reset(c);
    s->fpu = keep.fpu;
    s->apic_base = keep.apic_base;
    s->pat = keep.pat;
    s->mtrr_def_type = keep.mtrr_def_type;
    memcpy(s->mtrr_fixed, keep.mtrr_fixed, sizeof s->mtrr_fixed);
    memcpy(s->mtrr_var, keep.mtrr_var, sizeof s->mtrr_var);
    s->misc_enable = keep.misc_enable;
    s->tsc_offset = keep.tsc_offset;
    s->tsc_aux = keep.tsc_aux;
    s->sysenter_cs = keep.sysenter_cs;
    s->sysenter_esp = keep.sysenter_esp;
    s->sysenter_eip = keep.sysenter_eip;
    s->star = keep.star;
    s->lstar = keep.lstar;
    s->cstar = keep.cstar;
    s->sfmask = keep.sfmask;
    s->kernel_gs_base = keep.kernel_gs_base;
    s->a20_mask_bit = v->vm->a20 ? 0 : 1;
    atomic_store(&c->nmi_pending, 0);
    bool bsp = s->apic_base & APIC_BASE_BSP_FLAG;
    v->wait_sipi = !bsp;
    if (bsp)
        v->sipi_vector = -1;
}

/* --- device.h: machine control ------------------------------------------ */

void vm_request_reset_why(struct vm *vm, const char *why)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->req_reset)
        snprintf(vm->reset_reason, sizeof vm->reset_reason, "%s", why);
    vm->req_reset = true;
    vm_kick_all(vm);
    pthread_mutex_unlock(&vm->lock);
}

void vm_request_reset(struct vm *vm)
{
    vm_request_reset_why(vm, "the guest reset the machine");
}

void vm_request_poweroff(struct vm *vm, int exit_status)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->req_poweroff) {
        vm->req_poweroff = true;
        vm->exit_status = exit_status;
    }
    vm_kick_all(vm);
    pthread_mutex_unlock(&vm->lock);
}

void vm_set_a20(struct vm *vm, bool enabled)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->a20 != enabled) {
        vm->a20 = enabled;
        for (int i = 0; i < vm->ncpus; i++)
            vm->vcpu[i].cpu.s.a20_mask_bit = enabled ? 0 : 1;
        /* Translations cached under the old mask are stale. */
        __atomic_add_fetch(&vm->mem.generation, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_unlock(&vm->lock);
}

bool vm_get_a20(struct vm *vm)
{
    return vm->a20;
}

uint64_t vm_ram_size(struct vm *vm)
{
    return vm->mem.ram_size;
}

struct physmem *vm_physmem(struct vm *vm)
{
    return &vm->mem;
}

/* --- accessors ------------------------------------------------------------ */

int vm_cpu_count(struct vm *vm)
{
    return vm->ncpus;
}

struct cpu *vm_cpu(struct vm *vm, int index)
{
    return index >= 0 && index < vm->ncpus ? &vm->vcpu[index].cpu : NULL;
}

struct evloop *vm_evloop(struct vm *vm)
{
    return vm->loop;
}

struct config *vm_config_root(struct vm *vm)
{
    return vm->cfg;
}

void vm_lock(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
}

void vm_unlock(struct vm *vm)
{
    pthread_mutex_unlock(&vm->lock);
}

void vm_set_debug_handler(struct vm *vm, vm_debug_fn fn, void *opaque)
{
    pthread_mutex_lock(&vm->lock);
    vm->debug_fn = fn;
    vm->debug_opaque = opaque;
    pthread_mutex_unlock(&vm->lock);
}

void vm_cpu_kick(struct vm *vm, int index)
{
    pthread_mutex_lock(&vm->lock);
    if (index >= 0 && index < vm->ncpus)
        vm_vcpu_kick_locked(&vm->vcpu[index]);
    pthread_mutex_unlock(&vm->lock);
}

struct chardev *vm_chardev(struct vm *vm, const char *name)
{
    for (int i = 0; vm && i < vm->n_chardevs; i++)
        if (strcmp(vm->chardevs[i].name, name) == 0)
            return vm->chardevs[i].cd;
    return NULL;
}

struct blockdev *vm_blockdev(struct vm *vm, const char *name)
{
    unsigned i;
    char end;
    if (!vm || sscanf(name, "drive%u%c", &i, &end) != 1 || i >= (unsigned)vm->n_drives)
        return NULL;
    return vm->drives[i];
}

/* --- messages ------------------------------------------------------------- */

void vm_error(struct vm *vm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_ERROR, vm ? vm->cur_dev : NULL, fmt, ap);
    va_end(ap);
}

void vm_log(struct vm *vm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_INFO, vm ? vm->cur_dev : NULL, fmt, ap);
    va_end(ap);
}
