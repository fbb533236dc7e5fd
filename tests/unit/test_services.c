/*
 * test_services.c - the service directory: bad records refused whole with
 * their JSON path and reason; the category list matches the taxonomy (the
 * triage rule files, and ../shared/TAXONOMY.md when present); the shipped
 * config/services.json loads and covers every category, with the sample
 * local directory beside it; search order (local before national, open
 * before unknown before closed), area and q matching; suggest dedupe and
 * order; the card and full JSON shapes.  Run from the repository root
 * (tests/run.sh does).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "services.h"
#include "unit.h"

#define NATIONAL "config/services.json"
#define LOCAL    "config/services-local.sample.json"
#define RULES    "moderation/rules"
#define TAXONOMY "../shared/TAXONOMY.md"
#define HITS_MAX 64

static char tmpdir[] = "/tmp/chatd-test-services-XXXXXX";
static char err[1024];

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

/* Write text to tmpdir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[sizeof tmpdir + 64];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* A valid record with one field replaced (or removed when value is NULL,
 * or added when the record lacks it).  value is JSON text. */
static char *record(const char *id, const char *field, const char *value)
{
    static const char *const base =
        "{\"id\": \"x\", \"name\": \"Helpline\", \"organisation\": \"Org\","
        " \"description\": \"Help for parents\", \"categories\": "
        "[\"bullying\"],"
        " \"service_area\": \"national\", \"phone\": \"0808 800 0000\","
        " \"url\": \"https://example.org\", \"hours\": \"24/7\","
        " \"languages\": [\"en\"], \"cost\": \"free\", \"source\": {\"url\":"
        " \"https://example.org/contact\", \"date\": \"2026-11-23\","
        " \"verified\": false}}";
    json_error_t je;
    json_t *r = json_loads(base, 0, &je);
    char *out;

    json_object_set_new(r, "id", json_string(id));
    if (field && value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
        if (!v) {
            fprintf(stderr, "bad test JSON %s: %s\n", value, je.text);
            exit(2);
        }
        json_object_set_new(r, field, v);
    } else if (field) {
        json_object_del(r, field);
    }
    out = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return out;
}

/* A file of a good record "a" then the record "b" with field = value. */
static const char *file_with(const char *field, const char *value)
{
    char *a = record("a", NULL, NULL), *b = record("b", field, value);
    char text[8192];

    snprintf(text, sizeof text, "{\"services\": [%s, %s]}", a, b);
    free(a);
    free(b);
    return write_file("bad.json", text);
}

static void refused(const char *file, int line, const char *path,
                    const char *want_suffix)
{
    struct services *s;
    char want[1024];

    err[0] = '\0';
    s = services_load(path, err, sizeof err);
    snprintf(want, sizeof want, "%s: %s", path, want_suffix);
    CHECK_AT(file, line, s == NULL, "accepted, want \"%s\"", want);
    CHECK_AT(file, line, strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err,
             want);
    services_free(s);
}
#define REFUSED(field, value, want)                                            \
    refused(__FILE__, __LINE__, file_with(field, value), want)

static const char *hit_id(const struct service_hit *h, size_t n, size_t i)
{
    return i < n ? h[i].service->id : "(none)";
}

/* ---- the category list ------------------------------------------------ */

TEST(categories_match_rule_files)
{
    DIR *d = opendir(RULES);
    struct dirent *e;
    int files = 0, known = 0;

    CHECK(d != NULL, "cannot open %s", RULES);
    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char id[64];
        if (n < 7 || e->d_name[0] == '_' || e->d_name[0] == '.' ||
            strcmp(e->d_name + n - 6, ".rules") != 0 || n - 6 >= sizeof id)
            continue;
        memcpy(id, e->d_name, n - 6);
        id[n - 6] = '\0';
        files++;
        CHECK(services_category_known(id), "rules file %s: not a category", id);
    }
    closedir(d);
    for (int i = 0; services_categories[i]; i++)
        known++;
    CHECK_INT(known, files);
    CHECK_INT(known, 21);
}

