/* Virtual clock: monotonic time, pause, timer ordering and re-arming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "vmm/clock.h"

static int order[16];
static int n_fired;

static void fire(void *opaque)
{
    if (n_fired < 16)
        order[n_fired] = (int)(intptr_t)opaque;
    n_fired++;
}

static void reset_log(void)
{
    n_fired = 0;
    for (int i = 0; i < 16; i++)
        order[i] = -1;
}

static void timers_fire_in_deadline_order(void **state)
{
    (void)state;
    struct vclock *vc = vclock_new();
    reset_log();
    struct timer *t[5];
    uint64_t when[5] = {500, 100, 300, 100, 200};
    for (int i = 0; i < 5; i++) {
        t[i] = vclock_timer_new(vc, fire, (void *)(intptr_t)i);
        vclock_timer_mod(t[i], when[i]);
    }
    assert_int_equal(vclock_deadline(vc), 100);
    assert_int_equal(vclock_run_timers(vc, 99), 0);
    assert_int_equal(vclock_run_timers(vc, 300), 4);
    /* equal deadlines keep the order they were armed in */
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 4);
    assert_int_equal(order[3], 2);
    assert_int_equal(vclock_deadline(vc), 500);
    assert_true(vclock_timer_pending(t[0]));
    assert_false(vclock_timer_pending(t[1]));
    vclock_timer_del(t[0]);
    assert_int_equal(vclock_deadline(vc), VCLOCK_NO_DEADLINE);
    assert_int_equal(vclock_run_timers(vc, UINT64_MAX - 1), 4 - 4);
    vclock_free(vc); /* frees the timers still attached */
}

static void remod_moves_timer(void **state)
{
    (void)state;
    struct vclock *vc = vclock_new();
    reset_log();
    struct timer *a = vclock_timer_new(vc, fire, (void *)1);
    struct timer *b = vclock_timer_new(vc, fire, (void *)2);
    vclock_timer_mod(a, 100);
    vclock_timer_mod(b, 200);
    vclock_timer_mod(a, 300); /* a moves behind b */
    assert_int_equal(vclock_deadline(vc), 200);
    assert_int_equal(vclock_run_timers(vc, 1000), 2);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 1);
    vclock_timer_free(a);
    vclock_timer_free(b);
    vclock_free(vc);
}

struct periodic {
    struct timer *t;
    uint64_t period, next;
    int runs;
};

static void periodic_cb(void *opaque)
{
    struct periodic *p = opaque;
    p->runs++;
    p->next += p->period;
    vclock_timer_mod(p->t, p->next);
}

static void periodic_rearm_inside_callback(void **state)
{
    (void)state;
    struct vclock *vc = vclock_new();
    struct periodic p = {.period = 10, .next = 10};
    p.t = vclock_timer_new(vc, periodic_cb, &p);
    vclock_timer_mod(p.t, p.next);
    /* catches up every period that is due, then stops */
    assert_int_equal(vclock_run_timers(vc, 55), 5);
    assert_int_equal(p.runs, 5);
    assert_int_equal(vclock_deadline(vc), 60);
    vclock_free(vc);
}

static void runaway_timer_is_bounded(void **state)
{
    (void)state;
    struct vclock *vc = vclock_new();
    struct periodic p = {.period = 0, .next = 5}; /* re-arms at the same time forever */
    p.t = vclock_timer_new(vc, periodic_cb, &p);
    vclock_timer_mod(p.t, p.next);
    unsigned ran = vclock_run_timers(vc, 10);
    assert_true(ran > 0 && ran <= 1024);
    vclock_free(vc);
}

struct hook_log {
    int calls;
    uint64_t last;
};

static void hook(void *opaque, uint64_t deadline)
{
    struct hook_log *h = opaque;
    h->calls++;
    h->last = deadline;
}

static void deadline_hook(void **state)
{
    (void)state;
    struct vclock *vc = vclock_new();
    struct hook_log h = {0};
    vclock_set_deadline_hook(vc, hook, &h);
    reset_log();
    struct timer *a = vclock_timer_new(vc, fire, (void *)1);
    struct timer *b = vclock_timer_new(vc, fire, (void *)2);
    vclock_timer_mod(a, 100);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.last, 100);
    vclock_timer_mod(b, 200); /* not earlier: no call */
    assert_int_equal(h.calls, 1);
    vclock_timer_mod(b, 50);
    assert_int_equal(h.calls, 2);
    assert_int_equal(h.last, 50);
    vclock_run_timers(vc, 60);
    assert_int_equal(h.last, 100);
    vclock_timer_del(a);
    assert_int_equal(h.last, VCLOCK_NO_DEADLINE);
    vclock_free(vc);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void time_runs_and_pauses(void **state)
{
    (void)state;
    struct vclock *vc = vclock_new();
    uint64_t t0 = vclock_now(vc);
    sleep_ms(5);
    uint64_t t1 = vclock_now(vc);
    assert_true(t1 >= t0 + 4000000);
    vclock_pause(vc);
    uint64_t p0 = vclock_now(vc);
    sleep_ms(5);
    assert_int_equal(vclock_now(vc), p0); /* frozen */
    vclock_resume(vc);
    uint64_t r = vclock_now(vc);
    assert_true(r >= p0 && r < p0 + 4000000); /* continues where it stopped */
    assert_true(vclock_host_ns(vc, r) >= r);
    vclock_free(vc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_deadline_order),
        cmocka_unit_test(remod_moves_timer),
        cmocka_unit_test(periodic_rearm_inside_callback),
        cmocka_unit_test(runaway_timer_is_bounded),
        cmocka_unit_test(deadline_hook),
        cmocka_unit_test(time_runs_and_pauses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
