/*
 * normalise.c - rewrite a parent's message into the form rules match.
 *
 * Owns: tr_normalise() and the small Unicode table it needs.  Promises:
 * every byte of a normalised form carries the span of original bytes it
 * came from, so a match on the normalised text reports offsets into what
 * the parent typed; never allocates (buffers live in the triage_ctx);
 * refuses (-1) rather than truncates when a message would not fit.
 * Called by triage.c for every message.
 *
 * The canonical form: lower case ASCII letters and digits, apostrophes
 * removed ("can't" -> "cant"), other punctuation one space, clause
 * punctuation (. ! ? , ; : newline) one '\n' so that context does not leak
 * across sentences; look-alikes and fullwidth forms folded; leetspeak
 * undone inside words but not in numbers ("k1ll" -> "kill", "800mg" stays);
 * single spaced letters joined ("s u i c i d e"); runs of three or more
 * repeated letters shortened to two (form 0) and to one (form 1, only
 * built when needed); words rewritten by the lexicon ("gonna" -> "going
 * to", "cant" -> "can not").
 */
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "triage_int.h"

enum { MAP_KEEP, MAP_DROP, MAP_SEP, MAP_BRK, MAP_STR };

#define NORM_VECTOR_SLACK 32 /* bytes after a form's text a vector may read */

int tr_norm_alloc(struct norm *n)
{
    memset(n, 0, sizeof *n);
    /* zeroed, and with room for has_run3()'s vectors past a word at the
     * end of the buffer */
    n->s = calloc(1, NORM_CAP + NORM_VECTOR_SLACK);
    n->ostart = malloc(NORM_CAP * sizeof *n->ostart);
    n->oend = malloc(NORM_CAP * sizeof *n->oend);
    n->tok = malloc(NORM_MAX_TOKENS * sizeof *n->tok);
    n->wstart = malloc((NORM_CAP / 2 + 1) * sizeof *n->wstart);
    n->tokws = malloc((NORM_MAX_TOKENS + 1) * sizeof *n->tokws);
    if (!n->s || !n->ostart || !n->oend || !n->tok || !n->wstart || !n->tokws) {
        tr_norm_free(n);
        return -1;
    }
    return 0;
}

void tr_norm_free(struct norm *n)
{
    free(n->s);
    free(n->ostart);
    free(n->oend);
    free(n->tok);
    free(n->wstart);
    free(n->tokws);
    memset(n, 0, sizeof *n);
}

/* The fused normaliser and the staged one it stands in for must agree on
 * everything a rule can see: the text, its offsets and its tokens. */
int tr_norm_equal(const struct norm *a, const struct norm *b)
{
    return a->len == b->len && a->ntok == b->ntok &&
           memcmp(a->s, b->s, a->len) == 0 &&
           memcmp(a->ostart, b->ostart, a->len * sizeof *a->ostart) == 0 &&
           memcmp(a->oend, b->oend, a->len * sizeof *a->oend) == 0 &&
           memcmp(a->tok, b->tok, a->ntok * sizeof *a->tok) == 0;
}

/* ---- lexicon ---------------------------------------------------------- */

static uint64_t fnv(const char *w, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)w[i];
        h *= 1099511628211ull;
    }
    return h;
}

const struct tr_lex_entry *tr_lex_find(const struct triage_rules *rules,
                                       const char *w, size_t n)
{
    if (!rules || !rules->lexcap || n == 0 || n > LEX_MAX_WORD)
        return NULL;
    /* most words are no key: say so before hashing */
    unsigned bl = tr_lex_bloom(w, n);
    if (!(rules->lexbloom[bl >> 6] >> (bl & 63) & 1) ||
        !(rules->lexlen[(unsigned char)w[0]] >> n & 1))
        return NULL;
    size_t mask = rules->lexcap - 1;
    for (size_t i = fnv(w, n) & mask;; i = (i + 1) & mask) {
        const struct tr_lex_entry *e = &rules->lex[i];
        if (!e->from)
            return NULL;
        if (e->fromlen == n && memcmp(e->from, w, n) == 0)
            return e;
    }
}

/* ---- output helpers --------------------------------------------------- */

static inline int put(struct norm *o, const char *s, size_t n, uint32_t a,
                      uint32_t b)
{
    if (o->len + n + 1 > NORM_CAP)
        return -1;
    for (size_t i = 0; i < n; i++) {
        o->s[o->len] = s[i];
        o->ostart[o->len] = a;
        o->oend[o->len] = b;
        o->len++;
    }
    return 0; /* each stage ends the string once, at its end */
}

static int is_sep(char c)
{
    return c == ' ' || c == '\n';
}

/* One separator between words; a clause break wins over a space. */
static int put_sep(struct norm *o, char kind, uint32_t a, uint32_t b)
{
    if (o->len == 0)
        return 0;
    if (is_sep(o->s[o->len - 1])) {
        if (kind == '\n')
            o->s[o->len - 1] = '\n';
        o->oend[o->len - 1] = b;
        return 0;
    }
    return put(o, &kind, 1, a, b);
}

