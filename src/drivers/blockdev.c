/* Block host ends: a queue of requests per drive, carried out by the
 * drive's own I/O thread on the medium's backend (a disk image through
 * storage/image.h, or an iSCSI LUN), completions delivered under the
 * platform lock. One thread per drive keeps requests in order, which is
 * what the image formats' crash ordering assumes, and never lets a vCPU
 * wait for the host's disk. */
#include "drivers/blockdev.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/blk_backend.h"
#include "runtime/log.h"
#include "runtime/util.h"

struct blockdev {
    char *spec;                   /* NULL: no medium (an empty CD-ROM drive) */
    enum blk_media media;
    bool read_only;
    struct blk_backend *be;

    pthread_mutex_t qlock;        /* the queue, `busy`, `trying`, `stop` */
    pthread_cond_t qcond;         /* work arrived or stop */
    pthread_cond_t idle;          /* queue empty and nothing running */
    struct blk_req *head, *tail;
    bool busy, stop, started;
    int trying;                   /* requests vCPUs are trying at once (try_now) */
    uint64_t behind;              /* bytes of writes queued behind (write_behind) */
    int behind_error;             /* the first such write's failure since the last FLUSH */
    uint64_t behind_error_offset; /* ... and where it was to go */
    _Atomic uint64_t since_writeback;  /* bytes written since writeback last started */
    pthread_t thread;

    pthread_mutex_t *vm_lock;
    void (*media_cb)(void *opaque);
    void *media_opaque;
};

static int do_rw(struct blk_backend *be, struct blk_req *r, uint64_t size)
{
    uint64_t off = r->offset, total = 0;
    if (r->iovcnt < 1 || r->iovcnt > BLK_MAX_IOV || off % BLK_SECTOR)
        return -EINVAL;
    for (int i = 0; i < r->iovcnt; i++) {
        if (r->iov[i].iov_len % BLK_SECTOR)
            return -EINVAL;
        total += r->iov[i].iov_len;
    }
    if (off > size || total > size - off)
        return -EINVAL;
    if (r->op == BLK_READ && be->ops->readv)
        return be->ops->readv(be, off, r->iov, r->iovcnt);
    if (r->op == BLK_WRITE && be->ops->writev)
        return be->ops->writev(be, off, r->iov, r->iovcnt);
    for (int i = 0; i < r->iovcnt; i++) {
        size_t len = r->iov[i].iov_len;
        int rc = r->op == BLK_READ ? be->ops->read(be, off, r->iov[i].iov_base, len)
                                   : be->ops->write(be, off, r->iov[i].iov_base, len);
        if (rc < 0)
            return rc;
        off += len;
    }
    return 0;
}

static int do_request(struct blockdev *bd, struct blk_backend *be, struct blk_req *r)
{
    if (!be)
        return -ENOMEDIUM;
    uint64_t size = be->ops->size(be);
    switch (r->op) {
    case BLK_READ:
        return do_rw(be, r, size);
    case BLK_WRITE: {
        int rc = bd->read_only ? -EROFS : do_rw(be, r, size);
        /* Its own flush, not a FLUSH's: a failure written behind earlier
         * is still the next FLUSH's to report. */
        if (rc == 0 && r->write_through)
            rc = be->ops->flush(be);
        return rc;
    }
    case BLK_FLUSH: {
        int rc = bd->read_only ? 0 : be->ops->flush(be);
        /* A write written behind failed: this FLUSH reports it, as a
         * disk's cache flush reports a failed write-back. */
        pthread_mutex_lock(&bd->qlock);
        int e = bd->behind_error;
        bd->behind_error = 0;
        if (e && rc == 0)
            r->error_offset = bd->behind_error_offset;
        pthread_mutex_unlock(&bd->qlock);
        return rc < 0 ? rc : e;
    }
    case BLK_DISCARD:
        if (bd->read_only)
            return -EROFS;
        if (r->offset % BLK_SECTOR || r->len % BLK_SECTOR || r->offset > size || r->len > size - r->offset)
            return -EINVAL;
        return be->ops->discard ? be->ops->discard(be, r->offset, r->len) : 0;
    }
    return -EINVAL;
}

