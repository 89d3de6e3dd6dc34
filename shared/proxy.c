/* proxy: PROXY protocol v1/v2 parser (see proxy.h). */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char proxy_sig2[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const unsigned char proxy_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An IPv6 source is written as text; an IPv4-mapped one (::ffff:a.b.c.d) as
 * plain IPv4, the way a direct connection's peer is written (net.c), so SPF
 * and the per-address limit see one client as one address. */
static void proxy_src6(const unsigned char *a, char *out, size_t len)
{
    if (!memcmp(a, proxy_mapped, sizeof proxy_mapped))
        inet_ntop(AF_INET, a + 12, out, (socklen_t)len);
    else
        inet_ntop(AF_INET6, a, out, (socklen_t)len);
}

static enum proxy_rc proxy_v1(const unsigned char *buf, size_t len, size_t *consumed, struct proxy_info *out)
{
    size_t lim = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
    const unsigned char *nl = memchr(buf, '\n', lim);
    if (!nl)
        return len >= PROXY_V1_MAX ? PROXY_BAD : PROXY_MORE;
    size_t n = (size_t)(nl - buf);
    if (n < 1 || buf[n - 1] != '\r')
        return PROXY_BAD;
    char line[PROXY_V1_MAX + 1];
    memcpy(line, buf, n - 1);
    line[n - 1] = '\0';
    *consumed = n + 1;
    char proto[16], src[64], dst[64];
    unsigned sport, dport;
    if (!strncmp(line, "PROXY UNKNOWN", 13)) {
        out->src[0] = '\0';
        return PROXY_OK;
    }
    if (sscanf(line, "PROXY %15s %63s %63s %u %u", proto, src, dst, &sport, &dport) != 5 || sport > 65535 ||
        dport > 65535)
        return PROXY_BAD;
    unsigned char a[16];
    int fam = !strcmp(proto, "TCP4") ? AF_INET : !strcmp(proto, "TCP6") ? AF_INET6 : 0;
    unsigned char d[16];
    if (!fam || inet_pton(fam, src, a) != 1 || inet_pton(fam, dst, d) != 1)
        return PROXY_BAD;
    if (fam == AF_INET6)
        proxy_src6(a, out->src, sizeof out->src);
    else
        snprintf(out->src, sizeof out->src, "%s", src);
    return PROXY_OK;
}

static enum proxy_rc proxy_v2(const unsigned char *buf, size_t len, size_t *consumed, struct proxy_info *out)
{
    if (len < 16)
        return PROXY_MORE;
    unsigned ver_cmd = buf[12], fam = buf[13];
    size_t hlen = (size_t)buf[14] << 8 | buf[15];
    if ((ver_cmd & 0xF0) != 0x20 || 16 + hlen > PROXY_V2_MAX)
        return PROXY_BAD;
    if (len < 16 + hlen)
        return PROXY_MORE;
    *consumed = 16 + hlen;
    out->src[0] = '\0';
    if ((ver_cmd & 0x0F) == 0x0)
        return PROXY_OK; /* LOCAL: a health check from the balancer itself */
    if ((ver_cmd & 0x0F) != 0x1)
        return PROXY_BAD;
    if ((fam >> 4) == 0x1) {
        if (hlen < 12)
            return PROXY_BAD;
        inet_ntop(AF_INET, buf + 16, out->src, sizeof out->src);
    } else if ((fam >> 4) == 0x2) {
        if (hlen < 36)
            return PROXY_BAD;
        proxy_src6(buf + 16, out->src, sizeof out->src);
    }
    return PROXY_OK;
}

enum proxy_rc proxy_parse(const unsigned char *buf, size_t len, size_t *consumed, struct proxy_info *out)
{
    size_t k = len < 12 ? len : 12;
    if (!memcmp(buf, proxy_sig2, k))
        return len < 12 ? PROXY_MORE : proxy_v2(buf, len, consumed, out);
    k = len < 6 ? len : 6;
    if (!memcmp(buf, "PROXY ", k))
        return len < 6 ? PROXY_MORE : proxy_v1(buf, len, consumed, out);
    return PROXY_BAD;
}
