/* dmarc: record parsing, policy discovery (RFC 7489 §6.6.3) and evaluation
 * (§6.6.2, §6.6.4). DNS is the caller's business, as in spf.c. */
#include "dmarc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DMARC_NAME_MAX 253
#define DMARC_RECORD_MAX 4096 /* longer TXT strings are not DMARC records */
#define DMARC_PREFIX "_dmarc."

enum { ST_IDLE, ST_FROM, ST_ORG, ST_DONE };

struct dmarc_ctx {
    const dmarc_psl *psl;
    int state, pending;
    char from[DMARC_NAME_MAX + 1], org[DMARC_NAME_MAX + 1];
    char qname[DMARC_NAME_MAX + sizeof DMARC_PREFIX + 1];
    dmarc_record rec;
    int have_rec, rec_at_org;
    dmarc_result result;
    dmarc_policy disposition;
    int (*rnd)(void *);
    void *rnd_arg;
};

static int wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int dmarc_is_record(const char *txt, size_t len)
{
    size_t i = 0;
    if (len < 8 || len > DMARC_RECORD_MAX || strncmp(txt, "v", 1) != 0)
        return 0;
    i = 1;
    while (i < len && wsp(txt[i]))
        i++;
    if (i >= len || txt[i++] != '=')
        return 0;
    while (i < len && wsp(txt[i]))
        i++;
    if (len - i < 6 || strncasecmp(txt + i, "DMARC1", 6) != 0)
        return 0;
    i += 6;
    while (i < len && wsp(txt[i]))
        i++;
    return i == len || txt[i] == ';';
}

static dmarc_policy parse_policy(const char *v, size_t n)
{
    if (n == 4 && strncasecmp(v, "none", 4) == 0)
        return DMARC_P_NONE;
    if (n == 10 && strncasecmp(v, "quarantine", 10) == 0)
        return DMARC_P_QUARANTINE;
    if (n == 6 && strncasecmp(v, "reject", 6) == 0)
        return DMARC_P_REJECT;
    return DMARC_P_UNSET;
}

static int is_tag(const char *t, size_t tn, const char *name)
{
    return strlen(name) == tn && strncasecmp(t, name, tn) == 0;
}

int dmarc_record_parse(const char *txt, size_t len, dmarc_record *r, const char **err)
{
    const char *dummy; /* not static: parsers run on several threads */
    if (!err)
        err = &dummy;
    memset(r, 0, sizeof *r);
    r->pct = 100;
    r->adkim = r->aspf = 'r';
    if (!dmarc_is_record(txt, len)) {
        *err = "not a DMARC1 record";
        return -1;
    }
    int bad_p = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && txt[e] != ';')
            e++;
        size_t s = i, t = e;
        while (s < t && wsp(txt[s]))
            s++;
        while (t > s && wsp(txt[t - 1]))
            t--;
        i = e + 1;
        if (s == t)
            continue;
        const char *eq = memchr(txt + s, '=', t - s);
        if (!eq) {
            *err = "tag without value";
            return -1;
        }
        size_t tn = (size_t)(eq - txt) - s, vs = (size_t)(eq - txt) + 1;
        while (tn && wsp(txt[s + tn - 1]))
            tn--;
        while (vs < t && wsp(txt[vs]))
            vs++;
        const char *tag = txt + s, *v = txt + vs;
        size_t vn = t - vs;
        if (is_tag(tag, tn, "p")) {
            r->p = parse_policy(v, vn);
            bad_p = r->p == DMARC_P_UNSET;
        } else if (is_tag(tag, tn, "sp")) {
            r->sp = parse_policy(v, vn); /* invalid: ignored, p applies */
        } else if (is_tag(tag, tn, "pct")) {
            int val = 0, ok = vn > 0 && vn <= 3;
            for (size_t k = 0; ok && k < vn; k++)
                ok = isdigit((unsigned char)v[k]), val = val * 10 + (v[k] - '0');
            if (ok && val <= 100)
                r->pct = val;
        } else if (is_tag(tag, tn, "adkim") || is_tag(tag, tn, "aspf")) {
            char m = vn == 1 ? (char)tolower((unsigned char)v[0]) : 0;
            if (m == 'r' || m == 's')
                *(tn == 5 ? &r->adkim : &r->aspf) = m;
        } else if (is_tag(tag, tn, "rua")) {
            r->has_rua = vn > 0;
        }
        /* v was checked by dmarc_is_record; ruf, fo, rf, ri and unknown tags are ignored */
    }
    if (r->p == DMARC_P_UNSET || bad_p) {
        if (!r->has_rua) { /* §6.6.3: no usable p and no rua: discard */
            *err = "missing or invalid p";
            return -1;
        }
        r->p = DMARC_P_NONE;
    }
    return 0;
}

