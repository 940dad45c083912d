/* HPET (IA-PC HPET spec 1.0a): capabilities, main counter, one-shot and
 * periodic comparators in 64- and 32-bit mode, LegacyReplacement routing,
 * edge and level interrupts. */
#include "device_test_harness.h"

#include "firmware/acpi.h"

#define HPET 0xFED00000ull
#define CAP 0x000
#define CONFIG 0x010
#define ISR 0x020
#define COUNTER 0x0F0
#define TCONF(n) (0x100 + 0x20 * (n))
#define TCMP(n) (0x108 + 0x20 * (n))
#define ENABLE 0x1
#define LEG_RT 0x2
#define TN_LEVEL (1u << 1)
#define TN_ENB (1u << 2)
#define TN_PERIODIC (1u << 3)
#define TN_PER_CAP (1u << 4)
#define TN_SIZE_CAP (1u << 5)
#define TN_VAL_SET (1u << 6)
#define TN_32 (1u << 8)
#define ROUTE(r) ((uint32_t)(r) << 9)
#define NS_PER_TICK 10

static uint64_t rd(struct vm *vm, unsigned off, unsigned size)
{
    vm_lock(vm);
    uint64_t v = physmem_read(&vm->mem, HPET + off, size);
    vm_unlock(vm);
    return v;
}

static void wr(struct vm *vm, unsigned off, uint64_t v, unsigned size)
{
    vm_lock(vm);
    physmem_write(&vm->mem, HPET + off, v, size);
    vm_unlock(vm);
}

/* Rising edges per line, counted by an extra interrupt controller. */
static unsigned edges[24];

static void count_edges(void *opaque, unsigned gsi, int level)
{
    (void)opaque;
    if (level && gsi < 24)
        edges[gsi]++;
}

static struct vm *new_vm(void)
{
    struct vm *vm = dt_vm_new();
    memset(edges, 0, sizeof edges);
    assert_int_equal(vm_add_irq_sink(vm, count_edges, NULL), 0);
    return vm;
}

static void test_capabilities(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    uint64_t cap = rd(vm, CAP, 8);
    assert_int_equal(cap >> 32, 10000000u);          /* 10 ns period: 100 MHz */
    assert_int_equal((uint32_t)cap, ACPI_HPET_BLOCK_ID);   /* as the HPET table says */
    assert_int_equal((cap >> 8) & 0x1F, 2);          /* three timers */
    assert_int_equal(rd(vm, CAP, 4), (uint32_t)cap);
    assert_int_equal(rd(vm, CAP + 4, 4), cap >> 32);
    uint64_t t0 = rd(vm, TCONF(0), 8);
    assert_int_equal(t0 >> 32, 0x00F00000u);         /* routable to inputs 20-23 */
    assert_true(t0 & TN_PER_CAP);
    assert_true(t0 & TN_SIZE_CAP);
    assert_false(rd(vm, TCONF(1), 8) & TN_PER_CAP);
    assert_int_equal(rd(vm, TCMP(2), 8), UINT64_MAX);
    /* Read-only registers ignore writes; FSB bits stay 0. */
    wr(vm, CAP, 0, 8);
    assert_int_equal(rd(vm, CAP, 8), cap);
    wr(vm, TCONF(1), TN_PERIODIC | (1u << 14), 4);
    assert_int_equal(rd(vm, TCONF(1), 4) & (TN_PERIODIC | (1u << 14)), 0);
    vm_destroy(vm);
}

