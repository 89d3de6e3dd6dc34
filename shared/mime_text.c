/* mime_text: the body pipeline (transfer decoding -> charset -> HTML to text
 * -> output chunks) and header helpers (RFC 2047 words, parameters).
 * Every stage keeps its state in struct mime_text so that input can stop at
 * any byte and resume with the next call. */
#include <string.h>
#include <strings.h>

#include "mime_int.h"

#define B64_CHUNK 1024 /* decoded bytes buffered before the next stage */
#define EW_MAX 512     /* an RFC 2047 word longer than this is left as is */

static const signed char b64_tab[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
}; /* value + 1, so 0 means "not in the alphabet" */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t mime_utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

enum mime_cs mime_charset(const char *name, size_t len)
{
    static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "iso_8859-1",
                                         "iso-8859-15", "windows-1252", "cp1252", "us-ascii"};
    for (size_t i = 0; i < sizeof latin1 / sizeof latin1[0]; i++)
        if (strlen(latin1[i]) == len && strncasecmp(name, latin1[i], len) == 0)
            return i + 1 == sizeof latin1 / sizeof latin1[0] ? CS_PASS : CS_LATIN1;
    return CS_PASS;
}

/* ---- output ---------------------------------------------------------- */

void mime_flush_out(struct mime_walker *w)
{
    if (!w->outlen)
        return;
    struct mime_event ev = {MIME_BODY, NULL, 0, w->out, w->outlen, w->depth};
    w->outlen = 0;
    w->cb(w->arg, &ev);
}

static void out_bytes(struct mime_walker *w, const char *p, size_t n)
{
    while (n) {
        size_t room = MIME_OUT_MAX - w->outlen;
        size_t c = n < room ? n : room;
        memcpy(w->out + w->outlen, p, c);
        w->outlen += c;
        p += c;
        n -= c;
        if (w->outlen == MIME_OUT_MAX)
            mime_flush_out(w);
    }
}

static inline void out_byte(struct mime_walker *w, char c)
{
    if (w->outlen == MIME_OUT_MAX)
        mime_flush_out(w);
    w->out[w->outlen++] = c;
}

/* ---- HTML to text ------------------------------------------------------ */

/* Tags that do not separate words: "<b>F</b>REE" reads as "FREE". */
static int inline_tag(const char *t)
{
    static const char *const tags[] = {"a", "b", "i", "u", "s", "em", "font", "span", "strong",
                                       "small", "big", "sub", "sup", "tt", "abbr", "o:p"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (strcmp(t, tags[i]) == 0)
            return 1;
    return 0;
}

static void tag_end(struct mime_walker *w)
{
    struct mime_text *t = &w->tx;
    t->tag[t->taglen] = 0;
    const char *name = t->tag[0] == '/' ? t->tag + 1 : t->tag;
    if (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)
        t->skipping = t->tag[0] != '/';
    if (!inline_tag(name))
        out_byte(w, ' ');
    t->hs = HS_TEXT;
}

static void entity_end(struct mime_walker *w, int semicolon)
{
    struct mime_text *t = &w->tx;
    static const struct { const char *n; unsigned cp; } named[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
        {"nbsp", ' '}, {"copy", 0xA9}, {"reg", 0xAE}, {"euro", 0x20AC}, {"trade", 0x2122},
    };
    unsigned cp = 0;
    t->ent[t->entlen] = 0;
    if (t->entlen > 1 && t->ent[0] == '#') {
        const char *d = t->ent + 1;
        int base = 10;
        if (*d == 'x' || *d == 'X')
            base = 16, d++;
        for (; *d && cp < 0x110000; d++) {
            int v = hexval((unsigned char)*d);
            if (v < 0 || v >= base) {
                cp = 0;
                break;
            }
            cp = cp * (unsigned)base + (unsigned)v;
        }
        if (cp >= 0x110000 || (cp >= 0xD800 && cp < 0xE000))
            cp = 0;
    } else {
        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
            if (strcmp(t->ent, named[i].n) == 0)
                cp = named[i].cp;
    }
    t->hs = HS_TEXT;
    if (t->skipping)
        return;
    if (cp) {
        char u[4];
        out_bytes(w, u, mime_utf8_put(u, cp));
        return;
    }
    out_byte(w, '&');
    out_bytes(w, t->ent, (size_t)t->entlen);
    if (semicolon)
        out_byte(w, ';');
}

static void html_bytes(struct mime_walker *w, const char *p, size_t n)
{
    struct mime_text *t = &w->tx;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (t->hs) {
        case HS_TEXT:
            if (c == '<') {
                t->hs = HS_TAG;
                t->taglen = 0;
                t->tagbytes = 0;
                t->quote = 0;
            } else if (c == '&') {
                t->hs = HS_ENTITY;
                t->entlen = 0;
            } else if (!t->skipping) {
                out_byte(w, (char)c);
            }
            break;
        case HS_TAG:
            if (t->taglen == 0 && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && c != '/' && c != '!') {
                t->hs = HS_TEXT; /* "a < b" is text */
                if (!t->skipping)
                    out_byte(w, '<');
                i--;
                break;
            }
            if (c == '>') {
                tag_end(w);
            } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                t->hs = HS_ATTR;
            } else if (t->taglen < (int)sizeof t->tag - 1) {
                t->tag[t->taglen++] = (char)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
                if (t->taglen == 3 && memcmp(t->tag, "!--", 3) == 0) {
                    t->hs = HS_COMMENT;
                    t->dashes = 0;
                }
            }
            break;
        case HS_ATTR:
            if (++t->tagbytes > MIME_HTML_TAG_MAX) {
                t->hs = HS_TEXT; /* runaway quote: give the text back */
                break;
            }
            if (t->quote) {
                if (c == (unsigned char)t->quote)
                    t->quote = 0;
            } else if (c == '"' || c == '\'') {
                t->quote = (char)c;
            } else if (c == '>') {
                tag_end(w);
            }
            break;
        case HS_COMMENT:
            if (c == '>' && t->dashes >= 2)
                t->hs = HS_TEXT;
            else
                t->dashes = c == '-' ? t->dashes + 1 : 0;
            break;
        case HS_ENTITY:
            if (t->entlen < (int)sizeof t->ent - 2 &&
                (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '#')) {
                t->ent[t->entlen++] = (char)c;
            } else {
                entity_end(w, c == ';');
                if (c != ';')
                    i--; /* read c again as text */
            }
            break;
        }
    }
}

