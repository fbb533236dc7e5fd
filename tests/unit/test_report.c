/*
 * test_report.c - the service's figures (report.c): a synthetic day of
 * events on Sunday 2024-10-27, when the UK clocks go back (the local day is
 * 25 hours long and 01:00-02:00 happens twice), counts, rates, nearest-rank
 * percentiles, per-hour and per-day buckets, the CSV and JSON shapes, an
 * empty range, reading XRANGE replies, the date range and the command
 * line's errors.  Runs with TZ=Europe/London.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "unit.h"

#define MIN  (60LL * 1000)
#define HOUR (60 * MIN)

/* unix ms of a UTC time */
static long long utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (long long)timegm(&tm) * 1000;
}

static struct report_event ev(enum report_type t, long long ms,
                              const char *conv, int sev)
{
    struct report_event e;

    memset(&e, 0, sizeof e);
    e.type = t;
    e.ms = ms;
    e.sev = sev;
    e.wait_ms = e.handle_ms = -1;
    snprintf(e.conv, sizeof e.conv, "%s", conv);
    return e;
}

/* 2024-10-27 local: from 2024-10-26 23:00Z (00:00 BST) to 2024-10-28
 * 00:00Z (00:00 GMT).  The clocks go back at 01:00Z. */
static long long day_from, day_to;
static struct report_event evs[64];
static size_t nevs;

static struct report_event *add(enum report_type t, long long ms,
                                const char *conv, int sev)
{
    evs[nevs] = ev(t, ms, conv, sev);
    return &evs[nevs++];
}

static void synthetic_day(void)
{
    struct report_event *e;

    nevs = 0;
    day_from = utc_ms(2024, 10, 26, 23, 0, 0);
    day_to = utc_ms(2024, 10, 28, 0, 0, 0);
    /* just before the day: not counted */
    add(REPORT_EV_OFFERED, day_from - 1, "c0", 0);
    /* c1: 00:30 BST offered, answered 01:15 BST (first 01:xx), ended and
     * wrapped before the clocks go back */
    add(REPORT_EV_OFFERED, utc_ms(2024, 10, 26, 23, 30, 0), "c1", 1);
    e = add(REPORT_EV_ANSWERED, utc_ms(2024, 10, 27, 0, 15, 0), "c1", 1);
    e->wait_ms = 45000;
    e = add(REPORT_EV_ENDED, utc_ms(2024, 10, 27, 0, 40, 0), "c1", 1);
    e->handle_ms = 1500000;
    snprintf(e->by, sizeof e->by, "adviser");
    e = add(REPORT_EV_WRAPPED, utc_ms(2024, 10, 27, 0, 45, 0), "c1", -1);
    snprintf(e->outcome, sizeof e->outcome, "signposted");
    snprintf(e->categories, sizeof e->categories, "behaviour");
    /* c2: 01:15 GMT (the second 01:xx) offered, high, left after 5 min */
    add(REPORT_EV_OFFERED, utc_ms(2024, 10, 27, 1, 15, 0), "c2", 3);
    e = add(REPORT_EV_ABANDONED, utc_ms(2024, 10, 27, 1, 20, 0), "c2", 3);
    e->wait_ms = 300000;
    snprintf(e->by, sizeof e->by, "parent");
    /* c3: 10:00 GMT, answered after 2 min, 28 min chat */
    add(REPORT_EV_OFFERED, utc_ms(2024, 10, 27, 10, 0, 0), "c3", 0);
    e = add(REPORT_EV_ANSWERED, utc_ms(2024, 10, 27, 10, 2, 0), "c3", 0);
    e->wait_ms = 120000;
    e = add(REPORT_EV_ENDED, utc_ms(2024, 10, 27, 10, 30, 0), "c3", 0);
    e->handle_ms = 1680000;
    e = add(REPORT_EV_WRAPPED, utc_ms(2024, 10, 27, 10, 35, 0), "c3", -1);
    snprintf(e->outcome, sizeof e->outcome, "advice");
    snprintf(e->categories, sizeof e->categories, "behaviour, school");
    /* c4: 14:00 emergency, answered in 5 s, quick exit after a minute,
     * escalated, decided, signposted */
    add(REPORT_EV_OFFERED, utc_ms(2024, 10, 27, 14, 0, 0), "c4", 4);
    e = add(REPORT_EV_ANSWERED, utc_ms(2024, 10, 27, 14, 0, 5), "c4", 4);
    e->wait_ms = 5000;
    add(REPORT_EV_ESCALATED, utc_ms(2024, 10, 27, 14, 0, 6), "c4", 4);
    e = add(REPORT_EV_SIGNPOSTED, utc_ms(2024, 10, 27, 14, 0, 30), "c4", -1);
    snprintf(e->service, sizeof e->service, "nspcc-helpline");
    e = add(REPORT_EV_ENDED, utc_ms(2024, 10, 27, 14, 1, 5), "c4", 4);
    e->handle_ms = 60000;
    snprintf(e->reason, sizeof e->reason, "exit");
    e = add(REPORT_EV_DECIDED, utc_ms(2024, 10, 27, 14, 20, 0), "c4", -1);
    snprintf(e->decision, sizeof e->decision, "referred_police");
    e = add(REPORT_EV_WRAPPED, utc_ms(2024, 10, 27, 14, 25, 0), "c4", -1);
    snprintf(e->outcome, sizeof e->outcome, "escalated");
    snprintf(e->categories, sizeof e->categories, "abuse,abuse");
    /* c1 again (requeued by the sweep and answered again): counted once */
    e = add(REPORT_EV_ANSWERED, utc_ms(2024, 10, 27, 20, 0, 0), "c1", 1);
    e->wait_ms = 99999999;
    /* an event type this build does not know */
    add(REPORT_EV_OTHER, utc_ms(2024, 10, 27, 20, 1, 0), "c9", 0);
    /* c5: 23:59:59.999 GMT, last moment of the day */
    add(REPORT_EV_OFFERED, day_to - 1, "c5", 2);
    /* c6: the next day's midnight: not counted */
    add(REPORT_EV_OFFERED, day_to, "c6", 2);
}

