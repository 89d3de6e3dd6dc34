/* dns_zone: zone storage and the authoritative lookup algorithm.
 * See dns_zone.h. Lookups walk the query name's labels from the apex down
 * using stack rdfs that point into the query name; the answer's lists and
 * wildcard expansions live in struct dns_answer and the negative SOA with
 * the zone, so a usual answer allocates nothing. */
#include "dns_zone.h"
#include "dns_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNS_LABELS_MAX 128

static uint8_t lc(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static uint32_t name_hash(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

/* The node whose canonical (lower-case) wire name is k[0..n). */
static const struct dns_node *find_lc(const struct dns_zone *z, const uint8_t *k, size_t n)
{
    if (!z->hash)
        return NULL;
    for (size_t i = name_hash(k, n) & z->hmask;; i = (i + 1) & z->hmask) {
        uint32_t v = z->hash[i];
        if (!v)
            return NULL;
        const struct dns_node *nd = &z->nodes[v - 1];
        if (ldns_rdf_size(nd->name) == n && memcmp(ldns_rdf_data(nd->name), k, n) == 0)
            return nd;
    }
}

/* Lower-cases a wire name into out (LDNS_MAX_DOMAINLEN + 1 bytes); its size or 0. */
static size_t lower_wire(const ldns_rdf *name, uint8_t *out)
{
    size_t n = ldns_rdf_size(name);
    if (n == 0 || n > LDNS_MAX_DOMAINLEN)
        return 0;
    const uint8_t *d = ldns_rdf_data(name);
    for (size_t i = 0; i < n; i++)
        out[i] = lc(d[i]);
    return n;
}

int dns_zone_contains(const struct dns_zone *z, const ldns_rdf *name)
{
    /* Walk the labels until the rest is as long as the origin, compare. */
    const uint8_t *d = ldns_rdf_data(name), *o = ldns_rdf_data(z->origin);
    size_t n = ldns_rdf_size(name), on = ldns_rdf_size(z->origin), p = 0;
    if (ldns_rdf_get_type(name) != LDNS_RDF_TYPE_DNAME)
        return 0;
    while (p < n && n - p > on) {
        if (d[p] == 0 || (d[p] & 0xc0))
            return 0;
        p += (size_t)d[p] + 1;
    }
    if (p >= n || n - p != on)
        return 0;
    for (size_t i = 0; i < on; i++)
        if (lc(d[p + i]) != o[i])
            return 0;
    return 1;
}

const struct dns_node *dns_zone_find(const struct dns_zone *z, const ldns_rdf *name)
{
    uint8_t k[LDNS_MAX_DOMAINLEN + 1];
    size_t n = lower_wire(name, k);
    return n ? find_lc(z, k, n) : NULL;
}

size_t dns_node_rrset(const struct dns_node *n, ldns_rr_type t, ldns_rr_list *out)
{
    size_t k = 0;
    for (uint32_t i = 0; i < n->nrr; i++) {
        if (t == LDNS_RR_TYPE_ANY || ldns_rr_get_type(n->rrs[i]) == t) {
            ldns_rr_list_push_rr(out, n->rrs[i]);
            k++;
        }
    }
    return k;
}

static int node_has(const struct dns_node *n, ldns_rr_type t)
{
    for (uint32_t i = 0; i < n->nrr; i++)
        if (ldns_rr_get_type(n->rrs[i]) == t)
            return 1;
    return 0;
}

static const ldns_rr *node_first(const struct dns_node *n, ldns_rr_type t)
{
    for (uint32_t i = 0; i < n->nrr; i++)
        if (ldns_rr_get_type(n->rrs[i]) == t)
            return n->rrs[i];
    return NULL;
}

/* ---- building ---------------------------------------------------------- */

static int rr_cmp(const void *pa, const void *pb)
{
    const ldns_rr *a = *(ldns_rr *const *)pa, *b = *(ldns_rr *const *)pb;
    int c = ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(b));
    if (c)
        return c;
    if (ldns_rr_get_type(a) != ldns_rr_get_type(b))
        return ldns_rr_get_type(a) < ldns_rr_get_type(b) ? -1 : 1;
    return ldns_rr_compare(a, b);
}

static int node_cmp(const void *pa, const void *pb)
{
    const struct dns_node *a = pa, *b = pb;
    int c = ldns_dname_compare(a->name, b->name);
    if (c)
        return c;
    /* Data nodes sort before the ENT placeholders of the same name. */
    return (int)(a->flags & DNS_NODE_ENT) - (int)(b->flags & DNS_NODE_ENT);
}

void dns_zone_free(struct dns_zone *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->nnodes; i++)
        ldns_rdf_deep_free(z->nodes[i].name);
    free(z->nodes);
    free(z->hash);
    for (size_t i = 0; i < z->nrrs; i++)
        ldns_rr_free(z->rrs[i]);
    free(z->rrs);
    ldns_rr_free(z->soa_neg);
    dns_wire_cache_free(z->cache);
    ldns_rdf_deep_free(z->origin);
    free(z);
}

