/* dns_tsig: key parsing, rights and TSIG checks. See dns_tsig.h.
 * The HMAC itself is ldns's; what it does not check (the key name and
 * algorithm match, the time window) is checked here. */
#include "dns_tsig.h"

#include "b64.h"

#include <mbedtls/md.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DNS_TSIG_SECRET_MAX 200 /* decoded bytes */

static const struct {
    int num;
    const char *token, *alg;
    mbedtls_md_type_t md;
} tsig_algs[] = {
    {157, "MD5", "hmac-md5.sig-alg.reg.int.", MBEDTLS_MD_MD5},
    {161, "SHA1", "hmac-sha1.", MBEDTLS_MD_SHA1},
    {162, "SHA224", "hmac-sha224.", MBEDTLS_MD_SHA224},
    {163, "SHA256", "hmac-sha256.", MBEDTLS_MD_SHA256},
    {164, "SHA384", "hmac-sha384.", MBEDTLS_MD_SHA384},
    {165, "SHA512", "hmac-sha512.", MBEDTLS_MD_SHA512},
};
#define TSIG_NALGS (sizeof tsig_algs / sizeof tsig_algs[0])

static const char *tsig_alg_by_token(const char *tok)
{
    char *end;
    long num = strtol(tok, &end, 10);
    for (size_t i = 0; i < TSIG_NALGS; i++) {
        if (*end == '\0' && end != tok && num == tsig_algs[i].num)
            return tsig_algs[i].alg;
        if (strcasecmp(tok, tsig_algs[i].token) == 0)
            return tsig_algs[i].alg;
        /* "hmac-sha256" with or without the final dot */
        size_t n = strlen(tsig_algs[i].alg) - 1;
        if (strncasecmp(tok, tsig_algs[i].alg, n) == 0 && (tok[n] == '\0' || strcmp(tok + n, ".") == 0))
            return tsig_algs[i].alg;
    }
    return NULL;
}

static int tsig_secret_ok(const char *b64)
{
    size_t n = strlen(b64);
    if (n == 0 || n >= sizeof ((struct dns_tsig_key *)0)->secret)
        return 0;
    uint8_t buf[DNS_TSIG_SECRET_MAX * 2];
    return n / 4 * 3 < sizeof buf && b64_decode(b64, n, buf, 0) > 0;
}

/* Rights and zone from the owner name: NAME._update.ZONE and friends. */
static int tsig_key_rights(struct dns_tsig_key *key, char *err, size_t errsz)
{
    ldns_rdf *name = ldns_dname_new_frm_str(key->name);
    if (!name || ldns_dname_label_count(name) < 3) {
        snprintf(err, errsz, "key name %s is not NAME._right.ZONE", key->name);
        ldns_rdf_deep_free(name);
        return -1;
    }
    ldns_rdf *l1 = ldns_dname_label(name, 1);
    char *right = l1 ? ldns_rdf2str(l1) : NULL;
    if (right && strcasecmp(right, "_update.") == 0)
        key->rights = DNS_TSIG_RIGHT_UPDATE | DNS_TSIG_RIGHT_TRANSFER | DNS_TSIG_RIGHT_NOTIFY;
    else if (right && strcasecmp(right, "_transfer.") == 0)
        key->rights = DNS_TSIG_RIGHT_TRANSFER;
    else if (right && strcasecmp(right, "_notify.") == 0)
        key->rights = DNS_TSIG_RIGHT_NOTIFY;
    else
        key->rights = 0; /* a key without rights still signs, grants nothing */
    free(right);
    ldns_rdf_deep_free(l1);
    ldns_rdf *z1 = ldns_dname_left_chop(name);
    key->zone = z1 ? ldns_dname_left_chop(z1) : NULL;
    ldns_rdf_deep_free(z1);
    ldns_rdf_deep_free(name);
    if (key->zone)
        ldns_dname2canonical(key->zone);
    return key->zone ? 0 : -1;
}

