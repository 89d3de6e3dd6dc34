/* userdb: users/<local>.json parsing, password hashing and verification.
 * See userdb.h. The database is a sorted array searched by bisection: it is
 * built once per reload and only read afterwards. */
#include "userdb.h"

#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define USERDB_ARGON2_PREFIX "$argon2id$"

struct userdb {
    struct userdb_user *u;
    int n, cap;
};

/* libsodium must be initialised before use; sodium_init() is idempotent and
 * thread-safe, and cheap after the first call. */
static int userdb_sodium(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int userdb_local_valid(const char *local)
{
    size_t n = strlen(local);
    if (n == 0 || n > USERDB_LOCAL_MAX || local[0] == '.' || local[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)local[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- password formats ---- */

/* Reads "<key>=<decimal>" at *p, advancing past it. -1 when malformed. */
static long userdb_param(const char **p, char key)
{
    const char *s = *p;
    if (s[0] != key || s[1] != '=' || !isdigit((unsigned char)s[2]))
        return -1;
    long v = 0;
    s += 2;
    while (isdigit((unsigned char)*s)) {
        if (v > 100000000L)
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    *p = s;
    return v;
}

/* One unpadded base64 field of at least min characters, ending at '$' or NUL. */
static int userdb_b64_field(const char **p, size_t min)
{
    const char *s = *p;
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '/')
        n++;
    *p = s + n;
    return n >= min ? 0 : -1;
}

static int userdb_argon2_ok(const char *s)
{
    if (strlen(s) >= crypto_pwhash_STRBYTES || strncmp(s, USERDB_ARGON2_PREFIX, strlen(USERDB_ARGON2_PREFIX)))
        return 0;
    const char *p = s + strlen(USERDB_ARGON2_PREFIX);
    if (userdb_param(&p, 'v') != 19 || *p++ != '$')
        return 0;
    long m = userdb_param(&p, 'm');
    if (m < 8 || m > USERDB_ARGON2_MEM_MAX_KIB || *p++ != ',')
        return 0;
    long t = userdb_param(&p, 't');
    if (t < 1 || t > USERDB_ARGON2_T_MAX || *p++ != ',')
        return 0;
    long par = userdb_param(&p, 'p');
    if (par != 1 || *p++ != '$') /* libsodium computes and verifies one lane only */
        return 0;
    if (userdb_b64_field(&p, 11) < 0 || *p++ != '$' || userdb_b64_field(&p, 16) < 0)
        return 0;
    return *p == '\0';
}

enum userdb_kind userdb_password_kind(const char *stored)
{
    if (!stored || !*stored)
        return USERDB_PW_NONE;
    size_t n = strlen(stored);
    if (n == USERDB_BLAKE2B_HEX) {
        for (size_t i = 0; i < n; i++)
            if (!isxdigit((unsigned char)stored[i]))
                return USERDB_PW_BAD;
        return USERDB_PW_BLAKE2B;
    }
    return userdb_argon2_ok(stored) ? USERDB_PW_ARGON2ID : USERDB_PW_BAD;
}

int userdb_hash_blake2b(const char *pass, size_t passlen, char out[USERDB_BLAKE2B_HEX + 1])
{
    unsigned char h[USERDB_BLAKE2B_HEX / 2];
    if (userdb_sodium() < 0 || crypto_generichash(h, sizeof h, (const unsigned char *)pass, passlen, NULL, 0) != 0)
        return -1;
    sodium_bin2hex(out, USERDB_BLAKE2B_HEX + 1, h, sizeof h);
    sodium_memzero(h, sizeof h);
    return 0;
}

int userdb_hash_argon2id(const char *pass, size_t passlen, char *out, size_t outsz)
{
    char buf[crypto_pwhash_STRBYTES];
    if (userdb_sodium() < 0 || outsz < sizeof buf)
        return -1;
    if (crypto_pwhash_str_alg(buf, pass, passlen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -1;
    memcpy(out, buf, sizeof buf);
    return 0;
}

int userdb_verify(const char *stored, const char *pass, size_t passlen)
{
    if (userdb_sodium() < 0)
        return 0;
    switch (userdb_password_kind(stored)) {
    case USERDB_PW_BLAKE2B: {
        unsigned char want[USERDB_BLAKE2B_HEX / 2], got[USERDB_BLAKE2B_HEX / 2];
        size_t wl = 0;
        if (sodium_hex2bin(want, sizeof want, stored, USERDB_BLAKE2B_HEX, NULL, &wl, NULL) != 0 ||
            wl != sizeof want)
            return 0;
        crypto_generichash(got, sizeof got, (const unsigned char *)pass, passlen, NULL, 0);
        int ok = sodium_memcmp(want, got, sizeof want) == 0;
        sodium_memzero(got, sizeof got);
        return ok;
    }
    case USERDB_PW_ARGON2ID:
        return crypto_pwhash_str_verify(stored, pass, passlen) == 0;
    default:
        return 0;
    }
}

static char userdb_dummy[crypto_pwhash_STRBYTES];

static void userdb_dummy_init(void)
{
    if (userdb_hash_argon2id("envoi-dummy", 11, userdb_dummy, sizeof userdb_dummy) < 0)
        userdb_dummy[0] = '\0';
}

void userdb_verify_dummy(const char *pass, size_t passlen)
{
    /* Hashed once with the limits `envoi user add` uses, so the work matches;
     * logins may be checked on several threads. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, userdb_dummy_init);
    if (!userdb_dummy[0])
        return;
    volatile int sink = crypto_pwhash_str_verify(userdb_dummy, pass, passlen);
    (void)sink;
}

/* ---- one user file ---- */

void userdb_user_free(struct userdb_user *u)
{
    if (!u)
        return;
    if (u->password) {
        sodium_memzero(u->password, strlen(u->password));
        free(u->password);
    }
    for (int i = 0; i < u->ntargets; i++)
        free(u->targets[i]);
    for (int i = 0; i < u->naliases; i++)
        free(u->aliases[i]);
    free(u->targets);
    free(u->aliases);
    memset(u, 0, sizeof *u);
}

/* An address from the file: printable ASCII or UTF-8, no spaces or controls,
 * bounded; '@' optional (aliases may be bare local parts). */
static int userdb_addr_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > USERDB_ADDR_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' || c == ',')
            return 0;
    }
    return a[0] != '@' && a[n - 1] != '@';
}

static int userdb_strings(json_t *arr, const char *what, char ***out, int *nout, char *err, size_t errsz)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "\"%s\" is not an array", what);
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n > USERDB_LIST_MAX) {
        snprintf(err, errsz, "\"%s\" has more than %d entries", what, USERDB_LIST_MAX);
        return -1;
    }
    if (n == 0)
        return 0;
    *out = calloc(n, sizeof **out);
    if (!*out) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !userdb_addr_ok(s)) {
            snprintf(err, errsz, "\"%s\"[%zu] is not an address", what, i);
            return -1;
        }
        if (!((*out)[*nout] = strdup(s))) {
            snprintf(err, errsz, "out of memory");
            return -1;
        }
        (*nout)++;
    }
    return 0;
}

