/* iter: iterative resolution (RFC 1034 section 5.3.3) as a small state
 * machine: look in the cache, find the closest known zone cut, ask one of
 * its servers, then follow the reply (answer, CNAME, referral, negative).
 *
 * Poisoning defences: a server is only believed about names at or below the
 * zone cut it was asked as (its bailiwick), for answers, CNAMEs, NS records
 * and glue alike; referrals must go strictly down; glue never replaces
 * answer data in the cache. Work is bounded per client question: upstream
 * queries, nested NS-address resolutions, CNAME hops and a deadline. */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "resolver.h"

struct task {
    struct resolver *r;
    ldns_rdf *qname; /* current name: moves along CNAMEs */
    ldns_rr_type qtype;
    int depth, queries, cnames;
    uint64_t deadline_ms;
    ldns_rr_list *answer; /* CNAME chain and data, owned */
    ldns_rdf *zone;       /* the zone cut being asked */
    int rd;               /* 1 when asking a forwarder */
    struct server_addr srv[RES_SERVERS_MAX];
    int nsrv;
    ldns_rdf *names[RES_SERVERS_MAX]; /* NS names whose address is unknown */
    int nnames;
    int cur; /* index in srv of the server asked last */
    task_done_cb done;
    void *arg;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

static int at_or_below(const ldns_rdf *name, const ldns_rdf *zone)
{
    return ldns_dname_compare(name, zone) == 0 || ldns_dname_is_subdomain(name, zone);
}

static void cut_clear(struct task *t)
{
    for (int i = 0; i < t->nnames; i++)
        ldns_rdf_deep_free(t->names[i]);
    t->nnames = 0;
    t->nsrv = 0;
    ldns_rdf_deep_free(t->zone);
    t->zone = NULL;
    t->rd = 0;
}

static void task_free(struct task *t)
{
    cut_clear(t);
    ldns_rdf_deep_free(t->qname);
    ldns_rr_list_deep_free(t->answer);
    free(t);
}

static void finish(struct task *t, ldns_pkt_rcode rc, ldns_rr_list *authority)
{
    ldns_rr_list *an = t->answer;
    t->answer = NULL;
    t->done(t, t->arg, rc, an, authority ? authority : ldns_rr_list_new());
    task_free(t);
}

static void add_addr(struct task *t, const ldns_rr *a, uint16_t port)
{
    if (t->nsrv >= RES_SERVERS_MAX || ldns_rr_get_type(a) != LDNS_RR_TYPE_A || ldns_rr_rd_count(a) < 1)
        return;
    struct sockaddr_in *sin = (struct sockaddr_in *)&t->srv[t->nsrv].sa;
    memset(&t->srv[t->nsrv], 0, sizeof t->srv[t->nsrv]);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, ldns_rdf_data(ldns_rr_rdf(a, 0)), 4);
    for (int i = 0; i < t->nsrv; i++)
        if (memcmp(&t->srv[i].sa, sin, sizeof *sin) == 0)
            return;
    /* Random insertion order spreads load over a zone's servers. */
    int j = (int)randombytes_uniform((uint32_t)t->nsrv + 1);
    struct server_addr tmp = t->srv[j];
    t->srv[j] = t->srv[t->nsrv];
    t->srv[t->nsrv++] = tmp;
}

static void add_ns_target(struct task *t, const ldns_rdf *target)
{
    int kind;
    ldns_rr_list *a = cache_get(t->r->cache, target, LDNS_RR_TYPE_A, &kind);
    if (a && kind == CACHE_POS) {
        for (size_t i = 0; i < ldns_rr_list_rr_count(a); i++)
            add_addr(t, ldns_rr_list_rr(a, i), t->r->query_port);
    } else if (!a && t->nnames < RES_SERVERS_MAX) {
        t->names[t->nnames++] = ldns_rdf_clone(target);
    }
    ldns_rr_list_deep_free(a);
}