TEST(categories_match_taxonomy_md)
{
    FILE *fp = fopen(TAXONOMY, "r");
    char line[1024];
    int in_table = 0, n = 0;

    if (!fp) {
        printf("(%s not found; checked against the rule files only)\n",
               TAXONOMY);
        return;
    }
    while (fgets(line, sizeof line, fp)) {
        char id[64];
        if (strncmp(line, "## ", 3) == 0)
            in_table = strncmp(line, "## Categories", 13) == 0;
        if (!in_table || sscanf(line, "| %63[a-z_] |", id) != 1 ||
            strcmp(id, "id") == 0)
            continue;
        CHECK(services_categories[n] && strcmp(services_categories[n], id) == 0,
              "TAXONOMY.md row %d is %s, services_categories has %s", n, id,
              services_categories[n] ? services_categories[n] : "(end)");
        if (services_categories[n])
            n++;
    }
    fclose(fp);
    CHECK(services_categories[n] == NULL, "%s not in TAXONOMY.md",
          services_categories[n] ? services_categories[n] : "");
    CHECK(!services_category_known("suicidal"), "unknown id known");
    CHECK(!services_category_known(NULL), "NULL known");
}

/* ---- the shipped directory -------------------------------------------- */

TEST(shipped_directory_covers_every_category)
{
    struct services *s = services_load(NATIONAL, err, sizeof err);
    struct service_hit hits[HITS_MAX];

    CHECK(s != NULL, "%s", err);
    if (!s)
        return;
    CHECK(services_count(s) >= 40, "only %zu services", services_count(s));
    for (int i = 0; services_categories[i]; i++) {
        const char *c = services_categories[i];
        size_t n =
            services_search(s, c, NULL, NULL, time(NULL), hits, HITS_MAX);
        CHECK(n >= 1, "no national service for %s", c);
        n = services_suggest(s, &c, 1, "PR1", time(NULL), hits, HITS_MAX);
        CHECK(n >= 1, "no suggestion for %s", c);
    }
    for (size_t i = 0; i < services_count(s); i++) {
        const struct service *svc = services_get(s, i);
        json_t *src = json_object_get(svc->record, "source");
        CHECK(svc->national, "%s: the national file has a local service",
              svc->id);
        CHECK(!svc->sample, "%s: marked sample", svc->id);
        /* Nothing was checked live: the file must not claim otherwise. */
        CHECK(json_is_false(json_object_get(src, "verified")),
              "%s: claims verified", svc->id);
        CHECK(json_string_value(json_object_get(src, "note")) != NULL,
              "%s: no source.note", svc->id);
    }
    CHECK(services_get(s, services_count(s)) == NULL, "past the end");
    services_free(s);
}

TEST(shipped_numbers_from_research)
{
    static const struct {
        const char *id, *phone, *text;
    } want[] = {
        {"samaritans", "116 123", NULL},
        {"nspcc-helpline", "0808 800 5000", NULL},
        {"childline", "0800 1111", NULL},
        {"shout", NULL, "85258"},
        {"emergency-999", "999", NULL},
        {"nhs-111", "111", NULL},
    };
    struct services *s = services_load(NATIONAL, err, sizeof err);

    CHECK(s != NULL, "%s", err);
    if (!s)
        return;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct service *svc = services_find(s, want[i].id);
        CHECK(svc != NULL, "%s missing", want[i].id);
        if (!svc)
            continue;
        CHECK_STR(svc->phone, want[i].phone);
        CHECK_STR(svc->text_number, want[i].text);
    }
    /* 24/7 lines are open at 3am on Christmas Day. */
    CHECK_INT(service_open_now(services_find(s, "samaritans"),
                               utc(2026, 12, 25, 3, 0)),
              SERVICE_OPEN);
    CHECK(services_find(s, "no-such-service") == NULL, "found a ghost");
    services_free(s);
}

