/* The DSDT's content: the PC's device tree in AML.
 *   \_SB.PCI0        host bridge (i440FX): _HID, _BBN, _UID, windows, _PRT
 *   \_SB.PCI0.ISA    PIIX3 PCI-to-ISA bridge and the legacy devices behind it
 *   \_SB.CPxx        processors (ACPI0007, _UID = MADT processor UID)
 *   \_S5             soft off
 * The power button is the FADT's fixed-hardware one: no object here. */
#include <stdio.h>

#include "firmware/acpi.h"
#include "firmware/aml.h"
#include "runtime/util.h"
#include "vmm/memory.h"

#define PCI_SLOTS 32
#define PCI_INTX_PINS 4
#define PIIX_ISA_ADR 0x00010000u     /* _ADR: device 1, function 0 */
#define PRT_ALL_FUNCTIONS 0xFFFFu    /* _PRT address: function field "any" */
#define PCI_CONFIG_PORT 0xCF8u       /* configuration mechanism #1 */
#define VGA_WINDOW_BASE 0xA0000u     /* PC/AT memory map */
#define VGA_WINDOW_END 0xBFFFFu
#define PCI_HOLE_END 0xFEBFFFFFu     /* below the I/O APIC and the rest */
#define ONE_GIB (1ull << 30)

/* Legacy ISA devices (PC/AT I/O map): one ISA IRQ each, or none. */
struct isa_dev {
    const char *name, *hid;
    struct {
        uint16_t base;
        uint8_t len;
    } io[3];
    int irq;                         /* -1: none */
    int uid;                         /* -1: none */
};

static const struct isa_dev isa_devs[] = {
    {"PIC", "PNP0000", {{0x20, 2}, {0xA0, 2}, {0x4D0, 2}}, 2, -1},   /* + ELCR */
    {"TMR", "PNP0100", {{0x40, 4}, {0, 0}, {0, 0}}, 0, -1},
    {"RTC", "PNP0B00", {{0x70, 2}, {0, 0}, {0, 0}}, 8, -1},
    {"KBD", "PNP0303", {{0x60, 1}, {0x64, 1}, {0, 0}}, 1, -1},
    {"MOU", "PNP0F13", {{0, 0}, {0, 0}, {0, 0}}, 12, -1},
    {"COM1", "PNP0501", {{0x3F8, 8}, {0, 0}, {0, 0}}, 4, 1},
};

static void isa_device(struct aml *a, const struct isa_dev *d)
{
    aml_device(a, d->name);
    aml_name_eisaid(a, "_HID", d->hid);
    if (d->uid >= 0)
        aml_name_int(a, "_UID", (uint64_t)d->uid);
    struct aml_res r;
    aml_res_init(&r);
    for (int i = 0; i < 3; i++)
        if (d->io[i].len)
            aml_res_io(&r, d->io[i].base, d->io[i].base, 1, d->io[i].len);
    if (d->irq >= 0)
        aml_res_irq(&r, (unsigned)d->irq);
    aml_name(a, "_CRS");
    aml_res_emit(a, &r);
    aml_end(a);
}

static void isa_bridge(struct aml *a, const struct acpi_machine *m)
{
    aml_device(a, "ISA");
    aml_name_int(a, "_ADR", PIIX_ISA_ADR);
    for (size_t i = 0; i < sizeof isa_devs / sizeof isa_devs[0]; i++)
        isa_device(a, &isa_devs[i]);

    aml_device(a, "HPET");
    aml_name_eisaid(a, "_HID", "PNP0103");
    aml_name_int(a, "_UID", 0);
    struct aml_res r;
    aml_res_init(&r);
    aml_res_mem32_fixed(&r, false, m->hpet_addr, ACPI_HPET_SIZE);
    aml_name(a, "_CRS");
    aml_res_emit(a, &r);
    aml_end(a);

    aml_end(a);
}

/* The root bridge's decoded ranges (PCI firmware spec 3.0, 4.1.2). */
static void pci_crs(struct aml *a, const struct acpi_machine *m)
{
    struct aml_res r;
    aml_res_init(&r);
    aml_res_word_bus(&r, 0x00, 0xFF);
    aml_res_io(&r, PCI_CONFIG_PORT, PCI_CONFIG_PORT, 1, 8);
    aml_res_word_io(&r, 0x0000, PCI_CONFIG_PORT - 1);
    aml_res_word_io(&r, 0x0D00, 0xFFFF);
    aml_res_dword_mem(&r, AML_MEM_CACHEABLE, VGA_WINDOW_BASE, VGA_WINDOW_END);
    if (m->ram_below_4g < PCI_HOLE_END)
        aml_res_dword_mem(&r, AML_MEM_NONCACHEABLE, (uint32_t)m->ram_below_4g, PCI_HOLE_END);
    uint64_t hi = align_up(FOUR_GIB + m->ram_above_4g, ONE_GIB);
    if (hi + ACPI_PCI64_SIZE <= m->phys_addr_limit)
        aml_res_qword_mem(&r, AML_MEM_CACHEABLE, hi, hi + ACPI_PCI64_SIZE - 1);
    aml_name(a, "_CRS");
    aml_res_emit(a, &r);
}

/* _PRT entries: Package {Address, Pin, Source (0: GSI), Source Index (GSI)}
 * (ACPI 6.4 6.2.13). */
static void pci_prt(struct aml *a)
{
    aml_name(a, "_PRT");
    aml_package(a, (PCI_SLOTS - 1) * PCI_INTX_PINS);
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < PCI_INTX_PINS; pin++) {
            aml_package(a, 4);
            aml_int(a, (uint64_t)slot << 16 | PRT_ALL_FUNCTIONS);
            aml_int(a, pin);
            aml_int(a, 0);
            aml_int(a, ACPI_PCI_INTX_GSI(slot, pin));
            aml_end(a);
        }
    }
    aml_end(a);
}

static void processors(struct aml *a, const struct acpi_machine *m)
{
    for (int i = 0; i < m->ncpus; i++) {
        char name[8];
        snprintf(name, sizeof name, "CP%02X", (unsigned)i & 0xFF);
        aml_device(a, name);
        aml_name_string(a, "_HID", "ACPI0007");
        aml_name_int(a, "_UID", (uint64_t)i);
        aml_end(a);
    }
}

size_t acpi_dsdt_body(const struct acpi_machine *m, uint8_t **out)
{
    struct aml a;
    aml_init(&a);
    aml_scope(&a, "_SB");          /* at the root: no prefix needed */
    aml_device(&a, "PCI0");
    /* No _ADR beside the _HID: a device has one or the other (ACPI 6.4
     * 6.1, iasl warning 3073); _BBN and _UID say which root bridge. */
    aml_name_eisaid(&a, "_HID", "PNP0A03");
    aml_name_int(&a, "_BBN", 0);
    aml_name_int(&a, "_UID", 0);
    pci_crs(&a, m);
    pci_prt(&a);
    isa_bridge(&a, m);
    aml_end(&a);                     /* PCI0 */
    processors(&a, m);
    aml_end(&a);                     /* \_SB */

    /* Sleep states (7.4.2): {SLP_TYPa, SLP_TYPb, reserved, reserved}. */
    aml_name(&a, "_S5");
    aml_package(&a, 4);
    aml_int(&a, ACPI_S5_SLP_TYP);
    aml_int(&a, ACPI_S5_SLP_TYP);
    aml_int(&a, 0);
    aml_int(&a, 0);
    aml_end(&a);

    if (!aml_ok(&a)) {
        aml_free(&a);
        *out = NULL;
        return 0;
    }
    *out = a.buf;
    return a.len;
}