static int is_alpha(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_leet(unsigned char c)
{
    return c == '0' || c == '1' || c == '3' || c == '4' || c == '5' ||
           c == '7' || c == '@' || c == '$' || c == '!';
}

static char unleet(unsigned char c)
{
    switch (c) {
    case '0':
        return 'o';
    case '1':
        return 'i';
    case '3':
        return 'e';
    case '4':
        return 'a';
    case '5':
        return 's';
    case '7':
        return 't';
    case '@':
        return 'a';
    case '$':
        return 's';
    case '!':
        return 'i';
    default:
        return (char)c;
    }
}

/* ---- stage 1: decode UTF-8 and fold characters ------------------------ */

/* Decodes one code point; invalid or truncated sequences give U+FFFD over
 * one byte, so nothing is skipped silently. */
static uint32_t decode(const unsigned char *p, size_t len, size_t *n)
{
    unsigned c = p[0];
    uint32_t cp;
    size_t need;
    if (c < 0x80) {
        *n = 1;
        return c;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
        cp = c & 0x1F;
        need = 2;
    } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F;
        need = 3;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
        cp = c & 0x07;
        need = 4;
    } else {
        *n = 1;
        return 0xFFFD;
    }
    if (need > len)
        goto bad;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            goto bad;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        goto bad;
    *n = need;
    return cp;
bad:
    *n = 1;
    return 0xFFFD;
}

struct fold {
    uint32_t cp;
    const char *to;
};

/* Look-alikes and compatibility forms seen in evasion, sorted by cp. */
static const struct fold folds[] = {
    {0x00AA, "a"},         {0x00B2, "2"},        {0x00B3, "3"},
    {0x00B9, "1"},         {0x00BA, "o"},        {0x00DF, "ss"},
    {0x00E6, "ae"},        {0x00F0, "d"},        {0x00F8, "o"},
    {0x00FE, "th"},        {0x0131, "i"},        {0x0153, "oe"},
    {0x0391, "a"},         {0x0392, "b"},        {0x0395, "e"},
    {0x0396, "z"},         {0x0397, "h"},        {0x0399, "i"},
    {0x039A, "k"},         {0x039C, "m"},        {0x039D, "n"},
    {0x039F, "o"},         {0x03A1, "p"},        {0x03A4, "t"},
    {0x03A5, "y"},         {0x03A7, "x"},        {0x03B1, "a"},
    {0x03B5, "e"},         {0x03B9, "i"},        {0x03BA, "k"},
    {0x03BD, "v"},         {0x03BF, "o"},        {0x03C1, "p"},
    {0x03C4, "t"},         {0x03C5, "u"},        {0x03C7, "x"},
    {0x0405, "s"},         {0x0406, "i"},        {0x0408, "j"},
    {0x0410, "a"},         {0x0412, "b"},        {0x0415, "e"},
    {0x041A, "k"},         {0x041C, "m"},        {0x041D, "h"},
    {0x041E, "o"},         {0x0420, "p"},        {0x0421, "c"},
    {0x0422, "t"},         {0x0423, "y"},        {0x0425, "x"},
    {0x0430, "a"},         {0x0435, "e"},        {0x043A, "k"},
    {0x043C, "m"},         {0x043E, "o"},        {0x0440, "p"},
    {0x0441, "c"},         {0x0443, "y"},        {0x0445, "x"},
    {0x0455, "s"},         {0x0456, "i"},        {0x0458, "j"},
    {0x0501, "d"},         {0x051B, "q"},        {0x051D, "w"},
    {0x1E9E, "ss"},        {0x2070, "0"},        {0x2071, "i"},
    {0x2074, "4"},         {0x2075, "5"},        {0x2077, "7"},
    {0x26B0, " coffin "},  {0x1F480, " skull "}, {0x1F48A, " pills "},
    {0x1F489, " needle "}, {0x1F52A, " knife "}, {0x1F52B, " gun "},
    {0x1F5E1, " knife "},  {0x1FA78, " blood "}, {0x1FAA2, " rope "},
};

