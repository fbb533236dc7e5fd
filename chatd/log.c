/*
 * log.c - see log.h.
 */
#include "log.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOG_LINE_MAX 1024 /* bytes; longer lines are cut */

static enum log_level log_threshold = LOG_INFO;
static FILE *log_out;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_init(const char *level, const char *file)
{
    log_out = stderr;
    if (level && *level) {
        int found = 0;
        for (int i = 0; i <= LOG_ERR; i++)
            if (strcasecmp(level, level_names[i]) == 0) {
                log_threshold = (enum log_level)i;
                found = 1;
            }
        if (!found)
            return -1;
    }
    if (file && *file) {
        FILE *f = fopen(file, "a");
        if (!f)
            return -1;
        setvbuf(f, NULL, _IOLBF, 0);
        log_out = f;
    }
    return 0;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s ",
                          ts.tv_nsec / 1000000, level_names[level]);
    if (n < sizeof line)
        vsnprintf(line + n, sizeof line - n, fmt, ap);
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    fprintf(log_out ? log_out : stderr, "%s\n", line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level < log_threshold)
        return;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

static void lws_emit(int level, const char *line)
{
    log_msg(level == LLL_ERR ? LOG_ERR : LOG_WARN, "lws: %s", line);
}

void log_route_lws(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}
