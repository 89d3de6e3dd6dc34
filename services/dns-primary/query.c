/* query: message dispatch and authoritative answers.
 * Every message is parsed by ldns (bounded: it refuses compression loops and
 * lengths past the message); a message whose header is readable but whose
 * body is not gets FORMERR, anything shorter than a header gets silence. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
#include "primary.h"

#define QUERY_TSIG_RESERVE 200 /* room left for a TSIG record when trimming */
#define DNS_HEADER_LEN 12

/* Header-only FORMERR for a message ldns could not parse. */
static void send_formerr_raw(struct dns_req *req)
{
    uint8_t h[DNS_HEADER_LEN] = {0};
    memcpy(h, req->wire, 2);                          /* id */
    h[2] = (uint8_t)(0x80 | (req->wire[2] & 0x79));  /* QR, opcode, RD */
    h[3] = LDNS_RCODE_FORMERR;
    dns_srv_reply(req, h, sizeof h);
    metrics_inc("dns_responses_total", "rcode=\"FORMERR\"");
}

ldns_pkt *primary_response(const ldns_pkt *q, ldns_pkt_rcode rcode)
{
    ldns_pkt *r = ldns_pkt_new();
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(q));
    ldns_pkt_set_rd(r, ldns_pkt_rd(q));
    ldns_pkt_set_cd(r, ldns_pkt_cd(q));
    ldns_pkt_set_rcode(r, rcode);
    if (ldns_pkt_question(q) && ldns_rr_list_rr_count(ldns_pkt_question(q)) == 1) {
        ldns_rr_list_deep_free(ldns_pkt_question(r));
        ldns_pkt_set_question(r, ldns_rr_list_clone(ldns_pkt_question(q)));
        ldns_pkt_set_qdcount(r, 1);
    }
    return r;
}

static const char *rcode_label(ldns_pkt_rcode rc)
{
    switch (rc) {
    case LDNS_RCODE_NOERROR: return "rcode=\"NOERROR\"";
    case LDNS_RCODE_FORMERR: return "rcode=\"FORMERR\"";
    case LDNS_RCODE_SERVFAIL: return "rcode=\"SERVFAIL\"";
    case LDNS_RCODE_NXDOMAIN: return "rcode=\"NXDOMAIN\"";
    case LDNS_RCODE_NOTIMPL: return "rcode=\"NOTIMP\"";
    case LDNS_RCODE_REFUSED: return "rcode=\"REFUSED\"";
    case LDNS_RCODE_NOTAUTH: return "rcode=\"NOTAUTH\"";
    default: return "rcode=\"other\"";
    }
}

/* Serializes resp into p->wbuf; 0 or -1. */
static int to_wire(struct primary *p, ldns_pkt *resp)
{
    ldns_buffer_clear(p->wbuf);
    return ldns_pkt2buffer_wire(p->wbuf, resp) == LDNS_STATUS_OK ? 0 : -1;
}

/* Replaces a section list for the time of one serialization. */
static ldns_rr_list *swap_section(ldns_pkt *r, int sec, ldns_rr_list *l)
{
    ldns_rr_list *old;
    switch (sec) {
    case 1: old = ldns_pkt_answer(r); ldns_pkt_set_answer(r, l); ldns_pkt_set_ancount(r, (uint16_t)ldns_rr_list_rr_count(l)); break;
    case 2: old = ldns_pkt_authority(r); ldns_pkt_set_authority(r, l); ldns_pkt_set_nscount(r, (uint16_t)ldns_rr_list_rr_count(l)); break;
    default: old = ldns_pkt_additional(r); ldns_pkt_set_additional(r, l); ldns_pkt_set_arcount(r, (uint16_t)ldns_rr_list_rr_count(l)); break;
    }
    return old;
}

void primary_send(struct primary *p, struct dns_req *req, ldns_pkt *resp, size_t max_udp,
                  const struct dns_tsig_key *key, const ldns_rdf *req_mac)
{
    size_t limit = req->tcp ? 65535 : max_udp;
    if (key)
        limit -= QUERY_TSIG_RESERVE;
    ldns_rr_list *empty[3] = {NULL, NULL, NULL}, *saved[3] = {NULL, NULL, NULL};
    if (to_wire(p, resp) < 0)
        goto out;
    if (ldns_buffer_position(p->wbuf) > limit) {
        /* First drop the additional data, which is optional... */
        empty[2] = ldns_rr_list_new();
        saved[2] = swap_section(resp, 3, empty[2]);
        if (to_wire(p, resp) < 0)
            goto out;
        if (ldns_buffer_position(p->wbuf) > limit) {
            /* ...then everything, with TC so the client asks over TCP. */
            empty[0] = ldns_rr_list_new();
            empty[1] = ldns_rr_list_new();
            saved[0] = swap_section(resp, 1, empty[0]);
            saved[1] = swap_section(resp, 2, empty[1]);
            ldns_pkt_set_tc(resp, true);
            metrics_inc("dns_truncated_total", NULL);
        }
    }
    if (key && dns_tsig_sign(resp, key, req_mac, 0) < 0)
        log_warn("dns.tsig_sign_failed", "key=%s", key->name);
    if (to_wire(p, resp) == 0) {
        dns_srv_reply(req, ldns_buffer_begin(p->wbuf), ldns_buffer_position(p->wbuf));
        metrics_inc("dns_responses_total", rcode_label(ldns_pkt_get_rcode(resp)));
    }
out:
    for (int i = 0; i < 3; i++)
        if (saved[i]) {
            swap_section(resp, i + 1, saved[i]);
            ldns_rr_list_free(empty[i]);
        }
}

