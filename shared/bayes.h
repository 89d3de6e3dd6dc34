/* bayes: the spam classifier (Spamtacus verdicts) and its database.
 *
 * Tokens come from the MIME walker (mime.h): words of the decoded body, of
 * the subject and of selected headers (each header in its own namespace),
 * and attachment names; docs/SPAM.md says which and why, with measurements.
 * The database is a binary file used as it is laid out (no parsing): a
 * versioned, checksummed header and an open-addressing table of 64-bit token
 * hashes with their spam/ham message counts, read into read-only memory
 * (not mmap'ed: see bayes_db.c). A file that fails any check is refused
 * with an error text; nothing in it can make a lookup loop or read out of
 * bounds.
 *
 * Verdicts follow the seed: "yes" (spam), "no" (ham), "unknown". Without a
 * database every verdict is "unknown"; a message is never refused. */
#ifndef ENVOI_BAYES_H
#define ENVOI_BAYES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define BAYES_HDR_VERDICT "X-Spamtacus"
#define BAYES_HDR_SCORE "X-Spamtacus-Score"

enum bayes_verdict { BAYES_UNKNOWN = 0, BAYES_HAM = 1, BAYES_SPAM = 2 };

/* Tokenizer options; stored in the database so classification tokenizes
 * exactly as training did. */
#define BAYES_TOK_HEADERS 0x1  /* tokens from selected headers (From, To, Received...) */
#define BAYES_TOK_BIGRAMS 0x2  /* also pairs of consecutive words */
#define BAYES_TOK_ALLHDRS 0x4  /* tokens from every header but X-Spam* */
#define BAYES_TOK_DEFAULT (BAYES_TOK_HEADERS | BAYES_TOK_BIGRAMS)

enum bayes_combine { BAYES_CHI2 = 0, BAYES_GRAHAM = 1 };

/* Scoring knobs; bayes_params_default() gives the measured defaults. */
struct bayes_params {
    enum bayes_combine combine;
    double robs, robx;       /* Robinson: f = (robs*robx + n*p) / (robs + n) */
    double min_dev;          /* tokens with |f - 0.5| below this are ignored */
    double pmin;             /* f is clamped to [pmin, 1 - pmin] */
    int max_tokens;          /* most significant tokens kept (0: all) */
    int min_tokens;          /* fewer significant tokens: "unknown" */
    double spam_cutoff;      /* score >= this: "yes" */
    double ham_cutoff;       /* score <= this: "no"; in between: "unknown" */
};
void bayes_params_default(struct bayes_params *p);
/* The reference (spamoracle) algorithm: 15 words, Graham combining, 0.2/0.8. */
void bayes_params_reference(struct bayes_params *p);

struct bayes_result {
    enum bayes_verdict verdict;
    double score;       /* 0 (ham) .. 1 (spam); 0.5 without a database */
    unsigned ntokens;   /* distinct tokens in the message */
    unsigned nused;     /* tokens that took part in the score */
    int dangerous;      /* a dangerous attachment name forced "yes" */
};

/* "yes", "no" or "unknown". */
const char *bayes_verdict_word(enum bayes_verdict v);

/* ---- tokenizer (bayes_tok.c) ---- */
struct bayes_tok;
struct bayes_tok *bayes_tok_new(unsigned flags);
void bayes_tok_free(struct bayes_tok *t);
/* Tokenizes a whole raw message; replaces the previous message's tokens. */
void bayes_tok_message(struct bayes_tok *t, const char *msg, size_t len);
/* The distinct token hashes of the last message (never 0). */
const uint64_t *bayes_tok_hashes(const struct bayes_tok *t, size_t *n);
/* Non-zero if the last message named a dangerous attachment (.exe, .scr...). */
int bayes_tok_dangerous(const struct bayes_tok *t);
/* Calls cb with every token text (prefix included) as it is hashed: debugging. */
void bayes_tok_set_debug(struct bayes_tok *t, void (*cb)(void *arg, const char *tok, size_t len), void *arg);
/* Tokenizes plain text as body text of a fresh message (fuzzing, tests). */
void bayes_tok_text(struct bayes_tok *t, const char *text, size_t len);
/* 1 if file name fn (len bytes) has an extension that Windows runs. */
int bayes_dangerous_name(const char *fn, size_t len);

