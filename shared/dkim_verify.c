/* dkim_verify: checks DKIM-Signature fields (RFC 6376 6) in two steps so the
 * caller owns DNS: dkim_verify_begin hashes everything that does not depend
 * on the key; dkim_verify_key finishes one signature with its key record.
 *
 * Result mapping (RFC 8601 2.7.1): unusable signatures (syntax, unsupported
 * a=/c=/q=, expired, t= in the future, From not signed) are neutral; key
 * problems (none, bad record, revoked, wrong type, RSA outside 1024..4096
 * bits) are permerror;
 * a body hash or signature mismatch is fail; a DNS failure is temperror. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/pk.h>

#include "dkim_int.h"

#define DKIM_VSIG_MAX 1024  /* decoded b= */
#define DKIM_VNAME_MAX 254  /* d=, s=, i= kept for results */
#define DKIM_RSA_MIN_BITS 1024
#define DKIM_RSA_MAX_BITS 4096
/* A signer's clock may run this far ahead of ours (OpenDKIM's default
 * drift): a t= beyond it is a signature "from the future", which RFC 6376
 * 3.5 lets verifiers ignore, and dkimpy refuses too (with 10 hours). */
#define DKIM_CLOCK_DRIFT 300

struct vsig {
    struct dkim_sig_info info;
    char d[DKIM_VNAME_MAX], s[DKIM_VNAME_MAX], i[DKIM_VNAME_MAX];
    char b[DKIM_VSIG_MAX * 4 / 3 + 8];
    char a[32];
    char query[2 * DKIM_VNAME_MAX + 16];
    unsigned char hash[32], sig[DKIM_VSIG_MAX];
    size_t siglen;
    enum dkim_canon bcanon;
    uint64_t limit;
    unsigned char bh[32];              /* declared in bh= */
    unsigned char body[32];            /* computed */
    uint64_t body_len;
    int body_done;
    char kerr[64];                     /* key record problem, for the reason */
};

struct dkim_verify {
    int n;
    struct vsig sig[DKIM_VERIFY_MAX_SIGS];
};

const char *dkim_result_str(enum dkim_result r)
{
    static const char *const s[] = {"none",      "pass",      "fail",   "neutral",
                                    "temperror", "permerror", "pending"};
    return (unsigned)r < sizeof s / sizeof *s ? s[r] : "?";
}

static enum dkim_result set(struct vsig *g, enum dkim_result r, const char *reason)
{
    g->info.result = r;
    g->info.reason = reason;
    return r;
}

/* Copies a tag value into out (bounded), lowercased when lower. */
static int copy_val(const struct dkim_tag *t, char *out, size_t outsz, int lower)
{
    if (!t || t->vlen == 0 || t->vlen >= outsz)
        return -1;
    for (size_t k = 0; k < t->vlen; k++) {
        unsigned char c = (unsigned char)t->val[k];
        if (c <= ' ' || c > '~')
            return -1;
        out[k] = lower ? (char)tolower(c) : (char)c;
    }
    out[t->vlen] = 0;
    return 0;
}

static int tag_is(const struct dkim_tag *t, const char *s)
{
    return t && t->vlen == strlen(s) && !strncasecmp(t->val, s, t->vlen);
}

static int parse_canon(const char *p, size_t n, enum dkim_canon *out)
{
    if (n == 6 && !strncasecmp(p, "simple", 6))
        *out = DKIM_CANON_SIMPLE;
    else if (n == 7 && !strncasecmp(p, "relaxed", 7))
        *out = DKIM_CANON_RELAXED;
    else
        return -1;
    return 0;
}

static int parse_u64(const struct dkim_tag *t, uint64_t *out)
{
    uint64_t v = 0;
    if (!t || t->vlen == 0 || t->vlen > 19)
        return -1;
    for (size_t k = 0; k < t->vlen; k++) {
        if (!isdigit((unsigned char)t->val[k]))
            return -1;
        v = v * 10 + (uint64_t)(t->val[k] - '0');
    }
    *out = v;
    return 0;
}

/* i= must be in d= or a subdomain of it (RFC 6376 3.5). */
static int identity_in_domain(const char *i, const char *d)
{
    const char *at = strrchr(i, '@');
    if (!at)
        return 0;
    at++;
    size_t il = strlen(at), dl = strlen(d);
    if (il == dl)
        return !strcasecmp(at, d);
    return il > dl && at[il - dl - 1] == '.' && !strcasecmp(at + il - dl, d);
}

/* Hash of the DKIM-Signature field itself with the b= value (and the FWS
 * around it) removed, after the selected header fields. */
