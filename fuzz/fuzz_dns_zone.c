/* Fuzz target: the zone loader and the TSIG key file parser. A zone that
 * loads must answer lookups; the checked text form (what UPDATE commits)
 * must load again with the same records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_tsig.h"
#include "dns_zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct dns_tsig_keys keys = {0};
    dns_tsig_keys_parse((const char *)data, size, &keys, err, sizeof err);
    dns_tsig_keys_free(&keys);
    struct dns_zone *z = dns_zone_parse((const char *)data, size, "zt.test.", err, sizeof err);
    if (!z)
        return 0;
    static const char *names[] = {"zt.test.", "www.zt.test.", "x.y.zt.test.", "*.zt.test.", "a.b.c.zt.test."};
    static const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_MX, LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_DS};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ldns_rdf *n = ldns_dname_new_frm_str(names[i]);
        for (size_t t = 0; n && t < sizeof types / sizeof types[0]; t++) {
            struct dns_answer a;
            dns_zone_answer(z, n, types[t], &a);
            dns_answer_free(&a);
        }
        ldns_rdf_deep_free(n);
    }
    size_t len = 0;
    char *text = dns_zone_to_text_checked(z, &len, err, sizeof err);
    struct dns_zone *back = text ? dns_zone_parse(text, len, "zt.test.", err, sizeof err) : NULL;
    if (text && (!back || back->nrrs != z->nrrs || back->serial != z->serial))
        abort();
    dns_zone_free(back);
    free(text);
    dns_zone_free(z);
    return 0;
}