dmarc_ctx *dmarc_new(const dmarc_psl *psl)
{
    dmarc_ctx *d = calloc(1, sizeof *d);
    if (d)
        d->psl = psl;
    return d;
}

void dmarc_free(dmarc_ctx *d)
{
    free(d);
}

void dmarc_set_random(dmarc_ctx *d, int (*rnd)(void *), void *arg)
{
    d->rnd = rnd;
    d->rnd_arg = arg;
}

int dmarc_begin(dmarc_ctx *d, const char *from)
{
    const dmarc_psl *psl = d->psl;
    int (*rnd)(void *) = d->rnd;
    void *arg = d->rnd_arg;
    memset(d, 0, sizeof *d);
    d->psl = psl, d->rnd = rnd, d->rnd_arg = arg;
    d->state = ST_DONE;
    d->result = DMARC_PERMERROR;
    size_t n = from ? strlen(from) : 0;
    if (n && from[n - 1] == '.')
        n--;
    if (n == 0 || n > DMARC_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* the name ends up bare in header.from=, so only LDH, '_' and '.' */
        unsigned char c = (unsigned char)from[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_') {
            d->from[0] = '\0'; /* no half name in header.from= */
            return -1;
        }
        d->from[i] = (char)tolower(c);
    }
    d->from[n] = '\0';
    if (dmarc_org_domain(psl, d->from, d->org, sizeof d->org) != 0)
        return -1;
    d->result = DMARC_NONE;
    d->state = ST_FROM;
    return 0;
}

dmarc_status dmarc_step(dmarc_ctx *d)
{
    if (d->state != ST_FROM && d->state != ST_ORG)
        return DMARC_DONE;
    snprintf(d->qname, sizeof d->qname, "%s%s", DMARC_PREFIX, d->state == ST_FROM ? d->from : d->org);
    d->pending = 1;
    return DMARC_NEED_DNS;
}

const char *dmarc_query_name(const dmarc_ctx *d)
{
    return d->pending ? d->qname : NULL;
}

int dmarc_answer(dmarc_ctx *d, int rcode, const dmarc_txt *txt, size_t n)
{
    if (!d->pending)
        return -1;
    d->pending = 0;
    if (rcode != DMARC_RCODE_NOERROR && rcode != DMARC_RCODE_NXDOMAIN) {
        d->result = DMARC_TEMPERROR;
        d->state = ST_DONE;
        return 0;
    }
    int found = -1, count = 0;
    for (size_t i = 0; rcode == DMARC_RCODE_NOERROR && i < n; i++)
        if (txt[i].data && dmarc_is_record(txt[i].data, txt[i].len))
            found = (int)i, count++;
    dmarc_record rec;
    if (count == 1 && dmarc_record_parse(txt[found].data, txt[found].len, &rec, NULL) == 0) {
        d->rec = rec;
        d->have_rec = 1;
        d->rec_at_org = d->state == ST_ORG;
        d->state = ST_DONE;
        return 0;
    }
    /* §6.6.3: several records end discovery; none (or a discarded one) at the
     * From domain sends us on to the organizational domain */
    if (count <= 1 && d->state == ST_FROM && strcmp(d->from, d->org) != 0)
        d->state = ST_ORG;
    else
        d->state = ST_DONE;
    return 0;
}

static int default_rnd(void *arg)
{
    (void)arg;
    return (int)(random() % 100);
}

