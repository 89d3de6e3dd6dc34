/* dkim_key: private keys for signing. RSA goes through mbedtls_pk; Ed25519
 * (which mbedtls 2.28 lacks) through libsodium, with the few bytes of PKCS#8
 * DER around the seed read and written here. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "dkim_int.h"

#define DKIM_KEYFILE_MAX 65536 /* a key file larger than this is not a key */
#define DKIM_RSA_MIN_BITS 1024
#define DKIM_RSA_MAX_BITS 4096
#define DKIM_PEM_MAX 16384

struct dkim_key {
    enum dkim_alg alg;
    mbedtls_pk_context pk;               /* RSA */
    unsigned char sk[crypto_sign_SECRETKEYBYTES]; /* Ed25519: seed || public */
};

/* PKCS#8 (RFC 8410) for Ed25519 is this fixed prefix and the 32-byte seed. */
static const unsigned char ed25519_pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30,
                                                       0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                                       0x04, 0x22, 0x04, 0x20};
static const unsigned char ed25519_oid[5] = {0x06, 0x03, 0x2b, 0x65, 0x70};

int dkim_rng_cb(void *arg, unsigned char *out, size_t n)
{
    (void)arg;
    randombytes_buf(out, n);
    return 0;
}

void *dkim_key_pk(const struct dkim_key *k)
{
    return (void *)&k->pk;
}

const unsigned char *dkim_key_ed25519_sk(const struct dkim_key *k)
{
    return k->sk;
}

enum dkim_alg dkim_key_alg(const struct dkim_key *k)
{
    return k->alg;
}

int dkim_key_bits(const struct dkim_key *k)
{
    return k->alg == DKIM_ALG_RSA_SHA256 ? (int)mbedtls_pk_get_bitlen(&k->pk) : 256;
}

static struct dkim_key *key_new(enum dkim_alg alg)
{
    struct dkim_key *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->alg = alg;
    mbedtls_pk_init(&k->pk);
    return k;
}

void dkim_key_free(struct dkim_key *k)
{
    if (!k)
        return;
    mbedtls_pk_free(&k->pk);
    sodium_memzero(k->sk, sizeof k->sk);
    free(k);
}

static struct dkim_key *key_from_seed(const unsigned char *seed)
{
    unsigned char pub[crypto_sign_PUBLICKEYBYTES];
    struct dkim_key *k = key_new(DKIM_ALG_ED25519_SHA256);
    if (k)
        crypto_sign_seed_keypair(pub, k->sk, seed);
    return k;
}

/* Reads one DER TLV at *p (bounded by end): tag, content start, length. */
static int der_next(const unsigned char **p, const unsigned char *end, int *tag,
                    const unsigned char **c, size_t *clen)
{
    const unsigned char *q = *p;
    if (end - q < 2)
        return -1;
    *tag = *q++;
    size_t len = *q++;
    if (len & 0x80) {
        int nb = (int)(len & 0x7f);
        if (nb < 1 || nb > 2 || end - q < nb)
            return -1;
        len = 0;
        while (nb--)
            len = (len << 8) | *q++;
    }
    if ((size_t)(end - q) < len)
        return -1;
    *c = q;
    *clen = len;
    *p = q + len;
    return 0;
}

/* PKCS#8 OneAsymmetricKey with the Ed25519 OID: returns the seed or NULL. */
static const unsigned char *ed25519_pkcs8_seed(const unsigned char *der, size_t n)
{
    const unsigned char *p = der, *c, *end = der + n, *q;
    size_t clen;
    int tag;
    if (der_next(&p, end, &tag, &c, &clen) || tag != 0x30)
        return NULL;
    p = c;
    end = c + clen;
    if (der_next(&p, end, &tag, &c, &clen) || tag != 0x02 || clen != 1 || c[0] > 1)
        return NULL; /* version 0 or 1 */
    if (der_next(&p, end, &tag, &c, &clen) || tag != 0x30 || clen < sizeof ed25519_oid ||
        memcmp(c, ed25519_oid, sizeof ed25519_oid))
        return NULL;
    if (der_next(&p, end, &tag, &c, &clen) || tag != 0x04)
        return NULL;
    q = c;
    if (der_next(&q, c + clen, &tag, &c, &clen) || tag != 0x04 || clen != 32)
        return NULL;
    return c;
}

