/*
 * conv.c - see conv.h.
 *
 * Delivery rule: an attach's `delivered` is the highest seq the client has
 * been given (a message, or the ack for its own).  An event with the next
 * seq is delivered at once; a later one means something was missed, so
 * the stream is read from `delivered` on; an earlier one was seen already.
 * A client is never sent its own live messages: the ack stands for them,
 * and an ack is held back until every earlier seq has gone out, so a
 * client that resumes from the highest seq it saw misses nothing.
 */
#include "conv.h"
#include "audit.h"
#include "log.h"
#include "mempool.h"
#include "rds.h"
#include "queue.h"
#include "services.h"
#include "triage.h"
#include "wire.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LCONV_BUCKETS     4096 /* hash buckets for local conversations */
#define FILL_BATCH        512  /* stream entries per catch-up read */
#define HEARTBEAT_MAX_MS  5000 /* heartbeats at least this often */
#define HEARTBEAT_TICK_MS 100  /* a slice of the clients this often */
#define RETENTION_BATCH   200  /* conversations deleted per sweep, at most */
#define MSG_TEXT_MAX      (PROTO_MAX_TEXT_CHARS * 4 + 1) /* UTF-8 bytes */
/* A msg frame: text escaped (6 bytes per byte at worst), triage, ids. */
#define MSG_FRAME_MAX  (MSG_TEXT_MAX * 6 + 8192)
#define ACK_FRAME_MAX  (PROTO_MAX_ID_BYTES * 6 + ID_STR_LEN + 128)
#define EVENT_COPY_MAX 65536 /* a msg event copied here to be parsed */

static struct lconv *table[LCONV_BUCKETS];
static const struct config *CFG;
static uv_timer_t tick_timer, hb_timer;
static unsigned ticks, hb_every, retention_every, hb_slices, hb_tick;
#define HB_ALL UINT_MAX /* heartbeat(): every slice at once */

/* --- the table -------------------------------------------------------- */

static unsigned bucket(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % LCONV_BUCKETS;
}

static struct lconv *lconv_find(const char *id)
{
    for (struct lconv *lc = table[bucket(id)]; lc; lc = lc->hnext)
        if (strcmp(lc->id, id) == 0)
            return lc;
    return NULL;
}

struct lconv *conv_lookup(const char *id)
{
    return lconv_find(id);
}

static struct lconv *lconv_get(const char *id)
{
    struct lconv *lc = lconv_find(id);
    unsigned b;

    if (lc)
        return lc;
    if (strlen(id) >= ID_STR_LEN || !(lc = pool_zalloc(POOL_LCONV, sizeof *lc)))
        return NULL;
    if (!(lc->key = keyslot_alloc())) {
        pool_free(lc);
        return NULL;
    }
    strcpy(lc->id, id);
    b = bucket(id);
    lc->hnext = table[b];
    table[b] = lc;
    return lc;
}

static void lconv_put(struct lconv *lc)
{
    struct lconv **pp;

    if (lc->atts || lc->refs)
        return;
    for (pp = &table[bucket(lc->id)]; *pp; pp = &(*pp)->hnext)
        if (*pp == lc) {
            *pp = lc->hnext;
            break;
        }
    keyslot_free(lc->key);
    pool_free(lc);
}

void conv_set_key(struct lconv *lc, const uint8_t *key)
{
    memcpy(lc->key, key, CRYPTO_KEY_BYTES);
    lc->have_key = 1;
}

/* --- attaches --------------------------------------------------------- */

struct attach *conv_attach(struct client *c, const char *conv_id)
{
    struct lconv *lc = lconv_get(conv_id);
    struct attach *a;

    if (!lc || !(a = pool_zalloc(POOL_ATTACH, sizeof *a))) {
        if (lc)
            lconv_put(lc);
        return NULL;
    }
    a->role = c->ep == EP_PARENT ? AR_PARENT : AR_ADVISER;
    a->c = c;
    a->lc = lc;
    a->position = -1;
    a->eta_s = -2;
    a->next_in_conv = lc->atts;
    lc->atts = a;
    a->next_in_client = c->atts;
    c->atts = a;
    return a;
}

struct attach *conv_observe(struct client *c, const char *conv_id)
{
    struct attach *a = conv_attach(c, conv_id);

    if (a)
        a->role = AR_OBSERVER;
    return a;
}

void conv_detach(struct attach *a)
{
    struct attach **pp;
    struct lconv *lc = a->lc;

    for (pp = &lc->atts; *pp; pp = &(*pp)->next_in_conv)
        if (*pp == a) {
            *pp = a->next_in_conv;
            break;
        }
    for (pp = &a->c->atts; *pp; pp = &(*pp)->next_in_client)
        if (*pp == a) {
            *pp = a->next_in_client;
            break;
        }
    while (a->acks) {
        struct pending_ack *p = a->acks;
        a->acks = p->next;
        free(p);
    }
    free(a->suggested);
    free(a->more);
    pool_free(a);
    lconv_put(lc);
}

struct attach *conv_find_attach(struct client *c, const char *conv_id)
{
    for (struct attach *a = c->atts; a; a = a->next_in_client)
        if (strcmp(a->lc->id, conv_id) == 0)
            return a;
    return NULL;
}

static const char *side(const struct attach *a)
{
    static const char *const sides[] = {"parent", "adviser", "observer"};
    return sides[a->role];
}

/* --- delivery ---------------------------------------------------------- */

struct entry {
    uint64_t seq;
    const char *from;
    long long ts;
    const uint8_t *ct; /* sealed, raw bytes */
    size_t ct_len;
    const char *cid;
    const char *tri;
};

