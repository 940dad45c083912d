/* Port and MMIO dispatch. MMIO locking: vm_register_mmio puts a wrapper
 * region into physmem whose callbacks take the platform lock around the
 * device's own; physmem itself knows nothing of locks. */
#include "vmm/vm_io.h"

#include <errno.h>
#include <string.h>

#include "runtime/log.h"
#include "vmm/clock.h"
#include "vmm/pio.h"
#include "vmm/vm_int.h"

static uint32_t bus_io_in(void *opaque, uint16_t port, unsigned size)
{
    struct vm *vm = ((struct vm_vcpu *)opaque)->vm;
    pthread_mutex_lock(&vm->lock);
    uint32_t v = pio_in(vm->pio, port, size);
    pthread_mutex_unlock(&vm->lock);
    return v;
}

static void bus_io_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
    struct vm *vm = ((struct vm_vcpu *)opaque)->vm;
    pthread_mutex_lock(&vm->lock);
    pio_out(vm->pio, port, size, val);
    pthread_mutex_unlock(&vm->lock);
}

/* INTA: the vCPU's local APIC answers (it forwards an ExtINT to the 8259);
 * without APICs the 8259 answers vCPU 0. */
static int bus_intr_ack(void *opaque)
{
    struct vm_vcpu *v = opaque;
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    int vec = vm->intc ? vm->intc->ack(vm->intc_opaque, v->cpu.index) : vm_extint_ack(vm);
    pthread_mutex_unlock(&vm->lock);
    return vec;
}

static uint64_t bus_clock_ns(void *opaque)
{
    struct vm *vm = ((struct vm_vcpu *)opaque)->vm;
    return vclock_now(vm->clock);
}

/* FERR#: the chipset latches it onto IRQ 13 (the "coproc" device's port
 * 0xF0 releases it). */
static void bus_ferr(void *opaque)
{
    struct vm *vm = ((struct vm_vcpu *)opaque)->vm;
    pthread_mutex_lock(&vm->lock);
    vm_set_irq(vm, 13, 1);
    pthread_mutex_unlock(&vm->lock);
}

static bool bus_msr_read(void *opaque, uint32_t idx, uint64_t *val)
{
    struct vm_vcpu *v = opaque;
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    bool ok = vm->intc && vm->intc->msr_read && vm->intc->msr_read(vm->intc_opaque, v->cpu.index, idx, val);
    pthread_mutex_unlock(&vm->lock);
    return ok;
}

static bool bus_msr_write(void *opaque, uint32_t idx, uint64_t val)
{
    struct vm_vcpu *v = opaque;
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    bool ok = vm->intc && vm->intc->msr_write && vm->intc->msr_write(vm->intc_opaque, v->cpu.index, idx, val);
    pthread_mutex_unlock(&vm->lock);
    return ok;
}

static void bus_apic_base_changed(void *opaque, uint64_t val)
{
    struct vm_vcpu *v = opaque;
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    if (vm->intc && vm->intc->apic_base)
        vm->intc->apic_base(vm->intc_opaque, v->cpu.index, val);
    pthread_mutex_unlock(&vm->lock);
}

/* CR8: the APIC's TPR when there is an APIC, else the CPU's own register. */
static uint64_t bus_get_cr8(void *opaque)
{
    struct vm_vcpu *v = opaque;
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    uint64_t val = vm->intc && vm->intc->get_cr8 ? vm->intc->get_cr8(vm->intc_opaque, v->cpu.index)
                                                 : v->cpu.s.cr8;
    pthread_mutex_unlock(&vm->lock);
    return val;
}

static void bus_set_cr8(void *opaque, uint64_t val)
{
    struct vm_vcpu *v = opaque;
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    if (vm->intc && vm->intc->set_cr8)
        vm->intc->set_cr8(vm->intc_opaque, v->cpu.index, (unsigned)val);
    else
        v->cpu.s.cr8 = val;
    pthread_mutex_unlock(&vm->lock);
}

