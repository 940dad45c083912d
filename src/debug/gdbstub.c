/* The gdb stub's run control: the listening socket, the stub thread, and
 * the vCPU's debug handler that parks vCPU 0 while gdb has the VM stopped
 * (see gdb_int.h for the threading rules). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 (the build defines it too) */
#endif
#include "debug/gdbstub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "debug/gdb_int.h"
#include "runtime/log.h"
#include "vmm/vm.h"

/* While parked, how often the handler looks at cpu->exit_request: the VM
 * asks for its vCPU (power-off, reset, pause) through that flag only. */
#define PARK_POLL_NS 10000000L
#define GDB_SIGINT 2   /* stop reply signal numbers (gdb's own numbering) */
#define GDB_SIGTRAP 5

static struct gdbstub *the_stub;

static void wake_thread(struct gdbstub *g)
{
    char b = 1;
    /* A full pipe is already readable: nothing is lost. */
    if (write(g->wake[1], &b, 1) < 0 && errno != EAGAIN)
        log_warn("gdb: wake pipe: %s", strerror(errno));
}

static void drain_wake(struct gdbstub *g)
{
    char b[64];
    while (read(g->wake[0], b, sizeof b) > 0)
        ;
}

/* --- the vCPU side ----------------------------------------------------------- */

static int breakpoint_at(const struct cpu *cpu, uint64_t lin)
{
    for (int i = 0; i < cpu->n_breakpoints; i++)
        if (cpu->breakpoints[i] == lin)
            return i;
    return -1;
}

/* Lock held: the stop reply for the stop the vCPU just made. */
static void record_stop(struct gdbstub *g, struct cpu *cpu)
{
    int sig = GDB_SIGTRAP;
    const char *why = "";
    if (g->interrupt) {
        sig = GDB_SIGINT;
    } else if (!cpu->single_step && cpu->s.seg[S_CS].base == 0) {
        /* gdb's pc is RIP, breakpoints are linear: name the breakpoint only
         * where the two agree, else gdb takes the stop for a stale hit of a
         * breakpoint it removed and silently resumes. */
        int k = breakpoint_at(cpu, cpu->s.rip);
        if (k >= 0)
            why = g->bp_type[k] == 1 ? "hwbreak:;" : "swbreak:;";
    }
    snprintf(g->stop_reply, sizeof g->stop_reply, "T%02xthread:%02x;%s", sig, cpu->index + 1, why);
    g->interrupt = false;
    cpu->single_step = false;
    g->stop_pending = true;
}

