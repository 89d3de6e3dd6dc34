/* serve: client requests. The ACL comes first (REFUSED for strangers: never
 * an open resolver), then parsing, then a resolution task whose result
 * becomes the response. */
#include <stdlib.h>
#include <string.h>

#include "dns_tsig.h"
#include "dns_wire.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "resolver.h"

#define DNS_HEADER_LEN 12

struct client {
    struct resolver *r;
    struct dns_req *req;
    ldns_pkt *q;
    ldns_pkt_rcode rc; /* the result, kept while it is validated */
    ldns_rr_list *an, *ns;
    struct client *next_waiter;
};

/* One resolution per distinct question in flight: later askers of the same
 * question wait for it (RFC 5452 section 5: duplicate outstanding queries
 * make spoofing easier, and they waste work). */
#define INFLIGHT_BUCKETS 1024
struct inflight {
    struct inflight *next;
    uint8_t key[LDNS_MAX_DOMAINLEN + 3];
    size_t klen;
    unsigned bucket;
    struct client *waiters;
};
static struct inflight *inflight[INFLIGHT_BUCKETS];

static size_t question_key(const ldns_rdf *name, ldns_rr_type t, uint8_t *key, unsigned *bucket)
{
    size_t n = ldns_rdf_size(name);
    if (n > LDNS_MAX_DOMAINLEN)
        n = LDNS_MAX_DOMAINLEN;
    const uint8_t *d = ldns_rdf_data(name);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        key[i] = (d[i] >= 'A' && d[i] <= 'Z') ? (uint8_t)(d[i] + 32) : d[i];
        h = (h ^ key[i]) * 16777619u;
    }
    key[n] = (uint8_t)(t >> 8);
    key[n + 1] = (uint8_t)t;
    *bucket = (h ^ t) % INFLIGHT_BUCKETS;
    return n + 2;
}

static void reply_header(struct dns_req *req, ldns_pkt_rcode rc)
{
    uint8_t h[DNS_HEADER_LEN] = {0};
    memcpy(h, req->wire, 2);
    h[2] = (uint8_t)(0x80 | (req->wire[2] & 0x79)); /* QR, opcode, RD */
    h[3] = (uint8_t)(0x80 | rc);                    /* RA */
    dns_srv_reply(req, h, sizeof h);
}

static size_t udp_limit(const ldns_pkt *q)
{
    if (!ldns_pkt_edns(q))
        return 512;
    size_t s = ldns_pkt_edns_udp_size(q);
    return s < 512 ? 512 : s > RES_EDNS_SIZE ? RES_EDNS_SIZE : s;
}

