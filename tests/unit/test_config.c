/* Configuration tree: typed keys, conversions, defaults, children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vmm/config.h"
#include "vmm/device.h"

static void typed_keys_and_defaults(void **state)
{
    (void)state;
    struct config *root = config_new("Devices");
    struct config *uart = config_child(root, "uart");
    config_set_str(uart, "chardev", "serial0");
    config_set_u64(uart, "iobase", 0x3f8);
    config_set_bool(uart, "fifo", true);
    assert_string_equal(cfg_get_str(uart, "chardev", "x"), "serial0");
    assert_int_equal(cfg_get_u64(uart, "iobase", 0), 0x3f8);
    assert_true(cfg_get_bool(uart, "fifo", false));
    /* missing keys give the default */
    assert_int_equal(cfg_get_u64(uart, "irq", 4), 4);
    assert_string_equal(cfg_get_str(uart, "nothing", "dflt"), "dflt");
    assert_false(cfg_get_bool(uart, "nothing", false));
    assert_int_equal(config_type_of(uart, "iobase"), CFG_U64);
    assert_int_equal(config_type_of(uart, "nothing"), CFG_NONE);
    /* a NULL node is an empty one */
    assert_int_equal(cfg_get_u64(NULL, "iobase", 7), 7);
    config_free(root);
}

static void conversions(void **state)
{
    (void)state;
    struct config *n = config_new("dev");
    config_set_str(n, "hex", "0x402");
    config_set_str(n, "dec", "1024");
    config_set_str(n, "junk", "12abc");
    config_set_str(n, "neg", "-1");
    config_set_str(n, "yes", "on");
    config_set_str(n, "no", "false");
    config_set_u64(n, "one", 1);
    assert_int_equal(cfg_get_u64(n, "hex", 0), 0x402);
    assert_int_equal(cfg_get_u64(n, "dec", 0), 1024);
    assert_int_equal(cfg_get_u64(n, "junk", 9), 9);
    assert_int_equal(cfg_get_u64(n, "neg", 9), 9);
    assert_true(cfg_get_bool(n, "yes", false));
    assert_false(cfg_get_bool(n, "no", true));
    assert_true(cfg_get_bool(n, "one", false));
    assert_true(cfg_get_bool(n, "junk", true)); /* not a bool: default */
    /* a number is not a string */
    assert_string_equal(cfg_get_str(n, "one", "d"), "d");
    config_free(n);
}

static void replace_and_children(void **state)
{
    (void)state;
    struct config *root = config_new("Devices");
    struct config *a = config_child(root, "pic");
    struct config *b = config_child(root, "pit");
    assert_ptr_equal(config_child(root, "pic"), a); /* get, not a second one */
    assert_ptr_equal(config_find(root, "pit"), b);
    assert_null(config_find(root, "rtc"));
    assert_ptr_equal(config_first_child(root), a);
    assert_ptr_equal(config_next(a), b);
    assert_null(config_next(b));
    assert_string_equal(config_name(b), "pit");
    config_set_u64(a, "k", 1);
    config_set_str(a, "k", "two");
    assert_int_equal(config_type_of(a, "k"), CFG_STR);
    assert_string_equal(cfg_get_str(a, "k", NULL), "two");
    config_set_u64(a, "k", 3);
    assert_int_equal(cfg_get_u64(a, "k", 0), 3);
    assert_null(cfg_get_str(a, "k", NULL));
    config_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typed_keys_and_defaults),
        cmocka_unit_test(conversions),
        cmocka_unit_test(replace_and_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
