/* PCI functions with a standard header (vmm/pci_function.c), driven through
 * configuration mechanism #1 as a guest or firmware does: BAR sizing per
 * PCI 3.0 6.2.5.1, decoding that follows the command register and moves
 * with the BAR, capabilities, INTx sharing a PIRQ line, and DMA gated by
 * bus mastering. */
#include "device_test_harness.h"

#define CONF_ADDR 0xCF8
#define CONF_DATA 0xCFC
#define TEST_SLOT 4
#define TEST_SLOT2 8                    /* (8 + 1 - 2) & 3 == (4 + 1 - 2) & 3: same PIRQ */
#define IO_BAR_SIZE 16
#define MEM_BAR_SIZE 4096

struct fake {
    pci_function f;
    uint32_t last_io, last_mmio;
    unsigned io_reads, mmio_reads;
};

static uint32_t fake_io_read(void *opaque, uint16_t off, unsigned size)
{
    struct fake *d = opaque;
    (void)size;
    d->io_reads++;
    return 0xAB00u | off;
}

static void fake_io_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    (void)off;
    (void)size;
    ((struct fake *)opaque)->last_io = val;
}

static uint64_t fake_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct fake *d = opaque;
    (void)size;
    d->mmio_reads++;
    return 0xCD000000u | off;
}

static void fake_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)off;
    (void)size;
    ((struct fake *)opaque)->last_mmio = (uint32_t)val;
}

static const pio_ops fake_pio = {fake_io_read, fake_io_write};
static const mmio_ops fake_mmio = {fake_mmio_read, fake_mmio_write};

static void fake_init(struct fake *d, struct vm *vm, unsigned slot)
{
    struct pci_id id = {.vendor = 0x1234, .device = 0x5678, .subsys_vendor = 0x1af4, .subsys = 0x1100,
                        .revision = 2, .class_code = 0x01, .subclass = 0x06, .prog_if = 0x01, .int_pin = 1};
    memset(d, 0, sizeof *d);
    pci_function_init(&d->f, vm, (uint8_t)(slot << 3), &id);
    pci_function_bar(&d->f, 0, PCI_BAR_IO, IO_BAR_SIZE, &fake_pio, d);
    pci_function_bar(&d->f, 1, PCI_BAR_MEM32, MEM_BAR_SIZE, &fake_mmio, d);
    assert_int_equal(pci_function_register(&d->f), 0);
}

static void cfg_write32(struct vm *vm, unsigned slot, unsigned reg, uint32_t v)
{
    outl(vm, CONF_ADDR, 0x80000000u | slot << 11 | reg);
    outl(vm, CONF_DATA, v);
}

static void cfg_write16(struct vm *vm, unsigned slot, unsigned reg, uint16_t v)
{
    outl(vm, CONF_ADDR, 0x80000000u | slot << 11 | (reg & 0xFC));
    outw(vm, (uint16_t)(CONF_DATA + (reg & 2)), v);
}

static uint32_t cfg_read32(struct vm *vm, unsigned slot, unsigned reg)
{
    return dt_pci_read32(vm, slot, 0, reg);
}

static uint32_t mem_read32(struct vm *vm, uint64_t addr)
{
    return (uint32_t)physmem_read(vm_physmem(vm), addr, 4);
}

