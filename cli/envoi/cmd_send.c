/* envoi send: build a message (or take a raw one) and send it over SMTP,
 * optionally many times over several parallel connections, each reused for
 * many transactions. Blocking I/O (bsmtp.c); parallelism by fork(), each
 * worker process with its own connection and its own TLS random state. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "bsmtp.h"
#include "cmds.h"
#include "conf.h"
#include "sbuf.h"
#include "smtp_parse.h"

#define SEND_RCPT_MAX 1000          /* --to per message; servers must take 100 */
#define SEND_MSG_MAX (64u << 20)    /* a message or body file we read */
#define SEND_PARALLEL_MAX 512
#define SEND_COUNT_MAX 100000000L
#define SEND_TIMEOUT_S 60           /* per reply, per connect */
#define SEND_HDR_LINE_MAX 998       /* RFC 5322 §2.1.1 */
#define SEND_SUBJECT_MAX 900
#define SEND_EW_CHUNK 39            /* input bytes per encoded-word: 52 base64 chars, a
                                       * "Subject: " line stays within 76 (RFC 2047 §2) */
#define SEND_OUT_LINE 1200          /* one report line */

#define EX_USAGE_ENVOI 2
#define EX_TEMPFAIL 75

enum send_tls { SEND_TLS_NONE, SEND_TLS_STARTTLS, SEND_TLS_IMPLICIT };
/* Outcome of a message or a session; a higher value is worse. */
enum send_class { SEND_OK = 0, SEND_TEMP = 1, SEND_PERM = 2 };

struct send_opts {
    struct conf_addr server;
    const char *server_arg;
    const char *from;
    const char *to[SEND_RCPT_MAX];
    int nto;
    const char *subject;
    char *body;        /* --body / --body-file content (malloc'd) */
    size_t body_len;
    char *raw;         /* --raw content (malloc'd), NULL when building */
    size_t raw_len;
    enum send_tls tls;
    const char *ca;
    int insecure;
    const char *tls_name;
    const char *auth_user, *auth_pass;
    char helo[256];
    long count, parallel;
    int quiet, verbose, timeout_ms;
};

/* Per worker, in memory shared with the parent (MAP_SHARED). */
struct send_tally {
    long sent, temp, perm;
};

static void usage(FILE *f)
{
    fputs("usage: envoi send --server HOST[:PORT] --from ADDR --to ADDR [--to ADDR...]\n"
          "         [--subject S] [--body TEXT | --body-file F | --raw FILE|-]\n"
          "         [--tls implicit|starttls|none] [--ca FILE | --insecure] [--tls-name NAME]\n"
          "         [--auth-user U --auth-password P] [--helo NAME] [--count N] [--parallel P]\n"
          "         [--timeout SECONDS] [--quiet] [--verbose]\n"
          "Default port: 465 with --tls implicit, 587 with starttls, else 25. The password may\n"
          "also come from $ENVOI_AUTH_PASSWORD. Exit: 0 all accepted, 1 a permanent failure\n"
          "(5xx, TLS), 75 temporary failures only (4xx, network), 2 usage.\n",
          f);
}