static int tsig_set_name(struct dns_tsig_key *key, const char *name, size_t n)
{
    if (n == 0 || n + 2 > sizeof key->name)
        return -1;
    for (size_t i = 0; i < n; i++)
        key->name[i] = (char)tolower((unsigned char)name[i]);
    key->name[n] = '\0';
    if (key->name[n - 1] != '.')
        strcat(key->name, ".");
    return 0;
}

int dns_tsig_key_parse(const char *spec, struct dns_tsig_key *key, char *err, size_t errsz)
{
    memset(key, 0, sizeof *key);
    const char *c1 = spec ? strchr(spec, ':') : NULL;
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) {
        snprintf(err, errsz, "key must be NAME:ALG:SECRET");
        return -1;
    }
    char alg[64];
    size_t al = (size_t)(c2 - c1 - 1);
    if (tsig_set_name(key, spec, (size_t)(c1 - spec)) < 0 || al >= sizeof alg) {
        snprintf(err, errsz, "bad key name or algorithm");
        return -1;
    }
    memcpy(alg, c1 + 1, al);
    alg[al] = '\0';
    const char *a = tsig_alg_by_token(alg);
    if (!a) {
        snprintf(err, errsz, "unknown TSIG algorithm %s", alg);
        return -1;
    }
    snprintf(key->alg, sizeof key->alg, "%s", a);
    if (!tsig_secret_ok(c2 + 1)) {
        snprintf(err, errsz, "key secret is not base64");
        return -1;
    }
    snprintf(key->secret, sizeof key->secret, "%s", c2 + 1);
    return tsig_key_rights(key, err, errsz);
}

void dns_tsig_key_clear(struct dns_tsig_key *key)
{
    ldns_rdf_deep_free(key->zone);
    memset(key, 0, sizeof *key);
}

void dns_tsig_keys_free(struct dns_tsig_keys *keys)
{
    for (size_t i = 0; i < keys->n; i++)
        dns_tsig_key_clear(&keys->v[i]);
    free(keys->v);
    keys->v = NULL;
    keys->n = 0;
}

/* One line: NAME [TTL] [CLASS] DNSKEY FLAGS PROTO ALG SECRET */
static int tsig_parse_line(char *line, struct dns_tsig_key *key, char *err, size_t errsz)
{
    char *tok[12];
    int nt = 0;
    for (char *s = strtok(line, " \t\r"); s && nt < 12; s = strtok(NULL, " \t\r"))
        tok[nt++] = s;
    int k = 1;
    while (k < nt && strcasecmp(tok[k], "DNSKEY") != 0)
        k++;
    if (k + 4 >= nt + 0 || k > 3) {
        snprintf(err, errsz, "not NAME DNSKEY FLAGS PROTO ALG SECRET");
        return -1;
    }
    memset(key, 0, sizeof *key);
    if (tsig_set_name(key, tok[0], strlen(tok[0])) < 0) {
        snprintf(err, errsz, "bad key name");
        return -1;
    }
    const char *a = tsig_alg_by_token(tok[k + 3]);
    if (!a) {
        snprintf(err, errsz, "unknown algorithm %s", tok[k + 3]);
        return -1;
    }
    snprintf(key->alg, sizeof key->alg, "%s", a);
    /* The secret may have been split on spaces, as DNSKEY data often is. */
    char secret[sizeof key->secret] = "";
    for (int i = k + 4; i < nt; i++)
        if (strlen(secret) + strlen(tok[i]) < sizeof secret)
            strcat(secret, tok[i]);
    if (!tsig_secret_ok(secret)) {
        snprintf(err, errsz, "secret is not base64");
        return -1;
    }
    snprintf(key->secret, sizeof key->secret, "%s", secret);
    return tsig_key_rights(key, err, errsz);
}

