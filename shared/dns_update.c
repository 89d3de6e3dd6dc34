/* dns_update: RFC 2136 sections 3.2 (prerequisites), 3.4.1 (prescan) and
 * 3.4.2 (apply). Everything that can fail is checked before the first change
 * so a refused update leaves the zone as it was. */
#include "dns_update.h"

#include <stdlib.h>

static int rdata_equal(const ldns_rr *a, const ldns_rr *b)
{
    if (ldns_rr_rd_count(a) != ldns_rr_rd_count(b))
        return 0;
    for (size_t i = 0; i < ldns_rr_rd_count(a); i++) {
        const ldns_rdf *x = ldns_rr_rdf(a, i), *y = ldns_rr_rdf(b, i);
        if (ldns_rdf_get_type(x) == LDNS_RDF_TYPE_DNAME && ldns_rdf_get_type(y) == LDNS_RDF_TYPE_DNAME) {
            if (ldns_dname_compare(x, y) != 0)
                return 0;
        } else if (ldns_rdf_compare(x, y) != 0) {
            return 0;
        }
    }
    return 1;
}

static int same_name(const ldns_rr *rr, const ldns_rdf *name)
{
    return ldns_dname_compare(ldns_rr_owner(rr), name) == 0;
}

static int in_zone(const ldns_rdf *origin, const ldns_rdf *name)
{
    return ldns_dname_compare(name, origin) == 0 || ldns_dname_is_subdomain(name, origin);
}

static size_t count_rrset(const ldns_rr_list *rrs, const ldns_rdf *name, ldns_rr_type t)
{
    size_t n = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (same_name(rr, name) && (t == LDNS_RR_TYPE_ANY || ldns_rr_get_type(rr) == t))
            n++;
    }
    return n;
}

static int is_meta(ldns_rr_type t)
{
    return t == LDNS_RR_TYPE_AXFR || t == LDNS_RR_TYPE_IXFR || t == LDNS_RR_TYPE_MAILA ||
           t == LDNS_RR_TYPE_MAILB || t == LDNS_RR_TYPE_TSIG || t == LDNS_RR_TYPE_OPT ||
           t == LDNS_RR_TYPE_TKEY;
}

/* Types an UPDATE may add: what mail, ACME and delegation need. Others are
 * REFUSED: every added record must survive the zone file's text form, and
 * ldns's text parser leaks on some rarely used types (IPSECKEY). */
