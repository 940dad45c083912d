/* VMDK images (VMware Virtual Disk Format 1.1): a disk is a list of
 * extents, named by a text descriptor (vmdk_desc.c). Monolithic sparse: one
 * file, a sparse extent header ("KDMV", vmdk_sparse.c) with the descriptor
 * embedded. Monolithic flat: a descriptor file naming a flat extent file
 * beside it. Stream-optimized: a sparse extent of deflate-compressed
 * grains, read-only. Differencing: a sparse child whose descriptor names
 * its parent (parentFileNameHint). This file: the extents, opening,
 * dispatching I/O to them, create, info and check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/format.h"
#include "storage/vmdk_desc.h"
#include "storage/vmdk_sparse.h"

/* Section 3: a descriptor file starts with this line. */
#define VMDK_SIGNATURE "# Disk DescriptorFile"
/* Bound on extent offsets and the sum of extent sizes (sectors: 2 PiB). */
#define MAX_SECTORS (1ull << 42)
/* The largest disk a sparse extent with 32-bit grain offsets can hold. */
#define VMDK_MAX_SPARSE_BYTES (2ull << 40)

struct extent {
    enum vmdk_ext_type type;
    bool writable;
    int fd;
    bool own_fd;
    uint64_t start, sectors;           /* in the virtual disk */
    uint64_t flat_off;                 /* FLAT: bytes into the file */
    struct vmdk_sparse *sp;
    char *path;
};

struct vmdk {
    struct vmdk_desc desc;
    unsigned n;
    struct extent *ext;
    bool stream;
    bool cid_done;                     /* CID renewed after the first write */
    uint64_t desc_at;                  /* the descriptor's byte offset in img->fd */
};

/* --- small helpers ------------------------------------------------------------------- */

static int io_error(const char *what, const char *path, uint64_t off, int rc)
{
    image_error("%s %s at %llu: %s", what, path, (unsigned long long)off, strerror(-rc));
    return rc;
}

static void vmdk_free(struct vmdk *v)
{
    if (!v)
        return;
    for (unsigned i = 0; i < v->n; i++) {
        if (v->ext[i].own_fd && v->ext[i].fd >= 0)
            close(v->ext[i].fd);
        vmdk_sparse_free(v->ext[i].sp);
        free(v->ext[i].path);
    }
    free(v->ext);
    vmdk_desc_free(&v->desc);
    free(v);
}

/* --- probe ------------------------------------------------------------------------------ */

static int vmdk_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
    (void)file_size;
    if (len >= VMDK_HEADER_SIZE && get_le(head, 4) == VMDK_MAGIC)
        return 100;
    if (len >= sizeof VMDK_SIGNATURE - 1 && memcmp(head, VMDK_SIGNATURE, sizeof VMDK_SIGNATURE - 1) == 0)
        return 100;
    return 0;
}

/* --- opening: extents and the descriptor ----------------------------------------------- */

/* Opens an extent file named by a descriptor, relative to the descriptor's
 * directory, read-write only when both the image and the extent allow it.
 * O_NONBLOCK keeps a FIFO from hanging the open; only files and block
 * devices are taken. */
