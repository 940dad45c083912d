/* A drive's medium as an iSCSI LUN, through libiscsi: the built-in
 * initiator (VirtualBox's ISCSI media driver). Synchronous SCSI block
 * commands on the drive's I/O thread: READ/WRITE(16), SYNCHRONIZE
 * CACHE(16), UNMAP. A target block size above 512 bytes is hidden by
 * read-modify-write of the partial blocks at a request's ends. A dropped
 * connection is re-established by libiscsi (a few tries), else the request
 * fails with -EIO and the next one starts a fresh session. The URL is
 * checked first (blk_iscsi_url.c).
 *
 * References: RFC 7143 (iSCSI), SPC-4 (T10/BSR INCITS 513) for INQUIRY,
 * MODE SENSE and sense data, SBC-3 (T10/BSR INCITS 514) for the block
 * commands and the Block Limits and Logical Block Provisioning VPD pages. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "drivers/blk_backend.h"
#include "runtime/log.h"
#include "runtime/util.h"

#define ISCSI_URL_PREFIX "iscsi://"
#define ISCSI_INITIATOR_NAME "iqn.2026-12.org.caixa:initiator"
#define ISCSI_TASK_TIMEOUT_S 30     /* a command the target never answers fails then */
#define ISCSI_RECONNECT_TRIES 3     /* libiscsi's tries (backoff 1, 2, 3 s) before a request fails */
#define ISCSI_TCP_SYN_RETRIES 3     /* a silent host fails a connect in ~15 s, not minutes */
#define ISCSI_MAX_CHUNK (1u << 20)  /* bytes per READ/WRITE when the target allows more */
#define ISCSI_UA_RETRIES 4          /* UNIT ATTENTIONs (reset, capacity change) swallowed per command */
#define ISCSI_MAX_BLOCK 4096u       /* the largest logical block read-modify-write hides */
#define ISCSI_UNMAP_DESCS 64        /* descriptors per UNMAP when the target allows more */
#define ISCSI_LOG_ERRORS 1          /* libiscsi's log level: errors only */
#define ISCSI_POLL_MS 1000          /* libiscsi counts timeouts and reconnect delays when serviced */

/* SPC-4 6.4.2: peripheral device types of the standard INQUIRY data. */
#define SCSI_TYPE_DISK 0x00
#define SCSI_TYPE_MMC 0x05
/* SBC-3 6.4.1: WP in the device-specific parameter of the mode parameter header. */
#define SBC_DSP_WP 0x80
/* SPC-4 7.5.6: the MODE SENSE page code for all pages. */
#define SCSI_MODEPAGE_ALL 0x3f
#define SCSI_MODE_SENSE6_ALLOC 255
#define SCSI_INQUIRY_ALLOC 255

/* What a command's callback leaves: in the backend, never on a stack
 * (a context destroyed later may still call back). */
struct iscsi_wait {
    bool done;
    bool is_task;                     /* data is a struct scsi_task to free */
    int status;
    void *data;
    struct scsi_iovec iov;            /* the buffer of a READ/WRITE */
    char error[160];                  /* libiscsi's message when it failed (it may overwrite it) */
};

struct blk_iscsi {
    struct blk_backend be;
    struct iscsi_context *ctx;        /* NULL: the session was lost; the next request opens one */
    char *url;                        /* as given: for a fresh session (holds CHAP secrets) */
    char *name;                       /* iscsi://PORTAL/TARGET/LUN, for messages */
    int lun;
    bool mmc;                         /* a CD/DVD drive (SPC-4 device type 5) */
    uint32_t block;                   /* the target's logical block size */
    uint64_t blocks;
    uint32_t max_xfer;                /* bytes per READ/WRITE, a multiple of block */
    bool unmap;                       /* SBC-3 5.29: the target does UNMAP */
    uint32_t max_unmap;               /* blocks per UNMAP (0: no limit) */
    uint32_t max_unmap_descs;
    uint8_t *bounce;                  /* one logical block, for the partial ones */
    struct iscsi_wait wait;           /* of the command in flight */
};

