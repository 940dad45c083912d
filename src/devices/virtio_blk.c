/* virtio-blk (virtio 1.1, 5.2) on the modern PCI transport (1af4:1042):
 * one request queue; IN, OUT, FLUSH, GET_ID and DISCARD requests, each
 * carried out asynchronously on the block device (zero copy into guest
 * RAM when the buffers allow it, else through a bounce buffer), its status
 * written and the chain returned to the used ring in the completion.
 *
 * A request the guest got wrong ends with VIRTIO_BLK_S_IOERR (buffers
 * outside RAM, a length that is not whole sectors, a range past the end)
 * or VIRTIO_BLK_S_UNSUPP (an unknown type); a chain without a writable
 * status byte or a malformed ring marks the device NEEDS_RESET.
 *
 * Config keys: "drive" (the block device's name), "devfn". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio.h"
#include "drivers/blockdev.h"
#include "runtime/util.h"

#define VIRTIO_ID_BLOCK 2
#define VBLK_DEVFN_DEFAULT 0x28        /* 00:05.0 */
/* Queue size the device offers (a driver may take less: SeaBIOS takes 256).
 * A chain may be as long as the queue (virtio 2.7.5.3.1), so this bounds
 * seg_max: at 1024, Linux's largest request by default (max_sectors_kb 1280,
 * 320 pages) goes in one piece, where at 256 a 1 MiB read is split in two
 * and its second part waits for the first. 1024 is QEMU's largest queue-size. */
#define VBLK_QUEUE_SIZE 1024
#define CLASS_STORAGE 0x01
#define SUBCLASS_OTHER 0x80

/* Feature bits (virtio 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13

/* struct virtio_blk_config (virtio 5.2.4). */
#define CFG_CAPACITY 0x00
#define CFG_SEG_MAX 0x0C
#define CFG_BLK_SIZE 0x14
#define CFG_MAX_DISCARD_SECTORS 0x24
#define CFG_MAX_DISCARD_SEG 0x28
#define CFG_DISCARD_ALIGN 0x2C
#define CFG_SIZE 0x3C

/* Requests (virtio 5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define REQ_HDR_LEN 16                 /* le32 type, le32 reserved, le64 sector */
#define VIRTIO_BLK_ID_BYTES 20
#define DISCARD_SEG_LEN 16             /* le64 sector, le32 num_sectors, le32 flags */
#define MAX_DISCARD_SEG 32
#define MAX_DISCARD_SECTORS 0x400000u  /* 2 GiB per range */
/* Host memory the device may hold in bounce buffers at once: a request
 * that needs more ends with IOERR (Linux's requests, whole sectors in
 * RAM, never need one). */
#define BOUNCE_BUDGET (64ull << 20)
/* The most data segments a request may have: the queue less the header
 * and status descriptors (virtio 5.2.4: seg_max). */
#define VBLK_SEG_MAX (VBLK_QUEUE_SIZE - 2)

struct vblk {
    struct virtio_dev vdev;
    device *dev;
    struct blockdev *bd;
    char serial[VIRTIO_BLK_ID_BYTES + 1];
    uint64_t bounce_bytes;      /* in bounce buffers now */
};

struct vblk_req {
    struct blk_req req;
    struct vblk *vb;
    uint32_t gen;
    struct vq_elem elem;
    uint32_t type;
    struct vq_seg *data;        /* the data regions (header and status trimmed) */
    unsigned ndata;
    uint64_t data_len;
    uint64_t status_gpa;
    struct iovec *iov;
    uint8_t *bounce;            /* NULL: iov points into guest RAM */
    uint8_t *discard;           /* DISCARD: the ranges, next one at discard_next */
    unsigned discard_n, discard_next;
};

static void req_free(struct vblk_req *r)
{
    if (r->bounce)
        r->vb->bounce_bytes -= r->data_len;
    vq_elem_free(&r->elem);
    free(r->data);
    free(r->iov);
    free(r->bounce);
    free(r->discard);
    free(r);
}

/* The regions covering bytes [from, from + len) of segments s[0..n). */
static unsigned sub_segs(const struct vq_seg *s, unsigned n, uint64_t from, uint64_t len, struct vq_seg **out)
{
    struct vq_seg *o = xmalloc(sizeof *o * (n ? n : 1));
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (from >= s[i].len) {
            from -= s[i].len;
            continue;
        }
        uint64_t take = s[i].len - from;
        if (take > len)
            take = len;
        o[k++] = (struct vq_seg){s[i].gpa + from, (uint32_t)take};
        len -= take;
        from = 0;
    }
    *out = o;
    return k;
}

