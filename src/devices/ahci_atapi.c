/* AHCI ports holding a CD/DVD drive (see ahci.c): ATAPI through the
 * ATA/ATAPI device model of ide.h. Each H2D register FIS loads the
 * device's taskfile and runs its command; PACKET takes its command packet
 * from the command table's ACMD area. The PRDT stands in for the IDE bus
 * master: DMA data phases and PIO data blocks (DRQ) move between the
 * device's buffer and the PRDT regions. One command runs at a time; the end
 * posts a D2H FIS (and a PIO setup FIS after PIO data-in) with the
 * device's status, error and interrupt reason.
 * References: AHCI 1.3.1 5.3.8 (ATAPI commands), ATA/ATAPI-6 9.10 (PACKET). */
#include <stdlib.h>
#include <string.h>

#include "devices/ahci_int.h"
#include "runtime/util.h"

void ahci_atapi_signature_fis(struct ahci_port *pt)
{
    struct ide_dev *d = &pt->ide;
    uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, 0, d->status, d->error, d->tf.lba_low, d->tf.lba_mid,
                                d->tf.lba_high, d->tf.device};
    fis[12] = d->tf.count;
    pt->sig = SIG_ATAPI;
    ahci_set_tfd(pt, d->status, d->error);
    if (!ahci_post_fis(pt, RFIS_RFIS, fis, sizeof fis))
        ahci_port_fatal(pt, PXIS_HBFS);
}

void ahci_atapi_forget(struct ahci_port *pt)
{
    free(pt->asegs);
    pt->asegs = NULL;
    pt->nasegs = 0;
    pt->atapi_slot = -1;
}

/* Copies n bytes between buf and the PRDT at the command's position;
 * false when the PRDT is too short or not RAM. */
static bool atapi_copy(struct ahci_port *pt, uint8_t *buf, uint64_t n, bool to_guest)
{
    if (n > pt->atotal - pt->apos)
        return false;
    uint64_t at = 0;
    for (unsigned i = 0; i < pt->nasegs && n; i++) {
        const struct seg *s = &pt->asegs[i];
        if (pt->apos >= at + s->len) {
            at += s->len;
            continue;
        }
        uint64_t off = pt->apos - at, k = min_u64(s->len - off, n);
        bool ok = to_guest ? pci_dma_write(&pt->hba->pci, s->gpa + off, buf, k)
                           : pci_dma_read(&pt->hba->pci, s->gpa + off, buf, k);
        if (!ok)
            return false;
        buf += k;
        n -= k;
        pt->apos += k;
        at += s->len;
    }
    return true;
}

/* The command ended (status without BSY and DRQ): its answer FIS. A PIO
 * data-in command also gets a PIO setup FIS with the ending status (AHCI
 * 5.3.7), where drivers look for it. */
static void atapi_complete(struct ahci_port *pt)
{
    struct ide_dev *d = &pt->ide;
    unsigned slot = (unsigned)pt->atapi_slot;
    bool overflow = pt->aoverflow, pio_in = pt->apio_in;
    uint64_t done = pt->apos;
    ahci_atapi_forget(pt);
    if (overflow) {
        ahci_port_fatal(pt, PXIS_IFS);
        return;
    }
    ahci_set_prdbc(pt, slot, (uint32_t)done);
    if (pio_in) {
        uint8_t fis[PIO_FIS_LEN] = {FIS_PIO_SETUP, FIS_PIO_D2H, d->status, d->error};
        fis[15] = d->status;
        (void)ahci_post_fis(pt, RFIS_PSFIS, fis, sizeof fis);
    }
    uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, FIS_I, d->status, d->error, d->tf.lba_low, d->tf.lba_mid,
                                d->tf.lba_high, d->tf.device};
    fis[12] = d->tf.count;
    ahci_set_tfd(pt, d->status, d->error);
    if (!ahci_post_fis(pt, RFIS_RFIS, fis, sizeof fis)) {
        ahci_port_fatal(pt, PXIS_HBFS);
        return;
    }
    if (d->status & ATA_ERR) {
        pt->halted = true;
        ahci_port_raise(pt, PXIS_DHRS | PXIS_TFES);
    } else {
        pt->ci &= ~(1u << slot);
        ahci_port_raise(pt, PXIS_DHRS);
    }
    ahci_port_update_cr(pt);
    ahci_port_issue(pt);
}

/* PIO data blocks (DRQ): moved between the PRDT and the data register. A
 * block's bytes are copied before the read or write that ends it, which
 * may run the rest of the command (and end it) at once. */
