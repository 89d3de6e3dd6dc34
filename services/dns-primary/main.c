/* dns-primary: the authoritative server whose zones live in a git repository.
 * Reads like a table of contents: flags, the first clone and load, the
 * listeners, the loop. The work is in zones.c, query.c, xfr.c, update.c
 * and sync.c (see primary.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "primary.h"

#define PRIMARY_CLONE_TRIES 30 /* the git server may start after us */

static struct primary P;

static void primary_shutdown_cb(void *arg)
{
    struct primary *p = arg;
    sync_stop(p);
    notify_stop(p);
    dns_srv_stop(p->srv);
}

static void primary_reload_cb(void *arg)
{
    sync_pull(arg, "sighup");
}

static const char *primary_health_cb(void *arg)
{
    struct primary *p = arg;
    return p->zones.n ? NULL : "no zone loaded";
}

static struct gitdb *clone_repo(const char *remote, const char *dir, const char *ssh_key)
{
    struct gitdb_opts o = {.remote = remote, .dir = dir, .ssh_key = ssh_key};
    char err[512];
    for (int i = 0; i < PRIMARY_CLONE_TRIES; i++) {
        struct gitdb *db = gitdb_open(&o, err, sizeof err);
        if (db)
            return db;
        char q[600];
        char shown[512];
        log_warn("git.clone_failed", "remote=%s try=%d error=%s", gitdb_url_shown(remote, shown, sizeof shown), i + 1,
                 log_quote(q, sizeof q, err, strlen(err)));
        sleep(1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *remote = NULL, *dir = NULL, *admin = NULL, *ssh_key = NULL;
    const char *level = NULL, *notify_key = NULL;
    char shown[512]; /* --remote as logged: a password in it never is */
    long poll_s = 0;
    int axfr = 0;
    struct conf_flag flags[] = {
        {"listen", CONF_STR, &listen, ":53", "ADDR:PORT for UDP and TCP"},
        {"remote", CONF_STR, &remote, NULL, "zone repository URL[#branch] (file://, git://, https://, ssh://)"},
        {"clone-dir", CONF_STR, &dir, NULL, "where to keep the clone (default: a fresh temp dir)"},
        {"ssh-key", CONF_STR, &ssh_key, NULL, "private key file for ssh:// remotes"},
        {"poll", CONF_INT, &poll_s, "60", "seconds between pulls of the remote (0: only on NOTIFY)"},
        {"axfr", CONF_BOOL, &axfr, "0", "allow AXFR without TSIG"},
        {"notify", CONF_LIST, &P.notify_to, NULL, "secondary HOST[:PORT] to NOTIFY after a change (repeatable)"},
        {"notify-key", CONF_STR, &notify_key, NULL, "NAME:ALG:SECRET signing the NOTIFYs we send"},
        {"admin", CONF_STR, &admin, NULL, "ADDR:PORT of the admin HTTP port (/healthz, /metrics)"},
        {"log-level", CONF_STR, &level, "info", "debug, info, warn or error"},
    };
    int check;
    if (conf_parse("dns-primary", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("dns-primary", log_level_parse(level) < 0 ? LOG_INFO : log_level_parse(level));
    if (!remote)
        log_fatal("config.invalid", "reason=\"--remote is required\"");
    if (notify_key && *notify_key) {
        char err[256];
        if (dns_tsig_key_parse(notify_key, &P.notify_key, err, sizeof err) < 0)
            log_fatal("config.invalid", "reason=\"--notify-key: %s\"", err);
        P.notify_key_set = 1;
    }
    if (check) {
        log_info("config.ok", "service=dns-primary");
        return 0;
    }
    char tmpl[] = "/tmp/envoi-dns-primary-XXXXXX";
    if (!dir) {
        if (!mkdtemp(tmpl))
            log_fatal("config.invalid", "reason=mkdtemp");
        rmdir(tmpl); /* gitdb clones into a path that does not exist yet */
        dir = tmpl;
    }
    P.db = clone_repo(remote, dir, ssh_key);
    if (!P.db)
        log_fatal("git.unavailable", "remote=%s", gitdb_url_shown(remote, shown, sizeof shown));
    int moved;
    if (gitdb_pull(P.db, &moved) < 0) /* an old clone in --clone-dir catches up */
        log_warn("git.pull_failed", "error=\"%s\"", gitdb_error(P.db));
    struct zone_set first;
    zones_load(gitdb_workdir(P.db), &first);
    zones_swap(&P, &first);
    for (size_t i = 0; i < P.zones.n; i++)
        P.zones.v[i].changed = 0;
    if (P.zones.n == 0)
        log_warn("zones.none", "remote=%s", gitdb_url_shown(remote, shown, sizeof shown));

    P.loop = uv_default_loop();
    P.axfr_open = axfr;
    P.poll_s = poll_s;
    P.wbuf = ldns_buffer_new(65536);
    daemon_init(P.loop, "dns-primary");
    int rc = dns_srv_start(P.loop, listen, primary_query_cb, &P, &P.srv);
    if (rc < 0)
        log_fatal("listen.failed", "addr=%s error=%s", listen, uv_strerror(rc));
    sync_start(&P);
    if ((rc = notify_start(&P)) < 0)
        log_fatal("notify.failed", "error=%s", uv_strerror(rc));
    daemon_on_shutdown(primary_shutdown_cb, &P);
    daemon_on_reload(primary_reload_cb, &P); /* SIGHUP: pull now */
    if (admin && *admin && (rc = admin_start(P.loop, admin, primary_health_cb, &P)) < 0)
        log_fatal("admin.failed", "addr=%s error=%s", admin, uv_strerror(rc));
    log_info("dns.listening", "addr=%s port=%d zones=%zu axfr=%s poll=%ld", listen, dns_srv_port(P.srv),
             P.zones.n, axfr ? "open" : "tsig", poll_s);
    rc = daemon_run(P.loop);
    zones_free(&P.zones);
    if (P.notify_key_set)
        dns_tsig_key_clear(&P.notify_key);
    gitdb_close(P.db);
    ldns_buffer_free(P.wbuf);
    return rc == 0 ? 0 : 1;
}
