/*
 * crypto.c - see crypto.h.
 */
#include "crypto.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define NONCE_POOL (AEAD_NONCE * 256) /* random bytes fetched at once */

static uint8_t *master_key;  /* sodium_malloc'd, read-only after load */
static uint8_t *key_arena;   /* sodium_malloc'd KEYSLOTS conversation keys */
static uint32_t *free_slots; /* indexes of free slots (no secrets) */
static uint32_t nfree;
static int keyslot_arena_init(void);
/* Random nonces, fetched NONCE_POOL bytes at a time: libsodium 1.0.18
 * makes a getrandom() system call per randombytes_buf(), once per message
 * sealed.  Each byte is handed out once and wiped, so every nonce is still
 * 24 fresh random bytes. */
static uint8_t nonce_pool[NONCE_POOL];
static size_t nonce_used = NONCE_POOL;

static void nonce_new(uint8_t nonce[AEAD_NONCE])
{
    if (nonce_used + AEAD_NONCE > NONCE_POOL) {
        randombytes_buf(nonce_pool, NONCE_POOL);
        nonce_used = 0;
    }
    memcpy(nonce, nonce_pool + nonce_used, AEAD_NONCE);
    sodium_memzero(nonce_pool + nonce_used, AEAD_NONCE);
    nonce_used += AEAD_NONCE;
}

static int read_key(const char *path, uint8_t *key)
{
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
        log_err("%s: master key must be mode 0600", path);
        close(fd);
        return -1;
    }
    n = read(fd, key, CRYPTO_KEY_BYTES);
    close(fd);
    if (n != CRYPTO_KEY_BYTES) {
        log_err("%s: master key must be %d bytes", path, CRYPTO_KEY_BYTES);
        return -1;
    }
    return 0;
}

/* Written to a private temporary file, then linked into place: another
 * chatd starting on the same data dir sees either no key or the whole key,
 * never a file still being written. */
static int create_key(const char *path, uint8_t *key)
{
    char tmp[4096];
    int fd;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >=
        sizeof tmp)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    randombytes_buf(key, CRYPTO_KEY_BYTES);
    if (write(fd, key, CRYPTO_KEY_BYTES) != CRYPTO_KEY_BYTES || fsync(fd) < 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (link(tmp, path) < 0) {
        int lost = errno == EEXIST; /* another chatd won the race */
        unlink(tmp);
        return lost ? read_key(path, key) : -1;
    }
    unlink(tmp);
    log_info("created a new master key at %s", path);
    return 0;
}

int crypto_init(const char *master_key_path)
{
    int r;

    if (sodium_init() < 0)
        return -1;
    if (!master_key_path)
        return 0; /* tools that never touch messages */
    master_key = sodium_malloc(CRYPTO_KEY_BYTES);
    if (!master_key)
        return -1;
    r = read_key(master_key_path, master_key);
    if (r == 1)
        r = create_key(master_key_path, master_key);
    if (r < 0) {
        log_err("%s: cannot load the master key", master_key_path);
        sodium_free(master_key);
        master_key = NULL;
        return -1;
    }
    sodium_mprotect_readonly(master_key);
    if (keyslot_arena_init() < 0) {
        log_err("cannot allocate the conversation key arena");
        return -1;
    }
    return 0;
}

/* The arena is guarded (locked, fenced) memory, all of it touched when
 * sodium_malloc fills it: set up with the master key at start, so its
 * 2 MiB are paid once, up front, not by the first conversation. */
static int keyslot_arena_init(void)
{
    if (key_arena)
        return 0;
    key_arena = sodium_malloc((size_t)KEYSLOTS * CRYPTO_KEY_BYTES);
    free_slots = malloc(KEYSLOTS * sizeof *free_slots);
    if (!key_arena || !free_slots)
        return -1;
    for (uint32_t i = 0; i < KEYSLOTS; i++)
        free_slots[i] = KEYSLOTS - 1 - i;
    nfree = KEYSLOTS;
    return 0;
}

uint8_t *keyslot_alloc(void)
{
    if (keyslot_arena_init() < 0 || !nfree)
        return NULL;
    return key_arena + (size_t)free_slots[--nfree] * CRYPTO_KEY_BYTES;
}

void keyslot_free(uint8_t *slot)
{
    if (!slot)
        return;
    sodium_memzero(slot, CRYPTO_KEY_BYTES);
    free_slots[nfree++] =
        (uint32_t)((size_t)(slot - key_arena) / CRYPTO_KEY_BYTES);
}

void crypto_shutdown(void)
{
    if (key_arena)
        sodium_free(key_arena);
    free(free_slots);
    key_arena = NULL;
    free_slots = NULL;
    if (master_key)
        sodium_free(master_key);
    master_key = NULL;
}

void token_new(char out[TOKEN_STR_LEN])
{
    uint8_t raw[TOKEN_BYTES];

    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, TOKEN_STR_LEN, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void id_new(char out[ID_STR_LEN])
{
    uint8_t raw[ID_BYTES];

    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, ID_STR_LEN, raw, sizeof raw);
}

