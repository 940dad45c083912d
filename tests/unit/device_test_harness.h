/* A small harness for device unit tests: a real VM (vm_create builds the
 * whole PC, so every device sits at its usual ports) that is never run.
 * The test plays the guest: port I/O goes through the VM's port dispatch
 * with the platform lock held, as a vCPU's IN/OUT would.
 *
 * Time: the virtual clock stays paused while no vCPU runs, so readings are
 * exact. dt_advance() lets at least `ns` of virtual time pass (resume,
 * sleep, pause) and then runs the due timers as vCPU 0 would; tests derive
 * their expectations from dt_now() afterwards, never from the sleep.
 * Header-only so that each tests/unit/test_<device>.c stays one file. */
#ifndef CAIXA_TESTS_DEVICE_TEST_HARNESS_H
#define CAIXA_TESTS_DEVICE_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "vmm/clock.h"
#include "vmm/pio.h"
#include "vmm/vm.h"
#include "vmm/vm_int.h"
#include "vmm/vm_time.h"

#define DT_BIOS_SIZE (128u << 10)
#define DT_BIOS_FILL 0xA5         /* every byte of the dummy BIOS image */

struct dt_opts {
    uint64_t ram_size;            /* 0: 32 MiB */
    const char *serial;           /* NULL: none */
    const char *debugcon;         /* NULL: no debug console */
    bool debug_exit;
};

static inline struct vm *dt_vm_new_opts(const struct dt_opts *o)
{
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, DT_BIOS_FILL, sizeof bios);
    struct vm_params p = {
        .ram_size = o->ram_size ? o->ram_size : (32u << 20),
        .bios = bios,
        .bios_size = sizeof bios,
        .serial = o->serial ? o->serial : "none",
        .debugcon = o->debugcon,
        .debug_exit = o->debug_exit,
        .ncpus = 1,
    };
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    return vm;
}

static inline struct vm *dt_vm_new(void)
{
    struct dt_opts o = { 0 };
    return dt_vm_new_opts(&o);
}

static inline uint32_t dt_in(struct vm *vm, uint16_t port, unsigned size)
{
    vm_lock(vm);
    uint32_t v = pio_in(vm->pio, port, size);
    vm_unlock(vm);
    return v;
}

static inline void dt_out(struct vm *vm, uint16_t port, unsigned size, uint32_t val)
{
    vm_lock(vm);
    pio_out(vm->pio, port, size, val);
    vm_unlock(vm);
}

static inline uint8_t inb(struct vm *vm, uint16_t port) { return (uint8_t)dt_in(vm, port, 1); }
static inline uint16_t inw(struct vm *vm, uint16_t port) { return (uint16_t)dt_in(vm, port, 2); }
static inline uint32_t inl(struct vm *vm, uint16_t port) { return dt_in(vm, port, 4); }
static inline void outb(struct vm *vm, uint16_t port, uint8_t v) { dt_out(vm, port, 1, v); }
static inline void outw(struct vm *vm, uint16_t port, uint16_t v) { dt_out(vm, port, 2, v); }
static inline void outl(struct vm *vm, uint16_t port, uint32_t v) { dt_out(vm, port, 4, v); }

static inline uint64_t dt_now(struct vm *vm)
{
    return vm_clock_ns(vm);
}

static inline void dt_run_timers(struct vm *vm)
{
    vm_lock(vm);
    vm_time_run_timers(vm);
    vm_unlock(vm);
}

/* Lets at least ns of virtual time pass, then runs the due timers. */
static inline void dt_advance(struct vm *vm, uint64_t ns)
{
    uint64_t start = dt_now(vm);
    vclock_resume(vm->clock);
    for (;;) {
        /* One reading per round: time that passes between two readings
         * must not turn `left` negative (a sleep of centuries). */
        uint64_t done = vclock_now(vm->clock) - start;
        if (done >= ns)
            break;
        uint64_t left = ns - done;
        struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
        nanosleep(&ts, NULL);
    }
    vclock_pause(vm->clock);
    dt_run_timers(vm);
}

/* Level of an interrupt line as the devices left it. */
static inline int dt_gsi(struct vm *vm, unsigned gsi)
{
    return vm->irq_level[gsi];
}

/* vCPU 0's INTR pin and its INTA cycle. */
static inline int dt_intr(struct vm *vm)
{
    return atomic_load(&vm->vcpu[0].cpu.intr_line);
}

static inline int dt_inta(struct vm *vm)
{
    vm_lock(vm);
    int v = vm->intr_ack ? vm->intr_ack(vm->intr_opaque) : -1;
    vm_unlock(vm);
    return v;
}

/* PCI configuration mechanism #1, as a guest does it. */
static inline uint32_t dt_pci_read32(struct vm *vm, unsigned dev, unsigned fn, unsigned reg)
{
    outl(vm, 0xCF8, 0x80000000u | dev << 11 | fn << 8 | (reg & 0xFC));
    return inl(vm, 0xCFC);
}

#endif
