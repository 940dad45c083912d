/* The virtio 1.x ("modern") PCI transport: vendor capabilities locating
 * the common configuration, notify, ISR and device configuration
 * structures in BAR4, feature negotiation, device status and reset, split
 * virtqueues, INTx through the ISR or MSI-X (BAR1: one vector per queue and
 * one for configuration changes). No legacy interface, no
 * VIRTIO_PCI_CAP_PCI_CFG window.
 *
 * The guest owns the rings: every index and address read from them is
 * checked, a chain is at most as long as its table (a loop ends there), and
 * a malformed ring marks the device NEEDS_RESET instead of reaching the
 * host. Reference: virtio 1.1, 2.6 (split virtqueues), 4.1 (PCI). */
#include <stdlib.h>
#include <string.h>

#include "devices/virtio.h"
#include "runtime/util.h"

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_PCI_DEVICE_BASE 0x1040  /* virtio 4.1.2: 0x1040 + device type */
#define VIRTIO_PCI_REVISION 1          /* modern-only devices: revision >= 1 */
#define VIRTIO_SUBSYS 0x1100

/* BAR4 layout (ours): one 4 KiB page per structure. */
#define VIRTIO_BAR 4
#define VIRTIO_BAR_SIZE 0x4000
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x38
#define ISR_OFF 0x1000
#define ISR_LEN 4
#define DEVCFG_OFF 0x2000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4                  /* notify_off_multiplier */
#define REGION_LEN 0x1000
#define MSIX_BAR 1                     /* the MSI-X table and PBA (pci_msi.c) */

/* struct virtio_pci_cap (virtio 4.1.4). */
#define PCI_CAP_ID_VNDR 0x09
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define CAP_LEN 16
#define NOTIFY_CAP_LEN 20
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_NOTIFY_MULT 16

/* struct virtio_pci_common_cfg (virtio 4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0C
#define CC_MSIX_CONFIG 0x10
#define CC_NUM_QUEUES 0x12
#define CC_STATUS 0x14
#define CC_CFG_GENERATION 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1A
#define CC_Q_ENABLE 0x1C
#define CC_Q_NOTIFY_OFF 0x1E
#define CC_Q_DESC 0x20
#define CC_Q_AVAIL 0x28
#define CC_Q_USED 0x30

#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2

/* Split virtqueue layout (virtio 2.6). */
#define DESC_SIZE 16
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4
#define AVAIL_F_NO_INTERRUPT 1
#define USED_ELEM_SIZE 8
#define MAX_INDIRECT 1024              /* longest indirect table accepted */
#define MAX_QUEUE_SIZE 32768

/* INTx follows the ISR while MSI-X is off; with it on, the line stays low
 * (PCI 3.0 6.8.2) and the ISR is not used (virtio 4.1.4.5). */
static void update_irq(struct virtio_dev *v)
{
    pci_set_intx(&v->pci, !pci_msix_enabled(&v->msix) && v->isr != 0);
}

/* An event for the driver: a message on `vector` with MSI-X, else the ISR
 * bit and INTx. */
static void interrupt(struct virtio_dev *v, uint8_t isr_bit, uint16_t vector)
{
    if (pci_msix_enabled(&v->msix)) {
        if (vector != VIRTIO_MSI_NO_VECTOR)
            pci_msix_notify(&v->msix, vector);
        return;
    }
    v->isr |= isr_bit;
    update_irq(v);
}

bool virtio_dma_read(struct virtio_dev *v, uint64_t gpa, void *buf, size_t len)
{
    return pci_dma_read(&v->pci, gpa, buf, len);
}

bool virtio_dma_write(struct virtio_dev *v, uint64_t gpa, const void *buf, size_t len)
{
    return pci_dma_write(&v->pci, gpa, buf, len);
}

void virtio_ram_written(struct virtio_dev *v, const struct vq_seg *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        physmem_ram_written(v->mem, s[i].gpa, s[i].len);
}

void virtio_set_needs_reset(struct virtio_dev *v)
{
    if (v->status & VIRTIO_S_NEEDS_RESET)
        return;
    v->status |= VIRTIO_S_NEEDS_RESET;
    interrupt(v, ISR_CONFIG, v->msix_config);
}

