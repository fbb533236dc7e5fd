/*
 * report.c - the service's figures from the events stream (report.h).
 */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rds.h"

/* ---- local time --------------------------------------------------- */

static void tz_ensure(void)
{
    const char *tz = getenv("TZ");

    if (!tz || !*tz)
        setenv("TZ", REPORT_TZ, 1);
    tzset();
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long days_from_civil(int y, int m, int d)
{
    long yy = y - (m <= 2);
    long era = (yy >= 0 ? yy : yy - 399) / 400;
    long yoe = yy - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int ymd[3])
{
    long era, doe, yoe, y, doy, mp, d, m;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    ymd[0] = (int)(y + (m <= 2));
    ymd[1] = (int)m;
    ymd[2] = (int)d;
}

static long ymd_days(const int ymd[3])
{
    return days_from_civil(ymd[0], ymd[1], ymd[2]);
}

/* Local date and hour of a unix time in ms. */
static int local_of(long long ms, int ymd[3], int *hour)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;

    if (!localtime_r(&t, &tm))
        return -1;
    ymd[0] = tm.tm_year + 1900;
    ymd[1] = tm.tm_mon + 1;
    ymd[2] = tm.tm_mday;
    if (hour)
        *hour = tm.tm_hour;
    return 0;
}

/* Unix ms of local midnight at the start of a date. */
static long long local_midnight_ms(const int ymd[3])
{
    struct tm tm = {0};

    tm.tm_year = ymd[0] - 1900;
    tm.tm_mon = ymd[1] - 1;
    tm.tm_mday = ymd[2];
    tm.tm_isdst = -1;
    return (long long)mktime(&tm) * 1000;
}

/* ---- aggregation ---------------------------------------------------- */

static const char *const sev_names[REPORT_NSEV] = {"none", "low", "medium",
                                                   "high", "emergency"};
static const char *const outcome_names[] = {"advice", "signposted", "escalated",
                                            "referred", "disconnected"};
static const char *const decision_names[] = {
    "no_further_action", "signposted", "referred_childrens_social_care",
    "referred_police", "emergency_services"};

const char *report_sev_name(int sev)
{
    return sev >= 0 && sev < REPORT_NSEV ? sev_names[sev] : "unknown";
}

static int push(long long **v, size_t *n, size_t *cap, long long x)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        long long *nv = realloc(*v, ncap * sizeof **v);

        if (!nv)
            return -1;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static struct report_kv *table_get(struct report_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return &t->v[i];
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 8;
        struct report_kv *nv = realloc(t->v, ncap * sizeof *nv);

        if (!nv)
            return NULL;
        t->v = nv;
        t->cap = ncap;
    }
    snprintf(t->v[t->n].key, sizeof t->v[t->n].key, "%s", key);
    t->v[t->n].n = 0;
    return &t->v[t->n++];
}

static void table_count(struct report_table *t, const char *key)
{
    struct report_kv *kv = table_get(t, key);

    if (kv)
        kv->n++;
}

