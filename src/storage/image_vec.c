/* Scattered requests: image_readv/image_writev and their try forms. The
 * format's map() cuts a request into runs. A run of file data moves in
 * one preadv/pwritev straight between the guest's buffers and the file;
 * zeros and the parent's data are filled in place; what only the format
 * can do (allocating a block, a compressed cluster, a sector bitmap) goes
 * through its read()/write(), gathered into one buffer, so that a request
 * that covers whole blocks reaches the format as such. A format without
 * map() gets one call per buffer. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "runtime/util.h"
#include "storage/format.h"

/* What a FORMAT run moves through img->bounce at once. */
#define BOUNCE_BYTES (1u << 20)
/* Windows of up to this many iovecs live on the stack. */
#define WINDOW_STACK 64

/* A position in a request's iovecs. */
struct cursor {
    const struct iovec *iov;
    int cnt;
    size_t skip;            /* bytes of iov[0] already passed */
};

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* The next piece of at most len (> 0) bytes in one buffer at c (empty
 * buffers skipped); c moves past it. The request holds it (vec_check). */
static struct iovec span(struct cursor *c, size_t len)
{
    while (c->skip == c->iov->iov_len) {
        c->iov++;
        c->cnt--;
        c->skip = 0;
    }
    size_t k = c->iov->iov_len - c->skip < len ? c->iov->iov_len - c->skip : len;
    struct iovec v = {(uint8_t *)c->iov->iov_base + c->skip, k};
    c->skip += k;
    return v;
}

/* The next len bytes of c as (at most c->cnt) iovecs in win. */
static int take(struct cursor *c, size_t len, struct iovec *win)
{
    int n = 0;
    for (; len; n++) {
        win[n] = span(c, len);
        len -= win[n].iov_len;
    }
    return n;
}

/* Copies len bytes between buf and the buffers at c (zeros into them
 * without buf); c moves past them. */
static void copy(struct cursor *c, uint8_t *buf, size_t len, bool to_buffers)
{
    while (len) {
        struct iovec v = span(c, len);
        if (!buf)
            memset(v.iov_base, 0, v.iov_len);
        else if (to_buffers)
            memcpy(v.iov_base, buf, v.iov_len);
        else
            memcpy(buf, v.iov_base, v.iov_len);
        if (buf)
            buf += v.iov_len;
        len -= v.iov_len;
    }
}

/* --- runs ----------------------------------------------------------------------- */

static int map_one(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *x)
{
    int rc = img->fmt->map(img, off, len, flags, x);
    if (rc < 0)
        return rc == -EAGAIN ? rc : -EIO;
    if (x->len == 0 || x->len > len || x->len % IMAGE_SECTOR ||
        ((flags & IMAGE_MAP_WRITE) && (x->kind == IMAGE_EXT_ZERO || x->kind == IMAGE_EXT_PARENT))) {
        image_error("%s: the %s format mapped %llu+%llu wrongly", img->path, img->fmt->name,
                    (unsigned long long)off, (unsigned long long)len);
        return -EIO;
    }
    return 0;
}

static bool joins(const struct image_extent *a, const struct image_extent *b)
{
    if (a->kind != b->kind)
        return false;
    return a->kind != IMAGE_EXT_DATA || (a->fd == b->fd && a->pos + a->len == b->pos);
}

/* The run from off (at most len bytes), with the runs after it that
 * continue it joined. */
static int map_run(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *run)
{
    int rc = map_one(img, off, len, flags, run);
    while (rc == 0 && run->len < len) {
        struct image_extent next;
        int r = map_one(img, off + run->len, len - run->len, flags, &next);
        if (r == -EAGAIN)
            break;                  /* the run so far is known */
        if (r < 0)
            return r;
        if (!joins(run, &next))
            break;
        run->len += next.len;
    }
    return rc;
}

/* preadv2/pwritev2 with RWF_NOWAIT: all of it from or into the page cache
 * now, or -EAGAIN (a short transfer too: the retry redoes all of it). A
 * file system that cannot say (EOPNOTSUPP) always answers -EAGAIN. */
static int try_data(struct image *img, int fd, const struct iovec *win, int n, uint64_t pos, bool write)
{
    if (write && img->no_nowait_write)
        return -EAGAIN;
    size_t want = iov_total(win, n);
    ssize_t done = write ? pwritev2(fd, win, n, (off_t)pos, RWF_NOWAIT) : preadv2(fd, win, n, (off_t)pos, RWF_NOWAIT);
    if (done >= 0 && (size_t)done == want)
        return 0;
    if (done < 0 && errno == EOPNOTSUPP && write)
        img->no_nowait_write = true;    /* (ext4 buffered writes): no use asking again */
    if (done >= 0 || errno == EAGAIN || errno == EOPNOTSUPP || errno == EINTR || errno == EINVAL)
        return -EAGAIN;
    int rc = -errno;
    image_error("%s: %s at %llu: %s", img->path, write ? "write" : "read", (unsigned long long)pos, strerror(-rc));
    return rc;
}

static int data_run(struct image *img, const struct image_extent *run, struct cursor *c, bool write, bool now)
{
    struct iovec small[WINDOW_STACK];
    struct iovec *win = c->cnt <= WINDOW_STACK ? small : xmalloc(sizeof *win * (size_t)c->cnt);
    int n = take(c, run->len, win);
    int rc;
    if (now) {
        rc = try_data(img, run->fd, win, n, run->pos, write);
    } else {
        rc = write ? image_pwritev(run->fd, win, n, run->pos) : image_preadv(run->fd, win, n, run->pos);
        if (rc < 0)
            image_error("%s: %s at %llu: %s", img->path, write ? "write" : "read", (unsigned long long)run->pos,
                        strerror(-rc));
    }
    if (win != small)
        free(win);
    return rc;
}

