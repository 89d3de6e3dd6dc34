/* spamfilter transform: until the Bayes classifier lands, every message gets
 * the verdict "unknown" (the seed's answer when it has too little evidence);
 * incoming copies of our headers are removed so only ours can be trusted. */
#include "spamfilter.h"

#include "daemon.h"
#include "log.h"
#include "hdr.h"

#include <stdlib.h>
#include <string.h>

/* Incoming copies of our verdict headers are forgeries: only ours count. */
static int spamfilter_drop(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    return hdr_name_is(name, nlen, "X-Spamtacus") || hdr_name_is(name, nlen, "X-Spamtacus-Score");
}

static void spamfilter_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                                 size_t len)
{
    size_t outlen;
    char *out = hdr_filter(msg, len, "X-Spamtacus: unknown\r\n", spamfilter_drop, NULL, &outlen);
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
