/* smtp_parse: command lines (the 1000-octet limit, lone LF), verbs, and
 * MAIL/RCPT paths with their ESMTP parameters. Line input is fed whole, byte
 * by byte and in random splits (see smtp_test.h); every parser call gets a
 * heap buffer of exactly the input's size. DATA is in test_smtp_data.c,
 * replies in test_smtp_reply.c. */
#include "smtp_test.h"

#include "smtp_parse.h"

/* ---- command lines ---- */

struct lines_out {
    char text[4096]; /* lines joined with '|' */
    int too_long;
};

/* Accumulates input as a caller would (a buffer grown to exactly what has
 * arrived) and takes every complete line out after each piece. */
static void run_lines(const char *in, size_t len, size_t max, int mode, struct lines_out *o)
{
    char *buf = NULL;
    size_t have = 0, off = 0, tl = 0;
    memset(o, 0, sizeof *o);
    for (size_t pos = 0; pos < len && !o->too_long;) {
        size_t n = piece_len(mode, len - pos);
        char *nb = malloc(have - off + n);
        assert_non_null(nb);
        if (have > off)
            memcpy(nb, buf + off, have - off);
        memcpy(nb + have - off, in + pos, n);
        free(buf);
        buf = nb;
        have = have - off + n;
        off = 0;
        pos += n;
        for (;;) {
            size_t ll = 0, used = 0;
            enum smtp_line_rc rc = smtp_line_next(buf + off, have - off, max, &ll, &used);
            if (rc == SMTP_LINE_MORE)
                break;
            if (rc == SMTP_LINE_TOO_LONG) {
                o->too_long = 1;
                break;
            }
            assert_true(used >= ll + 1 && used <= ll + 2);
            assert_true(used <= have - off);
            assert_true(tl + ll + 2 < sizeof o->text);
            memcpy(o->text + tl, buf + off, ll);
            tl += ll;
            o->text[tl++] = '|';
            off += used;
        }
    }
    o->text[tl] = '\0';
    free(buf);
}

static const struct line_case {
    const char *in;
    const char *lines; /* each line followed by '|' */
    int too_long;
} line_cases[] = {
    {"NOOP\r\n", "NOOP|", 0},
    {"NOOP\n", "NOOP|", 0}, /* lone LF tolerated in commands */
    {"A\r\nB\nC\r\n", "A|B|C|", 0},
    {"\r\n\r\n", "||", 0},
    {"x\r\r\n", "x\r|", 0}, /* only one CR belongs to the terminator */
    {"NOOP", "", 0},
    {"NOOP\r", "", 0},
    {"EHLO a.test\r\nMAIL FROM:<>\r\nRCPT TO:<b@c.test>\r\nDATA\r\n",
     "EHLO a.test|MAIL FROM:<>|RCPT TO:<b@c.test>|DATA|", 0},
};

static void test_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof line_cases / sizeof line_cases[0]; i++) {
        const struct line_case *c = &line_cases[i];
        size_t len = strlen(c->in);
        for (int m = 0; m < NMODES; m++) {
            struct lines_out o;
            run_lines(c->in, len, SMTP_LINE_MAX, m, &o);
            if (strcmp(o.text, c->lines) != 0 || o.too_long != c->too_long)
                fail_msg("line case %zu mode %d: got \"%s\" too_long=%d", i, m, o.text, o.too_long);
        }
    }
}

