/* 8042 keyboard controller with its PS/2 keyboard and mouse: status bits,
 * command byte, controller commands, the output port (A20, reset), IRQ 1
 * and 12, set 2 -> set 1 translation, keyboard and mouse commands, input
 * injection; values from the IBM PS/2 Hardware Interface Technical
 * Reference. Also the probe sequence of Linux's i8042 driver. */
#include "device_test_harness.h"
#include "devices/i8042.h"

#define DATA 0x60
#define CMD 0x64
#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_AUX 0x20

static device *find_i8042(struct vm *vm)
{
    for (int i = 0; i < vm->n_devices; i++)
        if (strcmp(vm->devices[i]->desc->name, "i8042") == 0)
            return vm->devices[i];
    fail_msg("no i8042 device");
    return NULL;
}

/* Reads one byte that must be waiting; checks it came from the mouse or not. */
static uint8_t rd(struct vm *vm, bool aux)
{
    uint8_t st = inb(vm, CMD);
    assert_true(st & ST_OBF);
    assert_int_equal(!!(st & ST_AUX), aux);
    return inb(vm, DATA);
}

static void expect(struct vm *vm, bool aux, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rd(vm, aux), b[i]);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
}
#define EXPECT(vm, aux, ...)                                                  \
    do {                                                                      \
        const uint8_t e_[] = { __VA_ARGS__ };                                 \
        expect(vm, aux, e_, sizeof e_);                                       \
    } while (0)

static void ctl(struct vm *vm, uint8_t c) { outb(vm, CMD, c); }
static void ctl2(struct vm *vm, uint8_t c, uint8_t d) { outb(vm, CMD, c); outb(vm, DATA, d); }
static void kbd(struct vm *vm, uint8_t b) { outb(vm, DATA, b); }
static void aux(struct vm *vm, uint8_t b) { ctl2(vm, 0xD4, b); }
static uint8_t read_cb(struct vm *vm) { ctl(vm, 0x20); return rd(vm, false); }

static void test_status_and_self_test(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(inb(vm, CMD), 0x10);         /* empty, power-on (SYS 0), not inhibited */
    ctl(vm, 0xAA);
    assert_int_equal(inb(vm, CMD), 0x10 | ST_CMD | ST_SYS | ST_OBF);
    assert_int_equal(inb(vm, DATA), 0x55);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
    ctl(vm, 0xAB);
    EXPECT(vm, false, 0x00);                      /* keyboard interface test */
    ctl(vm, 0xA9);
    EXPECT(vm, false, 0x00);                      /* aux interface test */
    ctl(vm, 0xA4);
    EXPECT(vm, false, 0xF1);                      /* no password */
    kbd(vm, 0xF4);
    assert_int_equal(inb(vm, CMD) & ST_CMD, 0);   /* last write went to 0x60 */
    EXPECT(vm, false, 0xFA);
    vm_destroy(vm);
}

static void test_command_byte(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(read_cb(vm), 0x03);
    ctl2(vm, 0x60, 0x65);
    assert_int_equal(read_cb(vm), 0x65);
    assert_true(inb(vm, CMD) & ST_SYS);           /* system flag follows bit 2 */
    ctl2(vm, 0x60, 0x61);
    assert_false(inb(vm, CMD) & ST_SYS);
    ctl(vm, 0xA8);
    assert_int_equal(read_cb(vm), 0x41);
    ctl(vm, 0xA7);
    assert_int_equal(read_cb(vm), 0x61);
    ctl(vm, 0xAD);
    assert_int_equal(read_cb(vm), 0x71);
    ctl(vm, 0xAE);
    assert_int_equal(read_cb(vm), 0x61);
    /* The rest of the controller RAM: 0x21-0x3F / 0x61-0x7F. */
    ctl2(vm, 0x65, 0x9C);
    ctl(vm, 0x25);
    EXPECT(vm, false, 0x9C);
    vm_destroy(vm);
}

