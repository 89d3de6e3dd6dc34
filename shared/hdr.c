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

char *hdr_filter(const char *msg, size_t len, const char *prepend, hdr_drop_fn drop, void *arg, size_t *outlen)
{
    struct sbuf out;
    sbuf_init(&out, 0);
    if (prepend)
        sbuf_adds(&out, prepend);
    size_t i = 0, nlen, voff;
    while (i < len) {
        size_t fl = hdr_field_len(msg + i, len - i, &nlen, &voff);
        if (fl == 0) {
            /* Not a field: the empty line ends the header section; any other
             * malformed line is kept and the walk goes on, so a forged field
             * hidden behind it is still found. */
            if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
                break;
            const char *nl = memchr(msg + i, '\n', len - i);
            fl = nl ? (size_t)(nl - (msg + i)) + 1 : len - i;
            sbuf_add(&out, msg + i, fl);
            i += fl;
            continue;
        }
        if (!drop || !drop(arg, msg + i, nlen, msg + i + voff, fl - voff))
            sbuf_add(&out, msg + i, fl);
        i += fl;
    }
    sbuf_add(&out, msg + i, len - i);
    return sbuf_steal(&out, outlen);
}

int hdr_find(const char *msg, size_t len, const char *name, const char **value, size_t *vlen)
{
    size_t i = 0, nlen, voff;
    while (i < len) {
        size_t fl = hdr_field_len(msg + i, len - i, &nlen, &voff);
        if (fl == 0)
            return 0;
        if (hdr_name_is(msg + i, nlen, name)) {
            *value = msg + i + voff;
            *vlen = fl - voff;
            return 1;
        }
        i += fl;
    }
    return 0;
}
