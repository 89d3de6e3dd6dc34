/* Fuzz target: a key record (TXT) given to both signatures of the RFC 8463
 * example, so p= reaches mbedtls' public key parser and libsodium. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"

#include "../tests/unit/rfc8463_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dkim_verify *v = dkim_verify_begin(rfc8463_msg, sizeof rfc8463_msg - 1, 1600000000);
    if (!v)
        return 0;
    for (int i = 0; i < dkim_verify_count(v); i++) {
        enum dkim_result r = dkim_verify_key(v, i, (const char *)data, size, DKIM_DNS_OK);
        if (r == DKIM_PENDING || r == DKIM_NONE)
            abort();
    }
    dkim_verify_free(v);
    return 0;
}
