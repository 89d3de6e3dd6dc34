/* tls: mbedtls sessions over memory buffers (see tls.h). */
#include "tls.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/error.h>

/* One DRBG for the process: sessions only run on the loop thread. */
static mbedtls_entropy_context tls_entropy;
static mbedtls_ctr_drbg_context tls_drbg;
static int tls_rng_ready;

static int tls_rng_init(void)
{
    if (tls_rng_ready)
        return 0;
    mbedtls_entropy_init(&tls_entropy);
    mbedtls_ctr_drbg_init(&tls_drbg);
    if (mbedtls_ctr_drbg_seed(&tls_drbg, mbedtls_entropy_func, &tls_entropy, (const unsigned char *)"envoi", 5))
        return -1;
    tls_rng_ready = 1;
    return 0;
}

static void tls_strerror(int rc, const char *what, const char *path, char *err, size_t errlen)
{
    char m[128];
    mbedtls_strerror(rc, m, sizeof m);
    snprintf(err, errlen, "%s %s: %s", what, path ? path : "", m);
}

/* A file's identity for change detection: renewals usually land within the
 * same second as the old file, so seconds alone are not enough. */
static void tls_stamp(const char *path, char *out, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(out, len, "missing");
        return;
    }
    snprintf(out, len, "%lld.%09ld/%lld/%llu", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
             (long long)st.st_size, (unsigned long long)st.st_ino);
}

