/*
 * conv.h - the conversations this process has clients for, and the flow
 * of events from Redis to those clients.
 *
 * Owns: struct lconv (one per conversation with a local participant: its
 * unwrapped key and its attaches), the heartbeat and sweep timers.  Promises: a
 * client attached to a conversation gets every message once, in seq order, with
 * no gaps, even across reconnections of Redis or of the client: an out-of-order
 * or missed event triggers a catch-up read of the conversation's stream, and
 * state changes are re-read from Redis rather than trusted from events.
 * Called by session.c (attach/detach/sync) and rds.c (events via main.c).
 */
#ifndef CHATD_CONV_H
#define CHATD_CONV_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "config.h"
#include "session.h"

/* One per conversation with a local participant (every waiting parent's):
 * pointers first, so the struct packs without holes. */
struct lconv {
    uint8_t *key; /* a slot in guarded memory (keyslot_alloc) */
    struct attach *atts;
    struct lconv *hnext;
    char id[ID_STR_LEN];
    char area[8]; /* the parent's postcode district, for local services */
    int have_key;
    int refs; /* in-flight reads */
};

int conv_init(uv_loop_t *loop, const struct config *cfg);
void conv_shutdown(void);

struct attach *conv_attach(struct client *c, const char *conv_id);
void conv_detach(struct attach *a);
/* A lead starts watching a conversation (read-only, full history). */
struct attach *conv_observe(struct client *c, const char *conv_id);
struct attach *conv_find_attach(struct client *c, const char *conv_id);
/* The local conversation with this id, or NULL. */
struct lconv *conv_lookup(const char *conv_id);
/* Re-read the conversation's state and catch the client up. */
void conv_sync(struct attach *a);
/* Re-read which conversations a staff member holds. */
void conv_staff_sync(struct client *c);
/* Store the conversation's key once known (start). */
void conv_set_key(struct lconv *lc, const uint8_t *key);
/* An ack for the client's own message, sent once every earlier seq has
 * been delivered. */
void conv_ack(struct attach *a, uint64_t seq, const char *id);
/* A message from the Redis channel: one event or more, one a line. */
void conv_events(const char *payload, size_t len);
/* An entry's text sealed for conv:<id>:log, as delivery opens it (bound
 * to the conversation, the sender and the client id).  Returns the sealed
 * length (len + SEAL_OVERHEAD), or 0 if it does not fit in cap. */
size_t conv_seal_entry(const uint8_t key[CRYPTO_KEY_BYTES], const char *conv,
                       const char *from, const char *cid, const char *text,
                       size_t len, uint8_t *out, size_t cap);
/* Redis came back: resynchronise every local client. */
void conv_resync_all(void);
/* Heartbeat for one client now (e.g. on disconnect, to start grace). */
void conv_seen(struct client *c);

#endif
