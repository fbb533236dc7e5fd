/*
 * scan.c - one automaton for every matcher that starts at a word start.
 *
 * Owns: tr_scan_build() (the product of the components' DFAs, built by
 * rules.c when a rule set loads), tr_scan_run() (one pass of it from each
 * word start of a message, for triage.c) and the queries triage.c asks
 * of its result (tr_scan_find(), tr_scan_exists()).  Promises: what a
 * component reports here is what its own DFA (dfa.c) would report from
 * the same word start; building is bounded (SCAN_MAX_*), and past a bound
 * it returns NULL and the components run one by one.
 *
 * The product of the components' DFAs: a state is the list of (component,
 * its state) still alive, and what each reports before the next byte is
 * listed with it.  A regex component leaves the list at its first report
 * (that it matches is all a query asks); a trie component stays, as a
 * later report of its search wins.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dfa_int.h"

#define SCAN_MAX_STATES (1u << 18) /* states of the product */
#define SCAN_MAX_ITEMS  (1u << 24) /* list entries while building */
#define SCAN_MAX_WORK   (1u << 28) /* component steps while building */

struct tr_srep {
    uint16_t comp, val;
};

/* A slot: the next state's base << 10 | its report flags << 8 | the low
 * byte of the owning state's base.  The byte is check enough: two states
 * whose slots meet have bases fewer than ncls (< 256) apart, so equal low
 * bytes mean the same state.  A slot no state owns gets a byte that none
 * of the (at most ncls) states that can look at it has.
 *
 * A state with reports also owns the slot at its base itself, class 0's
 * (the end of the text, on which no state goes on): where its reports
 * start in rep << 8, with a check byte as a free slot's.  A report then
 * reads a slot near the ones the run reads, and its reports, kept in the
 * order of the states' bases, not a hash table of every reporting state:
 * a look in that table missed the L1 cache on nearly every report. */
#define SLOT_CHECK(e)  ((e)&0xffu)
#define SLOT_NEXT(e)   ((e) >> 8) /* next base << 2 | flags */
#define SLOT_REPS(e)   ((e) >> 8) /* a report slot: its reports in rep */
#define SCAN_MAX_BASE  (1u << 22)
#define SCAN_MAX_REPS  (1u << 24) /* entries of rep: SLOT_REPS's 24 bits */
#define SLOT_REPORTS   2          /* used[2 * slot] while packing */
#define SCAN_MAX_MASKS 65536      /* distinct regex masks: a header's 16 bits */

struct tr_sstate {
    uint32_t rep[2]; /* its reports before a non-word, word byte: first */
    uint16_t nrep[2];
};

struct tr_scan {
    unsigned char cls[256];
    unsigned char word[256];
    uint16_t kflag[256]; /* per byte: its class | the report flag its
                            class asks << 8 (one load for both) */
    unsigned ncls;
    uint32_t *slot;
    size_t nslot;
    struct tr_sstate *st; /* while building */
    /* per reporting state: two heads, {regex reports, trie reports}
     * before a non-word and a word byte, a third {its regex mask before
     * a non-word byte, before a word byte}, then those reports in that
     * order (comp, and val the phrase for a trie); a regex with a bit of
     * its own in the masks (ridx) is not listed */
    struct tr_srep *rep;
    size_t nrep;
    /* the distinct regex masks, TR_SCAN_MASK_WORDS words each; mask 0
     * is empty */
    uint64_t *mask;
    size_t nmask;
    /* per component: its bit in the masks, or TR_SCAN_NO_MASK (tries,
     * regexes past the first TR_SCAN_MASK_WORDS * 64) */
    uint16_t *ridx;
    const struct tr_dfa **dfa; /* the components (not owned) */
    unsigned char *trie;       /* per component: 1 trie, 0 regex */
    unsigned ncomp;
    uint32_t start[2]; /* after a non-word byte, at 0: base << 2 | flags */
};

void tr_scan_free(struct tr_scan *sc)
{
    if (!sc)
        return;
    free(sc->slot);
    free(sc->st);
    free(sc->rep);
    free(sc->dfa);
    free(sc->trie);
    free(sc->mask);
    free(sc->ridx);
    free(sc);
}

static uint32_t dfa_step(const struct tr_dfa *d, uint32_t q, unsigned k)
{
    const struct tr_dslot *sl = &d->slot[d->st[q].base + k];
    return sl->check == q ? sl->next : DFA_DEAD;
}