static unsigned long long hash_str(const char *s)
{
    unsigned long long h = 1469598103934665603ULL; /* FNV-1a 64 */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

/* 1 if conv was seen before; marks it seen. */
static int seen_before(struct report *r, const char *conv)
{
    unsigned long long h = hash_str(conv);
    size_t mask, i;

    if (r->nseen * 2 >= r->capseen) {
        size_t ncap = r->capseen ? r->capseen * 2 : 64;
        unsigned long long *nv = calloc(ncap, sizeof *nv);

        if (!nv)
            return 0;
        for (size_t j = 0; j < r->capseen; j++) {
            unsigned long long x = r->seen[j];

            if (!x)
                continue;
            for (i = x & (ncap - 1); nv[i]; i = (i + 1) & (ncap - 1))
                ;
            nv[i] = x;
        }
        free(r->seen);
        r->seen = nv;
        r->capseen = ncap;
    }
    mask = r->capseen - 1;
    for (i = h & mask; r->seen[i]; i = (i + 1) & mask)
        if (r->seen[i] == h)
            return 1;
    r->seen[i] = h;
    r->nseen++;
    return 0;
}

static void bucket_init(struct report_bucket *b)
{
    memset(b, 0, sizeof *b);
    b->answer_rate = -1;
    b->wait_p50_ms = b->wait_p90_ms = b->wait_mean_ms = -1;
    b->handle_mean_ms = b->handle_median_ms = -1;
}

static void bucket_free(struct report_bucket *b)
{
    free(b->waits);
    free(b->handles);
    b->waits = b->handles = NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return (x > y) - (x < y);
}

/* Nearest rank: the value at rank ceil(p/100 * n), 1-based, of sorted v. */
static long long nearest_rank(const long long *v, size_t n, int p)
{
    size_t k;

    if (n == 0)
        return -1;
    k = ((size_t)p * n + 99) / 100;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static void bucket_finish(struct report_bucket *b)
{
    long resolved = b->answered + b->abandoned;

    b->answer_rate = resolved ? (double)b->answered / (double)resolved : -1;
    if (b->nwaits) {
        qsort(b->waits, b->nwaits, sizeof *b->waits, cmp_ll);
        b->wait_p50_ms = nearest_rank(b->waits, b->nwaits, 50);
        b->wait_p90_ms = nearest_rank(b->waits, b->nwaits, 90);
        b->wait_mean_ms = b->wait_sum / (long long)b->nwaits;
    }
    if (b->nhandles) {
        qsort(b->handles, b->nhandles, sizeof *b->handles, cmp_ll);
        b->handle_median_ms = nearest_rank(b->handles, b->nhandles, 50);
        b->handle_mean_ms = b->handle_sum / (long long)b->nhandles;
    }
}

struct report *report_new(long long from_ms, long long to_ms)
{
    struct report *r;
    long ndays;

    if (to_ms <= from_ms)
        return NULL;
    tz_ensure();
    if (!(r = calloc(1, sizeof *r)))
        return NULL;
    r->from_ms = from_ms;
    r->to_ms = to_ms;
    if (local_of(from_ms, r->from_ymd, NULL) < 0 ||
        local_of(to_ms - 1, r->to_ymd, NULL) < 0)
        goto fail;
    ndays = ymd_days(r->to_ymd) - ymd_days(r->from_ymd) + 1;
    if (ndays < 1 || ndays > REPORT_MAX_DAYS)
        goto fail;
    r->ndays = (int)ndays;
    if (!(r->days = calloc((size_t)ndays, sizeof *r->days)))
        goto fail;
    bucket_init(&r->total);
    for (int i = 0; i < r->ndays; i++)
        bucket_init(&r->days[i]);
    for (int h = 0; h < 24; h++)
        bucket_init(&r->hours[h]);
    for (size_t i = 0; i < sizeof outcome_names / sizeof *outcome_names; i++)
        table_get(&r->outcomes, outcome_names[i]);
    for (size_t i = 0; i < sizeof decision_names / sizeof *decision_names; i++)
        table_get(&r->decisions, decision_names[i]);
    return r;
fail:
    free(r->days);
    free(r);
    return NULL;
}

void report_add(struct report *r, const struct report_event *ev)
{
    struct report_bucket *b[3];
    int ymd[3], hour, sev;
    long di;

    if (!r || r->finished || ev->ms < r->from_ms || ev->ms >= r->to_ms ||
        ev->type == REPORT_EV_OTHER)
        return;
    if (local_of(ev->ms, ymd, &hour) < 0 || hour < 0 || hour > 23)
        return;
    di = ymd_days(ymd) - ymd_days(r->from_ymd);
    if (di < 0 || di >= r->ndays)
        return;
    b[0] = &r->total;
    b[1] = &r->days[di];
    b[2] = &r->hours[hour];
    sev = ev->sev >= 0 && ev->sev < REPORT_NSEV ? ev->sev : -1;

    switch (ev->type) {
    case REPORT_EV_OFFERED:
        for (int i = 0; i < 3; i++)
            b[i]->offered++;
        if (sev >= 0)
            r->sev_offered[sev]++;
        break;
    case REPORT_EV_ANSWERED:
        /* A parent requeued by the sweep is answered again: count once. */
        if (ev->conv[0] && seen_before(r, ev->conv))
            break;
        for (int i = 0; i < 3; i++) {
            b[i]->answered++;
            if (ev->wait_ms >= 0 && push(&b[i]->waits, &b[i]->nwaits,
                                         &b[i]->capwaits, ev->wait_ms) == 0)
                b[i]->wait_sum += ev->wait_ms;
        }
        if (sev >= 0)
            r->sev_answered[sev]++;
        break;
    case REPORT_EV_ABANDONED:
        for (int i = 0; i < 3; i++) {
            b[i]->abandoned++;
            if (strcmp(ev->reason, "exit") == 0)
                b[i]->quick_exits++;
        }
        if (sev >= 0)
            r->sev_abandoned[sev]++;
        break;
    case REPORT_EV_ENDED:
        for (int i = 0; i < 3; i++) {
            b[i]->ended++;
            if (strcmp(ev->reason, "exit") == 0)
                b[i]->quick_exits++;
            if (ev->handle_ms >= 0 &&
                push(&b[i]->handles, &b[i]->nhandles, &b[i]->caphandles,
                     ev->handle_ms) == 0)
                b[i]->handle_sum += ev->handle_ms;
        }
        break;
    case REPORT_EV_WRAPPED: {
        const char *p = ev->categories;

        for (int i = 0; i < 3; i++)
            b[i]->wrapped++;
        table_count(&r->outcomes, ev->outcome[0] ? ev->outcome : "(none)");
        /* each category once per conversation */
        while (*p) {
            char cat[REPORT_KEY_LEN], prior[REPORT_CATS_LEN];
            size_t n = strcspn(p, ","), off = (size_t)(p - ev->categories);
            const char *s = p, *e = p + n;

            while (s < e && isspace((unsigned char)*s))
                s++;
            while (e > s && isspace((unsigned char)e[-1]))
                e--;
            snprintf(cat, sizeof cat, "%.*s", (int)(e - s), s);
            snprintf(prior, sizeof prior, ",%.*s,", (int)off, ev->categories);
            if (cat[0]) {
                char needle[REPORT_KEY_LEN + 2];

                snprintf(needle, sizeof needle, ",%s,", cat);
                if (!strstr(prior, needle))
                    table_count(&r->categories, cat);
            }
            p += n;
            if (*p == ',')
                p++;
        }
        break;
    }
    case REPORT_EV_SIGNPOSTED:
        r->signposts++;
        table_count(&r->services, ev->service[0] ? ev->service : "(none)");
        break;
    case REPORT_EV_ESCALATED:
        r->escalations++;
        break;
    case REPORT_EV_DECIDED:
        r->decided++;
        table_count(&r->decisions, ev->decision[0] ? ev->decision : "(none)");
        break;
    case REPORT_EV_OTHER:
        break;
    }
}

static int cmp_kv(const void *a, const void *b)
{
    const struct report_kv *x = a, *y = b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->key, y->key);
}

void report_finish(struct report *r)
{
    if (!r || r->finished)
        return;
    bucket_finish(&r->total);
    for (int i = 0; i < r->ndays; i++)
        bucket_finish(&r->days[i]);
    for (int h = 0; h < 24; h++)
        bucket_finish(&r->hours[h]);
    /* categories and services by count, then name; outcomes and decisions
     * keep their fixed order */
    if (r->categories.n)
        qsort(r->categories.v, r->categories.n, sizeof *r->categories.v,
              cmp_kv);
    if (r->services.n)
        qsort(r->services.v, r->services.n, sizeof *r->services.v, cmp_kv);
    r->finished = 1;
}

void report_free(struct report *r)
{
    if (!r)
        return;
    bucket_free(&r->total);
    for (int i = 0; i < r->ndays; i++)
        bucket_free(&r->days[i]);
    for (int h = 0; h < 24; h++)
        bucket_free(&r->hours[h]);
    free(r->days);
    free(r->categories.v);
    free(r->outcomes.v);
    free(r->services.v);
    free(r->decisions.v);
    free(r->seen);
    free(r);
}

struct report *report_build(const struct report_event *ev, size_t n,
                            long long from_ms, long long to_ms)
{
    struct report *r = report_new(from_ms, to_ms);

    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++)
        report_add(r, &ev[i]);
    report_finish(r);
    return r;
}

