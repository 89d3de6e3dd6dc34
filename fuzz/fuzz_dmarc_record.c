/* Fuzz: DMARC record parser and the org-domain/alignment code on the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dmarc_psl *psl;
    if (!psl) {
        static const char rules[] = "com\nco.uk\n*.ck\n!www.ck\ntest\n";
        psl = dmarc_psl_load_mem(rules, sizeof rules - 1);
    }
    dmarc_record r;
    if (dmarc_record_parse((const char *)data, size, &r, NULL) == 0 &&
        (r.pct < 0 || r.pct > 100 || (r.adkim != 'r' && r.adkim != 's') || r.p == DMARC_P_UNSET))
        abort();
    /* the same bytes as a domain name */
    char *dom = malloc(size + 1), out[300];
    if (!dom)
        return 0;
    memcpy(dom, data, size);
    dom[size] = '\0';
    if (dmarc_org_domain(psl, dom, out, sizeof out) == 0 && strlen(out) > strlen(dom))
        abort();
    dmarc_aligned(psl, dom, "a.example.co.uk", 'r');
    dmarc_psl *p2 = dmarc_psl_load_mem((const char *)data, size);
    dmarc_psl_free(p2);
    free(dom);
    return 0;
}
