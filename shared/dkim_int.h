/* dkim_int: what the dkim_*.c files share and nobody else should use. */
#ifndef ENVOI_DKIM_INT_H
#define ENVOI_DKIM_INT_H

#include "dkim.h"

#define DKIM_MAX_HEADERS 2000 /* a header block with more fields is refused */

/* One header field: p..p+len without its final line end; name is p[0..nlen). */
struct dkim_hdr {
    const char *p;
    size_t len, nlen;
};
struct dkim_msg {
    struct dkim_hdr *h;
    int n;
    size_t body_off; /* == message length when there is no body */
};
/* Splits the header block. Returns 0, or -1 (too many fields / no memory). */
int dkim_msg_parse(const char *msg, size_t len, struct dkim_msg *m);
void dkim_msg_free(struct dkim_msg *m);
/* Case-insensitive name comparison of field h against name[0..n). */
int dkim_hdr_is(const struct dkim_hdr *h, const char *name, size_t n);

/* Hashes the fields named in the colon-separated list hlist (RFC 6376 5.4.2:
 * each repeat of a name picks the next occurrence from the bottom; a missing
 * one contributes nothing) into st. Returns 0, or -1 on allocation failure. */
int dkim_hash_headers(crypto_hash_sha256_state *st, const struct dkim_msg *m, enum dkim_canon c,
                      const char *hlist, size_t hlen);
/* Hashes one field in canonical form; crlf 0 drops the final CRLF (for the
 * DKIM-Signature field itself). */
int dkim_hash_field(crypto_hash_sha256_state *st, enum dkim_canon c, const char *p, size_t n,
                    int crlf);
void dkim_body_hash(const char *body, size_t n, enum dkim_canon c, uint64_t limit,
                    unsigned char out[32]);

/* Random bytes for mbedtls (from libsodium's CSPRNG). */
int dkim_rng_cb(void *arg, unsigned char *out, size_t n);
/* mbedtls_pk_context inside a key (opaque to the public header). */
void *dkim_key_pk(const struct dkim_key *k);
const unsigned char *dkim_key_ed25519_sk(const struct dkim_key *k);

void dkim_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
