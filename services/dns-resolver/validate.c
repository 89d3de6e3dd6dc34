/* validate: DNSSEC validation of positive answers (RFC 4033-4035) with
 * ldns's signature code, when a trust anchor is configured.
 *
 * An RRset is secure when an RRSIG over it verifies with the signer zone's
 * DNSKEY set, and that set is secure: self-signed by a key that matches a
 * trust anchor, or by a key that matches a DS RRset which is itself secure
 * in the parent zone, up to an anchor. Results per zone are cached for the
 * keys' TTL (at most VKEYS_TTL_MAX). Denials (NXDOMAIN, NODATA, and "no DS
 * here" for an unsigned delegation) are proven with signed NSEC or NSEC3
 * records (RFC 4035 5.4, RFC 5155 8). Not done: an answer without any
 * RRSIG counts as insecure (no AD) without proving that its zone is
 * unsigned, so stripped signatures lose the AD bit rather than fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "nsec3.h"
#include "resolver.h"

#define VAL_DEPTH_MAX 12    /* zones walked up from the signer to the anchor */
#define VKEYS_MAX 256       /* zones whose key status is remembered */
#define VKEYS_TTL_MAX 3600  /* seconds */
#define VAL_RRSETS_MAX 32   /* RRsets checked in one answer */

struct vkey {
    ldns_rdf *zone;
    ldns_rr_list *keys;
    int status;
    uint64_t expire_ms;
};

static struct vkey vkeys[VKEYS_MAX];
static int vkeys_next;

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

static struct vkey *vkeys_find(const ldns_rdf *zone)
{
    uint64_t now = now_ms();
    for (int i = 0; i < VKEYS_MAX; i++)
        if (vkeys[i].zone && vkeys[i].expire_ms > now && ldns_dname_compare(vkeys[i].zone, zone) == 0)
            return &vkeys[i];
    return NULL;
}

static void vkeys_put(const ldns_rdf *zone, int status, const ldns_rr_list *keys, uint32_t ttl)
{
    struct vkey *e = &vkeys[vkeys_next];
    vkeys_next = (vkeys_next + 1) % VKEYS_MAX;
    ldns_rdf_deep_free(e->zone);
    ldns_rr_list_deep_free(e->keys);
    e->zone = ldns_rdf_clone(zone);
    e->keys = keys ? ldns_rr_list_clone(keys) : NULL;
    e->status = status;
    e->expire_ms = now_ms() + (uint64_t)(ttl > VKEYS_TTL_MAX ? VKEYS_TTL_MAX : ttl) * 1000;
}

void validate_cleanup(void)
{
    for (int i = 0; i < VKEYS_MAX; i++) {
        ldns_rdf_deep_free(vkeys[i].zone);
        ldns_rr_list_deep_free(vkeys[i].keys);
        memset(&vkeys[i], 0, sizeof vkeys[i]);
    }
}

static ldns_rr_type sig_covers(const ldns_rr *sig)
{
    const ldns_rdf *c = ldns_rr_rd_count(sig) > 7 ? ldns_rr_rdf(sig, 0) : NULL;
    return c && ldns_rdf_size(c) == 2 ? ldns_rdf2rr_type(c) : 0;
}

/* Records of all with this owner and type (borrowed, in a new shallow list). */
static ldns_rr_list *pick(const ldns_rr_list *all, const ldns_rdf *owner, ldns_rr_type t)
{
    ldns_rr_list *l = ldns_rr_list_new();
    for (size_t i = 0; all && i < ldns_rr_list_rr_count(all); i++) {
        ldns_rr *rr = ldns_rr_list_rr(all, i);
        if (ldns_rr_get_type(rr) == t && ldns_dname_compare(ldns_rr_owner(rr), owner) == 0)
            ldns_rr_list_push_rr(l, rr);
    }
    return l;
}

