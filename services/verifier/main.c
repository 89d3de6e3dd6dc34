/* verifier: port 25. Flags, policy, checks, the loop. */
#include "daemon.h"
#include "hop.h"
#include "log.h"

#include "verifier.h"

#include <stdlib.h>

/* Checks block a worker thread on DNS for as long as the sender's DNS takes.
 * libuv's default of four workers would let four slow senders stall every
 * message; this many lets the quick ones through meanwhile. */
#define VERIFIER_WORKERS "64"

int main(int argc, char **argv)
{
    setenv("UV_THREADPOOL_SIZE", VERIFIER_WORKERS, 0); /* before libuv's pool starts; an operator's value wins */
    struct hop_conf hc = {0};
    struct verifier v = {0};
    struct hop_policy pol = {.refuse_routes = 1};
    int require_tls = 0, proxy = 0;
    struct conf_list proxy_from = {0};
    long greet_delay = 0;
    struct conf_flag flags[] = {
        HOP_FLAGS(hc),
        {"nameserver", CONF_STR, &v.nameserver, NULL, "resolver HOST[:PORT] for SPF, DKIM and DMARC"},
        {"recipient-domain", CONF_LIST, &v.domains, NULL, "domain we accept mail for (repeatable; default --domain)"},
        {"authserv-id", CONF_STR, &v.authserv_id, NULL, "Authentication-Results id (default --domain)"},
        {"public-suffix-list", CONF_STR, &v.psl_path, DMARC_PSL_DEFAULT, "PSL file for organizational domains"},
        {"dmarc-reject", CONF_BOOL, &v.dmarc_reject, "false", "refuse DMARC failures under p=reject (550)"},
        {"dns-timeout", CONF_INT, &v.dns_timeout_ms, "2000", "per-query DNS timeout, milliseconds"},
        {"require-tls", CONF_BOOL, &require_tls, "false", "refuse MAIL before STARTTLS (not RFC 3207 for a public MX)"},
        {"proxy-protocol", CONF_BOOL, &proxy, "false", "expect a PROXY header from --proxy-from peers"},
        {"proxy-from", CONF_LIST, &proxy_from, NULL, "CIDR of trusted load balancers (repeatable)"},
        {"greet-delay", CONF_INT, &greet_delay, "0", "milliseconds to hold the greeting (early talkers are dropped)"},
    };
    int check;
    if (conf_parse("verifier", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("verifier", log_level_parse(hc.log_level) < 0 ? LOG_INFO : log_level_parse(hc.log_level));
    if (proxy && proxy_from.n == 0) {
        log_error("config", "err=\"--proxy-protocol needs --proxy-from (the balancers we trust)\"");
        return 2;
    }
    if (require_tls && !hc.tls_cert) {
        log_error("config", "err=\"--require-tls needs --tls-cert and --tls-key\"");
        return 2;
    }
    if (hop_validate(&hc) < 0 || verifier_setup(&v, hc.domain) < 0)
        return 2;
    if (check) {
        log_info("config.ok", "service=verifier");
        verifier_free(&v);
        return 0;
    }
    pol.auth_needs_tls = require_tls; /* the engine's "STARTTLS first" check serves --require-tls */
    pol.proxy_protocol = proxy;
    pol.proxy_from = &proxy_from;
    pol.greet_delay_ms = greet_delay;
    v.check_ms = hc.timeout * 1000;
    v.loop = uv_default_loop();
    daemon_init(v.loop, "verifier");
    daemon_on_shutdown(verifier_stop_cb, &v);
    if (hop_start(v.loop, "verifier", &hc, &pol, &verifier_ops, &v) < 0)
        return 2;
    int rc = daemon_run(v.loop);
    verifier_free(&v);
    return rc == 0 ? 0 : 1;
}
