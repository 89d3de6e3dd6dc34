/* users: the user database from the configuration repository. A pull and a
 * parse run on a thread of our own (network and disk I/O); the loop thread
 * swaps the database pointer when the thread reports, so sessions go on
 * undisturbed and a login sees either the old or the new database, whole.
 * A failed pull or load keeps the database we have.
 *
 * Why not libuv's pool: libgit2 1.5 has no network timeout, so a remote that
 * accepts and then stops answering holds a pull forever. A pool job would
 * keep the loop alive (no shutdown) and, at start-up, keep the ports closed.
 * Our own thread can be interrupted: past --pull-timeout it gets SIGUSR2
 * (handler without SA_RESTART) every second, so its blocked read fails with
 * EINTR, libgit2 gives up and the next poll tries afresh. One that still
 * does not return is left behind at exit. */
#include "submission.h"

#include "daemon.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USERS_START_WAIT_MS 5000 /* first load waited for before the ports open */
#define USERS_WATCH_MS 1000      /* how often a running pull is checked against --pull-timeout */
#define USERS_INTERRUPT SIGUSR2  /* unused elsewhere; libuv handles only TERM, INT, HUP here */

/* Puller thread, between a want and its done: touches only sm->git and the
 * next_* / err fields. */
static void users_pull(struct submission *sm, int loaded, const char *head)
{
    sm->next = NULL;
    sm->err[0] = '\0';
    if (!sm->git) {
        struct gitdb_opts o = {.remote = sm->remote_shown, .dir = sm->clone_dir, .ssh_key = sm->ssh_key};
        sm->git = gitdb_open(&o, sm->err, sizeof sm->err);
        if (!sm->git)
            return;
    }
    int changed = 0;
    if (gitdb_pull(sm->git, &changed) < 0) {
        snprintf(sm->err, sizeof sm->err, "%s", gitdb_error(sm->git));
        /* Unreachable remote but a clone on disk: serve what it holds. */
        if (loaded)
            return;
    }
    gitdb_head(sm->git, sm->next_head);
    if (loaded && !changed && !strcmp(sm->next_head, head))
        return;
    char err[512];
    sm->next = userdb_load(gitdb_workdir(sm->git), &sm->next_skipped, err, sizeof err);
    if (!sm->next)
        snprintf(sm->err, sizeof sm->err, "%s", err);
}

static void *users_thread(void *arg)
{
    struct submission *sm = arg;
    pthread_mutex_lock(&sm->mu);
    for (;;) {
        while (!sm->want && !sm->quit)
            pthread_cond_wait(&sm->cv, &sm->mu);
        if (sm->quit)
            break;
        sm->want = 0;
        sm->in_pull = 1;
        /* Read under the lock: written by the loop between pulls. */
        int loaded = sm->loaded;
        char head[41];
        memcpy(head, sm->head, sizeof head);
        pthread_mutex_unlock(&sm->mu);
        users_pull(sm, loaded, head);
        pthread_mutex_lock(&sm->mu);
        sm->in_pull = 0;
        sm->done = 1;
        pthread_cond_broadcast(&sm->cv); /* users_init may be waiting */
        /* Sent under the lock: once quit is set the loop may close the
         * handle, and a late pull must not touch it. */
        if (!sm->quit)
            uv_async_send(&sm->done_async);
    }
    pthread_mutex_unlock(&sm->mu);
    return NULL;
}

static void users_start(struct submission *sm);

/* Loop thread: takes a finished pull's result, if there is one. */
static void users_take(struct submission *sm, const char *event)
{
    pthread_mutex_lock(&sm->mu);
    int done = sm->done;
    sm->done = 0;
    pthread_mutex_unlock(&sm->mu);
    if (!done)
        return;
    sm->busy = 0;
    char q[600];
    metrics_inc("envoi_users_pull_total", sm->err[0] ? "result=\"error\"" : "result=\"ok\"");
    if (sm->err[0] && (sm->loaded || sm->next))
        log_warn("users.pull.failed", "remote=%s err=%s", sm->remote_shown, log_quote(q, sizeof q, sm->err, strlen(sm->err)));
    else if (sm->err[0])
        log_error("users.load.failed", "remote=%s err=%s retry_in=%lds", sm->remote_shown,
                  log_quote(q, sizeof q, sm->err, strlen(sm->err)), sm->poll_s);
    if (sm->next) {
        int before = userdb_count(sm->db);
        pthread_mutex_lock(&sm->mu); /* loaded and head are read by the puller */
        userdb_free(sm->db);
        sm->db = sm->next;
        sm->next = NULL;
        sm->loaded = 1;
        memcpy(sm->head, sm->next_head, sizeof sm->head);
        pthread_mutex_unlock(&sm->mu);
        log_info(event, "remote=%s users=%d before=%d skipped=%d head=%.12s", sm->remote_shown, userdb_count(sm->db),
                 before, sm->next_skipped, sm->head[0] ? sm->head : "none");
        metrics_set("envoi_users", NULL, userdb_count(sm->db));
        metrics_set("envoi_users_skipped", NULL, sm->next_skipped);
    }
    if (sm->again && !sm->stopping) {
        sm->again = 0;
        users_start(sm);
    }
}

