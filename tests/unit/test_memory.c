/* Guest physical map: RAM layout, PAM shadowing, BIOS aliases, MMIO
 * dispatch, unassigned reads, bounds of physmem_rw/physmem_ram_ptr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/memory.h"

#define MiB (1ull << 20)
#define KiB 1024u

static uint8_t *make_bios(size_t size)
{
    uint8_t *img = malloc(size);
    /* Each byte tells its offset's low bits and which 64 KiB unit it is in. */
    for (size_t i = 0; i < size; i++)
        img[i] = (uint8_t)((i & 0x0f) | ((i >> 16) << 4));
    return img;
}

static int setup_256m(void **state)
{
    physmem *pm = calloc(1, sizeof *pm);
    if (physmem_init(pm, 256 * MiB) < 0)
        return -1;
    uint8_t *img = make_bios(256 * KiB);
    int rc = physmem_set_bios(pm, img, 256 * KiB);
    free(img);
    *state = pm;
    return rc;
}

static int teardown(void **state)
{
    physmem_destroy(*state);
    free(*state);
    return 0;
}

static void ram_read_write(void **state)
{
    physmem *pm = *state;
    physmem_write(pm, 0x1000, 0x1122334455667788ull, 8);
    assert_int_equal(physmem_read(pm, 0x1000, 8), 0x1122334455667788ull);
    assert_int_equal(physmem_read(pm, 0x1000, 1), 0x88);
    assert_int_equal(physmem_read(pm, 0x1002, 2), 0x5566);
    assert_int_equal(physmem_read(pm, 0x1004, 4), 0x11223344);
    physmem_write(pm, 256 * MiB - 4, 0xdeadbeef, 4);
    assert_int_equal(physmem_read(pm, 256 * MiB - 4, 4), 0xdeadbeef);
    assert_int_equal(pm->below_4g, 256 * MiB);
    assert_int_equal(pm->above_4g, 0);
}

static void unassigned_reads_ones(void **state)
{
    physmem *pm = *state;
    /* past RAM, VGA window, PCI hole, above 4 GiB with no high RAM */
    uint64_t addrs[] = {256 * MiB, 0xA0000, 0xBFFFC, 0xE0000000ull, FOUR_GIB, 0x123456789000ull};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        assert_int_equal(physmem_read(pm, addrs[i], 1), 0xff);
        assert_int_equal(physmem_read(pm, addrs[i], 2), 0xffff);
        assert_int_equal(physmem_read(pm, addrs[i], 4), 0xffffffffu);
        assert_int_equal(physmem_read(pm, addrs[i], 8), UINT64_MAX);
        physmem_write(pm, addrs[i], 0, 4); /* dropped */
        assert_int_equal(physmem_read(pm, addrs[i], 4), 0xffffffffu);
    }
    phys_page pg = physmem_page(pm, 0xA0000);
    assert_null(pg.read);
    assert_null(pg.write);
}

static void bios_high_and_low_alias(void **state)
{
    physmem *pm = *state;
    uint64_t top = FOUR_GIB - 256 * KiB;
    /* High copy: the whole image, read only. */
    assert_int_equal(physmem_read(pm, top, 1), 0x00);
    assert_int_equal(physmem_read(pm, FOUR_GIB - 16, 1), (0x3u << 4) | 0x0);
    assert_int_equal(physmem_read(pm, FOUR_GIB - 1, 1), (0x3u << 4) | 0xf);
    physmem_write(pm, FOUR_GIB - 16, 0x12, 1);
    assert_int_equal(physmem_read(pm, FOUR_GIB - 16, 1), 0x30);
    /* Low alias: the last 128 KiB of the image at 0xE0000-0xFFFFF. */
    assert_int_equal(physmem_read(pm, 0xFFFF0, 1), 0x30);
    assert_int_equal(physmem_read(pm, 0xE0000, 1), 0x20);
    assert_int_equal(physmem_read(pm, 0xEFFFF, 1), 0x2f);
    /* 0xC0000-0xDFFFF: no ROM there, no shadow RAM yet. */
    assert_int_equal(physmem_read(pm, 0xC0000, 4), 0xffffffffu);
    assert_int_equal(physmem_read(pm, 0xDFFFC, 4), 0xffffffffu);
    phys_page pg = physmem_page(pm, 0xFFFF0);
    assert_non_null(pg.read);
    assert_null(pg.write);
    assert_int_equal(pg.ram_index, UINT32_MAX);
    assert_int_equal(pg.read[0xff0], 0x30);
    pg = physmem_page(pm, FOUR_GIB - 1);
    assert_non_null(pg.read);
    assert_null(pg.write);
}

