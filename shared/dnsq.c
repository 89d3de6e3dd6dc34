/* dnsq: blocking DNS queries with ldns (see dnsq.h). */
#include "dnsq.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNSQ_RETRY 2          /* tries per query before "timeout" */
#define DNSQ_WIRE_NAME_MAX 255
#define DNSQ_LABEL_MAX 63
#define DNSQ_RR_MAX 1024      /* answer records kept (TCP answers can be long) */

struct dnsq {
    ldns_resolver *res;
};

static int push_server(ldns_resolver *res, const char *server)
{
    char host[256];
    const char *port = NULL;
    if (server[0] == '[') { /* [v6]:port */
        const char *end = strchr(server, ']');
        if (!end || (size_t)(end - server - 1) >= sizeof host)
            return -1;
        snprintf(host, sizeof host, "%.*s", (int)(end - server - 1), server + 1);
        if (end[1] == ':')
            port = end + 2;
    } else {
        const char *colon = strchr(server, ':');
        if (colon && strchr(colon + 1, ':')) /* bare IPv6, no port */
            colon = NULL;
        size_t hl = colon ? (size_t)(colon - server) : strlen(server);
        if (hl >= sizeof host)
            return -1;
        memcpy(host, server, hl);
        host[hl] = '\0';
        if (colon)
            port = colon + 1;
    }
    uint8_t tmp[16];
    ldns_rdf *ns = NULL;
    if (inet_pton(AF_INET, host, tmp) == 1)
        ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, host);
    else if (inet_pton(AF_INET6, host, tmp) == 1)
        ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, host);
    if (!ns)
        return -1;
    ldns_status st = ldns_resolver_push_nameserver(res, ns);
    ldns_rdf_deep_free(ns);
    if (st != LDNS_STATUS_OK)
        return -1;
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || p <= 0 || p > 65535)
            return -1;
        ldns_resolver_set_port(res, (uint16_t)p);
    }
    return 0;
}

