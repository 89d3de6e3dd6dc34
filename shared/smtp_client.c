/* smtp_client: asynchronous SMTP client session (see smtp_client.h). */
#include "smtp_client.h"

#include "log.h"
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SMTP_CLI_EXT_MAX 1024

enum smtp_cli_state {
    CLI_CONNECTING, CLI_GREETING, CLI_EHLO, CLI_HELO, CLI_STARTTLS, CLI_HANDSHAKE, CLI_READY, CLI_DEAD,
};

struct smtp_cli_item {
    char *line;        /* command line with CRLF */
    size_t len;
    char *body;        /* DATA only: the dot-stuffed message, sent after 354 */
    size_t body_len;
    int body_sent;     /* DATA: 354 came, the body went out, the final reply is next */
    smtp_cli_reply_cb cb;
    void *arg;
};

struct smtp_cli {
    struct conn conn;
    enum smtp_cli_state state;
    const struct smtp_cli_config *cfg;
    smtp_cli_closed_cb closed;
    void *arg;
    struct sbuf in;
    struct smtp_cli_item q[SMTP_CLI_QUEUE_MAX];
    int qhead, qlen;      /* ring of pending items; q[qhead] awaits the next reply */
    int nsent;            /* items at the head already sent */
    char ext[SMTP_CLI_EXT_MAX];
    int pipelining, quitting, tls_up;
    char fail_reason[128];
    /* Opportunistic TLS whose handshake failed: the connection is closed
     * and opened again to the same address without STARTTLS, as RFC 3207
     * allows and Postfix's "may" level does; nothing was sent yet. */
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    int no_tls, plain_retry;
};

static void smtp_cli_fail(struct smtp_cli *c, const char *why);
static const struct conn_ops smtp_cli_conn_ops;

static struct smtp_cli_item *smtp_cli_at(struct smtp_cli *c, int i)
{
    return &c->q[(c->qhead + i) % SMTP_CLI_QUEUE_MAX];
}

static void smtp_cli_send_pending(struct smtp_cli *c)
{
    if (c->state != CLI_READY)
        return;
    while (c->nsent < c->qlen) {
        /* Without PIPELINING one command at a time; with it, everything up to
         * and including DATA (RFC 2920: DATA ends a group; the body waits for 354). */
        if (c->nsent > 0 && (!c->pipelining || smtp_cli_at(c, c->nsent - 1)->body))
            return;
        struct smtp_cli_item *it = smtp_cli_at(c, c->nsent);
        conn_write(&c->conn, it->line, it->len);
        if (c->nsent++ == 0)
            conn_touch(&c->conn, c->cfg->timeout_ms);
    }
}

static void smtp_cli_pop(struct smtp_cli *c, const struct smtp_reply *r)
{
    struct smtp_cli_item it = *smtp_cli_at(c, 0);
    c->qhead = (c->qhead + 1) % SMTP_CLI_QUEUE_MAX;
    c->qlen--;
    c->nsent--;
    free(it.line);
    free(it.body);
    if (it.cb)
        it.cb(it.arg, r);
}

static void smtp_cli_ehlo(struct smtp_cli *c, int esmtp)
{
    char line[300];
    int n = snprintf(line, sizeof line, "%s %s\r\n", esmtp ? "EHLO" : "HELO", c->cfg->helo);
    conn_write(&c->conn, line, (size_t)n);
    c->state = esmtp ? CLI_EHLO : CLI_HELO;
}

int smtp_cli_has_ext(const struct smtp_cli *c, const char *kw)
{
    size_t kl = strlen(kw);
    for (const char *p = c->ext; *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l >= kl && !strncasecmp(p, kw, kl) && (l == kl || p[kl] == ' '))
            return 1;
        p += l + (e ? 1 : 0);
    }
    return 0;
}

static void smtp_cli_ready(struct smtp_cli *c)
{
    c->state = CLI_READY;
    c->pipelining = smtp_cli_has_ext(c, "PIPELINING");
    smtp_cli_send_pending(c);
}