int dns_tsig_keys_parse(const char *text, size_t len, struct dns_tsig_keys *keys, char *err,
                        size_t errsz)
{
    size_t lineno = 0;
    for (size_t p = 0; p < len;) {
        size_t e = p;
        while (e < len && text[e] != '\n')
            e++;
        lineno++;
        char line[1024];
        size_t n = e - p < sizeof line - 1 ? e - p : sizeof line - 1;
        memcpy(line, text + p, n);
        line[n] = '\0';
        p = e + 1;
        char *semi = strchr(line, ';');
        if (semi)
            *semi = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s)
            continue;
        if (keys->n >= DNS_TSIG_KEYS_MAX) {
            snprintf(err, errsz, "too many keys");
            return -1;
        }
        struct dns_tsig_key key;
        char why[200];
        if (tsig_parse_line(s, &key, why, sizeof why) < 0) {
            snprintf(err, errsz, "line %zu: %s", lineno, why);
            return -1;
        }
        struct dns_tsig_key *nv = realloc(keys->v, (keys->n + 1) * sizeof *nv);
        if (!nv) {
            dns_tsig_key_clear(&key);
            snprintf(err, errsz, "out of memory");
            return -1;
        }
        keys->v = nv;
        keys->v[keys->n++] = key;
    }
    return 0;
}

const struct dns_tsig_key *dns_tsig_keys_find(const struct dns_tsig_keys *keys, const ldns_rdf *name)
{
    char *s = ldns_rdf2str(name);
    if (!s)
        return NULL;
    const struct dns_tsig_key *found = NULL;
    for (size_t i = 0; i < keys->n && !found; i++)
        if (strcasecmp(keys->v[i].name, s) == 0)
            found = &keys->v[i];
    free(s);
    return found;
}

int dns_tsig_allows(const struct dns_tsig_key *key, unsigned right, const ldns_rdf *zone)
{
    if (!key || !(key->rights & right) || !key->zone)
        return 0;
    return ldns_dname_compare(zone, key->zone) == 0 || ldns_dname_is_subdomain(zone, key->zone);
}

const ldns_rdf *dns_tsig_mac(const ldns_pkt *pkt)
{
    const ldns_rr *t = ldns_pkt_tsig(pkt);
    return t && ldns_rr_rd_count(t) > 3 ? ldns_rr_rdf(t, 3) : NULL;
}

static uint64_t tsig_time(const ldns_rdf *r)
{
    if (!r || ldns_rdf_size(r) != 6)
        return 0;
    const uint8_t *d = ldns_rdf_data(r);
    uint64_t t = 0;
    for (int i = 0; i < 6; i++)
        t = (t << 8) | d[i];
    return t;
}

/* Offset of the last record of a message (the TSIG), or -1. Bounded walk. */
static long tsig_offset(const uint8_t *w, size_t len)
{
    if (len < 12)
        return -1;
    size_t p = 12, last = 0;
    unsigned qd = (unsigned)(w[4] << 8 | w[5]);
    unsigned rrs = (unsigned)(w[6] << 8 | w[7]) + (unsigned)(w[8] << 8 | w[9]) + (unsigned)(w[10] << 8 | w[11]);
    for (unsigned i = 0; i < qd + rrs; i++) {
        last = p;
        for (;;) { /* skip one name */
            if (p >= len)
                return -1;
            uint8_t c = w[p];
            if (c == 0) { p++; break; }
            if ((c & 0xc0) == 0xc0) { p += 2; break; }
            if (c & 0xc0)
                return -1;
            p += (size_t)c + 1;
        }
        if (i < qd) {
            p += 4;
        } else {
            if (p + 10 > len)
                return -1;
            p += 10 + (size_t)(w[p + 8] << 8 | w[p + 9]);
        }
        if (p > len)
            return -1;
    }
    return rrs ? (long)last : -1;
}