dmarc_policy dmarc_get_policy(const dmarc_ctx *d)
{
    if (!d->have_rec)
        return DMARC_P_UNSET;
    /* sp applies to subdomains, i.e. when the record came from the org domain */
    if (d->rec_at_org && d->rec.sp != DMARC_P_UNSET)
        return d->rec.sp;
    return d->rec.p;
}

dmarc_result dmarc_evaluate(dmarc_ctx *d, const dmarc_auth *a)
{
    d->disposition = DMARC_P_NONE;
    if (d->result == DMARC_TEMPERROR || d->result == DMARC_PERMERROR || d->state != ST_DONE)
        return d->result;
    if (!d->have_rec) {
        d->result = DMARC_NONE;
        return d->result;
    }
    int pass = a && a->spf_pass && dmarc_aligned(d->psl, d->from, a->spf_domain, d->rec.aspf);
    for (size_t i = 0; a && !pass && i < a->n_dkim; i++)
        pass = dmarc_aligned(d->psl, d->from, a->dkim_domains[i], d->rec.adkim);
    d->result = pass ? DMARC_PASS : DMARC_FAIL;
    if (pass)
        return d->result;
    /* A verdict with an aligned check still open is not a failure: refusing
     * or quarantining it would punish the sender for our DNS trouble. */
    int open = a && a->spf_temperror && a->spf_domain && dmarc_aligned(d->psl, d->from, a->spf_domain, d->rec.aspf);
    for (size_t i = 0; a && !open && i < a->n_dkim_temp; i++)
        open = dmarc_aligned(d->psl, d->from, a->dkim_temp_domains[i], d->rec.adkim);
    if (open) {
        d->result = DMARC_TEMPERROR;
        return d->result;
    }
    dmarc_policy pol = dmarc_get_policy(d);
    if (pol > DMARC_P_NONE && d->rec.pct < 100) {
        int draw = (d->rnd ? d->rnd : default_rnd)(d->rnd_arg);
        if (draw >= d->rec.pct) /* §6.6.4: not sampled -> next policy down */
            pol = pol == DMARC_P_REJECT ? DMARC_P_QUARANTINE : DMARC_P_NONE;
    }
    d->disposition = pol;
    return d->result;
}

dmarc_result dmarc_get_result(const dmarc_ctx *d) { return d->result; }
const dmarc_record *dmarc_get_record(const dmarc_ctx *d) { return d->have_rec ? &d->rec : NULL; }
dmarc_policy dmarc_get_disposition(const dmarc_ctx *d) { return d->disposition; }
const char *dmarc_get_from(const dmarc_ctx *d) { return d->from; }
const char *dmarc_get_org(const dmarc_ctx *d) { return d->org; }

const char *dmarc_result_str(dmarc_result r)
{
    static const char *n[] = {"none", "pass", "fail", "temperror", "permerror"};
    return (unsigned)r < sizeof n / sizeof n[0] ? n[r] : "permerror";
}

const char *dmarc_policy_str(dmarc_policy p)
{
    static const char *n[] = {"none", "none", "quarantine", "reject"};
    return (unsigned)p < sizeof n / sizeof n[0] ? n[p] : "none";
}

size_t dmarc_format_authres(const dmarc_ctx *d, char *buf, size_t sz)
{
    int n;
    if (d->have_rec && (d->result == DMARC_PASS || d->result == DMARC_FAIL))
        n = snprintf(buf, sz, "dmarc=%s (p=%s dis=%s) header.from=%s", dmarc_result_str(d->result),
                     dmarc_policy_str(dmarc_get_policy(d)), dmarc_policy_str(d->disposition),
                     d->from[0] ? d->from : "unknown");
    else if (d->from[0])
        n = snprintf(buf, sz, "dmarc=%s header.from=%s", dmarc_result_str(d->result), d->from);
    else /* a From domain we cannot name (not LDH): no property rather than a wrong one */
        n = snprintf(buf, sz, "dmarc=%s", dmarc_result_str(d->result));
    return n < 0 ? 0 : (size_t)n;
}
