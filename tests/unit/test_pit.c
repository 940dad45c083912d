/* 8254 PIT and port 0x61: counters read back against elapsed virtual time,
 * per the Intel 8254 datasheet's mode descriptions. */
#include "device_test_harness.h"

#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CW 0x43
#define PORT61 0x61
#define PIT_HZ 1193182u

static uint64_t ticks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * PIT_HZ / 1000000000u);
}

/* Value of a counter loaded with n, d ticks later, counting down modulo m. */
static unsigned down(unsigned n, uint64_t d, unsigned m)
{
    return (unsigned)((n + m - d % m) % m);
}

static uint16_t read_word(struct vm *vm, uint16_t port)
{
    uint8_t lo = inb(vm, port);
    return (uint16_t)(lo | inb(vm, port) << 8);
}

static void test_mode2_readback(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PIT_CW, 0x34);                        /* ch0, lo/hi, mode 2, binary */
    outb(vm, PIT_CH0, 1000 & 0xFF);
    outb(vm, PIT_CH0, 1000 >> 8);
    uint64_t t0 = ticks(dt_now(vm));
    assert_int_equal(read_word(vm, PIT_CH0), 1000);
    dt_advance(vm, 2500000);                       /* ~3 periods */
    uint64_t d = ticks(dt_now(vm)) - t0;
    assert_true(d >= 2000);
    outb(vm, PIT_CW, 0x00);                        /* counter latch, ch0 */
    uint16_t latched = read_word(vm, PIT_CH0);
    assert_int_equal(latched, 1000 - d % 1000);
    /* The counter counted on; a second latch sees the same paused clock. */
    outb(vm, PIT_CW, 0x00);
    assert_int_equal(read_word(vm, PIT_CH0), latched);
    /* Read-back: status of ch0 only (datasheet fig. 20). */
    outb(vm, PIT_CW, 0xE2);
    uint8_t status = inb(vm, PIT_CH0);
    assert_int_equal(status & 0x7F, 0x34);         /* null count 0, lo/hi, mode 2, binary */
    assert_int_equal(status >> 7, d % 1000 != 999);  /* OUT low only at count 1 */
    vm_destroy(vm);
}

static void test_latch_holds(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PIT_CW, 0x30);                        /* ch0, lo/hi, mode 0 */
    outb(vm, PIT_CH0, 0xFF);
    uint64_t t0 = ticks(dt_now(vm));
    outb(vm, PIT_CH0, 0xFF);
    dt_advance(vm, 100000);
    uint64_t d = ticks(dt_now(vm)) - t0;
    outb(vm, PIT_CW, 0x00);
    dt_advance(vm, 200000);                        /* counting goes on... */
    assert_int_equal(read_word(vm, PIT_CH0), down(0xFFFF, d, 65536));   /* ...the latch does not */
    /* Read-back with both count and status: status comes first. */
    outb(vm, PIT_CW, 0xC2);
    uint8_t status = inb(vm, PIT_CH0);
    assert_int_equal(status, 0x30);                /* OUT low (mode 0, counting) */
    uint64_t d2 = ticks(dt_now(vm)) - t0;
    assert_int_equal(read_word(vm, PIT_CH0), down(0xFFFF, d2, 65536));
    vm_destroy(vm);
}

static void test_bcd(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PIT_CW, 0x31);                        /* ch0, lo/hi, mode 0, BCD */
    outb(vm, PIT_CH0, 0x00);
    uint64_t t0 = ticks(dt_now(vm));
    outb(vm, PIT_CH0, 0x50);                       /* 5000 decimal */
    dt_advance(vm, 1000000);
    unsigned v = down(5000, ticks(dt_now(vm)) - t0, 10000);
    uint16_t bcd = (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
    outb(vm, PIT_CW, 0x00);
    assert_int_equal(read_word(vm, PIT_CH0), bcd);
    vm_destroy(vm);
}

