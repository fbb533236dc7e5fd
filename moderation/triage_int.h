/*
 * triage_int.h - internal structures shared by the triage engine's files.
 *
 * Owns: the in-memory shape of a compiled rule set (rules.c builds it,
 * triage.c reads it), the normalised-text buffers (normalise.c fills them)
 * and the limits of the engine.  Not part of the public API: only files in
 * moderation/ and the triage tests include it.
 */
#ifndef CHATD_TRIAGE_INT_H
#define CHATD_TRIAGE_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "triage.h"

/* Limits.  Every one has a unit. */
#define TRIAGE_MAX_INPUT   16384 /* bytes of one message; a 16 KiB frame */
#define NORM_EXPANSION     4     /* output bytes per input byte, worst case */
#define NORM_CAP           (TRIAGE_MAX_INPUT * NORM_EXPANSION + 64) /* bytes */
#define NORM_MAX_TOKENS    (TRIAGE_MAX_INPUT + 1)                   /* tokens */
#define SPACED_MIN_LETTERS 4     /* single letters in a row to join */
#define LEX_MAX_WORD       32    /* bytes of a lexicon key or token looked up */
#define LEX_BLOOM_BITS     16384 /* bits of the lexicon filter, a power of 2 */
#define CONTEXT_WINDOW     8     /* tokens before a cue searched (NegEx) */
#define MATCH_LIMIT        100000 /* PCRE2 match-function calls per match */
#define DEPTH_LIMIT        1000   /* PCRE2 backtracking depth (interpreter) */
#define HEAP_LIMIT         1024   /* KiB of PCRE2 heap per match */
#define MAX_HITS           64     /* rule hits kept per message */
#define MAX_RULES          4096   /* rules per rule set */
#define MAX_PHRASES        65535  /* distinct cue phrases per rule set */
#define MAX_EXPANSION      16384  /* phrases one cue line may expand to */
#define RULE_NAME_LEN      64     /* bytes, with NUL */
#define MAX_LINE           4096   /* bytes of one rule-file line */
#define OVECTOR_PAIRS      16     /* capture pairs in the shared match data */
#define MAX_CUE_REGEX      16     /* cue tries, if one exceeds PCRE2 size */
#define MEMO_PATTERNS      1024   /* regexes whose whole-text match is kept */
#define TRIE_MAX_PHRASE    256    /* bytes of one cue or trigger phrase */
#define TRIE_STACK_FRAMES  (TRIE_MAX_PHRASE + 1) /* one per trie level */
#define TRIE_STEP_LIMIT    100000 /* C trie search steps per call/message */
#define TRIE_BYTE_STEPS    200    /* more per normalised byte of a message */
#define TR_STRICT_SPACE    0x7f   /* trie edge: exactly one ' ' (a regex's) */

enum tr_context {
    CTX_NEGATION = 0,
    CTX_REASSURANCE,
    CTX_THIRD_PARTY,
    CTX_PAST,
    CTX_HYPOTHETICAL,
    CTX_COUNT
};
#define CTX_ALL ((1u << CTX_COUNT) - 1)

extern const char *const tr_context_names[CTX_COUNT];

/* A compiled regex with the rule-file line it came from. */
struct tr_pattern {
    pcre2_code *re;
    unsigned near;                 /* tokens either side of the cue; 0 = all */
    enum triage_severity severity; /* escalators: the severity raised to */
    char label[RULE_NAME_LEN];     /* escalators: what it names ("means") */
    unsigned id;                   /* index of its memo in the ctx */
    struct tr_trie *trie;          /* the same phrases matched in C, or NULL */
    int exact;          /* trie gives re's very spans; else only whether
                           there is a match (require, except near N) */
    struct tr_dfa *dfa; /* whether re matches, as a DFA (dfa.c), or NULL */
    int scomp;          /* its component of rules->scan, or -1 */
};

struct tr_rule {
    char name[RULE_NAME_LEN];
    unsigned category; /* index into rules->categories */
    enum triage_severity severity;
    unsigned ctx_mask;           /* contexts that may lower this rule */
    int ctx_set;                 /* ctx_mask given on the rule itself */
    int noescalate;              /* ignore the category's escalators */
    enum triage_severity maxsev; /* the highest its escalators can give */
    struct tr_pattern *require, *except, *escalate;
    unsigned nrequire, nexcept, nescalate;
};

struct tr_category {
    char name[TRIAGE_CATEGORY_LEN];
    unsigned ctx_mask;
    struct tr_pattern *escalate;
    unsigned nescalate;
};

