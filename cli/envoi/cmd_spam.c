/* envoi spam: train a database, classify messages, evaluate a test set.
 *
 *   envoi spam train --spam PATH... --ham PATH... -o FILE [--tokens LIST] [--min-count N]
 *   envoi spam classify --database FILE [scoring flags] MSG...
 *   envoi spam eval --database FILE --spam PATH... --ham PATH... [--scores FILE] [scoring flags]
 *   envoi spam tokens MSG...          (prints the tokens of each message)
 *
 * PATH is a Maildir (cur/ and new/), an mbox, a directory of message files
 * (walked in name order, subdirectories too) or one message file. Scoring
 * flags (for measurements; the defaults are what the service uses):
 *   --reference  --combine chi2|graham  --robs X  --robx X  --min-dev X
 *   --max-tokens N  --spam-cutoff X  --ham-cutoff X */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bayes.h"
#include "cmds.h"

#define MSG_FILE_MAX (64u << 20) /* larger files are skipped, not read */
#define WALK_DEPTH_MAX 6         /* directory nesting followed */

typedef void (*msg_cb)(void *arg, const char *label, const char *msg, size_t len);

struct reader {
    char *buf;
    size_t cap;
    unsigned skipped;
};

static int read_file(struct reader *r, const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > MSG_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        r->skipped++;
        return -1;
    }
    size_t want = (size_t)st.st_size + 1;
    if (want > r->cap) {
        char *nb = realloc(r->buf, want);
        if (!nb) {
            close(fd);
            return -1;
        }
        r->buf = nb;
        r->cap = want;
    }
    size_t got = 0;
    ssize_t n;
    while (got < (size_t)st.st_size && (n = read(fd, r->buf + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    close(fd);
    *len = got;
    return 0;
}

/* "From addr Thu Aug 22 13:17:22 2002": an mbox separator, unlike a body
 * paragraph that starts with "From " (which real mboxes quote as ">From "
 * but single-message files do not). */
static int from_line(const char *p, size_t n)
{
    if (n < 5 || memcmp(p, "From ", 5) != 0)
        return 0;
    size_t i = 5;
    while (i < n && p[i] != ' ' && p[i] != '\n')
        i++;
    if (i == 5 || i >= n || p[i] != ' ')
        return 0;
    for (; i + 5 <= n && p[i] != '\n' && i < 256; i++)
        if (p[i] >= '0' && p[i] <= '9' && p[i + 1] >= '0' && p[i + 1] <= '9' && p[i + 2] == ':' &&
            p[i + 3] >= '0' && p[i + 3] <= '9' && p[i + 4] >= '0' && p[i + 4] <= '9')
            return 1;
    return 0;
}

/* An mbox holds several messages, each after a From line that follows a
 * blank line; a file with one such line is just one message. */
static void walk_mbox(const char *path, const char *p, size_t len, msg_cb cb, void *arg)
{
    size_t start = 0;
    int idx = 0;
    char label[4200];
    for (size_t i = 0; i + 6 < len; i++) {
        if (p[i] != '\n' || p[i + 1] != '\n' || !from_line(p + i + 2, len - i - 2))
            continue;
        snprintf(label, sizeof label, "%s:%d", path, idx++);
        cb(arg, label, p + start, i + 1 - start);
        start = i + 2;
    }
    if (idx == 0) {
        cb(arg, path, p, len);
        return;
    }
    snprintf(label, sizeof label, "%s:%d", path, idx);
    cb(arg, label, p + start, len - start);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(struct reader *r, const char *path, int depth, msg_cb cb, void *arg)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "envoi spam: %s: not found\n", path);
        r->skipped++;
        return;
    }
    if (S_ISREG(st.st_mode)) {
        size_t len;
        if (read_file(r, path, &len) == 0) {
            if (from_line(r->buf, len))
                walk_mbox(path, r->buf, len, cb, arg);
            else
                cb(arg, path, r->buf, len);
        }
        return;
    }
    if (!S_ISDIR(st.st_mode) || depth > WALK_DEPTH_MAX)
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "tmp") == 0) /* Maildir tmp/ is unfinished */
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char sub[4096];
        if (names[i] && (size_t)snprintf(sub, sizeof sub, "%s/%s", path, names[i]) < sizeof sub)
            walk(r, sub, depth + 1, cb, arg);
        free(names[i]);
    }
    free(names);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Parses the scoring flags at argv[*i]; returns 1 if it took one, -1 if bad. */
