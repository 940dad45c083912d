/* The ATAPI CD/DVD drive's command layer (see ide.h): IDENTIFY PACKET
 * DEVICE and the packet commands a BIOS, a boot loader and an OS use to
 * find and read a disc: TEST UNIT READY, REQUEST SENSE, INQUIRY, READ
 * CAPACITY, READ(10)/(12)/CD, MODE SENSE(10), READ SUB-CHANNEL, READ TOC/PMA/ATIP, GET
 * CONFIGURATION, GET EVENT STATUS NOTIFICATION, START STOP UNIT, PREVENT
 * ALLOW MEDIUM REMOVAL, MECHANISM STATUS, READ DISC INFORMATION, SET CD
 * SPEED, SEEK. The disc is one data track (mode 1) from LBA 0.
 * Every CDB field comes from the guest: lengths are clamped to the reply
 * buffer, addresses checked against the disc.
 * References: SFF-8020i rev 2.6 (ATAPI), MMC-3 (T10/1363-D) clause 5,
 * SPC-3 (T10/1416-D) 4.5 (sense data), 6.4 (INQUIRY). */
#include <string.h>

#include "devices/ide.h"
#include "runtime/util.h"

/* Operation codes (MMC-3 table 2, SPC-3). */
#define OP_TEST_UNIT_READY 0x00
#define OP_REQUEST_SENSE 0x03
#define OP_INQUIRY 0x12
#define OP_START_STOP 0x1B
#define OP_PREVENT_ALLOW 0x1E
#define OP_READ_CAPACITY 0x25
#define OP_READ10 0x28
#define OP_SEEK10 0x2B
#define OP_READ_SUBCHANNEL 0x42
#define OP_READ_TOC 0x43
#define OP_GET_CONFIGURATION 0x46
#define OP_GET_EVENT_STATUS 0x4A
#define OP_READ_DISC_INFO 0x51
#define OP_MODE_SENSE10 0x5A
#define OP_READ12 0xA8
#define OP_SET_CD_SPEED 0xBB
#define OP_MECHANISM_STATUS 0xBD
#define OP_READ_CD 0xBE

/* Sense keys and codes (SPC-3 4.5.6, MMC-3 annex F). */
#define SK_NOT_READY 0x02
#define SK_ILLEGAL_REQUEST 0x05
#define SK_UNIT_ATTENTION 0x06
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_MEDIUM_CHANGED 0x28
#define ASC_SAVING_NOT_SUPPORTED 0x39
#define ASC_REMOVAL_PREVENTED 0x53
#define ASCQ_REMOVAL_PREVENTED 0x02
#define ASC_NO_MEDIUM 0x3A
#define ASCQ_TRAY_CLOSED 0x01
#define ASCQ_TRAY_OPEN 0x02
#define SENSE_CURRENT 0x70            /* response code: current, fixed format */
#define SENSE_ADDITIONAL 10

#define INQUIRY_LEN 36
#define INQUIRY_TYPE_CDDVD 0x05
#define INQUIRY_RMB 0x80
#define INQUIRY_ATAPI_VERSION 0x21    /* SFF-8020i: ATAPI version 2, response format 1 */

/* TOC (MMC-3 5.24): one data track, ADR 1 / control 4 (data, no copy). */
#define TOC_ADR_CTL 0x14
#define TOC_LEADOUT 0xAA
#define TOC_FMT_TOC 0
#define TOC_FMT_SESSION 1
#define TOC_FMT_FULL 2
#define MSF_LBA_OFFSET 150            /* LBA 0 is 00:02:00 (2 s of pre-gap) */
#define FRAMES_PER_SEC 75
#define SECS_PER_MIN 60

/* Profiles and features (MMC-3 5.3). */
#define PROFILE_CD_ROM 0x0008
#define PROFILE_DVD_ROM 0x0010
#define FEAT_PROFILE_LIST 0x0000
#define FEAT_CORE 0x0001
#define FEAT_MORPHING 0x0002
#define FEAT_REMOVABLE 0x0003
#define FEAT_RANDOM_READ 0x0010
#define FEAT_CD_READ 0x001E
#define FEAT_DVD_READ 0x001F
#define CORE_INTERFACE_ATAPI 2
#define LOADING_TRAY 0x20             /* loading mechanism 001b in bits 7:5 */
#define REMOVABLE_EJECT 0x08
#define REMOVABLE_LOCK 0x01
/* An 80-minute CD holds 360000 sectors; a larger image is a DVD. */
#define CD_MAX_SECTORS (80u * SECS_PER_MIN * FRAMES_PER_SEC)