/* 1 when some RRSIG in all over owner/type verifies with one of keys. */
static int verify_set(const ldns_rr_list *all, const ldns_rdf *owner, ldns_rr_type t,
                      const ldns_rr_list *keys)
{
    ldns_rr_list *set = pick(all, owner, t), *sigs = pick(all, owner, LDNS_RR_TYPE_RRSIG);
    int ok = 0;
    for (size_t i = 0; !ok && i < ldns_rr_list_rr_count(sigs); i++) {
        ldns_rr *sig = ldns_rr_list_rr(sigs, i);
        if (sig_covers(sig) == t && ldns_rr_list_rr_count(set) > 0)
            ok = ldns_verify_rrsig_keylist(set, sig, keys, NULL) == LDNS_STATUS_OK;
    }
    ldns_rr_list_free(set);
    ldns_rr_list_free(sigs);
    return ok;
}

static uint32_t min_ttl(const ldns_rr_list *l)
{
    uint32_t t = VKEYS_TTL_MAX;
    for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++)
        if (ldns_rr_ttl(ldns_rr_list_rr(l, i)) < t)
            t = ldns_rr_ttl(ldns_rr_list_rr(l, i));
    return t;
}

/* Puts the records of type t in auth into out and the RRSIGs over them into
 * sigs; 0 when one of them is not signed with keys. */
static int collect_signed(const ldns_rr_list *auth, ldns_rr_type t, const ldns_rr_list *keys, ldns_rr_list *out,
                          ldns_rr_list *sigs)
{
    int ok = 1;
    for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); i++) {
        ldns_rr *rr = ldns_rr_list_rr(auth, i);
        if (ldns_rr_get_type(rr) == t) {
            ldns_rr_list_push_rr(out, rr);
            if (!verify_set(auth, ldns_rr_owner(rr), t, keys))
                ok = 0; /* every record used must be signed */
        } else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && sig_covers(rr) == t) {
            ldns_rr_list_push_rr(sigs, rr);
        }
    }
    return ok;
}

/* Whether the NSEC or NSEC3 records in auth, each signed with keys, deny
 * name/type (RFC 4035 5.4, RFC 5155 8): the name does not exist (rc
 * NXDOMAIN), or has no such type (NOERROR). */
static enum denial denial_check(const ldns_rr_list *auth, const ldns_rdf *name, ldns_rr_type type,
                                ldns_pkt_rcode rc, const ldns_rr_list *keys)
{
    ldns_rr_list *nsecs = ldns_rr_list_new(), *sigs = ldns_rr_list_new();
    enum denial d = DENIAL_NONE;
    if (collect_signed(auth, LDNS_RR_TYPE_NSEC, keys, nsecs, sigs) && ldns_rr_list_rr_count(nsecs) > 0) {
        ldns_rr *q = ldns_rr_new();
        ldns_rr_set_owner(q, ldns_rdf_clone(name));
        ldns_rr_set_type(q, type);
        ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
        d = ldns_dnssec_verify_denial(q, nsecs, sigs) == LDNS_STATUS_OK ? DENIAL_PROVEN : DENIAL_NONE;
        ldns_rr_free(q);
    } else if (ldns_rr_list_rr_count(nsecs) == 0) {
        ldns_rr_list *nsec3s = ldns_rr_list_new(), *sigs3 = ldns_rr_list_new();
        if (collect_signed(auth, LDNS_RR_TYPE_NSEC3, keys, nsec3s, sigs3) && ldns_rr_list_rr_count(nsec3s) > 0)
            d = nsec3_denial(nsec3s, name, type, rc);
        ldns_rr_list_free(nsec3s);
        ldns_rr_list_free(sigs3);
    }
    ldns_rr_list_free(nsecs);
    ldns_rr_list_free(sigs);
    return d;
}

static const ldns_rr *find_soa(const ldns_rr_list *auth)
{
    for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); i++)
        if (ldns_rr_get_type(ldns_rr_list_rr(auth, i)) == LDNS_RR_TYPE_SOA)
            return ldns_rr_list_rr(auth, i);
    return NULL;
}

/* ---- the key set of a zone --------------------------------------------- */

typedef void (*keys_cb)(void *arg, int status, const ldns_rr_list *keys);

