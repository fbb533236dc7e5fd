/*
 * bench/cpuspeed.c - how fast each CPU of this machine runs right now.
 *
 * The host of this VM throttles one vCPU or the other at times, and which
 * one changes from minute to minute, so a benchmark figure means little
 * without the speed of the CPUs it ran on.  bench/run.sh runs this probe
 * just before and just after each scenario of `make bench` (and before
 * each pinned triage run) and records what it prints in results.json.
 *
 * What it measures: for each online CPU in turn (numbered 0..N-1, N from
 * sysconf(_SC_NPROCESSORS_ONLN)), with the calling thread pinned to it by
 * sched_setaffinity, a chain of dependent register adds written in inline
 * asm (the compiler can neither remove nor vectorise it) runs for a fixed
 * wall time, and the adds done are divided by the wall time taken.  Each
 * add needs the previous one's result and takes one cycle, so the figure,
 * in giga adds per second, is the CPU's effective clock in GHz: lower when
 * the host slows or deschedules the vCPU, and lower too when another task
 * shares that CPU.  The best of --repeat windows is kept per CPU: that is
 * the CPU's speed when the host lets it run, and one interrupt or one
 * other task's slice in a window does not read as throttling.  A CPU that
 * cannot be pinned (offline, or outside this process's cpuset) reads null.
 *
 * Usage: cpuspeed [--ms N] [--repeat N] [--help]
 * Prints one JSON object on stdout, e.g.
 *   {"cpu_giga_adds_per_s":[3.38,2.21],"ms":50,"repeat":3}
 * Exits 2 with a message on stderr on a bad argument.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CPUSPEED_MS_DEFAULT     50    /* wall time of one window, ms */
#define CPUSPEED_MS_MIN         1     /* ms */
#define CPUSPEED_MS_MAX         10000 /* ms */
#define CPUSPEED_REPEAT_DEFAULT 3     /* windows per CPU, the best kept */
#define CPUSPEED_REPEAT_MIN     1     /* windows */
#define CPUSPEED_REPEAT_MAX     100   /* windows */
#define CPUSPEED_CHUNK_ASMS     4096  /* asm statements between clock reads */

/* One dependent add, and the block of them one asm statement runs. */
#if defined(__x86_64__)
#define ADD1 "add $1, %0\n\t"
#elif defined(__aarch64__)
#define ADD1 "add %0, %0, #1\n\t"
#else
#error "cpuspeed: no add instruction written for this architecture"
#endif
#define ADD4 ADD1 ADD1 ADD1 ADD1
/* 16 adds an asm statement, so a chunk is 65,536 adds between clock
 * reads: about 20 us at 3.4 GHz, and the loop's own counter and branch run
 * beside the chain, not in it. */
#define ADD16 ADD4 ADD4 ADD4 ADD4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Giga adds per second of one window of ms milliseconds on this CPU. */
static double window_rate(long ms)
{
    uint64_t x = 0; /* the chain: its final value is the adds done */
    double start = now_s(), end = start + (double)ms / 1e3, t;
    do {
        for (int i = 0; i < CPUSPEED_CHUNK_ASMS; i++)
            __asm__ volatile(ADD16 : "+r"(x) : : "cc");
        t = now_s();
    } while (t < end);
    return (double)x / (t - start) / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cpuspeed [--ms N] [--repeat N] [--help]\n"
            "  For each online CPU in turn, pinned to it, runs a chain of\n"
            "  dependent adds (1 a cycle) for N ms (--ms, default %d, %d..%d)"
            "\n  and keeps the best of --repeat windows (default %d, %d..%d)."
            "\n  Prints {\"cpu_giga_adds_per_s\":[...],\"ms\":N,\"repeat\":N}:"
            "\n  each CPU's effective clock in GHz, null if it cannot be "
            "pinned.\n",
            CPUSPEED_MS_DEFAULT, CPUSPEED_MS_MIN, CPUSPEED_MS_MAX,
            CPUSPEED_REPEAT_DEFAULT, CPUSPEED_REPEAT_MIN, CPUSPEED_REPEAT_MAX);
}

/* The whole of s as a decimal integer in [min, max], or -1. */
static long parse_count(const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    return v;
}

int main(int argc, char **argv)
{
    long ms = CPUSPEED_MS_DEFAULT, repeat = CPUSPEED_REPEAT_DEFAULT;

    for (int i = 1; i < argc; i += 2) { /* an option and its value */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        int is_ms = !strcmp(argv[i], "--ms");
        if (!is_ms && strcmp(argv[i], "--repeat")) {
            fprintf(stderr, "cpuspeed: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cpuspeed: %s needs a value\n", argv[i]);
            return 2;
        }
        long min = is_ms ? CPUSPEED_MS_MIN : CPUSPEED_REPEAT_MIN;
        long max = is_ms ? CPUSPEED_MS_MAX : CPUSPEED_REPEAT_MAX;
        long v = parse_count(argv[i + 1], min, max);
        if (v < 0) {
            fprintf(stderr,
                    "cpuspeed: %s '%s': want a whole number from %ld to "
                    "%ld\n",
                    argv[i], argv[i + 1], min, max);
            return 2;
        }
        if (is_ms)
            ms = v;
        else
            repeat = v;
    }

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) {
        fprintf(stderr, "cpuspeed: cannot count the online CPUs\n");
        return 1;
    }
    if (ncpu > CPU_SETSIZE)
        ncpu = CPU_SETSIZE;

    printf("{\"cpu_giga_adds_per_s\":[");
    for (long cpu = 0; cpu < ncpu; cpu++) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) {
            fprintf(stderr, "cpuspeed: cannot pin to CPU %ld: %s\n", cpu,
                    strerror(errno));
            printf("%snull", cpu ? "," : "");
            continue;
        }
        double best = 0;
        for (long r = 0; r < repeat; r++) {
            double rate = window_rate(ms);
            if (rate > best)
                best = rate;
        }
        printf("%s%.2f", cpu ? "," : "", best);
    }
    printf("],\"ms\":%ld,\"repeat\":%ld}\n", ms, repeat);
    return fflush(stdout) ? 1 : 0;
}
