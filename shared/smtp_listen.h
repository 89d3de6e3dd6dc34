/* smtp_listen: SMTP listeners over libuv: accepts connections, runs one
 * smtp_srv engine per connection over a conn (plain, STARTTLS or implicit
 * TLS), enforces timeouts and connection limits, and on shutdown answers 421
 * to every session. The service supplies the hooks. */
#ifndef ENVOI_SMTP_LISTEN_H
#define ENVOI_SMTP_LISTEN_H

#include <uv.h>

#include "conf.h"
#include "conn.h"
#include "smtp_server.h"

#define SMTP_LISTEN_MAX 8
#define SMTP_SESSION_ID_MAX 24

struct smtp_listener;

struct smtp_session {
    struct conn conn;
    struct smtp_srv srv;
    struct smtp_listener *l;
    struct smtp_session *prev, *next;
    char id[SMTP_SESSION_ID_MAX];
    void *user;           /* the service's per-session state */
    uint64_t started_ms;
    int implicit_tls;
    int preface;          /* SMTP_PREFACE_*: what comes before the greeting */
    int peer_eof;         /* the client half-closed with commands still to answer */
    struct sbuf proxy_buf;
};

enum { SMTP_PREFACE_NONE, SMTP_PREFACE_PROXY, SMTP_PREFACE_DELAY };

struct smtp_listen_ops {
    /* A session starts: set s->user. Return -1 to refuse it (421). */
    int (*open)(struct smtp_session *s);
    void (*mail)(struct smtp_session *s, const struct smtp_path *from);
    void (*rcpt)(struct smtp_session *s, const struct smtp_path *to);
    void (*message)(struct smtp_session *s, const char *msg, size_t len);
    void (*reset)(struct smtp_session *s);
    void (*auth)(struct smtp_session *s, const char *user, const char *pass);
    /* The session is going away: cancel async work, free s->user. */
    void (*close)(struct smtp_session *s);
};

struct smtp_listener {
    uv_loop_t *loop;
    uv_tcp_t tcp[SMTP_LISTEN_MAX];
    int ntcp;
    int implicit[SMTP_LISTEN_MAX]; /* per socket: TLS from the first byte */
    struct smtp_srv_config srv;    /* the engine's configuration */
    struct tls_config *tls;        /* server TLS (STARTTLS and implicit), may be NULL */
    const struct smtp_listen_ops *ops;
    void *arg;                     /* the service's global state */
    uint64_t timeout_ms;           /* idle / command timeout */
    int max_conns, max_per_ip, nconns;
    struct smtp_session *sessions;
    unsigned long next_id;
    const char *service;
    /* PROXY protocol: peers matching proxy_from must send a header first. */
    int proxy_protocol;
    const struct conf_list *proxy_from;
    /* Hold the greeting this long; a client talking before it is dropped. */
    uint64_t greet_delay_ms;
};

/* Adds a listening socket on addr ("HOST:PORT"); implicit=1 for TLS on connect
 * (port 465). 0, or a negative uv error. Call before uv_run. */
int smtp_listen_add(struct smtp_listener *l, const char *addr, int implicit);
/* Registers the shutdown hook; call once after the listeners are added. */
void smtp_listen_start(struct smtp_listener *l);
/* Writes the Received: header for s into out (CRLF-terminated, folded). */
int smtp_listen_received(const struct smtp_session *s, const char *by, const char *service, struct sbuf *out);
/* RFC 5322 date of now into buf. */
const char *smtp_date_now(char *buf, size_t len);

#endif
