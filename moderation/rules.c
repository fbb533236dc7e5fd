/*
 * rules.c - read the *.rules files of a directory and compile them.
 *
 * Owns: triage_load(), triage_free() and the rule-file format described in
 * docs/triage.md.  Promises: a rule set is either loaded whole or refused
 * with "file:line: reason" (NULL), so a caller reloading on SIGHUP keeps
 * the rules in force; every regex is compiled once with PCRE2_UTF|UCP and
 * JIT; every cue phrase of every rule goes into one prefix-factored regex
 * (trie.c) so a message is scanned once, and a rule's other patterns only
 * run when one of its cues is found.  Called by chatd at start and on
 * SIGHUP, by triage_cli.c and by the tests.
 *
 * The reader is hand-written because the format is ours and small: one
 * directive per line, "#" comments, no quoting, no continuation lines.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

#define MAX_FILES     256 /* rule files in a directory */
#define MAX_LISTS     512 /* named lists in a rule set */
#define CUE_CHUNK_MIN 64  /* phrases per cue regex before we give up */

const char *const tr_context_names[CTX_COUNT] = {
    "negation", "reassurance", "third_party", "past", "hypothetical"};

struct list {
    char name[RULE_NAME_LEN];
    char **items;
    size_t n, cap;
    char *regex; /* trie of the items, built on first use */
};

struct pair {
    char *phrase;
    uint16_t rule;
    unsigned file, line;
};

struct vec { /* of char * */
    char **v;
    size_t n, cap;
};

struct loader {
    struct triage_rules *r;
    char *err;
    size_t errlen;
    int failed;
    const char *file;
    unsigned fileidx, line;
    char *files[MAX_FILES];
    unsigned nfiles;
    struct list lists[MAX_LISTS];
    unsigned nlists;
    struct pair *pairs;
    size_t npairs, pcap;
    struct vec ctx[CTX_COUNT], stop, lexfrom, lexto;
    long cat, rule; /* current category and rule, -1 = none */
};

static void fail(struct loader *L, const char *fmt, ...)
{
    if (L->failed)
        return;
    L->failed = 1;
    int n = snprintf(L->err, L->errlen, "%s:%u: ", L->file ? L->file : "?",
                     L->line);
    if (n < 0 || (size_t)n >= L->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int vec_push(struct vec *v, char *s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = s;
    return 0;
}

static void vec_free(struct vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int triage_severity_parse(const char *name)
{
    for (int s = TRIAGE_NONE; s <= TRIAGE_EMERGENCY; s++)
        if (name && strcmp(name, triage_severity_name(s)) == 0)
            return s;
    return -1;
}

static struct list *list_find(struct loader *L, const char *name, size_t n)
{
    for (unsigned i = 0; i < L->nlists; i++)
        if (strlen(L->lists[i].name) == n &&
            memcmp(L->lists[i].name, name, n) == 0)
            return &L->lists[i];
    return NULL;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) >= RULE_NAME_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* ---- phrases ---------------------------------------------------------- */

/* Normalises the spacing of one phrase and checks its characters. */
static int phrase_clean(struct loader *L, const char *in, char *out, size_t cap)
{
    size_t n = 0;
    int space = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '\t') {
            space = n > 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '*' ||
              c == '{' || c == '}' || c == '_')) {
            fail(L,
                 "phrase \"%s\": character '%c' not allowed (lower-case "
                 "letters, digits, spaces, '*' and {list})",
                 in, c);
            return -1;
        }
        if (n + 2 >= cap) {
            fail(L, "phrase too long");
            return -1;
        }
        if (space)
            out[n++] = ' ';
        space = 0;
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == 0) {
        fail(L, "empty phrase");
        return -1;
    }
    return 0;
}

/* Expands the {list} references in a phrase; calls out for each result. */
static int expand(struct loader *L, const char *ph, struct vec *outv,
                  size_t *budget)
{
    const char *open = strchr(ph, '{');
    if (!open) {
        if (strchr(ph, '}')) {
            fail(L, "phrase \"%s\": '}' without '{'", ph);
            return -1;
        }
        if ((*budget)-- == 0) {
            fail(L, "cue expands to more than %d phrases", MAX_EXPANSION);
            return -1;
        }
        /* the C matcher keeps one frame per byte of a phrase (trie.c) */
        if (strlen(ph) > TRIE_MAX_PHRASE) {
            fail(L, "phrase \"%.32s...\" is longer than %d bytes", ph,
                 TRIE_MAX_PHRASE);
            return -1;
        }
        char *d = strdup(ph);
        if (!d || vec_push(outv, d) < 0) {
            free(d);
            fail(L, "out of memory");
            return -1;
        }
        return 0;
    }
    const char *close = strchr(open, '}');
    if (!close) {
        fail(L, "phrase \"%s\": '{' without '}'", ph);
        return -1;
    }
    struct list *li = list_find(L, open + 1, (size_t)(close - open - 1));
    if (!li) {
        fail(L, "unknown list {%.*s} (lists must be defined before use)",
             (int)(close - open - 1), open + 1);
        return -1;
    }
    for (size_t i = 0; i < li->n; i++) {
        char buf[MAX_LINE];
        int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)(open - ph), ph,
                         li->items[i], close + 1);
        if (n < 0 || (size_t)n >= sizeof buf) {
            fail(L, "phrase too long after expansion");
            return -1;
        }
        if (expand(L, buf, outv, budget) < 0)
            return -1;
    }
    return 0;
}

