/* Helpers shared by the local APIC and I/O APIC tests: a VM with N vCPUs
 * that is never run, the APIC page as seen by one vCPU, each vCPU's INTR
 * pin, INTA cycle, MSRs and CR8 through its CPU bus. */
#ifndef CAIXA_TESTS_APIC_TEST_UTIL_H
#define CAIXA_TESTS_APIC_TEST_UTIL_H

#include "device_test_harness.h"

#define APIC_PAGE 0xFEE00000ull
#define IOAPIC_PAGE 0xFEC00000ull
/* Local APIC registers (SDM Vol. 3A table 10-1). */
#define A_ID 0x20
#define A_VER 0x30
#define A_TPR 0x80
#define A_APR 0x90
#define A_PPR 0xA0
#define A_EOI 0xB0
#define A_LDR 0xD0
#define A_DFR 0xE0
#define A_SVR 0xF0
#define A_ISR 0x100
#define A_TMR 0x180
#define A_IRR 0x200
#define A_ESR 0x280
#define A_ICR_LO 0x300
#define A_ICR_HI 0x310
#define A_LVT_TIMER 0x320
#define A_LVT_LINT0 0x350
#define A_LVT_LINT1 0x360
#define A_LVT_ERROR 0x370
#define A_TIMER_ICR 0x380
#define A_TIMER_CCR 0x390
#define A_TIMER_DCR 0x3E0
#define MASKED 0x10000u

static inline struct vm *apic_vm_new(int ncpus)
{
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, DT_BIOS_FILL, sizeof bios);
    struct vm_params p = {
        .ram_size = 32u << 20,
        .bios = bios,
        .bios_size = sizeof bios,
        .serial = "none",
        .ncpus = ncpus,
    };
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    return vm;
}

/* The APIC page as vCPU `cpu` sees it (a 32-bit access from its thread). */
static inline uint32_t apic_rd(struct vm *vm, int cpu, unsigned off)
{
    exec_set_current(&vm->vcpu[cpu]);
    uint32_t v = (uint32_t)physmem_read(&vm->mem, APIC_PAGE + off, 4);
    exec_set_current(NULL);
    return v;
}

static inline void apic_wr(struct vm *vm, int cpu, unsigned off, uint32_t val)
{
    exec_set_current(&vm->vcpu[cpu]);
    physmem_write(&vm->mem, APIC_PAGE + off, val, 4);
    exec_set_current(NULL);
}

/* Bit `vec` of a 256-bit register bank (ISR, TMR, IRR). */
static inline int apic_bit(struct vm *vm, int cpu, unsigned bank, unsigned vec)
{
    return (apic_rd(vm, cpu, bank + 0x10 * (vec / 32)) >> (vec % 32)) & 1;
}

static inline int cpu_intr(struct vm *vm, int cpu)
{
    return atomic_load(&vm->vcpu[cpu].cpu.intr_line);
}

static inline int cpu_inta(struct vm *vm, int cpu)
{
    struct cpu *c = &vm->vcpu[cpu].cpu;
    exec_set_current(&vm->vcpu[cpu]);
    int v = c->bus.intr_ack(c->bus.opaque);
    exec_set_current(NULL);
    return v;
}

static inline bool cpu_wrmsr(struct vm *vm, int cpu, uint32_t idx, uint64_t val)
{
    struct cpu *c = &vm->vcpu[cpu].cpu;
    exec_set_current(&vm->vcpu[cpu]);
    bool ok = c->bus.msr_write(c->bus.opaque, idx, val);
    exec_set_current(NULL);
    return ok;
}

static inline uint64_t cpu_rdmsr(struct vm *vm, int cpu, uint32_t idx)
{
    struct cpu *c = &vm->vcpu[cpu].cpu;
    uint64_t v = 0xDEAD;
    exec_set_current(&vm->vcpu[cpu]);
    assert_true(c->bus.msr_read(c->bus.opaque, idx, &v));
    exec_set_current(NULL);
    return v;
}

/* Software-enables vCPU cpu's APIC with spurious vector 0xFF. */
static inline void apic_enable(struct vm *vm, int cpu)
{
    apic_wr(vm, cpu, A_SVR, 0x1FF);
}

/* Masks both 8259s so that only APIC interrupts reach the CPU. */
static inline void pic_mask_all(struct vm *vm)
{
    outb(vm, 0x21, 0xFF);
    outb(vm, 0xA1, 0xFF);
}

#endif
