/* System control port A (0x92): A20 gate and fast reset. */
#include "device_test_harness.h"

#define PORT92 0x92

static void test_a20_and_reset(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_true(vm_get_a20(vm));                   /* the VM powers on with A20 enabled */
    assert_int_equal(inb(vm, PORT92) & 0x03, 0x02);
    outb(vm, PORT92, 0x00);
    assert_false(vm_get_a20(vm));
    assert_int_equal(inb(vm, PORT92) & 0x02, 0x00);
    outb(vm, PORT92, 0x02);
    assert_true(vm_get_a20(vm));
    assert_int_equal(inb(vm, PORT92), 0x02);
    assert_false(vm->req_reset);
    outb(vm, PORT92, 0x03);                        /* bit 0: 0 -> 1 resets */
    assert_true(vm->req_reset);
    assert_true(vm_get_a20(vm));
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a20_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
