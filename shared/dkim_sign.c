/* dkim_sign: builds DKIM-Signature fields (RFC 6376 5, RFC 8463) for a
 * complete message held in memory. Synchronous and I/O-free, so a hop
 * transform can call it directly on the message buffer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/pk.h>

#include "dkim_int.h"
#include "hdr.h"

#define DKIM_LINE_MAX 78    /* folded line length, RFC 5322 2.1.1 "SHOULD" */
#define DKIM_SIG_MAX 1024   /* bytes of a raw signature (RSA 4096 is 512) */
#define DKIM_NAME_MAX 253   /* d=, s=, i= */
#define DKIM_FROM_MAX 998   /* a From: value we are willing to dissect */
#define DKIM_FIELD_NAME_MAX 64 /* longer List-* names are not signed */

/* Signed when present; From is listed once more than it occurs. */
static const char *const sign_names[] = {
    "From",        "To",           "Cc",          "Subject",      "Date",
    "Message-ID",  "Reply-To",     "In-Reply-To", "References",   "MIME-Version",
    "Content-Type", "Content-Transfer-Encoding",
};

/* A growing string with the column of its current line, for folding. */
struct fold {
    char *s;
    size_t len, cap, col;
    int oom;
};

static void f_raw(struct fold *f, const char *p, size_t n)
{
    if (f->oom)
        return;
    if (f->len + n + 1 > f->cap) {
        size_t nc = (f->cap ? f->cap * 2 : 1024) + n;
        char *ns = realloc(f->s, nc);
        if (!ns) {
            f->oom = 1;
            return;
        }
        f->s = ns;
        f->cap = nc;
    }
    memcpy(f->s + f->len, p, n);
    f->len += n;
    f->s[f->len] = 0;
    f->col += n;
}

static void f_break(struct fold *f)
{
    f_raw(f, "\r\n\t", 3);
    f->col = 1;
}

/* An unbreakable token, preceded by a space or a fold. */
static void f_token(struct fold *f, const char *p, size_t n)
{
    if (f->col + 1 + n > DKIM_LINE_MAX)
        f_break(f);
    else
        f_raw(f, " ", 1);
    f_raw(f, p, n);
}

static void f_tag(struct fold *f, const char *name, const char *val)
{
    char tmp[DKIM_NAME_MAX + 16];
    int n = snprintf(tmp, sizeof tmp, "%s=%s;", name, val);
    f_token(f, tmp, (size_t)n);
}

static void f_tag_num(struct fold *f, const char *name, long long v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", v);
    f_tag(f, name, tmp);
}

/* A base64 value that may be folded anywhere (FWS is allowed inside it). */
static void f_b64(struct fold *f, const char *v)
{
    size_t n = strlen(v);
    while (n) {
        if (f->col >= DKIM_LINE_MAX)
            f_break(f);
        size_t k = DKIM_LINE_MAX - f->col;
        if (k > n)
            k = n;
        f_raw(f, v, k);
        v += k;
        n -= k;
    }
}

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > DKIM_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(".-_@+", s[i]))
            return 0;
    return 1;
}

/* RFC 5322 ftext: printable ASCII but ':'; h= cannot carry anything else. */
static int field_name_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126 || p[i] == ':')
            return 0;
    return 1;
}

static int count_named(const struct dkim_msg *m, const char *name, size_t n)
{
    int c = 0;
    for (int i = 0; i < m->n; i++)
        c += dkim_hdr_is(&m->h[i], name, n);
    return c;
}

/* The h= list: our names as they occur, then every List-* field name. */
static void build_hlist(const struct dkim_msg *m, struct fold *hl)
{
    for (size_t i = 0; i < sizeof sign_names / sizeof *sign_names; i++) {
        int c = count_named(m, sign_names[i], strlen(sign_names[i]));
        if (i == 0)
            c++; /* over-sign From: a second From added later breaks the signature */
        while (c-- > 0) {
            if (hl->len)
                f_raw(hl, ":", 1);
            f_raw(hl, sign_names[i], strlen(sign_names[i]));
        }
    }
    for (int i = 0; i < m->n; i++) {
        const struct dkim_hdr *h = &m->h[i];
        if (h->nlen <= 5 || h->nlen > DKIM_FIELD_NAME_MAX || strncasecmp(h->p, "List-", 5) ||
            !field_name_ok(h->p, h->nlen))
            continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = dkim_hdr_is(&m->h[j], h->p, h->nlen);
        if (seen)
            continue;
        for (int c = count_named(m, h->p, h->nlen); c > 0; c--) {
            f_raw(hl, ":", 1);
            f_raw(hl, h->p, h->nlen);
        }
    }
}

