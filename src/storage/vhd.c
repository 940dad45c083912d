/* VHD images (Microsoft Virtual Hard Disk Image Format Specification,
 * version 1.0, October 2006): fixed, dynamic and differencing disks.
 *
 * Fixed: the disk's bytes, then the 512-byte footer. Dynamic and
 * differencing: a copy of the footer at 0, the dynamic disk header, the
 * block allocation table (BAT), data blocks (a sector bitmap, then the
 * block's sectors), the footer at the end. All fields are big-endian.
 *
 * A new block goes where the footer is: the footer is first written at the
 * new end of the file, then the bitmap and the data, then the BAT entry, so
 * a crash at any point leaves a valid image (at worst with unused space).
 * The space of a new block that is not written stays a hole in the host
 * file and reads as zeros. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/format.h"

/* --- the spec's layout -------------------------------------------------------- */

#define VHD_FOOTER_SIZE 512u          /* "Hard Disk Footer Format" */
#define VHD_COOKIE "conectix"
#define VHD_FEATURES_RESERVED 0x2u    /* "must always be set" */
#define VHD_VERSION 0x00010000u
#define VHD_NO_OFFSET UINT64_MAX      /* fixed disks' data offset */
#define VHD_EPOCH 946684800           /* time stamps: seconds since 2000-01-01 00:00 UTC */
#define VHD_OS_WINDOWS 0x5769326bu    /* "Wi2k": creator host OS */
#define VHD_CREATOR_APP "caix"
#define VHD_CREATOR_VERSION 0x00010000u

/* Footer fields (offsets in bytes). */
#define F_COOKIE 0
#define F_FEATURES 8
#define F_VERSION 12
#define F_DATA_OFFSET 16
#define F_TIME 24
#define F_CREATOR_APP 28
#define F_CREATOR_VER 32
#define F_CREATOR_OS 36
#define F_ORIG_SIZE 40
#define F_CUR_SIZE 48
#define F_GEOMETRY 56
#define F_TYPE 60
#define F_CHECKSUM 64
#define F_UUID 68

/* "Disk Type" */
enum { VHD_FIXED = 2, VHD_DYNAMIC = 3, VHD_DIFF = 4 };

/* "Dynamic Disk Header Format" */
#define VHD_HEADER_SIZE 1024u
#define VHD_HEADER_COOKIE "cxsparse"
#define H_COOKIE 0
#define H_DATA_OFFSET 8
#define H_TABLE_OFFSET 16
#define H_VERSION 24
#define H_MAX_ENTRIES 28
#define H_BLOCK_SIZE 32
#define H_CHECKSUM 36
#define H_PARENT_UUID 40
#define H_PARENT_TIME 56
#define H_PARENT_NAME 64              /* UTF-16 big-endian, 512 bytes */
#define H_PARENT_NAME_SIZE 512u
#define H_LOCATORS 576                /* 8 entries of 24 bytes */
#define VHD_LOCATORS 8
#define VHD_LOCATOR_SIZE 24u
#define L_CODE 0
#define L_SPACE 4                     /* sectors per the spec; Virtual PC and Hyper-V store bytes */
#define L_LENGTH 8
#define L_OFFSET 16

/* Parent locator platform codes ("Parent Locator Entries"). */
#define VHD_PLAT_W2RU 0x57327275u     /* Windows relative path, UTF-16LE */
#define VHD_PLAT_W2KU 0x57326b75u     /* Windows absolute path, UTF-16LE */
#define VHD_PLAT_MACX 0x4d616358u     /* file URL, UTF-8 */

#define VHD_BAT_UNUSED 0xffffffffu    /* "Block Allocation Table and Data Blocks" */
#define VHD_DEFAULT_BLOCK (2u << 20)  /* the spec's default block size */
#define VHD_MAX_BLOCK (256u << 20)    /* sanity bound on a header's block size */
/* The BAT is kept in memory: a hostile header may not ask for more. */
#define VHD_MAX_BAT_BYTES (32u << 20)
#define VHD_LOCATOR_MAX 4096u         /* bytes of one parent path we read or write */
/* "Appendix: CHS Calculation": the largest geometry, 65535 x 16 x 255. */
#define VHD_CHS_MAX_SECTORS (65535ull * 16 * 255)

struct vhd {
    uint8_t footer[VHD_FOOTER_SIZE];
    uint8_t header[VHD_HEADER_SIZE];
    unsigned type;
    uint64_t footer_pos;      /* where the footer at the end is (dynamic: the next block's place) */
    uint64_t header_pos;
    uint64_t bat_pos;
    uint32_t bat_entries;
    uint32_t *bat;            /* host order */
    uint32_t block_size;      /* bytes */
    uint32_t bitmap_size;     /* bytes, a multiple of 512 */
    uint8_t *bitmap;          /* the bitmap of block bitmap_block (one block cached) */
    uint32_t bitmap_block;    /* VHD_BAT_UNUSED: none cached */
    /* One bit per BAT entry: every sector of the block is here (its bitmap
     * all set, as read or written). Bits are never cleared (no VHD call
     * frees a block or clears a bitmap bit), so a full block needs no
     * bitmap read: random reads over many blocks stay off the file. */
    uint8_t *full;
};

static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[n - 1 - i] = (uint8_t)(v >> (8 * i));
}

/* "Checksum": the one's complement of the sum of all bytes but the
 * checksum's own four. */
static uint32_t vhd_checksum(const uint8_t *p, size_t len, size_t cksum_at)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < cksum_at || i >= cksum_at + 4)
            sum += p[i];
    return ~sum;
}

static bool footer_valid(const uint8_t *f)
{
    return memcmp(f + F_COOKIE, VHD_COOKIE, 8) == 0 &&
           get_be(f + F_CHECKSUM, 4) == vhd_checksum(f, VHD_FOOTER_SIZE, F_CHECKSUM);
}

static void seal(uint8_t *p, size_t len, size_t cksum_at)
{
    put_be(p + cksum_at, 0, 4);
    put_be(p + cksum_at, vhd_checksum(p, len, cksum_at), 4);
}

