/*
 * hours.c - see hours.h.  The schedule syntax is too small for a library
 * to exist; this is a careful hand parser of it (items separated by
 * spaces or commas, clauses by ';').  Calendar arithmetic on dates is done
 * on day numbers (days since 1970-01-01, proleptic Gregorian), so "the day
 * after" never depends on the length of a day across a clock change; only
 * the conversions between time_t and local wall time use the C library.
 */
#include "hours.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MIN_PER_DAY   1440
#define SPEC_MAX      8192 /* bytes in one option's value */
#define ITEM_MAX      64   /* bytes, with NUL, of one item ("mon-fri") */
#define ZONE_MAX      128  /* bytes, with NUL, of a zone name */
#define ZONEINFO_DIR  "/usr/share/zoneinfo"
#define YEAR_MIN      1970
#define YEAR_MAX      2199
#define DATE_SPAN_MAX 366 /* days in one "a..b" exception range */
#define DATE_LEN      48  /* bytes for "YYYY-MM-DD" with room for any long */
#define SUMMER_PROBE  1782907200 /* 2026-07-01T12:00:00Z, for the zone check */
#define SUMMER_OFFSET 3600       /* seconds: BST is UTC+1 */

struct range {
    int start, end; /* minutes from local midnight; end > start, end may pass
                       MIN_PER_DAY when the range runs overnight */
};

struct day {
    int n;
    struct range r[HOURS_MAX_RANGES]; /* sorted by start, not overlapping */
};

struct exception {
    long date; /* day number */
    struct day day;
};

struct hours {
    struct day week[7];    /* 0 = Monday */
    struct exception *exc; /* sorted by date, unique */
    int nexc;
    int always;
};

static const char *const day_names[7] = {"mon", "tue", "wed", "thu",
                                         "fri", "sat", "sun"};
static const char *const day_titles[7] = {"Mon", "Tue", "Wed", "Thu",
                                          "Fri", "Sat", "Sun"};

/* ---- time zone -------------------------------------------------------- */

static int tz_ready;

int hours_tz_init(const char *zone, char *err, size_t errlen)
{
    char path[ZONE_MAX + sizeof ZONEINFO_DIR + 8];
    const char *dir = getenv("TZDIR");
    struct stat st;
    struct tm tm;
    time_t probe = SUMMER_PROBE;

    if (!zone || !*zone)
        zone = HOURS_DEFAULT_TZ;
    if (strlen(zone) >= ZONE_MAX || strstr(zone, "..") || zone[0] == '/') {
        snprintf(err, errlen, "time zone '%.40s': not a zone name", zone);
        return -1;
    }
    for (const char *p = zone; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p)) {
            snprintf(err, errlen, "time zone '%.40s': not a zone name", zone);
            return -1;
        }
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ZONEINFO_DIR,
             zone);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen,
                 "time zone '%s': no tzdata at %s (install tzdata)", zone,
                 path);
        return -1;
    }
    if (setenv("TZ", zone, 1) < 0) {
        snprintf(err, errlen, "time zone '%s': setenv: %s", zone,
                 strerror(errno));
        return -1;
    }
    tzset();
    tz_ready = 1;
    /* glibc falls back to UTC silently on an unreadable zone file. */
    if (strcmp(zone, HOURS_DEFAULT_TZ) == 0 &&
        (!localtime_r(&probe, &tm) || tm.tm_gmtoff != SUMMER_OFFSET)) {
        snprintf(err, errlen,
                 "time zone '%s': tzdata gives no summer time (broken %s?)",
                 zone, path);
        return -1;
    }
    return 0;
}

static void tz_ensure(void)
{
    char err[256];

    if (!tz_ready && hours_tz_init(NULL, err, sizeof err) < 0)
        tz_ready = 1; /* tried; conversions run in whatever TZ is set */
}

/* ---- calendar --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long days_from_civil(long y, int m, int d)
{
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, int *m, int *d)
{
    long era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Monday.  1970-01-01 was a Thursday. */
