/* Intel ICH9 SATA controller in AHCI mode (8086:2922) at PCI 00:0d.0: the
 * HBA registers in the ABAR (BAR5, memory), up to six ports each holding a
 * disk, command lists of 32 slots, command tables with their PRDT, received
 * FIS areas, native command queuing, INTx or one MSI message.
 *
 * Each command is carried out as the device end of the FIS exchange would
 * be: the H2D register FIS of the command table is decoded, the data moves
 * between the image and the PRDT regions (zero copy into guest RAM when the
 * regions allow it, else through a bounce buffer), and the device's answer
 * is posted in the received FIS area (D2H register, PIO setup or set device
 * bits FIS). Reads and writes are asynchronous: the MMIO write of PxCI only
 * queues them on the block device; the completion, on its I/O thread with
 * the platform lock held, posts the answer and raises the interrupt.
 *
 * Guest mistakes never reach the host: a command list, table or PRDT that
 * is not RAM (or bus mastering off) is a host bus fatal error (PxIS.HBFS),
 * a PRDT with an odd byte count or too small for the transfer an interface
 * fatal error (PxIS.IFS), a bad command or LBA an ATA error (PxIS.TFES);
 * each stops the port until the guest restarts it (PxCMD.ST 0 then 1).
 *
 * A port holding a CD/DVD drive is an ATAPI device: its commands run
 * through the ATA/ATAPI device model of ide.h (the packet commands, their
 * PIO and DMA data phases), the PRDT standing in for the IDE bus master.
 *
 * Files: ahci.c (the PCI function, HBA and port registers, FIS posting,
 * command fetch, resets), ahci_ata.c (the ATA disk's commands and their
 * data), ahci_atapi.c (ATAPI ports), ahci_int.h (what they share).
 *
 * Not emulated: port multipliers, FIS-based switching, staggered spin-up,
 * command completion coalescing, enclosure management, MSI, the legacy
 * I/O BARs.
 *
 * References: Serial ATA AHCI 1.3.1 (sections cited as "AHCI x.y"); Intel
 * ICH9 datasheet (order 316972), SATA controller D31:F2 in AHCI mode;
 * Serial ATA 2.6 (FIS layouts, "SATA x.y"); ATA8-ACS (commands, IDENTIFY). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/ahci_int.h"
#include "runtime/util.h"

/* --- PCI identity (ICH9 datasheet, D31:F2 configuration registers) ------- */
#define AHCI_DEVFN_DEFAULT 0x68       /* 00:0d.0, VirtualBox's slot */
#define ICH9_VENDOR 0x8086
#define ICH9_AHCI_DEVICE 0x2922       /* 6-port SATA AHCI controller */
#define ICH9_REVISION 0x02
#define CLASS_STORAGE 0x01
#define SUBCLASS_SATA 0x06
#define PROGIF_AHCI 0x01              /* AHCI 1.0 programming interface */
#define ABAR_INDEX 5                  /* AHCI 2.1.11: the ABAR is BAR5 */
#define ABAR_SIZE 0x800               /* ICH9: ABAR bits 31:11, 2 KiB */
#define ICH9_MSI_CAP 0x80             /* ICH9 D31:F2 MSI capability (MID/MNP at 80h) */

/* --- interrupts ------------------------------------------------------------ */

/* IS.IPS[p] is set while port p has an enabled status bit (AHCI 3.1.3);
 * the INTx line follows IS when GHC.IE is set. With MSI on, INTx stays low
 * (PCI 3.0 6.8.1.3) and the single message is an edge: it goes out when
 * the condition (GHC.IE and IS) arises with MSI on, and again for each
 * port event newly set while it holds, so that a driver that has already
 * read IS hears of events that came after. */
