/* hop: the hop contract, as an SMTP proxy with a transform (every service but the relay).
 *
 * When the client says MAIL and RCPT, the hop opens (or reuses) an SMTP client
 * session to --destination and answers with what the next hop answered. After
 * DATA it runs the service's transform over the message, prepends its own
 * Received:, sends the result on, and answers 250 only after the next hop's 250.
 * Next hop unreachable or slow: 451 4.4.1. A hop never keeps a message.
 *
 * A service fills struct hop_ops; every callback is optional. */
#ifndef ENVOI_HOP_H
#define ENVOI_HOP_H

#include <stddef.h>

#include <uv.h>

#include "conf.h"

struct hop_txn;   /* one message in flight, owned by the hop */
struct hop_auth;  /* one AUTH being checked, owned by the hop */

/* What the hop knows about the client and the envelope. Valid during the txn. */
struct hop_info {
    const char *client_ip;      /* textual address of the SMTP client */
    const char *helo;           /* EHLO/HELO argument */
    const char *auth_user;      /* authenticated user, or NULL */
    const char *tls;            /* "TLSv1.2 ECDHE-...", or NULL for plaintext */
    const char *mail_from;      /* reverse-path without <>; "" for the null sender */
    const char *const *rcpts;   /* accepted forward-paths without <> */
    int nrcpt;
    const char *session_id;     /* for logs and Received: id */
};

struct hop_ops {
    /* MAIL FROM before it is proxied. Return NULL to go on, or a full reply
     * ("553 5.7.1 Sender not owned by user") to refuse it. */
    const char *(*check_mail)(void *arg, const struct hop_info *info, const char *from);
    /* RCPT TO before it is proxied; same contract. */
    const char *(*check_rcpt)(void *arg, const struct hop_info *info, const char *rcpt);
    /* The message is complete: msg is the unstuffed content with CRLF line ends,
     * without the final ".". Must end (now or later, e.g. after DNS lookups) with
     * exactly one hop_transform_done(). Not calling it within --timeout seconds makes
     * the hop answer 451 and orphan the txn (a late call is then harmless). */
    void (*transform)(void *arg, struct hop_txn *txn, const struct hop_info *info,
                      const char *msg, size_t len);
};

/* Finishes a transform. out/outlen: the new message (malloc'd, ownership moves
 * to the hop), or NULL to send msg unchanged. reject: NULL, or a full reply
 * ("550 5.7.1 ...") to refuse the message instead of sending it on. */
void hop_transform_done(struct hop_txn *txn, char *out, size_t outlen, const char *reject);
/* Same, when out starts with trace fields of this hop (Received-SPF,
 * Authentication-Results): their first `above` bytes are placed above our
 * Received:, as RFC 7208 §9.1 wants, instead of below it. */
void hop_transform_done_above(struct hop_txn *txn, char *out, size_t outlen, size_t above, const char *reject);


/* ---- running a hop (services' main.c) ---- */

/* The flags every hop shares; a service adds its own after HOP_FLAGS(c). */
struct hop_conf {
    struct conf_list listen;     /* --listen, repeatable */
    struct conf_list listen_tls; /* --listen-tls: implicit TLS (465) */
    const char *destination;     /* --destination HOST:PORT */
    const char *domain;          /* --domain: our name in greetings and Received */
    const char *postmaster;      /* --postmaster */
    const char *admin;           /* --admin HOST:PORT */
    const char *tls_cert, *tls_key;   /* server certificate (STARTTLS/465) */
    const char *next_ca;         /* --next-hop-ca: verify the next hop's certificate */
    const char *next_tls;        /* --next-hop-tls none|opportunistic|required */
    const char *next_name;       /* --next-hop-name: name its certificate must carry */
    long max_size;               /* --max-size bytes */
    long timeout;                /* --timeout seconds (client side commands) */
    long next_timeout;           /* --next-hop-timeout seconds */
    long max_conns, max_per_ip;
    const char *log_level;
};

