/*
 * config.c - see config.h.  The file format is INI (flat, no sections),
 * parsed by inih; this file only maps names to typed fields.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ENV_PREFIX   "CHATD_"
#define ENV_NAME_MAX 64 /* bytes, for "CHATD_" + option name */

enum opt_type { OPT_INT, OPT_STR };

struct option {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *def;
    long min, max; /* for OPT_INT */
    const char *help;
};

#define INT_OPT(n, d, lo, hi, h)                                               \
    {                                                                          \
#n, OPT_INT, offsetof(struct config, n), d, lo, hi, h                  \
    }
#define STR_OPT(n, d, h)                                                       \
    {                                                                          \
#n, OPT_STR, offsetof(struct config, n), d, 0, 0, h                    \
    }

static const struct option options[] = {
    INT_OPT(port, "8080", 0, 65535, "TCP port for HTTP and WebSocket"),
    STR_OPT(bind, "", "address to listen on; empty means every address"),
    STR_OPT(data_dir, "./var",
            "directory for the master key, the embedded Redis and its data"),
    STR_OPT(static_dir, "",
            "directory of the browser files; empty means widget/ beside "
            "the binary's source tree"),
    STR_OPT(rules_dir, "",
            "triage rule files; empty means moderation/rules beside the "
            "binary's source tree"),
    STR_OPT(redis_url, "",
            "redis://host:port or unix:///path; empty starts an embedded "
            "redis-server under data_dir"),
    STR_OPT(redis_appendfsync, "always",
            "embedded Redis only: always (no acknowledged message lost on "
            "a crash) or everysec (faster, may lose ~1 s)"),
    STR_OPT(master_key_file, "",
            "file holding the 32-byte master key (mode 0600); empty means "
            "data_dir/master.key; every chatd on one Redis needs the same"),
    STR_OPT(allowed_origins, "",
            "comma-separated origins (https://example.org) allowed to open "
            "WebSockets besides the server's own"),
    STR_OPT(trusted_proxies, "",
            "comma-separated addresses or CIDRs (10.0.0.0/8, ::1) of "
            "reverse proxies whose X-Forwarded-For names the client; empty "
            "means none: the header is ignored"),
    STR_OPT(tls_cert, "", "PEM certificate; with tls_key, serve HTTPS/WSS"),
    STR_OPT(tls_key, "", "PEM private key for tls_cert"),
    INT_OPT(default_capacity, "2", 1, 8,
            "chats an adviser takes at once unless they choose otherwise"),
    INT_OPT(max_capacity, "4", 1, 8, "most chats an adviser may choose"),
    INT_OPT(grace_s, "60", 1, 3600,
            "seconds a dropped parent keeps their place, and a dropped "
            "adviser keeps their chats"),
    INT_OPT(parent_timeout_s, "600", 1, 86400,
            "seconds after which a chat whose parent has gone (tab closed, "
            "phone off) is ended; past grace_s the adviser is told they are "
            "away"),
    INT_OPT(continuity_wait_s, "60", 0, 3600,
            "seconds a returning parent waits for their previous adviser"),
    INT_OPT(sweep_interval_ms, "1000", 50, 60000,
            "milliseconds between checks for parents and advisers gone "
            "past grace_s"),
    INT_OPT(store_group_us, "1000", 0, 5000000,
            "microseconds chatd gathers messages into one write to Redis "
            "under load, so Redis syncs its disk once for all of them; 0 "
            "writes every loop turn"),
    INT_OPT(default_chat_s, "900", 60, 7200,
            "assumed chat length in seconds for wait estimates until "
            "real chats have been measured"),
    INT_OPT(retention_days, "30", 1, 3650,
            "days a transcript is kept unless a lead holds it"),
    INT_OPT(retention_s, "0", 0, 315360000,
            "if above 0, seconds a transcript is kept, instead of "
            "retention_days (for tests and drills)"),
    INT_OPT(retention_sweep_s, "60", 1, 86400,
            "seconds between deletions of transcripts past retention (and "
            "trims of the events and audit streams)"),
    INT_OPT(events_keep_days, "400", 1, 3650,
            "days the events stream (text-free figures for reports) is kept"),
    INT_OPT(events_max_entries, "10000000", 100, 1000000000,
            "most entries the events stream keeps; the oldest go first"),
    INT_OPT(audit_keep_days, "2190", 1, 36500,
            "days the audit stream is kept; never less than the transcripts' "
            "retention"),
    INT_OPT(session_ttl_s, "43200", 60, 604800,
            "seconds a staff login lasts, however it is used"),
    INT_OPT(session_idle_s, "1800", 2, 86400,
            "seconds a staff session lasts unused (no request with it and "
            "no console open on it)"),
    INT_OPT(session_rotate_s, "900", 1, 86400,
            "seconds after which a staff session cookie is replaced by a "
            "fresh one when next used"),
    INT_OPT(session_rotate_overlap_s, "60", 6, 3600,
            "seconds a replaced session cookie still works, for requests "
            "already on their way; open consoles follow the new one"),
    INT_OPT(max_connections_per_address, "50", 1, 100000,
            "WebSockets one client address may hold open on this process "
            "(a school or a family may share one address)"),
    INT_OPT(client_frames_per_s, "5", 1, 10000,
            "frames a second one connection may send on average"),
    INT_OPT(client_frames_burst, "30", 1, 100000,
            "frames one connection may send at once before it is limited"),
    INT_OPT(address_frames_per_s, "50", 1, 100000,
            "frames a second all the connections of one address may send"),
    INT_OPT(address_frames_burst, "200", 1, 1000000,
            "frames all the connections of one address may send at once"),
    INT_OPT(login_failures_per_address, "20", 1, 100000,
            "failed staff logins from one address per 15 minutes"),
    INT_OPT(login_max_failures, "5", 1, 1000,
            "failed logins for one name from one address before that "
            "address is throttled for that name"),
    INT_OPT(login_max_failures_per_name, "100", 1, 100000,
            "failed logins for one name from all addresses, per "
            "login_lockout_s, before the name is throttled for everyone"),
    INT_OPT(login_lockout_s, "900", 1, 86400,
            "seconds a throttled name (or name and address) must wait"),
    STR_OPT(hours, "",
            "when the line is open, in local time, e.g. \"mon-fri "
            "09:00-21:00; sat,sun 10:00-18:00\"; empty means always open"),
    STR_OPT(hours_exceptions, "",
            "dated exceptions, e.g. \"2026-12-25 closed; 2026-12-24 "
            "10:00-14:00\""),
    STR_OPT(timezone, "Europe/London",
            "the time zone of hours, of reports and of services' hours"),
    STR_OPT(services_file, "",
            "the service directory (docs/services.md); empty means "
            "config/services.json beside the binary's source tree"),
    STR_OPT(services_local_file, "",
            "a second, local directory loaded with it; empty for none"),
    STR_OPT(log_level, "info", "debug, info, warn or error"),
    STR_OPT(log_file, "", "append the log here; empty means stderr"),
};

