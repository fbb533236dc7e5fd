/*
 * loadgen.c - load generator for chatd (protocol v1) and bench/echo.
 *
 * One thread, epoll, non-blocking sockets, a minimal RFC 6455 client:
 * HTTP upgrade, client-masked text frames, unfragmented server frames.
 * Connections are spread over several 127.0.0.x source addresses (bind()
 * before connect()).  Every message carries its send time as
 * "t=<CLOCK_MONOTONIC ns>" at the head of its text; latency is taken at
 * the receiver.  Only loopback addresses are ever contacted.
 *
 * Modes (--mode):
 *   idle     N parents: hello, start "hi", wait for queued; hold them
 *            (--hold S: keep them S seconds more after printing, as the
 *            waiting crowd under another loadgen's latency run)
 *   relay    P parents chatting with A advisers; parents send as fast as a
 *            window of unacknowledged messages allows; msgs/s at advisers
 *   latency  the same pairs, paced at --rate msgs/s in total; p50/p99
 *   pairing  A advisers available, then P parents start over --spread-ms;
 *            start -> connected p50/p99
 *   echo     P connections to bench/echo; window-bounded like relay;
 *            msgs/s returned to the sender
 *
 * Prints one JSON object on standard output.  Progress goes to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_EVENTS  1024
#define RBUF_MIN    4096
#define MAX_PENDING 256 /* connections handshaking at once */
#define TEXT_BYTES  100 /* a message's text, about */
#define WS_KEY      "dGhlIHNhbXBsZSBub25jZQ=="
#define COOKIE_MAX  200
#define CONV_MAX    64
#define MAX_CONVS   8

enum mode { M_IDLE, M_RELAY, M_LATENCY, M_PAIRING, M_ECHO };
enum role { R_PARENT, R_ADVISER, R_ECHO };
enum st {
    S_IDLE,       /* not started */
    S_LOGIN,      /* adviser: POST /api/login in progress */
    S_CONNECTING, /* TCP connect in progress */
    S_HANDSHAKE,  /* upgrade sent, waiting for 101 */
    S_OPEN,
    S_DONE, /* closed */
};
enum pstate { P_NONE, P_WELCOMED, P_QUEUED, P_CHATTING };

struct conn {
    int fd;
    int idx;
    enum role role;
    enum st st;
    char *rb;
    size_t rlen, rcap;
    char *wb;
    size_t wlen, woff, wcap;
    int pollout;
    /* parent */
    enum pstate ps;
    int inflight;
    uint64_t nsent;
    int64_t t_start; /* start sent (ns) */
    int64_t t_sched; /* pairing: when to open */
    /* adviser */
    char name[32];
    char cookie[COOKIE_MAX];
    int avail_ok;
    int nconvs;
    char convs[MAX_CONVS][CONV_MAX];
    uint64_t nreplies;
    int dirty; /* on the flush list */
};

static struct {
    enum mode mode;
    int port, adv_port;
    int parents, advisers, capacity, window, nsrc;
    double duration, warmup, rate, spread_ms, timeout, hold;
    int reply_every;
    const char *prefix, *password, *cookies;
    int pid; /* chatd, for RSS/CPU */
    int pid2, redis_pid;
} O = {
    .mode = M_RELAY,
    .port = 8080,
    .adv_port = 0,
    .parents = 400,
    .advisers = 50,
    .capacity = 8,
    .window = 4,
    .nsrc = 8,
    .duration = 10,
    .warmup = 2,
    .rate = 5000,
    .spread_ms = 1000,
    .timeout = 120,
    .reply_every = 0,
    .prefix = "bench",
    .password = "pw-123456",
    .cookies = NULL,
};

static int ep;
static int *dirty_list, ndirty;
static struct conn *conns;
static int nconns;
static int pending; /* handshaking */
static int64_t t_begin;

/* results */
static uint64_t delivered, delivered_win, sent_total, acks, errors_seen;
static uint64_t closed_unexpected, connect_fail, replies_recv;
static char first_error[200];
static int64_t *lat;
static size_t nlat, lat_cap;
static int64_t *lat2; /* adviser -> parent */
static size_t nlat2, lat2_cap;
static int measuring, relay_on;
static int n_queued, n_chatting, n_avail, n_open, n_assigned;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen[%6.2fs]: ", (double)(now_ns() - t_begin) / 1e9);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void lat_add(int64_t **arr, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 65536;
        int64_t *na = realloc(*arr, nc * sizeof *na);
        if (!na)
            return;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(int64_t *arr, size_t n, double p)
{
    size_t i;
    if (!n)
        return -1;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)arr[i] / 1e6;
}

/* --- /proc --------------------------------------------------------------- */