struct kjob {
    struct resolver *r;
    ldns_rdf *zone;
    int depth;
    keys_cb cb;
    void *arg;
    ldns_rr_list *dnskey_answer, *ds_answer; /* owned task results */
    ldns_rr_list *ds_auth;                     /* the DS question's authority (denial) */
};

static void keys_get(struct resolver *r, const ldns_rdf *zone, int depth, keys_cb cb, void *arg);

static void kjob_finish(struct kjob *j, int status)
{
    ldns_rr_list *keys = j->dnskey_answer ? pick(j->dnskey_answer, j->zone, LDNS_RR_TYPE_DNSKEY) : NULL;
    vkeys_put(j->zone, status, status == VAL_SECURE ? keys : NULL,
              status == VAL_BOGUS ? 60 : min_ttl(j->dnskey_answer));
    char *z = ldns_rdf2str(j->zone);
    log_debug("dnssec.zone", "zone=%s status=%s", z ? z : "?",
              status == VAL_SECURE ? "secure" : status == VAL_INSECURE ? "insecure" : "bogus");
    free(z);
    j->cb(j->arg, status, status == VAL_SECURE ? keys : NULL);
    ldns_rr_list_free(keys);
    ldns_rr_list_deep_free(j->dnskey_answer);
    ldns_rr_list_deep_free(j->ds_answer);
    ldns_rr_list_deep_free(j->ds_auth);
    ldns_rdf_deep_free(j->zone);
    free(j);
}

/* No DS came back: with a secure parent that must be proven by NSEC (an
 * unsigned delegation, insecure), otherwise it is an attack (bogus). */
static void kjob_nods_cb(void *arg, int status, const ldns_rr_list *pkeys)
{
    struct kjob *j = arg;
    if (status != VAL_SECURE) {
        kjob_finish(j, status == VAL_INSECURE ? VAL_INSECURE : VAL_BOGUS);
        return;
    }
    const ldns_rr *soa = find_soa(j->ds_auth);
    /* An exact NODATA proof or an Opt-Out span: either way no DS. */
    int proven = soa && verify_set(j->ds_auth, ldns_rr_owner(soa), LDNS_RR_TYPE_SOA, pkeys) &&
                 denial_check(j->ds_auth, j->zone, LDNS_RR_TYPE_DS, LDNS_RCODE_NOERROR, pkeys) != DENIAL_NONE;
    kjob_finish(j, proven ? VAL_INSECURE : VAL_BOGUS);
}

static void kjob_parent_cb(void *arg, int status, const ldns_rr_list *pkeys)
{
    struct kjob *j = arg;
    if (status != VAL_SECURE) {
        kjob_finish(j, status);
        return;
    }
    if (!verify_set(j->ds_answer, j->zone, LDNS_RR_TYPE_DS, pkeys)) {
        kjob_finish(j, VAL_BOGUS);
        return;
    }
    /* Keys that a DS vouches for, then the key set signed by one of them. */
    ldns_rr_list *ds = pick(j->ds_answer, j->zone, LDNS_RR_TYPE_DS);
    ldns_rr_list *keys = pick(j->dnskey_answer, j->zone, LDNS_RR_TYPE_DNSKEY);
    ldns_rr_list *trusted = ldns_rr_list_new();
    for (size_t k = 0; k < ldns_rr_list_rr_count(keys); k++)
        for (size_t d = 0; d < ldns_rr_list_rr_count(ds); d++)
            if (ldns_rr_compare_ds(ldns_rr_list_rr(ds, d), ldns_rr_list_rr(keys, k))) {
                ldns_rr_list_push_rr(trusted, ldns_rr_list_rr(keys, k));
                break;
            }
    int ok = ldns_rr_list_rr_count(trusted) > 0 &&
             verify_set(j->dnskey_answer, j->zone, LDNS_RR_TYPE_DNSKEY, trusted);
    ldns_rr_list_free(ds);
    ldns_rr_list_free(keys);
    ldns_rr_list_free(trusted);
    kjob_finish(j, ok ? VAL_SECURE : VAL_BOGUS);
}

