/*
 * session.c - see session.h.  A frame's path: http.c hands the bytes to
 * session_frame(); proto_parse() validates; the handler below triages and
 * seals the text, then one Lua script stores it and publishes it; the
 * reply becomes the sender's ack (conv_ack) and the published event
 * reaches the other side through conv.c.
 */
#include "session.h"
#include "auth.h"
#include "conv.h"
#include "queue.h"
#include "log.h"
#include "rds.h"
#include "services.h"
#include "triage.h"
#include "wire.h"

#include <libwebsockets.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESUME_TTL_S  86400   /* a parent's session outlives a closed tab */
#define TYPING_MIN_MS 1000    /* relay at most one typing event a second */
#define OPENING_CID   "start" /* client id of the opening message */

#define CLOSED_SERVICES_MAX 8 /* services open now, sent with `closed` */
/* The triage JSON at its longest: every category escaped, every span. */
#define TRIAGE_JSON_MAX                                                        \
    (64 + TRIAGE_MAX_CATEGORIES * (TRIAGE_CATEGORY_LEN * 6 + 3) +              \
     TRIAGE_MAX_SPANS * 48)

static const struct config *CFG;
static const struct services *SERVICES;
static const struct hours *HOURS;
static const struct triage_rules *RULES;
static struct triage_ctx *TCTX;

void session_init(const struct config *cfg, const struct triage_rules *rules)
{
    CFG = cfg;
    RULES = rules;
    if (!TCTX)
        TCTX = triage_ctx_new();
}

void session_set_directory(const struct services *s, const struct hours *h)
{
    SERVICES = s;
    HOURS = h;
}

const struct services *session_services(void)
{
    return SERVICES;
}

const struct hours *session_hours(void)
{
    return HOURS;
}

static int line_open(time_t now)
{
    return !HOURS || hours_open_at(HOURS, now);
}

json_t *session_closed_json(time_t now)
{
    struct service_hit hits[SERVICES_HITS_MAX];
    char iso[HOURS_ISO_LEN];
    json_t *arr;
    time_t next;
    size_t n;

    if (line_open(now))
        return NULL;
    next = hours_next_open(HOURS, now);
    n = SERVICES ? services_search(SERVICES, NULL, NULL, NULL, now, hits,
                                   SERVICES_HITS_MAX)
                 : 0;
    arr = json_array();
    /* Where to go now: the services open at this hour (24/7 lines). */
    for (size_t i = 0; i < n && json_array_size(arr) < CLOSED_SERVICES_MAX; i++)
        if (hits[i].open_now == SERVICE_OPEN)
            json_array_append_new(arr, service_card_json(hits[i].service));
    return json_pack("{s:s, s:o, s:o}", "type", "closed", "next_open",
                     next == (time_t)-1
                         ? json_null()
                         : json_string(hours_format_iso(next, iso, sizeof iso)),
                     "services", arr);
}

uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- helpers ----------------------------------------------------------- */

/* An error about a frame handled earlier (after a Redis reply). */
static void error_for(struct client *c, const char *code, const char *ref,
                      const char *id, const char *msg)
{
    struct frame_ctx saved = cur_frame;

    cur_frame = (struct frame_ctx){c, ref, id};
    client_error(c, code, "%s", msg);
    cur_frame = saved;
}

long long retention_ms(void)
{
    return CFG->retention_s > 0 ? (long long)CFG->retention_s * 1000
                                : (long long)CFG->retention_days * 86400000LL;
}

static void fmt_now(char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)now_ms());
}

static int unavailable(struct client *c, const char *id)
{
    error_for(c, "closed", cur_frame.c == c ? cur_frame.ref : NULL, id,
              "unavailable: the service is reconnecting");
    return -1;
}

static int reply_error(redisReply *r, const char **code)
{
    if (!r) {
        *code = "closed";
        return 1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *code = strstr(r->str, "not_allowed") ? "not_allowed" : "closed";
        if (**code == 'c')
            log_err("redis: %s", r->str); /* a script bug, not the client's */
        return 1;
    }
    return 0;
}

static void run_triage(const char *text, size_t len, struct triage_result *tr)
{
    memset(tr, 0, sizeof *tr);
    if (!RULES || !TCTX || triage_run(RULES, TCTX, text, len, tr) < 0) {
        /* Fail safe: a human looks at what could not be triaged. */
        if (tr->severity < TRIAGE_MEDIUM)
            tr->severity = TRIAGE_MEDIUM;
        if (tr->ncategories == 0) {
            snprintf(tr->categories[0], TRIAGE_CATEGORY_LEN, "triage_error");
            tr->ncategories = 1;
        }
    }
}

/* --- appending a message ----------------------------------------------- */

struct append_req {
    struct client *c;
    char conv[ID_STR_LEN];
    char from[8];
    char cid[PROTO_MAX_ID_BYTES + 1];
    size_t len;
    char text[]; /* NUL-terminated copy */
};

static void append_done(redisReply *r, void *priv)
{
    struct append_req *rq = priv;
    struct attach *a;
    const char *code;

    if (!client_release(rq->c) || !(a = conv_find_attach(rq->c, rq->conv)))
        goto out;
    if (reply_error(r, &code)) {
        error_for(rq->c, code, "msg", rq->cid,
                  strcmp(code, "not_allowed") == 0
                      ? "this conversation is not open to you"
                      : "unavailable: not stored, send again");
        goto out;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1)
        conv_ack(a, (uint64_t)r->element[0]->integer, rq->cid);
out:
    free(rq);
}

