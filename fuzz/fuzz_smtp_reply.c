/* Fuzz target: multi-line replies as a client reads them. Each complete
 * reply must be sane, and every proper prefix of it must parse as "more":
 * the answer may not depend on how the bytes were split into reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct smtp_reply *r = malloc(sizeof *r), *p = malloc(sizeof *p);
    size_t off = 0, used;
    while (off < size && smtp_reply_parse(in + off, size - off, &used, r) == SMTP_REPLY_OK) {
        if (used == 0 || used > size - off || r->code < 200 || r->code > 599 || r->text_len >= SMTP_REPLY_MAX ||
            r->text[r->text_len] != '\0')
            abort();
        size_t cuts[3] = {used - 1, used / 2, used > 4 ? 4 : 0};
        for (int i = 0; i < 3; i++) {
            size_t u2;
            if (smtp_reply_parse(in + off, cuts[i], &u2, p) != SMTP_REPLY_MORE)
                abort();
        }
        off += used;
    }
    free(r);
    free(p);
    return 0;
}