/* The index of regex mask m (TR_SCAN_MASK_WORDS words) in sc->mask,
 * added if new; hash[hcap] maps a mask's hash to its index + 1.  -1 when
 * there would be more than SCAN_MAX_MASKS. */
static long mask_index(struct tr_scan *sc, uint32_t *hash, size_t hcap,
                       const uint64_t *m)
{
    uint64_t h = 0;
    for (unsigned j = 0; j < TR_SCAN_MASK_WORDS; j++)
        h = (h ^ m[j]) * 0x9E3779B97F4A7C15ull;
    for (size_t i = (size_t)(h >> 20) & (hcap - 1);; i = (i + 1) & (hcap - 1)) {
        if (!hash[i]) {
            if (sc->nmask == SCAN_MAX_MASKS)
                return -1;
            memcpy(sc->mask + sc->nmask * TR_SCAN_MASK_WORDS, m,
                   TR_SCAN_MASK_WORDS * sizeof *m);
            hash[i] = (uint32_t)++sc->nmask;
            return (long)sc->nmask - 1;
        }
        if (memcmp(sc->mask + (hash[i] - 1) * TR_SCAN_MASK_WORDS, m,
                   TR_SCAN_MASK_WORDS * sizeof *m) == 0)
            return (long)hash[i] - 1;
    }
}

/* sc->rep and sc->mask from the build's reports (reps, by sc->st) and
 * each reporting state's report slot; the slots are packed.  0, or -1
 * (out of memory, or more reports than a slot can point into). */
static int scan_reports(struct tr_scan *sc, const struct build *b,
                        const uint32_t *sbase, const struct tr_srep *reps,
                        size_t nreps)
{
    size_t n = 0, nstate = 0, hcap = 1024;
    uint32_t *hash = NULL;
    uint32_t *at = calloc(sc->nslot, sizeof *at); /* base -> state + 1 */
    if (!at)
        return -1;
    for (uint32_t q = 1; q < b->n; q++)
        if (sc->st[q].nrep[0] || sc->st[q].nrep[1]) {
            at[sbase[q]] = q + 1;
            n += 3 + (size_t)sc->st[q].nrep[0] + sc->st[q].nrep[1];
            nstate++;
        }
    while (hcap < 4 * nstate + 4)
        hcap *= 2;
    if (n >= SCAN_MAX_REPS || !(sc->rep = malloc((n + 1) * sizeof *sc->rep)) ||
        !(sc->mask = malloc((2 * nstate + 1) * TR_SCAN_MASK_WORDS *
                            sizeof *sc->mask)) ||
        !(hash = calloc(hcap, sizeof *hash)))
        goto fail;
    uint64_t m[TR_SCAN_MASK_WORDS] = {0};
    if (mask_index(sc, hash, hcap, m) != 0)
        goto fail; /* cannot happen: the first mask */
    n = 0;
    /* in the order of the bases: states packed near each other have
     * their reports near each other */
    for (size_t j = 0; j < sc->nslot; j++) {
        if (!at[j])
            continue;
        const struct tr_sstate *st = &sc->st[at[j] - 1];
        struct tr_srep *h = sc->rep + n;
        sc->slot[j] |= (uint32_t)n << 8;
        n += 3;
        for (int w = 0; w < 2; w++) {
            const struct tr_srep *r = reps + st->rep[w];
            unsigned nre = 0, nlisted = 0;
            if (st->rep[w] + (size_t)st->nrep[w] > nreps)
                goto fail; /* cannot happen */
            memset(m, 0, sizeof m);
            for (int trie = 0; trie < 2; trie++)
                for (unsigned i = 0; i < st->nrep[w]; i++) {
                    unsigned c = r[i].comp, bit = sc->ridx[c];
                    if ((sc->trie[c] != 0) != trie)
                        continue;
                    if (bit != TR_SCAN_NO_MASK) {
                        m[bit >> 6] |= (uint64_t)1 << (bit & 63);
                        continue;
                    }
                    sc->rep[n++] = r[i];
                    nlisted++;
                    nre += !trie;
                }
            long mi = mask_index(sc, hash, hcap, m);
            if (mi < 0)
                goto fail;
            h[w] = (struct tr_srep){(uint16_t)nre, (uint16_t)(nlisted - nre)};
            if (w)
                h[2].val = (uint16_t)mi;
            else
                h[2].comp = (uint16_t)mi;
        }
    }
    sc->nrep = n;
    free(hash);
    free(at);
    return 0;
fail:
    free(hash);
    free(at);
    free(sc->rep);
    sc->rep = NULL;
    return -1;
}

