/* envoi dns: talk to an authoritative server with TSIG.
 *   envoi dns notify ZONE --dns-server ADDR[:PORT] [--dns-key NAME:ALG:SECRET]
 *   envoi dns update --dns-server ADDR --dns-key KEY [--zone Z] [--ttl N] OP
 *       OP: add NAME TYPE DATA...      (TXT, A, AAAA, MX, CNAME... any type)
 *           replace NAME TYPE DATA...  (delete the RRset, then add: one update)
 *           del NAME [TYPE [DATA...]]  (a name, an RRset, or one record)
 *   envoi dns query NAME [TYPE] --dns-server ADDR
 * --dns-server and --dns-key fall back to ENVOI_DNS_SERVER / ENVOI_DNS_KEY.
 * Exit status: 0 on NOERROR, 1 on a DNS error rcode, 2 on usage or I/O errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmds.h"
#include "dns_tsig.h"
#include "net.h"

#define DNSCMD_TIMEOUT_S 5
#define DNSCMD_DATA_MAX 4096

static int dnscmd_usage(void)
{
    fprintf(stderr,
            "usage: envoi dns notify ZONE --dns-server ADDR[:PORT] [--dns-key NAME:ALG:SECRET]\n"
            "       envoi dns update --dns-server ADDR --dns-key KEY [--zone Z] [--ttl N] OP\n"
            "           OP: add NAME TYPE DATA... | replace NAME TYPE DATA... | del NAME [TYPE [DATA...]]\n"
            "       envoi dns query NAME [TYPE] --dns-server ADDR[:PORT] [--dns-key KEY] [--tcp]\n");
    return 2;
}

static int read_full(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Sends wire to server and reads one answer over TCP or UDP. */
static long exchange(const char *server, int tcp, const uint8_t *wire, size_t len, uint8_t *ans,
                     size_t anssz)
{
    struct sockaddr_storage sa;
    if (net_resolve(server, 53, &sa) < 0) {
        fprintf(stderr, "envoi dns: cannot resolve %s\n", server);
        return -1;
    }
    int fd = socket(sa.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {DNSCMD_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    socklen_t sl = sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    long n = -1;
    if (connect(fd, (struct sockaddr *)&sa, sl) < 0) {
        fprintf(stderr, "envoi dns: connect %s: %s\n", server, strerror(errno));
    } else if (tcp) {
        uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
        uint8_t lb[2];
        if (write(fd, hdr, 2) == 2 && write(fd, wire, len) == (ssize_t)len && read_full(fd, lb, 2) == 0) {
            size_t al = (size_t)(lb[0] << 8 | lb[1]);
            if (al <= anssz && read_full(fd, ans, al) == 0)
                n = (long)al;
        }
    } else if (send(fd, wire, len, 0) == (ssize_t)len) {
        n = recv(fd, ans, anssz, 0);
    }
    if (n < 0)
        fprintf(stderr, "envoi dns: no answer from %s\n", server);
    close(fd);
    return n;
}

/* Signs q (when key), exchanges it, checks the answer; prints it when verbose. */
static int send_and_check(const char *server, int tcp, ldns_pkt *q, const struct dns_tsig_key *key,
                          int print)
{
    ldns_pkt_set_random_id(q);
    if (key && dns_tsig_sign(q, key, NULL, 0) < 0) {
        fprintf(stderr, "envoi dns: cannot sign with %s\n", key->name);
        return 2;
    }
    uint8_t *wire = NULL;
    size_t len = 0;
    if (ldns_pkt2wire(&wire, q, &len) != LDNS_STATUS_OK)
        return 2;
    uint8_t ans[65536];
    long n = exchange(server, tcp, wire, len, ans, sizeof ans);
    free(wire);
    if (n < 0)
        return 2;
    ldns_pkt *r = NULL;
    if (!dns_tsig_wire_ok(ans, (size_t)n) || ldns_wire2pkt(&r, ans, (size_t)n) != LDNS_STATUS_OK ||
        ldns_pkt_id(r) != ldns_pkt_id(q)) {
        fprintf(stderr, "envoi dns: malformed answer\n");
        ldns_pkt_free(r);
        return 2;
    }
    int rc = 0;
    if (key) {
        enum dns_tsig_status ts = dns_tsig_verify_response(r, ans, (size_t)n, key, dns_tsig_mac(q));
        if (ts != DNS_TSIG_OK) {
            fprintf(stderr, "envoi dns: answer TSIG check failed (%d)\n", (int)ts);
            rc = 2;
        }
    }
    if (print)
        ldns_pkt_print(stdout, r);
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(r);
    if (rcode != LDNS_RCODE_NOERROR) {
        const ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
        fprintf(stderr, "envoi dns: server answered %s\n", lt ? lt->name : "an error");
        rc = rc ? rc : 1;
    }
    ldns_pkt_free(r);
    return rc;
}

struct dnscmd_opts {
    const char *server, *keyspec, *zone;
    long ttl;
    int tcp;
    char *pos[64];
    int npos;
};

static int parse_opts(int argc, char **argv, struct dnscmd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->server = getenv("ENVOI_DNS_SERVER");
    o->keyspec = getenv("ENVOI_DNS_KEY");
    o->ttl = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--dns-server") ? &o->server
                            : !strcmp(a, "--dns-key")    ? &o->keyspec
                            : !strcmp(a, "--zone")       ? &o->zone
                                                         : NULL;
        if (target || !strcmp(a, "--ttl")) {
            if (i + 1 >= argc)
                return -1;
            if (target)
                *target = argv[++i];
            else
                o->ttl = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--tcp")) {
            o->tcp = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "envoi dns: unknown flag %s\n", a);
            return -1;
        } else if (o->npos < 64) {
            o->pos[o->npos++] = argv[i];
        }
    }
    if (!o->server) {
        fprintf(stderr, "envoi dns: --dns-server is required\n");
        return -1;
    }
    return 0;
}

