/*
 * dfa_int.h - what dfa.c (the tries' and regexes' automata) and scan.c
 * (the one automaton over every component that starts at a word start)
 * share, and nothing outside moderation/'s automata includes.
 *
 * Owns: the packed automaton (struct tr_dfa: a double array of slots) and
 * the builder's state lists (struct build), with the builder's steps and
 * the runs scan.c re-uses when a query needs a DFA run again.
 */
#ifndef CHATD_DFA_INT_H
#define CHATD_DFA_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "triage_int.h"

#define DFA_MAX_STATES 65536      /* states of one automaton */
#define DFA_MAX_NFA    32768      /* NFA nodes of one regex */
#define DFA_MAX_ITEMS  (1u << 22) /* state list entries while building */
#define DFA_MAX_TRIE   (1u << 20) /* trie nodes worth a DFA */
#define DFA_MAX_WORK   (1u << 26) /* alternatives examined while building */
#define DFA_DEAD       0u

struct tr_dstate {
    uint32_t base;  /* slot of class 0 */
    uint16_t mword; /* reported before a word byte (trie: phrase; regex: 0) */
    uint16_t mnon;  /* reported before a non-word byte or the end */
};

struct tr_dslot {
    uint32_t check; /* the state owning this slot, or DFA_DEAD */
    uint32_t next;
};

struct tr_dfa {
    unsigned char cls[256];  /* byte -> class */
    unsigned char word[256]; /* class -> 1 if its bytes are \w */
    unsigned ncls;
    struct tr_dstate *st; /* st[0] is the dead state */
    uint32_t nst;
    struct tr_dslot *slot;
    size_t nslot;
    uint32_t start[3];    /* after a non-word byte, a word byte, at 0 */
    int wordstarts;       /* every match starts at a word start */
    int zerostart;        /* ... or at offset 0 */
    int empty;            /* a regex that may match nothing at the end */
    uint64_t first[3][4]; /* per start: bytes a match may begin with */
    uint64_t firstany[4]; /* the three together */
    uint32_t depth;       /* the most bytes a run reads and lives: UINT32_MAX if
                             it can loop */
    int sepaccept; /* a state entered by a non-word byte matches at the end
                      (regexes; 1 for tries) */
};

static inline int is_word_byte(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Building: states as lists, then packed. */
struct trans {
    uint32_t cls, next;
};

struct build {
    /* states: an item list each, in pool[off[i] .. off[i] + len[i]) */
    uint32_t *off, *len;
    uint8_t *kind; /* what precedes: 0 non-word, 1 word, 2 start */
    uint16_t *mword, *mnon;
    uint32_t n, cap;
    uint32_t *pool;
    size_t npool, poolcap;
    uint32_t *hash; /* open addressing: state index + 1, 0 empty */
    size_t hcap;
    /* transitions of every state, in order of states */
    struct trans *tr;
    size_t ntr, trcap;
    uint32_t *trfirst; /* first transition of each state in tr */
    uint32_t maxstates;
    size_t maxitems;
    int failed;
};

static inline int dfa_first_byte(const struct tr_dfa *d, unsigned kind,
                                 unsigned char c)
{
    return d->first[kind][c >> 6] >> (c & 63) & 1;
}

/* Packing: the first free slot at or after f.  up[i] is i for a free
 * slot, else a slot after it; the walk halves the paths it takes, so
 * later walks are short. */
static inline size_t dfa_free_slot(uint32_t *up, size_t cap, size_t f)
{
    size_t i = f;

    while (i < cap && up[i] != i) {
        up[i] = up[up[i]];
        i = up[i];
    }
    return i;
}

/* Packing: the free-slot links grown from cap to ncap slots, the new
 * ones free.  0, or -1 with *up as it was. */
static inline int dfa_free_grow(uint32_t **up, size_t cap, size_t ncap)
{
    uint32_t *np = realloc(*up, ncap * sizeof *np);

    if (!np)
        return -1;
    for (size_t i = cap; i < ncap; i++)
        np[i] = (uint32_t)i;
    *up = np;
    return 0;
}

/* Room for need elements of elem bytes in the array at *pp (a pointer to
 * the array pointer), whose capacity *cap doubles from first.  0, or -1
 * with the array and *cap as they were. */
int dfa_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t first);
/* The state of list v after a byte of this kind: found or added.  Returns
 * its index (>= 1), or 0 when a bound is passed (b->failed). */
uint32_t dfa_state_get(struct build *b, const uint32_t *v, uint32_t n,
                       unsigned kind);
int dfa_trans_add(struct build *b, uint32_t cls, uint32_t next);
/* The transitions of state q: *nt of them (NULL when none). */
struct trans *dfa_trans_of(const struct build *b, uint32_t q, size_t *nt);
void dfa_build_free(struct build *b);
/* Packs the states' transitions into the double array.  State 0 of the
 * build is the dead state (an empty list); build index i is state i. */
struct tr_dfa *dfa_pack(struct build *b, const unsigned char cls[256],
                        const unsigned char word[256], unsigned ncls);
/* The first match of the trie from a word start p on s[0, end): what
 * trie.c's search() gives.  1 (*me, *id) or 0. */
int dfa_trie_run(const struct tr_dfa *d, const unsigned char *s, size_t p,
                 size_t end, size_t *me, uint32_t *id, uint64_t *budget);
/* Is there a match starting at p of s[0, end)? */
int dfa_regex_run(const struct tr_dfa *d, const unsigned char *s, size_t p,
                  size_t end, uint64_t *budget);

#endif
