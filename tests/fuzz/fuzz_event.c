/*
 * fuzz_event.c - libFuzzer target for the msg event reader (wire.h).
 *
 * Owns: LLVMFuzzerTestOneInput only.  The input is one PUBLISH's payload
 * as Redis hands it to conv_events().  Checks the reader's promises:
 * wire_event_len() never runs past what it is given, so splitting always
 * ends; every event that parses has its fields inside its own bytes and
 * within their limits; and a parsed event written out again in the
 * format lib.lua writes parses to the same fields.  ASan catches
 * overruns.  Built by `make fuzz-event` (mk/fuzz.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define EVENT_OUT_MAX (SEAL_MAX + SEAL_OVERHEAD + 512) /* a rewritten event */

/* The event as lib.lua's append() writes it. */
static size_t write_event(const struct wire_msg *m, char *out, size_t cap)
{
    int n = snprintf(out, cap, "m|%s|%llu|%s|%lld|%zu|", m->conv,
                     (unsigned long long)m->seq, m->from, m->ts, m->ct_len);
    size_t len, cl = strlen(m->cid), tl = strlen(m->tri);

    if (n < 0 || (size_t)n + m->ct_len + cl + tl + 32 > cap)
        abort();
    len = (size_t)n;
    memcpy(out + len, m->ct, m->ct_len);
    len += m->ct_len;
    len += (size_t)snprintf(out + len, cap - len, "|%zu|%s|%s", cl, m->cid,
                            m->tri);
    return len;
}

static void check_event(const char *ev, size_t len)
{
    static char copy[EVENT_OUT_MAX], again[EVENT_OUT_MAX];
    struct wire_msg m, m2;
    size_t n;

    if (len >= sizeof copy)
        return;
    memcpy(copy, ev, len);
    copy[len] = '\0';
    if (wire_msg_event_parse(copy, len, &m) < 0)
        return;
    if (m.seq == 0 || !m.conv[0] || !m.from[0] ||
        strlen(m.cid) > PROTO_MAX_ID_BYTES || (const char *)m.ct < copy ||
        (const char *)m.ct + m.ct_len > copy + len || m.tri < copy ||
        m.tri + strlen(m.tri) != copy + len)
        abort();
    n = write_event(&m, again, sizeof again);
    if (wire_msg_event_parse(again, n, &m2) < 0 || m2.seq != m.seq ||
        m2.ts != m.ts || strcmp(m2.conv, m.conv) != 0 ||
        strcmp(m2.from, m.from) != 0 || m2.ct_len != m.ct_len ||
        memcmp(m2.ct, m.ct, m.ct_len) != 0 || strcmp(m2.cid, m.cid) != 0 ||
        strcmp(m2.tri, m.tri) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;

    while (p < end) {
        size_t n = wire_event_len(p, (size_t)(end - p));
        if (n > (size_t)(end - p))
            abort();
        check_event(p, n);
        p += n + 1;
    }
    return 0;
}
