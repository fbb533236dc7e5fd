/*
 * rds.c - see rds.h.
 */
#include "rds.h"
#include "log.h"
#include "scripts.h"

#include <errno.h>
#include <hiredis/async.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RDS_MAX_SCRIPTS     32
#define RDS_SHA_LEN         41   /* hex SHA1 with NUL */
#define RDS_BACKOFF_MIN_MS  100  /* first retry after a lost connection */
#define RDS_BACKOFF_MAX_MS  5000 /* retries never wait longer than this */
#define RDS_SPAWN_WAIT_MS   5000 /* for an embedded redis-server to answer */
#define RDS_STOP_WAIT_MS    5000 /* for it to exit after SIGTERM */
#define RDS_SYNC_TIMEOUT_MS 2000
#define RDS_DEFAULT_PORT    6379
#define RDS_HOST_MAX        (CONFIG_STR_MAX + 16)
/* Command connections.  Batched calls (rds_script_batched) are spread over
 * them by their route, so Redis, which reads each connection once per
 * event-loop turn (about 20 KiB), takes in that much more per turn and per
 * fsync; every other command goes on lane 0.  See "ordering" below. */
#define RDS_LANES 4
#define RDS_SUB   RDS_LANES       /* R.ac index of the subscriber */
#define RDS_NCONN (RDS_LANES + 1) /* lanes, then the subscriber */
/* A batch holds at most this many calls and, past this many bytes of ARGV,
 * takes no further call: the script runs atomically, so a batch is also
 * how long other clients wait.  128 messages are about 45 KiB and 2 ms of
 * Redis' time. */
#define RDS_BATCH_MAX_CALLS 128
#define RDS_BATCH_MAX_BYTES (64 * 1024)
/* Room kept before the batch's ARGV for its "*<n> EVALSHA <sha> 0" header,
 * written there when it is sent, so the command is never copied whole. */
#define RDS_BATCH_HEAD_MAX 128
#define RDS_BATCH_BUF_MIN  (4 * 1024) /* a batch buffer's first size */

struct batch_call {
    rds_cb cb;
    void *priv;
};

struct seg;

/* What was sent (one command, or one batch of calls), until its reply. */
struct sent {
    struct sent *next; /* on the list of failures to report */
    struct seg *seg;
    int lane;
    int batched; /* the reply is an array, one element per call */
    int ncalls;
    struct batch_call calls[];
};

/* The calls of one script on one lane, gathered for one EVALSHA. */
struct batch {
    int script; /* lua_scripts index; -1 while empty */
    int argc;   /* ARGV entries so far */
    int ncalls, calls_cap;
    struct batch_call *calls;
    char *buf; /* RDS_BATCH_HEAD_MAX bytes, then the ARGV as RESP */
    size_t len, cap;
};

/* A command for lane 0, formatted, waiting for its turn. */
struct cmdq {
    struct cmdq *next;
    struct sent *sent;
    size_t len;
    char cmd[];
};

/* A run of calls of one kind, in call order: batched calls (one batch per
 * lane) or other commands (lane 0). */
struct seg {
    struct seg *next;
    int is_cmds, sent;
    int waiting;       /* sent and not answered */
    int waiting_lanes; /* of those, on lanes other than 0 */
    struct batch lane[RDS_LANES];
    struct cmdq *cmds, **cmds_tail;
};

static struct {
    uv_loop_t *loop;
    const struct config *cfg;
    struct rds_hooks hooks;
    redisAsyncContext *ac[RDS_NCONN]; /* lanes 0.., then the subscriber */
    int up[RDS_NCONN];
    int scripts_pending, subscribed, ready, was_ready;
    int stopping;
    char sha[RDS_MAX_SCRIPTS][RDS_SHA_LEN];
    uv_timer_t retry;
    uv_prepare_t flush; /* writes queued commands once per loop turn */
    int backoff_ms;
    pid_t child;           /* embedded redis-server we started, or 0 */
    struct seg *q, *qtail; /* runs not yet answered, in call order */
    int pumping, repump;
    struct sent *failed, **failed_tail; /* to report after pump() */
} R;

static void pump(int flush);

/* --- addresses and the embedded server ------------------------------- */

