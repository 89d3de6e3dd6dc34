/* mime: lines, headers, parts and boundaries. Decoding lives in mime_text.c.
 *
 * The walker is a line machine: input is cut at LF (a CR before it is
 * dropped); a line longer than MIME_LINE_MAX is handed on in pieces, and a
 * piece that does not start a line is never taken for a boundary or a header
 * start. Every part is "headers, blank line, body"; the body of a multipart
 * is scanned for the boundaries of all enclosing multiparts, innermost first,
 * so a part missing its closing boundary is ended by an outer one. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime_int.h"

static void part_reset(struct mime_walker *w)
{
    memset(&w->pi, 0, sizeof w->pi);
    w->pi.ctype = CT_TEXT;
    w->pi.enc = ENC_PLAIN;
    w->pi.cs = CS_PASS;
}

struct mime_walker *mime_new(mime_event_cb cb, void *arg)
{
    struct mime_walker *w = malloc(sizeof *w);
    if (!w)
        return NULL;
    w->cb = cb;
    w->arg = arg;
    mime_reset(w);
    return w;
}

void mime_reset(struct mime_walker *w)
{
    w->state = MS_HEADER;
    w->at_line_start = 1;
    w->first_line = 1;
    w->depth = 0;
    w->nbound = 0;
    part_reset(w);
    memset(&w->tx, 0, sizeof w->tx);
    w->top_headers = 1;
    w->hlen = 0;
    w->htrunc = 0;
    memset(&w->st, 0, sizeof w->st);
    w->st.parts = 1;
    w->linelen = 0;
    w->outlen = 0;
}

void mime_free(struct mime_walker *w)
{
    free(w);
}

void mime_get_stats(const struct mime_walker *w, struct mime_stats *out)
{
    *out = w->st;
}

static void emit(struct mime_walker *w, enum mime_event_kind kind, const char *name, size_t nlen,
                 const char *data, size_t len)
{
    struct mime_event ev = {kind, name, nlen, data, len, w->depth};
    w->cb(w->arg, &ev);
}

static void hdr_append(struct mime_walker *w, const char *p, size_t n)
{
    size_t room = MIME_HEADER_MAX - w->hlen;
    if (n > room) {
        n = room;
        if (!w->htrunc)
            w->st.long_headers++;
        w->htrunc = 1;
    }
    memcpy(w->hdr + w->hlen, p, n);
    w->hlen += n;
}

static int ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    return alen == n && strncasecmp(a, lit, n) == 0;
}

static int iprefix(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    return alen >= n && strncasecmp(a, lit, n) == 0;
}

/* Content-* headers shape the part; they are read raw (not 2047-decoded)
 * because their parameters are structured. */
static void content_header(struct mime_walker *w, const char *name, size_t nlen, const char *v, size_t vlen)
{
    char raw[MIME_VALUE_MAX];
    int n;
    if (ieq(name, nlen, "content-type")) {
        w->pi.has_ctype = 1;
        if (iprefix(v, vlen, "multipart/"))
            w->pi.ctype = CT_MULTIPART;
        else if (iprefix(v, vlen, "message/rfc822"))
            w->pi.ctype = CT_MESSAGE;
        else if (iprefix(v, vlen, "text/html"))
            w->pi.ctype = CT_HTML;
        else if (iprefix(v, vlen, "text/") || vlen == 0 || iprefix(v, vlen, "text;"))
            w->pi.ctype = CT_TEXT;
        else
            w->pi.ctype = CT_OTHER;
        n = mime_param(v, vlen, "boundary", raw, sizeof raw);
        if (n > 0 && (size_t)n < MIME_BOUNDARY_MAX) {
            memcpy(w->pi.boundary, raw, (size_t)n);
            w->pi.blen = (size_t)n;
        }
        n = mime_param(v, vlen, "charset", raw, sizeof raw);
        if (n > 0)
            w->pi.cs = mime_charset(raw, (size_t)n);
        if (!w->pi.filename[0] && (n = mime_param(v, vlen, "name", raw, sizeof raw)) > 0)
            mime_decode_header(raw, (size_t)n, w->pi.filename, sizeof w->pi.filename);
    } else if (ieq(name, nlen, "content-transfer-encoding")) {
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        if (iprefix(v, vlen, "base64"))
            w->pi.enc = ENC_B64;
        else if (iprefix(v, vlen, "quoted-printable"))
            w->pi.enc = ENC_QP;
        else
            w->pi.enc = ENC_PLAIN;
    } else if (ieq(name, nlen, "content-disposition")) {
        if ((n = mime_param(v, vlen, "filename", raw, sizeof raw)) > 0)
            mime_decode_header(raw, (size_t)n, w->pi.filename, sizeof w->pi.filename);
    }
}

