/* The bzImage setup header (Linux Documentation/arch/x86/boot.rst, "The
 * real-mode kernel header"): what a boot loader must check before it loads
 * a kernel. The file is outside input: every offset is bounds-checked. */
#include <stdio.h>
#include <string.h>

#include "firmware/linux_boot.h"
#include "runtime/util.h"

/* Offsets in the file (= in boot_params, whose header copy sits at 0x1F1). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe         /* 0xAA55 */
#define HDR_JUMP_END 0x201          /* header length = 0x202 + this byte - 0x1f1 */
#define HDR_MAGIC 0x202             /* "HdrS" */
#define HDR_VERSION 0x206
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_RELOCATABLE 0x234
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MIN 0x264           /* end of the fields protocol 2.10 has */

#define BOOT_FLAG 0xaa55
#define HDR_MAGIC_VALUE 0x53726448  /* "HdrS" little-endian */
#define LOADED_HIGH 0x01            /* loadflags bit 0: a bzImage, loaded at 1 MiB */
/* 2.10 (Linux 2.6.31) brings pref_address and init_size, which this loader
 * needs to place the initrd clear of the decompressed kernel. */
#define MIN_PROTOCOL 0x020a
#define SECTOR 512
#define DEFAULT_SETUP_SECTS 4       /* setup_sects 0 means 4 */

int linux_image_parse(const uint8_t *img, size_t len, struct linux_image *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len < HDR_END_MIN || get_le(img + HDR_BOOT_FLAG, 2) != BOOT_FLAG ||
        get_le(img + HDR_MAGIC, 4) != HDR_MAGIC_VALUE) {
        snprintf(why, why_len, "not a Linux bzImage (no x86 boot header)");
        return -1;
    }
    out->version = (uint16_t)get_le(img + HDR_VERSION, 2);
    if (out->version < MIN_PROTOCOL) {
        snprintf(why, why_len, "boot protocol %u.%02u is older than 2.10 (Linux 2.6.31); not supported",
                 out->version >> 8, out->version & 0xff);
        return -1;
    }
    out->hdr_end = 0x202u + img[HDR_JUMP_END];
    if (out->hdr_end < HDR_END_MIN) {
        snprintf(why, why_len, "setup header too short for boot protocol %u.%02u", out->version >> 8,
                 out->version & 0xff);
        return -1;
    }
    if (!(img[HDR_LOADFLAGS] & LOADED_HIGH)) {
        snprintf(why, why_len, "a zImage (loaded low); only bzImage kernels are supported");
        return -1;
    }
    unsigned sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : DEFAULT_SETUP_SECTS;
    out->setup_size = (size_t)(sects + 1) * SECTOR;
    if (out->setup_size >= len) {
        snprintf(why, why_len, "truncated: %zu bytes, setup alone claims %zu", len, out->setup_size);
        return -1;
    }
    out->pm = img + out->setup_size;
    out->pm_size = len - out->setup_size;
    out->code32_start = (uint32_t)get_le(img + HDR_CODE32_START, 4);
    out->initrd_addr_max = (uint32_t)get_le(img + HDR_INITRD_ADDR_MAX, 4);
    out->cmdline_size = (uint32_t)get_le(img + HDR_CMDLINE_SIZE, 4);
    out->pref_address = get_le(img + HDR_PREF_ADDRESS, 8);
    out->init_size = (uint32_t)get_le(img + HDR_INIT_SIZE, 4);
    out->relocatable = img[HDR_RELOCATABLE] != 0;
    if (out->code32_start < 0x100000u || (uint64_t)out->code32_start + out->pm_size > 0xffffffffull) {
        snprintf(why, why_len, "kernel load address 0x%x is not usable", out->code32_start);
        return -1;
    }
    if (out->init_size < out->pm_size || out->pref_address >= 0x100000000ull) {
        snprintf(why, why_len, "setup header is inconsistent (init_size %u, image %zu bytes)", out->init_size,
                 out->pm_size);
        return -1;
    }
    return 0;
}
