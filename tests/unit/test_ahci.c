/* ICH9 AHCI (00:0d.0) driven as a driver would: PCI identity and ABAR,
 * HBA and port registers, COMRESET and the signature FIS, IDENTIFY,
 * DMA reads and writes against the image file's bytes (zero-copy and
 * bounce-buffer PRDTs), NCQ over several slots, flush, interrupts (INTx
 * and MSI, seen by the local APIC), and the error paths a hostile guest can reach. Oracle: the AHCI 1.3 and
 * ATA8-ACS specifications, and the raw image file read with pread. */
#include "apic_test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "drivers/blockdev.h"
#include "host_file.h"
#include "runtime/util.h"
#include "vmm/config.h"

#define AHCI_DEV 13
#define AHCI_GSI PCI_INTX_GSI(AHCI_DEV, 1)
#define ABAR 0xF0000000u
#define IMG_SECTORS 2048u            /* 1 MiB image */

/* Guest memory layout of the test "driver". */
#define CLB0 0x10000u
#define FB0 0x11000u
#define CT(slot) (0x20000u + (slot) * 0x1000u)
#define BUF(slot) (0x100000u + (slot) * 0x10000u)

#define P0(reg) (0x100u + (reg))
#define PX_CLB 0x00
#define PX_FB 0x08
#define PX_IS 0x10
#define PX_IE 0x14
#define PX_CMD 0x18
#define PX_TFD 0x20
#define PX_SIG 0x24
#define PX_SSTS 0x28
#define PX_SCTL 0x2C
#define PX_SERR 0x30
#define PX_SACT 0x34
#define PX_CI 0x38

#define IS_DHRS 0x1u
#define IS_PSS 0x2u
#define IS_SDBS 0x8u
#define IS_PCS 0x40u
#define IS_IFS (1u << 27)
#define IS_HBFS (1u << 29)
#define IS_TFES (1u << 30)
#define CMD_ST 0x1u
#define CMD_FRE 0x10u
#define CMD_CR 0x8000u

struct fx {
    struct vm *vm;
    char path[2][64];
    int fd;                         /* the first disk's image */
};

static void image_byte_pattern(uint8_t *p, size_t n, uint64_t base)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((base + i) * 7 + ((base + i) >> 9));
}

static struct fx fx_new_media(int ndisks, bool cdrom)
{
    struct fx f = {0};
    assert_true(ndisks <= 2);
    static uint8_t img[IMG_SECTORS * 512];
    image_byte_pattern(img, sizeof img, 0);
    for (int i = 0; i < ndisks; i++) {
        snprintf(f.path[i], sizeof f.path[i], "/tmp/caixa-ahci-XXXXXX");
        int fd = mkstemp(f.path[i]);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, img, sizeof img, 0), (ssize_t)sizeof img);
        if (i == 0)
            f.fd = fd;
        else
            close(fd);
    }
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, DT_BIOS_FILL, sizeof bios);
    struct vm_params p = {
        .ram_size = 32u << 20, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    for (int i = 0; i < ndisks; i++)
        p.drives[p.ndrives++] = (struct vm_drive){.spec = f.path[i], .bus = VM_BUS_SATA, .cdrom = cdrom,
                                                  .read_only = cdrom};
    f.vm = vm_create(&p);
    assert_non_null(f.vm);
    return f;
}

static struct fx fx_new(int ndisks)
{
    return fx_new_media(ndisks, false);
}

static void fx_free(struct fx *f)
{
    vm_destroy(f->vm);
    close(f->fd);
    for (int i = 0; i < 2; i++)
        if (f->path[i][0])
            unlink(f->path[i]);
}

static void pci_w32(struct vm *vm, unsigned reg, uint32_t v)
{
    outl(vm, 0xCF8, 0x80000000u | AHCI_DEV << 11 | reg);
    outl(vm, 0xCFC, v);
}

static uint32_t rd(struct fx *f, unsigned reg)
{
    return (uint32_t)physmem_read(&f->vm->mem, ABAR + reg, 4);
}

static void wr(struct fx *f, unsigned reg, uint32_t v)
{
    physmem_write(&f->vm->mem, ABAR + reg, v, 4);
}

static void mem_w(struct fx *f, uint64_t a, const void *b, size_t n)
{
    assert_true(physmem_rw(&f->vm->mem, a, (void *)b, n, true));
}

static void mem_r(struct fx *f, uint64_t a, void *b, size_t n)
{
    assert_true(physmem_rw(&f->vm->mem, a, b, n, false));
}

static uint32_t mem_r32(struct fx *f, uint64_t a)
{
    uint8_t b[4];
    mem_r(f, a, b, 4);
    return (uint32_t)get_le(b, 4);
}

/* BAR5 at ABAR, memory decoding and bus mastering on, port 0 started
 * with FIS receive, interrupts enabled. */
static void driver_init(struct fx *f)
{
    pci_w32(f->vm, 0x24, ABAR);
    pci_w32(f->vm, 0x04, 0x0006);
    wr(f, 0x04, 0x2);                       /* GHC.IE */
    wr(f, P0(PX_CLB), CLB0);
    wr(f, P0(PX_FB), FB0);
    wr(f, P0(PX_CMD), CMD_FRE);
    wr(f, P0(PX_SERR), 0xFFFFFFFF);
    wr(f, P0(PX_IS), 0xFFFFFFFF);
    wr(f, P0(PX_IE), 0xFFFFFFFF);
    wr(f, 0x08, 0xFFFFFFFF);
    wr(f, P0(PX_CMD), CMD_FRE | CMD_ST);
}