static struct blk_iscsi *bi_of(struct blk_backend *be)
{
    return (struct blk_iscsi *)be;
}

/* --- commands ------------------------------------------------------------------ */

static void first_line(char *dst, size_t size, const char *msg)
{
    snprintf(dst, size, "%.*s", (int)strcspn(msg ? msg : "", "\n"), msg ? msg : "");
}

/* libiscsi's first error message on this thread since wait_done()
 * started: when a session fails, iscsi_get_error() holds only the last
 * one, often a "cannot reconnect". */
static _Thread_local char first_libiscsi_error[160];

static void libiscsi_log(int level, const char *msg)
{
    if (level <= ISCSI_LOG_ERRORS && !first_libiscsi_error[0])
        first_line(first_libiscsi_error, sizeof first_libiscsi_error, msg);
    log_msg(LOG_DEBUG, "libiscsi", "%s", msg);
}

static void wait_cb(struct iscsi_context *ctx, int status, void *data, void *opaque)
{
    struct iscsi_wait *w = opaque;
    w->done = true;
    w->status = status;
    w->data = data;
    if (status != SCSI_STATUS_GOOD)
        first_line(w->error, sizeof w->error, iscsi_get_error(ctx));
}

/* Services the session until w's callback ran: 0, or -1 when libiscsi
 * gave up (then the caller destroys the context, which cancels what is
 * pending through wait_cb). libiscsi's own *_sync calls are not used: when
 * they give up, the pending callback still points at their dead stack frame. */
static int wait_done(struct iscsi_context *ctx, struct iscsi_wait *w)
{
    first_libiscsi_error[0] = 0;
    while (!w->done) {
        struct pollfd p = {.fd = iscsi_get_fd(ctx), .events = (short)iscsi_which_events(ctx)};
        int n = poll(&p, 1, ISCSI_POLL_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || iscsi_service(ctx, n > 0 ? p.revents : 0) < 0) {
            if (!w->error[0])
                first_line(w->error, sizeof w->error,
                       first_libiscsi_error[0] ? first_libiscsi_error : iscsi_get_error(ctx));
            return -1;
        }
    }
    return 0;
}

/* Destroys a context; a command it cancels leaves its task in w. */
static void context_destroy(struct iscsi_context *ctx, struct iscsi_wait *w)
{
    w->done = false;
    w->data = NULL;
    iscsi_destroy_context(ctx);
    if (w->done && w->data && w->is_task)
        scsi_free_scsi_task(w->data);
    w->data = NULL;
}

/* A fresh context logged in to the LUN in bi->ctx; false with *why set. */
static bool session_open(struct blk_iscsi *bi, char *why, size_t whylen)
{
    struct iscsi_context *ctx = iscsi_create_context(ISCSI_INITIATOR_NAME);
    if (!ctx) {
        snprintf(why, whylen, "cannot create an iSCSI context");
        return false;
    }
    iscsi_set_log_fn(ctx, libiscsi_log);
    iscsi_set_log_level(ctx, ISCSI_LOG_ERRORS);
    struct iscsi_url *u = iscsi_parse_full_url(ctx, bi->url);
    if (!u) {
        /* blk_iscsi_url_error() let it through: libiscsi's message spans lines. */
        snprintf(why, whylen, "not a valid iSCSI URL");
        iscsi_destroy_context(ctx);
        return false;
    }
    if (!bi->name) {
        size_t n = strlen(u->portal) + strlen(u->target) + 32;
        bi->name = xmalloc(n);
        snprintf(bi->name, n, "%s%s/%s/%d", ISCSI_URL_PREFIX, u->portal, u->target, u->lun);
    }
    bi->lun = u->lun;
    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
    iscsi_set_timeout(ctx, ISCSI_TASK_TIMEOUT_S);
    iscsi_set_reconnect_max_retries(ctx, ISCSI_RECONNECT_TRIES);
    iscsi_set_tcp_syncnt(ctx, ISCSI_TCP_SYN_RETRIES);
    /* No reconnect attempts while logging in: the first error is the one to tell. */
    iscsi_set_noautoreconnect(ctx, 1);
    struct iscsi_wait *w = &bi->wait;
    *w = (struct iscsi_wait){0};
    int rc = iscsi_full_connect_async(ctx, u->portal, u->lun, wait_cb, w);
    iscsi_destroy_url(u);
    if (rc == 0)
        rc = wait_done(ctx, w);
    if (rc == 0 && w->status == SCSI_STATUS_GOOD)
        iscsi_set_noautoreconnect(ctx, 0);
    if (rc != 0 || w->status != SCSI_STATUS_GOOD) {
        first_line(why, whylen, w->error[0] ? w->error : iscsi_get_error(ctx));
        context_destroy(ctx, w);
        return false;
    }
    bi->ctx = ctx;
    return true;
}

