/* Unit tests: the submission service's failed-login throttle (a pure table
 * with the time passed in): blocks after N failures in the window, the window
 * sliding, doubling blocks capped, forgetting, and a full table. The source
 * is compiled in because services are not part of libenvoi. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../../services/submission/throttle.c"

#define S 1000ULL /* ms per second */

static void test_block_after_max(void **state)
{
    struct throttle t;
    assert_int_equal(throttle_init(&t, 3, 60 * S, 10 * S), 0);
    assert_int_equal(throttle_blocked(&t, "1.2.3.4", 0), 0);
    assert_int_equal(throttle_fail(&t, "1.2.3.4", 1 * S), 0);
    assert_int_equal(throttle_fail(&t, "1.2.3.4", 2 * S), 0);
    assert_int_equal(throttle_blocked(&t, "1.2.3.4", 2 * S), 0);
    assert_int_equal(throttle_fail(&t, "1.2.3.4", 3 * S), 10 * S);   /* third: blocked 10 s */
    assert_int_equal(throttle_blocked(&t, "1.2.3.4", 3 * S), 10 * S);
    assert_int_equal(throttle_blocked(&t, "1.2.3.4", 12 * S), 1 * S);
    assert_int_equal(throttle_blocked(&t, "1.2.3.4", 13 * S), 0);
    assert_int_equal(throttle_blocked(&t, "1.2.3.5", 3 * S), 0);     /* other keys are free */
    throttle_free(&t);
}

static void test_window_slides(void **state)
{
    struct throttle t;
    assert_int_equal(throttle_init(&t, 3, 60 * S, 10 * S), 0);
    throttle_fail(&t, "k", 0);
    throttle_fail(&t, "k", 30 * S);
    /* the window restarted: these two are the first of a new count */
    assert_int_equal(throttle_fail(&t, "k", 61 * S), 0);
    assert_int_equal(throttle_fail(&t, "k", 62 * S), 0);
    assert_int_equal(throttle_fail(&t, "k", 63 * S), 10 * S);
    throttle_free(&t);
}

static void test_blocks_double_and_cap(void **state)
{
    struct throttle t;
    assert_int_equal(throttle_init(&t, 2, 60 * S, 600 * S), 0);
    uint64_t now = 0, want = 600 * S;
    for (int strike = 0; strike < 6; strike++) {
        throttle_fail(&t, "k", now);
        uint64_t b = throttle_fail(&t, "k", now + 1);
        assert_int_equal(b, want < THROTTLE_BLOCK_MAX_MS ? want : THROTTLE_BLOCK_MAX_MS);
        now += b + 1; /* after the block */
        want *= 2;
    }
    /* a quiet day forgets the strikes */
    now += THROTTLE_FORGET_MS + 1;
    throttle_fail(&t, "k", now);
    assert_int_equal(throttle_fail(&t, "k", now + 1), 600 * S);
    throttle_free(&t);
}

static void test_clear(void **state)
{
    struct throttle t;
    assert_int_equal(throttle_init(&t, 3, 60 * S, 10 * S), 0);
    throttle_fail(&t, "alice", 0);
    throttle_fail(&t, "alice", 1);
    throttle_clear(&t, "alice"); /* a successful login */
    assert_int_equal(throttle_fail(&t, "alice", 2), 0);
    assert_int_equal(throttle_fail(&t, "alice", 3), 0);
    assert_int_equal(throttle_fail(&t, "alice", 4), 10 * S);
    throttle_clear(&t, "nobody");
    assert_int_equal(throttle_fail(&t, "", 5), 0); /* no key, no count */
    throttle_free(&t);
}

/* More keys than slots: memory stays bounded, nothing crashes, and a key
 * blocked a moment ago survives a flood of one-failure keys when its probe
 * window has older entries to give up. */
static void test_full_table(void **state)
{
    struct throttle t;
    assert_int_equal(throttle_init(&t, 2, 60 * S, 100 * S), 0);
    char key[THROTTLE_KEY_MAX];
    for (int i = 0; i < 3 * THROTTLE_SLOTS; i++) {
        snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        throttle_fail(&t, key, (uint64_t)i);
    }
    uint64_t now = 3 * THROTTLE_SLOTS;
    throttle_fail(&t, "attacker", now);
    assert_int_equal(throttle_fail(&t, "attacker", now + 1), 100 * S);
    assert_true(throttle_blocked(&t, "attacker", now + 2) > 0);
    /* a very long key is cut alike everywhere */
    char longkey[200];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    throttle_fail(&t, longkey, now);
    assert_int_equal(throttle_fail(&t, longkey, now + 1), 100 * S);
    assert_true(throttle_blocked(&t, longkey, now + 2) > 0);
    throttle_free(&t);
}

/* IPv4 addresses are keys as they are; IPv6 ones count per /64, however
 * they are written. */
static void test_client_key(void **state)
{
    char k[THROTTLE_KEY_MAX], k2[THROTTLE_KEY_MAX];
    assert_string_equal(throttle_client_key("192.0.2.7", k), "192.0.2.7");
    assert_string_equal(throttle_client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k), "2001:db8:1:2::/64");
    assert_string_equal(throttle_client_key("2001:0db8:0001:0002::1", k2), k);
    assert_string_equal(throttle_client_key("2001:db8:1:3::1", k), "2001:db8:1:3::/64");
    assert_string_equal(throttle_client_key("::1", k), "::/64");
    assert_string_equal(throttle_client_key("unknown", k), "unknown");
    assert_string_equal(throttle_client_key("1:2:3:zz::", k), "1:2:3:zz::"); /* not an address: as is */

    struct throttle t;
    assert_int_equal(throttle_init(&t, 2, 60 * S, 10 * S), 0);
    throttle_fail(&t, throttle_client_key("2001:db8:1:2::a", k), 0);
    assert_int_equal(throttle_fail(&t, throttle_client_key("2001:db8:1:2::b", k), 1 * S), 10 * S);
    assert_true(throttle_blocked(&t, throttle_client_key("2001:db8:1:2:ffff::1", k), 2 * S) > 0);
    assert_int_equal(throttle_blocked(&t, throttle_client_key("2001:db8:1:3::a", k), 2 * S), 0);
    throttle_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_after_max), cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_blocks_double_and_cap), cmocka_unit_test(test_clear),
        cmocka_unit_test(test_full_table), cmocka_unit_test(test_client_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
