/* The device interface (VirtualBox's PDM device): what every file in
 * src/devices/ sees of the platform. A device never includes another
 * device's header.
 *
 * Locking: all device callbacks (port, MMIO, timer, chardev receive, PCI
 * config) run with the VM's platform lock held; a device never takes it
 * itself and never blocks inside a callback. */
#ifndef CAIXA_VMM_DEVICE_H
#define CAIXA_VMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

struct vm;
struct config;
struct timer;
struct chardev;
struct blockdev;

typedef struct device device;

typedef struct device_desc {
    const char *name;
    size_t state_size;                  /* bytes the VM zero-allocates as dev->state */
    /* Reads its keys from dev->cfg, registers ports/MMIO/PCI/IRQs. Returns 0
     * or -1 after vm_error() said what is wrong. */
    int (*create)(device *dev);
    void (*reset)(device *dev);         /* machine reset; may be NULL */
    void (*destroy)(device *dev);       /* frees what create allocated; may be NULL */
} device_desc;

struct device {
    const device_desc *desc;
    struct vm *vm;
    struct config *cfg;                 /* this device's config node */
    void *state;                        /* desc->state_size bytes, zeroed */
};

/* --- port I/O ---------------------------------------------------------- */
typedef struct pio_ops {
    /* off is relative to the range base; size is 1, 2 or 4. Unhandled
     * reads should return all ones of the size; a NULL read does that. */
    uint32_t (*read)(void *opaque, uint16_t off, unsigned size);
    void (*write)(void *opaque, uint16_t off, uint32_t val, unsigned size);
} pio_ops;

int vm_register_pio(struct vm *vm, uint16_t base, uint16_t len, const pio_ops *ops, void *opaque);
int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, const mmio_ops *ops, void *opaque);
/* The same for addresses the guest programs (BARs, PMBA): no error line,
 * since a guest that maps a range over another is not the user's error.
 * 0, or -1 with errno (EEXIST: taken). */
int vm_map_pio(struct vm *vm, uint16_t base, uint16_t len, const pio_ops *ops, void *opaque);
int vm_map_mmio(struct vm *vm, uint64_t base, uint64_t size, const mmio_ops *ops, void *opaque);
/* Remove what was registered at exactly that base and length (a moving
 * PCI BAR); nothing happens if nothing was. */
void vm_unregister_pio(struct vm *vm, uint16_t base, uint16_t len);
void vm_unregister_mmio(struct vm *vm, uint64_t base, uint64_t size);
struct physmem *vm_physmem(struct vm *vm);

/* --- interrupts -------------------------------------------------------- */
/* Interrupt lines are global system interrupts (GSI): 0-15 ISA, 16-23 PCI.
 * A line keeps its level; edge devices pulse it (1 then 0). */
void vm_set_irq(struct vm *vm, unsigned gsi, int level);
/* An interrupt controller listens to the lines. */
typedef void (*irq_sink_fn)(void *opaque, unsigned gsi, int level);
int vm_add_irq_sink(struct vm *vm, irq_sink_fn fn, void *opaque);
/* The controller that drives a vCPU's INTR pin and answers its INTA cycle. */
typedef int (*intr_ack_fn)(void *opaque);   /* returns vector or -1 */
void vm_set_intr_controller(struct vm *vm, intr_ack_fn ack, void *opaque);
/* The INTR pin of one vCPU (driven by its local APIC, or by the 8259 when
 * the machine has none); a rising level wakes the vCPU from HLT. */
void vm_set_cpu_intr(struct vm *vm, int cpu_index, int level);

/* --- the 8259's output and the local APICs ------------------------------
 * The 8259 (the controller set with vm_set_intr_controller) drives its INT
 * output with vm_set_extint: it reaches vCPU 0's LINT0 through the per-CPU
 * interrupt controller when there is one, else vCPU 0's INTR pin directly.
 * An ExtINT delivery makes the vCPU's INTA cycle go to the 8259
 * (vm_extint_ack). */
void vm_set_extint(struct vm *vm, int level);
int vm_extint_ack(struct vm *vm);                  /* vector or -1 */

/* APIC message delivery modes (SDM Vol. 3A 10.6.1, 82093AA 3.2.4). */
enum apic_delivery {
    APIC_DM_FIXED = 0,
    APIC_DM_LOWEST = 1,
    APIC_DM_SMI = 2,
    APIC_DM_NMI = 4,
    APIC_DM_INIT = 5,
    APIC_DM_STARTUP = 6,
    APIC_DM_EXTINT = 7,
};

