/* Raw images: the file is the disk, byte for byte. Every file probes as
 * raw with the lowest score, so any format with a magic wins over it. One
 * pread/pwrite (or preadv/pwritev for a scattered request) per call: the
 * disk benchmark compares this path with QEMU. RWF_NOWAIT tries let a
 * drive complete what the page cache holds without its I/O thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/format.h"


static int raw_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
    (void)head;
    (void)len;
    (void)file_size;
    return 1;
}

struct raw {
    bool no_nowait_write;   /* the file system refused RWF_NOWAIT writes once */
};

static int raw_open(struct image *img, struct image_parent_ref *parent)
{
    (void)parent;
    uint64_t size;
    int rc = image_file_size(img->fd, &size);
    if (rc < 0) {
        image_error("%s", strerror(-rc));
        return -1;
    }
    /* A last partial sector reads as zeros past the end of the file. */
    img->size = align_up(size, IMAGE_SECTOR);
    img->priv = xcalloc(1, sizeof(struct raw));
    return 0;
}

static void raw_close(struct image *img)
{
    free(img->priv);
}

static int raw_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    int rc = image_pread(img->fd, buf, len, off);
    if (rc < 0)
        image_error("read at %llu: %s", (unsigned long long)off, strerror(-rc));
    return rc;
}

static int raw_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    int rc = image_pwrite(img->fd, buf, len, off);
    if (rc < 0)
        image_error("write at %llu: %s", (unsigned long long)off, strerror(-rc));
    return rc;
}

static int raw_readv(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = image_preadv(img->fd, iov, iovcnt, off);
    if (rc < 0)
        image_error("read at %llu: %s", (unsigned long long)off, strerror(-rc));
    return rc;
}

static int raw_writev(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = image_pwritev(img->fd, iov, iovcnt, off);
    if (rc < 0)
        image_error("write at %llu: %s", (unsigned long long)off, strerror(-rc));
    return rc;
}

/* preadv2/pwritev2 with RWF_NOWAIT: all of it from or into the page cache
 * now, or -EAGAIN (a short transfer too: the retry redoes all of it). A
 * file system that cannot say (EOPNOTSUPP) always answers -EAGAIN. */
static int raw_try_vec(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt, bool write)
{
    struct raw *r = img->priv;
    if (write && r->no_nowait_write)
        return -EAGAIN;
    size_t want = 0;
    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    ssize_t n = write ? pwritev2(img->fd, iov, iovcnt, (off_t)off, RWF_NOWAIT)
                      : preadv2(img->fd, iov, iovcnt, (off_t)off, RWF_NOWAIT);
    if (n >= 0 && (size_t)n == want)
        return 0;
    if (n < 0 && errno == EOPNOTSUPP && write)
        r->no_nowait_write = true;   /* (ext4 buffered writes): no use asking again */
    if (n >= 0 || errno == EAGAIN || errno == EOPNOTSUPP || errno == EINTR)
        return -EAGAIN;
    image_error("%s at %llu: %s", write ? "write" : "read", (unsigned long long)off, strerror(errno));
    return -errno;
}

static int raw_try_readv(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return raw_try_vec(img, off, iov, iovcnt, false);
}

static int raw_try_writev(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return raw_try_vec(img, off, iov, iovcnt, true);
}

static int raw_discard(struct image *img, uint64_t off, uint64_t len)
{
    /* A hole reads as zeros; a file system without holes keeps the data,
     * which discard allows. */
    if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS) {
        image_error("discard at %llu: %s", (unsigned long long)off, strerror(errno));
        return -errno;
    }
    return 0;
}

static int raw_create(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    (void)path;
    if (parent) {
        image_error("raw images cannot have a parent");
        return -1;
    }
    if (ftruncate(fd, (off_t)o->size) < 0) {
        image_error("%s", strerror(errno));
        return -1;
    }
    if (o->variant == IMAGE_VARIANT_FIXED) {
        int rc = image_allocate(fd, 0, o->size);
        if (rc < 0) {
            image_error("allocating %llu bytes: %s", (unsigned long long)o->size, strerror(-rc));
            return -1;
        }
    }
    return 0;
}

static int raw_resize(struct image *img, uint64_t new_size)
{
    if (ftruncate(img->fd, (off_t)new_size) < 0) {
        image_error("resize: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void raw_info(struct image *img, struct image_info *info)
{
    info->variant = info->file_size >= img->size ? "fixed" : "sparse";
}

static const image_format raw_format = {
    .name = "raw",
    .probe = raw_probe,
    .open = raw_open,
    .close = raw_close,
    .read = raw_read,
    .write = raw_write,
    .readv = raw_readv,
    .writev = raw_writev,
    .try_readv = raw_try_readv,
    .try_writev = raw_try_writev,
    .discard = raw_discard,
    .create = raw_create,
    .resize = raw_resize,
    .info = raw_info,
};
IMAGE_FORMAT_REGISTER(raw_format);