/* Bytes [from, from + len) of the chain's regions into buf. */
static bool gather(struct virtio_dev *v, const struct vq_seg *s, unsigned n, uint64_t from, uint8_t *buf,
                   uint64_t len)
{
    struct vq_seg *sub;
    unsigned k = sub_segs(s, n, from, len, &sub);
    bool ok = true;
    for (unsigned i = 0; ok && i < k; i++) {
        ok = virtio_dma_read(v, sub[i].gpa, buf, sub[i].len);
        buf += sub[i].len;
    }
    free(sub);
    return ok;
}

static bool scatter(struct virtio_dev *v, const struct vq_seg *s, unsigned n, const uint8_t *buf)
{
    for (unsigned i = 0; i < n; i++) {
        if (!virtio_dma_write(v, s[i].gpa, buf, s[i].len))
            return false;
        buf += s[i].len;
    }
    return true;
}

/* Ends a request: its status byte, the used ring, the interrupt. */
static void req_complete(struct vblk_req *r, uint8_t status, uint32_t written)
{
    struct virtio_dev *v = &r->vb->vdev;
    if (!virtio_dma_write(v, r->status_gpa, &status, 1))
        virtio_set_needs_reset(v);
    else
        vq_push(v, 0, r->elem.head, written + 1);
    req_free(r);
}

static void submit_next_discard(struct vblk_req *r);

/* Block device done: on its I/O thread, platform lock held. */
static void req_done(struct blk_req *req, int status)
{
    struct vblk_req *r = req->opaque;
    struct virtio_dev *v = &r->vb->vdev;
    if (r->type == VIRTIO_BLK_T_DISCARD && status == 0 && r->discard_next < r->discard_n &&
        r->gen == v->gen) {
        submit_next_discard(r);          /* still in flight */
        return;
    }
    if (!virtio_request_done(v, r->gen)) {
        req_free(r);                     /* the device was reset since */
        return;
    }
    uint32_t written = 0;
    uint8_t st = status == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
    if (status == 0 && r->type == VIRTIO_BLK_T_IN) {
        if (r->bounce) {
            if (!scatter(v, r->data, r->ndata, r->bounce))
                st = VIRTIO_BLK_S_IOERR;
        } else {
            virtio_ram_written(v, r->data, r->ndata);
        }
        written = (uint32_t)r->data_len;
    }
    req_complete(r, st, written);
}

static void submit(struct vblk_req *r)
{
    r->vb->vdev.inflight++;
    blockdev_submit(r->vb->bd, &r->req);
}

static void submit_next_discard(struct vblk_req *r)
{
    const uint8_t *d = r->discard + (size_t)r->discard_next++ * DISCARD_SEG_LEN;
    r->req.op = BLK_DISCARD;
    r->req.offset = get_le(d, 8) * BLK_SECTOR;
    r->req.len = (uint64_t)get_le(&d[8], 4) * BLK_SECTOR;
    r->req.iov = NULL;
    r->req.iovcnt = 0;
    blockdev_submit(r->vb->bd, &r->req);
}

/* The request's data buffers: guest RAM itself when every region is RAM
 * and whole sectors, else a bounce buffer (filled now for OUT). */
static bool data_buffers(struct vblk *vb, struct vblk_req *r)
{
    struct virtio_dev *v = &vb->vdev;
    bool direct = r->ndata <= BLK_MAX_IOV && (get_le(&v->pci.config[PCI_COMMAND], 2) & PCI_CMD_MASTER);
    for (unsigned i = 0; direct && i < r->ndata; i++)
        direct = r->data[i].len % BLK_SECTOR == 0 && physmem_ram_ptr(v->mem, r->data[i].gpa, r->data[i].len);
    if (direct) {
        r->iov = xmalloc(sizeof *r->iov * r->ndata);
        for (unsigned i = 0; i < r->ndata; i++)
            r->iov[i] = (struct iovec){physmem_ram_ptr(v->mem, r->data[i].gpa, r->data[i].len), r->data[i].len};
        r->req.iov = r->iov;
        r->req.iovcnt = (int)r->ndata;
        return true;
    }
    if (vb->bounce_bytes + r->data_len > BOUNCE_BUDGET)
        return false;
    r->bounce = xmalloc(r->data_len);
    vb->bounce_bytes += r->data_len;
    r->iov = xmalloc(sizeof *r->iov);
    r->iov[0] = (struct iovec){r->bounce, r->data_len};
    r->req.iov = r->iov;
    r->req.iovcnt = 1;
    if (r->type == VIRTIO_BLK_T_OUT)
        return gather(v, r->data, r->ndata, 0, r->bounce, r->data_len);
    /* IN: the regions must be writable RAM before the read is queued. */
    for (unsigned i = 0; i < r->ndata; i++)
        if (!physmem_ram_ptr(v->mem, r->data[i].gpa, r->data[i].len))
            return false;
    return true;
}

