/* spamfilter transform: strip incoming copies of our verdict headers (only
 * ours can be trusted), classify, prepend X-Spamtacus and X-Spamtacus-Score.
 * Nothing here refuses a message: no database means "unknown". */
#include "spamfilter.h"

#include "daemon.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokenizing and scoring run on libuv's thread pool: a large message takes
 * long enough to stall every other session if done on the loop. Each job
 * holds its own reference to the database it started with, so a reload
 * (which swaps store.db on the loop) never frees a table a worker reads. */
struct spamfilter_job {
    uv_work_t work;
    struct hop_txn *txn;
    struct bayes_db *db; /* our reference, or NULL: "unknown" */
    char *msg;           /* our own copy: the session may end while the worker runs */
    size_t len;
    char id[32];
    /* results, filled by the worker */
    char *out;
    size_t outlen;
    struct bayes_result r;
};

static void spamfilter_work_cb(uv_work_t *w)
{
    struct spamfilter_job *j = w->data;
    j->out = bayes_mark_message(j->db, j->msg, j->len, &j->outlen, &j->r);
}

static void spamfilter_after_cb(uv_work_t *w, int status)
{
    struct spamfilter_job *j = w->data;
    if (status == UV_ECANCELED || !j->out) {
        /* Never passed on without our verdict: a forged one would survive. */
        hop_transform_done(j->txn, NULL, 0, "451 4.3.0 Cannot classify the message now, try again later");
    } else {
        char label[32];
        snprintf(label, sizeof label, "verdict=\"%s\"", bayes_verdict_word(j->r.verdict));
        metrics_inc("envoi_spam_verdicts_total", label);
        log_info("spam.verdict", "id=%s verdict=%s score=%.3f tokens=%u used=%u%s", j->id,
                 bayes_verdict_word(j->r.verdict), j->r.score, j->r.ntokens, j->r.nused,
                 j->r.dangerous ? " dangerous=1" : "");
        hop_transform_done(j->txn, j->out, j->outlen, NULL); /* the hop owns out now */
    }
    bayes_db_close(j->db);
    free(j->msg);
    free(j);
}

static void spamfilter_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                                 size_t len)
{
    struct spamfilter *sf = arg;
    struct spamfilter_job *j = calloc(1, sizeof *j);
    char *copy = j ? malloc(len ? len : 1) : NULL;
    if (!copy) {
        free(j);
        hop_transform_done(txn, NULL, 0, "451 4.3.0 Out of memory, try again later");
        return;
    }
    memcpy(copy, msg, len);
    j->txn = txn;
    j->db = bayes_db_ref(sf->store.db);
    j->msg = copy;
    j->len = len;
    snprintf(j->id, sizeof j->id, "%s", info->session_id);
    j->work.data = j;
    if (uv_queue_work(sf->loop, &j->work, spamfilter_work_cb, spamfilter_after_cb) < 0) {
        /* libuv refuses only a missing work callback; inline keeps the
         * one-hop_transform_done() contract should that ever change. */
        spamfilter_work_cb(&j->work);
        spamfilter_after_cb(&j->work, 0);
    }
}

const struct hop_ops spamfilter_ops = {
    .transform = spamfilter_transform,
};

/* A changed database file is read and checked on the thread pool too: the
 * default one is 32 MB, a read and a checksum pass the loop should not wait
 * for. Jobs keep classifying with the old database meanwhile. */
struct spamfilter_load {
    uv_work_t work;
    struct spamfilter *sf;
    struct bayes_db *db; /* filled by the worker, NULL if unusable */
    char err[256];
};

static void spamfilter_load_work_cb(uv_work_t *w)
{
    struct spamfilter_load *l = w->data;
    l->db = bayes_db_open(l->sf->db_path, l->err, sizeof l->err);
}

static void spamfilter_load_after_cb(uv_work_t *w, int status)
{
    struct spamfilter_load *l = w->data;
    struct spamfilter *sf = l->sf;
    sf->loading = 0;
    if (l->db) {
        bayes_store_set(&sf->store, l->db);
        log_info("spam.db.reloaded", "path=%s", sf->db_path);
    } else {
        log_error("spam.db.reload-failed", "path=%s err=\"%s\" note=\"keeping the previous database\"", sf->db_path,
                  status == UV_ECANCELED ? "cancelled" : l->err);
    }
    free(l);
}

static void spamfilter_reload_cb(uv_timer_t *t)
{
    struct spamfilter *sf = t->data;
    char err[256];
    if (sf->loading)
        return; /* the file's identity is checked again once this load is in */
    int rc = bayes_store_changed(&sf->store, err, sizeof err);
    if (rc < 0)
        log_error("spam.db.reload-failed", "path=%s err=\"%s\" note=\"keeping the previous database\"", sf->db_path,
                  err);
    if (rc != 1)
        return;
    struct spamfilter_load *l = calloc(1, sizeof *l);
    if (!l) {
        log_error("spam.db.reload-failed", "path=%s err=\"out of memory\"", sf->db_path);
        sf->store.seen = 0; /* try again at the next check */
        return;
    }
    l->sf = sf;
    l->work.data = l;
    sf->loading = 1;
    if (uv_queue_work(sf->loop, &l->work, spamfilter_load_work_cb, spamfilter_load_after_cb) < 0) {
        spamfilter_load_work_cb(&l->work); /* see spamfilter_transform */
        spamfilter_load_after_cb(&l->work, 0);
    }
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
    sf->loop = loop;
    uv_timer_init(loop, &sf->reload_timer);
    sf->reload_timer.data = sf;
    if (sf->db_path && sf->reload_interval > 0)
        uv_timer_start(&sf->reload_timer, spamfilter_reload_cb, (uint64_t)sf->reload_interval * 1000,
                       (uint64_t)sf->reload_interval * 1000);
    daemon_on_reload(spamfilter_reload_hook, sf);
    daemon_on_shutdown(spamfilter_shutdown_hook, sf);
    return 0;
}
