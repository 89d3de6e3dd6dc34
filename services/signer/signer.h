/* signer: the DKIM signing hop between submission and relay. */
#ifndef ENVOI_SIGNER_H
#define ENVOI_SIGNER_H

#include "conf.h"
#include "dkim.h"
#include "hop.h"

#include <uv.h>

#define SIGNER_KEYS_MAX 4

struct signer {
    struct conf_list selectors;    /* --selector, paired by position with --private-key */
    struct conf_list key_files;    /* --private-key */
    struct conf_list sign_domains; /* --sign-domain: From domains we sign (default --domain) */
    const char *canon;             /* --canonicalization relaxed/relaxed | simple/simple ... */
    long expiration;               /* --expiration seconds, 0: no x= */
    const char *dns_server;        /* --dns-server: the primary, for key publication */
    const char *dns_key;           /* --dns-key NAME:ALG:SECRET */
    const char *zone;              /* --zone: the zone to update (default: the signing domain) */
    int nkeys;
    struct dkim_key *keys[SIGNER_KEYS_MAX];
    struct dkim_signer signers[SIGNER_KEYS_MAX];
    unsigned long signed_count, unsigned_count;
    uv_loop_t *loop;               /* for the signing jobs on the thread pool */
};

extern const struct hop_ops signer_ops;
/* Loads keys and checks flags; -1 after logging why. */
int signer_setup(struct signer *sg, const char *domain);
/* Makes sure <selector>._domainkey.<domain> publishes each key: looks it up and
 * replaces it with a TSIG-signed UPDATE when missing or different. 0 or -1. */
int signer_publish(struct signer *sg);
void signer_free(struct signer *sg);

#endif
