/* dkim_tags: the RFC 6376 3.2 tag-list parser and key-record (3.6.1) parser.
 * Pure and bounded: at most DKIM_TAGS_MAX tags, pointers into the input. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dkim_int.h"

#define DKIM_TXT_MAX 8192 /* a key record longer than this is refused */

static int is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* VALCHAR = %x21-3A / %x3C-7E: printable, no ';'. */
static int is_valchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != ';';
}

void dkim_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int dkim_tags_parse(const char *s, size_t len, struct dkim_tags *out)
{
    size_t i = 0;
    out->n = 0;
    while (i < len) {
        size_t seg = i;
        while (i < len && s[i] != ';')
            i++;
        size_t end = i;
        if (i < len)
            i++; /* skip ';' */
        size_t a = seg;
        while (a < end && is_fws(s[a]))
            a++;
        if (a == end) {
            /* Only "a=b;" (trailing ';') is in the grammar; an empty segment
             * elsewhere is tolerated as other verifiers do. */
            continue;
        }
        size_t n0 = a;
        if (!isalpha((unsigned char)s[a]))
            return DKIM_TAGS_SYNTAX;
        while (a < end && (isalnum((unsigned char)s[a]) || s[a] == '_'))
            a++;
        size_t nlen = a - n0;
        while (a < end && is_fws(s[a]))
            a++;
        if (a == end || s[a] != '=')
            return DKIM_TAGS_SYNTAX;
        a++;
        while (a < end && is_fws(s[a]))
            a++;
        size_t z = end;
        while (z > a && is_fws(s[z - 1]))
            z--;
        for (size_t k = a; k < z; k++)
            if (!is_valchar((unsigned char)s[k]) && !is_fws(s[k]))
                return DKIM_TAGS_SYNTAX;
        for (int t = 0; t < out->n; t++)
            if (out->tag[t].nlen == nlen && !memcmp(out->tag[t].name, s + n0, nlen))
                return DKIM_TAGS_DUP;
        if (out->n == DKIM_TAGS_MAX)
            return DKIM_TAGS_TOOMANY;
        struct dkim_tag *t = &out->tag[out->n++];
        t->name = s + n0;
        t->nlen = nlen;
        t->val = s + a;
        t->vlen = z - a;
    }
    return DKIM_TAGS_OK;
}

const struct dkim_tag *dkim_tags_get(const struct dkim_tags *t, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < t->n; i++)
        if (t->tag[i].nlen == n && !memcmp(t->tag[i].name, name, n))
            return &t->tag[i];
    return NULL;
}

/* Does the colon-separated list v contain word (case-insensitive)? */
static int list_has(const char *v, size_t n, const char *word)
{
    size_t wl = strlen(word), i = 0;
    while (i < n) {
        while (i < n && (is_fws(v[i]) || v[i] == ':'))
            i++;
        size_t a = i;
        while (i < n && v[i] != ':' && !is_fws(v[i]))
            i++;
        if (i - a == wl && !strncasecmp(v + a, word, wl))
            return 1;
        while (i < n && v[i] != ':')
            i++;
    }
    return 0;
}

int dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *out, char *err,
                      size_t errlen)
{
    struct dkim_tags tags;
    memset(out, 0, sizeof *out);
    if (len > DKIM_TXT_MAX) {
        dkim_errf(err, errlen, "key record too long");
        return -1;
    }
    if (dkim_tags_parse(txt, len, &tags) != DKIM_TAGS_OK) {
        dkim_errf(err, errlen, "key record syntax error");
        return -1;
    }
    const struct dkim_tag *t = dkim_tags_get(&tags, "v");
    if (t && (t != &tags.tag[0] || t->vlen != 5 || memcmp(t->val, "DKIM1", 5))) {
        dkim_errf(err, errlen, "key record version is not DKIM1");
        return -1;
    }
    out->alg = DKIM_ALG_RSA_SHA256;
    if ((t = dkim_tags_get(&tags, "k"))) {
        if (t->vlen == 3 && !strncasecmp(t->val, "rsa", 3))
            out->alg = DKIM_ALG_RSA_SHA256;
        else if (t->vlen == 7 && !strncasecmp(t->val, "ed25519", 7))
            out->alg = DKIM_ALG_ED25519_SHA256;
        else {
            dkim_errf(err, errlen, "unknown key type");
            return -1;
        }
    }
    if ((t = dkim_tags_get(&tags, "h")) && !list_has(t->val, t->vlen, "sha256")) {
        dkim_errf(err, errlen, "key does not allow sha256");
        return -1;
    }
    if ((t = dkim_tags_get(&tags, "s")) && !list_has(t->val, t->vlen, "*") &&
        !list_has(t->val, t->vlen, "email")) {
        dkim_errf(err, errlen, "key not for email");
        return -1;
    }
    if ((t = dkim_tags_get(&tags, "t"))) {
        out->testing = list_has(t->val, t->vlen, "y");
        out->strict = list_has(t->val, t->vlen, "s");
    }
    if (!(t = dkim_tags_get(&tags, "p"))) {
        dkim_errf(err, errlen, "key record without p=");
        return -1;
    }
    if (t->vlen == 0) {
        out->revoked = 1;
        return 0;
    }
    size_t b64 = 0;
    for (size_t i = 0; i < t->vlen; i++)
        b64 += !is_fws(t->val[i]);
    if (b64 > (sizeof out->pub + 2) / 3 * 4) {
        dkim_errf(err, errlen, "key record p= too long");
        return -1;
    }
    if (sodium_base642bin(out->pub, sizeof out->pub, t->val, t->vlen, " \t\r\n", &out->publen,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        dkim_errf(err, errlen, "key record p= is not base64");
        return -1;
    }
    if (out->alg == DKIM_ALG_ED25519_SHA256 && out->publen != crypto_sign_PUBLICKEYBYTES) {
        dkim_errf(err, errlen, "ed25519 key is not 32 bytes");
        return -1;
    }
    return 0;
}
