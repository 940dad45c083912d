/* Local APICs in xAPIC mode (Intel SDM Vol. 3A chapter 10), one per vCPU,
 * all in this one device. Every vCPU sees its own APIC's register page at
 * 0xFEE00000: the page's MMIO callback asks the VM which vCPU made the
 * access. The APICs reach each other (IPIs) directly and the I/O APIC
 * through the VM's APIC bus (messages in, EOI broadcasts out).
 *
 * The model: version 14h with six LVT entries, 8-bit APIC ID = vCPU index,
 * flat and cluster logical destinations, timer in one-shot, periodic and
 * TSC-deadline modes counting at "bus_hz" (the core crystal, 1 GHz) of the
 * virtual clock. Interrupt inputs (LINT0/1, messages) carry assertion
 * levels, as every line of the VM does, so the polarity bit is kept but
 * changes nothing. The 8259's output reaches LINT0 of vCPU 0; at reset
 * that LINT0 is ExtINT and LINT1 NMI, the virtual-wire set-up PC firmware
 * leaves (MP spec 3.6.2.2), so the 8259 works until the OS programs the
 * APIC. Not modelled: x2APIC, SMI, remote read, focus processor checks,
 * thermal and performance-counter interrupts (nothing raises them),
 * moving the page away from 0xFEE00000 (the APIC then answers nowhere). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/device.h"

/* IA32_APIC_BASE (10.4.4): BSP flag, global enable, page base. */
#define APIC_DEFAULT_BASE 0xFEE00000ull
#define APIC_PAGE_SIZE 0x1000u
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EN (1ull << 11)
#define APIC_BASE_ADDR 0x000FFFFFFFFFF000ull
#define MSR_TSC_DEADLINE 0x6E0u

/* Register offsets (table 10-1). */
#define REG_ID 0x020
#define REG_VERSION 0x030
#define REG_TPR 0x080
#define REG_APR 0x090
#define REG_PPR 0x0A0
#define REG_EOI 0x0B0
#define REG_RRD 0x0C0
#define REG_LDR 0x0D0
#define REG_DFR 0x0E0
#define REG_SVR 0x0F0
#define REG_ISR 0x100
#define REG_TMR 0x180
#define REG_IRR 0x200
#define REG_ESR 0x280
#define REG_ICR_LO 0x300
#define REG_ICR_HI 0x310
#define REG_LVT0 0x320          /* timer, thermal, perf, LINT0, LINT1, error */
#define REG_TIMER_ICR 0x380
#define REG_TIMER_CCR 0x390
#define REG_TIMER_DCR 0x3E0
#define REG_VEC_BANK 0x80       /* ISR/TMR/IRR: eight registers 16 bytes apart */

/* Version 14h (integrated APIC), max LVT entry 5: six LVTs (10.4.8). */
#define APIC_VERSION 0x00050014u

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };

/* LVT fields (10.5.1, figure 10-8). */
#define LVT_VECTOR 0x000FFu
#define LVT_DM 0x00700u
#define LVT_DM_SHIFT 8
#define LVT_POLARITY (1u << 13)
#define LVT_REMOTE_IRR (1u << 14)
#define LVT_LEVEL (1u << 15)
#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE_SHIFT 17
#define LVT_TIMER_MODE (3u << 17)
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE }; /* table 10-2 */

static const uint32_t lvt_wmask[LVT_COUNT] = {
    [LVT_TIMER] = LVT_VECTOR | LVT_MASKED | LVT_TIMER_MODE,
    [LVT_THERMAL] = LVT_VECTOR | LVT_DM | LVT_MASKED,
    [LVT_PERF] = LVT_VECTOR | LVT_DM | LVT_MASKED,
    [LVT_LINT0] = LVT_VECTOR | LVT_DM | LVT_POLARITY | LVT_LEVEL | LVT_MASKED,
    [LVT_LINT1] = LVT_VECTOR | LVT_DM | LVT_POLARITY | LVT_LEVEL | LVT_MASKED,
    [LVT_ERROR] = LVT_VECTOR | LVT_MASKED,
};

/* Spurious-interrupt vector register (10.9): vector, APIC software
 * enable, focus processor checking. 0xFF after reset. */
#define SVR_ENABLE (1u << 8)
#define SVR_WMASK 0x3FFu
#define SVR_RESET 0xFFu