/* SeaBIOS calibrates its TSC this way: ch2 mode 0, poll OUT2 in port 0x61. */
static void test_ch2_gate_and_out(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PORT61, 0x01);                        /* gate on, speaker off */
    outb(vm, PIT_CW, 0xB0);                        /* ch2, lo/hi, mode 0 */
    outb(vm, PIT_CH2, 100);
    outb(vm, PIT_CH2, 0);
    assert_int_equal(inb(vm, PORT61) & 0x2F, 0x01);   /* OUT2 low, gate bit reads back */
    dt_advance(vm, 120000);                        /* > 100 ticks (83.8 us) */
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x20);
    /* Gate low pauses mode 0: the count stays put. */
    outb(vm, PIT_CW, 0xB0);
    outb(vm, PIT_CH2, 0x00);
    outb(vm, PIT_CH2, 0x80);
    dt_advance(vm, 50000);
    outb(vm, PORT61, 0x00);
    outb(vm, PIT_CW, 0x80);
    uint16_t held = read_word(vm, PIT_CH2);
    dt_advance(vm, 100000);
    outb(vm, PIT_CW, 0x80);
    assert_int_equal(read_word(vm, PIT_CH2), held);
    assert_true(held < 0x8000);
    /* Mode 3 square wave: OUT2 high for the first half period. */
    outb(vm, PORT61, 0x03);
    outb(vm, PIT_CW, 0xB6);                        /* ch2, lo/hi, mode 3 */
    outb(vm, PIT_CH2, 0x00);
    outb(vm, PIT_CH2, 0x10);                       /* 4096 ticks */
    uint64_t t0 = ticks(dt_now(vm));
    dt_advance(vm, 2000000);
    uint64_t ph = (ticks(dt_now(vm)) - t0) % 4096;
    assert_int_equal((inb(vm, PORT61) >> 5) & 1, ph < 2048);
    vm_destroy(vm);
}

static void test_refresh_toggle(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    int flips = 0;
    uint8_t last = inb(vm, PORT61) & 0x10;
    for (int i = 0; i < 20; i++) {
        dt_advance(vm, 16000);
        uint8_t now = inb(vm, PORT61) & 0x10;
        assert_int_equal(now ? 1 : 0, (dt_now(vm) / 15085) & 1);
        flips += now != last;
        last = now;
    }
    assert_true(flips > 0);
    vm_destroy(vm);
}

static void test_irq0(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, 0x20, 0x11);                          /* PIC: vectors 0x08.. */
    outb(vm, 0x21, 0x08);
    outb(vm, 0x21, 0x04);
    outb(vm, 0x21, 0x01);
    outb(vm, 0x21, 0xFE);                          /* only IRQ0 */
    outb(vm, PIT_CW, 0x34);
    outb(vm, PIT_CH0, 0xA9);                       /* 1193: ~1 ms */
    outb(vm, PIT_CH0, 0x04);
    assert_int_equal(dt_intr(vm), 0);
    uint64_t t0 = ticks(dt_now(vm));
    dt_advance(vm, 500000);
    /* The first edge comes after a full period (unless the host overslept). */
    assert_int_equal(dt_intr(vm), ticks(dt_now(vm)) - t0 >= 1193);
    dt_advance(vm, 1000000);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x08);
    outb(vm, 0x20, 0x20);
    dt_advance(vm, 1500000);
    assert_int_equal(dt_intr(vm), 1);              /* periodic */
    /* A control word stops counter 0: no more edges. */
    assert_int_equal(dt_inta(vm), 0x08);
    outb(vm, 0x20, 0x20);
    outb(vm, PIT_CW, 0x34);
    dt_advance(vm, 3000000);
    assert_int_equal(dt_intr(vm), 0);
    vm_destroy(vm);
}

/* Mode 2: a new count written while counting loads at the end of the
 * current period (datasheet "Mode 2"); null count shows it is pending. */
static void test_mode2_reload_at_period_end(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PIT_CW, 0x34);
    outb(vm, PIT_CH0, 0x00);
    outb(vm, PIT_CH0, 0x10);                       /* 4096 ticks: 3.4 ms */
    uint64_t t0 = ticks(dt_now(vm));
    dt_advance(vm, 300000);
    uint64_t d = ticks(dt_now(vm)) - t0;
    if (d >= 4000) {
        vm_destroy(vm);
        skip();                                    /* the host overslept a whole period */
    }
    outb(vm, PIT_CH0, 100);
    outb(vm, PIT_CH0, 0);
    outb(vm, PIT_CW, 0xE2);
    assert_int_equal(inb(vm, PIT_CH0) & 0x40, 0x40);   /* null count: not loaded yet */
    outb(vm, PIT_CW, 0x00);
    assert_int_equal(read_word(vm, PIT_CH0), 4096 - d);   /* old count still running */
    dt_advance(vm, 4000000);
    d = ticks(dt_now(vm)) - t0;
    assert_true(d > 4096);
    outb(vm, PIT_CW, 0x00);
    assert_int_equal(read_word(vm, PIT_CH0), 100 - (d - 4096) % 100);
    outb(vm, PIT_CW, 0xE2);
    assert_int_equal(inb(vm, PIT_CH0) & 0x40, 0);
    vm_destroy(vm);
}

