/* userdb: the user database kept in the configuration repository, one file
 * per user: users/<local-part>.json =
 *     {"password": "...", "targets": ["a@x.test", ...], "aliases": ["b@y.test", ...]}
 *
 * Passwords are either BLAKE2b-512 in hex (128 characters, the reference
 * system's unsalted format, kept readable for compatibility) or a libsodium
 * "$argon2id$..." string (what `envoi user add` writes). Both are verified in
 * constant time.
 *
 * A struct userdb is immutable once loaded: a reload builds a new one and the
 * owner swaps the pointer, so readers on the event loop never see half a
 * database. Parsing is pure and bounded (fuzzed); userdb_load() is the only
 * function that touches the file system. */
#ifndef ENVOI_USERDB_H
#define ENVOI_USERDB_H

#include <stddef.h>

#define USERDB_LOCAL_MAX 64      /* RFC 5321 §4.5.3.1.1 local-part limit */
#define USERDB_ADDR_MAX 320      /* local@domain */
#define USERDB_LIST_MAX 100      /* targets or aliases per user */
#define USERDB_PASS_MAX 512      /* a stored hash string */
#define USERDB_FILE_MAX 65536    /* one users/<local>.json */
#define USERDB_USERS_MAX 100000  /* files read from users/ */
#define USERDB_BLAKE2B_HEX 128   /* 64 bytes in hex */
/* Bounds on argon2id parameters read from the repository, so one bad file
 * cannot make every login allocate gigabytes or spin for minutes. */
#define USERDB_ARGON2_MEM_MAX_KIB (1024 * 1024)
#define USERDB_ARGON2_T_MAX 16

enum userdb_kind { USERDB_PW_NONE, USERDB_PW_BLAKE2B, USERDB_PW_ARGON2ID, USERDB_PW_BAD };

struct userdb_user {
    char local[USERDB_LOCAL_MAX + 1];   /* lower case, from the file name */
    char *password;                     /* stored hash, or NULL: cannot log in */
    char **targets;
    int ntargets;
    char **aliases;
    int naliases;
};

struct userdb;

/* 1 when local is usable as a user name and a file name: 1..64 characters of
 * [a-z0-9._+-], not starting with '.' or '-'. Upper case is refused (callers
 * lower-case logins first). */
int userdb_local_valid(const char *local);

/* Parses one user's JSON document (pure, bounded). Fills u (free with
 * userdb_user_free) and returns 0, or -1 with a reason in err. Unknown keys
 * are ignored; a password in an unknown or out-of-bounds format is an error. */
int userdb_parse_user(const char *local, const char *json, size_t len, struct userdb_user *u, char *err,
                      size_t errsz);
void userdb_user_free(struct userdb_user *u);

/* The format of a stored password string. */
enum userdb_kind userdb_password_kind(const char *stored);
/* 1 when pass matches stored, 0 when not (or stored is unusable). Constant
 * time in the password for a given stored hash. */
int userdb_verify(const char *stored, const char *pass, size_t passlen);
/* Burns the time of one argon2id verification (unknown users), so answer
 * time does not tell which users exist. Thread-safe. */
void userdb_verify_dummy(const char *pass, size_t passlen);
/* "$argon2id$..." with libsodium's interactive limits into out. 0 or -1. */
int userdb_hash_argon2id(const char *pass, size_t passlen, char *out, size_t outsz);
/* BLAKE2b-512 of pass as 128 lower-case hex characters into out[129]. 0 or -1. */
int userdb_hash_blake2b(const char *pass, size_t passlen, char out[USERDB_BLAKE2B_HEX + 1]);

/* An empty database (e.g. before the first load). NULL on memory shortage. */
struct userdb *userdb_new(void);
/* Adds u (moved: u is emptied). 0, or -1 for a duplicate or a full database. */
int userdb_add(struct userdb *db, struct userdb_user *u);
/* Reads every users/<local>.json under dir (a repository work tree). Files
 * that do not parse are skipped and counted in *skipped (one typo must not
 * lock everybody out); each is logged. NULL with err when users/ cannot be
 * read at all (a missing users/ directory is an empty database). */
struct userdb *userdb_load(const char *dir, int *skipped, char *err, size_t errsz);
void userdb_free(struct userdb *db);
int userdb_count(const struct userdb *db);
/* The i-th user in local-part order (0 <= i < count). */
const struct userdb_user *userdb_at(const struct userdb *db, int i);
/* Finds a user by local part (case-insensitive); NULL if absent. */
const struct userdb_user *userdb_find(const struct userdb *db, const char *local);

/* Splits a login "alice@example.test" or "alice" into a lower-cased local
 * part and the domain (NULL when bare). -1 when the local part is not valid. */
int userdb_login_split(const char *login, char local[USERDB_LOCAL_MAX + 1], const char **domain);
/* 1 when addr belongs to u: local@D for one of the domains, or one of its
 * aliases (an alias without '@' is a local part at any of the domains).
 * Comparison ignores ASCII case. */
int userdb_owns(const struct userdb_user *u, const char *addr, const char *const *domains, int ndomains);

#endif
