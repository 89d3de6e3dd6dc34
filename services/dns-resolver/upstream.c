/* upstream: one question to one authoritative server.
 * Each attempt gets its own UDP socket bound to port 0 (the kernel picks a
 * random ephemeral port) and a random 16-bit ID from libsodium, so an
 * off-path spoofer must guess both (RFC 5452). A reply must come from the
 * address asked, carry the ID and echo the question, or it is ignored. A
 * truncated reply is retried over TCP. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "dns_tsig.h"
#include "metrics.h"
#include "resolver.h"

struct up_query {
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    struct sockaddr_storage to;
    uint16_t id;
    ldns_rdf *qname;
    ldns_rr_type qtype;
    up_done_cb cb;
    void *arg;
    int handles; /* open uv handles */
    int finished;
    int tcp_mode;
    uint8_t *wire; /* query with a 2-byte length prefix (for TCP) */
    size_t wlen;
    size_t rhave;
    uint8_t rbuf[2 + 65535];
};

static void up_close_cb(uv_handle_t *h)
{
    struct up_query *u = h->data;
    if (--u->handles == 0) {
        ldns_rdf_deep_free(u->qname);
        free(u->wire);
        free(u);
    }
}

static void up_finish(struct up_query *u, ldns_pkt *resp)
{
    if (u->finished) {
        ldns_pkt_free(resp);
        return;
    }
    u->finished = 1;
    uv_close((uv_handle_t *)&u->timer, up_close_cb);
    uv_close((uv_handle_t *)&u->udp, up_close_cb);
    if (u->tcp_mode)
        uv_close((uv_handle_t *)&u->tcp, up_close_cb);
    metrics_inc("dns_resolver_upstream_total", resp ? "result=\"answer\"" : "result=\"failed\"");
    u->cb(u->arg, resp);
}

/* 1 if the reply answers our question (ID, QR, question echoed). */
static ldns_pkt *up_accept(struct up_query *u, const uint8_t *data, size_t len)
{
    if (len < 12 || ((data[0] << 8) | data[1]) != u->id || !(data[2] & 0x80))
        return NULL;
    ldns_pkt *p = NULL;
    if (!dns_tsig_wire_ok(data, len) || ldns_wire2pkt(&p, data, len) != LDNS_STATUS_OK)
        return NULL;
    const ldns_rr_list *q = ldns_pkt_question(p);
    if (ldns_rr_list_rr_count(q) != 1 ||
        ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(q, 0)), u->qname) != 0 ||
        ldns_rr_get_type(ldns_rr_list_rr(q, 0)) != u->qtype) {
        ldns_pkt_free(p);
        return NULL;
    }
    return p;
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static void up_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct up_query *u = h->data;
    buf->base = (char *)u->rbuf + u->rhave;
    buf->len = sizeof u->rbuf - u->rhave;
}

static void tcp_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct up_query *u = s->data;
    if (u->finished)
        return;
    if (n < 0) {
        up_finish(u, NULL);
        return;
    }
    u->rhave += (size_t)n;
    if (u->rhave < 2)
        return;
    size_t mlen = (size_t)(u->rbuf[0] << 8 | u->rbuf[1]);
    if (u->rhave < 2 + mlen)
        return;
    up_finish(u, up_accept(u, u->rbuf + 2, mlen));
}

static void tcp_write_cb(uv_write_t *w, int status)
{
    struct up_query *u = w->data;
    if (status < 0 && !u->finished)
        up_finish(u, NULL);
}

static void tcp_connect_cb(uv_connect_t *c, int status)
{
    struct up_query *u = c->data;
    if (u->finished)
        return;
    if (status < 0) {
        up_finish(u, NULL);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)u->wire, (unsigned)u->wlen + 2);
    u->wr.data = u;
    if (uv_write(&u->wr, (uv_stream_t *)&u->tcp, &b, 1, tcp_write_cb) < 0 ||
        uv_read_start((uv_stream_t *)&u->tcp, up_alloc_cb, tcp_read_cb) < 0)
        up_finish(u, NULL);
}

