/* Fuzz: the verifier's pure header code on one message: which arriving
 * fields are forgeries of ours (strip.c), the author domains for DMARC
 * (from.c) and their A-labels (idn.c). They live with the service, so they
 * are compiled in here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../services/verifier/from.c"
#include "../services/verifier/idn.c"
#include "../services/verifier/strip.c"
#include "hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct verifier v = {.authserv_id = "mx.envoi.test"};
    size_t outlen;
    char *out = hdr_filter((const char *)data, size, NULL, verifier_strip_cb, &v, &outlen);
    if (!out || outlen > size)
        abort(); /* only ever removes */
    free(out);
    char doms[4][VERIFIER_DOMAIN_MAX], a[VERIFIER_DOMAIN_MAX];
    int naddr, n = verifier_from_domains((const char *)data, size, doms, 4, &naddr);
    if (n < 0 || n > 4 || (n && naddr == 0))
        abort();
    for (int i = 0; i < n; i++) {
        if (strlen(doms[i]) >= VERIFIER_DOMAIN_MAX)
            abort();
        if (verifier_alabels(doms[i], a, sizeof a) == 0)
            for (const char *p = a; *p; p++)
                if ((unsigned char)*p >= 0x80)
                    abort(); /* an A-label form is ASCII */
    }
    return 0;
}
