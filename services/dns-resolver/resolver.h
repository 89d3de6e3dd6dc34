/* dns-resolver: state shared by the role's files.
 *   main.c      flags, hints, listeners, the loop
 *   acl.c       who may ask (--allow CIDR), everyone else gets REFUSED
 *   cache.c     RRsets and negative answers with their TTLs, LRU-bounded
 *   upstream.c  one query to one server: UDP from a fresh random port with a
 *               random ID, TCP when truncated, a timeout
 *   iter.c      iterative resolution from the root (or a forward zone):
 *               referrals, glue, CNAME chains, bailiwick checks, limits
 *   validate.c  DNSSEC: chains of DS and DNSKEY up to a trust anchor
 *   serve.c     client requests: ACL, parse, answer from a task's result */
#ifndef ENVOI_DNS_RESOLVER_H
#define ENVOI_DNS_RESOLVER_H

#include <ldns/ldns.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "dns_server.h"

#define RES_EDNS_SIZE 1232       /* what we advertise and accept */
#define RES_SERVERS_MAX 16       /* addresses kept per zone cut */
#define RES_QUERIES_MAX 40       /* upstream queries per client question */
#define RES_DEPTH_MAX 4          /* nested resolutions of NS names */
#define RES_CNAME_MAX 8          /* CNAMEs followed per question */
#define RES_DEADLINE_MS 8000     /* a client question's whole budget */
#define RES_UDP_TIMEOUT_MS 1200  /* per UDP attempt */
#define RES_TCP_TIMEOUT_MS 3000  /* per TCP attempt */
#define RES_TASKS_MAX 2000       /* client questions in flight */
#define RES_FORWARDS_MAX 16
#define RES_HINTS_MAX 16

/* ---- acl.c ---- */
struct acl_entry {
    int family;
    uint8_t addr[16];
    int bits;
};
struct acl {
    struct acl_entry v[CONF_LIST_MAX];
    int n;
};
int acl_parse(struct acl *acl, const struct conf_list *cidrs, char *err, size_t errsz);
int acl_allows(const struct acl *acl, const struct sockaddr *sa);

/* ---- cache.c ---- */
#define CACHE_POS 0
#define CACHE_NODATA 1
#define CACHE_NXDOMAIN 2
#define CRED_GLUE 1   /* additional section */
#define CRED_AUTH 2   /* authority section (NS of a referral) */
#define CRED_ANSWER 3 /* answer section, or an authoritative negative */

struct cache;
struct cache *cache_new(size_t max_entries);
void cache_free(struct cache *c);
/* Stores a copy of rrs (an RRset, or the SOA for negative kinds) under
 * name/type unless a fresher entry of higher credibility is there. */
void cache_put(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int kind,
               const ldns_rr_list *rrs, uint32_t ttl, int cred);
/* A fresh copy of the entry's records with TTLs counted down, or NULL.
 * *kind gets CACHE_POS/NODATA/NXDOMAIN. NXDOMAIN is stored with type 0. */
ldns_rr_list *cache_get(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int *kind);
size_t cache_count(const struct cache *c);
/* The entry's records without a copy and the seconds it has left, or NULL.
 * Peeks change nothing but the LRU order, so the lists of several peeks
 * stay valid together until the next cache_put or cache_get. For answering
 * straight from the cache. */
const ldns_rr_list *cache_peek(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int *kind,
                               uint32_t *left);

/* ---- upstream.c ---- */
struct up_query;
/* resp is NULL on timeout or error; it is owned by the callback. */
typedef void (*up_done_cb)(void *arg, ldns_pkt *resp);
int up_send(uv_loop_t *loop, const struct sockaddr_storage *to, const ldns_rdf *qname,
            ldns_rr_type qtype, int rd, int do_bit, up_done_cb cb, void *arg);

/* ---- iter.c ---- */
struct server_addr {
    struct sockaddr_storage sa;
    int tried;
};

struct forward {
    ldns_rdf *zone;
    struct sockaddr_storage sa;
};

struct resolver {
    uv_loop_t *loop;
    struct dns_srv *srv;
    struct cache *cache;
    struct acl acl;
    struct server_addr hints[RES_HINTS_MAX];
    int nhints;
    struct forward fwd[RES_FORWARDS_MAX];
    int nfwd;
    uint16_t query_port; /* port for servers learned from referrals */
    int tasks;           /* client questions in flight */
    int stopping;        /* shutdown: finish tasks instead of asking further */
    ldns_rr_list *anchors; /* DNSSEC trust anchors (DS or DNSKEY); NULL: no validation */
    ldns_buffer *wbuf;
};

struct task;
/* Result: rcode, answer records (CNAME chain + data), authority (SOA). */
typedef void (*task_done_cb)(struct task *t, void *arg, ldns_pkt_rcode rcode, ldns_rr_list *answer,
                             ldns_rr_list *authority);
/* Resolves qname/qtype; done runs exactly once (maybe before this returns). */
void task_start(struct resolver *r, const ldns_rdf *qname, ldns_rr_type qtype, int depth,
                task_done_cb done, void *arg);
/* Parses a root hints file: RR lines (NS, A) or ADDR[@PORT] lines. */
int hints_load(struct resolver *r, const char *path, char *err, size_t errsz);
int forward_parse(struct resolver *r, const char *spec, char *err, size_t errsz);

/* ---- validate.c ---- */
#define VAL_SECURE 0
#define VAL_INSECURE 1
#define VAL_BOGUS 2
typedef void (*val_done_cb)(void *arg, int status);
/* Validates the RRsets of an answer (an stays alive until cb). */
void validate_answer(struct resolver *r, const ldns_rr_list *an, val_done_cb cb, void *arg);
/* Validates a whole response: its answer RRsets and, for NXDOMAIN/NODATA
 * (also at the end of a CNAME chain), the signed NSEC denial. */
void validate_response(struct resolver *r, const ldns_rdf *qname, ldns_rr_type qtype,
                       ldns_pkt_rcode rc, const ldns_rr_list *an, const ldns_rr_list *ns,
                       val_done_cb cb, void *arg);
/* Reads trust anchors (DS or DNSKEY records, master-file lines). */
int anchors_load(struct resolver *r, const char *path, char *err, size_t errsz);
void validate_cleanup(void);

/* ---- serve.c ---- */
void serve_query_cb(struct dns_req *req, void *arg);

#endif
