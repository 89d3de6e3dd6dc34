/* Bayesian classifier: tokenizer rules, training and scoring on a small
 * generated corpus, the database loader against corrupt, truncated and
 * wrong-version files, reloading, and the Spamtacus headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bayes.h"

/* ---- tokenizer ---- */

struct toks {
    char s[8192];
    size_t n;
};

static void tok_cb(void *arg, const char *t, size_t len)
{
    struct toks *k = arg;
    if (k->n + len + 2 < sizeof k->s) {
        memcpy(k->s + k->n, t, len);
        k->n += len;
        k->s[k->n++] = ' ';
        k->s[k->n] = 0;
    }
}

static int has_tok(const struct toks *k, const char *t)
{
    char pat[128];
    snprintf(pat, sizeof pat, " %s ", t);
    char buf[sizeof k->s + 2];
    snprintf(buf, sizeof buf, " %s", k->s);
    return strstr(buf, pat) != NULL;
}

static void test_tokenizer_rules(void **state)
{
    (void)state;
    struct bayes_tok *t = bayes_tok_new(0);
    struct toks k = {0};
    bayes_tok_set_debug(t, tok_cb, &k);
    const char *text = "Hello WORLD ab abc don't -dash- supercalifragilistic 12 123 $1,000 1234567890 "
                       "caf\xc3\xa9 end.";
    bayes_tok_text(t, text, strlen(text));
    assert_true(has_tok(&k, "hello"));
    assert_true(has_tok(&k, "world"));
    assert_true(has_tok(&k, "WORLD")); /* all caps kept as written too */
    assert_false(has_tok(&k, "Hello"));
    assert_true(has_tok(&k, "abc"));
    assert_false(has_tok(&k, "ab"));
    assert_true(has_tok(&k, "don't"));
    assert_true(has_tok(&k, "dash"));
    assert_false(has_tok(&k, "supercalifragilistic"));
    assert_true(has_tok(&k, "123"));
    assert_false(has_tok(&k, "12"));
    assert_true(has_tok(&k, "$1,000"));
    assert_false(has_tok(&k, "1234567890"));
    assert_true(has_tok(&k, "caf\xc3\xa9"));
    assert_true(has_tok(&k, "end"));
    size_t n;
    const uint64_t *h = bayes_tok_hashes(t, &n);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        assert_true(h[i] != 0);
        for (size_t j = i + 1; j < n; j++)
            assert_true(h[i] != h[j]); /* distinct */
    }
    bayes_tok_free(t);
}

static void test_tokenizer_contexts(void **state)
{
    (void)state;
    struct bayes_tok *t = bayes_tok_new(BAYES_TOK_HEADERS | BAYES_TOK_BIGRAMS);
    struct toks k = {0};
    bayes_tok_set_debug(t, tok_cb, &k);
    const char *m = "From: Seller <deals@shop.test>\r\nX-Spam-Status: yes spammy\r\nX-Spamtacus: yes\r\n"
                    "Subject: cheap watches\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n"
                    "buy now\r\n--b\r\nContent-Type: application/octet-stream\r\n"
                    "Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\n\r\nAAAA\r\n--b--\r\n";
    bayes_tok_message(t, m, strlen(m));
    assert_true(has_tok(&k, "from:seller"));
    assert_true(has_tok(&k, "from:deals"));
    assert_true(has_tok(&k, "s:cheap"));
    assert_true(has_tok(&k, "buy"));
    assert_true(has_tok(&k, "f:invoice"));
    assert_false(has_tok(&k, "x-spam-status:spammy")); /* another filter's verdict is not evidence */
    assert_false(has_tok(&k, "x-spamtacus:yes"));
    assert_true(bayes_tok_dangerous(t));
    bayes_tok_free(t);
    assert_true(bayes_dangerous_name("a.SCR", 5));
    assert_true(bayes_dangerous_name("x.vbs\" ", 7));
    assert_false(bayes_dangerous_name("exe", 3));
    assert_false(bayes_dangerous_name("notes.txt", 9));
}

/* ---- a small generated corpus ---- */

static const char *const spam_words[] = {"viagra", "casino", "winner", "lottery", "mortgage", "refinance",
                                         "unsubscribe", "guaranteed", "millions", "cheap", "offer", "click"};
static const char *const ham_words[] = {"meeting", "kernel", "patch", "review", "lunch", "thanks",
                                        "schedule", "compiler", "release", "tomorrow", "branch", "build"};
static const char *const common[] = {"the", "and", "you", "this", "with", "for", "have", "that"};

static char *gen_msg(int spam, unsigned seed, size_t *len)
{
    char *m = malloc(4096), *p = m;
    p += sprintf(p, "From: %s%u@%s.test\r\nSubject: %s %s\r\n\r\n", spam ? "promo" : "colleague", seed % 7,
                 spam ? "bulk" : "work", spam ? spam_words[seed % 12] : ham_words[seed % 12],
                 common[seed % 8]);
    for (unsigned i = 0; i < 40; i++) {
        unsigned r = (seed * 2654435761u + i * 40503u) >> 7;
        const char *w = r % 3 == 0 ? common[r % 8] : spam ? spam_words[r % 12] : ham_words[r % 12];
        p += sprintf(p, "%s ", w);
    }
    p += sprintf(p, "\r\n");
    *len = (size_t)(p - m);
    return m;
}