/* What an entry's text is sealed bound to: "<conv>|<from>|<cid>". */
#define ENTRY_AD_MAX (ID_STR_LEN + WIRE_FROM_MAX + PROTO_MAX_ID_BYTES + 3)

static void entry_ad(char ad[ENTRY_AD_MAX], const char *conv, const char *from,
                     const char *cid)
{
    snprintf(ad, ENTRY_AD_MAX, "%s|%s|%s", conv, from, cid);
}

size_t conv_seal_entry(const uint8_t key[CRYPTO_KEY_BYTES], const char *conv,
                       const char *from, const char *cid, const char *text,
                       size_t len, uint8_t *out, size_t cap)
{
    char ad[ENTRY_AD_MAX];

    entry_ad(ad, conv, from, cid);
    if (seal_raw(key, ad, (const uint8_t *)text, len, out, cap) < 0)
        return 0;
    return len + SEAL_OVERHEAD;
}

/* Decrypt an entry's text into buf; "" if it cannot be opened. */
static const char *entry_text(struct lconv *lc, const struct entry *e,
                              char *buf, size_t buflen)
{
    char ad[ENTRY_AD_MAX];
    size_t n;

    entry_ad(ad, lc->id, e->from, e->cid);
    if (!lc->have_key || unseal_raw(lc->key, ad, e->ct, e->ct_len,
                                    (uint8_t *)buf, buflen, &n) < 0) {
        log_err("conversation %s: seq %llu cannot be decrypted", lc->id,
                (unsigned long long)e->seq);
        buf[0] = '\0';
    }
    return buf;
}

/* A service card stored in the conversation (from "signpost"). */
static json_t *signpost_json(const struct attach *a, const struct entry *e,
                             const char *card)
{
    json_t *svc = json_loads(card, 0, NULL);
    json_t *o = json_pack("{s:s, s:I, s:o, s:I}", "type", "signpost", "seq",
                          (json_int_t)e->seq, "service",
                          svc ? svc : json_object(), "ts", (json_int_t)e->ts);

    if (o && a->c->ep == EP_STAFF)
        json_object_set_new(o, "conversation", json_string(a->lc->id));
    return o;
}

/* A live `msg` frame, written without jansson (wire.h): the same fields
 * in the same order as entry_json().  Returns 0 if it was queued. */
static int send_entry(const struct attach *a, const struct entry *e,
                      const char *text)
{
    static char frame[MSG_FRAME_MAX];
    struct wbuf b;
    const char *tri = wire_triage_shown(e->from, e->tri);
    size_t tlen = tri ? strlen(tri) : 0;

    if (strcmp(e->from, "signpost") == 0)
        return -1; /* a service card: entry_json() builds it */
    wb_init(&b, frame, sizeof frame);
    wb_lit(&b, "{\"seq\":");
    wb_int(&b, (long long)e->seq);
    wb_lit(&b, ",\"from\":");
    wb_str(&b, e->from, strlen(e->from));
    wb_lit(&b, ",\"text\":");
    wb_str(&b, text, strlen(text));
    wb_lit(&b, ",\"ts\":");
    wb_int(&b, e->ts);
    wb_lit(&b, ",\"type\":\"msg\"");
    if (a->c->ep == EP_STAFF) {
        wb_lit(&b, ",\"conversation\":");
        wb_str(&b, a->lc->id, strlen(a->lc->id));
        /* chatd wrote the triage JSON (wire_triage_json): it goes in as
         * it is, if it is at least an object. */
        if (tlen >= 2 && tri[0] == '{' && tri[tlen - 1] == '}') {
            wb_lit(&b, ",\"triage\":");
            wb_raw(&b, tri, tlen);
        }
    }
    if (strcmp(e->from, side(a)) == 0 && e->cid && *e->cid) {
        wb_lit(&b, ",\"id\":");
        wb_str(&b, e->cid, strlen(e->cid));
    }
    wb_raw(&b, "}", 1);
    if (b.failed)
        return -1;
    client_send_raw(a->c, frame, b.len);
    return 0;
}

static json_t *entry_json(const struct attach *a, const struct entry *e,
                          const char *text, int with_type)
{
    if (strcmp(e->from, "signpost") == 0)
        return signpost_json(a, e, text);
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:I}", "seq", (json_int_t)e->seq, "from",
                  e->from, "text", text, "ts", (json_int_t)e->ts);

    if (!o)
        return NULL;
    if (with_type)
        json_object_set_new(o, "type", json_string("msg"));
    if (a->c->ep == EP_STAFF) {
        const char *tri = wire_triage_shown(e->from, e->tri);
        json_object_set_new(o, "conversation", json_string(a->lc->id));
        if (tri) {
            json_t *t = json_loads(tri, 0, NULL);
            if (t)
                json_object_set_new(o, "triage", t);
        }
    }
    if (strcmp(e->from, side(a)) == 0 && e->cid && *e->cid)
        json_object_set_new(o, "id", json_string(e->cid));
    return o;
}

/* Triage named categories: offer the adviser the directory's services for
 * them, local first, open first, each service once per conversation. */
