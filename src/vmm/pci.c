/* PCI bus 0: a registry of functions by devfn (device << 3 | function),
 * reached through the host bridge's configuration mechanism #1.
 * Absent functions read all ones (PCI Local Bus Spec 3.0, 6.1: a
 * master abort on a configuration read returns 0xFFFFFFFF). */
#include <errno.h>

#include "vmm/vm_int.h"

int vm_pci_register(struct vm *vm, uint8_t devfn, const pci_ops *ops, void *opaque)
{
    if (!ops || vm->pci[devfn].ops) {
        vm_error(vm, "PCI %02x.%u: already taken", devfn >> 3, devfn & 7);
        errno = EEXIST;
        return -1;
    }
    vm->pci[devfn].ops = ops;
    vm->pci[devfn].opaque = opaque;
    return 0;
}

static bool aligned(uint8_t reg, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && (reg & (size - 1)) == 0;
}

uint32_t vm_pci_config_read(struct vm *vm, uint8_t bus, uint8_t devfn, uint8_t reg, unsigned size)
{
    uint32_t ones = size >= 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
    if (size == 0 || size > 4)
        return 0;
    if (bus != 0 || !vm->pci[devfn].ops || !vm->pci[devfn].ops->config_read)
        return ones;
    if (!aligned(reg, size)) {
        /* Split, never running past the 256-byte space. */
        uint32_t v = 0;
        for (unsigned i = 0; i < size && reg + i < 256; i++)
            v |= vm_pci_config_read(vm, bus, devfn, (uint8_t)(reg + i), 1) << (8 * i);
        return v;
    }
    return vm->pci[devfn].ops->config_read(vm->pci[devfn].opaque, reg, size) & ones;
}

void vm_pci_config_write(struct vm *vm, uint8_t bus, uint8_t devfn, uint8_t reg, uint32_t val, unsigned size)
{
    if (size == 0 || size > 4 || bus != 0 || !vm->pci[devfn].ops || !vm->pci[devfn].ops->config_write)
        return;
    if (!aligned(reg, size)) {
        for (unsigned i = 0; i < size && reg + i < 256; i++)
            vm_pci_config_write(vm, bus, devfn, (uint8_t)(reg + i), (val >> (8 * i)) & 0xff, 1);
        return;
    }
    uint32_t ones = size >= 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
    vm->pci[devfn].ops->config_write(vm->pci[devfn].opaque, reg, val & ones, size);
}
