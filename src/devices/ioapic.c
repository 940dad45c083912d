/* Intel 82093AA I/O APIC at 0xFEC00000: 24 interrupt inputs, each with a
 * redirection entry that turns it into a message to the local APICs.
 * Reference: 82093AA datasheet (order 290566), sections 3.0-3.2.
 *
 * Wiring: it hears every interrupt line of the VM; ISA IRQ 0 (the PIT)
 * comes in on pin 2, as the ACPI MADT's interrupt source override says,
 * every other line on the pin of its number (PCI INTA-D# on 16-19 through
 * the PIIX3). Lines carry assertion levels, so the polarity bit is kept for
 * the OS to read back but inverts nothing: the board is wired to match
 * what the firmware tables declare. */
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"

#define IOAPIC_BASE 0xFEC00000ull
#define IOAPIC_MMIO_SIZE 0x1000u
#define IOAPIC_PINS 24

/* Memory-mapped registers (3.0): index and data window. */
#define IOREGSEL 0x00
#define IOWIN 0x10

/* Indirect registers (3.1, table 2). */
#define IOAPICID 0x00
#define IOAPICVER 0x01
#define IOAPICARB 0x02
#define IOREDTBL 0x10          /* 0x10 + 2n: low dword, 0x11 + 2n: high dword */
#define ID_SHIFT 24
#define ID_MASK 0x0F000000u     /* 4-bit ID in bits 27:24 */
/* Version 11h, maximum redirection entry 17h (3.2.2). */
#define IOAPIC_VERSION 0x00170011u

/* Redirection entry fields (3.2.4). */
#define RTE_VECTOR 0xFFull
#define RTE_DM_SHIFT 8
#define RTE_DM (7ull << 8)
#define RTE_LOGICAL (1ull << 11)
#define RTE_DELIVS (1ull << 12)
#define RTE_POLARITY (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASKED (1ull << 16)
#define RTE_DEST_SHIFT 56
#define RTE_LOW_WMASK (RTE_VECTOR | RTE_DM | RTE_LOGICAL | RTE_POLARITY | RTE_LEVEL | RTE_MASKED)
#define RTE_HIGH_WMASK 0xFF00000000000000ull

/* The PIT's ISA IRQ 0 arrives on pin 2 (MADT interrupt source override). */
#define ISA_IRQ0 0
#define TIMER_PIN 2

struct ioapic {
    device *dev;
    uint32_t id;              /* IOAPICID register */
    uint8_t sel;              /* IOREGSEL */
    uint64_t rte[IOAPIC_PINS];
    uint32_t lines;           /* levels of the VM lines 0-23 */
    uint32_t pins;            /* levels at the pins after the wiring */
};

static unsigned line_to_pin(unsigned line)
{
    return line == ISA_IRQ0 ? TIMER_PIN : line;
}

/* Sends pin's message; a level-triggered one that an APIC accepted sets
 * Remote IRR until the EOI (3.2.4). */
static void ioapic_send(struct ioapic *s, unsigned pin)
{
    uint64_t e = s->rte[pin];
    struct apic_msg m = {
        .vector = (uint8_t)(e & RTE_VECTOR),
        .delivery = (uint8_t)((e & RTE_DM) >> RTE_DM_SHIFT),
        .logical = e & RTE_LOGICAL,
        .level = e & RTE_LEVEL,
        .dest = (uint8_t)(e >> RTE_DEST_SHIFT),
    };
    int accepted = vm_apic_send(s->dev->vm, &m);
    if ((e & RTE_LEVEL) && accepted > 0)
        s->rte[pin] |= RTE_REMOTE_IRR;
}

/* A level-triggered pin that is asserted asks again once Remote IRR is
 * clear and the entry unmasked. */
static void ioapic_service_level(struct ioapic *s, unsigned pin)
{
    uint64_t e = s->rte[pin];
    if ((s->pins & (1u << pin)) && (e & RTE_LEVEL) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)))
        ioapic_send(s, pin);
}

static void ioapic_pin_changed(struct ioapic *s, unsigned pin, bool level)
{
    bool was = s->pins & (1u << pin);
    if (level)
        s->pins |= 1u << pin;
    else
        s->pins &= ~(1u << pin);
    uint64_t e = s->rte[pin];
    if (e & RTE_LEVEL)
        ioapic_service_level(s, pin);
    else if (level && !was && !(e & RTE_MASKED))
        ioapic_send(s, pin);   /* edge: a masked edge is lost */
}