struct prd {
    uint64_t addr;
    uint32_t len;
};

/* Command header in `slot` and its table: an H2D register FIS and PRDT. */
static void build_cmd(struct fx *f, unsigned slot, uint8_t command, uint64_t lba, uint16_t count,
                      uint16_t features, bool write, const struct prd *prd, unsigned nprd)
{
    uint8_t hdr[32] = {0}, ct[0x80 + 16 * 8] = {0};
    assert_true(nprd <= 8);
    put_le(hdr, 5 | (write ? 0x40 : 0) | (uint32_t)nprd << 16, 4);
    put_le(&hdr[8], CT(slot), 8);
    mem_w(f, CLB0 + slot * 32, hdr, sizeof hdr);
    ct[0] = 0x27;
    ct[1] = 0x80;
    ct[2] = command;
    ct[3] = (uint8_t)features;
    ct[11] = (uint8_t)(features >> 8);
    ct[4] = (uint8_t)lba;
    ct[5] = (uint8_t)(lba >> 8);
    ct[6] = (uint8_t)(lba >> 16);
    ct[7] = 0x40;
    ct[8] = (uint8_t)(lba >> 24);
    ct[9] = (uint8_t)(lba >> 32);
    ct[10] = (uint8_t)(lba >> 40);
    ct[12] = (uint8_t)count;
    ct[13] = (uint8_t)(count >> 8);
    for (unsigned i = 0; i < nprd; i++) {
        put_le(&ct[0x80 + 16 * i], prd[i].addr, 8);
        put_le(&ct[0x80 + 16 * i + 12], prd[i].len - 1, 4);
    }
    mem_w(f, CT(slot), ct, 0x80 + 16 * nprd);
}

/* Waits (host time, at most 5 s) until none of `mask` is set in reg. */
static void wait_clear(struct fx *f, unsigned reg, uint32_t mask)
{
    for (int i = 0; i < 5000 && (rd(f, reg) & mask); i++)
        usleep(1000);
    if (rd(f, reg) & mask)
        print_error("port 0: IS %08x TFD %08x CI %08x SACT %08x\n", rd(f, P0(PX_IS)), rd(f, P0(PX_TFD)),
                    rd(f, P0(PX_CI)), rd(f, P0(PX_SACT)));
    assert_int_equal(rd(f, reg) & mask, 0);
}

static void image_read(struct fx *f, uint64_t lba, void *buf, size_t n)
{
    blockdev_drain(vm_blockdev(f->vm, "drive0"));   /* what it writes behind */
    assert_int_equal(pread(f->fd, buf, n, (off_t)(lba * 512)), (ssize_t)n);
}

static void test_identity(void **st)
{
    (void)st;
    struct fx f = fx_new(2);
    struct vm *vm = f.vm;
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, 0x00), 0x29228086u);
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, 0x08) >> 8, 0x010601u);
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, 0x3C) >> 8 & 0xFF, 1);      /* INTA */
    pci_w32(vm, 0x24, 0xFFFFFFFF);
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, 0x24), 0xFFFFF800u);        /* 2 KiB ABAR */
    pci_w32(vm, 0x24, ABAR);
    assert_int_equal(rd(&f, 0x00), 0xFFFFFFFFu);                               /* decoding off */
    pci_w32(vm, 0x04, 0x0002);
    uint32_t cap = rd(&f, 0x00);
    assert_int_equal(cap & 0x1F, 1);                      /* as many ports as the highest drive */
    assert_int_equal(cap >> 8 & 0x1F, 31);                                    /* 32 slots */
    assert_true(cap & (1u << 30));                                            /* NCQ */
    assert_true(cap & (1u << 31));                                            /* 64-bit */
    assert_int_equal(rd(&f, 0x04), 0x80000000u);                              /* GHC.AE */
    assert_int_equal(rd(&f, 0x0C), 0x3);
    assert_int_equal(rd(&f, 0x10), 0x00010300u);
    /* Ports 0 and 1 hold disks; port 2 is not implemented. */
    assert_int_equal(rd(&f, P0(PX_SSTS)), 0x123);
    assert_int_equal(rd(&f, P0(PX_SIG)), 0x101);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x50);
    assert_int_equal(rd(&f, 0x100 + 0x80 + PX_SSTS), 0x123);
    assert_int_equal(rd(&f, 0x100 + 2 * 0x80 + PX_SSTS), 0);
    assert_int_equal(rd(&f, 0x100 + 2 * 0x80 + PX_SIG), 0);
    /* Byte reads see the register's bytes. */
    assert_int_equal(physmem_read(&vm->mem, ABAR + 0x12, 1), 0x01);
    fx_free(&f);
}

/* "ports" implements empty ports too: no device behind them (AHCI 3.3.9,
 * 3.3.10); more ports than the controller has is refused. */
