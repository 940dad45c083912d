/* Disk images (VirtualBox's VD): one interface over the formats in
 * src/storage/, one file per format (raw.c, vdi.c, vmdk.c, vhd.c, qcow2.c,
 * iso.c). The format is detected from the file's content, never from its
 * name.
 *
 * An open image is a chain: the file opened, then its parent (VDI/VHD
 * differencing images, qcow2 backing files, VMDK parents), then the
 * parent's parent. Writes go to the top image only; a read of a block the
 * top does not hold falls through to the parent; with no parent it reads
 * as zeros. Parents are opened read-only.
 *
 * Offsets and lengths of read, write and discard are multiples of
 * IMAGE_SECTOR (callers with other granularities, CD-ROMs with 2048-byte
 * sectors, pass multiples of 512 too). Calls on one chain are serialised
 * by the chain's own lock, so any thread may call them.
 *
 * No data lost: a write is in the file (the host kernel's page cache) when
 * image_write returns, so it survives kill -9; image_flush makes it durable
 * (fdatasync). A block map on disk is updated only after the data it points
 * to was written. A writable image holds an exclusive lock on its file
 * (read-only opens share it): a second writer gets an error, not a torn
 * image.
 *
 * Errors: functions return 0 or -1 (I/O: a negative errno), and leave one
 * line saying what is wrong in image_last_error() (per thread). A corrupt or
 * hostile header is an error, never a crash. */
#ifndef CAIXA_STORAGE_IMAGE_H
#define CAIXA_STORAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define IMAGE_SECTOR 512u

struct image;

enum image_open_flags {
    IMAGE_OPEN_RDONLY = 1u << 0,   /* no writes; shared lock */
};

/* Opens path and its parent chain. NULL on failure (image_last_error()). */
struct image *image_open(const char *path, unsigned flags);
void image_close(struct image *img);

uint64_t image_size(const struct image *img);          /* virtual disk bytes */
bool image_read_only(const struct image *img);
const char *image_format_name(const struct image *img); /* "vdi", "qcow2", ... */
const char *image_path(const struct image *img);
struct image *image_parent(const struct image *img);    /* NULL: none */

int image_read(struct image *img, uint64_t off, void *buf, size_t len);
int image_write(struct image *img, uint64_t off, const void *buf, size_t len);
/* The same over scattered buffers, each whole sectors (image_vec.c): the
 * format's block map cuts the request into runs, and a run of data in the
 * file moves in one preadv/pwritev (raw: the whole request). */
int image_readv(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt);
int image_writev(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt);
/* The same only if it needs no wait for the host's disk or another thread
 * (data already in the file and in the host's page cache, zeros, and a
 * block map that needs no reading): -EAGAIN otherwise,
 * with nothing changed that a retry through image_readv/writev would not
 * write again. */
int image_try_readv(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt);
int image_try_writev(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt);
/* image_try_readv without the chain's lock, for a second reader beside one
 * that holds it (a drive reading the two halves of a large request at
 * once): only a top image without a parent whose block map is all in
 * memory (raw, VDI), -EAGAIN otherwise. The caller sees to it that no
 * write runs on the chain meanwhile. */
int image_try_readv_beside(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt);
int image_flush(struct image *img);
/* Starts the host's writeback of what was written, without waiting for
 * it: image_flush then has less to wait for. Durability is still flush's. */
void image_start_writeback(struct image *img);
/* The guest no longer needs these bytes (TRIM/UNMAP/DISCARD); they read as
 * zeros afterwards only if the format can say so, otherwise unchanged.
 * Formats without discard succeed doing nothing. */
int image_discard(struct image *img, uint64_t off, uint64_t len);

/* The message the last failing call on this thread left. */
const char *image_last_error(void);

/* --- media commands (caixa createmedium, clonemedium, ...) ---------------- */
enum image_variant {
    IMAGE_VARIANT_STANDARD,   /* dynamic / sparse: blocks allocated on write */
    IMAGE_VARIANT_FIXED,      /* every block allocated at creation */
};

struct image_create_opts {
    const char *format;       /* "raw", "vdi", "vmdk", "vhd", "qcow2" */
    uint64_t size;            /* bytes, a multiple of IMAGE_SECTOR; ignored with a parent */
    enum image_variant variant;
    /* A differencing image (child) of this parent, which must exist; the
     * child gets the parent's size. NULL: a base image. */
    const char *parent;
};

/* Creates a new file (never overwrites one). -1 with image_last_error(). */
int image_create(const char *path, const struct image_create_opts *o);
/* Copies src's whole content (the chain flattened) into a new image dst;
 * blocks of zeros are left unallocated. */
int image_clone(struct image *src, const char *dst, const struct image_create_opts *o);
/* Grows (or, where the format allows, shrinks) the virtual size. */
int image_resize(struct image *img, uint64_t new_size);
/* Gives back the space of unallocated or all-zero blocks. */
int image_compact(struct image *img);

struct image_info {
    const char *format;       /* "vdi" */
    const char *variant;      /* "dynamic", "fixed", "stream-optimized", "flat", ... */
    uint64_t virtual_size;    /* bytes */
    uint64_t file_size;       /* bytes the file takes on the host */
    bool has_uuid, has_parent_uuid;
    uint8_t uuid[16], parent_uuid[16];   /* RFC 4122 byte order */
    const char *parent_path;  /* the parent's file as the chain opened it, or NULL */
};
void image_get_info(struct image *img, struct image_info *info);

/* Consistency check: one line per problem through note(); returns the
 * number of problems found (0: the image is consistent), -1 if it could not
 * check at all. */
typedef void (*image_note_fn)(void *opaque, const char *line);
int image_check(struct image *img, image_note_fn note, void *opaque);

/* Formats by name, for the command line ("VDI", "vmdk", "RAW": any case). */
bool image_format_known(const char *name);
/* Known and image_create can make one (not ISO). */
bool image_format_creatable(const char *name);

#endif
