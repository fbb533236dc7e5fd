/*
 * unit.h - a header-only unit test harness for chatd's C tests.
 *
 * Owns: the pass/fail counts of one test binary.  Each tests/unit/X.c is
 * its own program (the top Makefile links it with chatd's objects), so the
 * state below is per binary.  Usage:
 *
 *     TEST(parses_hello) { CHECK(x == 1, "x is %d", x); }
 *     int main(void) { RUN(parses_hello); return unit_summary(); }
 *
 * CHECK(cond, fmt, ...) records a failure with file:line and a printf
 * message and carries on; a test passes when none of its checks failed.
 * unit_summary() prints exactly one line "N passed, N failed" (counting
 * tests, not checks), which tests/run.sh adds up, and returns the exit
 * status: non-zero when any test failed.
 */
#ifndef CHATD_UNIT_H
#define CHATD_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct unit_state {
    const char *test;   /* name of the running test */
    int test_failures;  /* failed checks in the running test */
    int checks;         /* checks run, over all tests */
    int passed, failed; /* tests */
};

static struct unit_state unit_state;

#define TEST(name) static void name(void)
#define RUN(name)  unit_run(#name, name)

/* Record a failure at file:line unless cond holds; returns cond. */
static inline int unit_check_at(const char *file, int line, int cond,
                                const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static inline int unit_check_at(const char *file, int line, int cond,
                                const char *expr, const char *fmt, ...)
{
    va_list ap;

    unit_state.checks++;
    if (cond)
        return 1;
    unit_state.test_failures++;
    printf("%s:%d: %s: ", file, line,
           unit_state.test ? unit_state.test : "(no test)");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("  [%s]\n", expr);
    fflush(stdout);
    return 0;
}

#define CHECK(cond, ...)                                                       \
    unit_check_at(__FILE__, __LINE__, !!(cond), #cond, __VA_ARGS__)
/* For helpers that take the caller's file and line. */
#define CHECK_AT(file, line, cond, ...)                                        \
    unit_check_at(file, line, !!(cond), #cond, __VA_ARGS__)

/*
 * KNOWN_BUG(cond, fmt, ...): cond is what the spec requires but a reported
 * chatd bug still breaks.  It is printed either way and never fails the
 * test; once it prints "fixed", turn it into a CHECK.
 */
static inline void unit_known_bug_at(const char *file, int line, int cond,
                                     const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static inline void unit_known_bug_at(const char *file, int line, int cond,
                                     const char *expr, const char *fmt, ...)
{
    va_list ap;

    printf("%s:%d: %s: known bug %s: ", file, line,
           unit_state.test ? unit_state.test : "(no test)",
           cond ? "fixed, make this a CHECK" : "(not counted)");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("  [%s]\n", expr);
    fflush(stdout);
}

#define KNOWN_BUG(cond, ...)                                                   \
    unit_known_bug_at(__FILE__, __LINE__, !!(cond), #cond, __VA_ARGS__)

/* Strings, either of which may be NULL. */
static inline int unit_streq(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

#define CHECK_STR(got, want)                                                   \
    CHECK(unit_streq((got), (want)), "got \"%s\", want \"%s\"",                \
          (got) ? (got) : "(null)", (want) ? (want) : "(null)")
#define CHECK_INT(got, want)                                                   \
    CHECK((long long)(got) == (long long)(want), "got %lld, want %lld",        \
          (long long)(got), (long long)(want))

static inline void unit_run(const char *name, void (*fn)(void))
{
    unit_state.test = name;
    unit_state.test_failures = 0;
    fn();
    if (unit_state.test_failures)
        unit_state.failed++;
    else
        unit_state.passed++;
    unit_state.test = NULL;
}

static inline int unit_summary(void)
{
    printf("%d passed, %d failed\n", unit_state.passed, unit_state.failed);
    fflush(stdout);
    return unit_state.failed != 0;
}

#endif
