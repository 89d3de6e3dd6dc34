/* Fuzz: macro expansion (both domain-spec and explanation modes) and the
 * query-name finishing step, with values that are themselves fuzzed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* first line: the local-part (so transformers split fuzzed values) */
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t ll = nl ? (size_t)(nl - s) : 0;
    char *local = malloc(ll + 1);
    if (!local)
        return 0;
    memcpy(local, s, ll);
    local[ll] = '\0';
    if (nl)
        s = nl + 1, size -= ll + 1;
    spf_macro_env env = {
        .s = "user@example.test", .l = local, .o = "example.test", .d = "sub.example.test",
        .h = "helo.example.test", .i = "192.0.2.1", .c = "192.0.2.1", .v = "in-addr",
        .p = "mx.example.test", .r = "rx.test", .t = 1700000000,
    };
    static char out[SPF_EXPAND_MAX];
    for (int mode = 0; mode < 2; mode++) {
        int rc = spf_macro_expand(&env, s, size, mode, out, sizeof out);
        if (rc == SPF_MACRO_OK) {
            if (strlen(out) >= sizeof out)
                abort();
            if (mode == 0 && spf_domain_finish(out) == 0 && strlen(out) > SPF_NAME_MAX)
                abort();
        }
    }
    env.p = NULL;
    spf_macro_expand(&env, s, size, 1, out, sizeof out);
    spf_macro_check(s, size, 0);
    free(local);
    return 0;
}