static const char *fold_find(uint32_t cp)
{
    size_t lo = 0, hi = sizeof folds / sizeof folds[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (folds[mid].cp == cp)
            return folds[mid].to;
        if (folds[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Latin-1 letters with accents, U+00C0..U+00FF, to their base letter. */
static const char latin1[] = "aaaaaaaceeeeiiiidnooooo*ouuuuyts"
                             "aaaaaaaceeeeiiiidnooooo/ouuuuyty";

static int map_cp(uint32_t cp, char tmp[8], const char **str)
{
    *str = tmp;
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') {
            tmp[0] = (char)(cp + 32), tmp[1] = 0;
            return MAP_STR;
        }
        if (is_alpha((unsigned char)cp) || is_digit((unsigned char)cp))
            return MAP_KEEP;
        if (cp == '\'' || cp == '`')
            return MAP_DROP;
        if (cp == '.' || cp == '!' || cp == '?' || cp == ',' || cp == ';' ||
            cp == ':' || cp == '\n' || cp == '\r')
            return MAP_BRK;
        return MAP_SEP;
    }
    const char *f = fold_find(cp);
    if (f) {
        *str = f;
        return MAP_STR;
    }
    if (cp >= 0xC0 && cp <= 0xFF && latin1[cp - 0xC0] != '*' &&
        latin1[cp - 0xC0] != '/') {
        tmp[0] = latin1[cp - 0xC0], tmp[1] = 0;
        return MAP_STR;
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) /* fullwidth ASCII */
        return map_cp(cp - 0xFEE0, tmp, str);
    if (cp >= 0x1D400 && cp <= 0x1D6A3) { /* maths bold, italic, script */
        uint32_t k = (cp - 0x1D400) % 52;
        tmp[0] = (char)('a' + (k % 26)), tmp[1] = 0;
        return MAP_STR;
    }
    if (cp >= 0x24B6 && cp <= 0x24E9) { /* circled letters */
        tmp[0] = (char)('a' + (cp - 0x24B6) % 26), tmp[1] = 0;
        return MAP_STR;
    }
    if (cp >= 0x1F130 && cp <= 0x1F189) { /* squared, negative circled */
        tmp[0] = (char)('a' + (cp - 0x1F130) % 26), tmp[1] = 0;
        return MAP_STR;
    }
    if (cp == 0x00AD || (cp >= 0x200B && cp <= 0x200F) || cp == 0x2060 ||
        cp == 0xFEFF || (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0x2018 ||
        cp == 0x2019 || cp == 0x201B || cp == 0x02BC || cp == 0x2032 ||
        cp == 0x00B4)
        return MAP_DROP; /* invisible, or an apostrophe */
    if (cp == 0x2026 || cp == 0x2028 || cp == 0x2029 || cp == 0x3002 ||
        cp == 0xFF0E)
        return MAP_BRK;
    if (cp < 0xC0 || (cp >= 0x2000 && cp <= 0x2BFF) ||
        (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0x1F000 && cp <= 0x1FAFF) ||
        cp == 0xFFFD || cp >= 0xE0000)
        return MAP_SEP; /* spaces, punctuation, symbols, emoji */
    return MAP_KEEP;    /* a letter of another script: keep as typed */
}

static int is_apostrophe(uint32_t cp)
{
    return cp == '\'' || cp == '`' || cp == 0x2018 || cp == 0x2019 ||
           cp == 0x201B || cp == 0x02BC || cp == 0x2032 || cp == 0x00B4;
}

/* The suffix after an apostrophe, if it is one we spell out. */
static const char *contraction(const unsigned char *p, size_t len, size_t *used)
{
    static const struct {
        const char *suffix, *full;
    } tab[] = {{"ll", " will"},
               {"re", " are"},
               {"ve", " have"},
               {"m", " am"},
               {"d", " would"}};
    size_t n = 0;
    while (n < len && n < 3 && ((p[n] | 0x20) >= 'a' && (p[n] | 0x20) <= 'z'))
        n++;
    if (n < len && ((p[n] | 0x20) >= 'a' && (p[n] | 0x20) <= 'z'))
        return NULL; /* a longer word: not a contraction */
    for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++) {
        size_t sl = strlen(tab[k].suffix);
        if (sl != n)
            continue;
        size_t j = 0;
        while (j < n && (p[j] | 0x20) == (unsigned char)tab[k].suffix[j])
            j++;
        if (j == n) {
            *used = n;
            return tab[k].full;
        }
    }
    return NULL;
}

static int put_words(struct norm *o, const char *s, uint32_t a, uint32_t b)
{
    for (; *s; s++) {
        int r = *s == ' ' ? put_sep(o, ' ', a, b) : put(o, s, 1, a, b);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int stage_decode(const char *text, size_t len, struct norm *o)
{
    const unsigned char *p = (const unsigned char *)text;
    o->len = 0;
    o->s[0] = '\0';
    for (size_t i = 0; i < len;) {
        /* most bytes are letters, digits and spaces: what map_cp() and
         * the cases below would make of them, without asking */
        unsigned char c = p[i];
        if (is_alpha(c) || is_digit(c) || (c >= 'A' && c <= 'Z')) {
            char lc = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            if (put(o, &lc, 1, (uint32_t)i, (uint32_t)i + 1) < 0)
                return -1;
            i++;
            continue;
        }
        if (c == ' ') {
            if (put_sep(o, ' ', (uint32_t)i, (uint32_t)i + 1) < 0)
                return -1;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp = decode(p + i, len - i, &n);
        uint32_t a = (uint32_t)i, b = (uint32_t)(i + n);
        char tmp[8];
        const char *str;
        int k = map_cp(cp, tmp, &str);
        unsigned char prev = o->len ? (unsigned char)o->s[o->len - 1] : ' ';
        unsigned char next = i + n < len ? p[i + n] : ' ';
        if (next >= 'A' && next <= 'Z')
            next = (unsigned char)(next + 32);
        int r = 0;
        if (cp == '.' && is_digit(prev) && is_digit(next)) {
            r = put(o, ".", 1, a, b); /* 2.5ml */
        } else if (cp == ',' && is_digit(prev) && is_digit(next)) {
            r = 0; /* 1,000 */
        } else if (cp == '!' && is_alpha(prev) && is_alpha(next)) {
            r = put(o, "!", 1, a, b); /* k!ll: undone with the leet */
        } else if ((cp == '@' || cp == '$') &&
                   (is_alpha(prev) || is_alpha(next) || is_digit(prev) ||
                    is_digit(next))) {
            r = put(o, (const char *)&p[i], 1, a, b);
        } else if (k == MAP_DROP && is_apostrophe(cp) && is_alpha(prev)) {
            /* "he'll", "we're": spelt out here, because without the
             * apostrophe they are other words ("hell", "were") */
            size_t used = 0;
            const char *full = contraction(p + i + n, len - i - n, &used);
            if (full) {
                b = (uint32_t)(i + n + used);
                r = put_words(o, full, a, b);
                n += used;
            }
        } else if (k == MAP_KEEP) {
            r = put(o, (const char *)p + i, n, a, b);
        } else if (k == MAP_STR) {
            for (const char *s = str; *s && r == 0; s++) {
                if (*s == ' ')
                    r = put_sep(o, ' ', a, b);
                else
                    r = put(o, s, 1, a, b);
            }
        } else if (k == MAP_SEP) {
            r = put_sep(o, ' ', a, b);
        } else if (k == MAP_BRK) {
            r = put_sep(o, '\n', a, b);
        }
        if (r < 0)
            return -1;
        i += n;
    }
    while (o->len && is_sep(o->s[o->len - 1]))
        o->len--;
    o->s[o->len] = '\0';
    return 0;
}

/* ---- stage 2: leetspeak and spaced letters ---------------------------- */

static const char *const units[] = {
    "",      "mg",      "g",     "kg",     "ml",   "l",     "mcg",  "ug",
    "am",    "pm",      "st",    "nd",     "rd",   "th",    "s",    "yo",
    "yr",    "yrs",     "y",     "m",      "mo",   "mos",   "mth",  "mths",
    "wk",    "wks",     "w",     "d",      "h",    "hr",    "hrs",  "min",
    "mins",  "k",       "p",     "x",      "lb",   "lbs",   "oz",   "ft",
    "cm",    "mm",      "km",    "mph",    "pc",   "ish",   "day",  "days",
    "week",  "weeks",   "month", "months", "year", "years", "tabs", "pills",
    "hours", "minutes", "am",    "mths",   "yrs",
};

/* "800mg", "3am", "2nd", "1000": a number, perhaps with a unit. */
static int number_unit(const char *t, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_digit((unsigned char)t[0]))
        return 0;
    while (i < n && (is_digit((unsigned char)t[i]) || t[i] == '.'))
        i++;
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        size_t ul = strlen(units[k]);
        if (ul == n - i && memcmp(t + i, units[k], ul) == 0)
            return 1;
    }
    return 0;
}

static int single_char_token(const struct norm *in, size_t i)
{
    unsigned char c = (unsigned char)in->s[i];
    return (is_alpha(c) || is_leet(c)) &&
           (i + 1 >= in->len || is_sep(in->s[i + 1])) &&
           (i == 0 || is_sep(in->s[i - 1]));
}

static int stage_words(const struct triage_rules *rules, const struct norm *in,
                       struct norm *o)
{
    o->len = 0;
    o->s[0] = '\0';
    size_t i = 0;
    while (i < in->len) {
        if (is_sep(in->s[i])) {
            if (put(o, &in->s[i], 1, in->ostart[i], in->oend[i]) < 0)
                return -1;
            i++;
            continue;
        }
        /* spaced letters: "s u i c i d e", "k.n.i.f.e" */
        if (single_char_token(in, i)) {
            size_t j = i, count = 0, letters = 0;
            while (j < in->len && single_char_token(in, j)) {
                count++;
                letters += is_alpha((unsigned char)in->s[j]);
                j += 2;
            }
            if (count > SPACED_MIN_LETTERS &&
                (in->s[i] == 'i' || in->s[i] == 'a')) {
                /* "i s e l f h a r m": the pronoun stays a word */
                if (put(o, &in->s[i], 1, in->ostart[i], in->oend[i]) < 0 ||
                    put(o, " ", 1, in->oend[i], in->oend[i]) < 0)
                    return -1;
                i += 2;
                count--;
                letters--;
            }
            if (count >= SPACED_MIN_LETTERS && letters * 2 >= count) {
                for (size_t k = 0; k < count; k++) {
                    size_t at = i + 2 * k;
                    char c = unleet((unsigned char)in->s[at]);
                    if (put(o, &c, 1, in->ostart[at], in->oend[at]) < 0)
                        return -1;
                }
                i += 2 * count - 1; /* at the separator after the run */
                continue;
            }
        }
        size_t j = i;
        int alpha = 0, leet = 0, digit = 0;
        while (j < in->len && !is_sep(in->s[j])) {
            unsigned char c = (unsigned char)in->s[j];
            alpha |= is_alpha(c);
            leet |= is_leet(c);
            digit |= is_digit(c);
            j++;
        }
        /* "2nite", "gr8": text-speak with digits stays for the lexicon
         * pass rather than being read as leet. */
        int spelt = digit && tr_lex_find(rules, in->s + i, j - i) != NULL;
        int convert = !spelt && alpha && leet && !number_unit(in->s + i, j - i);
        for (size_t k = i; k < j; k++) {
            char c = in->s[k];
            if (convert || c == '!')
                c = unleet((unsigned char)c);
            if (put(o, &c, 1, in->ostart[k], in->oend[k]) < 0)
                return -1;
        }
        i = j;
    }
    return 0;
}

/* ---- stage 3: repeated letters and the lexicon ------------------------ */

static int add_token(struct norm *o, size_t at)
{
    if (o->ntok >= NORM_MAX_TOKENS)
        return -1;
    o->tok[o->ntok++] = (uint32_t)at;
    return 0;
}

/* keep: how many letters of a run of three or more survive (2 or 1). */
static int stage_final(const struct triage_rules *rules, const struct norm *in,
                       struct norm *o, size_t keep)
{
    o->len = 0;
    o->ntok = 0;
    o->collapsed = 0;
    o->s[0] = '\0';
    size_t i = 0;
    while (i < in->len) {
        if (is_sep(in->s[i])) {
            if (put(o, &in->s[i], 1, in->ostart[i], in->oend[i]) < 0)
                return -1;
            i++;
            continue;
        }
        size_t wstart = o->len;
        uint32_t ostart = in->ostart[i];
        uint32_t oend = in->oend[i];
        if (add_token(o, wstart) < 0)
            return -1;
        while (i < in->len && !is_sep(in->s[i])) {
            size_t run = 1;
            unsigned char c = (unsigned char)in->s[i];
            if (is_alpha(c))
                while (i + run < in->len && in->s[i + run] == (char)c)
                    run++;
            size_t emit = run;
            if (run >= 3) {
                emit = keep;
                o->collapsed = 1;
            }
            for (size_t k = 0; k < emit; k++) {
                /* the last kept letter spans the rest of the run */
                size_t last = k + 1 == emit ? i + run - 1 : i + k;
                if (put(o, &in->s[i + k], 1, in->ostart[i + k],
                        in->oend[last]) < 0)
                    return -1;
            }
            oend = in->oend[i + run - 1];
            i += run;
        }
        const struct tr_lex_entry *e =
            tr_lex_find(rules, o->s + wstart, o->len - wstart);
        if (e) {
            o->len = wstart;
            for (size_t k = 0; k < e->tolen; k++) {
                if (put(o, &e->to[k], 1, ostart, oend) < 0)
                    return -1;
                if (k > 0 && e->to[k - 1] == ' ' && add_token(o, o->len - 1))
                    return -1;
            }
        }
    }
    return 0;
}

/* ---- all three stages in one pass, for most messages ----------------- */

/* The stages above, fused: stage 1 decides per character as stage_decode()
 * does and writes its bytes straight into form 0; at the end of each word
 * stage 2 (leetspeak) and stage 3 (the lexicon) rewrite that word in
 * place.  A message this pass does not finish the same way returns 1 and
 * goes through the stages: four or more spaced single letters in a row
 * (stage 2 joins them), a run of three repeated letters (form 1 is then
 * needed too), or a length at which a lexicon rewrite could overflow. */

enum { FUSE_DONE = 0, FUSE_FAIL = -1, FUSE_STAGES = 1 };

/* The pass's state.  The hot loop of normalise_fused() keeps n, word and
 * kinds in locals and stores them here before calling anything else. */
struct fuse {
    const struct triage_rules *rules;
    struct norm *o;
    char *s;
    uint32_t *os, *oe;
    size_t n;        /* bytes written */
    size_t word;     /* start of the word being read, or SIZE_MAX */
    unsigned kinds;  /* byte_kind of the word's bytes, or'd */
    unsigned single; /* single-letter words in a row */
    unsigned keep;   /* letters a run of three or more keeps: 2 or 1 */
    int ascii;       /* every byte written is below 0x80 */
};

/* Bytes in a word: 1 a-z, 2 digit, 4 leet, 8 not \w (as stage_words()
 * asks, and for the word starts). */
static const unsigned char byte_kind[256] = {
    ['a'] = 1,  ['b'] = 1,  ['c'] = 1,  ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1,  ['h'] = 1,  ['i'] = 1,  ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1,  ['n'] = 1,  ['o'] = 1,  ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1,  ['t'] = 1,  ['u'] = 1,  ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1,  ['z'] = 1,  ['0'] = 6,  ['1'] = 6, ['2'] = 2, ['3'] = 6,
    ['4'] = 6,  ['5'] = 6,  ['6'] = 2,  ['7'] = 6, ['8'] = 2, ['9'] = 2,
    ['@'] = 12, ['$'] = 12, ['!'] = 12, ['.'] = 8,
};

/* An ASCII letter or digit as stage_decode() writes it, else 0. */
static const unsigned char plain[256] = {
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e',
    ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j',
    ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o',
    ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't',
    ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',
    ['z'] = 'z', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd',
    ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i',
    ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
    ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's',
    ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z', ['0'] = '0', ['1'] = '1', ['2'] = '2',
    ['3'] = '3', ['4'] = '4', ['5'] = '5', ['6'] = '6', ['7'] = '7',
    ['8'] = '8', ['9'] = '9',
};

/* tr_lex_find(), its filters first: most words are no key. */
static inline const struct tr_lex_entry *lex_find(const struct triage_rules *r,
                                                  const char *w, size_t n)
{
    unsigned bl = tr_lex_bloom(w, n);
    if (!(r->lexbloom[bl >> 6] >> (bl & 63) & 1))
        return NULL;
    return tr_lex_find(r, w, n);
}

#if defined(__SSE2__)
#define SIMD_BYTES 16 /* bytes one vector compare looks at */

/* Bytes of v that are ASCII letters (either case) and digits, as masks:
 * SSE2 compares bytes signed, so each range is moved to start at -128. */
static inline __m128i simd_letters(__m128i v)
{
    __m128i lo = _mm_or_si128(v, _mm_set1_epi8(0x20));
    return _mm_cmplt_epi8(_mm_add_epi8(lo, _mm_set1_epi8((char)(128 - 'a'))),
                          _mm_set1_epi8((char)(26 - 128)));
}

static inline __m128i simd_digits(__m128i v)
{
    return _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(128 - '0'))),
                          _mm_set1_epi8((char)(10 - 128)));
}
#endif

