/*
 * trie.c - turn a list of phrases into one prefix-factored regex.
 *
 * Owns: tr_trie_regex().  Promises: the regex matches exactly the phrases
 * given (a space between words also matches no space or a clause break; a
 * trailing '*' matches the rest of a word), longest alternative first, so
 * "kill myself" wins over "kill".  Called by rules.c when it compiles cue
 * lists and {list} references.  Why a trie: PCRE2 tries every alternative
 * of a flat a|b|c at every position (6.8 us for 300 words on 100 bytes);
 * factored by prefix it rejects a position after one or two bytes (1.1 us).
 *
 * Also owns tr_trie_build() and tr_trie_find(), the same tries matched in
 * C.  The search backtracks with an explicit stack of TRIE_STACK_FRAMES
 * (rules.c refuses a phrase longer than TRIE_MAX_PHRASE) and counts its
 * steps against a budget, so a hostile rule file gives -1 (triage_error),
 * never a hang or a stack overflow (issue #7).  A TR_STRICT_SPACE edge is
 * a regex's literal ' ' (exactly one space), for the tries rules.c makes
 * of word-list require/except/escalate regexes; ' ' stays [ \n]?.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

struct node {
    unsigned char c; /* byte on the edge into this node */
    long phrase;     /* index of the phrase ending here, or -1 */
    size_t child;    /* first child, 0 = none (0 is the root) */
    size_t next;     /* next sibling, 0 = none; kept sorted by c */
};

struct trie {
    struct node *v;
    size_t n, cap;
};

struct buf {
    char *s;
    size_t len, cap;
};

static size_t node_new(struct trie *t, unsigned char c)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct node *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return 0;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = (struct node){.c = c, .phrase = -1};
    return t->n++;
}

/* Returns the child of parent on byte c, creating it; 0 on failure. */
/* '*' sorts last: "antidepressants" is tried before "antidepressant*",
 * so the literal phrase is the one reported (rules.c makes a literal hit
 * imply the wildcard). */
static int order(unsigned char c)
{
    return c == '*' ? 256 : c;
}

static size_t child_get(struct trie *t, size_t parent, unsigned char c)
{
    size_t prev = 0, cur = t->v[parent].child;
    while (cur && order(t->v[cur].c) < order(c)) {
        prev = cur;
        cur = t->v[cur].next;
    }
    if (cur && t->v[cur].c == c)
        return cur;
    size_t nn = node_new(t, c);
    if (!nn)
        return 0;
    t->v[nn].next = cur;
    if (prev)
        t->v[prev].next = nn;
    else
        t->v[parent].child = nn;
    return nn;
}

static int put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p)
            return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int puts_(struct buf *b, const char *s)
{
    return put(b, s, strlen(s));
}

static int emit_edge(struct buf *b, unsigned char c)
{
    if (c == ' ')
        return puts_(b, "[ \\n]?"); /* "kill myself", "killmyself" */
    if (c == '*')
        return puts_(b, "\\w*");
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return put(b, (const char *)&c, 1);
    char esc[2] = {'\\', (char)c};
    return put(b, esc, 2);
}

static int emit(const struct trie *t, size_t id, struct buf *b, int marks,
                size_t base)
{
    const struct node *nd = &t->v[id];
    size_t nchild = 0;
    for (size_t c = nd->child; c; c = t->v[c].next)
        nchild++;
    int term = nd->phrase >= 0;
    if (nchild == 0) {
        if (term && marks) {
            char m[32];
            snprintf(m, sizeof m, "(*MARK:%zu)", base + (size_t)nd->phrase);
            return puts_(b, m);
        }
        return 0;
    }
    int group = nchild > 1 || term;
    if (group && puts_(b, "(?:") < 0)
        return -1;
    int first = 1;
    for (size_t c = nd->child; c; c = t->v[c].next) {
        if (!first && puts_(b, "|") < 0)
            return -1;
        first = 0;
        if (emit_edge(b, t->v[c].c) < 0 || emit(t, c, b, marks, base) < 0)
            return -1;
    }
    if (term && marks) {
        char m[32];
        snprintf(m, sizeof m, "|(*MARK:%zu)", base + (size_t)nd->phrase);
        if (puts_(b, m) < 0)
            return -1;
    }
    if (group && puts_(b, term && !marks ? ")?" : ")") < 0)
        return -1;
    return 0;
}

