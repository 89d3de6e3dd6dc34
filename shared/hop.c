/* hop: SMTP proxy with a transform, answering 250 only after the next hop
 * did (see hop.h). One upstream session per client session, reused for every
 * message of that session. */
#include "hop.h"

#include "admin.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "smtp_client.h"
#include "smtp_listen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOP_AUTH_DELAY_MS 250 /* first failed AUTH; doubles per failure, up to 8 s */

struct hop {
    uv_loop_t *loop;
    const char *service;
    const struct hop_conf *conf;
    const struct hop_policy *policy;
    const struct hop_ops *ops;
    void *arg;
    struct smtp_listener l;
    struct smtp_cli_config cli;
    struct tls_config *cli_tls;
    /* The next hop: an address, or a name looked up afresh for every
     * upstream session (a restarted next hop with a new address is found,
     * one that is gone gives 451 at once), on the threadpool, never on the
     * loop. */
    struct conf_addr dest;
    struct sockaddr_storage dest_addr; /* when dest_literal */
    int dest_literal;
};

struct hop_sess {
    struct hop *hop;
    struct smtp_session *s;
    struct smtp_cli *up;
    int up_txn;               /* the upstream has a MAIL transaction open */
    struct hop_txn *txn;      /* transform in progress */
    uint64_t msg_start_ms;
    uv_timer_t transform_timer; /* a transform that never finishes must not hang the client */
    int auth_failures;          /* in this session: each failure answers more slowly */
    struct hop_auth *auth;      /* asynchronous AUTH check in progress */
    struct hop_lookup *lookup;  /* the next hop's name being looked up for a MAIL */
};

struct hop_lookup {
    uv_getaddrinfo_t req;
    struct hop_sess *hs;        /* NULL once the client session went away */
    struct smtp_path mail;      /* the MAIL waiting for the connection */
};

struct hop_auth {
    struct hop_sess *hs;        /* NULL once the client session went away */
    char user[256];             /* for the log line */
};

struct hop_txn {
    struct hop_sess *hs;      /* NULL once the client session went away */
    const char *msg;
    size_t len;
};

static struct hop hop_g; /* one hop per process */

/* Formats an upstream reply as our reply lines ("250-a\r\n250 b"). */
static void hop_format_reply(const struct smtp_reply *r, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = r->text;
    do {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        int n = snprintf(out + o, outlen - o, "%s%d%c%.*s", o ? "\r\n" : "", r->code, nl ? '-' : ' ', (int)l, p);
        if (n < 0 || (size_t)n >= outlen - o)
            break;
        o += (size_t)n;
        p = nl ? nl + 1 : p + l;
    } while (*p);
    if (o == 0)
        snprintf(out, outlen, "%d", r->code);
}

static void hop_up_closed_cb(void *arg)
{
    struct hop_sess *hs = arg;
    hs->up = NULL;
    hs->up_txn = 0;
}

static int hop_up_open(struct hop_sess *hs, const struct sockaddr *addr)
{
    hs->up = smtp_cli_open(hs->hop->loop, addr, &hs->hop->cli, hop_up_closed_cb, hs);
    hs->up_txn = 0;
    return hs->up ? 0 : -1;
}

static void hop_reply_cb(void *arg, const struct smtp_reply *r)
{
    struct hop_sess *hs = arg;
    char buf[SMTP_REPLY_MAX + 64];
    hop_format_reply(r, buf, sizeof buf);
    smtp_srv_reply(&hs->s->srv, buf);
}

static void hop_send_mail(struct hop_sess *hs, const struct smtp_path *p);

static void hop_looked_up_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct hop_lookup *lk = req->data;
    struct hop_sess *hs = lk->hs;
    if (hs) {
        hs->lookup = NULL;
        if (status < 0 || !res) {
            log_warn("hop.resolve.failed", "id=%s destination=%s err=\"%s\"", hs->s->id, hs->hop->conf->destination,
                     uv_strerror(status < 0 ? status : UV_EAI_NONAME));
            smtp_srv_reply(&hs->s->srv, "451 4.4.1 Next hop unavailable, try again later");
        } else if (hop_up_open(hs, res->ai_addr) < 0) {
            smtp_srv_reply(&hs->s->srv, "451 4.4.1 Next hop unavailable, try again later");
        } else {
            hop_send_mail(hs, &lk->mail);
        }
    }
    if (res)
        uv_freeaddrinfo(res);
    free(lk);
}