/* Argument lengths for rds_script(): every argument a string but the one
 * at raw, a sealed text of raw_len bytes (no NUL to measure it by). */
static void args_with_sealed(const char **argv, size_t *lens, int n, int raw,
                             size_t raw_len)
{
    for (int i = 0; i < n; i++)
        lens[i] = i == raw ? raw_len : strlen(argv[i]);
}

static void append_store(struct append_req *rq, struct lconv *lc)
{
    struct triage_result tr;
    char now[24], sev[4], tri[TRIAGE_JSON_MAX];
    /* A frame's text is at most the frame: no allocation per message. */
    uint8_t ct[PROTO_MAX_FRAME_BYTES + SEAL_OVERHEAD];
    const char *argv[8];
    size_t lens[8], ctlen;

    if (strcmp(rq->from, "parent") == 0) {
        run_triage(rq->text, rq->len, &tr);
        if (!wire_triage_stored(tri, sizeof tri, rq->text, rq->len, &tr))
            goto fail; /* cannot happen: TRIAGE_JSON_MAX holds the most */
    } else {
        tr.severity = TRIAGE_NONE;
        tri[0] = '\0';
    }
    if (!(ctlen = conv_seal_entry(lc->key, rq->conv, rq->from, rq->cid,
                                  rq->text, rq->len, ct, sizeof ct)))
        goto fail;
    fmt_now(now, sizeof now);
    snprintf(sev, sizeof sev, "%d", (int)tr.severity);
    argv[0] = now;
    argv[1] = rq->conv;
    argv[2] = rq->from;
    argv[3] = rq->cid;
    argv[4] = (const char *)ct;
    argv[5] = tri;
    argv[6] = sev;
    argv[7] = rq->c->ep == EP_STAFF ? rq->c->name : "";
    args_with_sealed(argv, lens, 8, 4, ctlen);
    if (rds_script_batched("append", append_done, rq, 8, argv, lens) < 0)
        goto fail;
    return;
fail:
    append_done(NULL, rq);
}

static void append_key_done(redisReply *r, void *priv)
{
    struct append_req *rq = priv;
    struct attach *a;

    if (!rq->c->wsi || !(a = conv_find_attach(rq->c, rq->conv)) || !r ||
        r->type != REDIS_REPLY_STRING ||
        convkey_unwrap(rq->conv, r->str, a->lc->key) < 0) {
        append_done(NULL, rq);
        return;
    }
    a->lc->have_key = 1;
    append_store(rq, a->lc);
}

static void append_message(struct client *c, struct attach *a, const char *from,
                           const struct frame *f)
{
    struct append_req *rq = malloc(sizeof *rq + f->text_len + 1);

    if (!rq)
        return;
    rq->c = c;
    snprintf(rq->conv, sizeof rq->conv, "%s", a->lc->id);
    snprintf(rq->from, sizeof rq->from, "%s", from);
    snprintf(rq->cid, sizeof rq->cid, "%s", f->id);
    rq->len = f->text_len;
    memcpy(rq->text, f->text, f->text_len);
    rq->text[f->text_len] = '\0';
    client_hold(c);
    if (a->lc->have_key) {
        append_store(rq, a->lc);
    } else if (rds_cmdf(append_key_done, rq, "HGET conv:%s key", rq->conv) <
               0) {
        append_done(NULL, rq);
    }
}

/* --- parents ------------------------------------------------------------- */

struct hello_req {
    struct client *c;
    long long last_seq;
};

static void send_welcome(struct client *c, const char *state, const char *conv)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:b}", "type", "welcome", "resume", c->token,
                  "state", state, "open", line_open(time(NULL)));
    if (conv)
        json_object_set_new(o, "conversation", json_string(conv));
    client_send(c, o);
}

static void hello_done(redisReply *r, void *priv)
{
    struct hello_req *hq = priv;
    struct client *c = hq->c;
    struct attach *a;

    if (!client_release(c))
        goto out;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        /* Unknown or expired: a fresh session. */
        token_new(c->token);
        send_welcome(c, "new", NULL);
        goto out;
    }
    send_welcome(c, r->element[1]->str, r->element[0]->str);
    if (!(a = conv_attach(c, r->element[0]->str)))
        goto out;
    a->delivered = (uint64_t)hq->last_seq;
    a->replay_own = 1;
    conv_sync(a);
out:
    free(hq);
}

static void parent_hello(struct client *c, const struct frame *f)
{
    char digest[DIGEST_STR_LEN], ttl[16], now[24];
    struct hello_req *hq;
    const char *argv[3] = {digest, ttl, now};

    if (c->helloed) {
        client_error(c, "not_allowed", "hello was already sent");
        return;
    }
    c->helloed = 1;
    if (!f->resume || strlen(f->resume) != TOKEN_STR_LEN - 1) {
        token_new(c->token);
        send_welcome(c, "new", NULL);
        return;
    }
    memcpy(c->token, f->resume, TOKEN_STR_LEN);
    token_digest(c->token, digest);
    snprintf(ttl, sizeof ttl, "%d", RESUME_TTL_S);
    fmt_now(now, sizeof now);
    if (!(hq = calloc(1, sizeof *hq)))
        return;
    hq->c = c;
    hq->last_seq = f->last_seq;
    client_hold(c);
    if (rds_script("resume", hello_done, hq, 3, argv, NULL) < 0) {
        client_release(c);
        free(hq);
        c->helloed = 0;
        unavailable(c, NULL);
    }
}