/* Interrupt command register (10.6.1). */
#define ICR_VECTOR 0xFFu
#define ICR_DM_SHIFT 8
#define ICR_LOGICAL (1u << 11)
#define ICR_ASSERT (1u << 14)
#define ICR_LEVEL (1u << 15)
#define ICR_SHORTHAND_SHIFT 18
#define ICR_LO_WMASK 0x000CCFFFu
#define ICR_HI_WMASK 0xFF000000u
enum { SH_NONE, SH_SELF, SH_ALL, SH_OTHERS };

/* Error status bits (10.5.3). */
#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REG (1u << 7)

/* Logical destinations (10.6.2.2): DFR model flat 1111b or cluster 0000b;
 * DFR bits 27:0 read as ones; LDR holds bits 31:24. */
#define DFR_MODEL_SHIFT 28
#define DFR_MODEL_FLAT 0xFu
#define DFR_ONES 0x0FFFFFFFu
#define LDR_WMASK 0xFF000000u
#define DEST_BROADCAST 0xFFu

/* Divide configuration (10.5.4, figure 10-10): bits 0, 1 and 3. */
#define DCR_WMASK 0xBu

/* Vectors 0-15 are illegal for fixed interrupts (10.5.2). */
#define MIN_VECTOR 16
/* A periodic timer re-arms at least this far apart in virtual time: a
 * guest asking for a one-nanosecond period gets coalesced ticks instead of
 * a host thread spinning in timer callbacks. */
#define PERIODIC_MIN_NS 1000u
#define NS_PER_SEC 1000000000ull
#define MAX_APICS 64           /* target sets are uint64_t masks */

struct lapics;

struct lapic {
    struct lapics *all;
    int index;
    struct timer *timer;
    uint8_t id;
    bool hw_enabled;           /* IA32_APIC_BASE.EN */
    bool at_default_base;      /* IA32_APIC_BASE points at 0xFEE00000 */
    bool bsp;
    uint32_t tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi, dcr;
    uint32_t lvt[LVT_COUNT];
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t timer_initial;
    uint64_t timer_start;      /* virtual ns at which the count was loaded */
    bool timer_running;        /* one-shot or periodic count in progress */
    uint64_t tsc_deadline;     /* IA32_TSC_DEADLINE, 0: disarmed */
    bool lint[2];              /* LINT0/LINT1 input levels */
    bool extint_msg;           /* an ExtINT message waits for the INTA cycle */
    int intr;                  /* INTR level driven to the vCPU, -1: unknown */
};

struct lapics {
    device *dev;
    struct vm *vm;
    int n;
    uint64_t bus_hz;
    bool warned_base;
    struct lapic *cpu;
};

/* --- 256-bit vector registers ------------------------------------------ */

static bool vec_test(const uint32_t *r, unsigned v)
{
    return (r[v >> 5] >> (v & 31)) & 1u;
}

static void vec_set(uint32_t *r, unsigned v)
{
    r[v >> 5] |= 1u << (v & 31);
}

static void vec_clear(uint32_t *r, unsigned v)
{
    r[v >> 5] &= ~(1u << (v & 31));
}

static int vec_highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--)
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

static unsigned prio_class(int v)
{
    return v < 0 ? 0 : (unsigned)v & 0xF0u;
}

/* --- priorities (10.8.3.1) ----------------------------------------------- */

static uint32_t lapic_ppr(const struct lapic *a)
{
    unsigned isrv = prio_class(vec_highest(a->isr));
    return (a->tpr & 0xF0u) >= isrv ? a->tpr & 0xFFu : isrv;
}

/* Arbitration priority, for lowest-priority delivery (10.6.2.4). */
static uint32_t lapic_apr(const struct lapic *a)
{
    unsigned tprc = a->tpr & 0xF0u;
    unsigned isrv = prio_class(vec_highest(a->isr)), irrv = prio_class(vec_highest(a->irr));
    if (tprc >= irrv && tprc > isrv)
        return a->tpr & 0xFFu;
    unsigned m = tprc > isrv ? tprc : isrv;
    return m > irrv ? m : irrv;
}

/* The vector the APIC would hand the CPU now, or -1. Requests stay in the
 * IRR while the APIC is software-disabled (10.4.7.2). */
static int lapic_pending(const struct lapic *a)
{
    if (!(a->svr & SVR_ENABLE))
        return -1;
    int v = vec_highest(a->irr);
    if (v < 0 || prio_class(v) <= (lapic_ppr(a) & 0xF0u))
        return -1;
    return v;
}

static unsigned lvt_mode(uint32_t lvt)
{
    return (lvt & LVT_DM) >> LVT_DM_SHIFT;
}

/* The 8259 delivers through this APIC: LINT0 in ExtINT mode with the
 * 8259's output high, or an ExtINT message (10.5.1, delivery mode 111b). */
