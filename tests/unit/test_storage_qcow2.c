/* qcow2 (src/storage/qcow2*.c) against qemu-img and qemu-io as the oracle:
 * images QEMU writes (v3, v2 = compat 0.10, backing files, compressed
 * clusters, small clusters and odd refcount widths) read bit-exactly like
 * `qemu-img convert -O raw`; images caixa creates and writes (random
 * writes, partial clusters over a backing file, discard, resize, Fixed)
 * pass `qemu-img check` and `qemu-img compare` with the expected content;
 * hostile headers give one clear error. Skipped without qemu-img. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/image.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static char dir[64];
static bool have_qemu;

static int setup(void **st)
{
    (void)st;
    strcpy(dir, "/tmp/caixa-qcow2-XXXXXX");
    have_qemu = system("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1") == 0;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    if (getenv("KEEP")) return 0;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tpath(const char *name)
{
    static char p[8][160];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

/* Runs a shell command in the test directory; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    int n = snprintf(cmd, sizeof cmd, "cd %s && ( ", dir);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " ) >>log 2>&1");
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#define SH_OK(...) assert_int_equal(sh(__VA_ARGS__), 0)

static void need_qemu(void)
{
    if (!have_qemu)
        skip();
}

static uint8_t *slurp(const char *name, size_t size)
{
    uint8_t *b = calloc(1, size);
    assert_non_null(b);
    int fd = open(tpath(name), O_RDONLY);
    assert_true(fd >= 0);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, b + got, size - got);
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return b;
}

static void spill(const char *name, const uint8_t *b, size_t size)
{
    FILE *f = fopen(tpath(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, size, f), size);
    fclose(f);
}

/* caixa reads image `name` (chain and all) exactly as QEMU converts it. */
static void assert_reads_like_qemu(const char *name)
{
    SH_OK("rm -f conv.raw && qemu-img convert -O raw %s conv.raw", name);
    struct image *img = image_open(tpath(name), IMAGE_OPEN_RDONLY);
    if (!img)
        fail_msg("open %s: %s", name, image_last_error());
    assert_string_equal(image_format_name(img), "qcow2");
    size_t size = image_size(img);
    uint8_t *want = slurp("conv.raw", size);
    uint8_t *got = malloc(size);
    /* Odd-sized reads cross clusters and L2 tables. */
    for (size_t off = 0; off < size;) {
        size_t n = (off / 512 % 7 + 1) * 37 * 512;
        if (n > size - off)
            n = size - off;
        if (image_read(img, off, got + off, n) != 0)
            fail_msg("read %zu+%zu: %s", off, n, image_last_error());
        off += n;
    }
    assert_memory_equal(got, want, size);
    assert_int_equal(image_check(img, NULL, NULL), 0);
    image_close(img);
    free(want);
    free(got);
}

/* qemu-img check finds nothing and the image equals raw file `raw`. */
static void assert_qemu_agrees(const char *name, const char *raw)
{
    SH_OK("qemu-img check -f qcow2 %s", name);
    SH_OK("qemu-img compare -f raw -F qcow2 %s %s", raw, name);
}

static void note_print(void *opaque, const char *line)
{
    (*(int *)opaque)++;
    print_message("  check: %s\n", line);
}

static int caixa_check(const char *name)
{
    struct image *img = image_open(tpath(name), IMAGE_OPEN_RDONLY);
    if (!img)
        fail_msg("open %s: %s", name, image_last_error());
    int notes = 0;
    int n = image_check(img, note_print, &notes);
    image_close(img);
    assert_int_equal(n, notes);
    return n;
}

