/* PIIX3 IDE (00:01.1) with an ATA disk on the primary master and an ATAPI
 * CD/DVD on the secondary master, driven through the task-file ports and
 * the bus-master registers as a guest's driver does. Oracles: the image
 * files themselves (read back with pread after the device says done), the
 * ATA/ATAPI-6 register protocols and IDENTIFY layout, MMC-3 reply formats,
 * SFF-8038i bus-master status semantics. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device_test_harness.h"
#include "host_file.h"
#include "drivers/blockdev.h"
#include "runtime/util.h"

#define IDE_DEV 1
#define IDE_FN 1
#define PRI 0x1F0
#define PRI_CTL 0x3F6
#define SEC 0x170
#define SEC_CTL 0x376
#define REG_DATA 0
#define REG_ERR 1
#define REG_FEATURE 1                 /* written: the features register */
#define REG_COUNT 2
#define REG_LOW 3
#define REG_MID 4
#define REG_HIGH 5
#define REG_DEV 6
#define REG_CMD 7
#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DRQ 0x08
#define ST_ERR 0x01
#define ER_ABRT 0x04
#define ER_IDNF 0x10
#define DC_NIEN 0x02
#define DC_SRST 0x04
#define DC_HOB 0x80
#define IRQ_PRI 14
#define IRQ_SEC 15

#define BM_BASE 0xC000
#define BM_CMD (BM_BASE + 0)
#define BM_STATUS (BM_BASE + 2)
#define BM_PRD (BM_BASE + 4)
#define BM_SEC_CMD (BM_BASE + 8)
#define BM_SEC_STATUS (BM_BASE + 10)
#define BM_SEC_PRD (BM_BASE + 12)
#define BMS_ACTIVE 0x01
#define BMS_ERROR 0x02
#define BMS_INTR 0x04

#define DISK_SECTORS 8192u            /* 4 MiB */
#define CD_SECTORS 64u
#define BIG_SECTORS ((1ull << 28) + 2048) /* past LBA28: sparse 128 GiB */

struct env {
    struct vm *vm;
    char disk[64], cd[64];
    int disk_fd, cd_fd;
};

/* The byte at offset off of the test images. */
static uint8_t pattern(uint64_t off, unsigned salt)
{
    uint64_t s = off / 512;
    return (uint8_t)(s * 7 + (off % 512) * 13 + salt);
}

static int make_file(char *path, uint64_t size, unsigned salt, bool iso)
{
    strcpy(path, "/tmp/caixa-ide-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    uint8_t buf[65536];
    uint64_t fill = size < (8u << 20) ? size : (1u << 20);
    for (uint64_t off = 0; off < fill; off += sizeof buf) {
        for (unsigned i = 0; i < sizeof buf; i++)
            buf[i] = pattern(off + i, salt);
        assert_int_equal(pwrite(fd, buf, sizeof buf, (off_t)off), (ssize_t)sizeof buf);
    }
    if (iso) {
        /* ECMA-119 8.1: a primary volume descriptor at sector 16 makes it an ISO. */
        static const uint8_t vd[] = {1, 'C', 'D', '0', '0', '1', 1};
        assert_int_equal(pwrite(fd, vd, sizeof vd, 16 * 2048), (ssize_t)sizeof vd);
    }
    return fd;
}

static void env_new_sized(struct env *e, uint64_t disk_sectors, bool cdrom)
{
    memset(e, 0, sizeof(*e));
    e->disk_fd = make_file(e->disk, disk_sectors * 512, 0, false);
    e->cd_fd = -1;
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, DT_BIOS_FILL, sizeof bios);
    struct vm_params p = {
        .ram_size = 32u << 20, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    p.drives[p.ndrives++] = (struct vm_drive){.spec = e->disk, .bus = VM_BUS_IDE};
    if (cdrom) {
        e->cd_fd = make_file(e->cd, CD_SECTORS * 2048, 0x55, true);
        p.drives[p.ndrives++] = (struct vm_drive){.spec = e->cd, .bus = VM_BUS_IDE, .cdrom = true, .read_only = true};
    }
    e->vm = vm_create(&p);
    assert_non_null(e->vm);
}

static void env_new(struct env *e)
{
    env_new_sized(e, DISK_SECTORS, true);
}

static void env_free(struct env *e)
{
    vm_destroy(e->vm);
    close(e->disk_fd);
    unlink(e->disk);
    if (e->cd_fd >= 0) {
        close(e->cd_fd);
        unlink(e->cd);
    }
}

/* Polls alternate status (no interrupt acknowledge) until BSY clears. */
static uint8_t wait_not_busy(struct vm *vm, uint16_t ctl)
{
    for (int i = 0; i < 5000; i++) {
        uint8_t st = inb(vm, ctl);
        if (!(st & ST_BSY))
            return st;
        usleep(1000);
    }
    fail_msg("device stayed busy");
    return 0;
}

static void lba28(struct vm *vm, uint16_t base, unsigned dev, uint32_t lba, uint8_t count)
{
    outb(vm, base + REG_DEV, (uint8_t)(0xE0 | dev << 4 | (lba >> 24 & 0xF)));
    outb(vm, base + REG_COUNT, count);
    outb(vm, base + REG_LOW, (uint8_t)lba);
    outb(vm, base + REG_MID, (uint8_t)(lba >> 8));
    outb(vm, base + REG_HIGH, (uint8_t)(lba >> 16));
}

static void lba48(struct vm *vm, uint16_t base, uint64_t lba, uint16_t count)
{
    outb(vm, base + REG_DEV, 0x40);
    outb(vm, base + REG_COUNT, (uint8_t)(count >> 8));
    outb(vm, base + REG_LOW, (uint8_t)(lba >> 24));
    outb(vm, base + REG_MID, (uint8_t)(lba >> 32));
    outb(vm, base + REG_HIGH, (uint8_t)(lba >> 40));
    outb(vm, base + REG_COUNT, (uint8_t)count);
    outb(vm, base + REG_LOW, (uint8_t)lba);
    outb(vm, base + REG_MID, (uint8_t)(lba >> 8));
    outb(vm, base + REG_HIGH, (uint8_t)(lba >> 16));
}

static void read_words(struct vm *vm, uint16_t base, uint8_t *buf, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i += 2) {
        uint16_t w = inw(vm, base + REG_DATA);
        buf[i] = (uint8_t)w;
        buf[i + 1] = (uint8_t)(w >> 8);
    }
}

