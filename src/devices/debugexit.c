/* Debug-exit port (as QEMU's isa-debug-exit, opt-in): a guest write of V
 * ends the VM with exit status (V << 1) | 1, so test programs report
 * pass/fail and a status of 0 can never come from the guest. */
#include <stdint.h>

#include "vmm/device.h"

#define DEBUGEXIT_DEFAULT_BASE 0xF4
#define DEBUGEXIT_DEFAULT_SIZE 1

struct debugexit {
    device *dev;
};

static void debugexit_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct debugexit *s = opaque;
    (void)off;
    uint64_t v = size >= 4 ? val : val & ((1u << (8 * size)) - 1);
    uint64_t status = (v << 1) | 1;
    vm_request_poweroff(s->dev->vm, (int)(status & 0x7FFFFFFF));
}

/* Reads are unassigned: the port table answers all ones. */
static const pio_ops debugexit_ops = { NULL, debugexit_write };

static int debugexit_create(device *dev)
{
    struct debugexit *s = dev->state;
    s->dev = dev;
    uint64_t base = cfg_get_u64(dev->cfg, "iobase", DEBUGEXIT_DEFAULT_BASE);
    uint64_t size = cfg_get_u64(dev->cfg, "size", DEBUGEXIT_DEFAULT_SIZE);
    if (size < 1 || size > 4 || base + size > 0x10000) {
        vm_error(dev->vm, "bad iobase 0x%llx / size %llu", (unsigned long long)base,
                 (unsigned long long)size);
        return -1;
    }
    return vm_register_pio(dev->vm, (uint16_t)base, (uint16_t)size, &debugexit_ops, s) < 0 ? -1 : 0;
}

static const device_desc debugexit_desc = {
    .name = "debugexit",
    .state_size = sizeof(struct debugexit),
    .create = debugexit_create,
};
DEVICE_REGISTER(debugexit_desc);
