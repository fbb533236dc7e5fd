/*
 * test_metrics.c - GET /metrics text (metrics.c): the snapshot script's
 * reply parsed into a struct, and the Prometheus text exposition format
 * 0.0.4: HELP and TYPE before each family's samples, every sample line
 * `name{labels} value`, label values escaped, histogram buckets
 * cumulative with +Inf equal to _count, and _sum in seconds.
 */
#include <hiredis/hiredis.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

/* ---- helpers ---------------------------------------------------------- */

static redisReply *read_reply(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;

    redisReaderFeed(rd, resp, strlen(resp));
    if (redisReaderGetReply(rd, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(rd);
    return reply;
}

static void cat(char *buf, size_t len, const char *fmt, const char *s)
{
    size_t n = strlen(buf);

    snprintf(buf + n, len - n, fmt, strlen(s), s);
}

/* The reply shape of metrics_snapshot.lua: 7 integers and the metrics hash
 * as field, value, ... (values are bulk strings, as HGETALL gives). */
static redisReply *snapshot_reply(const long long head[7],
                                  const char *const *kv, int nkv)
{
    static char resp[16384];
    char num[48];

    snprintf(resp, sizeof resp, "*8\r\n");
    for (int i = 0; i < 7; i++) {
        snprintf(num, sizeof num, ":%lld\r\n", head[i]);
        strncat(resp, num, sizeof resp - strlen(resp) - 1);
    }
    snprintf(num, sizeof num, "*%d\r\n", nkv);
    strncat(resp, num, sizeof resp - strlen(resp) - 1);
    for (int i = 0; i < nkv; i++)
        cat(resp, sizeof resp, "$%zu\r\n%s\r\n", kv[i]);
    return read_reply(resp);
}

/* Find the value of the sample line that starts with `prefix ` exactly. */
static int sample(const char *text, const char *prefix, double *v)
{
    size_t n = strlen(prefix);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ') {
            *v = strtod(p + n + 1, NULL);
            return 1;
        }
    return 0;
}

/*
 * Check the whole text against format 0.0.4 (at file:line): every line is
 * "# HELP name text", "# TYPE name type" or a sample
 * `name{label="value",...} number`; every sample belongs to the family of
 * the TYPE line before it (histograms: _bucket, _sum, _count); each family
 * has HELP then TYPE once; histogram buckets are cumulative in increasing
 * le, end with +Inf, and +Inf equals _count.  Returns the sample count,
 * or -1.  With quiet set, records nothing (to test the checker itself).
 */
static int quiet;
#define FCHECK(cond, ...)                                                      \
    (quiet ? !!(cond) : CHECK_AT(file, line, cond, __VA_ARGS__))

static int check_format(const char *file, int line, const char *text)
{
    regex_t re_sample, re_help, re_type;
    char family[128] = "", type[32] = "", seen[4096] = " ";
    double last_bucket = -1, inf = -1, count = -1;
    int samples = 0, ok = 1;
    const char *p = text;

    regcomp(&re_sample,
            "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
            "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
            "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})?"
            " (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|-Inf|NaN)$",
            REG_EXTENDED);
    regcomp(&re_help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]+$",
            REG_EXTENDED);
    regcomp(&re_type,
            "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
            "(counter|gauge|histogram|summary|untyped)$",
            REG_EXTENDED);
    ok &= FCHECK(text[0] && text[strlen(text) - 1] == '\n',
                 "text does not end with a newline");
    while (*p) {
        const char *e = strchr(p, '\n');
        char l[512];
        regmatch_t m[3];
        size_t n = e ? (size_t)(e - p) : strlen(p);

        snprintf(l, sizeof l, "%.*s", (int)n, p);
        p += n + (e ? 1 : 0);
        if (strncmp(l, "# HELP ", 7) == 0) {
            char name[128], key[140];

            ok &= FCHECK(regexec(&re_help, l, 3, m, 0) == 0,
                         "bad HELP line: %s", l);
            snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                     l + m[1].rm_so);
            snprintf(key, sizeof key, " %s ", name);
            ok &= FCHECK(!strstr(seen, key), "family %s twice", name);
            strncat(seen, key + 1, sizeof seen - strlen(seen) - 1);
            snprintf(family, sizeof family, "%s", name);
            type[0] = 0;
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            ok &= FCHECK(regexec(&re_type, l, 3, m, 0) == 0,
                         "bad TYPE line: %s", l);
            ok &=
                FCHECK((size_t)(m[1].rm_eo - m[1].rm_so) == strlen(family) &&
                           strncmp(l + m[1].rm_so, family, strlen(family)) == 0,
                       "TYPE without its HELP: %s", l);
            snprintf(type, sizeof type, "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
                     l + m[2].rm_so);
            last_bucket = inf = count = -1;
            continue;
        }
        ok &= FCHECK(l[0] != '#' && l[0] != 0, "unexpected line: '%s'", l);
        if (!FCHECK(regexec(&re_sample, l, 3, m, 0) == 0,
                    "sample line does not match name{labels} value: %s", l)) {
            ok = 0;
            continue;
        }
        samples++;
        {
            char name[128];
            double v = strtod(strrchr(l, ' ') + 1, NULL);

            snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                     l + m[1].rm_so);
            ok &= FCHECK(type[0], "sample before TYPE: %s", l);
            if (strcmp(type, "histogram") == 0) {
                char b[160], s[160], c[160];

                snprintf(b, sizeof b, "%s_bucket", family);
                snprintf(s, sizeof s, "%s_sum", family);
                snprintf(c, sizeof c, "%s_count", family);
                ok &= FCHECK(!strcmp(name, b) || !strcmp(name, s) ||
                                 !strcmp(name, c),
                             "%s is not in histogram %s", name, family);
                if (!strcmp(name, b)) {
                    ok &=
                        FCHECK(strstr(l, "{le=\""), "bucket without le: %s", l);
                    ok &= FCHECK(inf < 0, "bucket after +Inf: %s", l);
                    ok &= FCHECK(v >= last_bucket,
                                 "buckets not cumulative: %s after %g", l,
                                 last_bucket);
                    last_bucket = v;
                    if (strstr(l, "le=\"+Inf\""))
                        inf = v;
                } else if (!strcmp(name, c)) {
                    count = v;
                    ok &= FCHECK(inf >= 0 && inf == count,
                                 "%s: +Inf bucket %g != _count %g", family, inf,
                                 count);
                }
            } else {
                ok &= FCHECK(!strcmp(name, family), "sample %s under family %s",
                             name, family);
                if (!strcmp(type, "counter"))
                    ok &= FCHECK(strlen(name) > 6 &&
                                     !strcmp(name + strlen(name) - 6, "_total"),
                                 "counter %s does not end in _total", name);
            }
        }
    }
    regfree(&re_sample);
    regfree(&re_help);
    regfree(&re_type);
    return ok ? samples : -1;
}