static void send_response(struct resolver *r, struct dns_req *req, const ldns_pkt *q,
                          ldns_pkt_rcode rc, ldns_rr_list *an, ldns_rr_list *ns, int ad)
{
    if (ldns_pkt_get_opcode(q) == LDNS_PACKET_QUERY) { /* the fast path: straight to wire */
        struct dns_wire_answer wa = {an, ns, NULL, rc, 0, 1, ldns_pkt_edns(q), ldns_pkt_edns_do(q),
                                     RES_EDNS_SIZE, 0, ad, !ldns_pkt_edns_do(q)};
        size_t n = dns_wire_answer(req->wire, req->len, &wa, req->tcp ? 65535 : udp_limit(q),
                                   ldns_buffer_begin(r->wbuf), ldns_buffer_capacity(r->wbuf));
        if (n) {
            dns_srv_reply(req, ldns_buffer_begin(r->wbuf), n);
            ldns_rr_list_deep_free(an);
            ldns_rr_list_deep_free(ns);
            return;
        }
    }
    ldns_pkt *p = ldns_pkt_new();
    ldns_pkt_set_id(p, ldns_pkt_id(q));
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, ldns_pkt_rd(q));
    ldns_pkt_set_cd(p, ldns_pkt_cd(q));
    ldns_pkt_set_ra(p, true);
    ldns_pkt_set_opcode(p, ldns_pkt_get_opcode(q));
    ldns_pkt_set_rcode(p, rc);
    ldns_rr_list_deep_free(ldns_pkt_question(p));
    ldns_pkt_set_question(p, ldns_rr_list_clone(ldns_pkt_question(q)));
    ldns_pkt_set_qdcount(p, (uint16_t)ldns_rr_list_rr_count(ldns_pkt_question(p)));
    if (an) {
        ldns_rr_list_deep_free(ldns_pkt_answer(p));
        ldns_pkt_set_answer(p, an);
        ldns_pkt_set_ancount(p, (uint16_t)ldns_rr_list_rr_count(an));
    }
    if (ns) {
        ldns_rr_list_deep_free(ldns_pkt_authority(p));
        ldns_pkt_set_authority(p, ns);
        ldns_pkt_set_nscount(p, (uint16_t)ldns_rr_list_rr_count(ns));
    }
    if (ldns_pkt_edns(q))
        ldns_pkt_set_edns_udp_size(p, RES_EDNS_SIZE);
    ldns_buffer_clear(r->wbuf);
    if (ldns_pkt2buffer_wire(r->wbuf, p) == LDNS_STATUS_OK) {
        if (!req->tcp && ldns_buffer_position(r->wbuf) > udp_limit(q)) {
            /* Too big for the client's buffer: TC, it retries over TCP. */
            ldns_rr_list_deep_free(ldns_pkt_answer(p));
            ldns_rr_list_deep_free(ldns_pkt_authority(p));
            ldns_pkt_set_answer(p, ldns_rr_list_new());
            ldns_pkt_set_authority(p, ldns_rr_list_new());
            ldns_pkt_set_ancount(p, 0);
            ldns_pkt_set_nscount(p, 0);
            ldns_pkt_set_tc(p, true);
            ldns_buffer_clear(r->wbuf);
            ldns_pkt2buffer_wire(r->wbuf, p);
        }
        dns_srv_reply(req, ldns_buffer_begin(r->wbuf), ldns_buffer_position(r->wbuf));
    }
    ldns_pkt_free(p);
}

static void client_finish(struct client *c, int ad)
{
    c->r->tasks--;
    metrics_inc("dns_resolver_answers_total", c->rc == LDNS_RCODE_NOERROR    ? "rcode=\"NOERROR\""
                                              : c->rc == LDNS_RCODE_NXDOMAIN ? "rcode=\"NXDOMAIN\""
                                                                             : "rcode=\"SERVFAIL\"");
    send_response(c->r, c->req, c->q, c->rc, c->an, c->ns, ad);
    dns_srv_done(c->req);
    ldns_pkt_free(c->q);
    free(c);
}

static void client_validated_cb(void *arg, int status)
{
    struct client *c = arg;
    if (status == VAL_BOGUS) { /* RFC 4035 5.5: bogus data is not served */
        char *n = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(c->q), 0)));
        log_warn("dnssec.bogus", "name=%s", n ? n : "?");
        free(n);
        ldns_rr_list_deep_free(c->an);
        ldns_rr_list_deep_free(c->ns);
        c->an = c->ns = NULL;
        c->rc = LDNS_RCODE_SERVFAIL;
    }
    /* RFC 6840 5.7: AD only for a client that showed it understands it. */
    client_finish(c, status == VAL_SECURE && (ldns_pkt_edns_do(c->q) || ldns_pkt_ad(c->q)));
}

static void client_done_cb(struct task *t, void *arg, ldns_pkt_rcode rc, ldns_rr_list *an,
                           ldns_rr_list *ns)
{
    struct client *c = arg;
    c->rc = rc;
    c->an = an;
    c->ns = ns;
    /* With a trust anchor, answers and denials are validated unless the
     * client asked not to (CD). */
    if (c->r->anchors && (rc == LDNS_RCODE_NOERROR || rc == LDNS_RCODE_NXDOMAIN) && !ldns_pkt_cd(c->q)) {
        const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(c->q), 0);
        validate_response(c->r, ldns_rr_owner(qr), ldns_rr_get_type(qr), rc, c->an, c->ns,
                          client_validated_cb, c);
    } else {
        client_finish(c, 0);
    }
}

