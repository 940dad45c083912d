/* PCI functions with a standard type-0 header (PCI Local Bus Spec 3.0,
 * 6.1-6.2, 6.7): the header's read-only and writable fields, BAR sizing and
 * decoding, capabilities, INTx wired-OR on the PIIX PIRQ lines, and
 * bus-master DMA. */
#include <errno.h>
#include <string.h>

#include "runtime/log.h"
#include "runtime/util.h"
#include "vmm/pio.h"
#include "vmm/vm_int.h"

/* Command bits a guest may set (6.2.2): I/O, memory, bus master, parity
 * error response, SERR# enable, interrupt disable. */
#define PCI_CMD_WMASK 0x0547
/* Status bits that are write-1-to-clear (6.2.3): parity, SERR#, master and
 * target aborts, data parity. */
#define PCI_STS_W1C 0xF900
#define PCI_CAP_FIRST 0x40
#define PCI_IO_LIMIT 0x10000ull
#define BAR_IO_FLAG 0x1                 /* bit 0: I/O space indicator */
#define BAR_MEM64_TYPE 0x4              /* bits 2:1 = 10b: 64-bit memory */

void pci_function_init(pci_function *f, struct vm *vm, uint8_t devfn, const struct pci_id *id)
{
    memset(f, 0, sizeof(*f));
    f->vm = vm;
    f->devfn = devfn;
    uint8_t *c = f->config;
    put_le(&c[PCI_VENDOR_ID], id->vendor, 2);
    put_le(&c[PCI_DEVICE_ID], id->device, 2);
    c[PCI_REVISION_ID] = id->revision;
    c[PCI_PROG_IF] = id->prog_if;
    c[PCI_SUBCLASS] = id->subclass;
    c[PCI_CLASS] = id->class_code;
    put_le(&c[PCI_SUBSYS_VENDOR], id->subsys_vendor, 2);
    put_le(&c[PCI_SUBSYS_ID], id->subsys, 2);
    c[PCI_INT_PIN] = id->int_pin;
    put_le(&f->wmask[PCI_COMMAND], PCI_CMD_WMASK, 2);
    put_le(&f->w1c[PCI_STATUS], PCI_STS_W1C, 2);
    f->wmask[PCI_CACHE_LINE] = 0xFF;
    f->wmask[PCI_LATENCY] = 0xFF;
    f->wmask[PCI_INT_LINE] = 0xFF;
    f->next_cap = PCI_CAP_FIRST;
}

void pci_function_bar(pci_function *f, unsigned n, enum pci_bar_kind kind, uint64_t size,
                      const void *ops, void *opaque)
{
    if (n >= PCI_NUM_BARS || (kind == PCI_BAR_MEM64 && n + 1 >= PCI_NUM_BARS))
        return;
    struct pci_bar *b = &f->bar[n];
    *b = (struct pci_bar){.kind = kind, .size = size, .opaque = opaque};
    if (kind == PCI_BAR_IO)
        b->pio = ops;
    else
        b->mmio = ops;
    uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * n);
    uint64_t mask = ~(size - 1);
    uint32_t low = kind == PCI_BAR_IO ? BAR_IO_FLAG : kind == PCI_BAR_MEM64 ? BAR_MEM64_TYPE : 0;
    put_le(&f->config[reg], low, 4);
    put_le(&f->wmask[reg], (uint32_t)mask & (kind == PCI_BAR_IO ? ~3u : ~15u), 4);
    if (kind == PCI_BAR_MEM64)
        put_le(&f->wmask[reg + 4], (uint32_t)(mask >> 32), 4);
}

uint8_t pci_add_capability(pci_function *f, uint8_t cap_id, uint8_t len)
{
    unsigned off = f->next_cap;
    if (len < 2 || off + len > PCI_CFG_SPACE)
        return 0;
    f->config[off] = cap_id;
    f->config[off + 1] = f->config[PCI_CAP_PTR];   /* newest first in the list */
    f->config[PCI_CAP_PTR] = (uint8_t)off;
    f->config[PCI_STATUS] |= PCI_STS_CAP_LIST;
    f->next_cap = (uint8_t)align_up(off + len, 4);
    if (off + len > 0xFC)
        f->next_cap = 0xFF;
    return (uint8_t)off;
}

static uint64_t bar_address(const pci_function *f, unsigned n)
{
    const struct pci_bar *b = &f->bar[n];
    uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * n);
    uint64_t a = get_le(&f->config[reg], 4) & (b->kind == PCI_BAR_IO ? ~3ull : ~15ull);
    if (b->kind == PCI_BAR_MEM64)
        a |= get_le(&f->config[reg + 4], 4) << 32;
    return a;
}

static void bar_unmap(pci_function *f, struct pci_bar *b)
{
    if (!b->mapped)
        return;
    if (b->kind == PCI_BAR_IO)
        vm_unregister_pio(f->vm, (uint16_t)b->addr, (uint16_t)b->size);
    else
        vm_unregister_mmio(f->vm, b->addr, b->size);
    b->mapped = false;
}

/* Decode follows the command register and the BAR (6.2.5.1): a BAR at 0,
 * past the I/O space or the 32-bit memory space, or overlapping another
 * region stays unmapped (a guest sizing or misprogramming BARs). */
