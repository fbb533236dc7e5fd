/*
 * auth.c - see auth.h.
 */
#include "auth.h"
#include "log.h"
#include "rds.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USER_NAME_CHARS 32 /* longest staff name */

static const char *const roles[] = {"adviser", "lead", "supervisor", "admin",
                                    NULL};
static const struct config *CFG;
static uv_loop_t *LOOP;
/* A real argon2id hash of a random password: verifying an unknown name
 * against it costs what a wrong password costs. */
static char dummy_hash[crypto_pwhash_STRBYTES];

int auth_valid_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > USER_NAME_CHARS)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
            return 0;
    return 1;
}

int auth_valid_role(const char *role)
{
    for (int i = 0; roles[i]; i++)
        if (strcmp(roles[i], role) == 0)
            return 1;
    return 0;
}

int auth_init(uv_loop_t *loop, const struct config *cfg)
{
    char pw[TOKEN_STR_LEN];

    LOOP = loop;
    CFG = cfg;
    token_new(pw);
    return crypto_pwhash_str(dummy_hash, pw, strlen(pw),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

/* --- login --------------------------------------------------------------- */

struct login_req {
    uv_work_t work;
    login_cb cb;
    void *priv;
    char name[USER_NAME_MAX];
    char role[ROLE_MAX];
    char hash[crypto_pwhash_STRBYTES];
    char password[PASSWORD_MAX + 1];
    int known, throttled, ok;
};

static void verify_work(uv_work_t *w)
{
    struct login_req *lq = w->data;
    const char *h = lq->known ? lq->hash : dummy_hash;

    lq->ok =
        crypto_pwhash_str_verify(h, lq->password, strlen(lq->password)) == 0 &&
        lq->known;
    sodium_memzero(lq->password, sizeof lq->password);
}

static void verify_done(uv_work_t *w, int status)
{
    struct login_req *lq = w->data;
    char token[TOKEN_STR_LEN], digest[DIGEST_STR_LEN], ttl[16], born[24];

    (void)status;
    if (!rds_ready()) {
        lq->cb(LOGIN_UNAVAILABLE, NULL, NULL, NULL, lq->priv);
    } else if (lq->throttled) {
        lq->cb(LOGIN_THROTTLED, NULL, NULL, NULL, lq->priv);
    } else if (!lq->ok) {
        char lock[16];
        snprintf(lock, sizeof lock, "%d", CFG->login_lockout_s);
        /* The name's ceiling, across addresses: a window from the first
         * failure (NX), so more failures do not stretch it. */
        rds_cmdf(NULL, NULL, "INCR loginfail:%s", lq->name);
        rds_cmdf(NULL, NULL, "EXPIRE loginfail:%s %s NX", lq->name, lock);
        log_info("login refused for a staff name");
        lq->cb(LOGIN_BAD, NULL, NULL, NULL, lq->priv);
    } else {
        token_new(token);
        token_digest(token, digest);
        /* The key lives while it is used (session_idle_s), never past
         * session_ttl_s from here: born travels with every rotation. */
        snprintf(ttl, sizeof ttl, "%d",
                 CFG->session_idle_s < CFG->session_ttl_s ? CFG->session_idle_s
                                                          : CFG->session_ttl_s);
        snprintf(born, sizeof born, "%llu", (unsigned long long)now_ms());
        rds_cmdf(NULL, NULL, "HSET sess:%s name %s role %s born %s issued %s",
                 digest, lq->name, lq->role, born, born);
        rds_cmdf(NULL, NULL, "EXPIRE sess:%s %s", digest, ttl);
        rds_cmdf(NULL, NULL, "SADD usess:%s %s", lq->name, digest);
        log_info("staff %s logged in", lq->name);
        lq->cb(LOGIN_OK, lq->name, lq->role, token, lq->priv);
        sodium_memzero(token, sizeof token);
    }
    sodium_memzero(lq, sizeof *lq);
    free(lq);
}

static void login_lookup_done(redisReply *r, void *priv)
{
    struct login_req *lq = priv;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        lq->cb(LOGIN_UNAVAILABLE, NULL, NULL, NULL, lq->priv);
        sodium_memzero(lq, sizeof *lq);
        free(lq);
        return;
    }
    if (r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[1]->len < sizeof lq->hash) {
        lq->known = 1;
        snprintf(lq->role, sizeof lq->role, "%s", r->element[0]->str);
        memcpy(lq->hash, r->element[1]->str, r->element[1]->len + 1);
    }
    if (r->element[2]->type == REDIS_REPLY_STRING &&
        atoi(r->element[2]->str) >= CFG->login_max_failures_per_name)
        lq->throttled = 1;
    lq->work.data = lq;
    uv_queue_work(LOOP, &lq->work, verify_work, verify_done);
}

void auth_login(const char *name, const char *password, login_cb cb, void *priv)
{
    struct login_req *lq;
    const char *argv[2];

    if (!auth_valid_name(name) || strlen(password) > PASSWORD_MAX) {
        name = "-"; /* still costs one verification */
    }
    if (!(lq = calloc(1, sizeof *lq))) {
        cb(LOGIN_UNAVAILABLE, NULL, NULL, NULL, priv);
        return;
    }
    lq->cb = cb;
    lq->priv = priv;
    snprintf(lq->name, sizeof lq->name, "%s", name);
    snprintf(lq->password, sizeof lq->password, "%.*s", PASSWORD_MAX, password);
    argv[0] = lq->name;
    argv[1] = NULL;
    if (rds_script("login", login_lookup_done, lq, 1, argv, NULL) < 0)
        login_lookup_done(NULL, lq);
}

/* --- sessions ------------------------------------------------------------ */

struct sess_req {
    session_cb cb;
    void *priv;
    char fresh[TOKEN_STR_LEN]; /* the token that may replace the one used */
};

static void session_done(redisReply *r, void *priv)
{
    struct sess_req *sq = priv;

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[2]->type == REDIS_REPLY_STRING &&
        r->element[3]->type == REDIS_REPLY_INTEGER) {
        int rotated = r->element[2]->len > 0 && sq->fresh[0];
        long long left_s = r->element[3]->integer / 1000;
        sq->cb(r->element[0]->str, r->element[1]->str,
               rotated ? sq->fresh : NULL, rotated ? (int)left_s : 0, sq->priv);
    } else {
        sq->cb(NULL, NULL, NULL, 0, sq->priv);
    }
    sodium_memzero(sq, sizeof *sq);
    free(sq);
}

