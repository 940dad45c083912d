/* i440FX host bridge: PCI configuration mechanism #1 (PCI 2.1 3.7.4.1),
 * the 82441FX configuration defaults, PAM shadow-RAM control of the BIOS
 * window and the reset control register at 0xCF9. */
#include "device_test_harness.h"

#define CONF_ADDR 0xCF8
#define CONF_DATA 0xCFC
#define RESET_CTRL 0xCF9
#define BIOS_ADDR 0xF0000u
#define ROM_ADDR 0xC8000u

static void test_mechanism1(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(dt_pci_read32(vm, 0, 0, 0x00), 0x12378086);
    assert_int_equal(inl(vm, CONF_ADDR), 0x80000000);
    /* CONFIG_DATA at any byte offset and size within the dword. */
    assert_int_equal(inw(vm, CONF_DATA + 2), 0x1237);
    assert_int_equal(inb(vm, CONF_DATA + 1), 0x80);
    outl(vm, CONF_ADDR, 0x80000008);
    assert_int_equal(inl(vm, CONF_DATA) >> 8, 0x060000);   /* host bridge class */
    assert_int_equal(inb(vm, CONF_DATA), 0x02);            /* revision */
    /* Subsystem IDs by which SeaBIOS knows a QEMU-style board. */
    assert_int_equal(dt_pci_read32(vm, 0, 0, 0x2C), 0x11001AF4);
    assert_int_equal(dt_pci_read32(vm, 0, 0, 0x04), 0x02800006);   /* status | command */
    assert_int_equal(dt_pci_read32(vm, 0, 0, 0x70) >> 16 & 0xFF, 0x02);   /* SMRAM */
    /* Reserved address bits read as zero; bit 31 off disables the data port. */
    outl(vm, CONF_ADDR, 0xFF000003);
    assert_int_equal(inl(vm, CONF_ADDR), 0x80000000);
    outl(vm, CONF_ADDR, 0x00000000);
    assert_int_equal(inl(vm, CONF_DATA), 0xFFFFFFFF);
    /* Byte access to 0xCF8 is not CONFIG_ADDRESS. */
    outl(vm, CONF_ADDR, 0x80000000);
    outb(vm, CONF_ADDR, 0x12);
    assert_int_equal(inl(vm, CONF_ADDR), 0x80000000);
    /* PIIX3 at 00:01.0, nothing at 00:05.0 or on bus 1. */
    assert_int_equal(dt_pci_read32(vm, 1, 0, 0x00), 0x70008086);
    assert_int_equal(dt_pci_read32(vm, 5, 0, 0x00), 0xFFFFFFFF);
    outl(vm, CONF_ADDR, 0x80010000);
    assert_int_equal(inl(vm, CONF_DATA), 0xFFFFFFFF);
    /* Read-only vendor ID; writable latency timer (bits 7-3). */
    outl(vm, CONF_ADDR, 0x80000000);
    outl(vm, CONF_DATA, 0);
    assert_int_equal(inl(vm, CONF_DATA), 0x12378086);
    outl(vm, CONF_ADDR, 0x8000000C);
    outb(vm, CONF_DATA + 1, 0xFF);
    assert_int_equal(inb(vm, CONF_DATA + 1), 0xF8);
    vm_destroy(vm);
}

static void set_pam(struct vm *vm, unsigned reg, uint8_t val)
{
    outl(vm, CONF_ADDR, 0x80000000u | (reg & 0xFC));
    outb(vm, CONF_DATA + (reg & 3), val);
}

static void test_pam(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    physmem *pm = &vm->mem;
    uint8_t *ram = physmem_ram_ptr(pm, 0, 1u << 20);   /* low MiB, plain RAM */
    (void)ram;
    /* Power-on: reads of the BIOS window come from the ROM image. */
    assert_int_equal(physmem_read(pm, BIOS_ADDR, 1), DT_BIOS_FILL);
    set_pam(vm, 0x59, 0x30);                       /* PAM0 high: F0000-FFFFF RE|WE */
    assert_true(pm->pam_read_ram[12] && pm->pam_write_ram[15]);
    physmem_write(pm, BIOS_ADDR, 0x5A, 1);
    assert_int_equal(physmem_read(pm, BIOS_ADDR, 1), 0x5A);
    set_pam(vm, 0x59, 0x10);                       /* read RAM, writes to ROM (dropped) */
    assert_true(pm->pam_read_ram[12] && !pm->pam_write_ram[12]);
    physmem_write(pm, BIOS_ADDR, 0x77, 1);
    assert_int_equal(physmem_read(pm, BIOS_ADDR, 1), 0x5A);
    set_pam(vm, 0x59, 0x00);
    assert_int_equal(physmem_read(pm, BIOS_ADDR, 1), DT_BIOS_FILL);
    outl(vm, CONF_ADDR, 0x80000058);
    assert_int_equal(inb(vm, CONF_DATA + 1), 0x00);
    /* PAM2 low nibble is C8000-CBFFF, high nibble CC000-CFFFF. */
    set_pam(vm, 0x5B, 0x03);
    assert_true(pm->pam_read_ram[2] && pm->pam_write_ram[2]);
    assert_false(pm->pam_read_ram[3]);
    assert_false(pm->pam_read_ram[1]);
    physmem_write(pm, ROM_ADDR, 0xC3, 1);
    assert_int_equal(physmem_read(pm, ROM_ADDR, 1), 0xC3);
    /* Reserved PAM bits do not stick. */
    set_pam(vm, 0x5C, 0xFF);
    outl(vm, CONF_ADDR, 0x8000005C);
    assert_int_equal(inb(vm, CONF_DATA), 0x33);
    /* Machine reset returns every PAM to ROM/PCI. */
    vm_lock(vm);
    vm_machine_reset(vm);
    vm_unlock(vm);
    assert_false(pm->pam_read_ram[2]);
    assert_int_equal(dt_pci_read32(vm, 0, 0, 0x5C), 0x00000000);
    vm_destroy(vm);
}

static void test_reset_control(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, RESET_CTRL, 0x02);                    /* select hard reset */
    assert_false(vm->req_reset);
    assert_int_equal(inb(vm, RESET_CTRL), 0x02);
    outb(vm, RESET_CTRL, 0x06);                    /* RCPU 0->1 */
    assert_true(vm->req_reset);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mechanism1),
        cmocka_unit_test(test_pam),
        cmocka_unit_test(test_reset_control),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
