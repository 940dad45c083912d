/* qcow2 consistency check, in the manner of `qemu-img check`: every
 * cluster's references are counted from the metadata (header, tables,
 * refcount blocks, active and snapshot L1/L2 tables, data and compressed
 * clusters) and compared with the stored refcounts. One note per problem:
 * leaks, refcounts too low or too high, references outside the file,
 * unaligned tables, and OFLAG_COPIED flags that disagree with the count.
 * Not counted: clusters of the bitmaps extension (a leak would show). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/qcow2_int.h"

/* One counter per cluster, 2 bytes each: 64 MiB of counters at most. */
#define CHECK_MAX_CLUSTERS (32ull << 20)
/* Refcount blocks past the end of the file examined entry by entry. */
#define CHECK_PAST_END_BLOCKS 16
/* Past this many notes the rest are only counted. */
#define CHECK_MAX_NOTES 200
/* spec "Snapshots": fixed part of a snapshot table entry. */
#define SNAP_FIXED_LEN 40u
#define SNAP_L1_OFFSET 0
#define SNAP_L1_SIZE 8
#define SNAP_ID_LEN 12
#define SNAP_NAME_LEN 14
#define SNAP_EXTRA_LEN 36

struct chk {
    struct image *img;
    struct qcow2 *q;
    image_note_fn note;
    void *opaque;
    uint16_t *cnt;
    uint8_t *walked;            /* bitmap: L2 tables already walked */
    uint64_t n;                 /* clusters in the file */
    int problems;
    uint8_t *buf;               /* one cluster */
};

static void problem(struct chk *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct chk *k, const char *fmt, ...)
{
    k->problems++;
    if (k->problems > CHECK_MAX_NOTES)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k->note)
        k->note(k->opaque, line);
}

/* One reference to each cluster of [off, off + len). */
static void ref(struct chk *k, uint64_t off, uint64_t len, const char *what)
{
    if (!len)
        return;
    uint64_t first = off >> k->q->cluster_bits, last = (off + len - 1) >> k->q->cluster_bits;
    for (uint64_t cl = first; cl <= last; cl++) {
        if (cl >= k->n) {
            problem(k, "ERROR %s at 0x%llx is beyond the end of the file", what,
                    (unsigned long long)(cl << k->q->cluster_bits));
            return;
        }
        if (k->cnt[cl] != UINT16_MAX)
            k->cnt[cl]++;
    }
}

static void walk_l2(struct chk *k, uint64_t l2off)
{
    struct qcow2 *q = k->q;
    int rc = image_pread(k->img->fd, k->buf, q->cluster_size, l2off);
    if (rc < 0) {
        problem(k, "ERROR cannot read the L2 table at 0x%llx: %s", (unsigned long long)l2off, strerror(-rc));
        return;
    }
    for (uint64_t i = 0; i < q->l2_entries; i++) {
        uint64_t e = q_be64(k->buf + i * 8), host, clen;
        switch (qcow2_decode(q, e, &host, &clen)) {
        case QK_NORMAL:
        case QK_ZERO:
            if (!host)
                break;
            if (host & (q->cluster_size - 1)) {
                problem(k, "ERROR L2 entry 0x%llx (table 0x%llx) has an unaligned offset",
                        (unsigned long long)e, (unsigned long long)l2off);
                break;
            }
            ref(k, host, q->cluster_size, "data cluster");
            break;
        case QK_COMPRESSED:
            ref(k, host, clen, "compressed cluster");
            break;
        case QK_UNALLOC:
            break;
        }
    }
}

static void walk_l1(struct chk *k, const uint64_t *l1, uint64_t n)
{
    struct qcow2 *q = k->q;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = l1[i] & QCOW2_OFFSET_MASK;
        if (!off)
            continue;
        if (off & (q->cluster_size - 1)) {
            problem(k, "ERROR L1 entry %llu: L2 table offset 0x%llx is unaligned", (unsigned long long)i,
                    (unsigned long long)off);
            continue;
        }
        ref(k, off, q->cluster_size, "L2 table");
        uint64_t cl = off >> q->cluster_bits;
        if (cl >= k->n || (k->walked[cl / 8] & (1u << (cl % 8))))
            continue;
        k->walked[cl / 8] |= (uint8_t)(1u << (cl % 8));
        walk_l2(k, off);
    }
}

