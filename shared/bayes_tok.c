/* bayes_tok: text -> distinct 64-bit token hashes, streaming.
 *
 * Words follow the reference: runs of letters and ' - of 3..12 characters
 * (lowercased; an all-caps word is also kept as written) and runs of digits
 * and . , $ % of 3..8 (up to 16 in headers, where IP addresses live). Bytes
 * >= 0x80 count as letters so that accented and non-Latin words are words;
 * UTF-8 continuation bytes do not count toward the length. Each token is
 * hashed with its context prefix ("s:" subject, "from:" header...) while it
 * is read, so no string is ever built; the set of a message's distinct
 * hashes is what training and scoring use. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bayes.h"
#include "mime.h"

#define TOK_SET_INIT 1024     /* initial slots of the per-message set */
#define TOK_SET_MAX 65536     /* distinct tokens kept per message; more are ignored */
#define TOK_BUF 64            /* bytes of one token kept */
#define TOK_LETTERS_MIN 3
#define TOK_LETTERS_MAX 12
#define TOK_DIGITS_MIN 3
#define TOK_DIGITS_MAX 8
#define TOK_DIGITS_MAX_HDR 16
#define TOK_PREFIX_MAX 24     /* header-name prefix bytes */

#define FNV_OFF 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

enum { C_OTHER = 0, C_LETTER = 1, C_DIGIT = 2, C_JOIN_L = 3, C_JOIN_D = 4 };

/* C_JOIN_*: may continue a run of that class but does not start one. */
static unsigned char cls[256];

static void fill_classes(void)
{
    for (int c = 'a'; c <= 'z'; c++)
        cls[c] = cls[c - 32] = C_LETTER;
    for (int c = 0x80; c < 0x100; c++)
        cls[c] = C_LETTER;
    for (int c = '0'; c <= '9'; c++)
        cls[c] = C_DIGIT;
    cls['$'] = C_DIGIT;
    cls['\''] = cls['-'] = C_JOIN_L;
    cls['.'] = cls[','] = cls['%'] = C_JOIN_D;
}

/* Once per process, whichever thread gets here first: the spam filter
 * tokenises on several threadpool workers at the same time. */
static void init_classes(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill_classes);
}

struct bayes_tok {
    unsigned flags;
    struct mime_walker *w;
    uint64_t *set;            /* open addressing, for dedup */
    uint64_t *list;           /* the same hashes, packed, for the caller */
    size_t cap, n;
    int dangerous;
    /* the current context */
    int ctx;                  /* mime_event_kind + 1, 0 none */
    uint64_t seed;            /* FNV state after the prefix */
    char prefix[TOK_PREFIX_MAX + 2];
    size_t plen;
    size_t dmax;
    /* the current run */
    int run;                  /* C_LETTER, C_DIGIT or 0 */
    char buf[TOK_BUF];
    size_t blen;
    unsigned nchars;
    int upper, lower;
    uint64_t prev;            /* last token of this context, for bigrams */
    void (*debug_cb)(void *, const char *, size_t);
    void *debug_arg;
};

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * FNV_PRIME;
    return h;
}

static void set_add(struct bayes_tok *t, uint64_t h)
{
    if (t->n * 2 >= t->cap) {
        if (t->cap >= TOK_SET_MAX * 2)
            return; /* bounded: a huge message adds no more tokens */
        size_t ncap = t->cap * 2;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        uint64_t *nl = ns ? realloc(t->list, ncap / 2 * sizeof *nl) : NULL;
        if (!nl) {
            free(ns);
            return;
        }
        t->list = nl;
        for (size_t i = 0; i < t->cap; i++) {
            uint64_t v = t->set[i];
            if (!v)
                continue;
            size_t j = v & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = v;
        }
        free(t->set);
        t->set = ns;
        t->cap = ncap;
    }
    size_t j = h & (t->cap - 1);
    while (t->set[j]) {
        if (t->set[j] == h)
            return;
        j = (j + 1) & (t->cap - 1);
    }
    t->set[j] = h;
    t->list[t->n++] = h;
}

