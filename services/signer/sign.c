/* signer transform: sign mail whose From domain is ours, pass the rest
 * unsigned with a log line. A message we cannot sign is never refused. */
#include "signer.h"

#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/config.h>

static int signer_ours(const struct signer *sg, const char *domain)
{
    for (int i = 0; i < sg->sign_domains.n; i++)
        if (!strcasecmp(sg->sign_domains.v[i], domain))
            return 1;
    return 0;
}

/* The signature itself runs on libuv's thread pool: hashing a large body and
 * an RSA private-key operation (milliseconds at 2048 bits, far more at 4096)
 * would otherwise stall every session of this process.
 *
 * What the workers share, and why it is safe:
 *  - the keys: loaded once at start and never replaced (there is no key
 *    reload), freed by main() only after daemon_run() returned, which cannot
 *    happen while a job is queued or running (a uv_work_t keeps the loop
 *    alive until its after-callback ran);
 *  - one mbedtls RSA context per key, used by several workers at once: RSA
 *    blinding updates ctx->Vi/Vf on every signature, which mbedtls guards with
 *    the context's mutex only when built with MBEDTLS_THREADING_C (Debian's
 *    2.28 is). Without it two workers would corrupt the blinding values, so
 *    such a build is refused here rather than signing wrongly;
 *  - the RNG: dkim_rng_cb is libsodium's randombytes_buf, thread-safe once
 *    sodium_init() ran (dkim_key_load does), so there is no shared ctr_drbg;
 *  - Ed25519 signing only reads the secret key. */
#if !defined(MBEDTLS_THREADING_C)
#error "signer signs on several threads with one RSA context per key: mbedtls needs MBEDTLS_THREADING_C"
#endif

struct signer_job {
    uv_work_t work;
    struct signer *sg;
    struct hop_txn *txn;
    char *msg; /* our own copy: the session may end while the worker runs */
    size_t len;
    char id[32];
    char domain[256];
    /* results, filled by the worker */
    char *out;
    size_t outlen;
    int oom;
    char err[256];
};

static void signer_work_cb(uv_work_t *w)
{
    struct signer_job *j = w->data;
    struct signer *sg = j->sg;
    /* Sign with every key whose d= is this From domain: aligned for DMARC. */
    struct dkim_signer local[SIGNER_KEYS_MAX];
    const struct dkim_signer *use[SIGNER_KEYS_MAX];
    for (int i = 0; i < sg->nkeys; i++) {
        local[i] = sg->signers[i];
        local[i].domain = j->domain;
        use[i] = &local[i];
    }
    char *sig = dkim_sign_message(use, sg->nkeys, j->msg, j->len, time(NULL), j->err, sizeof j->err);
    if (!sig)
        return;
    size_t sl = strlen(sig);
    j->out = malloc(sl + j->len);
    if (j->out) {
        memcpy(j->out, sig, sl);
        memcpy(j->out + sl, j->msg, j->len);
        j->outlen = sl + j->len;
    } else {
        j->oom = 1;
    }
    free(sig);
}

static void signer_after_cb(uv_work_t *w, int status)
{
    struct signer_job *j = w->data;
    if (status == UV_ECANCELED || j->oom) { /* nothing cancels jobs today; never pass it unsigned */
        hop_transform_done(j->txn, NULL, 0, "451 4.3.0 Cannot sign the message now, try again later");
    } else if (!j->out) {
        log_warn("dkim.unsigned", "id=%s from_domain=%s reason=\"%s\"", j->id, j->domain, j->err);
        metrics_inc("envoi_dkim_total", "result=\"error\"");
        hop_transform_done(j->txn, NULL, 0, NULL);
    } else {
        metrics_inc("envoi_dkim_total", "result=\"signed\"");
        log_info("dkim.signed", "id=%s d=%s keys=%d", j->id, j->domain, j->sg->nkeys);
        hop_transform_done(j->txn, j->out, j->outlen, NULL); /* the hop owns out now */
    }
    free(j->msg);
    free(j);
}