struct start_req {
    struct client *c;
    char conv[ID_STR_LEN];
};

static void start_done(redisReply *r, void *priv)
{
    struct start_req *sq = priv;
    struct attach *a;
    const char *code;

    if (!client_release(sq->c) || !(a = conv_find_attach(sq->c, sq->conv)))
        goto out;
    if (reply_error(r, &code)) {
        conv_detach(a);
        error_for(sq->c, code, "start", NULL,
                  "could not join the queue; try again");
        goto out;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0 &&
        r->integer <= INT_MAX && a->told == TOLD_NONE)
        queue_tell(a, (int)r->integer);
    conv_sync(a);
out:
    free(sq);
}

static void parent_start(struct client *c, const struct frame *f)
{
    struct triage_result tr;
    uint8_t *key = NULL; /* a keyslot: guarded memory, not the stack */
    char wrapped[WRAPPED_KEY_STR_LEN], digest[DIGEST_STR_LEN];
    char now[24], sev[4], ttl[16], wait[24];
    char ret[DIGEST_STR_LEN] = "";
    char tri[TRIAGE_JSON_MAX];
    uint8_t ct[PROTO_MAX_FRAME_BYTES + SEAL_OVERHEAD];
    size_t ctlen = 0; /* 0: no opening message */
    struct start_req *sq = NULL;
    struct attach *a;
    const char *argv[13];
    size_t lens[13];

    if (c->atts && (c->atts->told != TOLD_ENDED || c->atts->end_due)) {
        client_error(c, "not_allowed", "a chat is already under way");
        return;
    }
    {
        json_t *closed = session_closed_json(time(NULL));
        if (closed) {
            client_send(c, closed); /* nothing is stored */
            return;
        }
    }
    if (!(key = keyslot_alloc()) || !(sq = calloc(1, sizeof *sq)))
        goto fail;
    memset(&tr, 0, sizeof tr);
    if (f->text && f->text_len)
        run_triage(f->text, f->text_len, &tr);
    id_new(sq->conv);
    if (convkey_new(sq->conv, key, wrapped) < 0)
        goto fail;
    if (f->text && f->text_len &&
        (!(ctlen = conv_seal_entry(key, sq->conv, "parent", OPENING_CID,
                                   f->text, f->text_len, ct, sizeof ct)) ||
         !wire_triage_stored(tri, sizeof tri, f->text, f->text_len, &tr)))
        goto fail;
    while (c->atts)
        conv_detach(c->atts);
    if (!(a = conv_attach(c, sq->conv)))
        goto fail;
    conv_set_key(a->lc, key);
    token_digest(c->token, digest);
    fmt_now(now, sizeof now);
    snprintf(sev, sizeof sev, "%d", (int)tr.severity);
    snprintf(ttl, sizeof ttl, "%d", RESUME_TTL_S);
    argv[0] = now;
    argv[1] = sq->conv;
    argv[2] = sev;
    argv[3] = f->topic ? f->topic : "";
    argv[4] = f->area ? f->area : "";
    argv[5] = wrapped;
    argv[6] = digest;
    argv[7] = ttl;
    argv[8] = ctlen ? OPENING_CID : "";
    argv[9] = ctlen ? (const char *)ct : "";
    argv[10] = ctlen ? tri : "";
    /* An unknown or mistyped code is not an error: they start afresh. */
    if (f->return_code && return_code_digest(f->return_code, ret) < 0)
        ret[0] = '\0';
    snprintf(wait, sizeof wait, "%lld",
             (long long)CFG->continuity_wait_s * 1000);
    argv[11] = ret;
    argv[12] = wait;
    args_with_sealed(argv, lens, 13, 9, ctlen);
    sq->c = c;
    client_hold(c);
    if (rds_script("start", start_done, sq, 13, argv, lens) < 0) {
        start_done(NULL, sq);
        sq = NULL;
    }
    keyslot_free(key);
    return;
fail:
    keyslot_free(key);
    free(sq);
    client_error(c, "closed", "unavailable: could not start; try again");
}

static void simple_done(redisReply *r, void *priv)
{
    struct client *c = priv;
    const char *code;

    if (client_release(c) && reply_error(r, &code))
        error_for(c, code, "end", NULL,
                  strcmp(code, "not_allowed") == 0 ? "not allowed in this state"
                                                   : "unavailable: try again");
}

/* Ending a chat that had an adviser gives the parent a return code: the
 * plain code sealed in the conversation for the parent's `ended`, only its
 * keyed digest as the lookup key. */
