/* MC146818 RTC/CMOS: registers and interrupts as in the MC146818A/DS12887
 * datasheets, memory-size bytes as SeaBIOS reads them. */
#include "device_test_harness.h"

#define RTC_INDEX 0x70
#define RTC_DATA 0x71
#define RTC_IRQ 8
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D

static uint8_t cmos_read(struct vm *vm, uint8_t idx)
{
    outb(vm, RTC_INDEX, idx);
    return inb(vm, RTC_DATA);
}

static void cmos_write(struct vm *vm, uint8_t idx, uint8_t val)
{
    outb(vm, RTC_INDEX, idx);
    outb(vm, RTC_DATA, val);
}

static int bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 15);
}

static void test_memory_bytes(void **st)
{
    (void)st;
    struct dt_opts o = { .ram_size = 256u << 20 };
    struct vm *vm = dt_vm_new_opts(&o);
    assert_int_equal(cmos_read(vm, 0x15) | cmos_read(vm, 0x16) << 8, 640);
    /* 255 MiB above 1 MiB does not fit in 16 bits of KiB: capped. */
    assert_int_equal(cmos_read(vm, 0x17) | cmos_read(vm, 0x18) << 8, 0xFFFF);
    assert_int_equal(cmos_read(vm, 0x30) | cmos_read(vm, 0x31) << 8, 0xFFFF);
    assert_int_equal(cmos_read(vm, 0x34) | cmos_read(vm, 0x35) << 8, (256 - 16) * 16);
    assert_int_equal(cmos_read(vm, 0x5B) | cmos_read(vm, 0x5C) << 8 | cmos_read(vm, 0x5D) << 16, 0);
    assert_int_equal(cmos_read(vm, 0x5F), 0);      /* one CPU */
    assert_int_equal(cmos_read(vm, 0x10), 0);      /* no floppy */
    assert_int_equal(cmos_read(vm, 0x12), 0);      /* no hard disk */
    assert_int_equal(cmos_read(vm, 0x3D), 0x12);   /* boot: disk, then floppy */
    assert_int_equal(cmos_read(vm, 0x38) & 0xF0, 0x30);   /* then CD-ROM */
    unsigned sum = 0;
    for (uint8_t i = 0x10; i <= 0x2D; i++)
        sum += cmos_read(vm, i);
    assert_int_equal(cmos_read(vm, 0x2E) << 8 | cmos_read(vm, 0x2F), sum);
    vm_destroy(vm);

    o.ram_size = 8u << 20;
    vm = dt_vm_new_opts(&o);
    assert_int_equal(cmos_read(vm, 0x17) | cmos_read(vm, 0x18) << 8, 7 * 1024);
    assert_int_equal(cmos_read(vm, 0x34) | cmos_read(vm, 0x35) << 8, 0);
    vm_destroy(vm);

    o.ram_size = 0x110000000ull;                   /* 3.5 GiB below 4 GiB, 0.75 GiB above */
    vm = dt_vm_new_opts(&o);
    assert_int_equal(cmos_read(vm, 0x34) | cmos_read(vm, 0x35) << 8, (0xE0000000u - (16u << 20)) >> 16);
    assert_int_equal(cmos_read(vm, 0x5B) | cmos_read(vm, 0x5C) << 8 | cmos_read(vm, 0x5D) << 16,
                     0x30000000u >> 16);
    vm_destroy(vm);
}

static void test_registers_and_time(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(cmos_read(vm, REG_A), 0x26);
    assert_int_equal(cmos_read(vm, REG_B), 0x02);  /* 24 h, BCD */
    assert_int_equal(cmos_read(vm, REG_D), 0x80);  /* valid RAM and time */
    assert_int_equal(cmos_read(vm, REG_C), 0x00);
    time_t host = time(NULL);
    struct tm tm;
    gmtime_r(&host, &tm);
    int sod = bcd(cmos_read(vm, 4)) * 3600 + bcd(cmos_read(vm, 2)) * 60 + bcd(cmos_read(vm, 0));
    int want = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    int diff = (sod - want + 86400) % 86400;
    assert_true(diff <= 2 || diff >= 86400 - 2);
    int year = bcd(cmos_read(vm, 0x32)) * 100 + bcd(cmos_read(vm, 9));
    assert_true(year >= 2024 && year <= tm.tm_year + 1900 + 1);
    assert_in_range(bcd(cmos_read(vm, 8)), 1, 12);
    assert_in_range(bcd(cmos_read(vm, 6)), 1, 7);
    /* The NMI-disable bit of port 0x70 does not change the index. */
    outb(vm, RTC_INDEX, 0x80 | REG_D);
    assert_int_equal(inb(vm, RTC_DATA), 0x80);
    vm_destroy(vm);
}