struct tr_scan *tr_scan_build(const struct tr_dfa *const *dfa, const int *trie,
                              unsigned n)
{
    if (n == 0 || n > TR_SCAN_MAX_COMPS)
        return NULL;
    struct tr_scan *sc = calloc(1, sizeof *sc);
    struct build b = {.maxstates = SCAN_MAX_STATES, .maxitems = SCAN_MAX_ITEMS};
    uint32_t *list = NULL, *sbase = NULL, *items = NULL;
    struct tr_srep *reps = NULL;
    size_t nreps = 0, repcap = 0, work = 0;
    unsigned char *used = NULL;
    if (!sc)
        return NULL;
    sc->ncomp = n;
    sc->dfa = malloc(n * sizeof *sc->dfa);
    sc->trie = malloc(n);
    sc->ridx = malloc(n * sizeof *sc->ridx);
    list = malloc((size_t)n * 2 * sizeof *list);
    if (!sc->dfa || !sc->trie || !sc->ridx || !list)
        goto fail;
    /* classes: bytes every component treats alike */
    unsigned char sig[256];
    for (unsigned c = 0; c < 256; c++)
        sig[c] = (unsigned char)is_word_byte(c);
    unsigned nregex = 0;
    for (unsigned i = 0; i < n; i++) {
        sc->dfa[i] = dfa[i];
        sc->trie[i] = (unsigned char)(trie[i] != 0);
        sc->ridx[i] = TR_SCAN_NO_MASK;
        if (!trie[i] && nregex < TR_SCAN_MASK_WORDS * 64)
            sc->ridx[i] = (uint16_t)nregex++;
        /* refine: (class so far, class of component i) -> new class */
        unsigned char old[256], kc[256], next[256];
        unsigned m = 0;
        for (unsigned c = 0; c < 256; c++) {
            unsigned j;
            for (j = 0; j < m; j++)
                if (old[j] == sig[c] && kc[j] == dfa[i]->cls[c])
                    break;
            if (j == m) {
                old[m] = sig[c];
                kc[m] = dfa[i]->cls[c];
                m++;
            }
            next[c] = (unsigned char)j;
        }
        memcpy(sig, next, sizeof sig);
    }
    /* byte 0 ends every normalised form: a class of its own, on which no
     * state goes on, so a run stops at the end without a test per byte */
    sig[0] = 255;
    for (unsigned c = 1; c < 256; c++)
        if (sig[c] == 255)
            goto fail; /* cannot happen: fewer than 255 classes */
    /* number classes in byte order; word bytes and others never share */
    unsigned char ren[256], rep[256];
    memset(ren, 0xff, sizeof ren);
    unsigned ncls = 0;
    for (unsigned c = 0; c < 256; c++) {
        if (ren[sig[c]] == 0xff) {
            rep[ncls] = (unsigned char)c;
            sc->word[ncls] = (unsigned char)is_word_byte(c);
            ren[sig[c]] = (unsigned char)ncls++;
        }
        sc->cls[c] = ren[sig[c]];
    }
    sc->ncls = ncls;
    for (unsigned c = 0; c < 256; c++)
        sc->kflag[c] =
            (uint16_t)(sc->cls[c] | (sc->word[sc->cls[c]] ? 2u : 1u) << 8);
    uint32_t dead[1] = {0};
    dfa_state_get(&b, dead, 0, 0);
    uint32_t s0[2];
    for (int bos = 0; bos < 2; bos++) {
        unsigned m = 0;
        for (unsigned i = 0; i < n; i++) {
            uint32_t q = dfa[i]->start[bos && !trie[i] ? 2 : 0];
            list[m++] = i;
            list[m++] = q;
        }
        s0[bos] = dfa_state_get(&b, list, m, 0);
    }
    if (b.failed)
        goto fail;
    uint32_t *roff = NULL;
    uint16_t *rn = NULL;
    size_t rcap = 0, itcap = 0;
    for (uint32_t q = 1; q < b.n && !b.failed; q++) {
        b.trfirst[q] = (uint32_t)b.ntr;
        if (q >= rcap) {
            size_t cap = rcap ? rcap * 2 : 1024;
            uint32_t *ro = realloc(roff, cap * 2 * sizeof *ro);
            if (ro)
                roff = ro;
            uint16_t *rr = ro ? realloc(rn, cap * 2 * sizeof *rr) : NULL;
            if (!rr) {
                free(roff);
                free(rn);
                goto fail;
            }
            rn = rr;
            rcap = cap;
        }
        /* its list, copied: dfa_state_get() below may move the pool */
        uint32_t len = b.len[q];
        if (len > itcap) {
            uint32_t *ni = realloc(items, len * sizeof *ni);
            if (!ni) {
                free(roff);
                free(rn);
                goto fail;
            }
            items = ni;
            itcap = len;
        }
        memcpy(items, b.pool + b.off[q], len * sizeof *items);
        const uint32_t *it = items;
        /* reports before a non-word byte (or the end) and a word byte */
        for (int w = 0; w < 2; w++) {
            roff[2 * q + w] = (uint32_t)nreps;
            rn[2 * q + w] = 0;
            for (uint32_t j = 0; j < len; j += 2) {
                const struct tr_dstate *cs = &dfa[it[j]]->st[it[j + 1]];
                uint16_t v = w ? cs->mword : cs->mnon;
                if (v == TR_NO_PHRASE)
                    continue;
                if (dfa_grow(&reps, &repcap, nreps + 1, sizeof *reps, 1024) <
                    0) {
                    free(roff);
                    free(rn);
                    goto fail;
                }
                reps[nreps++] = (struct tr_srep){(uint16_t)it[j], v};
                if (rn[2 * q + w] == UINT16_MAX) {
                    free(roff);
                    free(rn);
                    goto fail;
                }
                rn[2 * q + w]++;
            }
        }
        for (unsigned k = 0; k < ncls; k++) {
            int w = sc->word[k];
            unsigned m = 0;
            if (k == sc->cls[0])
                continue; /* the end */
            work += len / 2;
            for (uint32_t j = 0; j < len; j += 2) {
                const struct tr_dfa *d = dfa[it[j]];
                const struct tr_dstate *cs = &d->st[it[j + 1]];
                /* a regex that matched here has answered */
                if (!trie[it[j]] && (w ? cs->mword : cs->mnon) != TR_NO_PHRASE)
                    continue;
                uint32_t to = dfa_step(d, it[j + 1], d->cls[rep[k]]);
                if (to == DFA_DEAD)
                    continue;
                list[m++] = it[j];
                list[m++] = to;
            }
            if (!m)
                continue;
            uint32_t to = dfa_state_get(&b, list, m, 0);
            if (b.failed || dfa_trans_add(&b, k, to) < 0) {
                free(roff);
                free(rn);
                goto fail;
            }
        }
        if (work > SCAN_MAX_WORK) {
            free(roff);
            free(rn);
            goto fail;
        }
    }
    if (b.failed) {
        free(roff);
        free(rn);
        goto fail;
    }
    b.trfirst[b.n] = (uint32_t)b.ntr;
    /* pack, each state at a base of its own (the base names the state) */
    sc->st = calloc(b.n, sizeof *sc->st);
    sbase = calloc(b.n, sizeof *sbase);
    size_t cap = b.ntr + b.n + ncls + 64;
    used = calloc(cap, 2); /* [i*2]: slot used, [i*2+1]: base used */
    if (!sc->st || !sbase || !used) {
        free(roff);
        free(rn);
        goto fail;
    }
    used[1] = 1; /* base 0 is no state's: a run there stops (scan_run) */
    for (uint32_t q = 1; q < b.n; q++)
        for (int w = 0; w < 2; w++) {
            sc->st[q].rep[w] = roff[2 * q + w];
            sc->st[q].nrep[w] = rn[2 * q + w];
        }
    free(roff);
    free(rn);
    /* first fit, over free slots: up[i] leads to the first free slot at
     * or after i (path halving); bases are kept distinct in used[2i+1] */
    uint32_t *up = malloc(cap * sizeof *up);
    if (!up)
        goto fail;
    for (size_t i = 0; i < cap; i++)
        up[i] = (uint32_t)i;
    /* pack in depth-first order from the starts: a run's states then
     * lie near each other, and share cache lines */
    uint32_t *order = malloc(b.n * sizeof *order);
    uint32_t *dstack = malloc(b.n * sizeof *dstack);
    unsigned char *seen = calloc(b.n, 1);
    if (!order || !dstack || !seen) {
        free(order);
        free(dstack);
        free(seen);
        free(up);
        goto fail;
    }
    uint32_t norder = 0;
    for (int bos = 0; bos < 2; bos++) {
        uint32_t top0 = 0;
        if (!seen[s0[bos]]) {
            seen[s0[bos]] = 1;
            dstack[top0++] = s0[bos];
        }
        while (top0) {
            uint32_t q = dstack[--top0];
            order[norder++] = q;
            size_t nt;
            const struct trans *t = dfa_trans_of(&b, q, &nt);
            for (size_t k = nt; k-- > 0;) /* first class first */
                if (!seen[t[k].next]) {
                    seen[t[k].next] = 1;
                    dstack[top0++] = t[k].next;
                }
        }
    }
    for (uint32_t q = 1; q < b.n; q++) /* none left, but be sure */
        if (!seen[q])
            order[norder++] = q;
    free(dstack);
    free(seen);
    size_t nextbase = 1, top = 0;
    for (uint32_t oi = 0; oi < norder; oi++) {
        uint32_t q = order[oi];
        size_t nt;
        const struct trans *t = dfa_trans_of(&b, q, &nt);
        int reports = sc->st[q].nrep[0] || sc->st[q].nrep[1];
        size_t base, f = 0;
        for (;;) {
            if (nt) {
                /* the next free slot for the first class */
                f = dfa_free_slot(up, cap, f);
                base = f >= t[0].cls ? f - t[0].cls : 0;
            } else {
                while (nextbase < cap && used[2 * nextbase + 1])
                    nextbase++;
                base = nextbase;
            }
            if (base + ncls + 1 > cap) {
                size_t ncap = cap * 2;
                unsigned char *u = realloc(used, ncap * 2);
                if (u)
                    used = u;
                if (!u || dfa_free_grow(&up, cap, ncap) < 0) {
                    free(up);
                    goto fail;
                }
                memset(used + 2 * cap, 0, (ncap - cap) * 2);
                cap = ncap;
                continue;
            }
            size_t k = 0;
            int ok = base != 0 && !used[2 * base + 1] &&
                     !(reports && used[2 * base]);
            if (ok)
                for (k = 0; k < nt; k++)
                    if (used[2 * (base + t[k].cls)])
                        break;
            if (ok && k == nt)
                break;
            if (nt)
                f++;
            else
                nextbase++;
        }
        sbase[q] = (uint32_t)base;
        used[2 * base + 1] = 1;
        if (reports) {
            used[2 * base] = SLOT_REPORTS;
            up[base] = (uint32_t)(base + 1);
        }
        for (size_t k = 0; k < nt; k++) {
            used[2 * (base + t[k].cls)] = 1;
            up[base + t[k].cls] = (uint32_t)(base + t[k].cls + 1);
        }
        if (base + ncls + 1 > top)
            top = base + ncls + 1;
    }
    free(up);
    free(order);
    sc->nslot = top;
    if (top >= SCAN_MAX_BASE || ncls >= 256)
        goto fail;
    uint32_t *slot = calloc(top, sizeof *slot);
    if (!slot)
        goto fail;
    free(sc->slot);
    sc->slot = slot;
    for (uint32_t q = 1; q < b.n; q++) {
        size_t nt;
        const struct trans *t = dfa_trans_of(&b, q, &nt);
        for (size_t k = 0; k < nt; k++) {
            uint32_t to = t[k].next;
            slot[sbase[q] + t[k].cls] =
                sbase[to] << 10 | (sc->st[to].nrep[0] ? 1u : 0) << 8 |
                (sc->st[to].nrep[1] ? 2u : 0) << 8 | (sbase[q] & 0xffu);
        }
    }
    /* free slots and report slots: a check byte no state that may look
     * there has */
    for (size_t j = 0; j < top; j++) {
        if (used[2 * j] == 1)
            continue;
        uint64_t taken[4] = {0, 0, 0, 0};
        for (size_t k = 0; k < ncls && k <= j; k++)
            if (used[2 * (j - k) + 1]) {
                unsigned lo = (unsigned)((j - k) & 0xff);
                taken[lo >> 6] |= (uint64_t)1 << (lo & 63);
            }
        unsigned c = 0;
        while (taken[c >> 6] >> (c & 63) & 1)
            c++;
        slot[j] = c;
    }
    if (scan_reports(sc, &b, sbase, reps, nreps) < 0)
        goto fail;
    for (int bos = 0; bos < 2; bos++)
        sc->start[bos] = sbase[s0[bos]] << 2 |
                         (sc->st[s0[bos]].nrep[0] ? 1u : 0) |
                         (sc->st[s0[bos]].nrep[1] ? 2u : 0);
    free(sc->st); /* the reports are in rep and the slots now */
    sc->st = NULL;
    free(reps);
    free(items);
    free(used);
    free(sbase);
    free(list);
    dfa_build_free(&b);
    return sc;
fail:
    free(items);
    free(used);
    free(sbase);
    free(list);
    free(reps);
    dfa_build_free(&b);
    tr_scan_free(sc);
    return NULL;
}

