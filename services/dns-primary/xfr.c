/* xfr: zone transfer out (RFC 5936 AXFR; RFC 1995 IXFR answered with a
 * full AXFR-style reply, which RFC 1995 section 4 allows). Over TCP only;
 * allowed with --axfr or a TSIG key carrying the transfer right. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
#include "primary.h"

#define XFR_MSG_BYTES 16000 /* records per message kept under this (uncompressed) */

static int send_chunk(struct primary *p, struct dns_req *req, const ldns_pkt *q, ldns_rr_list *an,
                      int first, const struct dns_tsig_key *key, ldns_rdf **mac)
{
    ldns_pkt *r = ldns_pkt_new();
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_aa(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
    if (first) {
        ldns_rr_list_deep_free(ldns_pkt_question(r));
        ldns_pkt_set_question(r, ldns_rr_list_clone(ldns_pkt_question(q)));
        ldns_pkt_set_qdcount(r, 1);
    }
    ldns_rr_list *orig = ldns_pkt_answer(r);
    ldns_pkt_set_answer(r, an);
    ldns_pkt_set_ancount(r, (uint16_t)ldns_rr_list_rr_count(an));
    int rc = 0;
    /* Every message is signed: the first over the request MAC, the next
     * ones over the previous MAC with the timers only (RFC 8945 5.3.1). */
    if (key && dns_tsig_sign(r, key, *mac, first ? 0 : 1) < 0)
        rc = -1;
    ldns_buffer_clear(p->wbuf);
    if (rc == 0 && ldns_pkt2buffer_wire(p->wbuf, r) == LDNS_STATUS_OK)
        rc = dns_srv_reply(req, ldns_buffer_begin(p->wbuf), ldns_buffer_position(p->wbuf));
    else
        rc = -1;
    if (key && rc == 0) {
        ldns_rdf_deep_free(*mac);
        *mac = dns_tsig_mac(r) ? ldns_rdf_clone(dns_tsig_mac(r)) : NULL;
    }
    ldns_pkt_set_answer(r, orig); /* the records are the zone's: do not free */
    ldns_pkt_free(r);
    return rc;
}

void xfr_answer(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key)
{
    const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    struct zone_entry *ze = zones_exact(&p->zones, ldns_rr_owner(qr));
    char ip[NET_IP_MAX];
    net_ip_string((const struct sockaddr *)&req->peer, ip);
    ldns_pkt_rcode deny = LDNS_RCODE_NOERROR;
    if (!ze)
        deny = LDNS_RCODE_NOTAUTH;
    else if (!p->axfr_open && !dns_tsig_allows(key, DNS_TSIG_RIGHT_TRANSFER, ze->zone->origin))
        deny = LDNS_RCODE_REFUSED;
    if (deny != LDNS_RCODE_NOERROR) {
        log_warn("xfr.refused", "peer=%s zone=%s key=%s", ip, ze ? ze->name : "-",
                 key ? key->name : "none");
        metrics_inc("dns_xfr_total", "result=\"refused\"");
        ldns_pkt *r = primary_response(q, deny);
        primary_send(p, req, r, 65535, key, key ? dns_tsig_mac(q) : NULL);
        ldns_pkt_free(r);
        return;
    }
    struct dns_zone *z = ze->zone;
    ldns_rdf *mac = key && dns_tsig_mac(q) ? ldns_rdf_clone(dns_tsig_mac(q)) : NULL;
    ldns_rr_list *an = ldns_rr_list_new();
    size_t bytes = 0, msgs = 0;
    int first = 1, rc = 0;
    /* SOA, every other record, SOA again (RFC 5936 2.2). */
    for (size_t i = 0; i <= z->nrrs + 1 && rc == 0; i++) {
        ldns_rr *rr;
        if (i == 0 || i == z->nrrs + 1)
            rr = z->soa;
        else if (z->rrs[i - 1] == z->soa)
            continue;
        else
            rr = z->rrs[i - 1];
        size_t sz = ldns_rr_uncompressed_size(rr);
        if (bytes + sz > XFR_MSG_BYTES && ldns_rr_list_rr_count(an) > 0) {
            rc = send_chunk(p, req, q, an, first, key, &mac);
            first = 0;
            msgs++;
            ldns_rr_list_set_rr_count(an, 0);
            bytes = 0;
        }
        ldns_rr_list_push_rr(an, rr);
        bytes += sz;
    }
    if (rc == 0 && ldns_rr_list_rr_count(an) > 0) {
        rc = send_chunk(p, req, q, an, first, key, &mac);
        msgs++;
    }
    ldns_rr_list_set_rr_count(an, 0);
    ldns_rr_list_free(an);
    ldns_rdf_deep_free(mac);
    log_info("xfr.sent", "peer=%s zone=%s serial=%u messages=%zu key=%s result=%s", ip, ze->name,
             z->serial, msgs, key ? key->name : "none", rc == 0 ? "ok" : "failed");
    metrics_inc("dns_xfr_total", rc == 0 ? "result=\"ok\"" : "result=\"failed\"");
}
