/* virtio-blk on the modern PCI transport (00:05.0) driven as Linux's
 * virtio_pci and virtio_blk drivers would: the vendor capabilities, the
 * status handshake and feature negotiation, a split virtqueue, IN/OUT
 * requests checked against the image file's bytes (zero-copy and bounce
 * buffers, direct and indirect descriptors), FLUSH, GET_ID, DISCARD, the
 * ISR and INTx, MSI-X vectors (the message seen by the local APIC), reset,
 * and the error statuses and NEEDS_RESET a hostile guest gets. Oracle: virtio 1.1 (4.1 PCI, 2.6 split queues, 5.2 block)
 * and the raw image file read with pread. */
#include "apic_test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "drivers/blockdev.h"
#include "runtime/util.h"

#define VB_DEV 5
#define VB_GSI PCI_INTX_GSI(VB_DEV, 1)
#define BAR4 0xF0000000u
#define IMG_SECTORS 2048u
#define QSIZE 16

/* Guest memory of the test driver. */
#define DESC 0x10000u
#define AVAIL 0x11000u
#define USED 0x12000u
#define HDRS 0x13000u             /* request headers and status bytes */
#define INDIRECT 0x14000u
#define DATA 0x100000u

/* Our BAR4 layout, found through the capabilities in test_identity. */
#define COMMON 0x0000u
#define ISR 0x1000u
#define DEVCFG 0x2000u
#define NOTIFY 0x3000u
/* BAR1: the MSI-X table and PBA (PCI 3.0 6.8.2), as the capability says. */
#define BAR1 0xF0010000u
#define MSIX_TABLE 0x000u
#define MSIX_PBA 0x800u

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define F_SEG_MAX (1ull << 2)
#define F_RO (1ull << 5)
#define F_BLK_SIZE (1ull << 6)
#define F_FLUSH (1ull << 9)
#define F_DISCARD (1ull << 13)
#define F_INDIRECT (1ull << 28)
#define F_VERSION_1 (1ull << 32)

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

struct fx {
    struct vm *vm;
    char path[64];
    int fd;
    uint16_t avail_idx, used_seen;
};

static struct fx fx_new(bool read_only)
{
    struct fx f = {0};
    snprintf(f.path, sizeof f.path, "/tmp/caixa-vblk-XXXXXX");
    f.fd = mkstemp(f.path);
    assert_true(f.fd >= 0);
    static uint8_t img[IMG_SECTORS * 512];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 5 + (i >> 9));
    assert_int_equal(pwrite(f.fd, img, sizeof img, 0), (ssize_t)sizeof img);
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, DT_BIOS_FILL, sizeof bios);
    struct vm_params p = {
        .ram_size = 32u << 20, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    p.drives[p.ndrives++] = (struct vm_drive){.spec = f.path, .bus = VM_BUS_VIRTIO, .read_only = read_only};
    f.vm = vm_create(&p);
    assert_non_null(f.vm);
    return f;
}

static void fx_free(struct fx *f)
{
    vm_destroy(f->vm);
    close(f->fd);
    unlink(f->path);
}

static void pci_w32(struct vm *vm, unsigned reg, uint32_t v)
{
    outl(vm, 0xCF8, 0x80000000u | VB_DEV << 11 | reg);
    outl(vm, 0xCFC, v);
}

static uint64_t rd(struct fx *f, unsigned off, unsigned size)
{
    return physmem_read(&f->vm->mem, BAR4 + off, size);
}

static void wr(struct fx *f, unsigned off, uint64_t v, unsigned size)
{
    physmem_write(&f->vm->mem, BAR4 + off, v, size);
}

static void mem_w(struct fx *f, uint64_t a, const void *b, size_t n)
{
    assert_true(physmem_rw(&f->vm->mem, a, (void *)b, n, true));
}

static void mem_r(struct fx *f, uint64_t a, void *b, size_t n)
{
    assert_true(physmem_rw(&f->vm->mem, a, b, n, false));
}

static uint16_t mem_r16(struct fx *f, uint64_t a)
{
    uint8_t b[2];
    mem_r(f, a, b, 2);
    return (uint16_t)get_le(b, 2);
}

static void mem_w16(struct fx *f, uint64_t a, uint16_t v)
{
    uint8_t b[2];
    put_le(b, v, 2);
    mem_w(f, a, b, 2);
}

