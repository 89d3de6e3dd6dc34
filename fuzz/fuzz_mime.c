/* Fuzz target: the MIME walker, fed whole and then in pieces whose size the
 * first input byte chooses; both walks must report the same body length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

static void count_cb(void *arg, const struct mime_event *ev)
{
    size_t *n = arg;
    if (ev->kind == MIME_BODY)
        *n += ev->len;
    for (size_t i = 0; i < ev->len; i++) /* touch every byte: ASan checks the range */
        n[1] += (unsigned char)ev->data[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t a[2] = {0, 0}, b[2] = {0, 0};
    size_t step = size ? (size_t)data[0] % 64 + 1 : 1;
    struct mime_walker *w = mime_new(count_cb, a);
    if (!w)
        return 0;
    mime_feed(w, (const char *)data, size);
    mime_finish(w);
    mime_free(w);
    w = mime_new(count_cb, b);
    for (size_t i = 0; i < size; i += step)
        mime_feed(w, (const char *)data + i, size - i < step ? size - i : step);
    mime_finish(w);
    mime_free(w);
    if (a[0] != b[0] || a[1] != b[1])
        abort();
    return 0;
}
