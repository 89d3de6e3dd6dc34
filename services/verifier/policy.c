/* verifier policy: accept recipients in our domains only, and nothing that
 * smells of relaying (user%other@us, "user@other"@us, user!host@us). */
#include "verifier.h"

#include "log.h"

#include <string.h>
#include <strings.h>

static int verifier_ours(const struct verifier *v, const char *domain)
{
    for (int i = 0; i < v->domains.n; i++)
        if (!strcasecmp(v->domains.v[i], domain))
            return 1;
    return 0;
}

const char *verifier_check_rcpt(void *arg, const struct hop_info *info, const char *rcpt)
{
    struct verifier *v = arg;
    const char *at = strrchr(rcpt, '@');
    if (!at) /* bare <postmaster>: RFC 5321 §4.5.1 says we must take it */
        return NULL;
    if (!verifier_ours(v, at + 1)) {
        log_info("verifier.relay-refused", "id=%s client=%s rcpt=<%s>", info->session_id, info->client_ip, rcpt);
        return "550 5.7.1 Relaying denied: we accept mail for our domains only";
    }
    for (const char *p = rcpt; p < at; p++)
        if (*p == '%' || *p == '!' || *p == '@' || *p == '"') {
            log_info("verifier.relay-refused", "id=%s client=%s rcpt=<%s> reason=routing-in-local-part",
                     info->session_id, info->client_ip, rcpt);
            return "550 5.7.1 Relaying denied: routing characters in the local part";
        }
    return NULL;
}

int verifier_setup(struct verifier *v, const char *domain)
{
    if (!v->nameserver) {
        log_error("config", "err=\"--nameserver is required (the resolver for SPF, DKIM and DMARC)\"");
        return -1;
    }
    if (v->domains.n == 0) {
        v->domains.v[0] = domain;
        v->domains.n = 1;
    }
    if (!v->authserv_id)
        v->authserv_id = domain;
    v->psl = dmarc_psl_load(v->psl_path);
    if (!v->psl)
        return -1;
    if (dmarc_psl_rules(v->psl) == 0)
        log_warn("dmarc.psl", "path=%s rules=0 note=\"organizational domain falls back to the last two labels\"",
                 v->psl_path);
    return 0;
}

void verifier_free(struct verifier *v)
{
    dmarc_psl_free(v->psl);
    v->psl = NULL;
}
