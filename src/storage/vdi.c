/* VirtualBox Disk Images (VDI), header version 1.1, as VirtualBox writes
 * them (facts from VirtualBox's VDICore.h): a 72-byte pre-header (text,
 * signature, version), the header, the block map (one 32-bit little-endian
 * entry per block: the index of the block's data in the data area, or a
 * marker), and the data area of 1 MiB blocks. Fixed images hold every
 * block; dynamic ones allocate blocks on first write at the end of the
 * file; differencing ones read blocks they do not hold from the parent,
 * found by UUID.
 *
 * Crash safety: a new block's data is written before its map entry, and the
 * map entry before the allocated-block count in the header. The count is
 * recomputed from the map (the truth) on the next writable open. */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/format.h"

/* Pre-header (VDIPREHEADER): text for eyes only, signature, version. */
#define VDI_TEXT "<<< Oracle VM VirtualBox Disk Image >>>\n"
#define VDI_OFF_SIGNATURE 0x40
#define VDI_SIGNATURE 0xBEDA107Fu
#define VDI_OFF_VERSION 0x44
#define VDI_VERSION_1_1 0x00010001u   /* major << 16 | minor */
/* Header 1.1 (VDIHEADER1PLUS), offsets from the start of the file. */
#define VDI_OFF_HEADER_SIZE 0x48
#define VDI_OFF_TYPE 0x4C
#define VDI_OFF_FLAGS 0x50
#define VDI_OFF_COMMENT 0x54          /* 256 bytes */
#define VDI_OFF_BLOCKS_OFFSET 0x154
#define VDI_OFF_DATA_OFFSET 0x158
#define VDI_OFF_LEGACY_GEOMETRY 0x15C /* cylinders, heads, sectors, sector size */
#define VDI_OFF_DISK_SIZE 0x170
#define VDI_OFF_BLOCK_SIZE 0x178
#define VDI_OFF_BLOCK_EXTRA 0x17C
#define VDI_OFF_BLOCK_COUNT 0x180
#define VDI_OFF_BLOCKS_ALLOCATED 0x184
#define VDI_OFF_UUID_CREATE 0x188
#define VDI_OFF_UUID_MODIFY 0x198
#define VDI_OFF_UUID_LINKAGE 0x1A8    /* a differencing image's parent */
#define VDI_OFF_UUID_PARENT_MODIFY 0x1B8
#define VDI_OFF_LCHS_GEOMETRY 0x1C8
#define VDI_HEADER1_SIZE 0x180        /* VDIHEADER1: without the LCHS geometry */
#define VDI_HEADER1PLUS_SIZE 0x190    /* what VirtualBox writes */
#define VDI_HEADER_END (VDI_OFF_HEADER_SIZE + VDI_HEADER1PLUS_SIZE)
#define VDI_GEOMETRY_SECTOR_SIZE 512u
/* Image types (VDIIMAGETYPE). */
#define VDI_TYPE_NORMAL 1             /* dynamic */
#define VDI_TYPE_FIXED 2
#define VDI_TYPE_UNDO 3
#define VDI_TYPE_DIFF 4
/* Map entry markers: FREE reads from the parent (zeros without one), ZERO
 * reads zeros; entries below ZERO are allocated. */
#define VDI_BLOCK_FREE 0xFFFFFFFFu
#define VDI_BLOCK_ZERO 0xFFFFFFFEu
/* VDI_DATA_ALIGN: VirtualBox aligns the map and the data area to 1 MiB. */
#define VDI_DATA_ALIGN (1u << 20)
#define VDI_DEFAULT_BLOCK_SIZE (1u << 20)
/* Our limits on hostile headers (VirtualBox uses 1 MiB blocks). */
#define VDI_MAX_BLOCK_SIZE (64u << 20)
#define VDI_MAX_BLOCK_EXTRA (64u << 20)

struct vdi {
    uint8_t hdr[VDI_HEADER_END];      /* as in the file, rewritten by fields */
    uint32_t type;
    uint32_t off_blocks, off_data;
    uint32_t block_size, block_extra;
    uint32_t nblocks;
    uint32_t nalloc;                  /* the header's allocated-block count */
    uint32_t counted;                 /* allocated entries in the map */
    uint32_t next;                    /* data index of the next new block */
    uint32_t *map;
    uint32_t bad_entries, dup_entries;
    uint64_t file_size;
    bool modified;                    /* a new modification UUID was written */
    uint8_t *scratch;                 /* one block, for partial first writes */
};

