/* verifier from: every author domain of a message, for DMARC.
 *
 * RFC 5322 allows one From: field, but a message can carry two, or one with
 * several addresses; mail readers then show one of them, and which one
 * differs. Checking DMARC for none of them (RFC 7489 §6.6.1 leaves it to the
 * receiver) would let a forger escape a p=reject domain by adding a second
 * author, so the verifier checks each domain found. Pure: no I/O. */
#include "verifier.h"

#include "hdr.h"

#include <ctype.h>
#include <string.h>

#define FROM_VALUE_MAX 4096 /* of one From: field; the rest is not read */

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
    size_t i = 0, nlen, voff, fl;
    *naddr = 0;
    while (i < len && (fl = hdr_next(msg + i, len - i, &nlen, &voff)) > 0) {
        if (hdr_name_is(msg + i, nlen, "From")) {
            /* Comments and quoted strings out; commas outside <> split
             * addresses; a group's "name:" and its closing ';' are dropped. */
            char v[FROM_VALUE_MAX];
            size_t vn = 0;
            struct hdr_lex lex = {0};
            int angle = 0;
            const char *p = msg + i + voff, *end = msg + i + fl;
            for (; p < end && vn < sizeof v; p++) {
                if (!hdr_lex_visible(&lex, &p, end))
                    continue;
                char c = *p;
                if (!angle && (c == ',' || c == ';')) {
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
