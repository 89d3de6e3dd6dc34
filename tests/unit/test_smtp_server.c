/* smtp_server: the session engine driven as a client would drive it.
 *
 * Each session script is run 18 ways: fed whole, byte by byte and in four
 * random splittings (fixed seed, each piece in a heap buffer of exactly its
 * size), times three ways of answering the hooks: at once from inside the
 * hook, after each piece of input, and only once all input is in (a fully
 * pipelined batch waiting behind a slow next hop). Every way must produce the
 * same bytes to the client: that is what in-order PIPELINING replies mean.
 * The reply codes, the messages delivered and the end of the session are
 * then checked against the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "smtp_server.h"

#define NSPLIT 6
#define NANSWER 3

/* ---- harness ---- */

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

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static size_t piece_len(int mode, size_t left)
{
    size_t n;
    switch (mode) {
    case 0: n = left; break;
    case 1: n = 1; break;
    case 2: n = 1 + rnd() % 3; break;
    case 3: n = 1 + rnd() % 17; break;
    case 4: n = 1 + rnd() % 300; break;
    default: n = 1 + rnd() % (left ? left : 1); break;
    }
    return n < left ? n : left;
}

static void write_cb(void *arg, const char *data, size_t len)
{
    struct h *h = arg;
    if (h->close_calls)
        fail_msg("write after close: \"%.*s\"", (int)len, data);
    assert_int_equal(sbuf_add(&h->out, data, len), 0);
}

static void close_cb(void *arg, const char *reason)
{
    struct h *h = arg;
    h->close_calls++;
    snprintf(h->reason, sizeof h->reason, "%s", reason);
}

