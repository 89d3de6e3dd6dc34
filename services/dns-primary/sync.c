/* sync: keeping the served zones equal to the repository.
 * All git work runs as jobs on the libuv thread pool, one at a time, so the
 * clone is never touched by two threads; results are swapped in on the loop
 * thread. Pulls come from the --poll timer and from signed NOTIFYs
 * (notify.c). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "primary.h"

struct pull_job {
    struct git_job base;
    struct zone_set set;
    int rc, changed, loaded;
    char head[41];
    char why[32];
};

static void job_work_cb(uv_work_t *w)
{
    struct git_job *j = w->data;
    j->run(j, j->p->db);
}

static void run_next(struct primary *p);

static void job_after_cb(uv_work_t *w, int status)
{
    struct git_job *j = w->data;
    struct primary *p = j->p;
    p->job_running = 0;
    j->done(j, p);
    run_next(p);
}

static void run_next(struct primary *p)
{
    if (p->job_running || !p->jobs)
        return;
    struct git_job *j = p->jobs;
    p->jobs = j->next;
    if (!p->jobs)
        p->jobs_tail = NULL;
    j->next = NULL;
    j->work.data = j;
    p->job_running = 1;
    if (uv_queue_work(p->loop, &j->work, job_work_cb, job_after_cb) < 0) {
        p->job_running = 0;
        j->done(j, p); /* cannot happen on a live loop; keeps the contract */
    }
}

void sync_queue(struct primary *p, struct git_job *job)
{
    job->p = p;
    job->next = NULL;
    if (p->jobs_tail)
        p->jobs_tail->next = job;
    else
        p->jobs = job;
    p->jobs_tail = job;
    run_next(p);
}

static void pull_run(struct git_job *job, struct gitdb *db)
{
    struct pull_job *j = (struct pull_job *)job;
    j->rc = gitdb_pull(db, &j->changed);
    gitdb_head(db, j->head);
    if (j->rc == 0 && j->changed) {
        zones_load(gitdb_workdir(db), &j->set);
        j->loaded = 1;
    }
}

/* NOTIFY the secondaries of every zone whose serial moved. */
static void notify_changed(struct primary *p)
{
    for (size_t i = 0; i < p->zones.n; i++) {
        if (p->zones.v[i].changed) {
            p->zones.v[i].changed = 0;
            notify_send(p, &p->zones.v[i]);
        }
    }
}

static void pull_done(struct git_job *job, struct primary *p)
{
    struct pull_job *j = (struct pull_job *)job;
    if (j->rc < 0) {
        char q[300];
        const char *e = gitdb_error(p->db);
        log_error("sync.pull_failed", "why=%s error=%s", j->why, log_quote(q, sizeof q, e, strlen(e)));
        metrics_inc("dns_primary_pulls_total", "result=\"failed\"");
    } else if (j->loaded) {
        log_info("sync.pulled", "why=%s head=%s", j->why, j->head);
        zones_swap(p, &j->set);
        notify_changed(p);
        metrics_inc("dns_primary_pulls_total", "result=\"changed\"");
    } else {
        log_debug("sync.unchanged", "why=%s head=%s", j->why, j->head);
        metrics_inc("dns_primary_pulls_total", "result=\"unchanged\"");
    }
    zones_free(&j->set);
    free(j);
}

void sync_pull(struct primary *p, const char *why)
{
    if (p->stopping)
        return;
    for (struct git_job *q = p->jobs; q; q = q->next)
        if (q->kind == GIT_JOB_PULL)
            return; /* one queued pull fetches everything pushed so far */
    struct pull_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->base.kind = GIT_JOB_PULL;
    j->base.run = pull_run;
    j->base.done = pull_done;
    snprintf(j->why, sizeof j->why, "%s", why);
    sync_queue(p, &j->base);
}

static void poll_cb(uv_timer_t *t)
{
    sync_pull(t->data, "poll");
}

int sync_start(struct primary *p)
{
    uv_timer_init(p->loop, &p->poll);
    p->poll.data = p;
    if (p->poll_s > 0)
        uv_timer_start(&p->poll, poll_cb, (uint64_t)p->poll_s * 1000, (uint64_t)p->poll_s * 1000);
    return 0;
}

void sync_stop(struct primary *p)
{
    p->stopping = 1;
    uv_close((uv_handle_t *)&p->poll, NULL);
}
