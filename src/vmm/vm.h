/* The VM object (VirtualBox's VMM/VM): one PC with its RAM, devices, vCPUs
 * and host ends, and its state machine:
 *
 *   CREATED --vm_run--> RUNNING <--vm_pause/vm_resume--> PAUSED
 *   RUNNING --reset request--> RESETTING --> RUNNING
 *   any --power-off request, --no-reboot reset, signal--> OFF
 *
 * The front end fills struct vm_params, calls vm_create, then vm_run, which
 * returns the process exit status when the VM is OFF, then vm_destroy. */
#ifndef CAIXA_VMM_VM_H
#define CAIXA_VMM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIXA_MAX_CPUS 4
/* Drives: IDE has 4 places, the AHCI controller 6 ports, virtio one PCI
 * slot per disk. */
#define VM_MAX_DRIVES 12

struct vm;
struct cpu;
struct config;
struct evloop;

enum vm_state { VM_CREATED, VM_RUNNING, VM_PAUSED, VM_RESETTING, VM_OFF };

/* The storage controller a drive hangs on. */
enum vm_drive_bus { VM_BUS_IDE, VM_BUS_SATA, VM_BUS_VIRTIO };

struct vm_drive {
    const char *spec;         /* image file or iscsi:// URL; NULL: empty CD/DVD drive */
    enum vm_drive_bus bus;
    bool cdrom;               /* a CD/DVD drive (read-only medium) */
    bool read_only;
};

/* Boot devices, in the order the firmware tries them. */
enum vm_boot_dev { VM_BOOT_NONE, VM_BOOT_DISK, VM_BOOT_CDROM };
#define VM_MAX_BOOT 4

struct vm_params {
    uint64_t ram_size;        /* bytes, a multiple of 4 KiB, at least 1 MiB */
    const uint8_t *bios;      /* firmware image (copied) */
    size_t bios_size;
    const char *serial;       /* host end of COM1 ("serial0"): stdio, file:PATH, none */
    const char *debugcon;     /* host end of the 0x402 debug console, or NULL: no device */
    bool debug_exit;          /* add the debug-exit port 0xF4 */
    bool no_reboot;           /* a reset ends the VM with status 3 */
    int ncpus;                /* 1..CAIXA_MAX_CPUS, one host thread each; vCPU 0 is the BSP */
    void *trace;              /* FILE* for cpu->trace, or NULL */
    /* A boot loader that runs instead of the firmware: called at power-on
     * and at every machine reset, after the devices and vCPUs are reset,
     * with the platform lock held. NULL: the BIOS boots the machine. */
    void (*boot_fn)(void *opaque, struct vm *vm);
    void *boot_opaque;
    /* Drives in the order given; each becomes "drive<i>" (vm_blockdev). */
    struct vm_drive drives[VM_MAX_DRIVES];
    int ndrives;
    /* SeaBIOS's boot order; all VM_BOOT_NONE: its default (disks, then CDs). */
    enum vm_boot_dev boot[VM_MAX_BOOT];
};

/* Builds the machine. Returns NULL after printing one "caixa: ..." line. */
struct vm *vm_create(const struct vm_params *p);
/* Runs until the VM is OFF; returns the exit status (runtime/errors.h). */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

enum vm_state vm_get_state(struct vm *vm);
/* From a thread other than a vCPU: stop every vCPU at an instruction
 * boundary (and the virtual clock) / let them go again. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

int vm_cpu_count(struct vm *vm);
struct cpu *vm_cpu(struct vm *vm, int index);
struct evloop *vm_evloop(struct vm *vm);
/* The configuration tree's root: one child node per device. */
struct config *vm_config_root(struct vm *vm);
/* The platform lock (recursive), for front ends and the debugger. */
void vm_lock(struct vm *vm);
void vm_unlock(struct vm *vm);

/* cpu_run() returned CPU_EXIT_DEBUG: called on that vCPU's thread without
 * the platform lock; the vCPU resumes when it returns. */
typedef void (*vm_debug_fn)(void *opaque, struct cpu *cpu);
void vm_set_debug_handler(struct vm *vm, vm_debug_fn fn, void *opaque);
/* For the debugger: makes vCPU `index` leave cpu_run or its halt sleep and
 * look at its flags (e.g. cpu->debug_stop) again. Any thread. */
void vm_cpu_kick(struct vm *vm, int index);

#endif
