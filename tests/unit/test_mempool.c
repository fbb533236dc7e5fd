/*
 * test_mempool.c - the per-connection pools (mempool.h): what they hand
 * out is zeroed, also when a freed slot is handed out again; objects
 * larger than a kind's slot, and pointers the pools never gave, go to and
 * come back from malloc; the lws allocator keeps lws_realloc's contract
 * (allocate, resize keeping the bytes, free), for the objects lws names
 * and for the rest.  Under AddressSanitizer the pools are off and the
 * same checks hold for malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "mempool.h"
#include "unit.h"

#define OBJ_BYTES 200 /* a client-sized object */
#define MANY      1000

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

TEST(zeroed_also_when_reused)
{
    unsigned char *a[MANY];

    for (int i = 0; i < MANY; i++) {
        a[i] = pool_zalloc(POOL_CLIENT, OBJ_BYTES);
        CHECK(a[i] && all_zero(a[i], OBJ_BYTES), "object %d zeroed", i);
        if (a[i])
            memset(a[i], 0xa5, OBJ_BYTES);
    }
    for (int i = 0; i < MANY; i++)
        for (int j = i + 1; j < MANY && j < i + 3; j++)
            CHECK(a[i] != a[j], "objects %d and %d distinct", i, j);
    for (int i = 0; i < MANY; i += 2)
        pool_free(a[i]);
    for (int i = 0; i < MANY; i += 2) {
        a[i] = pool_zalloc(POOL_CLIENT, OBJ_BYTES);
        CHECK(a[i] && all_zero(a[i], OBJ_BYTES), "reused object %d zeroed", i);
    }
    for (int i = 1; i < MANY; i += 2)
        CHECK(a[i][0] == 0xa5 && a[i][OBJ_BYTES - 1] == 0xa5,
              "object %d untouched by the others", i);
    for (int i = 0; i < MANY; i++)
        pool_free(a[i]);
}

TEST(larger_than_slot_and_foreign_pointers)
{
    unsigned char *small = pool_zalloc(POOL_ATTACH, 64);
    unsigned char *big = pool_zalloc(POOL_ATTACH, 4096);
    unsigned char *m = malloc(32);

    CHECK(small && big, "both allocated");
    CHECK(big && all_zero(big, 4096), "the larger one zeroed");
    if (big)
        memset(big, 1, 4096);
    pool_free(big); /* was malloc'd: back to malloc */
    pool_free(m);   /* never from a pool */
    pool_free(NULL);
    pool_free(small);
}

TEST(lws_allocator_contract)
{
    unsigned char *w = pool_lws_realloc(NULL, 300, "new server wsi");
    unsigned char *o = pool_lws_realloc(NULL, 100, "some buffer");
    unsigned char *g;

    CHECK(pool_lws_realloc(NULL, 0, "rx_ubuf") == NULL, "nothing for 0");
    CHECK(w && o, "allocated");
    if (!w || !o)
        return;
    memset(w, 7, 300);
    memset(o, 9, 100);
    /* Smaller or equal: the bytes stay. */
    w = pool_lws_realloc(w, 200, "realloc");
    CHECK(w && w[0] == 7 && w[199] == 7, "shrunk, bytes kept");
    /* Larger than the slot: moved, the bytes kept. */
    g = pool_lws_realloc(w, 5000, "realloc");
    CHECK(g && g[0] == 7 && g[199] == 7, "grown, bytes kept");
    o = pool_lws_realloc(o, 1000, "realloc");
    CHECK(o && o[0] == 9 && o[99] == 9, "malloc'd one grown, bytes kept");
    CHECK(pool_lws_realloc(g, 0, "free") == NULL, "freed");
    CHECK(pool_lws_realloc(o, 0, "free") == NULL, "freed");
    /* A named object with no reason string at all is simply malloc'd. */
    g = pool_lws_realloc(NULL, 50, NULL);
    CHECK(g != NULL, "no reason: malloc");
    pool_lws_realloc(g, 0, NULL);
}

int main(void)
{
    RUN(zeroed_also_when_reused);
    RUN(larger_than_slot_and_foreign_pointers);
    RUN(lws_allocator_contract);
    return unit_summary();
}