int dns_tsig_wire_ok(const uint8_t *w, size_t len)
{
    if (len < 12)
        return 1;
    size_t p = 12;
    unsigned qd = (unsigned)(w[4] << 8 | w[5]);
    unsigned an = (unsigned)(w[6] << 8 | w[7]), ns = (unsigned)(w[8] << 8 | w[9]);
    unsigned ar = (unsigned)(w[10] << 8 | w[11]);
    unsigned tsigs = 0, last_is_tsig = 0;
    /* Every record must lie inside the message and the message must end
     * with the last one: ldns leaks records on some inconsistent messages,
     * so those never reach it. */
    for (unsigned i = 0; i < qd + an + ns + ar; i++) {
        for (;;) {
            if (p >= len)
                return 0;
            uint8_t c = w[p];
            if (c == 0) { p++; break; }
            if ((c & 0xc0) == 0xc0) { p += 2; break; }
            if (c & 0xc0)
                return 0;
            p += (size_t)c + 1;
        }
        if (i < qd) {
            p += 4;
            if (p > len)
                return 0;
            continue;
        }
        if (p + 10 > len)
            return 0;
        unsigned type = (unsigned)(w[p] << 8 | w[p + 1]);
        size_t rdlen = (size_t)(w[p + 8] << 8 | w[p + 9]);
        unsigned cls = (unsigned)(w[p + 2] << 8 | w[p + 3]);
        if (cls == LDNS_RR_CLASS_IN && ((type == LDNS_RR_TYPE_A && rdlen != 4) ||
                                        (type == LDNS_RR_TYPE_AAAA && rdlen != 16)))
            return 0; /* (UPDATE deletes carry class ANY/NONE and no rdata) */
        last_is_tsig = type == LDNS_RR_TYPE_TSIG;
        tsigs += last_is_tsig;
        p += 10 + rdlen;
        if (p > len)
            return 0;
    }
    return p == len && (tsigs == 0 || (tsigs == 1 && last_is_tsig));
}

static mbedtls_md_type_t tsig_md(const char *alg)
{
    for (size_t i = 0; i < TSIG_NALGS; i++)
        if (strcasecmp(alg, tsig_algs[i].alg) == 0)
            return tsig_algs[i].md;
    return MBEDTLS_MD_NONE;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The TSIG variables of RFC 8945 4.3.3 (or the timers alone). */
static size_t tsig_vars(uint8_t *out, const ldns_rdf *keyname, const ldns_rdf *alg,
                        const uint8_t time6[6], unsigned fudge, unsigned error,
                        const ldns_rdf *other, int timers_only)
{
    size_t n = 0;
    if (!timers_only) {
        ldns_rdf *k = ldns_rdf_clone(keyname), *a = ldns_rdf_clone(alg);
        ldns_dname2canonical(k);
        ldns_dname2canonical(a);
        memcpy(out + n, ldns_rdf_data(k), ldns_rdf_size(k));
        n += ldns_rdf_size(k);
        put16(out + n, LDNS_RR_CLASS_ANY);
        memset(out + n + 2, 0, 4); /* TTL */
        n += 6;
        memcpy(out + n, ldns_rdf_data(a), ldns_rdf_size(a));
        n += ldns_rdf_size(a);
        ldns_rdf_deep_free(k);
        ldns_rdf_deep_free(a);
    }
    memcpy(out + n, time6, 6);
    put16(out + n + 6, fudge);
    n += 8;
    if (!timers_only) {
        put16(out + n, error);
        n += 2;
        if (other && ldns_rdf_size(other) >= 2 && ldns_rdf_size(other) <= 64) {
            memcpy(out + n, ldns_rdf_data(other), ldns_rdf_size(other));
            n += ldns_rdf_size(other);
        } else {
            put16(out + n, 0);
            n += 2;
        }
    }
    return n;
}

/* HMAC over [prior MAC] message vars; prior is an INT16_DATA rdf (len+mac). */
static int tsig_hmac(const struct dns_tsig_key *key, const ldns_rdf *prior, const uint8_t *msg,
                     size_t mlen, const uint8_t *vars, size_t vlen, uint8_t *out, size_t *olen)
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(tsig_md(key->alg));
    uint8_t secret[DNS_TSIG_SECRET_MAX * 2];
    long sl = b64_decode(key->secret, strlen(key->secret), secret, 1);
    if (!info || sl <= 0)
        return -1;
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    int rc = mbedtls_md_setup(&ctx, info, 1);
    if (rc == 0)
        rc = mbedtls_md_hmac_starts(&ctx, secret, (size_t)sl);
    if (rc == 0 && prior)
        rc = mbedtls_md_hmac_update(&ctx, ldns_rdf_data(prior), ldns_rdf_size(prior));
    if (rc == 0)
        rc = mbedtls_md_hmac_update(&ctx, msg, mlen);
    if (rc == 0)
        rc = mbedtls_md_hmac_update(&ctx, vars, vlen);
    if (rc == 0)
        rc = mbedtls_md_hmac_finish(&ctx, out);
    mbedtls_md_free(&ctx);
    memset(secret, 0, sizeof secret);
    *olen = mbedtls_md_get_size(info);
    return rc == 0 ? 0 : -1;
}