static int weekday(long date)
{
    return (int)(((date % 7) + 7 + 3) % 7);
}

static int days_in_month(long y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Local date (day number) and minute of the day at t; -1 on failure. */
static int to_local(time_t t, long *date, int *minute)
{
    struct tm tm;

    tz_ensure();
    if (!localtime_r(&t, &tm))
        return -1;
    *date = days_from_civil(tm.tm_year + 1900L, tm.tm_mon + 1, tm.tm_mday);
    *minute = tm.tm_hour * 60 + tm.tm_min;
    return 0;
}

/* The time_t of a local wall time; minute < MIN_PER_DAY.  A wall time in
 * the hour skipped in March comes out as the C library normalises it. */
static time_t from_local(long date, int minute)
{
    struct tm tm;
    long y;
    int m, d;

    tz_ensure();
    civil_from_days(date, &y, &m, &d);
    memset(&tm, 0, sizeof tm);
    tm.tm_year = (int)(y - 1900);
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = minute / 60;
    tm.tm_min = minute % 60;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* ---- building --------------------------------------------------------- */

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;

    return (x->start > y->start) - (x->start < y->start);
}

/* Sort a day's ranges; 0, or -1 if two overlap. */
static int day_finish(struct day *day)
{
    qsort(day->r, (size_t)day->n, sizeof day->r[0], cmp_range);
    for (int i = 1; i < day->n; i++)
        if (day->r[i].start < day->r[i - 1].end)
            return -1;
    return 0;
}

static int cmp_exception(const void *a, const void *b)
{
    const struct exception *x = a, *y = b;

    return (x->date > y->date) - (x->date < y->date);
}

static void set_always(struct hours *h)
{
    for (int d = 0; d < 7; d++) {
        h->week[d].n = 1;
        h->week[d].r[0].start = 0;
        h->week[d].r[0].end = MIN_PER_DAY;
    }
}

static int week_is_always(const struct hours *h)
{
    for (int d = 0; d < 7; d++)
        if (h->week[d].n != 1 || h->week[d].r[0].start != 0 ||
            h->week[d].r[0].end < MIN_PER_DAY)
            return 0;
    return 1;
}

void hours_free(struct hours *h)
{
    if (!h)
        return;
    free(h->exc);
    free(h);
}

/* ---- the text syntax -------------------------------------------------- */

/* "H:MM" or "HH:MM"; "24:00" only when allow24.  Minutes, or -1. */
static int parse_hhmm(const char *s, size_t len, int allow24)
{
    int hh, mm;

    if (len == 4 && isdigit((unsigned char)s[0]) && s[1] == ':')
        hh = s[0] - '0', s += 2, len -= 2;
    else if (len == 5 && isdigit((unsigned char)s[0]) &&
             isdigit((unsigned char)s[1]) && s[2] == ':')
        hh = (s[0] - '0') * 10 + (s[1] - '0'), s += 3, len -= 3;
    else
        return -1;
    if (len != 2 || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]))
        return -1;
    mm = (s[0] - '0') * 10 + (s[1] - '0');
    if (mm > 59 || hh > 24 || (hh == 24 && (!allow24 || mm != 0)))
        return -1;
    return hh * 60 + mm;
}

/* One range from its two times; end not after start runs overnight. */
static int make_range(int start, int end, struct range *out)
{
    if (start < 0 || end < 0 || start >= MIN_PER_DAY || end == start)
        return -1;
    out->start = start;
    out->end = end > start ? end : end + MIN_PER_DAY;
    return 0;
}

/* Add a range to a day, reporting which day ("mon", "2026-12-24"). */
static int day_add(struct day *day, const struct range *r, const char *opt,
                   const char *what, char *err, size_t errlen)
{
    if (day->n >= HOURS_MAX_RANGES) {
        errf(err, errlen, "%s: '%s': more than %d time ranges", opt, what,
             HOURS_MAX_RANGES);
        return -1;
    }
    day->r[day->n++] = *r;
    return 0;
}