static uint64_t features(struct fx *f)
{
    wr(f, COMMON + 0x00, 0, 4);
    uint64_t lo = rd(f, COMMON + 0x04, 4);
    wr(f, COMMON + 0x00, 1, 4);
    return lo | rd(f, COMMON + 0x04, 4) << 32;
}

static void set_features(struct fx *f, uint64_t feat)
{
    wr(f, COMMON + 0x08, 0, 4);
    wr(f, COMMON + 0x0C, (uint32_t)feat, 4);
    wr(f, COMMON + 0x08, 1, 4);
    wr(f, COMMON + 0x0C, feat >> 32, 4);
}

/* BAR4 placed, the driver's handshake (virtio 3.1.1), queue 0 at DESC/
 * AVAIL/USED with QSIZE entries. */
static void driver_init(struct fx *f, uint64_t want)
{
    pci_w32(f->vm, 0x20, BAR4);
    pci_w32(f->vm, 0x04, 0x0006);
    wr(f, COMMON + 0x14, 0, 1);
    wr(f, COMMON + 0x14, S_ACK, 1);
    wr(f, COMMON + 0x14, S_ACK | S_DRIVER, 1);
    set_features(f, features(f) & want);
    wr(f, COMMON + 0x14, S_ACK | S_DRIVER | S_FEATURES_OK, 1);
    assert_int_equal(rd(f, COMMON + 0x14, 1), S_ACK | S_DRIVER | S_FEATURES_OK);
    wr(f, COMMON + 0x16, 0, 2);
    assert_int_equal(rd(f, COMMON + 0x18, 2), 1024);
    wr(f, COMMON + 0x18, QSIZE, 2);
    wr(f, COMMON + 0x20, DESC, 4);
    wr(f, COMMON + 0x24, 0, 4);
    wr(f, COMMON + 0x28, AVAIL, 8);
    wr(f, COMMON + 0x30, USED, 4);
    wr(f, COMMON + 0x34, 0, 4);
    uint8_t zero[0x1000] = {0};
    mem_w(f, AVAIL, zero, sizeof zero);
    mem_w(f, USED, zero, sizeof zero);
    wr(f, COMMON + 0x1C, 1, 2);
    wr(f, COMMON + 0x14, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
    f->avail_idx = f->used_seen = 0;
}

static void set_desc(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t d[16];
    put_le(d, addr, 8);
    put_le(&d[8], len, 4);
    put_le(&d[12], flags, 2);
    put_le(&d[14], next, 2);
    mem_w(f, table + 16ull * i, d, sizeof d);
}

/* Request header for descriptor chain number `slot` at HDRS + 32*slot,
 * its status byte at +16 (set to 0xEE first). */
static uint64_t put_hdr(struct fx *f, unsigned slot, uint32_t type, uint64_t sector)
{
    uint8_t h[17] = {0};
    put_le(h, type, 4);
    put_le(&h[8], sector, 8);
    h[16] = 0xEE;
    mem_w(f, HDRS + 32ull * slot, h, sizeof h);
    return HDRS + 32ull * slot;
}

static uint8_t status_of(struct fx *f, unsigned slot)
{
    uint8_t s;
    mem_r(f, HDRS + 32ull * slot + 16, &s, 1);
    return s;
}

/* Makes `head` available (without notifying). */
static void offer(struct fx *f, uint16_t head)
{
    mem_w16(f, AVAIL + 4 + 2ull * (f->avail_idx % QSIZE), head);
    f->avail_idx++;
    mem_w16(f, AVAIL + 2, f->avail_idx);
}

static void kick(struct fx *f)
{
    wr(f, NOTIFY, 0, 2);
}

/* Waits (host time, at most 5 s) for the used ring to reach `n` more. */
static void wait_used(struct fx *f, unsigned n)
{
    uint16_t want = (uint16_t)(f->used_seen + n);
    for (int i = 0; i < 5000 && mem_r16(f, USED + 2) != want; i++)
        usleep(1000);
    assert_int_equal(mem_r16(f, USED + 2), want);
    f->used_seen = want;
}

static uint32_t used_len(struct fx *f, uint16_t i)
{
    uint8_t e[8];
    mem_r(f, USED + 4 + 8ull * (i % QSIZE), e, 8);
    return (uint32_t)get_le(&e[4], 4);
}

/* A request of header, data regions (data[i] at addr, len) and status. */
static void chain(struct fx *f, unsigned head, unsigned slot, uint32_t type, uint64_t sector,
                  const uint64_t *addr, const uint32_t *len, unsigned n, bool data_writable)
{
    uint64_t h = put_hdr(f, slot, type, sector);
    unsigned d = head;
    set_desc(f, DESC, d, h, 16, D_NEXT, (uint16_t)(d + 1));
    for (unsigned i = 0; i < n; i++, d++)
        set_desc(f, DESC, d + 1, addr[i], len[i], (uint16_t)(D_NEXT | (data_writable ? D_WRITE : 0)),
                 (uint16_t)(d + 2));
    set_desc(f, DESC, d + 1, h + 16, 1, D_WRITE, 0);
}

static void image_read(struct fx *f, uint64_t sector, void *buf, size_t n)
{
    blockdev_drain(vm_blockdev(f->vm, "drive0"));   /* what it writes behind */
    assert_int_equal(pread(f->fd, buf, n, (off_t)(sector * 512)), (ssize_t)n);
}

static void test_identity(void **st)
{
    (void)st;
    struct fx f = fx_new(false);
    struct vm *vm = f.vm;
    assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, 0x00), 0x10421AF4u);
    assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, 0x08) & 0xFF, 1);       /* revision >= 1 */
    assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, 0x3C) >> 8 & 0xFF, 1);
    assert_true(dt_pci_read32(vm, VB_DEV, 0, 0x04) >> 16 & 0x10);          /* capability list */
    /* Walk the vendor capabilities: the four structures in BAR4; and MSI-X
     * (PCI 3.0 6.8.2): 2 vectors (queue + configuration), table and PBA in
     * BAR1. */
    unsigned seen = 0;
    for (unsigned at = dt_pci_read32(vm, VB_DEV, 0, 0x34) & 0xFF; at; ) {
        uint32_t w0 = dt_pci_read32(vm, VB_DEV, 0, at);
        if ((w0 & 0xFF) == 0x11) {
            assert_int_equal(w0 >> 16, 1);                                /* table size - 1, off */
            assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, at + 4), MSIX_TABLE | 1);
            assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, at + 8), MSIX_PBA | 1);
            seen |= 1u << 5;
            at = w0 >> 8 & 0xFF;
            continue;
        }
        assert_int_equal(w0 & 0xFF, 0x09);
        unsigned type = w0 >> 24;
        uint32_t w1 = dt_pci_read32(vm, VB_DEV, 0, at + 4);
        uint32_t off = dt_pci_read32(vm, VB_DEV, 0, at + 8);
        assert_int_equal(w1 & 0xFF, 4);                                   /* bar */
        static const uint32_t want[5] = {0, COMMON, NOTIFY, ISR, DEVCFG};
        assert_true(type >= 1 && type <= 4);
        assert_int_equal(off, want[type]);
        if (type == 2)
            assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, at + 16), 4);   /* notify multiplier */
        seen |= 1u << type;
        at = w0 >> 8 & 0xFF;
    }
    assert_int_equal(seen, 0x3E);
    pci_w32(vm, 0x20, 0xFFFFFFFF);
    assert_int_equal(dt_pci_read32(vm, VB_DEV, 0, 0x20), 0xFFFFC000u);     /* 16 KiB */
    pci_w32(vm, 0x20, BAR4);
    pci_w32(vm, 0x04, 0x0002);
    uint64_t feat = features(&f);
    uint64_t need = F_VERSION_1 | F_FLUSH | F_SEG_MAX | F_BLK_SIZE | F_INDIRECT | F_DISCARD;
    assert_int_equal(feat & need, need);
    assert_int_equal(feat & F_RO, 0);
    assert_int_equal(rd(&f, COMMON + 0x12, 2), 1);                       /* one queue */
    assert_int_equal(rd(&f, DEVCFG + 0, 8), IMG_SECTORS);                /* capacity */
    assert_int_equal(rd(&f, DEVCFG + 0x14, 4), 512);                     /* blk_size */
    assert_int_equal(rd(&f, DEVCFG + 0x0C, 4), 1022);                    /* seg_max */
    /* FEATURES_OK refused: without VERSION_1, or with a feature not offered. */
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER, 1);
    set_features(&f, F_FLUSH);
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER | S_FEATURES_OK, 1);
    assert_int_equal(rd(&f, COMMON + 0x14, 1) & S_FEATURES_OK, 0);
    wr(&f, COMMON + 0x14, 0, 1);
    assert_int_equal(rd(&f, COMMON + 0x14, 1), 0);
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER, 1);
    set_features(&f, F_VERSION_1 | (1ull << 40));
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER | S_FEATURES_OK, 1);
    assert_int_equal(rd(&f, COMMON + 0x14, 1) & S_FEATURES_OK, 0);
    fx_free(&f);

    /* A read-only image offers VIRTIO_BLK_F_RO and refuses writes. */
    f = fx_new(true);
    driver_init(&f, ~0ull);
    assert_true(features(&f) & F_RO);
    uint64_t a = DATA;
    uint32_t l = 512;
    chain(&f, 0, 0, 1, 0, &a, &l, 1, false);
    offer(&f, 0);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 0), 1);
    fx_free(&f);
}

