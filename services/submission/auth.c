/* auth: who may log in. A login goes through three steps: prepare on the
 * loop (throttle, user lookup, copies of the stored hash and the password),
 * verify (the slow hash: on the thread pool when the hop offers asynchronous
 * AUTH, inline otherwise), finish on the loop (throttle counts, logs, the
 * canonical user). The verify step touches only its own copies, so a reload
 * that frees the database meanwhile is harmless. */
#include "submission.h"

#include "log.h"
#include "metrics.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct submit_auth {
    uv_work_t work;
    struct submission *sm;
    struct hop_auth *a;
    char login[256], ip[64];
    char ipkey[THROTTLE_KEY_MAX]; /* the client as the throttle and the in-flight bound count it */
    char local[USERDB_LOCAL_MAX + 1];
    char domain[256];        /* from the login, "" when bare */
    int known, domain_ok, ok;
    char *stored;            /* the user's hash, NULL: burn the same time and fail */
    char *pass;
    size_t plen;
    char canon[USERDB_ADDR_MAX + 1];
};

/* Logs a login event; never the password (house rule: "********"). */
static void auth_log(const char *what, const char *client_ip, const char *user, const char *detail)
{
    char q[300];
    log_info(what, "client=%s user=%s password=******** %s", client_ip, log_quote(q, sizeof q, user, strlen(user)),
             detail);
}

static void auth_free(struct submit_auth *sa)
{
    if (sa->pass) {
        sodium_memzero(sa->pass, sa->plen);
        free(sa->pass);
    }
    free(sa->stored);
    free(sa);
}

/* Loop thread. NULL with *rc = -1 when refused for now (already logged). */
static struct submit_auth *auth_prepare(struct submission *sm, const char *user, const char *pass,
                                        const char *client_ip, int *rc)
{
    uint64_t now = uv_now(sm->loop);
    char local[USERDB_LOCAL_MAX + 1], detail[96];
    const char *domain = NULL;
    int valid = userdb_login_split(user, local, &domain) == 0;
    char ipkey[THROTTLE_KEY_MAX];
    uint64_t left = throttle_blocked(&sm->by_ip, throttle_client_key(client_ip, ipkey), now);
    const char *scope = "ip";
    if (!left && valid) {
        left = throttle_blocked(&sm->by_user, local, now);
        scope = "user";
    }
    *rc = -1;
    /* While blocked the password is not even looked at: a right guess must
     * not be distinguishable from a wrong one. */
    if (left) {
        snprintf(detail, sizeof detail, "scope=%s retry_in=%llus", scope, (unsigned long long)(left + 999) / 1000);
        auth_log("auth.throttled", client_ip, user, detail);
        metrics_inc("envoi_auth_throttled_total", NULL);
        return NULL;
    }
    if (!sm->loaded) {
        auth_log("auth.unavailable", client_ip, user, "reason=no-user-database");
        return NULL;
    }
    int same = 0;
    for (int i = 0; i < sm->ninflight; i++)
        same += !strcmp(sm->inflight[i]->ipkey, ipkey);
    if (sm->ninflight >= AUTH_INFLIGHT_MAX || same >= AUTH_INFLIGHT_PER_CLIENT) {
        snprintf(detail, sizeof detail, "reason=busy in_flight=%d from_client=%d", sm->ninflight, same);
        auth_log("auth.unavailable", client_ip, user, detail);
        metrics_inc("envoi_auth_busy_total", NULL);
        return NULL;
    }
    struct submit_auth *sa = calloc(1, sizeof *sa);
    if (!sa || !(sa->pass = malloc(strlen(pass) + 1))) {
        free(sa);
        auth_log("auth.unavailable", client_ip, user, "reason=out-of-memory");
        return NULL;
    }
    sa->sm = sm;
    sa->plen = strlen(pass);
    memcpy(sa->pass, pass, sa->plen + 1);
    snprintf(sa->login, sizeof sa->login, "%s", user);
    snprintf(sa->ip, sizeof sa->ip, "%s", client_ip);
    const struct userdb_user *u = valid ? userdb_find(sm->db, local) : NULL;
    if (valid)
        memcpy(sa->local, local, sizeof local);
    if (domain)
        snprintf(sa->domain, sizeof sa->domain, "%s", domain);
    sa->known = u != NULL;
    sa->domain_ok = !domain;
    for (int i = 0; domain && i < sm->ndomains; i++)
        sa->domain_ok |= !strcasecmp(domain, sm->domains[i]);
    if (u && u->password && !(sa->stored = strdup(u->password))) {
        auth_free(sa);
        auth_log("auth.unavailable", client_ip, user, "reason=out-of-memory");
        return NULL;
    }
    memcpy(sa->ipkey, ipkey, sizeof ipkey);
    sm->inflight[sm->ninflight++] = sa;
    *rc = 0;
    return sa;
}

