/* dnsup: UPDATE client (see dnsup.h). */
#include "dnsup.h"

#include "conf.h"
#include "dns_tsig.h"
#include "net.h"
#include "sbuf.h"

#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNSUP_TIMEOUT_MS 5000
#define DNSUP_MAX 65535

char *dnsup_txt_rr(const char *name, unsigned ttl, const char *text)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_printf(&b, "%s %u IN TXT", name, ttl);
    size_t n = strlen(text);
    for (size_t i = 0; i < n || i == 0; i += 255) {
        size_t k = n - i < 255 ? n - i : 255;
        sbuf_adds(&b, " \"");
        for (size_t j = 0; j < k; j++) {
            char c = text[i + j];
            if (c == '"' || c == '\\')
                sbuf_add(&b, "\\", 1);
            sbuf_add(&b, &c, 1);
        }
        sbuf_adds(&b, "\"");
        if (n == 0)
            break;
    }
    return sbuf_steal(&b, NULL);
}

/* One TCP exchange: length-prefixed query out, length-prefixed answer in. */
static int dnsup_exchange(const char *server, const uint8_t *q, size_t qlen, uint8_t **ans, size_t *alen,
                          char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (net_resolve(server, 53, &ss) < 0) {
        snprintf(err, errlen, "cannot resolve %s", server);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                              : sizeof(struct sockaddr_in6)) < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", server, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct timeval tv = {DNSUP_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    uint8_t hdr[2] = {(uint8_t)(qlen >> 8), (uint8_t)qlen};
    uint8_t *buf = NULL;
    if (write(fd, hdr, 2) != 2 || write(fd, q, qlen) != (ssize_t)qlen)
        goto io;
    size_t got = 0;
    while (got < 2) {
        ssize_t r = read(fd, hdr + got, 2 - got);
        if (r <= 0)
            goto io;
        got += (size_t)r;
    }
    size_t need = (size_t)hdr[0] << 8 | hdr[1];
    buf = malloc(need ? need : 1);
    for (got = 0; buf && got < need;) {
        ssize_t r = read(fd, buf + got, need - got);
        if (r <= 0)
            goto io;
        got += (size_t)r;
    }
    close(fd);
    *ans = buf;
    *alen = need;
    return 0;
io:
    snprintf(err, errlen, "no answer from %s: %s", server, errno ? strerror(errno) : "closed");
    free(buf);
    close(fd);
    return -1;
}

int dnsup_send(const char *server, const char *keyspec, const char *zone, enum dnsup_op op, const char *rr,
               char *err, size_t errlen)
{
    struct dns_tsig_key key;
    memset(&key, 0, sizeof key);
    if (keyspec && dns_tsig_key_parse(keyspec, &key, err, errlen) < 0)
        return -1;
    int rc = -1;
    ldns_rdf *zrdf = ldns_dname_new_frm_str(zone);
    ldns_rr *rec = NULL;
    ldns_rr_list *up = ldns_rr_list_new();
    ldns_pkt *pkt = NULL, *resp = NULL;
    uint8_t *wire = NULL, *ans = NULL;
    size_t wlen = 0, alen = 0;
    if (!zrdf || ldns_rr_new_frm_str(&rec, rr, 3600, NULL, NULL) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "cannot parse record: %s", rr);
        goto out;
    }
    if (op == DNSUP_DELETE_RRSET || op == DNSUP_REPLACE) {
        /* RFC 2136 §2.5.2: class ANY, TTL 0, empty RDATA deletes the RRset. */
        ldns_rr *del = ldns_rr_new();
        ldns_rr_set_owner(del, ldns_rdf_clone(ldns_rr_owner(rec)));
        ldns_rr_set_type(del, ldns_rr_get_type(rec));
        ldns_rr_set_class(del, LDNS_RR_CLASS_ANY);
        ldns_rr_set_ttl(del, 0);
        ldns_rr_list_push_rr(up, del);
    }
    if (op == DNSUP_ADD || op == DNSUP_REPLACE) {
        ldns_rr_list_push_rr(up, rec);
        rec = NULL;
    }
    /* The packet takes the zone name but copies the update list: ours is
     * still ours to free (it leaked once per UPDATE before). */
    pkt = ldns_update_pkt_new(zrdf, LDNS_RR_CLASS_IN, NULL, up, NULL);
    zrdf = NULL;
    if (!pkt) {
        snprintf(err, errlen, "cannot build UPDATE");
        goto out;
    }
    ldns_pkt_set_random_id(pkt);
    if (keyspec && dns_tsig_sign(pkt, &key, NULL, 0) < 0) {
        snprintf(err, errlen, "cannot sign UPDATE with TSIG key %s", key.name);
        goto out;
    }
    if (ldns_pkt2wire(&wire, pkt, &wlen) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "cannot encode UPDATE");
        goto out;
    }
    if (dnsup_exchange(server, wire, wlen, &ans, &alen, err, errlen) < 0)
        goto out;
    if (ldns_wire2pkt(&resp, ans, alen) != LDNS_STATUS_OK || ldns_pkt_id(resp) != ldns_pkt_id(pkt)) {
        snprintf(err, errlen, "malformed answer from %s", server);
        goto out;
    }
    rc = ldns_pkt_get_rcode(resp);
    if (rc != 0) {
        ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rc);
        snprintf(err, errlen, "server answered %s", lt ? lt->name : "an error");
    }
out:
    if (zrdf)
        ldns_rdf_deep_free(zrdf);
    if (rec)
        ldns_rr_free(rec);
    if (up)
        ldns_rr_list_deep_free(up);
    ldns_pkt_free(pkt);
    ldns_pkt_free(resp);
    free(wire);
    free(ans);
    dns_tsig_key_clear(&key);
    return rc;
}