static void session_close(struct blk_iscsi *bi)
{
    if (!bi->ctx)
        return;
    struct iscsi_wait *w = &bi->wait;
    *w = (struct iscsi_wait){0};
    if (iscsi_logout_async(bi->ctx, wait_cb, w) == 0)
        wait_done(bi->ctx, w);
    context_destroy(bi->ctx, w);
    bi->ctx = NULL;
}

/* The session, opened again if it was lost. */
static struct iscsi_context *session(struct blk_iscsi *bi)
{
    if (bi->ctx)
        return bi->ctx;
    char why[256];
    if (!session_open(bi, why, sizeof why))
        log_debug("%s: cannot reconnect: %s", bi->name, why);
    else
        log_info("%s: reconnected", bi->name);
    return bi->ctx;
}

enum cmd { CMD_READ, CMD_WRITE, CMD_SYNC, CMD_UNMAP, CMD_CAP16, CMD_CAP10, CMD_INQ, CMD_VPD, CMD_MODE6 };

struct cmd_args {
    uint64_t lba;
    uint32_t len;          /* READ/WRITE: bytes; VPD: the page */
    void *buf;
    struct unmap_list *unmap;
    int nunmap;
};

static const char *const cmd_names[] = {
    [CMD_READ] = "READ", [CMD_WRITE] = "WRITE(16)", [CMD_SYNC] = "SYNCHRONIZE CACHE(16)",
    [CMD_UNMAP] = "UNMAP", [CMD_CAP16] = "READ CAPACITY(16)", [CMD_CAP10] = "READ CAPACITY(10)",
    [CMD_INQ] = "INQUIRY", [CMD_VPD] = "INQUIRY (VPD)", [CMD_MODE6] = "MODE SENSE(6)",
};

static struct scsi_task *issue(struct blk_iscsi *bi, struct iscsi_context *ctx, enum cmd c,
                               const struct cmd_args *a)
{
    struct iscsi_wait *w = &bi->wait;
    int bs = (int)bi->block;
    switch (c) {
    case CMD_READ:
        w->iov = (struct scsi_iovec){.iov_base = a->buf, .iov_len = a->len};
        if (bi->mmc)   /* MMC-5 has no READ(16); a CD/DVD's LBAs fit READ(10)'s 32 bits */
            return iscsi_read10_iov_task(ctx, bi->lun, (uint32_t)a->lba, a->len, bs, 0, 0, 0, 0, 0, wait_cb, w,
                                         &w->iov, 1);
        return iscsi_read16_iov_task(ctx, bi->lun, a->lba, a->len, bs, 0, 0, 0, 0, 0, wait_cb, w, &w->iov, 1);
    case CMD_WRITE:
        w->iov = (struct scsi_iovec){.iov_base = a->buf, .iov_len = a->len};
        return iscsi_write16_iov_task(ctx, bi->lun, a->lba, NULL, a->len, bs, 0, 0, 0, 0, 0, wait_cb, w,
                                      &w->iov, 1);
    case CMD_SYNC:
        return iscsi_synchronizecache16_task(ctx, bi->lun, 0, 0, 0, 0, wait_cb, w);
    case CMD_UNMAP:
        return iscsi_unmap_task(ctx, bi->lun, 0, 0, a->unmap, a->nunmap, wait_cb, w);
    case CMD_CAP16:
        return iscsi_readcapacity16_task(ctx, bi->lun, wait_cb, w);
    case CMD_CAP10:
        return iscsi_readcapacity10_task(ctx, bi->lun, 0, 0, wait_cb, w);
    case CMD_INQ:
        return iscsi_inquiry_task(ctx, bi->lun, 0, 0, SCSI_INQUIRY_ALLOC, wait_cb, w);
    case CMD_VPD:
        return iscsi_inquiry_task(ctx, bi->lun, 1, (int)a->len, SCSI_INQUIRY_ALLOC, wait_cb, w);
    case CMD_MODE6:
        return iscsi_modesense6_task(ctx, bi->lun, 1, SCSI_MODESENSE_PC_CURRENT, SCSI_MODEPAGE_ALL, 0,
                                     SCSI_MODE_SENSE6_ALLOC, wait_cb, w);
    }
    return NULL;
}