/* ---- outputs -------------------------------------------------------- */

/* The figures of a bucket, in output order, for CSV and JSON. */
enum mkind { M_LONG, M_MS, M_RATE };
static const struct {
    const char *name;
    enum mkind kind;
    size_t off;
} bucket_metrics[] = {
    {"offered", M_LONG, offsetof(struct report_bucket, offered)},
    {"answered", M_LONG, offsetof(struct report_bucket, answered)},
    {"abandoned", M_LONG, offsetof(struct report_bucket, abandoned)},
    {"answer_rate", M_RATE, offsetof(struct report_bucket, answer_rate)},
    {"wait_p50_ms", M_MS, offsetof(struct report_bucket, wait_p50_ms)},
    {"wait_p90_ms", M_MS, offsetof(struct report_bucket, wait_p90_ms)},
    {"wait_mean_ms", M_MS, offsetof(struct report_bucket, wait_mean_ms)},
    {"ended", M_LONG, offsetof(struct report_bucket, ended)},
    {"handle_mean_ms", M_MS, offsetof(struct report_bucket, handle_mean_ms)},
    {"handle_median_ms", M_MS,
     offsetof(struct report_bucket, handle_median_ms)},
    {"quick_exits", M_LONG, offsetof(struct report_bucket, quick_exits)},
    {"wrapped", M_LONG, offsetof(struct report_bucket, wrapped)},
};
#define NMETRICS (sizeof bucket_metrics / sizeof *bucket_metrics)