/* "Appendix: CHS Calculation". Returns cylinders << 16 | heads << 8 | sectors. */
static uint32_t chs_geometry(uint64_t total)
{
    uint64_t spt, heads, cth;
    if (total > VHD_CHS_MAX_SECTORS)
        total = VHD_CHS_MAX_SECTORS;
    if (total >= 65535ull * 16 * 63) {
        spt = 255;
        heads = 16;
        cth = total / spt;
    } else {
        spt = 17;
        cth = total / spt;
        heads = (cth + 1023) / 1024;
        if (heads < 4)
            heads = 4;
        if (cth >= heads * 1024 || heads > 16) {
            spt = 31;
            heads = 16;
            cth = total / spt;
        }
        if (cth >= heads * 1024) {
            spt = 63;
            heads = 16;
            cth = total / spt;
        }
    }
    return (uint32_t)((cth / heads) << 16 | heads << 8 | spt);
}

static uint64_t chs_sectors(uint32_t g)
{
    return (uint64_t)(g >> 16) * ((g >> 8) & 0xff) * (g & 0xff);
}

static uint32_t vhd_now(void)
{
    time_t t = time(NULL);
    return t > VHD_EPOCH ? (uint32_t)(t - VHD_EPOCH) : 0;
}

/* --- UTF-16 <-> UTF-8 for parent names and locators -------------------------------- */

/* Decodes n code units (big- or little-endian) into a malloc'd UTF-8 string
 * ending at the first NUL. */
static char *utf16_to_utf8(const uint8_t *p, size_t n, bool big_endian)
{
    char *out = xmalloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = big_endian ? (uint32_t)(p[2 * i] << 8 | p[2 * i + 1]) : (uint32_t)(p[2 * i] | p[2 * i + 1] << 8);
        if (c == 0)
            break;
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
            uint32_t d = big_endian ? (uint32_t)(p[2 * i + 2] << 8 | p[2 * i + 3])
                                    : (uint32_t)(p[2 * i + 2] | p[2 * i + 3] << 8);
            if (d >= 0xdc00 && d < 0xe000) {
                c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
                i++;
            }
        }
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xc0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            out[o++] = (char)(0xe0 | c >> 12);
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (c & 0x3f));
        } else {
            /* 4 bytes for 2 code units: still within 3 bytes per unit. */
            out[o++] = (char)(0xf0 | c >> 18);
            out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    out[o] = '\0';
    return out;
}

/* Encodes UTF-8 s into at most max code units at out; returns the units
 * written. Invalid bytes become U+FFFD. */
static size_t utf8_to_utf16(const char *s, uint8_t *out, size_t max, bool big_endian)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = 0;
    while (*p) {
        uint32_t c = *p++;
        int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
        if (c >= 0x80 && !more)
            c = 0xfffd;
        else if (more)
            c &= 0x3fu >> more;
        for (; more && (*p & 0xc0) == 0x80; more--)
            c = c << 6 | (*p++ & 0x3f);
        if (more)
            c = 0xfffd;
        uint16_t u[2];
        int k = 1;
        if (c >= 0x10000) {
            u[0] = (uint16_t)(0xd800 + ((c - 0x10000) >> 10));
            u[1] = (uint16_t)(0xdc00 + ((c - 0x10000) & 0x3ff));
            k = 2;
        } else {
            u[0] = (uint16_t)c;
        }
        if (n + (size_t)k > max)
            break;
        for (int j = 0; j < k; j++, n++) {
            out[2 * n + (big_endian ? 0 : 1)] = (uint8_t)(u[j] >> 8);
            out[2 * n + (big_endian ? 1 : 0)] = (uint8_t)u[j];
        }
    }
    return n;
}

static int io_error(const char *what, uint64_t off, int rc)
{
    image_error("%s at %llu: %s", what, (unsigned long long)off, strerror(-rc));
    return rc;
}

/* --- probe and open ---------------------------------------------------------------- */

static int vhd_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
    (void)file_size;
    /* Dynamic and differencing disks start with a copy of the footer. */
    if (len >= VHD_FOOTER_SIZE && memcmp(head, VHD_COOKIE, 8) == 0)
        return 100;
    return 0;
}

/* A fixed disk's only mark is its footer, the file's last sector. */
static int vhd_probe_tail(const uint8_t *tail, size_t len, uint64_t file_size)
{
    if (len < VHD_FOOTER_SIZE || file_size % IMAGE_SECTOR)
        return 0;
    return footer_valid(tail + len - VHD_FOOTER_SIZE) ? 100 : 0;
}

static void vhd_free(struct vhd *v)
{
    if (!v)
        return;
    free(v->bat);
    free(v->bitmap);
    free(v->full);
    free(v);
}

/* The path a parent locator holds (UTF-8, '/' separators), or NULL. */
static char *locator_path(struct image *img, const uint8_t *loc)
{
    uint32_t code = (uint32_t)get_be(loc + L_CODE, 4);
    uint32_t len = (uint32_t)get_be(loc + L_LENGTH, 4);
    uint64_t off = get_be(loc + L_OFFSET, 8);
    if ((code != VHD_PLAT_W2RU && code != VHD_PLAT_W2KU && code != VHD_PLAT_MACX) || len == 0 ||
        len > VHD_LOCATOR_MAX)
        return NULL;
    uint8_t *raw = xcalloc(1, len + 2);
    char *s = NULL;
    if (image_pread(img->fd, raw, len, off) == 0) {
        if (code == VHD_PLAT_MACX) {
            /* "file://localhost/path" or a plain path. */
            const char *p = (const char *)raw;
            if (strncmp(p, "file://", 7) == 0) {
                p += 7;
                p = strchr(p, '/');
            }
            s = p && *p ? xstrdup(p) : NULL;
        } else {
            s = utf16_to_utf8(raw, len / 2, false);
            for (char *c = s; *c; c++)
                if (*c == '\\')
                    *c = '/';
            if (!*s) {
                free(s);
                s = NULL;
            }
        }
    }
    free(raw);
    return s;
}

static bool exists_beside(const char *child, const char *rel)
{
    if (rel[0] == '/')
        return access(rel, F_OK) == 0;
    const char *slash = strrchr(child, '/');
    int dlen = slash ? (int)(slash - child) : 1;
    char buf[PATH_MAX * 2];
    snprintf(buf, sizeof buf, "%.*s/%s", dlen, slash ? child : ".", rel);
    return access(buf, F_OK) == 0;
}

