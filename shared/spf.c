/* spf: check_host() (RFC 7208 §4) as a resumable state machine.
 *
 * Handlers are written to be re-run: each looks its DNS data up in the
 * context's answer cache and, when a query is missing, posts it and returns
 * "wait". When the answer arrives the same handler runs again from the top
 * and this time finds everything it needs. This keeps multi-query terms (mx,
 * ptr, %{p}) free of hand-written sub-states. Effects that must happen once
 * per term (the lookup count) are guarded by the frame's `started` flag. */
#include "spf.h"
#include "spf_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SPF_MAX_LOOKUPS 10   /* §4.6.4: terms that cause DNS queries */
#define SPF_MAX_VOID 2       /* §4.6.4: lookups answering NXDOMAIN or nothing */
#define SPF_MAX_MX 10        /* §4.6.4: more MX names than this is a permerror */
#define SPF_MAX_PTR 10       /* §4.6.4: PTR names past this are ignored */
#define SPF_MAX_DEPTH 16     /* include nesting; the lookup limit stops it at 11 */
#define SPF_CACHE_MAX 256    /* answers kept per check; limits bound use to ~150 */
#define SPF_CACHE_RR_MAX 1024 /* records kept per answer (no RR limit for A, §4.6.4) */
#define SPF_IDENT_MAX 512    /* sender, HELO and receiver are cut to this */
#define SPF_DEFAULT_EXP "SPF fail - not authorized"

enum { ST_IDLE, ST_EVAL, ST_EXP, ST_DONE };
enum { T_WAIT, T_MATCH, T_NOMATCH, T_FINISHED, T_CONTINUE };
enum { VIA_TOP, VIA_INCLUDE, VIA_REDIRECT };

typedef struct crr {
    uint8_t addr[16];
    char *data;
    size_t len;
} crr;

typedef struct centry {
    char name[SPF_NAME_MAX + 2];
    int type, rcode, n;
    crr *rr;
} centry;

typedef struct frame {
    char domain[SPF_NAME_MAX + 2];
    char *text;
    spf_record *rec;
    int pos, started, via;
} frame;

struct spf_ctx {
    int state;
    uint8_t ip[16];
    int v6;
    char ip_i[80], ip_c[INET6_ADDRSTRLEN], rev[96];
    char sender[SPF_IDENT_MAX], local[SPF_IDENT_MAX], odomain[SPF_IDENT_MAX];
    char helo[SPF_IDENT_MAX], receiver[SPF_IDENT_MAX];
    int helo_identity;
    char *default_exp;
    frame frames[SPF_MAX_DEPTH];
    int depth, lookups, voids;
    centry cache[SPF_CACHE_MAX];
    int ncache;
    int pending, qtype;
    char qname[SPF_NAME_MAX + 2];
    spf_result result;
    char mech[SPF_MAX_RECORD + 1];
    char exp[SPF_EXPAND_MAX];
    char problem[160];
    int pv_done, pv_void, npv;
    char pv[SPF_MAX_PTR][SPF_NAME_MAX + 2];
    long long t;
};

static void frame_clear(frame *f)
{
    free(f->text);
    free(f->rec);
    memset(f, 0, sizeof *f);
}

static void cache_clear(spf_ctx *c)
{
    for (int i = 0; i < c->ncache; i++) {
        for (int k = 0; k < c->cache[i].n; k++)
            free(c->cache[i].rr[k].data);
        free(c->cache[i].rr);
    }
    c->ncache = 0;
}

spf_ctx *spf_new(void)
{
    return calloc(1, sizeof(spf_ctx));
}

void spf_free(spf_ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < SPF_MAX_DEPTH; i++)
        frame_clear(&c->frames[i]);
    cache_clear(c);
    free(c->default_exp);
    free(c);
}

void spf_set_default_exp(spf_ctx *c, const char *text)
{
    free(c->default_exp);
    c->default_exp = text ? strdup(text) : NULL;
}

