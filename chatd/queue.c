/*
 * queue.c - see queue.h.
 */
#include "queue.h"
#include "conv.h"
#include "rds.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_REFRESH_MS 50 /* coalesce queue changes this long */
/* A refresh lists the places nearest the front, whose numbers a parent
 * watches most closely, and one page of the rest; while the queue moves,
 * the pages go round the rest of it, one a refresh.  Listing 15,000
 * places at once held Redis for 13 ms (docs/performance.md). */
#define QUEUE_HEAD 100 /* places from the front, every refresh */
#define QUEUE_PAGE 500 /* places further back, per refresh */

static const struct config *CFG;
static uv_timer_t queue_timer;
static int q_advisers, q_waiting;
static long long q_avg_ms;
static int q_inflight, q_moved;  /* a refresh under way; moved since */
static long q_page = QUEUE_HEAD; /* the next page's first place */
static char *last_queue_frame;   /* for staff who connect later */

void queue_init(uv_loop_t *loop, const struct config *cfg)
{
    CFG = cfg;
    uv_timer_init(loop, &queue_timer);
}

void queue_shutdown(void)
{
    uv_timer_stop(&queue_timer);
    uv_close((uv_handle_t *)&queue_timer, NULL);
    free(last_queue_frame);
    last_queue_frame = NULL;
}

int queue_waiting(void)
{
    return q_waiting;
}

int queue_eta(int position)
{
    long long avg_s = q_avg_ms > 0 ? q_avg_ms / 1000 : CFG->default_chat_s;

    /* With nobody on shift yet, estimate as if one adviser were: a number
     * helps a parent decide to wait; "unknown" does not. */
    int on_shift = q_advisers > 0 ? q_advisers : 1;

    if (position <= 0)
        return -1;
    return (int)(((position - 1) / on_shift + 1) * avg_s);
}

void queue_tell(struct attach *a, int position)
{
    int eta = queue_eta(position);
    json_t *o = json_pack("{s:s, s:i}", "type", "queued", "position", position);

    json_object_set_new(o, "eta_s", eta < 0 ? json_null() : json_integer(eta));
    a->told = TOLD_QUEUED;
    a->position = position;
    a->eta_s = eta;
    client_send(a->c, o);
}

struct place_req {
    struct client *c;
    char conv[ID_STR_LEN];
};

static void place_done(redisReply *r, void *priv)
{
    struct place_req *pr = priv;
    struct attach *a;

    if (client_release(pr->c) && (a = conv_find_attach(pr->c, pr->conv)) &&
        a->told == TOLD_QUEUED && r && r->type == REDIS_REPLY_INTEGER &&
        r->integer >= 0 && r->integer < INT_MAX)
        queue_tell(a, (int)r->integer + 1);
    free(pr);
}

void queue_place(struct attach *a)
{
    struct place_req *pr = malloc(sizeof *pr);
    const char *argv[3] = {"ZRANK", "queue", a->lc->id};

    if (!pr)
        return;
    pr->c = a->c;
    snprintf(pr->conv, sizeof pr->conv, "%s", a->lc->id);
    client_hold(a->c);
    if (rds_cmd(place_done, pr, 3, argv, NULL) < 0)
        place_done(NULL, pr);
}

static void send_staff_queue(json_t *frame)
{
    char *s = json_dumps(frame, JSON_COMPACT | JSON_SORT_KEYS);

    if (!s)
        return;
    if (!last_queue_frame || strcmp(s, last_queue_frame) != 0) {
        for (struct client *c = clients; c; c = c->next)
            if (c->ep == EP_STAFF && c->authed)
                client_send(c, json_deep_copy(frame));
        free(last_queue_frame);
        last_queue_frame = s;
    } else {
        free(s);
    }
}

/* The places a range of the reply lists, from its first element at *i:
 * parents told they wait there hear of a new position.  Returns -1 if the
 * range is malformed. */
