/*
 * test_config.c - config_load(): defaults, the file, the environment (which
 * wins), "file:line: reason" errors, all-or-nothing loading, and the sample
 * config/chatd.conf, which must load to the defaults and show every option
 * in the table.  Run from the repository root (tests/run.sh does).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#define SAMPLE "config/chatd.conf"

static char tmpdir[] = "/tmp/chatd-test-config-XXXXXX";
static char err[512];

/* ---- helpers ---------------------------------------------------------- */

static int option_count(void)
{
    int n = 0;

    while (config_option_name(n))
        n++;
    return n;
}

/* "CHATD_" + the option name in upper case. */
static void env_name(const char *opt, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "CHATD_");

    for (const char *p = opt; *p && n + 1 < outlen; p++)
        out[n++] = (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* No CHATD_<OPTION> from the caller's environment may leak into a test. */
static void clear_env(void)
{
    char name[80];

    for (int i = 0; config_option_name(i); i++) {
        env_name(config_option_name(i), name, sizeof name);
        unsetenv(name);
    }
}

/* Write text to tmpdir/name; returns the path (static buffer). */
static const char *write_conf(const char *name, const char *text)
{
    static char path[sizeof tmpdir + 64];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Expect config_load(text) to fail with "path:line: ..." containing want,
 * leaving a sentinel config untouched. */
static void load_err_at(const char *file, int line, const char *text,
                        int want_line, const char *want)
{
    struct config cfg, before;
    char prefix[sizeof tmpdir + 80];
    const char *path = write_conf("bad.conf", text);

    config_defaults(&cfg);
    cfg.port = 4242; /* a value no load would produce */
    before = cfg;
    err[0] = '\0';
    CHECK_AT(file, line, config_load(path, &cfg, err, sizeof err) == -1,
             "config \"%s\" accepted", text);
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, want_line);
    CHECK_AT(file, line, starts_with(err, prefix), "error \"%s\", want \"%s\"",
             err, prefix);
    CHECK_AT(file, line, strstr(err, want) != NULL,
             "error \"%s\" does not mention \"%s\"", err, want);
    CHECK_AT(file, line, memcmp(&cfg, &before, sizeof cfg) == 0,
             "a failed load changed the config");
}
#define LOAD_ERR(text, line, want)                                             \
    load_err_at(__FILE__, __LINE__, text, line, want)

/* ---- tests ------------------------------------------------------------ */

TEST(defaults)
{
    struct config cfg, loaded;

    config_defaults(&cfg);
    CHECK_INT(cfg.port, 8080);
    CHECK_STR(cfg.data_dir, "./var");
    CHECK_INT(cfg.grace_s, 60);
    CHECK_INT(cfg.continuity_wait_s, 60);
    CHECK_INT(cfg.default_capacity, 2);
    CHECK_INT(cfg.retention_days, 30);
    CHECK_STR(cfg.redis_url, "");
    CHECK_STR(cfg.redis_appendfsync, "always");
    CHECK_STR(cfg.log_level, "info");
    CHECK(cfg.default_capacity <= cfg.max_capacity,
          "default capacity %d over the maximum %d", cfg.default_capacity,
          cfg.max_capacity);
    /* No file and no environment: exactly the defaults. */
    memset(&loaded, 0xA5, sizeof loaded);
    CHECK(config_load(NULL, &loaded, err, sizeof err) == 0,
          "defaults refused: %s", err);
    CHECK(memcmp(&cfg, &loaded, sizeof cfg) == 0,
          "config_load(NULL) differs from config_defaults");
}

TEST(option_table)
{
    int n = option_count();

    CHECK(n >= 20, "only %d options", n);
    CHECK(config_option_name(-1) == NULL, "option -1 exists");
    CHECK(config_option_name(n) == NULL, "no end to the options");
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            CHECK(strcmp(config_option_name(i), config_option_name(j)) != 0,
                  "option %s listed twice", config_option_name(i));
    /* `chatd --help` shows every option. */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (CHECK(fp != NULL, "open_memstream failed")) {
        config_help(fp);
        fclose(fp);
        for (int i = 0; i < n; i++)
            CHECK(strstr(buf, config_option_name(i)) != NULL,
                  "--help does not mention %s", config_option_name(i));
        CHECK(strstr(buf, "8080") != NULL, "--help does not show defaults");
        free(buf);
    }
}

TEST(file_overrides_defaults)
{
    struct config cfg;
    const char *path =
        write_conf("ok.conf", "# a comment\n"
                              "; another comment\n"
                              "\n"
                              "port = 9090\n"
                              "data_dir=/srv/chatd\n"
                              "redis_url   =   redis://127.0.0.1:6380   \n"
                              "grace_s = 5\n"
                              "default_capacity = 3\n"
                              "log_level = debug\n"
                              "bind =\n");

    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.port, 9090);
    CHECK_STR(cfg.data_dir, "/srv/chatd");
    CHECK_STR(cfg.redis_url, "redis://127.0.0.1:6380");
    CHECK_INT(cfg.grace_s, 5);
    CHECK_INT(cfg.default_capacity, 3);
    CHECK_STR(cfg.log_level, "debug");
    CHECK_STR(cfg.bind, "");
    /* What the file does not set keeps its default. */
    CHECK_INT(cfg.retention_days, 30);
    CHECK_INT(cfg.continuity_wait_s, 60);
    CHECK_INT(cfg.max_capacity, 4);
    /* The edges of a range are allowed. */
    path = write_conf("edge.conf", "port = 65535\ncontinuity_wait_s = 0\n"
                                   "retention_days = 3650\n");
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.port, 65535);
    CHECK_INT(cfg.continuity_wait_s, 0);
    CHECK_INT(cfg.retention_days, 3650);
    /* A later line wins over an earlier one. */
    path = write_conf("twice.conf", "port = 1000\nport = 2000\n");
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.port, 2000);
}

