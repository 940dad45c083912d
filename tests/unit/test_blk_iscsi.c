/* The iSCSI initiator (src/drivers/blk_iscsi.c, blk_iscsi_url.c). The URL checks run
 * everywhere; the rest needs a live target and is skipped unless
 * tests/e2e/iscsi.sh (which starts Debian's tgtd) sets the environment:
 *   CAIXA_ISCSI_URL, CAIXA_ISCSI_FILE         a 512-byte-block LUN and its backing file
 *   CAIXA_ISCSI_URL_4K, CAIXA_ISCSI_FILE_4K   the same with 4096-byte blocks
 *   CAIXA_ISCSI_URL_RO                        a read-only LUN
 *   CAIXA_ISCSI_URL_THIN, CAIXA_ISCSI_FILE_THIN  a LUN with thin provisioning (UNMAP)
 *   CAIXA_ISCSI_URL_CD, CAIXA_ISCSI_FILE_CD   a CD/DVD LUN (MMC, 2048-byte blocks)
 *   CAIXA_ISCSI_DROP_CMD                      closes every connection from the target side
 *   CAIXA_ISCSI_STOP_CMD                      stops the target for good
 * The oracle is the backing file on the host: what the initiator reads
 * must be in it, what it writes must land there and nowhere else. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <iscsi/iscsi.h>

#include "drivers/blk_backend.h"
#include "drivers/blockdev.h"
#include "runtime/util.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

/* --- URLs ---------------------------------------------------------------------- */

static const char *const good_urls[] = {
    "iscsi://127.0.0.1/iqn.2026-12.org.caixa:t/0",
    "iscsi://127.0.0.1:3260/iqn.2026-12.org.caixa:t/1",
    "iscsi://host.example-1.org:65535/iqn.x/255",
    "iscsi://[::1]:3260/iqn.x/7",
    "iscsi://[fe80::1]/iqn.x/7",
    "iscsi://user@host/iqn.x/0",
    "iscsi://user%secret@host:1/iqn.x/0",
    "iscsi://host/iqn.x%3Ay/0",
};

static const char *const bad_urls[] = {
    "", "iscsi:/", "iscsi://", "http://host/iqn/0", "iscsi://host", "iscsi://host/", "iscsi://host/iqn",
    "iscsi://host/iqn/", "iscsi://host//0", "iscsi:///iqn/0", "iscsi://:3260/iqn/0", "iscsi://host:/iqn/0",
    "iscsi://host:0/iqn/0", "iscsi://host:65536/iqn/0", "iscsi://host:99999999999/iqn/0",
    "iscsi://host:-1/iqn/0", "iscsi://host/iqn/256", "iscsi://host/iqn/-1", "iscsi://host/iqn/1x",
    "iscsi://host/iqn/0/1", "iscsi://host/iqn/99999999999", "iscsi://host/iqn/0?header_digest",
    "iscsi://h st/iqn/0", "iscsi://host/iq n/0", "iscsi://host/iqn/0\n", "iscsi://@host/iqn/0",
    "iscsi://%pw@host/iqn/0", "iscsi://:pw@host/iqn/0", "iscsi://host/iqn@x/0", "iscsi://a@b@host/iqn/0", "iscsi://[::1/iqn/0",
    "iscsi://[]/iqn/0", "iscsi://[::1]x/iqn/0", "iscsi://[zz]/iqn/0", "iscsi://host_1/iqn/0",
};

static void test_url_checks(void **st)
{
    (void)st;
    struct iscsi_context *ctx = iscsi_create_context("iqn.2026-12.org.caixa:unit");
    assert_non_null(ctx);
    for (size_t i = 0; i < ARRAY_SIZE(good_urls); i++) {
        const char *why = blk_iscsi_url_error(good_urls[i]);
        if (why)
            fail_msg("%s: %s", good_urls[i], why);
        /* Accepted means libiscsi parses it too. */
        struct iscsi_url *u = iscsi_parse_full_url(ctx, good_urls[i]);
        assert_non_null(u);
        iscsi_destroy_url(u);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad_urls); i++)
        if (!blk_iscsi_url_error(bad_urls[i]))
            fail_msg("accepted '%s'", bad_urls[i]);
    char big[300] = "iscsi://host/iqn.";
    memset(big + strlen(big), 'a', 250);
    strcpy(big + 260, "/0");
    assert_non_null(blk_iscsi_url_error(big));           /* longer than libiscsi's buffer */
    iscsi_destroy_context(ctx);
}

/* --- a drive over a live target ------------------------------------------------- */

static pthread_mutex_t vm_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t req_cond = PTHREAD_COND_INITIALIZER;

struct waiter {
    bool done;
    int status;
};

static void req_done(struct blk_req *r, int status)
{
    struct waiter *w = r->opaque;
    w->status = status;
    w->done = true;
    pthread_cond_broadcast(&req_cond);
}

