/*
 * test_hours.c - opening hours: the `hours` / `hours_exceptions` syntax and
 * its errors, open/closed across a week in winter and summer, dated
 * exceptions, overnight ranges, next_open across a weekend, Christmas and
 * both 2026 clock changes (29 March, 25 October), always-open when empty,
 * the JSON weekly form services use, and the ISO 8601 format with the
 * London offset.  Times are written in UTC with utc() so that each check
 * states the instant; the comment gives London wall time.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hours.h"
#include "unit.h"

static char err[512];

/* ---- helpers ---------------------------------------------------------- */

static time_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return timegm(&tm);
}

static struct hours *parse_ok(const char *file, int line, const char *spec,
                              const char *exc)
{
    struct hours *h;

    err[0] = '\0';
    h = hours_parse(spec, exc, err, sizeof err);
    CHECK_AT(file, line, h != NULL, "'%s' / '%s' refused: %s", spec ? spec : "",
             exc ? exc : "", err);
    return h;
}
#define PARSE_OK(spec, exc) parse_ok(__FILE__, __LINE__, spec, exc)

static void parse_bad(const char *file, int line, const char *spec,
                      const char *exc, const char *want)
{
    struct hours *h;

    err[0] = '\0';
    h = hours_parse(spec, exc, err, sizeof err);
    CHECK_AT(file, line, h == NULL, "'%s' / '%s' accepted", spec ? spec : "",
             exc ? exc : "");
    CHECK_AT(file, line, strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err,
             want);
    hours_free(h);
}
#define PARSE_BAD(spec, exc, want)                                             \
    parse_bad(__FILE__, __LINE__, spec, exc, want)

static void iso_is(const char *file, int line, time_t t, const char *want)
{
    char buf[HOURS_ISO_LEN];

    hours_format_iso(t, buf, sizeof buf);
    CHECK_AT(file, line, strcmp(buf, want) == 0, "got %s, want %s", buf, want);
}
#define ISO_IS(t, want) iso_is(__FILE__, __LINE__, t, want)

#define OPEN(h, t)   CHECK(hours_open_at(h, t) == 1, "closed at %s", #t)
#define CLOSED(h, t) CHECK(hours_open_at(h, t) == 0, "open at %s", #t)

/* ---- tests ------------------------------------------------------------ */

TEST(tz_init_checks_zone)
{
    CHECK(hours_tz_init("Nowhere/Atlantis", err, sizeof err) < 0,
          "unknown zone accepted");
    CHECK(strstr(err, "Nowhere/Atlantis") != NULL, "err: %s", err);
    CHECK(hours_tz_init("../../etc/passwd", err, sizeof err) < 0,
          "path accepted");
    CHECK(hours_tz_init(NULL, err, sizeof err) == 0, "London: %s", err);
    CHECK_STR(getenv("TZ"), "Europe/London");
}

