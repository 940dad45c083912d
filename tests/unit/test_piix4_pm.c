/* PIIX4 power management (82371AB function 3): PCI identity, PM1 status/
 * enable/control, PM timer, GPE block, SCI level, power button, soft off. */
#include "device_test_harness.h"

#include "vmm/power_button.h"

#define PM_DEV 1
#define PM_FN 3
#define PM_BASE 0x600
#define PMSTS (PM_BASE + 0x00)
#define PMEN (PM_BASE + 0x02)
#define PMCNTRL (PM_BASE + 0x04)
#define PMTMR (PM_BASE + 0x08)
#define GPSTS (PM_BASE + 0x0C)
#define GPEN (PM_BASE + 0x0E)
#define GLBCTL (PM_BASE + 0x28)
#define SCI_GSI 9
#define TMROF 0x0001
#define GBL 0x0020
#define PWRBTN 0x0100
#define SCI_EN 0x0001
#define SUS_EN 0x2000
#define PMTMR_HZ 3579545u

static uint64_t pm_ticks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * PMTMR_HZ / 1000000000u);
}

static void pci_write8(struct vm *vm, unsigned reg, uint8_t v)
{
    outl(vm, 0xCF8, 0x80000000u | PM_DEV << 11 | PM_FN << 8 | (reg & 0xFC));
    outb(vm, (uint16_t)(0xCFC + (reg & 3)), v);
}

static void pci_write32(struct vm *vm, unsigned reg, uint32_t v)
{
    outl(vm, 0xCF8, 0x80000000u | PM_DEV << 11 | PM_FN << 8 | (reg & 0xFC));
    outl(vm, 0xCFC, v);
}

static void test_pci_identity(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(dt_pci_read32(vm, PM_DEV, PM_FN, 0x00), 0x71138086u);
    assert_int_equal(dt_pci_read32(vm, PM_DEV, PM_FN, 0x08) >> 8, 0x068000u);
    assert_int_equal(dt_pci_read32(vm, PM_DEV, PM_FN, 0x40), PM_BASE | 1);
    assert_int_equal(dt_pci_read32(vm, PM_DEV, PM_FN, 0x80) & 1, 1);
    /* The function's presence makes function 0 a multi-function device. */
    assert_int_equal(dt_pci_read32(vm, PM_DEV, 0, 0x0C) >> 16 & 0x80, 0x80);
    /* PMBA moves the block (SeaBIOS puts it at 0xB000); bits 5:1 read 0. */
    pci_write32(vm, 0x40, 0xB03F);
    assert_int_equal(dt_pci_read32(vm, PM_DEV, PM_FN, 0x40), 0xB001);
    assert_int_equal(inw(vm, PMCNTRL), 0xFFFF);
    assert_int_equal(inw(vm, 0xB000 + (PMCNTRL - PM_BASE)) & SCI_EN, SCI_EN);
    assert_int_equal(inl(vm, 0xB000 + (PMTMR - PM_BASE)) >> 24, 0);
    pci_write32(vm, 0x40, PM_BASE | 1);
    assert_int_equal(inw(vm, 0xB000 + (PMCNTRL - PM_BASE)), 0xFFFF);
    /* Clearing PMIOSE hides the block; setting it brings it back. */
    pci_write8(vm, 0x80, 0);
    assert_int_equal(inw(vm, PMCNTRL), 0xFFFF);
    pci_write8(vm, 0x80, 1);
    assert_int_equal(inw(vm, PMCNTRL) & SCI_EN, SCI_EN);
    /* Device resource registers are plain storage (SeaBIOS writes them). */
    pci_write32(vm, 0x58, 0x12345678);
    assert_int_equal(dt_pci_read32(vm, PM_DEV, PM_FN, 0x58), 0x12345678u);
    vm_destroy(vm);
}

static void test_pm_timer(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    uint32_t a = inl(vm, PMTMR);
    assert_int_equal(a, pm_ticks(dt_now(vm)) & 0xFFFFFF);
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 3000000);
    uint32_t b = inl(vm, PMTMR);
    assert_int_equal(b >> 24, 0);                   /* 24-bit timer */
    assert_int_equal((b - a) & 0xFFFFFF, (pm_ticks(dt_now(vm)) - pm_ticks(t0)) & 0xFFFFFF);
    assert_true(((b - a) & 0xFFFFFF) >= 3 * PMTMR_HZ / 1000);
    /* Byte and word reads see the same counter (the clock is paused). */
    assert_int_equal(inw(vm, PMTMR) | inb(vm, PMTMR + 2) << 16, b);
    /* Read-only. */
    outl(vm, PMTMR, 0);
    assert_int_equal(inl(vm, PMTMR), b);
    vm_destroy(vm);
}