static int score_flag(struct bayes_params *p, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "--reference") == 0) {
        bayes_params_reference(p);
        return 1;
    }
    static const char *const flags[] = {"--combine", "--robs", "--robx", "--min-dev", "--max-tokens",
                                        "--spam-cutoff", "--ham-cutoff", "--min-tokens"};
    size_t k;
    for (k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (strcmp(a, flags[k]) == 0)
            break;
    if (k == sizeof flags / sizeof flags[0])
        return 0;
    if (*i + 1 >= argc)
        return -1;
    const char *v = argv[++*i];
    switch (k) {
    case 0:
        if (strcmp(v, "chi2") == 0)
            p->combine = BAYES_CHI2;
        else if (strcmp(v, "graham") == 0)
            p->combine = BAYES_GRAHAM;
        else
            return -1;
        break;
    case 1: p->robs = atof(v); break;
    case 2: p->robx = atof(v); break;
    case 3: p->min_dev = atof(v); break;
    case 4: p->max_tokens = atoi(v); break;
    case 5: p->spam_cutoff = atof(v); break;
    case 6: p->ham_cutoff = atof(v); break;
    case 7: p->min_tokens = atoi(v); break;
    }
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: envoi spam train --spam PATH... --ham PATH... -o FILE [--tokens headers,bigrams,allheaders|none] [--min-count N]\n"
                    "       envoi spam classify --database FILE MSG...\n"
                    "       envoi spam eval --database FILE --spam PATH... --ham PATH... [--scores FILE]\n"
                    "       envoi spam tokens MSG...\n");
    return 2;
}

/* "--spam a b c --ham d e": paths point into argv, so argc bounds them. */
struct lists {
    const char **spam, **ham;
    int nspam, nham;
};

static int lists_init(struct lists *l, int argc)
{
    l->spam = calloc((size_t)argc, sizeof *l->spam);
    l->ham = calloc((size_t)argc, sizeof *l->ham);
    l->nspam = l->nham = 0;
    return l->spam && l->ham ? 0 : -1;
}

static void lists_free(struct lists *l)
{
    free(l->spam);
    free(l->ham);
}

static int add_path(struct lists *l, int which, const char *p)
{
    if (which == 1)
        l->spam[l->nspam++] = p;
    else if (which == 2)
        l->ham[l->nham++] = p;
    else
        return -1;
    return 0;
}

/* ---- train ---- */

struct train_ctx {
    struct bayes_train *tr;
    int is_spam;
    unsigned count;
};

static void train_cb(void *arg, const char *label, const char *msg, size_t len)
{
    struct train_ctx *c = arg;
    (void)label;
    bayes_train_add(c->tr, msg, len, c->is_spam);
    c->count++;
}

static unsigned parse_tokens(const char *s)
{
    unsigned f = 0;
    if (strstr(s, "headers"))
        f |= BAYES_TOK_HEADERS;
    if (strstr(s, "allheaders"))
        f |= BAYES_TOK_ALLHDRS;
    if (strstr(s, "bigrams"))
        f |= BAYES_TOK_BIGRAMS;
    return f;
}

static int spam_train_lists(int argc, char **argv, struct lists *lp);

static int spam_train(int argc, char **argv)
{
    struct lists l;
    if (lists_init(&l, argc) < 0)
        return 1;
    int rc = spam_train_lists(argc, argv, &l);
    lists_free(&l);
    return rc;
}

static int spam_train_lists(int argc, char **argv, struct lists *lp)
{
    struct lists l = *lp;
    const char *out = NULL;
    unsigned flags = BAYES_TOK_DEFAULT, min_count = 1;
    int which = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spam") == 0)
            which = 1;
        else if (strcmp(argv[i], "--ham") == 0)
            which = 2;
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i], which = 0;
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            flags = parse_tokens(argv[++i]), which = 0;
        else if (strcmp(argv[i], "--min-count") == 0 && i + 1 < argc)
            min_count = (unsigned)atoi(argv[++i]), which = 0;
        else if (argv[i][0] == '-' || add_path(&l, which, argv[i]) < 0)
            return usage();
    }
    if (!out || !l.nspam || !l.nham)
        return usage();
    struct train_ctx c = {bayes_train_new(flags), 0, 0};
    struct reader r = {0};
    if (!c.tr)
        return 1;
    double t0 = now();
    unsigned counts[2];
    for (int k = 0; k < 2; k++) {
        c.is_spam = k == 0;
        c.count = 0;
        for (int i = 0; i < (k == 0 ? l.nspam : l.nham); i++)
            walk(&r, k == 0 ? l.spam[i] : l.ham[i], 0, train_cb, &c);
        counts[k] = c.count;
    }
    char err[256];
    int rc = 0;
    if (!counts[0] || !counts[1]) {
        fprintf(stderr, "envoi spam train: need at least one spam and one ham message\n");
        rc = 1;
    } else if (bayes_train_write(c.tr, out, min_count, err, sizeof err) < 0) {
        fprintf(stderr, "envoi spam train: %s\n", err);
        rc = 1;
    } else {
        struct bayes_db *db = bayes_db_open(out, err, sizeof err);
        uint64_t ntok = 0;
        if (db)
            bayes_db_info(db, NULL, NULL, &ntok, NULL);
        bayes_db_close(db);
        printf("trained spam=%u ham=%u tokens=%llu skipped=%u seconds=%.2f -> %s\n", counts[0], counts[1],
               (unsigned long long)ntok, r.skipped, now() - t0, out);
    }
    bayes_train_free(c.tr);
    free(r.buf);
    return rc;
}