static long table_n(const struct report_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return t->v[i].n;
    return -1;
}

/* ---- aggregation ---------------------------------------------------- */

TEST(day_counts_and_rates)
{
    struct report *r;

    synthetic_day();
    r = report_build(evs, nevs, day_from, day_to);
    if (!CHECK(r != NULL, "report_build failed"))
        return;
    CHECK_INT(r->ndays, 1);
    CHECK_INT(r->total.offered, 5);
    CHECK_INT(r->total.answered, 3);
    CHECK_INT(r->total.abandoned, 1);
    CHECK(r->total.answer_rate > 0.7499 && r->total.answer_rate < 0.7501,
          "answer rate %f, want 0.75 (3 answered / 4 resolved)",
          r->total.answer_rate);
    CHECK_INT(r->total.ended, 3);
    CHECK_INT(r->total.quick_exits, 1);
    CHECK_INT(r->total.wrapped, 3);
    CHECK_INT(r->signposts, 1);
    CHECK_INT(r->escalations, 1);
    CHECK_INT(r->decided, 1);
    CHECK_INT(r->sev_offered[0], 1);
    CHECK_INT(r->sev_offered[1], 1);
    CHECK_INT(r->sev_offered[2], 1);
    CHECK_INT(r->sev_offered[3], 1);
    CHECK_INT(r->sev_offered[4], 1);
    CHECK_INT(r->sev_answered[4], 1);
    CHECK_INT(r->sev_abandoned[3], 1);
    CHECK_INT(table_n(&r->categories, "behaviour"), 2);
    CHECK_INT(table_n(&r->categories, "school"), 1);
    CHECK_INT(table_n(&r->categories, "abuse"), 1); /* once per chat */
    CHECK_INT(table_n(&r->outcomes, "advice"), 1);
    CHECK_INT(table_n(&r->outcomes, "signposted"), 1);
    CHECK_INT(table_n(&r->outcomes, "escalated"), 1);
    CHECK_INT(table_n(&r->outcomes, "referred"), 0);
    CHECK_INT(table_n(&r->services, "nspcc-helpline"), 1);
    CHECK_INT(table_n(&r->decisions, "referred_police"), 1);
    CHECK_INT(table_n(&r->decisions, "no_further_action"), 0);
    /* categories sorted by count: behaviour first */
    CHECK(r->categories.n == 3 &&
              strcmp(r->categories.v[0].key, "behaviour") == 0,
          "categories not sorted by count");
    report_free(r);
}

