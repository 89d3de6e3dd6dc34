/* dns_server: UDP + TCP DNS listener on libuv. See dns_server.h.
 * TCP framing is RFC 1035 4.2.2 (two-byte length); a connection reads at
 * most one whole message ahead and stops reading while too many of its
 * requests are in flight, so one client cannot queue unbounded work. */
#include "dns_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "net.h"

#define DNS_SRV_MMSG 16 /* datagrams per recvmmsg (libuv takes at most 20) and per sendmmsg */
#define DNS_SRV_UDP_OUT_MAX 4096  /* replies batched (bigger ones go alone) */
#define DNS_SRV_UDP_QUEUED_MAX 1024 /* replies waiting for a full socket buffer */
#if defined(__SANITIZE_ADDRESS__)
#define DNS_SRV_REQ_POOL 0 /* under ASan every request is its own block: use after done is caught */
#else
#define DNS_SRV_REQ_POOL 64       /* UDP request blocks kept for reuse */
#endif
#define DNS_SRV_REQ_SMALL 512     /* message room in a reusable block */
/* UDP receive buffer: a client's opening burst (dnsperf sends its 200
 * outstanding queries at once) overflowed the 208 KiB default and lost a few
 * queries per run; NSD asks for 1 MiB too. */
#define DNS_SRV_UDP_RCVBUF (1 << 20)

struct tconn {
    uv_tcp_t h;
    uv_timer_t idle;
    struct dns_srv *srv;
    struct tconn *prev, *next;
    int handles;    /* open uv handles (tcp + timer) */
    int pending;    /* requests not yet done */
    int closed;
    int reading;
    size_t have;
    uint8_t buf[2 + 65535];
};

struct dns_srv {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_tcp_t tcp;
    dns_srv_query_cb cb;
    void *arg;
    int handles; /* open listener handles */
    int nconns;
    int udp_pending; /* UDP requests not yet done */
    int stopping;
    struct tconn *conns;
    /* Freed UDP requests with DNS_SRV_REQ_SMALL bytes of room: a batch
     * allocates and frees more blocks than malloc's per-size cache holds. */
    struct dns_req *pool;
    int npool;
    /* Room for DNS_SRV_MMSG datagrams of 64 KiB: libuv then reads a batch
     * per system call (recvmmsg). */
    uint8_t rbuf[DNS_SRV_MMSG * 65536];
    /* Replies made while a received batch is handled leave together in one
     * sendmmsg at its end (libuv has no batched send). */
    int in_batch;
    int nout;
    struct mmsghdr out[DNS_SRV_MMSG];
    struct iovec iov[DNS_SRV_MMSG];
    struct sockaddr_storage to[DNS_SRV_MMSG];
    uint8_t obuf[DNS_SRV_MMSG][DNS_SRV_UDP_OUT_MAX];
};

struct uwrite {
    uv_udp_send_t s;
    uv_buf_t b;
    uint8_t data[];
};

struct twrite {
    uv_write_t w;
    uv_buf_t b;
    uint8_t data[];
};

static void srv_maybe_free(struct dns_srv *s)
{
    if (s->stopping && s->handles == 0 && s->nconns == 0 && s->udp_pending == 0) {
        while (s->pool) {
            struct dns_req *r = s->pool;
            s->pool = r->user;
            free(r);
        }
        free(s);
    }
}

static void conn_maybe_free(struct tconn *c)
{
    if (!c->closed || c->handles > 0 || c->pending > 0)
        return;
    struct dns_srv *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c);
    srv_maybe_free(s);
}

static void conn_handle_close_cb(uv_handle_t *h)
{
    struct tconn *c = h->data;
    c->handles--;
    conn_maybe_free(c);
}

static void conn_close(struct tconn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    uv_close((uv_handle_t *)&c->h, conn_handle_close_cb);
    uv_close((uv_handle_t *)&c->idle, conn_handle_close_cb);
}

static void conn_idle_cb(uv_timer_t *t)
{
    struct tconn *c = t->data;
    if (c->pending == 0)
        conn_close(c);
    else
        uv_timer_again(&c->idle);
}

static struct dns_req *req_new(struct dns_srv *s, const uint8_t *data, size_t len, int pooled)
{
    struct dns_req *r;
    if (pooled && s->pool) {
        r = s->pool;
        s->pool = r->user;
        s->npool--;
    } else {
        r = malloc(sizeof *r + (pooled ? DNS_SRV_REQ_SMALL : len));
        if (!r)
            return NULL;
    }
    memset(r, 0, sizeof *r);
    r->srv = s;
    r->pooled = pooled;
    r->wire = (uint8_t *)(r + 1);
    memcpy(r->wire, data, len);
    r->len = len;
    return r;
}

static void tcp_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tconn *c = h->data;
    buf->base = (char *)c->buf + c->have;
    buf->len = sizeof c->buf - c->have;
}

static void conn_pause(struct tconn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->h);
        c->reading = 0;
    }
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void conn_resume(struct tconn *c)
{
    if (!c->reading && !c->closed && c->pending < DNS_SRV_TCP_PENDING_MAX) {
        if (uv_read_start((uv_stream_t *)&c->h, tcp_alloc_cb, conn_read_cb) == 0)
            c->reading = 1;
    }
}

