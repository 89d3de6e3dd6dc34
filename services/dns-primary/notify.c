/* notify: NOTIFY in and out (RFC 1996).
 *
 * Out: after a change every --notify secondary gets a NOTIFY for the zone.
 * UDP loses datagrams and a secondary may be restarting, so each one is
 * resent at growing intervals until the secondary answers or NOTIFY_TRIES
 * copies went out (RFC 1996 3.6). With --notify-key it is TSIG-signed and
 * only an answer signed with the same key counts. A newer change for the
 * same zone and secondary replaces the one still in flight. Names are
 * looked up on the threadpool, never on the loop.
 *
 * In: a signed NOTIFY (a secondary's, or `envoi dns notify`) makes us pull. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
#include "primary.h"

#define NOTIFY_TRIES 5          /* copies sent before giving up */
#define NOTIFY_FIRST_MS 1000    /* wait for the first answer; doubles per copy */
#define NOTIFY_RBUF 4096        /* an answer is a header, a question and maybe a TSIG */

struct notify_out {
    struct primary *p;
    struct notify_out *next;
    const char *target;        /* the --notify value, for logs */
    char zone[264];
    uint32_t serial;
    uint16_t id;
    uint8_t *wire;
    size_t len;
    ldns_rdf *mac;             /* our request's MAC, to check a signed answer */
    struct sockaddr_storage to;
    int tries;
    uint64_t wait_ms;
    int resolving, dropped;    /* dropped while resolving: the lookup's callback frees */
    uv_getaddrinfo_t gai;
    uv_timer_t timer;
};

static char notify_rbuf[NOTIFY_RBUF]; /* one loop thread */

static void notify_free_cb(uv_handle_t *h)
{
    struct notify_out *n = h->data;
    free(n->wire);
    if (n->mac)
        ldns_rdf_deep_free(n->mac);
    free(n);
}

/* Unlinks n and frees it once its handles are closed. */
static void notify_drop(struct notify_out *n)
{
    struct primary *p = n->p;
    for (struct notify_out **pp = &p->notify_out; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    n->next = NULL;
    if (n->resolving) {
        n->dropped = 1;
        uv_cancel((uv_req_t *)&n->gai);
        return;
    }
    uv_close((uv_handle_t *)&n->timer, notify_free_cb);
}

static void notify_transmit(struct notify_out *n)
{
    uv_buf_t b = uv_buf_init((char *)n->wire, (unsigned)n->len);
    int rc = uv_udp_try_send(&n->p->notify_udp, &b, 1, (const struct sockaddr *)&n->to);
    n->tries++;
    log_info("notify.sent", "zone=%s serial=%u to=%s try=%d result=%s", n->zone, n->serial, n->target, n->tries,
             rc >= 0 ? "ok" : uv_err_name(rc));
    metrics_inc("dns_primary_notify_sent_total", NULL);
}

static void notify_timer_cb(uv_timer_t *t)
{
    struct notify_out *n = t->data;
    if (n->tries >= NOTIFY_TRIES) {
        log_warn("notify.unanswered", "zone=%s serial=%u to=%s tries=%d", n->zone, n->serial, n->target, n->tries);
        metrics_inc("dns_primary_notify_total", "result=\"unanswered\"");
        notify_drop(n);
        return;
    }
    notify_transmit(n);
    n->wait_ms *= 2;
    uv_timer_start(&n->timer, notify_timer_cb, n->wait_ms, 0);
}

static void notify_resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct notify_out *n = req->data;
    n->resolving = 0;
    if (n->dropped) {
        if (res)
            uv_freeaddrinfo(res);
        uv_close((uv_handle_t *)&n->timer, notify_free_cb);
        return;
    }
    /* notify_udp is IPv4: the first IPv4 answer. */
    struct addrinfo *a = res;
    while (a && a->ai_family != AF_INET)
        a = a->ai_next;
    if (status < 0 || !a) {
        log_warn("notify.bad_address", "zone=%s to=%s error=%s", n->zone, n->target,
                 status < 0 ? uv_strerror(status) : "no IPv4 address");
        metrics_inc("dns_primary_notify_total", "result=\"bad_address\"");
        if (res)
            uv_freeaddrinfo(res);
        notify_drop(n);
        return;
    }
    memcpy(&n->to, a->ai_addr, a->ai_addrlen);
    uv_freeaddrinfo(res);
    notify_transmit(n);
    uv_timer_start(&n->timer, notify_timer_cb, n->wait_ms, 0);
}