/* The image file after the drives wrote behind what they hold. */
static void check_file(struct vm *vm, int fd, uint64_t off, const uint8_t *want, size_t len)
{
    blockdev_drain(vm_blockdev(vm, "drive0"));
    uint8_t *got = malloc(len);
    assert_int_equal(pread(fd, got, len, (off_t)off), (ssize_t)len);
    assert_memory_equal(got, want, len);
    free(got);
}

static void pci_write(struct vm *vm, unsigned reg, unsigned size, uint32_t v)
{
    outl(vm, 0xCF8, 0x80000000u | IDE_DEV << 11 | IDE_FN << 8 | (reg & 0xFC));
    dt_out(vm, (uint16_t)(0xCFC + (reg & 3)), size, v);
}

static void get_identify(struct vm *vm, uint16_t base, uint16_t ctl, uint8_t cmd, uint16_t *w)
{
    outb(vm, base + REG_CMD, cmd);
    uint8_t st = wait_not_busy(vm, ctl);
    assert_int_equal(st & (ST_DRQ | ST_ERR), ST_DRQ);
    read_words(vm, base, (uint8_t *)w, 512);
    assert_int_equal(inb(vm, ctl) & ST_DRQ, 0);
}

static void id_string(const uint16_t *w, unsigned words, char *out)
{
    for (unsigned i = 0; i < words; i++) {
        out[2 * i] = (char)(w[i] >> 8);
        out[2 * i + 1] = (char)w[i];
    }
    out[2 * words] = 0;
}

static void test_pci_identity(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    assert_int_equal(dt_pci_read32(vm, IDE_DEV, IDE_FN, 0x00), 0x70108086u);
    assert_int_equal(dt_pci_read32(vm, IDE_DEV, IDE_FN, 0x08) >> 8, 0x010180u);
    assert_int_equal(dt_pci_read32(vm, IDE_DEV, IDE_FN, 0x40), 0x80008000u);  /* decode enabled */
    /* BAR4: 16 bytes of I/O. */
    pci_write(vm, 0x20, 4, 0xFFFFFFFF);
    assert_int_equal(dt_pci_read32(vm, IDE_DEV, IDE_FN, 0x20), 0xFFFFFFF1u);
    /* Legacy ports: the disk's status; clearing IDE decode enable floats the channel. */
    assert_int_equal(inb(vm, PRI + REG_CMD), ST_DRDY | 0x10);
    pci_write(vm, 0x41, 1, 0x00);
    assert_int_equal(inb(vm, PRI + REG_CMD), 0xFF);
    pci_write(vm, 0x41, 1, 0x80);
    assert_int_equal(inb(vm, PRI + REG_CMD), ST_DRDY | 0x10);
    env_free(&e);
}

static void test_signatures_and_reset(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    /* ATA signature on the disk, packet signature on the CD (ATA-6 9.12). */
    assert_int_equal(inb(vm, PRI + REG_COUNT), 1);
    assert_int_equal(inb(vm, PRI + REG_LOW), 1);
    assert_int_equal(inb(vm, PRI + REG_MID), 0);
    assert_int_equal(inb(vm, PRI + REG_HIGH), 0);
    assert_int_equal(inb(vm, PRI + REG_ERR), 1);
    assert_int_equal(inb(vm, SEC + REG_MID), 0x14);
    assert_int_equal(inb(vm, SEC + REG_HIGH), 0xEB);
    assert_int_equal(inb(vm, SEC + REG_CMD), 0);            /* packet device: DRDY clear */
    /* Registers read back; the missing slave reads status 0. */
    outb(vm, PRI + REG_COUNT, 0x55);
    outb(vm, PRI + REG_LOW, 0xAA);
    assert_int_equal(inb(vm, PRI + REG_COUNT), 0x55);
    assert_int_equal(inb(vm, PRI + REG_LOW), 0xAA);
    outb(vm, PRI + REG_DEV, 0xB0);
    assert_int_equal(inb(vm, PRI + REG_DEV), 0xB0);
    assert_int_equal(inb(vm, PRI + REG_CMD), 0);
    outb(vm, PRI + REG_DEV, 0xA0);
    /* SRST: busy while held, then the signature again. */
    outb(vm, PRI_CTL, DC_SRST);
    assert_int_equal(inb(vm, PRI + REG_CMD) & ST_BSY, ST_BSY);
    outb(vm, PRI_CTL, 0);
    assert_int_equal(inb(vm, PRI + REG_CMD), ST_DRDY | 0x10);
    assert_int_equal(inb(vm, PRI + REG_COUNT), 1);
    assert_int_equal(inb(vm, PRI + REG_LOW), 1);
    /* EXECUTE DEVICE DIAGNOSTIC: passed, interrupt. */
    outb(vm, PRI + REG_CMD, 0x90);
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
    assert_int_equal(inb(vm, PRI + REG_ERR), 1);
    inb(vm, PRI + REG_CMD);
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 0);
    /* An unknown command aborts. */
    outb(vm, PRI + REG_CMD, 0xFD);
    assert_int_equal(inb(vm, PRI + REG_CMD), ST_DRDY | 0x10 | ST_ERR);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_ABRT);
    /* A channel with no device reads 0 (the secondary's slave is absent,
     * the master present: the CD answers). */
    env_free(&e);
}

