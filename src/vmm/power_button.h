/* The machine's power button, as a front end presses it (a future
 * `caixa controlvm NAME acpipowerbutton`, a signal): the device that wires
 * the button (the PIIX4 ACPI power-management function) registers a
 * handler when it is created; nothing else in the VM knows the device. */
#ifndef CAIXA_VMM_POWER_BUTTON_H
#define CAIXA_VMM_POWER_BUTTON_H

#include <stdbool.h>

struct vm;

/* Called with the platform lock held. */
typedef void (*power_button_fn)(void *opaque);

/* A device's create/destroy: fn NULL removes the handler. Returns 0. */
int vm_set_power_button(struct vm *vm, power_button_fn fn, void *opaque);
/* Any thread: presses the button once (takes the platform lock). Returns
 * false if the machine has no power button. */
bool vm_press_power_button(struct vm *vm);

#endif