static bool lapic_extint(const struct lapic *a)
{
    uint32_t l = a->lvt[LVT_LINT0];
    return a->extint_msg || (a->lint[0] && !(l & LVT_MASKED) && lvt_mode(l) == APIC_DM_EXTINT);
}

static void lapic_update(struct lapic *a)
{
    int level;
    if (!a->hw_enabled)
        level = a->lint[0];    /* no APIC: LINT0 is the INTR pin (10.4.3) */
    else
        level = lapic_pending(a) >= 0 || lapic_extint(a);
    if (level != a->intr) {
        a->intr = level;
        vm_set_cpu_intr(a->all->vm, a->index, level);
    }
}

/* --- accepting interrupts --------------------------------------------------- */

static void lapic_accept(struct lapic *a, unsigned vec, bool level);

/* An error sets its ESR bit and, when new, raises the error LVT (10.5.3). */
static void lapic_error(struct lapic *a, uint32_t bits)
{
    uint32_t fresh = bits & ~a->esr_pending;
    a->esr_pending |= bits;
    uint32_t l = a->lvt[LVT_ERROR];
    if (fresh && a->hw_enabled && !(l & LVT_MASKED))
        lapic_accept(a, l & LVT_VECTOR, false);
}

static void lapic_accept(struct lapic *a, unsigned vec, bool level)
{
    if (vec < MIN_VECTOR) {
        lapic_error(a, ESR_RECV_ILLEGAL_VECTOR);
        return;
    }
    vec_set(a->irr, vec);
    if (level)
        vec_set(a->tmr, vec);
    else
        vec_clear(a->tmr, vec);
    lapic_update(a);
}

static void lapic_reset_regs(struct lapic *a);

/* INIT resets the APIC but for its ID (10.4.7.3) and the vCPU. */
static void lapic_init(struct lapic *a)
{
    lapic_reset_regs(a);
    lapic_update(a);
    vm_cpu_init(a->all->vm, a->index);
}

/* A local interrupt source (LVT entry) fires. */
static void lvt_fire(struct lapic *a, int lvt)
{
    uint32_t l = a->lvt[lvt];
    if (!a->hw_enabled || (l & LVT_MASKED))
        return;
    unsigned mode = (lvt == LVT_TIMER || lvt == LVT_ERROR) ? APIC_DM_FIXED : lvt_mode(l);
    bool level = (lvt == LVT_LINT0 || lvt == LVT_LINT1) && (l & LVT_LEVEL);
    switch (mode) {
    case APIC_DM_FIXED:
        if (level)
            a->lvt[lvt] |= LVT_REMOTE_IRR;
        lapic_accept(a, l & LVT_VECTOR, level);
        break;
    case APIC_DM_NMI:
        vm_cpu_nmi(a->all->vm, a->index);
        break;
    case APIC_DM_INIT:
        lapic_init(a);
        break;
    case APIC_DM_EXTINT:
        lapic_update(a);
        break;
    default: /* SMI and reserved modes: no SMM in this machine */
        break;
    }
}

/* A level-triggered fixed LINT input asks again while asserted and its
 * Remote IRR is clear (10.5.1). */
static void lint_recheck(struct lapic *a, int pin)
{
    uint32_t l = a->lvt[LVT_LINT0 + pin];
    if (a->lint[pin] && lvt_mode(l) == APIC_DM_FIXED && (l & LVT_LEVEL) && !(l & LVT_REMOTE_IRR))
        lvt_fire(a, LVT_LINT0 + pin);
}

static void lint_set(struct lapic *a, int pin, bool level)
{
    bool rising = level && !a->lint[pin];
    a->lint[pin] = level;
    if (!a->hw_enabled) {
        /* A disabled APIC leaves LINT0 as INTR and LINT1 as NMI (10.4.3). */
        if (pin == 0)
            lapic_update(a);
        else if (rising)
            vm_cpu_nmi(a->all->vm, a->index);
        return;
    }
    uint32_t l = a->lvt[LVT_LINT0 + pin];
    if (lvt_mode(l) == APIC_DM_EXTINT)
        lapic_update(a);
    else if (lvt_mode(l) == APIC_DM_FIXED && (l & LVT_LEVEL))
        lint_recheck(a, pin);
    else if (rising)
        lvt_fire(a, LVT_LINT0 + pin);
}