TEST(nearest_rank_percentiles)
{
    struct report *r;

    synthetic_day();
    r = report_build(evs, nevs, day_from, day_to);
    if (!r)
        return;
    /* waits 5 s, 45 s, 120 s: p50 rank ceil(1.5)=2, p90 rank ceil(2.7)=3 */
    CHECK_INT(r->total.wait_p50_ms, 45000);
    CHECK_INT(r->total.wait_p90_ms, 120000);
    CHECK_INT(r->total.wait_mean_ms, 56666);
    /* handling 60 s, 1500 s, 1680 s */
    CHECK_INT(r->total.handle_median_ms, 1500000);
    CHECK_INT(r->total.handle_mean_ms, 1080000);
    report_free(r);

    /* ten waits 1..10 s: p50 = 5 s (rank 5), p90 = 9 s (rank 9); one more
     * makes p90 rank ceil(9.9) = 10 */
    {
        struct report_event w[11];

        for (int i = 0; i < 11; i++) {
            char c[8];

            snprintf(c, sizeof c, "w%d", i);
            w[i] = ev(REPORT_EV_ANSWERED, day_from + i, c, 0);
            w[i].wait_ms = (10 - i) * 1000LL; /* unsorted */
        }
        r = report_build(w, 10, day_from, day_to);
        CHECK_INT(r->total.wait_p50_ms, 5000);
        CHECK_INT(r->total.wait_p90_ms, 9000);
        report_free(r);
        w[10].wait_ms = 11000;
        r = report_build(w, 11, day_from, day_to);
        CHECK_INT(r->total.wait_p50_ms, 6000);  /* rank ceil(5.5) = 6 */
        CHECK_INT(r->total.wait_p90_ms, 10000); /* rank ceil(9.9) = 10 */
        report_free(r);
        r = report_build(w, 1, day_from, day_to);
        CHECK_INT(r->total.wait_p50_ms, 10000);
        CHECK_INT(r->total.wait_p90_ms, 10000);
        report_free(r);
    }
}

TEST(per_hour_across_clock_change)
{
    struct report *r;

    synthetic_day();
    r = report_build(evs, nevs, day_from, day_to);
    if (!r)
        return;
    /* 00:30 BST */
    CHECK_INT(r->hours[0].offered, 1);
    /* both 01:xx hours (BST then GMT) fall in the 01 bucket */
    CHECK_INT(r->hours[1].offered, 1);
    CHECK_INT(r->hours[1].answered, 1);
    CHECK_INT(r->hours[1].abandoned, 1);
    CHECK_INT(r->hours[1].ended, 1);
    CHECK_INT(r->hours[1].wrapped, 1);
    CHECK(r->hours[1].answer_rate > 0.499 && r->hours[1].answer_rate < 0.501,
          "01 answer rate %f", r->hours[1].answer_rate);
    CHECK_INT(r->hours[2].offered, 0);
    /* 10:00 GMT is 10:00 local (after the change, not 11) */
    CHECK_INT(r->hours[10].offered, 1);
    CHECK_INT(r->hours[10].answered, 1);
    CHECK_INT(r->hours[10].wait_p50_ms, 120000);
    CHECK_INT(r->hours[11].offered, 0);
    CHECK_INT(r->hours[14].quick_exits, 1);
    CHECK_INT(r->hours[14].handle_median_ms, 60000);
    CHECK_INT(r->hours[20].answered, 0); /* the repeat answer */
    CHECK_INT(r->hours[23].offered, 1);
    CHECK_INT(r->hours[5].wait_p50_ms, -1);
    CHECK(r->hours[5].answer_rate < 0, "empty hour has a rate");
    {
        long sum = 0;

        for (int h = 0; h < 24; h++)
            sum += r->hours[h].offered;
        CHECK_INT(sum, r->total.offered);
    }
    CHECK_INT(r->days[0].offered, 5);
    CHECK_INT(r->days[0].wait_p90_ms, 120000);
    report_free(r);
}

