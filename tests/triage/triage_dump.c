/*
 * triage_dump.c - print everything triage_run() decides about each message,
 * for comparing two builds of the engine byte for byte.
 *
 * Owns: main() only.  Reads NUL-separated messages from stdin and prints
 * one line per message: the return code, severity, categories, spans,
 * every hit (rule, category, base and final severity, escalator, context,
 * cue and escalator spans) and, with --forms, both normalised forms with
 * the original span of every byte and the token starts.  Built against
 * each engine by tools/triage-compare.sh, which diffs the outputs.
 * Usage: triage_dump RULES_DIR [--forms] < messages
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_int.h"

static void put_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '|' || c < 0x20 || c >= 0x7f)
            printf("\\%02x", c);
        else
            putchar(c);
    }
}

static void put_form(const struct norm *f)
{
    printf(" |form ");
    put_escaped(f->s, f->len);
    printf(" |spans");
    for (size_t i = 0; i < f->len; i++)
        printf(" %u-%u", f->ostart[i], f->oend[i]);
    printf(" |tok");
    for (size_t i = 0; i < f->ntok; i++)
        printf(" %u", f->tok[i]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: triage_dump RULES_DIR [--forms] < messages\n");
        return 2;
    }
    int forms = argc > 2 && strcmp(argv[2], "--forms") == 0;
    char err[512];
    struct triage_rules *rules = triage_load(argv[1], err, sizeof err);
    struct triage_ctx *ctx = triage_ctx_new();
    if (!rules || !ctx) {
        fprintf(stderr, "triage_dump: %s\n", rules ? "out of memory" : err);
        return 2;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int c;
    unsigned long n = 0;
    for (;;) {
        c = getchar();
        if (c != EOF && c != '\0') {
            if (len + 1 >= cap) {
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf)
                    return 2;
            }
            buf[len++] = (char)c;
            continue;
        }
        if (c == EOF && len == 0)
            break;
        struct triage_result r;
        int rc = triage_run(rules, ctx, buf, len, &r);
        printf("%lu rc %d sev %s cats", n++, rc,
               triage_severity_name(r.severity));
        for (unsigned i = 0; i < r.ncategories; i++)
            printf(" %s", r.categories[i]);
        printf(" |spans");
        for (unsigned i = 0; i < r.nspans; i++)
            printf(" %u-%u", r.spans[i].start, r.spans[i].end);
        unsigned nh = 0;
        const struct triage_hit *h = triage_last_hits(ctx, &nh);
        printf(" |hits");
        for (unsigned i = 0; rc == 0 && i < nh; i++)
            printf(" [%s %s %s>%s %s %s %u-%u %u-%u]", h[i].rule, h[i].category,
                   triage_severity_name(h[i].base),
                   triage_severity_name(h[i].severity),
                   h[i].escalator ? h[i].escalator : "-",
                   h[i].context ? h[i].context : "-", h[i].start, h[i].end,
                   h[i].esc_start, h[i].esc_end);
        if (forms && rc == 0) {
            put_form(&ctx->form[0]);
            if (ctx->form[1].len)
                put_form(&ctx->form[1]);
        }
        putchar('\n');
        len = 0;
        if (c == EOF)
            break;
    }
    free(buf);
    triage_ctx_free(ctx);
    triage_free(rules);
    return 0;
}