/* Case-insensitive day name of exactly len bytes; 0..6, or -1. */
static int day_index(const char *s, size_t len)
{
    for (int d = 0; d < 7; d++)
        if (len == 3 && strncasecmp(s, day_names[d], 3) == 0)
            return d;
    return -1;
}

/* "mon", "mon-fri", "fri-mon" (wraps), "daily": bit 1<<day per day. */
static int parse_days(const char *item, unsigned *mask)
{
    const char *dash = strchr(item, '-');
    int a, b;

    if (strcasecmp(item, "daily") == 0) {
        *mask = 0x7f;
        return 0;
    }
    if (!dash) {
        if ((a = day_index(item, strlen(item))) < 0)
            return -1;
        *mask = 1u << a;
        return 0;
    }
    a = day_index(item, (size_t)(dash - item));
    b = day_index(dash + 1, strlen(dash + 1));
    if (a < 0 || b < 0)
        return -1;
    *mask = 0;
    for (int d = a;; d = (d + 1) % 7) {
        *mask |= 1u << d;
        if (d == b)
            break;
    }
    return 0;
}

/* "YYYY-MM-DD" exactly; the day number, or LONG_MIN. */
static long parse_date(const char *s, size_t len)
{
    long y = 0;
    int m, d;

    if (len != 10 || s[4] != '-' || s[7] != '-')
        return LONG_MIN;
    for (size_t i = 0; i < len; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return LONG_MIN;
    for (int i = 0; i < 4; i++)
        y = y * 10 + (s[i] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < YEAR_MIN || y > YEAR_MAX || m < 1 || m > 12 || d < 1 ||
        d > days_in_month(y, m))
        return LONG_MIN;
    return days_from_civil(y, m, d);
}

static void format_date(long date, char *buf, size_t buflen)
{
    long y;
    int m, d;

    civil_from_days(date, &y, &m, &d);
    snprintf(buf, buflen, "%04ld-%02d-%02d", y, m, d);
}

/* Next item of a clause, separated by spaces or commas.  Returns its
 * length (0 at the end), or -1 if longer than ITEM_MAX - 1. */
static int next_item(const char **p, char *item)
{
    const char *s = *p, *e;
    size_t n;

    while (*s && (isspace((unsigned char)*s) || *s == ','))
        s++;
    for (e = s; *e && !isspace((unsigned char)*e) && *e != ','; e++)
        ;
    n = (size_t)(e - s);
    *p = e;
    if (n >= ITEM_MAX) {
        memcpy(item, s, ITEM_MAX - 4);
        strcpy(item + ITEM_MAX - 4, "...");
        return -1;
    }
    memcpy(item, s, n);
    item[n] = '\0';
    return (int)n;
}

/* "HH:MM-HH:MM" into a range; -1 with err set. */
static int parse_range_item(const char *opt, const char *item, struct range *r,
                            char *err, size_t errlen)
{
    const char *dash = strchr(item, '-');
    int a, b;

    if (!dash) {
        errf(err, errlen, "%s: '%s': not a time range HH:MM-HH:MM", opt, item);
        return -1;
    }
    a = parse_hhmm(item, (size_t)(dash - item), 0);
    b = parse_hhmm(dash + 1, strlen(dash + 1), 1);
    if (a < 0 || b < 0) {
        errf(err, errlen, "%s: '%s': not a time range HH:MM-HH:MM", opt, item);
        return -1;
    }
    if (make_range(a, b, r) < 0) {
        errf(err, errlen, "%s: '%s': empty time range", opt, item);
        return -1;
    }
    return 0;
}

/* Is the item a date or a date range ("2026-12-24", "2026-12-24..2026-12-26")?
 */
static int looks_like_date(const char *item)
{
    return strlen(item) >= 5 && isdigit((unsigned char)item[0]) &&
           isdigit((unsigned char)item[1]) && isdigit((unsigned char)item[2]) &&
           isdigit((unsigned char)item[3]) && item[4] == '-';
}

struct dates {
    long *v;
    int n, cap;
};

static int dates_add(struct dates *ds, long date, char *err, size_t errlen)
{
    if (ds->n >= HOURS_MAX_EXCEPTIONS) {
        errf(err, errlen, "hours_exceptions: more than %d dates",
             HOURS_MAX_EXCEPTIONS);
        return -1;
    }
    if (ds->n == ds->cap) {
        int cap = ds->cap ? ds->cap * 2 : 16;
        long *v = realloc(ds->v, (size_t)cap * sizeof *v);
        if (!v) {
            errf(err, errlen, "hours_exceptions: out of memory");
            return -1;
        }
        ds->v = v;
        ds->cap = cap;
    }
    ds->v[ds->n++] = date;
    return 0;
}

/* "2026-12-24" or "2026-12-24..2026-12-26" appended to ds. */
static int parse_date_item(const char *item, struct dates *ds, char *err,
                           size_t errlen)
{
    const char *dots = strstr(item, "..");
    long a, b;

    if (!dots) {
        if ((a = parse_date(item, strlen(item))) == LONG_MIN)
            goto bad;
        return dates_add(ds, a, err, errlen);
    }
    a = parse_date(item, (size_t)(dots - item));
    b = parse_date(dots + 2, strlen(dots + 2));
    if (a == LONG_MIN || b == LONG_MIN)
        goto bad;
    if (b < a || b - a >= DATE_SPAN_MAX) {
        errf(err, errlen,
             "hours_exceptions: '%s': a date range runs forward, at most %d "
             "days",
             item, DATE_SPAN_MAX);
        return -1;
    }
    for (long d = a; d <= b; d++)
        if (dates_add(ds, d, err, errlen) < 0)
            return -1;
    return 0;
bad:
    errf(err, errlen, "hours_exceptions: '%s': not a date YYYY-MM-DD", item);
    return -1;
}

/*
 * One clause: heads (days, or dates for exceptions), then "closed" or one
 * or more time ranges.  Fills *mask (days) or appends to *ds (dates), and
 * the day's ranges in *day.
 */
static int parse_clause(const char *opt, int dated, const char *clause,
                        unsigned *mask, struct dates *ds, struct day *day,
                        char *err, size_t errlen)
{
    const char *p = clause;
    char item[ITEM_MAX], first[ITEM_MAX] = "";
    int n, heads = 0, closed = 0;

    *mask = 0;
    memset(day, 0, sizeof *day);
    while ((n = next_item(&p, item)) != 0) {
        if (n < 0) {
            errf(err, errlen, "%s: '%s': too long", opt, item);
            return -1;
        }
        if (!*first)
            strcpy(first, item);
        if (strcasecmp(item, "closed") == 0) {
            if (closed || day->n) {
                errf(err, errlen, "%s: '%s': 'closed' with other times", opt,
                     clause);
                return -1;
            }
            closed = 1;
        } else if (dated ? looks_like_date(item)
                         : isalpha((unsigned char)item[0])) {
            unsigned m;
            if (closed || day->n) {
                errf(err, errlen,
                     "%s: '%s': %s must come before the times (end each "
                     "clause with ';')",
                     opt, item, dated ? "dates" : "days");
                return -1;
            }
            if (dated) {
                if (parse_date_item(item, ds, err, errlen) < 0)
                    return -1;
            } else {
                if (parse_days(item, &m) < 0) {
                    errf(err, errlen, "%s: '%s': unknown day", opt, item);
                    return -1;
                }
                if (*mask & m) {
                    errf(err, errlen, "%s: '%s': day given twice in a clause",
                         opt, item);
                    return -1;
                }
                *mask |= m;
            }
            heads++;
        } else if (isdigit((unsigned char)item[0])) {
            struct range r;
            if (closed) {
                errf(err, errlen, "%s: '%s': 'closed' with other times", opt,
                     clause);
                return -1;
            }
            if (!heads && dated && !strchr(item, ':')) {
                errf(err, errlen, "%s: '%s': not a date YYYY-MM-DD", opt, item);
                return -1;
            }
            if (!heads) {
                errf(err, errlen, "%s: '%s': no %s before the times", opt, item,
                     dated ? "date" : "days");
                return -1;
            }
            if (parse_range_item(opt, item, &r, err, errlen) < 0 ||
                day_add(day, &r, opt, first, err, errlen) < 0)
                return -1;
        } else {
            errf(err, errlen, "%s: '%s': unknown %s", opt, item,
                 dated ? "date (YYYY-MM-DD)" : "day");
            return -1;
        }
    }
    if (!closed && !day->n) {
        errf(err, errlen, "%s: '%s': no times (HH:MM-HH:MM or closed)", opt,
             first);
        return -1;
    }
    if (day_finish(day) < 0) {
        errf(err, errlen, "%s: '%s': time ranges overlap", opt, first);
        return -1;
    }
    return 0;
}

/* Split text on ';' and parse each clause into h. */
static int parse_text(struct hours *h, const char *opt, int dated,
                      const char *text, char *err, size_t errlen)
{
    char buf[SPEC_MAX];
    char *clause, *save = NULL;
    unsigned seen = 0;
    struct dates ds = {NULL, 0, 0};
    size_t len = strlen(text);

    if (len >= sizeof buf) {
        errf(err, errlen, "%s: longer than %d bytes", opt, SPEC_MAX - 1);
        return -1;
    }
    memcpy(buf, text, len + 1);
    for (clause = strtok_r(buf, ";", &save); clause;
         clause = strtok_r(NULL, ";", &save)) {
        struct day day;
        unsigned mask;
        int from = ds.n;
        const char *q = clause;
        char item[ITEM_MAX];

        if (next_item(&q, item) == 0)
            continue; /* empty clause */
        if (parse_clause(opt, dated, clause, &mask, &ds, &day, err, errlen) < 0)
            goto fail;
        if (!dated) {
            for (int d = 0; d < 7; d++)
                if (mask & seen & (1u << d)) {
                    errf(err, errlen, "%s: '%s': day given twice", opt,
                         day_names[d]);
                    goto fail;
                }
            seen |= mask;
            for (int d = 0; d < 7; d++)
                if (mask & (1u << d))
                    h->week[d] = day;
            continue;
        }
        for (int i = from; i < ds.n; i++) {
            struct exception *e;
            if (h->nexc >= HOURS_MAX_EXCEPTIONS) {
                errf(err, errlen, "%s: more than %d dates", opt,
                     HOURS_MAX_EXCEPTIONS);
                goto fail;
            }
            e = &h->exc[h->nexc++];
            e->date = ds.v[i];
            e->day = day;
        }
    }
    if (dated) {
        qsort(h->exc, (size_t)h->nexc, sizeof h->exc[0], cmp_exception);
        for (int i = 1; i < h->nexc; i++)
            if (h->exc[i].date == h->exc[i - 1].date) {
                char d[DATE_LEN];
                format_date(h->exc[i].date, d, sizeof d);
                errf(err, errlen, "%s: '%s': date given twice", opt, d);
                goto fail;
            }
    }
    free(ds.v);
    return 0;
fail:
    free(ds.v);
    return -1;
}

static int blank(const char *s)
{
    if (!s)
        return 1;
    while (isspace((unsigned char)*s))
        s++;
    return !*s;
}

static int is_247(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    if (strncmp(s, "24/7", 4) != 0)
        return 0;
    return blank(s + 4);
}

struct hours *hours_parse(const char *spec, const char *exceptions, char *err,
                          size_t errlen)
{
    struct hours *h = calloc(1, sizeof *h);

    if (!h) {
        errf(err, errlen, "hours: out of memory");
        return NULL;
    }
    if (blank(spec) || is_247(spec))
        set_always(h);
    else if (parse_text(h, "hours", 0, spec, err, errlen) < 0)
        goto fail;
    if (!blank(exceptions)) {
        h->exc = calloc(HOURS_MAX_EXCEPTIONS, sizeof *h->exc);
        if (!h->exc) {
            errf(err, errlen, "hours_exceptions: out of memory");
            goto fail;
        }
        if (parse_text(h, "hours_exceptions", 1, exceptions, err, errlen) < 0)
            goto fail;
    }
    h->always = h->nexc == 0 && week_is_always(h);
    return h;
fail:
    hours_free(h);
    return NULL;
}

/* ---- the JSON form ---------------------------------------------------- */

struct hours *hours_from_json(const json_t *v, char *err, size_t errlen)
{
    struct hours *h = calloc(1, sizeof *h);
    const char *key;
    json_t *val;

    if (!h) {
        errf(err, errlen, ": out of memory");
        return NULL;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "24/7") == 0) {
        set_always(h);
        h->always = 1;
        return h;
    }
    if (!json_is_object(v)) {
        errf(err, errlen,
             ": must be \"24/7\" or an object of days, {\"mon\": "
             "[[\"09:00\", \"17:00\"]]}");
        goto fail;
    }
    json_object_foreach((json_t *)v, key, val)
    {
        int d = day_index(key, strlen(key));
        struct day *day;
        size_t i;
        json_t *pair;

        if (d < 0 || strcmp(key, day_names[d]) != 0) {
            errf(err, errlen,
                 ".%.40s: unknown day (mon, tue, wed, thu, fri, "
                 "sat, sun)",
                 key);
            goto fail;
        }
        if (!json_is_array(val)) {
            errf(err, errlen,
                 ".%s: must be an array of [\"HH:MM\", \"HH:MM\"] ranges", key);
            goto fail;
        }
        day = &h->week[d];
        json_array_foreach(val, i, pair)
        {
            int t[2];
            struct range r;
            if (!json_is_array(pair) || json_array_size(pair) != 2) {
                errf(err, errlen, ".%s[%zu]: must be [\"HH:MM\", \"HH:MM\"]",
                     key, i);
                goto fail;
            }
            for (size_t j = 0; j < 2; j++) {
                json_t *s = json_array_get(pair, j);
                const char *sv = json_string_value(s);
                t[j] = sv ? parse_hhmm(sv, strlen(sv), j == 1) : -1;
                if (t[j] < 0) {
                    errf(err, errlen,
                         ".%s[%zu][%zu]: '%.20s' is not a time "
                         "HH:MM",
                         key, i, j, sv ? sv : "(not a string)");
                    goto fail;
                }
            }
            if (make_range(t[0], t[1], &r) < 0) {
                errf(err, errlen, ".%s[%zu]: empty time range", key, i);
                goto fail;
            }
            if (day->n >= HOURS_MAX_RANGES) {
                errf(err, errlen, ".%s: more than %d time ranges", key,
                     HOURS_MAX_RANGES);
                goto fail;
            }
            day->r[day->n++] = r;
        }
        if (day_finish(day) < 0) {
            errf(err, errlen, ".%s: time ranges overlap", key);
            goto fail;
        }
    }
    h->always = week_is_always(h);
    return h;
fail:
    hours_free(h);
    return NULL;
}

