/*
 * fuzz_frame.c - libFuzzer target for proto_parse().
 *
 * Owns: LLVMFuzzerTestOneInput only.  The first byte chooses the endpoint
 * (bit 0: staff) and the binary flag (bit 1); the rest is the frame.  The
 * seeds in tests/fuzz/corpus/frame start with '0' (parent), '1' (staff),
 * '2' or '3' (the same as binary frames).  Checks the
 * parser's promises: it returns 0 or -1; on 0 the frame holds its JSON
 * root and every field its type needs, and frame_free() releases it; on -1
 * the error has a known code and a message, nothing is held, and
 * proto_error_json() builds the error frame.  ASan/LSan catch overruns and
 * leaks.  Built by `make fuzz-frame` (mk/fuzz.mk).
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char *const codes[] = {"bad_json", "unknown_type", "bad_request",
                                    "too_long", NULL};

static void check_ok(enum endpoint ep, const struct frame *f)
{
    if (!f->root)
        abort();
    switch (f->type) {
    case F_MSG:
        if (!f->id || !f->text || f->text_len == 0 ||
            strlen(f->text) != f->text_len ||
            utf8_chars(f->text, f->text_len) > PROTO_MAX_TEXT_CHARS ||
            strlen(f->id) > PROTO_MAX_ID_BYTES)
            abort();
        if (ep == EP_STAFF && !f->conversation)
            abort();
        break;
    case F_FEEDBACK:
        if (f->rating < 1 || f->rating > 5)
            abort();
        break;
    case F_AVAILABILITY:
        if (f->capacity < 0 || f->capacity > PROTO_MAX_CAPACITY)
            abort();
        break;
    case F_WRAPUP:
        if (!f->conversation || !f->outcome || !json_is_array(f->categories))
            abort();
        break;
    case F_START:
        if (f->area && (strlen(f->area) < 2 || strlen(f->area) > 4))
            abort();
        break;
    default:
        break;
    }
    if (f->text) /* the spans the console gets are computed on text */
        (void)utf16_offset(f->text, f->text_len, f->text_len);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct frame f;
    struct proto_error err;
    enum endpoint ep;
    int binary, rc, known = 0;

    if (size == 0)
        return 0;
    ep = (data[0] & 1) ? EP_STAFF : EP_PARENT;
    binary = (data[0] & 2) != 0;
    rc = proto_parse(ep, (const char *)data + 1, size - 1, binary, &f, &err);
    if (rc == 0) {
        if (binary)
            abort();
        check_ok(ep, &f);
        frame_free(&f);
        if (f.root)
            abort();
        return 0;
    }
    if (rc != -1 || f.root || !err.code || !err.message[0])
        abort();
    for (int i = 0; codes[i]; i++)
        known |= strcmp(err.code, codes[i]) == 0;
    if (!known)
        abort();
    json_t *o = proto_error_json(&err);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!s)
        abort(); /* an error frame the client could not be sent */
    free(s);
    json_decref(o);
    return 0;
}
