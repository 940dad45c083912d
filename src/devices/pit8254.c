/* Intel 8254 programmable interval timer at 0x40-0x43, and the PIIX3 NMI
 * status and control register at 0x61 that gates counter 2 and shows its
 * output (the PC speaker path).
 *
 * Counters are not ticked: each counter remembers when it started counting
 * and its value and output are computed from the virtual clock. A host timer
 * runs only for counter 0, whose OUT rising edges pulse GSI 0.
 * References: Intel 8254 datasheet (order 231164), 82371SB PIIX3 datasheet
 * 4.7.x "NMI status and control register". */
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"

#define PIT_BASE 0x40
#define PIT_PORT61 0x61
#define PIT_HZ 1193182u             /* 14.31818 MHz / 12 (PC/AT) */
#define NS_PER_SEC 1000000000ull
#define PIT_IRQ 0
/* Fastest interrupt rate we deliver; faster requests coalesce. */
#define PIT_MIN_IRQ_NS 5000u

/* Control word (8254 datasheet fig. 8). */
#define CW_SC_SHIFT 6
#define CW_RW_SHIFT 4
#define CW_RW_LATCH 0
#define CW_RW_LSB 1
#define CW_RW_MSB 2
#define CW_RW_WORD 3
#define CW_BCD 0x01
#define CW_READBACK 3               /* SC = 11 */
#define RB_NOT_COUNT 0x20
#define RB_NOT_STATUS 0x10
/* Status byte (fig. 20). */
#define ST_OUT 0x80
#define ST_NULL 0x40

/* Port 0x61 (PIIX3 NMISC). */
#define P61_GATE2 0x01
#define P61_SPKR 0x02
#define P61_RW_MASK 0x0F
#define P61_REFRESH 0x10
#define P61_OUT2 0x20
/* DRAM refresh request toggles every 15.085 us (counter 1, count 18). */
#define REFRESH_PERIOD_NS 15085u

struct pit_channel {
    uint8_t mode, rw, bcd;
    uint32_t count;         /* loaded count N: 1..65536 (binary) or 1..10000 */
    bool loaded;            /* a count was written since the control word */
    bool counting;          /* counting elements are running */
    bool triggered;         /* modes 1, 5: gate edge seen since the load */
    bool gate;
    bool null_count;
    uint64_t start;         /* tick at which counting (re)started */
    uint64_t held;          /* elapsed ticks while stopped */
    /* Modes 2, 3: a count written while counting loads at the period end. */
    bool pending;
    uint32_t pending_count;
    uint64_t pending_at;
    /* Byte sequencing. */
    bool write_msb_next, read_msb_next;
    uint8_t write_lsb;
    /* Latches. */
    bool count_latched, status_latched;
    uint16_t latch;
    uint8_t latch_bytes;    /* bytes of the latch left to read */
    bool latch_msb_next;
    uint8_t status;
};

struct pit {
    device *dev;
    struct pit_channel ch[3];
    struct timer *timer;
    uint64_t next_edge;     /* tick of counter 0's next OUT rising edge */
    uint8_t port61;
};

static uint64_t pit_now(struct pit *s)
{
    return (uint64_t)((unsigned __int128)vm_clock_ns(s->dev->vm) * PIT_HZ / NS_PER_SEC);
}

static uint64_t pit_tick_ns(uint64_t tick)
{
    unsigned __int128 n = (unsigned __int128)tick * NS_PER_SEC + (PIT_HZ - 1);
    return (uint64_t)(n / PIT_HZ);
}

/* Applies a count whose reload time has come. */
static void pit_sync_channel(struct pit_channel *c, uint64_t now)
{
    if (c->pending && c->counting && now >= c->pending_at) {
        c->start = c->pending_at;
        c->count = c->pending_count;
        c->pending = false;
        c->null_count = false;
    }
}

static uint64_t pit_sync(struct pit *s)
{
    uint64_t now = pit_now(s);
    for (unsigned i = 0; i < 3; i++)
        pit_sync_channel(&s->ch[i], now);
    return now;
}

static uint32_t pit_modulus(const struct pit_channel *c)
{
    return c->bcd ? 10000u : 65536u;
}

static uint64_t pit_elapsed(const struct pit_channel *c, uint64_t now)
{
    return c->counting ? now - c->start : c->held;
}