/* The linked trie of phrases: a root, then phrase i ends at the node its
 * bytes lead to, marked base + i (the first of duplicates wins). */
static int insert_all(struct trie *t, char *const *phrases, size_t n,
                      size_t base)
{
    if (!node_new(t, 0) && t->n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t cur = 0;
        for (const unsigned char *p = (const unsigned char *)phrases[i]; *p;
             p++) {
            cur = child_get(t, cur, *p);
            if (!cur)
                return -1;
        }
        if (t->v[cur].phrase < 0)
            t->v[cur].phrase = (long)(base + i);
    }
    return 0;
}

char *tr_trie_regex(char *const *phrases, size_t n, int marks, size_t base)
{
    struct trie t = {0};
    struct buf b = {0};
    if (insert_all(&t, phrases, n, 0) < 0)
        goto fail;
    if (puts_(&b, "") < 0 || emit(&t, 0, &b, marks, base) < 0)
        goto fail;
    free(t.v);
    return b.s;
fail:
    free(t.v);
    free(b.s);
    return NULL;
}

/* ---- the same tries, matched in C ------------------------------------- */

/* A linked node's phrase as a flat one holds it; rules.c keeps phrase
 * indices under MAX_PHRASES, and a larger one fails tr_trie_build(). */
static uint16_t flat_phrase(long phrase)
{
    return phrase < 0 || phrase >= TR_NO_PHRASE ? TR_NO_PHRASE
                                                : (uint16_t)phrase;
}

/* Flattens the linked trie: the children of a node become contiguous, in
 * the order the regex tries them (' ' first, '*' last).  Blocks are laid
 * out depth first, so a node's children sit near its parent's block and a
 * search down one phrase touches few cache lines. */
static int flatten(const struct trie *t, struct tr_trie *out)
{
    struct todo {
        size_t id, at; /* node in t, its index in out */
    } *stack = malloc(t->n * sizeof *stack);
    out->v = malloc(t->n * sizeof *out->v);
    if (!out->v || !stack) {
        free(out->v);
        out->v = NULL;
        free(stack);
        return -1;
    }
    size_t top = 0, n = 1;
    stack[top++] = (struct todo){0, 0};
    out->v[0] =
        (struct tr_tnode){.c = 0, .phrase = flat_phrase(t->v[0].phrase)};
    while (top) {
        struct todo d = stack[--top];
        size_t first = n;
        out->v[d.at].child = (uint32_t)n;
        out->v[d.at].nchild = 0;
        unsigned k = 0;
        for (size_t c = t->v[d.id].child; c; c = t->v[c].next) {
            if (k == TR_NCHILD)
                goto fail; /* phrases have a 40-byte alphabet (rules.c) */
            out->v[n] = (struct tr_tnode){
                .c = t->v[c].c, .phrase = flat_phrase(t->v[c].phrase)};
            k++;
            n++;
        }
        /* flags, so a search knows its alternatives without a fetch */
        out->v[d.at].nchild =
            (uint8_t)(k | (k && out->v[first].c == ' ' ? TR_SEP_CHILD : 0) |
                      (k && out->v[n - 1].c == '*' ? TR_STAR_CHILD : 0));
        /* pushed in order, then reversed: the first child's block is
         * laid out next */
        size_t base = top;
        size_t at = first;
        for (size_t c = t->v[d.id].child; c; c = t->v[c].next)
            stack[top++] = (struct todo){c, at++};
        for (size_t i = base, j = top; i + 1 < j; i++, j--) {
            struct todo tmp = stack[i];
            stack[i] = stack[j - 1];
            stack[j - 1] = tmp;
        }
    }
    out->n = n;
    free(stack);
    return 0;
fail:
    free(out->v);
    out->v = NULL;
    free(stack);
    return -1;
}

static const unsigned char ascii_word[128];

/* Byte classes for the first two bytes of a match: the 37 bytes phrases
 * spell with, ' ', anything else, and the end of the text. */
enum { CLASS_SPACE = 37, CLASS_OTHER = 38, CLASS_END = 39 };