/* One cue phrase: the rules it triggers and the shorter phrases it
 * implies (a hit on "kill myself tonight" is also a hit on "kill myself"). */
struct tr_phrase {
    char *text;
    uint16_t *rules;
    unsigned nrules;
    uint32_t *implied;
    unsigned nimplied;
};

struct tr_lex_entry {
    char *from; /* NULL = empty slot */
    char *to;
    size_t fromlen, tolen;
};

/* A trie of phrases matched in C, with the semantics of the regex
 * \b(?:trie)\b that tr_trie_regex() gives (trie.c); a TR_STRICT_SPACE edge
 * is a literal space. */
struct tr_tnode {    /* 8 bytes */
    uint32_t child;  /* index of the first child; children are contiguous */
    uint16_t phrase; /* phrase ending here, or TR_NO_PHRASE */
    uint8_t nchild;  /* ordered as the regex tries them: ' ' first, '*' last;
                        the count, | TR_SEP_CHILD | TR_STAR_CHILD */
    unsigned char c; /* byte on the edge into this node */
};
#define TR_CLASSES    64 /* byte classes of tr_trie.pair (trie.c) */
#define TR_NO_PHRASE  0xFFFF
#define TR_NCHILD     63  /* nchild & TR_NCHILD: children; 40 bytes can be */
#define TR_SEP_CHILD  64  /* the first child is ' ' */
#define TR_STAR_CHILD 128 /* the last child is '*' */

struct tr_dfa; /* dfa.c */

struct tr_trie {
    struct tr_tnode *v; /* v[0] is the root */
    size_t n;
    unsigned char first[256];  /* bytes a match can start with */
    uint32_t root[256];        /* the root's literal child on a byte, or 0 */
    uint64_t pair[TR_CLASSES]; /* bit b of pair[a]: a match may start with
                                  a byte of class a, then one of class b */
    int anystart;              /* a match may start with any character */
    struct tr_dfa *dfa;        /* the same search as a DFA (dfa.c), or NULL */
    int scomp;                 /* its component of rules->scan, or -1 */
};

/* What the scan automaton (scan.c) found in one normalised form: per
 * component, its reports in order of word start. */
#define TR_SCAN_MAX_COMPS 1024  /* components of the scan automaton */
#define TR_SCAN_ENTRIES   16384 /* trie reports kept per message and form */
#define TR_SCAN_WORDS                                                          \
    4 /* 64-bit words of regex reports per                                     \
         component: word starts scanned at most */
struct tr_sent {
    uint32_t wi;   /* index of the word start the run began at */
    uint32_t end;  /* trie: end of its match; regex: its first match end */
    uint32_t next; /* the component's next report + 1, or 0 */
    uint16_t val;  /* trie: the phrase */
    uint16_t pad;
};
/* 64-bit words of a word start's regex mask: the first 128 regex
 * components have a bit of their own in it */
#define TR_SCAN_MASK_WORDS 2
#define TR_SCAN_NO_MASK    0xFFFF /* ridx of a component without one */
struct tr_scanres {
    int ok; /* the form was scanned (else each matcher runs alone) */
    uint32_t head[TR_SCAN_MAX_COMPS], tail[TR_SCAN_MAX_COMPS];
    struct tr_sent *e; /* TR_SCAN_ENTRIES */
    uint32_t ne;
    /* regex components: bit wi of bits[comp * nw + wi / 64], a match
     * starts at word start wi; for those with a bit b = ridx[comp] in the
     * masks, bit b of wmask[wi] instead (a report ORs in one mask, no
     * loop over its regexes), and anymask is every wmask OR'd */
    uint64_t bits[TR_SCAN_MAX_COMPS * TR_SCAN_WORDS];
    unsigned nw;
    uint64_t wmask[TR_SCAN_WORDS * 64][TR_SCAN_MASK_WORDS];
    uint64_t anymask[TR_SCAN_MASK_WORDS];
    const uint16_t *ridx; /* the scan automaton's, per component */
    uint32_t reach;       /* bytes of the longest run */
    uint32_t dead[TR_SCAN_WORDS * 64 + 1]; /* per word start: where its
                                              run stopped (+1: scan.c's
                                              lanes past the last) */
};

/* Whether regex component comp matches from word start wi, and from any. */
static inline int tr_scan_bit(const struct tr_scanres *res, unsigned comp,
                              size_t wi)
{
    unsigned b = res->ridx[comp];
    if (b != TR_SCAN_NO_MASK)
        return (int)(res->wmask[wi][b >> 6] >> (b & 63) & 1);
    return (int)(res->bits[(size_t)comp * res->nw + (wi >> 6)] >> (wi & 63) &
                 1);
}

