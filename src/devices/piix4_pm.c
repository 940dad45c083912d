/* Intel 82371AB PIIX4 function 3, power management, at PCI 00:01.3: the
 * ACPI fixed hardware of the PC. PM1 status/enable/control, the 24-bit PM
 * timer at 3.579545 MHz, the general-purpose event block, the SCI (a level
 * on ISA IRQ 9), the power button and soft off (S5).
 *
 * The machine runs in ACPI mode from power-on (FADT SMI_CMD = 0): SCI_EN
 * reads 1 and there is no SMM, so SMI-only features (APM, device traps,
 * idle timers) keep their registers but never fire.
 *
 * The PM I/O block is decoded at PMBA while PMREGMISC.PMIOSE is set, and
 * moves when the guest rewrites PMBA (SeaBIOS puts it at 0xB000). The
 * direct-kernel boot runs no firmware, so at reset the block is enabled at
 * "iobase" (0x600, where caixa's own FADT says it is), as firmware would
 * leave it.
 *
 * Reference: Intel 82371AB PIIX4 datasheet (order 290562), function 3
 * PCI configuration registers and power management I/O registers; ACPI 6.4
 * 4.8 (fixed hardware registers). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "runtime/util.h"
#include "vmm/device.h"
#include "vmm/power_button.h"

#define PM_DEVFN 0x0B                 /* device 1, function 3 */
#define PM_VENDOR 0x8086
#define PM_DEVICE 0x7113
#define PM_REVISION 0x03
#define PM_IOBASE_DEFAULT 0x600
#define PM_IOLEN 0x40
#define SCI_IRQ_DEFAULT 9

/* PCI configuration (datasheet, function 3). */
#define STS_DEFAULT 0x0280            /* fast back-to-back, DEVSEL# medium */
#define STS_W1C 0x3800                /* abort bits */
#define PMBA 0x40                     /* power management base address */
#define PMBA_IO_SPACE 0x1             /* hardwired: an I/O BAR */
#define PMBA_ADDR_MASK 0xFFC0         /* bits 15:6: a 64-byte block */
#define CNTA 0x44                     /* countdown/device resource registers: */
#define DEVRESJ 0x7C                  /* 44h-7Fh plain read/write */
#define PMREGMISC 0x80
#define PMIOSE 0x01                   /* PM I/O space enable */
#define SMBBA 0x90                    /* SMBus: not implemented, reads 0 */
#define SMBHSTCFG 0xD2

/* PM I/O registers (datasheet), offsets from PMBA. */
#define PMSTS 0x00
#define PMEN 0x02
#define PMCNTRL 0x04
#define PMTMR 0x08
#define GPSTS 0x0C
#define GPEN 0x0E
#define PCNTRL 0x10
#define PLVL2 0x14
#define PLVL3 0x15
#define GLBSTS 0x18
#define DEVSTS 0x1C
#define GLBEN 0x20
#define GLBCTL 0x28
#define DEVCTL 0x2C
#define GPIREG 0x30
#define GPOREG 0x34

/* PMSTS / PMEN bits (= ACPI PM1 status/enable). */
#define TMROF 0x0001                  /* TMR_STS / TMR_EN */
#define BM_STS 0x0010
#define GBL 0x0020                    /* GBL_STS / GBL_EN */
#define PWRBTN 0x0100                 /* PWRBTN_STS / PWRBTN_EN */
#define RTC_EVT 0x0400
#define PWRBTNOR_STS 0x0800
#define WAK_STS 0x8000                /* RSM_STS */
#define PMSTS_MASK (TMROF | BM_STS | GBL | PWRBTN | RTC_EVT | PWRBTNOR_STS | WAK_STS)
#define PMEN_MASK (TMROF | GBL | PWRBTN | RTC_EVT)
/* PMCNTRL bits (= ACPI PM1 control). */
#define SCI_EN 0x0001
#define BRLD_EN_BM 0x0002
#define GBL_RLS 0x0004                /* write-only: BIOS_STS + SMI */
#define SUS_TYP_SHIFT 10
#define SUS_TYP_MASK 0x1C00
#define SUS_EN 0x2000                 /* write-only: enter the suspend type */
#define PMCNTRL_RW (BRLD_EN_BM | SUS_TYP_MASK)
#define SUS_TYP_SOFF 0                /* 000: soft off (DSDT _S5) */
/* GLBCTL: BIOS_RLS sets GBL_STS (the global lock hand-off). */
#define BIOS_RLS 0x00000002u

