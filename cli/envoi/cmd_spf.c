/* envoi spf: operator tools over the SPF and DMARC libraries, with blocking DNS.
 *   check       one SPF check_host(), printed the way spfquery does (result word first)
 *   dmarc       DMARC policy discovery and evaluation for a From domain
 *   org-domain  organizational domains from the Public Suffix List */
#include "cmds.h"
#include "dmarc.h"
#include "dnsq.h"
#include "spf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPF_CLI_TIMEOUT_MS 3000 /* per try; the RFC asks for >= 20 s in total */
#define SPF_CLI_MAX_QUERIES 400 /* far above what the limits allow; a safety stop */
#define SPF_CLI_HDR_MAX 4096
#define DMARC_CLI_DKIM_MAX 16   /* --dkim-domain may be repeated this often */

static void usage(void)
{
    fprintf(stderr,
            "usage: envoi spf check --ip IP --sender ADDR --helo NAME\n"
            "                       [--nameserver HOST[:PORT]] [--receiver NAME]\n"
            "                       [--timeout MS] [--default-explanation TEXT] [--verbose]\n"
            "An empty --sender checks the HELO identity (postmaster@HELO).\n"
            "       envoi spf dmarc --from DOMAIN [--spf-domain D] [--dkim-domain D]...\n"
            "                       [--nameserver HOST[:PORT]] [--psl FILE] [--timeout MS]\n"
            "--spf-domain: the domain SPF passed for; --dkim-domain: d= of a valid signature.\n"
            "       envoi spf org-domain [--psl FILE] DOMAIN...\n");
}

static const char *type_name(int t)
{
    switch (t) {
    case SPF_T_A: return "A";
    case SPF_T_AAAA: return "AAAA";
    case SPF_T_MX: return "MX";
    case SPF_T_PTR: return "PTR";
    case SPF_T_TXT: return "TXT";
    }
    return "?";
}

/* Answers the evaluator's pending query from DNS. */
static void resolve(dnsq *dq, spf_ctx *c, int verbose)
{
    const char *name = spf_query_name(c);
    int type = spf_query_type(c);
    dnsq_answer a;
    dnsq_query(dq, name, (uint16_t)type, &a);
    int rcode = spf_answer_dnsq(c, &a);
    if (verbose)
        fprintf(stderr, "dns %s %s rcode=%d records=%zu\n", type_name(type), name, rcode, a.n);
    dnsq_answer_free(&a);
}

static int spf_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ip", required_argument, NULL, 'i'},
        {"sender", required_argument, NULL, 's'},
        {"helo", required_argument, NULL, 'h'},
        {"nameserver", required_argument, NULL, 'n'},
        {"receiver", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"default-explanation", required_argument, NULL, 'e'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *ip = NULL, *sender = NULL, *helo = "", *ns = NULL, *receiver = "";
    const char *dexp = NULL;
    int timeout = SPF_CLI_TIMEOUT_MS, verbose = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'i': ip = optarg; break;
        case 's': sender = optarg; break;
        case 'h': helo = optarg; break;
        case 'n': ns = optarg; break;
        case 'r': receiver = optarg; break;
        case 't': timeout = atoi(optarg); break;
        case 'e': dexp = optarg; break;
        case 'v': verbose = 1; break;
        default: usage(); return 2;
        }
    }
    if (!ip || !sender || optind != argc || timeout <= 0) {
        usage();
        return 2;
    }
    dnsq *dq = dnsq_new(ns, timeout);
    if (!dq) {
        fprintf(stderr, "envoi spf: cannot use nameserver %s\n", ns ? ns : "(resolv.conf)");
        return 2;
    }
    spf_ctx *c = spf_new();
    if (!c) {
        dnsq_free(dq);
        return 2;
    }
    if (dexp)
        spf_set_default_exp(c, dexp);
    if (spf_begin(c, ip, sender, helo, receiver) != 0) {
        fprintf(stderr, "envoi spf: --ip %s is not an IPv4 or IPv6 address\n", ip);
        spf_free(c);
        dnsq_free(dq);
        return 2;
    }
    int queries = 0;
    while (spf_step(c) == SPF_NEED_DNS) {
        if (++queries > SPF_CLI_MAX_QUERIES) {
            spf_answer(c, SPF_RCODE_SERVFAIL, NULL, 0);
            continue;
        }
        resolve(dq, c, verbose);
    }
    char hdr[SPF_CLI_HDR_MAX], ar[SPF_CLI_HDR_MAX];
    spf_format_received(c, hdr, sizeof hdr);
    spf_format_authres(c, ar, sizeof ar);
    printf("%s\n", spf_result_str(spf_get_result(c)));
    printf("explanation: %s\n", spf_get_explanation(c));
    printf("mechanism: %s\n", spf_get_mechanism(c));
    printf("problem: %s\n", spf_get_problem(c));
    printf("lookups: %d\n", spf_get_lookups(c));
    printf("%s\n", hdr);
    printf("Authentication-Results: %s; %s\n", *receiver ? receiver : "unknown", ar);
    spf_free(c);
    dnsq_free(dq);
    return 0;
}