static struct dns_zone *zone_fail(struct dns_zone *z, char *err, size_t errsz, const char *fmt,
                                  const char *arg)
{
    snprintf(err, errsz, fmt, arg);
    dns_zone_free(z);
    return NULL;
}

/* Adds a node per distinct owner plus the empty non-terminals above it. */
static int zone_index(struct dns_zone *z, char *err, size_t errsz)
{
    size_t cap = z->nrrs * 2 + 4, n = 0;
    struct dns_node *nodes = calloc(cap, sizeof *nodes);
    if (!nodes)
        return -1;
    for (size_t i = 0; i < z->nrrs;) {
        size_t j = i + 1;
        while (j < z->nrrs && ldns_dname_compare(ldns_rr_owner(z->rrs[i]), ldns_rr_owner(z->rrs[j])) == 0)
            j++;
        if (n == cap) { /* ENTs of deep names can outgrow the first guess */
            struct dns_node *nn = realloc(nodes, cap * 2 * sizeof *nodes);
            if (!nn) {
                z->nodes = nodes;
                z->nnodes = n;
                return -1;
            }
            nodes = nn;
            cap *= 2;
        }
        struct dns_node *nd = &nodes[n++];
        *nd = (struct dns_node){0};
        nd->name = ldns_rdf_clone(ldns_rr_owner(z->rrs[i]));
        nd->rrs = &z->rrs[i];
        nd->nrr = (uint32_t)(j - i);
        int cname = 0, other = 0;
        for (size_t k = i; k < j; k++) {
            ldns_rr_type t = ldns_rr_get_type(z->rrs[k]);
            if (t == LDNS_RR_TYPE_CNAME)
                cname++;
            else if (t != LDNS_RR_TYPE_RRSIG && t != LDNS_RR_TYPE_NSEC)
                other++;
        }
        char *s = NULL;
        if (cname > 1 || (cname && other)) {
            s = ldns_rdf2str(nd->name);
            snprintf(err, errsz, "CNAME and other data at %s", s ? s : "?");
            free(s);
            z->nodes = nodes;
            z->nnodes = n;
            return -1;
        }
        if (node_has(nd, LDNS_RR_TYPE_NS) && ldns_dname_compare(nd->name, z->origin) != 0)
            nd->flags |= DNS_NODE_DELEG;
        /* Every ancestor strictly between this name and the apex exists. */
        ldns_rdf *up = ldns_dname_left_chop(nd->name);
        while (up && ldns_dname_is_subdomain(up, z->origin)) {
            if (n == cap) {
                struct dns_node *nn = realloc(nodes, cap * 2 * sizeof *nodes);
                if (!nn) {
                    ldns_rdf_deep_free(up);
                    z->nodes = nodes;
                    z->nnodes = n;
                    return -1;
                }
                nodes = nn;
                cap *= 2;
            }
            nodes[n++] = (struct dns_node){.name = up, .flags = DNS_NODE_ENT};
            up = ldns_dname_left_chop(up);
        }
        ldns_rdf_deep_free(up);
        i = j;
    }
    qsort(nodes, n, sizeof *nodes, node_cmp);
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (w > 0 && ldns_dname_compare(nodes[w - 1].name, nodes[r].name) == 0) {
            ldns_rdf_deep_free(nodes[r].name);
            continue;
        }
        nodes[w++] = nodes[r];
    }
    z->nodes = nodes;
    z->nnodes = w;
    size_t hcap = 16;
    while (hcap < w * 2)
        hcap *= 2;
    z->hash = calloc(hcap, sizeof *z->hash);
    if (!z->hash)
        return -1;
    z->hmask = hcap - 1;
    for (size_t i = 0; i < w; i++) {
        const uint8_t *k = ldns_rdf_data(nodes[i].name);
        size_t h = name_hash(k, ldns_rdf_size(nodes[i].name)) & z->hmask;
        while (z->hash[h])
            h = (h + 1) & z->hmask;
        z->hash[h] = (uint32_t)i + 1;
    }
    return 0;
}