/* ---- classify / eval ---- */

struct item {
    double score;
    unsigned char spam, verdict;
};

struct cls_ctx {
    const struct bayes_db *db;
    struct bayes_params p;
    struct bayes_tok *tok;
    int print;          /* classify: one line per message */
    int is_spam;
    FILE *scores;
    struct item *items;
    size_t n, cap;
};

static void classify_cb(void *arg, const char *label, const char *msg, size_t len)
{
    struct cls_ctx *c = arg;
    struct bayes_result res;
    bayes_tok_message(c->tok, msg, len);
    bayes_score(c->db, &c->p, c->tok, &res);
    if (c->print)
        printf("%s %s %.6f\n", label, bayes_verdict_word(res.verdict), res.score);
    if (c->scores)
        fprintf(c->scores, "%s %s %s %.17g\n", c->is_spam ? "spam" : "ham", label, bayes_verdict_word(res.verdict),
                res.score);
    if (c->print)
        return;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        struct item *ni = realloc(c->items, ncap * sizeof *ni);
        if (!ni)
            return;
        c->items = ni;
        c->cap = ncap;
    }
    c->items[c->n++] = (struct item){res.score, (unsigned char)c->is_spam, (unsigned char)res.verdict};
}

static int by_score(const void *a, const void *b)
{
    double x = ((const struct item *)a)->score, y = ((const struct item *)b)->score;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Area under the ROC curve: the chance that a random spam scores above a
 * random ham (ties count half), from ranks. */
static double auc(struct item *it, size_t n, size_t nspam, size_t nham)
{
    if (!nspam || !nham)
        return 0;
    qsort(it, n, sizeof *it, by_score);
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && it[j].score == it[i].score)
            j++;
        double r = (double)(i + 1 + j) / 2; /* average rank of the tie group */
        for (size_t k = i; k < j; k++)
            if (it[k].spam)
                rank_sum += r;
        i = j;
    }
    return (rank_sum - (double)nspam * (nspam + 1) / 2) / ((double)nspam * nham);
}

static int open_db(struct cls_ctx *c, const char *path, struct bayes_db **db)
{
    char err[256];
    *db = bayes_db_open(path, err, sizeof err);
    if (!*db) {
        fprintf(stderr, "envoi spam: database %s: %s (verdicts will be unknown)\n", path, err);
        c->tok = bayes_tok_new(BAYES_TOK_DEFAULT);
        return -1;
    }
    unsigned flags;
    bayes_db_info(*db, NULL, NULL, NULL, &flags);
    c->db = *db;
    c->tok = bayes_tok_new(flags);
    return 0;
}

static int spam_classify(int argc, char **argv)
{
    struct cls_ctx c = {0};
    const char *dbpath = NULL;
    const char **msgs = calloc((size_t)argc, sizeof *msgs); /* paths point into argv */
    int nmsgs = 0;
    if (!msgs)
        return 1;
    bayes_params_default(&c.p);
    for (int i = 1; i < argc; i++) {
        int k = score_flag(&c.p, argc, argv, &i);
        if (k < 0)
            return free(msgs), usage();
        if (k)
            continue;
        if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
            dbpath = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return free(msgs), usage();
        else
            msgs[nmsgs++] = argv[i];
    }
    if (!dbpath || !nmsgs)
        return free(msgs), usage();
    struct bayes_db *db;
    int dbok = open_db(&c, dbpath, &db);
    struct reader r = {0};
    c.print = 1;
    for (int i = 0; i < nmsgs; i++)
        walk(&r, msgs[i], 0, classify_cb, &c);
    bayes_tok_free(c.tok);
    bayes_db_close(db);
    free(r.buf);
    free(msgs);
    return dbok < 0 || r.skipped ? 1 : 0;
}

static int spam_eval_lists(int argc, char **argv, struct lists *lp);

