/* The VMDK text descriptor (VMware Virtual Disk Format 1.1, section 3):
 * "key = value" lines (version, CID, parentCID, createType,
 * parentFileNameHint, ddb.*), and extent lines
 *     ACCESS SECTORS TYPE ["FILE" [OFFSET]]
 * with ACCESS one of RW, RDONLY, NOACCESS and TYPE one of FLAT, SPARSE,
 * ZERO, VMFS (a flat extent on ESX). Comments start with '#'. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/util.h"
#include "storage/format.h"
#include "storage/vmdk_desc.h"

static const struct {
    const char *word;
    enum vmdk_access access;
} access_words[] = {{"RW", VMDK_RW}, {"RDONLY", VMDK_RDONLY}, {"NOACCESS", VMDK_NOACCESS}};

static const struct {
    const char *word;
    enum vmdk_ext_type type;
} type_words[] = {{"FLAT", VMDK_EXT_FLAT}, {"VMFS", VMDK_EXT_FLAT}, {"SPARSE", VMDK_EXT_SPARSE},
                  {"ZERO", VMDK_EXT_ZERO}};

static char *skip_ws(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The next whitespace-separated word of *p, NUL-terminated in place. */
static char *word(char **p)
{
    char *s = skip_ws(*p), *e = s;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    if (*e)
        *e++ = '\0';
    *p = e;
    return s;
}

static bool parse_dec(const char *s, uint64_t *v)
{
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t x = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return *s == '\0';
}

/* 32 hex digits, with any '-' or ' ' between them. */
static bool parse_uuid(const char *s, uint8_t out[16])
{
    unsigned n = 0;
    for (; *s; s++) {
        if (*s == '-' || *s == ' ')
            continue;
        if (!isxdigit((unsigned char)*s) || n == 32)
            return false;
        unsigned d = (unsigned)(isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10));
        out[n / 2] = (uint8_t)(n % 2 ? out[n / 2] | d : d << 4);
        n++;
    }
    return n == 32;
}

static bool parse_hex32(const char *s, uint32_t *v)
{
    if (!*s || strlen(s) > 8)
        return false;
    char *end;
    unsigned long x = strtoul(s, &end, 16);
    if (*end || !isxdigit((unsigned char)*s))
        return false;
    *v = (uint32_t)x;
    return true;
}

static int parse_extent(char *line, struct vmdk_desc *d, unsigned lineno)
{
    char *p = line;
    const char *acc = word(&p), *sec = word(&p), *typ = word(&p);
    struct vmdk_desc_extent e = {0};
    size_t i;
    for (i = 0; i < ARRAY_SIZE(access_words) && strcmp(acc, access_words[i].word); i++)
        ;
    e.access = access_words[i].access;
    if (!parse_dec(sec, &e.sectors) || e.sectors == 0) {
        image_error("VMDK descriptor line %u: extent size '%s' is not a number of sectors", lineno, sec);
        return -1;
    }
    for (i = 0; i < ARRAY_SIZE(type_words) && strcmp(typ, type_words[i].word); i++)
        ;
    if (i == ARRAY_SIZE(type_words)) {
        image_error("VMDK descriptor line %u: extent type '%s' is not supported (FLAT, SPARSE, ZERO)", lineno, typ);
        return -1;
    }
    e.type = type_words[i].type;
    p = skip_ws(p);
    if (e.type != VMDK_EXT_ZERO) {
        char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!end || end == p + 1) {
            image_error("VMDK descriptor line %u: extent without a quoted file name", lineno);
            return -1;
        }
        *end = '\0';
        e.file = xstrdup(p + 1);
        p = end + 1;
        const char *off = word(&p);
        if (*off && !parse_dec(off, &e.offset)) {
            image_error("VMDK descriptor line %u: extent offset '%s' is not a number", lineno, off);
            free(e.file);
            return -1;
        }
    }
    if (d->n_extents == VMDK_MAX_EXTENTS) {
        image_error("VMDK descriptor lists more than %u extents", VMDK_MAX_EXTENTS);
        free(e.file);
        return -1;
    }
    if (d->n_extents % 16 == 0) {
        struct vmdk_desc_extent *n = xmalloc((d->n_extents + 16) * sizeof *n);
        if (d->n_extents)
            memcpy(n, d->extents, d->n_extents * sizeof *n);
        free(d->extents);
        d->extents = n;
    }
    d->extents[d->n_extents++] = e;
    return 0;
}

