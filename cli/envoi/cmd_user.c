/* envoi user: add / passwd / del / list users in the configuration
 * repository (users/<local>.json, see shared/userdb.h). Each change is a
 * fresh clone into a temporary directory, one commit and a push; when the
 * push is rejected because someone else pushed first, the change is re-applied
 * on the new head and pushed again. */
#include "cmds.h"

#include "gitdb.h"
#include "userdb.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <git2.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <termios.h>
#include <unistd.h>

#define USER_CLI_RETRIES 5      /* pushes tried when others push concurrently */
#define USER_CLI_PASS_MAX 1024  /* a password typed or piped in */
#define USER_CLI_TIMEOUT_S "60"  /* default --timeout: the whole clone, commit and push */
#define USER_CLI_TIMEOUT_MAX 86400
#define USER_CLI_HARD_TICKS 5    /* interruptions after the deadline before we just exit */

struct user_cli {
    const char *verb, *name, *remote, *password, *hash, *timeout;
    int pw_stdin;
    const char *targets[USERDB_LIST_MAX], *aliases[USERDB_LIST_MAX];
    int ntargets, naliases;
    char local[USERDB_LOCAL_MAX + 1];
    char stored[USERDB_PASS_MAX];   /* the hash to write */
    char shown[1024];               /* the remote in messages: no password */
};

static void user_usage(void)
{
    fprintf(stderr,
            "usage: envoi user add NAME --remote URL [--password P | --password-stdin] [--hash argon2id|blake2b]\n"
            "                          [--target ADDR]... [--alias ADDR]...\n"
            "       envoi user passwd NAME --remote URL [--password P | --password-stdin] [--hash argon2id|blake2b]\n"
            "       envoi user del NAME --remote URL\n"
            "       envoi user list --remote URL\n"
            "Every form takes --timeout S (default " USER_CLI_TIMEOUT_S "): the longest wait for the remote.\n"
            "NAME is the local part (alice) or the address (alice@example.test); URL is the configuration\n"
            "repository (file://, ssh://, https://, git://; URL#branch for a branch other than the default);\n"
            "ENVOI_REMOTE is used when --remote is absent. Without --password(-stdin) the password is asked\n"
            "on the terminal.\n");
}

static int user_parse(struct user_cli *c, int argc, char **argv)
{
    if (argc < 2) {
        user_usage();
        return -1;
    }
    c->verb = argv[1];
    c->hash = "argon2id";
    c->timeout = USER_CLI_TIMEOUT_S;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--password-stdin")) {
            c->pw_stdin = 1;
            continue;
        }
        if (a[0] != '-' && !c->name) {
            c->name = a;
            continue;
        }
        if (!strcmp(a, "--remote") && v)
            c->remote = v;
        else if (!strcmp(a, "--password") && v)
            c->password = v;
        else if (!strcmp(a, "--hash") && v)
            c->hash = v;
        else if (!strcmp(a, "--timeout") && v)
            c->timeout = v;
        else if (!strcmp(a, "--target") && v && c->ntargets < USERDB_LIST_MAX)
            c->targets[c->ntargets++] = v;
        else if (!strcmp(a, "--alias") && v && c->naliases < USERDB_LIST_MAX)
            c->aliases[c->naliases++] = v;
        else {
            fprintf(stderr, "envoi user: bad or incomplete argument %s\n", a);
            user_usage();
            return -1;
        }
        i++;
    }
    int needs_name = strcmp(c->verb, "list") != 0;
    if (strcmp(c->verb, "add") && strcmp(c->verb, "passwd") && strcmp(c->verb, "del") && strcmp(c->verb, "list")) {
        fprintf(stderr, "envoi user: unknown command %s\n", c->verb);
        user_usage();
        return -1;
    }
    if (!c->remote || !*c->remote)
        c->remote = getenv("ENVOI_REMOTE");
    if (!c->remote || !*c->remote) {
        fprintf(stderr, "envoi user: --remote URL is required (the configuration repository; or set ENVOI_REMOTE)\n");
        return -1;
    }
    gitdb_url_shown(c->remote, c->shown, sizeof c->shown);
    const char *domain;
    if (needs_name && (!c->name || userdb_login_split(c->name, c->local, &domain) < 0)) {
        fprintf(stderr, "envoi user %s: %s: a user name is 1-64 of [a-z0-9._+-] (or name@domain)\n", c->verb,
                c->name ? c->name : "missing NAME");
        return -1;
    }
    if (strcmp(c->hash, "argon2id") && strcmp(c->hash, "blake2b")) {
        fprintf(stderr, "envoi user: --hash is argon2id (default) or blake2b\n");
        return -1;
    }
    char *end;
    long t = strtol(c->timeout, &end, 10);
    if (*end || t <= 0 || t > USER_CLI_TIMEOUT_MAX) {
        fprintf(stderr, "envoi user: --timeout is a number of seconds, 1-%d\n", USER_CLI_TIMEOUT_MAX);
        return -1;
    }
    if (c->password && c->pw_stdin) {
        fprintf(stderr, "envoi user: --password and --password-stdin exclude each other\n");
        return -1;
    }
    return 0;
}

