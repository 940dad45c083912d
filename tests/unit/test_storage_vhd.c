/* VHD images (src/storage/vhd.c) against qemu-img/qemu-io ("vpc"): images
 * qemu makes are read bit-exactly; images caixa writes (random writes,
 * partial blocks) compare equal in qemu-img; differencing chains, resize,
 * check, hostile files, data that survives SIGKILL. Skips the qemu parts
 * when qemu-img is missing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "storage_oracle.h"

static int setup(void **st)
{
    (void)st;
    return oracle_setup("vhd");
}

static int teardown(void **st)
{
    (void)st;
    return oracle_teardown();
}

/* qemu-io writes of known patterns at block edges, inside blocks, at the
 * end of the disk. */
static const char qemu_writes[] = "-c 'write -P 0x11 0 64k' -c 'write -P 0x22 2040k 16k' "
                                  "-c 'write -P 0x33 5m 1m' -c 'write -P 0x44 17m 512' "
                                  "-c 'write -P 0x55 31m 1m'";

static void qemu_dynamic_read(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    const char *vhd = tpath("qd.vhd"), *raw = tpath("qd.raw");
    assert_int_equal(sh("qemu-img create -q -f vpc -o subformat=dynamic %s 32M", vhd), 0);
    assert_int_equal(sh("qemu-io -f vpc %s %s", qemu_writes, vhd), 0);
    assert_int_equal(sh("qemu-img convert -f vpc -O raw %s %s", vhd, raw), 0);
    struct image *img = open_ok(vhd, IMAGE_OPEN_RDONLY);
    assert_string_equal(image_format_name(img), "vhd");
    struct image_info info;
    image_get_info(img, &info);
    assert_string_equal(info.variant, "dynamic");
    assert_true(info.has_uuid);
    assert_image_is_file(img, raw);
    assert_int_equal(check_count(img), 0);
    image_close(img);
}

static void qemu_fixed_read(void **st)
{
    (void)st;
    if (!have_qemu)
        skip();
    /* 34 KiB: one CHS cylinder of 4 heads x 17 sectors, so the whole file
     * (footer too) is in the head probe() sees. */
    const char *vhd = tpath("qf.vhd"), *raw = tpath("qf.raw");
    assert_int_equal(sh("qemu-img create -q -f vpc -o subformat=fixed %s 34K", vhd), 0);
    assert_int_equal(sh("qemu-io -f vpc -c 'write -P 0x5a 1k 4k' -c 'write -P 0xa5 33k 1k' %s", vhd), 0);
    assert_int_equal(sh("qemu-img convert -f vpc -O raw %s %s", vhd, raw), 0);
    struct image *img = open_ok(vhd, IMAGE_OPEN_RDONLY);
    assert_string_equal(image_format_name(img), "vhd");
    struct image_info info;
    image_get_info(img, &info);
    assert_string_equal(info.variant, "fixed");
    assert_image_is_file(img, raw);
    image_close(img);
}

/* Random writes through caixa, then qemu-img compares the image with the
 * expected raw content, and caixa reads it back. */
static void write_and_compare(const char *name, enum image_variant variant, uint64_t size, int writes,
                              unsigned max_sectors)
{
    char vname[64], rname[64];
    snprintf(vname, sizeof vname, "%s.vhd", name);
    snprintf(rname, sizeof rname, "%s.raw", name);
    const char *vhd = tpath(vname), *raw = tpath(rname);
    struct image_create_opts o = {.format = "vhd", .size = size, .variant = variant};
    if (image_create(vhd, &o) != 0)
        fail_msg("create: %s", image_last_error());
    struct image *img = open_ok(vhd, 0);
    uint64_t vsize = image_size(img);
    assert_true(vsize >= size && vsize < size + 64 * 16 * 63 * 512ull);
    uint8_t *shadow = xcalloc(1, vsize);
    random_writes(img, shadow, vsize, writes, max_sectors, 0x5eed0000 + size);
    assert_int_equal(image_flush(img), 0);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    spit(raw, shadow, vsize);
    img = open_ok(vhd, IMAGE_OPEN_RDONLY);
    assert_image_is(img, shadow, vsize);
    image_close(img);
    if (have_qemu) {
        assert_int_equal(sh("qemu-img info -f vpc %s | grep -q 'virtual size: .*(%llu bytes)'", vhd,
                            (unsigned long long)vsize), 0);
        assert_int_equal(sh("qemu-img compare -q -f vpc -F raw %s %s", vhd, raw), 0);
    }
    free(shadow);
}

