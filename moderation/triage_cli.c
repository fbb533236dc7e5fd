/*
 * triage_cli.c - `chatd triage [--rules DIR] [--explain]`.
 *
 * Owns: the command-line face of the triage engine.  Promises: reads stdin
 * one message per line and prints exactly one JSON object per input line
 * (jansson), flushing each, so it can sit in a pipe; with --explain each
 * object also says which rules fired, what escalated them and what context
 * lowered them.  Called by chatd's main for the `triage` subcommand and by
 * tests/triage/triage_main.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

#define ERR_LEN 512 /* bytes of a rule-load error message */

static void usage(FILE *f)
{
    fprintf(f, "usage: chatd triage [--rules DIR] [--explain]\n"
               "  reads one message per line on stdin, prints one JSON "
               "object per line\n");
}

/* jansson refuses invalid UTF-8; a span cut mid-character is widened. */
static json_t *text_json(const char *s, size_t a, size_t b, size_t len)
{
    while (a > 0 && ((unsigned char)s[a] & 0xC0) == 0x80)
        a--;
    while (b < len && ((unsigned char)s[b] & 0xC0) == 0x80)
        b++;
    json_t *j = json_stringn(s + a, b - a);
    return j ? j : json_string("");
}

static json_t *line_json(const struct triage_rules *rules,
                         struct triage_ctx *ctx, const char *line, size_t len,
                         int explain)
{
    struct triage_result res;
    int rc = triage_run(rules, ctx, line, len, &res);
    json_t *o = json_object();
    json_t *cats = json_array(), *matches = json_array();
    if (!o || !cats || !matches)
        goto fail;
    json_object_set_new(o, "severity",
                        json_string(triage_severity_name(res.severity)));
    for (unsigned i = 0; i < res.ncategories; i++)
        json_array_append_new(cats, json_string(res.categories[i]));
    json_object_set_new(o, "categories", cats);
    cats = NULL;
    unsigned n = 0;
    const struct triage_hit *h = rc == 0 ? triage_last_hits(ctx, &n) : NULL;
    for (unsigned i = 0; i < n; i++) {
        json_t *m =
            json_pack("{s:s, s:s, s:I, s:I}", "category", h[i].category, "rule",
                      h[i].rule, "start", (json_int_t)h[i].start, "end",
                      (json_int_t)h[i].end);
        if (!m)
            goto fail;
        json_object_set_new(m, "text",
                            text_json(line, h[i].start, h[i].end, len));
        json_array_append_new(matches, m);
    }
    json_object_set_new(o, "matches", matches);
    matches = NULL;
    if (explain) {
        json_t *ex = json_array();
        if (!ex)
            goto fail;
        for (unsigned i = 0; i < n; i++) {
            json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "rule", h[i].rule,
                                  "category", h[i].category, "base",
                                  triage_severity_name(h[i].base), "severity",
                                  triage_severity_name(h[i].severity));
            if (!e)
                continue;
            if (h[i].escalator) {
                json_object_set_new(e, "escalated_by",
                                    json_string(h[i].escalator));
                json_object_set_new(
                    e, "escalator_text",
                    text_json(line, h[i].esc_start, h[i].esc_end, len));
            }
            if (h[i].context)
                json_object_set_new(e, "lowered_by", json_string(h[i].context));
            json_array_append_new(ex, e);
        }
        if (rc != 0)
            json_object_set_new(o, "error",
                                json_string("could not triage: limit or "
                                            "error; marked for a human"));
        json_object_set_new(o, "explain", ex);
    }
    return o;
fail:
    json_decref(o);
    json_decref(cats);
    json_decref(matches);
    return NULL;
}

int triage_cli(int argc, char **argv, const char *default_rules_dir)
{
    const char *dir = default_rules_dir;
    int explain = 0;
    int i = 1;
    if (argc > 1 && strcmp(argv[1], "triage") == 0)
        i = 2; /* called with the whole command line */
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--rules=", 8) == 0) {
            dir = argv[i] + 8;
        } else if (strcmp(argv[i], "--explain") == 0) {
            explain = 1;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    char err[ERR_LEN];
    struct triage_rules *rules = triage_load(dir, err, sizeof err);
    if (!rules) {
        fprintf(stderr, "chatd triage: %s\n", err);
        return 1;
    }
    struct triage_ctx *ctx = triage_ctx_new();
    char *line = NULL;
    size_t cap = 0;
    int status = 0;
    if (!ctx) {
        fprintf(stderr, "chatd triage: out of memory\n");
        status = 1;
        goto out;
    }
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        json_t *o = line_json(rules, ctx, line, len, explain);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) {
            fputs(s, stdout);
        } else { /* never drop a line: a human must look */
            fputs("{\"severity\":\"medium\",\"categories\":"
                  "[\"triage_error\"],\"matches\":[]}",
                  stdout);
        }
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
        json_decref(o);
    }
out:
    free(line);
    triage_ctx_free(ctx);
    triage_free(rules);
    return status;
}