static void suggest(struct attach *a, const char *tri)
{
    const struct services *svcs = session_services();
    const char *cats[TRIAGE_MAX_CATEGORIES];
    struct service_hit hits[TRIAGE_MAX_CATEGORIES * 4];
    json_t *t, *arr, *list;
    size_t ncat = 0, n;

    /* Most messages name no category: no need to parse the JSON. */
    if (a->role != AR_ADVISER || !svcs || !wire_triage_has_categories(tri) ||
        !(t = json_loads(tri, 0, NULL)))
        return;
    arr = json_object_get(t, "categories");
    for (size_t i = 0; i < json_array_size(arr) && ncat < TRIAGE_MAX_CATEGORIES;
         i++)
        if (json_is_string(json_array_get(arr, i)))
            cats[ncat++] = json_string_value(json_array_get(arr, i));
    n = ncat ? services_suggest(svcs, cats, ncat,
                                a->lc->area[0] ? a->lc->area : NULL, time(NULL),
                                hits, sizeof hits / sizeof hits[0])
             : 0;
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *id = hits[i].service->id;
        int seen = 0;
        for (int k = 0; k < a->nsuggested; k++)
            seen |= strcmp(a->suggested[k], id) == 0;
        if (seen || strlen(id) >= SUGGEST_ID_LEN ||
            a->nsuggested >= SUGGEST_MAX)
            continue;
        if (!a->suggested &&
            !(a->suggested = calloc(SUGGEST_MAX, sizeof *a->suggested)))
            break;
        strcpy(a->suggested[a->nsuggested++], id);
        json_array_append_new(list, service_card_json(hits[i].service));
    }
    if (json_array_size(list))
        client_send(a->c,
                    json_pack("{s:s, s:s, s:O}", "type", "suggest",
                              "conversation", a->lc->id, "services", list));
    json_decref(list);
    json_decref(t);
}

