/* envoi dkim: keygen / sign / verify from the command line, thin I/O around
 * shared/dkim.h (the library does all the DKIM work). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "cmds.h"
#include "dkim.h"

#define DKIM_CLI_MSG_MAX (64u << 20) /* a message larger than this is refused */
#define DKIM_CLI_TXT_MAX 8192        /* one key record */
#define DKIM_CLI_TXT_CHUNK 250       /* TXT character-strings are at most 255 bytes */
#define DKIM_CLI_DNS_TIMEOUT 3       /* seconds per query */

static void usage(void)
{
    fprintf(stderr,
            "usage: envoi dkim keygen --domain D --selector S [--type rsa|ed25519] [--bits N] -o FILE\n"
            "       envoi dkim sign --domain D --selector S --private-key F\n"
            "                       [--private-key-ed25519 F2 --selector2 S2] [--canon H/B]\n"
            "                       [--expiration SECS] [--time UNIX] < msg > signed\n"
            "       envoi dkim verify [--key-file FILE | --nameserver HOST:PORT] [--time UNIX] < msg\n");
}

/* "--name value" lookup over argv; NULL when absent. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int opts_known(int argc, char **argv, const char *const *known)
{
    for (int i = 2; i < argc; i += 2) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(argv[i], *k);
        if (!ok || i + 1 >= argc) {
            fprintf(stderr, "envoi dkim %s: bad or incomplete option %s\n", argv[1], argv[i]);
            return 0;
        }
    }
    return 1;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            if (cap >= DKIM_CLI_MSG_MAX) {
                free(b);
                return NULL;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    *len = n;
    return b;
}

/* Bare LF -> CRLF (what SMTP transport does to a message anyway). */
static char *to_crlf(const char *m, size_t n, size_t *out)
{
    char *r = malloc(2 * n + 1);
    size_t o = 0;
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
            r[o++] = '\r';
        r[o++] = m[i];
    }
    *out = o;
    return r;
}

static int keygen(int argc, char **argv)
{
    static const char *const known[] = {"--domain", "--selector", "--type", "--bits", "-o", NULL};
    const char *d = opt(argc, argv, "--domain"), *s = opt(argc, argv, "--selector");
    const char *type = opt(argc, argv, "--type"), *bits = opt(argc, argv, "--bits");
    const char *out = opt(argc, argv, "-o");
    char err[160];
    if (!opts_known(argc, argv, known) || !d || !s || !out) {
        usage();
        return 2;
    }
    enum dkim_alg alg = DKIM_ALG_RSA_SHA256;
    if (type && !strcmp(type, "ed25519"))
        alg = DKIM_ALG_ED25519_SHA256;
    else if (type && strcmp(type, "rsa")) {
        fprintf(stderr, "envoi dkim keygen: --type is rsa or ed25519\n");
        return 2;
    }
    struct dkim_key *k = dkim_key_generate(alg, bits ? atoi(bits) : 0, err, sizeof err);
    if (!k) {
        fprintf(stderr, "envoi dkim keygen: %s\n", err);
        return 2;
    }
    char *pem = dkim_key_pem(k), *txt = dkim_key_txt(k);
    dkim_key_free(k);
    /* Never overwrite a key: a replaced key invalidates mail in flight. */
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
    int rc = 0;
    if (!pem || !txt || fd < 0 || write(fd, pem, strlen(pem)) != (ssize_t)strlen(pem)) {
        fprintf(stderr, "envoi dkim keygen: cannot write %s: %s\n", out,
                fd < 0 ? strerror(errno) : "write failed");
        rc = 2;
    } else {
        printf("%s._domainkey.%s. IN TXT (", s, d);
        for (size_t i = 0, n = strlen(txt); i < n; i += DKIM_CLI_TXT_CHUNK)
            printf(" \"%.*s\"", DKIM_CLI_TXT_CHUNK, txt + i);
        printf(" )\n");
    }
    if (fd >= 0)
        close(fd);
    if (pem) {
        sodium_memzero(pem, strlen(pem));
        free(pem);
    }
    free(txt);
    return rc;
}

static int parse_canon(const char *c, struct dkim_signer *sg)
{
    if (!c)
        return 0;
    const char *sl = strchr(c, '/');
    size_t n = sl ? (size_t)(sl - c) : strlen(c);
    const char *b = sl ? sl + 1 : "simple"; /* RFC 6376: c=relaxed means relaxed/simple */
    if ((n != 6 || strncmp(c, "simple", 6)) && (n != 7 || strncmp(c, "relaxed", 7)))
        return -1;
    if (strcmp(b, "simple") && strcmp(b, "relaxed"))
        return -1;
    sg->hcanon = n == 6 ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    sg->bcanon = !strcmp(b, "simple") ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    return 0;
}

