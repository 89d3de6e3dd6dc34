/* Fuzz target: the authoritative query path on a fixed zone. The in-place
 * plain-query reader and the direct encoder (whose output ldns must parse
 * back with the same counts), wire parse, TSIG check, lookup (exact, CNAME,
 * wildcard, referral, negative), response serialization, and for UPDATE
 * messages the RFC 2136 logic and a rebuild. Leaks count as failures (the
 * replay runs with detect_leaks=1). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_tsig.h"
#include "dns_update.h"
#include "dns_wire.h"
#include "dns_zone.h"

static const char ZONE[] =
    "$ORIGIN zt.test.\n$TTL 300\n"
    "@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\n@ MX 10 mail\n@ A 192.0.2.1\n"
    "ns1 A 192.0.2.53\nmail A 192.0.2.25\nmail AAAA 2001:db8::25\nwww CNAME @\n"
    "alias CNAME www\nloop1 CNAME loop2\nloop2 CNAME loop1\n*.wild A 192.0.2.99\n"
    "*.cw CNAME mail\nsub NS ns.sub\nns.sub A 192.0.2.54\na.b.c TXT \"ent\"\n"
    "_smtp._tcp SRV 0 5 25 mail\n";
static const char KEYS[] = "k._update.zt.test. DNSKEY 0 3 163 dGVzdGVyLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDE=\n";

static struct dns_zone *zone;
static struct dns_tsig_keys keys;

static void fast_path(const struct dns_zone *zone, const uint8_t *data, size_t size)
{
    struct dns_wire_query pq;
    if (!dns_wire_plain_query(data, size, &pq) || !dns_zone_contains(zone, &pq.qname))
        return;
    struct dns_answer a;
    dns_zone_answer_do(zone, &pq.qname, pq.qtype, pq.do_bit, &a);
    static uint8_t out[65535];
    for (int pass = 0; pass < 2 && a.rcode != LDNS_RCODE_FORMERR; pass++) {
        struct dns_wire_answer wa = {a.an, a.ns, a.ar, a.rcode, a.aa, 0, pq.edns, pq.do_bit, 1232, 0, pass, pass};
        size_t n = dns_wire_answer(data, size, &wa, pass ? 65535 : 512, out, sizeof out);
        if (!n)
            continue;
        ldns_pkt *r = NULL;
        if (ldns_wire2pkt(&r, out, n) != LDNS_STATUS_OK || ldns_pkt_id(r) != (data[0] << 8 | data[1]))
            abort(); /* what we send must parse */
        if (!ldns_pkt_tc(r) && !pass && ldns_pkt_ancount(r) != ldns_rr_list_rr_count(a.an))
            abort();
        ldns_pkt_free(r);
    }
    dns_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!zone) {
        zone = dns_zone_parse(ZONE, sizeof ZONE - 1, "zt.test.", err, sizeof err);
        if (!zone || dns_tsig_keys_parse(KEYS, sizeof KEYS - 1, &keys, err, sizeof err) < 0)
            abort();
    }
    fast_path(zone, data, size);
    ldns_pkt *q = NULL;
    if (!dns_tsig_wire_ok(data, size) || ldns_wire2pkt(&q, data, size) != LDNS_STATUS_OK)
        return 0;
    const struct dns_tsig_key *key = NULL;
    dns_tsig_verify(q, data, size, &keys, &key);
    const ldns_rr_list *ql = ldns_pkt_question(q);
    if (ldns_pkt_get_opcode(q) == LDNS_PACKET_UPDATE) {
        const ldns_rdf *zn = dns_update_zone(q);
        if (zn && ldns_dname_compare(zn, zone->origin) == 0) {
            ldns_rr_list *rrs = dns_zone_clone_rrs(zone);
            int changed = 0;
            if (dns_update_apply(zone->origin, rrs, q, &changed) == LDNS_RCODE_NOERROR && changed) {
                dns_update_bump_serial(rrs);
                struct dns_zone *nz = dns_zone_build(zone->origin, rrs, err, sizeof err);
                if (nz) {
                    size_t len = 0;
                    /* What the primary would commit must load again. */
                    char *text = dns_zone_to_text_checked(nz, &len, err, sizeof err);
                    struct dns_zone *back = text ? dns_zone_parse(text, len, "zt.test.", err, sizeof err) : NULL;
                    if (text && (!back || back->nrrs != nz->nrrs || back->serial != nz->serial))
                        abort();
                    dns_zone_free(back);
                    free(text);
                }
                dns_zone_free(nz);
            } else {
                ldns_rr_list_deep_free(rrs);
            }
        }
    } else if (ql && ldns_rr_list_rr_count(ql) == 1) {
        const ldns_rr *qr = ldns_rr_list_rr(ql, 0);
        if (dns_zone_contains(zone, ldns_rr_owner(qr))) {
            struct dns_answer a;
            dns_zone_answer(zone, ldns_rr_owner(qr), ldns_rr_get_type(qr), &a);
            ldns_pkt *r = ldns_pkt_new();
            ldns_rr_list *an = ldns_pkt_answer(r);
            ldns_pkt_set_answer(r, a.an);
            ldns_pkt_set_ancount(r, (uint16_t)ldns_rr_list_rr_count(a.an));
            if (key)
                dns_tsig_sign(r, key, dns_tsig_mac(q), 0);
            uint8_t *wire = NULL;
            size_t wl = 0;
            ldns_pkt2wire(&wire, r, &wl);
            free(wire);
            ldns_pkt_set_answer(r, an);
            ldns_pkt_free(r);
            dns_answer_free(&a);
        }
    }
    ldns_pkt_free(q);
    return 0;
}