static void hop_mail(struct smtp_session *s, const struct smtp_path *p)
{
    struct hop_sess *hs = s->user;
    struct hop *h = hs->hop;
    if (h->ops->check_mail) {
        struct hop_info info = {.client_ip = s->conn.peer, .helo = s->srv.helo,
                                .auth_user = s->srv.auth_user[0] ? s->srv.auth_user : NULL, .session_id = s->id};
        const char *refuse = h->ops->check_mail(h->arg, &info, p->addr);
        if (refuse) {
            smtp_srv_reply(&s->srv, refuse);
            return;
        }
    }
    if (hs->up && !smtp_cli_dead(hs->up)) {
        hop_send_mail(hs, p);
        return;
    }
    if (hs->up) {
        smtp_cli_forget(hs->up, hs);
        hs->up = NULL;
    }
    if (h->dest_literal) {
        if (hop_up_open(hs, (struct sockaddr *)&h->dest_addr) < 0)
            smtp_srv_reply(&s->srv, "451 4.4.1 Next hop unavailable, try again later");
        else
            hop_send_mail(hs, p);
        return;
    }
    struct hop_lookup *lk = calloc(1, sizeof *lk);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[8];
    snprintf(port, sizeof port, "%u", h->dest.port);
    if (lk) {
        lk->hs = hs;
        lk->mail = *p;
        lk->req.data = lk;
    }
    if (!lk || uv_getaddrinfo(h->loop, &lk->req, hop_looked_up_cb, h->dest.host, port, &hints) != 0) {
        free(lk);
        smtp_srv_reply(&s->srv, "451 4.3.0 Out of resources, try again later");
        return;
    }
    hs->lookup = lk;
}

static void hop_send_mail(struct hop_sess *hs, const struct smtp_path *p)
{
    if (hs->up_txn)
        smtp_cli_cmd(hs->up, "RSET", NULL, NULL);
    char line[SMTP_PATH_MAX + 128];
    int n = snprintf(line, sizeof line, "MAIL FROM:<%s>", p->addr);
    if (p->size >= 0)
        n += snprintf(line + n, sizeof line - (size_t)n, " SIZE=%ld", p->size);
    if (p->body_8bit)
        n += snprintf(line + n, sizeof line - (size_t)n, " BODY=8BITMIME");
    if (p->smtputf8)
        snprintf(line + n, sizeof line - (size_t)n, " SMTPUTF8");
    hs->up_txn = 1;
    smtp_cli_cmd(hs->up, line, hop_reply_cb, hs);
}

static void hop_rcpt(struct smtp_session *s, const struct smtp_path *p)
{
    struct hop_sess *hs = s->user;
    struct hop *h = hs->hop;
    if (h->ops->check_rcpt) {
        struct hop_info info = {.client_ip = s->conn.peer, .helo = s->srv.helo,
                                .auth_user = s->srv.auth_user[0] ? s->srv.auth_user : NULL,
                                .mail_from = s->srv.from.addr, .session_id = s->id};
        const char *refuse = h->ops->check_rcpt(h->arg, &info, p->addr);
        if (refuse) {
            smtp_srv_reply(&s->srv, refuse);
            return;
        }
    }
    if (!hs->up || smtp_cli_dead(hs->up)) {
        smtp_srv_reply(&s->srv, "451 4.4.1 Next hop unavailable, try again later");
        return;
    }
    char line[SMTP_PATH_MAX + 16];
    snprintf(line, sizeof line, "RCPT TO:<%s>", p->addr);
    smtp_cli_cmd(hs->up, line, hop_reply_cb, hs);
}

static void hop_data_reply_cb(void *arg, const struct smtp_reply *r)
{
    struct hop_sess *hs = arg;
    hs->up_txn = 0;
    char label[32];
    snprintf(label, sizeof label, "result=\"%cxx\"", '0' + r->code / 100);
    metrics_inc("envoi_messages_total", label);
    metrics_observe("envoi_message_latency_seconds", (double)(uv_now(hs->hop->loop) - hs->msg_start_ms) / 1000.0);
    log_info("hop.message", "id=%s from=<%s> rcpts=%d next_reply=%d", hs->s->id, hs->s->srv.from.addr,
             hs->s->srv.nrcpt, r->code);
    hop_reply_cb(arg, r);
}

void hop_transform_done(struct hop_txn *txn, char *out, size_t outlen, const char *reject)
{
    hop_transform_done_above(txn, out, outlen, 0, reject);
}