/* PM timer: 14.31818 MHz / 4; 24 bits, TMROF_STS when bit 23 toggles. */
#define PMTMR_HZ 3579545u
#define PMTMR_BITS 24
#define PMTMR_MASK ((1u << PMTMR_BITS) - 1)
#define PMTMR_HALF_SHIFT (PMTMR_BITS - 1)
#define NS_PER_SEC 1000000000ull

struct piix4_pm {
    device *dev;
    uint8_t cfg[256];
    uint16_t iobase;                  /* PMBA at reset */
    uint16_t mapped;                  /* where the block is decoded; 0: nowhere */
    unsigned sci_irq;
    uint16_t pmsts, pmen, pmcntrl, gpsts, gpen;
    uint32_t pcntrl, glben, glbctl, devctl, gpo;
    uint64_t tmr_epoch;               /* half-periods (bit-23 toggles) accounted for */
    struct timer *timer;
    bool sci;                         /* level we drive */
    bool warned_sus;                  /* said once that a suspend type is missing */
};

static uint64_t pm_ticks(struct piix4_pm *s)
{
    return (uint64_t)((unsigned __int128)vm_clock_ns(s->dev->vm) * PMTMR_HZ / NS_PER_SEC);
}

static uint64_t pm_tick_ns(uint64_t tick)
{
    return (uint64_t)(((unsigned __int128)tick * NS_PER_SEC + PMTMR_HZ - 1) / PMTMR_HZ);
}

/* Sets TMROF_STS for any toggle of bit 23 since last time. */
static void pm_sync_timer(struct piix4_pm *s)
{
    uint64_t epoch = pm_ticks(s) >> PMTMR_HALF_SHIFT;
    if (epoch != s->tmr_epoch) {
        s->tmr_epoch = epoch;
        s->pmsts |= TMROF;
    }
}

static void pm_update_sci(struct piix4_pm *s)
{
    bool level = (s->pmcntrl & SCI_EN) &&
                 ((s->pmsts & s->pmen & PMEN_MASK) || (s->gpsts & s->gpen));
    if (level != s->sci) {
        s->sci = level;
        vm_set_irq(s->dev->vm, s->sci_irq, level);
    }
}

/* Only an enabled overflow interrupt needs a host timer; otherwise the
 * status is brought up to date when read. */
static void pm_schedule(struct piix4_pm *s)
{
    if (!(s->pmen & TMROF) || (s->pmsts & TMROF)) {
        vm_timer_del(s->timer);
        return;
    }
    vm_timer_mod(s->timer, pm_tick_ns((s->tmr_epoch + 1) << PMTMR_HALF_SHIFT));
}

static void pm_timer_cb(void *opaque)
{
    struct piix4_pm *s = opaque;
    pm_sync_timer(s);
    pm_update_sci(s);
    pm_schedule(s);
}

static uint8_t byte_of(uint32_t v, unsigned i)
{
    return (uint8_t)(v >> (8 * i));
}

static uint8_t pm_read8(struct piix4_pm *s, unsigned off, uint32_t tmr)
{
    switch (off & ~3u) {
    case PMSTS:                       /* PMSTS and PMEN */
        return byte_of((uint32_t)s->pmsts | (uint32_t)s->pmen << 16, off - PMSTS);
    case PMCNTRL:
        return off < PMCNTRL + 2 ? byte_of(s->pmcntrl, off - PMCNTRL) : 0;
    case PMTMR:
        return byte_of(tmr, off - PMTMR);
    case GPSTS:                       /* GPSTS and GPEN */
        return byte_of((uint32_t)s->gpsts | (uint32_t)s->gpen << 16, off - GPSTS);
    case PCNTRL:
        return byte_of(s->pcntrl, off - PCNTRL);
    case PLVL2:                       /* P_LVL2/3 reads: C2/C3 not supported */
        return 0;
    case GLBEN:
        return byte_of(s->glben, off - GLBEN);
    case GLBCTL:
        return byte_of(s->glbctl, off - GLBCTL);
    case DEVCTL:
        return byte_of(s->devctl, off - DEVCTL);
    case GPOREG:
        return byte_of(s->gpo, off - GPOREG);
    default:                          /* GLBSTS, DEVSTS: nothing sets them; GPIREG: inputs low */
        return 0;
    }
}

static void set_byte(uint32_t *r, unsigned i, uint8_t b)
{
    *r = (*r & ~(0xFFu << (8 * i))) | (uint32_t)b << (8 * i);
}

static void pm_sleep(struct piix4_pm *s)
{
    unsigned typ = (s->pmcntrl & SUS_TYP_MASK) >> SUS_TYP_SHIFT;
    if (typ == SUS_TYP_SOFF) {
        vm_request_poweroff(s->dev->vm, 0);
        return;
    }
    /* Only _S5 is offered in the DSDT; other suspend types stay awake. */
    if (!s->warned_sus)
        vm_log(s->dev->vm, "piix4_pm: suspend type %u is not supported", typ);
    s->warned_sus = true;
}

