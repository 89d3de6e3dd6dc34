/* bayes: scoring and the Spamtacus headers.
 *
 * Per token (as in the reference): ps = spam/nspam, ph = ham/nham,
 * p = ps/(ps+ph), Robinson's correction f = (robs*robx + n*p)/(robs + n)
 * with n = spam + ham, clamped to [pmin, 1-pmin]. Tokens closer to 0.5
 * than min_dev say nothing and are dropped. Then either
 *  - Graham (the reference): the max_tokens most significant,
 *    P = prod f / (prod f + prod (1-f)), or
 *  - chi-square (Robinson/Fisher, as SpamBayes and bogofilter do):
 *    S = 1 - C(-2 sum ln(1-f), 2k), H = 1 - C(-2 sum ln f, 2k), P = (1+S-H)/2,
 *    which says "unsure" when a message has strong evidence both ways.
 * docs/SPAM.md has the measurements behind the defaults. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bayes.h"

#include "hdr.h"

#define SCORE_STACK 2048 /* candidate tokens kept on the stack; more go to the heap */

void bayes_params_default(struct bayes_params *p)
{
    p->combine = BAYES_CHI2;
    p->robs = 0.2;
    p->robx = 0.5;
    p->min_dev = 0.375;
    p->pmin = 0.0001;
    p->max_tokens = 0;
    p->min_tokens = 1;
    p->spam_cutoff = 0.99;
    p->ham_cutoff = 0.45;
}

void bayes_params_reference(struct bayes_params *p)
{
    p->combine = BAYES_GRAHAM;
    p->robs = 3;
    p->robx = 0.5;
    p->min_dev = 0.0;
    p->pmin = 0.01;
    p->max_tokens = 15;
    p->min_tokens = 5;
    p->spam_cutoff = 0.8;
    p->ham_cutoff = 0.2;
}

const char *bayes_verdict_word(enum bayes_verdict v)
{
    switch (v) {
    case BAYES_SPAM:
        return "yes";
    case BAYES_HAM:
        return "no";
    default:
        return "unknown";
    }
}

static int by_deviation(const void *a, const void *b)
{
    double da = fabs(*(const double *)a - 0.5), db = fabs(*(const double *)b - 0.5);
    return da < db ? 1 : da > db ? -1 : 0;
}

/* Upper tail of chi-square with 2n degrees of freedom at x2: the Poisson
 * sum e^-m * m^i / i! for i < n, m = x2/2. Every term is a probability, so
 * the plain sum is safe while e^-m is a normal double; past that it is
 * summed in log space (slower: one log and one exp per term). */
static double chi2q(double x2, int n)
{
    double m = x2 / 2;
    if (m < 700) {
        double term = exp(-m), sum = term;
        for (int i = 1; i < n; i++) {
            term *= m / i;
            sum += term;
        }
        return sum > 1 ? 1 : sum;
    }
    double lt = -m, ls = lt;
    for (int i = 1; i < n; i++) {
        lt += log(m / i);
        double hi = ls > lt ? ls : lt, lo = ls > lt ? lt : ls;
        ls = hi + log1p(exp(lo - hi));
    }
    double q = exp(ls);
    return q > 1 ? 1 : q;
}

static double combine(const struct bayes_params *p, const double *f, int k)
{
    double lp = 0, lq = 0;
    for (int i = 0; i < k; i++) {
        lp += log(f[i]);
        lq += log(1 - f[i]);
    }
    if (p->combine == BAYES_GRAHAM) {
        /* prod f / (prod f + prod (1-f)) = 1 / (1 + exp(lq - lp)) */
        return 1 / (1 + exp(lq - lp));
    }
    double s = 1 - chi2q(-2 * lq, k), h = 1 - chi2q(-2 * lp, k);
    return (1 + s - h) / 2;
}

