/*
 * fuzz_rules.c - libFuzzer target for the triage rule loader.
 *
 * Owns: LLVMFuzzerTestOneInput only.  Writes the input as the one rule file
 * (fuzz.rules) of a private temporary directory and calls triage_load() on
 * that directory.  Checks the loader's promises (moderation/triage.h): it
 * never crashes; on failure it returns NULL with a non-empty,
 * NUL-terminated "file:line: reason" naming the file; on success the rules
 * triage a fixed message (and the input itself, capped) with a result in
 * range, and triage_free() releases them (LeakSanitizer checks that).
 * Built by `make fuzz-rules` (mk/fuzz-more.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "triage.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char dir[64];
static char file[96];
static struct triage_ctx *ctx;

static void cleanup(void)
{
    unlink(file);
    rmdir(dir);
    triage_ctx_free(ctx);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/chatd-fuzz-rules-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(file, sizeof file, "%s/fuzz.rules", dir);
    if (!(ctx = triage_ctx_new()))
        abort();
    atexit(cleanup);
}

static void check(const struct triage_rules *rules, const char *text,
                  size_t len)
{
    struct triage_result r;
    int rc = triage_run(rules, ctx, text, len, &r);
    if (rc != 0 && rc != -1)
        abort();
    if (r.severity > TRIAGE_EMERGENCY ||
        r.ncategories > TRIAGE_MAX_CATEGORIES || r.nspans > TRIAGE_MAX_SPANS)
        abort();
    for (unsigned i = 0; i < r.ncategories; i++)
        if (!memchr(r.categories[i], '\0', TRIAGE_CATEGORY_LEN))
            abort();
    for (unsigned i = 0; i < r.nspans; i++)
        if (r.spans[i].start >= r.spans[i].end || r.spans[i].end > len)
            abort();
}

static const char message[] =
    "I can't cope, I've got all my tablets lined up for tonight and my son "
    "is being bullied at school. He said he wants to k1ll himself "
    "\xf0\x9f\x92\x8a";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char err[512];
    FILE *fp;

    if (!dir[0])
        setup();
    if (!(fp = fopen(file, "wb")))
        abort();
    if (size && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);

    memset(err, 0x5A, sizeof err);
    err[0] = '\0';
    struct triage_rules *rules = triage_load(dir, err, sizeof err);
    if (!rules) {
        if (!err[0] || !memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    check(rules, message, sizeof message - 1);
    check(rules, (const char *)data, size < 4096 ? size : 4096);
    triage_free(rules);
    return 0;
}