static void flush_acks(struct attach *a)
{
    struct pending_ack **pp = &a->acks;

    while (*pp) {
        struct pending_ack *p = *pp;
        if (p->seq <= a->delivered) {
            char frame[ACK_FRAME_MAX];
            struct wbuf b;

            wb_init(&b, frame, sizeof frame);
            wb_lit(&b, "{\"type\":\"ack\",\"id\":");
            wb_str(&b, p->id, strlen(p->id));
            wb_lit(&b, ",\"seq\":");
            wb_int(&b, (long long)p->seq);
            if (a->c->ep == EP_STAFF) {
                wb_lit(&b, ",\"conversation\":");
                wb_str(&b, a->lc->id, strlen(a->lc->id));
            }
            wb_raw(&b, "}", 1);
            if (!b.failed) /* it fits: an id is at most 64 bytes */
                client_send_raw(a->c, frame, b.len);
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

static void deliver(struct attach *a, const struct entry *e, const char *text)
{
    int own = strcmp(e->from, side(a)) == 0;

    if (e->seq <= a->delivered)
        return;
    if ((!own || a->replay_own) && send_entry(a, e, text) < 0)
        client_send(a->c, entry_json(a, e, text, 1));
    if (strcmp(e->from, "parent") == 0)
        suggest(a, e->tri);
    a->delivered = e->seq;
    flush_acks(a);
}

static void fill(struct attach *a);
static void emit_end(struct attach *a);

void conv_ack(struct attach *a, uint64_t seq, const char *id)
{
    struct pending_ack *p;

    if (seq == a->delivered + 1)
        a->delivered = seq; /* our own message: nothing to send but the ack */
    if (!(p = calloc(1, sizeof *p)))
        return;
    p->seq = seq;
    snprintf(p->id, sizeof p->id, "%s", id);
    p->next = a->acks;
    a->acks = p;
    flush_acks(a);
    if (a->acks)
        fill(a); /* something before it was missed: catch up */
}

/* --- catch-up reads ---------------------------------------------------- */

struct read_req {
    struct client *c;
    struct lconv *lc;
    int full;     /* staff's first read: all of it, for `assigned` */
    json_t *meta; /* for `assigned` */
};

static int parse_entry(redisReply *item, struct entry *e)
{
    redisReply *id, *fields;

    memset(e, 0, sizeof *e);
    if (item->type != REDIS_REPLY_ARRAY || item->elements != 2)
        return -1;
    id = item->element[0];
    fields = item->element[1];
    if (id->type != REDIS_REPLY_STRING || strncmp(id->str, "0-", 2) != 0 ||
        fields->type != REDIS_REPLY_ARRAY)
        return -1;
    e->seq = strtoull(id->str + 2, NULL, 10);
    e->from = "system";
    e->cid = "";
    e->tri = "";
    e->ct = (const uint8_t *)"";
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const char *k = fields->element[i]->str;
        redisReply *v = fields->element[i + 1];
        if (!k || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k, "f") == 0)
            e->from = v->str;
        else if (strcmp(k, "ts") == 0)
            e->ts = strtoll(v->str, NULL, 10);
        else if (strcmp(k, "ct") == 0) {
            e->ct = (const uint8_t *)v->str;
            e->ct_len = v->len;
        } else if (strcmp(k, "id") == 0)
            e->cid = v->str;
        else if (strcmp(k, "tri") == 0)
            e->tri = v->str;
    }
    return 0;
}

static void read_done(redisReply *reply, void *priv)
{
    struct read_req *rq = priv;
    struct lconv *lc = rq->lc;
    struct attach *a = NULL;
    size_t n = 0;
    static char text[MSG_TEXT_MAX];

    lc->refs--;
    if (client_release(rq->c))
        a = conv_find_attach(rq->c, lc->id);
    if (!a || !reply || reply->type != REDIS_REPLY_ARRAY) {
        if (a)
            a->filling = 0;
        goto out;
    }
    n = reply->elements;
    if (rq->full) {
        json_t *hist = json_array();
        struct entry e;
        for (size_t i = 0; i < n; i++)
            if (parse_entry(reply->element[i], &e) == 0) {
                json_array_append_new(
                    hist, entry_json(a, &e,
                                     entry_text(lc, &e, text, sizeof text), 0));
                if (e.seq > a->delivered)
                    a->delivered = e.seq;
            }
        json_object_set_new(rq->meta, "history", hist);
        client_send(a->c, rq->meta);
        for (size_t i = 0; i < n; i++)
            if (parse_entry(reply->element[i], &e) == 0 &&
                strcmp(e.from, "parent") == 0)
                suggest(a, e.tri);
        /* Every staff read of a transcript is audited. */
        rds_cmdf(NULL, NULL,
                 "XADD audit * ts %llu who %s role %s action %s conv %s "
                 "detail %s",
                 (unsigned long long)now_ms(), a->c->name, a->c->role,
                 a->role == AR_OBSERVER ? "observe" : "history", lc->id, "");
        rq->meta = NULL;
        a->synced = 1;
        a->told = TOLD_CHATTING;
        n = 0; /* the whole stream was read */
    } else {
        struct entry e;
        for (size_t i = 0; i < n; i++)
            if (parse_entry(reply->element[i], &e) == 0)
                deliver(a, &e, entry_text(lc, &e, text, sizeof text));
    }
    a->filling = 0;
    if (n == FILL_BATCH || a->refill) {
        a->refill = 0;
        fill(a);
    } else {
        a->replay_own = 0;
        flush_acks(a);
        emit_end(a);
    }
out:
    if (rq->meta)
        json_decref(rq->meta);
    free(rq);
    lconv_put(lc);
}

static void start_read(struct attach *a, int full, json_t *meta)
{
    char key[ID_STR_LEN + 16], from[32], count[16];
    struct read_req *rq = calloc(1, sizeof *rq);
    const char *argv[6] = {"XRANGE", key, from, "+", "COUNT", count};

    if (!rq) {
        json_decref(meta);
        return;
    }
    snprintf(key, sizeof key, "conv:%s:log", a->lc->id);
    if (full)
        snprintf(from, sizeof from, "-");
    else
        snprintf(from, sizeof from, "(0-%llu",
                 (unsigned long long)a->delivered);
    snprintf(count, sizeof count, "%d", FILL_BATCH);
    rq->c = a->c;
    rq->lc = a->lc;
    rq->full = full;
    rq->meta = meta;
    a->filling = 1;
    client_hold(a->c);
    a->lc->refs++;
    if (rds_cmd(read_done, rq, full ? 4 : 6, argv, NULL) < 0)
        read_done(NULL, rq);
}

static void fill(struct attach *a)
{
    if (a->filling) {
        a->refill = 1;
        return;
    }
    start_read(a, 0, NULL);
}

/* --- state sync --------------------------------------------------------- */

/* a->more, allocated on first need; NULL if it cannot be (the sync that
 * needed it is then redone by the next one). */
static struct attach_more *attach_more(struct attach *a)
{
    if (!a->more)
        a->more = calloc(1, sizeof *a->more);
    return a->more;
}

static void emit_end(struct attach *a)
{
    json_t *o;

    if (!a->end_due || a->filling)
        return;
    a->end_due = 0;
    a->told = TOLD_ENDED;
    o = json_pack("{s:s, s:s}", "type", "ended", "by", a->more->end_by);
    if (a->c->ep == EP_STAFF)
        json_object_set_new(o, "conversation", json_string(a->lc->id));
    if (a->more->end_reason[0])
        json_object_set_new(o, "reason", json_string(a->more->end_reason));
    if (a->c->ep == EP_PARENT && a->more->end_code[0])
        json_object_set_new(o, "return_code", json_string(a->more->end_code));
    client_send(a->c, o);
}

/* Open a note sealed with the conversation key under "<conv>|<what>|". */
static int open_note(struct lconv *lc, const char *what, const char *sealed,
                     char *out, size_t outlen)
{
    char ad[ID_STR_LEN + 24];
    size_t n;

    out[0] = '\0';
    if (!sealed || !*sealed || !lc->have_key)
        return -1;
    snprintf(ad, sizeof ad, "%s|%s|", lc->id, what);
    return unseal(lc->key, ad, sealed, strlen(sealed), (uint8_t *)out, outlen,
                  &n);
}

static const char *sev_label(const char *num)
{
    int s = num ? atoi(num) : 0;
    return triage_severity_name(s >= TRIAGE_NONE && s <= TRIAGE_EMERGENCY
                                    ? (enum triage_severity)s
                                    : TRIAGE_MEDIUM);
}

enum {
    S_STATE,
    S_ADVISER,
    S_ENDED_BY,
    S_REASON,
    S_SEQ,
    S_KEY,
    S_SEV,
    S_TOPIC,
    S_AREA,
    S_RETURN_CT,
    S_RETURNING,
    S_PREV,
    S_TRANSFER_FROM,
    S_TRANSFER_NOTE,
    S_NFIELDS
};

static const char *field(redisReply *r, int i)
{
    redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

struct sync_req {
    struct client *c;
    struct lconv *lc;
    json_t *meta; /* start_previous: the `assigned` being built */
};

/* What the adviser should know before the history: is this a parent who
 * came back, and was the chat handed over with a note? */
static void adviser_context(struct lconv *lc, redisReply *reply, json_t *meta)
{
    const char *ret = field(reply, S_RETURNING);
    const char *from = field(reply, S_TRANSFER_FROM);
    char note[PROTO_MAX_NOTE_CHARS * 4 + 1];

    json_object_set_new(meta, "returning",
                        json_boolean(ret && strcmp(ret, "1") == 0));
    if (from && *from) {
        open_note(lc, "transfer", field(reply, S_TRANSFER_NOTE), note,
                  sizeof note);
        json_object_set_new(
            meta, "transfer",
            json_pack("{s:s, s:s}", "from", from, "note", note));
    }
}

/* A returning parent: the previous conversation's wrap-up, its note opened
 * with that conversation's key, goes into `assigned` as `previous`. */
static void previous_done(redisReply *reply, void *priv)
{
    struct sync_req *sr = priv;
    struct lconv *lc = sr->lc;
    struct attach *a = NULL;

    lc->refs--;
    if (client_release(sr->c))
        a = conv_find_attach(sr->c, lc->id);
    if (!a)
        goto out;
    a->filling = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        json_t *w = json_loads(reply->element[0]->str, 0, NULL);
        const char *prev = reply->element[2]->str;
        const char *ct = json_string_value(json_object_get(w, "note"));
        struct lconv tmp;
        char note[PROTO_MAX_NOTE_CHARS * 4 + 1] = "";

        memset(&tmp, 0, sizeof tmp);
        if (prev && strlen(prev) < sizeof tmp.id &&
            reply->element[1]->type == REDIS_REPLY_STRING &&
            (tmp.key = keyslot_alloc())) {
            strcpy(tmp.id, prev);
            if (convkey_unwrap(prev, reply->element[1]->str, tmp.key) == 0) {
                tmp.have_key = 1;
                open_note(&tmp, "wrapup", ct, note, sizeof note);
            }
            keyslot_free(tmp.key);
        }
        if (w) {
            json_object_set_new(
                sr->meta, "previous",
                json_pack("{s:O, s:O, s:s}", "categories",
                          json_object_get(w, "categories"), "outcome",
                          json_object_get(w, "outcome"), "note", note));
            json_decref(w);
        }
    }
    start_read(a, 1, sr->meta);
    sr->meta = NULL;
out:
    if (sr->meta)
        json_decref(sr->meta);
    free(sr);
    lconv_put(lc);
}

static void start_previous(struct attach *a, const char *prev, json_t *meta)
{
    char key[ID_STR_LEN + 8];
    struct sync_req *sr = calloc(1, sizeof *sr);
    const char *argv[6] = {"EVAL",
                           "local h = redis.call('HMGET', KEYS[1], 'wrapup', "
                           "'key') return {h[1], h[2], ARGV[1]}",
                           "1",
                           key,
                           prev,
                           NULL};

    if (!sr || strlen(prev) >= ID_STR_LEN) {
        free(sr);
        start_read(a, 1, meta);
        return;
    }
    snprintf(key, sizeof key, "conv:%s", prev);
    sr->c = a->c;
    sr->lc = a->lc;
    sr->meta = meta;
    a->filling = 1; /* no second `assigned` while this is in flight */
    client_hold(a->c);
    a->lc->refs++;
    if (rds_cmd(previous_done, sr, 5, argv, NULL) < 0)
        previous_done(NULL, sr);
}

static void sync_done(redisReply *reply, void *priv);

void conv_sync(struct attach *a)
{
    struct sync_req *sr = calloc(1, sizeof *sr);
    /* In enum order: sync.lua answers seq from the log, the rest from
     * conv:<id>. */
    const char *argv[] = {a->lc->id,   "state",         "adviser",
                          "ended_by",  "reason",        "seq",
                          "key",       "sev",           "topic",
                          "area",      "return_ct",     "returning",
                          "prev_conv", "transfer_from", "transfer_note"};

    if (!sr)
        return;
    sr->c = a->c;
    sr->lc = a->lc;
    client_hold(a->c);
    a->lc->refs++;
    if (rds_script("sync", sync_done, sr, (int)(sizeof argv / sizeof argv[0]),
                   argv, NULL) < 0)
        sync_done(NULL, sr);
}

static void sync_done(redisReply *reply, void *priv)
{
    struct sync_req *sr = priv;
    struct lconv *lc = sr->lc;
    struct attach *a = NULL;
    const char *state, *adviser, *wrapped;
    uint64_t seq;

    lc->refs--;
    if (client_release(sr->c))
        a = conv_find_attach(sr->c, lc->id);
    if (!a || !reply || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != S_NFIELDS || !(state = field(reply, S_STATE)))
        goto out;
    wrapped = field(reply, S_KEY);
    if (!lc->have_key && wrapped &&
        convkey_unwrap(lc->id, wrapped, lc->key) == 0)
        lc->have_key = 1;
    adviser = field(reply, S_ADVISER);
    seq = field(reply, S_SEQ) ? strtoull(field(reply, S_SEQ), NULL, 10) : 0;
    if (field(reply, S_AREA))
        snprintf(lc->area, sizeof lc->area, "%s", field(reply, S_AREA));

    if (strcmp(state, "ended") == 0 && a->told != TOLD_ENDED && !a->end_due &&
        attach_more(a)) {
        a->end_due = 1;
        snprintf(a->more->end_by, sizeof a->more->end_by, "%s",
                 field(reply, S_ENDED_BY) ? field(reply, S_ENDED_BY)
                                          : "system");
        snprintf(a->more->end_reason, sizeof a->more->end_reason, "%s",
                 field(reply, S_REASON) ? field(reply, S_REASON) : "");
        open_note(lc, "return", field(reply, S_RETURN_CT), a->more->end_code,
                  sizeof a->more->end_code);
    }
    if (a->c->ep == EP_PARENT) {
        if (strcmp(state, "queued") == 0 && a->told != TOLD_QUEUED) {
            a->told = TOLD_QUEUED;
            a->position = -1;
            queue_place(a);
            queue_changed();
        } else if (strcmp(state, "chatting") == 0 && adviser &&
                   (a->told != TOLD_CHATTING || !a->more ||
                    strcmp(a->more->told_adviser, adviser) != 0) &&
                   attach_more(a)) {
            /* Also when the adviser changed (a transfer, or the last one
             * gone past grace): the parent is told who they now talk to. */
            snprintf(a->more->told_adviser, sizeof a->more->told_adviser, "%s",
                     adviser);
            a->told = TOLD_CHATTING;
            client_send(a->c,
                        json_pack("{s:s, s:s, s:s}", "type", "connected",
                                  "adviser", adviser, "conversation", lc->id));
        }
    } else if (!a->synced) {
        /* The adviser's (or observing lead's) first view: everything. */
        json_t *meta = json_pack(
            "{s:s, s:s, s:s}", "type",
            a->role == AR_OBSERVER ? "observing" : "assigned", "conversation",
            lc->id, "severity", sev_label(field(reply, S_SEV)));
        if (a->role == AR_OBSERVER)
            json_object_set_new(meta, "adviser",
                                adviser ? json_string(adviser) : json_null());
        else
            adviser_context(lc, reply, meta);
        if (field(reply, S_TOPIC) && *field(reply, S_TOPIC))
            json_object_set_new(meta, "topic",
                                json_string(field(reply, S_TOPIC)));
        if (field(reply, S_AREA) && *field(reply, S_AREA))
            json_object_set_new(meta, "area",
                                json_string(field(reply, S_AREA)));
        if (!a->filling) {
            const char *prev = field(reply, S_PREV);
            if (a->role == AR_ADVISER && prev && *prev)
                start_previous(a, prev, meta); /* then the history */
            else
                start_read(a, 1, meta);
            goto out;
        }
        json_decref(meta);
    }
    if (seq > a->delivered)
        fill(a);
    else
        emit_end(a);
out:
    free(sr);
    lconv_put(lc);
}

/* --- staff ------------------------------------------------------------- */

static void staff_sync_done(redisReply *reply, void *priv)
{
    struct client *c = priv;
    struct attach *a, *next;

    if (!client_release(c) || !reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    /* Drop chats no longer held (wrapped up, or moved on after grace). */
    for (a = c->atts; a; a = next) {
        int held = a->role == AR_OBSERVER;
        next = a->next_in_client;
        for (size_t i = 0; i < reply->elements; i++)
            held |= strcmp(reply->element[i]->str, a->lc->id) == 0;
        if (!held)
            conv_detach(a);
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const char *id = reply->element[i]->str;
        if (reply->element[i]->type != REDIS_REPLY_STRING ||
            conv_find_attach(c, id))
            continue;
        if ((a = conv_attach(c, id)))
            conv_sync(a);
    }
}

void conv_staff_sync(struct client *c)
{
    char k1[USER_NAME_MAX + 16], k2[USER_NAME_MAX + 16];
    const char *argv[3] = {"SUNION", k1, k2};

    snprintf(k1, sizeof k1, "staff:%s:convs", c->name);
    snprintf(k2, sizeof k2, "staff:%s:wrap", c->name);
    client_hold(c);
    if (rds_cmd(staff_sync_done, c, 3, argv, NULL) < 0)
        client_release(c);
}

/* --- events from Redis --------------------------------------------------- */

static void on_msg_event(const struct wire_msg *m, struct lconv *lc)
{
    static char text[MSG_TEXT_MAX];
    struct entry e;
    int decrypted = 0;

    e.seq = m->seq;
    e.from = m->from;
    e.ts = m->ts;
    e.ct = m->ct;
    e.ct_len = m->ct_len;
    e.cid = m->cid;
    e.tri = m->tri;
    for (struct attach *a = lc->atts, *next; a; a = next) {
        next = a->next_in_conv;
        if (a->c->ep == EP_STAFF && !a->synced)
            continue; /* `assigned` will carry it */
        if (a->filling) {
            if (e.seq > a->delivered)
                a->refill = 1;
        } else if (e.seq == a->delivered + 1) {
            if (!decrypted) {
                entry_text(lc, &e, text, sizeof text);
                decrypted = 1;
            }
            deliver(a, &e, text);
        } else if (e.seq > a->delivered + 1) {
            fill(a);
        }
    }
}

/* A lead's whisper: to the adviser and the observers, never the parent. */
static void on_whisper_event(json_t *ev, struct lconv *lc)
{
    static char text[MSG_TEXT_MAX];
    const char *from = json_string_value(json_object_get(ev, "from"));
    const char *ct = json_string_value(json_object_get(ev, "ct"));
    char ad[ID_STR_LEN + 16];
    size_t n;

    if (!from || !ct || !lc->have_key)
        return;
    snprintf(ad, sizeof ad, "%s|whisper|", lc->id);
    if (unseal(lc->key, ad, ct, strlen(ct), (uint8_t *)text, sizeof text, &n) <
        0)
        return;
    for (struct attach *a = lc->atts; a; a = a->next_in_conv)
        if (a->role != AR_PARENT && a->synced)
            client_send(a->c, json_pack("{s:s, s:s, s:s, s:s, s:O}", "type",
                                        "whisper", "conversation", lc->id,
                                        "from", from, "text", text, "ts",
                                        json_object_get(ev, "ts")));
}

/* The conversation's case changed: its adviser and observers are told. */
static void on_case_event(json_t *ev, struct lconv *lc)
{
    for (struct attach *a = lc->atts; a; a = a->next_in_conv) {
        json_t *o;
        if (a->role == AR_PARENT)
            continue;
        o = json_pack("{s:s, s:s}", "type", "case_update", "conversation",
                      lc->id);
        json_object_set(o, "status", json_object_get(ev, "status"));
        if (json_object_get(ev, "decision"))
            json_object_set(o, "decision", json_object_get(ev, "decision"));
        client_send(a->c, o);
    }
}

/* To every lead connected here: a conversation reached high or emergency.
 * The lead's workflow (observe, whisper, decide) builds on this. */
static void on_alert_event(json_t *ev)
{
    const char *id = json_string_value(json_object_get(ev, "c"));
    const char *tri = json_string_value(json_object_get(ev, "tri"));
    const char *by = json_string_value(json_object_get(ev, "by"));
    json_int_t sev = json_integer_value(json_object_get(ev, "sev"));
    json_t *t = tri ? json_loads(tri, 0, NULL) : NULL;
    json_t *cats = json_object_get(t, "categories");

    if (!id)
        goto out;
    for (struct client *c = clients; c; c = c->next) {
        if (c->ep != EP_STAFF || !c->authed || strcmp(c->role, "lead") != 0)
            continue;
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:o}", "type", "alert", "conversation", id,
            "severity", triage_severity_name((enum triage_severity)sev),
            "categories",
            json_is_array(cats) ? json_deep_copy(cats) : json_array());
        if (by && *by)
            json_object_set_new(o, "escalated_by", json_string(by));
        client_send(c, o);
    }
out:
    json_decref(t);
}