/* Appends one complete DKIM-Signature field to out. */
static int sign_one(const struct dkim_signer *sg, const struct dkim_msg *m, const char *hlist,
                    const char *bh, time_t now, struct fold *out, char *err, size_t errlen)
{
    struct fold f = {0};
    int alg = dkim_key_alg(sg->key);
    f_raw(&f, "DKIM-Signature: v=1;", 20);
    f_token(&f, alg == DKIM_ALG_RSA_SHA256 ? "a=rsa-sha256;" : "a=ed25519-sha256;",
            alg == DKIM_ALG_RSA_SHA256 ? 13 : 17);
    char c[32];
    int cn = snprintf(c, sizeof c, "c=%s/%s;", sg->hcanon == DKIM_CANON_SIMPLE ? "simple" : "relaxed",
                      sg->bcanon == DKIM_CANON_SIMPLE ? "simple" : "relaxed");
    f_token(&f, c, (size_t)cn);
    f_tag(&f, "d", sg->domain);
    f_tag(&f, "s", sg->selector);
    if (sg->identity)
        f_tag(&f, "i", sg->identity);
    f_tag_num(&f, "t", (long long)now);
    if (sg->expire > 0)
        f_tag_num(&f, "x", (long long)now + sg->expire);
    /* h=: names may be folded around the colons. */
    const char *p = hlist;
    int first = 1;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char tok[DKIM_NAME_MAX + 8];
        int tn = snprintf(tok, sizeof tok, "%s%.*s%s", first ? "h=" : "", (int)n, p, e ? ":" : ";");
        if (tn < 0 || (size_t)tn >= sizeof tok)
            tn = 0; /* cannot happen: names are checked when the list is built */
        if (first)
            f_token(&f, tok, (size_t)tn);
        else if (f.col + (size_t)tn > DKIM_LINE_MAX) {
            f_break(&f);
            f_raw(&f, tok, (size_t)tn);
        } else
            f_raw(&f, tok, (size_t)tn);
        first = 0;
        p = e ? e + 1 : p + n;
    }
    f_tag(&f, "bh", bh);
    f_token(&f, "b=", 2);
    if (f.oom)
        goto oom;

    crypto_hash_sha256_state st;
    unsigned char hash[32], sig[DKIM_SIG_MAX];
    size_t siglen = 0;
    crypto_hash_sha256_init(&st);
    if (dkim_hash_headers(&st, m, sg->hcanon, hlist, strlen(hlist)) != 0 ||
        dkim_hash_field(&st, sg->hcanon, f.s, f.len, 0) != 0)
        goto oom;
    crypto_hash_sha256_final(&st, hash);
    if (alg == DKIM_ALG_RSA_SHA256) {
        int rc = mbedtls_pk_sign(dkim_key_pk(sg->key), MBEDTLS_MD_SHA256, hash, sizeof hash, sig,
                                 &siglen, dkim_rng_cb, NULL);
        if (rc != 0) {
            dkim_errf(err, errlen, "RSA signing failed (mbedtls -0x%04x)", -rc);
            free(f.s);
            return -1;
        }
    } else {
        unsigned long long sl;
        crypto_sign_detached(sig, &sl, hash, sizeof hash, dkim_key_ed25519_sk(sg->key));
        siglen = (size_t)sl;
    }
    char b64[DKIM_SIG_MAX * 4 / 3 + 8];
    sodium_bin2base64(b64, sizeof b64, sig, siglen, sodium_base64_VARIANT_ORIGINAL);
    f_b64(&f, b64);
    f_raw(&f, "\r\n", 2);
    if (f.oom)
        goto oom;
    f_raw(out, f.s, f.len);
    free(f.s);
    return 0;
oom:
    dkim_errf(err, errlen, "out of memory");
    free(f.s);
    return -1;
}