static void test_empty_ports(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    struct config *cfg = config_child(vm_config_root(f.vm), "ahci_extra");
    config_set_u64(cfg, "devfn", 14 << 3);
    config_set_str(cfg, "port0", "drive0");
    config_set_u64(cfg, "ports", 3);
    assert_int_equal(vm_add_device(f.vm, "ahci", cfg), 0);
    pci_w32(f.vm, 0x24, ABAR);                      /* the first one stays off */
    outl(f.vm, 0xCF8, 0x80000000u | 14 << 11 | 0x24);
    outl(f.vm, 0xCFC, ABAR);
    outl(f.vm, 0xCF8, 0x80000000u | 14 << 11 | 0x04);
    outl(f.vm, 0xCFC, 0x0006);
    assert_int_equal(rd(&f, 0x00) & 0x1F, 2);
    assert_int_equal(rd(&f, 0x0C), 0x7);
    assert_int_equal(rd(&f, P0(PX_SSTS)), 0x123);
    unsigned p2 = 0x100 + 2 * 0x80;
    assert_int_equal(rd(&f, p2 + PX_SSTS), 0);
    assert_int_equal(rd(&f, p2 + PX_SIG), 0xFFFFFFFFu);
    assert_int_equal(rd(&f, p2 + PX_TFD), 0x7F);
    /* A command to an empty port aborts. */
    wr(&f, p2 + PX_CLB, CLB0);
    wr(&f, p2 + PX_CMD, CMD_ST);
    build_cmd(&f, 0, 0xEC, 0, 0, 0, false, NULL, 0);
    wr(&f, p2 + PX_CI, 1);
    assert_true(rd(&f, p2 + PX_IS) & IS_TFES);
    struct config *bad = config_child(vm_config_root(f.vm), "ahci_bad");
    config_set_u64(bad, "devfn", 15 << 3);
    config_set_u64(bad, "ports", 7);
    assert_int_equal(vm_add_device(f.vm, "ahci", bad), -1);
    fx_free(&f);
}

static void test_comreset_and_hba_reset(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    wr(&f, P0(PX_CMD), CMD_FRE);            /* stop the list; FIS receive stays */
    wait_clear(&f, P0(PX_CMD), CMD_CR);
    mem_w(&f, FB0 + 0x40, (uint8_t[4]){0, 0, 0x80, 0}, 4);
    wr(&f, P0(PX_SCTL), 1);                 /* COMRESET */
    assert_int_equal(rd(&f, P0(PX_SSTS)) & 0xF, 0);
    assert_true(rd(&f, P0(PX_TFD)) & 0x80);
    wr(&f, P0(PX_SCTL), 0);
    assert_int_equal(rd(&f, P0(PX_SSTS)), 0x123);
    assert_int_equal(rd(&f, P0(PX_SIG)), 0x101);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x50);
    /* The signature FIS in the received FIS area. */
    uint8_t fis[20];
    mem_r(&f, FB0 + 0x40, fis, sizeof fis);
    assert_int_equal(fis[0], 0x34);
    assert_int_equal(fis[2], 0x50);
    assert_int_equal(fis[12], 1);
    assert_int_equal(fis[4], 1);
    /* SERR.DIAG.X and its mirror PxIS.PCS, the interrupt, both cleared by SERR. */
    assert_true(rd(&f, P0(PX_SERR)) & (1u << 26));
    assert_true(rd(&f, P0(PX_IS)) & IS_PCS);
    assert_int_equal(rd(&f, 0x08), 1);
    assert_int_equal(dt_gsi(f.vm, AHCI_GSI), 1);
    wr(&f, P0(PX_IS), IS_PCS);              /* RWC does not clear PCS */
    assert_true(rd(&f, P0(PX_IS)) & IS_PCS);
    wr(&f, P0(PX_SERR), 0xFFFFFFFF);
    assert_int_equal(rd(&f, P0(PX_IS)), 0);
    wr(&f, 0x08, 1);
    assert_int_equal(rd(&f, 0x08), 0);
    assert_int_equal(dt_gsi(f.vm, AHCI_GSI), 0);
    /* GHC.HR: registers back to their reset values. */
    wr(&f, 0x04, 1);
    assert_int_equal(rd(&f, 0x04), 0x80000000u);
    assert_int_equal(rd(&f, P0(PX_CLB)), 0);
    assert_int_equal(rd(&f, P0(PX_IE)), 0);
    assert_int_equal(rd(&f, P0(PX_CMD)) & (CMD_ST | CMD_FRE), 0);
    fx_free(&f);
}

static uint16_t id_word(const uint8_t *id, unsigned w)
{
    return (uint16_t)get_le(&id[2 * w], 2);
}

