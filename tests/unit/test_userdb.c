/* Unit tests: users/<local>.json parsing (table-driven, every prefix of a
 * document), password formats (RFC 7693 BLAKE2b-512 vectors, argon2id round
 * trips, out-of-bounds parameters), logins, sender ownership, and loading a
 * directory with broken files in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "userdb.h"

/* RFC 7693 Appendix A: BLAKE2b-512("abc"); and of "" (the usual empty-input vector). */
#define ABC_B2B "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" \
                "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
#define EMPTY_B2B "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419" \
                  "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"

static void test_local_valid(void **state)
{
    static const struct { const char *s; int ok; } cases[] = {
        {"alice", 1}, {"a", 1}, {"first.last", 1}, {"x+tag", 1}, {"a_b-c9", 1},
        {"", 0}, {".alice", 0}, {"-alice", 0}, {"Alice", 0}, {"al ice", 0}, {"a/b", 0}, {"..", 0},
        {"a@b", 0}, {"\xc3\xa9t\xc3\xa9", 0},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1},  /* 64 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0}, /* 65 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (userdb_local_valid(cases[i].s) != cases[i].ok)
            fail_msg("local_valid(%s) != %d", cases[i].s, cases[i].ok);
    }
}

static void test_blake2b_vectors(void **state)
{
    char hex[USERDB_BLAKE2B_HEX + 1];
    assert_int_equal(userdb_hash_blake2b("abc", 3, hex), 0);
    assert_string_equal(hex, ABC_B2B);
    assert_int_equal(userdb_hash_blake2b("", 0, hex), 0);
    assert_string_equal(hex, EMPTY_B2B);
    assert_int_equal(userdb_password_kind(ABC_B2B), USERDB_PW_BLAKE2B);
    assert_int_equal(userdb_verify(ABC_B2B, "abc", 3), 1);
    assert_int_equal(userdb_verify(ABC_B2B, "abd", 3), 0);
    assert_int_equal(userdb_verify(ABC_B2B, "ab", 2), 0);
    assert_int_equal(userdb_verify(ABC_B2B, "abc\0", 4), 0);
    /* upper-case hex is the same hash */
    char upper[] = ABC_B2B;
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(userdb_verify(upper, "abc", 3), 1);
    /* one character short, or a non-hex character: not a password */
    assert_int_equal(userdb_password_kind(ABC_B2B + 1), USERDB_PW_BAD);
    char bad[] = ABC_B2B;
    bad[5] = 'g';
    assert_int_equal(userdb_password_kind(bad), USERDB_PW_BAD);
    assert_int_equal(userdb_verify(bad, "abc", 3), 0);
}

static void test_argon2id(void **state)
{
    char h[256], h2[256];
    assert_int_equal(userdb_hash_argon2id("s3cret", 6, h, sizeof h), 0);
    assert_int_equal(userdb_hash_argon2id("s3cret", 6, h2, sizeof h2), 0);
    assert_string_not_equal(h, h2); /* salted */
    assert_int_equal(strncmp(h, "$argon2id$v=19$", 15), 0);
    assert_int_equal(userdb_password_kind(h), USERDB_PW_ARGON2ID);
    assert_int_equal(userdb_verify(h, "s3cret", 6), 1);
    assert_int_equal(userdb_verify(h2, "s3cret", 6), 1);
    assert_int_equal(userdb_verify(h, "s3creT", 6), 0);
    assert_int_equal(userdb_verify(h, "", 0), 0);
    assert_int_equal(userdb_hash_argon2id("s3cret", 6, h, 10), -1); /* output too small */
    userdb_verify_dummy("x", 1);
}