/* A `msg` event (wire.h): dropped before it is copied or parsed when no
 * client here takes part in its conversation. */
static void msg_event(const char *payload, size_t len)
{
    static char copy[EVENT_COPY_MAX];
    char conv[ID_STR_LEN], *buf = copy;
    struct wire_msg m;
    struct lconv *lc;

    if (wire_msg_event_conv(payload, len, conv) < 0 || !(lc = lconv_find(conv)))
        return;
    if (len >= sizeof copy && !(buf = malloc(len + 1)))
        return;
    memcpy(buf, payload, len);
    buf[len] = '\0';
    if (wire_msg_event_parse(buf, len, &m) == 0)
        on_msg_event(&m, lc);
    else
        log_err("conversation %s: a malformed msg event", conv);
    if (buf != copy)
        free(buf);
}

static void one_event(const char *payload, size_t len)
{
    json_t *ev;
    const char *t, *id;
    struct lconv *lc;

    if (wire_is_msg_event(payload, len)) {
        msg_event(payload, len);
        return;
    }
    if (!(ev = json_loadb(payload, len, 0, NULL)))
        return;
    t = json_string_value(json_object_get(ev, "t"));
    id = json_string_value(json_object_get(ev, "c"));
    lc = id ? lconv_find(id) : NULL;
    if (!t)
        goto out;
    if (strcmp(t, "queue") == 0) {
        queue_changed();
    } else if (strcmp(t, "staff") == 0) {
        const char *name = json_string_value(json_object_get(ev, "s"));
        for (struct client *c = clients; c && name; c = c->next)
            if (c->ep == EP_STAFF && c->authed && strcmp(c->name, name) == 0)
                conv_staff_sync(c);
    } else if (strcmp(t, "alert") == 0) {
        on_alert_event(ev);
    } else if (!lc) {
        goto out;
    } else if (strcmp(t, "away") == 0 || strcmp(t, "back") == 0) {
        /* The parent's connection is gone past grace, or is back. */
        for (struct attach *a = lc->atts; a; a = a->next_in_conv)
            if (a->role != AR_PARENT && a->synced)
                client_send(
                    a->c, json_pack("{s:s, s:s}", "type",
                                    t[0] == 'a' ? "parent_away" : "parent_back",
                                    "conversation", lc->id));
    } else if (strcmp(t, "whisper") == 0) {
        on_whisper_event(ev, lc);
    } else if (strcmp(t, "case") == 0) {
        on_case_event(ev, lc);
    } else if (strcmp(t, "state") == 0) {
        for (struct attach *a = lc->atts; a; a = a->next_in_conv)
            conv_sync(a);
    } else if (strcmp(t, "typing") == 0) {
        const char *f = json_string_value(json_object_get(ev, "f"));
        for (struct attach *a = lc->atts; a && f; a = a->next_in_conv) {
            json_t *o;
            if (strcmp(side(a), f) == 0 || a->told != TOLD_CHATTING)
                continue;
            o = json_pack("{s:s}", "type", "typing");
            if (a->c->ep == EP_STAFF)
                json_object_set_new(o, "conversation", json_string(lc->id));
            client_send(a->c, o);
        }
    }
out:
    json_decref(ev);
}