/* Counting element value (decimal or binary number, 0..modulus-1). */
static uint32_t pit_value(const struct pit_channel *c, uint64_t now)
{
    uint32_t n = c->count, m = pit_modulus(c);
    if (!c->loaded)
        return 0;
    if ((c->mode == 1 || c->mode == 5) && !c->triggered)
        return n % m;
    uint64_t d = pit_elapsed(c, now);
    switch (c->mode) {
    case 2:
        return (uint32_t)(n - d % n) % m;
    case 3: {
        /* Square wave (datasheet "Mode 3"): decrement by two; an odd count
         * spends one extra clock in the high half. */
        uint32_t ph = (uint32_t)(d % n), high = (n + 1) / 2;
        uint32_t v;
        if (ph < high)
            v = (n & 1) && ph ? n + 1 - 2 * ph : n - 2 * ph;
        else
            v = (n & 1) && ph > high ? n - 1 - 2 * (ph - high) : n - 2 * (ph - high);
        return v % m;
    }
    default: /* 0, 1, 4, 5: count down once and wrap */
        return (uint32_t)(((uint64_t)n + m - d % m) % m);
    }
}

static bool pit_out(const struct pit_channel *c, uint64_t now)
{
    uint32_t n = c->count;
    switch (c->mode) {
    case 0:
        return c->loaded && pit_elapsed(c, now) >= n;
    case 1:
        return !c->triggered || pit_elapsed(c, now) >= n;
    case 2:
        return !c->counting || pit_elapsed(c, now) % n != n - 1;
    case 3:
        return !c->counting || pit_elapsed(c, now) % n < (n + 1) / 2;
    case 4:
        return !c->loaded || pit_elapsed(c, now) != n;
    case 5:
        return !c->triggered || pit_elapsed(c, now) != n;
    }
    return true;
}

/* Tick of the next OUT rising edge after `now`, or UINT64_MAX. */
static uint64_t pit_next_edge(const struct pit_channel *c, uint64_t now)
{
    if (!c->counting)
        return UINT64_MAX;
    uint64_t d = now - c->start, n = c->count;
    switch (c->mode) {
    case 0:
        return d < n ? c->start + n : UINT64_MAX;
    case 2:
    case 3:
        return c->start + (d / n + 1) * n;
    case 4:
        return d < n + 1 ? c->start + n + 1 : UINT64_MAX;
    case 1:
    case 5:
        if (!c->triggered)
            return UINT64_MAX;
        if (c->mode == 1)
            return d < n ? c->start + n : UINT64_MAX;
        return d < n + 1 ? c->start + n + 1 : UINT64_MAX;
    }
    return UINT64_MAX;
}

static void pit_schedule(struct pit *s)
{
    uint64_t now = pit_sync(s);
    s->next_edge = pit_next_edge(&s->ch[0], now);
    if (s->next_edge == UINT64_MAX) {
        vm_timer_del(s->timer);
        return;
    }
    uint64_t at = pit_tick_ns(s->next_edge);
    uint64_t min = vm_clock_ns(s->dev->vm) + PIT_MIN_IRQ_NS;
    vm_timer_mod(s->timer, at > min ? at : min);
}

static void pit_timer_cb(void *opaque)
{
    struct pit *s = opaque;
    if (s->next_edge != UINT64_MAX && pit_sync(s) >= s->next_edge) {
        /* ISA IRQ0 is edge triggered: a pulse is one rising edge. */
        vm_set_irq(s->dev->vm, PIT_IRQ, 1);
        vm_set_irq(s->dev->vm, PIT_IRQ, 0);
    }
    pit_schedule(s);
}

static void pit_start(struct pit_channel *c, uint64_t now)
{
    c->counting = true;
    c->start = now;
    c->held = 0;
    c->null_count = false;
}