void auth_session(const char *token, int may_rotate, session_cb cb, void *priv)
{
    char digest[DIGEST_STR_LEN], fresh[DIGEST_STR_LEN] = "";
    char now[24], idle[24], ttl[24], rotate[24], overlap[24];
    const char *argv[7] = {digest, now, idle, ttl, rotate, overlap, fresh};
    struct sess_req *sq;

    if (!token || strlen(token) != TOKEN_STR_LEN - 1 ||
        !(sq = calloc(1, sizeof *sq))) {
        cb(NULL, NULL, NULL, 0, priv);
        return;
    }
    sq->cb = cb;
    sq->priv = priv;
    token_digest(token, digest);
    /* Only the digest goes to Redis; the token itself only to the
     * browser, if the script says it replaced the old one. */
    if (may_rotate) {
        token_new(sq->fresh);
        token_digest(sq->fresh, fresh);
    }
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    snprintf(idle, sizeof idle, "%lld", (long long)CFG->session_idle_s * 1000);
    snprintf(ttl, sizeof ttl, "%lld", (long long)CFG->session_ttl_s * 1000);
    snprintf(rotate, sizeof rotate, "%lld",
             (long long)CFG->session_rotate_s * 1000);
    snprintf(overlap, sizeof overlap, "%lld",
             (long long)CFG->session_rotate_overlap_s * 1000);
    if (rds_script("session", session_done, sq, 7, argv, NULL) < 0)
        session_done(NULL, sq);
}

int auth_session_check(const char *digest, rds_cb cb, void *priv)
{
    char now[24], idle[24], ttl[24];
    const char *argv[4] = {digest, now, idle, ttl};

    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    snprintf(idle, sizeof idle, "%lld", (long long)CFG->session_idle_s * 1000);
    snprintf(ttl, sizeof ttl, "%lld", (long long)CFG->session_ttl_s * 1000);
    return rds_script("session_check", cb, priv, 4, argv, NULL);
}

void auth_logout(const char *token)
{
    char digest[DIGEST_STR_LEN];
    const char *argv[1] = {digest};

    if (!token || strlen(token) != TOKEN_STR_LEN - 1)
        return;
    token_digest(token, digest);
    rds_script("logout", NULL, NULL, 1, argv, NULL);
}

/* --- the command line ---------------------------------------------------- */

static int read_password(char *pw, size_t len)
{
    size_t n;

    if (!fgets(pw, (int)len, stdin))
        return -1;
    n = strlen(pw);
    while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    return (int)n;
}

