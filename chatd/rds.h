/*
 * rds.h - chatd's link to Redis: two hiredis async connections (commands,
 * and one subscribed to the event channel) on the shared libuv loop.
 *
 * Owns: the connections, reconnecting with backoff, the Lua scripts' SHAs,
 * and the embedded redis-server when no redis_url is configured.
 * Promises: every callback is called exactly once, with reply NULL when
 * Redis failed or went away; rds_ready() is true only when both
 * connections are up, the scripts are loaded and the event channel is
 * subscribed; on_ready fires after every (re)connection so callers can
 * resynchronise.  Called by session.c, auth.c, http.c and main.c.
 */
#ifndef CHATD_RDS_H
#define CHATD_RDS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"

#define RDS_EVENT_CHANNEL "chatd:ev"

typedef void (*rds_cb)(redisReply *reply, void *priv);

/* on_event gets each message on RDS_EVENT_CHANNEL whole: scripts may
 * publish several events in one, one a line (wire.h says where each
 * ends). */
struct rds_hooks {
    void (*on_ready)(void);
    void (*on_lost)(void);
    void (*on_event)(const char *payload, size_t len);
};

int rds_start(uv_loop_t *loop, const struct config *cfg,
              const struct rds_hooks *hooks);
void rds_stop(void);
/* After the loop has drained: stop the embedded redis-server, if ours. */
void rds_stop_embedded(void);
int rds_ready(void);

/* Send a command; cb may be NULL.  Returns -1 (and does not call cb) when
 * not connected. */
int rds_cmd(rds_cb cb, void *priv, int argc, const char **argv,
            const size_t *lens);
int rds_cmdf(rds_cb cb, void *priv, const char *fmt, ...);
/* EVALSHA a script with no KEYS and the given ARGV. */
int rds_script(const char *name, rds_cb cb, void *priv, int argc,
               const char **argv, const size_t *lens);
/* EVALSHA a script that takes its calls in batches: the calls made in one
 * loop turn (or, under load, in store_group_us since the last batch went:
 * group commit, rds.c) go to Redis as one EVALSHA whose ARGV is every
 * call's ARGV in order, and the script returns one reply per call, in order
 * (each one an array, or an error for that call alone).  cb gets its own call's
 * reply; when the whole batch fails, each cb gets that error reply, or NULL.
 * Every call of a script must pass the same argc.  Commands sent by any
 * other function after this one are sent after the batch, so order on the
 * connection is as called.  Returns -1 (and does not call cb) when not
 * ready. */
int rds_script_batched(const char *name, rds_cb cb, void *priv, int argc,
                       const char **argv, const size_t *lens);
/* PUBLISH on the event channel. */
int rds_publish(const char *payload, size_t len);

/* For command-line tools: a blocking connection to the same Redis the
 * daemon uses.  With the embedded default, uses the running one or starts
 * one for the duration (*spawned set; pass it to rds_sync_close). */
redisContext *rds_sync_open(const struct config *cfg, int *spawned);
void rds_sync_close(redisContext *c, const struct config *cfg, int spawned);

/* Address of the embedded Redis socket for a data dir. */
void rds_embedded_path(const struct config *cfg, char *out, size_t outlen);

#endif
