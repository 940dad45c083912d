/* The ATA disk behind an AHCI port (see ahci.c): IDENTIFY DEVICE, the
 * read, write and flush commands (DMA, PIO and NCQ forms) carried out on
 * the block device with zero copy or a bounce buffer, the general purpose
 * logs, the commands answered at once. References: ATA8-ACS (commands,
 * IDENTIFY words, logs), AHCI 1.3.1 4.2.3 (PRDT). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/ahci_int.h"
#include "runtime/util.h"

/* Zero-copy reads wrote guest RAM behind the CPU's back: the vCPUs drop
 * what they decoded from it, as physmem_rw does for DMA. */
static void ram_written(struct physmem *pm, const struct seg *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        physmem_ram_written(pm, s[i].gpa, s[i].len);
}

void ahci_cmd_free(struct ahci_cmd *c)
{
    if (!c)
        return;
    if (c->bounce)
        c->port->hba->bounce_bytes -= c->bytes;
    free(c->segs);
    free(c->iov);
    free(c->bounce);
    free(c);
}

/* --- the completion --------------------------------------------------------- */

/* The error register for a failed command (ATA8-ACS error outputs): IDNF
 * for an address out of range, UNC for a read the medium could not give,
 * ABRT for a write or a flush it could not take (UNC is a read's only). */
static uint8_t errno_to_ata(int status, bool read)
{
    return status == -EINVAL ? ATA_IDNF : read && status != -EROFS ? ATA_UNC : ATA_ABRT;
}

/* Block device done: on its I/O thread, platform lock held. */
static void cmd_done(struct blk_req *req, int status)
{
    struct ahci_cmd *c = req->opaque;
    struct ahci_port *pt = c->port;
    struct ahci *h = pt->hba;
    pt->inflight &= ~(1u << c->slot);
    pt->cmds[c->slot] = NULL;
    if (c->gen != pt->gen) {            /* reset since: the guest forgot it */
        ahci_cmd_free(c);
        ahci_port_update_cr(pt);
        ahci_port_issue(pt);
        return;
    }
    bool ok = status == 0;
    if (ok && c->kind == K_READ) {
        if (c->bounce) {
            uint64_t off = 0;
            for (unsigned i = 0; ok && i < c->nsegs; i++) {
                ok = pci_dma_write(&h->pci, c->segs[i].gpa, c->bounce + off, c->segs[i].len);
                off += c->segs[i].len;
            }
        } else {
            ram_written(h->mem, c->segs, c->nsegs);
        }
    }
    if (!ok && status == 0) {
        ahci_set_prdbc(pt, c->slot, 0);
        ahci_cmd_free(c);
        ahci_port_fatal(pt, PXIS_HBFS);
        return;
    }
    if (!c->ncq)
        ahci_set_prdbc(pt, c->slot, ok ? (uint32_t)c->bytes : 0);
    unsigned slot = c->slot;
    bool ncq = c->ncq, pio_in = c->pio && c->kind == K_READ, read = c->kind == K_READ;
    /* The first sector in error (for a flush, a write done behind's). */
    uint64_t lba = c->req.error_offset / BLK_SECTOR;
    uint32_t bytes = (uint32_t)c->bytes;
    ahci_cmd_free(c);
    if (!ok) {
        ahci_cmd_finish(pt, slot, ncq, ATA_STS_OK | ATA_ERR, errno_to_ata(status, read), lba);
    } else if (pio_in) {
        pt->ci &= ~(1u << slot);
        ahci_post_pio_setup(pt, (uint16_t)bytes, ATA_STS_OK);
    } else {
        ahci_cmd_finish(pt, slot, ncq, ATA_STS_OK, 0, 0);
    }
    ahci_port_update_cr(pt);
    ahci_port_issue(pt);
}

/* --- IDENTIFY DEVICE (ATA8-ACS 7.16) ------------------------------------------ */

/* ATA strings: two characters per word, the first in the high byte. */
static void id_string(uint16_t *id, unsigned word, unsigned words, const char *s)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < words * 2; i++) {
        uint8_t ch = i < n ? (uint8_t)s[i] : ' ';
        if (i & 1)
            id[word + i / 2] |= ch;
        else
            id[word + i / 2] = (uint16_t)(ch << 8);
    }
}

