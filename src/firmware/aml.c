/* AML encoder: byte encodings from ACPI 6.4 chapter 20 (20.2 grammar). */
#include "firmware/aml.h"

#include <stdlib.h>
#include <string.h>

/* Opcodes (20.3 table 20.x "AML byte stream byte values"). */
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0A
#define AML_WORD_PREFIX 0x0B
#define AML_DWORD_PREFIX 0x0C
#define AML_STRING_PREFIX 0x0D
#define AML_QWORD_PREFIX 0x0E
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2E
#define AML_MULTI_NAME_PREFIX 0x2F
#define AML_EXT_OP_PREFIX 0x5B
#define AML_DEVICE_OP 0x82          /* after ExtOpPrefix */
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_PREFIX '^'
#define AML_RETURN_OP 0xA4
#define AML_NULL_NAME 0x00

#define NAMESEG_LEN 4
#define MAX_SEGMENTS 255
/* PkgLength (20.2.4): one byte holds 0..63; n bytes hold 4 + 8 * (n - 1) bits. */
#define PKGLEN_MAX ((1u << 28) - 1)
#define METHOD_SERIALIZED 0x08

/* Resource descriptor tags (6.4.2 small, 6.4.3 large). */
#define RES_SMALL_IRQ 0x22          /* type 4, length 2 */
#define RES_SMALL_IO 0x47           /* type 8, length 7 */
#define RES_SMALL_END 0x79          /* type 0xF, length 1 */
#define RES_LARGE_MEM32_FIXED 0x86
#define RES_LARGE_DWORD_ADDR 0x87
#define RES_LARGE_WORD_ADDR 0x88
#define RES_LARGE_QWORD_ADDR 0x8A
#define RES_IO_DECODE16 0x01
#define RES_ADDR_TYPE_MEM 0
#define RES_ADDR_TYPE_IO 1
#define RES_ADDR_TYPE_BUS 2
/* General flags (6.4.3.5): producer, positive decode, MIF, MAF. */
#define RES_ADDR_MIN_FIXED 0x04
#define RES_ADDR_MAX_FIXED 0x08
#define RES_MEM_RW 0x01
#define RES_IO_ENTIRE_RANGE 0x03

void aml_init(struct aml *a)
{
    memset(a, 0, sizeof *a);
}

void aml_free(struct aml *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}

bool aml_ok(const struct aml *a)
{
    return !a->failed && a->depth == 0;
}