TEST(per_day_over_three_days)
{
    struct report *r;
    long long from, to;
    char err[160];
    struct report_event e[4];

    CHECK(report_range("2024-10-26", "2024-10-28", 0, &from, &to, err,
                       sizeof err) == 0,
          "range: %s", err);
    e[0] = ev(REPORT_EV_OFFERED, utc_ms(2024, 10, 25, 23, 0, 0), "a", 0);
    e[1] = ev(REPORT_EV_OFFERED, utc_ms(2024, 10, 26, 22, 59, 59), "b", 0);
    e[2] = ev(REPORT_EV_OFFERED, utc_ms(2024, 10, 26, 23, 0, 0), "c", 0);
    e[3] = ev(REPORT_EV_OFFERED, utc_ms(2024, 10, 28, 23, 59, 59), "d", 0);
    r = report_build(e, 4, from, to);
    if (!CHECK(r != NULL, "no report"))
        return;
    CHECK_INT(r->ndays, 3);
    CHECK_INT(r->days[0].offered, 2); /* 26th, 00:00 and 23:59 BST */
    CHECK_INT(r->days[1].offered, 1); /* 27th 00:00 BST */
    CHECK_INT(r->days[2].offered, 1); /* 28th 23:59 GMT */
    CHECK_INT(r->hours[0].offered, 2);
    CHECK_INT(r->hours[23].offered, 2);
    report_free(r);
}

TEST(date_range_local_midnights)
{
    long long from, to;
    char err[160];
    long long now = utc_ms(2024, 7, 1, 22, 30, 0) / 1000; /* 23:30 BST */

    CHECK(report_range("2024-10-27", "2024-10-27", now, &from, &to, err,
                       sizeof err) == 0,
          "%s", err);
    CHECK_INT(from, utc_ms(2024, 10, 26, 23, 0, 0));
    CHECK_INT(to - from, 25 * HOUR);
    CHECK(report_range("2024-03-31", "2024-03-31", now, &from, &to, err,
                       sizeof err) == 0,
          "%s", err);
    CHECK_INT(from, utc_ms(2024, 3, 31, 0, 0, 0));
    CHECK_INT(to - from, 23 * HOUR);
    /* default: today in London, 1 July (23:30 BST) */
    CHECK(report_range(NULL, NULL, now, &from, &to, err, sizeof err) == 0, "%s",
          err);
    CHECK_INT(from, utc_ms(2024, 6, 30, 23, 0, 0));
    CHECK_INT(to, utc_ms(2024, 7, 1, 23, 0, 0));
    now = utc_ms(2024, 7, 1, 23, 30, 0) / 1000; /* 00:30 BST on the 2nd */
    CHECK(report_range("today", "today", now, &from, &to, err, sizeof err) == 0,
          "%s", err);
    CHECK_INT(from, utc_ms(2024, 7, 1, 23, 0, 0));
    CHECK(report_range("yesterday", "today", now, &from, &to, err,
                       sizeof err) == 0,
          "%s", err);
    CHECK_INT(from, utc_ms(2024, 6, 30, 23, 0, 0));
    CHECK_INT(to, utc_ms(2024, 7, 2, 23, 0, 0));
    CHECK(report_range("2024-02-29", "2024-02-29", now, &from, &to, err,
                       sizeof err) == 0,
          "leap day refused: %s", err);
    static const char *bad[] = {
        "2024-02-30", "2023-02-29",  "2024-13-01", "2024-00-10", "27/10/2024",
        "2024-1-27",  "2024-10-27x", "",           "tomorrow",   "2024-10-32"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        CHECK(report_range(bad[i], "2024-10-27", now, &from, &to, err,
                           sizeof err) < 0,
              "'%s' accepted as a date", bad[i]);
        CHECK(strstr(err, "--from") && strstr(err, "YYYY-MM-DD"),
              "unclear error for '%s': %s", bad[i], err);
    }
    CHECK(report_range("2024-10-28", "2024-10-27", now, &from, &to, err,
                       sizeof err) < 0,
          "from after to accepted");
    CHECK(strstr(err, "after") != NULL, "error: %s", err);
    CHECK(report_range("2000-01-01", "2024-10-27", now, &from, &to, err,
                       sizeof err) < 0,
          "a 25-year range accepted");
}

