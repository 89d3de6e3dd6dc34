/* smtp_parse DATA: dot-unstuffing, the end of data (only CRLF "." CRLF),
 * bare CR and LF, the SMTP smuggling variants (each must set its error and
 * must not end the data early; the bytes after the real end are left for
 * the next command), the size limit, and dot-stuffing both ways. Every
 * input is fed whole, byte by byte and in random splits (smtp_test.h). */
#include "smtp_test.h"

#include "smtp_parse.h"

#define ROUNDTRIPS 400 /* random messages through dot-stuff and back */

/* ---- DATA ---- */

struct data_result {
    int done;
    size_t consumed; /* of the whole input, when done */
    enum smtp_data_err err;
    size_t size;
    struct sbuf out;
};

static void run_data(const char *in, size_t len, size_t max, size_t out_cap, int mode, struct data_result *r)
{
    struct smtp_data d;
    memset(r, 0, sizeof *r);
    sbuf_init(&r->out, out_cap);
    smtp_data_begin(&d, max);
    for (size_t pos = 0; pos < len;) {
        size_t n = piece_len(mode, len - pos);
        char *piece = heap_copy(in + pos, n);
        size_t used = 12345;
        enum smtp_data_rc rc = smtp_data_feed(&d, piece, n, &used, &r->out);
        free(piece);
        if (rc == SMTP_DATA_DONE) {
            assert_true(used <= n);
            r->done = 1;
            r->consumed = pos + used;
            break;
        }
        assert_int_equal(used, n); /* not done: everything was taken */
        pos += n;
    }
    r->err = d.err;
    r->size = d.size;
}

#define DMAX ((size_t)1 << 20)
#define NOT_DONE ((size_t)-1)
#define ALL ((size_t)-2)