/* The value of metric i as text: "" when not applicable. */
static void metric_text(const struct report_bucket *b, size_t i, char *out,
                        size_t len)
{
    const char *p = (const char *)b + bucket_metrics[i].off;

    switch (bucket_metrics[i].kind) {
    case M_LONG:
        snprintf(out, len, "%ld", *(const long *)(const void *)p);
        break;
    case M_MS: {
        long long v = *(const long long *)(const void *)p;

        if (v < 0)
            out[0] = 0;
        else
            snprintf(out, len, "%lld", v);
        break;
    }
    case M_RATE: {
        double v = *(const double *)(const void *)p;

        if (v < 0)
            out[0] = 0;
        else
            snprintf(out, len, "%.4f", v);
        break;
    }
    }
}

static json_t *metric_json(const struct report_bucket *b, size_t i)
{
    const char *p = (const char *)b + bucket_metrics[i].off;

    switch (bucket_metrics[i].kind) {
    case M_LONG:
        return json_integer(*(const long *)(const void *)p);
    case M_MS: {
        long long v = *(const long long *)(const void *)p;

        return v < 0 ? json_null() : json_integer(v);
    }
    case M_RATE: {
        double v = *(const double *)(const void *)p;

        return v < 0 ? json_null() : json_real(v);
    }
    }
    return json_null();
}

static void fmt_date(const int ymd[3], char *out, size_t len)
{
    snprintf(out, len, "%04d-%02d-%02d", ymd[0], ymd[1], ymd[2]);
}

static void day_date(const struct report *r, int i, char *out, size_t len)
{
    int ymd[3];

    civil_from_days(ymd_days(r->from_ymd) + i, ymd);
    fmt_date(ymd, out, len);
}

static const char *zone_name(void)
{
    const char *tz = getenv("TZ");

    return tz && *tz ? (*tz == ':' ? tz + 1 : tz) : REPORT_TZ;
}

/* Duration for people: "m:ss" or "h:mm:ss"; "-" when not applicable. */
static void fmt_dur(long long ms, char *out, size_t len)
{
    long long s;

    if (ms < 0) {
        snprintf(out, len, "-");
        return;
    }
    s = (ms + 500) / 1000;
    if (s >= 3600)
        snprintf(out, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, len, "%lld:%02lld", s / 60, s % 60);
}

static void fmt_rate(double v, char *out, size_t len)
{
    if (v < 0)
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%.1f%%", v * 100.0);
}

static void text_row(FILE *f, const char *label, const struct report_bucket *b)
{
    char rate[16], p50[24], p90[24], hmean[24], hmed[24];

    fmt_rate(b->answer_rate, rate, sizeof rate);
    fmt_dur(b->wait_p50_ms, p50, sizeof p50);
    fmt_dur(b->wait_p90_ms, p90, sizeof p90);
    fmt_dur(b->handle_mean_ms, hmean, sizeof hmean);
    fmt_dur(b->handle_median_ms, hmed, sizeof hmed);
    fprintf(f, "  %-10s %7ld %8ld %9ld %7s %8s %8s %9s %9s %5ld\n", label,
            b->offered, b->answered, b->abandoned, rate, p50, p90, hmean, hmed,
            b->quick_exits);
}

static void text_head(FILE *f, const char *first)
{
    fprintf(f, "  %-10s %7s %8s %9s %7s %8s %8s %9s %9s %5s\n", first,
            "offered", "answered", "abandoned", "rate", "wait p50", "wait p90",
            "handle", "handle", "quick");
    fprintf(f, "  %-10s %7s %8s %9s %7s %8s %8s %9s %9s %5s\n", "", "", "", "",
            "", "", "", "mean", "median", "exits");
}

static void text_table(FILE *f, const char *title, const char *col,
                       const struct report_table *t, int skip_zero)
{
    int any = 0;

    fprintf(f, "\n%s\n", title);
    for (size_t i = 0; i < t->n; i++) {
        if (skip_zero && !t->v[i].n)
            continue;
        if (!any)
            fprintf(f, "  %-32s %7s\n", col, "count");
        fprintf(f, "  %-32s %7ld\n", t->v[i].key, t->v[i].n);
        any = 1;
    }
    if (!any)
        fprintf(f, "  (none)\n");
}

