/* metrics: counters, gauges and histograms in Prometheus text (see metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX 256
#define METRICS_NAME_MAX 128
#define METRICS_BUCKETS 12

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HIST };

struct metrics_entry {
    enum metrics_kind kind;
    char name[METRICS_NAME_MAX];
    char labels[METRICS_NAME_MAX];
    uint64_t count;
    int64_t gauge;
    double sum;
    uint64_t buckets[METRICS_BUCKETS];
};

static const double metrics_bounds[METRICS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1,   0.25,   0.5,   1,    2.5,   10};
static struct metrics_entry metrics_tab[METRICS_MAX];
static int metrics_n;

static struct metrics_entry *metrics_get(enum metrics_kind kind, const char *name, const char *labels)
{
    if (!labels)
        labels = "";
    for (int i = 0; i < metrics_n; i++)
        if (!strcmp(metrics_tab[i].name, name) && !strcmp(metrics_tab[i].labels, labels))
            return &metrics_tab[i];
    if (metrics_n == METRICS_MAX)
        return NULL; /* full: drop the sample rather than fail the caller */
    struct metrics_entry *e = &metrics_tab[metrics_n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->labels, sizeof e->labels, "%s", labels);
    return e;
}

void metrics_add(const char *name, const char *labels, uint64_t v)
{
    struct metrics_entry *e = metrics_get(METRICS_COUNTER, name, labels);
    if (e)
        e->count += v;
}

void metrics_set(const char *name, const char *labels, int64_t v)
{
    struct metrics_entry *e = metrics_get(METRICS_GAUGE, name, labels);
    if (e)
        e->gauge = v;
}

void metrics_observe(const char *name, double seconds)
{
    struct metrics_entry *e = metrics_get(METRICS_HIST, name, NULL);
    if (!e)
        return;
    e->count++;
    e->sum += seconds;
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (seconds <= metrics_bounds[i])
            e->buckets[i]++;
}

struct metrics_out {
    char *p;
    size_t len, cap;
};

static void metrics_printf(struct metrics_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (o->p && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = (o->cap ? o->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(o->p, ncap);
        if (!np)
            return;
        o->p = np;
        o->cap = ncap;
    }
}

static const char *metrics_type_name(enum metrics_kind k)
{
    return k == METRICS_COUNTER ? "counter" : k == METRICS_GAUGE ? "gauge" : "histogram";
}

char *metrics_render(size_t *len)
{
    struct metrics_out o = {0};
    for (int i = 0; i < metrics_n; i++) {
        struct metrics_entry *e = &metrics_tab[i];
        int first = 1;
        for (int j = 0; j < i; j++)
            if (!strcmp(metrics_tab[j].name, e->name))
                first = 0;
        if (first)
            metrics_printf(&o, "# TYPE %s %s\n", e->name, metrics_type_name(e->kind));
        const char *lb = e->labels[0] ? "{" : "", *le = e->labels[0] ? "}" : "";
        if (e->kind == METRICS_COUNTER) {
            metrics_printf(&o, "%s%s%s%s %llu\n", e->name, lb, e->labels, le, (unsigned long long)e->count);
        } else if (e->kind == METRICS_GAUGE) {
            metrics_printf(&o, "%s%s%s%s %lld\n", e->name, lb, e->labels, le, (long long)e->gauge);
        } else {
            for (int b = 0; b < METRICS_BUCKETS; b++)
                metrics_printf(&o, "%s_bucket{le=\"%g\"} %llu\n", e->name, metrics_bounds[b],
                               (unsigned long long)e->buckets[b]);
            metrics_printf(&o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", e->name,
                           (unsigned long long)e->count, e->name, e->sum, e->name,
                           (unsigned long long)e->count);
        }
    }
    if (!o.p) {
        o.p = strdup("");
        o.len = 0;
    }
    if (len)
        *len = o.len;
    return o.p;
}
