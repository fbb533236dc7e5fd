/*
 * audit.c - see audit.h.
 */
#include "audit.h"
#include "rds.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_BATCH     1000       /* entries per XRANGE */
#define AUDIT_DEFAULT_S 86400      /* --since defaults to a day back */
#define DAY_MS          86400000LL /* milliseconds in a day */

void audit_trim(const struct config *cfg, const char *now)
{
    char ev_keep[24], ev_max[24], au_keep[24];
    const char *argv[4] = {now, ev_keep, ev_max, au_keep};

    snprintf(ev_keep, sizeof ev_keep, "%lld",
             (long long)cfg->events_keep_days * DAY_MS);
    snprintf(ev_max, sizeof ev_max, "%d", cfg->events_max_entries);
    long long au_ms = (long long)cfg->audit_keep_days * DAY_MS;
    long long ret_ms = cfg->retention_s > 0
                           ? (long long)cfg->retention_s * 1000
                           : (long long)cfg->retention_days * DAY_MS;

    /* The record of who read a transcript outlives the transcript. */
    snprintf(au_keep, sizeof au_keep, "%lld", au_ms > ret_ms ? au_ms : ret_ms);
    rds_script("trim", NULL, NULL, 4, argv, NULL);
}

long long audit_parse_since(const char *s, time_t now)
{
    struct tm tm;
    char *end;
    long v;

    if (!s || !*s)
        return -1;
    v = strtol(s, &end, 10);
    if (end != s && v > 0 && end[1] == '\0') {
        long mult = *end == 'm'   ? 60
                    : *end == 'h' ? 3600
                    : *end == 'd' ? 86400
                                  : 0;
        if (mult)
            return ((long long)now - (long long)v * mult) * 1000;
    }
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
    if (!end || *end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%d", &tm);
        if (!end || *end)
            return -1;
    }
    tm.tm_isdst = -1; /* local time, as an operator means it */
    return (long long)mktime(&tm) * 1000;
}

static const char *fieldv(redisReply *f, const char *name)
{
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->str && strcmp(f->element[i]->str, name) == 0)
            return f->element[i + 1]->str ? f->element[i + 1]->str : "";
    return "";
}

static void print_entry(redisReply *e, int as_json)
{
    redisReply *f = e->element[1];
    long long ms = atoll(e->element[0]->str);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char when[32];

    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (as_json) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "at", when, "who",
                      fieldv(f, "who"), "role", fieldv(f, "role"), "action",
                      fieldv(f, "action"), "conversation", fieldv(f, "conv"),
                      "detail", fieldv(f, "detail"));
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%s  %-12s %-10s %-12s %s %s\n", when, fieldv(f, "who"),
               fieldv(f, "role"), fieldv(f, "action"), fieldv(f, "conv"),
               fieldv(f, "detail"));
    }
}

int audit_cli(int argc, char **argv, const struct config *cfg)
{
    const char *since = NULL;
    int as_json = 0, spawned, status = 0;
    long long from;
    char start[48];
    redisContext *rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
            since = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            i++;
        else
            goto usage;
    }
    from = since ? audit_parse_since(since, time(NULL))
                 : ((long long)time(NULL) - AUDIT_DEFAULT_S) * 1000;
    if (from < 0) {
        fprintf(stderr,
                "chatd audit: --since '%s' is not a date "
                "(2026-11-23, 2026-11-23T10:00) or a span (90m, 24h, "
                "7d)\n",
                since);
        return 2;
    }
    if (!(rc = rds_sync_open(cfg, &spawned)))
        return 1;
    snprintf(start, sizeof start, "%lld", from);
    for (;;) {
        redisReply *r =
            redisCommand(rc, "XRANGE audit %s + COUNT %d", start, AUDIT_BATCH);
        size_t n;
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "chatd audit: cannot read the audit log\n");
            status = 1;
            if (r)
                freeReplyObject(r);
            break;
        }
        n = r->elements;
        for (size_t i = 0; i < n; i++)
            if (r->element[i]->elements == 2)
                print_entry(r->element[i], as_json);
        if (n)
            snprintf(start, sizeof start, "(%s",
                     r->element[n - 1]->element[0]->str);
        freeReplyObject(r);
        if (n < AUDIT_BATCH)
            break;
    }
    rds_sync_close(rc, cfg, spawned);
    return status;
usage:
    fprintf(stderr, "usage: chatd audit [--since WHEN] [--json]\n"
                    "  WHEN: 2026-11-23, 2026-11-23T10:00 (local time), or "
                    "90m, 24h, 7d back from now (default 24h)\n");
    return 2;
}
