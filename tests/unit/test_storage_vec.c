/* Scattered requests (src/storage/image_vec.c) through every format's
 * map(): images qemu-img makes (raw, qcow2 with 64 KiB and 4 KiB clusters,
 * a qcow2 child of a smaller qcow2 parent with written, zeroed and partial
 * clusters, compressed qcow2, VDI dynamic and static, VHD dynamic and
 * fixed, VMDK sparse, flat and stream-optimized) and differencing VDI and
 * VHD images caixa makes get random image_readv/image_writev requests
 * (and their try forms), odd buffer lists included, mirrored in a shadow
 * copy. Every read must give the shadow's bytes and leave the gaps
 * between its buffers alone; afterwards the format's own read path
 * (image_read) gives the shadow, caixa's check finds nothing, and
 * qemu-img compare (and check) agree where qemu reads the format. Skipped
 * without qemu-img. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "storage_oracle.h"

#define DISK (4u * MiB)
#define OPS 400
#define MAX_SEGS 24
#define MAX_SEG_SECTORS 24
#define GAP 512u                       /* untouched bytes after each buffer */
#define BIG_SEGS 256                   /* the benchmark's shape: 1 MiB in 4 KiB pages */
#define BUF_BYTES (MiB + BIG_SEGS * GAP)
#define SENTINEL 0xEE

static int setup(void **st)
{
    (void)st;
    return oracle_setup("vec");
}

static int teardown(void **st)
{
    (void)st;
    return oracle_teardown();
}

struct vcase {
    const char *name;
    const char *qemu_fmt;   /* qemu-img's name of the format, NULL: qemu cannot read it */
    bool read_only;
    bool qemu_check;        /* qemu-img check knows the format */
    /* Makes img (named name) from content.raw in the test directory; fills
     * shadow (size bytes: the image's) with what it reads as. */
    void (*make)(const struct vcase *c, const char *img, uint8_t *shadow);
    const char *opts;       /* qemu-img convert options */
};

static uint8_t content[DISK];

/* content.raw: 64 KiB chunks of random data, every third one zeros (so
 * converted images leave it unallocated). */
static void make_content(void)
{
    uint64_t seed = 0x5eed;
    for (unsigned i = 0; i < DISK / (64 * KiB); i++) {
        uint8_t *p = content + i * 64 * KiB;
        if (i % 3 == 0)
            memset(p, 0, 64 * KiB);
        else
            fill_random(p, 64 * KiB, &seed);
    }
    spit(tpath("content.raw"), content, DISK);
}

static void make_convert(const struct vcase *c, const char *img, uint8_t *shadow)
{
    assert_int_equal(sh("rm -f %s && qemu-img convert -q -f raw -O %s %s %s %s", img, c->qemu_fmt, c->opts,
                        tpath("content.raw"), img),
                     0);
    memcpy(shadow, content, DISK);
}

/* A 5 MiB qcow2 child of the 4 MiB qcow2 parent: beyond the parent's end
 * it reads zeros. qemu-io writes a whole cluster run, a zero cluster
 * (v3's flag) and part of a cluster into the child. */
static void make_qcow2_child(const struct vcase *c, const char *img, uint8_t *shadow)
{
    (void)c;
    const char *parent = tpath("parent.qcow2");
    assert_int_equal(sh("rm -f %s %s && qemu-img convert -q -f raw -O qcow2 %s %s && "
                        "qemu-img create -q -f qcow2 -b %s -F qcow2 %s 5M && "
                        "qemu-io -f qcow2 -c 'write -P 0x5a 64k 128k' -c 'write -z 1M 64k' "
                        "-c 'write -P 0x33 3m 4k' %s",
                        parent, img, tpath("content.raw"), parent, parent, img, img),
                     0);
    memset(shadow, 0, 5 * MiB);
    memcpy(shadow, content, DISK);
    memset(shadow + 64 * KiB, 0x5a, 128 * KiB);
    memset(shadow + MiB, 0, 64 * KiB);
    memset(shadow + 3 * MiB, 0x33, 4 * KiB);
}