static int spf_dmarc(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"spf-domain", required_argument, NULL, 's'},
        {"dkim-domain", required_argument, NULL, 'd'},
        {"nameserver", required_argument, NULL, 'n'},
        {"psl", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *spf_dom = NULL, *ns = NULL, *psl_path = NULL;
    const char *dkim[DMARC_CLI_DKIM_MAX];
    size_t ndkim = 0;
    int timeout = SPF_CLI_TIMEOUT_MS, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': from = optarg; break;
        case 's': spf_dom = optarg; break;
        case 'd':
            if (ndkim < DMARC_CLI_DKIM_MAX)
                dkim[ndkim++] = optarg;
            break;
        case 'n': ns = optarg; break;
        case 'p': psl_path = optarg; break;
        case 't': timeout = atoi(optarg); break;
        default: usage(); return 2;
        }
    }
    if (!from || optind != argc || timeout <= 0) {
        usage();
        return 2;
    }
    dnsq *dq = dnsq_new(ns, timeout);
    dmarc_psl *psl = dmarc_psl_load(psl_path);
    dmarc_ctx *d = psl ? dmarc_new(psl) : NULL;
    if (!dq || !d) {
        fprintf(stderr, "envoi spf: cannot start (nameserver %s)\n", ns ? ns : "(resolv.conf)");
        dmarc_free(d), dmarc_psl_free(psl), dnsq_free(dq);
        return 2;
    }
    dmarc_begin(d, from);
    while (dmarc_step(d) == DMARC_NEED_DNS) {
        dnsq_answer a;
        dnsq_query(dq, dmarc_query_name(d), SPF_T_TXT, &a);
        dmarc_txt *t = a.n ? calloc(a.n, sizeof *t) : NULL;
        size_t n = 0;
        for (size_t i = 0; t && i < a.n; i++)
            if (a.rr[i].type == SPF_T_TXT)
                t[n].data = a.rr[i].data, t[n].len = a.rr[i].len, n++;
        dmarc_answer(d, a.rcode == DNSQ_TIMEOUT ? DMARC_RCODE_TIMEOUT : a.rcode, t, n);
        free(t);
        dnsq_answer_free(&a);
    }
    dmarc_auth auth = {.spf_pass = spf_dom != NULL, .spf_domain = spf_dom,
                       .dkim_domains = dkim, .n_dkim = ndkim};
    dmarc_evaluate(d, &auth);
    const dmarc_record *r = dmarc_get_record(d);
    char ar[SPF_CLI_HDR_MAX];
    dmarc_format_authres(d, ar, sizeof ar);
    printf("%s\n", dmarc_result_str(dmarc_get_result(d)));
    printf("org-domain: %s\n", dmarc_get_org(d));
    printf("policy: %s\n", r ? dmarc_policy_str(dmarc_get_policy(d)) : "");
    printf("disposition: %s\n", dmarc_policy_str(dmarc_get_disposition(d)));
    printf("pct: %d\n", r ? r->pct : 0);
    printf("Authentication-Results: %s\n", ar);
    dmarc_free(d);
    dmarc_psl_free(psl);
    dnsq_free(dq);
    return 0;
}

static int spf_org_domain(int argc, char **argv)
{
    const char *psl_path = NULL;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "--psl") == 0)
        psl_path = argv[2], i = 3;
    if (i >= argc) {
        usage();
        return 2;
    }
    dmarc_psl *psl = dmarc_psl_load(psl_path);
    if (!psl)
        return 2;
    for (; i < argc; i++) {
        char org[256];
        if (dmarc_org_domain(psl, argv[i], org, sizeof org) == 0)
            printf("%s: %s\n", argv[i], org);
        else
            printf("%s: (invalid)\n", argv[i]);
    }
    dmarc_psl_free(psl);
    return 0;
}

int cmd_spf(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return spf_check(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "dmarc") == 0)
        return spf_dmarc(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "org-domain") == 0)
        return spf_org_domain(argc - 1, argv + 1);
    usage();
    return 2;
}