static void test_password_kinds(void **state)
{
    static const struct { const char *s; enum userdb_kind k; } cases[] = {
        {NULL, USERDB_PW_NONE},
        {"", USERDB_PW_NONE},
        {"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_ARGON2ID},
        /* a huge memory cost, too many passes, several lanes, other versions and algorithms */
        {"$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_BAD},
        {"$argon2id$v=19$m=65536,t=99,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_BAD},
        {"$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_BAD},
        {"$argon2id$v=16$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_BAD},
        {"$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_BAD},
        {"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$", USERDB_PW_BAD},
        {"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk$",
         USERDB_PW_BAD},
        {"$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Q5m5mJ3b0Zr1mzG1a9o0o7qvJ5wQm1m1cZ4yYQ3dPk",
         USERDB_PW_BAD},
        {"$1$abc$def", USERDB_PW_BAD},
        {"plaintext", USERDB_PW_BAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (userdb_password_kind(cases[i].s) != cases[i].k)
            fail_msg("case %zu: kind %d, want %d", i, userdb_password_kind(cases[i].s), cases[i].k);
        if (cases[i].k != USERDB_PW_ARGON2ID) /* never verified, whatever the input */
            assert_int_equal(userdb_verify(cases[i].s, "x", 1), 0);
    }
}

static void test_parse_table(void **state)
{
    static const struct {
        const char *json;
        int ok, ntargets, naliases, has_pw;
    } cases[] = {
        {"{\"targets\":[\"real@example.com\"],\"password\":\"" ABC_B2B "\"}", 0, 1, 0, 1},
        {"{\"targets\":[\"a@x.test\",\"b@y.test\"],\"password\":\"" ABC_B2B "\",\"aliases\":[\"pm@x.test\",\"info\"]}",
         0, 2, 2, 1},
        {"{}", 0, 0, 0, 0},
        {"{\"password\":null,\"targets\":[]}", 0, 0, 0, 0},
        {"{\"password\":\"\"}", 0, 0, 0, 0},
        {"{\"future\":{\"x\":[1,2]},\"password\":\"" ABC_B2B "\"}", 0, 0, 0, 1}, /* unknown keys ignored */
        {"[]", -1, 0, 0, 0},
        {"", -1, 0, 0, 0},
        {"{\"password\":\"" ABC_B2B "\"", -1, 0, 0, 0},                    /* truncated */
        {"{\"password\":\"hunter2\"}", -1, 0, 0, 0},                       /* clear text: refused */
        {"{\"password\":42}", -1, 0, 0, 0},
        {"{\"targets\":\"a@x.test\"}", -1, 0, 0, 0},
        {"{\"targets\":[42]}", -1, 0, 0, 0},
        {"{\"targets\":[\"\"]}", -1, 0, 0, 0},
        {"{\"targets\":[\"a b@x.test\"]}", -1, 0, 0, 0},
        {"{\"aliases\":[\"<a@x.test>\"]}", -1, 0, 0, 0},
        {"{\"aliases\":[\"a@\"]}", -1, 0, 0, 0},
        {"{\"password\":\"" ABC_B2B "\",\"password\":\"" ABC_B2B "\"}", -1, 0, 0, 0}, /* duplicate key */
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct userdb_user u;
        int rc = userdb_parse_user("alice", cases[i].json, strlen(cases[i].json), &u, err, sizeof err);
        if (rc != cases[i].ok)
            fail_msg("case %zu: rc %d (%s)", i, rc, rc ? err : "");
        if (rc == 0) {
            assert_string_equal(u.local, "alice");
            assert_int_equal(u.ntargets, cases[i].ntargets);
            assert_int_equal(u.naliases, cases[i].naliases);
            assert_int_equal(u.password != NULL, cases[i].has_pw);
        } else {
            assert_true(err[0] != '\0');
        }
        userdb_user_free(&u);
    }
    struct userdb_user u;
    assert_int_equal(userdb_parse_user("Alice", "{}", 2, &u, err, sizeof err), -1);
    assert_int_equal(userdb_parse_user("../etc", "{}", 2, &u, err, sizeof err), -1);
}

/* Every prefix of a valid document, in an exact-size heap copy: parses or is
 * refused, never reads past the end (ASan build). */
static void test_parse_prefixes(void **state)
{
    const char *doc = "{\"targets\":[\"a@x.test\"],\"aliases\":[\"pm@x.test\"],\"password\":\"" ABC_B2B "\"}";
    size_t n = strlen(doc);
    int oks = 0;
    for (size_t i = 0; i <= n; i++) {
        char *p = malloc(i ? i : 1);
        memcpy(p, doc, i);
        struct userdb_user u;
        char err[256];
        oks += userdb_parse_user("alice", p, i, &u, err, sizeof err) == 0;
        userdb_user_free(&u);
        free(p);
    }
    assert_int_equal(oks, 1); /* only the whole document */
}

static void test_login_split(void **state)
{
    static const struct { const char *login, *local, *domain; int ok; } cases[] = {
        {"alice", "alice", NULL, 0},
        {"alice@example.test", "alice", "example.test", 0},
        {"Alice@Example.Test", "alice", "Example.Test", 0},
        {"a@b@example.test", NULL, NULL, -1}, /* local part "a@b" */
        {"@example.test", NULL, NULL, -1},
        {"alice@", NULL, NULL, -1},
        {"", NULL, NULL, -1},
        {"al ice", NULL, NULL, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char local[USERDB_LOCAL_MAX + 1];
        const char *domain = NULL;
        int rc = userdb_login_split(cases[i].login, local, &domain);
        if (rc != cases[i].ok)
            fail_msg("login %s: rc %d", cases[i].login, rc);
        if (rc == 0) {
            assert_string_equal(local, cases[i].local);
            if (cases[i].domain)
                assert_string_equal(domain, cases[i].domain);
            else
                assert_null(domain);
        }
    }
}

static void test_owns(void **state)
{
    struct userdb_user u;
    char err[256];
    const char *doc = "{\"aliases\":[\"postmaster@example.test\",\"info\",\"alice@other.test\"]}";
    assert_int_equal(userdb_parse_user("alice", doc, strlen(doc), &u, err, sizeof err), 0);
    const char *domains[] = {"example.test", "example2.test"};
    static const struct { const char *addr; int owned; } cases[] = {
        {"alice@example.test", 1}, {"ALICE@EXAMPLE.TEST", 1}, {"alice@example2.test", 1},
        {"postmaster@example.test", 1}, {"PostMaster@Example.Test", 1}, {"postmaster@example2.test", 0},
        {"info@example.test", 1}, {"info@example2.test", 1}, {"info@evil.test", 0},
        {"alice@other.test", 1}, {"alice@evil.test", 0}, {"bob@example.test", 0},
        {"alicex@example.test", 0}, {"alic@example.test", 0}, {"alice", 0}, {"", 0},
        {"alice@example.test.evil.test", 0}, {"alice@sub.example.test", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (userdb_owns(&u, cases[i].addr, domains, 2) != cases[i].owned)
            fail_msg("owns(%s) != %d", cases[i].addr, cases[i].owned);
    }
    assert_int_equal(userdb_owns(&u, "alice@example2.test", domains, 1), 0);
    assert_int_equal(userdb_owns(NULL, "alice@example.test", domains, 2), 0);
    userdb_user_free(&u);
}

static void test_db_add_find(void **state)
{
    struct userdb *db = userdb_new();
    const char *names[] = {"mallory", "alice", "zed", "bob", "carol"};
    char err[256];
    for (size_t i = 0; i < 5; i++) {
        struct userdb_user u;
        assert_int_equal(userdb_parse_user(names[i], "{}", 2, &u, err, sizeof err), 0);
        assert_int_equal(userdb_add(db, &u), 0);
        assert_string_equal(u.local, ""); /* moved */
    }
    struct userdb_user dup;
    assert_int_equal(userdb_parse_user("bob", "{}", 2, &dup, err, sizeof err), 0);
    assert_int_equal(userdb_add(db, &dup), -1);
    userdb_user_free(&dup);
    assert_int_equal(userdb_count(db), 5);
    for (int i = 1; i < userdb_count(db); i++)
        assert_true(strcmp(userdb_at(db, i - 1)->local, userdb_at(db, i)->local) < 0);
    assert_string_equal(userdb_find(db, "carol")->local, "carol");
    assert_string_equal(userdb_find(db, "CAROL")->local, "carol");
    assert_null(userdb_find(db, "dave"));
    assert_null(userdb_find(db, ""));
    assert_null(userdb_at(db, 5));
    userdb_free(db);
    assert_null(userdb_find(NULL, "alice"));
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_dir(void **state)
{
    char root[] = "/tmp/test_userdb.XXXXXX", users[64], err[256];
    assert_non_null(mkdtemp(root));
    int skipped = -1;
    /* no users/ yet: an empty database, not an error */
    struct userdb *db = userdb_load(root, &skipped, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(userdb_count(db), 0);
    userdb_free(db);
    snprintf(users, sizeof users, "%s/users", root);
    assert_int_equal(mkdir(users, 0755), 0);
    write_file(users, "alice.json", "{\"targets\":[\"a@home.test\"],\"password\":\"" ABC_B2B "\"}");
    write_file(users, "bob.json", "{\"password\":\"" EMPTY_B2B "\",\"aliases\":[\"b@x.test\"]}\n");
    write_file(users, "broken.json", "{\"password\":");
    write_file(users, "Upper.json", "{}");
    write_file(users, "notes.txt", "not a user");
    write_file(users, ".hidden.json", "{}");
    char sub[96];
    snprintf(sub, sizeof sub, "%s/dir.json", users);
    assert_int_equal(mkdir(sub, 0755), 0);
    db = userdb_load(root, &skipped, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(userdb_count(db), 2);
    assert_int_equal(skipped, 3); /* broken, Upper, dir */
    assert_int_equal(userdb_verify(userdb_find(db, "alice")->password, "abc", 3), 1);
    assert_int_equal(userdb_verify(userdb_find(db, "bob")->password, "", 0), 1);
    assert_string_equal(userdb_find(db, "bob")->aliases[0], "b@x.test");
    assert_null(userdb_find(db, "broken"));
    userdb_free(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_valid),    cmocka_unit_test(test_blake2b_vectors),
        cmocka_unit_test(test_argon2id),       cmocka_unit_test(test_password_kinds),
        cmocka_unit_test(test_parse_table),    cmocka_unit_test(test_parse_prefixes),
        cmocka_unit_test(test_login_split),    cmocka_unit_test(test_owns),
        cmocka_unit_test(test_db_add_find),    cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