static void test_identify(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    struct prd prd[2] = {{BUF(0), 256}, {BUF(0) + 0x1000, 256}};
    build_cmd(&f, 0, 0xEC, 0, 0, 0, false, prd, 2);
    wr(&f, P0(PX_CI), 1);
    wait_clear(&f, P0(PX_CI), 1);
    uint8_t id[512];
    mem_r(&f, BUF(0), id, 256);
    mem_r(&f, BUF(0) + 0x1000, id + 256, 256);
    assert_int_equal(id_word(id, 0) & 0x8000, 0);                 /* ATA device */
    assert_int_equal(id_word(id, 49) & 0x0300, 0x0300);           /* LBA, DMA */
    assert_int_equal(id_word(id, 83) & 0x0400, 0x0400);           /* 48-bit */
    assert_int_equal(id_word(id, 76) & 0x0100, 0x0100);           /* NCQ */
    assert_int_equal(id_word(id, 75), 31);
    assert_int_equal(id_word(id, 60) | id_word(id, 61) << 16, IMG_SECTORS);
    assert_int_equal(id_word(id, 100) | id_word(id, 101) << 16, IMG_SECTORS);
    char model[41] = {0};
    for (int i = 0; i < 40; i++)
        model[i] = (char)id[54 + (i ^ 1)];                        /* byte-swapped words */
    assert_string_equal(model, "CAIXA HARDDISK                          ");
    uint8_t sum = 0;
    for (int i = 0; i < 512; i++)
        sum = (uint8_t)(sum + id[i]);
    assert_int_equal(id[510], 0xA5);
    assert_int_equal(sum, 0);
    /* PIO setup FIS with the ending status, PRDBC, the interrupt. */
    uint8_t ps[20];
    mem_r(&f, FB0 + 0x20, ps, sizeof ps);
    assert_int_equal(ps[0], 0x5F);
    assert_int_equal(ps[15], 0x50);
    assert_int_equal(mem_r32(&f, CLB0 + 4), 512);
    assert_true(rd(&f, P0(PX_IS)) & IS_PSS);
    assert_int_equal(dt_gsi(f.vm, AHCI_GSI), 1);
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    wr(&f, 0x08, 1);
    assert_int_equal(dt_gsi(f.vm, AHCI_GSI), 0);
    /* GHC.IE off: status is still recorded, the line stays low. */
    wr(&f, 0x04, 0);
    build_cmd(&f, 1, 0xEC, 0, 0, 0, false, prd, 1);
    prd[0].len = 512;
    build_cmd(&f, 1, 0xEC, 0, 0, 0, false, prd, 1);
    wr(&f, P0(PX_CI), 2);
    wait_clear(&f, P0(PX_CI), 2);
    assert_true(rd(&f, 0x08) & 1);
    assert_int_equal(dt_gsi(f.vm, AHCI_GSI), 0);
    fx_free(&f);
}

/* WRITE DMA EXT of `n` sectors at lba through the PRDT, then READ DMA EXT
 * back through another, each checked against the image file. */
static void rw_round_trip(struct fx *f, uint64_t lba, const struct prd *wprd, unsigned nw,
                          const struct prd *rprd, unsigned nr, uint16_t n)
{
    size_t bytes = (size_t)n * 512;
    uint8_t *src = malloc(bytes), *got = malloc(bytes), *file = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        src[i] = (uint8_t)(i * 13 + lba + 1);
    size_t off = 0;
    for (unsigned i = 0; i < nw; i++) {
        mem_w(f, wprd[i].addr, src + off, wprd[i].len);
        off += wprd[i].len;
    }
    build_cmd(f, 3, 0x35, lba, n, 0, true, wprd, nw);
    wr(f, P0(PX_CI), 1u << 3);
    wait_clear(f, P0(PX_CI), 1u << 3);
    assert_int_equal(rd(f, P0(PX_TFD)) & 0xFF, 0x50);
    assert_true(rd(f, P0(PX_IS)) & IS_DHRS);
    assert_int_equal(mem_r32(f, CLB0 + 3 * 32 + 4), bytes);
    image_read(f, lba, file, bytes);
    assert_memory_equal(file, src, bytes);
    /* Read back a region that differs in the image around it. */
    build_cmd(f, 4, 0x25, lba, n, 0, false, rprd, nr);
    wr(f, P0(PX_CI), 1u << 4);
    wait_clear(f, P0(PX_CI), 1u << 4);
    off = 0;
    for (unsigned i = 0; i < nr; i++) {
        size_t len = rprd[i].len < bytes - off ? rprd[i].len : bytes - off;
        mem_r(f, rprd[i].addr, got + off, len);
        off += len;
    }
    assert_memory_equal(got, src, bytes);
    free(src);
    free(got);
    free(file);
}

static void test_dma_read_write(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    /* Zero copy: whole sectors in RAM. */
    struct prd w1[3] = {{BUF(1), 4096}, {BUF(2), 512}, {BUF(3), 1024}};
    struct prd r1[2] = {{BUF(4), 1536}, {BUF(5), 8192}};   /* longer than needed */
    rw_round_trip(&f, 100, w1, 3, r1, 2, 11);
    /* Bounce buffer: regions of odd (even-byte) sizes. */
    struct prd w2[3] = {{BUF(6) + 2, 1000}, {BUF(7) + 6, 24}, {BUF(8), 512}};
    struct prd r2[3] = {{BUF(9) + 10, 2}, {BUF(10), 1022}, {BUF(11) + 4, 1024}};
    rw_round_trip(&f, 2047 - 2, w2, 3, r2, 3, 3);
    /* A read of the untouched start of the image matches the file. */
    uint8_t file[2048], got[2048];
    struct prd r3[1] = {{BUF(12), 2048}};
    build_cmd(&f, 0, 0x25, 0, 4, 0, false, r3, 1);
    wr(&f, P0(PX_CI), 1);
    wait_clear(&f, P0(PX_CI), 1);
    mem_r(&f, BUF(12), got, sizeof got);
    image_read(&f, 0, file, sizeof file);
    assert_memory_equal(got, file, sizeof got);
    /* The LBA28 READ DMA form (device bits 27:24). */
    build_cmd(&f, 0, 0xC8, 1, 1, 0, false, r3, 1);
    wr(&f, P0(PX_CI), 1);
    wait_clear(&f, P0(PX_CI), 1);
    mem_r(&f, BUF(12), got, 512);
    image_read(&f, 1, file, 512);
    assert_memory_equal(got, file, 512);
    /* FLUSH CACHE EXT. */
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    build_cmd(&f, 2, 0xEA, 0, 0, 0, false, NULL, 0);
    wr(&f, P0(PX_CI), 4);
    wait_clear(&f, P0(PX_CI), 4);
    assert_true(rd(&f, P0(PX_IS)) & IS_DHRS);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x50);
    fx_free(&f);
}