static void timeout_cb(uv_timer_t *t)
{
    up_finish(t->data, NULL);
}

static void start_tcp(struct up_query *u)
{
    u->tcp_mode = 1;
    u->rhave = 0;
    uv_udp_recv_stop(&u->udp);
    uv_tcp_init(u->udp.loop, &u->tcp);
    u->tcp.data = u;
    u->handles++;
    u->conn.data = u;
    uv_timer_start(&u->timer, timeout_cb, RES_TCP_TIMEOUT_MS, 0);
    if (uv_tcp_connect(&u->conn, &u->tcp, (const struct sockaddr *)&u->to, tcp_connect_cb) < 0)
        up_finish(u, NULL);
}

static void udp_recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    struct up_query *u = h->data;
    if (u->finished || u->tcp_mode || n <= 0 || !from || !same_addr(from, &u->to))
        return; /* a reply from elsewhere is ignored, not an error */
    ldns_pkt *p = up_accept(u, (const uint8_t *)buf->base, (size_t)n);
    if (!p) {
        metrics_inc("dns_resolver_bogus_replies_total", NULL);
        return;
    }
    if (ldns_pkt_tc(p)) {
        ldns_pkt_free(p);
        metrics_inc("dns_resolver_tcp_fallback_total", NULL);
        start_tcp(u);
        return;
    }
    up_finish(u, p);
}

int up_send(uv_loop_t *loop, const struct sockaddr_storage *to, const ldns_rdf *qname,
            ldns_rr_type qtype, int rd, int do_bit, up_done_cb cb, void *arg)
{
    struct up_query *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    u->to = *to;
    u->qname = ldns_rdf_clone(qname);
    u->qtype = qtype;
    u->cb = cb;
    u->arg = arg;
    u->id = (uint16_t)randombytes_uniform(65536);
    ldns_pkt *q = ldns_pkt_query_new(ldns_rdf_clone(qname), qtype, LDNS_RR_CLASS_IN, rd ? LDNS_RD : 0);
    ldns_pkt_set_id(q, u->id);
    ldns_pkt_set_edns_udp_size(q, RES_EDNS_SIZE);
    ldns_pkt_set_edns_do(q, do_bit != 0);
    uint8_t *w = NULL;
    size_t wl = 0;
    int ok = ldns_pkt2wire(&w, q, &wl) == LDNS_STATUS_OK;
    ldns_pkt_free(q);
    if (ok) {
        u->wire = malloc(wl + 2);
        ok = u->wire != NULL;
    }
    if (!ok) {
        free(w);
        ldns_rdf_deep_free(u->qname);
        free(u);
        return -1;
    }
    u->wire[0] = (uint8_t)(wl >> 8);
    u->wire[1] = (uint8_t)wl;
    memcpy(u->wire + 2, w, wl);
    u->wlen = wl;
    free(w);

    uv_udp_init(loop, &u->udp);
    uv_timer_init(loop, &u->timer);
    u->udp.data = u->timer.data = u;
    u->handles = 2;
    struct sockaddr_storage any;
    memset(&any, 0, sizeof any);
    any.ss_family = to->ss_family; /* port 0: a fresh random source port */
    uv_timer_start(&u->timer, timeout_cb, RES_UDP_TIMEOUT_MS, 0);
    uv_buf_t b = uv_buf_init((char *)u->wire + 2, (unsigned)u->wlen);
    if (uv_udp_bind(&u->udp, (const struct sockaddr *)&any, 0) < 0 ||
        uv_udp_recv_start(&u->udp, up_alloc_cb, udp_recv_cb) < 0 ||
        uv_udp_try_send(&u->udp, &b, 1, (const struct sockaddr *)to) < 0) {
        /* The callback contract holds: report the failure asynchronously. */
        uv_timer_start(&u->timer, timeout_cb, 0, 0);
    }
    return 0;
}
