/* The VM object and the vCPU loop: timers fire on time while the guest
 * spins and while it is halted, pause freezes the guest and the clock,
 * power-off and reset requests are carried out, states are right. The
 * guest is a 64 KiB firmware image of a few bytes at the reset vector. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cpu/cpu.h"
#include "vmm/device.h"
#include "vmm/vm.h"

#define BIOS_SIZE 0x10000u
#define RESET_VECTOR_OFF 0xFFF0u
#define MS 1000000ull

static const uint8_t spin[] = {0xEB, 0xFE};                   /* jmp $ */
static const uint8_t halt[] = {0xFA, 0xF4, 0xEB, 0xFC};       /* cli; hlt; jmp back */

static struct vm *make_vm(const uint8_t *code, size_t len)
{
    static uint8_t bios[BIOS_SIZE];
    memset(bios, 0xF4, sizeof bios);
    memcpy(bios + RESET_VECTOR_OFF, code, len);
    struct vm_params p = {
        .ram_size = 16u << 20,
        .bios = bios,
        .bios_size = sizeof bios,
        .serial = "none",
        .ncpus = 1,
    };
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    return vm;
}

struct runner {
    struct vm *vm;
    pthread_t thread;
    int status;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->status = vm_run(r->vm);
    return NULL;
}

static void start(struct runner *r, struct vm *vm)
{
    r->vm = vm;
    r->status = -1;
    assert_int_equal(pthread_create(&r->thread, NULL, run_thread, r), 0);
}