/* Splits "a | b | c" into cleaned, expanded phrases appended to outv. */
static int phrases_parse(struct loader *L, char *s, struct vec *outv)
{
    size_t budget = MAX_EXPANSION;
    char *save = NULL;
    int any = 0;
    for (char *tok = strtok_r(s, "|", &save); tok;
         tok = strtok_r(NULL, "|", &save)) {
        char clean[MAX_LINE];
        if (phrase_clean(L, tok, clean, sizeof clean) < 0 ||
            expand(L, clean, outv, &budget) < 0)
            return -1;
        any = 1;
    }
    if (!any) {
        fail(L, "no phrases");
        return -1;
    }
    return 0;
}

/* ---- regexes ---------------------------------------------------------- */

static const char *list_regex(struct loader *L, struct list *li)
{
    if (!li->regex) {
        li->regex = tr_trie_regex(li->items, li->n, 0, 0);
        if (!li->regex)
            fail(L, "out of memory");
    }
    return li->regex;
}

static pcre2_code *compile(struct loader *L, const char *src)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        fail(L, "regex error at offset %zu: %s", (size_t)off, (char *)msg);
        return NULL;
    }
    /* JIT may be unavailable on some CPUs; the interpreter then runs. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Compiles a rule-file regex, replacing {list} with \b(?:trie)\b; with
 * dfa, also its DFA (NULL outside what dfa.c covers). */
static pcre2_code *regex_parse(struct loader *L, const char *s,
                               struct tr_dfa **dfa)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    pcre2_code *re = NULL;
    if (!out)
        goto oom;
    for (const char *p = s; *p;) {
        const char *add = p;
        size_t addn = 1;
        const char *pre = "", *post = "";
        if (*p == '\\' && p[1]) {
            addn = 2;
        } else if (*p == '{' && ((p[1] >= 'a' && p[1] <= 'z') || p[1] == '_')) {
            const char *close = strchr(p, '}');
            struct list *li =
                close ? list_find(L, p + 1, (size_t)(close - p - 1)) : NULL;
            if (!li) {
                fail(L, "unknown list {%.*s}",
                     close ? (int)(close - p - 1) : (int)strlen(p + 1), p + 1);
                goto out;
            }
            add = list_regex(L, li);
            if (!add)
                goto out;
            addn = strlen(add);
            pre = "\\b(?:";
            post = ")\\b";
            p = close + 1;
            goto copy;
        }
        p += addn;
    copy:;
        size_t need = n + strlen(pre) + addn + strlen(post) + 1;
        if (need > cap) {
            while (need > cap)
                cap *= 2;
            char *q = realloc(out, cap);
            if (!q)
                goto oom;
            out = q;
        }
        memcpy(out + n, pre, strlen(pre));
        n += strlen(pre);
        memcpy(out + n, add, addn);
        n += addn;
        memcpy(out + n, post, strlen(post));
        n += strlen(post);
        out[n] = '\0';
    }
    if (n == 0) {
        fail(L, "empty regex");
        goto out;
    }
    re = compile(L, out);
    if (re && dfa)
        *dfa = tr_dfa_regex(out);
    goto out;
oom:
    fail(L, "out of memory");
out:
    free(out);
    return re;
}

/* ---- regexes as phrase sets, for the C tries --------------------------- */

/* Most require and except regexes are \b(word list)\b with groups and
 * optional parts: a finite set of phrases.  Whether such a regex matches
 * in a window is then the question tr_trie_find() answers, without
 * PCRE2 scanning a flat alternation at every position.  A regex outside
 * the subset (\d, classes, +, lookaround, ...) stays with PCRE2. */

#define XP_BOUND '\x01' /* \b inside an expansion, resolved afterwards */

struct xp {
    struct loader *L;
    const char *p;
    int bad; /* outside the subset, or too many phrases */
};

static int xp_alt(struct xp *x, struct vec *out);

static int xp_push(struct xp *x, struct vec *v, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (v->n >= MAX_EXPANSION || !d || vec_push(v, d) < 0) {
        free(d);
        x->bad = 1;
        return -1;
    }
    return 0;
}

/* a = a x b, every string of a followed by every string of b. */
static int xp_product(struct xp *x, struct vec *a, const struct vec *b)
{
    struct vec r = {0};
    if (a->n * b->n > MAX_EXPANSION) {
        x->bad = 1;
        return -1;
    }
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            char buf[MAX_LINE];
            int n = snprintf(buf, sizeof buf, "%s%s", a->v[i], b->v[j]);
            if (n < 0 || (size_t)n >= sizeof buf ||
                xp_push(x, &r, buf, (size_t)n) < 0) {
                x->bad = 1;
                vec_free(&r);
                return -1;
            }
        }
    vec_free(a);
    *a = r;
    return 0;
}

/* One atom and its '?': literal byte, ' ', \b, \w*, {list} or group. */
static int xp_item(struct xp *x, struct vec *out)
{
    const char *p = x->p;
    char c = *p;
    if (c == '(') {
        x->p += p[1] == '?' && p[2] == ':' ? 3 : 1;
        if (xp_alt(x, out) < 0 || *x->p != ')') {
            x->bad = 1;
            return -1;
        }
        x->p++;
    } else if (c == '\\' && p[1] == 'b') {
        const char b[] = {XP_BOUND};
        x->p += 2;
        if (xp_push(x, out, b, 1) < 0)
            return -1;
    } else if (c == '\\' && p[1] == 'w' && p[2] == '*') {
        x->p += 3;
        if (xp_push(x, out, "*", 1) < 0)
            return -1;
    } else if (c == '{') {
        const char *close = strchr(p, '}');
        struct list *li =
            close ? list_find(x->L, p + 1, (size_t)(close - p - 1)) : NULL;
        if (!li) {
            x->bad = 1;
            return -1;
        }
        /* regex_parse() makes it \b(?:trie)\b: its spaces stay loose */
        for (size_t i = 0; i < li->n; i++) {
            char buf[MAX_LINE];
            int n = snprintf(buf, sizeof buf, "%c%s%c", XP_BOUND, li->items[i],
                             XP_BOUND);
            if (n < 0 || (size_t)n >= sizeof buf ||
                xp_push(x, out, buf, (size_t)n) < 0) {
                x->bad = 1;
                return -1;
            }
        }
        x->p = close + 1;
    } else if (c == ' ' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_') {
        const char b[] = {c == ' ' ? TR_STRICT_SPACE : c};
        x->p++;
        if (xp_push(x, out, b, 1) < 0)
            return -1;
    } else {
        x->bad = 1;
        return -1;
    }
    if (*x->p == '?') {
        x->p++;
        if (x->p[0] == '?' || x->p[0] == '+' || xp_push(x, out, "", 0) < 0) {
            x->bad = 1; /* lazy or possessive */
            return -1;
        }
    }
    return 0;
}

