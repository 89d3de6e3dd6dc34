/* dns-resolver: a caching, iterative resolver for the other services.
 * Reads like a table of contents: flags, root hints and forward zones, the
 * ACL, the listener, the loop. The work is in serve.c, iter.c, upstream.c,
 * cache.c and acl.c (see resolver.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "resolver.h"

#define RES_CACHE_ENTRIES_DEFAULT "100000"
#define RES_DEFAULT_ALLOW "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

static struct resolver R;

static void resolver_shutdown_cb(void *arg)
{
    struct resolver *r = arg;
    r->stopping = 1;
    dns_srv_stop(r->srv);
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *hints = NULL, *admin = NULL, *level = NULL, *anchor = NULL;
    long query_port = 53, cache_max = 0;
    struct conf_list allow = {0}, forwards = {0};
    struct conf_flag flags[] = {
        {"listen", CONF_STR, &listen, ":53", "ADDR:PORT for UDP and TCP"},
        {"root-hints", CONF_STR, &hints, NULL, "root hints file: NS/A records, or ADDR[@PORT] lines"},
        {"forward", CONF_LIST, &forwards, NULL, "ZONE=ADDR[@PORT]: ask this server for ZONE (repeatable)"},
        {"allow", CONF_LIST, &allow, RES_DEFAULT_ALLOW, "client networks (CIDR, repeatable); others get REFUSED"},
        {"query-port", CONF_INT, &query_port, "53", "port of servers learned from referrals (tests)"},
        {"cache-entries", CONF_INT, &cache_max, RES_CACHE_ENTRIES_DEFAULT, "most RRsets cached"},
        {"trust-anchor", CONF_STR, &anchor, NULL, "DNSSEC trust anchors (DS or DNSKEY lines): validate, set AD"},
        {"admin", CONF_STR, &admin, NULL, "ADDR:PORT of the admin HTTP port (/healthz, /metrics)"},
        {"log-level", CONF_STR, &level, "info", "debug, info, warn or error"},
    };
    int check;
    if (conf_parse("dns-resolver", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("dns-resolver", log_level_parse(level) < 0 ? LOG_INFO : log_level_parse(level));
    char err[300];
    if (query_port <= 0 || query_port > 65535 || cache_max <= 0)
        log_fatal("config.invalid", "reason=\"bad --query-port or --cache-entries\"");
    R.query_port = (uint16_t)query_port;
    if (acl_parse(&R.acl, &allow, err, sizeof err) < 0)
        log_fatal("config.invalid", "reason=\"%s\"", err);
    for (int i = 0; i < forwards.n; i++)
        if (forward_parse(&R, forwards.v[i], err, sizeof err) < 0)
            log_fatal("config.invalid", "reason=\"%s\"", err);
    if (hints && hints_load(&R, hints, err, sizeof err) < 0)
        log_fatal("config.invalid", "reason=\"%s\"", err);
    if (!hints && R.nfwd == 0)
        log_fatal("config.invalid", "reason=\"--root-hints or --forward is required\"");
    if (anchor && anchors_load(&R, anchor, err, sizeof err) < 0)
        log_fatal("config.invalid", "reason=\"%s\"", err);
    if (check) {
        log_info("config.ok", "service=dns-resolver");
        return 0;
    }
    R.loop = uv_default_loop();
    R.cache = cache_new((size_t)cache_max);
    R.wbuf = ldns_buffer_new(65536);
    daemon_init(R.loop, "dns-resolver");
    int rc = dns_srv_start(R.loop, listen, serve_query_cb, &R, &R.srv);
    if (rc < 0)
        log_fatal("listen.failed", "addr=%s error=%s", listen, uv_strerror(rc));
    daemon_on_shutdown(resolver_shutdown_cb, &R);
    if (admin && *admin && (rc = admin_start(R.loop, admin, NULL, NULL)) < 0)
        log_fatal("admin.failed", "addr=%s error=%s", admin, uv_strerror(rc));
    log_info("dns.listening", "addr=%s port=%d roots=%d forwards=%d allow=%d", listen,
             dns_srv_port(R.srv), R.nhints, R.nfwd, R.acl.n);
    rc = daemon_run(R.loop);
    cache_free(R.cache);
    ldns_buffer_free(R.wbuf);
    for (int i = 0; i < R.nfwd; i++)
        ldns_rdf_deep_free(R.fwd[i].zone);
    ldns_rr_list_deep_free(R.anchors);
    validate_cleanup();
    return rc == 0 ? 0 : 1;
}
