/*
 * client.c - a connection's life (new, gone, held by replies in flight)
 * and its output queue; see session.h.
 *
 * Output is written once per loop turn.  client_send() only queues and
 * puts the client on a list; a uv_prepare handle, run just before libuv
 * polls, writes each listed client's queue with one lws_write() straight
 * from there.  Asking lws for a writable callback instead costs libuv an
 * epoll_ctl DEL and ADD for POLLOUT and again to drop it (plus a turn of
 * the loop), about 5 system calls per socket per turn where the socket is
 * almost always writable.  The callback stays for what cannot go at once:
 * lws still holds part of an earlier write, the queue is longer than one
 * batch, or the close frame.
 */
#include "session.h"
#include "conv.h"
#include "log.h"
#include "mempool.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CLOSE_ACK_WAIT_S 5  /* for the peer to answer our close frame */
#define FRAME_HDR_MAX    10 /* bytes of a server frame's header */
#define JSON_SCRATCH_BYTES                                                     \
    (PROTO_MAX_FRAME_BYTES * 4) /* most frames serialise in here once */

struct client *clients;
struct frame_ctx cur_frame;

static void flush_cb(uv_prepare_t *h);

static uv_prepare_t flush_h;
static int flush_ready;
static struct client *dirty; /* clients with output to write this turn */
/* The frames of one write, framed here: LWS_PRE headroom, then frames. */
static unsigned char batch[LWS_PRE + CLIENT_WRITE_BATCH_BYTES];

struct client *client_new(struct lws *wsi, enum endpoint ep)
{
    struct client *c = pool_zalloc(POOL_CLIENT, sizeof *c);

    if (!c)
        return NULL;
    if (ep == EP_STAFF && !(c->staff = calloc(1, sizeof *c->staff))) {
        pool_free(c);
        return NULL;
    }
    c->name = c->role = ""; /* until a staff member is authenticated */
    c->wsi = wsi;
    c->ep = ep;
    c->refs = 1;
    c->next = clients;
    if (clients)
        clients->prev = c;
    clients = c;
    return c;
}

static void client_free(struct client *c)
{
    while (c->out_head) {
        struct outbuf *b = c->out_head;
        c->out_head = b->next;
        free(b);
    }
    free(c->rx);
    free(c->staff);
    pool_free(c);
}

void client_gone(struct client *c)
{
    conv_seen(c); /* grace starts now */
    while (c->atts)
        conv_detach(c->atts);
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->wsi = NULL;
    if (--c->refs == 0)
        client_free(c);
}

void client_hold(struct client *c)
{
    c->refs++;
}

int client_release(struct client *c)
{
    int alive = c->wsi != NULL;

    if (--c->refs == 0)
        client_free(c);
    return alive;
}

/* Write this client's queue before the loop next polls.  The list holds
 * the client, so a socket closing in between cannot free it under us. */
static void mark_dirty(struct client *c)
{
    if (c->dirty)
        return;
    if (!flush_ready) {
        lws_callback_on_writable(c->wsi); /* no loop handle: tools, tests */
        return;
    }
    c->dirty = 1;
    client_hold(c);
    c->next_dirty = dirty;
    dirty = c;
    uv_prepare_start(&flush_h, flush_cb); /* a no-op when started */
}

/* Queue len bytes of one serialised frame. */
void client_send_raw(struct client *c, const char *s, size_t len)
{
    struct outbuf *b;

    /* Nothing may follow our close frame (RFC 6455 5.5.1). */
    if (!c->wsi || c->close_sent)
        return;
    if (c->out_bytes + len > OUTQ_MAX_BYTES) {
        log_warn("a client fell %zu bytes behind; closing it",
                 (size_t)c->out_bytes);
        c->close_after_flush = 1;
        lws_callback_on_writable(c->wsi);
        return;
    }
    /* LWS_PRE headroom: a frame too big to batch is written in place. */
    if (!(b = malloc(sizeof *b + LWS_PRE + len)))
        return;
    b->next = NULL;
    b->len = len;
    memcpy(b->data + LWS_PRE, s, len);
    if (c->out_tail)
        c->out_tail->next = b;
    else
        c->out_head = b;
    c->out_tail = b;
    c->out_bytes += len;
    mark_dirty(c);
}

void client_send(struct client *c, json_t *o)
{
    static char scratch[JSON_SCRATCH_BYTES];
    size_t len;
    char *big;

    if (!o)
        return;
    if (!c->wsi)
        goto out;
    /* Serialise once: into the scratch buffer, or (a long history) into a
     * buffer of its own. */
    len = json_dumpb(o, scratch, sizeof scratch, JSON_COMPACT);
    if (len == 0)
        goto out;
    if (len <= sizeof scratch) {
        client_send_raw(c, scratch, len);
    } else if ((big = json_dumps(o, JSON_COMPACT))) {
        client_send_raw(c, big, strlen(big));
        free(big);
    }
out:
    json_decref(o);
}