/* Answers a plain question straight from the cache, without parsing into
 * an ldns packet or copying records: 1 when answered. CNAME chains are
 * followed through the cache as resume() in iter.c does (same sections,
 * same rcodes); anything else (a miss, a broken or too long chain, an
 * unusual message) takes the general path. */
static int fast_cached(struct resolver *r, struct dns_req *req)
{
    struct dns_wire_query pq;
    if (!dns_wire_plain_query(req->wire, req->len, &pq) || pq.qtype == LDNS_RR_TYPE_ANY ||
        pq.qtype == LDNS_RR_TYPE_OPT || pq.qtype == 0)
        return 0;
    ldns_rr_type qtype = pq.qtype;
    size_t limit = pq.payload < 512 ? 512 : pq.payload > RES_EDNS_SIZE ? RES_EDNS_SIZE : pq.payload;
    ldns_rdf qname = pq.qname;
    const ldns_rr_list *chain[RES_CNAME_MAX];
    uint32_t chain_ttl[RES_CNAME_MAX];
    size_t nchain = 0;
    const ldns_rr_list *an = NULL, *ns = NULL;
    ldns_pkt_rcode rc = LDNS_RCODE_NOERROR;
    int kind;
    uint32_t left;
    for (;;) {
        const ldns_rr_list *l = cache_peek(r->cache, &qname, qtype, &kind, &left);
        if (l) {
            if (kind == CACHE_POS)
                an = l;
            else
                ns = l; /* NODATA: the SOA */
            break;
        }
        if ((l = cache_peek(r->cache, &qname, 0, &kind, &left))) {
            rc = LDNS_RCODE_NXDOMAIN;
            ns = l;
            break;
        }
        uint32_t cleft;
        if (qtype == LDNS_RR_TYPE_CNAME || nchain == RES_CNAME_MAX ||
            !(l = cache_peek(r->cache, &qname, LDNS_RR_TYPE_CNAME, &kind, &cleft)) ||
            kind != CACHE_POS || ldns_rr_list_rr_count(l) == 0)
            return 0; /* a miss, or what the general path turns into SERVFAIL */
        const ldns_rr *cn = ldns_rr_list_rr(l, 0);
        if (ldns_rr_rd_count(cn) < 1 || ldns_rdf_get_type(ldns_rr_rdf(cn, 0)) != LDNS_RDF_TYPE_DNAME)
            return 0;
        chain[nchain] = l;
        chain_ttl[nchain++] = cleft;
        qname = *ldns_rr_rdf(cn, 0); /* (the list stays valid: peeks free nothing) */
    }
    struct dns_wire_answer wa = {an, ns, NULL, rc, 0, 1, pq.edns, pq.do_bit, RES_EDNS_SIZE, left, 0,
                                 !pq.do_bit};
    struct dns_wire_chain ch = {chain, chain_ttl, nchain};
    size_t n = dns_wire_answer_chain(req->wire, req->len, &wa, &ch, req->tcp ? 65535 : limit,
                                     ldns_buffer_begin(r->wbuf), ldns_buffer_capacity(r->wbuf));
    if (!n)
        return 0;
    dns_srv_reply(req, ldns_buffer_begin(r->wbuf), n);
    metrics_inc("dns_resolver_answers_total", rc == LDNS_RCODE_NXDOMAIN ? "rcode=\"NXDOMAIN\"" : "rcode=\"NOERROR\"");
    return 1;
}

static void inflight_done_cb(struct task *t, void *arg, ldns_pkt_rcode rc, ldns_rr_list *an,
                             ldns_rr_list *ns)
{
    struct inflight *f = arg;
    struct inflight **pp = &inflight[f->bucket];
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (*pp)
        *pp = f->next;
    struct client *w = f->waiters;
    free(f);
    while (w) {
        struct client *next = w->next_waiter;
        /* Each waiter gets its own copy; the last takes the originals. */
        ldns_rr_list *a = next ? ldns_rr_list_clone(an) : an, *n = next ? ldns_rr_list_clone(ns) : ns;
        client_done_cb(t, w, rc, a, n);
        w = next;
    }
}