static void smtp_cli_on_reply(struct smtp_cli *c, const struct smtp_reply *r)
{
    switch (c->state) {
    case CLI_GREETING:
        if (r->code != 220) {
            smtp_cli_fail(c, "greeting refused");
            return;
        }
        smtp_cli_ehlo(c, 1);
        return;
    case CLI_EHLO:
        if (r->code / 100 != 2) {
            smtp_cli_ehlo(c, 0);
            return;
        }
        /* The first line is the server's name; the rest are extensions. */
        {
            const char *nl = strchr(r->text, '\n');
            snprintf(c->ext, sizeof c->ext, "%s", nl ? nl + 1 : "");
        }
        if (!c->tls_up && !c->no_tls && c->cfg->starttls != SMTP_CLI_TLS_NONE && c->cfg->tls) {
            if (smtp_cli_has_ext(c, "STARTTLS")) {
                conn_write(&c->conn, "STARTTLS\r\n", 10);
                c->state = CLI_STARTTLS;
                return;
            }
            if (c->cfg->starttls == SMTP_CLI_TLS_REQUIRED) {
                smtp_cli_fail(c, "STARTTLS required but not offered");
                return;
            }
        }
        smtp_cli_ready(c);
        return;
    case CLI_HELO:
        if (r->code / 100 != 2) {
            smtp_cli_fail(c, "HELO refused");
            return;
        }
        c->ext[0] = '\0';
        smtp_cli_ready(c);
        return;
    case CLI_STARTTLS:
        if (r->code != 220) {
            if (c->cfg->starttls == SMTP_CLI_TLS_REQUIRED) {
                smtp_cli_fail(c, "STARTTLS refused");
                return;
            }
            smtp_cli_ready(c);
            return;
        }
        c->state = CLI_HANDSHAKE;
        if (conn_start_tls(&c->conn, c->cfg->tls, c->cfg->sni) < 0)
            smtp_cli_fail(c, "TLS setup failed");
        return;
    case CLI_READY: {
        if (c->nsent == 0)
            return; /* unsolicited (e.g. 421 before closing): the read error follows */
        struct smtp_cli_item *head = smtp_cli_at(c, 0);
        if (head->body && !head->body_sent && r->code == 354) {
            head->body_sent = 1;
            conn_write(&c->conn, head->body, head->body_len);
            conn_touch(&c->conn, c->cfg->data_timeout_ms);
            return;
        }
        if ((head->body && !head->body_sent && r->code < 400) ||
            ((!head->body || head->body_sent) && r->code < 400 && r->code / 100 != 2)) {
            /* Anything but 354 or an error to DATA is a broken server: a 250
             * here must never pass for the message's acceptance, as the
             * message was not even sent. Likewise a 3xx to anything else: the
             * server is out of step with us. */
            smtp_cli_fail(c, "unexpected reply");
            return;
        }
        smtp_cli_pop(c, r);
        smtp_cli_send_pending(c);
        /* The reply timer runs only while a reply is awaited: an idle session
         * waiting for our client's slow upload is not the next hop's fault. */
        if (c->state == CLI_READY && c->nsent == 0)
            uv_timer_stop(&c->conn.timer);
        else
            conn_touch(&c->conn, c->cfg->timeout_ms);
        return;
    }
    default:
        return;
    }
}

static void smtp_cli_fail_all(struct smtp_cli *c)
{
    struct smtp_reply r;
    r.code = 451;
    r.text_len = (size_t)snprintf(r.text, sizeof r.text, "4.4.1 Next hop unavailable: %s", c->fail_reason);
    while (c->qlen > 0) {
        if (c->nsent == 0)
            c->nsent = 1; /* pop() counts sent items; unsent ones fail the same way */
        smtp_cli_pop(c, &r);
    }
    c->nsent = 0;
}