int bayes_score(const struct bayes_db *db, const struct bayes_params *p, const struct bayes_tok *t,
                struct bayes_result *out)
{
    size_t n;
    const uint64_t *h = bayes_tok_hashes(t, &n);
    memset(out, 0, sizeof *out);
    out->score = 0.5;
    out->ntokens = (unsigned)n;
    out->dangerous = bayes_tok_dangerous(t);
    unsigned nspam = 0, nham = 0;
    if (db)
        bayes_db_info(db, &nspam, &nham, NULL, NULL);
    if (!db || !nspam || !nham) {
        out->verdict = out->dangerous ? BAYES_SPAM : BAYES_UNKNOWN;
        return db ? 0 : -1;
    }
    double stackf[SCORE_STACK], *f = n <= SCORE_STACK ? stackf : malloc(n * sizeof *f);
    if (!f) {
        out->verdict = out->dangerous ? BAYES_SPAM : BAYES_UNKNOWN;
        return 0;
    }
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cs, ch;
        if (!bayes_db_lookup(db, h[i], &cs, &ch))
            continue;
        double ps = (double)cs / nspam, ph = (double)ch / nham;
        if (ps + ph <= 0)
            continue;
        double cnt = (double)cs + ch;
        double v = (p->robs * p->robx + cnt * (ps / (ps + ph))) / (p->robs + cnt);
        if (v < p->pmin)
            v = p->pmin;
        if (v > 1 - p->pmin)
            v = 1 - p->pmin;
        if (fabs(v - 0.5) < p->min_dev)
            continue;
        f[k++] = v;
    }
    if (p->max_tokens > 0 && k > p->max_tokens) {
        qsort(f, (size_t)k, sizeof *f, by_deviation);
        k = p->max_tokens;
    }
    out->nused = (unsigned)k;
    if (k > 0)
        out->score = combine(p, f, k);
    if (f != stackf)
        free(f);
    if (out->dangerous)
        out->verdict = BAYES_SPAM;
    else if (k < p->min_tokens || k == 0)
        out->verdict = BAYES_UNKNOWN;
    else if (out->score >= p->spam_cutoff)
        out->verdict = BAYES_SPAM;
    else if (out->score <= p->ham_cutoff)
        out->verdict = BAYES_HAM;
    else
        out->verdict = BAYES_UNKNOWN;
    return 0;
}

int bayes_classify_message(const struct bayes_db *db, const char *msg, size_t len, struct bayes_result *out)
{
    struct bayes_params p;
    unsigned flags = BAYES_TOK_DEFAULT;
    bayes_params_default(&p);
    if (db)
        bayes_db_info(db, NULL, NULL, NULL, &flags);
    struct bayes_tok *t = bayes_tok_new(flags);
    if (!t) {
        memset(out, 0, sizeof *out);
        out->score = 0.5;
        return db ? 0 : -1;
    }
    bayes_tok_message(t, msg, len);
    int r = bayes_score(db, &p, t, out);
    bayes_tok_free(t);
    return r;
}

int bayes_format_headers(const struct bayes_result *r, char *buf, size_t bufsz)
{
    double s = r->score;
    if (!(s >= 0))
        s = 0;
    if (s > 1)
        s = 1;
    int n = snprintf(buf, bufsz, BAYES_HDR_VERDICT ": %s\r\n" BAYES_HDR_SCORE ": %.3f\r\n",
                     bayes_verdict_word(r->verdict), s);
    return n < 0 || (size_t)n >= bufsz ? -1 : n;
}

/* 1 if the header line at p (up to its ':') is one of ours. */
/* Incoming copies of our two headers are forgeries: only ours count. */
static int bayes_drop_cb(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    return hdr_name_is(name, nlen, BAYES_HDR_VERDICT) || hdr_name_is(name, nlen, BAYES_HDR_SCORE);
}

char *bayes_strip_headers(const char *msg, size_t len, size_t *outlen)
{
    return hdr_filter(msg, len, NULL, bayes_drop_cb, NULL, outlen);
}

char *bayes_mark_message(const struct bayes_db *db, const char *msg, size_t len, size_t *outlen,
                         struct bayes_result *r)
{
    size_t slen;
    char *stripped = bayes_strip_headers(msg, len, &slen);
    if (!stripped)
        return NULL;
    bayes_classify_message(db, stripped, slen, r);
    char hdr[128];
    int hn = bayes_format_headers(r, hdr, sizeof hdr);
    if (hn < 0)
        hn = 0;
    char *out = malloc(slen + (size_t)hn);
    if (!out) {
        free(stripped);
        return NULL;
    }
    memcpy(out, hdr, (size_t)hn);
    memcpy(out + hn, stripped, slen);
    free(stripped);
    *outlen = slen + (size_t)hn;
    return out;
}