/* ---- queries ---------------------------------------------------------- */

int hours_always_open(const struct hours *h)
{
    return h->always;
}

static const struct day *day_for(const struct hours *h, long date)
{
    size_t lo = 0, hi = (size_t)h->nexc;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->exc[mid].date == date)
            return &h->exc[mid].day;
        if (h->exc[mid].date < date)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &h->week[weekday(date)];
}

int hours_open_at(const struct hours *h, time_t t)
{
    const struct day *day, *prev;
    long date;
    int minute;

    if (h->always)
        return 1;
    if (to_local(t, &date, &minute) < 0)
        return 0;
    day = day_for(h, date);
    for (int i = 0; i < day->n; i++)
        if (day->r[i].start <= minute && minute < day->r[i].end)
            return 1;
    prev = day_for(h, date - 1); /* its overnight ranges run into today */
    for (int i = 0; i < prev->n; i++)
        if (minute + MIN_PER_DAY < prev->r[i].end)
            return 1;
    return 0;
}

time_t hours_next_open(const struct hours *h, time_t t)
{
    long today;
    int minute;

    if (h->always || to_local(t, &today, &minute) < 0)
        return (time_t)-1;
    for (long date = today; date <= today + HOURS_HORIZON_DAYS; date++) {
        const struct day *day = day_for(h, date);
        for (int i = 0; i < day->n; i++) {
            time_t u = from_local(date, day->r[i].start);
            if (u == (time_t)-1 || u <= t)
                continue;
            if (hours_open_at(h, u) && !hours_open_at(h, u - 1))
                return u;
        }
    }
    return (time_t)-1;
}