int userdb_parse_user(const char *local, const char *json, size_t len, struct userdb_user *u, char *err,
                      size_t errsz)
{
    memset(u, 0, sizeof *u);
    if (!userdb_local_valid(local)) {
        snprintf(err, errsz, "bad user name (want 1-64 of [a-z0-9._+-])");
        return -1;
    }
    if (len > USERDB_FILE_MAX) {
        snprintf(err, errsz, "file larger than %d bytes", USERDB_FILE_MAX);
        return -1;
    }
    snprintf(u->local, sizeof u->local, "%s", local);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errsz, "JSON line %d: %s", je.line, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errsz, "not a JSON object");
        goto out;
    }
    json_t *pw = json_object_get(root, "password");
    if (pw && !json_is_null(pw)) {
        const char *s = json_string_value(pw);
        if (!s) {
            snprintf(err, errsz, "\"password\" is not a string");
            goto out;
        }
        enum userdb_kind k = userdb_password_kind(s);
        if (k == USERDB_PW_BAD) {
            snprintf(err, errsz, "\"password\" is neither 128 hex (BLAKE2b-512) nor a bounded $argon2id$ string");
            goto out;
        }
        if (k != USERDB_PW_NONE && !(u->password = strdup(s))) {
            snprintf(err, errsz, "out of memory");
            goto out;
        }
    }
    if (userdb_strings(json_object_get(root, "targets"), "targets", &u->targets, &u->ntargets, err, errsz) < 0 ||
        userdb_strings(json_object_get(root, "aliases"), "aliases", &u->aliases, &u->naliases, err, errsz) < 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        userdb_user_free(u);
    return rc;
}

/* ---- the database ---- */

struct userdb *userdb_new(void)
{
    return calloc(1, sizeof(struct userdb));
}

void userdb_free(struct userdb *db)
{
    if (!db)
        return;
    for (int i = 0; i < db->n; i++)
        userdb_user_free(&db->u[i]);
    free(db->u);
    free(db);
}

int userdb_count(const struct userdb *db) { return db ? db->n : 0; }

const struct userdb_user *userdb_at(const struct userdb *db, int i)
{
    return db && i >= 0 && i < db->n ? &db->u[i] : NULL;
}