/* The closest enclosing zone whose servers we know (cache, forward, hints). */
static void find_cut(struct task *t)
{
    struct resolver *r = t->r;
    cut_clear(t);
    int best = -1;
    for (int i = 0; i < r->nfwd; i++)
        if (at_or_below(t->qname, r->fwd[i].zone) &&
            (best < 0 || ldns_dname_is_subdomain(r->fwd[i].zone, r->fwd[best].zone)))
            best = i;
    ldns_rdf *name = ldns_rdf_clone(t->qname);
    if (t->qtype == LDNS_RR_TYPE_DS && ldns_dname_label_count(name) > 0) {
        ldns_rdf *up = ldns_dname_left_chop(name); /* a DS lives in the parent zone */
        ldns_rdf_deep_free(name);
        name = up;
    }
    while (name) {
        if (best >= 0 && ldns_dname_compare(name, r->fwd[best].zone) == 0)
            break; /* the forward zone is closer than anything cached */
        int kind;
        ldns_rr_list *ns = cache_get(r->cache, name, LDNS_RR_TYPE_NS, &kind);
        if (ns && kind == CACHE_POS) {
            for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++)
                add_ns_target(t, ldns_rr_rdf(ldns_rr_list_rr(ns, i), 0));
        }
        ldns_rr_list_deep_free(ns);
        if (t->nsrv + t->nnames > 0) {
            t->zone = name;
            return;
        }
        if (ldns_dname_label_count(name) == 0)
            break;
        ldns_rdf *up = ldns_dname_left_chop(name);
        ldns_rdf_deep_free(name);
        name = up;
    }
    ldns_rdf_deep_free(name);
    if (best >= 0) {
        t->zone = ldns_rdf_clone(r->fwd[best].zone);
        t->srv[0].sa = r->fwd[best].sa;
        t->srv[0].tried = 0;
        t->nsrv = 1;
        t->rd = 1;
        return;
    }
    t->zone = ldns_dname_new_frm_str(".");
    for (int i = 0; i < r->nhints; i++) {
        t->srv[i] = r->hints[i];
        t->srv[i].tried = 0;
    }
    t->nsrv = r->nhints;
}

static void send_next(struct task *t);
static void resume(struct task *t);

/* Servers that just timed out are skipped for a while, so every question
 * for a dead server's zones does not wait for its timeout again. */
#define RES_DOWN_MAX 256
#define RES_DOWN_MS 5000
static struct {
    struct sockaddr_storage sa;
    uint64_t until_ms;
} down[RES_DOWN_MAX];
static int down_next;

static int same_server(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static int server_down(const struct sockaddr_storage *sa)
{
    uint64_t now = now_ms();
    for (int i = 0; i < RES_DOWN_MAX; i++)
        if (down[i].until_ms > now && same_server(&down[i].sa, sa))
            return 1;
    return 0;
}

static void server_mark(const struct sockaddr_storage *sa, int is_down)
{
    for (int i = 0; i < RES_DOWN_MAX; i++)
        if (same_server(&down[i].sa, sa)) {
            down[i].until_ms = is_down ? now_ms() + RES_DOWN_MS : 0;
            return;
        }
    if (is_down) {
        down[down_next].sa = *sa;
        down[down_next].until_ms = now_ms() + RES_DOWN_MS;
        down_next = (down_next + 1) % RES_DOWN_MAX;
    }
}

static void child_done_cb(struct task *child, void *arg, ldns_pkt_rcode rc, ldns_rr_list *an,
                          ldns_rr_list *auth)
{
    struct task *t = arg;
    for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); i++)
        add_addr(t, ldns_rr_list_rr(an, i), t->r->query_port);
    ldns_rr_list_deep_free(an);
    ldns_rr_list_deep_free(auth);
    send_next(t);
}

static void reply_cb(void *arg, ldns_pkt *p);