char *hours_format_iso(time_t t, char *buf, size_t buflen)
{
    struct tm tm;
    long off;
    size_t n;

    tz_ensure();
    if (buflen < HOURS_ISO_LEN || !localtime_r(&t, &tm)) {
        if (buflen)
            buf[0] = '\0';
        return buf;
    }
    n = strftime(buf, buflen, "%Y-%m-%dT%H:%M:%S", &tm);
    off = tm.tm_gmtoff;
    snprintf(buf + n, buflen - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
             labs(off) / 3600, labs(off) % 3600 / 60);
    return buf;
}

/* ---- describing ------------------------------------------------------- */

#define HHMM_LEN 16 /* bytes for "HH:MM" with room for any int */

static void fmt_min(int m, char *buf, size_t buflen)
{
    if (m > MIN_PER_DAY)
        m -= MIN_PER_DAY;
    if (m < 0 || m > MIN_PER_DAY)
        m = 0;
    snprintf(buf, buflen, "%02d:%02d", m / 60, m % 60);
}

static int day_equal(const struct day *a, const struct day *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->r[i].start != b->r[i].start || a->r[i].end != b->r[i].end)
            return 0;
    return 1;
}

char *hours_describe(const struct hours *h, char *buf, size_t buflen)
{
    size_t n = 0;

    if (!buflen)
        return buf;
    buf[0] = '\0';
    if (week_is_always(h)) {
        snprintf(buf, buflen, "24/7");
        return buf;
    }
    for (int d = 0; d < 7;) {
        int e = d;
        while (e + 1 < 7 && day_equal(&h->week[e + 1], &h->week[d]))
            e++;
        if (h->week[d].n) {
            int w;
            if (e > d)
                w = snprintf(buf + n, buflen - n, "%s%s-%s", n ? "; " : "",
                             day_titles[d], day_titles[e]);
            else
                w = snprintf(buf + n, buflen - n, "%s%s", n ? "; " : "",
                             day_titles[d]);
            n = w < 0 || (size_t)w >= buflen - n ? buflen - 1 : n + (size_t)w;
            for (int i = 0; i < h->week[d].n; i++) {
                char a[HHMM_LEN], b[HHMM_LEN];
                fmt_min(h->week[d].r[i].start, a, sizeof a);
                fmt_min(h->week[d].r[i].end, b, sizeof b);
                w = snprintf(buf + n, buflen - n, "%s%s-%s", i ? ", " : " ", a,
                             b);
                n = w < 0 || (size_t)w >= buflen - n ? buflen - 1
                                                     : n + (size_t)w;
            }
        }
        d = e + 1;
    }
    return buf;
}

json_t *hours_week_json(const struct hours *h)
{
    json_t *o;

    if (week_is_always(h))
        return json_string("24/7");
    o = json_object();
    for (int d = 0; o && d < 7; d++) {
        json_t *a;
        if (!h->week[d].n)
            continue;
        a = json_array();
        for (int i = 0; a && i < h->week[d].n; i++) {
            char s[HHMM_LEN], e[HHMM_LEN];
            fmt_min(h->week[d].r[i].start, s, sizeof s);
            fmt_min(h->week[d].r[i].end, e, sizeof e);
            json_array_append_new(a, json_pack("[ss]", s, e));
        }
        json_object_set_new(o, day_names[d], a);
    }
    return o;
}
