/* The drive's request path (src/drivers/blockdev.c) over a raw image: a
 * small read or write that the page cache holds completes before
 * blockdev_submit returns, with the platform lock held, on an idle drive
 * only; large requests, requests behind queued ones and data the page
 * cache lacks go through the I/O thread; small writes are written behind
 * until a FLUSH, which reports their failure; a write through (the
 * device's write cache off) is flushed to the host's disk before it is
 * done; each MiB written starts the host's writeback. The bytes are
 * checked against the image file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include <cmocka.h>

#include "drivers/blockdev.h"
#include "host_file.h"

#define MiB (1u << 20)
#define SMALL 4096u           /* a request the drive tries at once */
#define LARGE (1u * MiB)      /* one it leaves to its I/O thread */

static pthread_mutex_t vm_lock;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

struct req {
    struct blk_req r;
    struct iovec iov;
    int status;
    bool done;
    bool lock_held;           /* the platform lock was held in done() */
};

static void on_done(struct blk_req *r, int status)
{
    struct req *q = r->opaque;
    /* Recursive: trylock succeeds for the owner; EBUSY would mean another thread. */
    q->lock_held = pthread_mutex_trylock(&vm_lock) == 0;
    if (q->lock_held)
        pthread_mutex_unlock(&vm_lock);
    pthread_mutex_lock(&done_lock);
    q->status = status;
    q->done = true;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

static void wait_done(struct req *q)
{
    pthread_mutex_lock(&done_lock);
    while (!q->done)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
}

static void prep(struct req *q, enum blk_op op, uint64_t off, void *buf, size_t len)
{
    memset(q, 0, sizeof *q);
    q->iov = (struct iovec){buf, len};
    q->r = (struct blk_req){.op = op, .offset = off, .iov = &q->iov, .iovcnt = 1, .done = on_done, .opaque = q};
}

static char path[64];

/* The image layer's flush is an fdatasync (raw): this definition, in the
 * test's own executable, is the one it calls, and counts them. */
static atomic_int syncs;

int fdatasync(int fd)
{
    atomic_fetch_add(&syncs, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

/* preadv2 with RWF_NOWAIT, as the image layer's try reads make it: counted
 * when the test's own thread (a vCPU's stand-in) makes it, with the
 * offset of the last one. */
static pthread_t test_thread;
static atomic_int nowait_here;
static _Atomic uint64_t nowait_at;

ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)
{
    if ((flags & RWF_NOWAIT) && pthread_equal(pthread_self(), test_thread)) {
        atomic_fetch_add(&nowait_here, 1);
        atomic_store(&nowait_at, (uint64_t)offset);
    }
    return syscall(SYS_preadv2, fd, iov, iovcnt, (long)offset, 0L, flags);
}

/* sync_file_range, as the drive starts the host's writeback: counted, with
 * the flags and range of the last call. */
static atomic_int writebacks;
static _Atomic unsigned writeback_flags;
static _Atomic uint64_t writeback_range;

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
    atomic_fetch_add(&writebacks, 1);
    atomic_store(&writeback_flags, flags);
    atomic_store(&writeback_range, (uint64_t)offset | (uint64_t)nbytes);
    return (int)syscall(SYS_sync_file_range, fd, offset, nbytes, flags);
}

static int setup(void **st)
{
    (void)st;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&vm_lock, &a);
    test_thread = pthread_self();
    strcpy(path, "/tmp/caixa-blockdev-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 8 * MiB) < 0)
        return -1;
    /* Every byte once through the page cache. */
    static uint8_t b[8 * MiB];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 13 + (i >> 12));
    if (pwrite(fd, b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    close(fd);
    return 0;
}

/* The drive on the image, its I/O thread started. */
static struct blockdev *open_drive(void)
{
    struct blockdev *bd = blockdev_open(path, BLK_MEDIA_DISK, false);
    assert_non_null(bd);
    assert_int_equal(blockdev_attach(bd, &vm_lock), 0);
    return bd;
}

/* Submits as a device does (platform lock held) and waits for done(). */
static void submit_as_device(struct blockdev *bd, struct req *q)
{
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &q->r);
    pthread_mutex_unlock(&vm_lock);
    wait_done(q);
}

static int teardown(void **st)
{
    (void)st;
    unlink(path);
    return 0;
}

/* A read of 1 MiB or more on an idle drive is cut in two: the submitting
 * thread reads the second half from the page cache (one RWF_NOWAIT read at
 * the cut) while the I/O thread reads the first; the bytes are the file's
 * wherever the cut falls (through a buffer, between two). A smaller one is
 * not cut. */
static void test_large_read_split(void **st)
{
    (void)st;
    struct blockdev *bd = open_drive();
    static uint8_t buf[2 * MiB], file[2 * MiB];
    int fd = open(path, O_RDONLY);
    static const size_t shapes[][3] = {
        {100 * 1024, 900 * 1024, 24 * 1024},     /* 1 MiB: the cut through the second buffer */
        {512 * 1024, 512 * 1024, 0},             /* 1 MiB: the cut between two */
        {MiB, 512 * 1024, 512 * 1024},           /* 2 MiB */
    };
    for (size_t k = 0; k < 3; k++) {
        struct req q;
        struct iovec iov[3];
        uint64_t total = 0;
        int n = 0;
        for (int i = 0; i < 3; i++)
            if (shapes[k][i]) {
                iov[n++] = (struct iovec){buf + total, shapes[k][i]};
                total += shapes[k][i];
            }
        uint64_t off = (k + 1) * MiB + 4096;
        memset(buf, 0xee, sizeof buf);
        prep(&q, BLK_READ, off, NULL, 0);
        q.r.iov = iov;
        q.r.iovcnt = n;
        atomic_store(&nowait_here, 0);
        submit_as_device(bd, &q);
        assert_int_equal(q.status, 0);
        assert_true(q.lock_held);
        assert_int_equal(pread(fd, file, total, (off_t)off), (ssize_t)total);
        assert_memory_equal(buf, file, total);
        assert_int_equal(atomic_load(&nowait_here), 1);
        assert_int_equal(atomic_load(&nowait_at), off + total / 2);
    }
    /* Half a MiB: the I/O thread reads it all. */
    struct req q;
    prep(&q, BLK_READ, 0, buf, MiB / 2);
    atomic_store(&nowait_here, 0);
    submit_as_device(bd, &q);
    assert_int_equal(q.status, 0);
    assert_int_equal(atomic_load(&nowait_here), 0);
    assert_int_equal(pread(fd, file, MiB / 2, 0), (ssize_t)(MiB / 2));
    assert_memory_equal(buf, file, MiB / 2);
    close(fd);
    blockdev_detach(bd);
    blockdev_close(bd);
}

static void test_small_completes_at_once(void **st)
{
    (void)st;
    struct blockdev *bd = open_drive();
    static uint8_t buf[SMALL], want[SMALL];
    int fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, want, SMALL, 3 * SMALL), (ssize_t)SMALL);

    /* A device calls with the platform lock held: done() runs before
     * blockdev_submit returns, the lock still held. */
    struct req q;
    prep(&q, BLK_READ, 3 * SMALL, buf, SMALL);
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &q.r);
    assert_true(q.done);
    pthread_mutex_unlock(&vm_lock);
    assert_int_equal(q.status, 0);
    assert_true(q.lock_held);
    assert_memory_equal(buf, want, SMALL);

    /* A write through (the device's write cache off) is in the file when
     * it is done, whichever way it went. */
    memset(buf, 0x5a, SMALL);
    prep(&q, BLK_WRITE, 5 * SMALL, buf, SMALL);
    q.r.write_through = true;
    submit_as_device(bd, &q);
    assert_int_equal(q.status, 0);
    assert_true(q.lock_held);
    assert_int_equal(pread(fd, want, SMALL, 5 * SMALL), (ssize_t)SMALL);
    assert_memory_equal(buf, want, SMALL);

    /* Out of range: the same error as through the thread. */
    prep(&q, BLK_READ, 8 * MiB, buf, SMALL);
    blockdev_submit(bd, &q.r);
    wait_done(&q);
    assert_int_equal(q.status, -EINVAL);
    close(fd);
    blockdev_detach(bd);
    blockdev_close(bd);
}