TEST(shipped_sample_local_directory)
{
    const char *paths[] = {NATIONAL, LOCAL};
    struct services *s = services_load_files(paths, 2, err, sizeof err);
    struct services *national = services_load(NATIONAL, err, sizeof err);
    struct service_hit hits[HITS_MAX];
    size_t n;

    CHECK(s != NULL && national != NULL, "%s", err);
    if (!s || !national)
        goto done;
    CHECK(services_count(s) > services_count(national), "no local records");
    for (size_t i = services_count(national); i < services_count(s); i++) {
        const struct service *svc = services_get(s, i);
        CHECK(svc->sample, "%s: local sample not marked sample", svc->id);
        CHECK(!svc->national, "%s: sample is national", svc->id);
    }
    /* A Preston parent at 12:00 on a Tuesday sees the local team first. */
    n = services_search(s, "child_abuse", "PR1 3AB", NULL,
                        utc(2026, 11, 24, 12, 0), hits, HITS_MAX);
    CHECK(n >= 2 && hits[0].local && hits[0].service->sample, "first is %s",
          hit_id(hits, n, 0));
    CHECK_STR(hit_id(hits, n, 0), "sample-lancashire-childrens-social-care");
    /* At 23:00 the out-of-hours team is open and comes first. */
    n = services_search(s, "child_abuse", "PR2", NULL, utc(2026, 11, 24, 23, 0),
                        hits, HITS_MAX);
    CHECK_STR(hit_id(hits, n, 0), "sample-lancashire-emergency-duty-team");
    CHECK(n >= 2 && hits[1].local && hits[1].open_now == SERVICE_CLOSED,
          "second is %s", hit_id(hits, n, 1));
    /* Elsewhere, no Preston services. */
    n = services_search(s, "child_abuse", "M1", NULL, time(NULL), hits,
                        HITS_MAX);
    for (size_t i = 0; i < n; i++)
        CHECK(!hits[i].service->sample, "%s shown in M1", hit_id(hits, n, i));
    /* The same ids in two files are refused. */
    {
        const char *twice[] = {NATIONAL, NATIONAL};
        struct services *t = services_load_files(twice, 2, err, sizeof err);
        CHECK(t == NULL, "a file loaded twice was accepted");
        CHECK(strstr(err, "services[0].id: 'emergency-999' is used twice"),
              "err: %s", err);
        services_free(t);
    }
done:
    services_free(s);
    services_free(national);
}

/* ---- refusing bad records --------------------------------------------- */

