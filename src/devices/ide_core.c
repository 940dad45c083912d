/* The ATA/ATAPI device model's common part (see ide.h): set-up, resets and
 * signatures, the commands every device takes, and the data phases: PIO
 * blocks through the data register, DMA through the controller's engine,
 * medium requests through the bounce buffer.
 * Reference: ATA/ATAPI-6 (T13/1410D) 9 (resets, signatures), 9.x (PIO
 * data-in/data-out, DMA and PACKET protocols). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/ide.h"
#include "runtime/util.h"

/* Commands every device takes (ATA-6 8.x). */
#define CMD_NOP 0x00
#define CMD_DEVICE_RESET 0x08
#define CMD_EXEC_DIAG 0x90
#define CMD_PACKET 0xA0
#define CMD_IDENTIFY_PACKET 0xA1
#define CMD_STANDBY_IMM 0xE0
#define CMD_IDLE_IMM 0xE1
#define CMD_STANDBY 0xE2
#define CMD_IDLE 0xE3
#define CMD_CHECK_POWER 0xE5
#define CMD_SLEEP 0xE6
#define CMD_IDENTIFY 0xEC
#define CMD_SET_FEATURES 0xEF

/* SET FEATURES subcommands (ATA-6 8.37). */
#define SF_WCACHE_ON 0x02
#define SF_XFER_MODE 0x03
#define SF_LOOKAHEAD_OFF 0x55
#define SF_REVERT_OFF 0x66
#define SF_WCACHE_OFF 0x82
#define SF_LOOKAHEAD_ON 0xAA
#define SF_REVERT_ON 0xCC
/* Transfer mode values in the sector count (ATA-6 8.37.10 table 45). */
#define XM_PIO_DEFAULT 0x00
#define XM_PIO_DEFAULT_NO_IORDY 0x01
#define XM_PIO 0x08
#define XM_MWDMA 0x20
#define XM_UDMA 0x40
#define XM_MAX_PIO 4
#define XM_MAX_MWDMA 2
#define XM_MAX_UDMA 5

/* CHECK POWER MODE results (ATA-6 8.6). */
#define POWER_STANDBY 0x00
#define POWER_ACTIVE 0xFF

/* Signatures (ATA-6 9.12): sector count, LBA low, mid, high. */
#define SIG_PACKET_MID 0x14
#define SIG_PACKET_HIGH 0xEB

/* ATAPI 2048-byte sectors: the largest capacity READ CAPACITY can say. */
#define CD_MAX_CAPACITY 0xFFFFFFFFull

static void io_complete(struct blk_req *req, int status);

int ide_dev_init(struct ide_dev *d, struct blockdev *bd, unsigned unit, const struct ide_transport *tp,
                 char *why, size_t why_len)
{
    memset(d, 0, sizeof(*d));
    d->tp = tp;
    d->unit = unit;
    if (!bd) {
        d->kind = IDE_ABSENT;
        return 0;
    }
    d->bd = bd;
    d->kind = blockdev_media(bd) == BLK_MEDIA_CDROM ? IDE_CDROM : IDE_DISK;
    uint64_t size = blockdev_size(bd);
    if (d->kind == IDE_DISK) {
        if (size < BLK_SECTOR) {
            snprintf(why, why_len, "disk %s is smaller than one sector", blockdev_spec(bd));
            return -1;
        }
        d->sectors = size / BLK_SECTOR;
    } else if (size / BLK_CD_SECTOR > CD_MAX_CAPACITY) {
        snprintf(why, why_len, "CD/DVD image %s is too large", blockdev_spec(bd));
        return -1;
    }
    d->cd_sectors = (uint32_t)(size / BLK_CD_SECTOR);
    /* Default translation (ATA-6 6.2.1): 16 heads, 63 sectors per track. */
    d->heads = 16;
    d->spt = 63;
    uint64_t cyls = d->sectors / (16 * 63);
    d->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls ? cyls : 1);
    snprintf(d->serial, sizeof d->serial, "CX%08X%u", (unsigned)(size / BLK_SECTOR * 2654435761u), unit);
    d->buf = xcalloc(1, IDE_BUF_SIZE);
    d->req.opaque = d;
    d->req.done = io_complete;
    ide_reset(d, true);
    return 0;
}

void ide_dev_free(struct ide_dev *d)
{
    free(d->buf);
    d->buf = NULL;
}

void ide_set_signature(struct ide_dev *d)
{
    d->tf.count = 1;
    d->tf.lba_low = 1;
    d->tf.lba_mid = d->kind == IDE_CDROM ? SIG_PACKET_MID : 0;
    d->tf.lba_high = d->kind == IDE_CDROM ? SIG_PACKET_HIGH : 0;
    d->tf.device = 0;
}

