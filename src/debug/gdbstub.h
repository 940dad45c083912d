/* The gdb remote-protocol stub (VirtualBox's DBGF): `caixa run --gdb PORT`.
 *
 * gdbstub_start() listens on 127.0.0.1:PORT, waits for gdb to connect and
 * keeps vCPU 0 stopped before its first instruction until gdb continues
 * (as QEMU's -s -S). The connection is served on a thread of its own; after
 * a detach (or a closed connection) the VM runs on and gdb may attach again.
 * Registers use gdb's amd64 layout, described to gdb by a target XML that
 * adds fs_base/gs_base and the system registers (cr0 cr2 cr3 cr4 cr8 efer).
 * Addresses are guest linear addresses. docs/cli.md has the details. */
#ifndef CAIXA_DEBUG_GDBSTUB_H
#define CAIXA_DEBUG_GDBSTUB_H

struct vm;

/* Call after vm_create and before vm_run. Blocks until gdb connects.
 * Returns 0, or -1 after one "caixa: --gdb: ..." line. */
int gdbstub_start(struct vm *vm, int port);
/* Call after vm_run returned, before vm_destroy: tells a connected gdb that
 * the VM exited (W packet) and ends the stub's thread. No-op if not started. */
void gdbstub_stop(int exit_status);

#endif
