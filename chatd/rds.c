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
/* A batched script call (rds_script_batched) holds at most this many calls
 * and, past this many bytes of ARGV, takes no further call: the script
 * runs atomically, so a batch is also how long other clients wait.  128
 * messages are about 45 KiB and 2 ms of Redis' time. */
#define RDS_BATCH_MAX_CALLS 128
#define RDS_BATCH_MAX_BYTES (64 * 1024)
/* Room kept before the batch's ARGV for its "*<n> EVALSHA <sha> 0" header,
 * written there when it is sent, so the command is never copied whole. */
#define RDS_BATCH_HEAD_MAX 128
#define RDS_BATCH_BUF_MIN  (16 * 1024) /* the batch buffer's first size */

struct batch_call {
    rds_cb cb;
    void *priv;
};

/* The calls of one sent batch, until its reply. */
struct batch_reply {
    int ncalls;
    struct batch_call calls[];
};

static struct {
    uv_loop_t *loop;
    const struct config *cfg;
    struct rds_hooks hooks;
    redisAsyncContext *cmd, *sub;
    int cmd_up, sub_up, scripts_pending, subscribed, ready, was_ready;
    int stopping;
    char sha[RDS_MAX_SCRIPTS][RDS_SHA_LEN];
    uv_timer_t retry;
    uv_prepare_t flush;     /* writes queued commands once per loop turn */
    uv_timer_t group;       /* sends a held batch (batch_hold) */
    uint64_t batch_sent_us; /* uv_hrtime of the last batch sent, in us */
    int backoff_ms;
    pid_t child; /* embedded redis-server we started, or 0 */
    struct {
        int script; /* lua_scripts index; -1 when no call is waiting */
        int argc;   /* ARGV entries so far */
        int ncalls;
        struct batch_call calls[RDS_BATCH_MAX_CALLS];
        char *buf; /* RDS_BATCH_HEAD_MAX bytes, then the ARGV as RESP */
        size_t len, cap;
    } batch;
} R;

static void batch_send(void);

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

static void group_cb(uv_timer_t *t)
{
    (void)t;
    batch_send();
    uv_prepare_start(&R.flush, flush_cb); /* writes it this loop turn */
}

/* Group commit.  With appendfsync always, Redis fdatasyncs once per turn
 * of its loop.  Batches sent every loop turn under load keep the disk
 * flushing without a pause, one or two messages a flush, and each flush
 * then takes longer.  So once a batch has gone, the next waits until
 * store_group_us has passed since; one that finds the line quiet for that
 * long goes at once.  At 5,000 messages/s on the bench machine, 1000 us
 * against 0 took p99 from 7.2-8.5 ms to 3.9-5.5 ms and Redis's CPU a
 * message from 69-116 us to 49-64 (docs/performance.md).  Returns 1 when
 * the batch is held. */
static int batch_hold(void)
{
    uint64_t gap_us = (uint64_t)R.cfg->store_group_us, since;

    if (!gap_us || R.batch.ncalls == 0 || R.stopping)
        return 0;
    since = uv_hrtime() / 1000 - R.batch_sent_us;
    if (since >= gap_us)
        return 0;
    if (!uv_is_active((uv_handle_t *)&R.group)) /* libuv counts whole ms */
        uv_timer_start(&R.group, group_cb, (gap_us - since + 999) / 1000, 0);
    return 1;
}

static void flush_cb(uv_prepare_t *h)
{
    /* A held batch keeps h running, so the first loop turn past the gap
     * sends it: under load that is well before the timer's next ms. */
    if (!batch_hold()) {
        batch_send(); /* may start h again: stopped after */
        uv_prepare_stop(h);
    }
    flush_one(R.cmd);
    flush_one(R.sub);
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
    batch_send(); /* before the disconnect, so its replies come first */
    /* Only connected contexts are disconnected here.  hiredis 0.14 frees a
     * context still connecting without calling our disconnect callback,
     * which would leave a dangling pointer that blocks every retry; such a
     * context reports through on_connect instead, which closes it if its
     * partner is gone. */
    if (R.cmd && R.cmd_up)
        redisAsyncDisconnect(R.cmd);
    if (R.sub && R.sub_up)
        redisAsyncDisconnect(R.sub);
    if (had && R.hooks.on_lost)
        R.hooks.on_lost();
    schedule_retry();
}

static void check_ready(void)
{
    if (R.ready || !R.cmd_up || !R.sub_up || R.scripts_pending || !R.subscribed)
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
        R.hooks.on_event(reply->element[2]->str, reply->element[2]->len);
    }
}

static void on_up(void)
{
    if (!R.cmd_up || !R.sub_up)
        return;
    R.scripts_pending = lua_nscripts;
    for (long i = 0; i < lua_nscripts; i++)
        redisAsyncCommand(R.cmd, script_loaded, (void *)i, "SCRIPT LOAD %s",
                          lua_scripts[i].src);
    redisAsyncCommand(R.sub, sub_message, NULL, "SUBSCRIBE %s",
                      RDS_EVENT_CHANNEL);
}

