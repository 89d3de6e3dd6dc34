/* submit: the hop operations: which envelope senders a user owns, and the
 * header fields a message must carry (headers.c). Logins are in auth.c. */
#include "submission.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
