/* spf: Sender Policy Framework (RFC 7208) evaluator, without any I/O.
 *
 * The evaluator is a resumable state machine so that the same code serves
 * the verifier (async DNS on libuv) and the CLI (blocking DNS):
 *
 *     spf_ctx *c = spf_new();
 *     spf_begin(c, "192.0.2.1", "user@example.test", "mx.example.test", "us.test");
 *     while (spf_step(c) == SPF_NEED_DNS) {
 *         ... resolve spf_query_name(c) / spf_query_type(c) ...
 *         spf_answer(c, rcode, records, n);
 *     }
 *     spf_result r = spf_get_result(c);
 *
 * Every query the evaluator makes is answered exactly once; answers are
 * cached inside the context, so the caller needs no cache of its own. */
#ifndef ENVOI_SPF_H
#define ENVOI_SPF_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SPF_RES_NONE,
    SPF_RES_NEUTRAL,
    SPF_RES_PASS,
    SPF_RES_FAIL,
    SPF_RES_SOFTFAIL,
    SPF_RES_TEMPERROR,
    SPF_RES_PERMERROR,
} spf_result;

typedef enum { SPF_DONE = 0, SPF_NEED_DNS = 1 } spf_status;

/* DNS record types the evaluator asks for (the DNS type numbers). */
enum { SPF_T_A = 1, SPF_T_PTR = 12, SPF_T_MX = 15, SPF_T_TXT = 16, SPF_T_AAAA = 28 };

/* Answer codes: the DNS RCODE (0 NOERROR, 3 NXDOMAIN; any other is an
 * error), or SPF_RCODE_TIMEOUT when no answer came at all. */
enum { SPF_RCODE_NOERROR = 0, SPF_RCODE_SERVFAIL = 2, SPF_RCODE_NXDOMAIN = 3, SPF_RCODE_TIMEOUT = -1 };

/* One answer record. Records of a type other than the query's are ignored,
 * so a resolver may pass its whole answer section (CNAMEs included). */
typedef struct spf_rdata {
    uint16_t type;     /* SPF_T_* of this record */
    uint16_t pref;     /* MX preference */
    uint8_t addr[16];  /* A: 4 bytes, AAAA: 16 bytes */
    const char *data;  /* TXT: its character-strings joined; MX/PTR: target name */
    size_t len;        /* length of data (TXT may hold any byte, even NUL) */
} spf_rdata;

typedef struct spf_ctx spf_ctx;

/* Allocates an evaluation context (NULL on out of memory). */
spf_ctx *spf_new(void);
/* Frees a context and everything it holds; NULL is fine. */
void spf_free(spf_ctx *c);
/* Text used when a fail has no usable exp= (default: a generic sentence). */
void spf_set_default_exp(spf_ctx *c, const char *text);
/* Starts check_host() for one connection. An empty or NULL sender means the
 * null reverse-path: the HELO identity is checked as postmaster@helo; call
 * with sender NULL to check the HELO identity on its own. receiver is our
 * host name (for %{r} and the header). Returns 0, or -1 if ip is not an
 * address (the context then reports permerror). */
int spf_begin(spf_ctx *c, const char *ip, const char *sender, const char *helo,
              const char *receiver);
/* Advances until a DNS answer is needed (SPF_NEED_DNS) or the result is known. */
spf_status spf_step(spf_ctx *c);
/* The pending query (valid after SPF_NEED_DNS until spf_answer). */
const char *spf_query_name(const spf_ctx *c);
int spf_query_type(const spf_ctx *c);
/* Answers the pending query. Returns 0, -1 if no query is pending. */
int spf_answer(spf_ctx *c, int rcode, const spf_rdata *rr, size_t n);
struct dnsq_answer;
/* Answers the pending query with what dnsq (dnsq.h) got: its records, a
 * timeout as SPF_RCODE_TIMEOUT, no memory for the records as SERVFAIL.
 * Returns the rcode given (spf_dnsq.c). */
int spf_answer_dnsq(spf_ctx *c, const struct dnsq_answer *a);

/* Results, valid after SPF_DONE. */
spf_result spf_get_result(const spf_ctx *c);
/* The matching term as written ("ip4:192.0.2.0/24"), or "default". */
const char *spf_get_mechanism(const spf_ctx *c);
/* The explanation (fail only: expanded exp= or the default), else "". */
const char *spf_get_explanation(const spf_ctx *c);
/* Why a permerror/temperror happened, else "". */
const char *spf_get_problem(const spf_ctx *c);
/* The identity checked: "mailfrom" or "helo", and its value. */
const char *spf_get_identity(const spf_ctx *c);
const char *spf_get_sender(const spf_ctx *c);
/* Inputs as normalised by spf_begin: client address in presentation
 * form (IPv4-mapped shown as IPv4), HELO, receiver, sender domain. */
const char *spf_get_ip(const spf_ctx *c);
const char *spf_get_helo(const spf_ctx *c);
const char *spf_get_receiver(const spf_ctx *c);
const char *spf_get_domain(const spf_ctx *c);
/* Number of DNS-querying terms evaluated (for tests and logs). */
int spf_get_lookups(const spf_ctx *c);

/* "pass", "fail", ... as used in headers. */
const char *spf_result_str(spf_result r);

/* Formats a complete `Received-SPF: ...` header line (no CRLF, unfolded)
 * into buf. Returns the length it needed; output truncated if >= sz. */
size_t spf_format_received(const spf_ctx *c, char *buf, size_t sz);
/* Formats the Authentication-Results method part, e.g.
 * `spf=pass smtp.mailfrom=user@example.test`. Same return convention. */
size_t spf_format_authres(const spf_ctx *c, char *buf, size_t sz);

#endif
