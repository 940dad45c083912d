/* fw_cfg: the selector/data ports and the DMA interface as SeaBIOS uses
 * them (QEMU docs/specs/fw_cfg): signature, ID, legacy keys, the file
 * directory and the etc/e820 table. */
#include "device_test_harness.h"

#define FW_SEL 0x510
#define FW_DATA 0x511
#define FW_DMA_HI 0x514
#define FW_DMA_LO 0x518
#define DMA_ERROR 0x01
#define DMA_READ 0x02
#define DMA_SKIP 0x04
#define DMA_SELECT 0x08
#define DMA_WRITE 0x10
#define ACCESS_GPA 0x1000u
#define BUF_GPA 0x2000u

static void read_item(struct vm *vm, uint16_t key, uint8_t *buf, size_t len)
{
    outw(vm, FW_SEL, key);
    for (size_t i = 0; i < len; i++)
        buf[i] = inb(vm, FW_DATA);
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Finds a file in the directory: returns its selector, or 0. */
static uint16_t find_file(struct vm *vm, const char *name, uint32_t *size)
{
    uint8_t hdr[4];
    read_item(vm, 0x19, hdr, 4);
    uint32_t count = be32(hdr);
    uint16_t sel = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t e[64];
        for (int j = 0; j < 64; j++)
            e[j] = inb(vm, FW_DATA);
        assert_int_equal(e[6] | e[7], 0);          /* reserved */
        assert_int_equal(e[63], 0);                /* NUL-terminated name */
        if (strcmp((const char *)e + 8, name) == 0) {
            sel = (uint16_t)(e[4] << 8 | e[5]);
            *size = be32(e);
        }
    }
    return sel;
}

static void test_legacy_keys(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    uint8_t b[8];
    read_item(vm, 0x0000, b, 4);
    assert_memory_equal(b, "QEMU", 4);
    read_item(vm, 0x0001, b, 4);
    assert_int_equal(le(b, 4), 3);                 /* traditional + DMA */
    read_item(vm, 0x0003, b, 8);
    assert_int_equal(le(b, 8), 32u << 20);
    read_item(vm, 0x0005, b, 2);
    assert_int_equal(le(b, 2), 1);                 /* NB_CPUS */
    read_item(vm, 0x000F, b, 2);
    assert_int_equal(le(b, 2), 1);                 /* MAX_CPUS */
    read_item(vm, 0x000E, b, 2);
    assert_int_equal(le(b, 2), 0);                 /* no boot menu */
    /* Past the end, and unknown keys, read zeros. */
    read_item(vm, 0x0000, b, 4);
    assert_int_equal(inb(vm, FW_DATA), 0);
    read_item(vm, 0x0123, b, 2);
    assert_int_equal(le(b, 2), 0);
    /* The write-channel bit selects the same item. */
    read_item(vm, 0x4000, b, 4);
    assert_memory_equal(b, "QEMU", 4);
    /* Writes to the data port are ignored. */
    outw(vm, FW_SEL, 0x0000);
    outb(vm, FW_DATA, 'X');
    read_item(vm, 0x0000, b, 1);
    assert_int_equal(b[0], 'Q');
    vm_destroy(vm);
}

static void test_files_and_e820(void **st)
{
    (void)st;
    struct dt_opts o = { .ram_size = 0x110000000ull };   /* 4.25 GiB: 3.5 below, 0.75 above */
    struct vm *vm = dt_vm_new_opts(&o);
    uint32_t size = 0;
    uint16_t sel = find_file(vm, "etc/e820", &size);
    assert_true(sel >= 0x20);
    assert_int_equal(size, 40);
    uint8_t e[40];
    read_item(vm, sel, e, sizeof e);
    assert_int_equal(le(e, 8), 0);
    assert_int_equal(le(e + 8, 8), 0xE0000000ull);
    assert_int_equal(le(e + 16, 4), 1);
    assert_int_equal(le(e + 20, 8), 0x100000000ull);
    assert_int_equal(le(e + 28, 8), 0x30000000ull);
    assert_int_equal(le(e + 36, 4), 1);
    sel = find_file(vm, "etc/boot-fail-wait", &size);
    assert_true(sel >= 0x20);
    assert_int_equal(size, 4);
    uint8_t w[4];
    read_item(vm, sel, w, 4);
    assert_int_equal(le(w, 4), 0xFFFFFFFFu);       /* SeaBIOS: no automatic retry */
    assert_true(find_file(vm, "bootorder", &size) >= 0x20);
    assert_int_equal(size, 0);
    assert_int_equal(find_file(vm, "etc/nothing", &size), 0);
    vm_destroy(vm);

    vm = dt_vm_new();
    sel = find_file(vm, "etc/e820", &size);
    assert_int_equal(size, 20);
    read_item(vm, sel, e, 20);
    assert_int_equal(le(e + 8, 8), 32u << 20);
    vm_destroy(vm);
}