static void test_read_write(void **st)
{
    (void)st;
    struct fx f = fx_new(false);
    driver_init(&f, ~0ull);
    /* OUT: 4 KiB + 512 B in two zero-copy regions. */
    uint8_t src[4608], got[4608], file[4608];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 11 + 3);
    mem_w(&f, DATA, src, 4096);
    mem_w(&f, DATA + 0x3000, src + 4096, 512);
    uint64_t a[2] = {DATA, DATA + 0x3000};
    uint32_t l[2] = {4096, 512};
    chain(&f, 0, 0, 1, 7, a, l, 2, false);
    offer(&f, 0);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 0), 0);
    assert_int_equal(used_len(&f, 0), 1);
    image_read(&f, 7, file, sizeof file);
    assert_memory_equal(file, src, sizeof src);
    /* IN of the same range into bounce-buffered regions (not whole sectors),
     * and a second IN in the same notify. */
    uint64_t b[3] = {DATA + 0x10002, DATA + 0x20000, DATA + 0x30000};
    uint32_t m[3] = {100, 4000, 508};
    chain(&f, 4, 1, 0, 7, b, m, 3, true);
    uint64_t c = DATA + 0x40000;
    uint32_t n = 1024;
    chain(&f, 9, 2, 0, 0, &c, &n, 1, true);
    offer(&f, 4);
    offer(&f, 9);
    kick(&f);
    wait_used(&f, 2);
    assert_int_equal(status_of(&f, 1), 0);
    assert_int_equal(status_of(&f, 2), 0);
    assert_int_equal(used_len(&f, 1) + used_len(&f, 2), 4608 + 1 + 1024 + 1);
    mem_r(&f, b[0], got, 100);
    mem_r(&f, b[1], got + 100, 4000);
    mem_r(&f, b[2], got + 4100, 508);
    assert_memory_equal(got, src, sizeof got);
    mem_r(&f, c, got, 1024);
    image_read(&f, 0, file, 1024);
    assert_memory_equal(got, file, 1024);
    /* An indirect table: header, 1 KiB of data, status. */
    uint64_t h = put_hdr(&f, 3, 0, 2);
    set_desc(&f, INDIRECT, 0, h, 16, D_NEXT, 1);
    set_desc(&f, INDIRECT, 1, DATA + 0x50000, 1024, D_NEXT | D_WRITE, 2);
    set_desc(&f, INDIRECT, 2, h + 16, 1, D_WRITE, 0);
    set_desc(&f, DESC, 12, INDIRECT, 48, D_INDIRECT, 0);
    offer(&f, 12);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 3), 0);
    mem_r(&f, DATA + 0x50000, got, 1024);
    image_read(&f, 2, file, 1024);
    assert_memory_equal(got, file, 1024);
    fx_free(&f);
}

