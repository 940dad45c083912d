/* The ACPI tables (ACPI 6.4 chapter 5.2) laid out in one block of guest
 * RAM: FACS, DSDT, FADT, MADT, HPET, RSDT, XSDT, then the RSDP. */
#include "firmware/acpi.h"
#include "runtime/util.h"
#include "vmm/memory.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define OEM_ID "CAIXA "               /* 6 bytes */
#define OEM_TABLE_ID "CAIXAPC "       /* 8 bytes */
#define OEM_REVISION 1
#define CREATOR_ID "CAIX"
#define CREATOR_REVISION 1

#define SDT_HEADER_LEN 36             /* 5.2.6 */
#define SDT_CHECKSUM 9
#define TABLE_ALIGN 8
#define FACS_ALIGN 64                 /* 5.2.10: 64-byte aligned */
#define RSDP_ALIGN 16                 /* 5.2.5.1 */

/* RSDP (5.2.5.3). */
#define RSDP_LEN 36
#define RSDP_V1_LEN 20
#define RSDP_REVISION 2
#define RSDP_CHECKSUM 8
#define RSDP_XCHECKSUM 32

/* FADT (5.2.9), revision 6 as of ACPI 6.4 (minor 4). */
#define FADT_LEN 276
#define FADT_REVISION 6
#define FADT_MINOR 4
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_PM_PROFILE 45
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_GPE0_BLK 80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_GPE0_BLK_LEN 92
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_X_GPE0_BLK 220
/* Fixed feature flags (5.2.9). */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_PWR_BUTTON (1u << 4)   /* clear: fixed-hardware power button */
#define FADT_F_SLP_BUTTON (1u << 5)   /* set: no fixed sleep button */
#define FADT_F_FIX_RTC (1u << 6)      /* set: no RTC wake status in PM1 */
#define FADT_F_TMR_VAL_EXT (1u << 8)  /* clear: 24-bit PM timer (PIIX4 PMTMR) */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_FLAGS_VALUE (FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC | \
                          FADT_F_RESET_REG_SUP)
/* IA-PC boot architecture flags (5.2.9.3). */
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)
/* C2/C3 latencies above these mean "not supported" (5.2.9). */
#define P_LVL2_UNSUPPORTED 101
#define P_LVL3_UNSUPPORTED 1001
#define CMOS_CENTURY 0x32             /* the RTC's century byte */
/* PIIX4 PM I/O register block (82371AB datasheet): offsets from PMBA. */
#define PM_PM1_EVT 0x00               /* PMSTS + PMEN */
#define PM_PM1_CNT 0x04               /* PMCNTRL */
#define PM_TMR 0x08                   /* PMTMR */
#define PM_GPE0 0x0C                  /* GPSTS + GPEN */
#define PM1_EVT_LEN 4
#define PM1_CNT_LEN 2
#define PM_TMR_LEN 4
#define GPE0_LEN 4

/* Generic Address Structure (5.2.3.2). */
#define GAS_LEN 12
#define GAS_SPACE_MEM 0
#define GAS_SPACE_IO 1
#define GAS_ACCESS_ANY 0
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_DWORD 3

/* FACS (5.2.10). */
#define FACS_LEN 64
#define FACS_VERSION 2
#define FACS_VERSION_OFF 32

/* MADT (5.2.12). */
#define MADT_REVISION 5
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0                  /* 5.2.12.2, 8 bytes */
#define MADT_IOAPIC 1                 /* 5.2.12.3, 12 bytes */
#define MADT_ISO 2                    /* 5.2.12.5, 10 bytes */
#define MADT_LAPIC_NMI 4              /* 5.2.12.7, 6 bytes */
#define MADT_LAPIC_ENABLED 1u
#define MPS_ACTIVE_HIGH 0x1u          /* MPS INTI flags (5.2.12.5) */
#define MPS_EDGE (0x1u << 2)
#define MPS_LEVEL (0x3u << 2)
#define MADT_ALL_PROCESSORS 0xFF
#define LINT1 1
#define ISA_BUS 0
#define PIT_IRQ 0
#define PIT_GSI 2                     /* I/O APIC pin 2: the PC's IRQ0 wiring */

