/* admin: the admin HTTP port: GET /healthz (200 "ok\n" while healthy,
 * 503 once shutdown began or a health hook says so) and GET /metrics
 * (Prometheus text). Anything else: 404. One request per connection. */
#ifndef ENVOI_ADMIN_H
#define ENVOI_ADMIN_H

#include <uv.h>

/* Optional extra health check: return 0 when healthy, else a reason string. */
typedef const char *(*admin_health_fn)(void *arg);

/* Listens on addr ("HOST:PORT"); NULL or "" disables. Registers its own
 * shutdown hook. Returns 0 or a negative uv error. */
int admin_start(uv_loop_t *loop, const char *addr, admin_health_fn health, void *arg);

#endif
