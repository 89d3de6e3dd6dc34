/* bsmtp: a small BLOCKING SMTP client connection for the envoi tool (plain
 * sockets + mbedtls). The services use the event-driven engine in shared/;
 * a command-line sender wants the simplest thing that is obviously right.
 *
 * Every call that talks to the server returns 0 when a reply was read (the
 * caller looks at its code) and -1 on a local or transport failure (timeout,
 * reset, TLS error, unparsable reply), with a human message in c->err. */
#ifndef ENVOI_CLI_BSMTP_H
#define ENVOI_CLI_BSMTP_H

#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "smtp_parse.h"

#define BSMTP_ERR_MAX 512
#define BSMTP_RBUF (SMTP_REPLY_MAX * 2)

/* EHLO keywords we act on */
#define BSMTP_EXT_PIPELINING 0x01u
#define BSMTP_EXT_STARTTLS 0x02u
#define BSMTP_EXT_AUTH_PLAIN 0x04u
#define BSMTP_EXT_8BITMIME 0x08u
#define BSMTP_EXT_SIZE 0x10u
#define BSMTP_EXT_SMTPUTF8 0x20u
#define BSMTP_EXT_AUTH 0x40u /* AUTH offered at all (any mechanism) */

/* TLS client settings shared by the connections of one process. */
struct bsmtp_tls {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int ready;
};

struct bsmtp {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    int connected;
    int tls;                 /* the TLS layer is up: all I/O goes through ssl */
    int verbose;             /* dialogue to stderr, AUTH masked */
    int timeout_ms;
    unsigned ext;            /* BSMTP_EXT_* from the last EHLO */
    unsigned long size_max;  /* SIZE value, 0 = none declared */
    char rbuf[BSMTP_RBUF];
    size_t rlen;
    char err[BSMTP_ERR_MAX];
};

/* Prepares TLS settings: verification against the CA file (the system bundle
 * when ca is NULL) unless insecure. 0, or -1 with a message in err. */
int bsmtp_tls_init(struct bsmtp_tls *t, const char *ca, int insecure, char *err, size_t errsz);
void bsmtp_tls_free(struct bsmtp_tls *t);

/* Opens a TCP connection (every address of host in turn, each bounded by the
 * timeout). 0 or -1. */
int bsmtp_connect(struct bsmtp *c, const char *host, unsigned port, int timeout_ms);
/* Runs a TLS handshake on the open connection, sending SNI and checking the
 * certificate against name. 0 or -1. */
int bsmtp_tls_start(struct bsmtp *c, struct bsmtp_tls *t, const char *name);
/* Reads one whole reply. */
int bsmtp_read(struct bsmtp *c, struct smtp_reply *r);
/* Writes all n bytes. 0 or -1. */
int bsmtp_write(struct bsmtp *c, const void *p, size_t n);
/* Sends one command line (CRLF added) and reads its reply. */
int bsmtp_cmd(struct bsmtp *c, struct smtp_reply *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* EHLO (HELO when EHLO is refused with 500/502), recording the extensions. */
int bsmtp_ehlo(struct bsmtp *c, const char *helo, struct smtp_reply *r);
/* STARTTLS then the handshake; on a non-220 reply returns 0 with it in r.
 * Refuses (-1) when the server sent anything beyond its 220 before the
 * handshake: that is plaintext injected into the future TLS session. */
int bsmtp_starttls(struct bsmtp *c, struct bsmtp_tls *t, const char *name, struct smtp_reply *r);
/* AUTH PLAIN with an initial response (or after an empty 334). */
int bsmtp_auth_plain(struct bsmtp *c, const char *user, const char *pass, struct smtp_reply *r);
/* Sends QUIT when asked (best effort) and closes; the struct can connect again. */
void bsmtp_close(struct bsmtp *c, int quit);
/* The first line of a reply's text, for one-line reports. */
const char *bsmtp_first_line(const struct smtp_reply *r, char *buf, size_t bufsz);

#endif