static void test_counter(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    assert_int_equal(rd(vm, COUNTER, 8), 0);
    dt_advance(vm, 100000);
    assert_int_equal(rd(vm, COUNTER, 8), 0);         /* halted */
    wr(vm, COUNTER, 0x1234500000000ull, 8);          /* written while halted */
    assert_int_equal(rd(vm, COUNTER, 8), 0x1234500000000ull);
    uint64_t t0 = dt_now(vm);
    wr(vm, CONFIG, ENABLE, 4);
    dt_advance(vm, 1000000);
    uint64_t want = 0x1234500000000ull + (dt_now(vm) - t0) / NS_PER_TICK;
    assert_int_equal(rd(vm, COUNTER, 8), want);
    assert_int_equal(rd(vm, COUNTER, 4), (uint32_t)want);
    assert_int_equal(rd(vm, COUNTER + 4, 4), want >> 32);
    wr(vm, CONFIG, 0, 4);                             /* halt: the value stays */
    dt_advance(vm, 100000);
    assert_int_equal(rd(vm, COUNTER, 8), want);
    vm_destroy(vm);
}

static void test_oneshot_routed(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    wr(vm, TCONF(2), TN_ENB | ROUTE(21), 4);
    wr(vm, TCMP(2), 500000, 8);                      /* 5 ms */
    wr(vm, CONFIG, ENABLE, 4);
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 1000000);
    /* Not yet, unless a loaded host slept past the deadline. */
    assert_int_equal(edges[21], dt_now(vm) - t0 >= 5000000 ? 1 : 0);
    dt_advance(vm, 5000000);
    assert_int_equal(edges[21], 1);
    assert_int_equal(dt_gsi(vm, 21), 0);             /* a pulse */
    assert_int_equal(rd(vm, ISR, 4), 0);             /* edge mode: no status */
    dt_advance(vm, 1000000);
    assert_int_equal(edges[21], 1);                  /* 64-bit: once */
    /* A route outside the capability mask delivers nothing. */
    wr(vm, TCONF(2), TN_ENB | ROUTE(5), 4);
    wr(vm, TCMP(2), rd(vm, COUNTER, 8) + 1000, 8);
    dt_advance(vm, 100000);
    assert_int_equal(edges[5], 0);
    vm_destroy(vm);
}

static void test_level_status(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    wr(vm, TCONF(1), TN_ENB | TN_LEVEL | ROUTE(22), 4);
    wr(vm, TCMP(1), 1000, 8);
    wr(vm, CONFIG, ENABLE, 4);
    dt_advance(vm, 50000);
    assert_int_equal(rd(vm, ISR, 4), 0x2);
    assert_int_equal(dt_gsi(vm, 22), 1);             /* held */
    wr(vm, ISR, 0x1, 4);                             /* another bit: no effect */
    assert_int_equal(dt_gsi(vm, 22), 1);
    wr(vm, ISR, 0x2, 4);
    assert_int_equal(rd(vm, ISR, 4), 0);
    assert_int_equal(dt_gsi(vm, 22), 0);
    /* Status with the interrupt disabled: set, but the line stays low. */
    wr(vm, TCONF(1), TN_LEVEL | ROUTE(22), 4);
    wr(vm, TCMP(1), rd(vm, COUNTER, 8) + 100, 8);
    dt_advance(vm, 10000);
    assert_int_equal(rd(vm, ISR, 4), 0x2);
    assert_int_equal(dt_gsi(vm, 22), 0);
    vm_destroy(vm);
}