/* The 1000-octet limit counts the CRLF (RFC 5321 §4.5.3.1.4). */
static void test_line_limit(void **state)
{
    (void)state;
    static const struct {
        size_t body;
        const char *end;
        int too_long;
    } lim[] = {
        {998, "\r\n", 0}, {999, "\r\n", 1}, {999, "\n", 0}, {1000, "\n", 1}, {5000, "\r\n", 1}, {0, "\r\n", 0},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        size_t el = strlen(lim[i].end), len = lim[i].body + el;
        char *in = malloc(len + 7);
        assert_non_null(in);
        memset(in, 'x', lim[i].body);
        memcpy(in + lim[i].body, lim[i].end, el);
        memcpy(in + len, "QUIT\r\n", 6);
        for (int m = 0; m < NMODES; m++) {
            struct lines_out o;
            run_lines(in, len + 6, SMTP_LINE_MAX, m, &o);
            if (o.too_long != lim[i].too_long)
                fail_msg("limit case %zu mode %d: too_long=%d", i, m, o.too_long);
            if (!lim[i].too_long) {
                assert_int_equal(strlen(o.text), lim[i].body + 6);
                assert_string_equal(o.text + lim[i].body, "|QUIT|");
            }
        }
        free(in);
    }
    /* A full buffer of exactly max bytes with no LF is already too long. */
    char *full = malloc(SMTP_LINE_MAX);
    memset(full, 'y', SMTP_LINE_MAX);
    size_t ll, used;
    assert_int_equal(smtp_line_next(full, SMTP_LINE_MAX, SMTP_LINE_MAX, &ll, &used), SMTP_LINE_TOO_LONG);
    assert_int_equal(smtp_line_next(full, SMTP_LINE_MAX - 1, SMTP_LINE_MAX, &ll, &used), SMTP_LINE_MORE);
    assert_int_equal(smtp_line_next(full, 0, SMTP_LINE_MAX, &ll, &used), SMTP_LINE_MORE);
    free(full);
}

/* ---- verbs ---- */