size_t tr_scan_size(const struct tr_scan *sc)
{
    return sc ? sizeof *sc + sc->nslot * sizeof *sc->slot +
                    sc->nrep * sizeof *sc->rep +
                    sc->nmask * TR_SCAN_MASK_WORDS * sizeof *sc->mask +
                    sc->ncomp * sizeof *sc->ridx
              : 0;
}

/* Trie component c's report of phrase val, for the match from word start
 * wi to end: its list stays in word-start order, and of one word start's
 * reports the later wins.  Runs stepped together report out of word-start
 * order, but one run's reports come in order.  0, or -1 when res is full. */
static int trie_report(struct tr_scanres *res, unsigned c, uint32_t wi,
                       uint32_t end, uint16_t val)
{
    uint32_t t = res->tail[c], prev = 0, x = res->head[c];
    if (t && res->e[t - 1].wi >= wi) { /* not after the last: find its place */
        while (res->e[x - 1].wi < wi) {
            prev = x;
            x = res->e[x - 1].next;
        }
        if (res->e[x - 1].wi == wi) {
            res->e[x - 1].end = end;
            res->e[x - 1].val = val;
            return 0;
        }
    } else {
        prev = t;
        x = 0;
    }
    if (res->ne == TR_SCAN_ENTRIES)
        return -1;
    res->e[res->ne] = (struct tr_sent){wi, end, x, val, 0};
    res->ne++;
    if (prev)
        res->e[prev - 1].next = res->ne;
    else
        res->head[c] = res->ne;
    if (!x)
        res->tail[c] = res->ne;
    return 0;
}

