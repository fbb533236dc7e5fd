/*
 * services.h - the service directory parents are signposted to
 * (config/services.json; format in docs/services.md), shaped on Open
 * Referral UK: who runs a service, what it is for (taxonomy categories),
 * where (national, postcode areas/districts, local authorities), how to
 * reach it, when it is open, and where its contact details came from.
 *
 * Owns: the list of taxonomy category ids a service may name (which must
 * match ../shared/TAXONOMY.md; the unit test checks it against the triage
 * rule files), record validation, and the search order.
 * Promises: services_load() validates every record and either returns a
 * complete directory or NULL with "file: services[3].phone: reason" (the
 * caller keeps its old directory).  A directory is immutable once loaded,
 * so it can be swapped whole on SIGHUP.  Search and suggest are pure
 * functions of (directory, query, time): no I/O, no allocation; results
 * point into the directory and live until services_free().
 * Called by main.c (load, SIGHUP), http.c (GET /api/services, closed
 * replies), session.c (suggest, signpost) and the unit tests.
 */
#ifndef CHATD_SERVICES_H
#define CHATD_SERVICES_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "hours.h"

#define SERVICES_MAX       1024 /* records in one directory */
#define SERVICE_AREA_LEN   64   /* bytes, with NUL, of one service area */
#define SERVICES_QUERY_MAX 200  /* bytes of q that are matched */
#define SERVICES_HITS_MAX  256  /* most results one search returns */

/* service_open_now() and service_hit.open_now */
#define SERVICE_CLOSED        0
#define SERVICE_OPEN          1
#define SERVICE_HOURS_UNKNOWN (-1) /* the record gives no hours */

enum area_kind {
    AREA_POSTCODE_AREA,     /* "PR": every district PR1, PR2, ... */
    AREA_POSTCODE_DISTRICT, /* "PR1": that district only */
    AREA_AUTHORITY,         /* "Lancashire": matched by name */
};

struct service_area {
    enum area_kind kind;
    char name[SERVICE_AREA_LEN]; /* postcodes upper case */
};

/* Every string points into record; optional ones are NULL when absent. */
struct service {
    const char *id;
    const char *name;
    const char *organisation;
    const char *description;
    const char *phone;        /* digits and spaces, "0808 800 5000" */
    const char *text_number;  /* SMS number, "85258" */
    const char *text_keyword; /* "SHOUT", or NULL */
    const char *url;
    const char *email;
    const char *cost; /* "free" or text */
    const char **categories;
    size_t ncategories;
    int national;
    struct service_area *areas; /* when not national */
    size_t nareas;
    struct hours *hours;                 /* NULL: the record gives no hours */
    char hours_text[HOURS_DESCRIBE_LEN]; /* "24/7", "Mon-Fri 09:00-17:00" */
    int sample;     /* from a sample directory: not for real use */
    json_t *record; /* the record as loaded */
};

struct service_hit {
    const struct service *service;
    int open_now; /* SERVICE_OPEN, SERVICE_CLOSED, SERVICE_HOURS_UNKNOWN */
    int local;    /* 1 if matched by area rather than being national */
};

struct services; /* immutable once loaded */

/* Taxonomy category ids, NULL-terminated, in TAXONOMY.md's order. */
extern const char *const services_categories[];
int services_category_known(const char *id);

/*
 * Load and validate one file, or several as one directory (ids unique
 * across them, e.g. the national file plus a local one).  NULL with err set
 * on any bad record: "config/services.json: services[3].phone: must be a
 * string of digits and spaces".
 */
struct services *services_load(const char *path, char *err, size_t errlen);
struct services *services_load_files(const char *const *paths, size_t n,
                                     char *err, size_t errlen);
void services_free(struct services *s);

size_t services_count(const struct services *s);
const struct service *services_get(const struct services *s, size_t i);
/* By id (for `signpost`); NULL if unknown. */
const struct service *services_find(const struct services *s, const char *id);

/* SERVICE_OPEN, SERVICE_CLOSED or SERVICE_HOURS_UNKNOWN at now. */
int service_open_now(const struct service *svc, time_t now);

/*
 * Matching services into out (at most max, and at most SERVICES_HITS_MAX),
 * returning how many.  Each of category, area and q may be NULL or "" for
 * "any":
 *   category  a taxonomy id the service lists (an unknown id matches none);
 *   area      a postcode district "PR1", area "PR", full postcode
 *             "PR1 3AB" or local authority name; local services match
 *             only when it is given (without it, national services only);
 *   q         case-insensitive substring of name, organisation or
 *             description.
 * Order: local before national; then open now, hours unknown, closed;
 * then file order.  (To put every open service first instead, swap the
 * two terms of rank() in services.c.)
 */
size_t services_search(const struct services *s, const char *category,
                       const char *area, const char *q, time_t now,
                       struct service_hit *out, size_t max);

/*
 * Triage suggestions: services listing any of categories[0..n), each once.
 * Order: local before national; open now, unknown, closed; then services
 * for earlier categories first (triage's order); then file order.
 */
size_t services_suggest(const struct services *s, const char *const *categories,
                        size_t n, const char *area, time_t now,
                        struct service_hit *out, size_t max);

/* The protocol's card: {id, name, description, phone?, text?, url?,
 * hours?} (text is {number, keyword?}; hours the readable schedule). */
json_t *service_card_json(const struct service *svc);
/* GET /api/services: the whole record plus open_now (true, false or null
 * when unknown) and hours_text. */
json_t *service_full_json(const struct service *svc, int open_now);
/* An array of cards (full = 0) or full records (full = 1). */
json_t *services_hits_json(const struct service_hit *hits, size_t n, int full);

#endif
