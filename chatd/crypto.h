/*
 * crypto.h - every secret chatd handles, through libsodium.
 *
 * Owns: the master key (in guarded memory, read-only once loaded).
 * Promises: random tokens and ids; token digests for lookups (so Redis
 * never holds a usable token); per-conversation keys wrapped by the master
 * key; XChaCha20-Poly1305 sealing of message bodies bound to their
 * conversation.  Called by session.c (messages), auth.c (sessions) and
 * main.c (start-up).
 */
#ifndef CHATD_CRYPTO_H
#define CHATD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_BYTES    32
#define TOKEN_BYTES         32                 /* 256-bit session/resume */
#define TOKEN_STR_LEN       44                 /* base64url, with NUL */
#define DIGEST_STR_LEN      65                 /* hex BLAKE2b-256, with NUL */
#define ID_BYTES            12                 /* conversation ids */
#define ID_STR_LEN          (ID_BYTES * 2 + 1) /* hex, with NUL */
#define WRAPPED_KEY_STR_LEN 128                /* base64 nonce||key||tag */

int crypto_init(const char *master_key_path);
void crypto_shutdown(void);

void token_new(char out[TOKEN_STR_LEN]);
void id_new(char out[ID_STR_LEN]);
/* Digest of a token, for use as a Redis key.  Not reversible. */
void token_digest(const char *token, char out[DIGEST_STR_LEN]);

#define RETURN_CODE_CHARS 8  /* letters a parent copies down */
#define RETURN_CODE_LEN   10 /* "ABCD-EFGH" with NUL */

/* A return code from an alphabet without look-alikes (no 0/O, 1/I/L...). */
void return_code_new(char out[RETURN_CODE_LEN]);
/* Keyed digest (master key) of a code as a parent may type it (any case,
 * spaces, dashes); returns -1 if it cannot be a return code. */
int return_code_digest(const char *typed, char out[DIGEST_STR_LEN]);

#define KEYSLOTS 65536 /* conversation keys held in memory at once */

/* A slot for one conversation key in guarded memory (one sodium_malloc'd
 * arena: never swapped out, never in a core dump, guard pages around it);
 * NULL when all are taken.  keyslot_free() wipes it. */
uint8_t *keyslot_alloc(void);
void keyslot_free(uint8_t *slot);

/* A fresh conversation key and its wrapped (storable) form. */
int convkey_new(const char *conv, uint8_t key[CRYPTO_KEY_BYTES],
                char wrapped[WRAPPED_KEY_STR_LEN]);
int convkey_unwrap(const char *conv, const char *wrapped,
                   uint8_t key[CRYPTO_KEY_BYTES]);

/* Sealed bytes are nonce || ciphertext || tag: the plaintext's length
 * plus SEAL_OVERHEAD.  A conversation's log stores them as they are
 * (Redis strings hold any bytes; base64 made every message a third
 * longer in Redis's AOF, docs/performance.md); values kept in hashes and
 * JSON events (notes, wrapped keys, whispers) are base64. */
#define SEAL_OVERHEAD 40    /* bytes: 24 of nonce, 16 of tag */
#define SEAL_MAX      65536 /* bytes of plaintext sealed at once */

/* Seal plain under key, bound to ad; out gets len + SEAL_OVERHEAD bytes. */
int seal_raw(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
             const uint8_t *plain, size_t len, uint8_t *out, size_t outsize);
/* Open what seal_raw() made; out gets the plaintext plus a NUL. */
int unseal_raw(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
               const uint8_t *sealed, size_t sealed_len, uint8_t *out,
               size_t outsize, size_t *outlen);

/* Base64 length needed to seal len bytes, with NUL. */
size_t seal_len(size_t len);
/* seal_raw(), then base64: out gets a string. */
int seal(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
         const uint8_t *plain, size_t len, char *out, size_t outsize);
/* Open what seal() made; out gets len bytes plus a NUL. */
int unseal(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
           const char *sealed, size_t sealed_len, uint8_t *out, size_t outsize,
           size_t *outlen);

#endif
