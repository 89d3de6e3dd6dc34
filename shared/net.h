/* net: small helpers around libuv TCP addresses shared by every listener. */
#ifndef ENVOI_NET_H
#define ENVOI_NET_H

#include <uv.h>

#define NET_IP_MAX 64

/* Resolves "HOST[:PORT]" (HOST may be a name, an IPv4/IPv6 literal or empty for
 * the wildcard) into out. Blocking: for configuration time only. 0 or -1. */
int net_resolve(const char *addr, unsigned short default_port, struct sockaddr_storage *out);
/* Initialises tcp on loop, binds it to addr and listens. 0 or a negative uv error. */
int net_listen_tcp(uv_loop_t *loop, uv_tcp_t *tcp, const char *addr, unsigned short default_port,
                   uv_connection_cb cb);
/* Writes the textual IP of a socket address (no port) into buf (NET_IP_MAX). */
const char *net_ip_string(const struct sockaddr *sa, char *buf);
/* The peer's IP of a connected TCP handle, "unknown" when unavailable. */
const char *net_peer_ip(const uv_tcp_t *tcp, char *buf);

/* 1 if ip (text) is inside cidr ("10.0.0.0/8", "::1", "192.0.2.7"). */
int net_cidr_match(const char *ip, const char *cidr);

#endif
