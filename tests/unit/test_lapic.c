/* Local APICs: registers, priorities, EOI, the timer against the virtual
 * clock, IPIs between two APICs, INIT/SIPI; and a two-vCPU machine that
 * starts its AP with INIT/SIPI and wakes it from HLT with an NMI IPI.
 * Expected values from the Intel SDM Vol. 3A chapter 10. */
#include <pthread.h>

#include "apic_test_util.h"
#include "cpu/cpu_sys.h" /* CPU_TSC_HZ */

static void test_reset_state(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(2);
    assert_int_equal(apic_rd(vm, 0, A_ID), 0);
    assert_int_equal(apic_rd(vm, 1, A_ID), 1u << 24);
    assert_int_equal(apic_rd(vm, 0, A_VER), 0x00050014);
    assert_int_equal(apic_rd(vm, 0, A_SVR), 0xFF);
    assert_int_equal(apic_rd(vm, 0, A_DFR), 0xFFFFFFFFu);
    assert_int_equal(apic_rd(vm, 0, A_LVT_TIMER), MASKED);
    assert_int_equal(apic_rd(vm, 0, A_LVT_ERROR), MASKED);
    /* The BSP in virtual-wire mode, the AP all masked. */
    assert_int_equal(apic_rd(vm, 0, A_LVT_LINT0), 0x700);
    assert_int_equal(apic_rd(vm, 0, A_LVT_LINT1), 0x400);
    assert_int_equal(apic_rd(vm, 1, A_LVT_LINT0), MASKED);
    /* A byte read returns the register's bytes; offsets 4-15 read 0. */
    exec_set_current(&vm->vcpu[1]);
    assert_int_equal(physmem_read(&vm->mem, APIC_PAGE + A_ID + 3, 1), 1);
    assert_int_equal(physmem_read(&vm->mem, APIC_PAGE + A_ID + 4, 4), 0);
    exec_set_current(NULL);
    /* Every vCPU reports the APIC (CPUID follows IA32_APIC_BASE.EN). */
    assert_true(vm->vcpu[1].cpu.has_apic);
    vm_destroy(vm);
}

/* CPUID describes N cores of one thread in one package, APIC ID = index
 * (SDM Vol. 2 CPUID leaves 1, 4, 0BH), and the APIC's features. */
static void test_cpuid_topology(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(3);
    uint32_t r[4];
    cpuid_query(&vm->vcpu[2].cpu, 1, 0, r);
    assert_int_equal(r[1] >> 24, 2);                  /* initial APIC ID */
    assert_int_equal((r[1] >> 16) & 0xFF, 4);         /* addressable IDs: 2 bits */
    assert_true(r[3] & (1u << 28));                   /* HTT: the count is valid */
    assert_true(r[3] & (1u << 9));                    /* APIC */
    assert_true(r[2] & (1u << 24));                   /* TSC-deadline */
    assert_false(r[2] & (1u << 21));                  /* no x2APIC */
    cpuid_query(&vm->vcpu[2].cpu, 0xB, 0, r);
    assert_int_equal(r[0], 0);                        /* SMT: no bits */
    assert_int_equal(r[1], 1);
    assert_int_equal(r[2], 0x100);
    assert_int_equal(r[3], 2);
    cpuid_query(&vm->vcpu[2].cpu, 0xB, 1, r);
    assert_int_equal(r[0], 2);                        /* core: 2 bits to the package */
    assert_int_equal(r[1], 3);
    assert_int_equal(r[2], 0x201);
    cpuid_query(&vm->vcpu[2].cpu, 0xB, 2, r);
    assert_int_equal(r[2] & 0xFF00, 0);               /* no more levels */
    cpuid_query(&vm->vcpu[0].cpu, 4, 0, r);
    assert_int_equal(r[0] >> 26, 3);                  /* cores per package - 1 */
    assert_int_equal((r[0] >> 14) & 0xFFF, 0);        /* a core's own cache */
    cpuid_query(&vm->vcpu[0].cpu, 0x15, 0, r);        /* TSC = 2 x 1 GHz crystal */
    assert_int_equal((uint64_t)r[2] * r[1] / r[0], CPU_TSC_HZ);
    cpuid_query(&vm->vcpu[0].cpu, 0x80000007u, 0, r);
    assert_true(r[3] & (1u << 8));                    /* invariant TSC */
    vm_destroy(vm);
    /* One vCPU: the single-CPU model (no HTT, one addressable ID). */
    vm = apic_vm_new(1);
    cpuid_query(&vm->vcpu[0].cpu, 1, 0, r);
    assert_int_equal((r[1] >> 16) & 0xFF, 1);
    assert_false(r[3] & (1u << 28));
    vm_destroy(vm);
}

