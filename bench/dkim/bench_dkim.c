/* bench_dkim: in-process DKIM signing and verification throughput over a set
 * of messages, through the same library calls the signer and verifier make.
 *
 *   bench_dkim SECONDS KEY.pem[,KEY2.pem] MSG...
 *
 * Prints one line per measurement:
 *   sign keys=<alg[+alg]> messages=<n> seconds=<s> per_sec=<rate> mb_per_sec=<rate>
 *   verify ... (each signature checked with its key record, no DNS) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"

#define BENCH_MAX_MSGS 10000

struct msg {
    char *p;
    size_t n;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)l + 1);
    *n = fread(b, 1, (size_t)l, f);
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_dkim SECONDS KEY.pem[,KEY2.pem] MSG...\n");
        return 2;
    }
    double secs = atof(argv[1]);
    char err[160], *names = strdup(argv[2]);
    struct dkim_key *keys[2] = {NULL, NULL};
    struct dkim_signer sg[2] = {{0}, {0}};
    const struct dkim_signer *list[2] = {&sg[0], &sg[1]};
    char *txt[2] = {NULL, NULL};
    int nk = 0;
    for (char *k = strtok(names, ","); k && nk < 2; k = strtok(NULL, ","), nk++) {
        if (!(keys[nk] = dkim_key_load_file(k, err, sizeof err))) {
            fprintf(stderr, "%s: %s\n", k, err);
            return 2;
        }
        sg[nk] = (struct dkim_signer){.domain = "example.test", .selector = nk ? "s2" : "s1", .key = keys[nk]};
        txt[nk] = dkim_key_txt(keys[nk]);
    }
    static struct msg m[BENCH_MAX_MSGS];
    int nm = 0;
    size_t bytes = 0;
    for (int i = 3; i < argc && nm < BENCH_MAX_MSGS; i++) {
        if ((m[nm].p = slurp(argv[i], &m[nm].n))) {
            bytes += m[nm].n;
            nm++;
        }
    }
    char label[64];
    snprintf(label, sizeof label, "%s%s%s",
             dkim_key_alg(keys[0]) == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256",
             nk > 1 ? "+" : "",
             nk > 1 ? (dkim_key_alg(keys[1]) == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256") : "");

    /* Signing: whole passes over the message set until the time is up. */
    long done = 0;
    double t0 = now_s(), t;
    size_t done_bytes = 0;
    char **signed_msgs = calloc((size_t)nm, sizeof *signed_msgs);
    do {
        for (int i = 0; i < nm; i++) {
            char *h = dkim_sign_message(list, nk, m[i].p, m[i].n, time(NULL), err, sizeof err);
            if (!h) {
                fprintf(stderr, "message %d not signed: %s\n", i, err);
                return 1;
            }
            if (!signed_msgs[i]) { /* keep one signed copy for the verify pass */
                size_t hl = strlen(h);
                signed_msgs[i] = malloc(hl + m[i].n + 1);
                memcpy(signed_msgs[i], h, hl);
                memcpy(signed_msgs[i] + hl, m[i].p, m[i].n);
                signed_msgs[i][hl + m[i].n] = 0;
            }
            free(h);
            done++;
            done_bytes += m[i].n;
        }
        t = now_s() - t0;
    } while (t < secs);
    printf("sign keys=%s messages=%ld seconds=%.2f per_sec=%.1f mb_per_sec=%.2f\n", label, done, t,
           done / t, done_bytes / t / 1e6);

    /* Verification: every signature of every message with its key record. */
    long sigs = 0, pass = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < nm; i++) {
            size_t n = strlen(signed_msgs[i]);
            struct dkim_verify *v = dkim_verify_begin(signed_msgs[i], n, time(NULL));
            for (int k = 0; k < dkim_verify_count(v); k++) {
                const char *q = dkim_verify_query(v, k);
                const char *tx = q && !strncmp(q, "s2.", 3) ? txt[1] : txt[0];
                pass += dkim_verify_key(v, k, tx, strlen(tx), DKIM_DNS_OK) == DKIM_PASS;
                sigs++;
            }
            dkim_verify_free(v);
        }
        t = now_s() - t0;
    } while (t < secs);
    printf("verify keys=%s signatures=%ld passed=%ld seconds=%.2f per_sec=%.1f\n", label, sigs, pass, t,
           sigs / t);
    for (int i = 0; i < nm; i++) {
        free(m[i].p);
        free(signed_msgs[i]);
    }
    free(signed_msgs);
    free(names);
    for (int i = 0; i < nk; i++) {
        dkim_key_free(keys[i]);
        free(txt[i]);
    }
    return pass == sigs ? 0 : 1;
}