struct dns_zone *dns_zone_build(const ldns_rdf *origin, ldns_rr_list *rrs, char *err, size_t errsz)
{
    struct dns_zone *z = calloc(1, sizeof *z);
    size_t count = rrs ? ldns_rr_list_rr_count(rrs) : 0;
    if (!z || count > DNS_ZONE_RRS_MAX) {
        ldns_rr_list_deep_free(rrs);
        return zone_fail(z, err, errsz, "%s", z ? "too many records" : "out of memory");
    }
    z->origin = ldns_rdf_clone(origin);
    ldns_dname2canonical(z->origin);
    z->rrs = calloc(count + 1, sizeof *z->rrs);
    if (!z->rrs) {
        ldns_rr_list_deep_free(rrs);
        return zone_fail(z, err, errsz, "%s", "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        z->rrs[z->nrrs++] = ldns_rr_list_rr(rrs, i);
    ldns_rr_list_free(rrs); /* the records now belong to z */

    for (size_t i = 0; i < z->nrrs; i++) {
        ldns_rr *rr = z->rrs[i];
        ldns_dname2canonical(ldns_rr_owner(rr));
        if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
            return zone_fail(z, err, errsz, "%s", "record of a class other than IN");
        if (!dns_zone_contains(z, ldns_rr_owner(rr))) {
            char *s = ldns_rdf2str(ldns_rr_owner(rr));
            snprintf(err, errsz, "record out of zone: %s", s ? s : "?");
            free(s);
            dns_zone_free(z);
            return NULL;
        }
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
            if (ldns_dname_compare(ldns_rr_owner(rr), z->origin) != 0)
                return zone_fail(z, err, errsz, "%s", "SOA below the apex");
            if (z->soa)
                return zone_fail(z, err, errsz, "%s", "more than one SOA");
            if (ldns_rr_rd_count(rr) < 7)
                return zone_fail(z, err, errsz, "%s", "SOA without its fields");
            z->soa = rr;
        }
    }
    if (!z->soa)
        return zone_fail(z, err, errsz, "%s", "no SOA at the apex");
    z->serial = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
    qsort(z->rrs, z->nrrs, sizeof *z->rrs, rr_cmp);
    size_t w = 0;
    for (size_t r = 0; r < z->nrrs; r++) {
        if (w > 0 && rr_cmp(&z->rrs[w - 1], &z->rrs[r]) == 0) {
            ldns_rr_free(z->rrs[r]); /* a duplicate record: keep one */
            continue;
        }
        z->rrs[w++] = z->rrs[r];
    }
    z->nrrs = w;
    char why[256] = "out of memory";
    if (zone_index(z, why, sizeof why) < 0)
        return zone_fail(z, err, errsz, "%s", why);
    const struct dns_node *apex = dns_zone_find(z, z->origin);
    if (!apex || !node_has(apex, LDNS_RR_TYPE_NS))
        return zone_fail(z, err, errsz, "%s", "no NS at the apex");
    z->apex = apex;
    /* RFC 2308 section 5: the negative TTL is min(SOA TTL, SOA MINIMUM). */
    z->soa_neg = ldns_rr_clone(z->soa);
    if (!z->soa_neg)
        return zone_fail(z, err, errsz, "%s", "out of memory");
    uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(z->soa_neg, 6));
    if (min < ldns_rr_ttl(z->soa_neg))
        ldns_rr_set_ttl(z->soa_neg, min);
    const uint8_t *od = ldns_rdf_data(z->origin);
    for (size_t p = 0; p < ldns_rdf_size(z->origin) && od[p]; p += (size_t)od[p] + 1)
        z->origin_labels++;
    return z;
}