static void on_debug(void *opaque, struct cpu *cpu)
{
    struct gdbstub *g = opaque;
    if (cpu != g->cpu)
        return; /* gdb sees vCPU 0 only */
    pthread_mutex_lock(&g->lock);
    if (g->run == GDB_RUNNING) {
        g->run = GDB_STOPPED;
        record_stop(g, cpu);
        wake_thread(g);
    }
    g->parked = true;
    pthread_cond_broadcast(&g->cond);
    while (g->run == GDB_STOPPED && !g->quit) {
        if (atomic_load(&cpu->exit_request)) {
            /* Let the VM serve its request, then come straight back. */
            atomic_store(&cpu->debug_stop, true);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += PARK_POLL_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_nsec -= 1000000000L;
            ts.tv_sec++;
        }
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    g->parked = false;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* --- run control (stub thread, lock held) ------------------------------------ */

bool gdb_cpu_ready(struct gdbstub *g)
{
    while (g->run == GDB_STOPPED && !g->parked && !g->quit)
        pthread_cond_wait(&g->cond, &g->lock);
    return g->run == GDB_STOPPED && g->parked && !g->quit;
}

/* Blocks the CPU cached while no debug feature was on may hold many
 * instructions and would run through a breakpoint or a step: drop them once
 * when stepping or breakpoints start (the CPU then builds one-instruction
 * blocks). */
static void prepare_blocks(struct gdbstub *g)
{
    struct cpu *cpu = g->cpu;
    bool debugging = cpu->single_step || cpu->n_breakpoints > 0;
    if (debugging && !g->blocks_single)
        cpu_flush_all(cpu);
    g->blocks_single = debugging;
}

void gdb_resume(struct gdbstub *g, bool step, bool has_addr, uint64_t addr)
{
    struct cpu *cpu = g->cpu;
    if (has_addr)
        cpu->s.rip = addr;
    cpu->single_step = step;
    atomic_store(&cpu->debug_stop, false);
    prepare_blocks(g);
    g->run = GDB_RUNNING;
    g->stop_pending = false;
    pthread_cond_broadcast(&g->cond);
}

void gdb_detach(struct gdbstub *g)
{
    struct cpu *cpu = g->cpu;
    cpu->n_breakpoints = 0;
    cpu->single_step = false;
    atomic_store(&cpu->debug_stop, false);
    g->interrupt = false;
    g->stop_pending = false;
    g->run = GDB_DETACHED;
    pthread_cond_broadcast(&g->cond);
}

/* Lock not held: stops vCPU 0 if gdb thinks it runs (Ctrl-C, a connection
 * lost while running); `attach`: also if nobody was attached. */
static void request_stop(struct gdbstub *g, bool attach)
{
    pthread_mutex_lock(&g->lock);
    bool running = g->run == GDB_RUNNING || (attach && g->run == GDB_DETACHED);
    if (running) {
        g->run = GDB_RUNNING;
        g->interrupt = true;
        atomic_store(&g->cpu->debug_stop, true);
    }
    pthread_mutex_unlock(&g->lock);
    if (running)
        vm_cpu_kick(g->vm, g->cpu->index); /* a halted vCPU sleeps until kicked */
}

/* --- the stub thread ----------------------------------------------------------- */

/* Sends the pending stop reply, or W on quit. Returns false when the
 * connection must end. */
static bool report(struct gdbstub *g)
{
    struct gdb_conn *c = &g->conn;
    pthread_mutex_lock(&g->lock);
    bool quit = g->quit, send = false;
    gdb_buf_reset(&c->reply);
    if (quit && g->run == GDB_RUNNING) {
        gdb_buf_fmt(&c->reply, "W%02x", (unsigned)g->exit_status & 0xff);
        send = true;
    } else if (!quit && g->stop_pending) {
        gdb_buf_str(&c->reply, g->stop_reply);
        g->stop_pending = false;
        send = true;
    }
    pthread_mutex_unlock(&g->lock);
    if (send && gdb_send_reply(c) < 0)
        return false;
    return !quit;
}

static enum gdb_after serve(struct gdbstub *g)
{
    struct gdb_conn *c = &g->conn;
    uint8_t buf[4096];
    for (;;) {
        struct pollfd pf[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = g->wake[0], .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("gdb: poll: %s", strerror(errno));
            return GDB_END_DETACH;
        }
        if (pf[1].revents) {
            drain_wake(g);
            if (!report(g))
                return GDB_END_DETACH;
        }
        if (!pf[0].revents)
            continue;
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return GDB_END_DETACH; /* gdb went away: as a detach */
        for (ssize_t i = 0; i < n; i++) {
            switch (gdb_conn_feed(c, buf[i])) {
            case GDB_EV_INTERRUPT:
                request_stop(g, false);
                break;
            case GDB_EV_PACKET: {
                enum gdb_after a = gdb_handle_packet(g);
                if (a != GDB_SERVE)
                    return a;
                break;
            }
            case GDB_EV_NONE:
                break;
            }
        }
    }
}

/* Waits for the stop made for a new connection (its stop reply is not sent:
 * gdb asks with '?'). False if the VM went off meanwhile. */
static bool settle(struct gdbstub *g)
{
    pthread_mutex_lock(&g->lock);
    while (g->run == GDB_RUNNING && !g->quit)
        pthread_cond_wait(&g->cond, &g->lock);
    bool ok = gdb_cpu_ready(g);
    g->stop_pending = false;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

static void end_connection(struct gdbstub *g, enum gdb_after why)
{
    if (why == GDB_END_DETACH)
        request_stop(g, false); /* no-op unless running: breakpoints change only while parked */
    pthread_mutex_lock(&g->lock);
    /* A closed connection is a detach. */
    if (why == GDB_END_DETACH && g->run != GDB_DETACHED && gdb_cpu_ready(g))
        gdb_detach(g);
    if (why == GDB_END_KILL || g->quit)
        g->run = GDB_DETACHED;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    close(g->conn.fd);
    g->conn.fd = -1;
}

static int accept_one(struct gdbstub *g)
{
    for (;;) {
        pthread_mutex_lock(&g->lock);
        bool quit = g->quit; /* its wake-up may have been drained already */
        pthread_mutex_unlock(&g->lock);
        if (quit)
            return -1;
        struct pollfd pf[2] = {{.fd = g->listen_fd, .events = POLLIN}, {.fd = g->wake[0], .events = POLLIN}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            return -1;
        if (pf[1].revents)
            drain_wake(g);
        if (!(pf[0].revents & POLLIN))
            continue;
        int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            return -1;
    }
}

static void setup_conn(struct gdbstub *g, int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    gdb_conn_init(&g->conn, fd);
}

static void *stub_thread(void *arg)
{
    struct gdbstub *g = arg;
    for (;;) {
        enum gdb_after why = settle(g) ? serve(g) : GDB_END_DETACH;
        end_connection(g, why);
        if (why == GDB_END_KILL)
            break;
        int fd = accept_one(g);
        if (fd < 0)
            break;
        setup_conn(g, fd);
        request_stop(g, true);
    }
    return NULL;
}

/* --- public ------------------------------------------------------------------- */

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int gdbstub_start(struct vm *vm, int port)
{
    if (the_stub) {
        log_error("--gdb: the stub is already running");
        return -1;
    }
    if (port < 1 || port > 65535) {
        log_error("--gdb %d: expected a TCP port from 1 to 65535", port);
        return -1;
    }
    struct gdbstub *g = calloc(1, sizeof *g);
    if (!g) {
        log_error("--gdb: out of memory");
        return -1;
    }
    g->vm = vm;
    g->cpu = vm_cpu(vm, 0);
    g->conn.fd = -1;
    g->wake[0] = g->wake[1] = -1;
    g->listen_fd = listen_on(port);
    if (g->listen_fd < 0) {
        log_error("--gdb: cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        free(g);
        return -1;
    }
    if (pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("--gdb: pipe: %s", strerror(errno));
        close(g->listen_fd);
        free(g);
        return -1;
    }
    fprintf(stderr, "caixa: waiting for gdb on 127.0.0.1:%d\n", port);
    int fd;
    do
        fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0) {
        log_error("--gdb: accept: %s", strerror(errno));
        goto fail;
    }
    setup_conn(g, fd);

    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    /* Stopped before the first instruction, as gdb expects on attach. */
    g->run = GDB_STOPPED;
    snprintf(g->stop_reply, sizeof g->stop_reply, "T%02xthread:%02x;", GDB_SIGTRAP, 1);
    atomic_store(&g->cpu->debug_stop, true);
    vm_set_debug_handler(vm, on_debug, g);
    int e = pthread_create(&g->thread, NULL, stub_thread, g);
    if (e) {
        log_error("--gdb: thread: %s", strerror(e));
        vm_set_debug_handler(vm, NULL, NULL);
        atomic_store(&g->cpu->debug_stop, false);
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->lock);
        close(fd);
        goto fail;
    }
    g->thread_started = true;
    the_stub = g;
    return 0;
fail:
    close(g->wake[0]);
    close(g->wake[1]);
    close(g->listen_fd);
    free(g);
    return -1;
}

void gdbstub_stop(int exit_status)
{
    struct gdbstub *g = the_stub;
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->quit = true;
    g->exit_status = exit_status;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    wake_thread(g);
    pthread_join(g->thread, NULL);
    vm_set_debug_handler(g->vm, NULL, NULL);
    if (g->conn.fd >= 0)
        close(g->conn.fd);
    close(g->wake[0]);
    close(g->wake[1]);
    close(g->listen_fd);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
    the_stub = NULL;
}
