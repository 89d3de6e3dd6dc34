/* smtp_server: limits (recipients, line length, message size, input
 * backlog), shutdown, the owner's hooks (reset, AUTH credentials, long
 * replies) and state names, on the harness of smtp_srv_harness.h. */
#include "smtp_srv_harness.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

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
    const char *in = E "AUTH PLAIN YWxpY2UAYWxpY2UAc2VjcmV0\r\n";
    h_feed(&h, in, strlen(in), 1, 0);
    assert_int_equal(h.auth_calls, 1);
    assert_string_equal(h.user, "alice"); /* the authcid (the authzid restates it) */
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

/* ---- known discrepancies ----
 * Checked in a child process, since the failure is a crash; while it
 * remains the test is reported SKIPPED with the reason (ENVOI_STRICT=1
 * makes it fail). */

static char child_out[8192];
static size_t child_len;

static void child_write_cb(void *arg, const char *data, size_t len)
{
    (void)arg;
    if (child_len + len <= sizeof child_out) {
        memcpy(child_out + child_len, data, len);
        child_len += len;
    }
}

static void child_close_cb(void *arg, const char *reason)
{
    (void)arg;
    (void)reason;
}

/* Runs EHLO with our hostname of n octets; 0 when the reply is whole. */
static int child_ehlo(size_t n, int tls_auth)
{
    static char host[4096];
    memset(host, 'h', n);
    host[n] = '\0';
    struct smtp_srv_config cfg = {.hostname = host, .max_size = 1000, .starttls = tls_auth, .auth = tls_auth};
    struct smtp_srv_hooks hk = {.write = child_write_cb, .close = child_close_cb, .message = message_cb};
    struct smtp_srv s;
    smtp_srv_init(&s, &cfg, &hk, NULL, "child");
    smtp_srv_start(&s);
    smtp_srv_feed(&s, "EHLO client.test\r\n", 18);
    smtp_srv_free(&s);
    /* The EHLO reply, however long the name, ends with "250 HELP". */
    return child_len >= 10 && memcmp(child_out + child_len - 10, "250 HELP\r\n", 10) == 0 ? 0 : 1;
}

/* smtp_srv_helo() builds the EHLO reply in char buf[1024] with
 * n += snprintf(buf + n, sizeof buf - n, ...): once the hostname passes
 * about 890 octets (with STARTTLS and AUTH offered; 930 without) n exceeds
 * the buffer, sizeof buf - n wraps, and the next snprintf writes past the
 * stack buffer (ASan: stack smashing / SEGV on return). The hostname is
 * --domain, unchecked. Any length must give a whole reply or be refused
 * when the configuration is read. */
static void test_known_bugs(void **state)
{
    (void)state;
    int bugs = 0;
    static const size_t lens[] = {253, 600, 1000, 3000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (int tls_auth = 0; tls_auth < 2; tls_auth++) {
            fflush(NULL);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                int devnull = open("/dev/null", O_WRONLY);
                if (devnull >= 0)
                    dup2(devnull, 2); /* the sanitizer's report is expected noise here */
                _exit(child_ehlo(lens[i], tls_auth));
            }
            int st = 0;
            assert_int_equal(waitpid(pid, &st, 0), pid);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                print_message("KNOWN BUG: EHLO with a %zu-octet hostname%s: child %s %d (sanitizer, stack smash or"
                              " a broken reply)\n",
                              lens[i], tls_auth ? " (STARTTLS, AUTH)" : "", WIFSIGNALED(st) ? "signal" : "exit",
                              WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                bugs++;
            }
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
        cmocka_unit_test(test_rcpt_limit),
        cmocka_unit_test(test_rcpts_and_from),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_message_size),
        cmocka_unit_test(test_backlog),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_reset_hook),
        cmocka_unit_test(test_auth_credentials),
        cmocka_unit_test(test_auth_login_long_user),
        cmocka_unit_test(test_long_owner_reply),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_known_bugs),
    };
    log_init("test_smtp_session", LOG_WARN); /* refusals are logged at info: keep the output readable */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