static long rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* utime+stime in clock ticks */
static long long cpu_ticks(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')))
        return -1;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* The whole machine's CPU in clock ticks, from /proc/stat's first line:
 * busy (user, nice, system, irq, softirq, steal) into *busy, and every
 * tick (busy + idle + iowait) returned; -1 when it cannot be read.  What
 * the three processes' own figures leave out (the kernel's threads, a
 * rewrite child, anything else on the machine) shows here. */
static long long machine_ticks(long long *busy)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int n;

    if (!f)
        return -1;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return -1;
    *busy = (long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
    return *busy + (long long)(v[3] + v[4]);
}

/* --- sockets and buffers ----------------------------------------------------
 */

static void set_events(struct conn *c, int out)
{
    struct epoll_event ev;
    if (c->fd < 0 || c->pollout == out)
        return;
    c->pollout = out;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.u32 = (uint32_t)c->idx;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c, int expected)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->st == S_CONNECTING || c->st == S_HANDSHAKE || c->st == S_LOGIN)
        pending--;
    if (c->st == S_OPEN)
        n_open--;
    if (!expected && c->st != S_DONE)
        closed_unexpected++;
    if (c->role == R_PARENT && c->ps == P_QUEUED)
        n_queued--;
    if (c->role == R_PARENT && c->ps == P_CHATTING)
        n_chatting--;
    c->ps = P_NONE;
    c->fd = -1;
    c->st = S_DONE;
    c->wlen = c->woff = 0;
    c->rlen = 0;
}

static void wb_append(struct conn *c, const void *p, size_t n)
{
    if (c->wlen + n > c->wcap) {
        size_t nc = c->wcap ? c->wcap : 1024;
        while (nc < c->wlen + n)
            nc *= 2;
        char *nb = realloc(c->wb, nc);
        if (!nb)
            die("out of memory");
        c->wb = nb;
        c->wcap = nc;
    }
    memcpy(c->wb + c->wlen, p, n);
    c->wlen += n;
}

static void flush(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wb + c->woff, c->wlen - c->woff);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, 1);
                return;
            }
            if (errno == EINTR)
                continue;
            conn_close(c, 0);
            return;
        }
        c->woff += (size_t)n;
    }
    c->wlen = c->woff = 0;
    if (c->st != S_CONNECTING)
        set_events(c, 0);
}

/* One client text (or control) frame, masked. */
static void ws_frame(struct conn *c, int opcode, const char *p, size_t n)
{
    unsigned char h[14];
    static const unsigned char mk[4] = {0x5a, 0x13, 0xc7, 0x2e};
    size_t hl = 2, start;

    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(h + hl, mk, 4);
    hl += 4;
    wb_append(c, h, hl);
    start = c->wlen;
    wb_append(c, p, n);
    for (size_t i = 0; i < n; i++)
        c->wb[start + i] ^= (char)mk[i & 3];
}

static void ws_text(struct conn *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        die("frame too long");
    ws_frame(c, 1, buf, (size_t)n);
}

/* A message's text: its send time, then plain words to ~TEXT_BYTES. */
static void msg_text(char *out, size_t outlen, int64_t t, int who, uint64_t n)
{
    static const char filler[] =
        "hello, my son keeps waking in the night and we are not sure what "
        "to do about bedtime routines and school mornings at all";
    int k = snprintf(out, outlen, "t=%lld p=%d n=%llu ", (long long)t, who,
                     (unsigned long long)n);
    size_t want = TEXT_BYTES > (size_t)k ? TEXT_BYTES - (size_t)k : 0;
    if (want > sizeof filler - 1)
        want = sizeof filler - 1;
    if ((size_t)k + want + 1 > outlen)
        want = outlen - (size_t)k - 1;
    memcpy(out + k, filler, want);
    out[k + want] = '\0';
}

static struct sockaddr_in dst_addr(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    return a;
}

static int conn_port(const struct conn *c)
{
    return c->role == R_ADVISER && O.adv_port ? O.adv_port : O.port;
}

static void conn_open(struct conn *c, enum st next)
{
    struct sockaddr_in src, dst = dst_addr(conn_port(c));
    struct epoll_event ev;
    int one = 1, fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        connect_fail++;
        c->st = S_DONE;
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    /* 127.0.0.2 .. 127.0.0.(1+nsrc): loopback only */
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(c->idx % O.nsrc));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        close(fd);
        connect_fail++;
        c->st = S_DONE;
        return;
    }
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 &&
        errno != EINPROGRESS) {
        close(fd);
        connect_fail++;
        c->st = S_DONE;
        return;
    }
    c->fd = fd;
    c->st = next == S_LOGIN ? S_LOGIN : S_CONNECTING;
    c->rlen = 0;
    c->wlen = c->woff = 0;
    c->pollout = 1;
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = (uint32_t)c->idx;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    pending++;
    if (next == S_LOGIN) {
        char body[160], req[512];
        int bl =
            snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\"}",
                     c->name, O.password);
        int rl = snprintf(req, sizeof req,
                          "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          "Content-Type: application/json\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                          conn_port(c), bl, body);
        wb_append(c, req, (size_t)rl);
    } else {
        char req[600];
        const char *path = c->role == R_PARENT    ? "/ws/parent"
                           : c->role == R_ADVISER ? "/ws/staff"
                                                  : "/";
        int rl = snprintf(
            req, sizeof req,
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: "
            "helpline.v1\r\n"
            "Origin: http://127.0.0.1:%d\r\n%s%s%s\r\n",
            path, conn_port(c), conn_port(c),
            c->cookie[0] ? "Cookie: chatd_session=" : "", c->cookie,
            c->cookie[0] ? "\r\n" : "");
        wb_append(c, req, (size_t)rl);
    }
}