TEST(bad_records_refused_with_path)
{
    REFUSED("phone", "\"0808-800-5000\"",
            "services[1].phone: must be a string of digits and spaces");
    REFUSED("phone", "8008005000",
            "services[1].phone: must be a string of digits and spaces");
    REFUSED("phone", "\"12\"",
            "services[1].phone: must be a string of digits and spaces");
    REFUSED("categories", "[\"bullying\", \"suicidal\"]",
            "services[1].categories[1]: 'suicidal' is not a taxonomy "
            "category (TAXONOMY.md)");
    REFUSED("categories", "[]",
            "services[1].categories: must be a non-empty array of strings");
    REFUSED("categories", "[\"school\", \"school\"]",
            "services[1].categories[1]: 'school' is listed twice");
    REFUSED("id", "\"Bad_Id\"",
            "services[1].id: 'Bad_Id': must be lower-case letters, digits "
            "and '-'");
    REFUSED("id", "\"a\"", "services[1].id: 'a' is used twice");
    REFUSED("name", NULL, "services[1].name: missing");
    REFUSED("name", "\"\"", "services[1].name: must not be empty");
    REFUSED("description", "42", "services[1].description: must be a string");
    REFUSED("phnoe", "\"0800 1111\"", "services[1]: unknown field 'phnoe'");
    REFUSED("service_area", "[\"pr1\"]",
            "services[1].service_area[0]: 'pr1' is not a postcode area or "
            "district in capitals (PR, PR1) or a local authority name "
            "(Lancashire)");
    REFUSED("service_area", "\"everywhere\"",
            "services[1].service_area: must be \"national\" or a non-empty "
            "array of postcode areas, districts or local authority names");
    REFUSED("url", "\"http://example.org\"",
            "services[1].url: must be an https:// URL");
    REFUSED("email", "\"help at example.org\"",
            "services[1].email: must be an address name@example.org");
    REFUSED("text", "{\"number\": \"SHOUT\"}",
            "services[1].text.number: must be a string of digits and spaces");
    REFUSED("text", "{\"number\": \"85258\", \"word\": \"x\"}",
            "services[1].text: unknown field 'word'");
    REFUSED("hours", "{\"fri\": [[\"09:00\", \"25:00\"]]}",
            "services[1].hours.fri[0][1]: '25:00' is not a time HH:MM");
    REFUSED("hours", "{\"friday\": []}",
            "services[1].hours.friday: unknown day (mon, tue, wed, thu, fri, "
            "sat, sun)");
    REFUSED("hours", "\"9 to 5\"",
            "services[1].hours: must be \"24/7\" or an object of days, "
            "{\"mon\": [[\"09:00\", \"17:00\"]]}");
    REFUSED("languages", "[\"English\"]",
            "services[1].languages[0]: 'English' is not a language code (en, "
            "cy)");
    REFUSED("eligibility", "{\"min_age\": 18, \"max_age\": 11}",
            "services[1].eligibility: min_age is above max_age");
    REFUSED("eligibility", "{\"min_age\": -1}",
            "services[1].eligibility.min_age: must be a whole number of years "
            "from 0 to 120");
    REFUSED("eligibility", "{\"age\": 5}",
            "services[1].eligibility.age: unknown field (min_age, max_age, "
            "who)");
    REFUSED("cost", NULL, "services[1].cost: missing");
    REFUSED("source", NULL,
            "services[1].source: missing: say where the contact details are "
            "published (url) and when they were written (date)");
    REFUSED("source",
            "{\"url\": \"https://example.org\", \"date\": "
            "\"2026-02-30\", \"verified\": false}",
            "services[1].source.date: must be a date YYYY-MM-DD");
    REFUSED("source",
            "{\"url\": \"https://example.org\", \"date\": "
            "\"2026-11-23\"}",
            "services[1].source.verified: must be true (checked against the "
            "published page on that date) or false");
    REFUSED("source",
            "{\"url\": \"example.org\", \"date\": \"2026-11-23\", "
            "\"verified\": false}",
            "services[1].source.url: must be an https:// URL of the page "
            "publishing the contact details");
    REFUSED("sample", "\"yes\"", "services[1].sample: must be true or false");
}

TEST(no_contact_refused)
{
    char *r = record("a", "phone", NULL), text[4096];
    json_error_t je;
    json_t *j = json_loads(r, 0, &je);
    char *s;

    json_object_del(j, "url");
    s = json_dumps(j, JSON_COMPACT);
    snprintf(text, sizeof text, "{\"services\": [%s]}", s);
    refused(__FILE__, __LINE__, write_file("nocontact.json", text),
            "services[0]: needs at least one of phone, text, url, email");
    free(s);
    free(r);
    json_decref(j);
}

TEST(bad_files_refused)
{
    const char *p;
    struct services *s;

    p = write_file("syntax.json", "{\"services\": [\n  {\"id\": }\n]}");
    s = services_load(p, err, sizeof err);
    CHECK(s == NULL, "syntax error accepted");
    CHECK(strncmp(err, p, strlen(p)) == 0 && strstr(err, ":2:"), "err: %s",
          err);
    services_free(s);

    p = write_file("dup.json", "{\"services\": [], \"services\": []}");
    s = services_load(p, err, sizeof err);
    CHECK(s == NULL, "duplicate key accepted");
    services_free(s);

    refused(__FILE__, __LINE__, write_file("arr.json", "[]"),
            "must be an object {\"services\": [...]}");
    refused(__FILE__, __LINE__, write_file("nolist.json", "{\"service\": []}"),
            "service: unknown field (services, about, sample)");
    refused(__FILE__, __LINE__, write_file("notarr.json", "{\"services\": 1}"),
            "services: must be an array of records");
    refused(__FILE__, __LINE__, write_file("rec.json", "{\"services\": [1]}"),
            "services[0]: must be an object");

    s = services_load("/nonexistent/services.json", err, sizeof err);
    CHECK(s == NULL && strstr(err, "/nonexistent/services.json"), "err: %s",
          err);
    services_free(s);

    /* An empty directory is valid. */
    s = services_load(write_file("empty.json", "{\"services\": []}"), err,
                      sizeof err);
    CHECK(s && services_count(s) == 0, "empty: %s", err);
    services_free(s);
}