static void test_read_qemu_v3_v2(void **st)
{
    (void)st;
    need_qemu();
    static const char *compat[] = {"1.1", "0.10"};
    for (int i = 0; i < 2; i++) {
        SH_OK("rm -f q.qcow2 && qemu-img create -q -f qcow2 -o compat=%s q.qcow2 9M", compat[i]);
        SH_OK("qemu-io -f qcow2 -c 'write -P 0x5a 64k 128k' -c 'write -P 0x33 1000k 4k' "
              "-c 'write -P 0x77 8190k 2k' -c 'write -z 128k 64k' -c 'write -P 0x11 3m 65536' q.qcow2");
        assert_reads_like_qemu("q.qcow2");
        /* caixa writes into it: a zero cluster that keeps its host cluster
         * (filled in place), an allocated one, an unallocated one; a
         * discard frees one. */
        uint8_t *raw = slurp("conv.raw", 9 * MiB);
        struct image *img = image_open(tpath("q.qcow2"), 0);
        assert_non_null(img);
        static const struct { uint32_t off, len; } w[] = {
            {130 * KiB, 4 * KiB}, {1002 * KiB, 4 * KiB}, {5 * MiB, 8 * KiB}, {8190 * KiB, 2 * KiB},
        };
        for (size_t j = 0; j < sizeof w / sizeof w[0]; j++) {
            memset(raw + w[j].off, 0xe0 + (int)j, w[j].len);
            assert_int_equal(image_write(img, w[j].off, raw + w[j].off, w[j].len), 0);
        }
        assert_int_equal(image_discard(img, 3 * MiB, 64 * KiB), 0);
        memset(raw + 3 * MiB, 0, 64 * KiB);
        image_close(img);
        spill("q.raw", raw, 9 * MiB);
        free(raw);
        assert_qemu_agrees("q.qcow2", "q.raw");
        assert_int_equal(caixa_check("q.qcow2"), 0);
    }
}

static void test_read_small_clusters_refcount_widths(void **st)
{
    (void)st;
    need_qemu();
    static const char *opts[] = {"cluster_size=512,refcount_bits=1", "cluster_size=4096,refcount_bits=64",
                                 "cluster_size=2M,refcount_bits=8"};
    for (int i = 0; i < 3; i++) {
        SH_OK("rm -f s.qcow2 && qemu-img create -q -f qcow2 -o %s s.qcow2 6M", opts[i]);
        SH_OK("qemu-io -f qcow2 -c 'write -P 0xa1 0 700k' -c 'write -P 0xb2 2047k 3k' s.qcow2");
        assert_reads_like_qemu("s.qcow2");
        /* caixa writes there too, and QEMU agrees. */
        SH_OK("rm -f s.raw && qemu-img convert -O raw s.qcow2 s.raw");
        struct image *img = image_open(tpath("s.qcow2"), 0);
        assert_non_null(img);
        uint8_t *raw = slurp("s.raw", 6 * MiB);
        for (unsigned k = 0; k < 200; k++) {
            size_t off = (k * 7919u * 512u) % (6 * MiB - 64 * KiB), n = (k % 13 + 1) * 1536;
            for (size_t j = 0; j < n; j++)
                raw[off + j] = (uint8_t)(k + j / 512 + i);
            assert_int_equal(image_write(img, off, raw + off, n), 0);
        }
        image_close(img);
        spill("s.raw", raw, 6 * MiB);
        free(raw);
        assert_qemu_agrees("s.qcow2", "s.raw");
        assert_int_equal(caixa_check("s.qcow2"), 0);
    }
}