/* The host's writeback of what a drive wrote is started once it has
 * written WRITEBACK_AFTER bytes since the last start, by the I/O thread
 * after completing the write (so the guest does not wait for it), without
 * waiting for the disk. A guest's FLUSH then finds most of a stream of
 * writes on disk already instead of writing all of it, and the host's
 * disk works while the guest prepares its next requests: sequential 1 MiB
 * writes ending with fdatasync went from about 850 to 1500 MB/s on virtio.
 * Rewrites of a block within that span still meet in the page cache.
 * Durability is unchanged: only FLUSH (fdatasync) promises it. */
#define WRITEBACK_AFTER (1u << 20)

static uint64_t req_bytes(const struct blk_req *r)
{
    uint64_t n = 0;
    for (int i = 0; i < r->iovcnt; i++)
        n += r->iov[i].iov_len;
    return n;
}

/* Counts a successful write, the I/O thread's or a vCPU's (try_now): true
 * when writeback is due. */
static bool count_write(struct blockdev *bd, struct blk_backend *be, const struct blk_req *r)
{
    if (!be || r->op != BLK_WRITE || r->write_through || !be->ops->start_writeback)
        return false;
    uint64_t n = req_bytes(r);
    return atomic_fetch_add(&bd->since_writeback, n) + n >= WRITEBACK_AFTER;
}

static void *io_thread(void *opaque)
{
    struct blockdev *bd = opaque;
    pthread_mutex_lock(&bd->qlock);
    for (;;) {
        while (!bd->head && !bd->stop)
            pthread_cond_wait(&bd->qcond, &bd->qlock);
        if (!bd->head)
            break;
        struct blk_req *r = bd->head;
        bd->head = r->next_;
        if (!bd->head)
            bd->tail = NULL;
        bd->busy = true;
        struct blk_backend *be = bd->be;   /* blockdev_change_medium swaps it only while idle */
        pthread_mutex_unlock(&bd->qlock);

        int status = do_request(bd, be, r);
        if (status < 0 && status != -EINVAL && status != -EROFS && status != -ENOMEDIUM)
            log_debug("%s: I/O error at byte %llu: %s", bd->spec ? bd->spec : "drive",
                      (unsigned long long)r->offset, strerror(-status));
        bool due = status == 0 && count_write(bd, be, r);
        pthread_mutex_lock(bd->vm_lock);
        r->done(r, status);
        pthread_mutex_unlock(bd->vm_lock);
        if (due) {
            atomic_store(&bd->since_writeback, 0);
            be->ops->start_writeback(be);
        }

        pthread_mutex_lock(&bd->qlock);
        bd->busy = false;
        pthread_cond_broadcast(&bd->idle);
    }
    pthread_mutex_unlock(&bd->qlock);
    return NULL;
}

/* What a request may be for the drive to try it at once: a read or write
 * no larger than this, which the vCPU copies itself. Larger ones go to the
 * I/O thread, so that the platform lock is never held long. */
#define TRY_NOW_MAX (64u * 1024)

/* A read or write a vCPU may carry out or copy itself: well formed (a bad
 * one gets its error from the I/O thread, as any request), whole sectors,
 * no larger than max. Its bytes, or 0: queue it. qlock held. */
static uint64_t rw_bytes(struct blockdev *bd, const struct blk_req *r, uint64_t max)
{
    struct blk_backend *be = bd->be;
    if (!bd->started || !be || (r->op != BLK_READ && r->op != BLK_WRITE) ||
        (r->op == BLK_WRITE && bd->read_only) || r->iovcnt < 1 || r->iovcnt > BLK_MAX_IOV ||
        r->offset % BLK_SECTOR)
        return 0;
    uint64_t total = 0, size = be->ops->size(be);
    for (int i = 0; i < r->iovcnt; i++) {
        if (r->iov[i].iov_len % BLK_SECTOR)
            return 0;
        total += r->iov[i].iov_len;
    }
    if (total > max || r->offset > size || total > size - r->offset)
        return 0;
    return total;
}

static uint64_t small_rw(struct blockdev *bd, const struct blk_req *r)
{
    return rw_bytes(bd, r, TRY_NOW_MAX);
}

/* A read or write tried without waiting for the host's disk, as io_uring
 * tries before it hands a request to a worker: when the page cache holds
 * the data, the request needs no thread hand-off and no wake-ups. Only on
 * an idle drive (queued requests keep their order), and only when this
 * thread may take the platform lock (recursive: a device callback holds it
 * already), since done() needs it. Never a write through, whose flush
 * waits for the disk. -EAGAIN: queue it. qlock held. */
