/* zones: the set of zones the primary serves, loaded from the clone.
 * Loading runs on the git worker; the swap runs on the loop thread, which is
 * the only reader, so queries never need a lock. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics.h"
#include "primary.h"

static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcasecmp(((const struct zone_entry *)a)->name, ((const struct zone_entry *)b)->name);
}

void zones_load(const char *dir, struct zone_set *set)
{
    memset(set, 0, sizeof *set);
    DIR *d = opendir(dir);
    if (!d) {
        log_error("zones.load", "dir=%s error=opendir", dir);
        return;
    }
    set->v = calloc(PRIMARY_ZONES_MAX, sizeof *set->v);
    struct dirent *de;
    while (set->v && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= 250 || ends_with(de->d_name, ".md"))
            continue; /* hidden files and documentation are not zones */
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue; /* directories (users/) are not zones */
        size_t len = 0;
        char *text = read_file(path, DNS_ZONE_TEXT_MAX, &len);
        char err[256] = "unreadable or too big";
        char q[300];
        if (ends_with(de->d_name, PRIMARY_KEYS_SUFFIX)) {
            if (!text || dns_tsig_keys_parse(text, len, &set->keys, err, sizeof err) < 0) {
                set->keys_broken = 1;
                log_error("zones.keys_rejected", "file=%s reason=%s", de->d_name,
                          log_quote(q, sizeof q, err, strlen(err)));
            }
            free(text);
            continue;
        }
        if (set->n >= PRIMARY_ZONES_MAX) {
            free(text);
            log_warn("zones.too_many", "file=%s", de->d_name);
            continue;
        }
        struct zone_entry *ze = &set->v[set->n++];
        snprintf(ze->file, sizeof ze->file, "%s", de->d_name);
        if (strcmp(de->d_name, PRIMARY_ROOT_FILE) == 0)
            snprintf(ze->name, sizeof ze->name, ".");
        else
            snprintf(ze->name, sizeof ze->name, "%s%s", de->d_name,
                     ends_with(de->d_name, ".") ? "" : ".");
        ze->zone = text ? dns_zone_parse(text, len, ze->name, err, sizeof err) : NULL;
        if (!ze->zone)
            log_error("zones.zone_rejected", "zone=%s reason=%s", ze->name,
                      log_quote(q, sizeof q, err, strlen(err)));
        free(text);
    }
    closedir(d);
    if (set->v)
        qsort(set->v, set->n, sizeof *set->v, entry_cmp);
}

void zones_free(struct zone_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        dns_zone_free(set->v[i].zone);
    free(set->v);
    dns_tsig_keys_free(&set->keys);
    memset(set, 0, sizeof *set);
}

static struct zone_entry *by_name(struct zone_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcasecmp(set->v[i].name, name) == 0)
            return &set->v[i];
    return NULL;
}

int zones_swap(struct primary *p, struct zone_set *set)
{
    struct zone_set *old = &p->zones;
    int changed = 0;
    size_t w = 0;
    for (size_t i = 0; i < set->n; i++) {
        struct zone_entry *ze = &set->v[i];
        struct zone_entry *prev = by_name(old, ze->name);
        if (!ze->zone && prev && prev->zone) {
            /* A broken commit: keep serving the last good version. */
            ze->zone = prev->zone;
            prev->zone = NULL;
            log_warn("zones.kept_last_good", "zone=%s serial=%u", ze->name, ze->zone->serial);
        }
        if (!ze->zone)
            continue;
        if (!prev || !prev->zone || prev->zone->serial != ze->zone->serial) {
            changed++;
            ze->changed = 1;
            log_info("zones.loaded", "zone=%s serial=%u records=%zu", ze->name, ze->zone->serial,
                     ze->zone->nrrs);
        }
        set->v[w++] = *ze;
    }
    set->n = w;
    if (set->keys_broken && old->keys.n) {
        dns_tsig_keys_free(&set->keys);
        set->keys = old->keys;
        old->keys.v = NULL;
        old->keys.n = 0;
    }
    zones_free(old);
    *old = *set;
    memset(set, 0, sizeof *set);
    metrics_set("dns_primary_zones", NULL, (int64_t)old->n);
    return changed;
}

static int zone_contains_name(const struct zone_entry *ze, const ldns_rdf *name)
{
    return dns_zone_contains(ze->zone, name);
}

struct zone_entry *zones_find(struct zone_set *set, const ldns_rdf *name, ldns_rr_type qtype)
{
    struct zone_entry *best = NULL, *second = NULL;
    for (size_t i = 0; i < set->n; i++) {
        struct zone_entry *ze = &set->v[i];
        if (!zone_contains_name(ze, name))
            continue;
        /* Both contain name, so the longer origin is the deeper zone. */
        size_t len = ldns_rdf_size(ze->zone->origin);
        if (!best || len > ldns_rdf_size(best->zone->origin)) {
            second = best;
            best = ze;
        } else if (!second || len > ldns_rdf_size(second->zone->origin)) {
            second = ze;
        }
    }
    /* DS lives on the parent side of a cut. */
    if (best && second && qtype == LDNS_RR_TYPE_DS && ldns_rdf_size(best->zone->origin) == ldns_rdf_size(name) &&
        ldns_dname_compare(best->zone->origin, name) == 0)
        return second;
    return best;
}

struct zone_entry *zones_exact(struct zone_set *set, const ldns_rdf *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (ldns_dname_compare(set->v[i].zone->origin, name) == 0)
            return &set->v[i];
    return NULL;
}