static void bars_update(pci_function *f)
{
    uint16_t cmd = (uint16_t)get_le(&f->config[PCI_COMMAND], 2);
    for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
        struct pci_bar *b = &f->bar[n];
        if (b->kind == PCI_BAR_NONE)
            continue;
        uint64_t a = bar_address(f, n);
        bool io = b->kind == PCI_BAR_IO;
        bool want = (cmd & (io ? PCI_CMD_IO : PCI_CMD_MEM)) && a != 0 && a + b->size > a &&
                    (io ? a + b->size <= PCI_IO_LIMIT : a + b->size <= FOUR_GIB || b->kind == PCI_BAR_MEM64);
        if (b->mapped && (!want || a != b->addr))
            bar_unmap(f, b);
        if (!want || b->mapped)
            continue;
        struct vm *vm = f->vm;
        int rc;
        if (io)
            rc = vm_map_pio(vm, (uint16_t)a, (uint16_t)b->size, b->pio, b->opaque);
        else
            rc = vm_map_mmio(vm, a, b->size, b->mmio, b->opaque);
        if (rc == 0) {
            b->mapped = true;
            b->addr = a;
        } else {
            log_debug("PCI %02x.%u: BAR%u at 0x%llx not mapped: %s", f->devfn >> 3, f->devfn & 7, n,
                      (unsigned long long)a, strerror(errno));
        }
    }
}

/* The level of the PIRQ line this function's INTx pin is wired to. */
static void intx_update(pci_function *f)
{
    unsigned pin = f->config[PCI_INT_PIN];
    if (pin < 1 || pin > 4)
        return;
    unsigned gsi = PCI_INTX_GSI(f->devfn >> 3, pin);
    struct vm *vm = f->vm;
    int level = 0;
    for (unsigned d = 0; d < VM_PCI_DEVFNS; d++) {
        pci_function *o = vm->pci[d].fn;
        if (!o || !o->intx_level || o->config[PCI_INT_PIN] < 1 || o->config[PCI_INT_PIN] > 4)
            continue;
        if (get_le(&o->config[PCI_COMMAND], 2) & PCI_CMD_INTX_DISABLE)
            continue;
        if (PCI_INTX_GSI(o->devfn >> 3, o->config[PCI_INT_PIN]) == (int)gsi)
            level = 1;
    }
    vm_set_irq(vm, gsi, level);
}

void pci_set_intx(pci_function *f, int level)
{
    f->intx_level = level != 0;
    if (level)
        f->config[PCI_STATUS] |= PCI_STS_INTX;
    else
        f->config[PCI_STATUS] &= (uint8_t)~PCI_STS_INTX;
    intx_update(f);
}

static uint32_t pf_config_read(void *opaque, uint8_t reg, unsigned size)
{
    pci_function *f = opaque;
    return (uint32_t)get_le(&f->config[reg], size);
}

static void pf_config_write(void *opaque, uint8_t reg, uint32_t val, unsigned size)
{
    pci_function *f = opaque;
    for (unsigned i = 0; i < size; i++) {
        unsigned r = reg + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        f->config[r] = (uint8_t)((f->config[r] & ~f->wmask[r]) | (b & f->wmask[r]));
        f->config[r] &= (uint8_t)~(b & f->w1c[r]);
    }
    if (reg < PCI_BAR0 + 4 * PCI_NUM_BARS && reg + size > (unsigned)PCI_COMMAND) {
        bars_update(f);
        intx_update(f);
    }
    if (f->config_written)
        f->config_written(f, reg, size);
}

static const pci_ops pf_pci_ops = {pf_config_read, pf_config_write};

int pci_function_register(pci_function *f)
{
    if (vm_pci_register(f->vm, f->devfn, &pf_pci_ops, f) < 0)
        return -1;
    f->vm->pci[f->devfn].fn = f;
    return 0;
}

void pci_function_reset(pci_function *f)
{
    put_le(&f->config[PCI_COMMAND], 0, 2);
    f->config[PCI_STATUS + 1] = 0;
    f->config[PCI_CACHE_LINE] = 0;
    f->config[PCI_LATENCY] = 0;
    f->config[PCI_INT_LINE] = 0;
    for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
        struct pci_bar *b = &f->bar[n];
        if (b->kind == PCI_BAR_NONE)
            continue;
        bar_unmap(f, b);
        uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * n);
        put_le(&f->config[reg], get_le(&f->config[reg], 4) & ~get_le(&f->wmask[reg], 4), 4);
        if (b->kind == PCI_BAR_MEM64)
            put_le(&f->config[reg + 4], 0, 4);
    }
    pci_set_intx(f, 0);
}

static bool dma(pci_function *f, uint64_t addr, void *buf, size_t len, bool write)
{
    if (!(get_le(&f->config[PCI_COMMAND], 2) & PCI_CMD_MASTER))
        return false;
    return physmem_rw(&f->vm->mem, addr, buf, len, write);
}

bool pci_dma_read(pci_function *f, uint64_t addr, void *buf, size_t len)
{
    return dma(f, addr, buf, len, false);
}

bool pci_dma_write(pci_function *f, uint64_t addr, const void *buf, size_t len)
{
    return dma(f, addr, (void *)buf, len, true);
}