/* Attaches the borrowed answer lists to resp; detach before ldns_pkt_free. */
static void attach(ldns_pkt *r, struct dns_answer *a)
{
    ldns_rr_list_free(swap_section(r, 1, a->an));
    ldns_rr_list_free(swap_section(r, 2, a->ns));
    ldns_rr_list_free(swap_section(r, 3, a->ar));
}

static void detach(ldns_pkt *r)
{
    swap_section(r, 1, ldns_rr_list_new());
    swap_section(r, 2, ldns_rr_list_new());
    swap_section(r, 3, ldns_rr_list_new());
}

/* RFC 8482: ANY over UDP gets one RRset (the SOA at an apex), so the
 * server is a poor amplifier; over TCP the client gets everything. */
static void minimal_any(struct dns_answer *a)
{
    size_t n = ldns_rr_list_rr_count(a->an);
    if (n == 0)
        return;
    ldns_rr_type keep = ldns_rr_get_type(ldns_rr_list_rr(a->an, 0));
    for (size_t i = 0; i < n; i++)
        if (ldns_rr_get_type(ldns_rr_list_rr(a->an, i)) == LDNS_RR_TYPE_SOA)
            keep = LDNS_RR_TYPE_SOA;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = ldns_rr_list_rr(a->an, i);
        if (ldns_rr_get_type(rr) == keep)
            ldns_rr_list_set_rr(a->an, rr, w++);
    }
    ldns_rr_list_set_rr_count(a->an, w);
    ldns_rr_list_set_rr_count(a->ar, 0);
}

static size_t udp_limit(const ldns_pkt *q)
{
    if (!ldns_pkt_edns(q))
        return 512;
    size_t s = ldns_pkt_edns_udp_size(q);
    return s < 512 ? 512 : s > PRIMARY_EDNS_SIZE ? PRIMARY_EDNS_SIZE : s;
}

static void set_edns(ldns_pkt *r, const ldns_pkt *q)
{
    if (!ldns_pkt_edns(q))
        return;
    ldns_pkt_set_edns_udp_size(r, PRIMARY_EDNS_SIZE);
    ldns_pkt_set_edns_do(r, ldns_pkt_edns_do(q));
}

static void reply_rcode(struct primary *p, struct dns_req *req, const ldns_pkt *q,
                        ldns_pkt_rcode rc, const struct dns_tsig_key *key)
{
    ldns_pkt *r = primary_response(q, rc);
    set_edns(r, q);
    primary_send(p, req, r, udp_limit(q), key, key ? dns_tsig_mac(q) : NULL);
    ldns_pkt_free(r);
}