/* ---- outputs -------------------------------------------------------- */

static int count_fields(const char *line, size_t len)
{
    int n = 1, q = 0;

    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"')
            q = !q;
        else if (line[i] == ',' && !q)
            n++;
    }
    return n;
}

TEST(csv_long_form)
{
    struct report *r;
    char *csv;
    int lines = 0, bad = 0;

    synthetic_day();
    {
        struct report_event *e =
            add(REPORT_EV_SIGNPOSTED, utc_ms(2024, 10, 27, 15, 0, 0), "c4", -1);
        snprintf(e->service, sizeof e->service, "family \"lives\", ltd");
    }
    r = report_build(evs, nevs, day_from, day_to);
    csv = report_csv(r);
    if (!CHECK(csv != NULL, "no CSV"))
        return;
    CHECK(strncmp(csv, "table,key,metric,value\r\n", 24) == 0, "header: %.40s",
          csv);
    for (const char *p = csv; *p;) {
        const char *e = strstr(p, "\r\n");

        if (!CHECK(e != NULL, "line without CRLF: %.60s", p))
            break;
        if (count_fields(p, (size_t)(e - p)) != 4 && bad++ < 3)
            CHECK(0, "not 4 fields: %.*s", (int)(e - p), p);
        lines++;
        p = e + 2;
    }
    CHECK(lines > 100, "only %d lines", lines);
    CHECK(strstr(csv, "\r\nsummary,all,offered,5\r\n"), "summary offered");
    CHECK(strstr(csv, "\r\nsummary,all,answer_rate,0.7500\r\n"), "rate");
    CHECK(strstr(csv, "\r\nsummary,all,wait_p50_ms,45000\r\n"), "p50");
    CHECK(strstr(csv, "\r\nsummary,all,quick_exits,1\r\n"), "exits");
    CHECK(strstr(csv, "\r\nseverity,emergency,offered,1\r\n"), "severity");
    CHECK(strstr(csv, "\r\ncategory,behaviour,conversations,2\r\n"), "cat");
    CHECK(strstr(csv, "\r\noutcome,advice,conversations,1\r\n"), "outcome");
    CHECK(strstr(csv, "\r\ndecision,referred_police,cases,1\r\n"), "dec");
    CHECK(strstr(csv, "\r\nservice,\"family \"\"lives\"\", ltd\",signposts,1"
                      "\r\n"),
          "a service name with a comma and quotes is not quoted");
    CHECK(strstr(csv, "\r\nday,2024-10-27,offered,5\r\n"), "day");
    CHECK(strstr(csv, "\r\nhour,01,abandoned,1\r\n"), "hour");
    CHECK(strstr(csv, "\r\nhour,05,wait_p50_ms,\r\n"),
          "an empty percentile is an empty field");
    CHECK(strstr(csv, "\r\nhour,23,offered,1\r\n"), "hour 23");
    free(csv);
    report_free(r);
}