/* The 8259's INT reaches the BSP through LINT0 (ExtINT) at reset, and the
 * INTA cycle returns the 8259's vector. */
static void test_virtual_wire(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    outb(vm, 0x20, 0x11);
    outb(vm, 0x21, 0x08);
    outb(vm, 0x21, 0x04);
    outb(vm, 0x21, 0x01);
    outb(vm, 0x21, 0xFD);   /* only IRQ1 */
    vm_set_irq(vm, 1, 1);
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x09);
    assert_int_equal(cpu_intr(vm, 0), 0);
    outb(vm, 0x20, 0x20);
    vm_set_irq(vm, 1, 0);
    /* LINT0 masked: the 8259 no longer reaches the CPU. */
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_LVT_LINT0, 0x700 | MASKED);
    vm_set_irq(vm, 1, 1);
    assert_int_equal(cpu_intr(vm, 0), 0);
    /* IA32_APIC_BASE.EN=0: the APIC is gone and the 8259 drives INTR. */
    struct cpu *c = &vm->vcpu[0].cpu;
    c->bus.apic_base_changed(c->bus.opaque, 0xFEE00000ull | (1u << 8));
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(apic_rd(vm, 0, A_VER), 0xFFFFFFFFu);   /* page unclaimed */
    assert_int_equal(cpu_inta(vm, 0), 0x09);
    /* Enabled again: power-up state, virtual wire. */
    c->bus.apic_base_changed(c->bus.opaque, 0xFEE00000ull | (1u << 8) | (1u << 11));
    assert_int_equal(apic_rd(vm, 0, A_SVR), 0xFF);
    assert_int_equal(apic_rd(vm, 0, A_LVT_LINT0), 0x700);
    vm_destroy(vm);
}

/* Self-IPIs: priority classes, ISR nesting, EOI, TPR and CR8, PPR. */
static void test_priority_eoi(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_ICR_LO, 0x40000 | 0x41);   /* self, fixed, vector 0x41 */
    apic_wr(vm, 0, A_ICR_LO, 0x40000 | 0x82);
    assert_int_equal(apic_rd(vm, 0, A_ICR_LO) & (1u << 12), 0);   /* delivery status idle */
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x41), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x82), 1);
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x82);
    assert_int_equal(apic_bit(vm, 0, A_ISR, 0x82), 1);
    assert_int_equal(apic_rd(vm, 0, A_PPR), 0x80);
    assert_int_equal(cpu_intr(vm, 0), 0);            /* 0x41 is below class 8 */
    apic_wr(vm, 0, A_ICR_LO, 0x40000 | 0x91);     /* higher class nests */
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x91);
    apic_wr(vm, 0, A_EOI, 0);                         /* ends 0x91 (the highest) */
    assert_int_equal(apic_bit(vm, 0, A_ISR, 0x91), 0);
    assert_int_equal(apic_bit(vm, 0, A_ISR, 0x82), 1);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(apic_rd(vm, 0, A_PPR), 0);
    assert_int_equal(cpu_intr(vm, 0), 1);
    /* TPR 0x50 holds back class 4; PPR follows TPR. */
    apic_wr(vm, 0, A_TPR, 0x50);
    assert_int_equal(apic_rd(vm, 0, A_PPR), 0x50);
    assert_int_equal(cpu_intr(vm, 0), 0);
    /* Nothing deliverable at INTA: the spurious vector, ISR untouched. */
    assert_int_equal(cpu_inta(vm, 0), 0xFF);
    assert_int_equal(apic_bit(vm, 0, A_ISR, 0x41), 0);
    /* CR8 is TPR[7:4]. */
    struct cpu *c = &vm->vcpu[0].cpu;
    assert_int_equal(c->bus.get_cr8(c->bus.opaque), 5);
    c->bus.set_cr8(c->bus.opaque, 3);
    assert_int_equal(apic_rd(vm, 0, A_TPR), 0x30);
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x41);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(cpu_intr(vm, 0), 0);
    vm_destroy(vm);
}