/* Starts one popped request; it either completes now or is in flight. */
static void handle_request(struct vblk *vb, struct vq_elem *e)
{
    struct virtio_dev *v = &vb->vdev;
    struct vblk_req *r = xcalloc(1, sizeof *r);
    r->vb = vb;
    r->gen = v->gen;
    r->elem = *e;
    r->req.opaque = r;
    r->req.done = req_done;
    /* The status byte is the chain's last writable byte (virtio 5.2.6). */
    unsigned nwrite = e->nseg - e->nread;
    if (nwrite == 0 || e->read_len < REQ_HDR_LEN) {
        virtio_set_needs_reset(v);
        req_free(r);
        return;
    }
    const struct vq_seg *last = &e->seg[e->nseg - 1];
    r->status_gpa = last->gpa + last->len - 1;
    uint8_t hdr[REQ_HDR_LEN];
    if (!gather(v, e->seg, e->nread, 0, hdr, sizeof hdr)) {
        req_complete(r, VIRTIO_BLK_S_IOERR, 0);
        return;
    }
    r->type = (uint32_t)get_le(hdr, 4);
    uint64_t sector = get_le(&hdr[8], 8);
    uint64_t size = blockdev_size(vb->bd);
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool in = r->type == VIRTIO_BLK_T_IN;
        r->data_len = in ? e->write_len - 1 : e->read_len - REQ_HDR_LEN;
        if (in)
            r->ndata = sub_segs(&e->seg[e->nread], nwrite, 0, r->data_len, &r->data);
        else
            r->ndata = sub_segs(e->seg, e->nread, REQ_HDR_LEN, r->data_len, &r->data);
        if (r->data_len == 0 || r->data_len % BLK_SECTOR || sector > size / BLK_SECTOR ||
            r->data_len > size - sector * BLK_SECTOR || (!in && blockdev_read_only(vb->bd)) ||
            !data_buffers(vb, r)) {
            req_complete(r, VIRTIO_BLK_S_IOERR, 0);
            return;
        }
        r->req.op = in ? BLK_READ : BLK_WRITE;
        /* Without the flush feature a driver cannot flush a cache and
         * takes the device for write-through (Linux does): so it is. */
        r->req.write_through = !(v->guest_features & (1ull << VIRTIO_BLK_F_FLUSH));
        r->req.offset = sector * BLK_SECTOR;
        submit(r);
        return;
    }
    case VIRTIO_BLK_T_FLUSH:
        r->req.op = BLK_FLUSH;
        submit(r);
        return;
    case VIRTIO_BLK_T_GET_ID: {
        struct vq_seg *ws;
        uint64_t n = e->write_len - 1 < VIRTIO_BLK_ID_BYTES ? e->write_len - 1 : VIRTIO_BLK_ID_BYTES;
        unsigned k = sub_segs(&e->seg[e->nread], nwrite, 0, n, &ws);
        uint8_t id[VIRTIO_BLK_ID_BYTES] = {0};
        memcpy(id, vb->serial, strnlen(vb->serial, sizeof id));
        bool ok = scatter(v, ws, k, id);
        free(ws);
        req_complete(r, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? (uint32_t)n : 0);
        return;
    }
    case VIRTIO_BLK_T_DISCARD: {
        uint64_t len = e->read_len - REQ_HDR_LEN;
        unsigned n = (unsigned)(len / DISCARD_SEG_LEN);
        if (!(v->guest_features & (1ull << VIRTIO_BLK_F_DISCARD))) {
            req_complete(r, VIRTIO_BLK_S_UNSUPP, 0);
            return;
        }
        if (len == 0 || len % DISCARD_SEG_LEN || n > MAX_DISCARD_SEG) {
            req_complete(r, VIRTIO_BLK_S_IOERR, 0);
            return;
        }
        r->discard = xmalloc(len);
        if (!gather(v, e->seg, e->nread, REQ_HDR_LEN, r->discard, len)) {
            req_complete(r, VIRTIO_BLK_S_IOERR, 0);
            return;
        }
        for (unsigned i = 0; i < n; i++) {
            const uint8_t *d = r->discard + (size_t)i * DISCARD_SEG_LEN;
            uint64_t s = get_le(d, 8), cnt = get_le(&d[8], 4);
            uint32_t flags = (uint32_t)get_le(&d[12], 4);
            /* virtio 5.2.6.2: unknown flags (unmap is for write zeroes) are an error. */
            if (flags || cnt == 0 || cnt > MAX_DISCARD_SECTORS || s > size / BLK_SECTOR ||
                cnt > size / BLK_SECTOR - s) {
                req_complete(r, VIRTIO_BLK_S_IOERR, 0);
                return;
            }
        }
        r->discard_n = n;
        v->inflight++;
        submit_next_discard(r);
        return;
    }
    default:
        req_complete(r, VIRTIO_BLK_S_UNSUPP, 0);
        return;
    }
}

