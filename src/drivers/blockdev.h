/* Block host ends (VirtualBox's PDM media drivers): a disk image, a CD/DVD
 * image or an iSCSI LUN behind a storage controller. Requests are queued
 * by the device and carried out on the block device's own I/O thread, so a
 * vCPU never waits for the host's disk; the completion callback then runs
 * on that thread with the platform lock held, like every device callback.
 *
 * Buffers are host memory: guest RAM reached through physmem_ram_ptr()
 * (zero copy; after a read into it, the device calls physmem_ram_written()
 * so that no vCPU runs stale decoded code) or the device's own bounce
 * buffer. A device must not touch a request's buffers or the request
 * itself between submit and done. */
#ifndef CAIXA_DRIVERS_BLOCKDEV_H
#define CAIXA_DRIVERS_BLOCKDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLK_SECTOR 512u
#define BLK_CD_SECTOR 2048u
#define BLK_MAX_IOV 1024

struct blockdev;

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_DISCARD };

struct blk_req {
    enum blk_op op;
    uint64_t offset;            /* bytes, a multiple of BLK_SECTOR */
    struct iovec *iov;          /* READ/WRITE: buffers whose lengths are multiples of BLK_SECTOR */
    int iovcnt;                 /* 1..BLK_MAX_IOV */
    uint64_t len;               /* DISCARD: bytes */
    /* WRITE: the device's write cache is off (or the driver knows of no
     * flush): done() only once the data is on the host's stable storage,
     * as a write with FUA: the drive writes it, then flushes the medium.
     * Never from the drive's write-behind or at once (blockdev_submit). */
    bool write_through;
    /* status: 0, or a negative errno (-EIO: the image failed, -EROFS:
     * read-only medium, -ENOMEDIUM: no medium, -EINVAL: out of range). */
    void (*done)(struct blk_req *req, int status);
    /* For done() with a failed status: the byte offset of the first sector
     * in error, for the device's error outputs (ATA's LBA): the request's
     * own; for a FLUSH that reports a write done behind, that write's
     * (one whose own flush failed: 0). Set by blockdev_submit. */
    uint64_t error_offset;
    void *opaque;               /* the device's */
    struct blk_req *next_;      /* the queue's */
};

enum blk_media { BLK_MEDIA_DISK, BLK_MEDIA_CDROM };

/* For devices: what is attached. */
uint64_t blockdev_size(struct blockdev *bd);            /* bytes; 0 without a medium */
bool blockdev_read_only(struct blockdev *bd);
enum blk_media blockdev_media(struct blockdev *bd);
bool blockdev_has_medium(struct blockdev *bd);
/* Any thread, with or without the platform lock; never blocks for I/O. An
 * idle drive whose medium can do a read or write without waiting for the
 * host's disk (the page cache holds it) completes it at once: done() runs
 * before this returns, as it would on the I/O thread (platform lock held).
 * So does a small write that the drive copies and writes behind, as a disk
 * with its write cache on: a FLUSH completes once every earlier write is
 * in the medium, and fails if one of them failed. */
void blockdev_submit(struct blockdev *bd, struct blk_req *req);
/* Called (platform lock held) when the medium is inserted or ejected, so
 * an ATAPI drive can report UNIT ATTENTION. */
void blockdev_set_media_cb(struct blockdev *bd, void (*cb)(void *opaque), void *opaque);

/* --- host side: the VM and front ends ------------------------------------ */
/* Opens a spec: an image file (any format storage/image.h knows), or
 * iscsi://HOST[:PORT]/TARGET-IQN/LUN. A CD-ROM opens read-only and may be
 * empty (spec NULL). NULL after one "caixa: ..." line. */
struct blockdev *blockdev_open(const char *spec, enum blk_media media, bool read_only);
/* Starts the I/O thread; completions then run with *lock held. */
int blockdev_attach(struct blockdev *bd, pthread_mutex_t *lock);
/* Waits until every request submitted so far is done, the writes behind
 * included (not with the platform lock held: completions need it). */
void blockdev_drain(struct blockdev *bd);
/* Waits for the requests in flight, flushes, stops the thread. */
void blockdev_detach(struct blockdev *bd);
void blockdev_close(struct blockdev *bd);
/* CD-ROM: change or eject (spec NULL) the medium; the device is told. */
int blockdev_change_medium(struct blockdev *bd, const char *spec);
const char *blockdev_spec(struct blockdev *bd);

#endif