static void test_output_port_a20_and_reset(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    ctl(vm, 0xD0);
    assert_int_equal(rd(vm, false) & 0x03, 0x03); /* not in reset, A20 on */
    ctl2(vm, 0xD1, 0xDD);                         /* A20 off */
    assert_false(vm_get_a20(vm));
    ctl(vm, 0xD0);
    assert_int_equal(rd(vm, false) & 0x03, 0x01);
    ctl2(vm, 0xD1, 0xDF);
    assert_true(vm_get_a20(vm));
    ctl(vm, 0xFF);                                /* pulse nothing */
    assert_false(vm->req_reset);
    ctl2(vm, 0xD1, 0xDE);                         /* bit 0 low: reset */
    assert_true(vm->req_reset);
    vm_destroy(vm);

    vm = dt_vm_new();
    ctl(vm, 0xFE);                                /* pulse the reset line */
    assert_true(vm->req_reset);
    vm_destroy(vm);
}

static void test_write_buffers_and_irqs(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    ctl2(vm, 0x60, 0x00);                         /* no interrupts */
    ctl2(vm, 0xD2, 0x12);
    assert_int_equal(dt_gsi(vm, 1), 0);
    EXPECT(vm, false, 0x12);
    ctl2(vm, 0x60, 0x03);
    ctl2(vm, 0xD2, 0x34);                         /* as if from the keyboard: IRQ 1 */
    assert_int_equal(dt_gsi(vm, 1), 1);
    assert_int_equal(dt_gsi(vm, 12), 0);
    EXPECT(vm, false, 0x34);
    ctl2(vm, 0xD3, 0x56);                         /* as if from the mouse: IRQ 12 */
    assert_int_equal(dt_gsi(vm, 1), 0);
    assert_int_equal(dt_gsi(vm, 12), 1);
    assert_int_equal(inb(vm, DATA), 0x56);
    assert_int_equal(dt_gsi(vm, 12), 0);
    /* Linux's MUX detection loops F0, 56, A4 through 0xD3: a plain 8042
     * gives them back unchanged. */
    ctl2(vm, 0xD3, 0xF0);
    EXPECT(vm, true, 0xF0);
    ctl2(vm, 0xD3, 0x56);
    EXPECT(vm, true, 0x56);
    ctl2(vm, 0xD3, 0xA4);
    EXPECT(vm, true, 0xA4);
    vm_destroy(vm);
}

static void test_keyboard_commands(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    kbd(vm, 0xFF);
    EXPECT(vm, false, 0xFA, 0xAA);
    kbd(vm, 0xF2);
    EXPECT(vm, false, 0xFA, 0xAB, 0x83);
    kbd(vm, 0xEE);
    EXPECT(vm, false, 0xEE);
    kbd(vm, 0xED);
    EXPECT(vm, false, 0xFA);
    kbd(vm, 0x07);
    EXPECT(vm, false, 0xFA);
    kbd(vm, 0xF3);
    kbd(vm, 0x20);
    EXPECT(vm, false, 0xFA, 0xFA);
    kbd(vm, 0xF0);
    kbd(vm, 0x00);
    EXPECT(vm, false, 0xFA, 0xFA, 0x02);
    kbd(vm, 0xF0);
    kbd(vm, 0x05);                                /* no such set */
    EXPECT(vm, false, 0xFA, 0xFE);
    kbd(vm, 0x42);                                /* not a command */
    EXPECT(vm, false, 0xFE);
    kbd(vm, 0xFE);                                /* resend the last byte */
    EXPECT(vm, false, 0xFE);
    kbd(vm, 0xF5);
    EXPECT(vm, false, 0xFA);
    kbd(vm, 0xF6);
    EXPECT(vm, false, 0xFA);
    /* Translation applies to all keyboard bytes: the ID's 0x83 reads 0x41. */
    ctl2(vm, 0x60, 0x43);
    kbd(vm, 0xF2);
    EXPECT(vm, false, 0xFA, 0xAB, 0x41);
    vm_destroy(vm);
}