static bool allocated(uint32_t e) { return e < VDI_BLOCK_ZERO; }

/* VDI stores UUIDs as little-endian GUIDs (RTUUID); image.h speaks RFC 4122
 * byte order: the first three fields swap (the swap is its own inverse). */
static void uuid_swap(uint8_t out[16], const uint8_t in[16])
{
    static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        out[i] = in[order[i]];
}

static bool uuid_null(const uint8_t u[16])
{
    for (int i = 0; i < 16; i++)
        if (u[i])
            return false;
    return true;
}

static uint64_t block_pos(const struct vdi *v, uint32_t idx)
{
    return v->off_data + (uint64_t)idx * ((uint64_t)v->block_size + v->block_extra) + v->block_extra;
}

static int vdi_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
    (void)file_size;
    if (len < VDI_OFF_VERSION + 4)
        return 0;
    return get_le(head + VDI_OFF_SIGNATURE, 4) == VDI_SIGNATURE ? 100 : 0;
}

/* --- header fields -------------------------------------------------------- */

static int write_field(struct image *img, unsigned off, uint64_t val, unsigned n)
{
    struct vdi *v = img->priv;
    put_le(v->hdr + off, val, n);
    int rc = image_pwrite(img->fd, v->hdr + off, n, off);
    if (rc < 0)
        image_error("writing the header: %s", strerror(-rc));
    return rc;
}

static int write_map_entry(struct image *img, uint32_t bi)
{
    struct vdi *v = img->priv;
    uint8_t e[4];
    put_le(e, v->map[bi], 4);
    int rc = image_pwrite(img->fd, e, 4, v->off_blocks + 4ull * bi);
    if (rc < 0)
        image_error("writing the block map: %s", strerror(-rc));
    return rc;
}

/* VirtualBox gives an image a new modification UUID when it is first
 * changed after being opened. */
static int mark_modified(struct image *img)
{
    struct vdi *v = img->priv;
    if (v->modified)
        return 0;
    uint8_t u[16], f[16];
    image_new_uuid(u);
    uuid_swap(f, u);
    memcpy(v->hdr + VDI_OFF_UUID_MODIFY, f, 16);
    int rc = image_pwrite(img->fd, f, 16, VDI_OFF_UUID_MODIFY);
    if (rc < 0) {
        image_error("writing the header: %s", strerror(-rc));
        return rc;
    }
    v->modified = true;
    return 0;
}

/* --- open ------------------------------------------------------------------ */

/* Counts allocated entries and finds bad and duplicated ones. */
static void scan_map(struct vdi *v)
{
    uint8_t *seen = xcalloc(1, v->nblocks / 8 + 1);
    uint32_t max_plus1 = 0;
    v->counted = v->bad_entries = v->dup_entries = 0;
    for (uint32_t i = 0; i < v->nblocks; i++) {
        uint32_t e = v->map[i];
        if (!allocated(e))
            continue;
        if (e >= v->nblocks) {
            v->bad_entries++;
            continue;
        }
        v->counted++;
        if (seen[e / 8] & (1u << (e % 8)))
            v->dup_entries++;
        seen[e / 8] |= (uint8_t)(1u << (e % 8));
        if (e + 1 > max_plus1)
            max_plus1 = e + 1;
    }
    free(seen);
    /* Past every block in use, and past what the header counts (a block a
     * crash left unreferenced is reused). */
    v->next = max_plus1 > v->counted ? max_plus1 : v->counted;
}

static void vdi_free(struct vdi *v)
{
    if (!v)
        return;
    free(v->map);
    free(v->scratch);
    free(v);
}

