/* throttle: counts failed logins per key in a fixed-size table, so an
 * attacker spraying addresses or user names costs us bounded memory. A key
 * that fails max_fails times within the window is blocked for block_ms; each
 * further block of the same key doubles, up to THROTTLE_BLOCK_MAX_MS. When the
 * table is full the least recently used slot of the probe window is reused. */
#include "submission.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t throttle_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

int throttle_init(struct throttle *t, int max_fails, uint64_t window_ms, uint64_t block_ms)
{
    t->e = calloc(THROTTLE_SLOTS, sizeof *t->e);
    t->max_fails = max_fails;
    t->window_ms = window_ms;
    t->block_ms = block_ms;
    return t->e ? 0 : -1;
}

void throttle_free(struct throttle *t)
{
    free(t->e);
    t->e = NULL;
}

/* Keys are client addresses and local parts, shorter than a slot; a longer
 * one is cut everywhere alike, so collisions only make us stricter. */
static const char *throttle_key(const char *key, char buf[THROTTLE_KEY_MAX])
{
    size_t n = strnlen(key, THROTTLE_KEY_MAX - 1);
    memcpy(buf, key, n);
    buf[n] = '\0';
    return buf;
}

static struct throttle_entry *throttle_find(const struct throttle *t, const char *key)
{
    uint64_t h = throttle_hash(key);
    for (int i = 0; i < THROTTLE_PROBE; i++) {
        struct throttle_entry *e = &t->e[(h + (uint64_t)i) % THROTTLE_SLOTS];
        if (e->key[0] && !strcmp(e->key, key))
            return e;
    }
    return NULL;
}

/* A slot for a new key: an empty one, else the one whose activity (last
 * failure or end of block) is oldest, so live blocks are evicted last. */
static struct throttle_entry *throttle_slot(struct throttle *t, const char *key)
{
    uint64_t h = throttle_hash(key);
    struct throttle_entry *best = NULL;
    uint64_t best_t = UINT64_MAX;
    for (int i = 0; i < THROTTLE_PROBE; i++) {
        struct throttle_entry *e = &t->e[(h + (uint64_t)i) % THROTTLE_SLOTS];
        if (!e->key[0])
            return e;
        uint64_t act = e->until_ms > e->last_ms ? e->until_ms : e->last_ms;
        if (act < best_t) {
            best_t = act;
            best = e;
        }
    }
    return best;
}

uint64_t throttle_blocked(const struct throttle *t, const char *key, uint64_t now_ms)
{
    char kb[THROTTLE_KEY_MAX];
    const struct throttle_entry *e = throttle_find(t, throttle_key(key, kb));
    return e && e->until_ms > now_ms ? e->until_ms - now_ms : 0;
}

uint64_t throttle_fail(struct throttle *t, const char *key, uint64_t now_ms)
{
    if (t->max_fails <= 0 || !key || !*key)
        return 0;
    char kb[THROTTLE_KEY_MAX];
    key = throttle_key(key, kb);
    struct throttle_entry *e = throttle_find(t, key);
    if (!e) {
        e = throttle_slot(t, key);
        memset(e, 0, sizeof *e);
        memcpy(e->key, key, strlen(key) + 1);
        e->first_ms = now_ms;
    }
    if (now_ms - e->last_ms > THROTTLE_FORGET_MS)
        e->strikes = 0;
    if (now_ms - e->first_ms > t->window_ms) {
        e->fails = 0;
        e->first_ms = now_ms;
    }
    e->last_ms = now_ms;
    if (++e->fails < t->max_fails)
        return 0;
    uint64_t block = t->block_ms;
    for (int i = 0; i < e->strikes && block < THROTTLE_BLOCK_MAX_MS; i++)
        block *= 2;
    if (block > THROTTLE_BLOCK_MAX_MS)
        block = THROTTLE_BLOCK_MAX_MS;
    e->strikes++;
    e->fails = 0;
    e->first_ms = now_ms;
    e->until_ms = now_ms + block;
    return block;
}

const char *throttle_client_key(const char *ip, char out[THROTTLE_KEY_MAX])
{
    unsigned char a[16];
    char net[INET6_ADDRSTRLEN];
    if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, a) != 1) {
        snprintf(out, THROTTLE_KEY_MAX, "%s", ip);
        return out;
    }
    /* One IPv6 client holds a /64 at least: per address it could try 2^64
     * times as often. */
    memset(a + 8, 0, 8);
    inet_ntop(AF_INET6, a, net, sizeof net);
    snprintf(out, THROTTLE_KEY_MAX, "%s/64", net);
    return out;
}

void throttle_clear(struct throttle *t, const char *key)
{
    char kb[THROTTLE_KEY_MAX];
    struct throttle_entry *e = throttle_find(t, throttle_key(key, kb));
    if (e) {
        e->fails = 0;
        e->first_ms = 0;
    }
}