/* --- tiny JSON field access (frames are small and known) ---------------- */

static const char *jfind(const char *s, size_t n, const char *key)
{
    char pat[48];
    int k = snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = memmem(s, n, pat, (size_t)k);
    return p ? p + k : NULL;
}

static int jstr(const char *s, size_t n, const char *key, char *out,
                size_t outlen)
{
    const char *p = jfind(s, n, key), *e;
    if (!p || *p != '"')
        return -1;
    p++;
    e = memchr(p, '"', n - (size_t)(p - s));
    if (!e || (size_t)(e - p) >= outlen)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

static int type_is(const char *s, size_t n, const char *t)
{
    char buf[32];
    return jstr(s, n, "type", buf, sizeof buf) == 0 && strcmp(buf, t) == 0;
}

/* "t=<ns> p=<sender>" at the head of the "text" field */
static int64_t stamp(const char *s, size_t n, int *who)
{
    const char *p = jfind(s, n, "text");
    char *e;
    int64_t t;
    if (who)
        *who = -1;
    if (!p || strncmp(p, "\"t=", 3) != 0)
        return -1;
    t = strtoll(p + 3, &e, 10);
    if (who && strncmp(e, " p=", 3) == 0)
        *who = (int)strtol(e + 3, NULL, 10);
    return t;
}

/* --- protocol ------------------------------------------------------------- */

static void parent_send_msg(struct conn *c, int64_t t)
{
    char text[TEXT_BYTES + 64];
    msg_text(text, sizeof text, t, c->idx, c->nsent);
    if (c->role == R_ECHO)
        ws_text(c, "{\"type\":\"msg\",\"id\":\"e%d-%llu\",\"text\":\"%s\"}",
                c->idx, (unsigned long long)c->nsent, text);
    else
        ws_text(c, "{\"type\":\"msg\",\"id\":\"p%d-%llu\",\"text\":\"%s\"}",
                c->idx, (unsigned long long)c->nsent, text);
    c->nsent++;
    c->inflight++;
    sent_total++;
}

static void fill_window(struct conn *c)
{
    if (O.mode != M_RELAY && O.mode != M_ECHO)
        return;
    while (c->inflight < O.window)
        parent_send_msg(c, now_ns());
}

static void record_error(const char *s, size_t n)
{
    errors_seen++;
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%.*s",
                 (int)(n < 190 ? n : 190), s);
}

static void on_parent_frame(struct conn *c, const char *s, size_t n)
{
    if (type_is(s, n, "welcome")) {
        c->ps = P_WELCOMED;
        c->t_start = now_ns();
        ws_text(c, "{\"type\":\"start\",\"text\":\"hi\"}");
    } else if (type_is(s, n, "queued")) {
        if (c->ps == P_WELCOMED) {
            c->ps = P_QUEUED;
            n_queued++;
        }
    } else if (type_is(s, n, "connected")) {
        if (c->ps == P_QUEUED)
            n_queued--;
        if (c->ps != P_CHATTING) {
            c->ps = P_CHATTING;
            n_chatting++;
            if (O.mode == M_PAIRING)
                lat_add(&lat, &nlat, &lat_cap, now_ns() - c->t_start);
        }
    } else if (type_is(s, n, "ack")) {
        acks++;
    } else if (type_is(s, n, "msg")) {
        int64_t t = stamp(s, n, NULL);
        replies_recv++;
        if (t > 0 && measuring)
            lat_add(&lat2, &nlat2, &lat2_cap, now_ns() - t);
    } else if (type_is(s, n, "error")) {
        record_error(s, n);
        if (strstr(s, "\"ref\":\"msg\""))
            c->inflight--;
    }
}

