/*
 * test_triage.c - `make test-triage`: unit tests of the triage engine and
 * the corpus targets.
 *
 * Owns: main() and the checks of normalisation, span mapping, negation,
 * idioms, escalators, rule-file errors and the fail-safe.  Prints one line
 * per failure and a last line "N passed, N failed"; exits 1 on failure.
 * Usage: test_triage RULES_DIR CORPUS_TSV
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval.h"
#include "triage_int.h"

static unsigned passed, failed;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

static struct triage_rules *R;
static struct triage_ctx *C;

static int word_pcre2(void *arg, const char *s, size_t end, size_t p)
{
    (void)arg;
    int rc = pcre2_match(R->word, (PCRE2_SPTR)s, end, p, 0, C->md, NULL);
    return rc == PCRE2_ERROR_NOMATCH ? 0 : rc < 0 ? -1 : 1;
}

static struct triage_result run(const char *text)
{
    struct triage_result r;
    triage_run(R, C, text, strlen(text), &r);
    return r;
}

static int has_cat(const struct triage_result *r, const char *c)
{
    for (unsigned i = 0; i < r->ncategories; i++)
        if (strcmp(r->categories[i], c) == 0)
            return 1;
    return 0;
}

/* The normalised form 0 of text. */
static const char *norm(const char *text)
{
    struct triage_result r;
    triage_run(R, C, text, strlen(text), &r);
    return C->form[0].s;
}

static void test_normalise(void)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"I CAN'T", "i can not"},
        {"k1ll mys3lf", "kill myself"},
        {"s u i c i d e", "suicide"},
        {"k n i f e", "knife"},
        {"800mg", "800mg"},
        {"3am", "3am"},
        {"killlll", "kill"},
        {"gonna", "going to"},
        {"he\xe2\x80\x99ll", "he will"},                 /* curly apostrophe */
        {"\xef\xbc\xa4\xef\xbc\xa9\xef\xbc\xa5", "die"}, /* fullwidth */
        {"d\xd1\x96\x65", "die"},                        /* Cyrillic i */
        {"sui\xe2\x80\x8b"
         "cide",
         "suicide"},                   /* zero-width space */
        {"\xf0\x9f\x92\x8a", "pills"}, /* pill emoji */
        {"p@racetamol", "paracetamol"},
        {"su1c1de", "suicide"},
        {"overdoze", "overdose"},
        {"hello, world", "hello\nworld"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = norm(cases[i].in);
        CHECK(strcmp(got, cases[i].want) == 0, "normalise(%s) = \"%s\"",
              cases[i].in, got);
    }
    /* form 1 collapses runs of three to one */
    norm("anymoreee");
    CHECK(strcmp(C->form[1].s, "any more") == 0, "form 1 = \"%s\"",
          C->form[1].s);
}

static void test_spans(void)
{
    const char *t = "hiya. I W4NT to d\xd1\x96\x65 tonite";
    struct triage_result r = run(t);
    CHECK(r.nspans >= 1, "spans found");
    int ok = 0;
    for (unsigned i = 0; i < r.nspans; i++) {
        const char *s = t + r.spans[i].start;
        size_t n = r.spans[i].end - r.spans[i].start;
        if (n == strlen("W4NT to d\xd1\x96\x65") &&
            memcmp(s, "W4NT to d\xd1\x96\x65", n) == 0)
            ok = 1;
        CHECK(r.spans[i].end <= strlen(t), "span inside the text");
    }
    CHECK(ok, "span maps to the original bytes \"W4NT to d\\u0456e\"");
}

