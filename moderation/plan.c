/*
 * plan.c - lay a loaded rule set out for the message path.
 *
 * Owns: tr_plan_build() and tr_plan_free(): the scan automaton over every
 * matcher that starts at word starts (scan.c builds it from the list made
 * here), and the evaluation plan triage.c walks for each cue the scan
 * reports.  Promises: the plan holds nothing the rule set does not (every
 * entry is a copy of a field of a rule, pattern or trie, or an index), so
 * triage.c decides the same with it as without; it is built once, after
 * every pattern's DFA and component are known, and read only; its size is
 * linear in the rule set's, but for the flattened phrase lists, which are
 * capped (TR_PLAN_MAX_ENTRIES) and left out beyond that.  Called by
 * triage_load() (rules.c) and triage_free().
 *
 * Why: a cue's rules were found through its phrase, then the phrases it
 * implies, then each rule's pattern arrays, their DFAs and the
 * category's escalators, each a separate allocation; between two messages
 * the scan automaton's table pushes them out of cache, so evaluating a
 * cue cost a cache miss at every step.  The plan keeps what the common
 * path reads in four small arrays: per phrase, the rules a report of it
 * evaluates (its own, then those of each phrase it implies, in the order
 * they were evaluated); per rule, its severities, names and the range of
 * its checks; per check, its window, component and DFA depth.
 */
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

/* The scan automaton: every trie with a DFA and every regex DFA whose
 * matches start at word starts, run as one from each word start (scan.c).
 * Without it (too large) each runs alone; the answers are the same. */
struct scan_list {
    const struct tr_dfa *dfa[TR_SCAN_MAX_COMPS];
    int trie[TR_SCAN_MAX_COMPS];
    int *comp[TR_SCAN_MAX_COMPS];
    unsigned n;
};

static void scan_add(struct scan_list *s, const struct tr_dfa *d, int trie,
                     int *comp)
{
    if (!d || s->n == TR_SCAN_MAX_COMPS || (!trie && !tr_dfa_wordstarts(d)))
        return;
    s->dfa[s->n] = d;
    s->trie[s->n] = trie;
    s->comp[s->n++] = comp;
}

static void scan_build(struct triage_rules *r)
{
    struct scan_list *s = calloc(1, sizeof *s);
    if (!s)
        return;
    for (unsigned i = 0; i < r->ncues; i++)
        scan_add(s, r->cuetrie[i]->dfa, 1, &r->cuetrie[i]->scomp);
    for (int k = 0; k < CTX_COUNT; k++)
        if (r->context_trie[k])
            scan_add(s, r->context_trie[k]->dfa, 1, &r->context_trie[k]->scomp);
    if (r->stop_trie)
        scan_add(s, r->stop_trie->dfa, 1, &r->stop_trie->scomp);
    for (unsigned i = 0; i < r->nrules + r->ncategories; i++) {
        struct tr_pattern *v[3];
        unsigned nv[3] = {0, 0, 0};
        if (i < r->nrules) {
            struct tr_rule *ru = &r->rules[i];
            v[0] = ru->require, nv[0] = ru->nrequire;
            v[1] = ru->except, nv[1] = ru->nexcept;
            v[2] = ru->escalate, nv[2] = ru->nescalate;
        } else {
            struct tr_category *c = &r->categories[i - r->nrules];
            v[0] = c->escalate, nv[0] = c->nescalate;
        }
        for (int k = 0; k < 3; k++)
            for (unsigned j = 0; j < nv[k]; j++)
                scan_add(s, v[k][j].dfa, 0, &v[k][j].scomp);
    }
    r->scan = tr_scan_build(s->dfa, s->trie, s->n);
    for (unsigned i = 0; r->scan && i < s->n; i++)
        *s->comp[i] = (int)i;
    free(s);
}

static void op_set(struct tr_op *op, const struct tr_pattern *p)
{
    *op = (struct tr_op){
        .p = p,
        .dfa = p->dfa,
        .sum = p->dfa ? tr_dfa_summary(p->dfa) : (struct tr_dfa_sum){0, 1},
        .scomp = p->scomp,
        .near = p->near,
        .severity = (uint8_t)p->severity,
        .memo = p->near == 0 && p->id < MEMO_PATTERNS,
    };
}

static void ops_add(struct tr_op *ops, unsigned *n, const struct tr_pattern *v,
                    unsigned nv)
{
    for (unsigned i = 0; i < nv; i++)
        op_set(&ops[(*n)++], &v[i]);
}

