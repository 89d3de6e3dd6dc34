/* dns_wire: the response encoder for plain (unsigned) answers. See
 * dns_wire.h. ldns's packet serializer builds a red-black tree of names for
 * compression on every response, which the profile showed as the largest
 * cost after the kernel; this writes the message directly: the question
 * copied from the request, owner names and the RFC 1035 rdata names (NS,
 * CNAME, SOA, MX, PTR) compressed against the names already written, other
 * rdata as ldns keeps it (wire form). */
#include "dns_wire.h"

#include <stdlib.h>
#include <string.h>

#define WIRE_DICT_MAX 64 /* names remembered for compression */

struct wire {
    uint8_t *buf;
    size_t cap, len;
    int overflow;
    struct {
        const uint8_t *name; /* lower-case wire suffix */
        size_t len;
        uint16_t off;
    } dict[WIRE_DICT_MAX];
    int ndict;
};

static uint8_t lc(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* ldns's accessors are calls into the shared library, several per record
 * written; the encoder reads the (public) struct fields instead. */
static inline const uint8_t *rdf_data(const ldns_rdf *f) { return f->_data; }
static inline size_t rdf_size(const ldns_rdf *f) { return f->_size; }
static inline ldns_rr_type rr_type(const ldns_rr *r) { return r->_rr_type; }
static inline size_t list_n(const ldns_rr_list *l) { return l->_rr_count; }
static inline const ldns_rr *list_rr(const ldns_rr_list *l, size_t k) { return l->_rrs[k]; }

static void put(struct wire *w, const void *p, size_t n)
{
    if (w->overflow || w->len + n > w->cap) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put16(struct wire *w, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 2);
}

static void put32(struct wire *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 4);
}

/* Writes a name, compressed when a suffix was written before. The
 * dictionary keeps pointers to lower-case copies in scratch. */