static void test_irq1_per_byte(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    kbd(vm, 0xF2);                                /* three bytes queue up */
    assert_int_equal(dt_gsi(vm, 1), 1);
    assert_int_equal(inb(vm, DATA), 0xFA);
    assert_int_equal(dt_gsi(vm, 1), 1);           /* refilled at once: the line rose again */
    assert_int_equal(inb(vm, DATA), 0xAB);
    assert_int_equal(inb(vm, DATA), 0x83);
    assert_int_equal(dt_gsi(vm, 1), 0);
    /* Through the PICs: unmask IRQ 1, see the vector. */
    outb(vm, 0x20, 0x11); outb(vm, 0x21, 0x08); outb(vm, 0x21, 0x04); outb(vm, 0x21, 0x01);
    outb(vm, 0xA0, 0x11); outb(vm, 0xA1, 0x70); outb(vm, 0xA1, 0x02); outb(vm, 0xA1, 0x01);
    outb(vm, 0x21, 0xF9);                          /* IRQ 1 and the cascade */
    outb(vm, 0xA1, 0xEF);                          /* IRQ 12 */
    kbd(vm, 0xEE);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x09);
    assert_int_equal(inb(vm, DATA), 0xEE);
    outb(vm, 0x20, 0x20);
    /* Several bytes: each one is an interrupt of its own (the line falls
     * on the read and rises with the next byte, a new edge for the PIC),
     * also while the handler runs with IRQ 1 masked, as Linux's does. */
    kbd(vm, 0xF2);
    for (int i = 0; i < 3; i++) {
        static const uint8_t id[3] = { 0xFA, 0xAB, 0x83 };
        assert_int_equal(dt_intr(vm), 1);
        assert_int_equal(dt_inta(vm), 0x09);
        outb(vm, 0x21, 0xFB);                      /* mask IRQ 1 */
        outb(vm, 0x20, 0x20);                      /* EOI before the handler */
        assert_int_equal(inb(vm, DATA), id[i]);
        outb(vm, 0x21, 0xF9);                      /* unmask */
    }
    assert_int_equal(dt_intr(vm), 0);
    aux(vm, 0xF2);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x74);
    vm_destroy(vm);
}

static void test_key_injection_and_translation(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    device *dev = find_i8042(vm);
    const uint8_t a_down[] = { 0x1C }, a_up[] = { 0xF0, 0x1C };
    const uint8_t up_down[] = { 0xE0, 0x75 }, up_up[] = { 0xE0, 0xF0, 0x75 };
    vm_lock(vm);
    i8042_put_keys(dev, a_down, 1);
    i8042_put_keys(dev, a_up, 2);
    vm_unlock(vm);
    EXPECT(vm, false, 0x1C, 0xF0, 0x1C);          /* set 2, untranslated */
    ctl2(vm, 0x60, 0x43);                         /* translate */
    vm_lock(vm);
    i8042_put_keys(dev, a_down, 1);
    i8042_put_keys(dev, a_up, 2);
    i8042_put_keys(dev, up_down, 2);
    i8042_put_keys(dev, up_up, 3);
    vm_unlock(vm);
    EXPECT(vm, false, 0x1E, 0x9E, 0xE0, 0x48, 0xE0, 0xC8);
    /* The keyboard itself in set 1, no translation. */
    ctl2(vm, 0x60, 0x03);
    kbd(vm, 0xF0);
    kbd(vm, 0x01);
    EXPECT(vm, false, 0xFA, 0xFA);
    vm_lock(vm);
    i8042_put_keys(dev, a_down, 1);
    i8042_put_keys(dev, a_up, 2);
    vm_unlock(vm);
    EXPECT(vm, false, 0x1E, 0x9E);
    /* Scanning disabled (F5): keys are dropped. */
    kbd(vm, 0xF5);
    EXPECT(vm, false, 0xFA);
    vm_lock(vm);
    i8042_put_keys(dev, a_down, 1);
    vm_unlock(vm);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
    kbd(vm, 0xF4);
    EXPECT(vm, false, 0xFA);
    /* Interface disabled (0xAD): keys wait in the keyboard; the buffer
     * overruns with the overrun code at its end. */
    kbd(vm, 0xF0);
    kbd(vm, 0x02);
    EXPECT(vm, false, 0xFA, 0xFA);
    ctl(vm, 0xAD);
    vm_lock(vm);
    for (int i = 0; i < 100; i++)
        i8042_put_keys(dev, a_down, 1);
    vm_unlock(vm);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
    ctl(vm, 0xAE);
    int n = 0, last = -1;
    while (inb(vm, CMD) & ST_OBF) {
        last = inb(vm, DATA);
        n++;
    }
    assert_int_equal(n, 64);
    assert_int_equal(last, 0x00);
    vm_destroy(vm);
}

