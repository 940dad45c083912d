/* What carries out a drive's requests (private to src/drivers/blockdev*):
 * an image file through storage/image.h, or an iSCSI LUN. Calls come from
 * the drive's I/O thread only, one at a time; but for the try_ ones, which
 * a vCPU makes while the drive is idle. */
#ifndef CAIXA_DRIVERS_BLK_BACKEND_H
#define CAIXA_DRIVERS_BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/blockdev.h"

struct blk_backend;

struct blk_backend_ops {
    /* Sector-aligned, inside the size; 0 or a negative errno. */
    int (*read)(struct blk_backend *be, uint64_t off, void *buf, size_t len);
    int (*write)(struct blk_backend *be, uint64_t off, const void *buf, size_t len);
    /* Optional: a whole scattered request in one call; NULL: read/write
     * once per buffer. */
    int (*readv)(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt);
    int (*writev)(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt);
    /* Optional, from any thread: the same only if it needs no wait for the
     * host's disk; -EAGAIN otherwise (the I/O thread then does it). */
    int (*try_readv)(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt);
    int (*try_writev)(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt);
    /* Optional, from a vCPU: try_readv while the I/O thread runs another
     * read of the same drive (blockdev.c's split reads). */
    int (*try_readv_beside)(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt);
    int (*flush)(struct blk_backend *be);
    /* Optional: starts the host's writeback of what was written, without
     * waiting for it (a hint: durability is flush's). */
    void (*start_writeback)(struct blk_backend *be);
    int (*discard)(struct blk_backend *be, uint64_t off, uint64_t len);  /* NULL: nothing */
    uint64_t (*size)(struct blk_backend *be);
    void (*close)(struct blk_backend *be);
};

struct blk_backend {
    const struct blk_backend_ops *ops;
    bool read_only;
};

/* NULL after one "caixa: ..." line. */
struct blk_backend *blk_image_open(const char *path, enum blk_media media, bool read_only);
/* iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN (blk_iscsi.c). */
struct blk_backend *blk_iscsi_open(const char *url, enum blk_media media, bool read_only);
/* What is wrong with an iSCSI URL, or NULL when libiscsi can parse it
 * (blk_iscsi_url.c). */
const char *blk_iscsi_url_error(const char *url);

#endif
