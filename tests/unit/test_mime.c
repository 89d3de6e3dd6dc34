/* MIME walker: decoding cases and every malformed case of issue 6, each fed
 * whole, byte by byte and in odd-sized pieces; all feedings must give the
 * same events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

/* What the walker reported: one transcript of all events, plus the body
 * text, subjects and file names on their own. */
struct col {
    char *all, *body, *subj, *files;
    size_t nall, nbody, nsubj, nfiles;
    int headers;
    int last_kind;
};

static void app(char **b, size_t *n, const char *p, size_t len)
{
    *b = realloc(*b, *n + len + 1);
    assert_non_null(*b);
    memcpy(*b + *n, p, len);
    *n += len;
    (*b)[*n] = 0;
}

static void col_cb(void *arg, const struct mime_event *ev)
{
    struct col *c = arg;
    char tag[64];
    /* Body chunks may be cut anywhere: only a change of kind is marked. */
    if (ev->kind != MIME_BODY || c->last_kind != MIME_BODY) {
        int n = snprintf(tag, sizeof tag, "\n<%d:%d:%.*s>", ev->kind, ev->depth, (int)(ev->name_len > 20 ? 20 : ev->name_len),
                         ev->name ? ev->name : "");
        app(&c->all, &c->nall, tag, (size_t)n);
    }
    c->last_kind = ev->kind;
    app(&c->all, &c->nall, ev->data, ev->len);
    switch (ev->kind) {
    case MIME_BODY:
        app(&c->body, &c->nbody, ev->data, ev->len);
        break;
    case MIME_SUBJECT:
        app(&c->subj, &c->nsubj, ev->data, ev->len);
        break;
    case MIME_FILENAME:
        app(&c->files, &c->nfiles, ev->data, ev->len);
        app(&c->files, &c->nfiles, "|", 1);
        break;
    case MIME_HEADER:
        c->headers++;
        break;
    }
}

static void col_free(struct col *c)
{
    free(c->all);
    free(c->body);
    free(c->subj);
    free(c->files);
    memset(c, 0, sizeof *c);
}

static void walk_step(const char *msg, size_t len, size_t step, struct col *c, struct mime_stats *st)
{
    memset(c, 0, sizeof *c);
    c->last_kind = -1;
    app(&c->all, &c->nall, "", 0);
    app(&c->body, &c->nbody, "", 0);
    app(&c->subj, &c->nsubj, "", 0);
    app(&c->files, &c->nfiles, "", 0);
    struct mime_walker *w = mime_new(col_cb, c);
    assert_non_null(w);
    /* The input lives in an exact-size heap copy, so ASan sees any overread. */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, msg, len);
    for (size_t i = 0; i < len; i += step)
        mime_feed(w, copy + i, len - i < step ? len - i : step);
    mime_finish(w);
    if (st)
        mime_get_stats(w, st);
    mime_free(w);
    free(copy);
}

/* Walks msg whole, then byte by byte, then in 7-byte pieces; checks that all
 * agree and leaves the whole-feed result in c. */
static void walk(const char *msg, size_t len, struct col *c, struct mime_stats *st)
{
    static const size_t steps[] = {1, 7, 4093};
    walk_step(msg, len, len ? len : 1, c, st);
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        struct col o;
        struct mime_stats st2;
        walk_step(msg, len, steps[k], &o, &st2);
        assert_int_equal(o.nall, c->nall);
        assert_memory_equal(o.all, c->all, c->nall);
        if (st)
            assert_memory_equal(&st2, st, sizeof st2);
        col_free(&o);
    }
}

#define WALK(s, c, st) walk(s, strlen(s), c, st)

static void test_plain(void **state)
{
    (void)state;
    struct col c;
    WALK("From someone@x.test Thu Aug 22 13:17:22 2002\r\n"
         "Subject: Hello there\r\nFrom: a@b.test\r\n\r\nThe body text.\r\nSecond line\r\n",
         &c, NULL);
    assert_string_equal(c.subj, "Hello there");
    assert_int_equal(c.headers, 1);
    assert_string_equal(c.body, "The body text.\nSecond line\n");
    col_free(&c);
}

static void test_folded_and_encoded_headers(void **state)
{
    (void)state;
    struct col c;
    WALK("Subject: =?ISO-8859-1?Q?caf=E9_au?=\r\n =?UTF-8?B?bGFpdA==?= now\r\n\r\nx\r\n", &c, NULL);
    /* adjacent encoded words join; Latin-1 becomes UTF-8 */
    assert_string_equal(c.subj, "caf\xc3\xa9 aulait now");
    col_free(&c);
}

