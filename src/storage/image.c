/* The generic layer of disk images: the format registry, opening a file and
 * its parent chain (probing, locking), the chain's lock, argument checks, and
 * the media commands' dispatch. Formats only know their own layout
 * (format.h). */
#define _GNU_SOURCE /* fallocate */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/format.h"

/* A chain deeper than this is taken for a loop (a file naming itself). */
#define MAX_CHAIN_DEPTH 32
/* image_clone copies in chunks of this size. */
#define CLONE_CHUNK (1u << 20)
#define ERR_MAX 512
/* image_allocate writes zeros in chunks of this size without fallocate. */
#define ZERO_CHUNK (1u << 20)

extern const image_format *const __start_caixa_image_formats[] __attribute__((weak));
extern const image_format *const __stop_caixa_image_formats[] __attribute__((weak));

static _Thread_local char last_err[ERR_MAX];

/* --- errors ----------------------------------------------------------------- */

void image_error(const char *fmt, ...)
{
    char tmp[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(last_err, tmp, sizeof last_err);
}

const char *image_last_error(void)
{
    return last_err[0] ? last_err : "no error";
}

/* "PATH: message", unless the message already names the file. */
static void error_prefix_path(const char *path)
{
    size_t n = strlen(path);
    if (strncmp(last_err, path, n) == 0)
        return;
    char tmp[ERR_MAX * 2 + PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s: %s", path, last_err[0] ? last_err : "failed");
    memcpy(last_err, tmp, sizeof last_err - 1);
    last_err[sizeof last_err - 1] = '\0';
}

/* --- the registry ------------------------------------------------------------- */

static const image_format *format_by_name(const char *name)
{
    if (!name || !__start_caixa_image_formats || !__stop_caixa_image_formats)
        return NULL;
    for (const image_format *const *f = __start_caixa_image_formats; f < __stop_caixa_image_formats; f++)
        if (*f && strcasecmp((*f)->name, name) == 0)
            return *f;
    return NULL;
}

bool image_format_known(const char *name)
{
    return format_by_name(name) != NULL;
}

bool image_format_creatable(const char *name)
{
    const image_format *f = format_by_name(name);
    return f && f->create;
}

/* The format whose probes score highest on this head and tail (ties: the
 * first). */
static const image_format *probe_file(const uint8_t *head, size_t hlen, const uint8_t *tail, size_t tlen,
                                      uint64_t file_size)
{
    const image_format *best = NULL;
    int best_score = 0;
    if (!__start_caixa_image_formats || !__stop_caixa_image_formats)
        return NULL;
    for (const image_format *const *f = __start_caixa_image_formats; f < __stop_caixa_image_formats; f++) {
        if (!*f)
            continue;
        int s = (*f)->probe ? (*f)->probe(head, hlen, file_size) : 0;
        if ((*f)->probe_tail) {
            int t = (*f)->probe_tail(tail, tlen, file_size);
            s = t > s ? t : s;
        }
        if (s > best_score) {
            best_score = s;
            best = *f;
        }
    }
    return best;
}

/* --- file helpers ------------------------------------------------------------- */

int image_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {               /* past the end of the file: zeros */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int image_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* What one preadv/pwritev may take (POSIX IOV_MAX on Linux). */
#define IOV_BATCH 1024

/* One vectored call per batch; after a short one, the rest buffer by
 * buffer with the retrying helpers. */
static int pio_vec(int fd, const struct iovec *iov, int iovcnt, uint64_t off, bool write)
{
    while (iovcnt > 0) {
        int cnt = iovcnt < IOV_BATCH ? iovcnt : IOV_BATCH;
        size_t want = 0;
        for (int i = 0; i < cnt; i++)
            want += iov[i].iov_len;
        ssize_t n;
        do
            n = write ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return -errno;
        size_t done = (size_t)n;
        if (done < want) {
            for (int i = 0; i < cnt; i++, off += iov[i - 1].iov_len) {
                size_t len = iov[i].iov_len, skip = done < len ? done : len;
                done -= skip;
                if (skip == len)
                    continue;
                uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
                int rc = write ? image_pwrite(fd, p, len - skip, off + skip)
                               : image_pread(fd, p, len - skip, off + skip);
                if (rc < 0)
                    return rc;
            }
        } else {
            off += want;
        }
        iov += cnt;
        iovcnt -= cnt;
    }
    return 0;
}

int image_preadv(int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
    return pio_vec(fd, iov, iovcnt, off, false);
}

int image_pwritev(int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
    return pio_vec(fd, iov, iovcnt, off, true);
}

int image_file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes;
        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
            return -errno;
        *size = bytes;
        return 0;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

int image_allocate(int fd, uint64_t off, uint64_t end)
{
    if (end <= off)
        return 0;
    if (fallocate(fd, 0, (off_t)off, (off_t)(end - off)) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;
    uint8_t *z = xcalloc(1, ZERO_CHUNK);
    int rc = 0;
    for (; off < end && rc == 0; off += ZERO_CHUNK)
        rc = image_pwrite(fd, z, end - off < ZERO_CHUNK ? (size_t)(end - off) : ZERO_CHUNK, off);
    free(z);
    return rc;
}

void image_new_uuid(uint8_t uuid[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(uuid + got, 16 - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* No entropy source at all: the clock and pid still make a
             * UUID unique enough for one host. */
            uint64_t t = mono_ns() ^ ((uint64_t)getpid() << 32);
            for (size_t i = got; i < 16; i++, t = t * 6364136223846793005ull + 1442695040888963407ull)
                uuid[i] = (uint8_t)(t >> 56);
            break;
        }
        got += (size_t)n;
    }
    /* RFC 4122 4.4: version 4 (random), variant 10x. */
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

/* The directory part of path ("." for a bare name), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *image_path_relative(const char *from_file, const char *to_file)
{
    char *dir = dir_of(from_file);
    char from_real[PATH_MAX], to_real[PATH_MAX];
    bool ok = realpath(dir, from_real) && realpath(to_file, to_real);
    free(dir);
    if (!ok)
        return xstrdup(to_file);
    /* Longest common run of whole components. */
    size_t common = 0;
    for (size_t i = 0;; i++) {
        char a = from_real[i], b = to_real[i];
        if ((a == '/' || a == '\0') && (b == '/' || b == '\0'))
            common = i;
        if (a != b || a == '\0')
            break;
    }
    if (strcmp(from_real, "/") == 0)
        common = 0;
    char out[PATH_MAX * 2];
    size_t o = 0;
    out[0] = '\0';
    /* One ".." per component of from left after the common part. */
    for (const char *p = from_real + common; *p; p++)
        if (*p == '/' && p[1] && o + 4 < sizeof out) {
            memcpy(out + o, "../", 3);
            o += 3;
            out[o] = '\0';
        }
    const char *rest = to_real + common;
    while (*rest == '/')
        rest++;
    snprintf(out + o, sizeof out - o, "%s", rest);
    return xstrdup(out);
}

/* --- opening ------------------------------------------------------------------ */

static void close_one(struct image *img)
{
    if (!img)
        return;
    if (img->fmt && img->fmt->close && img->priv)
        img->fmt->close(img);
    if (img->fd >= 0)
        close(img->fd);
    free(img->bounce);
    free(img->path);
    free(img);
}

/* Opens one file (no parent), probes and opens its format. quiet: leave no
 * message for files that are simply not images (the UUID search). */
static struct image *open_one(const char *path, bool ro, struct image_parent_ref *pref)
{
    /* O_NONBLOCK: a name that leads to a FIFO (a hostile parent path) must
     * not hang the open; it is refused just below. */
    int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        image_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        image_error("%s: not a regular file or block device", path);
        close(fd);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            image_error("%s is locked by another process (or opened twice)", path);
        else
            image_error("%s: cannot lock: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    uint64_t fsize;
    int rc = image_file_size(fd, &fsize);
    if (rc < 0) {
        image_error("%s: %s", path, strerror(-rc));
        close(fd);
        return NULL;
    }
    size_t hlen = fsize < IMAGE_PROBE_BYTES ? (size_t)fsize : IMAGE_PROBE_BYTES;
    size_t tlen = fsize < IMAGE_PROBE_TAIL_BYTES ? (size_t)fsize : IMAGE_PROBE_TAIL_BYTES;
    uint8_t *head = xmalloc(hlen + tlen + 1);
    uint8_t *tail = head + hlen;
    rc = image_pread(fd, head, hlen, 0);
    if (rc == 0)
        rc = image_pread(fd, tail, tlen, fsize - tlen);
    const image_format *fmt = rc < 0 ? NULL : probe_file(head, hlen, tail, tlen, fsize);
    free(head);
    if (rc < 0) {
        image_error("%s: %s", path, strerror(-rc));
        close(fd);
        return NULL;
    }
    if (!fmt) {
        image_error("%s: not a disk image of a known format", path);
        close(fd);
        return NULL;
    }
    struct image *img = xcalloc(1, sizeof *img);
    img->fmt = fmt;
    img->fd = fd;
    img->path = xstrdup(path);
    img->read_only = ro;
    last_err[0] = '\0';
    if (fmt->open(img, pref) < 0) {
        error_prefix_path(path);
        img->priv = NULL;       /* open cleaned up after itself */
        close_one(img);
        return NULL;
    }
    /* A format that is read-only by nature (ISO) gives the exclusive lock
     * back as a shared one. */
    if (img->read_only && !ro)
        flock(fd, LOCK_SH | LOCK_NB);
    return img;
}

static void free_pref(struct image_parent_ref *p)
{
    free(p->path);
    memset(p, 0, sizeof *p);
}

static bool image_uuid_is(struct image *img, const uint8_t uuid[16])
{
    if (!img->fmt->info)
        return false;
    struct image_info info;
    memset(&info, 0, sizeof info);
    img->fmt->info(img, &info);
    return info.has_uuid && memcmp(info.uuid, uuid, 16) == 0;
}

/* Is the file open in img (or one of its parents)? */
static bool in_chain(const struct image *img, dev_t dev, ino_t ino)
{
    for (; img; img = img->parent) {
        struct stat st;
        if (fstat(img->fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
            return true;
    }
    return false;
}

/* An image with this UUID in dir, opened read-only (with its own parent
 * reference in *pref), or NULL. Files of the chain so far (top) are not
 * candidates: an image is never its own ancestor. */
static struct image *find_by_uuid(const struct image *top, const char *dir, const uint8_t uuid[16],
                                  struct image_parent_ref *pref)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct image *found = NULL;
    char saved[ERR_MAX];
    memcpy(saved, last_err, sizeof saved);
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
            continue;
        char *p = strcmp(dir, ".") == 0 ? xstrdup(e->d_name) : join_path(dir, e->d_name);
        struct stat st;
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || in_chain(top, st.st_dev, st.st_ino)) {
            free(p);
            continue;
        }
        struct image_parent_ref r = {0};
        struct image *img = open_one(p, true, &r);
        free(p);
        if (img && image_uuid_is(img, uuid)) {
            found = img;
            *pref = r;
        } else {
            free_pref(&r);
            close_one(img);
        }
    }
    closedir(d);
    memcpy(last_err, saved, sizeof last_err);
    return found;
}

/* Opens the parent that child's reference names (read-only), with its own
 * reference in *next. */
static struct image *open_parent(const struct image *top, struct image *child,
                                 struct image_parent_ref *ref, struct image_parent_ref *next)
{
    char *dir = dir_of(child->path);
    struct image *p = NULL;
    if (ref->path) {
        char *path = ref->path[0] == '/' ? xstrdup(ref->path) : join_path(dir, ref->path);
        p = open_one(path, true, next);
        free(path);
        if (p && ref->has_uuid && p->fmt->info && !image_uuid_is(p, ref->uuid)) {
            /* The file is there but is not the image the child was made
             * from: reading through it would give wrong data. */
            image_error("%s: parent %s has a different UUID than the child expects",
                        child->path, p->path);
            free_pref(next);
            close_one(p);
            p = NULL;
        }
    } else if (ref->has_uuid) {
        p = find_by_uuid(top, dir, ref->uuid, next);
        if (!p) {
            char *up = join_path(dir, "..");
            p = find_by_uuid(top, up, ref->uuid, next);
            free(up);
        }
        if (!p) {
            char u[40];
            snprintf(u, sizeof u,
                     "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                     ref->uuid[0], ref->uuid[1], ref->uuid[2], ref->uuid[3], ref->uuid[4],
                     ref->uuid[5], ref->uuid[6], ref->uuid[7], ref->uuid[8], ref->uuid[9],
                     ref->uuid[10], ref->uuid[11], ref->uuid[12], ref->uuid[13], ref->uuid[14],
                     ref->uuid[15]);
            image_error("%s: parent image {%s} not found beside it or in the directory above",
                        child->path, u);
        }
    }
    free(dir);
    return p;
}

struct image *image_open(const char *path, unsigned flags)
{
    struct image_parent_ref ref = {0};
    struct image *top = open_one(path, (flags & IMAGE_OPEN_RDONLY) != 0, &ref);
    if (!top) {
        free_pref(&ref);
        return NULL;
    }
    top->lock = xmalloc(sizeof *top->lock);
    pthread_mutex_init(top->lock, NULL);
    struct image *cur = top;
    for (int depth = 1; ref.path || ref.has_uuid; depth++) {
        if (depth > MAX_CHAIN_DEPTH) {
            image_error("%s: parent chain deeper than %d images (a loop?)", path, MAX_CHAIN_DEPTH);
            goto fail;
        }
        struct image_parent_ref next = {0};
        struct image *p = open_parent(top, cur, &ref, &next);
        free_pref(&ref);
        if (!p)
            goto fail;
        p->lock = top->lock;
        cur->parent = p;
        cur = p;
        ref = next;
    }
    return top;
fail:
    free_pref(&ref);
    image_close(top);
    return NULL;
}

void image_close(struct image *img)
{
    if (!img)
        return;
    pthread_mutex_t *lock = img->lock;
    for (struct image *p = img; p;) {
        struct image *next = p->parent;
        close_one(p);
        p = next;
    }
    if (lock) {
        pthread_mutex_destroy(lock);
        free(lock);
    }
}

/* --- accessors ------------------------------------------------------------------ */

uint64_t image_size(const struct image *img) { return img->size; }
bool image_read_only(const struct image *img) { return img->read_only; }
const char *image_format_name(const struct image *img) { return img->fmt->name; }
const char *image_path(const struct image *img) { return img->path; }
struct image *image_parent(const struct image *img) { return img->parent; }

/* --- I/O ------------------------------------------------------------------------ */

int image_check_range(const struct image *img, const char *what, uint64_t off, uint64_t len)
{
    if (off % IMAGE_SECTOR || len % IMAGE_SECTOR) {
        image_error("%s: %s at %llu+%llu is not sector-aligned", img->path, what,
                    (unsigned long long)off, (unsigned long long)len);
        return -EINVAL;
    }
    if (off > img->size || len > img->size - off) {
        image_error("%s: %s at %llu+%llu is beyond the disk's %llu bytes", img->path, what,
                    (unsigned long long)off, (unsigned long long)len, (unsigned long long)img->size);
        return -EINVAL;
    }
    return 0;
}

int image_check_writable(const struct image *img, const char *what)
{
    if (img->read_only) {
        image_error("%s: %s: the image is open read-only", img->path, what);
        return -EROFS;
    }
    return 0;
}

int image_read_chain(struct image *img, uint64_t off, void *buf, size_t len)
{
    if (!img) {
        memset(buf, 0, len);
        return 0;
    }
    /* A child may be larger than its parent (resized): beyond the parent's
     * end it reads zeros. */
    size_t in = 0;
    if (off < img->size)
        in = img->size - off < len ? (size_t)(img->size - off) : len;
    if (in < len)
        memset((uint8_t *)buf + in, 0, len - in);
    if (!in)
        return 0;
    return img->fmt->read(img, off, buf, in);
}

int image_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    int rc = image_check_range(img, "read", off, len);
    if (rc < 0 || len == 0)
        return rc;
    pthread_mutex_lock(img->lock);
    rc = img->fmt->read(img, off, buf, len);
    pthread_mutex_unlock(img->lock);
    return rc;
}

int image_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    int rc = image_check_writable(img, "write");
    if (rc == 0)
        rc = image_check_range(img, "write", off, len);
    if (rc < 0 || len == 0)
        return rc;
    pthread_mutex_lock(img->lock);
    rc = img->fmt->write(img, off, buf, len);
    pthread_mutex_unlock(img->lock);
    return rc;
}

int image_flush(struct image *img)
{
    if (img->read_only)
        return 0;
    pthread_mutex_lock(img->lock);
    int rc;
    if (img->fmt->flush) {
        rc = img->fmt->flush(img);
    } else {
        rc = fdatasync(img->fd) < 0 ? -errno : 0;
        if (rc < 0)
            image_error("%s: flush: %s", img->path, strerror(-rc));
    }
    pthread_mutex_unlock(img->lock);
    return rc;
}

void image_start_writeback(struct image *img)
{
    if (img->read_only)
        return;
    if (img->fmt->start_writeback)
        img->fmt->start_writeback(img);
    else
        image_fd_start_writeback(img->fd);
}

void image_fd_start_writeback(int fd)
{
    /* WRITE alone: no wait, and a failed write-back stays for the next
     * fdatasync to report. */
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

int image_discard(struct image *img, uint64_t off, uint64_t len)
{
    int rc = image_check_writable(img, "discard");
    if (rc == 0)
        rc = image_check_range(img, "discard", off, len);
    if (rc < 0 || len == 0 || !img->fmt->discard)
        return rc;
    pthread_mutex_lock(img->lock);
    rc = img->fmt->discard(img, off, len);
    pthread_mutex_unlock(img->lock);
    return rc;
}

/* --- media commands ---------------------------------------------------------- */

int image_create(const char *path, const struct image_create_opts *o)
{
    const image_format *fmt = format_by_name(o->format ? o->format : "raw");
    if (!fmt) {
        image_error("unknown image format '%s'", o->format);
        return -1;
    }
    if (!fmt->create) {
        image_error("images of format %s cannot be created", fmt->name);
        return -1;
    }
    struct image_create_opts opts = *o;
    opts.format = fmt->name;
    struct image *parent = NULL;
    if (o->parent) {
        parent = image_open(o->parent, IMAGE_OPEN_RDONLY);
        if (!parent)
            return -1;
        opts.size = parent->size;
    } else if (o->size == 0 || o->size % IMAGE_SECTOR) {
        image_error("%s: the size must be a positive multiple of %u bytes", path, IMAGE_SECTOR);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        image_error("%s: %s", path, errno == EEXIST ? "file exists (it is never overwritten)" : strerror(errno));
        image_close(parent);
        return -1;
    }
    flock(fd, LOCK_EX | LOCK_NB);
    last_err[0] = '\0';
    int rc = fmt->create(fd, path, &opts, parent);
    if (rc == 0 && fdatasync(fd) < 0) {
        image_error("%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        error_prefix_path(path);
        unlink(path);
    }
    close(fd);
    image_close(parent);
    return rc < 0 ? -1 : 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)p;  /* chunk buffers are malloc-aligned */
    for (size_t i = 0; i < n / 8; i++)
        if (q[i])
            return false;
    for (size_t i = n / 8 * 8; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int image_clone(struct image *src, const char *dst, const struct image_create_opts *o)
{
    struct image_create_opts opts = *o;
    opts.parent = NULL;
    opts.size = align_up(src->size, IMAGE_SECTOR);
    if (image_create(dst, &opts) < 0)
        return -1;
    struct image *out = image_open(dst, 0);
    if (!out) {
        unlink(dst);
        return -1;
    }
    uint8_t *buf = xmalloc(CLONE_CHUNK);
    int rc = 0;
    for (uint64_t off = 0; off < src->size && rc == 0; off += CLONE_CHUNK) {
        size_t n = src->size - off < CLONE_CHUNK ? (size_t)(src->size - off) : CLONE_CHUNK;
        rc = image_read(src, off, buf, n);
        /* A new image reads as zeros: zero chunks stay unallocated. */
        if (rc == 0 && !all_zero(buf, n))
            rc = image_write(out, off, buf, n);
    }
    free(buf);
    if (rc == 0)
        rc = image_flush(out);
    image_close(out);
    if (rc < 0) {
        unlink(dst);
        return -1;
    }
    return 0;
}

int image_resize(struct image *img, uint64_t new_size)
{
    if (image_check_writable(img, "resize") < 0)
        return -1;
    if (new_size == 0 || new_size % IMAGE_SECTOR) {
        image_error("%s: the new size must be a positive multiple of %u bytes", img->path, IMAGE_SECTOR);
        return -1;
    }
    if (!img->fmt->resize) {
        image_error("%s: images of format %s cannot be resized", img->path, img->fmt->name);
        return -1;
    }
    pthread_mutex_lock(img->lock);
    last_err[0] = '\0';
    int rc = img->fmt->resize(img, new_size);
    if (rc == 0)
        img->size = new_size;
    else
        error_prefix_path(img->path);
    pthread_mutex_unlock(img->lock);
    return rc < 0 ? -1 : 0;
}

int image_compact(struct image *img)
{
    if (image_check_writable(img, "compact") < 0)
        return -1;
    if (!img->fmt->compact) {
        image_error("%s: images of format %s cannot be compacted", img->path, img->fmt->name);
        return -1;
    }
    pthread_mutex_lock(img->lock);
    last_err[0] = '\0';
    int rc = img->fmt->compact(img);
    if (rc < 0)
        error_prefix_path(img->path);
    pthread_mutex_unlock(img->lock);
    return rc < 0 ? -1 : 0;
}

void image_get_info(struct image *img, struct image_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = img->fmt->name;
    info->variant = "";
    info->virtual_size = img->size;
    struct stat st;
    if (fstat(img->fd, &st) == 0)
        info->file_size = S_ISBLK(st.st_mode) ? img->size : (uint64_t)st.st_blocks * 512u;
    info->parent_path = img->parent ? img->parent->path : NULL;
    pthread_mutex_lock(img->lock);
    if (img->fmt->info)
        img->fmt->info(img, info);
    pthread_mutex_unlock(img->lock);
}

int image_check(struct image *img, image_note_fn note, void *opaque)
{
    if (!img->fmt->check)
        return 0;
    pthread_mutex_lock(img->lock);
    int rc = img->fmt->check(img, note, opaque);
    pthread_mutex_unlock(img->lock);
    return rc;
}
