/* signer key publication: <selector>._domainkey.<domain> must carry the TXT
 * record of each key we sign with. Checked against the primary itself (not a
 * cache) and replaced, never added beside a stale one. */
#include "signer.h"

#include "dnsq.h"
#include "dnsup.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNER_KEY_TTL 3600

static int signer_publish_one(struct signer *sg, const char *domain, int i)
{
    char name[512], err[256];
    snprintf(name, sizeof name, "%s._domainkey.%s", sg->selectors.v[i], domain);
    char *txt = dkim_key_txt(sg->keys[i]);
    if (!txt)
        return -1;
    int same = 0;
    dnsq *q = dnsq_new(sg->dns_server, 2000);
    if (q) {
        dnsq_answer a;
        dnsq_query(q, name, 16, &a);
        for (size_t k = 0; k < a.n; k++)
            if (a.rr[k].type == 16 && a.rr[k].len == strlen(txt) && !memcmp(a.rr[k].data, txt, a.rr[k].len))
                same = a.n == 1;
        dnsq_answer_free(&a);
        dnsq_free(q);
    }
    if (same) {
        log_info("dkim.publish", "name=%s status=current", name);
        free(txt);
        return 0;
    }
    char *rr = dnsup_txt_rr(name, SIGNER_KEY_TTL, txt);
    int rc = dnsup_send(sg->dns_server, sg->dns_key, sg->zone ? sg->zone : domain, DNSUP_REPLACE, rr, err, sizeof err);
    free(rr);
    free(txt);
    if (rc != 0) {
        log_error("dkim.publish", "name=%s status=failed err=\"%s\"", name, err);
        return -1;
    }
    log_info("dkim.publish", "name=%s status=replaced", name);
    return 0;
}

int signer_publish(struct signer *sg)
{
    int rc = 0;
    for (int d = 0; d < sg->sign_domains.n; d++)
        for (int i = 0; i < sg->nkeys; i++)
            rc |= signer_publish_one(sg, sg->sign_domains.v[d], i);
    return rc;
}
