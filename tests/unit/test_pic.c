/* 8259A PIC pair: programmed and driven as a PC BIOS/OS would, results
 * checked against the Intel 8259A datasheet. */
#include "device_test_harness.h"

#define M_CMD 0x20
#define M_DATA 0x21
#define S_CMD 0xA0
#define S_DATA 0xA1
#define ELCR1 0x4D0
#define ELCR2 0x4D1
#define OCW3_READ_IRR 0x0A
#define OCW3_READ_ISR 0x0B
#define OCW3_POLL 0x0C
#define EOI 0x20
#define SPECIFIC_EOI 0x60

/* ICW1-4 in the PC/AT layout: master at vector 0x08, slave at 0x70. */
static void pic_init(struct vm *vm, uint8_t icw4)
{
    outb(vm, M_CMD, 0x11);   /* ICW1: edge, cascade, ICW4 needed */
    outb(vm, M_DATA, 0x08);  /* ICW2 */
    outb(vm, M_DATA, 0x04);  /* ICW3: slave on IR2 */
    outb(vm, M_DATA, icw4);  /* ICW4: 8086 mode */
    outb(vm, S_CMD, 0x11);
    outb(vm, S_DATA, 0x70);
    outb(vm, S_DATA, 0x02);  /* slave ID 2 */
    outb(vm, S_DATA, icw4);
    outb(vm, M_DATA, 0x00);  /* OCW1: unmask all */
    outb(vm, S_DATA, 0x00);
}

static void pulse(struct vm *vm, unsigned gsi)
{
    vm_set_irq(vm, gsi, 1);
    vm_set_irq(vm, gsi, 0);
}

static uint8_t read_isr(struct vm *vm, uint16_t cmd)
{
    outb(vm, cmd, OCW3_READ_ISR);
    return inb(vm, cmd);
}

static uint8_t read_irr(struct vm *vm, uint16_t cmd)
{
    outb(vm, cmd, OCW3_READ_IRR);
    return inb(vm, cmd);
}

static void test_init_and_ack(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x01);
    assert_int_equal(inb(vm, M_DATA), 0x00);
    assert_int_equal(dt_intr(vm), 0);
    pulse(vm, 1);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(read_irr(vm, M_CMD), 0x02);
    assert_int_equal(dt_inta(vm), 0x09);
    assert_int_equal(dt_intr(vm), 0);
    assert_int_equal(read_isr(vm, M_CMD), 0x02);
    assert_int_equal(read_irr(vm, M_CMD), 0x00);   /* edge: IRR cleared by INTA */
    outb(vm, M_CMD, EOI);
    assert_int_equal(read_isr(vm, M_CMD), 0x00);
    vm_destroy(vm);
}

static void test_priority_and_nesting(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x01);
    pulse(vm, 5);
    pulse(vm, 3);
    assert_int_equal(dt_inta(vm), 0x0B);           /* IR3 beats IR5 */
    /* IR5 is lower than the in-service IR3: no request. */
    assert_int_equal(dt_intr(vm), 0);
    pulse(vm, 1);                                  /* higher: nests */
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x09);
    assert_int_equal(read_isr(vm, M_CMD), 0x0A);
    outb(vm, M_CMD, EOI);                          /* clears IR1, the highest */
    assert_int_equal(read_isr(vm, M_CMD), 0x08);
    assert_int_equal(dt_intr(vm), 0);
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_intr(vm), 1);              /* IR5 now */
    assert_int_equal(dt_inta(vm), 0x0D);
    outb(vm, M_CMD, SPECIFIC_EOI | 5);
    assert_int_equal(read_isr(vm, M_CMD), 0x00);
    vm_destroy(vm);
}

static void test_cascade(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x01);
    pulse(vm, 8);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x70);
    assert_int_equal(read_isr(vm, M_CMD), 0x04);   /* cascade IR2 in service */
    assert_int_equal(read_isr(vm, S_CMD), 0x01);
    pulse(vm, 12);                                 /* lower on the slave: waits */
    assert_int_equal(dt_intr(vm), 0);
    outb(vm, S_CMD, EOI);
    assert_int_equal(dt_intr(vm), 0);              /* master IR2 still in service */
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x74);
    outb(vm, S_CMD, EOI);
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_intr(vm), 0);
    vm_destroy(vm);
}

