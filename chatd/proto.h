/*
 * proto.h - wire protocol v1 (docs/protocol.md): bytes to a validated
 * frame, and the error a bad frame earns.
 *
 * Owns: the protocol's limits and the table of frame types per endpoint.
 * Promises: proto_parse() is pure (no I/O, no globals); it either returns
 * 0 with every field the type needs present and well-typed, or -1 with
 * the error code and message the client must see.  Called by session.c
 * for every frame received, and by the unit tests and fuzzer.
 */
#ifndef CHATD_PROTO_H
#define CHATD_PROTO_H

#include <jansson.h>
#include <stddef.h>

#define PROTO_MAX_FRAME_BYTES 16384 /* one client frame */
#define PROTO_MAX_TEXT_CHARS  4000  /* Unicode code points in a message */
#define PROTO_MAX_ID_BYTES    64    /* client message id */
#define PROTO_MAX_TOPIC_CHARS 64
#define PROTO_MAX_NOTE_CHARS  2000
#define PROTO_MAX_CATEGORIES  16
#define PROTO_MAX_CAPACITY    8
#define PROTO_MAX_REF_CHARS   64 /* a lead's reference number */

enum endpoint { EP_PARENT, EP_STAFF };

enum frame_type {
    F_HELLO,
    F_START,
    F_MSG,
    F_TYPING,
    F_END,
    F_FEEDBACK,
    F_AVAILABILITY,
    F_WRAPUP,
    F_SIGNPOST,
    F_ESCALATE,
    F_TRANSFER,
    F_OBSERVE,
    F_WHISPER,
    F_DECIDE,
    F_CASES,
    F_CASE,
    F_HOLD,
};

struct frame {
    enum frame_type type;
    /* Strings point into root and live until frame_free(). */
    const char *id;
    const char *text;
    size_t text_len;
    const char *conversation;
    const char *resume;
    long long last_seq;
    const char *topic;
    const char *area; /* upper-cased copy in area_buf */
    char area_buf[8];
    const char *return_code;
    const char *reason;
    const char *outcome;
    const char *note;
    json_t *categories; /* borrowed from root: array of strings */
    const char *decision;
    const char *reference;
    const char *service;
    int severity; /* escalate: 2-4 (medium, high, emergency) */
    int flag;     /* observe: stop; hold: on */
    int rating;
    int available;
    int capacity; /* 0 when absent */
    json_t *root;
};

struct proto_error {
    const char *code; /* bad_json, unknown_type, bad_request, too_long, ... */
    char message[160];
    char id[PROTO_MAX_ID_BYTES + 1]; /* client id of the bad frame, or "" */
    char ref[24];                    /* its type, or "" */
};

int proto_parse(enum endpoint ep, const char *buf, size_t len, int binary,
                struct frame *f, struct proto_error *err);
void frame_free(struct frame *f);

/* Serialise an error frame into a new JSON object. */
json_t *proto_error_json(const struct proto_error *err);
void proto_error_set(struct proto_error *err, const char *code, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

/* Count of Unicode code points in valid UTF-8. */
size_t utf8_chars(const char *s, size_t len);
/* UTF-16 code units in the first byte_off bytes of valid UTF-8. */
size_t utf16_offset(const char *s, size_t len, size_t byte_off);

extern const char *const wrapup_outcomes[];
extern const char *const decisions[];
extern const char *const topics[];

#endif
