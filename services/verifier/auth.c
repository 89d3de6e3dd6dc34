/* verifier checks: SPF (MAIL FROM and HELO), DKIM and DMARC for one message,
 * run on libuv's thread pool with blocking lookups against --nameserver so the
 * loop never waits on DNS. The results become Received-SPF and one
 * Authentication-Results field; forged copies of both are removed first.
 * Nothing here can lose a message: a failed check is a result, not an error. */
#include "verifier.h"

#include "dkim.h"
#include "dnsq.h"
#include "hdr.h"
#include "log.h"
#include "metrics.h"
#include "sbuf.h"
#include "spf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per SPF check: RFC 7208 allows 10 querying terms, an mx or ptr term 10
 * more lookups each, plus the TXT records of includes and redirects. Each
 * check has its own count: one whose lookups the sender controls must not
 * leave another (the From domain's DMARC record) unasked. */
#define VERIFIER_SPF_QUERIES_MAX 128
#define VERIFIER_FOLD_AT 78 /* RFC 5322 §2.1.1: lines SHOULD stay within 78 characters */

struct verifier_job {
    uv_work_t work;
    struct verifier *v;
    struct hop_txn *txn;
    char *msg;
    size_t len;
    char ip[64], helo[256], from[300], id[32];
    char dns_helo[256], dns_from[330]; /* the same with A-labels (RFC 8616), for SPF */
    uint64_t deadline_ns; /* uv_hrtime() past the hop's --timeout: the result would be thrown away */
    /* results, filled by the worker */
    char *headers;
    const char *reject;
    char log_spf[16], log_dkim[16], log_dmarc[16];
};

/* A silent resolver costs every query its full timeout. Nothing is asked
 * once the hop has answered 451 (past --timeout) or the daemon is stopping
 * (the client got 421): the result would be thrown away. Before that, every
 * check is asked in full, so running out of time never yields a temperror
 * that lets a message through; the hop's 451 is the answer to slowness. */
static int verifier_dns(const struct verifier *v, dnsq *q, int *budget, uint64_t deadline_ns, const char *name,
                        int type, dnsq_answer *a)
{
    if (--*budget < 0 || uv_hrtime() > deadline_ns || atomic_load(&v->stopping)) {
        memset(a, 0, sizeof *a);
        a->rcode = DNSQ_TIMEOUT;
        return -1;
    }
    return dnsq_query(q, name, (uint16_t)type, a);
}

static spf_ctx *verifier_spf(dnsq *q, const struct verifier_job *j, const char *sender)
{
    int budget = VERIFIER_SPF_QUERIES_MAX;
    spf_ctx *c = spf_new();
    if (!c)
        return NULL;
    spf_begin(c, j->ip, sender, j->dns_helo, j->v->authserv_id);
    while (spf_step(c) == SPF_NEED_DNS) {
        dnsq_answer a;
        verifier_dns(j->v, q, &budget, j->deadline_ns, spf_query_name(c), spf_query_type(c), &a);
        spf_answer_dnsq(c, &a);
        dnsq_answer_free(&a);
    }
    return c;
}

static struct dkim_verify *verifier_dkim(dnsq *q, const struct verifier_job *j)
{
    int budget = DKIM_VERIFY_MAX_SIGS; /* one key per signature */
    struct dkim_verify *d = dkim_verify_begin(j->msg, j->len, time(NULL));
    if (!d)
        return NULL;
    for (int i = 0; i < dkim_verify_count(d); i++) {
        const char *name = dkim_verify_query(d, i);
        if (!name)
            continue;
        dnsq_answer a;
        verifier_dns(j->v, q, &budget, j->deadline_ns, name, 16, &a);
        const dnsq_rr *txt = NULL;
        for (size_t k = 0; k < a.n; k++)
            if (a.rr[k].type == 16 && !txt)
                txt = &a.rr[k];
        enum dkim_dns st = a.rcode == 0 && txt ? DKIM_DNS_OK
                         : (a.rcode == 0 || a.rcode == 3) ? DKIM_DNS_NOTFOUND
                                                          : DKIM_DNS_TEMPFAIL;
        dkim_verify_key(d, i, txt ? txt->data : NULL, txt ? txt->len : 0, st);
        dnsq_answer_free(&a);
    }
    return d;
}

static dmarc_ctx *verifier_dmarc(dnsq *q, const struct verifier_job *j, spf_ctx *spf,
                                 struct dkim_verify *dk, const char *from_domain)
{
    int budget = 2; /* the From domain, then its organizational domain */
    dmarc_ctx *d = dmarc_new(j->v->psl);
    if (!d)
        return NULL;
    dmarc_begin(d, from_domain);
    while (dmarc_step(d) == DMARC_NEED_DNS) {
        dnsq_answer a;
        verifier_dns(j->v, q, &budget, j->deadline_ns, dmarc_query_name(d), 16, &a);
        dmarc_txt t[16];
        size_t n = 0;
        for (size_t k = 0; k < a.n && n < 16; k++)
            if (a.rr[k].type == 16)
                t[n++] = (dmarc_txt){a.rr[k].data, a.rr[k].len};
        dmarc_answer(d, a.rcode == DNSQ_TIMEOUT ? DMARC_RCODE_TIMEOUT : a.rcode, t, n);
        dnsq_answer_free(&a);
    }
    const char *dkim_domains[DKIM_VERIFY_MAX_SIGS], *dkim_temp[DKIM_VERIFY_MAX_SIGS];
    size_t nd = 0, nt = 0;
    for (int i = 0; dk && i < dkim_verify_count(dk) && i < DKIM_VERIFY_MAX_SIGS; i++) {
        const struct dkim_sig_info *si = dkim_verify_info(dk, i);
        if (si->result == DKIM_PASS)
            dkim_domains[nd++] = si->d;
        else if (si->result == DKIM_TEMPERROR)
            dkim_temp[nt++] = si->d;
    }
    dmarc_auth auth = {
        .spf_pass = spf && spf_get_result(spf) == SPF_RES_PASS,
        .spf_domain = spf ? spf_get_domain(spf) : "",
        .dkim_domains = dkim_domains,
        .n_dkim = nd,
        .spf_temperror = spf && spf_get_result(spf) == SPF_RES_TEMPERROR,
        .dkim_temp_domains = dkim_temp,
        .n_dkim_temp = nt,
    };
    dmarc_evaluate(d, &auth);
    return d;
}

/* Received-SPF is one long line as formatted; a sender and a HELO near
 * their limits make it pass RFC 5322's 998 octets. It is folded between its
 * key=value pairs (the FWS RFC 7208 §9.1 allows there) to keep lines near
 * VERIFIER_FOLD_AT; a single pair is never split. */
static void verifier_fold(struct sbuf *h, const char *line)
{
    size_t col = 0;
    int quoted = 0, depth = 0;
    for (const char *p = line; *p; p++) {
        char c = *p;
        if (quoted) {
            if (c == '\\' && p[1]) {
                sbuf_add(h, p++, 1);
                col++;
                c = *p;
            } else if (c == '"') {
                quoted = 0;
            }
        } else if (c == '"') {
            quoted = 1;
        } else if (c == '\\' && depth && p[1]) {
            sbuf_add(h, p++, 1);
            col++;
            c = *p;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && depth) {
            depth--;
        } else if (c == ' ' && !depth && p > line && p[-1] == ';') {
            size_t next = strcspn(p + 1, ";");
            if (col + 1 + next + 1 > VERIFIER_FOLD_AT) {
                sbuf_adds(h, "\r\n\t");
                col = 1;
                continue;
            }
        }
        sbuf_add(h, &c, 1);
        col++;
    }
}

/* name with A-labels into out (which may be name itself) when it has
 * U-labels and converts; otherwise name as it is: a name that does not
 * convert is looked up as sent and finds nothing, a degraded result. */
static const char *verifier_ascii(const char *name, char *out, size_t outlen)
{
    char tmp[VERIFIER_DOMAIN_MAX];
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p >= 0x80) {
            if (verifier_alabels(name, tmp, sizeof tmp) < 0 || strlen(tmp) >= outlen)
                break;
            memmove(out, tmp, strlen(tmp) + 1);
            return out;
        }
    if (out != name)
        snprintf(out, outlen, "%s", name);
    return out;
}

