/* qcow2 images (QEMU's format, docs/interop/qcow2.txt "spec"): versions 2
 * and 3, read and write, backing files, compressed clusters (zlib) read.
 * This file: probe, open (header validation), the L2 and refcount-block
 * caches, read, write, discard, info. Refcounts and allocation are in
 * qcow2_refcount.c, create and resize in qcow2_create.c, the consistency
 * check in qcow2_check.c.
 *
 * Metadata is written through (never only cached): a write that returned
 * is in the file, so it survives kill -9. Order of every allocating write:
 * the new cluster's refcount, then its data, then the L2 entry pointing to
 * it (a new L2 table is written before the L1 entry naming it), then the
 * old cluster's refcount is dropped. A crash leaks clusters at worst. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "runtime/util.h"
#include "storage/qcow2_int.h"

/* Cache sizes: about this many bytes of tables, within the slot bounds. */
#define L2_CACHE_BYTES (4u << 20)
#define L2_CACHE_MIN 4u
#define L2_CACHE_MAX 64u
#define RB_CACHE_BYTES (1u << 20)
#define RB_CACHE_MIN 2u
#define RB_CACHE_MAX 16u
/* spec "Header extensions": entries are padded to 8 bytes. */
#define EXT_ALIGN 8u

int qcow2_io_error(const char *what, uint64_t off, int rc)
{
    image_error("qcow2: %s at %llu: %s", what, (unsigned long long)off, strerror(rc < 0 ? -rc : EIO));
    return -1;
}

/* --- caches ------------------------------------------------------------------- */

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t cluster_size)
{
    (void)cluster_size;
    c->n = n;
    c->slot = xcalloc(n, sizeof *c->slot);
    return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    for (unsigned i = 0; i < c->n; i++)
        free(c->slot ? c->slot[i].data : NULL);
    free(c->slot);
    c->slot = NULL;
    c->n = 0;
}

int qcow2_cache_get(struct image *img, struct qcow2_cache *c, uint64_t host, bool load, uint8_t **out)
{
    struct qcow2 *q = Q(img);
    for (unsigned i = 0; i < c->n; i++) {
        struct qcow2_slot *s = &c->slot[i];
        if (s->host == host && s->data) {
            s->used = ++q->lru;
            if (!load)
                memset(s->data, 0, q->cluster_size);
            *out = s->data;
            return 0;
        }
    }
    /* A miss: an empty slot, else the least recently used. */
    struct qcow2_slot *victim = &c->slot[0];
    for (unsigned i = 0; i < c->n; i++) {
        struct qcow2_slot *s = &c->slot[i];
        if (!s->data || !s->host) {
            victim = s;
            break;
        }
        if (s->used < victim->used)
            victim = s;
    }
    if (!victim->data)
        victim->data = xmalloc(q->cluster_size);
    victim->host = 0;
    if (load) {
        int rc = image_pread(img->fd, victim->data, q->cluster_size, host);
        if (rc < 0)
            return qcow2_io_error("reading a table", host, rc);
    } else {
        memset(victim->data, 0, q->cluster_size);
    }
    victim->host = host;
    victim->used = ++q->lru;
    *out = victim->data;
    return 0;
}

/* The table at host if the cache holds it, else NULL. */
static uint8_t *cache_peek(struct qcow2_cache *c, uint64_t host)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->slot[i].host == host && c->slot[i].data)
            return c->slot[i].data;
    return NULL;
}

static void cache_drop(struct qcow2_cache *c, uint64_t host)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->slot[i].host == host)
            c->slot[i].host = 0;
}

void qcow2_cache_drop_all(struct qcow2_cache *c)
{
    for (unsigned i = 0; i < c->n; i++)
        c->slot[i].host = 0;
}

static unsigned cache_slots(uint64_t bytes, uint64_t cluster_size, unsigned lo, unsigned hi)
{
    uint64_t n = bytes / cluster_size;
    return n < lo ? lo : n > hi ? hi : (unsigned)n;
}

/* --- entries ------------------------------------------------------------------ */

