/* Unit tests of the DMARC library: record parsing (RFC 7489 §6.3),
 * organizational domains over the real Public Suffix List (vectors from the
 * PSL project's checkPublicSuffix tests), alignment (§3.1), discovery
 * (§6.6.3) and policy evaluation with pct sampling (§6.6.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

static dmarc_psl *real_psl;

static int setup(void **st)
{
    (void)st;
    real_psl = dmarc_psl_load(NULL);
    return real_psl ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    dmarc_psl_free(real_psl);
    return 0;
}

static void test_record_parse(void **st)
{
    (void)st;
    dmarc_record r;
    const char *txt = "v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; "
                      "rua=mailto:agg@example.test; ruf=mailto:f@example.test; fo=1";
    assert_int_equal(dmarc_record_parse(txt, strlen(txt), &r, NULL), 0);
    assert_int_equal(r.p, DMARC_P_REJECT);
    assert_int_equal(r.sp, DMARC_P_QUARANTINE);
    assert_int_equal(r.pct, 50);
    assert_int_equal(r.adkim, 's');
    assert_int_equal(r.aspf, 'r');
    assert_true(r.has_rua);

    txt = "v = DMARC1 ;p = none;";
    assert_int_equal(dmarc_record_parse(txt, strlen(txt), &r, NULL), 0);
    assert_int_equal(r.p, DMARC_P_NONE);
    assert_int_equal(r.sp, DMARC_P_UNSET);
    assert_int_equal(r.pct, 100);
    assert_int_equal(r.adkim, 'r');
    assert_int_equal(r.aspf, 'r');

    /* invalid optional values fall back to defaults */
    txt = "v=DMARC1; p=Quarantine; sp=sometimes; pct=101; adkim=x; aspf=strict; foo=bar";
    assert_int_equal(dmarc_record_parse(txt, strlen(txt), &r, NULL), 0);
    assert_int_equal(r.p, DMARC_P_QUARANTINE);
    assert_int_equal(r.sp, DMARC_P_UNSET);
    assert_int_equal(r.pct, 100);
    assert_int_equal(r.adkim, 'r');
    assert_int_equal(r.aspf, 'r');

    /* §6.6.3: no usable p but a rua: p=none */
    txt = "v=DMARC1; p=bogus; rua=mailto:a@example.test";
    assert_int_equal(dmarc_record_parse(txt, strlen(txt), &r, NULL), 0);
    assert_int_equal(r.p, DMARC_P_NONE);

    static const char *bad[] = {
        "v=DMARC1", "v=DMARC1; p=bogus", "p=reject; v=DMARC1", "v=DMARC2; p=reject",
        "v=DMARC1p=reject", " v=DMARC1; p=reject", "v=DMARC1; p", "v=spf1 -all", "",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *err = NULL;
        if (dmarc_record_parse(bad[k], strlen(bad[k]), &r, &err) != -1)
            fail_msg("accepted '%s'", bad[k]);
        assert_non_null(err);
    }
}

static void test_record_every_prefix(void **st)
{
    (void)st;
    /* truncated input never crashes and never reads past its length */
    const char *txt = "v=DMARC1; p=reject; sp=none; pct=7; adkim=s; aspf=s; rua=mailto:x@y.test";
    size_t n = strlen(txt);
    int accepted = 0;
    for (size_t k = 0; k <= n; k++) {
        char *copy = malloc(k ? k : 1);
        memcpy(copy, txt, k);
        dmarc_record r;
        accepted += dmarc_record_parse(copy, k, &r, NULL) == 0;
        free(copy);
    }
    assert_true(accepted > 0 && accepted < (int)n);
}

static void expect_org(const dmarc_psl *psl, const char *dom, const char *want)
{
    char out[256];
    if (dmarc_org_domain(psl, dom, out, sizeof out) != 0 || strcmp(out, want) != 0)
        fail_msg("org(%s) = '%s', want '%s'", dom, out, want);
}