static int finish(struct runner *r)
{
    pthread_join(r->thread, NULL);
    assert_int_equal(vm_get_state(r->vm), VM_OFF);
    vm_destroy(r->vm);
    return r->status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void wait_state(struct vm *vm, enum vm_state want)
{
    for (int i = 0; i < 2000 && vm_get_state(vm) != want; i++)
        sleep_ms(1);
    assert_int_equal(vm_get_state(vm), want);
}

struct tick {
    struct vm *vm;
    struct timer *t;
    uint64_t due, fired_at;
    int fired;
    int then_status; /* >= 0: power off with it after firing */
};

static void tick_cb(void *opaque)
{
    struct tick *k = opaque;
    k->fired++;
    k->fired_at = vm_clock_ns(k->vm);
    if (k->then_status >= 0)
        vm_request_poweroff(k->vm, k->then_status);
}

/* A timer due 20 ms after power-on ends the VM; it must fire on time
 * whether the guest spins (the host timer kicks the vCPU) or sleeps in HLT. */
static void timer_ends_vm(const uint8_t *code, size_t len)
{
    struct vm *vm = make_vm(code, len);
    assert_int_equal(vm_get_state(vm), VM_CREATED);
    struct tick k = {.vm = vm, .then_status = 7};
    k.t = vm_timer_new(vm, tick_cb, &k);
    k.due = 20 * MS;
    vm_timer_mod(k.t, k.due);
    struct runner r;
    start(&r, vm);
    int status = finish(&r);
    assert_int_equal(status, 7);
    assert_int_equal(k.fired, 1);
    assert_true(k.fired_at >= k.due);
    assert_true(k.fired_at < k.due + 500 * MS); /* generous for loaded CI machines */
}

static void timer_fires_while_guest_spins(void **state)
{
    (void)state;
    timer_ends_vm(spin, sizeof spin);
}

static void timer_fires_while_guest_halts(void **state)
{
    (void)state;
    timer_ends_vm(halt, sizeof halt);
}

static void pause_freezes_guest_and_clock(void **state)
{
    (void)state;
    struct vm *vm = make_vm(spin, sizeof spin);
    struct runner r;
    start(&r, vm);
    wait_state(vm, VM_RUNNING);
    sleep_ms(10);
    vm_pause(vm);
    assert_int_equal(vm_get_state(vm), VM_PAUSED);
    struct cpu *c = vm_cpu(vm, 0);
    uint64_t insns = c->insn_count;
    uint64_t t0 = vm_clock_ns(vm);
    assert_true(insns > 0);
    sleep_ms(20);
    assert_int_equal(c->insn_count, insns);
    assert_int_equal(vm_clock_ns(vm), t0);
    vm_resume(vm);
    assert_int_equal(vm_get_state(vm), VM_RUNNING);
    sleep_ms(10);
    assert_true(vm_clock_ns(vm) > t0);
    vm_request_poweroff(vm, 0);
    assert_int_equal(finish(&r), 0);
}

static atomic_int resets_seen;

static void count_reset(void *opaque)
{
    (void)opaque;
    resets_seen++;
}

static void reset_request_resets_cpu(void **state)
{
    (void)state;
    struct vm *vm = make_vm(halt, sizeof halt);
    struct runner r;
    start(&r, vm);
    wait_state(vm, VM_RUNNING);
    sleep_ms(10);
    struct cpu *c = vm_cpu(vm, 0);
    vm_pause(vm);
    /* The guest sits in its HLT loop with interrupts off. */
    assert_true(c->s.halted);
    assert_int_equal(c->s.rflags & FL_IF, 0);
    c->s.rip = 0x1234; /* a reset must bring it back to the reset vector */
    vm_resume(vm);
    /* A timer shows the reset happened and the machine ran on. */
    resets_seen = 0;
    vm_lock(vm);
    struct timer *t = vm_timer_new(vm, count_reset, NULL);
    vm_timer_mod(t, vm_clock_ns(vm) + 5 * MS);
    vm_unlock(vm);
    vm_request_reset(vm);
    for (int i = 0; i < 1000 && !resets_seen; i++)
        sleep_ms(1);
    assert_int_equal(resets_seen, 1);
    vm_pause(vm);
    assert_true(c->s.rip == RESET_VECTOR_OFF || c->s.rip == RESET_VECTOR_OFF + 2 ||
                c->s.rip == RESET_VECTOR_OFF + 4);
    vm_resume(vm);
    vm_request_poweroff(vm, 5);
    assert_int_equal(finish(&r), 5);
}

static void no_reboot_turns_reset_into_status_3(void **state)
{
    (void)state;
    static uint8_t bios[BIOS_SIZE];
    memset(bios, 0xF4, sizeof bios);
    memcpy(bios + RESET_VECTOR_OFF, halt, sizeof halt);
    struct vm_params p = {
        .ram_size = 16u << 20, .bios = bios, .bios_size = sizeof bios,
        .serial = "none", .ncpus = 1, .no_reboot = true,
    };
    struct vm *vm = vm_create(&p);
    assert_non_null(vm);
    struct runner r;
    start(&r, vm);
    wait_state(vm, VM_RUNNING);
    vm_request_reset(vm);
    assert_int_equal(finish(&r), 3);
}

static void first_poweroff_status_wins(void **state)
{
    (void)state;
    struct vm *vm = make_vm(spin, sizeof spin);
    vm_request_poweroff(vm, 9);
    vm_request_poweroff(vm, 1);
    struct runner r;
    start(&r, vm);
    assert_int_equal(finish(&r), 9);
}

static void create_refuses_bad_params(void **state)
{
    (void)state;
    static uint8_t bios[BIOS_SIZE];
    struct vm_params p = {
        .ram_size = 16u << 20, .bios = bios, .bios_size = 3000, .serial = "none", .ncpus = 1,
    };
    assert_null(vm_create(&p)); /* BIOS size */
    p.bios_size = sizeof bios;
    p.serial = "tcp:1";
    assert_null(vm_create(&p)); /* host end spec */
    p.serial = "none";
    p.ncpus = CAIXA_MAX_CPUS + 1;
    assert_null(vm_create(&p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timer_fires_while_guest_spins),
        cmocka_unit_test(timer_fires_while_guest_halts),
        cmocka_unit_test(pause_freezes_guest_and_clock),
        cmocka_unit_test(reset_request_resets_cpu),
        cmocka_unit_test(no_reboot_turns_reset_into_status_3),
        cmocka_unit_test(first_poweroff_status_wins),
        cmocka_unit_test(create_refuses_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