static void vblk_notify(struct virtio_dev *v, unsigned q)
{
    struct vblk *vb = v->opaque;
    struct vq_elem e;
    while (vq_pop(v, q, &e) == 1)
        handle_request(vb, &e);
}

static uint64_t vblk_cfg_read(struct virtio_dev *v, unsigned off, unsigned size)
{
    struct vblk *vb = v->opaque;
    uint8_t c[CFG_SIZE] = {0};
    put_le(&c[CFG_CAPACITY], blockdev_size(vb->bd) / BLK_SECTOR, 8);
    put_le(&c[CFG_SEG_MAX], VBLK_SEG_MAX, 4);
    put_le(&c[CFG_BLK_SIZE], BLK_SECTOR, 4);
    put_le(&c[CFG_MAX_DISCARD_SECTORS], MAX_DISCARD_SECTORS, 4);
    put_le(&c[CFG_MAX_DISCARD_SEG], MAX_DISCARD_SEG, 4);
    put_le(&c[CFG_DISCARD_ALIGN], 1, 4);
    return off + size <= CFG_SIZE ? get_le(&c[off], size) : 0;
}

static const struct virtio_ops vblk_ops = {
    .cfg_read = vblk_cfg_read,
    .notify = vblk_notify,
};

static int vblk_create(device *dev)
{
    struct vblk *vb = dev->state;
    struct vm *vm = dev->vm;
    vb->dev = dev;
    const char *name = cfg_get_str(dev->cfg, "drive", NULL);
    if (!name) {
        vm_error(vm, "no drive given");
        return -1;
    }
    vb->bd = vm_blockdev(vm, name);
    if (!vb->bd) {
        vm_error(vm, "no drive called '%s'", name);
        return -1;
    }
    if (blockdev_media(vb->bd) == BLK_MEDIA_CDROM) {
        vm_error(vm, "%s: a CD-ROM cannot be a virtio disk", name);
        return -1;
    }
    snprintf(vb->serial, sizeof vb->serial, "caixa-%s", name);
    struct virtio_dev *v = &vb->vdev;
    v->ops = &vblk_ops;
    v->opaque = vb;
    v->host_features = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                       1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_DISCARD;
    if (blockdev_read_only(vb->bd))
        v->host_features |= 1ull << VIRTIO_BLK_F_RO;
    struct virtio_pci_id id = {
        .device_id = VIRTIO_ID_BLOCK,
        .class_code = CLASS_STORAGE, .subclass = SUBCLASS_OTHER,
        .queue_size = VBLK_QUEUE_SIZE,
        .nqueues = 1,
        .cfg_size = CFG_SIZE,
    };
    return virtio_pci_init(v, vm, (uint8_t)cfg_get_u64(dev->cfg, "devfn", VBLK_DEVFN_DEFAULT), &id);
}

static void vblk_reset(device *dev)
{
    struct vblk *vb = dev->state;
    virtio_pci_reset(&vb->vdev);
}

static const device_desc vblk_desc = {
    .name = "virtio_blk",
    .state_size = sizeof(struct vblk),
    .create = vblk_create,
    .reset = vblk_reset,
};
DEVICE_REGISTER(vblk_desc);