static void hba_update_irq(struct ahci *h)
{
    bool fresh = false;
    for (unsigned p = 0; p < h->nports; p++) {
        uint32_t now = h->port[p].is & h->port[p].ie;
        if (now)
            h->is |= 1u << p;
        fresh |= (now & ~h->msi_seen[p]) != 0;
        h->msi_seen[p] = now;
    }
    bool cond = (h->ghc & GHC_IE) && h->is != 0;
    bool msi = pci_msi_enabled(&h->pci, h->msi_cap);
    if (msi && cond && (!h->msi_cond || fresh))
        pci_msi_notify(&h->pci, h->msi_cap);
    h->msi_cond = msi && cond;
    pci_set_intx(&h->pci, !msi && cond);
}

void ahci_port_raise(struct ahci_port *pt, uint32_t bits)
{
    pt->is |= bits;
    hba_update_irq(pt->hba);
}

/* --- guest memory ------------------------------------------------------------ */

static uint64_t port_fb(const struct ahci_port *pt)
{
    return ((uint64_t)pt->fbu << 32 | pt->fb) & ~FB_ALIGN_MASK;
}

static uint64_t port_clb(const struct ahci_port *pt)
{
    return ((uint64_t)pt->clbu << 32 | pt->clb) & ~CLB_ALIGN_MASK;
}

/* Posts a FIS in the received FIS area when FIS receive is on (AHCI 4.2.1);
 * an area that is not RAM is a host bus fatal error. */
bool ahci_post_fis(struct ahci_port *pt, unsigned off, const uint8_t *fis, size_t len)
{
    if (!(pt->cmd & PXCMD_FRE))
        return true;
    return pci_dma_write(&pt->hba->pci, port_fb(pt) + off, fis, len);
}

/* --- answers ----------------------------------------------------------------- */

void ahci_set_tfd(struct ahci_port *pt, uint8_t status, uint8_t error)
{
    pt->tfd = (uint32_t)error << 8 | status;
}

/* The D2H register FIS that ends a command (SATA 10.3.5); its LBA fields
 * (bytes 4-6 and 8-10) carry a failed command's first sector in error. */
static void post_d2h_lba(struct ahci_port *pt, uint8_t status, uint8_t error, uint64_t lba, bool irq)
{
    uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, irq ? FIS_I : 0, status, error};
    for (int i = 0; i < 3; i++) {
        fis[4 + i] = (uint8_t)(lba >> (8 * i));
        fis[8 + i] = (uint8_t)(lba >> (24 + 8 * i));
    }
    ahci_set_tfd(pt, status, error);
    if (!ahci_post_fis(pt, RFIS_RFIS, fis, sizeof fis)) {
        ahci_port_raise(pt, PXIS_HBFS);
        return;
    }
    if (irq)
        ahci_port_raise(pt, PXIS_DHRS | ((status & ATA_ERR) ? PXIS_TFES : 0));
}

void ahci_post_d2h(struct ahci_port *pt, uint8_t status, uint8_t error, bool irq)
{
    post_d2h_lba(pt, status, error, 0, irq);
}

/* A PIO data-in command ends with the PIO setup FIS's ending status
 * (SATA 10.3.10; AHCI 5.3.7). */
void ahci_post_pio_setup(struct ahci_port *pt, uint16_t count, uint8_t status)
{
    uint8_t fis[PIO_FIS_LEN] = {FIS_PIO_SETUP, FIS_PIO_D2H | FIS_I, ATA_STS_OK | ATA_DRQ, 0};
    fis[15] = status;                       /* E_Status */
    put_le(&fis[16], count, 2);             /* transfer count */
    ahci_set_tfd(pt, status, 0);
    if (!ahci_post_fis(pt, RFIS_PSFIS, fis, sizeof fis)) {
        ahci_port_raise(pt, PXIS_HBFS);
        return;
    }
    ahci_port_raise(pt, PXIS_PSS);
}

/* NCQ completion: a set device bits FIS naming the finished tags (SATA
 * 10.3.6, 13.6.4); the HBA clears them in PxSACT (AHCI 5.3.10). */