/* A new count arrived in the count register (datasheet "Write Operations"). */
static void pit_load(struct pit *s, struct pit_channel *c, uint32_t raw)
{
    uint64_t now = pit_sync(s);
    if (c->bcd)
        raw = ((raw >> 12) & 15) * 1000 + ((raw >> 8) & 15) * 100 + ((raw >> 4) & 15) * 10 + (raw & 15);
    uint32_t m = pit_modulus(c);
    uint32_t n = raw % m ? raw % m : m;
    c->null_count = true;
    if ((c->mode == 2 || c->mode == 3) && c->loaded && c->counting) {
        /* Datasheet modes 2 and 3: the current period ends first. */
        uint64_t d = now - c->start;
        c->pending = true;
        c->pending_count = n;
        c->pending_at = c->start + (d / c->count + 1) * c->count;
        return;
    }
    if ((c->mode == 1 || c->mode == 5) && c->triggered) {
        /* Modes 1 and 5: a running one-shot keeps its count until the
         * next trigger. */
        c->pending = true;
        c->pending_count = n;
        c->pending_at = UINT64_MAX;
        return;
    }
    c->count = n;
    c->loaded = true;
    c->pending = false;
    if (c->mode == 1 || c->mode == 5)
        return;   /* waits for a gate trigger */
    if (c->gate) {
        pit_start(c, now);
    } else {
        c->counting = false;
        c->held = 0;
    }
}

static void pit_set_gate(struct pit *s, struct pit_channel *c, bool gate)
{
    uint64_t now = pit_sync(s);
    bool rising = gate && !c->gate;
    if (gate == c->gate)
        return;
    c->gate = gate;
    if (!c->loaded)
        return;
    switch (c->mode) {
    case 0:
    case 4:
        /* Gate disables counting (table "Gate Pin Operations Summary"). */
        if (!gate) {
            c->held = now - c->start;
            c->counting = false;
        } else {
            c->start = now - c->held;
            c->counting = true;
        }
        break;
    case 2:
    case 3:
        if (!gate) {
            c->held = now - c->start;
            c->counting = false;
        } else {
            if (c->pending) {    /* rising edge reloads the count register */
                c->count = c->pending_count;
                c->pending = false;
            }
            pit_start(c, now);
        }
        break;
    default: /* 1, 5: rising edge (re)triggers */
        if (rising) {
            if (c->pending) {
                c->count = c->pending_count;
                c->pending = false;
            }
            c->triggered = true;
            pit_start(c, now);
        }
        break;
    }
}

static void pit_latch_count(struct pit_channel *c, uint64_t now)
{
    if (c->count_latched)
        return;   /* the first latch holds until read */
    uint32_t v = pit_value(c, now);
    if (c->bcd)
        v = (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
    c->latch = (uint16_t)v;
    c->count_latched = true;
    c->latch_bytes = c->rw == CW_RW_WORD ? 2 : 1;
    c->latch_msb_next = c->rw == CW_RW_MSB;
}

static void pit_latch_status(struct pit_channel *c, uint64_t now)
{
    if (c->status_latched)
        return;
    c->status = (uint8_t)((pit_out(c, now) ? ST_OUT : 0) | (c->null_count ? ST_NULL : 0) |
                          c->rw << CW_RW_SHIFT | c->mode << 1 | c->bcd);
    c->status_latched = true;
}

static void pit_control(struct pit *s, uint8_t val)
{
    unsigned sc = val >> CW_SC_SHIFT;
    uint64_t now = pit_sync(s);
    if (sc == CW_READBACK) {
        for (unsigned i = 0; i < 3; i++) {
            if (!(val & (2u << i)))
                continue;
            if (!(val & RB_NOT_COUNT))
                pit_latch_count(&s->ch[i], now);
            if (!(val & RB_NOT_STATUS))
                pit_latch_status(&s->ch[i], now);
        }
        return;
    }
    struct pit_channel *c = &s->ch[sc];
    unsigned rw = (val >> CW_RW_SHIFT) & 3;
    if (rw == CW_RW_LATCH) {
        pit_latch_count(c, now);
        return;
    }
    unsigned mode = (val >> 1) & 7;
    if (mode > 5)
        mode -= 4;   /* 110 and 111 are modes 2 and 3 */
    c->mode = (uint8_t)mode;
    c->rw = (uint8_t)rw;
    c->bcd = val & CW_BCD;
    c->loaded = false;
    c->counting = false;
    c->triggered = false;
    c->pending = false;
    c->held = 0;
    c->null_count = true;
    c->write_msb_next = false;
    c->read_msb_next = false;
    c->count_latched = false;
    c->status_latched = false;
}

static void pit_write_count(struct pit *s, struct pit_channel *c, uint8_t val)
{
    switch (c->rw) {
    case CW_RW_LSB:
        pit_load(s, c, val);
        break;
    case CW_RW_MSB:
        pit_load(s, c, (uint32_t)val << 8);
        break;
    case CW_RW_WORD:
        if (!c->write_msb_next) {
            c->write_lsb = val;
            c->write_msb_next = true;
            /* Mode 0: writing the first byte stops the count. */
            if (c->mode == 0 && c->counting) {
                c->held = pit_sync(s) - c->start;
                c->counting = false;
                c->loaded = false;
            }
        } else {
            c->write_msb_next = false;
            pit_load(s, c, c->write_lsb | (uint32_t)val << 8);
        }
        break;
    default:
        break;   /* no control word yet */
    }
}

static uint8_t pit_read_count(struct pit *s, struct pit_channel *c)
{
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->count_latched) {
        uint8_t b = c->latch_msb_next ? (uint8_t)(c->latch >> 8) : (uint8_t)c->latch;
        c->latch_msb_next = !c->latch_msb_next;
        if (--c->latch_bytes == 0)
            c->count_latched = false;
        return b;
    }
    uint32_t v = pit_value(c, pit_sync(s));
    if (c->bcd)
        v = (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
    switch (c->rw) {
    case CW_RW_LSB:
        return (uint8_t)v;
    case CW_RW_MSB:
        return (uint8_t)(v >> 8);
    case CW_RW_WORD: {
        bool msb = c->read_msb_next;
        c->read_msb_next = !msb;
        return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
    }
    }
    return 0;
}

static uint32_t pit_io_read(void *opaque, uint16_t off, unsigned size)
{
    struct pit *s = opaque;
    (void)size;
    if (off >= 3)
        return 0xFF;   /* control word register is write-only */
    return pit_read_count(s, &s->ch[off]);
}

static void pit_io_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct pit *s = opaque;
    (void)size;
    if (off == 3)
        pit_control(s, (uint8_t)val);
    else if (off < 3)
        pit_write_count(s, &s->ch[off], (uint8_t)val);
    pit_schedule(s);
}

