/*
 * triage.c - decide the severity and categories of one message.
 *
 * Owns: triage_run(), the per-thread triage_ctx, severity names and the
 * latch chatd uses for a conversation.  Promises: no allocation on the
 * message path (normalised text, match data and hits live in the ctx);
 * any PCRE2 error or limit gives TRIAGE_MEDIUM "triage_error" and -1,
 * never a silent none; context (negation, reassurance, third party, past,
 * hypothetical) lowers a rule by one step at most, so an emergency cue
 * never ends below high.  Called by chatd for every parent message and by
 * triage_cli.c.
 *
 * How a message is decided: the normalised text is scanned once with the
 * trie of every cue phrase.  For each cue found, each rule using that cue
 * checks its require patterns (must match), its exceptions (an idiom
 * overlapping the cue, "bath bomb"), its escalators (means, plan, timing,
 * goodbyes raise it) and then the context in the eight words before the
 * cue (NegEx: a trigger whose scope reaches the cue without a "but").
 * The rules of a cue and their checks are read from the evaluation plan
 * (plan.c), and a check is answered from what the scan automaton recorded
 * (scan.c): most match nowhere in the message, which one look at its
 * component's bits tells.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

static const char *const sev_names[] = {"none", "low", "medium", "high",
                                        "emergency"};

const char *triage_severity_name(enum triage_severity s)
{
    if ((int)s < TRIAGE_NONE || s > TRIAGE_EMERGENCY)
        return "none";
    return sev_names[s];
}

enum triage_severity triage_latch(enum triage_severity conversation,
                                  enum triage_severity message)
{
    return message > conversation ? message : conversation;
}

struct triage_ctx *triage_ctx_new(void)
{
    struct triage_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    if (tr_norm_alloc(&ctx->form[0]) < 0 || tr_norm_alloc(&ctx->form[1]) < 0 ||
        tr_norm_alloc(&ctx->scratch) < 0)
        goto fail;
    for (int i = 0; i < 2; i++) {
        ctx->scan[i].e = malloc(TR_SCAN_ENTRIES * sizeof *ctx->scan[i].e);
        if (!ctx->scan[i].e)
            goto fail;
    }
    ctx->md = pcre2_match_data_create(OVECTOR_PAIRS, NULL);
    ctx->mctx = pcre2_match_context_create(NULL);
    if (!ctx->md || !ctx->mctx)
        goto fail;
    pcre2_set_match_limit(ctx->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(ctx->mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(ctx->mctx, HEAP_LIMIT);
    return ctx;
fail:
    triage_ctx_free(ctx);
    return NULL;
}

void triage_ctx_free(struct triage_ctx *ctx)
{
    if (!ctx)
        return;
    tr_norm_free(&ctx->form[0]);
    tr_norm_free(&ctx->form[1]);
    tr_norm_free(&ctx->scratch);
    for (int i = 0; i < 2; i++)
        free(ctx->scan[i].e);
    pcre2_match_data_free(ctx->md);
    pcre2_match_context_free(ctx->mctx);
    free(ctx);
}

void triage_ctx_set_match_limit(struct triage_ctx *ctx, uint32_t limit)
{
    if (ctx && ctx->mctx)
        pcre2_set_match_limit(ctx->mctx, limit);
}

const struct triage_hit *triage_last_hits(const struct triage_ctx *ctx,
                                          unsigned *n)
{
    *n = ctx ? ctx->nhits : 0;
    return ctx ? ctx->hits : NULL;
}

/* ---- matching helpers ------------------------------------------------- */

/* What the scan automaton recorded for form f (the text, or its second
 * form). */
static const struct tr_scanres *scan_of(const struct triage_ctx *ctx,
                                        const struct norm *f)
{
    return &ctx->scan[f == &ctx->form[1]];
}

/* \w for a byte below 0x7f. */
static int ascii_word(unsigned c)
{
    return (c | 0x20) - 'a' < 26u || c - '0' < 10u || c == '_';
}

