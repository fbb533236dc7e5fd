/*
 * dfa.c - the tries and regexes of a rule set as deterministic automata.
 *
 * Owns: tr_dfa_trie() (a trie's search as a DFA), tr_dfa_regex() (whether
 * a rule-file regex matches, as a DFA) and the functions that run them.
 * Promises: on normalised text of ASCII bytes below 0x7f (what
 * triage_run() checks before it uses them), tr_dfa_find() gives exactly
 * what tr_trie_find() gives, and tr_dfa_exists() says whether PCRE2 would
 * find a match, and where the leftmost one starts; both read each byte at
 * most once per start and never backtrack.  Building is bounded
 * (DFA_MAX_STATES, DFA_MAX_NFA): past a bound, or for syntax outside the
 * subset below, the builder returns NULL and the caller keeps the C search
 * or PCRE2.  Called by rules.c when it loads a rule set and by triage.c
 * for every message; scan.c builds the one automaton over every component
 * that starts at a word start from these DFAs (dfa_int.h).
 *
 * A trie's DFA reproduces the backtracking order of trie.c's search(): a
 * state is the ordered list of the search's pending alternatives after
 * the bytes read so far ("enter node n", "inside the \w* of node n"),
 * highest priority first, and which kind of byte came last (for \b).  On
 * each byte the list is expanded in that order; the first phrase that
 * ends at a \b is reported and every alternative after it dropped, as a
 * backtracking search that finds it would never try them (leftmost-first,
 * as RE2's DFA does).  A later report can only come from an alternative
 * before it, so the last report is the match.  Only tries whose matches
 * start at a word start and whose '*' ends a word are built: a '*' inside
 * a word ("a*a*c") stays with the search and its step budget.
 *
 * A regex's DFA answers "is there a match in [from, to)": a Thompson NFA
 * of the regex (literals, classes, ., \d \w \s and negations, groups,
 * alternation, ? * + {m,n}, lazy forms, \b \B ^) and the usual subset
 * construction, anchored at one start; \b is decided when the next byte is
 * known, from the kind of the byte before, kept in the state.
 *
 * Both use one compact layout (a double array): the next state on class k
 * of state q is slot[base(q) + k] when that slot's check is q.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dfa_int.h"

/* Room for need elements of elem bytes in the array at *pp (a pointer to
 * the array pointer), whose capacity *cap doubles from first.  0, or -1
 * with the array and *cap as they were.  The array pointer is read and
 * written through memcpy, so any element type can use it. */
int dfa_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t first)
{
    void *old, *p;
    size_t n = *cap ? *cap : first;

    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return -1;
        n *= 2;
    }
    memcpy(&old, pp, sizeof old);
    if (!(p = realloc(old, n * elem)))
        return -1;
    memcpy(pp, &p, sizeof p);
    *cap = n;
    return 0;
}

