/* PC/AT numeric coprocessor error reporting: with CR0.NE=0 the CPU signals
 * an unmasked x87 error on FERR#, which the chipset latches onto IRQ 13;
 * a write to port 0xF0 releases the latch (PIIX3 datasheet, "Coprocessor
 * Error" register F0h; Intel SDM Vol. 1 D.2.1). The VM drives the line up
 * from the CPU's FERR# callback; this device brings it down. */
#include <stdint.h>

#include "vmm/device.h"

#define COPROC_PORT 0xF0
#define FERR_IRQ 13

static void coproc_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    device *dev = opaque;
    (void)off;
    (void)val;
    (void)size;
    vm_set_irq(dev->vm, FERR_IRQ, 0);
}

/* Reads are unassigned: the port table answers all ones. */
static const pio_ops coproc_pio = { NULL, coproc_write };

static int coproc_create(device *dev)
{
    return vm_register_pio(dev->vm, COPROC_PORT, 1, &coproc_pio, dev);
}

static void coproc_reset(device *dev)
{
    vm_set_irq(dev->vm, FERR_IRQ, 0);
}

static const device_desc coproc_desc = {
    .name = "coproc",
    .state_size = 0,
    .create = coproc_create,
    .reset = coproc_reset,
    .destroy = NULL,
};
DEVICE_REGISTER(coproc_desc);
