/* Sparse extents of VMDK images (VMware Virtual Disk Format 1.1, section
 * 4): the header, the grain directory (GD) of sector offsets of grain
 * tables (GT), each of numGTEsPerGT sector offsets of grains; deflated
 * grains behind grain markers in stream-optimized extents (section 4.6).
 * A new grain goes at the end of the file; its data is written first, then
 * its GT entry (the redundant GT's too). GTs are cached in memory. All
 * numbers are little-endian. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/util.h"
#include "storage/format.h"
#include "storage/vmdk_sparse.h"

/* --- the header (section 4.1) ----------------------------------------------------- */

#define H_MAGIC 0
#define H_VERSION 4
#define H_FLAGS 8
#define H_CAPACITY 12
#define H_GRAIN 20
#define H_DESC_OFFSET 28
#define H_DESC_SIZE 36
#define H_GTES 44
#define H_RGD 48
#define H_GD 56
#define H_OVERHEAD 64
#define H_UNCLEAN 72
#define H_NEWLINE 73                  /* '\n', ' ', '\r', '\n' */
#define H_COMPRESS 77

#define FLAG_NEWLINE_TEST (1u << 0)   /* the four newline characters are valid */
#define FLAG_RGD (1u << 1)            /* a redundant grain directory is used */
#define FLAG_COMPRESSED (1u << 16)    /* grains are compressed */
#define FLAG_MARKERS (1u << 17)       /* metadata markers (stream-optimized) */
#define COMPRESS_DEFLATE 1u
#define VMDK_GD_AT_END UINT64_MAX     /* stream-optimized: the GD is named by the footer */
#define VMDK_FOOTER_FROM_END 1024u    /* footer header, then the end-of-stream marker */
#define GRAIN_MARKER_SIZE 12u         /* compressed grain: uint64 LBA, uint32 size, data */
#define GTE_ZERO 1u                   /* version 2+: a grain of zeros */

/* Sanity bounds on a header's numbers: everything kept in memory comes
 * from them. */
#define MAX_GRAIN_SECTORS 16384u      /* 8 MiB */
#define MAX_GTES 8192u
#define MAX_GD_BYTES (16u << 20)
#define MAX_CAPACITY (1ull << 42)     /* sectors: 2 PiB */
#define GT_CACHE 64u

struct gt_slot {
    uint32_t gdi;             /* UINT32_MAX: empty */
    uint32_t *gt;             /* host order */
};

struct vmdk_sparse {
    int fd;
    const char *path;                  /* the extent's, for messages */
    uint32_t version, flags;
    uint64_t capacity, grain;          /* sectors */
    uint32_t gtes;
    uint64_t overhead;                 /* sectors of metadata at the start */
    uint32_t gd_entries;
    uint32_t *gd, *rgd;                /* host order; rgd NULL when none */
    uint64_t gd_sector, rgd_sector;
    uint64_t next_free;                /* bytes: where the next grain goes */
    uint64_t file_end;                 /* bytes */
    struct gt_slot cache[GT_CACHE];
    unsigned cache_next;
    /* stream-optimized: the last grain inflated */
    uint8_t *zgrain, *zbuf;
    size_t zbuf_size;
    uint64_t zgrain_at;                /* its marker's sector, 0: none */
};


static int io_error(const char *what, const char *path, uint64_t off, int rc)
{
    image_error("%s %s at %llu: %s", what, path, (unsigned long long)off, strerror(-rc));
    return rc;
}

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

void vmdk_sparse_free(struct vmdk_sparse *sp)
{
    if (!sp)
        return;
    free(sp->gd);
    free(sp->rgd);
    for (unsigned i = 0; i < GT_CACHE; i++)
        free(sp->cache[i].gt);
    free(sp->zgrain);
    free(sp->zbuf);
    free(sp);
}

/* --- sparse extents: header and grain directory ------------------------------------------ */