static void send_next(struct task *t)
{
    if (t->r->stopping) {
        finish(t, LDNS_RCODE_SERVFAIL, NULL);
        return;
    }
    if (t->queries >= RES_QUERIES_MAX || now_ms() > t->deadline_ms) {
        metrics_inc("dns_resolver_limits_total", NULL);
        finish(t, LDNS_RCODE_SERVFAIL, NULL);
        return;
    }
    for (int i = 0; i < t->nsrv; i++) {
        if (t->srv[i].tried)
            continue;
        t->srv[i].tried = 1;
        if (server_down(&t->srv[i].sa)) {
            metrics_inc("dns_resolver_skipped_down_total", NULL);
            continue;
        }
        t->cur = i;
        t->queries++;
        if (up_send(t->r->loop, &t->srv[i].sa, t->qname, t->qtype, t->rd, t->r->anchors != NULL,
                    reply_cb, t) == 0)
            return;
    }
    if (t->nnames > 0 && t->depth < RES_DEPTH_MAX) {
        ldns_rdf *name = t->names[--t->nnames];
        /* Resolving a name server's address is a question of its own. */
        task_start(t->r, name, LDNS_RR_TYPE_A, t->depth + 1, child_done_cb, t);
        ldns_rdf_deep_free(name);
        return;
    }
    finish(t, LDNS_RCODE_SERVFAIL, NULL);
}

static ldns_rr_type sig_covers(const ldns_rr *sig)
{
    const ldns_rdf *c = ldns_rr_rd_count(sig) > 0 ? ldns_rr_rdf(sig, 0) : NULL;
    return c && ldns_rdf_size(c) == 2 ? ldns_rdf2rr_type(c) : 0;
}

/* Clones of section records with this owner and type (the caller checked
 * the bailiwick), followed by the RRSIGs that cover them (for validate.c). */
static ldns_rr_list *collect(const ldns_rr_list *sec, const ldns_rdf *owner, ldns_rr_type type,
                             uint32_t *ttl)
{
    ldns_rr_list *out = NULL;
    *ttl = UINT32_MAX;
    for (size_t i = 0; i < ldns_rr_list_rr_count(sec); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(sec, i);
        if (ldns_rr_get_type(rr) != type || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
            ldns_rr_rd_count(rr) == 0 || ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
            continue; /* (an empty record from a hostile server is dropped too) */
        if (!out)
            out = ldns_rr_list_new();
        ldns_rr_list_push_rr(out, ldns_rr_clone(rr));
        if (ldns_rr_ttl(rr) < *ttl)
            *ttl = ldns_rr_ttl(rr);
    }
    for (size_t i = 0; out && type != LDNS_RR_TYPE_RRSIG && i < ldns_rr_list_rr_count(sec); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(sec, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && sig_covers(rr) == type &&
            ldns_dname_compare(ldns_rr_owner(rr), owner) == 0)
            ldns_rr_list_push_rr(out, ldns_rr_clone(rr));
    }
    return out;
}

static const ldns_rr *find_soa(const ldns_rr_list *ns, const ldns_rdf *zone, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ns, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) >= 7 &&
            at_or_below(ldns_rr_owner(rr), zone) && at_or_below(name, ldns_rr_owner(rr)))
            return rr;
    }
    return NULL;
}

static ldns_rr_list *negative(struct task *t, const ldns_rr *soa, const ldns_rdf *name,
                              ldns_rr_type type, int kind, const ldns_rr_list *auth)
{
    ldns_rr_list *l = ldns_rr_list_new();
    if (!soa)
        return l;
    ldns_rr *c = ldns_rr_clone(soa);
    uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(c, 6));
    if (min < ldns_rr_ttl(c))
        ldns_rr_set_ttl(c, min); /* RFC 2308 section 5 */
    ldns_rr_list_push_rr(l, c);
    /* With DNSSEC on, the proof goes along: NSEC or NSEC3 records and the
     * RRSIGs over them and over the SOA (in bailiwick only). */
    for (size_t i = 0; t->r->anchors && i < ldns_rr_list_rr_count(auth); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(auth, i);
        ldns_rr_type rt = ldns_rr_get_type(rr);
        if ((rt == LDNS_RR_TYPE_NSEC || rt == LDNS_RR_TYPE_NSEC3 || rt == LDNS_RR_TYPE_RRSIG) &&
            ldns_rr_rd_count(rr) > 0 &&
            at_or_below(ldns_rr_owner(rr), t->zone))
            ldns_rr_list_push_rr(l, ldns_rr_clone(rr));
    }
    cache_put(t->r->cache, name, type, kind, l, ldns_rr_ttl(c), CRED_ANSWER);
    return l;
}