TEST(syntax_errors)
{
    PARSE_BAD("mon-fry 09:00-17:00", NULL, "hours: 'mon-fry': unknown day");
    PARSE_BAD("monday 09:00-17:00", NULL, "hours: 'monday': unknown day");
    PARSE_BAD("mon 9-17", NULL, "hours: '9-17': not a time range HH:MM-HH:MM");
    PARSE_BAD("mon 09:00", NULL,
              "hours: '09:00': not a time range HH:MM-HH:MM");
    PARSE_BAD("mon 09:00-25:00", NULL,
              "hours: '09:00-25:00': not a time range HH:MM-HH:MM");
    PARSE_BAD("mon 24:00-10:00", NULL,
              "hours: '24:00-10:00': not a time range HH:MM-HH:MM");
    PARSE_BAD("mon 09:60-10:00", NULL,
              "hours: '09:60-10:00': not a time range HH:MM-HH:MM");
    PARSE_BAD("mon 10:00-10:00", NULL,
              "hours: '10:00-10:00': empty time range");
    PARSE_BAD("mon 09:00-12:00, 11:00-13:00", NULL,
              "hours: 'mon': time ranges overlap");
    PARSE_BAD("mon-fri 09:00-17:00; fri 10:00-11:00", NULL,
              "hours: 'fri': day given twice");
    PARSE_BAD("mon,mon 09:00-17:00", NULL,
              "hours: 'mon': day given twice in a clause");
    PARSE_BAD("mon-fri", NULL,
              "hours: 'mon-fri': no times (HH:MM-HH:MM or closed)");
    PARSE_BAD("09:00-17:00", NULL,
              "hours: '09:00-17:00': no days before the times");
    PARSE_BAD("mon 09:00-17:00 tue 10:00-12:00", NULL,
              "hours: 'tue': days must come before the times (end each "
              "clause with ';')");
    PARSE_BAD("sun closed 10:00-12:00", NULL,
              "hours: 'sun closed 10:00-12:00': 'closed' with other times");
    PARSE_BAD("mon @9", NULL, "hours: '@9': unknown day");
    PARSE_BAD("mon 00:00-01:00,01:00-02:00,02:00-03:00,03:00-04:00,"
              "04:00-05:00,05:00-06:00,06:00-07:00,07:00-08:00,08:00-09:00",
              NULL, "hours: 'mon': more than 8 time ranges");

    PARSE_BAD(NULL, "2026-02-30 closed",
              "hours_exceptions: '2026-02-30': not a date YYYY-MM-DD");
    PARSE_BAD(NULL, "25/12/2026 closed",
              "hours_exceptions: '25/12/2026': not a date YYYY-MM-DD");
    PARSE_BAD(NULL, "10:00-14:00",
              "hours_exceptions: '10:00-14:00': no date before the times");
    PARSE_BAD(NULL, "christmas closed",
              "hours_exceptions: 'christmas': unknown date (YYYY-MM-DD)");
    PARSE_BAD(NULL, "2026-12-25 closed; 2026-12-25 10:00-12:00",
              "hours_exceptions: '2026-12-25': date given twice");
    PARSE_BAD(NULL, "2026-12-24..2026-12-26 closed; 2026-12-25 closed",
              "hours_exceptions: '2026-12-25': date given twice");
    PARSE_BAD(NULL, "2026-12-26..2026-12-24 closed",
              "hours_exceptions: '2026-12-26..2026-12-24': a date range runs "
              "forward, at most 366 days");
    PARSE_BAD(NULL, "2026-12-25",
              "hours_exceptions: '2026-12-25': no times (HH:MM-HH:MM or "
              "closed)");
    PARSE_BAD(NULL, "2026-12-24 10:00-14:00 2026-12-31 10:00-14:00",
              "hours_exceptions: '2026-12-31': dates must come before the "
              "times (end each clause with ';')");
}

TEST(syntax_accepts_variants)
{
    struct hours *h;
    char d[HOURS_DESCRIBE_LEN];

    h = PARSE_OK("  Mon-FRI 09:00-21:00 ;; sat , sun 10:00-18:00; ", NULL);
    if (h)
        CHECK_STR(hours_describe(h, d, sizeof d),
                  "Mon-Fri 09:00-21:00; Sat-Sun 10:00-18:00");
    hours_free(h);
    h = PARSE_OK("fri-mon 9:00-12:00, 13:00-17:30", NULL);
    if (h)
        CHECK_STR(hours_describe(h, d, sizeof d),
                  "Mon 09:00-12:00, 13:00-17:30; Fri-Sun 09:00-12:00, "
                  "13:00-17:30");
    hours_free(h);
    h = PARSE_OK("daily 08:00-24:00", "");
    if (h) {
        CHECK_STR(hours_describe(h, d, sizeof d), "Mon-Sun 08:00-24:00");
        CHECK(!hours_always_open(h), "08:00-24:00 is not always open");
    }
    hours_free(h);
}

TEST(week_in_winter)
{
    /* Week of Monday 23 November 2026: GMT, London = UTC. */
    struct hours *h =
        PARSE_OK("mon-fri 09:00-21:00; sat,sun 10:00-18:00", NULL);
    if (!h)
        return;
    CLOSED(h, utc(2026, 11, 23, 8, 59));
    OPEN(h, utc(2026, 11, 23, 9, 0));
    OPEN(h, utc(2026, 11, 23, 20, 59));
    CLOSED(h, utc(2026, 11, 23, 21, 0));
    CLOSED(h, utc(2026, 11, 24, 3, 0));
    OPEN(h, utc(2026, 11, 27, 12, 0));   /* Fri */
    CLOSED(h, utc(2026, 11, 28, 9, 59)); /* Sat */
    OPEN(h, utc(2026, 11, 28, 10, 0));
    OPEN(h, utc(2026, 11, 29, 17, 59)); /* Sun */
    CLOSED(h, utc(2026, 11, 29, 18, 0));
    CHECK(hours_open_at(h, utc(2026, 11, 23, 20, 59) + 59) == 1,
          "20:59:59 is still open");
    hours_free(h);
}