static void build_identify(const struct ahci_port *pt, uint8_t out[512])
{
    uint16_t id[256] = {0};
    uint64_t sectors = blockdev_size(pt->bd) / BLK_SECTOR;
    uint64_t chs = sectors / (16 * 63);
    uint16_t cyl = chs > 16383 ? 16383 : (uint16_t)chs;
    char serial[21];
    snprintf(serial, sizeof serial, "CX%04X%02u", (unsigned)(sectors & 0xFFFF), pt->index);
    id[0] = 0x0040;                         /* ATA device, fixed */
    id[1] = cyl;
    id[3] = 16;                             /* heads */
    id[6] = 63;                             /* sectors per track */
    id_string(id, 10, 10, serial);
    id_string(id, 23, 4, "1.0");
    id_string(id, 27, 20, "CAIXA HARDDISK");
    id[47] = 0x8000 | MAX_MULTIPLE;
    id[49] = 0x0300;                        /* LBA, DMA */
    id[50] = 0x4000;
    id[53] = 0x0006;                        /* words 64-70 and 88 valid */
    id[54] = cyl;
    id[55] = 16;
    id[56] = 63;
    uint64_t chs_sectors = (uint64_t)cyl * 16 * 63;
    id[57] = (uint16_t)chs_sectors;
    id[58] = (uint16_t)(chs_sectors >> 16);
    id[59] = pt->multiple ? (uint16_t)(0x0100 | pt->multiple) : 0;
    uint64_t lba28 = sectors > LBA28_MAX ? LBA28_MAX : sectors;
    id[60] = (uint16_t)lba28;
    id[61] = (uint16_t)(lba28 >> 16);
    bool udma = (pt->xfer_mode & 0xF8) == XFER_UDMA;
    bool mwdma = (pt->xfer_mode & 0xF8) == XFER_MWDMA;
    id[63] = 0x0007 | (mwdma ? (uint16_t)(0x100 << (pt->xfer_mode & 7)) : 0);
    id[64] = 0x0003;                        /* PIO modes 3 and 4 */
    id[65] = id[66] = id[67] = id[68] = 120;
    id[75] = AHCI_SLOTS - 1;                /* queue depth - 1 */
    id[76] = 0x0106;                        /* NCQ, SATA Gen1 and Gen2 */
    id[80] = 0x01F0;                        /* ATA/ATAPI-4 to ATA8-ACS */
    id[82] = 0x0060;                        /* write cache, look-ahead */
    id[83] = 0x7400;                        /* FLUSH CACHE (EXT), 48-bit */
    id[84] = 0x4020;                        /* general purpose logging */
    id[85] = (uint16_t)(0x0040 | (pt->wcache ? 0x0020 : 0));
    id[86] = 0x3400;
    id[87] = 0x4020;
    id[88] = 0x007F | (udma ? (uint16_t)(0x100 << (pt->xfer_mode & 7)) : 0);
    id[93] = 0;                             /* SATA: no PATA reset result */
    for (unsigned i = 0; i < 4; i++)
        id[100 + i] = (uint16_t)(sectors >> (16 * i));
    id[106] = 0x4000;                       /* one logical sector per physical */
    id[217] = 1;                            /* non-rotating medium */
    for (unsigned i = 0; i < 256; i++)
        put_le(&out[2 * i], id[i], 2);
    /* Integrity word (7.16.7.88): signature A5h, bytes sum to 0. */
    uint8_t sum = 0xA5;
    for (unsigned i = 0; i < 510; i++)
        sum = (uint8_t)(sum + out[i]);
    out[510] = 0xA5;
    out[511] = (uint8_t)-sum;
}

/* Reads the PRDT into regions covering `bytes` (AHCI 4.2.3.3); with bytes
 * UINT64_MAX, all of it. Returns 0, -PXIS_HBFS when the table is not RAM,
 * -PXIS_IFS for an odd byte count or a table too short for the transfer. */