/* One request, waited for: its status. */
static int request(struct blockdev *bd, enum blk_op op, uint64_t off, void *buf, uint64_t len)
{
    struct waiter w = {0};
    struct iovec iov = {.iov_base = buf, .iov_len = (size_t)len};
    struct blk_req r = {.op = op, .offset = off, .iov = &iov, .iovcnt = 1, .len = len, .done = req_done,
                        .opaque = &w};
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &r);
    while (!w.done)
        pthread_cond_wait(&req_cond, &vm_lock);
    pthread_mutex_unlock(&vm_lock);
    return w.status;
}

static uint8_t *file_contents(const char *path, size_t *size)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(read_file(path, SIZE_MAX, &buf, &len), 0);
    *size = len;
    return buf;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static struct blockdev *open_attached(const char *url, bool read_only)
{
    struct blockdev *bd = blockdev_open(url, BLK_MEDIA_DISK, read_only);
    assert_non_null(bd);
    assert_int_equal(blockdev_attach(bd, &vm_lock), 0);
    return bd;
}

/* The drive reads what the file holds, in pieces of several sizes. */
static void check_reads(struct blockdev *bd, const uint8_t *file, size_t size)
{
    uint8_t *buf = xmalloc(size);
    memset(buf, 0xee, size);
    assert_int_equal(request(bd, BLK_READ, 0, buf, size), 0);
    assert_memory_equal(buf, file, size);
    static const uint64_t pieces[][2] = {{512, 512}, {3584, 1024}, {4096, 4096}, {7 * 512, 9 * 512}};
    for (size_t i = 0; i < ARRAY_SIZE(pieces); i++) {
        memset(buf, 0xee, pieces[i][1]);
        assert_int_equal(request(bd, BLK_READ, pieces[i][0], buf, pieces[i][1]), 0);
        assert_memory_equal(buf, file + pieces[i][0], pieces[i][1]);
    }
    free(buf);
}

/* Writes at sector granularity (some unaligned to the target's blocks,
 * one larger than a READ/WRITE chunk), then the file must equal the
 * expected image exactly. */
static void check_writes(struct blockdev *bd, const char *path, uint8_t *expect, size_t size)
{
    static const uint64_t writes[][2] = {
        {7 * 512, 3 * 512},              /* inside and across 4 KiB blocks */
        {4096 - 512, 4096 + 1024},       /* partial, whole, partial */
        {512, 512},                      /* one sector in the first block */
        {MiB + 512, 3 * MiB},            /* several chunks, unaligned ends */
        {0, 512},
    };
    for (size_t i = 0; i < ARRAY_SIZE(writes); i++) {
        uint64_t off = writes[i][0], len = writes[i][1];
        if (off + len > size)
            continue;
        uint8_t *data = xmalloc(len);
        fill(data, len, (uint32_t)(i + 1) * 77u);
        assert_int_equal(request(bd, BLK_WRITE, off, data, len), 0);
        memcpy(expect + off, data, len);
        uint8_t *back = xmalloc(len);
        assert_int_equal(request(bd, BLK_READ, off, back, len), 0);
        assert_memory_equal(back, data, len);
        free(back);
        free(data);
    }
    assert_int_equal(request(bd, BLK_FLUSH, 0, NULL, 0), 0);
    size_t fsize;
    uint8_t *file = file_contents(path, &fsize);
    assert_int_equal(fsize, size);
    for (size_t i = 0; i < size; i++)
        if (file[i] != expect[i])
            fail_msg("byte %zu of %s is %#x, expected %#x", i, path, file[i], expect[i]);
    free(file);
}

static const char *need(const char *var)
{
    const char *v = getenv(var);
    if (!v || !*v)
        skip();
    return v;
}

static void rw_lun(const char *url, const char *path)
{
    size_t size;
    uint8_t *file = file_contents(path, &size);
    struct blockdev *bd = open_attached(url, false);
    assert_int_equal(blockdev_size(bd), size);
    assert_false(blockdev_read_only(bd));
    check_reads(bd, file, size);
    check_writes(bd, path, file, size);
    /* Out of range: refused before it reaches the target. */
    uint8_t sector[512];
    assert_int_equal(request(bd, BLK_READ, size, sector, sizeof sector), -EINVAL);
    blockdev_close(bd);
    free(file);
}

static void test_lun_512(void **st)
{
    (void)st;
    rw_lun(need("CAIXA_ISCSI_URL"), need("CAIXA_ISCSI_FILE"));
}

static void test_lun_4k(void **st)
{
    (void)st;
    rw_lun(need("CAIXA_ISCSI_URL_4K"), need("CAIXA_ISCSI_FILE_4K"));
}

/* MODE SENSE's WP makes the drive read-only; a WRITE that gets through
 * anyway (straight to the backend) fails with the target's DATA PROTECT. */