static void test_multipart_html_qp_b64(void **state)
{
    (void)state;
    struct col c;
    struct mime_stats st;
    WALK("Subject: parts\r\n"
         "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
         "preamble words\r\n"
         "--outer\r\n"
         "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
         "--inner\r\n"
         "Content-Type: text/plain; charset=iso-8859-1\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         "Soft=\r\n broken caf=E9 line=3D\r\n"
         "--inner\r\n"
         "Content-Type: text/html\r\n\r\n"
         "<html><head><style>p {color: red}</style><script>var x=1;</script></head>"
         "<body><p>Hello&nbsp;<b>W</b>orld &amp; &#65;&#x42;</p><!-- hidden --></body></html>\r\n"
         "--inner--\r\n"
         "--outer\r\n"
         "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         "QmFzZTY0IHRl\r\neHQgaGVyZQ==\r\n"
         "--outer\r\n"
         "Content-Type: application/octet-stream; name=\"report.pdf\"\r\n"
         "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.exe\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n"
         "AAECAwQF\r\n"
         "--outer--\r\n"
         "epilogue\r\n",
         &c, &st);
    assert_string_equal(c.subj, "parts");
    assert_non_null(strstr(c.body, "preamble words"));
    assert_non_null(strstr(c.body, "Soft broken caf\xc3\xa9 line=\n"));
    assert_non_null(strstr(c.body, "Hello World & AB"));
    assert_null(strstr(c.body, "color"));
    assert_null(strstr(c.body, "var x"));
    assert_null(strstr(c.body, "hidden"));
    assert_null(strstr(c.body, "<"));
    assert_non_null(strstr(c.body, "Base64 text here"));
    assert_non_null(strstr(c.body, "epilogue"));
    assert_string_equal(c.files, "r\xc3\xa9sum\xc3\xa9.exe|");
    assert_int_equal(st.parts, 6);
    assert_int_equal(st.unclosed, 0);
    col_free(&c);
}

static void test_message_rfc822(void **state)
{
    (void)state;
    struct col c;
    WALK("Subject: fwd\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
         "Content-Type: message/rfc822\r\n\r\nSubject: inner subject\r\nFrom: x@y.test\r\n\r\ninner body\r\n--b--\r\n",
         &c, NULL);
    assert_string_equal(c.subj, "fwd"); /* only the top-level Subject */
    assert_non_null(strstr(c.all, "inner subject"));
    assert_non_null(strstr(c.body, "inner body"));
    col_free(&c);
}

/* ---- malformed input: partial results, never a stop ---- */

static void test_missing_boundary_param(void **state)
{
    (void)state;
    struct col c;
    WALK("Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nstill text\r\n--x--\r\n", &c,
         NULL);
    assert_non_null(strstr(c.body, "still text"));
    col_free(&c);
}

static void test_wrong_boundary(void **state)
{
    (void)state;
    struct col c;
    struct mime_stats st;
    WALK("Content-Type: multipart/mixed; boundary=\"declared\"\r\n\r\n--used\r\nContent-Type: text/plain\r\n\r\n"
         "the real words\r\n--used--\r\n",
         &c, &st);
    assert_non_null(strstr(c.body, "the real words"));
    assert_int_equal(st.unclosed, 1);
    col_free(&c);
}

static void test_missing_close_and_inner_close(void **state)
{
    (void)state;
    struct col c;
    struct mime_stats st;
    /* the inner multipart never closes; the outer boundary ends it */
    WALK("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
         "--i\r\n\r\nfirst\r\n--o\r\n\r\nsecond\r\n",
         &c, &st);
    assert_non_null(strstr(c.body, "first"));
    assert_non_null(strstr(c.body, "second"));
    assert_int_equal(st.unclosed, 2);
    col_free(&c);
}

static void test_bad_base64(void **state)
{
    (void)state;
    struct col c;
    struct mime_stats st;
    WALK("Content-Transfer-Encoding: base64\r\n\r\n!!QmFk**IGJh\x01" "c2U2NA==\r\n####\r\n", &c, &st);
    assert_non_null(strstr(c.body, "Bad base64"));
    assert_true(st.bad_base64 >= 8);
    col_free(&c);
    /* A damaged line ending inside a 4-character group ("YWxwaGF3b3" is 10
     * characters) does not shift the lines after it: they still decode. */
    WALK("Content-Transfer-Encoding: base64\r\n\r\nYWxwaGF3b3!!*&^%\r\n"
         "eHl6IGVwc2lsb253b3Jk\r\n===\r\n", &c, &st);
    assert_non_null(strstr(c.body, "alphawo"));
    assert_non_null(strstr(c.body, "xyz epsilonword"));
    col_free(&c);
    /* An undamaged line may end inside a group (RFC 2045 does not forbid
     * it): the group goes on on the next line. */
    WALK("Content-Transfer-Encoding: base64\r\n\r\nYWxwaGF3b3\r\nJkIGJldGF3b3Jk\r\n", &c, &st);
    assert_non_null(strstr(c.body, "alphaword betaword"));
    col_free(&c);
}

static void test_nul_bytes(void **state)
{
    (void)state;
    static const char m[] = "Subject: a\0b\r\n\r\nbefore\0after\r\n\0\r\nend\r\n";
    struct col c;
    walk(m, sizeof m - 1, &c, NULL);
    assert_int_equal(c.nsubj, 3);
    assert_memory_equal(c.body, "before\0after\n\0\nend\n", 20);
    col_free(&c);
}