static char db_path[64];

static void write_db(const char *path, unsigned nmsg)
{
    struct bayes_train *tr = bayes_train_new(BAYES_TOK_DEFAULT);
    assert_non_null(tr);
    for (unsigned i = 0; i < nmsg; i++) {
        size_t len;
        char *m = gen_msg(i & 1, i, &len);
        bayes_train_add(tr, m, len, i & 1);
        free(m);
    }
    char err[256];
    assert_int_equal(bayes_train_write(tr, path, 1, err, sizeof err), 0);
    bayes_train_free(tr);
}

static int setup(void **state)
{
    (void)state;
    snprintf(db_path, sizeof db_path, "/tmp/test_bayes_%ld.db", (long)getpid());
    write_db(db_path, 200);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(db_path);
    return 0;
}

static void test_train_and_classify(void **state)
{
    (void)state;
    char err[256];
    struct bayes_db *db = bayes_db_open(db_path, err, sizeof err);
    assert_non_null(db);
    unsigned ns, nh, flags;
    uint64_t nt;
    bayes_db_info(db, &ns, &nh, &nt, &flags);
    assert_int_equal(ns, 100);
    assert_int_equal(nh, 100);
    assert_int_equal(flags, BAYES_TOK_DEFAULT);
    assert_true(nt > 24);
    /* unseen messages from the same generator must land on the right side */
    int right = 0;
    for (unsigned i = 1000; i < 1100; i++) {
        size_t len;
        char *m = gen_msg(i & 1, i, &len);
        struct bayes_result r;
        assert_int_equal(bayes_classify_message(db, m, len, &r), 0);
        assert_true(r.score >= 0 && r.score <= 1);
        assert_true(r.nused > 0 && r.nused <= r.ntokens);
        right += (i & 1) ? r.verdict == BAYES_SPAM : r.verdict == BAYES_HAM;
        free(m);
    }
    assert_true(right >= 95);
    /* the reference (Graham) parameters agree on the same messages */
    struct bayes_params ref;
    bayes_params_reference(&ref);
    struct bayes_tok *t = bayes_tok_new(flags);
    size_t len;
    char *m = gen_msg(1, 7777, &len);
    bayes_tok_message(t, m, len);
    struct bayes_result r;
    bayes_score(db, &ref, t, &r);
    assert_true(r.score > 0.8);
    assert_true(r.nused <= 15);
    free(m);
    bayes_tok_free(t);
    bayes_db_close(db);
}

static void test_no_db_and_dangerous(void **state)
{
    (void)state;
    struct bayes_result r;
    const char *m = "Subject: hi\r\n\r\nhello\r\n";
    assert_int_equal(bayes_classify_message(NULL, m, strlen(m), &r), -1);
    assert_int_equal(r.verdict, BAYES_UNKNOWN);
    assert_true(r.score == 0.5);
    const char *d = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: application/x-msdownload; "
                    "name=\"setup.EXE\"\r\n\r\nMZ\r\n--q--\r\n";
    char err[256];
    struct bayes_db *db = bayes_db_open(db_path, err, sizeof err);
    bayes_classify_message(db, d, strlen(d), &r);
    assert_int_equal(r.verdict, BAYES_SPAM);
    assert_true(r.dangerous);
    bayes_db_close(db);
}

/* ---- database loader ---- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void expect_refused(const void *img, size_t len, const char *why)
{
    char err[256] = "";
    struct bayes_db *db = bayes_db_from_buffer(img, len, err, sizeof err);
    assert_null(db);
    if (!strstr(err, why))
        fail_msg("error '%s' does not say '%s'", err, why);
    /* and the same through a file */
    char p[80];
    snprintf(p, sizeof p, "%s.bad", db_path);
    spit(p, img, len);
    err[0] = 0;
    assert_null(bayes_db_open(p, err, sizeof err));
    assert_true(err[0] != 0);
    unlink(p);
}

static void test_db_corrupt(void **state)
{
    (void)state;
    size_t len;
    unsigned char *img = slurp(db_path, &len);
    char err[256];
    struct bayes_db *ok = bayes_db_from_buffer(img, len, err, sizeof err);
    assert_non_null(ok);
    bayes_db_close(ok);

    unsigned char *b = malloc(len);
    memcpy(b, img, len);
    b[len / 2] ^= 0x40; /* one flipped bit in the table */
    expect_refused(b, len, "checksum");

    expect_refused(img, len - 16, "size");   /* truncated by one slot */
    expect_refused(img, len - 1, "size");
    expect_refused(img, 40, "too short");
    expect_refused(img, 0, "too short");

    memcpy(b, img, len);
    b[8] = 2; /* version 2 */
    expect_refused(b, len, "version");

    memcpy(b, img, len);
    b[0] = 'X';
    expect_refused(b, len, "magic");

    memcpy(b, img, len);
    b[28] ^= 1; /* slot count no longer a power of two */
    expect_refused(b, len, "slot");
    free(b);
    free(img);

    char p[80];
    snprintf(p, sizeof p, "%s.missing", db_path);
    assert_null(bayes_db_open(p, err, sizeof err));
    assert_non_null(strstr(err, "open"));
}