/* Loop thread: sa's check is over. */
static void auth_unlist(struct submit_auth *sa)
{
    struct submission *sm = sa->sm;
    for (int i = 0; i < sm->ninflight; i++)
        if (sm->inflight[i] == sa) {
            sm->inflight[i] = sm->inflight[--sm->ninflight];
            return;
        }
}

/* Any thread. */
static void auth_verify(struct submit_auth *sa)
{
    if (sa->stored)
        sa->ok = userdb_verify(sa->stored, sa->pass, sa->plen);
    else
        userdb_verify_dummy(sa->pass, sa->plen);
    sodium_memzero(sa->pass, sa->plen);
}

/* Loop thread: 1 (sa->canon filled) or 0. */
static int auth_finish(struct submit_auth *sa)
{
    struct submission *sm = sa->sm;
    const char *reason = !sa->known    ? "unknown-user"
                         : !sa->stored ? "no-password"
                         : !sa->ok     ? "bad-password"
                         : !sa->domain_ok ? "foreign-domain" /* after the hash: same time either way */
                                          : NULL;
    if (!reason) {
        throttle_clear(&sm->by_user, sa->local);
        snprintf(sa->canon, sizeof sa->canon, "%s@%s", sa->local, sa->domain[0] ? sa->domain : sm->domains[0]);
        for (char *p = sa->canon; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        return 1;
    }
    uint64_t now = uv_now(sm->loop);
    uint64_t bip = throttle_fail(&sm->by_ip, sa->ipkey, now);
    /* Only real users have a per-user count: made-up names would only crowd
     * the table. */
    uint64_t bus = sa->known ? throttle_fail(&sm->by_user, sa->local, now) : 0;
    char detail[96];
    snprintf(detail, sizeof detail, "reason=%s", reason);
    auth_log("auth.fail", sa->ip, sa->login, detail);
    if (bip || bus) {
        snprintf(detail, sizeof detail, "scope=%s block=%llus", bip ? "ip" : "user",
                 (unsigned long long)((bip ? bip : bus) / 1000));
        auth_log("auth.block", sa->ip, sa->login, detail);
        metrics_inc("envoi_auth_blocks_total", bip ? "scope=\"ip\"" : "scope=\"user\"");
    }
    return 0;
}

static void auth_work_cb(uv_work_t *w)
{
    auth_verify(w->data);
}

static void auth_after_cb(uv_work_t *w, int status)
{
    struct submit_auth *sa = w->data;
    auth_unlist(sa);
    int rc = auth_finish(sa);
    hop_auth_done(sa->a, rc, rc == 1 ? sa->canon : NULL);
    auth_free(sa);
}

void submission_auth_start(void *arg, struct hop_auth *a, const char *user, const char *pass,
                           const char *client_ip)
{
    struct submission *sm = arg;
    int rc;
    struct submit_auth *sa = auth_prepare(sm, user, pass, client_ip, &rc);
    if (!sa) {
        hop_auth_done(a, rc, NULL);
        return;
    }
    sa->a = a;
    sa->work.data = sa;
    if (uv_queue_work(sm->loop, &sa->work, auth_work_cb, auth_after_cb) < 0) {
        auth_verify(sa); /* no thread pool: do it here rather than refuse */
        auth_after_cb(&sa->work, 0);
    }
}