/* Reads one line from f, without its line end. -1 when empty or too long. */
static int user_read_line(FILE *f, char *buf, size_t size)
{
    if (!fgets(buf, (int)size, f))
        return -1;
    size_t n = strlen(buf);
    if (n == size - 1 && buf[n - 1] != '\n')
        return -1;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return n ? 0 : -1;
}

/* Asks on the terminal with echo off, twice. */
static int user_prompt(char *buf, size_t size)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return -1;
    struct termios old, quiet;
    int fd = fileno(tty), rc = -1;
    char again[USER_CLI_PASS_MAX];
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
        fputs("Password: ", tty);
        fflush(tty);
        rc = user_read_line(tty, buf, size);
        fputs("\nAgain: ", tty);
        fflush(tty);
        if (rc == 0 && (user_read_line(tty, again, sizeof again) < 0 || strcmp(buf, again)))
            rc = -2;
        fputs("\n", tty);
        tcsetattr(fd, TCSAFLUSH, &old);
    }
    sodium_memzero(again, sizeof again);
    fclose(tty);
    return rc;
}

static int user_hash(struct user_cli *c)
{
    char pw[USER_CLI_PASS_MAX];
    int rc = 0;
    if (c->password)
        rc = snprintf(pw, sizeof pw, "%s", c->password) > 0 && strlen(c->password) < sizeof pw ? 0 : -1;
    else if (c->pw_stdin)
        rc = user_read_line(stdin, pw, sizeof pw);
    else if ((rc = user_prompt(pw, sizeof pw)) == -2)
        fprintf(stderr, "envoi user: the passwords differ\n");
    if (rc < 0) {
        if (rc == -1)
            fprintf(stderr, "envoi user: no password (give --password P, --password-stdin, or use a terminal)\n");
        sodium_memzero(pw, sizeof pw);
        return -1;
    }
    if (!strcmp(c->hash, "blake2b"))
        rc = userdb_hash_blake2b(pw, strlen(pw), c->stored);
    else
        rc = userdb_hash_argon2id(pw, strlen(pw), c->stored, sizeof c->stored);
    sodium_memzero(pw, sizeof pw);
    if (rc < 0)
        fprintf(stderr, "envoi user: cannot hash the password (out of memory?)\n");
    return rc;
}