/* Snapshot table entries: their L1 tables and what those reach. */
static void walk_snapshots(struct chk *k)
{
    struct qcow2 *q = k->q;
    uint64_t pos = q->snapshots_offset;
    uint8_t e[SNAP_FIXED_LEN];
    for (uint32_t s = 0; s < q->nb_snapshots; s++) {
        if (image_pread(k->img->fd, e, sizeof e, pos) < 0) {
            problem(k, "ERROR cannot read snapshot %u", s);
            return;
        }
        uint64_t l1off = q_be64(e + SNAP_L1_OFFSET);
        uint64_t l1n = q_be32(e + SNAP_L1_SIZE);
        uint64_t len = SNAP_FIXED_LEN + q_be32(e + SNAP_EXTRA_LEN) + (e[SNAP_ID_LEN] << 8 | e[SNAP_ID_LEN + 1]) +
                       (e[SNAP_NAME_LEN] << 8 | e[SNAP_NAME_LEN + 1]);
        pos += align_up(len, 8);
        if (l1n * 8 > QCOW2_MAX_L1_BYTES || (l1off & (q->cluster_size - 1))) {
            problem(k, "ERROR snapshot %u: L1 table at 0x%llx (%llu entries) is invalid", s,
                    (unsigned long long)l1off, (unsigned long long)l1n);
            continue;
        }
        if (!l1n)
            continue;
        ref(k, l1off, l1n * 8, "snapshot L1 table");
        uint64_t *l1 = xmalloc(l1n * 8);
        if (image_pread(k->img->fd, l1, l1n * 8, l1off) == 0) {
            for (uint64_t i = 0; i < l1n; i++)
                l1[i] = be64toh(l1[i]);
            walk_l1(k, l1, l1n);
        }
        free(l1);
    }
    ref(k, q->snapshots_offset, pos - q->snapshots_offset, "snapshot table");
}

/* The stored refcount against the count, for clusters in the file, and
 * stored refcounts of clusters past its end. */
static void compare(struct chk *k)
{
    struct qcow2 *q = k->q;
    for (uint64_t lo = 0; lo < k->n; lo += q->rb_entries) {
        uint64_t hi = lo + q->rb_entries < k->n ? lo + q->rb_entries : k->n;
        const uint8_t *blk;
        if (qcow2_rb_load(k->img, lo / q->rb_entries, &blk) < 0) {
            problem(k, "ERROR cannot read the refcounts of clusters %llu-%llu: %s", (unsigned long long)lo,
                    (unsigned long long)hi - 1, image_last_error());
            continue;
        }
        for (uint64_t cl = lo; cl < hi; cl++) {
            uint64_t rc = blk ? qcow2_rb_get(q, blk, cl - lo) : 0, c = k->cnt[cl];
            if (rc == c)
                continue;
            if (c == 0)
                problem(k, "Leaked cluster %llu refcount=%llu reference=0", (unsigned long long)cl,
                        (unsigned long long)rc);
            else
                problem(k, "ERROR cluster %llu refcount=%llu reference=%llu", (unsigned long long)cl,
                        (unsigned long long)rc, (unsigned long long)c);
        }
    }
    /* Past the end: one note per refcount block that counts such clusters. */
    uint8_t *zero = xcalloc(1, q->cluster_size);
    unsigned examined = 0;
    for (uint64_t r = 0; r < q->rt_entries; r++) {
        uint64_t lo = r * q->rb_entries, hi = lo + q->rb_entries, off = q->rt[r] & QCOW2_RT_OFFSET_MASK;
        if (!off || hi <= k->n || (off & (q->cluster_size - 1)))
            continue;
        uint64_t count = 0;
        if (lo >= k->n) {
            /* Usually all zero: compared as bytes, not entry by entry. */
            if (image_pread(k->img->fd, k->buf, q->cluster_size, off) < 0 ||
                memcmp(k->buf, zero, q->cluster_size) == 0)
                continue;
        }
        if (++examined > CHECK_PAST_END_BLOCKS) {
            problem(k, "ERROR more refcount blocks count clusters past the end of the file (not examined)");
            break;
        }
        const uint8_t *blk;
        if (qcow2_rb_load(k->img, r, &blk) < 0 || !blk)
            continue;
        for (uint64_t cl = lo > k->n ? lo : k->n; cl < hi; cl++)
            count += qcow2_rb_get(q, blk, cl - lo) != 0;
        if (count)
            problem(k, "ERROR %llu clusters past the end of the file have refcounts (from cluster %llu on)",
                    (unsigned long long)count, (unsigned long long)(lo > k->n ? lo : k->n));
    }
    free(zero);
}