void rds_embedded_path(const struct config *cfg, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/redis.sock", cfg->data_dir);
}

struct addr {
    int is_unix;
    char host[RDS_HOST_MAX];
    int port;
};

static int parse_url(const struct config *cfg, struct addr *a)
{
    const char *u = cfg->redis_url;

    memset(a, 0, sizeof *a);
    if (!*u) {
        a->is_unix = 1;
        rds_embedded_path(cfg, a->host, sizeof a->host);
        return 0;
    }
    if (strncmp(u, "unix://", 7) == 0) {
        a->is_unix = 1;
        if (strlen(u + 7) >= sizeof a->host || u[7] != '/')
            return -1;
        strcpy(a->host, u + 7);
        return 0;
    }
    if (strncmp(u, "redis://", 8) == 0) {
        const char *h = u + 8, *colon = strrchr(h, ':');
        size_t hl = colon ? (size_t)(colon - h) : strlen(h);
        if (hl == 0 || hl >= sizeof a->host)
            return -1;
        memcpy(a->host, h, hl);
        a->host[hl] = '\0';
        a->port = colon ? atoi(colon + 1) : RDS_DEFAULT_PORT;
        return a->port > 0 && a->port < 65536 ? 0 : -1;
    }
    return -1;
}

static redisContext *sync_connect(const struct addr *a)
{
    struct timeval tv = {RDS_SYNC_TIMEOUT_MS / 1000,
                         (RDS_SYNC_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = a->is_unix
                          ? redisConnectUnixWithTimeout(a->host, tv)
                          : redisConnectWithTimeout(a->host, a->port, tv);
    redisReply *r;

    if (!c || c->err)
        goto fail;
    r = redisCommand(c, "PING");
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r)
            freeReplyObject(r);
        goto fail;
    }
    freeReplyObject(r);
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Start redis-server on a unix socket under data_dir; returns its pid. */
static pid_t spawn_embedded(const struct config *cfg, const struct addr *a)
{
    char logfile[CONFIG_STR_MAX + 16];
    pid_t pid;
    redisContext *c;

    if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
        log_err("%s: cannot create the data directory: %s", cfg->data_dir,
                strerror(errno));
        return -1;
    }
    snprintf(logfile, sizeof logfile, "%s/redis.log", cfg->data_dir);
    unlink(a->host); /* a stale socket from a killed server */
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Its own session, so a terminal's Ctrl-C reaches chatd, which
         * then stops it in order. */
        setsid();
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket",
               a->host, "--unixsocketperm", "700", "--dir", cfg->data_dir,
               "--appendonly", "yes", "--appendfsync", cfg->redis_appendfsync,
               "--save", "", "--logfile", logfile, "--daemonize", "no",
               (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < RDS_SPAWN_WAIT_MS; waited += 50) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            log_err("embedded redis-server exited at start; see %s", logfile);
            return -1;
        }
        if ((c = sync_connect(a))) {
            redisFree(c);
            log_info("started embedded redis-server (pid %d) on %s", (int)pid,
                     a->host);
            return pid;
        }
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    log_err("embedded redis-server did not answer within %d ms",
            RDS_SPAWN_WAIT_MS);
    return -1;
}

static void stop_embedded(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int waited = 0; waited < RDS_STOP_WAIT_MS; waited += 20) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* The embedded server: use the one running on our data dir, or start it. */
static int ensure_embedded(const struct config *cfg, const struct addr *a,
                           pid_t *child)
{
    redisContext *c = sync_connect(a);

    *child = 0;
    if (c) {
        redisFree(c);
        return 0;
    }
    *child = spawn_embedded(cfg, a);
    return *child > 0 ? 0 : -1;
}

/* --- libuv event hooks for hiredis ----------------------------------- */

/* Ours rather than hiredis' adapters/libuv.h, for two reasons.  That adapter
 * ignores libuv's error events: a Redis that dies holding unread commands
 * resets the socket, epoll reports POLLERR, libuv stops the handle and says
 * UV_EBADF, and hiredis never hears of it - the context hangs with its
 * callbacks and we never reconnect.  And it re-arms epoll on every command;
 * ours queues the write and flushes every connected context once per loop
 * turn, just before libuv polls, so a burst of commands costs one write(2)
 * and no epoll_ctl(2). */