static void test_decisions(void)
{
    struct triage_result r;
    r = run("ive got all my tablets lined up for tonight");
    CHECK(r.severity == TRIAGE_EMERGENCY && has_cat(&r, "suicide"),
          "means + plan + timing is an emergency (got %s)",
          triage_severity_name(r.severity));
    r = run("i want to die");
    CHECK(r.severity == TRIAGE_HIGH, "want to die is high (got %s)",
          triage_severity_name(r.severity));
    r = run("i want to die tonight");
    CHECK(r.severity == TRIAGE_EMERGENCY, "timing escalates (got %s)",
          triage_severity_name(r.severity));
    r = run("i would never hurt my baby");
    CHECK(r.severity == TRIAGE_MEDIUM && has_cat(&r, "harm_to_child"),
          "reassurance lowers one step (got %s)",
          triage_severity_name(r.severity));
    r = run("i am not going to take all my tablets tonight");
    CHECK(r.severity == TRIAGE_HIGH,
          "negation never takes an emergency below high (got %s)",
          triage_severity_name(r.severity));
    r = run("im not coping but i want to die");
    CHECK(r.severity >= TRIAGE_HIGH, "'but' ends the negation scope");
    const char *idioms[] = {"this homework is killing me",
                            "i could murder a takeaway",
                            "my son died laughing",
                            "we made bath bombs",
                            "how much calpol for a 2 year old",
                            "im at the end of my rope with bedtime"};
    for (size_t i = 0; i < sizeof idioms / sizeof idioms[0]; i++) {
        r = run(idioms[i]);
        CHECK(r.severity <= TRIAGE_LOW, "idiom \"%s\" stays low (got %s)",
              idioms[i], triage_severity_name(r.severity));
    }
    CHECK(triage_latch(TRIAGE_HIGH, TRIAGE_LOW) == TRIAGE_HIGH,
          "latch never lowers");
    CHECK(triage_latch(TRIAGE_LOW, TRIAGE_EMERGENCY) == TRIAGE_EMERGENCY,
          "latch raises");
    CHECK(triage_severity_parse("emergency") == TRIAGE_EMERGENCY &&
              triage_severity_parse("bogus") == -1,
          "severity names");
    r = run("");
    CHECK(r.severity == TRIAGE_NONE, "empty message is none");
}

static void test_failsafe(void)
{
    triage_ctx_set_match_limit(C, 1);
    struct triage_result r;
    /* the engine as it was (C tries, PCRE2 for the rest): a require regex
     * of this message hits the limit */
    const char *t = "ive got all my tablets lined up for tonight";
    C->reference = 1;
    int rc = triage_run(R, C, t, strlen(t), &r);
    C->reference = 0;
    CHECK(rc == -1 && r.severity == TRIAGE_MEDIUM && r.ncategories == 1 &&
              strcmp(r.categories[0], "triage_error") == 0,
          "a match limit gives medium triage_error");
    /* with the DFAs PCRE2 only locates an escalator's span ("20 pills"
     * raises want_die): the limit still fails safe */
    t = "i want to die, i have 20 pills";
    rc = triage_run(R, C, t, strlen(t), &r);
    CHECK(rc == -1 && r.severity == TRIAGE_MEDIUM && r.ncategories == 1 &&
              strcmp(r.categories[0], "triage_error") == 0,
          "a match limit on an escalator's span gives medium triage_error");
    triage_ctx_set_match_limit(C, MATCH_LIMIT);
    char *big = malloc(TRIAGE_MAX_INPUT + 2);
    memset(big, 'a', TRIAGE_MAX_INPUT + 1);
    big[TRIAGE_MAX_INPUT + 1] = '\0';
    rc = triage_run(R, C, big, TRIAGE_MAX_INPUT + 1, &r);
    CHECK(rc == -1 && r.severity == TRIAGE_MEDIUM,
          "an oversize message is marked for a human");
    free(big);
}

/* One C trie against the PCRE2 regex compiled from the same phrases:
 * the same match (start, end, phrase) from every character start.  With
 * !exact only whether there is a match (a require/except pattern's trie
 * promises no more), though both C scans must still agree exactly. */