static void test_mouse_commands(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    aux(vm, 0xFF);
    EXPECT(vm, true, 0xFA, 0xAA, 0x00);
    aux(vm, 0xF2);
    EXPECT(vm, true, 0xFA, 0x00);
    aux(vm, 0xE9);                                /* defaults: 4 counts/mm, 100/s, stream, off */
    EXPECT(vm, true, 0xFA, 0x00, 0x02, 100);
    aux(vm, 0xE8);
    aux(vm, 0x03);
    aux(vm, 0xE7);
    aux(vm, 0xF0);
    aux(vm, 0xF4);
    EXPECT(vm, true, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA);
    aux(vm, 0xE9);
    EXPECT(vm, true, 0xFA, 0x70, 0x03, 100);      /* remote, enabled, 2:1 */
    aux(vm, 0xF6);
    aux(vm, 0xF5);
    EXPECT(vm, true, 0xFA, 0xFA);
    /* IntelliMouse: sample rates 200, 100, 80 make the ID 3; then 200,
     * 200, 80 make it 4 (Explorer). */
    static const uint8_t knock1[] = { 200, 100, 80 }, knock2[] = { 200, 200, 80 };
    for (int i = 0; i < 3; i++) {
        aux(vm, 0xF3);
        aux(vm, knock1[i]);
    }
    EXPECT(vm, true, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA);
    aux(vm, 0xF2);
    EXPECT(vm, true, 0xFA, 0x03);
    for (int i = 0; i < 3; i++) {
        aux(vm, 0xF3);
        aux(vm, knock2[i]);
    }
    EXPECT(vm, true, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA);
    aux(vm, 0xF2);
    EXPECT(vm, true, 0xFA, 0x04);
    /* Wrap mode echoes until EC. */
    aux(vm, 0xEE);
    aux(vm, 0x42);
    aux(vm, 0xEC);
    EXPECT(vm, true, 0xFA, 0x42, 0xFA);
    aux(vm, 0x00);                                /* not a command */
    EXPECT(vm, true, 0xFE);
    /* Aux port disabled: mouse bytes wait. */
    ctl(vm, 0xA7);
    aux(vm, 0xF2);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
    ctl(vm, 0xA8);
    EXPECT(vm, true, 0xFA, 0x04);
    vm_destroy(vm);
}