static void on_adviser_frame(struct conn *c, const char *s, size_t n)
{
    char conv[CONV_MAX];

    if (type_is(s, n, "welcome")) {
        ws_text(c,
                "{\"type\":\"availability\",\"available\":true,"
                "\"capacity\":%d}",
                O.capacity);
    } else if (type_is(s, n, "availability")) {
        if (!c->avail_ok) {
            c->avail_ok = 1;
            n_avail++;
        }
    } else if (type_is(s, n, "assigned")) {
        if (jstr(s, n, "conversation", conv, sizeof conv) == 0 &&
            c->nconvs < MAX_CONVS) {
            strcpy(c->convs[c->nconvs++], conv);
            n_assigned++;
        }
    } else if (type_is(s, n, "msg")) {
        int who;
        int64_t t = stamp(s, n, &who), now = now_ns();
        delivered++;
        /* the window is end to end: a message leaves it when delivered */
        if (who >= 0 && who < O.parents && conns[who].role == R_PARENT) {
            struct conn *pc = &conns[who];
            pc->inflight--;
            if (relay_on && pc->fd >= 0) {
                fill_window(pc);
                if (!pc->dirty) {
                    pc->dirty = 1;
                    dirty_list[ndirty++] = pc->idx;
                }
            }
        }
        if (measuring) {
            delivered_win++;
            if (t > 0)
                lat_add(&lat, &nlat, &lat_cap, now - t);
        }
        if (O.reply_every > 0 && delivered % (uint64_t)O.reply_every == 0 &&
            jstr(s, n, "conversation", conv, sizeof conv) == 0) {
            char text[TEXT_BYTES + 64];
            msg_text(text, sizeof text, now, c->idx, c->nreplies);
            ws_text(c,
                    "{\"type\":\"msg\",\"conversation\":\"%s\",\"id\":\"a%d-%"
                    "llu\",\"text\":\"%s\"}",
                    conv, c->idx, (unsigned long long)c->nreplies, text);
            c->nreplies++;
        }
    } else if (type_is(s, n, "error")) {
        record_error(s, n);
    }
}

static void on_echo_frame(struct conn *c, const char *s, size_t n)
{
    int64_t t = stamp(s, n, NULL);
    c->inflight--;
    delivered++;
    if (measuring) {
        delivered_win++;
        if (t > 0)
            lat_add(&lat, &nlat, &lat_cap, now_ns() - t);
    }
    fill_window(c);
}

static void on_open(struct conn *c)
{
    c->st = S_OPEN;
    pending--;
    n_open++;
    if (c->role == R_PARENT)
        ws_text(c, "{\"type\":\"hello\"}");
    else if (c->role == R_ECHO)
        fill_window(c);
}

/* Parse what is buffered: the 101, then frames. */
static void process(struct conn *c)
{
    size_t off = 0;

    if (c->st == S_HANDSHAKE || c->st == S_CONNECTING) {
        char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
        if (!e)
            return;
        if (strncmp(c->rb, "HTTP/1.1 101", 12) != 0) {
            record_error(c->rb, (size_t)(e - c->rb));
            conn_close(c, 0);
            return;
        }
        off = (size_t)(e - c->rb) + 4;
        on_open(c);
    }
    while (c->st == S_OPEN && c->rlen - off >= 2) {
        unsigned char *p = (unsigned char *)c->rb + off;
        int op = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2, avail = c->rlen - off;
        if (p[1] & 0x80)
            hl += 4; /* servers do not mask; tolerate it anyway */
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)p[2] << 8) | p[3];
            hl += 2;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | p[2 + i];
            hl += 8;
        }
        if (avail < hl + len)
            break;
        {
            char *pl = (char *)p + hl;
            if (op == 1 || op == 2) {
                if (c->role == R_PARENT)
                    on_parent_frame(c, pl, (size_t)len);
                else if (c->role == R_ADVISER)
                    on_adviser_frame(c, pl, (size_t)len);
                else
                    on_echo_frame(c, pl, (size_t)len);
            } else if (op == 9) {
                ws_frame(c, 10, pl, (size_t)len);
            } else if (op == 8) {
                off += hl + (size_t)len;
                conn_close(c, 0);
                return;
            }
        }
        off += hl + (size_t)len;
    }
    if (c->st == S_DONE)
        return;
    if (off) {
        memmove(c->rb, c->rb + off, c->rlen - off);
        c->rlen -= off;
    }
}

/* Login answer: keep the cookie, then open the staff WebSocket. */
static void process_login(struct conn *c, int eof)
{
    char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4), *k;
    if (!e && !eof)
        return;
    if (!e || strncmp(c->rb, "HTTP/1.1 200", 12) != 0) {
        record_error(c->rb, c->rlen < 120 ? c->rlen : 120);
        conn_close(c, 1);
        c->st = S_DONE;
        return;
    }
    *e = '\0';
    k = strcasestr(c->rb, "set-cookie: chatd_session=");
    if (!k) {
        record_error("no cookie", 9);
        conn_close(c, 1);
        return;
    }
    k += strlen("set-cookie: chatd_session=");
    snprintf(c->cookie, sizeof c->cookie, "%.*s", (int)strcspn(k, ";\r\n"), k);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    pending--;
    c->st = S_IDLE;
    conn_open(c, S_CONNECTING);
}