static void test_read_only(void **st)
{
    (void)st;
    const char *url = need("CAIXA_ISCSI_URL_RO");
    struct blockdev *bd = open_attached(url, false);
    assert_true(blockdev_read_only(bd));
    uint8_t sector[512] = {1};
    assert_int_equal(request(bd, BLK_WRITE, 0, sector, sizeof sector), -EROFS);
    assert_int_equal(request(bd, BLK_READ, 0, sector, sizeof sector), 0);
    blockdev_close(bd);

    struct blk_backend *be = blk_iscsi_open(url, BLK_MEDIA_DISK, false);
    assert_non_null(be);
    assert_true(be->read_only);
    assert_int_equal(be->ops->write(be, 0, sector, sizeof sector), -EROFS);
    be->ops->close(be);
}

/* UNMAP of whole blocks: tgtd punches a hole, so the file reads zeros
 * there and nowhere else. */
static void test_unmap(void **st)
{
    (void)st;
    const char *url = need("CAIXA_ISCSI_URL_THIN"), *path = need("CAIXA_ISCSI_FILE_THIN");
    size_t size;
    uint8_t *expect = file_contents(path, &size);
    struct blockdev *bd = open_attached(url, false);
    const uint64_t off = 64 * KiB, len = 256 * KiB;
    assert_int_equal(request(bd, BLK_DISCARD, off, NULL, len), 0);
    assert_int_equal(request(bd, BLK_FLUSH, 0, NULL, 0), 0);
    memset(expect + off, 0, len);
    size_t fsize;
    uint8_t *file = file_contents(path, &fsize);
    assert_int_equal(fsize, size);
    assert_memory_equal(file, expect, size);
    free(file);
    blockdev_close(bd);
    free(expect);
}

/* An MMC LUN: a CD-ROM drive's medium (read-only, 2048-byte blocks read
 * whole for 512-byte pieces), refused as a disk. */
static void test_cdrom(void **st)
{
    (void)st;
    const char *url = need("CAIXA_ISCSI_URL_CD"), *path = need("CAIXA_ISCSI_FILE_CD");
    size_t size;
    uint8_t *file = file_contents(path, &size);
    assert_null(blockdev_open(url, BLK_MEDIA_DISK, false));
    struct blockdev *bd = blockdev_open(url, BLK_MEDIA_CDROM, true);
    assert_non_null(bd);
    assert_int_equal(blockdev_attach(bd, &vm_lock), 0);
    assert_int_equal(blockdev_size(bd), size);
    assert_true(blockdev_read_only(bd));
    check_reads(bd, file, size);
    blockdev_close(bd);
    free(file);
}

/* The target closes the connection between two requests: the next one
 * still succeeds (libiscsi logs in again). */
static void test_reconnect(void **st)
{
    (void)st;
    const char *url = need("CAIXA_ISCSI_URL"), *path = need("CAIXA_ISCSI_FILE");
    const char *drop = need("CAIXA_ISCSI_DROP_CMD");
    size_t size;
    uint8_t *file = file_contents(path, &size);
    struct blockdev *bd = open_attached(url, false);
    uint8_t buf[8192];
    assert_int_equal(request(bd, BLK_READ, 0, buf, sizeof buf), 0);
    assert_int_equal(system(drop), 0);
    for (int i = 0; i < 3; i++) {
        memset(buf, 0, sizeof buf);
        assert_int_equal(request(bd, BLK_READ, 8192, buf, sizeof buf), 0);
        assert_memory_equal(buf, file + 8192, sizeof buf);
        if (i == 0)
            assert_int_equal(system(drop), 0);
    }
    blockdev_close(bd);
    free(file);
}

/* The target goes away for good: requests fail with -EIO in bounded time,
 * closing does not hang. Last, since the target is gone afterwards. */
static void test_target_gone(void **st)
{
    (void)st;
    const char *url = need("CAIXA_ISCSI_URL");
    const char *stop = need("CAIXA_ISCSI_STOP_CMD");
    struct blockdev *bd = open_attached(url, false);
    uint8_t buf[4096];
    assert_int_equal(request(bd, BLK_READ, 0, buf, sizeof buf), 0);
    assert_int_equal(system(stop), 0);
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = mono_ns();
        assert_int_equal(request(bd, BLK_READ, 0, buf, sizeof buf), -EIO);
        uint64_t ms = (mono_ns() - t0) / 1000000;
        printf("read with the target gone: -EIO after %llu ms\n", (unsigned long long)ms);
        assert_true(ms < 60 * 1000);
    }
    blockdev_close(bd);
    /* A new drive cannot even connect: NULL, not a hang. */
    assert_null(blockdev_open(url, BLK_MEDIA_DISK, false));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* as caixa does: a closed socket is an error, not a death */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_checks),
        cmocka_unit_test(test_lun_512),
        cmocka_unit_test(test_lun_4k),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_unmap),
        cmocka_unit_test(test_cdrom),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_target_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
