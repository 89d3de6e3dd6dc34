/* The SPF evaluator driven through spf_step/spf_answer by a table zone:
 * resumability, the processing limits of RFC 7208 §4.6.4, identities,
 * and the header formatters. (The full conformance suite runs the CLI
 * against a real DNS server in tests/proc/test_spf_suite.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf.h"

#define ZONE_MAX_RR 16
#define LOG_MAX 64

typedef struct {
    const char *name;
    int type;
    int rcode;
    const char *rr[ZONE_MAX_RR]; /* TXT text, MX/PTR target, A/AAAA address */
} zent;

typedef struct {
    const zent *zone;
    char log[LOG_MAX][300];
    int nlog;
} drv;

static void answer_from_zone(drv *d, spf_ctx *c)
{
    const char *name = spf_query_name(c);
    int type = spf_query_type(c);
    if (d->nlog < LOG_MAX)
        snprintf(d->log[d->nlog++], sizeof d->log[0], "%d %s", type, name);
    for (const zent *z = d->zone; z->name; z++) {
        if (strcasecmp(z->name, name) != 0 || z->type != type)
            continue;
        spf_rdata rr[ZONE_MAX_RR];
        size_t n = 0;
        memset(rr, 0, sizeof rr);
        for (; n < ZONE_MAX_RR && z->rr[n]; n++) {
            rr[n].type = (uint16_t)type;
            if (type == SPF_T_A)
                inet_pton(AF_INET, z->rr[n], rr[n].addr);
            else if (type == SPF_T_AAAA)
                inet_pton(AF_INET6, z->rr[n], rr[n].addr);
            rr[n].data = z->rr[n];
            rr[n].len = strlen(z->rr[n]);
        }
        assert_int_equal(spf_answer(c, z->rcode, rr, n), 0);
        return;
    }
    /* names not in the table do not exist */
    assert_int_equal(spf_answer(c, SPF_RCODE_NXDOMAIN, NULL, 0), 0);
}

static spf_result run(drv *d, spf_ctx *c, const char *ip, const char *sender, const char *helo)
{
    spf_begin(c, ip, sender, helo, "rx.test");
    int guard = 0;
    while (spf_step(c) == SPF_NEED_DNS) {
        assert_true(++guard < 500);
        answer_from_zone(d, c);
    }
    return spf_get_result(c);
}

static int logged(const drv *d, const char *entry)
{
    for (int i = 0; i < d->nlog; i++)
        if (strcasecmp(d->log[i], entry) == 0)
            return 1;
    return 0;
}

