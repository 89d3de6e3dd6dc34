/* conn: TCP + optional TLS over libuv (see conn.h). */
#include "conn.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

#define CONN_READ_BUF 65536
#define CONN_WQ_HIGH (1024 * 1024) /* queued output that stops our reading... */
#define CONN_WQ_LOW (256 * 1024)   /* ...until it drains below this */
#define CONN_WREQ_COST 256          /* what one queued write costs beyond its bytes */
#define CONN_LINGER_MS 2000        /* a graceful close waits this long for the peer to read */

struct conn_wreq {
    uv_write_t req;
    size_t len;
    char data[];
};

static void conn_closed_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (++c->nclosed < 2)
        return;
    if (c->has_tls)
        tls_session_free(&c->tls);
    c->ops->closed(c);
}

static void conn_close_handles(struct conn *c)
{
    if (c->handles_closing)
        return;
    c->handles_closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
    uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    conn_close_handles(req->data);
}

static void conn_linger_cb(uv_timer_t *t)
{
    conn_close_handles(t->data);
}

void conn_close(struct conn *c, int graceful)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_timer_stop(&c->timer);
    if (c->has_tls && c->tls.done && graceful) {
        tls_session_close_notify(&c->tls);
        if (c->tls.cout.len) {
            c->closing = 0; /* let conn_write flush the alert */
            conn_write(c, NULL, 0);
            c->closing = 1;
        }
    }
    c->shutdown_req.data = c;
    if (!graceful || !c->established ||
        uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0) {
        conn_close_handles(c);
        return;
    }
    /* A peer that never reads would hold the shutdown (and our exit) forever. */
    uv_timer_start(&c->timer, conn_linger_cb, CONN_LINGER_MS, 0);
}

static void conn_start_reading(struct conn *c);

/* Memory held for the peer: queued bytes plus each request's own cost, so
 * a flood of tiny replies is counted for what it really takes. */
static size_t conn_queued(struct conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + c->wq_reqs * CONN_WREQ_COST;
}

static void conn_write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->handle->data;
    free(req->data);
    c->wq_reqs--;
    if (c->wq_paused && !c->closing && conn_queued(c) < CONN_WQ_LOW) {
        c->wq_paused = 0;
        conn_start_reading(c);
    }
}

static void conn_write_raw(struct conn *c, const char *data, size_t len)
{
    if (len == 0 || c->closing)
        return;
    struct conn_wreq *w = malloc(sizeof *w + len);
    if (!w) {
        c->ops->eof(c, "out-of-memory");
        return;
    }
    memcpy(w->data, data, len);
    w->len = len;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb);
    if (rc < 0) {
        free(w); /* per libuv: on error the callback never runs */
        c->ops->eof(c, uv_strerror(rc));
        return;
    }
    c->wq_reqs++;
    /* Replies only follow input: not reading bounds what we queue for a
     * peer that sends without reading. */
    if (!c->wq_paused && conn_queued(c) > CONN_WQ_HIGH) {
        c->wq_paused = 1;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
    }
}

static void conn_flush_tls(struct conn *c)
{
    if (c->tls.cout.len) {
        conn_write_raw(c, c->tls.cout.p, c->tls.cout.len);
        c->tls.cout.len = 0;
    }
}

void conn_write(struct conn *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    if (!c->has_tls) {
        conn_write_raw(c, data, len);
        return;
    }
    if (len && tls_session_write(&c->tls, data, len) < 0) {
        c->ops->eof(c, "tls-write-failed");
        return;
    }
    conn_flush_tls(c);
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    buf->base = malloc(CONN_READ_BUF);
    buf->len = buf->base ? CONN_READ_BUF : 0;
}