static void kjob_ds_cb(struct task *t, void *arg, ldns_pkt_rcode rc, ldns_rr_list *an, ldns_rr_list *ns)
{
    struct kjob *j = arg;
    j->ds_auth = ns;
    j->ds_answer = an;
    ldns_rr_list *ds = pick(an, j->zone, LDNS_RR_TYPE_DS), *sigs = pick(an, j->zone, LDNS_RR_TYPE_RRSIG);
    size_t nds = ldns_rr_list_rr_count(ds);
    const ldns_rr *sig = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(sigs) && !sig; i++)
        if (sig_covers(ldns_rr_list_rr(sigs, i)) == LDNS_RR_TYPE_DS)
            sig = ldns_rr_list_rr(sigs, i);
    ldns_rdf *signer = sig ? ldns_rdf_clone(ldns_rr_rdf(sig, 7)) : NULL;
    ldns_rr_list_free(ds);
    ldns_rr_list_free(sigs);
    if (nds == 0) {
        ldns_rdf_deep_free(signer);
        const ldns_rr *soa = find_soa(ns);
        if (rc != LDNS_RCODE_NOERROR || !soa || !ldns_dname_is_subdomain(j->zone, ldns_rr_owner(soa))) {
            kjob_finish(j, VAL_BOGUS); /* no answer we can check */
            return;
        }
        ldns_rdf *parent = ldns_rdf_clone(ldns_rr_owner(soa));
        keys_get(j->r, parent, j->depth + 1, kjob_nods_cb, j);
        ldns_rdf_deep_free(parent);
        return;
    }
    if (!signer || !ldns_dname_is_subdomain(j->zone, signer)) {
        ldns_rdf_deep_free(signer);
        kjob_finish(j, VAL_BOGUS); /* a DS must be signed by a parent */
        return;
    }
    keys_get(j->r, signer, j->depth + 1, kjob_parent_cb, j);
    ldns_rdf_deep_free(signer);
}

static const ldns_rr *anchor_match(const struct resolver *r, const ldns_rr *key)
{
    for (size_t i = 0; r->anchors && i < ldns_rr_list_rr_count(r->anchors); i++) {
        const ldns_rr *a = ldns_rr_list_rr(r->anchors, i);
        if (ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(key)) != 0)
            continue;
        if (ldns_rr_get_type(a) == LDNS_RR_TYPE_DS ? ldns_rr_compare_ds(a, key)
                                                   : ldns_rr_compare(a, key) == 0)
            return a;
    }
    return NULL;
}

static int has_anchor(const struct resolver *r, const ldns_rdf *zone)
{
    for (size_t i = 0; r->anchors && i < ldns_rr_list_rr_count(r->anchors); i++)
        if (ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(r->anchors, i)), zone) == 0)
            return 1;
    return 0;
}

static void kjob_dnskey_cb(struct task *t, void *arg, ldns_pkt_rcode rc, ldns_rr_list *an, ldns_rr_list *ns)
{
    struct kjob *j = arg;
    ldns_rr_list_deep_free(ns);
    j->dnskey_answer = an;
    ldns_rr_list *keys = pick(an, j->zone, LDNS_RR_TYPE_DNSKEY);
    size_t nkeys = ldns_rr_list_rr_count(keys);
    if (has_anchor(j->r, j->zone)) {
        ldns_rr_list *trusted = ldns_rr_list_new();
        for (size_t k = 0; k < nkeys; k++)
            if (anchor_match(j->r, ldns_rr_list_rr(keys, k)))
                ldns_rr_list_push_rr(trusted, ldns_rr_list_rr(keys, k));
        int ok = ldns_rr_list_rr_count(trusted) > 0 &&
                 verify_set(an, j->zone, LDNS_RR_TYPE_DNSKEY, trusted);
        ldns_rr_list_free(trusted);
        ldns_rr_list_free(keys);
        kjob_finish(j, ok ? VAL_SECURE : VAL_BOGUS);
        return;
    }
    ldns_rr_list_free(keys);
    if (nkeys == 0 || ldns_dname_label_count(j->zone) == 0) {
        kjob_finish(j, VAL_INSECURE);
        return;
    }
    task_start(j->r, j->zone, LDNS_RR_TYPE_DS, 0, kjob_ds_cb, j);
}

