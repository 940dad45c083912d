/* diskio: the disk benchmark's in-guest workload (bench/disk.py builds it
 * static and puts it in the bench guest's initramfs). Direct I/O on a block
 * device, so the guest's page cache does not hide the controller:
 *
 *   diskio DEVICE seqread|seqwrite|randread|randwrite MIB
 *
 * Sequential modes move MIB MiB in 1 MiB requests from offset 0; random
 * modes make MIB*256 requests of 4 KiB at 4 KiB-aligned offsets spread over
 * the first MIB MiB (a fixed pseudo-random sequence, the same every run).
 * Writes end with fdatasync, inside the timing. Prints one line:
 *   MODE BYTES SECONDS MB/s IOPS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BLOCK (1u << 20)
#define RAND_BLOCK 4096u

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: diskio DEVICE seqread|seqwrite|randread|randwrite MIB\n");
        return 2;
    }
    const char *mode = argv[2];
    long mib = atol(argv[3]);
    int write_mode = strstr(mode, "write") != NULL;
    int random_mode = strncmp(mode, "rand", 4) == 0;
    if (mib <= 0 || (!random_mode && strncmp(mode, "seq", 3)) || (!write_mode && !strstr(mode, "read"))) {
        fprintf(stderr, "diskio: bad mode or size\n");
        return 2;
    }
    int fd = open(argv[1], (write_mode ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    size_t bs = random_mode ? RAND_BLOCK : SEQ_BLOCK;
    void *buf;
    if (posix_memalign(&buf, 4096, bs)) {
        perror("posix_memalign");
        return 1;
    }
    memset(buf, 0x5a, bs);
    uint64_t span = (uint64_t)mib << 20;
    uint64_t count = random_mode ? span / RAND_BLOCK : span / SEQ_BLOCK;
    uint64_t blocks = span / RAND_BLOCK;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    double t0 = now();
    for (uint64_t i = 0; i < count; i++) {
        uint64_t off;
        if (random_mode) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;   /* xorshift64 */
            off = (x % blocks) * RAND_BLOCK;
        } else {
            off = i * SEQ_BLOCK;
        }
        ssize_t n = write_mode ? pwrite(fd, buf, bs, (off_t)off) : pread(fd, buf, bs, (off_t)off);
        if (n != (ssize_t)bs) {
            perror("diskio: I/O");
            return 1;
        }
    }
    if (write_mode && fdatasync(fd) < 0) {
        perror("diskio: fdatasync");
        return 1;
    }
    double secs = now() - t0;
    printf("%s %llu %.3f %.2f %.0f\n", mode, (unsigned long long)(count * bs), secs,
           (double)(count * bs) / 1e6 / secs, (double)count / secs);
    close(fd);
    return 0;
}
