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

char *tr_trie_regex(char *const *phrases, size_t n, int marks, size_t base)
{
    struct trie t = {0};
    struct buf b = {0};
    if (!node_new(&t, 0) && t.n == 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        size_t cur = 0;
        for (const unsigned char *p = (const unsigned char *)phrases[i]; *p;
             p++) {
            cur = child_get(&t, cur, *p);
            if (!cur)
                goto fail;
        }
        if (t.v[cur].phrase < 0)
            t.v[cur].phrase = (long)i;
    }
    if (puts_(&b, "") < 0 || emit(&t, 0, &b, marks, base) < 0)
        goto fail;
    free(t.v);
    return b.s;
fail:
    free(t.v);
    free(b.s);
    return NULL;
}
