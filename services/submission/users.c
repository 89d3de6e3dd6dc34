/* users: the user database from the configuration repository. A pull and a
 * parse run on libuv's thread pool (network and disk I/O); the loop thread
 * swaps the database pointer in the after-work callback, so sessions go on
 * undisturbed and a login sees either the old or the new database, whole.
 * A failed pull or load keeps the database we have. */
#include "submission.h"

#include "daemon.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Worker thread: touches only sm->git and the next_* fields. */
static void users_work_cb(uv_work_t *w)
{
    struct submission *sm = w->data;
    sm->next = NULL;
    sm->next_rc = -1;
    sm->err[0] = '\0';
    if (!sm->git) {
        struct gitdb_opts o = {.remote = sm->remote, .dir = sm->clone_dir, .ssh_key = sm->ssh_key};
        sm->git = gitdb_open(&o, sm->err, sizeof sm->err);
        if (!sm->git)
            return;
    }
    int changed = 0;
    if (gitdb_pull(sm->git, &changed) < 0) {
        snprintf(sm->err, sizeof sm->err, "%s", gitdb_error(sm->git));
        /* Unreachable remote but a clone on disk: serve what it holds. */
        if (sm->loaded)
            return;
    }
    gitdb_head(sm->git, sm->next_head);
    if (sm->loaded && !changed && !strcmp(sm->next_head, sm->head)) {
        sm->next_rc = 0;
        return;
    }
    char err[512];
    sm->next = userdb_load(gitdb_workdir(sm->git), &sm->next_skipped, err, sizeof err);
    if (!sm->next)
        snprintf(sm->err, sizeof sm->err, "%s", err);
    sm->next_rc = sm->next ? 0 : -1;
}

static void users_start(struct submission *sm);

/* Loop thread. */
static void users_after_cb(uv_work_t *w, int status)
{
    struct submission *sm = w->data;
    sm->busy = 0;
    char q[600];
    metrics_inc("envoi_users_pull_total", sm->err[0] ? "result=\"error\"" : "result=\"ok\"");
    if (sm->err[0])
        log_warn("users.pull.failed", "remote=%s err=%s", sm->remote, log_quote(q, sizeof q, sm->err, strlen(sm->err)));
    if (sm->next) {
        int before = userdb_count(sm->db);
        userdb_free(sm->db);
        sm->db = sm->next;
        sm->next = NULL;
        sm->loaded = 1;
        memcpy(sm->head, sm->next_head, sizeof sm->head);
        log_info("users.reload", "users=%d before=%d skipped=%d head=%.12s", userdb_count(sm->db), before,
                 sm->next_skipped, sm->head[0] ? sm->head : "none");
        metrics_set("envoi_users", NULL, userdb_count(sm->db));
        metrics_set("envoi_users_skipped", NULL, sm->next_skipped);
    }
    if (sm->again && !sm->stopping) {
        sm->again = 0;
        users_start(sm);
    }
}

static void users_start(struct submission *sm)
{
    if (sm->stopping)
        return;
    if (sm->busy) {
        sm->again = 1; /* one more pull once this one is done */
        return;
    }
    sm->work.data = sm;
    if (uv_queue_work(sm->loop, &sm->work, users_work_cb, users_after_cb) == 0)
        sm->busy = 1;
}

static void users_poll_cb(uv_timer_t *t)
{
    users_start(t->data);
}

void users_reload_cb(void *arg)
{
    users_start(arg);
}

static void users_shutdown_cb(void *arg)
{
    struct submission *sm = arg;
    sm->stopping = 1;
    uv_timer_stop(&sm->poll_timer);
    uv_close((uv_handle_t *)&sm->poll_timer, NULL);
}

int users_init(struct submission *sm)
{
    /* The first load blocks: before the loop there is nobody to keep waiting. */
    users_work_cb(&(uv_work_t){.data = sm});
    if (sm->next) {
        sm->db = sm->next;
        sm->next = NULL;
        sm->loaded = 1;
        memcpy(sm->head, sm->next_head, sizeof sm->head);
        log_info("users.load", "remote=%s users=%d skipped=%d head=%.12s", sm->remote, userdb_count(sm->db),
                 sm->next_skipped, sm->head[0] ? sm->head : "none");
        metrics_set("envoi_users", NULL, userdb_count(sm->db));
        metrics_set("envoi_users_skipped", NULL, sm->next_skipped);
    } else {
        char q[600];
        log_error("users.load.failed", "remote=%s err=%s retry_in=%lds", sm->remote,
                  log_quote(q, sizeof q, sm->err, strlen(sm->err)), sm->poll_s);
    }
    if (!sm->db && !(sm->db = userdb_new()))
        return -1;
    uv_timer_init(sm->loop, &sm->poll_timer);
    sm->poll_timer.data = sm;
    uint64_t ms = (uint64_t)sm->poll_s * 1000;
    uv_timer_start(&sm->poll_timer, users_poll_cb, ms, ms);
    daemon_on_reload(users_reload_cb, sm);
    daemon_on_shutdown(users_shutdown_cb, sm);
    return 0;
}

void users_free(struct submission *sm)
{
    userdb_free(sm->db);
    sm->db = NULL;
    gitdb_close(sm->git);
    sm->git = NULL;
}
