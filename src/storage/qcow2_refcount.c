/* qcow2 refcounts and cluster allocation (spec "Host cluster management"):
 * the refcount table (in memory, host order) points at refcount blocks
 * (cached, written through); every cluster in use has a refcount >= 1
 * before anything points at it.
 *
 * A missing refcount block is created inside the range it covers (all of
 * that range is free by definition), so it counts itself. A full refcount
 * table is replaced by a larger one placed past the end of the file,
 * together with the refcount blocks that cover it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/util.h"
#include "storage/qcow2_int.h"

/* Bounds the fixed-point search for a new refcount table's layout. */
#define GROW_MAX_ITER 64
/* Clusters past the end of the file are free in a consistent image: a
 * search for a free cluster gives up this far past it (corrupt refcounts
 * must not make it run for hours). */
#define SCAN_PAST_END (1ull << 20)

static int corrupt(const char *what, uint64_t v)
{
    image_error("qcow2: corrupt refcounts: %s (0x%llx)", what, (unsigned long long)v);
    return -1;
}

static unsigned rb_shift(const struct qcow2 *q)
{
    return q->cluster_bits + 3 - q->refcount_order;   /* log2(rb_entries) */
}

/* Entry i of a refcount block: refcount_bits wide, big-endian for whole
 * bytes, least significant bits first below a byte (spec). */
