/* spf_dnsq: a dnsq answer handed to the SPF evaluator (see spf.h). Kept
 * apart from spf.c so the evaluator itself stays free of any DNS code. */
#include "dnsq.h"
#include "spf.h"

#include <stdlib.h>
#include <string.h>

int spf_answer_dnsq(spf_ctx *c, const struct dnsq_answer *a)
{
    spf_rdata *rr = a->n ? calloc(a->n, sizeof *rr) : NULL;
    for (size_t i = 0; rr && i < a->n; i++) {
        rr[i].type = a->rr[i].type;
        rr[i].pref = a->rr[i].pref;
        memcpy(rr[i].addr, a->rr[i].addr, 16);
        rr[i].data = a->rr[i].data;
        rr[i].len = a->rr[i].len;
    }
    /* Without memory for the records, an empty NOERROR would read as
     * "no such record": say the server failed instead. */
    int rcode = a->n && !rr ? SPF_RCODE_SERVFAIL : a->rcode == DNSQ_TIMEOUT ? SPF_RCODE_TIMEOUT : a->rcode;
    spf_answer(c, rcode, rr, rr ? a->n : 0);
    free(rr);
    return rcode;
}
