/* High Precision Event Timer at 0xFED00000: a 64-bit main counter at
 * 100 MHz and three comparators (timer 0 periodic-capable), all 64-bit
 * capable with a 32-bit mode, LegacyReplacement routing, no FSB delivery.
 *
 * Nothing ticks: the counter is computed from the virtual clock, and each
 * armed comparator has a virtual-clock timer at its next match.
 *
 * Interrupts: in LegacyReplacement mode timer 0 drives ISA IRQ 0 (the line
 * the PIT uses, which the I/O APIC sees on input 2 per the MADT override)
 * and timer 1 drives IRQ 8 (the RTC's). The PIT and RTC are not switched
 * off, as the spec has the chipset do, since a device cannot reach another;
 * both devices are quiet unless programmed, and a guest that turns on
 * LegacyReplacement (Linux) leaves the PIT unprogrammed and takes IRQ 8 for
 * the HPET's RTC emulation. Pulses of edge-triggered timers on a shared
 * line reach the interrupt controllers as edges either way. Otherwise a
 * timer goes to the I/O APIC input its route field names, among 20-23
 * (inputs no other device drives).
 *
 * Reference: IA-PC HPET (High Precision Event Timers) Specification 1.0a,
 * Intel, October 2004: 2.3 (registers), 2.3.9 (timer behaviour). */
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"

#define HPET_BASE 0xFED00000ull
#define HPET_SIZE 0x400
#define HPET_TIMERS 3

/* Register offsets (2.3.1 table 2). */
#define REG_CAP 0x000
#define REG_CONFIG 0x010
#define REG_ISR 0x020
#define REG_COUNTER 0x0F0
#define REG_TIMER0 0x100
#define TIMER_STRIDE 0x20
#define TIMER_CONF 0x00
#define TIMER_CMP 0x08
#define TIMER_FSB 0x10

/* General capabilities and ID (2.3.4). */
#define CAP_REV_ID 0x01
#define CAP_NUM_TIM_SHIFT 8
#define CAP_COUNT_SIZE (1u << 13)     /* 64-bit main counter */
#define CAP_LEG_RT (1u << 15)
#define CAP_VENDOR_SHIFT 16
#define CAP_VENDOR 0x8086u
#define HPET_NS_PER_TICK 10u          /* 100 MHz */
#define HPET_PERIOD_FS 10000000u      /* COUNTER_CLK_PERIOD, femtoseconds */
#define CAP_LOW (CAP_REV_ID | (HPET_TIMERS - 1) << CAP_NUM_TIM_SHIFT | CAP_COUNT_SIZE | \
                 CAP_LEG_RT | CAP_VENDOR << CAP_VENDOR_SHIFT)

/* General configuration (2.3.5). */
#define CFG_ENABLE 0x1u
#define CFG_LEG_RT 0x2u
#define CFG_MASK (CFG_ENABLE | CFG_LEG_RT)

/* Timer N configuration and capability (2.3.8). */
#define TN_INT_TYPE_LEVEL (1u << 1)
#define TN_INT_ENB (1u << 2)
#define TN_TYPE_PERIODIC (1u << 3)
#define TN_PER_INT_CAP (1u << 4)
#define TN_SIZE_CAP (1u << 5)
#define TN_VAL_SET (1u << 6)
#define TN_32MODE (1u << 8)
#define TN_ROUTE_SHIFT 9
#define TN_ROUTE_MASK (0x1Fu << TN_ROUTE_SHIFT)
#define TN_RW_MASK (TN_INT_TYPE_LEVEL | TN_INT_ENB | TN_TYPE_PERIODIC | TN_32MODE | TN_ROUTE_MASK)
/* I/O APIC inputs a timer may be routed to: 20-23. */
#define TN_ROUTE_CAP 0x00F00000u
#define LEGACY_TIMER0_IRQ 0
#define LEGACY_TIMER1_IRQ 8
#define MAX_LINES 24
#define NO_LINE (-1)
/* Fastest interrupt rate delivered; faster periods coalesce. */
#define HPET_MIN_IRQ_NS 5000u