static void emit_token(struct bayes_tok *t, const char *p, size_t n)
{
    uint64_t h = mix64(fnv(t->seed, p, n));
    set_add(t, h);
    if ((t->flags & BAYES_TOK_BIGRAMS) && t->prev)
        set_add(t, mix64(t->prev * 31 + h));
    t->prev = h;
    if (t->debug_cb) {
        char b[TOK_PREFIX_MAX + 2 + TOK_BUF];
        memcpy(b, t->prefix, t->plen);
        memcpy(b + t->plen, p, n);
        t->debug_cb(t->debug_arg, b, t->plen + n);
    }
}

static void end_run(struct bayes_tok *t)
{
    int run = t->run;
    t->run = 0;
    if (!run)
        return;
    size_t n = t->blen;
    if (n > TOK_BUF)
        return;
    if (run == C_LETTER) {
        while (n && (t->buf[n - 1] == '-' || t->buf[n - 1] == '\''))
            n--, t->nchars--;
        if (t->nchars < TOK_LETTERS_MIN || t->nchars > TOK_LETTERS_MAX)
            return;
        char low[TOK_BUF];
        for (size_t i = 0; i < n; i++) {
            char c = t->buf[i];
            low[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
        }
        emit_token(t, low, n);
        if (t->upper && !t->lower)
            emit_token(t, t->buf, n);
    } else {
        while (n && (t->buf[n - 1] == '.' || t->buf[n - 1] == ','))
            n--;
        if (n < TOK_DIGITS_MIN || n > t->dmax)
            return;
        emit_token(t, t->buf, n);
    }
}

/* Reads text of the current context; runs may continue in the next call. */
static void scan(struct bayes_tok *t, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        int k = cls[c];
        if (t->run == C_LETTER && (k == C_LETTER || k == C_JOIN_L)) {
            /* keep going */
        } else if (t->run == C_DIGIT && (k == C_DIGIT || k == C_JOIN_D)) {
        } else {
            end_run(t);
            if (k != C_LETTER && k != C_DIGIT)
                continue;
            t->run = k;
            t->blen = 0;
            t->nchars = 0;
            t->upper = t->lower = 0;
        }
        if (t->blen < TOK_BUF)
            t->buf[t->blen] = (char)c;
        t->blen++;
        if ((c & 0xC0) != 0x80)
            t->nchars++;
        if (c >= 'A' && c <= 'Z')
            t->upper = 1;
        else if (c >= 'a' && c <= 'z')
            t->lower = 1;
        if (t->blen > TOK_BUF + 1)
            t->blen = TOK_BUF + 1; /* too long already: stays too long */
    }
}

static void set_context(struct bayes_tok *t, int ctx, const char *prefix, size_t plen, size_t dmax)
{
    end_run(t);
    t->ctx = ctx;
    if (plen > TOK_PREFIX_MAX)
        plen = TOK_PREFIX_MAX;
    memcpy(t->prefix, prefix, plen);
    t->plen = plen;
    t->seed = fnv(FNV_OFF, prefix, plen);
    t->dmax = dmax;
    t->prev = 0;
}

/* Which headers give tokens. With BAYES_TOK_HEADERS: those that say who sent
 * the message, through what and how it is built. Never X-Spam* (another
 * filter's verdict, or our own: trusting it would let senders choose). */
static int header_wanted(unsigned flags, const char *name, size_t n, int depth)
{
    static const char *const sel[] = {"from", "to", "cc", "reply-to", "sender", "return-path",
                                      "received", "message-id", "x-mailer", "user-agent",
                                      "content-type", "content-transfer-encoding", "content-disposition",
                                      "mime-version", "organization", "x-priority", "x-msmail-priority",
                                      "importance", "list-id", "precedence", "errors-to", "x-originating-ip"};
    if (n >= 6 && strncasecmp(name, "x-spam", 6) == 0)
        return 0;
    if (flags & BAYES_TOK_ALLHDRS)
        return 1;
    if (!(flags & BAYES_TOK_HEADERS))
        return 0;
    if (depth > 0)
        return n > 8 && strncasecmp(name, "content-", 8) == 0;
    for (size_t i = 0; i < sizeof sel / sizeof sel[0]; i++)
        if (strlen(sel[i]) == n && strncasecmp(name, sel[i], n) == 0)
            return 1;
    return 0;
}

