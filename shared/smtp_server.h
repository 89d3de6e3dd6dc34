/* smtp_server: the SMTP server session engine, pure (no I/O, no libuv).
 *
 * Bytes from the client go in with smtp_srv_feed(); replies come out through
 * hooks->write(). Commands that need the owner (MAIL, RCPT, the message, AUTH,
 * STARTTLS) call a hook and the session waits: input stays buffered, in order,
 * until the owner answers with smtp_srv_reply() (now or later). That one rule
 * gives PIPELINING, asynchronous next hops and in-order replies for free.
 * Every transition goes through one function that logs "old -> new" at debug. */
#ifndef ENVOI_SMTP_SERVER_H
#define ENVOI_SMTP_SERVER_H

#include <stddef.h>

#include "sbuf.h"
#include "smtp_parse.h"

#define SMTP_SRV_RCPT_MAX 100      /* RFC 5321 §4.5.3.1.8 minimum; more get 452 */
#define SMTP_SRV_ERRORS_MAX 10     /* bad commands before 421 */
#define SMTP_SRV_INBUF_MAX 65536   /* pipelined input held while waiting on a hook */
#define SMTP_SRV_AUTH_MAX 2048     /* an AUTH response line, base64 */

enum smtp_srv_state {
    SMTP_S_START,    /* greeting not sent yet */
    SMTP_S_INIT,     /* greeted, no EHLO/HELO yet */
    SMTP_S_READY,    /* EHLO done, no transaction */
    SMTP_S_MAIL,     /* MAIL accepted */
    SMTP_S_RCPT,     /* at least one RCPT accepted */
    SMTP_S_DATA,     /* reading message content */
    SMTP_S_AUTH,     /* waiting for an AUTH continuation line */
    SMTP_S_WAIT,     /* a hook owes us a reply */
    SMTP_S_TLS,      /* STARTTLS accepted: the owner is handshaking */
    SMTP_S_CLOSED,   /* QUIT, fatal error or owner close */
};

struct smtp_srv;

/* What a hook is waiting for, so smtp_srv_reply() knows how to go on. */
enum smtp_srv_pending { SMTP_P_NONE, SMTP_P_MAIL, SMTP_P_RCPT, SMTP_P_MESSAGE, SMTP_P_AUTH };

struct smtp_srv_hooks {
    /* Output to the client. Required. */
    void (*write)(void *arg, const char *data, size_t len);
    /* The session is over (QUIT, 421, line too long): close after the write. Required. */
    void (*close)(void *arg, const char *reason);
    /* MAIL FROM parsed and allowed by the engine; answer with smtp_srv_reply().
     * NULL: the engine answers 250. */
    void (*mail)(void *arg, struct smtp_srv *s, const struct smtp_path *from);
    /* RCPT TO; NULL: 250. */
    void (*rcpt)(void *arg, struct smtp_srv *s, const struct smtp_path *to);
    /* The message (unstuffed, CRLF) is complete; answer with smtp_srv_reply().
     * msg stays valid until then. Required. */
    void (*message)(void *arg, struct smtp_srv *s, const char *msg, size_t len);
    /* RSET, or a transaction abandoned (HELO/EHLO/STARTTLS): the owner drops its state. */
    void (*reset)(void *arg, struct smtp_srv *s);
    /* AUTH credentials decoded; answer 235 (with smtp_srv_auth_set()) or 535. */
    void (*auth)(void *arg, struct smtp_srv *s, const char *user, const char *pass);
    /* STARTTLS was answered 220: the owner starts the handshake now and then
     * calls smtp_srv_tls_done(). */
    void (*starttls)(void *arg, struct smtp_srv *s);
    /* The input backlog fell below SMTP_SRV_INBUF_MAX: an owner that paused
     * reading (smtp_srv_backlogged) resumes it. Optional. */
    void (*input_room)(void *arg);
};

struct smtp_srv_config {
    const char *hostname;    /* our name in greeting and EHLO */
    size_t max_size;         /* SIZE limit in bytes */
    int max_rcpts;           /* 0: SMTP_SRV_RCPT_MAX */
    int max_errors;          /* 0: SMTP_SRV_ERRORS_MAX */
    int starttls;            /* offer STARTTLS when not yet in TLS */
    int auth;                /* offer AUTH PLAIN LOGIN */
    int auth_needs_tls;      /* AUTH/MAIL before TLS: 530 5.7.0 (submission on 587) */
    int auth_required;       /* MAIL before AUTH: 530 5.7.0 */
    const char *greeting;    /* text after "220 <hostname> ", default "ESMTP envoi" */
    int refuse_routes;       /* RCPT with a source route: 550 (an MX that relays nothing) */
};

struct smtp_srv {
    enum smtp_srv_state state;
    enum smtp_srv_pending pending;
    const struct smtp_srv_config *cfg;
    const struct smtp_srv_hooks *hooks;
    void *arg;
    const char *id;          /* session id for logs */
    struct sbuf in;          /* unprocessed input */
    struct smtp_data data;
    struct sbuf msg;         /* current message content */
    char helo[256];
    int esmtp, tls, errors, nrcpt, feeding;
    char auth_user[256];     /* "" until AUTH succeeded */
    char auth_mech;          /* 'P' PLAIN, 'L' LOGIN (user read), 'l' LOGIN (awaiting user) */
    char auth_login_user[256];
    struct smtp_path from;   /* the current transaction */
    char *rcpts[SMTP_SRV_RCPT_MAX];
    struct smtp_path pending_path;
};

/* Prepares s; nothing is written until smtp_srv_start(). */
void smtp_srv_init(struct smtp_srv *s, const struct smtp_srv_config *cfg, const struct smtp_srv_hooks *hooks,
                   void *arg, const char *id);
/* Sends the 220 greeting. */
void smtp_srv_start(struct smtp_srv *s);
/* Client bytes. Processes as much as the state allows; the rest waits in s->in.
 * Returns -1 once the session is closed (the owner stops reading). */
int smtp_srv_feed(struct smtp_srv *s, const char *data, size_t len);
/* The owner's answer to the pending hook: a full reply line or lines without
 * the final CRLF ("250 2.1.0 Ok"); multi-line replies separated by "\r\n".
 * The engine records the outcome from the code and goes on with buffered input. */
void smtp_srv_reply(struct smtp_srv *s, const char *reply);
/* After a successful AUTH hook, before replying 235: records the user. */
void smtp_srv_auth_set(struct smtp_srv *s, const char *user);
/* TLS handshake finished (ok=1) or failed (ok=0: the session closes). Per
 * RFC 3207 the session starts over: EHLO again, no state kept. */
void smtp_srv_tls_done(struct smtp_srv *s, int ok);
/* 1 when the owner should stop reading (input backlog past SMTP_SRV_INBUF_MAX). */
int smtp_srv_backlogged(const struct smtp_srv *s);
/* Sends "421 4.x.x <text>" and closes (shutdown, timeout). */
void smtp_srv_abort(struct smtp_srv *s, const char *reply);
/* Frees buffers. */
void smtp_srv_free(struct smtp_srv *s);
/* Recipients of the current transaction. */
static inline const char *const *smtp_srv_rcpts(const struct smtp_srv *s) { return (const char *const *)s->rcpts; }
const char *smtp_srv_state_name(enum smtp_srv_state st);

#endif
