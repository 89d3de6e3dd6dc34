/* spamfilter: the transform (verdict headers) and the database life cycle. */
#ifndef ENVOI_SPAMFILTER_H
#define ENVOI_SPAMFILTER_H

#include <uv.h>

#include "hop.h"

struct spamfilter {
    const char *db_path;
    long reload_interval;
    uv_timer_t reload_timer;
    void *db;            /* the loaded database, NULL gives "unknown" verdicts */
};

extern const struct hop_ops spamfilter_ops;
/* Loads the database (a missing one is logged loudly, not fatal) and arms reload checks. */
int spamfilter_init(struct spamfilter *sf, uv_loop_t *loop);

#endif
