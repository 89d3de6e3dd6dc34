/* Unit tests: Date / Message-ID added by the submission service only when
 * the header section lacks them (RFC 6409 §8.3, §8.4), table-driven, each
 * input in an exact-size heap copy. The source is compiled in because
 * services are not part of libenvoi. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "../../services/submission/headers.c"

#define ADD_DATE 1
#define ADD_ID 2

static const struct {
    const char *msg;
    int added;      /* ADD_DATE | ADD_ID */
    int blank;      /* a blank line goes between our fields and the text */
} cases[] = {
    {"From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n", ADD_DATE | ADD_ID, 0},
    {"From: a@x.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n", ADD_ID, 0},
    {"Message-ID: <1@x.test>\r\nFrom: a@x.test\r\n\r\nbody\r\n", ADD_DATE, 0},
    {"message-id: <1@x.test>\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n", 0, 0},
    {"Date : Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-Id\t: <1@x.test>\r\n\r\n", 0, 0}, /* obs WSP */
    {"X-Date: today\r\nX-Message-ID: <1@x.test>\r\n\r\n", ADD_DATE | ADD_ID, 0},
    {"Dated: today\r\nMessage-IDs: <1@x.test>\r\n\r\n", ADD_DATE | ADD_ID, 0},
    {"Subject: folded\r\n Date: not a field\r\n\tMessage-ID: <no@x.test>\r\n\r\n", ADD_DATE | ADD_ID, 0},
    {"Subject: x\r\n\r\nDate: in the body\r\nMessage-ID: <body@x.test>\r\n", ADD_DATE | ADD_ID, 0},
    {"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <lf@x.test>\n\nbody\n", 0, 0},
    {"Subject: only a header, no body", ADD_DATE | ADD_ID, 0},
    {"", ADD_DATE | ADD_ID, 0},
    {"Hello, no header at all\r\nDate: nope\r\n", ADD_DATE | ADD_ID, 1},
    {" continuation first\r\n\r\n", ADD_DATE | ADD_ID, 1},
    {": empty name\r\n\r\n", ADD_DATE | ADD_ID, 1},
    {"\r\nbody only\r\n", ADD_DATE | ADD_ID, 0},
};

static void check_fields(const char *out, size_t outlen, int added, int blank, const char *msg, size_t len)
{
    const char *p = out;
    if (added & ADD_DATE) {
        assert_memory_equal(p, "Date: ", 6);
        const char *e = strstr(p, "\r\n");
        assert_non_null(e);
        char date[64];
        assert_true((size_t)(e - p - 6) < sizeof date);
        memcpy(date, p + 6, (size_t)(e - p - 6));
        date[e - p - 6] = '\0';
        /* RFC 5322 date-time of now (UTC offset as written) */
        struct tm tm = {0};
        const char *end = strptime(date, "%a, %d %b %Y %H:%M:%S", &tm);
        assert_non_null(end);
        int sign = end[1] == '-' ? -1 : 1, hh = 0, mm = 0;
        assert_int_equal(sscanf(end + 2, "%2d%2d", &hh, &mm), 2);
        time_t t = timegm(&tm) - sign * (hh * 3600 + mm * 60);
        assert_true(labs((long)(t - time(NULL))) <= 5);
        p = e + 2;
    }
    if (added & ADD_ID) {
        assert_memory_equal(p, "Message-ID: <", 13);
        const char *e = strstr(p, "\r\n");
        assert_non_null(e);
        assert_memory_equal(e - 17, "@submission.test>", 17);
        assert_non_null(memchr(p, '.', (size_t)(e - p))); /* time.random */
        p = e + 2;
    }
    if (blank) {
        assert_memory_equal(p, "\r\n", 2);
        p += 2;
    }
    assert_int_equal(outlen - (size_t)(p - out), len);
    assert_memory_equal(p, msg, len);
}

static void test_table(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].msg), outlen = 0;
        char *copy = malloc(len ? len : 1);
        memcpy(copy, cases[i].msg, len);
        int added = -1;
        char *out = submit_fix_headers(copy, len, "submission.test", &outlen, &added);
        if (added != cases[i].added)
            fail_msg("case %zu: added %d, want %d", i, added, cases[i].added);
        if (!cases[i].added)
            assert_null(out);
        else
            check_fields(out, outlen, cases[i].added, cases[i].blank, cases[i].msg, len);
        free(out);
        free(copy);
    }
}

static void test_ids_differ(void **state)
{
    const char *m = "Subject: x\r\n\r\n";
    size_t l1, l2;
    int a;
    char *o1 = submit_fix_headers(m, strlen(m), "h.test", &l1, &a);
    char *o2 = submit_fix_headers(m, strlen(m), "h.test", &l2, &a);
    const char *i1 = strstr(o1, "Message-ID:"), *i2 = strstr(o2, "Message-ID:");
    assert_non_null(i1);
    assert_non_null(i2);
    assert_true(strncmp(i1, i2, (size_t)(strstr(i1, "\r\n") - i1)) != 0);
    free(o1);
    free(o2);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_ids_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