TEST(environment_wins)
{
    struct config cfg;
    const char *path = write_conf("env.conf", "port = 9090\n"
                                              "redis_url = redis://file:1\n"
                                              "data_dir = /from/file\n"
                                              "grace_s = 5\n");

    setenv("CHATD_PORT", "7070", 1);
    setenv("CHATD_REDIS_URL", "unix:///run/chatd/redis.sock", 1);
    setenv("CHATD_DATA_DIR", "/from/env", 1);
    setenv("CHATD_SWEEP_INTERVAL_MS", "200", 1);
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.port, 7070);
    CHECK_STR(cfg.redis_url, "unix:///run/chatd/redis.sock");
    CHECK_STR(cfg.data_dir, "/from/env");
    CHECK_INT(cfg.sweep_interval_ms, 200);
    CHECK_INT(cfg.grace_s, 5); /* from the file, no variable set */
    /* Without a file too. */
    CHECK(config_load(NULL, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.port, 7070);
    CHECK_STR(cfg.data_dir, "/from/env");
    /* An empty variable sets the empty string. */
    setenv("CHATD_REDIS_URL", "", 1);
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_STR(cfg.redis_url, "");
    /* A bad variable is refused by name, and nothing changes. */
    struct config before = cfg;
    setenv("CHATD_PORT", "eighty", 1);
    CHECK(config_load(path, &cfg, err, sizeof err) == -1,
          "CHATD_PORT=eighty accepted");
    CHECK(strstr(err, "CHATD_PORT") != NULL, "error \"%s\" does not name it",
          err);
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0,
          "a failed load changed the config");
    clear_env();
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.port, 9090);
    CHECK_STR(cfg.data_dir, "/from/file");
}

