/* bayes_db: the database file, training counts and reloading.
 *
 * File layout (little-endian, the only byte order we build for):
 *   0  magic "ENVBAYES"            8
 *   8  version (1)                 u32
 *  12  header size (64)            u32
 *  16  tokenizer flags             u32
 *  20  spam messages, ham messages u32 u32
 *  28  slots (a power of two)      u32
 *  32  tokens (used slots)         u64
 *  40  checksum                    u64   over bytes 0..39 and the table
 *  48  reserved, zero              16
 *  64  slots: { u64 hash (0 = empty), u32 spam, u32 ham } x slots
 * The table is probed linearly from hash & (slots - 1). The loader counts
 * the used slots while it checks the sum, so a file whose table is full
 * (where a probe could never stop) or lies about its size is refused. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bayes.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bayes_db reads its little-endian file format in place"
#endif

#define DB_MAGIC "ENVBAYES"
#define DB_VERSION 1
#define DB_HEADER 64
#define DB_SLOTS_MAX (1u << 26)      /* 1 GB of table: far beyond any real corpus */
#define TRAIN_INIT (1u << 16)

struct db_slot {
    uint64_t hash;
    uint32_t spam, ham;
};

struct bayes_db {
    /* Holders: the store, and each classification running on a worker
     * thread, so a reload never frees a table a worker still reads. Atomic
     * because the last reference may be dropped off the loop thread. */
    atomic_uint refs;
    const unsigned char *base;
    size_t size, mapsize;
    int mapped;
    unsigned nspam, nham, flags;
    uint32_t mask;
    uint64_t ntokens;
    const struct db_slot *slots;
};

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* A fast 64-bit sum over 8-byte words (not cryptographic: it catches
 * truncation, bit rot and a half-written file, not an attacker). */
static uint64_t checksum(const unsigned char *hdr, const unsigned char *tab, size_t tablen)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < 40; i += 8)
        h = (h ^ rd64(hdr + i)) * 0x100000001b3ULL, h ^= h >> 29;
    for (size_t i = 0; i + 8 <= tablen; i += 8)
        h = (h ^ rd64(tab + i)) * 0x100000001b3ULL, h ^= h >> 29;
    return h;
}

static int fail(char *err, size_t errsz, const char *why)
{
    if (err && errsz)
        snprintf(err, errsz, "%s", why);
    return -1;
}

static int check(struct bayes_db *db, char *err, size_t errsz)
{
    const unsigned char *b = db->base;
    if (db->size < DB_HEADER)
        return fail(err, errsz, "file too short for a header");
    if (memcmp(b, DB_MAGIC, 8) != 0)
        return fail(err, errsz, "not an envoi spam database (bad magic)");
    if (rd32(b + 8) != DB_VERSION) {
        snprintf(err, errsz, "unsupported database version %u (want %u)", rd32(b + 8), DB_VERSION);
        return -1;
    }
    if (rd32(b + 12) != DB_HEADER)
        return fail(err, errsz, "bad header size");
    uint32_t nslots = rd32(b + 28);
    if (nslots == 0 || (nslots & (nslots - 1)) || nslots > DB_SLOTS_MAX)
        return fail(err, errsz, "bad slot count");
    if (db->size != DB_HEADER + (size_t)nslots * sizeof(struct db_slot))
        return fail(err, errsz, "file size does not match its slot count (truncated?)");
    size_t tablen = (size_t)nslots * sizeof(struct db_slot);
    if (checksum(b, b + DB_HEADER, tablen) != rd64(b + 40))
        return fail(err, errsz, "checksum mismatch (corrupt file)");
    db->slots = (const struct db_slot *)(const void *)(b + DB_HEADER);
    uint64_t used = 0;
    for (uint32_t i = 0; i < nslots; i++)
        used += db->slots[i].hash != 0;
    if (used != rd64(b + 32) || used >= nslots)
        return fail(err, errsz, "token count does not match the table");
    db->flags = rd32(b + 16);
    db->nspam = rd32(b + 20);
    db->nham = rd32(b + 24);
    db->mask = nslots - 1;
    db->ntokens = used;
    return 0;
}

/* The file is read, not mapped: a database rewritten in place (cp over it,
 * or truncated) under a live mapping would raise SIGBUS in the service. The
 * format needs no parsing, so a load is one read plus the checksum pass. */
