/* gitdb: libgit2 clone / pull / commit / push for the config repository.
 * See gitdb.h for the contract. The pull is a fetch followed by a hard reset
 * to the remote branch, never a merge: the remote is the source of truth. */
#include "gitdb.h"

#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GITDB_ERR_MAX 512
#define GITDB_BRANCH_MAX 200
#define GITDB_URL_MAX 2048
#define GITDB_DEFAULT_BRANCH "main"

struct gitdb {
    git_repository *repo;
    char url[GITDB_URL_MAX];
    char branch[GITDB_BRANCH_MAX];
    char workdir[4096];
    char ssh_key[1024], ssh_pubkey[1024], ssh_pass[256];
    char err[GITDB_ERR_MAX];
    int rejected; /* set by push_update_cb */
};

/* The password in url's user part: its start and length (0 when none). */
static size_t gitdb_url_secret(const char *url, const char **secret)
{
    const char *auth = strstr(url, "://");
    if (!auth)
        return 0;
    auth += 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++) /* the last '@': a password may hold one */
        if (auth[i] == '@')
            at = auth + i;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon || colon + 1 == at)
        return 0;
    *secret = colon + 1;
    return (size_t)(at - colon - 1);
}

const char *gitdb_url_shown(const char *url, char *out, size_t outsz)
{
    const char *secret;
    size_t n = gitdb_url_secret(url, &secret);
    if (n)
        snprintf(out, outsz, "%.*s***%s", (int)(secret - url), url, secret + n);
    else
        snprintf(out, outsz, "%s", url);
    return out;
}

/* libgit2 quotes the URL in some messages (e.g. "malformed URL '...'"):
 * the password in it must not reach a log or a terminal. */
static void gitdb_scrub(struct gitdb *db)
{
    const char *secret;
    size_t n = gitdb_url_secret(db->url, &secret);
    if (!n)
        return;
    char pw[GITDB_URL_MAX], *p, *from = db->err;
    snprintf(pw, sizeof pw, "%.*s", (int)n, secret);
    while ((p = strstr(from, pw))) {
        if (n >= 3) { /* in place: "***" is not longer than what it hides */
            memmove(p + 3, p + n, strlen(p + n) + 1);
            memcpy(p, "***", 3);
            from = p + 3;
        } else {
            memset(p, '*', n);
            from = p + n;
        }
    }
}

static void gitdb_set_err(struct gitdb *db, const char *what, int rc)
{
    const git_error *e = git_error_last();
    snprintf(db->err, sizeof db->err, "%s: %s (%d)", what, e && e->message ? e->message : "failed",
             rc);
    gitdb_scrub(db);
}

static int gitdb_cred_cb(git_credential **out, const char *url, const char *user_from_url,
                         unsigned int allowed, void *payload)
{
    struct gitdb *db = payload;
    const char *user = user_from_url ? user_from_url : "git";
    if ((allowed & GIT_CREDENTIAL_SSH_KEY) && db->ssh_key[0])
        return git_credential_ssh_key_new(out, user, db->ssh_pubkey[0] ? db->ssh_pubkey : NULL,
                                          db->ssh_key, db->ssh_pass[0] ? db->ssh_pass : NULL);
    if (allowed & GIT_CREDENTIAL_USERNAME)
        return git_credential_username_new(out, user);
    return GIT_PASSTHROUGH;
}

static void gitdb_callbacks(struct gitdb *db, git_remote_callbacks *cb)
{
    git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
    cb->credentials = gitdb_cred_cb;
    cb->payload = db;
}

static void gitdb_copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* Learns the branch from HEAD after a clone when none was given. */
static void gitdb_learn_branch(struct gitdb *db)
{
    git_reference *head = NULL;
    if (git_repository_head(&head, db->repo) == 0) {
        gitdb_copy(db->branch, sizeof db->branch, git_reference_shorthand(head));
        git_reference_free(head);
    } else {
        gitdb_copy(db->branch, sizeof db->branch, GITDB_DEFAULT_BRANCH);
    }
}

