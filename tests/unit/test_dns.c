/* Unit tests: the authoritative lookup (table of query shapes), zone
 * validation, TSIG keys and MACs (sign -> verify for every algorithm,
 * tampering, wrong keys), and RFC 2136 prerequisites and updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns_tsig.h"
#include "dns_update.h"
#include "dns_zone.h"

static const char ZONE[] =
    "$ORIGIN zt.test.\n$TTL 300\n"
    "@ SOA ns1 hostmaster 7 3600 600 86400 60\n@ NS ns1\n@ MX 10 mail\n@ A 192.0.2.1\n"
    "ns1 A 192.0.2.53\nmail A 192.0.2.25\nmail AAAA 2001:db8::25\nwww CNAME @\n"
    "alias CNAME www\next CNAME host.other.test.\nloop1 CNAME loop2\nloop2 CNAME loop1\n"
    "*.wild A 192.0.2.99\nexact.wild TXT \"x\"\n*.cw CNAME mail\nsub NS ns.sub\nns.sub A 192.0.2.54\n"
    "a.b.c TXT \"deep\"\n";

static struct dns_zone *load(const char *text)
{
    char err[256];
    struct dns_zone *z = dns_zone_parse(text, strlen(text), "zt.test.", err, sizeof err);
    if (!z)
        fail_msg("zone: %s", err);
    return z;
}

static void test_lookup_table(void **state)
{
    static const struct {
        const char *name;
        ldns_rr_type type;
        ldns_pkt_rcode rcode;
        int aa;
        size_t an, ns, ar;
        ldns_rr_type first;
    } cases[] = {
        {"mail.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 1, 0, 0, LDNS_RR_TYPE_A},
        {"MAIL.ZT.TEST.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, 1, 1, 0, 0, LDNS_RR_TYPE_AAAA},
        {"zt.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, 1, 1, 0, 2, LDNS_RR_TYPE_MX},
        {"alias.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 3, 0, 0, LDNS_RR_TYPE_CNAME},
        {"ext.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 1, 0, 0, LDNS_RR_TYPE_CNAME},
        {"www.zt.test.", LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, 1, 1, 0, 0, LDNS_RR_TYPE_CNAME},
        {"loop1.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, DNS_CNAME_CHAIN_MAX + 1, 0, 0, LDNS_RR_TYPE_CNAME},
        {"x.wild.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 1, 0, 0, LDNS_RR_TYPE_A},
        {"x.y.wild.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 1, 0, 0, LDNS_RR_TYPE_A},
        {"x.wild.zt.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, 1, 0, 1, 0, 0},
        {"exact.wild.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 0, 1, 0, 0},
        {"x.exact.wild.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0, 0},
        {"q.cw.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 2, 0, 0, LDNS_RR_TYPE_CNAME},
        {"sub.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 0, 1, 1, 0},
        {"h.sub.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 0, 1, 1, 0},
        {"sub.zt.test.", LDNS_RR_TYPE_DS, LDNS_RCODE_NOERROR, 1, 0, 1, 0, 0},
        {"b.c.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 0, 1, 0, 0},
        {"c.zt.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 1, 0, 1, 0, 0},
        {"nope.zt.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0, 0},
        {"mail.zt.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 1, 0, 1, 0, 0},
        {"mail.zt.test.", LDNS_RR_TYPE_ANY, LDNS_RCODE_NOERROR, 1, 2, 0, 0, LDNS_RR_TYPE_A},
    };
    struct dns_zone *z = load(ZONE);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ldns_rdf *n = ldns_dname_new_frm_str(cases[i].name);
        struct dns_answer a;
        dns_zone_answer(z, n, cases[i].type, &a);
        if (a.rcode != cases[i].rcode || a.aa != cases[i].aa ||
            ldns_rr_list_rr_count(a.an) != cases[i].an || ldns_rr_list_rr_count(a.ns) != cases[i].ns ||
            ldns_rr_list_rr_count(a.ar) != cases[i].ar ||
            (cases[i].an && ldns_rr_get_type(ldns_rr_list_rr(a.an, 0)) != cases[i].first))
            fail_msg("case %zu %s/%d: rcode %d aa %d an %zu ns %zu ar %zu", i, cases[i].name,
                     cases[i].type, a.rcode, a.aa, ldns_rr_list_rr_count(a.an),
                     ldns_rr_list_rr_count(a.ns), ldns_rr_list_rr_count(a.ar));
        if (ldns_rr_list_rr_count(a.ns) && a.aa) /* negative: SOA at min(TTL, minimum) */
            assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(a.ns, 0)), 60);
        if (cases[i].an && strstr(cases[i].name, "wild.")) /* synthesized owner is the qname */
            assert_int_equal(ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(a.an, 0)), n), 0);
        dns_answer_free(&a);
        ldns_rdf_deep_free(n);
    }
    dns_zone_free(z);
}

