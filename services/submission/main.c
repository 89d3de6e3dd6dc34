/* submission: authenticated sending on 465 (implicit TLS) and 587 (STARTTLS).
 * Reads like a table of contents: flags, the user database, the policy, the
 * hop, the loop. */
#include "daemon.h"
#include "hop.h"
#include "log.h"
#include "tls.h"

#include "submission.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Every refusal here means the service would accept passwords it cannot
 * check or read them in clear: better not to start. */
static int submission_validate(struct submission *sm, const struct hop_conf *hc)
{
    if (!hc->tls_cert) {
        log_error("config", "err=\"--tls-cert and --tls-key are required: passwords are only read over TLS\"");
        return -1;
    }
    if (!sm->remote || !*sm->remote) {
        log_error("config", "err=\"--remote URL is required (the configuration repository with users/)\"");
        return -1;
    }
    if (sm->poll_s <= 0 || sm->pull_timeout_s <= 0 || sm->fail_ip <= 0 || sm->fail_user <= 0 || sm->fail_window_s <= 0 || sm->block_s <= 0) {
        log_error("config", "err=\"--poll, --pull-timeout and the --auth-* limits must be positive\"");
        return -1;
    }
    for (int i = 0; i < sm->user_domains.n; i++)
        sm->domains[sm->ndomains++] = sm->user_domains.v[i];
    if (!sm->ndomains)
        sm->domains[sm->ndomains++] = hc->domain;
    return 0;
}

int main(int argc, char **argv)
{
    /* Static: a pull stuck in the network at exit still points into sm. */
    static struct hop_conf hc;
    static struct submission sm = {.hc = &hc};
    struct conf_flag flags[] = {
        HOP_FLAGS(hc),
        {"remote", CONF_STR, &sm.remote, NULL, "configuration repository URL[#branch] holding users/*.json"},
        {"clone-dir", CONF_STR, &sm.clone_dir, "/var/lib/envoi/submission/config", "local clone of --remote"},
        {"ssh-key", CONF_STR, &sm.ssh_key, NULL, "private key for an ssh:// remote"},
        {"poll", CONF_INT, &sm.poll_s, "30", "seconds between pulls of --remote (also on SIGHUP)"},
        {"pull-timeout", CONF_INT, &sm.pull_timeout_s, "60", "seconds a pull may take before it is interrupted"},
        {"user-domain", CONF_LIST, &sm.user_domains, NULL, "mail domain of the users (repeatable; default --domain)"},
        {"auth-max-fail-ip", CONF_INT, &sm.fail_ip, "10", "failed logins per client address before a block"},
        {"auth-max-fail-user", CONF_INT, &sm.fail_user, "20", "failed logins per user before a block"},
        {"auth-window", CONF_INT, &sm.fail_window_s, "600", "seconds over which failed logins are counted"},
        {"auth-block", CONF_INT, &sm.block_s, "300", "first block in seconds (doubles on each new block)"},
    };
    /* The submission ports, not 25, unless told otherwise. */
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!strcmp(flags[i].name, "listen"))
            flags[i].def = ":587";
        else if (!strcmp(flags[i].name, "listen-tls"))
            flags[i].def = ":465";
    }
    int check;
    if (conf_parse("submission", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("submission", log_level_parse(hc.log_level) < 0 ? LOG_INFO : log_level_parse(hc.log_level));
    if (hop_validate(&hc) < 0 || submission_validate(&sm, &hc) < 0)
        return 2;
    if (check) {
        /* The certificate is part of the configuration here: without it
         * the service will not start, so -n says so too. */
        char err[512];
        struct tls_config *tc = tls_server_config(hc.tls_cert, hc.tls_key, err, sizeof err);
        if (!tc) {
            log_error("config", "err=\"%s\"", err);
            return 2;
        }
        tls_config_unref(tc);
        log_info("config.ok", "service=submission");
        return 0;
    }
    if (sodium_init() < 0)
        log_fatal("config", "err=\"libsodium cannot start\"");
    if (throttle_init(&sm.by_ip, (int)sm.fail_ip, (uint64_t)sm.fail_window_s * 1000, (uint64_t)sm.block_s * 1000) < 0 ||
        throttle_init(&sm.by_user, (int)sm.fail_user, (uint64_t)sm.fail_window_s * 1000,
                      (uint64_t)sm.block_s * 1000) < 0)
        log_fatal("config", "err=\"out of memory\"");

    uv_loop_t *loop = uv_default_loop();
    sm.loop = loop;
    daemon_init(loop, "submission");
    struct hop_policy policy = {
        .auth = 1,
        .auth_required = 1,
        .auth_needs_tls = 1, /* 587: AUTH/MAIL only after STARTTLS; 465 is TLS from the start */
        .auth_start = submission_auth_start, /* argon2id off the loop */
    };
    /* A start-up failure (a port taken, a certificate that does not load)
     * frees what was set up too, so the ASan build's exit stays clean. */
    int rc = 2;
    if (users_init(&sm) == 0 && hop_start(loop, "submission", &hc, &policy, &submission_ops, &sm) == 0)
        rc = daemon_run(loop) == 0 ? 0 : 1;
    users_free(&sm);
    throttle_free(&sm.by_ip);
    throttle_free(&sm.by_user);
    return rc;
}
