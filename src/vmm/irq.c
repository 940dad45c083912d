/* Interrupt lines (GSIs) and the vCPUs' INTR pins. A line keeps its level;
 * the sinks (interrupt controllers) hear only changes. */
#include <errno.h>

#include "runtime/log.h"
#include "vmm/vm_int.h"

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
    if (gsi >= VM_MAX_GSI) {
        log_warn("interrupt line %u does not exist", gsi);
        return;
    }
    uint8_t l = level != 0;
    pthread_mutex_lock(&vm->lock);
    if (vm->irq_level[gsi] != l) {
        vm->irq_level[gsi] = l;
        for (int i = 0; i < vm->n_sinks; i++)
            vm->sinks[i].fn(vm->sinks[i].opaque, gsi, l);
    }
    pthread_mutex_unlock(&vm->lock);
}

int vm_add_irq_sink(struct vm *vm, irq_sink_fn fn, void *opaque)
{
    if (vm->n_sinks >= VM_MAX_IRQ_SINKS || !fn) {
        vm_error(vm, "too many interrupt controllers");
        errno = ENOSPC;
        return -1;
    }
    vm->sinks[vm->n_sinks].fn = fn;
    vm->sinks[vm->n_sinks].opaque = opaque;
    vm->n_sinks++;
    return 0;
}

void vm_set_intr_controller(struct vm *vm, intr_ack_fn ack, void *opaque)
{
    vm->intr_ack = ack;
    vm->intr_opaque = opaque;
}

void vm_set_cpu_intr(struct vm *vm, int cpu_index, int level)
{
    if (cpu_index < 0 || cpu_index >= vm->ncpus)
        return;
    struct vm_vcpu *v = &vm->vcpu[cpu_index];
    pthread_mutex_lock(&vm->lock);
    int old = atomic_exchange(&v->cpu.intr_line, level != 0);
    /* A running CPU samples the pin at its next block boundary by itself;
     * only a halted one must be woken. */
    if (level && !old) {
        v->wake_seq++;
        if (v->sleeping)
            pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}
