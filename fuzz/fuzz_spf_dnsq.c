/* Fuzz: DNS response decoding for the CLI (dnsq over ldns) and the handoff of
 * the decoded records to the SPF evaluator as answers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsq.h"
#include "spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dnsq_answer a;
    if (dnsq_answer_from_wire(data, size, &a) != 0) {
        dnsq_answer_free(&a);
        return 0;
    }
    spf_rdata rr[64];
    size_t n = 0;
    for (size_t i = 0; i < a.n && n < 64; i++) {
        if (a.rr[i].data && strlen(a.rr[i].data) > a.rr[i].len)
            abort(); /* data is NUL-terminated at len, NULs inside are allowed */
        rr[n].type = a.rr[i].type;
        rr[n].pref = a.rr[i].pref;
        memcpy(rr[n].addr, a.rr[i].addr, 16);
        rr[n].data = a.rr[i].data;
        rr[n].len = a.rr[i].len;
        n++;
    }
    /* the same answer given to every question a check asks */
    spf_ctx *c = spf_new();
    if (c) {
        spf_begin(c, "192.0.2.1", "u@fuzz.test", "h.fuzz.test", "rx.test");
        for (int q = 0; q < 64 && spf_step(c) == SPF_NEED_DNS; q++)
            spf_answer(c, a.rcode, rr, n);
        spf_free(c);
    }
    dnsq_answer_free(&a);
    return 0;
}