/* ---- database (bayes_db.c) ---- */
struct bayes_db;
/* Maps and checks the file. Returns NULL and a reason in err on any problem. */
struct bayes_db *bayes_db_open(const char *path, char *err, size_t errsz);
/* Same checks on a memory image (copied). */
struct bayes_db *bayes_db_from_buffer(const void *buf, size_t len, char *err, size_t errsz);
/* Databases are reference counted: open gives one reference, bayes_db_ref
 * adds one (for a reader on another thread) and returns db, bayes_db_close
 * drops one and frees the database with the last. Both are thread-safe and
 * accept NULL. */
struct bayes_db *bayes_db_ref(struct bayes_db *db);
void bayes_db_close(struct bayes_db *db);
/* Rewrites the checksum of a database image in memory, so that fuzzers and
 * tests reach the checks behind it. -1 if len is too short. */
int bayes_db_fix_checksum(void *img, size_t len);
/* Messages trained and the tokenizer options of the database. */
void bayes_db_info(const struct bayes_db *db, unsigned *nspam, unsigned *nham, uint64_t *ntokens,
                   unsigned *tok_flags);
/* Counts for one token hash; 0 if the token is unknown. */
int bayes_db_lookup(const struct bayes_db *db, uint64_t h, uint32_t *spam, uint32_t *ham);

/* A database file that is reloaded when it changes (for services). Change
 * means another inode, size or mtime, so both "write a temp file + rename"
 * and an in-place rewrite are seen. */
struct bayes_store {
    char *path;
    struct bayes_db *db;   /* NULL while no good file was ever loaded */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int seen;              /* the stat fields above are valid */
    int missing;           /* the file was missing at the last check */
};
/* Loads path. Returns 0, or -1 with err set (store->db stays NULL: verdicts
 * are "unknown" until a reload succeeds). */
int bayes_store_open(struct bayes_store *s, const char *path, char *err, size_t errsz);
/* Checks the file: 1 reloaded (the store drops its reference to the old
 * database; readers holding one from bayes_db_ref keep it until they close
 * it); -1 changed (or vanished) and unusable, err set, the previous database
 * stays in use; 0 nothing new. Each bad change is reported once, so calling
 * this from a timer does not repeat the error. */
int bayes_store_reload(struct bayes_store *s, char *err, size_t errsz);
/* bayes_store_reload in two halves, so that the load (a read and a checksum
 * pass over the whole file) can run off the event loop: bayes_store_changed
 * is the stat part (1 changed, the new file's identity is recorded; -1
 * vanished, reported once, err set; 0 nothing new), then bayes_db_open(path)
 * on any thread, then bayes_store_set on the store's thread, which takes the
 * new database's reference and drops the old one's. */
int bayes_store_changed(struct bayes_store *s, char *err, size_t errsz);
void bayes_store_set(struct bayes_store *s, struct bayes_db *db);
void bayes_store_close(struct bayes_store *s);

/* Training: counts in memory, then written as a database file. */
struct bayes_train;
struct bayes_train *bayes_train_new(unsigned tok_flags);
void bayes_train_free(struct bayes_train *tr);
/* Adds one raw message to the spam (is_spam=1) or ham counts. */
void bayes_train_add(struct bayes_train *tr, const char *msg, size_t len, int is_spam);
/* Writes the database atomically (temp file + rename). Tokens seen in fewer
 * than min_count messages are left out (1 keeps all). 0 or -1 with err. */
int bayes_train_write(struct bayes_train *tr, const char *path, unsigned min_count, char *err, size_t errsz);

/* ---- scoring (bayes.c) ---- */
/* Scores the tokens in t. db NULL: unknown, score 0.5, returns -1. */
int bayes_score(const struct bayes_db *db, const struct bayes_params *p, const struct bayes_tok *t,
                struct bayes_result *out);
/* Classifies one complete raw message with default parameters. Returns 0,
 * or -1 when db is NULL (the result is then "unknown"). */
int bayes_classify_message(const struct bayes_db *db, const char *msg, size_t len, struct bayes_result *out);
/* Writes "X-Spamtacus: yes\r\nX-Spamtacus-Score: 0.973\r\n" into buf.
 * Returns the length (excluding the NUL), or -1 if bufsz is too small. */
int bayes_format_headers(const struct bayes_result *r, char *buf, size_t bufsz);
/* Returns a malloc'd copy of msg without any X-Spamtacus or X-Spamtacus-Score
 * header field (folded lines included) in its header block; *outlen is set.
 * NULL only on out of memory. */
char *bayes_strip_headers(const char *msg, size_t len, size_t *outlen);
/* strip + classify + prepend the two headers, in one call for the hop:
 * returns a malloc'd message (NULL on out of memory) and fills r. */
char *bayes_mark_message(const struct bayes_db *db, const char *msg, size_t len, size_t *outlen,
                         struct bayes_result *r);

#endif