static void post_sdb(struct ahci_port *pt, uint32_t tags, uint8_t status, uint8_t error)
{
    uint8_t fis[SDB_FIS_LEN] = {FIS_SDB, FIS_I, (uint8_t)(status & 0x77), error};
    put_le(&fis[4], tags, 4);
    pt->sact &= ~tags;
    pt->tfd = (uint32_t)error << 8 | (pt->tfd & 0x88) | (status & 0x77);
    if (!ahci_post_fis(pt, RFIS_SDBFIS, fis, sizeof fis)) {
        ahci_port_raise(pt, PXIS_HBFS);
        return;
    }
    ahci_port_raise(pt, PXIS_SDBS | ((status & ATA_ERR) ? PXIS_TFES : 0));
}

/* Writes PRDBC of a slot's command header (AHCI 4.2.2 DW1). */
void ahci_set_prdbc(struct ahci_port *pt, unsigned slot, uint32_t bytes)
{
    uint8_t v[4];
    put_le(v, bytes, 4);
    (void)pci_dma_write(&pt->hba->pci, port_clb(pt) + slot * CMD_HDR_SIZE + 4, v, 4);
}

/* PxCMD.CR: the command list runs while ST is set or requests are in flight. */
void ahci_port_update_cr(struct ahci_port *pt)
{
    if ((pt->cmd & PXCMD_ST) || pt->inflight || (pt->atapi && pt->ide.inflight))
        pt->cmd |= PXCMD_CR;
    else
        pt->cmd &= ~PXCMD_CR;
}

/* A fatal error (AHCI 6.1.2): the port stops fetching commands; what was
 * issued stays in PxCI for the guest's error handler. */
void ahci_port_fatal(struct ahci_port *pt, uint32_t is_bits)
{
    pt->halted = true;
    ahci_set_tfd(pt, ATA_STS_OK | ATA_ERR, ATA_ABRT);
    ahci_port_raise(pt, is_bits);
}

/* A command ended: its slot leaves PxCI (and PxSACT, for NCQ). A failed
 * command stays issued and the port stops (AHCI 6.2.2.1): the guest's
 * error handler restarts it. A failed queued command leaves its tag in
 * PxSACT and its details in the NCQ command error log. */
void ahci_cmd_finish(struct ahci_port *pt, unsigned slot, bool ncq, uint8_t status, uint8_t error,
                       uint64_t lba)
{
    uint32_t bit = 1u << slot;
    bool err = status & ATA_ERR;
    if (err) {
        pt->halted = true;
        pt->ncq_err.valid = ncq;
        pt->ncq_err.tag = (uint8_t)slot;
        pt->ncq_err.status = status;
        pt->ncq_err.error = error;
        pt->ncq_err.lba = lba;
    }
    if (ncq) {
        post_sdb(pt, err ? 0 : bit, status, error);
    } else {
        if (!err)
            pt->ci &= ~bit;
        post_d2h_lba(pt, status, error, err ? lba : 0, true);
    }
}