static void test_flush_id_discard_isr(void **st)
{
    (void)st;
    struct fx f = fx_new(false);
    driver_init(&f, ~0ull);
    /* FLUSH: header and status only. */
    uint64_t h = put_hdr(&f, 0, 4, 0);
    set_desc(&f, DESC, 0, h, 16, D_NEXT, 1);
    set_desc(&f, DESC, 1, h + 16, 1, D_WRITE, 0);
    offer(&f, 0);
    assert_int_equal(dt_gsi(f.vm, VB_GSI), 0);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 0), 0);
    /* The interrupt: ISR bit 0, INTx up; reading ISR clears both. */
    assert_int_equal(dt_gsi(f.vm, VB_GSI), 1);
    assert_int_equal(rd(&f, ISR, 1), 1);
    assert_int_equal(dt_gsi(f.vm, VB_GSI), 0);
    assert_int_equal(rd(&f, ISR, 1), 0);
    /* GET_ID: 20 bytes of serial. */
    uint64_t a = DATA;
    uint32_t l = 20;
    chain(&f, 2, 1, 8, 0, &a, &l, 1, true);
    offer(&f, 2);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 1), 0);
    char id[21] = {0};
    mem_r(&f, DATA, id, 20);
    assert_string_equal(id, "caixa-drive0");
    assert_int_equal(rd(&f, ISR, 1), 1);
    /* DISCARD of two ranges. */
    uint8_t ranges[32] = {0};
    put_le(ranges, 64, 8);
    put_le(&ranges[8], 8, 4);
    put_le(&ranges[16], 128, 8);
    put_le(&ranges[24], 16, 4);
    mem_w(&f, DATA + 0x1000, ranges, sizeof ranges);
    a = DATA + 0x1000;
    l = 32;
    chain(&f, 5, 2, 11, 0, &a, &l, 1, false);
    /* No interrupt when the driver says so (VIRTQ_AVAIL_F_NO_INTERRUPT). */
    mem_w16(&f, AVAIL, 1);
    offer(&f, 5);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 2), 0);
    assert_int_equal(dt_gsi(f.vm, VB_GSI), 0);
    mem_w16(&f, AVAIL, 0);
    /* Unknown type: UNSUPP. */
    put_hdr(&f, 3, 0x55, 0);
    set_desc(&f, DESC, 8, HDRS + 96, 16, D_NEXT, 9);
    set_desc(&f, DESC, 9, HDRS + 96 + 16, 1, D_WRITE, 0);
    offer(&f, 8);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 3), 2);
    /* Reset: status reads 0, the queue is disabled, the interrupt drops. */
    wr(&f, COMMON + 0x14, 0, 1);
    assert_int_equal(rd(&f, COMMON + 0x14, 1), 0);
    assert_int_equal(rd(&f, COMMON + 0x1C, 2), 0);
    assert_int_equal(dt_gsi(f.vm, VB_GSI), 0);
    fx_free(&f);
}

