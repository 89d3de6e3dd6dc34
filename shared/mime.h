/* mime: a streaming, bounded MIME walker that turns a raw message into text.
 *
 * Feed the message in any pieces (mime_feed), then call mime_finish. The
 * walker follows nested multipart boundaries, message/rfc822 parts, decodes
 * base64 and quoted-printable, RFC 2047 encoded words in headers, converts
 * Latin-1 (and windows-1252) to UTF-8 (UTF-8 / US-ASCII and any other charset
 * pass through unchanged) and reduces HTML to text. It reports what it found
 * through one callback. Memory use is fixed (one walker is about 33 KB).
 *
 * Malformed input never stops the walk: a missing or wrong boundary leaves
 * the text in the enclosing part, bad base64 characters are skipped, NUL bytes
 * are ordinary bytes, over-long lines are handled in pieces, over-long headers
 * are truncated and nesting past MIME_DEPTH_MAX is read as text. The result is
 * then partial, never an error. Pure: no I/O, no allocation after mime_new. */
#ifndef ENVOI_MIME_H
#define ENVOI_MIME_H

#include <stddef.h>

enum mime_event_kind {
    MIME_SUBJECT,  /* the top-level Subject, decoded (whole, once per header) */
    MIME_HEADER,   /* any other header of the message or of a part, decoded */
    MIME_BODY,     /* a chunk of decoded body text (text/ parts and HTML-as-text) */
    MIME_FILENAME, /* an attachment file name (Content-Disposition or Content-Type name) */
};

struct mime_event {
    enum mime_event_kind kind;
    const char *name;  /* header name as written (MIME_SUBJECT, MIME_HEADER), else NULL */
    size_t name_len;
    const char *data;  /* decoded text; not NUL-terminated; may contain NUL bytes */
    size_t len;
    int depth;         /* 0 for the top-level headers and body, +1 per nested part */
};

/* Called for every piece of text; data is valid only during the call. Body
 * text of one part arrives in order, in chunks that can end anywhere. */
typedef void (*mime_event_cb)(void *arg, const struct mime_event *ev);

struct mime_walker;

/* Returns a new walker (NULL on out of memory). */
struct mime_walker *mime_new(mime_event_cb cb, void *arg);
/* Makes w ready for a new message, with the same callback. */
void mime_reset(struct mime_walker *w);
/* Walks the next len bytes of the message. */
void mime_feed(struct mime_walker *w, const char *data, size_t len);
/* Ends the message: flushes the last line, header and decoders. */
void mime_finish(struct mime_walker *w);
void mime_free(struct mime_walker *w);

/* Counters of what was malformed in the last message (for logs and tests). */
struct mime_stats {
    unsigned parts;          /* parts seen, the top-level one included */
    unsigned long_lines;     /* lines longer than MIME_LINE_MAX */
    unsigned long_headers;   /* headers truncated to MIME_HEADER_MAX */
    unsigned too_deep;       /* multiparts read as text because of MIME_DEPTH_MAX */
    unsigned bad_base64;     /* characters outside the base64 alphabet */
    unsigned unclosed;       /* multiparts whose closing boundary never came */
};
void mime_get_stats(const struct mime_walker *w, struct mime_stats *out);

/* Decodes one header value: unfolds, decodes RFC 2047 words and converts
 * Latin-1 to UTF-8. Writes at most outsz-1 bytes plus a NUL; returns the length. */
size_t mime_decode_header(const char *in, size_t len, char *out, size_t outsz);

/* Finds parameter `name` (e.g. "boundary") in a Content-Type-like value and
 * copies its unquoted value to out (NUL-terminated, truncated to outsz-1).
 * RFC 2231 `name*=charset''pct%20encoded` is decoded too. Returns the length,
 * or -1 if absent. */
int mime_param(const char *value, size_t len, const char *name, char *out, size_t outsz);

#endif