static void test_legacy_periodic(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    /* As Linux programs it: 32-bit periodic, SETVAL, comparator then period. */
    wr(vm, CONFIG, ENABLE | LEG_RT, 4);
    uint32_t period = 100000;                        /* 1 ms */
    uint32_t now = (uint32_t)rd(vm, COUNTER, 4);
    wr(vm, TCONF(0), TN_ENB | TN_PERIODIC | TN_VAL_SET | TN_32, 4);
    wr(vm, TCMP(0), now + period, 4);
    wr(vm, TCMP(0), period, 4);
    assert_int_equal(rd(vm, TCMP(0), 8), now + period);   /* second write: the period */
    assert_int_equal(rd(vm, TCONF(0), 4) & TN_VAL_SET, 0);
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 10500000);
    uint64_t ticks = (dt_now(vm) - t0) / NS_PER_TICK;
    unsigned want = (unsigned)(ticks / period);
    assert_true(want >= 10);
    /* The host may run timers late and coalesce, never add interrupts. */
    assert_true(edges[0] >= 1 && edges[0] <= want);
    assert_int_equal(edges[8], 0);
    /* The comparator moved on past the counter by whole periods. */
    uint32_t cmp = (uint32_t)rd(vm, TCMP(0), 8);
    uint32_t cnt = (uint32_t)rd(vm, COUNTER, 4);
    assert_int_equal((cmp - (now + period)) % period, 0);
    assert_true((uint32_t)(cmp - cnt) <= period);
    /* Timer 1 goes to IRQ 8. */
    wr(vm, TCONF(1), TN_ENB | TN_32, 4);
    wr(vm, TCMP(1), (uint32_t)rd(vm, COUNTER, 4) + 1000, 4);
    dt_advance(vm, 100000);
    assert_int_equal(edges[8], 1);
    /* Leaving legacy mode: timer 0 follows its route field (0: none). */
    wr(vm, TCONF(0), 0, 4);
    wr(vm, CONFIG, ENABLE, 4);
    unsigned e0 = edges[0];
    dt_advance(vm, 3000000);
    assert_int_equal(edges[0], e0);
    vm_destroy(vm);
}

static void test_32bit_wrap(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    wr(vm, COUNTER, 0xFFF00000ull, 8);              /* wraps in 10.5 ms */
    /* 32-bit timer: matches the counter's low half after it wraps. */
    wr(vm, TCONF(0), TN_ENB | TN_32 | ROUTE(20), 4);
    wr(vm, TCMP(0), 0x1000000000ull | 0x100, 8);    /* upper half ignored */
    assert_int_equal(rd(vm, TCMP(0), 8), 0x100);
    /* 64-bit timer at the same place: matches 2^32 + 0x100. */
    wr(vm, TCONF(2), TN_ENB | ROUTE(23), 4);
    wr(vm, TCMP(2), 0x100000100ull, 8);
    wr(vm, CONFIG, ENABLE, 4);
    uint64_t t0 = dt_now(vm);
    dt_advance(vm, 1000000);                         /* not yet, unless the host slept long */
    unsigned due = (dt_now(vm) - t0) / NS_PER_TICK >= 0x100100u ? 1 : 0;
    assert_int_equal(edges[20], due);
    assert_int_equal(edges[23], due);
    dt_advance(vm, 12000000);
    assert_int_equal(edges[20], 1);
    assert_int_equal(edges[23], 1);
    assert_true(rd(vm, COUNTER, 8) > 0x100000100ull);
    /* Switching a 64-bit comparator to 32-bit mode drops its upper half. */
    wr(vm, TCONF(2), TN_ENB | TN_32 | ROUTE(23), 4);
    assert_int_equal(rd(vm, TCMP(2), 8), 0x100);
    vm_destroy(vm);
}

static void test_reset(void **st)
{
    (void)st;
    struct vm *vm = new_vm();
    wr(vm, TCONF(1), TN_ENB | TN_LEVEL | ROUTE(22), 4);
    wr(vm, TCMP(1), 10, 8);
    wr(vm, CONFIG, ENABLE, 4);
    dt_advance(vm, 10000);
    assert_int_equal(dt_gsi(vm, 22), 1);
    vm_lock(vm);
    vm_machine_reset(vm);
    vm_unlock(vm);
    assert_int_equal(dt_gsi(vm, 22), 0);
    assert_int_equal(rd(vm, CONFIG, 8), 0);
    assert_int_equal(rd(vm, COUNTER, 8), 0);
    assert_int_equal(rd(vm, TCONF(1), 4) & 0xFFFF, TN_SIZE_CAP);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_oneshot_routed),
        cmocka_unit_test(test_level_status),
        cmocka_unit_test(test_legacy_periodic),
        cmocka_unit_test(test_32bit_wrap),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