static int parse_header(struct vdi *v, uint64_t file_size)
{
    const uint8_t *h = v->hdr;
    if (file_size < VDI_OFF_HEADER_SIZE + VDI_HEADER1_SIZE) {
        image_error("truncated VDI header (%llu bytes)", (unsigned long long)file_size);
        return -1;
    }
    if (get_le(h + VDI_OFF_SIGNATURE, 4) != VDI_SIGNATURE) {
        image_error("not a VDI image (bad signature)");
        return -1;
    }
    uint32_t version = (uint32_t)get_le(h + VDI_OFF_VERSION, 4);
    if (version >> 16 != 1) {
        image_error("VDI version %u.%u is not supported (only 1.x)", version >> 16, version & 0xffff);
        return -1;
    }
    uint32_t hsize = (uint32_t)get_le(h + VDI_OFF_HEADER_SIZE, 4);
    if (hsize < VDI_HEADER1_SIZE || hsize > 0x1000) {
        image_error("bad VDI header size %u", hsize);
        return -1;
    }
    if (hsize < VDI_HEADER1PLUS_SIZE)   /* no LCHS geometry: it reads as 0 */
        memset(v->hdr + VDI_OFF_LCHS_GEOMETRY, 0, VDI_HEADER_END - VDI_OFF_LCHS_GEOMETRY);
    v->type = (uint32_t)get_le(h + VDI_OFF_TYPE, 4);
    if (v->type != VDI_TYPE_NORMAL && v->type != VDI_TYPE_FIXED && v->type != VDI_TYPE_DIFF) {
        image_error(v->type == VDI_TYPE_UNDO ? "VDI undo images are not supported"
                                             : "bad VDI image type %u", v->type);
        return -1;
    }
    v->off_blocks = (uint32_t)get_le(h + VDI_OFF_BLOCKS_OFFSET, 4);
    v->off_data = (uint32_t)get_le(h + VDI_OFF_DATA_OFFSET, 4);
    v->block_size = (uint32_t)get_le(h + VDI_OFF_BLOCK_SIZE, 4);
    v->block_extra = (uint32_t)get_le(h + VDI_OFF_BLOCK_EXTRA, 4);
    v->nblocks = (uint32_t)get_le(h + VDI_OFF_BLOCK_COUNT, 4);
    v->nalloc = (uint32_t)get_le(h + VDI_OFF_BLOCKS_ALLOCATED, 4);
    uint64_t disk = get_le(h + VDI_OFF_DISK_SIZE, 8);
    if (v->block_size < IMAGE_SECTOR || v->block_size > VDI_MAX_BLOCK_SIZE ||
        (v->block_size & (v->block_size - 1))) {
        image_error("bad VDI block size %u (a power of two, 512 bytes to 64 MiB)", v->block_size);
        return -1;
    }
    if (v->block_extra % IMAGE_SECTOR || v->block_extra > VDI_MAX_BLOCK_EXTRA) {
        image_error("bad VDI block extra data size %u", v->block_extra);
        return -1;
    }
    if (disk % IMAGE_SECTOR) {
        image_error("VDI disk size %llu is not a multiple of 512", (unsigned long long)disk);
        return -1;
    }
    if ((uint64_t)v->nblocks * v->block_size < disk) {
        image_error("VDI has %u blocks of %u bytes: too few for a %llu-byte disk", v->nblocks,
                    v->block_size, (unsigned long long)disk);
        return -1;
    }
    if (v->off_blocks < VDI_OFF_HEADER_SIZE + VDI_HEADER1_SIZE ||
        (uint64_t)v->off_blocks + 4ull * v->nblocks > v->off_data) {
        image_error("VDI block map (offset %u, %u entries) overlaps the header or the data (offset %u)",
                    v->off_blocks, v->nblocks, v->off_data);
        return -1;
    }
    if ((uint64_t)v->off_blocks + 4ull * v->nblocks > file_size) {
        image_error("truncated VDI: the block map ends past the end of the file");
        return -1;
    }
    if (v->nalloc > v->nblocks) {
        /* Not fatal: the map decides; check reports it. */
    }
    return 0;
}

static int vdi_open(struct image *img, struct image_parent_ref *parent)
{
    struct vdi *v = xcalloc(1, sizeof *v);
    int rc = image_pread(img->fd, v->hdr, sizeof v->hdr, 0);
    if (rc < 0) {
        image_error("%s", strerror(-rc));
        goto fail;
    }
    if (image_file_size(img->fd, &v->file_size) < 0 || parse_header(v, v->file_size) < 0)
        goto fail;
    v->map = xmalloc(v->nblocks ? 4ull * v->nblocks : 4);
    rc = image_pread(img->fd, v->map, 4ull * v->nblocks, v->off_blocks);
    if (rc < 0) {
        image_error("reading the block map: %s", strerror(-rc));
        goto fail;
    }
    for (uint32_t i = 0; i < v->nblocks; i++)
        v->map[i] = (uint32_t)get_le((const uint8_t *)&v->map[i], 4);
    scan_map(v);
    if (!img->read_only && (v->bad_entries || v->dup_entries)) {
        image_error("corrupt VDI block map (%u entries out of range, %u shared): open it read-only "
                    "and run checkmedium", v->bad_entries, v->dup_entries);
        goto fail;
    }
    img->size = get_le(v->hdr + VDI_OFF_DISK_SIZE, 8);
    img->priv = v;
    if (v->type == VDI_TYPE_DIFF) {
        uint8_t u[16];
        memcpy(u, v->hdr + VDI_OFF_UUID_LINKAGE, 16);
        if (uuid_null(u)) {
            image_error("differencing VDI without a parent UUID");
            goto fail;
        }
        parent->has_uuid = true;
        uuid_swap(parent->uuid, u);
    }
    /* The count a crash between a map entry and the header left behind is
     * put right (the map is the truth). */
    if (!img->read_only && v->counted != v->nalloc && write_field(img, VDI_OFF_BLOCKS_ALLOCATED, v->counted, 4) < 0)
        goto fail;
    if (!img->read_only)
        v->nalloc = v->counted;
    return 0;
fail:
    img->priv = NULL;
    vdi_free(v);
    return -1;
}

