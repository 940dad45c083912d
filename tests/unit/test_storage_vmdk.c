/* VMDK images (src/storage/vmdk.c, vmdk_desc.c) against qemu-img/qemu-io:
 * monolithic sparse, monolithic flat and stream-optimized images made by
 * qemu are read bit-exactly; sparse and flat images caixa writes (random
 * writes, partial grains) pass qemu-img check and compare equal; children
 * (parentFileNameHint) both ways; hostile files; data that survives
 * SIGKILL. Skips the qemu parts when qemu-img is missing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "host_file.h"
#include "storage_oracle.h"

static int setup(void **st)
{
    (void)st;
    return oracle_setup("vmdk");
}

static int teardown(void **st)
{
    (void)st;
    return oracle_teardown();
}

static const char *variant_of(struct image *img)
{
    static struct image_info info;
    image_get_info(img, &info);
    return info.variant;
}

/* qemu-io writes of known patterns: whole grains, partial grains, across a
 * GT boundary (32 MiB), the last sector. */
static const char qemu_writes[] = "-c 'write -P 0x11 0 64k' -c 'write -P 0x22 100k 8k' "
                                  "-c 'write -P 0x33 5m 1m' -c 'write -P 0x44 32767k 2k' "
                                  "-c 'write -P 0x55 40959k 1k'";

/* qemu makes src, fills it, converts it to raw; caixa reads it all. */
static void qemu_made(const char *name, const char *create, const char *expect_variant)
{
    char v[64], r[64];
    snprintf(v, sizeof v, "%s.vmdk", name);
    snprintf(r, sizeof r, "%s.raw", name);
    const char *vmdk = tpath(v), *raw = tpath(r);
    assert_int_equal(sh("qemu-img create -q -f vmdk %s %s 40M", create, vmdk), 0);
    assert_int_equal(sh("qemu-io -f vmdk %s %s", qemu_writes, vmdk), 0);
    assert_int_equal(sh("qemu-img convert -f vmdk -O raw %s %s", vmdk, raw), 0);
    struct image *img = open_ok(vmdk, IMAGE_OPEN_RDONLY);
    assert_string_equal(image_format_name(img), "vmdk");
    assert_string_equal(variant_of(img), expect_variant);
    assert_image_is_file(img, raw);
    assert_int_equal(check_count(img), 0);
    image_close(img);
}

static void qemu_sparse_read(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    qemu_made("qs", "", "sparse");
}

static void qemu_flat_read(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    qemu_made("qf", "-o subformat=monolithicFlat", "flat");
    /* the descriptor is text naming the extent beside it */
    size_t len;
    uint8_t *d = slurp(tpath("qf.vmdk"), &len);
    assert_memory_equal(d, "# Disk DescriptorFile", 21);
    free(d);
}

static void qemu_split_sparse_read(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    /* a descriptor file with several sparse extents of 2 GiB at most */
    qemu_made("q2g", "-o subformat=twoGbMaxExtentSparse", "split sparse");
}

/* Version 2 zeroed grains (GT entry 1) read as zeros over the parent's or
 * the old data. */
static void qemu_zeroed_grain(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    const char *vmdk = tpath("qz.vmdk"), *raw = tpath("qz.raw");
    assert_int_equal(sh("qemu-img create -q -f vmdk -o zeroed_grain=on %s 8M", vmdk), 0);
    assert_int_equal(sh("qemu-io -f vmdk -c 'write -P 0x66 0 1m' -c 'write -z 64k 128k' "
                        "-c 'write -z 2m 64k' %s", vmdk), 0);
    assert_int_equal(sh("qemu-img convert -f vmdk -O raw %s %s", vmdk, raw), 0);
    struct image *img = open_ok(vmdk, IMAGE_OPEN_RDONLY);
    assert_image_is_file(img, raw);
    uint8_t b[512];
    assert_int_equal(image_read(img, 64 * KiB, b, sizeof b), 0);
    assert_int_equal(b[0] | b[511], 0);
    image_close(img);
    /* and caixa writes into a zeroed grain: the rest of it stays zero */
    img = open_ok(vmdk, 0);
    memset(b, 0x77, sizeof b);
    assert_int_equal(image_write(img, 64 * KiB + 1024, b, sizeof b), 0);
    image_close(img);
    assert_int_equal(sh("qemu-img check -q -f vmdk %s", vmdk), 0);
    assert_int_equal(sh("qemu-io -f vmdk -c 'read -P 0 64k 1k' -c 'read -P 0x77 65k 512' "
                        "-c 'read -P 0 67072 129536' -c 'read -P 0x66 192k 832k' %s", vmdk), 0);
}