struct uvev {
    redisAsyncContext *ac; /* NULL once hiredis has let go of it */
    uv_poll_t poll;
    int armed;    /* UV_READABLE/UV_WRITABLE the poll handle waits for */
    int pending;  /* a write is queued for the next flush */
    int flushing; /* inside our own flush: hiredis wants more, so poll */
};

static void uvev_poll_cb(uv_poll_t *h, int status, int events);
static void forget(const redisAsyncContext *ac);
static void flush_cb(uv_prepare_t *h);

static void uvev_arm(struct uvev *e, int events)
{
    if (events == e->armed)
        return;
    e->armed = events;
    if (events)
        uv_poll_start(&e->poll, events, uvev_poll_cb);
    else
        uv_poll_stop(&e->poll);
}

static void uvev_poll_cb(uv_poll_t *h, int status, int events)
{
    struct uvev *e = h->data;

    if (status < 0) {
        /* libuv has stopped the handle.  A read tells hiredis why (and it
         * disconnects); if even that finds nothing, give the context up. */
        e->armed = 0;
        redisAsyncHandleRead(e->ac);
        if (e->ac) {
            redisAsyncContext *ac = e->ac;
            int connected = ac->c.flags & REDIS_CONNECTED;

            log_warn("redis: socket error (%s)", uv_strerror(status));
            redisAsyncFree(ac); /* connected: on_disconnect does the rest */
            if (!connected)
                forget(ac);
        }
        return;
    }
    if (events & UV_READABLE)
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(e->ac);
}

static void uvev_add_read(void *p)
{
    struct uvev *e = p;
    uvev_arm(e, e->armed | UV_READABLE);
}

static void uvev_del_read(void *p)
{
    struct uvev *e = p;
    uvev_arm(e, e->armed & ~UV_READABLE);
}

static void uvev_add_write(void *p)
{
    struct uvev *e = p;

    /* Until connected, writability is how hiredis learns the connect is
     * done; while flushing, it means the socket is full. Either way, poll. */
    if (!(e->ac->c.flags & REDIS_CONNECTED) || e->flushing || R.stopping) {
        uvev_arm(e, e->armed | UV_WRITABLE);
        return;
    }
    if (!(e->armed & UV_WRITABLE) && !e->pending) {
        e->pending = 1;
        uv_prepare_start(&R.flush, flush_cb);
    }
}

static void uvev_del_write(void *p)
{
    struct uvev *e = p;
    uvev_arm(e, e->armed & ~UV_WRITABLE);
}

static void uvev_free(uv_handle_t *h)
{
    free(h->data);
}

static void uvev_cleanup(void *p)
{
    struct uvev *e = p;

    e->ac = NULL;
    e->pending = 0;
    uv_close((uv_handle_t *)&e->poll, uvev_free);
}

static void flush_one(redisAsyncContext *ac)
{
    struct uvev *e = ac ? ac->ev.data : NULL;

    if (!e || !e->pending)
        return;
    e->pending = 0;
    e->flushing = 1;
    redisAsyncHandleWrite(ac); /* may free ac; e lives until uvev_free */
    e->flushing = 0;
}

static void flush_cb(uv_prepare_t *h)
{
    uv_prepare_stop(h); /* first: what pump() calls may start it again */
    pump(1);
    for (int i = 0; i < RDS_NCONN; i++)
        flush_one(R.ac[i]);
}

static int uvev_attach(redisAsyncContext *ac)
{
    struct uvev *e = calloc(1, sizeof *e);

    if (!e)
        return -1;
    if (uv_poll_init(R.loop, &e->poll, ac->c.fd) != 0) {
        free(e);
        return -1;
    }
    e->ac = ac;
    e->poll.data = e;
    ac->ev.data = e;
    ac->ev.addRead = uvev_add_read;
    ac->ev.delRead = uvev_del_read;
    ac->ev.addWrite = uvev_add_write;
    ac->ev.delWrite = uvev_del_write;
    ac->ev.cleanup = uvev_cleanup;
    return 0;
}

/* --- async connections ----------------------------------------------- */