/* Finds the first PEM block: label into lab, decoded DER into der. */
static int pem_decode(const char *t, size_t len, char *lab, size_t labsz, unsigned char *der,
                      size_t dersz, size_t *derlen)
{
    const char *b = memmem(t, len, "-----BEGIN ", 11);
    if (!b)
        return -1;
    const char *ls = b + 11, *end = t + len;
    const char *le = memmem(ls, (size_t)(end - ls), "-----", 5);
    if (!le || (size_t)(le - ls) >= labsz)
        return -1;
    memcpy(lab, ls, (size_t)(le - ls));
    lab[le - ls] = 0;
    const char *body = le + 5;
    const char *e = memmem(body, (size_t)(end - body), "-----END ", 9);
    if (!e)
        return -1;
    /* Encrypted PEM has "Proc-Type:" lines: base64 decoding fails on them. */
    return sodium_base642bin(der, dersz, body, (size_t)(e - body), " \t\r\n", derlen, NULL,
                             sodium_base64_VARIANT_ORIGINAL);
}

static struct dkim_key *key_from_der(const unsigned char *der, size_t n, char *err, size_t errlen)
{
    const unsigned char *seed = ed25519_pkcs8_seed(der, n);
    if (seed)
        return key_from_seed(seed);
    struct dkim_key *k = key_new(DKIM_ALG_RSA_SHA256);
    if (!k)
        return NULL;
    int rc = mbedtls_pk_parse_key(&k->pk, der, n, NULL, 0);
    if (rc != 0) {
        dkim_errf(err, errlen, "not an RSA or Ed25519 private key (mbedtls -0x%04x)", -rc);
        dkim_key_free(k);
        return NULL;
    }
    if (!mbedtls_pk_can_do(&k->pk, MBEDTLS_PK_RSA)) {
        dkim_errf(err, errlen, "private key is not RSA or Ed25519");
        dkim_key_free(k);
        return NULL;
    }
    size_t bits = mbedtls_pk_get_bitlen(&k->pk);
    if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
        dkim_errf(err, errlen, "RSA key of %zu bits (1024..4096 allowed)", bits);
        dkim_key_free(k);
        return NULL;
    }
    return k;
}

