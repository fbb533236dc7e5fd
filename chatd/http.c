/*
 * http.c - see http.h.
 */
#include "http.h"
#include "auth.h"
#include "conv.h"
#include "queue.h"
#include "log.h"
#include "mempool.h"
#include "metrics.h"
#include "ratelimit.h"
#include "rds.h"
#include "report.h"
#include "services.h"
#include "session.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HTTP_PATH_MAX 256  /* bytes of URL path we route */
#define HTTP_BODY_MAX 4096 /* bytes of a POST body (login) */
#define HTTP_HDR_MAX  2048 /* bytes of response headers we build */
#define WS_RX_CHUNK                                                            \
    256 /* lws receive buffer per connection: chat frames are 100-600 bytes,   \
           longer ones are reassembled */
/* Bytes lws sends in one go.  Left at 0 it is WS_RX_CHUNK, and lws would
 * cut each batched write into 1 KiB sends, buffering the rest. */
#define WS_TX_PACKET       (CLIENT_WRITE_BATCH_BYTES + 16)
#define LOGIN_WINDOW_S     900 /* login_failures_per_address counts over this */
#define LOGIN_WINDOW_BURST ((double)CFG->login_failures_per_address)
#define LOGIN_WINDOW_RATE  (LOGIN_WINDOW_BURST / LOGIN_WINDOW_S)
#define LOGIN_LOCKOUT_MS   ((uint64_t)CFG->login_lockout_s * 1000)
#define COOKIE_MAX         128
#define ORIGIN_MAX         256
#define PEER_MAX           64 /* bytes of an address in text form */
#define XFF_MAX                                                                \
    8192 /* bytes of X-Forwarded-For we read (lws's own                        \
          * header limit is smaller) */

static const char security_headers[] =
    "content-security-policy: default-src 'self'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'\r\n"
    "x-content-type-options: nosniff\r\n"
    "referrer-policy: no-referrer\r\n"
    "x-frame-options: SAMEORIGIN\r\n"
    "cache-control: no-store\r\n";

static const struct config *CFG;
static struct lws_context *context;
static char static_dir[CONFIG_STR_MAX];
static struct cidr proxies[CIDR_LIST_MAX]; /* trusted_proxies, parsed */
static int nproxies;

/* An HTTP exchange whose answer may come after an async step.  Shared by
 * the connection and the callback; whichever finishes last frees it. */
struct http_job {
    struct lws *wsi; /* NULL once the connection has closed */
    int refs;
    int status;
    const char *ctype;
    char *body;
    size_t body_len;
    char cookie[COOKIE_MAX + 96];
    int headers_sent;
    struct address *addr; /* login: failures counted against it */
    struct address *pair; /* login: the (name, address) pair's failures */
    char old[COOKIE_MAX]; /* login: the session cookie it came with */
};

/* lws allocates one per connection, and most connections are idle
 * WebSockets: so only pointers here.  A WebSocket's state is its struct
 * client (its address's counts are c->addr); what an HTTP request needs is
 * allocated when one arrives.  The upgrade's headers (address, cookie) are
 * read at ESTABLISHED, which lws calls before it frees them. */
struct pss {
    struct client *c;   /* WebSocket, from ESTABLISHED */
    struct http_req *h; /* HTTP: the request in progress */
    enum endpoint ep;   /* WebSocket: which one, from the upgrade's URI */
};

struct http_req {
    char path[HTTP_PATH_MAX];
    int post;
    char *body; /* allocated for a POST only */
    size_t body_len;
    int body_too_big;
    struct http_job *job;
};

static int origin_allowed(struct lws *wsi);
static int client_address(struct lws *wsi, char *out, size_t outlen);
static struct address *peer_address(struct lws *wsi);

static void job_put(struct http_job *j)
{
    if (--j->refs == 0) {
        free(j->body);
        free(j);
    }
}