static uint64_t list_hash(const uint32_t *v, uint32_t n, unsigned kind)
{
    uint64_t h = 1469598103934665603ull ^ kind;
    for (uint32_t i = 0; i < n; i++) {
        h ^= v[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static int build_grow_hash(struct build *b)
{
    size_t cap = b->hcap ? b->hcap * 2 : 1024;
    uint32_t *h = calloc(cap, sizeof *h);
    if (!h)
        return -1;
    for (uint32_t i = 0; i < b->n; i++) {
        size_t j =
            list_hash(b->pool + b->off[i], b->len[i], b->kind[i]) & (cap - 1);
        while (h[j])
            j = (j + 1) & (cap - 1);
        h[j] = i + 1;
    }
    free(b->hash);
    b->hash = h;
    b->hcap = cap;
    return 0;
}

/* The state of list v after a byte of this kind: found or added.  Returns
 * its index (>= 1), or 0 when a bound is passed (b->failed). */
uint32_t dfa_state_get(struct build *b, const uint32_t *v, uint32_t n,
                       unsigned kind)
{
    if (b->n * 2 >= b->hcap && build_grow_hash(b) < 0) {
        b->failed = 1;
        return 0;
    }
    size_t j = list_hash(v, n, kind) & (b->hcap - 1);
    while (b->hash[j]) {
        uint32_t i = b->hash[j] - 1;
        if (b->kind[i] == kind && b->len[i] == n &&
            (n == 0 || memcmp(b->pool + b->off[i], v, n * sizeof *v) == 0))
            return i;
        j = (j + 1) & (b->hcap - 1);
    }
    if (b->n >= (b->maxstates ? b->maxstates : DFA_MAX_STATES) ||
        b->npool + n > (b->maxitems ? b->maxitems : DFA_MAX_ITEMS)) {
        b->failed = 1;
        return 0;
    }
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 256;
        uint32_t *o = realloc(b->off, cap * sizeof *o);
        if (o)
            b->off = o;
        uint32_t *l = o ? realloc(b->len, cap * sizeof *l) : NULL;
        if (l)
            b->len = l;
        uint8_t *k = l ? realloc(b->kind, cap * sizeof *k) : NULL;
        if (k)
            b->kind = k;
        uint16_t *mw = k ? realloc(b->mword, cap * sizeof *mw) : NULL;
        if (mw)
            b->mword = mw;
        uint16_t *mn = mw ? realloc(b->mnon, cap * sizeof *mn) : NULL;
        if (mn)
            b->mnon = mn;
        uint32_t *tf = mn ? realloc(b->trfirst, (cap + 1) * sizeof *tf) : NULL;
        if (!tf) {
            b->failed = 1;
            return 0;
        }
        b->trfirst = tf;
        b->cap = cap;
    }
    if (b->npool + n > b->poolcap) {
        size_t cap = b->poolcap ? b->poolcap : 4096;
        while (cap < b->npool + n)
            cap *= 2;
        uint32_t *p = realloc(b->pool, cap * sizeof *p);
        if (!p) {
            b->failed = 1;
            return 0;
        }
        b->pool = p;
        b->poolcap = cap;
    }
    uint32_t i = b->n++;
    if (n) /* the dead state's list is empty, perhaps before any pool */
        memcpy(b->pool + b->npool, v, n * sizeof *v);
    b->off[i] = (uint32_t)b->npool;
    b->len[i] = n;
    b->kind[i] = (uint8_t)kind;
    b->mword[i] = b->mnon[i] = TR_NO_PHRASE;
    b->npool += n;
    b->hash[j] = i + 1;
    return i;
}

int dfa_trans_add(struct build *b, uint32_t cls, uint32_t next)
{
    if (dfa_grow(&b->tr, &b->trcap, b->ntr + 1, sizeof *b->tr, 1024) < 0) {
        b->failed = 1;
        return -1;
    }
    b->tr[b->ntr++] = (struct trans){cls, next};
    return 0;
}

/* The transitions of state q: *nt of them (NULL when none). */
struct trans *dfa_trans_of(const struct build *b, uint32_t q, size_t *nt)
{
    *nt = b->trfirst[q + 1] - b->trfirst[q];
    return *nt ? b->tr + b->trfirst[q] : NULL;
}

void dfa_build_free(struct build *b)
{
    free(b->off);
    free(b->len);
    free(b->kind);
    free(b->mword);
    free(b->mnon);
    free(b->pool);
    free(b->hash);
    free(b->tr);
    free(b->trfirst);
}

void tr_dfa_free(struct tr_dfa *d)
{
    if (!d)
        return;
    free(d->st);
    free(d->slot);
    free(d);
}

/* Packs the states' transitions into the double array.  State 0 of the
 * build is the dead state (an empty list); build index i is state i. */
struct tr_dfa *dfa_pack(struct build *b, const unsigned char cls[256],
                        const unsigned char word[256], unsigned ncls)
{
    struct tr_dfa *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    memcpy(d->cls, cls, sizeof d->cls);
    memcpy(d->word, word, sizeof d->word);
    d->ncls = ncls;
    d->sepaccept = 1;
    d->nst = b->n;
    d->st = calloc(b->n, sizeof *d->st);
    size_t cap = b->ntr + ncls + 64;
    d->slot = calloc(cap, sizeof *d->slot);
    unsigned char *used = calloc(cap, 1);
    if (!d->st || !d->slot || !used)
        goto fail;
    /* first fit over free slots: up[i] leads to the first free slot at
     * or after i (path halving) */
    uint32_t *up = malloc(cap * sizeof *up);
    if (!up)
        goto fail;
    for (size_t i = 0; i < cap; i++)
        up[i] = (uint32_t)i;
    size_t top = 0;
    for (uint32_t q = 1; q < b->n; q++) {
        d->st[q].mword = b->mword[q];
        d->st[q].mnon = b->mnon[q];
        size_t nt;
        const struct trans *t = dfa_trans_of(b, q, &nt);
        if (nt == 0) {
            d->st[q].base = 0; /* no slot has check q */
            continue;
        }
        size_t base, f = 0;
        for (;;) {
            f = dfa_free_slot(up, cap, f);
            base = f >= t[0].cls ? f - t[0].cls : 0;
            if (base + ncls > cap) {
                size_t ncap = cap * 2;
                struct tr_dslot *sl = realloc(d->slot, ncap * sizeof *sl);
                unsigned char *u = sl ? realloc(used, ncap) : NULL;
                if (sl)
                    d->slot = sl;
                if (u)
                    used = u;
                if (!u || dfa_free_grow(&up, cap, ncap) < 0) {
                    free(up);
                    goto fail;
                }
                memset(d->slot + cap, 0, (ncap - cap) * sizeof *d->slot);
                memset(used + cap, 0, ncap - cap);
                cap = ncap;
                continue;
            }
            size_t k;
            for (k = 0; k < nt; k++)
                if (used[base + t[k].cls])
                    break;
            if (k == nt)
                break;
            f++;
        }
        d->st[q].base = (uint32_t)base;
        for (size_t k = 0; k < nt; k++) {
            used[base + t[k].cls] = 1;
            up[base + t[k].cls] = (uint32_t)(base + t[k].cls + 1);
            d->slot[base + t[k].cls] = (struct tr_dslot){q, t[k].next};
        }
        if (base + ncls > top)
            top = base + ncls;
    }
    free(up);
    d->nslot = top > ncls ? top : ncls;
    /* trim: a state's base + class never passes nslot */
    struct tr_dslot *s = realloc(d->slot, d->nslot * sizeof *s);
    if (s)
        d->slot = s;
    free(used);
    return d;
fail:
    free(used);
    tr_dfa_free(d);
    return NULL;
}

/* The longest path from the starts through live states, UINT32_MAX when
 * a loop is reachable: how far past its start a run can still be alive. */
static void depth_find(struct tr_dfa *d)
{
    uint32_t *memo = malloc(d->nst * sizeof *memo); /* depth + 1, 0 new */
    unsigned char *on = calloc(d->nst, 1);          /* on the stack */
    struct dfs {
        uint32_t q;
        unsigned k;
    } *stack = malloc(d->nst * sizeof *stack);
    d->depth = UINT32_MAX;
    if (!memo || !on || !stack)
        goto out;
    memset(memo, 0, d->nst * sizeof *memo);
    uint32_t best = 0;
    for (unsigned st = 0; st < 3; st++) {
        uint32_t root = d->start[st];
        if (root == DFA_DEAD || memo[root])
            goto next;
        size_t top = 0;
        stack[top++] = (struct dfs){root, 0};
        on[root] = 1;
        while (top) {
            struct dfs *f = &stack[top - 1];
            const struct tr_dstate *q = &d->st[f->q];
            if (f->k < d->ncls) {
                unsigned k = f->k++;
                const struct tr_dslot *sl = &d->slot[q->base + k];
                if (sl->check != f->q)
                    continue;
                uint32_t to = sl->next;
                if (on[to])
                    goto out; /* a loop: no bound */
                if (!memo[to]) {
                    on[to] = 1;
                    stack[top++] = (struct dfs){to, 0};
                }
                continue;
            }
            /* all edges done: 1 + the deepest successor */
            uint32_t m = 0;
            for (unsigned k = 0; k < d->ncls; k++) {
                const struct tr_dslot *sl = &d->slot[q->base + k];
                if (sl->check == f->q && memo[sl->next] > m)
                    m = memo[sl->next];
            }
            memo[f->q] = m + 1;
            on[f->q] = 0;
            top--;
        }
    next:
        if (memo[root] - 1 > best)
            best = memo[root] - 1;
    }
    d->depth = best;
out:
    free(memo);
    free(on);
    free(stack);
}

/* Does a state that a non-word byte leads to match at the end of the
 * text?  If none does, a run that has not matched before a cut just after
 * a non-word byte does not match at the cut either (tr_scan_exists()). */
static int sep_accepts(const struct tr_dfa *d)
{
    for (uint32_t q = 1; q < d->nst; q++)
        for (unsigned k = 0; k < d->ncls; k++) {
            const struct tr_dslot *sl = &d->slot[d->st[q].base + k];
            if (!d->word[k] && sl->check == q &&
                d->st[sl->next].mnon != TR_NO_PHRASE)
                return 1;
        }
    return 0;
}

/* ---- a trie's search as a DFA ---------------------------------------- */

/* Items of a state's list: "enter node n" and "inside the \w* of node n's
 * '*' child, which may take another word character". */
#define IT_ENTER(n) ((uint32_t)(n) << 1)
#define IT_STAR(n)  ((uint32_t)(n) << 1 | 1)

/* One pending alternative of the expansion, in search order. */
struct event {
    uint32_t node; /* the node whose edge takes the byte */
    uint8_t what;  /* EV_SEP, EV_LIT, EV_STAR */
};
enum { EV_SEP, EV_LIT, EV_STAR };

struct texpand {
    const struct tr_trie *t;
    uint32_t *seen; /* per item: gen when expanded in this expansion */
    uint32_t gen;
    struct event *ev;
    size_t nev, evcap;
    uint16_t match; /* the first phrase reported, or TR_NO_PHRASE */
    int failed;
};

static int ev_add(struct texpand *x, uint32_t node, uint8_t what)
{
    if (dfa_grow(&x->ev, &x->evcap, x->nev + 1, sizeof *x->ev, 64) < 0) {
        x->failed = 1;
        return -1;
    }
    x->ev[x->nev++] = (struct event){node, what};
    return 0;
}

/* Expands one item as next_child() tries its alternatives, with the byte
 * before of kind prevword and the next one of kind nextword: the edges
 * that would take the next byte become events, in order, until a phrase
 * is reported (x->match); returns 1 once it is.  Depth is bounded by the
 * phrase length (TRIE_MAX_PHRASE). */
static int expand(struct texpand *x, uint32_t item, int prevword, int nextword)
{
    if (x->seen[item] == x->gen)
        return 0; /* the same alternative at the same offset, tried before */
    x->seen[item] = x->gen;
    const struct tr_tnode *v = x->t->v;
    uint32_t n = item >> 1;
    const struct tr_tnode *nd = &v[n];
    if (item & 1) { /* \w*: another word character first, then go on */
        if (ev_add(x, n, EV_STAR) < 0)
            return 1;
        uint32_t w = nd->child + (nd->nchild & TR_NCHILD) - 1;
        return expand(x, IT_ENTER(w), prevword, nextword);
    }
    unsigned nchild = nd->nchild & TR_NCHILD;
    if (nchild) {
        if (nd->nchild & TR_SEP_CHILD) { /* [ \n]?: take one, then none */
            if (ev_add(x, n, EV_SEP) < 0 ||
                expand(x, IT_ENTER(nd->child), prevword, nextword))
                return 1;
        }
        if (ev_add(x, n, EV_LIT) < 0)
            return 1;
        if ((nd->nchild & TR_STAR_CHILD) &&
            expand(x, IT_STAR(n), prevword, nextword))
            return 1;
    }
    if (nd->phrase != TR_NO_PHRASE && prevword != nextword) {
        x->match = nd->phrase;
        return 1;
    }
    return 0;
}

/* Byte classes of a trie: each byte an edge names, ' ', '\n', other word
 * bytes, other bytes. */
static unsigned trie_classes(const struct tr_trie *t, unsigned char cls[256],
                             unsigned char word[256])
{
    unsigned char named[256] = {0};
    for (size_t i = 1; i < t->n; i++) {
        unsigned char c = t->v[i].c;
        if (c != ' ' && c != '*')
            named[c == TR_STRICT_SPACE ? ' ' : c] = 1;
    }
    named[' '] = named['\n'] = 1;
    unsigned n = 0;
    int other_word = -1, other = -1;
    memset(word, 0, 256);
    for (unsigned c = 0; c < 256; c++) {
        if (named[c]) {
            word[n] = (unsigned char)is_word_byte(c);
            cls[c] = (unsigned char)n++;
        } else if (is_word_byte(c)) {
            if (other_word < 0) {
                word[n] = 1;
                other_word = (int)n++;
            }
            cls[c] = (unsigned char)other_word;
        } else {
            if (other < 0)
                other = (int)n++;
            cls[c] = (unsigned char)other;
        }
    }
    return n;
}

/* Does an event take a byte of class k (representative byte c)? */
static uint32_t event_takes(const struct tr_trie *t, const struct event *e,
                            unsigned char c)
{
    const struct tr_tnode *nd = &t->v[e->node];
    switch (e->what) {
    case EV_SEP:
        return c == ' ' || c == '\n' ? IT_ENTER(nd->child) + 1 : 0;
    case EV_STAR:
        return is_word_byte(c) ? IT_STAR(e->node) + 1 : 0;
    default: {
        unsigned nchild = nd->nchild & TR_NCHILD;
        unsigned lo = (nd->nchild & TR_SEP_CHILD) ? 1 : 0;
        unsigned hi = nchild - ((nd->nchild & TR_STAR_CHILD) ? 1 : 0);
        unsigned char b = c == ' ' ? TR_STRICT_SPACE : c;
        for (unsigned i = lo; i < hi; i++)
            if (t->v[nd->child + i].c == b)
                return IT_ENTER(nd->child + i) + 1;
        return 0;
    }
    }
}

/* Every phrase of the trie starts with a word byte and a '*' only ends a
 * word: then its search is a DFA of modest size. */
static int trie_fits(const struct tr_trie *t)
{
    if (t->anystart || t->n < 2 || t->n >= (1u << 30))
        return 0;
    for (size_t i = 1; i < t->n; i++) {
        const struct tr_tnode *nd = &t->v[i];
        if (nd->c != '*')
            continue;
        /* after a '*' only a phrase end or a separator may follow */
        unsigned nchild = nd->nchild & TR_NCHILD;
        for (unsigned k = 0; k < nchild; k++)
            if (t->v[nd->child + k].c != ' ')
                return 0;
    }
    return 1;
}

struct tr_dfa *tr_dfa_trie(const struct tr_trie *t)
{
    if (!t || !trie_fits(t) || t->n > DFA_MAX_TRIE)
        return NULL;
    unsigned char cls[256], word[256], rep[256];
    unsigned ncls = trie_classes(t, cls, word);
    for (int c = 255; c >= 0; c--)
        rep[cls[c]] = (unsigned char)c; /* the lowest byte of each class */
    struct build b = {0};
    struct texpand x = {.t = t};
    struct tr_dfa *d = NULL;
    struct event *evw = NULL; /* the events before a word byte */
    size_t nevw = 0, work = 0;
    uint32_t *list = NULL;
    x.seen = calloc(t->n * 2, sizeof *x.seen);
    if (!x.seen)
        goto out;
    uint32_t dead[1] = {0};
    dfa_state_get(&b, dead, 0, 0); /* state 0: dead */
    uint32_t root = IT_ENTER(0);
    uint32_t s0 = dfa_state_get(&b, &root, 1, 0);
    if (b.failed)
        goto out;
    for (uint32_t q = 1; q < b.n && !b.failed; q++) {
        b.trfirst[q] = (uint32_t)b.ntr;
        int prevword = b.kind[q] == 1;
        /* the alternatives before a byte of each kind, in order; the
         * first pass's events are kept while the second runs */
        for (int nw = 1; nw >= 0; nw--) {
            x.gen++;
            x.nev = 0;
            x.match = TR_NO_PHRASE;
            const uint32_t *it = b.pool + b.off[q];
            for (uint32_t i = 0; i < b.len[q]; i++)
                if (expand(&x, it[i], prevword, nw))
                    break;
            if (x.failed)
                goto out;
            if (nw) {
                b.mword[q] = x.match;
                struct event *e = realloc(evw, (x.nev + 1) * sizeof *e);
                if (!e)
                    goto out;
                evw = e;
                memcpy(evw, x.ev, x.nev * sizeof *e);
                nevw = x.nev;
            } else {
                b.mnon[q] = x.match;
            }
        }
        uint32_t *l = realloc(list, (nevw + x.nev + 1) * sizeof *l);
        if (!l)
            goto out;
        list = l;
        /* each edge is one event, and no two lead to the same item, so
         * the list of a class has no duplicates */
        for (unsigned k = 0; k < ncls; k++) {
            const struct event *ev = word[k] ? evw : x.ev;
            size_t nev = word[k] ? nevw : x.nev, n = 0;
            work += nev;
            for (size_t e = 0; e < nev; e++) {
                uint32_t to = event_takes(t, &ev[e], rep[k]);
                if (to)
                    list[n++] = to - 1;
            }
            if (!n)
                continue;
            uint32_t to = dfa_state_get(&b, list, (uint32_t)n, word[k]);
            if (b.failed || dfa_trans_add(&b, k, to) < 0)
                goto out;
        }
        if (work > DFA_MAX_WORK)
            goto out;
    }
    if (b.failed)
        goto out;
    b.trfirst[b.n] = (uint32_t)b.ntr;
    b.trfirst[0] = 0;
    d = dfa_pack(&b, cls, word, ncls);
    if (d) {
        d->start[0] = d->start[1] = d->start[2] = s0;
        d->wordstarts = 1;
        depth_find(d);
    }
out:
    free(x.seen);
    free(x.ev);
    free(evw);
    free(list);
    dfa_build_free(&b);
    return d;
}

/* The first match of the trie from a word start p on s[0, end): what
 * search() gives.  1 (*me, *id) or 0. */
int dfa_trie_run(const struct tr_dfa *d, const unsigned char *s, size_t p,
                 size_t end, size_t *me, uint32_t *id, uint64_t *budget)
{
    uint32_t q = d->start[0];
    int found = 0;
    for (size_t pos = p;; pos++) {
        if (*budget == 0)
            return -1;
        --*budget;
        const struct tr_dstate *st = &d->st[q];
        if (pos == end) {
            if (st->mnon != TR_NO_PHRASE) {
                *me = pos;
                *id = st->mnon;
                found = 1;
            }
            return found;
        }
        unsigned k = d->cls[s[pos]];
        uint16_t m = d->word[k] ? st->mword : st->mnon;
        if (m != TR_NO_PHRASE) {
            *me = pos;
            *id = m;
            found = 1;
        }
        const struct tr_dslot *sl = &d->slot[st->base + k];
        if (sl->check != q)
            return found;
        q = sl->next;
    }
}

int tr_dfa_find(const struct tr_dfa *d, const char *text, size_t end,
                size_t from, const uint32_t *starts, size_t nstarts, size_t *ms,
                size_t *me, uint32_t *id, uint64_t *budget)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t lo = 0, hi = nstarts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (starts[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t s0 = d->start[0];
    uint32_t b0 = d->st[s0].base;
    for (size_t i = lo; i < nstarts && starts[i] < end; i++) {
        size_t p = starts[i];
        /* most word starts leave the start state on no edge */
        if (d->slot[b0 + d->cls[s[p]]].check != s0)
            continue;
        int rc = dfa_trie_run(d, s, p, end, me, id, budget);
        if (rc) {
            *ms = p;
            return rc;
        }
    }
    return 0;
}

/* ---- a regex as an existence DFA ------------------------------------- */

enum { N_CHAR, N_SPLIT, N_EPS, N_WB, N_NWB, N_BOS, N_MATCH };

struct nnode {
    uint8_t type;
    uint32_t out, out2;
    uint64_t set[2]; /* N_CHAR: the ASCII bytes it takes */
};

enum { A_SET, A_CAT, A_ALT, A_REP, A_ASSERT, A_EMPTY };

struct ast {
    uint8_t type;
    uint8_t assert; /* A_ASSERT: N_WB, N_NWB, N_BOS */
    int min, max;   /* A_REP; max -1 = unbounded */
    uint64_t set[2];
    struct ast **kid;
    unsigned nkid;
};

struct rparse {
    const char *p;
    int bad;
    unsigned nodes; /* AST nodes, bounded */
};

static void ast_free(struct ast *a)
{
    if (!a)
        return;
    for (unsigned i = 0; i < a->nkid; i++)
        ast_free(a->kid[i]);
    free(a->kid);
    free(a);
}

static struct ast *ast_new(struct rparse *r, uint8_t type)
{
    if (++r->nodes > DFA_MAX_NFA) {
        r->bad = 1;
        return NULL;
    }
    struct ast *a = calloc(1, sizeof *a);
    if (!a)
        r->bad = 1;
    else
        a->type = type;
    return a;
}

static int ast_kid(struct rparse *r, struct ast *a, struct ast *k)
{
    if (!k)
        return -1;
    struct ast **v = realloc(a->kid, (a->nkid + 1) * sizeof *v);
    if (!v) {
        r->bad = 1;
        ast_free(k);
        return -1;
    }
    a->kid = v;
    a->kid[a->nkid++] = k;
    return 0;
}

static void set_add(uint64_t s[2], unsigned c)
{
    s[c >> 6] |= (uint64_t)1 << (c & 63);
}

static void set_range(uint64_t s[2], unsigned a, unsigned b)
{
    for (unsigned c = a; c <= b && c < 128; c++)
        set_add(s, c);
}

/* \d \w \s and their negations, over ASCII; -1 for another letter. */
static int set_escape(char e, uint64_t s[2])
{
    uint64_t t[2] = {0, 0};
    char lower = (char)(e | 0x20);
    if (lower == 'd') {
        set_range(t, '0', '9');
    } else if (lower == 'w') {
        set_range(t, '0', '9');
        set_range(t, 'a', 'z');
        set_range(t, 'A', 'Z');
        set_add(t, '_');
    } else if (lower == 's') {
        set_range(t, 9, 13);
        set_add(t, ' ');
    } else {
        return -1;
    }
    if (e >= 'A' && e <= 'Z') {
        t[0] = ~t[0];
        t[1] = ~t[1];
    }
    s[0] |= t[0];
    s[1] |= t[1];
    return 0;
}

/* An escaped character that stands for itself, or -1. */
static int escaped_literal(char e)
{
    if (e == 'n')
        return '\n';
    if (e == 't')
        return '\t';
    if (e == 'r')
        return '\r';
    if (e == 'f')
        return '\f';
    if (e == 'e')
        return 0x1b;
    if ((unsigned char)e >= 0x80 || (e >= 'a' && e <= 'z') ||
        (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9') || e == '\0')
        return -1;
    return (unsigned char)e;
}

static struct ast *parse_alt(struct rparse *r);

static struct ast *parse_class(struct rparse *r)
{
    struct ast *a = ast_new(r, A_SET);
    if (!a)
        return NULL;
    const char *p = r->p + 1; /* after '[' */
    int neg = 0;
    if (*p == '^') {
        neg = 1;
        p++;
    }
    int first = 1;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0' || c >= 0x80)
            goto bad;
        if (c == ']' && !first)
            break;
        first = 0;
        int lo;
        if (c == '[') {
            goto bad; /* POSIX classes */
        } else if (c == '\\') {
            char e = p[1];
            if (set_escape(e, a->set) == 0) {
                p += 2;
                continue;
            }
            lo = escaped_literal(e);
            if (lo < 0)
                goto bad;
            p += 2;
        } else {
            lo = c;
            p++;
        }
        if (*p == '-' && p[1] != ']' && p[1] != '\0') {
            int hi;
            if (p[1] == '\\') {
                hi = escaped_literal(p[2]);
                p += 3;
            } else {
                hi = (unsigned char)p[1];
                p += 2;
            }
            if (hi < 0 || hi >= 0x80 || hi < lo)
                goto bad;
            set_range(a->set, (unsigned)lo, (unsigned)hi);
        } else {
            set_add(a->set, (unsigned)lo);
        }
    }
    if (neg) {
        a->set[0] = ~a->set[0];
        a->set[1] = ~a->set[1];
    }
    r->p = p + 1;
    return a;
bad:
    r->bad = 1;
    ast_free(a);
    return NULL;
}

static struct ast *parse_atom(struct rparse *r)
{
    const char *p = r->p;
    unsigned char c = (unsigned char)*p;
    struct ast *a;
    if (c == '(') {
        if (p[1] == '?' && p[2] == ':')
            r->p = p + 3;
        else if (p[1] == '?' || p[1] == '*')
            goto bad; /* lookaround, flags, verbs, named groups */
        else
            r->p = p + 1;
        a = parse_alt(r);
        if (!a || *r->p != ')') {
            ast_free(a);
            goto bad;
        }
        r->p++;
        return a;
    }
    if (c == '[')
        return parse_class(r);
    if (c == '.') {
        if (!(a = ast_new(r, A_SET)))
            return NULL;
        a->set[0] = a->set[1] = ~(uint64_t)0;
        a->set[0] &= ~((uint64_t)1 << '\n'); /* newline is LF */
        r->p++;
        return a;
    }
    if (c == '^') {
        if (!(a = ast_new(r, A_ASSERT)))
            return NULL;
        a->assert = N_BOS;
        r->p++;
        return a;
    }
    if (c == '\\') {
        char e = p[1];
        if (e == 'b' || e == 'B') {
            if (!(a = ast_new(r, A_ASSERT)))
                return NULL;
            a->assert = e == 'b' ? N_WB : N_NWB;
            r->p += 2;
            return a;
        }
        if (!(a = ast_new(r, A_SET)))
            return NULL;
        if (set_escape(e, a->set) < 0) {
            int lit = escaped_literal(e);
            if (lit < 0) {
                ast_free(a);
                goto bad;
            }
            set_add(a->set, (unsigned)lit);
        }
        r->p += 2;
        return a;
    }
    if (c == '\0' || c >= 0x80 || c == '$' || c == ')' || c == '|' ||
        c == '*' || c == '+' || c == '?' || c == '{')
        goto bad;
    if (!(a = ast_new(r, A_SET)))
        return NULL;
    set_add(a->set, c);
    r->p++;
    return a;
bad:
    r->bad = 1;
    return NULL;
}

/* "{n}", "{n,}", "{n,m}" at p: 1 and the bounds, 0 when not a quantifier. */
static int counted(const char *p, int *min, int *max, const char **end)
{
    if (*p != '{' || !(p[1] >= '0' && p[1] <= '9'))
        return 0;
    long a = 0, b;
    const char *q = p + 1;
    while (*q >= '0' && *q <= '9' && a < 100000)
        a = a * 10 + (*q++ - '0');
    if (*q == '}') {
        b = a;
    } else if (*q == ',') {
        q++;
        if (*q == '}') {
            b = -1;
        } else {
            b = 0;
            if (!(*q >= '0' && *q <= '9'))
                return 0;
            while (*q >= '0' && *q <= '9' && b < 100000)
                b = b * 10 + (*q++ - '0');
        }
    } else {
        return 0;
    }
    if (*q != '}')
        return 0;
    *min = (int)a;
    *max = (int)b;
    *end = q + 1;
    return 1;
}

static struct ast *parse_seq(struct rparse *r)
{
    struct ast *cat = ast_new(r, A_CAT);
    if (!cat)
        return NULL;
    while (*r->p && *r->p != '|' && *r->p != ')') {
        struct ast *a = parse_atom(r);
        if (!a)
            goto bad;
        int min, max;
        const char *end;
        char q = *r->p;
        int quant = 1;
        if (q == '?') {
            min = 0, max = 1, end = r->p + 1;
        } else if (q == '*') {
            min = 0, max = -1, end = r->p + 1;
        } else if (q == '+') {
            min = 1, max = -1, end = r->p + 1;
        } else if (!counted(r->p, &min, &max, &end)) {
            quant = 0;
        }
        if (quant) {
            if (a->type == A_ASSERT || (max >= 0 && max < min) || min > 1000 ||
                max > 1000 || *end == '+') {
                ast_free(a); /* quantified assertion, possessive, huge */
                goto bad;
            }
            if (*end == '?')
                end++; /* lazy: the same matches exist */
            struct ast *rep = ast_new(r, A_REP);
            if (!rep) {
                ast_free(a);
                goto bad;
            }
            rep->min = min;
            rep->max = max;
            if (ast_kid(r, rep, a) < 0) {
                ast_free(rep);
                goto bad;
            }
            a = rep;
            r->p = end;
            if (*r->p == '?' || *r->p == '*' || *r->p == '+' ||
                (*r->p == '{' && counted(r->p, &min, &max, &end))) {
                ast_kid(r, cat, a);
                goto bad; /* a quantifier of a quantifier */
            }
        }
        if (ast_kid(r, cat, a) < 0)
            goto bad;
    }
    return cat;
bad:
    r->bad = 1;
    ast_free(cat);
    return NULL;
}

static struct ast *parse_alt(struct rparse *r)
{
    struct ast *alt = ast_new(r, A_ALT);
    if (!alt)
        return NULL;
    for (;;) {
        if (ast_kid(r, alt, parse_seq(r)) < 0) {
            ast_free(alt);
            r->bad = 1;
            return NULL;
        }
        if (*r->p != '|')
            return alt;
        r->p++;
    }
}

struct nfa {
    struct nnode *v;
    uint32_t n;
    size_t cap;
    int bad;
};

static uint32_t nfa_new(struct nfa *f, uint8_t type, uint32_t out)
{
    if (f->bad || f->n >= DFA_MAX_NFA) {
        f->bad = 1;
        return 0;
    }
    if (dfa_grow(&f->v, &f->cap, (size_t)f->n + 1, sizeof *f->v, 256) < 0) {
        f->bad = 1;
        return 0;
    }
    f->v[f->n] = (struct nnode){.type = type, .out = out};
    return f->n++;
}

/* Thompson construction by continuation: the node that matches a and
 * then goes on to next. */
static uint32_t nfa_of(struct nfa *f, const struct ast *a, uint32_t next)
{
    if (f->bad)
        return 0;
    switch (a->type) {
    case A_SET: {
        uint32_t n = nfa_new(f, N_CHAR, next);
        if (!f->bad) {
            f->v[n].set[0] = a->set[0];
            f->v[n].set[1] = a->set[1];
        }
        return n;
    }
    case A_ASSERT:
        return nfa_new(f, a->assert, next);
    case A_CAT:
        for (unsigned i = a->nkid; i-- > 0;)
            next = nfa_of(f, a->kid[i], next);
        return next;
    case A_ALT: {
        if (a->nkid == 1)
            return nfa_of(f, a->kid[0], next);
        uint32_t first = nfa_of(f, a->kid[a->nkid - 1], next);
        for (unsigned i = a->nkid - 1; i-- > 0;) {
            uint32_t k = nfa_of(f, a->kid[i], next);
            uint32_t s = nfa_new(f, N_SPLIT, k);
            if (f->bad)
                return 0;
            f->v[s].out2 = first;
            first = s;
        }
        return first;
    }
    case A_REP: {
        const struct ast *k = a->kid[0];
        if (a->max < 0) { /* x{min,}: min copies, then a loop */
            uint32_t loop = nfa_new(f, N_SPLIT, 0);
            uint32_t body = nfa_of(f, k, loop);
            if (f->bad)
                return 0;
            f->v[loop].out = body;
            f->v[loop].out2 = next;
            next = loop;
        } else { /* max - min optional copies */
            for (int i = a->min; i < a->max; i++) {
                uint32_t body = nfa_of(f, k, next);
                uint32_t s = nfa_new(f, N_SPLIT, body);
                if (f->bad)
                    return 0;
                f->v[s].out2 = next;
                next = s;
            }
        }
        for (int i = 0; i < a->min; i++)
            next = nfa_of(f, k, next);
        return next;
    }
    default:
        return nfa_new(f, N_EPS, next);
    }
}

/* Byte classes of an NFA: bytes that every node treats alike and that are
 * of one kind for \b. */
static unsigned nfa_classes(const struct nfa *f, unsigned char cls[256],
                            unsigned char word[256])
{
    /* refine by word, then by every distinct set */
    unsigned char sig[256];
    for (unsigned c = 0; c < 256; c++)
        sig[c] = (unsigned char)(c >= 128 ? 2 : is_word_byte(c));
    unsigned n = 3;
    for (uint32_t i = 0; i < f->n; i++) {
        if (f->v[i].type != N_CHAR)
            continue;
        const uint64_t *s = f->v[i].set;
        /* split every class into its bytes in s and the others */
        unsigned char map[256][2];
        memset(map, 0xff, sizeof map);
        unsigned m = 0;
        for (unsigned c = 0; c < 256; c++) {
            int in = c < 128 && (s[c >> 6] >> (c & 63) & 1);
            if (map[sig[c]][in] == 0xff) {
                if (m == 255)
                    return 0; /* more classes than a byte holds */
                map[sig[c]][in] = (unsigned char)m++;
            }
            sig[c] = map[sig[c]][in];
        }
        n = m;
    }
    /* number the classes in byte order */
    unsigned char ren[256];
    memset(ren, 0xff, sizeof ren);
    unsigned k = 0;
    memset(word, 0, 256);
    for (unsigned c = 0; c < 256; c++) {
        if (ren[sig[c]] == 0xff) {
            word[k] = (unsigned char)(c < 128 && is_word_byte(c));
            ren[sig[c]] = (unsigned char)k++;
        }
        cls[c] = ren[sig[c]];
    }
    (void)n;
    return k;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The closure of list v before a byte of kind nextword (or the end, 0):
 * its N_CHAR nodes in out (sorted), 1 if N_MATCH is in it. */
static int closure(const struct nfa *f, const uint32_t *v, uint32_t n,
                   unsigned kind, int nextword, uint32_t *seen, uint32_t gen,
                   uint32_t *stack, uint32_t *out, uint32_t *nout, size_t *work)
{
    int prevword = kind == 1, bos = kind == 2, match = 0;
    uint32_t top = 0;
    *nout = 0;
    for (uint32_t i = 0; i < n; i++)
        stack[top++] = v[i];
    while (top) {
        uint32_t x = stack[--top];
        ++*work;
        if (seen[x] == gen)
            continue;
        seen[x] = gen;
        const struct nnode *nd = &f->v[x];
        switch (nd->type) {
        case N_CHAR:
            out[(*nout)++] = x;
            break;
        case N_MATCH:
            match = 1;
            break;
        case N_SPLIT:
            stack[top++] = nd->out2;
            stack[top++] = nd->out;
            break;
        case N_WB:
            if (prevword != nextword)
                stack[top++] = nd->out;
            break;
        case N_NWB:
            if (prevword == nextword)
                stack[top++] = nd->out;
            break;
        case N_BOS:
            if (bos)
                stack[top++] = nd->out;
            break;
        default:
            stack[top++] = nd->out;
            break;
        }
    }
    qsort(out, *nout, sizeof *out, u32_cmp);
    return match;
}

struct tr_dfa *tr_dfa_regex(const char *src)
{
    struct rparse r = {src, 0, 0};
    struct ast *a = parse_alt(&r);
    struct nfa f = {0};
    struct build b = {0};
    struct tr_dfa *d = NULL;
    uint32_t *seen = NULL, *stack = NULL, *cl = NULL, *nx = NULL;
    if (!a || r.bad || *r.p)
        goto out;
    uint32_t match = nfa_new(&f, N_MATCH, 0);
    uint32_t start = nfa_of(&f, a, match);
    if (f.bad)
        goto out;
    unsigned char cls[256], word[256], rep[256];
    unsigned ncls = nfa_classes(&f, cls, word);
    if (!ncls)
        goto out;
    for (int c = 255; c >= 0; c--)
        rep[cls[c]] = (unsigned char)c;
    seen = calloc(f.n, sizeof *seen);
    stack = malloc(((size_t)f.n * 3 + 1) * sizeof *stack);
    cl = malloc(f.n * sizeof *cl);
    nx = malloc(f.n * sizeof *nx);
    if (!seen || !stack || !cl || !nx)
        goto out;
    uint32_t dead[1] = {0}, gen = 0;
    size_t work = 0;
    dfa_state_get(&b, dead, 0, 0);
    uint32_t s0[3];
    for (unsigned k = 0; k < 3; k++)
        s0[k] = dfa_state_get(&b, &start, 1, k);
    if (b.failed)
        goto out;
    for (uint32_t q = 1; q < b.n && !b.failed; q++) {
        b.trfirst[q] = (uint32_t)b.ntr;
        for (int nw = 0; nw < 2; nw++) {
            uint32_t ncl;
            if (closure(&f, b.pool + b.off[q], b.len[q], b.kind[q], nw, seen,
                        ++gen, stack, cl, &ncl, &work)) {
                if (nw)
                    b.mword[q] = 0;
                else
                    b.mnon[q] = 0;
                continue; /* a match here: no need to go on */
            }
            work += (size_t)ncls * ncl;
            if (work > DFA_MAX_WORK)
                goto out;
            for (unsigned k = 0; k < ncls; k++) {
                if (word[k] != nw)
                    continue;
                unsigned char c = rep[k];
                uint32_t nn = 0;
                for (uint32_t i = 0; i < ncl; i++) {
                    const struct nnode *nd = &f.v[cl[i]];
                    if (c < 128 && (nd->set[c >> 6] >> (c & 63) & 1))
                        nx[nn++] = nd->out;
                }
                if (!nn)
                    continue;
                qsort(nx, nn, sizeof *nx, u32_cmp);
                uint32_t m = 0;
                for (uint32_t i = 0; i < nn; i++)
                    if (i == 0 || nx[i] != nx[i - 1])
                        nx[m++] = nx[i];
                uint32_t to = dfa_state_get(&b, nx, m, nw);
                if (b.failed || dfa_trans_add(&b, k, to) < 0)
                    goto out;
            }
        }
    }
    if (b.failed)
        goto out;
    b.trfirst[b.n] = (uint32_t)b.ntr;
    b.trfirst[0] = 0;
    /* transitions were added in class order per kind: sort each state's */
    for (uint32_t q = 1; q < b.n; q++) {
        size_t nt;
        struct trans *t = dfa_trans_of(&b, q, &nt);
        for (size_t i = 1; i < nt; i++)
            for (size_t j = i; j > 0 && t[j - 1].cls > t[j].cls; j--) {
                struct trans tmp = t[j];
                t[j] = t[j - 1];
                t[j - 1] = tmp;
            }
    }
    d = dfa_pack(&b, cls, word, ncls);
    if (!d)
        goto out;
    for (unsigned k = 0; k < 3; k++)
        d->start[k] = s0[k];
    /* Where can a match start?  After a word byte not at all, and
     * otherwise only before a word byte: then only at word starts (and
     * perhaps at offset 0, "^"). */
    for (unsigned k = 0; k < 3; k++) {
        const struct tr_dstate *st = &d->st[s0[k]];
        for (unsigned c = 0; c < 256; c++) {
            unsigned x = d->cls[c];
            if ((d->word[x] ? st->mword : st->mnon) != TR_NO_PHRASE ||
                d->slot[st->base + x].check == s0[k])
                d->first[k][c >> 6] |= (uint64_t)1 << (c & 63);
        }
    }
    for (unsigned w = 0; w < 4; w++)
        d->firstany[w] = d->first[0][w] | d->first[1][w] | d->first[2][w];
    d->empty = d->st[s0[0]].mnon != TR_NO_PHRASE ||
               d->st[s0[1]].mnon != TR_NO_PHRASE ||
               d->st[s0[2]].mnon != TR_NO_PHRASE;
    int ws = !d->empty;
    for (unsigned w = 0; w < 4 && ws; w++)
        if (d->first[1][w])
            ws = 0;
    for (unsigned c = 0; c < 256 && ws; c++)
        if (!is_word_byte(c) && (d->first[0][c >> 6] >> (c & 63) & 1))
            ws = 0;
    d->zerostart = ws;
    for (unsigned c = 0; c < 256 && ws; c++)
        if (!is_word_byte(c) && (d->first[2][c >> 6] >> (c & 63) & 1))
            ws = 0;
    d->wordstarts = ws;
    depth_find(d);
    d->sepaccept = sep_accepts(d);
out:
    ast_free(a);
    free(f.v);
    free(seen);
    free(stack);
    free(cl);
    free(nx);
    dfa_build_free(&b);
    return d;
}

/* Is there a match starting at p of s[0, end)? */
int dfa_regex_run(const struct tr_dfa *d, const unsigned char *s, size_t p,
                  size_t end, uint64_t *budget)
{
    uint32_t q = d->start[p == 0 ? 2 : d->word[d->cls[s[p - 1]]]];
    for (size_t pos = p;; pos++) {
        if (*budget == 0)
            return -1;
        --*budget;
        const struct tr_dstate *st = &d->st[q];
        if (pos == end)
            return st->mnon != TR_NO_PHRASE;
        unsigned k = d->cls[s[pos]];
        if ((d->word[k] ? st->mword : st->mnon) != TR_NO_PHRASE)
            return 1;
        const struct tr_dslot *sl = &d->slot[st->base + k];
        if (sl->check != q)
            return 0;
        q = sl->next;
    }
}

int tr_dfa_exists(const struct tr_dfa *d, const char *text, size_t from,
                  size_t to, const uint32_t *starts, size_t i0, size_t i1,
                  size_t *at, uint64_t *budget)
{
    const unsigned char *s = (const unsigned char *)text;
    int rc;
    if (d->zerostart) {
        /* "^" may match at 0 when no word starts there */
        if (from == 0 && (i0 >= i1 || starts[i0] != 0) && to > 0 &&
            dfa_first_byte(d, 2, s[0]) &&
            (rc = dfa_regex_run(d, s, 0, to, budget))) {
            *at = 0;
            return rc;
        }
        for (size_t i = i0; i < i1; i++)
            if (dfa_first_byte(d, starts[i] ? 0 : 2, s[starts[i]]) &&
                (rc = dfa_regex_run(d, s, starts[i], to, budget))) {
                *at = starts[i];
                return rc;
            }
        return 0;
    }
    for (size_t p = from; p < to; p++) {
        /* most bytes begin no match after anything: one test for them */
        if (!(d->firstany[s[p] >> 6] >> (s[p] & 63) & 1))
            continue;
        unsigned kind = p == 0 ? 2 : d->word[d->cls[s[p - 1]]];
        if (dfa_first_byte(d, kind, s[p]) &&
            (rc = dfa_regex_run(d, s, p, to, budget))) {
            *at = p;
            return rc;
        }
    }
    if (d->empty && from <= to && (rc = dfa_regex_run(d, s, to, to, budget))) {
        *at = to;
        return rc;
    }
    return 0;
}

int tr_dfa_wordstarts(const struct tr_dfa *d)
{
    return d && d->wordstarts;
}

size_t tr_dfa_size(const struct tr_dfa *d)
{
    return d ? sizeof *d + d->nst * sizeof *d->st + d->nslot * sizeof *d->slot
             : 0;
}

struct tr_dfa_sum tr_dfa_summary(const struct tr_dfa *d)
{
    return (struct tr_dfa_sum){d->depth, d->sepaccept};
}
