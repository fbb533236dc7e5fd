/*
 * log.h - the one place chatd writes diagnostics.
 *
 * Owns: the log level and destination (stderr or a file).  Promises: one
 * line per call, prefixed with time and level; libwebsockets' own log is
 * routed here at warnings and above only (lws logs client addresses at
 * NOTICE).  Callers must never pass message text, IP addresses or user
 * agents: log conversation ids and counts instead.
 */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERR };

int log_init(const char *level, const char *file);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Routes libwebsockets' log through log_msg (warnings and errors only). */
void log_route_lws(void);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)

#endif
