/* ISO 9660 images for CD/DVD drives: read-only, the file is the medium.
 * Recognised by the first volume descriptor (ECMA-119 8.1: sector 16 of
 * 2048 bytes, type byte then "CD001"), so an ISO never probes as raw. */
#include <errno.h>
#include <string.h>

#include "runtime/util.h"
#include "storage/format.h"

/* ECMA-119 6.2.1/8.1: the volume descriptor set starts at logical sector 16
 * (2048-byte sectors); its standard identifier is at byte 1. */
#define ISO_SECTOR 2048u
#define ISO_VD_OFFSET (16u * ISO_SECTOR)
#define ISO_ID_OFFSET (ISO_VD_OFFSET + 1)
#define ISO_ID "CD001"

static int iso_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
    (void)file_size;
    if (len < ISO_ID_OFFSET + sizeof ISO_ID - 1)
        return 0;
    return memcmp(head + ISO_ID_OFFSET, ISO_ID, sizeof ISO_ID - 1) == 0 ? 100 : 0;
}

static int iso_open(struct image *img, struct image_parent_ref *parent)
{
    (void)parent;
    uint64_t size;
    int rc = image_file_size(img->fd, &size);
    if (rc < 0) {
        image_error("%s", strerror(-rc));
        return -1;
    }
    img->size = align_up(size, IMAGE_SECTOR);
    img->read_only = true;   /* a CD-ROM: image.c shares the lock again */
    return 0;
}

static void iso_close(struct image *img)
{
    (void)img;
}

static int iso_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    int rc = image_pread(img->fd, buf, len, off);
    if (rc < 0)
        image_error("read at %llu: %s", (unsigned long long)off, strerror(-rc));
    return rc;
}

static int iso_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    (void)buf;
    (void)len;
    (void)off;
    image_error("%s: ISO images are read-only", img->path);
    return -EROFS;
}

static void iso_info(struct image *img, struct image_info *info)
{
    (void)img;
    info->variant = "read-only";
}

static const image_format iso_format = {
    .name = "iso",
    .probe = iso_probe,
    .open = iso_open,
    .close = iso_close,
    .read = iso_read,
    .write = iso_write,
    .info = iso_info,
};
IMAGE_FORMAT_REGISTER(iso_format);
