/*
 * wire.c - see wire.h.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_HEAD_FIELDS 4  /* conv, seq, from, ts: before the sized ones */
#define EVENT_NUM_DIGITS  18 /* digits of a seq, ts or length: fits int64 */

void wb_init(struct wbuf *b, char *buf, size_t cap)
{
    b->p = buf;
    b->len = 0;
    b->cap = cap;
    b->failed = cap == 0;
}

void wb_raw(struct wbuf *b, const char *s, size_t len)
{
    if (b->failed || len > b->cap - b->len) {
        b->failed = 1;
        return;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
}

void wb_lit(struct wbuf *b, const char *s)
{
    wb_raw(b, s, strlen(s));
}

void wb_str(struct wbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t start = 0;

    wb_raw(b, "\"", 1);
    for (size_t i = 0; i < len && !b->failed; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6];
        size_t n = 2;

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        /* Copy the plain run before this byte, then its escape. */
        wb_raw(b, s + start, i - start);
        start = i + 1;
        esc[0] = '\\';
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 0xf];
            n = 6;
        }
        wb_raw(b, esc, n);
    }
    wb_raw(b, s + start, len - start);
    wb_raw(b, "\"", 1);
}

void wb_int(struct wbuf *b, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", v);

    wb_raw(b, num, (size_t)n);
}

size_t wire_triage_json(char *out, size_t cap, const char *text, size_t len,
                        const struct triage_result *tr)
{
    const char *sev = triage_severity_name(tr->severity);
    struct wbuf b;

    wb_init(&b, out, cap);
    wb_lit(&b, "{\"severity\":");
    wb_str(&b, sev, strlen(sev));
    wb_lit(&b, ",\"categories\":[");
    for (unsigned i = 0; i < tr->ncategories && i < TRIAGE_MAX_CATEGORIES;
         i++) {
        if (i)
            wb_raw(&b, ",", 1);
        wb_str(&b, tr->categories[i],
               strnlen(tr->categories[i], TRIAGE_CATEGORY_LEN));
    }
    wb_lit(&b, "],\"spans\":[");
    for (unsigned i = 0; i < tr->nspans && i < TRIAGE_MAX_SPANS; i++) {
        wb_lit(&b, i ? ",[" : "[");
        wb_int(&b, (long long)utf16_offset(text, len, tr->spans[i].start));
        wb_raw(&b, ",", 1);
        wb_int(&b, (long long)utf16_offset(text, len, tr->spans[i].end));
        wb_raw(&b, "]", 1);
    }
    wb_lit(&b, "]}");
    wb_raw(&b, "", 1); /* NUL, not counted */
    return b.failed ? 0 : b.len - 1;
}

int wire_triage_stored(char *out, size_t cap, const char *text, size_t len,
                       const struct triage_result *tr)
{
    if (tr->severity == TRIAGE_NONE && !tr->ncategories && !tr->nspans) {
        if (!cap)
            return 0;
        out[0] = '\0';
        return 1;
    }
    return wire_triage_json(out, cap, text, len, tr) > 0;
}

const char *wire_triage_shown(const char *from, const char *tri)
{
    if (strcmp(from, "parent") != 0)
        return NULL;
    return tri && *tri ? tri : WIRE_TRIAGE_NONE;
}

int wire_triage_has_categories(const char *tri)
{
    /* chatd writes the triage JSON compact (here, and jansson's
     * JSON_COMPACT before it), so no category is exactly this. */
    return tri && *tri && !strstr(tri, "\"categories\":[]");
}

int wire_is_msg_event(const char *ev, size_t len)
{
    return len > 2 && ev[0] == 'm' && ev[1] == '|';
}

int wire_msg_event_conv(const char *ev, size_t len, char conv[ID_STR_LEN])
{
    const char *p = ev + 2, *end = ev + len, *bar;
    size_t n;

    if (!wire_is_msg_event(ev, len) ||
        !(bar = memchr(p, '|', (size_t)(end - p))))
        return -1;
    n = (size_t)(bar - p);
    if (n == 0 || n >= ID_STR_LEN)
        return -1;
    memcpy(conv, p, n);
    conv[n] = '\0';
    return 0;
}

