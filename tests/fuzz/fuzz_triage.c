/*
 * fuzz_triage.c - libFuzzer target for normalise + match.
 *
 * Owns: LLVMFuzzerTestOneInput only.  Loads the real rule set once
 * (TRIAGE_RULES, default moderation/rules) and triages each input as one
 * message, checking the engine's promises: it returns 0 or -1, a failure
 * is medium "triage_error", and every span lies inside the input.  Each
 * input is also triaged by the reference (the engine without its DFAs and
 * fused normaliser, triage_int.h), and any difference in the result, the
 * hits or the normalised forms aborts.  Built by `make fuzz-triage` with
 * -fsanitize=fuzzer,address,undefined.
 */
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

static struct triage_rules *rules;
static struct triage_ctx *ctx, *ref;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!rules) {
        char err[512];
        const char *dir = getenv("TRIAGE_RULES");
        rules = triage_load(dir ? dir : "moderation/rules", err, sizeof err);
        ctx = triage_ctx_new();
        ref = triage_ctx_new();
        if (!rules || !ctx || !ref)
            abort();
        ref->reference = 1;
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
    struct triage_result q;
    int rq = triage_run(rules, ref, (const char *)data, size, &q);
    unsigned nh, nq;
    const struct triage_hit *h = triage_last_hits(ctx, &nh);
    const struct triage_hit *hq = triage_last_hits(ref, &nq);
    if (rq != rc || memcmp(&q, &r, sizeof q) != 0 || nh != nq ||
        memcmp(h, hq, nh * sizeof *h) != 0)
        abort();
    if (rc == 0 && (!tr_norm_equal(&ctx->form[0], &ref->form[0]) ||
                    !tr_norm_equal(&ctx->form[1], &ref->form[1])))
        abort();
    return 0;
}
