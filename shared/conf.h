/* conf: command-line flags with environment fallbacks, shared by every service.
 *
 * A service declares a table of struct conf_flag; conf_parse() fills the
 * targets from argv, then from the environment (ENVOI_<NAME> with '-' -> '_',
 * upper case: --dns-server -> ENVOI_DNS_SERVER), then from defaults.
 * `-n` (or --check) sets conf->check_only so main() can validate and exit 0.
 * `-h`/--help prints the table. Unknown flags and bad values are errors. */
#ifndef ENVOI_CONF_H
#define ENVOI_CONF_H

#include <stddef.h>
#include <stdint.h>

enum conf_type {
    CONF_STR,    /* const char ** */
    CONF_INT,    /* long * (decimal) */
    CONF_BOOL,   /* int * (flag without value sets 1) */
    CONF_LIST,   /* struct conf_list * (repeatable; env value split on ',') */
};

#define CONF_LIST_MAX 16
struct conf_list {
    const char *v[CONF_LIST_MAX];
    int n;
};

struct conf_flag {
    const char *name;      /* long name without dashes: "listen" */
    enum conf_type type;
    void *target;
    const char *def;       /* default as text, or NULL */
    const char *help;
};

/* Parses argv into the table; returns 0, or prints a clear error and returns -1.
 * Sets *check_only when -n/--check is given. */
int conf_parse(const char *prog, struct conf_flag *flags, size_t nflags, int argc, char **argv,
               int *check_only);

/* A HOST[:PORT] address. host is "" for the wildcard (":25"); IPv6 as [::1]:25. */
struct conf_addr {
    char host[256];
    uint16_t port;
};
/* Parses "HOST[:PORT]", "[V6]:PORT", ":PORT"; default_port when absent. 0 or -1. */
int conf_addr_parse(const char *s, uint16_t default_port, struct conf_addr *out);

#endif