/* Runs one command: its task (GOOD status) for the caller to free, or
 * NULL with *err a negative errno. A CHECK CONDITION is logged (debug)
 * with its sense; a transport failure drops the session so that the next
 * request starts a new one. */
static struct scsi_task *run(struct blk_iscsi *bi, enum cmd c, const struct cmd_args *a, int *err)
{
    for (int tries = 0;; tries++) {
        struct iscsi_context *ctx = session(bi);
        if (!ctx) {
            *err = -EIO;
            return NULL;
        }
        struct iscsi_wait *w = &bi->wait;
        *w = (struct iscsi_wait){.is_task = true};
        struct scsi_task *t = issue(bi, ctx, c, a);
        if (t && wait_done(ctx, w) == 0 && w->status == SCSI_STATUS_GOOD)
            return t;
        if (!t || !w->done || w->status != SCSI_STATUS_CHECK_CONDITION) {
            const char *what = !t ? "cannot queue it" : !w->done ? "the session is lost"
                               : w->status == SCSI_STATUS_TIMEOUT ? "timeout" : "the session failed";
            log_debug("%s: %s at block %llu: %s: %s", bi->name, cmd_names[c], (unsigned long long)a->lba,
                      what, iscsi_get_error(ctx));
            if (t && w->done)
                scsi_free_scsi_task(t);
            /* A task still pending is freed when the context cancels it. */
            context_destroy(ctx, w);
            bi->ctx = NULL;
            *err = -EIO;
            return NULL;
        }
        enum scsi_sense_key key = t->sense.key;
        int ascq = t->sense.ascq;
        scsi_free_scsi_task(t);
        if (key == SCSI_SENSE_UNIT_ATTENTION && tries < ISCSI_UA_RETRIES)
            continue;
        log_debug("%s: %s at block %llu: CHECK CONDITION, sense key %#x %s, ASC/ASCQ %#06x %s", bi->name,
                  cmd_names[c], (unsigned long long)a->lba, key, scsi_sense_key_str(key), ascq,
                  scsi_sense_ascq_str(ascq));
        *err = key == SCSI_SENSE_DATA_PROTECTION ? -EROFS : -EIO;
        return NULL;
    }
}

/* READ or WRITE of whole blocks straight to or from buf, in pieces the
 * target accepts. */
static int rw_blocks(struct blk_iscsi *bi, enum cmd c, uint64_t lba, uint8_t *buf, uint64_t len)
{
    while (len) {
        uint32_t n = len < bi->max_xfer ? (uint32_t)len : bi->max_xfer;
        struct cmd_args a = {.lba = lba, .len = n, .buf = buf};
        int err;
        struct scsi_task *t = run(bi, c, &a, &err);
        if (!t)
            return err;
        bool short_read = c == CMD_READ && t->residual_status != SCSI_RESIDUAL_NO_RESIDUAL;
        if (short_read)
            log_debug("%s: READ at block %llu: %zu bytes short", bi->name, (unsigned long long)lba,
                      t->residual);
        scsi_free_scsi_task(t);
        if (short_read)
            return -EIO;
        lba += n / bi->block;
        buf += n;
        len -= n;
    }
    return 0;
}