static void answer(struct h *h, struct smtp_srv *s, const char *reply)
{
    if (h->async) {
        assert_false(h->has_pending); /* one hook at a time */
        snprintf(h->pending, sizeof h->pending, "%s", reply);
        h->has_pending = 1;
    } else {
        smtp_srv_reply(s, reply);
    }
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void mail_cb(void *arg, struct smtp_srv *s, const struct smtp_path *from)
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

static void rcpt_cb(void *arg, struct smtp_srv *s, const struct smtp_path *to)
{
    struct h *h = arg;
    if (starts(to->addr, "bad@"))
        answer(h, s, "550 5.1.1 No such user");
    else if (starts(to->addr, "temp@"))
        answer(h, s, "450 4.2.1 Mailbox busy");
    else
        answer(h, s, "250 2.1.5 Ok");
}

static void message_cb(void *arg, struct smtp_srv *s, const char *msg, size_t len)
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

static void reset_cb(void *arg, struct smtp_srv *s)
{
    struct h *h = arg;
    (void)s;
    h->resets++;
}

static void auth_cb(void *arg, struct smtp_srv *s, const char *user, const char *pass)
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

static void starttls_cb(void *arg, struct smtp_srv *s)
{
    struct h *h = arg;
    assert_int_equal(s->state, SMTP_S_TLS);
    h->starttls_calls++;
}

static void input_room_cb(void *arg)
{
    struct h *h = arg;
    h->input_room_calls++;
}

static const struct smtp_srv_hooks hooks = {
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
static const struct smtp_srv_hooks hooks_min = {
    .write = write_cb,
    .close = close_cb,
    .message = message_cb,
};

static void h_init(struct h *h, const struct smtp_srv_config *cfg, const struct smtp_srv_hooks *hk, int async)
{
    memset(h, 0, sizeof *h);
    sbuf_init(&h->out, 0);
    sbuf_init(&h->msgs, 0);
    h->async = async;
    smtp_srv_init(&h->s, cfg, hk, h, "test");
    smtp_srv_start(&h->s);
}

static void h_free(struct h *h)
{
    smtp_srv_free(&h->s);
    sbuf_free(&h->out);
    sbuf_free(&h->msgs);
}

/* Gives the engine the answers its hooks are owed (which may lead to more
 * hooks, answered in turn). */
static void h_answer(struct h *h)
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

static void h_feed(struct h *h, const char *in, size_t len, int split, int amode)
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
static void reply_codes(const struct sbuf *o, char *out, size_t outsz)
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

/* ---- the table ---- */

static const struct smtp_srv_config cfg_plain = {.hostname = "mx.test", .max_size = 1000};
static const struct smtp_srv_config cfg_tiny = {
    .hostname = "mx.test", .max_size = 10, .max_rcpts = 2, .max_errors = 3};
static const struct smtp_srv_config cfg_auth = {
    .hostname = "mx.test", .max_size = 1000, .auth = 1, .starttls = 1};
static const struct smtp_srv_config cfg_authreq = {
    .hostname = "mx.test", .max_size = 1000, .auth = 1, .auth_required = 1};
static const struct smtp_srv_config cfg_routes = {.hostname = "mx.test", .max_size = 1000, .refuse_routes = 1};
static const struct smtp_srv_config cfg_sub = {.hostname = "sub.test",
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

static const struct srv_case {
    const char *name;
    const struct smtp_srv_config *cfg;
    const char *in;
    const char *codes;
    int closed;
    const char *msgs; /* each delivered message then "|" */
} srv_cases[] = {
    {"session", &cfg_plain, E TXN("Subject: hi\r\n\r\nbody\r\n") Q, "220 250 250 250 354 250 221", 1,
     "Subject: hi\r\n\r\nbody\r\n|"},
    {"HELO", &cfg_plain, "HELO client.test\r\n" TXN("x\r\n") Q, "220 250 250 250 354 250 221", 1, "x\r\n|"},
    {"lower case", &cfg_plain, "ehlo client.test\r\nmail from:<a@b.test>\r\nrcpt to:<c@d.test>\r\ndata\r\nx\r\n.\r\nquit\r\n",
     "220 250 250 250 354 250 221", 1, "x\r\n|"},
    {"lone LF ends commands", &cfg_plain, "EHLO c.test\nMAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nDATA\nx\r\n.\r\nQUIT\n",
     "220 250 250 250 354 250 221", 1, "x\r\n|"},
    {"MAIL before EHLO", &cfg_plain, M Q, "220 503 221", 1, ""},
    {"RCPT before MAIL", &cfg_plain, E R Q, "220 250 503 221", 1, ""},
    {"RCPT before EHLO", &cfg_plain, R Q, "220 503 221", 1, ""},
    {"DATA before MAIL", &cfg_plain, E "DATA\r\n" Q, "220 250 503 221", 1, ""},
    {"DATA before EHLO", &cfg_plain, "DATA\r\n" Q, "220 503 221", 1, ""},
    {"DATA without RCPT", &cfg_plain, E M "DATA\r\n" Q, "220 250 250 554 221", 1, ""},
    {"all RCPT refused", &cfg_plain, E M "RCPT TO:<bad@d.test>\r\nRCPT TO:<temp@d.test>\r\nDATA\r\n" Q,
     "220 250 250 550 450 554 221", 1, ""},
    {"some RCPT refused", &cfg_plain, E M "RCPT TO:<bad@d.test>\r\n" R "DATA\r\nx\r\n.\r\n" Q,
     "220 250 250 550 250 354 250 221", 1, "x\r\n|"},
    {"nested MAIL", &cfg_plain, E M M Q, "220 250 250 503 221", 1, ""},
    {"VRFY HELP NOOP RSET EXPN BDAT unknown", &cfg_plain,
     "VRFY postmaster\r\nHELP\r\nNOOP\r\nRSET\r\nEXPN staff\r\nBDAT 1 LAST\r\nFOO\r\n\r\n" Q,
     "220 252 214 250 250 502 502 500 500 221", 1, ""},
    {"NOOP with argument", &cfg_plain, "NOOP hello\r\n" Q, "220 250 221", 1, ""},
    {"nothing after QUIT", &cfg_plain, Q "NOOP\r\n" E, "220 221", 1, ""},
    {"no QUIT", &cfg_plain, E "NOOP\r\n", "220 250 250", 0, ""},
    {"RSET drops the transaction", &cfg_plain, E M R "RSET\r\nDATA\r\n" TXN("x\r\n") Q,
     "220 250 250 250 250 503 250 250 354 250 221", 1, "x\r\n|"},
    {"EHLO drops the transaction", &cfg_plain, E M R E "DATA\r\n" Q, "220 250 250 250 250 503 221", 1, ""},
    {"RSET before EHLO", &cfg_plain, "RSET\r\n" M Q, "220 250 503 221", 1, ""},
    {"three messages", &cfg_plain, E TXN("one\r\n") TXN("two\r\n") TXN("three\r\n") Q,
     "220 250 250 250 354 250 250 250 354 250 250 250 354 250 221", 1, "one\r\n|two\r\n|three\r\n|"},
    {"HELO then EHLO between messages", &cfg_plain, "HELO a.test\r\n" TXN("one\r\n") E TXN("two\r\n") Q,
     "220 250 250 250 354 250 250 250 250 354 250 221", 1, "one\r\n|two\r\n|"},
    {"empty message", &cfg_plain, E TXN("") Q, "220 250 250 250 354 250 221", 1, "|"},
    {"dot-unstuffing", &cfg_plain, E TXN("..x\r\n...\r\n..\r\n") Q, "220 250 250 250 354 250 221", 1,
     ".x\r\n..\r\n.\r\n|"},
    {"commands after the end of data", &cfg_plain, E TXN("x\r\n") "NOOP\r\n" Q, "220 250 250 250 354 250 250 221", 1,
     "x\r\n|"},
    {"declared SIZE", &cfg_plain, E "MAIL FROM:<a@b.test> SIZE=1001\r\nMAIL FROM:<a@b.test> SIZE=1000\r\n" Q,
     "220 250 552 250 221", 1, ""},
    {"syntax errors", &cfg_plain,
     E "MAIL FROM:a@b.test\r\nMAIL TO:<a@b.test>\r\nMAIL FROM:<a@b.test> FOO=1\r\n" M
       "RCPT TO:c@d.test\r\nRCPT TO:<c@d.test> SIZE=1\r\nRCPT <c@d.test>\r\nDATA x\r\nRSET x\r\n" Q,
     "220 250 501 501 555 250 501 555 501 501 501 221", 1, ""},
    {"HELO/EHLO without name", &cfg_plain, "EHLO\r\nHELO\r\nEHLO   \r\n" E Q, "220 501 501 501 250 221", 1, ""},
    {"SMTPUTF8", &cfg_plain,
     E "MAIL FROM:<j\xc3\xb6@x.test>\r\n" M "RCPT TO:<j\xc3\xb6@x.test>\r\nRSET\r\n"
       "MAIL FROM:<j\xc3\xb6@x.test> SMTPUTF8\r\nRCPT TO:<j\xc3\xb6@x.test>\r\n" Q,
     "220 250 553 250 553 250 250 250 221", 1, ""},
    {"BODY=8BITMIME", &cfg_plain, E "MAIL FROM:<a@b.test> BODY=8BITMIME\r\n" R "DATA\r\ncaf\xc3\xa9\r\n.\r\n" Q,
     "220 250 250 250 354 250 221", 1, "caf\xc3\xa9\r\n|"},
    {"null sender", &cfg_plain, E "MAIL FROM:<>\r\n" R "DATA\r\nbounce\r\n.\r\n" Q, "220 250 250 250 354 250 221",
     1, "bounce\r\n|"},
    {"MAIL hook refuses", &cfg_plain, E "MAIL FROM:<reject@x.test>\r\n" R M Q, "220 250 550 503 250 221", 1, ""},
    {"MAIL hook temporary failure", &cfg_plain, E "MAIL FROM:<tempfail@x.test>\r\n" TXN("x\r\n") Q,
     "220 250 451 250 250 354 250 221", 1, "x\r\n|"},
    {"MAIL hook 421 ends the session", &cfg_plain, E "MAIL FROM:<shutdown@x.test>\r\nNOOP\r\n" Q, "220 250 421", 1,
     ""},
    {"postmaster", &cfg_plain, E M "RCPT TO:<postmaster>\r\nDATA\r\nx\r\n.\r\n" Q, "220 250 250 250 354 250 221", 1,
     "x\r\n|"},
    {"message refused by the owner", &cfg_plain, E TXN("REJECTME\r\n") TXN("ok\r\n") Q,
     "220 250 250 250 354 554 250 250 354 250 221", 1, "REJECTME\r\n|ok\r\n|"},
    {"STARTTLS not offered", &cfg_plain, E "STARTTLS\r\n" Q, "220 250 502 221", 1, ""},
    {"AUTH not offered", &cfg_plain, E PLAIN_OK Q, "220 250 502 221", 1, ""},
    {"source route accepted", &cfg_plain, E M "RCPT TO:<@r.test:c@d.test>\r\nDATA\r\nx\r\n.\r\n" Q,
     "220 250 250 250 354 250 221", 1, "x\r\n|"},
    {"source route refused", &cfg_routes, E M "RCPT TO:<@r.test:c@d.test>\r\nDATA\r\n" Q,
     "220 250 250 550 554 221", 1, ""},
    /* SMTP smuggling: nothing but CRLF.CRLF ends the data; the smuggled
     * commands stay inside the refused message and never run. */
    {"smuggle LF.LF", &cfg_plain, SMUGGLE("\n.\n"), "220 250 250 250 354 550 221", 1, ""},
    {"smuggle CR.CR", &cfg_plain, SMUGGLE("\r.\r"), "220 250 250 250 354 550 221", 1, ""},
    {"smuggle CRLF.LF", &cfg_plain, SMUGGLE("\r\n.\n"), "220 250 250 250 354 550 221", 1, ""},
    {"smuggle LF.CRLF", &cfg_plain, SMUGGLE("\n.\r\n"), "220 250 250 250 354 550 221", 1, ""},
    {"smuggle CRLF.CR", &cfg_plain, SMUGGLE("\r\n.\r"), "220 250 250 250 354 550 221", 1, ""},
    {"smuggle CR.CRLF", &cfg_plain, SMUGGLE("\r.\r\n"), "220 250 250 250 354 550 221", 1, ""},
    {"bare CR in a line", &cfg_plain, E TXN("a\rb\r\n") TXN("ok\r\n") Q, "220 250 250 250 354 550 250 250 354 250 221",
     1, "ok\r\n|"},
    {"bare LF in a line", &cfg_plain, E TXN("a\nb\r\n") TXN("ok\r\n") Q, "220 250 250 250 354 550 250 250 354 250 221",
     1, "ok\r\n|"},
    /* "b" LF "." CRLF is content, so the end comes one line later. */
    {"bare LF ends the last line", &cfg_plain, E TXN("a\r\nb\n") ".\r\n" Q, "220 250 250 250 354 550 221", 1, ""},
    {"bare LF: the data goes on", &cfg_plain, E TXN("a\r\nb\n") Q, "220 250 250 250 354", 0, ""},
    /* limits */
    {"content at the size limit", &cfg_tiny, E TXN("01234567\r\n") Q, "220 250 250 250 354 250 221", 1,
     "01234567\r\n|"},
    {"content one byte over", &cfg_tiny, E TXN("012345678\r\n") TXN("ok\r\n") Q,
     "220 250 250 250 354 552 250 250 354 250 221", 1, "ok\r\n|"},
    {"declared SIZE at and over the limit", &cfg_tiny,
     E "MAIL FROM:<a@b.test> SIZE=11\r\nMAIL FROM:<a@b.test> SIZE=10\r\n" Q, "220 250 552 250 221", 1, ""},
    {"recipient limit", &cfg_tiny, E M R "RCPT TO:<e@f.test>\r\nRCPT TO:<g@h.test>\r\nDATA\r\nx\r\n.\r\n" Q,
     "220 250 250 250 250 452 354 250 221", 1, "x\r\n|"},
    {"error limit", &cfg_tiny, E "FOO\r\nDATA\r\nRCPT TO:<a@b.test>\r\nNOOP\r\n", "220 250 500 503 503 421", 1, ""},
    {"10 errors give 421", &cfg_plain,
     E "FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nNOOP\r\n",
     "220 250 500 500 500 500 500 500 500 500 500 500 421", 1, ""},
    {"9 errors do not", &cfg_plain, E "FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nNOOP\r\n" Q,
     "220 250 500 500 500 500 500 500 500 500 500 250 221", 1, ""},
    /* AUTH (RFC 4954) */
    {"AUTH PLAIN", &cfg_auth, E PLAIN_OK PLAIN_OK TXN("x\r\n") Q, "220 250 235 503 250 250 354 250 221", 1,
     "x\r\n|"},
    {"AUTH PLAIN wrong password", &cfg_auth, E "AUTH PLAIN AGFsaWNlAHdyb25n\r\n" PLAIN_OK Q, "220 250 535 235 221", 1,
     ""},
    {"AUTH PLAIN with authzid", &cfg_auth, E "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n" Q, "220 250 235 221", 1, ""},
    {"AUTH PLAIN continuation", &cfg_auth, E "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n" Q, "220 250 334 235 221", 1,
     ""},
    {"AUTH LOGIN", &cfg_auth, E "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n" Q, "220 250 334 334 235 221", 1, ""},
    {"AUTH LOGIN initial response", &cfg_auth, E "AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n" Q, "220 250 334 235 221", 1,
     ""},
    {"AUTH cancelled", &cfg_auth, E "AUTH PLAIN\r\n*\r\nNOOP\r\n" Q, "220 250 334 501 250 221", 1, ""},
    {"AUTH LOGIN cancelled", &cfg_auth, E "AUTH LOGIN\r\nYWxpY2U=\r\n*\r\nNOOP\r\n" Q, "220 250 334 334 501 250 221",
     1, ""},
    {"AUTH bad base64", &cfg_auth, E "AUTH PLAIN !!!!\r\nAUTH LOGIN\r\n%%%%\r\n" Q, "220 250 501 334 501 221", 1, ""},
    {"AUTH PLAIN without password", &cfg_auth, E "AUTH PLAIN AGFsaWNl\r\n" Q, "220 250 501 221", 1, ""},
    {"AUTH LOGIN user with NUL", &cfg_auth, E "AUTH LOGIN YWwAaWNl\r\n" Q, "220 250 501 221", 1, ""},
    {"AUTH unknown mechanism", &cfg_auth, E "AUTH CRAM-MD5\r\n" Q, "220 250 504 221", 1, ""},
    {"AUTH before EHLO", &cfg_auth, PLAIN_OK Q, "220 503 221", 1, ""},
    {"AUTH during a transaction", &cfg_auth, E M PLAIN_OK Q, "220 250 250 503 221", 1, ""},
    {"submission: AUTH and MAIL need TLS", &cfg_sub, E PLAIN_OK M Q, "220 250 538 530 221", 1, ""},
    {"AUTH required before MAIL", &cfg_authreq, E M PLAIN_OK TXN("x\r\n") Q, "220 250 530 235 250 250 354 250 221", 1,
     "x\r\n|"},
    {"AUTH PLAIN empty response", &cfg_auth, E "AUTH PLAIN =\r\nAUTH PLAIN\r\n=\r\n" Q, "220 250 501 334 501 221", 1, ""},
    {"sender path too long", &cfg_plain, E "MAIL FROM:<" LONG_LOCAL "@" LONG_DOMAIN ">\r\n" M Q, "220 250 501 250 221",
     1, ""},
    {"recipient path too long", &cfg_plain, E M "RCPT TO:<" LONG_LOCAL "@" LONG_DOMAIN ">\r\n" Q, "220 250 250 501 221",
     1, ""},
};

static void run_case(const struct srv_case *c)
{
    size_t len = strlen(c->in);
    char *ref_out = NULL;
    size_t ref_len = 0;
    for (int a = 0; a < NANSWER; a++)
        for (int sp = 0; sp < NSPLIT; sp++) {
            struct h h;
            h_init(&h, c->cfg, &hooks, a > 0);
            h_feed(&h, c->in, len, sp, a);
            char codes[512];
            reply_codes(&h.out, codes, sizeof codes);
            if (strcmp(codes, c->codes) != 0)
                fail_msg("%s (answers %d, split %d): codes \"%s\", want \"%s\"\n%.*s", c->name, a, sp, codes, c->codes,
                         (int)h.out.len, h.out.p);
            if (h.close_calls != c->closed)
                fail_msg("%s (answers %d, split %d): close called %d times", c->name, a, sp, h.close_calls);
            if (h.msgs.len != strlen(c->msgs) || (h.msgs.len && memcmp(h.msgs.p, c->msgs, h.msgs.len) != 0))
                fail_msg("%s (answers %d, split %d): messages \"%.*s\"", c->name, a, sp, (int)h.msgs.len,
                         h.msgs.p ? h.msgs.p : "");
            assert_false(h.has_pending);
            if (c->closed)
                assert_int_equal(h.s.state, SMTP_S_CLOSED);
            /* Byte-identical output whatever the feeding and answering. */
            if (!ref_out) {
                ref_out = malloc(h.out.len + 1);
                memcpy(ref_out, h.out.p, h.out.len);
                ref_len = h.out.len;
            } else if (h.out.len != ref_len || memcmp(h.out.p, ref_out, ref_len) != 0) {
                fail_msg("%s (answers %d, split %d): output differs from the first run", c->name, a, sp);
            }
            h_free(&h);
        }
    free(ref_out);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof srv_cases / sizeof srv_cases[0]; i++)
        run_case(&srv_cases[i]);
}

/* ---- cases built by code ---- */

static int has_line(const struct sbuf *o, const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i + n + 2 <= o->len; i++)
        if ((i == 0 || o->p[i - 1] == '\n') && memcmp(o->p + i, line, n) == 0 && o->p[i + n] == '\r')
            return 1;
    return 0;
}

static void test_greeting_and_ehlo(void **state)
{
    (void)state;
    struct h h;
    h_init(&h, &cfg_plain, &hooks, 0);
    assert_true(has_line(&h.out, "220 mx.test ESMTP envoi"));
    h_feed(&h, E, strlen(E), 0, 0);
    static const char *const want[] = {"250-mx.test",  "250-PIPELINING", "250-SIZE 1000",
                                       "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250 HELP"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!has_line(&h.out, want[i]))
            fail_msg("EHLO reply lacks \"%s\":\n%.*s", want[i], (int)h.out.len, h.out.p);
    assert_false(has_line(&h.out, "250-STARTTLS"));
    assert_false(has_line(&h.out, "250-AUTH PLAIN LOGIN"));
    assert_string_equal(h.s.helo, "client.test");
    assert_int_equal(h.s.esmtp, 1);
    h_free(&h);

    /* Custom greeting; STARTTLS and AUTH when configured. */
    struct smtp_srv_config cfg = cfg_auth;
    cfg.greeting = "ESMTP ready";
    h_init(&h, &cfg, &hooks, 0);
    assert_true(has_line(&h.out, "220 mx.test ESMTP ready"));
    h_feed(&h, E, strlen(E), 0, 0);
    assert_true(has_line(&h.out, "250-STARTTLS"));
    assert_true(has_line(&h.out, "250-AUTH PLAIN LOGIN"));
    h_free(&h);

    /* HELO: one line, no extensions. */
    h_init(&h, &cfg_auth, &hooks, 0);
    h_feed(&h, "HELO client.test\r\n", 18, 0, 0);
    assert_true(has_line(&h.out, "250 mx.test"));
    assert_false(has_line(&h.out, "250-PIPELINING"));
    assert_int_equal(h.s.esmtp, 0);
    h_free(&h);

    /* Submission before TLS: STARTTLS offered, AUTH not yet. */
    h_init(&h, &cfg_sub, &hooks, 0);
    h_feed(&h, E, strlen(E), 0, 0);
    assert_true(has_line(&h.out, "250-STARTTLS"));
    assert_false(has_line(&h.out, "250-AUTH PLAIN LOGIN"));
    h_free(&h);
}

/* The longest DNS name (253 octets) as our hostname: greeting and EHLO
 * stay whole and within the 512-octet reply line. */
static void test_long_hostname(void **state)
{
    (void)state;
    char host[254];
    for (size_t i = 0; i < 253; i++)
        host[i] = (i % 60 == 59) ? '.' : 'h';
    host[253] = '\0';
    struct smtp_srv_config cfg = cfg_auth;
    cfg.hostname = host;
    struct h h;
    h_init(&h, &cfg, &hooks, 0);
    h_feed(&h, E "HELO x.test\r\n", strlen(E) + 13, 0, 0);
    char codes[64], line[300];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 250");
    snprintf(line, sizeof line, "220 %s ESMTP envoi", host);
    assert_true(has_line(&h.out, line));
    snprintf(line, sizeof line, "250-%s", host);
    assert_true(has_line(&h.out, line));
    snprintf(line, sizeof line, "250 %s", host);
    assert_true(has_line(&h.out, line));
    assert_true(has_line(&h.out, "250-AUTH PLAIN LOGIN"));
    assert_true(has_line(&h.out, "250 HELP"));
    h_free(&h);
}

/* STARTTLS (RFC 3207): commands pipelined after it were sent in clear and
 * are dropped (CVE-2011-0411); afterwards the session starts over. */
static void test_starttls(void **state)
{
    (void)state;
    for (int sp = 0; sp < NSPLIT; sp++) {
        struct h h;
        h_init(&h, &cfg_sub, &hooks, 0);
        const char *in = E "STARTTLS\r\n" "MAIL FROM:<injected@x.test>\r\n";
        /* Whole, so that the injected command sits in the engine's buffer. */
        h_feed(&h, in, strlen(in), 0, 0);
        char codes[256];
        reply_codes(&h.out, codes, sizeof codes);
        assert_string_equal(codes, "220 250 220");
        assert_true(has_line(&h.out, "220 2.0.0 Ready to start TLS"));
        assert_int_equal(h.starttls_calls, 1);
        assert_int_equal(h.s.state, SMTP_S_TLS);
        smtp_srv_tls_done(&h.s, 1);
        assert_int_equal(h.s.tls, 1);
        assert_int_equal(h.s.state, SMTP_S_INIT);
        size_t before = h.out.len;
        /* Nothing ran in the meantime; the old EHLO no longer counts. */
        const char *after = M E PLAIN_OK TXN("secure\r\n") "STARTTLS\r\n" Q;
        h_feed(&h, after, strlen(after), sp, 0);
        struct sbuf tail = {h.out.p + before, h.out.len - before, 0, 0};
        reply_codes(&tail, codes, sizeof codes);
        assert_string_equal(codes, "503 250 235 250 250 354 250 503 221");
        assert_false(has_line(&tail, "250-STARTTLS"));
        assert_true(has_line(&tail, "250-AUTH PLAIN LOGIN"));
        assert_string_equal(h.msgs.p, "secure\r\n|");
        assert_string_equal(h.s.auth_user, "alice");
        h_free(&h);
    }
    /* A failed handshake closes the session. */
    struct h h;
    h_init(&h, &cfg_auth, &hooks, 0);
    h_feed(&h, E "STARTTLS\r\n", strlen(E) + 10, 0, 0);
    smtp_srv_tls_done(&h.s, 0);
    assert_int_equal(h.close_calls, 1);
    assert_int_equal(smtp_srv_feed(&h.s, "NOOP\r\n", 6), -1);
    h_free(&h);
    /* STARTTLS with an argument: 501. */
    h_init(&h, &cfg_auth, &hooks, 0);
    h_feed(&h, E "STARTTLS now\r\n", strlen(E) + 14, 0, 0);
    char codes[64];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 501");
    assert_int_equal(h.starttls_calls, 0);
    h_free(&h);
}

/* The 101st recipient gets 452; the message still goes to the 100. */
static void test_rcpt_limit(void **state)
{
    (void)state;
    /* Asking for more than the engine holds still stops at its maximum. */
    static const struct smtp_srv_config cfg_many = {.hostname = "mx.test", .max_size = 1000, .max_rcpts = 500};
    struct sbuf in;
    sbuf_init(&in, 0);
    sbuf_adds(&in, E M);
    for (int i = 0; i < SMTP_SRV_RCPT_MAX + 2; i++)
        sbuf_printf(&in, "RCPT TO:<r%d@d.test>\r\n", i);
    sbuf_adds(&in, "DATA\r\nx\r\n.\r\n" TXN("again\r\n") Q);
    char want[2048];
    size_t n = (size_t)snprintf(want, sizeof want, "220 250 250");
    for (int i = 0; i < SMTP_SRV_RCPT_MAX; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, " 250");
    snprintf(want + n, sizeof want - n, " 452 452 354 250 250 250 354 250 221");
    for (int a = 0; a < NANSWER; a++)
        for (int sp = 0; sp < NSPLIT; sp += 2) {
            for (int k = 0; k < 2; k++) {
                struct h h;
                h_init(&h, k ? &cfg_many : &cfg_plain, k ? &hooks_min : &hooks, a > 0);
                h_feed(&h, in.p, in.len, sp, a);
                char codes[2048];
                reply_codes(&h.out, codes, sizeof codes);
                if (strcmp(codes, want) != 0)
                    fail_msg("rcpt limit (answers %d, split %d, hooks %d): %s", a, sp, k, codes);
                assert_true(has_line(&h.out, "452 4.5.3 Error: too many recipients"));
                assert_int_equal(h.nrcpt_at_msg, 1); /* the last message had one */
                assert_string_equal(h.msgs.p, "x\r\n|again\r\n|");
                h_free(&h);
            }
        }
    sbuf_free(&in);
}

/* Recipients seen by the message hook, in order. */
static const char *rcpt_seen[4];
static size_t rcpt_seen_n;

static void message_rcpts_cb(void *arg, struct smtp_srv *s, const char *msg, size_t len)
{
    const char *const *r = smtp_srv_rcpts(s);
    rcpt_seen_n = (size_t)s->nrcpt;
    for (int i = 0; i < s->nrcpt && i < 4; i++)
        rcpt_seen[i] = strdup(r[i]);
    message_cb(arg, s, msg, len);
}

static void test_rcpts_and_from(void **state)
{
    (void)state;
    struct smtp_srv_hooks hk = hooks;
    hk.message = message_rcpts_cb;
    struct h h;
    h_init(&h, &cfg_plain, &hk, 0);
    const char *in = E "MAIL FROM:<s@x.test> BODY=8BITMIME\r\nRCPT TO:<one@d.test>\r\nRCPT TO:<bad@d.test>\r\n"
                       "RCPT TO:<@r.test:two@d.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\nx\r\n.\r\n";
    h_feed(&h, in, strlen(in), 0, 0);
    assert_int_equal(rcpt_seen_n, 3);
    assert_string_equal(rcpt_seen[0], "one@d.test");
    assert_string_equal(rcpt_seen[1], "two@d.test");
    assert_string_equal(rcpt_seen[2], "postmaster");
    for (size_t i = 0; i < rcpt_seen_n; i++)
        free((void *)rcpt_seen[i]);
    /* After the message the transaction is gone. */
    assert_int_equal(h.s.nrcpt, 0);
    assert_int_equal(h.s.state, SMTP_S_READY);
    h_free(&h);
}

/* A command line of 1000 octets with its CRLF is fine; one more is 500 and
 * the end of the session (the line cannot be resynchronised). */
static void test_line_too_long(void **state)
{
    (void)state;
    for (int over = 0; over < 2; over++)
        for (int sp = 0; sp < NSPLIT; sp++) {
            size_t body = SMTP_LINE_MAX - 2 + (size_t)over;
            char *in = malloc(body + 16);
            memcpy(in, "NOOP ", 5);
            memset(in + 5, 'x', body - 5);
            memcpy(in + body, "\r\nNOOP\r\n", 8);
            struct h h;
            h_init(&h, &cfg_plain, &hooks, 0);
            h_feed(&h, in, body + 8, sp, 0);
            char codes[64];
            reply_codes(&h.out, codes, sizeof codes);
            assert_string_equal(codes, over ? "220 500" : "220 250 250");
            assert_int_equal(h.close_calls, over);
            if (over)
                assert_true(has_line(&h.out, "500 5.5.0 Line too long"));
            h_free(&h);
            free(in);
        }
}

/* Content of max_size bytes is accepted, one more is 552 (and the session
 * goes on); the same through the engine's fast path and its buffer. */
static void test_message_size(void **state)
{
    (void)state;
    static const struct smtp_srv_config cfg = {.hostname = "mx.test", .max_size = 100000};
    for (int over = 0; over < 2; over++)
        for (int a = 0; a < NANSWER; a++)
            for (int sp = 0; sp < NSPLIT; sp += 2) {
                struct sbuf in;
                sbuf_init(&in, 0);
                sbuf_adds(&in, E M R "DATA\r\n");
                size_t content = 0;
                for (int i = 0; content < cfg.max_size - 100; i++) {
                    int n = sbuf_printf(&in, "%s%05d %s\r\n", i % 7 ? "" : "..", i,
                                        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789");
                    assert_int_equal(n, 0);
                    content += (i % 7 ? 0 : 1) + 6 + 62 + 2;
                }
                size_t pad = cfg.max_size - content - 2 + (size_t)over;
                for (size_t k = 0; k < pad; k++)
                    sbuf_add(&in, "p", 1);
                sbuf_adds(&in, "\r\n.\r\n" TXN("small\r\n") Q);
                struct h h;
                h_init(&h, &cfg, &hooks, a > 0);
                h_feed(&h, in.p, in.len, sp, a);
                char codes[256];
                reply_codes(&h.out, codes, sizeof codes);
                assert_string_equal(codes, over ? "220 250 250 250 354 552 250 250 354 250 221"
                                                : "220 250 250 250 354 250 250 250 354 250 221");
                if (!over) {
                    /* The first message arrived whole: max_size bytes then "|". */
                    assert_int_equal(h.msgs.len, cfg.max_size + 1 + 8);
                    assert_memory_equal(h.msgs.p, ".00000 abc", 10);
                } else {
                    assert_string_equal(h.msgs.p, "small\r\n|");
                }
                h_free(&h);
                sbuf_free(&in);
            }
}

/* While a hook owes an answer, pipelined input waits; past the backlog the
 * owner is told to stop reading, and resumes once the engine has caught up.
 * Far past it the session ends with 421 instead of growing memory. */
static void test_backlog(void **state)
{
    (void)state;
    struct h h;
    h_init(&h, &cfg_plain, &hooks, 1);
    h_feed(&h, E, strlen(E), 0, 0);
    assert_int_equal(smtp_srv_feed(&h.s, M, strlen(M)), 0);
    assert_true(h.has_pending);
    size_t fed = 0;
    while (!smtp_srv_backlogged(&h.s)) {
        assert_int_equal(smtp_srv_feed(&h.s, "NOOP\r\n", 6), 0);
        fed++;
    }
    assert_true(fed * 6 > SMTP_SRV_INBUF_MAX);
    size_t out_before = h.out.len;
    int room_before = h.input_room_calls;
    h_answer(&h); /* the MAIL answer releases every NOOP */
    assert_false(smtp_srv_backlogged(&h.s));
    assert_true(h.input_room_calls > room_before);
    assert_int_equal(h.out.len - out_before, strlen("250 2.1.0 Ok\r\n") + fed * strlen("250 2.0.0 Ok\r\n"));
    h_free(&h);

    /* An owner that ignores the backlog: 421 and the end. */
    h_init(&h, &cfg_plain, &hooks, 1);
    h_feed(&h, E, strlen(E), 0, 0);
    assert_int_equal(smtp_srv_feed(&h.s, M, strlen(M)), 0);
    char *junk = malloc(65536);
    memset(junk, 'n', 65536);
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = smtp_srv_feed(&h.s, junk, 65536);
    free(junk);
    assert_int_equal(rc, -1);
    assert_int_equal(h.close_calls, 1);
    assert_true(has_line(&h.out, "421 4.7.0 Too much pipelined input"));
    /* A late answer after the abort is ignored. */
    h_answer(&h);
    assert_false(has_line(&h.out, "250 2.1.0 Ok"));
    h_free(&h);
}

/* Shutdown while a hook is pending: 421 once, late answers ignored, no
 * further input accepted. */
static void test_abort(void **state)
{
    (void)state;
    struct h h;
    h_init(&h, &cfg_plain, &hooks, 1);
    h_feed(&h, E M, strlen(E M), 0, 2);
    assert_int_equal(smtp_srv_feed(&h.s, R, strlen(R)), 0);
    assert_true(h.has_pending);
    smtp_srv_abort(&h.s, "421 4.3.2 Shutting down");
    smtp_srv_abort(&h.s, "421 4.3.2 Again");
    assert_int_equal(h.close_calls, 1);
    h_answer(&h);
    char codes[64];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 250 421");
    assert_int_equal(smtp_srv_feed(&h.s, "NOOP\r\n", 6), -1);
    h_free(&h);
}

/* The owner's reset hook runs for RSET and for a transaction abandoned by
 * EHLO; the engine's defaults answer MAIL and RCPT without hooks. */
static void test_reset_hook(void **state)
{
    (void)state;
    struct h h;
    h_init(&h, &cfg_plain, &hooks, 0);
    const char *in = E M R "RSET\r\n" M R E "RSET\r\n";
    h_feed(&h, in, strlen(in), 0, 0);
    assert_true(h.resets >= 3);
    h_free(&h);
    h_init(&h, &cfg_plain, &hooks_min, 0);
    in = E "MAIL FROM:<reject@x.test>\r\nRCPT TO:<bad@d.test>\r\nDATA\r\nx\r\n.\r\n" Q;
    h_feed(&h, in, strlen(in), 1, 0);
    char codes[64];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 250 250 354 250 221");
    h_free(&h);
}

/* AUTH hands the hook the decoded credentials exactly. */
static void test_auth_credentials(void **state)
{
    (void)state;
    struct h h;
    h_init(&h, &cfg_auth, &hooks, 0);
    const char *in = E "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n";
    h_feed(&h, in, strlen(in), 1, 0);
    assert_int_equal(h.auth_calls, 1);
    assert_string_equal(h.user, "alice"); /* authcid, not the authzid "bob" */
    assert_string_equal(h.pass, "secret");
    assert_string_equal(h.s.auth_user, "alice");
    h_free(&h);
    h_init(&h, &cfg_auth, &hooks, 0);
    /* A LOGIN password holding a NUL never reaches the hook. */
    in = E "AUTH LOGIN\r\nYWxpY2U=\r\nAGFsaWNlAHdyb25n\r\n";
    h_feed(&h, in, strlen(in), 0, 0);
    assert_int_equal(h.auth_calls, 0);
    char codes[64];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 334 334 501");
    assert_string_equal(h.s.auth_user, "");
    h_free(&h);
}

/* AUTH LOGIN: a user name that does not fit is refused, not truncated. */
static void test_auth_login_long_user(void **state)
{
    (void)state;
    char user[300], b64[512], in[700];
    memset(user, 'u', sizeof user);
    /* base64 of 300 'u': "dXV1" repeated 100 times. */
    for (int i = 0; i < 100; i++)
        memcpy(b64 + 4 * i, "dXV1", 4);
    b64[400] = '\0';
    snprintf(in, sizeof in, E "AUTH LOGIN\r\n%s\r\nNOOP\r\n", b64);
    struct h h;
    h_init(&h, &cfg_auth, &hooks, 0);
    h_feed(&h, in, strlen(in), 0, 0);
    char codes[64];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 334 501 250");
    assert_int_equal(h.auth_calls, 0);
    h_free(&h);
    (void)user;
}

/* Owner replies of any length reach the client whole, CRLF-terminated. */
static void long_rcpt_cb(void *arg, struct smtp_srv *s, const struct smtp_path *to)
{
    (void)arg;
    (void)to;
    char reply[1600];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(reply + n, sizeof reply - n, "250-2.1.5 line %02d of a long reply from the next hop\r\n", i);
    snprintf(reply + n, sizeof reply - n, "250 2.1.5 Ok");
    smtp_srv_reply(s, reply);
}

static void test_long_owner_reply(void **state)
{
    (void)state;
    struct smtp_srv_hooks hk = hooks;
    hk.rcpt = long_rcpt_cb;
    struct h h;
    h_init(&h, &cfg_plain, &hk, 0);
    h_feed(&h, E M R "NOOP\r\n", strlen(E M R) + 6, 0, 0);
    char codes[64];
    reply_codes(&h.out, codes, sizeof codes);
    assert_string_equal(codes, "220 250 250 250 250");
    assert_true(has_line(&h.out, "250-2.1.5 line 19 of a long reply from the next hop"));
    assert_true(has_line(&h.out, "250 2.1.5 Ok"));
    assert_int_equal(h.s.state, SMTP_S_RCPT);
    h_free(&h);
}

static void test_state_names(void **state)
{
    (void)state;
    static const char *const names[] = {"start", "init", "ready", "mail", "rcpt", "data", "auth", "wait", "tls", "closed"};
    for (int st = SMTP_S_START; st <= SMTP_S_CLOSED; st++)
        assert_string_equal(smtp_srv_state_name((enum smtp_srv_state)st), names[st]);
}

/* Known discrepancies: checked; while any still disagrees the test is
 * reported SKIPPED with the reason, and ENVOI_STRICT=1 makes it fail. */
static void test_known_bugs(void **state)
{
    (void)state;
    int bugs = 0;
    /* A NUL byte in a path passes smtp_path_parse (see test_smtp_parse.c),
     * so "RCPT TO:<victim\0@d.test>" is accepted and the owner sees the
     * recipient "victim", without a domain (hop.c then sends
     * "RCPT TO:<victim>" to the next hop); "MAIL FROM:<\0@x.test>" becomes
     * a null sender. RFC 5321 allows no NUL there: 501 expected. */
    static const struct {
        const char *in;
        size_t len;
        const char *codes;
    } nul[] = {
#define NUL_CASE(x, codes) {x, sizeof x - 1, codes}
        NUL_CASE(E M "RCPT TO:<victim\0@d.test>\r\n", "220 250 250 501"),
        NUL_CASE(E "MAIL FROM:<\0@x.test>\r\n", "220 250 501"),
        NUL_CASE(E M "RCPT TO:<\"a\\\rb\"@x.test>\r\n", "220 250 250 501"),
    };
    for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++) {
        struct h h;
        h_init(&h, &cfg_plain, &hooks, 0);
        h_feed(&h, nul[i].in, nul[i].len, 0, 0);
        char codes[64];
        reply_codes(&h.out, codes, sizeof codes);
        if (strcmp(codes, nul[i].codes) != 0) {
            print_message("KNOWN BUG: NUL/CR in path case %zu: codes \"%s\", want \"%s\"\n", i, codes, nul[i].codes);
            bugs++;
        }
        h_free(&h);
    }
    /* smtp_server.h: the reset hook runs when "a transaction [is] abandoned
     * (HELO/EHLO/STARTTLS)". STARTTLS in the middle of a transaction is
     * accepted and smtp_srv_tls_done() drops the transaction without the
     * hook, so the owner keeps its upstream transaction open (hop.c sends
     * no RSET and the next MAIL goes upstream as a nested MAIL). */
    {
        struct h h;
        h_init(&h, &cfg_auth, &hooks, 0);
        h_feed(&h, E M R, strlen(E M R), 0, 0);
        int before = h.resets;
        h_feed(&h, "STARTTLS\r\n", 10, 0, 0);
        if (h.s.state == SMTP_S_TLS)
            smtp_srv_tls_done(&h.s, 1);
        if (h.s.state != SMTP_S_TLS && h.s.state != SMTP_S_INIT) {
            /* STARTTLS refused in a transaction (e.g. 503) is also fine. */
        } else if (h.resets == before && h.starttls_calls) {
            print_message("KNOWN BUG: STARTTLS after MAIL/RCPT drops the transaction without the reset hook\n");
            bugs++;
        }
        h_free(&h);
    }
    if (bugs) {
        const char *strict = getenv("ENVOI_STRICT");
        if (strict && strcmp(strict, "1") == 0)
            fail_msg("%d known discrepancies", bugs);
        skip();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_greeting_and_ehlo),
        cmocka_unit_test(test_starttls),       cmocka_unit_test(test_rcpt_limit),
        cmocka_unit_test(test_rcpts_and_from), cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_message_size),   cmocka_unit_test(test_backlog),
        cmocka_unit_test(test_abort),          cmocka_unit_test(test_reset_hook),
        cmocka_unit_test(test_auth_credentials), cmocka_unit_test(test_long_hostname),
        cmocka_unit_test(test_auth_login_long_user), cmocka_unit_test(test_long_owner_reply),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_known_bugs),
    };
    log_init("test_smtp_server", LOG_WARN); /* refusals are logged at info: keep the output readable */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
