/*
 * session.h - one connected parent or staff member, and what they are
 * attached to.
 *
 * Owns: struct client (a WebSocket's state: its output queue, its frame
 * reassembly, who it is) and struct attach (a client's view of one
 * conversation: the highest seq it has been given, what it has been told).
 * Promises: session_frame() turns one received frame into Redis work and
 * replies; replies and deliveries leave through client_send(), one JSON
 * frame per call, in order.  Called by http.c (WebSocket events) and
 * conv.c (deliveries).
 */
#ifndef CHATD_SESSION_H
#define CHATD_SESSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "crypto.h"
#include "proto.h"
#include "ratelimit.h"

#define USER_NAME_MAX            64 /* bytes, with NUL */
#define ROLE_MAX                 16
#define OUTQ_MAX_BYTES           (1024 * 1024) /* a client this far behind is cut */
#define CLIENT_WRITE_BATCH_BYTES 65536 /* frames sent in one write, at most */

struct lws;
struct lconv;

enum told {
    TOLD_NONE = 0, /* nothing yet about this conversation */
    TOLD_QUEUED,
    TOLD_CHATTING,
    TOLD_ENDED,
};

#define SUGGEST_MAX    32 /* services suggested per conversation */
#define SUGGEST_ID_LEN 64 /* bytes of a service id, with NUL */

struct pending_ack {
    uint64_t seq;
    char id[PROTO_MAX_ID_BYTES + 1];
    struct pending_ack *next;
};

/* How a client takes part in a conversation. */
enum att_role {
    AR_PARENT,
    AR_ADVISER,
    AR_OBSERVER, /* a lead watching: sees both sides and whispers */
};

/* What an attach needs only once its conversation is under way or over:
 * allocated then, as most attaches are parents waiting in the queue. */
struct attach_more {
    char told_adviser[USER_NAME_MAX]; /* parent: who `connected` named */
    char end_by[16];
    char end_reason[16];
    char end_code[RETURN_CODE_LEN]; /* parent: the return code, if any */
};

/* One per client per conversation (every waiting parent has one), held
 * for as long as it is attached, so kept small (mempool.h). */
struct attach {
    struct client *c;
    struct lconv *lc;
    uint64_t delivered;       /* every seq <= this has been sent or acked */
    struct pending_ack *acks; /* acks waiting for earlier seqs */
    char (*suggested)[SUGGEST_ID_LEN]; /* adviser: services suggested */
    struct attach_more *more;          /* NULL until needed */
    struct attach *next_in_conv, *next_in_client;
    int position; /* last queued position sent; -1 to force */
    int eta_s;
    uint8_t role;            /* enum att_role */
    uint8_t told;            /* enum told */
    uint8_t nsuggested;      /* at most SUGGEST_MAX */
    unsigned filling : 1;    /* a catch-up read is in flight */
    unsigned refill : 1;     /* and another is needed after it */
    unsigned replay_own : 1; /* resume: include the client's own messages */
    unsigned synced : 1;     /* staff: assigned has been sent */
    unsigned end_due : 1;    /* ended frame to send once messages are out */
};

struct outbuf {
    struct outbuf *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the frame */
};

/* What only a staff connection carries: allocated for staff only, as
 * most connections are parents (and most of those idle in the queue). */
struct staff_id {
    char name[USER_NAME_MAX];
    char role[ROLE_MAX];
    char sess[DIGEST_STR_LEN]; /* digest of the staff session it opened with */
};

/* One per WebSocket, held for as long as the socket is open, so kept
 * small (mempool.h): flags are bits, counts that have a ceiling are 32
 * bits, staff fields are behind a pointer. */
struct client {
    struct lws *wsi; /* NULL once the socket has gone */
    struct outbuf *out_head, *out_tail;
    char *rx; /* reassembly of a fragmented frame */
    uint64_t last_typing_ms;
    struct bucket frames; /* this connection's frame rate */
    struct address *addr; /* its address's counts (never the address) */
    uint64_t last_limited_ms;
    /* staff: the member's name and role, pointing into staff ("" for a
     * parent, and for staff until authenticated) */
    const char *name;
    const char *role;
    struct staff_id *staff;     /* staff only, else NULL */
    struct attach *atts;        /* parent: at most one */
    struct client *next, *prev; /* every client of this process */
    struct client *next_dirty;
    uint32_t out_bytes;  /* at most OUTQ_MAX_BYTES */
    uint32_t rx_len;     /* at most PROTO_MAX_FRAME_BYTES */
    int refs;            /* in-flight Redis replies hold the client */
    uint16_t close_code; /* sent in the close frame; 1008 unless set */
    uint8_t ep;          /* enum endpoint */
    unsigned close_after_flush : 1;
    unsigned close_sent : 1;
    unsigned rx_overflow : 1;
    unsigned helloed : 1; /* parent */
    unsigned authed : 1;  /* staff */
    unsigned dirty : 1;   /* on the list written this loop turn */
    /* parent */
    char token[TOKEN_STR_LEN];
};

/* The frame being handled (one at a time, synchronously): client_error()
 * echoes its ref and id to its client. */
struct frame_ctx {
    const struct client *c;
    const char *ref;
    const char *id;
};
extern struct frame_ctx cur_frame;

extern struct client *clients; /* list head, for heartbeats and resyncs */

struct client *client_new(struct lws *wsi, enum endpoint ep);
/* The socket has closed: detach everything, free when no reply holds it. */
void client_gone(struct client *c);
void client_hold(struct client *c);
/* Returns 1 if the client is still connected, and drops the hold. */
int client_release(struct client *c);

/* Queue one frame (consumes the reference to o).  Frames are written once
 * per loop turn, before libuv polls (client.c). */
void client_send(struct client *c, json_t *o);
/* Queue one frame already serialised (len bytes of JSON). */
void client_send_raw(struct client *c, const char *s, size_t len);
void client_error(struct client *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Send what is queued, then close with this code (1001: going away). */
void client_close(struct client *c, int code);
/* Called by http.c when the socket is writable: writes what is queued. */
int client_write(struct client *c);
/* The once-per-turn write (a uv_prepare handle); shutdown closes it. */
int client_init(uv_loop_t *loop);
void client_shutdown(void);

/* One complete frame from the socket. */
void session_frame(struct client *c, const char *buf, size_t len, int binary);
/* Close staff sockets whose session has gone (logout, user deleted,
 * expiry); called on every heartbeat. */
void session_check_staff(void);
/* A staff socket authenticated by http.c/auth.c. */
void session_staff_ready(struct client *c, const char *name, const char *role);

uint64_t now_ms(void);
/* How long a transcript is kept, from the config. */
long long retention_ms(void);

struct config;
struct triage_rules;
struct services;
struct hours;
/* The service directory and opening hours in force (start, SIGHUP). */
void session_set_directory(const struct services *s, const struct hours *h);
const struct services *session_services(void);
const struct hours *session_hours(void);
/* The `closed` frame, or NULL when the line is open now. */
json_t *session_closed_json(time_t now);

/* The triage rules in force; called at start and after a SIGHUP reload. */
void session_init(const struct config *cfg, const struct triage_rules *rules);

#endif