static int usage_err(const char *fmt, const char *arg)
{
    fputs("envoi send: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return EX_USAGE_ENVOI;
}

/* Reads a whole file ("-" is stdin), bounded. NULL with errno on failure. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct sbuf b;
    char chunk[65536];
    size_t n;
    int err = 0;

    if (!f)
        return NULL;
    sbuf_init(&b, SEND_MSG_MAX);
    while (!err && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sbuf_add(&b, chunk, n) < 0)
            err = EFBIG;
    if (!err && ferror(f))
        err = EIO;
    if (f != stdin)
        fclose(f);
    if (err) {
        sbuf_free(&b);
        errno = err;
        return NULL;
    }
    return sbuf_steal(&b, len);
}

/* An address as it goes between < >: no controls, spaces or brackets. */
static int addr_ok(const char *a)
{
    if (!*a || strlen(a) > SMTP_PATH_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
            return 0;
    return 1;
}

static int has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* Length of the longest line (without its line end). */
static size_t longest_line(const char *s, size_t n)
{
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' || s[i] == '\r')
            cur = 0;
        else if (++cur > best)
            best = cur;
    }
    return best;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct send_opts *o)
{
    enum { O_SERVER = 256, O_FROM, O_TO, O_SUBJECT, O_BODY, O_BODYFILE, O_RAW, O_TLS, O_CA, O_INSECURE,
           O_TLSNAME, O_USER, O_PASS, O_HELO, O_COUNT, O_PARALLEL, O_TIMEOUT, O_QUIET, O_VERBOSE, O_HELP };
    static const struct option lo[] = {
        {"server", required_argument, 0, O_SERVER},     {"from", required_argument, 0, O_FROM},
        {"to", required_argument, 0, O_TO},             {"subject", required_argument, 0, O_SUBJECT},
        {"body", required_argument, 0, O_BODY},         {"body-file", required_argument, 0, O_BODYFILE},
        {"raw", required_argument, 0, O_RAW},           {"tls", required_argument, 0, O_TLS},
        {"ca", required_argument, 0, O_CA},             {"insecure", no_argument, 0, O_INSECURE},
        {"tls-name", required_argument, 0, O_TLSNAME},  {"auth-user", required_argument, 0, O_USER},
        {"auth-password", required_argument, 0, O_PASS}, {"helo", required_argument, 0, O_HELO},
        {"count", required_argument, 0, O_COUNT},       {"parallel", required_argument, 0, O_PARALLEL},
        {"timeout", required_argument, 0, O_TIMEOUT},   {"quiet", no_argument, 0, O_QUIET},
        {"verbose", no_argument, 0, O_VERBOSE},         {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *body_file = NULL, *raw_file = NULL, *body = NULL;
    long timeout = SEND_TIMEOUT_S;
    int opt, nsrc = 0;

    o->count = 1;
    o->parallel = 1;
    o->tls = SEND_TLS_NONE;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "hqv", lo, NULL)) != -1) {
        switch (opt) {
        case O_SERVER: o->server_arg = optarg; break;
        case O_FROM: o->from = optarg; break;
        case O_TO:
            if (o->nto == SEND_RCPT_MAX)
                return usage_err("too many --to (at most %s)", "1000");
            o->to[o->nto++] = optarg;
            break;
        case O_SUBJECT: o->subject = optarg; break;
        case O_BODY: body = optarg; nsrc++; break;
        case O_BODYFILE: body_file = optarg; nsrc++; break;
        case O_RAW: raw_file = optarg; nsrc++; break;
        case O_TLS:
            if (strcmp(optarg, "none") == 0)
                o->tls = SEND_TLS_NONE;
            else if (strcmp(optarg, "starttls") == 0)
                o->tls = SEND_TLS_STARTTLS;
            else if (strcmp(optarg, "implicit") == 0)
                o->tls = SEND_TLS_IMPLICIT;
            else
                return usage_err("--tls must be implicit, starttls or none, not \"%s\"", optarg);
            break;
        case O_CA: o->ca = optarg; break;
        case O_INSECURE: o->insecure = 1; break;
        case O_TLSNAME: o->tls_name = optarg; break;
        case O_USER: o->auth_user = optarg; break;
        case O_PASS: o->auth_pass = optarg; break;
        case O_HELO:
            if (!addr_ok(optarg) || strlen(optarg) >= sizeof o->helo)
                return usage_err("bad --helo \"%s\"", optarg);
            snprintf(o->helo, sizeof o->helo, "%s", optarg);
            break;
        case O_COUNT:
            if (parse_long(optarg, 1, SEND_COUNT_MAX, &o->count) < 0)
                return usage_err("bad --count \"%s\"", optarg);
            break;
        case O_PARALLEL:
            if (parse_long(optarg, 1, SEND_PARALLEL_MAX, &o->parallel) < 0)
                return usage_err("bad --parallel \"%s\" (1..512)", optarg);
            break;
        case O_TIMEOUT:
            if (parse_long(optarg, 1, 3600, &timeout) < 0)
                return usage_err("bad --timeout \"%s\" (seconds)", optarg);
            break;
        case 'q': case O_QUIET: o->quiet = 1; break;
        case 'v': case O_VERBOSE: o->verbose = 1; break;
        case 'h': case O_HELP: usage(stdout); return -1;
        default:
            return usage_err("unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_err("unexpected argument \"%s\"", argv[optind]);
    if (!o->server_arg)
        return usage_err("%s", "--server is required");
    unsigned short defport = o->tls == SEND_TLS_IMPLICIT ? 465 : o->tls == SEND_TLS_STARTTLS ? 587 : 25;
    if (conf_addr_parse(o->server_arg, defport, &o->server) < 0 || !o->server.host[0] || !o->server.port)
        return usage_err("bad --server \"%s\" (HOST[:PORT])", o->server_arg);
    if (!o->from || !addr_ok(o->from))
        return usage_err("%s", o->from ? "bad --from address" : "--from is required");
    if (o->nto == 0)
        return usage_err("%s", "at least one --to is required");
    for (int i = 0; i < o->nto; i++)
        if (!addr_ok(o->to[i]))
            return usage_err("bad --to address \"%s\"", o->to[i]);
    if (nsrc > 1)
        return usage_err("%s", "--body, --body-file and --raw exclude each other");
    if (o->ca && o->insecure)
        return usage_err("%s", "--ca and --insecure exclude each other");
    if ((o->ca || o->insecure || o->tls_name) && o->tls == SEND_TLS_NONE)
        return usage_err("%s", "--ca, --insecure and --tls-name need --tls implicit or starttls");
    if (o->auth_user && !o->auth_pass) {
        o->auth_pass = getenv("ENVOI_AUTH_PASSWORD");
        if (o->auth_pass && !*o->auth_pass)
            o->auth_pass = NULL;
    }
    if (!o->auth_user != !o->auth_pass)
        return usage_err("%s", "--auth-user and --auth-password go together");
    if (o->subject) {
        if (strlen(o->subject) > SEND_SUBJECT_MAX || strpbrk(o->subject, "\r\n"))
            return usage_err("%s", "--subject must be one line of at most 900 bytes");
        if (raw_file)
            return usage_err("%s", "--subject makes no sense with --raw (the message has its own)");
    }
    if (o->parallel > o->count)
        o->parallel = o->count;
    o->timeout_ms = (int)timeout * 1000;
    if (!o->helo[0]) {
        if (gethostname(o->helo, sizeof o->helo - 1) < 0 || !addr_ok(o->helo))
            snprintf(o->helo, sizeof o->helo, "localhost");
    }
    if (raw_file) {
        if (!(o->raw = read_all(raw_file, &o->raw_len))) {
            fprintf(stderr, "envoi send: cannot read %s: %s\n", raw_file, strerror(errno));
            return EX_USAGE_ENVOI;
        }
    } else if (body_file) {
        if (!(o->body = read_all(body_file, &o->body_len))) {
            fprintf(stderr, "envoi send: cannot read %s: %s\n", body_file, strerror(errno));
            return EX_USAGE_ENVOI;
        }
    } else {
        o->body = strdup(body ? body : "");
        o->body_len = strlen(o->body);
    }
    if (o->body && longest_line(o->body, o->body_len) > SEND_HDR_LINE_MAX)
        return usage_err("%s", "a body line is longer than 998 bytes (send an encoded message with --raw)");
    return 0;
}

/* Subject, RFC 2047-encoded (UTF-8, base64) when it is not plain ASCII. */
static int add_subject(struct sbuf *m, const char *s, long idx, long count)
{
    char full[SEND_SUBJECT_MAX + 32];
    size_t n = (size_t)(count > 1 ? snprintf(full, sizeof full, "%s #%ld", s, idx)
                                  : snprintf(full, sizeof full, "%s", s));
    if (!has_8bit(full, n))
        return sbuf_printf(m, "Subject: %s\r\n", full);
    if (sbuf_adds(m, "Subject:") < 0)
        return -1;
    for (size_t off = 0; off < n;) {
        size_t take = n - off < SEND_EW_CHUNK ? n - off : SEND_EW_CHUNK;
        /* never cut a UTF-8 sequence: back off over continuation bytes */
        while (take > 1 && off + take < n && ((unsigned char)full[off + take] & 0xC0) == 0x80)
            take--;
        char enc[SEND_EW_CHUNK * 2];
        b64_encode(full + off, take, enc);
        if (sbuf_printf(m, "%s=?UTF-8?B?%s?=", off ? "\r\n " : " ", enc) < 0)
            return -1;
        off += take;
    }
    return sbuf_adds(m, "\r\n");
}

/* The message for number idx: the raw one, or headers + body. */
static int build_message(const struct send_opts *o, long idx, struct sbuf *m)
{
    if (o->raw)
        return sbuf_add(m, o->raw, o->raw_len);

    char date[64], rnd[8] = {0};
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm); /* C locale: English names */
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* the clock and pid still make it unique enough for a test tool */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(rnd, &ts.tv_nsec, sizeof ts.tv_nsec < sizeof rnd ? sizeof ts.tv_nsec : sizeof rnd);
    }
    const char *at = strrchr(o->from, '@');
    const char *domain = at && at[1] ? at + 1 : o->helo;
    unsigned long long r;
    memcpy(&r, rnd, sizeof r);

    int rc = sbuf_printf(m, "Date: %s\r\nFrom: %s\r\nTo: ", date, o->from);
    size_t col = 4;
    for (int i = 0; rc == 0 && i < o->nto; i++) {
        size_t l = strlen(o->to[i]);
        if (i && col + l + 2 > 76) { /* fold long recipient lists */
            rc = sbuf_adds(m, ",\r\n ");
            col = 1;
        } else if (i) {
            rc = sbuf_adds(m, ", ");
            col += 2;
        }
        if (rc == 0)
            rc = sbuf_adds(m, o->to[i]);
        col += l;
    }
    if (rc == 0)
        rc = sbuf_adds(m, "\r\n");
    if (rc == 0)
        rc = add_subject(m, o->subject ? o->subject : "envoi test message", idx, o->count);
    if (rc == 0)
        rc = sbuf_printf(m,
                         "Message-ID: <%016llx.%ld.%ld@%s>\r\nMIME-Version: 1.0\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n\r\n",
                         r, (long)getpid(), idx, domain, has_8bit(o->body, o->body_len) ? "8bit" : "7bit");
    if (rc == 0)
        rc = sbuf_add(m, o->body, o->body_len);
    return rc;
}

