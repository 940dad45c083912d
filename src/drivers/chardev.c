/* Character-device host ends: stdio, file:PATH, none. */
#include "drivers/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

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
};

/* Only one host end reads stdin, and the terminal state is process-wide. */
static bool stdin_taken;
static bool term_raw;
static struct termios term_saved;

static void term_restore(void)
{
    if (term_raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &term_saved);
        term_raw = false;
    }
}

/* Raw input for a serial console: no echo, no line editing, CR kept as CR;
 * ISIG stays on so that Ctrl-C stops caixa; output processing stays on so
 * caixa's own messages keep their line starts. */
static void term_make_raw(void)
{
    if (term_raw || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &term_saved) < 0)
        return;
    struct termios t = term_saved;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
        static bool registered;
        if (!registered) {
            atexit(term_restore);
            registered = true;
        }
        term_raw = true;
    }
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
        cd->client.receive(cd->client.opaque, buf, (size_t)n);
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
    if (cd->kind == CD_STDIO && cd->has_client)
        term_make_raw();
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
    if (cd->kind == CD_STDIO && cd->in_fd >= 0)
        term_restore();
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
        if (cd->kind == CD_STDIO && cd->has_client)
            term_make_raw();
    }
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
