/* Interrupt lines (GSIs) and the vCPUs' INTR pins. A line keeps its level;
 * the sinks (interrupt controllers) hear only changes. Also the wiring
 * between the interrupt controllers: the 8259's output to the local APICs
 * (LINT0 of vCPU 0), the APIC bus (messages, EOI broadcasts) and the
 * APICs' NMI signal to their vCPUs. */
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

/* Ends v's halt (exec.c halt_wait) if it sleeps. Lock held. */
static void wake_if_sleeping(struct vm *vm, struct vm_vcpu *v)
{
    v->wake_seq++;
    if (v->sleeping)
        pthread_cond_broadcast(&vm->cond);
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
    if (level && !old)
        wake_if_sleeping(vm, v);
    pthread_mutex_unlock(&vm->lock);
}

/* --- the 8259's output and the local APICs ------------------------------- */

void vm_set_extint(struct vm *vm, int level)
{
    pthread_mutex_lock(&vm->lock);
    vm->extint_level = level != 0;
    if (vm->intc)
        vm->intc->extint(vm->intc_opaque, vm->extint_level);
    else
        vm_set_cpu_intr(vm, 0, vm->extint_level);
    pthread_mutex_unlock(&vm->lock);
}

int vm_extint_ack(struct vm *vm)
{
    return vm->intr_ack ? vm->intr_ack(vm->intr_opaque) : -1;
}

int vm_set_cpu_intc(struct vm *vm, const cpu_intc_ops *ops, void *opaque)
{
    if (vm->intc || !ops || !ops->ack || !ops->extint || !ops->deliver) {
        vm_error(vm, "a second per-CPU interrupt controller");
        errno = EEXIST;
        return -1;
    }
    pthread_mutex_lock(&vm->lock);
    vm->intc = ops;
    vm->intc_opaque = opaque;
    for (int i = 0; i < vm->ncpus; i++)
        cpu_set_apic_present(&vm->vcpu[i].cpu, true);
    /* The 8259 may have driven its output before: LINT0 hears it now. */
    ops->extint(opaque, vm->extint_level);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

int vm_apic_send(struct vm *vm, const struct apic_msg *m)
{
    pthread_mutex_lock(&vm->lock);
    int n = vm->intc ? vm->intc->deliver(vm->intc_opaque, m) : 0;
    pthread_mutex_unlock(&vm->lock);
    return n;
}

int vm_add_apic_eoi_listener(struct vm *vm, apic_eoi_fn fn, void *opaque)
{
    if (vm->n_eoi_listeners >= VM_MAX_IRQ_SINKS || !fn) {
        vm_error(vm, "too many I/O APICs");
        errno = ENOSPC;
        return -1;
    }
    vm->eoi_listeners[vm->n_eoi_listeners].fn = fn;
    vm->eoi_listeners[vm->n_eoi_listeners].opaque = opaque;
    vm->n_eoi_listeners++;
    return 0;
}

void vm_apic_eoi(struct vm *vm, uint8_t vector)
{
    pthread_mutex_lock(&vm->lock);
    for (int i = 0; i < vm->n_eoi_listeners; i++)
        vm->eoi_listeners[i].fn(vm->eoi_listeners[i].opaque, vector);
    pthread_mutex_unlock(&vm->lock);
}

void vm_cpu_nmi(struct vm *vm, int cpu_index)
{
    if (cpu_index < 0 || cpu_index >= vm->ncpus)
        return;
    struct vm_vcpu *v = &vm->vcpu[cpu_index];
    pthread_mutex_lock(&vm->lock);
    atomic_store(&v->cpu.nmi_pending, 1);
    wake_if_sleeping(vm, v);
    pthread_mutex_unlock(&vm->lock);
}
