/* spf_record: SPF record syntax (RFC 7208 §4.5, §4.6, §5, §6, §7.1).
 *
 * The whole record is checked before evaluation starts because §4.6 says a
 * syntax error anywhere is a permerror, even after a matching mechanism. */
#include "spf_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#define SPF_IP6_TEXT_MAX 45     /* longest IPv6 presentation form */
#define SPF_DIGITS_MAX 3        /* "128" is the largest CIDR length */

int spf_is_record(const char *txt, size_t len)
{
    if (len < 6 || strncasecmp(txt, "v=spf1", 6) != 0)
        return 0;
    return len == 6 || txt[6] == ' ';
}

int spf_parse_ip4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && isdigit((unsigned char)s[i]) && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        /* qnum in §5.6 forbids leading zeros ("01") */
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return -1;
        out[part] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

int spf_parse_cidr(const char *s, size_t n, int max)
{
    if (n == 0 || n > SPF_DIGITS_MAX || (n > 1 && s[0] == '0'))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

int spf_ip_match(const uint8_t *a, const uint8_t *b, int bytes, int bits)
{
    if (bits > bytes * 8)
        bits = bytes * 8;
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static int is_macro_letter(int c, int exp_mode)
{
    c = tolower(c);
    if (strchr("slodipvh", c))
        return 1;
    return exp_mode && strchr("crt", c);
}

/* Scans a macro-string; *ends_expand tells whether it ends in a macro-expand
 * (which makes a domain-spec valid without a literal top label). */
static int macro_scan(const char *s, size_t n, int exp_mode, int *ends_expand)
{
    int last = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '%') {
            if (ch > 0x7e || ch < 0x20 || (ch == ' ' && !exp_mode))
                return -1;
            last = 0;
            i++;
            continue;
        }
        if (i + 1 >= n)
            return -1;
        char nx = s[i + 1];
        if (nx == '%' || nx == '_' || nx == '-') {
            i += 2;
            last = 1;
            continue;
        }
        if (nx != '{')
            return -1;
        size_t j = i + 2;
        if (j >= n || !is_macro_letter((unsigned char)s[j], exp_mode) || s[j] == '\0')
            return -1;
        j++;
        size_t ds = j;
        unsigned long v = 0;
        while (j < n && isdigit((unsigned char)s[j])) {
            if (v < 1000)
                v = v * 10 + (unsigned long)(s[j] - '0');
            j++;
        }
        if (j > ds && v == 0) /* §7.1: the DIGIT transformer must be nonzero */
            return -1;
        if (j < n && (s[j] == 'r' || s[j] == 'R'))
            j++;
        while (j < n && s[j] != '\0' && strchr(".-+,/_=", s[j]))
            j++;
        if (j >= n || s[j] != '}')
            return -1;
        i = j + 1;
        last = 1;
    }
    if (ends_expand)
        *ends_expand = last;
    return 0;
}

int spf_macro_check(const char *s, size_t n, int exp_mode)
{
    return macro_scan(s, n, exp_mode, NULL);
}

static int is_toplabel(const char *s, size_t n)
{
    int alpha = 0, dash = 0;
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalpha(c))
            alpha = 1;
        else if (c == '-')
            dash = 1;
        else if (!isdigit(c))
            return 0;
    }
    /* an all-numeric top label is an IP address typed where a name belongs */
    return alpha || dash;
}

int spf_domain_spec_check(const char *s, size_t n)
{
    int ends_expand = 0;
    if (n == 0 || macro_scan(s, n, 0, &ends_expand) != 0)
        return -1;
    if (ends_expand)
        return 0;
    if (s[n - 1] == '.')
        n--;
    size_t dot = n;
    while (dot > 0 && s[dot - 1] != '.')
        dot--;
    if (dot == 0) /* a lone top label is not a domain */
        return -1;
    return is_toplabel(s + dot, n - dot) ? 0 : -1;
}