static enum send_class class_of(int code)
{
    return code >= 200 && code < 400 ? SEND_OK : code >= 400 && code < 500 ? SEND_TEMP : SEND_PERM;
}

static void out_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One write per line so the lines of parallel workers never interleave. */
static void out_line(int fd, const char *fmt, ...)
{
    char line[SEND_OUT_LINE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
}

/* Records a refused step of message idx; returns the worse class. */
static enum send_class refused(long idx, const char *step, const struct smtp_reply *r, enum send_class cur)
{
    char fl[SEND_OUT_LINE / 2];
    out_line(2, "envoi send: msg %ld: %s: %d %s", idx, step, r->code, bsmtp_first_line(r, fl, sizeof fl));
    enum send_class k = class_of(r->code);
    return k > cur ? k : cur;
}

static enum send_class conn_lost(struct bsmtp *c, long idx)
{
    out_line(2, "envoi send: msg %ld: %s", idx, c->err);
    bsmtp_close(c, 0);
    return SEND_TEMP;
}

/* One transaction on an open session. A broken connection is closed so the
 * caller reconnects for the next message. */
static enum send_class send_message(struct bsmtp *c, const struct send_opts *o, long idx)
{
    struct sbuf msg, data, cmds;
    struct smtp_reply r;
    enum send_class cls = SEND_OK;
    int pipe = (c->ext & BSMTP_EXT_PIPELINING) != 0, accepted = 0, mail_ok = 0, need_rset = 0;
    char step[SMTP_PATH_MAX + 16];

    sbuf_init(&msg, SEND_MSG_MAX * 2);
    sbuf_init(&data, SEND_MSG_MAX * 3);
    sbuf_init(&cmds, (size_t)(o->nto + 2) * (SMTP_PATH_MAX + 64));
    if (build_message(o, idx, &msg) < 0 || smtp_dot_stuff(msg.p ? msg.p : "", msg.len, &data) < 0) {
        out_line(2, "envoi send: msg %ld: out of memory", idx);
        cls = SEND_TEMP;
        goto done;
    }
    if (c->size_max && data.len > c->size_max) {
        out_line(2, "envoi send: msg %ld: %zu bytes exceed the server's SIZE %lu", idx, data.len, c->size_max);
        cls = SEND_PERM;
        goto done;
    }

    int eight = has_8bit(msg.p ? msg.p : "", msg.len), utf8 = has_8bit(o->from, strlen(o->from));
    for (int i = 0; i < o->nto; i++)
        utf8 |= has_8bit(o->to[i], strlen(o->to[i]));
    int rc = sbuf_printf(&cmds, "MAIL FROM:<%s>%s%s", o->from,
                         eight && (c->ext & BSMTP_EXT_8BITMIME) ? " BODY=8BITMIME" : "",
                         utf8 && (c->ext & BSMTP_EXT_SMTPUTF8) ? " SMTPUTF8" : "");
    if (rc == 0 && (c->ext & BSMTP_EXT_SIZE))
        rc = sbuf_printf(&cmds, " SIZE=%zu", data.len);
    size_t mail_len = cmds.len;
    for (int i = 0; rc == 0 && i < o->nto; i++)
        rc = sbuf_printf(&cmds, "\r\nRCPT TO:<%s>", o->to[i]);
    if (rc == 0)
        rc = sbuf_adds(&cmds, "\r\nDATA\r\n");
    if (rc < 0) {
        cls = SEND_TEMP;
        goto done;
    }

    /* With PIPELINING the whole envelope and DATA go in one write (RFC 2920);
     * without, each command waits for its reply. The replies are read the
     * same way in both cases, one per command, in order. */
    if (pipe) {
        if (o->verbose)
            fprintf(stderr, "C: %.*s\n", (int)(cmds.len - 2), cmds.p);
        if (bsmtp_write(c, cmds.p, cmds.len) < 0) {
            cls = conn_lost(c, idx);
            goto done;
        }
    }
    size_t off = 0;
    for (int i = 0; i <= o->nto + 1; i++) {
        const char *line = cmds.p + off;
        const char *crlf = memmem(line, cmds.len - off, "\r\n", 2); /* always found: we built it */
        size_t ll = (size_t)(crlf - line);
        off += ll + 2;
        snprintf(step, sizeof step, "%.*s", (int)(i == 0 ? mail_len : ll), line);
        if (!pipe) {
            if (i > 0 && !mail_ok)
                break;                         /* nothing to add recipients to */
            if (i == o->nto + 1 && !accepted)
                break;                         /* DATA without recipients is pointless */
            if (o->verbose)
                fprintf(stderr, "C: %s\n", step);
            if (bsmtp_write(c, line, ll + 2) < 0) {
                cls = conn_lost(c, idx);
                goto done;
            }
        }
        if (bsmtp_read(c, &r) < 0) {
            cls = conn_lost(c, idx);
            goto done;
        }
        if (r.code == 421) {                   /* the server is going away */
            cls = refused(idx, step, &r, cls);
            bsmtp_close(c, 0);
            goto done;
        }
        if (i == 0) {
            mail_ok = r.code / 100 == 2;
            need_rset = mail_ok;
            if (!mail_ok)
                cls = refused(idx, step, &r, cls);
        } else if (i <= o->nto) {
            if (r.code / 100 == 2)
                accepted++;
            else if (mail_ok)                  /* after a refused MAIL the 503s say nothing new */
                cls = refused(idx, step, &r, cls);
        } else if (r.code == 354 && (!mail_ok || !accepted)) {
            /* A pipelined DATA the server took although the envelope failed:
             * an empty body ends it (RFC 2920 §3.1). */
            if (bsmtp_write(c, ".\r\n", 3) < 0 || bsmtp_read(c, &r) < 0) {
                cls = conn_lost(c, idx);
                goto done;
            }
        } else if (r.code != 354) {
            if (mail_ok && accepted)
                cls = refused(idx, step, &r, cls);
        } else {
            if (o->verbose)
                fprintf(stderr, "C: <message, %zu bytes, dot-stuffed>\n", data.len);
            if (bsmtp_write(c, data.p, data.len) < 0 || bsmtp_read(c, &r) < 0) {
                cls = conn_lost(c, idx);
                goto done;
            }
            need_rset = 0;                     /* the transaction ended either way */
            if (r.code / 100 != 2) {
                cls = refused(idx, "end of data", &r, cls);
                if (r.code == 421)
                    bsmtp_close(c, 0);
            } else if (cls == SEND_OK) {
                if (!o->quiet) {
                    char fl[SEND_OUT_LINE / 2];
                    out_line(1, "msg %ld: %d %s", idx, r.code, bsmtp_first_line(&r, fl, sizeof fl));
                }
            } else {
                out_line(2, "envoi send: msg %ld: accepted for %d of %d recipients: %d", idx, accepted, o->nto,
                         r.code);
            }
        }
    }
    if (mail_ok && !accepted)
        cls = cls == SEND_OK ? SEND_PERM : cls;
    if (need_rset && c->connected) {
        /* a failed envelope leaves a transaction open: close it so the next
         * MAIL on this connection is not a nested one */
        if (bsmtp_cmd(c, &r, "RSET") < 0 || r.code != 250)
            bsmtp_close(c, 0);
    }
done:
    sbuf_free(&msg);
    sbuf_free(&data);
    sbuf_free(&cmds);
    return cls;
}

/* Connect, greeting, EHLO, TLS, AUTH. Prints why when it fails. */
static enum send_class session_open(struct bsmtp *c, struct bsmtp_tls *tls, const struct send_opts *o)
{
    struct smtp_reply r;
    const char *name = o->tls_name ? o->tls_name : o->server.host;
    const char *srv = o->server_arg;
    char fl[SEND_OUT_LINE / 2];

    c->verbose = o->verbose;
    if (o->tls != SEND_TLS_NONE && !tls->ready &&
        bsmtp_tls_init(tls, o->ca, o->insecure, c->err, sizeof c->err) < 0)
        goto perm;
    if (bsmtp_connect(c, o->server.host, o->server.port, o->timeout_ms) < 0) {
        out_line(2, "envoi send: %s: %s", srv, c->err);
        return SEND_TEMP;
    }
    if (o->tls == SEND_TLS_IMPLICIT && bsmtp_tls_start(c, tls, name) < 0)
        goto perm;
    if (bsmtp_read(c, &r) < 0)
        goto temp;
    if (r.code != 220)
        goto refused;
    if (bsmtp_ehlo(c, o->helo, &r) < 0)
        goto temp;
    if (r.code != 250)
        goto refused;
    if (o->tls == SEND_TLS_STARTTLS) {
        if (!(c->ext & BSMTP_EXT_STARTTLS)) {
            snprintf(c->err, sizeof c->err, "server does not offer STARTTLS (use --tls none to send in clear)");
            goto perm;
        }
        if (bsmtp_starttls(c, tls, name, &r) < 0)
            goto perm;
        if (r.code != 220)
            goto refused;
        if (bsmtp_ehlo(c, o->helo, &r) < 0)
            goto temp;
        if (r.code != 250)
            goto refused;
    }
    if (o->auth_user) {
        if (!(c->ext & BSMTP_EXT_AUTH_PLAIN)) {
            snprintf(c->err, sizeof c->err, "server does not offer AUTH PLAIN%s",
                     c->tls ? "" : " (servers often offer AUTH only after STARTTLS: try --tls starttls)");
            goto perm;
        }
        if (!c->tls)
            out_line(2, "envoi send: warning: sending the password to %s without TLS", srv);
        if (bsmtp_auth_plain(c, o->auth_user, o->auth_pass, &r) < 0)
            goto temp;
        if (r.code != 235)
            goto refused;
    }
    return SEND_OK;
refused:
    out_line(2, "envoi send: %s: session refused: %d %s", srv, r.code, bsmtp_first_line(&r, fl, sizeof fl));
    bsmtp_close(c, r.code != 421);
    return class_of(r.code) == SEND_OK ? SEND_PERM : class_of(r.code);
temp:
    out_line(2, "envoi send: %s: %s", srv, c->err);
    bsmtp_close(c, 0);
    return SEND_TEMP;
perm:
    out_line(2, "envoi send: %s: %s", srv, c->err);
    bsmtp_close(c, 0);
    return SEND_PERM;
}

static void tally_add(struct send_tally *t, enum send_class k, long n)
{
    if (k == SEND_OK)
        t->sent += n;
    else if (k == SEND_TEMP)
        t->temp += n;
    else
        t->perm += n;
}

/* Worker w sends messages w+1, w+1+P, w+1+2P... over one reused session. */
static void send_worker(const struct send_opts *o, long w, struct send_tally *t)
{
    struct bsmtp *c = calloc(1, sizeof *c);
    struct bsmtp_tls tls = {0};

    if (!c) {
        tally_add(t, SEND_TEMP, (o->count - w - 1) / o->parallel + 1);
        return;
    }
    for (long i = w + 1; i <= o->count; i += o->parallel) {
        if (!c->connected) {
            enum send_class k = session_open(c, &tls, o);
            if (k != SEND_OK) {
                /* the server just refused us: retrying per message would only hammer it */
                long left = (o->count - i) / o->parallel + 1;
                out_line(2, "envoi send: %ld message(s) not sent on this connection", left);
                tally_add(t, k, left);
                break;
            }
        }
        tally_add(t, send_message(c, o, i), 1);
    }
    bsmtp_close(c, 1);
    bsmtp_tls_free(&tls);
    free(c);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_send(int argc, char **argv)
{
    struct send_opts *o = calloc(1, sizeof *o);
    if (!o)
        return 1;
    int rc = parse_opts(argc, argv, o);
    if (rc != 0) {
        free(o->body);
        free(o->raw);
        free(o);
        return rc < 0 ? 0 : rc;
    }
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an error reply, not our death */

    if (o->tls != SEND_TLS_NONE) { /* a bad --ca is a usage error, before any connection */
        struct bsmtp_tls t;
        char err[BSMTP_ERR_MAX];
        if (bsmtp_tls_init(&t, o->ca, o->insecure, err, sizeof err) < 0) {
            bsmtp_tls_free(&t);
            fprintf(stderr, "envoi send: %s\n", err);
            free(o->body);
            free(o->raw);
            free(o);
            return EX_USAGE_ENVOI;
        }
        bsmtp_tls_free(&t);
    }

    size_t tsz = sizeof(struct send_tally) * (size_t)o->parallel;
    struct send_tally *tally = mmap(NULL, tsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tally == MAP_FAILED) {
        perror("envoi send: mmap");
        return 1;
    }
    memset(tally, 0, tsz);
    double t0 = now_s();
    if (o->parallel == 1) {
        send_worker(o, 0, tally);
    } else {
        fflush(NULL);
        pid_t *pids = calloc((size_t)o->parallel, sizeof *pids);
        for (long w = 0; pids && w < o->parallel; w++) {
            pids[w] = fork();
            if (pids[w] == 0) {
                send_worker(o, w, &tally[w]);
                _exit(0);
            }
            if (pids[w] < 0)
                perror("envoi send: fork");
        }
        for (long w = 0; pids && w < o->parallel; w++) {
            int st = 0;
            if (pids[w] > 0)
                while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
                    ;
            /* a worker that died (or never started) leaves messages unaccounted */
            long assigned = (o->count - w - 1) / o->parallel + 1;
            long done = tally[w].sent + tally[w].temp + tally[w].perm;
            if (done < assigned) {
                out_line(2, "envoi send: worker %ld ended abnormally: %ld message(s) not sent", w,
                         assigned - done);
                tally[w].temp += assigned - done;
            }
        }
        if (!pids) {
            perror("envoi send");
            tally[0].temp = o->count;
        }
        free(pids);
    }
    double dt = now_s() - t0;
    struct send_tally sum = {0};
    for (long w = 0; w < o->parallel; w++) {
        sum.sent += tally[w].sent;
        sum.temp += tally[w].temp;
        sum.perm += tally[w].perm;
    }
    munmap(tally, tsz);
    printf("sent %ld, failed %ld, %.1f msg/s\n", sum.sent, sum.temp + sum.perm,
           dt > 0 ? (double)sum.sent / dt : 0.0);
    free(o->body);
    free(o->raw);
    free(o);
    /* a permanent failure will not heal by retrying, so it wins over 4xx */
    return sum.perm ? 1 : sum.temp ? EX_TEMPFAIL : 0;
}
