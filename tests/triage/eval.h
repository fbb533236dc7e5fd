/*
 * eval.h - score the triage engine against tests/triage/corpus.tsv.
 *
 * Owns: the corpus reader and the figures `make triage-eval` prints.
 * Called by triage_eval.c and test_triage.c.
 */
#ifndef TRIAGE_EVAL_H
#define TRIAGE_EVAL_H

#include <stdio.h>

#include "triage.h"

struct eval_stats {
    unsigned rows;
    unsigned emerg_need, emerg_hit; /* rows whose min is emergency */
    unsigned high_need, high_hit;   /* rows whose min is >= high */
    unsigned benign, false_alarm;   /* rows whose max <= low; scored above */
    unsigned in_range;              /* min <= severity <= max */
    unsigned cat_rows, cat_hit;     /* rows naming categories; all found */
    unsigned errors;                /* triage_run returned -1 */
};

/* Targets of issue #3. */
#define EVAL_EMERGENCY_RECALL 0.98
#define EVAL_HIGH_RECALL      0.98
#define EVAL_FALSE_ALARMS     0.01
#define EVAL_CATEGORY_HIT     0.95

/* Scores every row; rows whose id starts with 'h' (held out, written
 * before the rules were tuned) also go to held.  Rows outside their range
 * are described on misses when it is not NULL.  Returns -1 if the corpus
 * cannot be read or a row is malformed (message on stderr). */
int eval_corpus(const struct triage_rules *rules, const char *path,
                struct eval_stats *all, struct eval_stats *held, FILE *misses);
void eval_print(FILE *f, const char *name, const struct eval_stats *s);
/* 1 if s meets every target. */
int eval_ok(const struct eval_stats *s);

#endif