/* An interrupt message to the local APICs (from the I/O APIC, MSI, HPET). */
struct apic_msg {
    uint8_t vector;
    uint8_t delivery;   /* enum apic_delivery */
    bool logical;       /* destination mode: logical (LDR/DFR) or physical (APIC ID) */
    bool level;         /* trigger mode: level (the APIC sets TMR, EOI is broadcast) */
    uint8_t dest;       /* APIC ID or logical destination; 0xFF: broadcast */
};

/* The per-CPU interrupt controller (all local APICs of the machine, one
 * provider). Every callback runs with the platform lock held; those that
 * take a cpu argument run on that vCPU's own thread, except deliver and
 * extint, which any thread may call. */
typedef struct cpu_intc_ops {
    int (*ack)(void *opaque, int cpu);                      /* INTA: vector or -1 */
    void (*extint)(void *opaque, int level);                /* the 8259's INT output */
    int (*deliver)(void *opaque, const struct apic_msg *m); /* returns APICs that accepted */
    /* MSRs the CPU does not own (IA32_TSC_DEADLINE); false: #GP. */
    bool (*msr_read)(void *opaque, int cpu, uint32_t idx, uint64_t *val);
    bool (*msr_write)(void *opaque, int cpu, uint32_t idx, uint64_t val);
    void (*apic_base)(void *opaque, int cpu, uint64_t val); /* IA32_APIC_BASE was written */
    unsigned (*get_cr8)(void *opaque, int cpu);             /* CR8 = TPR[7:4] */
    void (*set_cr8)(void *opaque, int cpu, unsigned cr8);
} cpu_intc_ops;
/* One per machine; also makes every vCPU report an APIC in CPUID. */
int vm_set_cpu_intc(struct vm *vm, const cpu_intc_ops *ops, void *opaque);
/* Sends a message on the APIC bus; returns how many APICs accepted it. */
int vm_apic_send(struct vm *vm, const struct apic_msg *m);
/* EOI of a level-triggered vector, broadcast by a local APIC to the I/O
 * APICs (which clear Remote IRR). */
typedef void (*apic_eoi_fn)(void *opaque, uint8_t vector);
int vm_add_apic_eoi_listener(struct vm *vm, apic_eoi_fn fn, void *opaque);
void vm_apic_eoi(struct vm *vm, uint8_t vector);

/* A local APIC's signals to its vCPU. INIT resets the vCPU (keeping what
 * SDM Vol. 3A 9.1 says INIT keeps); an AP then waits for a start-up IPI,
 * the BSP restarts at the reset vector. SIPI starts a waiting AP in real
 * mode at vector << 12; it is ignored by a vCPU that does not wait. */
void vm_cpu_nmi(struct vm *vm, int cpu_index);
void vm_cpu_init(struct vm *vm, int cpu_index);
void vm_cpu_sipi(struct vm *vm, int cpu_index, uint8_t vector);
/* The vCPU whose thread runs the current callback (an MMIO access to a
 * per-CPU register page), or -1 on any other thread. */
int vm_current_cpu(struct vm *vm);
/* Virtual time (vm_clock_ns) at which vCPU cpu_index's TSC reaches tsc;
 * now if it has already. On that vCPU's thread. */
uint64_t vm_cpu_tsc_to_ns(struct vm *vm, int cpu_index, uint64_t tsc);

/* --- PCI (bus 0) ------------------------------------------------------- */
typedef struct pci_ops {
    /* reg is a byte offset in the 256-byte config space; size 1, 2 or 4,
     * naturally aligned. */
    uint32_t (*config_read)(void *opaque, uint8_t reg, unsigned size);
    void (*config_write)(void *opaque, uint8_t reg, uint32_t val, unsigned size);
} pci_ops;
int vm_pci_register(struct vm *vm, uint8_t devfn, const pci_ops *ops, void *opaque);
/* Configuration mechanism #1 goes through these (host bridge). */
uint32_t vm_pci_config_read(struct vm *vm, uint8_t bus, uint8_t devfn, uint8_t reg, unsigned size);
void vm_pci_config_write(struct vm *vm, uint8_t bus, uint8_t devfn, uint8_t reg, uint32_t val, unsigned size);

/* --- PCI functions with a standard header --------------------------------
 * The configuration header of a type-0 function (PCI Local Bus Spec 3.0,
 * 6.1-6.2), its base address registers mapped into the port and memory
 * space while decoding is on, INTx through the PIIX wiring, and bus-master
 * DMA. A device embeds a pci_function, fills its ID, declares its BARs and
 * capabilities, then registers it; registers from 0x40 up that it makes
 * writable (wmask) it sees change through config_written. */
