/* Fuzz target for the VHD parser (src/storage/vhd.c): the input is a file
 * in a temporary directory (where a parent "p.vhd" exists for the
 * differencing disks' locators); the checksums of the footer, its copy and
 * the dynamic header are fixed up first so the fuzzer gets past them. The
 * image is opened read-only and read-write, read at its start, middle and
 * end, written and read back, checked and described. Never a crash, a hang
 * or a huge allocation. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/util.h"
#include "storage/image.h"

#include "image_exercise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1u << 20)
#define FOOTER 512u
#define HEADER 1024u

static char dir[64], in_path[96];

static void remove_dir(void)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void init(void)
{
    snprintf(dir, sizeof dir, "/tmp/caixa-fuzz-vhd-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    snprintf(in_path, sizeof in_path, "%s/in.vhd", dir);
    char parent[96];
    snprintf(parent, sizeof parent, "%s/p.vhd", dir);
    struct image_create_opts o = {.format = "vhd", .size = 4u << 20, .variant = IMAGE_VARIANT_STANDARD};
    if (image_create(parent, &o) != 0)
        abort();
}

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The one's complement byte sum of the spec, stored big-endian. */
static void fix_checksum(uint8_t *p, size_t len, size_t at)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < at || i >= at + 4)
            sum += p[i];
    sum = ~sum;
    p[at] = (uint8_t)(sum >> 24);
    p[at + 1] = (uint8_t)(sum >> 16);
    p[at + 2] = (uint8_t)(sum >> 8);
    p[at + 3] = (uint8_t)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        init();
    if (size > MAX_INPUT)
        return 0;
    uint8_t *f = xmalloc(size ? size : 1);
    memcpy(f, data, size);
    if (size >= FOOTER) {
        fix_checksum(f + size - FOOTER, FOOTER, 64);
        fix_checksum(f, FOOTER, 64);
        uint64_t h = be(f + 16, 8);
        if (h <= size && size - h >= HEADER)
            fix_checksum(f + h, HEADER, 36);
    }
    int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, f, size) != (ssize_t)size)
        abort();
    close(fd);
    free(f);
    uint64_t knob = size >= 8 ? get_le(data, 8) ^ size : size;
    for (int rw = 0; rw < 2; rw++) {
        struct image *img = image_open(in_path, rw ? 0 : IMAGE_OPEN_RDONLY);
        if (img) {
            image_exercise(img, knob, 0x5a);
            image_close(img);
        }
    }
    return 0;
}