static int hash_sig_field(crypto_hash_sha256_state *st, enum dkim_canon c,
                          const struct dkim_hdr *h, const struct dkim_tag *b)
{
    const char *start = b->val, *end = b->val + b->vlen, *fend = h->p + h->len;
    while (start > h->p && start[-1] != '=')
        start--;
    while (end < fend && *end != ';')
        end++;
    size_t n1 = (size_t)(start - h->p), n2 = (size_t)(fend - end);
    char *buf = malloc(n1 + n2 + 1);
    if (!buf)
        return -1;
    memcpy(buf, h->p, n1);
    memcpy(buf + n1, end, n2);
    int rc = dkim_hash_field(st, c, buf, n1 + n2, 0);
    free(buf);
    return rc;
}

static void check_sig(struct dkim_verify *v, struct vsig *g, const struct dkim_msg *m,
                      const struct dkim_hdr *h, const char *msg, size_t len, time_t now)
{
    struct dkim_tags tags;
    const char *colon = memchr(h->p, ':', h->len);
    const char *val = colon + 1;
    size_t vlen = h->len - (size_t)(val - h->p);
    g->info.d = g->d;
    g->info.s = g->s;
    g->info.i = g->i;
    g->info.b = g->b;
    g->info.a = g->a;
    if (dkim_tags_parse(val, vlen, &tags) != DKIM_TAGS_OK) {
        set(g, DKIM_NEUTRAL, "signature syntax error");
        return;
    }
    const struct dkim_tag *t;
    /* Names first so that even a rejected signature is reported with them. */
    copy_val(dkim_tags_get(&tags, "d"), g->d, sizeof g->d, 1);
    copy_val(dkim_tags_get(&tags, "s"), g->s, sizeof g->s, 1);
    copy_val(dkim_tags_get(&tags, "a"), g->a, sizeof g->a, 1);
    if ((t = dkim_tags_get(&tags, "b"))) {
        size_t o = 0;
        for (size_t k = 0; k < t->vlen && o + 1 < sizeof g->b; k++)
            if (!strchr(" \t\r\n", t->val[k]))
                g->b[o++] = t->val[k];
        g->b[o] = 0;
    }
    if (!tag_is(dkim_tags_get(&tags, "v"), "1")) {
        set(g, DKIM_NEUTRAL, "signature version is not 1");
        return;
    }
    t = dkim_tags_get(&tags, "a");
    if (tag_is(t, "rsa-sha256"))
        g->info.alg = DKIM_ALG_RSA_SHA256;
    else if (tag_is(t, "ed25519-sha256"))
        g->info.alg = DKIM_ALG_ED25519_SHA256;
    else {
        set(g, DKIM_NEUTRAL, tag_is(t, "rsa-sha1") ? "rsa-sha1 is not accepted (RFC 8301)"
                                                   : "unsupported signature algorithm");
        return;
    }
    const struct dkim_tag *tb = dkim_tags_get(&tags, "b"), *tbh = dkim_tags_get(&tags, "bh"),
                          *th = dkim_tags_get(&tags, "h");
    if (!tb || !tbh || !th || !g->d[0] || !g->s[0]) {
        set(g, DKIM_NEUTRAL, "signature lacks a required tag");
        return;
    }
    enum dkim_canon hc = DKIM_CANON_SIMPLE, bc = DKIM_CANON_SIMPLE;
    if ((t = dkim_tags_get(&tags, "c"))) {
        const char *sl = memchr(t->val, '/', t->vlen);
        size_t n1 = sl ? (size_t)(sl - t->val) : t->vlen;
        if (parse_canon(t->val, n1, &hc) ||
            (sl && parse_canon(sl + 1, t->vlen - n1 - 1, &bc))) {
            set(g, DKIM_NEUTRAL, "unsupported canonicalization");
            return;
        }
    }
    if ((t = dkim_tags_get(&tags, "q")) && !memmem(t->val, t->vlen, "dns/txt", 7)) {
        set(g, DKIM_NEUTRAL, "unsupported query method");
        return;
    }
    if ((t = dkim_tags_get(&tags, "i"))) {
        if (copy_val(t, g->i, sizeof g->i, 0) || !identity_in_domain(g->i, g->d)) {
            set(g, DKIM_NEUTRAL, "i= is not within d=");
            return;
        }
    }
    uint64_t ts = 0, xs = 0;
    if ((t = dkim_tags_get(&tags, "t")) && parse_u64(t, &ts)) {
        set(g, DKIM_NEUTRAL, "bad t= value");
        return;
    }
    if (now > 0 && ts > (uint64_t)now + DKIM_CLOCK_DRIFT) {
        set(g, DKIM_NEUTRAL, "signature timestamp in the future");
        return;
    }
    if ((t = dkim_tags_get(&tags, "x"))) {
        if (parse_u64(t, &xs) || (ts && xs < ts)) {
            set(g, DKIM_NEUTRAL, "bad x= value");
            return;
        }
        if (now > 0 && xs < (uint64_t)now) {
            set(g, DKIM_NEUTRAL, "signature expired");
            return;
        }
    }
    g->limit = UINT64_MAX;
    if ((t = dkim_tags_get(&tags, "l")) && parse_u64(t, &g->limit)) {
        set(g, DKIM_NEUTRAL, "bad l= value");
        return;
    }
    /* h= must name From (RFC 6376 5.4). */
    int has_from = 0;
    for (size_t k = 0; k + 4 <= th->vlen && !has_from; k++)
        has_from = !strncasecmp(th->val + k, "from", 4) &&
                   (k == 0 || strchr(": \t\r\n", th->val[k - 1])) &&
                   (k + 4 == th->vlen || strchr(": \t\r\n", th->val[k + 4]));
    if (!has_from) {
        set(g, DKIM_NEUTRAL, "From is not signed");
        return;
    }
    size_t bhlen = 0;
    if (sodium_base642bin(g->sig, sizeof g->sig, tb->val, tb->vlen, " \t\r\n", &g->siglen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        g->siglen == 0 ||
        sodium_base642bin(g->bh, sizeof g->bh, tbh->val, tbh->vlen, " \t\r\n", &bhlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bhlen != 32) {
        set(g, DKIM_NEUTRAL, "b= or bh= is not valid base64");
        return;
    }
    snprintf(g->query, sizeof g->query, "%s._domainkey.%s", g->s, g->d);

    /* Body: reuse the hash of an earlier signature with the same c= and l=. */
    struct vsig *o;
    for (o = v->sig; o < g; o++)
        if (o->body_done && o->bcanon == bc && o->limit == g->limit)
            break;
    g->bcanon = bc;
    if (o < g) {
        memcpy(g->body, o->body, 32);
        g->body_len = o->body_len;
    } else {
        struct dkim_body body;
        dkim_body_init(&body, bc, g->limit);
        dkim_body_update(&body, msg + m->body_off, len - m->body_off);
        dkim_body_final(&body, g->body);
        g->body_len = body.emitted;
    }
    g->body_done = 1;
    if (g->limit != UINT64_MAX && g->body_len < g->limit) {
        set(g, DKIM_FAIL, "l= is longer than the body");
        return;
    }
    if (sodium_memcmp(g->body, g->bh, 32) != 0) {
        set(g, DKIM_FAIL, "body hash did not verify");
        return;
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    if (dkim_hash_headers(&st, m, hc, th->val, th->vlen) != 0 ||
        hash_sig_field(&st, hc, h, tb) != 0) {
        set(g, DKIM_NEUTRAL, "h= too long or out of memory");
        return;
    }
    crypto_hash_sha256_final(&st, g->hash);
    set(g, DKIM_PENDING, "");
}

struct dkim_verify *dkim_verify_begin(const char *msg, size_t len, time_t now)
{
    struct dkim_verify *v = calloc(1, sizeof *v);
    struct dkim_msg m;
    if (!v)
        return NULL;
    if (dkim_msg_parse(msg, len, &m) != 0) {
        /* Cannot select header fields reliably: say so rather than "none". */
        v->n = 1;
        v->sig[0].info.d = v->sig[0].info.s = v->sig[0].info.i = v->sig[0].info.b = "";
        v->sig[0].info.a = "";
        set(&v->sig[0], DKIM_PERMERROR, "header block too large to verify");
        dkim_msg_free(&m);
        return v;
    }
    for (int k = 0; k < m.n && v->n < DKIM_VERIFY_MAX_SIGS; k++)
        if (dkim_hdr_is(&m.h[k], "DKIM-Signature", 14))
            check_sig(v, &v->sig[v->n++], &m, &m.h[k], msg, len, now);
    dkim_msg_free(&m);
    return v;
}

int dkim_verify_count(const struct dkim_verify *v)
{
    return v->n;
}

const char *dkim_verify_query(const struct dkim_verify *v, int idx)
{
    if (idx < 0 || idx >= v->n || v->sig[idx].info.result != DKIM_PENDING)
        return NULL;
    return v->sig[idx].query;
}

const struct dkim_sig_info *dkim_verify_info(const struct dkim_verify *v, int idx)
{
    return idx >= 0 && idx < v->n ? &v->sig[idx].info : NULL;
}

enum dkim_result dkim_verify_key(struct dkim_verify *v, int idx, const char *txt, size_t txtlen,
                                 enum dkim_dns st)
{
    if (idx < 0 || idx >= v->n)
        return DKIM_NONE;
    struct vsig *g = &v->sig[idx];
    if (g->info.result != DKIM_PENDING)
        return g->info.result;
    if (st == DKIM_DNS_TEMPFAIL)
        return set(g, DKIM_TEMPERROR, "key lookup failed temporarily");
    if (st != DKIM_DNS_OK || !txt)
        return set(g, DKIM_PERMERROR, "no key for signature");
    struct dkim_keyrec kr;
    if (dkim_keyrec_parse(txt, txtlen, &kr, g->kerr, sizeof g->kerr) != 0)
        return set(g, DKIM_PERMERROR, g->kerr);
    g->info.testing = kr.testing;
    if (kr.revoked)
        return set(g, DKIM_PERMERROR, "key revoked");
    if (kr.alg != g->info.alg)
        return set(g, DKIM_PERMERROR, "key type does not match a=");
    if (kr.strict && g->i[0]) {
        const char *at = strrchr(g->i, '@');
        if (!at || strcasecmp(at + 1, g->d))
            return set(g, DKIM_PERMERROR, "key (t=s) does not allow i= subdomains");
    }
    if (kr.alg == DKIM_ALG_ED25519_SHA256) {
        g->info.bits = 256;
        if (g->siglen != crypto_sign_BYTES ||
            crypto_sign_verify_detached(g->sig, g->hash, sizeof g->hash, kr.pub) != 0)
            return set(g, DKIM_FAIL, "signature did not verify");
        return set(g, DKIM_PASS, "");
    }
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    enum dkim_result r;
    if (mbedtls_pk_parse_public_key(&pk, kr.pub, kr.publen) != 0 ||
        !mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA)) {
        r = set(g, DKIM_PERMERROR, "bad RSA public key");
    } else if ((g->info.bits = (int)mbedtls_pk_get_bitlen(&pk)) < DKIM_RSA_MIN_BITS) {
        r = set(g, DKIM_PERMERROR, "RSA key shorter than 1024 bits");
    } else if (g->info.bits > DKIM_RSA_MAX_BITS) {
        r = set(g, DKIM_PERMERROR, "RSA key longer than 4096 bits");
    } else if (mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, g->hash, sizeof g->hash, g->sig,
                                 g->siglen) != 0) {
        r = set(g, DKIM_FAIL, "signature did not verify");
    } else {
        r = set(g, DKIM_PASS, "");
    }
    mbedtls_pk_free(&pk);
    return r;
}

/* Appends " name=value" to out: bare when value is an RFC 2045 token (or,
 * with at_ok, a local@domain form, which RFC 8601 allows bare), else quoted
 * with '"' and '\\' escaped, so a hostile d= cannot forge more properties. */
static void ar_prop(char *out, size_t outsz, int *full, const char *name, const char *val, int at_ok)
{
    if (*full)
        return;
    char tmp[2 * DKIM_VNAME_MAX + 40];
    size_t t = 0;
    int q = !*val;
    for (const char *p = val; *p && !q; p++)
        q = (strchr("()<>,;:\\\"/[]?= ", *p) || (*p == '@' && !at_ok)) != 0;
    t = (size_t)snprintf(tmp, sizeof tmp, " %s=%s", name, q ? "\"" : "");
    for (const char *p = val; *p && t + 4 < sizeof tmp; p++) {
        if (q && (*p == '"' || *p == '\\'))
            tmp[t++] = '\\';
        tmp[t++] = *p;
    }
    if (q)
        tmp[t++] = '"';
    tmp[t] = 0;
    size_t o = strlen(out);
    if (o + t < outsz) /* properties go in whole, in order, or not at all */
        memcpy(out + o, tmp, t + 1);
    else
        *full = 1;
}

int dkim_verify_ar(const struct dkim_verify *v, int idx, char *out, size_t outsz)
{
    const struct dkim_sig_info *in = v ? dkim_verify_info(v, idx) : NULL;
    if (!outsz)
        return 0;
    if (!in)
        return snprintf(out, outsz, "dkim=none");
    char bits[48] = "";
    if (in->bits)
        snprintf(bits, sizeof bits, " (%d-bit key%s)", in->bits, in->testing ? ", test mode" : "");
    int full = 0;
    snprintf(out, outsz, "dkim=%s%s", dkim_result_str(in->result), bits);
    if (in->result != DKIM_PASS && in->reason && in->reason[0])
        ar_prop(out, outsz, &full, "reason", in->reason, 0);
    if (in->d[0]) {
        char b[16];
        snprintf(b, sizeof b, "%.8s", in->b);
        ar_prop(out, outsz, &full, "header.d", in->d, 0);
        ar_prop(out, outsz, &full, "header.s", in->s, 0);
        if (in->i[0])
            ar_prop(out, outsz, &full, "header.i", in->i, 1);
        if (in->a[0])
            ar_prop(out, outsz, &full, "header.a", in->a, 0);
        ar_prop(out, outsz, &full, "header.b", b, 0);
    }
    return (int)strlen(out);
}

void dkim_verify_free(struct dkim_verify *v)
{
    free(v);
}
