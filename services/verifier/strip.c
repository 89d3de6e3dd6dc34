/* verifier strip: which arriving header fields claim to be ours, so they can
 * be removed before our own results are added (RFC 8601 §5, RFC 7208 §9.1).
 *
 * A forger does not have to write the field the way we do: the authserv-id may
 * sit behind a comment, on a continuation line, in quotes, in another case or
 * with a trailing dot, and "receiver =" may carry white space. So the values
 * are read with the fields' own grammar (CFWS, token, quoted-string) rather
 * than matched as text. Pure: no I/O. */
#include "verifier.h"

#include "hdr.h"

#include <string.h>
#include <strings.h>

#define STRIP_VALUE_MAX 300 /* longer than any host name: longer values are not ours */
#define STRIP_PREFIX "X-Spamtacus"

/* Skips folding white space and comments (nested, with quoted-pairs). */
static size_t strip_cfws(const char *v, size_t n, size_t i)
{
    int depth = 0;
    while (i < n) {
        char c = v[i];
        if (depth) {
            if (c == '\\' && i + 1 < n)
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        } else if (c == '(') {
            depth = 1;
            i++;
        } else {
            break;
        }
    }
    return i;
}

static int strip_special(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(' || c == ')' || c == '"' ||
           c == '=' || c == ':' || c == '\0';
}

/* Reads a token or a quoted-string at i into out (unquoted). Returns the
 * index after it; *len is its length, or STRIP_VALUE_MAX when it did not fit. */
static size_t strip_value(const char *v, size_t n, size_t i, char *out, size_t *len)
{
    size_t o = 0;
    int over = 0;
    if (i < n && v[i] == '"') {
        for (i++; i < n && v[i] != '"'; i++) {
            if (v[i] == '\\' && i + 1 < n)
                i++;
            if (v[i] == '\r' || v[i] == '\n')
                continue; /* folding inside the quotes */
            if (o + 1 < STRIP_VALUE_MAX)
                out[o++] = v[i];
            else
                over = 1;
        }
        if (i < n)
            i++;
    } else {
        for (; i < n && !strip_special(v[i]); i++) {
            if (o + 1 < STRIP_VALUE_MAX)
                out[o++] = v[i];
            else
                over = 1;
        }
    }
    out[o] = '\0';
    *len = over ? STRIP_VALUE_MAX : o;
    return i;
}

/* Host names compare case-blind, and "name." is the same host as "name". */
static int strip_is_us(const char *id, const char *val, size_t vlen)
{
    size_t il = strlen(id);
    if (il && id[il - 1] == '.')
        il--;
    if (vlen && val[vlen - 1] == '.')
        vlen--;
    return il && il == vlen && !strncasecmp(id, val, il);
}

/* Authentication-Results: [CFWS] authserv-id [CFWS authres-version] ";" ... */
static int strip_authres(const char *id, const char *v, size_t n)
{
    char val[STRIP_VALUE_MAX];
    size_t len;
    strip_value(v, n, strip_cfws(v, n, 0), val, &len);
    return strip_is_us(id, val, len);
}

/* Received-SPF: [CFWS] result FWS [comment FWS] [key-value-list]. Ours when
 * receiver=<us>, or when the comment starts "<us>:" as our own comment does. */
static int strip_received_spf(const char *id, const char *v, size_t n)
{
    char val[STRIP_VALUE_MAX], key[STRIP_VALUE_MAX];
    size_t len, klen, i = strip_cfws(v, n, 0);
    i = strip_value(v, n, i, val, &len); /* the result word */
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
        i++;
    if (i < n && v[i] == '(') {
        size_t j = i + 1;
        while (j < n && (v[j] == ' ' || v[j] == '\t' || v[j] == '\r' || v[j] == '\n'))
            j++;
        strip_value(v, n, j, val, &len);
        if (strip_is_us(id, val, len))
            return 1;
    }
    while (i < n) {
        size_t start = i;
        i = strip_cfws(v, n, i);
        i = strip_value(v, n, i, key, &klen);
        i = strip_cfws(v, n, i);
        if (i < n && v[i] == '=') {
            i = strip_cfws(v, n, i + 1);
            i = strip_value(v, n, i, val, &len);
            if (klen == 8 && !strncasecmp(key, "receiver", 8) && strip_is_us(id, val, len))
                return 1;
        }
        i = strip_cfws(v, n, i);
        if (i < n && (v[i] == ';' || i == start))
            i++; /* next pair, or a stray character: always move on */
    }
    return 0;
}

int verifier_strip_cb(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    const struct verifier *v = arg;
    size_t pl = sizeof STRIP_PREFIX - 1;
    if (nlen >= pl && !strncasecmp(name, STRIP_PREFIX, pl))
        return 1; /* every X-Spamtacus* field: only our spamfilter writes them */
    if (hdr_name_is(name, nlen, "Authentication-Results"))
        return strip_authres(v->authserv_id, value, vlen);
    if (hdr_name_is(name, nlen, "Received-SPF"))
        return strip_received_spf(v->authserv_id, value, vlen);
    return 0;
}
