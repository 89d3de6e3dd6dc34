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

struct hop_txn;   /* one message in flight, owned by the hop */

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
     * exactly one hop_transform_done(). Not calling it within the command timeout
     * makes the hop answer 451 and drop the txn. */
    void (*transform)(void *arg, struct hop_txn *txn, const struct hop_info *info,
                      const char *msg, size_t len);
};

/* Finishes a transform. out/outlen: the new message (malloc'd, ownership moves
 * to the hop), or NULL to send msg unchanged. reject: NULL, or a full reply
 * ("550 5.7.1 ...") to refuse the message instead of sending it on. */
void hop_transform_done(struct hop_txn *txn, char *out, size_t outlen, const char *reject);

#endif