static int open_extent_file(struct image *img, struct extent *e, const char *name, bool rw)
{
    const char *slash = strrchr(img->path, '/');
    size_t n = strlen(name) + (slash ? (size_t)(slash - img->path) : 0) + 2;
    e->path = xmalloc(n);
    if (name[0] == '/' || !slash)
        snprintf(e->path, n, "%s", name);
    else
        snprintf(e->path, n, "%.*s/%s", (int)(slash - img->path), img->path, name);
    int fd = open(e->path, (rw ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        image_error("extent %s: %s", e->path, strerror(errno));
        return -1;
    }
    e->fd = fd;
    e->own_fd = true;
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        image_error("extent %s: not a regular file or block device", e->path);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || flock(fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        image_error("extent %s: %s", e->path,
                    errno == EWOULDBLOCK ? "locked by another process (or opened twice)" : strerror(errno));
        return -1;
    }
    return 0;
}

static int read_header(int fd, const char *path, uint8_t *hdr)
{
    int rc = image_pread(fd, hdr, VMDK_HEADER_SIZE, 0);
    if (rc < 0)
        io_error("reading the header of", path, 0, rc);
    return rc;
}

/* The extents a descriptor file lists, laid one after another. */
static int open_desc_extents(struct image *img, struct vmdk *v)
{
    if (v->desc.n_extents == 0) {
        image_error("VMDK descriptor lists no extent");
        return -1;
    }
    v->ext = xcalloc(v->desc.n_extents, sizeof *v->ext);
    uint64_t start = 0;
    for (unsigned i = 0; i < v->desc.n_extents; i++) {
        const struct vmdk_desc_extent *d = &v->desc.extents[i];
        struct extent *e = &v->ext[v->n++];
        e->fd = -1;
        e->type = d->type;
        e->start = start;
        e->sectors = d->sectors;
        e->writable = !img->read_only && d->access == VMDK_RW && d->type != VMDK_EXT_ZERO;
        if (d->sectors > MAX_SECTORS - start) {
            image_error("VMDK extents add up to more than %llu sectors", (unsigned long long)MAX_SECTORS);
            return -1;
        }
        start += d->sectors;
        if (d->type == VMDK_EXT_ZERO || d->access == VMDK_NOACCESS) {
            e->path = xstrdup(d->file ? d->file : "(zero)");
            continue;
        }
        if (open_extent_file(img, e, d->file, e->writable) < 0)
            return -1;
        if (d->type == VMDK_EXT_FLAT) {
            if (d->offset > MAX_SECTORS) {
                image_error("extent %s: offset %llu out of range", e->path, (unsigned long long)d->offset);
                return -1;
            }
            e->flat_off = d->offset * IMAGE_SECTOR;
            continue;
        }
        uint8_t hdr[VMDK_HEADER_SIZE];
        if (read_header(e->fd, e->path, hdr) < 0 || !(e->sp = vmdk_sparse_open(e->fd, e->path, hdr, e->writable)))
            return -1;
        if (vmdk_sparse_capacity(e->sp) < e->sectors) {
            image_error("extent %s holds %llu sectors, the descriptor says %llu", e->path,
                        (unsigned long long)vmdk_sparse_capacity(e->sp), (unsigned long long)e->sectors);
            return -1;
        }
        v->stream |= vmdk_sparse_compressed(e->sp);
    }
    img->size = start * IMAGE_SECTOR;
    return 0;
}

/* A sparse file with its descriptor embedded (monolithicSparse,
 * streamOptimized): one extent, the file itself. */
static int open_monolithic(struct image *img, struct vmdk *v, const uint8_t *hdr)
{
    uint64_t file_size;
    if (image_file_size(img->fd, &file_size) < 0)
        file_size = 0;
    uint64_t d_at = get_le(hdr + VMDK_H_DESC_OFFSET, 8), d_len = get_le(hdr + VMDK_H_DESC_SIZE, 8);
    if (d_at && d_len) {
        if (d_len > VMDK_DESC_MAX / IMAGE_SECTOR || d_at > file_size / IMAGE_SECTOR) {
            image_error("embedded VMDK descriptor (%llu sectors at sector %llu) out of range",
                        (unsigned long long)d_len, (unsigned long long)d_at);
            return -1;
        }
        char *text = xmalloc(d_len * IMAGE_SECTOR);
        int rc = image_pread(img->fd, text, d_len * IMAGE_SECTOR, d_at * IMAGE_SECTOR);
        if (rc == 0)
            rc = vmdk_desc_parse(text, d_len * IMAGE_SECTOR, &v->desc);
        else
            io_error("reading the descriptor of", img->path, d_at * IMAGE_SECTOR, rc);
        free(text);
        if (rc < 0)
            return -1;
        v->desc_at = d_at * IMAGE_SECTOR;
    }
    v->ext = xcalloc(1, sizeof *v->ext);
    v->n = 1;
    struct extent *e = &v->ext[0];
    e->type = VMDK_EXT_SPARSE;
    e->fd = img->fd;
    e->writable = !img->read_only;
    e->path = xstrdup(img->path);
    if (!(e->sp = vmdk_sparse_open(img->fd, e->path, hdr, e->writable)))
        return -1;
    e->sectors = vmdk_sparse_capacity(e->sp);
    v->stream = vmdk_sparse_compressed(e->sp);
    img->size = e->sectors * IMAGE_SECTOR;
    return 0;
}

static int vmdk_open(struct image *img, struct image_parent_ref *ref)
{
    uint8_t hdr[VMDK_HEADER_SIZE];
    if (read_header(img->fd, img->path, hdr) < 0)
        return -1;
    struct vmdk *v = xcalloc(1, sizeof *v);
    int rc;
    if (get_le(hdr, 4) == VMDK_MAGIC) {
        rc = open_monolithic(img, v, hdr);
    } else {
        uint64_t size;
        rc = image_file_size(img->fd, &size);
        if (rc == 0 && size > VMDK_DESC_MAX) {
            image_error("VMDK descriptor file of %llu bytes is too long", (unsigned long long)size);
            rc = -1;
        }
        char *text = rc == 0 ? xmalloc(size + 1) : NULL;
        if (rc == 0 && (rc = image_pread(img->fd, text, size, 0)) < 0)
            io_error("reading", img->path, 0, rc);
        if (rc == 0)
            rc = vmdk_desc_parse(text, size, &v->desc);
        free(text);
        if (rc == 0)
            rc = open_desc_extents(img, v);
    }
    if (rc == 0 && v->desc.parent_cid != VMDK_CID_NONE) {
        if (!v->desc.parent_hint) {
            image_error("VMDK child (parentCID %08x) names no parent file (parentFileNameHint)",
                        v->desc.parent_cid);
            rc = -1;
        } else {
            ref->path = xstrdup(v->desc.parent_hint);
        }
    }
    if (rc < 0) {
        vmdk_free(v);
        return -1;
    }
    img->priv = v;
    return 0;
}

static void vmdk_close(struct image *img)
{
    vmdk_free(img->priv);
    img->priv = NULL;
}

/* --- I/O dispatch ----------------------------------------------------------------------- */

/* The extent holding disk sector s (extents are sorted by start). */
static struct extent *extent_at(struct vmdk *v, uint64_t s)
{
    unsigned lo = 0, hi = v->n;
    while (hi - lo > 1) {
        unsigned mid = (lo + hi) / 2;
        if (v->ext[mid].start <= s)
            lo = mid;
        else
            hi = mid;
    }
    return &v->ext[lo];
}

static int vmdk_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    struct vmdk *v = img->priv;
    uint8_t *p = buf;
    while (len) {
        struct extent *e = extent_at(v, off / IMAGE_SECTOR);
        uint64_t base = e->start * IMAGE_SECTOR, rel = off - base;
        uint64_t left = e->sectors * IMAGE_SECTOR - rel;
        size_t n = left < len ? (size_t)left : len;
        int rc = 0;
        if (e->type == VMDK_EXT_ZERO) {
            memset(p, 0, n);
        } else if (e->fd < 0) {
            image_error("extent %s is NOACCESS", e->path);
            rc = -EACCES;
        } else if (e->type == VMDK_EXT_FLAT) {
            if ((rc = image_pread(e->fd, p, n, e->flat_off + rel)) < 0)
                io_error("read of", e->path, e->flat_off + rel, rc);
        } else {
            rc = vmdk_sparse_read(e->sp, img->parent, base, rel, p, n);
        }
        if (rc < 0)
            return rc;
        off += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* Section 3, "CID": a new content ID once the disk is changed, so children
 * made from the old content can tell. Only an 8-digit CID is rewritten in
 * place. */
static int renew_cid(struct image *img, struct vmdk *v)
{
    v->cid_done = true;
    if (!v->desc.cid_at)
        return 0;
    uint8_t r[16];
    image_new_uuid(r);
    uint32_t cid = (uint32_t)get_le(r, 4);
    if (cid >= 0xfffffffeu)
        cid = 0x10000000u;
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", cid);
    int rc = image_pwrite(img->fd, hex, 8, v->desc_at + v->desc.cid_at);
    if (rc < 0)
        return io_error("writing the CID of", img->path, v->desc_at + v->desc.cid_at, rc);
    v->desc.cid = cid;
    return 0;
}

static int vmdk_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    struct vmdk *v = img->priv;
    const uint8_t *p = buf;
    if (!v->cid_done) {
        int rc = renew_cid(img, v);
        if (rc < 0)
            return rc;
    }
    while (len) {
        struct extent *e = extent_at(v, off / IMAGE_SECTOR);
        uint64_t base = e->start * IMAGE_SECTOR, rel = off - base;
        uint64_t left = e->sectors * IMAGE_SECTOR - rel;
        size_t n = left < len ? (size_t)left : len;
        int rc;
        if (!e->writable) {
            image_error("write at %llu: extent %s is read-only", (unsigned long long)off, e->path);
            return -EROFS;
        }
        if (e->type == VMDK_EXT_FLAT) {
            if ((rc = image_pwrite(e->fd, p, n, e->flat_off + rel)) < 0)
                io_error("write to", e->path, e->flat_off + rel, rc);
        } else {
            rc = vmdk_sparse_write(e->sp, img->parent, base, rel, p, n);
        }
        if (rc < 0)
            return rc;
        off += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* One extent's run, or a grain's in a sparse one. Writes go to the file
 * as they are once the CID is new. */
static int vmdk_map(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *x)
{
    struct vmdk *v = img->priv;
    struct extent *e = extent_at(v, off / IMAGE_SECTOR);
    uint64_t rel = off - e->start * IMAGE_SECTOR;
    uint64_t left = e->sectors * IMAGE_SECTOR - rel;
    bool write = flags & IMAGE_MAP_WRITE;
    *x = (struct image_extent){.kind = IMAGE_EXT_FORMAT, .fd = e->fd, .len = left < len ? left : len};
    if (e->type == VMDK_EXT_ZERO && !write)
        x->kind = IMAGE_EXT_ZERO;
    if (e->type == VMDK_EXT_ZERO || e->fd < 0 || (write && (!v->cid_done || !e->writable)))
        return 0;                   /* vmdk_read/vmdk_write say why not */
    switch (e->type) {
    case VMDK_EXT_FLAT:
        x->kind = IMAGE_EXT_DATA;
        x->pos = e->flat_off + rel;
        return 0;
    default:
        return vmdk_sparse_map(e->sp, rel, x->len, flags, x);
    }
}

static int vmdk_flush(struct image *img)
{
    struct vmdk *v = img->priv;
    if (fdatasync(img->fd) < 0)
        return io_error("flushing", img->path, 0, -errno);
    for (unsigned i = 0; i < v->n; i++)
        if (v->ext[i].own_fd && v->ext[i].writable && fdatasync(v->ext[i].fd) < 0)
            return io_error("flushing", v->ext[i].path, 0, -errno);
    return 0;
}

static void vmdk_start_writeback(struct image *img)
{
    struct vmdk *v = img->priv;
    image_fd_start_writeback(img->fd);
    for (unsigned i = 0; i < v->n; i++)
        if (v->ext[i].own_fd && v->ext[i].writable)
            image_fd_start_writeback(v->ext[i].fd);
}

/* --- create ---------------------------------------------------------------------------------- */

static uint32_t new_cid(void)
{
    uint8_t r[16];
    image_new_uuid(r);
    uint32_t cid = (uint32_t)get_le(r, 4);
    return cid >= 0xfffffffeu ? 0x10000000u : cid;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A monolithicSparse disk (vmdk_sparse.c lays it out) with its
 * descriptor; a child names its parent and the parent's CID. */
static int create_sparse(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    if (o->size > VMDK_MAX_SPARSE_BYTES) {
        image_error("VMDK sparse disks hold at most 2 TiB");
        return -1;
    }
    uint64_t capacity = o->size / IMAGE_SECTOR;
    uint8_t uuid[16], puuid[16];
    image_new_uuid(uuid);
    struct vmdk_desc_new nd = {
        .create_type = "monolithicSparse", .extent_type = "SPARSE", .extent_file = base_name(path),
        .sectors = capacity, .cid = new_cid(), .parent_cid = VMDK_CID_NONE, .uuid = uuid,
    };
    char *hint = NULL;
    if (parent) {
        struct image_info pi;
        memset(&pi, 0, sizeof pi);
        if (parent->fmt->info)
            parent->fmt->info(parent, &pi);
        if (pi.has_uuid) {
            memcpy(puuid, pi.uuid, 16);
            nd.parent_uuid = puuid;
        }
        /* A VMDK parent's CID ties the child to its content. */
        nd.parent_cid = parent->fmt->open == vmdk_open ? ((struct vmdk *)parent->priv)->desc.cid : new_cid();
        hint = image_path_relative(path, o->parent);
        nd.parent_hint = hint;
    }
    char *text = vmdk_desc_format(&nd);
    free(hint);
    int rc = vmdk_sparse_create(fd, capacity, text);
    free(text);
    return rc;
}

/* A descriptor in path and the data in NAME-flat.vmdk beside it, every
 * byte allocated (Fixed). */
static int create_flat(int fd, const char *path, const struct image_create_opts *o)
{
    const char *base = base_name(path);
    size_t bl = strlen(base);
    if (bl > 5 && strcmp(base + bl - 5, ".vmdk") == 0)
        bl -= 5;
    char ext_name[NAME_MAX + 1];
    if (bl + sizeof "-flat.vmdk" > sizeof ext_name) {
        image_error("file name too long for a flat extent");
        return -1;
    }
    snprintf(ext_name, sizeof ext_name, "%.*s-flat.vmdk", (int)bl, base);
    size_t dl = (size_t)(base - path);
    char *ext_path = xmalloc(dl + strlen(ext_name) + 1);
    memcpy(ext_path, path, dl);
    strcpy(ext_path + dl, ext_name);
    int efd = open(ext_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (efd < 0) {
        image_error("extent %s: %s", ext_path, errno == EEXIST ? "file exists (it is never overwritten)" : strerror(errno));
        free(ext_path);
        return -1;
    }
    int rc = posix_fallocate(efd, 0, (off_t)o->size);
    if (rc == EOPNOTSUPP || rc == EINVAL)
        rc = ftruncate(efd, (off_t)o->size) < 0 ? errno : 0;
    if (rc == 0 && fdatasync(efd) < 0)
        rc = errno;
    close(efd);
    uint8_t uuid[16];
    image_new_uuid(uuid);
    struct vmdk_desc_new nd = {
        .create_type = "monolithicFlat", .extent_type = "FLAT", .extent_file = ext_name,
        .sectors = o->size / IMAGE_SECTOR, .cid = new_cid(), .parent_cid = VMDK_CID_NONE, .uuid = uuid,
    };
    char *text = vmdk_desc_format(&nd);
    if (rc == 0)
        rc = -image_pwrite(fd, text, strlen(text), 0);
    free(text);
    if (rc != 0) {
        image_error("creating %s: %s", ext_path, strerror(rc));
        unlink(ext_path);
    }
    free(ext_path);
    return rc ? -1 : 0;
}

static int vmdk_create(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    if (!parent && o->variant == IMAGE_VARIANT_FIXED)
        return create_flat(fd, path, o);
    return create_sparse(fd, path, o, parent);
}

/* --- info and check ---------------------------------------------------------------------------- */

static void vmdk_info(struct image *img, struct image_info *info)
{
    struct vmdk *v = img->priv;
    static const struct {
        const char *create_type, *variant;
    } names[] = {
        {"monolithicSparse", "sparse"}, {"monolithicFlat", "flat"}, {"streamOptimized", "stream-optimized"},
        {"twoGbMaxExtentSparse", "split sparse"}, {"twoGbMaxExtentFlat", "split flat"},
    };
    info->variant = v->stream ? "stream-optimized" : v->ext[0].type == VMDK_EXT_FLAT ? "flat" : "sparse";
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcmp(v->desc.create_type, names[i].create_type) == 0)
            info->variant = names[i].variant;
    info->has_uuid = v->desc.has_uuid;
    memcpy(info->uuid, v->desc.uuid, 16);
    info->has_parent_uuid = v->desc.has_parent_uuid;
    memcpy(info->parent_uuid, v->desc.parent_uuid, 16);
    /* Extents in files of their own take host space too. */
    for (unsigned i = 0; i < v->n; i++) {
        struct stat st;
        if (v->ext[i].own_fd && fstat(v->ext[i].fd, &st) == 0 && S_ISREG(st.st_mode))
            info->file_size += (uint64_t)st.st_blocks * 512u;
    }
}

static int vmdk_check(struct image *img, image_note_fn note, void *opaque)
{
    struct vmdk *v = img->priv;
    int n = 0;
    for (unsigned i = 0; i < v->n; i++) {
        struct extent *e = &v->ext[i];
        if (e->sp)
            vmdk_sparse_check(e->sp, note, opaque, &n);
        else if (e->type == VMDK_EXT_FLAT) {
            uint64_t fsize;
            if (image_file_size(e->fd, &fsize) == 0 && fsize < e->flat_off + e->sectors * IMAGE_SECTOR)
                vmdk_note(note, opaque, &n, "%s: flat extent is %llu bytes, the descriptor needs %llu", e->path,
                       (unsigned long long)fsize, (unsigned long long)(e->flat_off + e->sectors * IMAGE_SECTOR));
        }
    }
    return n;
}

static const image_format vmdk_format = {
    .name = "vmdk",
    .probe = vmdk_probe,
    .open = vmdk_open,
    .close = vmdk_close,
    .read = vmdk_read,
    .write = vmdk_write,
    .map = vmdk_map,
    .flush = vmdk_flush,
    .start_writeback = vmdk_start_writeback,
    .create = vmdk_create,
    .info = vmdk_info,
    .check = vmdk_check,
};
IMAGE_FORMAT_REGISTER(vmdk_format);
