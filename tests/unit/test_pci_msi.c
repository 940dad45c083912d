/* Message signalled interrupts (vmm/pci_msi.c): the message layout against
 * SDM Vol. 3A 10.11.1-2, the MSI capability (PCI 3.0 6.8.1) and the MSI-X
 * capability, table and Pending Bit Array (6.8.2) driven as a guest does
 * (configuration mechanism #1, the table through MMIO), with the real
 * local APICs of a 2-vCPU machine as the oracle of what was delivered:
 * the IRR and TMR bits of the vector on the destination APIC only. */
#include "apic_test_util.h"

#define CONF_ADDR 0xCF8
#define CONF_DATA 0xCFC
#define TEST_SLOT 4
#define TEST_DEVFN (TEST_SLOT << 3)
#define MSIX_BAR 2
#define MSIX_BAR_ADDR 0xF0000000u
#define NVEC 3
#define RAM_TARGET 0x20000u             /* a message to plain RAM */

/* Message address and data as the SDM draws them (figures 10-24, 10-25). */
#define ADDR(dest, rh, dm) (0xFEE00000u | (uint32_t)(dest) << 12 | (rh) << 3 | (dm) << 2)
#define DATA(vec, mode, level_assert, trig) \
    ((uint32_t)(vec) | (uint32_t)(mode) << 8 | (uint32_t)(level_assert) << 14 | (uint32_t)(trig) << 15)

static void cfg_write(struct vm *vm, unsigned reg, unsigned size, uint32_t val)
{
    outl(vm, CONF_ADDR, 0x80000000u | TEST_DEVFN << 8 | (reg & 0xFC));
    dt_out(vm, (uint16_t)(CONF_DATA + (reg & 3)), size, val);
}

static uint32_t cfg_read(struct vm *vm, unsigned reg, unsigned size)
{
    outl(vm, CONF_ADDR, 0x80000000u | TEST_DEVFN << 8 | (reg & 0xFC));
    return dt_in(vm, (uint16_t)(CONF_DATA + (reg & 3)), size);
}

static uint64_t mmio_rd(struct vm *vm, uint64_t a, unsigned size)
{
    vm_lock(vm);
    uint64_t v = physmem_read(&vm->mem, a, size);
    vm_unlock(vm);
    return v;
}

static void mmio_wr(struct vm *vm, uint64_t a, uint64_t v, unsigned size)
{
    vm_lock(vm);
    physmem_write(&vm->mem, a, v, size);
    vm_unlock(vm);
}

static pci_function *fn_new(struct vm *vm)
{
    pci_function *f = calloc(1, sizeof *f);
    assert_non_null(f);
    struct pci_id id = {.vendor = 0x1234, .device = 0x5678, .class_code = 0x01, .subclass = 0x06,
                        .int_pin = 1};
    pci_function_init(f, vm, TEST_DEVFN, &id);
    return f;
}

/* Both APICs on, flat logical model with one LDR bit each. */
static struct vm *machine(void)
{
    struct vm *vm = apic_vm_new(2);
    pic_mask_all(vm);
    for (int c = 0; c < 2; c++) {
        apic_enable(vm, c);
        apic_wr(vm, c, A_LDR, 0x01000000u << c);
    }
    return vm;
}

/* The vector's IRR and TMR bits on each vCPU, as 2 bits: cpu1 << 1 | cpu0. */
static unsigned irr(struct vm *vm, unsigned vec)
{
    return (unsigned)(apic_bit(vm, 0, A_IRR, vec) | apic_bit(vm, 1, A_IRR, vec) << 1);
}

static unsigned tmr(struct vm *vm, unsigned vec)
{
    return (unsigned)(apic_bit(vm, 0, A_TMR, vec) | apic_bit(vm, 1, A_TMR, vec) << 1);
}

/* Takes vec off both APICs again (INTA, then EOI). */
static void drain(struct vm *vm, unsigned vec)
{
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 8; i++) {
            int v = cpu_inta(vm, c);
            if (v < 0 || v == 0xFF)
                break;
        }
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 8; i++)
            apic_wr(vm, c, A_EOI, 0);
    assert_int_equal(irr(vm, vec), 0);
}