static void caixa_dynamic_write(void **st)
{
    (void)st;
    write_and_compare("cd", IMAGE_VARIANT_STANDARD, 40 * MiB, 300, 5000);
}

static void caixa_fixed_write(void **st)
{
    (void)st;
    write_and_compare("cf", IMAGE_VARIANT_FIXED, 34 * KiB, 40, 16);
}

/* A dynamic disk's layout as the spec gives it: footer copy at 0 equal to
 * the footer at the end, "cxsparse" at 512, BAT at 1536 of 0xffffffff. */
static void caixa_dynamic_layout(void **st)
{
    (void)st;
    const char *vhd = tpath("lay.vhd");
    struct image_create_opts o = {.format = "vhd", .size = 4 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vhd, &o), 0);
    size_t len;
    uint8_t *f = slurp(vhd, &len);
    assert_int_equal(len, 512 + 1024 + 512 + 512);
    assert_memory_equal(f, "conectix", 8);
    assert_memory_equal(f, f + len - 512, 512);
    assert_memory_equal(f + 512, "cxsparse", 8);
    assert_memory_equal(f + 28, "caix", 4);
    /* 4 MiB is not whole CHS: 4 x 17-sector tracks, rounded up to 8 cylinders... */
    uint64_t cur = 0;
    for (int i = 0; i < 8; i++)
        cur = cur << 8 | f[48 + i];
    uint32_t geo = (uint32_t)(f[56] << 24 | f[57] << 16 | f[58] << 8 | f[59]);
    assert_int_equal(cur, (uint64_t)(geo >> 16) * ((geo >> 8) & 0xff) * (geo & 0xff) * 512);
    assert_true(cur >= 4 * MiB);
    /* two BAT entries (2 MiB blocks), unused */
    assert_memory_equal(f + 1536, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    free(f);
}

static void differencing_chain(void **st)
{
    (void)st;
    const char *base = tpath("base.vhd"), *child = tpath("child.vhd");
    uint64_t seed = 77;
    struct image_create_opts o = {.format = "vhd", .size = 12 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(base, &o), 0);
    struct image *img = open_ok(base, 0);
    uint64_t size = image_size(img);
    uint8_t *want = xcalloc(1, size);
    random_writes(img, want, size, 60, 3000, seed);
    image_close(img);
    uint8_t *base_copy = xmalloc(size);
    memcpy(base_copy, want, size);

    struct image_create_opts c = {.format = "vhd", .parent = base};
    if (image_create(child, &c) != 0)
        fail_msg("create child: %s", image_last_error());
    img = open_ok(child, 0);
    assert_non_null(image_parent(img));
    assert_int_equal(image_size(img), size);
    struct image_info ci, pi;
    image_get_info(img, &ci);
    image_get_info(image_parent(img), &pi);
    assert_string_equal(ci.variant, "differencing");
    assert_true(ci.has_parent_uuid);
    assert_memory_equal(ci.parent_uuid, pi.uuid, 16);
    assert_image_is(img, want, size);           /* all from the parent */
    random_writes(img, want, size, 80, 700, seed + 1);  /* partial blocks, odd sectors */
    assert_image_is(img, want, size);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    img = open_ok(base, IMAGE_OPEN_RDONLY);
    assert_image_is(img, base_copy, size);      /* the parent untouched */
    image_close(img);

    /* Both moved elsewhere: the relative locator (W2ru) still finds the
     * parent; the absolute one (W2ku) is stale. */
    assert_int_equal(sh("mkdir %s/moved && mv %s %s %s/moved/", oracle_dir, base, child, oracle_dir), 0);
    img = open_ok(tpath("moved/child.vhd"), IMAGE_OPEN_RDONLY);
    assert_image_is(img, want, size);
    assert_non_null(strstr(image_path(image_parent(img)), "moved/base.vhd"));
    image_close(img);

    /* Another image put in the parent's place: its UUID differs. */
    assert_int_equal(sh("mv %s/moved/base.vhd %s/moved/base.old", oracle_dir, oracle_dir), 0);
    assert_int_equal(image_create(tpath("moved/base.vhd"), &o), 0);
    assert_null(image_open(tpath("moved/child.vhd"), IMAGE_OPEN_RDONLY));
    assert_non_null(strstr(image_last_error(), "UUID"));
    free(want);
    free(base_copy);
}