bool virtio_request_done(struct virtio_dev *v, uint32_t gen)
{
    if (v->inflight)
        v->inflight--;
    return gen == v->gen;
}

/* --- the device status and reset (virtio 2.1, 4.1.4.3.2) --------------------- */

static void device_reset(struct virtio_dev *v)
{
    v->gen++;
    v->status = 0;
    v->isr = 0;
    v->guest_features = 0;
    v->dfselect = v->gfselect = 0;
    v->qsel = 0;
    for (unsigned q = 0; q < v->nqueues; q++) {
        struct virtqueue *vq = &v->vq[q];
        uint16_t max = vq->max_size;
        *vq = (struct virtqueue){.size = max, .max_size = max, .msix_vector = VIRTIO_MSI_NO_VECTOR};
    }
    v->msix_config = VIRTIO_MSI_NO_VECTOR;
    if (v->ops->reset)
        v->ops->reset(v);
    update_irq(v);
}

void virtio_pci_reset(struct virtio_dev *v)
{
    pci_function_reset(&v->pci);
    pci_msix_reset(&v->msix);
    device_reset(v);
}

/* FEATURES_OK sticks only for a subset of what we offer that includes
 * VERSION_1 (virtio 3.1.1, 6.1). */
static void write_status(struct virtio_dev *v, uint8_t val)
{
    if (val == 0) {
        v->status_before_reset = v->status;
        device_reset(v);
        return;
    }
    if ((val & VIRTIO_S_FEATURES_OK) && !(v->status & VIRTIO_S_FEATURES_OK)) {
        uint64_t g = v->guest_features;
        if ((g & ~v->host_features) || !(g & (1ull << VIRTIO_F_VERSION_1)))
            val &= (uint8_t)~VIRTIO_S_FEATURES_OK;
    }
    v->status = (uint8_t)(val | (v->status & VIRTIO_S_NEEDS_RESET));
}

/* --- the common configuration ----------------------------------------------- */

static struct virtqueue *cur_vq(struct virtio_dev *v)
{
    return v->qsel < v->nqueues ? &v->vq[v->qsel] : NULL;
}

static void common_image(struct virtio_dev *v, uint8_t *c)
{
    memset(c, 0, COMMON_LEN);
    put_le(&c[CC_DFSELECT], v->dfselect, 4);
    uint64_t df = v->dfselect < 2 ? v->host_features >> (32 * v->dfselect) : 0;
    put_le(&c[CC_DF], (uint32_t)df, 4);
    put_le(&c[CC_GFSELECT], v->gfselect, 4);
    uint64_t gf = v->gfselect < 2 ? v->guest_features >> (32 * v->gfselect) : 0;
    put_le(&c[CC_GF], (uint32_t)gf, 4);
    put_le(&c[CC_MSIX_CONFIG], v->msix_config, 2);
    put_le(&c[CC_NUM_QUEUES], v->nqueues, 2);
    /* After a reset request, status reads its old value until the requests
     * in flight are done (the driver waits for 0). */
    c[CC_STATUS] = v->status == 0 && v->inflight ? v->status_before_reset | 1 : v->status;
    c[CC_CFG_GENERATION] = 0;
    put_le(&c[CC_Q_SELECT], v->qsel, 2);
    struct virtqueue *vq = cur_vq(v);
    put_le(&c[CC_Q_MSIX], VIRTIO_MSI_NO_VECTOR, 2);
    if (!vq)
        return;
    put_le(&c[CC_Q_MSIX], vq->msix_vector, 2);
    put_le(&c[CC_Q_SIZE], vq->size, 2);
    put_le(&c[CC_Q_ENABLE], vq->enabled, 2);
    put_le(&c[CC_Q_NOTIFY_OFF], v->qsel, 2);
    put_le(&c[CC_Q_DESC], vq->desc, 8);
    put_le(&c[CC_Q_AVAIL], vq->avail, 8);
    put_le(&c[CC_Q_USED], vq->used, 8);
}

static uint64_t common_read(struct virtio_dev *v, unsigned off, unsigned size)
{
    uint8_t c[COMMON_LEN + 8];
    common_image(v, c);
    if (off + size > COMMON_LEN)
        return 0;
    return get_le(&c[off], size);
}