TEST(week_in_summer)
{
    /* Monday 6 July 2026: BST, London = UTC+1. */
    struct hours *h =
        PARSE_OK("mon-fri 09:00-21:00; sat,sun 10:00-18:00", NULL);
    if (!h)
        return;
    CLOSED(h, utc(2026, 7, 6, 7, 59));  /* 08:59 BST */
    OPEN(h, utc(2026, 7, 6, 8, 0));     /* 09:00 BST */
    OPEN(h, utc(2026, 7, 6, 19, 59));   /* 20:59 BST */
    CLOSED(h, utc(2026, 7, 6, 20, 0));  /* 21:00 BST */
    OPEN(h, utc(2026, 7, 11, 9, 0));    /* Sat 10:00 BST */
    CLOSED(h, utc(2026, 7, 11, 17, 0)); /* Sat 18:00 BST */
    hours_free(h);
}

TEST(exceptions_override_the_week)
{
    struct hours *h = PARSE_OK("mon-fri 09:00-21:00; sat,sun 10:00-18:00",
                               "2026-12-25 closed; 2026-12-24 10:00-14:00; "
                               "2026-12-26..2026-12-27 closed; "
                               "2026-12-31 09:00-12:00, 13:00-16:00");
    if (!h)
        return;
    CLOSED(h, utc(2026, 12, 25, 12, 0)); /* Christmas, a Friday */
    CLOSED(h, utc(2026, 12, 24, 9, 30)); /* normally open */
    OPEN(h, utc(2026, 12, 24, 10, 0));
    OPEN(h, utc(2026, 12, 24, 13, 59));
    CLOSED(h, utc(2026, 12, 24, 14, 0));
    CLOSED(h, utc(2026, 12, 24, 19, 0)); /* normally open */
    CLOSED(h, utc(2026, 12, 26, 12, 0));
    CLOSED(h, utc(2026, 12, 27, 12, 0));
    OPEN(h, utc(2026, 12, 28, 12, 0)); /* back to the week */
    OPEN(h, utc(2026, 12, 31, 11, 0));
    CLOSED(h, utc(2026, 12, 31, 12, 30));
    OPEN(h, utc(2026, 12, 31, 13, 0));
    CLOSED(h, utc(2026, 12, 31, 16, 0));
    CHECK(!hours_always_open(h), "has exceptions");
    hours_free(h);
}

TEST(documented_bank_holidays)
{
    /* The example in docs/services.md: several dates in one clause. */
    struct hours *h =
        PARSE_OK("mon-fri 09:00-21:00; sat,sun 10:00-18:00",
                 "2026-12-24 10:00-14:00; 2026-12-25, 2026-12-28, 2027-01-01, "
                 "2027-03-26, 2027-03-29, 2027-05-03, 2027-05-31, 2027-08-30, "
                 "2027-12-27, 2027-12-28 closed");

    if (!h)
        return;
    OPEN(h, utc(2026, 12, 24, 13, 0));
    CLOSED(h, utc(2026, 12, 28, 12, 0)); /* Boxing Day, substitute */
    CLOSED(h, utc(2027, 3, 29, 11, 0));  /* Easter Monday, BST */
    OPEN(h, utc(2027, 3, 30, 11, 0));
    CLOSED(h, utc(2027, 12, 27, 12, 0));
    CHECK_INT(hours_next_open(h, utc(2027, 3, 25, 21, 0)), /* Thu night */
              utc(2027, 3, 27, 10, 0));                    /* Sat 10:00 GMT */
    ISO_IS(hours_next_open(h, utc(2027, 3, 28, 18, 0)),
           "2027-03-30T09:00:00+01:00");
    hours_free(h);
}

TEST(overnight_ranges)
{
    struct hours *h = PARSE_OK("fri 22:00-02:00", "2026-11-28 closed");
    char d[HOURS_DESCRIBE_LEN];

    if (!h)
        return;
    CLOSED(h, utc(2026, 11, 27, 21, 59));
    OPEN(h, utc(2026, 11, 27, 22, 0));
    OPEN(h, utc(2026, 11, 28, 1, 59)); /* Saturday, from Friday's range */
    CLOSED(h, utc(2026, 11, 28, 2, 0));
    CHECK_STR(hours_describe(h, d, sizeof d), "Fri 22:00-02:00");
    CHECK_INT(hours_next_open(h, utc(2026, 11, 28, 3, 0)),
              utc(2026, 12, 4, 22, 0));
    hours_free(h);
}