struct dns_zone *dns_zone_parse(const char *text, size_t len, const char *origin, char *err,
                                size_t errsz)
{
    if (len > DNS_ZONE_TEXT_MAX) {
        snprintf(err, errsz, "zone text too big");
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if ((i == 0 || text[i - 1] == '\n') && len - i >= 8 && strncasecmp(text + i, "$INCLUDE", 8) == 0) {
            snprintf(err, errsz, "$INCLUDE is not allowed");
            return NULL;
        }
        if (text[i] == '\0') {
            snprintf(err, errsz, "NUL byte in zone text");
            return NULL;
        }
    }
    ldns_rdf *org = ldns_dname_new_frm_str(origin);
    if (!org) {
        snprintf(err, errsz, "bad origin %s", origin);
        return NULL;
    }
    /* fmemopen gives ldns's stream parser a view of the buffer: no file. */
    char *copy = malloc(len + 2);
    if (!copy) {
        ldns_rdf_deep_free(org);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\n';
    copy[len + 1] = '\0';
    FILE *fp = fmemopen(copy, len + 1, "r");
    /* Record by record (not ldns_zone_new_frm_fp_l, which leaks the
     * records read so far when a later line is bad). */
    ldns_rr_list *all = ldns_rr_list_new();
    ldns_rdf *cur_origin = ldns_rdf_clone(org), *prev = NULL;
    uint32_t ttl = 3600;
    int line = 0;
    ldns_status st = fp ? LDNS_STATUS_OK : LDNS_STATUS_MEM_ERR;
    while (fp && st == LDNS_STATUS_OK && !feof(fp)) {
        ldns_rr *rr = NULL;
        ldns_status rs = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &cur_origin, &prev, &line);
        if (rs == LDNS_STATUS_OK) {
            if (ldns_rr_list_rr_count(all) >= DNS_ZONE_RRS_MAX) {
                ldns_rr_free(rr);
                st = LDNS_STATUS_MEM_ERR;
            } else {
                ldns_rr_list_push_rr(all, rr);
            }
        } else if (rs != LDNS_STATUS_SYNTAX_EMPTY && rs != LDNS_STATUS_SYNTAX_TTL &&
                   rs != LDNS_STATUS_SYNTAX_ORIGIN) {
            st = rs; /* $INCLUDE lands here too */
        }
    }
    if (fp)
        fclose(fp);
    free(copy);
    ldns_rdf_deep_free(cur_origin);
    ldns_rdf_deep_free(prev);
    if (st != LDNS_STATUS_OK) {
        snprintf(err, errsz, "line %d: %s", line, ldns_get_errorstr_by_id(st));
        ldns_rr_list_deep_free(all);
        ldns_rdf_deep_free(org);
        return NULL;
    }
    struct dns_zone *z = dns_zone_build(org, all, err, errsz);
    ldns_rdf_deep_free(org);
    return z;
}

ldns_rr_list *dns_zone_clone_rrs(const struct dns_zone *z)
{
    ldns_rr_list *l = ldns_rr_list_new();
    ldns_rr_list_push_rr(l, ldns_rr_clone(z->soa));
    for (size_t i = 0; i < z->nrrs; i++)
        if (z->rrs[i] != z->soa)
            ldns_rr_list_push_rr(l, ldns_rr_clone(z->rrs[i]));
    return l;
}