static void put_access(struct vm *vm, uint32_t control, uint32_t length, uint64_t addr)
{
    uint8_t a[16];
    for (int i = 0; i < 4; i++) {
        a[i] = (uint8_t)(control >> (24 - 8 * i));
        a[4 + i] = (uint8_t)(length >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++)
        a[8 + i] = (uint8_t)(addr >> (56 - 8 * i));
    assert_true(physmem_rw(&vm->mem, ACCESS_GPA, a, sizeof a, true));
}

static uint32_t run_dma(struct vm *vm)
{
    /* SeaBIOS writes only the low half, byte-swapped to big-endian. */
    outl(vm, FW_DMA_LO, __builtin_bswap32(ACCESS_GPA));
    uint8_t c[4];
    assert_true(physmem_rw(&vm->mem, ACCESS_GPA, c, 4, false));
    return be32(c);
}

static void test_dma(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(inl(vm, FW_DMA_HI), 0x554D4551);   /* "QEMU" */
    assert_int_equal(inl(vm, FW_DMA_LO), 0x47464320);   /* " CFG" */
    uint8_t buf[16];
    /* Select + read the directory count. */
    put_access(vm, 0x19u << 16 | DMA_SELECT | DMA_READ, 4, BUF_GPA);
    assert_int_equal(run_dma(vm), 0);
    assert_true(physmem_rw(&vm->mem, BUF_GPA, buf, 4, false));
    assert_int_equal(be32(buf), 4);                /* e820, bootorder, boot-fail-wait, sercon-port */
    /* Select the signature, skip 2, read 6: "MU" then zeros past the end. */
    memset(buf, 0xEE, sizeof buf);
    assert_true(physmem_rw(&vm->mem, BUF_GPA, buf, sizeof buf, true));
    put_access(vm, 0x00u << 16 | DMA_SELECT | DMA_SKIP, 2, 0);
    assert_int_equal(run_dma(vm), 0);
    put_access(vm, DMA_READ, 6, BUF_GPA);
    assert_int_equal(run_dma(vm), 0);
    assert_true(physmem_rw(&vm->mem, BUF_GPA, buf, sizeof buf, false));
    static const uint8_t want[8] = { 'M', 'U', 0, 0, 0, 0, 0xEE, 0xEE };
    assert_memory_equal(buf, want, 8);
    /* Writes are refused; so is a target that is not RAM. */
    put_access(vm, 0x01u << 16 | DMA_SELECT | DMA_WRITE, 4, BUF_GPA);
    assert_int_equal(run_dma(vm), DMA_ERROR);
    put_access(vm, 0x01u << 16 | DMA_SELECT | DMA_READ, 4, 0xFEE00000u);
    assert_int_equal(run_dma(vm), DMA_ERROR);
    /* The full 64-bit register, high half first. */
    put_access(vm, 0x01u << 16 | DMA_SELECT | DMA_READ, 4, BUF_GPA);
    outl(vm, FW_DMA_HI, 0);
    assert_int_equal(run_dma(vm), 0);
    assert_true(physmem_rw(&vm->mem, BUF_GPA, buf, 4, false));
    assert_int_equal(le(buf, 4), 3);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_keys),
        cmocka_unit_test(test_files_and_e820),
        cmocka_unit_test(test_dma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