/* dst = a b, truncated to sz (identities are bounded, cutting is fine) */
static void cat_str(char *dst, size_t sz, const char *a, const char *b)
{
    size_t n = 0;
    for (const char *p = a; p && *p && n + 1 < sz; p++)
        dst[n++] = *p;
    for (const char *p = b; p && *p && n + 1 < sz; p++)
        dst[n++] = *p;
    dst[n] = '\0';
}

static void copy_str(char *dst, size_t sz, const char *src)
{
    cat_str(dst, sz, src, NULL);
}

static void finish(spf_ctx *c, spf_result r, const char *problem)
{
    c->result = r;
    if (problem)
        copy_str(c->problem, sizeof c->problem, problem);
    c->state = (r == SPF_RES_FAIL) ? ST_EXP : ST_DONE;
}

/* §4.3: a sender domain that cannot be a DNS name gives "none". */
static int domain_ok(const char *d)
{
    size_t n = strlen(d), lab = 0;
    int dots = 0;
    if (n && d[n - 1] == '.')
        n--;
    if (n == 0 || n > SPF_NAME_MAX || d[0] == '[')
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || d[i] == '.') {
            if (lab == 0 || lab > 63)
                return 0;
            dots += i < n;
            lab = 0;
        } else {
            lab++;
        }
    }
    return dots > 0;
}

