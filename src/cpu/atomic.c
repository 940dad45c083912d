/* LOCK-prefixed read-modify-write and XCHG with memory, atomic with respect
 * to the other vCPUs (SDM Vol. 3A 8.1.2.2).
 *
 * The rule: an operand in RAM that fits in one aligned 8-byte word (aligned
 * 16 bytes for CMPXCHG16B) is changed with a host atomic on its host
 * pointer (misaligned ones inside the word by a compare-and-swap of the
 * whole word), so it is atomic against every access of the other vCPUs.
 * Anything else (split across words or pages, MMIO, ROM) is a bus-locked
 * cycle: read and write under one process-wide mutex, which makes it
 * atomic against the other bus-locked cycles, but not against host atomics
 * or plain stores that other vCPUs make to the same bytes meanwhile. Guests
 * avoid split locks (they are slow on hardware, and an error under
 * split-lock detection), so this corner stays simple.
 *
 * Write access is checked before any change, so a fault leaves memory as
 * it was; the old value is returned for the caller's flags. */
#include <pthread.h>

#include "cpu/cpu_int.h"

/* The bus lock of the split/MMIO path. One VM per process (DESIGN.md), so
 * one bus. Nothing can fault while it is held. */
static pthread_mutex_t bus_lock = PTHREAD_MUTEX_INITIALIZER;

#define CAS_WORD 8u

/* The new value of an operand of size `m` (a mask) for op, old and src. */
static uint64_t lk_apply(unsigned op, uint64_t old, uint64_t src, uint64_t m)
{
    switch (op) {
    case LK_ADD: return (old + src) & m;
    case LK_OR: return (old | src) & m;
    case LK_AND: return old & src & m;
    case LK_XOR: return (old ^ src) & m;
    case LK_XCHG: return src & m;
    default: return (0 - old) & m;   /* LK_NEG */
    }
}

