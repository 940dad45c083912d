/* What the image-format fuzz targets do with an image their input opened:
 * reads at the start, middle and end (also scattered), a write (when
 * writable) that must read back as written, a scattered one, the
 * consistency check and the info. Header-only,
 * so each fuzz_<format>.c stays one program. */
#ifndef CAIXA_TESTS_FUZZ_IMAGE_EXERCISE_H
#define CAIXA_TESTS_FUZZ_IMAGE_EXERCISE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "storage/image.h"

/* n bytes at off (n a multiple of 512, at least 1024) in three buffers,
 * through the format's map (src/storage/image_vec.c): read, tried at once,
 * and when write is set written (not checked: a hostile image's metadata
 * may overlap the data). */
static inline void image_exercise_vec(struct image *img, uint64_t off, uint8_t *buf, size_t n, bool write)
{
    struct iovec iov[3] = {{buf, IMAGE_SECTOR}, {buf + IMAGE_SECTOR, n - 2 * IMAGE_SECTOR},
                           {buf + n - IMAGE_SECTOR, IMAGE_SECTOR}};
    (void)image_readv(img, off, iov, 3);
    (void)image_try_readv(img, off, iov, 3);
    if (write) {
        (void)image_try_writev(img, off, iov, 3);
        (void)image_writev(img, off, iov, 3);
    }
}

/* knob picks the written sector; fill is its byte. */
static inline void image_exercise(struct image *img, uint64_t knob, uint8_t fill)
{
    static uint8_t buf[8 * IMAGE_SECTOR], back[IMAGE_SECTOR];
    uint64_t size = image_size(img);
    uint64_t at[3] = {0, size / 2 / IMAGE_SECTOR * IMAGE_SECTOR, size > sizeof buf ? size - sizeof buf : 0};
    for (int i = 0; i < 3; i++) {
        size_t n = size - at[i] < sizeof buf ? (size_t)(size - at[i]) : sizeof buf;
        (void)image_read(img, at[i], buf, n);
        if (n >= 2 * IMAGE_SECTOR)
            image_exercise_vec(img, at[i], buf, n, false);
    }
    if (!image_read_only(img) && size >= IMAGE_SECTOR) {
        uint64_t off = knob % (size / IMAGE_SECTOR) * IMAGE_SECTOR;
        memset(buf, fill, IMAGE_SECTOR);
        /* What a write said it wrote reads back. */
        if (image_write(img, off, buf, IMAGE_SECTOR) == 0 &&
            (image_read(img, off, back, IMAGE_SECTOR) != 0 || memcmp(back, buf, IMAGE_SECTOR) != 0))
            __builtin_trap();
        if (size >= sizeof buf)
            image_exercise_vec(img, knob % (size / IMAGE_SECTOR - 7) * IMAGE_SECTOR, buf, sizeof buf, true);
    }
    (void)image_check(img, NULL, NULL);
    struct image_info info;
    image_get_info(img, &info);
}

#endif