void conv_events(const char *payload, size_t len)
{
    const char *p = payload, *end = payload + len;

    while (p < end) {
        size_t n = wire_event_len(p, (size_t)(end - p));
        if (n > 0)
            one_event(p, n);
        p += n + 1; /* and the newline */
    }
}

static void heartbeat(unsigned slice);

void conv_resync_all(void)
{
    heartbeat(HB_ALL);
    for (struct client *c = clients; c; c = c->next) {
        if (c->ep == EP_STAFF && c->authed)
            conv_staff_sync(c);
        for (struct attach *a = c->atts; a; a = a->next_in_client)
            conv_sync(a);
    }
    queue_changed();
}

/* --- heartbeats and the sweep ------------------------------------------- */

static int live_parent(const struct attach *a)
{
    return a->told == TOLD_QUEUED || a->told == TOLD_CHATTING ||
           a->told == TOLD_NONE;
}

/* Whether a client is in a heartbeat slice: by its address, which stays
 * put while it is connected (pooled clients lie side by side, so the
 * multiplier spreads neighbours over the slices). */
static int in_slice(const struct client *c, unsigned slice)
{
    uint32_t h = (uint32_t)((uintptr_t)c >> 4) * 2654435761u;

    return slice == HB_ALL || h % hb_slices == slice;
}