#define PCI_CFG_SPACE 256
#define PCI_NUM_BARS 6

/* Header registers (PCI 3.0, 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_PROG_IF 0x09
#define PCI_SUBCLASS 0x0A
#define PCI_CLASS 0x0B
#define PCI_CACHE_LINE 0x0C
#define PCI_LATENCY 0x0D
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2C
#define PCI_SUBSYS_ID 0x2E
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3C
#define PCI_INT_PIN 0x3D
#define PCI_DEVICE_REGS 0x40          /* first device-specific register */

#define PCI_CMD_IO 0x0001
#define PCI_CMD_MEM 0x0002
#define PCI_CMD_MASTER 0x0004
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_STS_INTX 0x0008           /* interrupt status (RO) */
#define PCI_STS_CAP_LIST 0x0010

/* PIIX wiring: INTx pin p (1 = INTA) of slot s goes to PIRQ (s + p - 2) mod 4,
 * and PIRQA-D are GSI 16-19 (the DSDT's _PRT says the same). */
#define PCI_PIRQ_GSI_BASE 16
#define PCI_INTX_GSI(slot, pin) (PCI_PIRQ_GSI_BASE + (((slot) + (pin) + 2) & 3))

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
    enum pci_bar_kind kind;
    uint64_t size;                  /* power of two: I/O >= 4, memory >= 16 */
    const pio_ops *pio;             /* PCI_BAR_IO */
    const mmio_ops *mmio;           /* PCI_BAR_MEM32/64 */
    void *opaque;
    bool mapped;                    /* decoded at `addr` now */
    uint64_t addr;
};

typedef struct pci_function pci_function;
struct pci_function {
    struct vm *vm;
    uint8_t devfn;
    uint8_t config[PCI_CFG_SPACE];
    uint8_t wmask[PCI_CFG_SPACE];   /* bits the guest may write */
    uint8_t w1c[PCI_CFG_SPACE];     /* bits a written 1 clears */
    struct pci_bar bar[PCI_NUM_BARS];
    uint8_t next_cap;               /* where pci_add_capability puts the next one */
    bool intx_level;
    /* After every configuration write, once the header's own effects
     * (BAR decoding, INTx) are done; may be NULL. */
    void (*config_written)(pci_function *f, uint8_t reg, unsigned size);
    void *opaque;                   /* for the device */
};

struct pci_id {
    uint16_t vendor, device, subsys_vendor, subsys;
    uint8_t revision;
    uint8_t class_code, subclass, prog_if;
    uint8_t int_pin;                /* 1-4: INTA-INTD; 0: no INTx */
};

/* Fills the header (all else zero, read-only); no BARs yet. */
void pci_function_init(pci_function *f, struct vm *vm, uint8_t devfn, const struct pci_id *id);
/* BAR n (BAR n+1 too for PCI_BAR_MEM64); ops are pio_ops or mmio_ops. */
void pci_function_bar(pci_function *f, unsigned n, enum pci_bar_kind kind, uint64_t size,
                      const void *ops, void *opaque);
/* Appends a capability of len bytes (id and next pointer included) from
 * 0x40 up; returns its offset, 0 when the space is full. */
uint8_t pci_add_capability(pci_function *f, uint8_t cap_id, uint8_t len);
int pci_function_register(pci_function *f);
/* Machine reset of the header: decoding off, BARs and interrupt line 0. */
void pci_function_reset(pci_function *f);
/* The function's INTx line (wired-OR with the others on its PIRQ). */
void pci_set_intx(pci_function *f, int level);
/* Bus-master DMA to/from guest RAM: false, and nothing done, when bus
 * mastering is off or any byte is not RAM. Any thread; no lock needed. */
bool pci_dma_read(pci_function *f, uint64_t addr, void *buf, size_t len);
bool pci_dma_write(pci_function *f, uint64_t addr, const void *buf, size_t len);

/* --- message signalled interrupts (pci_msi.c) -------------------------------
 * MSI and MSI-X capabilities (PCI Local Bus Spec 3.0, 6.8) on top of a
 * pci_function. A message is a memory write; one to the local APICs' range
 * (SDM Vol. 3A 10.11) becomes an apic_msg for vm_apic_send. The device
 * keeps its INTx line low while pci_msi_enabled / pci_msix_enabled (6.8.1.3)
 * and calls the capability's config_written from its own hook. Everything
 * runs with the platform lock held, as pci_set_intx does. */
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_MSIX 0x11
#define PCI_MSIX_MAX_VECTORS 32

