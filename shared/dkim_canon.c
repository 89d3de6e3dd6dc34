/* dkim_canon: header block splitting, header and body canonicalization
 * (RFC 6376 3.4) and the bottom-up header selection of 5.4.2. Pure. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_int.h"

#define DKIM_HNAMES_MAX 256  /* entries in one h= list */
#define DKIM_FIELD_STACK 1024 /* fields shorter than this canonicalize on the stack */

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- header block ---- */

int dkim_msg_parse(const char *msg, size_t len, struct dkim_msg *m)
{
    int cap = 0;
    size_t i = 0;
    m->h = NULL;
    m->n = 0;
    m->body_off = len;
    while (i < len) {
        const char *nl = memchr(msg + i, '\n', len - i);
        size_t lend = nl ? (size_t)(nl - msg) : len;
        size_t cend = lend;
        if (cend > i && msg[cend - 1] == '\r')
            cend--;
        size_t next = nl ? lend + 1 : len;
        if (cend == i) { /* the empty line that ends the header block */
            m->body_off = next;
            break;
        }
        if (is_wsp(msg[i]) && m->n > 0) { /* continuation: the field grows */
            struct dkim_hdr *h = &m->h[m->n - 1];
            h->len = (size_t)(msg + cend - h->p);
        } else {
            if (m->n == DKIM_MAX_HEADERS)
                return -1;
            if (m->n == cap) {
                cap = cap ? cap * 2 : 32;
                struct dkim_hdr *nh = realloc(m->h, (size_t)cap * sizeof *nh);
                if (!nh)
                    return -1;
                m->h = nh;
            }
            struct dkim_hdr *h = &m->h[m->n++];
            h->p = msg + i;
            h->len = cend - i;
            /* A line without a colon (not RFC 5322) gets no name: it can
             * never be selected, but is kept so nothing shifts. */
            const char *colon = memchr(h->p, ':', h->len);
            size_t nl2 = colon ? (size_t)(colon - h->p) : 0;
            while (nl2 > 0 && is_wsp(h->p[nl2 - 1]))
                nl2--;
            h->nlen = nl2;
        }
        i = next;
    }
    return 0;
}

void dkim_msg_free(struct dkim_msg *m)
{
    free(m->h);
    m->h = NULL;
    m->n = 0;
}

int dkim_hdr_is(const struct dkim_hdr *h, const char *name, size_t n)
{
    return h->nlen == n && n > 0 && !strncasecmp(h->p, name, n);
}

/* ---- header fields ---- */

size_t dkim_canon_header(enum dkim_canon canon, const char *f, size_t n, char *out)
{
    size_t o = 0;
    if (canon == DKIM_CANON_SIMPLE) {
        /* Verbatim, except that a bare LF inside a folded field becomes CRLF:
         * SMTP transport will have done that by the time anyone verifies. */
        for (size_t i = 0; i < n; i++) {
            if (f[i] == '\n' && (i == 0 || f[i - 1] != '\r'))
                out[o++] = '\r';
            out[o++] = f[i];
        }
    } else {
        const char *colon = memchr(f, ':', n);
        size_t ne = colon ? (size_t)(colon - f) : n, i;
        for (i = 0; i < ne; i++)
            out[o++] = (char)tolower((unsigned char)f[i]);
        while (o > 0 && (is_wsp(out[o - 1]) || out[o - 1] == '\r' || out[o - 1] == '\n'))
            o--;
        if (colon) {
            out[o++] = ':';
            i = ne + 1;
        }
        int wsp = 0, started = 0;
        for (; i < n; i++) {
            char c = f[i];
            /* Unfolding: the line break goes, the WSP after it stays. A lone
             * CR is kept, as dkimpy and OpenDKIM do. */
            if (c == '\n' || (c == '\r' && i + 1 < n && f[i + 1] == '\n'))
                continue;
            if (is_wsp(c)) {
                wsp = started;
                continue;
            }
            if (wsp)
                out[o++] = ' ';
            wsp = 0;
            started = 1;
            out[o++] = c;
        }
    }
    out[o++] = '\r';
    out[o++] = '\n';
    return o;
}

int dkim_hash_field(crypto_hash_sha256_state *st, enum dkim_canon c, const char *p, size_t n,
                    int crlf)
{
    char stack[DKIM_FIELD_STACK], *buf = stack;
    if (2 * n + 3 > sizeof stack && !(buf = malloc(2 * n + 3)))
        return -1;
    size_t o = dkim_canon_header(c, p, n, buf);
    crypto_hash_sha256_update(st, (const unsigned char *)buf, crlf ? o : o - 2);
    if (buf != stack)
        free(buf);
    return 0;
}

