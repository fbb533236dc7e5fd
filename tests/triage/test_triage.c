/*
 * test_triage.c - `make test-triage`: unit tests of the triage engine and
 * the corpus targets.
 *
 * Owns: main() and the checks of normalisation, span mapping, negation,
 * idioms, escalators, rule-file errors and the fail-safe.  Prints one line
 * per failure and a last line "N passed, N failed"; exits 1 on failure.
 * Usage: test_triage RULES_DIR CORPUS_TSV
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval.h"
#include "triage_int.h"

static unsigned passed, failed;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

static struct triage_rules *R;
static struct triage_ctx *C;

static struct triage_result run(const char *text)
{
    struct triage_result r;
    triage_run(R, C, text, strlen(text), &r);
    return r;
}

static int has_cat(const struct triage_result *r, const char *c)
{
    for (unsigned i = 0; i < r->ncategories; i++)
        if (strcmp(r->categories[i], c) == 0)
            return 1;
    return 0;
}

/* The normalised form 0 of text. */
static const char *norm(const char *text)
{
    struct triage_result r;
    triage_run(R, C, text, strlen(text), &r);
    return C->form[0].s;
}

static void test_normalise(void)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"I CAN'T", "i can not"},
        {"k1ll mys3lf", "kill myself"},
        {"s u i c i d e", "suicide"},
        {"k n i f e", "knife"},
        {"800mg", "800mg"},
        {"3am", "3am"},
        {"killlll", "kill"},
        {"gonna", "going to"},
        {"he\xe2\x80\x99ll", "he will"},                 /* curly apostrophe */
        {"\xef\xbc\xa4\xef\xbc\xa9\xef\xbc\xa5", "die"}, /* fullwidth */
        {"d\xd1\x96\x65", "die"},                        /* Cyrillic i */
        {"sui\xe2\x80\x8b"
         "cide",
         "suicide"},                   /* zero-width space */
        {"\xf0\x9f\x92\x8a", "pills"}, /* pill emoji */
        {"p@racetamol", "paracetamol"},
        {"su1c1de", "suicide"},
        {"overdoze", "overdose"},
        {"hello, world", "hello\nworld"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = norm(cases[i].in);
        CHECK(strcmp(got, cases[i].want) == 0, "normalise(%s) = \"%s\"",
              cases[i].in, got);
    }
    /* form 1 collapses runs of three to one */
    norm("anymoreee");
    CHECK(strcmp(C->form[1].s, "any more") == 0, "form 1 = \"%s\"",
          C->form[1].s);
}

static void test_spans(void)
{
    const char *t = "hiya. I W4NT to d\xd1\x96\x65 tonite";
    struct triage_result r = run(t);
    CHECK(r.nspans >= 1, "spans found");
    int ok = 0;
    for (unsigned i = 0; i < r.nspans; i++) {
        const char *s = t + r.spans[i].start;
        size_t n = r.spans[i].end - r.spans[i].start;
        if (n == strlen("W4NT to d\xd1\x96\x65") &&
            memcmp(s, "W4NT to d\xd1\x96\x65", n) == 0)
            ok = 1;
        CHECK(r.spans[i].end <= strlen(t), "span inside the text");
    }
    CHECK(ok, "span maps to the original bytes \"W4NT to d\\u0456e\"");
    CHECK(triage_utf16_offset("a\xf0\x9f\x92\x8a"
                              "b",
                              6, 5) == 3,
          "utf16 offset counts a surrogate pair");
}

static void test_decisions(void)
{
    struct triage_result r;
    r = run("ive got all my tablets lined up for tonight");
    CHECK(r.severity == TRIAGE_EMERGENCY && has_cat(&r, "suicide"),
          "means + plan + timing is an emergency (got %s)",
          triage_severity_name(r.severity));
    r = run("i want to die");
    CHECK(r.severity == TRIAGE_HIGH, "want to die is high (got %s)",
          triage_severity_name(r.severity));
    r = run("i want to die tonight");
    CHECK(r.severity == TRIAGE_EMERGENCY, "timing escalates (got %s)",
          triage_severity_name(r.severity));
    r = run("i would never hurt my baby");
    CHECK(r.severity == TRIAGE_MEDIUM && has_cat(&r, "harm_to_child"),
          "reassurance lowers one step (got %s)",
          triage_severity_name(r.severity));
    r = run("i am not going to take all my tablets tonight");
    CHECK(r.severity == TRIAGE_HIGH,
          "negation never takes an emergency below high (got %s)",
          triage_severity_name(r.severity));
    r = run("im not coping but i want to die");
    CHECK(r.severity >= TRIAGE_HIGH, "'but' ends the negation scope");
    const char *idioms[] = {"this homework is killing me",
                            "i could murder a takeaway",
                            "my son died laughing",
                            "we made bath bombs",
                            "how much calpol for a 2 year old",
                            "im at the end of my rope with bedtime"};
    for (size_t i = 0; i < sizeof idioms / sizeof idioms[0]; i++) {
        r = run(idioms[i]);
        CHECK(r.severity <= TRIAGE_LOW, "idiom \"%s\" stays low (got %s)",
              idioms[i], triage_severity_name(r.severity));
    }
    CHECK(triage_latch(TRIAGE_HIGH, TRIAGE_LOW) == TRIAGE_HIGH,
          "latch never lowers");
    CHECK(triage_latch(TRIAGE_LOW, TRIAGE_EMERGENCY) == TRIAGE_EMERGENCY,
          "latch raises");
    CHECK(triage_severity_parse("emergency") == TRIAGE_EMERGENCY &&
              triage_severity_parse("bogus") == -1,
          "severity names");
    r = run("");
    CHECK(r.severity == TRIAGE_NONE, "empty message is none");
}

