/* Fuzz target: a whole SMTP server session. The first byte picks the
 * configuration and a piece size. The session runs twice: fed whole with
 * hooks answering at once, and fed in pieces with hooks answering after
 * each piece; the client must see the same well-formed bytes both times,
 * and every message accepted must have CRLF line ends only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "smtp_server.h"

struct fz {
    struct smtp_srv s;
    struct sbuf out;
    int closed, deferred, pending;
    char reply[64];
};

static void write_cb(void *a, const char *d, size_t n)
{
    struct fz *f = a;
    if (f->closed || sbuf_add(&f->out, d, n) < 0)
        abort();
}
static void close_cb(void *a, const char *why)
{
    struct fz *f = a;
    if (f->closed++ || !why)
        abort();
}
static void answer(struct fz *f, const char *r)
{
    if (f->pending)
        abort(); /* the engine waits for one answer at a time */
    snprintf(f->reply, sizeof f->reply, "%s", r);
    f->pending = 1;
    if (!f->deferred) {
        f->pending = 0;
        smtp_srv_reply(&f->s, r);
    }
}
static void mail_cb(void *a, struct smtp_srv *s, const struct smtp_path *p)
{
    answer(a, p->addr[0] == 'x' ? "550 5.7.1 No" : p->addr[0] == 'q' ? "421 4.3.2 Bye" : "250 2.1.0 Ok");
}
static void rcpt_cb(void *a, struct smtp_srv *s, const struct smtp_path *p)
{
    answer(a, p->addr[0] == 'x' ? "450 4.2.1 Busy" : "250 2.1.5 Ok");
}
static void msg_cb(void *a, struct smtp_srv *s, const char *m, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) { /* every byte in range; CRLF line ends only */
        sum += (unsigned char)m[i];
        if ((m[i] == '\r' && (i + 1 == n || m[i + 1] != '\n')) || (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')))
            abort();
    }
    if (n && (n < 2 || m[n - 2] != '\r' || m[n - 1] != '\n'))
        abort();
    answer(a, sum % 3 ? "250 2.0.0 Ok" : "554 5.7.1 No");
}
static void auth_cb(void *a, struct smtp_srv *s, const char *u, const char *p)
{
    int ok = strcmp(u, p) == 0;
    if (ok)
        smtp_srv_auth_set(s, u);
    answer(a, ok ? "235 2.7.0 Ok" : "535 5.7.8 No");
}
static void tls_cb(void *a, struct smtp_srv *s)
{
    smtp_srv_tls_done(s, 1);
}
static const struct smtp_srv_hooks hooks = {.write = write_cb, .close = close_cb, .mail = mail_cb, .rcpt = rcpt_cb,
                                            .message = msg_cb, .auth = auth_cb, .starttls = tls_cb};
static const struct smtp_srv_config cfgs[4] = {
    {.hostname = "mx.test", .max_size = 4096},
    {.hostname = "mx.test", .max_size = 64, .max_rcpts = 3, .max_errors = 4, .refuse_routes = 1},
    {.hostname = "mx.test", .max_size = 4096, .auth = 1, .auth_required = 1},
    {.hostname = "mx.test", .max_size = 4096, .auth = 1, .starttls = 1, .auth_needs_tls = 1},
};

static void run(struct fz *f, int cfg, const char *in, size_t len, size_t step, int deferred)
{
    memset(f, 0, sizeof *f);
    f->deferred = deferred;
    sbuf_init(&f->out, 0);
    smtp_srv_init(&f->s, &cfgs[cfg], &hooks, f, "fuzz");
    smtp_srv_start(&f->s);
    for (size_t pos = 0; pos < len && !f->closed; pos += step) {
        smtp_srv_feed(&f->s, in + pos, len - pos < step ? len - pos : step);
        while (f->pending) {
            f->pending = 0;
            smtp_srv_reply(&f->s, f->reply);
        }
    }
    smtp_srv_free(&f->s);
    for (size_t i = 0, e; i < f->out.len; i = e + 1) { /* every line: 3 digits, ' ' or '-', CRLF */
        const char *l = f->out.p + i, *lf = memchr(l, '\n', f->out.len - i);
        e = lf ? (size_t)(lf - f->out.p) : f->out.len;
        if (!lf || e - i < 4 || l[e - i - 1] != '\r' || l[0] < '2' || l[0] > '5' || (l[3] != ' ' && l[3] != '-' && l[3] != '\r'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_init("fuzz", LOG_WARN); /* refusals are logged at info */
    if (size < 1)
        return 0;
    int cfg = data[0] & 3;
    size_t step = (size_t)(data[0] >> 2) + 1;
    struct fz a, b;
    run(&a, cfg, (const char *)data + 1, size - 1, size, 0);
    run(&b, cfg, (const char *)data + 1, size - 1, step, 1);
    /* STARTTLS drops pipelined input, so only the TLS-free configs compare. */
    if (cfg != 3 && (a.out.len != b.out.len || memcmp(a.out.p, b.out.p, a.out.len)))
        abort();
    sbuf_free(&a.out);
    sbuf_free(&b.out);
    return 0;
}
