/* Fuzz target for VDI images (and whatever else probes, through the same
 * image_open path): the input is written to a file, opened read-only (reads
 * at a few offsets, info, check), then read-write (a write at each end of
 * the disk, compact). Nothing may crash, whatever the header and map say.
 * The file sits in a directory of its own, inside another empty one: a
 * differencing image's parent search by UUID sees nothing else. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_exercise.h"
#include "storage/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[128];

static void note(void *opaque, const char *line)
{
    (void)line;
    ++*(int *)opaque;
}

static char dir[64], subdir[96];

static void cleanup(void)
{
    unlink(path);
    rmdir(subdir);
    rmdir(dir);
}

static void prepare(void)
{
    if (path[0])
        return;
    strcpy(dir, "/tmp/caixa-fuzz-vdi-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(subdir, sizeof subdir, "%s/sub", dir);
    if (mkdir(subdir, 0700) < 0)
        abort();
    snprintf(path, sizeof path, "%s/fuzz.vdi", subdir);
    atexit(cleanup);
}

static void exercise(struct image *img, bool write)
{
    static uint8_t buf[8 * IMAGE_SECTOR];
    uint64_t size = image_size(img);
    uint64_t offs[] = {0, size / 2, size > sizeof buf ? size - sizeof buf : 0, 1ull << 20};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        uint64_t off = offs[i] / IMAGE_SECTOR * IMAGE_SECTOR;
        size_t len = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        if (off < size)
            (void)image_read(img, off, buf, len);
        if (off < size && len >= 2 * IMAGE_SECTOR)
            image_exercise_vec(img, off, buf, len, write);
    }
    /* Out of range and misaligned: errors, not crashes. */
    (void)image_read(img, size, buf, IMAGE_SECTOR);
    (void)image_read(img, 1, buf, IMAGE_SECTOR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prepare();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);

    struct image *img = image_open(path, IMAGE_OPEN_RDONLY);
    if (img) {
        exercise(img, false);
        struct image_info info;
        image_get_info(img, &info);
        int notes = 0;
        int n = image_check(img, note, &notes);
        if (n >= 0 && n != notes)
            __builtin_trap();   /* the count is the number of notes */
        image_close(img);
    }
    img = image_open(path, 0);
    if (img) {
        uint8_t sector[IMAGE_SECTOR];
        memset(sector, 0x5a, sizeof sector);
        uint64_t s = image_size(img);
        if (s >= IMAGE_SECTOR) {
            (void)image_write(img, 0, sector, sizeof sector);
            (void)image_write(img, s - IMAGE_SECTOR, sector, sizeof sector);
            uint8_t back[IMAGE_SECTOR];
            /* What was written reads back (unless the write failed). */
            if (image_write(img, s - IMAGE_SECTOR, sector, sizeof sector) == 0 &&
                image_read(img, s - IMAGE_SECTOR, back, sizeof back) == 0 &&
                memcmp(back, sector, sizeof back) != 0)
                __builtin_trap();
        }
        (void)image_compact(img);
        exercise(img, true);
        image_close(img);
    }
    unlink(path);
    return 0;
}
