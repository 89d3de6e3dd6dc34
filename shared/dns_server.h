/* dns_server: the UDP + TCP listener both DNS services share (libuv).
 *
 * Each received message becomes a struct dns_req handed to the service's
 * callback. The service answers with dns_srv_reply() (once over UDP; any
 * number of times over TCP, e.g. an AXFR) and releases the request with
 * dns_srv_done(), now or later (an UPDATE answers after its git push).
 * A TCP connection that closes while requests are pending stays allocated
 * until they are done; replies to it are dropped. */
#ifndef ENVOI_DNS_SERVER_H
#define ENVOI_DNS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DNS_SRV_TCP_CONNS_MAX 512   /* open TCP connections */
#define DNS_SRV_TCP_IDLE_MS 10000   /* idle TCP connections are closed */
#define DNS_SRV_TCP_PENDING_MAX 16  /* requests in flight per TCP connection */
#define DNS_SRV_UDP_MAX 4096        /* biggest UDP message read */

struct dns_srv;

struct dns_req {
    struct dns_srv *srv;
    int tcp;                       /* 1 over TCP */
    struct sockaddr_storage peer;  /* who asked */
    uint8_t *wire;                 /* the message (owned by the request) */
    size_t len;
    void *conn;                    /* internal */
    int pooled;                    /* internal */
    void *user;                    /* free for the service */
};

typedef void (*dns_srv_query_cb)(struct dns_req *req, void *arg);

/* Listens on addr ("HOST:PORT", default port 53) over UDP and TCP. */
int dns_srv_start(uv_loop_t *loop, const char *addr, dns_srv_query_cb cb, void *arg,
                  struct dns_srv **out);
/* Sends one response message. 0, or -1 when the peer is gone. */
int dns_srv_reply(struct dns_req *req, const uint8_t *wire, size_t len);
/* Releases req (after its last reply). */
void dns_srv_done(struct dns_req *req);
/* Closes the listeners and every connection; frees srv when all closed. */
void dns_srv_stop(struct dns_srv *srv);
/* The bound UDP port (useful with port 0). */
int dns_srv_port(const struct dns_srv *srv);

#endif