static void test_mouse_packets(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    device *dev = find_i8042(vm);
    vm_lock(vm);
    i8042_mouse_event(dev, 5, 5, 0, 0);           /* reporting off: nothing */
    vm_unlock(vm);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
    aux(vm, 0xF4);
    EXPECT(vm, true, 0xFA);
    vm_lock(vm);
    i8042_mouse_event(dev, 3, -2, 0, I8042_BUTTON_LEFT);
    vm_unlock(vm);
    EXPECT(vm, true, 0x08 | 0x20 | 0x01, 0x03, 0xFE);
    vm_lock(vm);
    i8042_mouse_event(dev, -300, 0, 0, I8042_BUTTON_LEFT);  /* split in two packets */
    vm_unlock(vm);
    EXPECT(vm, true, 0x19, 0x00, 0x00, 0x19, 0xD4, 0x00);
    vm_lock(vm);
    i8042_mouse_event(dev, 0, 0, 0, 0);           /* a button change alone reports */
    vm_unlock(vm);
    EXPECT(vm, true, 0x08, 0x00, 0x00);
    /* Wheel mouse: a fourth byte. */
    static const uint8_t knock1[] = { 200, 100, 80 };
    for (int i = 0; i < 3; i++) {
        aux(vm, 0xF3);
        aux(vm, knock1[i]);
    }
    EXPECT(vm, true, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA);
    vm_lock(vm);
    i8042_mouse_event(dev, 1, 1, -1, I8042_BUTTON_RIGHT | I8042_BUTTON_MIDDLE);
    vm_unlock(vm);
    EXPECT(vm, true, 0x0E, 0x01, 0x01, 0xFF);
    /* Remote mode: movement is read with EB. */
    aux(vm, 0xF0);
    EXPECT(vm, true, 0xFA);
    vm_lock(vm);
    i8042_mouse_event(dev, 7, 0, 0, 0);
    vm_unlock(vm);
    assert_int_equal(inb(vm, CMD) & ST_OBF, 0);
    aux(vm, 0xEB);
    EXPECT(vm, true, 0xFA, 0x08, 0x07, 0x00, 0x00);
    aux(vm, 0xFE);                                /* resend */
    EXPECT(vm, true, 0xFA, 0x08, 0x07, 0x00, 0x00);
    vm_destroy(vm);
}

/* The order of Linux's i8042 probe (drivers/input/serio/i8042.c):
 * flush, self-test, read the CTR, disable both ports, AUX loop test,
 * A7/A8 bit test, AUX IRQ test, then the keyboard's GETID. */
static void test_linux_probe(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    for (int i = 0; i < 16 && (inb(vm, CMD) & ST_OBF); i++)
        inb(vm, DATA);
    ctl(vm, 0xAA);
    EXPECT(vm, false, 0x55);
    uint8_t ctr = read_cb(vm);
    assert_int_equal(read_cb(vm), ctr);
    ctr = (uint8_t)((ctr | 0x30) & ~0x03);
    ctl2(vm, 0x60, ctr);
    ctl2(vm, 0xD3, 0x5A);
    assert_int_equal(dt_gsi(vm, 12), 0);          /* interrupts off */
    EXPECT(vm, true, 0x5A);
    ctl(vm, 0xA7);
    assert_true(read_cb(vm) & 0x20);
    ctl(vm, 0xA8);
    assert_false(read_cb(vm) & 0x20);
    ctl2(vm, 0x60, (uint8_t)((ctr & ~0x20) | 0x02));
    ctl2(vm, 0xD3, 0xA5);
    assert_int_equal(dt_gsi(vm, 12), 1);
    EXPECT(vm, true, 0xA5);
    ctl2(vm, 0x60, (uint8_t)((ctr & ~0x30) | 0x03));
    kbd(vm, 0xF2);
    EXPECT(vm, false, 0xFA, 0xAB, 0x83);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_self_test),
        cmocka_unit_test(test_command_byte),
        cmocka_unit_test(test_output_port_a20_and_reset),
        cmocka_unit_test(test_write_buffers_and_irqs),
        cmocka_unit_test(test_keyboard_commands),
        cmocka_unit_test(test_irq1_per_byte),
        cmocka_unit_test(test_key_injection_and_translation),
        cmocka_unit_test(test_mouse_commands),
        cmocka_unit_test(test_mouse_packets),
        cmocka_unit_test(test_linux_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