/* A byte range on 512-byte boundaries: whole blocks straight, the partial
 * block at each end through the bounce buffer (read, patch, write). */
static int rw(struct blk_iscsi *bi, bool write, uint64_t off, uint8_t *buf, size_t len)
{
    uint32_t bs = bi->block;
    while (len) {
        uint64_t lba = off / bs;
        uint32_t in = (uint32_t)(off % bs);
        if (in == 0 && len >= bs) {
            uint64_t whole = len - len % bs;
            int rc = rw_blocks(bi, write ? CMD_WRITE : CMD_READ, lba, buf, whole);
            if (rc < 0)
                return rc;
            off += whole;
            buf += whole;
            len -= whole;
            continue;
        }
        size_t n = bs - in < len ? bs - in : len;
        int rc = rw_blocks(bi, CMD_READ, lba, bi->bounce, bs);
        if (rc < 0)
            return rc;
        if (write) {
            memcpy(bi->bounce + in, buf, n);
            rc = rw_blocks(bi, CMD_WRITE, lba, bi->bounce, bs);
            if (rc < 0)
                return rc;
        } else {
            memcpy(buf, bi->bounce + in, n);
        }
        off += n;
        buf += n;
        len -= n;
    }
    return 0;
}

static int bis_read(struct blk_backend *be, uint64_t off, void *buf, size_t len)
{
    return rw(bi_of(be), false, off, buf, len);
}

static int bis_write(struct blk_backend *be, uint64_t off, const void *buf, size_t len)
{
    /* WRITE(16) only reads from buf: libiscsi's iovec lacks the const. */
    return rw(bi_of(be), true, off, (uint8_t *)(uintptr_t)buf, len);
}

static int bis_flush(struct blk_backend *be)
{
    struct cmd_args a = {0};
    int err;
    struct scsi_task *t = run(bi_of(be), CMD_SYNC, &a, &err);
    if (!t)
        return err;
    scsi_free_scsi_task(t);
    return 0;
}

/* UNMAP of the whole blocks inside the range (SBC-3 5.29): a hint, so the
 * partial blocks at the ends are left alone. */
static int bis_discard(struct blk_backend *be, uint64_t off, uint64_t len)
{
    struct blk_iscsi *bi = bi_of(be);
    if (!bi->unmap)
        return 0;
    uint64_t lba = align_up(off, bi->block) / bi->block;
    uint64_t end = (off + len) / bi->block;
    uint32_t per_cmd = bi->max_unmap ? bi->max_unmap : UINT32_MAX;
    uint32_t descs = bi->max_unmap_descs && bi->max_unmap_descs < ISCSI_UNMAP_DESCS ? bi->max_unmap_descs
                                                                                    : ISCSI_UNMAP_DESCS;
    struct unmap_list list[ISCSI_UNMAP_DESCS];
    while (lba < end) {
        int n = 0;
        uint32_t total = 0;
        while (lba < end && (uint32_t)n < descs && total < per_cmd) {
            uint64_t cnt = end - lba;
            if (cnt > per_cmd - total)
                cnt = per_cmd - total;
            list[n++] = (struct unmap_list){.lba = lba, .num = (uint32_t)cnt};
            total += (uint32_t)cnt;
            lba += cnt;
        }
        struct cmd_args a = {.lba = list[0].lba, .unmap = list, .nunmap = n};
        int err;
        struct scsi_task *t = run(bi, CMD_UNMAP, &a, &err);
        if (!t)
            return err;
        scsi_free_scsi_task(t);
    }
    return 0;
}