static int spam_eval(int argc, char **argv)
{
    struct lists l;
    if (lists_init(&l, argc) < 0)
        return 1;
    int rc = spam_eval_lists(argc, argv, &l);
    lists_free(&l);
    return rc;
}

static int spam_eval_lists(int argc, char **argv, struct lists *lp)
{
    struct cls_ctx c = {0};
    struct lists l = *lp;
    const char *dbpath = NULL, *scores = NULL;
    int which = 0;
    bayes_params_default(&c.p);
    for (int i = 1; i < argc; i++) {
        int k = score_flag(&c.p, argc, argv, &i);
        if (k < 0)
            return usage();
        if (k) {
            which = 0;
            continue;
        }
        if (strcmp(argv[i], "--spam") == 0)
            which = 1;
        else if (strcmp(argv[i], "--ham") == 0)
            which = 2;
        else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
            dbpath = argv[++i], which = 0;
        else if (strcmp(argv[i], "--scores") == 0 && i + 1 < argc)
            scores = argv[++i], which = 0;
        else if (argv[i][0] == '-' || add_path(&l, which, argv[i]) < 0)
            return usage();
    }
    if (!dbpath || (!l.nspam && !l.nham))
        return usage();
    struct bayes_db *db;
    if (open_db(&c, dbpath, &db) < 0) {
        bayes_tok_free(c.tok);
        return 1;
    }
    if (scores && !(c.scores = fopen(scores, "w"))) {
        fprintf(stderr, "envoi spam eval: cannot write %s\n", scores);
        return 1;
    }
    struct reader r = {0};
    double t0 = now();
    for (int k = 0; k < 2; k++) {
        c.is_spam = k == 0;
        for (int i = 0; i < (k == 0 ? l.nspam : l.nham); i++)
            walk(&r, k == 0 ? l.spam[i] : l.ham[i], 0, classify_cb, &c);
    }
    double secs = now() - t0;
    size_t nspam = 0, nham = 0, fp = 0, caught = 0, unknown = 0, hunk = 0, missed = 0;
    for (size_t i = 0; i < c.n; i++) {
        struct item *it = &c.items[i];
        if (it->spam) {
            nspam++;
            caught += it->verdict == BAYES_SPAM;
            missed += it->verdict == BAYES_HAM;
        } else {
            nham++;
            fp += it->verdict == BAYES_SPAM;
            hunk += it->verdict == BAYES_UNKNOWN;
        }
        unknown += it->verdict == BAYES_UNKNOWN;
    }
#define RATE(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)
    printf("messages %zu spam %zu ham %zu\n", c.n, nspam, nham);
    printf("ham_false_positive_rate %.6f %zu/%zu\n", RATE(fp, nham), fp, nham);
    printf("spam_caught %.6f %zu/%zu\n", RATE(caught, nspam), caught, nspam);
    printf("spam_missed_as_ham %.6f %zu/%zu\n", RATE(missed, nspam), missed, nspam);
    printf("unknown_rate %.6f %zu/%zu\n", RATE(unknown, c.n), unknown, c.n);
    printf("ham_unknown_rate %.6f %zu/%zu\n", RATE(hunk, nham), hunk, nham);
    printf("auc %.6f\n", auc(c.items, c.n, nspam, nham));
    printf("messages_per_second %.0f\n", secs > 0 ? (double)c.n / secs : 0.0);
    if (c.scores)
        fclose(c.scores);
    free(c.items);
    bayes_tok_free(c.tok);
    bayes_db_close(db);
    free(r.buf);
    return 0;
}

static void tokens_dbg_cb(void *arg, const char *tok, size_t len)
{
    (void)arg;
    printf("%.*s\n", (int)len, tok);
}

static void tokens_cb(void *arg, const char *label, const char *msg, size_t len)
{
    printf("# %s\n", label);
    bayes_tok_message(arg, msg, len);
}

static int spam_tokens(int argc, char **argv)
{
    unsigned flags = BAYES_TOK_DEFAULT;
    struct reader r = {0};
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--tokens") == 0)
        flags = parse_tokens(argv[2]), first = 3;
    struct bayes_tok *t = bayes_tok_new(flags);
    if (!t)
        return 1;
    bayes_tok_set_debug(t, tokens_dbg_cb, NULL);
    for (int i = first; i < argc; i++)
        walk(&r, argv[i], 0, tokens_cb, t);
    bayes_tok_free(t);
    free(r.buf);
    return 0;
}

int cmd_spam(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "train") == 0)
        return spam_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "classify") == 0)
        return spam_classify(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0)
        return spam_eval(argc - 1, argv + 1);
    if (strcmp(argv[1], "tokens") == 0)
        return spam_tokens(argc - 1, argv + 1);
    return usage();
}