static int matcher_agrees(const pcre2_code *re, const struct tr_trie *t,
                          const char *s, size_t end, int marks, int exact)
{
    static uint32_t starts[8192];
    struct tr_wclass wc = {word_pcre2, NULL, 0, NULL, 0, NULL};
    size_t nstarts =
        end / 2 + 1 <= 8192 ? tr_word_starts(s, end, starts, &wc) : 0;
    for (size_t from = 0; from <= end; from++) {
        if (from < end && ((unsigned char)s[from] & 0xC0) == 0x80)
            continue;
        int rc = pcre2_match(re, (PCRE2_SPTR)s, end, from, 0, C->md, NULL);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(C->md);
        PCRE2_SPTR mark = pcre2_get_mark(C->md);
        size_t ps = rc > 0 ? ov[0] : 0, pe = rc > 0 ? ov[1] : 0;
        unsigned long pid =
            rc > 0 && mark ? strtoul((const char *)mark, NULL, 10) : 0;
        int nomark = rc > 0 && !mark;
        size_t ms = 0, me = 0; /* word_pcre2 reuses C->md: read it first */
        uint32_t id = 0;
        /* by a scan of every offset, and of the word starts only */
        wc.starts = NULL;
        int rc2 = tr_trie_find(t, s, end, from, &ms, &me, &id, &wc);
        if ((rc > 0) != (rc2 > 0) || rc2 < 0)
            return 0;
        size_t ms2 = 0, me2 = 0;
        uint32_t id2 = 0;
        wc.starts = starts;
        wc.nstarts = nstarts;
        if (tr_trie_find(t, s, end, from, &ms2, &me2, &id2, &wc) != rc2 ||
            ms2 != ms || me2 != me || id2 != id)
            return 0;
        if (exact && rc > 0 &&
            (ps != ms || pe != me || (marks && (nomark || pid != id))))
            return 0;
    }
    return 1;
}

/* Every require/except/escalate pattern that has a C trie, on one form:
 * the whole text and the text cut at a token start, as a window cuts it. */
static unsigned patterns_disagree(const struct norm *n)
{
    unsigned bad = 0;
    size_t mid = n->ntok > 1 ? n->tok[n->ntok / 2] : n->len;
    for (unsigned i = 0; i < R->nrules + R->ncategories; i++) {
        const struct tr_pattern *v[3] = {NULL, NULL, NULL};
        unsigned nv[3] = {0, 0, 0};
        if (i < R->nrules) {
            const struct tr_rule *ru = &R->rules[i];
            v[0] = ru->require, nv[0] = ru->nrequire;
            v[1] = ru->except, nv[1] = ru->nexcept;
            v[2] = ru->escalate, nv[2] = ru->nescalate;
        } else {
            const struct tr_category *c = &R->categories[i - R->nrules];
            v[0] = c->escalate, nv[0] = c->nescalate;
        }
        for (int k = 0; k < 3; k++)
            for (unsigned j = 0; j < nv[k]; j++) {
                const struct tr_pattern *p = &v[k][j];
                if (!p->trie)
                    continue;
                bad +=
                    !matcher_agrees(p->re, p->trie, n->s, n->len, 0, p->exact) +
                    !matcher_agrees(p->re, p->trie, n->s, mid, 0, p->exact);
            }
    }
    return bad;
}