static void run_end(struct client *c, struct attach *a, const char *by,
                    const char *reason)
{
    char now[24], code[RETURN_CODE_LEN], digest[DIGEST_STR_LEN] = "";
    char ttl[24], ad[ID_STR_LEN + 16], *ct = NULL;
    const char *argv[8];

    fmt_now(now, sizeof now);
    snprintf(ttl, sizeof ttl, "%lld", (long long)retention_ms() / 1000);
    if (a->lc->have_key) {
        size_t n = seal_len(sizeof code);
        return_code_new(code);
        snprintf(ad, sizeof ad, "%s|return|", a->lc->id);
        if (return_code_digest(code, digest) < 0 || !(ct = malloc(n)) ||
            seal(a->lc->key, ad, (const uint8_t *)code, strlen(code), ct, n) <
                0)
            digest[0] = '\0';
    }
    argv[0] = now;
    argv[1] = a->lc->id;
    argv[2] = by;
    argv[3] = reason ? reason : "";
    argv[4] = c->ep == EP_STAFF ? c->name : "";
    argv[5] = digest;
    argv[6] = digest[0] && ct ? ct : "";
    argv[7] = ttl;
    client_hold(c);
    if (rds_script("end", simple_done, c, 8, argv, NULL) < 0)
        simple_done(NULL, c);
    free(ct);
}

static void publish_typing(struct client *c, struct attach *a)
{
    char buf[128];
    uint64_t now = now_ms();
    int n;

    if (a->told != TOLD_CHATTING || now - c->last_typing_ms < TYPING_MIN_MS)
        return;
    c->last_typing_ms = now;
    n = snprintf(buf, sizeof buf,
                 "{\"t\":\"typing\",\"c\":\"%s\",\"f\":\"%s\"}", a->lc->id,
                 c->ep == EP_PARENT ? "parent" : "adviser");
    rds_publish(buf, (size_t)n);
}

static void feedback_done(redisReply *r, void *priv)
{
    struct client *c = priv;

    if (!client_release(c))
        return;
    if (!r || r->type == REDIS_REPLY_ERROR)
        error_for(c, "closed", "feedback", NULL, "unavailable: try again");
    else
        client_send(c, json_pack("{s:s}", "type", "feedback_ok"));
}

static void parent_feedback(struct client *c, struct attach *a,
                            const struct frame *f)
{
    char key[ID_STR_LEN + 8], rating[4], ad[ID_STR_LEN + 16], *ct = NULL;
    const char *argv[6] = {"HSET",          key, "feedback_rating", rating,
                           "feedback_text", ""};

    snprintf(key, sizeof key, "conv:%s", a->lc->id);
    snprintf(rating, sizeof rating, "%d", f->rating);
    if (f->text && f->text_len && a->lc->have_key) {
        size_t n = seal_len(f->text_len);
        snprintf(ad, sizeof ad, "%s|feedback|", a->lc->id);
        if ((ct = malloc(n)) && seal(a->lc->key, ad, (const uint8_t *)f->text,
                                     f->text_len, ct, n) == 0)
            argv[5] = ct;
    }
    client_hold(c);
    if (rds_cmd(feedback_done, c, 6, argv, NULL) < 0)
        feedback_done(NULL, c);
    free(ct);
}

static void parent_frame(struct client *c, const struct frame *f)
{
    struct attach *a = c->atts;
    int open = a && a->told != TOLD_ENDED && !a->end_due;

    if (f->type != F_HELLO && !c->helloed) {
        client_error(c, "no_session", "send hello first");
        return;
    }
    switch (f->type) {
    case F_HELLO:
        parent_hello(c, f);
        break;
    case F_START:
        parent_start(c, f);
        break;
    case F_MSG:
        if (!open)
            client_error(c, "not_allowed", "start a chat first");
        else
            append_message(c, a, "parent", f);
        break;
    case F_TYPING:
        if (open)
            publish_typing(c, a);
        break;
    case F_END:
        if (!open)
            client_error(c, "not_allowed", "there is no chat to end");
        else
            run_end(c, a, "parent", f->reason);
        break;
    case F_FEEDBACK:
        if (!a || a->told != TOLD_ENDED)
            client_error(c, "not_allowed", "feedback comes after the chat");
        else
            parent_feedback(c, a, f);
        break;
    default:
        client_error(c, "unknown_type", "not a parent frame");
    }
}

/* --- staff --------------------------------------------------------------- */

static void availability_done(redisReply *r, void *priv)
{
    struct client *c = priv;

    if (!client_release(c))
        return;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        error_for(c, "closed", "availability", NULL, "unavailable: try again");
        return;
    }
    client_send(c, json_pack("{s:s, s:b, s:I, s:I}", "type", "availability",
                             "available", (int)r->element[0]->integer,
                             "capacity", (json_int_t)r->element[1]->integer,
                             "active", (json_int_t)r->element[2]->integer));
}

static void staff_availability(struct client *c, const struct frame *f)
{
    char now[24], avail[4], cap[4], def[4];
    const char *argv[5] = {now, c->name, avail, cap, def};

    if (f->capacity > CFG->max_capacity) {
        client_error(c, "bad_request", "capacity is at most %d",
                     CFG->max_capacity);
        return;
    }
    fmt_now(now, sizeof now);
    snprintf(avail, sizeof avail, "%d", f->available ? 1 : 0);
    snprintf(cap, sizeof cap, "%d", f->capacity);
    snprintf(def, sizeof def, "%d", CFG->default_capacity);
    client_hold(c);
    if (rds_script("avail", availability_done, c, 5, argv, NULL) < 0)
        availability_done(NULL, c);
}

struct wrap_req {
    struct client *c;
    char conv[ID_STR_LEN];
};

