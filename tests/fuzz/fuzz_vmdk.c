/* Fuzz target for the VMDK parser (src/storage/vmdk.c, vmdk_desc.c): the
 * input is a file in a temporary directory (a sparse extent with its
 * header, or a text descriptor naming extents there), opened read-only and
 * read at its start, middle and end, checked and described; a sparse file
 * is also opened read-write, written, and read back. Never a crash, a hang
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
#define FLAT_BYTES 8192u

static char dir[64], in_path[96], flat_path[96], sparse_path[96];

static void put_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
}

static void remove_dir(void)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* The temporary directory with extent files a descriptor may name:
 * "f-flat.vmdk" and "s.vmdk". */
static void init(void)
{
    snprintf(dir, sizeof dir, "/tmp/caixa-fuzz-vmdk-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    snprintf(in_path, sizeof in_path, "%s/in.vmdk", dir);
    snprintf(flat_path, sizeof flat_path, "%s/f-flat.vmdk", dir);
    snprintf(sparse_path, sizeof sparse_path, "%s/s.vmdk", dir);
    uint8_t flat[FLAT_BYTES];
    for (size_t i = 0; i < sizeof flat; i++)
        flat[i] = (uint8_t)(i * 13 + 1);
    put_file(flat_path, flat, sizeof flat);
    struct image_create_opts o = {.format = "vmdk", .size = 1u << 20, .variant = IMAGE_VARIANT_STANDARD};
    if (image_create(sparse_path, &o) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        init();
    if (size > MAX_INPUT)
        return 0;
    put_file(in_path, data, size);
    uint64_t knob = size >= 8 ? get_le(data + size - 8, 8) : size;
    struct image *img = image_open(in_path, IMAGE_OPEN_RDONLY);
    if (img) {
        image_exercise(img, knob, 0xa5);
        image_close(img);
    }
    /* Read-write only for a sparse file of its own: a descriptor's extents
     * could name any file on the host. */
    if (size >= 4 && memcmp(data, "KDMV", 4) == 0) {
        img = image_open(in_path, 0);
        if (img) {
            image_exercise(img, knob, 0xa5);
            image_close(img);
        }
    }
    return 0;
}