char *report_text(const struct report *r)
{
    char *buf = NULL, from[16], to[16], s1[24], s2[24];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const struct report_bucket *t = &r->total;

    if (!f)
        return NULL;
    fmt_date(r->from_ymd, from, sizeof from);
    fmt_date(r->to_ymd, to, sizeof to);
    fprintf(f, "chatd report %s to %s (%s local time)\n", from, to,
            zone_name());
    fprintf(f, "\nSummary\n");
    fprintf(f, "  %-34s %10ld\n", "chats offered", t->offered);
    fprintf(f, "  %-34s %10ld\n", "answered", t->answered);
    fprintf(f, "  %-34s %10ld\n", "abandoned while waiting", t->abandoned);
    fmt_rate(t->answer_rate, s1, sizeof s1);
    fprintf(f, "  %-34s %10s\n", "answer rate", s1);
    fmt_dur(t->wait_p50_ms, s1, sizeof s1);
    fmt_dur(t->wait_p90_ms, s2, sizeof s2);
    fprintf(f, "  %-34s %10s / %s\n", "wait p50 / p90 (answered)", s1, s2);
    fmt_dur(t->wait_mean_ms, s1, sizeof s1);
    fprintf(f, "  %-34s %10s\n", "wait mean (answered)", s1);
    fmt_dur(t->handle_mean_ms, s1, sizeof s1);
    fmt_dur(t->handle_median_ms, s2, sizeof s2);
    fprintf(f, "  %-34s %10s / %s\n", "handling time mean / median", s1, s2);
    fprintf(f, "  %-34s %10ld\n", "chats ended", t->ended);
    fprintf(f, "  %-34s %10ld\n", "quick exits", t->quick_exits);
    fprintf(f, "  %-34s %10ld\n", "wrapped up", t->wrapped);
    fprintf(f, "  %-34s %10ld\n", "signposts", r->signposts);
    fprintf(f, "  %-34s %10ld\n", "escalations", r->escalations);
    fprintf(f, "  %-34s %10ld\n", "decisions", r->decided);

    fprintf(f, "\nBy severity\n  %-10s %7s %8s %9s\n", "severity", "offered",
            "answered", "abandoned");
    for (int s = 0; s < REPORT_NSEV; s++)
        fprintf(f, "  %-10s %7ld %8ld %9ld\n", sev_names[s], r->sev_offered[s],
                r->sev_answered[s], r->sev_abandoned[s]);
    text_table(f, "By category (wrap-ups)", "category", &r->categories, 0);
    text_table(f, "By outcome (wrap-ups)", "outcome", &r->outcomes, 0);
    text_table(f, "Signposts by service", "service", &r->services, 0);
    text_table(f, "Escalations by decision", "decision", &r->decisions, 0);

    fprintf(f, "\nPer day\n");
    text_head(f, "date");
    for (int i = 0; i < r->ndays; i++) {
        day_date(r, i, s1, sizeof s1);
        text_row(f, s1, &r->days[i]);
    }
    fprintf(f, "\nPer hour of day (local)\n");
    text_head(f, "hour");
    for (int h = 0; h < 24; h++) {
        snprintf(s1, sizeof s1, "%02d-%02d", h, (h + 1) % 24);
        text_row(f, s1, &r->hours[h]);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A CSV field, quoted when it needs to be (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const char *table, const char *key,
                    const char *metric, const char *value)
{
    csv_field(f, table);
    fputc(',', f);
    csv_field(f, key);
    fputc(',', f);
    csv_field(f, metric);
    fputc(',', f);
    csv_field(f, value);
    fputs("\r\n", f);
}

static void csv_bucket(FILE *f, const char *table, const char *key,
                       const struct report_bucket *b)
{
    char v[32];

    for (size_t i = 0; i < NMETRICS; i++) {
        metric_text(b, i, v, sizeof v);
        csv_row(f, table, key, bucket_metrics[i].name, v);
    }
}

static void csv_table(FILE *f, const char *table, const char *metric,
                      const struct report_table *t)
{
    char v[32];

    for (size_t i = 0; i < t->n; i++) {
        snprintf(v, sizeof v, "%ld", t->v[i].n);
        csv_row(f, table, t->v[i].key, metric, v);
    }
}

char *report_csv(const struct report *r)
{
    char *buf = NULL, key[32], v[32];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    csv_row(f, "table", "key", "metric", "value");
    csv_bucket(f, "summary", "all", &r->total);
    snprintf(v, sizeof v, "%ld", r->signposts);
    csv_row(f, "summary", "all", "signposts", v);
    snprintf(v, sizeof v, "%ld", r->escalations);
    csv_row(f, "summary", "all", "escalations", v);
    snprintf(v, sizeof v, "%ld", r->decided);
    csv_row(f, "summary", "all", "decisions", v);
    for (int s = 0; s < REPORT_NSEV; s++) {
        snprintf(v, sizeof v, "%ld", r->sev_offered[s]);
        csv_row(f, "severity", sev_names[s], "offered", v);
        snprintf(v, sizeof v, "%ld", r->sev_answered[s]);
        csv_row(f, "severity", sev_names[s], "answered", v);
        snprintf(v, sizeof v, "%ld", r->sev_abandoned[s]);
        csv_row(f, "severity", sev_names[s], "abandoned", v);
    }
    csv_table(f, "category", "conversations", &r->categories);
    csv_table(f, "outcome", "conversations", &r->outcomes);
    csv_table(f, "service", "signposts", &r->services);
    csv_table(f, "decision", "cases", &r->decisions);
    for (int i = 0; i < r->ndays; i++) {
        day_date(r, i, key, sizeof key);
        csv_bucket(f, "day", key, &r->days[i]);
    }
    for (int h = 0; h < 24; h++) {
        snprintf(key, sizeof key, "%02d", h);
        csv_bucket(f, "hour", key, &r->hours[h]);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static json_t *bucket_json(const struct report_bucket *b)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < NMETRICS; i++)
        json_object_set_new(o, bucket_metrics[i].name, metric_json(b, i));
    return o;
}

static json_t *table_json(const struct report_table *t)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < t->n; i++)
        json_object_set_new(o, t->v[i].key, json_integer(t->v[i].n));
    return o;
}

