/* spf_macro: macro expansion (RFC 7208 §7). Pure; the caller supplies the
 * values, and %{p} (which needs DNS) is reported back instead of looked up. */
#include "spf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define SPF_MACRO_PARTS 512 /* a split value never has more parts than this */
#define SPF_LABEL_MAX 63

typedef struct {
    char *p;
    size_t n, cap;
    int overflow;
} obuf;

static void put(obuf *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->n) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void put_escaped(obuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            put(b, (const char *)&c, 1);
        } else {
            char hex[4];
            snprintf(hex, sizeof hex, "%%%02X", c);
            put(b, hex, 3);
        }
    }
}

static const char *macro_value(const spf_macro_env *e, int letter, char *tbuf, size_t tsz)
{
    switch (letter) {
    case 's': return e->s;
    case 'l': return e->l;
    case 'o': return e->o;
    case 'd': return e->d;
    case 'i': return e->i;
    case 'p': return e->p;
    case 'v': return e->v;
    case 'h': return e->h;
    case 'c': return e->c;
    case 'r': return e->r && *e->r ? e->r : "unknown";
    case 't': snprintf(tbuf, tsz, "%lld", e->t); return tbuf;
    }
    return NULL;
}

/* Applies the transformers of one %{...} to val and appends the result. */
static void transform(obuf *b, const char *val, unsigned long keep, int rev, const char *delims,
                      size_t ndelim, int upper)
{
    const char *part[SPF_MACRO_PARTS];
    size_t plen[SPF_MACRO_PARTS];
    size_t np = 0, vl = strlen(val), st = 0;
    for (size_t i = 0; i <= vl && np < SPF_MACRO_PARTS; i++) {
        if (i == vl || memchr(delims, val[i], ndelim)) {
            part[np] = val + st;
            plen[np++] = i - st;
            st = i + 1;
        }
    }
    char tmp[SPF_EXPAND_MAX];
    obuf t = {tmp, 0, sizeof tmp, 0};
    tmp[0] = '\0';
    /* reversal happens before the right-hand parts are kept (§7.3) */
    size_t order[SPF_MACRO_PARTS];
    for (size_t k = 0; k < np; k++)
        order[k] = rev ? np - 1 - k : k;
    size_t first = (keep > 0 && keep < np) ? np - keep : 0;
    for (size_t k = first; k < np; k++) {
        if (k > first)
            put(&t, ".", 1);
        put(&t, part[order[k]], plen[order[k]]);
    }
    if (t.overflow) {
        b->overflow = 1;
        return;
    }
    if (upper)
        put_escaped(b, tmp, t.n);
    else
        put(b, tmp, t.n);
}

int spf_macro_expand(const spf_macro_env *env, const char *s, size_t n, int exp_mode, char *out,
                     size_t outsz)
{
    if (outsz == 0)
        return SPF_MACRO_TOOLONG;
    obuf b = {out, 0, outsz, 0};
    out[0] = '\0';
    if (spf_macro_check(s, n, exp_mode) != 0)
        return SPF_MACRO_SYNTAX;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '%') {
            size_t st = i;
            while (i < n && s[i] != '%')
                i++;
            put(&b, s + st, i - st);
            continue;
        }
        char nx = s[i + 1];
        if (nx == '%' || nx == '_' || nx == '-') {
            put(&b, nx == '%' ? "%" : nx == '_' ? " " : "%20", nx == '-' ? 3 : 1);
            i += 2;
            continue;
        }
        /* "%{" letter digits ['r'] delimiters "}" — syntax already checked */
        size_t j = i + 2;
        int upper = isupper((unsigned char)s[j]);
        int letter = tolower((unsigned char)s[j++]);
        unsigned long keep = 0;
        while (isdigit((unsigned char)s[j])) {
            if (keep < SPF_MACRO_PARTS)
                keep = keep * 10 + (unsigned long)(s[j] - '0');
            j++;
        }
        int rev = 0;
        if (s[j] == 'r' || s[j] == 'R')
            rev = 1, j++;
        size_t ds = j;
        while (s[j] != '}')
            j++;
        char tbuf[32];
        const char *val = macro_value(env, letter, tbuf, sizeof tbuf);
        if (!val) {
            if (letter == 'p')
                return SPF_MACRO_NEED_P;
            val = "";
        }
        transform(&b, val, keep, rev, j > ds ? s + ds : ".", j > ds ? j - ds : 1, upper);
        i = j + 1;
    }
    return b.overflow ? SPF_MACRO_TOOLONG : SPF_MACRO_OK;
}

int spf_domain_finish(char *name)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        name[--n] = '\0';
    size_t cut = 0;
    while (n - cut > SPF_NAME_MAX) { /* §7.3: drop labels from the left */
        const char *dot = memchr(name + cut, '.', n - cut);
        if (!dot)
            return -1;
        cut = (size_t)(dot - name) + 1;
    }
    if (cut)
        memmove(name, name + cut, n - cut + 1), n -= cut;
    if (n == 0)
        return -1;
    size_t lab = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || name[i] == '.') {
            if (lab == 0 || lab > SPF_LABEL_MAX)
                return -1;
            lab = 0;
        } else {
            lab++;
        }
    }
    return 0;
}
