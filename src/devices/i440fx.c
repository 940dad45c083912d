/* Intel 82441FX PCI and memory controller (PMC) of the 440FX chipset: host
 * bridge at PCI 00:00.0. It owns PCI configuration mechanism #1 (ports
 * 0xCF8 CONFIG_ADDRESS and 0xCFC-0xCFF CONFIG_DATA), the turbo/reset control
 * register at 0xCF9, and the PAM registers that map shadow RAM over the BIOS
 * window 0xC0000-0xFFFFF.
 * References: Intel 440FX PCIset datasheet (82441FX PMC, order 290549),
 * sections 3.1 (I/O registers) and 3.2 (configuration registers); PCI Local
 * Bus Specification 2.1, 3.7.4.1 (configuration mechanism #1). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "runtime/util.h"
#include "vmm/device.h"

#define CONF1_ADDR_PORT 0xCF8
#define CONF1_DATA_PORT 0xCFC
#define CONF1_ENABLE 0x80000000u
#define CONF1_ADDR_MASK 0x80FFFFFCu     /* bits 30-24 and 1-0 reserved */
#define TRC_OFFSET 1                    /* 0xCF9 within the 0xCF8 range */
#define TRC_SRST 0x02                   /* system (hard) reset */
#define TRC_RCPU 0x04                   /* 0->1 starts the reset */
#define TRC_MASK 0x03

#define I440FX_DEVFN 0x00
#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
#define I440FX_REVISION 0x02
/* SeaBIOS recognises an emulated board by this subsystem ID (Red Hat, QEMU
 * virtual machine) and only then uses fw_cfg. */
#define I440FX_SUBVENDOR 0x1AF4
#define I440FX_SUBSYSTEM 0x1100

/* Configuration space (82441FX 3.2). */
#define PMC_PMCCFG 0x50
#define PMC_DETURBO 0x51
#define PMC_DBC 0x53
#define PMC_AXC 0x54
#define PMC_DRT 0x55
#define PMC_DRAMC 0x57
#define PMC_DRAMT 0x58
#define PMC_PAM0 0x59
#define PMC_PAM_COUNT 7
#define PMC_DRB0 0x60
#define PMC_DRB_COUNT 8
#define PMC_FDHC 0x68
#define PMC_MTT 0x70
#define PMC_CLT 0x71
#define PMC_SMRAM 0x72
#define PMC_ERRCMD 0x90
#define PMC_ERRSTS 0x91
#define PMC_TRC 0x93

#define CMD_DEFAULT 0x0006            /* memory + bus master enable */
#define CMD_WMASK 0x0140              /* SERR#, parity error response */
#define STS_DEFAULT 0x0280            /* fast back-to-back, DEVSEL medium */
#define STS_W1C 0xF900                /* error bits clear on write of 1 */
#define DRB_DEFAULT 0x01
#define SMRAM_DEFAULT 0x02            /* C_BASE_SEG = 010: A0000h */
#define SMRAM_D_OPEN 0x40
#define SMRAM_D_LCK 0x10
#define SMRAM_WMASK 0x78
/* PAM nibble (3.2.15): read enable, write enable. */
#define PAM_RE 0x1
#define PAM_WE 0x2
#define PAM_BIOS_BASE 0xF0000u
#define PAM_BIOS_SIZE 0x10000u
#define PAM_SEG_SIZE 0x4000u

struct i440fx {
    device *dev;
    uint32_t conf_addr;
    uint8_t trc;
    uint8_t cfg[256];
    uint8_t wmask[256];
};

/* --- own configuration space ---------------------------------------------- */

static void pam_region(unsigned pam, unsigned nibble, uint32_t *base, uint32_t *size)
{
    if (pam == 0) {
        *base = PAM_BIOS_BASE;
        *size = PAM_BIOS_SIZE;
    } else {
        *base = LEGACY_ROM_BASE + ((pam - 1) * 2 + nibble) * PAM_SEG_SIZE;
        *size = PAM_SEG_SIZE;
    }
}