struct bayes_db *bayes_db_open(const char *path, char *err, size_t errsz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < DB_HEADER ||
        (uint64_t)st.st_size > DB_HEADER + (uint64_t)DB_SLOTS_MAX * sizeof(struct db_slot)) {
        close(fd);
        fail(err, errsz, "not a regular file, too short for a header or too big");
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        close(fd);
        snprintf(err, errsz, "mmap %zu bytes: %s", size, strerror(errno));
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, (char *)m + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    struct bayes_db *db = calloc(1, sizeof *db);
    if (!db) {
        munmap(m, size);
        fail(err, errsz, "out of memory");
        return NULL;
    }
    atomic_init(&db->refs, 1);
    db->base = m;
    db->size = got; /* a file that shrank while read fails the size check */
    db->mapsize = size;
    db->mapped = 1;
    if (check(db, err, errsz) < 0) {
        bayes_db_close(db);
        return NULL;
    }
    mprotect(m, size, PROT_READ); /* read-only from now on: a stray write faults */
    return db;
}

struct bayes_db *bayes_db_from_buffer(const void *buf, size_t len, char *err, size_t errsz)
{
    struct bayes_db *db = calloc(1, sizeof *db);
    void *copy = malloc(len ? len : 1); /* malloc alignment suits the slots */
    if (!db || !copy) {
        free(db);
        free(copy);
        fail(err, errsz, "out of memory");
        return NULL;
    }
    if (len)
        memcpy(copy, buf, len);
    atomic_init(&db->refs, 1);
    db->base = copy;
    db->size = len;
    if (check(db, err, errsz) < 0) {
        bayes_db_close(db);
        return NULL;
    }
    return db;
}

int bayes_db_fix_checksum(void *img, size_t len)
{
    unsigned char *b = img;
    if (len < DB_HEADER)
        return -1;
    uint64_t sum = checksum(b, b + DB_HEADER, len - DB_HEADER);
    memcpy(b + 40, &sum, 8);
    return 0;
}

struct bayes_db *bayes_db_ref(struct bayes_db *db)
{
    if (db)
        atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
    return db;
}

void bayes_db_close(struct bayes_db *db)
{
    if (!db)
        return;
    /* acq_rel: every reader's lookups happen before the table is unmapped. */
    if (atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (db->mapped)
        munmap((void *)db->base, db->mapsize);
    else
        free((void *)db->base);
    free(db);
}

void bayes_db_info(const struct bayes_db *db, unsigned *nspam, unsigned *nham, uint64_t *ntokens,
                   unsigned *tok_flags)
{
    if (nspam)
        *nspam = db->nspam;
    if (nham)
        *nham = db->nham;
    if (ntokens)
        *ntokens = db->ntokens;
    if (tok_flags)
        *tok_flags = db->flags;
}

int bayes_db_lookup(const struct bayes_db *db, uint64_t h, uint32_t *spam, uint32_t *ham)
{
    uint32_t i = (uint32_t)h & db->mask;
    for (;;) { /* terminates: check() proved an empty slot exists */
        const struct db_slot *s = &db->slots[i];
        if (s->hash == h) {
            *spam = s->spam;
            *ham = s->ham;
            return 1;
        }
        if (s->hash == 0)
            return 0;
        i = (i + 1) & db->mask;
    }
}

/* ---- reloading ---- */

int bayes_store_open(struct bayes_store *s, const char *path, char *err, size_t errsz)
{
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path)
        return fail(err, errsz, "out of memory");
    return bayes_store_reload(s, err, errsz) < 0 ? -1 : 0;
}

int bayes_store_changed(struct bayes_store *s, char *err, size_t errsz)
{
    struct stat st;
    if (stat(s->path, &st) < 0) {
        /* Reported once when the file goes away; the database in use stays. */
        int first = !s->missing;
        snprintf(err, errsz, "stat %s: %s", s->path, strerror(errno));
        s->missing = 1;
        s->seen = 0;
        return first ? -1 : 0;
    }
    s->missing = 0;
    if (s->seen && st.st_dev == s->dev && st.st_ino == s->ino && st.st_size == s->size &&
        st.st_mtim.tv_sec == s->mtime.tv_sec && st.st_mtim.tv_nsec == s->mtime.tv_nsec)
        return 0; /* unchanged, good or bad: a bad file is reported once */
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
    s->seen = 1;
    return 1;
}

void bayes_store_set(struct bayes_store *s, struct bayes_db *db)
{
    bayes_db_close(s->db); /* the store's reference; jobs holding their own finish with it */
    s->db = db;
}

int bayes_store_reload(struct bayes_store *s, char *err, size_t errsz)
{
    int rc = bayes_store_changed(s, err, errsz);
    if (rc != 1)
        return rc;
    struct bayes_db *db = bayes_db_open(s->path, err, errsz);
    if (!db)
        return -1;
    bayes_store_set(s, db);
    return 1;
}

