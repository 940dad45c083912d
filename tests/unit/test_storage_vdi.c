/* VDI images (src/storage/vdi.c): dynamic, fixed and differencing images,
 * the layout VirtualBox writes, compact, resize, check, hostile headers,
 * and data that survives SIGKILL. qemu-img, where installed, checks what
 * caixa wrote (tests/e2e/storage_vdi.sh does the full interop). */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/util.h"
#include "storage/format.h"
#include "storage/image.h"

#define MiB (1u << 20)
#define KiB 1024u

static char dir[64];
static bool have_qemu_img;

static int setup(void **st)
{
    (void)st;
    strcpy(dir, "/tmp/caixa-vdi-XXXXXX");
    have_qemu_img = system("qemu-img --version >/dev/null 2>&1") == 0;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *tpath(const char *name)
{
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9) + 1);
}

static uint32_t file_le32(const char *path, long off)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t b[4] = {0};
    fseek(f, off, SEEK_SET);
    assert_int_equal(fread(b, 1, 4, f), 4);
    fclose(f);
    return (uint32_t)get_le(b, 4);
}

static void count_note(void *opaque, const char *line)
{
    (void)line;
    ++*(int *)opaque;
}

static int check_image(const char *path)
{
    struct image *img = image_open(path, IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    int notes = 0;
    int rc = image_check(img, count_note, &notes);
    assert_int_equal(rc, notes);
    image_close(img);
    return rc;
}

/* qemu-img check, when qemu-img is installed: 0 = consistent. */
static int qemu_check(const char *path)
{
    if (!have_qemu_img)
        return 0;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "qemu-img check -f vdi '%s' >/dev/null 2>&1", path);
    return system(cmd);
}

static void test_dynamic_layout_and_rw(void **st)
{
    (void)st;
    const char *p = tpath("dyn.vdi");
    struct image_create_opts o = {.format = "VDI", .size = 5 * MiB + 512 * 3};
    assert_int_equal(image_create(p, &o), 0);
    /* VirtualBox's layout: map at 1 MiB, data at 2 MiB, 6 blocks of 1 MiB. */
    assert_int_equal(file_le32(p, 0x40), 0xBEDA107F);
    assert_int_equal(file_le32(p, 0x44), 0x00010001);
    assert_int_equal(file_le32(p, 0x48), 0x190);
    assert_int_equal(file_le32(p, 0x4C), 1);
    assert_int_equal(file_le32(p, 0x154), MiB);
    assert_int_equal(file_le32(p, 0x158), 2 * MiB);
    assert_int_equal(file_le32(p, 0x178), MiB);
    assert_int_equal(file_le32(p, 0x180), 6);
    assert_int_equal(file_le32(p, 0x184), 0);
    assert_int_equal(file_le32(p, MiB), 0xFFFFFFFF);

    struct image *img = image_open(p, 0);
    assert_non_null(img);
    assert_string_equal(image_format_name(img), "vdi");
    assert_int_equal(image_size(img), 5 * MiB + 1536);
    static uint8_t w[3 * MiB], r[3 * MiB];
    /* Unallocated reads zeros. */
    memset(r, 0xee, MiB);
    assert_int_equal(image_read(img, 0, r, MiB), 0);
    for (size_t i = 0; i < MiB; i++)
        assert_int_equal(r[i], 0);
    /* A write across a block boundary allocates two blocks. */
    fill(w, 8 * KiB, 1);
    assert_int_equal(image_write(img, 3 * MiB - 4 * KiB, w, 8 * KiB), 0);
    assert_int_equal(image_read(img, 3 * MiB - 4 * KiB, r, 8 * KiB), 0);
    assert_memory_equal(w, r, 8 * KiB);
    /* The rest of a new block reads zeros. */
    assert_int_equal(image_read(img, 2 * MiB, r, MiB - 4 * KiB), 0);
    for (size_t i = 0; i < MiB - 4 * KiB; i++)
        assert_int_equal(r[i], 0);
    /* A write covering whole blocks and the disk's last sectors. */
    fill(w, 2 * MiB + 1536, 2);
    assert_int_equal(image_write(img, 3 * MiB + KiB * 0, w, 2 * MiB + 1536), 0);
    assert_int_equal(image_flush(img), 0);
    image_close(img);
    assert_int_equal(file_le32(p, 0x184), 4);
    /* Blocks 2 and 3 allocated in write order: data index 0 and 1. */
    assert_int_equal(file_le32(p, MiB + 8), 0);
    assert_int_equal(file_le32(p, MiB + 12), 1);

    img = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    assert_int_equal(image_read(img, 3 * MiB, r, 2 * MiB + 1536), 0);
    assert_memory_equal(w, r, 2 * MiB + 1536);
    struct image_info info;
    image_get_info(img, &info);
    assert_string_equal(info.variant, "dynamic");
    assert_true(info.has_uuid);
    assert_false(info.has_parent_uuid);
    assert_int_equal(info.uuid[6] >> 4, 4);   /* RFC 4122 order: version nibble */
    image_close(img);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(qemu_check(p), 0);
}