int64_t ahci_load_prdt(struct ahci_port *pt, uint64_t ctba, unsigned prdtl, uint64_t bytes,
                         struct seg **out, unsigned *nout)
{
    *out = NULL;
    *nout = 0;
    if (bytes == 0)
        return 0;
    struct seg *segs = xmalloc(sizeof *segs * (prdtl ? prdtl : 1));
    unsigned n = 0;
    uint64_t left = bytes;
    for (unsigned i = 0; i < prdtl && left; i++) {
        uint8_t prd[PRD_SIZE];
        if (!pci_dma_read(&pt->hba->pci, ctba + CT_PRDT + (uint64_t)i * PRD_SIZE, prd, sizeof prd)) {
            free(segs);
            return -(int64_t)PXIS_HBFS;
        }
        uint64_t dba = get_le(prd, 8);
        uint32_t dbc = (uint32_t)(get_le(&prd[12], 4) & PRD_DBC_MASK) + 1;
        if ((dbc & 1) || (dba & 1)) {
            free(segs);
            return -(int64_t)PXIS_IFS;
        }
        uint32_t len = (uint32_t)min_u64(dbc, left);
        segs[n++] = (struct seg){dba, len};
        left -= len;
    }
    if (left && bytes != UINT64_MAX) {
        free(segs);
        return -(int64_t)PXIS_IFS;
    }
    *out = segs;
    *nout = n;
    return 0;
}

/* The request's buffers: guest RAM itself when every region is RAM and a
 * whole number of sectors, else a bounce buffer (filled now for writes).
 * Returns 0, -PXIS_HBFS when a region is not RAM, or -1 when the bounce
 * budget is spent. */
static int64_t cmd_buffers(struct ahci *h, struct ahci_cmd *c)
{
    bool direct = c->nsegs <= BLK_MAX_IOV;
    for (unsigned i = 0; direct && i < c->nsegs; i++)
        direct = c->segs[i].len % BLK_SECTOR == 0 &&
                 physmem_ram_ptr(h->mem, c->segs[i].gpa, c->segs[i].len) != NULL;
    if (!(get_le(&h->pci.config[PCI_COMMAND], 2) & PCI_CMD_MASTER))
        return -(int64_t)PXIS_HBFS;
    if (direct) {
        c->iov = xmalloc(sizeof *c->iov * c->nsegs);
        for (unsigned i = 0; i < c->nsegs; i++)
            c->iov[i] = (struct iovec){physmem_ram_ptr(h->mem, c->segs[i].gpa, c->segs[i].len),
                                       c->segs[i].len};
        c->req.iov = c->iov;
        c->req.iovcnt = (int)c->nsegs;
        return 0;
    }
    if (h->bounce_bytes + c->bytes > BOUNCE_BUDGET)
        return -1;
    c->bounce = xmalloc(c->bytes);
    h->bounce_bytes += c->bytes;
    c->iov = xmalloc(sizeof *c->iov);
    c->iov[0] = (struct iovec){c->bounce, c->bytes};
    c->req.iov = c->iov;
    c->req.iovcnt = 1;
    uint64_t off = 0;
    for (unsigned i = 0; i < c->nsegs; i++) {
        /* Reads land in RAM only: checked now rather than after the I/O. */
        if (c->kind == K_WRITE ? !pci_dma_read(&h->pci, c->segs[i].gpa, c->bounce + off, c->segs[i].len)
                               : !physmem_ram_ptr(h->mem, c->segs[i].gpa, c->segs[i].len))
            return -(int64_t)PXIS_HBFS;
        off += c->segs[i].len;
    }
    return 0;
}

/* Decodes the opcode: kind, LBA, sector count; false for a command that is
 * not a data transfer. */
