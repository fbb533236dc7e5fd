/*
 * auth.h - staff accounts and their sessions.
 *
 * Owns: user:<name> (role, argon2id hash), the users set, sess:<digest>
 * (name, role, born, issued, prev/next rotation links; expires when idle
 * or past session_ttl_s from login), usess:<name> (a user's sessions, for
 * revocation) and loginfail:<name> (the name's failure ceiling).  Promises:
 * passwords are checked with crypto_pwhash_str_verify on libuv's thread pool,
 * never on the event loop; an unknown name costs the same as a wrong password;
 * Redis holds only digests of session ids.  Called by http.c (login, logout,
 * session cookies) and main.c (`chatd user ...`).
 */
#ifndef CHATD_AUTH_H
#define CHATD_AUTH_H

#include <uv.h>

#include "config.h"
#include "crypto.h"
#include "rds.h"
#include "session.h"

#define SESSION_COOKIE "chatd_session"
#define PASSWORD_MIN   8   /* characters */
#define PASSWORD_MAX   256 /* bytes */

enum login_result { LOGIN_OK, LOGIN_BAD, LOGIN_THROTTLED, LOGIN_UNAVAILABLE };

typedef void (*login_cb)(enum login_result r, const char *name,
                         const char *role, const char *token, void *priv);
/* fresh, when not NULL, is the token that replaced the one used (set it
 * as the cookie, with max_age_s); the old one works only for
 * session_rotate_overlap_s more. */
typedef void (*session_cb)(const char *name, const char *role,
                           const char *fresh, int max_age_s, void *priv);

int auth_init(uv_loop_t *loop, const struct config *cfg);
void auth_login(const char *name, const char *password, login_cb cb,
                void *priv);
/* name and role are NULL when the token is not a live session.  Using it
 * renews its idle time; with may_rotate (a response that can carry a
 * cookie), a token older than session_rotate_s is replaced. */
void auth_session(const char *token, int may_rotate, session_cb cb, void *priv);
/* For an open console's session digest: replies 0 (gone), 1 (live) or the
 * digest it was replaced by (scripts/session_check.lua). */
int auth_session_check(const char *digest, rds_cb cb, void *priv);
/* Ends the session and every rotation linked to it. */
void auth_logout(const char *token);

int auth_valid_name(const char *name);
int auth_valid_role(const char *role);

/* `chatd user add NAME --role R | del NAME | list` */
int user_cli(int argc, char **argv, const struct config *cfg);

#endif
