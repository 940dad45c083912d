/* Bochs/QEMU debug console: bytes written to the port (0x402 by default for
 * SeaBIOS, 0xE9 for Bochs BIOS) go to a host chardev. A read returns 0xE9,
 * which is how firmware detects that the port is there. */
#include <stdint.h>

#include "drivers/chardev.h"
#include "vmm/device.h"

#define DEBUGCON_DEFAULT_BASE 0x402
#define DEBUGCON_READBACK 0xE9

struct debugcon {
    struct chardev *cd;
};

static uint32_t debugcon_read(void *opaque, uint16_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return DEBUGCON_READBACK;
}

static void debugcon_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct debugcon *s = opaque;
    (void)off;
    (void)size;
    uint8_t c = (uint8_t)val;
    if (s->cd)
        chardev_write(s->cd, &c, 1);
}

static const pio_ops debugcon_ops = { debugcon_read, debugcon_write };

static int debugcon_create(device *dev)
{
    struct debugcon *s = dev->state;
    uint64_t base = cfg_get_u64(dev->cfg, "iobase", DEBUGCON_DEFAULT_BASE);
    if (base > 0xFFFF) {
        vm_error(dev->vm, "bad iobase 0x%llx", (unsigned long long)base);
        return -1;
    }
    const char *name = cfg_get_str(dev->cfg, "chardev", "debugcon");
    s->cd = name ? vm_chardev(dev->vm, name) : NULL;
    return vm_register_pio(dev->vm, (uint16_t)base, 1, &debugcon_ops, s) < 0 ? -1 : 0;
}

static const device_desc debugcon_desc = {
    .name = "debugcon",
    .state_size = sizeof(struct debugcon),
    .create = debugcon_create,
};
DEVICE_REGISTER(debugcon_desc);
