/*
 * proto.c - see proto.h.  JSON is jansson's; this file only checks what
 * each frame type requires.
 */
#include "proto.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const wrapup_outcomes[] = {"advice",   "signposted",   "escalated",
                                       "referred", "disconnected", NULL};

const char *const decisions[] = {
    "no_further_action", "signposted",         "referred_childrens_social_care",
    "referred_police",   "emergency_services", NULL};

/* A topic is one of these ids, never free text: a parent's own words
 * would otherwise sit unsealed in Redis (found by the privacy sweep). */
const char *const topics[] = {"behaviour",
                              "school",
                              "send",
                              "bullying",
                              "separation",
                              "mental_health",
                              "finance_housing",
                              "substance_misuse",
                              "young_carer",
                              "bereavement",
                              "other",
                              NULL};

struct type_entry {
    const char *name;
    enum frame_type type;
    unsigned endpoints; /* bit 1<<EP_PARENT, 1<<EP_STAFF */
};

#define P (1u << EP_PARENT)
#define S (1u << EP_STAFF)
static const struct type_entry types[] = {
    {"hello", F_HELLO, P},
    {"start", F_START, P},
    {"msg", F_MSG, P | S},
    {"typing", F_TYPING, P | S},
    {"end", F_END, P | S},
    {"feedback", F_FEEDBACK, P},
    {"availability", F_AVAILABILITY, S},
    {"wrapup", F_WRAPUP, S},
    {"signpost", F_SIGNPOST, S},
    {"escalate", F_ESCALATE, S},
    {"transfer", F_TRANSFER, S},
    {"observe", F_OBSERVE, S},
    {"whisper", F_WHISPER, S},
    {"decide", F_DECIDE, S},
    {"cases", F_CASES, S},
    {"case", F_CASE, S},
    {"hold", F_HOLD, S},
};
#undef P
#undef S