void token_digest(const char *token, char out[DIGEST_STR_LEN])
{
    uint8_t h[32];

    crypto_generichash(h, sizeof h, (const uint8_t *)token, strlen(token), NULL,
                       0);
    sodium_bin2hex(out, DIGEST_STR_LEN, h, sizeof h);
}

static const char return_alphabet[] = "ACDEFHJKMNPRTUVWXY3479";

void return_code_new(char out[RETURN_CODE_LEN])
{
    int k = 0;

    for (int i = 0; i < RETURN_CODE_CHARS; i++) {
        if (i == RETURN_CODE_CHARS / 2)
            out[k++] = '-';
        out[k++] = return_alphabet[randombytes_uniform(
            (uint32_t)(sizeof return_alphabet - 1))];
    }
    out[k] = '\0';
}

int return_code_digest(const char *typed, char out[DIGEST_STR_LEN])
{
    char norm[RETURN_CODE_CHARS + 1];
    int n = 0;

    for (const char *p = typed; *p; p++) {
        char ch = *p;
        if (ch == ' ' || ch == '-')
            continue;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (n == RETURN_CODE_CHARS || !strchr(return_alphabet, ch) || !ch)
            return -1;
        norm[n++] = ch;
    }
    if (n != RETURN_CODE_CHARS)
        return -1;
    norm[n] = '\0';
    {
        /* Keyed: a code has ~36 bits, so a plain hash at rest could be
         * reversed by trying them all; without the master key it cannot. */
        uint8_t h[32];
        if (!master_key)
            return -1;
        crypto_generichash(h, sizeof h, (const uint8_t *)norm, (size_t)n,
                           master_key, CRYPTO_KEY_BYTES);
        sodium_bin2hex(out, DIGEST_STR_LEN, h, sizeof h);
    }
    return 0;
}

_Static_assert(SEAL_OVERHEAD == AEAD_NONCE + AEAD_TAG, "SEAL_OVERHEAD");

int seal_raw(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
             const uint8_t *plain, size_t len, uint8_t *out, size_t outsize)
{
    unsigned long long clen;

    if (len > SEAL_MAX || outsize < len + SEAL_OVERHEAD)
        return -1;
    nonce_new(out);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + AEAD_NONCE, &clen, plain,
                                               len, (const uint8_t *)ad,
                                               strlen(ad), NULL, out, key);
    return 0;
}

int unseal_raw(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
               const uint8_t *sealed, size_t sealed_len, uint8_t *out,
               size_t outsize, size_t *outlen)
{
    unsigned long long plen;

    if (sealed_len < SEAL_OVERHEAD || sealed_len - SEAL_OVERHEAD >= outsize)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &plen, NULL, sealed + AEAD_NONCE, sealed_len - AEAD_NONCE,
            (const uint8_t *)ad, strlen(ad), sealed, key) != 0)
        return -1;
    out[plen] = '\0';
    *outlen = (size_t)plen;
    return 0;
}

size_t seal_len(size_t len)
{
    return sodium_base64_ENCODED_LEN(len + SEAL_OVERHEAD,
                                     sodium_base64_VARIANT_ORIGINAL);
}

int seal(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
         const uint8_t *plain, size_t len, char *out, size_t outsize)
{
    uint8_t buf[SEAL_MAX + SEAL_OVERHEAD];

    if (len > SEAL_MAX || outsize < seal_len(len) ||
        seal_raw(key, ad, plain, len, buf, sizeof buf) < 0)
        return -1;
    sodium_bin2base64(out, outsize, buf, len + SEAL_OVERHEAD,
                      sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int unseal(const uint8_t key[CRYPTO_KEY_BYTES], const char *ad,
           const char *sealed, size_t sealed_len, uint8_t *out, size_t outsize,
           size_t *outlen)
{
    uint8_t buf[SEAL_MAX + SEAL_OVERHEAD];
    size_t blen;

    if (sodium_base642bin(buf, sizeof buf, sealed, sealed_len, NULL, &blen,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return unseal_raw(key, ad, buf, blen, out, outsize, outlen);
}

int convkey_new(const char *conv, uint8_t key[CRYPTO_KEY_BYTES],
                char wrapped[WRAPPED_KEY_STR_LEN])
{
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    return seal(master_key, conv, key, CRYPTO_KEY_BYTES, wrapped,
                WRAPPED_KEY_STR_LEN);
}

int convkey_unwrap(const char *conv, const char *wrapped,
                   uint8_t key[CRYPTO_KEY_BYTES])
{
    uint8_t out[CRYPTO_KEY_BYTES + 1];
    size_t n;

    int r = -1;

    if (unseal(master_key, conv, wrapped, strlen(wrapped), out, sizeof out,
               &n) < 0 ||
        n != CRYPTO_KEY_BYTES)
        goto out; /* a short plaintext may still be key bytes: wipe it too */
    memcpy(key, out, CRYPTO_KEY_BYTES);
    r = 0;
out:
    sodium_memzero(out, sizeof out);
    return r;
}