static int user_add(redisContext *rc, const char *name, const char *role)
{
    char pw[PASSWORD_MAX + 2], hash[crypto_pwhash_STRBYTES];
    redisReply *r;
    int n, ok;

    if (isatty(0))
        fprintf(stderr, "Password for %s: ", name);
    n = read_password(pw, sizeof pw);
    if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
        fprintf(stderr,
                "chatd: the password must be %d to %d characters, "
                "given on standard input\n",
                PASSWORD_MIN, PASSWORD_MAX);
        return 1;
    }
    if (crypto_pwhash_str(hash, pw, (unsigned long long)n,
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        fprintf(stderr, "chatd: out of memory hashing the password\n");
        return 1;
    }
    sodium_memzero(pw, sizeof pw);
    r = redisCommand(rc, "EVAL %s 0 %s %s %s",
                     "if redis.call('SADD', 'users', ARGV[1]) == 0 then "
                     "return 0 end "
                     "redis.call('HSET', 'user:' .. ARGV[1], 'role', ARGV[2], "
                     "'pwhash', ARGV[3]) return 1",
                     name, role, hash);
    ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        fprintf(stderr, "chatd: user %s already exists\n", name);
    else if (!ok)
        fprintf(stderr, "chatd: could not store the user\n");
    if (r)
        freeReplyObject(r);
    return ok ? 0 : 1;
}

static int user_del(redisContext *rc, const char *name)
{
    redisReply *r = redisCommand(
        rc, "EVAL %s 0 %s",
        "if redis.call('SREM', 'users', ARGV[1]) == 0 then return 0 end "
        "for _, d in ipairs(redis.call('SMEMBERS', 'usess:' .. ARGV[1])) do "
        "redis.call('DEL', 'sess:' .. d) end "
        "redis.call('DEL', 'user:' .. ARGV[1], 'usess:' .. ARGV[1]) return 1",
        name);
    int ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;

    if (!ok)
        fprintf(stderr, "chatd: no user %s\n", name);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int user_list(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "SMEMBERS users");
    char **names;

    if (!r || r->type != REDIS_REPLY_ARRAY)
        return 1;
    names = calloc(r->elements + 1, sizeof *names);
    for (size_t i = 0; names && i < r->elements; i++)
        names[i] = r->element[i]->str;
    if (names)
        qsort(names, r->elements, sizeof *names, cmp_str);
    for (size_t i = 0; names && i < r->elements; i++) {
        redisReply *role = redisCommand(rc, "HGET user:%s role", names[i]);
        printf("%s %s\n", names[i],
               role && role->type == REDIS_REPLY_STRING ? role->str : "?");
        if (role)
            freeReplyObject(role);
    }
    free(names);
    freeReplyObject(r);
    return 0;
}

int user_cli(int argc, char **argv, const struct config *cfg)
{
    const char *role = NULL;
    redisContext *rc;
    int spawned, rc_status = 2;

    if (argc < 1)
        goto usage;
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "--role") == 0)
            role = argv[i + 1];
    if (strcmp(argv[0], "add") == 0) {
        if (argc < 2 || !role)
            goto usage;
        if (!auth_valid_role(role)) {
            fprintf(stderr, "chatd: role must be adviser, lead, supervisor "
                            "or admin\n");
            return 2;
        }
    } else if (strcmp(argv[0], "del") == 0) {
        if (argc < 2)
            goto usage;
    } else if (strcmp(argv[0], "list") != 0) {
        goto usage;
    }
    if (argc >= 2 && !auth_valid_name(argv[1])) {
        fprintf(stderr,
                "chatd: a name is 1-%d letters, digits, '.', '_' "
                "or '-'\n",
                USER_NAME_CHARS);
        return 2;
    }
    if (!(rc = rds_sync_open(cfg, &spawned)))
        return 1;
    if (strcmp(argv[0], "add") == 0)
        rc_status = user_add(rc, argv[1], role);
    else if (strcmp(argv[0], "del") == 0)
        rc_status = user_del(rc, argv[1]);
    else
        rc_status = user_list(rc);
    rds_sync_close(rc, cfg, spawned);
    return rc_status;
usage:
    fprintf(stderr, "usage: chatd user add NAME --role "
                    "adviser|lead|supervisor|admin  (password on stdin)\n"
                    "       chatd user del NAME\n"
                    "       chatd user list\n");
    return 2;
}