TEST(errors_name_file_and_line)
{
    LOAD_ERR("port = 9090\n\ncolour = blue\n", 3, "unknown option 'colour'");
    LOAD_ERR("port = eighty\n", 1, "port");
    LOAD_ERR("# x\nport = 80x\n", 2, "port");
    LOAD_ERR("port = \n", 1, "port");
    LOAD_ERR("port = 0x50\n", 1, "port");
    LOAD_ERR("port = 99999999999999999999\n", 1, "port");
    LOAD_ERR("port = 65536\n", 1, "port");
    LOAD_ERR("port = -1\n", 1, "port");
    LOAD_ERR("grace_s = 0\n", 1, "grace_s");
    LOAD_ERR("default_capacity = 9\n", 1, "default_capacity");
    LOAD_ERR("retention_days = 0\n", 1, "retention_days");
    LOAD_ERR("sweep_interval_ms = 10\n", 1, "sweep_interval_ms");
    LOAD_ERR("store_group_us = -1\n", 1, "store_group_us");
    LOAD_ERR("store_group_us = 5000001\n", 1, "store_group_us");
    /* An inline '#' is not a comment, so the number is bad. */
    LOAD_ERR("port = 8080 # the default\n", 1, "port");
    /* Sections are not used; the error names the section. */
    LOAD_ERR("# chatd\n[network]\nport = 9090\n", 3, "[network]");
    /* A line that is not "name = value". */
    LOAD_ERR("port = 9090\njust some words\n", 2, "syntax error");
    /* Option names are exact. */
    LOAD_ERR("Port = 9090\n", 1, "unknown option 'Port'");
}

TEST(first_error_is_reported)
{
    struct config cfg;
    const char *path = write_conf("two.conf", "colour = blue\nport = eighty\n");

    CHECK(config_load(path, &cfg, err, sizeof err) == -1, "accepted");
    /* inih reads on after an error and returns the first error's line, but
     * config.c keeps the last handler message: the line and the reason do
     * not match.  Reported with the fix. */
    CHECK(strstr(err, ":1: unknown option 'colour'") != NULL,
          "two errors reported as \"%s\"", err);
    path = write_conf("two.conf", "just words\nport = eighty\n");
    CHECK(config_load(path, &cfg, err, sizeof err) == -1, "accepted");
    CHECK(strstr(err, ":1: syntax error") != NULL,
          "two errors reported as \"%s\"", err);
}

TEST(long_lines)
{
    struct config cfg;
    char line[600];
    const char *path;
    int rc;

    /* Strings up to CONFIG_STR_MAX - 1 bytes, through config_set. */
    config_defaults(&cfg);
    memset(line, 'o', CONFIG_STR_MAX - 1);
    line[CONFIG_STR_MAX - 1] = '\0';
    CHECK(config_set(&cfg, "allowed_origins", line, err, sizeof err) == 0,
          "refused: %s", err);
    CHECK_INT(strlen(cfg.allowed_origins), CONFIG_STR_MAX - 1);
    memset(line, 'o', CONFIG_STR_MAX);
    line[CONFIG_STR_MAX] = '\0';
    CHECK(config_set(&cfg, "allowed_origins", line, err, sizeof err) == -1,
          "a %d-byte value accepted", CONFIG_STR_MAX);
    CHECK(strstr(err, "allowed_origins") != NULL, "error \"%s\"", err);
    /* And through the environment. */
    setenv("CHATD_LOG_FILE", line, 1);
    CHECK(config_load(NULL, &cfg, err, sizeof err) == -1,
          "an over-long CHATD_LOG_FILE accepted");
    line[CONFIG_STR_MAX - 1] = '\0';
    setenv("CHATD_LOG_FILE", line, 1);
    CHECK(config_load(NULL, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(strlen(cfg.log_file), CONFIG_STR_MAX - 1);
    unsetenv("CHATD_LOG_FILE");

    /* A line over inih's 200-byte buffer (Debian's libinih) is split in
     * two: the value is cut short and the rest read as a new line, so the
     * error names a line the file does not have, or the tail is taken as a
     * setting.  Reported with the fix. */
    snprintf(line, sizeof line, "allowed_origins = https://%0250d.org\n", 0);
    path = write_conf("long.conf", line);
    rc = config_load(path, &cfg, err, sizeof err);
    CHECK((rc == 0 && strlen(cfg.allowed_origins) == strlen(line) - 19) ||
              (rc == -1 && strstr(err, ":1: ") != NULL),
          "a 280-byte line: rc %d, \"%s\"", rc, rc ? err : "");
    snprintf(line, sizeof line, "allowed_origins = %0181dport = 9\n", 0);
    path = write_conf("long.conf", line);
    config_defaults(&cfg);
    rc = config_load(path, &cfg, err, sizeof err);
    CHECK(rc == -1 || cfg.port != 9,
          "the tail of a long line was read as port = %d", cfg.port);
}

TEST(failed_load_leaves_config)
{
    struct config cfg, before;
    const char *good = write_conf("good.conf", "port = 9090\ngrace_s = 7\n");

    CHECK(config_load(good, &cfg, err, sizeof err) == 0, "refused: %s", err);
    before = cfg;
    /* Valid lines before the bad one must not leak through. */
    const char *bad =
        write_conf("bad2.conf", "port = 1234\ngrace_s = 9\nport = x\n");
    CHECK(config_load(bad, &cfg, err, sizeof err) == -1, "accepted");
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0,
          "a failed load changed the config");
    CHECK_INT(cfg.port, 9090);
    CHECK_INT(cfg.grace_s, 7);
    /* Likewise a missing file. */
    CHECK(config_load("/nonexistent/chatd.conf", &cfg, err, sizeof err) == -1,
          "a missing file loaded");
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0,
          "a failed load changed the config");
}