static int updatable(ldns_rr_type t)
{
    static const ldns_rr_type ok[] = {
        LDNS_RR_TYPE_A,     LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME, LDNS_RR_TYPE_MX,
        LDNS_RR_TYPE_NS,    LDNS_RR_TYPE_PTR,  LDNS_RR_TYPE_SRV,   LDNS_RR_TYPE_TXT,
        LDNS_RR_TYPE_CAA,   LDNS_RR_TYPE_TLSA, LDNS_RR_TYPE_SSHFP, LDNS_RR_TYPE_DS,
        LDNS_RR_TYPE_HINFO, LDNS_RR_TYPE_SOA,  LDNS_RR_TYPE_NAPTR, LDNS_RR_TYPE_SPF,
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (ok[i] == t)
            return 1;
    return 0;
}

const ldns_rdf *dns_update_zone(const ldns_pkt *upd)
{
    const ldns_rr_list *zo = ldns_pkt_question(upd);
    if (ldns_pkt_qdcount(upd) != 1 || !zo || ldns_rr_list_rr_count(zo) != 1)
        return NULL;
    const ldns_rr *z = ldns_rr_list_rr(zo, 0);
    if (ldns_rr_get_type(z) != LDNS_RR_TYPE_SOA)
        return NULL;
    return ldns_rr_owner(z);
}

/* Value-dependent prerequisite (3.2.3): the RRset named by prereq i must
 * equal exactly the class-IN prerequisites of the same name and type. */
static int rrset_matches(const ldns_rr_list *rrs, const ldns_rr_list *pre, size_t i)
{
    const ldns_rr *p = ldns_rr_list_rr(pre, i);
    const ldns_rdf *name = ldns_rr_owner(p);
    ldns_rr_type t = ldns_rr_get_type(p);
    size_t want = 0;
    for (size_t k = 0; k < ldns_rr_list_rr_count(pre); k++) {
        const ldns_rr *q = ldns_rr_list_rr(pre, k);
        if (ldns_rr_get_class(q) != LDNS_RR_CLASS_IN || !same_name(q, name) || ldns_rr_get_type(q) != t)
            continue;
        int dup = 0; /* count each distinct rdata once */
        for (size_t j = 0; j < k && !dup; j++) {
            const ldns_rr *r = ldns_rr_list_rr(pre, j);
            dup = ldns_rr_get_class(r) == LDNS_RR_CLASS_IN && same_name(r, name) &&
                  ldns_rr_get_type(r) == t && rdata_equal(r, q);
        }
        if (dup)
            continue;
        want++;
        int found = 0;
        for (size_t j = 0; j < ldns_rr_list_rr_count(rrs) && !found; j++) {
            const ldns_rr *z = ldns_rr_list_rr(rrs, j);
            found = same_name(z, name) && ldns_rr_get_type(z) == t && rdata_equal(z, q);
        }
        if (!found)
            return 0;
    }
    return count_rrset(rrs, name, t) == want;
}

static ldns_pkt_rcode check_prereqs(const ldns_rdf *origin, const ldns_rr_list *rrs,
                                    const ldns_rr_list *pre)
{
    for (size_t i = 0; pre && i < ldns_rr_list_rr_count(pre); i++) {
        const ldns_rr *p = ldns_rr_list_rr(pre, i);
        const ldns_rdf *name = ldns_rr_owner(p);
        ldns_rr_type t = ldns_rr_get_type(p);
        if (ldns_rr_ttl(p) != 0)
            return LDNS_RCODE_FORMERR;
        if (!in_zone(origin, name))
            return LDNS_RCODE_NOTZONE;
        switch (ldns_rr_get_class(p)) {
        case LDNS_RR_CLASS_ANY:
            if (ldns_rr_rd_count(p) != 0)
                return LDNS_RCODE_FORMERR;
            if (t == LDNS_RR_TYPE_ANY) {
                if (!count_rrset(rrs, name, LDNS_RR_TYPE_ANY))
                    return LDNS_RCODE_NXDOMAIN;
            } else if (!count_rrset(rrs, name, t)) {
                return LDNS_RCODE_NXRRSET;
            }
            break;
        case LDNS_RR_CLASS_NONE:
            if (ldns_rr_rd_count(p) != 0)
                return LDNS_RCODE_FORMERR;
            if (t == LDNS_RR_TYPE_ANY) {
                if (count_rrset(rrs, name, LDNS_RR_TYPE_ANY))
                    return LDNS_RCODE_YXDOMAIN;
            } else if (count_rrset(rrs, name, t)) {
                return LDNS_RCODE_YXRRSET;
            }
            break;
        case LDNS_RR_CLASS_IN:
            if (!rrset_matches(rrs, pre, i))
                return LDNS_RCODE_NXRRSET;
            break;
        default:
            return LDNS_RCODE_FORMERR;
        }
    }
    return LDNS_RCODE_NOERROR;
}

static ldns_pkt_rcode prescan(const ldns_rdf *origin, const ldns_rr_list *up)
{
    for (size_t i = 0; up && i < ldns_rr_list_rr_count(up); i++) {
        const ldns_rr *u = ldns_rr_list_rr(up, i);
        ldns_rr_type t = ldns_rr_get_type(u);
        if (!in_zone(origin, ldns_rr_owner(u)))
            return LDNS_RCODE_NOTZONE;
        switch (ldns_rr_get_class(u)) {
        case LDNS_RR_CLASS_IN: {
            /* Every field of the type must be there (a short SOA or MX from
             * the wire would otherwise reach code that reads its fields). */
            const ldns_rr_descriptor *d = ldns_rr_descript(t);
            if (t == LDNS_RR_TYPE_ANY || is_meta(t) || ldns_rr_rd_count(u) == 0 ||
                (d && ldns_rr_rd_count(u) < ldns_rr_descriptor_minimum(d)))
                return LDNS_RCODE_FORMERR;
            if (!updatable(t))
                return LDNS_RCODE_REFUSED;
            break;
        }
        case LDNS_RR_CLASS_ANY:
            if (ldns_rr_ttl(u) != 0 || ldns_rr_rd_count(u) != 0 || is_meta(t))
                return LDNS_RCODE_FORMERR;
            break;
        case LDNS_RR_CLASS_NONE:
            if (ldns_rr_ttl(u) != 0 || t == LDNS_RR_TYPE_ANY || is_meta(t))
                return LDNS_RCODE_FORMERR;
            break;
        default:
            return LDNS_RCODE_FORMERR;
        }
    }
    return LDNS_RCODE_NOERROR;
}

/* Removes the records for which drop() says so; returns how many. */
static size_t remove_if(ldns_rr_list *rrs, int (*drop)(const ldns_rr *, const ldns_rr *, const ldns_rdf *),
                        const ldns_rr *u, const ldns_rdf *origin)
{
    size_t n = ldns_rr_list_rr_count(rrs), w = 0, removed = 0;
    for (size_t r = 0; r < n; r++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, r);
        if (drop(rr, u, origin)) {
            ldns_rr_free(rr);
            removed++;
        } else {
            ldns_rr_list_set_rr(rrs, rr, w++);
        }
    }
    ldns_rr_list_set_rr_count(rrs, w);
    return removed;
}

static int apex_protected(const ldns_rr *rr, const ldns_rdf *origin)
{
    ldns_rr_type t = ldns_rr_get_type(rr);
    return same_name(rr, origin) && (t == LDNS_RR_TYPE_SOA || t == LDNS_RR_TYPE_NS);
}

static int drop_name(const ldns_rr *rr, const ldns_rr *u, const ldns_rdf *origin)
{
    return same_name(rr, ldns_rr_owner(u)) && !apex_protected(rr, origin);
}