/* A block whose every sector is here, once its bitmap was seen, is read
 * without it: the try form (no waiting, no file metadata) serves it after
 * another block's bitmap took the one cached place. A block with sectors
 * still the parent's is not. */
static void full_blocks_skip_bitmap(void **st)
{
    (void)st;
    const char *base = tpath("fb-base.vhd"), *child = tpath("fb-child.vhd");
    struct image_create_opts o = {.format = "vhd", .size = 8 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(base, &o), 0);
    struct image_create_opts c = {.format = "vhd", .parent = base};
    assert_int_equal(image_create(child, &c), 0);
    struct image *img = open_ok(child, 0);
    uint32_t block = 2 * MiB;                  /* caixa's VHD block size */
    uint8_t *whole = xmalloc(block), b[4096], got[4096];
    memset(whole, 0xa1, block);
    memset(b, 0xb2, sizeof b);
    assert_int_equal(image_write(img, 0, whole, block), 0);          /* block 0: full */
    assert_int_equal(image_write(img, block, b, sizeof b), 0);       /* block 1: 8 of 4096 sectors */
    image_close(img);

    img = open_ok(child, 0);
    struct iovec iov = {got, sizeof got};
    assert_int_equal(image_try_readv(img, 4096, &iov, 1), -EAGAIN);  /* nothing seen yet */
    assert_int_equal(image_read(img, 4096, got, sizeof got), 0);     /* block 0's bitmap */
    assert_int_equal(image_read(img, block, got, sizeof got), 0);    /* block 1's takes its place */
    memset(got, 0, sizeof got);
    assert_int_equal(image_try_readv(img, 4096, &iov, 1), 0);
    assert_memory_equal(got, whole, sizeof got);
    assert_int_equal(image_read(img, 8192, got, sizeof got), 0);     /* block 0's again */
    assert_int_equal(image_try_readv(img, block, &iov, 1), -EAGAIN); /* block 1 is not full */
    free(whole);
    image_close(img);
}

static void resize_dynamic(void **st)
{
    (void)st;
    const char *vhd = tpath("rs.vhd"), *raw = tpath("rs.raw");
    struct image_create_opts o = {.format = "vhd", .size = 8 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vhd, &o), 0);
    struct image *img = open_ok(vhd, 0);
    uint64_t small = image_size(img);
    /* 528 cylinders x 16 heads x 63 sectors: whole CHS, so qemu (which
     * sizes unknown creators' disks by CHS) sees the same size. The BAT of
     * 5 entries (room for 128 in its sector) has to move for 130. */
    uint64_t big = 528ull * 16 * 63 * 512;
    uint8_t *want = xcalloc(1, big);
    random_writes(img, want, small, 20, 2000, 5);
    assert_int_equal(image_resize(img, big), 0);
    assert_int_equal(image_size(img), big);
    random_writes(img, want, big, 40, 4000, 6);
    assert_int_equal(image_write(img, big - 512, "tail", 4), -EINVAL);  /* not a sector */
    uint8_t last[512];
    memset(last, 0xee, sizeof last);
    assert_int_equal(image_write(img, big - 512, last, 512), 0);
    memcpy(want + big - 512, last, 512);
    assert_int_equal(check_count(img), 0);
    assert_int_not_equal(image_resize(img, small), 0);  /* no shrinking */
    image_close(img);
    img = open_ok(vhd, IMAGE_OPEN_RDONLY);
    assert_int_equal(image_size(img), big);
    assert_image_is(img, want, big);
    image_close(img);
    if (have_qemu) {
        spit(raw, want, big);
        assert_int_equal(sh("qemu-img compare -q -f vpc -F raw %s %s", vhd, raw), 0);
    }
    free(want);
}