static void lapic_eoi(struct lapic *a)
{
    int v = vec_highest(a->isr);
    if (v < 0)
        return;
    vec_clear(a->isr, (unsigned)v);
    bool level = vec_test(a->tmr, (unsigned)v);
    for (int pin = 0; pin < 2; pin++) {
        uint32_t *l = &a->lvt[LVT_LINT0 + pin];
        if ((*l & LVT_REMOTE_IRR) && (*l & LVT_VECTOR) == (unsigned)v) {
            *l &= ~LVT_REMOTE_IRR;
            lint_recheck(a, pin);
        }
    }
    lapic_update(a);
    /* Level-triggered: the I/O APIC clears Remote IRR (10.8.5). */
    if (level)
        vm_apic_eoi(a->all->vm, (uint8_t)v);
}

/* --- the APIC bus ----------------------------------------------------------- */

static bool dest_match(const struct lapic *a, bool logical, uint8_t dest)
{
    if (dest == DEST_BROADCAST)
        return true;
    if (!logical)
        return a->id == dest;
    unsigned ldr = a->ldr >> 24;
    if ((a->dfr >> DFR_MODEL_SHIFT) == DFR_MODEL_FLAT)
        return (ldr & dest) != 0;
    /* Cluster: bits 7:4 the cluster, 3:0 one bit per APIC in it. */
    return (ldr >> 4) == (unsigned)(dest >> 4) && (ldr & dest & 0xFu) != 0;
}

static uint64_t match_dest(struct lapics *s, bool logical, uint8_t dest)
{
    uint64_t t = 0;
    for (int i = 0; i < s->n; i++)
        if (dest_match(&s->cpu[i], logical, dest))
            t |= 1ull << i;
    return t;
}

/* Lowest priority: the target with the lowest arbitration priority. */
static uint64_t lowest_priority(struct lapics *s, uint64_t targets)
{
    int best = -1;
    uint32_t best_apr = 0;
    for (int i = 0; i < s->n; i++) {
        if (!(targets & (1ull << i)))
            continue;
        uint32_t apr = lapic_apr(&s->cpu[i]);
        if (best < 0 || apr < best_apr) {
            best = i;
            best_apr = apr;
        }
    }
    return best < 0 ? 0 : 1ull << best;
}

static void lapic_receive(struct lapic *a, const struct apic_msg *m)
{
    switch (m->delivery) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        lapic_accept(a, m->vector, m->level);
        break;
    case APIC_DM_NMI:
        vm_cpu_nmi(a->all->vm, a->index);
        break;
    case APIC_DM_INIT:
        lapic_init(a);
        break;
    case APIC_DM_STARTUP:
        vm_cpu_sipi(a->all->vm, a->index, m->vector);
        break;
    case APIC_DM_EXTINT:
        a->extint_msg = true;
        lapic_update(a);
        break;
    default: /* SMI: no SMM */
        break;
    }
}

static int deliver_to(struct lapics *s, const struct apic_msg *m, uint64_t targets)
{
    for (int i = 0; i < s->n; i++)
        if (!s->cpu[i].hw_enabled)
            targets &= ~(1ull << i);
    if (m->delivery == APIC_DM_LOWEST)
        targets = lowest_priority(s, targets);
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        if (targets & (1ull << i)) {
            lapic_receive(&s->cpu[i], m);
            n++;
        }
    }
    return n;
}

static int lapic_deliver(void *opaque, const struct apic_msg *m)
{
    struct lapics *s = opaque;
    return deliver_to(s, m, match_dest(s, m->logical, m->dest));
}

/* A write of ICR low sends the IPI at once, so the delivery status bit
 * always reads idle (10.6.1). */
static void send_ipi(struct lapic *a)
{
    struct lapics *s = a->all;
    uint32_t lo = a->icr_lo;
    unsigned mode = (lo >> ICR_DM_SHIFT) & 7u;
    /* INIT level de-assert only synchronises arbitration IDs. */
    if (mode == APIC_DM_INIT && !(lo & ICR_ASSERT) && (lo & ICR_LEVEL))
        return;
    struct apic_msg m = {
        .vector = (uint8_t)(lo & ICR_VECTOR),
        .delivery = (uint8_t)mode,
        .logical = lo & ICR_LOGICAL,
        .level = lo & ICR_LEVEL,
        .dest = (uint8_t)(a->icr_hi >> 24),
    };
    if ((mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST) && m.vector < MIN_VECTOR) {
        lapic_error(a, ESR_SEND_ILLEGAL_VECTOR);
        return;
    }
    uint64_t all = s->n >= MAX_APICS ? UINT64_MAX : (1ull << s->n) - 1;
    uint64_t self = 1ull << a->index;
    uint64_t targets;
    switch ((lo >> ICR_SHORTHAND_SHIFT) & 3u) {
    case SH_SELF: targets = self; break;
    case SH_ALL: targets = all; break;
    case SH_OTHERS: targets = all & ~self; break;
    default: targets = match_dest(s, m.logical, m.dest); break;
    }
    deliver_to(s, &m, targets);
}

