/* nsec3: denial of existence with NSEC3 (RFC 5155 8), written here rather
 * than taken from ldns: ldns_dnssec_verify_denial_nsec3 leaks a name per
 * NODATA proof, which a long-running resolver cannot afford. ldns still
 * does the hashing and the type bitmaps.
 *
 * Every name is hashed with the zone's parameters and looked for among the
 * NSEC3 owners: a "match" has exactly that owner, a "cover" lies strictly
 * between an owner and its next hashed owner (the last one wraps). */
#include "nsec3.h"

#include <stdlib.h>

struct n3 {
    const ldns_rr_list *l;
    const ldns_rr *first; /* gives the hash parameters */
    ldns_rdf *zone;       /* the zone every owner is in */
    ldns_rdf **next;      /* each record's next hashed owner as a name, decoded once */
};

/* "<base32hex of H(name)>.<zone>", or NULL; the caller frees. */
static ldns_rdf *n3_hash(const struct n3 *z, const ldns_rdf *name)
{
    ldns_rdf *h = ldns_nsec3_hash_name_frm_nsec3(z->first, name);
    if (h && ldns_dname_cat(h, z->zone) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(h);
        h = NULL;
    }
    return h;
}

static const ldns_rr *n3_match(const struct n3 *z, const ldns_rdf *h)
{
    for (size_t i = 0; h && i < ldns_rr_list_rr_count(z->l); i++)
        if (ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(z->l, i)), h) == 0)
            return ldns_rr_list_rr(z->l, i);
    return NULL;
}

/* The next hashed owner of n as a name in the zone; the caller frees. */
static ldns_rdf *n3_next_name(const struct n3 *z, const ldns_rr *n)
{
    char *s = ldns_rdf2str(ldns_rr_rdf(n, 4));
    ldns_rdf *next = s ? ldns_dname_new_frm_str(s) : NULL;
    free(s);
    if (next && ldns_dname_cat(next, z->zone) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(next);
        next = NULL;
    }
    return next;
}

static const ldns_rr *n3_cover(const struct n3 *z, const ldns_rdf *h)
{
    for (size_t i = 0; h && i < ldns_rr_list_rr_count(z->l); i++) {
        const ldns_rr *n = ldns_rr_list_rr(z->l, i);
        const ldns_rdf *next = z->next[i];
        if (!next)
            continue;
        int after_owner = ldns_dname_compare(ldns_rr_owner(n), h) < 0;
        int before_next = ldns_dname_compare(h, next) < 0;
        int last = ldns_dname_compare(ldns_rr_owner(n), next) >= 0; /* the chain wraps here */
        if (last ? (after_owner || before_next) : (after_owner && before_next))
            return n;
    }
    return NULL;
}

static int n3_has(const ldns_rr *n, ldns_rr_type t)
{
    return ldns_rr_rd_count(n) >= 6 && ldns_nsec_bitmap_covers_type(ldns_rr_rdf(n, 5), t);
}

static const ldns_rr *n3_match_name(const struct n3 *z, const ldns_rdf *name)
{
    ldns_rdf *h = n3_hash(z, name);
    const ldns_rr *m = n3_match(z, h);
    ldns_rdf_deep_free(h);
    return m;
}

static const ldns_rr *n3_cover_name(const struct n3 *z, const ldns_rdf *name)
{
    ldns_rdf *h = n3_hash(z, name);
    const ldns_rr *c = h && !n3_match(z, h) ? n3_cover(z, h) : NULL;
    ldns_rdf_deep_free(h);
    return c;
}

/* RFC 5155 8.3, the closest encloser proof: the nearest ancestor of name
 * that has a matching NSEC3, and an NSEC3 covering the next closer name
 * (the ancestor's child on the way to name). An ancestor whose NSEC3 says
 * delegation (NS without SOA) or DNAME proves nothing below it. Returns the
 * closest encloser (caller frees) and its next closer's cover in *cover. */
static ldns_rdf *n3_closest(const struct n3 *z, const ldns_rdf *name, const ldns_rr **cover)
{
    size_t zl = ldns_dname_label_count(z->zone);
    if (ldns_dname_label_count(name) <= zl || !ldns_dname_is_subdomain(name, z->zone))
        return NULL;
    ldns_rdf *child = ldns_rdf_clone(name), *sname = ldns_dname_left_chop(name);
    while (sname && child) {
        const ldns_rr *m = n3_match_name(z, sname);
        if (m) {
            const ldns_rr *c = NULL;
            if (!n3_has(m, LDNS_RR_TYPE_DNAME) && (!n3_has(m, LDNS_RR_TYPE_NS) || n3_has(m, LDNS_RR_TYPE_SOA)))
                c = n3_cover_name(z, child);
            ldns_rdf_deep_free(child);
            if (!c) {
                ldns_rdf_deep_free(sname);
                return NULL;
            }
            *cover = c;
            return sname;
        }
        ldns_rdf_deep_free(child);
        child = sname;
        sname = ldns_dname_label_count(child) > zl ? ldns_dname_left_chop(child) : NULL;
    }
    ldns_rdf_deep_free(child);
    ldns_rdf_deep_free(sname);
    return NULL;
}