static void test_matcher(const char *corpus)
{
    FILE *f = fopen(corpus, "r");
    CHECK(f != NULL, "open %s", corpus);
    if (!f)
        return;
    static const char *const extra[] = {
        "", "\xd0\xb4", "\xe6\x88\x91", "\xcc\x81", "\xe2\xba\x80", "_"};
    char line[8192], text[8400];
    unsigned rows = 0, bad = 0, pbad = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *t = line;
        for (int k = 0; k < 4 && t; k++)
            t = (t = strchr(t, '\t')) ? t + 1 : NULL;
        if (!t || line[0] == '#')
            continue;
        /* also with a letter of another script, a mark or a symbol
         * glued into a word, where \w and \b need PCRE2's Unicode view */
        const char *x = extra[rows % (sizeof extra / sizeof extra[0])];
        const char *sp = strchr(t, ' ');
        size_t cut = sp ? (size_t)(sp - t) : strlen(t);
        snprintf(text, sizeof text, "%.*s%s%s", (int)cut, t, x, t + cut);
        rows++;
        struct triage_result r;
        triage_run(R, C, text, strlen(text), &r);
        for (int i = 0; i < 2; i++) {
            const struct norm *n = &C->form[i];
            if (i == 1 && n->len == 0)
                break;
            for (unsigned c = 0; c < R->ncues; c++)
                bad += !matcher_agrees(R->cues[c], R->cuetrie[c], n->s, n->len,
                                       1, 1);
            for (int k = 0; k < CTX_COUNT; k++)
                if (R->context[k])
                    bad += !matcher_agrees(R->context[k], R->context_trie[k],
                                           n->s, n->len, 0, 1);
            /* a subject cut short, as context_of() cuts it at the cue */
            size_t mid = n->ntok > 1 ? n->tok[n->ntok / 2] : n->len;
            if (R->stop)
                bad += !matcher_agrees(R->stop, R->stop_trie, n->s, mid, 0, 1);
            pbad += patterns_disagree(n);
        }
    }
    fclose(f);
    CHECK(rows > 400 && bad == 0,
          "C phrase tries match as their regexes do (%u rows, %u differ)", rows,
          bad);
    unsigned ntries = 0;
    for (unsigned i = 0; i < R->nrules; i++)
        for (unsigned j = 0; j < R->rules[i].nrequire; j++)
            ntries += R->rules[i].require[j].trie != NULL;
    CHECK(ntries > 0 && pbad == 0,
          "require/except tries find a match where their regexes do (%u "
          "rows, %u differ)",
          rows, pbad);
}

/* ---- the DFAs and the fused normaliser against the reference ---------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (unsigned)((rng_state >> 33) % n) : 0;
}

/* Appends a disguised copy of word w (n bytes) to out. */
static void disguise(char *out, size_t *len, size_t cap, const char *w,
                     size_t n)
{
    static const char *const odd[] = {
        "\xf0\x9f\x92\x8a",
        "\xe2\x80\x8b",
        "\xe2\x80\x99",
        "`",
        "\xd0\xb0",
        "\xc3\xa9",
        "\xef\xbd\x81",
        "\xe6\x88\x91",
        "\xcc\x81",
        "_",
        "\xe2\x80\xa6",
        "'",
        "!",
        "@",
        "$",
        ".",
        ",",
        "\n",
        "\t",
        "\xff",
    };
    static const char *const suffix[] = {"'ll", "'re", "'ve", "'m",
                                         "'d",  "'s",  "n't", "'LL"};
    char buf[512];
    size_t m = 0;
    unsigned k = rnd(100);
    for (size_t i = 0; i < n && m + 8 < sizeof buf; i++) {
        char c = w[i];
        if (k < 6 && rnd(2)) { /* leetspeak */
            const char *from = "aeiost", *to = "4310$7";
            const char *f = strchr(from, c);
            if (f && c)
                c = to[f - from];
        } else if (k < 9) { /* S H O U T or Capitals */
            if (c >= 'a' && c <= 'z' && (k < 8 || i == 0))
                c = (char)(c - 32);
        }
        buf[m++] = c;
        if (k >= 9 && k < 12 && c != ' ') /* s p a c e d */
            buf[m++] = rnd(4) ? ' ' : '.';
        if (k >= 12 && k < 15 && i == n / 2) /* repeated letters */
            for (unsigned r = rnd(5); r-- > 0;)
                buf[m++] = c;
        if (k >= 15 && k < 18 && i == n / 2) {
            const char *o = odd[rnd(sizeof odd / sizeof odd[0])];
            size_t ol = strlen(o);
            memcpy(buf + m, o, ol);
            m += ol;
        }
    }
    if (k >= 18 && k < 21) {
        const char *x = suffix[rnd(sizeof suffix / sizeof suffix[0])];
        memcpy(buf + m, x, strlen(x));
        m += strlen(x);
    }
    if (*len + m + 2 < cap) {
        memcpy(out + *len, buf, m);
        *len += m;
    }
}

struct snapshot {
    int rc;
    struct triage_result r;
    struct triage_hit hits[MAX_HITS];
    unsigned nhits;
};

static void snap(struct triage_ctx *c, const char *t, size_t n,
                 struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->rc = triage_run(R, c, t, n, &s->r);
    const struct triage_hit *h = triage_last_hits(c, &s->nhits);
    memcpy(s->hits, h, s->nhits * sizeof *h);
}