static void test_megabyte_line(void **state)
{
    (void)state;
    const size_t big = 1 << 20;
    const char *head = "Subject: long\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nstart ";
    const char *tail = " stop\r\n--zz\r\nX-Long: ";
    const char *tail2 = "\r\n\r\nafter the long header\r\n--zz--\r\n";
    size_t hl = strlen(head), tl = strlen(tail), t2 = strlen(tail2);
    char *m = malloc(hl + big + tl + big + t2);
    memcpy(m, head, hl);
    memset(m + hl, 'a', big);
    memcpy(m + hl + big, tail, tl);
    memset(m + hl + big + tl, 'h', big);
    memcpy(m + hl + big + tl + big, tail2, t2);
    struct col c;
    struct mime_stats st;
    walk(m, hl + big + tl + big + t2, &c, &st);
    assert_non_null(strstr(c.body, "start aaaa"));
    assert_non_null(strstr(c.body, "aaaa stop"));
    assert_non_null(strstr(c.body, "after the long header"));
    assert_int_equal(st.long_lines, 2);
    assert_int_equal(st.long_headers, 1);
    col_free(&c);
    free(m);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    char *m = malloc(100 * 120 + 200), *p = m;
    for (int i = 0; i < 100; i++)
        p += sprintf(p, "%sContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i ? "" : "Subject: deep\r\n", i,
                     i);
    p += sprintf(p, "Content-Type: text/plain\r\n\r\ndeepest words\r\n");
    struct col c;
    struct mime_stats st;
    walk(m, (size_t)(p - m), &c, &st);
    assert_string_equal(c.subj, "deep");
    assert_non_null(strstr(c.body, "deepest words"));
    assert_true(st.too_deep >= 1);
    col_free(&c);
    free(m);
}

static void test_no_blank_line_and_garbage(void **state)
{
    (void)state;
    struct col c;
    WALK("Subject: x\r\nthis line is not a header\r\nmore text\r\n", &c, NULL);
    assert_non_null(strstr(c.body, "this line is not a header"));
    col_free(&c);
    WALK("Subject : spaced\r\nX-Two\t: y\r\nnot a: header\r\n", &c, NULL);
    assert_string_equal(c.subj, "spaced");
    assert_int_equal(c.headers, 1);
    assert_string_equal(c.body, "not a: header\n");
    col_free(&c);
    WALK("", &c, NULL);
    assert_int_equal(c.nbody, 0);
    col_free(&c);
    WALK("\r\n\r\n\r\n", &c, NULL);
    col_free(&c);
    WALK("Content-Type: text/html\r\n\r\n<a href=\"x>y\">link</a> < not a tag & not an entity &#99999999; <unclosed", &c,
         NULL);
    assert_non_null(strstr(c.body, "link"));
    assert_non_null(strstr(c.body, "< not a tag & not an entity"));
    col_free(&c);
}

static void test_param(void **state)
{
    (void)state;
    char out[64];
    const char *v = "multipart/mixed; charset=x; boundary=\"a;b\\\"c\"; name*=us-ascii'en'A%20B";
    assert_int_equal(mime_param(v, strlen(v), "boundary", out, sizeof out), 5);
    assert_string_equal(out, "a;b\"c");
    assert_int_equal(mime_param(v, strlen(v), "name", out, sizeof out), 3);
    assert_string_equal(out, "A B");
    assert_int_equal(mime_param(v, strlen(v), "bound", out, sizeof out), -1);
    assert_int_equal(mime_param(v, strlen(v), "charset", out, 2), 1); /* truncated */
    assert_string_equal(out, "x");
}

static void test_decode_header_edges(void **state)
{
    (void)state;
    char out[64];
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain  text", "plain  text"},
        {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},            /* unknown encoding: as written */
        {"=?utf-8?q?unterminated", "=?utf-8?q?unterminated"}, /* no ?= */
        {"=?", "=?"},
        {"=?utf-8?b?####?=", ""},                           /* no base64 at all: nothing */
        {"a =?us-ascii?q?b?= c", "a b c"},
        {"=?utf-8?q?a?=\r\n\t=?utf-8?q?b?=", "ab"},         /* folded between words */
        {"=?utf-8*en?q?lang?=", "lang"},                    /* RFC 2231 language suffix */
        {"=?iso-8859-1?q?=FF=?=", "\xc3\xbf="},               /* a lone "=" at the end stays */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = mime_decode_header(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_int_equal(n, strlen(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: '%s' -> '%s', want '%s'", i, cases[i].in, out, cases[i].want);
    }
    /* bounded output, always NUL-terminated */
    assert_int_equal(mime_decode_header("abcdef", 6, out, 4), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(mime_decode_header("=?iso-8859-1?q?=E9=E9?=", 23, out, 4), 2); /* a 2-byte char does not fit twice */
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(mime_decode_header("abc", 3, out, 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_folded_and_encoded_headers),
        cmocka_unit_test(test_multipart_html_qp_b64),
        cmocka_unit_test(test_message_rfc822),
        cmocka_unit_test(test_missing_boundary_param),
        cmocka_unit_test(test_wrong_boundary),
        cmocka_unit_test(test_missing_close_and_inner_close),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_megabyte_line),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_no_blank_line_and_garbage),
        cmocka_unit_test(test_param),
        cmocka_unit_test(test_decode_header_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
