/* dmarc: DMARC (RFC 7489) without I/O: record parsing, organizational
 * domains from the Public Suffix List, identifier alignment, policy
 * discovery as a step/answer state machine, and policy evaluation.
 *
 *     dmarc_ctx *d = dmarc_new(psl);
 *     dmarc_begin(d, "example.test");            // RFC5322.From domain
 *     while (dmarc_step(d) == DMARC_NEED_DNS)     // TXT for dmarc_query_name(d)
 *         dmarc_answer(d, rcode, txts, n);
 *     dmarc_evaluate(d, &auth);                   // SPF/DKIM outcomes
 */
#ifndef ENVOI_DMARC_H
#define ENVOI_DMARC_H

#include <stddef.h>

#define DMARC_PSL_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dat"

typedef enum { DMARC_P_UNSET = 0, DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT } dmarc_policy;
typedef enum { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR } dmarc_result;
typedef enum { DMARC_DONE = 0, DMARC_NEED_DNS = 1 } dmarc_status;
/* rcode values for dmarc_answer: the DNS RCODE, or DMARC_RCODE_TIMEOUT */
enum { DMARC_RCODE_NOERROR = 0, DMARC_RCODE_NXDOMAIN = 3, DMARC_RCODE_TIMEOUT = -1 };

typedef struct dmarc_record {
    dmarc_policy p, sp;  /* sp is DMARC_P_UNSET when absent (p applies) */
    int pct;             /* 0..100, default 100 */
    char adkim, aspf;    /* 'r' relaxed (default) or 's' strict */
    int has_rua;
} dmarc_record;

/* 1 if the TXT string starts a DMARC record ("v=DMARC1" then ';', space or end). */
int dmarc_is_record(const char *txt, size_t len);
/* Parses a DMARC record (§6.3). Invalid optional values fall back to their
 * defaults; a missing/invalid p is p=none when rua is present (§6.6.3),
 * otherwise an error. Returns 0, or -1 with *err set. */
int dmarc_record_parse(const char *txt, size_t len, dmarc_record *out, const char **err);

/* --- Public Suffix List ------------------------------------------------- */
typedef struct dmarc_psl dmarc_psl;
/* Loads a PSL file (NULL: DMARC_PSL_DEFAULT). When the file is absent the
 * list is empty, which leaves the "*" rule: the organizational domain is
 * then the last two labels. Returns NULL only on out of memory. */
dmarc_psl *dmarc_psl_load(const char *path);
/* Same from memory (the file's text). */
dmarc_psl *dmarc_psl_load_mem(const char *data, size_t len);
void dmarc_psl_free(dmarc_psl *psl);
/* Number of rules loaded (0 when running on the fallback rule). */
size_t dmarc_psl_rules(const dmarc_psl *psl);
/* Writes the organizational domain (§3.2) of domain, lowercase, without a
 * trailing dot. Returns 0, or -1 if domain is empty/invalid or too long. */
int dmarc_org_domain(const dmarc_psl *psl, const char *domain, char *out, size_t outsz);
/* Identifier alignment (§3.1): strict = same name, relaxed = same
 * organizational domain. mode is 'r' or 's'. Returns 1 if aligned. */
int dmarc_aligned(const dmarc_psl *psl, const char *from_domain, const char *auth_domain,
                  char mode);

/* --- Discovery and evaluation ------------------------------------------ */
typedef struct dmarc_ctx dmarc_ctx;

typedef struct dmarc_txt {
    const char *data; /* one TXT record, strings joined */
    size_t len;
} dmarc_txt;

typedef struct dmarc_auth {
    int spf_pass;                   /* SPF result was pass ... */
    const char *spf_domain;         /* ... for this domain (MAIL FROM, or HELO) */
    const char *const *dkim_domains;/* d= of every signature that verified */
    size_t n_dkim;
    /* Checks that could not finish for now (DNS timeout): when no aligned
     * identifier passed but one of these would have been aligned, the
     * result is temperror, not fail, so no policy is applied to a message
     * that may well pass later. */
    int spf_temperror;              /* SPF for spf_domain ended in temperror */
    const char *const *dkim_temp_domains; /* d= of every signature with result temperror */
    size_t n_dkim_temp;
} dmarc_auth;

/* The context keeps a pointer to psl, which must outlive it. */
dmarc_ctx *dmarc_new(const dmarc_psl *psl);
void dmarc_free(dmarc_ctx *d);
/* Sampling source for pct: returns 0..99. Default: random(). */
void dmarc_set_random(dmarc_ctx *d, int (*rnd)(void *arg), void *arg);
/* Starts policy discovery for the RFC5322.From domain. Returns 0, or -1 if
 * the domain is unusable (the result is then permerror). */
int dmarc_begin(dmarc_ctx *d, const char *from_domain);
/* Advances discovery: DMARC_NEED_DNS (TXT query for dmarc_query_name) or done. */
dmarc_status dmarc_step(dmarc_ctx *d);
const char *dmarc_query_name(const dmarc_ctx *d);
/* Answers the pending TXT query. Returns 0, -1 if nothing is pending. */
int dmarc_answer(dmarc_ctx *d, int rcode, const dmarc_txt *txt, size_t n);
/* After discovery: decides pass/fail and the disposition (§6.6.2, §6.6.4);
 * temperror when only an unfinished aligned check could have passed. */
dmarc_result dmarc_evaluate(dmarc_ctx *d, const dmarc_auth *auth);

dmarc_result dmarc_get_result(const dmarc_ctx *d);
/* The record found (NULL if none). */
const dmarc_record *dmarc_get_record(const dmarc_ctx *d);
/* The policy that applies to this From domain (p, or sp for a subdomain). */
dmarc_policy dmarc_get_policy(const dmarc_ctx *d);
/* What to do with the message: none/quarantine/reject (after pct). */
dmarc_policy dmarc_get_disposition(const dmarc_ctx *d);
const char *dmarc_get_from(const dmarc_ctx *d);
const char *dmarc_get_org(const dmarc_ctx *d);
const char *dmarc_result_str(dmarc_result r);
const char *dmarc_policy_str(dmarc_policy p);
/* `dmarc=pass (p=reject dis=none) header.from=example.test`; returns the
 * length needed (truncated output if >= sz). */
size_t dmarc_format_authres(const dmarc_ctx *d, char *buf, size_t sz);

#endif