TEST(next_open_across_weekend)
{
    struct hours *h = PARSE_OK("mon-fri 09:00-17:00", NULL);

    if (!h)
        return;
    /* Friday evening -> Monday 09:00. */
    CHECK_INT(hours_next_open(h, utc(2026, 11, 27, 18, 0)),
              utc(2026, 11, 30, 9, 0));
    /* Early Monday -> 09:00 the same day. */
    CHECK_INT(hours_next_open(h, utc(2026, 11, 30, 6, 0)),
              utc(2026, 11, 30, 9, 0));
    /* Exactly at opening: already open, so the next opening is Tuesday. */
    CHECK_INT(hours_next_open(h, utc(2026, 11, 30, 9, 0)),
              utc(2026, 12, 1, 9, 0));
    /* Open now: the next opening after this one ends. */
    CHECK_INT(hours_next_open(h, utc(2026, 11, 30, 10, 0)),
              utc(2026, 12, 1, 9, 0));
    ISO_IS(hours_next_open(h, utc(2026, 11, 27, 18, 0)),
           "2026-11-30T09:00:00+00:00");
    hours_free(h);
}

TEST(next_open_over_christmas)
{
    struct hours *h = PARSE_OK("mon-fri 09:00-21:00; sat,sun 10:00-18:00",
                               "2026-12-25 closed; 2026-12-26 closed; "
                               "2026-12-24 10:00-14:00");

    if (!h)
        return;
    /* Christmas Eve after 14:00 -> Sunday 27th 10:00. */
    CHECK_INT(hours_next_open(h, utc(2026, 12, 24, 15, 0)),
              utc(2026, 12, 27, 10, 0));
    ISO_IS(hours_next_open(h, utc(2026, 12, 25, 12, 0)),
           "2026-12-27T10:00:00+00:00");
    hours_free(h);
}

TEST(next_open_across_march_clock_change)
{
    /* Clocks go forward at 01:00 UTC on Sunday 29 March 2026. */
    struct hours *h = PARSE_OK("mon-fri 09:00-17:00", NULL);

    if (!h)
        return;
    CHECK_INT(hours_next_open(h, utc(2026, 3, 27, 17, 30)), /* Fri, GMT */
              utc(2026, 3, 30, 8, 0));                      /* Mon 09:00 BST */
    ISO_IS(utc(2026, 3, 27, 17, 30), "2026-03-27T17:30:00+00:00");
    ISO_IS(hours_next_open(h, utc(2026, 3, 27, 17, 30)),
           "2026-03-30T09:00:00+01:00");
    CLOSED(h, utc(2026, 3, 30, 7, 59)); /* 08:59 BST */
    OPEN(h, utc(2026, 3, 30, 8, 0));
    hours_free(h);

    /* A range over the change itself: 00:30-03:00 local is 1.5 h long. */
    h = PARSE_OK("sun 00:30-03:00", NULL);
    if (!h)
        return;
    CLOSED(h, utc(2026, 3, 29, 0, 29));
    OPEN(h, utc(2026, 3, 29, 0, 30));  /* 00:30 GMT */
    OPEN(h, utc(2026, 3, 29, 0, 59));  /* 00:59 GMT */
    OPEN(h, utc(2026, 3, 29, 1, 0));   /* 02:00 BST */
    OPEN(h, utc(2026, 3, 29, 1, 59));  /* 02:59 BST */
    CLOSED(h, utc(2026, 3, 29, 2, 0)); /* 03:00 BST */
    ISO_IS(utc(2026, 3, 29, 0, 59), "2026-03-29T00:59:00+00:00");
    ISO_IS(utc(2026, 3, 29, 1, 0), "2026-03-29T02:00:00+01:00");
    hours_free(h);

    /* An opening just after the skipped hour. */
    h = PARSE_OK("sun 02:30-04:00", NULL);
    if (!h)
        return;
    CHECK_INT(hours_next_open(h, utc(2026, 3, 28, 12, 0)),
              utc(2026, 3, 29, 1, 30)); /* 02:30 BST */
    hours_free(h);
}

