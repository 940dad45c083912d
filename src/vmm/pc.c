/* The PC machine: which devices it has, in creation order, and the config
 * keys each one reads. Interrupt controllers come before the devices that
 * raise lines; the chipset before what sits behind it. */
#include <stdio.h>
#include <string.h>

#include "runtime/log.h"
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

/* Storage controllers' places on PCI bus 0: the PIIX3 IDE function
 * (00:01.1), AHCI at 00:0d.0 (where VirtualBox puts it), virtio-blk disks
 * from 00:05.0 up. */
#define IDE_DEVFN 0x09
#define AHCI_DEVFN 0x68
#define VIRTIO_BLK_FIRST_SLOT 5
#define IDE_PLACES 4             /* primary/secondary channel, master/slave */
#define AHCI_PORTS 6
#define MAX_VIRTIO_BLK 6

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

/* Without a display SeaBIOS talks on COM1 (its "etc/sercon-port" file). */
static void cfg_fw_cfg(struct config *cfg, const struct vm_params *p)
{
    config_set_u64(cfg, "sercon_port", COM1_IOBASE);
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

static void cfg_cpus(struct config *cfg, const struct vm_params *p)
{
    config_set_u64(cfg, "cpus", (uint64_t)(p->ncpus < 1 ? 1 : p->ncpus));
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

/* Where each drive sits: an IDE place (channel * 2 + unit), an AHCI port or
 * a virtio PCI slot. IDE CD/DVD drives go to the secondary master first, as
 * in VirtualBox and QEMU; IDE disks fill the primary channel first; AHCI
 * ports and virtio slots follow the command line. */
struct drive_place {
    enum vm_drive_bus bus;
    unsigned pos;
};

static int place_drives(const struct vm_params *p, struct drive_place *pl)
{
    static const unsigned ide_cd_order[IDE_PLACES] = {2, 3, 1, 0};
    static const unsigned ide_disk_order[IDE_PLACES] = {0, 1, 3, 2};
    bool ide_used[IDE_PLACES] = {false};
    unsigned next_sata = 0, next_virtio = 0;
    for (int pass = 0; pass < 2; pass++) {      /* IDE CDs first, so they get their place */
        for (int i = 0; i < p->ndrives; i++) {
            const struct vm_drive *d = &p->drives[i];
            if ((d->cdrom && d->bus == VM_BUS_IDE) != (pass == 0))
                continue;
            pl[i].bus = d->bus;
            if (d->bus == VM_BUS_IDE) {
                const unsigned *order = d->cdrom ? ide_cd_order : ide_disk_order;
                unsigned k = 0;
                while (k < IDE_PLACES && ide_used[order[k]])
                    k++;
                if (k == IDE_PLACES) {
                    log_error("at most %d IDE drives", IDE_PLACES);
                    return -1;
                }
                ide_used[order[k]] = true;
                pl[i].pos = order[k];
            } else if (d->bus == VM_BUS_SATA) {
                if (next_sata == AHCI_PORTS) {
                    log_error("at most %d SATA drives", AHCI_PORTS);
                    return -1;
                }
                pl[i].pos = next_sata++;
            } else {
                if (d->cdrom) {
                    log_error("a CD/DVD drive cannot be a virtio disk: use if=ide or if=sata");
                    return -1;
                }
                if (next_virtio == MAX_VIRTIO_BLK) {
                    log_error("at most %d virtio disks", MAX_VIRTIO_BLK);
                    return -1;
                }
                pl[i].pos = next_virtio++;
            }
        }
    }
    return 0;
}

/* A drive's OpenFirmware path as SeaBIOS matches it against its "bootorder"
 * file (SeaBIOS src/boot.c: bootprio_find_ata_device for IDE and AHCI,
 * bootprio_find_pci_device for virtio). */
static void drive_fw_path(const struct drive_place *pl, char *buf, size_t len)
{
    switch (pl->bus) {
    case VM_BUS_IDE:
        snprintf(buf, len, "/pci@i0cf8/*@%x,%x/drive@%x/disk@%x", IDE_DEVFN >> 3, IDE_DEVFN & 7,
                 pl->pos / 2, pl->pos % 2);
        break;
    case VM_BUS_SATA:
        snprintf(buf, len, "/pci@i0cf8/*@%x/drive@%x/disk@0", AHCI_DEVFN >> 3, pl->pos);
        break;
    case VM_BUS_VIRTIO:
        snprintf(buf, len, "/pci@i0cf8/*@%x", VIRTIO_BLK_FIRST_SLOT + pl->pos);
        break;
    }
}

/* The "bootorder" text: for each --boot entry, the drives of that kind in
 * the order given. */
static void build_bootorder(const struct vm_params *p, const struct drive_place *pl, char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (int b = 0; b < VM_MAX_BOOT; b++) {
        if (p->boot[b] == VM_BOOT_NONE)
            continue;
        for (int i = 0; i < p->ndrives; i++) {
            if (p->drives[i].cdrom != (p->boot[b] == VM_BOOT_CDROM))
                continue;
            char path[96];
            drive_fw_path(&pl[i], path, sizeof path);
            int w = snprintf(out + n, len - n, "%s\n", path);
            if (w < 0 || (size_t)w >= len - n)
                return;
            n += (size_t)w;
        }
    }
}

static int add_storage(struct vm *vm, const struct vm_params *p, const struct drive_place *pl)
{
    char name[24], key[16];
    /* The IDE controller is always there, as on a real PIIX3 board. */
    struct config *ide = config_child(vm->cfg, "piix_ide"), *ahci = NULL;
    config_set_u64(ide, "devfn", IDE_DEVFN);
    for (int i = 0; i < p->ndrives; i++) {
        snprintf(name, sizeof name, "drive%d", i);
        if (pl[i].bus == VM_BUS_IDE) {
            snprintf(key, sizeof key, "drive%u", pl[i].pos);
            config_set_str(ide, key, name);
        } else if (pl[i].bus == VM_BUS_SATA) {
            if (!ahci) {
                ahci = config_child(vm->cfg, "ahci");
                config_set_u64(ahci, "devfn", AHCI_DEVFN);
            }
            snprintf(key, sizeof key, "port%u", pl[i].pos);
            config_set_str(ahci, key, name);
        }
    }
    if (vm_add_device(vm, "piix_ide", ide) < 0 || (ahci && vm_add_device(vm, "ahci", ahci) < 0))
        return -1;
    for (int i = 0; i < p->ndrives; i++) {
        if (pl[i].bus != VM_BUS_VIRTIO)
            continue;
        snprintf(key, sizeof key, "virtio_blk%u", pl[i].pos);
        struct config *cfg = config_child(vm->cfg, key);
        snprintf(name, sizeof name, "drive%d", i);
        config_set_u64(cfg, "devfn", (uint64_t)(VIRTIO_BLK_FIRST_SLOT + pl[i].pos) << 3);
        config_set_str(cfg, "drive", name);
        if (vm_add_device(vm, "virtio_blk", cfg) < 0)
            return -1;
    }
    return 0;
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
    {"piix4_hotplug", NULL, cfg_cpus},
    {"hpet", NULL, NULL},
    {"debugcon", want_debugcon, cfg_debugcon},
    {"debugexit", want_debugexit, cfg_debugexit},
};

int pc_create_devices(struct vm *vm, const struct vm_params *p)
{
    struct drive_place pl[VM_MAX_DRIVES];
    if (place_drives(p, pl) < 0)
        return -1;
    char order[VM_MAX_DRIVES * 100];
    build_bootorder(p, pl, order, sizeof order);
    config_set_str(config_child(vm->cfg, "fw_cfg"), "bootorder", order);
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
    return add_storage(vm, p, pl);
}
