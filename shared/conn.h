/* conn: one TCP connection over libuv, with optional TLS (implicit or
 * upgraded later), an idle timer and graceful close. The owner embeds a
 * struct conn and frees itself in ops->closed, after both handles closed. */
#ifndef ENVOI_CONN_H
#define ENVOI_CONN_H

#include <uv.h>

#include "net.h"
#include "tls.h"

struct conn;

struct conn_ops {
    /* Plaintext from the peer. */
    void (*read)(struct conn *c, const char *data, size_t len);
    /* The peer closed, or a read/write error; the owner calls conn_close(). */
    void (*eof)(struct conn *c, const char *reason);
    /* TLS handshake ended: ok=1, or 0 (the owner closes). */
    void (*tls)(struct conn *c, int ok);
    /* Outgoing connection result (0 or a uv error). */
    void (*connected)(struct conn *c, int status);
    /* The idle timer fired. */
    void (*timeout)(struct conn *c);
    /* Both handles are closed: the owner may free itself now. */
    void (*closed)(struct conn *c);
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    const struct conn_ops *ops;
    void *data;
    struct tls_session tls;
    int has_tls, reading, closing, nclosed, paused, established;
    int wq_paused;       /* reading stopped because the peer does not read our writes */
    size_t wq_reqs;      /* writes queued, each costing a request besides its bytes */
    int handles_closing; /* uv_close issued on both handles */
    uint64_t timeout_ms;
    char peer[NET_IP_MAX];
    char tls_desc[128];  /* "TLSv1.2 <cipher>" once TLS is up */
};

/* Accepts a pending connection from server into c and starts reading. 0 or uv error. */
int conn_accept(struct conn *c, uv_stream_t *server, const struct conn_ops *ops, void *data, uint64_t timeout_ms);
/* Starts an outgoing connection; ops->connected reports the result. */
int conn_connect(struct conn *c, uv_loop_t *loop, const struct sockaddr *addr, const struct conn_ops *ops,
                 void *data, uint64_t timeout_ms);
/* Sends plaintext (encrypted when TLS is up). */
void conn_write(struct conn *c, const char *data, size_t len);
/* Starts TLS on the connection (server or client side per cfg). */
int conn_start_tls(struct conn *c, struct tls_config *cfg, const char *sni);
/* Re-arms the idle timer with timeout_ms (0 keeps the current value). */
void conn_touch(struct conn *c, uint64_t timeout_ms);
/* Stops / resumes delivering reads (backpressure). */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* Closes; graceful=1 flushes queued writes first, for at most CONN_LINGER_MS.
 * Idempotent. */
void conn_close(struct conn *c, int graceful);

#endif