/* ---- charset ------------------------------------------------------------ */

static void text_bytes(struct mime_walker *w, const char *p, size_t n)
{
    struct mime_text *t = &w->tx;
    void (*next)(struct mime_walker *, const char *, size_t) = t->html ? html_bytes : out_bytes;
    if (t->cs != CS_LATIN1) {
        next(w, p, n);
        return;
    }
    while (n) {
        size_t run = 0;
        while (run < n && (unsigned char)p[run] < 0x80)
            run++;
        if (run)
            next(w, p, run);
        if (run == n)
            return;
        char u[2];
        next(w, u, mime_utf8_put(u, (unsigned char)p[run]));
        p += run + 1;
        n -= run + 1;
    }
}

/* ---- transfer encodings --------------------------------------------- */

static void b64_bytes(struct mime_walker *w, const char *p, size_t n)
{
    struct mime_text *t = &w->tx;
    char buf[B64_CHUNK];
    size_t bl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int v = b64_tab[c] - 1;
        if (v < 0) {
            if (c == '=')
                t->b64_bits = 0, t->b64_acc = 0; /* padding ends a group */
            else if (c != ' ' && c != '\t' && c != '\r')
                w->st.bad_base64++, t->b64_bad = 1;
            continue;
        }
        t->b64_acc = (t->b64_acc << 6) | (unsigned)v;
        t->b64_bits += 6;
        if (t->b64_bits >= 8) {
            t->b64_bits -= 8;
            buf[bl++] = (char)((t->b64_acc >> t->b64_bits) & 0xFF);
            if (bl == sizeof buf) {
                text_bytes(w, buf, bl);
                bl = 0;
            }
        }
    }
    if (bl)
        text_bytes(w, buf, bl);
}