static int try_now(struct blockdev *bd, struct blk_req *r)
{
    struct blk_backend *be = bd->be;
    if (bd->head || bd->busy || bd->trying || (r->op == BLK_WRITE && r->write_through) || !small_rw(bd, r))
        return -EAGAIN;
    int (*op)(struct blk_backend *, uint64_t, const struct iovec *, int) =
        r->op == BLK_READ ? be->ops->try_readv : be->ops->try_writev;
    if (!op || pthread_mutex_trylock(bd->vm_lock) != 0)
        return -EAGAIN;
    bd->trying++;   /* drain() and blockdev_change_medium wait for it */
    pthread_mutex_unlock(&bd->qlock);
    int rc = op(be, r->offset, r->iov, r->iovcnt);
    if (rc == 0)
        count_write(bd, be, r);   /* the I/O thread's next write starts writeback when due */
    if (rc != -EAGAIN)
        r->done(r, rc);
    pthread_mutex_unlock(bd->vm_lock);
    pthread_mutex_lock(&bd->qlock);
    bd->trying--;
    pthread_cond_broadcast(&bd->idle);
    return rc;
}

/* What a drive holds written behind for its thread at most. */
#define BEHIND_MAX (8u * 1024 * 1024)

/* A copy of a write, queued in the request's place. */
struct behind {
    struct blk_req req;
    struct iovec iov;
    struct blockdev *bd;
    uint8_t data[];
};

static void enqueue(struct blockdev *bd, struct blk_req *r)
{
    r->next_ = NULL;
    if (bd->tail)
        bd->tail->next_ = r;
    else
        bd->head = r;
    bd->tail = r;
    pthread_cond_signal(&bd->qcond);
}

/* The I/O thread wrote the copy (platform lock held). */
static void behind_done(struct blk_req *r, int status)
{
    struct behind *w = r->opaque;
    struct blockdev *bd = w->bd;
    pthread_mutex_lock(&bd->qlock);
    bd->behind -= w->iov.iov_len;
    if (status < 0 && !bd->behind_error) {
        bd->behind_error = status;
        bd->behind_error_offset = w->req.offset;
    }
    pthread_mutex_unlock(&bd->qlock);
    free(w);
}

/* Write-behind, as a disk with its volatile write cache on (ATA IDENTIFY
 * word 85 bit 5; virtio-blk with VIRTIO_BLK_F_FLUSH): a small write is
 * copied, the copy queued, and the request done at once. What the guest
 * was told is written survives kill -9 once it has flushed: its FLUSH
 * queues behind the copies. A read queued behind sees them (try_now waits
 * for an idle drive), and BEHIND_MAX bounds the memory. Under the same
 * conditions as try_now for the platform lock. qlock held; false: queue
 * the request itself. */
static bool write_behind(struct blockdev *bd, struct blk_req *r)
{
    uint64_t total = r->op == BLK_WRITE && !r->write_through ? small_rw(bd, r) : 0;
    if (!total || bd->behind + total > BEHIND_MAX || pthread_mutex_trylock(bd->vm_lock) != 0)
        return false;
    struct behind *w = xmalloc(sizeof *w + total);
    size_t at = 0;
    for (int i = 0; i < r->iovcnt; at += r->iov[i].iov_len, i++)
        memcpy(w->data + at, r->iov[i].iov_base, r->iov[i].iov_len);
    w->bd = bd;
    w->iov = (struct iovec){w->data, total};
    w->req = (struct blk_req){.op = BLK_WRITE, .offset = r->offset, .iov = &w->iov, .iovcnt = 1,
                              .done = behind_done, .opaque = w};
    bd->behind += total;
    enqueue(bd, &w->req);
    pthread_mutex_unlock(&bd->qlock);
    r->done(r, 0);
    pthread_mutex_unlock(bd->vm_lock);
    pthread_mutex_lock(&bd->qlock);
    return true;
}

/* Reads from SPLIT_MIN to SPLIT_MAX bytes on an idle drive are cut in
 * two: the I/O thread reads the first half while the vCPU that submitted
 * the request reads the second from the page cache (the halves' copies
 * run at once, on two cores; the copy is about a quarter of a virtio
 * 1 MiB read's time). The vCPU's half is copied under the platform lock,
 * as try_now's: SPLIT_MAX bounds it. Not below 1 MiB: AHCI's NCQ reads
 * (at most 672 KiB) lost 8% cut from 256 KiB, the vCPU's copy delaying
 * the guest's next command. */
