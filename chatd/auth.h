/*
 * auth.h - staff accounts and their sessions.
 *
 * Owns: user:<name> (role, argon2id hash), the users set, sess:<digest>
 * (name, role; expires), usess:<name> (a user's sessions, for revocation)
 * and loginfail:<name> (throttle).  Promises: passwords are checked with
 * crypto_pwhash_str_verify on libuv's thread pool, never on the event
 * loop; an unknown name costs the same as a wrong password; Redis holds
 * only digests of session ids.  Called by http.c (login, logout, session
 * cookies) and main.c (`chatd user ...`).
 */
#ifndef CHATD_AUTH_H
#define CHATD_AUTH_H

#include <uv.h>

#include "config.h"
#include "crypto.h"
#include "session.h"

#define SESSION_COOKIE "chatd_session"
#define PASSWORD_MIN   8   /* characters */
#define PASSWORD_MAX   256 /* bytes */

enum login_result { LOGIN_OK, LOGIN_BAD, LOGIN_THROTTLED, LOGIN_UNAVAILABLE };

typedef void (*login_cb)(enum login_result r, const char *name,
                         const char *role, const char *token, void *priv);
typedef void (*session_cb)(const char *name, const char *role, void *priv);

int auth_init(uv_loop_t *loop, const struct config *cfg);
void auth_login(const char *name, const char *password, login_cb cb,
                void *priv);
/* name and role are NULL when the token is not a live session. */
void auth_session(const char *token, session_cb cb, void *priv);
void auth_logout(const char *token);

int auth_valid_name(const char *name);
int auth_valid_role(const char *role);

/* `chatd user add NAME --role R | del NAME | list` */
int user_cli(int argc, char **argv, const struct config *cfg);

#endif
