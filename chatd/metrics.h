/*
 * metrics.h - GET /metrics: a snapshot of the service in the Prometheus
 * text exposition format 0.0.4 (docs/reports.md, "Metrics").
 *
 * Owns: the metric names, help texts and histogram buckets.  The snapshot
 * comes from Redis in one round trip (scripts/metrics_snapshot.lua, read
 * only); metrics_parse_snapshot() turns that reply into a struct and
 * metrics_format() the struct into text.  Both are pure.
 *
 * Histograms are kept in Redis as cumulative counters in the `metrics`
 * hash, one per bucket and NOT cumulative across buckets (a wait falls in
 * the smallest bucket that holds it), plus a sum and a count:
 *   wait_le_<5|15|30|60|120|300|600|1800|inf>, wait_sum_ms, wait_count
 * (chatd_wait_seconds: queue wait of parents paired with an adviser), and
 * the same with prefix abandon_ (chatd_abandoned_wait_seconds: how long
 * parents who left unanswered waited).  metrics_format() adds them up into
 * Prometheus's cumulative le buckets.
 *
 * Called by http.c and tests/unit/test_metrics.c.
 */
#ifndef CHATD_METRICS_H
#define CHATD_METRICS_H

#include <hiredis/hiredis.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_NSEV         5
#define METRICS_NBUCKETS     9 /* the last is +Inf */
#define METRICS_MAX_CATS     64
#define METRICS_CAT_LEN      64

/* Upper bounds of the buckets in seconds; the last (+Inf) is 0 here. */
extern const int metrics_bucket_le[METRICS_NBUCKETS];

struct metrics_hist {
    long long bucket[METRICS_NBUCKETS]; /* per bucket, not cumulative */
    long long sum_ms, count;
};

struct metrics_snapshot {
    long long queue[METRICS_NSEV]; /* waiting parents by severity 0-4 */
    long long advisers_available;
    long long active_chats;
    long long messages_parent, messages_adviser;
    struct {
        char name[METRICS_CAT_LEN];
        long long n;
    } triage[METRICS_MAX_CATS];
    int ntriage;
    struct metrics_hist wait;    /* chatd_wait_seconds */
    struct metrics_hist abandon; /* chatd_abandoned_wait_seconds */
};

/* The reply of EVALSHA metrics_snapshot: {q0, q1, q2, q3, q4, advisers,
 * active, {field, value, ...} of the metrics hash}.  Fields not understood
 * are skipped; a NULL or malformed reply gives an all-zero snapshot.
 * Returns 0, or -1 when the reply was malformed. */
int metrics_parse_snapshot(const redisReply *r, struct metrics_snapshot *out);

/* One field of the metrics hash (used by metrics_parse_snapshot). */
void metrics_snapshot_field(struct metrics_snapshot *s, const char *field,
                            long long value);

/* The exposition text, malloc'd (free()); NULL on memory. */
char *metrics_format(const struct metrics_snapshot *s);

#endif
