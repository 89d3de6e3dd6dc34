/* Unit tests of the SPF parser, macro expander and evaluator state machine.
 * Expected values come from RFC 7208 (§5, §7.4 examples) and its ABNF.
 * The evaluator itself is in test_spf_eval.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf.h"
#include "spf_int.h"

/* ---- macro expansion: RFC 7208 §7.4 ---------------------------------- */

static spf_macro_env rfc_env(void)
{
    spf_macro_env e = {
        .s = "strong-bad@email.example.com", .l = "strong-bad", .o = "email.example.com",
        .d = "email.example.com", .h = "mx.example.org", .i = "192.0.2.3", .c = "192.0.2.3",
        .v = "in-addr", .p = NULL, .r = "rx.example.net", .t = 1234567890,
    };
    return e;
}

static void expect_expand(const spf_macro_env *e, const char *in, int exp_mode, const char *want)
{
    char out[SPF_EXPAND_MAX];
    int rc = spf_macro_expand(e, in, strlen(in), exp_mode, out, sizeof out);
    if (rc != SPF_MACRO_OK || strcasecmp(out, want) != 0)
        fail_msg("expand %s: rc=%d got '%s' want '%s'", in, rc, out, want);
}

static void test_macro_rfc_examples(void **st)
{
    (void)st;
    spf_macro_env e = rfc_env();
    static const char *v[][2] = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
        {"%%%_%-", "% %20"},
        {"%{h}", "mx.example.org"},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        expect_expand(&e, v[k][0], 0, v[k][1]);
}