/* Mode 1 (retriggerable one-shot) and mode 5 (hardware strobe) on
 * counter 2, triggered by the gate bit of port 0x61. */
static void test_gate_triggered_modes(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PORT61, 0x00);
    outb(vm, PIT_CW, 0xB2);                        /* ch2, lo/hi, mode 1 */
    outb(vm, PIT_CH2, 0x00);
    outb(vm, PIT_CH2, 0x01);                       /* 256 ticks */
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x20);   /* OUT high until triggered */
    dt_advance(vm, 100000);
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x20);
    outb(vm, PORT61, 0x01);                        /* trigger */
    uint64_t t0 = ticks(dt_now(vm));
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x00);   /* one-shot pulse starts */
    dt_advance(vm, 100000);
    uint64_t d = ticks(dt_now(vm)) - t0;
    assert_int_equal((inb(vm, PORT61) >> 5) & 1, d >= 256);
    dt_advance(vm, 200000);
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x20);   /* terminal count reached */
    outb(vm, PORT61, 0x00);
    outb(vm, PORT61, 0x01);                        /* retrigger */
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x00);
    outb(vm, PIT_CW, 0x80);
    assert_int_equal(read_word(vm, PIT_CH2), 256);

    outb(vm, PIT_CW, 0xBA);                        /* ch2, lo/hi, mode 5 */
    outb(vm, PIT_CH2, 0x10);
    outb(vm, PIT_CH2, 0x00);                       /* 16 ticks */
    assert_int_equal(inb(vm, PORT61) & 0x20, 0x20);
    dt_advance(vm, 50000);
    outb(vm, PIT_CW, 0x80);
    assert_int_equal(read_word(vm, PIT_CH2), 16);  /* waits for a gate edge */
    outb(vm, PORT61, 0x00);
    outb(vm, PORT61, 0x01);
    t0 = ticks(dt_now(vm));
    dt_advance(vm, 100000);
    d = ticks(dt_now(vm)) - t0;
    outb(vm, PIT_CW, 0x80);
    assert_int_equal(read_word(vm, PIT_CH2), (uint16_t)(16 - d));   /* wrapped past zero */
    assert_int_equal((inb(vm, PORT61) >> 5) & 1, d != 16);
    vm_destroy(vm);
}

/* Mode 4: OUT stays high and strobes low for one clock at terminal count;
 * counter 0 then pulses IRQ0 once. */
static void test_mode4_strobe(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    outb(vm, PIT_CW, 0x38);                        /* ch0, lo/hi, mode 4 */
    outb(vm, PIT_CH0, 0x00);
    outb(vm, PIT_CH0, 0x02);                       /* 512 ticks */
    outb(vm, PIT_CW, 0xE2);
    assert_int_equal(inb(vm, PIT_CH0), 0x80 | 0x38);   /* OUT high, counting */
    dt_advance(vm, 1000000);
    assert_int_equal(inb(vm, 0x20) & 0x01, 0x01);  /* PIC IRR: IRQ0 edge seen */
    outb(vm, 0x20, 0x11);                          /* re-init clears the PIC */
    outb(vm, 0x21, 0x08);
    outb(vm, 0x21, 0x04);
    outb(vm, 0x21, 0x01);
    dt_advance(vm, 1000000);
    assert_int_equal(inb(vm, 0x20) & 0x01, 0x00);  /* only once */
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode2_readback),
        cmocka_unit_test(test_latch_holds),
        cmocka_unit_test(test_bcd),
        cmocka_unit_test(test_ch2_gate_and_out),
        cmocka_unit_test(test_refresh_toggle),
        cmocka_unit_test(test_irq0),
        cmocka_unit_test(test_mode2_reload_at_period_end),
        cmocka_unit_test(test_gate_triggered_modes),
        cmocka_unit_test(test_mode4_strobe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