static void test_read_backing_chain(void **st)
{
    (void)st;
    need_qemu();
    SH_OK("rm -f b.raw b.qcow2 c.qcow2 d.qcow2 && qemu-img create -q -f raw b.raw 4M && "
          "qemu-io -f raw -c 'write -P 0x42 0 4M' b.raw");
    SH_OK("qemu-img create -q -f qcow2 -b b.raw -F raw c.qcow2");
    SH_OK("qemu-io -f qcow2 -c 'write -P 0x99 100k 10k' -c 'write -z 1M 64k' c.qcow2");
    SH_OK("qemu-img create -q -f qcow2 -o compat=0.10 -b c.qcow2 -F qcow2 d.qcow2 6M");
    SH_OK("qemu-io -f qcow2 -c 'write -P 0x17 60k 8k' -c 'write -P 0x18 5M 4k' d.qcow2");
    assert_reads_like_qemu("c.qcow2");
    assert_reads_like_qemu("d.qcow2");
    struct image *img = image_open(tpath("d.qcow2"), IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    assert_non_null(image_parent(img));
    assert_string_equal(image_format_name(image_parent(image_parent(img))), "raw");
    struct image_info info;
    image_get_info(img, &info);
    assert_int_equal(info.virtual_size, 6 * MiB);
    assert_non_null(strstr(info.parent_path, "c.qcow2"));
    assert_non_null(strstr(info.variant, "v2"));
    image_close(img);
}

static void test_compressed(void **st)
{
    (void)st;
    need_qemu();
    /* Compressible but not trivial content. */
    size_t size = 3 * MiB;
    uint8_t *raw = malloc(size);
    for (size_t i = 0; i < size; i++)
        raw[i] = (uint8_t)((i * 2654435761u >> 13) % 5 + 'a' + (i / 65536) % 3);
    memset(raw + MiB, 0, 256 * KiB);
    spill("z.raw", raw, size);
    SH_OK("rm -f z.qcow2 && qemu-img convert -c -O qcow2 z.raw z.qcow2");
    struct stat sb;
    assert_int_equal(stat(tpath("z.qcow2"), &sb), 0);
    assert_true(sb.st_size < (off_t)size / 4);     /* it is compressed */
    assert_reads_like_qemu("z.qcow2");
    /* Overwriting parts of compressed clusters: COW out of them and the
     * shared host clusters' refcounts dropped. */
    struct image *img = image_open(tpath("z.qcow2"), 0);
    assert_non_null(img);
    for (unsigned k = 0; k < 20; k++) {
        size_t off = (k * 151u * 1024u) % (size - 8 * KiB);
        off &= ~(size_t)511;
        memset(raw + off, 0xc0 + k, 4 * KiB);
        assert_int_equal(image_write(img, off, raw + off, 4 * KiB), 0);
    }
    assert_int_equal(image_discard(img, 2 * MiB, 512 * KiB), 0);
    memset(raw + 2 * MiB, 0, 512 * KiB);
    image_close(img);
    spill("z.raw", raw, size);
    assert_qemu_agrees("z.qcow2", "z.raw");
    assert_int_equal(caixa_check("z.qcow2"), 0);
    /* Cloned into a new qcow2 (zero chunks stay unallocated). */
    img = image_open(tpath("z.qcow2"), IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    struct image_create_opts o = {.format = "qcow2"};
    assert_int_equal(image_clone(img, tpath("zc.qcow2"), &o), 0);
    image_close(img);
    assert_qemu_agrees("zc.qcow2", "z.raw");
    free(raw);
}

/* Random writes of every shape into an image caixa made. */
static void random_writes(struct image *img, uint8_t *ref, size_t size, unsigned seed, unsigned count)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    uint8_t *buf = malloc(512 * KiB);
    for (unsigned k = 0; k < count; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (x >> 20) % 3 == 0 ? ((x >> 8) % 1024 + 1) * 512 : ((x >> 8) % 16 + 1) * 512;
        size_t off = (size_t)((x >> 24) % (size / 512)) * 512;
        if (off + n > size)
            n = size - off;
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)(k * 7 + j / 512 + seed);
        assert_int_equal(image_write(img, off, buf, n), 0);
        memcpy(ref + off, buf, n);
        if (k % 17 == 0) {
            size_t m = (x >> 40) % (256 * KiB) / 512 * 512 + 512;
            if (m > size - off)
                m = size - off;
            uint8_t *r = malloc(m);
            assert_int_equal(image_read(img, off, r, m), 0);
            assert_memory_equal(r, ref + off, m);
            free(r);
        }
    }
    free(buf);
}

