/* qcow2 images (QEMU's format), private to src/storage/: the layout's
 * constants, the open image's state, and what qcow2.c, qcow2_refcount.c,
 * qcow2_create.c and qcow2_check.c share. Facts from QEMU's
 * docs/interop/qcow2.txt ("spec" below). */
#ifndef CAIXA_STORAGE_QCOW2_INT_H
#define CAIXA_STORAGE_QCOW2_INT_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/format.h"

/* spec "Header": magic "QFI\xfb", versions 2 and 3. */
#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER_LEN 72u
#define QCOW2_V3_HEADER_MIN 104u
/* Header field offsets (spec "Header"). */
#define QH_MAGIC 0
#define QH_VERSION 4
#define QH_BACKING_OFFSET 8
#define QH_BACKING_SIZE 16
#define QH_CLUSTER_BITS 20
#define QH_SIZE 24
#define QH_CRYPT_METHOD 32
#define QH_L1_SIZE 36
#define QH_L1_OFFSET 40
#define QH_RT_OFFSET 48
#define QH_RT_CLUSTERS 56
#define QH_NB_SNAPSHOTS 60
#define QH_SNAPSHOTS_OFFSET 64
#define QH_INCOMPAT 72
#define QH_COMPAT 80
#define QH_AUTOCLEAR 88
#define QH_REFCOUNT_ORDER 96
#define QH_HEADER_LENGTH 100
#define QH_COMPRESSION_TYPE 104
/* What caixa writes for version 3: through compression_type, padded to 8. */
#define QCOW2_V3_HEADER_LEN 112u

/* spec: cluster_bits >= 9; QEMU opens at most 2 MiB clusters. */
#define QCOW2_MIN_CLUSTER_BITS 9u
#define QCOW2_MAX_CLUSTER_BITS 21u
/* QEMU's implementation limits (spec, notes on size and refcount table):
 * 32 MiB of L1 table, 8 MiB of refcount table. Bounding what a header can
 * make us allocate. */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (8u << 20)
#define QCOW2_MAX_BACKING_NAME 1023u        /* spec: backing_file_size */
#define QCOW2_MAX_SNAPSHOTS 65536u          /* QEMU's limit */
#define QCOW2_MAX_REFCOUNT_ORDER 6u         /* spec: refcount_bits <= 64 */
#define QCOW2_V2_REFCOUNT_ORDER 4u          /* spec: version 2 is always 16-bit */

/* incompatible_features bits (spec, header bytes 72-79). */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

/* Header extension types (spec "Header extensions"). */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau

/* L1/L2 entries (spec "Cluster mapping"). */
#define QCOW2_OFLAG_COPIED (1ull << 63)     /* refcount exactly one */
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull               /* v3 standard descriptor bit 0 */
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull  /* bits 9-55 */
/* Host offsets must stay below 64 PB (56 bits). */
#define QCOW2_MAX_HOST_BITS 56u
/* Compressed descriptors count 512-byte sectors. */
#define QCOW2_COMPRESSED_SECTOR 512u

/* Refcount table entries: bits 9-63 are the block's offset. */
#define QCOW2_RT_OFFSET_MASK 0xfffffffffffffe00ull

/* What an L2 entry says about its guest cluster. */
enum qcow2_kind {
    QK_UNALLOC,     /* read from the backing file or zeros */
    QK_ZERO,        /* reads as zeros; host may hold a preallocated cluster */
    QK_NORMAL,      /* data at host */
    QK_COMPRESSED,  /* deflate data at host, nsect sectors */
};

struct qcow2_slot {
    uint64_t host;      /* cluster offset in the file; 0: empty slot */
    uint64_t used;      /* LRU stamp */
    uint8_t *data;      /* one cluster, as on disk (big-endian) */
};

struct qcow2_cache {
    unsigned n;
    struct qcow2_slot *slot;
};

