/* smtp_parse replies (the client side): single and multi-line replies,
 * mismatched codes, garbage, partial input (every prefix of a complete reply
 * must be "more"), the size limit, and a stream of pipelined replies. */
#include "smtp_test.h"

#include "smtp_parse.h"

/* ---- replies ---- */

#define RBAD ((size_t)-1)
#define RMORE ((size_t)-2)

static const struct reply_case {
    const char *in;
    size_t consumed; /* RBAD, RMORE or bytes */
    int code;
    const char *text;
} reply_cases[] = {
    {"250 OK\r\n", 8, 250, "OK"},
    {"220 mx.test ESMTP envoi\r\n", 25, 220, "mx.test ESMTP envoi"},
    {"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 HELP\r\n", 58, 250,
     "mx.test\nPIPELINING\nSIZE 10240000\nHELP"},
    {"554-5.7.1 one\r\n554-5.7.1 two\r\n554 5.7.1 three\r\n", 47, 554, "5.7.1 one\n5.7.1 two\n5.7.1 three"},
    {"250\r\n", 5, 250, ""},
    {"250 \r\n", 6, 250, ""},
    {"250-\r\n250 x\r\n", 13, 250, "\nx"}, /* an empty first line keeps its separator (880ffac) */
    {"250-\r\n250-\r\n250 \r\n", 18, 250, "\n\n"},
    {"250 a\n", 6, 250, "a"},
    {"250-a\n250 b\n", 12, 250, "a\nb"},
    {"250 ok\r\n221 bye\r\n", 8, 250, "ok"},
    {"334 VXNlcm5hbWU6\r\n", 18, 334, "VXNlcm5hbWU6"},
    {"421 4.3.2 shutting down\r\n", 25, 421, "4.3.2 shutting down"},
    {"599 x\r\n", 7, 599, "x"},
    {"200 x\r\n", 7, 200, "x"},
    {"250 tab\there\r\n", 14, 250, "tab\there"},
    /* partial */
    {"", RMORE, 0, NULL},
    {"2", RMORE, 0, NULL},
    {"250", RMORE, 0, NULL},
    {"250 OK", RMORE, 0, NULL},
    {"250 OK\r", RMORE, 0, NULL},
    {"250-a\r\n", RMORE, 0, NULL},
    {"250-a\r\n250", RMORE, 0, NULL},
    {"250-a\r\n250-b\r\n25", RMORE, 0, NULL},
    /* garbage and mismatches */
    {"250-a\r\n251 b\r\n", RBAD, 0, NULL},
    {"250-a\r\n550 b\r\n", RBAD, 0, NULL},
    {"abc\r\n", RBAD, 0, NULL},
    {"25\r\n", RBAD, 0, NULL},
    {"\r\n", RBAD, 0, NULL},
    {"2500 x\r\n", RBAD, 0, NULL},
    {"250x\r\n", RBAD, 0, NULL},
    {"250_x\r\n", RBAD, 0, NULL},
    {" 250 x\r\n", RBAD, 0, NULL},
    {"199 x\r\n", RBAD, 0, NULL},
    {"600 x\r\n", RBAD, 0, NULL},
    {"000 x\r\n", RBAD, 0, NULL},
    {"-250 x\r\n", RBAD, 0, NULL},
    {"250-a\r\nxyz\r\n", RBAD, 0, NULL},
    {"HTTP/1.1 400 Bad Request\r\n", RBAD, 0, NULL},
};

static void check_reply(const char *in, size_t len, size_t want, int code, const char *text, const char *what)
{
    char *buf = heap_copy(in, len);
    struct smtp_reply *r = malloc(sizeof *r);
    assert_non_null(r);
    size_t used = 0;
    enum smtp_reply_rc rc = smtp_reply_parse(buf, len, &used, r);
    enum smtp_reply_rc wrc = want == RBAD ? SMTP_REPLY_BAD : want == RMORE ? SMTP_REPLY_MORE : SMTP_REPLY_OK;
    if (rc != wrc) {
        free(r);
        free(buf);
        fail_msg("reply %s: rc %d, want %d", what, rc, wrc);
    }
    int bad = rc == SMTP_REPLY_OK && (used != want || r->code != code ||
                                      (text && (r->text_len != strlen(text) || strcmp(r->text, text) != 0)));
    char got[128];
    snprintf(got, sizeof got, "%.100s code=%d used=%zu", rc == SMTP_REPLY_OK ? r->text : "", r->code, used);
    free(r);
    free(buf);
    if (bad)
        fail_msg("reply %s: text \"%s\" (want \"%s\")", what, got, text ? text : "(any)");
}