static void test_create_write_check(void **st)
{
    (void)st;
    size_t size = 24 * MiB;
    struct image_create_opts o = {.format = "qcow2", .size = size};
    assert_int_equal(image_create(tpath("w.qcow2"), &o), 0);
    struct image *img = image_open(tpath("w.qcow2"), 0);
    assert_non_null(img);
    assert_int_equal(image_size(img), size);
    uint8_t *ref = calloc(1, size);
    random_writes(img, ref, size, 1, 400);
    assert_int_equal(image_flush(img), 0);
    /* A second writer is refused. */
    assert_null(image_open(tpath("w.qcow2"), 0));
    image_close(img);
    assert_int_equal(caixa_check("w.qcow2"), 0);
    img = image_open(tpath("w.qcow2"), IMAGE_OPEN_RDONLY);
    uint8_t *got = malloc(size);
    assert_int_equal(image_read(img, 0, got, size), 0);
    assert_memory_equal(got, ref, size);
    image_close(img);
    if (have_qemu) {
        spill("w.raw", ref, size);
        assert_qemu_agrees("w.qcow2", "w.raw");
    }
    free(ref);
    free(got);
}

/* A child writes and flushes, then keeps allocating clusters and L2 tables
 * until SIGKILL: what was flushed reads back, and the image has at worst
 * leaked clusters (qemu-img check status 0 or 3, never 2: corruption). */
