/* fw_cfg's boot files for SeaBIOS: "bootorder" (one OpenFirmware path per
 * line, SeaBIOS docs/Runtime_config) built from the drives and --boot, and
 * "etc/sercon-port" (an integer file SeaBIOS reads with romfile_loadint:
 * COM1's port, so that its console is the serial line). */
#include <fcntl.h>
#include <unistd.h>

#include "device_test_harness.h"

#define FW_SEL 0x510
#define FW_DATA 0x511

static void read_item(struct vm *vm, uint16_t key, uint8_t *buf, size_t len)
{
    outw(vm, FW_SEL, key);
    for (size_t i = 0; i < len; i++)
        buf[i] = inb(vm, FW_DATA);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The file's contents (malloc'd, NUL-terminated), or NULL if absent. */
static char *read_file_item(struct vm *vm, const char *name, uint32_t *size)
{
    uint8_t hdr[4];
    read_item(vm, 0x19, hdr, 4);
    uint32_t count = be32(hdr);
    uint16_t sel = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t e[64];
        for (int j = 0; j < 64; j++)
            e[j] = inb(vm, FW_DATA);
        if (strcmp((const char *)e + 8, name) == 0) {
            sel = (uint16_t)(e[4] << 8 | e[5]);
            *size = be32(e);
        }
    }
    if (!sel)
        return NULL;
    char *buf = calloc(1, *size + 1);
    read_item(vm, sel, (uint8_t *)buf, *size);
    return buf;
}

static char *temp_file(size_t size)
{
    char *path = strdup("/tmp/caixa-fwboot-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    if (size >= 17 * 2048) {
        static const uint8_t vd[] = {1, 'C', 'D', '0', '0', '1', 1};
        assert_int_equal(pwrite(fd, vd, sizeof vd, 16 * 2048), (ssize_t)sizeof vd);
    }
    close(fd);
    return path;
}

static struct vm *vm_with(const struct vm_drive *d, int n, const enum vm_boot_dev *boot, int nboot)
{
    static uint8_t bios[DT_BIOS_SIZE];
    memset(bios, DT_BIOS_FILL, sizeof bios);
    struct vm_params p = {
        .ram_size = 32u << 20, .bios = bios, .bios_size = sizeof bios, .serial = "none", .ncpus = 1,
    };
    memcpy(p.drives, d, (size_t)n * sizeof(*d));
    p.ndrives = n;
    for (int i = 0; i < nboot; i++)
        p.boot[i] = boot[i];
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    return vm;
}

static void test_sercon_port(void **st)
{
    (void)st;
    struct vm *vm = dt_vm_new();
    uint32_t size = 0;
    char *v = read_file_item(vm, "etc/sercon-port", &size);
    assert_non_null(v);
    /* romfile_loadint takes 1, 2, 4 or 8 little-endian bytes. */
    assert_true(size == 1 || size == 2 || size == 4 || size == 8);
    uint64_t port = 0;
    for (uint32_t i = 0; i < size; i++)
        port |= (uint64_t)(uint8_t)v[i] << (8 * i);
    assert_int_equal(port, 0x3F8);
    free(v);
    vm_destroy(vm);
}

static void test_bootorder(void **st)
{
    (void)st;
    char *disk = temp_file(1 << 20), *cd = temp_file(64 * 2048);
    struct vm_drive d[2] = {
        {.spec = disk, .bus = VM_BUS_IDE},
        {.spec = cd, .bus = VM_BUS_IDE, .cdrom = true, .read_only = true},
    };
    /* CD first: the secondary master's path, then the primary master's. */
    enum vm_boot_dev cd_first[] = {VM_BOOT_CDROM, VM_BOOT_DISK};
    struct vm *vm = vm_with(d, 2, cd_first, 2);
    uint32_t size = 0;
    char *v = read_file_item(vm, "bootorder", &size);
    assert_non_null(v);
    assert_string_equal(v, "/pci@i0cf8/*@1,1/drive@1/disk@0\n/pci@i0cf8/*@1,1/drive@0/disk@0\n");
    assert_int_equal(size, strlen(v));
    free(v);
    vm_destroy(vm);
    enum vm_boot_dev disk_first[] = {VM_BOOT_DISK, VM_BOOT_CDROM};
    vm = vm_with(d, 2, disk_first, 2);
    v = read_file_item(vm, "bootorder", &size);
    assert_string_equal(v, "/pci@i0cf8/*@1,1/drive@0/disk@0\n/pci@i0cf8/*@1,1/drive@1/disk@0\n");
    free(v);
    vm_destroy(vm);
    unlink(disk);
    unlink(cd);
    free(disk);
    free(cd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sercon_port),
        cmocka_unit_test(test_bootorder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