/* A context hiredis frees without our disconnect callback. */
static void forget(const redisAsyncContext *ac)
{
    if (ac == R.cmd)
        R.cmd = NULL;
    else if (ac == R.sub)
        R.sub = NULL;
    lost();
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    int is_cmd = ac == R.cmd;

    if (status != REDIS_OK) {
        log_warn("redis: cannot connect: %s", ac->errstr);
        forget(ac); /* hiredis frees it after this callback */
        return;
    }
    if (is_cmd)
        R.cmd_up = 1;
    else
        R.sub_up = 1;
    if (!R.cmd || !R.sub || R.stopping) {
        /* Its partner failed meanwhile: start the pair again. */
        redisAsyncDisconnect((redisAsyncContext *)ac);
        return;
    }
    on_up();
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    if (ac == R.cmd) {
        R.cmd = NULL;
        R.cmd_up = 0;
    } else {
        R.sub = NULL;
        R.sub_up = 0;
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

    if (R.stopping || R.cmd || R.sub)
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
    R.cmd = open_async(&a);
    R.sub = R.cmd ? open_async(&a) : NULL;
    if (!R.cmd || !R.sub) {
        if (R.cmd)
            redisAsyncFree(R.cmd);
        R.cmd = NULL;
        schedule_retry();
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
    R.batch.script = -1;
    if (parse_url(cfg, &a) < 0) {
        log_err("redis_url '%s' is not redis://host:port or unix:///path",
                cfg->redis_url);
        return -1;
    }
    uv_timer_init(loop, &R.retry);
    uv_timer_init(loop, &R.group);
    uv_prepare_init(loop, &R.flush);
    if (!*cfg->redis_url && ensure_embedded(cfg, &a, &R.child) < 0)
        return -1;
    connect_all();
    return 0;
}

void rds_stop(void)
{
    batch_send();       /* a held batch (batch_hold) goes now */
    flush_cb(&R.flush); /* from now on writes go straight to the poll */
    R.stopping = 1;     /* and nothing is held */
    free(R.batch.buf);
    R.batch.buf = NULL;
    R.batch.len = R.batch.cap = 0;
    uv_timer_stop(&R.retry);
    uv_timer_stop(&R.group);
    uv_close((uv_handle_t *)&R.retry, NULL);
    uv_close((uv_handle_t *)&R.group, NULL);
    uv_close((uv_handle_t *)&R.flush, NULL);
    if (R.cmd)
        redisAsyncDisconnect(R.cmd);
    if (R.sub)
        redisAsyncDisconnect(R.sub);
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

/* hiredis calls back with (ac, reply, priv); ours take (reply, priv). */
struct trampoline {
    rds_cb cb;
    void *priv;
};

static void trampoline(redisAsyncContext *ac, void *reply, void *priv)
{
    struct trampoline *t = priv;

    (void)ac;
    if (t->cb)
        t->cb(reply, t->priv);
    free(t);
}

static struct trampoline *trampoline_new(rds_cb cb, void *priv)
{
    struct trampoline *t;

    if (!R.cmd_up || !R.cmd || !(t = malloc(sizeof *t)))
        return NULL;
    t->cb = cb;
    t->priv = priv;
    return t;
}

int rds_cmd(rds_cb cb, void *priv, int argc, const char **argv,
            const size_t *lens)
{
    struct trampoline *t;

    batch_send(); /* what was called before goes before */
    if (!(t = trampoline_new(cb, priv)))
        return -1;
    if (redisAsyncCommandArgv(R.cmd, trampoline, t, argc, argv, lens) !=
        REDIS_OK) {
        free(t);
        return -1;
    }
    return 0;
}

int rds_cmdf(rds_cb cb, void *priv, const char *fmt, ...)
{
    struct trampoline *t;
    va_list ap;
    int r;

    batch_send(); /* what was called before goes before */
    if (!(t = trampoline_new(cb, priv)))
        return -1;
    va_start(ap, fmt);
    r = redisvAsyncCommand(R.cmd, trampoline, t, fmt, ap);
    va_end(ap);
    if (r != REDIS_OK) {
        free(t);
        return -1;
    }
    return 0;
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

/* --- batched script calls ------------------------------------------- */

static void batch_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct batch_reply *br = priv;
    redisReply *reply = r;
    int split = reply && reply->type == REDIS_REPLY_ARRAY &&
                reply->elements == (size_t)br->ncalls;

    (void)ac;
    if (reply && !split && reply->type != REDIS_REPLY_ERROR) {
        log_err("redis: a batched script gave %d calls a reply of type %d",
                br->ncalls, reply->type);
        reply = NULL; /* each call fails as if Redis had gone */
    }
    for (int i = 0; i < br->ncalls; i++)
        if (br->calls[i].cb)
            br->calls[i].cb(split ? reply->element[i] : reply,
                            br->calls[i].priv);
    free(br);
}

/* Hand the waiting batch to hiredis, or fail its calls if it cannot go. */
static void batch_send(void)
{
    struct batch_reply *br;
    char head[RDS_BATCH_HEAD_MAX];
    int n = R.batch.ncalls, hl, sent = 0;

    if (n == 0)
        return;
    uv_timer_stop(&R.group);
    R.batch_sent_us = uv_hrtime() / 1000;
    /* Detached first: a failing call's callback may call again. */
    br = malloc(sizeof *br + (size_t)n * sizeof br->calls[0]);
    if (br) {
        br->ncalls = n;
        memcpy(br->calls, R.batch.calls, (size_t)n * sizeof br->calls[0]);
    }
    R.batch.ncalls = 0;
    /* A SHA1 in hex is 40 characters (script_loaded checked it). */
    hl = snprintf(head, sizeof head,
                  "*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%.40s\r\n$1\r\n0\r\n",
                  R.batch.argc + 3, R.sha[R.batch.script]);
    if (br && hl > 0 && hl <= RDS_BATCH_HEAD_MAX && R.cmd && R.cmd_up) {
        char *cmd = R.batch.buf + RDS_BATCH_HEAD_MAX - hl;
        memcpy(cmd, head, (size_t)hl);
        sent = redisAsyncFormattedCommand(R.cmd, batch_reply_cb, br, cmd,
                                          R.batch.len - RDS_BATCH_HEAD_MAX +
                                              (size_t)hl) == REDIS_OK;
    }
    R.batch.script = -1;
    R.batch.argc = 0;
    R.batch.len = RDS_BATCH_HEAD_MAX;
    if (!sent && br)
        batch_reply_cb(NULL, NULL, br);
    else if (!sent) /* no memory even to tell them one by one */
        log_err("redis: a batch of %d calls was lost", n);
}

/* Append one RESP bulk string to the batch's buffer. */
#define RDS_SIZE_DIGITS_MAX 20 /* decimal digits of the largest size_t */

/* "$<len>\r\n" into head, without printf: it runs for every argument of
 * every message.  Returns its length. */
static size_t bulk_head(char head[RDS_SIZE_DIGITS_MAX + 3], size_t len)
{
    char digits[RDS_SIZE_DIGITS_MAX];
    size_t n = 0, hl = 0;

    do {
        digits[n++] = (char)('0' + len % 10);
        len /= 10;
    } while (len && n < sizeof digits);
    head[hl++] = '$';
    while (n)
        head[hl++] = digits[--n];
    head[hl++] = '\r';
    head[hl++] = '\n';
    return hl;
}

static int batch_put(const char *s, size_t len)
{
    char head[RDS_SIZE_DIGITS_MAX + 3];
    size_t hl = bulk_head(head, len);
    size_t need = hl + len + 2;

    if (R.batch.cap < R.batch.len + need) {
        size_t cap = R.batch.cap ? R.batch.cap : RDS_BATCH_BUF_MIN;
        char *nb;
        while (cap < R.batch.len + need)
            cap *= 2;
        if (!(nb = realloc(R.batch.buf, cap)))
            return -1;
        R.batch.buf = nb;
        R.batch.cap = cap;
    }
    memcpy(R.batch.buf + R.batch.len, head, hl);
    memcpy(R.batch.buf + R.batch.len + hl, s, len);
    memcpy(R.batch.buf + R.batch.len + hl + len, "\r\n", 2);
    R.batch.len += need;
    return 0;
}

int rds_script_batched(const char *name, rds_cb cb, void *priv, int argc,
                       const char **argv, const size_t *lens)
{
    size_t mark;
    int i;

    if (!R.ready || argc < 1 || argc > RDS_SCRIPT_MAX_ARGS ||
        (i = script_index(name)) < 0)
        return -1;
    if (R.batch.ncalls > 0 &&
        (R.batch.script != i || R.batch.ncalls == RDS_BATCH_MAX_CALLS ||
         R.batch.len - RDS_BATCH_HEAD_MAX >= RDS_BATCH_MAX_BYTES))
        batch_send();
    if (R.batch.len < RDS_BATCH_HEAD_MAX)
        R.batch.len = RDS_BATCH_HEAD_MAX;
    mark = R.batch.len;
    for (int k = 0; k < argc; k++) {
        if (batch_put(argv[k], lens ? lens[k] : strlen(argv[k])) < 0) {
            R.batch.len = mark; /* this call's arguments only */
            return -1;
        }
    }
    R.batch.script = i;
    R.batch.argc += argc;
    R.batch.calls[R.batch.ncalls].cb = cb;
    R.batch.calls[R.batch.ncalls].priv = priv;
    R.batch.ncalls++;
    if (R.stopping)
        batch_send(); /* the flush handle is closed */
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