/* Hands every complete message in the buffer to the service. */
static void conn_dispatch(struct tconn *c)
{
    while (!c->closed && c->have >= 2 && c->pending < DNS_SRV_TCP_PENDING_MAX) {
        size_t mlen = ((size_t)c->buf[0] << 8) | c->buf[1];
        if (mlen == 0) {
            conn_close(c);
            return;
        }
        if (c->have < 2 + mlen)
            break;
        struct dns_req *r = req_new(c->srv, c->buf + 2, mlen, 0);
        memmove(c->buf, c->buf + 2 + mlen, c->have - 2 - mlen);
        c->have -= 2 + mlen;
        if (!r) {
            conn_close(c);
            return;
        }
        r->tcp = 1;
        r->conn = c;
        int nl = sizeof r->peer;
        uv_tcp_getpeername(&c->h, (struct sockaddr *)&r->peer, &nl);
        c->pending++;
        uv_timer_again(&c->idle);
        c->srv->cb(r, c->srv->arg);
    }
    if (c->pending >= DNS_SRV_TCP_PENDING_MAX)
        conn_pause(c);
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct tconn *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->have += (size_t)nread;
    conn_dispatch(c);
}

static void tcp_accept_cb(uv_stream_t *ls, int status)
{
    struct dns_srv *s = ls->data;
    if (status < 0 || s->stopping)
        return;
    struct tconn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = s;
    uv_tcp_init(s->loop, &c->h);
    uv_timer_init(s->loop, &c->idle);
    c->h.data = c->idle.data = c;
    c->handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(ls, (uv_stream_t *)&c->h) < 0 || s->nconns > DNS_SRV_TCP_CONNS_MAX) {
        conn_close(c); /* over the limit: the client retries elsewhere */
        return;
    }
    uv_timer_start(&c->idle, conn_idle_cb, DNS_SRV_TCP_IDLE_MS, DNS_SRV_TCP_IDLE_MS);
    conn_resume(c);
    if (!c->reading)
        conn_close(c);
}

static void udp_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct dns_srv *s = h->data;
    buf->base = (char *)s->rbuf;
    buf->len = sizeof s->rbuf;
}

static void udp_send_cb(uv_udp_send_t *sr, int status)
{
    free(sr->data);
}

/* One datagram now, or queued (copied) until the socket can take it when
 * its buffer is full; beyond DNS_SRV_UDP_QUEUED_MAX waiting replies it is
 * dropped, as a router would, rather than queue without bound. */
static int udp_send_one(struct dns_srv *s, const uint8_t *wire, size_t len, const struct sockaddr *to)
{
    uv_buf_t b = uv_buf_init((char *)wire, (unsigned)len);
    int rc = uv_udp_try_send(&s->udp, &b, 1, to);
    if (rc >= 0)
        return 0;
    if ((rc != UV_EAGAIN && rc != UV_ENOSYS && rc != UV_ENOBUFS) ||
        uv_udp_get_send_queue_count(&s->udp) >= DNS_SRV_UDP_QUEUED_MAX)
        return -1;
    struct uwrite *w = malloc(sizeof *w + len);
    if (!w)
        return -1;
    memcpy(w->data, wire, len);
    w->b = uv_buf_init((char *)w->data, (unsigned)len);
    w->s.data = w;
    if (uv_udp_send(&w->s, &s->udp, &w->b, 1, to, udp_send_cb) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Sends the replies collected during a received batch in one sendmmsg.
 * sendmmsg stops at the first message that fails: that one goes through
 * udp_send_one (which waits for room on EAGAIN); after a full buffer all
 * the rest do, after an error of that one message (a peer the kernel
 * refuses) the others are tried again together. */
static void udp_flush(struct dns_srv *s)
{
    uv_os_fd_t fd;
    int sent = 0;
    if (s->nout && uv_fileno((uv_handle_t *)&s->udp, &fd) == 0) {
        while (sent < s->nout) {
            int n = sendmmsg(fd, s->out + sent, (unsigned)(s->nout - sent), MSG_DONTWAIT);
            if (n > 0) {
                sent += n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            int full = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS);
            do {
                udp_send_one(s, s->obuf[sent], s->iov[sent].iov_len, (const struct sockaddr *)&s->to[sent]);
                sent++;
            } while (full && sent < s->nout);
        }
    }
    s->nout = 0;
}

static void udp_recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    struct dns_srv *s = u->data;
    if (flags & UV_UDP_MMSG_FREE) { /* the end of a batch */
        s->in_batch = 0;
        udp_flush(s);
        return;
    }
    if (flags & UV_UDP_MMSG_CHUNK)
        s->in_batch = 1;
    if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL) || s->stopping || (size_t)nread > DNS_SRV_UDP_MAX)
        return; /* (nread 0 with UV_UDP_MMSG_FREE ends a batch: the buffer is ours) */
    struct dns_req *r = req_new(s, (const uint8_t *)buf->base, (size_t)nread, (size_t)nread <= DNS_SRV_REQ_SMALL);
    if (!r)
        return;
    memcpy(&r->peer, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    s->udp_pending++;
    s->cb(r, s->arg);
}

