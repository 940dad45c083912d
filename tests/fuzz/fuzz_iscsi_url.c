/* Fuzz target for the iSCSI URL check (blk_iscsi_url_error() in
 * src/drivers/blk_iscsi_url.c): any string is answered without a crash, and
 * a URL it accepts is one libiscsi's own parser takes, with a LUN from 0
 * to 255 and a target name. The first byte's low bit prefixes "iscsi://"
 * so that most inputs reach past the scheme. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>

#include "drivers/blk_backend.h"

#define URL_MAX 400

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct iscsi_context *ctx;
    if (!ctx && !(ctx = iscsi_create_context("iqn.2026-12.org.caixa:fuzz")))
        __builtin_trap();
    if (size < 1)
        return 0;
    char url[URL_MAX + 16] = "";
    if (data[0] & 1)
        strcpy(url, "iscsi://");
    size_t n = size - 1 < URL_MAX ? size - 1 : URL_MAX;
    size_t at = strlen(url);
    memcpy(url + at, data + 1, n);
    url[at + n] = 0;
    if (blk_iscsi_url_error(url))
        return 0;
    struct iscsi_url *u = iscsi_parse_full_url(ctx, url);
    if (!u || u->lun < 0 || u->lun > 255 || !u->portal[0] || !u->target[0])
        __builtin_trap();
    iscsi_destroy_url(u);
    return 0;
}