struct gitdb *gitdb_open(const struct gitdb_opts *o, char *err, size_t errsz)
{
    git_libgit2_init();
    struct gitdb *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    gitdb_copy(db->url, sizeof db->url, o->remote);
    char *hash = strchr(db->url, '#');
    if (hash) {
        *hash = '\0';
        gitdb_copy(db->branch, sizeof db->branch, hash + 1);
    }
    gitdb_copy(db->ssh_key, sizeof db->ssh_key, o->ssh_key);
    gitdb_copy(db->ssh_pubkey, sizeof db->ssh_pubkey, o->ssh_pubkey);
    gitdb_copy(db->ssh_pass, sizeof db->ssh_pass, o->ssh_pass);

    struct stat st;
    char gitdir[4200];
    snprintf(gitdir, sizeof gitdir, "%s/.git", o->dir);
    int rc;
    if (stat(gitdir, &st) == 0) {
        rc = git_repository_open(&db->repo, o->dir);
        if (rc == 0) {
            /* The remote URL may have changed between runs: follow the flag. */
            git_remote_set_url(db->repo, "origin", db->url);
        }
    } else {
        git_clone_options co;
        git_clone_options_init(&co, GIT_CLONE_OPTIONS_VERSION);
        gitdb_callbacks(db, &co.fetch_opts.callbacks);
        if (db->branch[0])
            co.checkout_branch = db->branch;
        rc = git_clone(&db->repo, db->url, o->dir, &co);
        if (rc == GIT_ENOTFOUND && db->branch[0]) {
            /* An empty remote has no branch yet: clone it as it is and let
             * the first commit start ours. A remote with commits but not
             * this branch is an error (a typo must not fork the config). */
            char why[GITDB_ERR_MAX];
            gitdb_set_err(db, "open", rc);
            memcpy(why, db->err, sizeof why);
            co.checkout_branch = NULL;
            rc = git_clone(&db->repo, db->url, o->dir, &co);
            char ref[GITDB_BRANCH_MAX + 16];
            snprintf(ref, sizeof ref, "refs/heads/%s", db->branch);
            if (rc == 0 && git_repository_is_empty(db->repo) == 1) {
                rc = git_repository_set_head(db->repo, ref);
            } else if (rc == 0) {
                /* libgit2 1.5 also fails so when the remote's HEAD names a
                 * branch that does not exist: a pull finds ours if it is there. */
                git_oid oid;
                int changed;
                if (gitdb_pull(db, &changed) < 0 || git_reference_name_to_id(&oid, db->repo, ref) < 0) {
                    snprintf(err, errsz, "no branch %s in the remote (%s)", db->branch, why);
                    gitdb_close(db);
                    return NULL;
                }
            }
        }
    }
    if (rc < 0) {
        gitdb_set_err(db, "open", rc);
        snprintf(err, errsz, "%s", db->err);
        gitdb_close(db);
        return NULL;
    }
    if (!db->branch[0])
        gitdb_learn_branch(db);
    const char *wd = git_repository_workdir(db->repo);
    gitdb_copy(db->workdir, sizeof db->workdir, wd ? wd : o->dir);
    return db;
}

void gitdb_close(struct gitdb *db)
{
    if (!db)
        return;
    if (db->repo)
        git_repository_free(db->repo);
    free(db);
    git_libgit2_shutdown();
}

const char *gitdb_workdir(const struct gitdb *db) { return db->workdir; }
const char *gitdb_branch(const struct gitdb *db) { return db->branch; }
const char *gitdb_error(const struct gitdb *db) { return db->err; }

void gitdb_head(struct gitdb *db, char out[41])
{
    git_oid oid;
    out[0] = '\0';
    if (git_reference_name_to_id(&oid, db->repo, "HEAD") == 0)
        git_oid_tostr(out, 41, &oid);
}