/* Three of one letter in a row (stage_final() shortens those)?  A word
 * that fits a vector is asked without a loop: the loop's end, at a
 * different length every word, was a mispredicted branch a word.  The
 * caller's buffer holds SIMD_BYTES + 2 bytes from t. */
static inline int has_run3(const char *t, size_t n)
{
#if defined(__SSE2__)
    if (n <= SIMD_BYTES) {
        __m128i a = _mm_loadu_si128((const __m128i *)t);
        __m128i b = _mm_loadu_si128((const __m128i *)(t + 1));
        __m128i c = _mm_loadu_si128((const __m128i *)(t + 2));
        __m128i lower =
            _mm_and_si128(_mm_cmpgt_epi8(a, _mm_set1_epi8('a' - 1)),
                          _mm_cmplt_epi8(a, _mm_set1_epi8('z' + 1)));
        __m128i run = _mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(a, b), _mm_cmpeq_epi8(a, c)), lower);
        /* a run starting at j < n - 2 ends inside the word */
        unsigned live = n >= 3 ? (1u << (n - 2)) - 1 : 0;
        return (_mm_movemask_epi8(run) & live) != 0;
    }
#endif
    for (size_t i = 2; i < n; i++)
        if (t[i] == t[i - 2] && t[i] == t[i - 1] &&
            is_alpha((unsigned char)t[i]))
            return 1;
    return 0;
}

