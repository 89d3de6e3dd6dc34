/* smtp_client: an asynchronous SMTP client session over libuv (one connection).
 *
 * Commands are queued and each reply goes to its own callback, in order. The
 * session greets (EHLO, STARTTLS when configured and offered) before sending
 * anything; MAIL/RCPT go out pipelined when the server offers PIPELINING.
 * On any failure every waiting callback receives a synthetic
 * "451 4.4.1 ..." reply, so a caller never waits forever and never takes a
 * dead next hop for a refusal. */
#ifndef ENVOI_SMTP_CLIENT_H
#define ENVOI_SMTP_CLIENT_H

#include <uv.h>

#include "conn.h"
#include "smtp_parse.h"

#define SMTP_CLI_QUEUE_MAX 256

enum smtp_cli_tls { SMTP_CLI_TLS_NONE, SMTP_CLI_TLS_OPPORTUNISTIC, SMTP_CLI_TLS_REQUIRED };

struct smtp_cli_config {
    const char *helo;            /* our EHLO name */
    enum smtp_cli_tls starttls;
    struct tls_config *tls;      /* client config (CA bundle) when starttls != NONE */
    const char *sni;             /* expected server name */
    uint64_t timeout_ms;         /* per reply */
    uint64_t data_timeout_ms;    /* for the final reply after the message */
};

struct smtp_cli;
/* reply is valid only during the call. */
typedef void (*smtp_cli_reply_cb)(void *arg, const struct smtp_reply *reply);
/* The session ended (after QUIT or a failure); the client is freed after this. */
typedef void (*smtp_cli_closed_cb)(void *arg);

/* Connects to addr; NULL if the connection cannot even be started. */
struct smtp_cli *smtp_cli_open(uv_loop_t *loop, const struct sockaddr *addr, const struct smtp_cli_config *cfg,
                               smtp_cli_closed_cb closed, void *arg);
/* Queues a command line (without CRLF). */
void smtp_cli_cmd(struct smtp_cli *c, const char *line, smtp_cli_reply_cb cb, void *arg);
/* Queues DATA + the message (unstuffed, any line ends; stuffed here); cb gets
 * the 354 failure or the final reply. msg is copied. */
void smtp_cli_data(struct smtp_cli *c, const char *msg, size_t len, smtp_cli_reply_cb cb, void *arg);
/* Detaches every queued callback whose arg is arg (its owner is going away). */
void smtp_cli_forget(struct smtp_cli *c, void *arg);
/* Sends QUIT (when possible) and closes; callbacks pending get 451. */
void smtp_cli_close(struct smtp_cli *c);
/* 1 once the session failed or is closing: open a new one. */
int smtp_cli_dead(const struct smtp_cli *c);
/* What the server offered (valid once greeted). */
int smtp_cli_has_ext(const struct smtp_cli *c, const char *keyword);
/* "TLSv1.2 <cipher>" or "" */
const char *smtp_cli_tls_desc(const struct smtp_cli *c);

#endif
