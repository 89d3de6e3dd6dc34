/* dns_wire: a direct encoder for responses to plain queries, with name
 * compression, bypassing ldns's packet serializer on the hot path. */
#ifndef ENVOI_DNS_WIRE_H
#define ENVOI_DNS_WIRE_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>

struct dns_wire_answer {
    const ldns_rr_list *an, *ns, *ar; /* any may be NULL */
    ldns_pkt_rcode rcode;             /* 0..15 */
    int aa, ra;
    int edns, do_bit;   /* add an OPT record (the request had one), DO echoed */
    uint16_t payload;   /* UDP payload size we advertise in it */
    uint32_t ttl_max;   /* TTLs written are capped at this (cache countdown); 0: none */
    int ad;             /* set AD: the answer was validated (DNSSEC) */
    int skip_rrsig;     /* leave RRSIG records out (the client did not set DO) */
};

/* A plain query read in place: a QUERY with one uncompressed question in
 * class IN and no records besides an OPT of version 0. */
struct dns_wire_query {
    ldns_rdf qname; /* points into the message (not to be freed) */
    ldns_rr_type qtype;
    int edns, do_bit;
    uint16_t payload; /* the client's UDP size (512 without EDNS) */
};

/* Reads req as a plain query: 1, or 0 when it is anything else (the caller
 * then parses it fully). Pure and bounded: never reads past len. */
int dns_wire_plain_query(const uint8_t *req, size_t len, struct dns_wire_query *q);

/* Encodes the answer to the request req (its ID, opcode, RD, CD and first
 * question are copied) into out, at most limit bytes: the additional section
 * is dropped first, then answer and authority with TC set. Returns the
 * length, or 0 when the request's question is not a plain uncompressed
 * name or nothing fits (the caller then falls back to ldns). */
size_t dns_wire_answer(const uint8_t *req, size_t reqlen, const struct dns_wire_answer *wa,
                       size_t limit, uint8_t *out, size_t cap);

/* RRsets to write before wa->an in the answer section, each with its own
 * TTL cap (0: none): a CNAME chain answered from a resolver's cache, whose
 * links expire separately. */
struct dns_wire_chain {
    const ldns_rr_list *const *sets;
    const uint32_t *ttl_max;
    size_t n;
};

/* dns_wire_answer with the chain's records first in the answer section. */
size_t dns_wire_answer_chain(const uint8_t *req, size_t reqlen, const struct dns_wire_answer *wa,
                             const struct dns_wire_chain *chain, size_t limit, uint8_t *out,
                             size_t cap);

/* A cache of whole responses, for a server whose answers depend only on
 * the question and on data that does not change while the cache lives (an
 * authoritative zone: the cache is kept with the zone and dies with it).
 * Keys are the caller's bytes; responses longer than DNS_WIRE_CACHE_RESP_MAX
 * are not kept. Fixed size, allocated once: storing never allocates, a new
 * entry replaces whatever held its slot. Single-threaded. */
#define DNS_WIRE_CACHE_SLOTS 256
#define DNS_WIRE_CACHE_KEY_MAX (LDNS_MAX_DOMAINLEN + 4)
#define DNS_WIRE_CACHE_RESP_MAX 512

struct dns_wire_cache;
struct dns_wire_cache *dns_wire_cache_new(void);
void dns_wire_cache_free(struct dns_wire_cache *c);
/* The response stored under key (NULL if none), its length in *len and the
 * caller's tag stored with it in *tag. Valid until the next put. */
const uint8_t *dns_wire_cache_get(const struct dns_wire_cache *c, const uint8_t *key, size_t klen,
                                  size_t *len, int *tag);
/* Stores resp under key (nothing when either is too long). */
void dns_wire_cache_put(struct dns_wire_cache *c, const uint8_t *key, size_t klen,
                        const uint8_t *resp, size_t len, int tag);

#endif
