/* Character-device host ends: stdio, file:PATH, none. */
#include "drivers/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "drivers/term.h"
#include "runtime/evloop.h"
#include "runtime/log.h"
#include "runtime/util.h"

enum chardev_kind { CD_NONE, CD_STDIO, CD_FILE };

struct chardev {
    enum chardev_kind kind;
    int in_fd;               /* -1: no input */
    int out_fd;              /* -1: output dropped */
    bool own_out;            /* out_fd is ours to close */
    bool gone;               /* output failed for good */
    chardev_client client;
    bool has_client;
    struct evloop *loop;
    pthread_mutex_t *lock;
    bool watching;           /* in_fd is on the loop */
    bool input_paused;       /* waiting for chardev_accept_input */
    /* Console keys: on for a stdio end on a terminal with a quit handler. */
    void (*quit)(void *opaque);
    void *quit_opaque;
    bool escape_on;
    bool escape_seen;        /* the last byte was Ctrl-A */
};

/* Only one host end reads stdin. */
static bool stdin_taken;

/* The console keys (as QEMU's -nographic): Ctrl-A, then a letter. */
#define ESCAPE_KEY 0x01

static const char escape_help[] =
    "caixa: console keys (Ctrl-A, then a letter):\r\n"
    "caixa:   Ctrl-A H   this list\r\n"
    "caixa:   Ctrl-A X   quit caixa\r\n"
    "caixa:   Ctrl-A A   send Ctrl-A to the guest\r\n";

static void say(const char *msg)
{
    size_t len = strlen(msg);
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, msg, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        msg += n;
        len -= (size_t)n;
    }
}

/* Puts the stdio end's terminal in raw mode once it has a reader. */
static void stdio_make_raw(struct chardev *cd)
{
    if (cd->kind == CD_STDIO && cd->in_fd >= 0 && cd->has_client && term_raw(cd->in_fd))
        cd->escape_on = cd->quit != NULL;
}

struct chardev *chardev_open(const char *spec)
{
    if (!spec) {
        errno = EINVAL;
        return NULL;
    }
    struct chardev *cd = xcalloc(1, sizeof *cd);
    cd->in_fd = cd->out_fd = -1;
    if (strcmp(spec, "none") == 0) {
        cd->kind = CD_NONE;
    } else if (strcmp(spec, "stdio") == 0) {
        cd->kind = CD_STDIO;
        cd->out_fd = STDOUT_FILENO;
        if (!stdin_taken) {
            stdin_taken = true;
            cd->in_fd = STDIN_FILENO;
        }
    } else if (strncmp(spec, "file:", 5) == 0 && spec[5]) {
        cd->kind = CD_FILE;
        cd->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (cd->out_fd < 0) {
            int e = errno;
            free(cd);
            errno = e == EINVAL ? EIO : e; /* EINVAL means "bad spec" to callers */
            return NULL;
        }
        cd->own_out = true;
    } else {
        free(cd);
        errno = EINVAL;
        return NULL;
    }
    return cd;
}

static void watch(struct chardev *cd, bool on)
{
    if (!cd->watching)
        return;
    evloop_mod_fd(cd->loop, cd->in_fd, on ? EPOLLIN : 0);
    cd->input_paused = !on;
}

/* Takes the console keys out of buf; returns how many bytes remain. */
static size_t console_keys(struct chardev *cd, uint8_t *buf, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = buf[i];
        if (!cd->escape_seen) {
            if (c == ESCAPE_KEY)
                cd->escape_seen = true;
            else
                buf[out++] = c;
            continue;
        }
        cd->escape_seen = false;
        switch (c) {
        case 'a': case 'A': case ESCAPE_KEY:
            buf[out++] = ESCAPE_KEY;
            break;
        case 'x': case 'X':
            say(isatty(STDERR_FILENO) ? "\r\ncaixa: Ctrl-A X: quitting\r\n" : "caixa: Ctrl-A X: quitting\n");
            cd->quit(cd->quit_opaque);
            /* Nothing typed after the quit reaches the guest. */
            cd->escape_on = false;
            watch(cd, false);
            return out;
        case 'h': case 'H': case '?':
            say(escape_help);
            break;
        default:
            break;   /* not a console key: dropped, as QEMU does */
        }
    }
    return out;
}