static void test_identify(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    uint16_t w[256];
    get_identify(vm, PRI, PRI_CTL, 0xEC, w);
    char s[41];
    id_string(&w[27], 20, s);
    assert_string_equal(s, "CAIXA HARDDISK                          ");
    id_string(&w[10], 10, s);
    assert_true(s[0] != ' ');
    assert_int_equal(w[0] & 0x8000, 0);                      /* ATA device */
    assert_int_equal(w[49] & 0x0300, 0x0300);                 /* LBA and DMA */
    assert_int_equal(w[60] | (uint32_t)w[61] << 16, DISK_SECTORS);
    assert_int_equal(w[83] & 0x3400, 0x3400);                 /* 48-bit, FLUSH CACHE (EXT) */
    assert_int_equal(w[85] & 0x0020, 0x0020);                 /* write cache on */
    assert_int_equal((uint64_t)w[100] | (uint64_t)w[101] << 16 | (uint64_t)w[102] << 32, DISK_SECTORS);
    assert_int_equal(w[63] & 7, 7);                           /* MWDMA 0-2 */
    assert_int_equal(w[88] & 0x3F, 0x3F);                     /* UDMA 0-5 */
    uint8_t sum = 0;
    for (unsigned i = 0; i < 256; i++)
        sum = (uint8_t)(sum + (w[i] & 0xFF) + (w[i] >> 8));
    assert_int_equal(w[255] & 0xFF, 0xA5);
    assert_int_equal(sum, 0);
    /* PIO data-in: one interrupt for the block. */
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
    inb(vm, PRI + REG_CMD);
    /* SET FEATURES: write cache off shows in word 85; UDMA 2 selected. */
    outb(vm, PRI + REG_ERR, 0x82);
    outb(vm, PRI + REG_CMD, 0xEF);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_ERR, 0);
    outb(vm, PRI + REG_ERR, 0x03);
    outb(vm, PRI + REG_COUNT, 0x42);
    outb(vm, PRI + REG_CMD, 0xEF);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_ERR, 0);
    get_identify(vm, PRI, PRI_CTL, 0xEC, w);
    assert_int_equal(w[85] & 0x0020, 0);
    assert_int_equal(w[88], 0x0400 | 0x3F);
    outb(vm, PRI + REG_ERR, 0x03);
    outb(vm, PRI + REG_COUNT, 0x47);                          /* UDMA 7: not supported */
    outb(vm, PRI + REG_CMD, 0xEF);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_ABRT);
    /* IDENTIFY PACKET DEVICE to a disk aborts. */
    outb(vm, PRI + REG_CMD, 0xA1);
    assert_int_equal(inb(vm, PRI + REG_CMD) & ST_ERR, ST_ERR);

    /* The CD: IDENTIFY DEVICE aborts with the packet signature, IDENTIFY
     * PACKET DEVICE answers. */
    outb(vm, SEC + REG_DEV, 0xA0);
    outb(vm, SEC + REG_CMD, 0xEC);
    assert_int_equal(inb(vm, SEC + REG_CMD) & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, SEC + REG_MID), 0x14);
    assert_int_equal(inb(vm, SEC + REG_HIGH), 0xEB);
    get_identify(vm, SEC, SEC_CTL, 0xA1, w);
    assert_int_equal(w[0], 0x85C0);
    id_string(&w[27], 20, s);
    assert_string_equal(s, "CAIXA DVD-ROM                           ");
    env_free(&e);
}

static void test_pio_read_write(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    uint8_t buf[8 * 512], want[8 * 512];
    /* READ SECTORS: 3 sectors from LBA 100, an interrupt per sector. */
    lba28(vm, PRI, 0, 100, 3);
    outb(vm, PRI + REG_CMD, 0x20);
    for (unsigned s = 0; s < 3; s++) {
        assert_int_equal(wait_not_busy(vm, PRI_CTL) & (ST_DRQ | ST_ERR), ST_DRQ);
        assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
        assert_int_equal(inb(vm, PRI + REG_CMD) & ST_DRQ, ST_DRQ);   /* acknowledges */
        assert_int_equal(dt_gsi(vm, IRQ_PRI), 0);
        read_words(vm, PRI, buf + s * 512, 512);
    }
    assert_int_equal(inb(vm, PRI_CTL) & (ST_DRQ | ST_BSY), 0);
    check_file(e.vm, e.disk_fd, 100 * 512, buf, 3 * 512);

    /* WRITE SECTORS: 2 sectors at LBA 7, the first block without an interrupt. */
    for (unsigned i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)(i * 31 + 5);
    lba28(vm, PRI, 0, 7, 2);
    outb(vm, PRI + REG_CMD, 0x30);
    for (unsigned s = 0; s < 2; s++) {
        assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
        for (unsigned i = 0; i < 512; i += 4)
            outl(vm, PRI + REG_DATA, (uint32_t)get_le(want + s * 512 + i, 4));   /* 32-bit PIO */
    }
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & (ST_DRQ | ST_ERR), 0);
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
    inb(vm, PRI + REG_CMD);
    check_file(e.vm, e.disk_fd, 7 * 512, want, 2 * 512);

    /* READ MULTIPLE needs SET MULTIPLE MODE; then DRQ blocks of 4 sectors. */
    lba28(vm, PRI, 0, 7, 8);
    outb(vm, PRI + REG_CMD, 0xC4);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_ABRT);
    outb(vm, PRI + REG_COUNT, 3);                            /* not a power of two */
    outb(vm, PRI + REG_CMD, 0xC6);
    assert_int_equal(inb(vm, PRI + REG_CMD) & ST_ERR, ST_ERR);
    outb(vm, PRI + REG_COUNT, 4);
    outb(vm, PRI + REG_CMD, 0xC6);
    assert_int_equal(inb(vm, PRI + REG_CMD) & ST_ERR, 0);
    lba28(vm, PRI, 0, 7, 8);
    outb(vm, PRI + REG_CMD, 0xC4);
    for (unsigned b = 0; b < 2; b++) {
        assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
        read_words(vm, PRI, buf + b * 2048, 2048);
        if (b == 0)
            assert_int_equal(inb(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
    }
    assert_memory_equal(buf, want, 1024);
    check_file(e.vm, e.disk_fd, 7 * 512, buf, sizeof buf);

    /* CHS: cylinder 0, head 1, sector 2 = LBA 63 + 1 in the 16/63 translation. */
    outb(vm, PRI + REG_DEV, 0xA1);
    outb(vm, PRI + REG_COUNT, 1);
    outb(vm, PRI + REG_LOW, 2);
    outb(vm, PRI + REG_MID, 0);
    outb(vm, PRI + REG_HIGH, 0);
    outb(vm, PRI + REG_CMD, 0x20);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
    read_words(vm, PRI, buf, 512);
    check_file(e.vm, e.disk_fd, 64 * 512, buf, 512);

    /* Out of range: IDNF; FLUSH CACHE completes. */
    lba28(vm, PRI, 0, DISK_SECTORS - 1, 2);
    outb(vm, PRI + REG_CMD, 0x20);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_IDNF);
    outb(vm, PRI + REG_CMD, 0xE7);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_ERR, 0);
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
    /* nIEN masks the line. */
    inb(vm, PRI + REG_CMD);
    outb(vm, PRI_CTL, DC_NIEN);
    outb(vm, PRI + REG_CMD, 0xEA);
    wait_not_busy(vm, PRI_CTL);
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 0);
    outb(vm, PRI_CTL, 0);
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
    env_free(&e);
}