static void pm_write8(struct piix4_pm *s, unsigned off, uint8_t b)
{
    uint32_t r;
    switch (off) {
    case PMSTS:
    case PMSTS + 1:
        s->pmsts &= (uint16_t)~((uint16_t)b << (8 * (off - PMSTS)) & PMSTS_MASK);
        break;
    case PMEN:
    case PMEN + 1:
        r = s->pmen;
        set_byte(&r, off - PMEN, b);
        s->pmen = (uint16_t)(r & PMEN_MASK);
        break;
    case PMCNTRL:
    case PMCNTRL + 1: {
        unsigned i = off - PMCNTRL;
        uint32_t w = (uint32_t)b << (8 * i);
        r = s->pmcntrl;
        set_byte(&r, i, b);
        s->pmcntrl = (uint16_t)((r & PMCNTRL_RW) | SCI_EN);
        if (w & SUS_EN)
            pm_sleep(s);
        break;
    }
    case GPSTS:
    case GPSTS + 1:
        s->gpsts &= (uint16_t)~((uint16_t)b << (8 * (off - GPSTS)));
        break;
    case GPEN:
    case GPEN + 1:
        r = s->gpen;
        set_byte(&r, off - GPEN, b);
        s->gpen = (uint16_t)r;
        break;
    case PCNTRL ... PCNTRL + 3:
        set_byte(&s->pcntrl, off - PCNTRL, b);
        break;
    case GLBEN ... GLBEN + 1:
        set_byte(&s->glben, off - GLBEN, b);
        break;
    case GLBCTL ... GLBCTL + 3:
        set_byte(&s->glbctl, off - GLBCTL, b);
        if (off == GLBCTL && (b & BIOS_RLS)) {
            s->pmsts |= GBL;
            s->glbctl &= ~BIOS_RLS;
        }
        break;
    case DEVCTL ... DEVCTL + 3:
        set_byte(&s->devctl, off - DEVCTL, b);
        break;
    case GPOREG ... GPOREG + 3:
        set_byte(&s->gpo, off - GPOREG, b);
        break;
    default:                          /* read-only or reserved */
        break;
    }
}

static bool pm_io_enabled(struct piix4_pm *s)
{
    return s->cfg[PMREGMISC] & PMIOSE;
}

static uint32_t pm_io_read(void *opaque, uint16_t off, unsigned size)
{
    struct piix4_pm *s = opaque;
    if (!pm_io_enabled(s))
        return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
    pm_sync_timer(s);
    /* One timer sample per access, so a 32-bit read does not tear. */
    uint32_t tmr = (uint32_t)pm_ticks(s) & PMTMR_MASK;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)pm_read8(s, (off + i) & (PM_IOLEN - 1), tmr) << (8 * i);
    pm_update_sci(s);
    return v;
}

static void pm_io_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct piix4_pm *s = opaque;
    if (!pm_io_enabled(s))
        return;
    pm_sync_timer(s);
    for (unsigned i = 0; i < size; i++)
        pm_write8(s, (off + i) & (PM_IOLEN - 1), (uint8_t)(val >> (8 * i)));
    pm_update_sci(s);
    pm_schedule(s);
}

static const pio_ops pm_pio_ops = { pm_io_read, pm_io_write };

static uint32_t pm_cfg_read(void *opaque, uint8_t reg, unsigned size)
{
    struct piix4_pm *s = opaque;
    /* vm_pci_config_read hands on aligned accesses only: inside the space. */
    return (uint32_t)get_le(&s->cfg[reg], size);
}

/* Decode the PM block where PMBA and PMIOSE say. A base the guest moved
 * onto another device's ports stays unmapped. */
static void pm_remap(struct piix4_pm *s)
{
    uint16_t want = (s->cfg[PMREGMISC] & PMIOSE) ? (uint16_t)(get_le(&s->cfg[PMBA], 2) & PMBA_ADDR_MASK) : 0;
    if (want == s->mapped)
        return;
    if (s->mapped)
        vm_unregister_pio(s->dev->vm, s->mapped, PM_IOLEN);
    s->mapped = 0;
    if (want && vm_map_pio(s->dev->vm, want, PM_IOLEN, &pm_pio_ops, s) == 0)
        s->mapped = want;
}

static bool cfg_writable(unsigned r)
{
    return r == PCI_COMMAND || (r >= CNTA && r <= DEVRESJ + 3) || r == PMREGMISC ||
           (r >= 0x81 && r < SMBBA) || (r >= SMBBA + 4 && r < 0x100 && r != SMBHSTCFG);
}