/* Every message gives the same result, hits and forms with the DFAs and
 * the fused normaliser as the reference gives (the engine as it was:
 * tools/triage-compare.sh checks against an older build too). */
static void test_reference(const char *corpus)
{
    FILE *f = fopen(corpus, "r");
    CHECK(f != NULL, "open %s", corpus);
    if (!f)
        return;
    static char rows[600][512];
    unsigned nrows = 0;
    char line[8192];
    while (nrows < 600 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *t = line;
        for (int k = 0; k < 4 && t; k++)
            t = (t = strchr(t, '\t')) ? t + 1 : NULL;
        if (t && line[0] != '#')
            snprintf(rows[nrows++], sizeof rows[0], "%s", t);
    }
    fclose(f);
    struct triage_ctx *ref = triage_ctx_new();
    CHECK(ref != NULL, "ctx");
    if (!ref || nrows == 0) {
        triage_ctx_free(ref);
        return;
    }
    ref->reference = 1;
    static struct snapshot a, b;
    unsigned n = 0, bad = 0, fast = 0;
    char text[4096];
    for (unsigned m = 0; m < 6000; m++) {
        size_t len = 0;
        for (unsigned parts = 1 + rnd(4); parts-- > 0;) {
            const char *src;
            unsigned k = rnd(10);
            if (k < 5)
                src = rows[rnd(nrows)];
            else if (k < 9)
                src = R->phrases[rnd(R->nphrases)].text;
            else {
                const struct tr_lex_entry *e =
                    &R->lex[rnd((unsigned)R->lexcap)];
                src = e->from ? e->from : "okay";
            }
            const char *w = src;
            while (*w) {
                size_t wl = strcspn(w, " *");
                disguise(text, &len, sizeof text, w, wl);
                w += wl;
                while (*w == ' ' || *w == '*')
                    w++;
                if (len + 4 < sizeof text)
                    text[len++] = rnd(12) ? ' ' : ",.!?\n"[rnd(5)];
            }
        }
        snap(C, text, len, &a);
        fast += C->fast;
        snap(ref, text, len, &b);
        int same = a.rc == b.rc && a.nhits == b.nhits &&
                   memcmp(&a.r, &b.r, sizeof a.r) == 0 &&
                   memcmp(a.hits, b.hits, a.nhits * sizeof *a.hits) == 0 &&
                   (a.rc < 0 || (tr_norm_equal(&C->form[0], &ref->form[0]) &&
                                 tr_norm_equal(&C->form[1], &ref->form[1])));
        if (!same && bad++ < 3)
            printf("  differs from the reference: \"%.*s\"\n", (int)len, text);
        n++;
    }
    printf("reference: %u messages, %u fast, %u differ\n", n, fast, bad);
    CHECK(bad == 0 && fast > n / 2,
          "DFAs and fused normaliser agree with the reference (%u messages, "
          "%u on the DFAs, %u differ)",
          n, fast, bad);
    triage_ctx_free(ref);
}

/* Writes one rule file into a fresh directory and loads it. */
static struct triage_rules *load_text(const char *body, char *err,
                                      size_t errlen)
{
    char dir[] = "/tmp/triage-test-XXXXXX";
    if (!mkdtemp(dir))
        return NULL;
    char path[64];
    snprintf(path, sizeof path, "%s/bad.rules", dir);
    FILE *f = fopen(path, "w");
    fputs(body, f);
    fclose(f);
    struct triage_rules *r = triage_load(dir, err, errlen);
    unlink(path);
    rmdir(dir);
    return r;
}