/* A write the host refuses after the drive said it was done (written
 * behind: RLIMIT_FSIZE below its offset gives EFBIG) fails the FLUSH
 * CACHE after it: ABRT, with that write's sector in the LBA registers
 * (ATA8-ACS 7.14 error outputs). With the write cache off, the write
 * command itself fails so, at its own flush. */
static void write_fails_at_flush(struct vm *vm, uint32_t lba, bool wcache)
{
    uint8_t sector[512];
    memset(sector, 0x5a, sizeof sector);
    lba28(vm, PRI, 0, lba, 1);
    outb(vm, PRI + REG_CMD, 0x30);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
    for (unsigned i = 0; i < 512; i += 4)
        outl(vm, PRI + REG_DATA, (uint32_t)get_le(sector + i, 4));
    uint8_t st = wait_not_busy(vm, PRI_CTL);
    if (wcache) {
        assert_int_equal(st & ST_ERR, 0);
        lba28(vm, PRI, 0, 0, 0);     /* the LBA registers start at 0 */
        outb(vm, PRI + REG_CMD, 0xE7);
        st = wait_not_busy(vm, PRI_CTL);
    }
    assert_int_equal(st & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_ABRT);
    uint32_t got = inb(vm, PRI + REG_LOW) | inb(vm, PRI + REG_MID) << 8 | inb(vm, PRI + REG_HIGH) << 16;
    assert_int_equal(got, lba);
}

static void test_write_behind_failure(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct rlimit old;
    assert_int_equal(limit_file_size(1u << 20, &old), 0);
    write_fails_at_flush(e.vm, 4100, true);
    /* SET FEATURES: write cache off. */
    outb(e.vm, PRI + REG_FEATURE, 0x82);
    outb(e.vm, PRI + REG_CMD, 0xEF);
    assert_int_equal(wait_not_busy(e.vm, PRI_CTL) & ST_ERR, 0);
    write_fails_at_flush(e.vm, 5001, false);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    /* Then a FLUSH has nothing left to report. */
    outb(e.vm, PRI + REG_CMD, 0xE7);
    assert_int_equal(wait_not_busy(e.vm, PRI_CTL) & ST_ERR, 0);
    env_free(&e);
}

static void test_lba48(void **st)
{
    (void)st;
    struct env e;
    env_new_sized(&e, BIG_SECTORS, false);
    struct vm *vm = e.vm;
    uint16_t w[256];
    get_identify(vm, PRI, PRI_CTL, 0xEC, w);
    assert_int_equal(w[60] | (uint32_t)w[61] << 16, 0x0FFFFFFF);   /* LBA28 capped */
    assert_int_equal((uint64_t)w[100] | (uint64_t)w[101] << 16 | (uint64_t)w[102] << 32, BIG_SECTORS);
    uint64_t lba = (1ull << 28) + 1000;
    uint8_t want[2 * 512], got[2 * 512];
    for (unsigned i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)(i ^ 0x5A);
    lba48(vm, PRI, lba, 2);
    outb(vm, PRI + REG_CMD, 0x34);                          /* WRITE SECTORS EXT */
    for (unsigned s = 0; s < 2; s++) {
        assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
        for (unsigned i = 0; i < 512; i += 2)
            outw(vm, PRI + REG_DATA, (uint16_t)get_le(want + s * 512 + i, 2));
    }
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_ERR, 0);
    check_file(e.vm, e.disk_fd, lba * 512, want, sizeof want);
    lba48(vm, PRI, lba, 2);
    outb(vm, PRI + REG_CMD, 0x24);                          /* READ SECTORS EXT */
    for (unsigned s = 0; s < 2; s++) {
        assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_DRQ, ST_DRQ);
        read_words(vm, PRI, got + s * 512, 512);
    }
    assert_memory_equal(got, want, sizeof want);
    /* HOB reads give the high bytes back. */
    outb(vm, PRI_CTL, DC_HOB);
    assert_int_equal(inb(vm, PRI + REG_LOW), (uint8_t)(lba >> 24));
    outb(vm, PRI_CTL, 0);
    assert_int_equal(inb(vm, PRI + REG_LOW), (uint8_t)lba);
    /* Past the end: IDNF. */
    lba48(vm, PRI, BIG_SECTORS, 1);
    outb(vm, PRI + REG_CMD, 0x24);
    assert_int_equal(wait_not_busy(vm, PRI_CTL) & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_IDNF);
    env_free(&e);
}

/* PRD entries in guest RAM. */
static void put_prd(struct vm *vm, uint32_t table, unsigned i, uint32_t addr, uint32_t len, bool eot)
{
    uint8_t e[8];
    put_le(e, addr, 4);
    put_le(e + 4, (len & 0xFFFF) | (eot ? 0x80000000u : 0), 4);
    assert_true(physmem_rw(vm_physmem(vm), table + 8 * i, e, 8, true));
}