/* Set the answer and ask for a write. */
static void job_answer(struct http_job *j, int status, const char *ctype,
                       const char *body, size_t len)
{
    j->status = status;
    j->ctype = ctype;
    free(j->body);
    j->body = malloc(len + 1);
    if (j->body) {
        memcpy(j->body, body, len);
        j->body[len] = '\0';
    }
    j->body_len = j->body ? len : 0;
    if (j->wsi)
        lws_callback_on_writable(j->wsi);
}

static void job_json(struct http_job *j, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);

    job_answer(j, status, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    json_decref(o);
}

static int job_write(struct lws *wsi, struct http_job *j)
{
    unsigned char buf[LWS_PRE + HTTP_HDR_MAX],
        *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;

    if (!j->headers_sent) {
        if (lws_add_http_common_headers(wsi, (unsigned int)j->status, j->ctype,
                                        j->body_len, &p, end))
            return -1;
        if ((size_t)(end - p) < sizeof security_headers + sizeof j->cookie)
            return -1;
        memcpy(p, security_headers, sizeof security_headers - 1);
        p += sizeof security_headers - 1;
        if (j->cookie[0])
            p += sprintf((char *)p, "set-cookie: %s\r\n", j->cookie);
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        j->headers_sent = 1;
        if (j->body_len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else if (j->body_len) {
        unsigned char *b = malloc(LWS_PRE + j->body_len);
        int n;
        if (!b)
            return -1;
        memcpy(b + LWS_PRE, j->body, j->body_len);
        n = lws_write(wsi, b + LWS_PRE, j->body_len, LWS_WRITE_HTTP_FINAL);
        free(b);
        if (n < (int)j->body_len)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* --- static files ------------------------------------------------------- */

static const char *mime_for(const char *path)
{
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* URL path to a file under static_dir; -1 if it may not be served. */
static int map_static(const char *url, char *out, size_t outlen)
{
    const char *rel = url;

    if (strcmp(url, "/") == 0)
        rel = "/demo/index.html";
    else if (strcmp(url, "/widget.js") == 0)
        rel = "/parent/widget.js";
    else if (strcmp(url, "/console") == 0 || strcmp(url, "/console/") == 0)
        rel = "/console/index.html";
    /* lws has already decoded %xx; refuse anything that climbs or hides. */
    if (rel[0] != '/' || strstr(rel, "..") || strstr(rel, "//") ||
        strstr(rel, "/.") || strchr(rel, '\\'))
        return -1;
    if ((size_t)snprintf(out, outlen, "%s%s", static_dir, rel) >= outlen)
        return -1;
    return 0;
}

static int serve_static(struct lws *wsi, const char *url)
{
    char file[CONFIG_STR_MAX + HTTP_PATH_MAX];
    struct stat st;
    const char *mime;
    int n;

    if (map_static(url, file, sizeof file) < 0 || stat(file, &st) < 0 ||
        !S_ISREG(st.st_mode) || !(mime = mime_for(file)))
        return 1; /* not found */
    n = lws_serve_http_file(wsi, file, mime, security_headers,
                            (int)sizeof security_headers - 1);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

/* --- API ------------------------------------------------------------------ */

static void get_cookie(struct lws *wsi, char *out, size_t outlen)
{
    size_t max = outlen;

    out[0] = '\0';
    if (lws_http_cookie_get(wsi, SESSION_COOKIE, out, &max) != 0)
        out[0] = '\0';
}

/* The session cookie for token, for max_age_s seconds. */
static void set_session_cookie(struct http_job *j, const char *token,
                               int max_age_s)
{
    snprintf(j->cookie, sizeof j->cookie,
             "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s",
             SESSION_COOKIE, token, max_age_s,
             CFG->tls_cert[0] ? "; Secure" : "");
}

static void login_done(enum login_result r, const char *name, const char *role,
                       const char *token, void *priv)
{
    struct http_job *j = priv;

    if (!j->wsi) {
        job_put(j);
        return;
    }
    if (r == LOGIN_BAD && j->addr)
        bucket_take(&j->addr->logins, LOGIN_WINDOW_RATE, LOGIN_WINDOW_BURST,
                    now_ms());
    if (r == LOGIN_BAD && j->pair) {
        if (now_ms() - j->pair->fail_ms >= LOGIN_LOCKOUT_MS)
            j->pair->fails = 0; /* a lockout since the last failure is over */
        j->pair->fail_ms = now_ms();
        j->pair->fails++;
    } else if (r == LOGIN_OK && j->pair) {
        j->pair->fails = 0;
    }
    if (r == LOGIN_OK) {
        /* A new login is a new privilege: whatever session this browser
         * held before (perhaps one planted on it) ends. */
        if (j->old[0])
            auth_logout(j->old);
        set_session_cookie(j, token, CFG->session_ttl_s);
        job_json(j, 200, json_pack("{s:s, s:s}", "name", name, "role", role));
    } else if (r == LOGIN_BAD) {
        job_json(j, 401, json_pack("{s:s}", "error", "bad_credentials"));
    } else if (r == LOGIN_THROTTLED) {
        job_json(j, 429, json_pack("{s:s}", "error", "rate_limited"));
    } else {
        job_json(j, 503, json_pack("{s:s}", "error", "unavailable"));
    }
    job_put(j);
}

static void me_done(const char *name, const char *role, const char *fresh,
                    int max_age_s, void *priv)
{
    struct http_job *j = priv;

    if (fresh)
        set_session_cookie(j, fresh, max_age_s); /* rotated */
    if (j->wsi) {
        if (name)
            /* rotate_s: how often the console must ask, since a cookie
             * is only replaced on an HTTP request. */
            job_json(j, 200,
                     json_pack("{s:s, s:s, s:i}", "name", name, "role", role,
                               "rotate_s", CFG->session_rotate_s));
        else
            job_json(j, 401, json_pack("{s:s}", "error", "no_session"));
    }
    job_put(j);
}

static void api_login(struct lws *wsi, struct http_job *j, struct http_req *h)
{
    json_t *o = json_loadb(h->body, h->body_len, 0, NULL);
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *pw = json_string_value(json_object_get(o, "password"));
    char ctype[64] = "", peer[PEER_MAX];

    /* A cross-site form cannot send JSON without a CORS preflight, which
     * we never grant: requiring it closes the login-CSRF door. */
    lws_hdr_copy(wsi, ctype, sizeof ctype, WSI_TOKEN_HTTP_CONTENT_TYPE);
    j->addr = peer_address(wsi);
    /* One address's failures for a name lock that address out of that name
     * only: someone elsewhere cannot lock a real adviser out.  (The name's
     * own, looser ceiling is counted in Redis by auth.c.) */
    if (name && client_address(wsi, peer, sizeof peer) == 0)
        j->pair = limits_login_pair(name, peer, now_ms());
    sodium_memzero(peer, sizeof peer);
    if (j->pair && j->pair->fails >= CFG->login_max_failures &&
        now_ms() - j->pair->fail_ms < LOGIN_LOCKOUT_MS) {
        job_json(j, 429, json_pack("{s:s}", "error", "rate_limited"));
        json_decref(o);
        return;
    }
    if (j->addr) {
        /* Peek: a bucket with no token left means too many failures. */
        if (!bucket_take(&j->addr->logins, LOGIN_WINDOW_RATE,
                         LOGIN_WINDOW_BURST, now_ms())) {
            job_json(j, 429, json_pack("{s:s}", "error", "rate_limited"));
            json_decref(o);
            return;
        }
        j->addr->logins.tokens += 1.0;
    }
    if (strncmp(ctype, "application/json", 16) != 0) {
        job_json(j, 415, json_pack("{s:s}", "error", "bad_request"));
    } else if (!name || !pw) {
        job_json(j, 400, json_pack("{s:s}", "error", "bad_request"));
    } else {
        get_cookie(wsi, j->old, sizeof j->old);
        j->refs++;
        auth_login(name, pw, login_done, j);
    }
    json_decref(o);
}

static void status_done(redisReply *r, void *priv)
{
    struct http_job *j = priv;
    const struct hours *h = session_hours();
    time_t now = time(NULL);
    json_t *o, *closed = session_closed_json(now);
    char desc[HOURS_DESCRIBE_LEN];
    int eta;

    queue_apply_state(r);
    eta = queue_eta(queue_waiting() + 1);
    o = json_pack("{s:b, s:i}", "open", closed == NULL, "waiting",
                  queue_waiting());
    json_object_set_new(o, "eta_s", eta < 0 ? json_null() : json_integer(eta));
    /* Before a parent starts: when the line opens and where to go now. */
    json_object_set(o, "next_open",
                    closed ? json_object_get(closed, "next_open")
                           : json_null());
    if (closed)
        json_object_set(o, "services", json_object_get(closed, "services"));
    json_object_set_new(o, "hours",
                        h && !hours_always_open(h)
                            ? json_string(hours_describe(h, desc, sizeof desc))
                            : json_string("24/7"));
    json_decref(closed);
    if (j->wsi)
        job_json(j, 200, o);
    else
        json_decref(o);
    job_put(j);
}

/* Read live: a parent deciding whether to wait deserves the truth. */
static void api_status(struct http_job *j)
{
    j->refs++;
    if (rds_script("queue_state", status_done, j, 0, NULL, NULL) < 0)
        status_done(NULL, j);
}

/* --- GET /metrics and GET /api/reports (docs/reports.md) ---------------- */

static void metrics_done(redisReply *r, void *priv)
{
    struct http_job *j = priv;
    struct metrics_snapshot s;
    char *text = NULL;

    if (j->wsi) {
        if (metrics_parse_snapshot(r, &s) < 0 || !(text = metrics_format(&s)))
            job_answer(j, 503, "text/plain", "unavailable\n", 12);
        else
            job_answer(j, 200, METRICS_CONTENT_TYPE, text, strlen(text));
    }
    free(text);
    job_put(j);
}

struct report_req {
    struct http_job *j;
    char from[64], to[64];
    int csv;
};

static void reports_done(struct report *r, void *priv)
{
    struct report_req *q = priv;
    struct http_job *j = q->j;

    if (j->wsi) {
        if (!r) {
            job_json(j, 503, json_pack("{s:s}", "error", "unavailable"));
        } else if (q->csv) {
            char *csv = report_csv(r);

            job_answer(j, csv ? 200 : 500, "text/csv; charset=utf-8",
                       csv ? csv : "", csv ? strlen(csv) : 0);
            free(csv);
        } else {
            job_json(j, 200, report_json(r));
        }
    }
    report_free(r);
    job_put(j);
    free(q);
}

static void reports_auth_done(const char *name, const char *role,
                              const char *fresh, int max_age_s, void *priv)
{
    struct report_req *q = priv;
    struct http_job *j = q->j;
    long long from_ms, to_ms;
    char err[160];

    if (fresh)
        set_session_cookie(j, fresh, max_age_s); /* rotated */

    if (!j->wsi) {
    } else if (!name) {
        job_json(j, 401, json_pack("{s:s}", "error", "no_session"));
    } else if (strcmp(role, "supervisor") && strcmp(role, "admin")) {
        job_json(j, 403, json_pack("{s:s}", "error", "forbidden"));
    } else if (report_range(q->from[0] ? q->from : NULL,
                            q->to[0] ? q->to : NULL, (long long)time(NULL),
                            &from_ms, &to_ms, err, sizeof err) < 0) {
        job_json(
            j, 400,
            json_pack("{s:s,s:s}", "error", "bad_request", "message", err));
    } else if (report_fetch(from_ms, to_ms, reports_done, q) == 0) {
        return; /* reports_done puts the job and frees q */
    } else {
        job_json(j, 503, json_pack("{s:s}", "error", "unavailable"));
    }
    job_put(j);
    free(q);
}

/* The value of query argument name ("from="), or "". */
static void urlarg(struct lws *wsi, const char *name, char *out, size_t len)
{
    char buf[80];
    const char *v = lws_get_urlarg_by_name(wsi, name, buf, sizeof buf);

    snprintf(out, len, "%s", v ? v : "");
}

static void api_reports(struct lws *wsi, struct http_job *j, const char *cookie)
{
    struct report_req *q = calloc(1, sizeof *q);
    char fmt[16] = "";

    if (!q) {
        job_json(j, 500, json_pack("{s:s}", "error", "internal"));
        return;
    }
    q->j = j;
    urlarg(wsi, "from=", q->from, sizeof q->from);
    urlarg(wsi, "to=", q->to, sizeof q->to);
    urlarg(wsi, "format=", fmt, sizeof fmt);
    q->csv = strcmp(fmt, "csv") == 0;
    j->refs++;
    auth_session(cookie, 1, reports_auth_done, q);
}

/* GET /api/services?category=&area=&q= : public, for the widget and the
 * console's search.  Local before national, open now before closed. */
static void api_services(struct lws *wsi, struct http_job *j)
{
    struct service_hit hits[SERVICES_HITS_MAX];
    char cat[64], area[16], q[SERVICES_QUERY_MAX];
    const struct services *svcs = session_services();
    size_t n;

    urlarg(wsi, "category=", cat, sizeof cat);
    urlarg(wsi, "area=", area, sizeof area);
    urlarg(wsi, "q=", q, sizeof q);
    if (cat[0] && !services_category_known(cat)) {
        job_json(j, 400,
                 json_pack("{s:s, s:s}", "error", "bad_request", "message",
                           "unknown category"));
        return;
    }
    n = svcs ? services_search(svcs, cat[0] ? cat : NULL, area[0] ? area : NULL,
                               q[0] ? q : NULL, time(NULL), hits,
                               SERVICES_HITS_MAX)
             : 0;
    job_json(j, 200,
             json_pack("{s:o}", "services", services_hits_json(hits, n, 1)));
}

static int route(struct lws *wsi, struct http_req *h)
{
    struct http_job *j;
    const char *p = h->path;
    char cookie[COOKIE_MAX];

    if (!h->post && strncmp(p, "/api/", 5) != 0 && strcmp(p, "/healthz") &&
        strcmp(p, "/readyz") && strcmp(p, "/metrics")) {
        int r = serve_static(wsi, p);
        if (r <= 0)
            return r;
    }
    if (!(j = calloc(1, sizeof *j)))
        return -1;
    j->wsi = wsi;
    j->refs = 1;
    h->job = j;
    /* CSRF: a browser names the page's origin on every POST; one from a
     * site not ours is refused.  (Clients that send none are not browsers,
     * and the session cookie is SameSite=Strict besides.) */
    if (h->post && !origin_allowed(wsi)) {
        job_json(j, 403, json_pack("{s:s}", "error", "forbidden"));
        return 0;
    }
    if (!h->post && strcmp(p, "/healthz") == 0) {
        job_answer(j, 200, "text/plain", "ok\n", 3);
    } else if (!h->post && strcmp(p, "/readyz") == 0) {
        if (rds_ready())
            job_answer(j, 200, "text/plain", "ready\n", 6);
        else
            job_answer(j, 503, "text/plain", "not ready\n", 10);
    } else if (!h->post && strcmp(p, "/api/status") == 0) {
        api_status(j);
    } else if (!h->post && strcmp(p, "/api/services") == 0) {
        api_services(wsi, j);
    } else if (!h->post && strcmp(p, "/metrics") == 0) {
        j->refs++;
        if (rds_script("metrics_snapshot", metrics_done, j, 0, NULL, NULL) < 0)
            metrics_done(NULL, j);
    } else if (!h->post && strcmp(p, "/api/reports") == 0) {
        get_cookie(wsi, cookie, sizeof cookie);
        api_reports(wsi, j, cookie);
    } else if (!h->post && strcmp(p, "/api/me") == 0) {
        get_cookie(wsi, cookie, sizeof cookie);
        j->refs++;
        auth_session(cookie, 1, me_done, j);
    } else if (h->post && strcmp(p, "/api/login") == 0) {
        if (h->body_too_big)
            job_json(j, 413, json_pack("{s:s}", "error", "too_long"));
        else
            api_login(wsi, j, h);
    } else if (h->post && strcmp(p, "/api/logout") == 0) {
        get_cookie(wsi, cookie, sizeof cookie);
        auth_logout(cookie);
        snprintf(j->cookie, sizeof j->cookie,
                 "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
                 SESSION_COOKIE);
        job_answer(j, 204, "text/plain", "", 0);
    } else {
        job_json(j, 404, json_pack("{s:s}", "error", "not_found"));
    }
    return 0;
}

/* --- WebSocket upgrades -----------------------------------------------------
 */

static int origin_allowed(struct lws *wsi)
{
    char origin[ORIGIN_MAX], host[ORIGIN_MAX], own[ORIGIN_MAX + 16];
    const char *list = CFG->allowed_origins;
    size_t olen;

    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
        return 1; /* not a browser: Origin protects browsers' users */
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) > 0) {
        snprintf(own, sizeof own, "http://%s", host);
        if (strcmp(origin, own) == 0)
            return 1;
        snprintf(own, sizeof own, "https://%s", host);
        if (strcmp(origin, own) == 0)
            return 1;
    }
    olen = strlen(origin);
    while (*list) {
        size_t n = strcspn(list, ", ");
        if (n == olen && strncmp(list, origin, n) == 0)
            return 1;
        list += n;
        list += strspn(list, ", ");
    }
    return 0;
}

/* Refuse an upgrade with an HTTP status.  Written by hand because at this
 * stage lws would answer "HTTP/1.0", which WebSocket clients reject. */
static void refuse_upgrade(struct lws *wsi, const char *status,
                           const char *body)
{
    char head[HTTP_HDR_MAX];
    unsigned char buf[LWS_PRE + HTTP_HDR_MAX];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n%s\r\n%s",
                     status, strlen(body), security_headers, body);

    if (n <= 0 || (size_t)n >= sizeof head)
        return;
    memcpy(buf + LWS_PRE, head, (size_t)n);
    lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS);
}

/* The client's address in text form: the TCP peer, or, when the peer is
 * one of trusted_proxies, the address that proxy put in X-Forwarded-For.
 * The header is read right to left (each proxy appends the address it saw)
 * past trusted proxies; the first other address is the client.  A header
 * from any other peer is ignored: anyone can write one.  The address is
 * only ever turned into a keyed digest (ratelimit.c), never kept. */
static int client_address(struct lws *wsi, char *out, size_t outlen)
{
    char *xff = NULL, *p;
    int len;

    if (!lws_get_peer_simple(wsi, out, outlen))
        return -1;
    if (!nproxies || !cidr_list_match(proxies, nproxies, out))
        return 0;
    len = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
    if (len <= 0 || len >= XFF_MAX || !(xff = malloc((size_t)len + 1)) ||
        lws_hdr_copy(wsi, xff, len + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0)
        goto done; /* no header: the proxy itself is the client */
    while (*xff) {
        char *item;
        p = strrchr(xff, ',');
        item = p ? p + 1 : xff;
        item += strspn(item, " \t");
        item[strcspn(item, " \t")] = '\0';
        if (!cidr_list_match(proxies, nproxies, item)) {
            /* A valid address that is not ours is the client; anything else
             * is garbage the proxy passed on: keep the last trusted hop. */
            if (cidr_list_parse(item, NULL, 0) == 1 && strlen(item) < outlen &&
                !strchr(item, '/'))
                snprintf(out, outlen, "%s", item);
            break;
        }
        snprintf(out, outlen, "%s", item); /* another proxy of ours */
        if (!p)
            break;
        *p = '\0';
    }
done:
    free(xff);
    return 0;
}

static struct address *peer_address(struct lws *wsi)
{
    char peer[PEER_MAX];

    if (client_address(wsi, peer, sizeof peer) < 0)
        return NULL;
    return limits_address(peer, now_ms());
}

static void staff_auth_done(const char *name, const char *role,
                            const char *fresh, int max_age_s, void *priv)
{
    struct client *c = priv;

    (void)fresh; /* never rotated here: an upgrade answer sets no cookie */
    (void)max_age_s;
    if (!client_release(c))
        return;
    if (!name) {
        client_error(c, "no_session", "log in first");
        c->close_after_flush = 1;
        return;
    }
    session_staff_ready(c, name, role);
}

static void ws_receive(struct lws *wsi, struct pss *ps, const char *in,
                       size_t len)
{
    struct client *c = ps->c;

    if (!c)
        return;
    if (!c->rx_overflow) {
        if (c->rx_len + len > PROTO_MAX_FRAME_BYTES) {
            c->rx_overflow = 1;
        } else {
            char *nb = realloc(c->rx, c->rx_len + len + 1);
            if (!nb)
                return;
            c->rx = nb;
            if (len)
                memcpy(c->rx + c->rx_len, in, len);
            c->rx_len += len;
        }
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (c->rx_overflow)
        client_error(c, "too_long", "frame is longer than %d bytes",
                     PROTO_MAX_FRAME_BYTES);
    else
        session_frame(c, c->rx ? c->rx : "", c->rx_len,
                      lws_frame_is_binary(wsi));
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
    c->rx_overflow = 0;
}

/* Forget the last request on this connection: its answer, its body. */
static void http_reset(struct pss *ps)
{
    struct http_req *h = ps->h;

    if (!h)
        return;
    if (h->job) {
        h->job->wsi = NULL;
        job_put(h->job);
    }
    free(h->body);
    free(h);
    ps->h = NULL;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    struct pss *ps = user;
    struct http_req *h = ps ? ps->h : NULL;
    char uri[HTTP_PATH_MAX], cookie[COOKIE_MAX];

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        http_reset(ps); /* a keep-alive connection's next request */
        if (!(h = calloc(1, sizeof *h)))
            return -1;
        ps->h = h;
        snprintf(h->path, sizeof h->path, "%s", (const char *)in);
        h->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        if (h->post)
            return 0; /* wait for the body */
        return route(wsi, h);
    case LWS_CALLBACK_HTTP_BODY:
        if (!h)
            return -1;
        if (h->body_len + len > HTTP_BODY_MAX) {
            h->body_too_big = 1;
            return 0;
        }
        if (!h->body && !(h->body = malloc(HTTP_BODY_MAX + 1)))
            return -1;
        if (len)
            memcpy(h->body + h->body_len, in, len);
        h->body_len += len;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!h)
            return -1;
        if (!h->body && !(h->body = malloc(HTTP_BODY_MAX + 1)))
            return -1;
        h->body[h->body_len] = '\0';
        return route(wsi, h);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!h || !h->job || !h->job->status)
            return 0;
        return job_write(wsi, h->job);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (ps)
            http_reset(ps);
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        struct address *a = peer_address(wsi);
        if (!origin_allowed(wsi)) {
            refuse_upgrade(wsi, "403 Forbidden", "origin not allowed");
            return 1;
        }
        if (a && a->connections >= CFG->max_connections_per_address) {
            refuse_upgrade(wsi, "429 Too Many Requests",
                           "too many connections from one address");
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
            return 1;
        if (strcmp(uri, "/ws/parent") == 0)
            ps->ep = EP_PARENT;
        else if (strcmp(uri, "/ws/staff") == 0)
            ps->ep = EP_STAFF;
        else
            return 1;
        if (!origin_allowed(wsi))
            return 1; /* refused at HTTP_CONFIRM_UPGRADE with a 403 */
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        /* The upgrade's headers are still attached here (lws frees them
         * after this callback): the address and the cookie are read now
         * rather than kept for the connection's life. */
        if (!(ps->c = client_new(wsi, ps->ep)))
            return -1;
        if ((ps->c->addr = peer_address(wsi)))
            ps->c->addr->connections++;
        if (ps->ep == EP_STAFF) {
            get_cookie(wsi, cookie, sizeof cookie);
            if (cookie[0])
                token_digest(cookie, ps->c->staff->sess);
            client_hold(ps->c);
            auth_session(cookie[0] ? cookie : NULL, 0, staff_auth_done, ps->c);
            sodium_memzero(cookie, sizeof cookie);
        }
        return 0;
    case LWS_CALLBACK_RECEIVE:
        ws_receive(wsi, ps, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!ps->c)
            return -1;
        return client_write(ps->c) < 0 ? -1 : 0;
    case LWS_CALLBACK_CLOSED:
        if (ps->c) {
            if (ps->c->addr && ps->c->addr->connections > 0)
                ps->c->addr->connections--;
            ps->c->addr = NULL;
            client_gone(ps->c);
            ps->c = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"helpline.v1", callback, sizeof(struct pss), WS_RX_CHUNK, 0, NULL,
     WS_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int http_start(uv_loop_t *loop, const struct config *cfg)
{
    struct lws_context_creation_info info;
    void *loops[1] = {loop};

    CFG = cfg;
    snprintf(static_dir, sizeof static_dir, "%s", cfg->static_dir);
    nproxies = cidr_list_parse(cfg->trusted_proxies, proxies, CIDR_LIST_MAX);
    if (nproxies < 0) {
        log_err("trusted_proxies: not an address or CIDR list");
        return -1;
    }
    /* Before the context: everything lws allocates goes through it. */
    lws_set_allocator(pool_lws_realloc);
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = cfg->bind[0] ? cfg->bind : NULL;
    info.protocols = protocols;
    /* Not VALIDATE_UTF8: lws would close the socket on bad UTF-8, where we
     * answer bad_json and keep it.  Not the "best practices" headers: they
     * forbid framing; ours are in security_headers. */
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.vhost_name = "chatd";
    info.server_string = "chatd";
    info.timeout_secs = 30;
    /* Header tables (lws's "ah") stay at lws's defaults.  Their data,
     * max_http_header_data (4 KiB): a request whose headers do not fit is
     * dropped, and a parent's upgrade carries every cookie of the site's
     * domain when chatd is served under it.  Their number,
     * max_http_header_pool (max_fds): a cap parks connections until a
     * table is free, so a few clients sending headers slowly could stall
     * every parent's handshake.  What a burst's tables leave freed in the
     * heap is given back by trim_check (main.c). */
    if (cfg->tls_cert[0] && cfg->tls_key[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    context = lws_create_context(&info);
    /* On a foreign loop lws 4.1.6 returns a context even when the vhost
     * could not bind: a server that does not listen must not say it does. */
    if (!context || !lws_get_vhost_by_name(context, info.vhost_name)) {
        log_err("cannot listen on port %d (in use?)", cfg->port);
        if (context)
            lws_context_destroy(context);
        context = NULL;
        return -1;
    }
    return 0;
}

void http_stop(void)
{
    if (context)
        lws_context_destroy(context);
    context = NULL;
}