dnsq *dnsq_new(const char *server, int timeout_ms)
{
    dnsq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    if (server) {
        q->res = ldns_resolver_new();
        if (q->res && push_server(q->res, server) != 0) {
            ldns_resolver_deep_free(q->res);
            q->res = NULL;
        }
    } else if (ldns_resolver_new_frm_file(&q->res, NULL) != LDNS_STATUS_OK) {
        q->res = NULL;
    }
    if (!q->res) {
        free(q);
        return NULL;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ldns_resolver_set_timeout(q->res, tv);
    ldns_resolver_set_retry(q->res, DNSQ_RETRY);
    ldns_resolver_set_retrans(q->res, 0);
    ldns_resolver_set_fallback(q->res, true); /* TC bit -> ask again over TCP */
    ldns_resolver_set_recursive(q->res, true);
    ldns_resolver_set_dnssec(q->res, false);
    ldns_resolver_set_random(q->res, false);
    return q;
}

void dnsq_free(dnsq *q)
{
    if (!q)
        return;
    ldns_resolver_deep_free(q->res);
    free(q);
}

/* Text name -> wire form; bytes other than '.' are taken as they are, so a
 * name with spaces (possible after SPF macro expansion) still goes out. */
static ldns_rdf *wire_name(const char *name)
{
    uint8_t wire[DNSQ_WIRE_NAME_MAX + 1];
    size_t n = strlen(name), w = 0;
    if (n && name[n - 1] == '.')
        n--;
    size_t st = 0;
    while (st < n) {
        size_t e = st;
        while (e < n && name[e] != '.')
            e++;
        size_t ll = e - st;
        if (ll == 0 || ll > DNSQ_LABEL_MAX || w + ll + 2 > DNSQ_WIRE_NAME_MAX)
            return NULL;
        wire[w++] = (uint8_t)ll;
        memcpy(wire + w, name + st, ll);
        w += ll;
        st = e + 1;
    }
    wire[w++] = 0;
    return ldns_dname_new_frm_data((uint16_t)w, wire);
}

/* Wire name -> text with raw label bytes, no trailing dot ("" for root). */
static char *text_name(const ldns_rdf *rdf, size_t *len)
{
    const uint8_t *d = ldns_rdf_data(rdf);
    size_t sz = ldns_rdf_size(rdf), i = 0, o = 0;
    char *out = malloc(sz + 1);
    if (!out)
        return NULL;
    while (i < sz && d[i] != 0) {
        size_t ll = d[i++];
        if (ll > sz - i)
            break;
        if (o)
            out[o++] = '.';
        memcpy(out + o, d + i, ll);
        o += ll;
        i += ll;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static int convert_rr(const ldns_rr *rr, dnsq_rr *o)
{
    memset(o, 0, sizeof *o);
    o->type = (uint16_t)ldns_rr_get_type(rr);
    size_t nrd = ldns_rr_rd_count(rr);
    const ldns_rdf *r0 = nrd > 0 ? ldns_rr_rdf(rr, 0) : NULL;
    switch (o->type) {
    case LDNS_RR_TYPE_A:
    case LDNS_RR_TYPE_AAAA: {
        size_t want = o->type == LDNS_RR_TYPE_A ? 4 : 16;
        if (!r0 || ldns_rdf_size(r0) != want)
            return -1;
        memcpy(o->addr, ldns_rdf_data(r0), want);
        return 0;
    }
    case LDNS_RR_TYPE_MX:
        if (nrd < 2)
            return -1;
        o->pref = ldns_rdf2native_int16(r0);
        o->data = text_name(ldns_rr_rdf(rr, 1), &o->len);
        return o->data ? 0 : -1;
    case LDNS_RR_TYPE_PTR:
    case LDNS_RR_TYPE_CNAME:
        if (!r0)
            return -1;
        o->data = text_name(r0, &o->len);
        return o->data ? 0 : -1;
    case LDNS_RR_TYPE_TXT: {
        size_t total = 0;
        for (size_t k = 0; k < nrd; k++)
            total += ldns_rdf_size(ldns_rr_rdf(rr, k));
        if (!(o->data = malloc(total + 1)))
            return -1;
        for (size_t k = 0; k < nrd; k++) { /* each rdf: length byte + bytes */
            const ldns_rdf *s = ldns_rr_rdf(rr, k);
            const uint8_t *d = ldns_rdf_data(s);
            size_t sz = ldns_rdf_size(s);
            if (sz == 0)
                continue;
            size_t sl = d[0] < sz - 1 ? d[0] : sz - 1;
            memcpy(o->data + o->len, d + 1, sl);
            o->len += sl;
        }
        o->data[o->len] = '\0';
        return 0;
    }
    }
    return 0;
}

/* Fills out from a parsed response: rcode and the answer section. */
static void answer_from_pkt(const ldns_pkt *pkt, dnsq_answer *out)
{
    out->rcode = ldns_pkt_get_rcode(pkt);
    ldns_rr_list *ans = ldns_pkt_answer(pkt);
    size_t n = ans ? ldns_rr_list_rr_count(ans) : 0;
    if (n > DNSQ_RR_MAX)
        n = DNSQ_RR_MAX;
    if (n && !(out->rr = calloc(n, sizeof *out->rr))) {
        out->rcode = DNSQ_TIMEOUT;
        n = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (convert_rr(ldns_rr_list_rr(ans, i), &out->rr[out->n]) == 0)
            out->n++;
        else
            free(out->rr[out->n].data);
}

int dnsq_answer_from_wire(const uint8_t *wire, size_t len, dnsq_answer *out)
{
    memset(out, 0, sizeof *out);
    out->rcode = DNSQ_TIMEOUT;
    ldns_pkt *pkt = NULL;
    if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK || !pkt)
        return -1;
    answer_from_pkt(pkt, out);
    ldns_pkt_free(pkt);
    return 0;
}

int dnsq_query(dnsq *q, const char *name, uint16_t type, dnsq_answer *out)
{
    memset(out, 0, sizeof *out);
    out->rcode = DNSQ_TIMEOUT;
    ldns_rdf *qn = wire_name(name);
    if (!qn) {
        out->rcode = LDNS_RCODE_FORMERR;
        return -1;
    }
    /* ldns marks a server that timed out as unreachable and then skips it
     * for good; one silent name (an SPF include) would make every later
     * question on this resolver (HELO, DKIM keys, DMARC) fail without being
     * asked. Every question gets its own chance. */
    for (size_t i = 0; i < ldns_resolver_nameserver_count(q->res); i++)
        ldns_resolver_set_nameserver_rtt(q->res, i, LDNS_RESOLV_RTT_MIN);
    ldns_pkt *pkt = NULL;
    ldns_status st = ldns_resolver_send(&pkt, q->res, qn, (ldns_rr_type)type, LDNS_RR_CLASS_IN,
                                        LDNS_RD);
    ldns_rdf_deep_free(qn);
    if (st != LDNS_STATUS_OK || !pkt) {
        ldns_pkt_free(pkt);
        return 0;
    }
    answer_from_pkt(pkt, out);
    ldns_pkt_free(pkt);
    return 0;
}

void dnsq_answer_free(dnsq_answer *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->rr[i].data);
    free(a->rr);
    memset(a, 0, sizeof *a);
}
