/* PIIX3 function 0 (PCI-to-ISA bridge): identity, defaults from the
 * 82371SB datasheet 2.2, and PIRQ routing of PCI interrupt lines to ISA. */
#include "device_test_harness.h"

#define CONF_ADDR 0xCF8
#define CONF_DATA 0xCFC
#define PIIX3_DEV 1
#define PIRQA_GSI 16

static void pirq_route(struct vm *vm, unsigned pirq, uint8_t val)
{
    outl(vm, CONF_ADDR, 0x80000000u | PIIX3_DEV << 11 | 0x60);
    outb(vm, CONF_DATA + pirq, val);
}

static void test_identity_and_defaults(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x00), 0x70008086);
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x08) >> 16, 0x0601);   /* ISA bridge */
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x0C) >> 16 & 0xFF, 0x80);   /* multifunction */
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x04), 0x02000007);
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x60), 0x80808080);   /* PIRQ routing off */
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x68) >> 8 & 0xFF, 0x02);   /* TOM */
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x4C) & 0xFF, 0x4D);   /* IORT */
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x4C) >> 16, 0x0003);  /* XBCS */
    /* Reserved bits 6-4 of a route register stay zero. */
    pirq_route(vm, 1, 0xFF);
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 0, 0x60), 0x80808F80);
    /* Function 1 is the IDE controller, function 2 (USB) is absent. */
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 1, 0x00), 0x70108086);
    assert_int_equal(dt_pci_read32(vm, PIIX3_DEV, 2, 0x00), 0xFFFFFFFF);
    vm_destroy(vm);
}

static void test_pirq_routing(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    vm_set_irq(vm, PIRQA_GSI, 1);
    for (unsigned irq = 0; irq < 16; irq++)
        assert_int_equal(dt_gsi(vm, irq), 0);      /* routing disabled */
    pirq_route(vm, 0, 0x0B);                       /* PIRQA -> IRQ11 */
    assert_int_equal(dt_gsi(vm, 11), 1);           /* the level follows at once */
    vm_set_irq(vm, PIRQA_GSI, 0);
    assert_int_equal(dt_gsi(vm, 11), 0);
    /* Two PIRQs sharing IRQ10: wired-OR. */
    pirq_route(vm, 2, 0x0A);
    pirq_route(vm, 3, 0x0A);
    vm_set_irq(vm, PIRQA_GSI + 2, 1);
    vm_set_irq(vm, PIRQA_GSI + 3, 1);
    vm_set_irq(vm, PIRQA_GSI + 2, 0);
    assert_int_equal(dt_gsi(vm, 10), 1);
    vm_set_irq(vm, PIRQA_GSI + 3, 0);
    assert_int_equal(dt_gsi(vm, 10), 0);
    /* IRQ 0, 1, 2, 8, 13 are not valid targets. */
    pirq_route(vm, 1, 0x08);
    vm_set_irq(vm, PIRQA_GSI + 1, 1);
    assert_int_equal(dt_gsi(vm, 8), 0);
    /* Re-routing a raised line moves it. */
    pirq_route(vm, 1, 0x05);
    assert_int_equal(dt_gsi(vm, 5), 1);
    pirq_route(vm, 1, 0x85);                       /* disable */
    assert_int_equal(dt_gsi(vm, 5), 0);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_defaults),
        cmocka_unit_test(test_pirq_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
