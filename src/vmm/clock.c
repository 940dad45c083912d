#include "vmm/clock.h"

#include <stdlib.h>

#include "runtime/util.h"

/* A timer callback that keeps re-arming itself in the past could hold the
 * vCPU forever; past this many callbacks in one pass the rest waits for the
 * next pass (the guest sees late timers, the host stays alive). */
#define VCLOCK_MAX_RUNS_PER_PASS 1024

struct timer {
    struct vclock *vc;
    timer_cb cb;
    void *opaque;
    uint64_t expire;
    bool armed;
    struct timer *next;      /* in the armed list, sorted by expire */
    struct timer *all_next;  /* every timer of the clock, for vclock_free */
};

struct vclock {
    /* host = virtual + offset while running; paused_at holds the time when paused. */
    _Atomic uint64_t offset;
    _Atomic uint64_t paused_at;
    _Atomic bool paused;
    struct timer *armed;
    struct timer *all;
    vclock_deadline_fn hook;
    void *hook_opaque;
};

struct vclock *vclock_new(void)
{
    struct vclock *vc = xcalloc(1, sizeof *vc);
    vc->offset = mono_ns();
    return vc;
}

void vclock_free(struct vclock *vc)
{
    if (!vc)
        return;
    struct timer *t = vc->all;
    while (t) {
        struct timer *n = t->all_next;
        free(t);
        t = n;
    }
    free(vc);
}

void vclock_set_deadline_hook(struct vclock *vc, vclock_deadline_fn fn, void *opaque)
{
    vc->hook = fn;
    vc->hook_opaque = opaque;
}

uint64_t vclock_now(struct vclock *vc)
{
    if (vc->paused)
        return vc->paused_at;
    uint64_t host = mono_ns(), off = vc->offset;
    return host > off ? host - off : 0;
}

void vclock_pause(struct vclock *vc)
{
    if (vc->paused)
        return;
    vc->paused_at = vclock_now(vc);
    vc->paused = true;
}

void vclock_resume(struct vclock *vc)
{
    if (!vc->paused)
        return;
    vc->offset = mono_ns() - vc->paused_at;
    vc->paused = false;
}

uint64_t vclock_host_ns(struct vclock *vc, uint64_t vt)
{
    uint64_t off = vc->offset;
    return vt > UINT64_MAX - off ? UINT64_MAX : vt + off;
}

struct timer *vclock_timer_new(struct vclock *vc, timer_cb cb, void *opaque)
{
    struct timer *t = xcalloc(1, sizeof *t);
    t->vc = vc;
    t->cb = cb;
    t->opaque = opaque;
    t->all_next = vc->all;
    vc->all = t;
    return t;
}

static void unlink_armed(struct timer *t)
{
    for (struct timer **p = &t->vc->armed; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
    t->armed = false;
}

static void notify(struct vclock *vc, uint64_t old_deadline)
{
    uint64_t d = vclock_deadline(vc);
    if (d != old_deadline && vc->hook)
        vc->hook(vc->hook_opaque, d);
}

void vclock_timer_mod(struct timer *t, uint64_t expire_ns)
{
    struct vclock *vc = t->vc;
    uint64_t old = vclock_deadline(vc);
    if (t->armed)
        unlink_armed(t);
    /* Equal deadlines keep the order they were armed in. */
    struct timer **p = &vc->armed;
    while (*p && (*p)->expire <= expire_ns)
        p = &(*p)->next;
    t->expire = expire_ns;
    t->next = *p;
    *p = t;
    t->armed = true;
    notify(vc, old);
}

void vclock_timer_del(struct timer *t)
{
    if (!t || !t->armed)
        return;
    uint64_t old = vclock_deadline(t->vc);
    unlink_armed(t);
    notify(t->vc, old);
}

void vclock_timer_free(struct timer *t)
{
    if (!t)
        return;
    vclock_timer_del(t);
    for (struct timer **p = &t->vc->all; *p; p = &(*p)->all_next) {
        if (*p == t) {
            *p = t->all_next;
            break;
        }
    }
    free(t);
}

bool vclock_timer_pending(const struct timer *t)
{
    return t->armed;
}

uint64_t vclock_deadline(struct vclock *vc)
{
    return vc->armed ? vc->armed->expire : VCLOCK_NO_DEADLINE;
}

unsigned vclock_run_timers(struct vclock *vc, uint64_t now)
{
    unsigned runs = 0;
    uint64_t old = vclock_deadline(vc);
    while (vc->armed && vc->armed->expire <= now && runs < VCLOCK_MAX_RUNS_PER_PASS) {
        struct timer *t = vc->armed;
        vc->armed = t->next;
        t->next = NULL;
        t->armed = false;
        runs++;
        t->cb(t->opaque);
    }
    if (runs)
        notify(vc, old);
    return runs;
}