enum qcow2_kind qcow2_decode(const struct qcow2 *q, uint64_t e, uint64_t *host, uint64_t *clen)
{
    *clen = 0;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        /* spec "Compressed Clusters Descriptor": x = 62 - (cluster_bits - 8)
         * bits of byte offset, then the count of extra 512-byte sectors. */
        unsigned x = 62 - (q->cluster_bits - 8);
        uint64_t sect_mask = (1ull << (q->cluster_bits - 8)) - 1;
        *host = e & ((1ull << x) - 1);
        uint64_t nsect = ((e >> x) & sect_mask) + 1;
        *clen = nsect * QCOW2_COMPRESSED_SECTOR - (*host & (QCOW2_COMPRESSED_SECTOR - 1));
        return QK_COMPRESSED;
    }
    *host = e & QCOW2_OFFSET_MASK;
    if (q->version >= 3 && (e & QCOW2_OFLAG_ZERO))
        return QK_ZERO;
    return *host ? QK_NORMAL : QK_UNALLOC;
}

static int corrupt(const char *what, uint64_t v)
{
    image_error("qcow2: corrupt image: %s (0x%llx)", what, (unsigned long long)v);
    return -1;
}

/* The L2 entry of guest cluster vcl (0: unallocated). nowait: -EAGAIN
 * where its table is not in the cache. */
static int l2_lookup(struct image *img, uint64_t vcl, bool nowait, uint64_t *e)
{
    struct qcow2 *q = Q(img);
    uint64_t l1i = vcl / q->l2_entries, l2i = vcl % q->l2_entries;
    *e = 0;
    if (l1i >= q->l1_size)
        return 0;
    uint64_t l2 = q->l1[l1i] & QCOW2_OFFSET_MASK;
    if (!l2)
        return 0;
    if (l2 & (q->cluster_size - 1))
        return corrupt("unaligned L2 table offset", l2);
    uint8_t *t = nowait ? cache_peek(&q->l2c, l2) : NULL;
    if (nowait && !t)
        return -EAGAIN;
    if (!t && qcow2_cache_get(img, &q->l2c, l2, true, &t) < 0)
        return -1;
    *e = q_be64(t + l2i * 8);
    return 0;
}

/* The L2 table of L1 index l1i for writing: allocated (zeroed, then named
 * by the L1 entry) if there is none. */
static int l2_for_write(struct image *img, uint64_t l1i, uint8_t **tbl, uint64_t *l2host)
{
    struct qcow2 *q = Q(img);
    uint64_t l1e = q->l1[l1i], l2 = l1e & QCOW2_OFFSET_MASK;
    if (l2) {
        if (l2 & (q->cluster_size - 1))
            return corrupt("unaligned L2 table offset", l2);
        if (!(l1e & QCOW2_OFLAG_COPIED)) {
            /* Only a table referenced once may be changed in place. */
            uint64_t rc;
            if (qcow2_rc_get(img, l2 >> q->cluster_bits, &rc) < 0)
                return -1;
            if (rc != 1) {
                image_error("qcow2: L2 table at 0x%llx is shared (refcount %llu): not supported for writing",
                            (unsigned long long)l2, (unsigned long long)rc);
                return -1;
            }
            uint8_t b[8];
            q_put64(b, l1e | QCOW2_OFLAG_COPIED);
            int r = image_pwrite(img->fd, b, 8, q->l1_offset + l1i * 8);
            if (r < 0)
                return qcow2_io_error("writing the L1 table", q->l1_offset + l1i * 8, r);
            q->l1[l1i] = l1e | QCOW2_OFLAG_COPIED;
        }
        *l2host = l2;
        return qcow2_cache_get(img, &q->l2c, l2, true, tbl);
    }
    uint64_t h;
    if (qcow2_alloc(img, &h) < 0)
        return -1;
    uint8_t *t;
    if (qcow2_cache_get(img, &q->l2c, h, false, &t) < 0)
        return -1;
    int r = image_pwrite(img->fd, t, q->cluster_size, h);
    if (r < 0) {
        cache_drop(&q->l2c, h);
        return qcow2_io_error("writing an L2 table", h, r);
    }
    uint8_t b[8];
    q_put64(b, h | QCOW2_OFLAG_COPIED);
    r = image_pwrite(img->fd, b, 8, q->l1_offset + l1i * 8);
    if (r < 0)
        return qcow2_io_error("writing the L1 table", q->l1_offset + l1i * 8, r);
    q->l1[l1i] = h | QCOW2_OFLAG_COPIED;
    *tbl = t;
    *l2host = h;
    return 0;
}

