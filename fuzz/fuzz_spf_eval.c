/* Fuzz: the whole evaluator. Each DNS query consumes the next input line as
 * its answer: "!" NXDOMAIN, "#" timeout, otherwise TXT text, MX/PTR names
 * (space separated), or for A/AAAA one record per word (odd length: the
 * client's address, even: another one). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"

#define FUZZ_MAX_QUERIES 500
#define FUZZ_MAX_RR 16

static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    if (s >= end) {
        *len = 0;
        return s;
    }
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    *len = nl ? (size_t)(nl - s) : (size_t)(end - s);
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t ip4[4] = {192, 0, 2, 1}, other[4] = {198, 51, 100, 1};
    static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    const char *p = (const char *)data, *end = p + size;
    int v6 = size > 0 && (data[0] & 1);
    spf_ctx *c = spf_new();
    if (!c)
        return 0;
    spf_begin(c, v6 ? "2001:db8::1" : "192.0.2.1", size > 1 && (data[1] & 1) ? "" : "u@fuzz.test",
              "helo.fuzz.test", "rx.test");
    int n = 0;
    while (spf_step(c) == SPF_NEED_DNS && n++ < FUZZ_MAX_QUERIES) {
        size_t len;
        const char *l = next_line(&p, end, &len);
        int type = spf_query_type(c);
        if (len == 1 && (l[0] == '!' || l[0] == '#')) {
            spf_answer(c, l[0] == '!' ? SPF_RCODE_NXDOMAIN : SPF_RCODE_TIMEOUT, NULL, 0);
            continue;
        }
        spf_rdata rr[FUZZ_MAX_RR];
        size_t k = 0;
        memset(rr, 0, sizeof rr);
        if (type == SPF_T_TXT) {
            rr[k].type = SPF_T_TXT, rr[k].data = l, rr[k].len = len, k++;
        } else {
            size_t i = 0;
            while (i < len && k < FUZZ_MAX_RR) {
                size_t st = i;
                while (i < len && l[i] != ' ')
                    i++;
                rr[k].type = (uint16_t)type;
                rr[k].data = l + st;
                rr[k].len = i - st;
                int mine = (i - st) & 1;
                if (type == SPF_T_AAAA)
                    memcpy(rr[k].addr, ip6, 16), rr[k].addr[15] = (uint8_t)(mine ? 1 : 2);
                else
                    memcpy(rr[k].addr, mine ? ip4 : other, 4);
                k++;
                i++;
            }
        }
        spf_answer(c, SPF_RCODE_NOERROR, rr, k);
    }
    char buf[512];
    spf_format_received(c, buf, sizeof buf);
    spf_format_authres(c, buf, sizeof buf);
    if (strlen(spf_result_str(spf_get_result(c))) == 0)
        abort();
    spf_free(c);
    return 0;
}