/* Refresh seen:p and seen:s for one slice of the clients.  All at once,
 * 15,000 waiting parents made one ZADD that held Redis for about 14 ms
 * (and wrote 600 KB of AOF) every heartbeat period, with every message
 * behind it.  hb_slices slices, one each HEARTBEAT_TICK_MS, keep every
 * client refreshed once a period in ZADDs of a few hundred members.
 * HB_ALL, when Redis comes back: no one could be refreshed while it was
 * away, and the sweep must not find them stale before their slices come
 * round. */
static void heartbeat(unsigned slice)
{
    size_t cap = 0, pn, sn;
    const char **argv = NULL;
    char now[24];

    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    for (struct client *c = clients; c; c = c->next)
        if (in_slice(c, slice))
            cap += 2; /* the slice's, not every client's: a tenth of a
                       * second apart, this stays small */
    if (!cap)
        return;
    if (!(argv = malloc((cap + 2) * sizeof *argv)))
        return;
    argv[0] = "ZADD";
    argv[1] = "seen:p";
    pn = 2;
    for (struct client *c = clients; c; c = c->next)
        if (c->ep == EP_PARENT && c->atts && live_parent(c->atts) &&
            in_slice(c, slice)) {
            argv[pn++] = now;
            argv[pn++] = c->atts->lc->id;
        }
    if (pn > 2)
        rds_cmd(NULL, NULL, (int)pn, argv, NULL);
    argv[1] = "seen:s";
    sn = 2;
    for (struct client *c = clients; c; c = c->next)
        if (c->ep == EP_STAFF && c->authed && in_slice(c, slice)) {
            argv[sn++] = now;
            argv[sn++] = c->name;
        }
    if (sn > 2)
        rds_cmd(NULL, NULL, (int)sn, argv, NULL);
    free(argv);
}