/* NCQ: slots 0-7 queued at once, READ and WRITE FPDMA QUEUED. */
static void test_ncq(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    enum { N = 8 };
    uint8_t src[N][1024];
    for (unsigned s = 0; s < N; s++) {
        for (unsigned i = 0; i < sizeof src[s]; i++)
            src[s][i] = (uint8_t)(s * 31 + i);
        mem_w(&f, BUF(s), src[s], sizeof src[s]);
        struct prd p = {BUF(s), 1024};
        /* count 2 in FEATURES, tag in COUNT 7:3 */
        build_cmd(&f, s, 0x61, 500 + 4 * s, (uint16_t)(s << 3), 2, true, &p, 1);
    }
    wr(&f, P0(PX_SACT), 0xFF);
    wr(&f, P0(PX_CI), 0xFF);
    wait_clear(&f, P0(PX_SACT), 0xFF);
    assert_int_equal(rd(&f, P0(PX_CI)), 0);
    assert_true(rd(&f, P0(PX_IS)) & IS_SDBS);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x40 | 0x10);
    uint8_t sdb[8];
    mem_r(&f, FB0 + 0x58, sdb, sizeof sdb);
    assert_int_equal(sdb[0], 0xA1);
    for (unsigned s = 0; s < N; s++) {
        uint8_t file[1024];
        image_read(&f, 500 + 4 * s, file, sizeof file);
        assert_memory_equal(file, src[s], sizeof file);
    }
    /* Read them back in other slots, in reverse order of LBA. */
    for (unsigned s = 0; s < N; s++) {
        struct prd p = {BUF(16 + s), 1024};
        unsigned slot = 8 + s;
        build_cmd(&f, slot, 0x60, 500 + 4 * (N - 1 - s), (uint16_t)(slot << 3), 2, false, &p, 1);
    }
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    wr(&f, P0(PX_SACT), 0xFF00);
    wr(&f, P0(PX_CI), 0xFF00);
    wait_clear(&f, P0(PX_SACT), 0xFF00);
    for (unsigned s = 0; s < N; s++) {
        uint8_t got[1024];
        mem_r(&f, BUF(16 + s), got, sizeof got);
        assert_memory_equal(got, src[N - 1 - s], sizeof got);
    }
    /* A queued command whose tag is not its slot is refused. */
    struct prd p = {BUF(0), 512};
    build_cmd(&f, 20, 0x60, 0, 5 << 3, 1, false, &p, 1);
    wr(&f, P0(PX_SACT), 1u << 20);
    wr(&f, P0(PX_CI), 1u << 20);
    assert_true(rd(&f, P0(PX_IS)) & IS_TFES);
    fx_free(&f);
}

/* After a task file error the port stops until ST goes 0 then 1. */
static void restart_port(struct fx *f)
{
    wr(f, P0(PX_CMD), CMD_FRE);
    wait_clear(f, P0(PX_CMD), CMD_CR);
    assert_int_equal(rd(f, P0(PX_CI)), 0);
    wr(f, P0(PX_IS), 0xFFFFFFFF);
    wr(f, P0(PX_CMD), CMD_FRE | CMD_ST);
}

static void test_errors(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    struct prd p = {BUF(0), 1024};
    /* LBA past the end: IDNF, TFES, the slot stays issued, the port stops. */
    build_cmd(&f, 0, 0x25, IMG_SECTORS - 1, 2, 0, false, &p, 1);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_TFES);
    assert_int_equal(rd(&f, P0(PX_TFD)), 0x10u << 8 | 0x51);
    assert_int_equal(rd(&f, P0(PX_CI)), 1);
    build_cmd(&f, 1, 0xEA, 0, 0, 0, false, NULL, 0);
    wr(&f, P0(PX_CI), 2);
    usleep(20000);
    assert_int_equal(rd(&f, P0(PX_CI)), 3);             /* not fetched while stopped */
    restart_port(&f);
    /* Unknown command: ABRT. */
    build_cmd(&f, 0, 0x77, 0, 0, 0, false, NULL, 0);
    wr(&f, P0(PX_CI), 1);
    assert_int_equal(rd(&f, P0(PX_TFD)), 0x04u << 8 | 0x51);
    restart_port(&f);
    /* PRD with an odd byte count: interface fatal error. */
    struct prd odd = {BUF(0), 511};
    build_cmd(&f, 0, 0x25, 0, 1, 0, false, &odd, 1);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_IFS);
    restart_port(&f);
    /* PRDT shorter than the transfer. */
    build_cmd(&f, 0, 0x25, 0, 4, 0, false, &p, 1);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_IFS);
    restart_port(&f);
    /* Data buffer outside RAM (the PCI hole), a huge PRDTL. */
    struct prd hole[2] = {{0xE8000000u, 512}, {0xFFFFFFFFFFFFF000ull, 0x400000}};
    build_cmd(&f, 0, 0x25, 0, 1, 0, false, hole, 1);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_HBFS);
    restart_port(&f);
    build_cmd(&f, 0, 0x35, 0, 1, 0, true, &hole[1], 1);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_HBFS);
    restart_port(&f);
    /* Command table outside RAM. */
    uint8_t hdr[32] = {5, 0, 0xFF, 0xFF};
    put_le(&hdr[8], 0xE8000080u, 8);
    mem_w(&f, CLB0, hdr, sizeof hdr);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_HBFS);
    restart_port(&f);
    /* Command list outside RAM. */
    wr(&f, P0(PX_CMD), CMD_FRE);
    wr(&f, P0(PX_CLB), 0xE0000000u);
    wr(&f, P0(PX_CMD), CMD_FRE | CMD_ST);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_HBFS);
    wr(&f, P0(PX_CMD), CMD_FRE);
    wr(&f, P0(PX_CLB), CLB0);
    restart_port(&f);
    /* Bus mastering off: nothing reaches memory. */
    pci_w32(f.vm, 0x04, 0x0002);
    build_cmd(&f, 0, 0x25, 0, 1, 0, false, &p, 1);
    wr(&f, P0(PX_CI), 1);
    assert_true(rd(&f, P0(PX_IS)) & IS_HBFS);
    pci_w32(f.vm, 0x04, 0x0006);
    restart_port(&f);
    /* The port works again: a good read. */
    build_cmd(&f, 0, 0x25, 0, 1, 0, false, &p, 1);
    wr(&f, P0(PX_CI), 1);
    wait_clear(&f, P0(PX_CI), 1);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x50);
    fx_free(&f);
}