/* Hands out the header unfolded in w->hdr and records what it says. */
static void hdr_flush(struct mime_walker *w)
{
    if (w->hlen == 0)
        return;
    const char *h = w->hdr;
    const char *colon = memchr(h, ':', w->hlen);
    if (colon) {
        size_t nlen = (size_t)(colon - h);
        while (nlen && (h[nlen - 1] == ' ' || h[nlen - 1] == '\t'))
            nlen--;
        const char *v = colon + 1;
        size_t vlen = w->hlen - (size_t)(v - h);
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        size_t dlen = mime_decode_header(v, vlen, w->dec, sizeof w->dec);
        int subj = w->top_headers && ieq(h, nlen, "subject");
        emit(w, subj ? MIME_SUBJECT : MIME_HEADER, h, nlen, w->dec, dlen);
        if (iprefix(h, nlen, "content-"))
            content_header(w, h, nlen, v, vlen);
    }
    w->hlen = 0;
    w->htrunc = 0;
}

/* The blank line after a part's headers: choose how to read its body. */
static void end_headers(struct mime_walker *w)
{
    hdr_flush(w);
    w->top_headers = 0;
    if (w->pi.filename[0])
        emit(w, MIME_FILENAME, NULL, 0, w->pi.filename, strlen(w->pi.filename));
    w->state = MS_BODY;
    switch (w->pi.ctype) {
    case CT_MULTIPART:
        if (w->pi.blen > 0 && w->nbound < MIME_DEPTH_MAX && w->depth < MIME_DEPTH_MAX) {
            struct mime_bound *b = &w->bound[w->nbound++];
            memcpy(b->b, w->pi.boundary, w->pi.blen);
            b->len = w->pi.blen;
            b->depth = w->depth;
            /* The preamble is normally a note for old readers, but with a
             * wrong boundary it holds the whole text: read it. */
            mime_text_begin(w, 1, ENC_PLAIN, w->pi.cs, 0);
            return;
        }
        if (w->pi.blen > 0)
            w->st.too_deep++;
        mime_text_begin(w, 1, w->pi.enc, w->pi.cs, 0);
        return;
    case CT_MESSAGE:
        if (w->depth < MIME_DEPTH_MAX && w->pi.enc == ENC_PLAIN) {
            w->depth++;
            w->st.parts++;
            part_reset(w);
            w->state = MS_HEADER;
            return;
        }
        mime_text_begin(w, 1, w->pi.enc, w->pi.cs, 0);
        return;
    case CT_HTML:
        mime_text_begin(w, 1, w->pi.enc, w->pi.cs, 1);
        return;
    case CT_TEXT:
        mime_text_begin(w, 1, w->pi.enc, w->pi.cs, 0);
        return;
    case CT_OTHER:
        mime_text_begin(w, 0, w->pi.enc, w->pi.cs, 0);
        return;
    }
}

/* Returns the index of the enclosing multipart whose boundary line this is
 * ("--b" or "--b--", trailing white space allowed), or -1. */
static int match_boundary(const struct mime_walker *w, const char *p, size_t n, int *close)
{
    if (n < 3 || p[0] != '-' || p[1] != '-')
        return -1;
    for (int i = w->nbound - 1; i >= 0; i--) {
        const struct mime_bound *b = &w->bound[i];
        if (n - 2 < b->len || memcmp(p + 2, b->b, b->len) != 0)
            continue;
        const char *r = p + 2 + b->len, *end = p + n;
        int c = 0;
        if (end - r >= 2 && r[0] == '-' && r[1] == '-')
            r += 2, c = 1;
        while (r < end && (*r == ' ' || *r == '\t'))
            r++;
        if (r == end) {
            *close = c;
            return i;
        }
    }
    return -1;
}

