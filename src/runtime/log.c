#include "runtime/log.h"

#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* -1: not read from the environment yet. */
static int cur_level = -1;

enum log_level log_level(void)
{
    int l = __atomic_load_n(&cur_level, __ATOMIC_RELAXED);
    if (l >= 0)
        return (enum log_level)l;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *env = getenv("CAIXA_LOG");
    l = LOG_WARN;
    for (int i = 0; env && i < 4; i++)
        if (strcmp(env, names[i]) == 0)
            l = i;
    __atomic_store_n(&cur_level, l, __ATOMIC_RELAXED);
    return (enum log_level)l;
}

void log_set_level(enum log_level level)
{
    __atomic_store_n(&cur_level, (int)level, __ATOMIC_RELAXED);
}

void log_vmsg(enum log_level level, const char *prefix, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    /* Format first so that the line reaches stderr in one write and lines
     * of different threads never interleave. */
    char line[1024];
    int n = snprintf(line, sizeof line, "caixa: %s%s%s", level == LOG_WARN ? "warning: " : "",
                     prefix ? prefix : "", prefix ? ": " : "");
    if (n < 0)
        return;
    if ((size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = strnlen(line, sizeof line - 2);
    while (len > 0 && line[len - 1] == '\n')
        len--;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

void log_msg(enum log_level level, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, prefix, fmt, ap);
    va_end(ap);
}
