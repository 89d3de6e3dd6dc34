/* Fuzz target: the DKIM tag-list parser and the key-record parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dkim_tags t;
    struct dkim_keyrec k;
    char err[64];
    if (dkim_tags_parse((const char *)data, size, &t) == DKIM_TAGS_OK) {
        /* Every tag must lie inside the input. */
        for (int i = 0; i < t.n; i++)
            if (t.tag[i].name < (const char *)data || t.tag[i].val + t.tag[i].vlen > (const char *)data + size)
                abort();
    }
    if (dkim_keyrec_parse((const char *)data, size, &k, err, sizeof err) == 0 && k.publen > sizeof k.pub)
        abort();
    return 0;
}
