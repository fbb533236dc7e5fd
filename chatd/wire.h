/*
 * wire.h - the message path's bytes without a JSON library: a bounded
 * JSON writer for the frames sent for every message (msg, ack), the
 * triage result, and the reader of the `msg` event the append script
 * publishes.
 *
 * Owns: the `msg` event's format (lib.lua writes it):
 *   m|<conv>|<seq>|<from>|<ts>|<ct length>|<ct>|<id length>|<id>|<triage>
 * conv is alphanumeric, seq/ts decimal, from a word, ct the sealed text as
 * raw bytes (crypto.h; any byte, so length-prefixed), the client id
 * printable ASCII (length-prefixed too) and the triage JSON the rest of
 * the line.  Every other event stays JSON.  One PUBLISH may carry several
 * events, one a line (wire_event_len() finds where each ends).
 * Promises: the writer never writes past its buffer; once a write does not
 * fit, the buffer is marked failed and the caller falls back to jansson
 * or drops the frame.  jansson stays for every other frame: these are the
 * ones sent once per message, where parsing and building JSON trees was a
 * fifth of chatd's CPU (docs/performance.md).
 */
#ifndef CHATD_WIRE_H
#define CHATD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "proto.h"
#include "triage.h"

struct wbuf {
    char *p;
    size_t len, cap;
    int failed; /* a write did not fit: the contents are unusable */
};

void wb_init(struct wbuf *b, char *buf, size_t cap);
/* Bytes as they are (JSON punctuation, or JSON chatd wrote itself). */
void wb_raw(struct wbuf *b, const char *s, size_t len);
void wb_lit(struct wbuf *b, const char *s);
/* A JSON string: quoted and escaped as jansson does (UTF-8 kept). */
void wb_str(struct wbuf *b, const char *s, size_t len);
void wb_int(struct wbuf *b, long long v);

/* The triage result as advisers see it (spans in UTF-16 units):
 * {"severity":..,"categories":[..],"spans":[[a,b],..]}.  Returns its
 * length, or 0 if it does not fit in cap. */
size_t wire_triage_json(char *out, size_t cap, const char *text, size_t len,
                        const struct triage_result *tr);
/* Whether a triage JSON written above names any category. */
int wire_triage_has_categories(const char *tri);

/* What a parent's message stores as its triage: "" when triage found
 * nothing (severity none, no category, no span), the JSON above
 * otherwise.  Most messages find nothing, and the 46 bytes of that JSON
 * were a tenth of what Redis stores and writes to its AOF per message
 * (docs/performance.md).  Returns 0 if it does not fit in cap. */
int wire_triage_stored(char *out, size_t cap, const char *text, size_t len,
                       const struct triage_result *tr);
/* The triage JSON advisers are shown for an entry from `from` that
 * stored tri: tri, WIRE_TRIAGE_NONE for a parent's "", NULL for others. */
#define WIRE_TRIAGE_NONE                                                       \
    "{\"severity\":\"none\",\"categories\":[],\"spans\":[]}"
const char *wire_triage_shown(const char *from, const char *tri);

#define WIRE_FROM_MAX 16 /* bytes of an entry's `from`, with NUL */

struct wire_msg {
    char conv[ID_STR_LEN];
    uint64_t seq;
    char from[WIRE_FROM_MAX];
    long long ts;
    const uint8_t *ct; /* ct and tri point into the caller's copy */
    size_t ct_len;
    char cid[PROTO_MAX_ID_BYTES + 1];
    const char *tri;
};

/* Whether an event is a `msg` in the format above. */
int wire_is_msg_event(const char *ev, size_t len);
/* The conversation of a `msg` event, without reading the rest (a process
 * that holds no client of it drops the event here).  -1 if malformed. */
int wire_msg_event_conv(const char *ev, size_t len, char conv[ID_STR_LEN]);
/* Parse a `msg` event held in buf (len bytes, then a NUL). */
int wire_msg_event_parse(const char *buf, size_t len, struct wire_msg *m);
/* The length of the first event in a PUBLISH's payload of len bytes, not
 * counting the newline after it: a msg event's sealed text may hold
 * newlines, every other event's bytes none (JSON escapes them). */
size_t wire_event_len(const char *ev, size_t len);

#endif
