/* The virtio 1.x PCI transport and split virtqueues (virtio_pci.c), for
 * the virtio devices of this directory (virtio_blk.c). Private to them.
 *
 * A device embeds a struct virtio_dev, fills ops, and calls
 * virtio_pci_init. The transport runs the common configuration (features,
 * status, queue setup), the ISR and notify registers, INTx and MSI-X
 * (one vector per queue and one for configuration changes); the device
 * pops descriptor chains on notify and pushes them back when done.
 *
 * Reference: Virtual I/O Device (VIRTIO) Version 1.1, sections cited as
 * "virtio x.y" (2.6 split virtqueues, 4.1 PCI transport). */
#ifndef CAIXA_DEVICES_VIRTIO_H
#define CAIXA_DEVICES_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_MSI_NO_VECTOR 0xFFFF    /* virtio 4.1.4.3: no vector mapped */

/* Feature bits (virtio 6). */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_VERSION_1 32

/* Device status bits (virtio 2.1). */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER 2
#define VIRTIO_S_DRIVER_OK 4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 64
#define VIRTIO_S_FAILED 128

struct virtio_dev;

/* One region of a descriptor chain. */
struct vq_seg {
    uint64_t gpa;
    uint32_t len;
};

/* A chain popped from the available ring: the readable regions first, then
 * the writable ones (virtio 2.6.4.2). */
struct vq_elem {
    uint16_t head;
    struct vq_seg *seg;         /* malloc'd: vq_elem_free */
    unsigned nseg, nread;       /* segments; of them readable */
    uint64_t read_len, write_len;
};

struct virtio_ops {
    /* The device-specific configuration (virtio 4.1.4.6): bytes [off,
     * off+size) of its structure, little-endian. */
    uint64_t (*cfg_read)(struct virtio_dev *v, unsigned off, unsigned size);
    void (*cfg_write)(struct virtio_dev *v, unsigned off, uint64_t val, unsigned size);
    /* The driver notified queue q (DRIVER_OK set, device not broken). */
    void (*notify)(struct virtio_dev *v, unsigned q);
    /* Device reset (status 0 written, or machine reset). */
    void (*reset)(struct virtio_dev *v);
};

struct virtqueue {
    uint16_t size, max_size;
    bool enabled;
    uint64_t desc, avail, used;
    uint16_t last_avail, used_idx;
    uint16_t msix_vector;       /* queue_msix_vector: VIRTIO_MSI_NO_VECTOR or < nvec */
};

struct virtio_dev {
    pci_function pci;
    struct physmem *mem;
    const struct virtio_ops *ops;
    void *opaque;               /* for the device */
    unsigned cfg_size;          /* bytes of device configuration */
    uint64_t host_features, guest_features;
    uint32_t dfselect, gfselect;
    uint8_t status, isr;
    uint16_t qsel;
    unsigned nqueues;
    struct virtqueue vq[VIRTIO_MAX_QUEUES];
    /* Requests the device has in flight (it counts them) and the reset
     * generation they belong to: a reset waits for them (status reads its
     * old value until they are done) and drops their results. */
    unsigned inflight;
    uint32_t gen;
    uint8_t status_before_reset;
    /* MSI-X (virtio 4.1.4.3, 4.1.5.1.2): the vector of configuration
     * changes; the queues keep theirs. */
    struct pci_msix msix;
    uint16_t msix_config;
};

struct virtio_pci_id {
    uint16_t device_id;         /* virtio device type (virtio 5) */
    uint8_t class_code, subclass;
    uint16_t queue_size;        /* maximum of every queue */
    unsigned nqueues;
    unsigned cfg_size;
};

/* Registers the PCI function (1af4:1040+type, BAR4 with the four
 * structures, BAR1 with the MSI-X table). Returns 0 or -1 after vm_error. */
int virtio_pci_init(struct virtio_dev *v, struct vm *vm, uint8_t devfn, const struct virtio_pci_id *id);
/* Machine reset: the PCI header and the device. */
void virtio_pci_reset(struct virtio_dev *v);

/* Pops the next available chain of queue q: 1 popped, 0 none, -1 the ring
 * or chain was malformed (the device is then marked NEEDS_RESET). */
int vq_pop(struct virtio_dev *v, unsigned q, struct vq_elem *e);
void vq_elem_free(struct vq_elem *e);
/* Puts a chain on the used ring with the bytes written to it, and
 * interrupts the driver unless it asked not to be. */
void vq_push(struct virtio_dev *v, unsigned q, uint16_t head, uint32_t written);
/* Marks the device broken (NEEDS_RESET) and tells the driver. */
void virtio_set_needs_reset(struct virtio_dev *v);
/* An in-flight request of generation gen finished: true when its result
 * still counts (no reset since). */
bool virtio_request_done(struct virtio_dev *v, uint32_t gen);

/* Guest memory through the function's bus mastering. */
bool virtio_dma_read(struct virtio_dev *v, uint64_t gpa, void *buf, size_t len);
bool virtio_dma_write(struct virtio_dev *v, uint64_t gpa, const void *buf, size_t len);
/* Guest RAM written behind the CPU's back (zero-copy reads): the vCPUs
 * drop code they decoded from those pages. */
void virtio_ram_written(struct virtio_dev *v, const struct vq_seg *s, unsigned n);

#endif
