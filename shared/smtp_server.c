/* smtp_server: SMTP server session engine (see smtp_server.h). Verbs are a
 * table of check/proceed pairs: check_* validates and answers errors, the
 * proceed half does the work, as in OpenSMTPD. */
#include "smtp_server.h"

#include "b64.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const smtp_srv_state_names[] = {"start", "init", "ready", "mail", "rcpt",
                                                    "data",  "auth", "wait",  "tls",  "closed"};

const char *smtp_srv_state_name(enum smtp_srv_state st)
{
    return smtp_srv_state_names[st];
}

static void smtp_srv_enter(struct smtp_srv *s, enum smtp_srv_state st)
{
    if (s->state == st)
        return;
    log_debug("smtp.state", "id=%s from=%s to=%s", s->id, smtp_srv_state_names[s->state], smtp_srv_state_names[st]);
    s->state = st;
}

static void smtp_srv_write(struct smtp_srv *s, const char *reply)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\r\n", reply);
    if (n < 0 || (size_t)n >= sizeof buf) {
        s->hooks->write(s->arg, reply, strlen(reply));
        s->hooks->write(s->arg, "\r\n", 2);
        return;
    }
    s->hooks->write(s->arg, buf, (size_t)n);
}

static void smtp_srv_close(struct smtp_srv *s, const char *reason)
{
    if (s->state == SMTP_S_CLOSED)
        return;
    smtp_srv_enter(s, SMTP_S_CLOSED);
    s->hooks->close(s->arg, reason);
}

/* A reply to a bad command: counts toward the error limit. */
static void smtp_srv_error(struct smtp_srv *s, const char *reply)
{
    smtp_srv_write(s, reply);
    int max = s->cfg->max_errors ? s->cfg->max_errors : SMTP_SRV_ERRORS_MAX;
    if (++s->errors >= max) {
        smtp_srv_write(s, "421 4.7.0 Too many errors, closing connection");
        smtp_srv_close(s, "too-many-errors");
    }
}

static void smtp_srv_txn_reset(struct smtp_srv *s)
{
    for (int i = 0; i < s->nrcpt; i++)
        free(s->rcpts[i]);
    s->nrcpt = 0;
    memset(&s->from, 0, sizeof s->from);
    sbuf_free(&s->msg);
}

static enum smtp_srv_state smtp_srv_idle_state(const struct smtp_srv *s)
{
    return s->helo[0] ? SMTP_S_READY : SMTP_S_INIT;
}

void smtp_srv_init(struct smtp_srv *s, const struct smtp_srv_config *cfg, const struct smtp_srv_hooks *hooks,
                   void *arg, const char *id)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->hooks = hooks;
    s->arg = arg;
    s->id = id;
    sbuf_init(&s->in, 2 * SMTP_SRV_INBUF_MAX + 65536);
    sbuf_init(&s->msg, cfg->max_size);
}

void smtp_srv_start(struct smtp_srv *s)
{
    char buf[512];
    snprintf(buf, sizeof buf, "220 %s %s", s->cfg->hostname, s->cfg->greeting ? s->cfg->greeting : "ESMTP envoi");
    smtp_srv_write(s, buf);
    smtp_srv_enter(s, SMTP_S_INIT);
}

void smtp_srv_free(struct smtp_srv *s)
{
    smtp_srv_txn_reset(s);
    sbuf_free(&s->in);
    explicit_bzero(s->auth_login_user, sizeof s->auth_login_user);
}

/* ---- verbs ---- */

