/* The VM's side of the virtual clock: timers for devices (device.h) and
 * the host timer (a timerfd on the event loop) that stops a running vCPU
 * when the earliest deadline is due, so timers fire on time. */
#ifndef CAIXA_VMM_VM_TIME_H
#define CAIXA_VMM_VM_TIME_H

#include <stdint.h>

struct vm;

/* vclock deadline hook (lock held). */
void vm_time_deadline_changed(void *opaque, uint64_t deadline);
/* Event-loop callback of the timerfd. */
void vm_time_on_timerfd(void *opaque, int fd, uint32_t events);
/* On a vCPU thread, lock held: run what is due. */
void vm_time_run_timers(struct vm *vm);

#endif