static void wrapup_done(redisReply *r, void *priv)
{
    struct wrap_req *wq = priv;
    const char *code;
    struct attach *a;

    if (!client_release(wq->c))
        goto out;
    if (r && r->type == REDIS_REPLY_ERROR &&
        strstr(r->str, "decision_needed")) {
        error_for(wq->c, "not_allowed", "wrapup", NULL,
                  "this conversation reached high: a lead's decision, or "
                  "your reason none is needed (no_decision_reason), comes "
                  "first");
        goto out;
    }
    if (reply_error(r, &code)) {
        error_for(wq->c, code, "wrapup", NULL,
                  strcmp(code, "not_allowed") == 0
                      ? "wrap-up comes after the chat has ended"
                      : "unavailable: try again");
        goto out;
    }
    if ((a = conv_find_attach(wq->c, wq->conv)))
        conv_detach(a);
    client_send(wq->c, json_pack("{s:s, s:s}", "type", "wrapped",
                                 "conversation", wq->conv));
out:
    free(wq);
}

static void staff_wrapup(struct client *c, struct attach *a,
                         const struct frame *f)
{
    char now[24], ad[ID_STR_LEN + 16], *ct = NULL, *js;
    struct wrap_req *wq;
    json_t *w;
    const char *argv[5];

    w = json_pack("{s:O, s:s, s:I}", "categories", f->categories, "outcome",
                  f->outcome, "at", (json_int_t)now_ms());
    if (f->note && *f->note && a->lc->have_key) {
        size_t n = seal_len(strlen(f->note));
        snprintf(ad, sizeof ad, "%s|wrapup|", a->lc->id);
        if ((ct = malloc(n)) && seal(a->lc->key, ad, (const uint8_t *)f->note,
                                     strlen(f->note), ct, n) == 0)
            json_object_set_new(w, "note", json_string(ct));
    }
    js = json_dumps(w, JSON_COMPACT);
    json_decref(w);
    free(ct);
    if (!js || !(wq = calloc(1, sizeof *wq))) {
        free(js);
        return;
    }
    wq->c = c;
    snprintf(wq->conv, sizeof wq->conv, "%s", a->lc->id);
    fmt_now(now, sizeof now);
    argv[0] = now;
    argv[1] = wq->conv;
    argv[2] = c->name;
    argv[3] = js;
    argv[4] = f->reason ? f->reason : "";
    client_hold(c);
    if (rds_script("wrapup", wrapup_done, wq, 5, argv, NULL) < 0)
        wrapup_done(NULL, wq);
    free(js);
}

/* --- the lead's side ------------------------------------------------------ */

static int is_lead(const struct client *c)
{
    return strcmp(c->role, "lead") == 0;
}

/* Seal a staff note with the conversation's key; "" when there is none. */
static char *seal_note(struct lconv *lc, const char *what, const char *note)
{
    char ad[ID_STR_LEN + 24];
    size_t n;
    char *ct;

    if (!note || !*note || !lc || !lc->have_key)
        return strdup("");
    n = seal_len(strlen(note));
    snprintf(ad, sizeof ad, "%s|%s|", lc->id, what);
    if (!(ct = malloc(n)))
        return NULL;
    if (seal(lc->key, ad, (const uint8_t *)note, strlen(note), ct, n) < 0) {
        free(ct);
        return NULL;
    }
    return ct;
}

struct staff_req {
    struct client *c;
    char conv[ID_STR_LEN];
    char what[24]; /* the frame's type, for errors and the reply */
    char extra[40];
};

static struct staff_req *staff_req_new(struct client *c, const char *conv,
                                       const char *what)
{
    struct staff_req *sq = calloc(1, sizeof *sq);

    if (!sq)
        return NULL;
    sq->c = c;
    snprintf(sq->conv, sizeof sq->conv, "%s", conv ? conv : "");
    snprintf(sq->what, sizeof sq->what, "%s", what);
    client_hold(c);
    return sq;
}

/* Replies to escalate, decide and hold: {type: <what>ed, conversation}. */
static void staff_simple_done(redisReply *r, void *priv)
{
    struct staff_req *sq = priv;
    const char *code;

    if (!client_release(sq->c))
        goto out;
    if (reply_error(r, &code))
        error_for(sq->c, code, sq->what, NULL,
                  strcmp(code, "not_allowed") == 0 ? "not allowed here"
                                                   : "unavailable: try again");
    else {
        json_t *o = json_pack("{s:s, s:s}", "type", sq->extra, "conversation",
                              sq->conv);
        if (r && r->type == REDIS_REPLY_STATUS)
            json_object_set_new(o, "status", json_string(r->str));
        else if (r && r->type == REDIS_REPLY_STRING)
            json_object_set_new(o, "status", json_string(r->str));
        client_send(sq->c, o);
    }
out:
    free(sq);
}

/* lens as rds_script() takes them: NULL when every argument is a string. */
static void run_staff_script(struct client *c, const char *script,
                             const char *conv, const char *what,
                             const char *reply_type, int argc,
                             const char **argv, const size_t *lens)
{
    struct staff_req *sq = staff_req_new(c, conv, what);

    if (!sq)
        return;
    snprintf(sq->extra, sizeof sq->extra, "%s", reply_type);
    if (rds_script(script, staff_simple_done, sq, argc, argv, lens) < 0)
        staff_simple_done(NULL, sq);
}

/* A staff action's text for the log (a service card, the transfer notice),
 * sealed by conv_seal_entry() with no client id; malloc'd, or NULL. */
