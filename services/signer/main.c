/* signer: DKIM-signs outgoing mail for our domains and passes it on.
 * Flags, keys, key publication, the loop. */
#include "daemon.h"
#include "hop.h"
#include "log.h"

#include "signer.h"

int main(int argc, char **argv)
{
    struct hop_conf hc = {0};
    struct signer sg = {0};
    struct conf_flag flags[] = {
        HOP_FLAGS(hc),
        {"selector", CONF_LIST, &sg.selectors, NULL, "DKIM selector (repeatable, one per --private-key)"},
        {"private-key", CONF_LIST, &sg.key_files, NULL, "PEM key file, RSA or Ed25519 (repeatable)"},
        {"sign-domain", CONF_LIST, &sg.sign_domains, NULL, "From domain to sign (repeatable; default --domain)"},
        {"canonicalization", CONF_STR, &sg.canon, "relaxed/relaxed", "header/body: relaxed or simple"},
        {"expiration", CONF_INT, &sg.expiration, "0", "seconds until signatures expire (x=); 0: none"},
        {"dns-server", CONF_STR, &sg.dns_server, NULL, "primary DNS HOST[:PORT] for key publication"},
        {"dns-key", CONF_STR, &sg.dns_key, NULL, "TSIG key NAME:ALG:SECRET for updates"},
        {"zone", CONF_STR, &sg.zone, NULL, "zone to update (default: the signing domain)"},
    };
    int check;
    if (conf_parse("signer", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("signer", log_level_parse(hc.log_level) < 0 ? LOG_INFO : log_level_parse(hc.log_level));
    if (hop_validate(&hc) < 0 || signer_setup(&sg, hc.domain) < 0)
        return 2;
    if (check) {
        log_info("config.ok", "service=signer keys=%d", sg.nkeys);
        signer_free(&sg);
        return 0;
    }
    if (sg.dns_server && signer_publish(&sg) < 0)
        log_warn("dkim.publish.failed", "note=\"signing anyway; receivers cannot verify until the key is published\"");
    uv_loop_t *loop = uv_default_loop();
    sg.loop = loop;
    daemon_init(loop, "signer");
    if (hop_start(loop, "signer", &hc, NULL, &signer_ops, &sg) < 0)
        return 2;
    int rc = daemon_run(loop);
    signer_free(&sg);
    return rc == 0 ? 0 : 1;
}