static void test_header_and_sizing(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    struct fake d;
    fake_init(&d, vm, TEST_SLOT);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x00), 0x56781234);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x08), 0x01060102);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x2C), 0x11001af4);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x3C) >> 8 & 0xFF, 1);  /* INTA */
    /* Vendor and class are read-only. */
    cfg_write32(vm, TEST_SLOT, 0x00, 0);
    cfg_write32(vm, TEST_SLOT, 0x08, 0);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x00), 0x56781234);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x08), 0x01060102);
    /* Sizing: all ones in, the size mask and the type bits out. */
    cfg_write32(vm, TEST_SLOT, 0x10, 0xFFFFFFFF);
    cfg_write32(vm, TEST_SLOT, 0x14, 0xFFFFFFFF);
    cfg_write32(vm, TEST_SLOT, 0x18, 0xFFFFFFFF);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x10), (uint32_t)~(IO_BAR_SIZE - 1) | 1);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x14), (uint32_t)~(MEM_BAR_SIZE - 1));
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x18), 0);   /* no BAR2 */
    /* Only the writable command bits stick; status abort bits are W1C. */
    cfg_write16(vm, TEST_SLOT, 0x04, 0xFFFF);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x04) & 0xFFFF, 0x0547);
    d.f.config[0x07] |= 0x20;                     /* received master abort (bit 13) */
    cfg_write16(vm, TEST_SLOT, 0x06, 0x2000);
    assert_int_equal(d.f.config[0x07] & 0x20, 0);
    vm_destroy(vm);
}

static void test_bars_decode_and_move(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    struct fake d;
    fake_init(&d, vm, TEST_SLOT);
    cfg_write32(vm, TEST_SLOT, 0x10, 0xC000);
    cfg_write32(vm, TEST_SLOT, 0x14, 0xFEB00000);
    /* Decoding off: nothing answers. */
    assert_int_equal(inl(vm, 0xC004), 0xFFFFFFFF);
    assert_int_equal(d.io_reads, 0);
    cfg_write16(vm, TEST_SLOT, 0x04, PCI_CMD_IO | PCI_CMD_MEM);
    assert_int_equal(inb(vm, 0xC004), 0x04);
    outl(vm, 0xC008, 0x11223344);
    assert_int_equal(d.last_io, 0x11223344);
    assert_int_equal(mem_read32(vm, 0xFEB00010), 0xCD000010);
    physmem_write(vm_physmem(vm), 0xFEB00020, 0x55667788, 4);
    assert_int_equal(d.last_mmio, 0x55667788);
    /* Moving the BARs unmaps the old places. */
    cfg_write32(vm, TEST_SLOT, 0x10, 0xD000);
    cfg_write32(vm, TEST_SLOT, 0x14, 0xFEA00000);
    unsigned before = d.io_reads;
    assert_int_equal(inl(vm, 0xC004), 0xFFFFFFFF);
    assert_int_equal(d.io_reads, before);
    assert_int_equal(inb(vm, 0xD00F), 0x0F);
    before = d.mmio_reads;
    assert_int_equal(mem_read32(vm, 0xFEB00010), 0xFFFFFFFF);
    assert_int_equal(d.mmio_reads, before);
    assert_int_equal(mem_read32(vm, 0xFEA00004), 0xCD000004);
    /* Memory decode off again: gone; the I/O BAR stays. */
    cfg_write16(vm, TEST_SLOT, 0x04, PCI_CMD_IO);
    assert_int_equal(mem_read32(vm, 0xFEA00004), 0xFFFFFFFF);
    assert_int_equal(inb(vm, 0xD001), 0x01);
    /* A BAR over another device's region (the I/O APIC) stays unmapped
     * rather than taking it over; the I/O APIC still answers. */
    uint32_t ioapic_ver_before = 0;
    physmem_write(vm_physmem(vm), 0xFEC00000, 1, 4);       /* IOREGSEL = version */
    ioapic_ver_before = mem_read32(vm, 0xFEC00010);
    cfg_write32(vm, TEST_SLOT, 0x14, 0xFEC00000);
    cfg_write16(vm, TEST_SLOT, 0x04, PCI_CMD_IO | PCI_CMD_MEM);
    assert_false(d.f.bar[1].mapped);
    assert_int_equal(mem_read32(vm, 0xFEC00010), ioapic_ver_before);
    /* Reset: decoding off, BARs back to zero. */
    vm_lock(vm);
    pci_function_reset(&d.f);
    vm_unlock(vm);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, 0x10), 1);
    assert_int_equal(inb(vm, 0xD001), 0xFF);
    vm_destroy(vm);
}

