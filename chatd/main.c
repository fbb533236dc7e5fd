/*
 * main.c - chatd's entry point: the command line, start-up in order, the
 * signals, and shutdown.
 *
 *   chatd [--config FILE]            run the daemon
 *   chatd user add|del|list ...      staff accounts
 *   chatd triage [--explain]         triage lines from standard input
 */
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "conv.h"
#include "queue.h"
#include "crypto.h"
#include "http.h"
#include "hours.h"
#include "log.h"
#include "ratelimit.h"
#include "rds.h"
#include "report.h"
#include "services.h"
#include "session.h"
#include "triage.h"

#include <libwebsockets.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEARCH_UP_LEVELS 4 /* from the binary up to the source tree */

static struct config cfg;
static const char *config_path;
static struct triage_rules *rules;
static uv_loop_t loop;
static uv_signal_t sig_term, sig_int, sig_hup;
static int stopping;
static uv_timer_t drain_timer;

#define DRAIN_MS 300 /* for close frames to reach clients on SIGTERM */
/* How often the heap's free space is looked at, and by how much it must
 * have grown since the last trim for another. */
#define TRIM_CHECK_MS   1000
#define TRIM_STEP_BYTES (1024 * 1024)

static uv_timer_t trim_timer;
static size_t trimmed_free; /* the heap's free bytes at the last trim */

/* glibc keeps what is freed inside the heap resident.  A burst of
 * connections (their header tables, Redis replies, JSON) leaves megabytes
 * of it in holes among what stays allocated; malloc_trim() hands the
 * whole pages of those holes back.  mallinfo2() only walks the free
 * lists, so looking each second is cheap, and trimming happens only when
 * the free space has grown by TRIM_STEP_BYTES since it last did. */
static void trim_check(uv_timer_t *t)
{
    struct mallinfo2 mi = mallinfo2();

    (void)t;
    if (mi.fordblks >= trimmed_free + TRIM_STEP_BYTES) {
        malloc_trim(0);
        trimmed_free = mi.fordblks;
    } else if (mi.fordblks < trimmed_free) {
        trimmed_free = mi.fordblks;
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "chatd - anonymous parent helpline chat server\n\n"
            "usage: chatd [--config FILE]      run the daemon\n"
            "       chatd user add NAME --role adviser|lead|supervisor|admin\n"
            "                                  (password on standard input)\n"
            "       chatd user del NAME\n"
            "       chatd user list\n"
            "       chatd triage [--explain]   triage standard input, one "
            "message a line\n"
            "       chatd report [--from YYYY-MM-DD] [--to YYYY-MM-DD] "
            "[--csv|--json]\n"
            "                                  the service's figures\n"
            "       chatd audit [--since WHEN] [--json]\n"
            "                                  staff reads of transcripts "
            "and cases, decisions\n"
            "       chatd --help\n\n"
            "Signals: SIGHUP reloads the triage rules, the service directory "
            "and the opening hours\n"
            "(each refused whole if broken, the old staying in force); "
            "SIGTERM tells clients to\nreconnect and exits.\n\n"
            "Options (config file 'name = value', or environment "
            "CHATD_<NAME>, which wins):\n");
    config_help(out);
}

/* Find name (e.g. "widget", a directory, or "config/services.json", a
 * file) beside the binary's source tree, else ./name. */
static void find_path(const char *name, int want_dir, char *out, size_t outlen)
{
    char exe[PATH_MAX], try[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat st;

    if (n > 0) {
        exe[n] = '\0';
        char *d = dirname(exe);
        for (int up = 0; up <= SEARCH_UP_LEVELS; up++) {
            snprintf(try, sizeof try, "%s/%s", d, name);
            if (stat(try, &st) == 0 &&
                (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) &&
                strlen(try) < outlen) {
                memcpy(out, try, strlen(try) + 1);
                return;
            }
            d = dirname(d);
        }
    }
    snprintf(out, outlen, "%s", name);
}

static int resolve_config(int argc, char **argv)
{
    char err[512];

    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0)
            config_path = argv[i + 1];
    if (config_load(config_path, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "chatd: %s\n", err);
        return -1;
    }
    /* Absolute, because the embedded redis-server changes directory. */
    if (mkdir(cfg.data_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "chatd: %s: cannot create: %s\n", cfg.data_dir,
                strerror(errno));
        return -1;
    }
    if (cfg.data_dir[0] != '/') {
        char abs[PATH_MAX];
        if (!realpath(cfg.data_dir, abs) ||
            strlen(abs) >= sizeof cfg.data_dir) {
            fprintf(stderr, "chatd: %s: cannot resolve\n", cfg.data_dir);
            return -1;
        }
        memcpy(cfg.data_dir, abs, strlen(abs) + 1);
    }
    if (!cfg.static_dir[0])
        find_path("widget", 1, cfg.static_dir, sizeof cfg.static_dir);
    if (!cfg.rules_dir[0])
        find_path("moderation/rules", 1, cfg.rules_dir, sizeof cfg.rules_dir);
    if (!cfg.services_file[0])
        find_path("config/services.json", 0, cfg.services_file,
                  sizeof cfg.services_file);
    if (!cfg.master_key_file[0] &&
        (size_t)snprintf(cfg.master_key_file, sizeof cfg.master_key_file,
                         "%s/master.key",
                         cfg.data_dir) >= sizeof cfg.master_key_file) {
        fprintf(stderr, "chatd: data_dir is too long\n");
        return -1;
    }
    return 0;
}

static void drained(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, NULL);
    uv_close((uv_handle_t *)&trim_timer, NULL);
    http_stop();
    client_shutdown();
    conv_shutdown();
    queue_shutdown();
    rds_stop();
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
}

