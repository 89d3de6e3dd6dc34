/* The SMTP server engine driven as a client and an owner would drive it,
 * shared by test_smtp_server.c and test_smtp_session.c.
 *
 * A session script is fed whole, byte by byte or in random splits
 * (smtp_test.h), and the hooks answer in one of three ways (NANSWER): at
 * once from inside the hook, after each piece of input, or only once all
 * input is in (a fully pipelined batch waiting behind a slow next hop). The
 * owner's hooks decide by address: "reject@" / "tempfail@" / "shutdown@"
 * senders get 550 / 451 / 421, "bad@" / "temp@" recipients 550 / 450, a
 * message containing "REJECTME" 554, and AUTH accepts alice / secret. */
#ifndef ENVOI_TEST_SMTP_SRV_HARNESS_H
#define ENVOI_TEST_SMTP_SRV_HARNESS_H

#include "smtp_test.h"

#include <ctype.h>

#include "log.h"
#include "smtp_server.h"

#define NANSWER 3
#define NSPLIT NMODES
#define HARNESS_UNUSED __attribute__((unused))

struct h {
    struct smtp_srv s;
    struct sbuf out;   /* everything written to the client */
    struct sbuf msgs;  /* each delivered message followed by "|" */
    int close_calls, resets, starttls_calls, input_room_calls, auth_calls;
    int async;         /* hooks leave their answer in pending */
    int has_pending, pending_auth_ok;
    char pending[128];
    int nrcpt_at_msg;
    char reason[64];
    char user[64], pass[64];
};

static inline void write_cb(void *arg, const char *data, size_t len)
{
    struct h *h = arg;
    if (h->close_calls)
        fail_msg("write after close: \"%.*s\"", (int)len, data);
    assert_int_equal(sbuf_add(&h->out, data, len), 0);
}

static inline void close_cb(void *arg, const char *reason)
{
    struct h *h = arg;
    h->close_calls++;
    snprintf(h->reason, sizeof h->reason, "%s", reason);
}

static inline void answer(struct h *h, struct smtp_srv *s, const char *reply)
{
    if (h->async) {
        assert_false(h->has_pending); /* one hook at a time */
        snprintf(h->pending, sizeof h->pending, "%s", reply);
        h->has_pending = 1;
    } else {
        smtp_srv_reply(s, reply);
    }
}

static inline int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline void mail_cb(void *arg, struct smtp_srv *s, const struct smtp_path *from)
{
    struct h *h = arg;
    assert_int_equal(s->state, SMTP_S_WAIT);
    if (starts(from->addr, "reject@"))
        answer(h, s, "550 5.7.1 Sender rejected");
    else if (starts(from->addr, "tempfail@"))
        answer(h, s, "451 4.4.1 Next hop not reachable");
    else if (starts(from->addr, "shutdown@"))
        answer(h, s, "421 4.3.2 Shutting down");
    else
        answer(h, s, "250 2.1.0 Ok");
}

static inline void rcpt_cb(void *arg, struct smtp_srv *s, const struct smtp_path *to)
{
    struct h *h = arg;
    if (starts(to->addr, "bad@"))
        answer(h, s, "550 5.1.1 No such user");
    else if (starts(to->addr, "temp@"))
        answer(h, s, "450 4.2.1 Mailbox busy");
    else
        answer(h, s, "250 2.1.5 Ok");
}

static inline void message_cb(void *arg, struct smtp_srv *s, const char *msg, size_t len)
{
    struct h *h = arg;
    assert_int_equal(sbuf_add(&h->msgs, msg, len), 0);
    assert_int_equal(sbuf_add(&h->msgs, "|", 1), 0);
    h->nrcpt_at_msg = s->nrcpt;
    int spam = 0;
    for (size_t i = 0; i + 8 <= len && !spam; i++)
        spam = memcmp(msg + i, "REJECTME", 8) == 0;
    answer(h, s, spam ? "554 5.7.1 Message refused" : "250 2.0.0 Ok: queued");
}

static inline void reset_cb(void *arg, struct smtp_srv *s)
{
    struct h *h = arg;
    (void)s;
    h->resets++;
}

static inline void auth_cb(void *arg, struct smtp_srv *s, const char *user, const char *pass)
{
    struct h *h = arg;
    h->auth_calls++;
    snprintf(h->user, sizeof h->user, "%s", user);
    snprintf(h->pass, sizeof h->pass, "%s", pass);
    int ok = strcmp(user, "alice") == 0 && strcmp(pass, "secret") == 0;
    if (h->async) {
        h->pending_auth_ok = ok;
        answer(h, s, ok ? "235 2.7.0 Authentication successful" : "535 5.7.8 Authentication credentials invalid");
        return;
    }
    if (ok)
        smtp_srv_auth_set(s, user);
    smtp_srv_reply(s, ok ? "235 2.7.0 Authentication successful" : "535 5.7.8 Authentication credentials invalid");
}

static inline void starttls_cb(void *arg, struct smtp_srv *s)
{
    struct h *h = arg;
    assert_int_equal(s->state, SMTP_S_TLS);
    h->starttls_calls++;
}

static inline void input_room_cb(void *arg)
{
    struct h *h = arg;
    h->input_room_calls++;
}

static const struct smtp_srv_hooks HARNESS_UNUSED hooks = {
    .write = write_cb,
    .close = close_cb,
    .mail = mail_cb,
    .rcpt = rcpt_cb,
    .message = message_cb,
    .reset = reset_cb,
    .auth = auth_cb,
    .starttls = starttls_cb,
    .input_room = input_room_cb,
};