TEST(capacity_order)
{
    struct config cfg;
    const char *path =
        write_conf("cap.conf", "default_capacity = 5\nmax_capacity = 4\n");

    config_defaults(&cfg);
    CHECK(config_load(path, &cfg, err, sizeof err) == -1,
          "default_capacity 5 over max_capacity 4 accepted");
    CHECK(strstr(err, "default_capacity") != NULL, "error \"%s\"", err);
    CHECK_INT(cfg.default_capacity, 2);
    /* The default 2 against a smaller maximum. */
    path = write_conf("cap.conf", "max_capacity = 1\n");
    CHECK(config_load(path, &cfg, err, sizeof err) == -1,
          "max_capacity 1 under the default capacity 2 accepted");
    /* Fixed by the environment, which is applied before the check. */
    setenv("CHATD_DEFAULT_CAPACITY", "1", 1);
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.default_capacity, 1);
    CHECK_INT(cfg.max_capacity, 1);
    unsetenv("CHATD_DEFAULT_CAPACITY");
    /* Equal is fine. */
    path = write_conf("cap.conf", "default_capacity = 8\nmax_capacity = 8\n");
    CHECK(config_load(path, &cfg, err, sizeof err) == 0, "refused: %s", err);
    CHECK_INT(cfg.default_capacity, 8);
}

TEST(missing_file)
{
    struct config cfg;
    char path[sizeof tmpdir + 32];

    snprintf(path, sizeof path, "%s/absent.conf", tmpdir);
    err[0] = '\0';
    CHECK(config_load(path, &cfg, err, sizeof err) == -1,
          "a missing file loaded");
    CHECK(starts_with(err, path), "error \"%s\" does not name the file", err);
    /* A directory is not a config file either, but fopen() succeeds on
     * one and inih reads it as empty: chatd --config /etc/chatd starts
     * on the defaults.  Reported with the fix. */
    CHECK(config_load(tmpdir, &cfg, err, sizeof err) == -1,
          "a directory loaded as an empty config file");
}

/* The sample config loads to the defaults and shows every option, each as
 * a commented-out "# name = default" line whose value is the real default,
 * so the sample can never fall behind the option table. */
TEST(sample_config)
{
    struct config defaults, cfg;
    FILE *fp = fopen(SAMPLE, "r");
    int n = option_count();
    int *seen = calloc((size_t)n, sizeof *seen);
    char line[1024];

    config_defaults(&defaults);
    if (!CHECK(fp != NULL, "cannot open %s (run from the repo root)", SAMPLE) ||
        !seen) {
        free(seen);
        return;
    }
    CHECK(config_load(SAMPLE, &cfg, err, sizeof err) == 0, "%s refused: %s",
          SAMPLE, err);
    CHECK(memcmp(&cfg, &defaults, sizeof cfg) == 0,
          "%s does not load to the defaults", SAMPLE);

    for (int lineno = 1; fgets(line, sizeof line, fp); lineno++) {
        size_t len = strlen(line);
        CHECK(len < 200, "%s:%d: over inih's 200-byte line", SAMPLE, lineno);
        while (len && isspace((unsigned char)line[len - 1]))
            line[--len] = '\0';
        if (!starts_with(line, "# "))
            continue;
        for (int i = 0; i < n; i++) {
            const char *name = config_option_name(i);
            size_t nl = strlen(name);
            const char *p = line + 2;
            if (strncmp(p, name, nl) != 0 || strncmp(p + nl, " =", 2) != 0)
                continue;
            seen[i]++;
            p += nl + 2;
            while (*p == ' ')
                p++;
            /* The value shown must be the default. */
            cfg = defaults;
            CHECK(config_set(&cfg, name, p, err, sizeof err) == 0, "%s:%d: %s",
                  SAMPLE, lineno, err);
            CHECK(memcmp(&cfg, &defaults, sizeof cfg) == 0,
                  "%s:%d: '%s' is not the default of %s", SAMPLE, lineno, p,
                  name);
        }
    }
    fclose(fp);
    for (int i = 0; i < n; i++)
        CHECK(seen[i] == 1, "%s has %d \"# %s = ...\" lines, want 1", SAMPLE,
              seen[i], config_option_name(i));
    free(seen);
}