/* Sets the L2 entry of guest cluster vcl (allocating its table). */
static int l2_set(struct image *img, uint64_t vcl, uint64_t e)
{
    struct qcow2 *q = Q(img);
    uint64_t l1i = vcl / q->l2_entries, l2i = vcl % q->l2_entries;
    uint8_t *t = NULL;
    uint64_t l2 = 0;
    if (l2_for_write(img, l1i, &t, &l2) < 0)
        return -1;
    q_put64(t + l2i * 8, e);
    int r = image_pwrite(img->fd, t + l2i * 8, 8, l2 + l2i * 8);
    if (r < 0) {
        cache_drop(&q->l2c, l2);
        return qcow2_io_error("writing an L2 table", l2 + l2i * 8, r);
    }
    return 0;
}

/* Gives back what an old L2 entry held in the file. */
static int release_entry(struct image *img, uint64_t e)
{
    struct qcow2 *q = Q(img);
    uint64_t host, clen;
    switch (qcow2_decode(q, e, &host, &clen)) {
    case QK_NORMAL:
    case QK_ZERO:
        return host ? qcow2_rc_release(img, host, q->cluster_size) : 0;
    case QK_COMPRESSED:
        return qcow2_rc_release(img, host, clen);
    case QK_UNALLOC:
        break;
    }
    return 0;
}

/* --- read --------------------------------------------------------------------- */