struct dkim_key *dkim_key_load(const char *text, size_t len, char *err, size_t errlen)
{
    char lab[64];
    unsigned char der[8192];
    size_t dlen = 0;
    struct dkim_key *k = NULL;
    if (sodium_init() < 0) {
        dkim_errf(err, errlen, "libsodium init failed");
        return NULL;
    }
    if (memmem(text, len, "-----BEGIN ", 11)) {
        if (pem_decode(text, len, lab, sizeof lab, der, sizeof der, &dlen) != 0)
            dkim_errf(err, errlen, "bad PEM (encrypted keys are not supported)");
        else
            k = key_from_der(der, dlen, err, errlen);
    } else if (sodium_base642bin(der, sizeof der, text, len, " \t\r\n", &dlen, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0) {
        dkim_errf(err, errlen, "key is neither PEM nor base64");
    } else if (dlen == 32 || dlen == 64) {
        k = key_from_seed(der); /* dkimpy's bare Ed25519 seed (or seed||pk) */
    } else {
        k = key_from_der(der, dlen, err, errlen);
    }
    sodium_memzero(der, sizeof der);
    return k;
}

struct dkim_key *dkim_key_load_file(const char *path, char *err, size_t errlen)
{
    char *buf = malloc(DKIM_KEYFILE_MAX);
    int fd = open(path, O_RDONLY);
    ssize_t n = -1;
    if (buf && fd >= 0)
        n = read(fd, buf, DKIM_KEYFILE_MAX);
    if (fd >= 0)
        close(fd);
    struct dkim_key *k = NULL;
    if (n < 0)
        dkim_errf(err, errlen, "cannot read %s", path);
    else if (n == DKIM_KEYFILE_MAX)
        dkim_errf(err, errlen, "%s: too large for a key", path);
    else
        k = dkim_key_load(buf, (size_t)n, err, errlen);
    if (buf) {
        sodium_memzero(buf, DKIM_KEYFILE_MAX);
        free(buf);
    }
    return k;
}

struct dkim_key *dkim_key_generate(enum dkim_alg alg, int bits, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        dkim_errf(err, errlen, "libsodium init failed");
        return NULL;
    }
    if (alg == DKIM_ALG_ED25519_SHA256) {
        unsigned char seed[32];
        randombytes_buf(seed, sizeof seed);
        struct dkim_key *k = key_from_seed(seed);
        sodium_memzero(seed, sizeof seed);
        return k;
    }
    if (bits == 0)
        bits = 2048;
    if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
        dkim_errf(err, errlen, "RSA key size %d outside 1024..4096", bits);
        return NULL;
    }
    struct dkim_key *k = key_new(DKIM_ALG_RSA_SHA256);
    if (!k)
        return NULL;
    int rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (rc == 0)
        rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(k->pk), dkim_rng_cb, NULL, (unsigned)bits, 65537);
    if (rc != 0) {
        dkim_errf(err, errlen, "RSA key generation failed (mbedtls -0x%04x)", -rc);
        dkim_key_free(k);
        return NULL;
    }
    return k;
}

/* Base64 of bin, malloc'd. */
static char *b64(const unsigned char *bin, size_t n)
{
    size_t sz = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(sz);
    if (s)
        sodium_bin2base64(s, sz, bin, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

char *dkim_key_pem(const struct dkim_key *k)
{
    char *out = malloc(DKIM_PEM_MAX);
    if (!out)
        return NULL;
    if (k->alg == DKIM_ALG_RSA_SHA256) {
        if (mbedtls_pk_write_key_pem((mbedtls_pk_context *)&k->pk, (unsigned char *)out,
                                     DKIM_PEM_MAX) != 0) {
            free(out);
            return NULL;
        }
        return out;
    }
    unsigned char der[48];
    memcpy(der, ed25519_pkcs8_prefix, sizeof ed25519_pkcs8_prefix);
    memcpy(der + 16, k->sk, 32);
    char *s = b64(der, sizeof der);
    sodium_memzero(der, sizeof der);
    if (!s) {
        free(out);
        return NULL;
    }
    snprintf(out, DKIM_PEM_MAX, "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n", s);
    sodium_memzero(s, strlen(s));
    free(s);
    return out;
}

char *dkim_key_txt(const struct dkim_key *k)
{
    unsigned char der[DKIM_PUBKEY_MAX];
    const unsigned char *pub;
    size_t n;
    if (k->alg == DKIM_ALG_ED25519_SHA256) {
        pub = k->sk + 32; /* libsodium's secret key is seed || public */
        n = 32;
    } else {
        int rc = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&k->pk, der, sizeof der);
        if (rc <= 0)
            return NULL;
        n = (size_t)rc;
        pub = der + sizeof der - n; /* mbedtls writes DER at the end of the buffer */
    }
    char *p = b64(pub, n);
    if (!p)
        return NULL;
    size_t sz = strlen(p) + 40;
    char *out = malloc(sz);
    if (out)
        snprintf(out, sz, "v=DKIM1; k=%s; p=%s",
                 k->alg == DKIM_ALG_RSA_SHA256 ? "rsa" : "ed25519", p);
    free(p);
    return out;
}