char *dns_zone_to_text(const struct dns_zone *z, size_t *len)
{
    ldns_buffer *b = ldns_buffer_new(4096);
    char *o = ldns_rdf2str(z->origin);
    ldns_buffer_printf(b, "; zone %s, written by envoi dns-primary\n", o ? o : "?");
    free(o);
    ldns_rr2buffer_str(b, z->soa);
    for (size_t i = 0; i < z->nrrs; i++)
        if (z->rrs[i] != z->soa)
            ldns_rr2buffer_str(b, z->rrs[i]);
    char *s = ldns_buffer_export2str(b);
    ldns_buffer_free(b);
    if (s && len)
        *len = strlen(s);
    return s;
}

char *dns_zone_to_text_checked(const struct dns_zone *z, size_t *len, char *err, size_t errsz)
{
    char *text = dns_zone_to_text(z, len);
    if (!text) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    char *o = ldns_rdf2str(z->origin);
    struct dns_zone *back = o ? dns_zone_parse(text, *len, o, err, errsz) : NULL;
    free(o);
    int same = back && back->nrrs == z->nrrs;
    for (size_t i = 0; same && i < z->nrrs; i++)
        same = rr_cmp(&back->rrs[i], &z->rrs[i]) == 0 && ldns_rr_ttl(back->rrs[i]) == ldns_rr_ttl(z->rrs[i]);
    if (back && !same)
        snprintf(err, errsz, "a record has no faithful text form");
    dns_zone_free(back);
    if (!same) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- answering --------------------------------------------------------- */

/* Label start offsets of a wire name: offs[0] = 0 ... offs[n] = root. */
static int name_labels(const ldns_rdf *name, size_t offs[DNS_LABELS_MAX + 1])
{
    const uint8_t *d = ldns_rdf_data(name);
    size_t sz = ldns_rdf_size(name), p = 0;
    int n = 0;
    while (p < sz && d[p] != 0) {
        if (n >= DNS_LABELS_MAX || (d[p] & 0xc0))
            return -1;
        offs[n++] = p;
        p += (size_t)d[p] + 1;
    }
    if (p >= sz)
        return -1;
    offs[n] = p;
    return n;
}

/* Appends rr to one of a's sections. The array starts in a->slot and
 * moves to the heap only past DNS_ANSWER_INLINE records (ldns's own push
 * would realloc the inline array). Like ldns, leaves rr out when out of memory. */
static void push(struct dns_answer *a, ldns_rr_list *l, ldns_rr *rr)
{
    size_t n = l->_rr_count;
    if (n == l->_rr_capacity) {
        ldns_rr **inl = a->slot[l - a->sec];
        ldns_rr **v = l->_rrs == inl ? malloc(n * 2 * sizeof *v) : realloc(l->_rrs, n * 2 * sizeof *v);
        if (!v)
            return;
        if (l->_rrs == inl)
            memcpy(v, inl, n * sizeof *v);
        l->_rrs = v;
        l->_rr_capacity = n * 2;
    }
    l->_rrs[n] = rr;
    l->_rr_count = n + 1;
}

/* rr as found at the owner name `owner` (a wildcard expansion): a shallow
 * copy sharing the zone's rdata while there is room in a->synth, else a
 * deep copy kept in a->owned. NULL when out of memory. */
static ldns_rr *synthesize(struct dns_answer *a, ldns_rr *rr, ldns_rdf *owner)
{
    if (a->nsynth < DNS_ANSWER_SYNTH) {
        ldns_rr *s = &a->synth[a->nsynth++];
        *s = *rr;
        ldns_rr_set_owner(s, owner);
        return s;
    }
    if (!a->owned && !(a->owned = ldns_rr_list_new()))
        return NULL;
    ldns_rr *c = ldns_rr_clone(rr);
    if (!c)
        return NULL;
    ldns_rdf_deep_free(ldns_rr_owner(c));
    ldns_rr_set_owner(c, ldns_rdf_clone(owner));
    ldns_rr_list_push_rr(a->owned, c);
    return c;
}

/* A copy of name kept in a, as the owner of expansions (the caller's
 * name may not outlive the answer). */
static ldns_rdf *synth_owner(struct dns_answer *a, const ldns_rdf *name)
{
    size_t n = ldns_rdf_size(name);
    if (a->nowner >= DNS_CNAME_CHAIN_MAX + 1 || n > LDNS_MAX_DOMAINLEN + 1)
        return NULL;
    uint8_t *d = a->owner_data[a->nowner];
    memcpy(d, ldns_rdf_data(name), n);
    ldns_rdf *o = &a->owner[a->nowner++];
    *o = (ldns_rdf){._size = n, ._type = LDNS_RDF_TYPE_DNAME, ._data = d};
    return o;
}

static void push_sigs(const struct dns_node *n, ldns_rr_type t, ldns_rdf *synth_owner,
                      ldns_rr_list *list, struct dns_answer *a);

static void push_soa_negative(const struct dns_zone *z, struct dns_answer *a)
{
    push(a, a->ns, z->soa_neg); /* its TTL already the negative one */
    if (a->dnssec)
        push_sigs(z->apex, LDNS_RR_TYPE_SOA, NULL, a->ns, a);
}

/* Appends the node's records of type t to one of a's sections. */
static size_t push_type(const struct dns_node *n, ldns_rr_type t, ldns_rr_list *l, struct dns_answer *a)
{
    size_t k = 0;
    for (uint32_t i = 0; i < n->nrr; i++) {
        if (ldns_rr_get_type(n->rrs[i]) == t) {
            push(a, l, n->rrs[i]);
            k++;
        }
    }
    return k;
}

/* A and AAAA of an in-zone target name, for the additional section. */
static void add_address(const struct dns_zone *z, const ldns_rdf *target, struct dns_answer *a)
{
    if (!target || ldns_rdf_get_type(target) != LDNS_RDF_TYPE_DNAME || !dns_zone_contains(z, target))
        return;
    const struct dns_node *n = dns_zone_find(z, target);
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nrr; i++) {
        ldns_rr_type t = ldns_rr_get_type(n->rrs[i]);
        if (t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA)
            continue;
        /* Only the zone's own records go here, and the zone holds no two
         * equal ones, so the same record is the same pointer. */
        size_t j = 0, have = ldns_rr_list_rr_count(a->ar);
        while (j < have && ldns_rr_list_rr(a->ar, j) != n->rrs[i])
            j++;
        if (j == have)
            push(a, a->ar, n->rrs[i]);
    }
}