static void test_sigkill(void **st)
{
    (void)st;
    const uint64_t size = 4096ull * MiB;
    const uint64_t l2_span = 512ull * MiB;   /* one L2 table of 64 KiB clusters */
    struct image_create_opts o = {.format = "qcow2", .size = size};
    assert_int_equal(image_create(tpath("kill.qcow2"), &o), 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    static uint8_t b[192 * KiB];
    if (pid == 0) {
        close(pipefd[0]);
        struct image *img = image_open(tpath("kill.qcow2"), 0);
        if (!img)
            _exit(1);
        for (unsigned i = 0; i < 8; i++) {
            memset(b, 0x40 + i, sizeof b);
            if (image_write(img, i * l2_span / 2 + 12 * KiB, b, sizeof b) < 0)
                _exit(2);
        }
        if (image_flush(img) < 0 || write(pipefd[1], "f", 1) != 1)
            _exit(3);
        for (uint64_t i = 0;; i++) {
            memset(b, (int)(i & 0xff), 4 * KiB);
            image_write(img, (i * 7 * MiB + 4 * KiB) % size, b, 4 * KiB);
        }
    }
    close(pipefd[1]);
    char ch;
    assert_int_equal(read(pipefd[0], &ch, 1), 1);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    close(pipefd[0]);
    struct image *img = image_open(tpath("kill.qcow2"), IMAGE_OPEN_RDONLY);
    assert_non_null(img);
    static uint8_t got[192 * KiB];
    for (unsigned i = 0; i < 8; i++) {
        memset(b, 0x40 + i, sizeof b);
        assert_int_equal(image_read(img, i * l2_span / 2 + 12 * KiB, got, sizeof got), 0);
        assert_memory_equal(got, b, sizeof got);
    }
    image_close(img);
    if (have_qemu) {
        int rc = sh("qemu-img check -f qcow2 kill.qcow2");
        assert_true(rc == 0 || rc == 3);
    }
}

static void test_backing_cow_discard(void **st)
{
    (void)st;
    need_qemu();
    size_t size = 8 * MiB;
    SH_OK("rm -f base.qcow2 child.qcow2 && qemu-img create -q -f qcow2 base.qcow2 8M && "
          "qemu-io -f qcow2 -c 'write -P 0x61 0 3M' -c 'write -P 0x62 5M 3M' base.qcow2");
    SH_OK("rm -f base.raw && qemu-img convert -O raw base.qcow2 base.raw");
    uint8_t *ref = slurp("base.raw", size);
    /* A relative parent name is stored relative to the child. */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    struct image_create_opts o = {.format = "qcow2", .parent = "base.qcow2"};
    int rc = image_create("child.qcow2", &o);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    SH_OK("qemu-img info child.qcow2 | grep -q 'backing file: base.qcow2' && "
          "qemu-img info child.qcow2 | grep -q 'backing file format: qcow2'");
    struct image *img = image_open(tpath("child.qcow2"), 0);
    assert_non_null(img);
    assert_int_equal(image_size(img), size);
    random_writes(img, ref, size, 2, 150);
    /* Discard over a backing file: the clusters read as zeros. */
    assert_int_equal(image_discard(img, 64 * KiB, 256 * KiB), 0);
    memset(ref + 64 * KiB, 0, 256 * KiB);
    assert_int_equal(image_discard(img, 6 * MiB + 512, 200 * KiB), 0);   /* whole clusters inside only */
    memset(ref + 6 * MiB + 64 * KiB, 0, 128 * KiB);
    uint8_t *got = malloc(size);
    assert_int_equal(image_read(img, 0, got, size), 0);
    assert_memory_equal(got, ref, size);
    /* Grow: past the base's end reads zeros (the L1 table grows in place). */
    assert_int_equal(image_resize(img, 3ull << 30), 0);
    assert_int_equal(image_size(img), 3ull << 30);
    uint8_t tail[4096];
    memset(tail, 0x7e, sizeof tail);
    assert_int_equal(image_write(img, (3ull << 30) - 4096, tail, sizeof tail), 0);
    assert_int_equal(image_read(img, 16 * MiB, got, 4096), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(got[i], 0);
    image_close(img);
    SH_OK("qemu-img check child.qcow2");
    SH_OK("qemu-img info child.qcow2 | grep -q 'virtual size: 3 GiB'");
    SH_OK("qemu-io -r -f qcow2 -c 'read -P 0x7e 3221221376 4096' child.qcow2");   /* exits 1 on a mismatch */
    SH_OK("qemu-img resize -q -f qcow2 --shrink child.qcow2 8M");
    spill("child.raw", ref, size);
    assert_qemu_agrees("child.qcow2", "child.raw");
    assert_int_equal(caixa_check("child.qcow2"), 0);
    free(ref);
    free(got);
}

static void test_discard_without_backing_and_fixed(void **st)
{
    (void)st;
    size_t size = 4 * MiB;
    struct image_create_opts o = {.format = "qcow2", .size = size, .variant = IMAGE_VARIANT_FIXED};
    assert_int_equal(image_create(tpath("f.qcow2"), &o), 0);
    struct stat sb;
    assert_int_equal(stat(tpath("f.qcow2"), &sb), 0);
    assert_true((uint64_t)sb.st_size >= size);
    struct image *img = image_open(tpath("f.qcow2"), 0);
    assert_non_null(img);
    uint8_t *ref = calloc(1, size);
    random_writes(img, ref, size, 3, 100);
    assert_int_equal(image_discard(img, MiB, 2 * MiB), 0);
    memset(ref + MiB, 0, 2 * MiB);
    /* Freed clusters are reused. */
    random_writes(img, ref, size, 4, 50);
    image_close(img);
    assert_int_equal(caixa_check("f.qcow2"), 0);
    if (have_qemu) {
        spill("f.raw", ref, size);
        assert_qemu_agrees("f.qcow2", "f.raw");
    }
    free(ref);
}

/* 4 KiB clusters: one L1 cluster maps 1 GiB, so growing to 3 GiB moves
 * the L1 table. */
static void test_resize_moves_l1(void **st)
{
    (void)st;
    need_qemu();
    SH_OK("rm -f r.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=4096 r.qcow2 1G && "
          "qemu-io -f qcow2 -c 'write -P 0x21 1020M 8k' r.qcow2");
    struct image *img = image_open(tpath("r.qcow2"), 0);
    assert_non_null(img);
    assert_int_equal(image_resize(img, 3ull << 30), 0);
    uint8_t b[8192];
    memset(b, 0x22, sizeof b);
    assert_int_equal(image_write(img, (3ull << 30) - sizeof b, b, sizeof b), 0);
    assert_int_equal(image_read(img, 1020 * MiB, b, sizeof b), 0);
    for (size_t i = 0; i < sizeof b; i++)
        assert_int_equal(b[i], 0x21);
    image_close(img);
    SH_OK("qemu-img check r.qcow2");
    SH_OK("qemu-io -r -f qcow2 -c 'read -P 0x22 3221217280 8k' -c 'read -P 0x21 1020M 8k' "
          "-c 'read -P 0 1G 64k' r.qcow2");
    assert_int_equal(caixa_check("r.qcow2"), 0);
}

/* Small clusters: the refcount table fills up and moves (8 MiB of file). */
static void test_refcount_table_growth(void **st)
{
    (void)st;
    need_qemu();
    size_t size = 20 * MiB;
    SH_OK("rm -f g.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=512 g.qcow2 20M");
    struct image *img = image_open(tpath("g.qcow2"), 0);
    assert_non_null(img);
    uint8_t *ref = calloc(1, size);
    uint8_t *buf = malloc(MiB);
    for (size_t off = 0; off < size; off += MiB) {
        for (size_t j = 0; j < MiB; j++)
            buf[j] = (uint8_t)(off / MiB + j / 512);
        assert_int_equal(image_write(img, off, buf, MiB), 0);
        memcpy(ref + off, buf, MiB);
    }
    image_close(img);
    free(buf);
    spill("g.raw", ref, size);
    assert_qemu_agrees("g.qcow2", "g.raw");
    assert_int_equal(caixa_check("g.qcow2"), 0);
    free(ref);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Patches 4 big-endian bytes of a copy of w.qcow2; opening it fails with
 * a message containing want (NULL: it opens). */
static void patched_open(uint64_t at, uint32_t v, unsigned flags, const char *want)
{
    SH_OK("cp w0.qcow2 p.qcow2");
    int fd = open(tpath("p.qcow2"), O_RDWR);
    uint8_t b[4];
    put32(b, v);
    assert_int_equal(pwrite(fd, b, 4, (off_t)at), 4);
    close(fd);
    struct image *img = image_open(tpath("p.qcow2"), flags);
    if (!want) {
        assert_non_null(img);
        image_close(img);
        return;
    }
    assert_null(img);
    if (!strstr(image_last_error(), want))
        fail_msg("error '%s' lacks '%s'", image_last_error(), want);
    assert_null(strchr(image_last_error(), '\n'));
}

static void test_hostile_headers(void **st)
{
    (void)st;
    struct image_create_opts o = {.format = "qcow2", .size = 2 * MiB};
    assert_int_equal(image_create(tpath("w0.qcow2"), &o), 0);
    patched_open(20, 30, 0, "cluster_bits");
    patched_open(20, 8, 0, "cluster_bits");
    patched_open(36, 0, 0, "does not fit the L1 table");      /* l1_size 0 */
    patched_open(36, 0x7fffffff, 0, "L1 table");
    patched_open(44, 0x10001, 0, "L1 table");                  /* unaligned */
    patched_open(52, 0x7000000, 0, "refcount table");
    patched_open(56, 0, 0, "refcount table");
    patched_open(32, 1, 0, "encrypted");
    patched_open(76, 1u << 9, 0, "unknown incompatible");
    patched_open(76, 1u << 4, 0, "extended L2");
    patched_open(76, 1u << 2, 0, "external data");
    patched_open(76, 1, 0, NULL);                              /* dirty: repaired */
    patched_open(76, 1, IMAGE_OPEN_RDONLY, NULL);
    patched_open(76, 2, 0, "corrupt");                         /* writable: refused */
    patched_open(76, 2, IMAGE_OPEN_RDONLY, NULL);              /* read-only: fine */
    patched_open(100, 100, 0, "header_length");
    patched_open(96, 7, 0, "refcount_order");
    patched_open(12, 0x100, 0, "backing file name");           /* offset 256, size 0 */
    /* Truncated files. */
    SH_OK("head -c 50 w0.qcow2 > t.qcow2");
    assert_null(image_open(tpath("t.qcow2"), 0));
    SH_OK("head -c 100000 w0.qcow2 > t.qcow2");
    assert_null(image_open(tpath("t.qcow2"), 0));
    assert_non_null(strstr(image_last_error(), "outside the file"));
}

/* QEMU with lazy refcounts killed mid-way leaves the image dirty with
 * stale refcounts: a writable open rebuilds them. */
static void test_dirty_repair(void **st)
{
    (void)st;
    need_qemu();
    SH_OK("rm -f lz.qcow2 && qemu-img create -q -f qcow2 -o lazy_refcounts=on lz.qcow2 4M");
    /* (A shell of its own reports the abort into the log.) */
    sh("sh -c \"qemu-io -f qcow2 -c 'write -P 0x5a 0 300k' -c 'write -P 0x5b 2M 64k' -c abort lz.qcow2\"");
    assert_int_not_equal(sh("qemu-img check lz.qcow2"), 0);      /* stale: QEMU agrees */
    SH_OK("rm -f lz.raw && qemu-img convert -O raw lz.qcow2 lz.raw");
    assert_true(caixa_check("lz.qcow2") > 0);
    struct image *img = image_open(tpath("lz.qcow2"), 0);
    if (!img)
        fail_msg("%s", image_last_error());
    uint8_t b[4096];
    memset(b, 0x5c, sizeof b);
    assert_int_equal(image_write(img, 3 * MiB, b, sizeof b), 0);
    image_close(img);
    uint8_t *raw = slurp("lz.raw", 4 * MiB);
    memcpy(raw + 3 * MiB, b, sizeof b);
    spill("lz.raw", raw, 4 * MiB);
    free(raw);
    assert_qemu_agrees("lz.qcow2", "lz.raw");
    SH_OK("qemu-img info lz.qcow2 | grep -q 'corrupt: false'");
    assert_int_equal(caixa_check("lz.qcow2"), 0);
}

static void test_check_finds_problems(void **st)
{
    (void)st;
    need_qemu();
    SH_OK("rm -f k.qcow2 && qemu-img create -q -f qcow2 k.qcow2 4M && "
          "qemu-io -f qcow2 -c 'write -P 1 0 256k' k.qcow2");
    assert_int_equal(caixa_check("k.qcow2"), 0);
    /* Refcount block at cluster 2: give cluster 40 (unused) refcount 1 and
     * drop the first data cluster's (cluster 4) to 0. */
    int fd = open(tpath("k.qcow2"), O_RDWR);
    uint8_t one[2] = {0, 1}, zero[2] = {0, 0};
    assert_int_equal(pwrite(fd, one, 2, 2 * 65536 + 40 * 2), 2);
    assert_int_equal(pwrite(fd, zero, 2, 2 * 65536 + 4 * 2), 2);
    close(fd);
    assert_int_not_equal(sh("qemu-img check k.qcow2"), 0);
    /* the L2 table's refcount below its references; cluster 40 (past the
     * end of the file) refcounted */
    assert_int_equal(caixa_check("k.qcow2"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_qemu_v3_v2),
        cmocka_unit_test(test_read_small_clusters_refcount_widths),
        cmocka_unit_test(test_read_backing_chain),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_create_write_check),
        cmocka_unit_test(test_sigkill),
        cmocka_unit_test(test_backing_cow_discard),
        cmocka_unit_test(test_discard_without_backing_and_fixed),
        cmocka_unit_test(test_resize_moves_l1),
        cmocka_unit_test(test_refcount_table_growth),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_dirty_repair),
        cmocka_unit_test(test_check_finds_problems),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