static void on_readable(struct conn *c)
{
    for (int rounds = 0; rounds < 16 && c->fd >= 0; rounds++) {
        ssize_t n;
        if (c->rcap - c->rlen < 2048) {
            size_t nc = c->rcap ? c->rcap * 2 : RBUF_MIN;
            char *nb = realloc(c->rb, nc);
            if (!nb)
                die("out of memory");
            c->rb = nb;
            c->rcap = nc;
        }
        n = read(c->fd, c->rb + c->rlen, c->rcap - c->rlen - 1);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            conn_close(c, 0);
            return;
        }
        if (n == 0) {
            if (c->st == S_LOGIN)
                process_login(c, 1);
            else
                conn_close(c, 0);
            return;
        }
        c->rlen += (size_t)n;
        c->rb[c->rlen] = '\0';
        if (c->st == S_LOGIN) {
            /* done when headers and Content-Length body are in */
            char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
            if (e) {
                char *cl = strcasestr(c->rb, "content-length:");
                size_t need = cl ? strtoul(cl + 15, NULL, 10) : 0;
                if (c->rlen >= (size_t)(e - c->rb) + 4 + need) {
                    process_login(c, 0);
                    return;
                }
            }
            continue;
        }
        process(c);
        if ((size_t)n < c->rcap - c->rlen - 1)
            break;
    }
}

static void on_event(struct conn *c, uint32_t evs)
{
    if (c->fd < 0)
        return;
    if (evs & (EPOLLERR | EPOLLHUP) && !(evs & EPOLLIN)) {
        if (c->st == S_CONNECTING || c->st == S_LOGIN)
            connect_fail++;
        conn_close(c, 0);
        return;
    }
    if (evs & EPOLLOUT) {
        if (c->st == S_CONNECTING)
            c->st = S_HANDSHAKE;
        flush(c);
        if (c->fd < 0)
            return;
    }
    if (evs & EPOLLIN)
        on_readable(c);
    if (c->fd >= 0 && c->wlen > c->woff)
        flush(c);
}

/* --- cookies file --------------------------------------------------------- */

static void load_cookies(void)
{
    FILE *f;
    char name[64], cookie[COOKIE_MAX];

    if (!O.cookies || !(f = fopen(O.cookies, "r")))
        return;
    while (fscanf(f, "%63s %199s", name, cookie) == 2)
        for (int i = 0; i < nconns; i++)
            if (conns[i].role == R_ADVISER && strcmp(conns[i].name, name) == 0)
                snprintf(conns[i].cookie, sizeof conns[i].cookie, "%s", cookie);
    fclose(f);
}

static void save_cookies(void)
{
    FILE *f;

    if (!O.cookies || !(f = fopen(O.cookies, "a")))
        return;
    for (int i = 0; i < nconns; i++)
        if (conns[i].role == R_ADVISER && conns[i].cookie[0])
            fprintf(f, "%s %s\n", conns[i].name, conns[i].cookie);
    fclose(f);
}

/* --- the loop ----------------------------------------------------------------
 */

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
    (void)s;
    stop = 1;
}

/* When a tick wants to run next (monotonic ns, 0: every tick_ms is
 * enough).  The latency mode's pacing sets it: a message due in 200 us
 * must not wait for a 1 ms epoll timeout, since its lateness counts as
 * chatd's latency (tick_pace). */
static int64_t wake_at;

/* epoll_wait to the nanosecond where the kernel has epoll_pwait2 (5.11). */
static int wait_events(struct epoll_event *evs, int64_t timeout_ns)
{
    static int no_pwait2;
    if (!no_pwait2) {
        struct timespec ts = {(time_t)(timeout_ns / 1000000000),
                              (long)(timeout_ns % 1000000000)};
        int n = epoll_pwait2(ep, evs, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = 1;
    }
    return epoll_wait(ep, evs, MAX_EVENTS,
                      (int)((timeout_ns + 999999) / 1000000));
}

/* Run the loop until done() says so or the deadline passes. */
static int run_until(int (*done)(void), double max_s, int tick_ms,
                     void (*tick)(int64_t))
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t end = now_ns() + (int64_t)(max_s * 1e9);

    wake_at = 0;
    while (!stop && now_ns() < end) {
        int64_t timeout = (int64_t)tick_ms * 1000000;
        if (wake_at) {
            int64_t d = wake_at - now_ns();
            timeout = d < 0 ? 0 : d < timeout ? d : timeout;
        }
        int n = wait_events(evs, timeout);
        for (int i = 0; i < n; i++)
            on_event(&conns[evs[i].data.u32], evs[i].events);
        /* one write per connection per turn */
        for (int i = 0; i < ndirty; i++) {
            struct conn *c = &conns[dirty_list[i]];
            c->dirty = 0;
            if (c->fd >= 0 && c->wlen > c->woff)
                flush(c);
        }
        ndirty = 0;
        if (tick)
            tick(now_ns());
        if (done && done())
            return 1;
    }
    return 0;
}