void hop_transform_done_above(struct hop_txn *txn, char *out, size_t outlen, size_t above, const char *reject)
{
    struct hop_sess *hs = txn->hs;
    if (!hs) { /* the client left while we worked: nothing was acknowledged */
        free(out);
        free(txn);
        return;
    }
    hs->txn = NULL;
    uv_timer_stop(&hs->transform_timer);
    struct smtp_session *s = hs->s;
    if (reject) {
        log_info("hop.reject", "id=%s reply=\"%s\"", s->id, reject);
        metrics_inc("envoi_messages_total", "result=\"rejected\"");
        smtp_srv_reply(&s->srv, reject);
        if (hs->up && hs->up_txn)
            smtp_cli_cmd(hs->up, "RSET", NULL, NULL);
        hs->up_txn = 0;
    } else if (!hs->up || smtp_cli_dead(hs->up)) {
        smtp_srv_reply(&s->srv, "451 4.4.1 Next hop unavailable, try again later");
    } else {
        struct sbuf msg;
        sbuf_init(&msg, 0);
        const char *body = out ? out : txn->msg;
        size_t blen = out ? outlen : txn->len;
        if (!out || above > blen)
            above = 0;
        if (sbuf_add(&msg, body, above) < 0 ||
            smtp_listen_received(s, hs->hop->conf->domain, hs->hop->service, &msg) < 0 ||
            sbuf_add(&msg, body + above, blen - above) < 0) {
            smtp_srv_reply(&s->srv, "451 4.3.0 Out of memory, try again later");
        } else {
            smtp_cli_data(hs->up, msg.p, msg.len, hop_data_reply_cb, hs);
        }
        sbuf_free(&msg);
    }
    free(out);
    free(txn);
}

static void hop_transform_timeout_cb(uv_timer_t *t)
{
    struct hop_sess *hs = t->data;
    if (!hs->txn)
        return;
    /* The transform may still finish: its late answer then finds an orphan. */
    hs->txn->hs = NULL;
    hs->txn = NULL;
    log_warn("hop.transform.timeout", "id=%s", hs->s->id);
    metrics_inc("envoi_messages_total", "result=\"timeout\"");
    smtp_srv_reply(&hs->s->srv, "451 4.3.0 Message processing took too long, try again later");
}

static void hop_message(struct smtp_session *s, const char *msg, size_t len)
{
    struct hop_sess *hs = s->user;
    struct hop *h = hs->hop;
    struct hop_txn *txn = calloc(1, sizeof *txn);
    if (!txn) {
        smtp_srv_reply(&s->srv, "451 4.3.0 Out of memory, try again later");
        return;
    }
    txn->hs = hs;
    txn->msg = msg;
    txn->len = len;
    hs->txn = txn;
    hs->msg_start_ms = uv_now(h->loop);
    uv_timer_start(&hs->transform_timer, hop_transform_timeout_cb, (uint64_t)h->conf->timeout * 1000, 0);
    if (!h->ops->transform) {
        hop_transform_done(txn, NULL, 0, NULL);
        return;
    }
    struct hop_info info = {
        .client_ip = s->conn.peer,
        .helo = s->srv.helo,
        .auth_user = s->srv.auth_user[0] ? s->srv.auth_user : NULL,
        .tls = s->conn.tls_desc[0] ? s->conn.tls_desc : NULL,
        .mail_from = s->srv.from.addr,
        .rcpts = smtp_srv_rcpts(&s->srv),
        .nrcpt = s->srv.nrcpt,
        .session_id = s->id,
    };
    h->ops->transform(h->arg, txn, &info, msg, len);
}

static void hop_reset(struct smtp_session *s)
{
    struct hop_sess *hs = s->user;
    if (hs->up && hs->up_txn && !smtp_cli_dead(hs->up))
        smtp_cli_cmd(hs->up, "RSET", NULL, NULL);
    hs->up_txn = 0;
}

static void hop_auth_fail_cb(uv_timer_t *t)
{
    struct hop_sess *hs = t->data;
    smtp_srv_reply(&hs->s->srv, "535 5.7.8 Authentication credentials invalid");
}

/* Answers an AUTH from the check's result (1, 0 or -1). */
static void hop_auth_answer(struct hop_sess *hs, int rc, const char *user, const char *canon)
{
    struct smtp_session *s = hs->s;
    char q[300];
    if (rc == 1) {
        smtp_srv_auth_set(&s->srv, canon);
        log_info("smtp.auth", "id=%s user=%s result=ok", s->id, log_quote(q, sizeof q, canon, strlen(canon)));
        metrics_inc("envoi_auth_total", "result=\"ok\"");
        smtp_srv_reply(&s->srv, "235 2.7.0 Authentication successful");
        return;
    }
    /* -1: throttled, or no user database yet; the client may try again later. */
    log_info("smtp.auth", "id=%s client=%s user=%s password=******** result=%s", s->id, s->conn.peer,
             log_quote(q, sizeof q, user, strlen(user)), rc < 0 ? "tempfail" : "fail");
    metrics_inc("envoi_auth_total", rc < 0 ? "result=\"tempfail\"" : "result=\"fail\"");
    if (rc < 0) {
        smtp_srv_reply(&s->srv, "454 4.7.0 Temporary authentication failure, try again later");
        return;
    }
    /* Growing delays make password guessing over one connection slow; the
     * timer is free here because AUTH is refused during a transaction. */
    uint64_t delay = HOP_AUTH_DELAY_MS << (hs->auth_failures < 5 ? hs->auth_failures : 5);
    hs->auth_failures++;
    uv_timer_start(&hs->transform_timer, hop_auth_fail_cb, delay, 0);
}

