/* Adaptive polling before a sleep, as KVM's halt polling does: a thread
 * about to wait for an event that usually comes within microseconds (a
 * halted vCPU waiting for a disk completion) first watches for it, sparing
 * the sleep and the wake-up, which on a virtualised host cost more than
 * the wait. The window grows while events come within reach and shrinks
 * to nothing while they do not, so an idle guest does not spin. */
#ifndef CAIXA_RUNTIME_SPIN_H
#define CAIXA_RUNTIME_SPIN_H

#include <stdbool.h>
#include <stdint.h>

struct spin_window {
    uint32_t ns;    /* how long the next wait spins; 0: not at all */
};

/* Spins until done(arg) or the window has passed; true if done. The
 * caller holds no lock that the event's sender needs. */
bool spin_wait(const struct spin_window *w, bool (*done)(void *arg), void *arg);
/* The wait is over: it took waited_ns in all (spin and sleep). */
void spin_window_update(struct spin_window *w, uint64_t waited_ns);

#endif
