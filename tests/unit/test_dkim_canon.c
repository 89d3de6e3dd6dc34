/* Unit tests: DKIM canonicalization (RFC 6376 3.4.6 example), streaming body
 * hashing under every chunking, the tag-list parser and key records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim.h"

struct sink {
    char buf[4096];
    size_t n;
};

static void sink_cb(void *arg, const char *p, size_t n)
{
    struct sink *s = arg;
    assert_true(s->n + n <= sizeof s->buf);
    memcpy(s->buf + s->n, p, n);
    s->n += n;
}

/* Canonical body of text fed in chunks of `step` bytes (0: whole). */
static void canon_body(const char *text, size_t len, enum dkim_canon c, size_t step,
                       struct sink *out, unsigned char hash[32])
{
    struct dkim_body b;
    dkim_body_init(&b, c, UINT64_MAX);
    b.out_cb = sink_cb;
    b.out_arg = out;
    out->n = 0;
    if (!step)
        step = len ? len : 1;
    for (size_t i = 0; i < len; i += step)
        dkim_body_update(&b, text + i, len - i < step ? len - i : step);
    dkim_body_final(&b, hash);
}

static void expect_body(const char *in, enum dkim_canon c, const char *want)
{
    size_t len = strlen(in);
    unsigned char h0[32], h[32], hw[32];
    struct sink s;
    canon_body(in, len, c, 0, &s, h0);
    assert_int_equal(s.n, strlen(want));
    assert_memory_equal(s.buf, want, s.n);
    /* The hash is SHA-256 of exactly the canonical bytes. */
    crypto_hash_sha256(hw, (const unsigned char *)want, strlen(want));
    assert_memory_equal(h0, hw, 32);
    /* Any chunking gives the same output: 1..len byte steps. */
    for (size_t step = 1; step <= len; step++) {
        canon_body(in, len, c, step, &s, h);
        assert_int_equal(s.n, strlen(want));
        assert_memory_equal(s.buf, want, s.n);
        assert_memory_equal(h, h0, 32);
    }
}