static void test_macro_ipv6_example(void **st)
{
    (void)st;
    /* §7.4 IPv6 example; compared without case (nibble case is free in DNS) */
    spf_macro_env e = rfc_env();
    e.i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1";
    e.v = "ip6";
    expect_expand(&e, "%{ir}.%{v}._spf.%{d2}",
                  0, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

static void test_macro_exp_letters_and_escape(void **st)
{
    (void)st;
    spf_macro_env e = rfc_env();
    char out[SPF_EXPAND_MAX];
    /* c, r, t only in explanation text (§7.1) */
    assert_int_equal(spf_macro_expand(&e, "%{c}", 4, 0, out, sizeof out), SPF_MACRO_SYNTAX);
    expect_expand(&e, "%{c} via %{r} at %{t}", 1, "192.0.2.3 via rx.example.net at 1234567890");
    /* upper case letters are URL-escaped after expansion (§7.3) */
    e.l = "~jack&jill=up-a_b3.c";
    expect_expand(&e, "l=%{L}", 0, "l=~jack%26jill%3Dup-a_b3.c");
    /* %{p} needs DNS: reported, not invented */
    assert_int_equal(spf_macro_expand(&e, "%{p}.x", 6, 0, out, sizeof out), SPF_MACRO_NEED_P);
    e.p = "mx.example.com";
    expect_expand(&e, "%{p2}", 0, "example.com");
    /* several delimiters at once */
    e.l = "foo-bar+zip+quux";
    expect_expand(&e, "%{l2r+-}", 0, "bar.foo");
}

static void test_macro_syntax_errors(void **st)
{
    (void)st;
    static const char *bad[] = {"%", "%a", "%{", "%{x}", "%{l0}", "%{l", "foo%.x", "%(ir)",
                                "%{ir", "a b"};
    spf_macro_env e = rfc_env();
    char out[SPF_EXPAND_MAX];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        if (spf_macro_check(bad[k], strlen(bad[k]), 0) != -1)
            fail_msg("macro '%s' accepted", bad[k]);
        assert_int_equal(spf_macro_expand(&e, bad[k], strlen(bad[k]), 0, out, sizeof out),
                         SPF_MACRO_SYNTAX);
    }
    assert_int_equal(spf_macro_check("a b", 3, 1), 0); /* spaces only in exp text */
}

static void test_domain_finish(void **st)
{
    (void)st;
    char buf[SPF_EXPAND_MAX];
    strcpy(buf, "example.com.");
    assert_int_equal(spf_domain_finish(buf), 0);
    assert_string_equal(buf, "example.com");
    strcpy(buf, "mail.example...com");
    assert_int_equal(spf_domain_finish(buf), -1);
    memset(buf, 'a', 64);
    strcpy(buf + 64, ".example.com");
    assert_int_equal(spf_domain_finish(buf), -1);
    /* > 253: labels cut from the left until it fits (§7.3) */
    buf[0] = '\0';
    for (int k = 0; k < 30; k++)
        strcat(buf, "label0000.");
    strcat(buf, "example.com");
    assert_int_equal(spf_domain_finish(buf), 0);
    assert_true(strlen(buf) <= SPF_NAME_MAX);
    assert_true(strlen(buf) > SPF_NAME_MAX - 10);
    size_t n = strlen(buf);
    assert_string_equal(buf + n - 12, ".example.com");
    assert_true(strncmp(buf, "label0000.", 10) == 0);
}

/* ---- CIDR and addresses ---------------------------------------------- */

static void test_cidr_and_ip4(void **st)
{
    (void)st;
    assert_int_equal(spf_parse_cidr("0", 1, 32), 0);
    assert_int_equal(spf_parse_cidr("32", 2, 32), 32);
    assert_int_equal(spf_parse_cidr("33", 2, 32), -1);
    assert_int_equal(spf_parse_cidr("032", 3, 32), -1); /* no leading zeros */
    assert_int_equal(spf_parse_cidr("128", 3, 128), 128);
    assert_int_equal(spf_parse_cidr("129", 3, 128), -1);
    assert_int_equal(spf_parse_cidr("", 0, 32), -1);
    assert_int_equal(spf_parse_cidr("1a", 2, 32), -1);
    uint8_t a[4];
    assert_int_equal(spf_parse_ip4("192.0.2.1", 9, a), 0);
    assert_int_equal(a[0], 192);
    assert_int_equal(a[3], 1);
    static const char *bad[] = {"1.2.3", "01.2.3.4", "256.1.1.1", "1.2.3.4.5", "1..2.3", "1.2.3.4 "};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(spf_parse_ip4(bad[k], strlen(bad[k]), a), -1);
    uint8_t x[4] = {192, 0, 2, 129}, y[4] = {192, 0, 2, 1};
    assert_true(spf_ip_match(x, y, 4, 24));
    assert_false(spf_ip_match(x, y, 4, 25));
    assert_true(spf_ip_match(x, y, 4, 0));
    assert_false(spf_ip_match(x, y, 4, 32));
}

/* ---- record parsing ---------------------------------------------------- */

static void test_record_syntax_table(void **st)
{
    (void)st;
    static const struct {
        const char *rec;
        int ok;
    } t[] = {
        {"v=spf1", 1}, {"v=spf1 -all", 1}, {"V=SpF1 ~ALL", 1}, {"v=spf1  a  -all ", 1},
        {"v=spf1 a/24//64 mx:foo.example.com/0 ptr ptr:example.com exists:%{i}.bl.example.com", 1},
        {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip6:::10.77.0.1/0", 1},
        {"v=spf1 moo.cow-far_out=man:dog/cat -all", 1}, {"v=spf1 default=+", 1},
        {"v=spf1 x-note=%{c}.%{r}.%{t} -all", 1}, {"v=spf1 x-note=%{x} -all", 0},
        {"v=spf1 a:foo:bar/baz.example.com", 1}, {"v=spf1 a:foo.example.xn--zckzah", 1},
        {"v=spf1 include:_spf.%{d2} redirect=%{d}.d.example.com. exp=msg.%{D2}", 1},
        {"v=spf10", 0}, {"v=spf1 -all.", 0}, {"v=spf1 -all:foo", 0}, {"v=spf1 all/8", 0},
        {"v=spf1 ptr/0", 0}, {"v=spf1 ptr:", 0}, {"v=spf1 a:", 0}, {"v=spf1 a//129", 0},
        {"v=spf1 a/33", 0}, {"v=spf1 a/24/64", 0}, {"v=spf1 a:museum", 0}, {"v=spf1 a:museum.", 0},
        {"v=spf1 a:111.222.33.44", 0}, {"v=spf1 a:abc.123", 0}, {"v=spf1 a:example.-com", 0},
        {"v=spf1 a:example.com:8080", 0}, {"v=spf1 include", 0}, {"v=spf1 include:x.com/24", 0},
        {"v=spf1 exists", 0}, {"v=spf1 ip4", 0}, {"v=spf1 ip4:1.2.3", 0},
        {"v=spf1 ip4:1.2.3.4//32", 0}, {"v=spf1 ip4:1.2.3.4/032", 0}, {"v=spf1 ip6::CAFE::BABE", 0},
        {"v=spf1 ip6:::1//33", 0}, {"v=spf1 redirect:x.example.com", 0}, {"v=spf1 1up=foo", 0},
        {"v=spf1 =all", 0}, {"v=spf1 foo=%abc", 0}, {"v=spf1 exp= -all", 0},
        {"v=spf1 exp=a.example.com exp=b.example.com", 0}, {"v=spf1 redirect=-all", 0},
        {"v=spf1 -all moo", 0}, {"v=spf1 a:%{r}.example.com", 0}, {"v=spf1 a:x.com\r-all", 0},
        {"v=spf1 -exists:%(ir).sbl.example.com", 0}, {"v=spf1 \x80" "a", 0},
    };
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        spf_record *r = malloc(sizeof *r);
        const char *err = NULL;
        int rc = spf_record_parse(t[k].rec, strlen(t[k].rec), r, &err);
        if ((rc == 0) != t[k].ok)
            fail_msg("record '%s': rc=%d (%s), want ok=%d", t[k].rec, rc, err ? err : "", t[k].ok);
        if (!t[k].ok)
            assert_non_null(err);
        free(r);
    }
}

static void test_record_fields(void **st)
{
    (void)st;
    const char *txt = "v=spf1 -a:foo.example.com/24//64 ~mx//96 ip4:192.0.2.0/25 ?ip6:2001:db8::1 "
                      "redirect=r.example.com exp=e.example.com +all";
    spf_record *r = malloc(sizeof *r);
    assert_int_equal(spf_record_parse(txt, strlen(txt), r, NULL), 0);
    assert_int_equal(r->nterms, 7);
    const spf_term *t = &r->terms[0];
    assert_int_equal(t->kind, SPF_K_A);
    assert_int_equal(t->qual, '-');
    assert_int_equal(t->cidr4, 24);
    assert_int_equal(t->cidr6, 64);
    assert_int_equal(t->alen, strlen("foo.example.com"));
    assert_memory_equal(txt + t->aoff, "foo.example.com", t->alen);
    t = &r->terms[1];
    assert_int_equal(t->kind, SPF_K_MX);
    assert_int_equal(t->qual, '~');
    assert_int_equal(t->cidr4, 32);
    assert_int_equal(t->cidr6, 96);
    assert_int_equal(t->alen, 0);
    t = &r->terms[2];
    assert_int_equal(t->kind, SPF_K_IP4);
    assert_int_equal(t->cidr4, 25);
    assert_int_equal(t->ip[0], 192);
    t = &r->terms[3];
    assert_int_equal(t->kind, SPF_K_IP6);
    assert_int_equal(t->qual, '?');
    assert_int_equal(t->ip[0], 0x20);
    assert_int_equal(t->ip[15], 1);
    assert_int_equal(r->redirect, 4);
    assert_int_equal(r->exp, 5);
    assert_int_equal(r->terms[6].kind, SPF_K_ALL);
    assert_memory_equal(txt + r->terms[6].toff, "+all", r->terms[6].tlen);
    free(r);
}

static void test_is_record(void **st)
{
    (void)st;
    assert_true(spf_is_record("v=spf1", 6));
    assert_true(spf_is_record("v=spf1 -all", 11));
    assert_false(spf_is_record("v=spf1mx", 8));
    assert_false(spf_is_record("v=spf10", 7));
    assert_false(spf_is_record("spf1", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_macro_rfc_examples),
        cmocka_unit_test(test_macro_ipv6_example),
        cmocka_unit_test(test_macro_exp_letters_and_escape),
        cmocka_unit_test(test_macro_syntax_errors),
        cmocka_unit_test(test_domain_finish),
        cmocka_unit_test(test_cidr_and_ip4),
        cmocka_unit_test(test_record_syntax_table),
        cmocka_unit_test(test_record_fields),
        cmocka_unit_test(test_is_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
