/* The VMDK text descriptor (VMware Virtual Disk Format 1.1, section 3
 * "The Descriptor File"): parsing and writing. Private to vmdk.c. */
#ifndef CAIXA_STORAGE_VMDK_DESC_H
#define CAIXA_STORAGE_VMDK_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A descriptor longer than this is not a descriptor (real ones are a few
 * KiB; a 2 TiB twoGbMaxExtent disk lists ~1000 extents). */
#define VMDK_DESC_MAX (1u << 20)
#define VMDK_MAX_EXTENTS 512u
/* "CID" / "parentCID": no parent. */
#define VMDK_CID_NONE 0xffffffffu

enum vmdk_access { VMDK_RW, VMDK_RDONLY, VMDK_NOACCESS };
enum vmdk_ext_type { VMDK_EXT_FLAT, VMDK_EXT_SPARSE, VMDK_EXT_ZERO };

struct vmdk_desc_extent {
    enum vmdk_access access;
    uint64_t sectors;
    enum vmdk_ext_type type;
    char *file;               /* NULL for ZERO */
    uint64_t offset;          /* FLAT: first sector in the file */
};

struct vmdk_desc {
    uint32_t cid, parent_cid;
    size_t cid_at;            /* byte offset of CID's 8 hex digits in the text, or 0 */
    char create_type[64];
    char *parent_hint;        /* parentFileNameHint, or NULL */
    bool has_uuid, has_parent_uuid;
    uint8_t uuid[16], parent_uuid[16];
    unsigned n_extents;
    struct vmdk_desc_extent *extents;
};

/* Parses len bytes of text (NUL bytes end it). -1 after image_error(). */
int vmdk_desc_parse(const char *text, size_t len, struct vmdk_desc *d);
void vmdk_desc_free(struct vmdk_desc *d);

/* A new descriptor: createType, one extent line, CID, parent (parent_hint
 * NULL: none), geometry and UUIDs. malloc'd NUL-terminated text. */
struct vmdk_desc_new {
    const char *create_type;
    const char *extent_type;  /* "SPARSE" or "FLAT" */
    const char *extent_file;  /* as the descriptor names it */
    uint64_t sectors;
    uint32_t cid, parent_cid;
    const char *parent_hint;
    const uint8_t *uuid, *parent_uuid;   /* 16 bytes, or NULL */
};
char *vmdk_desc_format(const struct vmdk_desc_new *n);

#endif