/* A write the host refuses after the port completed it (written behind;
 * RLIMIT_FSIZE below its offset gives EFBIG) fails the FLUSH CACHE EXT
 * after it: ABRT, with that write's sector in the D2H FIS's LBA (ATA8-ACS
 * 7.15 error outputs); the next FLUSH succeeds. */
static void test_flush_reports_write_behind(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    struct rlimit old;
    assert_int_equal(limit_file_size(256u << 10, &old), 0);
    const uint64_t lba = 1500;
    struct prd p = {BUF(0), 512};
    build_cmd(&f, 0, 0x35, lba, 1, 0, true, &p, 1);
    wr(&f, P0(PX_CI), 1);
    wait_clear(&f, P0(PX_CI), 1);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x50);
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    build_cmd(&f, 1, 0xEA, 0, 0, 0, false, NULL, 0);
    wr(&f, P0(PX_CI), 2);
    for (int i = 0; i < 1000 && !(rd(&f, P0(PX_IS)) & IS_TFES); i++)
        usleep(1000);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_true(rd(&f, P0(PX_IS)) & IS_TFES);
    assert_int_equal(rd(&f, P0(PX_TFD)), 0x04u << 8 | 0x51);
    uint8_t fis[20];
    mem_r(&f, FB0 + 0x40, fis, sizeof fis);          /* the D2H register FIS (AHCI 4.2.1) */
    uint64_t got = fis[4] | (uint64_t)fis[5] << 8 | (uint64_t)fis[6] << 16 | (uint64_t)fis[8] << 24 |
                   (uint64_t)fis[9] << 32 | (uint64_t)fis[10] << 40;
    assert_int_equal(got, lba);
    restart_port(&f);
    build_cmd(&f, 1, 0xEA, 0, 0, 0, false, NULL, 0);
    wr(&f, P0(PX_CI), 2);
    wait_clear(&f, P0(PX_CI), 2);
    assert_int_equal(rd(&f, P0(PX_TFD)) & 0xFF, 0x50);
    fx_free(&f);
}

/* A failed queued command: SDB with ERR, its tag left in PxSACT, the NCQ
 * command error log (READ LOG EXT 10h) names it. */
static void test_ncq_error_log(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    driver_init(&f);
    struct prd p = {BUF(0), 512};
    build_cmd(&f, 6, 0x60, IMG_SECTORS, 6 << 3, 1, false, &p, 1);
    wr(&f, P0(PX_SACT), 1u << 6);
    wr(&f, P0(PX_CI), 1u << 6);
    wait_clear(&f, P0(PX_CI), 1u << 6);
    assert_true(rd(&f, P0(PX_IS)) & IS_TFES);
    assert_int_equal(rd(&f, P0(PX_SACT)), 1u << 6);
    restart_port(&f);
    assert_int_equal(rd(&f, P0(PX_SACT)), 0);
    build_cmd(&f, 0, 0x2F, 0x10, 1, 0, false, &p, 1);
    wr(&f, P0(PX_CI), 1);
    wait_clear(&f, P0(PX_CI), 1);
    uint8_t log[512];
    mem_r(&f, BUF(0), log, sizeof log);
    assert_int_equal(log[0], 6);
    assert_int_equal(log[2] & 1, 1);
    assert_int_equal(log[3], 0x10);
    uint8_t sum = 0;
    for (int i = 0; i < 512; i++)
        sum = (uint8_t)(sum + log[i]);
    assert_int_equal(sum, 0);
    fx_free(&f);
}

/* An ATAPI command: the PACKET FIS (features bit 0: DMA; byte count
 * limit in LBA mid/high) and the CDB in the table's ACMD area. */
static void build_packet(struct fx *f, unsigned slot, const uint8_t cdb[12], bool dma, uint16_t limit,
                         const struct prd *prd, unsigned nprd)
{
    build_cmd(f, slot, 0xA0, (uint64_t)limit << 8, 0, dma ? 1 : 0, false, prd, nprd);
    uint8_t hdr[4];
    mem_r(f, CLB0 + slot * 32, hdr, 4);
    hdr[0] |= 0x20;                         /* A: ATAPI */
    mem_w(f, CLB0 + slot * 32, hdr, 4);
    mem_w(f, CT(slot) + 0x40, cdb, 12);
}

