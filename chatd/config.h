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
    char tls_cert[CONFIG_STR_MAX];
    char tls_key[CONFIG_STR_MAX];
    int default_capacity;
    int max_capacity;
    int grace_s;
    int continuity_wait_s;
    int parent_timeout_s;
    int sweep_interval_ms;
    int default_chat_s;
    int retention_days;
    int retention_s;
    int retention_sweep_s;
    int session_ttl_s;
    int max_connections_per_address;
    int client_frames_per_s;
    int client_frames_burst;
    int address_frames_per_s;
    int address_frames_burst;
    int login_failures_per_address;
    int login_max_failures;
    int login_lockout_s;
    char hours[CONFIG_STR_MAX];
    char hours_exceptions[CONFIG_STR_MAX];
    char timezone[CONFIG_STR_MAX];
    char services_file[CONFIG_STR_MAX];
    char services_local_file[CONFIG_STR_MAX];
    char log_level[CONFIG_STR_MAX];
    char log_file[CONFIG_STR_MAX];
};

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