static uint8_t *seal_log_text(struct lconv *lc, const char *from,
                              const char *text, size_t *sealed_len)
{
    size_t len = strlen(text), cap = len + SEAL_OVERHEAD;
    uint8_t *ct;

    if (!lc->have_key || !(ct = malloc(cap)))
        return NULL;
    if (!(*sealed_len =
              conv_seal_entry(lc->key, lc->id, from, "", text, len, ct, cap))) {
        free(ct);
        return NULL;
    }
    return ct;
}

static void staff_escalate(struct client *c, struct attach *a,
                           const struct frame *f)
{
    char now[24], sev[4], *note = seal_note(a->lc, "case", f->note);
    const char *argv[5] = {now, a->lc->id, c->name, sev, note ? note : ""};

    fmt_now(now, sizeof now);
    snprintf(sev, sizeof sev, "%d", f->severity);
    run_staff_script(c, "escalate", a->lc->id, "escalate", "escalated", 5, argv,
                     NULL);
    free(note);
}

static void staff_decide(struct client *c, const struct frame *f)
{
    struct attach *a = conv_find_attach(c, f->conversation);
    char now[24], *note = seal_note(a ? a->lc : NULL, "decision", f->note);
    const char *argv[6] = {
        now,         f->conversation,  c->name,
        f->decision, note ? note : "", f->reference ? f->reference : ""};

    fmt_now(now, sizeof now);
    run_staff_script(c, "decide", f->conversation, "decide", "decided", 6, argv,
                     NULL);
    free(note);
}

static void staff_signpost(struct client *c, struct attach *a,
                           const struct frame *f)
{
    const struct service *svc =
        SERVICES ? services_find(SERVICES, f->service) : NULL;
    char now[24], *card;
    uint8_t *ct = NULL;
    const char *argv[5];
    size_t lens[5], ctlen;

    if (!svc) {
        client_error(c, "bad_request", "no service '%.64s' in the directory",
                     f->service);
        return;
    }
    {
        json_t *cj = service_card_json(svc);
        card = json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(cj);
    }
    if (!card || !(ct = seal_log_text(a->lc, "signpost", card, &ctlen))) {
        client_error(c, "closed", "unavailable: try again");
    } else {
        fmt_now(now, sizeof now);
        argv[0] = now;
        argv[1] = a->lc->id;
        argv[2] = c->name;
        argv[3] = f->service;
        argv[4] = (const char *)ct;
        args_with_sealed(argv, lens, 5, 4, ctlen);
        run_staff_script(c, "signpost", a->lc->id, "signpost", "signposted", 5,
                         argv, lens);
    }
    free(card);
    free(ct);
}

#define TRANSFER_TEXT                                                          \
    "Your adviser has passed your chat to a colleague, who can see what you "  \
    "have written so far. Please stay with us: they will be with you soon."

static void staff_transfer(struct client *c, struct attach *a,
                           const struct frame *f)
{
    char now[24], *note = seal_note(a->lc, "transfer", f->note);
    size_t lens[5], syslen;
    uint8_t *sys = seal_log_text(a->lc, "system", TRANSFER_TEXT, &syslen);
    const char *argv[5] = {now, a->lc->id, c->name, note ? note : "",
                           (const char *)sys};

    if (!note || !sys) {
        client_error(c, "closed", "unavailable: try again");
    } else {
        fmt_now(now, sizeof now);
        args_with_sealed(argv, lens, 5, 4, syslen);
        run_staff_script(c, "transfer", a->lc->id, "transfer", "transferred", 5,
                         argv, lens);
    }
    free(note);
    free(sys);
}

static void staff_whisper(struct client *c, struct attach *a,
                          const struct frame *f)
{
    char now[24], *ct = seal_note(a->lc, "whisper", f->text);
    const char *argv[4] = {now, a->lc->id, c->name, ct ? ct : ""};

    if (!ct || !*ct) {
        free(ct);
        client_error(c, "closed", "unavailable: try again");
        return;
    }
    fmt_now(now, sizeof now);
    run_staff_script(c, "whisper", a->lc->id, "whisper", "whispered", 4, argv,
                     NULL);
    free(ct);
}

static void staff_hold(struct client *c, const struct frame *f)
{
    char now[24];

    fmt_now(now, sizeof now);
    rds_cmdf(NULL, NULL,
             "XADD audit * ts %s who %s role %s action %s conv %s detail %s",
             now, c->name, c->role, f->flag ? "hold" : "release",
             f->conversation, "");
    rds_cmdf(NULL, NULL, "HSET conv:%s hold %d", f->conversation,
             f->flag ? 1 : 0);
    client_send(c, json_pack("{s:s, s:s, s:b}", "type", "held", "conversation",
                             f->conversation, "hold", f->flag));
}

static void staff_observe(struct client *c, const struct frame *f)
{
    struct attach *a = conv_find_attach(c, f->conversation);

    if (f->flag) { /* stop */
        if (a && a->role == AR_OBSERVER)
            conv_detach(a);
        client_send(c, json_pack("{s:s, s:s}", "type", "unobserved",
                                 "conversation", f->conversation));
        return;
    }
    if (a) {
        client_error(c, "not_allowed", "already in that conversation");
        return;
    }
    if ((a = conv_observe(c, f->conversation)))
        conv_sync(a); /* sends `observing` with the history, audited */
}