static struct tls_config *tls_config_new(int server)
{
    struct tls_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->refs = 1;
    c->server = server;
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_pk_init(&c->key);
    if (tls_rng_init() < 0 ||
        mbedtls_ssl_config_defaults(&c->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) {
        tls_config_unref(c);
        return NULL;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &tls_drbg);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    return c;
}

struct tls_config *tls_server_config(const char *cert, const char *key, char *err, size_t errlen)
{
    struct tls_config *c = tls_config_new(1);
    int rc;
    if (!c) {
        snprintf(err, errlen, "tls: cannot initialise");
        return NULL;
    }
    if ((rc = mbedtls_x509_crt_parse_file(&c->cert, cert)) != 0) {
        tls_strerror(rc, "certificate", cert, err, errlen);
        goto fail;
    }
    if ((rc = mbedtls_pk_parse_keyfile(&c->key, key, NULL)) != 0) {
        tls_strerror(rc, "private key", key, err, errlen);
        goto fail;
    }
    /* mbedtls takes any key with any certificate and then fails every
     * handshake; a renewal caught between its two renames looks the same. */
    if (mbedtls_pk_check_pair(&c->cert.pk, &c->key) != 0) {
        snprintf(err, errlen, "private key %s does not match certificate %s", key, cert);
        goto fail;
    }
    if ((rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0) {
        tls_strerror(rc, "certificate/key pair", cert, err, errlen);
        goto fail;
    }
    snprintf(c->cert_path, sizeof c->cert_path, "%s", cert);
    snprintf(c->key_path, sizeof c->key_path, "%s", key);
    tls_stamp(cert, c->cert_stamp, sizeof c->cert_stamp);
    tls_stamp(key, c->key_stamp, sizeof c->key_stamp);
    return c;
fail:
    tls_config_unref(c);
    return NULL;
}

struct tls_config *tls_client_config(const char *ca_file, int required, char *err, size_t errlen)
{
    struct tls_config *c = tls_config_new(0);
    if (!c) {
        snprintf(err, errlen, "tls: cannot initialise");
        return NULL;
    }
    if (ca_file && *ca_file) {
        int rc = mbedtls_x509_crt_parse_file(&c->ca, ca_file);
        if (rc < 0) {
            tls_strerror(rc, "CA bundle", ca_file, err, errlen);
            tls_config_unref(c);
            return NULL;
        }
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
        mbedtls_ssl_conf_authmode(&c->conf, required ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_OPTIONAL);
    } else {
        mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    return c;
}

void tls_config_refresh(struct tls_config **slot)
{
    struct tls_config *old = *slot;
    if (!old || !old->server)
        return;
    char cs[64], ks[64];
    tls_stamp(old->cert_path, cs, sizeof cs);
    tls_stamp(old->key_path, ks, sizeof ks);
    if (!strcmp(cs, old->cert_stamp) && !strcmp(ks, old->key_stamp))
        return;
    char err[256];
    struct tls_config *c = tls_server_config(old->cert_path, old->key_path, err, sizeof err);
    if (!c) {
        /* Keep serving the certificate we have; retry on the next session. */
        log_warn("tls.reload.failed", "err=\"%s\"", err);
        memcpy(old->cert_stamp, cs, sizeof cs);
        memcpy(old->key_stamp, ks, sizeof ks);
        return;
    }
    log_info("tls.reload", "cert=%s", c->cert_path);
    *slot = c;
    tls_config_unref(old);
}

void tls_config_ref(struct tls_config *c)
{
    c->refs++;
}

void tls_config_unref(struct tls_config *c)
{
    if (!c || --c->refs > 0)
        return;
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_pk_free(&c->key);
    free(c);
}

/* ---- sessions ---- */

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_session *t = ctx;
    if (sbuf_add(&t->cout, buf, len) < 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_session *t = ctx;
    size_t avail = t->cin.len - t->cin_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(buf, t->cin.p + t->cin_off, len);
    t->cin_off += len;
    if (t->cin_off == t->cin.len) {
        t->cin.len = 0;
        t->cin_off = 0;
    }
    return (int)len;
}

int tls_session_init(struct tls_session *t, struct tls_config *cfg, const char *sni)
{
    memset(t, 0, sizeof *t);
    mbedtls_ssl_init(&t->ssl);
    sbuf_init(&t->cin, TLS_BUF_MAX);
    sbuf_init(&t->cout, TLS_BUF_MAX);
    if (mbedtls_ssl_setup(&t->ssl, &cfg->conf) != 0)
        return -1;
    if (sni && *sni && mbedtls_ssl_set_hostname(&t->ssl, sni) != 0)
        return -1;
    mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, tls_bio_recv, NULL);
    t->cfg = cfg;
    tls_config_ref(cfg);
    return 0;
}

enum tls_rc tls_session_handshake(struct tls_session *t)
{
    if (t->done)
        return TLS_AGAIN;
    int rc = mbedtls_ssl_handshake(&t->ssl);
    if (rc == 0) {
        t->done = 1;
        return TLS_HANDSHAKE_DONE;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return TLS_AGAIN;
    char m[128];
    mbedtls_strerror(rc, m, sizeof m);
    log_info("tls.handshake.failed", "err=\"%s\"", m);
    return TLS_ERR;
}

enum tls_rc tls_session_input(struct tls_session *t, const char *data, size_t len, struct sbuf *plain)
{
    enum tls_rc result = TLS_AGAIN;
    if (sbuf_add(&t->cin, data, len) < 0)
        return TLS_ERR;
    if (!t->done) {
        enum tls_rc rc = tls_session_handshake(t);
        if (rc != TLS_HANDSHAKE_DONE)
            return rc;
        result = TLS_HANDSHAKE_DONE;
    }
    unsigned char buf[16384];
    for (;;) {
        int n = mbedtls_ssl_read(&t->ssl, buf, sizeof buf);
        if (n > 0) {
            if (sbuf_add(plain, buf, (size_t)n) < 0)
                return TLS_ERR;
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            return result;
        if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return TLS_CLOSED;
        return TLS_ERR;
    }
}

int tls_session_write(struct tls_session *t, const char *data, size_t len)
{
    while (len > 0) {
        int n = mbedtls_ssl_write(&t->ssl, (const unsigned char *)data, len);
        if (n < 0)
            return -1; /* the BIO never blocks, so WANT_* cannot happen here */
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

const char *tls_session_describe(struct tls_session *t, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", mbedtls_ssl_get_version(&t->ssl), mbedtls_ssl_get_ciphersuite(&t->ssl));
    return buf;
}

int tls_session_verified(struct tls_session *t)
{
    return t->done && mbedtls_ssl_get_verify_result(&t->ssl) == 0;
}

void tls_session_close_notify(struct tls_session *t)
{
    if (t->done)
        mbedtls_ssl_close_notify(&t->ssl);
}

void tls_session_free(struct tls_session *t)
{
    mbedtls_ssl_free(&t->ssl);
    sbuf_free(&t->cin);
    sbuf_free(&t->cout);
    if (t->cfg)
        tls_config_unref(t->cfg);
    t->cfg = NULL;
}
