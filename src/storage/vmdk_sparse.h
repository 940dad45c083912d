/* Sparse extents of VMDK images (VMware Virtual Disk Format 1.1, section
 * 4): monolithicSparse files, the extents of split sparse disks, and
 * stream-optimized (compressed, read-only) files. Private to vmdk.c. */
#ifndef CAIXA_STORAGE_VMDK_SPARSE_H
#define CAIXA_STORAGE_VMDK_SPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/format.h"

#define VMDK_MAGIC 0x564d444bu        /* "KDMV" read as little-endian */
#define VMDK_HEADER_SIZE 512u
#define VMDK_H_DESC_OFFSET 28         /* embedded descriptor: first sector */
#define VMDK_H_DESC_SIZE 36           /* ... and sectors */

/* What caixa creates: 64 KiB grains, 512 entries per GT (the spec's and
 * VMware's defaults), a 20-sector descriptor area. */
#define VMDK_NEW_GRAIN_SECTORS 128u
#define VMDK_NEW_GTES 512u
#define VMDK_NEW_DESC_SECTORS 20u

struct vmdk_sparse;

/* Validates the header hdr (read from the file's start) and loads the
 * grain directory. path must outlive the extent. NULL after image_error(). */
struct vmdk_sparse *vmdk_sparse_open(int fd, const char *path, const uint8_t *hdr, bool writable);
void vmdk_sparse_free(struct vmdk_sparse *sp);
uint64_t vmdk_sparse_capacity(const struct vmdk_sparse *sp);   /* sectors */
bool vmdk_sparse_compressed(const struct vmdk_sparse *sp);

/* n bytes at byte rel of the extent, whose first byte is the disk's byte
 * base; unallocated grains come from parent (zeros without one). */
int vmdk_sparse_read(struct vmdk_sparse *sp, struct image *parent, uint64_t base, uint64_t rel, uint8_t *p,
                     size_t n);
int vmdk_sparse_write(struct vmdk_sparse *sp, struct image *parent, uint64_t base, uint64_t rel,
                      const uint8_t *p, size_t n);
/* The run at byte rel of the extent, at most len bytes, as format.h's
 * map() says it (a PARENT run's bytes are the disk's at the same place). */
int vmdk_sparse_map(struct vmdk_sparse *sp, uint64_t rel, uint64_t len, unsigned flags, struct image_extent *out);
/* One note per problem, counted in *n. */
void vmdk_sparse_check(struct vmdk_sparse *sp, image_note_fn note, void *opaque, int *n);

/* The metadata of a new monolithicSparse file of capacity sectors with the
 * descriptor text desc embedded. */
int vmdk_sparse_create(int fd, uint64_t capacity, const char *desc);

/* A check note: at most 100 are passed on, all are counted. */
void vmdk_note(image_note_fn note, void *opaque, int *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