/* Inflates the compressed cluster of entry e into q->zbuf. */
static int inflate_cluster(struct image *img, uint64_t e, uint64_t host, uint64_t clen)
{
    struct qcow2 *q = Q(img);
    if (q->zvalid && q->zkey == e)
        return 0;
    if (clen > 2 * q->cluster_size)
        return corrupt("compressed cluster too long", e);
    int r = image_pread(img->fd, q->cin, clen, host);
    if (r < 0)
        return qcow2_io_error("reading a compressed cluster", host, r);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* Raw deflate (no zlib header); the widest window reads any. */
    if (inflateInit2(&zs, -15) != Z_OK) {
        image_error("qcow2: zlib: cannot initialise");
        return -1;
    }
    zs.next_in = q->cin;
    zs.avail_in = (uInt)clen;
    zs.next_out = q->zbuf;
    zs.avail_out = (uInt)q->cluster_size;
    int zr = inflate(&zs, Z_FINISH);
    bool ok = (zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && zs.avail_out == 0;
    inflateEnd(&zs);
    if (!ok)
        return corrupt("compressed cluster does not inflate to a cluster", e);
    q->zkey = e;
    q->zvalid = true;
    return 0;
}

static int q_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    struct qcow2 *q = Q(img);
    uint8_t *b = buf;
    uint64_t C = q->cluster_size;
    while (len) {
        uint64_t vcl = off >> q->cluster_bits, o = off & (C - 1);
        uint64_t e, host, clen;
        if (l2_lookup(img, vcl, false, &e) < 0)
            return -EIO;
        enum qcow2_kind k = qcow2_decode(q, e, &host, &clen);
        size_t n = len < C - o ? len : (size_t)(C - o);
        /* Runs of clusters read alike (contiguous in the file, or all
         * unallocated, or all zero) take one call. */
        while (k != QK_COMPRESSED && n < len) {
            uint64_t ncl = vcl + ((o + n) >> q->cluster_bits), e2, h2, l2;
            if (l2_lookup(img, ncl, false, &e2) < 0)
                return -EIO;
            if (qcow2_decode(q, e2, &h2, &l2) != k || (k == QK_NORMAL && h2 != host + (ncl - vcl) * C))
                break;
            n += len - n < C ? len - n : (size_t)C;
        }
        int r = 0;
        switch (k) {
        case QK_UNALLOC:
            r = image_read_chain(img->parent, off, b, n);
            break;
        case QK_ZERO:
            memset(b, 0, n);
            break;
        case QK_NORMAL:
            if (host & (C - 1))
                return corrupt("unaligned data cluster offset", e), -EIO;
            r = image_pread(img->fd, b, n, host + o);
            if (r < 0)
                return qcow2_io_error("read", host + o, r), r;
            break;
        case QK_COMPRESSED:
            if (inflate_cluster(img, e, host, clen) < 0)
                return -EIO;
            memcpy(b, q->zbuf + o, n);
            break;
        }
        if (r < 0)
            return r;
        b += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* The whole guest cluster vcl as it reads now (zeros past the disk's end). */
static int read_cluster(struct image *img, uint64_t vcl, uint8_t *out)
{
    struct qcow2 *q = Q(img);
    uint64_t start = vcl << q->cluster_bits;
    uint64_t n = img->size - start < q->cluster_size ? img->size - start : q->cluster_size;
    if (n < q->cluster_size)
        memset(out + n, 0, q->cluster_size - n);
    return q_read(img, start, out, n);
}

/* --- write -------------------------------------------------------------------- */

/* Writes n bytes at off, inside one guest cluster. */
static int write_in_cluster(struct image *img, uint64_t off, const uint8_t *data, size_t n)
{
    struct qcow2 *q = Q(img);
    uint64_t C = q->cluster_size, vcl = off >> q->cluster_bits, o = off & (C - 1);
    uint64_t e, host, clen;
    if (l2_lookup(img, vcl, false, &e) < 0)
        return -EIO;
    enum qcow2_kind k = qcow2_decode(q, e, &host, &clen);
    if (k == QK_NORMAL && (e & QCOW2_OFLAG_COPIED)) {
        if (host & (C - 1))
            return corrupt("unaligned data cluster offset", e), -EIO;
        int r = image_pwrite(img->fd, data, n, host + o);
        return r < 0 ? (qcow2_io_error("write", host + o, r), r) : 0;
    }
    /* A partial write into a cluster that reads as zeros: the new cluster
     * is zeroed by the file system (no 64 KiB of zeros written), then the
     * bytes go in. Where fallocate cannot, the whole cluster is written. */
    bool zeros = k == QK_ZERO || (k == QK_UNALLOC && !img->parent);
    bool in_place = k == QK_ZERO && host && (e & QCOW2_OFLAG_COPIED) && !(host & (C - 1));
    uint64_t dst = host;
    if (n < C && zeros) {
        if (!in_place && qcow2_alloc(img, &dst) < 0)
            return -EIO;
        if (fallocate(img->fd, FALLOC_FL_ZERO_RANGE, (off_t)dst, (off_t)C) == 0) {
            int r = image_pwrite(img->fd, data, n, dst + o);
            if (r < 0)
                return qcow2_io_error("write", dst + o, r), r;
        } else {
            memset(q->cbuf, 0, C);
            memcpy(q->cbuf + o, data, n);
            int r = image_pwrite(img->fd, q->cbuf, C, dst);
            if (r < 0)
                return qcow2_io_error("write", dst, r), r;
        }
        if (l2_set(img, vcl, dst | QCOW2_OFLAG_COPIED) < 0)
            return -EIO;
        return !in_place && release_entry(img, e) < 0 ? -EIO : 0;
    }
    /* The cluster's new content, whole. */
    const uint8_t *src = data;
    if (n < C) {
        if (read_cluster(img, vcl, q->cbuf) < 0)
            return -EIO;
        memcpy(q->cbuf + o, data, n);
        src = q->cbuf;
    }
    /* A preallocated zero cluster of our own is filled in place. */
    if (!in_place && qcow2_alloc(img, &dst) < 0)
        return -EIO;
    int r = image_pwrite(img->fd, src, C, dst);
    if (r < 0)
        return qcow2_io_error("write", dst, r), r;
    if (l2_set(img, vcl, dst | QCOW2_OFLAG_COPIED) < 0)
        return -EIO;
    if (!in_place && release_entry(img, e) < 0)
        return -EIO;
    return 0;
}

static int q_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    struct qcow2 *q = Q(img);
    const uint8_t *b = buf;
    while (len) {
        uint64_t o = off & (q->cluster_size - 1);
        size_t n = len < q->cluster_size - o ? len : (size_t)(q->cluster_size - o);
        int r = write_in_cluster(img, off, b, n);
        if (r < 0)
            return r;
        b += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* --- map ---------------------------------------------------------------------- */

/* One guest cluster's run (image_vec.c joins them). A write goes to the
 * file as it is only into a cluster of our own (COPIED): anything else
 * allocates. */
static int q_map(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *x)
{
    struct qcow2 *q = Q(img);
    uint64_t C = q->cluster_size, o = off & (C - 1);
    uint64_t e, host, clen;
    int rc = l2_lookup(img, off >> q->cluster_bits, flags & IMAGE_MAP_NOWAIT, &e);
    if (rc < 0)
        return rc == -EAGAIN ? rc : -EIO;
    bool write = flags & IMAGE_MAP_WRITE;
    *x = (struct image_extent){.kind = IMAGE_EXT_FORMAT, .fd = img->fd, .len = len < C - o ? len : C - o};
    switch (qcow2_decode(q, e, &host, &clen)) {
    case QK_NORMAL:
        if (host & (C - 1))
            return corrupt("unaligned data cluster offset", e), -EIO;
        if (!write || (e & QCOW2_OFLAG_COPIED)) {
            x->kind = IMAGE_EXT_DATA;
            x->pos = host + o;
        }
        break;
    case QK_ZERO:
        if (!write)
            x->kind = IMAGE_EXT_ZERO;
        break;
    case QK_UNALLOC:
        if (!write)
            x->kind = IMAGE_EXT_PARENT;
        break;
    case QK_COMPRESSED:
        break;
    }
    return 0;
}

/* --- discard ------------------------------------------------------------------ */

/* Whole clusters only. With a backing file the cluster must keep reading
 * as zeros: the v3 zero flag; a v2 image cannot say so and keeps its data. */
static int q_discard(struct image *img, uint64_t off, uint64_t len)
{
    struct qcow2 *q = Q(img);
    uint64_t C = q->cluster_size;
    if (img->parent && q->version < 3)
        return 0;
    uint64_t end = off + len;
    if (end == img->size)
        end = align_up(end, C);     /* the last, partial cluster counts whole */
    uint64_t first = align_up(off, C) >> q->cluster_bits, last = end >> q->cluster_bits;
    uint64_t want = img->parent ? QCOW2_OFLAG_ZERO : 0;
    for (uint64_t vcl = first; vcl < last; vcl++) {
        uint64_t e, host, clen;
        if (l2_lookup(img, vcl, false, &e) < 0)
            return -EIO;
        enum qcow2_kind k = qcow2_decode(q, e, &host, &clen);
        if (e == want || (k == QK_ZERO && !host) || (k == QK_UNALLOC && !img->parent))
            continue;
        if (l2_set(img, vcl, want) < 0 || release_entry(img, e) < 0)
            return -EIO;
    }
    return 0;
}

/* --- probe and open ----------------------------------------------------------- */

static int q_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
    (void)file_size;
    if (len < 4 || q_be32(head + QH_MAGIC) != QCOW2_MAGIC)
        return 0;
    /* A truncated header is still ours: open says what is wrong. */
    if (len < 8)
        return 100;
    uint32_t v = q_be32(head + QH_VERSION);
    return v == 2 || v == 3 ? 100 : 0;
}

static void q_free(struct qcow2 *q)
{
    if (!q)
        return;
    qcow2_cache_free(&q->l2c);
    qcow2_cache_free(&q->rbc);
    free(q->l1);
    free(q->rt);
    free(q->zbuf);
    free(q->cbuf);
    free(q->cin);
    free(q);
}

static void q_close(struct image *img)
{
    q_free(Q(img));
    img->priv = NULL;
}

static int fail(struct qcow2 *q, struct image *img, const char *fmt, uint64_t v)
{
    image_error(fmt, (unsigned long long)v);
    q_free(q);
    img->priv = NULL;
    return -1;
}

/* Names the incompatible features caixa does not implement. */
static const struct {
    uint64_t bit;
    const char *what;
} unsupported_incompat[] = {
    {QCOW2_INCOMPAT_DATA_FILE, "external data files"},
    {QCOW2_INCOMPAT_COMPRESSION, "a compression type other than zlib"},
    {QCOW2_INCOMPAT_EXTL2, "extended L2 entries (subclusters)"},
};

/* Reads a table of n big-endian 64-bit entries into host order. */
static int read_table(int fd, uint64_t off, uint64_t n, uint64_t alloc_n, uint64_t **out)
{
    uint64_t *t = xcalloc(alloc_n ? alloc_n : 1, 8);
    int r = image_pread(fd, t, n * 8, off);
    if (r < 0) {
        free(t);
        return r;
    }
    for (uint64_t i = 0; i < n; i++)
        t[i] = be64toh(t[i]);
    *out = t;
    return 0;
}

/* Header extensions (spec "Header extensions") in [pos, end) of cluster 0:
 * only the backing format name is of use here. */
static int parse_extensions(struct qcow2 *q, const uint8_t *h, uint64_t pos, uint64_t end)
{
    while (pos + 8 <= end) {
        uint32_t type = q_be32(h + pos), len = q_be32(h + pos + 4);
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - pos - 8) {
            image_error("qcow2: header extension 0x%08x runs past the header", type);
            return -1;
        }
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            size_t n = len < sizeof q->backing_format - 1 ? len : sizeof q->backing_format - 1;
            memcpy(q->backing_format, h + pos + 8, n);
            q->backing_format[n] = '\0';
        }
        pos += 8 + align_up(len, EXT_ALIGN);
    }
    return 0;
}

static int q_open(struct image *img, struct image_parent_ref *parent)
{
    uint64_t fsize;
    int r = image_file_size(img->fd, &fsize);
    if (r < 0)
        return qcow2_io_error("size", 0, r);
    if (fsize < QCOW2_V2_HEADER_LEN) {
        image_error("qcow2: file too small for a header (%llu bytes)", (unsigned long long)fsize);
        return -1;
    }
    uint8_t hdr[QCOW2_V3_HEADER_LEN];
    memset(hdr, 0, sizeof hdr);
    r = image_pread(img->fd, hdr, fsize < sizeof hdr ? fsize : sizeof hdr, 0);
    if (r < 0)
        return qcow2_io_error("reading the header", 0, r);

    struct qcow2 *q = xcalloc(1, sizeof *q);
    img->priv = q;
    if (q_be32(hdr + QH_MAGIC) != QCOW2_MAGIC)
        return fail(q, img, "qcow2: bad magic%.0llu", 0);
    q->version = q_be32(hdr + QH_VERSION);
    if (q->version != 2 && q->version != 3)
        return fail(q, img, "qcow2: version %llu is not supported (2 and 3 are)", q->version);
    q->cluster_bits = q_be32(hdr + QH_CLUSTER_BITS);
    if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return fail(q, img, "qcow2: cluster_bits %llu outside 9..21", q->cluster_bits);
    uint64_t C = q->cluster_size = 1ull << q->cluster_bits;
    q->l2_entries = C / 8;
    uint64_t size = q_be64(hdr + QH_SIZE);
    if (q_be32(hdr + QH_CRYPT_METHOD))
        return fail(q, img, "qcow2: encrypted images (method %llu) are not supported", q_be32(hdr + QH_CRYPT_METHOD));
    q->l1_size = q_be32(hdr + QH_L1_SIZE);
    q->l1_offset = q_be64(hdr + QH_L1_OFFSET);
    q->rt_offset = q_be64(hdr + QH_RT_OFFSET);
    q->rt_clusters = q_be32(hdr + QH_RT_CLUSTERS);
    q->nb_snapshots = q_be32(hdr + QH_NB_SNAPSHOTS);
    q->snapshots_offset = q_be64(hdr + QH_SNAPSHOTS_OFFSET);
    if (q->version == 2) {
        q->header_length = QCOW2_V2_HEADER_LEN;
        q->refcount_order = QCOW2_V2_REFCOUNT_ORDER;
    } else {
        if (fsize < QCOW2_V3_HEADER_MIN)
            return fail(q, img, "qcow2: file too small for a version 3 header (%llu bytes)", fsize);
        q->incompat = q_be64(hdr + QH_INCOMPAT);
        q->compat = q_be64(hdr + QH_COMPAT);
        q->autoclear = q_be64(hdr + QH_AUTOCLEAR);
        q->refcount_order = q_be32(hdr + QH_REFCOUNT_ORDER);
        q->header_length = q_be32(hdr + QH_HEADER_LENGTH);
        if (q->header_length < QCOW2_V3_HEADER_MIN || q->header_length % 8 || q->header_length > C)
            return fail(q, img, "qcow2: bad header_length %llu", q->header_length);
    }
    for (size_t i = 0; i < ARRAY_SIZE(unsupported_incompat); i++)
        if (q->incompat & unsupported_incompat[i].bit) {
            image_error("qcow2: the image uses %s, which caixa does not support", unsupported_incompat[i].what);
            q_free(q);
            img->priv = NULL;
            return -1;
        }
    uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
    if (q->incompat & ~known)
        return fail(q, img, "qcow2: unknown incompatible features 0x%llx", q->incompat & ~known);
    if (q->header_length > QH_COMPRESSION_TYPE && hdr[QH_COMPRESSION_TYPE] != 0)
        return fail(q, img, "qcow2: compression type %llu is not supported (zlib is)", hdr[QH_COMPRESSION_TYPE]);
    if (q->refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
        return fail(q, img, "qcow2: refcount_order %llu above 6", q->refcount_order);
    q->refcount_bits = 1u << q->refcount_order;
    q->rb_entries = C * 8 / q->refcount_bits;
    q->rc_max = q->refcount_bits == 64 ? UINT64_MAX : (1ull << q->refcount_bits) - 1;

    /* The L1 table: aligned, inside the file, large enough for the disk. */
    if (q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return fail(q, img, "qcow2: L1 table of %llu entries is too large", q->l1_size);
    if (q->l1_size && (q->l1_offset & (C - 1) || q->l1_offset > fsize || q->l1_size * 8 > fsize - q->l1_offset))
        return fail(q, img, "qcow2: L1 table at 0x%llx is unaligned or outside the file", q->l1_offset);
    /* l1_size <= 2^22 and cluster_bits <= 21: no overflow below 2^64. */
    uint64_t max_size = q->l1_size << (2 * q->cluster_bits - 3);
    if (size > max_size)
        return fail(q, img, "qcow2: virtual size %llu does not fit the L1 table", size);
    /* The refcount table: aligned, inside the file, within QEMU's limit. */
    if (q->rt_clusters == 0 || q->rt_clusters * C > QCOW2_MAX_RT_BYTES)
        return fail(q, img, "qcow2: refcount table of %llu clusters is empty or too large", q->rt_clusters);
    if (q->rt_offset & (C - 1) || q->rt_offset == 0 || q->rt_offset > fsize ||
        q->rt_clusters * C > fsize - q->rt_offset)
        return fail(q, img, "qcow2: refcount table at 0x%llx is unaligned or outside the file", q->rt_offset);
    q->rt_entries = q->rt_clusters * C / 8;
    if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return fail(q, img, "qcow2: %llu snapshots is too many", q->nb_snapshots);
    if (q->nb_snapshots && (q->snapshots_offset & (C - 1) || q->snapshots_offset >= fsize))
        return fail(q, img, "qcow2: snapshot table at 0x%llx is unaligned or outside the file",
                    q->snapshots_offset);

    /* Cluster 0: extensions and the backing file name. */
    uint64_t h0len = fsize < C ? fsize : C;
    uint8_t *h0 = xcalloc(1, C);
    r = image_pread(img->fd, h0, h0len, 0);
    if (r < 0) {
        free(h0);
        q_free(q);
        img->priv = NULL;
        return qcow2_io_error("reading the header", 0, r);
    }
    uint64_t boff = q_be64(hdr + QH_BACKING_OFFSET);
    uint32_t blen = q_be32(hdr + QH_BACKING_SIZE);
    if (boff) {
        if (blen == 0 || blen > QCOW2_MAX_BACKING_NAME || boff < q->header_length || boff > h0len ||
            blen > h0len - boff) {
            free(h0);
            return fail(q, img, "qcow2: backing file name at 0x%llx is outside the first cluster", boff);
        }
        q->has_backing = true;
    }
    if (parse_extensions(q, h0, q->header_length, boff ? boff : h0len) < 0) {
        free(h0);
        q_free(q);
        img->priv = NULL;
        return -1;
    }
    if (boff) {
        parent->path = xmalloc(blen + 1);
        memcpy(parent->path, h0 + boff, blen);
        parent->path[blen] = '\0';
        if (strlen(parent->path) != blen) {
            free(h0);
            free(parent->path);
            parent->path = NULL;
            return fail(q, img, "qcow2: backing file name has a NUL byte%.0llu", 0);
        }
    }
    free(h0);

    if (!img->read_only) {
        const char *why = q->incompat & QCOW2_INCOMPAT_CORRUPT ? "is marked corrupt"
                          : q->nb_snapshots ? "has internal snapshots"
                          : NULL;
        if (why) {
            image_error("qcow2: the image %s: it can only be opened read-only", why);
            goto fail_parent;
        }
    }

    r = read_table(img->fd, q->l1_offset, q->l1_size, q->l1_size, &q->l1);
    if (r == 0)
        r = read_table(img->fd, q->rt_offset, q->rt_entries, q->rt_entries, &q->rt);
    if (r < 0) {
        qcow2_io_error("reading the tables", q->l1_offset, r);
        goto fail_parent;
    }
    qcow2_cache_init(&q->l2c, cache_slots(L2_CACHE_BYTES, C, L2_CACHE_MIN, L2_CACHE_MAX), C);
    qcow2_cache_init(&q->rbc, cache_slots(RB_CACHE_BYTES, C, RB_CACHE_MIN, RB_CACHE_MAX), C);
    q->zbuf = xmalloc(C);
    q->cbuf = xmalloc(C);
    q->cin = xmalloc(2 * C);
    q->file_size = fsize;
    q->end = align_up(fsize, C) >> q->cluster_bits;
    q->free_hint = 1;

    /* spec: a dirty image's refcounts must be repaired before use. */
    if (!img->read_only && (q->incompat & QCOW2_INCOMPAT_DIRTY) && qcow2_repair(img) < 0)
        goto fail_parent;
    /* spec: a writer must clear auto-clear bits it does not know first. */
    if (!img->read_only && q->autoclear) {
        uint8_t z[8] = {0};
        r = image_pwrite(img->fd, z, 8, QH_AUTOCLEAR);
        if (r < 0) {
            qcow2_io_error("clearing autoclear features", QH_AUTOCLEAR, r);
            goto fail_parent;
        }
        q->autoclear = 0;
    }
    img->size = align_up(size, IMAGE_SECTOR);
    return 0;

fail_parent:
    free(parent->path);
    parent->path = NULL;
    q_free(q);
    img->priv = NULL;
    return -1;
}

static void q_info(struct image *img, struct image_info *info)
{
    struct qcow2 *q = Q(img);
    info->variant = q->version == 2 ? "dynamic (qcow2 v2, compat 0.10)" : "dynamic (qcow2 v3)";
}

static const image_format qcow2_format = {
    .name = "qcow2",
    .probe = q_probe,
    .open = q_open,
    .close = q_close,
    .read = q_read,
    .write = q_write,
    .map = q_map,
    .flush = NULL,      /* fdatasync: metadata is written through */
    .discard = q_discard,
    .create = qcow2_create,
    .resize = qcow2_resize,
    .info = q_info,
    .check = qcow2_check,
};
IMAGE_FORMAT_REGISTER(qcow2_format);