static void put_name(struct wire *w, const ldns_rdf *name, uint8_t *scratch)
{
    const uint8_t *d = rdf_data(name);
    size_t n = rdf_size(name);
    if (n == 0 || n > LDNS_MAX_DOMAINLEN) {
        w->overflow = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        scratch[i] = lc(d[i]);
    size_t p = 0;
    while (p < n && scratch[p] != 0) {
        for (int e = 0; e < w->ndict; e++) {
            if (w->dict[e].len == n - p && memcmp(w->dict[e].name, scratch + p, n - p) == 0) {
                put16(w, 0xC000u | w->dict[e].off);
                return;
            }
        }
        if (w->len < 0x3FFF && w->ndict < WIRE_DICT_MAX) {
            w->dict[w->ndict].name = scratch + p;
            w->dict[w->ndict].len = n - p;
            w->dict[w->ndict].off = (uint16_t)w->len;
            w->ndict++;
        }
        put(w, d + p, (size_t)d[p] + 1); /* the label as stored (case kept) */
        p += (size_t)d[p] + 1;
    }
    uint8_t zero = 0;
    put(w, &zero, 1);
}

/* Scratch space for the lower-case names the dictionary points into. */
struct scratch {
    uint8_t names[256][LDNS_MAX_DOMAINLEN + 1];
    int used;
};

static uint8_t *scratch_next(struct scratch *s)
{
    return s->used < 256 ? s->names[s->used++] : NULL;
}

static int compressible(ldns_rr_type t)
{
    return t == LDNS_RR_TYPE_NS || t == LDNS_RR_TYPE_CNAME || t == LDNS_RR_TYPE_SOA ||
           t == LDNS_RR_TYPE_MX || t == LDNS_RR_TYPE_PTR;
}

static void put_rr(struct wire *w, const ldns_rr *rr, struct scratch *s, uint32_t ttl_max)
{
    uint8_t *sc = scratch_next(s);
    if (!sc) {
        w->overflow = 1;
        return;
    }
    put_name(w, rr->_owner, sc);
    put16(w, rr_type(rr));
    put16(w, rr->_rr_class);
    uint32_t ttl = rr->_ttl;
    put32(w, ttl_max && ttl > ttl_max ? ttl_max : ttl);
    size_t rdlen_at = w->len;
    put16(w, 0);
    int comp = compressible(rr_type(rr));
    for (size_t i = 0; i < rr->_rd_count; i++) {
        const ldns_rdf *f = rr->_rdata_fields[i];
        if (comp && f->_type == LDNS_RDF_TYPE_DNAME) {
            uint8_t *sc2 = scratch_next(s);
            if (!sc2) {
                w->overflow = 1;
                return;
            }
            put_name(w, f, sc2);
        } else {
            put(w, rdf_data(f), rdf_size(f));
        }
    }
    if (!w->overflow) {
        size_t rdlen = w->len - rdlen_at - 2;
        w->buf[rdlen_at] = (uint8_t)(rdlen >> 8);
        w->buf[rdlen_at + 1] = (uint8_t)rdlen;
    }
}

/* Length of the request's first question (name + type + class) or 0 when
 * it is not a plain uncompressed name. */
static size_t question_len(const uint8_t *req, size_t len)
{
    size_t p = 12;
    while (p < len && req[p] != 0) {
        if (req[p] & 0xc0)
            return 0;
        p += (size_t)req[p] + 1;
    }
    return p + 5 <= len ? p + 5 - 12 : 0;
}

static size_t encode(const uint8_t *req, size_t qlen, const struct dns_wire_answer *wa,
                     const struct dns_wire_chain *ch, int sections, int tc, uint8_t *out, size_t cap,
                     struct scratch *s)
{
    struct wire w = {.buf = out, .cap = cap};
    s->used = 0;
    const ldns_rr_list *sec[3] = {wa->an, wa->ns, wa->ar};
    size_t counts[3] = {0, 0, 0};
    for (int i = 0; i < sections; i++)
        for (size_t k = 0; sec[i] && k < list_n(sec[i]); k++)
            counts[i] += !(wa->skip_rrsig && rr_type(list_rr(sec[i], k)) == LDNS_RR_TYPE_RRSIG);
    for (size_t c = 0; ch && sections > 0 && c < ch->n; c++)
        for (size_t k = 0; ch->sets[c] && k < list_n(ch->sets[c]); k++)
            counts[0] += !(wa->skip_rrsig && rr_type(list_rr(ch->sets[c], k)) == LDNS_RR_TYPE_RRSIG);
    uint8_t h[12];
    memcpy(h, req, 2);
    h[2] = (uint8_t)(0x80 | (req[2] & 0x79) | (wa->aa ? 0x04 : 0) | (tc ? 0x02 : 0));
    h[3] = (uint8_t)((wa->ra ? 0x80 : 0) | (wa->ad ? 0x20 : 0) | (req[3] & 0x10) | (wa->rcode & 0x0f));
    h[4] = 0;
    h[5] = 1;
    h[6] = (uint8_t)(counts[0] >> 8);
    h[7] = (uint8_t)counts[0];
    h[8] = (uint8_t)(counts[1] >> 8);
    h[9] = (uint8_t)counts[1];
    size_t ar = counts[2] + (wa->edns ? 1 : 0);
    h[10] = (uint8_t)(ar >> 8);
    h[11] = (uint8_t)ar;
    put(&w, h, 12);
    /* The question as asked (its case too); its name is a pointer target. */
    uint8_t *qsc = scratch_next(s);
    size_t nlen = qlen - 4;
    for (size_t i = 0; i < nlen; i++)
        qsc[i] = lc(req[12 + i]);
    for (size_t p = 0; qsc[p] != 0 && w.ndict < WIRE_DICT_MAX; p += (size_t)qsc[p] + 1) {
        w.dict[w.ndict].name = qsc + p;
        w.dict[w.ndict].len = nlen - p;
        w.dict[w.ndict].off = (uint16_t)(12 + p);
        w.ndict++;
    }
    put(&w, req + 12, qlen);
    for (size_t c = 0; ch && sections > 0 && c < ch->n; c++)
        for (size_t k = 0; ch->sets[c] && k < list_n(ch->sets[c]); k++) {
            const ldns_rr *rr = list_rr(ch->sets[c], k);
            if (!(wa->skip_rrsig && rr_type(rr) == LDNS_RR_TYPE_RRSIG))
                put_rr(&w, rr, s, ch->ttl_max ? ch->ttl_max[c] : 0);
        }
    for (int i = 0; i < sections; i++)
        for (size_t k = 0; sec[i] && k < list_n(sec[i]); k++) {
            const ldns_rr *rr = list_rr(sec[i], k);
            if (!(wa->skip_rrsig && rr_type(rr) == LDNS_RR_TYPE_RRSIG))
                put_rr(&w, rr, s, wa->ttl_max);
        }
    if (wa->edns) { /* OPT: root, type 41, our payload size, DO echoed */
        uint8_t opt[11] = {0, 0, 41, (uint8_t)(wa->payload >> 8), (uint8_t)wa->payload,
                           0, 0, (uint8_t)(wa->do_bit ? 0x80 : 0), 0, 0, 0};
        put(&w, opt, sizeof opt);
    }
    return w.overflow ? 0 : w.len;
}

size_t dns_wire_answer(const uint8_t *req, size_t reqlen, const struct dns_wire_answer *wa,
                       size_t limit, uint8_t *out, size_t cap)
{
    return dns_wire_answer_chain(req, reqlen, wa, NULL, limit, out, cap);
}

size_t dns_wire_answer_chain(const uint8_t *req, size_t reqlen, const struct dns_wire_answer *wa,
                             const struct dns_wire_chain *ch, size_t limit, uint8_t *out,
                             size_t cap)
{
    static _Thread_local struct scratch s;
    if (reqlen < 12 || req[4] != 0 || req[5] != 1)
        return 0; /* exactly one question to echo */
    size_t qlen = question_len(req, reqlen);
    if (!qlen)
        return 0;
    if (limit > cap)
        limit = cap;
    size_t n = encode(req, qlen, wa, ch, 3, 0, out, limit, &s);
    if (!n) /* additional data is optional... */
        n = encode(req, qlen, wa, ch, 2, 0, out, limit, &s);
    if (!n) /* ...the rest is not: TC, the client asks over TCP */
        n = encode(req, qlen, wa, ch, 0, 1, out, limit, &s);
    return n;
}

int dns_wire_plain_query(const uint8_t *w, size_t len, struct dns_wire_query *q)
{
    size_t pos = 12;
    if (len < 12 || (w[2] & 0xF8) || w[4] || w[5] != 1 || w[6] || w[7] || w[8] || w[9] || w[10] ||
        w[11] > 1)
        return 0; /* a response, another opcode, or other sections */
    while (pos < len && w[pos]) {
        if (w[pos] & 0xc0)
            return 0;
        pos += (size_t)w[pos] + 1;
    }
    if (pos + 5 > len)
        return 0;
    size_t nlen = pos + 1 - 12;
    if (nlen > LDNS_MAX_DOMAINLEN || (w[pos + 3] << 8 | w[pos + 4]) != LDNS_RR_CLASS_IN)
        return 0;
    memset(q, 0, sizeof *q);
    q->qtype = (ldns_rr_type)(w[pos + 1] << 8 | w[pos + 2]);
    q->qname._size = nlen;
    q->qname._type = LDNS_RDF_TYPE_DNAME;
    q->qname._data = (void *)(w + 12);
    q->payload = 512;
    pos += 5;
    if (w[11] == 1) { /* OPT: root owner, type 41, class = payload size, version 0 */
        if (pos + 11 > len || w[pos] != 0 || w[pos + 1] != 0 || w[pos + 2] != LDNS_RR_TYPE_OPT ||
            w[pos + 6] != 0)
            return 0;
        q->payload = (uint16_t)(w[pos + 3] << 8 | w[pos + 4]);
        q->do_bit = (w[pos + 7] & 0x80) != 0;
        q->edns = 1;
        pos += 11 + (size_t)(w[pos + 9] << 8 | w[pos + 10]);
    }
    return pos == len;
}

/* ---- response cache ----------------------------------------------------- */

struct dns_wire_cache_slot {
    uint16_t klen, rlen;
    int tag;
    uint8_t key[DNS_WIRE_CACHE_KEY_MAX];
    uint8_t resp[DNS_WIRE_CACHE_RESP_MAX];
};

/* The slots' hashes sit apart from the slots (1 KiB, stays in the CPU's
 * cache): a miss reads no slot, a hit reads one. */
struct dns_wire_cache {
    uint32_t hash[DNS_WIRE_CACHE_SLOTS]; /* 0: empty slot */
    struct dns_wire_cache_slot slot[DNS_WIRE_CACHE_SLOTS];
};

static uint32_t cache_hash(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    h ^= h >> 16;
    return h ? h : 1;
}

struct dns_wire_cache *dns_wire_cache_new(void)
{
    return calloc(1, sizeof(struct dns_wire_cache));
}

void dns_wire_cache_free(struct dns_wire_cache *c)
{
    free(c);
}

const uint8_t *dns_wire_cache_get(const struct dns_wire_cache *c, const uint8_t *key, size_t klen,
                                  size_t *len, int *tag)
{
    if (!c || klen == 0 || klen > DNS_WIRE_CACHE_KEY_MAX)
        return NULL;
    uint32_t h = cache_hash(key, klen);
    size_t i = h & (DNS_WIRE_CACHE_SLOTS - 1);
    if (c->hash[i] != h)
        return NULL;
    const struct dns_wire_cache_slot *s = &c->slot[i];
    if (s->klen != klen || memcmp(s->key, key, klen) != 0)
        return NULL;
    *len = s->rlen;
    *tag = s->tag;
    return s->resp;
}

void dns_wire_cache_put(struct dns_wire_cache *c, const uint8_t *key, size_t klen,
                        const uint8_t *resp, size_t len, int tag)
{
    if (!c || klen == 0 || klen > DNS_WIRE_CACHE_KEY_MAX || len > DNS_WIRE_CACHE_RESP_MAX)
        return;
    uint32_t h = cache_hash(key, klen);
    size_t i = h & (DNS_WIRE_CACHE_SLOTS - 1);
    struct dns_wire_cache_slot *s = &c->slot[i];
    c->hash[i] = h;
    s->klen = (uint16_t)klen;
    memcpy(s->key, key, klen);
    s->rlen = (uint16_t)len;
    memcpy(s->resp, resp, len);
    s->tag = tag;
}
