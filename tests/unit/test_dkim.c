/* Unit tests: DKIM signing and verification end to end through the library:
 * RFC 8463 example, round trips for both algorithms and canonicalizations,
 * every single-byte change to a signed part fails, over-signed From, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim.h"

#define NOW 1790000000

#include "rfc8463_msg.h"
static const char rfc8463_rsa_txt[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6w"
    "y5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5Qj"
    "vHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
/* RFC 8032 7.1 test 1 secret key, the private half of RFC 8463's brisbane key. */
static const char rfc8032_seed[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

static const char msg1[] =
    "Received: from a.test by b.test; Sun, 29 Nov 2026 07:00:00 +0000\r\n"
    "From: Alice Example <alice@example.test>\r\n"
    "To: bob@example.test,\r\n"
    "  carol@example.test\r\n"
    "Subject:  Lunch\t at  noon? \r\n"
    "Date: Sun, 29 Nov 2026 07:00:00 +0000\r\n"
    "Message-ID: <m1@example.test>\r\n"
    "List-Id: <lunch.example.test>\r\n"
    "X-Unsigned: yes\r\n"
    "\r\n"
    "Hello  Bob,\r\n"
    "\tsee you   there. \r\n"
    "\r\n"
    "\r\n";

static struct dkim_key *rsa_key, *ed_key;

static int setup(void **state)
{
    char err[128];
    rsa_key = dkim_key_generate(DKIM_ALG_RSA_SHA256, 1024, err, sizeof err);
    ed_key = dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, err, sizeof err);
    return rsa_key && ed_key ? 0 : -1;
}

static int teardown(void **state)
{
    dkim_key_free(rsa_key);
    dkim_key_free(ed_key);
    return 0;
}

/* Verifies msg with one key record for every signature; returns the
 * results of signature 0 and (if any) 1 packed as r0 + 10*r1. */
static int verify_with(const char *msg, size_t len, const char *txt0, const char *txt1)
{
    struct dkim_verify *v = dkim_verify_begin(msg, len, NOW);
    assert_non_null(v);
    int packed = 0;
    for (int i = 0; i < dkim_verify_count(v) && i < 2; i++) {
        const char *txt = i ? txt1 : txt0;
        if (dkim_verify_query(v, i))
            dkim_verify_key(v, i, txt, txt ? strlen(txt) : 0, txt ? DKIM_DNS_OK : DKIM_DNS_NOTFOUND);
        packed += (int)dkim_verify_info(v, i)->result * (i ? 10 : 1);
    }
    dkim_verify_free(v);
    return packed;
}

static char *sign_msg(const struct dkim_key *k, enum dkim_canon hc, enum dkim_canon bc,
                      const char *m, size_t len, size_t *outlen)
{
    struct dkim_signer s = {.domain = "example.test", .selector = "sel", .key = k,
                            .hcanon = hc, .bcanon = bc};
    const struct dkim_signer *list[1] = {&s};
    char err[128];
    char *hdr = dkim_sign_message(list, 1, m, len, NOW, err, sizeof err);
    assert_non_null(hdr);
    size_t hl = strlen(hdr);
    char *out = malloc(hl + len + 1);
    memcpy(out, hdr, hl);
    memcpy(out + hl, m, len);
    out[hl + len] = 0;
    *outlen = hl + len;
    free(hdr);
    return out;
}