int gitdb_pull(struct gitdb *db, int *changed)
{
    *changed = 0;
    git_remote *remote = NULL;
    int rc = git_remote_lookup(&remote, db->repo, "origin");
    if (rc < 0) {
        gitdb_set_err(db, "remote", rc);
        return -1;
    }
    char spec[2 * GITDB_BRANCH_MAX + 64];
    snprintf(spec, sizeof spec, "+refs/heads/%s:refs/remotes/origin/%s", db->branch, db->branch);
    char *specs[] = {spec};
    git_strarray refspecs = {specs, 1};
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    gitdb_callbacks(db, &fo.callbacks);
    rc = git_remote_fetch(remote, &refspecs, &fo, "gitdb pull");
    git_remote_free(remote);
    if (rc < 0) {
        gitdb_set_err(db, "fetch", rc);
        return -1;
    }
    char rname[GITDB_BRANCH_MAX + 32];
    snprintf(rname, sizeof rname, "refs/remotes/origin/%s", db->branch);
    git_oid theirs, ours;
    if (git_reference_name_to_id(&theirs, db->repo, rname) < 0)
        return 0; /* the remote branch does not exist yet: nothing to follow */
    int have_ours = git_reference_name_to_id(&ours, db->repo, "HEAD") == 0;
    if (have_ours && git_oid_equal(&ours, &theirs))
        return 0;

    git_object *target = NULL;
    git_reference *ref = NULL;
    char lname[GITDB_BRANCH_MAX + 32];
    snprintf(lname, sizeof lname, "refs/heads/%s", db->branch);
    rc = git_object_lookup(&target, db->repo, &theirs, GIT_OBJECT_COMMIT);
    if (rc == 0)
        rc = git_reference_create(&ref, db->repo, lname, &theirs, 1, "gitdb pull");
    if (rc == 0)
        rc = git_repository_set_head(db->repo, lname);
    if (rc == 0) {
        git_checkout_options co;
        git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
        co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
        rc = git_reset(db->repo, target, GIT_RESET_HARD, &co);
    }
    git_reference_free(ref);
    git_object_free(target);
    if (rc < 0) {
        gitdb_set_err(db, "reset", rc);
        return -1;
    }
    *changed = 1;
    return 0;
}

