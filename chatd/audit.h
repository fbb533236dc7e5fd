/*
 * audit.h - reading the append-only audit log (Redis stream `audit`).
 *
 * Owns: nothing in Redis but the trimming of `audit` and `events` by age
 * (and `events` by length); the Lua scripts and session.c append entries
 * (who, role, action, conv, detail; never message text).  Promises: a
 * faithful, time-ordered print of the entries since a time.  Called by
 * main.c (`chatd audit --since`).  Reading it is for leads and admins: on
 * the command line that is whoever can reach Redis.
 */
#ifndef CHATD_AUDIT_H
#define CHATD_AUDIT_H

#include <time.h>

#include "config.h"

/* "2026-11-23", "2026-11-23T10:00", or a span back from now: "90m",
 * "24h", "7d".  Returns milliseconds since the epoch, or -1. */
long long audit_parse_since(const char *s, time_t now);

/* Trim the events and audit streams to events_keep_days /
 * events_max_entries and audit_keep_days (scripts/trim.lua).  now is the
 * time in ms as text.  Called on the retention timer (conv.c). */
void audit_trim(const struct config *cfg, const char *now);

/* `chatd audit [--since WHEN] [--json]`: returns the exit status. */
int audit_cli(int argc, char **argv, const struct config *cfg);

#endif
