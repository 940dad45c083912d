/* Direct kernel boot: the bzImage header checks, the layout limits, and
 * what the loader leaves in guest memory and in vCPU 0 (Linux
 * Documentation/arch/x86/boot.rst and zero-page.rst are the oracle). */
#include "device_test_harness.h"

#include "firmware/linux_boot.h"
#include "runtime/util.h"

#define SETUP_SECTS 4
#define PM_OFF ((SETUP_SECTS + 1) * 512)
#define PM_SIZE 8192

static uint8_t image[PM_OFF + PM_SIZE];

/* A minimal protocol-2.15 bzImage: relocatable, runs at 16 MiB, 8 MiB init_size. */
static void make_image(void)
{
    memset(image, 0, sizeof image);
    image[0x1f1] = SETUP_SECTS;
    put_le(image + 0x1fe, 0xaa55, 2);
    image[0x201] = 0x68;                  /* header up to 0x26a */
    memcpy(image + 0x202, "HdrS", 4);
    put_le(image + 0x206, 0x020f, 2);
    image[0x211] = 0x01;                  /* LOADED_HIGH */
    put_le(image + 0x214, 0x100000, 4);
    put_le(image + 0x22c, 0x7fffffff, 4);
    image[0x234] = 1;
    put_le(image + 0x238, 255, 4);           /* cmdline_size */
    put_le(image + 0x258, 0x1000000, 8);
    put_le(image + 0x260, 0x800000, 4);
    for (unsigned i = 0; i < PM_SIZE; i++)
        image[PM_OFF + i] = (uint8_t)(i * 7 + 1);
}

