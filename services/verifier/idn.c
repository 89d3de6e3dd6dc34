/* verifier idn: internationalized domain names to A-labels for DNS.
 *
 * With SMTPUTF8 a sender, a HELO name or a From: address may carry U-labels
 * ("bücher.test"); SPF and DMARC records are published under the A-label
 * ("xn--bcher-kva.test"), and RFC 8616 has SPF and DMARC look them up there.
 * Each non-ASCII label is Punycode-encoded (RFC 3492) here. Only ASCII
 * letters are lower-cased: a U-label is valid only in its IDNA2008 form
 * (RFC 5890), which a conforming sender uses; anything else simply finds no
 * record, as it would anywhere else. Pure: no I/O. */
#include "verifier.h"

#include <stdint.h>
#include <string.h>

#define IDN_LABEL_MAX 63
#define IDN_CP_MAX 63 /* code points in one label; more cannot fit 63 octets */
/* RFC 3492 §5 parameters for Punycode */
#define PC_BASE 36
#define PC_TMIN 1
#define PC_TMAX 26
#define PC_SKEW 38
#define PC_DAMP 700
#define PC_BIAS 72
#define PC_N 128

/* One UTF-8 sequence at s (n bytes left) -> code point; bytes used, or 0 if
 * malformed (overlong, surrogate, beyond U+10FFFF, cut short). */
static size_t idn_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0                   ? 4
                                                         : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min[len - 1] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static uint32_t idn_adapt(uint32_t delta, uint32_t points, int first)
{
    delta = first ? delta / PC_DAMP : delta / 2;
    delta += delta / points;
    uint32_t k = 0;
    while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
        delta /= PC_BASE - PC_TMIN;
        k += PC_BASE;
    }
    return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/* Punycode of cps[0..n) appended to out (at *o, capacity cap). -1 if it
 * does not fit. */
static int idn_punycode(const uint32_t *cps, size_t n, char *out, size_t *o, size_t cap)
{
    size_t basic = 0;
    for (size_t i = 0; i < n; i++)
        if (cps[i] < 0x80) {
            if (*o + 1 >= cap)
                return -1;
            out[(*o)++] = (char)cps[i];
            basic++;
        }
    if (basic) {
        if (*o + 1 >= cap)
            return -1;
        out[(*o)++] = '-';
    }
    uint32_t cur = PC_N, delta = 0, bias = PC_BIAS;
    for (size_t h = basic; h < n;) {
        uint32_t m = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
            if (cps[i] >= cur && cps[i] < m)
                m = cps[i];
        /* at most 63 code points below U+110000: no overflow in 32 bits */
        delta += (m - cur) * (uint32_t)(h + 1);
        cur = m;
        for (size_t i = 0; i < n; i++) {
            if (cps[i] < cur)
                delta++;
            if (cps[i] != cur)
                continue;
            uint32_t q = delta;
            for (uint32_t k = PC_BASE;; k += PC_BASE) {
                uint32_t t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
                if (q < t)
                    break;
                uint32_t d = t + (q - t) % (PC_BASE - t);
                if (*o + 1 >= cap)
                    return -1;
                out[(*o)++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
                q = (q - t) / (PC_BASE - t);
            }
            if (*o + 1 >= cap)
                return -1;
            out[(*o)++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
            bias = idn_adapt(delta, (uint32_t)(h + 1), h == basic);
            delta = 0;
            h++;
        }
        delta++;
        cur++;
    }
    return 0;
}

int verifier_alabels(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in), o = 0, i = 0;
    if (outlen == 0)
        return -1;
    while (i <= n) {
        size_t e = i;
        while (e < n && in[e] != '.')
            e++;
        uint32_t cps[IDN_CP_MAX];
        size_t ncp = 0;
        int ascii = 1;
        for (size_t k = i; k < e;) {
            uint32_t cp;
            size_t used = idn_utf8((const unsigned char *)in + k, e - k, &cp);
            if (used == 0 || ncp == IDN_CP_MAX)
                return -1;
            if (cp >= 'A' && cp <= 'Z')
                cp += 'a' - 'A';
            ascii &= cp < 0x80;
            cps[ncp++] = cp;
            k += used;
        }
        size_t start = o;
        if (!ascii) {
            if (o + 4 >= outlen)
                return -1;
            memcpy(out + o, "xn--", 4);
            o += 4;
            if (idn_punycode(cps, ncp, out, &o, outlen) < 0)
                return -1;
        } else {
            for (size_t k = 0; k < ncp; k++) {
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = (char)cps[k];
            }
        }
        if (o - start > IDN_LABEL_MAX)
            return -1;
        if (e < n) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '.';
        }
        i = e + 1;
    }
    out[o] = '\0';
    return 0;
}