static void test_queued_go_through_the_thread(void **st)
{
    (void)st;
    struct blockdev *bd = open_drive();
    static uint8_t big[LARGE], small[SMALL], want[LARGE];
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, want, LARGE, MiB), (ssize_t)LARGE);
    close(fd);

    /* While this thread holds the platform lock, the I/O thread cannot
     * complete anything: a large read stays queued, and a small one behind
     * it must wait its turn rather than pass it. */
    struct req a, b;
    prep(&a, BLK_READ, MiB, big, LARGE);
    prep(&b, BLK_READ, MiB, small, SMALL);
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &a.r);
    assert_false(a.done);
    blockdev_submit(bd, &b.r);
    assert_false(b.done);
    pthread_mutex_unlock(&vm_lock);
    wait_done(&a);
    wait_done(&b);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_true(a.lock_held && b.lock_held);
    assert_memory_equal(big, want, LARGE);
    assert_memory_equal(small, want, SMALL);

    /* Data the page cache lacks: the thread reads it from the disk. */
    assert_int_equal(fdatasync(fd = open(path, O_RDONLY)), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
    prep(&b, BLK_READ, 7 * MiB, small, SMALL);
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &b.r);
    bool at_once = b.done;
    pthread_mutex_unlock(&vm_lock);
    wait_done(&b);
    assert_int_equal(b.status, 0);
    struct statfs sf;
    assert_int_equal(statfs(path, &sf), 0);
    assert_int_equal(at_once, sf.f_type == TMPFS_MAGIC);   /* tmpfs pages are the file */
    fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, want, SMALL, 7 * MiB), (ssize_t)SMALL);
    close(fd);
    assert_memory_equal(small, want, SMALL);
    blockdev_detach(bd);
    blockdev_close(bd);
}

