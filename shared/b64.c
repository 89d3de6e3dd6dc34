/* b64: base64 (see b64.h). */
#include "b64.h"

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t b64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_alpha[v >> 18];
        out[o++] = b64_alpha[(v >> 12) & 63];
        out[o++] = b64_alpha[(v >> 6) & 63];
        out[o++] = b64_alpha[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        out[o++] = b64_alpha[v >> 18];
        out[o++] = b64_alpha[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long b64_decode(const char *in, size_t n, void *out, int lenient)
{
    unsigned char *o = out;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    long len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_val(c);
        if (v < 0) {
            if (lenient)
                continue;
            return -1;
        }
        if (pad && !lenient)
            return -1; /* data after padding */
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[len++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (!lenient && (bits >= 6 || (pad && bits == 0) || pad > 2))
        return -1;
    return len;
}