/* Host atomics on a naturally aligned operand of one size. */
#define HOST_RMW(T)                                                                         \
    static uint64_t rmw_##T(T *p, unsigned op, T src)                                       \
    {                                                                                       \
        switch (op) {                                                                       \
        case LK_ADD: return __atomic_fetch_add(p, src, __ATOMIC_SEQ_CST);                   \
        case LK_OR: return __atomic_fetch_or(p, src, __ATOMIC_SEQ_CST);                     \
        case LK_AND: return __atomic_fetch_and(p, src, __ATOMIC_SEQ_CST);                   \
        case LK_XOR: return __atomic_fetch_xor(p, src, __ATOMIC_SEQ_CST);                   \
        case LK_XCHG: return __atomic_exchange_n(p, src, __ATOMIC_SEQ_CST);                 \
        default: {                                                                          \
            T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                   \
            while (!__atomic_compare_exchange_n(p, &old, (T)((T)0 - old), false,           \
                                                __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))        \
                ;                                                                           \
            return old;                                                                     \
        }                                                                                   \
        }                                                                                   \
    }                                                                                       \
    static uint64_t cas_##T(T *p, T expect, T src)                                          \
    {                                                                                       \
        __atomic_compare_exchange_n(p, &expect, src, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
        return expect;                                                                      \
    }
HOST_RMW(uint8_t)
HOST_RMW(uint16_t)
HOST_RMW(uint32_t)
HOST_RMW(uint64_t)

/* A misaligned operand inside one aligned 8-byte word: compare-and-swap of
 * the word, other bytes unchanged. cmp: CMPXCHG's expected value, or NULL. */
static uint64_t word_rmw(uint8_t *p, unsigned size, unsigned op, uint64_t src, const uint64_t *cmp)
{
    unsigned shift = (unsigned)((uintptr_t)p & (CAS_WORD - 1)) * 8;
    uint64_t *w = (uint64_t *)(void *)(p - ((uintptr_t)p & (CAS_WORD - 1)));
    uint64_t m = size_mask(size);
    uint64_t cur = __atomic_load_n(w, __ATOMIC_RELAXED), old, nw;
    do {
        old = (cur >> shift) & m;
        uint64_t val = cmp ? (old == (*cmp & m) ? src & m : old) : lk_apply(op, old, src, m);
        nw = (cur & ~(m << shift)) | (val << shift);
    } while (!__atomic_compare_exchange_n(w, &cur, nw, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return old;
}

static uint64_t host_rmw(uint8_t *p, unsigned size, unsigned op, uint64_t src, const uint64_t *cmp)
{
    if ((uintptr_t)p & (size - 1))
        return word_rmw(p, size, op, src, cmp);
    switch (size) {
    case 1: return cmp ? cas_uint8_t(p, (uint8_t)*cmp, (uint8_t)src) : rmw_uint8_t(p, op, (uint8_t)src);
    case 2: {
        uint16_t *q = (uint16_t *)(void *)p;
        return cmp ? cas_uint16_t(q, (uint16_t)*cmp, (uint16_t)src) : rmw_uint16_t(q, op, (uint16_t)src);
    }
    case 4: {
        uint32_t *q = (uint32_t *)(void *)p;
        return cmp ? cas_uint32_t(q, (uint32_t)*cmp, (uint32_t)src) : rmw_uint32_t(q, op, (uint32_t)src);
    }
    default: {
        uint64_t *q = (uint64_t *)(void *)p;
        return cmp ? cas_uint64_t(q, *cmp, src) : rmw_uint64_t(q, op, src);
    }
    }
}

/* Reads or writes len bytes at phys in accesses of 8, 4, 2 and 1 bytes, so
 * that an MMIO register sees one access of the operand's size. */
static void phys_part(struct physmem *mem, uint64_t phys, uint8_t *buf, unsigned len, bool write)
{
    while (len) {
        unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
        uint64_t v = 0;
        if (write) {
            memcpy(&v, buf, n);
            physmem_write(mem, phys, v, n);
        } else {
            v = physmem_read(mem, phys, n);
            memcpy(buf, &v, n);
        }
        phys += n;
        buf += n;
        len -= n;
    }
}

static void target_access(struct cpu *cpu, const struct locked_target *t, unsigned size, uint8_t *buf, bool write)
{
    if (t->host) {
        if (write)
            memcpy(t->host, buf, size);
        else
            memcpy(buf, t->host, size);
        return;
    }
    phys_part(cpu->mem, t->phys[0], buf, t->first, write);
    if (size > t->first)
        phys_part(cpu->mem, t->phys[1], buf + t->first, size - t->first, write);
}

/* The bus-locked cycle: `size` bytes (up to 16) read, changed by fn, written. */
static void bus_cycle(struct cpu *cpu, const struct locked_target *t, unsigned size, uint8_t *old,
                      uint8_t *(*fn)(const uint8_t *old, const void *arg, uint8_t *buf), const void *arg)
{
    uint8_t buf[16];
    pthread_mutex_lock(&bus_lock);
    target_access(cpu, t, size, old, false);
    uint8_t *nv = fn(old, arg, buf);
    target_access(cpu, t, size, nv, true);
    pthread_mutex_unlock(&bus_lock);
}

struct scalar_arg {
    unsigned size, op;
    uint64_t src;
    const uint64_t *cmp;
};

static uint8_t *scalar_fn(const uint8_t *old, const void *arg, uint8_t *buf)
{
    const struct scalar_arg *a = arg;
    uint64_t m = size_mask(a->size), o = 0, v;
    memcpy(&o, old, a->size);
    if (a->cmp)
        v = o == (*a->cmp & m) ? a->src & m : o;
    else
        v = lk_apply(a->op, o, a->src, m);
    memcpy(buf, &v, a->size);
    return buf;
}

/* Slow-path writes may hit code pages: tell their holders afterwards. */
static void notify_written(struct cpu *cpu, const struct locked_target *t)
{
    if (!t->slow)
        return;
    smp_phys_written(cpu, t->phys[0]);
    if ((t->phys[1] ^ t->phys[0]) & PAGE_MASK)
        smp_phys_written(cpu, t->phys[1]);
}

static bool fits_word(const uint8_t *host, unsigned size)
{
    return ((uintptr_t)host & (CAS_WORD - 1)) + size <= CAS_WORD;
}

static uint64_t locked_op(struct cpu *cpu, uint64_t lin, unsigned size, unsigned op, uint64_t src,
                          const uint64_t *cmp)
{
    struct locked_target t;
    lin_locked_target(cpu, lin, size, &t);
    if (t.host && !t.slow && fits_word(t.host, size))
        return host_rmw(t.host, size, op, src, cmp);   /* the common case */
    uint64_t old = 0;
    if (t.host && fits_word(t.host, size)) {
        old = host_rmw(t.host, size, op, src, cmp);
    } else {
        struct scalar_arg a = { size, op, src, cmp };
        uint8_t ob[8];
        bus_cycle(cpu, &t, size, ob, scalar_fn, &a);
        memcpy(&old, ob, size);
    }
    notify_written(cpu, &t);
    return old;
}

uint64_t locked_rmw(struct cpu *cpu, uint64_t lin, unsigned size, unsigned op, uint64_t src)
{
    return locked_op(cpu, lin, size, op, src, NULL);
}

uint64_t locked_cmpxchg(struct cpu *cpu, uint64_t lin, unsigned size, uint64_t expect, uint64_t src)
{
    return locked_op(cpu, lin, size, 0, src, &expect);
}

/* --- CMPXCHG16B ------------------------------------------------------------
 * A 16-byte compare-and-swap: gcc calls libatomic for __atomic on
 * unsigned __int128 even with -mcx16, so the host instruction is used
 * directly (every x86-64 host this runs on has CMPXCHG16B). */
#if defined(__x86_64__)
#define HAVE_CAS16 1
struct u128 {
    uint64_t q[2];
};

static bool host_cas16(uint8_t *p, uint64_t cmp[2], const uint64_t src[2])
{
    struct u128 *m = (struct u128 *)(void *)p;
    uint64_t lo = cmp[0], hi = cmp[1];
    bool ok;
    __asm__ __volatile__("lock cmpxchg16b %[m]\n\tsete %[ok]"
                         : [m] "+m"(*m), "+a"(lo), "+d"(hi), [ok] "=q"(ok)
                         : "b"(src[0]), "c"(src[1])
                         : "memory", "cc");
    cmp[0] = lo;
    cmp[1] = hi;
    return ok;
}
#endif

struct cas16_arg {
    uint64_t *cmp;
    const uint64_t *src;
};

static uint8_t *cas16_fn(const uint8_t *old, const void *arg, uint8_t *buf)
{
    const struct cas16_arg *a = arg;
    uint64_t o[2];
    memcpy(o, old, 16);
    if (o[0] == a->cmp[0] && o[1] == a->cmp[1])
        memcpy(buf, a->src, 16);
    else
        memcpy(buf, old, 16);
    return buf;
}

bool locked_cmpxchg16(struct cpu *cpu, uint64_t lin, uint64_t cmp[2], const uint64_t src[2])
{
    struct locked_target t;
    lin_locked_target(cpu, lin, 16, &t);
    bool eq;
#if HAVE_CAS16
    if (t.host && !((uintptr_t)t.host & 15)) {
        eq = host_cas16(t.host, cmp, src);
    } else
#endif
    {
        struct cas16_arg a = { cmp, src };
        uint8_t ob[16];
        uint64_t o[2];
        bus_cycle(cpu, &t, 16, ob, cas16_fn, &a);
        memcpy(o, ob, 16);
        eq = o[0] == cmp[0] && o[1] == cmp[1];
        cmp[0] = o[0];
        cmp[1] = o[1];
    }
    notify_written(cpu, &t);
    return eq;
}