static void qemu_stream_optimized_read(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    /* random (incompressible) runs, patterns and zeros; the last grain
     * partial (the size is not whole grains) */
    uint64_t size = 20 * MiB + 3 * 512;
    uint8_t *want = xcalloc(1, size);
    uint64_t seed = 8;
    for (int i = 0; i < 40; i++) {
        uint64_t n = 512 + prng_next(&seed) % (300 * KiB);
        uint64_t at = prng_next(&seed) % (size - n);
        if (i % 2)
            fill_random(want + at, n, &seed);
        else
            memset(want + at, 0x30 + i, n);
    }
    memset(want + size - 700, 0xfe, 700);
    const char *src = tpath("so.raw"), *so = tpath("so.vmdk");
    spit(src, want, size);
    assert_int_equal(sh("qemu-img convert -f raw -O vmdk -o subformat=streamOptimized %s %s", src, so), 0);
    struct image *img = open_ok(so, IMAGE_OPEN_RDONLY);
    assert_string_equal(variant_of(img), "stream-optimized");
    assert_int_equal(image_size(img), size);
    assert_image_is(img, want, size);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    /* read-only by nature: a read-write open says so */
    assert_null(image_open(so, 0));
    assert_non_null(strstr(image_last_error(), "read-only"));
    free(want);
}

/* Random writes through caixa; qemu-img check and compare; caixa reads it
 * back. */
static void write_and_compare(const char *name, enum image_variant variant, uint64_t size, int writes,
                              unsigned max_sectors, const char *expect_variant)
{
    char v[64], r[64];
    snprintf(v, sizeof v, "%s.vmdk", name);
    snprintf(r, sizeof r, "%s.raw", name);
    const char *vmdk = tpath(v), *raw = tpath(r);
    struct image_create_opts o = {.format = "vmdk", .size = size, .variant = variant};
    if (image_create(vmdk, &o) != 0)
        fail_msg("create: %s", image_last_error());
    struct image *img = open_ok(vmdk, 0);
    assert_int_equal(image_size(img), size);
    assert_string_equal(variant_of(img), expect_variant);
    uint8_t *shadow = xcalloc(1, size);
    random_writes(img, shadow, size, writes, max_sectors, 0xabc + size);
    assert_int_equal(image_flush(img), 0);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    img = open_ok(vmdk, IMAGE_OPEN_RDONLY);
    assert_image_is(img, shadow, size);
    image_close(img);
    if (have_qemu) {
        spit(raw, shadow, size);
        assert_int_equal(sh("qemu-img check -q -f vmdk %s", vmdk), 0);
        assert_int_equal(sh("qemu-img compare -q -f vmdk -F raw %s %s", vmdk, raw), 0);
    }
    free(shadow);
}

static void caixa_sparse_write(void **st)
{
    (void)st;
    write_and_compare("cs", IMAGE_VARIANT_STANDARD, 70 * MiB, 400, 700, "sparse");
}

static void caixa_flat_write(void **st)
{
    (void)st;
    write_and_compare("cf", IMAGE_VARIANT_FIXED, 9 * MiB, 100, 900, "flat");
    struct stat s;
    assert_int_equal(stat(tpath("cf-flat.vmdk"), &s), 0);
    assert_int_equal(s.st_size, 9 * MiB);
    /* the extent is locked with the descriptor */
    struct image *img = open_ok(tpath("cf.vmdk"), 0);
    int fd = open(tpath("cf-flat.vmdk"), O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_SH | LOCK_NB), -1);
    close(fd);
    /* Writeback reaches the extent file, where the data is. */
    static uint8_t b[MiB];
    memset(b, 0x5a, sizeof b);
    assert_int_equal(image_write(img, 2 * MiB, b, sizeof b), 0);
    assert_true(dirty_pages(tpath("cf-flat.vmdk")) != 0);
    image_start_writeback(img);
    assert_true(dirty_pages(tpath("cf-flat.vmdk")) <= 0);
    image_close(img);
    /* never overwritten */
    unlink(tpath("cf.vmdk"));
    struct image_create_opts o = {.format = "vmdk", .size = MiB, .variant = IMAGE_VARIANT_FIXED};
    assert_int_equal(image_create(tpath("cf.vmdk"), &o), -1);
    assert_non_null(strstr(image_last_error(), "exists"));
    assert_int_equal(stat(tpath("cf-flat.vmdk"), &s), 0);
    assert_int_equal(s.st_size, 9 * MiB);
}