/* A queue address half (32-bit writes of the 64-bit fields). */
static void set_half(uint64_t *field, unsigned off, unsigned base, uint64_t val, unsigned size)
{
    if (size == 8 && off == base)
        *field = val;
    else if (size == 4 && off == base)
        *field = (*field & ~0xFFFFFFFFull) | (uint32_t)val;
    else if (size == 4 && off == base + 4)
        *field = (*field & 0xFFFFFFFFull) | val << 32;
}

/* A vector the driver maps: kept when the table has it, else the device
 * answers NO_VECTOR (virtio 4.1.5.1.2). */
static uint16_t msix_vector(const struct virtio_dev *v, uint64_t val)
{
    return val < v->msix.nvec ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
}

static void common_write(struct virtio_dev *v, unsigned off, uint64_t val, unsigned size)
{
    struct virtqueue *vq = cur_vq(v);
    switch (off) {
    case CC_DFSELECT:
        if (size == 4)
            v->dfselect = (uint32_t)val;
        return;
    case CC_GFSELECT:
        if (size == 4)
            v->gfselect = (uint32_t)val;
        return;
    case CC_GF:
        if (size == 4 && v->gfselect < 2 && !(v->status & VIRTIO_S_FEATURES_OK)) {
            unsigned sh = 32 * v->gfselect;
            v->guest_features = (v->guest_features & ~(0xFFFFFFFFull << sh)) | (uint64_t)(uint32_t)val << sh;
        }
        return;
    case CC_MSIX_CONFIG:
        if (size == 2)
            v->msix_config = msix_vector(v, val);
        return;
    case CC_Q_MSIX:
        if (size == 2 && vq)
            vq->msix_vector = msix_vector(v, val);
        return;
    case CC_STATUS:
        if (size == 1)
            write_status(v, (uint8_t)val);
        return;
    case CC_Q_SELECT:
        if (size == 2)
            v->qsel = (uint16_t)val;
        return;
    case CC_Q_SIZE:
        /* A power of two up to the maximum, before the queue is enabled
         * (virtio 2.6: split queue sizes are powers of two). */
        if (size == 2 && vq && !vq->enabled && val && val <= vq->max_size && !(val & (val - 1)))
            vq->size = (uint16_t)val;
        return;
    case CC_Q_ENABLE:
        if (size == 2 && vq && val == 1)
            vq->enabled = true;
        return;
    default:
        break;
    }
    if (!vq || vq->enabled)
        return;
    if (off >= CC_Q_DESC && off < CC_Q_DESC + 8)
        set_half(&vq->desc, off, CC_Q_DESC, val, size);
    else if (off >= CC_Q_AVAIL && off < CC_Q_AVAIL + 8)
        set_half(&vq->avail, off, CC_Q_AVAIL, val, size);
    else if (off >= CC_Q_USED && off < CC_Q_USED + 8)
        set_half(&vq->used, off, CC_Q_USED, val, size);
}

/* --- BAR4 ------------------------------------------------------------------- */

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_dev *v = opaque;
    if (off < COMMON_OFF + REGION_LEN)
        return common_read(v, (unsigned)off, size);
    if (off >= ISR_OFF && off < ISR_OFF + ISR_LEN) {
        /* Reading the ISR clears it and lowers INTx (virtio 4.1.4.5). */
        uint8_t isr = v->isr;
        v->isr = 0;
        update_irq(v);
        return off == ISR_OFF ? isr : 0;
    }
    if (off >= DEVCFG_OFF && off < DEVCFG_OFF + REGION_LEN) {
        unsigned o = (unsigned)(off - DEVCFG_OFF);
        if (o + size > v->cfg_size)
            return 0;
        return v->ops->cfg_read(v, o, size);
    }
    return 0;
}

static void bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct virtio_dev *v = opaque;
    if (off < COMMON_OFF + REGION_LEN) {
        common_write(v, (unsigned)off, val, size);
    } else if (off >= DEVCFG_OFF && off < DEVCFG_OFF + REGION_LEN) {
        unsigned o = (unsigned)(off - DEVCFG_OFF);
        if (o + size <= v->cfg_size && v->ops->cfg_write)
            v->ops->cfg_write(v, o, val, size);
    } else if (off >= NOTIFY_OFF && off < NOTIFY_OFF + REGION_LEN) {
        /* virtio 4.1.4.4: queue q's address is notify_off(q) * multiplier. */
        unsigned q = (unsigned)(off - NOTIFY_OFF) / NOTIFY_MULT;
        if (q < v->nqueues && v->vq[q].enabled && (v->status & VIRTIO_S_DRIVER_OK) &&
            !(v->status & VIRTIO_S_NEEDS_RESET))
            v->ops->notify(v, q);
    }
}

