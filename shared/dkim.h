/* dkim: DomainKeys Identified Mail (RFC 6376, RFC 8463, RFC 8301) as a pure library.
 *
 * No I/O anywhere: signing takes the complete message buffer and returns the
 * header block to prepend; verification is split so that DNS is the caller's
 * job (dkim_verify_begin -> query names -> dkim_verify_key per signature).
 * Messages are expected with CRLF line ends (bare LF is tolerated as a line
 * end and canonicalized to CRLF).
 *
 * Algorithms: rsa-sha256 (mbedtls, keys 1024..4096 bits) and ed25519-sha256
 * (libsodium). rsa-sha1 is refused (RFC 8301). */
#ifndef ENVOI_DKIM_H
#define ENVOI_DKIM_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum dkim_alg { DKIM_ALG_RSA_SHA256 = 0, DKIM_ALG_ED25519_SHA256 = 1 };
/* Relaxed is 0 so that a zeroed struct dkim_signer means relaxed/relaxed. */
enum dkim_canon { DKIM_CANON_RELAXED = 0, DKIM_CANON_SIMPLE = 1 };

/* ---- tag lists (RFC 6376 3.2): DKIM-Signature values and key records ---- */

#define DKIM_TAGS_MAX 32
struct dkim_tag {
    const char *name, *val; /* point into the parsed text; val trimmed of outer FWS */
    size_t nlen, vlen;
};
struct dkim_tags {
    struct dkim_tag tag[DKIM_TAGS_MAX];
    int n;
};
enum { DKIM_TAGS_OK = 0, DKIM_TAGS_SYNTAX = -1, DKIM_TAGS_DUP = -2, DKIM_TAGS_TOOMANY = -3 };
/* Parses "a=b; c = d ;" into out (pointers into s). Returns a DKIM_TAGS_* code. */
int dkim_tags_parse(const char *s, size_t len, struct dkim_tags *out);
/* The tag called name (case-sensitive, as RFC 6376 says), or NULL. */
const struct dkim_tag *dkim_tags_get(const struct dkim_tags *t, const char *name);

/* ---- key records (RFC 6376 3.6.1, RFC 8463) ---- */

#define DKIM_PUBKEY_MAX 800 /* DER of a 4096-bit RSA SubjectPublicKeyInfo is 550 */
struct dkim_keyrec {
    enum dkim_alg alg;      /* from k= (default rsa) */
    int revoked;            /* p= empty */
    int testing;            /* t=y */
    int strict;             /* t=s: i= must be exactly d= */
    unsigned char pub[DKIM_PUBKEY_MAX];
    size_t publen;
};
/* Parses a TXT record (strings already concatenated). Returns 0, or -1 with a
 * short reason in err ("unknown key type", "key not for email"...). */
int dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *out, char *err, size_t errlen);

/* ---- canonicalization ---- */

/* Streaming body canonicalizer + SHA-256. Feed any chunking; the result does
 * not depend on where chunks split (CRLF split across chunks included). */
struct dkim_body {
    crypto_hash_sha256_state sha;
    enum dkim_canon canon;
    uint64_t limit;        /* l=: hash at most this many canonical bytes */
    uint64_t emitted;      /* canonical bytes produced so far (before limit) */
    uint64_t crlf_pending; /* empty lines held back: trailing ones are dropped */
    int wsp, content, cr;  /* relaxed WSP run pending; line has content; CR seen */
    void (*out_cb)(void *arg, const char *p, size_t n); /* optional copy of output */
    void *out_arg;
    size_t blen;
    char buf[512];
};
/* limit: UINT64_MAX for no l=. */
void dkim_body_init(struct dkim_body *b, enum dkim_canon canon, uint64_t limit);
void dkim_body_update(struct dkim_body *b, const char *p, size_t n);
void dkim_body_final(struct dkim_body *b, unsigned char hash[32]);

/* Canonical form of one header field (field: name ":" value, without its final
 * line end) into out, always ending in CRLF (a bare LF inside becomes CRLF).
 * out needs 2 * n + 3 bytes. Returns the length written. */
size_t dkim_canon_header(enum dkim_canon canon, const char *field, size_t n, char *out);

/* ---- private keys ---- */

struct dkim_key;
/* Loads a private key: PEM ("RSA PRIVATE KEY", PKCS#8 "PRIVATE KEY" with RSA
 * or Ed25519) or a bare base64 Ed25519 seed (dkimpy's format). NULL + err. */
