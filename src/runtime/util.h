/* Small helpers over libc: allocation that never returns NULL, whole-file
 * reads, the host monotonic clock, strict number parsing. */
#ifndef CAIXA_RUNTIME_UTIL_H
#define CAIXA_RUNTIME_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Little-endian fields of n bytes (n <= 8) in byte buffers: guest tables,
 * PCI configuration space, boot headers, wire formats. */
static inline void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* v rounded up to a multiple of a (a > 0). */
static inline uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* Out of host memory for bookkeeping: one line and exit status 1. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* Reads a whole regular file of at most max_size bytes into *buf (malloc'd).
 * Returns 0, or -1 with errno set (EFBIG when larger than max_size). */
int read_file(const char *path, size_t max_size, uint8_t **buf, size_t *len);

/* CLOCK_MONOTONIC in ns. */
uint64_t mono_ns(void);

/* Decimal (or 0x hexadecimal) unsigned number with nothing after it. */
bool parse_u64(const char *s, uint64_t *out);

#endif