static inline int tr_scan_anywhere(const struct tr_scanres *res, unsigned comp)
{
    unsigned b = res->ridx[comp];
    if (b != TR_SCAN_NO_MASK)
        return (int)(res->anymask[b >> 6] >> (b & 63) & 1);
    uint64_t any = 0;
    for (unsigned w = 0; w < res->nw; w++)
        any |= res->bits[(size_t)comp * res->nw + w];
    return any != 0;
}

/* Word characters outside ASCII are asked of word() (PCRE2's UCP \w). */
struct tr_wclass {
    int (*word)(void *arg, const char *s, size_t end, size_t p); /* 1/0/-1 */
    void *arg;
    int err;                /* set when word() failed */
    const uint32_t *starts; /* word starts of the subject, or NULL */
    size_t nstarts;
    uint64_t *budget; /* search steps left, shared by the calls of one
                         message; NULL: TRIE_STEP_LIMIT for each call */
};

/* What tr_scan_exists() asks of a regex DFA before it runs it, copied out
 * (tr_dfa_summary()) so that the DFA is read only when it must run. */
struct tr_dfa_sum {
    uint32_t depth; /* the most bytes a run reads and lives; UINT32_MAX: no
                       bound */
    int sepaccept;  /* a state a non-word byte leads to matches at the end */
};

/* The evaluation plan (plan.c): what evaluating a cue reads, copied out
 * of the rules, patterns and tries into four small arrays. */
#define TR_PLAN_MAX_ENTRIES (1u << 20) /* rule indices in the phrase lists */

/* One require, except or escalate check. */
struct tr_op {
    const struct tr_pattern *p; /* the rest (label, regex, id) */
    const struct tr_dfa *dfa;   /* p->dfa */
    struct tr_dfa_sum sum;      /* tr_dfa_summary(dfa); {0, 1} without */
    int scomp;                  /* p->scomp */
    uint16_t near;              /* p->near (at most 100, rules.c) */
    uint8_t severity;           /* p->severity */
    uint8_t memo;               /* near 0 and id below MEMO_PATTERNS */
};

/* One rule. */
struct tr_prule {
    const char *name;     /* tr_rule.name: a hit's identity */
    const char *category; /* its category's name */
    uint32_t op;          /* its checks: op[op, +nrequire) require, then
                             nexcept excepts, then nescalate escalators */
    uint32_t catop;       /* its category's escalators op[catop, +ncatop) */
    uint32_t nrequire, nexcept, nescalate, ncatop; /* ncatop 0: noescalate */
    unsigned ctx_mask;
    uint8_t severity, maxsev;
};

struct tr_plan {
    uint32_t *off; /* nphrases + 1, or NULL: phrase i's rules are
                      rule[off[i], off[i + 1]) */
    uint16_t *rule;
    struct tr_prule *prule; /* per rule */
    struct tr_op *op;       /* npatterns */
    struct {                /* context triggers ([CTX_COUNT]: stop words) */
        int comp;           /* the trie's component if it has a DFA, or -1 */
        const struct tr_dfa *dfa;
    } trig[CTX_COUNT + 1];
};

struct triage_rules {
    pcre2_code *cues[MAX_CUE_REGEX]; /* cue tries; (*MARK:n) = phrase n */
    struct tr_trie *cuetrie[MAX_CUE_REGEX]; /* the same tries, in C */
    unsigned ncues;
    struct tr_phrase *phrases;
    unsigned nphrases;
    struct tr_rule *rules;
    unsigned nrules;
    struct tr_category *categories;
    unsigned ncategories;
    pcre2_code *context[CTX_COUNT]; /* trigger tries; NULL = none defined */
    pcre2_code *stop;               /* scope terminators ("but") */
    struct tr_trie *context_trie[CTX_COUNT]; /* the same, in C */
    struct tr_trie *stop_trie;
    pcre2_code *word;         /* \w, for characters outside ASCII */
    struct tr_lex_entry *lex; /* open addressing, power-of-two size */
    uint64_t lexlen[256];     /* bit n of [c]: a key of n bytes starts with c */
    /* bit tr_lex_bloom(key) set: a word may be a key */
    uint64_t lexbloom[LEX_BLOOM_BITS / 64];
    size_t lexcap;
    size_t lexmax;        /* bytes of the longest replacement */
    unsigned npatterns;   /* require, except and escalate regexes */
    struct tr_scan *scan; /* every DFA that starts at word starts, as one */
    struct tr_plan plan;
};

