/* The device registry: every device file puts a pointer to its descriptor
 * into the "caixa_devices" linker section (DEVICE_REGISTER); the linker
 * provides the section's bounds. Weak, so a program with no device links. */
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "runtime/util.h"
#include "vmm/vm_int.h"

extern const device_desc *const __start_caixa_devices[] __attribute__((weak));
extern const device_desc *const __stop_caixa_devices[] __attribute__((weak));

const device_desc *device_find(const char *name)
{
    if (!__start_caixa_devices || !__stop_caixa_devices)
        return NULL;
    for (const device_desc *const *d = __start_caixa_devices; d < __stop_caixa_devices; d++)
        if (*d && strcmp((*d)->name, name) == 0)
            return *d;
    return NULL;
}

int vm_add_device(struct vm *vm, const char *name, struct config *cfg)
{
    const device_desc *desc = device_find(name);
    if (!desc) {
        log_error("no device called '%s' in this build", name);
        return -1;
    }
    if (vm->n_devices >= VM_MAX_DEVICES) {
        log_error("%s: too many devices", name);
        return -1;
    }
    device *dev = xcalloc(1, sizeof *dev);
    dev->desc = desc;
    dev->vm = vm;
    dev->cfg = cfg;
    dev->state = xcalloc(1, desc->state_size);
    vm->devices[vm->n_devices++] = dev;
    vm->cur_dev = desc->name;
    int rc = desc->create(dev);
    vm->cur_dev = NULL;
    if (rc < 0) {
        /* create said what is wrong. Its half-made state is not handed to
         * destroy, which may expect a whole device. */
        vm->n_devices--;
        free(dev->state);
        free(dev);
        return -1;
    }
    return 0;
}