static void conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (n < 0) {
        free(buf->base);
        if (!c->closing)
            c->ops->eof(c, n == UV_EOF ? "eof" : uv_strerror((int)n));
        return;
    }
    if (n == 0 || c->closing) {
        free(buf->base);
        return;
    }
    conn_touch(c, 0);
    if (!c->has_tls) {
        c->ops->read(c, buf->base, (size_t)n);
        free(buf->base);
        return;
    }
    struct sbuf plain;
    sbuf_init(&plain, TLS_BUF_MAX);
    int was_done = c->tls.done;
    enum tls_rc rc = tls_session_input(&c->tls, buf->base, (size_t)n, &plain);
    free(buf->base);
    conn_flush_tls(c);
    if (rc == TLS_ERR) {
        sbuf_free(&plain);
        if (!was_done)
            c->ops->tls(c, 0);
        else
            c->ops->eof(c, "tls-error");
        return;
    }
    if (rc == TLS_HANDSHAKE_DONE || (!was_done && c->tls.done)) {
        tls_session_describe(&c->tls, c->tls_desc, sizeof c->tls_desc);
        c->ops->tls(c, 1);
    }
    if (plain.len && !c->closing)
        c->ops->read(c, plain.p, plain.len);
    sbuf_free(&plain);
    if (rc == TLS_CLOSED && !c->closing)
        c->ops->eof(c, "tls-close-notify");
}

static void conn_timer_cb(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (!c->closing)
        c->ops->timeout(c);
}


void conn_touch(struct conn *c, uint64_t timeout_ms)
{
    if (timeout_ms)
        c->timeout_ms = timeout_ms;
    if (!c->closing && c->timeout_ms)
        uv_timer_start(&c->timer, conn_timer_cb, c->timeout_ms, 0);
}

static int conn_setup(struct conn *c, uv_loop_t *loop, const struct conn_ops *ops, void *data, uint64_t timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->ops = ops;
    c->data = data;
    c->timeout_ms = timeout_ms;
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc < 0)
        return rc;
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    return 0;
}

static void conn_start_reading(struct conn *c)
{
    if (!c->paused && !c->wq_paused && !c->reading && !c->closing) {
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
        c->reading = 1;
    }
}

int conn_accept(struct conn *c, uv_stream_t *server, const struct conn_ops *ops, void *data, uint64_t timeout_ms)
{
    int rc = conn_setup(c, server->loop, ops, data, timeout_ms);
    if (rc < 0)
        return rc;
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0)
        return rc;
    uv_tcp_nodelay(&c->tcp, 1);
    c->established = 1;
    net_peer_ip(&c->tcp, c->peer);
    conn_touch(c, 0);
    conn_start_reading(c);
    return 0;
}

static void conn_connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing)
        return;
    if (status == 0) {
        c->established = 1;
        uv_tcp_nodelay(&c->tcp, 1);
        net_peer_ip(&c->tcp, c->peer);
        conn_start_reading(c);
    }
    c->ops->connected(c, status);
}

int conn_connect(struct conn *c, uv_loop_t *loop, const struct sockaddr *addr, const struct conn_ops *ops,
                 void *data, uint64_t timeout_ms)
{
    int rc = conn_setup(c, loop, ops, data, timeout_ms);
    if (rc < 0)
        return rc;
    c->connect_req.data = c;
    conn_touch(c, 0);
    return uv_tcp_connect(&c->connect_req, &c->tcp, addr, conn_connect_cb);
}

int conn_start_tls(struct conn *c, struct tls_config *cfg, const char *sni)
{
    if (tls_session_init(&c->tls, cfg, sni) < 0) {
        tls_session_free(&c->tls);
        return -1;
    }
    c->has_tls = 1;
    if (!cfg->server) {
        if (tls_session_handshake(&c->tls) == TLS_ERR)
            return -1;
        conn_flush_tls(c);
    }
    return 0;
}

void conn_pause(struct conn *c)
{
    c->paused = 1;
    if (c->reading && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

void conn_resume(struct conn *c)
{
    c->paused = 0;
    conn_start_reading(c);
}