/* ---- search and suggest ----------------------------------------------- */

/* Tuesday 24 November 2026, 12:00 in London (GMT). */
#define NOON_TUESDAY utc(2026, 11, 24, 12, 0)

static const char *fixture(void)
{
    static const char *const recs[][3] = {
        /* id, fields, categories */
        {"nat-closed",
         "\"service_area\": \"national\", \"hours\": {\"mon\":"
         " [[\"09:00\", \"10:00\"]]}",
         "[\"bullying\"]"},
        {"nat-open", "\"service_area\": \"national\", \"hours\": \"24/7\"",
         "[\"bullying\", \"suicide\"]"},
        {"nat-unknown", "\"service_area\": \"national\"", "[\"bullying\"]"},
        {"local-closed",
         "\"service_area\": [\"PR1\"], \"hours\": {\"sat\":"
         " [[\"09:00\", \"10:00\"]]}",
         "[\"bullying\"]"},
        {"local-open",
         "\"service_area\": [\"PR\"], \"hours\": {\"tue\":"
         " [[\"09:00\", \"17:00\"]]}",
         "[\"bullying\"]"},
        {"elsewhere",
         "\"service_area\": [\"M1\", \"Manchester\"], \"hours\":"
         " \"24/7\"",
         "[\"bullying\"]"},
        {"preston-only",
         "\"service_area\": [\"Preston\"], \"hours\": "
         "\"24/7\"",
         "[\"mental_health\"]"},
        {"school-help",
         "\"service_area\": \"national\", \"hours\": \"24/7\","
         " \"description\": \"Advice on EXCLUSIONS\"",
         "[\"school\", \"mental_health\"]"},
    };
    static char text[16384];
    size_t n = (size_t)snprintf(text, sizeof text, "{\"services\": [");

    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        const char *desc = strstr(recs[i][1], "description")
                               ? ""
                               : ", \"description\": \"Help for parents\"";
        n += (size_t)snprintf(
            text + n, sizeof text - n,
            "%s{\"id\": \"%s\", \"name\": \"Name %s\", \"organisation\": "
            "\"Org %zu\"%s, %s, \"categories\": %s, \"phone\": \"0800 000 "
            "000\", \"languages\": [\"en\"], \"cost\": \"free\", \"source\":"
            " {\"url\": \"https://example.org\", \"date\": \"2026-11-23\", "
            "\"verified\": false}}",
            i ? ", " : "", recs[i][0], recs[i][0], i, desc, recs[i][1],
            recs[i][2]);
    }
    snprintf(text + n, sizeof text - n, "]}");
    return write_file("fixture.json", text);
}

static struct services *load_fixture(void)
{
    struct services *s = services_load(fixture(), err, sizeof err);

    CHECK(s != NULL, "fixture: %s", err);
    return s;
}

TEST(search_orders_local_then_open)
{
    struct services *s = load_fixture();
    struct service_hit h[HITS_MAX];
    size_t n;

    if (!s)
        return;
    n = services_search(s, "bullying", "pr1 3ab", NULL, NOON_TUESDAY, h,
                        HITS_MAX);
    CHECK_INT(n, 5);
    CHECK_STR(hit_id(h, n, 0), "local-open");
    CHECK_STR(hit_id(h, n, 1), "local-closed");
    CHECK_STR(hit_id(h, n, 2), "nat-open");
    CHECK_STR(hit_id(h, n, 3), "nat-unknown");
    CHECK_STR(hit_id(h, n, 4), "nat-closed");
    if (n == 5) {
        CHECK(h[0].local && h[0].open_now == SERVICE_OPEN, "local-open");
        CHECK(h[1].local && h[1].open_now == SERVICE_CLOSED, "local-closed");
        CHECK(!h[2].local && h[2].open_now == SERVICE_OPEN, "nat-open");
        CHECK(h[3].open_now == SERVICE_HOURS_UNKNOWN, "nat-unknown");
        CHECK(h[4].open_now == SERVICE_CLOSED, "nat-closed");
    }
    /* Monday 09:30 the national line is open, the PR one closed. */
    n = services_search(s, "bullying", "PR1", NULL, utc(2026, 11, 23, 9, 30), h,
                        HITS_MAX);
    CHECK_STR(hit_id(h, n, 0), "local-closed");
    CHECK_STR(hit_id(h, n, 1), "local-open");
    CHECK_STR(hit_id(h, n, 2), "nat-closed");
    /* Truncated to max, keeping the best. */
    n = services_search(s, "bullying", "PR1", NULL, NOON_TUESDAY, h, 2);
    CHECK_INT(n, 2);
    CHECK_STR(hit_id(h, n, 0), "local-open");
    CHECK_STR(hit_id(h, n, 1), "local-closed");
    CHECK_INT(services_search(s, "bullying", "PR1", NULL, NOON_TUESDAY, h, 0),
              0);
    services_free(s);
}

