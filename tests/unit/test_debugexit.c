/* Debug-exit port (0xF4, opt-in): a write of V ends the VM with status
 * (V << 1) | 1, as QEMU's isa-debug-exit. */
#include "device_test_harness.h"

#define DEBUGEXIT 0xF4

static void test_debugexit(void **st)
{
    (void)st;
    struct dt_opts o = { .debug_exit = true };
    struct vm *vm = dt_vm_new_opts(&o);
    outb(vm, DEBUGEXIT, 0x10);
    assert_true(vm->req_poweroff);
    assert_int_equal(vm->exit_status, 0x21);       /* (V << 1) | 1 */
    vm_destroy(vm);
    vm = dt_vm_new_opts(&o);
    outb(vm, DEBUGEXIT, 0);
    assert_int_equal(vm->exit_status, 1);
    vm_destroy(vm);
}

static void test_debugexit_word(void **st)
{
    (void)st;
    struct dt_opts o = { .debug_exit = true };
    struct vm *vm = dt_vm_new_opts(&o);
    /* A 1-byte port: a word write lands on 0xF4 as bytes, low byte first. */
    outw(vm, DEBUGEXIT, 0x0203);
    assert_int_equal(vm->exit_status, 0x07);
    assert_int_equal(inb(vm, DEBUGEXIT), 0xFF);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debugexit),
        cmocka_unit_test(test_debugexit_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