static void smtp_srv_helo(struct smtp_srv *s, const struct smtp_cmd *c, int esmtp)
{
    if (c->arg_len == 0 || c->arg_len >= sizeof s->helo) {
        smtp_srv_error(s, esmtp ? "501 5.5.4 Syntax: EHLO hostname" : "501 5.5.4 Syntax: HELO hostname");
        return;
    }
    if (s->state == SMTP_S_MAIL || s->state == SMTP_S_RCPT) {
        smtp_srv_txn_reset(s);
        if (s->hooks->reset)
            s->hooks->reset(s->arg, s);
    }
    memcpy(s->helo, c->arg, c->arg_len);
    s->helo[c->arg_len] = '\0';
    s->esmtp = esmtp;
    smtp_srv_enter(s, SMTP_S_READY);
    if (!esmtp) {
        char buf[300];
        snprintf(buf, sizeof buf, "250 %s", s->cfg->hostname);
        smtp_srv_write(s, buf);
        return;
    }
    /* Built in an sbuf: the host name is configuration of any length. */
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_printf(&b,
                "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
                "250-SMTPUTF8\r\n",
                s->cfg->hostname, s->cfg->max_size);
    if (s->cfg->starttls && !s->tls)
        sbuf_adds(&b, "250-STARTTLS\r\n");
    if (s->cfg->auth && (s->tls || !s->cfg->auth_needs_tls))
        sbuf_adds(&b, "250-AUTH PLAIN LOGIN\r\n");
    sbuf_adds(&b, "250 HELP");
    smtp_srv_write(s, b.p ? b.p : "451 4.3.0 Out of memory");
    sbuf_free(&b);
}

static int smtp_srv_need_helo(struct smtp_srv *s)
{
    if (s->state == SMTP_S_INIT) {
        smtp_srv_error(s, "503 5.5.1 Error: send HELO/EHLO first");
        return 1;
    }
    return 0;
}