/* The reports of the state at base, before a byte of kind w, at pos. */
static int scan_report(const struct tr_scan *sc, struct tr_scanres *res,
                       uint32_t base, int w, uint32_t pos, uint32_t wi)
{
    const struct tr_srep *h = sc->rep + SLOT_REPS(sc->slot[base]);
    const struct tr_srep *r = h + 3 + (w ? h[0].comp + h[0].val : 0);
    unsigned nregex = h[w].comp, ntrie = h[w].val;
    /* the regexes with a bit in the masks: no loop whose length waits
     * for the load of rep (a misprediction a report, once a cost of its
     * own) */
    const uint64_t *m =
        sc->mask + (size_t)(w ? h[2].val : h[2].comp) * TR_SCAN_MASK_WORDS;
    for (unsigned j = 0; j < TR_SCAN_MASK_WORDS; j++)
        res->wmask[wi][j] |= m[j];
    uint64_t bit = (uint64_t)1 << (wi & 63);
    uint64_t *bits = res->bits + (wi >> 6);
    for (unsigned i = 0; i < nregex; i++) /* that it matches from here */
        bits[r[i].comp * res->nw] |= bit;
    r += nregex;
    for (unsigned i = 0; i < ntrie; i++)
        if (trie_report(res, r[i].comp, wi, pos, r[i].val) < 0)
            return -1;
    return 0;
}