static void add_additionals(const struct dns_zone *z, const ldns_rr_list *l, size_t from,
                            struct dns_answer *a)
{
    for (size_t i = from; i < ldns_rr_list_rr_count(l); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(l, i);
        switch (ldns_rr_get_type(rr)) {
        case LDNS_RR_TYPE_MX: add_address(z, ldns_rr_rdf(rr, 1), a); break;
        case LDNS_RR_TYPE_NS: add_address(z, ldns_rr_rdf(rr, 0), a); break;
        case LDNS_RR_TYPE_SRV: add_address(z, ldns_rr_rdf(rr, 3), a); break;
        default: break;
        }
    }
}

/* The node holding the NSEC record that covers name: the greatest node at
 * or before name in canonical order that has one (RFC 4034 6.1, 4035 3.1.3). */
static const struct dns_node *nsec_cover(const struct dns_zone *z, const ldns_rdf *name)
{
    size_t lo = 0, hi = z->nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ldns_dname_compare(z->nodes[mid].name, name) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i-- > 0;)
        if (node_has(&z->nodes[i], LDNS_RR_TYPE_NSEC))
            return &z->nodes[i];
    return NULL;
}

/* Adds n's NSEC and its RRSIGs to the authority section (once). */
static void push_nsec(const struct dns_node *n, struct dns_answer *a)
{
    const ldns_rr *nsec = n ? node_first(n, LDNS_RR_TYPE_NSEC) : NULL;
    if (!nsec)
        return;
    for (size_t i = 0; i < ldns_rr_list_rr_count(a->ns); i++)
        if (ldns_rr_list_rr(a->ns, i) == nsec)
            return;
    push_type(n, LDNS_RR_TYPE_NSEC, a->ns, a);
    push_sigs(n, LDNS_RR_TYPE_NSEC, NULL, a->ns, a);
}