static void vdi_close(struct image *img)
{
    vdi_free(img->priv);
    img->priv = NULL;
}

/* --- I/O ------------------------------------------------------------------- */

/* Bytes from off to the end of its block, at most len. */
static size_t in_block(const struct vdi *v, uint64_t off, size_t len)
{
    uint64_t left = v->block_size - off % v->block_size;
    return left < len ? (size_t)left : len;
}

/* How far from off (allocated block entry e) the data runs on contiguously
 * in the file, at most len: fixed images read in one pread. */
static size_t contiguous_run(const struct vdi *v, uint64_t off, size_t len, uint32_t e)
{
    size_t run = in_block(v, off, len);
    uint32_t bi = (uint32_t)(off / v->block_size);
    while (run < len && v->block_extra == 0 && bi + 1 < v->nblocks && v->map[bi + 1] == e + 1) {
        bi++;
        e++;
        run += in_block(v, off + run, len - run);
    }
    return run;
}

static int bad_entry(uint32_t bi, uint32_t e)
{
    image_error("block map entry %u is %u, beyond the image (corrupt)", bi, e);
    return -EIO;
}

static int vdi_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    struct vdi *v = img->priv;
    uint8_t *p = buf;
    while (len) {
        uint32_t bi = (uint32_t)(off / v->block_size);
        uint32_t e = v->map[bi];
        size_t n;
        int rc = 0;
        if (allocated(e)) {
            if (e >= v->nblocks)
                return bad_entry(bi, e);
            n = contiguous_run(v, off, len, e);
            rc = image_pread(img->fd, p, n, block_pos(v, e) + off % v->block_size);
            if (rc < 0)
                image_error("read at %llu: %s", (unsigned long long)off, strerror(-rc));
        } else {
            n = in_block(v, off, len);
            if (e == VDI_BLOCK_FREE && img->parent)
                rc = image_read_chain(img->parent, off, p, n);
            else
                memset(p, 0, n);
        }
        if (rc < 0)
            return rc;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* First write into block bi: the data goes to a new block at the end of the
 * file, then the map entry points to it, then the header counts it. */
static int allocate_block(struct image *img, uint32_t bi, uint64_t off, const uint8_t *p, size_t n)
{
    struct vdi *v = img->priv;
    if (v->next >= v->nblocks) {
        image_error("VDI data area full (%u blocks)", v->nblocks);
        return -ENOSPC;
    }
    uint32_t e = v->map[bi];
    uint64_t pos = block_pos(v, v->next);
    uint64_t end = pos + v->block_size;
    uint32_t in = (uint32_t)(off % v->block_size);
    int rc;
    bool from_parent = e == VDI_BLOCK_FREE && img->parent;
    if (n == v->block_size) {
        rc = image_pwrite(img->fd, p, n, pos);
    } else if (!from_parent && v->file_size <= pos - v->block_extra) {
        /* A fresh block past the end of the file: holes read as zeros, so
         * only the data is written. */
        rc = ftruncate(img->fd, (off_t)end) < 0 ? -errno : 0;
        if (rc == 0)
            rc = image_pwrite(img->fd, p, n, pos + in);
    } else {
        if (!v->scratch)
            v->scratch = xmalloc(v->block_size);
        rc = from_parent ? image_read_chain(img->parent, (uint64_t)bi * v->block_size, v->scratch, v->block_size) : 0;
        if (!from_parent)
            memset(v->scratch, 0, v->block_size);
        if (rc == 0) {
            memcpy(v->scratch + in, p, n);
            rc = image_pwrite(img->fd, v->scratch, v->block_size, pos);
        }
    }
    if (rc < 0) {
        image_error("write at %llu: %s", (unsigned long long)off, strerror(-rc));
        return rc;
    }
    if (end > v->file_size)
        v->file_size = end;
    /* A differencing image's block replaces data the parent still shows:
     * its map entry must not reach the disk before the data does. */
    if (img->parent && fdatasync(img->fd) < 0) {
        image_error("flush: %s", strerror(errno));
        return -errno;
    }
    v->map[bi] = v->next++;
    if ((rc = write_map_entry(img, bi)) < 0)
        return rc;
    v->counted++;
    v->nalloc = v->counted;
    return write_field(img, VDI_OFF_BLOCKS_ALLOCATED, v->nalloc, 4);
}

static int vdi_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    struct vdi *v = img->priv;
    const uint8_t *p = buf;
    int rc = mark_modified(img);
    while (len && rc == 0) {
        uint32_t bi = (uint32_t)(off / v->block_size);
        uint32_t e = v->map[bi];
        size_t n;
        if (allocated(e)) {
            if (e >= v->nblocks)
                return bad_entry(bi, e);
            n = contiguous_run(v, off, len, e);
            rc = image_pwrite(img->fd, p, n, block_pos(v, e) + off % v->block_size);
            if (rc < 0)
                image_error("write at %llu: %s", (unsigned long long)off, strerror(-rc));
        } else {
            n = in_block(v, off, len);
            rc = allocate_block(img, bi, off, p, n);
        }
        p += n;
        off += n;
        len -= n;
    }
    return rc;
}

