/* spf_fmt: the result as header text: Received-SPF (RFC 7208 §9.1) and the
 * spf= part of Authentication-Results (RFC 8601 §2.7.2). Values come from
 * the peer (sender, HELO), so everything is quoted or escaped here. */
#include "spf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *p;
    size_t sz, n;
} sbuf;

static void sb_putc(sbuf *b, char ch)
{
    if (b->n + 1 < b->sz) {
        b->p[b->n] = ch;
        b->p[b->n + 1] = '\0';
    }
    b->n++;
}

static void sb_puts(sbuf *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

/* Comment text: parentheses and backslashes become quoted-pairs, controls go. */
static void sb_comment(sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            continue;
        if (c == '(' || c == ')' || c == '\\')
            sb_putc(b, '\\');
        sb_putc(b, (char)c);
    }
}

static int is_atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5322 dot-atom, else a quoted-string. */
static void sb_value(sbuf *b, const char *s)
{
    int atom = *s && s[0] != '.' && s[strlen(s) - 1] != '.' && !strstr(s, "..");
    for (const char *p = s; atom && *p; p++)
        atom = is_atext((unsigned char)*p) || *p == '.';
    if (atom) {
        sb_puts(b, s);
        return;
    }
    sb_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            continue;
        if (c == '"' || c == '\\')
            sb_putc(b, '\\');
        sb_putc(b, (char)c);
    }
    sb_putc(b, '"');
}

static void sb_kv(sbuf *b, const char *k, const char *v)
{
    sb_putc(b, ' ');
    sb_puts(b, k);
    sb_putc(b, '=');
    sb_value(b, v);
    sb_putc(b, ';');
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_comment(b, tmp);
}

size_t spf_format_received(const spf_ctx *c, char *buf, size_t sz)
{
    sbuf b = {buf, sz, 0};
    if (sz)
        buf[0] = '\0';
    spf_result r = spf_get_result(c);
    const char *rcv = *spf_get_receiver(c) ? spf_get_receiver(c) : "unknown";
    const char *snd = spf_get_sender(c), *ip = spf_get_ip(c);
    sb_puts(&b, "Received-SPF: ");
    sb_puts(&b, spf_result_str(r));
    sb_puts(&b, " (");
    sb_comment(&b, rcv);
    sb_puts(&b, ": ");
    switch (r) {
    case SPF_RES_PASS:
        sb_printf(&b, "domain of %s designates %s as permitted sender", snd, ip);
        break;
    case SPF_RES_FAIL:
        sb_printf(&b, "domain of %s does not designate %s as permitted sender", snd, ip);
        break;
    case SPF_RES_SOFTFAIL:
        sb_printf(&b, "domain of transitioning %s does not designate %s as permitted sender",
                  snd, ip);
        break;
    case SPF_RES_NEUTRAL:
        sb_printf(&b, "%s is neither permitted nor denied by domain of %s", ip, snd);
        break;
    case SPF_RES_NONE:
        sb_printf(&b, "domain of %s does not designate permitted sender hosts", snd);
        break;
    case SPF_RES_TEMPERROR:
        sb_printf(&b, "error in processing during lookup of %s: %s", snd, spf_get_problem(c));
        break;
    case SPF_RES_PERMERROR:
        sb_printf(&b, "permanent error in processing domain of %s: %s", spf_get_domain(c),
                  spf_get_problem(c));
        break;
    }
    sb_putc(&b, ')');
    sb_kv(&b, "client-ip", ip);
    sb_kv(&b, "envelope-from", snd);
    if (*spf_get_helo(c))
        sb_kv(&b, "helo", spf_get_helo(c));
    sb_kv(&b, "identity", spf_get_identity(c));
    sb_kv(&b, "receiver", rcv);
    if (*spf_get_mechanism(c))
        sb_kv(&b, "mechanism", spf_get_mechanism(c));
    if ((r == SPF_RES_PERMERROR || r == SPF_RES_TEMPERROR) && *spf_get_problem(c))
        sb_kv(&b, "problem", spf_get_problem(c));
    return b.n;
}

size_t spf_format_authres(const spf_ctx *c, char *buf, size_t sz)
{
    sbuf b = {buf, sz, 0};
    if (sz)
        buf[0] = '\0';
    int helo = strcmp(spf_get_identity(c), "helo") == 0;
    sb_puts(&b, "spf=");
    sb_puts(&b, spf_result_str(spf_get_result(c)));
    if (helo) {
        sb_puts(&b, " smtp.helo=");
        sb_value(&b, spf_get_helo(c));
    } else {
        sb_puts(&b, " smtp.mailfrom=");
        /* an addr-spec is allowed as the value (RFC 8601 §2.2) */
        const char *s = spf_get_sender(c);
        const char *at = strrchr(s, '@');
        int plain = at != NULL;
        for (const char *p = s; plain && *p; p++)
            plain = is_atext((unsigned char)*p) || *p == '.' || *p == '@';
        if (plain)
            sb_puts(&b, s);
        else
            sb_value(&b, s);
    }
    return b.n;
}