static int sign(int argc, char **argv)
{
    static const char *const known[] = {"--domain",     "--selector",  "--private-key",
                                        "--private-key-ed25519", "--private-key2", "--selector2",
                                        "--canon",      "--expiration", "--time",
                                        "--identity",   NULL};
    const char *d = opt(argc, argv, "--domain"), *s = opt(argc, argv, "--selector");
    const char *k1 = opt(argc, argv, "--private-key"), *s2 = opt(argc, argv, "--selector2");
    const char *k2 = opt(argc, argv, "--private-key-ed25519");
    const char *tm = opt(argc, argv, "--time"), *ex = opt(argc, argv, "--expiration");
    char err[160];
    if (!k2)
        k2 = opt(argc, argv, "--private-key2");
    if (!opts_known(argc, argv, known) || !d || !s || !k1 || (k2 && !s2)) {
        usage();
        return 2;
    }
    struct dkim_signer sg[2] = {{0}, {0}};
    const struct dkim_signer *list[2] = {&sg[0], &sg[1]};
    struct dkim_key *key[2] = {NULL, NULL};
    int n = k2 ? 2 : 1, rc = 0;
    for (int i = 0; i < n; i++) {
        if (!(key[i] = dkim_key_load_file(i ? k2 : k1, err, sizeof err))) {
            fprintf(stderr, "envoi dkim sign: %s: %s\n", i ? k2 : k1, err);
            dkim_key_free(key[0]);
            return 2;
        }
        sg[i].domain = d;
        sg[i].selector = i ? s2 : s;
        sg[i].key = key[i];
        sg[i].identity = opt(argc, argv, "--identity");
        sg[i].expire = ex ? atol(ex) : 0;
        if (parse_canon(opt(argc, argv, "--canon"), &sg[i]) != 0) {
            fprintf(stderr, "envoi dkim sign: --canon is simple|relaxed[/simple|relaxed]\n");
            dkim_key_free(key[0]);
            dkim_key_free(key[1]);
            return 2;
        }
    }
    size_t len = 0, clen = 0;
    char *raw = read_all(stdin, &len);
    char *msg = raw ? to_crlf(raw, len, &clen) : NULL;
    if (!msg) {
        fprintf(stderr, "envoi dkim sign: cannot read the message (limit %u bytes)\n",
                DKIM_CLI_MSG_MAX);
        rc = 2;
        goto out;
    }
    time_t now = tm ? (time_t)atoll(tm) : time(NULL);
    char *hdr = dkim_sign_message(list, n, msg, clen, now, err, sizeof err);
    /* Keep the input's line-end convention: a file with plain LF stays so. */
    int lf = !memchr(raw, '\r', len);
    if (!hdr) {
        fprintf(stderr, "envoi dkim sign: message passed unsigned: %s\n", err);
    } else {
        for (const char *p = hdr; *p; p++)
            if (!(lf && *p == '\r'))
                fputc(*p, stdout);
        free(hdr);
    }
    if (lf)
        fwrite(raw, 1, len, stdout);
    else
        fwrite(msg, 1, clen, stdout);
    rc = fflush(stdout) == 0 ? 0 : 2;
out:
    free(raw);
    free(msg);
    dkim_key_free(key[0]);
    dkim_key_free(key[1]);
    return rc;
}

/* --key-file: lines "name record" or zone-file style `name. IN TXT "a" "b"`. */
static enum dkim_dns keyfile_lookup(const char *path, const char *qname, char *txt, size_t txtsz)
{
    FILE *f = fopen(path, "r");
    char line[DKIM_CLI_TXT_MAX];
    size_t ql = strlen(qname);
    enum dkim_dns st = DKIM_DNS_NOTFOUND;
    if (!f)
        return DKIM_DNS_TEMPFAIL;
    while (st == DKIM_DNS_NOTFOUND && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *sp = line + strcspn(line, " \t");
        size_t nl = (size_t)(sp - line);
        if (nl && line[nl - 1] == '.')
            nl--;
        if (nl != ql || strncasecmp(line, qname, ql) || !*sp)
            continue;
        char *r = sp + strspn(sp, " \t");
        char *in = strstr(r, "TXT");
        size_t o = 0;
        if (in && strchr(in, '"')) { /* zone syntax: join the quoted strings */
            for (char *p = in; *p && o + 1 < txtsz; p++) {
                if (*p != '"')
                    continue;
                for (p++; *p && *p != '"' && o + 1 < txtsz; p++)
                    txt[o++] = (*p == '\\' && p[1]) ? *++p : *p;
                if (!*p)
                    break;
            }
        } else {
            o = strlen(r) < txtsz ? strlen(r) : txtsz - 1;
            memcpy(txt, r, o);
        }
        txt[o] = 0;
        st = DKIM_DNS_OK;
    }
    fclose(f);
    return st;
}