/* A FORMAT run through the format's read()/write(), a buffer at a time. */
static int format_run(struct image *img, uint64_t off, uint64_t len, struct cursor *c, bool write)
{
    if (!img->bounce)
        img->bounce = xmalloc(BOUNCE_BYTES);
    while (len) {
        size_t k = len < BOUNCE_BYTES ? (size_t)len : BOUNCE_BYTES;
        int rc;
        if (write) {
            copy(c, img->bounce, k, false);
            rc = img->fmt->write(img, off, img->bounce, k);
        } else {
            rc = img->fmt->read(img, off, img->bounce, k);
            if (rc == 0)
                copy(c, img->bounce, k, true);
        }
        if (rc < 0)
            return rc;
        off += k;
        len -= k;
    }
    return 0;
}

/* A format without map(): one call per buffer, straight into it. */
static int per_buffer(struct image *img, uint64_t off, size_t len, struct cursor *c, bool write)
{
    while (len) {
        struct iovec v = span(c, len);
        int rc = write ? img->fmt->write(img, off, v.iov_base, v.iov_len) : img->fmt->read(img, off, v.iov_base, v.iov_len);
        if (rc < 0)
            return rc;
        off += v.iov_len;
        len -= v.iov_len;
    }
    return 0;
}

static int vec_io(struct image *img, uint64_t off, struct cursor *c, size_t len, bool write, bool now);

/* len bytes at off of a parent chain (zeros without one, and beyond its
 * end: a child may be larger). */
static int parent_run(struct image *parent, uint64_t off, size_t len, struct cursor *c)
{
    size_t in = 0;
    if (parent && off < parent->size)
        in = parent->size - off < len ? (size_t)(parent->size - off) : len;
    int rc = in ? vec_io(parent, off, c, in, false, false) : 0;
    if (rc == 0)
        copy(c, NULL, len - in, true);
    return rc;
}

/* len bytes at off between img and the buffers at c (the chain's lock
 * held). now: only runs of file data (with RWF_NOWAIT) and of zeros,
 * else -EAGAIN. */
static int vec_io(struct image *img, uint64_t off, struct cursor *c, size_t len, bool write, bool now)
{
    if (!img->fmt->map)
        return now ? -EAGAIN : per_buffer(img, off, len, c, write);
    unsigned flags = (write ? IMAGE_MAP_WRITE : 0) | (now ? IMAGE_MAP_NOWAIT : 0);
    while (len) {
        struct image_extent run;
        int rc = map_run(img, off, len, flags, &run);
        if (rc < 0)
            return rc;
        if (now && (run.kind == IMAGE_EXT_FORMAT || (run.kind == IMAGE_EXT_PARENT && img->parent)))
            return -EAGAIN;
        switch (run.kind) {
        case IMAGE_EXT_DATA:
            rc = data_run(img, &run, c, write, now);
            break;
        case IMAGE_EXT_ZERO:
            copy(c, NULL, run.len, true);
            break;
        case IMAGE_EXT_PARENT:
            rc = parent_run(img->parent, off, run.len, c);
            break;
        case IMAGE_EXT_FORMAT:
            rc = format_run(img, off, run.len, c, write);
            break;
        }
        if (rc < 0)
            return rc;
        off += run.len;
        len -= run.len;
    }
    return 0;
}

/* --- the calls ---------------------------------------------------------------------- */

/* What image_read/image_write check, for a request over iovecs: 1 when
 * there is something to do, else 0 or the error. */
static int vec_check(const struct image *img, uint64_t off, const struct iovec *iov, int iovcnt, bool write)
{
    const char *what = write ? "write" : "read";
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len % IMAGE_SECTOR) {
            image_error("%s: %s of %zu bytes is not sector-aligned", img->path, what, iov[i].iov_len);
            return -EINVAL;
        }
    size_t total = iov_total(iov, iovcnt);
    int rc = write ? image_check_writable(img, what) : 0;
    if (rc == 0)
        rc = image_check_range(img, what, off, total);
    return rc < 0 ? rc : total != 0;
}

static int request(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt, bool write, bool now)
{
    int rc = vec_check(img, off, iov, iovcnt, write);
    if (rc <= 0)
        return rc;
    if (now) {
        if (!img->fmt->map || pthread_mutex_trylock(img->lock) != 0)
            return -EAGAIN;
    } else {
        pthread_mutex_lock(img->lock);
    }
    struct cursor c = {iov, iovcnt, 0};
    rc = vec_io(img, off, &c, iov_total(iov, iovcnt), write, now);
    pthread_mutex_unlock(img->lock);
    return rc;
}

int image_readv(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return request(img, off, iov, iovcnt, false, false);
}

int image_writev(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return request(img, off, iov, iovcnt, true, false);
}

int image_try_readv(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return request(img, off, iov, iovcnt, false, true);
}

int image_try_writev(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return request(img, off, iov, iovcnt, true, true);
}

int image_try_readv_beside(struct image *img, uint64_t off, const struct iovec *iov, int iovcnt)
{
    int rc = vec_check(img, off, iov, iovcnt, false);
    if (rc <= 0)
        return rc;
    if (!img->fmt->map || !img->fmt->map_in_memory || img->parent)
        return -EAGAIN;
    struct cursor c = {iov, iovcnt, 0};
    return vec_io(img, off, &c, iov_total(iov, iovcnt), false, true);
}
