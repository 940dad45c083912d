/* Raw images: the file is the disk, byte for byte. Every file probes as
 * raw with the lowest score, so any format with a magic wins over it. One
 * pread/pwrite per call, and one preadv/pwritev for a scattered request
 * (image_vec.c): the disk benchmark compares this path with QEMU. */
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
    return 0;
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

/* The file is the disk: one run of data (image_vec.c moves a scattered
 * request in one preadv/pwritev). */
static int raw_map(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *out)
{
    (void)flags;
    *out = (struct image_extent){.kind = IMAGE_EXT_DATA, .fd = img->fd, .pos = off, .len = len};
    return 0;
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
    .read = raw_read,
    .write = raw_write,
    .map = raw_map,
    .map_in_memory = true,
    .discard = raw_discard,
    .create = raw_create,
    .resize = raw_resize,
    .info = raw_info,
};
IMAGE_FORMAT_REGISTER(raw_format);