static void test_zone_validation(void **state)
{
    static const struct { const char *text; const char *why; } bad[] = {
        {"$ORIGIN zt.test.\n@ 300 NS ns\n", "no SOA"},
        {"$ORIGIN zt.test.\n@ 300 SOA ns hm 1 2 3 4 5\n", "no NS"},
        {"$ORIGIN zt.test.\n@ 300 SOA ns hm 1 2 3 4 5\n@ NS ns\nx CNAME a\nx A 192.0.2.1\n", "CNAME"},
        {"$ORIGIN zt.test.\n@ 300 SOA ns hm 1 2 3 4 5\n@ NS ns\nw.other.test. A 192.0.2.1\n", "out of zone"},
        {"$INCLUDE /etc/passwd\n", "$INCLUDE"},
        {"$ORIGIN zt.test.\n@ 300 SOA ns hm 1 2 3 4 5\n@ NS ns\nx A 300.1.1.1\n", "line"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        struct dns_zone *z = dns_zone_parse(bad[i].text, strlen(bad[i].text), "zt.test.", err, sizeof err);
        assert_null(z);
        if (!strstr(err, bad[i].why))
            fail_msg("case %zu: reason '%s' lacks '%s'", i, err, bad[i].why);
    }
    /* duplicates collapse; the checked text form loads back identically */
    const char *dup = "$ORIGIN zt.test.\n@ 300 SOA ns hm 1 2 3 4 5\n@ NS ns\nx A 192.0.2.1\nx A 192.0.2.1\n";
    struct dns_zone *z = load(dup);
    assert_int_equal(z->nrrs, 3);
    char err[256];
    size_t len;
    char *text = dns_zone_to_text_checked(z, &len, err, sizeof err);
    assert_non_null(text);
    free(text);
    dns_zone_free(z);
}

static void test_tsig_keys(void **state)
{
    struct dns_tsig_key k;
    char err[200];
    assert_int_equal(dns_tsig_key_parse("a._update.zt.test:SHA512:c2VjcmV0c2VjcmV0", &k, err, sizeof err), 0);
    assert_string_equal(k.alg, "hmac-sha512.");
    assert_string_equal(k.name, "a._update.zt.test.");
    ldns_rdf *zt = ldns_dname_new_frm_str("zt.test."), *sub = ldns_dname_new_frm_str("x.zt.test."),
             *other = ldns_dname_new_frm_str("other.test.");
    assert_true(dns_tsig_allows(&k, DNS_TSIG_RIGHT_UPDATE, zt));
    assert_true(dns_tsig_allows(&k, DNS_TSIG_RIGHT_TRANSFER, sub));
    assert_false(dns_tsig_allows(&k, DNS_TSIG_RIGHT_UPDATE, other));
    dns_tsig_key_clear(&k);
    assert_int_equal(dns_tsig_key_parse("t._transfer.zt.test:hmac-sha256:c2VjcmV0", &k, err, sizeof err), 0);
    assert_false(dns_tsig_allows(&k, DNS_TSIG_RIGHT_UPDATE, zt));
    assert_true(dns_tsig_allows(&k, DNS_TSIG_RIGHT_TRANSFER, zt));
    dns_tsig_key_clear(&k);
    assert_int_equal(dns_tsig_key_parse("n._notify.zt.test:163:c2VjcmV0", &k, err, sizeof err), 0);
    assert_true(dns_tsig_allows(&k, DNS_TSIG_RIGHT_NOTIFY, zt));
    assert_false(dns_tsig_allows(&k, DNS_TSIG_RIGHT_TRANSFER, zt));
    dns_tsig_key_clear(&k);
    static const char *bad[] = {"nocolon", "a.zt.test:SHA999:c2VjcmV0", "a.zt.test:SHA256:not base64!", "::"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(dns_tsig_key_parse(bad[i], &k, err, sizeof err), -1);
    const char *file = "; comment\n\nx._update.zt.test. DNSKEY 0 3 163 c2VjcmV0\n"
                       "y._transfer.zt.test. 3600 IN DNSKEY 0 3 165 c2Vj cmV0\n";
    struct dns_tsig_keys keys = {0};
    assert_int_equal(dns_tsig_keys_parse(file, strlen(file), &keys, err, sizeof err), 0);
    assert_int_equal(keys.n, 2);
    assert_string_equal(keys.v[1].secret, "c2VjcmV0");
    ldns_rdf *kn = ldns_dname_new_frm_str("X._Update.ZT.test.");
    const struct dns_tsig_key *found = dns_tsig_keys_find(&keys, kn);
    assert_non_null(found);
    assert_string_equal(found->alg, "hmac-sha256.");
    assert_null(dns_tsig_keys_find(&keys, sub));
    ldns_rdf_deep_free(kn);
    dns_tsig_keys_free(&keys);
    assert_int_equal(dns_tsig_keys_parse("x DNSKEY 0 3 99 c2Vj\n", 20, &keys, err, sizeof err), -1);
    dns_tsig_keys_free(&keys);
    ldns_rdf_deep_free(zt);
    ldns_rdf_deep_free(sub);
    ldns_rdf_deep_free(other);
}

static void test_tsig_sign_verify(void **state)
{
    static const char *algs[] = {"MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"};
    for (size_t i = 0; i < 6; i++) {
        char spec[128], err[200];
        snprintf(spec, sizeof spec, "k._update.zt.test:%s:dGVzdGVyLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDE=", algs[i]);
        struct dns_tsig_keys keys = {calloc(1, sizeof(struct dns_tsig_key)), 1};
        assert_int_equal(dns_tsig_key_parse(spec, &keys.v[0], err, sizeof err), 0);
        ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str("mail.zt.test."), LDNS_RR_TYPE_A,
                                          LDNS_RR_CLASS_IN, LDNS_RD);
        ldns_pkt_set_id(q, 4242);
        assert_int_equal(dns_tsig_sign(q, &keys.v[0], NULL, 0), 0);
        uint8_t *wire = NULL;
        size_t len = 0;
        assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
        ldns_pkt *p = NULL;
        assert_int_equal(ldns_wire2pkt(&p, wire, len), LDNS_STATUS_OK);
        const struct dns_tsig_key *used = NULL;
        assert_int_equal(dns_tsig_verify(p, wire, len, &keys, &used), DNS_TSIG_OK);
        assert_ptr_equal(used, &keys.v[0]);
        /* a signed response verifies against the request MAC only */
        ldns_pkt *r = ldns_pkt_clone(p);
        ldns_pkt_set_qr(r, true);
        assert_int_equal(dns_tsig_sign(r, used, dns_tsig_mac(p), 0), 0);
        uint8_t *rw = NULL;
        size_t rl = 0;
        ldns_pkt2wire(&rw, r, &rl);
        ldns_pkt *rp = NULL;
        ldns_wire2pkt(&rp, rw, rl);
        assert_int_equal(dns_tsig_verify_response(rp, rw, rl, used, dns_tsig_mac(p)), DNS_TSIG_OK);
        assert_int_equal(dns_tsig_verify_response(rp, rw, rl, used, NULL), DNS_TSIG_BADSIG);
        /* the wire check: one TSIG, last, nothing after it */
        assert_int_equal(dns_tsig_wire_ok(wire, len), 1);
        assert_int_equal(dns_tsig_wire_ok(wire, len - 1), 0);
        uint8_t *two = malloc(2 * len);
        size_t tsig_at = 12 + ldns_rdf_size(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0))) + 4;
        memcpy(two, wire, len);
        memcpy(two + len, wire + tsig_at, len - tsig_at);
        two[11] = 2; /* arcount: two TSIG records */
        assert_int_equal(dns_tsig_wire_ok(two, len + len - tsig_at), 0);
        free(two);
        /* one flipped bit in the question: BADSIG */
        wire[14] ^= 0x20;
        ldns_pkt *t = NULL;
        assert_int_equal(ldns_wire2pkt(&t, wire, len), LDNS_STATUS_OK);
        assert_int_equal(dns_tsig_verify(t, wire, len, &keys, &used), DNS_TSIG_BADSIG);
        /* unknown key name: BADKEY */
        keys.v[0].name[0] = 'z';
        assert_int_equal(dns_tsig_verify(p, wire, len, &keys, &used), DNS_TSIG_BADKEY);
        ldns_pkt_free(q);
        ldns_pkt_free(p);
        ldns_pkt_free(t);
        ldns_pkt_free(r);
        ldns_pkt_free(rp);
        free(wire);
        free(rw);
        dns_tsig_keys_free(&keys);
    }
}