static void run_slot(struct fx *f, unsigned slot)
{
    wr(f, P0(PX_CI), 1u << slot);
    wait_clear(f, P0(PX_CI), 1u << slot);
}

/* A CD/DVD image on port 0: ATAPI through the IDE device model. The image
 * is the same pattern file, read as 2048-byte sectors. */
static void test_atapi(void **st)
{
    (void)st;
    struct fx f = fx_new_media(1, true);
    driver_init(&f);
    assert_int_equal(rd(&f, P0(PX_SIG)), 0xEB140101u);
    /* IDENTIFY PACKET DEVICE: PIO data-in, ATAPI CD-ROM in word 0. */
    struct prd p = {BUF(0), 512};
    build_cmd(&f, 0, 0xA1, 0, 0, 0, false, &p, 1);
    run_slot(&f, 0);
    uint8_t id[512];
    mem_r(&f, BUF(0), id, sizeof id);
    assert_int_equal(id_word(id, 0) >> 14, 2);
    assert_int_equal(id_word(id, 0) >> 8 & 0x1F, 5);
    assert_int_equal(mem_r32(&f, CLB0 + 4), 512);
    uint8_t ps[20];
    mem_r(&f, FB0 + 0x20, ps, sizeof ps);
    assert_int_equal(ps[0], 0x5F);
    /* IDENTIFY DEVICE aborts with the packet signature. */
    build_cmd(&f, 1, 0xEC, 0, 0, 0, false, &p, 1);
    wr(&f, P0(PX_CI), 2);
    assert_true(rd(&f, P0(PX_IS)) & IS_TFES);
    uint8_t d2h[20];
    mem_r(&f, FB0 + 0x40, d2h, sizeof d2h);
    assert_int_equal(d2h[5], 0x14);
    assert_int_equal(d2h[6], 0xEB);
    restart_port(&f);
    /* INQUIRY by PIO: a CD/DVD device. */
    uint8_t inq[12] = {0x12, 0, 0, 0, 36, 0};
    build_packet(&f, 2, inq, false, 36, &p, 1);
    run_slot(&f, 2);
    uint8_t r[36];
    mem_r(&f, BUF(0), r, sizeof r);
    assert_int_equal(r[0] & 0x1F, 5);
    assert_int_equal(mem_r32(&f, CLB0 + 2 * 32 + 4), 36);
    /* READ CAPACITY: 512 sectors of 2048 bytes. */
    uint8_t cap[12] = {0x25};
    build_packet(&f, 3, cap, false, 8, &p, 1);
    run_slot(&f, 3);
    uint8_t c[8];
    mem_r(&f, BUF(0), c, 8);
    assert_int_equal((uint32_t)(c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3]), IMG_SECTORS / 4 - 1);
    assert_int_equal((uint32_t)(c[4] << 24 | c[5] << 16 | c[6] << 8 | c[7]), 2048);
    /* READ(10) by DMA through three PRD regions, against the file. */
    uint8_t rd10[12] = {0x28, 0, 0, 0, 0, 3, 0, 0, 2};
    struct prd dp[3] = {{BUF(1), 1024}, {BUF(2), 2048}, {BUF(3), 1024}};
    build_packet(&f, 4, rd10, true, 0, dp, 3);
    run_slot(&f, 4);
    uint8_t got[6144], file[6144];
    mem_r(&f, BUF(1), got, 1024);
    mem_r(&f, BUF(2), got + 1024, 2048);
    mem_r(&f, BUF(3), got + 3072, 1024);
    image_read(&f, 3 * 4, file, 4096);
    assert_memory_equal(got, file, 4096);
    assert_int_equal(mem_r32(&f, CLB0 + 4 * 32 + 4), 4096);
    /* READ(10) by PIO in 1 KiB DRQ blocks: 3 sectors. */
    uint8_t rd10b[12] = {0x28, 0, 0, 0, 0, 7, 0, 0, 3};
    struct prd pp = {BUF(4), 6144};
    build_packet(&f, 5, rd10b, false, 1024, &pp, 1);
    run_slot(&f, 5);
    mem_r(&f, BUF(4), got, 6144);
    image_read(&f, 7 * 4, file, 6144);
    assert_memory_equal(got, file, 6144);
    /* Past the end: CHECK CONDITION (ILLEGAL REQUEST in the error register),
     * then REQUEST SENSE says LBA out of range. */
    uint8_t bad[12] = {0x28, 0, 0, 0, 0x01, 0xFF, 0, 0, 2};
    build_packet(&f, 6, bad, true, 0, dp, 3);
    wr(&f, P0(PX_CI), 1u << 6);
    for (int i = 0; i < 5000 && !(rd(&f, P0(PX_IS)) & IS_TFES); i++)
        usleep(1000);
    assert_true(rd(&f, P0(PX_IS)) & IS_TFES);
    assert_int_equal(rd(&f, P0(PX_TFD)) >> 12 & 0xF, 5);
    restart_port(&f);
    uint8_t rs[12] = {0x03, 0, 0, 0, 18, 0};
    build_packet(&f, 7, rs, false, 18, &p, 1);
    run_slot(&f, 7);
    uint8_t sense[18];
    mem_r(&f, BUF(0), sense, sizeof sense);
    assert_int_equal(sense[2] & 0xF, 5);
    assert_int_equal(sense[12], 0x21);
    /* A PRDT too short for the data: interface fatal error. */
    struct prd small = {BUF(1), 512};
    build_packet(&f, 8, rd10, true, 0, &small, 1);
    wr(&f, P0(PX_CI), 1u << 8);
    for (int i = 0; i < 5000 && !(rd(&f, P0(PX_IS)) & (IS_IFS | IS_TFES)); i++)
        usleep(1000);
    assert_true(rd(&f, P0(PX_IS)) & (IS_IFS | IS_TFES));
    restart_port(&f);
    fx_free(&f);
}