static void tcp_write_cb(uv_write_t *w, int status)
{
    free(w->data);
}

int dns_srv_reply(struct dns_req *r, const uint8_t *wire, size_t len)
{
    struct dns_srv *s = r->srv;
    if (!r->tcp) {
        if (s->stopping || len > 65535)
            return -1;
        if (s->in_batch && len <= DNS_SRV_UDP_OUT_MAX) {
            if (s->nout == DNS_SRV_MMSG)
                udp_flush(s);
            int i = s->nout++;
            memcpy(s->obuf[i], wire, len);
            memcpy(&s->to[i], &r->peer, sizeof r->peer);
            s->iov[i].iov_base = s->obuf[i];
            s->iov[i].iov_len = len;
            memset(&s->out[i], 0, sizeof s->out[i]);
            s->out[i].msg_hdr.msg_iov = &s->iov[i];
            s->out[i].msg_hdr.msg_iovlen = 1;
            s->out[i].msg_hdr.msg_name = &s->to[i];
            s->out[i].msg_hdr.msg_namelen = r->peer.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                          : sizeof(struct sockaddr_in);
            return 0;
        }
        return udp_send_one(s, wire, len, (const struct sockaddr *)&r->peer);
    }
    struct tconn *c = r->conn;
    if (c->closed || len > 65535)
        return -1;
    struct twrite *w = malloc(sizeof *w + len + 2);
    if (!w)
        return -1;
    w->data[0] = (uint8_t)(len >> 8);
    w->data[1] = (uint8_t)len;
    memcpy(w->data + 2, wire, len);
    w->b = uv_buf_init((char *)w->data, (unsigned)(len + 2));
    w->w.data = w;
    if (uv_write(&w->w, (uv_stream_t *)&c->h, &w->b, 1, tcp_write_cb) < 0) {
        free(w);
        conn_close(c);
        return -1;
    }
    return 0;
}

void dns_srv_done(struct dns_req *r)
{
    if (r->tcp) {
        struct tconn *c = r->conn;
        c->pending--;
        if (c->closed) {
            conn_maybe_free(c);
        } else {
            conn_dispatch(c); /* messages that waited while we were busy */
            conn_resume(c);
        }
        free(r);
        return;
    }
    struct dns_srv *s = r->srv;
    if (r->pooled && s->npool < DNS_SRV_REQ_POOL) {
        r->user = s->pool;
        s->pool = r;
        s->npool++;
    } else {
        free(r);
    }
    s->udp_pending--;
    srv_maybe_free(s);
}

static void srv_handle_close_cb(uv_handle_t *h)
{
    struct dns_srv *s = h->data;
    s->handles--;
    srv_maybe_free(s);
}

int dns_srv_start(uv_loop_t *loop, const char *addr, dns_srv_query_cb cb, void *arg,
                  struct dns_srv **out)
{
    struct sockaddr_storage sa;
    if (net_resolve(addr, 53, &sa) < 0)
        return UV_EINVAL;
    struct dns_srv *s = calloc(1, sizeof *s);
    if (!s)
        return UV_ENOMEM;
    s->loop = loop;
    s->cb = cb;
    s->arg = arg;
    uv_udp_init_ex(loop, &s->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    uv_tcp_init(loop, &s->tcp);
    s->udp.data = s->tcp.data = s;
    s->handles = 2;
    int rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&sa, UV_UDP_REUSEADDR);
    if (rc == 0) {
        /* TCP on the same port as UDP, also when UDP picked it (port 0). */
        struct sockaddr_storage bound;
        int bl = sizeof bound;
        uv_udp_getsockname(&s->udp, (struct sockaddr *)&bound, &bl);
        rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&bound, 0);
    }
    if (rc == 0) {
        /* Past net.core.rmem_max when we may (root), else up to it. */
        uv_os_fd_t fd;
        int sz = DNS_SRV_UDP_RCVBUF;
        if (uv_fileno((uv_handle_t *)&s->udp, &fd) == 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        rc = uv_listen((uv_stream_t *)&s->tcp, 128, tcp_accept_cb);
    }
    if (rc == 0)
        rc = uv_udp_recv_start(&s->udp, udp_alloc_cb, udp_recv_cb);
    if (rc < 0) {
        s->stopping = 1;
        uv_close((uv_handle_t *)&s->udp, srv_handle_close_cb);
        uv_close((uv_handle_t *)&s->tcp, srv_handle_close_cb);
        return rc;
    }
    *out = s;
    return 0;
}

void dns_srv_stop(struct dns_srv *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->udp, srv_handle_close_cb);
    uv_close((uv_handle_t *)&s->tcp, srv_handle_close_cb);
    for (struct tconn *c = s->conns; c; c = c->next)
        conn_close(c);
}

int dns_srv_port(const struct dns_srv *s)
{
    struct sockaddr_storage sa;
    int l = sizeof sa;
    if (uv_udp_getsockname(&s->udp, (struct sockaddr *)&sa, &l) < 0)
        return -1;
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}
