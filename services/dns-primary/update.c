/* update: RFC 2136 dynamic updates, persisted in git before they are acked.
 * The loop thread checks TSIG and rights; the git worker pulls, applies the
 * update to the zone file of the remote head, commits (author: the key) and
 * pushes. A rejected push means someone else pushed: pull, re-apply, retry.
 * The client gets NOERROR only once its change is on the remote, so an
 * acknowledged update survives a crash of this server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_update.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "primary.h"

#define UPDATE_PUSH_TRIES 5
#define UPDATE_QUEUE_MAX 64

struct update_job {
    struct git_job base;
    struct dns_req *req;
    ldns_pkt *q;
    struct dns_tsig_key key; /* a copy: the key set may be swapped meanwhile */
    ldns_rdf *mac;           /* the request's MAC, to sign the answer */
    ldns_rdf *origin;
    char zone_name[264], zone_file[256];
    ldns_pkt_rcode rcode;
    struct dns_zone *newzone;
    uint32_t serial;
    int tries;
    char err[300];
};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(DNS_ZONE_TEXT_MAX + 1);
    size_t n = buf ? fread(buf, 1, DNS_ZONE_TEXT_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > DNS_ZONE_TEXT_MAX) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* One attempt on the current head: 0 done (rcode set), 1 pushed was rejected. */
static int update_try(struct update_job *j, struct gitdb *db)
{
    int moved;
    if (gitdb_pull(db, &moved) < 0) {
        snprintf(j->err, sizeof j->err, "pull: %s", gitdb_error(db));
        j->rcode = LDNS_RCODE_SERVFAIL;
        return 0;
    }
    char path[4600];
    snprintf(path, sizeof path, "%s%s", gitdb_workdir(db), j->zone_file);
    size_t len = 0;
    char *text = read_all(path, &len);
    struct dns_zone *z = text ? dns_zone_parse(text, len, j->zone_name, j->err, sizeof j->err) : NULL;
    free(text);
    if (!z) {
        j->rcode = LDNS_RCODE_SERVFAIL; /* the zone in the repository is broken */
        return 0;
    }
    ldns_rr_list *rrs = dns_zone_clone_rrs(z);
    uint32_t old_serial = z->serial;
    dns_zone_free(z);
    int changed = 0;
    j->rcode = dns_update_apply(j->origin, rrs, j->q, &changed);
    if (j->rcode != LDNS_RCODE_NOERROR || !changed) {
        ldns_rr_list_deep_free(rrs);
        return 0;
    }
    struct dns_zone *nz = dns_zone_build(j->origin, rrs, j->err, sizeof j->err);
    if (nz && nz->serial == old_serial) {
        /* Not raised by the update itself: raise it and rebuild. */
        ldns_rr_list *again = dns_zone_clone_rrs(nz);
        dns_zone_free(nz);
        dns_update_bump_serial(again);
        nz = dns_zone_build(j->origin, again, j->err, sizeof j->err);
    }
    if (!nz) {
        j->rcode = LDNS_RCODE_REFUSED; /* the result would not be a valid zone */
        return 0;
    }
    size_t tlen = 0;
    char *out = dns_zone_to_text_checked(nz, &tlen, j->err, sizeof j->err);
    if (!out) {
        dns_zone_free(nz);
        j->rcode = LDNS_RCODE_REFUSED; /* never commit a file that would not load */
        return 0;
    }
    char author[256], email[300], msg[600];
    size_t an = strlen(j->key.name);
    if (an && j->key.name[an - 1] == '.')
        an--; /* "signer._update.envoi.test" reads better without the root dot */
    snprintf(author, sizeof author, "%.*s", (int)an, j->key.name);
    snprintf(email, sizeof email, "%s@dns-primary.invalid", author);
    snprintf(msg, sizeof msg, "dns update of %s by key %s: serial %u\n", j->zone_name, author,
             nz->serial);
    int rc = gitdb_commit_file(db, j->zone_file, out, tlen, author, email, msg);
    free(out);
    if (rc == 0)
        rc = gitdb_push(db);
    if (rc == GITDB_REJECTED) {
        dns_zone_free(nz);
        return 1;
    }
    if (rc < 0) {
        snprintf(j->err, sizeof j->err, "%s", gitdb_error(db));
        dns_zone_free(nz);
        int dummy;
        gitdb_pull(db, &dummy); /* drop the unpushed commit */
        j->rcode = LDNS_RCODE_SERVFAIL;
        return 0;
    }
    j->newzone = nz;
    j->serial = nz->serial;
    return 0;
}