TEST(json_shape)
{
    struct report *r;
    json_t *j, *s, *back;
    char *txt;

    synthetic_day();
    r = report_build(evs, nevs, day_from, day_to);
    j = report_json(r);
    if (!CHECK(j != NULL, "no JSON"))
        return;
    txt = json_dumps(j, 0);
    back = json_loads(txt, 0, NULL);
    CHECK(back != NULL, "JSON does not parse back");
    s = json_object_get(back, "summary");
    CHECK_INT(json_integer_value(json_object_get(s, "offered")), 5);
    CHECK_INT(json_integer_value(json_object_get(s, "answered")), 3);
    CHECK_INT(json_integer_value(json_object_get(s, "abandoned")), 1);
    CHECK_INT(json_integer_value(json_object_get(s, "quick_exits")), 1);
    CHECK_INT(json_integer_value(json_object_get(s, "wait_p90_ms")), 120000);
    CHECK_INT(json_integer_value(json_object_get(s, "escalations")), 1);
    CHECK(json_is_real(json_object_get(s, "answer_rate")) &&
              json_real_value(json_object_get(s, "answer_rate")) == 0.75,
          "answer_rate");
    CHECK_STR(json_string_value(json_object_get(back, "from")), "2024-10-27");
    CHECK_STR(json_string_value(json_object_get(back, "to")), "2024-10-27");
    CHECK_STR(json_string_value(json_object_get(back, "time_zone")),
              "Europe/London");
    CHECK_STR(json_string_value(json_object_get(back, "percentiles")),
              "nearest-rank");
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(json_object_get(back, "by_severity"), "high"),
                  "abandoned")),
              1);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(back, "by_outcome"), "advice")),
              1);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(back, "by_category"), "behaviour")),
              2);
    CHECK_INT(
        json_integer_value(json_object_get(
            json_object_get(back, "signposts_by_service"), "nspcc-helpline")),
        1);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(back, "escalations_by_decision"),
                  "referred_police")),
              1);
    CHECK_INT(json_array_size(json_object_get(back, "per_day")), 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(back, "per_day"), 0), "date")),
              "2024-10-27");
    CHECK_INT(json_array_size(json_object_get(back, "per_hour")), 24);
    {
        json_t *h1 = json_array_get(json_object_get(back, "per_hour"), 1);
        json_t *h5 = json_array_get(json_object_get(back, "per_hour"), 5);

        CHECK_INT(json_integer_value(json_object_get(h1, "hour")), 1);
        CHECK_INT(json_integer_value(json_object_get(h1, "abandoned")), 1);
        CHECK(json_is_null(json_object_get(h5, "wait_p50_ms")),
              "empty hour's p50 is not null");
        CHECK(json_is_null(json_object_get(h5, "answer_rate")),
              "empty hour's rate is not null");
    }
    free(txt);
    json_decref(back);
    json_decref(j);
    report_free(r);
}

TEST(text_table)
{
    struct report *r;
    char *t;

    synthetic_day();
    r = report_build(evs, nevs, day_from, day_to);
    t = report_text(r);
    if (!CHECK(t != NULL, "no text"))
        return;
    CHECK(strstr(t, "chatd report 2024-10-27 to 2024-10-27 (Europe/London"),
          "title: %.80s", t);
    CHECK(strstr(t, "chats offered"), "offered row");
    CHECK(strstr(t, "75.0%"), "answer rate row");
    CHECK(strstr(t, "0:45 / 2:00"), "wait p50 / p90 as m:ss");
    CHECK(strstr(t, "Per hour of day"), "per hour table");
    CHECK(strstr(t, "  01-02 "), "hour label");
    if (getenv("REPORT_SHOW"))
        fputs(t, stdout);
    free(t);
    report_free(r);
}