static int read_gd(int fd, const char *path, uint64_t sector, uint32_t n, uint64_t file_size, uint32_t **out)
{
    uint64_t bytes = 4ull * n;
    if (sector > file_size / IMAGE_SECTOR || file_size - sector * IMAGE_SECTOR < bytes) {
        image_error("%s: VMDK grain directory at sector %llu does not fit in the file", path,
                    (unsigned long long)sector);
        return -1;
    }
    uint32_t *gd = xmalloc(bytes ? bytes : 4);
    int rc = image_pread(fd, gd, bytes, sector * IMAGE_SECTOR);
    if (rc < 0) {
        free(gd);
        io_error("reading the grain directory of", path, sector * IMAGE_SECTOR, rc);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        gd[i] = (uint32_t)get_le((uint8_t *)&gd[i], 4);
    *out = gd;
    return 0;
}

/* Validates a sparse extent header and loads its grain directory. hdr is
 * the header at 0; for stream-optimized files the footer's header is used
 * for the GD. */
struct vmdk_sparse *vmdk_sparse_open(int fd, const char *path, const uint8_t *hdr, bool writable)
{
    uint64_t file_size;
    int rc = image_file_size(fd, &file_size);
    if (rc < 0) {
        image_error("%s: %s", path, strerror(-rc));
        return NULL;
    }
    if (get_le(hdr + H_MAGIC, 4) != VMDK_MAGIC) {
        image_error("%s: not a VMDK sparse extent (no \"KDMV\" magic)", path);
        return NULL;
    }
    uint8_t footer[VMDK_HEADER_SIZE];
    struct vmdk_sparse *sp = xcalloc(1, sizeof *sp);
    sp->fd = fd;
    sp->path = path;
    for (unsigned i = 0; i < GT_CACHE; i++)
        sp->cache[i].gdi = UINT32_MAX;
    sp->version = (uint32_t)get_le(hdr + H_VERSION, 4);
    sp->flags = (uint32_t)get_le(hdr + H_FLAGS, 4);
    if (sp->version < 1 || sp->version > 3) {
        image_error("%s: VMDK sparse extent version %u is not 1, 2 or 3", path, sp->version);
        goto fail;
    }
    if ((sp->flags & FLAG_NEWLINE_TEST) && memcmp(hdr + H_NEWLINE, "\n \r\n", 4) != 0) {
        image_error("%s: VMDK header's newline characters are altered (copied in text mode?)", path);
        goto fail;
    }
    if (get_le(hdr + H_GD, 8) == VMDK_GD_AT_END) {
        /* Stream-optimized: the real header is the footer, 1024 bytes
         * before the end (then only the end-of-stream marker). */
        if (file_size < VMDK_HEADER_SIZE + VMDK_FOOTER_FROM_END ||
            image_pread(fd, footer, VMDK_HEADER_SIZE, file_size - VMDK_FOOTER_FROM_END) < 0 ||
            get_le(footer + H_MAGIC, 4) != VMDK_MAGIC || get_le(footer + H_GD, 8) == VMDK_GD_AT_END) {
            image_error("%s: stream-optimized VMDK without a valid footer (truncated?)", path);
            goto fail;
        }
        hdr = footer;
    }
    sp->capacity = get_le(hdr + H_CAPACITY, 8);
    sp->grain = get_le(hdr + H_GRAIN, 8);
    sp->gtes = (uint32_t)get_le(hdr + H_GTES, 4);
    sp->overhead = get_le(hdr + H_OVERHEAD, 8);
    if (sp->flags & FLAG_COMPRESSED) {
        unsigned alg = (unsigned)get_le(hdr + H_COMPRESS, 2);
        if (alg != COMPRESS_DEFLATE) {
            image_error("%s: VMDK compression algorithm %u is not deflate (1)", path, alg);
            goto fail;
        }
        if (writable) {
            image_error("%s: compressed (stream-optimized) VMDK images are read-only: open them read-only", path);
            goto fail;
        }
    }
    if (!is_pow2(sp->grain) || sp->grain > MAX_GRAIN_SECTORS || sp->gtes == 0 || sp->gtes > MAX_GTES ||
        sp->capacity == 0 || sp->capacity > MAX_CAPACITY) {
        image_error("%s: VMDK header out of range (grain %llu sectors, %u GT entries, capacity %llu sectors)", path,
                    (unsigned long long)sp->grain, sp->gtes, (unsigned long long)sp->capacity);
        goto fail;
    }
    uint64_t per_gt = sp->grain * sp->gtes;
    uint64_t gd_entries = (sp->capacity + per_gt - 1) / per_gt;
    if (gd_entries * 4 > MAX_GD_BYTES) {
        image_error("%s: VMDK grain directory of %llu entries is too large", path, (unsigned long long)gd_entries);
        goto fail;
    }
    sp->gd_entries = (uint32_t)gd_entries;
    sp->gd_sector = get_le(hdr + H_GD, 8);
    sp->rgd_sector = get_le(hdr + H_RGD, 8);
    if (read_gd(fd, path, sp->gd_sector, sp->gd_entries, file_size, &sp->gd) < 0)
        goto fail;
    if ((sp->flags & FLAG_RGD) && !(sp->flags & FLAG_COMPRESSED) &&
        read_gd(fd, path, sp->rgd_sector, sp->gd_entries, file_size, &sp->rgd) < 0)
        goto fail;
    /* New grains go past the end of the file and of the metadata. */
    if (writable && sp->overhead > file_size / IMAGE_SECTOR) {
        image_error("%s: VMDK metadata (%llu sectors) reaches past the end of the file (truncated?)", path,
                    (unsigned long long)sp->overhead);
        goto fail;
    }
    sp->file_end = file_size;
    sp->next_free = align_up(file_size, IMAGE_SECTOR);
    /* ... and past every GT, even one a damaged file names past its end. */
    for (uint32_t i = 0; i < sp->gd_entries; i++) {
        uint64_t a = (uint64_t)sp->gd[i] * IMAGE_SECTOR + 4ull * sp->gtes;
        uint64_t b = sp->rgd ? (uint64_t)sp->rgd[i] * IMAGE_SECTOR + 4ull * sp->gtes : 0;
        a = align_up(a > b ? a : b, IMAGE_SECTOR);
        sp->next_free = a > sp->next_free ? a : sp->next_free;
    }
    return sp;
fail:
    vmdk_sparse_free(sp);
    return NULL;
}

/* The GT of GD entry gdi, from the cache or the file; NULL when the GD
 * entry is empty (or out of range). */
static int load_gt(struct vmdk_sparse *sp, uint32_t gdi, uint32_t **out)
{
    *out = NULL;
    if (gdi >= sp->gd_entries || sp->gd[gdi] == 0)
        return 0;
    for (unsigned i = 0; i < GT_CACHE; i++)
        if (sp->cache[i].gdi == gdi) {
            *out = sp->cache[i].gt;
            return 0;
        }
    struct gt_slot *s = &sp->cache[sp->cache_next];
    sp->cache_next = (sp->cache_next + 1) % GT_CACHE;
    if (!s->gt)
        s->gt = xmalloc(4ull * sp->gtes);
    s->gdi = UINT32_MAX;
    uint64_t at = (uint64_t)sp->gd[gdi] * IMAGE_SECTOR;
    int rc = image_pread(sp->fd, s->gt, 4ull * sp->gtes, at);
    if (rc < 0)
        return io_error("reading a grain table of", sp->path, at, rc);
    for (uint32_t i = 0; i < sp->gtes; i++)
        s->gt[i] = (uint32_t)get_le((uint8_t *)&s->gt[i], 4);
    s->gdi = gdi;
    *out = s->gt;
    return 0;
}

/* The GT entry of grain g of the extent (0: not allocated). */
static int grain_entry(struct vmdk_sparse *sp, uint64_t g, uint32_t *entry)
{
    uint32_t *gt;
    int rc = load_gt(sp, (uint32_t)(g / sp->gtes), &gt);
    *entry = gt ? gt[g % sp->gtes] : 0;
    return rc;
}

/* Inflates the compressed grain whose marker is at sector at into
 * sp->zgrain. Section 4.5: a grain marker (LBA, size) then zlib data. */
static int inflate_grain(struct vmdk_sparse *sp, uint32_t at)
{
    size_t grain_bytes = (size_t)sp->grain * IMAGE_SECTOR;
    if (sp->zgrain_at == at)
        return 0;
    if (!sp->zgrain) {
        sp->zgrain = xmalloc(grain_bytes);
        /* deflate's worst case is a little over the input */
        sp->zbuf_size = GRAIN_MARKER_SIZE + grain_bytes + grain_bytes / 16 + 1024;
        sp->zbuf = xmalloc(sp->zbuf_size);
    }
    sp->zgrain_at = 0;
    uint64_t pos = (uint64_t)at * IMAGE_SECTOR;
    int rc = image_pread(sp->fd, sp->zbuf, GRAIN_MARKER_SIZE, pos);
    if (rc < 0)
        return io_error("reading a compressed grain of", sp->path, pos, rc);
    uint32_t size = (uint32_t)get_le(sp->zbuf + 8, 4);
    if (size == 0 || size > sp->zbuf_size - GRAIN_MARKER_SIZE) {
        image_error("%s: compressed grain at %llu has size %u (corrupt)", sp->path, (unsigned long long)pos, size);
        return -EIO;
    }
    rc = image_pread(sp->fd, sp->zbuf + GRAIN_MARKER_SIZE, size, pos + GRAIN_MARKER_SIZE);
    if (rc < 0)
        return io_error("reading a compressed grain of", sp->path, pos, rc);
    uLongf out = grain_bytes;
    int zrc = uncompress(sp->zgrain, &out, sp->zbuf + GRAIN_MARKER_SIZE, size);
    if (zrc != Z_OK) {
        image_error("%s: compressed grain at %llu does not inflate (%s)", sp->path, (unsigned long long)pos,
                    zError(zrc));
        return -EIO;
    }
    memset(sp->zgrain + out, 0, grain_bytes - out);
    sp->zgrain_at = at;
    return 0;
}

/* Reads n bytes at byte rel of a sparse extent whose first byte is the
 * disk's byte base. */
int vmdk_sparse_read(struct vmdk_sparse *sp, struct image *parent, uint64_t base, uint64_t rel, uint8_t *p, size_t n)
{
    uint64_t grain_bytes = sp->grain * IMAGE_SECTOR;
    while (n) {
        uint64_t g = rel / grain_bytes, in = rel % grain_bytes;
        size_t k = grain_bytes - in < n ? (size_t)(grain_bytes - in) : n;
        uint32_t entry;
        int rc = grain_entry(sp, g, &entry);
        if (rc < 0)
            return rc;
        if (entry == 0) {
            rc = image_read_chain(parent, base + rel, p, k);
        } else if (entry == GTE_ZERO && sp->version >= 2) {
            memset(p, 0, k);
        } else if (sp->flags & FLAG_COMPRESSED) {
            if ((rc = inflate_grain(sp, entry)) == 0)
                memcpy(p, sp->zgrain + in, k);
        } else if ((rc = image_pread(sp->fd, p, k, (uint64_t)entry * IMAGE_SECTOR + in)) < 0) {
            io_error("read of", sp->path, (uint64_t)entry * IMAGE_SECTOR + in, rc);
        }
        if (rc < 0)
            return rc;
        rel += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* --- sparse writes --------------------------------------------------------------------------- */

static int put_le32_at(struct vmdk_sparse *sp, uint64_t at, uint32_t v, const char *what)
{
    uint8_t b[4];
    put_le(b, v, 4);
    int rc = image_pwrite(sp->fd, b, 4, at);
    return rc < 0 ? io_error(what, sp->path, at, rc) : 0;
}

/* Makes room for bytes at the end of the file: the hole reads as zeros. */
static int grow_file(struct vmdk_sparse *sp, uint64_t end)
{
    if (end <= sp->file_end)
        return 0;
    if (ftruncate(sp->fd, (off_t)end) < 0)
        return io_error("growing", sp->path, end, -errno);
    sp->file_end = end;
    return 0;
}

/* A new GT for GD entry gdi (and its redundant twin) at the end of the
 * file, holding entry for grain slot; then the GD entries. */
static int new_gt(struct vmdk_sparse *sp, uint32_t gdi, uint32_t slot, uint32_t entry)
{
    uint64_t gt_bytes = align_up(4ull * sp->gtes, IMAGE_SECTOR);
    uint32_t *dirs[2] = {sp->gd, sp->rgd};
    uint64_t gd_at[2];
    for (int i = 0; i < 2; i++) {
        if (!dirs[i])
            continue;
        uint64_t at = sp->next_free;
        if (at / IMAGE_SECTOR > UINT32_MAX)
            return -ENOSPC;
        int rc = grow_file(sp, at + gt_bytes);
        if (rc == 0)
            rc = put_le32_at(sp, at + 4ull * slot, entry, "writing a grain table of");
        if (rc < 0)
            return rc;
        sp->next_free += gt_bytes;
        gd_at[i] = at / IMAGE_SECTOR;
    }
    for (int i = 0; i < 2; i++)
        if (dirs[i])
            dirs[i][gdi] = (uint32_t)gd_at[i];
    return 0;
}

int vmdk_sparse_write(struct vmdk_sparse *sp, struct image *parent, uint64_t base, uint64_t rel, const uint8_t *p,
                      size_t n)
{
    uint64_t grain_bytes = sp->grain * IMAGE_SECTOR;
    uint8_t *tmp = NULL;
    int rc = 0;
    while (n && rc == 0) {
        uint64_t g = rel / grain_bytes, in = rel % grain_bytes;
        size_t k = grain_bytes - in < n ? (size_t)(grain_bytes - in) : n;
        uint32_t gdi = (uint32_t)(g / sp->gtes), slot = (uint32_t)(g % sp->gtes);
        uint32_t *gt;
        if ((rc = load_gt(sp, gdi, &gt)) < 0)
            break;
        uint32_t entry = gt ? gt[slot] : 0;
        if (entry > GTE_ZERO || (entry == GTE_ZERO && sp->version < 2)) {
            if ((uint64_t)entry < sp->overhead || (uint64_t)entry * IMAGE_SECTOR >= sp->file_end) {
                image_error("%s: grain table entry %u points into the metadata or past the end of the file: "
                            "not writing there", sp->path, entry);
                rc = -EIO;
                break;
            }
            if ((rc = image_pwrite(sp->fd, p, k, (uint64_t)entry * IMAGE_SECTOR + in)) < 0)
                io_error("write to", sp->path, (uint64_t)entry * IMAGE_SECTOR + in, rc);
        } else {
            /* A new grain at the end: the data (with the parent's bytes
             * around a partial write), then the GT entry. */
            uint64_t at = sp->next_free;
            if (at / IMAGE_SECTOR > UINT32_MAX - 1) {
                image_error("%s: sparse extent full (2 TiB of grains)", sp->path);
                rc = -ENOSPC;
                break;
            }
            if (k < grain_bytes && entry == 0 && parent) {
                if (!tmp)
                    tmp = xmalloc(grain_bytes);
                uint64_t gstart = base + g * grain_bytes;
                uint64_t glen = grain_bytes;
                if (g * grain_bytes + glen > sp->capacity * IMAGE_SECTOR)
                    glen = sp->capacity * IMAGE_SECTOR - g * grain_bytes;
                memset(tmp, 0, grain_bytes);
                if ((rc = image_read_chain(parent, gstart, tmp, glen)) < 0)
                    break;
                memcpy(tmp + in, p, k);
                rc = image_pwrite(sp->fd, tmp, grain_bytes, at);
            } else {
                rc = grow_file(sp, at + grain_bytes);
                if (rc == 0)
                    rc = image_pwrite(sp->fd, p, k, at + in);
            }
            if (rc < 0) {
                io_error("write to", sp->path, at, rc);
                break;
            }
            sp->next_free = at + grain_bytes;
            if (sp->file_end < sp->next_free)
                sp->file_end = sp->next_free;
            uint32_t ge = (uint32_t)(at / IMAGE_SECTOR);
            if (!gt) {
                if ((rc = new_gt(sp, gdi, slot, ge)) < 0)
                    break;
                if ((rc = put_le32_at(sp, sp->gd_sector * IMAGE_SECTOR + 4ull * gdi, sp->gd[gdi], "writing the GD of")) < 0)
                    break;
                if (sp->rgd &&
                    (rc = put_le32_at(sp, sp->rgd_sector * IMAGE_SECTOR + 4ull * gdi, sp->rgd[gdi], "writing the GD of")) < 0)
                    break;
            } else {
                rc = put_le32_at(sp, (uint64_t)sp->gd[gdi] * IMAGE_SECTOR + 4ull * slot, ge, "writing a GT of");
                if (rc == 0 && sp->rgd && gdi < sp->gd_entries && sp->rgd[gdi])
                    rc = put_le32_at(sp, (uint64_t)sp->rgd[gdi] * IMAGE_SECTOR + 4ull * slot, ge, "writing a GT of");
                if (rc < 0)
                    break;
                gt[slot] = ge;
            }
        }
        rel += k;
        p += k;
        n -= k;
    }
    free(tmp);
    return rc;
}

/* One grain's run at byte rel of the extent (format.h's map()): a write
 * goes to the file as it is only into an allocated grain it may write. */
int vmdk_sparse_map(struct vmdk_sparse *sp, uint64_t rel, uint64_t len, unsigned flags, struct image_extent *x)
{
    uint64_t grain_bytes = sp->grain * IMAGE_SECTOR, g = rel / grain_bytes, in = rel % grain_bytes;
    bool write = flags & IMAGE_MAP_WRITE;
    *x = (struct image_extent){.kind = IMAGE_EXT_FORMAT, .fd = sp->fd, .len = grain_bytes - in < len ? grain_bytes - in : len};
    uint32_t gdi = (uint32_t)(g / sp->gtes);
    if ((flags & IMAGE_MAP_NOWAIT) && gdi < sp->gd_entries && sp->gd[gdi]) {
        bool cached = false;
        for (unsigned i = 0; i < GT_CACHE; i++)
            cached |= sp->cache[i].gdi == gdi;
        if (!cached)
            return -EAGAIN;
    }
    uint32_t entry;
    if (grain_entry(sp, g, &entry) < 0)
        return -EIO;
    if (entry == 0) {
        if (!write)
            x->kind = IMAGE_EXT_PARENT;
    } else if (entry == GTE_ZERO && sp->version >= 2) {
        if (!write)
            x->kind = IMAGE_EXT_ZERO;
    } else if (!(sp->flags & FLAG_COMPRESSED) &&
               (!write || (entry >= sp->overhead && (uint64_t)entry * IMAGE_SECTOR < sp->file_end))) {
        x->kind = IMAGE_EXT_DATA;
        x->pos = (uint64_t)entry * IMAGE_SECTOR + in;
    }
    return 0;
}

#define MAX_NOTES 100

void vmdk_note(image_note_fn note, void *opaque, int *n, const char *fmt, ...)
{
    char line[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* A hostile image can have millions of problems: the first ones
     * tell enough. */
    if (note && *n < MAX_NOTES)
        note(opaque, line);
    else if (note && *n == MAX_NOTES)
        note(opaque, "(further problems not listed)");
    (*n)++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* One sparse extent: GTs and grains inside the file and past the metadata,
 * no grain used twice, the redundant GTs equal to the primary ones. */
void vmdk_sparse_check(struct vmdk_sparse *sp, image_note_fn note, void *opaque, int *n)
{
    uint64_t fsize;
    if (image_file_size(sp->fd, &fsize) < 0)
        fsize = sp->file_end;
    uint64_t grain_bytes = sp->grain * IMAGE_SECTOR;
    bool compressed = (sp->flags & FLAG_COMPRESSED) != 0;
    size_t used = 0, cap = 0;
    uint32_t *all = NULL;
    bool overflow = false;
    uint32_t *red = xmalloc(4ull * sp->gtes);
    for (uint32_t d = 0; d < sp->gd_entries; d++) {
        if (sp->gd[d] == 0)
            continue;
        if ((uint64_t)sp->gd[d] * IMAGE_SECTOR + 4ull * sp->gtes > fsize) {
            vmdk_note(note, opaque, n, "%s: grain table %u at sector %u is past the end of the file", sp->path, d,
                   sp->gd[d]);
            continue;
        }
        uint32_t *gt;
        if (load_gt(sp, d, &gt) < 0 || !gt) {
            vmdk_note(note, opaque, n, "%s: grain table %u cannot be read", sp->path, d);
            continue;
        }
        if (sp->rgd && sp->rgd[d] &&
            image_pread(sp->fd, red, 4ull * sp->gtes, (uint64_t)sp->rgd[d] * IMAGE_SECTOR) == 0) {
            for (uint32_t i = 0; i < sp->gtes; i++)
                if ((uint32_t)get_le((uint8_t *)&red[i], 4) != gt[i]) {
                    vmdk_note(note, opaque, n, "%s: redundant grain table %u differs from the primary at entry %u",
                           sp->path, d, i);
                    break;
                }
        }
        for (uint32_t i = 0; i < sp->gtes; i++) {
            uint32_t g = gt[i];
            if (g == 0 || (g == GTE_ZERO && sp->version >= 2))
                continue;
            uint64_t at = (uint64_t)g * IMAGE_SECTOR;
            if (g < sp->overhead)
                vmdk_note(note, opaque, n, "%s: grain %llu at sector %u lies in the metadata", sp->path,
                       (unsigned long long)d * sp->gtes + i, g);
            else if (at + (compressed ? GRAIN_MARKER_SIZE : grain_bytes) > fsize)
                vmdk_note(note, opaque, n, "%s: grain %llu at sector %u is past the end of the file", sp->path,
                       (unsigned long long)d * sp->gtes + i, g);
            if (overflow)
                continue;
            if (used > fsize / (compressed ? IMAGE_SECTOR : grain_bytes)) {
                /* more grains than the file can hold: some overlap, and
                 * collecting more would only cost memory */
                vmdk_note(note, opaque, n, "%s: more grains allocated than the file holds", sp->path);
                overflow = true;
                continue;
            }
            if (used == cap) {
                cap = cap ? cap * 2 : 1024;
                uint32_t *na = xmalloc(cap * 4);
                if (used)
                    memcpy(na, all, used * 4);
                free(all);
                all = na;
            }
            all[used++] = g;
        }
    }
    free(red);
    if (all) {
        qsort(all, used, 4, cmp_u32);
        for (size_t i = 1; i < used; i++)
            if (!compressed && (uint64_t)(all[i] - all[i - 1]) * IMAGE_SECTOR < grain_bytes)
                vmdk_note(note, opaque, n, "%s: grains at sectors %u and %u overlap", sp->path, all[i - 1], all[i]);
    }
    free(all);
}



/* --- create ----------------------------------------------------------------------------- */

/* Layout as VMware writes it: header, descriptor, redundant GD and its
 * GTs, GD and its GTs, all GTs preallocated (holes until written), data
 * from the first grain boundary after them. */
int vmdk_sparse_create(int fd, uint64_t capacity, const char *desc)
{
    size_t dlen = strlen(desc);
    if (dlen > VMDK_NEW_DESC_SECTORS * IMAGE_SECTOR) {
        image_error("VMDK descriptor too long for its %u sectors (parent path too long?)", VMDK_NEW_DESC_SECTORS);
        return -1;
    }
    uint64_t per_gt = (uint64_t)VMDK_NEW_GRAIN_SECTORS * VMDK_NEW_GTES;
    uint64_t gd_entries = (capacity + per_gt - 1) / per_gt;
    uint64_t gd_sectors = align_up(gd_entries * 4, IMAGE_SECTOR) / IMAGE_SECTOR;
    uint64_t gt_sectors = VMDK_NEW_GTES * 4 / IMAGE_SECTOR;
    uint64_t rgd = 1 + VMDK_NEW_DESC_SECTORS, rgts = rgd + gd_sectors;
    uint64_t gd = rgts + gd_entries * gt_sectors, gts = gd + gd_sectors;
    uint64_t overhead = align_up(gts + gd_entries * gt_sectors, VMDK_NEW_GRAIN_SECTORS);

    uint8_t h[VMDK_HEADER_SIZE] = {0};
    put_le(h + H_MAGIC, VMDK_MAGIC, 4);
    put_le(h + H_VERSION, 1, 4);
    put_le(h + H_FLAGS, FLAG_NEWLINE_TEST | FLAG_RGD, 4);
    put_le(h + H_CAPACITY, capacity, 8);
    put_le(h + H_GRAIN, VMDK_NEW_GRAIN_SECTORS, 8);
    put_le(h + H_DESC_OFFSET, 1, 8);
    put_le(h + H_DESC_SIZE, VMDK_NEW_DESC_SECTORS, 8);
    put_le(h + H_GTES, VMDK_NEW_GTES, 4);
    put_le(h + H_RGD, rgd, 8);
    put_le(h + H_GD, gd, 8);
    put_le(h + H_OVERHEAD, overhead, 8);
    memcpy(h + H_NEWLINE, "\n \r\n", 4);

    uint8_t *dirs = xcalloc(gd_sectors, IMAGE_SECTOR);
    int rc = image_pwrite(fd, h, sizeof h, 0);
    if (rc == 0)
        rc = image_pwrite(fd, desc, dlen, IMAGE_SECTOR);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        uint64_t first_gt = pass ? gts : rgts;
        for (uint64_t i = 0; i < gd_entries; i++)
            put_le(dirs + 4 * i, first_gt + i * gt_sectors, 4);
        rc = image_pwrite(fd, dirs, gd_sectors * IMAGE_SECTOR, (pass ? gd : rgd) * IMAGE_SECTOR);
    }
    if (rc == 0 && ftruncate(fd, (off_t)(overhead * IMAGE_SECTOR)) < 0)
        rc = -errno;
    free(dirs);
    if (rc < 0) {
        image_error("writing the VMDK: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

uint64_t vmdk_sparse_capacity(const struct vmdk_sparse *sp)
{
    return sp->capacity;
}

bool vmdk_sparse_compressed(const struct vmdk_sparse *sp)
{
    return (sp->flags & FLAG_COMPRESSED) != 0;
}