static void test_request_errors(void **st)
{
    (void)st;
    struct fx f = fx_new(false);
    driver_init(&f, ~0ull);
    struct {
        uint32_t type;
        uint64_t sector, addr;
        uint32_t len;
        bool wr;
    } bad[] = {
        {0, IMG_SECTORS - 1, DATA, 1024, true},        /* past the end */
        {0, ~0ull >> 1, DATA, 512, true},               /* sector * 512 overflows */
        {1, 0, DATA, 500, false},                       /* not whole sectors */
        {0, 0, 0xE8000000u, 512, true},                 /* buffer outside RAM */
        {1, 0, 0xFFFFFFFFFFFFFE00ull, 512, false},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        chain(&f, 0, i, bad[i].type, bad[i].sector, &bad[i].addr, &bad[i].len, 1, bad[i].wr);
        offer(&f, 0);
        kick(&f);
        wait_used(&f, 1);
        assert_int_equal(status_of(&f, i), 1);
    }
    uint8_t file[512], zero[512] = {0};
    image_read(&f, 0, file, 512);
    assert_memory_not_equal(file, zero, 512);
    /* Still working. */
    uint64_t a = DATA;
    uint32_t l = 512;
    chain(&f, 0, 0, 0, 0, &a, &l, 1, true);
    offer(&f, 0);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 0), 0);
    fx_free(&f);
}

/* Malformed rings: the device marks itself NEEDS_RESET and raises a
 * configuration interrupt; a reset brings it back. */
static void expect_broken(struct fx *f)
{
    assert_true(rd(f, COMMON + 0x14, 1) & S_NEEDS_RESET);
    assert_int_equal(rd(f, ISR, 1) & 2, 2);
    driver_init(f, ~0ull);
    assert_int_equal(rd(f, COMMON + 0x14, 1) & S_NEEDS_RESET, 0);
}