static void expect_header(const char *in, enum dkim_canon c, const char *want)
{
    char out[512];
    size_t n = dkim_canon_header(c, in, strlen(in), out);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

/* RFC 6376 3.4.6: "A: X", "B : Y<HTAB><CRLF><SP>Z  " and body " C \r\nD \t E\r\n\r\n\r\n". */
static void test_rfc6376_example(void **state)
{
    expect_header("A: X", DKIM_CANON_RELAXED, "a:X\r\n");
    expect_header("B : Y\t\r\n\tZ  ", DKIM_CANON_RELAXED, "b:Y Z\r\n");
    expect_header("A: X", DKIM_CANON_SIMPLE, "A: X\r\n");
    expect_header("B : Y\t\r\n\tZ  ", DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n");
    /* Bare LF folding is what transport turns into CRLF. */
    expect_header("B : Y\n\tZ", DKIM_CANON_SIMPLE, "B : Y\r\n\tZ\r\n");
    expect_header("B : Y\n\tZ", DKIM_CANON_RELAXED, "b:Y Z\r\n");
    expect_body(" C \r\nD \t E\r\n\r\n\r\n", DKIM_CANON_RELAXED, " C\r\nD E\r\n");
    expect_body(" C \r\nD \t E\r\n\r\n\r\n", DKIM_CANON_SIMPLE, " C \r\nD \t E\r\n");
}

static void test_body_edges(void **state)
{
    /* Empty bodies: simple is one CRLF, relaxed is nothing (RFC 6376 errata 3192). */
    expect_body("", DKIM_CANON_SIMPLE, "\r\n");
    expect_body("", DKIM_CANON_RELAXED, "");
    expect_body("\r\n\r\n", DKIM_CANON_SIMPLE, "\r\n");
    expect_body("\r\n \t\r\n", DKIM_CANON_RELAXED, "");
    /* A last line without CRLF gets one. */
    expect_body("abc", DKIM_CANON_SIMPLE, "abc\r\n");
    expect_body("abc  ", DKIM_CANON_RELAXED, "abc \r\n"); /* not a line end yet: dkimpy */
    expect_body("abc \t\r\n", DKIM_CANON_RELAXED, "abc\r\n");
    /* Inner empty lines are kept, trailing ones dropped. */
    expect_body("a\r\n\r\nb\r\n\r\n", DKIM_CANON_SIMPLE, "a\r\n\r\nb\r\n");
    expect_body("a\r\n \r\nb\r\n \r\n", DKIM_CANON_RELAXED, "a\r\n\r\nb\r\n");
    /* Whitespace-only lines are content in simple mode. */
    expect_body("a\r\n \r\n", DKIM_CANON_SIMPLE, "a\r\n \r\n");
    /* Bare LF is a line end; a lone CR is content. */
    expect_body("a\nb\n\n", DKIM_CANON_SIMPLE, "a\r\nb\r\n");
    expect_body("a\rb\r\n", DKIM_CANON_RELAXED, "a\rb\r\n");
    expect_body("a\r", DKIM_CANON_SIMPLE, "a\r\r\n");
    /* Leading whitespace collapses to one SP in relaxed mode. */
    expect_body("\t\t x\r\n", DKIM_CANON_RELAXED, " x\r\n");
}

static void test_body_limit(void **state)
{
    struct dkim_body b;
    struct sink s = {.n = 0};
    unsigned char h[32], hw[32];
    dkim_body_init(&b, DKIM_CANON_SIMPLE, 5);
    b.out_cb = sink_cb;
    b.out_arg = &s;
    dkim_body_update(&b, "hello world\r\n", 13);
    dkim_body_final(&b, h);
    assert_int_equal(s.n, 5);
    assert_int_equal(b.emitted, 13);
    crypto_hash_sha256(hw, (const unsigned char *)"hello", 5);
    assert_memory_equal(h, hw, 32);
}

/* Random bodies: hashing whole equals hashing at every split point. */
static void test_body_random_splits(void **state)
{
    static const char alphabet[] = "ab \t\r\n";
    char text[200];
    srand(6376);
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)(rand() % (int)sizeof text);
        for (size_t i = 0; i < len; i++)
            text[i] = alphabet[rand() % 6];
        for (int c = 0; c < 2; c++) {
            unsigned char h0[32], h1[32];
            struct sink s0, s1;
            canon_body(text, len, (enum dkim_canon)c, 0, &s0, h0);
            for (size_t cut = 0; cut <= len; cut++) {
                struct dkim_body b;
                dkim_body_init(&b, (enum dkim_canon)c, UINT64_MAX);
                b.out_cb = sink_cb;
                b.out_arg = &s1;
                s1.n = 0;
                dkim_body_update(&b, text, cut);
                dkim_body_update(&b, text + cut, len - cut);
                dkim_body_final(&b, h1);
                assert_memory_equal(h0, h1, 32);
            }
            /* Canonical output never ends in an empty line, never has bare LF. */
            for (size_t i = 0; i < s0.n; i++)
                if (s0.buf[i] == '\n')
                    assert_true(i > 0 && s0.buf[i - 1] == '\r');
            if (s0.n >= 4)
                assert_false(!memcmp(s0.buf + s0.n - 4, "\r\n\r\n", 4));
        }
    }
}