/* Decodes a message to the local APICs (SDM Vol. 3A 10.11.1-2): false when
 * addr is not in the 0xFEExxxxx range or the delivery mode is reserved. */
bool pci_msi_decode(uint64_t addr, uint32_t data, struct apic_msg *m);
/* Sends one message as the function's bus-master write: to the APICs, or
 * to RAM for any other address; nothing while bus mastering is off. */
void pci_msi_send(pci_function *f, uint64_t addr, uint32_t data);

/* MSI with one message and a 64-bit address; returns the capability's
 * offset (0 when config space is full). Before pci_function_register. */
uint8_t pci_msi_init(pci_function *f);
bool pci_msi_enabled(const pci_function *f, uint8_t cap);
/* Sends the message when MSI is enabled. */
void pci_msi_notify(pci_function *f, uint8_t cap);
/* Machine reset: MSI disabled, address and data 0. */
void pci_msi_reset(pci_function *f, uint8_t cap);

/* MSI-X with its table (at 0) and Pending Bit Array in a 4 KiB memory BAR
 * of its own. */
struct pci_msix {
    pci_function *f;
    uint8_t cap;
    unsigned nvec;
    uint32_t table[PCI_MSIX_MAX_VECTORS][4];    /* address lo, hi, data, vector control */
    uint32_t pending;                           /* the PBA */
};
/* nvec 1..PCI_MSIX_MAX_VECTORS; declares BAR `bar`. 0 or -1 (no room). */
int pci_msix_init(struct pci_msix *m, pci_function *f, unsigned bar, unsigned nvec);
bool pci_msix_enabled(const struct pci_msix *m);
/* Sends vector vec, or sets its pending bit while it or the function is
 * masked (6.8.2.9); nothing when MSI-X is disabled or vec is out of range. */
void pci_msix_notify(struct pci_msix *m, unsigned vec);
/* From the device's config_written: an unmask sends what is pending. */
void pci_msix_config_written(struct pci_msix *m, uint8_t reg, unsigned size);
/* Machine reset: disabled, every vector masked, nothing pending. */
void pci_msix_reset(struct pci_msix *m);

/* --- machine control --------------------------------------------------- */
void vm_request_reset(struct vm *vm);              /* hard reset, or exit if --no-reboot */
void vm_request_poweroff(struct vm *vm, int exit_status);
void vm_set_a20(struct vm *vm, bool enabled);
bool vm_get_a20(struct vm *vm);
uint64_t vm_ram_size(struct vm *vm);

/* --- time -------------------------------------------------------------- */
typedef void (*timer_cb)(void *opaque);
uint64_t vm_clock_ns(struct vm *vm);               /* virtual time since power-on */
struct timer *vm_timer_new(struct vm *vm, timer_cb cb, void *opaque);
void vm_timer_mod(struct timer *t, uint64_t expire_ns);  /* absolute vm_clock_ns */
void vm_timer_del(struct timer *t);
void vm_timer_free(struct timer *t);
/* Host wall clock in seconds since the epoch (RTC start value). */
int64_t vm_host_time(struct vm *vm);

/* --- configuration (VirtualBox's CFGM) --------------------------------- */
uint64_t cfg_get_u64(struct config *cfg, const char *key, uint64_t def);
bool cfg_get_bool(struct config *cfg, const char *key, bool def);
const char *cfg_get_str(struct config *cfg, const char *key, const char *def);

/* --- host ends --------------------------------------------------------- */
/* Finds the host backend the user attached by name ("serial0"), or NULL. */
struct chardev *vm_chardev(struct vm *vm, const char *name);
/* The drive the user attached under that name ("drive0": drivers/blockdev.h),
 * or NULL. A storage controller's config names its drives. */
struct blockdev *vm_blockdev(struct vm *vm, const char *name);
/* Errors: one line for the user, as "caixa: <device>: <message>". */
void vm_error(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vm_log(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- the device registry --------------------------------------------------
 * Each device file ends with DEVICE_REGISTER(desc); the VM finds it by name. */
const device_desc *device_find(const char *name);
#define DEVICE_REGISTER(d)                                                     \
    __attribute__((used, section("caixa_devices"))) static const device_desc *const d##_reg_ = &(d)

#endif