static void qp_bytes(struct mime_walker *w, const char *p, size_t n, int nl)
{
    struct mime_text *t = &w->tx;
    char buf[MIME_LINE_MAX + 8];
    size_t bl = 0;
    if (t->qp_ncarry) {
        /* A "=" or "=X" ended the previous piece: complete it from this one. */
        char tmp[4];
        int k = t->qp_ncarry;
        memcpy(tmp, t->qp_carry, (size_t)k);
        while (k < 3 && n)
            tmp[k++] = *p++, n--;
        t->qp_ncarry = 0;
        int h1 = k == 3 ? hexval((unsigned char)tmp[1]) : -1, h2 = k == 3 ? hexval((unsigned char)tmp[2]) : -1;
        if (h1 >= 0 && h2 >= 0) {
            char c = (char)(h1 * 16 + h2);
            text_bytes(w, &c, 1);
        } else if (k == 1 && nl && n == 0) {
            return; /* soft line break */
        } else {
            text_bytes(w, tmp, (size_t)k);
        }
    }
    if (nl)
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--; /* transport padding */
    int soft = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '=') {
            buf[bl++] = c;
            continue;
        }
        if (n - i < 3) {
            if (!nl) {
                memcpy(t->qp_carry, p + i, n - i);
                t->qp_ncarry = (int)(n - i);
                break;
            }
            if (n - i == 1) {
                soft = 1;
                break;
            }
        } else {
            int h1 = hexval((unsigned char)p[i + 1]), h2 = hexval((unsigned char)p[i + 2]);
            if (h1 >= 0 && h2 >= 0) {
                buf[bl++] = (char)(h1 * 16 + h2);
                i += 2;
                continue;
            }
        }
        buf[bl++] = c; /* a lone "=" stays as written */
    }
    if (nl && !soft)
        buf[bl++] = '\n';
    if (bl)
        text_bytes(w, buf, bl);
}

void mime_text_begin(struct mime_walker *w, int active, enum mime_enc enc, enum mime_cs cs, int html)
{
    mime_flush_out(w);
    memset(&w->tx, 0, sizeof w->tx);
    w->tx.active = active;
    w->tx.enc = enc;
    w->tx.cs = cs;
    w->tx.html = html;
}

void mime_text_line(struct mime_walker *w, const char *p, size_t n, int nl)
{
    struct mime_text *t = &w->tx;
    if (!t->active)
        return;
    switch (t->enc) {
    case ENC_PLAIN:
        text_bytes(w, p, n);
        if (nl)
            text_bytes(w, "\n", 1);
        break;
    case ENC_B64:
        b64_bytes(w, p, n);
        if (nl) {
            /* Encoders write whole 4-character groups per line. A damaged
             * line that ends inside a group would shift every later byte
             * by 2 or 4 bits and turn the rest of the part into noise:
             * drop the broken group so the next line decodes. */
            if (t->b64_bad)
                t->b64_bits = 0, t->b64_acc = 0;
            t->b64_bad = 0;
        }
        break;
    case ENC_QP:
        qp_bytes(w, p, n, nl);
        break;
    }
}

void mime_text_end(struct mime_walker *w)
{
    struct mime_text *t = &w->tx;
    if (t->active) {
        if (t->qp_ncarry)
            text_bytes(w, t->qp_carry, (size_t)t->qp_ncarry);
        if (t->html && t->hs == HS_ENTITY)
            entity_end(w, 0);
    }
    mime_flush_out(w);
    memset(t, 0, sizeof *t);
}

/* ---- headers ----------------------------------------------------------- */

struct sink {
    char *o;
    size_t n, cap;
};

static void sink_put(struct sink *s, const char *p, size_t n, enum mime_cs cs)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char u[2];
        size_t k = 1;
        u[0] = (char)c;
        if (cs == CS_LATIN1 && c >= 0x80)
            k = mime_utf8_put(u, c);
        if (s->n + k >= s->cap)
            return;
        memcpy(s->o + s->n, u, k);
        s->n += k;
    }
}

/* Decodes "=?cs?E?text?=" at in[0..len). Returns bytes consumed, or 0. */
static size_t encoded_word(const char *in, size_t len, struct sink *s)
{
    size_t lim = len < EW_MAX ? len : EW_MAX;
    const char *q1 = memchr(in + 2, '?', lim > 2 ? lim - 2 : 0);
    if (!q1 || (size_t)(q1 - in) + 3 >= lim || q1[2] != '?')
        return 0;
    char e = (char)(q1[1] | 0x20);
    if (e != 'b' && e != 'q')
        return 0;
    const char *text = q1 + 3, *end = NULL;
    for (const char *x = text; x + 1 < in + lim; x++)
        if (x[0] == '?' && x[1] == '=') {
            end = x;
            break;
        }
    if (!end)
        return 0;
    size_t cslen = (size_t)(q1 - (in + 2));
    const char *star = memchr(in + 2, '*', cslen); /* RFC 2231 language suffix */
    if (star)
        cslen = (size_t)(star - (in + 2));
    enum mime_cs cs = mime_charset(in + 2, cslen);
    char buf[EW_MAX];
    size_t bl = 0;
    if (e == 'q') {
        for (const char *x = text; x < end; x++) {
            int h1, h2;
            if (*x == '_')
                buf[bl++] = ' ';
            else if (*x == '=' && end - x >= 3 && (h1 = hexval((unsigned char)x[1])) >= 0 &&
                     (h2 = hexval((unsigned char)x[2])) >= 0)
                buf[bl++] = (char)(h1 * 16 + h2), x += 2;
            else
                buf[bl++] = *x;
        }
    } else {
        unsigned acc = 0;
        int bits = 0;
        for (const char *x = text; x < end; x++) {
            int v = b64_tab[(unsigned char)*x] - 1;
            if (v < 0)
                continue;
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                buf[bl++] = (char)((acc >> bits) & 0xFF);
            }
        }
    }
    sink_put(s, buf, bl, cs);
    return (size_t)(end + 2 - in);
}