static void answer_query(struct primary *p, struct dns_req *req, ldns_pkt *q,
                         const struct dns_tsig_key *key)
{
    const ldns_rr_list *ql = ldns_pkt_question(q);
    if (ldns_pkt_qdcount(q) != 1 || !ql || ldns_rr_list_rr_count(ql) != 1) {
        reply_rcode(p, req, q, LDNS_RCODE_FORMERR, key);
        return;
    }
    if (ldns_pkt_edns(q) && ldns_pkt_edns_version(q) > 0) {
        /* RFC 6891 6.1.3: BADVERS (16) = extended rcode 1, header rcode 0. */
        ldns_pkt *r = primary_response(q, LDNS_RCODE_NOERROR);
        set_edns(r, q);
        ldns_pkt_set_edns_extended_rcode(r, 1);
        primary_send(p, req, r, 512, key, key ? dns_tsig_mac(q) : NULL);
        ldns_pkt_free(r);
        return;
    }
    const ldns_rr *qr = ldns_rr_list_rr(ql, 0);
    const ldns_rdf *qname = ldns_rr_owner(qr);
    ldns_rr_type qtype = ldns_rr_get_type(qr);
    if (qtype == LDNS_RR_TYPE_MAILA || qtype == LDNS_RR_TYPE_MAILB) {
        reply_rcode(p, req, q, LDNS_RCODE_NOTIMPL, key);
        return;
    }
    if (qtype == LDNS_RR_TYPE_OPT || qtype == LDNS_RR_TYPE_TSIG || qtype == LDNS_RR_TYPE_TKEY) {
        reply_rcode(p, req, q, LDNS_RCODE_FORMERR, key);
        return;
    }
    if (ldns_rr_get_class(qr) != LDNS_RR_CLASS_IN) {
        reply_rcode(p, req, q, LDNS_RCODE_REFUSED, key);
        return;
    }
    if (qtype == LDNS_RR_TYPE_AXFR || (qtype == LDNS_RR_TYPE_IXFR && req->tcp)) {
        if (!req->tcp)
            reply_rcode(p, req, q, LDNS_RCODE_FORMERR, key);
        else
            xfr_answer(p, req, q, key);
        return;
    }
    if (qtype == LDNS_RR_TYPE_IXFR) /* over UDP: the SOA tells the client to use TCP */
        qtype = LDNS_RR_TYPE_SOA;
    struct zone_entry *ze = zones_find(&p->zones, qname, qtype);
    if (!ze) {
        reply_rcode(p, req, q, LDNS_RCODE_REFUSED, key);
        return;
    }
    struct dns_answer a;
    dns_zone_answer_do(ze->zone, qname, qtype, ldns_pkt_edns_do(q), &a);
    if (qtype == LDNS_RR_TYPE_ANY && !req->tcp)
        minimal_any(&a);
    if (!key && a.rcode != LDNS_RCODE_FORMERR) {
        /* The fast path: straight to wire (signed answers need ldns). */
        struct dns_wire_answer wa = {a.an, a.ns, a.ar, a.rcode, a.aa, 0, ldns_pkt_edns(q),
                                     ldns_pkt_edns_do(q), PRIMARY_EDNS_SIZE, 0, 0, 0};
        size_t n = dns_wire_answer(req->wire, req->len, &wa, req->tcp ? 65535 : udp_limit(q),
                                   ldns_buffer_begin(p->wbuf), ldns_buffer_capacity(p->wbuf));
        if (n) {
            dns_srv_reply(req, ldns_buffer_begin(p->wbuf), n);
            metrics_inc("dns_responses_total", rcode_label(a.rcode));
            dns_answer_free(&a);
            return;
        }
    }
    ldns_pkt *r = primary_response(q, a.rcode);
    ldns_pkt_set_aa(r, a.aa && a.rcode != LDNS_RCODE_FORMERR);
    set_edns(r, q);
    attach(r, &a);
    primary_send(p, req, r, udp_limit(q), key, key ? dns_tsig_mac(q) : NULL);
    detach(r);
    ldns_pkt_free(r);
    dns_answer_free(&a);
}

/* The cache key of a plain query: the name as asked (the response copies
 * it, case and all), the type, EDNS and DO. What else the response takes
 * from the request (ID, RD, CD) is patched in on a hit. */
static size_t cache_key(const struct dns_wire_query *pq, uint8_t *k)
{
    size_t n = ldns_rdf_size(&pq->qname);
    memcpy(k, ldns_rdf_data(&pq->qname), n);
    k[n] = (uint8_t)(pq->qtype >> 8);
    k[n + 1] = (uint8_t)pq->qtype;
    k[n + 2] = (uint8_t)((pq->edns ? 1 : 0) | (pq->do_bit ? 2 : 0));
    return n + 3;
}

/* The common case without ldns's parser: a QUERY with one plain question
 * in class IN and nothing else but an OPT (version 0). 1 when answered;
 * 0 sends the message down the general path, which answers everything.
 * Responses that fit in 512 bytes whole (nothing dropped, no TC) are the
 * same for every client limit, so they are kept in the zone's cache. */