static const struct cmd_case {
    const char *line;
    enum smtp_verb verb;
    const char *arg;
    int syntax_ok;
} cmd_cases[] = {
    {"HELO mx.test", SMTP_V_HELO, "mx.test", 1},
    {"helo mx.test", SMTP_V_HELO, "mx.test", 1},
    {"HELO", SMTP_V_HELO, "", 1},
    {"EHLO client.test", SMTP_V_EHLO, "client.test", 1},
    {"eHlO  client.test  ", SMTP_V_EHLO, "client.test", 1},
    {"EHLO [192.0.2.1]", SMTP_V_EHLO, "[192.0.2.1]", 1},
    {"MAIL FROM:<a@b.test>", SMTP_V_MAIL, "<a@b.test>", 1},
    {"mail from:<a@b.test>", SMTP_V_MAIL, "<a@b.test>", 1},
    {"Mail From:<>", SMTP_V_MAIL, "<>", 1},
    {"MAIL FROM:<a@b.test> SIZE=10 BODY=8BITMIME", SMTP_V_MAIL, "<a@b.test> SIZE=10 BODY=8BITMIME", 1},
    {"MAIL FROM: <a@b.test>", SMTP_V_MAIL, "<a@b.test>", 1},
    {"MAIL FROM:<a@b.test>   ", SMTP_V_MAIL, "<a@b.test>", 1},
    {"MAIL FROM:<a@b.test>\t", SMTP_V_MAIL, "<a@b.test>", 1},
    {"MAIL <a@b.test>", SMTP_V_MAIL, NULL, 0},
    {"MAIL TO:<a@b.test>", SMTP_V_MAIL, NULL, 0},
    {"MAIL FROM", SMTP_V_MAIL, NULL, 0},
    {"MAIL FROM<a@b.test>", SMTP_V_MAIL, NULL, 0},
    {"MAIL", SMTP_V_MAIL, NULL, 0},
    {"RCPT TO:<x@y.test>", SMTP_V_RCPT, "<x@y.test>", 1},
    {"rcpt to:<x@y.test>  ", SMTP_V_RCPT, "<x@y.test>", 1},
    {"RCPT TO:<postmaster>", SMTP_V_RCPT, "<postmaster>", 1},
    {"RCPT FROM:<x@y.test>", SMTP_V_RCPT, NULL, 0},
    {"RCPT <x@y.test>", SMTP_V_RCPT, NULL, 0},
    {"RCPT T", SMTP_V_RCPT, NULL, 0},
    {"RCPT", SMTP_V_RCPT, NULL, 0},
    {"DATA", SMTP_V_DATA, "", 1},
    {"data", SMTP_V_DATA, "", 1},
    {"DATA ", SMTP_V_DATA, "", 1},
    {"DATA x", SMTP_V_DATA, "x", 1},
    {"RSET", SMTP_V_RSET, "", 1},
    {"rset", SMTP_V_RSET, "", 1},
    {"NOOP", SMTP_V_NOOP, "", 1},
    {"NOOP anything at all", SMTP_V_NOOP, "anything at all", 1},
    {"QUIT", SMTP_V_QUIT, "", 1},
    {"quit", SMTP_V_QUIT, "", 1},
    {"HELP", SMTP_V_HELP, "", 1},
    {"HELP MAIL", SMTP_V_HELP, "MAIL", 1},
    {"VRFY postmaster", SMTP_V_VRFY, "postmaster", 1},
    {"vrfy <a@b.test>", SMTP_V_VRFY, "<a@b.test>", 1},
    {"EXPN staff", SMTP_V_EXPN, "staff", 1},
    {"STARTTLS", SMTP_V_STARTTLS, "", 1},
    {"starttls", SMTP_V_STARTTLS, "", 1},
    {"AUTH PLAIN AGFAYg==", SMTP_V_AUTH, "PLAIN AGFAYg==", 1},
    {"auth login", SMTP_V_AUTH, "login", 1},
    {"BDAT 100 LAST", SMTP_V_BDAT, "100 LAST", 1},
    {"FOO bar", SMTP_V_UNKNOWN, "bar", 1},
    {"", SMTP_V_UNKNOWN, "", 1},
    {" MAIL FROM:<a@b.test>", SMTP_V_UNKNOWN, NULL, 1},
    {"MAILFROM:<a@b.test>", SMTP_V_UNKNOWN, NULL, 1},
    {"DAT", SMTP_V_UNKNOWN, NULL, 1},
    {"DATAX", SMTP_V_UNKNOWN, NULL, 1},
    {"EHL0 x.test", SMTP_V_UNKNOWN, NULL, 1},
    {"HELOO x.test", SMTP_V_UNKNOWN, NULL, 1},
    {"STARTTL", SMTP_V_UNKNOWN, NULL, 1},
    {"GET / HTTP/1.1", SMTP_V_UNKNOWN, NULL, 1},
    {"\xc3\xa9HLO x", SMTP_V_UNKNOWN, NULL, 1},
};

static void test_cmds(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cmd_cases / sizeof cmd_cases[0]; i++) {
        const struct cmd_case *c = &cmd_cases[i];
        size_t len = strlen(c->line);
        char *line = heap_copy(c->line, len); /* no NUL after it */
        struct smtp_cmd cmd;
        smtp_cmd_parse(line, len, &cmd);
        if (cmd.verb != c->verb)
            fail_msg("\"%s\": verb %d, want %d", c->line, cmd.verb, c->verb);
        if (c->verb == SMTP_V_MAIL || c->verb == SMTP_V_RCPT)
            assert_int_equal(cmd.syntax_ok, c->syntax_ok);
        if (c->arg) {
            if (cmd.arg_len != strlen(c->arg) || memcmp(cmd.arg, c->arg, cmd.arg_len) != 0)
                fail_msg("\"%s\": arg \"%.*s\", want \"%s\"", c->line, (int)cmd.arg_len, cmd.arg, c->arg);
        }
        /* The argument always lies inside the line. */
        assert_true(cmd.arg >= line && cmd.arg + cmd.arg_len <= line + len);
        free(line);
    }
}

