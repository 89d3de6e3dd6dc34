/* sync: keeping the served zones equal to the repository.
 * All git work runs as jobs on the libuv thread pool, one at a time, so the
 * clone is never touched by two threads; results are swapped in on the loop
 * thread. Pulls come from the --poll timer and from signed NOTIFYs. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
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
            sync_notify_secondaries(p, &p->zones.v[i]);
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

void sync_notify_secondaries(struct primary *p, const struct zone_entry *ze)
{
    for (int i = 0; i < p->notify_to.n; i++) {
        struct sockaddr_storage sa;
        if (net_resolve(p->notify_to.v[i], 53, &sa) < 0) {
            log_warn("notify.bad_address", "addr=%s", p->notify_to.v[i]);
            continue;
        }
        ldns_pkt *n = ldns_pkt_new();
        ldns_pkt_set_random_id(n);
        ldns_pkt_set_opcode(n, LDNS_PACKET_NOTIFY);
        ldns_pkt_set_aa(n, true);
        ldns_rr *qr = ldns_rr_new();
        ldns_rr_set_owner(qr, ldns_rdf_clone(ze->zone->origin));
        ldns_rr_set_type(qr, LDNS_RR_TYPE_SOA);
        ldns_rr_set_class(qr, LDNS_RR_CLASS_IN);
        ldns_rr_set_question(qr, true);
        ldns_pkt_push_rr(n, LDNS_SECTION_QUESTION, qr);
        ldns_pkt_push_rr(n, LDNS_SECTION_ANSWER, ldns_rr_clone(ze->zone->soa));
        uint8_t *wire = NULL;
        size_t len = 0;
        if (ldns_pkt2wire(&wire, n, &len) == LDNS_STATUS_OK) {
            uv_buf_t b = uv_buf_init((char *)wire, (unsigned)len);
            int rc = uv_udp_try_send(&p->notify_udp, &b, 1, (const struct sockaddr *)&sa);
            log_info("notify.sent", "zone=%s serial=%u to=%s result=%s", ze->name, ze->zone->serial,
                     p->notify_to.v[i], rc >= 0 ? "ok" : uv_err_name(rc));
        }
        free(wire);
        ldns_pkt_free(n);
    }
}

void notify_handle(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key)
{
    const ldns_rr_list *ql = ldns_pkt_question(q);
    char ip[NET_IP_MAX];
    net_ip_string((const struct sockaddr *)&req->peer, ip);
    ldns_pkt_rcode rc = LDNS_RCODE_NOERROR;
    struct zone_entry *ze = NULL;
    if (ldns_pkt_qdcount(q) != 1 || !ql || ldns_rr_list_rr_count(ql) != 1 ||
        ldns_rr_get_type(ldns_rr_list_rr(ql, 0)) != LDNS_RR_TYPE_SOA)
        rc = LDNS_RCODE_FORMERR;
    else if (!(ze = zones_exact(&p->zones, ldns_rr_owner(ldns_rr_list_rr(ql, 0)))))
        rc = LDNS_RCODE_NOTAUTH;
    else if (!dns_tsig_allows(key, DNS_TSIG_RIGHT_NOTIFY, ze->zone->origin))
        rc = LDNS_RCODE_REFUSED; /* an unsigned NOTIFY could make us pull in a loop */
    log_info("notify.received", "peer=%s zone=%s key=%s result=%s", ip, ze ? ze->name : "-",
             key ? key->name : "none", ldns_lookup_by_id(ldns_rcodes, (int)rc)->name);
    ldns_pkt *r = primary_response(q, rc);
    ldns_pkt_set_aa(r, rc == LDNS_RCODE_NOERROR);
    primary_send(p, req, r, 512, key, key ? dns_tsig_mac(q) : NULL);
    ldns_pkt_free(r);
    if (rc == LDNS_RCODE_NOERROR)
        sync_pull(p, "notify");
}

int sync_start(struct primary *p)
{
    uv_udp_init(p->loop, &p->notify_udp);
    struct sockaddr_in any;
    uv_ip4_addr("0.0.0.0", 0, &any);
    uv_udp_bind(&p->notify_udp, (const struct sockaddr *)&any, 0);
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
    uv_close((uv_handle_t *)&p->notify_udp, NULL);
}