/* OFLAG_COPIED must be set exactly where the refcount is one. */
static void check_copied(struct chk *k, uint64_t e, uint64_t off, const char *what)
{
    uint64_t cl = off >> k->q->cluster_bits;
    if (cl >= k->n)
        return;
    bool one = k->cnt[cl] == 1, flag = (e & QCOW2_OFLAG_COPIED) != 0;
    if (one != flag)
        problem(k, "ERROR OFLAG_COPIED %s: entry=0x%llx references=%u", what, (unsigned long long)e, k->cnt[cl]);
}

static void copied_pass(struct chk *k)
{
    struct qcow2 *q = k->q;
    for (uint64_t i = 0; i < q->l1_size; i++) {
        uint64_t off = q->l1[i] & QCOW2_OFFSET_MASK;
        if (!off || (off & (q->cluster_size - 1)))
            continue;
        check_copied(k, q->l1[i], off, "L2 table");
        if (image_pread(k->img->fd, k->buf, q->cluster_size, off) < 0)
            continue;
        for (uint64_t j = 0; j < q->l2_entries; j++) {
            uint64_t e = q_be64(k->buf + j * 8), host, clen;
            enum qcow2_kind kind = qcow2_decode(q, e, &host, &clen);
            if ((kind == QK_NORMAL || kind == QK_ZERO) && host && !(host & (q->cluster_size - 1)))
                check_copied(k, e, host, "data cluster");
        }
    }
}

/* Sets up k over the file's clusters. -1 after image_error(). */
static int chk_init(struct chk *k, struct image *img, image_note_fn note, void *opaque)
{
    struct qcow2 *q = Q(img);
    uint64_t fsize;
    int rc = image_file_size(img->fd, &fsize);
    if (rc < 0) {
        image_error("qcow2: check: %s", strerror(-rc));
        return -1;
    }
    *k = (struct chk){.img = img, .q = q, .note = note, .opaque = opaque};
    k->n = align_up(fsize, q->cluster_size) >> q->cluster_bits;
    if (k->n > CHECK_MAX_CLUSTERS) {
        image_error("qcow2: check: %llu clusters is more than the check handles", (unsigned long long)k->n);
        return -1;
    }
    k->cnt = xcalloc(k->n ? k->n : 1, sizeof *k->cnt);
    k->walked = xcalloc(k->n / 8 + 1, 1);
    k->buf = xmalloc(q->cluster_size);
    return 0;
}

static void chk_free(struct chk *k)
{
    free(k->cnt);
    free(k->walked);
    free(k->buf);
}

/* Counts every reference; the refcount structures' own only if with_rc. */
static void count_refs(struct chk *k, bool with_rc)
{
    struct qcow2 *q = k->q;
    ref(k, 0, q->cluster_size, "header");
    ref(k, q->l1_offset, q->l1_size * 8, "L1 table");
    if (with_rc) {
        ref(k, q->rt_offset, q->rt_clusters * q->cluster_size, "refcount table");
        for (uint64_t r = 0; r < q->rt_entries; r++) {
            uint64_t off = q->rt[r] & QCOW2_RT_OFFSET_MASK;
            if (!off)
                continue;
            if (off & (q->cluster_size - 1))
                problem(k, "ERROR refcount block %llu at 0x%llx is unaligned", (unsigned long long)r,
                        (unsigned long long)off);
            else
                ref(k, off, q->cluster_size, "refcount block");
        }
    }
    walk_l1(k, q->l1, q->l1_size);
    if (q->nb_snapshots)
        walk_snapshots(k);
}

int qcow2_check(struct image *img, image_note_fn note, void *opaque)
{
    struct qcow2 *q = Q(img);
    struct chk k;
    if (chk_init(&k, img, note, opaque) < 0)
        return -1;
    if (q->incompat & QCOW2_INCOMPAT_DIRTY)
        problem(&k, "the image is marked dirty: refcounts may be stale");
    if (q->incompat & QCOW2_INCOMPAT_CORRUPT)
        problem(&k, "the image is marked corrupt");
    count_refs(&k, true);
    compare(&k);
    copied_pass(&k);
    if (k.problems > CHECK_MAX_NOTES && note) {
        char line[96];
        snprintf(line, sizeof line, "... %d more problems not listed", k.problems - CHECK_MAX_NOTES);
        note(opaque, line);
    }
    chk_free(&k);
    return k.problems;
}

static int sync_or_fail(int fd, const char *what)
{
    if (fdatasync(fd) == 0)
        return 0;
    image_error("qcow2: repair: %s: %s", what, strerror(errno));
    return -1;
}

