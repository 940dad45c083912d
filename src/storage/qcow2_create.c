/* qcow2 creation and resizing. caixa creates version 3 images with 64 KiB
 * clusters and 16-bit refcounts, as `qemu-img create -f qcow2` does.
 * Layout: header cluster, refcount table, refcount blocks, L1 table, and
 * for Fixed images (preallocation) every L2 table and data cluster after
 * them, the data space reserved with fallocate. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/qcow2_int.h"

#define CREATE_CLUSTER_BITS 16u         /* 64 KiB, QEMU's default */
#define CREATE_REFCOUNT_ORDER 4u        /* 16-bit refcounts, QEMU's default */
/* Bounds the fixed-point search for the metadata layout. */
#define LAYOUT_MAX_ITER 16

/* QEMU's names for the formats a backing file may have. */
static const struct {
    const char *caixa, *qemu;
} backing_format_names[] = {
    {"raw", "raw"}, {"qcow2", "qcow2"}, {"vdi", "vdi"}, {"vmdk", "vmdk"}, {"vhd", "vpc"},
};

static const char *qemu_format_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(backing_format_names); i++)
        if (strcmp(backing_format_names[i].caixa, name) == 0)
            return backing_format_names[i].qemu;
    return NULL;
}

static int wr(int fd, const void *buf, uint64_t len, uint64_t off)
{
    int rc = image_pwrite(fd, buf, len, off);
    return rc < 0 ? qcow2_io_error("create: write", off, rc) : 0;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* Cluster 0: the header, the backing format extension, the backing name. */
static int write_header(int fd, uint64_t size, uint64_t l1_size, uint64_t l1_off, uint64_t rt_off,
                        uint64_t rt_cl, const char *backing, const char *backing_fmt)
{
    uint64_t C = 1ull << CREATE_CLUSTER_BITS;
    uint8_t *h = xcalloc(1, C);
    q_put32(h + QH_MAGIC, QCOW2_MAGIC);
    q_put32(h + QH_VERSION, 3);
    q_put32(h + QH_CLUSTER_BITS, CREATE_CLUSTER_BITS);
    q_put64(h + QH_SIZE, size);
    q_put32(h + QH_L1_SIZE, (uint32_t)l1_size);
    q_put64(h + QH_L1_OFFSET, l1_off);
    q_put64(h + QH_RT_OFFSET, rt_off);
    q_put32(h + QH_RT_CLUSTERS, (uint32_t)rt_cl);
    q_put32(h + QH_REFCOUNT_ORDER, CREATE_REFCOUNT_ORDER);
    q_put32(h + QH_HEADER_LENGTH, QCOW2_V3_HEADER_LEN);
    uint64_t pos = QCOW2_V3_HEADER_LEN;
    if (backing_fmt) {
        size_t n = strlen(backing_fmt);
        q_put32(h + pos, QCOW2_EXT_BACKING_FORMAT);
        q_put32(h + pos + 4, (uint32_t)n);
        memcpy(h + pos + 8, backing_fmt, n);
        pos += 8 + align_up(n, 8);
    }
    pos += 8;       /* the end-of-extensions entry: zeros */
    if (backing) {
        size_t n = strlen(backing);
        q_put64(h + QH_BACKING_OFFSET, pos);
        q_put32(h + QH_BACKING_SIZE, (uint32_t)n);
        memcpy(h + pos, backing, n);
    }
    int rc = wr(fd, h, C, 0);
    free(h);
    return rc;
}

int qcow2_create(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    const uint64_t C = 1ull << CREATE_CLUSTER_BITS, cb = CREATE_CLUSTER_BITS;
    const uint64_t l2e = C / 8, rbe = C * 8 / (1u << CREATE_REFCOUNT_ORDER);
    uint64_t size = align_up(o->size, IMAGE_SECTOR);
    bool fixed = o->variant == IMAGE_VARIANT_FIXED;

    char *backing = NULL;
    const char *bfmt = NULL;
    if (o->parent) {
        /* Relative names are kept relative to the child's directory, as
         * QEMU resolves them. */
        backing = o->parent[0] == '/' ? xstrdup(o->parent) : image_path_relative(path, o->parent);
        if (strlen(backing) > QCOW2_MAX_BACKING_NAME) {
            image_error("qcow2: backing file name longer than %u bytes", QCOW2_MAX_BACKING_NAME);
            free(backing);
            return -1;
        }
        if (parent)
            bfmt = qemu_format_name(image_format_name(parent));
    }

    uint64_t l1_size = div_up(size, C * l2e);
    if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        image_error("qcow2: %llu bytes is too large", (unsigned long long)size);
        free(backing);
        return -1;
    }
    uint64_t l1_cl = l1_size ? div_up(l1_size * 8, C) : 1;
    uint64_t data_cl = fixed ? div_up(size, C) : 0;
    uint64_t l2_cl = fixed ? div_up(data_cl, l2e) : 0;
    /* Refcount blocks and table must cover everything, themselves too. */
    uint64_t rb_cl = 1, rt_cl = 1, total = 0;
    for (int i = 0; i < LAYOUT_MAX_ITER; i++) {
        total = 1 + rt_cl + rb_cl + l1_cl + l2_cl + data_cl;
        uint64_t rb2 = div_up(total, rbe), rt2 = div_up(rb2 * 8, C);
        if (rb2 == rb_cl && rt2 == rt_cl)
            break;
        rb_cl = rb2;
        rt_cl = rt2;
    }
    if (rt_cl * C > QCOW2_MAX_RT_BYTES) {
        image_error("qcow2: %llu bytes is too large to preallocate", (unsigned long long)size);
        free(backing);
        return -1;
    }
    uint64_t rt_off = C, rb_first = 1 + rt_cl, l1_first = rb_first + rb_cl;
    uint64_t l2_first = l1_first + l1_cl, data_first = l2_first + l2_cl;

    int rc = write_header(fd, size, l1_size, l1_first << cb, rt_off, rt_cl, backing, bfmt);
    free(backing);
    uint8_t *buf = xmalloc(C);
    /* Refcount table, then blocks: every cluster up to total has refcount 1. */
    for (uint64_t t = 0; t < rt_cl && rc == 0; t++) {
        memset(buf, 0, C);
        for (uint64_t i = 0; i < l2e; i++) {
            uint64_t b = t * l2e + i;
            if (b < rb_cl)
                q_put64(buf + i * 8, (rb_first + b) << cb);
        }
        rc = wr(fd, buf, C, (1 + t) << cb);
    }
    for (uint64_t b = 0; b < rb_cl && rc == 0; b++) {
        memset(buf, 0, C);
        for (uint64_t i = 0; i < rbe; i++) {
            if (b * rbe + i >= total)
                break;
            buf[i * 2 + 1] = 1;     /* 16-bit big-endian 1 */
        }
        rc = wr(fd, buf, C, (rb_first + b) << cb);
    }
    /* L1 (naming the preallocated L2 tables), then the L2 tables. */
    for (uint64_t t = 0; t < l1_cl && rc == 0; t++) {
        memset(buf, 0, C);
        for (uint64_t i = 0; i < l2e; i++) {
            uint64_t k = t * l2e + i;
            if (k < l2_cl)
                q_put64(buf + i * 8, ((l2_first + k) << cb) | QCOW2_OFLAG_COPIED);
        }
        rc = wr(fd, buf, C, (l1_first + t) << cb);
    }
    for (uint64_t t = 0; t < l2_cl && rc == 0; t++) {
        memset(buf, 0, C);
        for (uint64_t i = 0; i < l2e; i++) {
            uint64_t k = t * l2e + i;
            if (k < data_cl)
                q_put64(buf + i * 8, ((data_first + k) << cb) | QCOW2_OFLAG_COPIED);
        }
        rc = wr(fd, buf, C, (l2_first + t) << cb);
    }
    free(buf);
    if (rc == 0 && data_cl &&
        fallocate(fd, 0, (off_t)(data_first << cb), (off_t)(data_cl << cb)) < 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS) {
        image_error("qcow2: create: reserving %llu bytes: %s", (unsigned long long)(data_cl << cb),
                    strerror(errno));
        rc = -1;
    }
    /* The file covers every refcounted cluster (data reads as zeros). */
    if (rc == 0 && ftruncate(fd, (off_t)(total << cb)) < 0) {
        image_error("qcow2: create: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

/* Grows the virtual size; the L1 table moves to a larger place if needed. */
int qcow2_resize(struct image *img, uint64_t new_size)
{
    struct qcow2 *q = Q(img);
    uint64_t C = q->cluster_size;
    if (new_size < img->size) {
        image_error("qcow2: shrinking is not supported");
        return -1;
    }
    uint64_t need = div_up(new_size, C * q->l2_entries);
    if (need * 8 > QCOW2_MAX_L1_BYTES) {
        image_error("qcow2: %llu bytes is too large for this cluster size", (unsigned long long)new_size);
        return -1;
    }
    if (need > q->l1_size) {
        uint64_t old_cl = div_up(q->l1_size * 8, C), new_cl = div_up(need * 8, C);
        uint64_t *l1 = xcalloc(need, 8);
        memcpy(l1, q->l1, q->l1_size * 8);
        uint8_t *t = xcalloc(new_cl, C);
        for (uint64_t i = 0; i < need; i++)
            q_put64(t + i * 8, l1[i]);
        uint64_t off = q->l1_offset;
        int rc = 0;
        if (new_cl > old_cl || !q->l1_offset) {
            rc = qcow2_alloc_contig(img, new_cl, &off);
        }
        if (rc == 0) {
            /* In place the new entries (zeros) are written before the
             * header grows l1_size over them. */
            int e = image_pwrite(img->fd, t, new_cl * C, off);
            if (e < 0)
                rc = qcow2_io_error("writing the L1 table", off, e);
        }
        free(t);
        if (rc == 0) {
            uint8_t h[12];      /* l1_size and l1_table_offset are adjacent */
            q_put32(h, (uint32_t)need);
            q_put64(h + 4, off);
            int e = image_pwrite(img->fd, h, sizeof h, QH_L1_SIZE);
            if (e < 0)
                rc = qcow2_io_error("writing the header", QH_L1_SIZE, e);
        }
        if (rc < 0) {
            free(l1);
            return -1;
        }
        uint64_t old_off = q->l1_offset;
        free(q->l1);
        q->l1 = l1;
        q->l1_size = need;
        q->l1_offset = off;
        if (off != old_off && old_off && old_cl && qcow2_rc_release(img, old_off, old_cl * C) < 0)
            return -1;
    }
    uint8_t s[8];
    q_put64(s, new_size);
    int e = image_pwrite(img->fd, s, 8, QH_SIZE);
    if (e < 0)
        return qcow2_io_error("writing the header", QH_SIZE, e);
    img->size = new_size;
    return 0;
}