struct qcow2 {
    unsigned version;
    unsigned cluster_bits;
    uint64_t cluster_size;
    uint64_t l2_entries;        /* cluster_size / 8 */
    uint64_t l1_size;           /* entries */
    uint64_t l1_offset;
    uint64_t *l1;               /* host byte order */
    uint64_t rt_offset;
    uint64_t rt_clusters;
    uint64_t rt_entries;        /* rt_clusters * cluster_size / 8 */
    uint64_t *rt;               /* host byte order */
    unsigned refcount_order;
    unsigned refcount_bits;
    uint64_t rb_entries;        /* refcounts per block */
    uint64_t rc_max;
    uint32_t header_length;
    uint64_t incompat, compat, autoclear;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    bool has_backing;
    char backing_format[32];    /* from the extension, "" if none */
    uint64_t file_size;         /* at open */

    struct qcow2_cache l2c;     /* L2 tables */
    struct qcow2_cache rbc;     /* refcount blocks */
    uint64_t lru;

    /* Allocation: first cluster index that may be free, and the index past
     * everything allocated or in the file. [resv_lo, resv_hi) is being
     * refcounted right now: new refcount blocks go elsewhere. */
    uint64_t free_hint;
    uint64_t end;
    uint64_t resv_lo, resv_hi;

    /* The last decompressed cluster (keyed by its L2 entry). */
    uint8_t *zbuf;
    uint64_t zkey;
    bool zvalid;
    uint8_t *cbuf;              /* a cluster buffer for COW and reads */
    uint8_t *cin;               /* compressed input, 2 clusters */
};

static inline uint64_t q_be64(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return be64toh(v);
}

static inline uint32_t q_be32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return be32toh(v);
}

static inline void q_put64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    __builtin_memcpy(p, &v, 8);
}

static inline void q_put32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    __builtin_memcpy(p, &v, 4);
}

static inline struct qcow2 *Q(struct image *img)
{
    return img->priv;
}

/* Decodes an L2 entry: kind, host offset (data or compressed start) and,
 * for compressed clusters, the bytes the deflate data may span. */
enum qcow2_kind qcow2_decode(const struct qcow2 *q, uint64_t e, uint64_t *host, uint64_t *clen);

/* Caches (qcow2.c): the cluster at host, read from the file on a miss
 * (load) or zero-filled (!load: a newly allocated table). */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t cluster_size);
void qcow2_cache_free(struct qcow2_cache *c);
int qcow2_cache_get(struct image *img, struct qcow2_cache *c, uint64_t host, bool load, uint8_t **out);

/* Refcounts (qcow2_refcount.c). -1 after image_error(). */
int qcow2_rc_get(struct image *img, uint64_t cl, uint64_t *rc);
int qcow2_rc_change(struct image *img, uint64_t cl, int delta);
/* Releases one reference to each cluster of [off, off + len). */
int qcow2_rc_release(struct image *img, uint64_t off, uint64_t len);
/* One free cluster (refcount now 1): its file offset. */
int qcow2_alloc(struct image *img, uint64_t *host);
/* n contiguous free clusters past everything allocated. */
int qcow2_alloc_contig(struct image *img, uint64_t n, uint64_t *host);

/* qcow2_create.c */
int qcow2_create(int fd, const char *path, const struct image_create_opts *o, struct image *parent);
int qcow2_resize(struct image *img, uint64_t new_size);

/* The refcount block of range r (NULL: none), and its entry i. */
int qcow2_rb_load(struct image *img, uint64_t r, const uint8_t **blk);
uint64_t qcow2_rb_get(const struct qcow2 *q, const uint8_t *blk, uint64_t i);
/* Sets entry i of a refcount block to v. */
void qcow2_rb_set(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v);
/* Empties a cache (the tables it holds were replaced). */
void qcow2_cache_drop_all(struct qcow2_cache *c);

/* qcow2_check.c */
int qcow2_check(struct image *img, image_note_fn note, void *opaque);
/* Rebuilds the refcounts of a dirty image and clears the dirty bit. */
int qcow2_repair(struct image *img);

/* Byte errors: "qcow2: what: strerror" and returns -1. */
int qcow2_io_error(const char *what, uint64_t off, int rc);

#endif