static void test_replies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof reply_cases / sizeof reply_cases[0]; i++) {
        const struct reply_case *c = &reply_cases[i];
        size_t len = strlen(c->in);
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        check_reply(c->in, len, c->consumed, c->code, c->text, what);
        /* Byte by byte: every prefix of a complete reply is partial. */
        if (c->consumed != RBAD && c->consumed != RMORE)
            for (size_t k = 0; k < c->consumed; k++) {
                snprintf(what, sizeof what, "case %zu prefix %zu", i, k);
                check_reply(c->in, k, RMORE, 0, NULL, what);
            }
    }
}

static void test_reply_limits(void **state)
{
    (void)state;
    struct sbuf b;
    /* 100 continuation lines: fine. */
    sbuf_init(&b, 0);
    for (int i = 0; i < 100; i++)
        sbuf_printf(&b, "250-line %d\r\n", i);
    sbuf_adds(&b, "250 end\r\n");
    char *text = malloc(SMTP_REPLY_MAX);
    size_t tl = 0;
    for (int i = 0; i < 100; i++)
        tl += (size_t)snprintf(text + tl, SMTP_REPLY_MAX - tl, "line %d\n", i);
    snprintf(text + tl, SMTP_REPLY_MAX - tl, "end");
    check_reply(b.p, b.len, b.len, 250, text, "100 lines");
    free(text);
    sbuf_free(&b);
    /* One line longer than a whole reply may be. */
    sbuf_init(&b, 0);
    sbuf_adds(&b, "250 ");
    for (int i = 0; i < SMTP_REPLY_MAX; i++)
        sbuf_add(&b, "x", 1);
    check_reply(b.p, b.len, RBAD, 0, NULL, "endless line");
    sbuf_adds(&b, "\r\n");
    check_reply(b.p, b.len, RBAD, 0, NULL, "huge line");
    sbuf_free(&b);
    /* Many lines whose text together passes the limit. */
    sbuf_init(&b, 0);
    for (int i = 0; i < SMTP_REPLY_MAX / 50 + 2; i++)
        sbuf_adds(&b, "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
    sbuf_adds(&b, "250 end\r\n");
    check_reply(b.p, b.len, RBAD, 0, NULL, "too many lines");
    /* ...and the same, not yet complete, is already refused. */
    check_reply(b.p, b.len - 9, RBAD, 0, NULL, "too many lines, partial");
    sbuf_free(&b);
}

/* A stream of replies parsed one after another from a client's buffer. */
static void test_reply_stream(void **state)
{
    (void)state;
    const char *in = "220 mx.test ESMTP\r\n250-mx.test\r\n250-PIPELINING\r\n250 HELP\r\n250 2.1.0 Ok\r\n"
                     "550 5.1.1 no such user\r\n250 2.1.5 Ok\r\n354 go ahead\r\n250 2.0.0 queued\r\n221 2.0.0 Bye\r\n";
    static const int codes[] = {220, 250, 250, 550, 250, 354, 250, 221};
    size_t len = strlen(in), off = 0;
    struct smtp_reply *r = malloc(sizeof *r);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t used;
        char *buf = heap_copy(in + off, len - off);
        assert_int_equal(smtp_reply_parse(buf, len - off, &used, r), SMTP_REPLY_OK);
        free(buf);
        assert_int_equal(r->code, codes[i]);
        off += used;
    }
    assert_int_equal(off, len);
    free(r);
}

/* ---- regressions ----
 * Bugs found by these tests and fuzz_smtp_reply, fixed in 880ffac. */

/* A reply of more than SMTP_REPLY_MAX bytes whose text fits used to parse
 * whole but be refused as BAD from a prefix of SMTP_REPLY_MAX bytes, so
 * the verdict in a client's growing buffer (smtp_client.c) depended on how
 * TCP split the reply. Every prefix of a reply that parses must be "more". */
static void test_regressions(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0);
    for (int i = 0; i < 1300; i++)
        sbuf_adds(&b, "250-x\r\n");
    sbuf_adds(&b, "250 end\r\n");
    assert_true(b.len > SMTP_REPLY_MAX);
    check_reply(b.p, b.len, b.len, 250, NULL, "1300 short lines");
    static const size_t cuts[] = {SMTP_REPLY_MAX - 1, SMTP_REPLY_MAX, SMTP_REPLY_MAX + 1, SMTP_REPLY_MAX + 100};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "first %zu bytes", cuts[i]);
        check_reply(b.p, cuts[i], RMORE, 0, NULL, what);
    }
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_reply_limits),
        cmocka_unit_test(test_reply_stream),
        cmocka_unit_test(test_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
