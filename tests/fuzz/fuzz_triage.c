/*
 * fuzz_triage.c - libFuzzer target for normalise + match.
 *
 * Owns: LLVMFuzzerTestOneInput only.  Loads the real rule set once
 * (TRIAGE_RULES, default moderation/rules) and triages each input as one
 * message, checking the engine's promises: it returns 0 or -1, a failure
 * is medium "triage_error", and every span lies inside the input.  Built
 * by `make fuzz-triage` with -fsanitize=fuzzer,address,undefined.
 */
#include <stdlib.h>
#include <string.h>

#include "triage.h"

static struct triage_rules *rules;
static struct triage_ctx *ctx;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!rules) {
        char err[512];
        const char *dir = getenv("TRIAGE_RULES");
        rules = triage_load(dir ? dir : "moderation/rules", err, sizeof err);
        ctx = triage_ctx_new();
        if (!rules || !ctx)
            abort();
    }
    struct triage_result r;
    int rc = triage_run(rules, ctx, (const char *)data, size, &r);
    if (rc != 0 && rc != -1)
        abort();
    if (rc == -1 && (r.severity != TRIAGE_MEDIUM ||
                     strcmp(r.categories[0], "triage_error") != 0))
        abort();
    if (r.severity > TRIAGE_EMERGENCY ||
        r.ncategories > TRIAGE_MAX_CATEGORIES || r.nspans > TRIAGE_MAX_SPANS)
        abort();
    for (unsigned i = 0; i < r.nspans; i++)
        if (r.spans[i].start >= r.spans[i].end || r.spans[i].end > size)
            abort();
    return 0;
}