static void connect_all(void);

static void retry_cb(uv_timer_t *t)
{
    (void)t;
    connect_all();
}

static void schedule_retry(void)
{
    if (R.stopping || uv_is_active((uv_handle_t *)&R.retry))
        return;
    uv_timer_start(&R.retry, retry_cb, (uint64_t)R.backoff_ms, 0);
    log_warn("redis: reconnecting in %d ms", R.backoff_ms);
    R.backoff_ms *= 2;
    if (R.backoff_ms > RDS_BACKOFF_MAX_MS)
        R.backoff_ms = RDS_BACKOFF_MAX_MS;
}

static void lost(void)
{
    int had = R.was_ready;

    R.ready = R.was_ready = 0;
    R.subscribed = 0;
    pump(1); /* before the disconnect: sent, or failed */
    /* Only connected contexts are disconnected here.  hiredis 0.14 frees a
     * context still connecting without calling our disconnect callback,
     * which would leave a dangling pointer that blocks every retry; such a
     * context reports through on_connect instead, which closes it if its
     * partner is gone. */
    for (int i = 0; i < RDS_NCONN; i++)
        if (R.ac[i] && R.up[i])
            redisAsyncDisconnect(R.ac[i]);
    if (had && R.hooks.on_lost)
        R.hooks.on_lost();
    schedule_retry();
}

static int all_up(void)
{
    for (int i = 0; i < RDS_NCONN; i++)
        if (!R.ac[i] || !R.up[i])
            return 0;
    return 1;
}

static int conn_index(const redisAsyncContext *ac)
{
    for (int i = 0; i < RDS_NCONN; i++)
        if (R.ac[i] == ac)
            return i;
    return -1;
}

static void check_ready(void)
{
    if (R.ready || !all_up() || R.scripts_pending || !R.subscribed)
        return;
    R.ready = R.was_ready = 1;
    R.backoff_ms = RDS_BACKOFF_MIN_MS;
    log_info("redis: ready");
    if (R.hooks.on_ready)
        R.hooks.on_ready();
}

static void script_loaded(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    long i = (long)priv;

    (void)ac;
    if (!reply)
        return;
    if (reply->type != REDIS_REPLY_STRING || reply->len != RDS_SHA_LEN - 1) {
        log_err("redis: SCRIPT LOAD %s failed: %s", lua_scripts[i].name,
                reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        return; /* never ready: the scripts are the routing rules */
    }
    memcpy(R.sha[i], reply->str, reply->len);
    R.sha[i][reply->len] = '\0';
    R.scripts_pending--;
    check_ready();
}

static void sub_message(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;

    (void)ac;
    (void)priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        R.subscribed = 1;
        check_ready();
    } else if (strcmp(reply->element[0]->str, "message") == 0 &&
               reply->element[2]->type == REDIS_REPLY_STRING &&
               R.hooks.on_event) {
        const char *p = reply->element[2]->str;
        const char *end = p + reply->element[2]->len;

        while (p < end) {
            const char *sep = memchr(p, RDS_EVENT_SEP, (size_t)(end - p));
            const char *stop = sep ? sep : end;

            if (stop > p)
                R.hooks.on_event(p, (size_t)(stop - p));
            p = stop + 1;
        }
    }
}

static void on_up(void)
{
    if (!all_up())
        return;
    /* Scripts are the server's: loaded on one lane, run on any. */
    R.scripts_pending = lua_nscripts;
    for (long i = 0; i < lua_nscripts; i++)
        redisAsyncCommand(R.ac[0], script_loaded, (void *)i, "SCRIPT LOAD %s",
                          lua_scripts[i].src);
    redisAsyncCommand(R.ac[RDS_SUB], sub_message, NULL, "SUBSCRIBE %s",
                      RDS_EVENT_CHANNEL);
}