/* Where the parts of a msg event lie (wire.h), none of them copied. */
struct msg_layout {
    const char *head[EVENT_HEAD_FIELDS];
    size_t head_len[EVENT_HEAD_FIELDS];
    const char *ct, *cid, *tri;
    size_t ct_len, cid_len, tri_len;
};

/* The field at *p, up to the next '|'; *p moves past the '|'. */
static int take_field(const char **p, const char *end, const char **f,
                      size_t *n)
{
    const char *bar = memchr(*p, '|', (size_t)(end - *p));

    if (!bar)
        return -1;
    *f = *p;
    *n = (size_t)(bar - *p);
    *p = bar + 1;
    return 0;
}

/* Decimal digits only, and not more than fit. */
static int parse_num(const char *s, size_t n, unsigned long long *out)
{
    unsigned long long v = 0;

    if (n == 0 || n > EVENT_NUM_DIGITS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* A length, then that many bytes (which may hold any byte), then '|'. */
static int take_sized(const char **p, const char *end, size_t max,
                      const char **f, size_t *n)
{
    const char *num;
    size_t numlen;
    unsigned long long v;

    if (take_field(p, end, &num, &numlen) < 0 ||
        parse_num(num, numlen, &v) < 0 || v > max ||
        (size_t)(end - *p) < v + 1 || (*p)[v] != '|')
        return -1;
    *f = *p;
    *n = (size_t)v;
    *p += v + 1;
    return 0;
}

/* The triage JSON runs to the first newline (the next event) or the end. */
static int msg_layout(const char *ev, size_t len, struct msg_layout *l)
{
    const char *p = ev + 2, *end = ev + len, *nl;

    if (!wire_is_msg_event(ev, len))
        return -1;
    for (int i = 0; i < EVENT_HEAD_FIELDS; i++)
        if (take_field(&p, end, &l->head[i], &l->head_len[i]) < 0)
            return -1;
    if (take_sized(&p, end, SEAL_MAX + SEAL_OVERHEAD, &l->ct, &l->ct_len) < 0 ||
        take_sized(&p, end, PROTO_MAX_ID_BYTES, &l->cid, &l->cid_len) < 0)
        return -1;
    nl = memchr(p, '\n', (size_t)(end - p));
    l->tri = p;
    l->tri_len = (size_t)((nl ? nl : end) - p);
    return 0;
}

size_t wire_event_len(const char *ev, size_t len)
{
    struct msg_layout l;
    const char *nl;

    if (msg_layout(ev, len, &l) == 0)
        return (size_t)(l.tri + l.tri_len - ev);
    nl = memchr(ev, '\n', len);
    return nl ? (size_t)(nl - ev) : len;
}

/* A text field: not empty (unless may_be_empty), no NUL, and fits. */
static int copy_span(char *dst, size_t cap, const char *s, size_t n,
                     int may_be_empty)
{
    if ((n == 0 && !may_be_empty) || n >= cap || memchr(s, '\0', n))
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int wire_msg_event_parse(const char *buf, size_t len, struct wire_msg *m)
{
    struct msg_layout l;
    unsigned long long seq, ts;

    if (buf[len] != '\0' || msg_layout(buf, len, &l) < 0 ||
        l.tri + l.tri_len != buf + len ||
        copy_span(m->conv, sizeof m->conv, l.head[0], l.head_len[0], 0) < 0 ||
        parse_num(l.head[1], l.head_len[1], &seq) < 0 || seq == 0 ||
        copy_span(m->from, sizeof m->from, l.head[2], l.head_len[2], 0) < 0 ||
        parse_num(l.head[3], l.head_len[3], &ts) < 0 ||
        copy_span(m->cid, sizeof m->cid, l.cid, l.cid_len, 1) < 0 ||
        memchr(l.tri, '\0', l.tri_len))
        return -1;
    m->seq = seq;
    m->ts = (long long)ts;
    m->ct = (const uint8_t *)l.ct;
    m->ct_len = l.ct_len;
    m->tri = l.tri;
    return 0;
}