/* One case as a lead sees it: notes opened with the conversation key. */
static json_t *case_json(redisReply *h)
{
    static const char *const sev_names[] = {"none", "low", "medium", "high",
                                            "emergency"};
    const char *conv = NULL, *wrapped = NULL;
    uint8_t *key = keyslot_alloc(); /* guarded memory, not the stack */
    int have_key = 0;
    json_t *o = json_object();

    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *k = h->element[i]->str, *v = h->element[i + 1]->str;
        if (k && v && strcmp(k, "conv") == 0)
            conv = v;
        if (k && v && strcmp(k, "key") == 0)
            wrapped = v;
    }
    if (key && conv && wrapped && *wrapped &&
        convkey_unwrap(conv, wrapped, key) == 0)
        have_key = 1;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *k = h->element[i]->str, *v = h->element[i + 1]->str;
        if (!k || !v || strcmp(k, "key") == 0)
            continue;
        if (strcmp(k, "conv") == 0) {
            json_object_set_new(o, "conversation", json_string(v));
        } else if (strcmp(k, "sev") == 0) {
            int sv = atoi(v);
            json_object_set_new(
                o, "severity",
                json_string(sv >= 0 && sv <= 4 ? sev_names[sv] : "medium"));
        } else if (strcmp(k, "categories") == 0) {
            json_t *arr = json_array();
            char buf[512], *save = NULL;
            snprintf(buf, sizeof buf, "%s", v);
            for (char *t = strtok_r(buf, ",", &save); t;
                 t = strtok_r(NULL, ",", &save))
                json_array_append_new(arr, json_string(t));
            json_object_set_new(o, "categories", arr);
        } else if (strcmp(k, "note") == 0 || strcmp(k, "decision_note") == 0) {
            char ad[ID_STR_LEN + 24], text[PROTO_MAX_NOTE_CHARS * 4 + 1];
            size_t n;
            snprintf(ad, sizeof ad, "%s|%s|", conv ? conv : "",
                     strcmp(k, "note") == 0 ? "case" : "decision");
            if (*v && have_key &&
                unseal(key, ad, v, strlen(v), (uint8_t *)text, sizeof text,
                       &n) == 0)
                json_object_set_new(o, k, json_string(text));
        } else if (strcmp(k, "opened_at") == 0 ||
                   strcmp(k, "decided_at") == 0) {
            json_object_set_new(o, k, json_integer(atoll(v)));
        } else if (*v) {
            json_object_set_new(o, k, json_string(v));
        }
    }
    keyslot_free(key);
    return o;
}

static int status_rank(const char *s)
{
    return !s                               ? 0
           : strcmp(s, "open") == 0         ? 0
           : strcmp(s, "acknowledged") == 0 ? 1
                                            : 2;
}

static int sev_rank(const char *s)
{
    int r = triage_severity_parse(s ? s : "none");
    return r < 0 ? 0 : r;
}

/* Open first, then by severity (highest first), then oldest first. */
static int case_cmp(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    const char *sa = json_string_value(json_object_get(a, "status"));
    const char *sb = json_string_value(json_object_get(b, "status"));
    int d = status_rank(sa) - status_rank(sb);
    json_int_t ta, tb;

    if (d)
        return d;
    d = sev_rank(json_string_value(json_object_get(b, "severity"))) -
        sev_rank(json_string_value(json_object_get(a, "severity")));
    if (d)
        return d;
    ta = json_integer_value(json_object_get(a, "opened_at"));
    tb = json_integer_value(json_object_get(b, "opened_at"));
    return ta < tb ? -1 : ta > tb;
}

static void cases_done(redisReply *r, void *priv)
{
    struct staff_req *sq = priv;
    const char *code;
    json_t **list = NULL, *arr;

    if (!client_release(sq->c))
        goto out;
    if (reply_error(r, &code) || r->type != REDIS_REPLY_ARRAY) {
        error_for(sq->c, reply_error(r, &code) ? code : "closed", sq->what,
                  NULL, "no such case");
        goto out;
    }
    if (sq->conv[0]) {
        if (r->elements == 1)
            client_send(sq->c, json_pack("{s:s, s:o}", "type", "case", "case",
                                         case_json(r->element[0])));
        goto out;
    }
    list = calloc(r->elements + 1, sizeof *list);
    for (size_t i = 0; list && i < r->elements; i++)
        list[i] = case_json(r->element[i]);
    if (list)
        qsort(list, r->elements, sizeof *list, case_cmp);
    arr = json_array();
    for (size_t i = 0; list && i < r->elements; i++)
        json_array_append_new(arr, list[i]);
    client_send(sq->c, json_pack("{s:s, s:o}", "type", "cases", "cases", arr));
out:
    free(list);
    free(sq);
}

static void staff_cases(struct client *c, const struct frame *f)
{
    char now[24];
    const char *conv = f->type == F_CASE ? f->conversation : "";
    struct staff_req *sq =
        staff_req_new(c, conv, f->type == F_CASE ? "case" : "cases");
    const char *argv[4] = {now, c->name, c->role, conv};

    if (!sq)
        return;
    fmt_now(now, sizeof now);
    if (rds_script("cases", cases_done, sq, 4, argv, NULL) < 0)
        cases_done(NULL, sq);
}

