/* verifier: the MX. Accepts mail for our domains only, records what the
 * sender proved (SPF, DKIM, DMARC) and passes it on through the hop contract. */
#ifndef ENVOI_VERIFIER_H
#define ENVOI_VERIFIER_H

#include <stdatomic.h>

#include <uv.h>

#include "conf.h"
#include "dmarc.h"
#include "hop.h"

struct verifier {
    uv_loop_t *loop;
    const char *nameserver;        /* --nameserver: resolver for SPF/DKIM/DMARC */
    struct conf_list domains;      /* --recipient-domain: what we accept mail for */
    const char *authserv_id;       /* --authserv-id (default --domain) */
    const char *psl_path;          /* --public-suffix-list */
    int dmarc_reject;              /* --dmarc-reject: p=reject failures get 550 */
    long dns_timeout_ms;
    long check_ms;                 /* the hop's --timeout: later results are thrown away */
    atomic_int stopping;           /* set on shutdown, read by checks on worker threads */
    dmarc_psl *psl;
};

extern const struct hop_ops verifier_ops;
/* daemon_on_shutdown hook: checks still running stop asking DNS. */
void verifier_stop_cb(void *arg);
/* Loads the Public Suffix List and checks flags. 0 or -1 after logging why. */
int verifier_setup(struct verifier *v, const char *domain);
void verifier_free(struct verifier *v);

/* RCPT policy (hop_ops.check_rcpt): NULL to accept, else the refusal. */
const char *verifier_check_rcpt(void *arg, const struct hop_info *info, const char *rcpt);

#define VERIFIER_DOMAIN_MAX 256       /* a domain name and its NUL */
#define VERIFIER_FROM_DOMAINS_MAX 8   /* author domains checked for DMARC; more: permerror */

/* The distinct author domains (lowercase, no trailing dot) of every address
 * in every From: field, at most max of them, in order of appearance; *naddr
 * gets the number of addresses seen. Returns how many domains. (from.c) */
int verifier_from_domains(const char *msg, size_t len, char (*out)[VERIFIER_DOMAIN_MAX], int max, int *naddr);

/* A domain name with every U-label turned into its A-label (Punycode,
 * ASCII lower-cased), for DNS. 0, or -1 if it is not valid UTF-8 or does not
 * fit (out is then unusable). (idn.c) */
int verifier_alabels(const char *in, char *out, size_t outlen);

/* hdr_filter drop callback: 1 for an arriving field that claims to be ours
 * (Authentication-Results or Received-SPF naming our authserv-id, any
 * X-Spamtacus*), which can only be a forgery (strip.c). */
int verifier_strip_cb(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);

#endif