/* The NOTIFY message for ze, signed when we have a key; 0 on success. */
static int notify_build(struct primary *p, const struct zone_entry *ze, struct notify_out *n)
{
    ldns_pkt *pkt = ldns_pkt_new();
    if (!pkt)
        return -1;
    ldns_pkt_set_random_id(pkt);
    ldns_pkt_set_opcode(pkt, LDNS_PACKET_NOTIFY);
    ldns_pkt_set_aa(pkt, true);
    ldns_rr *qr = ldns_rr_new();
    ldns_rr_set_owner(qr, ldns_rdf_clone(ze->zone->origin));
    ldns_rr_set_type(qr, LDNS_RR_TYPE_SOA);
    ldns_rr_set_class(qr, LDNS_RR_CLASS_IN);
    ldns_rr_set_question(qr, true);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, qr);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ze->zone->soa));
    int rc = -1;
    if (p->notify_key_set && dns_tsig_sign(pkt, &p->notify_key, NULL, 0) < 0)
        goto out;
    if (ldns_pkt2wire(&n->wire, pkt, &n->len) != LDNS_STATUS_OK)
        goto out;
    n->id = ldns_pkt_id(pkt);
    const ldns_rdf *mac = dns_tsig_mac(pkt);
    n->mac = mac ? ldns_rdf_clone(mac) : NULL;
    rc = 0;
out:
    ldns_pkt_free(pkt);
    return rc;
}

void notify_send(struct primary *p, const struct zone_entry *ze)
{
    if (p->stopping)
        return;
    for (int i = 0; i < p->notify_to.n; i++) {
        const char *target = p->notify_to.v[i];
        for (struct notify_out *o = p->notify_out, *next; o; o = next) {
            next = o->next;
            if (o->target == target && !strcmp(o->zone, ze->name))
                notify_drop(o); /* superseded by this change */
        }
        struct conf_addr a;
        struct notify_out *n = calloc(1, sizeof *n);
        if (!n || conf_addr_parse(target, 53, &a) < 0 || notify_build(p, ze, n) < 0) {
            log_warn("notify.failed", "zone=%s to=%s", ze->name, target);
            if (n) {
                free(n->wire);
                free(n);
            }
            continue;
        }
        n->p = p;
        n->target = target;
        n->serial = ze->zone->serial;
        n->wait_ms = NOTIFY_FIRST_MS;
        snprintf(n->zone, sizeof n->zone, "%s", ze->name);
        uv_timer_init(p->loop, &n->timer);
        n->timer.data = n;
        n->gai.data = n;
        char port[8];
        snprintf(port, sizeof port, "%u", a.port);
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM};
        n->next = p->notify_out;
        p->notify_out = n;
        if (uv_getaddrinfo(p->loop, &n->gai, notify_resolved_cb, a.host, port, &hints) == 0) {
            n->resolving = 1;
        } else {
            log_warn("notify.bad_address", "zone=%s to=%s", ze->name, target);
            notify_drop(n);
        }
    }
}

static int notify_same_peer(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
    return b->sa_family == AF_INET && x->sin_family == AF_INET && x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static void notify_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    *buf = uv_buf_init(notify_rbuf, sizeof notify_rbuf);
}