static bool reserve(struct aml *a, size_t n)
{
    if (a->failed)
        return false;
    if (a->len + n <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 1024;
    while (cap < a->len + n)
        cap *= 2;
    uint8_t *p = realloc(a->buf, cap);
    if (!p) {
        a->failed = true;
        return false;
    }
    a->buf = p;
    a->cap = cap;
    return true;
}

static void put(struct aml *a, const void *data, size_t n)
{
    if (!reserve(a, n))
        return;
    memcpy(a->buf + a->len, data, n);
    a->len += n;
}

static void put8(struct aml *a, uint8_t b)
{
    put(a, &b, 1);
}

static void put_le(struct aml *a, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        put8(a, (uint8_t)(v >> (8 * i)));
}

static bool lead_char(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return lead_char(c) || (c >= '0' && c <= '9');
}

/* NameString (20.2.2): prefixes, then NullName, a NameSeg, DualNamePath or
 * MultiNamePath. */
static void put_namestring(struct aml *a, const char *path)
{
    const char *p = path;
    if (*p == AML_ROOT_CHAR) {
        put8(a, AML_ROOT_CHAR);
        p++;
    } else {
        while (*p == AML_PARENT_PREFIX) {
            put8(a, AML_PARENT_PREFIX);
            p++;
        }
    }
    char segs[MAX_SEGMENTS][NAMESEG_LEN];
    unsigned n = 0;
    while (*p) {
        if (n == MAX_SEGMENTS || !lead_char(*p)) {
            a->failed = true;
            return;
        }
        unsigned k = 0;
        while (p[k] && p[k] != '.') {
            if (k == NAMESEG_LEN || !name_char(p[k])) {
                a->failed = true;
                return;
            }
            segs[n][k] = p[k];
            k++;
        }
        for (unsigned j = k; j < NAMESEG_LEN; j++)
            segs[n][j] = '_';
        n++;
        p += k;
        if (*p == '.') {
            p++;
            if (!*p) {
                a->failed = true;
                return;
            }
        }
    }
    if (n == 0) {
        put8(a, AML_NULL_NAME);
        return;
    }
    if (n == 2)
        put8(a, AML_DUAL_NAME_PREFIX);
    else if (n > 2) {
        put8(a, AML_MULTI_NAME_PREFIX);
        put8(a, (uint8_t)n);
    }
    put(a, segs, (size_t)n * NAMESEG_LEN);
}

/* Marks where a PkgLength goes; aml_end() inserts it there. */
static void open_pkg(struct aml *a)
{
    if (a->depth == AML_MAX_NEST) {
        a->failed = true;
        return;
    }
    a->open[a->depth++] = a->len;
}

void aml_end(struct aml *a)
{
    if (a->depth == 0) {
        a->failed = true;
        return;
    }
    size_t at = a->open[--a->depth];
    if (a->failed)
        return;
    size_t body = a->len - at;
    unsigned n = 1;
    /* The length counts its own bytes. */
    while (n < 4 && body + n > (n == 1 ? 63u : (1u << (4 + 8 * (n - 1))) - 1))
        n++;
    size_t total = body + n;
    if (total > PKGLEN_MAX || !reserve(a, n)) {
        a->failed = true;
        return;
    }
    memmove(a->buf + at + n, a->buf + at, body);
    a->len += n;
    uint8_t *p = a->buf + at;
    if (n == 1) {
        p[0] = (uint8_t)total;
        return;
    }
    p[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
    for (unsigned i = 1; i < n; i++)
        p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
}

void aml_scope(struct aml *a, const char *path)
{
    put8(a, AML_SCOPE_OP);
    open_pkg(a);
    put_namestring(a, path);
}

void aml_device(struct aml *a, const char *name)
{
    put8(a, AML_EXT_OP_PREFIX);
    put8(a, AML_DEVICE_OP);
    open_pkg(a);
    put_namestring(a, name);
}

void aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
    if (nargs > 7)
        a->failed = true;
    put8(a, AML_METHOD_OP);
    open_pkg(a);
    put_namestring(a, name);
    put8(a, (uint8_t)((nargs & 7) | (serialized ? METHOD_SERIALIZED : 0)));
}

void aml_package(struct aml *a, unsigned nelems)
{
    if (nelems > 255)
        a->failed = true;
    put8(a, AML_PACKAGE_OP);
    open_pkg(a);
    put8(a, (uint8_t)nelems);
}

void aml_name(struct aml *a, const char *name)
{
    put8(a, AML_NAME_OP);
    put_namestring(a, name);
}

void aml_return(struct aml *a)
{
    put8(a, AML_RETURN_OP);
}

void aml_int(struct aml *a, uint64_t v)
{
    if (v == 0)
        put8(a, AML_ZERO);
    else if (v == 1)
        put8(a, AML_ONE);
    else if (v <= 0xFF) {
        put8(a, AML_BYTE_PREFIX);
        put_le(a, v, 1);
    } else if (v <= 0xFFFF) {
        put8(a, AML_WORD_PREFIX);
        put_le(a, v, 2);
    } else if (v <= 0xFFFFFFFFu) {
        put8(a, AML_DWORD_PREFIX);
        put_le(a, v, 4);
    } else {
        put8(a, AML_QWORD_PREFIX);
        put_le(a, v, 8);
    }
}

void aml_string(struct aml *a, const char *s)
{
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c > 0x7F)
            a->failed = true;
    put8(a, AML_STRING_PREFIX);
    put(a, s, strlen(s) + 1);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Three letters in 5 bits each ('A' = 1), then four hex digits, stored as
 * a big-endian 32-bit value in the byte stream. */
void aml_eisaid(struct aml *a, const char *id)
{
    if (strlen(id) != 7) {
        a->failed = true;
        return;
    }
    uint32_t v = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z') {
            a->failed = true;
            return;
        }
        v = (v << 5) | (uint32_t)(id[i] - 'A' + 1);
    }
    for (int i = 3; i < 7; i++) {
        int h = hexval(id[i]);
        if (h < 0) {
            a->failed = true;
            return;
        }
        v = (v << 4) | (uint32_t)h;
    }
    uint32_t swapped = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
    aml_int(a, swapped);              /* shortest form, as iasl emits it */
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
    put8(a, AML_BUFFER_OP);
    open_pkg(a);
    aml_int(a, len);
    put(a, data, len);
    aml_end(a);
}

