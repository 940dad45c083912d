/* The hot-plug registers SeaBIOS's own ACPI tables describe. When the VMM
 * hands SeaBIOS no tables (no fw_cfg "etc/table-loader"), SeaBIOS builds a
 * FADT and DSDT for QEMU's PIIX4 PM, which has more than the datasheet: a
 * GPE0 block at 0xAFE0 (SeaBIOS src/fw/acpi.c: GPE0_BLK, 4 bytes), PCI
 * hot-plug status at 0xAE00 (PCIU, PCID: slots up and down) with the eject
 * register at 0xAE08 (B0EJ), and the CPU present bitmap at 0xAF00 (PRST,
 * 32 bytes, one bit per APIC ID). Ports that nobody decodes read all ones,
 * which tells the guest's ACPI that every GPE fired and every slot was
 * unplugged: Linux then removes PCI devices.
 *
 * caixa plugs nothing at run time: the GPE status bits have no source and
 * stay 0 (ACPI 6.4 4.8.4.1: status write-1-to-clear, enable read/write),
 * no slot is ever reported up or down, an eject request changes nothing,
 * and PRST shows the vCPUs the machine has. */
#include <stdint.h>
#include <string.h>

#include "runtime/util.h"
#include "vmm/device.h"

#define GPE0_BASE 0xAFE0
#define GPE0_LEN 4                  /* 2 status bytes, then 2 enable bytes */
#define GPE0_STS_LEN 2
#define PCIHP_BASE 0xAE00
#define PCIHP_LEN 0x14              /* PCIU, PCID, B0EJ, RMVC, SEL */
#define CPUHP_BASE 0xAF00
#define CPUHP_LEN 32                /* 256 APIC IDs */

struct piix4_hotplug {
    uint8_t gpe_en[GPE0_LEN - GPE0_STS_LEN];
    uint8_t present[CPUHP_LEN];
};

static uint32_t gpe_read(void *opaque, uint16_t off, unsigned size)
{
    struct piix4_hotplug *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && off + i < GPE0_LEN; i++)
        if (off + i >= GPE0_STS_LEN)
            v |= (uint32_t)s->gpe_en[off + i - GPE0_STS_LEN] << (8 * i);
    return v;   /* status: nothing ever raises a GPE */
}

static void gpe_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct piix4_hotplug *s = opaque;
    for (unsigned i = 0; i < size && off + i < GPE0_LEN; i++)
        if (off + i >= GPE0_STS_LEN)
            s->gpe_en[off + i - GPE0_STS_LEN] = (uint8_t)(val >> (8 * i));
}

static uint32_t pcihp_read(void *opaque, uint16_t off, unsigned size)
{
    (void)opaque, (void)off, (void)size;
    return 0;   /* no slot went up or down; nothing removable */
}

static void pcihp_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    (void)opaque, (void)off, (void)val, (void)size;   /* ejects: nothing is hot-pluggable */
}

static uint32_t cpuhp_read(void *opaque, uint16_t off, unsigned size)
{
    struct piix4_hotplug *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && off + i < CPUHP_LEN; i++)
        v |= (uint32_t)s->present[off + i] << (8 * i);
    return v;
}

static const pio_ops gpe_ops = {gpe_read, gpe_write};
static const pio_ops pcihp_ops = {pcihp_read, pcihp_write};
static const pio_ops cpuhp_ops = {cpuhp_read, NULL};

static void piix4_hotplug_reset(device *dev)
{
    struct piix4_hotplug *s = dev->state;
    memset(s->gpe_en, 0, sizeof s->gpe_en);
}

static int piix4_hotplug_create(device *dev)
{
    struct piix4_hotplug *s = dev->state;
    uint64_t cpus = cfg_get_u64(dev->cfg, "cpus", 1);
    for (uint64_t i = 0; i < cpus && i < CPUHP_LEN * 8; i++)
        s->present[i / 8] |= (uint8_t)(1u << (i % 8));
    if (vm_register_pio(dev->vm, GPE0_BASE, GPE0_LEN, &gpe_ops, s) < 0 ||
        vm_register_pio(dev->vm, PCIHP_BASE, PCIHP_LEN, &pcihp_ops, s) < 0 ||
        vm_register_pio(dev->vm, CPUHP_BASE, CPUHP_LEN, &cpuhp_ops, s) < 0)
        return -1;
    return 0;
}

static const device_desc piix4_hotplug_desc = {
    .name = "piix4_hotplug",
    .state_size = sizeof(struct piix4_hotplug),
    .create = piix4_hotplug_create,
    .reset = piix4_hotplug_reset,
};
DEVICE_REGISTER(piix4_hotplug_desc);
