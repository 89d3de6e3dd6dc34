/* dns_tsig: TSIG keys (RFC 8945) as the zone repository and the command
 * line give them, and verification/signing on top of ldns's HMAC code.
 *
 * Key file `<zone>._keys`: one DNSKEY-shaped record per line whose algorithm
 * number names the HMAC (157 MD5, 161 SHA1, 162 SHA224, 163 SHA256,
 * 164 SHA384, 165 SHA512) and whose owner carries the rights:
 *     personal._update.envoi.test. DNSKEY 0 3 163 <base64 secret>
 * `name._update.zone` may update, transfer and notify `zone` (and zones
 * below it), `name._transfer.zone` may transfer, `name._notify.zone` may
 * notify. Command line form: NAME:ALG:BASE64 (ALG = SHA256, hmac-sha256, 163). */
#ifndef ENVOI_DNS_TSIG_H
#define ENVOI_DNS_TSIG_H

#include <ldns/ldns.h>
#include <stddef.h>

#define DNS_TSIG_FUDGE 300
#define DNS_TSIG_KEYS_MAX 256

#define DNS_TSIG_RIGHT_UPDATE 1u
#define DNS_TSIG_RIGHT_TRANSFER 2u
#define DNS_TSIG_RIGHT_NOTIFY 4u

struct dns_tsig_key {
    char name[256];   /* absolute, lower case: "personal._update.envoi.test." */
    char alg[32];     /* ldns algorithm name: "hmac-sha256." */
    char secret[256]; /* base64 */
    unsigned rights;  /* DNS_TSIG_RIGHT_* */
    ldns_rdf *zone;   /* the zone the rights apply to (owned) */
};

struct dns_tsig_keys {
    struct dns_tsig_key *v;
    size_t n;
};

/* TSIG verification outcome; the RFC 8945 error codes where one applies. */
enum dns_tsig_status {
    DNS_TSIG_UNSIGNED = -1,
    DNS_TSIG_OK = 0,
    DNS_TSIG_BADSIG = 16,
    DNS_TSIG_BADKEY = 17,
    DNS_TSIG_BADTIME = 18,
};

/* 0 when a message is inconsistent (a record past its end, bytes after the
 * last record, an A/AAAA of the wrong size) or carries more than one TSIG
 * record or one that is not last (RFC 8945 5.1): answer FORMERR. Call it
 * before ldns_wire2pkt, which leaks memory on some such messages. */
int dns_tsig_wire_ok(const uint8_t *wire, size_t len);
/* Parses "NAME:ALG:BASE64". 0, or -1 with a reason. key->zone owned by key. */
int dns_tsig_key_parse(const char *spec, struct dns_tsig_key *key, char *err, size_t errsz);
/* Parses a `_keys` file; appends to keys. Blank lines and ';' comments skipped. */
int dns_tsig_keys_parse(const char *text, size_t len, struct dns_tsig_keys *keys, char *err,
                        size_t errsz);
/* Frees what a parsed key owns and zeroes it. */
void dns_tsig_key_clear(struct dns_tsig_key *key);
/* Frees every key of the set; the set is empty afterwards. */
void dns_tsig_keys_free(struct dns_tsig_keys *keys);
/* The key named name (any case), or NULL. */
const struct dns_tsig_key *dns_tsig_keys_find(const struct dns_tsig_keys *keys, const ldns_rdf *name);
/* 1 if key grants right on zone. */
int dns_tsig_allows(const struct dns_tsig_key *key, unsigned right, const ldns_rdf *zone);

/* Verifies pkt's TSIG (wire is the packet as received). *used gets the key
 * when one was found. Checks the algorithm, MAC and time window. */
enum dns_tsig_status dns_tsig_verify(ldns_pkt *pkt, const uint8_t *wire, size_t len,
                                     const struct dns_tsig_keys *keys,
                                     const struct dns_tsig_key **used);
/* Verifies a response's TSIG against the key the request was signed with
 * and the request's MAC (RFC 8945 5.3). */
enum dns_tsig_status dns_tsig_verify_response(const ldns_pkt *pkt, const uint8_t *wire, size_t len,
                                              const struct dns_tsig_key *key,
                                              const ldns_rdf *request_mac);
/* Signs pkt with key; request_mac is the request's MAC for responses (NULL
 * for requests). timers_only for the 2nd+ message of a multi-message answer. */
int dns_tsig_sign(ldns_pkt *pkt, const struct dns_tsig_key *key, const ldns_rdf *request_mac,
                  int timers_only);
/* The MAC of pkt's TSIG record (borrowed), or NULL. */
const ldns_rdf *dns_tsig_mac(const ldns_pkt *pkt);
/* Puts an unsigned TSIG carrying error into resp (RFC 8945 5.3.2) for a
 * request signed with an unknown key or a bad MAC. */
void dns_tsig_set_error(ldns_pkt *resp, const ldns_pkt *req, enum dns_tsig_status error);

#endif
