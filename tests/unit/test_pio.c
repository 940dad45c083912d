/* Port I/O dispatch: ranges, offsets, sizes, unassigned ports, straddling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/pio.h"

struct dev {
    uint8_t regs[16];
    unsigned reads, writes;
    uint16_t last_off;
    unsigned last_size;
};

static uint32_t dev_read(void *opaque, uint16_t off, unsigned size)
{
    struct dev *d = opaque;
    d->reads++;
    d->last_off = off;
    d->last_size = size;
    uint32_t v = 0;
    memcpy(&v, d->regs + off, size);
    return v;
}

static void dev_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct dev *d = opaque;
    d->writes++;
    d->last_off = off;
    d->last_size = size;
    memcpy(d->regs + off, &val, size);
}

static const pio_ops ops = {dev_read, dev_write};

static void dispatch_with_offsets(void **state)
{
    (void)state;
    struct pio_table *t = pio_table_new();
    struct dev uart = {0}, pic = {0};
    assert_int_equal(pio_register(t, 0x3f8, 8, &ops, &uart), 0);
    assert_int_equal(pio_register(t, 0x20, 2, &ops, &pic), 0);
    pio_out(t, 0x3fb, 1, 0x83);
    assert_int_equal(uart.last_off, 3);
    assert_int_equal(uart.regs[3], 0x83);
    assert_int_equal(pio_in(t, 0x3fb, 1), 0x83);
    pio_out(t, 0x3f8, 4, 0x11223344);
    assert_int_equal(uart.last_size, 4);
    assert_int_equal(pio_in(t, 0x3f8, 2), 0x3344);
    pio_out(t, 0x21, 1, 0xff);
    assert_int_equal(pic.regs[1], 0xff);
    assert_int_equal(pic.last_off, 1);
    pio_table_free(t);
}

static void unassigned_ports(void **state)
{
    (void)state;
    struct pio_table *t = pio_table_new();
    assert_int_equal(pio_in(t, 0x80, 1), 0xff);
    assert_int_equal(pio_in(t, 0x1234, 2), 0xffff);
    assert_int_equal(pio_in(t, 0xfffe, 4), 0xffffffffu); /* wraps, still ones */
    pio_out(t, 0x80, 1, 0x55); /* dropped, no crash */
    pio_out(t, 0xffff, 4, 0x55);
    pio_table_free(t);
}

static void overlaps_and_bounds_refused(void **state)
{
    (void)state;
    struct pio_table *t = pio_table_new();
    struct dev d = {0};
    assert_int_equal(pio_register(t, 0x60, 1, &ops, &d), 0);
    assert_int_equal(pio_register(t, 0x5f, 2, &ops, &d), -1);
    assert_int_equal(pio_register(t, 0x60, 1, &ops, &d), -1);
    assert_int_equal(pio_register(t, 0xfff0, 0x20, &ops, &d), -1); /* past 0xFFFF */
    assert_int_equal(pio_register(t, 0x70, 0, &ops, &d), -1);
    assert_int_equal(pio_register(t, 0xfff0, 0x10, &ops, &d), 0); /* up to 0xFFFF is fine */
    pio_table_free(t);
}

static void straddling_access_splits(void **state)
{
    (void)state;
    struct pio_table *t = pio_table_new();
    struct dev a = {0}, b = {0};
    assert_int_equal(pio_register(t, 0x100, 2, &ops, &a), 0);
    assert_int_equal(pio_register(t, 0x102, 2, &ops, &b), 0);
    a.regs[1] = 0x11;
    b.regs[0] = 0x22;
    /* 16-bit read at 0x101: one byte from each device */
    assert_int_equal(pio_in(t, 0x101, 2), 0x2211);
    assert_int_equal(a.last_size, 1);
    assert_int_equal(b.last_size, 1);
    /* 32-bit read at 0x102: two bytes of b, two unassigned */
    b.regs[1] = 0x33;
    assert_int_equal(pio_in(t, 0x102, 4), 0xffff3322u);
    pio_out(t, 0x101, 2, 0xbbaa);
    assert_int_equal(a.regs[1], 0xaa);
    assert_int_equal(b.regs[0], 0xbb);
    pio_table_free(t);
}

static void read_results_are_masked(void **state)
{
    (void)state;
    struct pio_table *t = pio_table_new();
    struct dev d;
    memset(&d, 0xee, sizeof d);
    d.reads = 0;
    assert_int_equal(pio_register(t, 0x200, 4, &ops, &d), 0);
    assert_int_equal(pio_in(t, 0x200, 1), 0xee); /* a device can't leak upper bits */
    pio_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dispatch_with_offsets),
        cmocka_unit_test(unassigned_ports),
        cmocka_unit_test(overlaps_and_bounds_refused),
        cmocka_unit_test(straddling_access_splits),
        cmocka_unit_test(read_results_are_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
