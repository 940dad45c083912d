/* I/O APIC: identification registers, redirection of edge and level lines
 * to the local APIC, Remote IRR and EOI, masking, the ISA IRQ 0 -> pin 2
 * wiring, destinations and delivery modes. Expected values from the Intel
 * 82093AA datasheet and SDM Vol. 3A chapter 10. */
#include "apic_test_util.h"

#define RTE_LEVEL (1u << 15)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LOGICAL (1u << 11)

static uint32_t io_rd(struct vm *vm, uint8_t reg)
{
    physmem_write(&vm->mem, IOAPIC_PAGE, reg, 4);
    return (uint32_t)physmem_read(&vm->mem, IOAPIC_PAGE + 0x10, 4);
}

static void io_wr(struct vm *vm, uint8_t reg, uint32_t val)
{
    physmem_write(&vm->mem, IOAPIC_PAGE, reg, 4);
    physmem_write(&vm->mem, IOAPIC_PAGE + 0x10, val, 4);
}

static void rte_set(struct vm *vm, unsigned pin, uint32_t low, uint8_t dest)
{
    io_wr(vm, (uint8_t)(0x11 + 2 * pin), (uint32_t)dest << 24);
    io_wr(vm, (uint8_t)(0x10 + 2 * pin), low);
}

static uint32_t rte_low(struct vm *vm, unsigned pin)
{
    return io_rd(vm, (uint8_t)(0x10 + 2 * pin));
}

/* A VM whose interrupts reach vCPU 0 only through the I/O APIC. */
static struct vm *io_vm(int ncpus)
{
    struct vm *vm = apic_vm_new(ncpus);
    pic_mask_all(vm);
    for (int i = 0; i < ncpus; i++)
        apic_enable(vm, i);
    return vm;
}

static void test_registers(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(2);
    assert_int_equal(io_rd(vm, 0x01), 0x00170011);   /* version 11h, 24 entries */
    assert_int_equal(io_rd(vm, 0x00), 2u << 24);     /* ID = number of CPUs (MADT) */
    assert_int_equal(io_rd(vm, 0x02), 2u << 24);     /* arbitration ID */
    io_wr(vm, 0x00, 0x0F000000 | 0xFFFF);
    assert_int_equal(io_rd(vm, 0x00), 0x0F000000);   /* bits 27:24 only */
    io_wr(vm, 0x01, 0);
    assert_int_equal(io_rd(vm, 0x01), 0x00170011);   /* read-only */
    for (unsigned pin = 0; pin < 24; pin++) {
        assert_int_equal(rte_low(vm, pin), MASKED);   /* masked at reset */
        assert_int_equal(io_rd(vm, (uint8_t)(0x11 + 2 * pin)), 0);
    }
    /* Writable fields; delivery status and Remote IRR are read-only. */
    io_wr(vm, 0x10, 0xFFFFFFFF);
    assert_int_equal(rte_low(vm, 0), 0x1AFFF);
    io_wr(vm, 0x11, 0xFFFFFFFF);
    assert_int_equal(io_rd(vm, 0x11), 0xFF000000);
    assert_int_equal(physmem_read(&vm->mem, IOAPIC_PAGE, 4), 0x11);   /* IOREGSEL */
    vm_destroy(vm);
}

static void test_edge(void **st)
{
    (void)st;
    struct vm *vm = io_vm(1);
    rte_set(vm, 4, 0x34, 0);
    vm_set_irq(vm, 4, 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x34), 1);
    assert_int_equal(apic_bit(vm, 0, A_TMR, 0x34), 0);
    assert_int_equal(cpu_intr(vm, 0), 1);
    vm_set_irq(vm, 4, 1);   /* no new edge */
    assert_int_equal(cpu_inta(vm, 0), 0x34);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x34), 0);
    apic_wr(vm, 0, A_EOI, 0);
    vm_set_irq(vm, 4, 0);
    assert_int_equal(rte_low(vm, 4), 0x34);   /* no Remote IRR for edge */
    /* A masked edge is lost. */
    rte_set(vm, 5, 0x35 | MASKED, 0);
    vm_set_irq(vm, 5, 1);
    vm_set_irq(vm, 5, 0);
    rte_set(vm, 5, 0x35, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x35), 0);
    /* ISA IRQ 0 (the PIT) arrives on pin 2, as the MADT override says. */
    rte_set(vm, 2, 0x30, 0);
    rte_set(vm, 0, 0x3F, 0);
    vm_set_irq(vm, 0, 1);
    vm_set_irq(vm, 0, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x30), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x3F), 0);
    vm_destroy(vm);
}