/* Creates the parent directories of workdir/path. */
static int gitdb_mkdirs(const char *full)
{
    char tmp[4608];
    snprintf(tmp, sizeof tmp, "%s", full);
    for (char *p = strchr(tmp + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static int gitdb_safe_path(const char *path)
{
    return path[0] && path[0] != '/' && !strstr(path, "..") && strncmp(path, ".git", 4) != 0;
}

/* Commits the current index on top of HEAD. */
static int gitdb_commit_index(struct gitdb *db, git_index *idx, const char *name,
                              const char *email, const char *message)
{
    git_oid tree_oid, commit_oid, parent_oid;
    git_tree *tree = NULL;
    git_commit *parent = NULL;
    git_signature *author = NULL, *committer = NULL;
    int rc = git_index_write(idx);
    if (rc == 0)
        rc = git_index_write_tree(&tree_oid, idx);
    if (rc == 0)
        rc = git_tree_lookup(&tree, db->repo, &tree_oid);
    if (rc == 0)
        rc = git_signature_now(&author, name, email);
    if (rc == 0)
        rc = git_signature_now(&committer, "envoi", "envoi@localhost");
    int have_parent = 0;
    if (rc == 0 && git_reference_name_to_id(&parent_oid, db->repo, "HEAD") == 0) {
        rc = git_commit_lookup(&parent, db->repo, &parent_oid);
        have_parent = rc == 0;
    }
    if (rc == 0) {
        const git_commit *parents[1] = {parent};
        rc = git_commit_create(&commit_oid, db->repo, "HEAD", author, committer, NULL, message,
                               tree, have_parent ? 1 : 0, parents);
    }
    if (rc < 0)
        gitdb_set_err(db, "commit", rc);
    git_signature_free(author);
    git_signature_free(committer);
    git_commit_free(parent);
    git_tree_free(tree);
    return rc < 0 ? -1 : 0;
}

int gitdb_commit_file(struct gitdb *db, const char *path, const void *data, size_t len,
                      const char *author_name, const char *author_email, const char *message)
{
    if (!gitdb_safe_path(path)) {
        snprintf(db->err, sizeof db->err, "commit: unsafe path %s", path);
        return -1;
    }
    char full[4608], tmp[4640];
    snprintf(full, sizeof full, "%s%s", db->workdir, path);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", full, (long)getpid());
    if (gitdb_mkdirs(full) < 0) {
        snprintf(db->err, sizeof db->err, "commit: mkdir: %s", strerror(errno));
        return -1;
    }
    /* Written aside then renamed, so a reader never sees half a file. */
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0 || rename(tmp, full) < 0) {
        snprintf(db->err, sizeof db->err, "commit: write %s: %s", path, strerror(errno));
        if (f)
            unlink(tmp);
        return -1;
    }
    git_index *idx = NULL;
    int rc = git_repository_index(&idx, db->repo);
    if (rc == 0)
        rc = git_index_add_bypath(idx, path);
    if (rc < 0) {
        gitdb_set_err(db, "index", rc);
        git_index_free(idx);
        return -1;
    }
    rc = gitdb_commit_index(db, idx, author_name, author_email, message);
    git_index_free(idx);
    return rc;
}

int gitdb_remove_file(struct gitdb *db, const char *path, const char *author_name,
                      const char *author_email, const char *message)
{
    if (!gitdb_safe_path(path)) {
        snprintf(db->err, sizeof db->err, "remove: unsafe path %s", path);
        return -1;
    }
    git_index *idx = NULL;
    int rc = git_repository_index(&idx, db->repo);
    if (rc == 0 && !git_index_get_bypath(idx, path, 0)) {
        snprintf(db->err, sizeof db->err, "remove: %s is not tracked", path);
        git_index_free(idx);
        return -1;
    }
    if (rc == 0)
        rc = git_index_remove_bypath(idx, path);
    if (rc < 0) {
        gitdb_set_err(db, "index", rc);
        git_index_free(idx);
        return -1;
    }
    char full[4608];
    snprintf(full, sizeof full, "%s%s", db->workdir, path);
    unlink(full);
    rc = gitdb_commit_index(db, idx, author_name, author_email, message);
    git_index_free(idx);
    return rc;
}

static int gitdb_push_update_cb(const char *refname, const char *status, void *data)
{
    struct gitdb *db = data;
    if (status) {
        db->rejected = 1;
        snprintf(db->err, sizeof db->err, "push: %s rejected: %s", refname, status);
    }
    return 0;
}

int gitdb_push(struct gitdb *db)
{
    git_remote *remote = NULL;
    int rc = git_remote_lookup(&remote, db->repo, "origin");
    if (rc < 0) {
        gitdb_set_err(db, "remote", rc);
        return -1;
    }
    char spec[2 * GITDB_BRANCH_MAX + 32];
    snprintf(spec, sizeof spec, "refs/heads/%s:refs/heads/%s", db->branch, db->branch);
    char *specs[] = {spec};
    git_strarray refspecs = {specs, 1};
    git_push_options po;
    git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
    gitdb_callbacks(db, &po.callbacks);
    po.callbacks.push_update_reference = gitdb_push_update_cb;
    db->rejected = 0;
    rc = git_remote_push(remote, &refspecs, &po);
    git_remote_free(remote);
    if (rc == GIT_ENONFASTFORWARD || rc == GIT_EMISMATCH) {
        gitdb_set_err(db, "push rejected", rc);
        return GITDB_REJECTED;
    }
    if (rc < 0) {
        gitdb_set_err(db, "push", rc);
        /* Some transports report a non-fast-forward only as text. */
        if (strstr(db->err, "fast-forward") || strstr(db->err, "fastforward"))
            return GITDB_REJECTED;
        return -1;
    }
    return db->rejected ? GITDB_REJECTED : 0;
}