/* The embedded descriptor and header as VMware's spec lays them out. */
static void caixa_sparse_layout(void **st)
{
    (void)st;
    const char *vmdk = tpath("lay.vmdk");
    struct image_create_opts o = {.format = "vmdk", .size = 100 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vmdk, &o), 0);
    size_t len;
    uint8_t *f = slurp(vmdk, &len);
    assert_memory_equal(f, "KDMV", 4);
    assert_int_equal(get_le(f + 12, 8), 100 * MiB / 512);     /* capacity */
    assert_int_equal(get_le(f + 20, 8), 128);                 /* grain */
    assert_int_equal(get_le(f + 44, 4), 512);                 /* GTEs per GT */
    assert_int_equal(len % (64 * KiB), 0);                    /* overhead on a grain boundary */
    assert_int_equal(get_le(f + 64, 8) * 512, len);
    const char *d = (const char *)f + 512;
    assert_memory_equal(d, "# Disk DescriptorFile", 21);
    assert_non_null(strstr(d, "createType=\"monolithicSparse\""));
    assert_non_null(strstr(d, "RW 204800 SPARSE \"lay.vmdk\""));
    assert_non_null(strstr(d, "parentCID=ffffffff"));
    assert_non_null(strstr(d, "ddb.geometry.cylinders = \"203\""));
    assert_non_null(strstr(d, "ddb.uuid.image"));
    free(f);
    if (have_qemu)
        assert_int_equal(sh("qemu-img info %s | grep -q 'create type: monolithicSparse'", vmdk), 0);
}

/* CID changes on the first write after open (section 3: children can tell
 * the parent changed). */
static void cid_renewed(void **st)
{
    (void)st;
    const char *vmdk = tpath("cid.vmdk");
    struct image_create_opts o = {.format = "vmdk", .size = MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vmdk, &o), 0);
    size_t len;
    uint8_t *f = slurp(vmdk, &len);
    char before[9];
    memcpy(before, strstr((char *)f + 512, "\nCID=") + 5, 8);
    free(f);
    struct image *img = open_ok(vmdk, 0);
    uint8_t b[512] = {1};
    assert_int_equal(image_write(img, 0, b, sizeof b), 0);
    image_close(img);
    f = slurp(vmdk, &len);
    assert_memory_not_equal(strstr((char *)f + 512, "\nCID=") + 5, before, 8);
    free(f);
}

static void child_chain(void **st)
{
    (void)st;
    const char *base = tpath("base.vmdk"), *child = tpath("child.vmdk"), *raw = tpath("child.raw");
    struct image_create_opts o = {.format = "vmdk", .size = 24 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(base, &o), 0);
    struct image *img = open_ok(base, 0);
    uint8_t *want = xcalloc(1, 24 * MiB);
    random_writes(img, want, 24 * MiB, 80, 1000, 11);
    image_close(img);
    uint8_t *base_copy = xmalloc(24 * MiB);
    memcpy(base_copy, want, 24 * MiB);
    struct image_create_opts c = {.format = "vmdk", .parent = base};
    if (image_create(child, &c) != 0)
        fail_msg("create child: %s", image_last_error());
    img = open_ok(child, 0);
    assert_non_null(image_parent(img));
    assert_image_is(img, want, 24 * MiB);
    random_writes(img, want, 24 * MiB, 100, 300, 12);   /* partial grains over parent data */
    assert_image_is(img, want, 24 * MiB);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    img = open_ok(base, IMAGE_OPEN_RDONLY);
    assert_image_is(img, base_copy, 24 * MiB);
    image_close(img);
    if (have_qemu) {
        spit(raw, want, 24 * MiB);
        assert_int_equal(sh("qemu-img check -q -f vmdk %s", child), 0);
        assert_int_equal(sh("qemu-img info %s | grep -q 'backing file: base.vmdk'", child), 0);
        assert_int_equal(sh("qemu-img compare -q -f vmdk -F raw %s %s", child, raw), 0);

        /* a child qemu makes of caixa's image: caixa follows its hint */
        const char *qchild = tpath("qchild.vmdk"), *qraw = tpath("qchild.raw");
        assert_int_equal(sh("cd %s && qemu-img create -q -f vmdk -b base.vmdk -F vmdk qchild.vmdk", oracle_dir), 0);
        assert_int_equal(sh("qemu-io -f vmdk -c 'write -P 0x99 1000k 3k' %s", qchild), 0);
        assert_int_equal(sh("qemu-img convert -f vmdk -O raw %s %s", qchild, qraw), 0);
        img = open_ok(qchild, IMAGE_OPEN_RDONLY);
        assert_non_null(image_parent(img));
        assert_image_is_file(img, qraw);
        image_close(img);
    }
    free(want);
    free(base_copy);
}

