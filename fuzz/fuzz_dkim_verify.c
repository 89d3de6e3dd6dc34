/* Fuzz target: a whole message through verification (with a fixed Ed25519
 * key record and a fixed RSA one) and through signing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"

/* RFC 8032 7.1 test 1 seed and the RFC 8463 key records. */
static const char seed[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
static const char ed_txt[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rsa_txt[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6w"
    "y5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5Qj"
    "vHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dkim_key *key;
    char err[128];
    if (!key && !(key = dkim_key_load(seed, strlen(seed), err, sizeof err)))
        abort();
    const char *msg = (const char *)data;
    struct dkim_verify *v = dkim_verify_begin(msg, size, 1600000000);
    if (!v)
        return 0;
    for (int i = 0; i < dkim_verify_count(v); i++) {
        const char *q = dkim_verify_query(v, i);
        const char *txt = (q && strstr(q, "brisbane")) ? ed_txt : rsa_txt;
        enum dkim_result r = dkim_verify_key(v, i, txt, strlen(txt), DKIM_DNS_OK);
        if (r == DKIM_PENDING || r == DKIM_NONE)
            abort(); /* a key given always ends the signature */
        char ar[1024];
        dkim_verify_ar(v, i, ar, sizeof ar);
    }
    dkim_verify_free(v);
    struct dkim_signer s = {.domain = "example.test", .selector = "brisbane", .key = key};
    const struct dkim_signer *list[1] = {&s};
    char *h = dkim_sign_message(list, 1, msg, size, 1600000000, err, sizeof err);
    free(h);
    return 0;
}