/* The HELO name and the MAIL FROM domain as DNS wants them (RFC 8616 §4). */
static void verifier_dns_names(struct verifier_job *j)
{
    verifier_ascii(j->helo, j->dns_helo, sizeof j->dns_helo);
    const char *at = strrchr(j->from, '@');
    char dom[VERIFIER_DOMAIN_MAX];
    if (!at || strlen(at + 1) >= sizeof dom) {
        snprintf(j->dns_from, sizeof j->dns_from, "%s", j->from);
        return;
    }
    verifier_ascii(at + 1, dom, sizeof dom);
    snprintf(j->dns_from, sizeof j->dns_from, "%.*s@%s", (int)(at - j->from), j->from, dom);
}

static void verifier_work_cb(uv_work_t *w)
{
    struct verifier_job *j = w->data;
    char buf[4096]; /* one header part; values are at most 256 octets, quoted-pairs double them */
    struct sbuf h;
    sbuf_init(&h, 0);
    dnsq *q = dnsq_new(j->v->nameserver, (int)j->v->dns_timeout_ms);
    verifier_dns_names(j);
    spf_ctx *spf = q ? verifier_spf(q, j, j->dns_from) : NULL;
    spf_ctx *spf_helo = q && j->from[0] ? verifier_spf(q, j, NULL) : NULL;
    struct dkim_verify *dk = q ? verifier_dkim(q, j) : NULL;
    /* Every author domain is checked (from.c); the message has as much
     * DMARC protection as its strictest author domain. */
    char doms[VERIFIER_FROM_DOMAINS_MAX + 1][VERIFIER_DOMAIN_MAX];
    int naddr, ndm = verifier_from_domains(j->msg, j->len, doms, VERIFIER_FROM_DOMAINS_MAX + 1, &naddr);
    int too_many = ndm > VERIFIER_FROM_DOMAINS_MAX;
    if (too_many)
        ndm = 0; /* checking some would let the forged one hide behind the others */
    dmarc_ctx *dm[VERIFIER_FROM_DOMAINS_MAX] = {0};
    for (int i = 0; q && i < ndm; i++)
        dm[i] = verifier_dmarc(q, j, spf, dk, verifier_ascii(doms[i], doms[i], sizeof doms[i]));
    const char *worst = too_many ? "permerror" : ndm ? NULL : "none";

    if (spf) {
        if (spf_format_received(spf, buf, sizeof buf) < sizeof buf) { /* never a cut-off field */
            verifier_fold(&h, buf);
            sbuf_adds(&h, "\r\n");
        }
    }
    sbuf_printf(&h, "Authentication-Results: %s", j->v->authserv_id);
    if (spf) {
        spf_format_authres(spf, buf, sizeof buf);
        sbuf_printf(&h, ";\r\n\t%s", buf);
    } else {
        /* Only when the resolver could not even be set up. */
        sbuf_printf(&h, ";\r\n\tspf=temperror (resolver unavailable)");
    }
    if (spf_helo) {
        spf_format_authres(spf_helo, buf, sizeof buf);
        sbuf_printf(&h, ";\r\n\t%s", buf);
    }
    int ndk = dk ? dkim_verify_count(dk) : 0;
    for (int i = 0; i < ndk; i++) {
        dkim_verify_ar(dk, i, buf, sizeof buf);
        sbuf_printf(&h, ";\r\n\t%s", buf);
    }
    if (ndk == 0)
        sbuf_printf(&h, ";\r\n\tdkim=none");
    for (int i = 0; i < ndm; i++) {
        if (!dm[i]) {
            sbuf_printf(&h, ";\r\n\tdmarc=temperror (not checked)");
            worst = worst ? worst : "temperror";
            continue;
        }
        dmarc_format_authres(dm[i], buf, sizeof buf);
        sbuf_printf(&h, ";\r\n\t%s", buf);
        dmarc_result r = dmarc_get_result(dm[i]);
        if (!worst || r == DMARC_FAIL)
            worst = dmarc_result_str(r);
        if (j->v->dmarc_reject && r == DMARC_FAIL && dmarc_get_disposition(dm[i]) == DMARC_P_REJECT)
            j->reject = "550 5.7.1 Message rejected: DMARC policy of the From domain says reject";
    }
    if (too_many) {
        sbuf_printf(&h, ";\r\n\tdmarc=permerror (more than %d author domains)", VERIFIER_FROM_DOMAINS_MAX);
        if (j->v->dmarc_reject) /* RFC 5322 allows one From: this is a message built to evade */
            j->reject = "550 5.7.1 Message rejected: too many author domains in From to check DMARC";
    } else if (ndm == 0) {
        sbuf_printf(&h, ";\r\n\tdmarc=none%s", naddr ? " (no usable From domain)" : " (no From address)");
    }
    sbuf_adds(&h, "\r\n");
    snprintf(j->log_spf, sizeof j->log_spf, "%s", spf ? spf_result_str(spf_get_result(spf)) : "temperror");
    snprintf(j->log_dkim, sizeof j->log_dkim, "%s",
             ndk ? dkim_result_str(dkim_verify_info(dk, 0)->result) : "none");
    snprintf(j->log_dmarc, sizeof j->log_dmarc, "%s", worst);
    j->headers = sbuf_steal(&h, NULL);
    spf_free(spf);
    spf_free(spf_helo);
    if (dk)
        dkim_verify_free(dk);
    for (int i = 0; i < ndm; i++)
        dmarc_free(dm[i]);
    if (q)
        dnsq_free(q);
}