static void test_decode(void **st)
{
    (void)st;
    struct apic_msg m;
    /* Physical destination 3, fixed, edge. */
    assert_true(pci_msi_decode(ADDR(3, 0, 0), DATA(0x41, 0, 0, 0), &m));
    assert_int_equal(m.vector, 0x41);
    assert_int_equal(m.dest, 3);
    assert_int_equal(m.delivery, APIC_DM_FIXED);
    assert_false(m.logical);
    assert_false(m.level);
    /* Logical destination 0xA5 (bits 19:12), lowest priority with RH,
     * level triggered. */
    assert_true(pci_msi_decode(ADDR(0xA5, 1, 1), DATA(0xFE, 1, 1, 1), &m));
    assert_int_equal(m.dest, 0xA5);
    assert_true(m.logical);
    assert_int_equal(m.delivery, APIC_DM_LOWEST);
    assert_true(m.level);
    assert_int_equal(m.vector, 0xFE);
    /* Bit 14 (level) alone does not make it level triggered: bit 15 does. */
    assert_true(pci_msi_decode(ADDR(0, 0, 0), DATA(0x41, 0, 1, 0), &m));
    assert_false(m.level);
    assert_true(pci_msi_decode(ADDR(0, 0, 0), DATA(0x41, 0, 0, 1), &m));
    assert_true(m.level);
    /* NMI and ExtINT delivery modes (bits 10:8). */
    assert_true(pci_msi_decode(ADDR(0, 0, 0), DATA(0, 4, 0, 0), &m));
    assert_int_equal(m.delivery, APIC_DM_NMI);
    assert_true(pci_msi_decode(ADDR(0, 0, 0), DATA(0, 7, 0, 0), &m));
    assert_int_equal(m.delivery, APIC_DM_EXTINT);
    /* Reserved modes 011b and 110b; addresses outside 0xFEExxxxx. */
    assert_false(pci_msi_decode(ADDR(0, 0, 0), DATA(0x41, 3, 0, 0), &m));
    assert_false(pci_msi_decode(ADDR(0, 0, 0), DATA(0x41, 6, 0, 0), &m));
    assert_false(pci_msi_decode(0xFED00000u, DATA(0x41, 0, 0, 0), &m));
    assert_false(pci_msi_decode(0x1FEE00000ull, DATA(0x41, 0, 0, 0), &m));
}

/* MSI: the capability's layout, then messages reaching the APIC the
 * address names, with the mode the data gives. */
static void test_msi(void **st)
{
    (void)st;
    struct vm *vm = machine();
    pci_function *f = fn_new(vm);
    uint8_t cap = pci_msi_init(f);
    assert_true(cap >= 0x40);
    assert_int_equal(pci_function_register(f), 0);
    assert_int_equal(cfg_read(vm, 0x34, 1), cap);
    assert_true(cfg_read(vm, 0x06, 2) & 0x10);
    /* ID 05h, end of list; Message Control: 64-bit capable, one message
     * capable, disabled (6.8.1.3). */
    assert_int_equal(cfg_read(vm, cap, 2), 0x0005);
    assert_int_equal(cfg_read(vm, cap + 2, 2), 0x0080);
    /* Address bits 1:0 read 0 (6.8.1.4); the data is 16 bits. */
    cfg_write(vm, cap + 4, 4, ADDR(1, 0, 0) | 3);
    assert_int_equal(cfg_read(vm, cap + 4, 4), ADDR(1, 0, 0));
    cfg_write(vm, cap + 8, 4, 0);
    cfg_write(vm, cap + 12, 2, DATA(0x51, 0, 0, 0));
    assert_int_equal(cfg_read(vm, cap + 12, 2), 0x51);

    /* Disabled: nothing. */
    cfg_write(vm, 0x04, 2, PCI_CMD_MASTER);
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x51), 0);
    /* Enabled, but bus mastering off: a function cannot write. */
    cfg_write(vm, cap + 2, 2, 1);
    assert_true(pci_msi_enabled(f, cap));
    cfg_write(vm, 0x04, 2, 0);
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x51), 0);
    /* Physical destination 1: vCPU 1 only, edge (TMR clear). */
    cfg_write(vm, 0x04, 2, PCI_CMD_MASTER);
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x51), 2);
    assert_int_equal(tmr(vm, 0x51), 0);
    drain(vm, 0x51);
    /* A level-triggered deassert message (bit 14 clear) asks nothing of
     * the APICs. */
    cfg_write(vm, cap + 12, 2, DATA(0x62, 0, 0, 1));
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x62), 0);
    /* Logical destination 1 (LDR bit 0: vCPU 0), level assert. */
    cfg_write(vm, cap + 4, 4, ADDR(1, 0, 1));
    cfg_write(vm, cap + 12, 2, DATA(0x62, 0, 1, 1));
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x62), 1);
    assert_int_equal(tmr(vm, 0x62), 1);
    drain(vm, 0x62);
    /* Physical destination 0, delivered to vCPU 0 only; broadcast 0xFF to
     * both. */
    cfg_write(vm, cap + 4, 4, ADDR(0, 0, 0));
    cfg_write(vm, cap + 12, 2, DATA(0x73, 0, 0, 0));
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x73), 1);
    drain(vm, 0x73);
    cfg_write(vm, cap + 4, 4, ADDR(0xFF, 0, 0));
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(irr(vm, 0x73), 3);
    drain(vm, 0x73);
    /* Outside the interrupt range the message is a plain DWORD write. */
    cfg_write(vm, cap + 4, 4, RAM_TARGET);
    cfg_write(vm, cap + 12, 2, 0xBEEF);
    vm_lock(vm);
    pci_msi_notify(f, cap);
    vm_unlock(vm);
    assert_int_equal(physmem_read(&vm->mem, RAM_TARGET, 4), 0xBEEF);
    /* Reset: disabled, address and data 0. */
    pci_msi_reset(f, cap);
    assert_false(pci_msi_enabled(f, cap));
    assert_int_equal(cfg_read(vm, cap + 2, 2), 0x0080);
    assert_int_equal(cfg_read(vm, cap + 4, 4), 0);
    vm_destroy(vm);
    free(f);
}

