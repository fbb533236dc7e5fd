/*
 * wire.c - see wire.h.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_FIELDS 6 /* conv, seq, from, ts, ct, id length */

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

static int copy_field(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

static int parse_num(const char *s, unsigned long long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
}

int wire_msg_event_parse(char *buf, size_t len, struct wire_msg *m)
{
    char *f[EVENT_FIELDS], *p = buf + 2, *end = buf + len;
    unsigned long long seq, ts, idlen;

    if (!wire_is_msg_event(buf, len) || buf[len] != '\0')
        return -1;
    for (int i = 0; i < EVENT_FIELDS; i++) {
        char *bar = memchr(p, '|', (size_t)(end - p));
        if (!bar)
            return -1;
        *bar = '\0';
        f[i] = p;
        p = bar + 1;
    }
    if (copy_field(m->conv, sizeof m->conv, f[0]) < 0 ||
        parse_num(f[1], &seq) < 0 || seq == 0 ||
        copy_field(m->from, sizeof m->from, f[2]) < 0 ||
        parse_num(f[3], &ts) < 0 || parse_num(f[5], &idlen) < 0 ||
        idlen > PROTO_MAX_ID_BYTES || (size_t)(end - p) < idlen + 1 ||
        p[idlen] != '|')
        return -1;
    m->seq = seq;
    m->ts = (long long)ts;
    m->ct = f[4];
    m->ct_len = strlen(f[4]);
    memcpy(m->cid, p, idlen);
    m->cid[idlen] = '\0';
    m->tri = p + idlen + 1;
    return 0;
}