#define SPLIT_MIN (1024u * 1024)
#define SPLIT_MAX (2u * 1024 * 1024)

struct split {
    struct blk_req part[2];
    struct blk_req *whole;
    int left;                     /* parts not done: under the platform lock */
    int status;                   /* the first failure */
    uint64_t error_offset;
    struct iovec iov[];           /* the parts' buffers: the request's, one cut in two */
};

/* A part is done (platform lock held, as for every done()). */
static void split_done(struct blk_req *r, int status)
{
    struct split *s = r->opaque;
    if (status < 0 && !s->status) {
        s->status = status;
        s->error_offset = r->error_offset;
    }
    if (--s->left)
        return;
    struct blk_req *whole = s->whole;
    status = s->status;
    if (status)
        whole->error_offset = s->error_offset;
    free(s);
    whole->done(whole, status);
}

/* The two parts of r: the first `half` bytes, then the rest. */
static struct split *split_of(struct blk_req *r, uint64_t half)
{
    struct split *s = xmalloc(sizeof *s + (size_t)(r->iovcnt + 1) * sizeof(struct iovec));
    int n = 0, first = 0;
    uint64_t at = 0;
    for (int i = 0; i < r->iovcnt; i++) {
        struct iovec v = r->iov[i];
        if (at < half && at + v.iov_len > half) {   /* the buffer the cut runs through */
            size_t k = (size_t)(half - at);
            s->iov[n++] = (struct iovec){v.iov_base, k};
            v = (struct iovec){(uint8_t *)v.iov_base + k, v.iov_len - k};
            at += k;
        }
        if (at == half && !first)
            first = n;
        s->iov[n++] = v;
        at += v.iov_len;
    }
    for (int p = 0; p < 2; p++) {
        uint64_t off = p ? r->offset + half : r->offset;
        s->part[p] = (struct blk_req){.op = BLK_READ, .offset = off, .iov = s->iov + (p ? first : 0),
                                      .iovcnt = p ? n - first : first, .done = split_done, .opaque = s,
                                      .error_offset = off};
    }
    s->whole = r;
    s->left = 2;
    s->status = 0;
    s->error_offset = 0;
    return s;
}

/* qlock held; false: not split (queue it). */
static bool split_read(struct blockdev *bd, struct blk_req *r)
{
    struct blk_backend *be = bd->be;
    if (r->op != BLK_READ || bd->head || bd->busy || bd->trying || !be || !be->ops->try_readv_beside)
        return false;
    uint64_t total = rw_bytes(bd, r, SPLIT_MAX);
    if (total < SPLIT_MIN || pthread_mutex_trylock(bd->vm_lock) != 0)
        return false;
    struct split *s = split_of(r, total / 2 / BLK_SECTOR * BLK_SECTOR);
    enqueue(bd, &s->part[0]);
    bd->trying++;   /* drain() and blockdev_change_medium wait for it */
    pthread_mutex_unlock(&bd->qlock);
    struct blk_req *p1 = &s->part[1];
    int rc = be->ops->try_readv_beside(be, p1->offset, p1->iov, p1->iovcnt);
    if (rc != -EAGAIN)
        split_done(p1, rc);   /* (part 0's done waits for the platform lock we hold) */
    pthread_mutex_lock(&bd->qlock);
    if (rc == -EAGAIN)
        enqueue(bd, p1);
    bd->trying--;
    pthread_cond_broadcast(&bd->idle);
    pthread_mutex_unlock(bd->vm_lock);
    return true;
}

void blockdev_submit(struct blockdev *bd, struct blk_req *req)
{
    req->error_offset = req->op == BLK_FLUSH ? 0 : req->offset;
    pthread_mutex_lock(&bd->qlock);
    if (try_now(bd, req) == -EAGAIN && !write_behind(bd, req) && !split_read(bd, req))
        enqueue(bd, req);
    pthread_mutex_unlock(&bd->qlock);
}

void blockdev_drain(struct blockdev *bd)
{
    pthread_mutex_lock(&bd->qlock);
    while (bd->started && (bd->head || bd->busy || bd->trying))
        pthread_cond_wait(&bd->idle, &bd->qlock);
    pthread_mutex_unlock(&bd->qlock);
}