static void test_org_domain_real_psl(void **st)
{
    (void)st;
    assert_true(dmarc_psl_rules(real_psl) > 5000); /* Debian's publicsuffix package */
    static const char *v[][2] = {
        {"example.com", "example.com"},       {"b.example.com", "example.com"},
        {"a.b.example.com", "example.com"},   {"WWW.Example.COM.", "example.com"},
        {"a.b.example.uk.com", "example.uk.com"}, {"test.ac", "test.ac"},
        {"b.c.mm", "b.c.mm"},                 {"a.b.c.mm", "b.c.mm"},
        {"www.ck", "www.ck"},                 {"www.www.ck", "www.ck"},
        {"test.kyoto.jp", "test.kyoto.jp"},   {"b.ide.kyoto.jp", "b.ide.kyoto.jp"},
        {"a.b.ide.kyoto.jp", "b.ide.kyoto.jp"}, {"b.c.kobe.jp", "b.c.kobe.jp"},
        {"www.city.kobe.jp", "city.kobe.jp"}, {"a.b.example.co.uk", "example.co.uk"},
        {"mail.example.test", "example.test"}, {"x.y.z.example.test", "example.test"},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        expect_org(real_psl, v[k][0], v[k][1]);
    char out[256];
    assert_int_equal(dmarc_org_domain(real_psl, "", out, sizeof out), -1);
    assert_int_equal(dmarc_org_domain(real_psl, "a..b.test", out, sizeof out), -1);
    assert_int_equal(dmarc_org_domain(real_psl, ".a.test", out, sizeof out), -1);
    assert_int_equal(dmarc_org_domain(real_psl, "a.example.test", out, 5), -1);
}

static void test_org_domain_fallback_and_memory(void **st)
{
    (void)st;
    /* no list file: only the "*" rule, i.e. the last two labels */
    dmarc_psl *none = dmarc_psl_load("/nonexistent/psl.dat");
    assert_non_null(none);
    assert_int_equal(dmarc_psl_rules(none), 0);
    expect_org(none, "a.b.example.co.uk", "co.uk");
    expect_org(none, "mail.example.test", "example.test");
    expect_org(none, "test", "test");
    dmarc_psl_free(none);

    const char list[] = "// comment line\ncom\n*.foo.com\n!bar.foo.com\n  co.test  trailing\n\n";
    dmarc_psl *m = dmarc_psl_load_mem(list, sizeof list - 1);
    assert_non_null(m);
    assert_int_equal(dmarc_psl_rules(m), 4);
    expect_org(m, "a.b.example.com", "example.com");
    expect_org(m, "x.y.foo.com", "x.y.foo.com"); /* y.foo.com is public */
    expect_org(m, "w.x.y.foo.com", "x.y.foo.com");
    expect_org(m, "a.bar.foo.com", "bar.foo.com");
    expect_org(m, "a.b.co.test", "b.co.test");
    dmarc_psl_free(m);
}

static void test_alignment(void **st)
{
    (void)st;
    assert_true(dmarc_aligned(real_psl, "example.com", "mail.example.com", 'r'));
    assert_false(dmarc_aligned(real_psl, "example.com", "mail.example.com", 's'));
    assert_true(dmarc_aligned(real_psl, "Example.COM", "example.com.", 's'));
    assert_false(dmarc_aligned(real_psl, "example.com", "example.net", 'r'));
    assert_true(dmarc_aligned(real_psl, "a.example.co.uk", "b.example.co.uk", 'r'));
    assert_false(dmarc_aligned(real_psl, "example.co.uk", "other.co.uk", 'r'));
    assert_false(dmarc_aligned(real_psl, "example.com", "", 'r'));
    assert_false(dmarc_aligned(real_psl, "example.com", NULL, 'r'));
}

/* ---- discovery and evaluation ---------------------------------------- */

typedef struct {
    const char *name;
    int rcode;
    const char *txt[4];
} dz;

static int queries;

static void discover(dmarc_ctx *d, const char *from, const dz *zone)
{
    queries = 0;
    dmarc_begin(d, from);
    while (dmarc_step(d) == DMARC_NEED_DNS) {
        const char *q = dmarc_query_name(d);
        assert_non_null(q);
        assert_true(++queries <= 2); /* §6.6.3: From domain, then org domain */
        const dz *z = zone;
        while (z->name && strcmp(z->name, q) != 0)
            z++;
        if (!z->name) {
            assert_int_equal(dmarc_answer(d, DMARC_RCODE_NXDOMAIN, NULL, 0), 0);
            continue;
        }
        dmarc_txt t[4];
        size_t n = 0;
        for (; n < 4 && z->txt[n]; n++)
            t[n].data = z->txt[n], t[n].len = strlen(z->txt[n]);
        assert_int_equal(dmarc_answer(d, z->rcode, t, n), 0);
    }
}

static int fixed_draw;
static int draw_cb(void *arg)
{
    (void)arg;
    return fixed_draw;
}

static const dz zone[] = {
    {"_dmarc.example.test", 0, {"v=DMARC1; p=reject; sp=quarantine", "unrelated"}},
    {"_dmarc.strict.test", 0, {"v=DMARC1; p=reject; aspf=s; adkim=s"}},
    {"_dmarc.none.test", 0, {"v=DMARC1; p=none; rua=mailto:r@none.test"}},
    {"_dmarc.half.test", 0, {"v=DMARC1; p=quarantine; pct=50"}},
    {"_dmarc.zero.test", 0, {"v=DMARC1; p=reject; pct=0"}},
    {"_dmarc.two.test", 0, {"v=DMARC1; p=reject", "v=DMARC1; p=none"}},
    {"_dmarc.slow.test", DMARC_RCODE_TIMEOUT, {NULL}},
    {NULL, 0, {NULL}},
};

static void test_aligned_pass(void **st)
{
    (void)st;
    dmarc_ctx *d = dmarc_new(real_psl);
    char buf[256];
    discover(d, "example.test", zone);
    assert_int_equal(queries, 1);
    dmarc_auth a = {.spf_pass = 1, .spf_domain = "bounce.example.test"};
    assert_int_equal(dmarc_evaluate(d, &a), DMARC_PASS);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_NONE);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=pass (p=reject dis=none) header.from=example.test");
    /* DKIM alone is enough */
    const char *dk[] = {"other.test", "Example.Test"};
    dmarc_auth b = {.spf_pass = 0, .dkim_domains = dk, .n_dkim = 2};
    assert_int_equal(dmarc_evaluate(d, &b), DMARC_PASS);
    dmarc_free(d);
}