/* --- timer (10.5.4) --------------------------------------------------------- */

static unsigned timer_mode(const struct lapic *a)
{
    unsigned m = (a->lvt[LVT_TIMER] & LVT_TIMER_MODE) >> LVT_TIMER_MODE_SHIFT;
    return m == TIMER_TSC_DEADLINE ? m : m & 1u;   /* 11b is reserved: one-shot */
}

/* Divide by 2^shift: DCR 0000b -> 2 ... 1010b -> 128, 1011b -> 1. */
static unsigned timer_shift(const struct lapic *a)
{
    unsigned v = ((a->dcr >> 1) & 4u) | (a->dcr & 3u);
    return v == 7 ? 0 : v + 1;
}

static uint64_t ticks_to_ns(const struct lapics *s, uint64_t ticks)
{
    unsigned __int128 ns = ((unsigned __int128)ticks * NS_PER_SEC + s->bus_hz - 1) / s->bus_hz;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static uint64_t ns_to_ticks(const struct lapics *s, uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * s->bus_hz / NS_PER_SEC);
}

static uint64_t timer_period_ns(const struct lapic *a)
{
    uint64_t ns = ticks_to_ns(a->all, (uint64_t)a->timer_initial << timer_shift(a));
    return ns ? ns : 1;
}

static uint32_t timer_current(const struct lapic *a)
{
    if (timer_mode(a) == TIMER_TSC_DEADLINE || !a->timer_running || !a->timer_initial)
        return 0;
    uint64_t now = vm_clock_ns(a->all->vm);
    uint64_t done = ns_to_ticks(a->all, now - a->timer_start) >> timer_shift(a);
    if (timer_mode(a) == TIMER_PERIODIC)
        return a->timer_initial - (uint32_t)(done % a->timer_initial);
    return done >= a->timer_initial ? 0 : a->timer_initial - (uint32_t)done;
}

static void timer_stop(struct lapic *a)
{
    a->timer_running = false;
    a->tsc_deadline = 0;
    vm_timer_del(a->timer);
}

/* Starts counting from `done` ticks (after the divider) into the count. */
static void timer_start_at(struct lapic *a, uint64_t now, uint64_t done)
{
    uint64_t back = ticks_to_ns(a->all, done << timer_shift(a));
    a->timer_start = back > now ? 0 : now - back;
    a->timer_running = true;
    vm_timer_mod(a->timer, a->timer_start + timer_period_ns(a));
}

static void timer_expired(void *opaque)
{
    struct lapic *a = opaque;
    uint64_t now = vm_clock_ns(a->all->vm);
    if (timer_mode(a) == TIMER_TSC_DEADLINE) {
        /* It fires once and clears the MSR (10.5.4.1). */
        if (a->tsc_deadline) {
            a->tsc_deadline = 0;
            lvt_fire(a, LVT_TIMER);
        }
        return;
    }
    if (!a->timer_running)
        return;
    if (timer_mode(a) == TIMER_PERIODIC) {
        uint64_t period = timer_period_ns(a);
        uint64_t k = (now - a->timer_start) / period + 1;
        unsigned __int128 next = (unsigned __int128)a->timer_start + (unsigned __int128)k * period;
        uint64_t due = next > UINT64_MAX ? UINT64_MAX : (uint64_t)next;
        if (due < now + PERIODIC_MIN_NS)
            due = now + PERIODIC_MIN_NS;
        vm_timer_mod(a->timer, due);
    } else {
        a->timer_running = false;
    }
    lvt_fire(a, LVT_TIMER);
}

static void timer_write_initial(struct lapic *a, uint32_t val)
{
    if (timer_mode(a) == TIMER_TSC_DEADLINE)
        return;   /* ignored in TSC-deadline mode (10.5.4.1) */
    a->timer_initial = val;
    if (!val) {
        timer_stop(a);
        return;
    }
    timer_start_at(a, vm_clock_ns(a->all->vm), 0);
}

/* A new divider applies from now on to what is left of the count. */
static void timer_write_dcr(struct lapic *a, uint32_t val)
{
    uint32_t left = timer_current(a);
    a->dcr = val & DCR_WMASK;
    if (a->timer_running && left)
        timer_start_at(a, vm_clock_ns(a->all->vm), a->timer_initial - left);
}