/* GET EVENT STATUS NOTIFICATION (MMC-3 5.6). */
#define GESN_POLLED 0x01
#define GESN_CLASS_MEDIA 0x04
#define GESN_MEDIA_MASK (1u << GESN_CLASS_MEDIA)
#define GESN_NEA 0x80
#define GESN_MEDIA_PRESENT 0x02
#define GESN_TRAY_OPEN 0x01

/* MODE SENSE (MMC-3 5.5, 6.3). */
#define MODE_HEADER10 8
#define PAGE_ERROR_RECOVERY 0x01
#define PAGE_CAPABILITIES 0x2A
#define PAGE_ALL 0x3F
#define PC_CHANGEABLE 1
#define PC_SAVED 3
#define MEDIUM_NO_DISC 0x70
#define MEDIUM_DOOR_OPEN 0x71
#define MEDIUM_CD_DATA 0x01
#define SPEED_16X_KBS 2816            /* 16 x 176 kB/s */

/* READ DISC INFORMATION (MMC-3 5.17). */
#define DISC_INFO_LEN 34
#define DISC_COMPLETE 0x0E            /* last session complete, disc finalized */

/* READ SUB-CHANNEL (MMC-3 5.22): the header, then one of three formats. */
#define SUBCH_HEADER_LEN 4
#define SUBCH_SUBQ 0x40                /* CDB byte 2: return sub-Q data */
#define SUBCH_POSITION 0x01            /* CD current position */
#define SUBCH_MCN 0x02                 /* media catalog number */
#define SUBCH_ISRC 0x03                /* a track's ISRC */
#define SUBCH_POSITION_LEN 12
#define SUBCH_CODE_LEN 20              /* MCN and ISRC: MCVAL/TCVAL clear, no code */
#define AUDIO_STATUS_NONE 0x15         /* no current audio status to return */

#define MECH_STATUS_LEN 8
#define MECH_DOOR_OPEN 0x10


static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, v >> 16);
    put_be16(p + 2, v);
}

void ide_atapi_identify(struct ide_dev *d, uint16_t *w)
{
    memset(w, 0, IDE_IDENTIFY_WORDS * sizeof(*w));
    unsigned mode = d->xfer_mode & 7;
    /* ATAPI, CD/DVD (type 5), removable, 50 us DRQ, 12-byte packets. */
    w[0] = 0x8000 | 0x05 << 8 | 0x80 | 0x40;
    ide_id_string(&w[10], 10, d->serial);
    ide_id_string(&w[23], 4, "1.0");
    ide_id_string(&w[27], 20, "CAIXA DVD-ROM");
    w[49] = 1u << 11 | 1u << 9 | 1u << 8;      /* IORDY, LBA, DMA */
    w[50] = 0x4000;
    w[53] = 0x0006;                            /* words 64-70 and 88 valid */
    w[63] = (uint16_t)(0x0007 | ((d->xfer_mode & 0xF8) == 0x20 ? 0x100u << mode : 0));
    w[64] = 0x0003;
    w[65] = w[66] = w[67] = w[68] = 120;
    w[80] = 0x00F0;
    w[82] = 1u << 14 | 1u << 9 | 1u << 4;       /* NOP, DEVICE RESET, PACKET */
    w[83] = 0x4000;
    w[84] = 0x4000;
    w[85] = w[82];
    w[87] = 0x4000;
    w[88] = (uint16_t)(0x003F | ((d->xfer_mode & 0xF8) == 0x40 ? 0x100u << mode : 0));
    w[93] = 0x600B;
    ide_id_checksum(w);
}

/* --- completions ------------------------------------------------------------- */