json_t *report_json(const struct report *r)
{
    json_t *o = json_object(), *sum, *sev, *days, *hours;
    char s[32];

    if (!o)
        return NULL;
    fmt_date(r->from_ymd, s, sizeof s);
    json_object_set_new(o, "from", json_string(s));
    fmt_date(r->to_ymd, s, sizeof s);
    json_object_set_new(o, "to", json_string(s));
    json_object_set_new(o, "from_ms", json_integer(r->from_ms));
    json_object_set_new(o, "to_ms", json_integer(r->to_ms));
    json_object_set_new(o, "time_zone", json_string(zone_name()));
    json_object_set_new(o, "percentiles", json_string("nearest-rank"));
    sum = bucket_json(&r->total);
    json_object_set_new(sum, "signposts", json_integer(r->signposts));
    json_object_set_new(sum, "escalations", json_integer(r->escalations));
    json_object_set_new(sum, "decisions", json_integer(r->decided));
    json_object_set_new(o, "summary", sum);
    sev = json_object();
    for (int i = 0; i < REPORT_NSEV; i++)
        json_object_set_new(
            sev, sev_names[i],
            json_pack("{s:i,s:i,s:i}", "offered", (json_int_t)r->sev_offered[i],
                      "answered", (json_int_t)r->sev_answered[i], "abandoned",
                      (json_int_t)r->sev_abandoned[i]));
    json_object_set_new(o, "by_severity", sev);
    json_object_set_new(o, "by_category", table_json(&r->categories));
    json_object_set_new(o, "by_outcome", table_json(&r->outcomes));
    json_object_set_new(o, "signposts_by_service", table_json(&r->services));
    json_object_set_new(o, "escalations_by_decision",
                        table_json(&r->decisions));
    days = json_array();
    for (int i = 0; i < r->ndays; i++) {
        json_t *d = bucket_json(&r->days[i]);

        day_date(r, i, s, sizeof s);
        json_object_set_new(d, "date", json_string(s));
        json_array_append_new(days, d);
    }
    json_object_set_new(o, "per_day", days);
    hours = json_array();
    for (int h = 0; h < 24; h++) {
        json_t *d = bucket_json(&r->hours[h]);

        json_object_set_new(d, "hour", json_integer(h));
        json_array_append_new(hours, d);
    }
    json_object_set_new(o, "per_hour", hours);
    return o;
}

/* ---- reading the stream -------------------------------------------- */

static enum report_type type_of(const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum report_type type;
    } types[] = {
        {"offered", REPORT_EV_OFFERED},
        {"answered", REPORT_EV_ANSWERED},
        {"abandoned", REPORT_EV_ABANDONED},
        {"ended", REPORT_EV_ENDED},
        {"wrapped", REPORT_EV_WRAPPED},
        {"signposted", REPORT_EV_SIGNPOSTED},
        {"escalated", REPORT_EV_ESCALATED},
        {"decided", REPORT_EV_DECIDED},
    };

    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strlen(types[i].name) == n && memcmp(types[i].name, s, n) == 0)
            return types[i].type;
    return REPORT_EV_OTHER;
}

/* A non-negative integer field, or -1. */
static long long num_of(const char *s, size_t n)
{
    char tmp[32];
    char *end;
    long long v;

    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    errno = 0;
    v = strtoll(tmp, &end, 10);
    if (errno || *end || v < 0)
        return -1;
    return v;
}

