/*
 * metrics.c - Prometheus text exposition of a snapshot (metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int metrics_bucket_le[METRICS_NBUCKETS] = {5,   15,  30,   60, 120,
                                                 300, 600, 1800, 0};

static const char *const sev_names[METRICS_NSEV] = {"none", "low", "medium",
                                                    "high", "emergency"};

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void hist_field(struct metrics_hist *h, const char *f, long long v)
{
    if (strcmp(f, "sum_ms") == 0) {
        h->sum_ms = v;
    } else if (strcmp(f, "count") == 0) {
        h->count = v;
    } else if (starts(f, "le_")) {
        f += 3;
        if (strcmp(f, "inf") == 0) {
            h->bucket[METRICS_NBUCKETS - 1] = v;
            return;
        }
        for (int i = 0; i < METRICS_NBUCKETS - 1; i++) {
            char b[16];

            snprintf(b, sizeof b, "%d", metrics_bucket_le[i]);
            if (strcmp(f, b) == 0) {
                h->bucket[i] = v;
                return;
            }
        }
    }
}

void metrics_snapshot_field(struct metrics_snapshot *s, const char *field,
                            long long value)
{
    if (value < 0)
        value = 0; /* counters never go down; a stray negative is noise */
    if (strcmp(field, "messages:parent") == 0) {
        s->messages_parent = value;
    } else if (strcmp(field, "messages:adviser") == 0) {
        s->messages_adviser = value;
    } else if (starts(field, "triage:") && field[7]) {
        if (s->ntriage < METRICS_MAX_CATS &&
            strlen(field + 7) < METRICS_CAT_LEN) {
            snprintf(s->triage[s->ntriage].name,
                     sizeof s->triage[s->ntriage].name, "%s", field + 7);
            s->triage[s->ntriage++].n = value;
        }
    } else if (starts(field, "wait_")) {
        hist_field(&s->wait, field + 5, value);
    } else if (starts(field, "abandon_")) {
        hist_field(&s->abandon, field + 8, value);
    }
}

static long long reply_int(const redisReply *r, int *ok)
{
    char *end;
    long long v;

    if (!r) {
        *ok = 0;
        return 0;
    }
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING) {
        errno = 0;
        v = strtoll(r->str, &end, 10);
        if (!errno && end != r->str && !*end)
            return v;
    }
    *ok = 0;
    return 0;
}

static int cmp_triage(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b); /* name comes first */
}

int metrics_parse_snapshot(const redisReply *r, struct metrics_snapshot *out)
{
    const redisReply *h;
    int ok = 1;

    memset(out, 0, sizeof *out);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 8)
        return -1;
    for (int i = 0; i < METRICS_NSEV; i++)
        out->queue[i] = reply_int(r->element[i], &ok);
    out->advisers_available = reply_int(r->element[5], &ok);
    out->active_chats = reply_int(r->element[6], &ok);
    h = r->element[7];
    if (!h || h->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i];
        int vok = 1;
        long long v = reply_int(h->element[i + 1], &vok);

        if (k && k->type == REDIS_REPLY_STRING && vok)
            metrics_snapshot_field(out, k->str, v);
    }
    if (out->ntriage > 1)
        qsort(out->triage, (size_t)out->ntriage, sizeof out->triage[0],
              cmp_triage);
    return ok ? 0 : -1;
}

/* A label value with \ " and newline escaped (format 0.0.4). */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            fputc('\\', f);
            fputc(*s, f);
        } else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist(FILE *f, const char *name, const char *help,
                 const struct metrics_hist *h)
{
    long long cum = 0, count;

    head(f, name, "histogram", help);
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += h->bucket[i] > 0 ? h->bucket[i] : 0;
        if (i == METRICS_NBUCKETS - 1)
            fprintf(f, "%s_bucket{le=\"+Inf\"} ", name);
        else
            fprintf(f, "%s_bucket{le=\"%d\"} ", name, metrics_bucket_le[i]);
        /* +Inf must equal _count: should the counters disagree (a
         * hand-edited hash), both show the larger. */
        if (i == METRICS_NBUCKETS - 1 && h->count > cum)
            cum = h->count;
        fprintf(f, "%lld\n", cum);
    }
    count = cum;
    fprintf(f, "%s_sum %.3f\n", name, (double)h->sum_ms / 1000.0);
    fprintf(f, "%s_count %lld\n", name, count);
}

char *metrics_format(const struct metrics_snapshot *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    head(f, "chatd_queue_length", "gauge",
         "Parents waiting in the queue, by severity.");
    for (int i = 0; i < METRICS_NSEV; i++)
        fprintf(f, "chatd_queue_length{severity=\"%s\"} %lld\n", sev_names[i],
                s->queue[i]);
    head(f, "chatd_advisers_available", "gauge",
         "Advisers marked available to take chats.");
    fprintf(f, "chatd_advisers_available %lld\n", s->advisers_available);
    head(f, "chatd_active_chats", "gauge",
         "Chats in progress with an adviser.");
    fprintf(f, "chatd_active_chats %lld\n", s->active_chats);
    head(f, "chatd_messages_total", "counter",
         "Chat messages stored, by sender.");
    fprintf(f, "chatd_messages_total{from=\"parent\"} %lld\n",
            s->messages_parent);
    fprintf(f, "chatd_messages_total{from=\"adviser\"} %lld\n",
            s->messages_adviser);
    head(f, "chatd_triage_hits_total", "counter",
         "Parent messages flagged by triage, by category.");
    for (int i = 0; i < s->ntriage; i++) {
        fputs("chatd_triage_hits_total{category=\"", f);
        label(f, s->triage[i].name);
        fprintf(f, "\"} %lld\n", s->triage[i].n);
    }
    hist(f, "chatd_wait_seconds",
         "Time parents waited in the queue before being paired with an "
         "adviser.",
         &s->wait);
    hist(f, "chatd_abandoned_wait_seconds",
         "Time parents waited in the queue before leaving unanswered.",
         &s->abandon);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