static void small_bios_alias(void **state)
{
    (void)state;
    physmem pm;
    assert_int_equal(physmem_init(&pm, 2 * MiB), 0);
    uint8_t *img = make_bios(64 * KiB);
    assert_int_equal(physmem_set_bios(&pm, img, 64 * KiB), 0);
    free(img);
    assert_int_equal(physmem_read(&pm, 0xF0000, 1), 0x00);
    assert_int_equal(physmem_read(&pm, 0xFFFFF, 1), 0x0f);
    assert_int_equal(physmem_read(&pm, 0xE0000, 1), 0xff); /* only 64 KiB aliased */
    assert_int_equal(physmem_read(&pm, FOUR_GIB - 64 * KiB, 1), 0x00);
    assert_int_equal(physmem_read(&pm, FOUR_GIB - 64 * KiB - 1, 1), 0xff);
    physmem_destroy(&pm);
}

static void bad_bios_sizes(void **state)
{
    physmem *pm = *state;
    uint8_t *img = make_bios(4 * MiB);
    assert_int_equal(physmem_set_bios(pm, img, 3 * KiB), -1);
    assert_int_equal(physmem_set_bios(pm, img, 4 * MiB), -1);
    assert_int_equal(physmem_set_bios(pm, img, 64 * KiB + 1), -1);
    free(img);
    /* the old image stays */
    assert_int_equal(physmem_read(pm, FOUR_GIB - 1, 1), 0x3f);
}

static void pam_shadowing(void **state)
{
    physmem *pm = *state;
    uint32_t gen = pm->generation;
    /* SeaBIOS's dance: write-enable RAM, copy ROM down, then read RAM. */
    physmem_set_pam(pm, 0xF0000, 0x10000, false, true);
    assert_true(pm->generation != gen);
    assert_int_equal(physmem_read(pm, 0xF1234, 1), 0x34);
    physmem_write(pm, 0xF1234, 0xAB, 1); /* goes to RAM, reads still ROM */
    assert_int_equal(physmem_read(pm, 0xF1234, 1), 0x34);
    phys_page pg = physmem_page(pm, 0xF1000);
    assert_non_null(pg.read);
    assert_non_null(pg.write);
    assert_true(pg.read != pg.write);
    physmem_set_pam(pm, 0xF0000, 0x10000, true, false);
    assert_int_equal(physmem_read(pm, 0xF1234, 1), 0xAB);
    physmem_write(pm, 0xF1234, 0xCD, 1); /* write-protected shadow */
    assert_int_equal(physmem_read(pm, 0xF1234, 1), 0xAB);
    pg = physmem_page(pm, 0xF1000);
    assert_ptr_equal(pg.read, pm->ram + 0xF1000);
    assert_null(pg.write);
    assert_int_equal(pg.ram_index, 0xF1);
    /* Other 16 KiB segments are untouched. */
    assert_int_equal(physmem_read(pm, 0xEC000, 1), 0x20 | 0x0);
    /* PAM for 0xC0000: shadow RAM appears where nothing was. */
    physmem_set_pam(pm, 0xC0000, 0x4000, true, true);
    physmem_write(pm, 0xC0010, 0x5a5a, 2);
    assert_int_equal(physmem_read(pm, 0xC0010, 2), 0x5a5a);
    assert_int_equal(physmem_read(pm, 0xC4000, 1), 0xff);
    /* Reset: back to ROM. */
    gen = pm->generation;
    physmem_reset(pm);
    assert_true(pm->generation != gen);
    assert_int_equal(physmem_read(pm, 0xF1234, 1), 0x34);
    assert_int_equal(physmem_read(pm, 0xC0010, 2), 0xffff);
}

