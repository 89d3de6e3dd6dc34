/* smtp_parse: pure SMTP parsing (see smtp_parse.h). Every read checks the
 * remaining length first; nothing here allocates except through sbuf. */
#include "smtp_parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum smtp_line_rc smtp_line_next(const char *buf, size_t len, size_t max, size_t *line_len, size_t *consumed)
{
    size_t lim = len < max ? len : max;
    const char *lf = memchr(buf, '\n', lim);
    if (!lf)
        return len >= max ? SMTP_LINE_TOO_LONG : SMTP_LINE_MORE;
    size_t n = (size_t)(lf - buf);
    *consumed = n + 1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    *line_len = n;
    return SMTP_LINE_OK;
}

static const struct {
    const char *name;
    enum smtp_verb verb;
} smtp_verbs[] = {
    {"HELO", SMTP_V_HELO}, {"EHLO", SMTP_V_EHLO}, {"MAIL", SMTP_V_MAIL},         {"RCPT", SMTP_V_RCPT},
    {"DATA", SMTP_V_DATA}, {"RSET", SMTP_V_RSET}, {"NOOP", SMTP_V_NOOP},         {"QUIT", SMTP_V_QUIT},
    {"HELP", SMTP_V_HELP}, {"VRFY", SMTP_V_VRFY}, {"EXPN", SMTP_V_EXPN},         {"STARTTLS", SMTP_V_STARTTLS},
    {"AUTH", SMTP_V_AUTH}, {"BDAT", SMTP_V_BDAT},
};

const char *smtp_verb_name(enum smtp_verb v)
{
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++)
        if (smtp_verbs[i].verb == v)
            return smtp_verbs[i].name;
    return "UNKNOWN";
}

void smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
    size_t i = 0;
    out->verb = SMTP_V_UNKNOWN;
    out->arg = line;
    out->arg_len = 0;
    out->syntax_ok = 1;
    while (i < len && line[i] != ' ')
        i++;
    for (size_t k = 0; k < sizeof smtp_verbs / sizeof smtp_verbs[0]; k++)
        if (strlen(smtp_verbs[k].name) == i && !strncasecmp(line, smtp_verbs[k].name, i))
            out->verb = smtp_verbs[k].verb;
    while (i < len && line[i] == ' ')
        i++;
    const char *want = out->verb == SMTP_V_MAIL ? "FROM:" : out->verb == SMTP_V_RCPT ? "TO:" : NULL;
    if (want) {
        size_t wl = strlen(want);
        if (len - i < wl || strncasecmp(line + i, want, wl) != 0) {
            out->syntax_ok = 0;
        } else {
            i += wl;
            /* Tolerate "MAIL FROM: <a@b>" as most MTAs do. */
            while (i < len && line[i] == ' ')
                i++;
        }
    }
    size_t end = len;
    while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t'))
        end--;
    out->arg = line + i;
    out->arg_len = end - i;
}

/* ---- paths ---- */

/* strchr() would match c == 0 against the set's own terminator: NUL is
 * never atext, so test it first. */
static int smtp_atext(unsigned char c)
{
    return c != 0 && (isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || c >= 0x80);
}

static int smtp_domain_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c >= 0x80;
}

/* Validates a domain or address literal in s[0..n). */
static int smtp_domain_ok(const char *s, size_t n)
{
    if (n == 0 || n > SMTP_DOMAIN_MAX)
        return 0;
    if (s[0] == '[') {
        if (s[n - 1] != ']' || n < 3)
            return 0;
        for (size_t i = 1; i < n - 1; i++)
            if (!isalnum((unsigned char)s[i]) && (s[i] == '\0' || !strchr(".:-", s[i])))
                return 0;
        return 1;
    }
    if (s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!smtp_domain_char((unsigned char)s[i]))
            return 0;
        if (s[i] == '.' && s[i + 1] == '.')
            return 0;
    }
    return 1;
}

static enum smtp_path_rc smtp_params_parse(const char *p, size_t n, int is_mail, struct smtp_path *out)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && p[i] == ' ')
            i++;
        if (i == n)
            break;
        size_t ks = i;
        while (i < n && p[i] != ' ' && p[i] != '=')
            i++;
        size_t kl = i - ks;
        const char *v = NULL;
        size_t vl = 0;
        if (i < n && p[i] == '=') {
            v = p + ++i;
            while (i < n && p[i] != ' ')
                i++;
            vl = (size_t)(p + i - v);
        }
        const char *k = p + ks;
        if (is_mail && kl == 4 && !strncasecmp(k, "SIZE", 4)) {
            if (!v || vl == 0 || vl > 18)
                return SMTP_PATH_BAD_PARAM;
            long s = 0;
            for (size_t j = 0; j < vl; j++) {
                if (!isdigit((unsigned char)v[j]))
                    return SMTP_PATH_BAD_PARAM;
                s = s * 10 + (v[j] - '0');
            }
            out->size = s;
        } else if (is_mail && kl == 4 && !strncasecmp(k, "BODY", 4)) {
            if (v && vl == 8 && !strncasecmp(v, "8BITMIME", 8))
                out->body_8bit = 1;
            else if (!(v && vl == 4 && !strncasecmp(v, "7BIT", 4)))
                return SMTP_PATH_BAD_PARAM;
        } else if (is_mail && kl == 8 && !strncasecmp(k, "SMTPUTF8", 8) && !v) {
            out->smtputf8 = 1;
        } else if (is_mail && kl == 4 && !strncasecmp(k, "AUTH", 4) && v) {
            /* RFC 4954 AUTH=<mailbox>: accepted and ignored (we trust only our own AUTH). */
        } else {
            return SMTP_PATH_BAD_PARAM;
        }
    }
    return SMTP_PATH_OK;
}