/* HPET description table (IA-PC HPET spec 1.0a, 3.2.4). */
#define HPET_TABLE_LEN 56
#define HPET_TABLE_REVISION 1

#define DSDT_REVISION 2               /* 64-bit integers */
#define RSDT_REVISION 1
#define XSDT_REVISION 1

struct out {
    uint8_t *buf;
    size_t cap, len;
    uint64_t gpa;
    bool overflow;
};

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)(0u - s);
}

/* Room for a table of len bytes at a gpa aligned to align; NULL if full. */
static uint8_t *alloc(struct out *o, size_t len, size_t align, uint64_t *gpa)
{
    size_t at = (size_t)(align_up(o->gpa + o->len, align) - o->gpa);
    if (o->overflow || at > o->cap || len > o->cap - at) {
        o->overflow = true;
        return NULL;
    }
    memset(o->buf + at, 0, len);
    o->len = at + len;
    *gpa = o->gpa + at;
    return o->buf + at;
}

static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put_le(t + 4, len, 4);
    t[8] = rev;
    memcpy(t + 10, OEM_ID, 6);
    memcpy(t + 16, OEM_TABLE_ID, 8);
    put_le(t + 24, OEM_REVISION, 4);
    memcpy(t + 28, CREATOR_ID, 4);
    put_le(t + 32, CREATOR_REVISION, 4);
}

static void sdt_finish(uint8_t *t, uint32_t len)
{
    t[SDT_CHECKSUM] = 0;
    t[SDT_CHECKSUM] = checksum(t, len);
}

static void gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
    p[0] = space;
    p[1] = bits;
    p[2] = 0;
    p[3] = access;
    put_le(p + 4, addr, 8);
}

static uint64_t build_facs(struct out *o)
{
    uint64_t gpa = 0;
    uint8_t *t = alloc(o, FACS_LEN, FACS_ALIGN, &gpa);
    if (!t)
        return 0;
    memcpy(t, "FACS", 4);
    put_le(t + 4, FACS_LEN, 4);
    t[FACS_VERSION_OFF] = FACS_VERSION;
    return gpa;
}

static uint64_t build_dsdt(struct out *o, const struct acpi_machine *m)
{
    uint8_t *body;
    size_t n = acpi_dsdt_body(m, &body);
    if (n == 0) {
        o->overflow = true;
        return 0;
    }
    uint64_t gpa = 0;
    uint32_t len = (uint32_t)(SDT_HEADER_LEN + n);
    uint8_t *t = alloc(o, len, TABLE_ALIGN, &gpa);
    if (t) {
        sdt_header(t, "DSDT", len, DSDT_REVISION);
        memcpy(t + SDT_HEADER_LEN, body, n);
        sdt_finish(t, len);
    }
    free(body);
    return gpa;
}