/* A packet device leaves DRDY clear after a reset (ATA-6 9.1). */
static uint8_t ready_status(const struct ide_dev *d)
{
    return d->kind == IDE_CDROM ? 0 : ATA_ST_DRDY | ATA_ST_DSC;
}

static void do_reset(struct ide_dev *d, bool hard)
{
    memset(&d->x, 0, sizeof(d->x));
    d->io_done = NULL;
    if (hard) {
        d->mult_sectors = 0;
        d->xfer_mode = 0;
        d->write_cache = true;
        d->lookahead = true;
        d->cur_heads = d->heads;
        d->cur_spt = d->spt;
        d->locked = false;
        d->tray_open = false;
        memset(&d->sense, 0, sizeof(d->sense));
    }
    d->standby = false;
    ide_set_signature(d);
    d->error = ATA_ER_DIAG_OK;
    d->status = ready_status(d);
}

void ide_reset(struct ide_dev *d, bool hard)
{
    if (d->kind == IDE_ABSENT)
        return;
    if (d->inflight) {
        /* The medium request still owns the buffer: finish the reset when
         * it completes; BSY until then. */
        d->reset_pending = true;
        d->reset_hard = d->reset_hard || hard;
        d->x.active = false;
        d->status = ATA_ST_BSY;
        return;
    }
    do_reset(d, hard);
}

void ide_media_changed(struct ide_dev *d)
{
    if (d->kind != IDE_CDROM)
        return;
    uint64_t size = blockdev_size(d->bd);
    d->cd_sectors = (uint32_t)(size / BLK_CD_SECTOR > CD_MAX_CAPACITY ? CD_MAX_CAPACITY : size / BLK_CD_SECTOR);
    d->unit_attention = true;
    d->media_event = ATAPI_EVENT_NEW_MEDIA;
    d->tray_open = false;
}

/* --- completions ----------------------------------------------------------- */

void ide_cmd_done(struct ide_dev *d)
{
    d->x.active = false;
    d->error = 0;
    d->status = (uint8_t)(ATA_ST_DRDY | (d->kind == IDE_DISK ? ATA_ST_DSC : 0));
    d->tp->irq(d);
}

void ide_cmd_error(struct ide_dev *d, uint8_t error)
{
    d->x.active = false;
    d->error = error;
    d->status = (uint8_t)(ATA_ST_DRDY | ATA_ST_ERR | (d->kind == IDE_DISK ? ATA_ST_DSC : 0));
    d->tp->irq(d);
}

static void xfer_end(struct ide_dev *d)
{
    d->x.active = false;
    if (d->kind == IDE_CDROM)
        ide_atapi_xfer_end(d);
    else
        ide_ata_xfer_end(d);
}

/* --- medium requests -------------------------------------------------------- */

void ide_submit(struct ide_dev *d, enum blk_op op, uint64_t offset, uint32_t len,
                void (*done)(struct ide_dev *d, int status))
{
    d->iov.iov_base = d->buf;
    d->iov.iov_len = len;
    d->req.op = op;
    d->req.offset = offset;
    d->req.iov = &d->iov;
    d->req.iovcnt = op == BLK_FLUSH ? 0 : 1;
    d->req.len = 0;
    d->io_done = done;
    d->inflight = true;
    d->status = (uint8_t)((d->status & ~ATA_ST_DRQ) | ATA_ST_BSY);
    blockdev_submit(d->bd, &d->req);
}

static void io_complete(struct blk_req *req, int status)
{
    struct ide_dev *d = req->opaque;
    d->inflight = false;
    if (d->reset_pending) {
        d->reset_pending = false;
        do_reset(d, d->reset_hard);
        d->reset_hard = false;
        return;
    }
    void (*done)(struct ide_dev *, int) = d->io_done;
    d->io_done = NULL;
    if (done)
        done(d, status);
}

/* --- data phases ------------------------------------------------------------- */

static uint32_t chunk_size(const struct ide_dev *d)
{
    uint64_t max = IDE_BUF_SIZE - IDE_BUF_SIZE % d->x.unit;
    return (uint32_t)(d->x.left < max ? d->x.left : max);
}

/* DRQ for the next PIO block; ATAPI reports its length in the byte count
 * and the direction in the interrupt reason (ATA-6 9.10). */