static void bm_setup(struct vm *vm)
{
    pci_write(vm, 0x20, 4, BM_BASE | 1);
    pci_write(vm, 0x04, 2, 0x0005);                         /* I/O, bus master */
}

static uint8_t wait_dma(struct vm *vm, uint16_t ctl)
{
    uint8_t st = wait_not_busy(vm, ctl);
    return st;
}

static void test_dma(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    physmem *pm = vm_physmem(vm);
    bm_setup(vm);
    const uint32_t table = 0x10000, buf0 = 0x20000, buf1 = 0x31000;
    /* READ DMA of 16 sectors into two regions; the table ends exactly. */
    put_prd(vm, table, 0, buf0, 4096, false);
    put_prd(vm, table, 1, buf1, 4096, true);
    outl(vm, BM_PRD, table);
    assert_int_equal(inl(vm, BM_PRD), table);
    outb(vm, BM_CMD, 0x08);                                  /* to memory, not started */
    lba28(vm, PRI, 0, 200, 16);
    outb(vm, PRI + REG_CMD, 0xC8);
    assert_int_equal(inb(vm, PRI_CTL) & ST_BSY, ST_BSY);     /* waits for the engine */
    outb(vm, BM_CMD, 0x09);
    uint8_t s = wait_dma(vm, PRI_CTL);
    assert_int_equal(s & (ST_ERR | ST_DRQ), 0);
    assert_int_equal(inb(vm, BM_STATUS) & 7, BMS_INTR);      /* exhausted: active clear */
    assert_int_equal(dt_gsi(vm, IRQ_PRI), 1);
    uint8_t got[8192];
    assert_true(physmem_rw(pm, buf0, got, 4096, false));
    assert_true(physmem_rw(pm, buf1, got + 4096, 4096, false));
    check_file(e.vm, e.disk_fd, 200 * 512, got, sizeof got);
    outb(vm, BM_CMD, 0x08);
    outb(vm, BM_STATUS, BMS_INTR | BMS_ERROR);               /* write 1 to clear */
    assert_int_equal(inb(vm, BM_STATUS) & 7, 0);
    inb(vm, PRI + REG_CMD);

    /* WRITE DMA EXT from one region to LBA 3000; the table is longer than
     * the transfer, so active stays set (SFF-8038i). */
    uint8_t want[4096];
    for (unsigned i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)(i * 3 + 1);
    assert_true(physmem_rw(pm, buf0, want, sizeof want, true));
    put_prd(vm, table, 0, buf0, 0x8000, true);
    lba48(vm, PRI, 3000, 8);
    outb(vm, PRI + REG_CMD, 0x35);
    outb(vm, BM_CMD, 0x01);
    s = wait_dma(vm, PRI_CTL);
    assert_int_equal(s & ST_ERR, 0);
    assert_int_equal(inb(vm, BM_STATUS) & 7, BMS_INTR | BMS_ACTIVE);
    check_file(e.vm, e.disk_fd, 3000 * 512, want, sizeof want);
    outb(vm, BM_CMD, 0x00);
    assert_int_equal(inb(vm, BM_STATUS) & BMS_ACTIVE, 0);
    outb(vm, BM_STATUS, BMS_INTR);
    inb(vm, PRI + REG_CMD);

    /* A PRD outside RAM: bus-master error, the command aborts. */
    put_prd(vm, table, 0, 0xF0000000u, 4096, true);
    outb(vm, BM_CMD, 0x08);
    lba28(vm, PRI, 0, 0, 8);
    outb(vm, PRI + REG_CMD, 0xC8);
    outb(vm, BM_CMD, 0x09);
    s = wait_dma(vm, PRI_CTL);
    assert_int_equal(s & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, PRI + REG_ERR), ER_ABRT);
    assert_int_equal(inb(vm, BM_STATUS) & (BMS_ERROR | BMS_INTR), BMS_ERROR | BMS_INTR);
    outb(vm, BM_CMD, 0x00);
    outb(vm, BM_STATUS, BMS_INTR | BMS_ERROR);
    /* A table shorter than the transfer: error too. */
    put_prd(vm, table, 0, buf0, 512, true);
    outb(vm, BM_CMD, 0x08);
    lba28(vm, PRI, 0, 0, 2);
    outb(vm, PRI + REG_CMD, 0xC8);
    outb(vm, BM_CMD, 0x09);
    s = wait_dma(vm, PRI_CTL);
    assert_int_equal(s & ST_ERR, ST_ERR);
    /* Bus mastering off in PCI: DMA cannot reach memory. */
    outb(vm, BM_CMD, 0x00);
    outb(vm, BM_STATUS, BMS_INTR | BMS_ERROR);
    pci_write(vm, 0x04, 2, 0x0001);
    put_prd(vm, table, 0, buf0, 512, true);
    lba28(vm, PRI, 0, 0, 1);
    outb(vm, PRI + REG_CMD, 0xC8);
    outb(vm, BM_CMD, 0x09);
    s = wait_dma(vm, PRI_CTL);
    assert_int_equal(s & ST_ERR, ST_ERR);
    env_free(&e);
}

/* --- ATAPI ------------------------------------------------------------------- */

/* Sends a packet command; PIO with this byte count limit, or DMA. */
static void packet(struct vm *vm, const uint8_t *cdb, uint16_t limit, bool dma)
{
    outb(vm, SEC + REG_DEV, 0xA0);
    outb(vm, SEC + REG_ERR, dma ? 1 : 0);
    outb(vm, SEC + REG_MID, (uint8_t)limit);
    outb(vm, SEC + REG_HIGH, (uint8_t)(limit >> 8));
    outb(vm, SEC + REG_CMD, 0xA0);
    uint8_t st = wait_not_busy(vm, SEC_CTL);
    assert_int_equal(st & ST_DRQ, ST_DRQ);
    assert_int_equal(inb(vm, SEC + REG_COUNT) & 3, 1);      /* C/D = 1, I/O = 0 */
    for (unsigned i = 0; i < 12; i += 2)
        outw(vm, SEC + REG_DATA, (uint16_t)(cdb[i] | cdb[i + 1] << 8));
}

