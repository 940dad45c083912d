/* The ATA/ATAPI device model shared by the storage controllers: one ATA
 * disk or ATAPI CD/DVD drive with its taskfile, its command layer (ATA
 * commands, ATAPI packet commands) and its data phases, independent of the
 * register interface that reaches it. A controller (piix_ide.c: legacy
 * task-file ports and the bus-master engine; an AHCI port could do the
 * same with FISes) embeds a struct ide_dev per device and fills in a
 * struct ide_transport; it then
 *   - writes the taskfile (d->tf) and calls ide_exec_command(),
 *   - moves PIO data with ide_data_read()/ide_data_write() while DRQ is set,
 *   - runs the DMA engine when the device asks (transport.dma_start) and
 *     calls ide_dma_go() when it may move data; the device then calls
 *     transport.dma_rw() for each piece and transport.dma_end() at the end,
 *   - raises its interrupt line when the device calls transport.irq().
 * Medium I/O is asynchronous (drivers/blockdev.h): the device stays BSY
 * while a request is in flight and continues in the completion, which runs
 * with the platform lock held like every device callback.
 *
 * References: ATA/ATAPI-6 (T13/1410D) for the registers, commands and
 * protocols; SFF-8020i and MMC-3 (T10/1363-D) for the packet commands;
 * SPC-3 for sense data. */
#ifndef CAIXA_DEVICES_IDE_H
#define CAIXA_DEVICES_IDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "drivers/blockdev.h"

/* Status register (ATA-6 7.15.6). */
#define ATA_ST_BSY 0x80
#define ATA_ST_DRDY 0x40
#define ATA_ST_DF 0x20
#define ATA_ST_DSC 0x10               /* device seek complete (obsolete; set as drives do) */
#define ATA_ST_DRQ 0x08
#define ATA_ST_ERR 0x01

/* Error register (ATA-6 7.9). */
#define ATA_ER_ICRC 0x80
#define ATA_ER_UNC 0x40
#define ATA_ER_IDNF 0x10
#define ATA_ER_ABRT 0x04
#define ATA_ER_DIAG_OK 0x01           /* after reset/diagnostics: device 0 passed */

/* Device register (ATA-6 7.10). */
#define ATA_DEV_LBA 0x40
#define ATA_DEV_DEV1 0x10
#define ATA_DEV_HEAD 0x0F
#define ATA_DEV_OBSOLETE 0xA0         /* bits 7 and 5: set by old hosts, read back */

/* ATAPI interrupt reason, in the sector count register (ATA-6 8.21.5). */
#define ATAPI_IR_COD 0x01
#define ATAPI_IR_IO 0x02

/* Media event codes of GET EVENT STATUS NOTIFICATION (MMC-3 5.6.4). */
#define ATAPI_EVENT_NEW_MEDIA 2
#define ATAPI_EVENT_MEDIA_REMOVAL 3

#define IDE_IDENTIFY_WORDS 256
#define IDE_BUF_SIZE (128u << 10)     /* bounce buffer: one medium request at most */
#define ATAPI_CDB_LEN 12
#define ATAPI_SENSE_LEN 18

enum ide_kind { IDE_ABSENT, IDE_DISK, IDE_CDROM };

/* The command block registers, with the previous contents of the 48-bit
 * ones ("HOB", ATA-6 6.20: each write pushes the old value back). */
struct ide_taskfile {
    uint8_t feature, count, lba_low, lba_mid, lba_high, device, command;
    uint8_t hob_feature, hob_count, hob_lba_low, hob_lba_mid, hob_lba_high;
};

struct ide_dev;

/* What the controller does for its device. */
struct ide_transport {
    /* The device asserts INTRQ (a completion or a DRQ block); the line
     * stays up until the controller drops it (status read, for PIIX). */
    void (*irq)(struct ide_dev *d);
    /* A DMA command is ready to move data: call ide_dma_go() now or when
     * the engine is started. */
    void (*dma_start)(struct ide_dev *d);
    /* Moves len bytes between buf and guest memory at the engine's current
     * place. Returns 0, 1 when the engine is stopped (the device waits for
     * the next ide_dma_go()), -1 on an error (PRD table too short, memory
     * that is not RAM): the command then fails. */
    int (*dma_rw)(struct ide_dev *d, void *buf, size_t len, bool to_guest);
    /* The DMA command ended (before its interrupt); error: it failed. */
    void (*dma_end)(struct ide_dev *d, bool error);
    void *opaque;
};

/* A data phase: bytes between the guest and the bounce buffer, and sector
 * runs between the buffer and the medium. */
struct ide_xfer {
    bool active;
    bool to_device;                   /* write: guest -> medium */
    bool dma;
    bool stalled;                     /* DMA engine stopped mid-transfer */
    uint64_t offset;                  /* medium byte offset of the next request */
    uint64_t left;                    /* medium bytes still to request */
    uint32_t unit;                    /* medium sector size */
    uint32_t drq_size;                /* PIO: bytes per DRQ block (ATA) or byte count limit (ATAPI) */
    uint32_t len;                     /* valid (in) or expected (out) bytes in buf */
    uint32_t pos;                     /* guest's position in buf */
    uint32_t drq_end;                 /* end of the current DRQ block in buf */
};

