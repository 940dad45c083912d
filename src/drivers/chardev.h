/* Character-device host ends (VirtualBox's PDM char drivers): stdio, file,
 * none. A device writes bytes out; bytes from the host arrive through the
 * receive callback, called from the event-loop thread with the platform lock
 * held. */
#ifndef CAIXA_DRIVERS_CHARDEV_H
#define CAIXA_DRIVERS_CHARDEV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct chardev;

typedef struct chardev_client {
    void *opaque;
    /* How many bytes the device can take now (FIFO room). */
    size_t (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, size_t len);
} chardev_client;

/* Never blocks the vCPU for long; drops output if the host end is gone. */
void chardev_write(struct chardev *cd, const uint8_t *buf, size_t len);
void chardev_set_client(struct chardev *cd, const chardev_client *client);
/* Tell the backend the device has room again (poll input). */
void chardev_accept_input(struct chardev *cd);

/* --- host side: for the VM only, devices never call these ---------------- */
struct evloop;
/* Opens a host end from its spec: "stdio", "file:PATH" (output written to
 * PATH, truncated) or "none". Returns NULL with errno set (EINVAL: not a
 * spec). Only the first stdio host end reads standard input. */
struct chardev *chardev_open(const char *spec);
/* Starts serving input on loop; client callbacks then run with *lock held.
 * A terminal on stdin is put in raw mode (drivers/term.h: no echo, no line
 * editing, Ctrl-C and the other signal keys go to the guest) until
 * chardev_detach, and restored at exit and on fatal signals. */
int chardev_attach(struct chardev *cd, struct evloop *loop, pthread_mutex_t *lock);
/* Console keys on a stdio host end whose stdin is a terminal (never on a
 * pipe or file, so scripts pass every byte): Ctrl-A X calls quit (event-loop
 * thread, *lock held) after printing one line, Ctrl-A H lists the keys,
 * Ctrl-A A sends Ctrl-A. quit NULL turns the keys off. */
void chardev_set_escape(struct chardev *cd, void (*quit)(void *opaque), void *opaque);
void chardev_detach(struct chardev *cd);
void chardev_close(struct chardev *cd);

#endif