/* Engine defaults: no mail/rcpt hooks, the engine answers 250 itself. */
static const struct smtp_srv_hooks HARNESS_UNUSED hooks_min = {
    .write = write_cb,
    .close = close_cb,
    .message = message_cb,
};

static inline void h_init(struct h *h, const struct smtp_srv_config *cfg, const struct smtp_srv_hooks *hk, int async)
{
    memset(h, 0, sizeof *h);
    sbuf_init(&h->out, 0);
    sbuf_init(&h->msgs, 0);
    h->async = async;
    smtp_srv_init(&h->s, cfg, hk, h, "test");
    smtp_srv_start(&h->s);
}

static inline void h_free(struct h *h)
{
    smtp_srv_free(&h->s);
    sbuf_free(&h->out);
    sbuf_free(&h->msgs);
}

/* Gives the engine the answers its hooks are owed (which may lead to more
 * hooks, answered in turn). */
static inline void h_answer(struct h *h)
{
    while (h->has_pending) {
        h->has_pending = 0;
        if (h->pending_auth_ok) {
            h->pending_auth_ok = 0;
            smtp_srv_auth_set(&h->s, "alice");
        }
        smtp_srv_reply(&h->s, h->pending);
    }
}

static inline void h_feed(struct h *h, const char *in, size_t len, int split, int amode)
{
    for (size_t pos = 0; pos < len && !h->close_calls;) {
        size_t n = piece_len(split, len - pos);
        char *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, in + pos, n);
        int rc = smtp_srv_feed(&h->s, piece, n);
        free(piece);
        assert_int_equal(rc, h->close_calls ? -1 : 0);
        pos += n;
        if (amode == 1)
            h_answer(h);
    }
    h_answer(h);
}

/* Checks the shape of every reply line and returns the codes of the final
 * lines, space-separated, in out. */
static inline void reply_codes(const struct sbuf *o, char *out, size_t outsz)
{
    size_t n = 0, i = 0;
    out[0] = '\0';
    while (i < o->len) {
        const char *l = o->p + i;
        const char *e = memchr(l, '\n', o->len - i);
        if (!e)
            fail_msg("reply without LF: \"%.*s\"", (int)(o->len - i), l);
        size_t ll = (size_t)(e - l);
        if (ll < 4 || l[ll - 1] != '\r')
            fail_msg("reply line not ending in CRLF or too short: \"%.*s\"", (int)ll, l);
        ll--;
        for (int k = 0; k < 3; k++)
            assert_true(isdigit((unsigned char)l[k]));
        assert_true(l[0] >= '2' && l[0] <= '5');
        assert_true(ll == 3 || l[3] == ' ' || l[3] == '-');
        assert_true(ll <= 510); /* RFC 5321 §4.5.3.1.5: 512 with CRLF */
        /* Enhanced status codes (RFC 2034) agree with the reply's class. */
        if (ll > 9 && isdigit((unsigned char)l[4]) && l[5] == '.')
            assert_int_equal(l[4], l[0]);
        if (ll == 3 || l[3] == ' ') {
            assert_true(n + 5 < outsz);
            n += (size_t)snprintf(out + n, outsz - n, "%s%.3s", n ? " " : "", l);
        }
        i += (size_t)(e - l) + 1;
    }
}

static const struct smtp_srv_config HARNESS_UNUSED cfg_plain = {.hostname = "mx.test", .max_size = 1000};
static const struct smtp_srv_config HARNESS_UNUSED cfg_tiny = {
    .hostname = "mx.test", .max_size = 10, .max_rcpts = 2, .max_errors = 3};
static const struct smtp_srv_config HARNESS_UNUSED cfg_auth = {
    .hostname = "mx.test", .max_size = 1000, .auth = 1, .starttls = 1};
static const struct smtp_srv_config HARNESS_UNUSED cfg_authreq = {
    .hostname = "mx.test", .max_size = 1000, .auth = 1, .auth_required = 1};
static const struct smtp_srv_config HARNESS_UNUSED cfg_routes = {.hostname = "mx.test", .max_size = 1000, .refuse_routes = 1};
static const struct smtp_srv_config HARNESS_UNUSED cfg_sub = {.hostname = "sub.test",
                                               .max_size = 1000,
                                               .starttls = 1,
                                               .auth = 1,
                                               .auth_needs_tls = 1,
                                               .auth_required = 1};

#define E "EHLO client.test\r\n"
#define M "MAIL FROM:<a@b.test>\r\n"
#define R "RCPT TO:<c@d.test>\r\n"
#define Q "QUIT\r\n"
#define TXN(body) M R "DATA\r\n" body ".\r\n"
#define SMUGGLE(v) E M R "DATA\r\nhello" v "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@d.test>\r\nDATA\r\nevil\r\n.\r\n" Q
#define PLAIN_OK "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
/* 64 + 1 + 200 = 265 octets between the brackets, past SMTP_PATH_MAX. */
#define LONG_LOCAL "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_DOMAIN                                                                                            \
    "ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd."   \
    "ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd.ddddddddd"

static inline int has_line(const struct sbuf *o, const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i + n + 2 <= o->len; i++)
        if ((i == 0 || o->p[i - 1] == '\n') && memcmp(o->p + i, line, n) == 0 && o->p[i + n] == '\r')
            return 1;
    return 0;
}


#endif