static void keys_get(struct resolver *r, const ldns_rdf *zone, int depth, keys_cb cb, void *arg)
{
    struct vkey *e = vkeys_find(zone);
    if (e) {
        cb(arg, e->status, e->keys);
        return;
    }
    struct kjob *j = depth > VAL_DEPTH_MAX ? NULL : calloc(1, sizeof *j);
    if (!j) {
        cb(arg, VAL_BOGUS, NULL);
        return;
    }
    j->r = r;
    j->zone = ldns_rdf_clone(zone);
    j->depth = depth;
    j->cb = cb;
    j->arg = arg;
    task_start(r, zone, LDNS_RR_TYPE_DNSKEY, 0, kjob_dnskey_cb, j);
}

/* ---- an answer ------------------------------------------------------------ */

struct vjob {
    struct resolver *r;
    const ldns_rr_list *an; /* borrowed: the caller keeps it until done */
    const ldns_rr *sets[VAL_RRSETS_MAX]; /* first record of each RRset */
    int nsets, next;
    val_done_cb cb;
    void *arg;
};

static void vjob_step(struct vjob *v);

static void vjob_keys_cb(void *arg, int status, const ldns_rr_list *keys)
{
    struct vjob *v = arg;
    const ldns_rr *first = v->sets[v->next];
    if (status == VAL_SECURE &&
        !verify_set(v->an, ldns_rr_owner(first), ldns_rr_get_type(first), keys))
        status = VAL_BOGUS;
    if (status != VAL_SECURE) {
        metrics_inc("dns_resolver_dnssec_total", status == VAL_BOGUS ? "result=\"bogus\"" : "result=\"insecure\"");
        v->cb(v->arg, status);
        free(v);
        return;
    }
    v->next++;
    vjob_step(v);
}

static void vjob_step(struct vjob *v)
{
    if (v->next >= v->nsets) {
        metrics_inc("dns_resolver_dnssec_total", "result=\"secure\"");
        v->cb(v->arg, VAL_SECURE);
        free(v);
        return;
    }
    const ldns_rr *first = v->sets[v->next];
    const ldns_rr *sig = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(v->an) && !sig; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(v->an, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && sig_covers(rr) == ldns_rr_get_type(first) &&
            ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(first)) == 0)
            sig = rr;
    }
    if (!sig) {
        metrics_inc("dns_resolver_dnssec_total", "result=\"insecure\"");
        v->cb(v->arg, VAL_INSECURE);
        free(v);
        return;
    }
    keys_get(v->r, ldns_rr_rdf(sig, 7), 0, vjob_keys_cb, v);
}

void validate_answer(struct resolver *r, const ldns_rr_list *an, val_done_cb cb, void *arg)
{
    struct vjob *v = calloc(1, sizeof *v);
    if (!v) {
        cb(arg, VAL_BOGUS);
        return;
    }
    v->r = r;
    v->an = an;
    v->cb = cb;
    v->arg = arg;
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(an, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG)
            continue;
        int seen = 0;
        for (int k = 0; k < v->nsets && !seen; k++)
            seen = ldns_rr_get_type(v->sets[k]) == ldns_rr_get_type(rr) &&
                   ldns_dname_compare(ldns_rr_owner(v->sets[k]), ldns_rr_owner(rr)) == 0;
        if (!seen && v->nsets < VAL_RRSETS_MAX)
            v->sets[v->nsets++] = rr;
    }
    if (v->nsets == 0) {
        cb(arg, VAL_INSECURE);
        free(v);
        return;
    }
    vjob_step(v);
}

/* ---- negative answers and whole responses ----------------------------- */

struct rjob {
    struct resolver *r;
    ldns_rdf *name; /* where the denial applies (end of the CNAME chain) */
    ldns_rr_type type;
    const ldns_rr_list *an, *ns; /* borrowed */
    ldns_pkt_rcode rc;
    int negative;
    val_done_cb cb;
    void *arg;
};

static void rjob_done(struct rjob *j, int status)
{
    j->cb(j->arg, status);
    ldns_rdf_deep_free(j->name);
    free(j);
}

