/* Virtual clock and timers (VirtualBox's TM). Virtual time is nanoseconds
 * since power-on on the host's CLOCK_MONOTONIC, frozen while the VM is paused.
 * Timers are kept sorted by deadline; the VM runs the expired ones with its
 * platform lock held. struct timer is the type device.h hands to devices. */
#ifndef CAIXA_VMM_CLOCK_H
#define CAIXA_VMM_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h" /* timer_cb */

#define VCLOCK_NO_DEADLINE UINT64_MAX

struct vclock;

/* Called (with the platform lock held) when the earliest deadline changes,
 * so the VM can wake a vCPU or re-arm a host timer. */
typedef void (*vclock_deadline_fn)(void *opaque, uint64_t deadline);

struct vclock *vclock_new(void);
/* Frees the clock; timers still attached are freed with it. */
void vclock_free(struct vclock *vc);
void vclock_set_deadline_hook(struct vclock *vc, vclock_deadline_fn fn, void *opaque);

/* Virtual ns since vclock_new; lock-free, never goes back. */
uint64_t vclock_now(struct vclock *vc);
void vclock_pause(struct vclock *vc);
void vclock_resume(struct vclock *vc);
/* Host CLOCK_MONOTONIC ns at which virtual time `vt` is reached (if running). */
uint64_t vclock_host_ns(struct vclock *vc, uint64_t vt);

struct timer *vclock_timer_new(struct vclock *vc, timer_cb cb, void *opaque);
void vclock_timer_mod(struct timer *t, uint64_t expire_ns);
void vclock_timer_del(struct timer *t);
void vclock_timer_free(struct timer *t);
bool vclock_timer_pending(const struct timer *t);

/* Earliest armed deadline, or VCLOCK_NO_DEADLINE. */
uint64_t vclock_deadline(struct vclock *vc);
/* Runs, in deadline order, the callbacks of the timers due at `now`; a
 * callback may re-arm or delete any timer. Returns how many ran. */
unsigned vclock_run_timers(struct vclock *vc, uint64_t now);

#endif