static void test_parse(void **st)
{
    (void)st;
    make_image();
    struct linux_image im;
    char why[200];
    assert_int_equal(linux_image_parse(image, sizeof image, &im, why, sizeof why), 0);
    assert_int_equal(im.version, 0x020f);
    assert_int_equal(im.setup_size, PM_OFF);
    assert_ptr_equal(im.pm, image + PM_OFF);
    assert_int_equal(im.pm_size, PM_SIZE);
    assert_int_equal(im.code32_start, 0x100000);
    assert_int_equal(im.cmdline_size, 255);
    assert_true(im.relocatable);

    /* setup_sects 0 means 4 */
    image[0x1f1] = 0;
    assert_int_equal(linux_image_parse(image, sizeof image, &im, why, sizeof why), 0);
    assert_int_equal(im.setup_size, PM_OFF);

    struct { int off; uint8_t val; const char *msg; } bad[] = {
        {0x1fe, 0x00, "not a Linux bzImage"},
        {0x202, 'X', "not a Linux bzImage"},
        {0x207, 0x01, "older than 2.10"},
        {0x211, 0x00, "zImage"},
        {0x1f1, 0xff, "truncated"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        make_image();
        image[bad[i].off] = bad[i].val;
        assert_int_equal(linux_image_parse(image, sizeof image, &im, why, sizeof why), -1);
        assert_non_null(strstr(why, bad[i].msg));
    }
    make_image();
    assert_int_equal(linux_image_parse(image, 0x200, &im, why, sizeof why), -1);
    assert_non_null(strstr(why, "not a Linux bzImage"));
}

static void test_check_limits(void **st)
{
    (void)st;
    make_image();
    static uint8_t initrd[4096];
    char why[200];
    struct linux_boot lb = {.kernel = image, .kernel_size = sizeof image, .cmdline = "console=ttyS0"};
    assert_int_equal(linux_boot_check(&lb, 64u << 20, why, sizeof why), 0);
    /* 16 MiB + 8 MiB init_size + the ACPI region do not fit in 24 MiB. */
    assert_int_equal(linux_boot_check(&lb, 24u << 20, why, sizeof why), -1);
    assert_non_null(strstr(why, "needs at least 25 MiB"));
    /* An initrd that cannot sit above the decompressed kernel. */
    lb.initrd = initrd;
    lb.initrd_size = 40u << 20;
    assert_int_equal(linux_boot_check(&lb, 64u << 20, why, sizeof why), -1);
    assert_non_null(strstr(why, "initrd"));
    lb.initrd_size = sizeof initrd;
    assert_int_equal(linux_boot_check(&lb, 64u << 20, why, sizeof why), 0);
    char longline[300];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    lb.cmdline = longline;
    assert_int_equal(linux_boot_check(&lb, 64u << 20, why, sizeof why), -1);
    assert_non_null(strstr(why, "at most 255"));
}

static void test_boot_state(void **st)
{
    (void)st;
    make_image();
    static uint8_t initrd[10000];
    memset(initrd, 0x5a, sizeof initrd);
    struct linux_boot lb = {.kernel = image, .kernel_size = sizeof image, .initrd = initrd,
                            .initrd_size = sizeof initrd, .cmdline = "console=ttyS0 quiet"};
    static uint8_t rom[LINUX_BOOT_ROM_SIZE];
    linux_boot_rom(rom);
    struct vm_params p = {.ram_size = 64u << 20, .bios = rom, .bios_size = sizeof rom, .serial = "none",
                          .ncpus = 1, .boot_fn = linux_boot_on_reset, .boot_opaque = &lb};
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    physmem *pm = vm_physmem(vm);
    uint8_t bp[4096], buf[16384];
    assert_true(physmem_rw(pm, 0x7000, bp, sizeof bp, false));
    /* The header is copied in, then the loader's fields. */
    assert_memory_equal(bp + 0x202, "HdrS", 4);
    assert_int_equal(bp[0x210], 0xff);                      /* type_of_loader */
    uint32_t cmd = (uint32_t)get_le(bp + 0x228, 4);
    char line[64];
    assert_true(physmem_rw(pm, cmd, line, 20, false));
    assert_string_equal(line, "console=ttyS0 quiet");
    uint32_t rd = (uint32_t)get_le(bp + 0x218, 4);
    assert_int_equal(get_le(bp + 0x21c, 4), sizeof initrd);
    assert_int_equal(rd & 0xfff, 0);
    assert_true(rd >= 0x1000000 + 0x800000);                /* above the decompressed kernel */
    assert_true(rd + sizeof initrd <= (64u << 20) - 0x20000); /* below the ACPI region */
    assert_true(physmem_rw(pm, rd, buf, sizeof initrd, false));
    assert_memory_equal(buf, initrd, sizeof initrd);
    assert_true(physmem_rw(pm, 0x100000, buf, PM_SIZE, false));
    assert_memory_equal(buf, image + PM_OFF, PM_SIZE);
    /* e820: usable RAM below the EBDA and from 1 MiB to the ACPI tables. */
    unsigned n = bp[0x1e8];
    assert_true(n >= 5);
    uint64_t ram = 0;
    bool acpi = false;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = bp + 0x2d0 + 20 * i;
        uint64_t base = get_le(e, 8), len = get_le(e + 8, 8);
        uint32_t type = (uint32_t)get_le(e + 16, 4);
        if (type == 1)
            ram += len;
        if (type == 3)
            acpi = base + len == (64u << 20);
    }
    assert_int_equal(ram, 0x9fc00 + (64u << 20) - 0x20000 - 0x100000);
    assert_true(acpi);
    /* vCPU 0 at the 32-bit entry. */
    struct cpu *c = vm_cpu(vm, 0);
    assert_int_equal(c->s.rip, 0x100000);
    assert_int_equal(c->s.regs[R_SI], 0x7000);
    assert_int_equal(c->s.cr0 & (CR0_PE | CR0_PG), CR0_PE);
    assert_int_equal(c->s.seg[S_CS].sel, 0x10);
    assert_int_equal(c->s.seg[S_CS].limit, 0xffffffffu);
    assert_true(c->s.seg[S_CS].attr & SEGA_DB);
    assert_int_equal(c->s.seg[S_DS].sel, 0x18);
    assert_false(cpu_get_rflags(c) & FL_IF);
    /* The ROM's reset vector resets through 0xCF9. */
    uint8_t rv[9];
    assert_true(physmem_rw(pm, 0xffff0, rv, sizeof rv, false));
    assert_int_equal(rv[0], 0xba);
    assert_int_equal(get_le(rv + 1, 2), 0xcf9);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_check_limits),
        cmocka_unit_test(test_boot_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
