/* admin: /healthz and /metrics over a tiny HTTP/1.0 responder (see admin.h).
 * One request per connection, request bounded to ADMIN_REQ_MAX bytes. */
#include "admin.h"

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_REQ_MAX 2048
#define ADMIN_TIMEOUT_MS 5000

struct admin_conn {
    struct admin_conn *prev, *next; /* open connections, closed at shutdown */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    char req[ADMIN_REQ_MAX];
    size_t len;
    char *resp;
    int closing, nclosed;
};

static uv_tcp_t admin_listener;
static struct admin_conn *admin_conns;
static int admin_active;
static admin_health_fn admin_health;
static void *admin_health_arg;

static void admin_conn_closed_cb(uv_handle_t *h)
{
    struct admin_conn *c = h->data;
    if (++c->nclosed == 2) {
        if (c->prev)
            c->prev->next = c->next;
        else
            admin_conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        free(c->resp);
        free(c);
    }
}

static void admin_conn_close(struct admin_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, admin_conn_closed_cb);
    uv_close((uv_handle_t *)&c->timer, admin_conn_closed_cb);
}

static void admin_write_cb(uv_write_t *w, int status)
{
    admin_conn_close(w->data);
}

static void admin_respond(struct admin_conn *c, int code, const char *ctype, const char *body, size_t blen)
{
    const char *reason = code == 200 ? "OK" : code == 503 ? "Service Unavailable" : code == 404 ? "Not Found" : "Bad Request";
    size_t cap = blen + 256;
    c->resp = malloc(cap);
    if (!c->resp) {
        admin_conn_close(c);
        return;
    }
    int n = snprintf(c->resp, cap, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     code, reason, ctype, blen);
    memcpy(c->resp + n, body, blen);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)(n + (int)blen));
    c->wr.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, admin_write_cb) < 0)
        admin_conn_close(c);
}

/* "GET <path>" followed by a space, a query or the end of the line: a
 * prefix match would answer /healthzz too. */
static int admin_is(const char *req, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(req, "GET ", 4) || strncmp(req + 4, path, n))
        return 0;
    char next = req[4 + n];
    return next == ' ' || next == '?' || next == '\r' || next == '\n';
}

static void admin_handle(struct admin_conn *c)
{
    metrics_inc("envoi_admin_requests_total", NULL);
    if (admin_is(c->req, "/healthz")) {
        const char *why = daemon_stopping() ? "shutting down" : admin_health ? admin_health(admin_health_arg) : NULL;
        if (why) {
            char body[256];
            int n = snprintf(body, sizeof body, "unhealthy: %s\n", why);
            admin_respond(c, 503, "text/plain", body, (size_t)n);
        } else {
            admin_respond(c, 200, "text/plain", "ok\n", 3);
        }
    } else if (admin_is(c->req, "/metrics")) {
        size_t len;
        char *m = metrics_render(&len);
        admin_respond(c, 200, "text/plain; version=0.0.4", m ? m : "", m ? len : 0);
        free(m);
    } else {
        admin_respond(c, 404, "text/plain", "not found\n", 10);
    }
}

static void admin_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct admin_conn *c = h->data;
    buf->base = c->req + c->len;
    buf->len = sizeof c->req - 1 - c->len;
}

static void admin_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct admin_conn *c = s->data;
    if (n < 0) {
        admin_conn_close(c);
        return;
    }
    /* No NUL in a request line or header: answer at once rather than wait
     * for the timeout with a request the string functions cannot see. */
    if (memchr(c->req + c->len, '\0', (size_t)n)) {
        admin_respond(c, 400, "text/plain", "bad request\n", 12);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        admin_handle(c);
    else if (c->len >= sizeof c->req - 1)
        admin_respond(c, 400, "text/plain", "request too large\n", 18);
}

static void admin_timeout_cb(uv_timer_t *t)
{
    admin_conn_close(t->data);
}

static void admin_accept_cb(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct admin_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->next = admin_conns;
    if (admin_conns)
        admin_conns->prev = c;
    admin_conns = c;
    c->tcp.data = c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        admin_conn_close(c);
        return;
    }
    /* From now, not from the start of this loop pass: after a long pass
     * the cached time is old and the probe would be cut off unread. */
    uv_update_time(server->loop);
    uv_timer_start(&c->timer, admin_timeout_cb, ADMIN_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, admin_alloc_cb, admin_read_cb);
}

static void admin_shutdown_hook(void *arg)
{
    if (admin_active) {
        admin_active = 0;
        uv_close((uv_handle_t *)&admin_listener, NULL);
    }
    /* A stalled probe must not hold the exit for its timeout. */
    for (struct admin_conn *c = admin_conns; c; c = c->next)
        admin_conn_close(c);
}

int admin_start(uv_loop_t *loop, const char *addr, admin_health_fn health, void *arg)
{
    if (!addr || !*addr)
        return 0;
    admin_health = health;
    admin_health_arg = arg;
    int rc = net_listen_tcp(loop, &admin_listener, addr, 8080, admin_accept_cb);
    if (rc < 0) {
        if (uv_is_active((uv_handle_t *)&admin_listener) || rc != UV_EINVAL)
            uv_close((uv_handle_t *)&admin_listener, NULL);
        return rc;
    }
    admin_active = 1;
    daemon_on_shutdown(admin_shutdown_hook, NULL);
    log_info("admin.listen", "addr=%s", addr);
    return 0;
}