static void atapi_pump(struct ahci_port *pt)
{
    struct ide_dev *d = &pt->ide;
    if (pt->apumping)
        return;                          /* the loop below takes the next block */
    pt->apumping = true;
    while (pt->atapi_slot >= 0 && (d->status & ATA_ST_DRQ) && !(d->status & ATA_ST_BSY) && d->x.active &&
           !d->x.dma && d->x.drq_end > d->x.pos && d->x.drq_end <= IDE_BUF_SIZE) {
        uint32_t n = d->x.drq_end - d->x.pos;
        bool in = !d->x.to_device;
        if (in) {
            pt->apio_in = true;
            if (!atapi_copy(pt, d->buf + d->x.pos, n, true))
                pt->aoverflow = true;
        } else {
            uint8_t *tmp = xmalloc(n);
            if (!atapi_copy(pt, tmp, n, false)) {
                memset(tmp, 0, n);
                pt->aoverflow = true;
            }
            for (uint32_t i = 0; i < n; i += 2)
                ide_data_write(d, (uint32_t)(tmp[i] | (i + 1 < n ? tmp[i + 1] << 8 : 0)), 2);
            free(tmp);
            continue;
        }
        for (uint32_t i = 0; i < n; i += 2)
            (void)ide_data_read(d, 2);
    }
    pt->apumping = false;
}

static struct ahci_port *tp_port(struct ide_dev *d)
{
    return d->tp->opaque;
}

static void atapi_irq(struct ide_dev *d)
{
    struct ahci_port *pt = tp_port(d);
    if (pt->atapi_slot < 0 || (d->status & ATA_ST_BSY))
        return;
    if (d->status & ATA_ST_DRQ)
        atapi_pump(pt);
    else
        atapi_complete(pt);
}

/* The PRDT is the DMA engine, always running. */
static void atapi_dma_start(struct ide_dev *d)
{
    ide_dma_go(d);
}

static int atapi_dma_rw(struct ide_dev *d, void *buf, size_t len, bool to_guest)
{
    struct ahci_port *pt = tp_port(d);
    if (pt->atapi_slot < 0)
        return -1;
    return atapi_copy(pt, buf, len, to_guest) ? 0 : -1;
}

static void atapi_dma_end(struct ide_dev *d, bool error)
{
    (void)d;
    (void)error;                         /* the device reports the error itself */
}

static void atapi_media_changed(void *opaque)
{
    struct ahci_port *pt = opaque;
    ide_media_changed(&pt->ide);
}

/* An H2D register FIS to the ATAPI device: the taskfile from the FIS, the
 * command, and for PACKET the command packet from the ACMD area. */
void ahci_atapi_start(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl,
                        const uint8_t *fis)
{
    struct ide_dev *d = &pt->ide;
    if (pt->atapi_slot >= 0)
        return;                          /* one command at a time: it waits in PxCI */
    uint8_t acmd[ATAPI_CDB_LEN];
    int64_t rc = ahci_load_prdt(pt, ctba, prdtl, UINT64_MAX, &pt->asegs, &pt->nasegs);
    if (rc == 0 && !pci_dma_read(&pt->hba->pci, ctba + CT_ACMD, acmd, sizeof acmd))
        rc = -(int64_t)PXIS_HBFS;
    if (rc < 0) {
        ahci_atapi_forget(pt);
        ahci_port_fatal(pt, (uint32_t)-rc);
        return;
    }
    pt->atotal = 0;
    for (unsigned i = 0; i < pt->nasegs; i++)
        pt->atotal += pt->asegs[i].len;
    pt->atapi_slot = (int)slot;
    pt->apos = 0;
    pt->apio_in = pt->aoverflow = false;
    if (d->status & ATA_ST_BSY) {        /* still finishing a reset */
        d->error = ATA_ABRT;
        d->status = ATA_STS_OK | ATA_ERR;
        atapi_complete(pt);
        return;
    }
    struct ide_taskfile *tf = &d->tf;
    tf->feature = fis[3];
    tf->lba_low = fis[4];
    tf->lba_mid = fis[5];
    tf->lba_high = fis[6];
    tf->device = fis[7];
    tf->hob_lba_low = fis[8];
    tf->hob_lba_mid = fis[9];
    tf->hob_lba_high = fis[10];
    tf->hob_feature = fis[11];
    tf->count = fis[12];
    tf->hob_count = fis[13];
    ide_exec_command(d, fis[2]);
    /* PACKET waits for its command packet (DRQ, no interrupt). */
    if (pt->atapi_slot == (int)slot && (d->status & ATA_ST_DRQ) && d->x.active && d->x.to_device &&
        d->x.len == ATAPI_CDB_LEN)
        for (unsigned i = 0; i < ATAPI_CDB_LEN && pt->atapi_slot == (int)slot; i += 2)
            ide_data_write(d, (uint32_t)(acmd[i] | acmd[i + 1] << 8), 2);
}

int ahci_atapi_init(struct ahci_port *pt, char *why, size_t why_len)
{
    pt->atapi = true;
    pt->atapi_slot = -1;
    pt->tp = (struct ide_transport){atapi_irq, atapi_dma_start, atapi_dma_rw, atapi_dma_end, pt};
    if (ide_dev_init(&pt->ide, pt->bd, 0, &pt->tp, why, why_len) < 0)
        return -1;
    blockdev_set_media_cb(pt->bd, atapi_media_changed, pt);
    return 0;
}

void ahci_atapi_free(struct ahci_port *pt)
{
    blockdev_set_media_cb(pt->bd, NULL, NULL);
    ahci_atapi_forget(pt);
    ide_dev_free(&pt->ide);
}