static ldns_rdf *n3_wildcard(const ldns_rdf *ce)
{
    ldns_rdf *w = ldns_dname_new_frm_str("*");
    if (w && ldns_dname_cat(w, ce) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(w);
        w = NULL;
    }
    return w;
}

/* The same algorithm, salt and iterations everywhere, owners in one zone;
 * DENIAL_INSECURE for what we do not check (another hash, too many
 * iterations), DENIAL_NONE for a malformed set. */
static enum denial n3_params(const struct n3 *z)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(z->l); i++) {
        const ldns_rr *n = ldns_rr_list_rr(z->l, i);
        /* Five fields when the type bitmap is empty (an empty non-terminal). */
        if (ldns_rr_rd_count(n) < 5 || ldns_rdf_size(ldns_rr_rdf(n, 2)) != 2 || ldns_rdf_size(ldns_rr_rdf(n, 3)) < 1)
            return DENIAL_NONE;
        if (ldns_nsec3_algorithm(n) != 1 || ldns_nsec3_iterations(n) > NSEC3_ITER_MAX)
            return DENIAL_INSECURE;
        if (ldns_nsec3_iterations(n) != ldns_nsec3_iterations(z->first) ||
            ldns_rdf_compare(ldns_rr_rdf(n, 3), ldns_rr_rdf(z->first, 3)) != 0)
            return DENIAL_NONE;
        ldns_rdf *zone = ldns_dname_left_chop(ldns_rr_owner(n));
        int same = zone && ldns_dname_compare(zone, z->zone) == 0;
        ldns_rdf_deep_free(zone);
        if (!same)
            return DENIAL_NONE;
    }
    return DENIAL_PROVEN;
}

static enum denial n3_nxdomain(const struct n3 *z, const ldns_rdf *name)
{
    /* 8.4: the closest encloser proof, and no wildcard at it. */
    const ldns_rr *cover = NULL;
    ldns_rdf *ce = n3_closest(z, name, &cover);
    if (!ce)
        return DENIAL_NONE;
    ldns_rdf *w = n3_wildcard(ce);
    enum denial d = w && n3_cover_name(z, w) ? (ldns_nsec3_optout(cover) ? DENIAL_INSECURE : DENIAL_PROVEN)
                                             : DENIAL_NONE;
    ldns_rdf_deep_free(w);
    ldns_rdf_deep_free(ce);
    return d;
}

static enum denial n3_nodata(const struct n3 *z, const ldns_rdf *name, ldns_rr_type type)
{
    /* 8.5 and 8.6: the name's own NSEC3 lacks the type (and CNAME). */
    const ldns_rr *m = n3_match_name(z, name);
    if (m)
        return !n3_has(m, type) && !n3_has(m, LDNS_RR_TYPE_CNAME) ? DENIAL_PROVEN : DENIAL_NONE;
    const ldns_rr *cover = NULL;
    ldns_rdf *ce = n3_closest(z, name, &cover);
    if (!ce)
        return DENIAL_NONE;
    enum denial d = DENIAL_NONE;
    if (type == LDNS_RR_TYPE_DS) {
        /* 8.6: no NSEC3 for the name, inside an Opt-Out span: an unsigned delegation. */
        d = ldns_nsec3_optout(cover) ? DENIAL_INSECURE : DENIAL_NONE;
    } else {
        /* 8.7: a wildcard at the closest encloser without the type. */
        ldns_rdf *w = n3_wildcard(ce);
        const ldns_rr *wm = w ? n3_match_name(z, w) : NULL;
        if (wm && !n3_has(wm, type) && !n3_has(wm, LDNS_RR_TYPE_CNAME))
            d = ldns_nsec3_optout(cover) ? DENIAL_INSECURE : DENIAL_PROVEN;
        ldns_rdf_deep_free(w);
    }
    ldns_rdf_deep_free(ce);
    return d;
}

enum denial nsec3_denial(const ldns_rr_list *nsec3s, const ldns_rdf *name, ldns_rr_type type, ldns_pkt_rcode rc)
{
    if (!nsec3s || ldns_rr_list_rr_count(nsec3s) == 0)
        return DENIAL_NONE;
    size_t count = ldns_rr_list_rr_count(nsec3s);
    struct n3 z = {.l = nsec3s, .first = ldns_rr_list_rr(nsec3s, 0)};
    z.zone = ldns_dname_left_chop(ldns_rr_owner(z.first));
    z.next = calloc(count, sizeof *z.next);
    enum denial d = z.zone && z.next ? n3_params(&z) : DENIAL_NONE;
    if (d == DENIAL_PROVEN) {
        for (size_t i = 0; i < count; i++)
            z.next[i] = n3_next_name(&z, ldns_rr_list_rr(nsec3s, i));
        d = rc == LDNS_RCODE_NXDOMAIN ? n3_nxdomain(&z, name)
          : rc == LDNS_RCODE_NOERROR  ? n3_nodata(&z, name, type)
                                      : DENIAL_NONE;
    }
    for (size_t i = 0; z.next && i < count; i++)
        ldns_rdf_deep_free(z.next[i]);
    free(z.next);
    ldns_rdf_deep_free(z.zone);
    return d;
}