static enum dns_tsig_status tsig_check(const ldns_pkt *pkt, const uint8_t *wire, size_t len,
                                       const struct dns_tsig_key *key, const ldns_rdf *prior);

enum dns_tsig_status dns_tsig_verify(ldns_pkt *pkt, const uint8_t *wire, size_t len,
                                     const struct dns_tsig_keys *keys,
                                     const struct dns_tsig_key **used)
{
    *used = NULL;
    ldns_rr *t = ldns_pkt_tsig(pkt);
    if (!t)
        return DNS_TSIG_UNSIGNED;
    const struct dns_tsig_key *key = dns_tsig_keys_find(keys, ldns_rr_owner(t));
    if (!key)
        return DNS_TSIG_BADKEY;
    *used = key;
    return tsig_check(pkt, wire, len, key, NULL);
}

enum dns_tsig_status dns_tsig_verify_response(const ldns_pkt *pkt, const uint8_t *wire, size_t len,
                                              const struct dns_tsig_key *key,
                                              const ldns_rdf *request_mac)
{
    const ldns_rr *t = ldns_pkt_tsig(pkt);
    if (!t)
        return DNS_TSIG_UNSIGNED;
    ldns_rdf *kn = ldns_dname_new_frm_str(key->name);
    int same = kn && ldns_dname_compare(kn, ldns_rr_owner(t)) == 0;
    ldns_rdf_deep_free(kn);
    if (!same)
        return DNS_TSIG_BADKEY;
    return tsig_check(pkt, wire, len, key, request_mac);
}

static enum dns_tsig_status tsig_check(const ldns_pkt *pkt, const uint8_t *wire, size_t len,
                                       const struct dns_tsig_key *key, const ldns_rdf *prior)
{
    const ldns_rr *t = ldns_pkt_tsig(pkt);
    if (ldns_rr_rd_count(t) < 7 || ldns_rdf_size(ldns_rr_rdf(t, 1)) != 6)
        return DNS_TSIG_BADSIG;
    ldns_rdf *want = ldns_dname_new_frm_str(key->alg);
    int same_alg = want && ldns_dname_compare(want, ldns_rr_rdf(t, 0)) == 0;
    ldns_rdf_deep_free(want);
    if (!same_alg)
        return DNS_TSIG_BADKEY;
    long off = tsig_offset(wire, len);
    const ldns_rdf *mac = ldns_rr_rdf(t, 3);
    if (off < 0 || ldns_rdf_size(mac) < 2)
        return DNS_TSIG_BADSIG;
    uint8_t *msg = malloc((size_t)off);
    if (!msg)
        return DNS_TSIG_BADSIG;
    memcpy(msg, wire, (size_t)off);
    put16(msg, ldns_rdf2native_int16(ldns_rr_rdf(t, 4))); /* original id */
    put16(msg + 10, (unsigned)((wire[10] << 8 | wire[11]) - 1));
    uint8_t vars[LDNS_MAX_DOMAINLEN * 2 + 96], out[MBEDTLS_MD_MAX_SIZE];
    size_t vl = tsig_vars(vars, ldns_rr_owner(t), ldns_rr_rdf(t, 0), ldns_rdf_data(ldns_rr_rdf(t, 1)),
                          ldns_rdf2native_int16(ldns_rr_rdf(t, 2)), ldns_rdf2native_int16(ldns_rr_rdf(t, 5)),
                          ldns_rr_rdf(t, 6), 0);
    size_t ol = 0;
    int rc = tsig_hmac(key, prior, msg, (size_t)off, vars, vl, out, &ol);
    free(msg);
    const uint8_t *got = ldns_rdf_data(mac);
    size_t gl = (size_t)(got[0] << 8 | got[1]);
    if (rc < 0 || gl != ol || gl + 2 != ldns_rdf_size(mac))
        return DNS_TSIG_BADSIG;
    unsigned diff = 0; /* constant time compare */
    for (size_t i = 0; i < ol; i++)
        diff |= (unsigned)(out[i] ^ got[2 + i]);
    if (diff)
        return DNS_TSIG_BADSIG;
    uint64_t signed_at = tsig_time(ldns_rr_rdf(t, 1));
    uint64_t fudge = ldns_rdf2native_int16(ldns_rr_rdf(t, 2));
    uint64_t now = (uint64_t)time(NULL);
    if (signed_at + fudge < now || now + fudge < signed_at)
        return DNS_TSIG_BADTIME;
    return DNS_TSIG_OK;
}