static int xp_seq(struct xp *x, struct vec *out)
{
    if (xp_push(x, out, "", 0) < 0)
        return -1;
    while (*x->p && *x->p != '|' && *x->p != ')') {
        struct vec item = {0};
        int rc = xp_item(x, &item) < 0 ? -1 : xp_product(x, out, &item);
        vec_free(&item);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int xp_alt(struct xp *x, struct vec *out)
{
    for (;;) {
        struct vec seq = {0};
        if (xp_seq(x, &seq) < 0) {
            vec_free(&seq);
            return -1;
        }
        for (size_t i = 0; i < seq.n; i++) {
            if (out->n >= MAX_EXPANSION || vec_push(out, seq.v[i]) < 0) {
                x->bad = 1;
                vec_free(&seq);
                return -1;
            }
            seq.v[i] = NULL;
        }
        vec_free(&seq);
        if (*x->p != '|')
            return 0;
        x->p++;
    }
}

static int xp_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '*';
}

/* Resolves the \b marks of one expanded phrase in place: it must start and
 * end with one (the trie's own \b); inside, a \b between a word and a
 * non-word byte always holds and goes, one between two of a kind never
 * does and drops the phrase.  1 kept, 0 dropped, -1 outside the subset. */
static int xp_bounds(char *s)
{
    size_t n = strlen(s);
    if (n < 3 || s[0] != XP_BOUND || s[n - 1] != XP_BOUND)
        return -1;
    size_t o = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        if (s[i] != XP_BOUND) {
            /* \w* after a non-word byte or at the start: not worth it */
            if (s[i] == '*' &&
                (o == 0 || !xp_word(s[o - 1]) || s[o - 1] == '*'))
                return -1;
            s[o++] = s[i];
            continue;
        }
        size_t j = i;
        while (j + 1 < n && s[j + 1] == XP_BOUND)
            j++;
        if (j + 1 >= n) /* runs into the final \b */
            break;
        if (o == 0) { /* a run of \b at the start */
            i = j;
            continue;
        }
        char l = s[o - 1], r = s[j + 1];
        if (l == ' ' || r == ' ')
            return -1; /* a list's loose space: [ \n]? could be empty */
        if (xp_word(l) == xp_word(r))
            return 0;
        i = j;
    }
    s[o] = '\0';
    return o > 0 && s[o - 1] != '*' ? 1 : -1;
}

/* The C trie of a require/except/escalate regex src, or NULL when src is
 * outside the subset (then PCRE2 alone matches it).  *exact when src is one
 * {list}: its regex is that list's trie, so spans agree too. */
static struct tr_trie *pattern_trie(struct loader *L, const char *src,
                                    int *exact)
{
    struct xp x = {L, src, 0};
    struct vec v = {0};
    struct tr_trie *t = NULL;
    size_t len = strlen(src);
    *exact = 0;
    if (len > 2 && src[0] == '{' && src[len - 1] == '}' &&
        !strchr(src + 1, '{')) {
        struct list *li = list_find(L, src + 1, len - 2);
        if (li && li->n) {
            *exact = 1;
            return tr_trie_build(li->items, li->n, 0);
        }
    }
    if (xp_alt(&x, &v) < 0 || x.bad || *x.p)
        goto out;
    size_t kept = 0;
    for (size_t i = 0; i < v.n; i++) {
        int rc = xp_bounds(v.v[i]);
        if (rc < 0 || strlen(v.v[i]) > TRIE_MAX_PHRASE)
            goto out;
        if (rc == 0) {
            free(v.v[i]);
            continue;
        }
        v.v[kept++] = v.v[i];
    }
    v.n = kept;
    if (kept)
        t = tr_trie_build(v.v, v.n, 0);
out:
    vec_free(&v);
    return t;
}

/* A pattern that will not be added: its regex and trie go. */
static void pattern_drop(struct tr_pattern *p)
{
    pcre2_code_free(p->re);
    tr_trie_free(p->trie);
    tr_dfa_free(p->dfa);
    p->re = NULL;
    p->trie = NULL;
    p->dfa = NULL;
}

static int pattern_add(struct loader *L, struct tr_pattern **v, unsigned *n,
                       struct tr_pattern *p)
{
    struct tr_pattern *q = realloc(*v, (*n + 1) * sizeof *q);
    if (!q) {
        pattern_drop(p);
        fail(L, "out of memory");
        return -1;
    }
    *v = q;
    p->id = L->r->npatterns++;
    q[(*n)++] = *p;
    return 0;
}

