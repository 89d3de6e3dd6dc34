/* cache: RRsets and negative answers (RFC 2308) keyed by name and type.
 * A hash table for lookups and an LRU list for eviction keep memory bounded;
 * TTLs are capped so a bad server cannot pin an entry for years. Data of a
 * lower credibility (glue) never replaces fresher data of a higher one
 * (answers), which with the bailiwick checks in iter.c is the defence
 * against cache poisoning (RFC 2181 section 5.4.1). */
#include <stdlib.h>
#include <string.h>

#include "resolver.h"

#define CACHE_BUCKETS 65536
#define CACHE_TTL_MAX 86400
#define CACHE_NEG_TTL_MAX 3600
#define CACHE_KEY_MAX (LDNS_MAX_DOMAINLEN + 3)

struct centry {
    struct centry *hnext, *lprev, *lnext;
    uint8_t key[CACHE_KEY_MAX];
    size_t klen;
    uint32_t hash;
    uint64_t expire_ms, stored_ms;
    int kind, cred;
    ldns_rr_list *rrs;
};

struct cache {
    struct centry *b[CACHE_BUCKETS];
    struct centry *lru_head, *lru_tail; /* head: most recently used */
    size_t n, max;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

static size_t make_key(uint8_t *key, const ldns_rdf *name, ldns_rr_type type)
{
    size_t n = ldns_rdf_size(name);
    if (n > LDNS_MAX_DOMAINLEN + 1)
        n = LDNS_MAX_DOMAINLEN + 1;
    const uint8_t *d = ldns_rdf_data(name);
    for (size_t i = 0; i < n; i++)
        key[i] = (d[i] >= 'A' && d[i] <= 'Z') ? (uint8_t)(d[i] + 32) : d[i];
    key[n] = (uint8_t)(type >> 8);
    key[n + 1] = (uint8_t)type;
    return n + 2;
}

static uint32_t fnv(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

struct cache *cache_new(size_t max)
{
    struct cache *c = calloc(1, sizeof *c);
    if (c)
        c->max = max;
    return c;
}

static void lru_unlink(struct cache *c, struct centry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_front(struct cache *c, struct centry *e)
{
    e->lnext = c->lru_head;
    e->lprev = NULL;
    if (c->lru_head)
        c->lru_head->lprev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static void entry_remove(struct cache *c, struct centry *e)
{
    struct centry **pp = &c->b[e->hash % CACHE_BUCKETS];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    ldns_rr_list_deep_free(e->rrs);
    free(e);
    c->n--;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    while (c->lru_head)
        entry_remove(c, c->lru_head);
    free(c);
}

size_t cache_count(const struct cache *c) { return c->n; }

static struct centry *find(struct cache *c, const uint8_t *key, size_t klen, uint32_t h)
{
    for (struct centry *e = c->b[h % CACHE_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* The live entry for name/type, made the most recently used, with its
 * seconds left in *left; NULL when absent or expired. An expired one is
 * removed only when remove_expired: a peek must keep earlier peeks' lists
 * valid and leaves it for cache_get. */
static struct centry *lookup(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int remove_expired,
                             uint32_t *left)
{
    uint8_t key[CACHE_KEY_MAX];
    size_t kl = make_key(key, name, type);
    struct centry *e = find(c, key, kl, fnv(key, kl));
    if (!e)
        return NULL;
    uint64_t now = now_ms();
    if (e->expire_ms <= now) {
        if (remove_expired)
            entry_remove(c, e);
        return NULL;
    }
    lru_unlink(c, e);
    lru_front(c, e);
    *left = (uint32_t)((e->expire_ms - now + 999) / 1000);
    return e;
}

void cache_put(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int kind,
               const ldns_rr_list *rrs, uint32_t ttl, int cred)
{
    uint8_t key[CACHE_KEY_MAX];
    size_t kl = make_key(key, name, type);
    uint32_t h = fnv(key, kl);
    uint64_t now = now_ms();
    uint32_t cap = kind == CACHE_POS ? CACHE_TTL_MAX : CACHE_NEG_TTL_MAX;
    if (ttl > cap)
        ttl = cap;
    if (ttl == 0)
        return; /* RFC 1035: zero TTL is not cached */
    struct centry *e = find(c, key, kl, h);
    if (e && e->expire_ms > now && e->cred > cred)
        return; /* keep the more credible data while it lives */
    if (e)
        entry_remove(c, e);
    if (c->n >= c->max && c->lru_tail)
        entry_remove(c, c->lru_tail);
    e = calloc(1, sizeof *e);
    if (!e)
        return;
    memcpy(e->key, key, kl);
    e->klen = kl;
    e->hash = h;
    e->kind = kind;
    e->cred = cred;
    e->stored_ms = now;
    e->expire_ms = now + (uint64_t)ttl * 1000;
    e->rrs = rrs ? ldns_rr_list_clone(rrs) : ldns_rr_list_new();
    e->hnext = c->b[h % CACHE_BUCKETS];
    c->b[h % CACHE_BUCKETS] = e;
    lru_front(c, e);
    c->n++;
}

const ldns_rr_list *cache_peek(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int *kind,
                               uint32_t *left)
{
    struct centry *e = lookup(c, name, type, 0, left);
    if (!e)
        return NULL;
    *kind = e->kind;
    return e->rrs;
}

ldns_rr_list *cache_get(struct cache *c, const ldns_rdf *name, ldns_rr_type type, int *kind)
{
    uint32_t left;
    struct centry *e = lookup(c, name, type, 1, &left);
    if (!e)
        return NULL;
    *kind = e->kind;
    ldns_rr_list *out = ldns_rr_list_clone(e->rrs);
    for (size_t i = 0; i < ldns_rr_list_rr_count(out); i++) {
        ldns_rr *rr = ldns_rr_list_rr(out, i);
        if (ldns_rr_ttl(rr) > left)
            ldns_rr_set_ttl(rr, left);
    }
    return out;
}