/* Event loop thread: input is readable. */
static void on_input(void *opaque, int fd, uint32_t events)
{
    struct chardev *cd = opaque;
    (void)events;
    pthread_mutex_lock(cd->lock);
    size_t room = cd->has_client && cd->client.can_receive ? cd->client.can_receive(cd->client.opaque) : 0;
    if (room == 0) {
        /* Leave the bytes in the host buffer until the device has room. */
        watch(cd, false);
        pthread_mutex_unlock(cd->lock);
        return;
    }
    uint8_t buf[256];
    ssize_t n = read(fd, buf, room < sizeof buf ? room : sizeof buf);
    if (n > 0) {
        size_t len = cd->escape_on ? console_keys(cd, buf, (size_t)n) : (size_t)n;
        if (len)
            cd->client.receive(cd->client.opaque, buf, len);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* End of input: the guest simply gets no more bytes. */
        evloop_del_fd(cd->loop, fd);
        cd->watching = false;
    }
    pthread_mutex_unlock(cd->lock);
}

int chardev_attach(struct chardev *cd, struct evloop *loop, pthread_mutex_t *lock)
{
    cd->loop = loop;
    cd->lock = lock;
    if (cd->in_fd < 0 || cd->watching)
        return 0;
    if (evloop_add_fd(loop, cd->in_fd, cd->has_client ? EPOLLIN : 0, on_input, cd) < 0) {
        /* Regular files and /dev/null cannot be polled: no input, not an error. */
        if (errno == EPERM)
            return 0;
        return -1;
    }
    cd->watching = true;
    cd->input_paused = !cd->has_client;
    stdio_make_raw(cd);
    return 0;
}

void chardev_detach(struct chardev *cd)
{
    if (!cd)
        return;
    if (cd->watching) {
        evloop_del_fd(cd->loop, cd->in_fd);
        cd->watching = false;
    }
    if (cd->kind == CD_STDIO && cd->in_fd >= 0) {
        term_restore();
        cd->escape_on = cd->escape_seen = false;
    }
    cd->loop = NULL;
}

void chardev_close(struct chardev *cd)
{
    if (!cd)
        return;
    chardev_detach(cd);
    if (cd->own_out)
        close(cd->out_fd);
    if (cd->in_fd == STDIN_FILENO)
        stdin_taken = false;
    free(cd);
}

void chardev_set_client(struct chardev *cd, const chardev_client *client)
{
    if (!cd)
        return;
    if (client) {
        cd->client = *client;
        cd->has_client = true;
    } else {
        cd->has_client = false;
    }
    if (cd->watching) {
        watch(cd, cd->has_client);
        stdio_make_raw(cd);
    }
}

void chardev_set_escape(struct chardev *cd, void (*quit)(void *opaque), void *opaque)
{
    if (!cd)
        return;
    cd->quit = quit;
    cd->quit_opaque = opaque;
    cd->escape_on = quit && term_is_raw() && cd->kind == CD_STDIO && cd->in_fd >= 0;
}

void chardev_accept_input(struct chardev *cd)
{
    if (cd && cd->watching && cd->input_paused && cd->has_client)
        watch(cd, true);
}

void chardev_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
    if (!cd || cd->out_fd < 0 || cd->gone)
        return;
    while (len > 0) {
        ssize_t n = write(cd->out_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* EPIPE, EIO, disk full: the host end is gone; drop from now on. */
            log_warn("character output failed (%s); dropping further output", strerror(errno));
            cd->gone = true;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}