/* Builds an UPDATE for zt.test from "CLASS NAME TYPE [RDATA]" lines: P for
 * prerequisites, U for updates. */
static ldns_pkt *make_update(const char *const *lines, size_t n)
{
    ldns_rr_list *pre = ldns_rr_list_new(), *up = ldns_rr_list_new();
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = NULL;
        const char *l = lines[i] + 2;
        if (ldns_rr_new_frm_str(&rr, l, 0, NULL, NULL) != LDNS_STATUS_OK) {
            /* class ANY/NONE without rdata: "NAME 0 ANY TYPE" */
            char name[128], cls[8], type[16];
            if (sscanf(l, "%127s 0 %7s %15s", name, cls, type) != 3)
                fail_msg("bad line %s", l);
            rr = ldns_rr_new();
            ldns_rr_set_owner(rr, ldns_dname_new_frm_str(name));
            ldns_rr_set_class(rr, strcmp(cls, "ANY") == 0 ? LDNS_RR_CLASS_ANY : LDNS_RR_CLASS_NONE);
            ldns_rr_set_type(rr, ldns_get_rr_type_by_name(type));
            ldns_rr_set_ttl(rr, 0);
        }
        ldns_rr_list_push_rr(lines[i][0] == 'P' ? pre : up, rr);
    }
    ldns_pkt *u = ldns_update_pkt_new(ldns_dname_new_frm_str("zt.test."), LDNS_RR_CLASS_IN, pre, up, NULL);
    ldns_rr_list_deep_free(pre);
    ldns_rr_list_deep_free(up);
    return u;
}

