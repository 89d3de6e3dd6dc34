/* spf_int: the SPF record parser and macro expander, shared by the
 * evaluator (spf.c) and exposed for unit tests and fuzzing. Pure functions. */
#ifndef ENVOI_SPF_INT_H
#define ENVOI_SPF_INT_H

#include <stddef.h>
#include <stdint.h>

#define SPF_MAX_TERMS 128       /* a 512-byte record cannot hold more useful terms */
#define SPF_MAX_RECORD 4096     /* longer TXT policies are refused (permerror) */
#define SPF_NAME_MAX 253        /* RFC 1035 text form of a domain, no trailing dot */
#define SPF_EXPAND_MAX 4096     /* bound on any macro expansion */

typedef enum {
    SPF_K_ALL, SPF_K_INCLUDE, SPF_K_A, SPF_K_MX, SPF_K_PTR, SPF_K_IP4, SPF_K_IP6,
    SPF_K_EXISTS, SPF_K_REDIRECT, SPF_K_EXP, SPF_K_UNKNOWN_MOD,
} spf_kind;

typedef struct spf_term {
    uint8_t kind;        /* spf_kind */
    char qual;           /* '+', '-', '~', '?' (mechanisms only) */
    uint16_t toff, tlen; /* the whole term in the record text */
    uint16_t aoff, alen; /* domain-spec / macro-string argument; alen 0 = none */
    int16_t cidr4, cidr6;/* prefix lengths; defaults 32 and 128 */
    uint8_t ip[16];      /* ip4 (first 4 bytes) / ip6 network */
} spf_term;

typedef struct spf_record {
    const char *text;    /* not owned; terms point into it */
    size_t len;
    int nterms;
    int redirect, exp;   /* term index or -1 */
    spf_term terms[SPF_MAX_TERMS];
} spf_record;

/* 1 if the TXT string is an SPF record: "v=spf1" (any case) then space or end. */
int spf_is_record(const char *txt, size_t len);
/* Parses and fully syntax-checks an SPF record (RFC 7208 §4.6, §5, §6, §7.1).
 * Returns 0, or -1 with *err set to a static reason (-> permerror). */
int spf_record_parse(const char *txt, size_t len, spf_record *out, const char **err);

/* Checks macro-string syntax; exp_mode allows c/r/t and spaces. Returns 0 or -1. */
int spf_macro_check(const char *s, size_t n, int exp_mode);
/* Checks a domain-spec: macro-string ending in a macro-expand or "." toplabel. */
int spf_domain_spec_check(const char *s, size_t n);
/* Parses a dotted quad without leading zeros into 4 bytes. Returns 0 or -1. */
int spf_parse_ip4(const char *s, size_t n, uint8_t out[4]);
/* Parses a CIDR length (no leading zeros, <= max). Returns it or -1. */
int spf_parse_cidr(const char *s, size_t n, int max);
/* 1 if a and b (16-byte or 4-byte per len) share the first bits bits. */
int spf_ip_match(const uint8_t *a, const uint8_t *b, int bytes, int bits);

/* The values macros expand to (RFC 7208 §7.3). */
typedef struct spf_macro_env {
    const char *s, *l, *o, *d, *h; /* sender, local-part, sender domain, current domain, HELO */
    const char *i, *c, *v;         /* dotted/nibble IP, presentation IP, "in-addr"/"ip6" */
    const char *p;                 /* validated name; NULL if not yet known */
    const char *r;                 /* receiver */
    long long t;                   /* timestamp */
} spf_macro_env;

enum { SPF_MACRO_OK = 0, SPF_MACRO_NEED_P = 1, SPF_MACRO_SYNTAX = -1, SPF_MACRO_TOOLONG = -2 };

/* Expands a macro-string (§7) into out (NUL-terminated, < SPF_EXPAND_MAX).
 * Returns SPF_MACRO_OK, SPF_MACRO_NEED_P when %{p} is needed and env->p is
 * NULL, or a negative error. */
int spf_macro_expand(const spf_macro_env *env, const char *s, size_t n, int exp_mode,
                     char *out, size_t outsz);
/* Turns an expanded domain-spec into a query name in place: drops one
 * trailing dot and cuts labels from the left past 253 characters (§7.3).
 * Returns 0, or -1 if the result is not a usable DNS name (empty label,
 * label > 63, empty). */
int spf_domain_finish(char *name);

#endif