/* A context hiredis frees without our disconnect callback. */
static void forget(const redisAsyncContext *ac)
{
    int i = conn_index(ac);

    if (i >= 0) {
        R.ac[i] = NULL;
        R.up[i] = 0;
    }
    lost();
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    int i = conn_index(ac);

    if (status != REDIS_OK || i < 0) {
        log_warn("redis: cannot connect: %s", ac->errstr);
        forget(ac); /* hiredis frees it after this callback */
        return;
    }
    R.up[i] = 1;
    for (int k = 0; k < RDS_NCONN; k++) {
        if (!R.ac[k] || R.stopping) {
            /* A partner failed meanwhile: start them all again. */
            redisAsyncDisconnect((redisAsyncContext *)ac);
            return;
        }
    }
    on_up();
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    int i = conn_index(ac);

    if (i >= 0) {
        R.ac[i] = NULL;
        R.up[i] = 0;
    }
    if (status != REDIS_OK && !R.stopping)
        log_warn("redis: connection lost: %s", ac->errstr);
    if (!R.stopping)
        lost();
}

static redisAsyncContext *open_async(const struct addr *a)
{
    redisAsyncContext *ac = a->is_unix ? redisAsyncConnectUnix(a->host)
                                       : redisAsyncConnect(a->host, a->port);
    if (!ac)
        return NULL;
    if (ac->err) {
        log_warn("redis: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    if (uvev_attach(ac) < 0) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void connect_all(void)
{
    struct addr a;

    if (R.stopping)
        return;
    for (int i = 0; i < RDS_NCONN; i++)
        if (R.ac[i])
            return; /* the old ones are still closing; their callback retries */
    parse_url(R.cfg, &a);
    if (!*R.cfg->redis_url) {
        /* The embedded server may have died: start it again, and own it. */
        pid_t child = 0;
        if (ensure_embedded(R.cfg, &a, &child) < 0) {
            schedule_retry();
            return;
        }
        if (child)
            R.child = child;
    }
    for (int i = 0; i < RDS_NCONN; i++) {
        if (!(R.ac[i] = open_async(&a))) {
            while (i-- > 0) {
                redisAsyncFree(R.ac[i]);
                R.ac[i] = NULL;
            }
            schedule_retry();
            return;
        }
    }
}

int rds_start(uv_loop_t *loop, const struct config *cfg,
              const struct rds_hooks *hooks)
{
    struct addr a;

    if (lua_nscripts > RDS_MAX_SCRIPTS)
        return -1;
    memset(&R, 0, sizeof R);
    R.loop = loop;
    R.cfg = cfg;
    R.hooks = *hooks;
    R.backoff_ms = RDS_BACKOFF_MIN_MS;
    R.failed_tail = &R.failed;
    if (parse_url(cfg, &a) < 0) {
        log_err("redis_url '%s' is not redis://host:port or unix:///path",
                cfg->redis_url);
        return -1;
    }
    uv_timer_init(loop, &R.retry);
    uv_prepare_init(loop, &R.flush);
    if (!*cfg->redis_url && ensure_embedded(cfg, &a, &R.child) < 0)
        return -1;
    connect_all();
    return 0;
}

void rds_stop(void)
{
    flush_cb(&R.flush); /* from now on writes go straight to the poll */
    R.stopping = 1;
    uv_timer_stop(&R.retry);
    uv_close((uv_handle_t *)&R.retry, NULL);
    uv_close((uv_handle_t *)&R.flush, NULL);
    for (int i = 0; i < RDS_NCONN; i++)
        if (R.ac[i])
            redisAsyncDisconnect(R.ac[i]);
}

/* Called after the loop has drained, so the embedded server outlives every
 * pending write. */
void rds_stop_embedded(void)
{
    stop_embedded(R.child);
    R.child = 0;
}

int rds_ready(void)
{
    return R.ready;
}

/* --- ordering ----------------------------------------------------------
 *
 * Calls reach Redis in the order they are made, as seen by any one client:
 * a batched call goes on the lane its route picks (one conversation, one
 * lane, so one connection keeps its calls in order), every other command
 * on lane 0.  The calls are kept as runs (struct seg) of one kind, in call
 * order.  A run of commands is sent only once every batch sent before it on
 * another lane has its reply; a run of batched calls only once every
 * command before it has its reply.  Runs of one kind in a row go together,
 * so under a steady stream of messages nothing waits; a command among them
 * costs the messages after it one round trip.  The last run of batched
 * calls is sent once per loop turn (flush_cb), so each batch holds what the
 * turn brought. */

static void seg_free(struct seg *g)
{
    for (int l = 0; l < RDS_LANES; l++) {
        free(g->lane[l].calls);
        free(g->lane[l].buf);
    }
    while (g->cmds) {
        struct cmdq *c = g->cmds;
        g->cmds = c->next;
        free(c->sent);
        free(c);
    }
    free(g);
}

static struct seg *seg_new(int is_cmds)
{
    struct seg *g = calloc(1, sizeof *g);

    if (!g)
        return NULL;
    g->is_cmds = is_cmds;
    g->cmds_tail = &g->cmds;
    for (int l = 0; l < RDS_LANES; l++)
        g->lane[l].script = -1;
    if (R.qtail)
        R.qtail->next = g;
    else
        R.q = g;
    R.qtail = g;
    return g;
}

/* The run a new call of this kind joins. */
static struct seg *seg_tail(int is_cmds)
{
    struct seg *g = R.qtail;

    return g && !g->sent && g->is_cmds == is_cmds ? g : seg_new(is_cmds);
}

static void report_failed(struct sent *t)
{
    t->next = NULL;
    *R.failed_tail = t;
    R.failed_tail = &t->next;
}

/* The reply of one command or batch: each call gets its own share. */
static void reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct sent *t = priv;
    redisReply *reply = r;
    int split = 0;

    (void)ac;
    if (t->seg) { /* answered: first, as the callbacks may pump */
        t->seg->waiting--;
        if (t->lane > 0)
            t->seg->waiting_lanes--;
    }
    if (t->batched) {
        split = reply && reply->type == REDIS_REPLY_ARRAY &&
                reply->elements == (size_t)t->ncalls;
        if (reply && !split && reply->type != REDIS_REPLY_ERROR) {
            log_err("redis: a batched script gave %d calls a reply of type %d",
                    t->ncalls, reply->type);
            reply = NULL; /* each call fails as if Redis had gone */
        }
    }
    for (int i = 0; i < t->ncalls; i++)
        if (t->calls[i].cb)
            t->calls[i].cb(split ? reply->element[i] : reply, t->calls[i].priv);
    free(t);
    if (ac)
        pump(0);
}

/* Hand one formatted command to hiredis on a lane, or report it failed. */
static void seg_put(struct seg *g, int lane, struct sent *t, const char *cmd,
                    size_t len)
{
    redisAsyncContext *ac = R.ac[lane];

    t->seg = g;
    t->lane = lane;
    if (ac && R.up[lane] &&
        redisAsyncFormattedCommand(ac, reply_cb, t, cmd, len) == REDIS_OK) {
        g->waiting++;
        if (lane > 0)
            g->waiting_lanes++;
        return;
    }
    t->seg = NULL;
    report_failed(t);
}

static void batch_send(struct seg *g, int lane)
{
    struct batch *b = &g->lane[lane];
    struct sent *t;
    char head[RDS_BATCH_HEAD_MAX];
    int hl;

    if (b->ncalls == 0)
        return;
    t = malloc(sizeof *t + (size_t)b->ncalls * sizeof t->calls[0]);
    if (!t) {
        log_err("redis: a batch of %d calls was lost", b->ncalls);
        return;
    }
    t->batched = 1;
    t->ncalls = b->ncalls;
    memcpy(t->calls, b->calls, (size_t)b->ncalls * sizeof t->calls[0]);
    b->ncalls = 0;
    /* A SHA1 in hex is 40 characters (script_loaded checked it). */
    hl = snprintf(head, sizeof head,
                  "*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%.40s\r\n$1\r\n0\r\n",
                  b->argc + 3, R.sha[b->script]);
    if (hl <= 0 || hl > RDS_BATCH_HEAD_MAX) {
        t->seg = NULL;
        report_failed(t);
        return;
    }
    memcpy(b->buf + RDS_BATCH_HEAD_MAX - hl, head, (size_t)hl);
    seg_put(g, lane, t, b->buf + RDS_BATCH_HEAD_MAX - hl,
            b->len - RDS_BATCH_HEAD_MAX + (size_t)hl);
}

static void seg_send(struct seg *g)
{
    g->sent = 1;
    if (!g->is_cmds) {
        for (int l = 0; l < RDS_LANES; l++)
            batch_send(g, l);
        return;
    }
    while (g->cmds) {
        struct cmdq *c = g->cmds;
        g->cmds = c->next;
        seg_put(g, 0, c->sent, c->cmd, c->len);
        free(c);
    }
}

/* Send every run whose turn has come, drop the answered ones, then report
 * what could not be sent.  flush: the last run of batched calls goes too. */
static void pump(int flush)
{
    int cmds_before, lanes_before;

    if (R.pumping) {
        R.repump |= 1 | (flush << 1);
        return;
    }
    R.pumping = 1;
    do {
        flush |= R.repump >> 1;
        R.repump = 0;
        while (R.q && R.q->sent && R.q->waiting == 0) {
            struct seg *g = R.q;
            if (!(R.q = g->next))
                R.qtail = NULL;
            seg_free(g);
        }
        cmds_before = lanes_before = 0;
        for (struct seg *g = R.q; g; g = g->next) {
            if (!g->sent) {
                if (g->is_cmds ? lanes_before : cmds_before)
                    break;
                if (!g->is_cmds && g == R.qtail && !flush)
                    break;
                seg_send(g);
            }
            if (g->is_cmds)
                cmds_before |= g->waiting > 0;
            else
                lanes_before |= g->waiting_lanes > 0;
        }
        while (R.failed) {
            struct sent *t = R.failed;
            if (!(R.failed = t->next))
                R.failed_tail = &R.failed;
            reply_cb(NULL, NULL, t); /* may call again: repump */
        }
    } while (R.repump);
    R.pumping = 0;
    /* Batched calls held back by a command: the next turn sends them. */
    if (R.qtail && !R.qtail->sent && !R.qtail->is_cmds && !R.stopping)
        uv_prepare_start(&R.flush, flush_cb);
}

/* --- commands --------------------------------------------------------- */

static int cmd_queue(rds_cb cb, void *priv, char *cmd, int len)
{
    struct seg *g;
    struct sent *t = NULL;
    struct cmdq *c = NULL;

    if (len <= 0 || !R.up[0] || !R.ac[0])
        goto fail;
    if (!(t = malloc(sizeof *t + sizeof t->calls[0])) ||
        !(c = malloc(sizeof *c + (size_t)len)) || !(g = seg_tail(1)))
        goto fail;
    t->seg = NULL;
    t->batched = 0;
    t->ncalls = 1;
    t->calls[0].cb = cb;
    t->calls[0].priv = priv;
    c->next = NULL;
    c->sent = t;
    c->len = (size_t)len;
    memcpy(c->cmd, cmd, (size_t)len);
    *g->cmds_tail = c;
    g->cmds_tail = &c->next;
    redisFreeCommand(cmd);
    pump(0);
    return 0;
fail:
    free(t);
    free(c);
    if (len > 0)
        redisFreeCommand(cmd);
    return -1;
}

int rds_cmd(rds_cb cb, void *priv, int argc, const char **argv,
            const size_t *lens)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

    return cmd_queue(cb, priv, cmd, len);
}

int rds_cmdf(rds_cb cb, void *priv, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return cmd_queue(cb, priv, cmd, len);
}

#define RDS_SCRIPT_MAX_ARGS 32

static int script_index(const char *name)
{
    for (int i = 0; i < lua_nscripts; i++)
        if (strcmp(lua_scripts[i].name, name) == 0)
            return i;
    log_err("no Lua script named %s", name);
    return -1;
}

int rds_script(const char *name, rds_cb cb, void *priv, int argc,
               const char **argv, const size_t *lens)
{
    const char *av[RDS_SCRIPT_MAX_ARGS + 3];
    size_t al[RDS_SCRIPT_MAX_ARGS + 3];
    int i;

    if (!R.ready || argc > RDS_SCRIPT_MAX_ARGS || (i = script_index(name)) < 0)
        return -1;
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = R.sha[i];
    al[1] = strlen(R.sha[i]);
    av[2] = "0";
    al[2] = 1;
    for (int k = 0; k < argc; k++) {
        av[k + 3] = argv[k];
        al[k + 3] = lens ? lens[k] : strlen(argv[k]);
    }
    return rds_cmd(cb, priv, argc + 3, av, al);
}

/* --- batched script calls --------------------------------------------- */

/* Append one RESP bulk string to a batch's buffer. */
static int batch_put(struct batch *b, const char *s, size_t len)
{
    char head[32];
    int hl = snprintf(head, sizeof head, "$%zu\r\n", len);
    size_t need = (size_t)hl + len + 2;

    if (hl <= 0 || (size_t)hl >= sizeof head)
        return -1;
    if (b->cap < b->len + need) {
        size_t cap = b->cap ? b->cap : RDS_BATCH_BUF_MIN;
        char *nb;
        while (cap < b->len + need)
            cap *= 2;
        if (!(nb = realloc(b->buf, cap)))
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, head, (size_t)hl);
    memcpy(b->buf + b->len + hl, s, len);
    memcpy(b->buf + b->len + hl + len, "\r\n", 2);
    b->len += need;
    return 0;
}

static int route_lane(const char *route)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)route; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (int)(h % RDS_LANES);
}