static void poke(const char *path, long off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void expect_error(const char *path, const char *why)
{
    struct image *img = image_open(path, IMAGE_OPEN_RDONLY);
    if (img) {
        image_close(img);
        fail_msg("%s opened; expected an error about '%s'", path, why);
    }
    if (!strstr(image_last_error(), why))
        fail_msg("'%s' lacks '%s'", image_last_error(), why);
}

static void hostile_files(void **st)
{
    (void)st;
    const char *vmdk = tpath("bad.vmdk");
    struct image_create_opts o = {.format = "vmdk", .size = 4 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    struct {
        long at;
        const char *bytes;
        size_t n;
        const char *why;
    } cases[] = {
        {4, "\x09\0\0\0", 4, "version"},
        {20, "\x03\0\0\0\0\0\0\0", 8, "out of range"},               /* grain not a power of two */
        {44, "\0\0\0\0", 4, "out of range"},                         /* no GT entries */
        {12, "\0\0\0\0\0\0\0\x40", 8, "out of range"},               /* capacity 2^62 sectors */
        {56, "\0\0\0\0\0\x01\0\0", 8, "grain directory"},            /* GD past the end */
        {73, "\r\n", 2, "newline"},                                  /* text-mode transfer */
        {36, "\0\0\0\0\0\x01\0\0", 8, "descriptor"},                 /* 2^40 descriptor sectors */
        {8, "\x03\0\x01\0", 4, "compression"},                       /* compressed, algorithm 0 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        unlink(vmdk);
        assert_int_equal(image_create(vmdk, &o), 0);
        poke(vmdk, cases[i].at, cases[i].bytes, cases[i].n);
        expect_error(vmdk, cases[i].why);
    }
    /* A GT entry pointing at the header: a write is refused. */
    unlink(vmdk);
    assert_int_equal(image_create(vmdk, &o), 0);
    struct image *img = open_ok(vmdk, IMAGE_OPEN_RDONLY);
    image_close(img);
    size_t len;
    uint8_t *f = slurp(vmdk, &len);
    uint64_t gt0 = get_le(f + get_le(f + 56, 8) * 512, 4);
    free(f);
    poke(vmdk, (long)(gt0 * 512), "\x01\0\0\0", 4);
    img = open_ok(vmdk, 0);
    uint8_t b[512] = {0};
    assert_true(image_write(img, 0, b, sizeof b) < 0);
    assert_true(check_count(img) > 0);
    image_close(img);

    /* Descriptors: a missing extent, a FIFO (must not hang), a bad line. */
    const char *desc = tpath("d.vmdk");
    static const struct {
        const char *body, *why;
    } descs[] = {
        {"RW 100 FLAT \"nowhere-flat.vmdk\" 0\n", "nowhere-flat.vmdk"},
        {"RW 100 FLAT \"fifo\" 0\n", "not a regular file"},
        {"RW abc FLAT \"x\" 0\n", "line 3"},
        {"RW 100 SESPARSE \"x\"\n", "not supported"},
        {"RW 100 FLAT x\n", "quoted"},
        {"version=1\n", "no extent"},
        {"RW 100 SPARSE \"d.vmdk\"\n", "KDMV"},
        {"parentCID=12345678\nRW 100 ZERO\n", "parentFileNameHint"},
    };
    assert_int_equal(sh("mkfifo %s", tpath("fifo")), 0);
    for (size_t i = 0; i < ARRAY_SIZE(descs); i++) {
        char text[256];
        snprintf(text, sizeof text, "# Disk DescriptorFile\nversion=1\n%s", descs[i].body);
        spit(desc, (const uint8_t *)text, strlen(text));
        expect_error(desc, descs[i].why);
    }
    /* ZERO and FLAT extents together, the flat one at an offset */
    const char *two = tpath("two.vmdk");
    uint8_t data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    spit(tpath("two-flat"), data, sizeof data);
    const char *t = "# Disk DescriptorFile\nCID=fffffffe\nparentCID=ffffffff\n"
                    "RW 2 ZERO\r\nRDONLY 4 FLAT \"two-flat\" 2\n";
    spit(two, (const uint8_t *)t, strlen(t));
    img = open_ok(two, 0);
    assert_int_equal(image_size(img), 6 * 512);
    uint8_t want[3072] = {0};
    memcpy(want + 1024, data + 1024, 2048);
    assert_image_is(img, want, sizeof want);
    assert_int_equal(image_write(img, 1024, data, 512), -EROFS);
    image_close(img);
}

/* Writes that returned survive kill -9 of the writer. */
static void survives_sigkill(void **st)
{
    (void)st;
    const char *vmdk = tpath("kill.vmdk");
    uint64_t size = 16 * MiB;
    struct image_create_opts o = {.format = "vmdk", .size = size, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vmdk, &o), 0);
    uint8_t *want = xcalloc(1, size);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct image *img = image_open(vmdk, 0);
        if (!img)
            _exit(1);
        random_writes(img, want, size, 60, 400, 42);
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    uint64_t seed = 42;
    for (int i = 0; i < 60; i++) {
        uint64_t sectors = 1 + prng_next(&seed) % 400;
        uint64_t at = prng_next(&seed) % (size / 512 - sectors + 1) * 512;
        fill_random(want + at, sectors * 512, &seed);
    }
    struct image *img = open_ok(vmdk, IMAGE_OPEN_RDONLY);
    assert_image_is(img, want, size);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    if (have_qemu)
        assert_int_equal(sh("qemu-img check -q -f vmdk %s", vmdk), 0);
    free(want);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sequential_speed(void **st)
{
    (void)st;
    const char *vmdk = tpath("seq.vmdk");
    uint64_t size = 128 * MiB;
    struct image_create_opts o = {.format = "vmdk", .size = size, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vmdk, &o), 0);
    struct image *img = open_ok(vmdk, 0);
    size_t chunk = 4 * KiB;
    uint8_t *buf = xmalloc(chunk);
    uint64_t seed = 3;
    fill_random(buf, chunk, &seed);
    double t0 = now_s();
    for (uint64_t off = 0; off < size; off += chunk) {
        buf[0] = (uint8_t)(off >> 12);
        assert_int_equal(image_write(img, off, buf, chunk), 0);
    }
    double t1 = now_s();
    for (uint64_t off = 0; off < size; off += chunk) {
        assert_int_equal(image_read(img, off, buf, chunk), 0);
        assert_int_equal(buf[0], (uint8_t)(off >> 12));
    }
    double t2 = now_s();
    fprintf(stderr, "vmdk sparse sequential 4K: write %.0f MB/s, read %.0f MB/s\n", 128 / (t1 - t0),
            128 / (t2 - t1));
    image_close(img);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qemu_sparse_read),      cmocka_unit_test(qemu_flat_read),
        cmocka_unit_test(qemu_split_sparse_read), cmocka_unit_test(qemu_zeroed_grain),
        cmocka_unit_test(qemu_stream_optimized_read), cmocka_unit_test(caixa_sparse_write),
        cmocka_unit_test(caixa_flat_write),      cmocka_unit_test(caixa_sparse_layout),
        cmocka_unit_test(cid_renewed),           cmocka_unit_test(child_chain),
        cmocka_unit_test(hostile_files),         cmocka_unit_test(survives_sigkill),
        cmocka_unit_test(sequential_speed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