void bayes_store_close(struct bayes_store *s)
{
    bayes_db_close(s->db);
    free(s->path);
    memset(s, 0, sizeof *s);
}

/* ---- training ---- */

struct bayes_train {
    unsigned flags;
    struct bayes_tok *tok;
    struct db_slot *t;
    size_t cap, n;
    unsigned nspam, nham;
};

struct bayes_train *bayes_train_new(unsigned tok_flags)
{
    struct bayes_train *tr = calloc(1, sizeof *tr);
    if (!tr)
        return NULL;
    tr->flags = tok_flags;
    tr->cap = TRAIN_INIT;
    tr->t = calloc(tr->cap, sizeof *tr->t);
    tr->tok = bayes_tok_new(tok_flags);
    if (!tr->t || !tr->tok) {
        bayes_train_free(tr);
        return NULL;
    }
    return tr;
}

void bayes_train_free(struct bayes_train *tr)
{
    if (!tr)
        return;
    bayes_tok_free(tr->tok);
    free(tr->t);
    free(tr);
}

static struct db_slot *probe(struct db_slot *t, size_t cap, uint64_t h)
{
    size_t i = h & (cap - 1);
    while (t[i].hash && t[i].hash != h)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static int grow(struct bayes_train *tr)
{
    size_t ncap = tr->cap * 2;
    struct db_slot *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    for (size_t i = 0; i < tr->cap; i++)
        if (tr->t[i].hash)
            *probe(nt, ncap, tr->t[i].hash) = tr->t[i];
    free(tr->t);
    tr->t = nt;
    tr->cap = ncap;
    return 0;
}

void bayes_train_add(struct bayes_train *tr, const char *msg, size_t len, int is_spam)
{
    size_t n;
    bayes_tok_message(tr->tok, msg, len);
    const uint64_t *h = bayes_tok_hashes(tr->tok, &n);
    for (size_t i = 0; i < n; i++) {
        if (tr->n * 2 >= tr->cap && grow(tr) < 0)
            return;
        struct db_slot *s = probe(tr->t, tr->cap, h[i]);
        if (!s->hash) {
            s->hash = h[i];
            tr->n++;
        }
        uint32_t *c = is_spam ? &s->spam : &s->ham;
        if (*c < UINT32_MAX)
            (*c)++;
    }
    if (is_spam)
        tr->nspam++;
    else
        tr->nham++;
}

int bayes_train_write(struct bayes_train *tr, const char *path, unsigned min_count, char *err, size_t errsz)
{
    size_t keep = 0;
    for (size_t i = 0; i < tr->cap; i++)
        if (tr->t[i].hash && (uint64_t)tr->t[i].spam + tr->t[i].ham >= min_count)
            keep++;
    /* Load at most 2/3: short probes for the tokens a message does not share. */
    size_t nslots = 1024;
    while (nslots < keep + keep / 2 + 1)
        nslots *= 2;
    if (nslots > DB_SLOTS_MAX)
        return fail(err, errsz, "too many tokens for one database");
    size_t tablen = nslots * sizeof(struct db_slot);
    unsigned char *img = calloc(1, DB_HEADER + tablen);
    if (!img)
        return fail(err, errsz, "out of memory");
    struct db_slot *tab = (struct db_slot *)(void *)(img + DB_HEADER);
    for (size_t i = 0; i < tr->cap; i++)
        if (tr->t[i].hash && (uint64_t)tr->t[i].spam + tr->t[i].ham >= min_count)
            *probe(tab, nslots, tr->t[i].hash) = tr->t[i];
    uint32_t v32;
    uint64_t v64;
    memcpy(img, DB_MAGIC, 8);
    v32 = DB_VERSION, memcpy(img + 8, &v32, 4);
    v32 = DB_HEADER, memcpy(img + 12, &v32, 4);
    memcpy(img + 16, &tr->flags, 4);
    memcpy(img + 20, &tr->nspam, 4);
    memcpy(img + 24, &tr->nham, 4);
    v32 = (uint32_t)nslots, memcpy(img + 28, &v32, 4);
    v64 = keep, memcpy(img + 32, &v64, 8);
    v64 = checksum(img, img + DB_HEADER, tablen), memcpy(img + 40, &v64, 8);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errsz, "create %s: %s", tmp, strerror(errno));
        free(img);
        return -1;
    }
    size_t total = DB_HEADER + tablen, off = 0;
    while (off < total) {
        ssize_t w = write(fd, img + off, total - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(img);
    int bad = off != total || fsync(fd) < 0;
    if (close(fd) < 0 || bad) {
        snprintf(err, errsz, "write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errsz, "rename to %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