/* Software disable: requests held, LVTs masked and kept masked. */
static void test_software_disable(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_LVT_TIMER, 0x30);
    apic_wr(vm, 0, A_SVR, 0xFF);
    assert_int_equal(apic_rd(vm, 0, A_LVT_TIMER), MASKED | 0x30);
    assert_int_equal(apic_rd(vm, 0, A_LVT_LINT0) & MASKED, MASKED);
    apic_wr(vm, 0, A_LVT_TIMER, 0x31);
    assert_int_equal(apic_rd(vm, 0, A_LVT_TIMER), MASKED | 0x31);
    apic_wr(vm, 0, A_ICR_LO, 0x40000 | 0x60);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x60), 1);
    assert_int_equal(cpu_intr(vm, 0), 0);
    apic_enable(vm, 0);
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x60);
    vm_destroy(vm);
}

/* Illegal vectors and registers: ESR latched on write, error LVT. */
static void test_errors(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_LVT_ERROR, 0xFE);
    apic_wr(vm, 0, A_ICR_LO, 0x40000 | 0x05);   /* vector 5: illegal */
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x05), 0);
    assert_int_equal(apic_rd(vm, 0, A_ESR), 0);  /* not latched yet */
    apic_wr(vm, 0, A_ESR, 0);
    assert_int_equal(apic_rd(vm, 0, A_ESR), 0x20);   /* send illegal vector */
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0xFE), 1);
    apic_rd(vm, 0, 0x3F0);                        /* reserved register */
    apic_wr(vm, 0, A_ESR, 0);
    assert_int_equal(apic_rd(vm, 0, A_ESR), 0x80);
    apic_wr(vm, 0, A_ESR, 0);
    assert_int_equal(apic_rd(vm, 0, A_ESR), 0);
    vm_destroy(vm);
}

/* One-shot at divide 1 and 16: the current count follows the virtual
 * clock exactly (1 GHz timer clock: one tick per ns), the interrupt comes
 * when it reaches 0. */
static void test_timer_oneshot(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_LVT_TIMER, 0x30);
    apic_wr(vm, 0, A_TIMER_DCR, 0xB);             /* divide by 1 */
    uint64_t t0 = dt_now(vm);
    apic_wr(vm, 0, A_TIMER_ICR, 2000000);         /* 2 ms */
    assert_int_equal(apic_rd(vm, 0, A_TIMER_ICR), 2000000);
    assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 2000000);
    dt_advance(vm, 500000);
    uint64_t el = dt_now(vm) - t0;
    if (el < 2000000) {
        assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 2000000 - el);
        assert_int_equal(apic_bit(vm, 0, A_IRR, 0x30), 0);
    }
    dt_advance(vm, 2000000);
    assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x30), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x30);
    apic_wr(vm, 0, A_EOI, 0);
    dt_advance(vm, 2000000);                        /* one-shot: once */
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x30), 0);
    /* Divide by 16: DCR 0011b. */
    apic_wr(vm, 0, A_TIMER_DCR, 0x3);
    t0 = dt_now(vm);
    apic_wr(vm, 0, A_TIMER_ICR, 1000000);         /* 16 ms */
    dt_advance(vm, 1000000);
    el = dt_now(vm) - t0;
    if (el < 16000000)
        assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 1000000 - el / 16);
    /* Writing 0 stops it. */
    apic_wr(vm, 0, A_TIMER_ICR, 0);
    assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 0);
    dt_advance(vm, 20000000);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x30), 0);
    vm_destroy(vm);
}