void hop_auth_done(struct hop_auth *a, int rc, const char *canon)
{
    struct hop_sess *hs = a->hs;
    if (hs) {
        hs->auth = NULL;
        hop_auth_answer(hs, rc, a->user, canon ? canon : "");
    }
    free(a);
}

static void hop_auth(struct smtp_session *s, const char *user, const char *pass)
{
    struct hop_sess *hs = s->user;
    const struct hop_policy *p = hs->hop->policy;
    if (p && p->auth_start) {
        struct hop_auth *a = calloc(1, sizeof *a);
        if (!a) {
            smtp_srv_reply(&s->srv, "454 4.7.0 Temporary authentication failure, try again later");
            return;
        }
        a->hs = hs;
        snprintf(a->user, sizeof a->user, "%s", user);
        hs->auth = a;
        p->auth_start(hs->hop->arg, a, user, pass, s->conn.peer);
        return;
    }
    char canon[256];
    int rc = p && p->auth_check ? p->auth_check(hs->hop->arg, user, pass, s->conn.peer, canon, sizeof canon) : 0;
    hop_auth_answer(hs, rc, user, canon);
}

static int hop_open(struct smtp_session *s)
{
    struct hop_sess *hs = calloc(1, sizeof *hs);
    if (!hs)
        return -1;
    hs->hop = s->l->arg;
    hs->s = s;
    s->user = hs;
    uv_timer_init(hs->hop->loop, &hs->transform_timer);
    hs->transform_timer.data = hs;
    return 0;
}

static void hop_sess_free_cb(uv_handle_t *h)
{
    free(h->data);
}

static void hop_close(struct smtp_session *s)
{
    struct hop_sess *hs = s->user;
    if (!hs)
        return;
    if (hs->txn)
        hs->txn->hs = NULL;
    if (hs->auth)
        hs->auth->hs = NULL;
    if (hs->lookup) {
        hs->lookup->hs = NULL;
        uv_cancel((uv_req_t *)&hs->lookup->req); /* not started yet: freed by its callback all the same */
    }
    if (hs->up) {
        smtp_cli_forget(hs->up, hs);
        smtp_cli_close(hs->up);
    }
    s->user = NULL;
    uv_close((uv_handle_t *)&hs->transform_timer, hop_sess_free_cb);
}

static const struct smtp_listen_ops hop_listen_ops = {
    .open = hop_open,
    .mail = hop_mail,
    .rcpt = hop_rcpt,
    .message = hop_message,
    .reset = hop_reset,
    .auth = hop_auth,
    .close = hop_close,
};

static void hop_shutdown_hook(void *arg)
{
    struct hop *h = arg;
    if (h->cli_tls)
        tls_config_unref(h->cli_tls);
    h->cli_tls = NULL;
}

int hop_validate(const struct hop_conf *c)
{
    if (!c->domain || !*c->domain || strlen(c->domain) > 253) {
        log_error("config", "err=\"--domain must be a host name of 1 to 253 octets\"");
        return -1;
    }
    if (!c->destination || !*c->destination) {
        log_error("config", "err=\"--destination is required (the next hop, HOST[:PORT])\"");
        return -1;
    }
    struct conf_addr a;
    if (conf_addr_parse(c->destination, 25, &a) < 0) {
        log_error("config", "err=\"--destination: not HOST[:PORT]: %s\"", c->destination);
        return -1;
    }
    if (c->max_size <= 0 || c->timeout <= 0 || c->next_timeout <= 0) {
        log_error("config", "err=\"--max-size, --timeout and --next-hop-timeout must be positive\"");
        return -1;
    }
    if ((c->tls_cert != NULL) != (c->tls_key != NULL)) {
        log_error("config", "err=\"--tls-cert and --tls-key go together\"");
        return -1;
    }
    if (c->listen_tls.n && !c->tls_cert) {
        log_error("config", "err=\"--listen-tls needs --tls-cert and --tls-key\"");
        return -1;
    }
    if (strcmp(c->next_tls, "none") && strcmp(c->next_tls, "opportunistic") && strcmp(c->next_tls, "required")) {
        log_error("config", "err=\"--next-hop-tls: none, opportunistic or required\"");
        return -1;
    }
    if (!c->listen.n && !c->listen_tls.n) {
        log_error("config", "err=\"nothing to listen on (--listen or --listen-tls)\"");
        return -1;
    }
    return 0;
}

