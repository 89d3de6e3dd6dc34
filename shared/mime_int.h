/* mime_int: the walker's state, shared by mime.c (lines, headers, parts) and
 * mime_text.c (transfer decoding, charsets, HTML). Not a public API. */
#ifndef ENVOI_MIME_INT_H
#define ENVOI_MIME_INT_H

#include "mime.h"

#define MIME_LINE_MAX 8192      /* longer lines are walked in pieces of this size */
#define MIME_HEADER_MAX 8192    /* one unfolded header; the rest is dropped */
#define MIME_DEPTH_MAX 24       /* deeper multiparts are read as plain text */
#define MIME_BOUNDARY_MAX 128   /* RFC 2046 allows 70; longer ones are ignored */
#define MIME_OUT_MAX 4096       /* body text is handed out in chunks up to this */
#define MIME_VALUE_MAX 512      /* content-type / encoding / file name values */
#define MIME_HTML_TAG_MAX 2048  /* an HTML tag longer than this is taken as text */

enum mime_enc { ENC_PLAIN, ENC_QP, ENC_B64 };
enum mime_cs { CS_PASS, CS_LATIN1 };
enum mime_ctype { CT_TEXT, CT_HTML, CT_MULTIPART, CT_MESSAGE, CT_OTHER };
enum mime_state { MS_HEADER, MS_BODY };
enum html_state { HS_TEXT, HS_TAG, HS_ATTR, HS_COMMENT, HS_ENTITY };

struct mime_bound {
    char b[MIME_BOUNDARY_MAX];
    size_t len;
    int depth; /* depth of the multipart that owns it */
};

/* What the headers of the current part said, filled while they are read. */
struct mime_partinfo {
    enum mime_ctype ctype;
    enum mime_enc enc;
    enum mime_cs cs;
    int has_ctype;
    char boundary[MIME_BOUNDARY_MAX];
    size_t blen;
    char filename[MIME_VALUE_MAX];
};

/* Decoding state of the current body part. */
struct mime_text {
    int active;       /* text is produced (text/ parts, preambles) */
    enum mime_enc enc;
    enum mime_cs cs;
    int html;
    unsigned b64_acc;
    int b64_bits;
    int b64_bad;      /* this line had characters outside the alphabet */
    char qp_carry[4];
    int qp_ncarry;
    enum html_state hs;
    char tag[16];     /* lowercase name of the tag being read */
    int taglen;
    size_t tagbytes;
    char quote;       /* quote char inside a tag, 0 if none */
    int dashes;       /* '-' run inside a comment */
    int skipping;     /* inside <script> or <style> */
    char ent[12];
    int entlen;
};

struct mime_walker {
    mime_event_cb cb;
    void *arg;
    enum mime_state state;
    int at_line_start;    /* the next byte fed starts a line */
    int first_line;       /* no line seen yet (an mbox "From " line is skipped) */
    int depth;            /* part nesting for events and the depth limit */
    int nbound;
    struct mime_bound bound[MIME_DEPTH_MAX];
    struct mime_partinfo pi;
    struct mime_text tx;
    int top_headers;      /* reading the top-level message headers */
    size_t hlen;          /* bytes in hdr (the header being unfolded) */
    int htrunc;
    struct mime_stats st;
    size_t linelen;
    size_t outlen;
    char line[MIME_LINE_MAX];
    char hdr[MIME_HEADER_MAX];
    char out[MIME_OUT_MAX];
    char dec[MIME_HEADER_MAX]; /* decoded header value */
};

/* mime_text.c */
void mime_text_begin(struct mime_walker *w, int active, enum mime_enc enc, enum mime_cs cs, int html);
void mime_text_line(struct mime_walker *w, const char *p, size_t n, int newline);
void mime_text_end(struct mime_walker *w);
void mime_flush_out(struct mime_walker *w);
/* Appends one UTF-8 encoding of code point cp to out (room for 4 bytes). */
size_t mime_utf8_put(char *out, unsigned cp);
enum mime_cs mime_charset(const char *name, size_t len);

#endif