struct hpet_timer {
    uint32_t config;                  /* TN_RW_MASK bits (+ VAL_SET until used) */
    uint64_t cmp, period;
    bool armed;
    uint64_t target;                  /* main-counter tick of the next match */
    struct timer *t;
    unsigned index;
    struct hpet *hpet;
};

struct hpet {
    device *dev;
    uint32_t config;
    uint32_t isr;                     /* level-triggered interrupt status */
    uint64_t counter;                 /* when halted; when running, value at base_ns */
    uint64_t base_ns;
    struct hpet_timer timer[HPET_TIMERS];
    bool line_level[MAX_LINES];       /* levels we drive */
};

static bool running(const struct hpet *s)
{
    return s->config & CFG_ENABLE;
}

static uint64_t counter_now(struct hpet *s)
{
    if (!running(s))
        return s->counter;
    return s->counter + (vm_clock_ns(s->dev->vm) - s->base_ns) / HPET_NS_PER_TICK;
}

static bool is32(const struct hpet_timer *t)
{
    return t->config & TN_32MODE;
}

static uint32_t timer_caps(unsigned i)
{
    return TN_SIZE_CAP | (i == 0 ? TN_PER_INT_CAP : 0);
}

/* The line a timer drives, or NO_LINE. */
static int timer_line(const struct hpet *s, const struct hpet_timer *t)
{
    if (s->config & CFG_LEG_RT) {
        if (t->index == 0)
            return LEGACY_TIMER0_IRQ;
        if (t->index == 1)
            return LEGACY_TIMER1_IRQ;
    }
    unsigned route = (t->config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT;
    return (TN_ROUTE_CAP >> route) & 1 ? (int)route : NO_LINE;
}

/* Level-triggered timers hold their line while their status bit is set. */
static void update_lines(struct hpet *s)
{
    bool want[MAX_LINES] = {false};
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        struct hpet_timer *t = &s->timer[i];
        int line = timer_line(s, t);
        if (line != NO_LINE && running(s) && (t->config & TN_INT_ENB) &&
            (t->config & TN_INT_TYPE_LEVEL) && (s->isr & (1u << i)))
            want[line] = true;
    }
    for (unsigned l = 0; l < MAX_LINES; l++) {
        if (want[l] != s->line_level[l]) {
            s->line_level[l] = want[l];
            vm_set_irq(s->dev->vm, l, want[l]);
        }
    }
}

static void timer_fire(struct hpet *s, struct hpet_timer *t)
{
    if (t->config & TN_INT_TYPE_LEVEL) {
        s->isr |= 1u << t->index;
        return;                       /* update_lines raises it */
    }
    int line = timer_line(s, t);
    if (line != NO_LINE && (t->config & TN_INT_ENB) && !s->line_level[line]) {
        vm_set_irq(s->dev->vm, (unsigned)line, 1);
        vm_set_irq(s->dev->vm, (unsigned)line, 0);
    }
}

/* Arms the timer for the next tick at which the counter matches the
 * comparator, looking forward from `now` (2.3.9.2). In 32-bit mode only the
 * low half of the counter is compared, so a match recurs every 2^32 ticks;
 * a 64-bit comparator in the past never matches again. */
static void timer_arm(struct hpet *s, struct hpet_timer *t, uint64_t now)
{
    t->armed = false;
    if (!running(s)) {
        vm_timer_del(t->t);
        return;
    }
    if (is32(t)) {
        uint64_t d = (uint32_t)((uint32_t)t->cmp - (uint32_t)now);
        t->target = now + (d ? d : 1ull << 32);
        t->armed = true;
    } else if (t->cmp > now) {
        t->target = t->cmp;
        t->armed = true;
    }
    /* A timer with interrupts off still matches (status, periodic
     * reloads) but nobody looks until a register access: no host timer. */
    if (!t->armed || !(t->config & TN_INT_ENB)) {
        vm_timer_del(t->t);
        return;
    }
    uint64_t ticks = t->target - s->counter;
    if (ticks > (UINT64_MAX - s->base_ns) / HPET_NS_PER_TICK) {
        vm_timer_del(t->t);           /* centuries away */
        return;
    }
    uint64_t at = s->base_ns + ticks * HPET_NS_PER_TICK;
    uint64_t min = vm_clock_ns(s->dev->vm) + HPET_MIN_IRQ_NS;
    vm_timer_mod(t->t, at > min ? at : min);
}