/* A differencing image caixa makes of a base qemu-img converts. */
static void make_child(const struct vcase *c, const char *img, uint8_t *shadow)
{
    const char *base = tpath(c->opts);
    const char *fmt = strcmp(c->opts, "base.vdi") == 0 ? "vdi" : "vpc";
    const char *sub = strcmp(fmt, "vpc") == 0 ? "-o subformat=dynamic" : "";
    assert_int_equal(sh("rm -f %s %s && qemu-img convert -q -f raw -O %s %s %s %s", base, img, fmt, sub,
                        tpath("content.raw"), base),
                     0);
    struct image_create_opts o = {.format = strcmp(fmt, "vdi") == 0 ? "vdi" : "vhd", .parent = base};
    if (image_create(img, &o) != 0)
        fail_msg("create %s: %s", img, image_last_error());
    struct image *b = open_ok(base, IMAGE_OPEN_RDONLY);
    assert_int_equal(image_read(b, 0, shadow, image_size(b)), 0);
    image_close(b);
}

static const struct vcase cases[] = {
    {"raw", "raw", false, false, make_convert, ""},
    {"qcow2", "qcow2", false, true, make_convert, ""},
    {"qcow2-4k", "qcow2", false, true, make_convert, "-o cluster_size=4096"},
    {"qcow2-child", "qcow2", false, true, make_qcow2_child, ""},
    {"qcow2-compressed", "qcow2", false, true, make_convert, "-c"},
    {"vdi", "vdi", false, true, make_convert, ""},
    {"vdi-static", "vdi", false, true, make_convert, "-o static=on"},
    {"vdi-child", NULL, false, false, make_child, "base.vdi"},
    {"vhd", "vpc", false, false, make_convert, "-o subformat=dynamic"},
    {"vhd-fixed", "vpc", false, false, make_convert, "-o subformat=fixed"},
    {"vhd-child", NULL, false, false, make_child, "base.vhd"},
    {"vmdk", "vmdk", false, false, make_convert, ""},
    {"vmdk-flat", "vmdk", false, false, make_convert, "-o subformat=monolithicFlat"},
    {"vmdk-stream", "vmdk", true, false, make_convert, "-o subformat=streamOptimized"},
};

static uint8_t shadow[5 * MiB];
static uint8_t wbuf[BUF_BYTES], rbuf[BUF_BYTES];

/* Buffers of lens[i] bytes, each followed by a GAP, from buf. */
static void lay_out(struct iovec *iov, const size_t *lens, int n, uint8_t *buf)
{
    for (int i = 0; i < n; i++) {
        iov[i] = (struct iovec){buf, lens[i]};
        buf += lens[i] + GAP;
    }
}

/* One request of n buffers (lens) at off; now: the try form first. Returns
 * 1 when the try form did it. */
static int request(struct image *img, uint64_t off, const size_t *lens, int n, bool write, bool now)
{
    struct iovec iov[BIG_SEGS];
    uint8_t *buf = write ? wbuf : rbuf;
    lay_out(iov, lens, n, buf);
    int rc = -EAGAIN, tried = 0;
    if (now)
        rc = write ? image_try_writev(img, off, iov, n) : image_try_readv(img, off, iov, n);
    if (rc == 0)
        tried = 1;
    else if (rc == -EAGAIN)
        rc = write ? image_writev(img, off, iov, n) : image_readv(img, off, iov, n);
    if (rc != 0)
        fail_msg("%s at %llu (%d buffers): %d %s", write ? "write" : "read", (unsigned long long)off, n, rc,
                 image_last_error());
    uint64_t at = off;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        if (write) {
            memcpy(shadow + at, p, lens[i]);
        } else {
            if (memcmp(p, shadow + at, lens[i]) != 0)
                fail_msg("read at %llu, buffer %d of %d (%zu bytes at disk byte %llu): wrong data",
                         (unsigned long long)off, i, n, lens[i], (unsigned long long)at);
            for (unsigned g = 0; g < GAP; g++)
                if (p[lens[i] + g] != SENTINEL)
                    fail_msg("read at %llu wrote past buffer %d", (unsigned long long)off, i);
        }
        at += lens[i];
    }
    if (!write)
        memset(rbuf, SENTINEL, sizeof rbuf);
    return tried;
}