static void test_fixed(void **st)
{
    (void)st;
    const char *p = tpath("fixed.vdi");
    struct image_create_opts o = {.format = "vdi", .size = 3 * MiB, .variant = IMAGE_VARIANT_FIXED};
    assert_int_equal(image_create(p, &o), 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 5 * MiB);
    assert_int_equal(file_le32(p, 0x4C), 2);
    assert_int_equal(file_le32(p, 0x184), 3);
    assert_int_equal(file_le32(p, MiB + 8), 2);
    struct image *img = image_open(p, 0);
    assert_non_null(img);
    static uint8_t w[3 * MiB], r[3 * MiB];
    fill(w, sizeof w, 3);
    assert_int_equal(image_write(img, 0, w, sizeof w), 0);
    assert_int_equal(image_read(img, 0, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    /* The data sits where the map says: block i at 2 MiB + i MiB. */
    FILE *f = fopen(p, "rb");
    fseek(f, 2 * MiB + MiB + 512, SEEK_SET);
    assert_int_equal(fread(r, 1, 512, f), 512);
    fclose(f);
    assert_memory_equal(w + MiB + 512, r, 512);
    assert_int_equal(image_resize(img, 4 * MiB), -1);
    assert_int_equal(image_compact(img), -1);
    image_close(img);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(qemu_check(p), 0);
}

static void test_differencing(void **st)
{
    (void)st;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/snap", dir);
    mkdir(sub, 0755);
    const char *base = tpath("base.vdi");
    struct image_create_opts o = {.format = "vdi", .size = 4 * MiB};
    assert_int_equal(image_create(base, &o), 0);
    static uint8_t w[4 * MiB], r[4 * MiB], c[64 * KiB];
    fill(w, sizeof w, 4);
    struct image *img = image_open(base, 0);
    assert_non_null(img);
    assert_int_equal(image_write(img, 0, w, 3 * MiB), 0);   /* block 3 stays free */
    image_close(img);

    /* The child lives in a subdirectory: its parent is found by UUID in the
     * directory above. */
    char child[160];
    snprintf(child, sizeof child, "%s/child.vdi", sub);
    struct image_create_opts oc = {.format = "vdi", .parent = base};
    assert_int_equal(image_create(child, &oc), 0);
    assert_int_equal(file_le32(child, 0x4C), 4);
    img = image_open(child, 0);
    assert_non_null(img);
    assert_int_equal(image_size(img), 4 * MiB);
    assert_non_null(image_parent(img));
    assert_string_equal(image_format_name(image_parent(img)), "vdi");
    assert_true(image_read_only(image_parent(img)));
    struct image_info ci, pi;
    image_get_info(img, &ci);
    image_get_info(image_parent(img), &pi);
    assert_string_equal(ci.variant, "diff");
    assert_true(ci.has_parent_uuid);
    assert_memory_equal(ci.parent_uuid, pi.uuid, 16);
    assert_non_null(ci.parent_path);

    /* Unwritten: the parent's data. */
    assert_int_equal(image_read(img, 0, r, 4 * MiB), 0);
    assert_memory_equal(w, r, 3 * MiB);
    for (size_t i = 3 * MiB; i < 4 * MiB; i++)
        assert_int_equal(r[i], 0);
    /* A partial write: the child's block holds the parent's data around it. */
    fill(c, sizeof c, 5);
    assert_int_equal(image_write(img, MiB + 4 * KiB, c, sizeof c), 0);
    assert_int_equal(image_read(img, 0, r, 4 * MiB), 0);
    assert_memory_equal(r, w, MiB + 4 * KiB);
    assert_memory_equal(r + MiB + 4 * KiB, c, sizeof c);
    assert_memory_equal(r + MiB + 4 * KiB + sizeof c, w + MiB + 4 * KiB + sizeof c,
                        3 * MiB - (MiB + 4 * KiB + sizeof c));
    /* The parent is open read-only: the base is unchanged. */
    assert_null(image_open(base, 0));
    image_close(img);
    img = image_open(base, IMAGE_OPEN_RDONLY);
    assert_int_equal(image_read(img, MiB, r, MiB), 0);
    assert_memory_equal(r, w + MiB, MiB);
    image_close(img);
    assert_int_equal(check_image(child), 0);

    /* Zeros written into the child hide the parent, also after compact. */
    img = image_open(child, 0);
    uint8_t *z = calloc(1, MiB);
    assert_int_equal(image_write(img, 0, z, MiB), 0);
    assert_int_equal(image_compact(img), 0);
    assert_int_equal(image_read(img, 0, r, 2 * MiB), 0);
    for (size_t i = 0; i < MiB; i++)
        assert_int_equal(r[i], 0);
    assert_memory_equal(r + MiB + 4 * KiB, c, sizeof c);
    image_close(img);
    free(z);
    assert_int_equal(check_image(child), 0);

    /* Without its parent the child cannot open: one clear error. */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/far && mv %s %s/far/", dir, base, dir);
    assert_int_equal(system(cmd), 0);
    assert_null(image_open(child, IMAGE_OPEN_RDONLY));
    assert_non_null(strstr(image_last_error(), "parent image {"));
    assert_non_null(strstr(image_last_error(), "not found"));
    snprintf(cmd, sizeof cmd, "mv %s/far/base.vdi %s", dir, base);
    assert_int_equal(system(cmd), 0);
}

static void test_compact_and_resize(void **st)
{
    (void)st;
    const char *p = tpath("compact.vdi");
    struct image_create_opts o = {.format = "vdi", .size = 8 * MiB};
    assert_int_equal(image_create(p, &o), 0);
    struct image *img = image_open(p, 0);
    assert_non_null(img);
    static uint8_t w[8 * MiB], r[8 * MiB];
    memset(w, 0, sizeof w);
    /* Blocks 0..7 allocated in order; 1, 3 and 4 end up all zeros. */
    for (int b = 0; b < 8; b++)
        if (b != 1 && b != 3 && b != 4)
            fill(w + (size_t)b * MiB, MiB, 10 + (unsigned)b);
    assert_int_equal(image_write(img, 0, w, sizeof w), 0);
    assert_int_equal(image_flush(img), 0);
    struct stat sb;
    fstat(img->fd, &sb);
    assert_int_equal(sb.st_size, 10 * MiB);
    assert_int_equal(image_compact(img), 0);
    fstat(img->fd, &sb);
    assert_int_equal(sb.st_size, 7 * MiB);     /* 2 MiB + 5 blocks */
    assert_int_equal(image_read(img, 0, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    image_close(img);
    assert_int_equal(file_le32(p, 0x184), 5);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(qemu_check(p), 0);

    /* Grow within the map's room (the map area holds 256 Ki entries). */
    img = image_open(p, 0);
    assert_int_equal(image_resize(img, 100 * MiB), 0);
    assert_int_equal(image_size(img), 100 * MiB);
    assert_int_equal(image_read(img, 0, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    fill(r, MiB, 99);
    assert_int_equal(image_write(img, 99 * MiB, r, MiB), 0);
    image_close(img);
    assert_int_equal(file_le32(p, 0x158), 2 * MiB);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(qemu_check(p), 0);

    /* Grow past the map's room: the first data blocks move to the end. */
    img = image_open(p, 0);
    assert_int_equal(image_resize(img, 300ull * 1024 * MiB), 0);   /* 300 GiB */
    image_close(img);
    assert_true(file_le32(p, 0x158) > 2 * MiB);
    img = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    assert_int_equal(image_size(img), 300ull * 1024 * MiB);
    assert_int_equal(image_read(img, 0, r, sizeof r), 0);
    assert_memory_equal(w, r, sizeof w);
    uint8_t x[MiB];
    assert_int_equal(image_read(img, 99 * MiB, x, MiB), 0);
    fill(r, MiB, 99);
    assert_memory_equal(x, r, MiB);
    image_close(img);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(qemu_check(p), 0);
    img = image_open(p, 0);
    assert_int_equal(image_resize(img, MiB), -1);
    assert_non_null(strstr(image_last_error(), "shrink"));
    image_close(img);
}

/* Writes a header-only VDI with one field changed and expects an error. */
static void expect_bad(const char *good, unsigned off, uint64_t val, unsigned n, const char *want)
{
    const char *bad = tpath("bad.vdi");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cp %s %s", good, bad);
    assert_int_equal(system(cmd), 0);
    int fd = open(bad, O_RDWR);
    uint8_t b[8];
    put_le(b, val, n);
    assert_int_equal(pwrite(fd, b, n, off), (ssize_t)n);
    close(fd);
    assert_null(image_open(bad, IMAGE_OPEN_RDONLY));
    if (!strstr(image_last_error(), want))
        fail_msg("offset %#x: '%s' lacks '%s'", off, image_last_error(), want);
    assert_non_null(strstr(image_last_error(), bad));
    unlink(bad);
}

static void test_hostile_headers(void **st)
{
    (void)st;
    char good[128];
    snprintf(good, sizeof good, "%s", tpath("good.vdi"));
    struct image_create_opts o = {.format = "vdi", .size = 4 * MiB};
    assert_int_equal(image_create(good, &o), 0);
    expect_bad(good, 0x44, 0x00000001, 4, "version 0.1");
    expect_bad(good, 0x48, 0x10, 4, "header size");
    expect_bad(good, 0x4C, 3, 4, "undo");
    expect_bad(good, 0x4C, 9, 4, "image type");
    expect_bad(good, 0x178, 1000, 4, "block size");
    expect_bad(good, 0x178, 0, 4, "block size");
    expect_bad(good, 0x17C, 100, 4, "extra");
    expect_bad(good, 0x170, 5 * MiB, 8, "too few");
    expect_bad(good, 0x170, 4 * MiB + 1, 8, "multiple of 512");
    expect_bad(good, 0x180, 0xFFFFFFFF, 4, "overlaps");
    expect_bad(good, 0x154, 0x10, 4, "overlaps");
    expect_bad(good, 0x158, 0x100, 4, "overlaps");
    expect_bad(good, 0x4C, 4, 4, "parent UUID");   /* diff without a parent UUID */

    /* Truncated files. */
    const char *t = tpath("trunc.vdi");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "head -c 300 %s > %s", good, t);
    assert_int_equal(system(cmd), 0);
    assert_null(image_open(t, IMAGE_OPEN_RDONLY));
    assert_non_null(strstr(image_last_error(), "truncated"));
    snprintf(cmd, sizeof cmd, "head -c %u %s > %s", MiB + 8, good, t);
    assert_int_equal(system(cmd), 0);
    assert_null(image_open(t, IMAGE_OPEN_RDONLY));
    assert_non_null(strstr(image_last_error(), "truncated"));

    /* A corrupt map: read-only opens and check() reports; writers refused. */
    const char *c = tpath("corrupt.vdi");
    snprintf(cmd, sizeof cmd, "cp %s %s", good, c);
    assert_int_equal(system(cmd), 0);
    struct image *img = image_open(c, 0);
    static uint8_t w[2 * MiB];
    fill(w, sizeof w, 7);
    assert_int_equal(image_write(img, 0, w, 2 * MiB), 0);
    image_close(img);
    int fd = open(c, O_RDWR);
    uint8_t e[4];
    put_le(e, 0, 4);
    assert_int_equal(pwrite(fd, e, 4, MiB + 4), 4);    /* entry 1 -> block 0 too */
    put_le(e, 77, 4);
    assert_int_equal(pwrite(fd, e, 4, MiB + 8), 4);    /* entry 2 -> beyond */
    close(fd);
    assert_null(image_open(c, 0));
    assert_non_null(strstr(image_last_error(), "corrupt"));
    assert_int_equal(check_image(c), 2);   /* shared, beyond */
    img = image_open(c, IMAGE_OPEN_RDONLY);
    assert_int_equal(image_read(img, 2 * MiB, w, 512), -EIO);
    assert_int_equal(image_read(img, 0, w, 512), 0);
    image_close(img);
}

/* A child process writes, flushes, and keeps writing until SIGKILL: what
 * was flushed reads back and the image is consistent. */
static void test_sigkill(void **st)
{
    (void)st;
    const char *p = tpath("kill.vdi");
    struct image_create_opts o = {.format = "vdi", .size = 64 * MiB};
    assert_int_equal(image_create(p, &o), 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        struct image *img = image_open(p, 0);
        static uint8_t b[256 * KiB];
        if (!img)
            _exit(1);
        for (unsigned i = 0; i < 16; i++) {
            fill(b, sizeof b, i);
            if (image_write(img, (uint64_t)i * 2 * MiB + 4 * KiB, b, sizeof b) < 0)
                _exit(2);
        }
        if (image_flush(img) < 0)
            _exit(3);
        if (write(pipefd[1], "f", 1) != 1)
            _exit(4);
        /* Allocating writes past the flushed region until killed. */
        for (unsigned i = 0;; i++) {
            fill(b, sizeof b, 1000 + i);
            image_write(img, 32 * MiB + (uint64_t)(i % 32) * MiB, b, 4 * KiB);
        }
    }
    close(pipefd[1]);
    char ch;
    assert_int_equal(read(pipefd[0], &ch, 1), 1);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    close(pipefd[0]);

    struct image *img = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    static uint8_t want[256 * KiB], got[256 * KiB];
    for (unsigned i = 0; i < 16; i++) {
        fill(want, sizeof want, i);
        assert_int_equal(image_read(img, (uint64_t)i * 2 * MiB + 4 * KiB, got, sizeof got), 0);
        assert_memory_equal(want, got, sizeof want);
    }
    image_close(img);
    /* A kill between a map entry and the header's count leaves a count
     * that the next writable open puts right. */
    img = image_open(p, 0);
    assert_non_null(img);
    image_close(img);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(qemu_check(p), 0);
}

struct worker {
    struct image *img;
    unsigned id;
    int rc;
};

/* Each thread writes its own interleaved 64 KiB pieces (allocating blocks
 * concurrently) and reads them back. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    static _Thread_local uint8_t b[64 * KiB], r[64 * KiB];
    for (unsigned i = 0; i < 64 && w->rc == 0; i++) {
        uint64_t off = ((uint64_t)i * 4 + w->id) * 64 * KiB;
        fill(b, sizeof b, w->id * 1000 + i);
        w->rc = image_write(w->img, off, b, sizeof b);
        if (w->rc == 0)
            w->rc = image_read(w->img, off, r, sizeof r);
        if (w->rc == 0 && memcmp(b, r, sizeof b) != 0)
            w->rc = -1000;
    }
    return NULL;
}

static void test_threads(void **st)
{
    (void)st;
    const char *p = tpath("threads.vdi");
    struct image_create_opts o = {.format = "vdi", .size = 16 * MiB};
    assert_int_equal(image_create(p, &o), 0);
    struct image *img = image_open(p, 0);
    assert_non_null(img);
    pthread_t t[4];
    struct worker w[4];
    for (unsigned i = 0; i < 4; i++) {
        w[i] = (struct worker){.img = img, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    image_close(img);
    assert_int_equal(check_image(p), 0);
    assert_int_equal(file_le32(p, 0x184), 16);
    assert_int_equal(qemu_check(p), 0);
}

static void test_iso(void **st)
{
    (void)st;
    const char *p = tpath("cd.iso");
    FILE *f = fopen(p, "wb");
    static uint8_t b[40 * 2048];
    memset(b, 0, sizeof b);
    b[16 * 2048] = 1;
    memcpy(b + 16 * 2048 + 1, "CD001", 5);
    b[16 * 2048 + 6] = 1;
    fill(b + 20 * 2048, 2048, 9);
    assert_int_equal(fwrite(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    struct image *img = image_open(p, 0);
    assert_non_null(img);
    assert_string_equal(image_format_name(img), "iso");
    assert_true(image_read_only(img));
    assert_int_equal(image_size(img), sizeof b);
    uint8_t r[2048];
    assert_int_equal(image_read(img, 20 * 2048, r, 2048), 0);
    assert_memory_equal(r, b + 20 * 2048, 2048);
    assert_int_equal(image_write(img, 0, r, 512), -EROFS);
    /* The lock was given back as a shared one. */
    struct image *img2 = image_open(p, IMAGE_OPEN_RDONLY);
    assert_non_null(img2);
    image_close(img2);
    image_close(img);
    struct image_create_opts o = {.format = "iso", .size = MiB};
    assert_int_equal(image_create(tpath("new.iso"), &o), -1);
    assert_non_null(strstr(image_last_error(), "cannot be created"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamic_layout_and_rw),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_differencing),
        cmocka_unit_test(test_compact_and_resize),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_sigkill),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_iso),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