/* A referral: NS for a zone strictly below the one asked, covering name. */
static int take_referral(struct task *t, const ldns_pkt *p, const ldns_rdf *name)
{
    const ldns_rr_list *ns = ldns_pkt_authority(p), *ar = ldns_pkt_additional(p);
    const ldns_rdf *cut = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(ns) && !cut; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ns, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS && ldns_dname_is_subdomain(ldns_rr_owner(rr), t->zone) &&
            at_or_below(name, ldns_rr_owner(rr)))
            cut = ldns_rr_owner(rr);
    }
    if (!cut)
        return 0;
    uint32_t ttl;
    ldns_rr_list *nsset = collect(ns, cut, LDNS_RR_TYPE_NS, &ttl);
    cache_put(t->r->cache, cut, LDNS_RR_TYPE_NS, CACHE_POS, nsset, ttl, CRED_AUTH);
    for (size_t i = 0; i < ldns_rr_list_rr_count(ar); i++) {
        const ldns_rr *g = ldns_rr_list_rr(ar, i);
        if (ldns_rr_get_type(g) != LDNS_RR_TYPE_A || !at_or_below(ldns_rr_owner(g), t->zone))
            continue; /* glue from outside the referrer's zone is not believed */
        ldns_rr_list *gl = collect(ar, ldns_rr_owner(g), LDNS_RR_TYPE_A, &ttl);
        cache_put(t->r->cache, ldns_rr_owner(g), LDNS_RR_TYPE_A, CACHE_POS, gl, ttl, CRED_GLUE);
        ldns_rr_list_deep_free(gl);
    }
    ldns_rdf *newzone = ldns_rdf_clone(cut);
    cut_clear(t);
    t->zone = newzone;
    for (size_t i = 0; i < ldns_rr_list_rr_count(nsset); i++)
        add_ns_target(t, ldns_rr_rdf(ldns_rr_list_rr(nsset, i), 0));
    ldns_rr_list_deep_free(nsset);
    metrics_inc("dns_resolver_referrals_total", NULL);
    return 1;
}