static ldns_rr *question(const char *name, ldns_rr_type t)
{
    ldns_rdf *n = ldns_dname_new_frm_str(name);
    if (!n)
        return NULL;
    ldns_rr *q = ldns_rr_new();
    ldns_rr_set_owner(q, n);
    ldns_rr_set_type(q, t);
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    ldns_rr_set_question(q, true);
    return q;
}

static int load_key(const struct dnscmd_opts *o, struct dns_tsig_key *key, int required)
{
    if (!o->keyspec) {
        if (required)
            fprintf(stderr, "envoi dns: --dns-key is required\n");
        return required ? -1 : 0;
    }
    char err[200];
    if (dns_tsig_key_parse(o->keyspec, key, err, sizeof err) < 0) {
        fprintf(stderr, "envoi dns: --dns-key: %s\n", err);
        return -1;
    }
    return 1;
}

static int do_notify(struct dnscmd_opts *o)
{
    struct dns_tsig_key key;
    int hk = load_key(o, &key, 0);
    if (hk < 0 || o->npos != 1)
        return hk < 0 ? 2 : dnscmd_usage();
    ldns_rr *qr = question(o->pos[0], LDNS_RR_TYPE_SOA);
    if (!qr)
        return dnscmd_usage();
    ldns_pkt *q = ldns_pkt_new();
    ldns_pkt_set_opcode(q, LDNS_PACKET_NOTIFY);
    ldns_pkt_set_aa(q, true);
    ldns_pkt_push_rr(q, LDNS_SECTION_QUESTION, qr);
    int rc = send_and_check(o->server, o->tcp, q, hk ? &key : NULL, 0);
    if (rc == 0)
        printf("notify %s: acknowledged by %s\n", o->pos[0], o->server);
    ldns_pkt_free(q);
    if (hk)
        dns_tsig_key_clear(&key);
    return rc;
}

static int do_query(struct dnscmd_opts *o)
{
    struct dns_tsig_key key;
    int hk = load_key(o, &key, 0);
    if (hk < 0 || o->npos < 1 || o->npos > 2)
        return hk < 0 ? 2 : dnscmd_usage();
    ldns_rr_type t = o->npos == 2 ? ldns_get_rr_type_by_name(o->pos[1]) : LDNS_RR_TYPE_A;
    ldns_rr *qr = question(o->pos[0], t);
    if (!qr || !t)
        return dnscmd_usage();
    ldns_pkt *q = ldns_pkt_new();
    ldns_pkt_set_rd(q, true);
    ldns_pkt_push_rr(q, LDNS_SECTION_QUESTION, qr);
    int rc = send_and_check(o->server, o->tcp, q, hk ? &key : NULL, 1);
    ldns_pkt_free(q);
    if (hk)
        dns_tsig_key_clear(&key);
    return rc;
}