static bool decode_rw(const struct h2d *d, enum cmd_kind *kind, bool *ncq, bool *pio, uint64_t *lba,
                      uint32_t *sectors)
{
    bool ext = true;
    *ncq = *pio = false;
    switch (d->command) {
    case ATA_READ_DMA:
    case ATA_READ_SECTORS:
    case ATA_READ_MULTIPLE:
        ext = false;
        /* fall through */
    case ATA_READ_DMA_EXT:
    case ATA_READ_SECTORS_EXT:
    case ATA_READ_MULTIPLE_EXT:
        *kind = K_READ;
        break;
    case ATA_WRITE_DMA:
    case ATA_WRITE_SECTORS:
    case ATA_WRITE_MULTIPLE:
        ext = false;
        /* fall through */
    case ATA_WRITE_DMA_EXT:
    case ATA_WRITE_SECTORS_EXT:
    case ATA_WRITE_MULTIPLE_EXT:
        *kind = K_WRITE;
        break;
    case ATA_READ_FPDMA:
    case ATA_WRITE_FPDMA:
        /* Count in FEATURES, tag in COUNT 7:3 (ATA8-ACS 7.24, 7.62). */
        *kind = d->command == ATA_READ_FPDMA ? K_READ : K_WRITE;
        *ncq = true;
        *lba = d->lba;
        *sectors = d->features ? d->features : 65536;
        return true;
    default:
        return false;
    }
    switch (d->command) {
    case ATA_READ_SECTORS:
    case ATA_READ_SECTORS_EXT:
    case ATA_READ_MULTIPLE:
    case ATA_READ_MULTIPLE_EXT:
    case ATA_WRITE_SECTORS:
    case ATA_WRITE_SECTORS_EXT:
    case ATA_WRITE_MULTIPLE:
    case ATA_WRITE_MULTIPLE_EXT:
        *pio = true;
        break;
    default:
        break;
    }
    if (ext) {
        *lba = d->lba;
        *sectors = d->count ? d->count : 65536;
    } else {
        *lba = (d->lba & 0xFFFFFF) | (uint64_t)(d->device & 0x0F) << 24;
        *sectors = (d->count & 0xFF) ? (d->count & 0xFF) : 256;
    }
    return true;
}

/* A data transfer or flush: queued on the block device. Returns false
 * when it ended at once (an error already posted). */
static void start_io(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl,
                     enum cmd_kind kind, bool ncq, bool pio, uint64_t lba, uint32_t sectors)
{
    struct ahci *h = pt->hba;
    uint64_t size = blockdev_size(pt->bd);
    struct ahci_cmd *c = xcalloc(1, sizeof *c);
    c->port = pt;
    c->slot = slot;
    c->gen = pt->gen;
    c->ncq = ncq;
    c->pio = pio;
    c->kind = kind;
    c->req.opaque = c;
    c->req.done = cmd_done;
    if (ncq) {
        /* The device accepts a queued command at once: a D2H FIS with BSY
         * clear and no interrupt releases the slot (SATA 13.6.4.1); any
         * error comes later in a set device bits FIS. */
        pt->ci &= ~(1u << slot);
        ahci_post_d2h(pt, ATA_STS_OK, 0, false);
    }
    if (kind == K_FLUSH) {
        c->req.op = BLK_FLUSH;
    } else {
        uint64_t bytes = (uint64_t)sectors * BLK_SECTOR;
        if (lba > size / BLK_SECTOR || sectors > size / BLK_SECTOR - lba) {
            ahci_cmd_free(c);
            ahci_cmd_finish(pt, slot, ncq, ATA_STS_OK | ATA_ERR, ATA_IDNF, lba);
            return;
        }
        if (kind == K_WRITE && blockdev_read_only(pt->bd)) {
            ahci_cmd_free(c);
            ahci_cmd_finish(pt, slot, ncq, ATA_STS_OK | ATA_ERR, ATA_ABRT, lba);
            return;
        }
        c->bytes = bytes;
        int64_t rc = ahci_load_prdt(pt, ctba, prdtl, bytes, &c->segs, &c->nsegs);
        if (rc == 0)
            rc = cmd_buffers(h, c);
        if (rc < 0)
            ahci_cmd_free(c);
        if (rc == -1) {
            ahci_cmd_finish(pt, slot, ncq, ATA_STS_OK | ATA_ERR, ATA_ABRT, lba);
            return;
        }
        if (rc < 0) {
            ahci_port_fatal(pt, (uint32_t)-rc);
            return;
        }
        c->req.op = kind == K_READ ? BLK_READ : BLK_WRITE;
        c->req.write_through = !pt->wcache;
        c->req.offset = lba * BLK_SECTOR;
    }
    pt->inflight |= 1u << slot;
    pt->cmds[slot] = c;
    ahci_port_update_cr(pt);
    blockdev_submit(pt->bd, &c->req);
}

