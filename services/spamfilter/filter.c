/* spamfilter transform: until the Bayes classifier lands, every message gets
 * the verdict "unknown" (the seed's answer when it has too little evidence);
 * incoming copies of our headers are removed so only ours can be trusted. */
#include "spamfilter.h"

#include "daemon.h"
#include "log.h"
#include "sbuf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies msg without the header fields named X-Spamtacus or X-Spamtacus-Score
 * (with their continuation lines) and with our verdict on top. */
static char *spamfilter_rewrite(const char *msg, size_t len, const char *verdict, const char *score, size_t *outlen)
{
    struct sbuf out;
    sbuf_init(&out, 0);
    sbuf_printf(&out, "X-Spamtacus: %s\r\n", verdict);
    if (score)
        sbuf_printf(&out, "X-Spamtacus-Score: %s\r\n", score);
    size_t i = 0;
    int skipping = 0;
    while (i < len) {
        const char *nl = memchr(msg + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - msg) + 1 : len;
        const char *line = msg + i;
        size_t ll = end - i;
        if (ll <= 2 && (line[0] == '\r' || line[0] == '\n')) {
            sbuf_add(&out, msg + i, len - i); /* end of header: body copied untouched */
            break;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (!skipping)
                sbuf_add(&out, line, ll);
        } else {
            skipping = (ll > 12 && !strncasecmp(line, "X-Spamtacus:", 12)) ||
                       (ll > 18 && !strncasecmp(line, "X-Spamtacus-Score:", 18));
            if (!skipping)
                sbuf_add(&out, line, ll);
        }
        i = end;
    }
    return sbuf_steal(&out, outlen);
}

static void spamfilter_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                                 size_t len)
{
    size_t outlen;
    char *out = spamfilter_rewrite(msg, len, "unknown", NULL, &outlen);
    hop_transform_done(txn, out, outlen, NULL);
}

const struct hop_ops spamfilter_ops = {
    .transform = spamfilter_transform,
};

int spamfilter_init(struct spamfilter *sf, uv_loop_t *loop)
{
    if (sf->db_path)
        log_warn("spamfilter.db", "path=%s status=not-loaded reason=\"classifier not built in yet\"", sf->db_path);
    return 0;
}
