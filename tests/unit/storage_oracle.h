/* Helpers for the image format tests that use qemu-img and qemu-io as the
 * oracle (test_storage_vmdk.c, test_storage_vhd.c): a temporary directory,
 * shell commands, a seeded PRNG, whole-image comparisons. Include after
 * <cmocka.h>. */
#ifndef CAIXA_TESTS_STORAGE_ORACLE_H
#define CAIXA_TESTS_STORAGE_ORACLE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/image.h"

#define MiB (1u << 20)
#define KiB 1024u

static char oracle_dir[64];
static bool have_qemu;

static int oracle_setup(const char *tag)
{
    snprintf(oracle_dir, sizeof oracle_dir, "/tmp/caixa-%s-XXXXXX", tag);
    have_qemu = system("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1") == 0;
    return mkdtemp(oracle_dir) ? 0 : -1;
}

static int oracle_teardown(void)
{
    char cmd[128];
    if (getenv("CAIXA_KEEP_TMP")) {   /* for a look at what a failing test left */
        fprintf(stderr, "kept %s\n", oracle_dir);
        return 0;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", oracle_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* dir/name, in one of 8 rotating buffers. */
static const char *tpath(const char *name)
{
    static char p[8][160];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof p[i], "%s/%s", oracle_dir, name);
    return p[i];
}

/* Runs a shell command (quiet unless it fails); its exit status. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2200];
    snprintf(full, sizeof full, "(%s) >%s/sh.log 2>&1", cmd, oracle_dir);
    int rc = system(full);
    int st = rc == -1 ? -1 : WEXITSTATUS(rc);
    if (st != 0) {
        fprintf(stderr, "command failed (%d): %s\n", st, cmd);
        snprintf(full, sizeof full, "cat %s/sh.log >&2", oracle_dir);
        if (system(full) < 0)
            perror("cat");
    }
    return st;
}

/* xorshift64*: the same sequence on every host. */
static uint64_t prng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void fill_random(uint8_t *b, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = prng_next(s);
        for (size_t k = 0; k < 8 && i + k < n; k++)
            b[i + k] = (uint8_t)(v >> (8 * k));
    }
}

__attribute__((noinline)) static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    if (read_file(path, (size_t)1 << 32, &buf, len) != 0)
        fail_msg("%s: cannot read", path);
    return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The whole of img equals want[0..len), read in odd-sized pieces; bytes
 * past len (a disk rounded up) read as zeros. */
static void assert_image_is(struct image *img, const uint8_t *want, size_t len)
{
    uint64_t size = image_size(img);
    assert_true(size >= len);
    size_t chunk = 3 * 64 * KiB + 512;
    uint8_t *buf = xmalloc(chunk);
    for (uint64_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        if (image_read(img, off, buf, n) != 0)
            fail_msg("read at %llu: %s", (unsigned long long)off, image_last_error());
        for (size_t i = 0; i < n; i++) {
            uint8_t w = off + i < len ? want[off + i] : 0;
            if (buf[i] != w)
                fail_msg("byte %llu: read %#x, want %#x", (unsigned long long)(off + i), buf[i], w);
        }
    }
    free(buf);
}

/* image == raw file, byte for byte (the raw file from qemu-img convert). */
static inline void assert_image_is_file(struct image *img, const char *raw)
{
    size_t len;
    uint8_t *want = slurp(raw, &len);
    assert_int_equal(image_size(img), len);
    assert_image_is(img, want, len);
    free(want);
}

/* Random writes of 1 to max_sectors sectors into img, mirrored in shadow. */
static inline void random_writes(struct image *img, uint8_t *shadow, uint64_t size, int count, unsigned max_sectors,
                          uint64_t seed)
{
    uint8_t *buf = xmalloc((size_t)max_sectors * 512);
    for (int i = 0; i < count; i++) {
        uint64_t sectors = 1 + prng_next(&seed) % max_sectors;
        uint64_t at = prng_next(&seed) % (size / 512 - sectors + 1) * 512;
        fill_random(buf, sectors * 512, &seed);
        if (image_write(img, at, buf, sectors * 512) != 0)
            fail_msg("write at %llu: %s", (unsigned long long)at, image_last_error());
        memcpy(shadow + at, buf, sectors * 512);
    }
    free(buf);
}

/* image_check's notes go to stderr and are counted; the count must be
 * what it returns. */
static inline void count_note(void *opaque, const char *line)
{
    fprintf(stderr, "check: %s\n", line);
    ++*(int *)opaque;
}

static inline int check_count(struct image *img)
{
    int n = 0;
    int rc = image_check(img, count_note, &n);
    assert_int_equal(rc, n);
    return rc;
}

static inline struct image *open_ok(const char *path, unsigned flags)
{
    struct image *img = image_open(path, flags);
    if (!img)
        fail_msg("open %s: %s", path, image_last_error());
    return img;
}

#endif
