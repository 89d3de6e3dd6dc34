/* Unit tests: the direct response encoder with a CNAME chain in front of the
 * answer (dns-resolver's cache answers). Every output is parsed back by
 * ldns, an independent decoder: sections in order, each link's TTL capped on
 * its own, RRSIGs left out without DO, truncation with TC, the question's
 * case and the ID kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns_wire.h"

static ldns_rr_list *rrs(const char *const *texts)
{
    ldns_rr_list *l = ldns_rr_list_new();
    for (; *texts; texts++) {
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, *texts, 0, NULL, NULL) != LDNS_STATUS_OK)
            fail_msg("bad record %s", *texts);
        ldns_rr_list_push_rr(l, rr);
    }
    return l;
}

/* A query for name/type with ID 0xBEEF, RD set, and an OPT when edns. */
static size_t make_query(const char *name, ldns_rr_type t, int edns, uint8_t *out, size_t cap)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
    ldns_pkt_set_id(q, 0xBEEF);
    if (edns)
        ldns_pkt_set_edns_udp_size(q, 1232);
    uint8_t *w = NULL;
    size_t n = 0;
    assert_int_equal(ldns_pkt2wire(&w, q, &n), LDNS_STATUS_OK);
    assert_true(n <= cap);
    memcpy(out, w, n);
    free(w);
    ldns_pkt_free(q);
    return n;
}

struct fixture {
    ldns_rr_list *a_cname, *b_cname, *c_a;
};

static void fixture_init(struct fixture *f)
{
    static const char *const a[] = {"a.fp.test. 600 IN CNAME b.fp.test.", NULL};
    static const char *const b[] = {"b.fp.test. 90 IN CNAME c.fp.test.",
                                    "b.fp.test. 90 IN RRSIG CNAME 13 3 90 20270101000000 20260101000000 "
                                    "12345 fp.test. AAAA", NULL};
    static const char *const c[] = {"c.fp.test. 300 IN A 192.0.2.1", "c.fp.test. 300 IN A 192.0.2.2", NULL};
    f->a_cname = rrs(a);
    f->b_cname = rrs(b);
    f->c_a = rrs(c);
}

static void fixture_free(struct fixture *f)
{
    ldns_rr_list_deep_free(f->a_cname);
    ldns_rr_list_deep_free(f->b_cname);
    ldns_rr_list_deep_free(f->c_a);
}

static void test_chain_then_answer(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    uint8_t q[512], out[4096];
    size_t ql = make_query("A.Fp.TEST.", LDNS_RR_TYPE_A, 1, q, sizeof q);
    const ldns_rr_list *sets[] = {f.a_cname, f.b_cname};
    uint32_t caps[] = {500, 40};
    struct dns_wire_chain ch = {sets, caps, 2};
    struct dns_wire_answer wa = {f.c_a, NULL, NULL, LDNS_RCODE_NOERROR, 0, 1, 1, 0, 1232, 200, 0, 1};
    size_t n = dns_wire_answer_chain(q, ql, &wa, &ch, 1232, out, sizeof out);
    assert_true(n > 0);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 0xBEEF);
    assert_true(ldns_pkt_qr(p) && ldns_pkt_rd(p) && ldns_pkt_ra(p) && !ldns_pkt_aa(p) && !ldns_pkt_tc(p));
    /* The question as asked, case included. */
    char *qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
    assert_string_equal(qn, "A.Fp.TEST.");
    free(qn);
    /* CNAME a (TTL 600 capped at 500), CNAME b (90 capped at 40, its RRSIG
     * left out: no DO), then both A records (300 capped at 200). */
    const ldns_rr_list *an = ldns_pkt_answer(p);
    assert_int_equal(ldns_rr_list_rr_count(an), 4);
    assert_int_equal(ldns_pkt_ancount(p), 4);
    static const struct {
        const char *owner;
        ldns_rr_type t;
        uint32_t ttl;
    } want[] = {{"a.fp.test.", LDNS_RR_TYPE_CNAME, 500},
                {"b.fp.test.", LDNS_RR_TYPE_CNAME, 40},
                {"c.fp.test.", LDNS_RR_TYPE_A, 200},
                {"c.fp.test.", LDNS_RR_TYPE_A, 200}};
    for (size_t i = 0; i < 4; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(an, i);
        char *o = ldns_rdf2str(ldns_rr_owner(rr));
        for (char *c = o; *c; c++)
            *c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
        assert_string_equal(o, want[i].owner);
        free(o);
        assert_int_equal(ldns_rr_get_type(rr), want[i].t);
        assert_int_equal(ldns_rr_ttl(rr), want[i].ttl);
    }
    /* (Names in rdata may point into the question, so compare without case.) */
    assert_int_equal(ldns_dname_compare(ldns_rr_rdf(ldns_rr_list_rr(an, 0), 0),
                                        ldns_rr_rdf(ldns_rr_list_rr(f.a_cname, 0), 0)), 0);
    assert_true(ldns_pkt_edns(p));
    ldns_pkt_free(p);

    /* With DO the link's RRSIG goes out too, right after its CNAME. */
    wa.do_bit = 1;
    wa.skip_rrsig = 0;
    n = dns_wire_answer_chain(q, ql, &wa, &ch, 1232, out, sizeof out);
    assert_true(n > 0);
    assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 5);
    assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(p), 2)), LDNS_RR_TYPE_RRSIG);
    ldns_pkt_free(p);
    fixture_free(&f);
}

static void test_chain_to_nxdomain_and_truncation(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    static const char *const soa[] = {"fp.test. 120 IN SOA ns.fp.test. hostmaster.fp.test. 1 3600 600 86400 120",
                                      NULL};
    ldns_rr_list *neg = rrs(soa);
    uint8_t q[512], out[4096];
    size_t ql = make_query("a.fp.test.", LDNS_RR_TYPE_A, 0, q, sizeof q);
    const ldns_rr_list *sets[] = {f.a_cname};
    struct dns_wire_chain ch = {sets, NULL, 1}; /* no caps: TTLs as stored */
    struct dns_wire_answer wa = {NULL, neg, NULL, LDNS_RCODE_NXDOMAIN, 0, 1, 0, 0, 1232, 0, 0, 1};
    size_t n = dns_wire_answer_chain(q, ql, &wa, &ch, 512, out, sizeof out);
    assert_true(n > 0);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 1);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 600);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_authority(p)), 1);
    assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), LDNS_RR_TYPE_SOA);
    assert_false(ldns_pkt_edns(p));
    ldns_pkt_free(p);

    /* Room for less than the whole answer: header and question with TC. */
    size_t small = ql + 20;
    n = dns_wire_answer_chain(q, ql, &wa, &ch, small, out, sizeof out);
    assert_true(n > 0 && n <= small);
    assert_int_equal(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_nscount(p), 0);
    ldns_pkt_free(p);

    /* An empty chain is the plain encoder. */
    uint8_t out2[4096];
    struct dns_wire_chain none = {NULL, NULL, 0};
    size_t n1 = dns_wire_answer_chain(q, ql, &wa, &none, 512, out, sizeof out);
    size_t n2 = dns_wire_answer(q, ql, &wa, 512, out2, sizeof out2);
    assert_true(n1 > 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(out, out2, n1);
    ldns_rr_list_deep_free(neg);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_then_answer),
        cmocka_unit_test(test_chain_to_nxdomain_and_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
