/* metrics: process-wide Prometheus counters and one latency histogram per name.
 *
 * Counters are registered lazily by name (with an optional label set written
 * as Prometheus text, e.g. `class="2xx"`), so any module can count without a
 * central list. Single-threaded (the libuv loop thread). */
#ifndef ENVOI_METRICS_H
#define ENVOI_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Adds v to counter `name{labels}` (labels may be NULL). */
void metrics_add(const char *name, const char *labels, uint64_t v);
#define metrics_inc(name, labels) metrics_add(name, labels, 1)
/* Sets gauge `name` to v. */
void metrics_set(const char *name, const char *labels, int64_t v);
/* Records one observation (seconds) in histogram `name`. */
void metrics_observe(const char *name, double seconds);
/* Renders everything in Prometheus text format into a malloc'd string. */
char *metrics_render(size_t *len);

#endif