/* The service directory and the opening hours, from c; on failure the
 * error names the file (and record) or the option. */
static int load_directory(const struct config *c, struct services **svcs,
                          struct hours **hrs, char *err, size_t errlen)
{
    const char *paths[2] = {c->services_file, c->services_local_file};
    char msg[400];

    *svcs = services_load_files(paths, c->services_local_file[0] ? 2 : 1, err,
                                errlen);
    if (!*svcs)
        return -1;
    *hrs = hours_parse(c->hours, c->hours_exceptions, msg, sizeof msg);
    if (!*hrs) {
        snprintf(err, errlen, "hours: %s", msg);
        services_free(*svcs);
        *svcs = NULL;
        return -1;
    }
    return 0;
}

static struct services *services;
static struct hours *hours;

/* SIGHUP: the rules, the directory and the hours, each refused whole if
 * broken, the old one staying in force. */
static void reload(void)
{
    char err[512];
    struct triage_rules *fresh = triage_load(cfg.rules_dir, err, sizeof err);
    struct config next;
    struct services *s;
    struct hours *h;

    if (fresh) {
        session_init(&cfg, fresh);
        triage_free(rules);
        rules = fresh;
        log_info("SIGHUP: triage rules reloaded");
    } else {
        log_err("SIGHUP: rules refused, the old ones stay: %s", err);
    }
    /* Hours live in the config file: read it again for them only. */
    if (config_load(config_path, &next, err, sizeof err) < 0) {
        log_err("SIGHUP: config refused, hours stay: %s", err);
        next = cfg;
    } else {
        memcpy(cfg.hours, next.hours, sizeof cfg.hours);
        memcpy(cfg.hours_exceptions, next.hours_exceptions,
               sizeof cfg.hours_exceptions);
    }
    if (load_directory(&cfg, &s, &h, err, sizeof err) < 0) {
        log_err("SIGHUP: directory or hours refused, the old stay: %s", err);
        return;
    }
    session_set_directory(s, h);
    services_free(services);
    hours_free(hours);
    services = s;
    hours = h;
    log_info("SIGHUP: %zu services and the opening hours reloaded",
             services_count(s));
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum == SIGHUP) {
        reload();
        return;
    }
    if (stopping)
        return;
    stopping = 1;
    log_info("stopping: telling clients to reconnect");
    /* Clients get "going away" and reconnect elsewhere; their state is
     * all in Redis, so nothing is lost. */
    for (struct client *c = clients; c; c = c->next)
        client_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
    uv_timer_init(&loop, &drain_timer);
    uv_timer_start(&drain_timer, drained, DRAIN_MS, 0);
}

static void on_ready(void)
{
    conv_resync_all();
}

static int run_daemon(void)
{
    char err[512];
    struct rds_hooks hooks = {on_ready, NULL, conv_events};
    struct rlimit no_core = {0, 0};

    /* A core dump would hold keys and message text. */
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGPIPE, SIG_IGN);
    if (crypto_init(cfg.master_key_file) < 0)
        return 1;
    if (!(rules = triage_load(cfg.rules_dir, err, sizeof err))) {
        log_err("triage rules: %s", err);
        return 1;
    }
    if (hours_tz_init(cfg.timezone, err, sizeof err) < 0 ||
        load_directory(&cfg, &services, &hours, err, sizeof err) < 0) {
        log_err("%s", err);
        return 1;
    }
    session_set_directory(services, hours);
    if (limits_init() < 0) {
        log_err("out of memory for the client limits");
        return 1;
    }
    uv_loop_init(&loop);
    if (auth_init(&loop, &cfg) != 0) {
        log_err("cannot initialise password checks");
        return 1;
    }
    session_init(&cfg, rules);
    if (rds_start(&loop, &cfg, &hooks) < 0)
        return 1;
    conv_init(&loop, &cfg);
    queue_init(&loop, &cfg);
    if (client_init(&loop) < 0)
        return 1;
    if (http_start(&loop, &cfg) < 0) {
        rds_stop();
        rds_stop_embedded();
        return 1;
    }
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    uv_signal_init(&loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    /* What loading the rules and the directory left freed goes back now;
     * later bursts are trimmed by trim_check. */
    malloc_trim(0);
    trimmed_free = mallinfo2().fordblks;
    uv_timer_init(&loop, &trim_timer);
    uv_timer_start(&trim_timer, trim_check, TRIM_CHECK_MS, TRIM_CHECK_MS);
    uv_unref(
        (uv_handle_t *)&trim_timer); /* never what keeps the loop running */
    log_info("chatd listening on port %d (static files: %s)", cfg.port,
             cfg.static_dir);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rds_stop_embedded();
    triage_free(rules);
    services_free(services);
    hours_free(hours);
    limits_shutdown();
    crypto_shutdown();
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    if (resolve_config(argc, argv) < 0)
        return 2;
    if (log_init(cfg.log_level, cfg.log_file) < 0) {
        fprintf(stderr, "chatd: log_level or log_file is not valid\n");
        return 2;
    }
    log_route_lws();
    if (argc > 1 && strcmp(argv[1], "triage") == 0)
        return triage_cli(argc - 1, argv + 1, cfg.rules_dir);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return report_cli(argc - 1, argv + 1, &cfg);
    if (argc > 1 && strcmp(argv[1], "audit") == 0)
        return audit_cli(argc - 1, argv + 1, &cfg);
    if (argc > 1 && strcmp(argv[1], "user") == 0) {
        if (crypto_init(NULL) < 0)
            return 1;
        return user_cli(argc - 2, argv + 2, &cfg);
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0)
            i++;
        else {
            fprintf(stderr, "chatd: unknown argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    return run_daemon();
}
