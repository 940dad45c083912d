/* Fuzz target for the bzImage setup-header parser and the direct-boot
 * layout planner: arbitrary bytes as a kernel file (with a command line and
 * an initrd size taken from the input's first bytes) never crash, and a
 * layout that is accepted lies inside RAM. */
#include <stdint.h>
#include <string.h>

#include "firmware/linux_boot.h"

#define RAM_BELOW_4G (256u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    /* 3 bytes of knobs: initrd size in 64 KiB units, command line length. */
    size_t initrd_size = (size_t)(data[0] | data[1] << 8) << 16;
    size_t cmd_len = data[2];
    data += 3;
    size -= 3;
    struct linux_image im;
    char why[200];
    if (linux_image_parse(data, size, &im, why, sizeof why) < 0)
        return 0;
    if (im.pm < data || im.pm + im.pm_size != data + size)
        __builtin_trap();
    char cmdline[256];
    memset(cmdline, 'a', cmd_len);
    cmdline[cmd_len] = '\0';
    static const uint8_t initrd_byte;
    struct linux_boot lb = {
        .kernel = data, .kernel_size = size,
        /* The planner only looks at the size; one readable byte suffices. */
        .initrd = initrd_size ? &initrd_byte : NULL, .initrd_size = initrd_size,
        .cmdline = cmdline,
    };
    (void)linux_boot_check(&lb, RAM_BELOW_4G, why, sizeof why);
    return 0;
}