#define CHECK_FORMAT(text) check_format(__FILE__, __LINE__, (text))

/* ---- tests ------------------------------------------------------------ */

TEST(parses_snapshot_reply)
{
    static const long long head[7] = {3, 1, 0, 2, 1, 4, 5};
    static const char *const kv[] = {
        "messages:parent", "120", "messages:adviser", "98",
        "triage:suicide",  "2",   "triage:behaviour", "17",
        "wait_le_5",       "10",  "wait_le_60",       "4",
        "wait_le_inf",     "1",   "wait_sum_ms",      "1234567",
        "wait_count",      "15",  "abandon_le_300",   "2",
        "abandon_count",   "2",   "abandon_sum_ms",   "400000",
        "something_else",  "9",   "triage:",          "3",
        "wait_le_7",       "99",  "messages:parent2", "1"};
    struct metrics_snapshot s;
    redisReply *r = snapshot_reply(head, kv, (int)(sizeof kv / sizeof *kv));
    int rc;

    if (!CHECK(r != NULL, "RESP did not parse"))
        return;
    rc = metrics_parse_snapshot(r, &s);
    CHECK_INT(rc, 0);
    CHECK_INT(s.queue[0], 3);
    CHECK_INT(s.queue[3], 2);
    CHECK_INT(s.queue[4], 1);
    CHECK_INT(s.advisers_available, 4);
    CHECK_INT(s.active_chats, 5);
    CHECK_INT(s.messages_parent, 120);
    CHECK_INT(s.messages_adviser, 98);
    CHECK_INT(s.ntriage, 2);
    CHECK_STR(s.ntriage > 0 ? s.triage[0].name : NULL, "behaviour");
    CHECK_INT(s.triage[0].n, 17);
    CHECK_STR(s.ntriage > 1 ? s.triage[1].name : NULL, "suicide");
    CHECK_INT(s.wait.bucket[0], 10);
    CHECK_INT(s.wait.bucket[3], 4);
    CHECK_INT(s.wait.bucket[METRICS_NBUCKETS - 1], 1);
    CHECK_INT(s.wait.bucket[1], 0);
    CHECK_INT(s.wait.sum_ms, 1234567);
    CHECK_INT(s.wait.count, 15);
    CHECK_INT(s.abandon.bucket[5], 2);
    CHECK_INT(s.abandon.count, 2);
    freeReplyObject(r);
}