static void test_verb_names(void **state)
{
    (void)state;
    static const struct {
        enum smtp_verb v;
        const char *name;
    } names[] = {
        {SMTP_V_HELO, "HELO"}, {SMTP_V_EHLO, "EHLO"}, {SMTP_V_MAIL, "MAIL"},         {SMTP_V_RCPT, "RCPT"},
        {SMTP_V_DATA, "DATA"}, {SMTP_V_RSET, "RSET"}, {SMTP_V_NOOP, "NOOP"},         {SMTP_V_QUIT, "QUIT"},
        {SMTP_V_HELP, "HELP"}, {SMTP_V_VRFY, "VRFY"}, {SMTP_V_EXPN, "EXPN"},         {SMTP_V_STARTTLS, "STARTTLS"},
        {SMTP_V_AUTH, "AUTH"}, {SMTP_V_BDAT, "BDAT"}, {SMTP_V_UNKNOWN, "UNKNOWN"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_string_equal(smtp_verb_name(names[i].v), names[i].name);
        if (names[i].v == SMTP_V_UNKNOWN)
            continue;
        /* The name parses back to its verb. */
        struct smtp_cmd cmd;
        smtp_cmd_parse(names[i].name, strlen(names[i].name), &cmd);
        assert_int_equal(cmd.verb, names[i].v);
    }
}

/* ---- paths ---- */

enum { F_NULL = 1, F_ROUTE = 2, F_QUOTED = 4, F_UTF8 = 8, F_PM = 16, F_8BIT = 32, F_SMTPUTF8 = 64 };

static const struct path_case {
    const char *arg;
    int is_mail;
    enum smtp_path_rc rc;
    const char *addr; /* on OK */
    int flags;
    long size;
    size_t at;
} path_cases[] = {
    /* senders and recipients */
    {"<>", 1, SMTP_PATH_OK, "", F_NULL, -1, 0},
    {"<>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test>", 1, SMTP_PATH_OK, "a@b.test", 0, -1, 1},
    {"<a@b.test>", 0, SMTP_PATH_OK, "a@b.test", 0, -1, 1},
    {"<first.last+tag@sub.example.test>", 0, SMTP_PATH_OK, "first.last+tag@sub.example.test", 0, -1, 14},
    {"<!#$%&'*+-/=?^_`{|}~@x.test>", 0, SMTP_PATH_OK, "!#$%&'*+-/=?^_`{|}~@x.test", 0, -1, 19},
    {"<A@B.TEST>", 1, SMTP_PATH_OK, "A@B.TEST", 0, -1, 1},
    {"<a@xn--bcher-kva.test>", 0, SMTP_PATH_OK, "a@xn--bcher-kva.test", 0, -1, 1},
    {"<a@b>", 0, SMTP_PATH_OK, "a@b", 0, -1, 1},
    /* postmaster without a domain: RCPT only (RFC 5321 §4.1.1.3) */
    {"<postmaster>", 0, SMTP_PATH_OK, "postmaster", F_PM, -1, 0},
    {"<PostMaster>", 0, SMTP_PATH_OK, "PostMaster", F_PM, -1, 0},
    {"<postmaster>", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<postmaster@x.test>", 0, SMTP_PATH_OK, "postmaster@x.test", 0, -1, 10},
    {"<postmasters>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a>", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    /* quoted local parts: kept with their quotes */
    {"<\"john doe\"@x.test>", 0, SMTP_PATH_OK, "\"john doe\"@x.test", F_QUOTED, -1, 10},
    {"<\"a\\\"b\"@x.test>", 0, SMTP_PATH_OK, "\"a\\\"b\"@x.test", F_QUOTED, -1, 6},
    {"<\"a>b\"@x.test>", 0, SMTP_PATH_OK, "\"a>b\"@x.test", F_QUOTED, -1, 5},
    {"<\"a@b\"@x.test>", 1, SMTP_PATH_OK, "\"a@b\"@x.test", F_QUOTED, -1, 5},
    {"<\"\"@x.test>", 0, SMTP_PATH_OK, "\"\"@x.test", F_QUOTED, -1, 2},
    {"<\"abc@x.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<\"a\"b@x.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<\"a\tb\"@x.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<\"a\\", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<\"a\\\">", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    /* source routes: accepted and dropped (Appendix C) */
    {"<@relay.test:a@b.test>", 0, SMTP_PATH_OK, "a@b.test", F_ROUTE, -1, 1},
    {"<@r1.test,@r2.test:a@b.test>", 0, SMTP_PATH_OK, "a@b.test", F_ROUTE, -1, 1},
    {"<@r1.test,@r2.test:a@b.test>", 1, SMTP_PATH_OK, "a@b.test", F_ROUTE, -1, 1},
    {"<@relay.test a@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<@relay.test:>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    /* address literals */
    {"<a@[192.0.2.1]>", 0, SMTP_PATH_OK, "a@[192.0.2.1]", 0, -1, 1},
    {"<a@[IPv6:2001:db8::1]>", 1, SMTP_PATH_OK, "a@[IPv6:2001:db8::1]", 0, -1, 1},
    {"<a@[]>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@[1.2.3.4>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@[1.2.3.4]x>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@[1.2.3.4 ]>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@[1.2.3.4/24]>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    /* broken brackets and junk */
    {"", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"a@b.test", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {">", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test>x", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test>>", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<<a@b.test>>", 1, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test> <c@d.test>", 0, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    /* bad local parts */
    {"<.a@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a.@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a..b@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a b@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a(b)@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a,b@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a\\b@b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<@>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b@c.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    /* bad domains */
    {"<a@>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@.b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test.>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b..test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@-b.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b_c.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b c.test>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@b.test;x>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    {"<a@.>", 0, SMTP_PATH_SYNTAX, NULL, 0, 0, 0},
    /* non-ASCII: flagged, the caller decides (SMTPUTF8) */
    {"<j\xc3\xb6s\xc3\xa9@x.test>", 1, SMTP_PATH_OK, "j\xc3\xb6s\xc3\xa9@x.test", F_UTF8, -1, 6},
    {"<a@b\xc3\xbc" "cher.test>", 0, SMTP_PATH_OK, "a@b\xc3\xbc" "cher.test", F_UTF8, -1, 1},
    {"<j\xc3\xb6@x.test> SMTPUTF8", 1, SMTP_PATH_OK, "j\xc3\xb6@x.test", F_UTF8 | F_SMTPUTF8, -1, 3},
    /* ESMTP parameters of MAIL */
    {"<a@b.test> SIZE=1000", 1, SMTP_PATH_OK, "a@b.test", 0, 1000, 1},
    {"<a@b.test> size=0", 1, SMTP_PATH_OK, "a@b.test", 0, 0, 1},
    {"<a@b.test> SIZE=999999999999999999", 1, SMTP_PATH_OK, "a@b.test", 0, 999999999999999999L, 1},
    {"<a@b.test> SIZE=1234567890123456789", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SIZE=", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SIZE", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SIZE=12a", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SIZE=-1", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SIZE=+1", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> BODY=8BITMIME", 1, SMTP_PATH_OK, "a@b.test", F_8BIT, -1, 1},
    {"<a@b.test> body=8bitmime", 1, SMTP_PATH_OK, "a@b.test", F_8BIT, -1, 1},
    {"<a@b.test> BODY=7BIT", 1, SMTP_PATH_OK, "a@b.test", 0, -1, 1},
    {"<a@b.test> BODY=BINARYMIME", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> BODY=", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> BODY", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SMTPUTF8", 1, SMTP_PATH_OK, "a@b.test", F_SMTPUTF8, -1, 1},
    {"<a@b.test> smtputf8", 1, SMTP_PATH_OK, "a@b.test", F_SMTPUTF8, -1, 1},
    {"<a@b.test> SMTPUTF8=yes", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> AUTH=<>", 1, SMTP_PATH_OK, "a@b.test", 0, -1, 1},
    {"<a@b.test> AUTH=user+40b.test", 1, SMTP_PATH_OK, "a@b.test", 0, -1, 1},
    {"<a@b.test> AUTH", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> FOO=bar", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> =x", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> RET=FULL", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SIZE=10 BODY=8BITMIME SMTPUTF8", 1, SMTP_PATH_OK, "a@b.test", F_8BIT | F_SMTPUTF8, 10, 1},
    {"<a@b.test>  SIZE=10  BODY=8BITMIME", 1, SMTP_PATH_OK, "a@b.test", F_8BIT, 10, 1},
    {"<a@b.test> SIZE=10   ", 1, SMTP_PATH_OK, "a@b.test", 0, 10, 1},
    {"<a@b.test> ", 0, SMTP_PATH_OK, "a@b.test", 0, -1, 1},
    {"<> SIZE=100", 1, SMTP_PATH_OK, "", F_NULL, 100, 0},
    {"<> SIZE=1x", 1, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    /* RCPT takes none of them (no DSN offered) */
    {"<a@b.test> SIZE=10", 0, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> NOTIFY=NEVER", 0, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
    {"<a@b.test> SMTPUTF8", 0, SMTP_PATH_BAD_PARAM, NULL, 0, 0, 0},
};

static void check_path(const char *arg, size_t len, int is_mail, enum smtp_path_rc want_rc, const char *want_addr,
                       int flags, long size, size_t at)
{
    char *in = heap_copy(arg, len);
    struct smtp_path p;
    enum smtp_path_rc rc = smtp_path_parse(in, len, is_mail, &p);
    if (rc != want_rc)
        fail_msg("path \"%.*s\" (%s): rc %d, want %d", (int)(len > 80 ? 80 : len), arg, is_mail ? "MAIL" : "RCPT", rc,
                 want_rc);
    if (rc == SMTP_PATH_OK) {
        if (strcmp(p.addr, want_addr) != 0)
            fail_msg("path \"%s\": addr \"%s\", want \"%s\"", arg, p.addr, want_addr);
        assert_int_equal(p.null, !!(flags & F_NULL));
        assert_int_equal(p.had_route, !!(flags & F_ROUTE));
        assert_int_equal(p.quoted, !!(flags & F_QUOTED));
        assert_int_equal(p.utf8, !!(flags & F_UTF8));
        assert_int_equal(p.postmaster, !!(flags & F_PM));
        assert_int_equal(p.body_8bit, !!(flags & F_8BIT));
        assert_int_equal(p.smtputf8, !!(flags & F_SMTPUTF8));
        assert_int_equal(p.size, size);
        assert_int_equal(p.at, at);
        if (at)
            assert_int_equal(p.addr[at], '@');
    }
    free(in);
}

static void test_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof path_cases / sizeof path_cases[0]; i++) {
        const struct path_case *c = &path_cases[i];
        check_path(c->arg, strlen(c->arg), c->is_mail, c->rc, c->addr, c->flags, c->size, c->at);
    }
}

/* Builds "<" local "@" domain ">" with the given part lengths. */
static char *make_path(size_t local, int quoted, size_t domain, size_t *len)
{
    char *p = malloc(local + domain + 8);
    size_t n = 0;
    assert_non_null(p);
    p[n++] = '<';
    if (quoted)
        p[n++] = '"';
    for (size_t i = 0; i < local; i++)
        p[n++] = (char)('a' + i % 26);
    if (quoted)
        p[n++] = '"';
    p[n++] = '@';
    for (size_t i = 0; i < domain; i++)
        p[n++] = (i % 10 == 9 && i + 1 < domain) ? '.' : 'd';
    p[n++] = '>';
    p[n] = '\0';
    *len = n;
    return p;
}

static void test_path_lengths(void **state)
{
    (void)state;
    static const struct {
        size_t local;
        int quoted;
        size_t domain;
        enum smtp_path_rc rc;
    } lens[] = {
        {1, 0, 1, SMTP_PATH_OK},
        {64, 0, 10, SMTP_PATH_OK},                   /* the longest local part (§4.5.3.1.1) */
        {65, 0, 10, SMTP_PATH_SYNTAX},               /* 64 + 2 was allowed unquoted too (fixed in 880ffac) */
        {66, 0, 10, SMTP_PATH_SYNTAX},
        {67, 0, 10, SMTP_PATH_SYNTAX},
        {200, 0, 10, SMTP_PATH_SYNTAX},
        {62, 1, 10, SMTP_PATH_OK},                   /* 64 with its quotes */
        {64, 1, 10, SMTP_PATH_OK},                   /* 64 inside the quotes: still accepted */
        {65, 1, 10, SMTP_PATH_SYNTAX},
        {64, 0, 191, SMTP_PATH_OK},                  /* 256 between the brackets */
        {64, 0, 192, SMTP_PATH_TOO_LONG},
        {10, 0, 246, SMTP_PATH_TOO_LONG},
        {1, 0, 254, SMTP_PATH_OK},
        {1, 0, 600, SMTP_PATH_TOO_LONG},
        {60, 0, 5000, SMTP_PATH_TOO_LONG},
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len;
        char *p = make_path(lens[i].local, lens[i].quoted, lens[i].domain, &len);
        for (int mail = 0; mail < 2; mail++) {
            char want[SMTP_PATH_MAX + 1] = "";
            if (lens[i].rc == SMTP_PATH_OK) {
                assert_true(len - 2 <= SMTP_PATH_MAX);
                memcpy(want, p + 1, len - 2);
                want[len - 2] = '\0';
            }
            check_path(p, len, mail, lens[i].rc, want, lens[i].quoted ? F_QUOTED : 0, -1,
                       lens[i].local + 2 * !!lens[i].quoted);
        }
        free(p);
    }
}

/* ---- regressions ----
 * Bugs found by these tests and fuzz_smtp_parse, fixed in 880ffac. */

static void test_regressions(void **state)
{
    (void)state;
    int bugs = 0;
    /* RFC 5321 atext, dcontent and quoted-pairSMTP (%d32-126) exclude NUL
     * and CR. strchr(set, c) matched c == 0 against the set's own
     * terminator, so "<victim\0@d.test>" parsed with addr "victim" (as a C
     * string) while at/domain said "d.test", "<\0@d.test>" gave "", and
     * the hop forwarded something else than what it checked; a quoted-pair
     * took any byte, so a CR could reach the next hop's command line. */
    static const struct {
        const char *in;
        size_t len;
    } nul[] = {
        {"<victim\0@d.test>", 16}, {"<vic\0tim@d.test>", 16},   {"<\0@d.test>", 10},
        {"<a@[1.2.3.4\0]>", 14},    {"<\"a\\\0b\"@x.test>", 15}, {"<\"a\\\rb\"@x.test>", 15},
        {"<\"a\\\nb\"@x.test>", 15}, {"<\"a\rb\"@x.test>", 14},  {"<a@b\0.test>", 12},
    };
    for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++)
        for (int mail = 0; mail < 2; mail++) {
            char *buf = heap_copy(nul[i].in, nul[i].len);
            struct smtp_path sp;
            char what[128];
            snprintf(what, sizeof what, "NUL/CR/LF byte accepted in path case %zu (%s)", i, mail ? "MAIL" : "RCPT");
            bugs += regress(what, smtp_path_parse(buf, nul[i].len, mail, &sp) == SMTP_PATH_SYNTAX);
            free(buf);
        }
    regress_end(bugs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_cmds),
        cmocka_unit_test(test_verb_names),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_path_lengths),
        cmocka_unit_test(test_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