static void staff_frame(struct client *c, const struct frame *f)
{
    struct attach *a = NULL;
    int lead = is_lead(c), admin = strcmp(c->role, "admin") == 0;

    switch (f->type) {
    case F_AVAILABILITY:
        staff_availability(c, f);
        return;
    case F_CASES:
    case F_CASE:
        if (!lead && !admin)
            client_error(c, "not_allowed", "cases are for leads and admins");
        else
            staff_cases(c, f);
        return;
    case F_OBSERVE:
    case F_DECIDE:
    case F_HOLD:
    case F_WHISPER:
        if (!lead) {
            client_error(c, "not_allowed", "for safeguarding leads only");
            return;
        }
        if (f->type == F_OBSERVE)
            staff_observe(c, f);
        else if (f->type == F_DECIDE)
            staff_decide(c, f);
        else if (f->type == F_HOLD)
            staff_hold(c, f);
        else if (!(a = conv_find_attach(c, f->conversation)) ||
                 a->role != AR_OBSERVER)
            client_error(c, "not_allowed", "observe the conversation first");
        else
            staff_whisper(c, a, f);
        return;
    default:
        break;
    }
    /* Everything else acts on one of the adviser's own conversations. */
    a = conv_find_attach(c, f->conversation);
    if (!a || a->role != AR_ADVISER) {
        client_error(c, "not_allowed", "that conversation is not yours");
        return;
    }
    switch (f->type) {
    case F_MSG:
        append_message(c, a, "adviser", f);
        break;
    case F_TYPING:
        publish_typing(c, a);
        break;
    case F_END:
        run_end(c, a, "adviser", NULL);
        break;
    case F_WRAPUP:
        staff_wrapup(c, a, f);
        break;
    case F_ESCALATE:
        staff_escalate(c, a, f);
        break;
    case F_TRANSFER:
        staff_transfer(c, a, f);
        break;
    case F_SIGNPOST:
        staff_signpost(c, a, f);
        break;
    default:
        client_error(c, "not_allowed", "not available in this version");
    }
}

static void session_check_done(redisReply *r, void *priv)
{
    struct client *c = priv;

    if (!client_release(c) || !r)
        return;
    if (r->type == REDIS_REPLY_STRING && r->len < sizeof c->staff->sess) {
        memcpy(c->staff->sess, r->str,
               r->len + 1); /* rotated: follow the new one */
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 0)
        return;
    client_error(c, "no_session", "your session has ended: log in again");
    client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
}

void session_check_staff(void)
{
    for (struct client *c = clients; c; c = c->next) {
        if (c->ep != EP_STAFF || !c->authed || c->close_after_flush)
            continue;
        client_hold(c);
        if (auth_session_check(c->staff->sess, session_check_done, c) < 0)
            client_release(c);
    }
}

/* welcome carries the adviser's availability, so a console that
 * reconnects shows the truth. */
static void staff_state_done(redisReply *r, void *priv)
{
    struct client *c = priv;
    const char *av = NULL, *cap = NULL, *act = NULL;

    if (!client_release(c))
        return;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        av = r->element[0]->str;
        cap = r->element[1]->str;
        act = r->element[2]->str;
    }
    c->authed = 1;
    client_send(c, json_pack("{s:s, s:s, s:s, s:b, s:i, s:i}", "type",
                             "welcome", "role", c->role, "name", c->name,
                             "available", av && atoi(av) == 1, "capacity",
                             cap ? atoi(cap) : CFG->default_capacity, "active",
                             act ? atoi(act) : 0));
    conv_seen(c);
    conv_staff_sync(c);
    queue_send_state(c);
    queue_changed();
}

void session_staff_ready(struct client *c, const char *name, const char *role)
{
    snprintf(c->staff->name, sizeof c->staff->name, "%s", name);
    snprintf(c->staff->role, sizeof c->staff->role, "%s", role);
    c->name = c->staff->name;
    c->role = c->staff->role;
    client_hold(c);
    if (rds_cmdf(staff_state_done, c,
                 "HMGET staff:%s available capacity active", name) < 0)
        staff_state_done(NULL, c);
}

/* --- entry point ---------------------------------------------------------- */

/* A flood from one client must not shut the line for everyone: over its
 * limits a frame is dropped, with at most one error a second. */
static int over_limit(struct client *c)
{
    uint64_t now = now_ms();

    if (bucket_take(&c->frames, CFG->client_frames_per_s,
                    CFG->client_frames_burst, now) &&
        (!c->addr || bucket_take(&c->addr->frames, CFG->address_frames_per_s,
                                 CFG->address_frames_burst, now)))
        return 0;
    if (now - c->last_limited_ms >= 1000) {
        c->last_limited_ms = now;
        client_error(c, "rate_limited", "too many messages; wait a moment");
    }
    return 1;
}

void session_frame(struct client *c, const char *buf, size_t len, int binary)
{
    struct frame f;
    struct proto_error err;

    if (over_limit(c))
        return;

    if (proto_parse(c->ep, buf, len, binary, &f, &err) < 0) {
        client_send(c, proto_error_json(&err));
        return;
    }
    cur_frame = (struct frame_ctx){c, err.ref[0] ? err.ref : NULL, f.id};
    if (!rds_ready())
        unavailable(c, f.id);
    else if (c->ep == EP_PARENT)
        parent_frame(c, &f);
    else if (c->authed)
        staff_frame(c, &f);
    else
        client_error(c, "no_session", "log in first");
    cur_frame = (struct frame_ctx){NULL, NULL, NULL};
    frame_free(&f);
}
