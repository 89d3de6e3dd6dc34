/* Fuzz: PROXY protocol v1/v2 header parser. Whole input, then the same bytes
 * fed growing one byte at a time (how they arrive from a slow balancer): the
 * answer for a prefix is "more" or the final answer, never a different one. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_info whole, part;
    size_t used = 0, pused = 0;
    enum proxy_rc rc = proxy_parse(data, size, &used, &whole);
    if (rc == PROXY_OK) {
        if (used == 0 || used > size || memchr(whole.src, '\0', sizeof whole.src) == NULL)
            abort();
        unsigned char a[16];
        /* a client address, when given, is a real address */
        if (whole.src[0] && inet_pton(AF_INET, whole.src, a) != 1 && inet_pton(AF_INET6, whole.src, a) != 1)
            abort();
    }
    for (size_t n = 0; n <= size && n <= PROXY_V2_MAX + 16; n++) {
        enum proxy_rc r = proxy_parse(data, n, &pused, &part);
        if (r == PROXY_MORE)
            continue;
        /* the first decisive prefix decides what the whole input gets */
        if (r != rc)
            abort();
        if (r == PROXY_OK && (pused != used || strcmp(part.src, whole.src)))
            abort();
        break;
    }
    return 0;
}
