/* The ACPI tables of the PC (ACPI 6.4), built at start-up for a guest that
 * boots without a BIOS: RSDP, RSDT, XSDT, FADT, FACS, DSDT, MADT and HPET.
 * They describe the machine of src/vmm/pc.c: i440FX + PIIX3 with the PIIX4
 * power-management function at 00:01.3, an I/O APIC, local APICs, HPET. */
#ifndef CAIXA_FIRMWARE_ACPI_H
#define CAIXA_FIRMWARE_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* The platform's fixed addresses, as the devices place themselves. */
#define ACPI_LAPIC_BASE 0xFEE00000u     /* Intel SDM vol. 3 10.4.1 */
#define ACPI_IOAPIC_BASE 0xFEC00000u    /* 82093AA default */
#define ACPI_HPET_BASE 0xFED00000u      /* IA-PC HPET spec 1.0a, 2.1 */
#define ACPI_HPET_SIZE 0x400u
/* The HPET's capabilities register bits 31:0 (src/devices/hpet.c): vendor
 * 8086h, LegacyReplacement capable, 64-bit counter, 3 timers, revision 1. */
#define ACPI_HPET_BLOCK_ID 0x8086A201u
/* Shortest periodic interval the HPET table promises, in counter ticks. */
#define ACPI_HPET_MIN_TICK 128u
#define ACPI_PM_IOBASE 0x600u           /* PIIX4 PMBA, as SeaBIOS programs it */
#define ACPI_PM_IOLEN 0x40u             /* PIIX4 PM I/O space: 64 bytes */
#define ACPI_SCI_IRQ 9
#define ACPI_RESET_PORT 0xCF9u          /* reset control register (i440FX/PIIX) */
#define ACPI_RESET_VALUE 0x06u          /* SYS_RST | RST_CPU: hard reset */
/* _S5 sleep type: PIIX4 PMCNTRL SUS_TYP 000 = soft off (82371AB datasheet, PMCNTRL). */
#define ACPI_S5_SLP_TYP 0
/* The 64-bit PCI window above RAM (DSDT _CRS), 1 GiB aligned. */
#define ACPI_PCI64_SIZE (32ull << 30)
/* Guest-physical addresses end here (CPUID 0x80000008: 40 bits, src/cpu). */
#define ACPI_PHYS_ADDR_LIMIT (1ull << 40)
/* MADT UIDs are one byte; DSDT processor names are CPxx. */
#define ACPI_MAX_CPUS 255

/* PCI INTx routing as the DSDT's _PRT states it: slot's pin (0 = INTA)
 * goes to PIRQ (slot + pin - 1) mod 4, PIRQA-D being GSI 16-19
 * (the PIIX wiring; src/devices/piix3.c). */
#define ACPI_PIRQ_GSI_BASE 16
#define ACPI_PCI_INTX_GSI(slot, pin) (ACPI_PIRQ_GSI_BASE + (((slot) + (pin) + 3) & 3))

struct acpi_machine {
    int ncpus;                          /* LAPIC IDs and processor UIDs 0..ncpus-1 */
    uint64_t ram_below_4g, ram_above_4g; /* for the PCI _CRS windows */
    uint8_t ioapic_id;                  /* acpi_machine_init: ncpus */
    uint32_t ioapic_addr, hpet_addr, lapic_addr;
    uint16_t pm_iobase;
    uint8_t sci_irq;
    uint32_t hpet_block_id;             /* the HPET's capabilities register, bits 31:0 */
    uint16_t hpet_min_tick;             /* main counter ticks: minimum periodic interval */
    uint64_t phys_addr_limit;           /* the 64-bit PCI window must end below */
};

/* Fills in the platform defaults above for a machine of ncpus vCPUs. */
void acpi_machine_init(struct acpi_machine *m, int ncpus, uint64_t ram_below_4g, uint64_t ram_above_4g);

/* Lays out the tables into buf as if buf sits at guest-physical gpa (below
 * 4 GiB, since the RSDT holds 32-bit pointers). Returns the bytes used, or
 * 0 if cap is too small or the machine cannot be described; *rsdp_gpa gets
 * the RSDP's guest-physical address (16-byte aligned). */
size_t acpi_build(const struct acpi_machine *m, uint64_t gpa, uint8_t *buf, size_t cap, uint64_t *rsdp_gpa);

/* The DSDT's AML body (after the 36-byte header), in a malloc'd buffer.
 * Returns its length, or 0. dsdt.c. */
size_t acpi_dsdt_body(const struct acpi_machine *m, uint8_t **out);

#endif