static void test_timer_periodic(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_LVT_TIMER, 0x20000 | 0x31);  /* periodic */
    apic_wr(vm, 0, A_TIMER_DCR, 0xB);
    uint64_t t0 = dt_now(vm);
    apic_wr(vm, 0, A_TIMER_ICR, 300000);          /* 300 us */
    for (int round = 0; round < 3; round++) {
        dt_advance(vm, 400000);
        uint64_t el = dt_now(vm) - t0;
        assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 300000 - el % 300000);
        assert_int_equal(apic_bit(vm, 0, A_IRR, 0x31), 1);
        assert_int_equal(cpu_inta(vm, 0), 0x31);
        apic_wr(vm, 0, A_EOI, 0);
    }
    /* Still armed; masking stops the interrupts, not the count. */
    apic_wr(vm, 0, A_LVT_TIMER, 0x20000 | 0x31 | MASKED);
    dt_advance(vm, 400000);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x31), 0);
    assert_true(apic_rd(vm, 0, A_TIMER_CCR) > 0);
    /* A mode change disarms it. */
    apic_wr(vm, 0, A_LVT_TIMER, 0x31);
    apic_wr(vm, 0, A_LVT_TIMER, 0x20000 | 0x31);
    dt_advance(vm, 400000);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x31), 0);
    assert_int_equal(apic_rd(vm, 0, A_TIMER_CCR), 0);
    vm_destroy(vm);
}

/* TSC-deadline mode (SDM Vol. 3A 10.5.4.1): the MSR arms, the interrupt
 * comes when the TSC reaches it, and the MSR reads 0 afterwards. */
static void test_timer_tsc_deadline(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    /* Outside TSC-deadline mode the MSR reads 0 and ignores writes. */
    assert_true(cpu_wrmsr(vm, 0, 0x6E0, 12345));
    assert_int_equal(cpu_rdmsr(vm, 0, 0x6E0), 0);
    apic_wr(vm, 0, A_LVT_TIMER, 0x40000 | 0x32);
    apic_wr(vm, 0, A_TIMER_ICR, 1000);              /* ignored in this mode */
    assert_int_equal(apic_rd(vm, 0, A_TIMER_ICR), 0);
    /* The TSC counts CPU_TSC_HZ from virtual time 0 (no offset written). */
    uint64_t due_ns = dt_now(vm) + 1000000;
    uint64_t deadline = due_ns / 1000000000u * CPU_TSC_HZ + due_ns % 1000000000u * (CPU_TSC_HZ / 1000000000u);
    assert_true(cpu_wrmsr(vm, 0, 0x6E0, deadline));
    assert_int_equal(cpu_rdmsr(vm, 0, 0x6E0), deadline);
    dt_advance(vm, 300000);
    if (dt_now(vm) < due_ns) {
        assert_int_equal(apic_bit(vm, 0, A_IRR, 0x32), 0);
        assert_int_equal(cpu_rdmsr(vm, 0, 0x6E0), deadline);
    }
    dt_advance(vm, 1000000);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x32), 1);
    assert_int_equal(cpu_rdmsr(vm, 0, 0x6E0), 0);
    assert_int_equal(cpu_inta(vm, 0), 0x32);
    apic_wr(vm, 0, A_EOI, 0);
    /* A deadline in the past fires at once; 0 disarms. */
    assert_true(cpu_wrmsr(vm, 0, 0x6E0, 1));
    dt_run_timers(vm);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x32), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x32);
    apic_wr(vm, 0, A_EOI, 0);
    assert_true(cpu_wrmsr(vm, 0, 0x6E0, deadline + 2000000000ull));
    assert_true(cpu_wrmsr(vm, 0, 0x6E0, 0));
    dt_advance(vm, 1000000);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x32), 0);
    /* Other APIC MSRs are not there (no x2APIC). */
    struct cpu *c = &vm->vcpu[0].cpu;
    uint64_t v;
    assert_false(c->bus.msr_read(c->bus.opaque, 0x802, &v));
    vm_destroy(vm);
}

/* IPIs between two APICs: physical, logical flat and cluster, shorthands,
 * lowest priority, NMI. */