/* One block's run (image_vec.c joins them). A write goes to the file as
 * it is into an allocated block once the modification UUID is new. */
static int vdi_map(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *x)
{
    struct vdi *v = img->priv;
    uint32_t bi = (uint32_t)(off / v->block_size);
    uint32_t e = v->map[bi];
    bool write = flags & IMAGE_MAP_WRITE;
    *x = (struct image_extent){.kind = IMAGE_EXT_FORMAT, .fd = img->fd, .len = in_block(v, off, len)};
    if (allocated(e)) {
        if (e >= v->nblocks)
            return bad_entry(bi, e);
        if (!write || v->modified) {
            x->kind = IMAGE_EXT_DATA;
            x->pos = block_pos(v, e) + off % v->block_size;
        }
    } else if (!write) {
        x->kind = e == VDI_BLOCK_FREE ? IMAGE_EXT_PARENT : IMAGE_EXT_ZERO;
    }
    return 0;
}

static int vdi_flush(struct image *img)
{
    if (fdatasync(img->fd) < 0) {
        image_error("flush: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

/* Discarded sectors of allocated blocks become holes in the file (zeros);
 * the map keeps its entries, so the image stays what qemu-img and
 * VirtualBox expect. Compact gives the blocks back. */
static int vdi_discard(struct image *img, uint64_t off, uint64_t len)
{
    struct vdi *v = img->priv;
    while (len) {
        uint32_t bi = (uint32_t)(off / v->block_size);
        size_t n = in_block(v, off, len > SIZE_MAX ? SIZE_MAX : (size_t)len);
        uint32_t e = v->map[bi];
        if (allocated(e) && e < v->nblocks &&
            fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)(block_pos(v, e) + off % v->block_size), (off_t)n) < 0 &&
            errno != EOPNOTSUPP && errno != ENOSYS) {
            image_error("discard at %llu: %s", (unsigned long long)off, strerror(errno));
            return -errno;
        }
        off += n;
        len -= n;
    }
    return 0;
}

/* --- create ------------------------------------------------------------------ */

static int vdi_create(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    (void)path;
    uint32_t type = parent ? VDI_TYPE_DIFF : o->variant == IMAGE_VARIANT_FIXED ? VDI_TYPE_FIXED : VDI_TYPE_NORMAL;
    if (parent && o->variant == IMAGE_VARIANT_FIXED) {
        image_error("a differencing VDI cannot be Fixed");
        return -1;
    }
    uint64_t nblocks64 = (o->size + VDI_DEFAULT_BLOCK_SIZE - 1) / VDI_DEFAULT_BLOCK_SIZE;
    /* The data offset is 32 bits. */
    if (nblocks64 > (UINT32_MAX - 2ull * VDI_DATA_ALIGN) / 4) {
        image_error("too large for a VDI image");
        return -1;
    }
    uint32_t nblocks = (uint32_t)nblocks64;
    uint32_t off_blocks = (uint32_t)align_up(VDI_HEADER_END, VDI_DATA_ALIGN);
    uint32_t off_data = (uint32_t)align_up(off_blocks + 4ull * nblocks, VDI_DATA_ALIGN);

    uint8_t h[VDI_HEADER_END];
    memset(h, 0, sizeof h);
    memcpy(h, VDI_TEXT, sizeof VDI_TEXT - 1);
    put_le(h + VDI_OFF_SIGNATURE, VDI_SIGNATURE, 4);
    put_le(h + VDI_OFF_VERSION, VDI_VERSION_1_1, 4);
    put_le(h + VDI_OFF_HEADER_SIZE, VDI_HEADER1PLUS_SIZE, 4);
    put_le(h + VDI_OFF_TYPE, type, 4);
    put_le(h + VDI_OFF_BLOCKS_OFFSET, off_blocks, 4);
    put_le(h + VDI_OFF_DATA_OFFSET, off_data, 4);
    put_le(h + VDI_OFF_LEGACY_GEOMETRY + 12, VDI_GEOMETRY_SECTOR_SIZE, 4);
    put_le(h + VDI_OFF_DISK_SIZE, o->size, 8);
    put_le(h + VDI_OFF_BLOCK_SIZE, VDI_DEFAULT_BLOCK_SIZE, 4);
    put_le(h + VDI_OFF_BLOCK_COUNT, nblocks, 4);
    put_le(h + VDI_OFF_BLOCKS_ALLOCATED, type == VDI_TYPE_FIXED ? nblocks : 0, 4);
    put_le(h + VDI_OFF_LCHS_GEOMETRY + 12, VDI_GEOMETRY_SECTOR_SIZE, 4);
    uint8_t u[16];
    image_new_uuid(u);
    uuid_swap(h + VDI_OFF_UUID_CREATE, u);
    image_new_uuid(u);
    uuid_swap(h + VDI_OFF_UUID_MODIFY, u);
    if (parent) {
        struct image_info pi;
        image_get_info(parent, &pi);
        if (!pi.has_uuid) {
            image_error("the parent (%s) has no UUID for a differencing VDI to refer to", pi.format);
            return -1;
        }
        uuid_swap(h + VDI_OFF_UUID_LINKAGE, pi.uuid);
        /* The parent's modification UUID, when it is a VDI itself. */
        if (strcmp(parent->fmt->name, "vdi") == 0)
            memcpy(h + VDI_OFF_UUID_PARENT_MODIFY, ((struct vdi *)parent->priv)->hdr + VDI_OFF_UUID_MODIFY, 16);
    }

    uint8_t *map = xmalloc(4ull * nblocks + 4);
    for (uint32_t i = 0; i < nblocks; i++)
        put_le(map + 4ull * i, type == VDI_TYPE_FIXED ? i : VDI_BLOCK_FREE, 4);
    int rc = image_pwrite(fd, h, sizeof h, 0);
    if (rc == 0)
        rc = image_pwrite(fd, map, 4ull * nblocks, off_blocks);
    free(map);
    uint64_t end = off_data + (type == VDI_TYPE_FIXED ? (uint64_t)nblocks * VDI_DEFAULT_BLOCK_SIZE : 0);
    if (rc == 0)
        rc = ftruncate(fd, (off_t)end) < 0 ? -errno : 0;
    if (rc == 0 && type == VDI_TYPE_FIXED)
        rc = image_allocate(fd, off_data, end);
    if (rc < 0) {
        image_error("%s", strerror(-rc));
        return -1;
    }
    return 0;
}

/* --- resize, compact ----------------------------------------------------------- */

static int copy_block(struct image *img, uint32_t from, uint32_t to)
{
    struct vdi *v = img->priv;
    if (!v->scratch)
        v->scratch = xmalloc(v->block_size);
    int rc = image_pread(img->fd, v->scratch, v->block_size, block_pos(v, from));
    if (rc == 0)
        rc = image_pwrite(img->fd, v->scratch, v->block_size, block_pos(v, to));
    if (rc < 0)
        image_error("moving block %u to %u: %s", from, to, strerror(-rc));
    return rc;
}

static int write_map(struct image *img)
{
    struct vdi *v = img->priv;
    uint8_t *m = xmalloc(4ull * v->nblocks + 4);
    for (uint32_t i = 0; i < v->nblocks; i++)
        put_le(m + 4ull * i, v->map[i], 4);
    int rc = image_pwrite(img->fd, m, 4ull * v->nblocks, v->off_blocks);
    free(m);
    if (rc < 0)
        image_error("writing the block map: %s", strerror(-rc));
    return rc;
}

static int sync_or_error(struct image *img)
{
    if (fdatasync(img->fd) < 0) {
        image_error("flush: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

/* Grows the disk. The map grows into the room before the data area; when
 * there is none, the first data blocks move to the end of the file and the
 * data area starts that much later. */
static int vdi_resize(struct image *img, uint64_t new_size)
{
    struct vdi *v = img->priv;
    if (new_size < img->size) {
        image_error("a VDI image cannot shrink");
        return -1;
    }
    if (v->type == VDI_TYPE_FIXED) {
        image_error("a fixed VDI image cannot be resized (as in VirtualBox)");
        return -1;
    }
    uint64_t nb64 = (new_size + v->block_size - 1) / v->block_size;
    uint64_t full = (uint64_t)v->block_size + v->block_extra;
    if (nb64 > UINT32_MAX / 8 || v->off_blocks + 4 * nb64 + full * 4 > UINT32_MAX) {
        image_error("too large for a VDI image");
        return -1;
    }
    int rc = mark_modified(img);
    if (rc < 0)
        return rc;
    uint32_t nb = (uint32_t)nb64;
    uint64_t map_end = v->off_blocks + 4 * nb64;
    if (map_end > v->off_data) {
        uint32_t k = (uint32_t)((map_end - v->off_data + full - 1) / full);
        uint32_t used = v->next;
        /* Blocks 0..k-1 are copied past both the blocks in use and the
         * region the map takes over. */
        uint32_t base = used > k ? used : k;
        for (uint32_t j = 0; j < k && j < used; j++)
            if ((rc = copy_block(img, j, base + j)) < 0)
                return rc;
        if ((rc = sync_or_error(img)) < 0)
            return rc;
        /* Data indexes count from the new data offset, k blocks later. */
        for (uint32_t i = 0; i < v->nblocks; i++) {
            uint32_t e = v->map[i];
            if (allocated(e))
                v->map[i] = e < k ? base + e - k : e - k;
        }
        v->off_data += (uint32_t)(k * full);
        put_le(v->hdr + VDI_OFF_DATA_OFFSET, v->off_data, 4);
    }
    uint32_t old = v->nblocks;
    uint32_t *map = realloc(v->map, 4ull * nb);
    if (!map) {
        image_error("out of memory");
        return -ENOMEM;
    }
    v->map = map;
    for (uint32_t i = old; i < nb; i++)
        v->map[i] = VDI_BLOCK_FREE;
    v->nblocks = nb;
    scan_map(v);
    put_le(v->hdr + VDI_OFF_BLOCK_COUNT, nb, 4);
    put_le(v->hdr + VDI_OFF_DISK_SIZE, new_size, 8);
    if ((rc = write_map(img)) < 0)
        return rc;
    rc = image_pwrite(img->fd, v->hdr, sizeof v->hdr, 0);
    if (rc < 0) {
        image_error("writing the header: %s", strerror(-rc));
        return rc;
    }
    return sync_or_error(img);
}

static bool block_is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Drops all-zero blocks (a base image's read as zeros unallocated; a
 * differencing image's become ZERO so the parent stays hidden), then moves
 * the last blocks into the holes and truncates the file. */
static int vdi_compact(struct image *img)
{
    struct vdi *v = img->priv;
    if (v->type == VDI_TYPE_FIXED) {
        image_error("a fixed VDI image cannot be compacted");
        return -1;
    }
    int rc = mark_modified(img);
    if (rc < 0)
        return rc;
    if (!v->scratch)
        v->scratch = xmalloc(v->block_size);
    /* owner[d]: the map index using data block d, or FREE. */
    uint32_t *owner = xmalloc(4ull * (v->next ? v->next : 1));
    for (uint32_t d = 0; d < v->next; d++)
        owner[d] = VDI_BLOCK_FREE;
    for (uint32_t i = 0; i < v->nblocks; i++) {
        uint32_t e = v->map[i];
        if (!allocated(e))
            continue;
        if ((rc = image_pread(img->fd, v->scratch, v->block_size, block_pos(v, e))) < 0) {
            image_error("reading block %u: %s", e, strerror(-rc));
            goto out;
        }
        if (block_is_zero(v->scratch, v->block_size)) {
            v->map[i] = img->parent ? VDI_BLOCK_ZERO : VDI_BLOCK_FREE;
            if ((rc = write_map_entry(img, i)) < 0)
                goto out;
            v->counted--;
        } else {
            owner[e] = i;
        }
    }
    /* Fill each hole with the last block in use. */
    uint32_t last = v->next;
    for (uint32_t hole = 0; hole < last; hole++) {
        if (owner[hole] != VDI_BLOCK_FREE)
            continue;
        while (last > hole + 1 && owner[last - 1] == VDI_BLOCK_FREE)
            last--;
        if (last <= hole + 1)
            break;
        uint32_t from = last - 1, i = owner[from];
        /* The copy is on disk before the entry points to it. */
        if ((rc = copy_block(img, from, hole)) < 0 || (rc = sync_or_error(img)) < 0)
            goto out;
        v->map[i] = hole;
        if ((rc = write_map_entry(img, i)) < 0)
            goto out;
        owner[hole] = i;
        owner[from] = VDI_BLOCK_FREE;
        last--;
    }
    v->next = v->counted;
    v->nalloc = v->counted;
    if ((rc = write_field(img, VDI_OFF_BLOCKS_ALLOCATED, v->nalloc, 4)) < 0 || (rc = sync_or_error(img)) < 0)
        goto out;
    uint64_t end = block_pos(v, v->next) - v->block_extra;
    if (ftruncate(img->fd, (off_t)end) < 0) {
        rc = -errno;
        image_error("truncating: %s", strerror(errno));
        goto out;
    }
    v->file_size = end;
out:
    free(owner);
    return rc;
}

/* --- info, check ---------------------------------------------------------------- */

static void vdi_info(struct image *img, struct image_info *info)
{
    struct vdi *v = img->priv;
    info->variant = v->type == VDI_TYPE_FIXED ? "fixed" : v->type == VDI_TYPE_DIFF ? "diff" : "dynamic";
    info->has_uuid = true;
    uuid_swap(info->uuid, v->hdr + VDI_OFF_UUID_CREATE);
    if (v->type == VDI_TYPE_DIFF) {
        info->has_parent_uuid = true;
        uuid_swap(info->parent_uuid, v->hdr + VDI_OFF_UUID_LINKAGE);
    }
}

static void notef(image_note_fn note, void *opaque, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void notef(image_note_fn note, void *opaque, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    note(opaque, line);
}

static int vdi_check(struct image *img, image_note_fn note, void *opaque)
{
    struct vdi *v = img->priv;
    int problems = 0;
    uint64_t fsize = 0;
    image_file_size(img->fd, &fsize);
    uint8_t *seen = xcalloc(1, v->nblocks / 8 + 1);
    uint32_t counted = 0;
    for (uint32_t i = 0; i < v->nblocks; i++) {
        uint32_t e = v->map[i];
        if (!allocated(e)) {
            if (v->type == VDI_TYPE_FIXED) {
                notef(note, opaque, "block %u of a fixed image is not allocated", i);
                problems++;
            }
            continue;
        }
        if (e >= v->nblocks) {
            notef(note, opaque, "block map entry %u points to data block %u, beyond the %u blocks", i, e,
                  v->nblocks);
            problems++;
            continue;
        }
        counted++;
        if (seen[e / 8] & (1u << (e % 8))) {
            notef(note, opaque, "block map entry %u points to data block %u, used by another entry too", i, e);
            problems++;
        }
        seen[e / 8] |= (uint8_t)(1u << (e % 8));
        if (block_pos(v, e) + v->block_size > fsize) {
            notef(note, opaque, "data block %u (map entry %u) ends past the end of the file", e, i);
            problems++;
        }
    }
    free(seen);
    uint32_t hdr_count = (uint32_t)get_le(v->hdr + VDI_OFF_BLOCKS_ALLOCATED, 4);
    if (counted != hdr_count) {
        notef(note, opaque, "the header counts %u allocated blocks, the block map %u", hdr_count, counted);
        problems++;
    }
    return problems;
}

static const image_format vdi_format = {
    .name = "vdi",
    .probe = vdi_probe,
    .open = vdi_open,
    .close = vdi_close,
    .read = vdi_read,
    .write = vdi_write,
    .map = vdi_map,
    .map_in_memory = true,
    .flush = vdi_flush,
    .discard = vdi_discard,
    .create = vdi_create,
    .resize = vdi_resize,
    .compact = vdi_compact,
    .info = vdi_info,
    .check = vdi_check,
};
IMAGE_FORMAT_REGISTER(vdi_format);
