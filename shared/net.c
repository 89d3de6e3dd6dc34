/* net: address helpers (see net.h). */
#include "net.h"

#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_resolve(const char *addr, unsigned short default_port, struct sockaddr_storage *out)
{
    struct conf_addr a;
    if (conf_addr_parse(addr, default_port, &a) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    if (a.host[0] == '\0' || !strcmp(a.host, "*"))
        return uv_ip4_addr("0.0.0.0", a.port, (struct sockaddr_in *)out) == 0 ? 0 : -1;
    if (uv_ip4_addr(a.host, a.port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(a.host, a.port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    /* A name: resolve synchronously (NULL callback), configuration time only. */
    uv_getaddrinfo_t req;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[8];
    snprintf(port, sizeof port, "%u", a.port);
    if (uv_getaddrinfo(uv_default_loop(), &req, NULL, a.host, port, &hints) != 0 || !req.addrinfo)
        return -1;
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

int net_listen_tcp(uv_loop_t *loop, uv_tcp_t *tcp, const char *addr, unsigned short default_port,
                   uv_connection_cb cb)
{
    struct sockaddr_storage ss;
    if (net_resolve(addr, default_port, &ss) < 0)
        return UV_EINVAL;
    int rc = uv_tcp_init(loop, tcp);
    if (rc < 0)
        return rc;
    rc = uv_tcp_bind(tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, 128, cb);
    return rc;
}

const char *net_ip_string(const struct sockaddr *sa, char *buf)
{
    buf[0] = '\0';
    if (sa->sa_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)sa, buf, NET_IP_MAX);
    else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        /* Report IPv4-mapped peers as plain IPv4 so SPF sees the real family. */
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(s6->sin6_addr.s6_addr, mapped, 12))
            snprintf(buf, NET_IP_MAX, "%u.%u.%u.%u", s6->sin6_addr.s6_addr[12], s6->sin6_addr.s6_addr[13],
                     s6->sin6_addr.s6_addr[14], s6->sin6_addr.s6_addr[15]);
        else
            uv_ip6_name(s6, buf, NET_IP_MAX);
    }
    if (!buf[0])
        snprintf(buf, NET_IP_MAX, "unknown");
    return buf;
}

const char *net_peer_ip(const uv_tcp_t *tcp, char *buf)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(buf, NET_IP_MAX, "unknown");
        return buf;
    }
    return net_ip_string((struct sockaddr *)&ss, buf);
}

int net_cidr_match(const char *ip, const char *cidr)
{
    unsigned char a[16], b[16];
    char net[NET_IP_MAX];
    const char *slash = strchr(cidr, '/');
    size_t nl = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (nl >= sizeof net)
        return 0;
    memcpy(net, cidr, nl);
    net[nl] = '\0';
    int fam = strchr(net, ':') ? AF_INET6 : AF_INET;
    if ((strchr(ip, ':') ? AF_INET6 : AF_INET) != fam || uv_inet_pton(fam, ip, a) != 0 || uv_inet_pton(fam, net, b) != 0)
        return 0;
    int max = fam == AF_INET ? 32 : 128;
    int bits = slash ? atoi(slash + 1) : max;
    if (bits < 0 || bits > max)
        return 0;
    for (int i = 0; i < bits / 8; i++)
        if (a[i] != b[i])
            return 0;
    if (bits % 8) {
        unsigned char m = (unsigned char)(0xFF << (8 - bits % 8));
        if ((a[bits / 8] & m) != (b[bits / 8] & m))
            return 0;
    }
    return 1;
}
