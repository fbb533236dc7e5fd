/*
 * http.h - the HTTP and WebSocket surface, on libwebsockets.
 *
 * Owns: the lws context and vhost, the routes (static files, healthz,
 * readyz, the api), the security headers every response carries, the
 * Origin allow-list for WebSocket upgrades, and the reassembly of
 * WebSocket frames.  Promises: never logs a client address; hands each
 * complete frame to session_frame().  Called by main.c.
 */
#ifndef CHATD_HTTP_H
#define CHATD_HTTP_H

#include <uv.h>

#include "config.h"

int http_start(uv_loop_t *loop, const struct config *cfg);
/* Stop accepting and close every connection. */
void http_stop(void);

#endif