/* Patches bytes of a file. */
static void poke(const char *path, long off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void reseal(const char *path, long off, size_t len, size_t cksum_at)
{
    size_t flen;
    uint8_t *f = slurp(path, &flen);
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < cksum_at || i >= cksum_at + 4)
            sum += f[off + (long)i];
    sum = ~sum;
    uint8_t be[4] = {(uint8_t)(sum >> 24), (uint8_t)(sum >> 16), (uint8_t)(sum >> 8), (uint8_t)sum};
    poke(path, off + (long)cksum_at, be, 4);
    free(f);
}

static void hostile_files(void **st)
{
    (void)st;
    const char *vhd = tpath("bad.vhd");
    struct image_create_opts o = {.format = "vhd", .size = 4 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    struct {
        long at;           /* in the dynamic header (512) or footer copy (0) */
        const char *bytes;
        size_t n;
        const char *why;   /* in the error message */
    } cases[] = {
        {512 + 36, "\0\0\0\0", 4, "checksum"},                       /* header checksum */
        {512 + 32, "\x00\x00\x01\x01", 4, "block size"},             /* not a power of two */
        {512 + 28, "\x40\x00\x00\x00", 4, "BAT"},                    /* 1 Gi entries */
        {512 + 16, "\x7f\x00\x00\x00\x00\x00\x00\x00", 8, "BAT"},    /* BAT far away */
        {512 + 28, "\x00\x00\x00\x01", 4, "too few"},                /* 1 entry for 2 blocks */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        unlink(vhd);
        assert_int_equal(image_create(vhd, &o), 0);
        poke(vhd, cases[i].at, cases[i].bytes, cases[i].n);
        if (strcmp(cases[i].why, "checksum") != 0)
            reseal(vhd, 512, 1024, 36);
        assert_null(image_open(vhd, IMAGE_OPEN_RDONLY));
        if (!strstr(image_last_error(), cases[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, image_last_error(), cases[i].why);
    }
    /* A BAT entry pointing at the headers (its block reaching past the
     * footer): read-only it reads what is there; read-write is refused. */
    unlink(vhd);
    assert_int_equal(image_create(vhd, &o), 0);
    poke(vhd, 1536, "\0\0\0\0", 4);
    assert_null(image_open(vhd, 0));
    assert_non_null(strstr(image_last_error(), "read-only"));
    struct image *img = open_ok(vhd, IMAGE_OPEN_RDONLY);
    uint8_t buf[512];
    assert_int_equal(image_read(img, 0, buf, sizeof buf), 0);
    assert_true(check_count(img) > 0);
    image_close(img);
    /* A block inside the file but over the BAT: a write is refused rather
     * than overwriting the BAT. */
    unlink(vhd);
    assert_int_equal(image_create(vhd, &o), 0);
    assert_int_equal(truncate(vhd, 4 * MiB), 0);
    {
        /* a footer at the new end: copy the one at 0 */
        size_t flen;
        uint8_t *f = slurp(vhd, &flen);
        poke(vhd, (long)flen - 512, f, 512);
        free(f);
    }
    poke(vhd, 1536, "\0\0\0\x03", 4);   /* block 0 at sector 3: the BAT */
    img = open_ok(vhd, 0);
    assert_int_equal(image_read(img, 0, buf, sizeof buf), 0);
    assert_true(image_write(img, 0, buf, sizeof buf) < 0);
    assert_true(check_count(img) > 0);
    image_close(img);
    /* Truncated: the footer gone, the copy at 0 stands in. */
    unlink(vhd);
    assert_int_equal(image_create(vhd, &o), 0);
    assert_int_equal(truncate(vhd, 512 + 1024 + 512 + 100), 0);
    img = open_ok(vhd, 0);
    assert_int_equal(check_count(img), 0);         /* repaired by the writable open */
    memset(buf, 0x42, sizeof buf);
    assert_int_equal(image_write(img, 3 * MiB, buf, sizeof buf), 0);
    image_close(img);
    img = open_ok(vhd, IMAGE_OPEN_RDONLY);
    uint8_t back[512];
    assert_int_equal(image_read(img, 3 * MiB, back, sizeof back), 0);
    assert_memory_equal(back, buf, sizeof buf);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    /* Too short for anything. */
    unlink(vhd);
    uint8_t junk[1024] = "conectix";
    spit(vhd, junk, sizeof junk);
    assert_null(image_open(vhd, IMAGE_OPEN_RDONLY));
}

/* Writes that returned survive kill -9 of the writer (no user-space cache). */
static void survives_sigkill(void **st)
{
    (void)st;
    const char *vhd = tpath("kill.vhd");
    struct image_create_opts o = {.format = "vhd", .size = 16 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vhd, &o), 0);
    uint64_t size = 0;
    {
        struct image *img = open_ok(vhd, IMAGE_OPEN_RDONLY);
        size = image_size(img);
        image_close(img);
    }
    uint8_t *want = xcalloc(1, size);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct image *img = image_open(vhd, 0);
        if (!img)
            _exit(1);
        random_writes(img, want, size, 50, 3000, 99);
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the same writes, replayed into the shadow only */
    uint64_t seed = 99;
    for (int i = 0; i < 50; i++) {
        uint64_t sectors = 1 + prng_next(&seed) % 3000;
        uint64_t at = prng_next(&seed) % (size / 512 - sectors + 1) * 512;
        fill_random(want + at, sectors * 512, &seed);
    }
    struct image *img = open_ok(vhd, 0);
    assert_image_is(img, want, size);
    assert_int_equal(check_count(img), 0);
    image_close(img);
    free(want);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sequential 64 KiB writes then reads: the BAT and bitmap stay in memory. */
static void sequential_speed(void **st)
{
    (void)st;
    const char *vhd = tpath("seq.vhd");
    struct image_create_opts o = {.format = "vhd", .size = 128 * MiB, .variant = IMAGE_VARIANT_STANDARD};
    assert_int_equal(image_create(vhd, &o), 0);
    struct image *img = open_ok(vhd, 0);
    size_t chunk = 64 * KiB;
    uint8_t *buf = xmalloc(chunk);
    uint64_t seed = 3;
    fill_random(buf, chunk, &seed);
    double t0 = now_s();
    for (uint64_t off = 0; off < 128 * MiB; off += chunk) {
        buf[0] = (uint8_t)(off >> 16);
        assert_int_equal(image_write(img, off, buf, chunk), 0);
    }
    double t1 = now_s();
    for (uint64_t off = 0; off < 128 * MiB; off += chunk) {
        assert_int_equal(image_read(img, off, buf, chunk), 0);
        assert_int_equal(buf[0], (uint8_t)(off >> 16));
    }
    double t2 = now_s();
    fprintf(stderr, "vhd dynamic sequential 64K: write %.0f MB/s, read %.0f MB/s\n",
            128 / (t1 - t0), 128 / (t2 - t1));
    image_close(img);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qemu_dynamic_read),   cmocka_unit_test(qemu_fixed_read),
        cmocka_unit_test(caixa_dynamic_write), cmocka_unit_test(caixa_fixed_write),
        cmocka_unit_test(caixa_dynamic_layout), cmocka_unit_test(differencing_chain),
        cmocka_unit_test(resize_dynamic),      cmocka_unit_test(hostile_files),
        cmocka_unit_test(survives_sigkill),    cmocka_unit_test(sequential_speed),
        cmocka_unit_test(full_blocks_skip_bitmap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
