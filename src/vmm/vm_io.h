/* The VM's side of the CPU bus: port I/O and MMIO dispatch to devices
 * under the platform lock, and the INTA cycle. */
#ifndef CAIXA_VMM_VM_IO_H
#define CAIXA_VMM_VM_IO_H

#include <stddef.h> /* cpu.h uses size_t */

#include "cpu/cpu.h"

struct vm;

/* The callbacks handed to cpu_init for vCPU `index` (opaque = its
 * struct vm_vcpu): each vCPU's INTA, MSRs and CR8 reach its own APIC. */
struct cpu_bus vm_cpu_bus(struct vm *vm, int index);

#endif