void conv_seen(struct client *c)
{
    char now[24];

    if (!rds_ready())
        return;
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    if (c->ep == EP_PARENT && c->atts && live_parent(c->atts))
        rds_cmdf(NULL, NULL, "ZADD seen:p %s %s", now, c->atts->lc->id);
    else if (c->ep == EP_STAFF && c->authed)
        rds_cmdf(NULL, NULL, "ZADD seen:s %s %s", now, c->name);
}

static void hb_cb(uv_timer_t *t)
{
    (void)t;
    if (rds_ready())
        heartbeat(hb_tick++ % hb_slices);
}

static void tick_cb(uv_timer_t *t)
{
    char now[24], grace[24];
    char gone[24];
    const char *argv[3] = {now, grace, gone};

    (void)t;
    if (!rds_ready())
        return;
    if (++ticks % hb_every == 0)
        session_check_staff();
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    snprintf(grace, sizeof grace, "%lld", (long long)CFG->grace_s * 1000);
    snprintf(gone, sizeof gone, "%lld",
             (long long)CFG->parent_timeout_s * 1000);
    rds_script("sweep", NULL, NULL, 3, argv, NULL);
    if (ticks % retention_every == 0) {
        char keep[24], batch[8];
        const char *rargv[3] = {now, keep, batch};
        snprintf(keep, sizeof keep, "%lld", retention_ms());
        snprintf(batch, sizeof batch, "%d", RETENTION_BATCH);
        rds_script("retention", NULL, NULL, 3, rargv, NULL);
        audit_trim(CFG, now);
    }
}

int conv_init(uv_loop_t *loop, const struct config *cfg)
{
    int hb_ms;

    CFG = cfg;
    uv_timer_init(loop, &tick_timer);
    uv_timer_init(loop, &hb_timer);
    hb_ms = cfg->grace_s * 1000 / 4;
    if (hb_ms > HEARTBEAT_MAX_MS)
        hb_ms = HEARTBEAT_MAX_MS;
    hb_every = (unsigned)(hb_ms / cfg->sweep_interval_ms);
    if (hb_every < 1)
        hb_every = 1;
    hb_slices = (unsigned)(hb_ms / HEARTBEAT_TICK_MS);
    if (hb_slices < 1)
        hb_slices = 1;
    retention_every = (unsigned)((long long)cfg->retention_sweep_s * 1000 /
                                 cfg->sweep_interval_ms);
    if (retention_every < 1)
        retention_every = 1;
    uv_timer_start(&tick_timer, tick_cb, (uint64_t)cfg->sweep_interval_ms,
                   (uint64_t)cfg->sweep_interval_ms);
    uv_timer_start(&hb_timer, hb_cb, HEARTBEAT_TICK_MS, HEARTBEAT_TICK_MS);
    return 0;
}

void conv_shutdown(void)
{
    uv_timer_stop(&tick_timer);
    uv_timer_stop(&hb_timer);
    uv_close((uv_handle_t *)&tick_timer, NULL);
    uv_close((uv_handle_t *)&hb_timer, NULL);
}
