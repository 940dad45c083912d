/* What one image format implements (private to src/storage/). image.c
 * opens the file, takes its lock, finds the format by probing, builds the
 * parent chain, serialises calls and checks their arguments; a format file
 * (vdi.c, qcow2.c, ...) only knows its own layout.
 *
 * Each format file ends with IMAGE_FORMAT_REGISTER(its_format); image.c
 * finds it in the "caixa_image_formats" section. */
#ifndef CAIXA_STORAGE_FORMAT_H
#define CAIXA_STORAGE_FORMAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/image.h"

/* How many bytes of a file's head probe() sees at most. */
#define IMAGE_PROBE_BYTES 65536u
/* How many bytes of a file's end probe_tail() sees at most (a fixed VHD's
 * footer is its last 512 bytes). */
#define IMAGE_PROBE_TAIL_BYTES 512u

struct image {
    const struct image_format *fmt;
    int fd;
    char *path;
    bool read_only;
    uint64_t size;              /* virtual size in bytes: open() sets it */
    struct image *parent;       /* NULL: reads of unallocated blocks give zeros */
    void *priv;                 /* the format's state */
    pthread_mutex_t *lock;      /* the chain's lock (image.c) */
    uint8_t *bounce;            /* image_vec.c's buffer for FORMAT runs */
    bool no_nowait_write;       /* the file system refused RWF_NOWAIT writes once */
};

/* A run of the disk as map() reports it. */
enum image_extent_kind {
    IMAGE_EXT_DATA,             /* the guest's bytes as they are, at pos in fd */
    IMAGE_EXT_ZERO,             /* reads as zeros */
    IMAGE_EXT_PARENT,           /* reads as img->parent does (zeros without one) */
    IMAGE_EXT_FORMAT,           /* only the format's read()/write() can do it */
};
struct image_extent {
    enum image_extent_kind kind;
    int fd;                     /* DATA: the file (a VMDK extent has its own) */
    uint64_t pos;               /* DATA: where the run starts in fd */
    uint64_t len;               /* bytes: whole sectors, more than 0 */
};
/* map()'s flags */
#define IMAGE_MAP_WRITE 1u      /* the run is to be written */
#define IMAGE_MAP_NOWAIT 2u     /* no reads of metadata: -EAGAIN instead */

/* Where a child's parent is: by file name (qcow2, VHD, VMDK), or only by
 * UUID (VDI: image.c then looks for an image with that UUID beside the child
 * and in the directory above). */
struct image_parent_ref {
    char *path;                 /* malloc'd, relative to the child's directory, or NULL */
    bool has_uuid;
    uint8_t uuid[16];
};