static void signer_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                             size_t len)
{
    struct signer *sg = arg;
    char domain[256];
    /* Only the header block is read here: cheap enough for the loop, and
     * mail we do not sign is never copied. */
    if (dkim_from_domain(msg, len, domain, sizeof domain) < 0) {
        log_info("dkim.unsigned", "id=%s reason=\"no single From address\"", info->session_id);
        metrics_inc("envoi_dkim_total", "result=\"unsigned\"");
        hop_transform_done(txn, NULL, 0, NULL);
        return;
    }
    if (!signer_ours(sg, domain)) {
        log_info("dkim.unsigned", "id=%s from_domain=%s reason=\"not one of our domains\"", info->session_id, domain);
        metrics_inc("envoi_dkim_total", "result=\"unsigned\"");
        hop_transform_done(txn, NULL, 0, NULL);
        return;
    }
    struct signer_job *j = calloc(1, sizeof *j);
    char *copy = j ? malloc(len ? len : 1) : NULL;
    if (!copy) {
        free(j);
        hop_transform_done(txn, NULL, 0, "451 4.3.0 Out of memory, try again later");
        return;
    }
    memcpy(copy, msg, len);
    j->sg = sg;
    j->txn = txn;
    j->msg = copy;
    j->len = len;
    snprintf(j->id, sizeof j->id, "%s", info->session_id);
    snprintf(j->domain, sizeof j->domain, "%s", domain);
    j->work.data = j;
    if (uv_queue_work(sg->loop, &j->work, signer_work_cb, signer_after_cb) < 0) {
        /* libuv refuses only a missing work callback; inline keeps the
         * one-hop_transform_done() contract should that ever change. */
        signer_work_cb(&j->work);
        signer_after_cb(&j->work, 0);
    }
}

const struct hop_ops signer_ops = {
    .transform = signer_transform,
};

static int signer_canon(const char *s, enum dkim_canon *c)
{
    if (!strcmp(s, "relaxed"))
        *c = DKIM_CANON_RELAXED;
    else if (!strcmp(s, "simple"))
        *c = DKIM_CANON_SIMPLE;
    else
        return -1;
    return 0;
}

int signer_setup(struct signer *sg, const char *domain)
{
    if (sg->key_files.n == 0 || sg->key_files.n != sg->selectors.n) {
        log_error("config", "err=\"give one --selector per --private-key (at least one)\"");
        return -1;
    }
    if (sg->key_files.n > SIGNER_KEYS_MAX) {
        log_error("config", "err=\"at most %d keys\"", SIGNER_KEYS_MAX);
        return -1;
    }
    if (sg->sign_domains.n == 0) {
        sg->sign_domains.v[0] = domain;
        sg->sign_domains.n = 1;
    }
    enum dkim_canon hc, bc;
    char hbuf[32];
    const char *slash = strchr(sg->canon, '/');
    snprintf(hbuf, sizeof hbuf, "%.*s", slash ? (int)(slash - sg->canon) : (int)strlen(sg->canon), sg->canon);
    if (signer_canon(hbuf, &hc) < 0 || signer_canon(slash ? slash + 1 : "simple", &bc) < 0) {
        log_error("config", "err=\"--canonicalization: relaxed|simple[/relaxed|simple], got %s\"", sg->canon);
        return -1;
    }
    if ((sg->dns_server != NULL) != (sg->dns_key != NULL)) {
        log_error("config", "err=\"--dns-server and --dns-key go together\"");
        return -1;
    }
    for (int i = 0; i < sg->key_files.n; i++) {
        char err[256];
        sg->keys[i] = dkim_key_load_file(sg->key_files.v[i], err, sizeof err);
        if (!sg->keys[i]) {
            log_error("config", "err=\"--private-key %s: %s\"", sg->key_files.v[i], err);
            return -1;
        }
        sg->signers[i] = (struct dkim_signer){.domain = sg->sign_domains.v[0], .selector = sg->selectors.v[i],
                                              .key = sg->keys[i], .hcanon = hc, .bcanon = bc,
                                              .expire = sg->expiration};
        sg->nkeys++;
        log_info("dkim.key", "selector=%s alg=%s bits=%d", sg->selectors.v[i],
                 dkim_key_alg(sg->keys[i]) == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa", dkim_key_bits(sg->keys[i]));
    }
    return 0;
}

void signer_free(struct signer *sg)
{
    for (int i = 0; i < sg->nkeys; i++)
        dkim_key_free(sg->keys[i]);
    sg->nkeys = 0;
}
