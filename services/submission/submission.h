/* submission: the door for users' mail clients (RFC 6409) on 465 and 587.
 * A hop (see hop.h) that requires AUTH over TLS, checks that the envelope
 * sender belongs to the authenticated user, adds Message-ID and Date when the
 * client left them out, and forwards to the signer. Users come from the
 * configuration repository (users/<local>.json, see userdb.h). */
#ifndef ENVOI_SUBMISSION_H
#define ENVOI_SUBMISSION_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "gitdb.h"
#include "hop.h"
#include "userdb.h"

/* ---- throttle.c: failed logins per key (client address, user) ---- */

#define THROTTLE_SLOTS 4096                  /* keys remembered per table */
#define THROTTLE_PROBE 8                     /* slots looked at per key */
#define THROTTLE_KEY_MAX 80                  /* an IPv6 text address or a local part */
#define THROTTLE_BLOCK_MAX_MS (3600 * 1000)  /* longest block after repeated strikes */
#define THROTTLE_FORGET_MS (24 * 3600 * 1000) /* strikes forgotten after a quiet day */

struct throttle_entry {
    char key[THROTTLE_KEY_MAX];
    uint64_t first_ms, last_ms, until_ms;
    int fails, strikes;
};

struct throttle {
    struct throttle_entry *e;   /* THROTTLE_SLOTS entries */
    int max_fails;              /* failures within window_ms that start a block */
    uint64_t window_ms, block_ms;
};

/* 0 or -1 (memory). */
int throttle_init(struct throttle *t, int max_fails, uint64_t window_ms, uint64_t block_ms);
void throttle_free(struct throttle *t);
/* Milliseconds left of a block on key, 0 when key may try. */
uint64_t throttle_blocked(const struct throttle *t, const char *key, uint64_t now_ms);
/* Records a failure; returns the block length in ms when this failure starts
 * one (each new block of the same key is twice as long), else 0. */
uint64_t throttle_fail(struct throttle *t, const char *key, uint64_t now_ms);
/* The per-address key for a client: the address itself for IPv4, its /64
 * for IPv6 ("2001:db8:1:2::/64"). Pure. */
const char *throttle_client_key(const char *ip, char out[THROTTLE_KEY_MAX]);
/* Forgets key's failures (not its strikes). */
void throttle_clear(struct throttle *t, const char *key);

/* ---- auth.c: password checks in flight ---- */

/* Each check is an argon2id hash (tens of ms, 64 MiB) on libuv's small pool,
 * which also serves the next hop's name lookups: AUTH lines are cheap to
 * send, so how many may wait is bounded, per client (address, or /64) and in
 * all. Past either bound the answer is 454 at once, without hashing. */
#define AUTH_INFLIGHT_MAX 32
#define AUTH_INFLIGHT_PER_CLIENT 4

struct submit_auth;

/* ---- the service ---- */

struct submission {
    uv_loop_t *loop;
    const struct hop_conf *hc;
    /* flags */
    const char *remote, *clone_dir, *ssh_key;
    long poll_s, pull_timeout_s;
    struct conf_list user_domains; /* --user-domain; default: --domain */
    const char *domains[CONF_LIST_MAX];
    int ndomains;
    long fail_ip, fail_user, fail_window_s, block_s;
    /* users.c: the database and its reloads */
    char remote_shown[1024];       /* --remote for the logs, without a password */
    struct userdb *db;             /* current; replaced whole by a reload */
    int loaded;                    /* a database was read at least once */
    uv_timer_t poll_timer, watch_timer;
    int busy, again, stopping;     /* loop side: a pull asked for and not yet answered */
    uint64_t busy_since;
    char head[41];
    /* The puller thread (its own, not libuv's pool: a remote that stops
     * answering mid-fetch must hold neither start-up nor shutdown). mu
     * guards want/done/quit/in_pull; next_*, err and git belong to the
     * thread while a pull runs and to the loop once done is set. */
    pthread_t puller;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uv_async_t done_async;
    int want, done, quit, in_pull, puller_started;
    struct gitdb *git;
    struct userdb *next;
    int next_skipped;
    char next_head[41];
    char err[512];
    /* auth.c, submit.c */
    struct throttle by_ip, by_user;
    struct submit_auth *inflight[AUTH_INFLIGHT_MAX];
    int ninflight;
    char reply[USERDB_ADDR_MAX + 128];
};

extern const struct hop_ops submission_ops;
/* The AUTH check for hop_policy (auth.c), the password hash on libuv's
 * thread pool; ends in hop_auth_done with 1 ok, 0 bad credentials, -1
 * refused for now (throttled, or no user database yet). */
void submission_auth_start(void *arg, struct hop_auth *a, const char *user, const char *pass,
                           const char *client_ip);
/* Starts the puller thread and waits up to USERS_START_WAIT_MS for the first
 * load (so logins work as soon as the ports open), arms the poll timer and
 * SIGHUP. A repository that cannot be reached yet, or does not answer in
 * time, is waited for in the background: logins get 454 until it loads.
 * 0, or -1 on a fatal setup error. */
int users_init(struct submission *sm);
/* Asks for a pull now (SIGHUP). */
void users_reload_cb(void *arg);
/* After the loop ended: stops the puller and frees the database and the
 * repository handle (left alone when a pull is stuck in the network). */
void users_free(struct submission *sm);

/* Adds Date and Message-ID when the header lacks them (RFC 6409 §8.3, §8.4).
 * Returns a malloc'd message and its length in *outlen, or NULL when nothing
 * was missing (or memory is short). Pure apart from the clock and RNG. */
char *submit_fix_headers(const char *msg, size_t len, const char *domain, size_t *outlen, int *added);

#endif