/* Parses a whole dual-cidr-length ("/24", "//64", "/24//64"). */
static int parse_dual_cidr(const char *s, size_t n, spf_term *t)
{
    size_t i = 0;
    if (i < n && s[i] == '/' && !(i + 1 < n && s[i + 1] == '/')) {
        size_t st = ++i;
        while (i < n && s[i] != '/')
            i++;
        if ((t->cidr4 = (int16_t)spf_parse_cidr(s + st, i - st, 32)) < 0)
            return -1;
    }
    if (i < n) {
        if (n - i < 3 || s[i] != '/' || s[i + 1] != '/')
            return -1;
        if ((t->cidr6 = (int16_t)spf_parse_cidr(s + i + 2, n - i - 2, 128)) < 0)
            return -1;
    }
    return 0;
}

/* a and mx: [":" domain-spec] [dual-cidr-length]; the CIDR is peeled off the
 * end so that a domain-spec may itself contain '/' ("a:foo:bar/baz.test"). */
static int parse_domain_cidr(const char *rec, size_t off, size_t n, spf_term *t, int cidr_ok)
{
    const char *s = rec + off;
    if (n == 0)
        return 0;
    if (s[0] == '/')
        return cidr_ok ? parse_dual_cidr(s, n, t) : -1;
    if (s[0] != ':')
        return -1;
    s++, off++, n--;
    if (cidr_ok) {
        size_t k = n;
        while (k > 0 && isdigit((unsigned char)s[k - 1]))
            k--;
        if (k < n && k >= 2 && s[k - 1] == '/' && s[k - 2] == '/') {
            if ((t->cidr6 = (int16_t)spf_parse_cidr(s + k, n - k, 128)) < 0)
                return -1;
            n = k - 2;
        }
        k = n;
        while (k > 0 && isdigit((unsigned char)s[k - 1]))
            k--;
        if (k < n && k >= 1 && s[k - 1] == '/') {
            if ((t->cidr4 = (int16_t)spf_parse_cidr(s + k, n - k, 32)) < 0)
                return -1;
            n = k - 1;
        }
    }
    if (spf_domain_spec_check(s, n) != 0)
        return -1;
    t->aoff = (uint16_t)off;
    t->alen = (uint16_t)n;
    return 0;
}

static int parse_ipnet(const char *rec, size_t off, size_t n, spf_term *t, int v6)
{
    const char *s = rec + off;
    if (n < 2 || s[0] != ':')
        return -1;
    s++, n--;
    size_t a = 0;
    while (a < n && s[a] != '/')
        a++;
    if (a < n) {
        int c = spf_parse_cidr(s + a + 1, n - a - 1, v6 ? 128 : 32);
        if (c < 0)
            return -1;
        if (v6)
            t->cidr6 = (int16_t)c;
        else
            t->cidr4 = (int16_t)c;
    }
    if (!v6)
        return spf_parse_ip4(s, a, t->ip);
    char buf[SPF_IP6_TEXT_MAX + 1];
    if (a == 0 || a > SPF_IP6_TEXT_MAX)
        return -1;
    memcpy(buf, s, a);
    buf[a] = '\0';
    return inet_pton(AF_INET6, buf, t->ip) == 1 ? 0 : -1;
}

static const struct {
    const char *name;
    spf_kind kind;
} spf_mechs[] = {
    {"all", SPF_K_ALL},   {"include", SPF_K_INCLUDE}, {"a", SPF_K_A},
    {"mx", SPF_K_MX},     {"ptr", SPF_K_PTR},         {"ip4", SPF_K_IP4},
    {"ip6", SPF_K_IP6},   {"exists", SPF_K_EXISTS},
};

