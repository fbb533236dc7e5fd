/*
 * bench/fsync.c - the latency the disk alone adds to a message, with
 * Redis's `appendfsync always`.
 *
 * With `always`, Redis writes and fdatasyncs its AOF once per event-loop
 * turn, before it replies to anyone or publishes anything, so no message
 * is acknowledged or delivered before the fdatasync of the turn that
 * carried it returns.  This probe plays only that part of Redis, in the
 * directory given (run.sh passes Redis's own), at a steady message rate:
 * messages arrive evenly; each turn writes the bytes of the messages that
 * arrived since the last turn began and fdatasyncs them; a message's
 * latency is from its arrival to the end of its turn's fdatasync.  Nothing
 * else (no parsing, no Lua, no network) is counted, so the percentiles it
 * prints are a floor under the end-to-end figures of the latency scenario.
 * It also prints the longest fdatasync of each second, as Redis's latency
 * monitor reports its own (run.sh sets it), so the two compare directly.
 *
 * Usage: fsync DIR [SECONDS] [MSGS_PER_S] [AOF_BYTES_PER_MSG]
 * Prints one JSON object.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_SECONDS_DEFAULT   10
#define PROBE_RATE_DEFAULT      5000 /* messages per second */
#define PROBE_MSG_BYTES_DEFAULT 600  /* AOF bytes per append (MULTI..EXEC) */
#define PROBE_MAX_MSGS          10000000 /* seconds x rate ceiling */
#define PROBE_MAX_MSG_BYTES     65536    /* one message's AOF bytes, at most */
#define PROBE_FILE_MAX_BYTES    (256L << 20) /* start the file over past this */
#define PROBE_MAX_SECONDS       3600 /* per-second maxima kept, at most */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const double *v, size_t n, double p)
{
    return n ? v[(size_t)(p * (double)(n - 1))] * 1e3 : 0;
}

int main(int argc, char **argv)
{
    char path[4096];
    double *lat = NULL, *turn = NULL;
    double sec_max[PROBE_MAX_SECONDS] = {0}; /* longest fdatasync, s */
    char *buf = NULL;
    int fd = -1, rc = 1;
    size_t nturns = 0;
    long written = 0;

    if (argc < 2) {
        fprintf(stderr,
                "usage: %s DIR [SECONDS] [MSGS_PER_S] [AOF_BYTES_PER_MSG]\n",
                argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : PROBE_SECONDS_DEFAULT;
    double rate = argc > 3 ? atof(argv[3]) : PROBE_RATE_DEFAULT;
    long msg_bytes = argc > 4 ? atol(argv[4]) : PROBE_MSG_BYTES_DEFAULT;
    double nmsg_d = seconds * rate;
    if (seconds <= 0 || seconds > PROBE_MAX_SECONDS || rate <= 0 ||
        nmsg_d < 1 || nmsg_d > PROBE_MAX_MSGS || msg_bytes <= 0 ||
        msg_bytes > PROBE_MAX_MSG_BYTES) {
        fprintf(
            stderr,
            "fsync: SECONDS, MSGS_PER_S or AOF_BYTES_PER_MSG out of range\n");
        return 2;
    }
    size_t nmsg = (size_t)nmsg_d;
    if (snprintf(path, sizeof path, "%s/fsync-probe.aof", argv[1]) >=
        (int)sizeof path) {
        fprintf(stderr, "fsync: directory name too long\n");
        return 2;
    }
    /* A turn carries at least one message, so there are at most nmsg. */
    lat = calloc(nmsg, sizeof *lat);
    turn = calloc(nmsg, sizeof *turn);
    buf = malloc((size_t)msg_bytes * 64);
    if (!lat || !turn || !buf) {
        fprintf(stderr, "fsync: out of memory\n");
        goto fail;
    }
    memset(buf, 'x', (size_t)msg_bytes * 64);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0) {
        fprintf(stderr, "fsync: %s: %s\n", path, strerror(errno));
        goto fail;
    }

    /* Message i arrives at start + i / rate.  A turn takes every message
     * that has arrived, writes their bytes and fdatasyncs. */
    double start = now_s();
    size_t next = 0; /* first message not yet written */
    while (next < nmsg) {
        double arrive = start + (double)next / rate;
        if (now_s() < arrive)
            sleep_until(arrive); /* Redis sleeps in epoll until a command */
        double t = now_s();
        size_t upto = (size_t)((t - start) * rate) + 1;
        if (upto > nmsg)
            upto = nmsg;
        long bytes = (long)(upto - next) * msg_bytes;
        while (bytes > 0) {
            size_t chunk =
                bytes > msg_bytes * 64 ? (size_t)msg_bytes * 64 : (size_t)bytes;
            if (write(fd, buf, chunk) != (ssize_t)chunk) {
                fprintf(stderr, "fsync: write: %s\n", strerror(errno));
                goto fail;
            }
            bytes -= (long)chunk;
            written += (long)chunk;
        }
        if (fdatasync(fd) < 0) {
            fprintf(stderr, "fsync: fdatasync: %s\n", strerror(errno));
            goto fail;
        }
        double done = now_s();
        turn[nturns++] = done - t;
        size_t sec = (size_t)(t - start);
        if (sec < PROBE_MAX_SECONDS && done - t > sec_max[sec])
            sec_max[sec] = done - t;
        for (size_t i = next; i < upto; i++)
            lat[i] = done - (start + (double)i / rate);
        next = upto;
        if (written > PROBE_FILE_MAX_BYTES) {
            if (ftruncate(fd, 0) < 0) {
                fprintf(stderr, "fsync: ftruncate: %s\n", strerror(errno));
                goto fail;
            }
            written = 0;
        }
    }
    double wall = now_s() - start;
    qsort(lat, nmsg, sizeof *lat, cmp_double);
    qsort(turn, nturns, sizeof *turn, cmp_double);
    printf("{\"msgs\": %zu, \"msgs_per_s\": %.0f, \"aof_bytes_per_msg\": %ld, "
           "\"seconds\": %.2f, \"turns\": %zu, "
           "\"fdatasync_p50_ms\": %.3f, \"fdatasync_p99_ms\": %.3f, "
           "\"fdatasync_max_ms\": %.3f, "
           "\"msg_p50_ms\": %.3f, \"msg_p99_ms\": %.3f, \"msg_max_ms\": %.3f, "
           "\"fdatasync_max_ms_per_s\": [",
           nmsg, rate, msg_bytes, wall, nturns, pct_ms(turn, nturns, 0.50),
           pct_ms(turn, nturns, 0.99), pct_ms(turn, nturns, 1.0),
           pct_ms(lat, nmsg, 0.50), pct_ms(lat, nmsg, 0.99),
           pct_ms(lat, nmsg, 1.0));
    size_t nsec =
        (size_t)wall < PROBE_MAX_SECONDS ? (size_t)wall : PROBE_MAX_SECONDS;
    for (size_t i = 0; i < nsec; i++)
        printf("%s%.3f", i ? ", " : "", sec_max[i] * 1e3);
    printf("]}\n");
    rc = 0;
fail:
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(buf);
    free(turn);
    free(lat);
    return rc;
}