TEST(next_open_across_october_clock_change)
{
    /* Clocks go back at 01:00 UTC on Sunday 25 October 2026. */
    struct hours *h = PARSE_OK("mon-fri 09:00-17:00", NULL);

    if (!h)
        return;
    CHECK_INT(hours_next_open(h, utc(2026, 10, 23, 16, 30)), /* 17:30 BST */
              utc(2026, 10, 26, 9, 0));                      /* Mon 09:00 GMT */
    ISO_IS(utc(2026, 10, 23, 16, 30), "2026-10-23T17:30:00+01:00");
    ISO_IS(hours_next_open(h, utc(2026, 10, 23, 16, 30)),
           "2026-10-26T09:00:00+00:00");
    CLOSED(h, utc(2026, 10, 26, 8, 59));
    OPEN(h, utc(2026, 10, 26, 9, 0));
    hours_free(h);

    /* 00:30-03:00 local over the change is 3.5 h long. */
    h = PARSE_OK("sun 00:30-03:00", NULL);
    if (!h)
        return;
    CLOSED(h, utc(2026, 10, 24, 23, 29));
    OPEN(h, utc(2026, 10, 24, 23, 30)); /* 00:30 BST */
    OPEN(h, utc(2026, 10, 25, 0, 30));  /* 01:30 BST */
    OPEN(h, utc(2026, 10, 25, 1, 30));  /* 01:30 GMT, the second time */
    OPEN(h, utc(2026, 10, 25, 2, 59));  /* 02:59 GMT */
    CLOSED(h, utc(2026, 10, 25, 3, 0)); /* 03:00 GMT */
    CHECK_INT(hours_next_open(h, utc(2026, 10, 24, 12, 0)),
              utc(2026, 10, 24, 23, 30));
    ISO_IS(utc(2026, 10, 25, 0, 30), "2026-10-25T01:30:00+01:00");
    ISO_IS(utc(2026, 10, 25, 1, 30), "2026-10-25T01:30:00+00:00");
    hours_free(h);
}

TEST(empty_means_always_open)
{
    struct hours *h = PARSE_OK("", NULL);
    char d[HOURS_DESCRIBE_LEN];

    if (h) {
        CHECK(hours_always_open(h), "empty hours is always open");
        OPEN(h, utc(2026, 12, 25, 3, 0));
        OPEN(h, utc(2026, 3, 29, 1, 30));
        CHECK_INT(hours_next_open(h, utc(2026, 12, 25, 3, 0)), -1);
        CHECK_STR(hours_describe(h, d, sizeof d), "24/7");
    }
    hours_free(h);
    h = PARSE_OK(NULL, NULL);
    if (h)
        CHECK(hours_always_open(h), "NULL hours is always open");
    hours_free(h);
    h = PARSE_OK(" 24/7 ", "  ");
    if (h)
        CHECK(hours_always_open(h), "24/7 is always open");
    hours_free(h);

    /* Always open except Christmas Day. */
    h = PARSE_OK("", "2026-12-25 closed");
    if (!h)
        return;
    CHECK(!hours_always_open(h), "closed on Christmas Day");
    OPEN(h, utc(2026, 12, 24, 23, 59));
    CLOSED(h, utc(2026, 12, 25, 0, 0));
    CHECK_INT(hours_next_open(h, utc(2026, 12, 25, 12, 0)),
              utc(2026, 12, 26, 0, 0));
    CHECK_INT(hours_next_open(h, utc(2026, 12, 20, 12, 0)),
              utc(2026, 12, 26, 0, 0));
    hours_free(h);
}

TEST(never_open)
{
    struct hours *h = PARSE_OK("daily closed", NULL);
    char d[HOURS_DESCRIBE_LEN];

    if (!h)
        return;
    CLOSED(h, utc(2026, 11, 23, 12, 0));
    CHECK_INT(hours_next_open(h, utc(2026, 11, 23, 12, 0)), -1);
    CHECK_STR(hours_describe(h, d, sizeof d), "");
    hours_free(h);
    /* Closed all week but one special day within the horizon. */
    h = PARSE_OK("daily closed", "2027-02-01 10:00-11:00");
    if (!h)
        return;
    CHECK_INT(hours_next_open(h, utc(2026, 11, 23, 12, 0)),
              utc(2027, 2, 1, 10, 0));
    hours_free(h);
}