static int next_to_open;
static int open_range_lo, open_range_hi;

/* Open connections of [lo,hi) up to MAX_PENDING handshaking at once. */
static void opener(int64_t now)
{
    while (next_to_open < open_range_hi && pending < MAX_PENDING) {
        struct conn *c = &conns[next_to_open];
        if (c->t_sched && now < c->t_sched)
            break;
        next_to_open++;
        if (c->role == R_ADVISER && !c->cookie[0])
            conn_open(c, S_LOGIN);
        else
            conn_open(c, S_CONNECTING);
        if (c->fd >= 0)
            flush(c);
    }
}

static void open_range(int lo, int hi)
{
    next_to_open = open_range_lo = lo;
    open_range_hi = hi;
}

static int all_opened(void)
{
    return next_to_open >= open_range_hi && pending == 0;
}

static int advisers_ready(void)
{
    return next_to_open >= open_range_hi && pending == 0 &&
           n_avail >= O.advisers - (int)connect_fail;
}

static int idle_ready(void)
{
    return next_to_open >= open_range_hi && pending == 0 &&
           n_queued + (int)closed_unexpected + (int)connect_fail >= O.parents;
}

/* Every parent chatting and every adviser told (a message sent before
 * `assigned` would arrive inside its history, not as a msg). */
static int chat_ready(void)
{
    return next_to_open >= open_range_hi && pending == 0 &&
           n_chatting >=
               O.parents - (int)closed_unexpected - (int)connect_fail &&
           (O.mode == M_PAIRING || n_assigned >= n_chatting);
}

static void tick_open(int64_t now)
{
    opener(now);
}

/* latency: send due messages round robin over chatting parents */
static int64_t pace_t0;
static uint64_t pace_sent;
static int rr;
static uint64_t pace_skipped;

static void tick_pace(int64_t now)
{
    /* message k is due at pace_t0 + k / rate, and stamped so */
    uint64_t due = (uint64_t)((double)(now - pace_t0) * O.rate / 1e9) + 1;
    int tries = 0;
    while (pace_sent < due && tries < O.parents) {
        struct conn *c = &conns[rr];
        rr = (rr + 1) % O.parents;
        if (c->ps != P_CHATTING || c->fd < 0 || c->inflight >= O.window) {
            tries++;
            continue;
        }
        tries = 0;
        /* stamp the scheduled time: lag in sending counts as latency */
        parent_send_msg(c,
                        pace_t0 + (int64_t)((double)pace_sent * 1e9 / O.rate));
        pace_sent++;
        flush(c);
    }
    if (pace_sent < due && tries >= O.parents)
        pace_skipped++;
    wake_at = pace_t0 + (int64_t)((double)pace_sent * 1e9 / O.rate);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --mode idle|relay|latency|pairing|echo --port P\n"
            "  [--adv-port P2] [--parents N] [--advisers A] [--capacity C]\n"
            "  [--window W] [--duration S] [--warmup S] [--rate R]\n"
            "  [--spread-ms MS] [--srcs K] [--prefix NAME] [--password PW]\n"
            "  [--cookies FILE] [--pid CHATD_PID] [--pid2 PID] "
            "[--redis-pid PID]\n"
            "  [--reply-every N] [--timeout S] [--hold S]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "idle"))
                O.mode = M_IDLE;
            else if (!strcmp(v, "relay"))
                O.mode = M_RELAY;
            else if (!strcmp(v, "latency"))
                O.mode = M_LATENCY;
            else if (!strcmp(v, "pairing"))
                O.mode = M_PAIRING;
            else if (!strcmp(v, "echo"))
                O.mode = M_ECHO;
            else
                usage();
        } else if (!strcmp(a, "--port"))
            O.port = atoi(v);
        else if (!strcmp(a, "--adv-port"))
            O.adv_port = atoi(v);
        else if (!strcmp(a, "--parents"))
            O.parents = atoi(v);
        else if (!strcmp(a, "--advisers"))
            O.advisers = atoi(v);
        else if (!strcmp(a, "--capacity"))
            O.capacity = atoi(v);
        else if (!strcmp(a, "--window"))
            O.window = atoi(v);
        else if (!strcmp(a, "--duration"))
            O.duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            O.warmup = atof(v);
        else if (!strcmp(a, "--rate"))
            O.rate = atof(v);
        else if (!strcmp(a, "--spread-ms"))
            O.spread_ms = atof(v);
        else if (!strcmp(a, "--srcs"))
            O.nsrc = atoi(v);
        else if (!strcmp(a, "--prefix"))
            O.prefix = v;
        else if (!strcmp(a, "--password"))
            O.password = v;
        else if (!strcmp(a, "--cookies"))
            O.cookies = v;
        else if (!strcmp(a, "--pid"))
            O.pid = atoi(v);
        else if (!strcmp(a, "--pid2"))
            O.pid2 = atoi(v);
        else if (!strcmp(a, "--redis-pid"))
            O.redis_pid = atoi(v);
        else if (!strcmp(a, "--reply-every"))
            O.reply_every = atoi(v);
        else if (!strcmp(a, "--timeout"))
            O.timeout = atof(v);
        else if (!strcmp(a, "--hold"))
            O.hold = atof(v);
        else
            usage();
    }
    if (O.port <= 0 || O.port > 65535 || O.parents < 0 || O.parents > 100000 ||
        O.advisers < 0 || O.advisers > 10000 || O.capacity < 1 ||
        O.capacity > 8 || O.window < 1 || O.window > 1000 || O.nsrc < 1 ||
        O.nsrc > 250 || O.duration <= 0 || O.duration > 600 || O.rate <= 0 ||
        O.timeout <= 0 || O.timeout > 1800 || O.hold < 0 || O.hold > 1800)
        usage();
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void close_all(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i], 1);
}