static void rjob_neg_keys_cb(void *arg, int status, const ldns_rr_list *keys)
{
    struct rjob *j = arg;
    if (status == VAL_SECURE) {
        const ldns_rr *soa = find_soa(j->ns);
        enum denial d = verify_set(j->ns, ldns_rr_owner(soa), LDNS_RR_TYPE_SOA, keys)
                            ? denial_check(j->ns, j->name, j->type, j->rc, keys)
                            : DENIAL_NONE;
        status = d == DENIAL_PROVEN ? VAL_SECURE : d == DENIAL_INSECURE ? VAL_INSECURE : VAL_BOGUS;
    }
    metrics_inc("dns_resolver_dnssec_total", status == VAL_SECURE  ? "result=\"secure\""
                                             : status == VAL_BOGUS ? "result=\"bogus\""
                                                                   : "result=\"insecure\"");
    rjob_done(j, status);
}

static void rjob_negative(struct rjob *j)
{
    const ldns_rr *soa = find_soa(j->ns);
    if (!soa || !(ldns_dname_compare(j->name, ldns_rr_owner(soa)) == 0 ||
                  ldns_dname_is_subdomain(j->name, ldns_rr_owner(soa)))) {
        rjob_done(j, VAL_INSECURE);
        return;
    }
    keys_get(j->r, ldns_rr_owner(soa), 0, rjob_neg_keys_cb, j);
}

static void rjob_pos_cb(void *arg, int status)
{
    struct rjob *j = arg;
    if (status != VAL_SECURE || !j->negative)
        rjob_done(j, status);
    else
        rjob_negative(j);
}

void validate_response(struct resolver *r, const ldns_rdf *qname, ldns_rr_type qtype,
                       ldns_pkt_rcode rc, const ldns_rr_list *an, const ldns_rr_list *ns,
                       val_done_cb cb, void *arg)
{
    struct rjob *j = calloc(1, sizeof *j);
    if (!j) {
        cb(arg, VAL_BOGUS);
        return;
    }
    j->r = r;
    j->type = qtype;
    j->an = an;
    j->ns = ns;
    j->cb = cb;
    j->arg = arg;
    j->rc = rc;
    j->negative = rc == LDNS_RCODE_NXDOMAIN || find_soa(ns) != NULL;
    /* The denial is about the last name of the CNAME chain. */
    const ldns_rdf *name = qname;
    for (int hop = 0; hop < 16; hop++) {
        const ldns_rr *next = NULL;
        for (size_t i = 0; i < ldns_rr_list_rr_count(an) && !next; i++) {
            const ldns_rr *rr = ldns_rr_list_rr(an, i);
            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_dname_compare(ldns_rr_owner(rr), name) == 0)
                next = rr;
        }
        if (!next || qtype == LDNS_RR_TYPE_CNAME)
            break;
        name = ldns_rr_rdf(next, 0);
    }
    j->name = ldns_rdf_clone(name);
    if (ldns_rr_list_rr_count(an) > 0)
        validate_answer(r, an, rjob_pos_cb, j);
    else if (j->negative)
        rjob_negative(j);
    else
        rjob_done(j, VAL_INSECURE);
}

int anchors_load(struct resolver *r, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "cannot open %s", path);
        return -1;
    }
    r->anchors = ldns_rr_list_new();
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == ';' || *s == '\n' || *s == '\r' || !*s)
            continue;
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, s, 3600, NULL, NULL) != LDNS_STATUS_OK ||
            (ldns_rr_get_type(rr) != LDNS_RR_TYPE_DS && ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY)) {
            ldns_rr_free(rr);
            snprintf(err, errsz, "%s:%d: not a DS or DNSKEY record", path, lineno);
            fclose(f);
            return -1;
        }
        ldns_dname2canonical(ldns_rr_owner(rr));
        ldns_rr_list_push_rr(r->anchors, rr);
    }
    fclose(f);
    if (ldns_rr_list_rr_count(r->anchors) == 0) {
        snprintf(err, errsz, "%s: no trust anchor", path);
        return -1;
    }
    return 0;
}