/* a-z 0..25, 0-9 26..35, '_' 36, ' ' CLASS_SPACE, the rest CLASS_OTHER;
 * a table because tr_trie_find() asks twice at every word start */
static const unsigned char byte_classes[256] = {
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 37, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 26, 27, 28, 29, 30, 31, 32, 33, 34,
    35, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    36, 38, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
    38, 38, 38, 38, 38, 38, 38, 38, 38,
};

static unsigned byte_class(unsigned char c)
{
    return byte_classes[c];
}

/* Which second bytes can follow each first byte in a match: most word
 * starts fail on their second byte, and this says so without a search.
 * A root child with a phrase, a separator or a wildcard after it allows
 * any second byte. */
static void pairs_build(struct tr_trie *t)
{
    const struct tr_tnode *root = &t->v[0];
    for (uint32_t i = 0; i < (root->nchild & TR_NCHILD); i++) {
        const struct tr_tnode *r = &t->v[root->child + i];
        unsigned a = byte_class(r->c == TR_STRICT_SPACE ? ' ' : r->c);
        if (r->phrase != TR_NO_PHRASE ||
            (r->nchild & (TR_SEP_CHILD | TR_STAR_CHILD)) || r->c == '*' ||
            r->c == ' ') {
            t->pair[a] = ~(uint64_t)0;
            continue;
        }
        for (uint32_t k = 0; k < (r->nchild & TR_NCHILD); k++) {
            unsigned char c = t->v[r->child + k].c;
            t->pair[a] |= (uint64_t)1
                          << byte_class(c == TR_STRICT_SPACE ? ' ' : c);
        }
    }
}

struct tr_trie *tr_trie_build(char *const *phrases, size_t n, size_t base)
{
    struct trie t = {0};
    struct tr_trie *out = calloc(1, sizeof *out);
    /* a flat node holds a phrase index in 16 bits */
    if (!out || base + n > TR_NO_PHRASE || insert_all(&t, phrases, n, base) < 0)
        goto fail;
    if (flatten(&t, out) < 0)
        goto fail;
    const struct tr_tnode *root = &out->v[0];
    for (uint32_t i = 0; i < (root->nchild & TR_NCHILD); i++) {
        unsigned char c = out->v[root->child + i].c;
        if (c >= 0x80 || !ascii_word[c])
            out->anystart = 1; /* ' ', '*' or a non-word byte */
        out->first[c] = 1;
        if (c != ' ' && c != '*')
            out->root[c] = root->child + i;
    }
    if (root->phrase != TR_NO_PHRASE)
        out->anystart = 1;
    out->scomp = -1;
    pairs_build(out);
    free(t.v);
    return out;
fail:
    free(t.v);
    free(out);
    return NULL;
}

void tr_trie_free(struct tr_trie *t)
{
    if (t) {
        free(t->v);
        tr_dfa_free(t->dfa);
    }
    free(t);
}