/* One normalised form of a message. */
struct norm {
    char *s;          /* NORM_CAP bytes; NUL-terminated normalised UTF-8 */
    uint32_t *ostart; /* per byte of s: original start offset */
    uint32_t *oend;   /* per byte of s: original end offset (exclusive) */
    size_t len;
    uint32_t *tok; /* start offset in s of each token */
    size_t ntok;
    int collapsed;    /* a run of 3+ repeated letters was shortened */
    uint32_t *wstart; /* offsets where a \w follows a non-\w (triage.c) */
    size_t nwstart;
    int ascii;       /* 1: every byte is below 0x80 and wstart is filled in (by
                        the fused normaliser); -1: not known */
    uint32_t *tokws; /* per token (and ntok): its first word start index */
    uint32_t tokws_gen; /* tokws is for this message when ctx->gen */
};

/* One rule that fired, for triage_last_hits() and --explain. */
struct triage_hit {
    const char *rule;     /* rule name (lives as long as the rules) */
    const char *category; /* category id */
    enum triage_severity base, severity; /* before and after context */
    const char *escalator; /* label of the escalator that raised it, or NULL */
    const char *context;   /* context that lowered it, or NULL */
    uint32_t start, end;   /* span of the cue in the original text */
    uint32_t esc_start, esc_end; /* span of the escalator, if any */
};

struct triage_ctx {
    struct norm form[2]; /* [0] runs of 3+ kept as 2; [1] as 1 */
    struct norm scratch; /* normalise.c working space */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct triage_hit hits[MAX_HITS];
    unsigned nhits;
    /* per message and form, the first match of a regex in the whole text */
    struct tr_memo {
        uint32_t gen; /* valid when equal to ctx->gen */
        int rc;       /* 1 match, 0 none */
        uint32_t a, b;
    } memo[2][MEMO_PATTERNS];
    struct tr_xmemo { /* per message and form, a DFA's "any match at all" */
        uint32_t gen;
        int rc;
    } xmemo[2][MEMO_PATTERNS];
    uint32_t gen;
    int fast;      /* both forms are ASCII below 0x7f: the DFAs may answer */
    int reference; /* tests: the engine without its DFAs and fused
                      normaliser (the three stages, the C search, PCRE2),
                      to compare with */
    struct tr_scanres scan[2]; /* per form, what rules->scan found */
    uint64_t trie_budget;      /* C trie search steps left for this message */
    struct tr_ctxmemo {        /* the last context_of() answer (triage.c) */
        uint32_t gen;          /* valid when equal to ctx->gen */
        const struct norm *f;
        size_t ms;
        unsigned mask;
        int k;
    } ctxmemo;
};

/* normalise.c */
int tr_normalise(const struct triage_rules *rules, struct triage_ctx *ctx,
                 const char *text, size_t len);
int tr_norm_alloc(struct norm *n);
void tr_norm_free(struct norm *n);
/* 1 when a and b are the same normalised form (text, offsets, tokens). */
int tr_norm_equal(const struct norm *a, const struct norm *b);
const struct tr_lex_entry *tr_lex_find(const struct triage_rules *rules,
                                       const char *w, size_t n);
/* A word's bit in rules->lexbloom: its first two and last bytes and its
 * length.  With only the first and last bytes and 4096 bits, one word in
 * ten of the bench's messages was no key yet took the lexicon's slow
 * path; now one in thirty. */
static inline unsigned tr_lex_bloom(const char *w, size_t n)
{
    uint32_t h = (uint32_t)(unsigned char)w[0] * 0x9E3779B1u ^
                 (uint32_t)(unsigned char)w[n > 1] * 0x27D4EB2Fu ^
                 (uint32_t)(unsigned char)w[n - 1] * 0x85EBCA77u ^
                 (uint32_t)n * 0xC2B2AE3Du;
    return (h ^ h >> 15) & (LEX_BLOOM_BITS - 1);
}

/* trie.c: a prefix-factored alternation of phrases.  Words in a phrase are
 * separated by one space; a trailing '*' on a word matches the rest of the
 * word.  marks != 0 ends each phrase with (*MARK:<index>).  Returns a
 * malloc'd regex source, or NULL on allocation failure. */
char *tr_trie_regex(char *const *phrases, size_t n, int marks,
                    size_t mark_base);

