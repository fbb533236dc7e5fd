/*
 * ratelimit.c - see ratelimit.h.
 */
#include "ratelimit.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static struct address *table; /* open addressing on the digest */
static uint8_t *key;          /* sodium_malloc'd */
static uint64_t key_born_ms;

int bucket_take(struct bucket *b, double rate, double burst, uint64_t now_ms)
{
    if (b->last_ms == 0) {
        b->tokens = burst;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) / 1000.0 * rate;
        if (b->tokens > burst)
            b->tokens = burst;
        b->last_ms = now_ms;
    }
    if (b->tokens < 1.0)
        return 0;
    b->tokens -= 1.0;
    return 1;
}

static void new_key(uint64_t now_ms)
{
    sodium_mprotect_readwrite(key);
    randombytes_buf(key, crypto_generichash_KEYBYTES);
    sodium_mprotect_readonly(key);
    key_born_ms = now_ms;
    /* Old digests mean nothing under the new key: start afresh, keeping
     * the connection counts honest by not forgetting live ones. */
    for (size_t i = 0; i < LIMITS_MAX_ADDRESSES; i++)
        if (table[i].used && table[i].connections == 0)
            table[i].used = 0;
}

int limits_init(void)
{
    table = calloc(LIMITS_MAX_ADDRESSES, sizeof *table);
    key = sodium_malloc(crypto_generichash_KEYBYTES);
    if (!table || !key)
        return -1;
    new_key(1);
    key_born_ms = 0; /* rotate on first use, with a real clock */
    return 0;
}

void limits_shutdown(void)
{
    free(table);
    table = NULL;
    if (key)
        sodium_free(key);
    key = NULL;
}

struct address *limits_address(const char *peer, uint64_t now_ms)
{
    uint8_t d[LIMITS_DIGEST_BYTES];
    size_t i, oldest = 0;
    uint64_t oldest_ms = UINT64_MAX;

    if (!table || !peer)
        return NULL;
    if (key_born_ms == 0 ||
        now_ms - key_born_ms > LIMITS_KEY_ROTATE_S * 1000ULL)
        new_key(now_ms);
    crypto_generichash(d, sizeof d, (const uint8_t *)peer, strlen(peer), key,
                       crypto_generichash_KEYBYTES);
    i = ((size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16) %
        LIMITS_MAX_ADDRESSES;
    for (size_t probe = 0; probe < 64; probe++) {
        struct address *a = &table[(i + probe) % LIMITS_MAX_ADDRESSES];
        if (a->used && memcmp(a->digest, d, sizeof d) == 0) {
            a->last_ms = now_ms;
            return a;
        }
        if (!a->used) {
            memset(a, 0, sizeof *a);
            memcpy(a->digest, d, sizeof d);
            a->used = 1;
            a->last_ms = now_ms;
            return a;
        }
        if (a->connections == 0 && a->last_ms < oldest_ms) {
            oldest_ms = a->last_ms;
            oldest = (i + probe) % LIMITS_MAX_ADDRESSES;
        }
    }
    if (oldest_ms == UINT64_MAX)
        return NULL; /* 64 busy neighbours: refuse rather than merge */
    memset(&table[oldest], 0, sizeof table[oldest]);
    memcpy(table[oldest].digest, d, sizeof d);
    table[oldest].used = 1;
    table[oldest].last_ms = now_ms;
    return &table[oldest];
}

struct address *limits_login_pair(const char *name, const char *peer,
                                  uint64_t now_ms)
{
    /* "\n" cannot be in a staff name or an address: pairs cannot collide
     * with each other or with a bare address. */
    char both[LIMITS_PAIR_MAX];
    struct address *a;
    int n;

    if (!name || !peer)
        return NULL;
    n = snprintf(both, sizeof both, "login\n%s\n%s", name, peer);
    if (n < 0 || (size_t)n >= sizeof both)
        return NULL;
    a = limits_address(both, now_ms);
    sodium_memzero(both, sizeof both);
    return a;
}