static void update_run(struct git_job *job, struct gitdb *db)
{
    struct update_job *j = (struct update_job *)job;
    for (j->tries = 1; j->tries <= UPDATE_PUSH_TRIES; j->tries++)
        if (update_try(j, db) == 0)
            return;
    snprintf(j->err, sizeof j->err, "push rejected %d times", UPDATE_PUSH_TRIES);
    j->rcode = LDNS_RCODE_SERVFAIL;
}

static void update_done(struct git_job *job, struct primary *p)
{
    struct update_job *j = (struct update_job *)job;
    char ip[NET_IP_MAX], q[400];
    net_ip_string((const struct sockaddr *)&j->req->peer, ip);
    if (j->newzone) {
        struct zone_entry *ze = zones_exact(&p->zones, j->origin);
        if (ze) {
            dns_zone_free(ze->zone);
            ze->zone = j->newzone;
            j->newzone = NULL;
            notify_send(p, ze);
        }
    }
    const char *rcs = ldns_lookup_by_id(ldns_rcodes, (int)j->rcode)->name;
    log_info("update.done", "peer=%s zone=%s key=%s rcode=%s serial=%u tries=%d error=%s", ip,
             j->zone_name, j->key.name, rcs, j->serial, j->tries,
             j->err[0] ? log_quote(q, sizeof q, j->err, strlen(j->err)) : "-");
    metrics_inc("dns_updates_total", j->rcode == LDNS_RCODE_NOERROR ? "result=\"ok\"" : "result=\"failed\"");
    ldns_pkt *r = primary_response(j->q, j->rcode);
    primary_send(p, j->req, r, 512, &j->key, j->mac);
    ldns_pkt_free(r);
    dns_srv_done(j->req);
    dns_zone_free(j->newzone);
    ldns_pkt_free(j->q);
    ldns_rdf_deep_free(j->mac);
    ldns_rdf_deep_free(j->origin);
    free(j);
}

static void refuse(struct primary *p, struct dns_req *req, ldns_pkt *q, ldns_pkt_rcode rc,
                   const struct dns_tsig_key *key, const char *why)
{
    char ip[NET_IP_MAX];
    log_warn("update.refused", "peer=%s key=%s reason=%s", net_ip_string((const struct sockaddr *)&req->peer, ip),
             key ? key->name : "none", why);
    metrics_inc("dns_updates_total", "result=\"refused\"");
    ldns_pkt *r = primary_response(q, rc);
    primary_send(p, req, r, 512, key, key ? dns_tsig_mac(q) : NULL);
    ldns_pkt_free(r);
    dns_srv_done(req);
}

void update_handle(struct primary *p, struct dns_req *req, ldns_pkt *q, const struct dns_tsig_key *key)
{
    const ldns_rdf *zname = dns_update_zone(q);
    if (!zname) {
        refuse(p, req, q, LDNS_RCODE_FORMERR, key, "zone-section");
        return;
    }
    struct zone_entry *ze = zones_exact(&p->zones, zname);
    if (!ze) {
        refuse(p, req, q, LDNS_RCODE_NOTAUTH, key, "not-our-zone");
        return;
    }
    if (!key) {
        refuse(p, req, q, LDNS_RCODE_REFUSED, key, "unsigned");
        return;
    }
    if (!dns_tsig_allows(key, DNS_TSIG_RIGHT_UPDATE, ze->zone->origin)) {
        refuse(p, req, q, LDNS_RCODE_REFUSED, key, "no-update-right");
        return;
    }
    int queued = 0;
    for (struct git_job *g = p->jobs; g; g = g->next)
        queued++;
    if (queued >= UPDATE_QUEUE_MAX || p->stopping) {
        refuse(p, req, q, LDNS_RCODE_SERVFAIL, key, "busy");
        return;
    }
    struct update_job *j = calloc(1, sizeof *j);
    if (!j) {
        refuse(p, req, q, LDNS_RCODE_SERVFAIL, key, "memory");
        return;
    }
    j->base.kind = GIT_JOB_UPDATE;
    j->base.run = update_run;
    j->base.done = update_done;
    j->req = req;
    j->q = ldns_pkt_clone(q);
    memcpy(j->key.name, key->name, sizeof j->key.name);
    memcpy(j->key.alg, key->alg, sizeof j->key.alg);
    memcpy(j->key.secret, key->secret, sizeof j->key.secret);
    j->mac = dns_tsig_mac(q) ? ldns_rdf_clone(dns_tsig_mac(q)) : NULL;
    j->origin = ldns_rdf_clone(ze->zone->origin);
    snprintf(j->zone_name, sizeof j->zone_name, "%s", ze->name);
    snprintf(j->zone_file, sizeof j->zone_file, "%s", ze->file);
    sync_queue(p, &j->base);
}