int bayes_dangerous_name(const char *fn, size_t len)
{
    static const char *const ext[] = {"exe", "scr", "vbs", "pif", "bat", "com", "cmd", "cpl",
                                      "hta", "jse", "vbe", "wsf", "wsh", "lnk", "msi", "js"};
    while (len && (fn[len - 1] == ' ' || fn[len - 1] == '.' || fn[len - 1] == '"' || fn[len - 1] == '\''))
        len--;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (len > e + 1 && fn[len - e - 1] == '.' && strncasecmp(fn + len - e, ext[i], e) == 0)
            return 1;
    }
    return 0;
}

static void event_cb(void *arg, const struct mime_event *ev)
{
    struct bayes_tok *t = arg;
    switch (ev->kind) {
    case MIME_BODY:
        if (t->ctx != MIME_BODY + 1)
            set_context(t, MIME_BODY + 1, "", 0, TOK_DIGITS_MAX);
        scan(t, ev->data, ev->len);
        return;
    case MIME_SUBJECT:
        set_context(t, MIME_SUBJECT + 1, "s:", 2, TOK_DIGITS_MAX);
        break;
    case MIME_FILENAME:
        if (bayes_dangerous_name(ev->data, ev->len))
            t->dangerous = 1;
        set_context(t, MIME_FILENAME + 1, "f:", 2, TOK_DIGITS_MAX);
        break;
    case MIME_HEADER: {
        if (!header_wanted(t->flags, ev->name, ev->name_len, ev->depth))
            return;
        char pre[TOK_PREFIX_MAX + 2];
        size_t n = ev->name_len < TOK_PREFIX_MAX ? ev->name_len : TOK_PREFIX_MAX;
        for (size_t i = 0; i < n; i++) {
            char c = ev->name[i];
            pre[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
        }
        pre[n++] = ':';
        set_context(t, MIME_HEADER + 1, pre, n, TOK_DIGITS_MAX_HDR);
        break;
    }
    }
    scan(t, ev->data, ev->len);
    end_run(t);
    t->ctx = 0;
}

struct bayes_tok *bayes_tok_new(unsigned flags)
{
    init_classes();
    struct bayes_tok *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->flags = flags;
    t->cap = TOK_SET_INIT;
    t->set = calloc(t->cap, sizeof *t->set);
    t->list = calloc(t->cap / 2, sizeof *t->list);
    t->w = mime_new(event_cb, t);
    if (!t->set || !t->list || !t->w) {
        bayes_tok_free(t);
        return NULL;
    }
    return t;
}

void bayes_tok_free(struct bayes_tok *t)
{
    if (!t)
        return;
    mime_free(t->w);
    free(t->set);
    free(t->list);
    free(t);
}

static void tok_reset(struct bayes_tok *t)
{
    if (t->cap > TOK_SET_INIT * 4) {
        /* After a huge message, do not clear a big table for every small one. */
        uint64_t *ns = calloc(TOK_SET_INIT, sizeof *ns);
        if (ns) {
            free(t->set);
            t->set = ns;
            t->cap = TOK_SET_INIT;
        }
    }
    if (t->n)
        memset(t->set, 0, t->cap * sizeof *t->set);
    t->n = 0;
    t->dangerous = 0;
    t->ctx = 0;
    t->run = 0;
    t->prev = 0;
}

void bayes_tok_message(struct bayes_tok *t, const char *msg, size_t len)
{
    tok_reset(t);
    mime_reset(t->w);
    mime_feed(t->w, msg, len);
    mime_finish(t->w);
    end_run(t);
}

void bayes_tok_text(struct bayes_tok *t, const char *text, size_t len)
{
    tok_reset(t);
    set_context(t, MIME_BODY + 1, "", 0, TOK_DIGITS_MAX);
    scan(t, text, len);
    end_run(t);
}

const uint64_t *bayes_tok_hashes(const struct bayes_tok *t, size_t *n)
{
    *n = t->n;
    return t->list;
}

int bayes_tok_dangerous(const struct bayes_tok *t)
{
    return t->dangerous;
}

void bayes_tok_set_debug(struct bayes_tok *t, void (*cb)(void *, const char *, size_t), void *arg)
{
    t->debug_cb = cb;
    t->debug_arg = arg;
}