static void h2d_decode(const uint8_t *f, struct h2d *d)
{
    d->command = f[2];
    d->features = (uint16_t)(f[3] | f[11] << 8);
    d->lba = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 | (uint64_t)f[8] << 24 |
             (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
    d->device = f[7];
    d->count = (uint32_t)(f[12] | f[13] << 8);
    d->control = f[15];
}

/* Fetches and starts the command in `slot` (AHCI 5.3.2). */
static void cmd_start(struct ahci_port *pt, unsigned slot)
{
    struct ahci *h = pt->hba;
    uint8_t hdr[CMD_HDR_SIZE], cfis[D2H_FIS_LEN];
    if (!pci_dma_read(&h->pci, port_clb(pt) + slot * CMD_HDR_SIZE, hdr, sizeof hdr)) {
        ahci_port_fatal(pt, PXIS_HBFS);
        return;
    }
    uint32_t dw0 = (uint32_t)get_le(hdr, 4);
    uint64_t ctba = get_le(&hdr[8], 8) & ~CTBA_ALIGN_MASK;
    unsigned prdtl = dw0 >> HDR_PRDTL_SHIFT;
    if (!pci_dma_read(&h->pci, ctba + CT_CFIS, cfis, sizeof cfis)) {
        ahci_port_fatal(pt, PXIS_HBFS);
        return;
    }
    pt->cmd = (pt->cmd & ~(0x1Fu << PXCMD_CCS_SHIFT)) | slot << PXCMD_CCS_SHIFT;
    if (cfis[0] != FIS_H2D || (dw0 & HDR_CFL_MASK) < 5) {
        ahci_port_fatal(pt, PXIS_IFS);
        return;
    }
    struct h2d d;
    h2d_decode(cfis, &d);
    if (!(cfis[1] & FIS_H2D_C)) {
        /* A device control FIS: software reset (ATA8-ACS 11.2). Setting SRST
         * is accepted at once (the header's C bit); clearing it makes the
         * device send its signature. */
        pt->ci &= ~(1u << slot);
        if (pt->atapi) {
            if (d.control & FIS_CTL_SRST)
                ide_reset(&pt->ide, false);
            else
                ahci_atapi_signature_fis(pt);
        } else if (!(d.control & FIS_CTL_SRST)) {
            uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, 0, ATA_STS_OK, 0x01, 0x01, 0, 0, 0};
            fis[12] = 0x01;
            pt->sig = SIG_ATA;
            ahci_set_tfd(pt, ATA_STS_OK, 0x01);
            if (!ahci_post_fis(pt, RFIS_RFIS, fis, sizeof fis))
                ahci_port_fatal(pt, PXIS_HBFS);
        }
        return;
    }
    if (pt->atapi) {
        ahci_atapi_start(pt, slot, ctba, prdtl, cfis);
        return;
    }
    ahci_ata_start(pt, slot, ctba, prdtl, dw0, &d);
}

/* Starts every issued command whose slot is free, lowest slot first. */
void ahci_port_issue(struct ahci_port *pt)
{
    for (unsigned s = 0; s < AHCI_SLOTS; s++) {
        uint32_t bit = 1u << s;
        if (!(pt->cmd & PXCMD_ST) || pt->halted)
            return;
        if (!(pt->ci & bit) || (pt->inflight & bit))
            continue;
        cmd_start(pt, s);
    }
}

/* --- resets ------------------------------------------------------------------- */

/* The device's state after COMRESET or power-on: ready, its signature in
 * PxSIG and in a D2H FIS when FIS receive is on (AHCI 10.4.2). */
static void port_device_reset(struct ahci_port *pt)
{
    pt->gen++;
    pt->ci = pt->sact = 0;
    pt->halted = false;
    pt->wcache = true;
    pt->multiple = 0;
    pt->xfer_mode = 0;
    if (!pt->bd) {
        pt->ssts = 0;
        pt->sig = SIG_NONE;
        pt->tfd = 0x7F;
        return;
    }
    pt->ssts = SSTS_DEV_GEN2_ACTIVE;
    pt->serr |= SERR_DIAG_X | SERR_DIAG_N;
    if (pt->atapi) {
        ahci_atapi_forget(pt);
        ide_reset(&pt->ide, true);
        ahci_atapi_signature_fis(pt);
    } else {
        pt->sig = SIG_ATA;
        ahci_set_tfd(pt, ATA_STS_OK, 0x01);
        uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, 0, ATA_STS_OK, 0x01, 0x01, 0, 0, 0};
        fis[12] = 0x01;
        (void)ahci_post_fis(pt, RFIS_RFIS, fis, sizeof fis);
    }
    ahci_port_raise(pt, PXIS_PCS);
}

