/* The PC machine: which devices it has, in creation order, and the config
 * keys each one reads. Interrupt controllers come before the devices that
 * raise lines; the chipset before what sits behind it. */
#include "runtime/util.h"
#include "vmm/config.h"
#include "vmm/vm_int.h"

/* COM1: IBM PC/AT technical reference, I/O address map; IRQ 4. */
#define COM1_IOBASE 0x3f8
#define COM1_IRQ 4
/* Bochs/QEMU debug console port (SeaBIOS CONFIG_DEBUG_IO). */
#define DEBUGCON_IOBASE 0x402
/* QEMU isa-debug-exit default port. */
#define DEBUGEXIT_IOBASE 0xf4

struct pc_device {
    const char *name;
    /* NULL: always present. */
    bool (*wanted)(const struct vm_params *p);
    void (*configure)(struct config *cfg, const struct vm_params *p);
};

static bool want_debugcon(const struct vm_params *p)
{
    return p->debugcon != NULL;
}

static bool want_debugexit(const struct vm_params *p)
{
    return p->debug_exit;
}

static void cfg_uart(struct config *cfg, const struct vm_params *p)
{
    (void)p;
    config_set_str(cfg, "chardev", "serial0");
    config_set_u64(cfg, "iobase", COM1_IOBASE);
    config_set_u64(cfg, "irq", COM1_IRQ);
}

static void cfg_fw_cfg(struct config *cfg, const struct vm_params *p)
{
    config_set_u64(cfg, "ram_size", p->ram_size);
    config_set_u64(cfg, "cpus", (uint64_t)(p->ncpus < 1 ? 1 : p->ncpus));
}

static void cfg_debugcon(struct config *cfg, const struct vm_params *p)
{
    (void)p;
    config_set_str(cfg, "chardev", "debugcon");
    config_set_u64(cfg, "iobase", DEBUGCON_IOBASE);
}

static void cfg_debugexit(struct config *cfg, const struct vm_params *p)
{
    (void)p;
    config_set_u64(cfg, "iobase", DEBUGEXIT_IOBASE);
}

static void cfg_rtc(struct config *cfg, const struct vm_params *p)
{
    config_set_u64(cfg, "ram_size", p->ram_size);
    config_set_u64(cfg, "cpus", (uint64_t)(p->ncpus < 1 ? 1 : p->ncpus));
}

/* One local APIC per vCPU, timer on the core crystal (CPUID leaf 0x15). */
static void cfg_lapic(struct config *cfg, const struct vm_params *p)
{
    config_set_u64(cfg, "cpus", (uint64_t)(p->ncpus < 1 ? 1 : p->ncpus));
    config_set_u64(cfg, "bus_hz", CPU_CRYSTAL_HZ);
}

/* The I/O APIC's ID follows the local APICs' (0..ncpus-1), as in the MADT. */
static void cfg_ioapic(struct config *cfg, const struct vm_params *p)
{
    config_set_u64(cfg, "id", (uint64_t)(p->ncpus < 1 ? 1 : p->ncpus));
}

static const struct pc_device pc_devices[] = {
    {"i440fx", NULL, NULL},
    {"piix3", NULL, NULL},
    {"pic", NULL, NULL},
    {"lapic", NULL, cfg_lapic},
    {"ioapic", NULL, cfg_ioapic},
    {"pit", NULL, NULL},
    {"rtc", NULL, cfg_rtc},
    {"uart", NULL, cfg_uart},
    {"port92", NULL, NULL},
    {"i8042", NULL, NULL},
    {"coproc", NULL, NULL},
    {"fw_cfg", NULL, cfg_fw_cfg},
    {"piix4_pm", NULL, NULL},
    {"hpet", NULL, NULL},
    {"debugcon", want_debugcon, cfg_debugcon},
    {"debugexit", want_debugexit, cfg_debugexit},
};

int pc_create_devices(struct vm *vm, const struct vm_params *p)
{
    for (size_t i = 0; i < ARRAY_SIZE(pc_devices); i++) {
        const struct pc_device *d = &pc_devices[i];
        if (d->wanted && !d->wanted(p))
            continue;
        struct config *cfg = config_child(vm->cfg, d->name);
        if (d->configure)
            d->configure(cfg, p);
        if (vm_add_device(vm, d->name, cfg) < 0)
            return -1;
    }
    return 0;
}