/* "[near N] [label]" before the ':' of require/except/escalate. */
static int opts_parse(struct loader *L, char *head, struct tr_pattern *p,
                      int want_label)
{
    char *save = NULL;
    for (char *w = strtok_r(head, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (strcmp(w, "near") == 0) {
            char *num = strtok_r(NULL, " \t", &save), *end = NULL;
            long v = num ? strtol(num, &end, 10) : 0;
            if (!num || *end || v < 1 || v > 100) {
                fail(L, "near needs a number of words, 1 to 100");
                return -1;
            }
            p->near = (unsigned)v;
        } else if (want_label && !p->label[0] && valid_name(w)) {
            snprintf(p->label, sizeof p->label, "%s", w);
        } else {
            fail(L, "unexpected \"%s\"", w);
            return -1;
        }
    }
    return 0;
}

/* ---- directives ------------------------------------------------------- */

/* "<head>: <rest>": ends head at the colon and returns rest, or fails with
 * "expected: <usage>". */
static char *head_split(struct loader *L, char *arg, const char *usage)
{
    char *colon = strchr(arg, ':');
    if (!colon) {
        fail(L, "expected: %s", usage);
        return NULL;
    }
    *colon = '\0';
    return colon + 1;
}

/* Parses "a | b | c" and appends the phrases to dst, which owns them. */
static int phrases_append(struct loader *L, char *s, struct vec *dst)
{
    struct vec v = {0};
    int rc = phrases_parse(L, s, &v);
    for (size_t i = 0; rc == 0 && i < v.n; i++) {
        if (vec_push(dst, v.v[i]) < 0) {
            fail(L, "out of memory");
            rc = -1;
            break;
        }
        v.v[i] = NULL;
    }
    vec_free(&v);
    return rc;
}

static struct tr_rule *cur_rule(struct loader *L)
{
    return L->rule >= 0 ? &L->r->rules[L->rule] : NULL;
}

static int d_category(struct loader *L, char *arg)
{
    if (!valid_name(arg) || strlen(arg) >= TRIAGE_CATEGORY_LEN) {
        fail(L, "bad category id \"%s\"", arg);
        return -1;
    }
    struct triage_rules *r = L->r;
    L->rule = -1;
    for (unsigned i = 0; i < r->ncategories; i++)
        if (strcmp(r->categories[i].name, arg) == 0) {
            L->cat = i;
            return 0;
        }
    struct tr_category *c =
        realloc(r->categories, (r->ncategories + 1) * sizeof *c);
    if (!c) {
        fail(L, "out of memory");
        return -1;
    }
    r->categories = c;
    c = &r->categories[r->ncategories];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", arg);
    c->ctx_mask = CTX_ALL;
    L->cat = r->ncategories++;
    return 0;
}

static int d_rule(struct loader *L, char *arg)
{
    struct triage_rules *r = L->r;
    char *save = NULL;
    char *name = strtok_r(arg, " \t", &save);
    char *sev = strtok_r(NULL, " \t", &save);
    char *extra = strtok_r(NULL, " \t", &save);
    if (L->cat < 0) {
        fail(L, "rule before any category line");
        return -1;
    }
    if (!name || !sev || extra) {
        fail(L, "expected: rule <name> <severity>");
        return -1;
    }
    if (!valid_name(name)) {
        fail(L, "bad rule name \"%s\" (a-z, 0-9, _)", name);
        return -1;
    }
    int s = triage_severity_parse(sev);
    if (s <= TRIAGE_NONE) {
        fail(L, "bad severity \"%s\" (low, medium, high, emergency)", sev);
        return -1;
    }
    for (unsigned i = 0; i < r->nrules; i++)
        if (strcmp(r->rules[i].name, name) == 0) {
            fail(L, "rule \"%s\" defined twice", name);
            return -1;
        }
    if (r->nrules >= MAX_RULES) {
        fail(L, "more than %d rules", MAX_RULES);
        return -1;
    }
    struct tr_rule *v = realloc(r->rules, (r->nrules + 1) * sizeof *v);
    if (!v) {
        fail(L, "out of memory");
        return -1;
    }
    r->rules = v;
    struct tr_rule *ru = &r->rules[r->nrules];
    memset(ru, 0, sizeof *ru);
    snprintf(ru->name, sizeof ru->name, "%s", name);
    ru->category = (unsigned)L->cat;
    ru->severity = s;
    ru->ctx_mask = r->categories[L->cat].ctx_mask;
    L->rule = r->nrules++;
    return 0;
}

static int d_cue(struct loader *L, char *arg)
{
    if (!cur_rule(L)) {
        fail(L, "cue outside a rule");
        return -1;
    }
    struct vec v = {0};
    if (phrases_parse(L, arg, &v) < 0)
        goto fail;
    for (size_t i = 0; i < v.n; i++) {
        if (L->npairs == L->pcap) {
            size_t cap = L->pcap ? L->pcap * 2 : 256;
            struct pair *p = realloc(L->pairs, cap * sizeof *p);
            if (!p) {
                fail(L, "out of memory");
                goto fail;
            }
            L->pairs = p;
            L->pcap = cap;
        }
        L->pairs[L->npairs++] = (struct pair){.phrase = v.v[i],
                                              .rule = (uint16_t)L->rule,
                                              .file = L->fileidx,
                                              .line = L->line};
        v.v[i] = NULL;
    }
    vec_free(&v);
    return 0;
fail:
    vec_free(&v);
    return -1;
}

/* require / except / escalate: "<head>: <regex>" */
static int d_pattern(struct loader *L, const char *kw, char *arg)
{
    char usage[64];
    snprintf(usage, sizeof usage, "%s [options]: <regex>", kw);
    char *rest = head_split(L, arg, usage);
    if (!rest)
        return -1;
    struct tr_pattern p = {.scomp = -1};
    int esc = strcmp(kw, "escalate") == 0;
    if (esc) {
        char *save = NULL, *sev = strtok_r(arg, " \t", &save);
        int s = sev ? triage_severity_parse(sev) : -1;
        if (s <= TRIAGE_LOW) {
            fail(L, "escalate needs a severity above low");
            return -1;
        }
        p.severity = s;
        arg = save ? save : "";
    }
    if (opts_parse(L, arg, &p, esc) < 0)
        return -1;
    if (esc && !p.label[0])
        snprintf(p.label, sizeof p.label, "escalator");
    char *src = trim(rest);
    p.re = regex_parse(L, src, &p.dfa);
    if (!p.re)
        return -1;
    /* a trie answers whether there is a match (and, exact, where); an
     * allocation failure leaves the pattern to PCRE2 alone */
    int exact;
    p.trie = pattern_trie(L, src, &exact);
    p.exact = exact;
    struct tr_rule *ru = cur_rule(L);
    if (esc && !ru) {
        if (L->cat < 0) {
            pattern_drop(&p);
            fail(L, "escalate before any category line");
            return -1;
        }
        struct tr_category *c = &L->r->categories[L->cat];
        return pattern_add(L, &c->escalate, &c->nescalate, &p);
    }
    if (!ru) {
        pattern_drop(&p);
        fail(L, "%s outside a rule", kw);
        return -1;
    }
    if (esc)
        return pattern_add(L, &ru->escalate, &ru->nescalate, &p);
    if (strcmp(kw, "require") == 0)
        return pattern_add(L, &ru->require, &ru->nrequire, &p);
    return pattern_add(L, &ru->except, &ru->nexcept, &p);
}

static int d_contexts(struct loader *L, char *arg)
{
    unsigned mask = 0;
    char *save = NULL;
    for (char *w = strtok_r(arg, " \t,", &save); w;
         w = strtok_r(NULL, " \t,", &save)) {
        if (strcmp(w, "none") == 0)
            continue;
        int k;
        for (k = 0; k < CTX_COUNT; k++)
            if (strcmp(w, tr_context_names[k]) == 0)
                break;
        if (k == CTX_COUNT) {
            fail(L, "unknown context \"%s\"", w);
            return -1;
        }
        mask |= 1u << k;
    }
    struct tr_rule *ru = cur_rule(L);
    if (ru) {
        ru->ctx_mask = mask;
        ru->ctx_set = 1;
    } else if (L->cat >= 0) {
        L->r->categories[L->cat].ctx_mask = mask;
    } else {
        fail(L, "contexts outside a category");
        return -1;
    }
    return 0;
}

static int d_list(struct loader *L, char *arg)
{
    char *rest = head_split(L, arg, "list <name>: phrase | phrase");
    if (!rest)
        return -1;
    char *name = trim(arg);
    if (!valid_name(name)) {
        fail(L, "bad list name \"%s\"", name);
        return -1;
    }
    struct list *li = list_find(L, name, strlen(name));
    if (!li) {
        if (L->nlists >= MAX_LISTS) {
            fail(L, "more than %d lists", MAX_LISTS);
            return -1;
        }
        li = &L->lists[L->nlists++];
        snprintf(li->name, sizeof li->name, "%s", name);
    }
    if (li->regex) {
        fail(L, "list {%s} extended after it was used", name);
        return -1;
    }
    struct vec items = {li->items, li->n, li->cap};
    int rc = phrases_append(L, rest, &items);
    li->items = items.v, li->n = items.n, li->cap = items.cap;
    return rc;
}

static int d_trigger(struct loader *L, char *arg)
{
    char *rest = head_split(L, arg, "trigger <context|stop>: phrase | phrase");
    if (!rest)
        return -1;
    char *kind = trim(arg);
    struct vec *dst = NULL;
    if (strcmp(kind, "stop") == 0)
        dst = &L->stop;
    for (int k = 0; k < CTX_COUNT && !dst; k++)
        if (strcmp(kind, tr_context_names[k]) == 0)
            dst = &L->ctx[k];
    if (!dst) {
        fail(L, "unknown trigger kind \"%s\"", kind);
        return -1;
    }
    return phrases_append(L, rest, dst);
}

static int d_spell(struct loader *L, char *arg)
{
    char *eq = strchr(arg, '=');
    if (!eq) {
        fail(L, "expected: spell <word> = <words>");
        return -1;
    }
    *eq = '\0';
    char *from = trim(arg), *to = trim(eq + 1);
    char clean[MAX_LINE];
    if (!*from || strlen(from) > LEX_MAX_WORD || strchr(from, ' ')) {
        fail(L, "spell: \"%s\" must be one word of at most %d bytes", from,
             LEX_MAX_WORD);
        return -1;
    }
    for (const char *p = from; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            fail(L, "spell: \"%s\": lower-case letters and digits only", from);
            return -1;
        }
    if (phrase_clean(L, to, clean, sizeof clean) < 0)
        return -1;
    if (strpbrk(clean, "*{}")) {
        fail(L, "spell: replacement must be plain words");
        return -1;
    }
    for (size_t i = 0; i < L->lexfrom.n; i++)
        if (strcmp(L->lexfrom.v[i], from) == 0) {
            fail(L, "spell: \"%s\" given twice", from);
            return -1;
        }
    char *a = strdup(from), *b = strdup(clean);
    if (!a || !b || vec_push(&L->lexfrom, a) < 0) {
        free(a);
        free(b);
        fail(L, "out of memory");
        return -1;
    }
    if (vec_push(&L->lexto, b) < 0) {
        free(b);
        L->lexfrom.n--;
        free(a);
        fail(L, "out of memory");
        return -1;
    }
    return 0;
}

static int line_parse(struct loader *L, char *line)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
        return 0;
    size_t kwlen = strcspn(s, " \t:");
    char kw[32];
    if (kwlen >= sizeof kw) {
        fail(L, "unknown directive");
        return -1;
    }
    memcpy(kw, s, kwlen);
    kw[kwlen] = '\0';
    char *arg = trim(s + kwlen);
    if (strcmp(kw, "category") == 0)
        return d_category(L, arg);
    if (strcmp(kw, "rule") == 0)
        return d_rule(L, arg);
    if (strcmp(kw, "cue") == 0) {
        if (*arg == ':')
            arg++;
        return d_cue(L, arg);
    }
    if (strcmp(kw, "require") == 0 || strcmp(kw, "except") == 0 ||
        strcmp(kw, "escalate") == 0)
        return d_pattern(L, kw, arg);
    if (strcmp(kw, "contexts") == 0)
        return d_contexts(L, arg);
    if (strcmp(kw, "noescalate") == 0) {
        if (!cur_rule(L) || *arg) {
            fail(L, "noescalate belongs to a rule and takes nothing");
            return -1;
        }
        cur_rule(L)->noescalate = 1;
        return 0;
    }
    if (strcmp(kw, "list") == 0)
        return d_list(L, arg);
    if (strcmp(kw, "trigger") == 0)
        return d_trigger(L, arg);
    if (strcmp(kw, "spell") == 0)
        return d_spell(L, arg);
    fail(L, "unknown directive \"%s\"", kw);
    return -1;
}