/* The end of a word that is not plain (fuse_word_end() below): stage 2's
 * leetspeak, stage 3's runs, a lexicon rewrite, word starts inside it. */
static int fuse_word_slow(struct fuse *x)
{
    size_t w = x->word, n = x->n - w;
    char *t = x->s + w;
    unsigned kinds = x->kinds;
    if (kinds & 4) { /* leetspeak, or a '!' between letters */
        int spelt = (kinds & 2) && lex_find(x->rules, t, n) != NULL;
        int convert = !spelt && (kinds & 1) && !number_unit(t, n);
        kinds = 0;
        for (size_t i = 0; i < n; i++) {
            if (convert || t[i] == '!')
                t[i] = unleet((unsigned char)t[i]);
            kinds |= byte_kind[(unsigned char)t[i]];
        }
    }
    /* stage 3: a run of three or more of a letter keeps x->keep; the last
     * kept spans the rest of the run */
    if ((kinds & 1) && has_run3(t, n)) {
        size_t r = 0, i = 0;
        while (i < n) {
            size_t run = 1;
            if (is_alpha((unsigned char)t[i]))
                while (i + run < n && t[i + run] == t[i])
                    run++;
            size_t emit = run >= 3 ? x->keep : run;
            if (run >= 3)
                x->o->collapsed = 1;
            for (size_t k = 0; k < emit; k++, r++) {
                t[r] = t[i + k];
                x->os[w + r] = x->os[w + i + k];
                x->oe[w + r] = x->oe[w + (k + 1 == emit ? i + run - 1 : i + k)];
            }
            i += run;
        }
        x->n = w + r;
        n = r;
    }
    struct norm *o = x->o;
    if (o->ntok >= NORM_MAX_TOKENS)
        return FUSE_FAIL;
    o->tokws[o->ntok] = (uint32_t)o->nwstart;
    o->tok[o->ntok++] = (uint32_t)w;
    const struct tr_lex_entry *e = lex_find(x->rules, t, n);
    if (e) {
        uint32_t a = x->os[w], b = x->oe[x->n - 1];
        o->wstart[o->nwstart++] = (uint32_t)w;
        for (size_t k = 0; k < e->tolen; k++) {
            x->s[w + k] = e->to[k];
            x->os[w + k] = a;
            x->oe[w + k] = b;
            if (k > 0 && e->to[k - 1] == ' ') {
                if (o->ntok >= NORM_MAX_TOKENS)
                    return FUSE_FAIL;
                o->tokws[o->ntok] = (uint32_t)o->nwstart;
                o->tok[o->ntok++] = (uint32_t)(w + k);
                o->wstart[o->nwstart++] = (uint32_t)(w + k);
            }
        }
        x->n = w + e->tolen;
    } else if (!(kinds & 8)) { /* letters and digits: one word start */
        o->wstart[o->nwstart++] = (uint32_t)w;
    } else { /* '.', '@', '$' or other scripts inside */
        int prev = 0;
        for (size_t i = 0; i < n; i++) {
            int wc = !(byte_kind[(unsigned char)t[i]] & 8);
            if (wc && !prev)
                o->wstart[o->nwstart++] = (uint32_t)(w + i);
            prev = wc;
        }
    }
    return FUSE_DONE;
}

