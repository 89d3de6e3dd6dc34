/* acl: the networks allowed to use the resolver. An open resolver is an
 * amplifier for anyone on the Internet, so the default is loopback and the
 * private ranges the lab's containers live in. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver.h"

int acl_parse(struct acl *acl, const struct conf_list *cidrs, char *err, size_t errsz)
{
    acl->n = 0;
    for (int i = 0; i < cidrs->n; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", cidrs->v[i]);
        char *slash = strchr(buf, '/');
        if (slash)
            *slash = '\0';
        struct acl_entry *e = &acl->v[acl->n];
        memset(e, 0, sizeof *e);
        if (inet_pton(AF_INET, buf, e->addr) == 1) {
            e->family = AF_INET;
            e->bits = 32;
        } else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
            e->family = AF_INET6;
            e->bits = 128;
        } else {
            snprintf(err, errsz, "bad address in --allow %s", cidrs->v[i]);
            return -1;
        }
        if (slash) {
            char *end;
            long b = strtol(slash + 1, &end, 10);
            if (*end || b < 0 || b > e->bits) {
                snprintf(err, errsz, "bad prefix length in --allow %s", cidrs->v[i]);
                return -1;
            }
            e->bits = (int)b;
        }
        acl->n++;
    }
    return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int acl_allows(const struct acl *acl, const struct sockaddr *sa)
{
    uint8_t v4[4];
    const uint8_t *v6 = NULL;
    int family = sa->sa_family;
    if (family == AF_INET) {
        memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (family == AF_INET6) {
        v6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(v6, mapped, 12) == 0) { /* ::ffff:a.b.c.d is IPv4 */
            memcpy(v4, v6 + 12, 4);
            family = AF_INET;
        }
    } else {
        return 0;
    }
    for (int i = 0; i < acl->n; i++) {
        const struct acl_entry *e = &acl->v[i];
        if (e->family != family)
            continue;
        if (prefix_match(family == AF_INET ? v4 : v6, e->addr, e->bits))
            return 1;
    }
    return 0;
}