static void present_drq(struct ide_dev *d, bool irq)
{
    struct ide_xfer *x = &d->x;
    uint32_t n = x->len - x->pos;
    if (n > x->drq_size)
        n = x->drq_size;
    x->drq_end = x->pos + n;
    if (d->kind == IDE_CDROM) {
        d->tf.lba_mid = (uint8_t)n;
        d->tf.lba_high = (uint8_t)(n >> 8);
        d->tf.count = x->to_device ? 0 : ATAPI_IR_IO;
        d->status = ATA_ST_DRDY | ATA_ST_DRQ;
    } else {
        d->status = ATA_ST_DRDY | ATA_ST_DSC | ATA_ST_DRQ;
    }
    if (irq)
        d->tp->irq(d);
}

static void pio_in_filled(struct ide_dev *d, int status)
{
    if (status < 0) {
        ide_xfer_failed(d, status);
        return;
    }
    d->x.offset += d->x.len;
    d->x.pos = 0;
    present_drq(d, true);
}

static void pio_in_fill(struct ide_dev *d)
{
    d->x.len = chunk_size(d);
    d->x.left -= d->x.len;
    ide_submit(d, BLK_READ, d->x.offset, d->x.len, pio_in_filled);
}

static void pio_out_written(struct ide_dev *d, int status)
{
    if (status < 0) {
        ide_xfer_failed(d, status);
        return;
    }
    d->x.offset += d->x.len;
    d->x.left -= d->x.len;
    if (!d->x.left) {
        xfer_end(d);
        return;
    }
    d->x.len = chunk_size(d);
    d->x.pos = 0;
    present_drq(d, true);
}

static void dma_step(struct ide_dev *d);

static void dma_read_done(struct ide_dev *d, int status)
{
    if (status < 0) {
        d->tp->dma_end(d, false);
        ide_xfer_failed(d, status);
        return;
    }
    d->x.offset += d->x.len;
    d->x.pos = 0;
    dma_step(d);
}

static void dma_write_done(struct ide_dev *d, int status)
{
    if (status < 0) {
        d->tp->dma_end(d, false);
        ide_xfer_failed(d, status);
        return;
    }
    d->x.offset += d->x.len;
    d->x.left -= d->x.len;
    d->x.len = 0;
    dma_step(d);
}

static void dma_failed(struct ide_dev *d)
{
    d->tp->dma_end(d, true);
    d->x.active = false;
    if (d->kind == IDE_CDROM)
        ide_atapi_error(d, 0x0B, 0x00, 0x00);   /* ABORTED COMMAND */
    else
        ide_cmd_error(d, ATA_ER_ABRT);
}

/* Moves what the buffer holds to the guest, or the next chunk from it. */
static void dma_step(struct ide_dev *d)
{
    struct ide_xfer *x = &d->x;
    if (!x->to_device) {
        if (x->pos < x->len) {
            int r = d->tp->dma_rw(d, d->buf + x->pos, x->len - x->pos, true);
            if (r > 0) {
                x->stalled = true;
                return;
            }
            if (r < 0) {
                dma_failed(d);
                return;
            }
            x->pos = x->len;
        }
        if (x->left) {
            x->len = chunk_size(d);
            x->left -= x->len;
            ide_submit(d, BLK_READ, x->offset, x->len, dma_read_done);
            return;
        }
    } else if (x->left) {
        uint32_t n = chunk_size(d);
        int r = d->tp->dma_rw(d, d->buf, n, false);
        if (r > 0) {
            x->stalled = true;
            return;
        }
        if (r < 0) {
            dma_failed(d);
            return;
        }
        x->len = n;
        ide_submit(d, BLK_WRITE, x->offset, n, dma_write_done);
        return;
    }
    d->tp->dma_end(d, false);
    xfer_end(d);
}

void ide_dma_go(struct ide_dev *d)
{
    if (!d->x.active || !d->x.dma || d->inflight || d->reset_pending)
        return;
    d->x.stalled = false;
    dma_step(d);
}

void ide_xfer_start(struct ide_dev *d)
{
    struct ide_xfer *x = &d->x;
    x->active = true;
    x->pos = 0;
    x->stalled = false;
    if (x->drq_size == 0)
        x->drq_size = BLK_SECTOR;
    if (x->dma) {
        d->status = (uint8_t)(ATA_ST_BSY | ATA_ST_DRDY | (d->kind == IDE_DISK ? ATA_ST_DSC : 0));
        d->tp->dma_start(d);
        return;
    }
    if (x->to_device) {
        /* The first block of PIO data-out comes without an interrupt. */
        x->len = chunk_size(d);
        present_drq(d, false);
    } else if (x->len) {
        present_drq(d, true);
    } else {
        pio_in_fill(d);
    }
}

