/* The 8042 keyboard controller's input entry points, for front ends that
 * take keyboard and mouse input from the user (a display or VNC window).
 * Devices never include this. The caller holds the platform lock
 * (vm_lock); dev is the VM's "i8042" device. */
#ifndef CAIXA_DEVICES_I8042_H
#define CAIXA_DEVICES_I8042_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/device.h"

/* Mouse buttons for i8042_mouse_event. */
#define I8042_BUTTON_LEFT 0x01
#define I8042_BUTTON_RIGHT 0x02
#define I8042_BUTTON_MIDDLE 0x04
#define I8042_BUTTON_4 0x08
#define I8042_BUTTON_5 0x10

/* One key press or release as scan code set 2 bytes (e.g. 0x1C for A down,
 * 0xF0 0x1C for A up, 0xE0 0x75 for cursor up). The keyboard sends them in
 * the set the guest selected (2, or 1 converted), and the controller
 * translates to set 1 when its command byte says so (bit 6). Dropped while
 * the keyboard is disabled; a full buffer sends the overrun code. At most
 * 16 bytes. */
void i8042_put_keys(device *dev, const uint8_t *codes, size_t n);

/* Relative mouse movement: dx to the right, dy up, dz wheel clicks towards
 * the user; buttons is the set now held (I8042_BUTTON_*). Reported when
 * the guest has enabled the mouse in stream mode, else kept for a read. */
void i8042_mouse_event(device *dev, int dx, int dy, int dz, unsigned buttons);

#endif