char *dkim_sign_message(const struct dkim_signer *const *signers, int n, const char *msg,
                        size_t len, time_t now, char *err, size_t errlen)
{
    struct dkim_msg m;
    struct fold hl = {0}, out = {0};
    char bh[2][64] = {"", ""};
    if (n < 1) {
        dkim_errf(err, errlen, "no signer");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!signers[i]->key || !name_ok(signers[i]->domain) || !name_ok(signers[i]->selector) ||
            (signers[i]->identity && !name_ok(signers[i]->identity))) {
            dkim_errf(err, errlen, "signer %d: missing key or bad domain/selector", i);
            return NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        const char *id = signers[i]->identity, *at = id ? strrchr(id, '@') : NULL;
        size_t dl = strlen(signers[i]->domain), al = at ? strlen(at + 1) : 0;
        if (id && (!at || al < dl || strcasecmp(at + 1 + al - dl, signers[i]->domain) ||
                   (al > dl && at[al - dl] != '.'))) {
            dkim_errf(err, errlen, "signer %d: i= is not within d=", i);
            return NULL;
        }
    }
    if (dkim_msg_parse(msg, len, &m) != 0) {
        dkim_errf(err, errlen, "too many header fields");
        dkim_msg_free(&m);
        return NULL;
    }
    if (count_named(&m, "From", 4) == 0) {
        dkim_errf(err, errlen, "no From header field");
        dkim_msg_free(&m);
        return NULL;
    }
    build_hlist(&m, &hl);
    for (int i = 0; i < n && !hl.oom; i++) {
        int c = signers[i]->bcanon == DKIM_CANON_SIMPLE;
        if (!bh[c][0]) { /* one body pass per canonicalization, shared by signers */
            unsigned char h[32];
            dkim_body_hash(msg + m.body_off, len - m.body_off, (enum dkim_canon)c, UINT64_MAX, h);
            sodium_bin2base64(bh[c], sizeof bh[c], h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
        }
        if (sign_one(signers[i], &m, hl.s, bh[c], now, &out, err, errlen) != 0) {
            free(out.s);
            out.s = NULL;
            break;
        }
    }
    if (hl.oom || out.oom) {
        dkim_errf(err, errlen, "out of memory");
        free(out.s);
        out.s = NULL;
    }
    free(hl.s);
    dkim_msg_free(&m);
    return out.s;
}

/* ---- From domain, for "sign only our own mail" ---- */

int dkim_from_domain(const char *msg, size_t len, char *out, size_t outsz)
{
    struct dkim_msg m;
    const struct dkim_hdr *from = NULL;
    int rc = -1;
    if (dkim_msg_parse(msg, len, &m) != 0)
        goto done;
    for (int i = 0; i < m.n; i++) {
        if (dkim_hdr_is(&m.h[i], "From", 4)) {
            if (from)
                goto done; /* two From fields: whose domain would it be? */
            from = &m.h[i];
        }
    }
    if (!from || from->len - from->nlen > DKIM_FROM_MAX)
        goto done;
    /* Drop comments and quoted strings, keep the address characters. */
    char v[DKIM_FROM_MAX + 1];
    size_t vn = 0;
    struct hdr_lex lex = {0};
    int commas = 0;
    const char *p = memchr(from->p, ':', from->len) + 1, *end = from->p + from->len;
    for (; p < end; p++) {
        if (hdr_lex_visible(&lex, &p, end)) {
            commas += *p == ',';
            v[vn++] = *p;
        }
    }
    v[vn] = 0;
    if (commas)
        goto done; /* several authors: no single domain to sign for */
    char *a = strrchr(v, '<'), *z;
    if (a) {
        z = strchr(a, '>');
        if (!z)
            goto done;
        *z = 0;
        a++;
    } else
        a = v;
    char *at = strrchr(a, '@');
    if (!at)
        goto done;
    at++;
    while (*at == ' ' || *at == '\t' || *at == '\r' || *at == '\n')
        at++;
    size_t dn = 0;
    while (at[dn] && (isalnum((unsigned char)at[dn]) || at[dn] == '.' || at[dn] == '-' ||
                      at[dn] == '_'))
        dn++;
    for (z = at + dn; *z; z++)
        if (!strchr(" \t\r\n", *z))
            goto done;
    if (dn == 0 || dn >= outsz)
        goto done;
    for (size_t i = 0; i < dn; i++)
        out[i] = (char)tolower((unsigned char)at[i]);
    out[dn] = 0;
    rc = 0;
done:
    dkim_msg_free(&m);
    return rc;
}
