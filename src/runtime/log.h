/* Logging to stderr (VirtualBox's IPRT log): every line starts "caixa: ".
 * The level comes from the environment variable CAIXA_LOG
 * (error, warn, info, debug); the default is warn. */
#ifndef CAIXA_RUNTIME_LOG_H
#define CAIXA_RUNTIME_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Reads CAIXA_LOG once; later calls are cheap. */
enum log_level log_level(void);
void log_set_level(enum log_level level);
static inline int log_enabled(enum log_level level) { return level <= log_level(); }

/* One line "caixa: [prefix: ]message" (a trailing newline is added). */
void log_msg(enum log_level level, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *prefix, const char *fmt, __builtin_va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
