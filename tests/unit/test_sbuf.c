/* sbuf: the capped byte buffer every SMTP input and message goes through.
 * The cap is what keeps a peer from growing memory without bound, so each
 * edge of it is checked: exactly at the cap, one past, and the buffer left
 * unchanged by a refused append. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

static void test_add_and_nul(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(sbuf_add(&b, "abc", 3), 0);
    assert_int_equal(sbuf_adds(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.p, "abcdef", 7); /* NUL-terminated after every append */
    assert_int_equal(sbuf_add(&b, "", 0), 0);
    assert_int_equal(b.len, 6);
    /* Binary content survives, NUL bytes included. */
    assert_int_equal(sbuf_add(&b, "x\0y", 3), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.p + 6, "x\0y\0", 4);
    sbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_add_zero_to_empty(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 8);
    assert_int_equal(sbuf_add(&b, NULL, 0), 0);
    assert_int_equal(b.len, 0);
    if (b.p)
        assert_int_equal(b.p[0], '\0');
    sbuf_free(&b);
}

/* Appends at the cap: exactly max bytes fit, one more is refused and b is
 * unchanged, whatever the way the bytes arrive. */
static void test_cap(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 2, 10, 255, 256, 257, 1000, 4096};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        size_t max = caps[c];
        char *src = malloc(max + 1);
        assert_non_null(src);
        for (size_t i = 0; i <= max; i++)
            src[i] = (char)('a' + i % 26);
        /* Whole. */
        struct sbuf b;
        sbuf_init(&b, max);
        assert_int_equal(sbuf_add(&b, src, max + 1), -1);
        assert_int_equal(b.len, 0);
        assert_int_equal(sbuf_add(&b, src, max), 0);
        assert_int_equal(b.len, max);
        assert_memory_equal(b.p, src, max);
        assert_int_equal(sbuf_add(&b, "z", 1), -1);
        assert_int_equal(b.len, max);
        assert_memory_equal(b.p, src, max);
        assert_int_equal(b.p[max], '\0');
        sbuf_free(&b);
        /* Byte by byte. */
        sbuf_init(&b, max);
        for (size_t i = 0; i < max; i++)
            assert_int_equal(sbuf_add(&b, src + i, 1), 0);
        assert_int_equal(sbuf_add(&b, src + max, 1), -1);
        assert_int_equal(b.len, max);
        assert_memory_equal(b.p, src, max);
        /* Consuming makes room again. */
        sbuf_consume(&b, 1);
        assert_int_equal(b.len, max - 1);
        assert_int_equal(sbuf_add(&b, "Z", 1), 0);
        assert_int_equal(b.len, max);
        assert_int_equal(b.p[max - 1], 'Z');
        sbuf_free(&b);
        free(src);
    }
}

/* A huge length must be refused by a capped buffer, not wrap around. */
static void test_cap_huge(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 100);
    assert_int_equal(sbuf_add(&b, "abc", 3), 0);
    assert_int_equal(sbuf_add(&b, "x", SIZE_MAX), -1);
    assert_int_equal(sbuf_add(&b, "x", SIZE_MAX - 2), -1);
    assert_int_equal(sbuf_add(&b, "x", 98), -1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "abc", 4);
    sbuf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 16);
    assert_int_equal(sbuf_printf(&b, "%d-%s", 42, "ab"), 0);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.p, "42-ab");
    assert_int_equal(sbuf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 5);
    /* 11 more would make 16: fits exactly; then nothing more. */
    assert_int_equal(sbuf_printf(&b, "%011d", 7), 0);
    assert_int_equal(b.len, 16);
    assert_string_equal(b.p, "42-ab00000000007");
    assert_int_equal(sbuf_printf(&b, "%c", 'x'), -1);
    assert_int_equal(b.len, 16);
    assert_string_equal(b.p, "42-ab00000000007");
    sbuf_free(&b);
    /* Growth past the first allocation keeps earlier content. */
    sbuf_init(&b, 0);
    size_t want = 0;
    for (int i = 0; i < 500; i++) {
        assert_int_equal(sbuf_printf(&b, "line %d\r\n", i), 0);
        char tmp[32];
        want += (size_t)snprintf(tmp, sizeof tmp, "line %d\r\n", i);
    }
    assert_int_equal(b.len, want);
    assert_memory_equal(b.p, "line 0\r\nline 1\r\n", 16);
    assert_memory_equal(b.p + b.len - 10, "line 499\r\n", 10);
    assert_int_equal(b.p[b.len], '\0');
    sbuf_free(&b);
}

static void test_consume(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_consume(&b, 0); /* empty, never allocated */
    sbuf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_int_equal(sbuf_adds(&b, "0123456789"), 0);
    sbuf_consume(&b, 0);
    assert_string_equal(b.p, "0123456789");
    sbuf_consume(&b, 3);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.p, "3456789");
    sbuf_consume(&b, 6);
    assert_string_equal(b.p, "9");
    sbuf_consume(&b, 100); /* more than held: empties */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    assert_int_equal(sbuf_adds(&b, "again"), 0);
    assert_string_equal(b.p, "again");
    sbuf_free(&b);
}

static void test_steal(void **state)
{
    (void)state;
    struct sbuf b;
    size_t n = 99;
    sbuf_init(&b, 0);
    char *p = sbuf_steal(&b, &n); /* never allocated: still a valid empty string */
    assert_non_null(p);
    assert_int_equal(n, 0);
    assert_string_equal(p, "");
    free(p);
    assert_int_equal(sbuf_adds(&b, "hello"), 0);
    p = sbuf_steal(&b, &n);
    assert_int_equal(n, 5);
    assert_string_equal(p, "hello");
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    /* The emptied buffer is reusable and does not alias the stolen bytes. */
    assert_int_equal(sbuf_adds(&b, "world"), 0);
    assert_string_equal(p, "hello");
    assert_string_equal(b.p, "world");
    free(p);
    p = sbuf_steal(&b, NULL);
    assert_string_equal(p, "world");
    free(p);
    sbuf_free(&b);
}

static void test_free_reuse(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 4);
    assert_int_equal(sbuf_adds(&b, "abcd"), 0);
    sbuf_free(&b);
    sbuf_free(&b); /* idempotent */
    /* The cap survives sbuf_free. */
    assert_int_equal(sbuf_adds(&b, "abcde"), -1);
    assert_int_equal(sbuf_adds(&b, "wxyz"), 0);
    assert_string_equal(b.p, "wxyz");
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_nul), cmocka_unit_test(test_add_zero_to_empty),
        cmocka_unit_test(test_cap),         cmocka_unit_test(test_cap_huge),
        cmocka_unit_test(test_printf),      cmocka_unit_test(test_consume),
        cmocka_unit_test(test_steal),       cmocka_unit_test(test_free_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