static uint32_t port61_read(void *opaque, uint16_t off, unsigned size)
{
    struct pit *s = opaque;
    (void)off;
    (void)size;
    uint8_t v = s->port61 & P61_RW_MASK;
    if ((vm_clock_ns(s->dev->vm) / REFRESH_PERIOD_NS) & 1)
        v |= P61_REFRESH;
    if (pit_out(&s->ch[2], pit_sync(s)))
        v |= P61_OUT2;
    return v;
}

static void port61_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    struct pit *s = opaque;
    (void)off;
    (void)size;
    s->port61 = (uint8_t)val & P61_RW_MASK;
    pit_set_gate(s, &s->ch[2], val & P61_GATE2);
}

static const pio_ops pit_ops = { pit_io_read, pit_io_write };
static const pio_ops port61_ops = { port61_read, port61_write };

static void pit_reset(device *dev)
{
    struct pit *s = dev->state;
    for (unsigned i = 0; i < 3; i++)
        s->ch[i] = (struct pit_channel){ .gate = i != 2, .rw = CW_RW_WORD, .null_count = true };
    s->port61 = 0;
    s->next_edge = UINT64_MAX;
    vm_timer_del(s->timer);
}

static int pit_create(device *dev)
{
    struct pit *s = dev->state;
    s->dev = dev;
    s->timer = vm_timer_new(dev->vm, pit_timer_cb, s);
    if (!s->timer) {
        vm_error(dev->vm, "cannot create timer");
        return -1;
    }
    pit_reset(dev);
    if (vm_register_pio(dev->vm, PIT_BASE, 4, &pit_ops, s) < 0 ||
        vm_register_pio(dev->vm, PIT_PORT61, 1, &port61_ops, s) < 0)
        return -1;
    return 0;
}

static void pit_destroy(device *dev)
{
    struct pit *s = dev->state;
    if (s->timer)
        vm_timer_free(s->timer);
    s->timer = NULL;
}

static const device_desc pit_desc = {
    .name = "pit",
    .state_size = sizeof(struct pit),
    .create = pit_create,
    .reset = pit_reset,
    .destroy = pit_destroy,
};
DEVICE_REGISTER(pit_desc);