/* \w as PCRE2 sees it with UCP: ASCII here, other scripts asked of wc. */
static const unsigned char ascii_word[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1, ['_'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,
    ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

struct mstate {
    const unsigned char *s;
    size_t end;
    struct tr_wclass *wc;
    uint64_t steps; /* search steps left */
};

/* Is the character starting at p (< end) a word character? */
static int word_at(struct mstate *m, size_t p)
{
    if (p >= m->end)
        return 0;
    if (m->s[p] < 0x80)
        return ascii_word[m->s[p]];
    int r = m->wc->word(m->wc->arg, (const char *)m->s, m->end, p);
    if (r < 0) {
        m->wc->err = 1;
        return 0;
    }
    return r;
}

/* Start of the character that ends just before p (p > 0). */
static size_t char_before(const struct mstate *m, size_t p)
{
    size_t q = p - 1;
    while (q > 0 && (m->s[q] & 0xC0) == 0x80)
        q--;
    return q;
}

static int boundary(struct mstate *m, size_t p)
{
    int before = p > 0 && word_at(m, char_before(m, p));
    return before != word_at(m, p);
}

/* Byte length of the character at p. */
static size_t char_len(const struct mstate *m, size_t p)
{
    size_t q = p + 1;
    while (q < m->end && (m->s[q] & 0xC0) == 0x80)
        q++;
    return q - p;
}

/* One choice point of the search: a node reached after its chain of single
 * literal edges, and which of the regex's alternatives there comes next. */
enum alt {
    ALT_SEP_TAKE,     /* [ \n]? consuming a separator (greedy: first) */
    ALT_SEP_SKIP,     /* [ \n]? consuming nothing */
    ALT_LITERAL,      /* the one literal edge on the next byte */
    ALT_STAR_LONGEST, /* \w* as far as the word goes */
    ALT_STAR,         /* \w* one character shorter each time */
    ALT_END,          /* the phrase ending here, at a \b */
};

struct frame {
    uint32_t node;
    uint32_t pos;  /* offset in s at node */
    uint32_t q;    /* ALT_STAR: the end \w* gives next */
    uint32_t next; /* enum alt */
};

#define NO_CHILD UINT32_MAX

/* The child of f's node to try next and the offset to try it at (*at), in
 * the order the regex backtracks; NO_CHILD when only ALT_END is left. */
static uint32_t next_child(const struct tr_trie *t, struct mstate *m,
                           struct frame *f, size_t *at)
{
    const struct tr_tnode *nd = &t->v[f->node];
    const struct tr_tnode *ch = &t->v[nd->child];
    const struct tr_tnode *last = ch + (nd->nchild & TR_NCHILD);
    size_t pos = f->pos;
    int sep_edge = (nd->nchild & TR_SEP_CHILD) != 0;
    int sep_here = pos < m->end && (m->s[pos] == ' ' || m->s[pos] == '\n');
    int star = (nd->nchild & TR_STAR_CHILD) != 0;
    switch (f->next) {
    case ALT_SEP_TAKE:
        if (sep_edge && sep_here) {
            f->next = ALT_SEP_SKIP;
            *at = pos + 1;
            return nd->child;
        }
        /* fall through */
    case ALT_SEP_SKIP:
        /* the literal edges after it cannot take a separator (none is a
         * strict space, which sorts last), so skip a node that has
         * nothing else */
        if (sep_edge && !(sep_here && ch->phrase == TR_NO_PHRASE &&
                          (ch->nchild & TR_NCHILD) &&
                          !(ch->nchild & (TR_SEP_CHILD | TR_STAR_CHILD)) &&
                          t->v[ch->child + (ch->nchild & TR_NCHILD) - 1].c !=
                              TR_STRICT_SPACE)) {
            f->next = ALT_LITERAL;
            *at = pos;
            return nd->child;
        }
        /* fall through */
    case ALT_LITERAL:
        if (pos < m->end) {
            /* a literal ' ' is only ever a regex's strict space */
            unsigned char b = m->s[pos] == ' ' ? TR_STRICT_SPACE : m->s[pos];
            uint32_t hit = NO_CHILD;
            if (nd == t->v) { /* the root: many children */
                hit = t->root[b] ? t->root[b] : NO_CHILD;
            } else {
                /* children are in byte order: stop at the first >= b */
                for (const struct tr_tnode *c = ch + sep_edge; c < last - star;
                     c++)
                    if (c->c >= b) {
                        if (c->c == b)
                            hit = (uint32_t)(c - t->v);
                        break;
                    }
            }
            if (hit != NO_CHILD) {
                f->next = star ? ALT_STAR_LONGEST : ALT_END;
                *at = pos + 1;
                return hit;
            }
        }
        if (!star)
            break;
        /* fall through */
    case ALT_STAR_LONGEST: {
        size_t q = pos;
        while (q < m->end && word_at(m, q))
            q += char_len(m, q);
        f->q = (uint32_t)q;
    }
        /* fall through */
    case ALT_STAR:
        *at = f->q;
        if (f->q == pos) {
            f->next = ALT_END;
        } else {
            f->next = ALT_STAR;
            f->q = (uint32_t)char_before(m, f->q);
        }
        return (uint32_t)(last - 1 - t->v);
    default:
        break;
    }
    f->next = ALT_END;
    return NO_CHILD;
}

/* Depth first, in the alternation's order, as PCRE2 backtracks.  The stack
 * is explicit and bounded, and every node entered is counted, because a
 * rule file is input too: a long phrase would otherwise recurse as deep as
 * it is long, and wildcards in one word ("a*a*a*b") backtrack
 * exponentially.  Starts at node go, offset at (the root and the match's
 * start, or a node already reached from there with nothing to come back
 * to).  1 match (*me, *id), 0 none, -1 stack or steps exceeded. */
static int search(const struct tr_trie *t, struct mstate *m, uint32_t go,
                  size_t at, size_t *me, uint32_t *id)
{
    struct frame st[TRIE_STACK_FRAMES];
    size_t n = 0;
    for (;;) {
        if (go != NO_CHILD) {
            if (m->steps == 0)
                return -1;
            m->steps--;
            /* a chain of single literal edges: no alternative to come
             * back to, so no frame of its own */
            const struct tr_tnode *nd = &t->v[go];
            /* nchild 1 and no flag: one literal child */
            while (nd->nchild == 1 && nd->phrase == TR_NO_PHRASE) {
                unsigned char c = t->v[nd->child].c;
                if (at >= m->end ||
                    m->s[at] != (c == TR_STRICT_SPACE ? ' ' : c)) {
                    nd = NULL;
                    break;
                }
                at++;
                nd = &t->v[nd->child];
            }
            if (nd) {
                if (n == TRIE_STACK_FRAMES)
                    return -1;
                st[n++] = (struct frame){(uint32_t)(nd - t->v), (uint32_t)at, 0,
                                         ALT_SEP_TAKE};
            }
        }
        if (n == 0)
            return 0;
        struct frame *f = &st[n - 1];
        const struct tr_tnode *nd = &t->v[f->node];
        go = f->next == ALT_END ? NO_CHILD : next_child(t, m, f, &at);
        if (go != NO_CHILD) {
            /* its last alternative, and no phrase ends here: nothing to
             * come back to (most nodes), so the frame goes now */
            if (f->next == ALT_END && nd->phrase == TR_NO_PHRASE)
                n--;
            continue;
        }
        if (nd->phrase != TR_NO_PHRASE && boundary(m, f->pos)) {
            *me = f->pos;
            *id = (uint32_t)nd->phrase;
            return 1;
        }
        n--; /* no alternative left: back to the node before */
    }
}

size_t tr_word_starts(const char *s, size_t len, uint32_t *out,
                      struct tr_wclass *wc)
{
    struct mstate m = {(const unsigned char *)s, len, wc, 0};
    size_t n = 0;
    int prev = 0;
    wc->err = 0;
    for (size_t p = 0; p < len; p += char_len(&m, p)) {
        int w = word_at(&m, p);
        if (w && !prev)
            out[n++] = (uint32_t)p;
        prev = w;
    }
    return n;
}

int tr_trie_find(const struct tr_trie *t, const char *s, size_t end,
                 size_t from, size_t *ms, size_t *me, uint32_t *id,
                 struct tr_wclass *wc)
{
    struct mstate m = {(const unsigned char *)s, end, wc,
                       wc->budget ? *wc->budget : TRIE_STEP_LIMIT};
    int rc = 0;
    wc->err = 0;
    if (wc->starts && !t->anystart) {
        /* a match starts with an ASCII word byte at a \b: a word start */
        size_t lo = 0, hi = wc->nstarts;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (wc->starts[mid] < from)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < wc->nstarts && wc->starts[i] < end; i++) {
            size_t p = wc->starts[i];
            /* pair[] is empty for a byte the root has no child on */
            unsigned b = p + 1 < end ? byte_class(m.s[p + 1]) : CLASS_END;
            if (!(t->pair[byte_class(m.s[p])] >> b & 1))
                continue;
            /* the root has only literal children and no phrase (not
             * anystart): its child on this byte is the one way on */
            if ((rc = search(t, &m, t->root[m.s[p]], p + 1, me, id)) != 0 ||
                wc->err) {
                *ms = p;
                break;
            }
        }
    } else {
        for (size_t p = from; p <= end; p++) {
            if (p < end && (m.s[p] & 0xC0) == 0x80)
                continue; /* inside a character */
            if (!t->anystart && (p == end || !t->first[m.s[p]]))
                continue;
            if (!boundary(&m, p))
                continue;
            if ((rc = search(t, &m, 0, p, me, id)) != 0 || wc->err) {
                *ms = p;
                break;
            }
        }
    }
    if (wc->budget)
        *wc->budget = m.steps;
    return wc->err ? -1 : rc;
}