static void pam_apply(struct i440fx *s, unsigned pam, uint8_t old, uint8_t val, bool force)
{
    for (unsigned nib = pam == 0 ? 1 : 0; nib < 2; nib++) {
        unsigned o = (old >> (4 * nib)) & 3, n = (val >> (4 * nib)) & 3;
        if (o == n && !force)
            continue;
        uint32_t base, size;
        pam_region(pam, nib, &base, &size);
        physmem_set_pam(vm_physmem(s->dev->vm), base, size, n & PAM_RE, n & PAM_WE);
    }
}

static void i440fx_write_byte(struct i440fx *s, uint8_t reg, uint8_t val)
{
    uint8_t old = s->cfg[reg];
    if (reg == PCI_STATUS + 1) {
        s->cfg[reg] &= (uint8_t)~(val & (STS_W1C >> 8));
        return;
    }
    if (reg == PMC_SMRAM) {
        if (old & SMRAM_D_LCK)
            val = (uint8_t)((val & ~(SMRAM_D_OPEN | SMRAM_D_LCK)) | (old & SMRAM_D_LCK));
        if (val & SMRAM_D_LCK)
            val &= (uint8_t)~SMRAM_D_OPEN;   /* locking closes SMRAM (3.2.21) */
    }
    s->cfg[reg] = (uint8_t)((old & ~s->wmask[reg]) | (val & s->wmask[reg]));
    if (reg >= PMC_PAM0 && reg < PMC_PAM0 + PMC_PAM_COUNT)
        pam_apply(s, reg - PMC_PAM0, old, s->cfg[reg], false);
}

static uint32_t i440fx_cfg_read(void *opaque, uint8_t reg, unsigned size)
{
    struct i440fx *s = opaque;
    /* vm_pci_config_read hands on aligned accesses only: inside the space. */
    return (uint32_t)get_le(&s->cfg[reg], size);
}

static void i440fx_cfg_write(void *opaque, uint8_t reg, uint32_t val, unsigned size)
{
    struct i440fx *s = opaque;
    for (unsigned i = 0; i < size && reg + i < 256; i++)
        i440fx_write_byte(s, (uint8_t)(reg + i), (uint8_t)(val >> (8 * i)));
}

static const pci_ops i440fx_pci_ops = { i440fx_cfg_read, i440fx_cfg_write };

static void i440fx_init_cfg(struct i440fx *s)
{
    uint8_t *c = s->cfg, *w = s->wmask;
    memset(c, 0, sizeof(s->cfg));
    memset(w, 0, sizeof(s->wmask));
    put_le(&c[PCI_VENDOR_ID], I440FX_VENDOR, 2);
    put_le(&c[PCI_DEVICE_ID], I440FX_DEVICE, 2);
    put_le(&c[PCI_COMMAND], CMD_DEFAULT, 2);
    put_le(&w[PCI_COMMAND], CMD_WMASK, 2);
    put_le(&c[PCI_STATUS], STS_DEFAULT, 2);
    c[PCI_REVISION_ID] = I440FX_REVISION;
    c[PCI_SUBCLASS] = 0x00;   /* host bridge */
    c[PCI_CLASS] = 0x06;  /* bridge device */
    w[PCI_LATENCY] = 0xF8;
    put_le(&c[PCI_SUBSYS_VENDOR], I440FX_SUBVENDOR, 2);
    put_le(&c[PCI_SUBSYS_ID], I440FX_SUBSYSTEM, 2);
    static const uint8_t rw_regs[] = { PMC_PMCCFG, PMC_PMCCFG + 1, PMC_DETURBO, PMC_DBC, PMC_AXC,
                                       PMC_DRT, PMC_DRT + 1, PMC_DRAMC, PMC_DRAMT, PMC_FDHC,
                                       PMC_MTT, PMC_CLT, PMC_ERRCMD, PMC_TRC };
    for (size_t i = 0; i < sizeof(rw_regs); i++)
        w[rw_regs[i]] = 0xFF;
    w[PMC_ERRSTS] = 0;
    for (unsigned i = 0; i < PMC_PAM_COUNT; i++)
        w[PMC_PAM0 + i] = i == 0 ? 0x30 : 0x33;
    for (unsigned i = 0; i < PMC_DRB_COUNT; i++) {
        c[PMC_DRB0 + i] = DRB_DEFAULT;
        w[PMC_DRB0 + i] = 0xFF;
    }
    c[PMC_SMRAM] = SMRAM_DEFAULT;
    w[PMC_SMRAM] = SMRAM_WMASK;
}

