/*
 * fuzz_config.c - libFuzzer target for config_load().
 *
 * Owns: LLVMFuzzerTestOneInput only.  Writes the input to a temporary file
 * and loads it.  Checks the loader's promises: it returns 0 or -1; on -1
 * the config is untouched and the error names the file (or the capacity
 * check, which has no line); on 0 every string
 * is NUL-terminated and default_capacity <= max_capacity.  CHATD_*
 * variables are cleared first so only the file counts.  Built by
 * `make fuzz-config` (mk/fuzz.mk).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

static void setup(void)
{
    int fd;

    for (int i = 0; config_option_name(i); i++) {
        char env[80] = "CHATD_";
        size_t n = strlen(env);
        for (const char *p = config_option_name(i); *p && n + 1 < sizeof env;
             p++)
            env[n++] = (char)toupper((unsigned char)*p);
        env[n] = '\0';
        unsetenv(env);
    }
    snprintf(path, sizeof path, "/tmp/chatd-fuzz-config-XXXXXX");
    if ((fd = mkstemp(path)) < 0)
        abort();
    close(fd);
    atexit(remove_file);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct config cfg, before;
    char err[512];
    FILE *fp;

    if (!path[0])
        setup();
    if (!(fp = fopen(path, "wb")))
        abort();
    if (size && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);

    memset(&cfg, 0x5A, sizeof cfg);
    before = cfg;
    err[0] = '\0';
    int rc = config_load(path, &cfg, err, sizeof err);
    if (rc == -1) {
        /* "file:line: reason" for the file's own errors; a cross-field
         * one (default_capacity > max_capacity) has no line. */
        if (memcmp(&cfg, &before, sizeof cfg) != 0 || !err[0] ||
            (strncmp(err, path, strlen(path)) != 0 && !strstr(err, "capacity")))
            abort();
        return 0;
    }
    if (rc != 0 || cfg.default_capacity > cfg.max_capacity)
        abort();
    const char *strs[] = {cfg.bind,
                          cfg.data_dir,
                          cfg.static_dir,
                          cfg.rules_dir,
                          cfg.redis_url,
                          cfg.redis_appendfsync,
                          cfg.master_key_file,
                          cfg.allowed_origins,
                          cfg.tls_cert,
                          cfg.tls_key,
                          cfg.log_level,
                          cfg.log_file};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (!memchr(strs[i], '\0', CONFIG_STR_MAX))
            abort();
    return 0;
}