enum smtp_path_rc smtp_path_parse(const char *arg, size_t len, int is_mail, struct smtp_path *out)
{
    memset(out, 0, sizeof *out);
    out->size = -1;
    if (len == 0 || arg[0] != '<')
        return SMTP_PATH_SYNTAX;
    /* Find the closing '>' outside a quoted string. */
    size_t i = 1, close = 0;
    int inq = 0;
    for (; i < len; i++) {
        if (inq && arg[i] == '\\' && i + 1 < len) {
            i++;
            continue;
        }
        if (arg[i] == '"')
            inq = !inq;
        else if (!inq && arg[i] == '>') {
            close = i;
            break;
        }
    }
    if (!close)
        return SMTP_PATH_SYNTAX;
    const char *p = arg + 1;
    size_t n = close - 1;
    if (n > SMTP_PATH_MAX)
        return SMTP_PATH_TOO_LONG;
    if (close + 1 < len && arg[close + 1] != ' ')
        return SMTP_PATH_SYNTAX;
    enum smtp_path_rc prc = smtp_params_parse(arg + close + 1, len - close - 1, is_mail, out);
    if (prc != SMTP_PATH_OK)
        return prc;
    if (n == 0) {
        if (!is_mail)
            return SMTP_PATH_SYNTAX;
        out->null = 1;
        return SMTP_PATH_OK;
    }
    /* Source route "@a,@b:" (RFC 5321 §4.1.2): accepted and dropped (Appendix C). */
    if (p[0] == '@') {
        const char *colon = memchr(p, ':', n);
        if (!colon)
            return SMTP_PATH_SYNTAX;
        out->had_route = 1;
        n -= (size_t)(colon + 1 - p);
        p = colon + 1;
    }
    /* Local part. */
    size_t j = 0;
    if (j < n && p[0] == '"') {
        out->quoted = 1;
        for (j = 1; j < n && p[j] != '"'; j++) {
            /* quoted-pairSMTP is "\" %d32-126 (RFC 5321 §4.1.2): never NUL or CR. */
            if (p[j] == '\\' && ++j >= n)
                return SMTP_PATH_SYNTAX;
            if ((unsigned char)p[j] < 0x20 || p[j] == 0x7f)
                return SMTP_PATH_SYNTAX;
        }
        if (j >= n)
            return SMTP_PATH_SYNTAX;
        j++;
    } else {
        for (; j < n && p[j] != '@'; j++) {
            if (p[j] == '.') {
                if (j == 0 || p[j - 1] == '.' || j + 1 >= n || p[j + 1] == '@')
                    return SMTP_PATH_SYNTAX;
            } else if (!smtp_atext((unsigned char)p[j])) {
                return SMTP_PATH_SYNTAX;
            }
        }
    }
    if (j == 0 || j > SMTP_LOCAL_MAX + (out->quoted ? 2 : 0))
        return SMTP_PATH_SYNTAX;
    if (j == n) {
        /* No domain: only <postmaster> is allowed, as a recipient (§4.5.1). */
        if (!is_mail && j == 10 && !strncasecmp(p, "postmaster", 10)) {
            memcpy(out->addr, p, n);
            out->postmaster = 1;
            return SMTP_PATH_OK;
        }
        return SMTP_PATH_SYNTAX;
    }
    if (p[j] != '@' || !smtp_domain_ok(p + j + 1, n - j - 1))
        return SMTP_PATH_SYNTAX;
    memcpy(out->addr, p, n);
    out->addr[n] = '\0';
    out->at = j;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)p[k] >= 0x80)
            out->utf8 = 1;
    return SMTP_PATH_OK;
}

/* ---- DATA ---- */

enum { D_BOL, D_MID, D_CR, D_DOT, D_DOT_CR, D_END };

void smtp_data_begin(struct smtp_data *d, size_t max)
{
    d->state = D_BOL;
    d->err = SMTP_DATA_ERR_NONE;
    d->size = 0;
    d->max = max;
}

static void smtp_data_err(struct smtp_data *d, enum smtp_data_err e)
{
    if (d->err == SMTP_DATA_ERR_NONE)
        d->err = e;
}

static void smtp_data_emit(struct smtp_data *d, struct sbuf *out, const char *p, size_t n)
{
    d->size += n;
    if (d->err != SMTP_DATA_ERR_NONE)
        return;
    if (d->size > d->max) {
        d->err = SMTP_DATA_ERR_SIZE;
        return;
    }
    if (sbuf_add(out, p, n) < 0)
        d->err = SMTP_DATA_ERR_SIZE; /* the buffer's own cap or no memory: treat as too big */
}