struct msix_fx {
    struct vm *vm;
    pci_function *f;
    struct pci_msix m;
};

static void msix_setup(struct msix_fx *x)
{
    x->vm = machine();
    x->f = fn_new(x->vm);
    assert_int_equal(pci_msix_init(&x->m, x->f, MSIX_BAR, NVEC), 0);
    x->f->opaque = x;
    assert_int_equal(pci_function_register(x->f), 0);
}

static void msix_done(struct msix_fx *x)
{
    vm_destroy(x->vm);
    free(x->f);
}

/* The device's configuration hook, as virtio_pci.c and others have it. */
static void msix_hook(pci_function *f, uint8_t reg, unsigned size)
{
    struct msix_fx *x = f->opaque;
    pci_msix_config_written(&x->m, reg, size);
}

static uint64_t entry(unsigned vec, unsigned dw)
{
    return MSIX_BAR_ADDR + 16ull * vec + 4 * dw;
}

static void notify(struct msix_fx *x, unsigned vec)
{
    vm_lock(x->vm);
    pci_msix_notify(&x->m, vec);
    vm_unlock(x->vm);
}

static void test_msix_layout(void **st)
{
    (void)st;
    struct msix_fx x;
    msix_setup(&x);
    struct vm *vm = x.vm;
    uint8_t cap = x.m.cap;
    assert_int_equal(cfg_read(vm, 0x34, 1), cap);
    /* ID 11h; table size N-1; disabled, not masked (6.8.2.3). */
    assert_int_equal(cfg_read(vm, cap, 2), 0x0011);
    assert_int_equal(cfg_read(vm, cap + 2, 2), NVEC - 1);
    /* Table size is read-only; enable and function mask are not. */
    cfg_write(vm, cap + 2, 2, 0xC7FF);
    assert_int_equal(cfg_read(vm, cap + 2, 2), 0xC000 | (NVEC - 1));
    cfg_write(vm, cap + 2, 2, 0);
    /* Table and PBA in BAR2 at distinct QWORD-aligned offsets (6.8.2.4-5). */
    uint32_t t = cfg_read(vm, cap + 4, 4), p = cfg_read(vm, cap + 8, 4);
    assert_int_equal(t & 7, MSIX_BAR);
    assert_int_equal(p & 7, MSIX_BAR);
    assert_int_equal(t & ~7u, 0);
    assert_true((p & ~7u) >= 16 * NVEC);
    /* The BAR: 4 KiB memory. */
    cfg_write(vm, 0x10 + 4 * MSIX_BAR, 4, 0xFFFFFFFF);
    assert_int_equal(cfg_read(vm, 0x10 + 4 * MSIX_BAR, 4), 0xFFFFF000u);
    cfg_write(vm, 0x10 + 4 * MSIX_BAR, 4, MSIX_BAR_ADDR);
    cfg_write(vm, 0x04, 2, PCI_CMD_MEM);
    /* Every vector starts masked (6.8.2.9), nothing pending. */
    for (unsigned v = 0; v < NVEC; v++)
        assert_int_equal(mmio_rd(vm, entry(v, 3), 4), 1);
    assert_int_equal(mmio_rd(vm, MSIX_BAR_ADDR + (p & ~7u), 4), 0);
    /* DWORD and QWORD accesses to the entries; address bits 1:0 read 0 and
     * vector control's reserved bits too. */
    mmio_wr(vm, entry(1, 0), ADDR(1, 0, 0) | 3, 4);
    assert_int_equal(mmio_rd(vm, entry(1, 0), 4), ADDR(1, 0, 0));
    mmio_wr(vm, entry(1, 2), 0xFFFFFFFE00000055ull, 8);
    assert_int_equal(mmio_rd(vm, entry(1, 2), 4), 0x55);
    assert_int_equal(mmio_rd(vm, entry(1, 3), 4), 0);
    assert_int_equal(mmio_rd(vm, entry(1, 0), 8), ADDR(1, 0, 0));
    /* The PBA is read-only. */
    mmio_wr(vm, MSIX_BAR_ADDR + (p & ~7u), 0xFFFFFFFF, 4);
    assert_int_equal(mmio_rd(vm, MSIX_BAR_ADDR + (p & ~7u), 4), 0);
    /* Reset masks the vectors again and disables. */
    cfg_write(vm, cap + 2, 2, 0x8000);
    pci_msix_reset(&x.m);
    assert_false(pci_msix_enabled(&x.m));
    assert_int_equal(mmio_rd(vm, entry(1, 3), 4), 1);
    assert_int_equal(mmio_rd(vm, entry(1, 2), 4), 0);
    msix_done(&x);
}