static void copy_field(char *dst, size_t dstlen, const char *s, size_t n)
{
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

int report_parse_entry(const redisReply *entry, struct report_event *ev)
{
    const redisReply *id, *kv;
    char *end;

    memset(ev, 0, sizeof *ev);
    ev->type = REPORT_EV_OTHER;
    ev->sev = -1;
    ev->wait_ms = ev->handle_ms = -1;
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
        return -1;
    id = entry->element[0];
    kv = entry->element[1];
    if (!id || id->type != REDIS_REPLY_STRING || !kv ||
        kv->type != REDIS_REPLY_ARRAY)
        return -1;
    errno = 0;
    ev->ms = strtoll(id->str, &end, 10);
    if (errno || end == id->str || *end != '-')
        return -1;
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *k = kv->element[i], *v = kv->element[i + 1];
        const char *vs;
        size_t vn;

        if (!k || !v || k->type != REDIS_REPLY_STRING ||
            v->type != REDIS_REPLY_STRING)
            continue;
        vs = v->str;
        vn = v->len;
#define IS(name)                                                               \
    (k->len == sizeof name - 1 && memcmp(k->str, name, k->len) == 0)
        if (IS("t"))
            ev->type = type_of(vs, vn);
        else if (IS("conv"))
            copy_field(ev->conv, sizeof ev->conv, vs, vn);
        else if (IS("sev")) {
            long long s = num_of(vs, vn);

            ev->sev = s >= 0 && s < REPORT_NSEV ? (int)s : -1;
        } else if (IS("wait_ms"))
            ev->wait_ms = num_of(vs, vn);
        else if (IS("handle_ms"))
            ev->handle_ms = num_of(vs, vn);
        else if (IS("outcome"))
            copy_field(ev->outcome, sizeof ev->outcome, vs, vn);
        else if (IS("categories"))
            copy_field(ev->categories, sizeof ev->categories, vs, vn);
        else if (IS("service"))
            copy_field(ev->service, sizeof ev->service, vs, vn);
        else if (IS("decision"))
            copy_field(ev->decision, sizeof ev->decision, vs, vn);
        else if (IS("by"))
            copy_field(ev->by, sizeof ev->by, vs, vn);
        else if (IS("reason"))
            copy_field(ev->reason, sizeof ev->reason, vs, vn);
#undef IS
    }
    return 0;
}

int report_add_xrange(struct report *r, const redisReply *reply, char *last_id,
                      size_t last_id_len)
{
    struct report_event ev;

    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];

        if (report_parse_entry(e, &ev) == 0)
            report_add(r, &ev);
        if (last_id && e && e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
            e->element[0] && e->element[0]->type == REDIS_REPLY_STRING)
            snprintf(last_id, last_id_len, "%s", e->element[0]->str);
    }
    return (int)reply->elements;
}

/* ---- reading the stream in the daemon -------------------------------- */

struct fetch {
    struct report *r;
    report_done_cb done;
    void *priv;
    char start[72], end[32];
};

static int fetch_next(struct fetch *f);

static void fetch_end(struct fetch *f, int ok)
{
    struct report *r = f->r;

    if (ok) {
        report_finish(r);
    } else {
        report_free(r);
        r = NULL;
    }
    f->done(r, f->priv);
    free(f);
}

static void fetch_cb(redisReply *reply, void *priv)
{
    struct fetch *f = priv;
    char last[64] = "";
    int n;

    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        fetch_end(f, 0);
        return;
    }
    n = report_add_xrange(f->r, reply, last, sizeof last);
    if (n < REPORT_XRANGE_BATCH || !last[0]) {
        fetch_end(f, 1);
        return;
    }
    snprintf(f->start, sizeof f->start, "(%s", last); /* exclusive */
    if (fetch_next(f) < 0)
        fetch_end(f, 0);
}

static int fetch_next(struct fetch *f)
{
    return rds_cmdf(fetch_cb, f, "XRANGE events %s %s COUNT %d", f->start,
                    f->end, REPORT_XRANGE_BATCH);
}

int report_fetch(long long from_ms, long long to_ms, report_done_cb done,
                 void *priv)
{
    struct fetch *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    if (!(f->r = report_new(from_ms, to_ms))) {
        free(f);
        return -1;
    }
    f->done = done;
    f->priv = priv;
    snprintf(f->start, sizeof f->start, "%lld", from_ms);
    snprintf(f->end, sizeof f->end, "%lld", to_ms - 1);
    if (fetch_next(f) < 0) {
        report_free(f->r);
        free(f);
        return -1;
    }
    return 0;
}

/* ---- dates and the command line ------------------------------------ */

static int parse_date(const char *opt, const char *s, long long now, int ymd[3],
                      char *err, size_t errlen)
{
    int n = 0;

    if (!s || strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
        if (local_of(now * 1000, ymd, NULL) < 0) {
            snprintf(err, errlen, "cannot tell today's date");
            return -1;
        }
        if (s && strcmp(s, "yesterday") == 0)
            civil_from_days(ymd_days(ymd) - 1, ymd);
        return 0;
    }
    if (strlen(s) == 10 && isdigit((unsigned char)s[0]) && s[4] == '-' &&
        s[7] == '-' &&
        sscanf(s, "%4d-%2d-%2d%n", &ymd[0], &ymd[1], &ymd[2], &n) == 3 &&
        n == 10 && ymd[0] >= 1970 && ymd[0] <= 9999 && ymd[1] >= 1 &&
        ymd[1] <= 12 && ymd[2] >= 1) {
        int back[3];

        /* the day exists when it survives a round trip */
        civil_from_days(ymd_days(ymd), back);
        if (back[0] == ymd[0] && back[1] == ymd[1] && back[2] == ymd[2])
            return 0;
    }
    snprintf(err, errlen,
             "%s '%s' is not a date YYYY-MM-DD (or today, yesterday)", opt, s);
    return -1;
}

