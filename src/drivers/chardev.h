/* Character-device host ends (VirtualBox's PDM char drivers): stdio, file,
 * none. A device writes bytes out; bytes from the host arrive through the
 * receive callback, called from the event-loop thread with the platform lock
 * held. */
#ifndef CAIXA_DRIVERS_CHARDEV_H
#define CAIXA_DRIVERS_CHARDEV_H

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

#endif