/* Index of the first entry >= local. */
static int userdb_lower_bound(const struct userdb *db, const char *local)
{
    int lo = 0, hi = db->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(db->u[mid].local, local) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int userdb_add(struct userdb *db, struct userdb_user *u)
{
    int at = userdb_lower_bound(db, u->local);
    if ((at < db->n && !strcmp(db->u[at].local, u->local)) || db->n >= USERDB_USERS_MAX)
        return -1;
    if (db->n == db->cap) {
        int cap = db->cap ? db->cap * 2 : 16;
        struct userdb_user *nu = realloc(db->u, (size_t)cap * sizeof *nu);
        if (!nu)
            return -1;
        db->u = nu;
        db->cap = cap;
    }
    memmove(&db->u[at + 1], &db->u[at], (size_t)(db->n - at) * sizeof *db->u);
    db->u[at] = *u;
    db->n++;
    memset(u, 0, sizeof *u);
    return 0;
}

const struct userdb_user *userdb_find(const struct userdb *db, const char *local)
{
    char key[USERDB_LOCAL_MAX + 1];
    size_t n = strlen(local);
    if (!db || n == 0 || n > USERDB_LOCAL_MAX)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        key[i] = (char)tolower((unsigned char)local[i]);
    int at = userdb_lower_bound(db, key);
    return at < db->n && !strcmp(db->u[at].local, key) ? &db->u[at] : NULL;
}

/* Reads a whole small file; NULL with errno when unreadable or too large. */
static char *userdb_read_file(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    int why = 0;
    if (fstat(fd, &st) < 0)
        why = errno;
    else if (!S_ISREG(st.st_mode))
        why = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    else if (st.st_size > USERDB_FILE_MAX)
        why = EFBIG;
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        why = ENOMEM;
    else if (read(fd, buf, (size_t)st.st_size) != st.st_size)
        why = EIO;
    close(fd);
    if (why) {
        free(buf);
        errno = why;
        return NULL;
    }
    buf[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return buf;
}

static int userdb_cmp(const void *a, const void *b)
{
    return strcmp(((const struct userdb_user *)a)->local, ((const struct userdb_user *)b)->local);
}

struct userdb *userdb_load(const char *dir, int *skipped, char *err, size_t errsz)
{
    *skipped = 0;
    struct userdb *db = userdb_new();
    if (!db) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/users", dir);
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            return db;
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        userdb_free(db);
        return NULL;
    }
    struct dirent *e;
    /* Appended unsorted and sorted once: names in a directory are unique. */
    while ((e = readdir(d)) && db->n < USERDB_USERS_MAX) {
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' || nl < 6 || strcmp(e->d_name + nl - 5, ".json"))
            continue;
        char local[USERDB_LOCAL_MAX + 2], why[256], q[300];
        snprintf(local, sizeof local, "%.*s", (int)(nl - 5), e->d_name);
        log_quote(q, sizeof q, e->d_name, nl);
        size_t len = 0;
        char *text = userdb_read_file(dirfd(d), e->d_name, &len);
        struct userdb_user u;
        if (!text) {
            snprintf(why, sizeof why, "%s", strerror(errno));
        } else if (userdb_parse_user(local, text, len, &u, why, sizeof why) == 0) {
            if (db->n == db->cap) {
                int cap = db->cap ? db->cap * 2 : 64;
                struct userdb_user *nu = realloc(db->u, (size_t)cap * sizeof *nu);
                if (!nu) {
                    userdb_user_free(&u);
                    free(text);
                    break;
                }
                db->u = nu;
                db->cap = cap;
            }
            db->u[db->n++] = u;
            free(text);
            continue;
        }
        free(text);
        (*skipped)++;
        char wq[300];
        log_warn("userdb.skip", "file=users/%s err=%s", q, log_quote(wq, sizeof wq, why, strlen(why)));
    }
    closedir(d);
    qsort(db->u, (size_t)db->n, sizeof *db->u, userdb_cmp);
    return db;
}

/* ---- logins and addresses ---- */

int userdb_login_split(const char *login, char local[USERDB_LOCAL_MAX + 1], const char **domain)
{
    const char *at = strrchr(login, '@');
    size_t n = at ? (size_t)(at - login) : strlen(login);
    *domain = at ? at + 1 : NULL;
    if (n == 0 || n > USERDB_LOCAL_MAX || (at && !at[1]))
        return -1;
    for (size_t i = 0; i < n; i++)
        local[i] = (char)tolower((unsigned char)login[i]);
    local[n] = '\0';
    return userdb_local_valid(local) ? 0 : -1;
}

/* 1 when addr is local@domain for one of the domains (ASCII case ignored). */
static int userdb_addr_is(const char *addr, const char *local, size_t ll, const char *const *domains, int nd)
{
    const char *at = strrchr(addr, '@');
    if (!at || (size_t)(at - addr) != ll || strncasecmp(addr, local, ll))
        return 0;
    for (int i = 0; i < nd; i++)
        if (!strcasecmp(at + 1, domains[i]))
            return 1;
    return 0;
}

int userdb_owns(const struct userdb_user *u, const char *addr, const char *const *domains, int ndomains)
{
    if (!u || !addr || !*addr)
        return 0;
    if (userdb_addr_is(addr, u->local, strlen(u->local), domains, ndomains))
        return 1;
    for (int i = 0; i < u->naliases; i++) {
        const char *a = u->aliases[i];
        if (strchr(a, '@') ? !strcasecmp(a, addr) : userdb_addr_is(addr, a, strlen(a), domains, ndomains))
            return 1;
    }
    return 0;
}