static uint64_t rb_read(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
    unsigned bits = q->refcount_bits;
    if (bits >= 8) {
        unsigned n = bits / 8;
        uint64_t v = 0;
        for (unsigned k = 0; k < n; k++)
            v = v << 8 | blk[i * n + k];
        return v;
    }
    uint64_t bit = i * bits;
    return (uint64_t)(blk[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
}

/* Sets entry i; *at and *len: the bytes that changed. */
static void rb_write(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v, uint64_t *at, unsigned *len)
{
    unsigned bits = q->refcount_bits;
    if (bits >= 8) {
        unsigned n = bits / 8;
        for (unsigned k = 0; k < n; k++)
            blk[i * n + n - 1 - k] = (uint8_t)(v >> (8 * k));
        *at = i * n;
        *len = n;
        return;
    }
    uint64_t bit = i * bits;
    uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
    blk[bit / 8] = (uint8_t)((blk[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
    *at = bit / 8;
    *len = 1;
}

void qcow2_rb_set(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v)
{
    uint64_t at;
    unsigned len;
    rb_write(q, blk, i, v, &at, &len);
}

static bool in_resv(const struct qcow2 *q, uint64_t cl)
{
    return cl >= q->resv_lo && cl < q->resv_hi;
}

/* Clusters never to be handed out whatever the refcounts say: the header
 * and the active tables (a guard against corrupt refcounts). */
static bool is_fixed_meta(const struct qcow2 *q, uint64_t cl)
{
    uint64_t off = cl << q->cluster_bits;
    if (cl == 0)
        return true;
    if (off >= q->rt_offset && off - q->rt_offset < q->rt_clusters * q->cluster_size)
        return true;
    return q->l1_size && off + q->cluster_size > q->l1_offset && off < q->l1_offset + q->l1_size * 8;
}

/* The refcount block of range r, or NULL (*blk) when it has none. */
static int rb_get(struct image *img, uint64_t r, uint8_t **blk, uint64_t *boff)
{
    struct qcow2 *q = Q(img);
    *blk = NULL;
    *boff = 0;
    if (r >= q->rt_entries)
        return 0;
    uint64_t off = q->rt[r] & QCOW2_RT_OFFSET_MASK;
    if (!off)
        return 0;
    if (off & (q->cluster_size - 1))
        return corrupt("unaligned refcount block", off);
    *boff = off;
    return qcow2_cache_get(img, &q->rbc, off, true, blk);
}

int qcow2_rb_load(struct image *img, uint64_t r, const uint8_t **blk)
{
    uint8_t *b;
    uint64_t boff;
    int rc = rb_get(img, r, &b, &boff);
    *blk = b;
    return rc;
}

uint64_t qcow2_rb_get(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
    return rb_read(q, blk, i);
}

int qcow2_rc_get(struct image *img, uint64_t cl, uint64_t *rc)
{
    struct qcow2 *q = Q(img);
    uint8_t *blk;
    uint64_t boff;
    *rc = 0;
    if (rb_get(img, cl >> rb_shift(q), &blk, &boff) < 0)
        return -1;
    if (blk)
        *rc = rb_read(q, blk, cl & (q->rb_entries - 1));
    return 0;
}

static int write_rt_entry(struct image *img, uint64_t r)
{
    struct qcow2 *q = Q(img);
    uint8_t b[8];
    q_put64(b, q->rt[r]);
    int rc = image_pwrite(img->fd, b, 8, q->rt_offset + r * 8);
    return rc < 0 ? qcow2_io_error("writing the refcount table", q->rt_offset + r * 8, rc) : 0;
}

/* Creates the missing refcount block of range r < rt_entries inside the
 * range, at a cluster other than avoid and outside the reservation. */
static int rb_create(struct image *img, uint64_t r, uint64_t avoid)
{
    struct qcow2 *q = Q(img);
    uint64_t lo = r << rb_shift(q), hi = lo + q->rb_entries, c = lo;
    while (c < hi && (c == avoid || in_resv(q, c) || is_fixed_meta(q, c)))
        c = in_resv(q, c) ? q->resv_hi : c + 1;
    if (c >= hi) {
        image_error("qcow2: no room for a refcount block in range %llu", (unsigned long long)r);
        return -1;
    }
    uint64_t off = c << q->cluster_bits;
    uint8_t *blk;
    if (qcow2_cache_get(img, &q->rbc, off, false, &blk) < 0)
        return -1;
    uint64_t at;
    unsigned len;
    rb_write(q, blk, c - lo, 1, &at, &len);
    int rc = image_pwrite(img->fd, blk, q->cluster_size, off);
    if (rc < 0)
        return qcow2_io_error("writing a refcount block", off, rc);
    q->rt[r] = off;
    if (write_rt_entry(img, r) < 0)
        return -1;
    if (c + 1 > q->end)
        q->end = c + 1;
    return 0;
}

/* Replaces the refcount table by one with at least rneed + 1 entries. */
static int rt_grow(struct image *img, uint64_t rneed)
{
    struct qcow2 *q = Q(img);
    uint64_t C = q->cluster_size, old = q->rt_entries;
    unsigned sh = rb_shift(q);
    uint64_t start = q->end;
    uint64_t want = rneed + 1 > old * 2 ? rneed + 1 : old * 2;
    uint64_t tbl_cl = 0, nb = 0, last = 0;
    int it;
    for (it = 0; it < GROW_MAX_ITER; it++) {
        tbl_cl = (want * 8 + C - 1) / C;
        /* Blocks for the ranges the new area touches that have none. */
        for (int k = 0; k < GROW_MAX_ITER; k++) {
            last = start + nb + tbl_cl;
            uint64_t nb2 = 0;
            for (uint64_t r = start >> sh; r <= (last - 1) >> sh; r++)
                nb2 += r >= old || !(q->rt[r] & QCOW2_RT_OFFSET_MASK);
            if (nb2 == nb)
                break;
            nb = nb2;
        }
        /* One range of slack past the area: the next allocation fits. */
        uint64_t need = ((last - 1) >> sh) + 2;
        if (want >= need)
            break;
        want = need;
    }
    if (it == GROW_MAX_ITER || tbl_cl * C > QCOW2_MAX_RT_BYTES) {
        image_error("qcow2: the refcount table would exceed %u bytes", QCOW2_MAX_RT_BYTES);
        return -1;
    }
    uint64_t n_ent = tbl_cl * C / 8;
    uint64_t *nrt = xcalloc(n_ent, 8);
    memcpy(nrt, q->rt, old * 8);
    uint8_t *blocks = xcalloc(nb ? nb : 1, C);
    uint64_t r0 = start >> sh, r1 = (last - 1) >> sh;
    uint64_t *slot = xcalloc(r1 - r0 + 1, 8);    /* block index + 1, 0: existing */
    uint64_t j = 0;
    for (uint64_t r = r0; r <= r1; r++)
        if (r >= old || !(q->rt[r] & QCOW2_RT_OFFSET_MASK)) {
            nrt[r] = (start + j) << q->cluster_bits;
            slot[r - r0] = ++j;
        }
    q->resv_lo = start;
    q->resv_hi = last;
    q->end = last;
    int rc = 0;
    for (uint64_t c = start; c < last && rc == 0; c++) {
        uint64_t s = slot[(c >> sh) - r0];
        if (s) {
            uint64_t at;
            unsigned len;
            rb_write(q, blocks + (s - 1) * C, c & (q->rb_entries - 1), 1, &at, &len);
        } else {
            rc = qcow2_rc_change(img, c, +1);
        }
    }
    uint8_t *tbl = NULL;
    if (rc == 0) {
        int e = nb ? image_pwrite(img->fd, blocks, nb * C, start << q->cluster_bits) : 0;
        if (e < 0)
            rc = qcow2_io_error("writing refcount blocks", start << q->cluster_bits, e);
    }
    uint64_t toff = (start + nb) << q->cluster_bits;
    if (rc == 0) {
        tbl = xmalloc(tbl_cl * C);
        for (uint64_t i = 0; i < n_ent; i++)
            q_put64(tbl + i * 8, nrt[i]);
        int e = image_pwrite(img->fd, tbl, tbl_cl * C, toff);
        if (e < 0)
            rc = qcow2_io_error("writing the refcount table", toff, e);
    }
    if (rc == 0) {
        /* The switch: refcount_table_offset and _clusters are adjacent. */
        uint8_t h[12];
        q_put64(h, toff);
        q_put32(h + 8, (uint32_t)tbl_cl);
        int e = image_pwrite(img->fd, h, sizeof h, QH_RT_OFFSET);
        if (e < 0)
            rc = qcow2_io_error("writing the header", QH_RT_OFFSET, e);
    }
    free(tbl);
    free(blocks);
    free(slot);
    q->resv_lo = q->resv_hi = 0;
    if (rc < 0) {
        free(nrt);
        return -1;
    }
    uint64_t old_off = q->rt_offset, old_len = q->rt_clusters * C;
    free(q->rt);
    q->rt = nrt;
    q->rt_offset = toff;
    q->rt_clusters = tbl_cl;
    q->rt_entries = n_ent;
    return qcow2_rc_release(img, old_off, old_len);
}

int qcow2_rc_change(struct image *img, uint64_t cl, int delta)
{
    struct qcow2 *q = Q(img);
    uint64_t r = cl >> rb_shift(q);
    if (r >= q->rt_entries || !(q->rt[r] & QCOW2_RT_OFFSET_MASK)) {
        if (delta < 0)
            return corrupt("freeing a cluster without a refcount", cl << q->cluster_bits);
        if (r >= q->rt_entries && rt_grow(img, r) < 0)
            return -1;
        if (!(q->rt[r] & QCOW2_RT_OFFSET_MASK) && rb_create(img, r, cl) < 0)
            return -1;
    }
    uint8_t *blk;
    uint64_t boff;
    if (rb_get(img, r, &blk, &boff) < 0)
        return -1;
    uint64_t i = cl & (q->rb_entries - 1), v = rb_read(q, blk, i);
    if (delta < 0 && v == 0)
        return corrupt("freeing a free cluster", cl << q->cluster_bits);
    if (delta > 0 && v == q->rc_max)
        return corrupt("refcount overflow", cl << q->cluster_bits);
    v = delta > 0 ? v + 1 : v - 1;
    uint64_t at;
    unsigned len;
    rb_write(q, blk, i, v, &at, &len);
    int rc = image_pwrite(img->fd, blk + at, len, boff + at);
    if (rc < 0)
        return qcow2_io_error("writing a refcount block", boff + at, rc);
    if (v == 0) {
        if (cl < q->free_hint)
            q->free_hint = cl;
        /* Give the space back to the host; a reused cluster is always
         * written whole. */
        (void)fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        (off_t)(cl << q->cluster_bits), (off_t)q->cluster_size);
    }
    return 0;
}

int qcow2_rc_release(struct image *img, uint64_t off, uint64_t len)
{
    struct qcow2 *q = Q(img);
    if (!len)
        return 0;
    uint64_t first = off >> q->cluster_bits, last = (off + len - 1) >> q->cluster_bits;
    for (uint64_t cl = first; cl <= last; cl++)
        if (qcow2_rc_change(img, cl, -1) < 0)
            return -1;
    return 0;
}

/* Host offsets must stay below 2^56 (spec, L2 entries). */
static uint64_t cluster_limit(const struct qcow2 *q)
{
    return 1ull << (QCOW2_MAX_HOST_BITS - q->cluster_bits);
}

int qcow2_alloc(struct image *img, uint64_t *host)
{
    struct qcow2 *q = Q(img);
    q->zvalid = false;
    uint64_t cl = q->free_hint ? q->free_hint : 1, limit = cluster_limit(q);
    unsigned sh = rb_shift(q);
    for (;;) {
        if (cl >= limit) {
            image_error("qcow2: the image file is full (64 PB)");
            return -1;
        }
        if (cl >= q->end + SCAN_PAST_END)
            return corrupt("no free cluster: refcounts set far past the end of the file", cl << q->cluster_bits);
        if (in_resv(q, cl) || is_fixed_meta(q, cl)) {
            cl++;
            continue;
        }
        uint64_t r = cl >> sh;
        if (r >= q->rt_entries) {
            if (rt_grow(img, r) < 0)
                return -1;
            continue;       /* the new table may sit on cl */
        }
        uint8_t *blk;
        uint64_t boff;
        if (rb_get(img, r, &blk, &boff) < 0)
            return -1;
        if (!blk)
            break;          /* a range without a block is all free */
        uint64_t i = cl & (q->rb_entries - 1);
        while (i < q->rb_entries && rb_read(q, blk, i) != 0)
            i++;
        if (i == q->rb_entries) {
            cl = (r + 1) << sh;
            continue;
        }
        cl = (r << sh) + i;
        if (!in_resv(q, cl) && !is_fixed_meta(q, cl))
            break;
        cl++;
    }
    if (qcow2_rc_change(img, cl, +1) < 0)
        return -1;
    q->free_hint = cl + 1;
    if (cl + 1 > q->end)
        q->end = cl + 1;
    *host = cl << q->cluster_bits;
    return 0;
}

int qcow2_alloc_contig(struct image *img, uint64_t n, uint64_t *host)
{
    struct qcow2 *q = Q(img);
    q->zvalid = false;
    uint64_t start = q->end ? q->end : 1, limit = cluster_limit(q);
    /* Past everything known; skip clusters a crash left refcounted. */
    for (uint64_t i = 0; i < n;) {
        if (start > q->end + SCAN_PAST_END)
            return corrupt("no free clusters: refcounts set far past the end of the file", start << q->cluster_bits);
        if (start + n > limit) {
            image_error("qcow2: the image file is full (64 PB)");
            return -1;
        }
        uint64_t rc;
        if (qcow2_rc_get(img, start + i, &rc) < 0)
            return -1;
        if (rc) {
            start += i + 1;
            i = 0;
        } else {
            i++;
        }
    }
    q->resv_lo = start;
    q->resv_hi = start + n;
    q->end = start + n;
    for (uint64_t c = start; c < start + n; c++)
        if (qcow2_rc_change(img, c, +1) < 0) {
            q->resv_lo = q->resv_hi = 0;
            return -1;
        }
    q->resv_lo = q->resv_hi = 0;
    *host = start << q->cluster_bits;
    return 0;
}