static json_t *user_array(const char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The new text of users/<local>.json, or NULL after saying why. */
static char *user_document(struct user_cli *c, const char *path)
{
    json_error_t je;
    json_t *root = NULL;
    FILE *f = fopen(path, "r");
    if (f) {
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
        fclose(f);
        if (!strcmp(c->verb, "add")) {
            fprintf(stderr, "envoi user add: %s already exists (use passwd to change the password)\n", c->local);
            json_decref(root);
            return NULL;
        }
        if (!json_is_object(root)) {
            fprintf(stderr, "envoi user passwd: users/%s.json is not a JSON object\n", c->local);
            json_decref(root);
            return NULL;
        }
    } else if (strcmp(c->verb, "add")) {
        fprintf(stderr, "envoi user %s: no user %s in %s\n", c->verb, c->local, c->shown);
        return NULL;
    } else {
        /* Key order as the reference system wrote them; unknown keys of an
         * existing file are kept by passwd. */
        root = json_object();
        json_object_set_new(root, "targets", user_array(c->targets, c->ntargets));
        json_object_set_new(root, "aliases", user_array(c->aliases, c->naliases));
    }
    json_object_set_new(root, "password", json_string(c->stored));
    char *body = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    char *text = NULL;
    if (body && asprintf(&text, "%s\n", body) < 0)
        text = NULL;
    free(body);
    /* What we push must be what the services accept. */
    struct userdb_user u;
    char err[256];
    if (text && userdb_parse_user(c->local, text, strlen(text), &u, err, sizeof err) < 0) {
        fprintf(stderr, "envoi user %s: %s\n", c->verb, err);
        free(text);
        return NULL;
    }
    userdb_user_free(&u);
    return text;
}

static int user_list(struct gitdb *db)
{
    int skipped = 0;
    char err[512];
    struct userdb *u = userdb_load(gitdb_workdir(db), &skipped, err, sizeof err);
    if (!u) {
        fprintf(stderr, "envoi user list: %s\n", err);
        return 1;
    }
    static const char *const kinds[] = {"none", "blake2b", "argon2id", "bad"};
    for (int i = 0; i < userdb_count(u); i++) {
        const struct userdb_user *x = userdb_at(u, i);
        printf("%s password=%s targets=", x->local, kinds[userdb_password_kind(x->password)]);
        for (int j = 0; j < x->ntargets; j++)
            printf("%s%s", j ? "," : "", x->targets[j]);
        printf(" aliases=");
        for (int j = 0; j < x->naliases; j++)
            printf("%s%s", j ? "," : "", x->aliases[j]);
        printf("\n");
    }
    if (skipped)
        fprintf(stderr, "envoi user list: %d file(s) under users/ do not parse (see above)\n", skipped);
    userdb_free(u);
    return 0;
}

/* One attempt at the change on the current head: 0 committed, 1 error said. */
static int user_apply(struct user_cli *c, struct gitdb *db)
{
    char path[USERDB_LOCAL_MAX + 16], full[8192], msg[256];
    snprintf(path, sizeof path, "users/%s.json", c->local);
    snprintf(full, sizeof full, "%s%s", gitdb_workdir(db), path);
    const char *who = getenv("USER") ? getenv("USER") : "envoi";
    snprintf(msg, sizeof msg, "envoi user %s %s\n", c->verb, c->local);
    int rc;
    if (!strcmp(c->verb, "del")) {
        if (access(full, F_OK) < 0) {
            fprintf(stderr, "envoi user del: no user %s in %s\n", c->local, c->shown);
            return 1;
        }
        rc = gitdb_remove_file(db, path, who, "envoi@localhost", msg);
    } else {
        char *text = user_document(c, full);
        if (!text)
            return 1;
        rc = gitdb_commit_file(db, path, text, strlen(text), who, "envoi@localhost", msg);
        free(text);
    }
    if (rc < 0) {
        fprintf(stderr, "envoi user %s: %s\n", c->verb, gitdb_error(db));
        return 1;
    }
    return 0;
}

/* A clone of an empty remote leaves HEAD on libgit2's default branch, which
 * may not be the branch gitdb pushes: point the unborn HEAD at it. */
static void user_fix_unborn(const char *dir, const char *branch)
{
    git_repository *r = NULL;
    if (git_repository_open(&r, dir) < 0)
        return;
    if (git_repository_head_unborn(r) == 1) {
        char ref[300];
        snprintf(ref, sizeof ref, "refs/heads/%s", branch);
        git_repository_set_head(r, ref);
    }
    git_repository_free(r);
}

/* libgit2 1.5 has no network timeout: a remote that accepts and then says
 * nothing would hold us for ever. Past the deadline SIGALRM comes every
 * second without SA_RESTART, so the blocked read fails with EINTR and the
 * normal error path (which removes the temporary clone) runs; if the
 * interruptions are not heard, we exit from the handler. */
static volatile sig_atomic_t user_ticks;

static void user_alarm_cb(int sig)
{
    (void)sig;
    if (++user_ticks > USER_CLI_HARD_TICKS) {
        static const char m[] = "envoi user: the configuration repository does not answer; giving up\n";
        ssize_t w = write(2, m, sizeof m - 1);
        (void)w;
        _exit(1);
    }
}

static void user_deadline(long seconds)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = user_alarm_cb;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_interval = {1, 0}, .it_value = {seconds, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* After a failure: says so when the deadline, not the remote, ended it. */
static void user_said_timeout(const struct user_cli *c)
{
    if (user_ticks)
        fprintf(stderr, "envoi user: no answer from %s within %s s (--timeout)\n", c->shown, c->timeout);
}

static int user_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

int cmd_user(int argc, char **argv)
{
    struct user_cli c = {0};
    if (user_parse(&c, argc, argv) < 0)
        return 2;
    if ((!strcmp(c.verb, "add") || !strcmp(c.verb, "passwd")) && user_hash(&c) < 0)
        return 1;
    char tmp[] = "/tmp/envoi-user.XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "envoi user: temporary directory: %s\n", strerror(errno));
        return 1;
    }
    char dir[sizeof tmp + 8], err[512];
    user_deadline(strtol(c.timeout, NULL, 10));
    snprintf(dir, sizeof dir, "%s/repo", tmp);
    struct gitdb_opts o = {.remote = c.remote, .dir = dir, .ssh_key = getenv("ENVOI_SSH_KEY")};
    struct gitdb *db = gitdb_open(&o, err, sizeof err);
    int rc = 1;
    if (!db) {
        fprintf(stderr, "envoi user: cannot clone the configuration repository %s: %s\n", c.shown, err);
    } else if ((user_fix_unborn(dir, gitdb_branch(db)), !strcmp(c.verb, "list"))) {
        rc = user_list(db);
    } else {
        for (int attempt = 0; attempt < USER_CLI_RETRIES; attempt++) {
            int changed;
            if (attempt && gitdb_pull(db, &changed) < 0) {
                fprintf(stderr, "envoi user: pull %s: %s\n", c.shown, gitdb_error(db));
                break;
            }
            if (user_apply(&c, db))
                break;
            int p = gitdb_push(db);
            if (p == 0) {
                char head[41];
                gitdb_head(db, head);
                printf("envoi user %s %s: pushed %.12s to %s\n", c.verb, c.local, head, c.shown);
                rc = 0;
                break;
            }
            if (p != GITDB_REJECTED) {
                fprintf(stderr, "envoi user: cannot push to %s: %s\n", c.shown, gitdb_error(db));
                break;
            }
            fprintf(stderr, "envoi user: %s moved while we worked; trying again\n", c.shown);
        }
    }
    if (rc)
        user_said_timeout(&c);
    setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
    gitdb_close(db);
    sodium_memzero(c.stored, sizeof c.stored);
    nftw(tmp, user_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