void ide_error_lba(struct ide_dev *d, uint64_t lba)
{
    d->tf.lba_low = (uint8_t)lba;
    d->tf.lba_mid = (uint8_t)(lba >> 8);
    d->tf.lba_high = (uint8_t)(lba >> 16);
    d->tf.hob_lba_low = (uint8_t)(lba >> 24);
    d->tf.hob_lba_mid = (uint8_t)(lba >> 32);
    d->tf.hob_lba_high = (uint8_t)(lba >> 40);
}

void ide_xfer_failed(struct ide_dev *d, int status)
{
    d->x.active = false;
    if (d->kind == IDE_CDROM) {
        if (status == -ENOMEDIUM)
            ide_atapi_error(d, 0x02, 0x3A, 0x00);   /* NOT READY, MEDIUM NOT PRESENT */
        else if (status == -EINVAL)
            ide_atapi_error(d, 0x05, 0x21, 0x00);   /* LBA OUT OF RANGE */
        else
            ide_atapi_error(d, 0x03, 0x11, 0x00);   /* MEDIUM ERROR, UNRECOVERED READ ERROR */
        return;
    }
    /* Reads report UNC, writes ABRT, a range error IDNF. */
    ide_error_lba(d, d->req.error_offset / BLK_SECTOR);
    uint8_t err = ATA_ER_ABRT;
    if (status == -EINVAL)
        err = ATA_ER_IDNF;
    else if (d->req.op == BLK_READ)
        err = ATA_ER_UNC;
    ide_cmd_error(d, err);
}

uint32_t ide_data_read(struct ide_dev *d, unsigned size)
{
    struct ide_xfer *x = &d->x;
    if (!(d->status & ATA_ST_DRQ) || (d->status & ATA_ST_BSY) || !x->active || x->to_device || x->dma)
        return 0;
    uint32_t v = 0;
    unsigned n = 0;
    while (n < size && x->pos < x->drq_end) {
        v |= (uint32_t)d->buf[x->pos++] << (8 * n);
        n++;
    }
    if (x->pos < x->drq_end)
        return v;
    d->status &= (uint8_t)~ATA_ST_DRQ;
    if (x->pos < x->len)
        present_drq(d, true);
    else if (x->left)
        pio_in_fill(d);
    else
        xfer_end(d);
    return v;
}

void ide_data_write(struct ide_dev *d, uint32_t val, unsigned size)
{
    struct ide_xfer *x = &d->x;
    if (!(d->status & ATA_ST_DRQ) || (d->status & ATA_ST_BSY) || !x->active || !x->to_device || x->dma)
        return;
    for (unsigned n = 0; n < size && x->pos < x->drq_end; n++)
        d->buf[x->pos++] = (uint8_t)(val >> (8 * n));
    if (x->pos < x->drq_end)
        return;
    d->status &= (uint8_t)~ATA_ST_DRQ;
    if (x->pos < x->len) {
        present_drq(d, true);
    } else if (d->kind == IDE_CDROM && x->left == 0) {
        /* The command packet (ATA-6 9.10): CDB complete. */
        memcpy(d->cdb, d->buf, ATAPI_CDB_LEN);
        x->active = false;
        ide_atapi_packet(d);
    } else {
        ide_submit(d, BLK_WRITE, x->offset, x->len, pio_out_written);
    }
}

/* --- commands every device takes --------------------------------------------- */

static bool set_xfer_mode(struct ide_dev *d, uint8_t mode)
{
    unsigned n = mode & 7;
    switch (mode & ~7u) {
    case XM_PIO_DEFAULT:
        if (mode != XM_PIO_DEFAULT && mode != XM_PIO_DEFAULT_NO_IORDY)
            return false;
        break;
    case XM_PIO:
        if (n > XM_MAX_PIO)
            return false;
        break;
    case XM_MWDMA:
        if (n > XM_MAX_MWDMA)
            return false;
        break;
    case XM_UDMA:
        if (n > XM_MAX_UDMA)
            return false;
        break;
    default:
        return false;
    }
    d->xfer_mode = mode;
    return true;
}

static void set_features(struct ide_dev *d)
{
    bool ok = true;
    switch (d->tf.feature) {
    case SF_XFER_MODE:
        ok = set_xfer_mode(d, d->tf.count);
        break;
    case SF_WCACHE_ON:
    case SF_WCACHE_OFF:
        ok = d->kind == IDE_DISK;
        if (ok)
            d->write_cache = d->tf.feature == SF_WCACHE_ON;
        break;
    case SF_LOOKAHEAD_ON:
    case SF_LOOKAHEAD_OFF:
        ok = d->kind == IDE_DISK;
        if (ok)
            d->lookahead = d->tf.feature == SF_LOOKAHEAD_ON;
        break;
    case SF_REVERT_ON:
    case SF_REVERT_OFF:
        break;      /* settings survive a soft reset either way */
    default:
        ok = false;
    }
    if (ok)
        ide_cmd_done(d);
    else
        ide_cmd_error(d, ATA_ER_ABRT);
}