static void flush_now(struct blockdev *bd, struct req *q)
{
    prep(q, BLK_FLUSH, 0, NULL, 0);
    q->r.iovcnt = 0;
    blockdev_submit(bd, &q->r);
    wait_done(q);
}

/* Writes behind, as a disk with its write cache on: done at once, seen by
 * the reads after them, in the file once a FLUSH is done; a failed one is
 * reported by the next FLUSH, with its offset. */
static void test_write_behind(void **st)
{
    (void)st;
    struct blockdev *bd = open_drive();
    static uint8_t w1[SMALL], w2[SMALL], r[SMALL], file[SMALL];
    memset(w1, 0xa1, SMALL);
    memset(w2, 0xb2, SMALL);
    struct req a, b, c, f;
    prep(&a, BLK_WRITE, 9 * SMALL, w1, SMALL);
    prep(&b, BLK_WRITE, 9 * SMALL, w2, SMALL);
    prep(&c, BLK_READ, 9 * SMALL, r, SMALL);
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &a.r);
    assert_true(a.done);
    memset(w1, 0, SMALL);          /* the guest may reuse its buffer at once */
    blockdev_submit(bd, &b.r);
    assert_true(b.done);
    blockdev_submit(bd, &c.r);     /* behind the two writes */
    pthread_mutex_unlock(&vm_lock);
    wait_done(&c);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_int_equal(c.status, 0);
    assert_memory_equal(r, w2, SMALL);
    flush_now(bd, &f);
    assert_int_equal(f.status, 0);
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, file, SMALL, 9 * SMALL), (ssize_t)SMALL);
    assert_memory_equal(file, w2, SMALL);

    /* A write the host refuses (beyond RLIMIT_FSIZE: EFBIG) was done for
     * the guest; its FLUSH fails, the next one does not. */
    struct rlimit old;
    assert_int_equal(limit_file_size(4 * MiB, &old), 0);
    prep(&a, BLK_WRITE, 6 * MiB, w2, SMALL);
    submit_as_device(bd, &a);
    assert_int_equal(a.status, 0);
    flush_now(bd, &f);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_true(f.status < 0);
    assert_int_equal(f.r.error_offset, 6 * MiB);   /* where the failed write went */
    flush_now(bd, &f);
    assert_int_equal(f.status, 0);
    assert_int_equal(pread(fd, file, SMALL, 6 * MiB), (ssize_t)SMALL);
    assert_memory_not_equal(file, w2, SMALL);
    close(fd);
    blockdev_detach(bd);
    blockdev_close(bd);
}

/* A write through is queued even when small (never done at once), and
 * flushed before it is done; a plain write is not flushed. */