/* Stages 2 and 3 on the word just read, [x->word, x->n).  Inlined by
 * force: GCC kept it a call, once a word, and the call and the spills
 * around it cost about 0.03 us a message (make bench-triage). */
static inline __attribute__((always_inline)) int fuse_word_end(struct fuse *x)
{
    size_t w = x->word, n = x->n - w;
    const char *t = x->s + w;
    unsigned kinds = x->kinds;
    x->word = SIZE_MAX;
    /* stage 2: spaced letters ("s u i c i d e") are its to join */
    if (n == 1 && (kinds & 5)) {
        if (++x->single >= SPACED_MIN_LETTERS)
            return FUSE_STAGES;
    } else {
        x->single = 0;
    }
    struct norm *o = x->o;
    unsigned bl;
    if ((kinds & 12) || (n >= 3 && has_run3(t, n)) ||
        o->ntok >= NORM_MAX_TOKENS ||
        ((bl = tr_lex_bloom(t, n)),
         x->rules->lexbloom[bl >> 6] >> (bl & 63) & 1)) {
        x->word = w;
        int rc = fuse_word_slow(x);
        x->word = SIZE_MAX;
        return rc;
    }
    /* a plain word, no key of the lexicon: one token, one word start */
    o->tokws[o->ntok] = (uint32_t)o->nwstart;
    o->tok[o->ntok++] = (uint32_t)w;
    o->wstart[o->nwstart++] = (uint32_t)w;
    return FUSE_DONE;
}