static int fast_query(struct primary *p, struct dns_req *req)
{
    struct dns_wire_query pq;
    if (!dns_wire_plain_query(req->wire, req->len, &pq))
        return 0;
    ldns_rr_type qtype = pq.qtype;
    if (qtype == LDNS_RR_TYPE_ANY || qtype == LDNS_RR_TYPE_AXFR || qtype == LDNS_RR_TYPE_IXFR ||
        qtype == LDNS_RR_TYPE_MAILA || qtype == LDNS_RR_TYPE_MAILB || qtype == LDNS_RR_TYPE_OPT ||
        qtype == LDNS_RR_TYPE_TSIG || qtype == LDNS_RR_TYPE_TKEY)
        return 0;
    const uint8_t *w = req->wire;
    size_t len = req->len;
    int edns = pq.edns, do_bit = pq.do_bit;
    size_t limit = pq.payload < 512 ? 512 : pq.payload > PRIMARY_EDNS_SIZE ? PRIMARY_EDNS_SIZE : pq.payload;
    ldns_rdf qname = pq.qname;
    struct zone_entry *ze = zones_find(&p->zones, &qname, qtype);
    if (!ze)
        return 0;
    uint8_t *out = ldns_buffer_begin(p->wbuf);
    uint8_t key[DNS_WIRE_CACHE_KEY_MAX];
    size_t klen = cache_key(&pq, key), n = 0;
    int rc = 0;
    const uint8_t *hit = dns_wire_cache_get(ze->zone->cache, key, klen, &n, &rc);
    if (hit) {
        memcpy(out, hit, n);
        memcpy(out, w, 2);                                    /* ID */
        out[2] = (uint8_t)((out[2] & ~0x01) | (w[2] & 0x01)); /* RD */
        out[3] = (uint8_t)((out[3] & ~0x10) | (w[3] & 0x10)); /* CD */
        dns_srv_reply(req, out, n);
        metrics_inc("dns_responses_total", rcode_label((ldns_pkt_rcode)rc));
        return 1;
    }
    struct dns_answer a;
    dns_zone_answer_do(ze->zone, &qname, qtype, do_bit, &a);
    if (a.rcode != LDNS_RCODE_FORMERR) {
        struct dns_wire_answer wa = {a.an, a.ns, a.ar, a.rcode, a.aa, 0, edns, do_bit, PRIMARY_EDNS_SIZE, 0, 0, 0};
        n = dns_wire_answer(w, len, &wa, req->tcp ? 65535 : limit, out, ldns_buffer_capacity(p->wbuf));
    }
    if (n) {
        size_t arcount = (size_t)out[10] << 8 | out[11];
        if (n <= DNS_WIRE_CACHE_RESP_MAX && !(out[2] & 0x02) &&
            arcount == ldns_rr_list_rr_count(a.ar) + (edns ? 1 : 0)) {
            if (!ze->zone->cache)
                ze->zone->cache = dns_wire_cache_new();
            dns_wire_cache_put(ze->zone->cache, key, klen, out, n, (int)a.rcode);
        }
        dns_srv_reply(req, out, n);
        metrics_inc("dns_responses_total", rcode_label(a.rcode));
    }
    dns_answer_free(&a);
    return n > 0;
}

void primary_query_cb(struct dns_req *req, void *arg)
{
    struct primary *p = arg;
    metrics_inc("dns_requests_total", req->tcp ? "transport=\"tcp\"" : "transport=\"udp\"");
    /* Too short for a header, or a response: never answer (no reflection). */
    if (req->len < DNS_HEADER_LEN || (req->wire[2] & 0x80)) {
        dns_srv_done(req);
        return;
    }
    if (fast_query(p, req)) {
        dns_srv_done(req);
        return;
    }
    ldns_pkt *q = NULL;
    if (!dns_tsig_wire_ok(req->wire, req->len) ||
        ldns_wire2pkt(&q, req->wire, req->len) != LDNS_STATUS_OK) {
        send_formerr_raw(req);
        dns_srv_done(req);
        return;
    }
    const struct dns_tsig_key *key = NULL;
    enum dns_tsig_status ts = dns_tsig_verify(q, req->wire, req->len, &p->zones.keys, &key);
    if (ts != DNS_TSIG_UNSIGNED && ts != DNS_TSIG_OK) {
        char ip[NET_IP_MAX];
        log_warn("dns.tsig_rejected", "peer=%s error=%d key=%s",
                 net_ip_string((const struct sockaddr *)&req->peer, ip), (int)ts,
                 key ? key->name : "unknown");
        metrics_inc("dns_tsig_rejected_total", NULL);
        ldns_pkt *r = primary_response(q, LDNS_RCODE_NOTAUTH);
        dns_tsig_set_error(r, q, ts);
        primary_send(p, req, r, udp_limit(q), NULL, NULL);
        ldns_pkt_free(r);
        ldns_pkt_free(q);
        dns_srv_done(req);
        return;
    }
    if (ts != DNS_TSIG_OK)
        key = NULL;
    switch (ldns_pkt_get_opcode(q)) {
    case LDNS_PACKET_QUERY:
        answer_query(p, req, q, key);
        break;
    case LDNS_PACKET_NOTIFY:
        notify_handle(p, req, q, key);
        break;
    case LDNS_PACKET_UPDATE:
        update_handle(p, req, q, key); /* answers and releases req itself */
        ldns_pkt_free(q);
        return;
    default:
        reply_rcode(p, req, q, LDNS_RCODE_NOTIMPL, key);
        break;
    }
    ldns_pkt_free(q);
    dns_srv_done(req);
}