static enum dkim_dns dns_lookup(const char *server, const char *qname, char *txt, size_t txtsz)
{
    char host[128];
    const char *colon = strchr(server, ':');
    int port = 53;
    snprintf(host, sizeof host, "%s", server);
    if (server[0] == '[' && (colon = strstr(server, "]:"))) { /* [v6]:port */
        snprintf(host, sizeof host, "%.*s", (int)(colon - server - 1), server + 1);
        port = atoi(colon + 2);
    } else if (colon && !strchr(colon + 1, ':')) { /* v4:port; bare v6 has several */
        host[colon - server] = 0;
        port = atoi(colon + 1);
    }
    ldns_resolver *res = ldns_resolver_new();
    ldns_rdf *ns = ldns_rdf_new_frm_str(strchr(host, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
                                        host);
    ldns_rdf *qn = ldns_dname_new_frm_str(qname);
    enum dkim_dns st = DKIM_DNS_TEMPFAIL;
    if (!res || !ns || !qn)
        goto out;
    ldns_resolver_push_nameserver(res, ns); /* stores a copy */
    ldns_resolver_set_port(res, (uint16_t)port);
    ldns_resolver_set_retry(res, 1);
    struct timeval tv = {DKIM_CLI_DNS_TIMEOUT, 0};
    ldns_resolver_set_timeout(res, tv);
    ldns_pkt *p = ldns_resolver_query(res, qn, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    if (!p)
        goto out;
    if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN) {
        st = DKIM_DNS_NOTFOUND;
    } else if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR) {
        ldns_rr_list *l = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER);
        st = DKIM_DNS_NOTFOUND;
        /* Several TXT records at the name: the first that is a key record
         * wins; if none is, the first goes to the library, which says why. */
        char *first = NULL;
        for (size_t r = 0; l && r < ldns_rr_list_rr_count(l); r++) {
            ldns_rr *rr = ldns_rr_list_rr(l, r);
            size_t o = 0;
            for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
                ldns_rdf *rd = ldns_rr_rdf(rr, i);
                const uint8_t *data = ldns_rdf_data(rd);
                size_t n = ldns_rdf_size(rd) > 0 ? data[0] : 0;
                if (n + 1 > ldns_rdf_size(rd) || o + n >= txtsz)
                    break;
                memcpy(txt + o, data + 1, n);
                o += n;
            }
            txt[o] = 0;
            struct dkim_keyrec kr;
            st = DKIM_DNS_OK;
            if (dkim_keyrec_parse(txt, o, &kr, NULL, 0) == 0)
                break;
            if (!first)
                first = strdup(txt);
            if (r + 1 == ldns_rr_list_rr_count(l) && first)
                snprintf(txt, txtsz, "%s", first);
        }
        free(first);
        ldns_rr_list_deep_free(l);
    }
    ldns_pkt_free(p);
out:
    if (qn)
        ldns_rdf_deep_free(qn);
    if (res)
        ldns_resolver_deep_free(res);
    if (ns)
        ldns_rdf_deep_free(ns);
    return st;
}

static int verify(int argc, char **argv)
{
    static const char *const known[] = {"--key-file", "--nameserver", "--time", NULL};
    const char *kf = opt(argc, argv, "--key-file"), *ns = opt(argc, argv, "--nameserver");
    const char *tm = opt(argc, argv, "--time");
    if (!opts_known(argc, argv, known) || (!kf && !ns)) {
        usage();
        return 2;
    }
    size_t len = 0, clen = 0;
    char *raw = read_all(stdin, &len);
    char *msg = raw ? to_crlf(raw, len, &clen) : NULL;
    free(raw);
    if (!msg) {
        fprintf(stderr, "envoi dkim verify: cannot read the message\n");
        return 2;
    }
    struct dkim_verify *v = dkim_verify_begin(msg, clen, tm ? (time_t)atoll(tm) : time(NULL));
    if (!v) {
        free(msg);
        return 2;
    }
    int pass = 0;
    char line[1024], txt[DKIM_CLI_TXT_MAX];
    for (int i = 0; i < dkim_verify_count(v); i++) {
        const char *q = dkim_verify_query(v, i);
        txt[0] = 0;
        if (q) {
            enum dkim_dns st = kf ? keyfile_lookup(kf, q, txt, sizeof txt)
                                  : dns_lookup(ns, q, txt, sizeof txt);
            dkim_verify_key(v, i, st == DKIM_DNS_OK ? txt : NULL, strlen(txt), st);
        }
        pass += dkim_verify_info(v, i)->result == DKIM_PASS;
        dkim_verify_ar(v, i, line, sizeof line);
        printf("%s\n", line);
    }
    if (dkim_verify_count(v) == 0)
        printf("dkim=none\n");
    dkim_verify_free(v);
    free(msg);
    return pass > 0 ? 0 : 1;
}

int cmd_dkim(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!strcmp(argv[1], "keygen"))
        return keygen(argc, argv);
    if (!strcmp(argv[1], "sign"))
        return sign(argc, argv);
    if (!strcmp(argv[1], "verify"))
        return verify(argc, argv);
    usage();
    return 2;
}
