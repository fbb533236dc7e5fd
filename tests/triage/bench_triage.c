/*
 * bench_triage.c - `make bench-triage`: microseconds per message.
 *
 * Owns: main() only.  Builds ~100-byte messages from the corpus texts
 * (joining short rows, cutting long ones at a word), warms up, then times
 * every triage_run() call with CLOCK_MONOTONIC and prints the median and
 * p99.  A benchmark, not a test: it always exits 0 when it can run.
 *
 * With BENCH_TRIAGE_PHASES=1 it also times parts of triage_run() (the
 * normaliser, then the normaliser and the scan) the same way: alone, in
 * a loop of their own; in place, with the whole of triage_run() run
 * untimed between messages as it runs in chatd; and with the branch
 * predictor disturbed between messages (an untimed sort of random
 * numbers).  The bench repeats its messages, so a predictor left alone
 * learns much of them: the phases show how much of the figure that is
 * (docs/performance.md, triage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "triage_int.h"

#define BENCH_MSG_BYTES  100     /* target message length, bytes */
#define BENCH_MAX_MSGS   2048    /* messages built from the corpus */
#define BENCH_RUNS       300000  /* timed triage_run calls */
#define BENCH_LINE       8192    /* bytes of one corpus row */
#define BENCH_DISTURB_N  2000    /* random numbers sorted between messages */
#define BENCH_SCAN_STEPS 1000000 /* step budget of a phase's scan */

/* What one timed call does, and what runs untimed after it. */
enum part { PART_WHOLE, PART_NORM, PART_NORM_SCAN };
enum between { BETWEEN_NOTHING, BETWEEN_WHOLE, BETWEEN_DISTURB };

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Sorts random numbers: its branches go one way or the other at random,
 * which leaves the predictor's tables full of them. */
static void disturb(void)
{
    static int v[BENCH_DISTURB_N];
    static unsigned seed = 1;
    for (int i = 0; i < BENCH_DISTURB_N; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (int)(seed >> 8);
    }
    qsort(v, BENCH_DISTURB_N, sizeof *v, cmp_int);
}

/* The normaliser, then the scan of each form (part), as triage_run()
 * starts. */
static void run_part(const struct triage_rules *rules, struct triage_ctx *ctx,
                     enum part part, const char *m, size_t n)
{
    tr_normalise(rules, ctx, m, n);
    if (part != PART_NORM_SCAN || !rules->scan)
        return;
    ctx->trie_budget = BENCH_SCAN_STEPS;
    for (int i = 0; i < 2; i++) {
        struct norm *f = &ctx->form[i];
        if (i == 1 && f->len == 0)
            break;
        if (f->ascii == 1)
            tr_scan_run(rules->scan, &ctx->scan[i], f->s, f->len, f->wstart,
                        f->nwstart, &ctx->trie_budget);
    }
}

/* Times runs calls of part over the messages, between each and the next
 * doing between untimed; us[] gets the times, sorted. */
