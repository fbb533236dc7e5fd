/*
 * eval.c - score the triage engine against the labelled corpus.
 *
 * Owns: reading corpus.tsv (id, min_severity, max_severity, categories,
 * text; '#' lines and the header are skipped) and the figures of issue #3:
 * emergency recall, >= high recall, false alarms on benign rows, in-range
 * rate and category hit rate.  Called by triage_eval.c and test_triage.c.
 */
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "triage_int.h"

#define EVAL_LINE 8192 /* bytes of one corpus row */

static double ratio(unsigned a, unsigned b)
{
    return b ? (double)a / b : 1.0;
}

static int has_category(const struct triage_result *r, const char *c, size_t n)
{
    for (unsigned i = 0; i < r->ncategories; i++)
        if (strlen(r->categories[i]) == n &&
            memcmp(r->categories[i], c, n) == 0)
            return 1;
    return 0;
}

static void score(struct eval_stats *s, int lo, int hi, const char *cats,
                  const struct triage_result *r, int rc, int *cat_ok)
{
    int sev = (int)r->severity;
    s->rows++;
    s->errors += rc != 0;
    if (lo == TRIAGE_EMERGENCY) {
        s->emerg_need++;
        s->emerg_hit += sev == TRIAGE_EMERGENCY;
    }
    if (lo >= TRIAGE_HIGH) {
        s->high_need++;
        s->high_hit += sev >= TRIAGE_HIGH;
    }
    if (hi <= TRIAGE_LOW) {
        s->benign++;
        s->false_alarm += sev > hi;
    }
    s->in_range += sev >= lo && sev <= hi;
    *cat_ok = 1;
    if (*cats) {
        s->cat_rows++;
        for (const char *p = cats; *p;) {
            size_t n = strcspn(p, ",");
            if (n && !has_category(r, p, n))
                *cat_ok = 0;
            p += n;
            if (*p == ',')
                p++;
        }
        s->cat_hit += *cat_ok;
    }
}

int eval_corpus(const struct triage_rules *rules, const char *path,
                struct eval_stats *all, struct eval_stats *held, FILE *misses)
{
    memset(all, 0, sizeof *all);
    memset(held, 0, sizeof *held);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    struct triage_ctx *ctx = triage_ctx_new();
    char *line = malloc(EVAL_LINE);
    int rc = -1;
    unsigned lineno = 0;
    if (!ctx || !line)
        goto out;
    while (fgets(line, EVAL_LINE, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#' || strncmp(line, "id\t", 3) == 0)
            continue;
        char *field[5];
        char *p = line;
        int k;
        for (k = 0; k < 4; k++) {
            field[k] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        field[4] = p;
        int lo = k == 4 ? triage_severity_parse(field[1]) : -1;
        int hi = k == 4 ? triage_severity_parse(field[2]) : -1;
        if (k < 4 || lo < 0 || hi < lo) {
            fprintf(stderr, "%s:%u: malformed row\n", path, lineno);
            goto out;
        }
        struct triage_result r;
        int trc = triage_run(rules, ctx, field[4], strlen(field[4]), &r);
        int cat_ok;
        score(all, lo, hi, field[3], &r, trc, &cat_ok);
        if (field[0][0] == 'h')
            score(held, lo, hi, field[3], &r, trc, &cat_ok);
        int sev = (int)r.severity;
        if (misses && (sev < lo || sev > hi || !cat_ok)) {
            fprintf(misses, "MISS %s want %s..%s [%s] got %s [", field[0],
                    field[1], field[2], field[3],
                    triage_severity_name(r.severity));
            for (unsigned i = 0; i < r.ncategories; i++)
                fprintf(misses, "%s%s", i ? "," : "", r.categories[i]);
            fprintf(misses, "]: %s\n", field[4]);
        }
    }
    rc = 0;
out:
    free(line);
    triage_ctx_free(ctx);
    fclose(f);
    return rc;
}

void eval_print(FILE *f, const char *name, const struct eval_stats *s)
{
    fprintf(f,
            "%-9s rows %4u  emergency recall %.3f (%u/%u)  >=high recall "
            "%.3f (%u/%u)  false alarms %.3f (%u/%u)  in range %.3f  "
            "category hit %.3f (%u/%u)  errors %u\n",
            name, s->rows, ratio(s->emerg_hit, s->emerg_need), s->emerg_hit,
            s->emerg_need, ratio(s->high_hit, s->high_need), s->high_hit,
            s->high_need, s->benign ? (double)s->false_alarm / s->benign : 0.0,
            s->false_alarm, s->benign, ratio(s->in_range, s->rows),
            ratio(s->cat_hit, s->cat_rows), s->cat_hit, s->cat_rows, s->errors);
}

int eval_ok(const struct eval_stats *s)
{
    double fa = s->benign ? (double)s->false_alarm / s->benign : 0.0;
    return ratio(s->emerg_hit, s->emerg_need) >= EVAL_EMERGENCY_RECALL &&
           ratio(s->high_hit, s->high_need) >= EVAL_HIGH_RECALL &&
           fa <= EVAL_FALSE_ALARMS &&
           ratio(s->cat_hit, s->cat_rows) >= EVAL_CATEGORY_HIT &&
           s->errors == 0;
}