static int drop_rrset(const ldns_rr *rr, const ldns_rr *u, const ldns_rdf *origin)
{
    return same_name(rr, ldns_rr_owner(u)) && ldns_rr_get_type(rr) == ldns_rr_get_type(u) &&
           !apex_protected(rr, origin);
}

static int drop_one(const ldns_rr *rr, const ldns_rr *u, const ldns_rdf *origin)
{
    return same_name(rr, ldns_rr_owner(u)) && ldns_rr_get_type(rr) == ldns_rr_get_type(u) &&
           rdata_equal(rr, u);
}

static int add_rr(ldns_rr_list *rrs, const ldns_rr *u)
{
    const ldns_rdf *name = ldns_rr_owner(u);
    ldns_rr_type t = ldns_rr_get_type(u);
    if (t == LDNS_RR_TYPE_SOA) { /* replaces the SOA only with a newer serial */
        for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
            ldns_rr *rr = ldns_rr_list_rr(rrs, i);
            if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || !same_name(rr, name))
                continue;
            uint32_t old = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
            uint32_t new = ldns_rdf2native_int32(ldns_rr_rdf(u, 2));
            if ((int32_t)(new - old) <= 0)
                return 0;
            ldns_rr *c = ldns_rr_clone(u);
            ldns_rr_set_class(c, LDNS_RR_CLASS_IN);
            ldns_rr_list_set_rr(rrs, c, i);
            ldns_rr_free(rr);
            return 1;
        }
        return 0; /* SOA for a name that is not the apex */
    }
    int cname_here = 0, other_here = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (!same_name(rr, name))
            continue;
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME)
            cname_here = 1;
        else
            other_here = 1;
    }
    /* 3.4.2.2: a CNAME does not join other data, nor other data a CNAME. */
    if ((t == LDNS_RR_TYPE_CNAME && other_here) || (t != LDNS_RR_TYPE_CNAME && cname_here))
        return 0;
    int changed = 0, dup = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (!same_name(rr, name) || ldns_rr_get_type(rr) != t)
            continue;
        if (t == LDNS_RR_TYPE_CNAME) { /* a CNAME replaces the CNAME */
            ldns_rr *c = ldns_rr_clone(u);
            ldns_rr_list_set_rr(rrs, c, i);
            ldns_rr_free(rr);
            return 1;
        }
        if (ldns_rr_ttl(rr) != ldns_rr_ttl(u)) { /* one TTL per RRset */
            ldns_rr_set_ttl(rr, ldns_rr_ttl(u));
            changed = 1;
        }
        if (rdata_equal(rr, u))
            dup = 1;
    }
    if (!dup) {
        ldns_rr_list_push_rr(rrs, ldns_rr_clone(u));
        changed = 1;
    }
    return changed;
}

ldns_pkt_rcode dns_update_apply(const ldns_rdf *origin, ldns_rr_list *rrs, const ldns_pkt *upd,
                                int *changed)
{
    *changed = 0;
    const ldns_rr_list *pre = ldns_pkt_answer(upd), *up = ldns_pkt_authority(upd);
    if (ldns_rr_list_rr_count(pre) + ldns_rr_list_rr_count(up) > DNS_UPDATE_RRS_MAX)
        return LDNS_RCODE_REFUSED;
    ldns_pkt_rcode rc = check_prereqs(origin, rrs, pre);
    if (rc == LDNS_RCODE_NOERROR)
        rc = prescan(origin, up);
    if (rc != LDNS_RCODE_NOERROR)
        return rc;
    for (size_t i = 0; up && i < ldns_rr_list_rr_count(up); i++) {
        const ldns_rr *u = ldns_rr_list_rr(up, i);
        ldns_rr_type t = ldns_rr_get_type(u);
        switch (ldns_rr_get_class(u)) {
        case LDNS_RR_CLASS_IN:
            *changed |= add_rr(rrs, u);
            break;
        case LDNS_RR_CLASS_ANY:
            if (t == LDNS_RR_TYPE_ANY)
                *changed |= remove_if(rrs, drop_name, u, origin) > 0;
            else
                *changed |= remove_if(rrs, drop_rrset, u, origin) > 0;
            break;
        case LDNS_RR_CLASS_NONE:
            if (t == LDNS_RR_TYPE_SOA)
                break;
            /* The apex keeps at least one NS. */
            if (t == LDNS_RR_TYPE_NS && same_name(u, origin) && count_rrset(rrs, origin, t) <= 1)
                break;
            *changed |= remove_if(rrs, drop_one, u, origin) > 0;
            break;
        default:
            break;
        }
    }
    return LDNS_RCODE_NOERROR;
}

uint32_t dns_update_bump_serial(ldns_rr_list *rrs)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7)
            continue;
        uint32_t s = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) + 1;
        ldns_rdf *old = ldns_rr_set_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, s), 2);
        ldns_rdf_deep_free(old);
        return s;
    }
    return 0;
}