static void set_ip_strings(spf_ctx *c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!c->v6) {
        const uint8_t *a = c->ip;
        snprintf(c->ip_i, sizeof c->ip_i, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        copy_str(c->ip_c, sizeof c->ip_c, c->ip_i);
        snprintf(c->rev, sizeof c->rev, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
        return;
    }
    char *p = c->ip_i, *r = c->rev;
    for (int i = 0; i < 16; i++) {
        *p++ = hex[c->ip[i] >> 4], *p++ = '.', *p++ = hex[c->ip[i] & 15], *p++ = '.';
        int j = 15 - i;
        *r++ = hex[c->ip[j] & 15], *r++ = '.', *r++ = hex[c->ip[j] >> 4], *r++ = '.';
    }
    p[-1] = '\0';
    strcpy(r, "ip6.arpa");
    inet_ntop(AF_INET6, c->ip, c->ip_c, sizeof c->ip_c);
}

static int parse_client_ip(spf_ctx *c, const char *ip)
{
    uint8_t a6[16];
    if (ip && inet_pton(AF_INET, ip, c->ip) == 1) {
        c->v6 = 0;
    } else if (ip && inet_pton(AF_INET6, ip, a6) == 1) {
        /* §5: an IPv4-mapped IPv6 client is an IPv4 client */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        c->v6 = memcmp(a6, mapped, 12) != 0;
        memcpy(c->ip, c->v6 ? a6 : a6 + 12, c->v6 ? 16 : 4);
    } else {
        return -1;
    }
    set_ip_strings(c);
    return 0;
}

int spf_begin(spf_ctx *c, const char *ip, const char *sender, const char *helo,
              const char *receiver)
{
    for (int i = 0; i < SPF_MAX_DEPTH; i++)
        frame_clear(&c->frames[i]);
    cache_clear(c);
    char *dexp = c->default_exp;
    memset(c, 0, sizeof *c);
    c->default_exp = dexp;
    c->t = (long long)time(NULL);
    copy_str(c->helo, sizeof c->helo, helo);
    copy_str(c->receiver, sizeof c->receiver, receiver);
    copy_str(c->mech, sizeof c->mech, "");
    if (!sender || !*sender) { /* §2.4: null reverse-path -> postmaster@helo */
        c->helo_identity = 1;
        cat_str(c->sender, sizeof c->sender, "postmaster@", c->helo);
    } else {
        copy_str(c->sender, sizeof c->sender, sender);
    }
    char *at = strrchr(c->sender, '@');
    if (at) {
        *at = '\0';
        copy_str(c->local, sizeof c->local, c->sender);
        copy_str(c->odomain, sizeof c->odomain, at + 1);
        *at = '@';
    } else {
        copy_str(c->odomain, sizeof c->odomain, c->sender);
    }
    if (!c->local[0]) { /* §4.3: no local-part means postmaster */
        copy_str(c->local, sizeof c->local, "postmaster");
        char tmp[SPF_IDENT_MAX];
        cat_str(tmp, sizeof tmp, "postmaster@", c->odomain);
        copy_str(c->sender, sizeof c->sender, tmp);
    }
    c->state = ST_EVAL;
    if (parse_client_ip(c, ip) != 0) {
        finish(c, SPF_RES_PERMERROR, "bad client address");
        return -1;
    }
    if (!domain_ok(c->odomain)) {
        finish(c, SPF_RES_NONE, NULL);
        return 0;
    }
    frame *f = &c->frames[0];
    copy_str(f->domain, sizeof f->domain, c->odomain);
    spf_domain_finish(f->domain);
    c->depth = 1;
    return 0;
}

/* Finds (name, type) in the cache; otherwise posts it as the pending query.
 * Returns the entry, or NULL while waiting (or when the cache is full, in
 * which case the check has been finished with temperror). */
static centry *ask(spf_ctx *c, const char *name, int type)
{
    for (int i = 0; i < c->ncache; i++)
        if (c->cache[i].type == type && strcasecmp(c->cache[i].name, name) == 0)
            return &c->cache[i];
    if (c->ncache >= SPF_CACHE_MAX) {
        if (c->state == ST_EVAL) /* during exp= the default text is used instead */
            finish(c, SPF_RES_TEMPERROR, "too many DNS queries");
        return NULL;
    }
    copy_str(c->qname, sizeof c->qname, name);
    c->qtype = type;
    c->pending = 1;
    return NULL;
}

const char *spf_query_name(const spf_ctx *c) { return c->pending ? c->qname : NULL; }
int spf_query_type(const spf_ctx *c) { return c->pending ? c->qtype : 0; }

int spf_answer(spf_ctx *c, int rcode, const spf_rdata *rr, size_t n)
{
    if (!c->pending)
        return -1;
    c->pending = 0;
    centry *e = &c->cache[c->ncache++];
    memset(e, 0, sizeof *e);
    copy_str(e->name, sizeof e->name, c->qname);
    e->type = c->qtype;
    e->rcode = rcode;
    if (rcode != SPF_RCODE_NOERROR)
        return 0;
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        want += rr[i].type == c->qtype;
    if (want == 0)
        return 0;
    e->rr = calloc(want < SPF_CACHE_RR_MAX ? want : SPF_CACHE_RR_MAX, sizeof *e->rr);
    if (!e->rr) {
        e->rcode = SPF_RCODE_SERVFAIL;
        return 0;
    }
    for (size_t i = 0; i < n && e->n < SPF_CACHE_RR_MAX; i++) {
        if (rr[i].type != c->qtype)
            continue;
        crr *d = &e->rr[e->n];
        memcpy(d->addr, rr[i].addr, 16);
        if (rr[i].data) {
            if (!(d->data = malloc(rr[i].len + 1))) {
                e->rcode = SPF_RCODE_SERVFAIL;
                return 0;
            }
            memcpy(d->data, rr[i].data, rr[i].len);
            d->data[rr[i].len] = '\0';
            d->len = rr[i].len;
        }
        e->n++;
    }
    return 0;
}

static int rc_error(const centry *e)
{
    return e->rcode != SPF_RCODE_NOERROR && e->rcode != SPF_RCODE_NXDOMAIN;
}

/* Copies a target name from an answer into buf as a query name; 0 if unusable. */
static int answer_name(const crr *r, char *buf)
{
    if (!r->data || r->len == 0 || r->len > SPF_NAME_MAX + 1 || memchr(r->data, 0, r->len))
        return 0;
    memcpy(buf, r->data, r->len + 1);
    return spf_domain_finish(buf) == 0;
}

/* Validated names of the client (§5.5), shared by "ptr" and %{p}.
 * Returns 1 when known, 0 while waiting. */
static int pv_step(spf_ctx *c)
{
    if (c->pv_done)
        return 1;
    centry *pe = ask(c, c->rev, SPF_T_PTR);
    if (!pe)
        return 0;
    int n = pe->rcode == SPF_RCODE_NOERROR ? pe->n : 0;
    c->pv_void = !rc_error(pe) && n == 0;
    if (n > SPF_MAX_PTR)
        n = SPF_MAX_PTR;
    char name[SPF_NAME_MAX + 2];
    for (int k = 0; k < n; k++) {
        if (!answer_name(&pe->rr[k], name))
            continue;
        centry *ae = ask(c, name, c->v6 ? SPF_T_AAAA : SPF_T_A);
        if (!ae)
            return 0;
    }
    for (int k = 0; k < n; k++) { /* all answers present: decide */
        if (!answer_name(&pe->rr[k], name))
            continue;
        centry *ae = ask(c, name, c->v6 ? SPF_T_AAAA : SPF_T_A);
        for (int j = 0; ae && j < ae->n && !rc_error(ae); j++)
            if (memcmp(ae->rr[j].addr, c->ip, c->v6 ? 16 : 4) == 0) {
                copy_str(c->pv[c->npv++], sizeof c->pv[0], name);
                break;
            }
    }
    c->pv_done = 1;
    return 1;
}

static int is_sub_or_same(const char *name, const char *dom)
{
    size_t n = strlen(name), d = strlen(dom);
    if (n == d)
        return strcasecmp(name, dom) == 0;
    return n > d && name[n - d - 1] == '.' && strcasecmp(name + n - d, dom) == 0;
}

/* §7.3: prefer the domain itself, then a subdomain, then any validated name. */
static const char *choose_p(const spf_ctx *c, const char *dom)
{
    for (int k = 0; k < c->npv; k++)
        if (strcasecmp(c->pv[k], dom) == 0)
            return c->pv[k];
    for (int k = 0; k < c->npv; k++)
        if (is_sub_or_same(c->pv[k], dom))
            return c->pv[k];
    return c->npv ? c->pv[0] : "unknown";
}

/* Expands s for frame f into out. Returns 1 done, 0 waiting (for %{p}),
 * -1 on syntax error or overflow. */
static int expand(spf_ctx *c, const frame *f, const char *s, size_t n, int exp_mode, char *out)
{
    spf_macro_env env = {
        .s = c->sender, .l = c->local, .o = c->odomain, .d = f->domain, .h = c->helo,
        .i = c->ip_i, .c = c->ip_c, .v = c->v6 ? "ip6" : "in-addr", .r = c->receiver,
        .t = c->t,
    };
    env.p = c->pv_done ? choose_p(c, f->domain) : NULL;
    int rc = spf_macro_expand(&env, s, n, exp_mode, out, SPF_EXPAND_MAX);
    if (rc == SPF_MACRO_NEED_P) {
        if (!pv_step(c))
            return 0;
        env.p = choose_p(c, f->domain);
        rc = spf_macro_expand(&env, s, n, exp_mode, out, SPF_EXPAND_MAX);
    }
    return rc == SPF_MACRO_OK ? 1 : -1;
}

/* Target name of a/mx/ptr/exists/include/redirect: 1 ok, 0 wait, -1 invalid. */
static int target(spf_ctx *c, const frame *f, const spf_term *t, char *out)
{
    if (t->alen == 0) {
        copy_str(out, SPF_EXPAND_MAX, f->domain);
        return 1;
    }
    int rc = expand(c, f, f->text + t->aoff, t->alen, 0, out);
    if (rc <= 0)
        return rc;
    return spf_domain_finish(out) == 0 ? 1 : -1;
}

static int addr_match(const spf_ctx *c, const centry *e, const spf_term *t)
{
    for (int j = 0; j < e->n; j++)
        if (spf_ip_match(e->rr[j].addr, c->ip, c->v6 ? 16 : 4, c->v6 ? t->cidr6 : t->cidr4))
            return 1;
    return 0;
}

/* Counts a void lookup; returns T_FINISHED past the limit, else result. */
static int void_lookup(spf_ctx *c, int result)
{
    if (++c->voids > SPF_MAX_VOID) {
        finish(c, SPF_RES_PERMERROR, "too many void DNS lookups");
        return T_FINISHED;
    }
    return result;
}

static int eval_mx(spf_ctx *c, const spf_term *t, const char *name)
{
    centry *me = ask(c, name, SPF_T_MX);
    if (!me)
        return T_WAIT;
    if (rc_error(me)) {
        finish(c, SPF_RES_TEMPERROR, "DNS error on MX lookup");
        return T_FINISHED;
    }
    if (me->rcode == SPF_RCODE_NXDOMAIN || me->n == 0)
        return void_lookup(c, T_NOMATCH);
    if (me->n > SPF_MAX_MX) {
        finish(c, SPF_RES_PERMERROR, "more than 10 MX names");
        return T_FINISHED;
    }
    char host[SPF_NAME_MAX + 2];
    int match = 0;
    for (int k = 0; k < me->n && !match; k++) {
        if (!answer_name(&me->rr[k], host)) /* null MX "." and junk */
            continue;
        centry *ae = ask(c, host, c->v6 ? SPF_T_AAAA : SPF_T_A);
        if (!ae)
            return T_WAIT;
        if (rc_error(ae)) {
            finish(c, SPF_RES_TEMPERROR, "DNS error on MX host lookup");
            return T_FINISHED;
        }
        match = addr_match(c, ae, t);
    }
    return match ? T_MATCH : T_NOMATCH;
}

static int push_frame(spf_ctx *c, const char *domain)
{
    if (c->depth >= SPF_MAX_DEPTH) {
        finish(c, SPF_RES_PERMERROR, "include nesting too deep");
        return T_FINISHED;
    }
    frame *nf = &c->frames[c->depth++];
    frame_clear(nf);
    copy_str(nf->domain, sizeof nf->domain, domain);
    nf->via = VIA_INCLUDE;
    return T_CONTINUE;
}

static int eval_term(spf_ctx *c, frame *f, const spf_term *t)
{
    switch (t->kind) {
    case SPF_K_ALL:
        return T_MATCH;
    case SPF_K_IP4:
        return !c->v6 && spf_ip_match(c->ip, t->ip, 4, t->cidr4) ? T_MATCH : T_NOMATCH;
    case SPF_K_IP6:
        return c->v6 && spf_ip_match(c->ip, t->ip, 16, t->cidr6) ? T_MATCH : T_NOMATCH;
    default:
        break;
    }
    if (!f->started) {
        f->started = 1;
        if (++c->lookups > SPF_MAX_LOOKUPS) {
            finish(c, SPF_RES_PERMERROR, "too many DNS lookups");
            return T_FINISHED;
        }
    }
    char name[SPF_EXPAND_MAX];
    int rc = target(c, f, t, name);
    if (rc == 0)
        return T_WAIT;
    if (rc < 0) { /* a name DNS cannot carry matches nothing (§4.8) */
        if (t->kind != SPF_K_INCLUDE)
            return T_NOMATCH;
        finish(c, SPF_RES_PERMERROR, "include of an invalid domain");
        return T_FINISHED;
    }
    centry *e;
    switch (t->kind) {
    case SPF_K_INCLUDE:
        return push_frame(c, name);
    case SPF_K_MX:
        return eval_mx(c, t, name);
    case SPF_K_PTR:
        if (!pv_step(c))
            return T_WAIT;
        for (int k = 0; k < c->npv; k++)
            if (is_sub_or_same(c->pv[k], name))
                return T_MATCH;
        return c->pv_void ? void_lookup(c, T_NOMATCH) : T_NOMATCH;
    case SPF_K_A:
    case SPF_K_EXISTS:
        e = ask(c, name, (t->kind == SPF_K_A && c->v6) ? SPF_T_AAAA : SPF_T_A);
        if (!e)
            return T_WAIT;
        if (rc_error(e)) {
            finish(c, SPF_RES_TEMPERROR, "DNS error on address lookup");
            return T_FINISHED;
        }
        if (e->rcode == SPF_RCODE_NXDOMAIN || e->n == 0)
            return void_lookup(c, T_NOMATCH);
        return (t->kind == SPF_K_EXISTS || addr_match(c, e, t)) ? T_MATCH : T_NOMATCH;
    }
    return T_NOMATCH;
}

static spf_result qual_result(char q)
{
    switch (q) {
    case '-': return SPF_RES_FAIL;
    case '~': return SPF_RES_SOFTFAIL;
    case '?': return SPF_RES_NEUTRAL;
    }
    return SPF_RES_PASS;
}

/* A frame's check_host() ended with r (matched by term t, or NULL). */
static void frame_return(spf_ctx *c, spf_result r, const spf_term *t)
{
    for (;;) {
        frame *f = &c->frames[c->depth - 1];
        if (c->depth == 1) {
            if (t)
                snprintf(c->mech, sizeof c->mech, "%.*s", (int)t->tlen, f->text + t->toff);
            else
                copy_str(c->mech, sizeof c->mech, "default");
            finish(c, r, NULL);
            return;
        }
        frame_clear(f);
        c->depth--;
        frame *p = &c->frames[c->depth - 1];
        const spf_term *it = &p->rec->terms[p->pos];
        if (r != SPF_RES_PASS) { /* §5.2: fail, softfail, neutral: no match */
            p->pos++;
            p->started = 0;
            return;
        }
        r = qual_result(it->qual);
        t = it;
    }
}

/* Fetches and parses the frame's record. Returns T_CONTINUE or T_WAIT. */
static int fetch_record(spf_ctx *c, frame *f)
{
    centry *e = ask(c, f->domain, SPF_T_TXT);
    if (!e)
        return c->pending ? T_WAIT : T_CONTINUE;
    if (rc_error(e)) {
        finish(c, SPF_RES_TEMPERROR, "DNS error on TXT lookup");
        return T_CONTINUE;
    }
    int found = -1, count = 0;
    for (int k = 0; k < e->n; k++)
        if (spf_is_record(e->rr[k].data ? e->rr[k].data : "", e->rr[k].len))
            found = k, count++;
    if (count > 1) {
        finish(c, SPF_RES_PERMERROR, "more than one SPF record");
        return T_CONTINUE;
    }
    if (count == 0) {
        /* §5.2/§6.1: a target of include/redirect without a record is an error */
        if (f->via == VIA_TOP)
            finish(c, SPF_RES_NONE, NULL);
        else
            finish(c, SPF_RES_PERMERROR, "no SPF record at include/redirect target");
        return T_CONTINUE;
    }
    const crr *r = &e->rr[found];
    f->text = malloc(r->len + 1);
    f->rec = malloc(sizeof *f->rec);
    if (!f->text || !f->rec) {
        finish(c, SPF_RES_TEMPERROR, "out of memory");
        return T_CONTINUE;
    }
    memcpy(f->text, r->data, r->len + 1);
    const char *err = NULL;
    if (spf_record_parse(f->text, r->len, f->rec, &err) != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "syntax error: %s", err ? err : "bad record");
        finish(c, SPF_RES_PERMERROR, msg);
    }
    f->pos = 0;
    f->started = 0;
    return T_CONTINUE;
}