static void test_capabilities(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    struct fake d;
    struct pci_id id = {.vendor = 0x1234, .device = 1};
    pci_function_init(&d.f, vm, TEST_SLOT << 3, &id);
    uint8_t a = pci_add_capability(&d.f, 0x09, 16);
    uint8_t b = pci_add_capability(&d.f, 0x05, 10);
    assert_int_equal(a, 0x40);
    assert_int_equal(b, 0x50);
    assert_int_equal(pci_function_register(&d.f), 0);
    assert_true(cfg_read32(vm, TEST_SLOT, 0x04) >> 16 & PCI_STS_CAP_LIST);
    /* Walk the list as a driver does. */
    uint8_t p = (uint8_t)cfg_read32(vm, TEST_SLOT, 0x34);
    assert_int_equal(p, b);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, p) & 0xFF, 0x05);
    p = (uint8_t)(cfg_read32(vm, TEST_SLOT, p) >> 8);
    assert_int_equal(p, a);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, p) & 0xFF, 0x09);
    assert_int_equal(cfg_read32(vm, TEST_SLOT, p) >> 8 & 0xFF, 0);
    vm_destroy(vm);
}

static void test_intx_shared_line(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    struct fake a, b;
    fake_init(&a, vm, TEST_SLOT);
    fake_init(&b, vm, TEST_SLOT2);
    unsigned gsi = PCI_INTX_GSI(TEST_SLOT, 1);
    assert_int_equal(gsi, PCI_INTX_GSI(TEST_SLOT2, 1));
    assert_int_equal(gsi, 16 + ((TEST_SLOT + 1 - 2) & 3));
    vm_lock(vm);
    pci_set_intx(&a.f, 1);
    pci_set_intx(&b.f, 1);
    pci_set_intx(&a.f, 0);   /* b still holds the line: wired-OR */
    vm_unlock(vm);
    assert_int_equal(dt_gsi(vm, gsi), 1);
    assert_true(cfg_read32(vm, TEST_SLOT2, 0x04) >> 16 & PCI_STS_INTX);
    assert_false(cfg_read32(vm, TEST_SLOT, 0x04) >> 16 & PCI_STS_INTX);
    /* Interrupt disable masks b's contribution. */
    cfg_write16(vm, TEST_SLOT2, 0x04, PCI_CMD_INTX_DISABLE);
    assert_int_equal(dt_gsi(vm, gsi), 0);
    cfg_write16(vm, TEST_SLOT2, 0x04, 0);
    assert_int_equal(dt_gsi(vm, gsi), 1);
    vm_lock(vm);
    pci_set_intx(&b.f, 0);
    vm_unlock(vm);
    assert_int_equal(dt_gsi(vm, gsi), 0);
    vm_destroy(vm);
}

static void test_dma_needs_bus_master(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    struct fake d;
    fake_init(&d, vm, TEST_SLOT);
    uint8_t out[8] = {1, 2, 3, 4, 5, 6, 7, 8}, in[8] = {0};
    assert_false(pci_dma_write(&d.f, 0x10000, out, sizeof out));
    assert_int_equal(mem_read32(vm, 0x10000), 0);
    cfg_write16(vm, TEST_SLOT, 0x04, PCI_CMD_MASTER);
    assert_true(pci_dma_write(&d.f, 0x10000, out, sizeof out));
    assert_int_equal(mem_read32(vm, 0x10000), 0x04030201);
    assert_true(pci_dma_read(&d.f, 0x10000, in, sizeof in));
    assert_memory_equal(in, out, sizeof in);
    /* Past the end of RAM (32 MiB): refused, nothing written. */
    assert_false(pci_dma_write(&d.f, (32u << 20) - 4, out, sizeof out));
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_sizing),
        cmocka_unit_test(test_bars_decode_and_move),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_intx_shared_line),
        cmocka_unit_test(test_dma_needs_bus_master),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
