/* The event loop (one host thread, epoll): serves host I/O for the VM —
 * character-device input, timer wake-ups, signals. Callbacks run on the
 * loop's thread with no lock held; they take the locks they need. */
#ifndef CAIXA_RUNTIME_EVLOOP_H
#define CAIXA_RUNTIME_EVLOOP_H

#include <stdint.h>

struct evloop;

/* events: EPOLLIN, EPOLLOUT, ... as for epoll_ctl. */
typedef void (*evloop_fd_cb)(void *opaque, int fd, uint32_t events);

/* Returns NULL with errno set. */
struct evloop *evloop_new(void);
/* Stops the thread if it runs, then frees. The fds stay open (their owners close them). */
void evloop_free(struct evloop *loop);

/* Watch fd for events; from any thread, also while the loop runs, but not
 * while holding a lock that callbacks take (a running callback holds the
 * loop's table lock). */
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_cb cb, void *opaque);
/* Change the events watched (0 = pause the fd without removing it). Takes
 * no lock: callable from anywhere, but not racing evloop_del_fd of that fd. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events);
/* Same rule as evloop_add_fd. After it returns, cb is not running and will not be called again for fd. */
void evloop_del_fd(struct evloop *loop, int fd);

/* Starts the loop's thread. Returns 0 or -1 with errno set. */
int evloop_start(struct evloop *loop);
/* Asks the thread to end and joins it (not from a callback). */
void evloop_stop(struct evloop *loop);

#endif
