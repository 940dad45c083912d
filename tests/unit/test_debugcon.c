/* Debug console (0x402): output to its host end, 0xE9 read-back. */
#include <stdio.h>
#include <unistd.h>

#include "device_test_harness.h"

#define DEBUGCON 0x402
#define DEBUGEXIT 0xF4

static void test_debugcon(void **st)
{
    (void)st;
    char path[] = "/tmp/caixa_test_debugcon_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char spec[64];
    snprintf(spec, sizeof spec, "file:%s", path);
    struct dt_opts o = { .debugcon = spec };
    struct vm *vm = dt_vm_new_opts(&o);
    assert_int_equal(inb(vm, DEBUGCON), 0xE9);     /* how SeaBIOS detects it */
    for (const char *p = "SeaBIOS\n"; *p; p++)
        outb(vm, DEBUGCON, (uint8_t)*p);
    vm_destroy(vm);
    char buf[16] = { 0 };
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    assert_int_equal(n, 8);
    assert_string_equal(buf, "SeaBIOS\n");
}

static void test_debugcon_absent(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    assert_int_equal(inb(vm, DEBUGCON), 0xFF);     /* not configured: open bus */
    assert_int_equal(inb(vm, DEBUGEXIT), 0xFF);
    outb(vm, DEBUGEXIT, 1);
    assert_false(vm->req_poweroff);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debugcon),
        cmocka_unit_test(test_debugcon_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