static struct blk_backend *open_backend(const char *spec, enum blk_media media, bool read_only)
{
    if (strncmp(spec, "iscsi://", 8) == 0)
        return blk_iscsi_open(spec, media, read_only);
    return blk_image_open(spec, media, read_only);
}

struct blockdev *blockdev_open(const char *spec, enum blk_media media, bool read_only)
{
    if (media == BLK_MEDIA_CDROM)
        read_only = true;
    struct blk_backend *be = NULL;
    if (spec) {
        be = open_backend(spec, media, read_only);
        if (!be)
            return NULL;
    } else if (media != BLK_MEDIA_CDROM) {
        log_error("a disk needs an image");
        return NULL;
    }
    struct blockdev *bd = xcalloc(1, sizeof *bd);
    bd->spec = spec ? xstrdup(spec) : NULL;
    bd->media = media;
    bd->read_only = read_only || (be && be->read_only);
    bd->be = be;
    pthread_mutex_init(&bd->qlock, NULL);
    pthread_cond_init(&bd->qcond, NULL);
    pthread_cond_init(&bd->idle, NULL);
    return bd;
}

int blockdev_attach(struct blockdev *bd, pthread_mutex_t *lock)
{
    bd->vm_lock = lock;
    bd->stop = false;
    int rc = pthread_create(&bd->thread, NULL, io_thread, bd);
    if (rc) {
        errno = rc;
        return -1;
    }
    bd->started = true;
    return 0;
}

void blockdev_detach(struct blockdev *bd)
{
    if (!bd->started)
        return;
    blockdev_drain(bd);
    pthread_mutex_lock(&bd->qlock);
    bd->stop = true;
    pthread_cond_signal(&bd->qcond);
    pthread_mutex_unlock(&bd->qlock);
    pthread_join(bd->thread, NULL);
    bd->started = false;
    if (bd->be && !bd->read_only)
        bd->be->ops->flush(bd->be);
}

void blockdev_close(struct blockdev *bd)
{
    if (!bd)
        return;
    blockdev_detach(bd);
    if (bd->be)
        bd->be->ops->close(bd->be);
    pthread_cond_destroy(&bd->idle);
    pthread_cond_destroy(&bd->qcond);
    pthread_mutex_destroy(&bd->qlock);
    free(bd->spec);
    free(bd);
}

uint64_t blockdev_size(struct blockdev *bd)
{
    return bd->be ? bd->be->ops->size(bd->be) : 0;
}

bool blockdev_read_only(struct blockdev *bd)
{
    return bd->read_only;
}

enum blk_media blockdev_media(struct blockdev *bd)
{
    return bd->media;
}

bool blockdev_has_medium(struct blockdev *bd)
{
    return bd->be != NULL;
}

const char *blockdev_spec(struct blockdev *bd)
{
    return bd->spec;
}

void blockdev_set_media_cb(struct blockdev *bd, void (*cb)(void *opaque), void *opaque)
{
    bd->media_cb = cb;
    bd->media_opaque = opaque;
}

/* The old medium goes once no request runs on it (queued ones see the new
 * medium); the device hears of the change under the platform lock. */
int blockdev_change_medium(struct blockdev *bd, const char *spec)
{
    if (bd->media != BLK_MEDIA_CDROM) {
        log_error("%s: only a CD/DVD drive can change its medium", bd->spec ? bd->spec : "drive");
        return -1;
    }
    struct blk_backend *be = NULL;
    if (spec && !(be = open_backend(spec, bd->media, true)))
        return -1;
    pthread_mutex_lock(&bd->qlock);
    while (bd->busy || bd->trying)
        pthread_cond_wait(&bd->idle, &bd->qlock);
    struct blk_backend *old = bd->be;
    bd->be = be;
    free(bd->spec);
    bd->spec = spec ? xstrdup(spec) : NULL;
    pthread_mutex_unlock(&bd->qlock);
    if (old)
        old->ops->close(old);
    if (bd->media_cb && bd->vm_lock) {
        pthread_mutex_lock(bd->vm_lock);
        bd->media_cb(bd->media_opaque);
        pthread_mutex_unlock(bd->vm_lock);
    }
    return 0;
}
