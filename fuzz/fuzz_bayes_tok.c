/* Fuzz target: the tokenizer over a raw message and over plain text, and
 * the header stripper (whose output must never grow). */
#include <stdint.h>
#include <stdlib.h>

#include "bayes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags = size ? data[0] & 7 : 0;
    struct bayes_tok *t = bayes_tok_new(flags);
    if (!t)
        return 0;
    size_t n;
    bayes_tok_message(t, (const char *)data, size);
    const uint64_t *h = bayes_tok_hashes(t, &n);
    for (size_t i = 0; i < n; i++)
        if (h[i] == 0)
            abort();
    bayes_tok_text(t, (const char *)data, size);
    bayes_tok_free(t);
    size_t outlen;
    char *s = bayes_strip_headers((const char *)data, size, &outlen);
    if (s && outlen > size)
        abort();
    free(s);
    return 0;
}