/* The parent's file: the first locator (relative before absolute) naming a
 * file that exists, else the first one at all, else the parent's name. */
static void find_parent(struct image *img, struct vhd *v, struct image_parent_ref *ref)
{
    static const uint32_t order[] = {VHD_PLAT_W2RU, VHD_PLAT_W2KU, VHD_PLAT_MACX};
    char *first = NULL;
    for (size_t k = 0; k < ARRAY_SIZE(order) && !ref->path; k++)
        for (unsigned i = 0; i < VHD_LOCATORS && !ref->path; i++) {
            const uint8_t *loc = v->header + H_LOCATORS + i * VHD_LOCATOR_SIZE;
            if (get_be(loc + L_CODE, 4) != order[k])
                continue;
            char *p = locator_path(img, loc);
            if (!p)
                continue;
            if (exists_beside(img->path, p)) {
                ref->path = p;
            } else if (!first) {
                first = p;
            } else {
                free(p);
            }
        }
    if (!ref->path && !first) {
        char *name = utf16_to_utf8(v->header + H_PARENT_NAME, H_PARENT_NAME_SIZE / 2, true);
        if (*name && !strchr(name, '/'))
            first = name;
        else
            free(name);
    }
    if (ref->path)
        free(first);
    else
        ref->path = first;
    static const uint8_t zero[16];
    if (memcmp(v->header + H_PARENT_UUID, zero, 16) != 0) {
        ref->has_uuid = true;
        memcpy(ref->uuid, v->header + H_PARENT_UUID, 16);
    }
}

static int open_dynamic(struct image *img, struct vhd *v, uint64_t file_size, struct image_parent_ref *ref)
{
    v->header_pos = get_be(v->footer + F_DATA_OFFSET, 8);
    if (v->header_pos % IMAGE_SECTOR || v->header_pos > file_size || file_size - v->header_pos < VHD_HEADER_SIZE) {
        image_error("VHD dynamic header offset %llu is outside the file", (unsigned long long)v->header_pos);
        return -1;
    }
    int rc = image_pread(img->fd, v->header, VHD_HEADER_SIZE, v->header_pos);
    if (rc < 0) {
        image_error("reading the VHD dynamic header: %s", strerror(-rc));
        return -1;
    }
    const uint8_t *h = v->header;
    if (memcmp(h + H_COOKIE, VHD_HEADER_COOKIE, 8) != 0) {
        image_error("VHD dynamic header has no \"cxsparse\" cookie");
        return -1;
    }
    if (get_be(h + H_CHECKSUM, 4) != vhd_checksum(h, VHD_HEADER_SIZE, H_CHECKSUM)) {
        image_error("VHD dynamic header checksum mismatch");
        return -1;
    }
    if (get_be(h + H_VERSION, 4) != VHD_VERSION) {
        image_error("VHD dynamic header version %#llx is not 1.0", (unsigned long long)get_be(h + H_VERSION, 4));
        return -1;
    }
    v->block_size = (uint32_t)get_be(h + H_BLOCK_SIZE, 4);
    if (v->block_size < IMAGE_SECTOR || v->block_size > VHD_MAX_BLOCK || (v->block_size & (v->block_size - 1))) {
        image_error("VHD block size %u is not a power of two between 512 and %u", v->block_size, VHD_MAX_BLOCK);
        return -1;
    }
    v->bitmap_size = (uint32_t)align_up(v->block_size / IMAGE_SECTOR / 8, IMAGE_SECTOR);
    v->bat_entries = (uint32_t)get_be(h + H_MAX_ENTRIES, 4);
    v->bat_pos = get_be(h + H_TABLE_OFFSET, 8);
    uint64_t bat_bytes = (uint64_t)v->bat_entries * 4;
    if ((img->size + v->block_size - 1) / v->block_size > v->bat_entries) {
        image_error("VHD BAT has %u entries, too few for %llu bytes", v->bat_entries,
                    (unsigned long long)img->size);
        return -1;
    }
    if (bat_bytes > VHD_MAX_BAT_BYTES || v->bat_pos > file_size || file_size - v->bat_pos < bat_bytes) {
        image_error("VHD BAT (%u entries at %llu) does not fit in the file", v->bat_entries,
                    (unsigned long long)v->bat_pos);
        return -1;
    }
    v->bat = xmalloc(bat_bytes ? bat_bytes : 1);
    rc = image_pread(img->fd, v->bat, bat_bytes, v->bat_pos);
    if (rc < 0) {
        image_error("reading the VHD BAT: %s", strerror(-rc));
        return -1;
    }
    /* The next block goes at the footer, or past every structure if the
     * footer at the end is missing (only its copy at 0 was valid). */
    uint64_t end = align_up(v->bat_pos + bat_bytes, IMAGE_SECTOR);
    end = end > v->header_pos + VHD_HEADER_SIZE ? end : v->header_pos + VHD_HEADER_SIZE;
    for (uint32_t i = 0; i < v->bat_entries; i++) {
        uint32_t e = (uint32_t)get_be((uint8_t *)&v->bat[i], 4);
        v->bat[i] = e;
        if (e != VHD_BAT_UNUSED) {
            uint64_t b_end = (uint64_t)e * IMAGE_SECTOR + v->bitmap_size + v->block_size;
            end = b_end > end ? b_end : end;
        }
    }
    for (unsigned i = 0; i < VHD_LOCATORS; i++) {
        const uint8_t *loc = h + H_LOCATORS + i * VHD_LOCATOR_SIZE;
        if (get_be(loc + L_CODE, 4) == 0)
            continue;
        uint64_t l_end = align_up(get_be(loc + L_OFFSET, 8) + get_be(loc + L_LENGTH, 4), IMAGE_SECTOR);
        end = l_end > end ? l_end : end;
    }
    /* A block past the footer is corrupt; writing would put the footer
     * wherever it points. */
    if (end > v->footer_pos + (v->footer_pos == align_up(file_size, IMAGE_SECTOR) ? 0 : VHD_FOOTER_SIZE) &&
        !img->read_only) {
        image_error("VHD BAT or parent locator points past the end of the file (corrupt): open it read-only");
        return -1;
    }
    if (v->footer_pos < end)
        v->footer_pos = end;
    /* New blocks start on a sector (a BAT entry counts sectors). */
    if (!img->read_only)
        v->footer_pos = align_up(v->footer_pos, IMAGE_SECTOR);
    v->bitmap = xmalloc(v->bitmap_size);
    v->bitmap_block = VHD_BAT_UNUSED;
    v->full = xcalloc(v->bat_entries / 8 + 1, 1);
    if (v->type == VHD_DIFF)
        find_parent(img, v, ref);
    return 0;
}

