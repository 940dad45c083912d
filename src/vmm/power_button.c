/* Power button handlers, one per VM, kept beside the VM object rather than
 * in it so that the button stays the business of the device that has one. */
#include "vmm/power_button.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "vmm/vm.h"

#define MAX_MACHINES 64

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct vm *vm;
    power_button_fn fn;
    void *opaque;
} table[MAX_MACHINES];

int vm_set_power_button(struct vm *vm, power_button_fn fn, void *opaque)
{
    int rc = 0;
    pthread_mutex_lock(&table_lock);
    int slot = -1;
    for (int i = 0; i < MAX_MACHINES; i++) {
        if (table[i].vm == vm) {
            slot = i;
            break;
        }
        if (!table[i].vm && slot < 0)
            slot = i;
    }
    if (slot < 0) {
        rc = fn ? -1 : 0;
        if (fn)
            errno = ENOSPC;
    } else if (fn) {
        table[slot].vm = vm;
        table[slot].fn = fn;
        table[slot].opaque = opaque;
    } else if (table[slot].vm == vm) {
        table[slot].vm = NULL;
        table[slot].fn = NULL;
        table[slot].opaque = NULL;
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

bool vm_press_power_button(struct vm *vm)
{
    /* The platform lock first, as the device's destroy runs under it: the
     * handler cannot go away between the look-up and the call. */
    vm_lock(vm);
    pthread_mutex_lock(&table_lock);
    power_button_fn fn = NULL;
    void *opaque = NULL;
    for (int i = 0; i < MAX_MACHINES; i++) {
        if (table[i].vm == vm) {
            fn = table[i].fn;
            opaque = table[i].opaque;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    if (fn)
        fn(opaque);
    vm_unlock(vm);
    return fn != NULL;
}