/* A match at t->target has happened by `now`: status or pulse, and the
 * periodic reload (skipping periods the host missed). */
static void timer_expired(struct hpet *s, struct hpet_timer *t, uint64_t now)
{
    timer_fire(s, t);
    if ((t->config & TN_TYPE_PERIODIC) && t->period) {
        uint64_t mask = is32(t) ? UINT32_MAX : UINT64_MAX;
        uint64_t behind = now - t->target;
        uint64_t steps = behind / t->period + 1;
        t->cmp = (t->cmp + steps * t->period) & mask;
    }
    timer_arm(s, t, now);
}

/* Brings every timer up to `now`. */
static void hpet_run(struct hpet *s)
{
    if (!running(s))
        return;
    uint64_t now = counter_now(s);
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        struct hpet_timer *t = &s->timer[i];
        if (t->armed && now >= t->target)
            timer_expired(s, t, now);
    }
    update_lines(s);
}

static void hpet_timer_cb(void *opaque)
{
    struct hpet_timer *t = opaque;
    hpet_run(t->hpet);
}

static void rearm_all(struct hpet *s)
{
    uint64_t now = counter_now(s);
    for (unsigned i = 0; i < HPET_TIMERS; i++)
        timer_arm(s, &s->timer[i], now);
    update_lines(s);
}

static uint64_t reg_read(struct hpet *s, unsigned reg)
{
    switch (reg) {
    case REG_CAP:
        return (uint64_t)HPET_PERIOD_FS << 32 | CAP_LOW;
    case REG_CONFIG:
        return s->config;
    case REG_ISR:
        return s->isr;
    case REG_COUNTER:
        return counter_now(s);
    }
    if (reg >= REG_TIMER0 && reg < REG_TIMER0 + HPET_TIMERS * TIMER_STRIDE) {
        unsigned i = (reg - REG_TIMER0) / TIMER_STRIDE;
        struct hpet_timer *t = &s->timer[i];
        switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
        case TIMER_CONF:
            return (uint64_t)TN_ROUTE_CAP << 32 | (t->config & TN_RW_MASK) | timer_caps(i);
        case TIMER_CMP:
            return is32(t) ? (uint32_t)t->cmp : t->cmp;
        case TIMER_FSB:               /* FSB delivery not supported */
            return 0;
        }
    }
    return 0;
}

static void write_comparator(struct hpet_timer *t, uint64_t val, uint64_t mask)
{
    if (is32(t))
        mask &= UINT32_MAX;
    /* In periodic mode a write sets the period (the accumulator's
     * increment); with VAL_SET it also sets the comparator (2.3.9.2). */
    if (!(t->config & TN_TYPE_PERIODIC) || (t->config & TN_VAL_SET))
        t->cmp = (t->cmp & ~mask) | (val & mask);
    t->period = (t->period & ~mask) | (val & mask);
    t->config &= ~TN_VAL_SET;
}

static void write_timer_config(struct hpet_timer *t, uint64_t val, uint64_t mask)
{
    uint32_t writable = TN_RW_MASK | TN_VAL_SET;
    if (!(timer_caps(t->index) & TN_PER_INT_CAP))
        writable &= ~(TN_TYPE_PERIODIC | TN_VAL_SET);
    uint32_t m = (uint32_t)mask & writable;
    t->config = (t->config & ~m) | ((uint32_t)val & m);
    if (is32(t)) {
        t->cmp = (uint32_t)t->cmp;
        t->period = (uint32_t)t->period;
    }
}

