/*
 * test_wire.c - the message path's JSON without jansson (wire.h): every
 * string a client can send comes out as jansson would write it, a writer
 * that runs out of room says so instead of writing past its buffer, the
 * triage JSON reads back, and the `msg` event lib.lua publishes parses
 * (ids with the separator in them too) or is refused when malformed.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "wire.h"

/* wb_str's output against jansson's for the same string. */
static int same_as_jansson(const char *s, size_t len)
{
    char out[512];
    struct wbuf b;
    json_t *j = json_stringn(s, len);
    char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    int ok;

    wb_init(&b, out, sizeof out);
    wb_str(&b, s, len);
    ok = !b.failed && want && strlen(want) == b.len &&
         memcmp(want, out, b.len) == 0;
    free(want);
    json_decref(j);
    return ok;
}

TEST(strings_escaped_as_jansson_does)
{
    static const char *const cases[] = {
        "plain",
        "quote \" and backslash \\",
        "new\nline\ttab\rcr\bbs\fff",
        "\x01\x1f control",
        "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x99\x82 utf-8 kept",
        "slash / and del \x7f",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(same_as_jansson(cases[i], strlen(cases[i])), "case %zu: %s", i,
              cases[i]);
}

TEST(writer_never_overflows)
{
    char out[8];
    struct wbuf b;

    memset(out, 'x', sizeof out);
    wb_init(&b, out, 6);
    wb_str(&b, "abc\"def", 7);
    CHECK(b.failed, "a string longer than the buffer fails");
    CHECK(out[6] == 'x' && out[7] == 'x', "nothing written past the buffer");
    wb_init(&b, out, 6);
    wb_lit(&b, "{}");
    wb_int(&b, 1234);
    CHECK(!b.failed && b.len == 6 && memcmp(out, "{}1234", 6) == 0,
          "exactly full is fine");
    wb_raw(&b, "x", 1);
    CHECK(b.failed, "one byte more fails");
}

TEST(triage_json_reads_back)
{
    struct triage_result tr;
    char out[1024];
    const char *text = "\xc3\xa9 hurt me";
    json_t *j;
    size_t n;

    memset(&tr, 0, sizeof tr);
    n = wire_triage_json(out, sizeof out, text, strlen(text), &tr);
    CHECK(n > 0 && strcmp(out, "{\"severity\":\"none\",\"categories\":[],"
                               "\"spans\":[]}") == 0,
          "empty: %s", out);
    CHECK(!wire_triage_has_categories(out), "no category");
    tr.severity = TRIAGE_HIGH;
    tr.ncategories = 2;
    strcpy(tr.categories[0], "self_harm");
    strcpy(tr.categories[1], "q\"uote");
    tr.nspans = 1;
    tr.spans[0].start = 3; /* bytes: after "é " (2 + 1) */
    tr.spans[0].end = 7;
    n = wire_triage_json(out, sizeof out, text, strlen(text), &tr);
    j = json_loads(out, 0, NULL);
    CHECK(n == strlen(out) && j, "valid JSON: %s", out);
    CHECK(wire_triage_has_categories(out), "has categories");
    CHECK(json_integer_value(json_array_get(
              json_array_get(json_object_get(j, "spans"), 0), 0)) == 2,
          "span start in UTF-16 units");
    CHECK(strcmp(json_string_value(
                     json_array_get(json_object_get(j, "categories"), 1)),
                 "q\"uote") == 0,
          "category escaped");
    json_decref(j);
    CHECK(wire_triage_json(out, 16, text, strlen(text), &tr) == 0,
          "too small a buffer: 0");
}

TEST(nothing_found_is_stored_empty_and_shown_as_none)
{
    struct triage_result tr;
    char out[1024];
    const char *text = "he is 9";

    memset(&tr, 0, sizeof tr);
    CHECK(wire_triage_stored(out, sizeof out, text, strlen(text), &tr) &&
              out[0] == '\0',
          "nothing found stores \"\": %s", out);
    CHECK(strcmp(wire_triage_shown("parent", out), WIRE_TRIAGE_NONE) == 0,
          "a parent's \"\" is shown as none");
    CHECK(wire_triage_shown("adviser", out) == NULL,
          "no triage for an adviser's message");
    CHECK(wire_triage_json(out, sizeof out, text, strlen(text), &tr) &&
              strcmp(out, WIRE_TRIAGE_NONE) == 0,
          "WIRE_TRIAGE_NONE is what wire_triage_json writes for none");
    tr.nspans = 1; /* a span alone is something found */
    tr.spans[0].start = 0;
    tr.spans[0].end = 2;
    CHECK(wire_triage_stored(out, sizeof out, text, strlen(text), &tr) &&
              strstr(out, "\"spans\":[[0,2]]"),
          "a span is stored: %s", out);
    CHECK(wire_triage_shown("parent", out) == out, "stored JSON shown as is");
    tr.nspans = 0;
    tr.severity = TRIAGE_LOW;
    CHECK(wire_triage_stored(out, sizeof out, text, strlen(text), &tr) &&
              strstr(out, "\"low\""),
          "a severity is stored: %s", out);
    CHECK(!wire_triage_stored(out, 16, text, strlen(text), &tr),
          "too small a buffer: 0");
}

/* m points into the copy, so it outlives the call. */
static int parse(const char *ev, struct wire_msg *m)
{
    static char buf[512];
    size_t len = strlen(ev);

    memcpy(buf, ev, len + 1);
    return wire_msg_event_parse(buf, len, m);
}

TEST(msg_event_parses)
{
    /* The sealed text is raw bytes: it may hold the separators. */
    static const char ev[] =
        "m|abc123|7|parent|1700000000123|5|x|y\nz|5|a|b|c|{\"x\":1}";
    struct wire_msg m;
    char conv[ID_STR_LEN];
    char copy[sizeof ev];

    CHECK(wire_is_msg_event(ev, strlen(ev)), "is a msg event");
    CHECK(!wire_is_msg_event("{\"t\":\"msg\"}", 11), "JSON is not");
    CHECK(wire_msg_event_conv(ev, strlen(ev), conv) == 0 &&
              strcmp(conv, "abc123") == 0,
          "conversation read first");
    memcpy(copy, ev, sizeof ev);
    CHECK(wire_msg_event_parse(copy, strlen(ev), &m) == 0, "parses");
    CHECK(m.seq == 7 && m.ts == 1700000000123LL &&
              strcmp(m.from, "parent") == 0 && strcmp(m.conv, "abc123") == 0,
          "fields");
    CHECK(m.ct_len == 5 && memcmp(m.ct, "x|y\nz", 5) == 0, "sealed text");
    CHECK(strcmp(m.cid, "a|b|c") == 0, "id with separators: %s", m.cid);
    CHECK(strcmp(m.tri, "{\"x\":1}") == 0, "triage is the rest");
    CHECK(parse("m|c|1|adviser|5|0||0||", &m) == 0 && m.ct_len == 0 &&
              m.cid[0] == '\0' && m.tri[0] == '\0',
          "no text, no id, no triage");
}

TEST(malformed_msg_events_refused)
{
    static const char *const bad[] = {
        "m|c|0|parent|5|3|foo|0||",    /* seq 0 */
        "m|c|x|parent|5|3|foo|0||",    /* seq not a number */
        "m|c|1|parent|5|3|foo|9|ab|",  /* id longer than the event */
        "m|c|1|parent|5|3|foo|2|abc|", /* no separator after the id */
        "m|c|1|parent|5|3|foo|999|",   /* id over the protocol's limit */
        "m|c|1|parent|5|9|foo|0||",    /* text longer than the event */
        "m|c|1|parent|5|2|foo|0||",    /* no separator after the text */
        "m|c|1|parent|5|x|foo|0||",    /* text length not a number */
        "m|c|1|parent|5|-1|foo|0||",   /* nor is this */
        "m|c|1|parent|5|99999999999999999999|foo|0||", /* too many digits */
        "m|c|1|parent|5",                              /* fields missing */
        "m||1|parent|5|3|foo|0||",                     /* no conversation */
        "m|c|1|parent|5|3|foo|0||{}\n{}",              /* two events */
    };
    struct wire_msg m;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(parse(bad[i], &m) < 0, "refused: %s", bad[i]);
}

/* One PUBLISH, several events: a newline inside a sealed text does not
 * split its event, a newline after it does. */
TEST(events_split_where_each_ends)
{
    static const char pub[] = "m|c|1|parent|5|3|a\nb|1|x|\n"
                              "{\"t\":\"queue\"}\n"
                              "m|c|2|parent|6|2|\n\n|0||{\"s\":1}\n"
                              "m|broken\n"
                              "{\"t\":\"state\"}";
    static const char *const want[] = {
        "m|c|1|parent|5|3|a\nb|1|x|", "{\"t\":\"queue\"}",
        "m|c|2|parent|6|2|\n\n|0||{\"s\":1}", "m|broken", "{\"t\":\"state\"}"};
    const char *p = pub, *end = pub + strlen(pub);
    size_t i = 0;

    while (p < end && i < sizeof want / sizeof want[0]) {
        size_t n = wire_event_len(p, (size_t)(end - p));
        CHECK(n == strlen(want[i]) && memcmp(p, want[i], n) == 0,
              "event %zu: %.*s", i, (int)n, p);
        p += n + 1;
        i++;
    }
    CHECK(i == sizeof want / sizeof want[0] && p >= end, "%zu events", i);
}

int main(void)
{
    RUN(strings_escaped_as_jansson_does);
    RUN(writer_never_overflows);
    RUN(triage_json_reads_back);
    RUN(nothing_found_is_stored_empty_and_shown_as_none);
    RUN(msg_event_parses);
    RUN(malformed_msg_events_refused);
    RUN(events_split_where_each_ends);
    return unit_summary();
}
