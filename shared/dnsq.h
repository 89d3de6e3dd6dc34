/* dnsq: a small blocking DNS client over ldns, for command-line tools.
 * UDP first, TCP when the answer is truncated. Daemons use async DNS instead. */
#ifndef ENVOI_DNSQ_H
#define ENVOI_DNSQ_H

#include <stddef.h>
#include <stdint.h>

#define DNSQ_TIMEOUT (-1) /* rcode reported when no usable answer came */

typedef struct dnsq dnsq;

typedef struct dnsq_rr {
    uint16_t type;    /* RR type (1 A, 28 AAAA, 15 MX, 12 PTR, 16 TXT, 5 CNAME...) */
    uint16_t pref;    /* MX preference */
    uint8_t addr[16]; /* A (4 bytes) / AAAA (16 bytes) */
    char *data;       /* TXT: strings joined; MX/PTR/CNAME: name, labels raw, no final dot */
    size_t len;
} dnsq_rr;

typedef struct dnsq_answer {
    int rcode; /* DNS RCODE, or DNSQ_TIMEOUT */
    size_t n;
    dnsq_rr *rr; /* the answer section */
} dnsq_answer;

/* Opens a resolver: server "HOST", "HOST:PORT" or "[V6]:PORT"; NULL uses
 * /etc/resolv.conf. timeout_ms bounds each try (two tries). NULL on error. */
dnsq *dnsq_new(const char *server, int timeout_ms);
void dnsq_free(dnsq *q);
/* Queries name (text, labels split on '.', any other byte taken literally)
 * for type. Always fills *out (free with dnsq_answer_free). Returns 0, or
 * -1 if the name cannot be put in a query (reported as rcode FORMERR 1). */
int dnsq_query(dnsq *q, const char *name, uint16_t type, dnsq_answer *out);
void dnsq_answer_free(dnsq_answer *a);
/* Decodes a DNS response message (wire form) into *out the way dnsq_query
 * does. Returns 0, or -1 if ldns cannot parse it (out then says timeout). */
int dnsq_answer_from_wire(const uint8_t *wire, size_t len, dnsq_answer *out);

#endif