static int eval_step(spf_ctx *c)
{
    frame *f = &c->frames[c->depth - 1];
    if (!f->rec)
        return fetch_record(c, f);
    const spf_record *rec = f->rec;
    while (f->pos < rec->nterms && rec->terms[f->pos].kind >= SPF_K_REDIRECT)
        f->pos++; /* modifiers act after the mechanisms */
    if (f->pos < rec->nterms) {
        const spf_term *t = &rec->terms[f->pos];
        switch (eval_term(c, f, t)) {
        case T_WAIT:
            return c->pending ? T_WAIT : T_CONTINUE;
        case T_MATCH:
            frame_return(c, qual_result(t->qual), t);
            break;
        case T_NOMATCH:
            f->pos++;
            f->started = 0;
            break;
        }
        return T_CONTINUE;
    }
    if (rec->redirect < 0) {
        frame_return(c, SPF_RES_NEUTRAL, NULL);
        return T_CONTINUE;
    }
    /* §6.1: redirect counts as a lookup and replaces this record */
    if (!f->started) {
        f->started = 1;
        if (++c->lookups > SPF_MAX_LOOKUPS) {
            finish(c, SPF_RES_PERMERROR, "too many DNS lookups");
            return T_CONTINUE;
        }
    }
    char name[SPF_EXPAND_MAX];
    int rc = target(c, f, &rec->terms[rec->redirect], name);
    if (rc == 0)
        return c->pending ? T_WAIT : T_CONTINUE;
    if (rc < 0) {
        finish(c, SPF_RES_PERMERROR, "redirect to an invalid domain");
        return T_CONTINUE;
    }
    int via = f->via == VIA_INCLUDE ? VIA_INCLUDE : VIA_REDIRECT;
    frame_clear(f);
    copy_str(f->domain, sizeof f->domain, name);
    f->via = via == VIA_INCLUDE ? VIA_INCLUDE : VIA_REDIRECT;
    return T_CONTINUE;
}