static void port_reset(struct ahci_port *pt)
{
    pt->clb = pt->clbu = pt->fb = pt->fbu = 0;
    pt->is = pt->ie = 0;
    pt->cmd = PXCMD_SUD | PXCMD_POD;
    pt->sctl = 0;
    pt->serr = 0;
    ahci_port_update_cr(pt);
    port_device_reset(pt);
    pt->is = 0;                         /* no change to report at power-on */
    pt->serr = 0;
}

static void hba_reset(struct ahci *h)
{
    h->ghc = GHC_AE;
    h->is = 0;
    h->msi_cond = false;
    memset(h->msi_seen, 0, sizeof h->msi_seen);
    for (unsigned p = 0; p < h->nports; p++)
        port_reset(&h->port[p]);
    hba_update_irq(h);
}

/* --- register access ----------------------------------------------------------- */

static uint32_t port_read(struct ahci_port *pt, unsigned reg)
{
    switch (reg) {
    case PX_CLB: return pt->clb;
    case PX_CLBU: return pt->clbu;
    case PX_FB: return pt->fb;
    case PX_FBU: return pt->fbu;
    case PX_IS: return pt->is;
    case PX_IE: return pt->ie;
    case PX_CMD: ahci_port_update_cr(pt); return pt->cmd;
    case PX_TFD:
        /* An ATAPI device BSY after a reset (a request was in flight) is
         * ready once the request is done: its status shows through. */
        if (pt->atapi && pt->atapi_slot < 0 && (pt->tfd & ATA_BSY))
            ahci_set_tfd(pt, pt->ide.status, pt->ide.error);
        return pt->tfd;
    case PX_SIG: return pt->sig;
    case PX_SSTS: return pt->ssts;
    case PX_SCTL: return pt->sctl;
    case PX_SERR: return pt->serr;
    case PX_SACT: return pt->sact;
    case PX_CI: return pt->ci;
    default: return 0;
    }
}

static void port_write_cmd(struct ahci_port *pt, uint32_t val)
{
    uint32_t old = pt->cmd;
    pt->cmd = (old & ~PXCMD_WMASK) | (val & PXCMD_WMASK);
    if ((val & PXCMD_CLO) && !(old & PXCMD_ST))
        pt->tfd &= ~(uint32_t)(ATA_BSY | ATA_DRQ);   /* AHCI 3.3.7: CLO self-clears */
    if (pt->cmd & PXCMD_FRE)
        pt->cmd |= PXCMD_FR;
    else
        pt->cmd &= ~PXCMD_FR;
    if ((old & PXCMD_ST) && !(pt->cmd & PXCMD_ST)) {
        /* AHCI 3.3.14/3.3.13: clearing ST clears PxCI and PxSACT; requests
         * in flight finish into nothing, CR stays set until they have. */
        pt->ci = pt->sact = 0;
        pt->gen++;
        pt->cmd &= ~(0x1Fu << PXCMD_CCS_SHIFT);
        if (pt->atapi && pt->atapi_slot >= 0) {
            /* The device abandons its command (a request in flight ends
             * first, the device stays BSY until then). */
            ahci_atapi_forget(pt);
            ide_reset(&pt->ide, false);
        }
    }
    if (!(old & PXCMD_ST) && (pt->cmd & PXCMD_ST))
        pt->halted = false;
    ahci_port_update_cr(pt);
    ahci_port_issue(pt);
}

