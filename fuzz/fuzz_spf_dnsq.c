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
    for (size_t i = 0; i < a.n; i++)
        if (a.rr[i].data && strlen(a.rr[i].data) > a.rr[i].len)
            abort(); /* data is NUL-terminated at len, NULs inside are allowed */
    /* the same answer given to every question a check asks */
    spf_ctx *c = spf_new();
    if (c) {
        spf_begin(c, "192.0.2.1", "u@fuzz.test", "h.fuzz.test", "rx.test");
        for (int q = 0; q < 64 && spf_step(c) == SPF_NEED_DNS; q++)
            spf_answer_dnsq(c, &a);
        spf_free(c);
    }
    dnsq_answer_free(&a);
    return 0;
}