static void test_write_through_flushes(void **st)
{
    (void)st;
    struct blockdev *bd = open_drive();
    static uint8_t w[SMALL], file[SMALL];
    memset(w, 0xc3, SMALL);
    struct req q;
    int before = atomic_load(&syncs);
    prep(&q, BLK_WRITE, 11 * SMALL, w, SMALL);
    q.r.write_through = true;
    pthread_mutex_lock(&vm_lock);
    blockdev_submit(bd, &q.r);
    assert_false(q.done);
    pthread_mutex_unlock(&vm_lock);
    wait_done(&q);
    assert_int_equal(q.status, 0);
    assert_true(atomic_load(&syncs) > before);
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, file, SMALL, 11 * SMALL), (ssize_t)SMALL);
    assert_memory_equal(file, w, SMALL);

    before = atomic_load(&syncs);
    prep(&q, BLK_WRITE, 12 * SMALL, w, SMALL);
    submit_as_device(bd, &q);
    blockdev_drain(bd);
    assert_int_equal(q.status, 0);
    assert_int_equal(atomic_load(&syncs), before);
    assert_int_equal(pread(fd, file, SMALL, 12 * SMALL), (ssize_t)SMALL);
    assert_memory_equal(file, w, SMALL);
    close(fd);
    blockdev_detach(bd);
    blockdev_close(bd);
}

/* Once a drive has written a MiB, its I/O thread starts the host's
 * writeback of the image (the whole file, no waiting), after the write is
 * done; a drive with its write cache off flushes each write itself. */
static void test_writeback_started(void **st)
{
    (void)st;
    struct blockdev *bd = open_drive();
    static uint8_t w[MiB / 4], file[MiB / 4];
    int fd = open(path, O_RDONLY);
    assert_int_equal(fdatasync(fd), 0);
    int before = atomic_load(&writebacks);
    struct req q;
    for (int i = 0; i < 4; i++) {
        memset(w, 0x50 + i, sizeof w);
        prep(&q, BLK_WRITE, (uint64_t)i * sizeof w + 4096, w, sizeof w);
        submit_as_device(bd, &q);
        blockdev_drain(bd);
        assert_int_equal(q.status, 0);
        assert_int_equal(pread(fd, file, sizeof w, (off_t)q.r.offset), (ssize_t)sizeof w);
        assert_memory_equal(file, w, sizeof w);
        long dirty = dirty_pages(path);
        if (i < 3) {
            /* Under a MiB: the page cache keeps the writes. */
            assert_int_equal(atomic_load(&writebacks), before);
            assert_true(dirty < 0 || dirty >= (long)((i + 1) * sizeof w / 4096));
        } else {
            assert_int_equal(atomic_load(&writebacks), before + 1);
            assert_int_equal(atomic_load(&writeback_flags), SYNC_FILE_RANGE_WRITE);
            assert_int_equal(atomic_load(&writeback_range), 0);
            /* ... and none of the file's pages are left dirty. */
            assert_true(dirty <= 0);
        }
    }
    /* The count starts again; small writes (written behind, or at once
     * where the file system takes them without waiting) count too. */
    for (int i = 0; i < 255; i++) {
        prep(&q, BLK_WRITE, (uint64_t)i * SMALL, w, SMALL);
        submit_as_device(bd, &q);
        assert_int_equal(q.status, 0);
    }
    blockdev_drain(bd);
    assert_int_equal(atomic_load(&writebacks), before + 1);
    prep(&q, BLK_WRITE, 2 * MiB, w, sizeof w);
    submit_as_device(bd, &q);
    blockdev_drain(bd);
    assert_int_equal(atomic_load(&writebacks), before + 2);

    /* Written through: nothing left for writeback to do. */
    for (int i = 0; i < 8; i++) {
        prep(&q, BLK_WRITE, (uint64_t)i * sizeof w, w, sizeof w);
        q.r.write_through = true;
        submit_as_device(bd, &q);
        assert_int_equal(q.status, 0);
    }
    blockdev_drain(bd);
    assert_int_equal(atomic_load(&writebacks), before + 2);
    close(fd);
    blockdev_detach(bd);
    blockdev_close(bd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_completes_at_once),
        cmocka_unit_test(test_queued_go_through_the_thread),
        cmocka_unit_test(test_write_behind),
        cmocka_unit_test(test_write_through_flushes),
        cmocka_unit_test(test_large_read_split),
        cmocka_unit_test(test_writeback_started),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