void client_error(struct client *c, const char *code, const char *fmt, ...)
{
    struct proto_error e;
    va_list ap;

    memset(&e, 0, sizeof e);
    e.code = code;
    if (cur_frame.c == c && cur_frame.ref)
        snprintf(e.ref, sizeof e.ref, "%s", cur_frame.ref);
    if (cur_frame.c == c && cur_frame.id)
        snprintf(e.id, sizeof e.id, "%s", cur_frame.id);
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    client_send(c, proto_error_json(&e));
}

/* lws 4.1.6 on libuv drops the socket without a close frame when a
 * writeable callback returns -1 (lws_close_reason is ignored there), so
 * the close frame (1008, policy violation) goes out as raw bytes and lws
 * finishes the closing handshake when the peer answers. */
static int write_close(struct client *c)
{
    unsigned char buf[LWS_PRE + 4];
    int code =
        c->close_code ? c->close_code : LWS_CLOSE_STATUS_POLICY_VIOLATION;

    if (c->close_sent)
        return 0;
    c->close_sent = 1;
    buf[LWS_PRE] = 0x88;  /* FIN + close opcode */
    buf[LWS_PRE + 1] = 2; /* payload: the status code */
    buf[LWS_PRE + 2] = (unsigned char)(code >> 8);
    buf[LWS_PRE + 3] = (unsigned char)(code & 0xff);
    if (lws_write(c->wsi, buf + LWS_PRE, 4, LWS_WRITE_RAW) < 0)
        return -1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, CLOSE_ACK_WAIT_S);
    return 0;
}

void client_close(struct client *c, int code)
{
    if (!c->wsi || c->close_after_flush)
        return;
    c->close_code = (uint16_t)code;
    c->close_after_flush = 1;
    lws_callback_on_writable(c->wsi);
}

/* The RFC 6455 header of an unmasked final text frame of len bytes. */
static size_t frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* One write: every frame queued so far (up to CLIENT_WRITE_BATCH_BYTES) goes
 * out in one send, framed here, as lws writes raw bytes without touching them.
 * lws keeps what the socket does not take and sends it first next time. */
int client_write(struct client *c)
{
    struct outbuf *b = c->out_head;
    unsigned char *p = batch + LWS_PRE;
    size_t n = 0, len;

    if (!b)
        return c->close_after_flush ? write_close(c) : 0;
    if (b->len + FRAME_HDR_MAX > CLIENT_WRITE_BATCH_BYTES) {
        if (lws_write(c->wsi, b->data + LWS_PRE, b->len, LWS_WRITE_TEXT) <
            (int)b->len)
            return -1;
        n = 1;
    } else {
        for (struct outbuf *q = b;
             q && (size_t)(p - batch) + FRAME_HDR_MAX + q->len <= sizeof batch;
             q = q->next, n++) {
            p += frame_header(p, q->len);
            memcpy(p, q->data + LWS_PRE, q->len);
            p += q->len;
        }
        len = (size_t)(p - batch - LWS_PRE);
        if (lws_write(c->wsi, batch + LWS_PRE, len, LWS_WRITE_RAW) < (int)len)
            return -1;
    }
    while (n--) {
        b = c->out_head;
        c->out_head = b->next;
        c->out_bytes -= b->len;
        free(b);
    }
    if (!c->out_head)
        c->out_tail = NULL;
    if (c->out_head || c->close_after_flush)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void flush_cb(uv_prepare_t *h)
{
    struct client *list = dirty;

    uv_prepare_stop(h);
    dirty = NULL;
    while (list) {
        struct client *c = list;
        list = c->next_dirty;
        c->next_dirty = NULL;
        c->dirty = 0;
        if (!c->wsi || !c->out_head) {
            /* gone, or a writable callback came first and wrote it */
        } else if (c->close_after_flush || lws_partial_buffered(c->wsi)) {
            lws_callback_on_writable(c->wsi);
        } else if (client_write(c) < 0) {
            /* The socket failed: lws closes it (CLOSED follows). */
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND,
                            LWS_TO_KILL_ASYNC);
        }
        client_release(c);
    }
}

int client_init(uv_loop_t *loop)
{
    if (uv_prepare_init(loop, &flush_h) != 0)
        return -1;
    flush_ready = 1;
    return 0;
}

void client_shutdown(void)
{
    if (!flush_ready)
        return;
    flush_cb(&flush_h); /* drop the holds of anything still listed */
    flush_ready = 0;
    uv_close((uv_handle_t *)&flush_h, NULL);
}