TEST(empty_range)
{
    struct report *r;

    synthetic_day();
    r = report_build(NULL, 0, day_from, day_to);
    char *csv, *txt;
    json_t *j;

    if (!CHECK(r != NULL, "no report"))
        return;
    CHECK_INT(r->total.offered, 0);
    CHECK(r->total.answer_rate < 0, "rate of nothing");
    CHECK_INT(r->total.wait_p50_ms, -1);
    CHECK_INT(r->total.handle_median_ms, -1);
    csv = report_csv(r);
    txt = report_text(r);
    j = report_json(r);
    CHECK(csv && strstr(csv, "\r\nsummary,all,answer_rate,\r\n"), "csv");
    CHECK(txt && strstr(txt, "(none)"), "text shows no categories");
    CHECK(j && json_is_null(json_object_get(json_object_get(j, "summary"),
                                            "wait_p50_ms")),
          "json null p50");
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(j, "by_outcome"), "advice")),
              0);
    free(csv);
    free(txt);
    json_decref(j);
    report_free(r);
    CHECK(report_new(day_to, day_from) == NULL, "reversed range accepted");
    CHECK(report_new(day_from, day_from) == NULL, "empty range accepted");
}

/* ---- reading XRANGE replies ------------------------------------------ */

/* RESP bulk string */
static void bulk(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);

    snprintf(buf + n, len - n, "$%zu\r\n%s\r\n", strlen(s), s);
}

static void arr(char *buf, size_t len, int n)
{
    size_t l = strlen(buf);

    snprintf(buf + l, len - l, "*%d\r\n", n);
}

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

/* One stream entry with fields given as "k", "v", ..., NULL. */
static void entry(char *buf, size_t len, const char *id, ...)
{
    va_list ap;
    const char *s;
    int n = 0;

    va_start(ap, id);
    while (va_arg(ap, const char *))
        n++;
    va_end(ap);
    arr(buf, len, 2);
    bulk(buf, len, id);
    arr(buf, len, n);
    va_start(ap, id);
    while ((s = va_arg(ap, const char *)))
        bulk(buf, len, s);
    va_end(ap);
}

