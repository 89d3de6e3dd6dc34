/* smtp_server: every command and reply of the session engine, each script
 * run 18 ways (six feedings times three ways of answering the hooks, see
 * smtp_srv_harness.h). Every way must produce the same bytes to the client:
 * that is what in-order PIPELINING replies mean. The reply codes, the
 * messages delivered and the end of the session are then checked against
 * the table. Greeting, EHLO keywords and STARTTLS are tested by code below;
 * limits, backlog, AUTH details and the owner interface in
 * test_smtp_session.c. */
#include "smtp_srv_harness.h"

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
    /* RFC 4616 2: an authzid other than the authcid (any case) is refused;
     * the same one is only a restatement. */
    {"AUTH PLAIN with another authzid", &cfg_auth, E "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n" PLAIN_OK Q,
     "220 250 535 235 221", 1, ""},
    {"AUTH PLAIN with its own authzid", &cfg_auth, E "AUTH PLAIN QUxJQ0UAYWxpY2UAc2VjcmV0\r\n" Q, "220 250 235 221",
     1, ""},
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

/* ---- regressions ----
 * Bugs found by these tests and the fuzz targets, fixed in 880ffac. */

/* A NUL or CR in a path used to pass smtp_path_parse: "RCPT TO:<victim\0@d.test>"
 * was accepted and the owner saw the recipient "victim" without a domain
 * (hop.c then sent "RCPT TO:<victim>" on), "MAIL FROM:<\0@x.test>" became
 * a null sender. RFC 5321 allows neither: 501. */
static void test_path_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *codes;
    } nul[] = {
#define NUL_CASE(x, codes) {x, sizeof x - 1, codes}
        NUL_CASE(E M "RCPT TO:<victim\0@d.test>\r\n", "220 250 250 501"),
        NUL_CASE(E "MAIL FROM:<\0@x.test>\r\n", "220 250 501"),
        NUL_CASE(E M "RCPT TO:<\"a\\\rb\"@x.test>\r\n", "220 250 250 501"),
        NUL_CASE(E M "RCPT TO:<a@[1.2.3.4\0]>\r\n", "220 250 250 501"),
    };
    for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++)
        for (int a = 0; a < NANSWER; a++) {
            struct h h;
            h_init(&h, &cfg_plain, &hooks, a > 0);
            h_feed(&h, nul[i].in, nul[i].len, 1, a);
            char codes[64];
            reply_codes(&h.out, codes, sizeof codes);
            if (strcmp(codes, nul[i].codes) != 0)
                fail_msg("path case %zu: codes \"%s\", want \"%s\"", i, codes, nul[i].codes);
            h_free(&h);
        }
}

/* smtp_server.h: the reset hook runs when a transaction is abandoned by
 * HELO, EHLO or STARTTLS. STARTTLS inside a transaction used to drop it
 * without the hook, so the owner kept its upstream transaction open (hop.c
 * sent no RSET and the next MAIL went upstream as a nested MAIL). */
static void test_starttls_in_transaction(void **state)
{
    (void)state;
    struct h h;
    h_init(&h, &cfg_auth, &hooks, 0);
    h_feed(&h, E M R, strlen(E M R), 0, 0);
    int before = h.resets;
    h_feed(&h, "STARTTLS\r\n", 10, 0, 0);
    if (h.s.state == SMTP_S_TLS) {
        smtp_srv_tls_done(&h.s, 1);
        assert_true(h.resets > before);
        assert_int_equal(h.s.nrcpt, 0);
        /* The session starts over and a new transaction works. */
        h_feed(&h, E TXN("after\r\n"), strlen(E TXN("after\r\n")), 0, 0);
        assert_string_equal(h.msgs.p, "after\r\n|");
    } else {
        /* Refusing STARTTLS inside a transaction would do as well. */
        assert_int_equal(h.starttls_calls, 0);
    }
    h_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_greeting_and_ehlo),
        cmocka_unit_test(test_long_hostname),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_path_bytes),
        cmocka_unit_test(test_starttls_in_transaction),
    };
    log_init("test_smtp_server", LOG_WARN); /* refusals are logged at info: keep the output readable */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