/* "NAME TTL IN TYPE DATA..." from the positional words. */
static ldns_rr *rr_from_words(char **w, int n, long ttl)
{
    char text[DNSCMD_DATA_MAX];
    int o = snprintf(text, sizeof text, "%s %ld IN", w[0], ttl);
    for (int i = 1; i < n && o > 0 && (size_t)o < sizeof text; i++)
        o += snprintf(text + o, sizeof text - (size_t)o, " %s", w[i]);
    if (o <= 0 || (size_t)o >= sizeof text)
        return NULL;
    ldns_rr *rr = NULL;
    return ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) == LDNS_STATUS_OK ? rr : NULL;
}

static ldns_rr *rrset_delete(const char *name, ldns_rr_type t)
{
    ldns_rr *rr = question(name, t);
    if (!rr)
        return NULL;
    ldns_rr_set_question(rr, false);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(rr, 0);
    return rr;
}

static int do_update(struct dnscmd_opts *o)
{
    struct dns_tsig_key key;
    if (load_key(o, &key, 1) < 0)
        return 2;
    if (o->npos < 2) {
        dns_tsig_key_clear(&key);
        return dnscmd_usage();
    }
    const char *op = o->pos[0];
    ldns_rr_list *up = ldns_rr_list_new();
    int bad = 0;
    if ((!strcmp(op, "add") || !strcmp(op, "replace")) && o->npos >= 4) {
        ldns_rr *rr = rr_from_words(o->pos + 1, o->npos - 1, o->ttl);
        if (!rr)
            bad = 1;
        else {
            if (!strcmp(op, "replace"))
                ldns_rr_list_push_rr(up, rrset_delete(o->pos[1], ldns_rr_get_type(rr)));
            ldns_rr_list_push_rr(up, rr);
        }
    } else if (!strcmp(op, "del") && o->npos == 2) {
        ldns_rr_list_push_rr(up, rrset_delete(o->pos[1], LDNS_RR_TYPE_ANY));
    } else if (!strcmp(op, "del") && o->npos == 3) {
        ldns_rr_type t = ldns_get_rr_type_by_name(o->pos[2]);
        ldns_rr *rr = t ? rrset_delete(o->pos[1], t) : NULL;
        bad = !rr;
        if (rr)
            ldns_rr_list_push_rr(up, rr);
    } else if (!strcmp(op, "del") && o->npos >= 4) {
        ldns_rr *rr = rr_from_words(o->pos + 1, o->npos - 1, 0);
        bad = !rr;
        if (rr) {
            ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
            ldns_rr_list_push_rr(up, rr);
        }
    } else {
        bad = 1;
    }
    ldns_rdf *zone = o->zone ? ldns_dname_new_frm_str(o->zone) : ldns_rdf_clone(key.zone);
    if (bad || !zone) {
        fprintf(stderr, "envoi dns update: cannot build the update from the arguments\n");
        ldns_rr_list_deep_free(up);
        ldns_rdf_deep_free(zone);
        dns_tsig_key_clear(&key);
        return 2;
    }
    /* ldns_update_pkt_new takes the zone name and copies the update section. */
    ldns_pkt *q = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, NULL, up, NULL);
    ldns_rr_list_deep_free(up);
    int rc = send_and_check(o->server, 1, q, &key, 0);
    if (rc == 0)
        printf("update %s %s: done\n", op, o->pos[1]);
    ldns_pkt_free(q);
    dns_tsig_key_clear(&key);
    return rc;
}

int cmd_dns(int argc, char **argv)
{
    if (argc < 2)
        return dnscmd_usage();
    struct dnscmd_opts o;
    if (parse_opts(argc - 1, argv + 1, &o) < 0)
        return dnscmd_usage();
    if (!strcmp(argv[1], "notify"))
        return do_notify(&o);
    if (!strcmp(argv[1], "update"))
        return do_update(&o);
    if (!strcmp(argv[1], "query"))
        return do_query(&o);
    return dnscmd_usage();
}
