/* Adaptive polling before a sleep (src/runtime/spin.c): a window that
 * grows to cover waits that end within reach, shrinks to nothing while
 * they do not, and a spin that ends when the event comes or the window
 * has passed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/spin.h"
#include "runtime/util.h"

#define US 1000u
#define MAX_NS (200 * US)    /* spin.c's SPIN_MAX_NS */

static bool after_calls(void *arg)
{
    int *left = arg;
    return --*left <= 0;
}

static bool never(void *arg)
{
    (*(int *)arg)++;
    return false;
}

static void test_window(void **st)
{
    (void)st;
    struct spin_window w = {0};
    /* Waits within reach: the window grows to cover them, no further. */
    spin_window_update(&w, 10 * US);
    assert_true(w.ns >= 10 * US && w.ns < 20 * US);
    spin_window_update(&w, 3 * US);
    assert_true(w.ns >= 10 * US);          /* a shorter one does not shrink it */
    spin_window_update(&w, MAX_NS - 10 * US);
    assert_int_equal(w.ns, MAX_NS);         /* capped */
    /* Long waits (an idle guest): halved each time, then nothing. */
    spin_window_update(&w, 5000 * US);
    assert_int_equal(w.ns, MAX_NS / 2);
    for (int i = 0; i < 8; i++)
        spin_window_update(&w, 5000 * US);
    assert_int_equal(w.ns, 0);
}

static void test_wait(void **st)
{
    (void)st;
    /* No window: no spin at all. */
    struct spin_window w = {0};
    int calls = 0;
    assert_false(spin_wait(&w, never, &calls));
    assert_int_equal(calls, 0);
    /* The event comes: caught. */
    w.ns = MAX_NS;
    int left = 3;
    assert_true(spin_wait(&w, after_calls, &left));
    assert_int_equal(left, 0);
    /* It does not: the spin gives up once the window has passed. */
    w.ns = 200 * US;
    calls = 0;
    uint64_t t0 = mono_ns();
    assert_false(spin_wait(&w, never, &calls));
    uint64_t took = mono_ns() - t0;
    assert_true(took >= 200 * US);
    assert_true(calls > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
