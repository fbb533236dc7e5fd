/*
 * hours.h - opening hours: a weekly schedule plus dated exceptions, in the
 * helpline's local time (Europe/London), across clock changes.
 *
 * Owns: the tiny schedule syntax of the `hours` and `hours_exceptions`
 * config options (docs/services.md), the JSON weekly form used by service
 * records in config/services.json, and chatd's local time zone.
 *
 * Time zone: hours_tz_init() sets the process's TZ to the zone (default
 * Europe/London) once, at start, and every conversion here is then the C
 * library's localtime_r()/mktime() with the system tzdata.  This was chosen
 * over swapping TZ around each call (which re-reads the zone file every
 * time and is surprising to other code) and over hand-coding the UK rule
 * (which would go stale if the law changed; tzdata is updated by Debian).
 * Nothing else in chatd uses local time (log.c writes UTC), so setting TZ
 * process-wide is safe.  Conversions call hours_tz_init(NULL) themselves
 * if main has not, so tests and tools need no set-up.
 *
 * Promises: hours_parse() and hours_from_json() either return a complete
 * schedule or NULL with one clear error; a schedule is immutable once
 * built, so it can be shared and swapped whole on SIGHUP.  Every query is a
 * pure function of (schedule, time).  Times are to the minute: a range
 * 09:00-21:00 is open from 09:00:00 up to 20:59:59 local time.  A range
 * whose end is not after its start (22:00-02:00) runs overnight into the
 * next day.  Called by main.c (the helpline's hours), services.c (each
 * service's hours) and the unit tests.
 */
#ifndef CHATD_HOURS_H
#define CHATD_HOURS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#define HOURS_DEFAULT_TZ     "Europe/London"
#define HOURS_MAX_RANGES     8   /* time ranges in one day */
#define HOURS_MAX_EXCEPTIONS 512 /* dated exceptions in one schedule */
#define HOURS_HORIZON_DAYS   400 /* hours_next_open() looks this far ahead */
#define HOURS_ISO_LEN        32  /* bytes, with NUL, for hours_format_iso() */
#define HOURS_DESCRIBE_LEN   256 /* bytes, with NUL, for hours_describe() */

struct hours; /* immutable once built */

/*
 * Set the process's local time zone (NULL: Europe/London) and check that
 * the system has its tzdata.  Call once at start, before any other thread
 * exists.  Returns 0, or -1 with err set (the zone is then not changed).
 */
int hours_tz_init(const char *zone, char *err, size_t errlen);

/*
 * Parse the config options, e.g.
 *   spec:       "mon-fri 09:00-21:00; sat,sun 10:00-18:00"
 *   exceptions: "2026-12-25 closed; 2026-12-24 10:00-14:00"
 * Either may be NULL or empty.  An empty spec means open all week (the
 * exceptions still apply).  Returns NULL with err set, e.g.
 * "hours: 'mon-fry': unknown day".
 */
struct hours *hours_parse(const char *spec, const char *exceptions, char *err,
                          size_t errlen);

/*
 * A service's hours from config/services.json: the string "24/7", or an
 * object {"mon": [["09:00","17:00"]], ...} (days not given are closed).
 * Returns NULL with err set to a JSON path suffix and reason, e.g.
 * ".fri[0][1]: '25:00' is not a time HH:MM"; the caller prefixes its path.
 */
struct hours *hours_from_json(const json_t *v, char *err, size_t errlen);

void hours_free(struct hours *h);

/* Open all week, round the clock, with no exceptions. */
int hours_always_open(const struct hours *h);

/* 1 if open at t, else 0. */
int hours_open_at(const struct hours *h, time_t t);

/*
 * The next time after t at which the line opens (a closed-to-open edge):
 * when closed at t, the end of this closure; when open, the start of the
 * next opening after the current one ends.  (time_t)-1 when always open
 * or when it does not open within HOURS_HORIZON_DAYS.
 */
time_t hours_next_open(const struct hours *h, time_t t);

/*
 * t as ISO 8601 local time with its UTC offset,
 * "2026-12-27T10:00:00+00:00" (buf at least HOURS_ISO_LEN).  Returns buf,
 * or "" if t cannot be converted.
 */
char *hours_format_iso(time_t t, char *buf, size_t buflen);

/*
 * The weekly schedule for people: "24/7", or "Mon-Fri 09:00-21:00; Sat-Sun
 * 10:00-18:00" (exceptions are not described).  Returns buf; "" if closed
 * every day.
 */
char *hours_describe(const struct hours *h, char *buf, size_t buflen);

/* The weekly schedule in the JSON form hours_from_json() reads. */
json_t *hours_week_json(const struct hours *h);

#endif
