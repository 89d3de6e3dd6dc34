/* conf: flags with environment fallbacks (see conf.h). */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_ENV_MAX 128

static void conf_usage(const char *prog, const struct conf_flag *flags, size_t n)
{
    fprintf(stderr, "usage: %s [-n] [--FLAG VALUE]...\n", prog);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  --%-18s %s%s%s%s\n", flags[i].name, flags[i].help ? flags[i].help : "",
                flags[i].def ? " (default: " : "", flags[i].def ? flags[i].def : "", flags[i].def ? ")" : "");
    fprintf(stderr, "  -n, --check          check the configuration and exit\n"
                    "Every flag can also come from the environment: --dns-server -> ENVOI_DNS_SERVER.\n");
}

static int conf_set(const char *prog, struct conf_flag *f, const char *v, int *seen)
{
    switch (f->type) {
    case CONF_STR:
        *(const char **)f->target = v;
        break;
    case CONF_INT: {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end) {
            fprintf(stderr, "%s: --%s: not a number: %s\n", prog, f->name, v);
            return -1;
        }
        *(long *)f->target = x;
        break;
    }
    case CONF_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
            *(int *)f->target = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
            *(int *)f->target = 0;
        else {
            fprintf(stderr, "%s: --%s: expected true or false: %s\n", prog, f->name, v);
            return -1;
        }
        break;
    case CONF_LIST: {
        struct conf_list *l = f->target;
        if (!*seen)
            l->n = 0; /* the first explicit value replaces the default */
        if (l->n >= CONF_LIST_MAX) {
            fprintf(stderr, "%s: --%s: more than %d values\n", prog, f->name, CONF_LIST_MAX);
            return -1;
        }
        l->v[l->n++] = v;
        break;
    }
    }
    *seen = 1;
    return 0;
}

/* Copies of split values live for the process (configuration is read once);
 * kept reachable here so leak checkers see them as owned, not lost. */
#define CONF_COPIES_MAX 64
static char *conf_copies[CONF_COPIES_MAX];
static int conf_ncopies;

/* Splits a list value from the environment or a default on ','. */
static int conf_set_split(const char *prog, struct conf_flag *f, const char *v, int *seen)
{
    if (f->type != CONF_LIST)
        return conf_set(prog, f, v, seen);
    if (conf_ncopies == CONF_COPIES_MAX)
        return -1;
    char *copy = strdup(v);
    if (!copy)
        return -1;
    conf_copies[conf_ncopies++] = copy;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (conf_set(prog, f, tok, seen) < 0)
            return -1;
    return 0;
}

int conf_parse(const char *prog, struct conf_flag *flags, size_t n, int argc, char **argv, int *check_only)
{
    int seen[64] = {0};
    if (n > 64)
        return -1;
    if (check_only)
        *check_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-n") || !strcmp(a, "--check")) {
            if (check_only)
                *check_only = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            conf_usage(prog, flags, n);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument: %s\n", prog, a);
            return -1;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        size_t k;
        for (k = 0; k < n; k++)
            if (strlen(flags[k].name) == nl && !strncmp(flags[k].name, a, nl))
                break;
        if (k == n) {
            fprintf(stderr, "%s: unknown flag --%.*s (see --help)\n", prog, (int)nl, a);
            return -1;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v && flags[k].type == CONF_BOOL)
            v = "1";
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --%s needs a value\n", prog, flags[k].name);
                return -1;
            }
            v = argv[++i];
        }
        if (conf_set(prog, &flags[k], v, &seen[k]) < 0)
            return -1;
    }
    for (size_t k = 0; k < n; k++) {
        if (seen[k])
            continue;
        char env[CONF_ENV_MAX] = "ENVOI_";
        size_t o = 6;
        for (const char *p = flags[k].name; *p && o < sizeof env - 1; p++)
            env[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[o] = '\0';
        const char *v = getenv(env);
        if (v && *v) {
            if (conf_set_split(prog, &flags[k], v, &seen[k]) < 0)
                return -1;
        } else if (flags[k].def) {
            if (conf_set_split(prog, &flags[k], flags[k].def, &seen[k]) < 0)
                return -1;
        }
    }
    return 0;
}

int conf_addr_parse(const char *s, uint16_t default_port, struct conf_addr *out)
{
    const char *host = s, *port = NULL;
    size_t hl;
    if (!s)
        return -1;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return -1;
        host = s + 1;
        hl = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return -1;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            colon = NULL; /* bare IPv6 without brackets: no port */
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (colon)
            port = colon + 1;
    }
    if (hl >= sizeof out->host)
        return -1;
    memcpy(out->host, host, hl);
    out->host[hl] = '\0';
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (end == port || *end || p < 0 || p > 65535)
            return -1;
        out->port = (uint16_t)p;
    } else {
        out->port = default_port;
    }
    return 0;
}