static void reg_write(struct hpet *s, unsigned reg, uint64_t val, uint64_t mask)
{
    hpet_run(s);
    switch (reg) {
    case REG_CONFIG: {
        uint64_t now = counter_now(s);
        uint32_t m = (uint32_t)mask & CFG_MASK;
        uint32_t old = s->config;
        s->config = (s->config & ~m) | ((uint32_t)val & m);
        /* Halting freezes the counter; starting counts on from there. */
        if ((old ^ s->config) & CFG_ENABLE) {
            s->counter = now;
            s->base_ns = vm_clock_ns(s->dev->vm);
        }
        break;
    }
    case REG_ISR:
        s->isr &= ~(uint32_t)(val & mask);
        break;
    case REG_COUNTER:
        /* Software halts the counter before writing it (2.3.7). */
        s->counter = (counter_now(s) & ~mask) | (val & mask);
        s->base_ns = vm_clock_ns(s->dev->vm);
        break;
    default:
        if (reg >= REG_TIMER0 && reg < REG_TIMER0 + HPET_TIMERS * TIMER_STRIDE) {
            struct hpet_timer *t = &s->timer[(reg - REG_TIMER0) / TIMER_STRIDE];
            unsigned r = (reg - REG_TIMER0) % TIMER_STRIDE;
            if (r == TIMER_CONF)
                write_timer_config(t, val, mask);
            else if (r == TIMER_CMP)
                write_comparator(t, val, mask);
        }
        break;
    }
    rearm_all(s);
}

/* 32- and 64-bit accesses (2.3.1); narrower ones are served too, within one
 * 64-bit register. */
static uint64_t hpet_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct hpet *s = opaque;
    unsigned shift = (unsigned)(off & 7) * 8;
    if ((off & 7) + size > 8)
        return size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    hpet_run(s);
    uint64_t v = reg_read(s, (unsigned)(off & ~7ull)) >> shift;
    return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static void hpet_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct hpet *s = opaque;
    unsigned shift = (unsigned)(off & 7) * 8;
    if ((off & 7) + size > 8)
        return;
    uint64_t mask = size == 8 ? UINT64_MAX : ((1ull << (8 * size)) - 1) << shift;
    reg_write(s, (unsigned)(off & ~7ull), val << shift, mask);
}

static const mmio_ops hpet_mmio_ops = { hpet_mmio_read, hpet_mmio_write };

static void hpet_reset(device *dev)
{
    struct hpet *s = dev->state;
    s->config = 0;
    s->isr = 0;
    s->counter = 0;
    s->base_ns = vm_clock_ns(dev->vm);
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        struct hpet_timer *t = &s->timer[i];
        t->config = 0;
        t->cmp = UINT64_MAX;          /* comparators reset to all ones */
        t->period = 0;
        t->armed = false;
        vm_timer_del(t->t);
    }
    update_lines(s);
}

static int hpet_create(device *dev)
{
    struct hpet *s = dev->state;
    s->dev = dev;
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        s->timer[i].index = i;
        s->timer[i].hpet = s;
        s->timer[i].t = vm_timer_new(dev->vm, hpet_timer_cb, &s->timer[i]);
    }
    hpet_reset(dev);
    if (vm_register_mmio(dev->vm, HPET_BASE, HPET_SIZE, &hpet_mmio_ops, s) < 0) {
        for (unsigned i = 0; i < HPET_TIMERS; i++)
            vm_timer_free(s->timer[i].t);
        return -1;
    }
    return 0;
}

static void hpet_destroy(device *dev)
{
    struct hpet *s = dev->state;
    for (unsigned i = 0; i < HPET_TIMERS; i++)
        vm_timer_free(s->timer[i].t);
}

static const device_desc hpet_desc = {
    .name = "hpet",
    .state_size = sizeof(struct hpet),
    .create = hpet_create,
    .reset = hpet_reset,
    .destroy = hpet_destroy,
};
DEVICE_REGISTER(hpet_desc);