/* A run's whole state in one word: word start wi, the position of its
 * next byte and its state (base << 2 | report flags, as a slot's next).
 * It is also the run's report record: the steps store it at every step
 * and keep it only when the state reports (a count, not a branch: which
 * steps report is data a branch predictor guesses badly). */
typedef uint64_t scan_rec;
#define REC_POS      24 /* bit of pos: base << 2 | flags is below it */
#define REC_WI       48 /* bit of wi: pos is below 1 << 24 */
#define REC_CUR_MASK ((1u << REC_POS) - 1)
#define REC_POS_MASK ((1u << (REC_WI - REC_POS)) - 1)
_Static_assert(SCAN_MAX_BASE << 2 <= (1u << REC_POS), "state fits a record");
_Static_assert(NORM_CAP < (1u << (REC_WI - REC_POS)), "pos fits a record");
_Static_assert(TR_SCAN_WORDS * 64 < (1u << (64 - REC_WI)), "wi fits");

/* Runs stepped together, each in a lane.  A step is a chain of dependent
 * loads (the byte, its class, the slot), and the lanes' chains hide each
 * other's latency.  A lane whose run stops takes the next word start by
 * a select, not a branch, so where a run stops (which the data decides,
 * once a word) costs no misprediction.  Three measured best: two 1.40,
 * three 1.24, four 1.26 us a message (make bench-triage); more spill. */
#define SCAN_LANES 3
/* the lanes must be unrolled, to be in registers: GCC does not unaided */
#define SCAN_PRAGMA(x) _Pragma(#x)
#define SCAN_UNROLL(n) SCAN_PRAGMA(GCC unroll n)
#define SCAN_QUEUE     64 /* reports held before they are taken */