static void test_mask_and_spurious(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x01);
    outb(vm, M_DATA, 0x10);                        /* mask IR4 */
    assert_int_equal(inb(vm, M_DATA), 0x10);
    pulse(vm, 4);
    assert_int_equal(dt_intr(vm), 0);
    assert_int_equal(read_irr(vm, M_CMD), 0x10);   /* requested, masked */
    /* INTA with nothing pending: spurious IR7, ISR untouched. */
    assert_int_equal(dt_inta(vm), 0x0F);
    assert_int_equal(read_isr(vm, M_CMD), 0x00);
    outb(vm, M_DATA, 0x00);
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x0C);
    outb(vm, M_CMD, EOI);
    /* Slave fully masked: nothing reaches master IR2 either. */
    outb(vm, S_DATA, 0xFF);
    assert_int_equal(dt_inta(vm), 0x0F);
    vm_destroy(vm);
}

static void test_level_elcr(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x01);
    outb(vm, ELCR1, 0xFF);
    assert_int_equal(inb(vm, ELCR1), 0xF8);        /* IRQ0-2 cannot be level */
    outb(vm, ELCR2, 0xFF);
    assert_int_equal(inb(vm, ELCR2), 0xDE);        /* nor IRQ8, IRQ13 */
    outb(vm, ELCR1, 0x00);
    outb(vm, ELCR2, 0x08);                         /* IRQ11 level */
    vm_set_irq(vm, 11, 1);
    assert_int_equal(dt_inta(vm), 0x73);
    outb(vm, S_CMD, EOI);
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_intr(vm), 1);              /* still asserted: again */
    assert_int_equal(dt_inta(vm), 0x73);
    vm_set_irq(vm, 11, 0);
    outb(vm, S_CMD, EOI);
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_intr(vm), 0);
    assert_int_equal(read_irr(vm, S_CMD), 0x00);
    /* Edge IRQ10 held high fires only once. */
    vm_set_irq(vm, 10, 1);
    assert_int_equal(dt_inta(vm), 0x72);
    outb(vm, S_CMD, EOI);
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_intr(vm), 0);
    vm_set_irq(vm, 10, 0);
    vm_destroy(vm);
}

static void test_auto_eoi_and_rotation(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x03);                            /* ICW4 AEOI */
    pulse(vm, 6);
    assert_int_equal(dt_inta(vm), 0x0E);
    assert_int_equal(read_isr(vm, M_CMD), 0x00);
    pic_init(vm, 0x01);
    outb(vm, M_CMD, 0xC0 | 3);                     /* set priority: IR3 lowest, IR4 highest */
    pulse(vm, 1);
    pulse(vm, 5);
    assert_int_equal(dt_inta(vm), 0x0D);           /* IR5 ranks above IR1 now */
    outb(vm, M_CMD, 0xA0);                         /* rotate on non-specific EOI: IR5 lowest */
    assert_int_equal(dt_inta(vm), 0x09);
    pulse(vm, 5);
    pulse(vm, 6);
    outb(vm, M_CMD, EOI);
    assert_int_equal(dt_inta(vm), 0x0E);           /* IR6 is now highest */
    outb(vm, M_CMD, EOI);
    vm_destroy(vm);
}

static void test_poll_and_special_mask(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    pic_init(vm, 0x01);
    pulse(vm, 3);
    outb(vm, M_CMD, OCW3_POLL);
    assert_int_equal(inb(vm, M_CMD), 0x83);        /* pending, level 3 */
    assert_int_equal(read_isr(vm, M_CMD), 0x08);   /* the poll acknowledged it */
    outb(vm, M_CMD, OCW3_POLL);
    assert_int_equal(inb(vm, M_CMD), 0x00);        /* nothing pending */
    /* Special mask mode: masking the in-service IR3 lets IR5 through. */
    pulse(vm, 5);
    assert_int_equal(dt_intr(vm), 0);
    outb(vm, M_DATA, 0x08);
    outb(vm, M_CMD, 0x68);                         /* OCW3 ESMM|SMM */
    assert_int_equal(dt_intr(vm), 1);
    assert_int_equal(dt_inta(vm), 0x0D);
    outb(vm, M_CMD, 0x48);                         /* ESMM, SMM off */
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_ack),
        cmocka_unit_test(test_priority_and_nesting),
        cmocka_unit_test(test_cascade),
        cmocka_unit_test(test_mask_and_spurious),
        cmocka_unit_test(test_level_elcr),
        cmocka_unit_test(test_auto_eoi_and_rotation),
        cmocka_unit_test(test_poll_and_special_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