static void test_ipi(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(2);
    pic_mask_all(vm);
    apic_enable(vm, 0);
    apic_enable(vm, 1);
    apic_wr(vm, 0, A_ICR_HI, 1u << 24);
    apic_wr(vm, 0, A_ICR_LO, 0x50);                /* fixed, physical, to APIC 1 */
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x50), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x50), 0);
    assert_int_equal(cpu_intr(vm, 1), 1);
    assert_int_equal(cpu_intr(vm, 0), 0);
    assert_int_equal(cpu_inta(vm, 1), 0x50);
    apic_wr(vm, 1, A_EOI, 0);
    /* Logical, flat model: LDR bit per APIC. */
    apic_wr(vm, 0, A_LDR, 0x01000000);
    apic_wr(vm, 1, A_LDR, 0x02000000);
    apic_wr(vm, 1, A_ICR_HI, 0x03u << 24);
    apic_wr(vm, 1, A_ICR_LO, 0x800 | 0x61);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x61), 1);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x61), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x61);
    assert_int_equal(cpu_inta(vm, 1), 0x61);
    apic_wr(vm, 0, A_EOI, 0);
    apic_wr(vm, 1, A_EOI, 0);
    /* Cluster model: cluster 1, members bit 0 and bit 1. */
    apic_wr(vm, 0, A_DFR, 0x0FFFFFFF);
    apic_wr(vm, 1, A_DFR, 0x0FFFFFFF);
    assert_int_equal(apic_rd(vm, 0, A_DFR), 0x0FFFFFFF);
    apic_wr(vm, 0, A_LDR, 0x11000000);
    apic_wr(vm, 1, A_LDR, 0x12000000);
    apic_wr(vm, 0, A_ICR_HI, 0x12u << 24);
    apic_wr(vm, 0, A_ICR_LO, 0x800 | 0x62);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x62), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x62), 0);
    apic_wr(vm, 0, A_ICR_HI, 0x22u << 24);         /* another cluster */
    apic_wr(vm, 0, A_ICR_LO, 0x800 | 0x63);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x63), 0);
    assert_int_equal(cpu_inta(vm, 1), 0x62);
    apic_wr(vm, 1, A_EOI, 0);
    /* Shorthands: all but self, all including self. */
    apic_wr(vm, 1, A_ICR_LO, 0xC0000 | 0x70);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x70), 1);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x70), 0);
    apic_wr(vm, 1, A_ICR_LO, 0x80000 | 0x71);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x71), 1);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x71), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x71);
    assert_int_equal(cpu_inta(vm, 0), 0xFF);   /* 0x70: same class as in service */
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(cpu_inta(vm, 0), 0x70);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(cpu_inta(vm, 1), 0x71);
    apic_wr(vm, 1, A_EOI, 0);
    /* Lowest priority: the APIC with the lower TPR takes it. */
    apic_wr(vm, 0, A_DFR, 0xFFFFFFFF);
    apic_wr(vm, 1, A_DFR, 0xFFFFFFFF);
    apic_wr(vm, 0, A_LDR, 0x01000000);
    apic_wr(vm, 1, A_LDR, 0x02000000);
    apic_wr(vm, 0, A_TPR, 0x20);
    apic_wr(vm, 1, A_TPR, 0x10);
    apic_wr(vm, 0, A_ICR_HI, 0x03u << 24);
    apic_wr(vm, 0, A_ICR_LO, 0x800 | 0x100 | 0x90);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x90), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x90), 0);
    apic_wr(vm, 0, A_TPR, 0x00);
    apic_wr(vm, 0, A_ICR_LO, 0x800 | 0x100 | 0x91);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x91), 1);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x91), 0);
    /* NMI: to the vCPU's NMI input, no IRR. */
    assert_int_equal(atomic_load(&vm->vcpu[1].cpu.nmi_pending), 0);
    apic_wr(vm, 0, A_ICR_HI, 1u << 24);
    apic_wr(vm, 0, A_ICR_LO, 0x400);
    assert_int_equal(atomic_load(&vm->vcpu[1].cpu.nmi_pending), 1);
    assert_int_equal(atomic_load(&vm->vcpu[0].cpu.nmi_pending), 0);
    vm_destroy(vm);
}

/* INIT resets the target APIC but its ID and asks its vCPU to reset; an
 * AP then takes one SIPI (SDM Vol. 3A 8.4.4.1, 10.4.7.3). */
