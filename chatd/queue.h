/*
 * queue.h - the queue as this process shows it: each local waiting
 * parent's place and wait estimate, and the staff's queue frame.
 *
 * Owns: the refresh timer and the last figures read (advisers on shift,
 * mean chat length, parents waiting, the last staff frame).  Promises: a
 * change is shown within QUEUE_REFRESH_MS to parents in the first places
 * and to staff, and to parents further back as the refreshes' pages come
 * round to them; no refresh lists the whole queue (queue_state.lua).
 * Called by conv.c (queue events, sweeps, reconnects), session.c (a
 * parent's start, a staff member's hello) and http.c (/api/status).
 */
#ifndef CHATD_QUEUE_H
#define CHATD_QUEUE_H

#include <hiredis/hiredis.h>
#include <uv.h>

#include "config.h"
#include "session.h"

void queue_init(uv_loop_t *loop, const struct config *cfg);
void queue_shutdown(void);
/* The queue moved: refresh soon (coalesced). */
void queue_changed(void);
/* Apply a queue_state script reply: push places and the staff frame. */
void queue_apply_state(redisReply *reply);
/* Tell a waiting parent their place and estimate. */
void queue_tell(struct attach *a, int position);
/* Find a parent's place now and tell them (a parent back in the queue,
 * who may be further back than a refresh lists at once). */
void queue_place(struct attach *a);
/* Send the latest queue frame to a staff member who just connected. */
void queue_send_state(struct client *c);
/* Parents waiting, from the last refresh. */
int queue_waiting(void);
/* Wait estimate in seconds for a place, from the last refresh; -1 for
 * none. */
int queue_eta(int position);

#endif