typedef struct image_format {
    const char *name;           /* lower case: "vdi" */
    /* 0: not this format; 100: its magic matched; raw answers 1. head holds
     * the first min(file size, IMAGE_PROBE_BYTES) bytes. */
    int (*probe)(const uint8_t *head, size_t len, uint64_t file_size);
    /* Reads and validates the header and maps (img->fd is open), sets
     * img->size and img->priv, and fills *parent if the image has one.
     * -1 after image_error() (image.c puts the file's name in front), with
     * everything it allocated freed. A format that cannot be written (ISO)
     * may set img->read_only. */
    int (*open)(struct image *img, struct image_parent_ref *parent);
    void (*close)(struct image *img);
    /* Sector-aligned; a block the image does not hold is read from
     * img->parent with image_read_chain(), or zero-filled without one. */
    int (*read)(struct image *img, uint64_t off, void *buf, size_t len);
    int (*write)(struct image *img, uint64_t off, const void *buf, size_t len);
    /* Optional: what the run of the disk from off is (at most len bytes,
     * both whole sectors, within the disk): image_vec.c cuts a scattered
     * request into runs with it, so that file data moves in one
     * preadv/pwritev straight between the guest's buffers and the file.
     * A format may answer one block at a time (image_vec.c joins runs).
     * ZERO and PARENT only for reads; with IMAGE_MAP_WRITE, DATA only
     * where the data is all a write changes (an allocated block, no map
     * or bitmap update). With IMAGE_MAP_NOWAIT, -EAGAIN where the answer
     * needs metadata read from the file. 0, or -EIO after image_error()
     * (corrupt metadata). NULL: a request goes buffer by buffer through
     * read()/write(). */
    int (*map)(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *out);
    /* map() only reads what open() and writes set up, nothing it loads or
     * caches itself (raw, VDI): image_try_readv_beside may call it, with
     * no lock, beside a read running on another thread. */
    bool map_in_memory;
    int (*flush)(struct image *img);                              /* NULL: fdatasync */
    void (*start_writeback)(struct image *img);  /* NULL: the image file's (image_fd_start_writeback) */
    int (*discard)(struct image *img, uint64_t off, uint64_t len); /* NULL: nothing */
    /* Writes a new image into fd (empty, opened read-write). o->size is
     * set (a child's is its parent's); parent is open when o->parent is set.
     * NULL: the format cannot be created (stream-optimized, ISO). */
    int (*create)(int fd, const char *path, const struct image_create_opts *o, struct image *parent);
    int (*resize)(struct image *img, uint64_t new_size);          /* NULL: unsupported */
    int (*compact)(struct image *img);                            /* NULL: unsupported */
    /* Fills what it knows; image.c fills format, virtual_size, file_size
     * and parent_path first. */
    void (*info)(struct image *img, struct image_info *info);
    /* Checks the metadata; one note per problem; returns the count. */
    int (*check)(struct image *img, image_note_fn note, void *opaque);
    /* Optional, for formats known by their end: like probe(), on the last
     * min(file size, IMAGE_PROBE_TAIL_BYTES) bytes. A format's score is the
     * higher of its two probes. */
    int (*probe_tail)(const uint8_t *tail, size_t len, uint64_t file_size);
} image_format;

#define IMAGE_FORMAT_REGISTER(f)                                               \
    __attribute__((used, section("caixa_image_formats"))) static const image_format *const f##_reg_ = &(f)

/* For format files. */
void image_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads from a parent chain without taking its lock (the caller holds the
 * chain's); zero-fills when img is NULL. */
int image_read_chain(struct image *img, uint64_t off, void *buf, size_t len);
/* What image_read() and image_write() check first, for image_vec.c: 0, or
 * -EINVAL / -EROFS after image_error(). */
int image_check_range(const struct image *img, const char *what, uint64_t off, uint64_t len);
int image_check_writable(const struct image *img, const char *what);
/* pread/pwrite of exactly len bytes (retrying short transfers); 0 or -errno.
 * A read past the end of the file gives zeros. */
int image_pread(int fd, void *buf, size_t len, uint64_t off);
int image_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* The same over iovecs: preadv/pwritev, short transfers finished buffer by
 * buffer. */
int image_preadv(int fd, const struct iovec *iov, int iovcnt, uint64_t off);
int image_pwritev(int fd, const struct iovec *iov, int iovcnt, uint64_t off);
/* Allocates [off, end) of fd on the host, reading as zeros (fallocate, or
 * writing zeros where the file system cannot): Fixed variants. 0 or -errno. */
int image_allocate(int fd, uint64_t off, uint64_t end);
/* Starts the host's writeback of fd's dirty pages, without waiting. */
void image_fd_start_writeback(int fd);
/* The size of a regular file or block device; 0 or -errno. */
int image_file_size(int fd, uint64_t *size);
/* to_file's path relative to the directory holding from_file (both must
 * exist), for parent references; malloc'd. Falls back to to_file as given. */
char *image_path_relative(const char *from_file, const char *to_file);
/* A random RFC 4122 version 4 UUID. */
void image_new_uuid(uint8_t uuid[16]);

#endif