static uint64_t build_fadt(struct out *o, const struct acpi_machine *m, uint64_t facs, uint64_t dsdt)
{
    uint64_t gpa = 0;
    uint8_t *t = alloc(o, FADT_LEN, TABLE_ALIGN, &gpa);
    if (!t)
        return 0;
    uint16_t pm = m->pm_iobase;
    sdt_header(t, "FACP", FADT_LEN, FADT_REVISION);
    put_le(t + FADT_FIRMWARE_CTRL, facs, 4);
    put_le(t + FADT_DSDT, dsdt, 4);
    t[FADT_PM_PROFILE] = 0;                         /* unspecified */
    put_le(t + FADT_SCI_INT, m->sci_irq, 2);
    put_le(t + FADT_SMI_CMD, 0, 4);                 /* always in ACPI mode */
    put_le(t + FADT_PM1A_EVT_BLK, pm + PM_PM1_EVT, 4);
    put_le(t + FADT_PM1A_CNT_BLK, pm + PM_PM1_CNT, 4);
    put_le(t + FADT_PM_TMR_BLK, pm + PM_TMR, 4);
    put_le(t + FADT_GPE0_BLK, pm + PM_GPE0, 4);
    t[FADT_PM1_EVT_LEN] = PM1_EVT_LEN;
    t[FADT_PM1_CNT_LEN] = PM1_CNT_LEN;
    t[FADT_PM_TMR_LEN] = PM_TMR_LEN;
    t[FADT_GPE0_BLK_LEN] = GPE0_LEN;
    put_le(t + FADT_P_LVL2_LAT, P_LVL2_UNSUPPORTED, 2);
    put_le(t + FADT_P_LVL3_LAT, P_LVL3_UNSUPPORTED, 2);
    t[FADT_CENTURY] = CMOS_CENTURY;
    put_le(t + FADT_IAPC_BOOT_ARCH, IAPC_LEGACY_DEVICES | IAPC_8042, 2);
    put_le(t + FADT_FLAGS, FADT_FLAGS_VALUE, 4);
    gas(t + FADT_RESET_REG, GAS_SPACE_IO, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
    t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
    t[FADT_MINOR_VERSION] = FADT_MINOR;
    /* X_FIRMWARE_CTRL only for a FACS above 4 GiB: one of the two is 0. */
    put_le(t + FADT_X_DSDT, dsdt, 8);
    gas(t + FADT_X_PM1A_EVT_BLK, GAS_SPACE_IO, PM1_EVT_LEN * 8, GAS_ACCESS_ANY, pm + PM_PM1_EVT);
    gas(t + FADT_X_PM1A_CNT_BLK, GAS_SPACE_IO, PM1_CNT_LEN * 8, GAS_ACCESS_ANY, pm + PM_PM1_CNT);
    gas(t + FADT_X_PM_TMR_BLK, GAS_SPACE_IO, PM_TMR_LEN * 8, GAS_ACCESS_DWORD, pm + PM_TMR);
    gas(t + FADT_X_GPE0_BLK, GAS_SPACE_IO, GPE0_LEN * 8, GAS_ACCESS_ANY, pm + PM_GPE0);
    sdt_finish(t, FADT_LEN);
    return gpa;
}

/* Interrupt source override: ISA IRQ irq arrives at gsi. */
static void iso(uint8_t *p, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    p[0] = MADT_ISO;
    p[1] = 10;
    p[2] = ISA_BUS;
    p[3] = irq;
    put_le(p + 4, gsi, 4);
    put_le(p + 8, flags, 2);
}

static uint64_t build_madt(struct out *o, const struct acpi_machine *m)
{
    const uint32_t fixed = SDT_HEADER_LEN + 8;
    uint32_t len = fixed + 8u * (uint32_t)m->ncpus + 12 + 2 * 10 + 6;
    uint64_t gpa = 0;
    uint8_t *t = alloc(o, len, TABLE_ALIGN, &gpa);
    if (!t)
        return 0;
    sdt_header(t, "APIC", len, MADT_REVISION);
    put_le(t + 36, m->lapic_addr, 4);
    put_le(t + 40, MADT_PCAT_COMPAT, 4);        /* 8259s present */
    uint8_t *p = t + fixed;
    for (int i = 0; i < m->ncpus; i++, p += 8) {
        p[0] = MADT_LAPIC;
        p[1] = 8;
        p[2] = (uint8_t)i;                      /* ACPI processor UID = _UID of CPxx */
        p[3] = (uint8_t)i;                      /* APIC ID */
        put_le(p + 4, MADT_LAPIC_ENABLED, 4);
    }
    p[0] = MADT_IOAPIC;
    p[1] = 12;
    p[2] = m->ioapic_id;
    put_le(p + 4, m->ioapic_addr, 4);
    put_le(p + 8, 0, 4);                        /* GSI base */
    p += 12;
    iso(p, PIT_IRQ, PIT_GSI, MPS_ACTIVE_HIGH | MPS_EDGE);
    p += 10;
    iso(p, m->sci_irq, m->sci_irq, MPS_ACTIVE_HIGH | MPS_LEVEL);   /* the SCI: 5.2.12.5 */
    p += 10;
    p[0] = MADT_LAPIC_NMI;
    p[1] = 6;
    p[2] = MADT_ALL_PROCESSORS;
    put_le(p + 3, MPS_ACTIVE_HIGH | MPS_EDGE, 2);
    p[5] = LINT1;
    sdt_finish(t, len);
    return gpa;
}

static uint64_t build_hpet(struct out *o, const struct acpi_machine *m)
{
    uint64_t gpa = 0;
    uint8_t *t = alloc(o, HPET_TABLE_LEN, TABLE_ALIGN, &gpa);
    if (!t)
        return 0;
    sdt_header(t, "HPET", HPET_TABLE_LEN, HPET_TABLE_REVISION);
    put_le(t + 36, m->hpet_block_id, 4);
    gas(t + 40, GAS_SPACE_MEM, 64, GAS_ACCESS_ANY, m->hpet_addr);
    t[52] = 0;                                  /* HPET number */
    put_le(t + 53, m->hpet_min_tick, 2);
    t[55] = 0;                                  /* no page protection */
    sdt_finish(t, HPET_TABLE_LEN);
    return gpa;
}

static uint64_t build_xsdt(struct out *o, const uint64_t *tables, int n, bool wide)
{
    unsigned w = wide ? 8 : 4;
    uint32_t len = SDT_HEADER_LEN + w * (uint32_t)n;
    uint64_t gpa = 0;
    uint8_t *t = alloc(o, len, TABLE_ALIGN, &gpa);
    if (!t)
        return 0;
    sdt_header(t, wide ? "XSDT" : "RSDT", len, wide ? XSDT_REVISION : RSDT_REVISION);
    for (int i = 0; i < n; i++)
        put_le(t + SDT_HEADER_LEN + w * (unsigned)i, tables[i], w);
    sdt_finish(t, len);
    return gpa;
}

static uint64_t build_rsdp(struct out *o, uint64_t rsdt, uint64_t xsdt)
{
    uint64_t gpa = 0;
    uint8_t *t = alloc(o, RSDP_LEN, RSDP_ALIGN, &gpa);
    if (!t)
        return 0;
    memcpy(t, "RSD PTR ", 8);
    memcpy(t + 9, OEM_ID, 6);
    t[15] = RSDP_REVISION;
    put_le(t + 16, rsdt, 4);
    put_le(t + 20, RSDP_LEN, 4);
    put_le(t + 24, xsdt, 8);
    t[RSDP_CHECKSUM] = checksum(t, RSDP_V1_LEN);
    t[RSDP_XCHECKSUM] = checksum(t, RSDP_LEN);
    return gpa;
}

void acpi_machine_init(struct acpi_machine *m, int ncpus, uint64_t ram_below_4g, uint64_t ram_above_4g)
{
    memset(m, 0, sizeof *m);
    m->ncpus = ncpus;
    m->ram_below_4g = ram_below_4g;
    m->ram_above_4g = ram_above_4g;
    m->ioapic_id = (uint8_t)ncpus;
    m->ioapic_addr = ACPI_IOAPIC_BASE;
    m->hpet_addr = ACPI_HPET_BASE;
    m->lapic_addr = ACPI_LAPIC_BASE;
    m->pm_iobase = ACPI_PM_IOBASE;
    m->sci_irq = ACPI_SCI_IRQ;
    m->hpet_block_id = ACPI_HPET_BLOCK_ID;
    m->hpet_min_tick = ACPI_HPET_MIN_TICK;
    m->phys_addr_limit = ACPI_PHYS_ADDR_LIMIT;
}

size_t acpi_build(const struct acpi_machine *m, uint64_t gpa, uint8_t *buf, size_t cap, uint64_t *rsdp_gpa)
{
    if (m->ncpus < 1 || m->ncpus > ACPI_MAX_CPUS || m->sci_irq > 15 || gpa >= FOUR_GIB)
        return 0;
    struct out o = {.buf = buf, .cap = cap, .gpa = gpa};
    uint64_t facs = build_facs(&o);
    uint64_t dsdt = build_dsdt(&o, m);
    uint64_t tables[3];
    tables[0] = build_fadt(&o, m, facs, dsdt);
    tables[1] = build_madt(&o, m);
    tables[2] = build_hpet(&o, m);
    uint64_t rsdt = build_xsdt(&o, tables, 3, false);
    uint64_t xsdt = build_xsdt(&o, tables, 3, true);
    uint64_t rsdp = build_rsdp(&o, rsdt, xsdt);
    if (o.overflow || gpa + o.len > FOUR_GIB)
        return 0;
    if (rsdp_gpa)
        *rsdp_gpa = rsdp;
    return o.len;
}