size_t mime_decode_header(const char *in, size_t len, char *out, size_t outsz)
{
    struct sink s = {out, 0, outsz};
    size_t ew_end = (size_t)-1; /* output length right after the last encoded word */
    if (!outsz)
        return 0;
    for (size_t i = 0; i < len;) {
        char c = in[i];
        if (c == '\r' || c == '\n') {
            i++;
            continue;
        }
        if (c == '=' && i + 1 < len && in[i + 1] == '?') {
            size_t keep = s.n;
            if (ew_end != (size_t)-1)
                s.n = ew_end; /* white space between two encoded words goes */
            size_t used = encoded_word(in + i, len - i, &s);
            if (used) {
                i += used;
                ew_end = s.n;
                continue;
            }
            s.n = keep;
        }
        if (c == ' ' || c == '\t') {
            sink_put(&s, " ", 1, CS_PASS);
        } else {
            ew_end = (size_t)-1;
            sink_put(&s, &c, 1, CS_PASS);
        }
        i++;
    }
    out[s.n] = 0;
    return s.n;
}

int mime_param(const char *v, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name), i = 0;
    if (!outsz)
        return -1;
    while (i < len) {
        /* skip to the next ';' outside quotes */
        int inq = 0;
        for (; i < len && (inq || v[i] != ';'); i++) {
            if (v[i] == '"')
                inq = !inq;
            else if (v[i] == '\\' && inq)
                i++;
        }
        if (i >= len)
            break;
        i++;
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
            i++;
        size_t a = i;
        while (i < len && v[i] != '=' && v[i] != ';')
            i++;
        if (i >= len || v[i] != '=')
            continue;
        size_t alen = i - a;
        while (alen && (v[a + alen - 1] == ' ' || v[a + alen - 1] == '\t'))
            alen--;
        int ext = 0;
        if (alen == nlen + 1 && v[a + nlen] == '*')
            ext = 1;
        else if (alen == nlen + 3 && memcmp(v + a + nlen, "*0*", 3) == 0)
            ext = 1;
        else if (!(alen == nlen || (alen == nlen + 2 && memcmp(v + a + nlen, "*0", 2) == 0)))
            continue;
        if (strncasecmp(v + a, name, nlen) != 0)
            continue;
        i++;
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t n = 0;
        if (i < len && v[i] == '"') {
            for (i++; i < len && v[i] != '"'; i++) {
                if (v[i] == '\\' && i + 1 < len)
                    i++;
                if (n + 1 < outsz)
                    out[n++] = v[i];
            }
        } else {
            for (; i < len && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n'; i++)
                if (n + 1 < outsz)
                    out[n++] = v[i];
        }
        out[n] = 0;
        if (ext) {
            /* charset'language'percent-encoded: keep the encoded part, decoded */
            char *q = memchr(out, '\'', n);
            char *q2 = q ? memchr(q + 1, '\'', n - (size_t)(q + 1 - out)) : NULL;
            size_t r = q2 ? (size_t)(q2 + 1 - out) : 0, o = 0;
            for (; r < n; r++) {
                int h1, h2;
                if (out[r] == '%' && r + 2 < n && (h1 = hexval((unsigned char)out[r + 1])) >= 0 &&
                    (h2 = hexval((unsigned char)out[r + 2])) >= 0)
                    out[o++] = (char)(h1 * 16 + h2), r += 2;
                else
                    out[o++] = out[r];
            }
            out[o] = 0;
            n = o;
        }
        return (int)n;
    }
    return -1;
}
