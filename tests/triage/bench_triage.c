/*
 * bench_triage.c - `make bench-triage`: microseconds per message.
 *
 * Owns: main() only.  Builds ~100-byte messages from the corpus texts
 * (joining short rows, cutting long ones at a word), warms up, then times
 * every triage_run() call with CLOCK_MONOTONIC and prints the median and
 * p99.  A benchmark, not a test: it always exits 0 when it can run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "triage.h"

#define BENCH_MSG_BYTES 100    /* target message length, bytes */
#define BENCH_MAX_MSGS  2048   /* messages built from the corpus */
#define BENCH_RUNS      300000 /* timed triage_run calls */
#define BENCH_LINE      8192   /* bytes of one corpus row */

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
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
    for (size_t i = 0; i < runs; i++) {
        const char *m = msgs[i % nmsg];
        size_t n = strlen(m);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        triage_run(rules, ctx, m, n, &r);
        clock_gettime(CLOCK_MONOTONIC, &b);
        us[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 +
                (double)(b.tv_nsec - a.tv_nsec) / 1e3;
    }
    qsort(us, runs, sizeof *us, cmp);
    printf("bench-triage: %zu messages, mean %.0f bytes, %zu runs, full rule "
           "set\n",
           nmsg, (double)bytes / nmsg, runs);
    printf("median %.2f us/msg  p99 %.2f us/msg  (target median <= 1.5)\n",
           us[runs / 2], us[runs * 99 / 100]);
    free(us);
    triage_ctx_free(ctx);
    triage_free(rules);
    return 0;
}
