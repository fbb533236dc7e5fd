/*
 * triage.h - safeguarding triage of one parent message.
 *
 * Owns: the compiled rule set (loaded from moderation/rules/) and the
 * per-thread scratch space matching needs.  Promises: triage_run() is a
 * pure function of (rules, text); it never allocates on the message path;
 * on any PCRE2 error or limit it reports TRIAGE_MEDIUM with category
 * "triage_error" instead of a silent "none".  Spans are byte offsets into
 * the caller's original text.  Called by chatd (session.c) for every
 * parent message and by `chatd triage` (triage_cli.c).
 */
#ifndef CHATD_TRIAGE_H
#define CHATD_TRIAGE_H

#include <stddef.h>
#include <stdint.h>

enum triage_severity {
    TRIAGE_NONE = 0,
    TRIAGE_LOW,
    TRIAGE_MEDIUM,
    TRIAGE_HIGH,
    TRIAGE_EMERGENCY,
};

#define TRIAGE_MAX_CATEGORIES 8  /* categories reported per message */
#define TRIAGE_MAX_SPANS      16 /* matched spans reported per message */
#define TRIAGE_CATEGORY_LEN   32 /* bytes, with NUL; taxonomy ids fit */

struct triage_span {
    uint32_t start; /* byte offset in the original text, inclusive */
    uint32_t end;   /* byte offset, exclusive */
};

struct triage_result {
    enum triage_severity severity;
    unsigned ncategories;
    char categories[TRIAGE_MAX_CATEGORIES][TRIAGE_CATEGORY_LEN];
    unsigned nspans;
    struct triage_span spans[TRIAGE_MAX_SPANS];
};

struct triage_rules; /* immutable once loaded; share freely */
struct triage_ctx;   /* scratch for one thread; not shared */

/* Load and compile every *.rules file in dir.  On failure returns NULL and
 * writes "file:line: reason" into err. */
struct triage_rules *triage_load(const char *dir, char *err, size_t errlen);
void triage_free(struct triage_rules *rules);

struct triage_ctx *triage_ctx_new(void);
void triage_ctx_free(struct triage_ctx *ctx);

/* Triage len bytes of UTF-8 text.  Returns 0, or -1 if the text could not
 * be triaged (out->severity is then TRIAGE_MEDIUM, "triage_error"). */
int triage_run(const struct triage_rules *rules, struct triage_ctx *ctx,
               const char *text, size_t len, struct triage_result *out);

const char *triage_severity_name(enum triage_severity s);
/* Returns the severity for a name, or -1. */
int triage_severity_parse(const char *name);

/* A conversation's severity latches at the highest seen: returns the
 * greater of the two, so it never lowers.  chatd keeps the latched value. */
enum triage_severity triage_latch(enum triage_severity conversation,
                                  enum triage_severity message);

/* `chatd triage [--rules DIR] [--explain]`: reads lines on stdin, prints
 * one JSON object per line.  Returns the process exit status. */
int triage_cli(int argc, char **argv, const char *default_rules_dir);

#endif