static void users_done_cb(uv_async_t *h)
{
    struct submission *sm = h->data;
    users_take(sm, sm->loaded ? "users.reload" : "users.load");
}

static void users_start(struct submission *sm)
{
    if (sm->stopping)
        return;
    if (sm->busy) {
        sm->again = 1; /* one more pull once this one is done */
        return;
    }
    sm->busy = 1;
    sm->busy_since = uv_now(sm->loop);
    pthread_mutex_lock(&sm->mu);
    sm->want = 1;
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
}

static void users_poll_cb(uv_timer_t *t)
{
    struct submission *sm = t->data;
    uint64_t ms = (uint64_t)sm->poll_s * 1000;
    if (sm->busy && uv_now(sm->loop) - sm->busy_since >= ms)
        log_warn("users.pull.slow", "remote=%s running_for=%llus", sm->remote_shown,
                 (unsigned long long)(uv_now(sm->loop) - sm->busy_since) / 1000);
    users_start(sm);
}

static void users_interrupt_cb(int sig)
{
    (void)sig; /* its only use is to end a blocked system call with EINTR */
}

/* Interrupts a pull past --pull-timeout; again every second, in case the
 * signal came between two system calls. */
static void users_watch_cb(uv_timer_t *t)
{
    struct submission *sm = t->data;
    uint64_t ran = uv_now(sm->loop) - sm->busy_since;
    if (!sm->busy || ran < (uint64_t)sm->pull_timeout_s * 1000)
        return;
    pthread_mutex_lock(&sm->mu);
    int in_pull = sm->in_pull;
    if (in_pull)
        pthread_kill(sm->puller, USERS_INTERRUPT);
    pthread_mutex_unlock(&sm->mu);
    if (in_pull)
        log_warn("users.pull.interrupted", "remote=%s running_for=%llus", sm->remote_shown,
                 (unsigned long long)ran / 1000);
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
    uv_timer_stop(&sm->watch_timer);
    uv_close((uv_handle_t *)&sm->watch_timer, NULL);
    pthread_mutex_lock(&sm->mu);
    sm->quit = 1;
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
    uv_close((uv_handle_t *)&sm->done_async, NULL);
}

int users_init(struct submission *sm)
{
    gitdb_url_shown(sm->remote, sm->remote_shown, sizeof sm->remote_shown);
    if (!(sm->db = userdb_new()) || pthread_mutex_init(&sm->mu, NULL) != 0)
        return -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&sm->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0 || uv_async_init(sm->loop, &sm->done_async, users_done_cb) != 0)
        return -1;
    sm->done_async.data = sm;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = users_interrupt_cb; /* no SA_RESTART: that is the point */
    sigemptyset(&sa.sa_mask);
    sigaction(USERS_INTERRUPT, &sa, NULL);
    if (pthread_create(&sm->puller, NULL, users_thread, sm) != 0) {
        log_error("users.load.failed", "err=\"cannot start the puller thread\"");
        return -1;
    }
    sm->puller_started = 1;
    uv_update_time(sm->loop);
    users_start(sm);
    /* Before the ports open there is nobody to keep waiting, and logins
     * work from the first connection; but not for ever. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += USERS_START_WAIT_MS / 1000;
    until.tv_nsec += (USERS_START_WAIT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sm->mu);
    while (!sm->done && pthread_cond_timedwait(&sm->cv, &sm->mu, &until) != ETIMEDOUT)
        ;
    int done = sm->done;
    pthread_mutex_unlock(&sm->mu);
    if (done)
        users_take(sm, "users.load");
    else
        log_error("users.load.failed", "remote=%s err=\"no answer within %ds; still trying\"", sm->remote_shown,
                  USERS_START_WAIT_MS / 1000);
    uv_timer_init(sm->loop, &sm->poll_timer);
    sm->poll_timer.data = sm;
    uint64_t ms = (uint64_t)sm->poll_s * 1000;
    uv_timer_start(&sm->poll_timer, users_poll_cb, ms, ms);
    uv_timer_init(sm->loop, &sm->watch_timer);
    sm->watch_timer.data = sm;
    uv_timer_start(&sm->watch_timer, users_watch_cb, USERS_WATCH_MS, USERS_WATCH_MS);
    daemon_on_reload(users_reload_cb, sm);
    daemon_on_shutdown(users_shutdown_cb, sm);
    return 0;
}

void users_free(struct submission *sm)
{
    int stuck = 0;
    if (sm->puller_started) {
        pthread_mutex_lock(&sm->mu);
        sm->quit = 1;
        stuck = sm->in_pull;
        pthread_cond_signal(&sm->cv);
        pthread_mutex_unlock(&sm->mu);
        if (stuck) {
            /* Blocked in the network: exit leaves it behind; what it uses
             * (sm->git, sm->next) must stay. */
            log_warn("users.pull.abandoned", "remote=%s running_for=%llus", sm->remote_shown,
                     (unsigned long long)(uv_now(sm->loop) - sm->busy_since) / 1000);
            pthread_detach(sm->puller);
        } else {
            pthread_join(sm->puller, NULL);
        }
        sm->puller_started = 0;
    }
    userdb_free(sm->db);
    sm->db = NULL;
    if (!stuck) {
        userdb_free(sm->next);
        sm->next = NULL;
        gitdb_close(sm->git);
        sm->git = NULL;
    }
}