static int apply_places(redisReply *reply, size_t *i)
{
    long long from, n;

    if (*i + 2 > reply->elements ||
        reply->element[*i]->type != REDIS_REPLY_INTEGER ||
        reply->element[*i + 1]->type != REDIS_REPLY_INTEGER)
        return -1;
    from = reply->element[*i]->integer;
    n = reply->element[*i + 1]->integer;
    *i += 2;
    if (from < 0 || n < 0 || (size_t)n > reply->elements - *i)
        return -1;
    for (long long k = 0; k < n; k++, (*i)++) {
        redisReply *e = reply->element[*i];
        struct lconv *lc =
            e->type == REDIS_REPLY_STRING ? conv_lookup(e->str) : NULL;
        int pos = (int)(from + k + 1), eta = queue_eta(pos);

        for (struct attach *a = lc ? lc->atts : NULL; a; a = a->next_in_conv)
            if (a->c->ep == EP_PARENT && a->told == TOLD_QUEUED &&
                (a->position != pos || a->eta_s != eta))
                queue_tell(a, pos);
    }
    return 0;
}

enum {
    QS_ADVISERS,
    QS_AVG_MS,
    QS_WAITING,
    QS_BANDS,
    QS_OLDEST = QS_BANDS + 5,
    QS_PLACES
};

void queue_apply_state(redisReply *reply)
{
    /* Bands as lib.lua scores them: emergency first. */
    static const char *const band_names[] = {"emergency", "high", "medium",
                                             "low", "none"};
    long long oldest;
    json_t *frame, *by;
    size_t i;

    if (!reply || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < QS_PLACES)
        return;
    for (i = 0; i < QS_PLACES; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return;
    q_advisers = (int)reply->element[QS_ADVISERS]->integer;
    q_avg_ms = reply->element[QS_AVG_MS]->integer;
    q_waiting = (int)reply->element[QS_WAITING]->integer;
    oldest = reply->element[QS_OLDEST]->integer;
    while (i < reply->elements)
        if (apply_places(reply, &i) < 0)
            break;
    by = json_object();
    for (int b = 4; b >= 0; b--)
        json_object_set_new(
            by, band_names[b],
            json_integer(reply->element[QS_BANDS + b]->integer));
    oldest = oldest > 0 ? ((long long)now_ms() - oldest) / 1000 : 0;
    frame = json_pack("{s:s, s:i, s:I, s:o}", "type", "queue", "waiting",
                      q_waiting, "oldest_wait_s",
                      (json_int_t)(oldest > 0 ? oldest : 0), "by_severity", by);
    send_staff_queue(frame);
    json_decref(frame);
}

static void queue_timer_cb(uv_timer_t *t);

static void queue_state_done(redisReply *reply, void *priv)
{
    (void)priv;
    q_inflight = 0;
    queue_apply_state(reply);
    if (reply && q_page + QUEUE_PAGE < q_waiting) {
        q_page += QUEUE_PAGE; /* the pass goes on, moved or not */
        uv_timer_start(&queue_timer, queue_timer_cb, QUEUE_REFRESH_MS, 0);
    } else {
        q_page = QUEUE_HEAD;
        if (q_moved) /* since the pass began: another one */
            uv_timer_start(&queue_timer, queue_timer_cb, QUEUE_REFRESH_MS, 0);
    }
}

static void queue_timer_cb(uv_timer_t *t)
{
    char head[16], from[24], page[16];
    const char *argv[4] = {"0", head, from, page};

    (void)t;
    if (q_inflight)
        return; /* its reply starts the next one */
    if (q_page == QUEUE_HEAD)
        q_moved = 0; /* a pass begins: it shows every move so far */
    snprintf(head, sizeof head, "%d", QUEUE_HEAD);
    snprintf(from, sizeof from, "%ld", q_page);
    snprintf(page, sizeof page, "%d", QUEUE_PAGE);
    if (rds_script("queue_state", queue_state_done, NULL, 4, argv, NULL) == 0)
        q_inflight = 1;
}

void queue_changed(void)
{
    q_moved = 1;
    if (!uv_is_active((uv_handle_t *)&queue_timer))
        uv_timer_start(&queue_timer, queue_timer_cb, QUEUE_REFRESH_MS, 0);
}

void queue_send_state(struct client *c)
{
    json_t *o;

    if (last_queue_frame && (o = json_loads(last_queue_frame, 0, NULL)))
        client_send(c, o);
}
