/* Raw mode for the terminal on standard input, restored on every way out. */
#include "drivers/term.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/util.h"

/* Signals whose default action ends the process: each gets a handler that
 * restores the terminal and raises the signal again, if nobody else
 * handles it. */
static const int fatal_signals[] = {
    SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS,
    SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ,
};

static volatile sig_atomic_t raw_on;
static volatile sig_atomic_t suspended;   /* stopped by SIGTSTP while raw */
static int raw_fd = -1;
static struct termios saved, raw_settings;
static struct sigaction old_tstp, old_cont;
static bool job_control;
static struct sigaction old_action[ARRAY_SIZE(fatal_signals)];
static bool ours[ARRAY_SIZE(fatal_signals)];

/* AddressSanitizer and UBSan end the process with _exit after a report:
 * no atexit handlers, no signal. Their death callback is the only way in;
 * the weak reference is NULL in builds without a sanitizer runtime. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* Async-signal-safe: tcsetattr is. */
static void restore_settings(void)
{
    if (raw_on) {
        raw_on = 0;
        tcsetattr(raw_fd, TCSANOW, &saved);
    }
}

static void on_fatal_signal(int sig)
{
    restore_settings();
    /* SA_RESETHAND made the action the default again: the raised signal
     * (delivered when this handler returns) ends the process as it would
     * have without us, with its status and core dump. */
    raise(sig);
}

/* kill -TSTP (Ctrl-Z itself goes to the guest): the shell gets its
 * terminal back while caixa is stopped, and raw mode returns with SIGCONT. */
static void on_tstp(int sig)
{
    (void)sig;
    int e = errno;
    if (raw_on) {
        restore_settings();
        suspended = 1;
    }
    raise(SIGSTOP);
    errno = e;
}

static void on_cont(int sig)
{
    (void)sig;
    int e = errno;
    if (suspended) {
        suspended = 0;
        raw_on = 1;
        tcsetattr(raw_fd, TCSANOW, &raw_settings);
    }
    errno = e;
}

static void remove_handlers(void)
{
    if (job_control) {
        sigaction(SIGTSTP, &old_tstp, NULL);
        sigaction(SIGCONT, &old_cont, NULL);
        job_control = false;
        suspended = 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++) {
        if (!ours[i])
            continue;
        struct sigaction cur;
        /* Leave a handler someone installed after us in place. */
        if (sigaction(fatal_signals[i], NULL, &cur) == 0 && cur.sa_handler == on_fatal_signal)
            sigaction(fatal_signals[i], &old_action[i], NULL);
        ours[i] = false;
    }
}

static void install_handlers(void)
{
    struct sigaction sa = { .sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND };
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++) {
        struct sigaction cur;
        if (sigaction(fatal_signals[i], NULL, &cur) < 0 || (cur.sa_flags & SA_SIGINFO) ||
            cur.sa_handler != SIG_DFL)
            continue;
        if (sigaction(fatal_signals[i], &sa, &old_action[i]) == 0)
            ours[i] = true;
    }
    struct sigaction cur;
    if (sigaction(SIGTSTP, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
        struct sigaction tstp = { .sa_handler = on_tstp, .sa_flags = SA_RESTART };
        struct sigaction cont = { .sa_handler = on_cont, .sa_flags = SA_RESTART };
        sigfillset(&tstp.sa_mask);
        sigfillset(&cont.sa_mask);
        sigaction(SIGTSTP, &tstp, &old_tstp);
        sigaction(SIGCONT, &cont, &old_cont);
        job_control = true;
    }
}

void term_restore(void)
{
    restore_settings();
    remove_handlers();
}

static void restore_at_exit(void)
{
    restore_settings();
}

bool term_is_raw(void)
{
    return raw_on;
}

bool term_raw(int fd)
{
    if (raw_on)
        return true;
    if (!isatty(fd) || tcgetattr(fd, &saved) < 0)
        return false;
    static bool registered;
    if (!registered) {
        atexit(restore_at_exit);
        if (__sanitizer_set_death_callback)
            __sanitizer_set_death_callback(restore_at_exit);
        registered = true;
    }
    struct termios t = saved;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    raw_settings = t;
    raw_fd = fd;
    /* Handlers first: a signal between the two steps finds them ready. */
    install_handlers();
    raw_on = 1;
    if (tcsetattr(fd, TCSANOW, &t) < 0) {
        raw_on = 0;
        remove_handlers();
        return false;
    }
    return true;
}
