/* daemon: the life cycle every service shares.
 *
 * daemon_init() sets up logging and the SIGTERM/SIGINT/SIGHUP watchers on the
 * given loop. On SIGTERM/SIGINT every registered shutdown hook runs once (each
 * closes the handles it owns), then the signal handles close themselves, so
 * uv_run() returns and uv_loop_close() returns 0. SIGHUP runs reload hooks. */
#ifndef ENVOI_DAEMON_H
#define ENVOI_DAEMON_H

#include <uv.h>

typedef void (*daemon_hook_fn)(void *arg);

/* Installs signal watchers on loop. Call once before uv_run. */
void daemon_init(uv_loop_t *loop, const char *service);
/* Registers fn(arg) to run at shutdown (in reverse order of registration). */
void daemon_on_shutdown(daemon_hook_fn fn, void *arg);
/* Registers fn(arg) to run on SIGHUP. */
void daemon_on_reload(daemon_hook_fn fn, void *arg);
/* Starts shutdown programmatically (as SIGTERM would). Idempotent. */
void daemon_shutdown(void);
/* 1 once shutdown has begun: listeners stop accepting, sessions finish. */
int daemon_stopping(void);
/* Runs the loop to completion, closes it, returns uv_loop_close()'s result. */
int daemon_run(uv_loop_t *loop);

#endif
