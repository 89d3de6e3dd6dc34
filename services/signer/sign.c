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

static int signer_ours(const struct signer *sg, const char *domain)
{
    for (int i = 0; i < sg->sign_domains.n; i++)
        if (!strcasecmp(sg->sign_domains.v[i], domain))
            return 1;
    return 0;
}

static void signer_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                             size_t len)
{
    struct signer *sg = arg;
    char domain[256], err[256];
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
    /* Sign with every key whose d= is this From domain: aligned for DMARC. */
    struct dkim_signer local[SIGNER_KEYS_MAX];
    const struct dkim_signer *use[SIGNER_KEYS_MAX];
    for (int i = 0; i < sg->nkeys; i++) {
        local[i] = sg->signers[i];
        local[i].domain = domain;
        use[i] = &local[i];
    }
    char *sig = dkim_sign_message(use, sg->nkeys, msg, len, time(NULL), err, sizeof err);
    if (!sig) {
        log_warn("dkim.unsigned", "id=%s from_domain=%s reason=\"%s\"", info->session_id, domain, err);
        metrics_inc("envoi_dkim_total", "result=\"error\"");
        hop_transform_done(txn, NULL, 0, NULL);
        return;
    }
    size_t sl = strlen(sig);
    char *out = malloc(sl + len + 1);
    if (!out) {
        free(sig);
        hop_transform_done(txn, NULL, 0, "451 4.3.0 Out of memory, try again later");
        return;
    }
    memcpy(out, sig, sl);
    memcpy(out + sl, msg, len);
    free(sig);
    metrics_inc("envoi_dkim_total", "result=\"signed\"");
    log_info("dkim.signed", "id=%s d=%s keys=%d", info->session_id, domain, sg->nkeys);
    hop_transform_done(txn, out, sl + len, NULL);
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
