/* The host's side of a test's image files: its page cache (writeback
 * tests) and its refusals (failed-write tests). */
#ifndef CAIXA_TESTS_HOST_FILE_H
#define CAIXA_TESTS_HOST_FILE_H

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The file's dirty pages (cachestat(2), Linux 6.5; Debian 12's headers
 * predate it), or -1 where that cannot be told: an older kernel, or tmpfs,
 * which has no writeback. */
static inline long dirty_pages(const char *path)
{
    struct { uint64_t off, len; } range = {0, 0};
    struct { uint64_t cache, dirty, writeback, evicted, recently_evicted; } cs;
    struct statfs sf;
    if (statfs(path, &sf) < 0 || sf.f_type == TMPFS_MAGIC)
        return -1;
    int fd = open(path, O_RDONLY);
    long rc = fd < 0 ? -1 : syscall(451 /* __NR_cachestat */, fd, &range, &cs, 0);
    if (fd >= 0)
        close(fd);
    return rc < 0 ? -1 : (long)cs.dirty;
}

/* Makes the host refuse writes past `bytes` of any file (RLIMIT_FSIZE:
 * EFBIG, with SIGXFSZ ignored); *old gets the limit to restore with
 * setrlimit(RLIMIT_FSIZE, old). 0, or -1. */
static inline int limit_file_size(uint64_t bytes, struct rlimit *old)
{
    if (getrlimit(RLIMIT_FSIZE, old) < 0)
        return -1;
    struct rlimit lim = {bytes, old->rlim_max};
    signal(SIGXFSZ, SIG_IGN);
    return setrlimit(RLIMIT_FSIZE, &lim);
}

#endif
