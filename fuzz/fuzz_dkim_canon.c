/* Fuzz target: header splitting and canonicalization. The first byte picks
 * the body canonicalization and a chunk size; hashing in chunks must give
 * the same result as hashing the body whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum dkim_canon c = (enum dkim_canon)(data[0] & 1);
    size_t step = (size_t)(data[0] >> 1) + 1;
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    struct dkim_msg m;
    if (dkim_msg_parse(msg, len, &m) == 0) {
        for (int i = 0; i < m.n; i++) {
            char *out = malloc(2 * m.h[i].len + 3);
            size_t n = dkim_canon_header(c, m.h[i].p, m.h[i].len, out);
            if (n > 2 * m.h[i].len + 2)
                abort();
            free(out);
        }
        unsigned char h1[32], h2[32];
        const char *body = msg + m.body_off;
        size_t bl = len - m.body_off;
        dkim_body_hash(body, bl, c, UINT64_MAX, h1);
        struct dkim_body b;
        dkim_body_init(&b, c, UINT64_MAX);
        for (size_t i = 0; i < bl; i += step)
            dkim_body_update(&b, body + i, bl - i < step ? bl - i : step);
        dkim_body_final(&b, h2);
        if (memcmp(h1, h2, 32))
            abort();
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        dkim_hash_headers(&st, &m, c, "from:to:subject:from:x", 22);
    }
    dkim_msg_free(&m);
    return 0;
}
