/* smtp_parse: pure, bounded, incremental SMTP parsing (RFC 5321), both sides.
 * No I/O: callers feed bytes and act on the results. Used by smtp_server.c,
 * smtp_client.c, unit tests and fuzz targets. */
#ifndef ENVOI_SMTP_PARSE_H
#define ENVOI_SMTP_PARSE_H

#include <stddef.h>

#include "sbuf.h"

#define SMTP_LINE_MAX 1000   /* command line incl. CRLF (RFC 5321 §4.5.3.1.4) */
#define SMTP_PATH_MAX 256    /* forward/reverse path (§4.5.3.1.3) */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_REPLY_MAX 8192  /* a whole (multi-line) reply */

/* ---- command lines ---- */

enum smtp_line_rc { SMTP_LINE_MORE = 0, SMTP_LINE_OK = 1, SMTP_LINE_TOO_LONG = -1 };

/* Finds the first line in buf[0..len). On SMTP_LINE_OK, *line_len is its length
 * without the terminator (CRLF, or a lone LF, which commands tolerate) and
 * *consumed includes the terminator. SMTP_LINE_TOO_LONG when no terminator is
 * within max bytes (the caller replies 500 and ends the session). */
enum smtp_line_rc smtp_line_next(const char *buf, size_t len, size_t max, size_t *line_len, size_t *consumed);

enum smtp_verb {
    SMTP_V_UNKNOWN, SMTP_V_HELO, SMTP_V_EHLO, SMTP_V_MAIL, SMTP_V_RCPT, SMTP_V_DATA, SMTP_V_RSET,
    SMTP_V_NOOP, SMTP_V_QUIT, SMTP_V_HELP, SMTP_V_VRFY, SMTP_V_EXPN, SMTP_V_STARTTLS, SMTP_V_AUTH,
    SMTP_V_BDAT,
};

struct smtp_cmd {
    enum smtp_verb verb;
    const char *arg;   /* points into the line; after "MAIL FROM:"/"RCPT TO:" for those */
    size_t arg_len;    /* trailing spaces trimmed */
    int syntax_ok;     /* 0 when MAIL/RCPT lack "FROM:"/"TO:" */
};

/* Splits a command line (without CRLF) into verb and argument. Case-insensitive. */
void smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out);
/* The verb's name for logs ("MAIL"); "UNKNOWN" for SMTP_V_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb v);

/* ---- paths and parameters of MAIL / RCPT ---- */

struct smtp_path {
    char addr[SMTP_PATH_MAX + 1]; /* "local@domain" as sent (quotes kept), "" for <> */
    size_t at;                    /* index of the '@' separating the domain; 0 if none */
    int null;                     /* <> */
    int had_route;                /* a source route (@a,@b:) was present and dropped */
    int quoted;                   /* the local part was a quoted-string */
    int utf8;                     /* non-ASCII octets present */
    int postmaster;               /* bare <postmaster> (RCPT only, RFC 5321 §4.1.1.3) */
    /* ESMTP parameters */
    long size;                    /* SIZE=, -1 when absent */
    int body_8bit;                /* BODY=8BITMIME */
    int smtputf8;                 /* SMTPUTF8 */
};

enum smtp_path_rc {
    SMTP_PATH_OK = 0,
    SMTP_PATH_SYNTAX = -1,     /* 501 5.1.7 / 5.1.3 */
    SMTP_PATH_TOO_LONG = -2,   /* 501 5.1.7 (or 552? no: path length is syntax) */
    SMTP_PATH_BAD_PARAM = -3,  /* 555 5.5.4 unknown or malformed parameter */
};

/* Parses "<path> [params]" as found after "MAIL FROM:" (is_mail=1) or "RCPT TO:".
 * Accepts the RFC 5321 grammar (dot-atom or quoted local part, domain or
 * address literal, optional source route which is dropped). */
enum smtp_path_rc smtp_path_parse(const char *arg, size_t len, int is_mail, struct smtp_path *out);

/* ---- DATA ---- */

enum smtp_data_err {
    SMTP_DATA_ERR_NONE = 0,
    SMTP_DATA_ERR_BARE_LF,   /* a LF not preceded by CR: smuggling or a broken client */
    SMTP_DATA_ERR_BARE_CR,   /* a CR not followed by LF */
    SMTP_DATA_ERR_SIZE,      /* content passed the limit */
};

struct smtp_data {
    int state;
    enum smtp_data_err err;  /* first error seen; the content is then discarded */
    size_t size;             /* content bytes so far (counted even after an error) */
    size_t max;              /* limit on content bytes */
};

enum smtp_data_rc { SMTP_DATA_MORE = 0, SMTP_DATA_DONE = 1 };

/* Starts a DATA phase whose content may not exceed max bytes. */
void smtp_data_begin(struct smtp_data *d, size_t max);
/* Feeds bytes; appends dot-unstuffed content (CRLF line ends, without the final
 * ".") to out while no error is set. Returns SMTP_DATA_DONE once CRLF.CRLF has
 * been read, with *consumed bytes used (the rest belongs to the next command).
 * Only CRLF "." CRLF ends the data: "\n.\n" and the like are content (and set
 * an error), so a smuggled message is never cut out of this one. */
enum smtp_data_rc smtp_data_feed(struct smtp_data *d, const char *in, size_t len, size_t *consumed,
                                 struct sbuf *out);

/* Dot-stuffs msg for sending: every line starting with "." gets another; bare
 * LF and CR are turned into CRLF; a final CRLF is added if missing; then ".\r\n". */
int smtp_dot_stuff(const char *msg, size_t len, struct sbuf *out);

/* ---- replies (client side) ---- */

struct smtp_reply {
    int code;                      /* 3 digits */
    char text[SMTP_REPLY_MAX];     /* all lines' text joined with "\n", no codes */
    size_t text_len;
};

enum smtp_reply_rc { SMTP_REPLY_MORE = 0, SMTP_REPLY_OK = 1, SMTP_REPLY_BAD = -1 };

/* Parses one whole reply (possibly multi-line "250-...") at the start of buf. */
enum smtp_reply_rc smtp_reply_parse(const char *buf, size_t len, size_t *consumed, struct smtp_reply *out);

#endif
