/* smtp_listen: libuv glue between sockets and the smtp_srv engine (see smtp_listen.h). */
#include "smtp_listen.h"

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void smtp_session_remove(struct smtp_session *s)
{
    struct smtp_listener *l = s->l;
    if (s->prev)
        s->prev->next = s->next;
    else if (l->sessions == s)
        l->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

/* ---- engine hooks -> service hooks ---- */

static void smtp_session_write_hook(void *arg, const char *data, size_t len)
{
    struct smtp_session *s = arg;
    if (len >= 3 && data[0] >= '2' && data[0] <= '5') {
        char label[16];
        snprintf(label, sizeof label, "class=\"%cxx\"", data[0]);
        metrics_inc("envoi_smtp_replies_total", label);
    }
    conn_write(&s->conn, data, len);
}

static void smtp_session_close_hook(void *arg, const char *reason)
{
    struct smtp_session *s = arg;
    log_info("smtp.disconnect", "id=%s reason=%s", s->id, reason);
    conn_close(&s->conn, 1);
}

static void smtp_session_mail_hook(void *arg, struct smtp_srv *srv, const struct smtp_path *p)
{
    struct smtp_session *s = arg;
    if (s->l->ops->mail)
        s->l->ops->mail(s, p);
    else
        smtp_srv_reply(srv, "250 2.1.0 Ok");
}

static void smtp_session_rcpt_hook(void *arg, struct smtp_srv *srv, const struct smtp_path *p)
{
    struct smtp_session *s = arg;
    if (s->l->ops->rcpt)
        s->l->ops->rcpt(s, p);
    else
        smtp_srv_reply(srv, "250 2.1.5 Ok");
}

static void smtp_session_message_hook(void *arg, struct smtp_srv *srv, const char *msg, size_t len)
{
    struct smtp_session *s = arg;
    metrics_add("envoi_smtp_bytes_received_total", NULL, len);
    s->l->ops->message(s, msg, len);
}

static void smtp_session_reset_hook(void *arg, struct smtp_srv *srv)
{
    struct smtp_session *s = arg;
    if (s->l->ops->reset)
        s->l->ops->reset(s);
}

static void smtp_session_auth_hook(void *arg, struct smtp_srv *srv, const char *user, const char *pass)
{
    struct smtp_session *s = arg;
    s->l->ops->auth(s, user, pass);
}

static void smtp_session_starttls_hook(void *arg, struct smtp_srv *srv)
{
    struct smtp_session *s = arg;
    tls_config_refresh(&s->l->tls);
    if (conn_start_tls(&s->conn, s->l->tls, NULL) < 0)
        smtp_srv_tls_done(srv, 0);
}

static void smtp_session_input_room_hook(void *arg)
{
    struct smtp_session *s = arg;
    if (s->peer_eof) {
        /* Everything the client sent before its FIN is answered; once the
         * engine needs input again there is none to come. */
        if (s->srv.state != SMTP_S_WAIT && s->srv.state != SMTP_S_TLS && s->srv.state != SMTP_S_CLOSED) {
            s->srv.state = SMTP_S_CLOSED;
            conn_close(&s->conn, 1);
        }
        return;
    }
    if (s->conn.paused)
        conn_resume(&s->conn);
}

static const struct smtp_srv_hooks smtp_session_hooks = {
    .input_room = smtp_session_input_room_hook,
    .write = smtp_session_write_hook,
    .close = smtp_session_close_hook,
    .mail = smtp_session_mail_hook,
    .rcpt = smtp_session_rcpt_hook,
    .message = smtp_session_message_hook,
    .reset = smtp_session_reset_hook,
    .auth = smtp_session_auth_hook,
    .starttls = smtp_session_starttls_hook,
};

/* ---- conn callbacks ---- */

static void smtp_session_after_proxy(struct smtp_session *s);
static int smtp_listen_count_ip(struct smtp_listener *l, const char *ip);

/* Bytes before the greeting: a PROXY header we wait for, or an early talker. */
static void smtp_session_preface(struct smtp_session *s, const char *data, size_t len)
{
    if (s->preface == SMTP_PREFACE_DELAY) {
        log_info("smtp.early-talker", "id=%s client=%s", s->id, s->conn.peer);
        metrics_inc("envoi_smtp_early_talkers_total", NULL);
        static const char early[] = "554 5.5.0 SMTP protocol violation: data before greeting\r\n";
        conn_write(&s->conn, early, sizeof early - 1);
        s->srv.state = SMTP_S_CLOSED;
        conn_close(&s->conn, 1);
        return;
    }
    struct proxy_info pi;
    size_t used = 0;
    if (sbuf_add(&s->proxy_buf, data, len) < 0) {
        conn_close(&s->conn, 0);
        return;
    }
    enum proxy_rc rc = proxy_parse((const unsigned char *)s->proxy_buf.p, s->proxy_buf.len, &used, &pi);
    if (rc == PROXY_MORE)
        return;
    if (rc == PROXY_BAD || used != s->proxy_buf.len) {
        log_info("smtp.proxy.refused", "id=%s peer=%s reason=%s", s->id, s->conn.peer,
                 rc == PROXY_BAD ? "bad-header" : "data-after-header");
        s->srv.state = SMTP_S_CLOSED;
        conn_close(&s->conn, 0);
        return;
    }
    log_info("smtp.proxy", "id=%s balancer=%s client=%s", s->id, s->conn.peer, pi.src[0] ? pi.src : "local");
    sbuf_free(&s->proxy_buf);
    if (pi.src[0]) {
        snprintf(s->conn.peer, sizeof s->conn.peer, "%s", pi.src);
        /* The per-address limit was not applied to the balancer at accept:
         * it applies to the client the balancer names. */
        if (s->l->max_per_ip && smtp_listen_count_ip(s->l, s->conn.peer) > s->l->max_per_ip) {
            s->preface = SMTP_PREFACE_NONE;
            smtp_srv_abort(&s->srv, "421 4.7.0 Too many connections, try again later");
            return;
        }
    }
    smtp_session_after_proxy(s);
}

static void smtp_session_read_op(struct conn *c, const char *data, size_t len)
{
    struct smtp_session *s = c->data;
    if (s->preface != SMTP_PREFACE_NONE) {
        smtp_session_preface(s, data, len);
        return;
    }
    smtp_srv_feed(&s->srv, data, len);
    if (smtp_srv_backlogged(&s->srv))
        conn_pause(c);
}

static void smtp_session_eof_op(struct conn *c, const char *reason)
{
    struct smtp_session *s = c->data;
    /* A FIN with commands still being answered (pipelined up to QUIT, then
     * a half-close) is a client still reading: answer, then close. Outside
     * WAIT the engine has already done all it can: what is left in its input
     * is half a line that will never be completed. */
    if (!strcmp(reason, "eof") && s->preface == SMTP_PREFACE_NONE && !s->peer_eof &&
        s->srv.state == SMTP_S_WAIT) {
        s->peer_eof = 1;
        conn_pause(c);
        return;
    }
    log_info("smtp.disconnect", "id=%s reason=%s state=%s", s->id, reason, smtp_srv_state_name(s->srv.state));
    s->srv.state = SMTP_S_CLOSED;
    conn_close(c, 0);
}

static void smtp_session_tls_op(struct conn *c, int ok)
{
    struct smtp_session *s = c->data;
    log_info("smtp.tls", "id=%s ok=%d tls=\"%s\"", s->id, ok, ok ? c->tls_desc : "");
    if (s->implicit_tls && s->srv.state == SMTP_S_START) {
        if (!ok) {
            conn_close(c, 0);
            return;
        }
        s->srv.tls = 1;
        smtp_srv_start(&s->srv);
        return;
    }
    smtp_srv_tls_done(&s->srv, ok);
}

static void smtp_session_timeout_op(struct conn *c)
{
    struct smtp_session *s = c->data;
    if (s->preface == SMTP_PREFACE_DELAY) {
        s->preface = SMTP_PREFACE_NONE;
        conn_touch(c, s->l->timeout_ms);
        smtp_srv_start(&s->srv);
        return;
    }
    if (s->srv.state == SMTP_S_WAIT) {
        /* The client is waiting on us, not the other way round; the hop's own
         * deadlines (next hop, transform) end this wait. */
        conn_touch(c, 0);
        return;
    }
    log_info("smtp.timeout", "id=%s state=%s", s->id, smtp_srv_state_name(s->srv.state));
    if (s->srv.state == SMTP_S_START)
        conn_close(c, 0);
    else
        smtp_srv_abort(&s->srv, "421 4.4.2 Timeout exceeded, closing connection");
}

static void smtp_session_closed_op(struct conn *c)
{
    struct smtp_session *s = c->data;
    struct smtp_listener *l = s->l;
    if (l->ops->close)
        l->ops->close(s);
    smtp_session_remove(s);
    smtp_srv_free(&s->srv);
    sbuf_free(&s->proxy_buf);
    l->nconns--;
    metrics_set("envoi_smtp_connections", NULL, l->nconns);
    free(s);
}

static const struct conn_ops smtp_session_conn_ops = {
    .read = smtp_session_read_op,
    .eof = smtp_session_eof_op,
    .tls = smtp_session_tls_op,
    .timeout = smtp_session_timeout_op,
    .closed = smtp_session_closed_op,
};

static int smtp_listen_count_ip(struct smtp_listener *l, const char *ip)
{
    int n = 0;
    for (struct smtp_session *s = l->sessions; s; s = s->next)
        n += !strcmp(s->conn.peer, ip);
    return n;
}

static void smtp_session_after_proxy(struct smtp_session *s)
{
    struct smtp_listener *l = s->l;
    if (s->implicit_tls) {
        tls_config_refresh(&l->tls);
        if (conn_start_tls(&s->conn, l->tls, NULL) < 0)
            conn_close(&s->conn, 0);
        return;
    }
    if (l->greet_delay_ms) {
        s->preface = SMTP_PREFACE_DELAY;
        conn_touch(&s->conn, l->greet_delay_ms);
        return;
    }
    s->preface = SMTP_PREFACE_NONE;
    smtp_srv_start(&s->srv);
}

static int smtp_listen_proxied(const struct smtp_listener *l, const char *ip)
{
    if (!l->proxy_protocol || !l->proxy_from)
        return 0;
    for (int i = 0; i < l->proxy_from->n; i++)
        if (net_cidr_match(ip, l->proxy_from->v[i]))
            return 1;
    return 0;
}

static void smtp_session_begin(struct smtp_session *s)
{
    sbuf_init(&s->proxy_buf, PROXY_V2_MAX);
    if (smtp_listen_proxied(s->l, s->conn.peer)) {
        s->preface = SMTP_PREFACE_PROXY;
        return;
    }
    smtp_session_after_proxy(s);
}

static void smtp_listen_accept_cb(uv_stream_t *server, int status)
{
    struct smtp_listener *l = server->data;
    if (status < 0 || daemon_stopping())
        return;
    struct smtp_session *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->l = l;
    snprintf(s->id, sizeof s->id, "%08lx", ++l->next_id ^ ((unsigned long)uv_now(l->loop) << 20));
    s->started_ms = uv_now(l->loop);
    smtp_srv_init(&s->srv, &l->srv, &smtp_session_hooks, s, s->id);
    if (conn_accept(&s->conn, server, &smtp_session_conn_ops, s, l->timeout_ms) < 0) {
        s->srv.state = SMTP_S_CLOSED;
        l->nconns++;
        conn_close(&s->conn, 0);
        return;
    }
    s->next = l->sessions;
    if (l->sessions)
        l->sessions->prev = s;
    l->sessions = s;
    l->nconns++;
    metrics_inc("envoi_smtp_connections_total", NULL);
    metrics_set("envoi_smtp_connections", NULL, l->nconns);
    for (int i = 0; i < l->ntcp; i++)
        if ((uv_stream_t *)&l->tcp[i] == server)
            s->implicit_tls = l->implicit[i];
    log_info("smtp.connect", "id=%s client=%s tls=%d", s->id, s->conn.peer, s->implicit_tls);
    /* A trusted balancer carries many clients: those are counted once its
     * PROXY header names them (smtp_session_preface). */
    if ((l->max_conns && l->nconns > l->max_conns) ||
        (l->max_per_ip && !smtp_listen_proxied(l, s->conn.peer) &&
         smtp_listen_count_ip(l, s->conn.peer) > l->max_per_ip)) {
        smtp_srv_abort(&s->srv, "421 4.7.0 Too many connections, try again later");
        return;
    }
    if (l->ops->open && l->ops->open(s) < 0) {
        smtp_srv_abort(&s->srv, "421 4.3.2 Service not available");
        return;
    }
    smtp_session_begin(s);
}

int smtp_listen_add(struct smtp_listener *l, const char *addr, int implicit)
{
    if (l->ntcp == SMTP_LISTEN_MAX)
        return UV_ENOBUFS;
    uv_tcp_t *t = &l->tcp[l->ntcp];
    int rc = net_listen_tcp(l->loop, t, addr, implicit ? 465 : 25, smtp_listen_accept_cb);
    if (rc < 0)
        return rc;
    t->data = l;
    l->implicit[l->ntcp++] = implicit;
    log_info("smtp.listen", "addr=%s tls=%s", addr, implicit ? "implicit" : l->tls ? "starttls" : "none");
    return 0;
}

static void smtp_listen_shutdown_hook(void *arg)
{
    struct smtp_listener *l = arg;
    for (int i = 0; i < l->ntcp; i++)
        uv_close((uv_handle_t *)&l->tcp[i], NULL);
    l->ntcp = 0;
    /* Nothing in flight has had its 250 yet, so 421 loses nothing: the
     * client keeps the message and retries. */
    for (struct smtp_session *s = l->sessions, *n; s; s = n) {
        n = s->next;
        if (s->srv.state == SMTP_S_START)
            conn_close(&s->conn, 0);
        else
            smtp_srv_abort(&s->srv, "421 4.3.2 Service shutting down");
    }
}

void smtp_listen_start(struct smtp_listener *l)
{
    daemon_on_shutdown(smtp_listen_shutdown_hook, l);
}

const char *smtp_date_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

int smtp_listen_received(const struct smtp_session *s, const char *by, const char *service, struct sbuf *out)
{
    char date[64];
    const struct smtp_srv *srv = &s->srv;
    /* RFC 3848 names, and RFC 6531's UTF8SMTP family for a transaction
     * that asked for SMTPUTF8. */
    char with[16];
    if (!srv->esmtp)
        snprintf(with, sizeof with, "SMTP");
    else
        snprintf(with, sizeof with, "%s%s%s", srv->from.smtputf8 ? "UTF8SMTP" : "ESMTP", srv->tls ? "S" : "",
                 srv->auth_user[0] ? "A" : "");
    /* TCP-info is an address literal (RFC 5321 4.4): [192.0.2.1], [IPv6:...]. */
    char lit[NET_IP_MAX + 8];
    snprintf(lit, sizeof lit, "[%s%s]", strchr(s->conn.peer, ':') ? "IPv6:" : "", s->conn.peer);
    /* The client chose its HELO: controls, 8-bit bytes and parentheses would
     * let it bend this trace field (or forge a comment in it). */
    char helo[sizeof srv->helo];
    size_t i = 0;
    for (; srv->helo[i] && i < sizeof helo - 1; i++) {
        unsigned char c = (unsigned char)srv->helo[i];
        helo[i] = c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '\\' ? '?' : (char)c;
    }
    helo[i] = '\0';
    int rc = sbuf_printf(out, "Received: from %s (%s)\r\n\tby %s (envoi %s) with %s id %s",
                         helo[0] ? helo : "unknown", lit, by, service, with, s->id);
    if (s->conn.tls_desc[0])
        rc |= sbuf_printf(out, "\r\n\t(using %s)", s->conn.tls_desc);
    if (srv->nrcpt == 1)
        rc |= sbuf_printf(out, "\r\n\tfor <%s>", srv->rcpts[0]);
    rc |= sbuf_printf(out, ";\r\n\t%s\r\n", smtp_date_now(date, sizeof date));
    return rc;
}