static void test_loader(void)
{
    char err[512];
    struct triage_rules *r =
        load_text("category suicide\nrule a high\ncue want to die\n"
                  "require: (unclosed\n",
                  err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:4: regex error"),
          "bad regex gives file:line (%s)", err);
    triage_free(r);
    r = load_text("category suicide\nrule a extreme\n", err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:2: bad severity"),
          "bad severity gives file:line (%s)", err);
    triage_free(r);
    r = load_text("rule a high\n", err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:1:"), "rule before category (%s)", err);
    triage_free(r);
    r = load_text("category x\nrule a high\ncue {nolist}\n", err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:3: unknown list"), "unknown list (%s)",
          err);
    triage_free(r);
    r = load_text("spell gonna = going to\ncategory x\nrule a low\n"
                  "cue gonna\n",
                  err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:4: cue word \"gonna\""),
          "cue word rewritten by the lexicon (%s)", err);
    triage_free(r);
    r = load_text("category x\nrule a low\ncue hello there\n", err, sizeof err);
    CHECK(r != NULL, "a good file loads (%s)", r ? "" : err);
    triage_free(r);
    r = triage_load("/nonexistent/rules", err, sizeof err);
    CHECK(!r && strstr(err, "/nonexistent/rules"), "missing dir (%s)", err);
}

/* Issue #7: rule files are input too.  A phrase whose wildcards backtrack
 * exponentially ("a*a*...c" against "abab...") once hung the C matcher,
 * and a long phrase recursed once per byte. */
static void test_pathological_rules(void)
{
    char err[512];
    struct triage_rules *r =
        load_text("category suicide\nrule crafted high\n"
                  "cue a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c\n",
                  err, sizeof err);
    CHECK(r != NULL, "wildcard rule file loads (%s)", r ? "" : err);
    if (r) {
        char text[201];
        for (size_t i = 0; i < sizeof text - 1; i++)
            text[i] = i % 2 ? 'b' : 'a';
        text[sizeof text - 1] = '\0';
        struct triage_result res;
        int rc = triage_run(r, C, text, strlen(text), &res);
        CHECK(rc == -1 && res.severity == TRIAGE_MEDIUM &&
                  res.ncategories == 1 &&
                  strcmp(res.categories[0], "triage_error") == 0,
              "exponential backtracking gives medium triage_error "
              "(rc %d, %s)",
              rc, triage_severity_name(res.severity));
        /* the budget is the message's: the next one starts afresh */
        rc = triage_run(r, C, "abac", 4, &res);
        CHECK(rc == 0 && res.severity == TRIAGE_NONE,
              "the next message is triaged as usual (rc %d, %s)", rc,
              triage_severity_name(res.severity));
    }
    triage_free(r);

    /* a regex whose DFA lives to the end of the text from every word
     * start ("xo xo xo ...", no "y"): quadratic work, so the DFA steps
     * count against the message's budget.  (PCRE2 alone answered "none"
     * here at once: it first looks for the "y" every match needs.) */
    r = load_text("category x\nrule spread high\ncue xo\n"
                  "require: \\bxo.*y\n",
                  err, sizeof err);
    CHECK(r != NULL, "spreading regex rule file loads (%s)", r ? "" : err);
    if (r) {
        char *text = malloc(TRIAGE_MAX_INPUT);
        for (size_t i = 0; i < TRIAGE_MAX_INPUT; i++)
            text[i] = "xo "[i % 3];
        struct triage_result res;
        int rc = triage_run(r, C, text, TRIAGE_MAX_INPUT, &res);
        CHECK(rc == -1 && res.severity == TRIAGE_MEDIUM &&
                  strcmp(res.categories[0], "triage_error") == 0,
              "quadratic DFA work gives medium triage_error (rc %d, %s)", rc,
              triage_severity_name(res.severity));
        free(text);
        rc = triage_run(r, C, "xo then y", 9, &res);
        CHECK(rc == 0 && res.severity == TRIAGE_HIGH,
              "the next message is triaged as usual (rc %d, %s)", rc,
              triage_severity_name(res.severity));
    }
    triage_free(r);

    /* the longest phrase allowed, as deep as the matcher goes */
    char body[MAX_LINE], phrase[TRIE_MAX_PHRASE + 8];
    size_t n = 0;
    while (n + 3 <= TRIE_MAX_PHRASE) /* "ab ab ... ab" */
        n += (size_t)snprintf(phrase + n, sizeof phrase - n, "%sab",
                              n ? " " : "");
    snprintf(body, sizeof body, "category x\nrule deep high\ncue %s\n", phrase);
    r = load_text(body, err, sizeof err);
    CHECK(r != NULL, "a %zu-byte phrase loads (%s)", n, r ? "" : err);
    if (r) {
        struct triage_result res;
        int rc = triage_run(r, C, phrase, n, &res);
        CHECK(rc == 0 && res.severity == TRIAGE_HIGH && res.nspans == 1 &&
                  res.spans[0].start == 0 && res.spans[0].end == n,
              "a %zu-byte phrase matches itself (rc %d, %s)", n, rc,
              triage_severity_name(res.severity));
    }
    triage_free(r);

    /* one byte longer is refused where it is written */
    memset(phrase, 'a', TRIE_MAX_PHRASE + 1);
    phrase[TRIE_MAX_PHRASE + 1] = '\0';
    snprintf(body, sizeof body, "category x\nrule long high\ncue ok | %s\n",
             phrase);
    r = load_text(body, err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:3: phrase") &&
              strstr(err, "longer than"),
          "a phrase over %d bytes gives file:line (%s)", TRIE_MAX_PHRASE, err);
    triage_free(r);
    snprintf(body, sizeof body,
             "list long: %.*s\ncategory x\nrule long high\n"
             "cue {long}aaaa\n",
             TRIE_MAX_PHRASE - 2, phrase);
    r = load_text(body, err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:4: phrase"),
          "a phrase over %d bytes after {list} expansion gives file:line "
          "(%s)",
          TRIE_MAX_PHRASE, err);
    triage_free(r);
}