static void test_rfc8463_example(void **state)
{
    char err[128];
    struct dkim_key *k = dkim_key_load(rfc8032_seed, strlen(rfc8032_seed), err, sizeof err);
    assert_non_null(k);
    char *txt = dkim_key_txt(k);
    assert_string_equal(txt, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    struct dkim_verify *v = dkim_verify_begin(rfc8463_msg, strlen(rfc8463_msg), NOW);
    assert_int_equal(dkim_verify_count(v), 2);
    assert_string_equal(dkim_verify_query(v, 0), "brisbane._domainkey.football.example.com");
    assert_string_equal(dkim_verify_query(v, 1), "test._domainkey.football.example.com");
    assert_int_equal(dkim_verify_key(v, 0, txt, strlen(txt), DKIM_DNS_OK), DKIM_PASS);
    assert_int_equal(dkim_verify_key(v, 1, rfc8463_rsa_txt, strlen(rfc8463_rsa_txt), DKIM_DNS_OK),
                     DKIM_PASS);
    char ar[512];
    dkim_verify_ar(v, 1, ar, sizeof ar);
    assert_string_equal(ar, "dkim=pass (1024-bit key) header.d=football.example.com header.s=test "
                            "header.i=@football.example.com header.a=rsa-sha256 header.b=icKcLSEZ");
    dkim_verify_free(v);
    /* The wrong key type for a signature is a key error, not a pass. */
    assert_int_equal(verify_with(rfc8463_msg, strlen(rfc8463_msg), rfc8463_rsa_txt, txt),
                     DKIM_PERMERROR + 10 * DKIM_PERMERROR);
    free(txt);
    dkim_key_free(k);
}

static void test_roundtrip_and_byte_flips(void **state)
{
    const struct dkim_key *keys[2] = {ed_key, rsa_key};
    for (int ki = 0; ki < 2; ki++) {
        char *txt = dkim_key_txt(keys[ki]);
        for (int hc = 0; hc < 2; hc++) {
            for (int bc = 0; bc < 2; bc++) {
                size_t len;
                char *s = sign_msg(keys[ki], (enum dkim_canon)hc, (enum dkim_canon)bc, msg1,
                                   strlen(msg1), &len);
                assert_int_equal(verify_with(s, len, txt, NULL), DKIM_PASS);
                /* Lines of the signature field are at most 78 characters. */
                const char *end = strstr(s, "\r\nFrom:");
                for (const char *p = s, *nl; p < end; p = nl + 2) {
                    nl = strstr(p, "\r\n");
                    assert_true(nl - p <= 78);
                }
                size_t sig_end = (size_t)(end + 2 - s);
                size_t x_start = (size_t)(strstr(s, "X-Unsigned:") - s);
                size_t x_end = x_start + strlen("X-Unsigned: yes\r\n");
                size_t rcv_start = (size_t)(strstr(s, "Received:") - s);
                /* Every single-byte change after the signature fails, except
                 * in the fields it does not cover. Ed25519 is cheap enough to
                 * check every byte; RSA every 7th. */
                for (size_t i = sig_end; i < len; i += ki ? 7 : 1) {
                    if ((i >= x_start && i < x_end) || (i >= rcv_start && i < rcv_start + 67))
                        continue;
                    char *m = malloc(len);
                    memcpy(m, s, len);
                    m[i] = (char)(m[i] ^ 1); /* never turns a byte into WSP, CR or LF */
                    int r = verify_with(m, len, txt, NULL);
                    if (r != DKIM_FAIL)
                        fail_msg("alg %d c=%d/%d byte %zu (%02x) gave %s", ki, hc, bc, i,
                                 (unsigned char)s[i], dkim_result_str((enum dkim_result)r));
                    free(m);
                }
                /* Unsigned field changed: still passes. */
                char *m = malloc(len);
                memcpy(m, s, len);
                m[x_start + 12] = 'n';
                assert_int_equal(verify_with(m, len, txt, NULL), DKIM_PASS);
                free(m);
                free(s);
            }
        }
        free(txt);
    }
}

/* A message handed over with bare LF (folded fields included) is signed as
 * it will look after SMTP transport turned every LF into CRLF. */
static void test_bare_lf_input(void **state)
{
    const char *lf = "From: a@example.test\nSubject: folded\n\tover two\nTo: b@x.test\n\nbody\nline  \n\n";
    char crlf[256];
    size_t o = 0;
    for (const char *p = lf; *p; p++) {
        if (*p == '\n')
            crlf[o++] = '\r';
        crlf[o++] = *p;
    }
    char *txt = dkim_key_txt(ed_key);
    for (int c = 0; c < 2; c++) {
        size_t len;
        char *s = sign_msg(ed_key, (enum dkim_canon)c, (enum dkim_canon)c, lf, strlen(lf), &len);
        size_t hl = len - strlen(lf);
        char *m = malloc(hl + o);
        memcpy(m, s, hl);
        memcpy(m + hl, crlf, o);
        assert_int_equal(verify_with(m, hl + o, txt, NULL), DKIM_PASS);
        free(m);
        free(s);
    }
    free(txt);
}

static void test_oversigned_from(void **state)
{
    char *txt = dkim_key_txt(ed_key);
    size_t len;
    char *s = sign_msg(ed_key, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, msg1, strlen(msg1), &len);
    assert_non_null(strstr(s, "h=From:From:To:Subject:Date:Message-ID:List-Id;"));
    /* A second From added anywhere fails. A second To appended below the
     * signed one fails (bottom-up selection picks it); added on top it is
     * outside the signature: only From is over-signed (issue 5). */
    const char *adds[] = {"From: Mallory <m@evil.test>\r\n", "To: eve@evil.test\r\n"};
    for (int a = 0; a < 2; a++) {
        char *hdr_end = strstr(s, "\r\n\r\n") + 2;
        size_t pre = (size_t)(hdr_end - s), al = strlen(adds[a]);
        char *m = malloc(len + al);
        memcpy(m, s, pre);
        memcpy(m + pre, adds[a], al);
        memcpy(m + pre + al, s + pre, len - pre);
        assert_int_equal(verify_with(m, len + al, txt, NULL), DKIM_FAIL);
        memcpy(m, adds[a], al);
        memcpy(m + al, s, len);
        assert_int_equal(verify_with(m, len + al, txt, NULL), a == 0 ? DKIM_FAIL : DKIM_PASS);
        free(m);
    }
    free(s);
    free(txt);
}

static void test_dual_and_results(void **state)
{
    struct dkim_signer a = {.domain = "example.test", .selector = "r", .key = rsa_key, .expire = 3600};
    struct dkim_signer b = {.domain = "example.test", .selector = "e", .key = ed_key};
    const struct dkim_signer *list[2] = {&a, &b};
    char err[128];
    char *hdr = dkim_sign_message(list, 2, msg1, strlen(msg1), NOW, err, sizeof err);
    assert_non_null(hdr);
    assert_non_null(strstr(hdr, "x=1790003600;"));
    assert_null(strstr(hdr, " l="));
    size_t hl = strlen(hdr), len = hl + strlen(msg1);
    char *m = malloc(len + 1);
    memcpy(m, hdr, hl);
    memcpy(m + hl, msg1, strlen(msg1));
    char *rt = dkim_key_txt(rsa_key), *et = dkim_key_txt(ed_key);
    assert_int_equal(verify_with(m, len, rt, et), DKIM_PASS + 10 * DKIM_PASS);
    assert_int_equal(verify_with(m, len, NULL, et), DKIM_PERMERROR + 10 * DKIM_PASS);
    assert_int_equal(verify_with(m, len, "v=DKIM1; p=", et), DKIM_PERMERROR + 10 * DKIM_PASS);
    /* Expired x= (checked at NOW + 2 hours) is neutral. */
    struct dkim_verify *v = dkim_verify_begin(m, len, NOW + 7200);
    assert_int_equal(dkim_verify_info(v, 0)->result, DKIM_NEUTRAL);
    assert_null(dkim_verify_query(v, 0));
    assert_non_null(dkim_verify_query(v, 1));
    assert_int_equal(dkim_verify_key(v, 1, NULL, 0, DKIM_DNS_TEMPFAIL), DKIM_TEMPERROR);
    char ar[512];
    dkim_verify_ar(v, 0, ar, sizeof ar);
    assert_non_null(strstr(ar, "dkim=neutral reason=\"signature expired\" header.d=example.test"));
    dkim_verify_free(v);
    free(rt);
    free(et);
    free(m);
    free(hdr);
}

/* t= ahead of the verifier's clock: up to the allowed drift it passes (clocks
 * differ), beyond it the signature is not used (neutral), as dkimpy refuses it. */
static void test_future_timestamp(void **state)
{
    struct dkim_signer a = {.domain = "example.test", .selector = "e", .key = ed_key};
    const struct dkim_signer *list[1] = {&a};
    char err[128], ar[512], *et = dkim_key_txt(ed_key);
    char *hdr = dkim_sign_message(list, 1, msg1, strlen(msg1), NOW + 3600, err, sizeof err);
    assert_non_null(hdr);
    size_t hl = strlen(hdr), len = hl + strlen(msg1);
    char *m = malloc(len);
    memcpy(m, hdr, hl);
    memcpy(m + hl, msg1, strlen(msg1));
    const time_t at[] = {NOW + 3600, NOW + 3600 - 300, NOW + 3600 - 301, NOW};
    const enum dkim_result want[] = {DKIM_PASS, DKIM_PASS, DKIM_NEUTRAL, DKIM_NEUTRAL};
    for (int i = 0; i < 4; i++) {
        struct dkim_verify *v = dkim_verify_begin(m, len, at[i]);
        if (dkim_verify_query(v, 0))
            dkim_verify_key(v, 0, et, strlen(et), DKIM_DNS_OK);
        assert_int_equal(dkim_verify_info(v, 0)->result, want[i]);
        dkim_verify_ar(v, 0, ar, sizeof ar);
        if (want[i] == DKIM_NEUTRAL) {
            assert_null(dkim_verify_query(v, 0)); /* no DNS for a signature not used */
            assert_non_null(strstr(ar, "dkim=neutral reason=\"signature timestamp in the future\""));
        }
        dkim_verify_free(v);
    }
    free(m);
    free(hdr);
    free(et);
}

static void test_identity_and_strict_keys(void **state)
{
    struct dkim_signer a = {.domain = "example.test", .selector = "e", .key = ed_key,
                            .identity = "news@lists.example.test"};
    const struct dkim_signer *list[1] = {&a};
    char err[128];
    char *hdr = dkim_sign_message(list, 1, msg1, strlen(msg1), NOW, err, sizeof err);
    assert_non_null(hdr);
    assert_non_null(strstr(hdr, "i=news@lists.example.test;"));
    size_t hl = strlen(hdr), len = hl + strlen(msg1);
    char *m = malloc(len);
    memcpy(m, hdr, hl);
    memcpy(m + hl, msg1, strlen(msg1));
    char *et = dkim_key_txt(ed_key);
    char strict[200];
    snprintf(strict, sizeof strict, "v=DKIM1; t=s; k=ed25519; %s", strstr(et, "p="));
    assert_int_equal(verify_with(m, len, et, NULL), DKIM_PASS);
    /* t=s: the i= domain must be d= exactly, a subdomain is refused. */
    assert_int_equal(verify_with(m, len, strict, NULL), DKIM_PERMERROR);
    /* A key that is too long to be a key. */
    char big[2000] = "v=DKIM1; p=";
    memset(big + strlen(big), 'A', 1200);
    assert_int_equal(verify_with(m, len, big, NULL), DKIM_PERMERROR);
    free(et);
    free(m);
    free(hdr);
    /* i= outside d= is refused at signing time (a verifier would not use it). */
    a.identity = "x@other.test";
    assert_null(dkim_sign_message(list, 1, msg1, strlen(msg1), NOW, err, sizeof err));
    assert_string_equal(err, "signer 0: i= is not within d=");
    a.identity = "x@badexample.test";
    assert_null(dkim_sign_message(list, 1, msg1, strlen(msg1), NOW, err, sizeof err));
    a.identity = "@example.test";
    hdr = dkim_sign_message(list, 1, msg1, strlen(msg1), NOW, err, sizeof err);
    assert_non_null(hdr);
    free(hdr);
}

static void test_refusals(void **state)
{
    struct dkim_signer a = {.domain = "example.test", .selector = "r", .key = ed_key};
    const struct dkim_signer *list[1] = {&a};
    char err[128];
    const char *nofrom = "To: x@example.test\r\n\r\nbody\r\n";
    assert_null(dkim_sign_message(list, 1, nofrom, strlen(nofrom), NOW, err, sizeof err));
    assert_string_equal(err, "no From header field");
    a.domain = "bad domain";
    assert_null(dkim_sign_message(list, 1, msg1, strlen(msg1), NOW, err, sizeof err));
    /* Not RFC 5322 (no body separator, a line without colon): signed anyway. */
    a.domain = "example.test";
    const char *odd = "From: a@example.test\r\nnot a header\r\nSubject: x";
    char *h = dkim_sign_message(list, 1, odd, strlen(odd), NOW, err, sizeof err);
    assert_non_null(h);
    free(h);
    /* Unsigned message: no signatures, AR "dkim=none". */
    struct dkim_verify *v = dkim_verify_begin(msg1, strlen(msg1), NOW);
    assert_int_equal(dkim_verify_count(v), 0);
    char ar[64];
    dkim_verify_ar(v, 0, ar, sizeof ar);
    assert_string_equal(ar, "dkim=none");
    dkim_verify_free(v);
    /* Broken signatures are neutral, never pass, never crash. */
    const char *bad[] = {
        "DKIM-Signature: v=1; a=rsa-sha1; d=example.test; s=s; h=from; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=2; a=rsa-sha256; d=example.test; s=s; h=from; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s; h=to; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s; h=from; bh=AA==; b=AA==; i=@other.test\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s; h=from; bh=AA==\r\n",
        "DKIM-Signature: v=1; v=1\r\n",
        "DKIM-Signature: garbage\r\n",
        /* x= before t=, no a=, an unparsable t=, a truncated b= */
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s; h=from; t=1790000000; x=1789999999; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; d=example.test; s=s; h=from; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s; h=from; t=-5; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; a=ed25519-sha256; d=example.test; s=s; h=from; bh=AA==; b=QUJD=\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t bl = strlen(bad[i]), ml = strlen(msg1);
        char *m = malloc(bl + ml);
        memcpy(m, bad[i], bl);
        memcpy(m + bl, msg1, ml);
        assert_int_equal(verify_with(m, bl + ml, "v=DKIM1; p=AAAA", NULL), DKIM_NEUTRAL);
        free(m);
    }
}

/* Values from the signature are quoted in Authentication-Results when they
 * are not tokens, so a crafted d= cannot add properties of its own. */
static void test_ar_quoting(void **state)
{
    const char *sig = "DKIM-Signature: v=1; a=rsa-sha256; d=x.test\"dkim=pass; s=a(b); "
                      "h=from; bh=AA==; b=AA==\r\n";
    size_t sl = strlen(sig), ml = strlen(msg1);
    char *m = malloc(sl + ml);
    memcpy(m, sig, sl);
    memcpy(m + sl, msg1, ml);
    struct dkim_verify *v = dkim_verify_begin(m, sl + ml, NOW);
    char ar[512];
    dkim_verify_ar(v, 0, ar, sizeof ar);
    assert_string_equal(ar, "dkim=neutral reason=\"b= or bh= is not valid base64\" "
                            "header.d=\"x.test\\\"dkim=pass\" header.s=\"a(b)\" header.a=rsa-sha256 "
                            "header.b=\"AA==\"");
    /* Too small a buffer: whole properties are dropped, never half-written. */
    char small[40];
    dkim_verify_ar(v, 0, small, sizeof small);
    assert_string_equal(small, "dkim=neutral");
    dkim_verify_free(v);
    free(m);
}

static void test_keys(void **state)
{
    char err[128];
    char *pem = dkim_key_pem(ed_key);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
    struct dkim_key *k = dkim_key_load(pem, strlen(pem), err, sizeof err);
    assert_non_null(k);
    assert_int_equal(dkim_key_alg(k), DKIM_ALG_ED25519_SHA256);
    char *t1 = dkim_key_txt(k), *t2 = dkim_key_txt(ed_key);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    dkim_key_free(k);
    free(pem);
    pem = dkim_key_pem(rsa_key);
    k = dkim_key_load(pem, strlen(pem), err, sizeof err);
    assert_non_null(k);
    assert_int_equal(dkim_key_bits(k), 1024);
    t1 = dkim_key_txt(k);
    assert_true(!strncmp(t1, "v=DKIM1; k=rsa; p=MIGfMA0G", 26));
    free(t1);
    dkim_key_free(k);
    free(pem);
    assert_null(dkim_key_load("junk", 4, err, sizeof err));
    assert_null(dkim_key_generate(DKIM_ALG_RSA_SHA256, 512, err, sizeof err));
    const char *trunc = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIE\n-----END PRIVATE KEY-----\n";
    assert_null(dkim_key_load(trunc, strlen(trunc), err, sizeof err));
}

static void test_from_domain(void **state)
{
    char d[64];
    const char *ok[][2] = {
        {"From: Alice <Alice@Example.TEST>\r\n\r\n", "example.test"},
        {"From: bob@sub.example.test (Bob)\r\n\r\n", "sub.example.test"},
        {"From: \"x@evil.test, y\" <a@example.test>\r\n\r\n", "example.test"},
        {"From:\r\n <a@example.test>\r\n\r\n", "example.test"},
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(dkim_from_domain(ok[i][0], strlen(ok[i][0]), d, sizeof d), 0);
        assert_string_equal(d, ok[i][1]);
    }
    const char *bad[] = {"To: a@b.test\r\n\r\n", "From: a@b.test, c@d.test\r\n\r\n",
                         "From: a@b.test\r\nFrom: c@d.test\r\n\r\n", "From: nobody\r\n\r\n"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(dkim_from_domain(bad[i], strlen(bad[i]), d, sizeof d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8463_example), cmocka_unit_test(test_roundtrip_and_byte_flips),
        cmocka_unit_test(test_bare_lf_input),
        cmocka_unit_test(test_oversigned_from), cmocka_unit_test(test_dual_and_results),
        cmocka_unit_test(test_future_timestamp),
        cmocka_unit_test(test_identity_and_strict_keys),
        cmocka_unit_test(test_refusals),        cmocka_unit_test(test_ar_quoting),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_from_domain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