TEST(malformed_reply_gives_zero_snapshot)
{
    struct metrics_snapshot s;
    redisReply *r = read_reply("-NOSCRIPT no such script\r\n");
    int rc;

    memset(&s, 0x55, sizeof s);
    rc = metrics_parse_snapshot(r, &s);
    CHECK_INT(rc, -1);
    CHECK_INT(s.advisers_available, 0);
    CHECK_INT(s.ntriage, 0);
    freeReplyObject(r);
    rc = metrics_parse_snapshot(NULL, &s);
    CHECK_INT(rc, -1);
    r = read_reply("*2\r\n:1\r\n:2\r\n");
    rc = metrics_parse_snapshot(r, &s);
    CHECK_INT(rc, -1);
    freeReplyObject(r);
}

TEST(format_is_valid_exposition)
{
    static const long long head[7] = {3, 1, 0, 2, 1, 4, 5};
    static const char *const kv[] = {
        "messages:parent", "120", "messages:adviser", "98",
        "triage:suicide",  "2",   "triage:behaviour", "17",
        "wait_le_5",       "10",  "wait_le_60",       "4",
        "wait_le_inf",     "1",   "wait_sum_ms",      "1234567",
        "wait_count",      "15"};
    struct metrics_snapshot s;
    redisReply *r = snapshot_reply(head, kv, (int)(sizeof kv / sizeof *kv));
    char *t;
    double v;
    int n;

    metrics_parse_snapshot(r, &s);
    freeReplyObject(r);
    t = metrics_format(&s);
    if (!CHECK(t != NULL, "no text"))
        return;
    n = CHECK_FORMAT(t);
    CHECK(n > 20, "only %d samples", n);
    CHECK(sample(t, "chatd_queue_length{severity=\"none\"}", &v) && v == 3,
          "queue none");
    CHECK(sample(t, "chatd_queue_length{severity=\"high\"}", &v) && v == 2,
          "queue high");
    CHECK(sample(t, "chatd_queue_length{severity=\"emergency\"}", &v) && v == 1,
          "queue emergency");
    CHECK(sample(t, "chatd_advisers_available", &v) && v == 4, "advisers");
    CHECK(sample(t, "chatd_active_chats", &v) && v == 5, "active");
    CHECK(sample(t, "chatd_messages_total{from=\"parent\"}", &v) && v == 120,
          "parent messages");
    CHECK(sample(t, "chatd_messages_total{from=\"adviser\"}", &v) && v == 98,
          "adviser messages");
    CHECK(sample(t, "chatd_triage_hits_total{category=\"suicide\"}", &v) &&
              v == 2,
          "triage suicide");
    CHECK(strstr(t, "# TYPE chatd_wait_seconds histogram\n"), "wait TYPE");
    CHECK(strstr(t, "# TYPE chatd_messages_total counter\n"), "counter TYPE");
    CHECK(strstr(t, "# TYPE chatd_queue_length gauge\n"), "gauge TYPE");
    /* 10 at <=5 s, 4 at <=60 s, 1 above 1800 s: cumulative */
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"5\"}", &v) && v == 10,
          "le 5");
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"30\"}", &v) && v == 10,
          "le 30");
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"60\"}", &v) && v == 14,
          "le 60");
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"1800\"}", &v) && v == 14,
          "le 1800");
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"+Inf\"}", &v) && v == 15,
          "+Inf");
    CHECK(sample(t, "chatd_wait_seconds_count", &v) && v == 15, "count");
    CHECK(sample(t, "chatd_wait_seconds_sum", &v) && v > 1234.566 &&
              v < 1234.568,
          "sum in seconds");
    {
        static const char *const les[] = {"5",   "15",  "30",   "60",  "120",
                                          "300", "600", "1800", "+Inf"};
        const char *p = t;

        for (size_t i = 0; i < sizeof les / sizeof *les; i++) {
            char want[80];

            snprintf(want, sizeof want, "chatd_wait_seconds_bucket{le=\"%s\"}",
                     les[i]);
            p = strstr(p, want);
            if (!CHECK(p != NULL, "bucket %s missing or out of order", les[i]))
                break;
        }
    }
    free(t);
}