static void test_store_reload(void **state)
{
    (void)state;
    char p[80], err[256];
    snprintf(p, sizeof p, "%s.store", db_path);
    size_t len;
    unsigned char *img = slurp(db_path, &len);
    spit(p, img, len);
    struct bayes_store s;
    assert_int_equal(bayes_store_open(&s, p, err, sizeof err), 0);
    assert_non_null(s.db);
    assert_int_equal(bayes_store_reload(&s, err, sizeof err), 0); /* unchanged */

    /* a bad file replaces the good one: the good database stays in use */
    const struct bayes_db *before = s.db;
    spit(p, img, len / 2);
    assert_int_equal(bayes_store_reload(&s, err, sizeof err), -1);
    assert_ptr_equal(s.db, before);
    assert_int_equal(bayes_store_reload(&s, err, sizeof err), 0); /* reported once */
    assert_ptr_equal(s.db, before);
    unlink(p); /* gone: reported once, the database in use stays */
    assert_int_equal(bayes_store_reload(&s, err, sizeof err), -1);
    assert_int_equal(bayes_store_reload(&s, err, sizeof err), 0);
    assert_ptr_equal(s.db, before);
    size_t mlen;
    char *m = gen_msg(1, 4242, &mlen);
    struct bayes_result r;
    bayes_classify_message(s.db, m, mlen, &r);
    assert_int_equal(r.verdict, BAYES_SPAM);

    /* a new good file is picked up */
    write_db(p, 60);
    assert_int_equal(bayes_store_reload(&s, err, sizeof err), 1);
    unsigned ns;
    bayes_db_info(s.db, &ns, NULL, NULL, NULL);
    assert_int_equal(ns, 30);
    bayes_store_close(&s);

    /* a store that starts on a bad file gives no db, and no crash */
    spit(p, "garbage", 7);
    assert_int_equal(bayes_store_open(&s, p, err, sizeof err), -1);
    assert_null(s.db);
    assert_int_equal(bayes_classify_message(s.db, m, mlen, &r), -1);
    assert_int_equal(r.verdict, BAYES_UNKNOWN);
    bayes_store_close(&s);
    free(m);
    free(img);
    unlink(p);
}

/* ---- headers ---- */

static void test_headers(void **state)
{
    (void)state;
    char buf[128];
    struct bayes_result r = {.verdict = BAYES_SPAM, .score = 0.97251};
    int hl = bayes_format_headers(&r, buf, sizeof buf);
    assert_int_equal(hl, (int)strlen(buf));
    assert_string_equal(buf, "X-Spamtacus: yes\r\nX-Spamtacus-Score: 0.973\r\n");
    assert_int_equal(bayes_format_headers(&r, buf, 10), -1);

    const char *m = "X-Spamtacus: no\r\nReceived: from a\r\n by b\r\nx-spamtacus-score : 0.001\r\n\tfolded\r\n"
                    "X-Spamtacus-Other: keep\r\nSubject: hi\r\n\r\nX-Spamtacus: body line stays\r\n";
    const char *want = "Received: from a\r\n by b\r\nX-Spamtacus-Other: keep\r\nSubject: hi\r\n\r\n"
                       "X-Spamtacus: body line stays\r\n";
    size_t n;
    char *s = bayes_strip_headers(m, strlen(m), &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
    free(s);

    char err[256];
    struct bayes_db *db = bayes_db_open(db_path, err, sizeof err);
    size_t mlen;
    char *msg = gen_msg(0, 99, &mlen);
    char *in = malloc(mlen + 64);
    int pre = sprintf(in, "X-Spamtacus: yes\r\nX-Spamtacus-Score: 1.000\r\n");
    memcpy(in + pre, msg, mlen);
    char *out = bayes_mark_message(db, in, (size_t)pre + mlen, &n, &r);
    assert_non_null(out);
    assert_int_equal(r.verdict, BAYES_HAM);
    assert_memory_equal(out, "X-Spamtacus: no\r\nX-Spamtacus-Score: 0.", 37);
    /* exactly one verdict header, and the original message after ours, byte for byte */
    const char *rest = strstr(out, "\r\n") + 2;
    rest = strstr(rest, "\r\n") + 2;
    assert_int_equal(n - (size_t)(rest - out), mlen);
    assert_memory_equal(rest, msg, mlen);
    free(out);
    free(in);
    free(msg);
    bayes_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_rules),
        cmocka_unit_test(test_tokenizer_contexts),
        cmocka_unit_test(test_train_and_classify),
        cmocka_unit_test(test_no_db_and_dangerous),
        cmocka_unit_test(test_db_corrupt),
        cmocka_unit_test(test_store_reload),
        cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
