/* Fuzz target for the qcow2 parser (src/storage/qcow2*.c): arbitrary bytes
 * as an image file are opened read-only, read at a few places (L1/L2
 * walks, compressed clusters, the backing file name), checked, then opened
 * writable and written, discarded and read back. Bad input must give an
 * error, never a crash, a hang or a huge allocation. The file is a private
 * copy in a temporary directory (relative backing names find nothing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_exercise.h"
#include "storage/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

static void note(void *opaque, const char *line)
{
    (void)opaque;
    (void)line;
}

static uint64_t pick(const uint8_t *data, size_t size, size_t at, uint64_t disk)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && at + i < size; i++)
        v = v << 8 | data[at + i];
    return disk > 4096 ? v % (disk - 4096) / 512 * 512 : 0;
}

static void exercise(const uint8_t *data, size_t size, unsigned flags)
{
    struct image *img = image_open(path, flags);
    if (!img)
        return;
    uint64_t disk = image_size(img);
    static uint8_t buf[4096];
    if (disk >= sizeof buf) {
        (void)image_read(img, 0, buf, sizeof buf);
        (void)image_read(img, pick(data, size, 0, disk), buf, sizeof buf);
        (void)image_read(img, pick(data, size, 72, disk), buf, sizeof buf);
        image_exercise_vec(img, pick(data, size, 56, disk), buf, sizeof buf, false);
        if (!(flags & IMAGE_OPEN_RDONLY)) {
            /* (Metadata of a hostile image may overlap the data written,
             * so what reads back is not checked.) */
            memset(buf, 0xa5, sizeof buf);
            uint64_t at = pick(data, size, 40, disk);
            if (image_write(img, at, buf, 1024) == 0)
                (void)image_read(img, at, buf, sizeof buf);
            image_exercise_vec(img, pick(data, size, 64, disk), buf, sizeof buf, true);
            (void)image_discard(img, pick(data, size, 48, disk), 4096);
        }
    }
    (void)image_check(img, note, NULL);
    image_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Other files would be opened as raw images: nothing of qcow2's. */
    static const uint8_t magic[4] = {'Q', 'F', 'I', 0xfb};
    if (size < sizeof magic || memcmp(data, magic, sizeof magic))
        return 0;
    if (!path[0]) {
        /* tmpfs when there is one: no disk I/O per input. */
        snprintf(dir, sizeof dir, "%s/fuzz_qcow2-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/img", dir);
        atexit(cleanup);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    exercise(data, size, IMAGE_OPEN_RDONLY);
    exercise(data, size, 0);
    return 0;
}
