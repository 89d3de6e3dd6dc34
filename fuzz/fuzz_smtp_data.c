/* Fuzz target: the DATA state machine. The first byte picks a piece size
 * and a size limit. Fed whole and in pieces, the results must agree; the
 * data may end only right after CRLF "." CRLF (or "." CRLF at the very
 * start); and the rest, dot-stuffed by smtp_dot_stuff, must come back as
 * itself with line ends made CRLF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

struct res {
    int done;
    size_t consumed;
    struct smtp_data d;
    struct sbuf out;
};

static void feed(const char *in, size_t len, size_t step, size_t max, struct res *r)
{
    memset(r, 0, sizeof *r);
    sbuf_init(&r->out, 0);
    smtp_data_begin(&r->d, max);
    for (size_t pos = 0; pos < len && !r->done; pos += step) {
        size_t n = len - pos < step ? len - pos : step, used;
        if ((r->done = smtp_data_feed(&r->d, in + pos, n, &used, &r->out) == SMTP_DATA_DONE))
            r->consumed = pos + used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] % 32 + 1, max = data[0] & 0x80 ? 64 : (size_t)1 << 20;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    struct res a, b;
    feed(in, len, len ? len : 1, max, &a);
    feed(in, len, step, max, &b);
    /* After an error the content is to be discarded: how much of it was
     * appended before a size error depends on the pieces, so compare it only
     * when there is none. */
    if (a.done != b.done || a.consumed != b.consumed || a.d.err != b.d.err || a.d.size != b.d.size ||
        (!a.d.err && (a.out.len != b.out.len || (a.out.len && memcmp(a.out.p, b.out.p, a.out.len)))))
        abort();
    if (a.done && !(a.consumed == 3 ? !memcmp(in, ".\r\n", 3) : a.consumed >= 5 && !memcmp(in + a.consumed - 5, "\r\n.\r\n", 5)))
        abort();
    if (!a.d.err && a.out.len != a.d.size)
        abort();
    /* Round trip: stuff the input as a message, read it back. */
    struct sbuf st, want;
    sbuf_init(&st, 0);
    sbuf_init(&want, 0);
    for (size_t i = 0; i < len; i++) {
        int eol = in[i] == '\r' || in[i] == '\n';
        if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
            i++;
        sbuf_add(&want, eol ? "\r\n" : in + i, eol ? 2 : 1);
    }
    if (want.len && (want.len < 2 || memcmp(want.p + want.len - 2, "\r\n", 2)))
        sbuf_add(&want, "\r\n", 2);
    if (smtp_dot_stuff(in, len, &st) != 0)
        abort();
    struct res c;
    feed(st.p, st.len, step, (size_t)1 << 30, &c);
    if (!c.done || c.consumed != st.len || c.d.err || c.out.len != want.len || (want.len && memcmp(c.out.p, want.p, want.len)))
        abort();
    sbuf_free(&a.out), sbuf_free(&b.out), sbuf_free(&c.out), sbuf_free(&st), sbuf_free(&want);
    return 0;
}