/* Takes the n queued reports q: 0, or -1 when res is full. */
static int queue_flush(const struct tr_scan *sc, struct tr_scanres *res,
                       const unsigned char *s, const scan_rec *q, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t pos = (uint32_t)(q[i] >> REC_POS) & REC_POS_MASK;
        if (scan_report(sc, res, ((uint32_t)q[i] & REC_CUR_MASK) >> 2,
                        sc->word[sc->cls[s[pos]]], pos,
                        (uint32_t)(q[i] >> REC_WI)) < 0)
            return -1;
    }
    return 0;
}

int tr_scan_run(const struct tr_scan *sc, struct tr_scanres *res,
                const char *text, size_t end, const uint32_t *starts,
                size_t nstarts, uint64_t *budget)
{
    const unsigned char *s = (const unsigned char *)text;
    if (nstarts > TR_SCAN_WORDS * 64)
        return -1;
    res->nw = nstarts ? (unsigned)((nstarts + 63) / 64) : 1;
    memset(res->head, 0, sc->ncomp * sizeof *res->head);
    memset(res->tail, 0, sc->ncomp * sizeof *res->tail);
    memset(res->bits, 0, sc->ncomp * res->nw * sizeof *res->bits);
    memset(res->wmask, 0, nstarts * sizeof *res->wmask);
    memset(res->anymask, 0, sizeof res->anymask);
    res->ridx = sc->ridx;
    res->ne = 0;
    res->reach = 0;
    if (s[end] != '\0')
        return -1; /* the run relies on the form's terminator */
    if (nstarts == 0)
        return 0;
    /* what a lane takes for word start i; past the last, a run that
     * stops at once (base 0, which no state has) and stays so */
    scan_rec init[TR_SCAN_WORDS * 64 + 1];
    for (size_t i = 0; i < nstarts; i++)
        init[i] = (scan_rec)i << REC_WI | (scan_rec)starts[i] << REC_POS |
                  sc->start[starts[i] == 0];
    init[nstarts] = (scan_rec)nstarts << REC_WI | (scan_rec)end << REC_POS;
    const uint16_t *kflag = sc->kflag;
    const uint32_t *slot = sc->slot;
    uint32_t *dead = res->dead;
    scan_rec lane[SCAN_LANES];
    size_t ni = 0;
    for (unsigned l = 0; l < SCAN_LANES; l++) {
        lane[l] = init[ni];
        ni += ni < nstarts;
    }
    scan_rec q[SCAN_QUEUE];
    unsigned qn = 0;
    /* every turn steps at least one run, so turns bound the steps: past
     * budget plus the longest run, the runs before the last have spent
     * the budget, which is when it counts as spent (below) */
    uint64_t turns = 0, limit = *budget + end + 1;
    for (;;) {
        SCAN_UNROLL(SCAN_LANES)
        for (unsigned l = 0; l < SCAN_LANES; l++) {
            scan_rec x = lane[l];
            uint32_t base = ((uint32_t)x & REC_CUR_MASK) >> 2;
            uint32_t pos = (uint32_t)(x >> REC_POS) & REC_POS_MASK;
            /* at the end: the class of 0, on which no state goes on */
            unsigned kf = kflag[s[pos]], k = kf & 0xffu;
            q[qn] = x;
            qn += (x & (kf >> 8)) != 0;
            dead[x >> REC_WI] = pos; /* its last step's is where it stopped */
            uint32_t e = slot[base + k];
            scan_rec stop = SLOT_CHECK(e) != (base & 0xffu);
            scan_rec next =
                ((x & ~(scan_rec)REC_CUR_MASK) + ((scan_rec)1 << REC_POS)) |
                SLOT_NEXT(e);
            /* a select by mask: as a branch, the misprediction is back */
            lane[l] = next ^ ((next ^ init[ni]) & ((scan_rec)0 - stop));
            ni += stop;
            ni = ni < nstarts ? ni : nstarts;
        }
        scan_rec any = 0;
        for (unsigned l = 0; l < SCAN_LANES; l++)
            any |= lane[l] & REC_CUR_MASK;
        if (any == 0)
            break; /* every lane past the last word start */
        if (qn > SCAN_QUEUE - SCAN_LANES) { /* room for a turn's */
            if (queue_flush(sc, res, s, q, qn) < 0)
                return -1;
            qn = 0;
        }
        if (++turns >= limit) {
            *budget = 0;
            return -2; /* the message's steps are spent */
        }
    }
    if (queue_flush(sc, res, s, q, qn) < 0)
        return -1;
    /* charged per run, as if run one after another: the budget is spent
     * when the runs before the last have used it up */
    uint64_t spent = 0, last = 0, reach = 0;
    for (size_t i = 0; i < nstarts; i++) {
        uint64_t len = dead[i] - starts[i];
        last = len + 1;
        spent += last;
        reach = len > reach ? len : reach;
        for (unsigned j = 0; j < TR_SCAN_MASK_WORDS; j++)
            res->anymask[j] |= res->wmask[i][j];
    }
    if (spent - last >= *budget) {
        *budget = 0;
        return -2;
    }
    *budget = spent < *budget ? *budget - spent : 0;
    res->reach = (uint32_t)reach;
    return 0;
}