/* Rebuilds the refcounts of a dirty image from its mappings (QEMU's lazy
 * refcounts leave them stale after a crash): a new refcount table and
 * blocks covering the whole file go past its end, the header switches to
 * them, then the dirty bit is cleared. The old structures become free. */
int qcow2_repair(struct image *img)
{
    struct qcow2 *q = Q(img);
    uint64_t C = q->cluster_size, E = q->rb_entries;
    unsigned cb = q->cluster_bits;
    struct chk k;
    if (chk_init(&k, img, NULL, NULL) < 0)
        return -1;
    count_refs(&k, false);
    if (k.problems) {
        chk_free(&k);
        image_error("qcow2: the image is dirty and its mappings are damaged (%d problems): "
                    "qemu-img check -r all may repair it", k.problems);
        return -1;
    }
    uint64_t start = k.n, nb = 1, tbl = 1, total = 0;
    for (int i = 0; i < 64; i++) {
        total = start + nb + tbl;
        uint64_t nb2 = (total + E - 1) / E, tbl2 = (nb2 * 8 + C - 1) / C;
        if (nb2 == nb && tbl2 == tbl)
            break;
        nb = nb2;
        tbl = tbl2;
    }
    int rc = 0;
    if (tbl * C > QCOW2_MAX_RT_BYTES) {
        image_error("qcow2: repair: the refcount table would exceed %u bytes", QCOW2_MAX_RT_BYTES);
        rc = -1;
    }
    for (uint64_t cl = 0; cl < k.n && rc == 0; cl++)
        if (k.cnt[cl] > q->rc_max) {
            image_error("qcow2: repair: cluster %llu has %u references, more than %u-bit refcounts hold",
                        (unsigned long long)cl, k.cnt[cl], q->refcount_bits);
            rc = -1;
        }
    uint64_t n_ent = tbl * C / 8;
    uint64_t *rt = xcalloc(n_ent, 8);
    uint8_t *blk = xmalloc(C);
    for (uint64_t b = 0; b < nb && rc == 0; b++) {
        memset(blk, 0, C);
        for (uint64_t i = 0; i < E; i++) {
            uint64_t cl = b * E + i;
            uint64_t v = cl < k.n ? k.cnt[cl] : cl < total;
            if (v)
                qcow2_rb_set(q, blk, i, v);
        }
        rt[b] = (start + b) << cb;
        int e = image_pwrite(img->fd, blk, C, (start + b) << cb);
        if (e < 0)
            rc = qcow2_io_error("repair: writing a refcount block", (start + b) << cb, e);
    }
    free(blk);
    uint64_t toff = (start + nb) << cb;
    if (rc == 0) {
        uint8_t *t = xmalloc(tbl * C);
        for (uint64_t i = 0; i < n_ent; i++)
            q_put64(t + i * 8, rt[i]);
        int e = image_pwrite(img->fd, t, tbl * C, toff);
        free(t);
        if (e < 0)
            rc = qcow2_io_error("repair: writing the refcount table", toff, e);
    }
    if (rc == 0)
        rc = sync_or_fail(img->fd, "sync");
    if (rc == 0) {
        uint8_t h[12];
        q_put64(h, toff);
        q_put32(h + 8, (uint32_t)tbl);
        int e = image_pwrite(img->fd, h, sizeof h, QH_RT_OFFSET);
        if (e < 0)
            rc = qcow2_io_error("repair: writing the header", QH_RT_OFFSET, e);
    }
    if (rc == 0)
        rc = sync_or_fail(img->fd, "sync");
    if (rc == 0) {
        uint8_t f[8];
        q_put64(f, q->incompat & ~QCOW2_INCOMPAT_DIRTY);
        int e = image_pwrite(img->fd, f, sizeof f, QH_INCOMPAT);
        if (e < 0)
            rc = qcow2_io_error("repair: writing the header", QH_INCOMPAT, e);
    }
    if (rc == 0)
        rc = sync_or_fail(img->fd, "sync");
    chk_free(&k);
    if (rc < 0) {
        free(rt);
        return -1;
    }
    free(q->rt);
    q->rt = rt;
    q->rt_offset = toff;
    q->rt_clusters = tbl;
    q->rt_entries = n_ent;
    q->incompat &= ~QCOW2_INCOMPAT_DIRTY;
    q->end = total;
    q->free_hint = 1;
    qcow2_cache_drop_all(&q->rbc);
    return 0;
}