static void lvt_write(struct lapic *a, int i, uint32_t val)
{
    uint32_t old = a->lvt[i];
    uint32_t v = val & lvt_wmask[i];
    if (!(a->svr & SVR_ENABLE))
        v |= LVT_MASKED;   /* software-disabled: masks stay set (10.4.7.2) */
    v |= old & LVT_REMOTE_IRR;
    a->lvt[i] = v;
    /* A change of timer mode disarms the timer (10.5.4.1). */
    if (i == LVT_TIMER && ((old ^ v) & LVT_TIMER_MODE))
        timer_stop(a);
    if (i == LVT_LINT0 || i == LVT_LINT1)
        lint_recheck(a, i - LVT_LINT0);
    lapic_update(a);
}

static void svr_write(struct lapic *a, uint32_t val)
{
    bool was_enabled = a->svr & SVR_ENABLE;
    a->svr = val & SVR_WMASK;
    if (was_enabled && !(a->svr & SVR_ENABLE))
        for (int i = 0; i < LVT_COUNT; i++)
            a->lvt[i] |= LVT_MASKED;
    lapic_update(a);
}

/* --- registers ---------------------------------------------------------------- */

static bool in_bank(unsigned off, unsigned base)
{
    return off >= base && off < base + REG_VEC_BANK;
}

static uint32_t reg_read(struct lapic *a, unsigned off)
{
    switch (off) {
    case REG_ID: return (uint32_t)a->id << 24;
    case REG_VERSION: return APIC_VERSION;
    case REG_TPR: return a->tpr;
    case REG_APR: return lapic_apr(a);
    case REG_PPR: return lapic_ppr(a);
    case REG_EOI: return 0;            /* write-only */
    case REG_RRD: return 0;            /* remote read: never valid */
    case REG_LDR: return a->ldr;
    case REG_DFR: return a->dfr;
    case REG_SVR: return a->svr;
    case REG_ESR: return a->esr;
    case REG_ICR_LO: return a->icr_lo; /* delivery status: idle */
    case REG_ICR_HI: return a->icr_hi;
    case REG_TIMER_ICR: return a->timer_initial;
    case REG_TIMER_CCR: return timer_current(a);
    case REG_TIMER_DCR: return a->dcr;
    default: break;
    }
    if (in_bank(off, REG_ISR))
        return a->isr[(off - REG_ISR) >> 4];
    if (in_bank(off, REG_TMR))
        return a->tmr[(off - REG_TMR) >> 4];
    if (in_bank(off, REG_IRR))
        return a->irr[(off - REG_IRR) >> 4];
    if (off >= REG_LVT0 && off < REG_LVT0 + 0x10 * LVT_COUNT)
        return a->lvt[(off - REG_LVT0) >> 4];
    lapic_error(a, ESR_ILLEGAL_REG);
    return 0;
}

static void reg_write(struct lapic *a, unsigned off, uint32_t val)
{
    switch (off) {
    case REG_ID: a->id = (uint8_t)(val >> 24); return;
    case REG_TPR:
        a->tpr = val & 0xFFu;
        lapic_update(a);
        return;
    case REG_EOI: lapic_eoi(a); return;
    case REG_LDR: a->ldr = val & LDR_WMASK; return;
    case REG_DFR: a->dfr = (val & ~DFR_ONES) | DFR_ONES; return;
    case REG_SVR: svr_write(a, val); return;
    case REG_ESR:
        /* A write latches the errors since the last write (10.5.3). */
        a->esr = a->esr_pending;
        a->esr_pending = 0;
        return;
    case REG_ICR_LO:
        a->icr_lo = val & ICR_LO_WMASK;
        send_ipi(a);
        return;
    case REG_ICR_HI: a->icr_hi = val & ICR_HI_WMASK; return;
    case REG_TIMER_ICR: timer_write_initial(a, val); return;
    case REG_TIMER_DCR: timer_write_dcr(a, val); return;
    case REG_VERSION:
    case REG_APR:
    case REG_PPR:
    case REG_RRD:
    case REG_TIMER_CCR:
        return;                        /* read-only */
    default: break;
    }
    if (in_bank(off, REG_ISR) || in_bank(off, REG_TMR) || in_bank(off, REG_IRR))
        return;
    if (off >= REG_LVT0 && off < REG_LVT0 + 0x10 * LVT_COUNT) {
        lvt_write(a, (int)((off - REG_LVT0) >> 4), val);
        return;
    }
    lapic_error(a, ESR_ILLEGAL_REG);
}

