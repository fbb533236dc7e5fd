/*
 * mempool.h - fixed-size pools for what every connection holds for as
 * long as it is open: lws's struct lws, its WebSocket state, receive
 * buffer and per-session data, the libuv poll handle (through
 * lws_set_allocator), and chatd's client, attach and lconv.
 *
 * Why: an idle parent costs about 2 KB, nearly all of it in those eight
 * objects.  From malloc each pays a header and rounding, and they are
 * interleaved with the short-lived allocations of the same loop turns
 * (header tables, Redis replies, JSON), whose holes stay resident after a
 * burst of connections.  A pool per kind packs them end to end in memory
 * of their own, and a freed slot is taken by the next object of its kind.
 *
 * Owns: one reservation per kind, made at the kind's first allocation
 * (POOL_SLOTS slots, pages touched only as slots are first used).
 * Promises: pool_zalloc never fails where calloc would not (past
 * POOL_SLOTS, or without the reservation, it is calloc); pool_free takes
 * any pointer from pool_zalloc.  Memory is never given back to the
 * system: a slot freed is kept for the next object of its kind.
 * Single-threaded, like the rest of chatd.  Under AddressSanitizer
 * everything is plain malloc, so ASan still sees every object.
 */
#ifndef CHATD_MEMPOOL_H
#define CHATD_MEMPOOL_H

#include <stddef.h>

/* Objects of one kind in a pool; more are malloc'd. */
#define POOL_SLOTS 65536

enum pool_kind {
    POOL_CLIENT,
    POOL_ATTACH,
    POOL_LCONV,
    POOL_LWS_WSI, /* lws: struct lws (and its event library part) */
    POOL_LWS_WS,  /* lws: WebSocket state */
    POOL_LWS_RX,  /* lws: WebSocket receive buffer */
    POOL_LWS_PSS, /* lws: per-session data (http.c's struct pss) */
    POOL_LWS_UVH, /* lws: libuv poll handle */
    POOL_KINDS
};

/* size bytes, zeroed, from kind's pool (one size per kind: the first
 * request's; a larger one is malloc'd). */
void *pool_zalloc(enum pool_kind kind, size_t size);
void pool_free(void *p);
/* The allocator for lws_set_allocator(): the per-connection objects lws
 * names (by its reason string) come from the pools, the rest from malloc. */
void *pool_lws_realloc(void *ptr, size_t size, const char *reason);

#endif
