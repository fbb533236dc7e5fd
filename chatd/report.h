/*
 * report.h - the service's figures, from the `events` stream
 * (docs/reports.md): `chatd report` and GET /api/reports.
 *
 * Owns: the meaning of every figure.  The aggregation is pure (no Redis,
 * no clock): events go in one at a time with report_add(), in stream
 * order, and report_finish() computes rates and percentiles.  Parsing an
 * XRANGE entry and the date range are separate helpers so that the command
 * line and the HTTP handler read the stream the same way.
 *
 * Definitions, in short (docs/reports.md has them in full):
 *   - every event counts in the day and hour (local time, Europe/London)
 *     at which it happened, taken from its stream id;
 *   - offered = `offered` events; answered = first `answered` event of each
 *     conversation; abandoned = `abandoned` events (left the queue before
 *     an adviser, by the parent or by the sweep);
 *   - answer rate = answered / (answered + abandoned), null when both are 0;
 *   - wait p50/p90 over answered waits, handling median over `ended`
 *     handling times: nearest-rank percentiles (the value at rank
 *     ceil(p/100 * n) of the sorted values, 1-based);
 *   - quick exits = events with reason "exit".
 *
 * Local time: the process's time zone.  report_new() sets TZ to
 * Europe/London when TZ is unset; report_cli() always uses Europe/London.
 *
 * Promises: report_add() ignores events outside [from_ms, to_ms) and
 * unknown types; the output functions never fail except on memory, and
 * return NULL then.  Called by main.c (report_cli), http.c
 * (/api/reports) and tests/unit/test_report.c.
 */
#ifndef CHATD_REPORT_H
#define CHATD_REPORT_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>

#include "config.h"

#define REPORT_TZ           "Europe/London"
#define REPORT_MAX_DAYS     3700 /* about ten years in one report */
#define REPORT_KEY_LEN      64  /* bytes, with NUL: conv, outcome, service... */
#define REPORT_CATS_LEN     512 /* bytes, with NUL: comma-separated categories */
#define REPORT_NSEV         5
#define REPORT_XRANGE_BATCH 1000

enum report_type {
    REPORT_EV_OTHER = 0, /* not counted */
    REPORT_EV_OFFERED,
    REPORT_EV_ANSWERED,
    REPORT_EV_ABANDONED,
    REPORT_EV_ENDED,
    REPORT_EV_WRAPPED,
    REPORT_EV_SIGNPOSTED,
    REPORT_EV_ESCALATED,
    REPORT_EV_DECIDED,
};

/* One entry of the events stream.  Numbers absent from the entry are -1;
 * strings absent are "". */
struct report_event {
    enum report_type type;
    long long ms;        /* unix time, ms (the stream id's first part) */
    int sev;             /* 0-4 */
    long long wait_ms;   /* answered, abandoned */
    long long handle_ms; /* ended */
    char conv[REPORT_KEY_LEN];
    char outcome[REPORT_KEY_LEN];     /* wrapped */
    char categories[REPORT_CATS_LEN]; /* wrapped: "a,b" */
    char service[REPORT_KEY_LEN];     /* signposted */
    char decision[REPORT_KEY_LEN];    /* decided */
    char by[REPORT_KEY_LEN];          /* parent, adviser, system... */
    char reason[REPORT_KEY_LEN];      /* ended: "exit" is a quick exit */
};

/* The figures of one period: the whole range, one day or one hour. */
struct report_bucket {
    long offered, answered, abandoned, ended, quick_exits, wrapped;
    double answer_rate;    /* -1: no answered or abandoned chat */
    long long wait_p50_ms; /* -1: no answered wait */
    long long wait_p90_ms;
    long long wait_mean_ms;
    long long handle_mean_ms; /* -1: no ended chat */
    long long handle_median_ms;
    /* values collected for the percentiles */
    long long *waits, *handles;
    size_t nwaits, capwaits, nhandles, caphandles;
    long long wait_sum, handle_sum;
};

/* A count per key (category, outcome, service, decision). */
struct report_kv {
    char key[REPORT_KEY_LEN];
    long n;
};

struct report_table {
    struct report_kv *v;
    size_t n, cap;
};

struct report {
    long long from_ms, to_ms;
    int from_ymd[3], to_ymd[3]; /* local dates of the first and last day */
    struct report_bucket total;
    struct report_bucket *days; /* ndays, from the first day */
    int ndays;
    struct report_bucket hours[24];
    long sev_offered[REPORT_NSEV], sev_answered[REPORT_NSEV],
        sev_abandoned[REPORT_NSEV];
    struct report_table categories; /* wrap-up categories, conversations */
    struct report_table outcomes;   /* wrap-up outcomes */
    struct report_table services;   /* signposts by service */
    struct report_table decisions;  /* case decisions */
    long signposts, escalations, decided;
    /* conversations already answered (64-bit hashes), to count once */
    unsigned long long *seen;
    size_t nseen, capseen;
    int finished;
};

/* A report of [from_ms, to_ms).  NULL when to_ms <= from_ms, the range is
 * longer than REPORT_MAX_DAYS or memory runs out. */
struct report *report_new(long long from_ms, long long to_ms);
void report_add(struct report *r, const struct report_event *ev);
void report_finish(struct report *r);
void report_free(struct report *r);

/* report_new + report_add of each + report_finish. */
struct report *report_build(const struct report_event *ev, size_t n,
                            long long from_ms, long long to_ms);

/* Outputs, malloc'd (free()), or NULL on memory. */
char *report_text(const struct report *r);
/* Long form: header "table,key,metric,value", then one row per figure. */
char *report_csv(const struct report *r);
json_t *report_json(const struct report *r);

/* Severity names: none, low, medium, high, emergency. */
const char *report_sev_name(int sev);

/* One XRANGE entry (array: id, array of field/value) into *ev.  Returns 0,
 * or -1 when the entry is malformed (ev is then type REPORT_EV_OTHER). */
int report_parse_entry(const redisReply *entry, struct report_event *ev);

/* Add every entry of an XRANGE reply.  Copies the last entry's id to
 * last_id (at least 48 bytes) and returns the number of entries, or -1 if
 * the reply is not an array. */
int report_add_xrange(struct report *r, const redisReply *reply, char *last_id,
                      size_t last_id_len);

/*
 * The range of local dates from..to inclusive ("YYYY-MM-DD", "today" or
 * "yesterday"; NULL means today) as [from_ms, to_ms) between local
 * midnights.  now is the current unix time in seconds.  Returns 0, or -1
 * with err set ("--from '2024-02-30' is not a date YYYY-MM-DD").
 */
int report_range(const char *from, const char *to, long long now,
                 long long *from_ms, long long *to_ms, char *err,
                 size_t errlen);

/*
 * For the daemon (GET /api/reports): read [from_ms, to_ms) of the events
 * stream with XRANGE batches on rds's async connection, then call done
 * exactly once: with the finished report (done owns it: report_free()),
 * or with NULL when Redis failed or went away.  Returns 0, or -1 (done not
 * called) when Redis is not connected or memory ran out.
 */
typedef void (*report_done_cb)(struct report *r, void *priv);
int report_fetch(long long from_ms, long long to_ms, report_done_cb done,
                 void *priv);

/* chatd report [--from D] [--to D] [--csv|--json]; argv[0] is "report".
 * Returns the exit status: 0, 1 (Redis), 2 (usage or dates). */
int report_cli(int argc, char **argv, const struct config *cfg);

#endif
