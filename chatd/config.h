/*
 * config.h - chatd's settings: built-in defaults, then the config file,
 * then CHATD_<OPTION> environment variables (which win).
 *
 * Owns: the option table (name, type, default, range, help), which is the
 * single source for parsing, `chatd --help` and the sample config test.
 * Promises: config_load() either fills *cfg completely and returns 0, or
 * leaves *cfg untouched and writes "file:line: reason" to err.
 * Called by main.c at start and on SIGHUP.
 */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR_MAX 512 /* bytes, with NUL, for every string option */

struct config {
    int port;
    char bind[CONFIG_STR_MAX];
    char data_dir[CONFIG_STR_MAX];
    char static_dir[CONFIG_STR_MAX];
    char rules_dir[CONFIG_STR_MAX];
    char redis_url[CONFIG_STR_MAX];
    char redis_appendfsync[CONFIG_STR_MAX];
    char master_key_file[CONFIG_STR_MAX];
    char allowed_origins[CONFIG_STR_MAX];
    char trusted_proxies[CONFIG_STR_MAX];
    char tls_cert[CONFIG_STR_MAX];
    char tls_key[CONFIG_STR_MAX];
    int default_capacity;
    int max_capacity;
    int grace_s;
    int continuity_wait_s;
    int parent_timeout_s;
    int sweep_interval_ms;
    int store_group_us;
    int default_chat_s;
    int retention_days;
    int retention_s;
    int retention_sweep_s;
    int events_keep_days;
    int events_max_entries;
    int audit_keep_days;
    int session_ttl_s;
    int session_idle_s;
    int session_rotate_s;
    int session_rotate_overlap_s;
    int max_connections_per_address;
    int client_frames_per_s;
    int client_frames_burst;
    int address_frames_per_s;
    int address_frames_burst;
    int login_failures_per_address;
    int login_max_failures;
    int login_max_failures_per_name;
    int login_lockout_s;
    char hours[CONFIG_STR_MAX];
    char hours_exceptions[CONFIG_STR_MAX];
    char timezone[CONFIG_STR_MAX];
    char services_file[CONFIG_STR_MAX];
    char services_local_file[CONFIG_STR_MAX];
    char log_level[CONFIG_STR_MAX];
    char log_file[CONFIG_STR_MAX];
};

#define CIDR_LIST_MAX 64 /* entries in an address list (trusted_proxies) */
#define CIDR_TEXT_MAX 64 /* bytes of one entry, "ffff:...:ffff/128" */

/* One entry of an address list: IPv4 (family 4, IPv4-mapped IPv6 included)
 * or IPv6 (family 6), and its prefix length in bits. */
struct cidr {
    int family;
    uint8_t addr[16];
    int bits;
};

/* Parse "10.0.0.0/8, 192.0.2.1, ::1" into out (up to max entries; out may
 * be NULL to validate).  Returns the number of entries, or -1 if any is not
 * an address or address/prefix, or there are over CIDR_LIST_MAX. */
int cidr_list_parse(const char *list, struct cidr *out, int max);
/* 1 if the address in text form is inside one of the n entries. */
int cidr_list_match(const struct cidr *list, int n, const char *text);

void config_defaults(struct config *cfg);
/* path may be NULL (defaults and environment only). */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/* Apply one "name = value" setting; used by the loader and by tests. */
int config_set(struct config *cfg, const char *name, const char *value,
               char *err, size_t errlen);
/* Print every option with its default and meaning. */
void config_help(FILE *out);
/* Iterate option names: returns NULL past the end. */
const char *config_option_name(int i);

#endif