int report_range(const char *from, const char *to, long long now,
                 long long *from_ms, long long *to_ms, char *err, size_t errlen)
{
    int a[3], b[3], next[3];
    long span;

    tz_ensure();
    if (parse_date("--from", from, now, a, err, errlen) < 0 ||
        parse_date("--to", to, now, b, err, errlen) < 0)
        return -1;
    span = ymd_days(b) - ymd_days(a) + 1;
    if (span < 1) {
        snprintf(err, errlen,
                 "--from %04d-%02d-%02d is after --to "
                 "%04d-%02d-%02d",
                 a[0], a[1], a[2], b[0], b[1], b[2]);
        return -1;
    }
    if (span > REPORT_MAX_DAYS) {
        snprintf(err, errlen, "the range is %ld days; at most %d", span,
                 REPORT_MAX_DAYS);
        return -1;
    }
    civil_from_days(ymd_days(b) + 1, next);
    *from_ms = local_midnight_ms(a);
    *to_ms = local_midnight_ms(next);
    if (*from_ms < 0 || *to_ms <= *from_ms) {
        snprintf(err, errlen, "the dates are out of range");
        return -1;
    }
    return 0;
}

static int report_usage(FILE *f)
{
    fprintf(f, "usage: chatd report [--from YYYY-MM-DD] [--to YYYY-MM-DD] "
               "[--csv|--json]\n"
               "  Dates are local (Europe/London), both inclusive; each "
               "defaults to today.\n"
               "  Also accepted: today, yesterday.  See docs/reports.md.\n");
    return 2;
}

int report_cli(int argc, char **argv, const struct config *cfg)
{
    const char *from = NULL, *to = NULL;
    enum { TEXT, CSV, JSON } fmt = TEXT;
    char err[160], start[64], end[64], last[64];
    long long from_ms, to_ms;
    struct report *r;
    redisContext *c;
    int spawned, status = 0;
    char *out = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            report_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = argv[++i];
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            i++; /* read by main */
        } else if (strcmp(argv[i], "--csv") == 0 && fmt == TEXT) {
            fmt = CSV;
        } else if (strcmp(argv[i], "--json") == 0 && fmt == TEXT) {
            fmt = JSON;
        } else {
            fprintf(stderr, "chatd report: unexpected argument '%s'\n",
                    argv[i]);
            return report_usage(stderr);
        }
    }
    /* The helpline's figures are in its local time. */
    setenv("TZ", REPORT_TZ, 1);
    tzset();
    if (report_range(from, to, (long long)time(NULL), &from_ms, &to_ms, err,
                     sizeof err) < 0) {
        fprintf(stderr, "chatd report: %s\n", err);
        return 2;
    }
    if (!(r = report_new(from_ms, to_ms))) {
        fprintf(stderr, "chatd report: out of memory\n");
        return 1;
    }
    if (!(c = rds_sync_open(cfg, &spawned))) {
        report_free(r);
        return 1;
    }
    snprintf(start, sizeof start, "%lld", from_ms);
    snprintf(end, sizeof end, "%lld", to_ms - 1); /* inclusive: ms-* */
    for (;;) {
        redisReply *reply = redisCommand(c, "XRANGE events %s %s COUNT %d",
                                         start, end, REPORT_XRANGE_BATCH);
        int n;

        if (!reply || reply->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "chatd report: XRANGE events: %s\n",
                    reply ? reply->str : c->errstr);
            if (reply)
                freeReplyObject(reply);
            status = 1;
            break;
        }
        last[0] = 0;
        n = report_add_xrange(r, reply, last, sizeof last);
        freeReplyObject(reply);
        if (n < REPORT_XRANGE_BATCH || !last[0])
            break;
        snprintf(start, sizeof start, "(%s", last); /* exclusive */
    }
    rds_sync_close(c, cfg, spawned);
    if (status == 0) {
        report_finish(r);
        if (fmt == JSON) {
            json_t *j = report_json(r);

            out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
            json_decref(j);
        } else {
            out = fmt == CSV ? report_csv(r) : report_text(r);
        }
        if (!out) {
            fprintf(stderr, "chatd report: out of memory\n");
            status = 1;
        } else {
            fputs(out, stdout);
            if (fmt == JSON)
                fputc('\n', stdout);
            if (fflush(stdout) != 0)
                status = 1;
        }
        free(out);
    }
    report_free(r);
    return status;
}
