/* daemon: signals, shutdown and reload hooks (see daemon.h). */
#include "daemon.h"

#include "log.h"

#include <signal.h>
#include <stdlib.h>

#define DAEMON_HOOKS_MAX 32

struct daemon_hook {
    daemon_hook_fn fn;
    void *arg;
};

static uv_signal_t daemon_sig_term, daemon_sig_int, daemon_sig_hup;
static struct daemon_hook daemon_down[DAEMON_HOOKS_MAX], daemon_reload[DAEMON_HOOKS_MAX];
static int daemon_ndown, daemon_nreload, daemon_is_stopping, daemon_inited;

static void daemon_signal_cb(uv_signal_t *h, int signum)
{
    if (signum == SIGHUP) {
        log_info("reload", "signal=HUP hooks=%d", daemon_nreload);
        for (int i = 0; i < daemon_nreload; i++)
            daemon_reload[i].fn(daemon_reload[i].arg);
        return;
    }
    log_info("shutdown", "signal=%d", signum);
    daemon_shutdown();
}

void daemon_init(uv_loop_t *loop, const char *service)
{
    (void)service;
    /* A peer closing mid-write must give EPIPE on that socket, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(loop, &daemon_sig_term);
    uv_signal_init(loop, &daemon_sig_int);
    uv_signal_init(loop, &daemon_sig_hup);
    uv_signal_start(&daemon_sig_term, daemon_signal_cb, SIGTERM);
    uv_signal_start(&daemon_sig_int, daemon_signal_cb, SIGINT);
    uv_signal_start(&daemon_sig_hup, daemon_signal_cb, SIGHUP);
    daemon_inited = 1;
}

void daemon_on_shutdown(daemon_hook_fn fn, void *arg)
{
    if (daemon_ndown == DAEMON_HOOKS_MAX)
        abort(); /* a fixed number of modules register: overflow is a bug */
    daemon_down[daemon_ndown++] = (struct daemon_hook){fn, arg};
}

void daemon_on_reload(daemon_hook_fn fn, void *arg)
{
    if (daemon_nreload == DAEMON_HOOKS_MAX)
        abort();
    daemon_reload[daemon_nreload++] = (struct daemon_hook){fn, arg};
}

int daemon_stopping(void)
{
    return daemon_is_stopping;
}

void daemon_shutdown(void)
{
    if (daemon_is_stopping)
        return;
    daemon_is_stopping = 1;
    for (int i = daemon_ndown - 1; i >= 0; i--)
        daemon_down[i].fn(daemon_down[i].arg);
    if (daemon_inited) {
        uv_close((uv_handle_t *)&daemon_sig_term, NULL);
        uv_close((uv_handle_t *)&daemon_sig_int, NULL);
        uv_close((uv_handle_t *)&daemon_sig_hup, NULL);
        daemon_inited = 0;
    }
}

int daemon_run(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(loop);
    if (rc != 0)
        log_error("shutdown.leak", "err=%s", uv_strerror(rc));
    else
        log_info("shutdown.done", "loop=closed");
    return rc;
}
