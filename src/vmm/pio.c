#include "vmm/pio.h"

#include <errno.h>
#include <stdlib.h>

#include "runtime/util.h"

struct pio_range {
    uint16_t base;
    uint32_t len;
    const pio_ops *ops;
    void *opaque;
};

struct pio_table {
    /* owner[port]: index + 1 into ranges, 0 = unassigned. */
    uint16_t owner[PIO_PORTS];
    struct pio_range ranges[PIO_MAX_RANGES];
    unsigned n;
};

struct pio_table *pio_table_new(void)
{
    return xcalloc(1, sizeof(struct pio_table));
}

void pio_table_free(struct pio_table *t)
{
    free(t);
}

int pio_register(struct pio_table *t, uint16_t base, uint16_t len, const pio_ops *ops, void *opaque)
{
    if (len == 0 || (uint32_t)base + len > PIO_PORTS || !ops) {
        errno = EINVAL;
        return -1;
    }
    for (uint32_t p = base; p < (uint32_t)base + len; p++) {
        if (t->owner[p]) {
            errno = EEXIST;
            return -1;
        }
    }
    /* A slot freed by pio_unregister (len 0) first, else a new one. */
    unsigned slot = 0;
    while (slot < t->n && t->ranges[slot].len)
        slot++;
    if (slot == PIO_MAX_RANGES) {
        errno = ENOSPC;
        return -1;
    }
    t->ranges[slot] = (struct pio_range){base, len, ops, opaque};
    if (slot == t->n)
        t->n++;
    for (uint32_t p = base; p < (uint32_t)base + len; p++)
        t->owner[p] = (uint16_t)(slot + 1);
    return 0;
}

int pio_unregister(struct pio_table *t, uint16_t base, uint16_t len)
{
    uint16_t o = t->owner[base];
    if (!o || t->ranges[o - 1].base != base || t->ranges[o - 1].len != len) {
        errno = ENOENT;
        return -1;
    }
    for (uint32_t p = base; p < (uint32_t)base + len; p++)
        t->owner[p] = 0;
    t->ranges[o - 1].len = 0;
    return 0;
}

static uint32_t ones(unsigned size)
{
    return size >= 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
}

/* The range that owns all `size` ports from `port`, or NULL. */
static const struct pio_range *whole(struct pio_table *t, uint16_t port, unsigned size)
{
    uint16_t o = t->owner[port];
    if (!o)
        return NULL;
    const struct pio_range *r = &t->ranges[o - 1];
    return (uint32_t)port + size <= (uint32_t)r->base + r->len ? r : NULL;
}

uint32_t pio_in(struct pio_table *t, uint16_t port, unsigned size)
{
    if (size != 1 && size != 2 && size != 4)
        return 0;
    const struct pio_range *r = whole(t, port, size);
    if (r)
        return r->ops->read ? r->ops->read(r->opaque, (uint16_t)(port - r->base), size) & ones(size)
                            : ones(size);
    if (size == 1)
        return ones(1);
    /* Straddling or unassigned: byte by byte (ports wrap at 0xFFFF). */
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= pio_in(t, (uint16_t)(port + i), 1) << (8 * i);
    return v;
}

void pio_out(struct pio_table *t, uint16_t port, unsigned size, uint32_t val)
{
    if (size != 1 && size != 2 && size != 4)
        return;
    const struct pio_range *r = whole(t, port, size);
    if (r) {
        if (r->ops->write)
            r->ops->write(r->opaque, (uint16_t)(port - r->base), val & ones(size), size);
        return;
    }
    if (size == 1)
        return;
    for (unsigned i = 0; i < size; i++)
        pio_out(t, (uint16_t)(port + i), 1, (val >> (8 * i)) & 0xff);
}