int tr_scan_find(const struct tr_scanres *res, unsigned comp,
                 const struct tr_dfa *d, const char *text, size_t len,
                 size_t from, size_t to, const uint32_t *starts, size_t *ms,
                 size_t *me, uint32_t *id, uint64_t *budget)
{
    const unsigned char *s = (const unsigned char *)text;
    for (uint32_t x = res->head[comp]; x; x = res->e[x - 1].next) {
        const struct tr_sent *e = &res->e[x - 1];
        size_t p = starts[e->wi];
        if (p < from)
            continue;
        if (p >= to)
            return 0;
        if (e->end < to || to == len) {
            *ms = p;
            *me = e->end;
            *id = e->val;
            return 1;
        }
        /* the match runs to the cut or past it: the search of the cut
         * text may still find a shorter one */
        int rc = dfa_trie_run(d, s, p, to, me, id, budget);
        if (rc) {
            *ms = p;
            return rc;
        }
    }
    return 0;
}

int tr_scan_exists(const struct tr_scanres *res, unsigned comp,
                   const struct tr_dfa *d, const struct tr_dfa_sum *sum,
                   const char *text, size_t len, size_t to,
                   const uint32_t *starts, size_t i0, size_t i1, size_t *at,
                   uint64_t *budget)
{
    const unsigned char *s = (const unsigned char *)text;
    const uint64_t *bits = res->bits + (size_t)comp * res->nw;
    unsigned mb = res->ridx[comp];
    /* a run that reached the cut may have matched there or past it: for
     * those the cut text decides; the others matched before the cut.  A
     * run of d alive at the cut began at most sum->depth bytes before, so
     * only the word starts [lo, i1) can have reached it.  (sum is the
     * caller's copy, so that d itself is read only for a re-run) */
    size_t reach = res->reach < sum->depth ? res->reach : sum->depth, lo = i1;
    if (to < len)
        while (lo > i0 && starts[lo - 1] + reach >= to)
            lo--;
    /* the leftmost match is wanted: one before lo is the run's own answer,
     * and then no run from lo on need be asked of the cut text */
    if (mb != TR_SCAN_NO_MASK) {
        if (res->anymask[mb >> 6] >> (mb & 63) & 1)
            for (size_t i = i0; i < lo; i++)
                if (res->wmask[i][mb >> 6] >> (mb & 63) & 1) {
                    *at = starts[i];
                    return 1;
                }
    } else {
        for (size_t w = i0 >> 6; w < res->nw && w * 64 < lo; w++) {
            uint64_t m = bits[w];
            if (w == i0 >> 6)
                m &= ~(uint64_t)0 << (i0 & 63);
            if (m) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(m);
                if (i < lo) {
                    *at = starts[i];
                    return 1;
                }
                break;
            }
        }
    }
    /* a run that did not match on the whole text made the same steps on
     * the cut text up to the cut, so only its state at the cut can still
     * match; one a non-word byte led to cannot unless sum->sepaccept */
    int sepcut = to > 0 && !is_word_byte(s[to - 1]) && !sum->sepaccept;
    for (size_t i = lo; i < i1; i++) {
        int rc, bit = tr_scan_bit(res, comp, i);
        /* the run of d from a byte it cannot begin with dies there, as
         * it would on the cut text (a word start: after a non-word) */
        if (res->dead[i] >= to && (bit || !sepcut) &&
            dfa_first_byte(d, starts[i] ? 0 : 2, s[starts[i]])) {
            rc = dfa_regex_run(d, s, starts[i], to, budget);
            if (rc < 0)
                return -1;
        } else {
            rc = bit;
        }
        if (rc) {
            *at = starts[i];
            return 1;
        }
    }
    return 0;
}
