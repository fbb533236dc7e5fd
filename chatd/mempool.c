/*
 * mempool.c - see mempool.h.
 */
#include "mempool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Under AddressSanitizer every object is malloc'd, so ASan sees them. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_OFF 1
#endif
#endif
#ifndef POOL_OFF
#define POOL_OFF 0
#endif

/* Slot alignment.  malloc gives 16 (max_align_t), but none of these
 * objects holds a type that needs more than 8, and a slot whose size is a
 * multiple of 16 (struct lws, the WebSocket state, the poll handle) stays
 * 16-aligned anyway: the reservation starts on a page. */
#define POOL_ALIGN 8

struct pool {
    size_t size;    /* slot bytes; 0 until the kind's first allocation */
    uintptr_t base; /* the reservation: POOL_SLOTS slots */
    uintptr_t end;
    uintptr_t fresh; /* first slot never handed out */
    void *free;      /* freed slots, linked through their first bytes */
    int failed;      /* no reservation could be made: malloc instead */
};

static struct pool pools[POOL_KINDS];

/* lws's names for the objects a connection keeps while open (lws 4.1.6:
 * adopt.c, server-ws.c, ops-ws.c, wsi.c, event-libs/libuv/libuv.c). */
static const struct {
    const char *reason;
    enum pool_kind kind;
} lws_objects[] = {
    {"new server wsi", POOL_LWS_WSI},
    {"ws struct", POOL_LWS_WS},
    {"rx_ubuf", POOL_LWS_RX},
    {"user space", POOL_LWS_PSS},
    {"uvh", POOL_LWS_UVH},
};

/* A slot of at least size bytes, or NULL (then the caller mallocs). */
static void *take(struct pool *p, size_t size)
{
    void *s;

    if (POOL_OFF || p->failed)
        return NULL;
    if (!p->size) {
        size_t slot = (size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
        /* Only address space: pages become memory as slots are used. */
        void *m = mmap(NULL, slot * POOL_SLOTS, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        if (!slot || m == MAP_FAILED) {
            p->failed = 1;
            return NULL;
        }
        p->size = slot;
        p->base = p->fresh = (uintptr_t)m;
        p->end = p->base + slot * POOL_SLOTS;
    }
    if (size > p->size)
        return NULL;
    if (p->free) {
        s = p->free;
        memcpy(&p->free, s, sizeof p->free);
        return s;
    }
    if (p->fresh >= p->end)
        return NULL;
    s = (void *)p->fresh;
    p->fresh += p->size;
    return s;
}

static struct pool *owner(const void *ptr)
{
    uintptr_t a = (uintptr_t)ptr;

    for (int k = 0; k < POOL_KINDS; k++)
        if (pools[k].size && a >= pools[k].base && a < pools[k].end)
            return &pools[k];
    return NULL;
}

static void put(struct pool *p, void *s)
{
    memcpy(s, &p->free, sizeof p->free);
    p->free = s;
}

void *pool_zalloc(enum pool_kind kind, size_t size)
{
    void *s = take(&pools[kind], size);

    if (s) {
        memset(s, 0, size);
        return s;
    }
    return calloc(1, size);
}

void pool_free(void *ptr)
{
    struct pool *p;

    if (!ptr)
        return;
    if ((p = owner(ptr)))
        put(p, ptr);
    else
        free(ptr);
}

/* lws_realloc's contract: (NULL, n) allocates, (p, 0) frees, (p, n)
 * resizes.  lws_zalloc clears what this returns. */
void *pool_lws_realloc(void *ptr, size_t size, const char *reason)
{
    struct pool *p;
    void *s;

    if (!ptr) {
        if (!size)
            return NULL;
        for (size_t i = 0;
             reason && i < sizeof lws_objects / sizeof lws_objects[0]; i++)
            if (strcmp(reason, lws_objects[i].reason) == 0) {
                if ((s = take(&pools[lws_objects[i].kind], size)))
                    return s;
                break;
            }
        return malloc(size);
    }
    if (!(p = owner(ptr))) {
        if (size)
            return realloc(ptr, size);
        free(ptr);
        return NULL;
    }
    if (!size) {
        put(p, ptr);
        return NULL;
    }
    if (size <= p->size)
        return ptr;
    if (!(s = malloc(size)))
        return NULL;
    memcpy(s, ptr, p->size);
    put(p, ptr);
    return s;
}