TEST(search_area_matching)
{
    struct services *s = load_fixture();
    struct service_hit h[HITS_MAX];
    size_t n;

    if (!s)
        return;
    /* No area: national only. */
    n = services_search(s, "bullying", NULL, NULL, NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 3);
    CHECK_STR(hit_id(h, n, 0), "nat-open");
    n = services_search(s, "bullying", "", NULL, NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 3);
    /* PR10: in area PR, not district PR1. */
    n = services_search(s, "bullying", "PR10", NULL, NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 4);
    CHECK_STR(hit_id(h, n, 0), "local-open");
    /* The postcode area alone matches the area, not a district in it. */
    n = services_search(s, "bullying", "PR", NULL, NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 4);
    /* Full postcode without a space. */
    n = services_search(s, "bullying", "PR13AB", NULL, NOON_TUESDAY, h,
                        HITS_MAX);
    CHECK_INT(n, 5);
    /* A local authority by name, any case. */
    n = services_search(s, "mental_health", "  preston ", NULL, NOON_TUESDAY, h,
                        HITS_MAX);
    CHECK_INT(n, 2);
    CHECK_STR(hit_id(h, n, 0), "preston-only");
    CHECK(n && h[0].local, "preston-only is local");
    n = services_search(s, "bullying", "M1 1AA", NULL, NOON_TUESDAY, h,
                        HITS_MAX);
    CHECK_STR(hit_id(h, n, 0), "elsewhere");
    /* Any category. */
    n = services_search(s, NULL, "PR1", NULL, NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 6);
    /* Unknown category matches nothing. */
    CHECK_INT(
        services_search(s, "suicidal", "PR1", NULL, NOON_TUESDAY, h, HITS_MAX),
        0);
    services_free(s);
}

TEST(search_q_matches_text)
{
    struct services *s = load_fixture();
    struct service_hit h[HITS_MAX];
    size_t n;

    if (!s)
        return;
    n = services_search(s, NULL, NULL, "exclusions", NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 1);
    CHECK_STR(hit_id(h, n, 0), "school-help");
    n = services_search(s, NULL, NULL, "  NAME NAT-OP ", NOON_TUESDAY, h,
                        HITS_MAX);
    CHECK_INT(n, 1);
    CHECK_STR(hit_id(h, n, 0), "nat-open");
    n = services_search(s, NULL, NULL, "org 2", NOON_TUESDAY, h, HITS_MAX);
    CHECK_INT(n, 1);
    CHECK_STR(hit_id(h, n, 0), "nat-unknown");
    CHECK_INT(
        services_search(s, NULL, NULL, "zebra", NOON_TUESDAY, h, HITS_MAX), 0);
    CHECK_INT(services_search(s, NULL, NULL, "", NOON_TUESDAY, h, HITS_MAX), 4);
    CHECK_INT(services_search(s, "school", NULL, "parents", NOON_TUESDAY, h,
                              HITS_MAX),
              0);
    services_free(s);
}