/* The scan steps runs from several word starts at once, so a long match
 * from an early word reports after short ones from later words.  Both
 * must still be found, the short rule's leftmost (scan.c keeps each
 * phrase list in word order). */
static void test_interleaved_runs(void)
{
    char err[512];
    struct triage_rules *r =
        load_text("category x\nrule long high\n"
                  "cue alpha beta gamma delta epsilon zeta\n"
                  "rule short medium\ncue gamma | delta | zeta\n",
                  err, sizeof err);
    CHECK(r != NULL, "overlapping phrases load (%s)", r ? "" : err);
    if (!r)
        return;
    static const char text[] = "alpha beta gamma delta epsilon zeta";
    struct triage_result res;
    int rc = triage_run(r, C, text, strlen(text), &res);
    int whole = 0, first = 0;
    for (unsigned i = 0; i < C->nhits; i++) {
        const struct triage_hit *h = &C->hits[i];
        whole += strcmp(h->rule, "long") == 0 && h->start == 0 && h->end == 35;
        first +=
            strcmp(h->rule, "short") == 0 && h->start == 11 && h->end == 16;
    }
    CHECK(rc == 0 && res.severity == TRIAGE_HIGH && C->nhits == 2 &&
              whole == 1 && first == 1,
          "a long phrase, and the leftmost short one inside it, are found "
          "(rc %d, %s, %u hits)",
          rc, triage_severity_name(res.severity), C->nhits);
    triage_free(r);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "moderation/rules";
    const char *corpus = argc > 2 ? argv[2] : "tests/triage/corpus.tsv";
    char err[512];
    R = triage_load(dir, err, sizeof err);
    C = triage_ctx_new();
    CHECK(R != NULL, "rules load: %s", R ? "" : err);
    CHECK(C != NULL, "ctx");
    if (R && C) {
        test_normalise();
        test_spans();
        test_decisions();
        test_failsafe();
        test_matcher(corpus);
        test_reference(corpus);
        struct eval_stats all, held;
        int rc = eval_corpus(R, corpus, &all, &held, NULL);
        CHECK(rc == 0, "corpus read");
        if (rc == 0) {
            eval_print(stdout, "all", &all);
            eval_print(stdout, "held-out", &held);
            CHECK(all.rows >= 400, "corpus has %u rows", all.rows);
            CHECK(eval_ok(&all), "corpus targets met on all rows");
        }
    }
    test_loader();
    if (C) {
        test_pathological_rules();
        test_interleaved_runs();
    }
    triage_ctx_free(C);
    triage_free(R);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
