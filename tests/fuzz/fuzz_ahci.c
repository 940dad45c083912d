/* Fuzz target for the AHCI controller's parsing of guest memory: the input
 * becomes a command list, command tables (H2D FIS, PRDT) and data in guest
 * RAM, a few ABAR register writes, then PxSACT and PxCI of ports 0 and 1,
 * which hold a 1 MiB CD/DVD image (ATAPI) and a 1 MiB raw disk, both
 * running the same command list. Whatever the guest wrote (wild PRDT addresses and
 * lengths, bad FIS, odd byte counts, any command), the host must not crash
 * or hang: after each input the port is stopped and must go idle (PxCMD.CR
 * clear) within 5 s, the requests in flight completed.
 *
 * Input: u32 PxSACT, u32 PxCI, u8 n, n x (u16 ABAR offset, u32 value), then
 * the bytes of guest RAM from 0x10000. A command header's CTBA is folded
 * into that region unless its bit 0 (reserved) is set, so that tables are
 * found without guessing 25-bit addresses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/util.h"
#include "vmm/pio.h"
#include "vmm/vm.h"
#include "vmm/vm_int.h"

#define RAM_SIZE (32u << 20)
#define ABAR 0xF0000000u
#define AHCI_DEV 13
#define MEM_BASE 0x10000u
#define MEM_MAX 0x10000u               /* input bytes of RAM beyond this are ignored */
#define FB_ADDR 0x30000u
#define PORT0 0x100u
#define PORTS 6
#define SLOTS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vm *vm;

static void abar_w(uint32_t reg, uint32_t v)
{
    physmem_write(&vm->mem, ABAR + reg, v, 4);
}

static uint32_t abar_r(uint32_t reg)
{
    return (uint32_t)physmem_read(&vm->mem, ABAR + reg, 4);
}

static void setup(void)
{
    char path[] = "/tmp/caixa-fuzz-ahci-XXXXXX", cd[] = "/tmp/caixa-fuzz-ahci-cd-XXXXXX";
    int fd = mkstemp(path), cfd = mkstemp(cd);
    if (fd < 0 || cfd < 0 || ftruncate(fd, 1 << 20) < 0 || ftruncate(cfd, 1 << 20) < 0)
        abort();
    close(fd);
    close(cfd);
    static uint8_t bios[64 << 10];
    memset(bios, 0xF4, sizeof bios);
    struct vm_params p = {
        .ram_size = RAM_SIZE, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    p.drives[p.ndrives++] = (struct vm_drive){.spec = path, .bus = VM_BUS_SATA};
    p.drives[p.ndrives++] = (struct vm_drive){.spec = cd, .bus = VM_BUS_SATA, .cdrom = true, .read_only = true};
    vm = vm_create(&p);
    unlink(path);                      /* the drives keep them open */
    unlink(cd);
    if (!vm)
        abort();
    vm_lock(vm);
    pio_out(vm->pio, 0xCF8, 4, 0x80000000u | AHCI_DEV << 11 | 0x24);
    pio_out(vm->pio, 0xCFC, 4, ABAR);
    pio_out(vm->pio, 0xCF8, 4, 0x80000000u | AHCI_DEV << 11 | 0x04);
    pio_out(vm->pio, 0xCFC, 4, 0x0006);
    vm_unlock(vm);
}

/* Every port stopped; the requests in flight must finish. */
static void drain(void)
{
    for (unsigned p = 0; p < PORTS; p++)
        abar_w(PORT0 + 0x80 * p + 0x18, 0);
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 5000; i++) {
        bool busy = false;
        for (unsigned p = 0; p < PORTS; p++)
            busy |= (abar_r(PORT0 + 0x80 * p + 0x18) & 0x8000) != 0;
        if (!busy)
            return;
        nanosleep(&ms, NULL);
    }
    fprintf(stderr, "fuzz_ahci: a port stayed busy\n");
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vm)
        setup();
    if (size < 9)
        return 0;
    uint32_t sact = (uint32_t)get_le(data, 4), ci = (uint32_t)get_le(data + 4, 4);
    unsigned nops = data[8];
    data += 9;
    size -= 9;
    if (size < nops * 6u)
        nops = (unsigned)(size / 6);
    const uint8_t *ops = data;
    data += nops * 6u;
    size -= nops * 6u;

    abar_w(0x04, 1);                   /* GHC.HR */
    abar_w(0x04, 2);                   /* GHC.IE */
    uint8_t ram[MEM_MAX];
    size_t n = size < MEM_MAX ? size : MEM_MAX;
    memset(ram, 0, sizeof ram);
    memcpy(ram, data, n);
    for (unsigned s = 0; s < SLOTS; s++) {
        uint8_t *ctba = &ram[s * 32 + 8];
        uint64_t a = get_le(ctba, 8);
        if (!(a & 1))
            put_le(ctba, MEM_BASE + (a & (MEM_MAX - 1) & ~0x7Full), 8);
    }
    physmem_rw(&vm->mem, MEM_BASE, ram, sizeof ram, true);
    for (unsigned p = 0; p < 2; p++) {
        abar_w(PORT0 + 0x80 * p + 0x00, MEM_BASE);
        abar_w(PORT0 + 0x80 * p + 0x08, FB_ADDR + 0x100 * p);
        abar_w(PORT0 + 0x80 * p + 0x14, 0xFFFFFFFF);
        abar_w(PORT0 + 0x80 * p + 0x18, 0x11);    /* FRE, ST */
    }
    for (unsigned i = 0; i < nops; i++) {
        uint32_t reg = (uint32_t)get_le(ops + 6 * i, 2) & 0x7FC;
        abar_w(reg, (uint32_t)get_le(ops + 6 * i + 2, 4));
    }
    for (unsigned p = 0; p < 2; p++) {
        abar_w(PORT0 + 0x80 * p + 0x34, sact);
        abar_w(PORT0 + 0x80 * p + 0x38, ci);
    }
    drain();
    return 0;
}