static void test_failsafe(void)
{
    triage_ctx_set_match_limit(C, 1);
    struct triage_result r;
    const char *t = "i want to die";
    int rc = triage_run(R, C, t, strlen(t), &r);
    CHECK(rc == -1 && r.severity == TRIAGE_MEDIUM && r.ncategories == 1 &&
              strcmp(r.categories[0], "triage_error") == 0,
          "a match limit gives medium triage_error");
    triage_ctx_set_match_limit(C, MATCH_LIMIT);
    char *big = malloc(TRIAGE_MAX_INPUT + 2);
    memset(big, 'a', TRIAGE_MAX_INPUT + 1);
    big[TRIAGE_MAX_INPUT + 1] = '\0';
    rc = triage_run(R, C, big, TRIAGE_MAX_INPUT + 1, &r);
    CHECK(rc == -1 && r.severity == TRIAGE_MEDIUM,
          "an oversize message is marked for a human");
    free(big);
}

/* Writes one rule file into a fresh directory and loads it. */
static struct triage_rules *load_text(const char *body, char *err,
                                      size_t errlen)
{
    char dir[] = "/tmp/triage-test-XXXXXX";
    if (!mkdtemp(dir))
        return NULL;
    char path[64];
    snprintf(path, sizeof path, "%s/bad.rules", dir);
    FILE *f = fopen(path, "w");
    fputs(body, f);
    fclose(f);
    struct triage_rules *r = triage_load(dir, err, errlen);
    unlink(path);
    rmdir(dir);
    return r;
}

static void test_loader(void)
{
    char err[512];
    struct triage_rules *r =
        load_text("category suicide\nrule a high\ncue want to die\n"
                  "require: (unclosed\n",
                  err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:4: regex error"),
          "bad regex gives file:line (%s)", err);
    triage_free(r);
    r = load_text("category suicide\nrule a extreme\n", err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:2: bad severity"),
          "bad severity gives file:line (%s)", err);
    triage_free(r);
    r = load_text("rule a high\n", err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:1:"), "rule before category (%s)", err);
    triage_free(r);
    r = load_text("category x\nrule a high\ncue {nolist}\n", err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:3: unknown list"), "unknown list (%s)",
          err);
    triage_free(r);
    r = load_text("spell gonna = going to\ncategory x\nrule a low\n"
                  "cue gonna\n",
                  err, sizeof err);
    CHECK(!r && strstr(err, "bad.rules:4: cue word \"gonna\""),
          "cue word rewritten by the lexicon (%s)", err);
    triage_free(r);
    r = load_text("category x\nrule a low\ncue hello there\n", err, sizeof err);
    CHECK(r != NULL, "a good file loads (%s)", r ? "" : err);
    triage_free(r);
    r = triage_load("/nonexistent/rules", err, sizeof err);
    CHECK(!r && strstr(err, "/nonexistent/rules"), "missing dir (%s)", err);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "moderation/rules";
    const char *corpus = argc > 2 ? argv[2] : "tests/triage/corpus.tsv";
    char err[512];
    R = triage_load(dir, err, sizeof err);
    C = triage_ctx_new();
    CHECK(R != NULL, "rules load: %s", R ? "" : err);
    CHECK(C != NULL, "ctx");
    if (R && C) {
        test_normalise();
        test_spans();
        test_decisions();
        test_failsafe();
        struct eval_stats all, held;
        int rc = eval_corpus(R, corpus, &all, &held, NULL);
        CHECK(rc == 0, "corpus read");
        if (rc == 0) {
            eval_print(stdout, "all", &all);
            eval_print(stdout, "held-out", &held);
            CHECK(all.rows >= 400, "corpus has %u rows", all.rows);
            CHECK(eval_ok(&all), "corpus targets met on all rows");
        }
    }
    test_loader();
    triage_ctx_free(C);
    triage_free(R);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