static void test_level_remote_irr(void **st)
{
    (void)st;
    struct vm *vm = io_vm(1);
    rte_set(vm, 16, RTE_LEVEL | 0x60, 0);
    vm_set_irq(vm, 16, 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x60), 1);
    assert_int_equal(apic_bit(vm, 0, A_TMR, 0x60), 1);
    assert_int_equal(rte_low(vm, 16), RTE_LEVEL | RTE_REMOTE_IRR | 0x60);
    assert_int_equal(cpu_inta(vm, 0), 0x60);
    /* EOI with the line still asserted: Remote IRR clears, the message
     * goes again. */
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x60), 1);
    assert_int_equal(rte_low(vm, 16) & RTE_REMOTE_IRR, RTE_REMOTE_IRR);
    assert_int_equal(cpu_inta(vm, 0), 0x60);
    vm_set_irq(vm, 16, 0);   /* the device is served */
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(rte_low(vm, 16), RTE_LEVEL | 0x60);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x60), 0);
    assert_int_equal(cpu_intr(vm, 0), 0);
    /* Masked while asserted: held until unmasked. */
    rte_set(vm, 16, RTE_LEVEL | MASKED | 0x60, 0);
    vm_set_irq(vm, 16, 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x60), 0);
    rte_set(vm, 16, RTE_LEVEL | 0x60, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x60), 1);
    /* Switching to edge clears Remote IRR (no EOI register on 11h). */
    assert_int_equal(rte_low(vm, 16) & RTE_REMOTE_IRR, RTE_REMOTE_IRR);
    rte_set(vm, 16, MASKED | 0x60, 0);
    assert_int_equal(rte_low(vm, 16) & RTE_REMOTE_IRR, 0);
    vm_set_irq(vm, 16, 0);
    assert_int_equal(cpu_inta(vm, 0), 0x60);
    apic_wr(vm, 0, A_EOI, 0);
    /* An EOI for another vector leaves Remote IRR alone. */
    rte_set(vm, 17, RTE_LEVEL | 0x61, 0);
    rte_set(vm, 18, RTE_LEVEL | 0x62, 0);
    vm_set_irq(vm, 17, 1);
    vm_set_irq(vm, 18, 1);
    assert_int_equal(cpu_inta(vm, 0), 0x62);
    vm_set_irq(vm, 18, 0);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(rte_low(vm, 18) & RTE_REMOTE_IRR, 0);
    assert_int_equal(rte_low(vm, 17) & RTE_REMOTE_IRR, RTE_REMOTE_IRR);
    assert_int_equal(cpu_inta(vm, 0), 0x61);
    vm_set_irq(vm, 17, 0);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(rte_low(vm, 17) & RTE_REMOTE_IRR, 0);
    assert_int_equal(cpu_intr(vm, 0), 0);
    vm_destroy(vm);
}

/* Destinations and delivery modes, with two local APICs. */
static void test_destinations(void **st)
{
    (void)st;
    struct vm *vm = io_vm(2);
    /* Physical: APIC 1 only. */
    rte_set(vm, 9, 0x49, 1);
    vm_set_irq(vm, 9, 1);
    vm_set_irq(vm, 9, 0);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x49), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x49), 0);
    /* Logical flat, two bits: both. */
    apic_wr(vm, 0, A_LDR, 0x01000000);
    apic_wr(vm, 1, A_LDR, 0x02000000);
    rte_set(vm, 10, RTE_LOGICAL | 0x4A, 0x03);
    vm_set_irq(vm, 10, 1);
    vm_set_irq(vm, 10, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x4A), 1);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x4A), 1);
    /* Lowest priority among both: the lower arbitration priority (APIC 1:
     * class 4 requests pending; APIC 0: TPR 0x50). */
    apic_wr(vm, 0, A_TPR, 0x50);
    assert_int_equal(apic_rd(vm, 0, A_APR), 0x50);
    assert_int_equal(apic_rd(vm, 1, A_APR), 0x40);
    rte_set(vm, 11, RTE_LOGICAL | 0x100 | 0x4B, 0x03);
    vm_set_irq(vm, 11, 1);
    vm_set_irq(vm, 11, 0);
    assert_int_equal(apic_bit(vm, 1, A_IRR, 0x4B), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x4B), 0);
    /* No APIC matches a level message: Remote IRR stays clear. */
    rte_set(vm, 18, RTE_LEVEL | RTE_LOGICAL | 0x52, 0x80);
    vm_set_irq(vm, 18, 1);
    assert_int_equal(rte_low(vm, 18) & RTE_REMOTE_IRR, 0);
    vm_set_irq(vm, 18, 0);
    /* NMI delivery. */
    rte_set(vm, 7, 0x400, 1);
    vm_set_irq(vm, 7, 1);
    assert_int_equal(atomic_load(&vm->vcpu[1].cpu.nmi_pending), 1);
    assert_int_equal(atomic_load(&vm->vcpu[0].cpu.nmi_pending), 0);
    vm_destroy(vm);
}

/* ExtINT delivery: the local APIC's INTA goes to the 8259. */
static void test_extint(void **st)
{
    (void)st;
    struct vm *vm = apic_vm_new(1);
    outb(vm, 0x20, 0x11);
    outb(vm, 0x21, 0x08);
    outb(vm, 0x21, 0x04);
    outb(vm, 0x21, 0x01);
    outb(vm, 0x21, 0xF7);                             /* IRQ3 only */
    apic_enable(vm, 0);
    apic_wr(vm, 0, A_LVT_LINT0, 0x700 | MASKED);      /* not through LINT0 */
    rte_set(vm, 3, 0x700, 0);
    vm_set_irq(vm, 3, 1);
    assert_int_equal(cpu_intr(vm, 0), 1);
    assert_int_equal(cpu_inta(vm, 0), 0x0B);           /* the 8259's vector */
    assert_int_equal(cpu_intr(vm, 0), 0);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers),
        cmocka_unit_test(test_edge),
        cmocka_unit_test(test_level_remote_irr),
        cmocka_unit_test(test_destinations),
        cmocka_unit_test(test_extint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