/* 1 match (span in *ms, *me), 0 none, -1 error or limit. */
static int find(struct triage_ctx *ctx, const pcre2_code *re,
                const struct norm *f, size_t from, size_t to, size_t *ms,
                size_t *me)
{
    /* normalised text is valid UTF-8 by construction (normalise.c) */
    int rc = pcre2_match(re, (PCRE2_SPTR)f->s, to, from, PCRE2_NO_UTF_CHECK,
                         ctx->md, ctx->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

struct wordarg {
    const struct triage_rules *r;
    struct triage_ctx *ctx;
};

/* PCRE2's UCP \w for a character outside ASCII (rare in normalised text). */
static int word_ucp(void *arg, const char *s, size_t end, size_t p)
{
    const struct wordarg *w = arg;
    int rc = pcre2_match(w->r->word, (PCRE2_SPTR)s, end, p, PCRE2_NO_UTF_CHECK,
                         w->ctx->md, w->ctx->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return rc < 0 ? -1 : 1;
}

/* find() for a phrase trie matched in C: the same answer as its regex. */
static int find_trie(const struct triage_rules *r, struct triage_ctx *ctx,
                     const struct tr_trie *t, const struct norm *f, size_t from,
                     size_t to, size_t *ms, size_t *me, uint32_t *id)
{
    uint32_t dummy;
    if (ctx->fast && t->dfa) {
        const struct tr_scanres *res = scan_of(ctx, f);
        if (t->scomp >= 0 && res->ok)
            return tr_scan_find(res, (unsigned)t->scomp, t->dfa, f->s, f->len,
                                from, to, f->wstart, ms, me, id ? id : &dummy,
                                &ctx->trie_budget);
        return tr_dfa_find(t->dfa, f->s, to, from, f->wstart, f->nwstart, ms,
                           me, id ? id : &dummy, &ctx->trie_budget);
    }
    struct wordarg wa = {r, ctx};
    struct tr_wclass wc = {.word = word_ucp,
                           .arg = &wa,
                           .starts = f->wstart,
                           .nstarts = f->nwstart,
                           .budget = &ctx->trie_budget};
    return tr_trie_find(t, f->s, to, from, ms, me, id ? id : &dummy, &wc);
}

/* Index of the token containing byte off: the last token starting at or
 * before it, or 0.  Without a branch on the comparison (a conditional
 * move): which way it goes is a coin toss, twice per cue. */
static size_t tok_at(const struct norm *f, size_t off)
{
    size_t lo = 0, n = f->ntok;
    while (n > 1) {
        size_t half = n / 2;
        lo = f->tok[lo + half] <= off ? lo + half : lo;
        n -= half;
    }
    return lo;
}

/* A cue found in a form: its span and the tokens of its first and last
 * bytes, which every window around it starts from. */
struct cue {
    size_t ms, me;
    size_t ta, tb;
};

/* The end of window() alone. */
static size_t window_end(const struct norm *f, const struct cue *c,
                         unsigned near)
{
    if (near == 0 || f->ntok == 0)
        return f->len;
    size_t b = c->tb + near + 1 < f->ntok ? c->tb + near + 1 : f->ntok;
    return b < f->ntok ? f->tok[b] : f->len;
}

/* Byte window of near tokens either side of the cue; near 0 = all.  With
 * ws, also the word starts in it: ws[0, 2) = [first, last + 1). */
static void window(const struct norm *f, const struct cue *c, unsigned near,
                   size_t *from, size_t *to, size_t ws[2])
{
    if (near == 0 || f->ntok == 0) {
        *from = 0;
        *to = f->len;
        if (ws) {
            ws[0] = 0;
            ws[1] = f->nwstart;
        }
        return;
    }
    size_t a = c->ta >= near ? c->ta - near : 0;
    size_t b = c->tb + near + 1 < f->ntok ? c->tb + near + 1 : f->ntok;
    *from = f->tok[a];
    *to = b < f->ntok ? f->tok[b] : f->len;
    if (ws) { /* f->tokws[ntok] is nwstart */
        ws[0] = f->tokws[a];
        ws[1] = f->tokws[b];
    }
}

/* Index of the first word start at or after byte off. */
static size_t ws_at(const struct norm *f, size_t off)
{
    size_t lo = 0, hi = f->nwstart;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->wstart[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether p matches in [from, to) (word starts ws[0, 2)), and the leftmost
 * start: its DFA, or what the scan automaton found (ctx->fast). */
static int dfa_exists(struct triage_ctx *ctx, const struct tr_pattern *p,
                      const struct norm *f, size_t from, size_t to,
                      const size_t ws[2], size_t *at)
{
    const struct tr_scanres *res = scan_of(ctx, f);
    if (p->scomp >= 0 && res->ok) {
        struct tr_dfa_sum sum = tr_dfa_summary(p->dfa);
        return tr_scan_exists(res, (unsigned)p->scomp, p->dfa, &sum, f->s,
                              f->len, to, f->wstart, ws[0], ws[1], at,
                              &ctx->trie_budget);
    }
    return tr_dfa_exists(p->dfa, f->s, from, to, f->wstart, ws[0], ws[1], at,
                         &ctx->trie_budget);
}

/* find() for a rule-file pattern: its C trie when that gives the regex's
 * own spans (rules.c), else PCRE2. */
static int pfind(const struct triage_rules *r, struct triage_ctx *ctx,
                 const struct tr_pattern *p, const struct norm *f, size_t from,
                 size_t to, size_t *ms, size_t *me)
{
    if (ctx->fast && p->dfa) {
        /* PCRE2 finds no match before the leftmost one the DFA knows of,
         * so it starts there, and is not asked when there is none */
        size_t at, ws[2] = {ws_at(f, from), ws_at(f, to)};
        int rc = dfa_exists(ctx, p, f, from, to, ws, &at);
        if (rc <= 0)
            return rc;
        from = at;
    } else if (p->trie && p->exact) {
        return find_trie(r, ctx, p->trie, f, from, to, ms, me, NULL);
    }
    return find(ctx, p->re, f, from, to, ms, me);
}

/* Whether p matches in its window at all, from its DFA (ctx->fast). */
static int exists(struct triage_ctx *ctx, const struct tr_pattern *p,
                  const struct norm *f, const struct cue *c)
{
    size_t at, from, to, ws[2];
    if (p->near || p->id >= MEMO_PATTERNS) {
        window(f, c, p->near, &from, &to, ws);
        return dfa_exists(ctx, p, f, from, to, ws, &at);
    }
    /* near 0: the whole text, the same for every cue */
    struct tr_xmemo *m = &ctx->xmemo[f == &ctx->form[1]][p->id];
    if (m->gen != ctx->gen) {
        window(f, c, 0, &from, &to, ws);
        *m = (struct tr_xmemo){ctx->gen,
                               dfa_exists(ctx, p, f, from, to, ws, &at)};
    }
    return m->rc;
}

/* The first match of p in the whole form, once per message and form. */
static int whole(const struct triage_rules *r, struct triage_ctx *ctx,
                 const struct tr_pattern *p, const struct norm *f, size_t *a,
                 size_t *b)
{
    struct tr_memo *m =
        p->id < MEMO_PATTERNS ? &ctx->memo[f == &ctx->form[1]][p->id] : NULL;
    if (m && m->gen == ctx->gen) {
        *a = m->a;
        *b = m->b;
        return m->rc;
    }
    int rc = pfind(r, ctx, p, f, 0, f->len, a, b);
    if (rc < 0)
        return -1;
    if (m)
        *m = (struct tr_memo){ctx->gen, rc, rc ? (uint32_t)*a : 0,
                              rc ? (uint32_t)*b : 0};
    return rc;
}

/* any() once it is known that p matches in the window, or not known:
 * the match PCRE2 gives (overlapping the cue when need_overlap). */
static int any_span(const struct triage_rules *r, struct triage_ctx *ctx,
                    const struct tr_pattern *p, const struct norm *f,
                    const struct cue *c, int need_overlap, size_t *fs,
                    size_t *fe)
{
    size_t from, to, ms = c->ms, me = c->me;
    if (p->near == 0) {
        /* near 0: the window is the whole text, so the first match in it
         * is the first iteration below, the same for every cue */
        size_t a, b;
        int rc = whole(r, ctx, p, f, &a, &b);
        if (rc <= 0)
            return rc;
        if (p->near == 0 && (!need_overlap || (a < me && b > ms))) {
            *fs = a;
            *fe = b;
            return 1;
        }
    }
    window(f, c, p->near, &from, &to, NULL);
    while (from <= to) {
        size_t a, b;
        int rc = pfind(r, ctx, p, f, from, to, &a, &b);
        if (rc <= 0)
            return rc;
        if (!need_overlap || (a < me && b > ms)) {
            *fs = a;
            *fe = b;
            return 1;
        }
        from = b > a ? b : a + 1;
        /* a match could start inside another: move at least one byte */
        if (b > ms && a < ms)
            from = a + 1;
    }
    return 0;
}

/* Does any match of re in the window (overlapping the cue when need_overlap)
 * exist?  1 yes, 0 no, -1 error.  With want_span, [*fs, *fe) is the match
 * PCRE2 gives. */
static int any(const struct triage_rules *r, struct triage_ctx *ctx,
               const struct tr_pattern *p, const struct norm *f,
               const struct cue *c, int need_overlap, int want_span, size_t *fs,
               size_t *fe)
{
    if (ctx->fast && p->dfa) {
        int rc = exists(ctx, p, f, c);
        if (rc <= 0 || (!want_span && !need_overlap))
            return rc;
    } else if (p->trie && !p->exact) {
        /* the trie of its phrases says whether there is one; which one
         * (an escalator's span, an overlap) is still the regex's to say */
        size_t from, to;
        window(f, c, p->near, &from, &to, NULL);
        int rc = find_trie(r, ctx, p->trie, f, from, to, fs, fe, NULL);
        if (rc <= 0 || (!want_span && !need_overlap))
            return rc;
    }
    return any_span(r, ctx, p, f, c, need_overlap, fs, fe);
}

/* any() of a check of the plan: what the scan found in the check's window,
 * read with the plan's copies (its component, window and depth), so that
 * neither the pattern nor its DFA is read unless the answer needs them.
 * Inlined by force into rule_eval(), nine calls a message: most return
 * after one look at the scan's bits, and the call cost more than that. */
static inline __attribute__((always_inline)) int
op_any(const struct triage_rules *r, struct triage_ctx *ctx,
       const struct tr_op *op, const struct norm *f, const struct cue *c,
       int need_overlap, int want_span, size_t *fs, size_t *fe)
{
    const struct tr_scanres *res = scan_of(ctx, f);
    if (!ctx->fast || op->scomp < 0 || !res->ok || op->memo)
        return any(r, ctx, op->p, f, c, need_overlap, want_span, fs, fe);
    if (!op->sum.sepaccept) {
        /* most checks match nowhere in the message: then, as
         * tr_scan_exists() would find, none matches in a window cut at
         * the end or after a non-word byte (ASCII, as ctx->fast is) */
        size_t end = window_end(f, c, op->near);
        if (!tr_scan_anywhere(res, (unsigned)op->scomp) &&
            (end == f->len ||
             (end > 0 && !ascii_word((unsigned char)f->s[end - 1]))))
            return 0;
    }
    size_t from, to, ws[2], at;
    window(f, c, op->near, &from, &to, ws);
    int rc = tr_scan_exists(res, (unsigned)op->scomp, op->dfa, &op->sum, f->s,
                            f->len, to, f->wstart, ws[0], ws[1], &at,
                            &ctx->trie_budget);
    if (rc <= 0 || (!want_span && !need_overlap))
        return rc;
    return any_span(r, ctx, op->p, f, c, need_overlap, fs, fe);
}

/* find_trie() of context trigger trie k (CTX_COUNT: the stop words), with
 * the plan's copy of its component. */
static int trig_find(const struct triage_rules *r, struct triage_ctx *ctx,
                     int k, const struct norm *f, size_t from, size_t to,
                     size_t *ms, size_t *me)
{
    const struct tr_scanres *res = scan_of(ctx, f);
    int comp = r->plan.trig[k].comp;
    if (ctx->fast && comp >= 0 && res->ok) {
        uint32_t id;
        return tr_scan_find(res, (unsigned)comp, r->plan.trig[k].dfa, f->s,
                            f->len, from, to, f->wstart, ms, me, &id,
                            &ctx->trie_budget);
    }
    return find_trie(r, ctx, k < CTX_COUNT ? r->context_trie[k] : r->stop_trie,
                     f, from, to, ms, me, NULL);
}

/* Which context lowers a cue at ms: NegEx scope over the previous
 * CONTEXT_WINDOW tokens of the same clause, cut by a stop word.
 * Returns the context index, CTX_COUNT for none, -1 on error. */
static int context_of(const struct triage_rules *r, struct triage_ctx *ctx,
                      const struct norm *f, const struct cue *c, unsigned mask)
{
    size_t ms = c->ms;
    if (!mask || ms == 0 || f->ntok == 0)
        return CTX_COUNT;
    size_t t = c->ta;
    size_t t0 = t >= CONTEXT_WINDOW ? t - CONTEXT_WINDOW : 0;
    size_t ws = f->tok[t0];
    /* the clause: a break is only ever the separator before a token */
    for (size_t k = t + 1; k-- > t0 + 1;)
        if (f->tok[k] <= ms && f->s[f->tok[k] - 1] == '\n') {
            ws = f->tok[k];
            break;
        }
    const struct tr_scanres *res = scan_of(ctx, f);
    for (int k = 0; k < CTX_COUNT; k++) {
        if (!(mask & (1u << k)) || !r->context_trie[k])
            continue;
        /* the scan's first trigger of this kind is at or past the cue
         * (or there is none): tr_scan_find() would find none before it */
        int comp = r->plan.trig[k].comp;
        uint32_t x = comp >= 0 ? res->head[comp] : 0;
        if (ctx->fast && comp >= 0 && res->ok &&
            (!x || f->wstart[res->e[x - 1].wi] >= ms))
            continue;
        size_t from = ws;
        while (from < ms) {
            size_t a, b;
            int rc = trig_find(r, ctx, k, f, from, ms, &a, &b);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
            if (!r->stop_trie)
                return k;
            size_t sa, sb;
            rc = trig_find(r, ctx, CTX_COUNT, f, b, ms, &sa, &sb);
            if (rc < 0)
                return -1;
            if (rc == 0)
                return k; /* the trigger's scope reaches the cue */
            from = a + 1;
        }
    }
    return CTX_COUNT;
}

static void hit_add(struct triage_ctx *ctx, const struct tr_prule *pr,
                    enum triage_severity base, enum triage_severity sev,
                    const char *esc, const char *cx, uint32_t os, uint32_t oe,
                    uint32_t es, uint32_t ee)
{
    for (unsigned i = 0; i < ctx->nhits; i++) {
        struct triage_hit *h = &ctx->hits[i];
        if (h->rule == pr->name) {
            if (sev > h->severity) {
                h->base = base, h->severity = sev, h->escalator = esc;
                h->context = cx, h->start = os, h->end = oe;
                h->esc_start = es, h->esc_end = ee;
            }
            return;
        }
    }
    if (ctx->nhits >= MAX_HITS)
        return;
    ctx->hits[ctx->nhits++] = (struct triage_hit){
        .rule = pr->name,
        .category = pr->category,
        .base = base,
        .severity = sev,
        .escalator = esc,
        .context = cx,
        .start = os,
        .end = oe,
        .esc_start = es,
        .esc_end = ee,
    };
}

/* One rule on a cue, its checks read from the plan in the order of the
 * rule file: requires, excepts, the rule's escalators, its category's. */
static int rule_eval(const struct triage_rules *r, struct triage_ctx *ctx,
                     const struct norm *f, const struct tr_prule *pr,
                     const struct cue *c)
{
    size_t ms = c->ms, me = c->me;
    size_t a, b;
    const struct tr_op *op = r->plan.op + pr->op;
    for (unsigned i = 0; i < pr->nrequire; i++, op++) {
        int rc = op_any(r, ctx, op, f, c, 0, 0, &a, &b);
        if (rc <= 0)
            return rc;
    }
    for (unsigned i = 0; i < pr->nexcept; i++, op++) {
        int rc = op_any(r, ctx, op, f, c, op->near == 0, 0, &a, &b);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    enum triage_severity sev = (enum triage_severity)pr->severity;
    const char *esc = NULL;
    uint32_t es = 0, ee = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct tr_op *v = pass ? r->plan.op + pr->catop : op;
        unsigned n = pass ? pr->ncatop : pr->nescalate;
        for (unsigned i = 0; i < n; i++) {
            if (v[i].severity <= sev)
                continue;
            int rc = op_any(r, ctx, &v[i], f, c, 0, 1, &a, &b);
            if (rc < 0)
                return -1;
            if (rc) {
                sev = (enum triage_severity)v[i].severity;
                esc = v[i].p->label;
                es = f->ostart[a];
                ee = f->oend[b - 1];
            }
        }
    }
    enum triage_severity base = sev;
    /* the rules of one cue (and the phrases it implies) ask the same
     * question one after another: keep the last answer */
    struct tr_ctxmemo *cm = &ctx->ctxmemo;
    int k;
    if (cm->gen == ctx->gen && cm->f == f && cm->ms == ms &&
        cm->mask == pr->ctx_mask) {
        k = cm->k;
    } else {
        k = context_of(r, ctx, f, c, pr->ctx_mask);
        if (k < 0)
            return -1;
        *cm = (struct tr_ctxmemo){ctx->gen, f, ms, pr->ctx_mask, k};
    }
    const char *cx = NULL;
    if (k < CTX_COUNT) {
        cx = tr_context_names[k];
        if (sev > TRIAGE_LOW)
            sev = (enum triage_severity)(sev - 1); /* one step, no more */
    }
    hit_add(ctx, pr, base, sev, esc, cx, f->ostart[ms], f->oend[me - 1], es,
            ee);
    return 0;
}

/* A rule already hit at the highest severity it can reach: another hit
 * cannot change it (hit_add keeps the first of equal severity). */
static int rule_done(const struct triage_ctx *ctx, const struct tr_prule *pr)
{
    for (unsigned i = 0; i < ctx->nhits; i++)
        if (ctx->hits[i].rule == pr->name)
            return ctx->hits[i].severity >= pr->maxsev;
    return 0;
}

static int rules_eval(const struct triage_rules *r, struct triage_ctx *ctx,
                      const struct norm *f, const uint16_t *v, unsigned n,
                      const struct cue *c)
{
    for (unsigned i = 0; i < n; i++) {
        const struct tr_prule *pr = &r->plan.prule[v[i]];
        if (rule_done(ctx, pr))
            continue;
        if (rule_eval(r, ctx, f, pr, c) < 0)
            return -1;
    }
    return 0;
}

/* A report of phrase id: its rules, then those of each phrase it implies
 * (a hit on "kill myself tonight" is also one on "kill myself"), from the
 * plan's list of them when it has one. */
static int phrase_eval(const struct triage_rules *r, struct triage_ctx *ctx,
                       const struct norm *f, uint32_t id, const struct cue *c)
{
    const struct tr_plan *pl = &r->plan;
    if (pl->off)
        return rules_eval(r, ctx, f, pl->rule + pl->off[id],
                          pl->off[id + 1] - pl->off[id], c);
    const struct tr_phrase *ph = &r->phrases[id];
    if (rules_eval(r, ctx, f, ph->rules, ph->nrules, c) < 0)
        return -1;
    for (unsigned i = 0; i < ph->nimplied; i++) {
        const struct tr_phrase *q = &r->phrases[ph->implied[i]];
        if (rules_eval(r, ctx, f, q->rules, q->nrules, c) < 0)
            return -1;
    }
    return 0;
}

static int scan(const struct triage_rules *r, struct triage_ctx *ctx,
                const struct norm *f, const struct tr_trie *cues)
{
    const struct tr_scanres *res = scan_of(ctx, f);
    /* the scan automaton's reports of this trie are its matches from
     * each word start, in order: what find_trie() gives from each */
    int listed = ctx->fast && cues->dfa && cues->scomp >= 0 && res->ok;
    uint32_t x = listed ? res->head[cues->scomp] : 0;
    size_t from = 0;
    while (from < f->len) {
        size_t ms, me;
        uint32_t id;
        if (listed) {
            while (x && f->wstart[res->e[x - 1].wi] < from)
                x = res->e[x - 1].next;
            if (!x)
                break;
            ms = f->wstart[res->e[x - 1].wi];
            me = res->e[x - 1].end;
            id = res->e[x - 1].val;
        } else {
            int rc = find_trie(r, ctx, cues, f, from, f->len, &ms, &me, &id);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
        }
        if (me <= ms || id >= r->nphrases)
            return -1;
        struct cue c = {ms, me, tok_at(f, ms), tok_at(f, me - 1)};
        if (phrase_eval(r, ctx, f, id, &c) < 0)
            return -1;
        /* next word, not the match end: cues may overlap */
        size_t t = c.ta;
        from = t + 1 < f->ntok ? f->tok[t + 1] : f->len;
        if (from <= ms)
            from = me;
    }
    return 0;
}

/* The word starts of f if every byte is below 0x7f (then \w is ASCII's);
 * -1 at the first byte that is not. */
static int ascii_word_starts(struct norm *f)
{
    const unsigned char *s = (const unsigned char *)f->s;
    size_t n = 0;
    int prev = 0;
    for (size_t p = 0; p < f->len; p++) {
        unsigned c = s[p];
        if (c >= 0x7f)
            return -1;
        int w = ascii_word(c);
        if (w && !prev)
            f->wstart[n++] = (uint32_t)p;
        prev = w;
    }
    f->nwstart = n;
    return 0;
}

static void result_fail(struct triage_result *out)
{
    memset(out, 0, sizeof *out);
    out->severity = TRIAGE_MEDIUM;
    out->ncategories = 1;
    snprintf(out->categories[0], TRIAGE_CATEGORY_LEN, "triage_error");
}

static void span_add(struct triage_result *out, uint32_t s, uint32_t e)
{
    if (e <= s)
        return;
    for (unsigned i = 0; i < out->nspans; i++) {
        struct triage_span *p = &out->spans[i];
        if (s < p->end && e > p->start) { /* overlap: merge */
            if (s < p->start)
                p->start = s;
            if (e > p->end)
                p->end = e;
            return;
        }
    }
    if (out->nspans < TRIAGE_MAX_SPANS)
        out->spans[out->nspans++] = (struct triage_span){s, e};
}

static void result_build(struct triage_ctx *ctx, struct triage_result *out)
{
    memset(out, 0, sizeof *out);
    /* categories by severity, highest first; spans of the same order */
    for (int s = TRIAGE_EMERGENCY; s > TRIAGE_NONE; s--) {
        for (unsigned i = 0; i < ctx->nhits; i++) {
            const struct triage_hit *h = &ctx->hits[i];
            if ((int)h->severity != s)
                continue;
            if (h->severity > out->severity)
                out->severity = h->severity;
            span_add(out, h->start, h->end);
            if (h->escalator)
                span_add(out, h->esc_start, h->esc_end);
            unsigned c;
            for (c = 0; c < out->ncategories; c++)
                if (strcmp(out->categories[c], h->category) == 0)
                    break;
            if (c == out->ncategories && c < TRIAGE_MAX_CATEGORIES) {
                /* category ids are shorter than TRIAGE_CATEGORY_LEN
                 * (rules.c) */
                size_t n = strnlen(h->category, TRIAGE_CATEGORY_LEN - 1);
                memcpy(out->categories[c], h->category, n);
                out->categories[c][n] = '\0';
                out->ncategories++;
            }
        }
    }
}

int triage_run(const struct triage_rules *rules, struct triage_ctx *ctx,
               const char *text, size_t len, struct triage_result *out)
{
    if (!out)
        return -1;
    if (!rules || !ctx || (!text && len)) {
        result_fail(out);
        return -1;
    }
    ctx->nhits = 0;
    if (++ctx->gen == 0) { /* wrapped: no memo may look valid */
        memset(ctx->memo, 0, sizeof ctx->memo);
        memset(ctx->xmemo, 0, sizeof ctx->xmemo);
        ctx->ctxmemo.gen = 0;
        ctx->gen = 1;
    }
    if (tr_normalise(rules, ctx, text ? text : "", len) < 0)
        goto fail;
    /* C search and DFA steps alike: the corpus needs at most 4 a byte;
     * only a hostile rule file (wildcards backtracking in one word, a
     * regex that lives to the end of the text from every word) comes
     * near this */
    ctx->trie_budget =
        TRIE_STEP_LIMIT +
        TRIE_BYTE_STEPS * (uint64_t)(ctx->form[0].len + ctx->form[1].len);
    /* text of ASCII letters, digits and punctuation (nearly every message
     * once normalised) is matched by the DFAs; anything else by the C
     * search and PCRE2, which know PCRE2's Unicode \w */
    ctx->fast = !ctx->reference;
    for (int i = 0; i < 2 && ctx->fast; i++)
        if (ctx->form[i].ascii != 1 && ascii_word_starts(&ctx->form[i]) < 0)
            ctx->fast = 0;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && ctx->form[1].len == 0)
            break;
        struct norm *f = &ctx->form[i];
        if (ctx->fast && f->ascii != 1) { /* per token, its first word
                                             start (else normalise.c's) */
            size_t w = 0;
            for (size_t t = 0; t < f->ntok; t++) {
                while (w < f->nwstart && f->wstart[w] < f->tok[t])
                    w++;
                f->tokws[t] = (uint32_t)w;
            }
            f->tokws[f->ntok] = (uint32_t)f->nwstart;
        }
        int src = ctx->fast && rules->scan
                      ? tr_scan_run(rules->scan, &ctx->scan[i], f->s, f->len,
                                    f->wstart, f->nwstart, &ctx->trie_budget)
                      : -1;
        if (src == -2)
            goto fail; /* the message's steps are spent */
        ctx->scan[i].ok = src == 0;
        if (!ctx->fast) {
            struct wordarg wa = {rules, ctx};
            struct tr_wclass wc = {.word = word_ucp, .arg = &wa};
            f->nwstart = tr_word_starts(f->s, f->len, f->wstart, &wc);
            if (wc.err)
                goto fail;
        }
        for (unsigned c = 0; c < rules->ncues; c++)
            if (scan(rules, ctx, &ctx->form[i], rules->cuetrie[c]) < 0)
                goto fail;
    }
    result_build(ctx, out);
    return 0;
fail:
    result_fail(out);
    return -1;
}
