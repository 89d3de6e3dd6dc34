/* dns_zone: an authoritative zone in memory (RFC 1034 section 4.3.2 lookup,
 * RFC 4592 wildcards, RFC 2308 negative answers). Pure: no I/O, no libuv.
 *
 * A zone is immutable once built; a change (UPDATE, reload) builds a new one
 * and swaps it in, so a query never sees half a zone. Names are stored in
 * canonical (lower-case) form and sorted in canonical order; every empty
 * non-terminal has a node, so "does this name exist" is one search. */
#ifndef ENVOI_DNS_ZONE_H
#define ENVOI_DNS_ZONE_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_ZONE_TEXT_MAX (32u << 20) /* biggest zone file accepted */
#define DNS_ZONE_RRS_MAX 1000000      /* most records in one zone */
#define DNS_CNAME_CHAIN_MAX 8         /* CNAMEs followed inside one answer */

#define DNS_NODE_ENT 1   /* empty non-terminal: exists, holds no data */
#define DNS_NODE_DELEG 2 /* holds an NS RRset below the apex: a zone cut */

struct dns_node {
    ldns_rdf *name; /* canonical */
    ldns_rr **rrs;  /* points into the zone's array, sorted by type */
    uint32_t nrr;
    uint32_t flags;
};

struct dns_zone {
    ldns_rdf *origin; /* canonical */
    ldns_rr *soa;
    uint32_t serial;
    ldns_rr **rrs; /* owned; sorted by owner (canonical order), type, rdata */
    size_t nrrs;
    struct dns_node *nodes; /* sorted in canonical order */
    size_t nnodes;
    uint32_t *hash;         /* open addressing: node index + 1, 0 = empty */
    size_t hmask;
    /* Built once with the zone, so answers borrow instead of cloning: */
    ldns_rr *soa_neg;             /* the SOA as negative answers carry it (RFC 2308 5) */
    const struct dns_node *apex;  /* the origin's node */
    int origin_labels;            /* labels in origin, the root not counted */
    /* Whole responses for a server's fast path, created by it on first use
     * (dns_wire.h); freed with the zone, so a swapped-in zone starts empty. */
    struct dns_wire_cache *cache;
};

#define DNS_ANSWER_INLINE 32 /* records per section held without allocating */
#define DNS_ANSWER_SYNTH 16  /* wildcard expansions held without allocating */

/* What a lookup produced. an/ns/ar hold borrowed records (do not free them
 * one by one, and do not push onto them with ldns: their arrays start in
 * this struct). Wildcard expansions are shallow copies in synth[] that share
 * the zone's rdata, past DNS_ANSWER_SYNTH deep copies in owned (NULL until
 * needed). The lists point into the struct itself: never copy it. */
struct dns_answer {
    ldns_pkt_rcode rcode;
    int aa;
    int dnssec; /* the query had DO: RRSIGs go with the RRsets */
    ldns_rr_list *an, *ns, *ar;
    ldns_rr_list *owned;
    ldns_rr_list sec[3];
    ldns_rr *slot[3][DNS_ANSWER_INLINE];
    ldns_rr synth[DNS_ANSWER_SYNTH];
    int nsynth, nowner;
    ldns_rdf owner[DNS_CNAME_CHAIN_MAX + 1]; /* the expansions' owner names */
    uint8_t owner_data[DNS_CNAME_CHAIN_MAX + 1][LDNS_MAX_DOMAINLEN + 1];
};

/* Parses master-file text (RFC 1035: $ORIGIN, $TTL, relative names) for the
 * zone `origin` and builds it. $INCLUDE is refused (zone data comes from a
 * repository and must not read the server's files). NULL + reason on error. */
struct dns_zone *dns_zone_parse(const char *text, size_t len, const char *origin, char *err,
                                size_t errsz);
/* Builds a zone from records (takes ownership of rrs and the records in it,
 * also on error). Checks: one SOA at the apex, NS at the apex, every owner
 * inside the zone, class IN, CNAME alone at its name. Drops duplicates. */
struct dns_zone *dns_zone_build(const ldns_rdf *origin, ldns_rr_list *rrs, char *err,
                                size_t errsz);
/* Frees the zone and its records. NULL is fine. */
void dns_zone_free(struct dns_zone *z);

/* The node named exactly `name` (any case), or NULL. */
const struct dns_node *dns_zone_find(const struct dns_zone *z, const ldns_rdf *name);
/* 1 if name equals the origin or is below it. */
int dns_zone_contains(const struct dns_zone *z, const ldns_rdf *name);
/* Appends the node's records of type t (all types for ANY) to out (borrowed). */
size_t dns_node_rrset(const struct dns_node *n, ldns_rr_type t, ldns_rr_list *out);

/* Answers qname/qtype from the zone into a (initialised by this call). */
void dns_zone_answer(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                     struct dns_answer *a);
/* The same for a query with the DO bit: each RRset in the answer comes with
 * the RRSIGs covering it, a negative answer's SOA with its RRSIG. */
void dns_zone_answer_do(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                        int dnssec, struct dns_answer *a);
/* Frees the lists and the synthesized records (not the zone's). */
void dns_answer_free(struct dns_answer *a);

/* All records, SOA first, as one fresh list of clones (for UPDATE). */
ldns_rr_list *dns_zone_clone_rrs(const struct dns_zone *z);
/* The zone as master-file text (malloc'd, NUL-terminated). */
char *dns_zone_to_text(const struct dns_zone *z, size_t *len);
/* Like dns_zone_to_text, but NULL (with a reason) unless the text loads
 * back to exactly the same records: some rdata has no faithful text form
 * in ldns, and a zone file we commit must always load again. */
char *dns_zone_to_text_checked(const struct dns_zone *z, size_t *len, char *err, size_t errsz);

#endif