enum smtp_data_rc smtp_data_feed(struct smtp_data *d, const char *in, size_t len, size_t *consumed,
                                 struct sbuf *out)
{
    size_t i = 0;
    while (i < len) {
        char c = in[i];
        switch (d->state) {
        case D_BOL:
            if (c == '.') {
                d->state = D_DOT;
                i++;
                continue;
            }
            d->state = D_MID;
            continue; /* reprocess c as ordinary content */
        case D_MID: {
            /* Copy the run up to the next CR or LF in one go. */
            size_t s = i;
            while (i < len && in[i] != '\r' && in[i] != '\n')
                i++;
            if (i > s)
                smtp_data_emit(d, out, in + s, i - s);
            if (i == len)
                break;
            if (in[i] == '\r') {
                d->state = D_CR;
            } else {
                smtp_data_err(d, SMTP_DATA_ERR_BARE_LF);
                smtp_data_emit(d, out, "\n", 1);
            }
            i++;
            continue;
        }
        case D_CR:
            if (c == '\n') {
                smtp_data_emit(d, out, "\r\n", 2);
                d->state = D_BOL;
                i++;
            } else {
                smtp_data_err(d, SMTP_DATA_ERR_BARE_CR);
                smtp_data_emit(d, out, "\r", 1);
                d->state = D_MID;
            }
            continue;
        case D_DOT:
            if (c == '\r') {
                d->state = D_DOT_CR;
                i++;
            } else {
                /* A stuffed dot: drop it, the rest of the line is content. */
                d->state = D_MID;
            }
            continue;
        case D_DOT_CR:
            if (c == '\n') {
                d->state = D_END;
                *consumed = i + 1;
                return SMTP_DATA_DONE;
            }
            /* ".\rX": the dot was a stuffed one followed by a bare CR. */
            smtp_data_err(d, SMTP_DATA_ERR_BARE_CR);
            smtp_data_emit(d, out, "\r", 1);
            d->state = D_MID;
            continue;
        default:
            *consumed = i;
            return SMTP_DATA_DONE;
        }
    }
    *consumed = len;
    return SMTP_DATA_MORE;
}

int smtp_dot_stuff(const char *msg, size_t len, struct sbuf *out)
{
    int bol = 1;
    for (size_t i = 0; i < len; i++) {
        char c = msg[i];
        if (bol && c == '.' && sbuf_add(out, ".", 1) < 0)
            return -1;
        bol = 0;
        if (c == '\r' || c == '\n') {
            /* Normalise every line end to CRLF: a bare CR or LF never leaves us. */
            if (c == '\r' && i + 1 < len && msg[i + 1] == '\n')
                i++;
            if (sbuf_add(out, "\r\n", 2) < 0)
                return -1;
            bol = 1;
            continue;
        }
        size_t s = i;
        while (i + 1 < len && msg[i + 1] != '\r' && msg[i + 1] != '\n')
            i++;
        if (sbuf_add(out, msg + s, i - s + 1) < 0)
            return -1;
    }
    if (!bol && sbuf_add(out, "\r\n", 2) < 0)
        return -1;
    return sbuf_add(out, ".\r\n", 3);
}

/* ---- replies ---- */

enum smtp_reply_rc smtp_reply_parse(const char *buf, size_t len, size_t *consumed, struct smtp_reply *out)
{
    size_t off = 0;
    int lines = 0;
    out->code = 0;
    out->text_len = 0;
    out->text[0] = '\0';
    for (;;) {
        size_t ll, used;
        /* Bounded by line and by joined text, not by raw bytes, so the
         * verdict on a reply does not depend on how TCP split it. */
        enum smtp_line_rc rc = smtp_line_next(buf + off, len - off, SMTP_REPLY_MAX, &ll, &used);
        if (rc == SMTP_LINE_MORE)
            return SMTP_REPLY_MORE;
        if (rc == SMTP_LINE_TOO_LONG)
            return SMTP_REPLY_BAD;
        const char *l = buf + off;
        if (ll < 3 || !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
            !isdigit((unsigned char)l[2]) || (ll > 3 && l[3] != ' ' && l[3] != '-'))
            return SMTP_REPLY_BAD;
        int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
        if (code < 200 || code > 599 || (out->code && code != out->code))
            return SMTP_REPLY_BAD;
        out->code = code;
        size_t tl = ll > 4 ? ll - 4 : 0;
        if (out->text_len + tl + 2 >= sizeof out->text)
            return SMTP_REPLY_BAD;
        if (lines++)
            out->text[out->text_len++] = '\n';
        memcpy(out->text + out->text_len, l + 4 > l + ll ? l + ll : l + 4, tl);
        out->text_len += tl;
        out->text[out->text_len] = '\0';
        off += used;
        if (ll == 3 || l[3] == ' ') {
            *consumed = off;
            return SMTP_REPLY_OK;
        }
    }
}
