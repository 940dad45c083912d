/* The machine's power button: the device that wires it registers a
 * handler in the VM object; front ends press it. */
#include "vmm/power_button.h"

#include "vmm/vm_int.h"

int vm_set_power_button(struct vm *vm, power_button_fn fn, void *opaque)
{
    pthread_mutex_lock(&vm->lock);
    vm->button_fn = fn;
    vm->button_opaque = fn ? opaque : NULL;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

bool vm_press_power_button(struct vm *vm)
{
    /* Under the platform lock, as the device's destroy runs: the handler
     * cannot go away between the look-up and the call. */
    pthread_mutex_lock(&vm->lock);
    power_button_fn fn = vm->button_fn;
    if (fn)
        fn(vm->button_opaque);
    pthread_mutex_unlock(&vm->lock);
    return fn != NULL;
}