static int file_parse(struct loader *L, const char *path)
{
    FILE *f = fopen(path, "r");
    L->line = 0;
    if (!f) {
        fail(L, "cannot open: %s", strerror(errno));
        return -1;
    }
    char buf[MAX_LINE];
    int rc = 0;
    L->cat = -1;
    L->rule = -1;
    while (fgets(buf, sizeof buf, f)) {
        L->line++;
        size_t n = strlen(buf);
        if (n == sizeof buf - 1 && buf[n - 1] != '\n') {
            fail(L, "line longer than %d bytes", MAX_LINE - 2);
            rc = -1;
            break;
        }
        if (n && buf[n - 1] == '\n')
            buf[n - 1] = '\0';
        if (memchr(buf, '\0', n ? n - 1 : 0)) {
            fail(L, "NUL byte in line");
            rc = -1;
            break;
        }
        if (line_parse(L, buf) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        fail(L, "read error");
        rc = -1;
    }
    fclose(f);
    return rc;
}

/* ---- assembly --------------------------------------------------------- */

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->phrase, y->phrase);
    return c ? c : (int)x->rule - (int)y->rule;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long phrase_find(const struct triage_rules *r, const char *s, size_t n)
{
    size_t lo = 0, hi = r->nphrases;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(r->phrases[mid].text, s, n);
        if (c == 0 && r->phrases[mid].text[n] != '\0')
            c = 1;
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int lexicon_build(struct loader *L)
{
    struct triage_rules *r = L->r;
    if (L->lexfrom.n == 0)
        return 0;
    size_t cap = 16;
    while (cap < L->lexfrom.n * 2)
        cap *= 2;
    r->lex = calloc(cap, sizeof *r->lex);
    if (!r->lex) {
        fail(L, "out of memory");
        return -1;
    }
    r->lexcap = cap;
    for (size_t i = 0; i < L->lexfrom.n; i++) {
        const char *w = L->lexfrom.v[i];
        size_t n = strlen(w);
        uint64_t h = 1469598103934665603ull;
        for (size_t k = 0; k < n; k++) {
            h ^= (unsigned char)w[k];
            h *= 1099511628211ull;
        }
        size_t j = h & (cap - 1);
        while (r->lex[j].from)
            j = (j + 1) & (cap - 1);
        r->lexlen[(unsigned char)w[0]] |= (uint64_t)1 << n;
        unsigned bl = tr_lex_bloom(w, n);
        r->lexbloom[bl >> 6] |= (uint64_t)1 << (bl & 63);
        if (strlen(L->lexto.v[i]) > r->lexmax)
            r->lexmax = strlen(L->lexto.v[i]);
        r->lex[j] = (struct tr_lex_entry){.from = L->lexfrom.v[i],
                                          .to = L->lexto.v[i],
                                          .fromlen = n,
                                          .tolen = strlen(L->lexto.v[i])};
        L->lexfrom.v[i] = L->lexto.v[i] = NULL;
    }
    return 0;
}

/* A cue word the lexicon rewrites can never match: refuse it. */
static int cue_words_check(struct loader *L)
{
    for (size_t i = 0; i < L->npairs; i++) {
        const char *p = L->pairs[i].phrase;
        while (*p) {
            size_t n = strcspn(p, " ");
            const struct tr_lex_entry *e = tr_lex_find(L->r, p, n);
            if (e) {
                L->file = L->files[L->pairs[i].file];
                L->line = L->pairs[i].line;
                fail(L,
                     "cue word \"%.*s\" is rewritten to \"%s\" before "
                     "matching; write that instead",
                     (int)n, p, e->to);
                return -1;
            }
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    return 0;
}

/* "\\b(?:<trie of phrases>)\\b", malloc'd; marks as tr_trie_regex().  NULL
 * (and the loader failed) when out of memory. */
static char *trie_source(struct loader *L, char *const *phrases, size_t n,
                         int marks, size_t base)
{
    char *trie = tr_trie_regex(phrases, n, marks, base);
    size_t len = trie ? strlen(trie) + 32 : 0;
    char *src = trie ? malloc(len) : NULL;
    if (src)
        snprintf(src, len, "\\b(?:%s)\\b", trie);
    else
        fail(L, "out of memory");
    free(trie);
    return src;
}

/* Compiles phrases [a, b) as one trie; PCRE2 limits a compiled pattern
 * (64 KiB with the default link size), so a set too large is halved. */
static int cues_compile(struct loader *L, char **texts, size_t a, size_t b)
{
    struct triage_rules *r = L->r;
    char *src = trie_source(L, texts + a, b - a, 1, a);
    if (!src)
        return -1;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    free(src);
    if (!re && code == PCRE2_ERROR_PATTERN_TOO_LARGE && b - a > 1) {
        size_t mid = a + (b - a) / 2;
        return cues_compile(L, texts, a, mid) < 0 ||
                       cues_compile(L, texts, mid, b) < 0
                   ? -1
                   : 0;
    }
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        fail(L, "cue regex error at offset %zu: %s", (size_t)off, (char *)msg);
        return -1;
    }
    if (r->ncues >= MAX_CUE_REGEX) {
        pcre2_code_free(re);
        fail(L, "cue phrases need more than %d regexes", MAX_CUE_REGEX);
        return -1;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    r->cuetrie[r->ncues] = tr_trie_build(texts + a, b - a, a);
    r->cues[r->ncues++] = re;
    if (!r->cuetrie[r->ncues - 1]) {
        fail(L, "out of memory");
        return -1;
    }
    /* NULL (too large, a '*' inside a word): the C search matches it */
    r->cuetrie[r->ncues - 1]->dfa = tr_dfa_trie(r->cuetrie[r->ncues - 1]);
    return 0;
}

static int phrases_build(struct loader *L)
{
    struct triage_rules *r = L->r;
    if (L->npairs) /* qsort's pointer must not be NULL, even for 0 items */
        qsort(L->pairs, L->npairs, sizeof *L->pairs, pair_cmp);
    r->phrases = calloc(L->npairs ? L->npairs : 1, sizeof *r->phrases);
    if (!r->phrases)
        goto oom;
    for (size_t i = 0; i < L->npairs;) {
        size_t j = i;
        while (j < L->npairs &&
               strcmp(L->pairs[j].phrase, L->pairs[i].phrase) == 0)
            j++;
        if (r->nphrases >= MAX_PHRASES) {
            fail(L, "more than %d cue phrases", MAX_PHRASES);
            return -1;
        }
        struct tr_phrase *ph = &r->phrases[r->nphrases++];
        ph->text = L->pairs[i].phrase;
        L->pairs[i].phrase = NULL;
        ph->rules = malloc((j - i) * sizeof *ph->rules);
        if (!ph->rules)
            goto oom;
        for (size_t k = i; k < j; k++) {
            if (ph->nrules && ph->rules[ph->nrules - 1] == L->pairs[k].rule)
                continue;
            ph->rules[ph->nrules++] = L->pairs[k].rule;
        }
        i = j;
    }
    /* shorter phrases a phrase implies: its prefixes at word ends */
    for (unsigned i = 0; i < r->nphrases; i++) {
        struct tr_phrase *ph = &r->phrases[i];
        for (const char *sp = strchr(ph->text, ' '); sp;
             sp = strchr(sp + 1, ' ')) {
            long k = phrase_find(r, ph->text, (size_t)(sp - ph->text));
            if (k < 0)
                continue;
            uint32_t *v = realloc(ph->implied, (ph->nimplied + 1) * sizeof *v);
            if (!v)
                goto oom;
            ph->implied = v;
            v[ph->nimplied++] = (uint32_t)k;
        }
    }
    /* wildcard phrases a literal phrase also matches: "antidepressants"
     * implies "antidepressant*" (the trie reports only the literal) */
    for (unsigned w = 0; w < r->nphrases; w++) {
        const char *wt = r->phrases[w].text;
        size_t wl = strlen(wt);
        if (wl < 2 || wt[wl - 1] != '*' || strchr(wt, ' ') ||
            memchr(wt, '*', wl - 1))
            continue;
        for (unsigned i = 0; i < r->nphrases; i++) {
            const char *pt = r->phrases[i].text;
            if (i == w || strncmp(pt, wt, wl - 1) != 0 ||
                strpbrk(pt + wl - 1, " *"))
                continue;
            struct tr_phrase *ph = &r->phrases[i];
            uint32_t *v = realloc(ph->implied, (ph->nimplied + 1) * sizeof *v);
            if (!v)
                goto oom;
            ph->implied = v;
            v[ph->nimplied++] = w;
        }
    }
    if (r->nphrases == 0) {
        L->file = "(rules)";
        L->line = 0;
        fail(L, "no cue phrases: no rules loaded");
        return -1;
    }
    char **texts = malloc(r->nphrases * sizeof *texts);
    if (!texts)
        goto oom;
    for (unsigned i = 0; i < r->nphrases; i++)
        texts[i] = r->phrases[i].text;
    L->file = "(cues)";
    L->line = 0;
    int rc = cues_compile(L, texts, 0, r->nphrases);
    free(texts);
    return rc;
oom:
    fail(L, "out of memory");
    return -1;
}

static pcre2_code *phrases_regex(struct loader *L, struct vec *v)
{
    if (v->n == 0)
        return NULL;
    char *src = trie_source(L, v->v, v->n, 0, 0);
    pcre2_code *re = src ? compile(L, src) : NULL;
    free(src);
    return re;
}

/* The C matcher of the same trie phrases_regex() compiles. */
static int phrases_trie(struct loader *L, struct vec *v, struct tr_trie **out)
{
    *out = NULL;
    if (v->n == 0)
        return 0;
    *out = tr_trie_build(v->v, v->n, 0);
    if (!*out) {
        fail(L, "out of memory");
        return -1;
    }
    (*out)->dfa = tr_dfa_trie(*out);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct triage_rules *triage_load(const char *dir, char *err, size_t errlen)
{
    struct loader *L = calloc(1, sizeof *L);
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!L) {
        snprintf(err, errlen, "%s:0: out of memory", dir ? dir : "?");
        return NULL;
    }
    L->err = err;
    L->errlen = errlen;
    L->cat = L->rule = -1;
    L->r = calloc(1, sizeof *L->r);
    L->file = dir ? dir : "?";
    if (!L->r) {
        fail(L, "out of memory");
        goto fail;
    }
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        fail(L, "cannot open rules directory: %s",
             dir ? strerror(errno) : "none given");
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 7 || strcmp(de->d_name + n - 6, ".rules") != 0 ||
            de->d_name[0] == '.')
            continue;
        if (L->nfiles >= MAX_FILES) {
            fail(L, "more than %d rule files", MAX_FILES);
            break;
        }
        size_t pn = strlen(dir) + n + 2;
        char *path = malloc(pn);
        if (!path) {
            fail(L, "out of memory");
            break;
        }
        snprintf(path, pn, "%s/%s", dir, de->d_name);
        L->files[L->nfiles++] = path;
    }
    closedir(d);
    if (L->failed)
        goto fail;
    /* alphabetical: _common.rules and _lexicon.rules define lists first */
    qsort(L->files, L->nfiles, sizeof L->files[0], name_cmp);
    if (L->nfiles == 0) {
        fail(L, "no *.rules files");
        goto fail;
    }
    for (unsigned i = 0; i < L->nfiles; i++) {
        L->file = L->files[i];
        L->fileidx = i;
        if (file_parse(L, L->files[i]) < 0)
            goto fail;
    }
    if (lexicon_build(L) < 0 || cue_words_check(L) < 0 || phrases_build(L) < 0)
        goto fail;
    L->file = "(triggers)";
    L->line = 0;
    for (int k = 0; k < CTX_COUNT; k++) {
        if (L->ctx[k].n)
            qsort(L->ctx[k].v, L->ctx[k].n, sizeof(char *), str_cmp);
        L->r->context[k] = phrases_regex(L, &L->ctx[k]);
        if (L->failed || phrases_trie(L, &L->ctx[k], &L->r->context_trie[k]))
            goto fail;
    }
    L->r->stop = phrases_regex(L, &L->stop);
    if (L->failed || phrases_trie(L, &L->stop, &L->r->stop_trie))
        goto fail;
    L->r->word = compile(L, "\\G\\w");
    if (L->failed)
        goto fail;
    for (unsigned i = 0; i < L->r->nrules; i++) {
        struct tr_rule *ru = &L->r->rules[i];
        const struct tr_category *c = &L->r->categories[ru->category];
        ru->maxsev = ru->severity;
        for (unsigned k = 0; k < ru->nescalate; k++)
            if (ru->escalate[k].severity > ru->maxsev)
                ru->maxsev = ru->escalate[k].severity;
        for (unsigned k = 0; !ru->noescalate && k < c->nescalate; k++)
            if (c->escalate[k].severity > ru->maxsev)
                ru->maxsev = c->escalate[k].severity;
    }
    L->file = "(rules)";
    L->line = 0;
    if (tr_plan_build(L->r) < 0) {
        fail(L, "out of memory");
        goto fail;
    }
    struct triage_rules *r = L->r;
    L->r = NULL;
    goto out;
fail:
    triage_free(L->r);
    r = NULL;
out:
    for (unsigned i = 0; i < L->nfiles; i++)
        free(L->files[i]);
    for (unsigned i = 0; i < L->nlists; i++) {
        for (size_t k = 0; k < L->lists[i].n; k++)
            free(L->lists[i].items[k]);
        free(L->lists[i].items);
        free(L->lists[i].regex);
    }
    for (size_t i = 0; i < L->npairs; i++)
        free(L->pairs[i].phrase);
    free(L->pairs);
    for (int k = 0; k < CTX_COUNT; k++)
        vec_free(&L->ctx[k]);
    vec_free(&L->stop);
    vec_free(&L->lexfrom);
    vec_free(&L->lexto);
    free(L);
    return r;
}

static void patterns_free(struct tr_pattern *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        pcre2_code_free(p[i].re);
        tr_trie_free(p[i].trie);
        tr_dfa_free(p[i].dfa);
    }
    free(p);
}

