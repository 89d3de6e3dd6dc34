/* spamfilter: the transform (verdict headers) and the database life cycle. */
#ifndef ENVOI_SPAMFILTER_H
#define ENVOI_SPAMFILTER_H

#include <uv.h>

#include "bayes.h"
#include "hop.h"

struct spamfilter {
    const char *db_path;
    long reload_interval;      /* seconds between checks of the database file */
    uv_timer_t reload_timer;
    struct bayes_store store;  /* store.db NULL: every verdict is "unknown" */
    uv_loop_t *loop;           /* for the classification jobs on the thread pool */
    int loading;               /* a changed database file is being read on the pool */
};

extern const struct hop_ops spamfilter_ops;
/* Loads the database (a missing or corrupt one is logged loudly, not fatal:
 * mail flows with "unknown") and arms the change checks. */
int spamfilter_init(struct spamfilter *sf, uv_loop_t *loop);

#endif