static void smtp_cli_fail(struct smtp_cli *c, const char *why)
{
    if (c->state == CLI_DEAD)
        return;
    if (c->state == CLI_HANDSHAKE && !c->quitting && c->cfg->starttls == SMTP_CLI_TLS_OPPORTUNISTIC && !c->no_tls) {
        /* Whatever broke the handshake (an alert, EOF, a timeout). */
        log_warn("smtp.client.tls-fallback", "peer=%s reason=\"%s\" note=\"connecting again without TLS\"",
                 c->conn.peer, why);
        c->no_tls = 1;
        c->plain_retry = 1;
        conn_close(&c->conn, 0); /* closed_op connects again */
        return;
    }
    if (!c->quitting)
        log_warn("smtp.client.fail", "peer=%s reason=\"%s\"", c->conn.peer, why);
    snprintf(c->fail_reason, sizeof c->fail_reason, "%s", why);
    c->state = CLI_DEAD;
    smtp_cli_fail_all(c);
    conn_close(&c->conn, 1);
}

static void smtp_cli_read_op(struct conn *conn, const char *data, size_t len)
{
    struct smtp_cli *c = conn->data;
    if (sbuf_add(&c->in, data, len) < 0) {
        smtp_cli_fail(c, "reply too long");
        return;
    }
    while (c->in.len && c->state != CLI_DEAD && c->state != CLI_HANDSHAKE) {
        struct smtp_reply r;
        size_t used;
        enum smtp_reply_rc rc = smtp_reply_parse(c->in.p, c->in.len, &used, &r);
        if (rc == SMTP_REPLY_MORE)
            break;
        if (rc == SMTP_REPLY_BAD) {
            smtp_cli_fail(c, "malformed reply");
            return;
        }
        sbuf_consume(&c->in, used);
        smtp_cli_on_reply(c, &r);
    }
}

static void smtp_cli_eof_op(struct conn *conn, const char *reason)
{
    smtp_cli_fail(conn->data, reason);
}

static void smtp_cli_tls_op(struct conn *conn, int ok)
{
    struct smtp_cli *c = conn->data;
    if (!ok) {
        smtp_cli_fail(c, "TLS handshake failed");
        return;
    }
    /* With TLS required and a CA bundle, mbedtls itself fails a handshake
     * whose certificate does not verify (VERIFY_REQUIRED). */
    c->tls_up = 1;
    sbuf_consume(&c->in, c->in.len); /* nothing from before TLS may count after it */
    smtp_cli_ehlo(c, 1);
}

static void smtp_cli_connected_op(struct conn *conn, int status)
{
    struct smtp_cli *c = conn->data;
    if (status < 0) {
        smtp_cli_fail(c, uv_strerror(status));
        return;
    }
    c->state = CLI_GREETING;
    conn_touch(conn, c->cfg->timeout_ms);
}

static void smtp_cli_timeout_op(struct conn *conn)
{
    smtp_cli_fail(conn->data, "timeout");
}

static void smtp_cli_closed_op(struct conn *conn)
{
    struct smtp_cli *c = conn->data;
    if (c->plain_retry && c->state != CLI_DEAD) {
        c->plain_retry = 0;
        c->state = CLI_CONNECTING;
        c->tls_up = 0;
        c->ext[0] = '\0';
        sbuf_consume(&c->in, c->in.len);
        int rc = conn_connect(&c->conn, c->loop, (struct sockaddr *)&c->addr, &smtp_cli_conn_ops, c,
                              c->cfg->timeout_ms);
        if (rc == 0)
            return;
        snprintf(c->fail_reason, sizeof c->fail_reason, "%s", uv_strerror(rc));
        c->state = CLI_DEAD;
        conn_close(&c->conn, 0); /* back here, then freed below */
        return;
    }
    c->state = CLI_DEAD;
    smtp_cli_fail_all(c);
    sbuf_free(&c->in);
    if (c->closed)
        c->closed(c->arg);
    free(c);
}