static void test_ring_errors(void **st)
{
    (void)st;
    struct fx f = fx_new(false);
    driver_init(&f, ~0ull);
    /* A descriptor loop. */
    put_hdr(&f, 0, 0, 0);
    set_desc(&f, DESC, 0, HDRS, 16, D_NEXT, 1);
    set_desc(&f, DESC, 1, DATA, 512, D_NEXT | D_WRITE, 0);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    /* A head index past the queue. */
    offer(&f, QSIZE + 3);
    kick(&f);
    expect_broken(&f);
    /* next past the queue. */
    set_desc(&f, DESC, 0, HDRS, 16, D_NEXT, 500);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    /* The available index more than a queue ahead. */
    mem_w16(&f, AVAIL + 2, QSIZE + 1);
    kick(&f);
    expect_broken(&f);
    /* No writable status byte. */
    set_desc(&f, DESC, 0, HDRS, 16, 0, 0);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    /* Readable after writable. */
    set_desc(&f, DESC, 0, HDRS + 16, 1, D_WRITE | D_NEXT, 1);
    set_desc(&f, DESC, 1, HDRS, 16, 0, 0);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    /* Nested indirect tables, and an indirect table with a loop. */
    set_desc(&f, INDIRECT, 0, INDIRECT, 32, D_INDIRECT, 0);
    set_desc(&f, DESC, 0, INDIRECT, 32, D_INDIRECT, 0);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    set_desc(&f, INDIRECT, 0, HDRS, 16, D_NEXT, 1);
    set_desc(&f, INDIRECT, 1, HDRS + 16, 1, D_NEXT | D_WRITE, 0);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    /* Rings outside RAM. */
    wr(&f, COMMON + 0x14, 0, 1);
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER, 1);
    set_features(&f, F_VERSION_1);
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER | S_FEATURES_OK, 1);
    wr(&f, COMMON + 0x28, 0xE8000000u, 8);
    wr(&f, COMMON + 0x1C, 1, 2);
    wr(&f, COMMON + 0x14, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
    kick(&f);
    expect_broken(&f);
    /* Indirect descriptors without the feature. */
    wr(&f, COMMON + 0x14, 0, 1);
    driver_init(&f, ~F_INDIRECT);
    set_desc(&f, INDIRECT, 0, HDRS, 16, D_NEXT, 1);
    set_desc(&f, INDIRECT, 1, HDRS + 16, 1, D_WRITE, 0);
    set_desc(&f, DESC, 0, INDIRECT, 32, D_INDIRECT, 0);
    offer(&f, 0);
    kick(&f);
    expect_broken(&f);
    fx_free(&f);
}

/* The MSI-X capability's offset, from the capability list. */
static unsigned msix_cap(struct vm *vm)
{
    for (unsigned at = dt_pci_read32(vm, VB_DEV, 0, 0x34) & 0xFF; at;) {
        uint32_t w0 = dt_pci_read32(vm, VB_DEV, 0, at);
        if ((w0 & 0xFF) == 0x11)
            return at;
        at = w0 >> 8 & 0xFF;
    }
    fail_msg("no MSI-X capability");
    return 0;
}

/* Vector `vec` requested on vCPU 0's APIC (IRR), within 5 s: the used
 * index goes out just before the message. */
static bool apic_got(struct vm *vm, unsigned vec)
{
    for (int i = 0; i < 5000; i++) {
        vm_lock(vm);        /* the completion raises it under this lock */
        vm_unlock(vm);
        if (apic_bit(vm, 0, A_IRR, vec))
            return true;
        usleep(1000);
    }
    return false;
}

static void apic_take(struct vm *vm, unsigned vec)
{
    assert_int_equal(cpu_inta(vm, 0), (int)vec);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, vec), 0);
}

/* virtio 4.1.4.3 / 4.1.5.1.2: the driver maps the configuration and queue
 * events to MSI-X vectors; used buffers and NEEDS_RESET then arrive as
 * those messages, with the ISR unused and INTx low (4.1.4.5). */