static void test_unaligned_reject_and_subdomain(void **st)
{
    (void)st;
    dmarc_ctx *d = dmarc_new(real_psl);
    char buf[256];
    const char *dk[] = {"example.test.evil.test"};
    dmarc_auth a = {.spf_pass = 1, .spf_domain = "evil.test", .dkim_domains = dk, .n_dkim = 1};
    discover(d, "example.test", zone);
    assert_int_equal(dmarc_evaluate(d, &a), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_REJECT);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=fail (p=reject dis=reject) header.from=example.test");
    /* a subdomain without its own record gets the org's sp (quarantine) */
    discover(d, "news.example.test", zone);
    assert_int_equal(queries, 2);
    assert_string_equal(dmarc_get_org(d), "example.test");
    assert_int_equal(dmarc_get_policy(d), DMARC_P_QUARANTINE);
    assert_int_equal(dmarc_evaluate(d, &a), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_QUARANTINE);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=fail (p=quarantine dis=quarantine) header.from=news.example.test");
    /* SPF fail from an aligned domain does not count */
    dmarc_auth f = {.spf_pass = 0, .spf_domain = "example.test"};
    discover(d, "example.test", zone);
    assert_int_equal(dmarc_evaluate(d, &f), DMARC_FAIL);
    /* an aligned check that could not finish makes it temperror, with no
     * disposition; an unaligned one changes nothing */
    const char *tk[] = {"mail.example.test"}, *ot[] = {"other.test"};
    dmarc_auth t1 = {.spf_domain = "evil.test", .dkim_temp_domains = tk, .n_dkim_temp = 1};
    assert_int_equal(dmarc_evaluate(d, &t1), DMARC_TEMPERROR);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_NONE);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=temperror header.from=example.test");
    discover(d, "example.test", zone);
    dmarc_auth t2 = {.spf_temperror = 1, .spf_domain = "bounce.example.test"};
    assert_int_equal(dmarc_evaluate(d, &t2), DMARC_TEMPERROR);
    discover(d, "example.test", zone);
    dmarc_auth t3 = {.spf_temperror = 1, .spf_domain = "evil.test", .dkim_temp_domains = ot, .n_dkim_temp = 1};
    assert_int_equal(dmarc_evaluate(d, &t3), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_REJECT);
    discover(d, "example.test", zone);
    dmarc_auth t4 = {.spf_pass = 1, .spf_domain = "example.test", .dkim_temp_domains = tk, .n_dkim_temp = 1};
    assert_int_equal(dmarc_evaluate(d, &t4), DMARC_PASS);
    dmarc_free(d);
}

