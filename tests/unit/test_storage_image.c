/* The generic image layer (src/storage/image.c) over raw images: creation,
 * argument checks, locking, parent chains by path, clone, resize, discard. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/format.h"
#include "storage/image.h"

#define MiB (1u << 20)

static char dir[64];

static int setup(void **st)
{
    (void)st;
    strcpy(dir, "/tmp/caixa-img-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *tpath(const char *name)
{
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void test_raw_create_rw(void **st)
{
    (void)st;
    const char *p = tpath("a.raw");
    struct image_create_opts o = {.format = "RAW", .size = 4 * MiB};
    assert_int_equal(image_create(p, &o), 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 4 * MiB);
    /* Never overwrites. */
    assert_int_equal(image_create(p, &o), -1);
    assert_non_null(strstr(image_last_error(), "exists"));

    struct image *img = image_open(p, 0);
    assert_non_null(img);
    assert_string_equal(image_format_name(img), "raw");
    assert_int_equal(image_size(img), 4 * MiB);
    static uint8_t w[64 * 1024], r[64 * 1024];
    fill(w, sizeof w, 1);
    assert_int_equal(image_write(img, 512 * 3, w, sizeof w), 0);
    assert_int_equal(image_read(img, 512 * 3, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    assert_int_equal(image_flush(img), 0);

    /* Argument checks: errors, never a crash. */
    assert_int_equal(image_read(img, 1, r, 512), -EINVAL);
    assert_non_null(strstr(image_last_error(), "aligned"));
    assert_int_equal(image_write(img, 0, w, 100), -EINVAL);
    assert_int_equal(image_read(img, 4 * MiB - 512, r, 1024), -EINVAL);
    assert_non_null(strstr(image_last_error(), "beyond"));
    assert_int_equal(image_read(img, UINT64_MAX - 511, r, 512), -EINVAL);
    assert_int_equal(image_read(img, 4 * MiB - 512, r, 512), 0);

    /* A second writer, or a reader beside a writer, is refused. */
    assert_null(image_open(p, 0));
    assert_non_null(strstr(image_last_error(), "locked by another process"));
    assert_null(image_open(p, IMAGE_OPEN_RDONLY));
    image_close(img);

    /* Read-only opens share. */
    struct image *r1 = image_open(p, IMAGE_OPEN_RDONLY);
    struct image *r2 = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_true(image_read_only(r1));
    assert_int_equal(image_write(r1, 0, w, 512), -EROFS);
    assert_int_equal(image_read(r2, 512 * 3, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    assert_null(image_open(p, 0));
    image_close(r1);
    image_close(r2);
}

static void test_raw_fixed_resize_discard(void **st)
{
    (void)st;
    const char *p = tpath("fixed.raw");
    struct image_create_opts o = {.format = "raw", .size = 2 * MiB, .variant = IMAGE_VARIANT_FIXED};
    assert_int_equal(image_create(p, &o), 0);
    struct image *img = image_open(p, 0);
    assert_non_null(img);
    struct image_info info;
    image_get_info(img, &info);
    assert_string_equal(info.format, "raw");
    assert_true(info.file_size >= 2 * MiB);
    assert_string_equal(info.variant, "fixed");

    static uint8_t w[MiB], r[MiB];
    fill(w, sizeof w, 2);
    assert_int_equal(image_write(img, MiB, w, MiB), 0);
    assert_int_equal(image_resize(img, 3 * MiB), 0);
    assert_int_equal(image_size(img), 3 * MiB);
    assert_int_equal(image_read(img, 2 * MiB, r, MiB), 0);
    for (size_t i = 0; i < MiB; i++)
        assert_int_equal(r[i], 0);
    assert_int_equal(image_read(img, MiB, r, MiB), 0);
    assert_memory_equal(w, r, MiB);
    assert_int_equal(image_resize(img, 1000), -1);

    /* Discard of a raw file punches a hole: zeros afterwards. */
    assert_int_equal(image_discard(img, MiB, 64 * 1024), 0);
    assert_int_equal(image_read(img, MiB, r, 64 * 1024), 0);
    for (size_t i = 0; i < 64 * 1024; i++)
        assert_int_equal(r[i], 0);
    assert_int_equal(image_discard(img, 3, 512), -EINVAL);
    image_close(img);
}

static void test_clone_and_errors(void **st)
{
    (void)st;
    const char *src = tpath("src.raw"), *dst = tpath("dst.raw");
    struct image_create_opts o = {.format = "raw", .size = 3 * MiB};
    assert_int_equal(image_create(src, &o), 0);
    struct image *img = image_open(src, 0);
    assert_non_null(img);
    static uint8_t w[4096], r[4096];
    fill(w, sizeof w, 3);
    assert_int_equal(image_write(img, 2 * MiB + 4096, w, sizeof w), 0);
    assert_int_equal(image_clone(img, dst, &o), 0);
    image_close(img);

    struct image *c = image_open(dst, IMAGE_OPEN_RDONLY);
    assert_non_null(c);
    assert_int_equal(image_size(c), 3 * MiB);
    assert_int_equal(image_read(c, 2 * MiB + 4096, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    struct image_info info;
    image_get_info(c, &info);
    /* Zero chunks were skipped: only one MiB holds data on disk. */
    assert_true(info.file_size <= 2 * MiB);
    image_close(c);

    assert_null(image_open(tpath("missing"), 0));
    assert_non_null(strstr(image_last_error(), "No such file"));
    assert_null(image_open(dir, 0));
    struct image_create_opts bad = {.format = "nope", .size = MiB};
    assert_int_equal(image_create(tpath("x"), &bad), -1);
    assert_non_null(strstr(image_last_error(), "unknown image format"));
    struct image_create_opts odd = {.format = "raw", .size = 1000};
    assert_int_equal(image_create(tpath("y"), &odd), -1);
    assert_int_equal(access(tpath("y"), F_OK), -1);
    assert_true(image_format_known("VDI"));
    assert_true(image_format_known("iso"));
    assert_false(image_format_creatable("iso"));
    assert_true(image_format_creatable("vdi"));
    assert_true(image_format_known("Raw"));
    assert_false(image_format_known("floppy"));
}

/* A format of the test's own, known only by its last bytes: the registry
 * finds formats registered anywhere in the program, and probe_tail sees the
 * file's end. */
#define TAIL_MAGIC "CAIXA-TAIL-TEST!"

static int tail_probe(const uint8_t *tail, size_t len, uint64_t file_size)
{
    (void)file_size;
    size_t n = sizeof TAIL_MAGIC - 1;
    return len >= n && memcmp(tail + len - n, TAIL_MAGIC, n) == 0 ? 100 : 0;
}

static int tail_open(struct image *img, struct image_parent_ref *parent)
{
    (void)parent;
    img->size = 512;
    return 0;
}

static int tail_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    (void)img;
    (void)off;
    memset(buf, 0x77, len);
    return 0;
}

static const image_format tail_format = {
    .name = "tailtest", .open = tail_open, .read = tail_read, .probe_tail = tail_probe,
};
IMAGE_FORMAT_REGISTER(tail_format);

static void test_probe_tail(void **st)
{
    (void)st;
    const char *p = tpath("tail.img");
    FILE *f = fopen(p, "wb");
    static uint8_t junk[200000];
    memset(junk, 0x11, sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fputs(TAIL_MAGIC, f);
    fclose(f);
    struct image *img = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    assert_string_equal(image_format_name(img), "tailtest");
    uint8_t b[512];
    assert_int_equal(image_read(img, 0, b, 512), 0);
    assert_int_equal(b[100], 0x77);
    image_close(img);
    assert_true(image_format_known("TailTest"));
    assert_false(image_format_creatable("tailtest"));
}

static void test_helpers(void **st)
{
    (void)st;
    uint8_t a[16], b[16];
    image_new_uuid(a);
    image_new_uuid(b);
    assert_memory_not_equal(a, b, 16);
    assert_int_equal(a[6] >> 4, 4);
    assert_int_equal(a[8] >> 6, 2);

    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    const char *base = tpath("base.raw");
    struct image_create_opts o = {.format = "raw", .size = MiB};
    assert_int_equal(image_create(base, &o), 0);
    char child[200];
    snprintf(child, sizeof child, "%s/child.img", sub);
    int fd = open(child, O_CREAT | O_WRONLY, 0644);
    close(fd);
    char *rel = image_path_relative(child, base);
    assert_string_equal(rel, "../base.raw");
    free(rel);
    rel = image_path_relative(base, child);
    assert_string_equal(rel, "sub/child.img");
    free(rel);
    rel = image_path_relative(base, base);
    assert_string_equal(rel, "base.raw");
    free(rel);

    /* pread past the end gives zeros. */
    fd = open(base, O_RDONLY);
    uint8_t buf[1024];
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(image_pread(fd, buf, sizeof buf, MiB - 512), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    close(fd);
}

/* image_readv/image_writev: raw's preadv/pwritev (batches of 1024
 * buffers, a short read at the end of the file) and qcow2's runs give the
 * bytes the file and image_read hold (test_storage_vec.c: every format). */
static void test_vectored(void **st)
{
    (void)st;
    static uint8_t w[1500 * 512], r[sizeof w], f[sizeof w];
    struct iovec iov[1500];
    const char *formats[] = {"raw", "qcow2"};
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "vec.%s", formats[k]);
        const char *p = tpath(name);
        struct image_create_opts o = {.format = formats[k], .size = 2 * MiB};
        assert_int_equal(image_create(p, &o), 0);
        struct image *img = image_open(p, 0);
        assert_non_null(img);
        /* Three buffers of different sizes, then 1500 of one sector. */
        fill(w, sizeof w, 7 + (unsigned)k);
        iov[0] = (struct iovec){w, 4096};
        iov[1] = (struct iovec){w + 4096, 512};
        iov[2] = (struct iovec){w + 4608, 8192};
        assert_int_equal(image_writev(img, 512 * 5, iov, 3), 0);
        memset(r, 0, sizeof r);
        assert_int_equal(image_read(img, 512 * 5, r, 12800), 0);
        assert_memory_equal(w, r, 12800);
        for (int i = 0; i < 1500; i++)
            iov[i] = (struct iovec){w + (size_t)(1499 - i) * 512, 512};
        assert_int_equal(image_writev(img, MiB, iov, 1500), 0);
        for (int i = 0; i < 1500; i++)
            iov[i] = (struct iovec){r + (size_t)i * 512, 512};
        memset(r, 0, sizeof r);
        assert_int_equal(image_readv(img, MiB, iov, 1500), 0);
        for (int i = 0; i < 1500; i++)
            assert_memory_equal(r + (size_t)i * 512, w + (size_t)(1499 - i) * 512, 512);
        if (k == 0) {
            /* Raw: the file holds the bytes where they belong. */
            int fd = open(p, O_RDONLY);
            assert_int_equal(pread(fd, f, sizeof f, MiB), (ssize_t)sizeof f);
            close(fd);
            assert_memory_equal(f, r, sizeof f);
        }
        /* Errors: one line, nothing written. */
        iov[0] = (struct iovec){w, 100};
        assert_int_equal(image_writev(img, 0, iov, 1), -EINVAL);
        assert_non_null(strstr(image_last_error(), "sector-aligned"));
        iov[0] = (struct iovec){w, 1024};
        assert_int_equal(image_readv(img, 2 * MiB - 512, iov, 1), -EINVAL);
        assert_non_null(strstr(image_last_error(), "beyond"));
        image_close(img);
        img = image_open(p, IMAGE_OPEN_RDONLY);
        assert_int_equal(image_writev(img, 0, iov, 1), -EROFS);
        image_close(img);
    }

    /* A raw file that ends inside its last sector: preadv comes back
     * short, and the rest of the sector reads as zeros. */
    const char *p = tpath("short.raw");
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    fill(w, 1000, 3);
    assert_int_equal(write(fd, w, 1000), 1000);
    close(fd);
    struct image *img = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    assert_int_equal(image_size(img), 1024);
    memset(r, 0xee, 1024);
    iov[0] = (struct iovec){r, 512};
    iov[1] = (struct iovec){r + 512, 512};
    assert_int_equal(image_readv(img, 0, iov, 2), 0);
    assert_memory_equal(r, w, 1000);
    for (int i = 1000; i < 1024; i++)
        assert_int_equal(r[i], 0);
    image_close(img);
}

/* image_try_readv/image_try_writev: what the page cache holds, never
 * waiting; -EAGAIN for the rest, so the caller queues it. */
static void test_try_now(void **st)
{
    (void)st;
    static uint8_t w[8192], r[8192], f[8192];
    const char *p = tpath("try.raw");
    struct image_create_opts o = {.format = "raw", .size = MiB};
    assert_int_equal(image_create(p, &o), 0);
    struct image *img = image_open(p, 0);
    assert_non_null(img);
    fill(w, sizeof w, 11);
    assert_int_equal(image_write(img, 0, w, sizeof w), 0);   /* now in the page cache */
    struct iovec iov[2] = {{r, 4096}, {r + 4096, 4096}};
    assert_int_equal(image_try_readv(img, 0, iov, 2), 0);
    assert_memory_equal(r, w, sizeof w);
    fill(w, sizeof w, 12);
    iov[0] = (struct iovec){w, 4096};
    iov[1] = (struct iovec){w + 4096, 4096};
    int rc = image_try_writev(img, 8192, iov, 2);
    /* A file system without RWF_NOWAIT for buffered writes says EAGAIN. */
    assert_true(rc == 0 || rc == -EAGAIN);
    if (rc == -EAGAIN)
        assert_int_equal(image_writev(img, 8192, iov, 2), 0);
    int fd = open(p, O_RDONLY);
    assert_int_equal(pread(fd, f, sizeof f, 8192), (ssize_t)sizeof f);
    assert_memory_equal(f, w, sizeof w);
    /* Out of the page cache (written back, then dropped): it would wait
     * for the disk, so it is not done. */
    assert_int_equal(image_flush(img), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
    iov[0] = (struct iovec){r, 4096};
    rc = image_try_readv(img, 8192, iov, 1);
    struct statfs sf;
    assert_int_equal(statfs(p, &sf), 0);
    if (sf.f_type == TMPFS_MAGIC)            /* its pages are the file: always there */
        assert_int_equal(rc, 0);
    else
        assert_int_equal(rc, -EAGAIN);
    /* Errors as for image_readv. */
    assert_int_equal(image_try_readv(img, MiB - 512, iov, 1), -EINVAL);
    image_close(img);
    img = image_open(p, IMAGE_OPEN_RDONLY);
    assert_int_equal(image_try_writev(img, 0, iov, 1), -EROFS);
    image_close(img);

    /* A format with a block map: what reads as zeros (nothing allocated,
     * no parent) and data already in the file are done at once; a write
     * that allocates goes to the I/O thread. */
    p = tpath("try.qcow2");
    o.format = "qcow2";
    assert_int_equal(image_create(p, &o), 0);
    img = image_open(p, 0);
    assert_non_null(img);
    memset(r, 0xee, 4096);
    assert_int_equal(image_try_readv(img, 0, iov, 1), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(r[i], 0);
    iov[0] = (struct iovec){w, 4096};
    assert_int_equal(image_try_writev(img, 0, iov, 1), -EAGAIN);
    assert_int_equal(image_writev(img, 0, iov, 1), 0);
    iov[0] = (struct iovec){r, 4096};
    assert_int_equal(image_try_readv(img, 0, iov, 1), 0);
    assert_memory_equal(r, w, 4096);
    image_close(img);
    /* A child's read of its parent's data waits for the I/O thread. */
    const char *child = tpath("try-child.qcow2");
    struct image_create_opts c = {.format = "qcow2", .parent = p};
    assert_int_equal(image_create(child, &c), 0);
    img = image_open(child, 0);
    assert_non_null(img);
    assert_int_equal(image_try_readv(img, 0, iov, 1), -EAGAIN);
    assert_int_equal(image_readv(img, 0, iov, 1), 0);
    assert_memory_equal(r, w, 4096);
    image_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_create_rw),
        cmocka_unit_test(test_raw_fixed_resize_discard),
        cmocka_unit_test(test_clone_and_errors),
        cmocka_unit_test(test_probe_tail),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_vectored),
        cmocka_unit_test(test_try_now),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