static void test_timer_overflow_sci(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outw(vm, PMSTS, 0xFFFF);
    assert_int_equal(inw(vm, PMSTS) & TMROF, 0);
    outw(vm, PMEN, TMROF);
    assert_int_equal(inw(vm, PMEN), TMROF);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    /* Bit 23 toggles every 2^23 ticks, 2.34 s. */
    dt_advance(vm, (uint64_t)(1u << 23) * 1000000000u / PMTMR_HZ + 1000000);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 1);        /* raised by the timer */
    assert_int_equal(inw(vm, PMSTS) & TMROF, TMROF);
    outw(vm, PMSTS, TMROF);                          /* write 1 to clear */
    assert_int_equal(inw(vm, PMSTS) & TMROF, 0);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    vm_destroy(vm);
}

static void test_power_button(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_true(vm_press_power_button(vm));
    assert_int_equal(inw(vm, PMSTS) & PWRBTN, PWRBTN);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);        /* not enabled */
    outw(vm, PMEN, PWRBTN);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 1);
    outw(vm, PMSTS, 0);                              /* writing 0 changes nothing */
    assert_int_equal(inw(vm, PMSTS) & PWRBTN, PWRBTN);
    outb(vm, PMSTS + 1, PWRBTN >> 8);
    assert_int_equal(inw(vm, PMSTS) & PWRBTN, 0);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    assert_true(vm_press_power_button(vm));
    assert_int_equal(dt_gsi(vm, SCI_GSI), 1);
    outw(vm, PMEN, 0);                               /* disabling drops the SCI */
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    vm_destroy(vm);
}

static void test_control_and_soft_off(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(inw(vm, PMCNTRL), SCI_EN);      /* ACPI mode from power-on */
    outw(vm, PMCNTRL, 0);
    assert_int_equal(inw(vm, PMCNTRL), SCI_EN);
    /* SUS_TYP 1 (suspend to RAM) is not offered: stays on. */
    outw(vm, PMCNTRL, 1 << 10 | SUS_EN);
    assert_false(vm->req_poweroff);
    assert_int_equal(inw(vm, PMCNTRL), 1 << 10 | SCI_EN);   /* SUS_EN reads 0 */
    /* SLP_TYP 0 (the DSDT's _S5) with SLP_EN: power off, status 0. */
    outw(vm, PMCNTRL, 0 << 10 | SUS_EN | SCI_EN);
    assert_true(vm->req_poweroff);
    assert_int_equal(vm->exit_status, 0);
    vm_destroy(vm);
}

static void test_gpe_and_global_lock(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outw(vm, GPEN, 0xA5A5);
    assert_int_equal(inw(vm, GPEN), 0xA5A5);
    assert_int_equal(inl(vm, GPSTS), 0xA5A50000u);   /* no event pending */
    outw(vm, GPSTS, 0xFFFF);
    assert_int_equal(inw(vm, GPSTS), 0);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    /* BIOS_RLS raises GBL_STS, an SCI when GBL_EN is set. */
    outw(vm, PMEN, GBL);
    outl(vm, GLBCTL, 0x2);
    assert_int_equal(inw(vm, PMSTS) & GBL, GBL);
    assert_int_equal(inl(vm, GLBCTL) & 0x2, 0);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 1);
    outw(vm, PMSTS, GBL);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    vm_destroy(vm);
}

static void test_reset(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outw(vm, PMEN, PWRBTN);
    vm_press_power_button(vm);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 1);
    vm_lock(vm);
    vm_machine_reset(vm);
    vm_unlock(vm);
    assert_int_equal(inw(vm, PMEN), 0);
    assert_int_equal(inw(vm, PMSTS) & PWRBTN, 0);
    assert_int_equal(dt_gsi(vm, SCI_GSI), 0);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pci_identity),
        cmocka_unit_test(test_pm_timer),
        cmocka_unit_test(test_timer_overflow_sci),
        cmocka_unit_test(test_power_button),
        cmocka_unit_test(test_control_and_soft_off),
        cmocka_unit_test(test_gpe_and_global_lock),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