struct dkim_key *dkim_key_load(const char *text, size_t len, char *err, size_t errlen);
struct dkim_key *dkim_key_load_file(const char *path, char *err, size_t errlen);
/* New random key; bits only for RSA (0 means 2048). */
struct dkim_key *dkim_key_generate(enum dkim_alg alg, int bits, char *err, size_t errlen);
enum dkim_alg dkim_key_alg(const struct dkim_key *k);
int dkim_key_bits(const struct dkim_key *k);
/* Private key as PEM (PKCS#1 for RSA, PKCS#8 for Ed25519), malloc'd. */
char *dkim_key_pem(const struct dkim_key *k);
/* "v=DKIM1; k=rsa; p=<base64>", malloc'd. */
char *dkim_key_txt(const struct dkim_key *k);
void dkim_key_free(struct dkim_key *k);

/* ---- signing ---- */

struct dkim_signer {
    const char *domain;        /* d= */
    const char *selector;      /* s= */
    const struct dkim_key *key;
    enum dkim_canon hcanon, bcanon; /* zero: relaxed/relaxed */
    long expire;               /* > 0: x= t + expire seconds */
    const char *identity;      /* i= or NULL (then none: it defaults to @d) */
};
/* Signs msg with each signer (dual signing: pass two). Returns the
 * DKIM-Signature header field(s) to prepend, CRLF-terminated, folded to lines
 * of at most 78 characters, malloc'd; or NULL with a reason in err (the caller
 * then passes the message on unsigned). Headers signed: From (over-signed),
 * To, Cc, Subject, Date, Message-ID, Reply-To, In-Reply-To, References,
 * MIME-Version, Content-Type, Content-Transfer-Encoding, List-*; t= always. */
char *dkim_sign_message(const struct dkim_signer *const *signers, int n, const char *msg,
                        size_t len, time_t now, char *err, size_t errlen);
/* Lowercased domain of the single address in the single From: field into
 * out. Returns 0, or -1 if there is none, several, or it does not parse. */
int dkim_from_domain(const char *msg, size_t len, char *out, size_t outsz);

/* ---- verification ---- */

enum dkim_result {
    DKIM_NONE = 0, DKIM_PASS, DKIM_FAIL, DKIM_NEUTRAL, DKIM_TEMPERROR, DKIM_PERMERROR,
    DKIM_PENDING /* begun, key not given yet */
};
enum dkim_dns { DKIM_DNS_OK = 0, DKIM_DNS_NOTFOUND, DKIM_DNS_TEMPFAIL };

#define DKIM_VERIFY_MAX_SIGS 8 /* more signatures than this are ignored */
struct dkim_verify;
struct dkim_sig_info {
    enum dkim_result result;
    const char *reason;     /* RFC 8601 reason text, "" when pass */
    const char *d, *s, *i;  /* "" when absent or unparsable */
    const char *b;          /* b= without whitespace, for header.b */
    const char *a;          /* a= as written ("" when absent), for header.a */
    enum dkim_alg alg;      /* meaningful once a= was recognized */
    int bits;               /* key size once known, else 0 */
    int testing;            /* key says t=y */
};
/* Parses msg, hashes what does not depend on the key (msg is not kept:
 * it may be freed right after). now: for x=. NULL only when out of memory. */
struct dkim_verify *dkim_verify_begin(const char *msg, size_t len, time_t now);
/* Number of DKIM-Signature fields examined (0: result "none"). */
int dkim_verify_count(const struct dkim_verify *v);
/* The TXT name to look up, "<s>._domainkey.<d>", or NULL when the signature
 * already has its final result (syntax error...). */
const char *dkim_verify_query(const struct dkim_verify *v, int idx);
/* Gives the key record found for signature idx: txt (strings of one TXT
 * record concatenated) with st DKIM_DNS_OK, or txt NULL with NOTFOUND
 * (NXDOMAIN / no TXT: permerror) or TEMPFAIL (temperror). Returns the final
 * result; calling it again for a finished signature changes nothing. */
enum dkim_result dkim_verify_key(struct dkim_verify *v, int idx, const char *txt, size_t txtlen,
                                 enum dkim_dns st);
const struct dkim_sig_info *dkim_verify_info(const struct dkim_verify *v, int idx);
/* Formats "dkim=pass (2048-bit key) header.d=D header.s=S header.b=XXXXXXXX"
 * (with reason="..." when not pass) into out. Returns snprintf's count. */
int dkim_verify_ar(const struct dkim_verify *v, int idx, char *out, size_t outsz);
void dkim_verify_free(struct dkim_verify *v);
const char *dkim_result_str(enum dkim_result r);

#endif