static void time_calls(const struct triage_rules *rules, struct triage_ctx *ctx,
                       char (*msgs)[BENCH_MSG_BYTES * 2], size_t nmsg,
                       size_t runs, double *us, enum part part,
                       enum between between)
{
    struct triage_result r;
    for (size_t i = 0; i < runs; i++) {
        const char *m = msgs[i % nmsg];
        size_t n = strlen(m);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (part == PART_WHOLE)
            triage_run(rules, ctx, m, n, &r);
        else
            run_part(rules, ctx, part, m, n);
        clock_gettime(CLOCK_MONOTONIC, &b);
        us[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 +
                (double)(b.tv_nsec - a.tv_nsec) / 1e3;
        if (between == BETWEEN_WHOLE)
            triage_run(rules, ctx, m, n, &r);
        else if (between == BETWEEN_DISTURB)
            disturb();
    }
    qsort(us, runs, sizeof *us, cmp);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "moderation/rules";
    const char *corpus = argc > 2 ? argv[2] : "tests/triage/corpus.tsv";
    char err[512];
    struct triage_rules *rules = triage_load(dir, err, sizeof err);
    if (!rules) {
        fprintf(stderr, "bench-triage: %s\n", err);
        return 2;
    }
    FILE *f = fopen(corpus, "r");
    if (!f) {
        perror(corpus);
        return 2;
    }
    static char msgs[BENCH_MAX_MSGS][BENCH_MSG_BYTES * 2];
    size_t nmsg = 0, cur = 0;
    char line[BENCH_LINE];
    while (nmsg < BENCH_MAX_MSGS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || strncmp(line, "id\t", 3) == 0)
            continue;
        char *text = line;
        for (int k = 0; k < 4 && text; k++) {
            text = strchr(text, '\t');
            text = text ? text + 1 : NULL;
        }
        if (!text)
            continue;
        char *m = msgs[nmsg];
        size_t tl = strlen(text);
        if (cur + tl + 2 >= sizeof msgs[0])
            tl = sizeof msgs[0] - cur - 2;
        if (cur)
            m[cur++] = ' ';
        memcpy(m + cur, text, tl);
        cur += tl;
        m[cur] = '\0';
        if (cur >= BENCH_MSG_BYTES - 10) {
            nmsg++;
            cur = 0;
        }
    }
    fclose(f);
    if (nmsg == 0) {
        fprintf(stderr, "bench-triage: no messages\n");
        return 2;
    }
    /* BENCH_TRIAGE_RUNS: fewer timed calls (valgrind --tool=callgrind) */
    const char *env = getenv("BENCH_TRIAGE_RUNS");
    size_t runs = env && atol(env) > 0 ? (size_t)atol(env) : BENCH_RUNS;
    struct triage_ctx *ctx = triage_ctx_new();
    double *us = malloc(runs * sizeof *us);
    if (!ctx || !us)
        return 2;
    size_t bytes = 0;
    for (size_t i = 0; i < nmsg; i++)
        bytes += strlen(msgs[i]);
    struct triage_result r;
    for (size_t i = 0; i < nmsg * 10; i++) /* warm-up: JIT, caches */
        triage_run(rules, ctx, msgs[i % nmsg], strlen(msgs[i % nmsg]), &r);
    time_calls(rules, ctx, msgs, nmsg, runs, us, PART_WHOLE, BETWEEN_NOTHING);
    printf("bench-triage: %zu messages, mean %.0f bytes, %zu runs, full rule "
           "set\n",
           nmsg, (double)bytes / nmsg, runs);
    printf("median %.2f us/msg  p99 %.2f us/msg  (target median <= 1.5)\n",
           us[runs / 2], us[runs * 99 / 100]);
    const char *ph = getenv("BENCH_TRIAGE_PHASES");
    if (ph && strcmp(ph, "1") == 0) {
        static const struct {
            const char *name;
            enum part part;
            enum between between;
        } phase[] = {
            {"normalise, alone", PART_NORM, BETWEEN_NOTHING},
            {"normalise, in place", PART_NORM, BETWEEN_WHOLE},
            {"normalise, predictor disturbed", PART_NORM, BETWEEN_DISTURB},
            {"normalise + scan, alone", PART_NORM_SCAN, BETWEEN_NOTHING},
            {"normalise + scan, in place", PART_NORM_SCAN, BETWEEN_WHOLE},
            {"normalise + scan, predictor disturbed", PART_NORM_SCAN,
             BETWEEN_DISTURB},
            {"whole, predictor disturbed", PART_WHOLE, BETWEEN_DISTURB},
        };
        for (size_t k = 0; k < sizeof phase / sizeof phase[0]; k++) {
            time_calls(rules, ctx, msgs, nmsg, runs, us, phase[k].part,
                       phase[k].between);
            printf("phase %-38s median %.2f us/msg  p99 %.2f\n", phase[k].name,
                   us[runs / 2], us[runs * 99 / 100]);
        }
    }
    free(us);
    triage_ctx_free(ctx);
    triage_free(rules);
    return 0;
}
