/*
 * fuzz_services.c - libFuzzer target for the service directory loader.
 *
 * Owns: LLVMFuzzerTestOneInput only.  Writes the input to a temporary file
 * and calls services_load() on it.  Checks the loader's promises
 * (chatd/services.h): it never crashes; NULL comes with a non-empty,
 * NUL-terminated error; a directory that loads answers searches (by
 * category, postcode, authority and words, at a fixed time), suggestions
 * and card rendering with every hit pointing into the directory and within
 * SERVICES_HITS_MAX; services_free() releases it (LeakSanitizer checks).
 * Built by `make fuzz-services` (mk/fuzz-more.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

static void setup(void)
{
    int fd;

    snprintf(path, sizeof path, "/tmp/chatd-fuzz-services-XXXXXX");
    if ((fd = mkstemp(path)) < 0)
        abort();
    close(fd);
    atexit(remove_file);
}

static struct service_hit hits[SERVICES_HITS_MAX + 8];

static void check_hits(const struct services *s, size_t n, int full)
{
    if (n > SERVICES_HITS_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct service *svc = hits[i].service;
        if (!svc || services_find(s, svc->id) != svc)
            abort();
        if (hits[i].open_now != SERVICE_OPEN &&
            hits[i].open_now != SERVICE_CLOSED &&
            hits[i].open_now != SERVICE_HOURS_UNKNOWN)
            abort();
    }
    json_t *j = services_hits_json(hits, n, full);
    if (!j)
        abort();
    char *text = json_dumps(j, JSON_COMPACT);
    free(text);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *queries[][3] = {
        {NULL, NULL, NULL},
        {"suicide", NULL, NULL},
        {"domestic_abuse", "PR1", NULL},
        {NULL, "PR1 3AB", "line"},
        {NULL, "Lancashire", ""},
        {"", "SW1A", "HELP"},
        {"no_such_category", "M", "a"},
    };
    /* Mon 2026-11-23 10:00 UTC and a Sunday night in summer time. */
    static const time_t times[] = {1795428000, 1783288800};
    char err[512];
    FILE *fp;

    if (!path[0])
        setup();
    if (!(fp = fopen(path, "wb")))
        abort();
    if (size && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);

    err[0] = '\0';
    struct services *s = services_load(path, err, sizeof err);
    if (!s) {
        if (!err[0] || !memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    size_t count = services_count(s);
    if (count > SERVICES_MAX)
        abort();
    for (size_t i = 0; i < count; i++) {
        const struct service *svc = services_get(s, i);
        if (!svc || !svc->id || services_find(s, svc->id) != svc)
            abort();
        (void)service_open_now(svc, times[0]);
        json_t *card = service_card_json(svc);
        if (!card)
            abort();
        json_decref(card);
    }
    for (size_t t = 0; t < sizeof times / sizeof *times; t++)
        for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
            size_t n =
                services_search(s, queries[q][0], queries[q][1], queries[q][2],
                                times[t], hits, sizeof hits / sizeof *hits);
            check_hits(s, n, (int)(q & 1));
        }
    const char *cats[] = {"suicide", "self_harm", "domestic_abuse", "bogus"};
    size_t n = services_suggest(s, cats, 4, "PR1", times[0], hits,
                                sizeof hits / sizeof *hits);
    check_hits(s, n, 0);
    n = services_suggest(s, cats, 4, NULL, times[1], hits, 3);
    if (n > 3)
        abort();
    check_hits(s, n, 0);
    services_free(s);
    return 0;
}
