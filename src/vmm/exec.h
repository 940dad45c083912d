/* The vCPU threads (VirtualBox's EM): each runs cpu_run() in slices and,
 * between slices, with the platform lock held: requests (power-off, reset,
 * pause), due timers, and the halt sleep. Declared for the VM in vm_int.h
 * (exec_start, exec_join); this header holds the tuning constants. */
#ifndef CAIXA_VMM_EXEC_H
#define CAIXA_VMM_EXEC_H

/* Instructions per cpu_run slice. Timer deadlines interrupt a slice
 * earlier through cpu->exit_request (vm_time.c), so this only bounds the
 * latency of nothing in particular; big enough to amortise the lock. */
#define EXEC_SLICE_INSNS 200000u

#endif