static uint64_t bis_size(struct blk_backend *be)
{
    struct blk_iscsi *bi = bi_of(be);
    return bi->blocks * bi->block;
}

static void bis_close(struct blk_backend *be)
{
    struct blk_iscsi *bi = bi_of(be);
    session_close(bi);
    free(bi->bounce);
    free(bi->name);
    free(bi->url);
    free(bi);
}

static const struct blk_backend_ops blk_iscsi_ops = {
    .read = bis_read,
    .write = bis_write,
    .flush = bis_flush,
    .discard = bis_discard,
    .size = bis_size,
    .close = bis_close,
};

/* --- opening: what the LUN is ------------------------------------------------ */

/* A probing command's data unmarshalled by libiscsi (it lives in the task:
 * read it, then free *t), or NULL. */
static void *probe(struct blk_iscsi *bi, enum cmd c, uint32_t page, struct scsi_task **t)
{
    struct cmd_args a = {.len = page};
    int err;
    *t = run(bi, c, &a, &err);
    return *t ? scsi_datain_unmarshall(*t) : NULL;
}

static void probe_done(struct scsi_task *t)
{
    if (t)
        scsi_free_scsi_task(t);
}

/* READ CAPACITY(16) (SBC-3 5.16), else (10) (5.15): false when neither works. */
static bool probe_capacity(struct blk_iscsi *bi, bool *lbpme)
{
    struct scsi_task *t;
    struct scsi_readcapacity16 *rc16 = probe(bi, CMD_CAP16, 0, &t);
    bool ok = rc16 != NULL;
    if (ok) {
        bi->blocks = rc16->returned_lba + 1;
        bi->block = rc16->block_length;
        *lbpme = rc16->lbpme;
        ok = rc16->returned_lba != UINT64_MAX;
    }
    probe_done(t);
    if (ok)
        return true;
    struct scsi_readcapacity10 *rc10 = probe(bi, CMD_CAP10, 0, &t);
    ok = rc10 != NULL;
    if (ok) {
        bi->blocks = (uint64_t)rc10->lba + 1;
        bi->block = rc10->block_size;
        *lbpme = false;
    }
    probe_done(t);
    return ok;
}

/* Block Limits (SBC-3 6.5.3) and Logical Block Provisioning (6.5.4). */
static void probe_limits(struct blk_iscsi *bi, bool lbpme)
{
    struct scsi_task *t;
    struct scsi_inquiry_supported_pages *sp = probe(bi, CMD_VPD, SCSI_INQUIRY_PAGECODE_SUPPORTED_VPD_PAGES, &t);
    bool has_limits = false, has_lbp = false;
    for (int i = 0; sp && i < sp->num_pages; i++) {
        has_limits |= sp->pages[i] == SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS;
        has_lbp |= sp->pages[i] == SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING;
    }
    probe_done(t);
    uint64_t max = ISCSI_MAX_CHUNK;
    if (has_limits) {
        struct scsi_inquiry_block_limits *bl = probe(bi, CMD_VPD, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, &t);
        if (bl) {
            if (bl->max_xfer_len && (uint64_t)bl->max_xfer_len * bi->block < max)
                max = (uint64_t)bl->max_xfer_len * bi->block;
            bi->max_unmap = bl->max_unmap == UINT32_MAX ? 0 : bl->max_unmap;
            bi->max_unmap_descs = bl->max_unmap_bdc == UINT32_MAX ? 0 : bl->max_unmap_bdc;
            /* 0 in either: the target takes no UNMAP (SBC-3 6.5.3). */
            if (!bl->max_unmap || !bl->max_unmap_bdc)
                lbpme = false;
        }
        probe_done(t);
    }
    bi->max_xfer = max < bi->block ? bi->block : (uint32_t)(max - max % bi->block);
    if (lbpme && has_lbp) {
        struct scsi_inquiry_logical_block_provisioning *lbp =
            probe(bi, CMD_VPD, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING, &t);
        bi->unmap = lbp && lbp->lbpu;
        probe_done(t);
    }
}