static void cleanup(void)
{
    static const char *const files[] = {"bad.conf",   "ok.conf",   "edge.conf",
                                        "twice.conf", "env.conf",  "two.conf",
                                        "long.conf",  "good.conf", "bad2.conf",
                                        "cap.conf",   "proxy.conf"};
    char path[sizeof tmpdir + 32];

    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* trusted_proxies: which peers may name the client in X-Forwarded-For. */
TEST(trusted_proxy_lists)
{
    struct config cfg;
    struct cidr l[CIDR_LIST_MAX];
    int n = cidr_list_parse("10.0.0.0/8, 192.0.2.7,::1,2001:db8::/32", l,
                            CIDR_LIST_MAX);

    CHECK_INT(n, 4);
    CHECK(cidr_list_match(l, n, "10.1.2.3"), "10.1.2.3 not in 10.0.0.0/8");
    CHECK(cidr_list_match(l, n, "::ffff:10.9.9.9"),
          "an IPv4-mapped peer not matched as IPv4");
    CHECK(!cidr_list_match(l, n, "11.0.0.1"), "11.0.0.1 matched");
    CHECK(cidr_list_match(l, n, "192.0.2.7"), "a single address not matched");
    CHECK(!cidr_list_match(l, n, "192.0.2.8"), "its neighbour matched");
    CHECK(cidr_list_match(l, n, "::1"), "::1 not matched");
    CHECK(cidr_list_match(l, n, "2001:db8:ffff::1"), "inside /32 not matched");
    CHECK(!cidr_list_match(l, n, "2001:db9::1"), "outside /32 matched");
    CHECK(!cidr_list_match(l, n, "not-an-address"), "garbage matched");
    CHECK(!cidr_list_match(l, 0, "10.1.2.3"), "an empty list matched");
    CHECK_INT(cidr_list_parse("", NULL, 0), 0);
    n = cidr_list_parse("172.16.0.0/12", l, CIDR_LIST_MAX);
    CHECK(cidr_list_match(l, n, "172.31.255.255") &&
              !cidr_list_match(l, n, "172.32.0.0"),
          "a /12 boundary is wrong");
    /* Anything not an address or a prefix in range is refused at load. */
    CHECK_INT(cidr_list_parse("10.0.0.0/33", NULL, 0), -1);
    CHECK_INT(cidr_list_parse("example.org", NULL, 0), -1);
    CHECK_INT(cidr_list_parse("10.0.0.1/", NULL, 0), -1);
    config_defaults(&cfg);
    CHECK_STR(cfg.trusted_proxies, "");
    {
        const char *path =
            write_conf("proxy.conf", "trusted_proxies = 10.0.0/8\n");
        CHECK(config_load(path, &cfg, err, sizeof err) == -1,
              "a bad trusted_proxies entry was accepted");
        CHECK(strstr(err, "trusted_proxies") != NULL, "error \"%s\"", err);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    clear_env();
    RUN(defaults);
    RUN(option_table);
    RUN(file_overrides_defaults);
    RUN(environment_wins);
    RUN(errors_name_file_and_line);
    RUN(first_error_is_reported);
    RUN(long_lines);
    RUN(failed_load_leaves_config);
    RUN(capacity_order);
    RUN(missing_file);
    RUN(sample_config);
    RUN(trusted_proxy_lists);
    clear_env();
    cleanup();
    return unit_summary();
}