/* Status phase (ATA-6 9.10): interrupt reason I/O and C/D. */
void ide_atapi_xfer_end(struct ide_dev *d)
{
    d->x.active = false;
    d->tf.count = ATAPI_IR_IO | ATAPI_IR_COD;
    d->error = 0;
    d->status = ATA_ST_DRDY;
    d->tp->irq(d);
}

void ide_atapi_error(struct ide_dev *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    d->x.active = false;
    d->sense = (struct atapi_sense){key, asc, ascq};
    d->tf.count = ATAPI_IR_IO | ATAPI_IR_COD;
    d->error = (uint8_t)(key << 4 | (key == SK_ILLEGAL_REQUEST || key == 0x0B ? ATA_ER_ABRT : 0));
    d->status = ATA_ST_DRDY | ATA_ST_ERR;
    d->tp->irq(d);
}

static void invalid_field(struct ide_dev *d)
{
    ide_atapi_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
}

/* PIO packets of at most the byte count limit, even but for the last
 * (ATA-6 8.21: 0 and FFFFh are taken as FFFEh). */
static uint32_t drq_limit(const struct ide_dev *d)
{
    uint32_t lim = d->byte_limit;
    if (lim == 0 || lim == 0xFFFF)
        lim = 0xFFFE;
    lim &= ~1u;
    return lim ? lim : 2;
}

/* Sends the reply built in d->buf, cut to the allocation length. */
static void reply(struct ide_dev *d, uint32_t len, uint32_t alloc)
{
    if (len > alloc)
        len = alloc;
    if (!len) {
        ide_atapi_xfer_end(d);
        return;
    }
    memset(&d->x, 0, sizeof(d->x));
    d->x.len = len;
    d->x.unit = BLK_CD_SECTOR;
    d->x.dma = d->packet_dma;
    d->x.drq_size = drq_limit(d);
    ide_xfer_start(d);
}

static bool has_medium(const struct ide_dev *d)
{
    return blockdev_has_medium(d->bd) && !d->tray_open && d->cd_sectors > 0;
}

static bool need_medium(struct ide_dev *d)
{
    if (has_medium(d))
        return true;
    ide_atapi_error(d, SK_NOT_READY, ASC_NO_MEDIUM, d->tray_open ? ASCQ_TRAY_OPEN : ASCQ_TRAY_CLOSED);
    return false;
}

static bool is_dvd(const struct ide_dev *d)
{
    return d->cd_sectors > CD_MAX_SECTORS;
}

/* --- commands ------------------------------------------------------------------ */

