/* dmarc_psl: the Public Suffix List as one string arena plus an
 * open-addressing hash of rule offsets, loaded once at startup
 * (~10k rules -> a few hundred KB), and the organizational-domain rule of
 * RFC 7489 §3.2 on top of it. */
#include "dmarc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PSL_FILE_MAX (16u << 20) /* the real list is ~250 KB */
#define PSL_NAME_MAX 253
#define PSL_LABELS_MAX 128

enum { R_NORMAL = 1, R_WILD = 2, R_EXCEPT = 4 };

typedef struct {
    uint32_t off; /* into arena; 0 = empty slot (arena starts with a NUL) */
    uint8_t flags;
} slot;

struct dmarc_psl {
    char *arena;
    size_t alen, acap;
    slot *tab;
    size_t cap, count;
};

static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)tolower((unsigned char)s[i])) * 16777619u;
    return h;
}

static slot *find(const dmarc_psl *p, const char *s, size_t n)
{
    if (!p->cap)
        return NULL;
    for (size_t i = fnv(s, n) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
        slot *sl = &p->tab[i];
        if (!sl->off)
            return sl;
        const char *k = p->arena + sl->off;
        if (strlen(k) == n && strncasecmp(k, s, n) == 0)
            return sl;
    }
}

static int grow(dmarc_psl *p)
{
    size_t ncap = p->cap ? p->cap * 2 : 1024;
    slot *old = p->tab, *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    size_t ocap = p->cap;
    p->tab = nt;
    p->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].off)
            continue;
        const char *k = p->arena + old[i].off;
        *find(p, k, strlen(k)) = old[i];
    }
    free(old);
    return 0;
}

static int add_rule(dmarc_psl *p, const char *s, size_t n, uint8_t flag)
{
    if (n == 0 || n > PSL_NAME_MAX)
        return 0;
    if ((p->count + 1) * 2 > p->cap && grow(p) != 0)
        return -1;
    slot *sl = find(p, s, n);
    if (!sl->off) {
        if (p->alen + n + 1 > p->acap) {
            size_t ncap = p->acap ? p->acap * 2 : 65536;
            while (ncap < p->alen + n + 1)
                ncap *= 2;
            char *na = realloc(p->arena, ncap);
            if (!na)
                return -1;
            p->arena = na;
            p->acap = ncap;
        }
        for (size_t i = 0; i < n; i++)
            p->arena[p->alen + i] = (char)tolower((unsigned char)s[i]);
        p->arena[p->alen + n] = '\0';
        sl->off = (uint32_t)p->alen;
        p->alen += n + 1;
        p->count++;
    }
    sl->flags |= flag;
    return 0;
}

dmarc_psl *dmarc_psl_load_mem(const char *data, size_t len)
{
    dmarc_psl *p = calloc(1, sizeof *p);
    if (!p || !(p->arena = malloc(1))) {
        free(p);
        return NULL;
    }
    p->arena[0] = '\0'; /* offset 0 marks an empty slot */
    p->alen = p->acap = 1;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        /* a rule is the first whitespace-delimited word of the line */
        size_t s = i;
        while (s < e && (data[s] == ' ' || data[s] == '\t'))
            s++;
        size_t w = s;
        while (w < e && !isspace((unsigned char)data[w]))
            w++;
        if (w > s && !(w - s >= 2 && data[s] == '/' && data[s + 1] == '/')) {
            const char *r = data + s;
            size_t rn = w - s;
            uint8_t flag = R_NORMAL;
            if (r[0] == '!')
                flag = R_EXCEPT, r++, rn--;
            else if (rn > 2 && r[0] == '*' && r[1] == '.')
                flag = R_WILD, r += 2, rn -= 2;
            if (add_rule(p, r, rn, flag) != 0) {
                dmarc_psl_free(p);
                return NULL;
            }
        }
        i = e + 1;
    }
    return p;
}

dmarc_psl *dmarc_psl_load(const char *path)
{
    FILE *f = fopen(path ? path : DMARC_PSL_DEFAULT, "rb");
    if (!f)
        return dmarc_psl_load_mem("", 0);
    char *buf = malloc(PSL_FILE_MAX);
    size_t n = buf ? fread(buf, 1, PSL_FILE_MAX, f) : 0;
    fclose(f);
    dmarc_psl *p = buf ? dmarc_psl_load_mem(buf, n) : NULL;
    free(buf);
    return p;
}

void dmarc_psl_free(dmarc_psl *p)
{
    if (!p)
        return;
    free(p->arena);
    free(p->tab);
    free(p);
}

size_t dmarc_psl_rules(const dmarc_psl *p)
{
    return p ? p->count : 0;
}

static uint8_t flags_of(const dmarc_psl *p, const char *s, size_t n)
{
    const slot *sl = p ? find(p, s, n) : NULL;
    return sl && sl->off ? sl->flags : 0;
}

int dmarc_org_domain(const dmarc_psl *p, const char *domain, char *out, size_t outsz)
{
    char d[PSL_NAME_MAX + 2];
    size_t n = strlen(domain);
    if (n && domain[n - 1] == '.')
        n--;
    if (n == 0 || n > PSL_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)domain[i]);
    d[n] = '\0';
    size_t pos[PSL_LABELS_MAX];
    int nl = 0;
    pos[nl++] = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '.') {
            if (i + 1 >= n || d[i + 1] == '.' || nl >= PSL_LABELS_MAX)
                return -1;
            pos[nl++] = i + 1;
        }
    }
    if (d[0] == '.')
        return -1;
    /* longest matching rule wins; an exception rule beats everything */
    int ps = nl - 1; /* the implicit "*" rule: the last label is public */
    for (int i = 0; i < nl; i++) {
        const char *suf = d + pos[i];
        size_t sl = n - pos[i];
        uint8_t f = flags_of(p, suf, sl);
        if (f & R_EXCEPT) {
            ps = i + 1;
            break;
        }
        if (f & R_NORMAL) {
            ps = i;
            break;
        }
        if (i + 1 < nl && (flags_of(p, d + pos[i + 1], n - pos[i + 1]) & R_WILD)) {
            ps = i;
            break;
        }
    }
    int org = ps > 0 ? ps - 1 : 0; /* a public suffix itself is its own org */
    if (n - pos[org] + 1 > outsz)
        return -1;
    memcpy(out, d + pos[org], n - pos[org] + 1);
    return 0;
}

int dmarc_aligned(const dmarc_psl *p, const char *from, const char *auth, char mode)
{
    char a[PSL_NAME_MAX + 2], b[PSL_NAME_MAX + 2];
    if (!from || !auth || !*from || !*auth)
        return 0;
    if (mode == 's') {
        size_t fl = strlen(from), al = strlen(auth);
        if (fl && from[fl - 1] == '.')
            fl--;
        if (al && auth[al - 1] == '.')
            al--;
        return fl == al && strncasecmp(from, auth, fl) == 0;
    }
    if (dmarc_org_domain(p, from, a, sizeof a) != 0 || dmarc_org_domain(p, auth, b, sizeof b) != 0)
        return 0;
    return strcmp(a, b) == 0;
}