/* An answer to one of our NOTIFYs: same ID, same peer, QR set, opcode NOTIFY. */
static void notify_recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                           unsigned flags)
{
    struct primary *p = u->data;
    (void)flags;
    if (nread < 12 || !from)
        return;
    const uint8_t *w = (const uint8_t *)buf->base;
    if (!(w[2] & 0x80) || ((w[2] >> 3) & 0xf) != LDNS_PACKET_NOTIFY)
        return;
    uint16_t id = (uint16_t)(w[0] << 8 | w[1]);
    struct notify_out *n = p->notify_out;
    while (n && (n->resolving || n->id != id || !notify_same_peer(&n->to, from)))
        n = n->next;
    if (!n)
        return;
    if (n->mac) {
        ldns_pkt *r = NULL;
        enum dns_tsig_status ts = DNS_TSIG_UNSIGNED;
        if (dns_tsig_wire_ok(w, (size_t)nread) && ldns_wire2pkt(&r, w, (size_t)nread) == LDNS_STATUS_OK)
            ts = dns_tsig_verify_response(r, w, (size_t)nread, &p->notify_key, n->mac);
        ldns_pkt_free(r);
        if (ts != DNS_TSIG_OK) {
            /* Not from the holder of the key: keep resending. */
            log_warn("notify.answer_unsigned", "zone=%s to=%s tsig=%d", n->zone, n->target, (int)ts);
            return;
        }
    }
    int rcode = w[3] & 0xf;
    log_info("notify.answered", "zone=%s serial=%u to=%s tries=%d rcode=%s", n->zone, n->serial, n->target,
             n->tries, ldns_lookup_by_id(ldns_rcodes, rcode) ? ldns_lookup_by_id(ldns_rcodes, rcode)->name : "?");
    metrics_inc("dns_primary_notify_total", rcode == 0 ? "result=\"answered\"" : "result=\"refused\"");
    notify_drop(n);
}

int notify_start(struct primary *p)
{
    uv_udp_init(p->loop, &p->notify_udp);
    p->notify_udp.data = p;
    struct sockaddr_in any;
    uv_ip4_addr("0.0.0.0", 0, &any);
    int rc = uv_udp_bind(&p->notify_udp, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&p->notify_udp, notify_alloc_cb, notify_recv_cb);
    return rc;
}

void notify_stop(struct primary *p)
{
    while (p->notify_out)
        notify_drop(p->notify_out);
    uv_close((uv_handle_t *)&p->notify_udp, NULL);
}

void notify_handle(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key)
{
    const ldns_rr_list *ql = ldns_pkt_question(q);
    char ip[NET_IP_MAX];
    net_ip_string((const struct sockaddr *)&req->peer, ip);
    ldns_pkt_rcode rc = LDNS_RCODE_NOERROR;
    struct zone_entry *ze = NULL;
    if (ldns_pkt_qdcount(q) != 1 || !ql || ldns_rr_list_rr_count(ql) != 1 ||
        ldns_rr_get_type(ldns_rr_list_rr(ql, 0)) != LDNS_RR_TYPE_SOA)
        rc = LDNS_RCODE_FORMERR;
    else if (!(ze = zones_exact(&p->zones, ldns_rr_owner(ldns_rr_list_rr(ql, 0)))))
        rc = LDNS_RCODE_NOTAUTH;
    else if (!dns_tsig_allows(key, DNS_TSIG_RIGHT_NOTIFY, ze->zone->origin))
        rc = LDNS_RCODE_REFUSED; /* an unsigned NOTIFY could make us pull in a loop */
    log_info("notify.received", "peer=%s zone=%s key=%s result=%s", ip, ze ? ze->name : "-",
             key ? key->name : "none", ldns_lookup_by_id(ldns_rcodes, (int)rc)->name);
    ldns_pkt *r = primary_response(q, rc);
    ldns_pkt_set_aa(r, rc == LDNS_RCODE_NOERROR);
    primary_send(p, req, r, 512, key, key ? dns_tsig_mac(q) : NULL);
    ldns_pkt_free(r);
    if (rc == LDNS_RCODE_NOERROR)
        sync_pull(p, "notify");
}