static void pm_cfg_write(void *opaque, uint8_t reg, uint32_t val, unsigned size)
{
    struct piix4_pm *s = opaque;
    for (unsigned i = 0; i < size && reg + i < 256; i++) {
        unsigned r = reg + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (r == PCI_STATUS + 1)
            s->cfg[r] &= (uint8_t)~(b & (STS_W1C >> 8));
        else if (r == PCI_COMMAND)
            s->cfg[r] = (uint8_t)(b & PCI_CMD_IO);
        else if (r == PMREGMISC)
            s->cfg[r] = (uint8_t)(b & PMIOSE);
        else if (r == PMBA)
            s->cfg[r] = (uint8_t)((b & PMBA_ADDR_MASK) | PMBA_IO_SPACE);
        else if (r == PMBA + 1)
            s->cfg[r] = b;
        else if (cfg_writable(r))
            s->cfg[r] = b;
    }
    pm_remap(s);
}

static const pci_ops pm_pci_ops = { pm_cfg_read, pm_cfg_write };

static void piix4_pm_reset(device *dev)
{
    struct piix4_pm *s = dev->state;
    uint8_t *c = s->cfg;
    memset(c, 0, sizeof s->cfg);
    put_le(&c[PCI_VENDOR_ID], PM_VENDOR, 2);
    put_le(&c[PCI_DEVICE_ID], PM_DEVICE, 2);
    put_le(&c[PCI_COMMAND], PCI_CMD_IO, 2);
    put_le(&c[PCI_STATUS], STS_DEFAULT, 2);
    c[PCI_REVISION_ID] = PM_REVISION;
    c[PCI_SUBCLASS] = 0x80;          /* other bridge */
    c[PCI_CLASS] = 0x06;
    put_le(&c[PMBA], (uint16_t)(s->iobase | PMBA_IO_SPACE), 2);
    c[PMREGMISC] = PMIOSE;            /* as the firmware leaves it */

    s->pmsts = s->pmen = s->gpsts = s->gpen = 0;
    s->pmcntrl = SCI_EN;
    s->pcntrl = s->glben = s->glbctl = s->devctl = s->gpo = 0;
    s->tmr_epoch = pm_ticks(s) >> PMTMR_HALF_SHIFT;
    vm_timer_del(s->timer);
    pm_update_sci(s);
    pm_remap(s);
}

/* The button is pressed and released: PWRBTN_STS, and an SCI if enabled
 * (ACPI 6.4 4.8, fixed power button). */
static void pm_power_button(void *opaque)
{
    struct piix4_pm *s = opaque;
    s->pmsts |= PWRBTN;
    pm_update_sci(s);
}

static int piix4_pm_create(device *dev)
{
    struct piix4_pm *s = dev->state;
    s->dev = dev;
    uint64_t base = cfg_get_u64(dev->cfg, "iobase", PM_IOBASE_DEFAULT);
    uint64_t irq = cfg_get_u64(dev->cfg, "irq", SCI_IRQ_DEFAULT);
    if (base & (PM_IOLEN - 1) || base > 0x10000 - PM_IOLEN) {
        vm_error(dev->vm, "iobase 0x%llx is not a 64-byte aligned I/O address",
                 (unsigned long long)base);
        return -1;
    }
    if (irq > 15) {
        vm_error(dev->vm, "SCI irq %llu is not an ISA interrupt", (unsigned long long)irq);
        return -1;
    }
    s->iobase = (uint16_t)base;
    s->sci_irq = (unsigned)irq;
    s->timer = vm_timer_new(dev->vm, pm_timer_cb, s);
    if (vm_register_pio(dev->vm, s->iobase, PM_IOLEN, &pm_pio_ops, s) < 0) {
        vm_timer_free(s->timer);
        return -1;
    }
    s->mapped = s->iobase;
    piix4_pm_reset(dev);
    if (vm_pci_register(dev->vm, PM_DEVFN, &pm_pci_ops, s) < 0 ||
        vm_set_power_button(dev->vm, pm_power_button, s) < 0) {
        vm_timer_free(s->timer);
        return -1;
    }
    return 0;
}

static void piix4_pm_destroy(device *dev)
{
    struct piix4_pm *s = dev->state;
    vm_set_power_button(dev->vm, NULL, NULL);
    vm_timer_free(s->timer);
}

static const device_desc piix4_pm_desc = {
    .name = "piix4_pm",
    .state_size = sizeof(struct piix4_pm),
    .create = piix4_pm_create,
    .reset = piix4_pm_reset,
    .destroy = piix4_pm_destroy,
};
DEVICE_REGISTER(piix4_pm_desc);
