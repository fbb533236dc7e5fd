/*
 * services.c - see services.h.  JSON is jansson's; this file only checks
 * what each record must hold and orders search results.  Records are kept
 * as loaded (json_t) and every string in struct service points into them.
 */
#include "services.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ID_MAX           64   /* bytes of an id, with NUL */
#define NAME_MAX_BYTES   200  /* name, organisation */
#define DESC_MAX_BYTES   1000 /* description, eligibility.who */
#define COST_MAX_BYTES   200
#define NOTE_MAX_BYTES   1000 /* source.note */
#define URL_MAX_BYTES    300
#define EMAIL_MAX_BYTES  254
#define PHONE_MAX_BYTES  20  /* "0808 800 5000" with room to spare */
#define PHONE_MIN_DIGITS 3   /* 999, 101, 111 */
#define KEYWORD_MAX      20  /* bytes of an SMS keyword */
#define LANG_MAX         16  /* bytes of a language code, "en", "cy", "bfi" */
#define AGE_MAX          120 /* years */
#define AREAS_MAX        64  /* service areas in one record */
#define LISTS_MAX        32  /* categories or languages in one record */
#define PATH_MAX_BYTES   64  /* "services[1023].eligibility.min_age" */

const char *const services_categories[] = {
    "suicide",
    "self_harm",
    "harm_to_child",
    "child_abuse",
    "child_sexual_exploitation",
    "neglect",
    "domestic_abuse",
    "medical_emergency",
    "missing_child",
    "crime_exploitation",
    "substance_misuse",
    "mental_health",
    "radicalisation",
    "bullying",
    "school",
    "send",
    "behaviour",
    "separation",
    "finance_housing",
    "young_carer",
    "bereavement",
    NULL,
};

static const char *const record_fields[] = {
    "id",           "name",      "organisation", "description", "categories",
    "service_area", "phone",     "text",         "url",         "email",
    "hours",        "languages", "eligibility",  "cost",        "source",
    "sample",       NULL,
};

struct services {
    struct service *v;
    size_t n;
};

int services_category_known(const char *id)
{
    for (size_t i = 0; id && services_categories[i]; i++)
        if (strcmp(services_categories[i], id) == 0)
            return 1;
    return 0;
}

/* ---- validation helpers ---------------------------------------------- */

/* Error context: file and record index; each helper writes
 * "file: services[i].field: reason". */
struct vctx {
    const char *file;
    size_t index;
    char *err;
    size_t errlen;
};

static int verr(struct vctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int verr(struct vctx *c, const char *field, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: services[%zu]%s%s: %s", c->file, c->index,
             *field ? "." : "", field, reason);
    return -1;
}

static int has_ctrl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\n')
            return 1;
    return 0;
}

/* A string field: required or optional, 1..max bytes, no control
 * characters.  *out is NULL when an optional field is absent. */
static int get_text(struct vctx *c, json_t *rec, const char *field,
                    int required, size_t max, const char **out)
{
    json_t *v = json_object_get(rec, field);
    const char *s;
    size_t len;

    *out = NULL;
    if (!v) {
        if (required)
            return verr(c, field, "missing");
        return 0;
    }
    if (!json_is_string(v))
        return verr(c, field, "must be a string");
    s = json_string_value(v);
    len = json_string_length(v);
    if (len != strlen(s))
        return verr(c, field, "must not contain NUL");
    if (len == 0)
        return verr(c, field, "must not be empty");
    if (len > max)
        return verr(c, field, "longer than %zu bytes", max);
    if (has_ctrl(s))
        return verr(c, field, "must not contain control characters");
    *out = s;
    return 0;
}

static int valid_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= ID_MAX || !isalnum((unsigned char)s[0]))
        return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
              *s == '-'))
            return 0;
    return 1;
}

/* Digits and single spaces, starting and ending with a digit. */
static int valid_number(const char *s, size_t max)
{
    size_t n = strlen(s), digits = 0;

    if (n == 0 || n > max || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] != ' ' || s[i + 1] == ' ')
            return 0;
    }
    return digits >= PHONE_MIN_DIGITS;
}