TEST(parses_xrange)
{
    static char resp[8192];
    char id[64], last[64] = "";
    long long t = utc_ms(2024, 10, 27, 12, 0, 0);
    struct report *r;
    redisReply *rep;
    struct report_event e;
    int n;

    resp[0] = 0;
    arr(resp, sizeof resp, 6);
    snprintf(id, sizeof id, "%lld-0", t);
    entry(resp, sizeof resp, id, "t", "offered", "conv", "k1", "sev", "2",
          NULL);
    snprintf(id, sizeof id, "%lld-1", t);
    entry(resp, sizeof resp, id, "t", "answered", "conv", "k1", "adviser",
          "amira", "sev", "2", "wait_ms", "7000", NULL);
    snprintf(id, sizeof id, "%lld-0", t + 60000);
    entry(resp, sizeof resp, id, "t", "ended", "conv", "k1", "adviser", "amira",
          "sev", "2", "by", "parent", "reason", "exit", "handle_ms", "53000",
          NULL);
    snprintf(id, sizeof id, "%lld-0", t + 120000);
    entry(resp, sizeof resp, id, "t", "wrapped", "conv", "k1", "adviser",
          "amira", "outcome", "advice", "categories", "behaviour,sleep", NULL);
    snprintf(id, sizeof id, "%lld-0", t + 130000);
    entry(resp, sizeof resp, id, "t", "audit_thing", "conv", "k1", NULL);
    snprintf(id, sizeof id, "%lld-0", t + 140000);
    entry(resp, sizeof resp, id, "t", "offered", "conv", "k2", "sev", "x9",
          NULL);
    rep = read_reply(resp);
    if (!CHECK(rep != NULL, "RESP did not parse"))
        return;
    CHECK(report_parse_entry(rep->element[2], &e) == 0, "entry");
    CHECK_INT(e.type, REPORT_EV_ENDED);
    CHECK_INT(e.ms, t + 60000);
    CHECK_INT(e.handle_ms, 53000);
    CHECK_INT(e.wait_ms, -1);
    CHECK_INT(e.sev, 2);
    CHECK_STR(e.reason, "exit");
    CHECK_STR(e.by, "parent");
    CHECK_STR(e.conv, "k1");
    CHECK(report_parse_entry(rep->element[4], &e) == 0, "unknown entry");
    CHECK_INT(e.type, REPORT_EV_OTHER);
    CHECK(report_parse_entry(rep->element[5], &e) == 0, "bad sev entry");
    CHECK_INT(e.sev, -1);
    CHECK(report_parse_entry(rep, &e) < 0, "the whole reply as an entry");
    CHECK(report_parse_entry(NULL, &e) < 0, "NULL entry");

    r = report_new(day_from, day_to);
    n = report_add_xrange(r, rep, last, sizeof last);
    CHECK_INT(n, 6);
    snprintf(id, sizeof id, "%lld-0", t + 140000);
    {
        const char *got = last, *want = id;

        CHECK_STR(got, want);
    }
    report_finish(r);
    CHECK_INT(r->total.offered, 2);
    CHECK_INT(r->sev_offered[2], 1); /* k2's bad severity is not counted */
    CHECK_INT(r->total.answered, 1);
    CHECK_INT(r->total.wait_p50_ms, 7000);
    CHECK_INT(r->total.quick_exits, 1);
    CHECK_INT(table_n(&r->categories, "sleep"), 1);
    CHECK_INT(table_n(&r->outcomes, "advice"), 1);
    CHECK_INT(r->hours[12].offered, 2); /* 12:00 and 12:02 GMT */
    report_free(r);
    freeReplyObject(rep);

    rep = read_reply("-ERR no\r\n");
    r = report_new(day_from, day_to);
    n = report_add_xrange(r, rep, last, sizeof last);
    CHECK_INT(n, -1);
    report_free(r);
    freeReplyObject(rep);
}

/* ---- the command line (no Redis is reached for these) ----------------- */

TEST(cli_errors_exit_2)
{
    struct config cfg;
    int rc;
    char *a1[] = {"report", "--from", "2024-02-30", NULL};
    char *a2[] = {"report", "--from", "2024-10-28", "--to", "2024-10-27", NULL};
    char *a3[] = {"report", "--from", NULL};
    char *a4[] = {"report", "--pdf", NULL};
    char *a5[] = {"report", "--to", "31/12/2024", NULL};

    config_defaults(&cfg);
    rc = report_cli(3, a1, &cfg);
    CHECK_INT(rc, 2);
    rc = report_cli(5, a2, &cfg);
    CHECK_INT(rc, 2);
    rc = report_cli(2, a3, &cfg);
    CHECK_INT(rc, 2);
    rc = report_cli(2, a4, &cfg);
    CHECK_INT(rc, 2);
    rc = report_cli(3, a5, &cfg);
    CHECK_INT(rc, 2);
}

int main(void)
{
    setenv("TZ", "Europe/London", 1);
    tzset();
    RUN(day_counts_and_rates);
    RUN(nearest_rank_percentiles);
    RUN(per_hour_across_clock_change);
    RUN(per_day_over_three_days);
    RUN(date_range_local_midnights);
    RUN(csv_long_form);
    RUN(json_shape);
    RUN(text_table);
    RUN(empty_range);
    RUN(parses_xrange);
    RUN(cli_errors_exit_2);
    return unit_summary();
}