static void read_sectors(struct ide_dev *d, uint32_t lba, uint32_t count)
{
    if (!need_medium(d))
        return;
    if ((uint64_t)lba + count > d->cd_sectors) {
        ide_atapi_error(d, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    if (!count) {
        ide_atapi_xfer_end(d);
        return;
    }
    d->cd_pos = lba + count - 1;
    memset(&d->x, 0, sizeof(d->x));
    d->x.offset = (uint64_t)lba * BLK_CD_SECTOR;
    d->x.left = (uint64_t)count * BLK_CD_SECTOR;
    d->x.unit = BLK_CD_SECTOR;
    d->x.dma = d->packet_dma;
    d->x.drq_size = drq_limit(d);
    ide_xfer_start(d);
}

/* READ CD (MMC-3 5.12): only the 2048 user bytes of data sectors. */
static void read_cd(struct ide_dev *d, const uint8_t *c)
{
    unsigned type = c[1] >> 2 & 7, fields = c[9];
    uint32_t count = c[6] << 16 | c[7] << 8 | c[8];
    if (fields == 0) {
        ide_atapi_xfer_end(d);
        return;
    }
    if ((type != 0 && type != 2) || fields != 0x10) {
        invalid_field(d);
        return;
    }
    read_sectors(d, be32(c + 2), count);
}

static void inquiry(struct ide_dev *d, const uint8_t *c)
{
    if (c[1] & 1) {                                   /* EVPD: no vital product pages */
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, INQUIRY_LEN);
    b[0] = INQUIRY_TYPE_CDDVD;
    b[1] = INQUIRY_RMB;
    b[3] = INQUIRY_ATAPI_VERSION;
    b[4] = INQUIRY_LEN - 5;
    memcpy(b + 8, "CAIXA   ", 8);
    memcpy(b + 16, "CAIXA DVD-ROM   ", 16);
    memcpy(b + 32, "1.0 ", 4);
    reply(d, INQUIRY_LEN, be16(c + 3));
}

static void request_sense(struct ide_dev *d, const uint8_t *c)
{
    struct atapi_sense s = d->sense;
    if (d->unit_attention) {
        s = (struct atapi_sense){SK_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0};
        d->unit_attention = false;
    }
    uint8_t *b = d->buf;
    memset(b, 0, ATAPI_SENSE_LEN);
    b[0] = SENSE_CURRENT;
    b[2] = s.key;
    b[7] = SENSE_ADDITIONAL;
    b[12] = s.asc;
    b[13] = s.ascq;
    memset(&d->sense, 0, sizeof(d->sense));
    reply(d, ATAPI_SENSE_LEN, c[4]);
}

static void read_capacity(struct ide_dev *d, const uint8_t *c)
{
    (void)c;
    if (!need_medium(d))
        return;
    put_be32(d->buf, d->cd_sectors - 1);
    put_be32(d->buf + 4, BLK_CD_SECTOR);
    reply(d, 8, 8);
}

/* Writes frames as MSF: 0, M, S, F. */
static void put_msf(uint8_t *p, uint64_t f)
{
    p[0] = 0;
    p[1] = (uint8_t)(f / (SECS_PER_MIN * FRAMES_PER_SEC));
    p[2] = (uint8_t)(f / FRAMES_PER_SEC % SECS_PER_MIN);
    p[3] = (uint8_t)(f % FRAMES_PER_SEC);
}

/* Writes a TOC address: LBA, or MSF of LBA + 150. */
static void put_addr(uint8_t *p, uint32_t lba, bool msf)
{
    if (msf)
        put_msf(p, (uint64_t)lba + MSF_LBA_OFFSET);
    else
        put_be32(p, lba);
}

static void read_toc(struct ide_dev *d, const uint8_t *c)
{
    if (!need_medium(d))
        return;
    bool msf = c[1] & 2;
    unsigned format = c[2] & 0x0F;
    if (format == 0 && c[9] >> 6)
        format = c[9] >> 6;                      /* SFF-8020i put it in byte 9 */
    unsigned track = c[6];
    uint8_t *b = d->buf;
    uint32_t n = 4;
    memset(b, 0, 64);
    b[2] = 1;
    b[3] = 1;                                    /* first and last track/session */
    switch (format) {
    case TOC_FMT_TOC:
        if (track > 1 && track != TOC_LEADOUT) {
            invalid_field(d);
            return;
        }
        if (track <= 1) {
            b[n + 1] = TOC_ADR_CTL;
            b[n + 2] = 1;
            put_addr(b + n + 4, 0, msf);
            n += 8;
        }
        b[n + 1] = TOC_ADR_CTL;
        b[n + 2] = TOC_LEADOUT;
        put_addr(b + n + 4, d->cd_sectors, msf);
        n += 8;
        break;
    case TOC_FMT_SESSION:
        b[n + 1] = TOC_ADR_CTL;
        b[n + 2] = 1;                            /* first track of the last session */
        put_addr(b + n + 4, 0, msf);
        n += 8;
        break;
    case TOC_FMT_FULL: {
        /* Points A0 (first track), A1 (last track), A2 (lead-out), track 1;
         * PMIN/PSEC/PFRAME at bytes 8-10 (MMC-3 table 237). */
        static const uint8_t points[] = {0xA0, 0xA1, 0xA2, 0x01};
        for (unsigned i = 0; i < sizeof(points); i++, n += 11) {
            uint8_t *e = b + n;
            e[0] = 1;
            e[1] = TOC_ADR_CTL;
            e[3] = points[i];
            if (points[i] == 0xA0 || points[i] == 0xA1)
                e[8] = 1;
            else
                put_addr(e + 7, points[i] == 0xA2 ? d->cd_sectors : 0, true);
        }
        break;
    }
    default:
        invalid_field(d);
        return;
    }
    put_be16(b, n - 2);
    reply(d, n, be16(c + 7));
}

/* One feature descriptor: code, version/persistent/current, data. */
static uint32_t put_feature(uint8_t *p, unsigned code, unsigned version, bool persistent, bool current,
                            const uint8_t *data, unsigned len)
{
    put_be16(p, code);
    p[2] = (uint8_t)(version << 2 | (persistent ? 2 : 0) | (current ? 1 : 0));
    p[3] = (uint8_t)len;
    if (len)
        memcpy(p + 4, data, len);
    return 4 + len;
}

static void get_configuration(struct ide_dev *d, const uint8_t *c)
{
    unsigned rt = c[1] & 3, start = be16(c + 2);
    if (rt == 3) {
        invalid_field(d);
        return;
    }
    bool medium = has_medium(d), dvd = medium && is_dvd(d), cd = medium && !dvd;
    unsigned profile = dvd ? PROFILE_DVD_ROM : cd ? PROFILE_CD_ROM : 0;
    uint8_t profiles[8] = {0};
    put_be16(profiles, PROFILE_DVD_ROM);
    profiles[2] = dvd;
    put_be16(profiles + 4, PROFILE_CD_ROM);
    profiles[6] = cd;
    uint8_t core[8] = {0};
    put_be32(core, CORE_INTERFACE_ATAPI);
    uint8_t zero4[4] = {0};
    uint8_t removable[4] = {LOADING_TRAY | REMOVABLE_EJECT | REMOVABLE_LOCK, 0, 0, 0};
    uint8_t random[8] = {0};
    put_be32(random, BLK_CD_SECTOR);
    put_be16(random + 4, dvd ? 16 : 1);
    const struct {
        unsigned code, version;
        bool persistent, current;
        const uint8_t *data;
        unsigned len;
    } feats[] = {
        {FEAT_PROFILE_LIST, 0, true, true, profiles, sizeof(profiles)},
        {FEAT_CORE, 1, true, true, core, sizeof(core)},
        {FEAT_MORPHING, 1, true, true, zero4, sizeof(zero4)},
        {FEAT_REMOVABLE, 0, true, true, removable, sizeof(removable)},
        {FEAT_RANDOM_READ, 0, false, medium, random, sizeof(random)},
        {FEAT_CD_READ, 0, false, cd, zero4, sizeof(zero4)},
        {FEAT_DVD_READ, 0, false, dvd, NULL, 0},
    };
    uint8_t *b = d->buf;
    memset(b, 0, 8);
    uint32_t n = 8;
    for (unsigned i = 0; i < ARRAY_SIZE(feats); i++) {
        if (feats[i].code < start || (rt == 1 && !feats[i].current) || (rt == 2 && feats[i].code != start))
            continue;
        n += put_feature(b + n, feats[i].code, feats[i].version, feats[i].persistent, feats[i].current,
                         feats[i].data, feats[i].len);
    }
    put_be32(b, n - 4);
    put_be16(b + 6, profile);
    reply(d, n, be16(c + 7));
}

static void get_event_status(struct ide_dev *d, const uint8_t *c)
{
    if (!(c[1] & GESN_POLLED)) {                 /* asynchronous mode is not supported */
        invalid_field(d);
        return;
    }
    uint8_t *b = d->buf;
    memset(b, 0, 8);
    b[3] = GESN_MEDIA_MASK;
    uint32_t n = 4;
    if (c[4] & GESN_MEDIA_MASK) {
        b[2] = GESN_CLASS_MEDIA;
        b[4] = d->media_event;
        b[5] = (uint8_t)((has_medium(d) ? GESN_MEDIA_PRESENT : 0) | (d->tray_open ? GESN_TRAY_OPEN : 0));
        d->media_event = 0;
        n = 8;
    } else {
        b[2] = GESN_NEA;
    }
    put_be16(b, n - 2);
    reply(d, n, be16(c + 7));
}

/* The CD/DVD capabilities page (MMC-3 6.3.11), 22 bytes. */
static uint32_t page_capabilities(const struct ide_dev *d, uint8_t *p, bool changeable)
{
    memset(p, 0, 22);
    p[0] = PAGE_CAPABILITIES;
    p[1] = 20;
    if (changeable)
        return 22;
    p[2] = 0x0F;                                 /* reads CD-R, CD-RW, method 2, DVD-ROM */
    p[4] = 0x70;                                 /* mode 2 form 1 and 2, multi-session */
    p[6] = (uint8_t)(LOADING_TRAY | REMOVABLE_EJECT | REMOVABLE_LOCK | (d->locked ? 2 : 0));
    put_be16(p + 8, SPEED_16X_KBS);
    put_be16(p + 12, 512);                       /* buffer, KiB */
    put_be16(p + 14, SPEED_16X_KBS);
    return 22;
}

/* Read error recovery parameters (MMC-3 6.3.6), 12 bytes. */
static uint32_t page_error_recovery(uint8_t *p, bool changeable)
{
    memset(p, 0, 12);
    p[0] = PAGE_ERROR_RECOVERY;
    p[1] = 10;
    if (!changeable)
        p[3] = 5;                                /* read retry count */
    return 12;
}

static void mode_sense10(struct ide_dev *d, const uint8_t *c)
{
    unsigned pc = c[2] >> 6, page = c[2] & 0x3F;
    if (pc == PC_SAVED) {
        ide_atapi_error(d, SK_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
        return;
    }
    bool ch = pc == PC_CHANGEABLE;
    uint8_t *b = d->buf;
    memset(b, 0, MODE_HEADER10);
    uint32_t n = MODE_HEADER10;
    if (page == PAGE_ERROR_RECOVERY || page == PAGE_ALL)
        n += page_error_recovery(b + n, ch);
    if (page == PAGE_CAPABILITIES || page == PAGE_ALL)
        n += page_capabilities(d, b + n, ch);
    if (n == MODE_HEADER10) {
        invalid_field(d);
        return;
    }
    put_be16(b, n - 2);
    b[2] = has_medium(d) ? MEDIUM_CD_DATA : d->tray_open ? MEDIUM_DOOR_OPEN : MEDIUM_NO_DISC;
    reply(d, n, be16(c + 7));
}

static void start_stop(struct ide_dev *d, const uint8_t *c)
{
    bool loej = c[4] & 2, start = c[4] & 1;
    if (loej && !start) {
        if (d->locked) {
            ide_atapi_error(d, SK_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, ASCQ_REMOVAL_PREVENTED);
            return;
        }
        if (!d->tray_open && blockdev_has_medium(d->bd))
            d->media_event = ATAPI_EVENT_MEDIA_REMOVAL;
        d->tray_open = true;
    } else if (loej && start && d->tray_open) {
        d->tray_open = false;
        if (blockdev_has_medium(d->bd)) {
            d->unit_attention = true;
            d->media_event = ATAPI_EVENT_NEW_MEDIA;
        }
    }
    ide_atapi_xfer_end(d);
}

/* READ SUB-CHANNEL: no audio is ever played, so no audio status; the
 * current position is the head's, in the one data track; the disc has no
 * media catalog number and its track no ISRC. */
static void read_subchannel(struct ide_dev *d, const uint8_t *c)
{
    bool msf = c[1] & 2;
    unsigned format = c[3];
    if (!need_medium(d))
        return;
    uint8_t *b = d->buf;
    uint32_t len = 0;
    memset(b, 0, SUBCH_HEADER_LEN + SUBCH_CODE_LEN);
    b[1] = AUDIO_STATUS_NONE;
    if (c[2] & SUBCH_SUBQ) {
        uint8_t *p = b + SUBCH_HEADER_LEN;
        switch (format) {
        case SUBCH_POSITION:
            len = SUBCH_POSITION_LEN;
            p[1] = TOC_ADR_CTL;
            p[2] = 1;                               /* track */
            p[3] = 1;                               /* index */
            put_addr(p + 4, d->cd_pos, msf);
            /* within the track (from LBA 0): its MSF has no pre-gap */
            if (msf)
                put_msf(p + 8, d->cd_pos);
            else
                put_be32(p + 8, d->cd_pos);
            break;
        case SUBCH_MCN:
            len = SUBCH_CODE_LEN;
            break;
        case SUBCH_ISRC:
            if (c[6] != 1) {                        /* the one track */
                invalid_field(d);
                return;
            }
            len = SUBCH_CODE_LEN;
            p[1] = TOC_ADR_CTL;
            p[2] = 1;
            break;
        default:
            invalid_field(d);
            return;
        }
        p[0] = (uint8_t)format;
    }
    put_be16(b + 2, len);
    reply(d, SUBCH_HEADER_LEN + len, be16(c + 7));
}

static void mechanism_status(struct ide_dev *d, const uint8_t *c)
{
    uint8_t *b = d->buf;
    memset(b, 0, MECH_STATUS_LEN);
    b[1] = d->tray_open ? MECH_DOOR_OPEN : 0;
    reply(d, MECH_STATUS_LEN, be16(c + 8));
}

static void read_disc_info(struct ide_dev *d, const uint8_t *c)
{
    if ((c[1] & 7) != 0) {                       /* only standard disc information */
        invalid_field(d);
        return;
    }
    if (!need_medium(d))
        return;
    uint8_t *b = d->buf;
    memset(b, 0, DISC_INFO_LEN);
    put_be16(b, DISC_INFO_LEN - 2);
    b[2] = DISC_COMPLETE;
    b[3] = 1;                                    /* first track */
    b[4] = 1;                                    /* sessions */
    b[5] = 1;                                    /* first track in last session */
    b[6] = 1;                                    /* last track in last session */
    memset(b + 16, 0xFF, 8);                     /* no lead-in / lead-out addresses */
    reply(d, DISC_INFO_LEN, be16(c + 7));
}

/* Commands that report a pending UNIT ATTENTION first (SPC-3 5.9.7;
 * MMC-3 lets GET CONFIGURATION and GET EVENT STATUS pass). */
static bool reports_unit_attention(uint8_t op)
{
    return op != OP_INQUIRY && op != OP_REQUEST_SENSE && op != OP_GET_CONFIGURATION &&
           op != OP_GET_EVENT_STATUS;
}

void ide_atapi_packet(struct ide_dev *d)
{
    const uint8_t *c = d->cdb;
    uint8_t op = c[0];
    d->status = ATA_ST_BSY;
    if (d->unit_attention && reports_unit_attention(op)) {
        d->unit_attention = false;
        ide_atapi_error(d, SK_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        return;
    }
    if (op != OP_REQUEST_SENSE)
        memset(&d->sense, 0, sizeof(d->sense));
    switch (op) {
    case OP_TEST_UNIT_READY:
        if (need_medium(d))
            ide_atapi_xfer_end(d);
        return;
    case OP_REQUEST_SENSE:
        request_sense(d, c);
        return;
    case OP_INQUIRY:
        inquiry(d, c);
        return;
    case OP_START_STOP:
        start_stop(d, c);
        return;
    case OP_PREVENT_ALLOW:
        d->locked = c[4] & 1;
        ide_atapi_xfer_end(d);
        return;
    case OP_READ_CAPACITY:
        read_capacity(d, c);
        return;
    case OP_READ10:
        read_sectors(d, be32(c + 2), be16(c + 7));
        return;
    case OP_READ12:
        read_sectors(d, be32(c + 2), be32(c + 6));
        return;
    case OP_READ_CD:
        read_cd(d, c);
        return;
    case OP_SEEK10:
        if (!need_medium(d))
            return;
        if (be32(c + 2) >= d->cd_sectors) {
            ide_atapi_error(d, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        } else {
            d->cd_pos = be32(c + 2);
            ide_atapi_xfer_end(d);
        }
        return;
    case OP_READ_SUBCHANNEL:
        read_subchannel(d, c);
        return;
    case OP_READ_TOC:
        read_toc(d, c);
        return;
    case OP_GET_CONFIGURATION:
        get_configuration(d, c);
        return;
    case OP_GET_EVENT_STATUS:
        get_event_status(d, c);
        return;
    case OP_READ_DISC_INFO:
        read_disc_info(d, c);
        return;
    case OP_MODE_SENSE10:
        mode_sense10(d, c);
        return;
    case OP_SET_CD_SPEED:
        ide_atapi_xfer_end(d);
        return;
    case OP_MECHANISM_STATUS:
        mechanism_status(d, c);
        return;
    default:
        ide_atapi_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
    }
}