static int vhd_open(struct image *img, struct image_parent_ref *ref)
{
    uint64_t file_size;
    int rc = image_file_size(img->fd, &file_size);
    if (rc < 0) {
        image_error("%s", strerror(-rc));
        return -1;
    }
    if (file_size < VHD_FOOTER_SIZE) {
        image_error("VHD file of %llu bytes is too short for a footer", (unsigned long long)file_size);
        return -1;
    }
    struct vhd *v = xcalloc(1, sizeof *v);
    /* The footer at the end; a dynamic disk's copy at 0 stands in when the
     * end was torn (the next block then goes past every structure). */
    uint8_t tail[VHD_FOOTER_SIZE];
    bool torn = false;
    rc = image_pread(img->fd, tail, VHD_FOOTER_SIZE, file_size - VHD_FOOTER_SIZE);
    if (rc == 0 && footer_valid(tail)) {
        memcpy(v->footer, tail, VHD_FOOTER_SIZE);
        v->footer_pos = file_size - VHD_FOOTER_SIZE;
    } else if (image_pread(img->fd, v->footer, VHD_FOOTER_SIZE, 0) == 0 && footer_valid(v->footer) &&
               get_be(v->footer + F_TYPE, 4) != VHD_FIXED) {
        v->footer_pos = align_up(file_size, IMAGE_SECTOR);
        torn = true;
    } else {
        image_error("no valid VHD footer (\"conectix\" cookie and checksum) at the end of the file");
        goto fail;
    }
    const uint8_t *f = v->footer;
    v->type = (unsigned)get_be(f + F_TYPE, 4);
    img->size = get_be(f + F_CUR_SIZE, 8);
    if ((get_be(f + F_VERSION, 4) >> 16) != (VHD_VERSION >> 16)) {
        image_error("VHD format version %#llx is not 1.x", (unsigned long long)get_be(f + F_VERSION, 4));
        goto fail;
    }
    if (img->size % IMAGE_SECTOR) {
        image_error("VHD disk size %llu is not a multiple of 512", (unsigned long long)img->size);
        goto fail;
    }
    if (v->type == VHD_FIXED) {
        if (img->size > v->footer_pos) {
            image_error("VHD fixed disk of %llu bytes in a file of %llu bytes: truncated",
                        (unsigned long long)img->size, (unsigned long long)file_size);
            goto fail;
        }
    } else if (v->type == VHD_DYNAMIC || v->type == VHD_DIFF) {
        if (open_dynamic(img, v, file_size, ref) < 0)
            goto fail;
        /* A writer puts the torn footer back at once. */
        if (torn && !img->read_only &&
            (rc = image_pwrite(img->fd, v->footer, VHD_FOOTER_SIZE, v->footer_pos)) < 0) {
            io_error("repairing the VHD footer", v->footer_pos, rc);
            goto fail;
        }
    } else {
        image_error("VHD disk type %u is not fixed (2), dynamic (3) or differencing (4)", v->type);
        goto fail;
    }
    img->priv = v;
    return 0;
fail:
    vhd_free(v);
    return -1;
}

static void vhd_close(struct image *img)
{
    vhd_free(img->priv);
    img->priv = NULL;
}

/* --- I/O ---------------------------------------------------------------------------- */

static bool block_full(const struct vhd *v, uint32_t b)
{
    return v->full[b / 8] >> (b % 8) & 1;
}

/* Block b's bitmap is in v->bitmap: remember whether it is all set. */
static void note_full(struct vhd *v, uint32_t b)
{
    uint32_t sectors = v->block_size / IMAGE_SECTOR, i;
    for (i = 0; i + 8 <= sectors; i += 8)
        if (v->bitmap[i / 8] != 0xff)
            return;
    for (; i < sectors; i++)
        if (!(v->bitmap[i / 8] >> (7 - i % 8) & 1))
            return;
    v->full[b / 8] |= (uint8_t)(1u << (b % 8));
}

/* The bitmap of block b (allocated) in v->bitmap. */
static int load_bitmap(struct image *img, struct vhd *v, uint32_t b)
{
    if (v->bitmap_block == b)
        return 0;
    uint64_t pos = (uint64_t)v->bat[b] * IMAGE_SECTOR;
    int rc = image_pread(img->fd, v->bitmap, v->bitmap_size, pos);
    if (rc < 0) {
        v->bitmap_block = VHD_BAT_UNUSED;
        return io_error("reading a VHD sector bitmap", pos, rc);
    }
    v->bitmap_block = b;
    note_full(v, b);
    return 0;
}

/* "the sector bitmap": bit 7 of byte 0 is the block's first sector. */
static bool bit_of(const uint8_t *bm, uint32_t s)
{
    return bm[s / 8] >> (7 - s % 8) & 1;
}