static void test_init_sipi_signals(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(2);
    struct vm_vcpu *ap = &vm->vcpu[1];
    assert_true(ap->wait_sipi);                      /* APs wait after reset */
    assert_false(vm->vcpu[0].wait_sipi);
    /* A SIPI reaches only a waiting AP: while running it is ignored. */
    vm_lock(vm);
    ap->wait_sipi = false;
    vm_unlock(vm);
    apic_enable(vm, 0);
    apic_enable(vm, 1);
    apic_wr(vm, 1, A_TPR, 0x40);
    apic_wr(vm, 0, A_ICR_HI, 1u << 24);
    apic_wr(vm, 0, A_ICR_LO, 0x4608);
    assert_int_equal(ap->sipi_vector, -1);
    apic_wr(vm, 0, A_ICR_LO, 0x4500);                /* INIT, assert */
    assert_true(ap->init_pending);
    assert_int_equal(apic_rd(vm, 1, A_SVR), 0xFF);   /* the APIC is reset */
    assert_int_equal(apic_rd(vm, 1, A_TPR), 0);
    assert_int_equal(apic_rd(vm, 1, A_ID), 1u << 24);   /* but keeps its ID */
    apic_wr(vm, 0, A_ICR_LO, 0x8500);                /* INIT de-assert: nothing */
    apic_wr(vm, 0, A_ICR_LO, 0x4608);                /* SIPI, vector 8 */
    assert_int_equal(ap->sipi_vector, 8);
    apic_wr(vm, 0, A_ICR_LO, 0x4609);                /* the second SIPI is ignored */
    assert_int_equal(ap->sipi_vector, 8);
    /* What the AP's thread does with the INIT: MSRs and FPU stay. */
    vm_lock(vm);
    ap->cpu.s.pat = 0x0007040600070406ull ^ 1;
    ap->cpu.s.fpu.fcw = 0x27F;
    ap->cpu.s.rip = 0x1234;
    ap->init_pending = false;
    vm_vcpu_do_init(ap);
    vm_unlock(vm);
    assert_true(ap->wait_sipi);
    assert_int_equal(ap->sipi_vector, 8);
    assert_int_equal(ap->cpu.s.pat, 0x0007040600070406ull ^ 1);
    assert_int_equal(ap->cpu.s.fpu.fcw, 0x27F);
    assert_int_equal(ap->cpu.s.rip, 0xFFF0);
    assert_int_equal(ap->cpu.s.apic_base & (1u << 8), 0);   /* not the BSP */
    vm_destroy(vm);
}

/* --- a machine that runs: the BSP starts the AP with INIT/SIPI ---------- */

/* BSP, 32-bit flat at 0x10000: INIT and SIPI (vector 8) to APIC 1, wait
 * for the AP's flag, NMI IPI to the halted AP, wait for its NMI handler,
 * then exit through the debug-exit port with 0x10 (status 33). */
static const uint8_t bsp_code[] = {
    0xC7, 0x05, 0x10, 0x03, 0xE0, 0xFE, 0x00, 0x00, 0x00, 0x01, /* mov [ICR_HI], 1 << 24 */
    0xC7, 0x05, 0x00, 0x03, 0xE0, 0xFE, 0x00, 0x45, 0x00, 0x00, /* mov [ICR_LO], 0x4500 INIT */
    0xC7, 0x05, 0x00, 0x03, 0xE0, 0xFE, 0x00, 0x85, 0x00, 0x00, /* mov [ICR_LO], 0x8500 de-assert */
    0xC7, 0x05, 0x00, 0x03, 0xE0, 0xFE, 0x08, 0x46, 0x00, 0x00, /* mov [ICR_LO], 0x4608 SIPI */
    0x80, 0x3D, 0x00, 0x05, 0x00, 0x00, 0x5A,                   /* 1: cmp byte [0x500], 0x5A */
    0x75, 0xF7,                                                 /* jne 1b */
    0xC7, 0x05, 0x00, 0x03, 0xE0, 0xFE, 0x00, 0x44, 0x00, 0x00, /* mov [ICR_LO], 0x4400 NMI */
    0x80, 0x3D, 0x02, 0x05, 0x00, 0x00, 0x77,                   /* 2: cmp byte [0x502], 0x77 */
    0x75, 0xF7,                                                 /* jne 2b */
    0xB0, 0x10,                                                 /* mov al, 0x10 */
    0xE6, 0xF4,                                                 /* out 0xF4, al */
    0xF4, 0xEB, 0xFD,                                           /* hlt; jmp $-1 */
};