static int exp_is_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* §6.2: the explanation of a fail; any problem falls back to the default.
 * Returns T_WAIT or T_CONTINUE (done). */
static int exp_step(spf_ctx *c)
{
    const frame *f = &c->frames[0];
    const char *dflt = c->default_exp ? c->default_exp : SPF_DEFAULT_EXP;
    copy_str(c->exp, sizeof c->exp, dflt);
    if (c->depth != 1 || !f->rec || f->rec->exp < 0)
        return T_CONTINUE;
    char name[SPF_EXPAND_MAX];
    int rc = target(c, f, &f->rec->terms[f->rec->exp], name);
    if (rc <= 0)
        return rc == 0 && c->pending ? T_WAIT : T_CONTINUE;
    centry *e = ask(c, name, SPF_T_TXT);
    if (!e)
        return c->pending ? T_WAIT : T_CONTINUE;
    if (e->rcode != SPF_RCODE_NOERROR || e->n != 1 || !e->rr[0].data ||
        !exp_is_text(e->rr[0].data, e->rr[0].len))
        return T_CONTINUE;
    char out[SPF_EXPAND_MAX];
    rc = expand(c, f, e->rr[0].data, e->rr[0].len, 1, out);
    if (rc == 0)
        return c->pending ? T_WAIT : T_CONTINUE;
    if (rc > 0)
        copy_str(c->exp, sizeof c->exp, out);
    return T_CONTINUE;
}