static const mmio_ops bar_ops = {bar_read, bar_write};

/* --- split virtqueues (virtio 2.6) ------------------------------------------ */

static bool read16(struct virtio_dev *v, uint64_t gpa, uint16_t *out)
{
    uint8_t b[2];
    if (!virtio_dma_read(v, gpa, b, 2))
        return false;
    *out = (uint16_t)get_le(b, 2);
    return true;
}

/* Walks one chain from descriptor `idx` of the table at `table` (n
 * entries), appending its regions to e. At most n descriptors: a longer
 * chain loops. An indirect descriptor switches to its own table once. */
static bool walk_chain(struct virtio_dev *v, uint64_t table, uint32_t n, uint16_t idx, bool indirect_ok,
                       struct vq_elem *e, unsigned *cap)
{
    for (uint32_t count = 0;; count++) {
        if (idx >= n || count >= n)
            return false;
        uint8_t d[DESC_SIZE];
        if (!virtio_dma_read(v, table + (uint64_t)idx * DESC_SIZE, d, sizeof d))
            return false;
        uint64_t addr = get_le(d, 8);
        uint32_t len = (uint32_t)get_le(&d[8], 4);
        uint16_t flags = (uint16_t)get_le(&d[12], 2);
        uint16_t next = (uint16_t)get_le(&d[14], 2);
        if (flags & DESC_F_INDIRECT) {
            /* virtio 2.6.5.3: only with the feature, not nested, not with
             * NEXT, a whole number of descriptors. */
            if (!indirect_ok || !(v->guest_features & (1ull << VIRTIO_F_RING_INDIRECT_DESC)) ||
                (flags & DESC_F_NEXT) || len == 0 || len % DESC_SIZE || len / DESC_SIZE > MAX_INDIRECT)
                return false;
            return walk_chain(v, addr, len / DESC_SIZE, 0, false, e, cap);
        }
        if (len) {
            bool w = flags & DESC_F_WRITE;
            if (!w && e->nseg > e->nread)
                return false;           /* readable after writable */
            if (e->nseg == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                e->seg = realloc(e->seg, sizeof *e->seg * *cap);
                if (!e->seg)
                    abort();
            }
            e->seg[e->nseg++] = (struct vq_seg){addr, len};
            if (w)
                e->write_len += len;
            else
                e->nread++, e->read_len += len;
        }
        if (!(flags & DESC_F_NEXT))
            return true;
        idx = next;
    }
}

int vq_pop(struct virtio_dev *v, unsigned q, struct vq_elem *e)
{
    memset(e, 0, sizeof *e);
    if (q >= v->nqueues || (v->status & VIRTIO_S_NEEDS_RESET))
        return -1;
    struct virtqueue *vq = &v->vq[q];
    if (!vq->enabled || vq->size == 0)
        return 0;
    uint16_t avail_idx, head;
    if (!read16(v, vq->avail + 2, &avail_idx))
        goto broken;
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vq->size)
        goto broken;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);   /* the ring entry after the index */
    if (!read16(v, vq->avail + 4 + 2ull * (vq->last_avail % vq->size), &head))
        goto broken;
    vq->last_avail++;
    e->head = head;
    unsigned cap = 0;
    if (!walk_chain(v, vq->desc, vq->size, head, true, e, &cap)) {
        vq_elem_free(e);
        goto broken;
    }
    return 1;
broken:
    virtio_set_needs_reset(v);
    return -1;
}

void vq_elem_free(struct vq_elem *e)
{
    free(e->seg);
    e->seg = NULL;
    e->nseg = e->nread = 0;
}