/* AP, real mode at 0800:0000: store its CPUID APIC ID and a flag, halt. */
static const uint8_t ap_code[] = {
    0x31, 0xC0,                         /* xor ax, ax */
    0x8E, 0xD8,                         /* mov ds, ax */
    0x66, 0xB8, 0x01, 0x00, 0x00, 0x00, /* mov eax, 1 */
    0x0F, 0xA2,                         /* cpuid */
    0x66, 0xC1, 0xEB, 0x18,             /* shr ebx, 24 */
    0x88, 0x1E, 0x01, 0x05,             /* mov [0x501], bl */
    0xC6, 0x06, 0x00, 0x05, 0x5A,       /* mov byte [0x500], 0x5A */
    0xF4, 0xEB, 0xFD,                   /* hlt; jmp $-1 */
};

/* AP's NMI handler (IVT vector 2 -> 0000:8100). */
static const uint8_t ap_nmi[] = {
    0xC6, 0x06, 0x02, 0x05, 0x77, /* mov byte [0x502], 0x77 */
    0xCF,                         /* iret */
};

#define BSP_CODE 0x10000u
#define AP_CODE 0x8000u
#define AP_NMI 0x8100u

static void load_smp_guest(void *opaque, struct vm *vm)
{
    (void)opaque;
    static const uint8_t ivt2[4] = { AP_NMI & 0xFF, AP_NMI >> 8, 0, 0 };
    assert_true(physmem_rw(&vm->mem, BSP_CODE, (void *)bsp_code, sizeof bsp_code, true));
    assert_true(physmem_rw(&vm->mem, AP_CODE, (void *)ap_code, sizeof ap_code, true));
    assert_true(physmem_rw(&vm->mem, AP_NMI, (void *)ap_nmi, sizeof ap_nmi, true));
    assert_true(physmem_rw(&vm->mem, 2 * 4, (void *)ivt2, sizeof ivt2, true));
    /* vCPU 0 in flat 32-bit protected mode (as a boot loader leaves it). */
    struct cpu *c = &vm->vcpu[0].cpu;
    struct seg_cache code = { 0x08, SEGA_P | SEGA_S | 0xB | SEGA_DB | SEGA_G, 0xFFFFFFFFu, 0 };
    struct seg_cache data = { 0x10, SEGA_P | SEGA_S | 0x3 | SEGA_DB | SEGA_G, 0xFFFFFFFFu, 0 };
    c->s.cr0 |= CR0_PE;
    c->s.seg[S_CS] = code;
    c->s.seg[S_DS] = c->s.seg[S_ES] = c->s.seg[S_SS] = data;
    c->s.rip = BSP_CODE;
    cpu_flush_all(c);
}

struct watchdog {
    struct vm *vm;
    atomic_int done;
};

static void *watchdog_thread(void *arg)
{
    struct watchdog *w = arg;
    for (int i = 0; i < 600 && !atomic_load(&w->done); i++) {
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    if (!atomic_load(&w->done))
        vm_request_poweroff(w->vm, 99);
    return NULL;
}

static void test_smp_startup(void **st)
{
    (void)st;
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, 0xF4, sizeof bios);   /* hlt everywhere */
    struct vm_params p = {
        .ram_size = 32u << 20,
        .bios = bios,
        .bios_size = sizeof bios,
        .serial = "none",
        .debug_exit = true,
        .ncpus = 2,
        .boot_fn = load_smp_guest,
    };
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    struct watchdog w = { vm, 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, watchdog_thread, &w), 0);
    int status = vm_run(vm);
    atomic_store(&w.done, 1);
    pthread_join(t, NULL);
    uint8_t flags[3];
    assert_true(physmem_rw(&vm->mem, 0x500, flags, sizeof flags, false));
    assert_int_equal(status, 33);
    assert_int_equal(flags[0], 0x5A);
    assert_int_equal(flags[1], 1);      /* the AP's CPUID APIC ID */
    assert_int_equal(flags[2], 0x77);   /* its NMI handler ran */
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_state),
        cmocka_unit_test(test_cpuid_topology),
        cmocka_unit_test(test_virtual_wire),
        cmocka_unit_test(test_priority_eoi),
        cmocka_unit_test(test_software_disable),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_timer_oneshot),
        cmocka_unit_test(test_timer_periodic),
        cmocka_unit_test(test_timer_tsc_deadline),
        cmocka_unit_test(test_ipi),
        cmocka_unit_test(test_init_sipi_signals),
        cmocka_unit_test(test_smp_startup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