static int parse_mechanism(const char *rec, size_t off, size_t n, spf_term *t, const char **err)
{
    const char *s = rec + off;
    size_t i = 0;
    t->qual = '+';
    if (n > 0 && strchr("+-~?", s[0]) && s[0] != '\0')
        t->qual = s[i++];
    size_t ns = i;
    while (i < n && s[i] != ':' && s[i] != '/')
        i++;
    size_t nl = i - ns;
    int kind = -1;
    for (size_t k = 0; k < sizeof spf_mechs / sizeof spf_mechs[0]; k++)
        if (strlen(spf_mechs[k].name) == nl && strncasecmp(spf_mechs[k].name, s + ns, nl) == 0)
            kind = (int)spf_mechs[k].kind;
    if (kind < 0) {
        *err = "unknown mechanism";
        return -1;
    }
    t->kind = (uint8_t)kind;
    size_t ro = off + i, rn = n - i;
    int rc = 0;
    switch (kind) {
    case SPF_K_ALL:
        rc = rn == 0 ? 0 : -1;
        break;
    case SPF_K_INCLUDE:
    case SPF_K_EXISTS:
        rc = (rn >= 2 && rec[ro] == ':') ? parse_domain_cidr(rec, ro, rn, t, 0) : -1;
        break;
    case SPF_K_A:
    case SPF_K_MX:
        rc = parse_domain_cidr(rec, ro, rn, t, 1);
        break;
    case SPF_K_PTR:
        rc = parse_domain_cidr(rec, ro, rn, t, 0);
        if (rc == 0 && rn > 0 && t->alen == 0)
            rc = -1;
        break;
    case SPF_K_IP4:
    case SPF_K_IP6:
        rc = parse_ipnet(rec, ro, rn, t, kind == SPF_K_IP6);
        break;
    }
    if (rc != 0)
        *err = "bad mechanism syntax";
    return rc;
}

static int parse_modifier(const char *rec, size_t off, size_t n, size_t nl, spf_record *r,
                          spf_term *t, const char **err)
{
    const char *s = rec + off;
    size_t vo = off + nl + 1, vn = n - nl - 1;
    if (nl == 8 && strncasecmp(s, "redirect", 8) == 0)
        t->kind = SPF_K_REDIRECT;
    else if (nl == 3 && strncasecmp(s, "exp", 3) == 0)
        t->kind = SPF_K_EXP;
    else
        t->kind = SPF_K_UNKNOWN_MOD;
    t->aoff = (uint16_t)vo;
    t->alen = (uint16_t)vn;
    if (t->kind == SPF_K_UNKNOWN_MOD) {
        /* never expanded, so the letters of exp text (c, r, t) are no error here */
        if (spf_macro_check(rec + vo, vn, 1) != 0) {
            *err = "bad macro in modifier";
            return -1;
        }
        return 0;
    }
    int *slot = t->kind == SPF_K_REDIRECT ? &r->redirect : &r->exp;
    if (*slot >= 0) { /* §6: each may appear once */
        *err = "duplicate modifier";
        return -1;
    }
    if (spf_domain_spec_check(rec + vo, vn) != 0) {
        *err = "bad domain-spec in modifier";
        return -1;
    }
    *slot = r->nterms;
    return 0;
}

int spf_record_parse(const char *txt, size_t len, spf_record *r, const char **err)
{
    const char *dummy; /* not static: parsers run on several threads */
    if (!err)
        err = &dummy;
    memset(r, 0, offsetof(spf_record, terms));
    r->text = txt;
    r->len = len;
    r->redirect = r->exp = -1;
    if (len > SPF_MAX_RECORD) {
        *err = "record too long";
        return -1;
    }
    if (!spf_is_record(txt, len)) {
        *err = "not an SPF record";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)txt[i];
        if (c < 0x20 || c > 0x7e) { /* §3.1: 7-bit ASCII, terms split by SP only */
            *err = "non-ASCII or control character in record";
            return -1;
        }
    }
    size_t i = 6;
    while (i < len) {
        while (i < len && txt[i] == ' ')
            i++;
        if (i >= len)
            break;
        size_t st = i;
        while (i < len && txt[i] != ' ')
            i++;
        if (r->nterms >= SPF_MAX_TERMS) {
            *err = "too many terms";
            return -1;
        }
        spf_term *t = &r->terms[r->nterms];
        memset(t, 0, sizeof *t);
        t->toff = (uint16_t)st;
        t->tlen = (uint16_t)(i - st);
        t->cidr4 = 32;
        t->cidr6 = 128;
        size_t nl = 0;
        if (isalpha((unsigned char)txt[st]))
            while (st + nl < i && (isalnum((unsigned char)txt[st + nl]) ||
                                   strchr("-_.", txt[st + nl])))
                nl++;
        int rc = (nl > 0 && st + nl < i && txt[st + nl] == '=')
                     ? parse_modifier(txt, st, i - st, nl, r, t, err)
                     : parse_mechanism(txt, st, i - st, t, err);
        if (rc != 0)
            return -1;
        r->nterms++;
    }
    return 0;
}