static inline void fuse_byte(struct fuse *x, char c, uint32_t a, uint32_t b)
{
    if (x->word == SIZE_MAX) {
        x->word = x->n;
        x->kinds = 0;
    }
    x->kinds |= byte_kind[(unsigned char)c];
    x->s[x->n] = c;
    x->os[x->n] = a;
    x->oe[x->n] = b;
    x->n++;
}

/* put_sep(): one separator between words, a clause break winning. */
static int fuse_sep(struct fuse *x, char kind, uint32_t a, uint32_t b)
{
    if (x->word != SIZE_MAX) {
        int rc = fuse_word_end(x);
        if (rc != FUSE_DONE)
            return rc;
    }
    if (x->n == 0)
        return FUSE_DONE;
    if (is_sep(x->s[x->n - 1])) {
        if (kind == '\n')
            x->s[x->n - 1] = '\n';
        x->oe[x->n - 1] = b;
        return FUSE_DONE;
    }
    x->s[x->n] = kind;
    x->os[x->n] = a;
    x->oe[x->n] = b;
    x->n++;
    return FUSE_DONE;
}

/* stage_decode() for one character that is not an ASCII letter, digit or
 * space, at p[i]; *used: its bytes. */
static int fuse_other(struct fuse *x, const unsigned char *p, size_t i,
                      size_t len, size_t *used)
{
    size_t n;
    uint32_t cp = decode(p + i, len - i, &n);
    uint32_t a = (uint32_t)i, b = (uint32_t)(i + n);
    char tmp[8];
    const char *str;
    int k = map_cp(cp, tmp, &str);
    unsigned char prev = x->n ? (unsigned char)x->s[x->n - 1] : ' ';
    unsigned char next = i + n < len ? p[i + n] : ' ';
    if (next >= 'A' && next <= 'Z')
        next = (unsigned char)(next + 32);
    int r = FUSE_DONE;
    if (cp == '.' && is_digit(prev) && is_digit(next)) {
        fuse_byte(x, '.', a, b);
    } else if (cp == ',' && is_digit(prev) && is_digit(next)) {
        /* 1,000 */
    } else if (cp == '!' && is_alpha(prev) && is_alpha(next)) {
        fuse_byte(x, '!', a, b);
    } else if ((cp == '@' || cp == '$') && (is_alpha(prev) || is_alpha(next) ||
                                            is_digit(prev) || is_digit(next))) {
        fuse_byte(x, (char)p[i], a, b);
    } else if (k == MAP_DROP && is_apostrophe(cp) && is_alpha(prev)) {
        size_t suffix = 0;
        const char *full = contraction(p + i + n, len - i - n, &suffix);
        if (full) {
            b = (uint32_t)(i + n + suffix);
            for (const char *s = full; *s && r == FUSE_DONE; s++) {
                if (*s == ' ')
                    r = fuse_sep(x, ' ', a, b);
                else
                    fuse_byte(x, *s, a, b);
            }
            n += suffix;
        }
    } else if (k == MAP_KEEP) {
        for (size_t j = 0; j < n; j++)
            fuse_byte(x, (char)p[i + j], a, b);
        if (p[i] >= 0x80) {
            x->ascii = 0;
            x->kinds |= 8; /* \w or not is PCRE2's to say: not plain */
        }
    } else if (k == MAP_STR) {
        for (const char *s = str; *s && r == FUSE_DONE; s++) {
            if (*s == ' ')
                r = fuse_sep(x, ' ', a, b);
            else
                fuse_byte(x, *s, a, b);
        }
    } else if (k == MAP_SEP) {
        r = fuse_sep(x, ' ', a, b);
    } else if (k == MAP_BRK) {
        r = fuse_sep(x, '\n', a, b);
    }
    *used = n;
    return r;
}