void vq_push(struct virtio_dev *v, unsigned q, uint16_t head, uint32_t written)
{
    struct virtqueue *vq = &v->vq[q];
    if (q >= v->nqueues || !vq->enabled || vq->size == 0)
        return;
    uint8_t elem[USED_ELEM_SIZE], idx[2];
    put_le(elem, head, 4);
    put_le(&elem[4], written, 4);
    if (!virtio_dma_write(v, vq->used + 4 + (uint64_t)USED_ELEM_SIZE * (vq->used_idx % vq->size), elem,
                          sizeof elem)) {
        virtio_set_needs_reset(v);
        return;
    }
    vq->used_idx++;
    put_le(idx, vq->used_idx, 2);
    __atomic_thread_fence(__ATOMIC_RELEASE);   /* the element before the index */
    if (!virtio_dma_write(v, vq->used + 2, idx, 2)) {
        virtio_set_needs_reset(v);
        return;
    }
    /* The driver's flag after our index (virtio 2.6.7.1). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t flags = 0;
    if (read16(v, vq->avail, &flags) && (flags & AVAIL_F_NO_INTERRUPT))
        return;
    interrupt(v, ISR_QUEUE, vq->msix_vector);
}

/* --- the PCI function ---------------------------------------------------------- */

static void add_cap(pci_function *f, uint8_t type, uint32_t off, uint32_t len, bool notify)
{
    uint8_t at = pci_add_capability(f, PCI_CAP_ID_VNDR, notify ? NOTIFY_CAP_LEN : CAP_LEN);
    if (!at)
        return;
    f->config[at + 2] = notify ? NOTIFY_CAP_LEN : CAP_LEN;   /* cap_len */
    f->config[at + CAP_CFG_TYPE] = type;
    f->config[at + CAP_BAR] = VIRTIO_BAR;
    put_le(&f->config[at + CAP_OFFSET], off, 4);
    put_le(&f->config[at + CAP_LENGTH], len, 4);
    if (notify)
        put_le(&f->config[at + CAP_NOTIFY_MULT], NOTIFY_MULT, 4);
}

/* Enabling MSI-X lowers INTx; an unmask sends what was pending. */
static void config_written(pci_function *f, uint8_t reg, unsigned size)
{
    struct virtio_dev *v = f->opaque;
    pci_msix_config_written(&v->msix, reg, size);
    update_irq(v);
}

int virtio_pci_init(struct virtio_dev *v, struct vm *vm, uint8_t devfn, const struct virtio_pci_id *id)
{
    if (id->nqueues > VIRTIO_MAX_QUEUES || id->queue_size == 0 || id->queue_size > MAX_QUEUE_SIZE ||
        (id->queue_size & (id->queue_size - 1)) || id->cfg_size > REGION_LEN) {
        vm_error(vm, "virtio: bad queue or config layout");
        return -1;
    }
    v->mem = vm_physmem(vm);
    v->nqueues = id->nqueues;
    v->cfg_size = id->cfg_size;
    v->host_features |= 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_INDIRECT_DESC;
    for (unsigned q = 0; q < v->nqueues; q++)
        v->vq[q].max_size = v->vq[q].size = id->queue_size;
    struct pci_id pid = {
        .vendor = VIRTIO_VENDOR, .device = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + id->device_id),
        .subsys_vendor = VIRTIO_VENDOR, .subsys = VIRTIO_SUBSYS,
        .revision = VIRTIO_PCI_REVISION,
        .class_code = id->class_code, .subclass = id->subclass,
        .int_pin = 1,
    };
    pci_function_init(&v->pci, vm, devfn, &pid);
    pci_function_bar(&v->pci, VIRTIO_BAR, PCI_BAR_MEM32, VIRTIO_BAR_SIZE, &bar_ops, v);
    add_cap(&v->pci, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF, COMMON_LEN, false);
    add_cap(&v->pci, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, ISR_LEN, false);
    add_cap(&v->pci, VIRTIO_PCI_CAP_DEVICE_CFG, DEVCFG_OFF, id->cfg_size, false);
    add_cap(&v->pci, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF, NOTIFY_MULT * id->nqueues, true);
    if (pci_msix_init(&v->msix, &v->pci, MSIX_BAR, id->nqueues + 1) < 0) {
        vm_error(vm, "virtio: no room for the MSI-X capability");
        return -1;
    }
    v->pci.opaque = v;
    v->pci.config_written = config_written;
    if (pci_function_register(&v->pci) < 0)
        return -1;
    device_reset(v);
    return 0;
}