static int vhd_read(struct image *img, uint64_t off, void *buf, size_t len)
{
    struct vhd *v = img->priv;
    uint8_t *p = buf;
    if (v->type == VHD_FIXED) {
        int rc = image_pread(img->fd, buf, len, off);
        return rc < 0 ? io_error("read", off, rc) : 0;
    }
    while (len) {
        uint32_t b = (uint32_t)(off / v->block_size);
        uint32_t in = (uint32_t)(off % v->block_size);
        size_t n = v->block_size - in < len ? v->block_size - in : len;
        int rc;
        if (b >= v->bat_entries || v->bat[b] == VHD_BAT_UNUSED) {
            rc = image_read_chain(img->parent, off, p, n);
        } else if ((rc = load_bitmap(img, v, b)) == 0) {
            /* Runs of sectors with the same bit: set is here, clear is the
             * parent's (zeros in a dynamic disk). */
            uint64_t data = (uint64_t)v->bat[b] * IMAGE_SECTOR + v->bitmap_size;
            for (size_t done = 0; done < n && rc == 0;) {
                uint32_t s = (uint32_t)((in + done) / IMAGE_SECTOR);
                bool here = bit_of(v->bitmap, s);
                size_t run = IMAGE_SECTOR;
                while (done + run < n && bit_of(v->bitmap, s + (uint32_t)(run / IMAGE_SECTOR)) == here)
                    run += IMAGE_SECTOR;
                if (here) {
                    rc = image_pread(img->fd, p + done, run, data + in + done);
                    if (rc < 0)
                        io_error("read", data + in + done, rc);
                } else {
                    rc = image_read_chain(img->parent, off + done, p + done, run);
                }
                done += run;
            }
        }
        if (rc < 0)
            return rc;
        off += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* The footer at pos (the current end of the data). */
static int write_footer(struct image *img, struct vhd *v, uint64_t pos)
{
    int rc = image_pwrite(img->fd, v->footer, VHD_FOOTER_SIZE, pos);
    return rc < 0 ? io_error("writing the VHD footer", pos, rc) : 0;
}

static int write_bat_entry(struct image *img, struct vhd *v, uint32_t b)
{
    uint8_t e[4];
    put_be(e, v->bat[b], 4);
    int rc = image_pwrite(img->fd, e, 4, v->bat_pos + 4ull * b);
    return rc < 0 ? io_error("writing the VHD BAT", v->bat_pos + 4ull * b, rc) : 0;
}

/* A block at pos would overwrite the headers or the BAT. */
static bool overlaps_metadata(const struct vhd *v, uint64_t pos)
{
    uint64_t bat_end = align_up(v->bat_pos + 4ull * v->bat_entries, IMAGE_SECTOR);
    return pos < v->header_pos + VHD_HEADER_SIZE ||
           (pos < bat_end && pos + v->bitmap_size + v->block_size > v->bat_pos);
}

/* Block b's place for a new block: where the footer is, which moves to
 * the new end first. */
static int alloc_block(struct image *img, struct vhd *v, uint32_t b)
{
    uint64_t pos = v->footer_pos;
    uint64_t new_end = pos + v->bitmap_size + v->block_size;
    if (pos / IMAGE_SECTOR >= VHD_BAT_UNUSED) {
        image_error("VHD file would grow past the 2 TiB the BAT can address");
        return -ENOSPC;
    }
    int rc = write_footer(img, v, new_end);
    if (rc < 0)
        return rc;
    v->footer_pos = new_end;
    v->bat[b] = (uint32_t)(pos / IMAGE_SECTOR);
    return 0;
}

/* Marks sectors [first, end) of the cached bitmap; true if any bit changed. */
static bool mark_sectors(uint8_t *bm, uint32_t first, uint32_t end)
{
    bool changed = false;
    for (uint32_t s = first; s < end; s++)
        if (!bit_of(bm, s)) {
            bm[s / 8] |= (uint8_t)(0x80 >> (s % 8));
            changed = true;
        }
    return changed;
}

/* A new block: its bitmap (a dynamic disk marks every sector valid, the
 * hole reads as zeros; a differencing disk only the sectors written, the
 * rest is the parent's), then the data, then the BAT entry. An allocated
 * block: the data, then the bitmap sectors that changed. */
static int write_in_block(struct image *img, struct vhd *v, uint32_t b, uint32_t in, const uint8_t *p, size_t n)
{
    bool fresh = v->bat[b] == VHD_BAT_UNUSED;
    uint32_t s0 = in / IMAGE_SECTOR, s1 = (uint32_t)((in + n) / IMAGE_SECTOR);
    int rc;
    if (fresh) {
        if ((rc = alloc_block(img, v, b)) < 0)
            return rc;
        v->bitmap_block = b;
        memset(v->bitmap, v->type == VHD_DIFF ? 0x00 : 0xff, v->bitmap_size);
        mark_sectors(v->bitmap, s0, s1);
    } else if (overlaps_metadata(v, (uint64_t)v->bat[b] * IMAGE_SECTOR)) {
        image_error("VHD BAT entry %u points into the headers or the BAT: not writing there", b);
        return -EIO;
    } else if ((rc = load_bitmap(img, v, b)) < 0) {
        return rc;
    }
    uint64_t pos = (uint64_t)v->bat[b] * IMAGE_SECTOR;
    if (fresh && (rc = image_pwrite(img->fd, v->bitmap, v->bitmap_size, pos)) < 0)
        goto bitmap_failed;
    rc = image_pwrite(img->fd, p, n, pos + v->bitmap_size + in);
    if (rc < 0)
        return io_error("write", pos + v->bitmap_size + in, rc);
    if (fresh) {
        if ((rc = write_bat_entry(img, v, b)) == 0)
            note_full(v, b);
        return rc;
    }
    if (mark_sectors(v->bitmap, s0, s1)) {
        uint32_t from = s0 / 8 / IMAGE_SECTOR * IMAGE_SECTOR;
        uint32_t to = (uint32_t)align_up((s1 - 1) / 8 + 1, IMAGE_SECTOR);
        if ((rc = image_pwrite(img->fd, v->bitmap + from, to - from, pos + from)) < 0)
            goto bitmap_failed;
        note_full(v, b);
    }
    return 0;
bitmap_failed:
    v->bitmap_block = VHD_BAT_UNUSED;
    return io_error("writing a VHD sector bitmap", pos, rc);
}

static int vhd_write(struct image *img, uint64_t off, const void *buf, size_t len)
{
    struct vhd *v = img->priv;
    const uint8_t *p = buf;
    if (v->type == VHD_FIXED) {
        int rc = image_pwrite(img->fd, buf, len, off);
        return rc < 0 ? io_error("write", off, rc) : 0;
    }
    while (len) {
        uint32_t b = (uint32_t)(off / v->block_size);
        uint32_t in = (uint32_t)(off % v->block_size);
        size_t n = v->block_size - in < len ? v->block_size - in : len;
        if (b >= v->bat_entries) {
            image_error("write at %llu: beyond the VHD BAT", (unsigned long long)off);
            return -EIO;
        }
        int rc = write_in_block(img, v, b, in, p, n);
        if (rc < 0)
            return rc;
        off += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* A fixed disk is one run of data. A dynamic disk's run lies in one block:
 * sectors of the same bit in its bitmap (set: here; clear: the parent's,
 * or zeros). A write goes to the file as it is only where every sector's
 * bit is set already. */
static int vhd_map(struct image *img, uint64_t off, uint64_t len, unsigned flags, struct image_extent *x)
{
    struct vhd *v = img->priv;
    bool write = flags & IMAGE_MAP_WRITE;
    *x = (struct image_extent){.kind = IMAGE_EXT_DATA, .fd = img->fd, .pos = off, .len = len};
    if (v->type == VHD_FIXED)
        return 0;
    uint32_t b = (uint32_t)(off / v->block_size);
    uint32_t in = (uint32_t)(off % v->block_size);
    x->len = v->block_size - in < len ? v->block_size - in : len;
    x->kind = write ? IMAGE_EXT_FORMAT : IMAGE_EXT_PARENT;
    if (b >= v->bat_entries || v->bat[b] == VHD_BAT_UNUSED)
        return 0;
    uint64_t pos = (uint64_t)v->bat[b] * IMAGE_SECTOR;
    if (write && overlaps_metadata(v, pos))
        return 0;                   /* vhd_write refuses it */
    if (block_full(v, b)) {
        x->kind = IMAGE_EXT_DATA;
        x->pos = pos + v->bitmap_size + in;
        return 0;
    }
    if (v->bitmap_block != b) {
        if (flags & IMAGE_MAP_NOWAIT)
            return -EAGAIN;
        if (load_bitmap(img, v, b) < 0)
            return -EIO;
    }
    uint32_t s = in / IMAGE_SECTOR;
    bool here = bit_of(v->bitmap, s);
    uint64_t run = IMAGE_SECTOR;
    while (run < x->len && bit_of(v->bitmap, s + (uint32_t)(run / IMAGE_SECTOR)) == here)
        run += IMAGE_SECTOR;
    x->len = run;
    if (here) {
        x->kind = IMAGE_EXT_DATA;
        x->pos = pos + v->bitmap_size + in;
    }
    return 0;
}

/* --- create --------------------------------------------------------------------------- */

/* The footer of a new disk of size bytes (size already whole CHS). */
static void make_footer(uint8_t *f, unsigned type, uint64_t size, uint64_t data_offset)
{
    memset(f, 0, VHD_FOOTER_SIZE);
    memcpy(f + F_COOKIE, VHD_COOKIE, 8);
    put_be(f + F_FEATURES, VHD_FEATURES_RESERVED, 4);
    put_be(f + F_VERSION, VHD_VERSION, 4);
    put_be(f + F_DATA_OFFSET, data_offset, 8);
    put_be(f + F_TIME, vhd_now(), 4);
    memcpy(f + F_CREATOR_APP, VHD_CREATOR_APP, 4);
    put_be(f + F_CREATOR_VER, VHD_CREATOR_VERSION, 4);
    put_be(f + F_CREATOR_OS, VHD_OS_WINDOWS, 4);
    put_be(f + F_ORIG_SIZE, size, 8);
    put_be(f + F_CUR_SIZE, size, 8);
    put_be(f + F_GEOMETRY, chs_geometry(size / IMAGE_SECTOR), 4);
    put_be(f + F_TYPE, type, 4);
    image_new_uuid(f + F_UUID);
    seal(f, VHD_FOOTER_SIZE, F_CHECKSUM);
}

/* Readers that size a disk by its CHS geometry (Virtual PC; QEMU for images
 * of creators it does not know) would cut off a partial cylinder: a new
 * disk's size is rounded up to whole CHS geometry, as far as one reaches. */
static uint64_t chs_round_up(uint64_t size)
{
    uint64_t total = size / IMAGE_SECTOR;
    if (total >= VHD_CHS_MAX_SECTORS)
        return size;
    for (uint64_t t = total; t <= VHD_CHS_MAX_SECTORS; t++) {
        uint64_t got = chs_sectors(chs_geometry(t));
        if (got >= total)
            return got * IMAGE_SECTOR;
    }
    return size;
}

static int create_fixed(int fd, uint64_t size)
{
    uint8_t f[VHD_FOOTER_SIZE];
    make_footer(f, VHD_FIXED, size, VHD_NO_OFFSET);
    /* Every byte allocated, as "Fixed" promises; a file system without
     * fallocate gets a sparse file that reads the same. */
    int err = posix_fallocate(fd, 0, (off_t)size);
    if (err && err != EOPNOTSUPP && err != EINVAL) {
        image_error("allocating %llu bytes: %s", (unsigned long long)size, strerror(err));
        return -1;
    }
    int rc = image_pwrite(fd, f, VHD_FOOTER_SIZE, size);
    if (rc < 0) {
        image_error("writing the VHD footer: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

struct locator_plan {
    uint32_t code;
    char *path;
};

/* The parent's modification time stamp: its footer's when it is a VHD,
 * else its file's mtime. */
static uint32_t parent_time(struct image *parent)
{
    if (parent->fmt->open == vhd_open) {
        const struct vhd *pv = parent->priv;
        return (uint32_t)get_be(pv->footer + F_TIME, 4);
    }
    struct stat st;
    if (fstat(parent->fd, &st) == 0 && st.st_mtime > VHD_EPOCH)
        return (uint32_t)(st.st_mtime - VHD_EPOCH);
    return 0;
}

static int create_dynamic(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    uint64_t size = o->size;
    uint64_t entries = (size + VHD_DEFAULT_BLOCK - 1) / VHD_DEFAULT_BLOCK;
    if (entries * 4 > VHD_MAX_BAT_BYTES || size / IMAGE_SECTOR > UINT32_MAX) {
        image_error("VHD disks hold at most 2040 GiB");
        return -1;
    }
    uint64_t header_pos = VHD_FOOTER_SIZE;
    uint64_t bat_pos = header_pos + VHD_HEADER_SIZE;
    uint64_t bat_bytes = align_up(entries * 4, IMAGE_SECTOR);
    uint64_t end = bat_pos + bat_bytes;

    uint8_t f[VHD_FOOTER_SIZE], h[VHD_HEADER_SIZE];
    make_footer(f, parent ? VHD_DIFF : VHD_DYNAMIC, size, header_pos);
    memset(h, 0, sizeof h);
    memcpy(h + H_COOKIE, VHD_HEADER_COOKIE, 8);
    put_be(h + H_DATA_OFFSET, VHD_NO_OFFSET, 8);
    put_be(h + H_TABLE_OFFSET, bat_pos, 8);
    put_be(h + H_VERSION, VHD_VERSION, 4);
    put_be(h + H_MAX_ENTRIES, entries, 4);
    put_be(h + H_BLOCK_SIZE, VHD_DEFAULT_BLOCK, 4);

    struct locator_plan locs[2] = {{0, NULL}, {0, NULL}};
    if (parent) {
        struct image_info pi;
        memset(&pi, 0, sizeof pi);
        if (parent->fmt->info)
            parent->fmt->info(parent, &pi);
        if (pi.has_uuid)
            memcpy(h + H_PARENT_UUID, pi.uuid, 16);
        put_be(h + H_PARENT_TIME, parent_time(parent), 4);
        const char *base = strrchr(o->parent, '/');
        base = base ? base + 1 : o->parent;
        utf8_to_utf16(base, h + H_PARENT_NAME, H_PARENT_NAME_SIZE / 2, true);
        char abs[PATH_MAX];
        if (!realpath(o->parent, abs)) {
            image_error("parent %s: %s", o->parent, strerror(errno));
            return -1;
        }
        char *rel = image_path_relative(path, o->parent);
        locs[0] = (struct locator_plan){VHD_PLAT_W2RU, rel};
        locs[1] = (struct locator_plan){VHD_PLAT_W2KU, xstrdup(abs)};
    }
    int rc = 0;
    for (unsigned i = 0; i < 2 && locs[i].path; i++) {
        uint8_t data[VHD_LOCATOR_MAX];
        size_t units = utf8_to_utf16(locs[i].path, data, sizeof data / 2, false);
        uint32_t space = (uint32_t)align_up(units * 2, IMAGE_SECTOR);
        uint8_t *loc = h + H_LOCATORS + i * VHD_LOCATOR_SIZE;
        put_be(loc + L_CODE, locs[i].code, 4);
        put_be(loc + L_SPACE, space, 4);   /* bytes, as Virtual PC and Hyper-V write it */
        put_be(loc + L_LENGTH, units * 2, 4);
        put_be(loc + L_OFFSET, end, 8);
        if (rc == 0 && (rc = image_pwrite(fd, data, units * 2, end)) < 0)
            image_error("writing a VHD parent locator: %s", strerror(-rc));
        end += space;
    }
    free(locs[0].path);
    free(locs[1].path);
    if (rc < 0)
        return -1;
    seal(h, VHD_HEADER_SIZE, H_CHECKSUM);

    uint8_t *bat = xmalloc(bat_bytes);
    memset(bat, 0xff, bat_bytes);
    if ((rc = image_pwrite(fd, f, VHD_FOOTER_SIZE, 0)) < 0 ||
        (rc = image_pwrite(fd, h, VHD_HEADER_SIZE, header_pos)) < 0 ||
        (rc = image_pwrite(fd, bat, bat_bytes, bat_pos)) < 0 ||
        (rc = image_pwrite(fd, f, VHD_FOOTER_SIZE, end)) < 0)
        image_error("writing the VHD: %s", strerror(-rc));
    free(bat);
    return rc < 0 ? -1 : 0;
}

static int vhd_create(int fd, const char *path, const struct image_create_opts *o, struct image *parent)
{
    if (parent)
        return create_dynamic(fd, path, o, parent);
    struct image_create_opts opts = *o;
    opts.size = chs_round_up(o->size);
    if (o->variant == IMAGE_VARIANT_FIXED)
        return create_fixed(fd, opts.size);
    return create_dynamic(fd, path, &opts, NULL);
}

/* --- resize, info, check ------------------------------------------------------------- */

static void set_size(struct vhd *v, uint64_t size)
{
    put_be(v->footer + F_CUR_SIZE, size, 8);
    put_be(v->footer + F_GEOMETRY, chs_geometry(size / IMAGE_SECTOR), 4);
    seal(v->footer, VHD_FOOTER_SIZE, F_CHECKSUM);
}

/* Grows a disk. Fixed: the footer moves to the new end (written there
 * first), then its old place is zeroed. Dynamic: new BAT entries go into
 * the BAT's sector padding when they fit; otherwise the whole BAT moves to
 * the end of the file (written there, footer after it) and the header is
 * pointed at it last. */
static int vhd_resize(struct image *img, uint64_t new_size)
{
    struct vhd *v = img->priv;
    if (new_size < img->size) {
        image_error("VHD disks can only grow (from %llu to %llu bytes asked)",
                    (unsigned long long)img->size, (unsigned long long)new_size);
        return -1;
    }
    uint8_t old_footer[VHD_FOOTER_SIZE];
    memcpy(old_footer, v->footer, sizeof old_footer);
    int rc;
    if (v->type == VHD_FIXED) {
        set_size(v, new_size);
        if ((rc = write_footer(img, v, new_size)) < 0)
            goto undo;
        static const uint8_t zero[VHD_FOOTER_SIZE];
        if ((rc = image_pwrite(img->fd, zero, VHD_FOOTER_SIZE, v->footer_pos)) < 0) {
            io_error("zeroing the old VHD footer", v->footer_pos, rc);
            goto undo;
        }
        v->footer_pos = new_size;
        return 0;
    }
    uint64_t need = (new_size + v->block_size - 1) / v->block_size;
    if (need * 4 > VHD_MAX_BAT_BYTES || new_size / IMAGE_SECTOR > UINT32_MAX) {
        image_error("VHD disks hold at most 2040 GiB");
        return -1;
    }
    if (need > v->bat_entries) {
        uint32_t *bat = xmalloc(need * 4);
        memcpy(bat, v->bat, 4ull * v->bat_entries);
        for (uint64_t i = v->bat_entries; i < need; i++)
            bat[i] = VHD_BAT_UNUSED;
        uint64_t room = align_up(4ull * v->bat_entries, IMAGE_SECTOR) / 4;
        bool move = need > room;
        uint64_t from = move ? 0 : v->bat_entries;
        uint64_t at = move ? v->footer_pos : v->bat_pos;
        uint64_t bytes = align_up(4 * need, IMAGE_SECTOR);
        uint8_t *disk = xmalloc(bytes);
        memset(disk, 0xff, bytes);
        for (uint64_t i = 0; i < need; i++)
            put_be(disk + 4 * i, bat[i], 4);
        rc = 0;
        if (move && (rc = write_footer(img, v, at + bytes)) == 0)
            v->footer_pos = at + bytes;
        if (rc == 0 && (rc = image_pwrite(img->fd, disk + 4 * from, 4 * (need - from), at + 4 * from)) < 0)
            io_error("writing the VHD BAT", at, rc);
        free(disk);
        uint8_t h[VHD_HEADER_SIZE];
        memcpy(h, v->header, sizeof h);
        put_be(h + H_MAX_ENTRIES, need, 4);
        put_be(h + H_TABLE_OFFSET, at, 8);
        seal(h, VHD_HEADER_SIZE, H_CHECKSUM);
        if (rc == 0 && (rc = image_pwrite(img->fd, h, VHD_HEADER_SIZE, v->header_pos)) < 0)
            io_error("writing the VHD header", v->header_pos, rc);
        if (rc < 0) {
            free(bat);
            return -1;
        }
        memcpy(v->header, h, sizeof h);
        free(v->bat);
        v->bat = bat;
        uint8_t *full = xcalloc(need / 8 + 1, 1);
        memcpy(full, v->full, v->bat_entries / 8 + 1);
        free(v->full);
        v->full = full;
        v->bat_entries = (uint32_t)need;
        v->bat_pos = at;
    }
    set_size(v, new_size);
    if ((rc = write_footer(img, v, v->footer_pos)) < 0 || (rc = write_footer(img, v, 0)) < 0)
        goto undo;
    return 0;
undo:
    memcpy(v->footer, old_footer, sizeof old_footer);
    return -1;
}

static const char *type_name(unsigned t)
{
    return t == VHD_FIXED ? "fixed" : t == VHD_DYNAMIC ? "dynamic" : "differencing";
}

static void vhd_info(struct image *img, struct image_info *info)
{
    struct vhd *v = img->priv;
    info->variant = type_name(v->type);
    info->has_uuid = true;
    memcpy(info->uuid, v->footer + F_UUID, 16);
    if (v->type == VHD_DIFF) {
        static const uint8_t zero[16];
        info->has_parent_uuid = memcmp(v->header + H_PARENT_UUID, zero, 16) != 0;
        memcpy(info->parent_uuid, v->header + H_PARENT_UUID, 16);
    }
}

#define MAX_NOTES 100

static void note_f(image_note_fn note, void *opaque, int *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note_f(image_note_fn note, void *opaque, int *n, const char *fmt, ...)
{
    char line[256];
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

static int vhd_check(struct image *img, image_note_fn note, void *opaque)
{
    struct vhd *v = img->priv;
    int n = 0;
    uint64_t file_size;
    if (image_file_size(img->fd, &file_size) < 0)
        return -1;
    uint8_t tail[VHD_FOOTER_SIZE];
    if (v->footer_pos + VHD_FOOTER_SIZE > file_size ||
        image_pread(img->fd, tail, VHD_FOOTER_SIZE, v->footer_pos) < 0 || !footer_valid(tail))
        note_f(note, opaque, &n, "the footer at the end of the file is missing or damaged");
    uint64_t csize = chs_sectors((uint32_t)get_be(v->footer + F_GEOMETRY, 4)) * IMAGE_SECTOR;
    if (csize > img->size)
        note_f(note, opaque, &n, "CHS geometry gives %llu bytes, more than the disk's %llu",
               (unsigned long long)csize, (unsigned long long)img->size);
    if (v->type == VHD_FIXED)
        return n;
    uint8_t copy[VHD_FOOTER_SIZE];
    if (image_pread(img->fd, copy, VHD_FOOTER_SIZE, 0) < 0 || memcmp(copy, v->footer, VHD_FOOTER_SIZE) != 0)
        note_f(note, opaque, &n, "the footer's copy at offset 0 differs from the footer");
    /* Blocks: inside the file, past the BAT, not overlapping each other. */
    uint32_t *sorted = xmalloc(4ull * v->bat_entries + 4);
    uint32_t used = 0;
    uint64_t blk = v->bitmap_size + (uint64_t)v->block_size;
    for (uint32_t i = 0; i < v->bat_entries; i++) {
        if (v->bat[i] == VHD_BAT_UNUSED)
            continue;
        uint64_t pos = (uint64_t)v->bat[i] * IMAGE_SECTOR;
        if (i >= (img->size + v->block_size - 1) / v->block_size)
            note_f(note, opaque, &n, "BAT entry %u is past the end of the disk", i);
        if (overlaps_metadata(v, pos))
            note_f(note, opaque, &n, "block %u at %llu overlaps the headers or the BAT", i, (unsigned long long)pos);
        else if (pos + blk > v->footer_pos)
            note_f(note, opaque, &n, "block %u at %llu reaches past the footer at %llu", i,
                   (unsigned long long)pos, (unsigned long long)v->footer_pos);
        sorted[used++] = v->bat[i];
    }
    qsort(sorted, used, 4, cmp_u32);
    for (uint32_t i = 1; i < used; i++)
        if ((uint64_t)(sorted[i] - sorted[i - 1]) * IMAGE_SECTOR < blk)
            note_f(note, opaque, &n, "blocks at sectors %u and %u overlap", sorted[i - 1], sorted[i]);
    free(sorted);
    return n;
}

static const image_format vhd_format = {
    .name = "vhd",
    .probe = vhd_probe,
    .probe_tail = vhd_probe_tail,
    .open = vhd_open,
    .close = vhd_close,
    .read = vhd_read,
    .write = vhd_write,
    .map = vhd_map,
    .create = vhd_create,
    .resize = vhd_resize,
    .info = vhd_info,
    .check = vhd_check,
};
IMAGE_FORMAT_REGISTER(vhd_format);