/* WP of the mode parameter header (SBC-3 6.4.1); false when unknown. */
static bool probe_write_protect(struct blk_iscsi *bi)
{
    struct scsi_task *t;
    struct scsi_mode_sense *ms = probe(bi, CMD_MODE6, 0, &t);
    bool wp = ms && (ms->device_specific_parameter & SBC_DSP_WP);
    probe_done(t);
    return wp;
}

/* INQUIRY and the rest: false after one "caixa: NAME: ..." line when the
 * LUN is not one we can serve. */
static bool check_lun(struct blk_iscsi *bi, enum blk_media media)
{
    struct scsi_task *t;
    struct scsi_inquiry_standard *inq = probe(bi, CMD_INQ, 0, &t);
    int type = inq ? (int)inq->device_type : -1;
    bool connected = inq && inq->qualifier == SCSI_INQUIRY_PERIPHERAL_QUALIFIER_CONNECTED;
    bool answered = inq != NULL;
    probe_done(t);
    if (!answered) {
        log_error("%s: INQUIRY failed", bi->name);
        return false;
    }
    if (!connected) {
        log_error("%s: the target has no logical unit %d", bi->name, bi->lun);
        return false;
    }
    bool ok = type == SCSI_TYPE_DISK || (media == BLK_MEDIA_CDROM && type == SCSI_TYPE_MMC);
    bi->mmc = type == SCSI_TYPE_MMC;
    if (!ok) {
        log_error("%s: the logical unit is a SCSI device of type %#x, not a %s", bi->name, type,
                  media == BLK_MEDIA_DISK ? "disk (type 0)" : "disk or CD/DVD drive (type 0 or 5)");
        return false;
    }
    bool lbpme = false;
    if (!probe_capacity(bi, &lbpme)) {
        log_error("%s: READ CAPACITY failed (no medium?)", bi->name);
        return false;
    }
    if (bi->block < BLK_SECTOR || bi->block > ISCSI_MAX_BLOCK || (bi->block & (bi->block - 1))) {
        log_error("%s: logical blocks of %u bytes are not supported (a power of two from %u to %u)", bi->name,
                  bi->block, BLK_SECTOR, ISCSI_MAX_BLOCK);
        return false;
    }
    if (bi->blocks > UINT64_MAX / bi->block) {
        log_error("%s: the capacity does not fit in 64 bits", bi->name);
        return false;
    }
    if (media == BLK_MEDIA_CDROM && bis_size(&bi->be) % BLK_CD_SECTOR) {
        log_error("%s: not a CD/DVD (its size is not a multiple of %u bytes)", bi->name, BLK_CD_SECTOR);
        return false;
    }
    probe_limits(bi, lbpme);
    if (type == SCSI_TYPE_DISK && probe_write_protect(bi))
        bi->be.read_only = true;
    return true;
}

struct blk_backend *blk_iscsi_open(const char *url, enum blk_media media, bool read_only)
{
    const char *bad = blk_iscsi_url_error(url);
    if (bad) {
        log_error("%s: %s (expected iscsi://[USER[%%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN)", url, bad);
        return NULL;
    }
    struct blk_iscsi *bi = xcalloc(1, sizeof *bi);
    bi->be.ops = &blk_iscsi_ops;
    bi->be.read_only = read_only || media == BLK_MEDIA_CDROM;
    bi->url = xstrdup(url);
    char why[256];
    if (!session_open(bi, why, sizeof why)) {
        log_error("%s: cannot connect: %s", bi->name ? bi->name : url, why);
        bis_close(&bi->be);
        return NULL;
    }
    if (!check_lun(bi, media)) {
        bis_close(&bi->be);
        return NULL;
    }
    bi->bounce = xmalloc(bi->block);
    log_info("%s: %llu blocks of %u bytes%s%s", bi->name, (unsigned long long)bi->blocks, bi->block,
             bi->be.read_only ? ", read-only" : "", bi->unmap ? ", UNMAP" : "");
    return &bi->be;
}