/* Reads the data-in phase of a PIO packet command; returns the bytes, and
 * the final status in *status. Each DRQ block is at most `limit`. */
static unsigned packet_in(struct vm *vm, uint8_t *buf, unsigned max, uint16_t limit, uint8_t *status)
{
    unsigned n = 0;
    for (;;) {
        uint8_t st = wait_not_busy(vm, SEC_CTL);
        if (!(st & ST_DRQ)) {
            assert_int_equal(inb(vm, SEC + REG_COUNT) & 3, 3);   /* status phase */
            *status = inb(vm, SEC + REG_CMD);
            return n;
        }
        assert_int_equal(inb(vm, SEC + REG_COUNT) & 3, 2);      /* data to host */
        unsigned bc = inb(vm, SEC + REG_MID) | inb(vm, SEC + REG_HIGH) << 8;
        assert_true(bc > 0 && bc <= limit);
        assert_true(n + bc <= max);
        assert_int_equal(dt_gsi(vm, IRQ_SEC), 1);
        inb(vm, SEC + REG_CMD);
        read_words(vm, SEC, buf + n, bc);
        n += bc;
    }
}

static unsigned atapi_in(struct vm *vm, const uint8_t *cdb, uint8_t *buf, unsigned max, uint8_t *status)
{
    packet(vm, cdb, 0x800, false);
    return packet_in(vm, buf, max, 0x800, status);
}

static void sense(struct vm *vm, uint8_t *key, uint8_t *asc)
{
    uint8_t cdb[12] = {0x03, 0, 0, 0, 18}, b[18], st;
    assert_int_equal(atapi_in(vm, cdb, b, sizeof b, &st), 18);
    assert_int_equal(st & ST_ERR, 0);
    assert_int_equal(b[0], 0x70);
    *key = b[2] & 0xF;
    *asc = b[12];
}

static void test_atapi_basic(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    uint8_t b[8192], s;
    uint8_t tur[12] = {0x00};
    assert_int_equal(atapi_in(vm, tur, b, sizeof b, &s), 0);
    assert_int_equal(s & ST_ERR, 0);

    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    assert_int_equal(atapi_in(vm, inq, b, sizeof b, &s), 36);
    assert_int_equal(b[0], 0x05);
    assert_int_equal(b[1], 0x80);
    assert_memory_equal(b + 16, "CAIXA DVD-ROM", 13);
    /* Allocation length cuts the reply. */
    inq[4] = 5;
    assert_int_equal(atapi_in(vm, inq, b, sizeof b, &s), 5);

    uint8_t cap[12] = {0x25};
    assert_int_equal(atapi_in(vm, cap, b, sizeof b, &s), 8);
    assert_int_equal(get_le((uint8_t[]){b[3], b[2], b[1], b[0]}, 4), CD_SECTORS - 1);
    assert_int_equal(b[6] << 8 | b[7], 2048);

    /* READ(10) of 3 sectors from LBA 5 in 2048-byte DRQ blocks. */
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 5, 0, 0, 3};
    assert_int_equal(atapi_in(vm, rd, b, sizeof b, &s), 3 * 2048);
    assert_int_equal(s & ST_ERR, 0);
    check_file(e.vm, e.cd_fd, 5 * 2048, b, 3 * 2048);
    /* A byte count limit of 1000 splits it into even pieces. */
    packet(vm, rd, 1000, false);
    assert_int_equal(packet_in(vm, b, sizeof b, 1000, &s), 3 * 2048);
    check_file(e.vm, e.cd_fd, 5 * 2048, b, 3 * 2048);
    /* READ(12). */
    uint8_t rd12[12] = {0xA8, 0, 0, 0, 0, 60, 0, 0, 0, 4};
    assert_int_equal(atapi_in(vm, rd12, b, sizeof b, &s), 4 * 2048);
    check_file(e.vm, e.cd_fd, 60 * 2048, b, 4 * 2048);

    /* Past the end: CHECK CONDITION, ILLEGAL REQUEST / LBA OUT OF RANGE. */
    uint8_t bad[12] = {0x28, 0, 0, 0, 0, 62, 0, 0, 3};
    assert_int_equal(atapi_in(vm, bad, b, sizeof b, &s), 0);
    assert_int_equal(s & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, SEC + REG_ERR) >> 4, 5);
    uint8_t key, asc;
    sense(vm, &key, &asc);
    assert_int_equal(key, 5);
    assert_int_equal(asc, 0x21);
    sense(vm, &key, &asc);                                   /* cleared once read */
    assert_int_equal(key, 0);
    /* Unknown opcode: 5/20. */
    uint8_t unk[12] = {0xFF};
    atapi_in(vm, unk, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    sense(vm, &key, &asc);
    assert_int_equal(key, 5);
    assert_int_equal(asc, 0x20);
    env_free(&e);
}

/* READ SUB-CHANNEL (MMC-3 5.22): no audio status; the current position
 * is the last sector read (LBA and MSF, absolute and within track 1); no
 * media catalog number, no ISRC. */