int dkim_hash_headers(crypto_hash_sha256_state *st, const struct dkim_msg *m, enum dkim_canon c,
                      const char *hl, size_t hlen)
{
    unsigned char *used = calloc((size_t)m->n + 1, 1);
    int names = 0, rc = 0;
    size_t i = 0;
    if (!used)
        return -1;
    while (i < hlen && rc == 0) {
        while (i < hlen && (is_wsp(hl[i]) || hl[i] == '\r' || hl[i] == '\n' || hl[i] == ':'))
            i++;
        size_t a = i;
        while (i < hlen && hl[i] != ':' && !is_wsp(hl[i]) && hl[i] != '\r' && hl[i] != '\n')
            i++;
        if (i == a)
            break;
        if (++names > DKIM_HNAMES_MAX) {
            rc = -1;
            break;
        }
        for (int k = m->n - 1; k >= 0; k--) {
            if (!used[k] && dkim_hdr_is(&m->h[k], hl + a, i - a)) {
                used[k] = 1;
                rc = dkim_hash_field(st, c, m->h[k].p, m->h[k].len, 1);
                break;
            }
        }
    }
    free(used);
    return rc;
}

/* ---- body ---- */

static void body_flush(struct dkim_body *b)
{
    if (!b->blen)
        return;
    crypto_hash_sha256_update(&b->sha, (const unsigned char *)b->buf, b->blen);
    if (b->out_cb)
        b->out_cb(b->out_arg, b->buf, b->blen);
    b->blen = 0;
}

static void body_emit(struct dkim_body *b, const char *p, size_t n)
{
    uint64_t room = b->emitted < b->limit ? b->limit - b->emitted : 0;
    b->emitted += n;
    if (n > room)
        n = (size_t)room;
    while (n) {
        size_t k = sizeof b->buf - b->blen;
        if (k > n)
            k = n;
        memcpy(b->buf + b->blen, p, k);
        b->blen += k;
        p += k;
        n -= k;
        if (b->blen == sizeof b->buf)
            body_flush(b);
    }
}

/* Before the first content byte of a line: release held-back empty lines
 * (they were not trailing after all) and the pending relaxed space. */
static void body_content(struct dkim_body *b)
{
    for (; b->crlf_pending; b->crlf_pending--)
        body_emit(b, "\r\n", 2);
    if (b->wsp)
        body_emit(b, " ", 1);
    b->wsp = 0;
    b->content = 1;
}

static void body_eol(struct dkim_body *b)
{
    if (b->content)
        body_emit(b, "\r\n", 2);
    else
        b->crlf_pending++;
    b->content = 0;
    b->wsp = 0;
}

void dkim_body_init(struct dkim_body *b, enum dkim_canon canon, uint64_t limit)
{
    memset(b, 0, sizeof *b);
    crypto_hash_sha256_init(&b->sha);
    b->canon = canon;
    b->limit = limit;
}

void dkim_body_update(struct dkim_body *b, const char *p, size_t n)
{
    int relaxed = b->canon == DKIM_CANON_RELAXED;
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        if (b->cr) {
            b->cr = 0;
            if (c == '\n') {
                body_eol(b);
                i++;
                continue;
            }
            body_content(b); /* a lone CR is ordinary content */
            body_emit(b, "\r", 1);
        }
        if (c == '\r') {
            b->cr = 1;
            i++;
        } else if (c == '\n') {
            body_eol(b);
            i++;
        } else if (relaxed && is_wsp(c)) {
            b->wsp = 1;
            i++;
        } else {
            /* A run of ordinary bytes goes out in one piece. */
            size_t a = i;
            while (i < n && p[i] != '\r' && p[i] != '\n' && !(relaxed && is_wsp(p[i])))
                i++;
            body_content(b);
            body_emit(b, p + a, i - a);
        }
    }
}

void dkim_body_final(struct dkim_body *b, unsigned char hash[32])
{
    if (b->cr) {
        b->cr = 0;
        body_content(b);
        body_emit(b, "\r", 1);
    }
    if (b->content) {
        /* Last line without its line end: whitespace there is not "at the
         * end of a line" yet, so it stays (as one SP), as dkimpy does. */
        if (b->wsp)
            body_emit(b, " ", 1);
        body_emit(b, "\r\n", 2);
    }
    if (b->canon == DKIM_CANON_SIMPLE && b->emitted == 0)
        body_emit(b, "\r\n", 2); /* an empty simple body is one CRLF */
    body_flush(b);
    crypto_hash_sha256_final(&b->sha, hash);
}

void dkim_body_hash(const char *body, size_t n, enum dkim_canon c, uint64_t limit,
                    unsigned char out[32])
{
    struct dkim_body b;
    dkim_body_init(&b, c, limit);
    dkim_body_update(&b, body, n);
    dkim_body_final(&b, out);
}
