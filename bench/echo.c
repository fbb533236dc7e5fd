/*
 * echo.c - a bare libwebsockets echo server built the way chatd is: lws
 * 4.1.6 on a foreign libuv loop (LWS_SERVER_OPTION_LIBUV), protocol
 * helpline.v1 with the same 4 KiB receive buffer, frames reassembled in a
 * heap buffer, a malloc'd output queue per connection and one lws_write()
 * per writeable callback.  No JSON, no Redis, no crypto: what is left is
 * the cost of lws, libuv and the kernel, this machine's ceiling for a
 * WebSocket server of chatd's shape.
 *
 *   echo PORT        listens on 127.0.0.1:PORT; SIGTERM/SIGINT stop it
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define WS_RX_CHUNK 4096 /* as chatd/http.c */
#define FRAME_MAX   16384

struct out {
    struct out *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE headroom, then the payload */
};

struct pss {
    char *rx;
    size_t rx_len;
    struct out *head, *tail;
};

static uv_loop_t loop;
static uv_signal_t sig_term, sig_int;
static struct lws_context *context;

static void queue(struct lws *wsi, struct pss *ps, const char *p, size_t n)
{
    struct out *o = malloc(sizeof *o + LWS_PRE + n);

    if (!o)
        return;
    o->next = NULL;
    o->len = n;
    memcpy(o->data + LWS_PRE, p, n);
    if (ps->tail)
        ps->tail->next = o;
    else
        ps->head = o;
    ps->tail = o;
    lws_callback_on_writable(wsi);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    struct pss *ps = user;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(ps, 0, sizeof *ps);
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        char *nb;
        if (ps->rx_len + len > FRAME_MAX)
            return -1;
        if (!(nb = realloc(ps->rx, ps->rx_len + len + 1)))
            return -1;
        ps->rx = nb;
        memcpy(ps->rx + ps->rx_len, in, len);
        ps->rx_len += len;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            return 0;
        queue(wsi, ps, ps->rx, ps->rx_len);
        free(ps->rx);
        ps->rx = NULL;
        ps->rx_len = 0;
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        struct out *o = ps->head;
        if (!o)
            return 0;
        if (lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT) <
            (int)o->len)
            return -1;
        ps->head = o->next;
        if (!ps->head)
            ps->tail = NULL;
        free(o);
        if (ps->head)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        while (ps->head) {
            struct out *o = ps->head;
            ps->head = o->next;
            free(o);
        }
        free(ps->rx);
        ps->rx = NULL;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"helpline.v1", callback, sizeof(struct pss), WS_RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    lws_context_destroy(context);
    context = NULL;
}

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    void *loops[1] = {&loop};

    if (argc != 2) {
        fprintf(stderr, "usage: echo PORT\n");
        return 2;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    uv_loop_init(&loop);
    memset(&info, 0, sizeof info);
    info.port = atoi(argv[1]);
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.vhost_name = "echo";
    info.server_string = "echo";
    info.timeout_secs = 30;
    if (!(context = lws_create_context(&info))) {
        fprintf(stderr, "echo: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