static void referral(const struct dns_zone *z, const struct dns_node *cut, struct dns_answer *a)
{
    size_t from = ldns_rr_list_rr_count(a->ns);
    push_type(cut, LDNS_RR_TYPE_NS, a->ns, a);
    add_additionals(z, a->ns, from, a);
    if (a->dnssec) { /* the DS, or the NSEC proving there is none */
        if (push_type(cut, LDNS_RR_TYPE_DS, a->ns, a))
            push_sigs(cut, LDNS_RR_TYPE_DS, NULL, a->ns, a);
        else
            push_nsec(cut, a);
    }
}

static ldns_rr_type sig_covers(const ldns_rr *rrsig)
{
    const ldns_rdf *c = ldns_rr_rd_count(rrsig) > 0 ? ldns_rr_rdf(rrsig, 0) : NULL;
    return c && ldns_rdf_size(c) == 2 ? ldns_rdf2rr_type(c) : 0;
}

/* The RRSIGs at node n covering type t, into list (re-owned when synthesized). */
static void push_sigs(const struct dns_node *n, ldns_rr_type t, ldns_rdf *synth_owner,
                      ldns_rr_list *list, struct dns_answer *a)
{
    for (uint32_t i = 0; i < n->nrr; i++) {
        ldns_rr *rr = n->rrs[i];
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG || sig_covers(rr) != t)
            continue;
        if (synth_owner && !(rr = synthesize(a, rr, synth_owner)))
            continue;
        push(a, list, rr);
    }
}

/* Appends the node's records of type t, re-owned to qname when synthesized. */
static size_t push_rrset(const struct dns_node *n, ldns_rr_type t, ldns_rdf *synth_owner,
                         struct dns_answer *a)
{
    size_t k = 0;
    for (uint32_t i = 0; i < n->nrr; i++) {
        ldns_rr *rr = n->rrs[i];
        if (t != LDNS_RR_TYPE_ANY && ldns_rr_get_type(rr) != t)
            continue;
        if (synth_owner && !(rr = synthesize(a, rr, synth_owner)))
            continue;
        push(a, a->an, rr);
        k++;
    }
    if (k && a->dnssec && t != LDNS_RR_TYPE_ANY && t != LDNS_RR_TYPE_RRSIG)
        push_sigs(n, t, synth_owner, a->an, a);
    return k;
}

static void lookup(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                   struct dns_answer *a, int depth);

static void answer_at(const struct dns_zone *z, const struct dns_node *n, const ldns_rdf *qname,
                      int synth, ldns_rr_type qtype, struct dns_answer *a, int depth)
{
    ldns_rdf *owner = synth ? synth_owner(a, qname) : NULL;
    if (synth && !owner) { /* cannot happen: one expansion per chain link */
        a->rcode = LDNS_RCODE_SERVFAIL;
        return;
    }
    size_t from = ldns_rr_list_rr_count(a->an);
    if (push_rrset(n, qtype, owner, a) > 0) {
        add_additionals(z, a->an, from, a);
        return;
    }
    const ldns_rr *cname = node_first(n, LDNS_RR_TYPE_CNAME);
    if (cname && qtype != LDNS_RR_TYPE_CNAME) {
        push_rrset(n, LDNS_RR_TYPE_CNAME, owner, a);
        const ldns_rdf *target = ldns_rr_rdf(cname, 0);
        /* Follow inside this zone only; the resolver does the rest. */
        if (target && depth < DNS_CNAME_CHAIN_MAX && dns_zone_contains(z, target))
            lookup(z, target, qtype, a, depth + 1);
        return;
    }
    push_soa_negative(z, a); /* NODATA */
    if (a->dnssec) {
        push_nsec(n, a); /* the types that exist here */
        if (synth)
            push_nsec(nsec_cover(z, qname), a); /* and no closer match */
    }
}