TEST(empty_snapshot_is_valid)
{
    struct metrics_snapshot s;
    char *t;
    double v;
    int n;

    memset(&s, 0, sizeof s);
    t = metrics_format(&s);
    n = CHECK_FORMAT(t);
    CHECK(n > 0, "format check failed");
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"+Inf\"}", &v) && v == 0,
          "+Inf of nothing");
    CHECK(sample(t, "chatd_wait_seconds_sum", &v) && v == 0, "sum");
    CHECK(!strstr(t, "chatd_triage_hits_total{"), "triage samples from none");
    CHECK(strstr(t, "# TYPE chatd_triage_hits_total counter\n"),
          "the family is still declared");
    free(t);
}

TEST(labels_escaped)
{
    struct metrics_snapshot s;
    char *t;
    int n;

    memset(&s, 0, sizeof s);
    metrics_snapshot_field(&s, "triage:a\"b\\c\nd", 4);
    t = metrics_format(&s);
    CHECK(strstr(t, "chatd_triage_hits_total{category=\"a\\\"b\\\\c\\nd\"} "
                    "4\n"),
          "label not escaped:\n%s", t);
    n = CHECK_FORMAT(t);
    CHECK(n > 0, "format check failed");
    free(t);
}

TEST(inf_equals_count_when_counters_disagree)
{
    struct metrics_snapshot s;
    char *t;
    double inf = -1, count = -1;
    int n;

    memset(&s, 0, sizeof s);
    metrics_snapshot_field(&s, "wait_le_5", 3);
    metrics_snapshot_field(&s, "wait_count", 7); /* ahead of the buckets */
    metrics_snapshot_field(&s, "abandon_le_15", 2);
    metrics_snapshot_field(&s, "abandon_count", 1); /* behind */
    t = metrics_format(&s);
    n = CHECK_FORMAT(t);
    CHECK(n > 0, "format check failed");
    CHECK(sample(t, "chatd_wait_seconds_bucket{le=\"+Inf\"}", &inf) &&
              sample(t, "chatd_wait_seconds_count", &count) && inf == count &&
              inf == 7,
          "wait +Inf %g count %g", inf, count);
    CHECK(sample(t, "chatd_abandoned_wait_seconds_bucket{le=\"+Inf\"}", &inf) &&
              sample(t, "chatd_abandoned_wait_seconds_count", &count) &&
              inf == count && inf == 2,
          "abandoned +Inf %g count %g", inf, count);
    free(t);
}

TEST(checker_rejects_bad_text)
{
    /* the checker itself must catch what it claims to */
    static const char *const bad[] = {
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b} 1\n",
        "# HELP x h\n# TYPE x gauge\nx 1 2\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\n"
        "h_count 3\n",
        "# HELP x h\n# TYPE x counter\nx 1\n",
        "x 1\n",
        "# HELP x h\n# TYPE x gauge\nx 1",
    };
    static const char good[] = "# HELP h h\n# TYPE h histogram\n"
                               "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                               "h_sum 0.5\nh_count 2\n";
    int n;

    quiet = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = check_format(__FILE__, __LINE__, bad[i]);
        CHECK(n < 0, "bad text %zu passed the format check", i);
    }
    n = check_format(__FILE__, __LINE__, good);
    CHECK_INT(n, 4);
    quiet = 0;
}

int main(void)
{
    RUN(parses_snapshot_reply);
    RUN(malformed_reply_gives_zero_snapshot);
    RUN(format_is_valid_exposition);
    RUN(empty_snapshot_is_valid);
    RUN(labels_escaped);
    RUN(inf_equals_count_when_counters_disagree);
    RUN(checker_rejects_bad_text);
    return unit_summary();
}
