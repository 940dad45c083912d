/* Port I/O dispatch: the 64 Ki ports of the x86 I/O space, each owned by
 * at most one registered range. Unassigned ports read all ones and drop
 * writes (ISA bus behaviour). The caller holds the platform lock. */
#ifndef CAIXA_VMM_PIO_H
#define CAIXA_VMM_PIO_H

#include <stdint.h>

#include "vmm/device.h" /* pio_ops */

#define PIO_PORTS 0x10000u
#define PIO_MAX_RANGES 256

struct pio_table;

struct pio_table *pio_table_new(void);
void pio_table_free(struct pio_table *t);
/* Returns 0, or -1 (errno EEXIST if any port is taken, EINVAL for a range
 * past 0xFFFF or of length 0, ENOSPC when the table is full). */
int pio_register(struct pio_table *t, uint16_t base, uint16_t len, const pio_ops *ops, void *opaque);
/* Removes the range registered at exactly base/len (a PCI BAR moving).
 * Returns 0, or -1 with errno ENOENT. */
int pio_unregister(struct pio_table *t, uint16_t base, uint16_t len);
/* size 1, 2 or 4. An access whose bytes belong to different ranges (or
 * none) is split into byte accesses. */
uint32_t pio_in(struct pio_table *t, uint16_t port, unsigned size);
void pio_out(struct pio_table *t, uint16_t port, unsigned size, uint32_t val);

#endif