static void ioapic_irq_sink(void *opaque, unsigned line, int level)
{
    struct ioapic *s = opaque;
    if (line >= IOAPIC_PINS)
        return;
    if (level)
        s->lines |= 1u << line;
    else
        s->lines &= ~(1u << line);
    unsigned pin = line_to_pin(line);
    /* Pin 2 also hears line 2 (a device may name the pin itself). */
    bool pin_level = pin == TIMER_PIN ? (s->lines & ((1u << ISA_IRQ0) | (1u << TIMER_PIN))) != 0
                                      : level != 0;
    ioapic_pin_changed(s, pin, pin_level);
}

static void ioapic_eoi(void *opaque, uint8_t vector)
{
    struct ioapic *s = opaque;
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        if ((s->rte[pin] & RTE_REMOTE_IRR) && (s->rte[pin] & RTE_VECTOR) == vector) {
            s->rte[pin] &= ~RTE_REMOTE_IRR;
            ioapic_service_level(s, pin);
        }
    }
}

static uint32_t ioapic_reg_read(struct ioapic *s)
{
    unsigned r = s->sel;
    switch (r) {
    case IOAPICID: return s->id;
    case IOAPICVER: return IOAPIC_VERSION;
    case IOAPICARB: return s->id;   /* loaded from the ID (3.2.3) */
    default: break;
    }
    if (r >= IOREDTBL && r < IOREDTBL + 2 * IOAPIC_PINS) {
        uint64_t e = s->rte[(r - IOREDTBL) >> 1];
        return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
    }
    return 0;
}

static void ioapic_reg_write(struct ioapic *s, uint32_t val)
{
    unsigned r = s->sel;
    if (r == IOAPICID) {
        s->id = val & ID_MASK;
        return;
    }
    if (r < IOREDTBL || r >= IOREDTBL + 2 * IOAPIC_PINS)
        return;   /* version, arbitration: read-only */
    unsigned pin = (r - IOREDTBL) >> 1;
    uint64_t e = s->rte[pin];
    if (r & 1) {
        e = (e & ~RTE_HIGH_WMASK) | (((uint64_t)val << 32) & RTE_HIGH_WMASK);
    } else {
        e = (e & ~RTE_LOW_WMASK) | (val & RTE_LOW_WMASK);
        /* Remote IRR means nothing for an edge entry: switching to edge
         * clears it (what OSes do to unstick a pin without an EOI register). */
        if (!(e & RTE_LEVEL))
            e &= ~RTE_REMOTE_IRR;
    }
    s->rte[pin] = e;
    ioapic_service_level(s, pin);
}

/* IOREGSEL is 8 bits; IOWIN is accessed as a dword (3.0). */
static uint64_t ioapic_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct ioapic *s = opaque;
    uint32_t v;
    if (off < IOREGSEL + 4)
        v = s->sel;
    else if (off >= IOWIN && off < IOWIN + 4)
        v = ioapic_reg_read(s);
    else
        return 0;
    return (uint64_t)(v >> (8 * (off & 3))) & (size >= 4 ? 0xFFFFFFFFull : (1ull << (8 * size)) - 1);
}

static void ioapic_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct ioapic *s = opaque;
    if (off == IOREGSEL)
        s->sel = (uint8_t)val;
    else if (off == IOWIN && size >= 4)
        ioapic_reg_write(s, (uint32_t)val);
}

static const mmio_ops ioapic_mmio_ops = { ioapic_mmio_read, ioapic_mmio_write };

/* Reset (3.2.4): every entry masked, the rest zero; the ID from the
 * configuration (the MADT's). Pin levels are wires and stay. */
static void ioapic_reset(device *dev)
{
    struct ioapic *s = dev->state;
    s->id = ((uint32_t)cfg_get_u64(dev->cfg, "id", 0) << ID_SHIFT) & ID_MASK;
    s->sel = 0;
    for (unsigned i = 0; i < IOAPIC_PINS; i++)
        s->rte[i] = RTE_MASKED;
}

static int ioapic_create(device *dev)
{
    struct ioapic *s = dev->state;
    s->dev = dev;
    uint64_t id = cfg_get_u64(dev->cfg, "id", 0);
    if (id > (ID_MASK >> ID_SHIFT)) {
        vm_error(dev->vm, "id=%llu: at most 15", (unsigned long long)id);
        return -1;
    }
    ioapic_reset(dev);
    if (vm_register_mmio(dev->vm, IOAPIC_BASE, IOAPIC_MMIO_SIZE, &ioapic_mmio_ops, s) < 0 ||
        vm_add_irq_sink(dev->vm, ioapic_irq_sink, s) < 0 ||
        vm_add_apic_eoi_listener(dev->vm, ioapic_eoi, s) < 0)
        return -1;
    return 0;
}

static const device_desc ioapic_desc = {
    .name = "ioapic",
    .state_size = sizeof(struct ioapic),
    .create = ioapic_create,
    .reset = ioapic_reset,
};
DEVICE_REGISTER(ioapic_desc);