void serve_query_cb(struct dns_req *req, void *arg)
{
    struct resolver *r = arg;
    if (req->len < DNS_HEADER_LEN || (req->wire[2] & 0x80)) {
        dns_srv_done(req); /* not a query: silence */
        return;
    }
    if (!acl_allows(&r->acl, (const struct sockaddr *)&req->peer)) {
        char ip[NET_IP_MAX];
        log_warn("resolver.refused", "peer=%s reason=acl",
                 net_ip_string((const struct sockaddr *)&req->peer, ip));
        metrics_inc("dns_resolver_refused_total", NULL);
        reply_header(req, LDNS_RCODE_REFUSED);
        dns_srv_done(req);
        return;
    }
    if (!r->anchors && fast_cached(r, req)) { /* (validated answers take the full path) */
        dns_srv_done(req);
        return;
    }
    ldns_pkt *q = NULL;
    if (!dns_tsig_wire_ok(req->wire, req->len) ||
        ldns_wire2pkt(&q, req->wire, req->len) != LDNS_STATUS_OK) {
        reply_header(req, LDNS_RCODE_FORMERR);
        dns_srv_done(req);
        return;
    }
    const ldns_rr_list *ql = ldns_pkt_question(q);
    ldns_pkt_rcode early = LDNS_RCODE_NOERROR;
    ldns_rr_type qt = 0;
    if (ldns_pkt_get_opcode(q) != LDNS_PACKET_QUERY)
        early = LDNS_RCODE_NOTIMPL;
    else if (ldns_pkt_qdcount(q) != 1 || ldns_rr_list_rr_count(ql) != 1)
        early = LDNS_RCODE_FORMERR;
    else if (ldns_rr_get_class(ldns_rr_list_rr(ql, 0)) != LDNS_RR_CLASS_IN)
        early = LDNS_RCODE_REFUSED;
    else if ((qt = ldns_rr_get_type(ldns_rr_list_rr(ql, 0))) == LDNS_RR_TYPE_AXFR ||
             qt == LDNS_RR_TYPE_IXFR || qt == LDNS_RR_TYPE_ANY || qt == LDNS_RR_TYPE_MAILA ||
             qt == LDNS_RR_TYPE_MAILB)
        early = LDNS_RCODE_NOTIMPL;
    else if (qt == LDNS_RR_TYPE_OPT || qt == LDNS_RR_TYPE_TSIG || qt == LDNS_RR_TYPE_TKEY)
        early = LDNS_RCODE_FORMERR;
    else if (r->tasks >= RES_TASKS_MAX)
        early = LDNS_RCODE_SERVFAIL; /* overloaded: fail fast rather than queue */
    if (early != LDNS_RCODE_NOERROR) {
        send_response(r, req, q, early, NULL, NULL, 0);
        ldns_pkt_free(q);
        dns_srv_done(req);
        return;
    }
    struct client *c = calloc(1, sizeof *c);
    if (!c) {
        reply_header(req, LDNS_RCODE_SERVFAIL);
        ldns_pkt_free(q);
        dns_srv_done(req);
        return;
    }
    c->r = r;
    c->req = req;
    c->q = q;
    r->tasks++;
    metrics_inc("dns_resolver_questions_total", NULL);
    const ldns_rdf *qname = ldns_rr_owner(ldns_rr_list_rr(ql, 0));
    uint8_t key[LDNS_MAX_DOMAINLEN + 3];
    unsigned b;
    size_t kl = question_key(qname, qt, key, &b);
    for (struct inflight *f = inflight[b]; f; f = f->next)
        if (f->klen == kl && memcmp(f->key, key, kl) == 0) {
            c->next_waiter = f->waiters; /* the same question is on its way */
            f->waiters = c;
            metrics_inc("dns_resolver_coalesced_total", NULL);
            return;
        }
    struct inflight *f = calloc(1, sizeof *f);
    if (!f) {
        task_start(r, qname, qt, 0, client_done_cb, c);
        return;
    }
    memcpy(f->key, key, kl);
    f->klen = kl;
    f->bucket = b;
    f->waiters = c;
    f->next = inflight[b];
    inflight[b] = f;
    task_start(r, qname, qt, 0, inflight_done_cb, f);
}
