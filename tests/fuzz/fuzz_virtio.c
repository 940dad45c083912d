/* Fuzz target for the virtio PCI transport and virtio-blk's parsing of
 * guest memory: the input becomes a split virtqueue (descriptor table,
 * available ring) and the headers, indirect tables and buffers it points
 * at, then the queue is notified. Whatever the chains hold (loops, indexes
 * past the queue, nested indirect tables, wild addresses and lengths, any
 * request type), the host must not crash or hang: after each input the
 * device is reset and its status must read 0 within 5 s, which it does
 * once the requests in flight have completed.
 *
 * Input: u8 queue size (log2, 0..8), u8 flags (bit 0: offer indirect
 * descriptors), u16 available index, u8 notifies, then guest RAM from
 * 0x10000: descriptor table (4 KiB), available ring (4 KiB), the rest from
 * 0x13000 (headers, buffers, indirect tables). */
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
#define BAR4 0xF0000000u
#define VB_DEV 5
#define DESC 0x10000u
#define AVAIL 0x11000u
#define USED 0x12000u
#define MEM_MAX 0x20000u
#define STATUS 0x14
#define F_INDIRECT (1u << 28)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vm *vm;

static void bar_w(uint32_t off, uint64_t v, unsigned size)
{
    physmem_write(&vm->mem, BAR4 + off, v, size);
}

static uint64_t bar_r(uint32_t off, unsigned size)
{
    return physmem_read(&vm->mem, BAR4 + off, size);
}

static void setup(void)
{
    char path[] = "/tmp/caixa-fuzz-virtio-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
        abort();
    close(fd);
    static uint8_t bios[64 << 10];
    memset(bios, 0xF4, sizeof bios);
    struct vm_params p = {
        .ram_size = RAM_SIZE, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    p.drives[p.ndrives++] = (struct vm_drive){.spec = path, .bus = VM_BUS_VIRTIO};
    vm = vm_create(&p);
    unlink(path);
    if (!vm)
        abort();
    vm_lock(vm);
    pio_out(vm->pio, 0xCF8, 4, 0x80000000u | VB_DEV << 11 | 0x20);
    pio_out(vm->pio, 0xCFC, 4, BAR4);
    pio_out(vm->pio, 0xCF8, 4, 0x80000000u | VB_DEV << 11 | 0x04);
    pio_out(vm->pio, 0xCFC, 4, 0x0006);
    vm_unlock(vm);
}

/* Reset; the device reads 0 once nothing is in flight. */
static void drain(void)
{
    bar_w(STATUS, 0, 1);
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 5000; i++) {
        if (bar_r(STATUS, 1) == 0)
            return;
        nanosleep(&ms, NULL);
    }
    fprintf(stderr, "fuzz_virtio: the device never finished its reset\n");
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vm)
        setup();
    if (size < 5)
        return 0;
    unsigned qsize = 1u << (data[0] % 9);
    bool indirect = data[1] & 1;
    uint16_t avail_idx = (uint16_t)get_le(data + 2, 2);
    unsigned kicks = 1 + data[4] % 4;
    data += 5;
    size -= 5;
    static uint8_t ram[MEM_MAX];
    memset(ram, 0, sizeof ram);
    memcpy(ram, data, size < MEM_MAX ? size : MEM_MAX);
    put_le(&ram[AVAIL - DESC + 2], avail_idx, 2);
    memset(&ram[USED - DESC], 0, 0x1000);
    physmem_rw(&vm->mem, DESC, ram, sizeof ram, true);

    bar_w(STATUS, 1, 1);
    bar_w(STATUS, 3, 1);
    bar_w(0x00, 0, 4);
    uint32_t f0 = (uint32_t)bar_r(0x04, 4);
    bar_w(0x08, 0, 4);
    bar_w(0x0C, indirect ? f0 : f0 & ~F_INDIRECT, 4);
    bar_w(0x08, 1, 4);
    bar_w(0x0C, 1, 4);                 /* VERSION_1 */
    bar_w(STATUS, 11, 1);
    bar_w(0x16, 0, 2);
    bar_w(0x18, qsize, 2);
    bar_w(0x20, DESC, 8);
    bar_w(0x28, AVAIL, 8);
    bar_w(0x30, USED, 8);
    bar_w(0x1C, 1, 2);
    bar_w(STATUS, 15, 1);
    for (unsigned i = 0; i < kicks; i++)
        bar_w(0x3000, 0, 2);
    (void)bar_r(0x1000, 1);            /* ISR */
    drain();
    return 0;
}