static void test_atapi_subchannel(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    uint8_t b[4 * 2048], s;
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 40, 0, 0, 4};       /* LBA 40-43 */
    assert_int_equal(atapi_in(vm, rd, b, sizeof b, &s), 4 * 2048);
    uint8_t sub[12] = {0x42, 0, 0x40, 0x01, 0, 0, 0, 0, 64};
    assert_int_equal(atapi_in(vm, sub, b, sizeof b, &s), 16);
    assert_int_equal(s & ST_ERR, 0);
    assert_int_equal(b[1], 0x15);                             /* no current audio status */
    assert_int_equal(b[2] << 8 | b[3], 12);
    assert_int_equal(b[4], 1);                                /* format: current position */
    assert_int_equal(b[5], 0x14);                             /* ADR 1, data track */
    assert_int_equal(b[6], 1);
    assert_int_equal(b[7], 1);
    assert_int_equal(b[8] << 24 | b[9] << 16 | b[10] << 8 | b[11], 43);
    assert_int_equal(b[12] << 24 | b[13] << 16 | b[14] << 8 | b[15], 43);
    /* In MSF: 43 + 150 = 00:02:43 on the disc, 00:00:43 in the track. */
    sub[1] = 2;
    assert_int_equal(atapi_in(vm, sub, b, sizeof b, &s), 16);
    assert_int_equal(b[9] << 16 | b[10] << 8 | b[11], 0x00022B);
    assert_int_equal(b[13] << 16 | b[14] << 8 | b[15], 0x00002B);
    /* SEEK moves the head. */
    uint8_t seek[12] = {0x2B, 0, 0, 0, 0, 7};
    atapi_in(vm, seek, b, sizeof b, &s);
    sub[1] = 0;
    assert_int_equal(atapi_in(vm, sub, b, sizeof b, &s), 16);
    assert_int_equal(b[11], 7);
    /* Without SUBQ: the header alone. */
    sub[2] = 0;
    assert_int_equal(atapi_in(vm, sub, b, sizeof b, &s), 4);
    assert_int_equal(b[2] << 8 | b[3], 0);
    /* Media catalog number, ISRC of track 1: none valid (MCVAL, TCVAL). */
    uint8_t mcn[12] = {0x42, 0, 0x40, 0x02, 0, 0, 0, 0, 64};
    assert_int_equal(atapi_in(vm, mcn, b, sizeof b, &s), 24);
    assert_int_equal(b[4], 2);
    assert_int_equal(b[8] & 0x80, 0);
    uint8_t isrc[12] = {0x42, 0, 0x40, 0x03, 0, 0, 1, 0, 64};
    assert_int_equal(atapi_in(vm, isrc, b, sizeof b, &s), 24);
    assert_int_equal(b[4], 3);
    assert_int_equal(b[6], 1);
    assert_int_equal(b[8] & 0x80, 0);
    /* The allocation length cuts the reply. */
    sub[2] = 0x40;
    sub[8] = 8;
    assert_int_equal(atapi_in(vm, sub, b, sizeof b, &s), 8);
    /* A track that is not there, a format that is not: 5/24. */
    uint8_t key, asc;
    isrc[6] = 2;
    atapi_in(vm, isrc, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    sense(vm, &key, &asc);
    assert_int_equal(key, 5);
    assert_int_equal(asc, 0x24);
    mcn[3] = 0x07;
    atapi_in(vm, mcn, b, sizeof b, &s);
    sense(vm, &key, &asc);
    assert_int_equal(asc, 0x24);
    env_free(&e);
}

static void test_atapi_toc_config(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    uint8_t b[512], s;
    /* TOC format 0 in LBA: track 1 at 0, lead-out at the capacity. */
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    assert_int_equal(atapi_in(vm, toc, b, sizeof b, &s), 20);
    assert_int_equal(b[0] << 8 | b[1], 18);
    assert_int_equal(b[2], 1);
    assert_int_equal(b[3], 1);
    assert_int_equal(b[5], 0x14);
    assert_int_equal(b[6], 1);
    assert_int_equal(b[8] | b[9] | b[10] | b[11], 0);
    assert_int_equal(b[14], 0xAA);
    assert_int_equal(b[18] << 8 | b[19], CD_SECTORS);
    /* In MSF: 00:02:00 and the lead-out at LBA 64 + 150 = 00:02:64. */
    toc[1] = 2;
    assert_int_equal(atapi_in(vm, toc, b, sizeof b, &s), 20);
    assert_int_equal(b[9] << 16 | b[10] << 8 | b[11], 0x000200);
    assert_int_equal(b[17] << 16 | b[18] << 8 | b[19], 0x000240);
    /* Format 1 (sessions) and 2 (full TOC: A0, A1, A2, track 1). */
    uint8_t ses[12] = {0x43, 0, 1, 0, 0, 0, 0, 0x01, 0x00};
    assert_int_equal(atapi_in(vm, ses, b, sizeof b, &s), 12);
    assert_int_equal(b[0] << 8 | b[1], 10);
    uint8_t full[12] = {0x43, 2, 2, 0, 0, 0, 0, 0x01, 0x00};
    assert_int_equal(atapi_in(vm, full, b, sizeof b, &s), 4 + 4 * 11);
    assert_int_equal(b[4 + 3], 0xA0);
    assert_int_equal(b[4 + 22 + 3], 0xA2);
    assert_int_equal(b[4 + 22 + 8], 0);
    assert_int_equal(b[4 + 22 + 9], 2);
    assert_int_equal(b[4 + 22 + 10], 64);
    /* Bad track number: 5/24. */
    toc[6] = 5;
    atapi_in(vm, toc, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);

    /* GET CONFIGURATION: CD-ROM profile current (a 64-sector disc). */
    uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    unsigned n = atapi_in(vm, gc, b, sizeof b, &s);
    assert_true(n > 8);
    assert_int_equal(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], n - 4);
    assert_int_equal(b[6] << 8 | b[7], 0x0008);
    assert_int_equal(b[8] << 8 | b[9], 0x0000);             /* profile list first */
    assert_int_equal(b[12] << 8 | b[13], 0x0010);           /* DVD-ROM, not current */
    assert_int_equal(b[14] & 1, 0);
    assert_int_equal(b[16] << 8 | b[17], 0x0008);           /* CD-ROM, current */
    assert_int_equal(b[18] & 1, 1);
    /* RT = 2: just the core feature. */
    uint8_t gc2[12] = {0x46, 2, 0, 1, 0, 0, 0, 0x01, 0x00};
    assert_int_equal(atapi_in(vm, gc2, b, sizeof b, &s), 8 + 12);
    assert_int_equal(b[8] << 8 | b[9], 0x0001);
    assert_int_equal(b[15], 2);                              /* ATAPI */

    /* MODE SENSE(10) capabilities page. */
    uint8_t ms[12] = {0x5A, 0, 0x2A, 0, 0, 0, 0, 0x01, 0x00};
    assert_int_equal(atapi_in(vm, ms, b, sizeof b, &s), 8 + 22);
    assert_int_equal(b[0] << 8 | b[1], 28);
    assert_int_equal(b[8], 0x2A);
    assert_int_equal(b[9], 20);
    ms[2] = 0xC0 | 0x2A;                                     /* saved values: 5/39 */
    atapi_in(vm, ms, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);

    /* READ DISC INFORMATION, MECHANISM STATUS. */
    uint8_t di[12] = {0x51, 0, 0, 0, 0, 0, 0, 0, 34};
    assert_int_equal(atapi_in(vm, di, b, sizeof b, &s), 34);
    assert_int_equal(b[2], 0x0E);
    uint8_t mech[12] = {0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8};
    assert_int_equal(atapi_in(vm, mech, b, sizeof b, &s), 8);
    env_free(&e);
}