TEST(json_weekly_form)
{
    json_error_t je;
    json_t *v = json_loads("{\"mon\": [[\"09:00\", \"17:00\"]], \"tue\": "
                           "[[\"09:00\", \"12:00\"], [\"13:00\", \"17:00\"]],"
                           " \"sat\": []}",
                           0, &je);
    struct hours *h = hours_from_json(v, err, sizeof err);
    char d[HOURS_DESCRIBE_LEN];
    json_t *back;

    CHECK(h != NULL, "refused: %s", err);
    if (h) {
        OPEN(h, utc(2026, 11, 23, 9, 0));     /* Mon */
        CLOSED(h, utc(2026, 11, 24, 12, 30)); /* Tue lunch */
        CLOSED(h, utc(2026, 11, 28, 12, 0));  /* Sat */
        CHECK_STR(hours_describe(h, d, sizeof d),
                  "Mon 09:00-17:00; Tue 09:00-12:00, 13:00-17:00");
        back = hours_week_json(h);
        json_decref(v);
        v = json_pack("{s[[ss]]s[[ss][ss]]}", "mon", "09:00", "17:00", "tue",
                      "09:00", "12:00", "13:00", "17:00");
        CHECK(json_equal(back, v), "round trip differs");
        json_decref(back);
    }
    hours_free(h);
    json_decref(v);

    v = json_string("24/7");
    h = hours_from_json(v, err, sizeof err);
    CHECK(h && hours_always_open(h), "24/7");
    if (h) {
        back = hours_week_json(h);
        CHECK(json_equal(back, v), "24/7 round trip");
        json_decref(back);
    }
    hours_free(h);
    json_decref(v);
}

TEST(json_weekly_errors)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"mon\": [[\"09:00\", \"25:00\"]]}",
         ".mon[0][1]: '25:00' is not a time HH:MM"},
        {"{\"monday\": []}",
         ".monday: unknown day (mon, tue, wed, thu, fri, sat, sun)"},
        {"{\"Mon\": []}", ".Mon: unknown day (mon, tue, wed, thu, fri, sat, "
                          "sun)"},
        {"{\"mon\": \"09:00-17:00\"}",
         ".mon: must be an array of [\"HH:MM\", \"HH:MM\"] ranges"},
        {"{\"mon\": [[\"09:00\"]]}", ".mon[0]: must be [\"HH:MM\", \"HH:MM\"]"},
        {"{\"mon\": [[\"09:00\", 17]]}",
         ".mon[0][1]: '(not a string)' is not a time HH:MM"},
        {"{\"mon\": [[\"09:00\", \"09:00\"]]}", ".mon[0]: empty time range"},
        {"{\"mon\": [[\"09:00\", \"12:00\"], [\"11:00\", \"13:00\"]]}",
         ".mon: time ranges overlap"},
        {"\"24x7\"", ": must be \"24/7\" or an object of days, {\"mon\": "
                     "[[\"09:00\", \"17:00\"]]}"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t je;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
        struct hours *h;

        err[0] = '\0';
        h = v ? hours_from_json(v, err, sizeof err) : NULL;
        CHECK(v != NULL, "test JSON %zu: %s", i, je.text);
        CHECK(h == NULL, "case %zu accepted", i);
        CHECK(strcmp(err, cases[i].want) == 0,
              "case %zu: got \"%s\", want "
              "\"%s\"",
              i, err, cases[i].want);
        hours_free(h);
        json_decref(v);
    }
}

TEST(iso_format)
{
    char small[8];

    ISO_IS(utc(2026, 12, 27, 10, 0), "2026-12-27T10:00:00+00:00");
    ISO_IS(utc(2026, 7, 1, 12, 0), "2026-07-01T13:00:00+01:00");
    CHECK_STR(hours_format_iso(0, small, sizeof small), "");
}

int main(void)
{
    RUN(tz_init_checks_zone);
    RUN(syntax_errors);
    RUN(syntax_accepts_variants);
    RUN(week_in_winter);
    RUN(week_in_summer);
    RUN(exceptions_override_the_week);
    RUN(documented_bank_holidays);
    RUN(overnight_ranges);
    RUN(next_open_across_weekend);
    RUN(next_open_over_christmas);
    RUN(next_open_across_march_clock_change);
    RUN(next_open_across_october_clock_change);
    RUN(empty_means_always_open);
    RUN(never_open);
    RUN(json_weekly_form);
    RUN(json_weekly_errors);
    RUN(iso_format);
    return unit_summary();
}