static void run_case(const struct vcase *c)
{
    char name[64];
    snprintf(name, sizeof name, "%s.img", c->name);
    const char *path = tpath(name);
    memset(shadow, 0, sizeof shadow);
    c->make(c, path, shadow);
    struct image *img = open_ok(path, c->read_only ? IMAGE_OPEN_RDONLY : 0);
    uint64_t size = image_size(img);
    assert_true(size >= DISK && size <= sizeof shadow);
    memset(rbuf, SENTINEL, sizeof rbuf);
    uint64_t seed = 0xc0ffee ^ (uint64_t)strlen(c->name) * 0x9e3779b97f4a7c15ull;
    size_t lens[BIG_SEGS];
    int tried = 0;

    /* The benchmark's request: 1 MiB in 4 KiB pages, written, then read
     * both ways. */
    uint64_t big = MiB + 64 * KiB;   /* across clusters and blocks, not aligned to 1 MiB */
    for (int i = 0; i < BIG_SEGS; i++)
        lens[i] = 4 * KiB;
    if (!c->read_only) {
        fill_random(wbuf, sizeof wbuf, &seed);
        request(img, big, lens, BIG_SEGS, true, false);
    }
    request(img, big, lens, BIG_SEGS, false, false);
    tried += request(img, big, lens, BIG_SEGS, false, true);

    for (int op = 0; op < OPS; op++) {
        int n = 1 + (int)(prng_next(&seed) % MAX_SEGS);
        uint64_t total = 0;
        for (int i = 0; i < n; i++) {
            /* now and then an empty buffer */
            lens[i] = prng_next(&seed) % 20 == 0 ? 0 : (1 + prng_next(&seed) % MAX_SEG_SECTORS) * 512;
            total += lens[i];
        }
        uint64_t off = prng_next(&seed) % ((size - total) / 512 + 1) * 512;
        bool write = !c->read_only && prng_next(&seed) % 2;
        bool now = prng_next(&seed) % 3 == 0;
        if (write)
            fill_random(wbuf, sizeof wbuf, &seed);
        tried += request(img, off, lens, n, write, now);
        /* A read of what was just written, by the try form (page cache). */
        if (write)
            tried += request(img, off, lens, n, false, true);
    }
    /* The try forms did some of it (file data in the page cache). */
    if (tried == 0)
        fail_msg("%s: the try forms never completed a request", c->name);

    /* The format's own read path agrees; so does its check. */
    assert_image_is(img, shadow, (size_t)size);
    assert_int_equal(check_count(img), 0);
    image_close(img);

    if (c->qemu_fmt) {
        const char *raw = tpath("shadow.raw");
        spit(raw, shadow, (size_t)size);
        if (sh("qemu-img compare -q -f %s -F raw %s %s", c->qemu_fmt, path, raw) != 0)
            fail_msg("%s: qemu-img compare differs", c->name);
        if (c->qemu_check && sh("qemu-img check -q -f %s %s", c->qemu_fmt, path) != 0)
            fail_msg("%s: qemu-img check fails", c->name);
    }
}

static void test_formats(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    make_content();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "case %s\n", cases[i].name);
        run_case(&cases[i]);
    }
}

/* The first write after open changes what tells a child its parent
 * changed, also when it goes straight to the file: VDI's modification UUID
 * (header byte 0x198) and VMDK's CID, in images whose every block is
 * allocated. */
static void test_first_write_marks(void **st)
{
    (void)st;
    static const struct {
        const char *format, *name;
        long at;                    /* where the mark is in the file */
        unsigned len;
    } marks[] = {
        {"vdi", "mark.vdi", 0x198, 16},
        {"vmdk", "mark.vmdk", -1, 8},   /* -1: after "CID=" in the descriptor */
    };
    static uint8_t data[8192];
    for (size_t k = 0; k < sizeof marks / sizeof marks[0]; k++) {
        const char *path = tpath(marks[k].name);
        struct image_create_opts o = {.format = marks[k].format, .size = MiB, .variant = IMAGE_VARIANT_FIXED};
        if (image_create(path, &o) != 0)
            fail_msg("create %s: %s", path, image_last_error());
        uint8_t before[16], after[16];
        for (int pass = 0; pass < 2; pass++) {
            size_t len;
            uint8_t *f = slurp(path, &len);
            const uint8_t *m = f + marks[k].at;
            if (marks[k].at < 0) {
                const char *cid = strstr((const char *)f, "\nCID=");
                assert_non_null(cid);
                m = (const uint8_t *)cid + 5;
            }
            memcpy(pass ? after : before, m, marks[k].len);
            free(f);
            if (pass)
                break;
            struct image *img = open_ok(path, 0);
            struct iovec iov[2] = {{data, 4096}, {data + 4096, 4096}};
            memset(data, 0x77, sizeof data);
            assert_int_equal(image_writev(img, 64 * KiB, iov, 2), 0);
            image_close(img);
        }
        assert_memory_not_equal(before, after, marks[k].len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_first_write_marks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