/* The page of the vCPU that accesses it (vCPU 0 for other threads, such
 * as the debugger's), or NULL while that APIC answers nowhere. */
static struct lapic *mmio_apic(struct lapics *s)
{
    int i = vm_current_cpu(s->vm);
    struct lapic *a = &s->cpu[i >= 0 && i < s->n ? i : 0];
    return a->hw_enabled && a->at_default_base ? a : NULL;
}

/* Registers are 32 bits on 16-byte boundaries (10.4.1); a narrower read
 * returns bytes of the register, other writes are dropped. */
static uint64_t lapic_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct lapic *a = mmio_apic(opaque);
    if (!a)
        return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    unsigned in = (unsigned)off & 0xFu;
    if (in >= 4)
        return 0;
    return reg_read(a, (unsigned)off & ~0xFu) >> (8 * in);
}

static void lapic_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct lapic *a = mmio_apic(opaque);
    if (a && (off & 0xFu) == 0 && size >= 4)
        reg_write(a, (unsigned)off, (uint32_t)val);
}

static const mmio_ops lapic_mmio_ops = { lapic_mmio_read, lapic_mmio_write };

/* --- the CPU side ---------------------------------------------------------- */

/* INTA: the highest request above the processor priority moves to the
 * ISR; else the 8259's vector for an ExtINT; else the spurious vector,
 * the request having gone (10.9). */
static int lapic_ack(void *opaque, int cpu)
{
    struct lapics *s = opaque;
    if (cpu < 0 || cpu >= s->n)
        return -1;
    struct lapic *a = &s->cpu[cpu];
    if (!a->hw_enabled)
        return a->lint[0] ? vm_extint_ack(s->vm) : -1;
    int v = lapic_pending(a);
    if (v >= 0) {
        vec_clear(a->irr, (unsigned)v);
        vec_set(a->isr, (unsigned)v);
        lapic_update(a);
        return v;
    }
    if (lapic_extint(a)) {
        a->extint_msg = false;
        int vec = vm_extint_ack(s->vm);
        lapic_update(a);
        return vec;
    }
    return (int)(a->svr & 0xFFu);
}

static void lapic_extint_in(void *opaque, int level)
{
    struct lapics *s = opaque;
    lint_set(&s->cpu[0], 0, level != 0);
}

static bool lapic_msr_read(void *opaque, int cpu, uint32_t idx, uint64_t *val)
{
    struct lapics *s = opaque;
    if (idx != MSR_TSC_DEADLINE || cpu < 0 || cpu >= s->n)
        return false;
    struct lapic *a = &s->cpu[cpu];
    /* Reads 0 outside TSC-deadline mode (10.5.4.1). */
    *val = timer_mode(a) == TIMER_TSC_DEADLINE ? a->tsc_deadline : 0;
    return true;
}

static bool lapic_msr_write(void *opaque, int cpu, uint32_t idx, uint64_t val)
{
    struct lapics *s = opaque;
    if (idx != MSR_TSC_DEADLINE || cpu < 0 || cpu >= s->n)
        return false;
    struct lapic *a = &s->cpu[cpu];
    if (timer_mode(a) != TIMER_TSC_DEADLINE)
        return true;   /* ignored in the other modes */
    a->tsc_deadline = val;
    if (val)
        vm_timer_mod(a->timer, vm_cpu_tsc_to_ns(s->vm, cpu, val));
    else
        vm_timer_del(a->timer);
    return true;
}

static void lapic_apic_base(void *opaque, int cpu, uint64_t val)
{
    struct lapics *s = opaque;
    if (cpu < 0 || cpu >= s->n)
        return;
    struct lapic *a = &s->cpu[cpu];
    a->bsp = val & APIC_BASE_BSP;
    a->at_default_base = (val & APIC_BASE_ADDR) == APIC_DEFAULT_BASE;
    if (!a->at_default_base && !s->warned_base) {
        s->warned_base = true;
        vm_log(s->vm, "lapic: the guest moved the APIC page to 0x%llx; not supported",
               (unsigned long long)(val & APIC_BASE_ADDR));
    }
    bool en = val & APIC_BASE_EN;
    if (en != a->hw_enabled) {
        /* Disabling loses the APIC's state; it comes back as after reset. */
        lapic_reset_regs(a);
        a->hw_enabled = en;
        lapic_update(a);
    }
}

static unsigned lapic_get_cr8(void *opaque, int cpu)
{
    struct lapics *s = opaque;
    return cpu >= 0 && cpu < s->n ? (s->cpu[cpu].tpr >> 4) & 0xFu : 0;
}

