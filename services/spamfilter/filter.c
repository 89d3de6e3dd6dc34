/* spamfilter transform: strip incoming copies of our verdict headers (only
 * ours can be trusted), classify, prepend X-Spamtacus and X-Spamtacus-Score.
 * Nothing here refuses a message: no database means "unknown". */
#include "spamfilter.h"

#include "daemon.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

static void spamfilter_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                                 size_t len)
{
    struct spamfilter *sf = arg;
    struct bayes_result r;
    size_t outlen;
    char *out = bayes_mark_message(sf->store.db, msg, len, &outlen, &r);
    if (!out) {
        hop_transform_done(txn, NULL, 0, "451 4.3.0 Out of memory, try again later");
        return;
    }
    char label[32];
    snprintf(label, sizeof label, "verdict=\"%s\"", bayes_verdict_word(r.verdict));
    metrics_inc("envoi_spam_verdicts_total", label);
    log_info("spam.verdict", "id=%s verdict=%s score=%.3f tokens=%u used=%u%s", info->session_id,
             bayes_verdict_word(r.verdict), r.score, r.ntokens, r.nused, r.dangerous ? " dangerous=1" : "");
    hop_transform_done(txn, out, outlen, NULL);
}

const struct hop_ops spamfilter_ops = {
    .transform = spamfilter_transform,
};

static void spamfilter_reload_cb(uv_timer_t *t)
{
    struct spamfilter *sf = t->data;
    char err[256];
    int rc = bayes_store_reload(&sf->store, err, sizeof err);
    if (rc == 1)
        log_info("spam.db.reloaded", "path=%s", sf->db_path);
    else if (rc < 0)
        log_error("spam.db.reload-failed", "path=%s err=\"%s\" note=\"keeping the previous database\"", sf->db_path,
                  err);
}

static void spamfilter_reload_hook(void *arg)
{
    struct spamfilter *sf = arg;
    if (sf->db_path)
        spamfilter_reload_cb(&sf->reload_timer);
}

static void spamfilter_shutdown_hook(void *arg)
{
    struct spamfilter *sf = arg;
    uv_close((uv_handle_t *)&sf->reload_timer, NULL);
}

int spamfilter_init(struct spamfilter *sf, uv_loop_t *loop)
{
    char err[256];
    if (!sf->db_path) {
        log_warn("spam.db.missing", "note=\"no --database: every verdict is unknown\"");
    } else if (bayes_store_open(&sf->store, sf->db_path, err, sizeof err) < 0) {
        log_error("spam.db.unusable", "path=%s err=\"%s\" note=\"verdicts are unknown until the file is fixed\"",
                  sf->db_path, err);
    } else {
        unsigned nspam, nham;
        uint64_t ntok;
        unsigned flags;
        bayes_db_info(sf->store.db, &nspam, &nham, &ntok, &flags);
        log_info("spam.db.loaded", "path=%s spam=%u ham=%u tokens=%llu", sf->db_path, nspam, nham,
                 (unsigned long long)ntok);
    }
    uv_timer_init(loop, &sf->reload_timer);
    sf->reload_timer.data = sf;
    if (sf->db_path && sf->reload_interval > 0)
        uv_timer_start(&sf->reload_timer, spamfilter_reload_cb, (uint64_t)sf->reload_interval * 1000,
                       (uint64_t)sf->reload_interval * 1000);
    daemon_on_reload(spamfilter_reload_hook, sf);
    daemon_on_shutdown(spamfilter_shutdown_hook, sf);
    return 0;
}