/* --- mechanism #1 ports ------------------------------------------------------ */

static uint32_t conf_addr_read(void *opaque, uint16_t off, unsigned size)
{
    struct i440fx *s = opaque;
    if (off == 0 && size == 4)
        return s->conf_addr;
    if (off == TRC_OFFSET && size == 1)
        return s->trc;
    /* Other sizes are ISA cycles nobody answers (PCI 2.1 3.7.4.1). */
    return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

static void conf_addr_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct i440fx *s = opaque;
    if (off == 0 && size == 4) {
        s->conf_addr = val & CONF1_ADDR_MASK;
    } else if (off == TRC_OFFSET && size == 1) {
        bool start = (val & TRC_RCPU) && !(s->trc & TRC_RCPU);
        s->trc = (uint8_t)val & TRC_MASK;
        if (start)
            vm_request_reset(s->dev->vm);   /* hard and soft reset alike */
    }
}

static uint32_t conf_data_read(void *opaque, uint16_t off, unsigned size)
{
    struct i440fx *s = opaque;
    uint32_t ones = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
    if (!(s->conf_addr & CONF1_ENABLE))
        return ones;
    uint8_t bus = (uint8_t)(s->conf_addr >> 16);
    uint8_t devfn = (uint8_t)(s->conf_addr >> 8);
    uint8_t reg = (uint8_t)((s->conf_addr & 0xFC) + off);
    if ((reg & (size - 1)) == 0)
        return vm_pci_config_read(s->dev->vm, bus, devfn, reg, size);
    uint32_t v = 0;   /* unaligned within the dword: byte by byte */
    for (unsigned i = 0; i < size && (off + i) < 4; i++)
        v |= vm_pci_config_read(s->dev->vm, bus, devfn, (uint8_t)(reg + i), 1) << (8 * i);
    return v;
}

static void conf_data_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct i440fx *s = opaque;
    if (!(s->conf_addr & CONF1_ENABLE))
        return;
    uint8_t bus = (uint8_t)(s->conf_addr >> 16);
    uint8_t devfn = (uint8_t)(s->conf_addr >> 8);
    uint8_t reg = (uint8_t)((s->conf_addr & 0xFC) + off);
    if ((reg & (size - 1)) == 0) {
        vm_pci_config_write(s->dev->vm, bus, devfn, reg, val, size);
        return;
    }
    for (unsigned i = 0; i < size && (off + i) < 4; i++)
        vm_pci_config_write(s->dev->vm, bus, devfn, (uint8_t)(reg + i), (val >> (8 * i)) & 0xFF, 1);
}

static const pio_ops conf_addr_ops = { conf_addr_read, conf_addr_write };
static const pio_ops conf_data_ops = { conf_data_read, conf_data_write };

static void i440fx_reset(device *dev)
{
    struct i440fx *s = dev->state;
    uint8_t pam[PMC_PAM_COUNT];
    memcpy(pam, &s->cfg[PMC_PAM0], sizeof(pam));
    i440fx_init_cfg(s);
    for (unsigned i = 0; i < PMC_PAM_COUNT; i++)
        pam_apply(s, i, pam[i], 0, true);
    s->conf_addr = 0;
    s->trc = 0;
}

static int i440fx_create(device *dev)
{
    struct i440fx *s = dev->state;
    s->dev = dev;
    i440fx_reset(dev);
    if (vm_register_pio(dev->vm, CONF1_ADDR_PORT, 4, &conf_addr_ops, s) < 0 ||
        vm_register_pio(dev->vm, CONF1_DATA_PORT, 4, &conf_data_ops, s) < 0 ||
        vm_pci_register(dev->vm, I440FX_DEVFN, &i440fx_pci_ops, s) < 0)
        return -1;
    return 0;
}

static const device_desc i440fx_desc = {
    .name = "i440fx",
    .state_size = sizeof(struct i440fx),
    .create = i440fx_create,
    .reset = i440fx_reset,
};
DEVICE_REGISTER(i440fx_desc);