static void port_write(struct ahci_port *pt, unsigned reg, uint32_t val)
{
    switch (reg) {
    case PX_CLB: pt->clb = val & ~(uint32_t)CLB_ALIGN_MASK; break;
    case PX_CLBU: pt->clbu = val; break;
    case PX_FB: pt->fb = val & ~(uint32_t)FB_ALIGN_MASK; break;
    case PX_FBU: pt->fbu = val; break;
    case PX_IS:
        pt->is &= ~(val & PXIS_RWC);
        hba_update_irq(pt->hba);
        break;
    case PX_IE: pt->ie = val & PXIS_MASK; hba_update_irq(pt->hba); break;
    case PX_CMD: port_write_cmd(pt, val); break;
    case PX_SCTL: {
        uint32_t old = pt->sctl;
        pt->sctl = val & 0xFFF;
        /* DET 1 -> 0 ends a COMRESET: the device comes back (AHCI 3.3.11). */
        if ((old & SCTL_DET_MASK) == SCTL_DET_COMRESET && (val & SCTL_DET_MASK) != SCTL_DET_COMRESET &&
            !(pt->cmd & PXCMD_ST))
            port_device_reset(pt);
        else if ((val & SCTL_DET_MASK) == SCTL_DET_COMRESET)
            pt->ssts = 0, pt->tfd = 0x80 | 0x7F;
        hba_update_irq(pt->hba);
        break;
    }
    case PX_SERR:
        pt->serr &= ~val;
        if (!(pt->serr & SERR_DIAG_X))
            pt->is &= ~PXIS_PCS;
        hba_update_irq(pt->hba);
        break;
    case PX_SACT:
        if (pt->cmd & PXCMD_ST)
            pt->sact |= val;            /* software only sets bits */
        break;
    case PX_CI:
        if (pt->cmd & PXCMD_ST) {
            pt->ci |= val;
            ahci_port_issue(pt);
        }
        break;
    default:
        break;
    }
}

static uint64_t abar_read(void *opaque, uint64_t off, unsigned size)
{
    struct ahci *h = opaque;
    uint32_t v = 0;
    unsigned reg = (unsigned)off & ~3u;
    if (reg >= PORT_BASE) {
        unsigned p = (reg - PORT_BASE) / PORT_STRIDE;
        if (p < h->nports)
            v = port_read(&h->port[p], (reg - PORT_BASE) % PORT_STRIDE);
    } else {
        switch (reg) {
        case HBA_CAP:
            v = CAP_S64A | CAP_SNCQ | CAP_SCLO | CAP_ISS_GEN2 | CAP_SAM |
                (AHCI_SLOTS - 1) << CAP_NCS_SHIFT | (h->nports - 1);
            break;
        case HBA_GHC: v = h->ghc; break;
        case HBA_IS: v = h->is; break;
        case HBA_PI: v = (1u << h->nports) - 1; break;
        case HBA_VS: v = AHCI_VERSION; break;
        default: break;
        }
    }
    if (size == 8)
        return v | (uint64_t)abar_read(opaque, off + 4, 4) << 32;
    return (v >> (8 * (off & 3))) & (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
}

static void abar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct ahci *h = opaque;
    if (size == 8) {
        abar_write(opaque, off, (uint32_t)val, 4);
        abar_write(opaque, off + 4, val >> 32, 4);
        return;
    }
    if (size != 4 || (off & 3))
        return;                         /* AHCI 3: registers are dword accessed */
    unsigned reg = (unsigned)off;
    uint32_t v = (uint32_t)val;
    if (reg >= PORT_BASE) {
        unsigned p = (reg - PORT_BASE) / PORT_STRIDE;
        if (p < h->nports)
            port_write(&h->port[p], (reg - PORT_BASE) % PORT_STRIDE, v);
        return;
    }
    switch (reg) {
    case HBA_GHC:
        if (v & GHC_HR) {
            hba_reset(h);               /* HR reads 0 once done: at once */
            return;
        }
        h->ghc = GHC_AE | (v & GHC_IE);
        hba_update_irq(h);
        break;
    case HBA_IS:
        h->is &= ~v;
        hba_update_irq(h);              /* ports still pending set it again */
        break;
    default:
        break;
    }
}

static const mmio_ops abar_ops = {abar_read, abar_write};

/* MSI enabled or disabled: INTx and the message follow (a condition that
 * holds when MSI comes on is sent). */
