/*
 * triage_eval.c - `make triage-eval`: the corpus figures of issue #3.
 *
 * Owns: main() only.  Prints the figures for all rows and for the held-out
 * rows (id prefix "h"), then each row outside its range when -v is given
 * or TRIAGE_EVAL_VERBOSE is set.  Exits 1 when the figures for all rows
 * miss a target.
 */
#include <stdlib.h>
#include <string.h>

#include "eval.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "moderation/rules";
    const char *corpus = argc > 2 ? argv[2] : "tests/triage/corpus.tsv";
    int verbose = getenv("TRIAGE_EVAL_VERBOSE") != NULL ||
                  (argc > 3 && strcmp(argv[3], "-v") == 0);
    char err[512];
    struct triage_rules *rules = triage_load(dir, err, sizeof err);
    if (!rules) {
        fprintf(stderr, "triage-eval: %s\n", err);
        return 2;
    }
    struct eval_stats all, held;
    int rc = eval_corpus(rules, corpus, &all, &held, verbose ? stdout : NULL);
    triage_free(rules);
    if (rc < 0)
        return 2;
    printf("targets: emergency recall >= %.2f, >=high recall >= %.2f, "
           "false alarms <= %.2f, category hit >= %.2f\n",
           EVAL_EMERGENCY_RECALL, EVAL_HIGH_RECALL, EVAL_FALSE_ALARMS,
           EVAL_CATEGORY_HIT);
    eval_print(stdout, "all", &all);
    eval_print(stdout, "held-out", &held);
    int ok = eval_ok(&all);
    printf("all rows: %s; held-out: %s\n", ok ? "targets met" : "UNDER TARGET",
           eval_ok(&held) ? "targets met" : "under target");
    return ok ? 0 : 1;
}
