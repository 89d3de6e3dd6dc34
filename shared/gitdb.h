/* gitdb: a small git-backed database on libgit2 (zones for dns-primary,
 * users/<name>.json for submission and relay).
 *
 * A gitdb is one local clone of a remote (file://, git://, https, ssh) that
 * tracks one branch. The working tree always equals the remote branch head
 * after gitdb_pull(); local writes are commits on top of it that the caller
 * pushes with gitdb_push(). When the push is rejected (someone else pushed
 * first), the caller pulls, re-applies its change and tries again: gitdb
 * never merges, so what the remote holds is always what was verified.
 *
 * Calls block (network I/O): run them off the event loop (uv_queue_work),
 * one at a time per gitdb. Different gitdbs may be used from different
 * threads concurrently. */
#ifndef ENVOI_GITDB_H
#define ENVOI_GITDB_H

#include <stddef.h>

#define GITDB_REJECTED 1 /* gitdb_push(): the remote moved; pull, re-apply, retry */

struct gitdb;

struct gitdb_opts {
    const char *remote;      /* "URL[#branch]"; branch defaults to the remote HEAD */
    const char *dir;         /* local clone directory; created (cloned) if missing */
    const char *ssh_key;     /* private key file for ssh:// remotes, or NULL */
    const char *ssh_pubkey;  /* its public key file, or NULL (key + ".pub") */
    const char *ssh_pass;    /* passphrase, or NULL */
};

/* Opens (or clones) the repository. Returns NULL and writes a reason to err. */
struct gitdb *gitdb_open(const struct gitdb_opts *opts, char *err, size_t errsz);
/* Closes and frees db (the clone stays on disk). NULL is fine. */
void gitdb_close(struct gitdb *db);
/* Fetches the branch and makes the working tree and HEAD equal to it, dropping
 * any unpushed local commit. *changed is set to 1 when HEAD moved. 0 or -1. */
int gitdb_pull(struct gitdb *db, int *changed);
/* Writes data into path (relative to the working tree; directories created),
 * stages it and commits on HEAD with the given author. 0 or -1. */
int gitdb_commit_file(struct gitdb *db, const char *path, const void *data, size_t len,
                      const char *author_name, const char *author_email, const char *message);
/* Removes path and commits that. 0, or -1 (also when path is not tracked). */
int gitdb_remove_file(struct gitdb *db, const char *path, const char *author_name,
                      const char *author_email, const char *message);
/* Pushes HEAD to the remote branch: 0, GITDB_REJECTED, or -1. */
int gitdb_push(struct gitdb *db);
/* The working tree directory ("/.../clone/"), with a trailing slash. */
const char *gitdb_workdir(const struct gitdb *db);
/* HEAD's commit id as 40 hex characters into out[41]; "" when unborn. */
void gitdb_head(struct gitdb *db, char out[41]);
/* The branch tracked ("main"). */
const char *gitdb_branch(const struct gitdb *db);
/* The last error message (from libgit2 or gitdb). Never NULL. */
const char *gitdb_error(const struct gitdb *db);
/* url ("https://user:token@host/x.git#main") as it may be shown or logged:
 * a password in the user part becomes "***". Written to out (always
 * NUL-terminated) and returned. Pure. */
const char *gitdb_url_shown(const char *url, char *out, size_t outsz);

#endif
