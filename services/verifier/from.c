/* verifier from: every author domain of a message, for DMARC.
 *
 * RFC 5322 allows one From: field, but a message can carry two, or one with
 * several addresses; mail readers then show one of them, and which one
 * differs. Checking DMARC for none of them (RFC 7489 §6.6.1 leaves it to the
 * receiver) would let a forger escape a p=reject domain by adding a second
 * author, so the verifier checks each domain found. Pure: no I/O. */
#include "verifier.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define FROM_VALUE_MAX 4096 /* of one From: field; the rest is not read */

/* Length of the header field at p with its continuation lines, 0 at the end
 * of the header section; *voff is where the value starts (0: not a field). */
static size_t from_field(const char *p, size_t n, size_t *voff)
{
    size_t i = 0;
    *voff = 0;
    if (n == 0 || p[0] == '\n' || (p[0] == '\r' && n > 1 && p[1] == '\n'))
        return 0;
    while (i < n && p[i] != ':' && p[i] != '\n' && p[i] != ' ' && p[i] != '\t')
        i++;
    size_t name_end = i;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && p[i] == ':' && name_end == 4 && !strncasecmp(p, "From", 4))
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

static void from_add(char (*out)[VERIFIER_DOMAIN_MAX], int *n, int max, const char *d, size_t len)
{
    while (len && (d[len - 1] == '.' || d[len - 1] == ' ' || d[len - 1] == '\t' || d[len - 1] == '\r' ||
                   d[len - 1] == '\n'))
        len--;
    if (len == 0 || len >= VERIFIER_DOMAIN_MAX || *n >= max)
        return;
    char dom[VERIFIER_DOMAIN_MAX];
    for (size_t i = 0; i < len; i++)
        dom[i] = (char)tolower((unsigned char)d[i]);
    dom[len] = '\0';
    for (int i = 0; i < *n; i++)
        if (!strcmp(out[i], dom))
            return;
    memcpy(out[(*n)++], dom, len + 1);
}

/* One address (comments and quoted strings already gone): the domain after
 * the last '@' of the angle-addr if there is one, else of the whole. */
static void from_address(const char *a, size_t len, char (*out)[VERIFIER_DOMAIN_MAX], int *n, int max)
{
    const char *lt = NULL, *end = a + len;
    for (const char *p = a; p < end; p++)
        if (*p == '<')
            lt = p;
    if (lt) {
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        a = lt + 1;
        end = gt ? gt : end;
    }
    const char *at = NULL;
    for (const char *p = a; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return;
    at++;
    while (at < end && (*at == ' ' || *at == '\t' || *at == '\r' || *at == '\n'))
        at++;
    const char *e = at;
    while (e < end && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n' && *e != '>')
        e++;
    from_add(out, n, max, at, (size_t)(e - at));
}

int verifier_from_domains(const char *msg, size_t len, char (*out)[VERIFIER_DOMAIN_MAX], int max, int *naddr)
{
    int n = 0;
    size_t i = 0, voff;
    *naddr = 0;
    while (i < len) {
        size_t fl = from_field(msg + i, len - i, &voff);
        if (fl == 0)
            break;
        if (voff) {
            /* Comments and quoted strings out; commas outside <> split
             * addresses; a group's "name:" and its closing ';' are dropped. */
            char v[FROM_VALUE_MAX];
            size_t vn = 0;
            int depth = 0, quoted = 0, angle = 0;
            const char *p = msg + i + voff, *end = msg + i + fl;
            for (; p < end && vn < sizeof v; p++) {
                char c = *p;
                if (quoted) {
                    if (c == '\\' && p + 1 < end)
                        p++;
                    else if (c == '"')
                        quoted = 0;
                } else if (depth) {
                    if (c == '\\' && p + 1 < end)
                        p++;
                    else
                        depth += (c == '(') - (c == ')');
                } else if (c == '"') {
                    quoted = 1;
                } else if (c == '(') {
                    depth = 1;
                } else if (!angle && (c == ',' || c == ';')) {
                    if (vn) {
                        from_address(v, vn, out, &n, max);
                        ++*naddr;
                    }
                    vn = 0;
                } else if (!angle && c == ':') {
                    vn = 0; /* group display name */
                } else {
                    angle += (c == '<') - (c == '>' && angle > 0);
                    v[vn++] = c;
                }
            }
            size_t k = 0;
            while (k < vn && (v[k] == ' ' || v[k] == '\t' || v[k] == '\r' || v[k] == '\n'))
                k++;
            if (k < vn) {
                from_address(v, vn, out, &n, max);
                ++*naddr;
            }
        }
        i += fl;
    }
    return n;
}