/* PIO data-in from the device's own buffer (IDENTIFY, READ LOG EXT):
 * scattered over the PRDT, then the PIO setup FIS ends the command. */
static void pio_in(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl,
                   const uint8_t *buf, uint32_t len)
{
    struct seg *segs;
    unsigned n;
    int64_t rc = ahci_load_prdt(pt, ctba, prdtl, len, &segs, &n);
    uint64_t off = 0;
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        if (!pci_dma_write(&pt->hba->pci, segs[i].gpa, buf + off, segs[i].len))
            rc = -(int64_t)PXIS_HBFS;
        off += segs[i].len;
    }
    free(segs);
    if (rc < 0) {
        ahci_port_fatal(pt, (uint32_t)-rc);
        return;
    }
    ahci_set_prdbc(pt, slot, len);
    pt->ci &= ~(1u << slot);
    ahci_post_pio_setup(pt, (uint16_t)len, ATA_STS_OK);
}

/* READ LOG EXT (ATA8-ACS 7.32): the log directory (no other logs but the
 * NCQ error log) and the NCQ command error log (A.8), read once. */
static bool read_log(struct ahci_port *pt, uint8_t log, uint8_t out[512])
{
    memset(out, 0, 512);
    switch (log) {
    case LOG_DIRECTORY:
        put_le(out, 0x0001, 2);                 /* GPL version */
        put_le(&out[2 * LOG_NCQ_ERROR], 1, 2);  /* one page of log 10h */
        return true;
    case LOG_NCQ_ERROR:
        out[0] = pt->ncq_err.valid ? pt->ncq_err.tag : LOG_NCQ_NQ;
        out[2] = pt->ncq_err.status;
        out[3] = pt->ncq_err.error;
        for (unsigned i = 0; i < 3; i++) {
            out[4 + i] = (uint8_t)(pt->ncq_err.lba >> (8 * i));
            out[8 + i] = (uint8_t)(pt->ncq_err.lba >> (24 + 8 * i));
        }
        out[7] = ATA_DEV_LBA;
        uint8_t sum = 0;
        for (unsigned i = 0; i < 511; i++)
            sum = (uint8_t)(sum + out[i]);
        out[511] = (uint8_t)-sum;
        pt->ncq_err.valid = false;
        return true;
    default:
        return false;
    }
}

/* A command that answers in its D2H register FIS (READ NATIVE MAX, CHECK
 * POWER MODE) ends with that FIS, a success status and an interrupt. */
static void finish_with_d2h(struct ahci_port *pt, unsigned slot, const uint8_t fis[D2H_FIS_LEN])
{
    pt->ci &= ~(1u << slot);
    ahci_set_tfd(pt, ATA_STS_OK, 0);
    if (!ahci_post_fis(pt, RFIS_RFIS, fis, D2H_FIS_LEN))
        ahci_port_fatal(pt, PXIS_HBFS);
    else
        ahci_port_raise(pt, PXIS_DHRS);
}