static int valid_url(const char *s)
{
    const char *host;

    if (strncmp(s, "https://", 8) != 0)
        return 0;
    host = s + 8;
    if (!isalnum((unsigned char)*host))
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '<' || *s == '>' ||
            *s == '\\' || (unsigned char)*s == 0x7f)
            return 0;
    return strchr(host, '.') != NULL;
}

static int valid_email(const char *s)
{
    const char *at = strchr(s, '@');

    if (!at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.') ||
        at[1] == '.' || s[strlen(s) - 1] == '.')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || strchr("\"<>(),;:\\[]", *s))
            return 0;
    return 1;
}

/* "en", "cy", "bfi", "pa-Arab". */
static int valid_lang(const char *s)
{
    size_t n = 0;

    while (islower((unsigned char)s[n]))
        n++;
    if (n < 2 || n > 3)
        return 0;
    for (s += n; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-')
            return 0;
    return 1;
}

/* "YYYY-MM-DD", a real date. */
static int valid_date(const char *s)
{
    static const int dim[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return 0;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (y < 2000 || m < 1 || m > 12 || d < 1 || d > dim[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

/* Postcode shapes, on an upper-case string without spaces. */
static int is_pc_area(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Letters then a digit then optional digit or letter: PR1, PR25, EC1A. */
static int is_pc_district(const char *s)
{
    size_t i = 0, n = strlen(s);

    while (i < n && i < 2 && isupper((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || !isdigit((unsigned char)s[i]))
        return 0;
    i++;
    if (i < n && (isdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])))
        i++;
    return i == n;
}

/* A district followed by the inward code, digit letter letter. */
static int is_full_postcode(const char *s)
{
    size_t n = strlen(s);
    char out[8];

    if (n < 5 || n > 7)
        return 0;
    if (!isdigit((unsigned char)s[n - 3]) ||
        !isupper((unsigned char)s[n - 2]) || !isupper((unsigned char)s[n - 1]))
        return 0;
    memcpy(out, s, n - 3);
    out[n - 3] = '\0';
    return is_pc_district(out);
}

/* A local authority name as written in the file: "Lancashire",
 * "Blackburn with Darwen", "Brighton & Hove". */
static int valid_authority(const char *s)
{
    size_t n = strlen(s);
    int lower = 0;

    if (n < 3 || n >= SERVICE_AREA_LEN || !isupper((unsigned char)s[0]))
        return 0;
    for (; *s; s++) {
        if (islower((unsigned char)*s))
            lower = 1;
        else if (!isalpha((unsigned char)*s) && !strchr(" -'.,&()", *s))
            return 0;
    }
    return lower;
}

/* ---- one record ------------------------------------------------------- */

static int check_string_list(struct vctx *c, json_t *rec, const char *field,
                             json_t **out)
{
    json_t *v = json_object_get(rec, field), *e;
    size_t i;

    if (!v)
        return verr(c, field, "missing");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return verr(c, field, "must be a non-empty array of strings");
    if (json_array_size(v) > LISTS_MAX)
        return verr(c, field, "more than %d entries", LISTS_MAX);
    json_array_foreach(v, i, e)
    {
        char path[PATH_MAX_BYTES];
        snprintf(path, sizeof path, "%s[%zu]", field, i);
        if (!json_is_string(e))
            return verr(c, path, "must be a string");
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(v, j)),
                       json_string_value(e)) == 0)
                return verr(c, path, "'%.40s' is listed twice",
                            json_string_value(e));
    }
    *out = v;
    return 0;
}

static int load_categories(struct vctx *c, json_t *rec, struct service *svc)
{
    json_t *v, *e;
    size_t i;

    if (check_string_list(c, rec, "categories", &v) < 0)
        return -1;
    json_array_foreach(v, i, e)
    {
        char path[PATH_MAX_BYTES];
        snprintf(path, sizeof path, "categories[%zu]", i);
        if (!services_category_known(json_string_value(e)))
            return verr(c, path,
                        "'%.40s' is not a taxonomy category (TAXONOMY.md)",
                        json_string_value(e));
    }
    svc->categories = calloc(json_array_size(v), sizeof *svc->categories);
    if (!svc->categories)
        return verr(c, "categories", "out of memory");
    json_array_foreach(v, i, e) svc->categories[i] = json_string_value(e);
    svc->ncategories = json_array_size(v);
    return 0;
}

static int load_areas(struct vctx *c, json_t *rec, struct service *svc)
{
    json_t *v = json_object_get(rec, "service_area"), *e;
    size_t i;

    if (!v)
        return verr(c, "service_area", "missing");
    if (json_is_string(v) && strcmp(json_string_value(v), "national") == 0) {
        svc->national = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return verr(c, "service_area",
                    "must be \"national\" or a non-empty array of postcode "
                    "areas, districts or local authority names");
    if (json_array_size(v) > AREAS_MAX)
        return verr(c, "service_area", "more than %d areas", AREAS_MAX);
    svc->areas = calloc(json_array_size(v), sizeof *svc->areas);
    if (!svc->areas)
        return verr(c, "service_area", "out of memory");
    json_array_foreach(v, i, e)
    {
        char path[PATH_MAX_BYTES];
        struct service_area *a = &svc->areas[i];
        const char *s = json_string_value(e);

        snprintf(path, sizeof path, "service_area[%zu]", i);
        if (!s)
            return verr(c, path, "must be a string");
        if (is_pc_area(s))
            a->kind = AREA_POSTCODE_AREA;
        else if (is_pc_district(s))
            a->kind = AREA_POSTCODE_DISTRICT;
        else if (valid_authority(s))
            a->kind = AREA_AUTHORITY;
        else
            return verr(c, path,
                        "'%.40s' is not a postcode area or district in "
                        "capitals (PR, PR1) or a local authority name "
                        "(Lancashire)",
                        s);
        snprintf(a->name, sizeof a->name, "%s", s);
        svc->nareas = i + 1;
    }
    return 0;
}

static int load_text(struct vctx *c, json_t *rec, struct service *svc)
{
    json_t *v = json_object_get(rec, "text"), *num, *kw;
    const char *key;
    json_t *val;

    if (!v)
        return 0;
    if (!json_is_object(v))
        return verr(c, "text",
                    "must be an object {\"number\": \"85258\", \"keyword\": "
                    "\"SHOUT\"}");
    json_object_foreach(
        v, key, val) if (strcmp(key, "number") != 0 &&
                         strcmp(key, "keyword") !=
                             0) return verr(c, "text", "unknown field '%.40s'",
                                            key);
    num = json_object_get(v, "number");
    if (!json_is_string(num) ||
        !valid_number(json_string_value(num), PHONE_MAX_BYTES))
        return verr(c, "text.number", "must be a string of digits and spaces");
    svc->text_number = json_string_value(num);
    kw = json_object_get(v, "keyword");
    if (kw) {
        const char *s = json_string_value(kw);
        if (!s || !*s || strlen(s) > KEYWORD_MAX)
            return verr(c, "text.keyword", "must be a word of 1 to %d bytes",
                        KEYWORD_MAX);
        for (const char *p = s; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != ' ')
                return verr(c, "text.keyword",
                            "must be letters, digits and spaces");
        svc->text_keyword = s;
    }
    return 0;
}

static int load_eligibility(struct vctx *c, json_t *rec)
{
    json_t *v = json_object_get(rec, "eligibility"), *val;
    const char *key;
    long long age[2] = {0, AGE_MAX};
    static const char *const ages[2] = {"min_age", "max_age"};

    if (!v)
        return 0;
    if (!json_is_object(v))
        return verr(c, "eligibility",
                    "must be an object {min_age?, max_age?, who?}");
    json_object_foreach(v, key, val)
    {
        char path[PATH_MAX_BYTES];
        snprintf(path, sizeof path, "eligibility.%.30s", key);
        if (strcmp(key, "who") == 0) {
            const char *s = json_string_value(val);
            if (!s || !*s || strlen(s) > DESC_MAX_BYTES || has_ctrl(s))
                return verr(c, path,
                            "must be a non-empty string of at most "
                            "%d bytes",
                            DESC_MAX_BYTES);
            continue;
        }
        for (int i = 0; i < 2; i++)
            if (strcmp(key, ages[i]) == 0) {
                if (!json_is_integer(val) || json_integer_value(val) < 0 ||
                    json_integer_value(val) > AGE_MAX)
                    return verr(c, path,
                                "must be a whole number of years "
                                "from 0 to %d",
                                AGE_MAX);
                age[i] = json_integer_value(val);
                goto next;
            }
        return verr(c, path, "unknown field (min_age, max_age, who)");
    next:;
    }
    if (age[0] > age[1])
        return verr(c, "eligibility", "min_age is above max_age");
    return 0;
}

static int load_source(struct vctx *c, json_t *rec)
{
    json_t *v = json_object_get(rec, "source"), *val;
    const char *key, *s;

    if (!v)
        return verr(c, "source",
                    "missing: say where the contact details are "
                    "published (url) and when they were written (date)");
    if (!json_is_object(v))
        return verr(c, "source",
                    "must be an object {url, date, verified, "
                    "note?}");
    json_object_foreach(
        v, key,
        val) if (strcmp(key, "url") && strcmp(key, "date") &&
                 strcmp(key, "verified") &&
                 strcmp(key, "note")) return verr(c, "source",
                                                  "unknown field '%.40s'", key);
    s = json_string_value(json_object_get(v, "url"));
    if (!s || strlen(s) > URL_MAX_BYTES || !valid_url(s))
        return verr(c, "source.url",
                    "must be an https:// URL of the page "
                    "publishing the contact details");
    s = json_string_value(json_object_get(v, "date"));
    if (!s || !valid_date(s))
        return verr(c, "source.date", "must be a date YYYY-MM-DD");
    if (!json_is_boolean(json_object_get(v, "verified")))
        return verr(c, "source.verified",
                    "must be true (checked against the published page on "
                    "that date) or false");
    val = json_object_get(v, "note");
    if (val && (!json_is_string(val) || !json_string_length(val) ||
                json_string_length(val) > NOTE_MAX_BYTES))
        return verr(c, "source.note",
                    "must be a non-empty string of at most "
                    "%d bytes",
                    NOTE_MAX_BYTES);
    return 0;
}

static int load_record(struct vctx *c, json_t *rec, struct service *svc)
{
    const char *key;
    json_t *val, *langs;
    size_t i;

    if (!json_is_object(rec))
        return verr(c, "", "must be an object");
    json_object_foreach(rec, key, val)
    {
        int known = 0;
        for (i = 0; record_fields[i]; i++)
            known |= strcmp(record_fields[i], key) == 0;
        if (!known)
            return verr(c, "", "unknown field '%.40s'", key);
    }
    if (get_text(c, rec, "id", 1, ID_MAX - 1, &svc->id) < 0)
        return -1;
    if (!valid_id(svc->id))
        return verr(c, "id",
                    "'%.40s': must be lower-case letters, digits "
                    "and '-'",
                    svc->id);
    if (get_text(c, rec, "name", 1, NAME_MAX_BYTES, &svc->name) < 0 ||
        get_text(c, rec, "organisation", 1, NAME_MAX_BYTES,
                 &svc->organisation) < 0 ||
        get_text(c, rec, "description", 1, DESC_MAX_BYTES, &svc->description) <
            0 ||
        load_categories(c, rec, svc) < 0 || load_areas(c, rec, svc) < 0)
        return -1;
    val = json_object_get(rec, "phone");
    if (val) {
        if (!json_is_string(val) ||
            !valid_number(json_string_value(val), PHONE_MAX_BYTES))
            return verr(c, "phone", "must be a string of digits and spaces");
        svc->phone = json_string_value(val);
    }
    if (load_text(c, rec, svc) < 0)
        return -1;
    if (get_text(c, rec, "url", 0, URL_MAX_BYTES, &svc->url) < 0)
        return -1;
    if (svc->url && !valid_url(svc->url))
        return verr(c, "url", "must be an https:// URL");
    if (get_text(c, rec, "email", 0, EMAIL_MAX_BYTES, &svc->email) < 0)
        return -1;
    if (svc->email && !valid_email(svc->email))
        return verr(c, "email", "must be an address name@example.org");
    if (!svc->phone && !svc->text_number && !svc->url && !svc->email)
        return verr(c, "", "needs at least one of phone, text, url, email");
    val = json_object_get(rec, "hours");
    if (val) {
        char herr[256], path[PATH_MAX_BYTES];
        const char *reason;
        if (!(svc->hours = hours_from_json(val, herr, sizeof herr))) {
            /* herr is ".fri[0][1]: reason" or ": reason" */
            reason = strstr(herr, ": ");
            reason = reason ? reason + 2 : herr;
            snprintf(path, sizeof path, "hours%.*s",
                     (int)(reason > herr + 2 ? reason - herr - 2 : 0), herr);
            return verr(c, path, "%s", reason);
        }
        hours_describe(svc->hours, svc->hours_text, sizeof svc->hours_text);
    }
    if (check_string_list(c, rec, "languages", &langs) < 0)
        return -1;
    json_array_foreach(langs, i, val)
    {
        char path[PATH_MAX_BYTES];
        snprintf(path, sizeof path, "languages[%zu]", i);
        if (strlen(json_string_value(val)) >= LANG_MAX ||
            !valid_lang(json_string_value(val)))
            return verr(c, path, "'%.20s' is not a language code (en, cy)",
                        json_string_value(val));
    }
    if (load_eligibility(c, rec) < 0)
        return -1;
    if (get_text(c, rec, "cost", 1, COST_MAX_BYTES, &svc->cost) < 0)
        return -1;
    if (load_source(c, rec) < 0)
        return -1;
    val = json_object_get(rec, "sample");
    if (val && !json_is_boolean(val))
        return verr(c, "sample", "must be true or false");
    svc->sample = json_is_true(val);
    svc->record = json_incref(rec);
    return 0;
}

/* ---- loading ---------------------------------------------------------- */

static void service_clear(struct service *svc)
{
    free(svc->categories);
    free(svc->areas);
    hours_free(svc->hours);
    if (svc->record)
        json_decref(svc->record);
    memset(svc, 0, sizeof *svc);
}

void services_free(struct services *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        service_clear(&s->v[i]);
    free(s->v);
    free(s);
}

static int load_file(struct services *s, const char *path, char *err,
                     size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    json_t *list, *rec, *val, *sample;
    const char *key;
    size_t i;
    struct vctx c = {path, 0, err, errlen};

    if (!root) {
        if (je.line <= 0)
            snprintf(err, errlen, "%s: %s", path, je.text);
        else
            snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column,
                     je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: must be an object {\"services\": [...]}",
                 path);
        goto fail;
    }
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "services") && strcmp(key, "about") &&
            strcmp(key, "sample")) {
            snprintf(err, errlen,
                     "%s: %.40s: unknown field (services, about, sample)", path,
                     key);
            goto fail;
        }
    }
    sample = json_object_get(root, "sample");
    if (sample && !json_is_boolean(sample)) {
        snprintf(err, errlen, "%s: sample: must be true or false", path);
        goto fail;
    }
    list = json_object_get(root, "services");
    if (!json_is_array(list)) {
        snprintf(err, errlen, "%s: services: must be an array of records",
                 path);
        goto fail;
    }
    if (s->n + json_array_size(list) > SERVICES_MAX) {
        snprintf(err, errlen, "%s: more than %d services", path, SERVICES_MAX);
        goto fail;
    }
    json_array_foreach(list, i, rec)
    {
        struct service *svc = &s->v[s->n];
        c.index = i;
        memset(svc, 0, sizeof *svc);
        if (load_record(&c, rec, svc) < 0) {
            service_clear(svc);
            goto fail;
        }
        if (json_is_true(sample))
            svc->sample = 1;
        for (size_t j = 0; j < s->n; j++)
            if (strcmp(s->v[j].id, svc->id) == 0) {
                verr(&c, "id", "'%s' is used twice", svc->id);
                service_clear(svc);
                goto fail;
            }
        s->n++;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    return -1;
}

struct services *services_load_files(const char *const *paths, size_t n,
                                     char *err, size_t errlen)
{
    struct services *s = calloc(1, sizeof *s);

    if (!s || !(s->v = calloc(SERVICES_MAX, sizeof *s->v))) {
        snprintf(err, errlen, "services: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (load_file(s, paths[i], err, errlen) < 0)
            goto fail;
    return s;
fail:
    services_free(s);
    return NULL;
}

struct services *services_load(const char *path, char *err, size_t errlen)
{
    return services_load_files(&path, 1, err, errlen);
}

size_t services_count(const struct services *s)
{
    return s->n;
}

const struct service *services_get(const struct services *s, size_t i)
{
    return i < s->n ? &s->v[i] : NULL;
}

const struct service *services_find(const struct services *s, const char *id)
{
    for (size_t i = 0; id && i < s->n; i++)
        if (strcmp(s->v[i].id, id) == 0)
            return &s->v[i];
    return NULL;
}

int service_open_now(const struct service *svc, time_t now)
{
    if (!svc->hours)
        return SERVICE_HOURS_UNKNOWN;
    return hours_open_at(svc->hours, now) ? SERVICE_OPEN : SERVICE_CLOSED;
}

/* ---- matching --------------------------------------------------------- */

/* The caller's area, normalised. */
struct area_query {
    int given;
    enum area_kind kind;
    char name[SERVICE_AREA_LEN]; /* postcodes: upper case, no spaces */
};

static void area_query(const char *area, struct area_query *q)
{
    char pc[SERVICE_AREA_LEN];
    size_t n = 0, len;

    memset(q, 0, sizeof *q);
    if (!area)
        return;
    while (isspace((unsigned char)*area))
        area++;
    len = strlen(area);
    while (len && isspace((unsigned char)area[len - 1]))
        len--;
    if (!len || len >= sizeof q->name)
        return;
    q->given = 1;
    for (size_t i = 0; i < len && n < sizeof pc - 1; i++)
        if (!isspace((unsigned char)area[i]))
            pc[n++] = (char)toupper((unsigned char)area[i]);
    pc[n] = '\0';
    if (is_full_postcode(pc)) {
        pc[n - 3] = '\0';
        q->kind = AREA_POSTCODE_DISTRICT;
    } else if (is_pc_district(pc)) {
        q->kind = AREA_POSTCODE_DISTRICT;
    } else if (is_pc_area(pc)) {
        q->kind = AREA_POSTCODE_AREA;
    } else {
        q->kind = AREA_AUTHORITY;
        memcpy(q->name, area, len);
        q->name[len] = '\0';
        return;
    }
    memcpy(q->name, pc, strlen(pc) + 1);
}

/* Letters at the start of a postcode district: "PR" of "PR1". */
static size_t pc_letters(const char *s)
{
    size_t n = 0;

    while (isupper((unsigned char)s[n]))
        n++;
    return n;
}

static int area_matches(const struct service_area *a,
                        const struct area_query *q)
{
    switch (a->kind) {
    case AREA_POSTCODE_AREA:
        return q->kind != AREA_AUTHORITY &&
               pc_letters(q->name) == strlen(a->name) &&
               strncmp(q->name, a->name, strlen(a->name)) == 0;
    case AREA_POSTCODE_DISTRICT:
        return q->kind == AREA_POSTCODE_DISTRICT &&
               strcmp(q->name, a->name) == 0;
    case AREA_AUTHORITY:
        return q->kind == AREA_AUTHORITY && strcasecmp(q->name, a->name) == 0;
    }
    return 0;
}

/* -1: not in the area; 1: local; 0: national. */
static int where(const struct service *svc, const struct area_query *q)
{
    if (svc->national)
        return 0;
    if (!q->given)
        return -1;
    for (size_t i = 0; i < svc->nareas; i++)
        if (area_matches(&svc->areas[i], q))
            return 1;
    return -1;
}

static int has_category(const struct service *svc, const char *cat)
{
    for (size_t i = 0; i < svc->ncategories; i++)
        if (strcmp(svc->categories[i], cat) == 0)
            return 1;
    return 0;
}

static int text_matches(const struct service *svc, const char *q)
{
    char needle[SERVICES_QUERY_MAX + 1];
    size_t len;

    while (isspace((unsigned char)*q))
        q++;
    len = strlen(q);
    while (len && isspace((unsigned char)q[len - 1]))
        len--;
    if (!len)
        return 1;
    if (len > SERVICES_QUERY_MAX)
        len = SERVICES_QUERY_MAX;
    memcpy(needle, q, len);
    needle[len] = '\0';
    return strcasestr(svc->name, needle) ||
           strcasestr(svc->organisation, needle) ||
           strcasestr(svc->description, needle);
}

/* Sort key, smaller first: local, then open / unknown / closed. */
static int rank(int local, int open_now)
{
    int o = open_now == SERVICE_OPEN ? 0 : open_now == SERVICE_CLOSED ? 2 : 1;

    return (local ? 0 : 3) + o;
}

/* Insert into out[0..*n) sorted by key, stable, keeping at most max. */
static void insert_hit(struct service_hit *out, long *keys, size_t *n,
                       size_t max, const struct service_hit *hit, long key)
{
    size_t at = *n;

    while (at > 0 && keys[at - 1] > key)
        at--;
    if (at >= max)
        return;
    if (*n < max)
        (*n)++;
    for (size_t i = *n - 1; i > at; i--) {
        out[i] = out[i - 1];
        keys[i] = keys[i - 1];
    }
    out[at] = *hit;
    keys[at] = key;
}

size_t services_search(const struct services *s, const char *category,
                       const char *area, const char *q, time_t now,
                       struct service_hit *out, size_t max)
{
    struct area_query aq;
    long keys[SERVICES_HITS_MAX];
    size_t n = 0;

    if (max > SERVICES_HITS_MAX)
        max = SERVICES_HITS_MAX;
    area_query(area, &aq);
    for (size_t i = 0; i < s->n; i++) {
        const struct service *svc = &s->v[i];
        struct service_hit hit;
        int w = where(svc, &aq);

        if (w < 0 || (category && *category && !has_category(svc, category)) ||
            (q && !text_matches(svc, q)))
            continue;
        hit.service = svc;
        hit.local = w;
        hit.open_now = service_open_now(svc, now);
        insert_hit(out, keys, &n, max, &hit, rank(w, hit.open_now));
    }
    return n;
}

size_t services_suggest(const struct services *s, const char *const *categories,
                        size_t ncat, const char *area, time_t now,
                        struct service_hit *out, size_t max)
{
    struct area_query aq;
    long keys[SERVICES_HITS_MAX];
    size_t n = 0;

    if (max > SERVICES_HITS_MAX)
        max = SERVICES_HITS_MAX;
    area_query(area, &aq);
    for (size_t i = 0; i < s->n; i++) {
        const struct service *svc = &s->v[i];
        struct service_hit hit;
        size_t first = ncat;
        int w = where(svc, &aq);

        if (w < 0)
            continue;
        for (size_t c = 0; c < ncat && first == ncat; c++)
            if (categories[c] && has_category(svc, categories[c]))
                first = c;
        if (first == ncat)
            continue;
        hit.service = svc;
        hit.local = w;
        hit.open_now = service_open_now(svc, now);
        insert_hit(out, keys, &n, max, &hit,
                   (long)rank(w, hit.open_now) * (long)(ncat + 1) +
                       (long)first);
    }
    return n;
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *text_json(const struct service *svc)
{
    json_t *t = json_pack("{ss}", "number", svc->text_number);

    if (t && svc->text_keyword)
        json_object_set_new(t, "keyword", json_string(svc->text_keyword));
    return t;
}

json_t *service_card_json(const struct service *svc)
{
    json_t *o = json_pack("{ssssss}", "id", svc->id, "name", svc->name,
                          "description", svc->description);

    if (!o)
        return NULL;
    if (svc->phone)
        json_object_set_new(o, "phone", json_string(svc->phone));
    if (svc->text_number)
        json_object_set_new(o, "text", text_json(svc));
    if (svc->url)
        json_object_set_new(o, "url", json_string(svc->url));
    if (svc->hours)
        json_object_set_new(o, "hours", json_string(svc->hours_text));
    return o;
}

json_t *service_full_json(const struct service *svc, int open_now)
{
    json_t *o = json_deep_copy(svc->record);

    if (!o)
        return NULL;
    json_object_set_new(o, "open_now",
                        open_now == SERVICE_HOURS_UNKNOWN
                            ? json_null()
                            : json_boolean(open_now));
    if (svc->hours)
        json_object_set_new(o, "hours_text", json_string(svc->hours_text));
    return o;
}

json_t *services_hits_json(const struct service_hit *hits, size_t n, int full)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(
            a, full ? service_full_json(hits[i].service, hits[i].open_now)
                    : service_card_json(hits[i].service));
    return a;
}