/* trie.c: the same trie matched in C.  tr_trie_find() gives the match
 * pcre2_match() of \b(?:trie)\b would give on s[0, end) from offset from:
 * 1 (span [*ms, *me), phrase base + i in *id), 0 none, -1 error. */
struct tr_trie *tr_trie_build(char *const *phrases, size_t n, size_t base);
void tr_trie_free(struct tr_trie *t);
/* Offsets in s where a word character follows a non-word one or the start;
 * out needs len / 2 + 1 entries.  Returns how many; wc->err on error. */
size_t tr_word_starts(const char *s, size_t len, uint32_t *out,
                      struct tr_wclass *wc);
int tr_trie_find(const struct tr_trie *t, const char *s, size_t end,
                 size_t from, size_t *ms, size_t *me, uint32_t *id,
                 struct tr_wclass *wc);

/* dfa.c: a trie's search and a regex's "is there a match" as DFAs, for
 * normalised text whose bytes are all below 0x7f.  Every step a DFA takes
 * is one of *budget's (the message's, as the C search counts its steps);
 * when it runs out the functions return -1 (tr_scan_run() -2).  NULL when the
 * trie or regex is outside what they cover or too large (the caller keeps the C
 * search or PCRE2). */
struct tr_dfa *tr_dfa_trie(const struct tr_trie *t);
struct tr_dfa *tr_dfa_regex(const char *src);
void tr_dfa_free(struct tr_dfa *d);
size_t tr_dfa_size(const struct tr_dfa *d);
/* tr_trie_find() of the DFA's trie, given the word starts of s. */
int tr_dfa_find(const struct tr_dfa *d, const char *s, size_t end, size_t from,
                const uint32_t *starts, size_t nstarts, size_t *ms, size_t *me,
                uint32_t *id, uint64_t *budget);
/* 1 if the regex matches s[0, to) starting in [from, to] (*at: the
 * leftmost start), else 0.  Word starts starts[i0, i1) are those in
 * [from, to). */
int tr_dfa_exists(const struct tr_dfa *d, const char *s, size_t from, size_t to,
                  const uint32_t *starts, size_t i0, size_t i1, size_t *at,
                  uint64_t *budget);

/* scan.c: the scan automaton, the product of component DFAs (tries: 1 in
 * trie[i]; regexes whose matches start at word starts: 0).  NULL when it
 * would be too large. */
struct tr_scan;
struct tr_scan *tr_scan_build(const struct tr_dfa *const *dfa, const int *trie,
                              unsigned n);
void tr_scan_free(struct tr_scan *sc);
size_t tr_scan_size(const struct tr_scan *sc);
/* Runs it from every word start of s[0, end); -1 when res is full or
 * there are more than TR_SCAN_WORDS * 64 word starts (then each matcher
 * runs alone), -2 when *budget runs out. */
int tr_scan_run(const struct tr_scan *sc, struct tr_scanres *res, const char *s,
                size_t end, const uint32_t *starts, size_t nstarts,
                uint64_t *budget);
/* tr_dfa_find() and tr_dfa_exists() of component comp (DFA d) on s[0,
 * to), from what tr_scan_run() found on s[0, len). */
int tr_scan_find(const struct tr_scanres *res, unsigned comp,
                 const struct tr_dfa *d, const char *s, size_t len, size_t from,
                 size_t to, const uint32_t *starts, size_t *ms, size_t *me,
                 uint32_t *id, uint64_t *budget);
int tr_scan_exists(const struct tr_scanres *res, unsigned comp,
                   const struct tr_dfa *d, const struct tr_dfa_sum *sum,
                   const char *s, size_t len, size_t to, const uint32_t *starts,
                   size_t i0, size_t i1, size_t *at, uint64_t *budget);
/* 1 if every match of the regex DFA d starts at a word start. */
int tr_dfa_wordstarts(const struct tr_dfa *d);
/* What tr_scan_exists() needs of a regex DFA d besides its tables. */
struct tr_dfa_sum tr_dfa_summary(const struct tr_dfa *d);

/* plan.c: the scan automaton and the evaluation plan of a loaded rule
 * set (0, or -1 out of memory), and their release. */
int tr_plan_build(struct triage_rules *r);
void tr_plan_free(struct triage_rules *r);

/* triage.c: for tests and --explain. */
void triage_ctx_set_match_limit(struct triage_ctx *ctx, uint32_t limit);
const struct triage_hit *triage_last_hits(const struct triage_ctx *ctx,
                                          unsigned *n);

#endif