#define NOPTIONS (int)(sizeof options / sizeof options[0])

const char *config_option_name(int i)
{
    return i >= 0 && i < NOPTIONS ? options[i].name : NULL;
}

int config_set(struct config *cfg, const char *name, const char *value,
               char *err, size_t errlen)
{
    for (int i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        char *field = (char *)cfg + o->offset;
        if (strcmp(o->name, name) != 0)
            continue;
        if (o->type == OPT_INT) {
            char *end;
            long v;
            errno = 0;
            v = strtol(value, &end, 10);
            if (errno || end == value || *end || v < o->min || v > o->max) {
                snprintf(err, errlen,
                         "%s must be a whole number from %ld to %ld", name,
                         o->min, o->max);
                return -1;
            }
            *(int *)field = (int)v;
            return 0;
        }
        if (strlen(value) >= CONFIG_STR_MAX) {
            snprintf(err, errlen, "%s is longer than %d bytes", name,
                     CONFIG_STR_MAX - 1);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    snprintf(err, errlen, "unknown option '%s'", name);
    return -1;
}

void config_defaults(struct config *cfg)
{
    char err[128];

    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NOPTIONS; i++)
        (void)config_set(cfg, options[i].name, options[i].def, err, sizeof err);
}

struct load_ctx {
    struct config *cfg;
    FILE *fp;
    int line;     /* lines read so far: the one inih is working on */
    int err_line; /* line of the first error, 0 while there is none */
    char err[256];
};

static void load_error(struct load_ctx *lc, const char *msg)
{
    if (lc->err_line)
        return; /* inih reads on after an error: keep the first */
    lc->err_line = lc->line;
    snprintf(lc->err, sizeof lc->err, "%s", msg);
}

/* inih's reader: fgets() that counts lines and refuses, rather than
 * splits, a line too long for inih's buffer. */
static char *read_line(char *str, int num, void *stream)
{
    struct load_ctx *lc = stream;
    size_t n;
    int c;

    if (!fgets(str, num, lc->fp))
        return NULL;
    lc->line++;
    n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && (c = fgetc(lc->fp)) != EOF &&
        c != '\n') {
        char msg[64];
        while ((c = fgetc(lc->fp)) != EOF && c != '\n')
            ;
        snprintf(msg, sizeof msg, "line is longer than %d bytes", num - 2);
        load_error(lc, msg);
        str[0] = '\0'; /* inih sees a blank line */
    }
    return str;
}

static int on_ini_line(void *user, const char *section, const char *name,
                       const char *value)
{
    struct load_ctx *lc = user;
    char msg[256];

    if (section && *section) {
        snprintf(msg, sizeof msg, "sections are not used ([%s])", section);
        load_error(lc, msg);
        return 0;
    }
    if (config_set(lc->cfg, name, value, msg, sizeof msg) < 0) {
        load_error(lc, msg);
        return 0;
    }
    return 1;
}

