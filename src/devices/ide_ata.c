/* The ATA disk's command layer (see ide.h): IDENTIFY DEVICE, sector reads
 * and writes by PIO (single and multiple) and DMA with 28- and 48-bit
 * addresses and CHS, FLUSH CACHE, verify, seek, the geometry and
 * multiple-mode settings.
 * Reference: ATA/ATAPI-6 (T13/1410D) clause 8 (command descriptions),
 * 8.15 (IDENTIFY DEVICE data). */
#include <string.h>

#include "devices/ide.h"

/* Opcodes (ATA-6 8.x). */
#define CMD_RECALIBRATE 0x10          /* 10h-1Fh, obsolete */
#define CMD_READ_SECTORS 0x20
#define CMD_READ_SECTORS_NR 0x21      /* without retry (obsolete) */
#define CMD_READ_SECTORS_EXT 0x24
#define CMD_READ_DMA_EXT 0x25
#define CMD_READ_MULTIPLE_EXT 0x29
#define CMD_WRITE_SECTORS 0x30
#define CMD_WRITE_SECTORS_NR 0x31
#define CMD_WRITE_SECTORS_EXT 0x34
#define CMD_WRITE_DMA_EXT 0x35
#define CMD_WRITE_MULTIPLE_EXT 0x39
#define CMD_VERIFY 0x40
#define CMD_VERIFY_NR 0x41
#define CMD_VERIFY_EXT 0x42
#define CMD_SEEK 0x70
#define CMD_INIT_PARAMS 0x91
#define CMD_READ_MULTIPLE 0xC4
#define CMD_WRITE_MULTIPLE 0xC5
#define CMD_SET_MULTIPLE 0xC6
#define CMD_READ_DMA 0xC8
#define CMD_READ_DMA_NR 0xC9
#define CMD_WRITE_DMA 0xCA
#define CMD_WRITE_DMA_NR 0xCB
#define CMD_FLUSH_CACHE 0xE7
#define CMD_FLUSH_CACHE_EXT 0xEA

#define MAX_MULTIPLE 16               /* IDENTIFY word 47 */
#define LBA28_MAX 0x0FFFFFFFull
#define CHS_MAX_CYLS 16383
#define CHS_MAX_HEADS 16

/* What a read/write command is. */
enum rw_flags {
    RW_WRITE = 1,
    RW_LBA48 = 2,
    RW_DMA = 4,
    RW_MULTIPLE = 8,
    RW_VERIFY = 16,
};

