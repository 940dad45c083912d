/* System control port A at 0x92 (PS/2 "fast A20 and reset" port, in the
 * PIIX3 as port 92h): bit 1 gates A20, a 0->1 transition of bit 0 resets
 * the machine.
 * Reference: Intel 82371SB PIIX3 datasheet 4.7.x "Port 92 register";
 * IBM PS/2 hardware interface technical reference (system control port A). */
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"

#define PORT92_BASE 0x92
#define P92_FAST_RESET 0x01
#define P92_A20 0x02
#define P92_KEEP 0xFC          /* other bits read back as written */

struct port92 {
    device *dev;
    uint8_t val;
};

static uint32_t port92_read(void *opaque, uint16_t off, unsigned size)
{
    struct port92 *s = opaque;
    (void)off;
    (void)size;
    return (uint32_t)((s->val & (P92_KEEP | P92_FAST_RESET)) |
                      (vm_get_a20(s->dev->vm) ? P92_A20 : 0));
}

static void port92_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct port92 *s = opaque;
    (void)off;
    (void)size;
    bool reset = (val & P92_FAST_RESET) && !(s->val & P92_FAST_RESET);
    s->val = (uint8_t)val;
    vm_set_a20(s->dev->vm, (val & P92_A20) != 0);
    if (reset)
        vm_request_reset(s->dev->vm);
}

static const pio_ops port92_ops = { port92_read, port92_write };

static void port92_reset(device *dev)
{
    struct port92 *s = dev->state;
    s->val = 0;
}

static int port92_create(device *dev)
{
    struct port92 *s = dev->state;
    s->dev = dev;
    return vm_register_pio(dev->vm, PORT92_BASE, 1, &port92_ops, s) < 0 ? -1 : 0;
}

static const device_desc port92_desc = {
    .name = "port92",
    .state_size = sizeof(struct port92),
    .create = port92_create,
    .reset = port92_reset,
};
DEVICE_REGISTER(port92_desc);