void proto_error_set(struct proto_error *err, const char *code, const char *fmt,
                     ...)
{
    va_list ap;

    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* Messages quote client bytes (jansson's "near '...'", a type name) and
     * may be cut inside a UTF-8 sequence, which json_pack would refuse:
     * keep them printable ASCII so every bad frame gets its error. */
    for (char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
            *p = '?';
}

size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

size_t utf16_offset(const char *s, size_t len, size_t byte_off)
{
    size_t units = 0;

    if (byte_off > len)
        byte_off = len;
    for (size_t i = 0; i < byte_off; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80)
            continue;
        units += c >= 0xF0 ? 2 : 1; /* 4-byte sequences are surrogate pairs */
    }
    return units;
}

/* Field helpers: each returns 0, or -1 with err set. */
static int get_str(json_t *o, const char *key, int required, size_t max_chars,
                   const char **out, size_t *outlen, struct proto_error *err)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            proto_error_set(err, "bad_request", "'%s' is required", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        proto_error_set(err, "bad_request", "'%s' must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    if (outlen)
        *outlen = json_string_length(v);
    if (strlen(*out) != json_string_length(v)) {
        proto_error_set(err, "bad_request", "'%s' contains a NUL", key);
        return -1;
    }
    if (max_chars && utf8_chars(*out, json_string_length(v)) > max_chars) {
        /* Over-long free text is too_long; any other field is malformed. */
        int is_text = strcmp(key, "text") == 0 || strcmp(key, "note") == 0;
        proto_error_set(err, is_text ? "too_long" : "bad_request",
                        "'%s' is longer than %zu characters", key, max_chars);
        return -1;
    }
    return 0;
}

static int get_text(json_t *o, int required, struct frame *f,
                    struct proto_error *err)
{
    if (get_str(o, "text", required, PROTO_MAX_TEXT_CHARS, &f->text,
                &f->text_len, err) < 0)
        return -1;
    if (f->text && required && f->text_len == 0) {
        proto_error_set(err, "bad_request", "'text' is empty");
        return -1;
    }
    return 0;
}

static int get_id(json_t *o, struct frame *f, struct proto_error *err)
{
    size_t len;

    if (get_str(o, "id", 1, 0, &f->id, &len, err) < 0)
        return -1;
    if (len == 0 || len > PROTO_MAX_ID_BYTES) {
        proto_error_set(err, "bad_request", "'id' must be 1-%d characters",
                        PROTO_MAX_ID_BYTES);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (f->id[i] < 0x21 || f->id[i] > 0x7E) {
            proto_error_set(err, "bad_request", "'id' must be printable ASCII");
            return -1;
        }
    return 0;
}

static int get_conversation(json_t *o, struct frame *f, struct proto_error *err)
{
    size_t len;

    if (get_str(o, "conversation", 1, 0, &f->conversation, &len, err) < 0)
        return -1;
    if (len == 0 || len > 64) {
        proto_error_set(err, "bad_request", "'conversation' is not valid");
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)f->conversation[i])) {
            proto_error_set(err, "bad_request", "'conversation' is not valid");
            return -1;
        }
    return 0;
}

static int get_int(json_t *o, const char *key, int required, long long lo,
                   long long hi, long long *out, struct proto_error *err)
{
    json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v)) {
        if (required) {
            proto_error_set(err, "bad_request", "'%s' is required", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi) {
        proto_error_set(err, "bad_request",
                        "'%s' must be a whole number from %lld to %lld", key,
                        lo, hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* A UK postcode district: one or two letters, a digit, then an optional
 * letter or digit (PR1, M1, SW1A, EC4M). */
static int get_area(json_t *o, struct frame *f, struct proto_error *err)
{
    const char *a;
    size_t len, i = 0;

    if (get_str(o, "area", 0, 0, &a, &len, err) < 0)
        return -1;
    if (!a)
        return 0;
    if (len == 0 || len >= sizeof f->area_buf)
        goto bad;
    for (size_t k = 0; k < len; k++)
        f->area_buf[k] = (char)toupper((unsigned char)a[k]);
    f->area_buf[len] = '\0';
    while (i < len && i < 2 && isalpha((unsigned char)f->area_buf[i]))
        i++;
    if (i == 0 || i >= len || !isdigit((unsigned char)f->area_buf[i]))
        goto bad;
    i++;
    if (i < len && isalnum((unsigned char)f->area_buf[i]))
        i++;
    if (i != len)
        goto bad;
    f->area = f->area_buf;
    return 0;
bad:
    proto_error_set(err, "bad_request",
                    "'area' must be a postcode district such as PR1");
    return -1;
}

static int check_topic(struct frame *f, struct proto_error *err)
{
    if (!f->topic || !*f->topic) {
        f->topic = NULL;
        return 0;
    }
    for (int i = 0; topics[i]; i++)
        if (strcmp(f->topic, topics[i]) == 0)
            return 0;
    proto_error_set(err, "bad_request", "unknown 'topic'");
    return -1;
}

static int parse_fields(enum endpoint ep, json_t *o, struct frame *f,
                        struct proto_error *err)
{
    long long v = 0;

    switch (f->type) {
    case F_HELLO:
        if (get_str(o, "resume", 0, 0, &f->resume, NULL, err) < 0)
            return -1;
        if (f->resume && strlen(f->resume) > 128) {
            proto_error_set(err, "bad_request", "'resume' is not valid");
            return -1;
        }
        return get_int(o, "last_seq", 0, 0, (1LL << 53), &f->last_seq, err);
    case F_START:
        if (get_text(o, 0, f, err) < 0 || get_area(o, f, err) < 0 ||
            get_str(o, "topic", 0, PROTO_MAX_TOPIC_CHARS, &f->topic, NULL,
                    err) < 0 ||
            check_topic(f, err) < 0 ||
            get_str(o, "return_code", 0, 32, &f->return_code, NULL, err) < 0)
            return -1;
        return 0;
    case F_MSG:
        if (ep == EP_STAFF && get_conversation(o, f, err) < 0)
            return -1;
        if (get_id(o, f, err) < 0)
            return -1;
        return get_text(o, 1, f, err);
    case F_TYPING:
        return ep == EP_STAFF ? get_conversation(o, f, err) : 0;
    case F_END:
        if (ep == EP_STAFF)
            return get_conversation(o, f, err);
        if (get_str(o, "reason", 0, 32, &f->reason, NULL, err) < 0)
            return -1;
        if (f->reason && strcmp(f->reason, "exit") != 0)
            f->reason = NULL; /* only "exit" means anything */
        return 0;
    case F_FEEDBACK:
        if (get_int(o, "rating", 1, 1, 5, &v, err) < 0)
            return -1;
        f->rating = (int)v;
        return get_text(o, 0, f, err);
    case F_AVAILABILITY: {
        json_t *a = json_object_get(o, "available");
        if (!json_is_boolean(a)) {
            proto_error_set(err, "bad_request",
                            "'available' must be true or false");
            return -1;
        }
        f->available = json_is_true(a);
        if (get_int(o, "capacity", 0, 1, PROTO_MAX_CAPACITY, &v, err) < 0)
            return -1;
        f->capacity = (int)v;
        return 0;
    }
    case F_WRAPUP: {
        size_t n;
        int ok = 0;
        if (get_conversation(o, f, err) < 0 ||
            get_str(o, "outcome", 1, 0, &f->outcome, NULL, err) < 0 ||
            get_str(o, "note", 0, PROTO_MAX_NOTE_CHARS, &f->note, NULL, err) <
                0 ||
            get_str(o, "no_decision_reason", 0, PROTO_MAX_NOTE_CHARS,
                    &f->reason, NULL, err) < 0)
            return -1;
        for (int i = 0; wrapup_outcomes[i]; i++)
            ok |= strcmp(f->outcome, wrapup_outcomes[i]) == 0;
        if (!ok) {
            proto_error_set(err, "bad_request", "unknown 'outcome'");
            return -1;
        }
        f->categories = json_object_get(o, "categories");
        if (!json_is_array(f->categories) ||
            (n = json_array_size(f->categories)) > PROTO_MAX_CATEGORIES) {
            proto_error_set(err, "bad_request",
                            "'categories' must be an array of at most %d",
                            PROTO_MAX_CATEGORIES);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(f->categories, i);
            if (!json_is_string(c) || json_string_length(c) > 32 ||
                json_string_length(c) == 0) {
                proto_error_set(err, "bad_request",
                                "'categories' must hold category ids");
                return -1;
            }
        }
        return 0;
    }
    case F_ESCALATE: {
        const char *sev;
        if (get_conversation(o, f, err) < 0 ||
            get_str(o, "severity", 1, 0, &sev, NULL, err) < 0 ||
            get_str(o, "note", 0, PROTO_MAX_NOTE_CHARS, &f->note, NULL, err) <
                0)
            return -1;
        f->severity = strcmp(sev, "medium") == 0      ? 2
                      : strcmp(sev, "high") == 0      ? 3
                      : strcmp(sev, "emergency") == 0 ? 4
                                                      : 0;
        if (!f->severity) {
            proto_error_set(err, "bad_request",
                            "'severity' must be medium, high or emergency");
            return -1;
        }
        return 0;
    }
    case F_TRANSFER:
        if (get_conversation(o, f, err) < 0)
            return -1;
        return get_str(o, "note", 0, PROTO_MAX_NOTE_CHARS, &f->note, NULL, err);
    case F_OBSERVE:
    case F_HOLD: {
        const char *key = f->type == F_OBSERVE ? "stop" : "hold";
        json_t *b = json_object_get(o, key);
        if (get_conversation(o, f, err) < 0)
            return -1;
        if (b && !json_is_boolean(b)) {
            proto_error_set(err, "bad_request", "'%s' must be true or false",
                            key);
            return -1;
        }
        /* hold defaults to on; observe's stop to off */
        f->flag = b ? json_is_true(b) : f->type == F_HOLD;
        return 0;
    }
    case F_WHISPER:
        if (get_conversation(o, f, err) < 0)
            return -1;
        return get_text(o, 1, f, err);
    case F_DECIDE: {
        int ok = 0;
        if (get_conversation(o, f, err) < 0 ||
            get_str(o, "decision", 1, 0, &f->decision, NULL, err) < 0 ||
            get_str(o, "note", 0, PROTO_MAX_NOTE_CHARS, &f->note, NULL, err) <
                0 ||
            get_str(o, "reference", 0, PROTO_MAX_REF_CHARS, &f->reference, NULL,
                    err) < 0)
            return -1;
        for (int i = 0; decisions[i]; i++)
            ok |= strcmp(f->decision, decisions[i]) == 0;
        if (!ok) {
            proto_error_set(err, "bad_request", "unknown 'decision'");
            return -1;
        }
        return 0;
    }
    case F_CASES:
        return 0;
    case F_CASE:
        return get_conversation(o, f, err);
    case F_SIGNPOST:
        if (get_conversation(o, f, err) < 0 ||
            get_str(o, "service", 1, 64, &f->service, NULL, err) < 0)
            return -1;
        return 0;
    default:
        proto_error_set(err, "unknown_type", "not a frame of this endpoint");
        return -1;
    }
}

int proto_parse(enum endpoint ep, const char *buf, size_t len, int binary,
                struct frame *f, struct proto_error *err)
{
    json_error_t jerr;
    json_t *root, *t, *id;
    const char *tname;

    memset(f, 0, sizeof *f);
    memset(err, 0, sizeof *err);
    if (binary) {
        proto_error_set(err, "bad_request", "frames must be text, not binary");
        return -1;
    }
    if (len > PROTO_MAX_FRAME_BYTES) {
        proto_error_set(err, "too_long", "frame is longer than %d bytes",
                        PROTO_MAX_FRAME_BYTES);
        return -1;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        proto_error_set(err, "bad_json", "%s", jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        proto_error_set(err, "bad_json", "a frame must be a JSON object");
        json_decref(root);
        return -1;
    }
    f->root = root;
    /* Echo the client's id and type in any error, so it can match it. */
    id = json_object_get(root, "id");
    if (json_is_string(id) && json_string_length(id) <= PROTO_MAX_ID_BYTES)
        snprintf(err->id, sizeof err->id, "%s", json_string_value(id));
    t = json_object_get(root, "type");
    if (!json_is_string(t)) {
        proto_error_set(err, "unknown_type", "'type' must be a string");
        goto fail;
    }
    tname = json_string_value(t);
    if (strlen(tname) < sizeof err->ref)
        snprintf(err->ref, sizeof err->ref, "%s", tname);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, tname) != 0 ||
            !(types[i].endpoints & (1u << ep)))
            continue;
        f->type = types[i].type;
        if (parse_fields(ep, root, f, err) < 0)
            goto fail;
        return 0;
    }
    proto_error_set(err, "unknown_type", "unknown type '%.40s'", tname);
fail:
    frame_free(f);
    return -1;
}

void frame_free(struct frame *f)
{
    if (f->root)
        json_decref(f->root);
    f->root = NULL;
}

json_t *proto_error_json(const struct proto_error *err)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", err->code,
                          "message", err->message);
    if (err->id[0])
        json_object_set_new(o, "id", json_string(err->id));
    if (err->ref[0])
        json_object_set_new(o, "ref", json_string(err->ref));
    return o;
}