static void test_set_binary_12h(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    cmos_write(vm, REG_B, 0x80 | 0x04);            /* SET, binary, 12 h */
    cmos_write(vm, 4, 0x80 | 11);                  /* 11 PM */
    cmos_write(vm, 2, 59);
    cmos_write(vm, 0, 59);
    cmos_write(vm, 7, 31);                         /* 31 December 2099, a Thursday */
    cmos_write(vm, 8, 12);
    cmos_write(vm, 9, 99);
    cmos_write(vm, 0x32, 20);
    cmos_write(vm, 6, 5);
    dt_advance(vm, 1500000000);                    /* frozen while SET */
    assert_int_equal(cmos_read(vm, 0), 59);
    cmos_write(vm, REG_B, 0x04);                   /* run, binary, 12 h */
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 1000000000);
    uint64_t n = (dt_now(vm) - t0) / 1000000000u;  /* updates since SET cleared */
    assert_in_range(n, 1, 60);
    /* Midnight, new century: the carries ran through every field. */
    assert_int_equal(cmos_read(vm, 4), 12);        /* 12 AM */
    assert_int_equal(cmos_read(vm, 2), 0);
    assert_int_equal(cmos_read(vm, 0), n - 1);
    assert_int_equal(cmos_read(vm, 7), 1);
    assert_int_equal(cmos_read(vm, 8), 1);
    assert_int_equal(cmos_read(vm, 9), 0);
    assert_int_equal(cmos_read(vm, 0x32), 21);
    assert_int_equal(cmos_read(vm, 6), 6);         /* Friday */
    cmos_write(vm, REG_B, 0x02);                   /* BCD, 24 h */
    assert_int_equal(cmos_read(vm, 4), 0x00);
    assert_int_equal(cmos_read(vm, 0x32), 0x21);
    vm_destroy(vm);
}

static void test_update_interrupt_and_uip(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    cmos_write(vm, REG_B, 0x82);                   /* SET */
    cmos_write(vm, REG_B, 0x12);                   /* run with UIE */
    uint64_t t0 = dt_now(vm);                      /* a second starts now */
    assert_int_equal(cmos_read(vm, REG_A) & 0x80, 0);
    assert_int_equal(dt_gsi(vm, RTC_IRQ), 0);
    dt_advance(vm, 999900000);
    uint64_t in = (dt_now(vm) - t0) % 1000000000u;
    /* UIP is set during the 244 us before the update. */
    assert_int_equal((cmos_read(vm, REG_A) & 0x80) != 0, in >= 1000000000u - 244000u);
    dt_advance(vm, 200000);
    assert_int_equal(dt_gsi(vm, RTC_IRQ), 1);
    /* IRQF | UF; PF runs at the 1024 Hz default rate even without PIE. */
    assert_int_equal(cmos_read(vm, REG_C), 0xD0);
    assert_int_equal(dt_gsi(vm, RTC_IRQ), 0);      /* reading C clears it */
    assert_int_equal(cmos_read(vm, REG_C), 0x00);
    /* SET clears UIE (MC146818A register B). */
    cmos_write(vm, REG_B, 0x92);
    assert_int_equal(cmos_read(vm, REG_B), 0x82);
    vm_destroy(vm);
}

static void test_alarm(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    cmos_write(vm, REG_B, 0x82);                   /* SET, BCD, 24 h */
    cmos_write(vm, 4, 0x10);
    cmos_write(vm, 2, 0x00);
    cmos_write(vm, 0, 0x00);
    cmos_write(vm, 1, 0x02);                       /* alarm at xx:xx:02 */
    cmos_write(vm, 3, 0xC0);                       /* any minute */
    cmos_write(vm, 5, 0xFF);                       /* any hour */
    cmos_write(vm, REG_B, 0x22);                   /* run with AIE */
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 1100000000);
    if (dt_now(vm) - t0 < 2000000000u) {           /* unless the host overslept */
        assert_int_equal(dt_gsi(vm, RTC_IRQ), 0);  /* 10:00:01: no match */
        assert_int_equal(cmos_read(vm, REG_C), 0x50);   /* PF and UF set, not enabled */
    }
    dt_advance(vm, 1000000000);
    assert_int_equal(dt_gsi(vm, RTC_IRQ), 1);
    assert_int_equal(cmos_read(vm, REG_C) & 0xB0, 0xB0);   /* IRQF | AF | UF */
    cmos_write(vm, REG_C, 0xFF);                   /* read-only */
    assert_int_equal(cmos_read(vm, REG_C) & 0x20, 0);
    /* Exact hour and minute, any second: matches every update in 10:00. */
    cmos_write(vm, 1, 0xC0);
    cmos_write(vm, 3, 0x00);
    cmos_write(vm, 5, 0x10);
    dt_advance(vm, 1000000000);
    assert_int_equal(cmos_read(vm, REG_C) & 0x20, 0x20);
    cmos_write(vm, 3, 0x01);                       /* 10:01: not yet */
    dt_advance(vm, 1000000000);
    assert_int_equal(cmos_read(vm, REG_C) & 0x20, 0);
    vm_destroy(vm);
}

static void test_periodic(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    cmos_write(vm, REG_A, 0x2F);                   /* 500 ms */
    cmos_write(vm, REG_B, 0x42);                   /* PIE */
    cmos_read(vm, REG_C);
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 1000000);
    /* No 500 ms boundary unless t0 sat just before one. */
    assert_int_equal(dt_gsi(vm, RTC_IRQ), t0 / 500000000u != dt_now(vm) / 500000000u);
    cmos_read(vm, REG_C);
    cmos_write(vm, REG_A, 0x23);                   /* 122.07 us */
    dt_advance(vm, 300000);
    assert_int_equal(dt_gsi(vm, RTC_IRQ), 1);
    assert_int_equal(cmos_read(vm, REG_C) & 0xC0, 0xC0);   /* IRQF | PF */
    /* PF without PIE is set but raises nothing. */
    cmos_write(vm, REG_B, 0x02);
    dt_advance(vm, 300000);
    assert_int_equal(dt_gsi(vm, RTC_IRQ), 0);
    assert_int_equal(cmos_read(vm, REG_C) & 0xC0, 0x40);   /* PF, no IRQF */
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_bytes),
        cmocka_unit_test(test_registers_and_time),
        cmocka_unit_test(test_set_binary_12h),
        cmocka_unit_test(test_update_interrupt_and_uip),
        cmocka_unit_test(test_alarm),
        cmocka_unit_test(test_periodic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