static void test_strict_none_and_errors(void **st)
{
    (void)st;
    dmarc_ctx *d = dmarc_new(real_psl);
    char buf[256];
    dmarc_auth relaxed_only = {.spf_pass = 1, .spf_domain = "mail.strict.test"};
    discover(d, "strict.test", zone);
    assert_int_equal(dmarc_evaluate(d, &relaxed_only), DMARC_FAIL);
    dmarc_auth exact = {.spf_pass = 1, .spf_domain = "STRICT.test"};
    assert_int_equal(dmarc_evaluate(d, &exact), DMARC_PASS);

    discover(d, "none.test", zone);
    assert_int_equal(dmarc_evaluate(d, &relaxed_only), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_NONE);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=fail (p=none dis=none) header.from=none.test");

    discover(d, "nobody.test", zone); /* no record anywhere */
    assert_int_equal(dmarc_evaluate(d, &relaxed_only), DMARC_NONE);
    assert_null(dmarc_get_record(d));
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=none header.from=nobody.test");

    discover(d, "two.test", zone); /* several records: no policy (§6.6.3) */
    assert_int_equal(queries, 1);
    assert_int_equal(dmarc_evaluate(d, &relaxed_only), DMARC_NONE);

    discover(d, "slow.test", zone);
    assert_int_equal(dmarc_evaluate(d, &relaxed_only), DMARC_TEMPERROR);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=temperror header.from=slow.test");

    assert_int_equal(dmarc_begin(d, "bad domain.test"), -1);
    assert_int_equal(dmarc_step(d), DMARC_DONE);
    assert_int_equal(dmarc_evaluate(d, &relaxed_only), DMARC_PERMERROR);
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=permerror"); /* not header.from=bad */
    assert_int_equal(dmarc_begin(d, "b\xc3\xbc" "cher.test"), -1); /* a U-label */
    dmarc_format_authres(d, buf, sizeof buf);
    assert_string_equal(buf, "dmarc=permerror");
    assert_int_equal(dmarc_answer(d, 0, NULL, 0), -1);
    dmarc_free(d);
}

static void test_pct_sampling(void **st)
{
    (void)st;
    dmarc_ctx *d = dmarc_new(real_psl);
    dmarc_set_random(d, draw_cb, NULL);
    dmarc_auth fail = {.spf_pass = 1, .spf_domain = "elsewhere.test"};
    discover(d, "half.test", zone);
    fixed_draw = 49; /* inside the 50% sample: policy applies */
    assert_int_equal(dmarc_evaluate(d, &fail), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_QUARANTINE);
    fixed_draw = 50; /* outside: one step down (§6.6.4) */
    assert_int_equal(dmarc_evaluate(d, &fail), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_NONE);
    discover(d, "zero.test", zone);
    fixed_draw = 0; /* pct=0: reject is never applied, quarantine is */
    assert_int_equal(dmarc_evaluate(d, &fail), DMARC_FAIL);
    assert_int_equal(dmarc_get_disposition(d), DMARC_P_QUARANTINE);
    dmarc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_record_every_prefix),
        cmocka_unit_test(test_org_domain_real_psl),
        cmocka_unit_test(test_org_domain_fallback_and_memory),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_aligned_pass),
        cmocka_unit_test(test_unaligned_reject_and_subdomain),
        cmocka_unit_test(test_strict_none_and_errors),
        cmocka_unit_test(test_pct_sampling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
