/* Fuzz target for the PIIX IDE controller and its ATA/ATAPI command layer:
 * every task-file register write, ATA command, ATAPI packet (CDB bytes
 * through the data port), PRD table and bus-master register value comes
 * from the guest, so arbitrary sequences of them must never crash caixa,
 * leave it using memory it does not own, or hang it.
 *
 * One VM (never run) with an ATA disk on the primary master and an ATAPI
 * CD on the secondary master, small image files made at start-up. Each
 * input is a list of 4-byte operations played as the guest: port writes
 * and reads, guest-RAM writes (PRD tables), PCI configuration writes,
 * short waits for the I/O thread; the controller is reset between inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/device.h"
#include "vmm/pio.h"
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#define DISK_SIZE (1u << 20)
#define CD_SECTORS 64
#define BM_BASE 0xC000
#define RAM_SIZE (16u << 20)
#define OP_SIZE 4
#define MAX_OPS 512
#define WAIT_POLLS 200                /* x 50 us: the I/O thread's turn */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vm *vm;
static device *ide;

/* The ports a guest reaches: both command blocks, both control ports, the
 * bus-master block. */
static const uint16_t ports[] = {
    0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x3F6,
    0x170, 0x171, 0x172, 0x173, 0x174, 0x175, 0x176, 0x177, 0x376,
    BM_BASE + 0, BM_BASE + 2, BM_BASE + 4, BM_BASE + 5, BM_BASE + 6, BM_BASE + 7,
    BM_BASE + 8, BM_BASE + 10, BM_BASE + 12, BM_BASE + 13, BM_BASE + 14, BM_BASE + 15,
};

static void out(uint16_t port, unsigned sz, uint32_t v)
{
    vm_lock(vm);
    pio_out(vm->pio, port, sz, v);
    vm_unlock(vm);
}

static uint32_t in(uint16_t port, unsigned sz)
{
    vm_lock(vm);
    uint32_t v = pio_in(vm->pio, port, sz);
    vm_unlock(vm);
    return v;
}

static void pci_write(uint8_t reg, unsigned sz, uint32_t v)
{
    vm_lock(vm);
    vm_pci_config_write(vm, 0, 0x09, reg, v, sz);
    vm_unlock(vm);
}

static char *temp_image(size_t size, bool iso)
{
    char *path = strdup("/tmp/caixa-fuzz-ide-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
        abort();
    if (iso) {
        static const uint8_t vd[] = {1, 'C', 'D', '0', '0', '1', 1};
        if (pwrite(fd, vd, sizeof vd, 16 * 2048) != (ssize_t)sizeof vd)
            abort();
    }
    close(fd);
    return path;
}

static void setup(void)
{
    static uint8_t bios[64 << 10];
    memset(bios, 0xF4, sizeof bios);   /* hlt */
    static char *disk, *cd;
    disk = temp_image(DISK_SIZE, false);
    cd = temp_image(CD_SECTORS * 2048, true);
    struct vm_params p = {
        .ram_size = RAM_SIZE, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    p.drives[0] = (struct vm_drive){.spec = disk, .bus = VM_BUS_IDE};
    p.drives[1] = (struct vm_drive){.spec = cd, .bus = VM_BUS_IDE, .cdrom = true, .read_only = true};
    p.ndrives = 2;
    vm = vm_create(&p);
    if (!vm)
        abort();
    /* The files stay open in the VM; their names can go. */
    unlink(disk);
    unlink(cd);
    for (int i = 0; i < vm->n_devices; i++)
        if (strcmp(vm->devices[i]->desc->name, "piix_ide") == 0)
            ide = vm->devices[i];
    if (!ide)
        abort();
}

/* Lets the I/O thread finish what the device queued. */
static void wait_io(void)
{
    for (int i = 0; i < WAIT_POLLS; i++) {
        if (!(in(0x3F6, 1) & 0x80) && !(in(0x376, 1) & 0x80))
            return;
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

static void reset_controller(void)
{
    vm_lock(vm);
    ide->desc->reset(ide);
    vm_unlock(vm);
    wait_io();            /* a reset waits for a request in flight */
    pci_write(0x20, 4, BM_BASE | 1);
    pci_write(0x04, 2, 0x0005);         /* I/O and bus master */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vm)
        setup();
    reset_controller();
    physmem *pm = vm_physmem(vm);
    size_t nops = size / OP_SIZE;
    if (nops > MAX_OPS)
        nops = MAX_OPS;
    for (size_t i = 0; i < nops; i++) {
        const uint8_t *o = data + i * OP_SIZE;
        uint16_t port = ports[o[1] % (sizeof ports / sizeof ports[0])];
        uint16_t data_port = (o[1] & 1) ? 0x170 : 0x1F0;
        switch (o[0] % 8) {
        case 0:
            out(port, 1, o[2]);
            break;
        case 1:
            out(data_port, 2, (uint32_t)(o[2] | o[3] << 8));
            break;
        case 2:
            (void)in(port, 1 + (o[2] & 1));
            break;
        case 3:
            (void)in(data_port, (o[2] & 1) ? 4 : 2);
            break;
        case 4: {
            /* Two bytes of guest RAM in the first 16 KiB (PRD tables, buffers). */
            uint8_t b[2] = {o[2], o[3]};
            physmem_rw(pm, (uint64_t)(o[0] >> 3) << 9 | (uint64_t)o[1] << 1, b, 2, true);
            break;
        }
        case 5:
            pci_write(o[1], 1, o[2]);
            break;
        case 6:
            wait_io();
            break;
        default:
            /* A whole command: count, LBA bytes, then the opcode. */
            out(data_port + 2, 1, o[2]);
            out(data_port + 3, 1, o[2] ^ o[3]);
            out(data_port + 7, 1, o[3]);
            break;
        }
    }
    wait_io();
    return 0;
}
