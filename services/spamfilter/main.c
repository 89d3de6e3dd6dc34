/* spamfilter: the hop between verifier and relay that adds a Bayesian verdict.
 * Reads like a table of contents: flags, the transform, the loop. */
#include "daemon.h"
#include "hop.h"
#include "log.h"

#include "spamfilter.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    struct hop_conf hc = {0};
    struct spamfilter sf = {0};
    struct conf_flag flags[] = {
        HOP_FLAGS(hc),
        {"database", CONF_STR, &sf.db_path, NULL, "Bayes database file (reloaded when it changes)"},
        {"reload-interval", CONF_INT, &sf.reload_interval, "10", "seconds between database change checks"},
    };
    int check;
    if (conf_parse("spamfilter", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("spamfilter", log_level_parse(hc.log_level) < 0 ? LOG_INFO : log_level_parse(hc.log_level));
    if (hop_validate(&hc) < 0)
        return 2;
    if (check) {
        log_info("config.ok", "service=spamfilter");
        return 0;
    }
    uv_loop_t *loop = uv_default_loop();
    daemon_init(loop, "spamfilter");
    if (spamfilter_init(&sf, loop) < 0 ||
        hop_start(loop, "spamfilter", &hc, NULL, &spamfilter_ops, &sf) < 0)
        return 2;
    int rc = daemon_run(loop);
    bayes_store_close(&sf.store);
    return rc == 0 ? 0 : 1;
}