static void lookup(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                   struct dns_answer *a, int depth)
{
    size_t qo[DNS_LABELS_MAX + 1];
    int nq = name_labels(qname, qo), nz = z->origin_labels;
    if (nq < 0 || nq < nz) {
        a->rcode = LDNS_RCODE_FORMERR;
        return;
    }
    uint8_t ql[LDNS_MAX_DOMAINLEN + 1];
    size_t qn = lower_wire(qname, ql);
    if (!qn) {
        a->rcode = LDNS_RCODE_FORMERR;
        return;
    }
    const struct dns_node *n = NULL;
    int k; /* qname's suffix starting at label k is the deepest existing name */
    for (k = nq - nz; k >= 0; k--) {
        const struct dns_node *m = find_lc(z, ql + qo[k], qn - qo[k]);
        if (!m)
            break;
        n = m;
        if ((m->flags & DNS_NODE_DELEG) && !(k == 0 && qtype == LDNS_RR_TYPE_DS)) {
            if (depth == 0)
                a->aa = 0;
            referral(z, m, a);
            return;
        }
    }
    if (!n) { /* not even the apex: cannot happen for an in-zone name */
        a->rcode = LDNS_RCODE_SERVFAIL;
        return;
    }
    if (k < 0) { /* exact match */
        if (n->flags & DNS_NODE_ENT) {
            push_soa_negative(z, a);
            if (a->dnssec)
                push_nsec(nsec_cover(z, qname), a);
        } else
            answer_at(z, n, qname, 0, qtype, a, depth);
        return;
    }
    /* n is the closest encloser; RFC 4592: try its wildcard child. */
    uint8_t wbuf[LDNS_MAX_DOMAINLEN + 3];
    size_t cel = qn - qo[k + 1];
    if (cel + 2 <= LDNS_MAX_DOMAINLEN) {
        wbuf[0] = 1;
        wbuf[1] = '*';
        memcpy(wbuf + 2, ql + qo[k + 1], cel);
        const struct dns_node *w = find_lc(z, wbuf, cel + 2);
        if (w) {
            answer_at(z, w, qname, 1, qtype, a, depth);
            return;
        }
    }
    a->rcode = LDNS_RCODE_NXDOMAIN;
    push_soa_negative(z, a);
    if (a->dnssec && cel + 2 <= LDNS_MAX_DOMAINLEN) {
        /* NSECs covering the name and the wildcard that would have matched. */
        ldns_rdf wild = {._size = cel + 2, ._type = LDNS_RDF_TYPE_DNAME, ._data = wbuf};
        push_nsec(nsec_cover(z, qname), a);
        push_nsec(nsec_cover(z, &wild), a);
    }
}

void dns_zone_answer(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                     struct dns_answer *a)
{
    dns_zone_answer_do(z, qname, qtype, 0, a);
}

void dns_zone_answer_do(const struct dns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
                        int dnssec, struct dns_answer *a)
{
    /* Not a memset: the struct is a few KiB and most of it stays unused. */
    a->rcode = LDNS_RCODE_NOERROR;
    a->aa = 1;
    a->dnssec = dnssec;
    for (int i = 0; i < 3; i++)
        a->sec[i] = (ldns_rr_list){._rr_count = 0, ._rr_capacity = DNS_ANSWER_INLINE, ._rrs = a->slot[i]};
    a->an = &a->sec[0];
    a->ns = &a->sec[1];
    a->ar = &a->sec[2];
    a->owned = NULL;
    a->nsynth = 0;
    a->nowner = 0;
    lookup(z, qname, qtype, a, 0);
}

void dns_answer_free(struct dns_answer *a)
{
    for (int i = 0; i < 3; i++)
        if (a->sec[i]._rrs != a->slot[i])
            free(a->sec[i]._rrs);
    ldns_rr_list_deep_free(a->owned);
    a->an = a->ns = a->ar = a->owned = NULL;
    for (int i = 0; i < 3; i++)
        a->sec[i] = (ldns_rr_list){0, DNS_ANSWER_INLINE, a->slot[i]};
}