static void test_atapi_media(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    uint8_t b[64], s, key, asc;
    uint8_t gesn[12] = {0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8};
    assert_int_equal(atapi_in(vm, gesn, b, sizeof b, &s), 8);
    assert_int_equal(b[2], 4);
    assert_int_equal(b[4] & 0xF, 0);                         /* no event */
    assert_int_equal(b[5] & 2, 2);                           /* medium present */
    /* Not polled: invalid field. */
    gesn[1] = 0;
    atapi_in(vm, gesn, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    gesn[1] = 1;

    /* The host changes the disc: UNIT ATTENTION once, a new-media event. */
    assert_int_equal(blockdev_change_medium(vm_blockdev(vm, "drive1"), e.cd), 0);
    assert_int_equal(atapi_in(vm, gesn, b, sizeof b, &s), 8);
    assert_int_equal(b[4] & 0xF, 2);
    uint8_t tur[12] = {0};
    atapi_in(vm, tur, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    assert_int_equal(inb(vm, SEC + REG_ERR) >> 4, 6);
    atapi_in(vm, tur, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, 0);

    /* Locked: eject refused (5/53); unlocked: the tray opens, NOT READY 3A. */
    uint8_t lock[12] = {0x1E, 0, 0, 0, 1};
    uint8_t eject[12] = {0x1B, 0, 0, 0, 2};
    atapi_in(vm, lock, b, sizeof b, &s);
    atapi_in(vm, eject, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    sense(vm, &key, &asc);
    assert_int_equal(asc, 0x53);
    lock[4] = 0;
    atapi_in(vm, lock, b, sizeof b, &s);
    atapi_in(vm, eject, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, 0);
    atapi_in(vm, tur, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    sense(vm, &key, &asc);
    assert_int_equal(key, 2);
    assert_int_equal(asc, 0x3A);
    /* Load: the medium is back, with a unit attention. */
    uint8_t load[12] = {0x1B, 0, 0, 0, 3};
    atapi_in(vm, load, b, sizeof b, &s);
    atapi_in(vm, tur, b, sizeof b, &s);
    assert_int_equal(inb(vm, SEC + REG_ERR) >> 4, 6);
    atapi_in(vm, tur, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, 0);

    /* The host ejects: no medium. */
    assert_int_equal(blockdev_change_medium(vm_blockdev(vm, "drive1"), NULL), 0);
    atapi_in(vm, tur, b, sizeof b, &s);                      /* unit attention */
    atapi_in(vm, tur, b, sizeof b, &s);
    sense(vm, &key, &asc);
    assert_int_equal(key, 2);
    assert_int_equal(asc, 0x3A);
    uint8_t cap[12] = {0x25};
    atapi_in(vm, cap, b, sizeof b, &s);
    assert_int_equal(s & ST_ERR, ST_ERR);
    env_free(&e);
}

static void test_atapi_dma(void **st)
{
    (void)st;
    struct env e;
    env_new(&e);
    struct vm *vm = e.vm;
    physmem *pm = vm_physmem(vm);
    bm_setup(vm);
    const uint32_t table = 0x10000, buf0 = 0x40000;
    put_prd(vm, table, 0, buf0, 0, true);                   /* 0: 64 KiB */
    outl(vm, BM_SEC_PRD, table);
    outb(vm, BM_SEC_CMD, 0x08);
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 10, 0, 0, 8};
    packet(vm, rd, 0, true);
    outb(vm, BM_SEC_CMD, 0x09);
    uint8_t s = wait_not_busy(vm, SEC_CTL);
    assert_int_equal(s & (ST_ERR | ST_DRQ), 0);
    assert_int_equal(inb(vm, SEC + REG_COUNT) & 3, 3);
    assert_int_equal(inb(vm, BM_SEC_STATUS) & (BMS_INTR | BMS_ERROR), BMS_INTR);
    assert_int_equal(dt_gsi(vm, IRQ_SEC), 1);
    uint8_t got[8 * 2048];
    assert_true(physmem_rw(pm, buf0, got, sizeof got, false));
    check_file(e.vm, e.cd_fd, 10 * 2048, got, sizeof got);
    outb(vm, BM_SEC_CMD, 0);
    outb(vm, BM_SEC_STATUS, BMS_INTR);
    /* INQUIRY by DMA. */
    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    outb(vm, BM_SEC_CMD, 0x08);
    packet(vm, inq, 0, true);
    outb(vm, BM_SEC_CMD, 0x09);
    s = wait_not_busy(vm, SEC_CTL);
    assert_int_equal(s & ST_ERR, 0);
    assert_true(physmem_rw(pm, buf0, got, 36, false));
    assert_int_equal(got[0], 5);
    assert_memory_equal(got + 8, "CAIXA   ", 8);
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pci_identity),
        cmocka_unit_test(test_signatures_and_reset),
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_pio_read_write),
        cmocka_unit_test(test_lba48),
        cmocka_unit_test(test_write_behind_failure),
        cmocka_unit_test(test_dma),
        cmocka_unit_test(test_atapi_basic),
        cmocka_unit_test(test_atapi_toc_config),
        cmocka_unit_test(test_atapi_subchannel),
        cmocka_unit_test(test_atapi_media),
        cmocka_unit_test(test_atapi_dma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