TEST(suggest_dedupes_and_orders)
{
    struct services *s = load_fixture();
    struct service_hit h[HITS_MAX];
    const char *cats[] = {"suicide", "mental_health", "bullying", "suicide",
                          "nonsense"};
    size_t n;

    if (!s)
        return;
    n = services_suggest(s, cats, 5, "Preston", NOON_TUESDAY, h, HITS_MAX);
    /* preston-only (local), then the open nationals by category order:
     * nat-open (suicide) before school-help (mental_health); then unknown,
     * then closed. */
    CHECK_INT(n, 5);
    CHECK_STR(hit_id(h, n, 0), "preston-only");
    CHECK_STR(hit_id(h, n, 1), "nat-open");
    CHECK_STR(hit_id(h, n, 2), "school-help");
    CHECK_STR(hit_id(h, n, 3), "nat-unknown");
    CHECK_STR(hit_id(h, n, 4), "nat-closed");
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(h[i].service != h[j].service, "%s twice", hit_id(h, n, i));
    /* Category order decides between equals. */
    {
        const char *mh_first[] = {"mental_health", "suicide"};
        n = services_suggest(s, mh_first, 2, NULL, NOON_TUESDAY, h, HITS_MAX);
        CHECK_INT(n, 2);
        CHECK_STR(hit_id(h, n, 0), "school-help");
        CHECK_STR(hit_id(h, n, 1), "nat-open");
    }
    CHECK_INT(services_suggest(s, cats, 0, "PR1", NOON_TUESDAY, h, HITS_MAX),
              0);
    services_free(s);
}

/* ---- JSON shapes ------------------------------------------------------ */

TEST(card_and_full_json)
{
    struct services *s = services_load(NATIONAL, err, sizeof err);
    struct service_hit h[HITS_MAX];
    json_t *card, *full, *arr;
    const char *key;
    json_t *v;
    size_t n;

    CHECK(s != NULL, "%s", err);
    if (!s)
        return;
    card = service_card_json(services_find(s, "samaritans"));
    CHECK_STR(json_string_value(json_object_get(card, "id")), "samaritans");
    CHECK_STR(json_string_value(json_object_get(card, "phone")), "116 123");
    CHECK_STR(json_string_value(json_object_get(card, "hours")), "24/7");
    CHECK(json_is_string(json_object_get(card, "url")), "url");
    json_object_foreach(card, key, v)
        CHECK(strstr(" id name description phone text url hours ", key),
              "card has %s", key);
    json_decref(card);

    card = service_card_json(services_find(s, "shout"));
    CHECK(json_object_get(card, "phone") == NULL, "shout has no phone");
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(card, "text"), "number")),
              "85258");
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(card, "text"), "keyword")),
              "SHOUT");
    json_decref(card);

    full = service_full_json(services_find(s, "samaritans"), SERVICE_OPEN);
    CHECK(json_is_true(json_object_get(full, "open_now")), "open_now");
    CHECK(json_is_object(json_object_get(full, "source")), "source");
    CHECK(json_is_array(json_object_get(full, "categories")), "categories");
    CHECK_STR(json_string_value(json_object_get(full, "hours")), "24/7");
    json_decref(full);
    full = service_full_json(services_find(s, "ipsea"), SERVICE_HOURS_UNKNOWN);
    CHECK(json_is_null(json_object_get(full, "open_now")), "unknown is null");
    json_decref(full);

    n = services_search(s, "bereavement", NULL, NULL, time(NULL), h, HITS_MAX);
    arr = services_hits_json(h, n, 0);
    CHECK(json_array_size(arr) == n && n > 0, "cards %zu", n);
    json_decref(arr);
    arr = services_hits_json(h, n, 1);
    CHECK(json_is_object(json_object_get(json_array_get(arr, 0), "source")),
          "full records");
    json_decref(arr);
    services_free(s);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(categories_match_rule_files);
    RUN(categories_match_taxonomy_md);
    RUN(shipped_directory_covers_every_category);
    RUN(shipped_numbers_from_research);
    RUN(shipped_sample_local_directory);
    RUN(bad_records_refused_with_path);
    RUN(no_contact_refused);
    RUN(bad_files_refused);
    RUN(search_orders_local_then_open);
    RUN(search_area_matching);
    RUN(search_q_matches_text);
    RUN(suggest_dedupes_and_orders);
    RUN(card_and_full_json);
    {
        char cmd[sizeof tmpdir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return unit_summary();
}