static void follow(struct task *t, const ldns_pkt *p)
{
    ldns_pkt_rcode rc = ldns_pkt_get_rcode(p);
    const ldns_rr_list *an = ldns_pkt_answer(p);
    ldns_rdf *name = ldns_rdf_clone(t->qname);
    int moved = 0;
    uint32_t ttl;
    for (;;) {
        if (!at_or_below(name, t->zone))
            break; /* out of this server's bailiwick: ask its own servers */
        ldns_rr_list *set = collect(an, name, t->qtype, &ttl);
        if (set) {
            cache_put(t->r->cache, name, t->qtype, CACHE_POS, set, ttl, CRED_ANSWER);
            ldns_rr_list_push_rr_list(t->answer, set);
            ldns_rr_list_free(set);
            ldns_rdf_deep_free(name);
            finish(t, LDNS_RCODE_NOERROR, NULL);
            return;
        }
        ldns_rr_list *cn = t->qtype == LDNS_RR_TYPE_CNAME ? NULL : collect(an, name, LDNS_RR_TYPE_CNAME, &ttl);
        if (!cn)
            break;
        cache_put(t->r->cache, name, LDNS_RR_TYPE_CNAME, CACHE_POS, cn, ttl, CRED_ANSWER);
        ldns_rdf *target = ldns_rdf_clone(ldns_rr_rdf(ldns_rr_list_rr(cn, 0), 0));
        ldns_rr_list_push_rr(t->answer, ldns_rr_clone(ldns_rr_list_rr(cn, 0)));
        for (size_t i = 1; i < ldns_rr_list_rr_count(cn); i++) /* its RRSIGs */
            if (ldns_rr_get_type(ldns_rr_list_rr(cn, i)) == LDNS_RR_TYPE_RRSIG)
                ldns_rr_list_push_rr(t->answer, ldns_rr_clone(ldns_rr_list_rr(cn, i)));
        ldns_rr_list_deep_free(cn);
        ldns_rdf_deep_free(name);
        name = target;
        moved = 1;
        if (++t->cnames > RES_CNAME_MAX) {
            ldns_rdf_deep_free(name);
            finish(t, LDNS_RCODE_SERVFAIL, NULL);
            return;
        }
    }
    const ldns_rr *soa = find_soa(ldns_pkt_authority(p), t->zone, name);
    if (rc == LDNS_RCODE_NXDOMAIN && (!moved || soa)) {
        ldns_rr_list *auth = negative(t, soa, name, 0, CACHE_NXDOMAIN, ldns_pkt_authority(p));
        ldns_rdf_deep_free(name);
        finish(t, LDNS_RCODE_NXDOMAIN, auth);
        return;
    }
    if (moved && !soa) { /* the chain left this zone: resolve the target */
        ldns_rdf_deep_free(t->qname);
        t->qname = name;
        resume(t);
        return;
    }
    if (rc == LDNS_RCODE_NOERROR && !moved && take_referral(t, p, name)) {
        ldns_rdf_deep_free(name);
        send_next(t);
        return;
    }
    if (rc == LDNS_RCODE_NOERROR && (soa || ldns_pkt_aa(p))) {
        ldns_rr_list *auth = negative(t, soa, name, t->qtype, CACHE_NODATA, ldns_pkt_authority(p));
        ldns_rdf_deep_free(name);
        finish(t, LDNS_RCODE_NOERROR, auth);
        return;
    }
    ldns_rdf_deep_free(name);
    metrics_inc("dns_resolver_lame_total", NULL);
    send_next(t); /* lame or useless: try another server */
}

static void reply_cb(void *arg, ldns_pkt *p)
{
    struct task *t = arg;
    server_mark(&t->srv[t->cur].sa, p == NULL); /* a timeout (or no route) */
    ldns_pkt_rcode rc = p ? ldns_pkt_get_rcode(p) : LDNS_RCODE_SERVFAIL;
    if (!p || (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN))
        send_next(t);
    else
        follow(t, p);
    ldns_pkt_free(p);
}

/* Answers from the cache as far as it goes, then asks the network. */
static void resume(struct task *t)
{
    struct cache *c = t->r->cache;
    for (;;) {
        int kind;
        ldns_rr_list *l = cache_get(c, t->qname, t->qtype, &kind);
        if (l && kind == CACHE_POS) {
            ldns_rr_list_push_rr_list(t->answer, l);
            ldns_rr_list_free(l);
            finish(t, LDNS_RCODE_NOERROR, NULL);
            return;
        }
        if (l) {
            finish(t, LDNS_RCODE_NOERROR, l);
            return;
        }
        if ((l = cache_get(c, t->qname, 0, &kind))) {
            finish(t, LDNS_RCODE_NXDOMAIN, l);
            return;
        }
        if (t->qtype == LDNS_RR_TYPE_CNAME || !(l = cache_get(c, t->qname, LDNS_RR_TYPE_CNAME, &kind)))
            break;
        if (kind != CACHE_POS || ldns_rr_list_rr_count(l) == 0 || ++t->cnames > RES_CNAME_MAX) {
            ldns_rr_list_deep_free(l);
            finish(t, LDNS_RCODE_SERVFAIL, NULL);
            return;
        }
        ldns_rdf *target = ldns_rdf_clone(ldns_rr_rdf(ldns_rr_list_rr(l, 0), 0));
        ldns_rr_list_push_rr_list(t->answer, l);
        ldns_rr_list_free(l);
        ldns_rdf_deep_free(t->qname);
        t->qname = target;
    }
    find_cut(t);
    send_next(t);
}