static void test_tags(void **state)
{
    struct dkim_tags t;
    const char *s = " v=1; a = rsa-sha256 ;\r\n\tb=ab cd\r\n ef; h=from:to;";
    assert_int_equal(dkim_tags_parse(s, strlen(s), &t), DKIM_TAGS_OK);
    assert_int_equal(t.n, 4);
    const struct dkim_tag *a = dkim_tags_get(&t, "a");
    assert_non_null(a);
    assert_int_equal(a->vlen, 10);
    assert_memory_equal(a->val, "rsa-sha256", 10);
    const struct dkim_tag *b = dkim_tags_get(&t, "b");
    assert_int_equal(b->vlen, strlen("ab cd\r\n ef"));
    assert_null(dkim_tags_get(&t, "A")); /* tag names are case-sensitive */
    assert_int_equal(dkim_tags_parse("", 0, &t), DKIM_TAGS_OK);
    assert_int_equal(t.n, 0);
    assert_int_equal(dkim_tags_parse("a=1;a=2", 7, &t), DKIM_TAGS_DUP);
    assert_int_equal(dkim_tags_parse("=1", 2, &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(dkim_tags_parse("a", 1, &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(dkim_tags_parse("1a=b", 4, &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(dkim_tags_parse("a=b\x80", 4, &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(dkim_tags_parse("a b=c", 5, &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(dkim_tags_parse("a=", 2, &t), DKIM_TAGS_OK);
    assert_int_equal(t.tag[0].vlen, 0);
    char many[400] = "";
    for (int i = 0; i <= DKIM_TAGS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "t%d=x;", i);
    assert_int_equal(dkim_tags_parse(many, strlen(many), &t), DKIM_TAGS_TOOMANY);
    /* Byte-by-byte prefixes of a valid list never crash and never overrun. */
    for (size_t i = 0; i <= strlen(s); i++) {
        char *copy = malloc(i + 1);
        memcpy(copy, s, i);
        int rc = dkim_tags_parse(copy, i, &t);
        assert_true(rc == DKIM_TAGS_OK || rc == DKIM_TAGS_SYNTAX);
        free(copy);
    }
}

static int keyrec(const char *txt, struct dkim_keyrec *k)
{
    char err[64];
    return dkim_keyrec_parse(txt, strlen(txt), k, err, sizeof err);
}

static void test_keyrec(void **state)
{
    struct dkim_keyrec k;
    /* RFC 8463 A.2 key: the public half of the RFC 8032 7.1 test 1 seed. */
    assert_int_equal(keyrec("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", &k), 0);
    assert_int_equal(k.alg, DKIM_ALG_ED25519_SHA256);
    assert_int_equal(k.publen, 32);
    assert_int_equal(k.pub[0], 0xd7);
    assert_int_equal(keyrec("p=", &k), 0);
    assert_true(k.revoked);
    assert_int_equal(k.alg, DKIM_ALG_RSA_SHA256); /* k= defaults to rsa */
    assert_int_equal(keyrec("v=DKIM1; t=y:s; p=AAAA", &k), 0);
    assert_true(k.testing);
    assert_true(k.strict);
    assert_int_equal(keyrec("v=DKIM1; h=sha1:sha256; s=email; p=AAAA", &k), 0);
    assert_int_equal(keyrec("v=DKIM1; h=sha1; p=AAAA", &k), -1);
    assert_int_equal(keyrec("v=DKIM1; s=tlsrpt; p=AAAA", &k), -1);
    assert_int_equal(keyrec("k=rsa; v=DKIM1; p=AAAA", &k), -1); /* v= must come first */
    assert_int_equal(keyrec("v=DKIM2; p=AAAA", &k), -1);
    assert_int_equal(keyrec("v=DKIM1; k=dsa; p=AAAA", &k), -1);
    assert_int_equal(keyrec("v=DKIM1; k=rsa", &k), -1);
    assert_int_equal(keyrec("v=DKIM1; p=!!!", &k), -1);
    assert_int_equal(keyrec("v=DKIM1; k=ed25519; p=AAAA", &k), -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6376_example), cmocka_unit_test(test_body_edges),
        cmocka_unit_test(test_body_limit),      cmocka_unit_test(test_body_random_splits),
        cmocka_unit_test(test_tags),            cmocka_unit_test(test_keyrec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