static void smtp_srv_mail(struct smtp_srv *s, const struct smtp_cmd *c)
{
    if (smtp_srv_need_helo(s))
        return;
    if (s->state != SMTP_S_READY) {
        smtp_srv_error(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (s->cfg->auth_needs_tls && !s->tls) {
        smtp_srv_error(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    if (s->cfg->auth_required && !s->auth_user[0]) {
        smtp_srv_error(s, "530 5.7.0 Authentication required");
        return;
    }
    if (!c->syntax_ok) {
        smtp_srv_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    struct smtp_path *p = &s->pending_path;
    switch (smtp_path_parse(c->arg, c->arg_len, 1, p)) {
    case SMTP_PATH_OK:
        break;
    case SMTP_PATH_BAD_PARAM:
        smtp_srv_error(s, "555 5.5.4 Unsupported or malformed MAIL parameter");
        return;
    case SMTP_PATH_TOO_LONG:
        smtp_srv_error(s, "501 5.1.7 Sender address too long");
        return;
    default:
        smtp_srv_error(s, "501 5.1.7 Bad sender address syntax");
        return;
    }
    if (p->size >= 0 && (size_t)p->size > s->cfg->max_size) {
        smtp_srv_write(s, "552 5.3.4 Message size exceeds fixed maximum message size");
        return;
    }
    if (p->utf8 && !p->smtputf8) {
        smtp_srv_error(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8");
        return;
    }
    if (!s->hooks->mail) {
        s->from = *p;
        smtp_srv_enter(s, SMTP_S_MAIL);
        smtp_srv_write(s, "250 2.1.0 Ok");
        return;
    }
    s->pending = SMTP_P_MAIL;
    smtp_srv_enter(s, SMTP_S_WAIT);
    s->hooks->mail(s->arg, s, p);
}

static void smtp_srv_rcpt(struct smtp_srv *s, const struct smtp_cmd *c)
{
    if (smtp_srv_need_helo(s))
        return;
    if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT) {
        smtp_srv_error(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (!c->syntax_ok) {
        smtp_srv_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    int max = s->cfg->max_rcpts ? s->cfg->max_rcpts : SMTP_SRV_RCPT_MAX;
    if (max > SMTP_SRV_RCPT_MAX)
        max = SMTP_SRV_RCPT_MAX;
    if (s->nrcpt >= max) {
        smtp_srv_write(s, "452 4.5.3 Error: too many recipients");
        return;
    }
    struct smtp_path *p = &s->pending_path;
    switch (smtp_path_parse(c->arg, c->arg_len, 0, p)) {
    case SMTP_PATH_OK:
        break;
    case SMTP_PATH_BAD_PARAM:
        smtp_srv_error(s, "555 5.5.4 Unsupported or malformed RCPT parameter");
        return;
    default:
        smtp_srv_error(s, "501 5.1.3 Bad recipient address syntax");
        return;
    }
    if (p->utf8 && !s->from.smtputf8) {
        smtp_srv_error(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8");
        return;
    }
    if (p->had_route && s->cfg->refuse_routes) {
        smtp_srv_write(s, "550 5.7.1 Source routes are not accepted");
        return;
    }
    if (!s->hooks->rcpt) {
        s->pending = SMTP_P_RCPT;
        smtp_srv_enter(s, SMTP_S_WAIT);
        smtp_srv_reply(s, "250 2.1.5 Ok");
        return;
    }
    s->pending = SMTP_P_RCPT;
    smtp_srv_enter(s, SMTP_S_WAIT);
    s->hooks->rcpt(s->arg, s, p);
}

static void smtp_srv_data(struct smtp_srv *s, const struct smtp_cmd *c)
{
    if (smtp_srv_need_helo(s))
        return;
    if (c->arg_len) {
        smtp_srv_error(s, "501 5.5.4 Syntax: DATA");
        return;
    }
    if (s->state == SMTP_S_MAIL) {
        smtp_srv_error(s, "554 5.5.1 Error: no valid recipients");
        return;
    }
    if (s->state != SMTP_S_RCPT) {
        smtp_srv_error(s, "503 5.5.1 Error: need RCPT command");
        return;
    }
    smtp_data_begin(&s->data, s->cfg->max_size);
    sbuf_free(&s->msg);
    sbuf_init(&s->msg, s->cfg->max_size);
    smtp_srv_enter(s, SMTP_S_DATA);
    smtp_srv_write(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void smtp_srv_data_done(struct smtp_srv *s)
{
    switch (s->data.err) {
    case SMTP_DATA_ERR_NONE:
        s->pending = SMTP_P_MESSAGE;
        smtp_srv_enter(s, SMTP_S_WAIT);
        s->hooks->message(s->arg, s, s->msg.p ? s->msg.p : "", s->msg.len);
        return;
    case SMTP_DATA_ERR_SIZE:
        smtp_srv_write(s, "552 5.3.4 Message size exceeds fixed maximum message size");
        break;
    case SMTP_DATA_ERR_BARE_LF:
    case SMTP_DATA_ERR_BARE_CR:
        /* RFC 5321 §2.3.8: lines end with CRLF only. Refusing bare CR/LF is
         * what closes the SMTP smuggling hole between differing parsers. */
        smtp_srv_write(s, "550 5.6.0 Message refused: bare CR or LF; lines must end with CRLF");
        log_info("smtp.data.refused", "id=%s reason=%s", s->id,
                 s->data.err == SMTP_DATA_ERR_BARE_LF ? "bare-lf" : "bare-cr");
        break;
    }
    smtp_srv_txn_reset(s);
    if (s->hooks->reset)
        s->hooks->reset(s->arg, s);
    smtp_srv_enter(s, SMTP_S_READY);
}

static void smtp_srv_rset(struct smtp_srv *s, const struct smtp_cmd *c)
{
    if (c->arg_len) {
        smtp_srv_error(s, "501 5.5.4 Syntax: RSET");
        return;
    }
    smtp_srv_txn_reset(s);
    if (s->hooks->reset)
        s->hooks->reset(s->arg, s);
    smtp_srv_enter(s, smtp_srv_idle_state(s));
    smtp_srv_write(s, "250 2.0.0 Ok");
}

static void smtp_srv_starttls(struct smtp_srv *s, const struct smtp_cmd *c)
{
    if (!s->cfg->starttls) {
        smtp_srv_error(s, "502 5.5.1 Error: STARTTLS not available");
        return;
    }
    if (s->tls) {
        smtp_srv_error(s, "503 5.5.1 Error: TLS already active");
        return;
    }
    if (c->arg_len) {
        smtp_srv_error(s, "501 5.5.4 Syntax: STARTTLS");
        return;
    }
    /* RFC 3207 §4.2: the session starts over, an open transaction included. */
    if (s->state == SMTP_S_MAIL || s->state == SMTP_S_RCPT) {
        smtp_srv_txn_reset(s);
        if (s->hooks->reset)
            s->hooks->reset(s->arg, s);
    }
    /* Anything pipelined after STARTTLS was sent in clear and must not be
     * executed inside the TLS session (CVE-2011-0411). */
    sbuf_consume(&s->in, s->in.len);
    smtp_srv_write(s, "220 2.0.0 Ready to start TLS");
    smtp_srv_enter(s, SMTP_S_TLS);
    s->hooks->starttls(s->arg, s);
}

void smtp_srv_tls_done(struct smtp_srv *s, int ok)
{
    if (!ok) {
        smtp_srv_close(s, "tls-handshake-failed");
        return;
    }
    s->tls = 1;
    smtp_srv_txn_reset(s);
    s->helo[0] = '\0';
    s->esmtp = 0;
    s->auth_user[0] = '\0';
    smtp_srv_enter(s, SMTP_S_INIT);
}

/* ---- AUTH (RFC 4954) ---- */

static void smtp_srv_auth_finish(struct smtp_srv *s, const char *user, const char *pass)
{
    s->pending = SMTP_P_AUTH;
    smtp_srv_enter(s, SMTP_S_WAIT);
    s->hooks->auth(s->arg, s, user, pass);
}

/* Decodes one base64 AUTH response into out (NUL-terminated); -1 if malformed. */
static long smtp_srv_auth_decode(const char *in, size_t n, char *out, size_t outsz)
{
    if (n == 1 && in[0] == '=')
        return (long)(out[0] = '\0');
    if (n / 4 * 3 + 3 >= outsz)
        return -1;
    long len = b64_decode(in, n, out, 0);
    if (len < 0)
        return -1;
    out[len] = '\0';
    return len;
}

static void smtp_srv_auth_plain(struct smtp_srv *s, const char *resp, size_t n)
{
    char buf[SMTP_SRV_AUTH_MAX];
    long len = smtp_srv_auth_decode(resp, n, buf, sizeof buf);
    /* authzid NUL authcid NUL passwd */
    const char *authcid = len > 0 ? memchr(buf, '\0', (size_t)len) : NULL;
    const char *pass = authcid ? memchr(authcid + 1, '\0', (size_t)(buf + len - authcid - 1)) : NULL;
    if (len < 0 || !authcid || !pass) {
        smtp_srv_enter(s, smtp_srv_idle_state(s));
        smtp_srv_error(s, "501 5.5.2 Cannot decode AUTH PLAIN response");
    } else if (buf[0] && strcasecmp(buf, authcid + 1)) {
        /* Acting for another identity (RFC 4616 2): nobody may here, and
         * ignoring the request would let the client believe it does. */
        smtp_srv_enter(s, smtp_srv_idle_state(s));
        smtp_srv_error(s, "535 5.7.8 Authorization identity not allowed");
    } else {
        smtp_srv_auth_finish(s, authcid + 1, pass + 1);
    }
    explicit_bzero(buf, sizeof buf);
}

static void smtp_srv_auth_line(struct smtp_srv *s, const char *line, size_t n)
{
    if (n == 1 && line[0] == '*') {
        smtp_srv_enter(s, smtp_srv_idle_state(s));
        smtp_srv_error(s, "501 5.0.0 Authentication cancelled");
        return;
    }
    if (s->auth_mech == 'P') {
        smtp_srv_auth_plain(s, line, n);
        return;
    }
    char buf[SMTP_SRV_AUTH_MAX];
    long len = smtp_srv_auth_decode(line, n, buf, sizeof buf);
    if (len < 0 || memchr(buf, '\0', (size_t)len)) {
        smtp_srv_enter(s, smtp_srv_idle_state(s));
        smtp_srv_error(s, "501 5.5.2 Cannot decode AUTH LOGIN response");
    } else if (s->auth_mech == 'l') {
        if ((size_t)len >= sizeof s->auth_login_user) {
            smtp_srv_enter(s, smtp_srv_idle_state(s));
            smtp_srv_error(s, "501 5.5.2 User name too long");
            explicit_bzero(buf, sizeof buf);
            return;
        }
        memcpy(s->auth_login_user, buf, (size_t)len + 1);
        s->auth_mech = 'L';
        smtp_srv_write(s, "334 UGFzc3dvcmQ6");
    } else {
        smtp_srv_auth_finish(s, s->auth_login_user, buf);
        explicit_bzero(s->auth_login_user, sizeof s->auth_login_user);
    }
    explicit_bzero(buf, sizeof buf);
}

static void smtp_srv_auth(struct smtp_srv *s, const struct smtp_cmd *c)
{
    if (!s->cfg->auth || !s->hooks->auth) {
        smtp_srv_error(s, "502 5.5.1 Error: authentication not enabled");
        return;
    }
    if (smtp_srv_need_helo(s))
        return;
    if (s->cfg->auth_needs_tls && !s->tls) {
        smtp_srv_error(s, "538 5.7.11 Encryption required for requested authentication mechanism");
        return;
    }
    if (s->state != SMTP_S_READY) {
        smtp_srv_error(s, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    if (s->auth_user[0]) {
        smtp_srv_error(s, "503 5.5.1 Error: already authenticated");
        return;
    }
    if (c->arg_len == 0) { /* a missing mechanism is a syntax error, not an unknown one */
        smtp_srv_error(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
        return;
    }
    const char *a = c->arg;
    size_t n = c->arg_len, ml = 0;
    while (ml < n && a[ml] != ' ')
        ml++;
    const char *init = ml < n ? a + ml + 1 : NULL;
    size_t il = init ? n - ml - 1 : 0;
    if (ml == 5 && !strncasecmp(a, "PLAIN", 5)) {
        s->auth_mech = 'P';
        if (init) {
            smtp_srv_auth_plain(s, init, il);
        } else {
            smtp_srv_enter(s, SMTP_S_AUTH);
            smtp_srv_write(s, "334 ");
        }
    } else if (ml == 5 && !strncasecmp(a, "LOGIN", 5)) {
        s->auth_mech = 'l';
        smtp_srv_enter(s, SMTP_S_AUTH);
        if (init)
            smtp_srv_auth_line(s, init, il);
        else
            smtp_srv_write(s, "334 VXNlcm5hbWU6");
    } else {
        smtp_srv_error(s, "504 5.5.4 Unrecognized authentication type");
    }
}

void smtp_srv_auth_set(struct smtp_srv *s, const char *user)
{
    snprintf(s->auth_user, sizeof s->auth_user, "%s", user);
}

/* ---- dispatch ---- */

static void smtp_srv_line(struct smtp_srv *s, const char *line, size_t n)
{
    if (s->state == SMTP_S_AUTH) {
        smtp_srv_auth_line(s, line, n);
        return;
    }
    struct smtp_cmd c;
    smtp_cmd_parse(line, n, &c);
    switch (c.verb) {
    case SMTP_V_HELO: smtp_srv_helo(s, &c, 0); break;
    case SMTP_V_EHLO: smtp_srv_helo(s, &c, 1); break;
    case SMTP_V_MAIL: smtp_srv_mail(s, &c); break;
    case SMTP_V_RCPT: smtp_srv_rcpt(s, &c); break;
    case SMTP_V_DATA: smtp_srv_data(s, &c); break;
    case SMTP_V_RSET: smtp_srv_rset(s, &c); break;
    case SMTP_V_STARTTLS: smtp_srv_starttls(s, &c); break;
    case SMTP_V_AUTH: smtp_srv_auth(s, &c); break;
    case SMTP_V_NOOP: smtp_srv_write(s, "250 2.0.0 Ok"); break;
    case SMTP_V_HELP: smtp_srv_write(s, "214 2.0.0 See RFC 5321"); break;
    case SMTP_V_VRFY:
        smtp_srv_write(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
        break;
    case SMTP_V_EXPN: smtp_srv_error(s, "502 5.5.1 Error: EXPN not available"); break;
    case SMTP_V_BDAT: smtp_srv_error(s, "502 5.5.1 Error: CHUNKING not offered"); break;
    case SMTP_V_QUIT:
        smtp_srv_write(s, "221 2.0.0 Bye");
        smtp_srv_close(s, "quit");
        break;
    default: smtp_srv_error(s, "500 5.5.2 Error: command not recognized"); break;
    }
}

static void smtp_srv_process(struct smtp_srv *s)
{
    if (s->feeding)
        return; /* a hook answered synchronously: the outer loop goes on */
    s->feeding = 1;
    while (s->in.len > 0) {
        if (s->state == SMTP_S_WAIT || s->state == SMTP_S_TLS || s->state == SMTP_S_CLOSED ||
            s->state == SMTP_S_START)
            break;
        if (s->state == SMTP_S_DATA) {
            size_t used;
            enum smtp_data_rc rc = smtp_data_feed(&s->data, s->in.p, s->in.len, &used, &s->msg);
            sbuf_consume(&s->in, used);
            if (rc == SMTP_DATA_DONE)
                smtp_srv_data_done(s);
            continue;
        }
        size_t ll, used;
        size_t max = s->state == SMTP_S_AUTH ? SMTP_SRV_AUTH_MAX : SMTP_LINE_MAX;
        enum smtp_line_rc rc = smtp_line_next(s->in.p, s->in.len, max, &ll, &used);
        if (rc == SMTP_LINE_MORE)
            break;
        if (rc == SMTP_LINE_TOO_LONG) {
            /* RFC 4954 §6 names the code for an over-long SASL response. */
            smtp_srv_write(s, s->state == SMTP_S_AUTH ? "500 5.5.6 Authentication Exchange line is too long"
                                                      : "500 5.5.0 Line too long");
            smtp_srv_close(s, "line-too-long");
            break;
        }
        char line[SMTP_SRV_AUTH_MAX + 1];
        memcpy(line, s->in.p, ll);
        line[ll] = '\0';
        sbuf_consume(&s->in, used);
        smtp_srv_line(s, line, ll);
        explicit_bzero(line, ll);
    }
    s->feeding = 0;
    if (s->hooks->input_room && s->state != SMTP_S_CLOSED && !smtp_srv_backlogged(s))
        s->hooks->input_room(s->arg);
}

int smtp_srv_feed(struct smtp_srv *s, const char *data, size_t len)
{
    if (s->state == SMTP_S_CLOSED)
        return -1;
    /* Fast path: message content goes straight from the read buffer into the
     * message, without a copy through the input buffer. */
    if (s->state == SMTP_S_DATA && s->in.len == 0 && !s->feeding) {
        size_t used;
        if (smtp_data_feed(&s->data, data, len, &used, &s->msg) == SMTP_DATA_DONE) {
            data += used;
            len -= used;
            s->feeding = 1;
            smtp_srv_data_done(s);
            s->feeding = 0;
        } else {
            len = 0;
        }
    }
    if (len && sbuf_add(&s->in, data, len) < 0) {
        smtp_srv_abort(s, "421 4.7.0 Too much pipelined input");
        return -1;
    }
    smtp_srv_process(s);
    return s->state == SMTP_S_CLOSED ? -1 : 0;
}

int smtp_srv_backlogged(const struct smtp_srv *s)
{
    return s->in.len > SMTP_SRV_INBUF_MAX;
}

void smtp_srv_reply(struct smtp_srv *s, const char *reply)
{
    if (s->state != SMTP_S_WAIT)
        return; /* a late answer after an abort: nothing to do */
    int code = atoi(reply);
    enum smtp_srv_pending p = s->pending;
    s->pending = SMTP_P_NONE;
    smtp_srv_write(s, reply);
    switch (p) {
    case SMTP_P_MAIL:
        if (code / 100 == 2) {
            s->from = s->pending_path;
            smtp_srv_enter(s, SMTP_S_MAIL);
        } else {
            smtp_srv_enter(s, SMTP_S_READY);
        }
        break;
    case SMTP_P_RCPT:
        if (code / 100 == 2 && s->nrcpt < SMTP_SRV_RCPT_MAX) {
            char *r = strdup(s->pending_path.addr);
            if (r)
                s->rcpts[s->nrcpt++] = r;
        }
        smtp_srv_enter(s, s->nrcpt ? SMTP_S_RCPT : SMTP_S_MAIL);
        break;
    case SMTP_P_MESSAGE:
        smtp_srv_txn_reset(s);
        smtp_srv_enter(s, SMTP_S_READY);
        break;
    case SMTP_P_AUTH:
        if (code / 100 != 2)
            s->auth_user[0] = '\0';
        smtp_srv_enter(s, smtp_srv_idle_state(s));
        break;
    case SMTP_P_NONE:
        break;
    }
    if (code == 421) {
        smtp_srv_close(s, "421");
        return;
    }
    smtp_srv_process(s);
}

void smtp_srv_abort(struct smtp_srv *s, const char *reply)
{
    if (s->state == SMTP_S_CLOSED)
        return;
    smtp_srv_write(s, reply);
    smtp_srv_close(s, "abort");
}