static void test_update_table(void **state)
{
    static const struct {
        const char *lines[3];
        size_t n;
        ldns_pkt_rcode rcode;
        int changed;
    } cases[] = {
        {{"P mail.zt.test. 0 ANY ANY", "U new.zt.test. 60 IN A 192.0.2.9"}, 2, LDNS_RCODE_NOERROR, 1},
        {{"P nope.zt.test. 0 ANY ANY", "U new.zt.test. 60 IN A 192.0.2.9"}, 2, LDNS_RCODE_NXDOMAIN, 0},
        {{"P mail.zt.test. 0 NONE ANY"}, 1, LDNS_RCODE_YXDOMAIN, 0},
        {{"P mail.zt.test. 0 ANY TXT"}, 1, LDNS_RCODE_NXRRSET, 0},
        {{"P mail.zt.test. 0 NONE A"}, 1, LDNS_RCODE_YXRRSET, 0},
        {{"P mail.zt.test. 0 IN A 192.0.2.25"}, 1, LDNS_RCODE_NOERROR, 0},
        {{"P mail.zt.test. 0 IN A 192.0.2.26"}, 1, LDNS_RCODE_NXRRSET, 0},
        {{"U x.other.test. 60 IN A 192.0.2.1"}, 1, LDNS_RCODE_NOTZONE, 0},
        {{"U mail.zt.test. 300 IN A 192.0.2.25"}, 1, LDNS_RCODE_NOERROR, 0},   /* duplicate */
        {{"U www.zt.test. 300 IN A 192.0.2.5"}, 1, LDNS_RCODE_NOERROR, 0},     /* beside a CNAME */
        {{"U zt.test. 0 ANY NS"}, 1, LDNS_RCODE_NOERROR, 0},                   /* apex NS kept */
        {{"U mail.zt.test. 0 ANY AAAA"}, 1, LDNS_RCODE_NOERROR, 1},
        {{"U mail.zt.test. 0 ANY ANY"}, 1, LDNS_RCODE_NOERROR, 1},
        {{"U zt.test. 0 NONE NS ns1.zt.test."}, 1, LDNS_RCODE_NOERROR, 0},      /* last NS kept */
        {{"U zt.test. 300 IN SOA ns1 hm 9 1 1 1 1"}, 1, LDNS_RCODE_NOERROR, 1},
        {{"U zt.test. 300 IN SOA ns1 hm 3 1 1 1 1"}, 1, LDNS_RCODE_NOERROR, 0}, /* older serial */
    };
    struct dns_zone *z = load(ZONE);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ldns_pkt *u = make_update(cases[i].lines, cases[i].n);
        assert_non_null(dns_update_zone(u));
        ldns_rr_list *rrs = dns_zone_clone_rrs(z);
        size_t before = ldns_rr_list_rr_count(rrs);
        int changed = -1;
        ldns_pkt_rcode rc = dns_update_apply(z->origin, rrs, u, &changed);
        if (rc != cases[i].rcode || changed != cases[i].changed)
            fail_msg("case %zu: rcode %d changed %d", i, rc, changed);
        if (rc != LDNS_RCODE_NOERROR)
            assert_int_equal(ldns_rr_list_rr_count(rrs), before);
        ldns_rr_list_deep_free(rrs);
        ldns_pkt_free(u);
    }
    ldns_rr_list *rrs = dns_zone_clone_rrs(z);
    assert_int_equal(dns_update_bump_serial(rrs), 8);
    ldns_rr_list_deep_free(rrs);
    dns_zone_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_table), cmocka_unit_test(test_zone_validation),
        cmocka_unit_test(test_tsig_keys),    cmocka_unit_test(test_tsig_sign_verify),
        cmocka_unit_test(test_update_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