static void ahci_config_written(pci_function *f, uint8_t reg, unsigned size)
{
    (void)reg;
    (void)size;
    hba_update_irq(f->opaque);
}

/* --- the device ---------------------------------------------------------------- */

static int ahci_create(device *dev)
{
    struct ahci *h = dev->state;
    struct vm *vm = dev->vm;
    h->dev = dev;
    h->mem = vm_physmem(vm);
    /* Ports implemented: as many as the highest one holding a drive, or
     * "ports" (VirtualBox's PortCount). Firmware probes every implemented
     * port and waits for a link on the empty ones. */
    unsigned used = 1;
    for (unsigned p = 0; p < AHCI_MAX_PORTS; p++) {
        struct ahci_port *pt = &h->port[p];
        char key[8];
        snprintf(key, sizeof key, "port%u", p);
        pt->hba = h;
        pt->index = p;
        const char *name = cfg_get_str(dev->cfg, key, NULL);
        if (!name)
            continue;
        used = p + 1;
        pt->bd = vm_blockdev(vm, name);
        if (!pt->bd) {
            vm_error(vm, "%s: no drive called '%s'", key, name);
            return -1;
        }
        if (blockdev_media(pt->bd) == BLK_MEDIA_CDROM) {
            char why[160];
            if (ahci_atapi_init(pt, why, sizeof why) < 0) {
                vm_error(vm, "%s: %s", key, why);
                return -1;
            }
        }
    }
    uint64_t nports = cfg_get_u64(dev->cfg, "ports", used);
    if (nports < used || nports > AHCI_MAX_PORTS) {
        vm_error(vm, "ports %llu: from %u (the highest port with a drive) to %u",
                 (unsigned long long)nports, used, AHCI_MAX_PORTS);
        return -1;
    }
    h->nports = (unsigned)nports;
    uint64_t devfn = cfg_get_u64(dev->cfg, "devfn", AHCI_DEVFN_DEFAULT);
    struct pci_id id = {
        .vendor = ICH9_VENDOR, .device = ICH9_AHCI_DEVICE,
        .subsys_vendor = ICH9_VENDOR, .subsys = ICH9_AHCI_DEVICE,
        .revision = ICH9_REVISION,
        .class_code = CLASS_STORAGE, .subclass = SUBCLASS_SATA, .prog_if = PROGIF_AHCI,
        .int_pin = 1,
    };
    pci_function_init(&h->pci, vm, (uint8_t)devfn, &id);
    pci_function_bar(&h->pci, ABAR_INDEX, PCI_BAR_MEM32, ABAR_SIZE, &abar_ops, h);
    h->pci.next_cap = ICH9_MSI_CAP;
    h->msi_cap = pci_msi_init(&h->pci);
    h->pci.opaque = h;
    h->pci.config_written = ahci_config_written;
    if (pci_function_register(&h->pci) < 0)
        return -1;
    hba_reset(h);
    return 0;
}

static void ahci_reset(device *dev)
{
    struct ahci *h = dev->state;
    pci_function_reset(&h->pci);
    pci_msi_reset(&h->pci, h->msi_cap);
    hba_reset(h);
}

/* The VM detaches the block devices first: nothing is in flight here. */
static void ahci_destroy(device *dev)
{
    struct ahci *h = dev->state;
    for (unsigned p = 0; p < h->nports; p++) {
        struct ahci_port *pt = &h->port[p];
        for (unsigned s = 0; s < AHCI_SLOTS; s++)
            ahci_cmd_free(pt->cmds[s]);
        if (pt->atapi)
            ahci_atapi_free(pt);
    }
}

static const device_desc ahci_desc = {
    .name = "ahci",
    .state_size = sizeof(struct ahci),
    .create = ahci_create,
    .reset = ahci_reset,
    .destroy = ahci_destroy,
};
DEVICE_REGISTER(ahci_desc);