void task_start(struct resolver *r, const ldns_rdf *qname, ldns_rr_type qtype, int depth,
                task_done_cb done, void *arg)
{
    struct task *t = calloc(1, sizeof *t);
    if (!t) {
        done(NULL, arg, LDNS_RCODE_SERVFAIL, ldns_rr_list_new(), ldns_rr_list_new());
        return;
    }
    t->r = r;
    t->qname = ldns_rdf_clone(qname);
    ldns_dname2canonical(t->qname);
    t->qtype = qtype;
    t->depth = depth;
    t->deadline_ms = now_ms() + RES_DEADLINE_MS;
    t->answer = ldns_rr_list_new();
    t->done = done;
    t->arg = arg;
    resume(t);
}

/* "ADDR", "ADDR@PORT", "ADDR#PORT", "[V6]:PORT" or "V4:PORT". */
static int parse_server(const char *s, uint16_t defport, struct sockaddr_storage *out)
{
    char host[128];
    const char *port = NULL;
    size_t hl;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e)
            return -1;
        hl = (size_t)(e - s - 1);
        s++;
        if (e[1] == ':' || e[1] == '@' || e[1] == '#')
            port = e + 2;
    } else {
        const char *sep = strpbrk(s, "@#");
        if (!sep && strchr(s, ':') == strrchr(s, ':'))
            sep = strchr(s, ':');
        hl = sep ? (size_t)(sep - s) : strlen(s);
        if (sep)
            port = sep + 1;
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    long p = port ? strtol(port, NULL, 10) : defport;
    if (p <= 0 || p > 65535)
        return -1;
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        return 0;
    }
    return -1;
}

int hints_load(struct resolver *r, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "cannot open %s", path);
        return -1;
    }
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *semi = strchr(line, ';');
        if (semi)
            *semi = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (!n)
            continue;
        if (r->nhints >= RES_HINTS_MAX)
            break;
        if (!strchr(s, ' ') && !strchr(s, '\t')) {
            if (parse_server(s, r->query_port, &r->hints[r->nhints].sa) < 0) {
                snprintf(err, errsz, "%s:%d: not an address", path, lineno);
                fclose(f);
                return -1;
            }
            r->nhints++;
            continue;
        }
        ldns_rr *rr = NULL;
        ldns_rdf *root = ldns_dname_new_frm_str(".");
        ldns_status st = ldns_rr_new_frm_str(&rr, s, 3600000, root, NULL);
        ldns_rdf_deep_free(root);
        if (st != LDNS_STATUS_OK) {
            snprintf(err, errsz, "%s:%d: %s", path, lineno, ldns_get_errorstr_by_id(st));
            fclose(f);
            return -1;
        }
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A) {
            char *a = ldns_rdf2str(ldns_rr_rdf(rr, 0));
            if (a && parse_server(a, r->query_port, &r->hints[r->nhints].sa) == 0)
                r->nhints++;
            free(a);
        }
        ldns_rr_free(rr);
    }
    fclose(f);
    if (r->nhints == 0) {
        snprintf(err, errsz, "%s: no root server address", path);
        return -1;
    }
    return 0;
}

int forward_parse(struct resolver *r, const char *spec, char *err, size_t errsz)
{
    const char *eq = strchr(spec, '=');
    if (!eq || r->nfwd >= RES_FORWARDS_MAX) {
        snprintf(err, errsz, "--forward wants ZONE=ADDR[@PORT]: %s", spec);
        return -1;
    }
    char zone[300];
    snprintf(zone, sizeof zone, "%.*s", (int)(eq - spec), spec);
    struct forward *f = &r->fwd[r->nfwd];
    f->zone = ldns_dname_new_frm_str(zone);
    if (!f->zone || parse_server(eq + 1, 53, &f->sa) < 0) {
        ldns_rdf_deep_free(f->zone);
        snprintf(err, errsz, "--forward: bad zone or address in %s", spec);
        return -1;
    }
    ldns_dname2canonical(f->zone);
    r->nfwd++;
    return 0;
}
