/* hdr: header-section helpers (see hdr.h). */
#include "hdr.h"

#include "sbuf.h"

#include <string.h>
#include <strings.h>

/* Length of the header field starting at p (with continuations), or 0 when
 * p does not start a field (the header section ends there). */
static size_t hdr_field_len(const char *p, size_t n, size_t *nlen, size_t *voff)
{
    size_t i = 0;
    while (i < n && p[i] != ':' && p[i] != '\n' && p[i] != '\r' && p[i] != ' ' && p[i] != '\t')
        i++;
    size_t name_end = i;
    /* RFC 5322 obs-optional: white space may sit between name and colon. */
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (name_end == 0 || i >= n || p[i] != ':')
        return 0;
    *nlen = name_end;
    *voff = i + 1;
    for (;;) {
        const char *nl = memchr(p + i, '\n', n - i);
        if (!nl)
            return n;
        i = (size_t)(nl - p) + 1;
        if (i >= n || (p[i] != ' ' && p[i] != '\t'))
            return i;
    }
}

int hdr_name_is(const char *name, size_t nlen, const char *want)
{
    return strlen(want) == nlen && !strncasecmp(name, want, nlen);
}

size_t hdr_next(const char *p, size_t n, size_t *nlen, size_t *voff)
{
    *nlen = *voff = 0;
    if (n == 0 || p[0] == '\n' || (p[0] == '\r' && n > 1 && p[1] == '\n'))
        return 0;
    size_t fl = hdr_field_len(p, n, nlen, voff);
    if (fl)
        return fl;
    /* Not a field: one line, passed over, so a field hidden behind a
     * malformed line is still found. */
    *nlen = *voff = 0;
    const char *nl = memchr(p, '\n', n);
    return nl ? (size_t)(nl - p) + 1 : n;
}

char *hdr_filter(const char *msg, size_t len, const char *prepend, hdr_drop_fn drop, void *arg, size_t *outlen)
{
    struct sbuf out;
    sbuf_init(&out, 0);
    if (prepend)
        sbuf_adds(&out, prepend);
    size_t i = 0, nlen, voff, fl;
    while (i < len && (fl = hdr_next(msg + i, len - i, &nlen, &voff)) > 0) {
        if (!nlen || !drop || !drop(arg, msg + i, nlen, msg + i + voff, fl - voff))
            sbuf_add(&out, msg + i, fl);
        i += fl;
    }
    sbuf_add(&out, msg + i, len - i);
    return sbuf_steal(&out, outlen);
}

int hdr_lex_visible(struct hdr_lex *l, const char **pp, const char *end)
{
    char c = **pp;
    if (l->quoted || l->depth) {
        if (c == '\\' && *pp + 1 < end)
            ++*pp; /* a quoted pair: the next character means nothing */
        else if (l->quoted)
            l->quoted = c != '"';
        else
            l->depth += (c == '(') - (c == ')');
        return 0;
    }
    if (c == '"')
        l->quoted = 1;
    else if (c == '(')
        l->depth = 1;
    else
        return 1;
    return 0;
}