static const struct conn_ops smtp_cli_conn_ops = {
    .read = smtp_cli_read_op,
    .eof = smtp_cli_eof_op,
    .tls = smtp_cli_tls_op,
    .connected = smtp_cli_connected_op,
    .timeout = smtp_cli_timeout_op,
    .closed = smtp_cli_closed_op,
};

struct smtp_cli *smtp_cli_open(uv_loop_t *loop, const struct sockaddr *addr, const struct smtp_cli_config *cfg,
                               smtp_cli_closed_cb closed, void *arg)
{
    struct smtp_cli *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->closed = closed;
    c->arg = arg;
    c->state = CLI_CONNECTING;
    c->loop = loop;
    memcpy(&c->addr, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    sbuf_init(&c->in, SMTP_REPLY_MAX * 2);
    int rc = conn_connect(&c->conn, loop, addr, &smtp_cli_conn_ops, c, cfg->timeout_ms);
    if (rc < 0) {
        /* The handles were initialised: close them; closed_op frees c. */
        snprintf(c->fail_reason, sizeof c->fail_reason, "%s", uv_strerror(rc));
        c->state = CLI_DEAD;
        c->closed = NULL;
        conn_close(&c->conn, 0);
        return NULL;
    }
    return c;
}

static void smtp_cli_enqueue(struct smtp_cli *c, char *line, size_t len, char *body, size_t body_len,
                             smtp_cli_reply_cb cb, void *arg)
{
    if (c->state == CLI_DEAD || c->qlen == SMTP_CLI_QUEUE_MAX || !line) {
        struct smtp_reply r;
        r.code = 451;
        r.text_len = (size_t)snprintf(r.text, sizeof r.text, "4.4.1 Next hop unavailable: %s",
                                      c->fail_reason[0] ? c->fail_reason : "queue full");
        free(line);
        free(body);
        if (cb)
            cb(arg, &r);
        return;
    }
    struct smtp_cli_item *it = smtp_cli_at(c, c->qlen++);
    *it = (struct smtp_cli_item){.line = line, .len = len, .body = body, .body_len = body_len, .cb = cb, .arg = arg};
    smtp_cli_send_pending(c);
}

void smtp_cli_cmd(struct smtp_cli *c, const char *line, smtp_cli_reply_cb cb, void *arg)
{
    size_t n = strlen(line);
    char *l = malloc(n + 3);
    if (l) {
        memcpy(l, line, n);
        memcpy(l + n, "\r\n", 3);
    }
    smtp_cli_enqueue(c, l, n + 2, NULL, 0, cb, arg);
}

void smtp_cli_data(struct smtp_cli *c, const char *msg, size_t len, smtp_cli_reply_cb cb, void *arg)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    if (smtp_dot_stuff(msg, len, &b) < 0) {
        sbuf_free(&b);
        smtp_cli_enqueue(c, NULL, 0, NULL, 0, cb, arg);
        return;
    }
    size_t blen;
    char *body = sbuf_steal(&b, &blen);
    smtp_cli_enqueue(c, strdup("DATA\r\n"), 6, body, blen, cb, arg);
}

void smtp_cli_forget(struct smtp_cli *c, void *arg)
{
    for (int i = 0; i < c->qlen; i++)
        if (smtp_cli_at(c, i)->arg == arg)
            smtp_cli_at(c, i)->cb = NULL;
    if (c->arg == arg)
        c->closed = NULL;
}

void smtp_cli_close(struct smtp_cli *c)
{
    if (c->state == CLI_DEAD)
        return;
    c->quitting = 1;
    if (c->state == CLI_READY && c->qlen == 0)
        conn_write(&c->conn, "QUIT\r\n", 6);
    smtp_cli_fail(c, "closed");
}

int smtp_cli_dead(const struct smtp_cli *c)
{
    return c->state == CLI_DEAD;
}

const char *smtp_cli_tls_desc(const struct smtp_cli *c)
{
    return c->tls_up ? c->conn.tls_desc : "";
}