/* A command without data through the block device: answered at once. */
static void exec_other(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl,
                       const struct h2d *d)
{
    uint64_t max_lba = blockdev_size(pt->bd) / BLK_SECTOR;
    max_lba = max_lba ? max_lba - 1 : 0;
    switch (d->command) {
    case ATA_IDENTIFY: {
        uint8_t id[512];
        build_identify(pt, id);
        pio_in(pt, slot, ctba, prdtl, id, sizeof id);
        return;
    }
    case ATA_READ_LOG_EXT: {
        uint8_t buf[512];
        /* One page at page 0: the log address in LBA 7:0, pages in COUNT. */
        if (d->count != 1 || ((d->lba >> 8) & 0xFFFF) != 0 || !read_log(pt, (uint8_t)d->lba, buf)) {
            ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_ABRT, 0);
            return;
        }
        pio_in(pt, slot, ctba, prdtl, buf, sizeof buf);
        return;
    }
    case ATA_SET_FEATURES:
        switch (d->features & 0xFF) {
        case SF_WCACHE_ON:
        case SF_WCACHE_OFF:
            pt->wcache = (d->features & 0xFF) == SF_WCACHE_ON;
            break;
        case SF_XFER_MODE:
            pt->xfer_mode = (uint8_t)d->count;
            break;
        case SF_LOOKAHEAD_ON:
        case SF_LOOKAHEAD_OFF:
            break;
        default:
            ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_ABRT, 0);
            return;
        }
        break;
    case ATA_SET_MULTIPLE: {
        unsigned n = d->count & 0xFF;
        if (n > MAX_MULTIPLE || (n & (n - 1))) {
            ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_ABRT, 0);
            return;
        }
        pt->multiple = (uint8_t)n;
        break;
    }
    case ATA_READ_VERIFY:
    case ATA_READ_VERIFY_EXT: {
        bool ext = d->command == ATA_READ_VERIFY_EXT;
        uint64_t lba = ext ? d->lba : (d->lba & 0xFFFFFF) | (uint64_t)(d->device & 0x0F) << 24;
        uint32_t n = ext ? (d->count ? d->count : 65536) : ((d->count & 0xFF) ? (d->count & 0xFF) : 256);
        if (lba + n > max_lba + 1) {
            ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_IDNF, 0);
            return;
        }
        break;
    }
    case ATA_READ_NATIVE_MAX:
    case ATA_READ_NATIVE_MAX_EXT: {
        uint64_t m = d->command == ATA_READ_NATIVE_MAX ? min_u64(max_lba, LBA28_MAX) : max_lba;
        uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, FIS_I, ATA_STS_OK, 0};
        fis[4] = (uint8_t)m;
        fis[5] = (uint8_t)(m >> 8);
        fis[6] = (uint8_t)(m >> 16);
        fis[7] = (uint8_t)(ATA_DEV_LBA | (d->command == ATA_READ_NATIVE_MAX ? (m >> 24) & 0xF : 0));
        fis[8] = (uint8_t)(m >> 24);
        fis[9] = (uint8_t)(m >> 32);
        fis[10] = (uint8_t)(m >> 40);
        finish_with_d2h(pt, slot, fis);
        return;
    }
    case ATA_CHECK_POWER: {
        uint8_t fis[D2H_FIS_LEN] = {FIS_D2H, FIS_I, ATA_STS_OK, 0};
        fis[12] = 0xFF;                     /* active or idle */
        finish_with_d2h(pt, slot, fis);
        return;
    }
    case ATA_INIT_PARAMS:
    case ATA_STANDBY_IMM:
    case ATA_IDLE_IMM:
    case ATA_STANDBY:
    case ATA_IDLE:
    case ATA_SLEEP:
    case ATA_EXEC_DIAG:
        break;
    default:                                /* NOP and unknown commands abort */
        ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_ABRT, 0);
        return;
    }
    ahci_cmd_finish(pt, slot, false, ATA_STS_OK, 0, 0);
}

/* An ATA command (the port holds a disk, or nothing): a data transfer,
 * a flush, or one answered at once. */
void ahci_ata_start(struct ahci_port *pt, unsigned slot, uint64_t ctba, unsigned prdtl, uint32_t dw0,
                    const struct h2d *d)
{
    if (!pt->bd || (dw0 & HDR_ATAPI)) {
        ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_ABRT, 0);
        return;
    }
    enum cmd_kind kind;
    bool ncq, pio;
    uint64_t lba;
    uint32_t sectors;
    if (decode_rw(d, &kind, &ncq, &pio, &lba, &sectors)) {
        if (ncq && (((d->count >> 3) & 0x1F) != slot || !(pt->sact & (1u << slot)))) {
            /* The tag must be the slot, and PxSACT set for it (AHCI 5.3.2). */
            ahci_cmd_finish(pt, slot, false, ATA_STS_OK | ATA_ERR, ATA_ABRT, 0);
            return;
        }
        start_io(pt, slot, ctba, prdtl, kind, ncq, pio, lba, sectors);
    } else if (d->command == ATA_FLUSH || d->command == ATA_FLUSH_EXT) {
        start_io(pt, slot, ctba, prdtl, K_FLUSH, false, false, 0, 0);
    } else {
        exec_other(pt, slot, ctba, prdtl, d);
    }
}
