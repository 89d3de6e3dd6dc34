/* tls: TLS sessions with mbedtls over memory buffers (no I/O here): ciphertext
 * in, plaintext out, and the reverse. conn.c moves the bytes over libuv.
 * mbedtls 2.28 speaks TLS 1.2 only; that is what we offer. */
#ifndef ENVOI_TLS_H
#define ENVOI_TLS_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "sbuf.h"

#define TLS_BUF_MAX (4 * 1024 * 1024)

/* A configuration shared by many sessions; reference counted so a reload can
 * swap it while older sessions finish on the old one. */
struct tls_config {
    int refs;
    int server;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cert, ca;
    mbedtls_pk_context key;
    char cert_path[512], key_path[512];
    char cert_stamp[64], key_stamp[64]; /* mtime (ns), size and inode: a change in any means reload */
};

/* Loads a server certificate chain and key (PEM). NULL with err filled on failure. */
struct tls_config *tls_server_config(const char *cert, const char *key, char *err, size_t errlen);
/* A client configuration: verify against ca_file when given (required=1 fails
 * the handshake on a bad certificate; 0 is opportunistic: encrypt, note the result). */
struct tls_config *tls_client_config(const char *ca_file, int required, char *err, size_t errlen);
/* For a server config: when the files on disk changed since loading, loads them
 * into a new config, swaps *slot and drops the old reference. Keeps the old one
 * (and logs) when the new files are broken. Cheap (two stat calls). */
void tls_config_refresh(struct tls_config **slot);
void tls_config_ref(struct tls_config *c);
void tls_config_unref(struct tls_config *c);

struct tls_session {
    mbedtls_ssl_context ssl;
    struct tls_config *cfg;
    struct sbuf cin;   /* ciphertext received, not yet consumed by mbedtls */
    size_t cin_off;
    struct sbuf cout;  /* ciphertext to send */
    int done;          /* handshake finished */
};

enum tls_rc { TLS_ERR = -1, TLS_AGAIN = 0, TLS_HANDSHAKE_DONE = 1, TLS_CLOSED = 2 };

/* Prepares a session on cfg; sni is the server name a client asks for (or NULL). */
int tls_session_init(struct tls_session *t, struct tls_config *cfg, const char *sni);
/* Starts or continues the handshake (a client calls it once to emit its hello). */
enum tls_rc tls_session_handshake(struct tls_session *t);
/* Ciphertext arrived: runs the handshake and/or decrypts into plain.
 * TLS_HANDSHAKE_DONE is returned once, when the handshake completes. */
enum tls_rc tls_session_input(struct tls_session *t, const char *data, size_t len, struct sbuf *plain);
/* Encrypts plaintext into t->cout. 0 or -1. */
int tls_session_write(struct tls_session *t, const char *data, size_t len);
/* "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384" into buf. */
const char *tls_session_describe(struct tls_session *t, char *buf, size_t len);
/* 1 when the peer's certificate verified (client side). */
int tls_session_verified(struct tls_session *t);
/* Queues close_notify into cout. */
void tls_session_close_notify(struct tls_session *t);
void tls_session_free(struct tls_session *t);

#endif