static void verifier_after_cb(uv_work_t *w, int status)
{
    struct verifier_job *j = w->data;
    log_info("verifier.checked", "id=%s client=%s from=<%s> spf=%s dkim=%s dmarc=%s%s", j->id, j->ip, j->from,
             j->log_spf, j->log_dkim, j->log_dmarc, j->reject ? " action=reject" : "");
    char label[48];
    snprintf(label, sizeof label, "spf=\"%s\",dmarc=\"%s\"", j->log_spf, j->log_dmarc);
    metrics_inc("envoi_verifier_results_total", label);
    if (j->reject) {
        hop_transform_done(j->txn, NULL, 0, j->reject);
    } else {
        size_t outlen;
        char *out = hdr_filter(j->msg, j->len, j->headers, verifier_strip_cb, j->v, &outlen);
        /* Our results are trace fields of this hop: above its Received: */
        hop_transform_done_above(j->txn, out, outlen, out ? strlen(j->headers) : 0, NULL);
    }
    free(j->headers);
    free(j->msg);
    free(j);
}

static void verifier_transform(void *arg, struct hop_txn *txn, const struct hop_info *info, const char *msg,
                               size_t len)
{
    struct verifier *v = arg;
    struct verifier_job *j = calloc(1, sizeof *j);
    /* The worker gets its own copy: the session may end while it runs. */
    char *copy = j ? malloc(len + 1) : NULL;
    if (!copy) {
        free(j);
        hop_transform_done(txn, NULL, 0, "451 4.3.0 Out of memory, try again later");
        return;
    }
    memcpy(copy, msg, len);
    copy[len] = '\0';
    *j = (struct verifier_job){.v = v, .txn = txn, .msg = copy, .len = len};
    snprintf(j->ip, sizeof j->ip, "%s", info->client_ip);
    snprintf(j->helo, sizeof j->helo, "%s", info->helo);
    snprintf(j->from, sizeof j->from, "%s", info->mail_from);
    snprintf(j->id, sizeof j->id, "%s", info->session_id);
    j->deadline_ns = uv_hrtime() + (uint64_t)v->check_ms * 1000000;
    j->work.data = j;
    if (uv_queue_work(v->loop, &j->work, verifier_work_cb, verifier_after_cb) < 0) {
        free(copy);
        free(j);
        hop_transform_done(txn, NULL, 0, "451 4.3.0 Cannot check the message now, try again later");
    }
}

void verifier_stop_cb(void *arg)
{
    struct verifier *v = arg;
    atomic_store(&v->stopping, 1); /* running checks stop asking (their clients got 421) */
}

const struct hop_ops verifier_ops = {
    .check_rcpt = verifier_check_rcpt,
    .transform = verifier_transform,
};