/* MOV CR8 sets TPR[7:4] and clears TPR[3:0] (10.8.6.1). */
static void lapic_set_cr8(void *opaque, int cpu, unsigned cr8)
{
    struct lapics *s = opaque;
    if (cpu < 0 || cpu >= s->n)
        return;
    s->cpu[cpu].tpr = (cr8 & 0xFu) << 4;
    lapic_update(&s->cpu[cpu]);
}

static const cpu_intc_ops lapic_intc_ops = {
    .ack = lapic_ack,
    .extint = lapic_extint_in,
    .deliver = lapic_deliver,
    .msr_read = lapic_msr_read,
    .msr_write = lapic_msr_write,
    .apic_base = lapic_apic_base,
    .get_cr8 = lapic_get_cr8,
    .set_cr8 = lapic_set_cr8,
};

/* --- device ---------------------------------------------------------------- */

/* Power-up and INIT state of everything but the ID, enable and inputs
 * (10.4.7.1): LVTs masked, SVR 0xFF, DFR all ones; the BSP's LINT0/LINT1
 * in virtual-wire mode (see the top of the file). */
static void lapic_reset_regs(struct lapic *a)
{
    vm_timer_del(a->timer);
    a->tpr = a->ldr = a->esr = a->esr_pending = a->icr_lo = a->icr_hi = a->dcr = 0;
    a->dfr = 0xFFFFFFFFu;
    a->svr = SVR_RESET;
    memset(a->irr, 0, sizeof a->irr);
    memset(a->isr, 0, sizeof a->isr);
    memset(a->tmr, 0, sizeof a->tmr);
    for (int i = 0; i < LVT_COUNT; i++)
        a->lvt[i] = LVT_MASKED;
    if (a->bsp) {
        a->lvt[LVT_LINT0] = APIC_DM_EXTINT << LVT_DM_SHIFT;
        a->lvt[LVT_LINT1] = APIC_DM_NMI << LVT_DM_SHIFT;
    }
    a->timer_initial = 0;
    a->timer_start = 0;
    a->timer_running = false;
    a->tsc_deadline = 0;
    a->extint_msg = false;
}

static void lapic_reset(device *dev)
{
    struct lapics *s = dev->state;
    for (int i = 0; i < s->n; i++) {
        struct lapic *a = &s->cpu[i];
        a->id = (uint8_t)i;
        a->bsp = i == 0;
        a->hw_enabled = true;
        a->at_default_base = true;
        lapic_reset_regs(a);
        a->intr = -1;
        lapic_update(a);
    }
}

static void lapic_destroy(device *dev)
{
    struct lapics *s = dev->state;
    if (!s->cpu)
        return;
    for (int i = 0; i < s->n; i++)
        if (s->cpu[i].timer)
            vm_timer_free(s->cpu[i].timer);
    free(s->cpu);
    s->cpu = NULL;
}

static int lapic_create(device *dev)
{
    struct lapics *s = dev->state;
    s->dev = dev;
    s->vm = dev->vm;
    uint64_t n = cfg_get_u64(dev->cfg, "cpus", 1);
    s->bus_hz = cfg_get_u64(dev->cfg, "bus_hz", NS_PER_SEC);
    if (n < 1 || n > MAX_APICS || n > DEST_BROADCAST) {
        vm_error(dev->vm, "cpus=%llu: from 1 to %d", (unsigned long long)n, MAX_APICS);
        return -1;
    }
    if (s->bus_hz == 0) {
        vm_error(dev->vm, "bus_hz must not be 0");
        return -1;
    }
    s->n = (int)n;
    s->cpu = calloc((size_t)n, sizeof *s->cpu);
    if (!s->cpu) {
        vm_error(dev->vm, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->n; i++) {
        s->cpu[i].all = s;
        s->cpu[i].index = i;
        s->cpu[i].timer = vm_timer_new(dev->vm, timer_expired, &s->cpu[i]);
    }
    lapic_reset(dev);
    if (vm_register_mmio(dev->vm, APIC_DEFAULT_BASE, APIC_PAGE_SIZE, &lapic_mmio_ops, s) < 0 ||
        vm_set_cpu_intc(dev->vm, &lapic_intc_ops, s) < 0) {
        lapic_destroy(dev);   /* a failed create gets no destroy call */
        return -1;
    }
    return 0;
}

static const device_desc lapic_desc = {
    .name = "lapic",
    .state_size = sizeof(struct lapics),
    .create = lapic_create,
    .reset = lapic_reset,
    .destroy = lapic_destroy,
};
DEVICE_REGISTER(lapic_desc);
