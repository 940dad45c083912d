#include "runtime/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/errors.h"
#include "runtime/log.h"

static void out_of_memory(size_t n)
{
    log_error("out of host memory (%zu bytes)", n);
    exit(CAIXA_EXIT_FAILURE);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

int read_file(const char *path, size_t max_size, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        goto fail;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    if ((uint64_t)st.st_size > max_size) {
        errno = EFBIG;
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *p = xmalloc(size);
    size_t done = 0;
    while (done < size) {
        ssize_t r = read(fd, p + done, size - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the file shrank under us */
            free(p);
            goto fail;
        }
        done += (size_t)r;
    }
    close(fd);
    *buf = p;
    *len = size;
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool parse_u64(const char *s, uint64_t *out)
{
    if (!s)
        return false;
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    /* strtoull alone would take signs and leading blanks. */
    if (!*s)
        return false;
    for (const char *c = s; *c; c++)
        if (!(base == 16 ? isxdigit((unsigned char)*c) : isdigit((unsigned char)*c)))
            return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end || end == s)
        return false;
    *out = v;
    return true;
}