struct mmio_log {
    uint64_t last_off, last_val;
    unsigned last_size, reads, writes;
    uint8_t regs[0x1000];
};

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    struct mmio_log *l = opaque;
    l->reads++;
    l->last_off = off;
    l->last_size = size;
    uint64_t v = 0;
    memcpy(&v, l->regs + off, size);
    return v;
}

static void dev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct mmio_log *l = opaque;
    l->writes++;
    l->last_off = off;
    l->last_size = size;
    l->last_val = val;
    memcpy(l->regs + off, &val, size);
}

static const mmio_ops dev_ops = {dev_read, dev_write};

static void mmio_dispatch(void **state)
{
    physmem *pm = *state;
    static struct mmio_log log;
    memset(&log, 0, sizeof log);
    uint32_t gen = pm->generation;
    assert_int_equal(physmem_add_mmio(pm, 0xFEC00000ull, 0x1000, &dev_ops, &log), 0);
    assert_true(pm->generation != gen);
    physmem_write(pm, 0xFEC00010ull, 0xcafe, 2);
    assert_int_equal(log.writes, 1);
    assert_int_equal(log.last_off, 0x10);
    assert_int_equal(log.last_size, 2);
    assert_int_equal(log.last_val, 0xcafe);
    assert_int_equal(physmem_read(pm, 0xFEC00010ull, 4), 0xcafe);
    assert_int_equal(log.reads, 1);
    phys_page pg = physmem_page(pm, 0xFEC00000ull);
    assert_null(pg.read);
    assert_null(pg.write);
    /* Overlaps are refused. */
    assert_int_equal(physmem_add_mmio(pm, 0xFEC00800ull, 0x1000, &dev_ops, &log), -1);
    /* MMIO over RAM wins (the VGA window style) and takes the page off the fast path. */
    assert_int_equal(physmem_add_mmio(pm, 0x200000, 0x100, &dev_ops, &log), 0);
    physmem_write(pm, 0x200004, 0x77, 1);
    assert_int_equal(log.last_off, 4);
    assert_int_equal(pm->ram[0x200004], 0);
    pg = physmem_page(pm, 0x200000);
    assert_null(pg.read);
    pg = physmem_page(pm, 0x201000);
    assert_non_null(pg.read);
    /* physmem_rw refuses MMIO; physmem_ram_ptr too. */
    uint8_t buf[16];
    assert_false(physmem_rw(pm, 0x1FFFF8, buf, sizeof buf, false));
    assert_null(physmem_ram_ptr(pm, 0x1FFFF8, 16));
    assert_non_null(physmem_ram_ptr(pm, 0x201000, 16));
}

static void accesses_across_kinds(void **state)
{
    physmem *pm = *state;
    /* 4 bytes straddling the end of RAM: 2 RAM bytes, 2 unassigned. */
    physmem_write(pm, 256 * MiB - 2, 0x1234, 2);
    assert_int_equal(physmem_read(pm, 256 * MiB - 2, 4), 0xffff1234u);
    /* End of the address space does not wrap into RAM. */
    assert_int_equal(physmem_read(pm, UINT64_MAX - 1, 2), 0xffff);
}

static void code_pages_lose_write_pointer(void **state)
{
    physmem *pm = *state;
    phys_page pg = physmem_page(pm, 0x7000);
    assert_non_null(pg.write);
    assert_int_equal(pg.ram_index, 7);
    pm->code_map[7] = 1;
    pg = physmem_page(pm, 0x7000);
    assert_non_null(pg.read);
    assert_null(pg.write);
    pm->code_map[7] = 0;
}