/* Vector `vec` requested on vCPU 0's APIC (IRR), within 5 s. */
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

/* No message for vec: the completion that would send it is over (it runs
 * under the platform lock). */
static void apic_none(struct vm *vm, unsigned vec)
{
    vm_lock(vm);
    vm_unlock(vm);
    assert_int_equal(apic_bit(vm, 0, A_IRR, vec), 0);
}

static void apic_take(struct vm *vm, unsigned vec)
{
    assert_int_equal(cpu_inta(vm, 0), (int)vec);
    apic_wr(vm, 0, A_EOI, 0);
    assert_int_equal(apic_bit(vm, 0, A_IRR, vec), 0);
}

#define MSI_CAP 0x80                /* ICH9 D31:F2 */
#define MSI_VEC 0x71

/* READ DMA EXT of one sector into BUF(0) from slot `slot`. */
static void read_one(struct fx *f, unsigned slot)
{
    struct prd p = {BUF(0), 512};
    build_cmd(f, slot, 0x25, 9, 1, 0, false, &p, 1);
    wr(f, P0(PX_CI), 1u << slot);
    wait_clear(f, P0(PX_CI), 1u << slot);
}

/* MSI (PCI 3.0 6.8.1) at the ICH9's offset: a completion is a message with
 * the programmed vector and INTx stays low (6.8.1.3); each newly set port
 * event sends one, also while IS is still set from the last. */
static void test_msi(void **st)
{
    (void)st;
    struct fx f = fx_new(1);
    struct vm *vm = f.vm;
    pic_mask_all(vm);
    apic_enable(vm, 0);
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, 0x34) & 0xFF, MSI_CAP);
    /* ID 05h, last; 64-bit capable, one message, disabled. */
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, MSI_CAP), 0x00800005u);
    driver_init(&f);
    pci_w32(vm, MSI_CAP + 4, 0xFEE00000u);          /* APIC 0, physical */
    pci_w32(vm, MSI_CAP + 8, 0);
    pci_w32(vm, MSI_CAP + 12, MSI_VEC);             /* fixed, edge */
    pci_w32(vm, MSI_CAP, 0x00810005u);              /* enable */
    assert_int_equal(dt_pci_read32(vm, AHCI_DEV, 0, MSI_CAP) >> 16, 0x81);

    read_one(&f, 0);
    assert_true(apic_got(vm, MSI_VEC));
    assert_int_equal(dt_gsi(vm, AHCI_GSI), 0);
    assert_true(rd(&f, 0x08) & 1);
    apic_take(vm, MSI_VEC);
    uint8_t got[512], file[512];
    mem_r(&f, BUF(0), got, 512);
    image_read(&f, 9, file, 512);
    assert_memory_equal(got, file, 512);
    /* The handler clears PxIS; before it clears IS, a new completion: a
     * new message. */
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    read_one(&f, 1);
    assert_true(apic_got(vm, MSI_VEC));
    apic_take(vm, MSI_VEC);
    /* IS cleared with the port still pending: IS sets again, no message
     * (nothing new). A second completion onto a PxIS bit still set is no
     * new event either. */
    wr(&f, 0x08, 1);
    assert_true(rd(&f, 0x08) & 1);
    apic_none(vm, MSI_VEC);
    read_one(&f, 2);
    apic_none(vm, MSI_VEC);
    /* MSI off with the condition pending: INTx takes over; on again: INTx
     * low and the pending condition is sent. */
    pci_w32(vm, MSI_CAP, 0x00800005u);
    assert_int_equal(dt_gsi(vm, AHCI_GSI), 1);
    pci_w32(vm, MSI_CAP, 0x00810005u);
    assert_int_equal(dt_gsi(vm, AHCI_GSI), 0);
    assert_true(apic_got(vm, MSI_VEC));
    apic_take(vm, MSI_VEC);
    /* All clear: the next completion sends again. */
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    wr(&f, 0x08, 1);
    assert_int_equal(rd(&f, 0x08), 0);
    read_one(&f, 3);
    assert_true(apic_got(vm, MSI_VEC));
    assert_int_equal(dt_gsi(vm, AHCI_GSI), 0);
    apic_take(vm, MSI_VEC);
    /* GHC.IE off: no message. */
    wr(&f, P0(PX_IS), 0xFFFFFFFF);
    wr(&f, 0x08, 1);
    wr(&f, 0x04, 0);
    read_one(&f, 4);
    apic_none(vm, MSI_VEC);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_empty_ports),
        cmocka_unit_test(test_comreset_and_hba_reset),
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_dma_read_write),
        cmocka_unit_test(test_ncq),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_flush_reports_write_behind),
        cmocka_unit_test(test_ncq_error_log),
        cmocka_unit_test(test_atapi),
        cmocka_unit_test(test_msi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
