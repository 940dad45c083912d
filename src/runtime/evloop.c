#include "runtime/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/util.h"

#define EVLOOP_MAX_WATCH 64

struct watch {
    int fd;              /* -1: free slot */
    evloop_fd_cb cb;
    void *opaque;
};

struct evloop {
    int epfd;
    int wakefd;          /* eventfd: wakes epoll_wait for stop and del */
    pthread_t thread;
    bool running;
    bool stop;
    /* Guards the watch table; held while a callback runs, so that
     * evloop_del_fd can promise the callback is not running. Recursive so
     * that callbacks may add, change or delete fds themselves. */
    pthread_mutex_t lock;
    struct watch watch[EVLOOP_MAX_WATCH];
};

struct evloop *evloop_new(void)
{
    struct evloop *loop = xcalloc(1, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        int e = errno;
        if (loop->epfd >= 0)
            close(loop->epfd);
        if (loop->wakefd >= 0)
            close(loop->wakefd);
        free(loop);
        errno = e;
        return NULL;
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&loop->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    for (int i = 0; i < EVLOOP_MAX_WATCH; i++)
        loop->watch[i].fd = -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev);
    return loop;
}

void evloop_free(struct evloop *loop)
{
    if (!loop)
        return;
    evloop_stop(loop);
    close(loop->epfd);
    close(loop->wakefd);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

static void wake(struct evloop *loop)
{
    uint64_t one = 1;
    ssize_t r = write(loop->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN: a wake-up is pending already */
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_cb cb, void *opaque)
{
    int rc = -1;
    pthread_mutex_lock(&loop->lock);
    for (int i = 0; i < EVLOOP_MAX_WATCH; i++) {
        if (loop->watch[i].fd >= 0)
            continue;
        struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)i};
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
            loop->watch[i].cb = cb;
            loop->watch[i].opaque = opaque;
            __atomic_store_n(&loop->watch[i].fd, fd, __ATOMIC_RELEASE);
            rc = 0;
        }
        goto out;
    }
    errno = ENOSPC;
out:
    pthread_mutex_unlock(&loop->lock);
    return rc;
}

static int find(struct evloop *loop, int fd)
{
    for (int i = 0; i < EVLOOP_MAX_WATCH; i++)
        if (__atomic_load_n(&loop->watch[i].fd, __ATOMIC_ACQUIRE) == fd)
            return i;
    return -1;
}

/* Lock-free on purpose: a device re-enables its input from a vCPU thread
 * holding the platform lock while a loop callback may wait for that lock. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
    int i = find(loop, fd);
    if (i < 0) {
        errno = ENOENT;
        return -1;
    }
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)i};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void evloop_del_fd(struct evloop *loop, int fd)
{
    pthread_mutex_lock(&loop->lock);
    int i = find(loop, fd);
    if (i >= 0) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        __atomic_store_n(&loop->watch[i].fd, -1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&loop->lock);
}

static void *loop_thread(void *arg)
{
    struct evloop *loop = arg;
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(loop->epfd, evs, 16, -1);
        if (n < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&loop->lock);
        bool stop = loop->stop;
        for (int k = 0; k < n && !stop; k++) {
            uint64_t i = evs[k].data.u64;
            if (i == UINT64_MAX) {
                uint64_t v;
                ssize_t r = read(loop->wakefd, &v, sizeof v);
                (void)r;
                continue;
            }
            /* The slot may have been deleted by an earlier callback of this batch. */
            struct watch w = loop->watch[i];
            if (w.fd >= 0)
                w.cb(w.opaque, w.fd, evs[k].events);
            stop = loop->stop;
        }
        pthread_mutex_unlock(&loop->lock);
        if (stop)
            break;
    }
    return NULL;
}

int evloop_start(struct evloop *loop)
{
    if (loop->running)
        return 0;
    loop->stop = false;
    int e = pthread_create(&loop->thread, NULL, loop_thread, loop);
    if (e) {
        errno = e;
        return -1;
    }
    loop->running = true;
    return 0;
}

void evloop_stop(struct evloop *loop)
{
    if (!loop->running)
        return;
    pthread_mutex_lock(&loop->lock);
    loop->stop = true;
    pthread_mutex_unlock(&loop->lock);
    wake(loop);
    pthread_join(loop->thread, NULL);
    loop->running = false;
}