#define HOP_FLAGS(c)                                                                                       \
    {"listen", CONF_LIST, &(c).listen, ":25", "HOST:PORT to accept SMTP on (repeatable)"},                \
    {"listen-tls", CONF_LIST, &(c).listen_tls, NULL, "HOST:PORT with implicit TLS (repeatable)"},         \
    {"destination", CONF_STR, &(c).destination, NULL, "next hop HOST[:PORT]"},                            \
    {"domain", CONF_STR, &(c).domain, "localhost", "our domain / host name"},                             \
    {"postmaster", CONF_STR, &(c).postmaster, NULL, "postmaster address"},                                \
    {"admin", CONF_STR, &(c).admin, NULL, "HOST:PORT for /healthz and /metrics"},                         \
    {"tls-cert", CONF_STR, &(c).tls_cert, NULL, "PEM certificate chain (enables STARTTLS)"},              \
    {"tls-key", CONF_STR, &(c).tls_key, NULL, "PEM private key"},                                         \
    {"next-hop-ca", CONF_STR, &(c).next_ca, NULL, "CA bundle to verify the next hop"},                    \
    {"next-hop-tls", CONF_STR, &(c).next_tls, "none", "none|opportunistic|required"},                     \
    {"next-hop-name", CONF_STR, &(c).next_name, NULL, "certificate name of the next hop (default: its host)"}, \
    {"max-size", CONF_INT, &(c).max_size, "52428800", "largest message in bytes"},                        \
    {"timeout", CONF_INT, &(c).timeout, "300", "client command timeout, seconds"},                        \
    {"next-hop-timeout", CONF_INT, &(c).next_timeout, "60", "next hop reply timeout, seconds"},           \
    {"max-connections", CONF_INT, &(c).max_conns, "1000", "concurrent SMTP sessions"},                    \
    {"max-per-ip", CONF_INT, &(c).max_per_ip, "50", "concurrent sessions per client address"},            \
    {"log-level", CONF_STR, &(c).log_level, "info", "debug|info|warn|error"}

/* Options a service sets on top of the flags. */
struct hop_policy {
    int auth;             /* offer AUTH (submission) */
    int auth_required;
    int auth_needs_tls;   /* on the plain listeners: STARTTLS before AUTH/MAIL */
    int refuse_routes;    /* RCPT with a source route gets 550 */
    int proxy_protocol;   /* PROXY header required from peers in proxy_from */
    const struct conf_list *proxy_from;
    long greet_delay_ms;  /* early-talker detection window */
    /* AUTH check: return 1 and fill canonical user; 0 for bad credentials
     * (535 5.7.8); -1 to refuse for now (454 4.7.0: throttled, or the user
     * database is not loaded yet). Synchronous. */
    int (*auth_check)(void *arg, const char *user, const char *pass, const char *client_ip, char *canon,
                      size_t canon_len);
    /* Asynchronous AUTH check, used instead of auth_check when set (slow
     * password hashes belong on the thread pool, not on the loop). user and
     * pass are valid during the call only: copy what is needed. Must end, now
     * or later, with exactly one hop_auth_done(). */
    void (*auth_start)(void *arg, struct hop_auth *a, const char *user, const char *pass, const char *client_ip);
};

/* Finishes an asynchronous AUTH: rc as auth_check returns it (1 with canon,
 * 0, -1). Safe after the client left (then it only frees a). */
void hop_auth_done(struct hop_auth *a, int rc, const char *canon);

/* Checks the flags without binding anything (for -n): 0, or -1 after logging why. */
int hop_validate(const struct hop_conf *c);

/* Validates c (exits 2 with a clear message when wrong), sets up the listeners,
 * the admin port and the SIGTERM path. Returns 0 or -1. */
int hop_start(uv_loop_t *loop, const char *service, const struct hop_conf *c, const struct hop_policy *policy,
              const struct hop_ops *ops, void *arg);

#endif