static void test_include_and_mechanism(void **st)
{
    (void)st;
    static const zent z[] = {
        {"example.test", SPF_T_TXT, 0, {"unrelated text", "v=spf1 include:a.example.test -all"}},
        {"a.example.test", SPF_T_TXT, 0, {"v=spf1 ip4:192.0.2.0/24 -all"}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    assert_int_equal(run(&d, c, "192.0.2.7", "u@example.test", "h.example.test"), SPF_RES_PASS);
    assert_string_equal(spf_get_mechanism(c), "include:a.example.test");
    assert_int_equal(spf_get_lookups(c), 1);
    assert_int_equal(d.nlog, 2);
    /* fail inside an include is "no match": evaluation goes on to -all */
    d.nlog = 0;
    assert_int_equal(run(&d, c, "198.51.100.1", "u@example.test", "h.example.test"), SPF_RES_FAIL);
    assert_string_equal(spf_get_mechanism(c), "-all");
    assert_true(strlen(spf_get_explanation(c)) > 0);
    assert_int_equal(spf_answer(c, 0, NULL, 0), -1); /* nothing pending */
    spf_free(c);
}

static void test_lookup_limit(void **st)
{
    (void)st;
    static const zent z[] = {
        {"lim.test", SPF_T_TXT, 0,
         {"v=spf1 a:h1.lim.test a:h2.lim.test a:h3.lim.test a:h4.lim.test a:h5.lim.test "
          "a:h6.lim.test a:h7.lim.test a:h8.lim.test a:h9.lim.test a:h10.lim.test "
          "a:h11.lim.test +all"}},
        {"h1.lim.test", SPF_T_A, 0, {"10.0.0.1"}}, {"h2.lim.test", SPF_T_A, 0, {"10.0.0.2"}},
        {"h3.lim.test", SPF_T_A, 0, {"10.0.0.3"}}, {"h4.lim.test", SPF_T_A, 0, {"10.0.0.4"}},
        {"h5.lim.test", SPF_T_A, 0, {"10.0.0.5"}}, {"h6.lim.test", SPF_T_A, 0, {"10.0.0.6"}},
        {"h7.lim.test", SPF_T_A, 0, {"10.0.0.7"}}, {"h8.lim.test", SPF_T_A, 0, {"10.0.0.8"}},
        {"h9.lim.test", SPF_T_A, 0, {"10.0.0.9"}}, {"h10.lim.test", SPF_T_A, 0, {"10.0.0.10"}},
        {"h11.lim.test", SPF_T_A, 0, {"192.0.2.1"}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    assert_int_equal(run(&d, c, "192.0.2.1", "u@lim.test", "h"), SPF_RES_PERMERROR);
    /* the 11th term is refused before its query goes out */
    assert_true(logged(&d, "1 h10.lim.test"));
    assert_false(logged(&d, "1 h11.lim.test"));
    spf_free(c);
}

static void test_void_limit(void **st)
{
    (void)st;
    static const zent z[] = {
        {"two.test", SPF_T_TXT, 0, {"v=spf1 a:nx1.two.test mx:nx2.two.test ?all"}},
        {"three.test", SPF_T_TXT, 0, {"v=spf1 a:nx1.two.test mx:nx2.two.test exists:nx3.two.test ?all"}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    assert_int_equal(run(&d, c, "192.0.2.1", "u@two.test", "h"), SPF_RES_NEUTRAL);
    assert_int_equal(run(&d, c, "192.0.2.1", "u@three.test", "h"), SPF_RES_PERMERROR);
    spf_free(c);
}

static void test_mx_and_limits(void **st)
{
    (void)st;
    static const zent z[] = {
        {"mx.test", SPF_T_TXT, 0, {"v=spf1 mx/24 -all"}},
        {"mx.test", SPF_T_MX, 0, {"a.mx.test", "b.mx.test"}},
        {"a.mx.test", SPF_T_A, 0, {"10.1.1.1"}},
        {"b.mx.test", SPF_T_A, 0, {"192.0.2.200"}},
        {"many.test", SPF_T_TXT, 0, {"v=spf1 mx -all"}},
        {"many.test", SPF_T_MX, 0, {"m1.test", "m2.test", "m3.test", "m4.test", "m5.test", "m6.test",
                                    "m7.test", "m8.test", "m9.test", "m10.test", "m11.test"}},
        {"tmp.test", SPF_T_TXT, SPF_RCODE_TIMEOUT, {NULL}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    assert_int_equal(run(&d, c, "192.0.2.9", "u@mx.test", "h"), SPF_RES_PASS);
    assert_string_equal(spf_get_mechanism(c), "mx/24");
    assert_int_equal(run(&d, c, "198.51.100.9", "u@mx.test", "h"), SPF_RES_FAIL);
    assert_int_equal(run(&d, c, "192.0.2.9", "u@many.test", "h"), SPF_RES_PERMERROR);
    assert_int_equal(run(&d, c, "192.0.2.9", "u@tmp.test", "h"), SPF_RES_TEMPERROR);
    spf_free(c);
}

static void test_ptr_and_p_macro(void **st)
{
    (void)st;
    static const zent z[] = {
        {"p.test", SPF_T_TXT, 0, {"v=spf1 ptr:good.test -all exp=why.p.test"}},
        {"why.p.test", SPF_T_TXT, 0, {"host %{p} from %{i} is not %{d}"}},
        {"7.2.0.192.in-addr.arpa", SPF_T_PTR, 0, {"fake.good.test", "mail.other.test"}},
        {"fake.good.test", SPF_T_A, 0, {"10.9.9.9"}},
        {"mail.other.test", SPF_T_A, 0, {"192.0.2.7"}},
        {"8.2.0.192.in-addr.arpa", SPF_T_PTR, 0, {"mx.good.test"}},
        {"mx.good.test", SPF_T_A, 0, {"192.0.2.8"}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    /* fake.good.test does not validate, so ptr:good.test does not match */
    assert_int_equal(run(&d, c, "192.0.2.7", "u@p.test", "h"), SPF_RES_FAIL);
    assert_string_equal(spf_get_explanation(c), "host mail.other.test from 192.0.2.7 is not p.test");
    assert_int_equal(run(&d, c, "192.0.2.8", "u@p.test", "h"), SPF_RES_PASS);
    spf_free(c);
}

static void test_identities_and_headers(void **st)
{
    (void)st;
    static const zent z[] = {
        {"helo.test", SPF_T_TXT, 0, {"v=spf1 ip6:2001:db8::/32 ip4:192.0.2.1 -all"}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    char buf[1024];
    /* null reverse-path: the HELO identity as postmaster@helo */
    assert_int_equal(run(&d, c, "::ffff:192.0.2.1", "", "helo.test"), SPF_RES_PASS);
    assert_string_equal(spf_get_identity(c), "helo");
    assert_string_equal(spf_get_sender(c), "postmaster@helo.test");
    spf_format_authres(c, buf, sizeof buf);
    assert_string_equal(buf, "spf=pass smtp.helo=helo.test");
    spf_format_received(c, buf, sizeof buf);
    assert_non_null(strstr(buf, "Received-SPF: pass (rx.test: domain of postmaster@helo.test "
                                "designates 192.0.2.1 as permitted sender)"));
    assert_non_null(strstr(buf, " client-ip=192.0.2.1;"));
    assert_non_null(strstr(buf, " identity=helo;"));
    assert_non_null(strstr(buf, " mechanism=\"ip4:192.0.2.1\";"));
    assert_int_equal(run(&d, c, "2001:db8::25", "x(y)@helo.test", "h"), SPF_RES_PASS);
    spf_format_received(c, buf, sizeof buf);
    assert_non_null(strstr(buf, "domain of x\\(y\\)@helo.test designates 2001:db8::25"));
    assert_non_null(strstr(buf, "envelope-from=\"x(y)@helo.test\";"));
    spf_format_authres(c, buf, sizeof buf);
    assert_string_equal(buf, "spf=pass smtp.mailfrom=\"x(y)@helo.test\"");
    assert_int_equal(run(&d, c, "192.0.2.2", "u@helo.test", "h"), SPF_RES_FAIL);
    spf_format_authres(c, buf, sizeof buf);
    assert_string_equal(buf, "spf=fail smtp.mailfrom=u@helo.test");
    /* malformed sender domains give none without any query (§4.3) */
    d.nlog = 0;
    assert_int_equal(run(&d, c, "192.0.2.1", "u@[192.0.2.1]", "h"), SPF_RES_NONE);
    assert_int_equal(run(&d, c, "192.0.2.1", "u@single", "h"), SPF_RES_NONE);
    assert_int_equal(run(&d, c, "192.0.2.1", "u@a..b.test", "h"), SPF_RES_NONE);
    assert_int_equal(d.nlog, 0);
    assert_int_equal(spf_begin(c, "not-an-ip", "u@helo.test", "h", "rx"), -1);
    assert_int_equal(spf_step(c), SPF_DONE);
    assert_int_equal(spf_get_result(c), SPF_RES_PERMERROR);
    spf_free(c);
}

static void test_multiple_records_and_cname_noise(void **st)
{
    (void)st;
    static const zent z[] = {
        {"dup.test", SPF_T_TXT, 0, {"v=spf1 -all", "V=SPF1 +all"}},
        {"none.test", SPF_T_TXT, 0, {"v=spf10 +all", "hello"}},
        {NULL, 0, 0, {NULL}},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    assert_int_equal(run(&d, c, "192.0.2.1", "u@dup.test", "h"), SPF_RES_PERMERROR);
    assert_int_equal(run(&d, c, "192.0.2.1", "u@none.test", "h"), SPF_RES_NONE);
    /* records of another type in the answer (a resolver's CNAME) are ignored */
    spf_begin(c, "192.0.2.1", "u@alias.test", "h", "rx");
    assert_int_equal(spf_step(c), SPF_NEED_DNS);
    spf_rdata rr[2] = {{.type = 5, .data = "real.test", .len = 9},
                       {.type = SPF_T_TXT, .data = "v=spf1 +all", .len = 11}};
    assert_int_equal(spf_answer(c, 0, rr, 2), 0);
    assert_int_equal(spf_step(c), SPF_DONE);
    assert_int_equal(spf_get_result(c), SPF_RES_PASS);
    spf_free(c);
}

static void test_received_spf_every_result(void **st)
{
    (void)st;
    static const zent z[] = {
        {"f.test", SPF_T_TXT, 0, {"v=spf1 -all"}},
        {"s.test", SPF_T_TXT, 0, {"v=spf1 ~all"}},
        {"n.test", SPF_T_TXT, 0, {"v=spf1 ?all"}},
        {"p.test", SPF_T_TXT, 0, {"v=spf1 +all"}},
        {"x.test", SPF_T_TXT, 0, {"v=spf1 bogus -all"}},
        {"t.test", SPF_T_TXT, SPF_RCODE_SERVFAIL, {NULL}},
        {NULL, 0, 0, {NULL}},
    };
    static const struct {
        const char *sender;
        spf_result r;
        const char *phrase;
        int has_mech, has_problem;
    } t[] = {
        {"u@f.test", SPF_RES_FAIL, "fail (rx.test: domain of u@f.test does not designate 192.0.2.1 as permitted sender)", 1, 0},
        {"u@s.test", SPF_RES_SOFTFAIL, "softfail (rx.test: domain of transitioning u@s.test does not designate 192.0.2.1 as permitted sender)", 1, 0},
        {"u@n.test", SPF_RES_NEUTRAL, "neutral (rx.test: 192.0.2.1 is neither permitted nor denied by domain of u@n.test)", 1, 0},
        {"u@p.test", SPF_RES_PASS, "pass (rx.test: domain of u@p.test designates 192.0.2.1 as permitted sender)", 1, 0},
        {"u@none.test", SPF_RES_NONE, "none (rx.test: domain of u@none.test does not designate permitted sender hosts)", 0, 0},
        {"u@x.test", SPF_RES_PERMERROR, "permerror (rx.test: permanent error in processing domain of x.test: syntax error: unknown mechanism)", 0, 1},
        {"u@t.test", SPF_RES_TEMPERROR, "temperror (rx.test: error in processing during lookup of u@t.test: DNS error on TXT lookup)", 0, 1},
    };
    drv d = {.zone = z};
    spf_ctx *c = spf_new();
    char buf[1024], want[300];
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        assert_int_equal(run(&d, c, "192.0.2.1", t[k].sender, "h.test"), t[k].r);
        size_t n = spf_format_received(c, buf, sizeof buf);
        assert_int_equal(n, strlen(buf));
        snprintf(want, sizeof want, "Received-SPF: %s client-ip=192.0.2.1;", t[k].phrase);
        if (strncmp(buf, want, strlen(want)) != 0)
            fail_msg("got  %s\nwant %s", buf, want);
        assert_int_equal(strstr(buf, " mechanism=") != NULL, t[k].has_mech);
        assert_int_equal(strstr(buf, " problem=") != NULL, t[k].has_problem);
        assert_int_equal(buf[strlen(buf) - 1], ';');
        /* a too-small buffer truncates but reports the full length */
        char small[16];
        assert_int_equal(spf_format_received(c, small, sizeof small), n);
        assert_int_equal(strlen(small), sizeof small - 1);
    }
    spf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_include_and_mechanism),
        cmocka_unit_test(test_lookup_limit),
        cmocka_unit_test(test_void_limit),
        cmocka_unit_test(test_mx_and_limits),
        cmocka_unit_test(test_ptr_and_p_macro),
        cmocka_unit_test(test_identities_and_headers),
        cmocka_unit_test(test_multiple_records_and_cname_noise),
        cmocka_unit_test(test_received_spf_every_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