/* Per phrase, its rules and then those of each phrase it implies; left
 * out (off NULL) when that would exceed TR_PLAN_MAX_ENTRIES, and
 * triage.c walks the phrases instead. */
static int phrase_lists(struct triage_rules *r)
{
    struct tr_plan *pl = &r->plan;
    size_t total = 0;
    for (unsigned i = 0; i < r->nphrases; i++) {
        const struct tr_phrase *ph = &r->phrases[i];
        total += ph->nrules;
        for (unsigned k = 0; k < ph->nimplied; k++)
            total += r->phrases[ph->implied[k]].nrules;
        if (total > TR_PLAN_MAX_ENTRIES)
            return 0;
    }
    pl->off = malloc(((size_t)r->nphrases + 1) * sizeof *pl->off);
    pl->rule = malloc((total ? total : 1) * sizeof *pl->rule);
    if (!pl->off || !pl->rule)
        return -1;
    size_t n = 0;
    for (unsigned i = 0; i < r->nphrases; i++) {
        const struct tr_phrase *ph = &r->phrases[i];
        pl->off[i] = (uint32_t)n;
        for (unsigned k = 0; k <= ph->nimplied; k++) {
            const struct tr_phrase *q =
                k ? &r->phrases[ph->implied[k - 1]] : ph;
            if (n + q->nrules > total)
                return -1; /* cannot happen: counted above */
            memcpy(pl->rule + n, q->rules, q->nrules * sizeof *q->rules);
            n += q->nrules;
        }
    }
    pl->off[r->nphrases] = (uint32_t)n;
    return 0;
}

int tr_plan_build(struct triage_rules *r)
{
    struct tr_plan *pl = &r->plan;
    scan_build(r);
    for (int k = 0; k <= CTX_COUNT; k++) {
        const struct tr_trie *t =
            k < CTX_COUNT ? r->context_trie[k] : r->stop_trie;
        pl->trig[k].comp = t && t->dfa ? t->scomp : -1;
        pl->trig[k].dfa = t ? t->dfa : NULL;
    }
    pl->prule = calloc(r->nrules ? r->nrules : 1, sizeof *pl->prule);
    pl->op = calloc(r->npatterns ? r->npatterns : 1, sizeof *pl->op);
    if (!pl->prule || !pl->op)
        goto fail;
    unsigned n = 0;
    /* a category's escalators once, shared by its rules */
    unsigned *catop =
        calloc(r->ncategories ? r->ncategories : 1, sizeof *catop);
    if (!catop)
        goto fail;
    for (unsigned i = 0; i < r->ncategories; i++) {
        const struct tr_category *c = &r->categories[i];
        if (n + c->nescalate > r->npatterns)
            goto fail_cat; /* cannot happen: every pattern has an id */
        catop[i] = n;
        ops_add(pl->op, &n, c->escalate, c->nescalate);
    }
    for (unsigned i = 0; i < r->nrules; i++) {
        const struct tr_rule *ru = &r->rules[i];
        const struct tr_category *c = &r->categories[ru->category];
        struct tr_prule *pr = &pl->prule[i];
        if (n + ru->nrequire + ru->nexcept + ru->nescalate > r->npatterns)
            goto fail_cat;
        *pr = (struct tr_prule){
            .name = ru->name,
            .category = c->name,
            .op = n,
            .nrequire = ru->nrequire,
            .nexcept = ru->nexcept,
            .nescalate = ru->nescalate,
            .catop = catop[ru->category],
            .ncatop = ru->noescalate ? 0 : c->nescalate,
            .ctx_mask = ru->ctx_mask,
            .severity = (uint8_t)ru->severity,
            .maxsev = (uint8_t)ru->maxsev,
        };
        ops_add(pl->op, &n, ru->require, ru->nrequire);
        ops_add(pl->op, &n, ru->except, ru->nexcept);
        ops_add(pl->op, &n, ru->escalate, ru->nescalate);
    }
    free(catop);
    return phrase_lists(r);
fail_cat:
    free(catop);
fail:
    return -1;
}

void tr_plan_free(struct triage_rules *r)
{
    tr_scan_free(r->scan);
    r->scan = NULL;
    free(r->plan.off);
    free(r->plan.rule);
    free(r->plan.prule);
    free(r->plan.op);
    memset(&r->plan, 0, sizeof r->plan);
}