/* Messages, masking and the pending bits (6.8.2.9). */
static void test_msix_delivery(void **st)
{
    (void)st;
    struct msix_fx x;
    msix_setup(&x);
    x.f->config_written = msix_hook;
    struct vm *vm = x.vm;
    uint8_t cap = x.m.cap;
    uint64_t pba = MSIX_BAR_ADDR + (cfg_read(vm, cap + 8, 4) & ~7u);
    cfg_write(vm, 0x10 + 4 * MSIX_BAR, 4, MSIX_BAR_ADDR);
    cfg_write(vm, 0x04, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
    /* Vector 0: vCPU 1, 0x44; vector 2: logical vCPU 0, 0x45, level. */
    mmio_wr(vm, entry(0, 0), ADDR(1, 0, 0), 4);
    mmio_wr(vm, entry(0, 1), 0, 4);
    mmio_wr(vm, entry(0, 2), DATA(0x44, 0, 0, 0), 4);
    mmio_wr(vm, entry(2, 0), ADDR(1, 0, 1), 4);
    mmio_wr(vm, entry(2, 2), DATA(0x45, 0, 1, 1), 4);

    /* MSI-X off: nothing, not even pending. */
    notify(&x, 0);
    assert_int_equal(irr(vm, 0x44), 0);
    assert_int_equal(mmio_rd(vm, pba, 4), 0);
    /* On, vector masked: the pending bit, no message. */
    cfg_write(vm, cap + 2, 2, 0x8000);
    assert_true(pci_msix_enabled(&x.m));
    notify(&x, 0);
    assert_int_equal(irr(vm, 0x44), 0);
    assert_int_equal(mmio_rd(vm, pba, 4), 1);
    /* Unmasking sends it and clears the bit. */
    mmio_wr(vm, entry(0, 3), 0, 4);
    assert_int_equal(irr(vm, 0x44), 2);
    assert_int_equal(tmr(vm, 0x44), 0);
    assert_int_equal(mmio_rd(vm, pba, 4), 0);
    drain(vm, 0x44);
    /* Unmasked: at once. */
    notify(&x, 0);
    assert_int_equal(irr(vm, 0x44), 2);
    drain(vm, 0x44);
    /* Function mask: pending; clearing it sends. */
    cfg_write(vm, cap + 2, 2, 0xC000);
    notify(&x, 0);
    assert_int_equal(irr(vm, 0x44), 0);
    assert_int_equal(mmio_rd(vm, pba, 4), 1);
    cfg_write(vm, cap + 2, 2, 0x8000);
    assert_int_equal(irr(vm, 0x44), 2);
    assert_int_equal(mmio_rd(vm, pba, 4), 0);
    drain(vm, 0x44);
    /* Vector 2 stays pending while masked; 1 and 0 do not disturb it. */
    notify(&x, 2);
    assert_int_equal(mmio_rd(vm, pba, 4), 4);
    mmio_wr(vm, entry(2, 3), 0, 4);
    assert_int_equal(irr(vm, 0x45), 1);
    assert_int_equal(tmr(vm, 0x45), 1);
    assert_int_equal(mmio_rd(vm, pba, 4), 0);
    drain(vm, 0x45);
    /* Out of range: nothing. */
    notify(&x, NVEC);
    assert_int_equal(mmio_rd(vm, pba, 4), 0);
    /* Bus mastering off: the write cannot be made. */
    cfg_write(vm, 0x04, 2, PCI_CMD_MEM);
    notify(&x, 0);
    assert_int_equal(irr(vm, 0x44), 0);
    msix_done(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_msi),
        cmocka_unit_test(test_msix_layout),
        cmocka_unit_test(test_msix_delivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