void aml_namepath(struct aml *a, const char *path)
{
    put_namestring(a, path);
}

void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
    aml_name(a, name);
    aml_int(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
    aml_name(a, name);
    aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
    aml_name(a, name);
    aml_eisaid(a, id);
}

/* --- resource templates ------------------------------------------------- */

void aml_res_init(struct aml_res *r)
{
    memset(r, 0, sizeof *r);
}

static void res_put_le(struct aml_res *r, uint64_t v, unsigned bytes)
{
    if (r->len + bytes > AML_RES_MAX) {
        r->failed = true;
        return;
    }
    for (unsigned i = 0; i < bytes; i++)
        r->b[r->len++] = (uint8_t)(v >> (8 * i));
}

void aml_res_io(struct aml_res *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    res_put_le(r, RES_SMALL_IO, 1);
    res_put_le(r, RES_IO_DECODE16, 1);
    res_put_le(r, min, 2);
    res_put_le(r, max, 2);
    res_put_le(r, align, 1);
    res_put_le(r, len, 1);
}

void aml_res_irq(struct aml_res *r, unsigned irq)
{
    if (irq > 15) {
        r->failed = true;
        return;
    }
    res_put_le(r, RES_SMALL_IRQ, 1);
    res_put_le(r, 1u << irq, 2);
}

void aml_res_mem32_fixed(struct aml_res *r, bool rw, uint32_t base, uint32_t len)
{
    res_put_le(r, RES_LARGE_MEM32_FIXED, 1);
    res_put_le(r, 9, 2);
    res_put_le(r, rw ? RES_MEM_RW : 0, 1);
    res_put_le(r, base, 4);
    res_put_le(r, len, 4);
}

/* Address space descriptors share one layout with fields of `w` bytes:
 * type, general flags, type-specific flags, granularity, min, max,
 * translation offset, length. */
static void res_addr(struct aml_res *r, uint8_t tag, unsigned w, uint8_t type, uint8_t tflags,
                     uint64_t min, uint64_t max)
{
    if (max < min) {
        r->failed = true;
        return;
    }
    res_put_le(r, tag, 1);
    res_put_le(r, 3 + 5 * w, 2);
    res_put_le(r, type, 1);
    res_put_le(r, RES_ADDR_MIN_FIXED | RES_ADDR_MAX_FIXED, 1);
    res_put_le(r, tflags, 1);
    res_put_le(r, 0, w);                /* granularity: no alignment rule */
    res_put_le(r, min, w);
    res_put_le(r, max, w);
    res_put_le(r, 0, w);                /* translation offset */
    res_put_le(r, max - min + 1, w);
}

void aml_res_word_bus(struct aml_res *r, uint16_t min, uint16_t max)
{
    res_addr(r, RES_LARGE_WORD_ADDR, 2, RES_ADDR_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml_res *r, uint16_t min, uint16_t max)
{
    res_addr(r, RES_LARGE_WORD_ADDR, 2, RES_ADDR_TYPE_IO, RES_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_mem(struct aml_res *r, unsigned attr, uint32_t min, uint32_t max)
{
    res_addr(r, RES_LARGE_DWORD_ADDR, 4, RES_ADDR_TYPE_MEM, (uint8_t)(RES_MEM_RW | (attr & 3) << 1),
             min, max);
}

void aml_res_qword_mem(struct aml_res *r, unsigned attr, uint64_t min, uint64_t max)
{
    res_addr(r, RES_LARGE_QWORD_ADDR, 8, RES_ADDR_TYPE_MEM, (uint8_t)(RES_MEM_RW | (attr & 3) << 1),
             min, max);
}

void aml_res_emit(struct aml *a, struct aml_res *r)
{
    /* End tag with checksum 0: "treated as if the checksum is correct". */
    res_put_le(r, RES_SMALL_END, 1);
    res_put_le(r, 0, 1);
    if (r->failed) {
        a->failed = true;
        return;
    }
    aml_buffer(a, r->b, r->len);
}
