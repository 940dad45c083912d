/* A drive's medium as an image file (storage/image.h), any format. A
 * CD-ROM's image must hold whole 2048-byte sectors. */
#include <errno.h>
#include <stdlib.h>

#include "drivers/blk_backend.h"
#include "runtime/log.h"
#include "runtime/util.h"
#include "storage/image.h"

struct blk_image {
    struct blk_backend be;
    struct image *img;
};

static struct image *img_of(struct blk_backend *be)
{
    return ((struct blk_image *)be)->img;
}

static int bi_read(struct blk_backend *be, uint64_t off, void *buf, size_t len)
{
    return image_read(img_of(be), off, buf, len) < 0 ? -EIO : 0;
}

static int bi_write(struct blk_backend *be, uint64_t off, const void *buf, size_t len)
{
    int rc = image_write(img_of(be), off, buf, len);
    return rc < 0 ? (rc == -1 ? -EIO : rc) : 0;
}

static int bi_readv(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return image_readv(img_of(be), off, iov, iovcnt) < 0 ? -EIO : 0;
}

static int bi_writev(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = image_writev(img_of(be), off, iov, iovcnt);
    return rc < 0 ? (rc == -1 ? -EIO : rc) : 0;
}

/* -EAGAIN stays -EAGAIN: blockdev.c then queues the request. */
static int bi_try_readv(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = image_try_readv(img_of(be), off, iov, iovcnt);
    return rc == -EAGAIN || rc == 0 ? rc : -EIO;
}

static int bi_try_readv_beside(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = image_try_readv_beside(img_of(be), off, iov, iovcnt);
    return rc == -EAGAIN || rc == 0 ? rc : -EIO;
}

static int bi_try_writev(struct blk_backend *be, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = image_try_writev(img_of(be), off, iov, iovcnt);
    return rc == -EAGAIN || rc == 0 ? rc : rc == -1 ? -EIO : rc;
}

static int bi_flush(struct blk_backend *be)
{
    return image_flush(img_of(be)) < 0 ? -EIO : 0;
}

static void bi_start_writeback(struct blk_backend *be)
{
    image_start_writeback(img_of(be));
}

static int bi_discard(struct blk_backend *be, uint64_t off, uint64_t len)
{
    return image_discard(img_of(be), off, len) < 0 ? -EIO : 0;
}

static uint64_t bi_size(struct blk_backend *be)
{
    return image_size(img_of(be));
}

static void bi_close(struct blk_backend *be)
{
    image_close(img_of(be));
    free(be);
}

static const struct blk_backend_ops blk_image_ops = {
    .read = bi_read,
    .write = bi_write,
    .readv = bi_readv,
    .writev = bi_writev,
    .try_readv = bi_try_readv,
    .try_writev = bi_try_writev,
    .try_readv_beside = bi_try_readv_beside,
    .flush = bi_flush,
    .start_writeback = bi_start_writeback,
    .discard = bi_discard,
    .size = bi_size,
    .close = bi_close,
};

struct blk_backend *blk_image_open(const char *path, enum blk_media media, bool read_only)
{
    struct image *img = image_open(path, read_only ? IMAGE_OPEN_RDONLY : 0);
    if (!img) {
        log_error("%s", image_last_error());
        return NULL;
    }
    if (media == BLK_MEDIA_CDROM && image_size(img) % BLK_CD_SECTOR) {
        log_error("%s: not a CD/DVD image (its size is not a multiple of %u bytes)", path, BLK_CD_SECTOR);
        image_close(img);
        return NULL;
    }
    if (media == BLK_MEDIA_DISK && image_size(img) < BLK_SECTOR) {
        log_error("%s: the disk is empty", path);
        image_close(img);
        return NULL;
    }
    struct blk_image *bi = xcalloc(1, sizeof *bi);
    bi->be.ops = &blk_image_ops;
    bi->be.read_only = image_read_only(img);
    bi->img = img;
    return &bi->be;
}