int rds_script_batched(const char *name, const char *route, rds_cb cb,
                       void *priv, int argc, const char **argv,
                       const size_t *lens)
{
    int i, lane = route_lane(route);
    struct seg *g;
    struct batch *b;
    size_t mark;

    if (!R.ready || argc < 1 || argc > RDS_SCRIPT_MAX_ARGS ||
        (i = script_index(name)) < 0 || !(g = seg_tail(0)))
        return -1;
    b = &g->lane[lane];
    if (b->ncalls > 0 && (b->script != i || b->ncalls == RDS_BATCH_MAX_CALLS ||
                          b->len - RDS_BATCH_HEAD_MAX >= RDS_BATCH_MAX_BYTES)) {
        /* Full: this run is closed, the call starts the next. */
        if (!(g = seg_new(0)))
            return -1;
        b = &g->lane[lane];
    }
    if (b->ncalls == b->calls_cap) {
        int cap = b->calls_cap ? b->calls_cap * 2 : 16;
        struct batch_call *nc = realloc(b->calls, (size_t)cap * sizeof *nc);
        if (!nc)
            return -1;
        b->calls = nc;
        b->calls_cap = cap;
    }
    if (b->len < RDS_BATCH_HEAD_MAX)
        b->len = RDS_BATCH_HEAD_MAX;
    mark = b->len;
    for (int k = 0; k < argc; k++) {
        if (batch_put(b, argv[k], lens ? lens[k] : strlen(argv[k])) < 0) {
            b->len = mark; /* this call's arguments only */
            return -1;
        }
    }
    b->script = i;
    b->argc += argc;
    b->calls[b->ncalls].cb = cb;
    b->calls[b->ncalls].priv = priv;
    b->ncalls++;
    if (R.stopping)
        pump(1); /* the flush handle is closed */
    else
        uv_prepare_start(&R.flush, flush_cb);
    return 0;
}

int rds_publish(const char *payload, size_t len)
{
    const char *av[3] = {"PUBLISH", RDS_EVENT_CHANNEL, payload};
    size_t al[3] = {7, strlen(RDS_EVENT_CHANNEL), len};

    return rds_cmd(NULL, NULL, 3, av, al);
}

/* --- blocking access for the command line ---------------------------- */

redisContext *rds_sync_open(const struct config *cfg, int *spawned)
{
    struct addr a;
    pid_t child = 0;
    redisContext *c;

    *spawned = 0;
    if (parse_url(cfg, &a) < 0) {
        fprintf(stderr, "redis_url '%s' is not valid\n", cfg->redis_url);
        return NULL;
    }
    if (!*cfg->redis_url && ensure_embedded(cfg, &a, &child) < 0)
        return NULL;
    *spawned = (int)child;
    if (!(c = sync_connect(&a))) {
        fprintf(stderr, "cannot connect to Redis at %s\n", a.host);
        stop_embedded(child);
        *spawned = 0;
    }
    return c;
}

void rds_sync_close(redisContext *c, const struct config *cfg, int spawned)
{
    (void)cfg;
    if (c)
        redisFree(c);
    stop_embedded((pid_t)spawned);
}