struct cpu_bus vm_cpu_bus(struct vm *vm, int index)
{
    return (struct cpu_bus){
        .opaque = &vm->vcpu[index],
        .io_in = bus_io_in,
        .io_out = bus_io_out,
        .intr_ack = bus_intr_ack,
        .clock_ns = bus_clock_ns,
        .ferr = bus_ferr,
        .msr_read = bus_msr_read,
        .msr_write = bus_msr_write,
        .apic_base_changed = bus_apic_base_changed,
        .get_cr8 = bus_get_cr8,
        .set_cr8 = bus_set_cr8,
    };
}

uint64_t vm_cpu_tsc_to_ns(struct vm *vm, int cpu_index, uint64_t tsc)
{
    if (cpu_index < 0 || cpu_index >= vm->ncpus)
        return vclock_now(vm->clock);
    return cpu_tsc_to_ns(&vm->vcpu[cpu_index].cpu, tsc);
}

int vm_map_pio(struct vm *vm, uint16_t base, uint16_t len, const pio_ops *ops, void *opaque)
{
    pthread_mutex_lock(&vm->lock);
    int rc = pio_register(vm->pio, base, len, ops, opaque);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int vm_register_pio(struct vm *vm, uint16_t base, uint16_t len, const pio_ops *ops, void *opaque)
{
    int rc = vm_map_pio(vm, base, len, ops, opaque);
    if (rc < 0)
        vm_error(vm, "I/O ports 0x%x-0x%x: %s", base, base + (len ? len - 1 : 0),
                 errno == EEXIST ? "already taken" : strerror(errno));
    return rc;
}

static uint64_t locked_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct vm_mmio *m = opaque;
    pthread_mutex_lock(&m->vm->lock);
    uint64_t v = m->ops->read ? m->ops->read(m->opaque, off, size)
                              : (size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1);
    pthread_mutex_unlock(&m->vm->lock);
    return v;
}

static void locked_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vm_mmio *m = opaque;
    pthread_mutex_lock(&m->vm->lock);
    if (m->ops->write)
        m->ops->write(m->opaque, off, val, size);
    pthread_mutex_unlock(&m->vm->lock);
}

static const mmio_ops locked_mmio_ops = {locked_mmio_read, locked_mmio_write};

int vm_map_mmio(struct vm *vm, uint64_t base, uint64_t size, const mmio_ops *ops, void *opaque)
{
    int rc = -1;
    pthread_mutex_lock(&vm->lock);
    int slot = 0;
    while (slot < vm->n_mmio && vm->mmio[slot].used)
        slot++;
    if (slot >= PHYSMEM_MAX_MMIO || !ops) {
        errno = ENOSPC;
    } else {
        struct vm_mmio *m = &vm->mmio[slot];
        *m = (struct vm_mmio){vm, ops, opaque, true};
        rc = physmem_add_mmio(&vm->mem, base, size, &locked_mmio_ops, m);
        if (rc == 0 && slot == vm->n_mmio)
            vm->n_mmio++;
        else if (rc < 0)
            m->used = false;
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, const mmio_ops *ops, void *opaque)
{
    int rc = vm_map_mmio(vm, base, size, ops, opaque);
    if (rc < 0)
        vm_error(vm, "MMIO 0x%llx+0x%llx: %s", (unsigned long long)base, (unsigned long long)size,
                 errno == EEXIST ? "overlaps another region" : strerror(errno));
    return rc;
}

void vm_unregister_mmio(struct vm *vm, uint64_t base, uint64_t size)
{
    pthread_mutex_lock(&vm->lock);
    struct vm_mmio *m = physmem_del_mmio(&vm->mem, base, size);
    if (m)
        m->used = false;
    pthread_mutex_unlock(&vm->lock);
}

void vm_unregister_pio(struct vm *vm, uint16_t base, uint16_t len)
{
    pthread_mutex_lock(&vm->lock);
    pio_unregister(vm->pio, base, len);
    pthread_mutex_unlock(&vm->lock);
}
