/* hdr: header-section helpers over a raw RFC 5322 message (CRLF or LF),
 * tolerant of malformed input: the header section ends at the first empty
 * line; malformed lines before it are passed through untouched. */
#ifndef ENVOI_HDR_H
#define ENVOI_HDR_H

#include <stddef.h>

/* Return 1 to drop the field. name excludes the colon; value includes
 * continuation lines and the final line end. */
typedef int (*hdr_drop_fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);

/* Copies msg with prepend (may be NULL) on top and every header field for
 * which drop() says 1 removed. Returns a malloc'd buffer, its length in *outlen. */
char *hdr_filter(const char *msg, size_t len, const char *prepend, hdr_drop_fn drop, void *arg, size_t *outlen);
/* 1 if the field name equals want (case-insensitive). */
int hdr_name_is(const char *name, size_t nlen, const char *want);
/* The header line at p: its length with continuation lines, 0 at the empty
 * line ending the header section (or n == 0). For a field, *nlen is the
 * name's length and *voff where the value starts; for a malformed line both
 * are 0 and the length is that one line's. */
size_t hdr_next(const char *p, size_t n, size_t *nlen, size_t *voff);

/* Comments and quoted strings of a structured field value (RFC 5322 3.2.2,
 * 3.2.4), one character at a time: returns 1 when the character at *pp is
 * outside both and so counts; steps *pp over the second byte of a quoted
 * pair. Start with a zeroed struct. */
struct hdr_lex {
    int depth, quoted;
};
int hdr_lex_visible(struct hdr_lex *l, const char **pp, const char *end);

#endif
