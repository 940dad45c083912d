/* Inside of the VM object: shared by the files of src/vmm only. */
#ifndef CAIXA_VMM_VM_INT_H
#define CAIXA_VMM_VM_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <stddef.h> /* cpu.h uses size_t */

#include "cpu/cpu.h"
#include "runtime/spin.h"
#include "vmm/device.h"
#include "vmm/memory.h"
#include "vmm/power_button.h"
#include "vmm/vm.h"

#define VM_MAX_GSI 24          /* 0-15 ISA, 16-23 PCI (IOAPIC inputs) */
#define VM_MAX_IRQ_SINKS 4
#define VM_MAX_DEVICES 64
#define VM_MAX_CHARDEVS 8
#define VM_PCI_DEVFNS 256

struct vm_vcpu {
    struct cpu cpu;
    struct vm *vm;
    pthread_t thread;
    bool started;
    bool parked;       /* stopped at the park point (pause, reset) */
    bool sleeping;     /* halted, waiting on vm->cond */
    uint64_t wake_seq; /* bumped on every event that ends a halt */
    struct spin_window halt_spin; /* how long a halt polls before sleeping */
    /* Start-up (SDM Vol. 3A 8.4): an AP waits for a SIPI after reset and
     * INIT; INIT and SIPI arrive from other threads and are acted on by
     * this vCPU's own thread between slices (exec.c). */
    bool wait_sipi;
    bool init_pending;
    int sipi_vector;   /* a SIPI arrived for a waiting vCPU: its vector, else -1 */
};

struct vm_mmio {
    struct vm *vm;
    const mmio_ops *ops;
    void *opaque;
    bool used;        /* false: free for reuse (ops stay valid for a racing vCPU) */
};

struct vm {
    /* The platform lock: held for every device callback, never while
     * guest code runs. Recursive, so a device callback that reaches an MMIO
     * region through physmem does not deadlock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* on CLOCK_MONOTONIC: halts, parking, OFF */
    enum vm_state state;
    bool no_reboot;

    physmem mem;
    struct vclock *clock;
    struct pio_table *pio;
    struct vm_mmio mmio[PHYSMEM_MAX_MMIO];
    int n_mmio;
    struct blockdev *drives[VM_MAX_DRIVES];
    int n_drives;
    struct {
        const pci_ops *ops;
        void *opaque;
        pci_function *fn;      /* a function with a standard header (INTx sharing) */
    } pci[VM_PCI_DEVFNS];

    uint8_t irq_level[VM_MAX_GSI];
    struct {
        irq_sink_fn fn;
        void *opaque;
    } sinks[VM_MAX_IRQ_SINKS];
    int n_sinks;
    intr_ack_fn intr_ack;      /* the 8259 */
    void *intr_opaque;
    int extint_level;          /* the 8259's INT output */
    const cpu_intc_ops *intc;  /* the local APICs, or NULL */
    void *intc_opaque;
    struct {
        apic_eoi_fn fn;
        void *opaque;
    } eoi_listeners[VM_MAX_IRQ_SINKS];
    int n_eoi_listeners;
    bool a20;

    struct vm_vcpu vcpu[CAIXA_MAX_CPUS];
    int ncpus;

    struct config *cfg;
    device *devices[VM_MAX_DEVICES];
    int n_devices;
    const char *cur_dev;       /* device whose create/reset/destroy runs, for messages */
    struct {
        char *name;
        struct chardev *cd;
    } chardevs[VM_MAX_CHARDEVS];
    int n_chardevs;

    struct evloop *loop;
    int timerfd, sigfd;

    /* Requests, under the lock. The first power-off status wins. */
    bool req_reset, req_poweroff;
    char reset_reason[160];
    int exit_status;

    void (*boot_fn)(void *opaque, struct vm *vm);
    void *boot_opaque;
    power_button_fn button_fn;          /* power_button.c; NULL: no button */
    void *button_opaque;

    vm_debug_fn debug_fn;
    void *debug_opaque;
};

/* vm.c */
void vm_kick_all(struct vm *vm);              /* lock held */
bool vm_requests_pending(struct vm *vm);      /* lock held */
void vm_machine_reset(struct vm *vm);         /* lock held, other vCPUs parked */
void vm_request_reset_why(struct vm *vm, const char *why);
void vm_do_reset_request(struct vm_vcpu *self); /* lock held once */
/* pc.c: the PC's device table. Returns 0, or -1 after a message. */
int pc_create_devices(struct vm *vm, const struct vm_params *p);
/* vm.c: creates one device from its descriptor name with its config node. */
int vm_add_device(struct vm *vm, const char *name, struct config *cfg);
/* exec.c */
int exec_start(struct vm *vm);
void exec_join(struct vm *vm);
/* The vCPU the calling thread runs (vm_current_cpu), NULL for none; the
 * vCPU threads set it, tests may too. */
void exec_set_current(struct vm_vcpu *v);
/* Makes v leave cpu_run or its sleep and look at its flags. Lock held. */
void vm_vcpu_kick_locked(struct vm_vcpu *v);
/* vm.c: the vCPU's state after INIT (SDM Vol. 3A 9.1), on its own thread
 * or while it is stopped; lock held. */
void vm_vcpu_do_init(struct vm_vcpu *v);

#endif