spf_status spf_step(spf_ctx *c)
{
    for (;;) {
        if (c->pending)
            return SPF_NEED_DNS;
        switch (c->state) {
        case ST_EVAL:
            if (eval_step(c) == T_WAIT)
                return SPF_NEED_DNS;
            break;
        case ST_EXP:
            if (exp_step(c) == T_WAIT)
                return SPF_NEED_DNS;
            if (c->state == ST_EXP)
                c->state = ST_DONE;
            break;
        default:
            return SPF_DONE;
        }
    }
}

spf_result spf_get_result(const spf_ctx *c) { return c->result; }
const char *spf_get_mechanism(const spf_ctx *c) { return c->mech; }
const char *spf_get_explanation(const spf_ctx *c) { return c->result == SPF_RES_FAIL ? c->exp : ""; }
const char *spf_get_problem(const spf_ctx *c) { return c->problem; }
const char *spf_get_identity(const spf_ctx *c) { return c->helo_identity ? "helo" : "mailfrom"; }
const char *spf_get_sender(const spf_ctx *c) { return c->sender; }
int spf_get_lookups(const spf_ctx *c) { return c->lookups; }
const char *spf_get_ip(const spf_ctx *c) { return c->ip_c; }
const char *spf_get_helo(const spf_ctx *c) { return c->helo; }
const char *spf_get_receiver(const spf_ctx *c) { return c->receiver; }
const char *spf_get_domain(const spf_ctx *c) { return c->odomain; }

const char *spf_result_str(spf_result r)
{
    static const char *names[] = {"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "permerror";
}