/* Sense data of an ATAPI device (SPC-3 4.5.3). */
struct atapi_sense {
    uint8_t key, asc, ascq;
};

struct ide_dev {
    enum ide_kind kind;
    struct blockdev *bd;
    const struct ide_transport *tp;
    unsigned unit;                    /* 0 master, 1 slave (signature, diagnostics) */
    char serial[21];

    struct ide_taskfile tf;
    uint8_t status, error;

    /* ATA settings. */
    uint64_t sectors;                 /* medium size in 512-byte sectors */
    uint16_t cyls, heads, spt;        /* default CHS geometry */
    uint16_t cur_heads, cur_spt;      /* INITIALIZE DEVICE PARAMETERS */
    uint8_t mult_sectors;             /* SET MULTIPLE MODE; 0: disabled */
    uint8_t xfer_mode;                /* SET FEATURES 03h value */
    bool write_cache, lookahead, standby;

    /* ATAPI state. */
    uint8_t cdb[ATAPI_CDB_LEN];
    struct atapi_sense sense;
    bool unit_attention;              /* medium changed: report 6/28/00 once */
    uint8_t media_event;              /* GET EVENT STATUS media event to report; 0: none */
    bool tray_open;                   /* the guest ejected the medium */
    bool locked;                      /* PREVENT ALLOW MEDIUM REMOVAL */
    uint32_t cd_sectors;              /* 2048-byte sectors */
    uint32_t cd_pos;                  /* the head: the last sector read or sought */

    /* The current command's data phase and medium request. */
    struct ide_xfer x;
    uint8_t *buf;                     /* IDE_BUF_SIZE */
    struct blk_req req;
    struct iovec iov;
    uint16_t byte_limit;              /* PACKET: byte count limit as written */
    bool packet_dma;                  /* PACKET: data by DMA (features bit 0) */
    bool inflight;
    bool reset_pending;               /* a reset waits for the request in flight */
    bool reset_hard;
    void (*io_done)(struct ide_dev *d, int status);
};

/* Sets up a device on blockdev bd (NULL: no device). Allocates the buffer.
 * Returns 0, or -1 when bd's size is unusable (message in why). */
int ide_dev_init(struct ide_dev *d, struct blockdev *bd, unsigned unit, const struct ide_transport *tp,
                 char *why, size_t why_len);
void ide_dev_free(struct ide_dev *d);
/* Hardware reset or software reset (SRST): the device aborts its command,
 * loads its signature and reports diagnostics passed. A request in flight
 * finishes first (the device stays BSY). */
void ide_reset(struct ide_dev *d, bool hard);
/* Runs the command in d->tf.command with the taskfile as written. The
 * device must not be BSY (the controller drops commands written then),
 * except DEVICE RESET to a packet device. */
void ide_exec_command(struct ide_dev *d, uint8_t cmd);
/* PIO data register (16-bit; 32-bit accesses are two words). */
uint32_t ide_data_read(struct ide_dev *d, unsigned size);
void ide_data_write(struct ide_dev *d, uint32_t val, unsigned size);
/* The controller's DMA engine runs: the device moves its data. */
void ide_dma_go(struct ide_dev *d);
/* The host changed the CD/DVD medium (blockdev media callback). */
void ide_media_changed(struct ide_dev *d);

/* --- inside the device model (ide_core.c, ide_ata.c, ide_atapi.c) --------- */
void ide_set_signature(struct ide_dev *d);
/* Ends a command: status DRDY (+ERR with `error`), interrupt. */
void ide_cmd_done(struct ide_dev *d);
void ide_cmd_error(struct ide_dev *d, uint8_t error);
/* Starts the data phase described by d->x (filled by the caller; for a
 * reply already in d->buf, left = 0 and len = its length). */
void ide_xfer_start(struct ide_dev *d);
/* Queues a medium request on d->buf[0..len); `done` continues. */
void ide_submit(struct ide_dev *d, enum blk_op op, uint64_t offset, uint32_t len,
                void (*done)(struct ide_dev *d, int status));
/* What the command layers do when a data phase ends. */
void ide_ata_xfer_end(struct ide_dev *d);
void ide_atapi_xfer_end(struct ide_dev *d);
/* A medium request failed: status as from the blockdev. */
void ide_xfer_failed(struct ide_dev *d, int status);
/* The address of the first sector in error into the LBA registers, all
 * 48 bits (ATA error outputs). */
void ide_error_lba(struct ide_dev *d, uint64_t lba);

/* ide_ata.c */
void ide_ata_identify(struct ide_dev *d, uint16_t *w);
void ide_ata_command(struct ide_dev *d, uint8_t cmd);
/* ide_atapi.c */
void ide_atapi_identify(struct ide_dev *d, uint16_t *w);
void ide_atapi_packet(struct ide_dev *d);   /* the CDB is in d->cdb */
void ide_atapi_error(struct ide_dev *d, uint8_t key, uint8_t asc, uint8_t ascq);
/* Writes an ATA string field (two characters per word, first in the high
 * byte, blank-padded: ATA-6 7.16.x). */
void ide_id_string(uint16_t *w, unsigned words, const char *s);
void ide_id_checksum(uint16_t *w);

#endif
