/* dns-primary: state shared by the role's files.
 *   main.c    flags, start-up, shutdown
 *   zones.c   the zone set: load from the clone, swap, find by name
 *   query.c   message dispatch and authoritative answers
 *   xfr.c     AXFR / IXFR (as AXFR) over TCP
 *   update.c  RFC 2136 UPDATE: apply, commit, push, retry
 *   sync.c    the git worker: pull, poll timer
 *   notify.c  NOTIFY in (pull now) and out (to --notify, resent until answered) */
#ifndef ENVOI_DNS_PRIMARY_H
#define ENVOI_DNS_PRIMARY_H

#include <ldns/ldns.h>
#include <uv.h>

#include "conf.h"
#include "dns_server.h"
#include "dns_tsig.h"
#include "dns_wire.h"
#include "dns_zone.h"
#include "gitdb.h"

#define PRIMARY_EDNS_SIZE 1232  /* our UDP payload limit (DNS flag day 2020) */
#define PRIMARY_ZONES_MAX 256
#define PRIMARY_KEYS_SUFFIX "._keys"
#define PRIMARY_ROOT_FILE "_root" /* the file holding the root zone "." */

struct zone_entry {
    char name[264];         /* presentation, absolute: "envoi.test." */
    char file[256];         /* file name in the repository */
    struct dns_zone *zone;  /* current good version */
    int changed;            /* set by zones_swap when the serial moved */
};

/* A loaded zone set: what a pull produces and the loop thread swaps in. */
struct zone_set {
    struct zone_entry *v;
    size_t n;
    struct dns_tsig_keys keys; /* every key of every <zone>._keys */
    int keys_broken;           /* a key file failed: keep the old keys */
};

struct git_job;
struct notify_out;

struct primary {
    uv_loop_t *loop;
    struct dns_srv *srv;
    struct gitdb *db;       /* touched only by the job running on the worker */
    struct zone_set zones;  /* loop thread only */
    int axfr_open;
    struct conf_list notify_to; /* secondaries to NOTIFY after a change */
    struct dns_tsig_key notify_key; /* --notify-key: signs what we send */
    int notify_key_set;
    uv_udp_t notify_udp;
    struct notify_out *notify_out; /* NOTIFYs awaiting an answer */
    uv_timer_t poll;
    long poll_s;
    struct git_job *jobs, *jobs_tail; /* queued git work, run one at a time */
    int job_running;
    int stopping;
    ldns_buffer *wbuf;      /* response scratch buffer */
};

/* zones.c */
/* Loads every zone and key file from dir into set (any thread). A zone that
 * fails to load gets an entry with zone NULL and the reason is logged;
 * zones_swap() then keeps the last good version. */
void zones_load(const char *dir, struct zone_set *set);
void zones_free(struct zone_set *set);
/* Replaces p's set with set (taken) and logs serial changes; returns the
 * number of zones whose serial changed. */
int zones_swap(struct primary *p, struct zone_set *set);
/* The deepest zone containing name (for DS at a cut: the parent side). */
struct zone_entry *zones_find(struct zone_set *set, const ldns_rdf *name, ldns_rr_type qtype);
/* The zone whose apex is exactly name. */
struct zone_entry *zones_exact(struct zone_set *set, const ldns_rdf *name);

/* query.c */
void primary_query_cb(struct dns_req *req, void *arg);
/* Sends resp (signed with key when given) as the answer to req; trims to
 * max_udp over UDP. Frees nothing. */
void primary_send(struct primary *p, struct dns_req *req, ldns_pkt *resp, size_t max_udp,
                  const struct dns_tsig_key *key, const ldns_rdf *req_mac);
/* A bare response to q with rcode (question copied). */
ldns_pkt *primary_response(const ldns_pkt *q, ldns_pkt_rcode rcode);

/* xfr.c */
void xfr_answer(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key);

/* update.c */
void update_handle(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key);

/* sync.c */
int sync_start(struct primary *p);
void sync_stop(struct primary *p);
/* Queues a pull (coalesced with one already queued). */
void sync_pull(struct primary *p, const char *why);

/* notify.c */
int notify_start(struct primary *p);
void notify_stop(struct primary *p);
/* Sends NOTIFY for zone to every --notify address, resent until answered. */
void notify_send(struct primary *p, const struct zone_entry *ze);
/* A NOTIFY to us: answers it and, when signed with a notify right, pulls. */
void notify_handle(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key);

/* Git jobs (sync.c runs them; update.c defines the update kind). */
typedef void (*git_job_work_fn)(struct git_job *job, struct gitdb *db);
typedef void (*git_job_done_fn)(struct git_job *job, struct primary *p);
struct git_job {
    uv_work_t work;
    struct primary *p;
    git_job_work_fn run;   /* on the worker thread */
    git_job_done_fn done;  /* back on the loop thread; frees the job */
    struct git_job *next;
    int kind;              /* GIT_JOB_PULL or GIT_JOB_UPDATE */
};
#define GIT_JOB_PULL 1
#define GIT_JOB_UPDATE 2
void sync_queue(struct primary *p, struct git_job *job);

#endif