static void parse_pair(char *line, size_t line_at, struct vmdk_desc *d)
{
    char *eq = strchr(line, '=');
    char *k = line, *ke = eq;
    while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
        ke--;
    *ke = '\0';
    char *v = skip_ws(eq + 1);
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = '\0';
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        v[vl - 1] = '\0';
        v++;
    }
    if (strcmp(k, "CID") == 0) {
        if (parse_hex32(v, &d->cid) && strlen(v) == 8)
            d->cid_at = line_at + (size_t)(v - line);
    } else if (strcmp(k, "parentCID") == 0) {
        parse_hex32(v, &d->parent_cid);
    } else if (strcmp(k, "createType") == 0) {
        snprintf(d->create_type, sizeof d->create_type, "%s", v);
    } else if (strcmp(k, "parentFileNameHint") == 0 && *v) {
        free(d->parent_hint);
        d->parent_hint = xstrdup(v);
    } else if (strcmp(k, "ddb.uuid.image") == 0) {
        d->has_uuid = parse_uuid(v, d->uuid);
    } else if (strcmp(k, "ddb.uuid.parent") == 0) {
        d->has_parent_uuid = parse_uuid(v, d->parent_uuid);
    }
}

int vmdk_desc_parse(const char *text, size_t len, struct vmdk_desc *d)
{
    memset(d, 0, sizeof *d);
    d->cid = d->parent_cid = VMDK_CID_NONE;
    const char *nul = memchr(text, '\0', len);
    if (nul)
        len = (size_t)(nul - text);
    if (len > VMDK_DESC_MAX) {
        image_error("VMDK descriptor of %zu bytes is too long", len);
        return -1;
    }
    char *buf = xmalloc(len + 1);
    memcpy(buf, text, len);
    buf[len] = '\0';
    unsigned lineno = 0;
    int rc = 0;
    for (char *line = buf; line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[ll - 1] = '\0';
        size_t line_at = (size_t)(line - buf);
        char *s = skip_ws(line);
        if (*s && *s != '#') {
            bool is_extent = false;
            for (size_t i = 0; i < ARRAY_SIZE(access_words); i++) {
                size_t n = strlen(access_words[i].word);
                if (strncmp(s, access_words[i].word, n) == 0 && (s[n] == ' ' || s[n] == '\t'))
                    is_extent = true;
            }
            if (is_extent)
                rc = parse_extent(s, d, lineno);
            else if (strchr(s, '='))
                parse_pair(s, line_at + (size_t)(s - line), d);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    if (rc < 0)
        vmdk_desc_free(d);
    return rc;
}

void vmdk_desc_free(struct vmdk_desc *d)
{
    for (unsigned i = 0; i < d->n_extents; i++)
        free(d->extents[i].file);
    free(d->extents);
    free(d->parent_hint);
    memset(d, 0, sizeof *d);
}

static void uuid_str(char out[37], const uint8_t u[16])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
             u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* ddb.geometry for an IDE disk: 16 heads, 63 sectors, cylinders up to the
 * ATA limit of 16383. */
#define VMDK_GEO_HEADS 16u
#define VMDK_GEO_SECTORS 63u
#define VMDK_GEO_MAX_CYL 16383u

char *vmdk_desc_format(const struct vmdk_desc_new *n)
{
    uint64_t cyl = n->sectors / (VMDK_GEO_HEADS * VMDK_GEO_SECTORS);
    if (cyl > VMDK_GEO_MAX_CYL)
        cyl = VMDK_GEO_MAX_CYL;
    char parent[PATH_MAX + 64];
    parent[0] = '\0';
    if (n->parent_hint)
        snprintf(parent, sizeof parent, "parentFileNameHint=\"%s\"\n", n->parent_hint);
    char uuids[128] = "", u[37];
    if (n->uuid) {
        uuid_str(u, n->uuid);
        snprintf(uuids, sizeof uuids, "ddb.uuid.image = \"%s\"\n", u);
    }
    if (n->parent_uuid) {
        uuid_str(u, n->parent_uuid);
        size_t l = strlen(uuids);
        snprintf(uuids + l, sizeof uuids - l, "ddb.uuid.parent = \"%s\"\n", u);
    }
    size_t cap = 1024 + strlen(n->extent_file) + sizeof parent;
    char *out = xmalloc(cap);
    snprintf(out, cap,
             "# Disk DescriptorFile\n"
             "version=1\n"
             "CID=%08" PRIx32 "\n"
             "parentCID=%08" PRIx32 "\n"
             "createType=\"%s\"\n"
             "%s"
             "\n"
             "# Extent description\n"
             "RW %" PRIu64 " %s \"%s\"%s\n"
             "\n"
             "# The Disk Data Base\n"
             "#DDB\n"
             "\n"
             "ddb.virtualHWVersion = \"4\"\n"
             "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
             "ddb.geometry.heads = \"%u\"\n"
             "ddb.geometry.sectors = \"%u\"\n"
             "ddb.adapterType = \"ide\"\n"
             "%s",
             n->cid, n->parent_cid, n->create_type, parent, n->sectors, n->extent_type, n->extent_file,
             strcmp(n->extent_type, "FLAT") == 0 ? " 0" : "", cyl, VMDK_GEO_HEADS, VMDK_GEO_SECTORS, uuids);
    return out;
}