int dns_tsig_sign(ldns_pkt *pkt, const struct dns_tsig_key *key, const ldns_rdf *request_mac,
                  int timers_only)
{
    ldns_rr *old = ldns_pkt_tsig(pkt);
    ldns_pkt_set_tsig(pkt, NULL);
    ldns_rr_free(old);
    uint8_t *wire = NULL;
    size_t wl = 0;
    if (ldns_pkt2wire(&wire, pkt, &wl) != LDNS_STATUS_OK)
        return -1;
    ldns_rdf *kname = ldns_dname_new_frm_str(key->name), *alg = ldns_dname_new_frm_str(key->alg);
    uint8_t now[6], vars[LDNS_MAX_DOMAINLEN * 2 + 96], out[MBEDTLS_MD_MAX_SIZE + 2];
    uint64_t ts = (uint64_t)time(NULL);
    for (int i = 5; i >= 0; i--, ts >>= 8)
        now[i] = (uint8_t)ts;
    size_t vl = kname && alg ? tsig_vars(vars, kname, alg, now, DNS_TSIG_FUDGE, 0, NULL, timers_only) : 0;
    size_t ol = 0;
    int rc = vl ? tsig_hmac(key, request_mac, wire, wl, vars, vl, out + 2, &ol) : -1;
    free(wire);
    if (rc < 0) {
        ldns_rdf_deep_free(kname);
        ldns_rdf_deep_free(alg);
        return -1;
    }
    put16(out, (unsigned)ol);
    uint8_t empty[2] = {0, 0};
    ldns_rr *t = ldns_rr_new();
    ldns_rr_set_owner(t, kname);
    ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
    ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(t, 0);
    ldns_rr_push_rdf(t, alg);
    ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_TSIGTIME, 6, now));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, DNS_TSIG_FUDGE));
    ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, ol + 2, out));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, ldns_pkt_id(pkt)));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));
    ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, empty));
    ldns_pkt_set_tsig(pkt, t);
    return 0;
}

void dns_tsig_set_error(ldns_pkt *resp, const ldns_pkt *req, enum dns_tsig_status error)
{
    const ldns_rr *t = ldns_pkt_tsig(req);
    if (!t || ldns_rr_rd_count(t) < 7)
        return;
    ldns_rr *e = ldns_rr_new();
    ldns_rr_set_owner(e, ldns_rdf_clone(ldns_rr_owner(t)));
    ldns_rr_set_type(e, LDNS_RR_TYPE_TSIG);
    ldns_rr_set_class(e, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(e, 0);
    uint8_t now[6];
    uint64_t ts = (uint64_t)time(NULL);
    for (int i = 5; i >= 0; i--, ts >>= 8)
        now[i] = (uint8_t)ts;
    uint8_t empty[2] = {0, 0};
    ldns_rr_push_rdf(e, ldns_rdf_clone(ldns_rr_rdf(t, 0)));
    ldns_rr_push_rdf(e, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_TSIGTIME, 6, now));
    ldns_rr_push_rdf(e, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, DNS_TSIG_FUDGE));
    ldns_rr_push_rdf(e, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, empty));
    ldns_rr_push_rdf(e, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, ldns_pkt_id(req)));
    ldns_rr_push_rdf(e, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, (uint16_t)error));
    ldns_rr_push_rdf(e, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, empty));
    ldns_pkt_set_tsig(resp, e);
    ldns_pkt_set_rcode(resp, LDNS_RCODE_NOTAUTH);
}