static const struct {
    uint8_t cmd;
    uint8_t flags;
} rw_commands[] = {
    {CMD_READ_SECTORS, 0},
    {CMD_READ_SECTORS_NR, 0},
    {CMD_READ_SECTORS_EXT, RW_LBA48},
    {CMD_READ_DMA_EXT, RW_LBA48 | RW_DMA},
    {CMD_READ_MULTIPLE_EXT, RW_LBA48 | RW_MULTIPLE},
    {CMD_WRITE_SECTORS, RW_WRITE},
    {CMD_WRITE_SECTORS_NR, RW_WRITE},
    {CMD_WRITE_SECTORS_EXT, RW_WRITE | RW_LBA48},
    {CMD_WRITE_DMA_EXT, RW_WRITE | RW_LBA48 | RW_DMA},
    {CMD_WRITE_MULTIPLE_EXT, RW_WRITE | RW_LBA48 | RW_MULTIPLE},
    {CMD_VERIFY, RW_VERIFY},
    {CMD_VERIFY_NR, RW_VERIFY},
    {CMD_VERIFY_EXT, RW_VERIFY | RW_LBA48},
    {CMD_READ_MULTIPLE, RW_MULTIPLE},
    {CMD_WRITE_MULTIPLE, RW_WRITE | RW_MULTIPLE},
    {CMD_READ_DMA, RW_DMA},
    {CMD_READ_DMA_NR, RW_DMA},
    {CMD_WRITE_DMA, RW_WRITE | RW_DMA},
    {CMD_WRITE_DMA_NR, RW_WRITE | RW_DMA},
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Cylinders of the current translation, for IDENTIFY words 54-58. */
static uint64_t cur_cyls(const struct ide_dev *d)
{
    uint64_t c = d->sectors / ((uint64_t)d->cur_heads * d->cur_spt);
    return min_u64(c, 65535);
}

void ide_ata_identify(struct ide_dev *d, uint16_t *w)
{
    memset(w, 0, IDE_IDENTIFY_WORDS * sizeof(*w));
    uint64_t lba28 = min_u64(d->sectors, LBA28_MAX);
    uint64_t chs_cap = cur_cyls(d) * d->cur_heads * d->cur_spt;
    unsigned mode = d->xfer_mode & 7;
    w[0] = 0x0040;                               /* ATA device, not removable */
    w[1] = d->cyls;
    w[3] = d->heads;
    w[6] = d->spt;
    ide_id_string(&w[10], 10, d->serial);
    ide_id_string(&w[23], 4, "1.0");
    ide_id_string(&w[27], 20, "CAIXA HARDDISK");
    w[47] = 0x8000 | MAX_MULTIPLE;
    w[49] = 1u << 11 | 1u << 10 | 1u << 9 | 1u << 8;   /* IORDY, IORDY off, LBA, DMA */
    w[50] = 0x4000;
    w[51] = 0x0200;                              /* PIO mode 2 timing (obsolete) */
    w[53] = 0x0007;                              /* words 54-58, 64-70, 88 valid */
    w[54] = (uint16_t)cur_cyls(d);
    w[55] = d->cur_heads;
    w[56] = d->cur_spt;
    w[57] = (uint16_t)chs_cap;
    w[58] = (uint16_t)(chs_cap >> 16);
    w[59] = (uint16_t)(0x0100 | d->mult_sectors);
    w[60] = (uint16_t)lba28;
    w[61] = (uint16_t)(lba28 >> 16);
    w[63] = (uint16_t)(0x0007 | ((d->xfer_mode & 0xF8) == 0x20 ? 0x100u << mode : 0));
    w[64] = 0x0003;                              /* PIO modes 3 and 4 */
    w[65] = w[66] = w[67] = w[68] = 120;         /* cycle times, ns */
    w[80] = 0x00F0;                              /* ATA/ATAPI-4 to -7 */
    /* Supported and enabled: NOP, look-ahead, write cache, power
     * management; FLUSH CACHE (EXT) and the 48-bit feature set. */
    w[82] = 1u << 14 | 1u << 6 | 1u << 5 | 1u << 3;
    w[83] = 0x4000 | 1u << 13 | 1u << 12 | 1u << 10;
    w[84] = 0x4000;
    w[85] = (uint16_t)(1u << 14 | (d->lookahead ? 1u << 6 : 0) | (d->write_cache ? 1u << 5 : 0) | 1u << 3);
    w[86] = 1u << 13 | 1u << 12 | 1u << 10;
    w[87] = 0x4000;
    w[88] = (uint16_t)(0x003F | ((d->xfer_mode & 0xF8) == 0x40 ? 0x100u << mode : 0));
    w[93] = 0x600B;                              /* device 0 passed, 80-conductor cable */
    for (unsigned i = 0; i < 4; i++)
        w[100 + i] = (uint16_t)(d->sectors >> (16 * i));
    ide_id_checksum(w);
}

/* The command's first sector: 48-bit, 28-bit LBA or CHS in the current
 * translation (ATA-6 6.2). false: not a valid address. */
static bool start_lba(const struct ide_dev *d, bool lba48, uint64_t *lba)
{
    const struct ide_taskfile *t = &d->tf;
    uint64_t low24 = t->lba_low | (uint32_t)t->lba_mid << 8 | (uint32_t)t->lba_high << 16;
    if (lba48) {
        *lba = low24 | (uint64_t)t->hob_lba_low << 24 | (uint64_t)t->hob_lba_mid << 32 |
               (uint64_t)t->hob_lba_high << 40;
        return true;
    }
    if (t->device & ATA_DEV_LBA) {
        *lba = low24 | (uint64_t)(t->device & ATA_DEV_HEAD) << 24;
        return true;
    }
    unsigned cyl = t->lba_mid | t->lba_high << 8, head = t->device & ATA_DEV_HEAD, sec = t->lba_low;
    if (sec == 0 || sec > d->cur_spt || head >= d->cur_heads)
        return false;
    *lba = ((uint64_t)cyl * d->cur_heads + head) * d->cur_spt + sec - 1;
    return true;
}

static uint32_t sector_count(const struct ide_dev *d, bool lba48)
{
    if (lba48) {
        uint32_t n = d->tf.count | (uint32_t)d->tf.hob_count << 8;
        return n ? n : 65536;
    }
    return d->tf.count ? d->tf.count : 256;
}

static void read_write(struct ide_dev *d, unsigned flags)
{
    bool lba48 = flags & RW_LBA48;
    uint64_t lba;
    uint32_t count = sector_count(d, lba48);
    if (!start_lba(d, lba48, &lba) || lba > d->sectors || count > d->sectors - lba) {
        ide_cmd_error(d, ATA_ER_IDNF);
        return;
    }
    if (flags & RW_VERIFY) {
        ide_cmd_done(d);
        return;
    }
    if ((flags & RW_MULTIPLE) && !d->mult_sectors) {
        ide_cmd_error(d, ATA_ER_ABRT);
        return;
    }
    memset(&d->x, 0, sizeof(d->x));
    d->x.to_device = flags & RW_WRITE;
    d->x.dma = flags & RW_DMA;
    d->x.offset = lba * BLK_SECTOR;
    d->x.left = (uint64_t)count * BLK_SECTOR;
    d->x.unit = BLK_SECTOR;
    d->x.drq_size = (flags & RW_MULTIPLE ? d->mult_sectors : 1) * BLK_SECTOR;
    ide_xfer_start(d);
}

/* FLUSH CACHE, or the flush that ends a write with the write cache off:
 * a failure is ABRT with the first sector in error in the LBA registers
 * (ATA8-ACS 7.14/7.15 error outputs), a write done behind included. */
static void flush_done(struct ide_dev *d, int status)
{
    if (status < 0) {
        ide_error_lba(d, d->req.error_offset / BLK_SECTOR);
        ide_cmd_error(d, ATA_ER_ABRT);
    } else {
        ide_cmd_done(d);
    }
}

/* PIO data-in ends without an interrupt (ATA-6 9.5); everything else
 * interrupts. With the write cache off a write is on the medium before it
 * completes: one FLUSH for the command here, so its DRQ blocks are not
 * marked write_through (blockdev.h), which would flush each. */
void ide_ata_xfer_end(struct ide_dev *d)
{
    if (d->x.to_device && !d->write_cache) {
        ide_submit(d, BLK_FLUSH, 0, 0, flush_done);
        return;
    }
    if (!d->x.dma && !d->x.to_device) {
        d->error = 0;
        d->status = ATA_ST_DRDY | ATA_ST_DSC;
        return;
    }
    ide_cmd_done(d);
}

static bool is_pow2(unsigned v)
{
    return v && !(v & (v - 1));
}

void ide_ata_command(struct ide_dev *d, uint8_t cmd)
{
    for (unsigned i = 0; i < sizeof(rw_commands) / sizeof(rw_commands[0]); i++) {
        if (rw_commands[i].cmd == cmd) {
            read_write(d, rw_commands[i].flags);
            return;
        }
    }
    if (cmd >= CMD_RECALIBRATE && cmd <= CMD_RECALIBRATE + 0xF) {
        ide_cmd_done(d);
        return;
    }
    switch (cmd) {
    case CMD_SEEK: {
        uint64_t lba;
        if (!start_lba(d, false, &lba) || lba >= d->sectors)
            ide_cmd_error(d, ATA_ER_IDNF);
        else
            ide_cmd_done(d);
        return;
    }
    case CMD_INIT_PARAMS: {
        /* Heads from the device register, sectors per track from the count
         * (ATA-6 8.16); a translation we cannot describe is refused. */
        unsigned heads = (d->tf.device & ATA_DEV_HEAD) + 1u, spt = d->tf.count;
        if (spt == 0) {
            ide_cmd_error(d, ATA_ER_ABRT);
            return;
        }
        d->cur_heads = (uint16_t)heads;
        d->cur_spt = (uint16_t)spt;
        ide_cmd_done(d);
        return;
    }
    case CMD_SET_MULTIPLE:
        if (d->tf.count && (!is_pow2(d->tf.count) || d->tf.count > MAX_MULTIPLE)) {
            ide_cmd_error(d, ATA_ER_ABRT);
            return;
        }
        d->mult_sectors = d->tf.count;
        ide_cmd_done(d);
        return;
    case CMD_FLUSH_CACHE:
    case CMD_FLUSH_CACHE_EXT:
        ide_submit(d, BLK_FLUSH, 0, 0, flush_done);
        return;
    default:
        ide_cmd_error(d, ATA_ER_ABRT);
    }
}