static void rw_and_ram_ptr_bounds(void **state)
{
    physmem *pm = *state;
    uint8_t buf[64];
    memset(buf, 0x42, sizeof buf);
    assert_true(physmem_rw(pm, 0x10000, buf, sizeof buf, true));
    memset(buf, 0, sizeof buf);
    assert_true(physmem_rw(pm, 0x10000, buf, sizeof buf, false));
    assert_int_equal(buf[63], 0x42);
    /* Runs off the end of RAM: refused, read fills ones. */
    assert_false(physmem_rw(pm, 256 * MiB - 32, buf, sizeof buf, false));
    assert_int_equal(buf[40], 0xff);
    /* The ROM reads; a write to it is dropped but not an error. */
    assert_true(physmem_rw(pm, FOUR_GIB - 16, buf, 16, false));
    assert_int_equal(buf[0], 0x30);
    assert_true(physmem_rw(pm, FOUR_GIB - 16, buf, 16, true));
    /* Wrap at the top of the address space. */
    assert_false(physmem_rw(pm, UINT64_MAX - 3, buf, 16, false));
    /* ram_ptr: plain RAM only. */
    assert_ptr_equal(physmem_ram_ptr(pm, 0x1000, 4096), pm->ram + 0x1000);
    assert_null(physmem_ram_ptr(pm, 0x9F000, 0x2000)); /* into the VGA hole */
    assert_null(physmem_ram_ptr(pm, 0xF0000, 16));     /* PAM window */
    assert_null(physmem_ram_ptr(pm, 256 * MiB - 8, 16));
    assert_null(physmem_ram_ptr(pm, UINT64_MAX - 8, 16));
}

static void ram_above_4g(void **state)
{
    (void)state;
    physmem pm;
    /* 4 GiB of RAM: 3.5 GiB below the hole, 0.5 GiB from 4 GiB. */
    assert_int_equal(physmem_init(&pm, 4096 * MiB), 0);
    assert_int_equal(pm.below_4g, PCI_HOLE_START);
    assert_int_equal(pm.above_4g, 4096 * MiB - PCI_HOLE_START);
    physmem_write(&pm, FOUR_GIB, 0x77, 1);
    assert_int_equal(pm.ram[PCI_HOLE_START], 0x77);
    assert_int_equal(physmem_read(&pm, FOUR_GIB + pm.above_4g - 1, 1), 0);
    assert_int_equal(physmem_read(&pm, FOUR_GIB + pm.above_4g, 1), 0xff);
    assert_int_equal(physmem_read(&pm, PCI_HOLE_START, 1), 0xff);
    phys_page pg = physmem_page(&pm, FOUR_GIB + 0x3000);
    assert_int_equal(pg.ram_index, (PCI_HOLE_START >> PAGE_SHIFT) + 3);
    assert_ptr_equal(physmem_ram_ptr(&pm, FOUR_GIB, 8), pm.ram + PCI_HOLE_START);
    physmem_destroy(&pm);
}

static void init_refuses_bad_sizes(void **state)
{
    (void)state;
    physmem pm;
    assert_int_equal(physmem_init(&pm, 4096), -1);        /* below 1 MiB */
    assert_int_equal(physmem_init(&pm, MiB + 1), -1);     /* not whole pages */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ram_read_write, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(unassigned_reads_ones, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(bios_high_and_low_alias, setup_256m, teardown),
        cmocka_unit_test(small_bios_alias),
        cmocka_unit_test_setup_teardown(bad_bios_sizes, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(pam_shadowing, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(mmio_dispatch, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(accesses_across_kinds, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(code_pages_lose_write_pointer, setup_256m, teardown),
        cmocka_unit_test_setup_teardown(rw_and_ram_ptr_bounds, setup_256m, teardown),
        cmocka_unit_test(ram_above_4g),
        cmocka_unit_test(init_refuses_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