static void identify(struct ide_dev *d)
{
    uint16_t w[IDE_IDENTIFY_WORDS];
    if (d->kind == IDE_DISK)
        ide_ata_identify(d, w);
    else
        ide_atapi_identify(d, w);
    for (unsigned i = 0; i < IDE_IDENTIFY_WORDS; i++)
        put_le(d->buf + 2 * i, w[i], 2);
    memset(&d->x, 0, sizeof(d->x));
    d->x.len = sizeof(w);
    d->x.unit = BLK_SECTOR;
    d->x.drq_size = sizeof(w);
    ide_xfer_start(d);
}

void ide_exec_command(struct ide_dev *d, uint8_t cmd)
{
    if (d->kind == IDE_ABSENT)
        return;
    if (d->status & ATA_ST_BSY) {
        if (!(d->kind == IDE_CDROM && cmd == CMD_DEVICE_RESET))
            return;
    }
    d->tf.command = cmd;
    /* A new command abandons an unfinished PIO data phase (the host gave up). */
    d->x.active = false;
    switch (cmd) {
    case CMD_EXEC_DIAG:
        do_reset(d, false);
        d->tp->irq(d);
        return;
    case CMD_SET_FEATURES:
        set_features(d);
        return;
    case CMD_CHECK_POWER:
        d->tf.count = d->standby ? POWER_STANDBY : POWER_ACTIVE;
        ide_cmd_done(d);
        return;
    case CMD_STANDBY_IMM:
    case CMD_STANDBY:
    case CMD_SLEEP:             /* kept as standby: the next command wakes it */
        d->standby = true;
        ide_cmd_done(d);
        return;
    case CMD_IDLE_IMM:
    case CMD_IDLE:
        d->standby = false;
        ide_cmd_done(d);
        return;
    case CMD_NOP:
        ide_cmd_error(d, ATA_ER_ABRT);      /* NOP always aborts (ATA-6 8.21) */
        return;
    }
    d->standby = false;
    if (d->kind == IDE_CDROM) {
        switch (cmd) {
        case CMD_DEVICE_RESET:
            ide_reset(d, false);
            return;
        case CMD_IDENTIFY_PACKET:
            identify(d);
            return;
        case CMD_PACKET:
            /* Features bit 0: DMA data; the byte count limit is in LBA
             * mid/high (ATA-6 8.21). */
            memset(&d->x, 0, sizeof(d->x));
            d->x.active = true;
            d->x.to_device = true;
            d->x.len = ATAPI_CDB_LEN;
            d->x.drq_size = ATAPI_CDB_LEN;
            d->x.drq_end = ATAPI_CDB_LEN;
            d->x.unit = BLK_CD_SECTOR;
            d->packet_dma = d->tf.feature & 1;
            d->byte_limit = (uint16_t)(d->tf.lba_mid | d->tf.lba_high << 8);
            d->tf.count = ATAPI_IR_COD;
            d->status = ATA_ST_DRDY | ATA_ST_DRQ;
            return;
        case CMD_IDENTIFY:
            /* A packet device aborts and shows its signature (ATA-6 8.15). */
            ide_set_signature(d);
            ide_cmd_error(d, ATA_ER_ABRT);
            return;
        default:
            ide_cmd_error(d, ATA_ER_ABRT);
            return;
        }
    }
    if (cmd == CMD_IDENTIFY) {
        identify(d);
        return;
    }
    ide_ata_command(d, cmd);
}

/* --- IDENTIFY helpers ------------------------------------------------------- */

void ide_id_string(uint16_t *w, unsigned words, const char *s)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < words * 2; i++) {
        uint8_t c = i < n ? (uint8_t)s[i] : ' ';
        if (i & 1)
            w[i / 2] = (uint16_t)(w[i / 2] | c);
        else
            w[i / 2] = (uint16_t)(c << 8);
    }
}

/* Word 255: signature A5h and a checksum that makes the 512 bytes sum to
 * zero (ATA-6 8.15.61). */
void ide_id_checksum(uint16_t *w)
{
    w[255] = 0x00A5;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 255; i++)
        sum = (uint8_t)(sum + (w[i] & 0xFF) + (w[i] >> 8));
    sum = (uint8_t)(sum + 0xA5);
    w[255] = (uint16_t)(0x00A5 | (uint8_t)(-sum) << 8);
}