static void end_part(struct mime_walker *w)
{
    if (w->state == MS_HEADER) {
        hdr_flush(w);
        w->top_headers = 0;
        if (w->pi.filename[0])
            emit(w, MIME_FILENAME, NULL, 0, w->pi.filename, strlen(w->pi.filename));
    } else {
        mime_text_end(w);
    }
}

static void on_boundary(struct mime_walker *w, int level, int close)
{
    end_part(w);
    w->st.unclosed += (unsigned)(w->nbound - level - 1);
    int base = w->bound[level].depth;
    if (close) {
        /* The epilogue, like the preamble, is read as plain text. */
        w->nbound = level;
        w->depth = base;
        w->state = MS_BODY;
        mime_text_begin(w, 1, ENC_PLAIN, CS_PASS, 0);
        return;
    }
    w->nbound = level + 1;
    w->depth = base + 1;
    w->st.parts++;
    part_reset(w);
    w->state = MS_HEADER;
}

static void body_line(struct mime_walker *w, const char *p, size_t n, int start, int nl)
{
    int close;
    int level;
    if (start && w->nbound && n > 2 && p[0] == '-' && (level = match_boundary(w, p, n, &close)) >= 0) {
        on_boundary(w, level, close);
        return;
    }
    mime_text_line(w, p, n, nl);
}

static void header_line(struct mime_walker *w, const char *p, size_t n, int start, int nl)
{
    if (!start) {
        hdr_append(w, p, n);
        return;
    }
    if (n == 0) {
        end_headers(w);
        return;
    }
    if (p[0] == ' ' || p[0] == '\t') {
        if (w->hlen)
            hdr_append(w, p, n);
        return;
    }
    if (w->first_line && n >= 5 && memcmp(p, "From ", 5) == 0)
        return; /* mbox separator */
    int close, level;
    if (w->nbound && p[0] == '-' && (level = match_boundary(w, p, n, &close)) >= 0) {
        on_boundary(w, level, close);
        return;
    }
    const char *colon = memchr(p, ':', n);
    size_t nlen = colon ? (size_t)(colon - p) : 0;
    while (nlen && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
        nlen--; /* "Subject :" is old syntax, still a header */
    if (!colon || !nlen || memchr(p, ' ', nlen) || memchr(p, '\t', nlen)) {
        /* Not a header: the blank line is missing; the body starts here. */
        end_headers(w);
        body_line(w, p, n, start, nl);
        return;
    }
    hdr_flush(w);
    hdr_append(w, p, n);
}

/* One line (nl=1) or one piece of a long line (nl=0). */
static void do_line(struct mime_walker *w, const char *p, size_t n, int nl)
{
    int start = w->at_line_start;
    if (n && p[n - 1] == '\r' && nl)
        n--;
    if (w->state == MS_HEADER)
        header_line(w, p, n, start, nl);
    else
        body_line(w, p, n, start, nl);
    w->at_line_start = nl;
    w->first_line = 0;
}

void mime_feed(struct mime_walker *w, const char *data, size_t len)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) : len;
        if (w->linelen == 0 && nl && seg <= MIME_LINE_MAX) {
            do_line(w, data, seg, 1); /* whole line in the input: no copy */
            data += seg + 1;
            len -= seg + 1;
            continue;
        }
        size_t room = MIME_LINE_MAX - w->linelen;
        if (seg >= room && room < len) {
            memcpy(w->line + w->linelen, data, room);
            data += room;
            len -= room;
            if (w->at_line_start)
                w->st.long_lines++;
            do_line(w, w->line, MIME_LINE_MAX, 0);
            w->linelen = 0;
            continue;
        }
        memcpy(w->line + w->linelen, data, seg);
        w->linelen += seg;
        data += seg;
        len -= seg;
        if (nl) {
            do_line(w, w->line, w->linelen, 1);
            w->linelen = 0;
            data++;
            len--;
        }
    }
}

void mime_finish(struct mime_walker *w)
{
    if (w->linelen) {
        /* The last line had no newline: it still is a whole line. */
        do_line(w, w->line, w->linelen, 1);
        w->linelen = 0;
    }
    end_part(w);
    w->st.unclosed += (unsigned)w->nbound;
    w->nbound = 0;
    mime_flush_out(w);
}