/* One form of text: keep is what a run of three letters keeps. */
static int normalise_fused(const struct triage_rules *rules, struct norm *o,
                           const char *text, size_t len, unsigned keep)
{
    /* stage 1 writes at most 3 bytes an input byte (" would" for "'d"),
     * the lexicon at most lexmax a byte: past this, put()'s limit could
     * be reached, and the stages say where */
    size_t grow = rules && rules->lexmax > 1 ? rules->lexmax : 1;
    if (!rules || len > TRIAGE_MAX_INPUT || 3 * len * grow + 2 > NORM_CAP)
        return FUSE_STAGES;
    struct fuse x = {.rules = rules,
                     .o = o,
                     .s = o->s,
                     .os = o->ostart,
                     .oe = o->oend,
                     .word = SIZE_MAX,
                     .keep = keep,
                     .ascii = 1};
    o->ntok = 0;
    o->nwstart = 0;
    o->collapsed = 0;
    const unsigned char *p = (const unsigned char *)text;
    char *s = o->s;
    uint32_t *os = o->ostart, *oe = o->oend;
    size_t n = 0, word = SIZE_MAX;
    unsigned kinds = 0;
    int r;
    for (size_t i = 0; i < len;) {
        unsigned c = plain[p[i]];
        if (c) { /* a run of letters and digits: most of a message */
            if (word == SIZE_MAX) {
                word = n;
                kinds = 0;
            }
#if defined(__SSE2__)
            /* a vector at a time: a word's length, which a byte loop's
             * end mispredicted once a word, is a count of mask bits */
            while (i + SIMD_BYTES <= len && n + SIMD_BYTES + 2 <= NORM_CAP) {
                __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
                __m128i l = simd_letters(v), d = simd_digits(v);
                unsigned plainm =
                    (unsigned)_mm_movemask_epi8(_mm_or_si128(l, d));
                unsigned run = (unsigned)__builtin_ctz(~plainm); /* <= 16 */
                unsigned take = run == SIMD_BYTES ? 0xffffu : (1u << run) - 1;
                _mm_storeu_si128(
                    (__m128i *)(s + n),
                    _mm_or_si128(v, _mm_and_si128(l, _mm_set1_epi8(0x20))));
                __m128i at = _mm_add_epi32(_mm_set1_epi32((int)i),
                                           _mm_setr_epi32(0, 1, 2, 3));
                for (unsigned k = 0; k < SIMD_BYTES; k += 4) {
                    _mm_storeu_si128((__m128i *)(os + n + k), at);
                    at = _mm_add_epi32(at, _mm_set1_epi32(1));
                    _mm_storeu_si128((__m128i *)(oe + n + k), at);
                    at = _mm_add_epi32(at, _mm_set1_epi32(3));
                }
                kinds |= (unsigned)_mm_movemask_epi8(l) & take ? 1u : 0u;
                if ((unsigned)_mm_movemask_epi8(d) & take) /* digits: rare */
                    for (unsigned k = 0; k < run; k++)
                        kinds |= byte_kind[(unsigned char)s[n + k]];
                n += run;
                i += run;
                if (run < SIMD_BYTES)
                    goto word_paused;
            }
#endif
            for (; i < len && (c = plain[p[i]]) != 0; n++, i++) {
                s[n] = (char)c;
                os[n] = (uint32_t)i;
                oe[n] = (uint32_t)i + 1;
                kinds |= byte_kind[c];
            }
#if defined(__SSE2__)
        word_paused:
#endif
            continue;
        }
        x.n = n;
        x.word = word;
        x.kinds = kinds;
        if (p[i] == ' ') {
            if (word != SIZE_MAX && (r = fuse_word_end(&x)) != FUSE_DONE)
                return r;
            n = x.n;
            if (n) {
                if (is_sep(s[n - 1])) {
                    oe[n - 1] = (uint32_t)i + 1;
                } else {
                    s[n] = ' ';
                    os[n] = (uint32_t)i;
                    oe[n] = (uint32_t)i + 1;
                    n++;
                }
            }
            word = SIZE_MAX;
            i++;
            continue;
        }
        size_t used;
        if ((r = fuse_other(&x, p, i, len, &used)) != FUSE_DONE)
            return r;
        i += used;
        n = x.n;
        word = x.word;
        kinds = x.kinds;
    }
    x.n = n;
    x.word = word;
    x.kinds = kinds;
    if (word != SIZE_MAX && (r = fuse_word_end(&x)) != FUSE_DONE)
        return r;
    while (x.n && is_sep(x.s[x.n - 1]))
        x.n--;
    o->len = x.n;
    o->s[o->len] = '\0';
    o->tokws[o->ntok] = (uint32_t)o->nwstart;
    o->ascii = x.ascii; /* then wstart and tokws are filled in */
    return FUSE_DONE;
}

int tr_normalise(const struct triage_rules *rules, struct triage_ctx *ctx,
                 const char *text, size_t len)
{
    struct norm *a = &ctx->scratch, *f0 = &ctx->form[0], *f1 = &ctx->form[1];
    f0->ascii = f1->ascii = -1;
    if (!ctx->reference) {
        int rc = normalise_fused(rules, f0, text, len, 2);
        if (rc == FUSE_DONE && f0->collapsed)
            rc = normalise_fused(rules, f1, text, len, 1);
        if (rc != FUSE_STAGES) {
            if (rc != FUSE_DONE || !f0->collapsed) {
                f1->len = 0;
                f1->ntok = 0;
                f1->s[0] = '\0';
            }
            return rc;
        }
        f0->ascii = f1->ascii = -1;
    }
    ctx->form[1].len = 0;
    ctx->form[1].ntok = 0;
    if (len > TRIAGE_MAX_INPUT)
        return -1;
    /* decode into form[1], words into scratch, final forms from scratch */
    int rc = 0;
    if (stage_decode(text, len, f1) < 0 || stage_words(rules, f1, a) < 0 ||
        stage_final(rules, a, f0, 2) < 0 ||
        (f0->collapsed && stage_final(rules, a, f1, 1) < 0)) {
        rc = -1;
    } else if (!f0->collapsed) {
        f1->len = 0;
        f1->ntok = 0;
    }
    /* put() leaves the strings open (a store a byte saved): end them */
    a->s[a->len] = f0->s[f0->len] = f1->s[f1->len] = '\0';
    return rc;
}