struct cpu {
    long long chatd, chatd2, redis, machine, machine_busy;
    struct rusage self;
    int64_t t;
};

static void cpu_snap(struct cpu *s)
{
    s->chatd = cpu_ticks(O.pid);
    s->chatd2 = cpu_ticks(O.pid2);
    s->redis = cpu_ticks(O.redis_pid);
    s->machine = machine_ticks(&s->machine_busy);
    getrusage(RUSAGE_SELF, &s->self);
    s->t = now_ns();
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void cpu_print(const struct cpu *a, const struct cpu *b)
{
    double secs = (double)(b->t - a->t) / 1e9,
           hz = (double)sysconf(_SC_CLK_TCK);
    double self = tv_s(b->self.ru_utime) + tv_s(b->self.ru_stime) -
                  tv_s(a->self.ru_utime) - tv_s(a->self.ru_stime);
    if (a->chatd >= 0 && b->chatd >= 0)
        printf(",\"chatd_cpu\":%.3f",
               (double)(b->chatd - a->chatd) / hz / secs);
    if (a->chatd2 >= 0 && b->chatd2 >= 0)
        printf(",\"chatd2_cpu\":%.3f",
               (double)(b->chatd2 - a->chatd2) / hz / secs);
    if (a->redis >= 0 && b->redis >= 0)
        printf(",\"redis_cpu\":%.3f",
               (double)(b->redis - a->redis) / hz / secs);
    printf(",\"loadgen_cpu\":%.3f", self / secs);
    /* cores busy, of machine_cores: how near the machine is to full */
    if (a->machine > 0 && b->machine > a->machine)
        printf(",\"machine_cpu\":%.3f,\"machine_cores\":%ld",
               (double)(b->machine_busy - a->machine_busy) /
                   (double)(b->machine - a->machine) *
                   (double)sysconf(_SC_NPROCESSORS_ONLN),
               sysconf(_SC_NPROCESSORS_ONLN));
}

int main(int argc, char **argv)
{
    int na;
    long rss0 = -1, rss1 = -1;
    struct cpu c0, c1;
    const char *mname[] = {"idle", "relay", "latency", "pairing", "echo"};

    parse_args(argc, argv);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    t_begin = now_ns();
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1: %s", strerror(errno));

    na = (O.mode == M_IDLE || O.mode == M_ECHO) ? 0 : O.advisers;
    if (na && O.advisers * O.capacity < O.parents && O.mode != M_PAIRING)
        die("advisers*capacity (%d) < parents (%d)", O.advisers * O.capacity,
            O.parents);
    nconns = O.parents + na;
    if (!(conns = calloc((size_t)nconns, sizeof *conns)) ||
        !(dirty_list = calloc((size_t)nconns, sizeof *dirty_list)))
        die("out of memory");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].idx = i;
        conns[i].role =
            i < O.parents ? (O.mode == M_ECHO ? R_ECHO : R_PARENT) : R_ADVISER;
        if (conns[i].role == R_ADVISER)
            snprintf(conns[i].name, sizeof conns[i].name, "%s%d", O.prefix,
                     i - O.parents + 1);
    }
    load_cookies();
    rss0 = rss_kb(O.pid);

    printf("{\"mode\":\"%s\"", mname[O.mode]);
    if (na) {
        /* advisers first: log in (or reuse cookies), go available */
        open_range(O.parents, nconns);
        run_until(advisers_ready, O.timeout, 5, tick_open);
        save_cookies();
        note("advisers available: %d of %d", n_avail, na);
        printf(",\"advisers_available\":%d", n_avail);
    }

    if (O.mode == M_PAIRING) {
        int64_t t0 = now_ns() + 50000000LL;
        for (int i = 0; i < O.parents; i++)
            conns[i].t_sched =
                t0 + (int64_t)((double)i * O.spread_ms * 1e6 / O.parents);
        open_range(0, O.parents);
        run_until(chat_ready, O.timeout, 1, tick_open);
        note("paired %d of %d", n_chatting, O.parents);
        qsort(lat, nlat, sizeof *lat, cmp64);
        printf(",\"parents\":%d,\"paired\":%d,\"pairing_p50_ms\":%.3f,"
               "\"pairing_p99_ms\":%.3f,\"pairing_max_ms\":%.3f",
               O.parents, n_chatting, pct_ms(lat, nlat, 0.5),
               pct_ms(lat, nlat, 0.99), pct_ms(lat, nlat, 1.0));
    } else if (O.mode == M_IDLE) {
        open_range(0, O.parents);
        run_until(idle_ready, O.timeout, 10, tick_open);
        note("queued %d of %d; settling", n_queued, O.parents);
        run_until(NULL, 2.0, 50, NULL);
        rss1 = rss_kb(O.pid);
        printf(",\"parents\":%d,\"idle_connections\":%d,\"open\":%d,"
               "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld",
               O.parents, n_queued, n_open, rss0, rss1);
        if (rss0 > 0 && rss1 > 0 && n_queued > 0)
            printf(",\"rss_per_idle_connection_bytes\":%.0f",
                   (double)(rss1 - rss0) * 1024.0 / n_queued);
    } else {
        /* relay, latency, echo */
        open_range(0, O.parents);
        if (O.mode == M_ECHO)
            run_until(all_opened, O.timeout, 5, tick_open);
        else
            run_until(chat_ready, O.timeout, 5, tick_open);
        note("%d connections ready (%d chatting)", n_open, n_chatting);
        relay_on = O.mode == M_RELAY;
        if (O.mode == M_RELAY)
            for (int i = 0; i < O.parents; i++)
                if (conns[i].ps == P_CHATTING) {
                    fill_window(&conns[i]);
                    flush(&conns[i]);
                }
        if (O.mode == M_LATENCY) {
            pace_t0 = now_ns();
            run_until(NULL, O.warmup, 1, tick_pace);
        } else {
            /* relay: refill windows on every ack */
            run_until(NULL, O.warmup, 5, NULL);
        }
        measuring = 1;
        delivered_win = 0;
        cpu_snap(&c0);
        {
            uint64_t s0 = sent_total;
            if (O.mode == M_LATENCY)
                run_until(NULL, O.duration, 1, tick_pace);
            else
                run_until(NULL, O.duration, 5, NULL);
            cpu_snap(&c1);
            measuring = 0;
            double secs = (double)(c1.t - c0.t) / 1e9;
            qsort(lat, nlat, sizeof *lat, cmp64);
            printf(",\"parents\":%d,\"window\":%d,\"seconds\":%.2f,"
                   "\"sent\":%llu,\"delivered\":%llu,\"msgs_per_s\":%.0f,"
                   "\"sent_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                   "\"max_ms\":%.3f",
                   O.parents, O.window, secs,
                   (unsigned long long)(sent_total - s0),
                   (unsigned long long)delivered_win,
                   (double)delivered_win / secs,
                   (double)(sent_total - s0) / secs, pct_ms(lat, nlat, 0.5),
                   pct_ms(lat, nlat, 0.99), pct_ms(lat, nlat, 1.0));
            if (O.mode == M_LATENCY)
                printf(",\"rate\":%.0f,\"pace_stalls\":%llu", O.rate,
                       (unsigned long long)pace_skipped);
            if (nlat2) {
                qsort(lat2, nlat2, sizeof *lat2, cmp64);
                printf(",\"reply_p50_ms\":%.3f,\"reply_p99_ms\":%.3f",
                       pct_ms(lat2, nlat2, 0.5), pct_ms(lat2, nlat2, 0.99));
            }
            cpu_print(&c0, &c1);
        }
    }
    printf(
        ",\"errors\":%llu,\"closed_unexpected\":%llu,\"connect_failed\":%llu",
        (unsigned long long)errors_seen, (unsigned long long)closed_unexpected,
        (unsigned long long)connect_fail);
    if (first_error[0]) {
        /* JSON-safe: drop quotes and control characters */
        for (char *p = first_error; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                *p = '\'';
        printf(",\"first_error\":\"%s\"", first_error);
    }
    printf("}\n");
    fflush(stdout);
    if (O.mode == M_IDLE && O.hold > 0)
        run_until(NULL, O.hold, 50, NULL);
    close_all();
    return 0;
}