void triage_free(struct triage_rules *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < r->ncues; i++) {
        pcre2_code_free(r->cues[i]);
        tr_trie_free(r->cuetrie[i]);
    }
    for (unsigned i = 0; i < r->nphrases; i++) {
        free(r->phrases[i].text);
        free(r->phrases[i].rules);
        free(r->phrases[i].implied);
    }
    free(r->phrases);
    for (unsigned i = 0; i < r->nrules; i++) {
        patterns_free(r->rules[i].require, r->rules[i].nrequire);
        patterns_free(r->rules[i].except, r->rules[i].nexcept);
        patterns_free(r->rules[i].escalate, r->rules[i].nescalate);
    }
    free(r->rules);
    for (unsigned i = 0; i < r->ncategories; i++)
        patterns_free(r->categories[i].escalate, r->categories[i].nescalate);
    free(r->categories);
    for (int k = 0; k < CTX_COUNT; k++)
        pcre2_code_free(r->context[k]);
    pcre2_code_free(r->stop);
    for (int k = 0; k < CTX_COUNT; k++)
        tr_trie_free(r->context_trie[k]);
    tr_trie_free(r->stop_trie);
    tr_plan_free(r);
    pcre2_code_free(r->word);
    for (size_t i = 0; i < r->lexcap; i++) {
        free(r->lex[i].from);
        free(r->lex[i].to);
    }
    free(r->lex);
    free(r);
}