int hop_start(uv_loop_t *loop, const char *service, const struct hop_conf *c, const struct hop_policy *policy,
              const struct hop_ops *ops, void *arg)
{
    struct hop *h = &hop_g;
    char err[512];
    memset(h, 0, sizeof *h);
    h->loop = loop;
    h->service = service;
    h->conf = c;
    h->policy = policy;
    h->ops = ops;
    h->arg = arg;
    if (hop_validate(c) < 0)
        return -1;
    conf_addr_parse(c->destination, 25, &h->dest);
    h->dest_literal = uv_ip4_addr(h->dest.host, h->dest.port, (struct sockaddr_in *)&h->dest_addr) == 0 ||
                      uv_ip6_addr(h->dest.host, h->dest.port, (struct sockaddr_in6 *)&h->dest_addr) == 0;
    h->cli.helo = c->domain;
    h->cli.timeout_ms = (uint64_t)c->next_timeout * 1000;
    h->cli.data_timeout_ms = (uint64_t)c->next_timeout * 1000 * 5;
    h->cli.starttls = !strcmp(c->next_tls, "required") ? SMTP_CLI_TLS_REQUIRED
                    : !strcmp(c->next_tls, "opportunistic") ? SMTP_CLI_TLS_OPPORTUNISTIC
                                                             : SMTP_CLI_TLS_NONE;
    if (h->cli.starttls != SMTP_CLI_TLS_NONE) {
        h->cli_tls = tls_client_config(c->next_ca, h->cli.starttls == SMTP_CLI_TLS_REQUIRED, err, sizeof err);
        if (!h->cli_tls) {
            log_error("config", "err=\"%s\"", err);
            return -1;
        }
        h->cli.tls = h->cli_tls;
        h->cli.sni = strdup(c->next_name ? c->next_name : h->dest.host);
    }
    struct smtp_listener *l = &h->l;
    l->loop = loop;
    l->ops = &hop_listen_ops;
    l->arg = h;
    l->service = service;
    l->timeout_ms = (uint64_t)c->timeout * 1000;
    l->max_conns = (int)c->max_conns;
    l->max_per_ip = (int)c->max_per_ip;
    l->srv.hostname = c->domain;
    l->srv.max_size = (size_t)c->max_size;
    if (c->tls_cert) {
        l->tls = tls_server_config(c->tls_cert, c->tls_key, err, sizeof err);
        if (!l->tls) {
            log_error("config", "err=\"%s\"", err);
            return -1;
        }
        l->srv.starttls = 1;
    }
    if (policy) {
        l->srv.auth = policy->auth;
        l->srv.auth_required = policy->auth_required;
        l->srv.auth_needs_tls = policy->auth_needs_tls;
        l->srv.refuse_routes = policy->refuse_routes;
        l->proxy_protocol = policy->proxy_protocol;
        l->proxy_from = policy->proxy_from;
        l->greet_delay_ms = policy->greet_delay_ms > 0 ? (uint64_t)policy->greet_delay_ms : 0;
    }
    for (int i = 0; i < c->listen.n; i++) {
        int rc = smtp_listen_add(l, c->listen.v[i], 0);
        if (rc < 0) {
            log_error("config", "err=\"cannot listen on %s: %s\"", c->listen.v[i], uv_strerror(rc));
            return -1;
        }
    }
    for (int i = 0; i < c->listen_tls.n; i++) {
        int rc = smtp_listen_add(l, c->listen_tls.v[i], 1);
        if (rc < 0) {
            log_error("config", "err=\"cannot listen on %s: %s\"", c->listen_tls.v[i], uv_strerror(rc));
            return -1;
        }
    }
    daemon_on_shutdown(hop_shutdown_hook, h);
    smtp_listen_start(l);
    if (admin_start(loop, c->admin, NULL, NULL) < 0) {
        log_error("config", "err=\"cannot listen on admin address %s\"", c->admin);
        return -1;
    }
    log_info("hop.start", "service=%s destination=%s domain=%s", service, c->destination, c->domain);
    return 0;
}