static int apply_env(struct config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < NOPTIONS; i++) {
        char env[ENV_NAME_MAX], msg[256];
        const char *v;
        size_t n = strlen(ENV_PREFIX);

        memcpy(env, ENV_PREFIX, n);
        for (const char *p = options[i].name; *p && n < sizeof env - 1; p++)
            env[n++] = (char)toupper((unsigned char)*p);
        env[n] = '\0';
        if (!(v = getenv(env)))
            continue;
        if (config_set(cfg, options[i].name, v, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "environment %s: %s", env, msg);
            return -1;
        }
    }
    return 0;
}

static int load_file(const char *path, struct config *cfg, char *err,
                     size_t errlen)
{
    struct load_ctx lc = {.cfg = cfg};
    int line, bad;

    if (!(lc.fp = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    line = ini_parse_stream(read_line, &lc, on_ini_line, &lc);
    bad = ferror(lc.fp); /* e.g. EISDIR: a directory reads as empty */
    fclose(lc.fp);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read", path);
        return -1;
    }
    /* inih returns the first line it could not parse; ours may be earlier */
    if (lc.err_line && (line <= 0 || lc.err_line <= line)) {
        snprintf(err, errlen, "%s:%d: %s", path, lc.err_line, lc.err);
        return -1;
    }
    if (line != 0) {
        snprintf(err, errlen, "%s:%d: syntax error", path, line);
        return -1;
    }
    return 0;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
    struct config tmp;

    config_defaults(&tmp);
    if (path && load_file(path, &tmp, err, errlen) < 0)
        return -1;
    if (apply_env(&tmp, err, errlen) < 0)
        return -1;
    if (tmp.default_capacity > tmp.max_capacity) {
        snprintf(err, errlen, "default_capacity exceeds max_capacity");
        return -1;
    }
    if (cidr_list_parse(tmp.trusted_proxies, NULL, 0) < 0) {
        snprintf(err, errlen,
                 "trusted_proxies: not an address or CIDR list (%s)",
                 tmp.trusted_proxies);
        return -1;
    }
    *cfg = tmp;
    return 0;
}

/* --- address lists (trusted_proxies) ------------------------------------ */

/* One address in text form to 16 bytes; an IPv4 address (or an IPv4-mapped
 * IPv6 one, as a dual-stack socket reports it) as family 4. */
static int addr_parse(const char *text, int *family, uint8_t out[16])
{
    struct in6_addr a6;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, out) == 1) {
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &a6) != 1)
        return -1;
    if (memcmp(a6.s6_addr, mapped, sizeof mapped) == 0) {
        *family = 4;
        memcpy(out, a6.s6_addr + 12, 4);
        return 0;
    }
    *family = 6;
    memcpy(out, a6.s6_addr, 16);
    return 0;
}

int cidr_list_parse(const char *list, struct cidr *out, int max)
{
    int n = 0;

    while (*list) {
        char item[CIDR_TEXT_MAX], *slash;
        size_t len;
        struct cidr c;

        list += strspn(list, ", \t");
        len = strcspn(list, ", \t");
        if (len == 0)
            break;
        if (len >= sizeof item || n >= CIDR_LIST_MAX)
            return -1;
        memcpy(item, list, len);
        item[len] = '\0';
        list += len;
        if ((slash = strchr(item, '/')))
            *slash++ = '\0';
        if (addr_parse(item, &c.family, c.addr) < 0)
            return -1;
        c.bits = c.family == 4 ? 32 : 128;
        if (slash) {
            char *end;
            long b = strtol(slash, &end, 10);
            /* a mapped ::ffff:a.b.c.d/n counts n over the IPv6 address */
            if (c.family == 4 && strchr(item, ':'))
                b -= 96;
            if (end == slash || *end || b < 0 || b > c.bits)
                return -1;
            c.bits = (int)b;
        }
        if (out && n < max)
            out[n] = c;
        n++;
    }
    return n;
}

int cidr_list_match(const struct cidr *list, int n, const char *text)
{
    uint8_t a[16];
    int family;

    if (!text || addr_parse(text, &family, a) < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        const struct cidr *c = &list[i];
        int whole = c->bits / 8, rest = c->bits % 8;
        if (c->family != family || memcmp(a, c->addr, (size_t)whole) != 0)
            continue;
        if (rest && ((a[whole] ^ c->addr[whole]) & (0xff << (8 - rest))))
            continue;
        return 1;
    }
    return 0;
}

void config_help(FILE *out)
{
    for (int i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        fprintf(out, "  %-20s %s\n  %-20s (default: %s%s%s)\n", o->name,
                o->help, "", *o->def ? "" : "\"", o->def, *o->def ? "" : "\"");
    }
}
