/* submit: the submission policy on top of the hop: who may log in (with
 * failed logins throttled per client address and per user), which envelope
 * senders a user owns, and the header fields a message must carry. */
#include "submission.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- AUTH ---- */

/* Logs a refused login; never the password (house rule: "********"). */
static void submit_auth_log(const char *what, const char *client_ip, const char *user, const char *detail)
{
    char q[300];
    log_info(what, "client=%s user=%s password=******** %s", client_ip,
             log_quote(q, sizeof q, user, strlen(user)), detail);
}

int submission_auth_check(void *arg, const char *user, const char *pass, const char *client_ip, char *canon,
                          size_t canon_len)
{
    struct submission *sm = arg;
    uint64_t now = uv_now(sm->loop);
    char local[USERDB_LOCAL_MAX + 1], detail[96];
    const char *domain = NULL;
    int valid = userdb_login_split(user, local, &domain) == 0;
    uint64_t left = throttle_blocked(&sm->by_ip, client_ip, now);
    const char *scope = "ip";
    if (!left && valid) {
        left = throttle_blocked(&sm->by_user, local, now);
        scope = "user";
    }
    /* While blocked the password is not even looked at: a right guess must
     * not be distinguishable from a wrong one. */
    if (left) {
        snprintf(detail, sizeof detail, "scope=%s retry_in=%llus", scope, (unsigned long long)(left + 999) / 1000);
        submit_auth_log("auth.throttled", client_ip, user, detail);
        return -1;
    }
    if (!sm->loaded) {
        submit_auth_log("auth.unavailable", client_ip, user, "reason=no-user-database");
        return -1;
    }
    const struct userdb_user *u = valid ? userdb_find(sm->db, local) : NULL;
    int domain_ok = !domain;
    for (int i = 0; domain && i < sm->ndomains; i++)
        domain_ok |= !strcasecmp(domain, sm->domains[i]);
    size_t plen = strlen(pass);
    const char *reason = NULL;
    if (!u || !u->password) {
        userdb_verify_dummy(pass, plen);
        reason = u ? "no-password" : "unknown-user";
    } else if (!userdb_verify(u->password, pass, plen)) {
        reason = "bad-password";
    } else if (!domain_ok) {
        reason = "foreign-domain"; /* checked after the hash: same time either way */
    }
    if (!reason) {
        throttle_clear(&sm->by_user, local);
        snprintf(canon, canon_len, "%s@%s", local, domain ? domain : sm->domains[0]);
        for (char *p = canon; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        return 1;
    }
    uint64_t bip = throttle_fail(&sm->by_ip, client_ip, now);
    /* Only real users have a per-user count: made-up names would only crowd
     * the table. */
    uint64_t bus = u ? throttle_fail(&sm->by_user, local, now) : 0;
    snprintf(detail, sizeof detail, "reason=%s", reason);
    submit_auth_log("auth.fail", client_ip, user, detail);
    if (bip || bus) {
        snprintf(detail, sizeof detail, "scope=%s block=%llus", bip ? "ip" : "user",
                 (unsigned long long)((bip ? bip : bus) / 1000));
        submit_auth_log("auth.block", client_ip, user, detail);
    }
    return 0;
}

/* ---- MAIL FROM ---- */

static const char *submit_check_mail(void *arg, const struct hop_info *info, const char *from)
{
    struct submission *sm = arg;
    const char *who = info->auth_user ? info->auth_user : "";
    char local[USERDB_LOCAL_MAX + 1], q[400];
    const char *domain;
    if (!*from) {
        log_info("submit.refused", "id=%s user=%s from=<> reason=null-sender", info->session_id, who);
        return "553 5.7.1 Null sender not allowed for submission";
    }
    const struct userdb_user *u =
        info->auth_user && userdb_login_split(info->auth_user, local, &domain) == 0 ? userdb_find(sm->db, local) : NULL;
    if (u && userdb_owns(u, from, sm->domains, sm->ndomains))
        return NULL;
    log_info("submit.refused", "id=%s user=%s from=%s reason=%s", info->session_id, who,
             log_quote(q, sizeof q, from, strlen(from)), u ? "not-owned" : "user-gone");
    snprintf(sm->reply, sizeof sm->reply, "553 5.7.1 Sender address not owned by user %s", who);
    return sm->reply;
}

/* ---- the message (headers.c does the work) ---- */

static void submit_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                             size_t len)
{
    struct submission *sm = arg;
    size_t outlen = 0;
    int added = 0;
    char *out = submit_fix_headers(msg, len, sm->hc->domain, &outlen, &added);
    if (added)
        log_info("submit.headers", "id=%s user=%s added=%s%s%s", info->session_id,
                 info->auth_user ? info->auth_user : "", added & 1 ? "date" : "", added == 3 ? "," : "",
                 added & 2 ? "message-id" : "");
    hop_transform_done(txn, out, outlen, NULL);
}

const struct hop_ops submission_ops = {
    .check_mail = submit_check_mail,
    .transform = submit_transform,
};
