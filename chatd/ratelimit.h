/*
 * ratelimit.h - what one client may do: token buckets, and per-address counts
 * kept under a keyed digest of the address.
 *
 * Owns: the in-memory table of client addresses, each known only as a
 * BLAKE2b digest keyed with a random key that lives in guarded memory and
 * is replaced every LIMITS_KEY_ROTATE_S (so a digest cannot be linked
 * across days, and is never stored or logged).  Promises: bucket_take() is
 * pure; the table never grows past LIMITS_MAX_ADDRESSES (the oldest idle
 * entry is reused).  Limits are per process: N processes allow N times as
 * much, which the operator sizes for.  Called by http.c (connections,
 * logins, (name, address) login failures) and session.c (frames).
 */
#ifndef CHATD_RATELIMIT_H
#define CHATD_RATELIMIT_H

#include <stdint.h>

#define LIMITS_MAX_ADDRESSES 65536 /* distinct client addresses tracked */
#define LIMITS_KEY_ROTATE_S  86400 /* the address key is replaced daily */
#define LIMITS_DIGEST_BYTES  16
#define LIMITS_PAIR_MAX      160 /* bytes of "login\n<name>\n<address>" */

struct bucket {
    double tokens;
    uint64_t last_ms;
};

/* Take one token from a bucket refilled at rate per second up to burst.
 * Returns 1 if taken, 0 if the caller is over the limit. */
int bucket_take(struct bucket *b, double rate, double burst, uint64_t now_ms);

struct address {
    uint8_t digest[LIMITS_DIGEST_BYTES];
    int connections;      /* WebSockets open now */
    struct bucket frames; /* every frame from this address */
    struct bucket logins; /* failed staff logins */
    /* An entry for a (staff name, address) pair rather than an address
     * (limits_login_pair): its failed logins since fail_ms. */
    int fails;
    uint64_t fail_ms;
    uint64_t last_ms;
    int used;
};

int limits_init(void);
void limits_shutdown(void);
/* The entry for a peer address (text form); NULL if none can be had. */
struct address *limits_address(const char *peer, uint64_t now_ms);
/* The entry for one staff name tried from one address: both go into the
 * keyed digest, so neither is kept.  NULL if none can be had. */
struct address *limits_login_pair(const char *name, const char *peer,
                                  uint64_t now_ms);

#endif