static void test_msix(void **st)
{
    (void)st;
    struct fx f = fx_new(false);
    struct vm *vm = f.vm;
    pic_mask_all(vm);
    apic_enable(vm, 0);
    driver_init(&f, ~0ull);
    unsigned cap = msix_cap(vm);
    pci_w32(vm, 0x14, BAR1);
    /* Vectors: 2 (one queue + configuration); out of range reads NO_VECTOR. */
    assert_int_equal(rd(&f, COMMON + 0x10, 2), 0xFFFF);
    assert_int_equal(rd(&f, COMMON + 0x1A, 2), 0xFFFF);
    wr(&f, COMMON + 0x10, 2, 2);
    assert_int_equal(rd(&f, COMMON + 0x10, 2), 0xFFFF);
    wr(&f, COMMON + 0x10, 1, 2);
    assert_int_equal(rd(&f, COMMON + 0x10, 2), 1);
    wr(&f, COMMON + 0x16, 0, 2);
    wr(&f, COMMON + 0x1A, 7, 2);
    assert_int_equal(rd(&f, COMMON + 0x1A, 2), 0xFFFF);
    wr(&f, COMMON + 0x1A, 0, 2);
    assert_int_equal(rd(&f, COMMON + 0x1A, 2), 0);
    /* Table: vector 0 -> APIC 0 vector 0x61, vector 1 -> 0x62, unmasked
     * (SDM Vol. 3A 10.11: 0xFEE00000 | dest << 12; data = vector). */
    physmem_write(&vm->mem, BAR1 + 0x00, 0xFEE00000u, 4);
    physmem_write(&vm->mem, BAR1 + 0x08, 0x61, 4);
    physmem_write(&vm->mem, BAR1 + 0x0C, 0, 4);
    physmem_write(&vm->mem, BAR1 + 0x10, 0xFEE00000u, 4);
    physmem_write(&vm->mem, BAR1 + 0x18, 0x62, 4);
    physmem_write(&vm->mem, BAR1 + 0x1C, 0, 4);
    uint32_t ctl_off = dt_pci_read32(vm, VB_DEV, 0, cap) & 0xFFFF;

    /* MSI-X still off: a FLUSH raises INTx and the ISR. */
    uint64_t h = put_hdr(&f, 0, 4, 0);
    set_desc(&f, DESC, 0, h, 16, D_NEXT, 1);
    set_desc(&f, DESC, 1, h + 16, 1, D_WRITE, 0);
    offer(&f, 0);
    kick(&f);
    wait_used(&f, 1);
    vm_lock(vm);
    vm_unlock(vm);
    assert_int_equal(dt_gsi(vm, VB_GSI), 1);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x61), 0);
    /* Enabling MSI-X lowers INTx (PCI 3.0 6.8.2); disabling it again gives
     * the line back to the unread ISR. */
    pci_w32(vm, cap, (uint32_t)0x8000 << 16 | ctl_off);
    assert_int_equal(dt_gsi(vm, VB_GSI), 0);
    pci_w32(vm, cap, ctl_off);
    assert_int_equal(dt_gsi(vm, VB_GSI), 1);
    assert_int_equal(rd(&f, ISR, 1), 1);
    assert_int_equal(dt_gsi(vm, VB_GSI), 0);
    pci_w32(vm, cap, (uint32_t)0x8000 << 16 | ctl_off);

    /* FLUSH completes through vector 0's message. */
    offer(&f, 0);
    kick(&f);
    wait_used(&f, 1);
    assert_int_equal(status_of(&f, 0), 0);
    assert_true(apic_got(vm, 0x61));
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x62), 0);
    assert_int_equal(dt_gsi(vm, VB_GSI), 0);
    assert_int_equal(rd(&f, ISR, 1), 0);
    apic_take(vm, 0x61);
    /* The queue unmapped (NO_VECTOR): no message, and still no ISR. */
    wr(&f, COMMON + 0x1A, 0xFFFF, 2);
    offer(&f, 0);
    kick(&f);
    wait_used(&f, 1);
    vm_lock(vm);
    vm_unlock(vm);
    assert_int_equal(apic_bit(vm, 0, A_IRR, 0x61), 0);
    assert_int_equal(dt_gsi(vm, VB_GSI), 0);
    assert_int_equal(rd(&f, ISR, 1), 0);
    /* A malformed ring (head past the table): NEEDS_RESET on the
     * configuration vector. */
    offer(&f, QSIZE + 3);
    kick(&f);
    assert_true(apic_got(vm, 0x62));
    assert_true(rd(&f, COMMON + 0x14, 1) & S_NEEDS_RESET);
    assert_int_equal(dt_gsi(vm, VB_GSI), 0);
    assert_int_equal(rd(&f, ISR, 1), 0);
    apic_take(vm, 0x62);
    /* A reset unmaps the vectors again. */
    wr(&f, COMMON + 0x14, 0, 1);
    assert_int_equal(rd(&f, COMMON + 0x10, 2), 0xFFFF);
    assert_int_equal(rd(&f, COMMON + 0x1A, 2), 0xFFFF);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_read_write),
        cmocka_unit_test(test_flush_id_discard_isr),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_ring_errors),
        cmocka_unit_test(test_msix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