static const struct data_case {
    const char *name;
    const char *in;
    size_t in_len; /* 0: strlen */
    const char *out;
    enum smtp_data_err err;
    size_t consumed; /* NOT_DONE, ALL, or an offset */
} data_cases[] = {
    {"empty message", ".\r\n", 0, "", SMTP_DATA_ERR_NONE, ALL},
    {"one line", "a\r\n.\r\n", 0, "a\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"blank line only", "\r\n.\r\n", 0, "\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"headers and body", "From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n.\r\n", 0,
     "From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"unstuff ..", "..\r\n.\r\n", 0, ".\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"unstuff ...", "...\r\n.\r\n", 0, "..\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"unstuff .x", ".x\r\n.\r\n", 0, "x\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"unstuff '. '", ". \r\n.\r\n", 0, " \r\n", SMTP_DATA_ERR_NONE, ALL},
    {"unstuff mid message", "a\r\n..\r\nb\r\n...x\r\n.\r\n", 0, "a\r\n.\r\nb\r\n..x\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"dot inside a line stays", "a.b\r\na..\r\n.\r\n", 0, "a.b\r\na..\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"next command not consumed", "a\r\n.\r\nQUIT\r\n", 0, "a\r\n", SMTP_DATA_ERR_NONE, 6},
    {"two ends", "a\r\n.\r\n.\r\n", 0, "a\r\n", SMTP_DATA_ERR_NONE, 6},
    {"pipelined next transaction", ".\r\nMAIL FROM:<a@b.test>\r\n", 0, "", SMTP_DATA_ERR_NONE, 3},
    {"NUL bytes are content", "a\0b\r\n.\r\n", 8, "a\0b\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"8-bit content", "caf\xc3\xa9\r\n.\r\n", 0, "caf\xc3\xa9\r\n", SMTP_DATA_ERR_NONE, ALL},
    {"no end yet", "a\r\nb\r\n", 0, "a\r\nb\r\n", SMTP_DATA_ERR_NONE, NOT_DONE},
    {"dot CR only", "a\r\n.\r", 0, "a\r\n", SMTP_DATA_ERR_NONE, NOT_DONE},
    {"dot only", "a\r\n.", 0, "a\r\n", SMTP_DATA_ERR_NONE, NOT_DONE},
    {"no final CRLF", "a", 0, "a", SMTP_DATA_ERR_NONE, NOT_DONE},
    {"end without CRLF before the dot", "a.\r\n", 0, "a.\r\n", SMTP_DATA_ERR_NONE, NOT_DONE},
    /* smuggling: only CRLF.CRLF ends, everything else sets an error and is content */
    {"LF.LF", "a\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"LF.LF never ends", "a\n.\nMAIL FROM:<x@evil.test>\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, NOT_DONE},
    {"CR.CR", "a\r.\rMAIL FROM:<x@evil.test>\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    {"CR.CR never ends", "a\r.\rRCPT TO:<x@evil.test>\r", 0, NULL, SMTP_DATA_ERR_BARE_CR, NOT_DONE},
    {"CRLF.LF", "a\r\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"CRLF.LF never ends", "a\r\n.\nQUIT\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, NOT_DONE},
    {"LF.CRLF", "a\n.\r\nMAIL FROM:<x@evil.test>\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"LF.CRLF never ends", "a\n.\r\nQUIT\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, NOT_DONE},
    {"CRLF.CR", "a\r\n.\rMAIL FROM:<x@evil.test>\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    {"CRLF.CR CRLF", "a\r\n.\r\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    {"CRLF.CR never ends", "a\r\n.\rQUIT\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, NOT_DONE},
    {"CR.CRLF", "a\r.\r\nQUIT\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    /* CR CR LF . CR LF holds a real CRLF.CRLF: the data ends there, refused. */
    {"CRCRLF.CRLF", "a\r\r\n.\r\nQUIT\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, 7},
    {"LF at start, LF.LF", "\n.\n\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"LF at start.CRLF", "\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, NOT_DONE},
    {"CR at start.CRLF", "\r.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, NOT_DONE},
    {"dot LF at start", ".\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, NOT_DONE},
    {"dot LF at start then end", ".\n\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"bare CR inside a line", "ab\rcd\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    {"bare LF inside a line", "ab\ncd\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"bare CR at line end", "ab\r\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    {"LFCR", "ab\n\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"first error wins (CR)", "a\rb\nc\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_CR, ALL},
    {"first error wins (LF)", "a\nb\rc\r\n.\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, ALL},
    {"error then next command", "a\nb\r\n.\r\nQUIT\r\n", 0, NULL, SMTP_DATA_ERR_BARE_LF, 8},
};

static void test_data(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof data_cases / sizeof data_cases[0]; i++) {
        const struct data_case *c = &data_cases[i];
        size_t len = c->in_len ? c->in_len : strlen(c->in);
        size_t want_consumed = c->consumed == ALL ? len : c->consumed;
        for (int m = 0; m < NMODES; m++) {
            struct data_result r;
            run_data(c->in, len, DMAX, 0, m, &r);
            if (r.err != c->err)
                fail_msg("%s (mode %d): err %d, want %d", c->name, m, r.err, c->err);
            if (c->consumed == NOT_DONE ? r.done : (!r.done || r.consumed != want_consumed))
                fail_msg("%s (mode %d): done=%d consumed=%zu, want %zu", c->name, m, r.done, r.consumed, want_consumed);
            if (c->out) {
                size_t ol = c->in_len ? c->in_len - 3 : strlen(c->out);
                if (r.out.len != ol || (ol && memcmp(r.out.p, c->out, ol) != 0))
                    fail_msg("%s (mode %d): content \"%.*s\"", c->name, m, (int)r.out.len, r.out.p ? r.out.p : "");
                assert_int_equal(r.size, ol);
            }
            sbuf_free(&r.out);
            if (c->consumed == NOT_DONE)
                continue;
            /* Whatever follows the end belongs to the next command: with
             * pipelined commands after it, the verdict and the end are the
             * same and those bytes are left unconsumed. */
            const char *tail = "MAIL FROM:<next@x.test>\r\nQUIT\r\n";
            char *more = malloc(len + strlen(tail));
            assert_non_null(more);
            memcpy(more, c->in, len);
            memcpy(more + len, tail, strlen(tail));
            run_data(more, len + strlen(tail), DMAX, 0, m, &r);
            free(more);
            if (r.err != c->err || !r.done || r.consumed != want_consumed)
                fail_msg("%s + pipelined tail (mode %d): err %d done=%d consumed=%zu, want %zu", c->name, m, r.err,
                         r.done, r.consumed, want_consumed);
            sbuf_free(&r.out);
        }
    }
}

/* Builds a message of exactly n >= 2 content bytes: CRLF-terminated lines
 * of up to 78 bytes, every third one starting with a dot (stuffed on the
 * wire), so that unstuffed bytes are what the limit counts. Returns the wire
 * form with its end marker. */
static char *make_sized(size_t n, size_t *wire_len)
{
    char *w = malloc(2 * n + 16);
    size_t o = 0, left = n, nline = 0;
    assert_non_null(w);
    assert_true(n >= 2);
    while (left > 0) {
        size_t line = left < 78 ? left : 78;
        if (left - line == 1)
            line--; /* never leave a single byte for the last line */
        size_t body = line - 2;
        for (size_t k = 0; k < body; k++) {
            if (k == 0 && nline % 3 == 0) {
                w[o++] = '.';
                w[o++] = '.';
            } else {
                w[o++] = 'x';
            }
        }
        w[o++] = '\r';
        w[o++] = '\n';
        left -= line;
        nline++;
    }
    memcpy(w + o, ".\r\n", 3);
    *wire_len = o + 3;
    return w;
}

static void test_data_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {2, 3, 80, 81, 1000, 4096, 65536, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t wl;
        char *w = make_sized(n, &wl);
        for (int m = 0; m < NMODES; m++) {
            struct data_result r;
            run_data(w, wl, n, 0, m, &r); /* exactly at the limit */
            assert_int_equal(r.err, SMTP_DATA_ERR_NONE);
            assert_true(r.done);
            assert_int_equal(r.consumed, wl);
            assert_int_equal(r.out.len, n);
            assert_int_equal(r.size, n);
            sbuf_free(&r.out);
            run_data(w, wl, n - 1, 0, m, &r); /* one byte over: refused, end still found */
            assert_int_equal(r.err, SMTP_DATA_ERR_SIZE);
            assert_true(r.done);
            assert_int_equal(r.consumed, wl);
            assert_int_equal(r.size, n); /* counted to the end */
            assert_true(r.out.len <= n - 1);
            sbuf_free(&r.out);
            if (n > 10) {
                run_data(w, wl, 10, 0, m, &r); /* far over */
                assert_int_equal(r.err, SMTP_DATA_ERR_SIZE);
                assert_true(r.done && r.consumed == wl);
                sbuf_free(&r.out);
            }
            /* The output buffer's own cap also ends in SIZE, never a partial message. */
            run_data(w, wl, DMAX, n - 1, m, &r);
            assert_int_equal(r.err, SMTP_DATA_ERR_SIZE);
            assert_true(r.done && r.consumed == wl);
            sbuf_free(&r.out);
        }
        free(w);
    }
    /* Limit 0: only the empty message fits. */
    struct data_result r;
    run_data(".\r\n", 3, 0, 0, 0, &r);
    assert_int_equal(r.err, SMTP_DATA_ERR_NONE);
    assert_true(r.done);
    sbuf_free(&r.out);
    run_data("\r\n.\r\n", 5, 0, 0, 1, &r);
    assert_int_equal(r.err, SMTP_DATA_ERR_SIZE);
    assert_true(r.done && r.consumed == 5);
    sbuf_free(&r.out);
}

/* A size error does not hide a later smuggling attempt, and neither error
 * lets the data end anywhere but at CRLF.CRLF. */
static void test_data_size_then_smuggle(void **state)
{
    (void)state;
    const char *in = "0123456789\r\n\n.\nMAIL FROM:<x@evil.test>\r\n.\r\nQUIT\r\n";
    for (int m = 0; m < NMODES; m++) {
        struct data_result r;
        run_data(in, strlen(in), 5, 0, m, &r);
        assert_int_equal(r.err, SMTP_DATA_ERR_SIZE);
        assert_true(r.done);
        assert_int_equal(r.consumed, strlen(in) - 6);
        sbuf_free(&r.out);
    }
}

/* ---- dot-stuffing both ways ---- */

/* What a message becomes on the wire and back: every CRLF, lone CR and lone
 * LF is one CRLF, and a last line without one gets one. */
static size_t normalise(const char *m, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '\r' || m[i] == '\n') {
            if (m[i] == '\r' && i + 1 < n && m[i + 1] == '\n')
                i++;
            out[o++] = '\r';
            out[o++] = '\n';
        } else {
            out[o++] = m[i];
        }
    }
    if (o > 0 && !(o >= 2 && out[o - 2] == '\r' && out[o - 1] == '\n'))
        out[o++] = '\r', out[o++] = '\n';
    return o;
}

static void roundtrip(const char *msg, size_t n)
{
    struct sbuf st;
    sbuf_init(&st, 0);
    assert_int_equal(smtp_dot_stuff(msg, n, &st), 0);
    /* The wire form has CRLF line ends only and a single end marker at its end. */
    assert_true(st.len >= 3);
    assert_memory_equal(st.p + st.len - 3, ".\r\n", 3);
    for (size_t i = 0; i < st.len; i++) {
        if (st.p[i] == '\r')
            assert_true(i + 1 < st.len && st.p[i + 1] == '\n');
        if (st.p[i] == '\n')
            assert_true(i > 0 && st.p[i - 1] == '\r');
        /* No line but the last is a lone ".". */
        if (i + 3 < st.len && st.p[i] == '.' && (i == 0 || st.p[i - 1] == '\n'))
            assert_false(st.p[i + 1] == '\r');
    }
    char *want = malloc(2 * n + 3);
    assert_non_null(want);
    size_t wl = normalise(msg, n, want);
    /* Followed by the next command, which must be left alone. */
    assert_int_equal(sbuf_add(&st, "QUIT\r\n", 6), 0);
    for (int m = 0; m < NMODES; m++) {
        struct data_result r;
        run_data(st.p, st.len, DMAX, 0, m, &r);
        assert_int_equal(r.err, SMTP_DATA_ERR_NONE);
        assert_true(r.done);
        assert_int_equal(r.consumed, st.len - 6);
        if (r.out.len != wl || (wl && memcmp(r.out.p, want, wl) != 0))
            fail_msg("round trip of %zu bytes (mode %d): got %zu bytes, want %zu", n, m, r.out.len, wl);
        sbuf_free(&r.out);
    }
    free(want);
    sbuf_free(&st);
}

static void test_dot_stuff_fixed(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *wire;
    } fixed[] = {
        {"", ".\r\n"},
        {"a", "a\r\n.\r\n"},
        {"a\r\n", "a\r\n.\r\n"},
        {".", "..\r\n.\r\n"},
        {".\r\n", "..\r\n.\r\n"},
        {"..\r\n", "...\r\n.\r\n"},
        {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
        {"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
        {"a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"},
        {"\r\n", "\r\n.\r\n"},
        {"\n\n", "\r\n\r\n.\r\n"},
        {"\r\r\n", "\r\n\r\n.\r\n"},
        {"a.b\r\n", "a.b\r\n.\r\n"},
        {".x\r\n.y", "..x\r\n..y\r\n.\r\n"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        size_t n = strlen(fixed[i].msg);
        char *msg = heap_copy(fixed[i].msg, n);
        struct sbuf st;
        sbuf_init(&st, 0);
        assert_int_equal(smtp_dot_stuff(msg, n, &st), 0);
        if (st.len != strlen(fixed[i].wire) || memcmp(st.p, fixed[i].wire, st.len) != 0)
            fail_msg("dot-stuff of case %zu: \"%.*s\"", i, (int)st.len, st.p);
        sbuf_free(&st);
        roundtrip(msg, n);
        free(msg);
    }
    /* Every cap short of the wire form is refused; from it on, it fits. */
    static const char *const capmsgs[] = {"a\r\n.b\nc", ".", "", "x\ry\r\n..\r\n"};
    for (size_t i = 0; i < sizeof capmsgs / sizeof capmsgs[0]; i++) {
        struct sbuf full;
        sbuf_init(&full, 0);
        assert_int_equal(smtp_dot_stuff(capmsgs[i], strlen(capmsgs[i]), &full), 0);
        for (size_t cap = 1; cap <= full.len + 2; cap++) {
            struct sbuf st;
            sbuf_init(&st, cap);
            int rc = smtp_dot_stuff(capmsgs[i], strlen(capmsgs[i]), &st);
            if (cap < full.len)
                assert_int_equal(rc, -1);
            else {
                assert_int_equal(rc, 0);
                assert_int_equal(st.len, full.len);
                assert_memory_equal(st.p, full.p, full.len);
            }
            sbuf_free(&st);
        }
        sbuf_free(&full);
    }
    /* A capped output buffer: refused, not truncated silently. */
    struct sbuf st;
    sbuf_init(&st, 5);
    assert_int_equal(smtp_dot_stuff("abcdef\r\n", 8, &st), -1);
    sbuf_free(&st);
    sbuf_init(&st, 6);
    assert_int_equal(smtp_dot_stuff("a\r\n", 3, &st), 0);
    assert_int_equal(smtp_dot_stuff("", 0, &st), -1);
    sbuf_free(&st);
}

static void test_dot_stuff_random(void **state)
{
    (void)state;
    static const char alphabet[] = "..\r\r\n\n\naabx  \t\xc3\xa9";
    for (int t = 0; t < ROUNDTRIPS; t++) {
        size_t n = rnd() % (t < 300 ? 40 : 3000);
        char *msg = malloc(n ? n : 1);
        assert_non_null(msg);
        for (size_t i = 0; i < n; i++)
            msg[i] = alphabet[rnd() % (sizeof alphabet - 1)];
        roundtrip(msg, n);
        free(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_data_size),
        cmocka_unit_test(test_data_size_then_smuggle),
        cmocka_unit_test(test_dot_stuff_fixed),
        cmocka_unit_test(test_dot_stuff_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
