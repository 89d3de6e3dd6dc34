/* bsmtp: blocking SMTP client connection (see bsmtp.h). */
#include "bsmtp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/error.h>

#include "b64.h"

#define BSMTP_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define BSMTP_CMD_MAX 1024      /* one command line we send, CRLF included */
#define BSMTP_AUTH_MAX 512      /* user + password for AUTH PLAIN */
#define BSMTP_VERBOSE_DATA 200  /* bytes of a long write shown with --verbose */

static void set_err(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static const char *tls_strerror(int rc, char *buf, size_t n)
{
    mbedtls_strerror(rc, buf, n);
    return buf;
}

int bsmtp_tls_init(struct bsmtp_tls *t, const char *ca, int insecure, char *err, size_t errsz)
{
    static const char pers[] = "envoi-send";
    char eb[160];
    int rc;

    memset(t, 0, sizeof *t);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    t->ready = 1;
    rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, (const unsigned char *)pers,
                               sizeof pers - 1);
    if (rc) {
        set_err(err, errsz, "TLS: cannot seed the random generator: %s", tls_strerror(rc, eb, sizeof eb));
        return -1;
    }
    rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc) {
        set_err(err, errsz, "TLS: configuration failed: %s", tls_strerror(rc, eb, sizeof eb));
        return -1;
    }
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    if (insecure) {
        mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
        return 0;
    }
    const char *file = ca ? ca : BSMTP_SYSTEM_CA;
    rc = mbedtls_x509_crt_parse_file(&t->ca, file);
    /* A positive count means some certificates of a system bundle did not
     * parse; the rest are usable. An explicit --ca must parse entirely. */
    if (rc < 0 || (ca && rc > 0) || t->ca.version == 0) {
        set_err(err, errsz, "TLS: cannot load CA certificates from %s: %s%s", file,
                rc < 0 ? tls_strerror(rc, eb, sizeof eb) : "unparsable certificates",
                ca ? "" : " (use --ca FILE or --insecure)");
        return -1;
    }
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    return 0;
}

void bsmtp_tls_free(struct bsmtp_tls *t)
{
    if (!t->ready)
        return;
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    t->ready = 0;
}

/* connect() bounded by timeout_ms; the socket is left blocking. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t salen, int timeout_ms)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    int rc = connect(fd, sa, salen);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n;
        do
            n = poll(&p, 1, timeout_ms);
        while (n < 0 && errno == EINTR);
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -1;
        if (soerr) {
            errno = soerr;
            return -1;
        }
        rc = 0;
    }
    if (rc < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl);
}

int bsmtp_connect(struct bsmtp *c, const char *host, unsigned port, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char ps[16];
    int gai, fd = -1, last = 0;

    c->rlen = 0;
    c->tls = 0;
    c->ext = 0;
    c->size_max = 0;
    c->timeout_ms = timeout_ms;
    snprintf(ps, sizeof ps, "%u", port);
    gai = getaddrinfo(host, ps, &hints, &res);
    if (gai) {
        set_err(c->err, sizeof c->err, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0)
            break;
        last = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_err(c->err, sizeof c->err, "cannot connect to %s port %u: %s", host, port, strerror(last));
        return -1;
    }
    /* Reads are bounded by mbedtls_net_recv_timeout; writes by SO_SNDTIMEO,
     * so a server that stops reading cannot hang us forever. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    mbedtls_net_init(&c->net);
    c->net.fd = fd;
    c->connected = 1;
    return 0;
}

int bsmtp_tls_start(struct bsmtp *c, struct bsmtp_tls *t, const char *name)
{
    char eb[160];
    int rc;

    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_conf_read_timeout(&t->conf, (uint32_t)c->timeout_ms);
    if ((rc = mbedtls_ssl_setup(&c->ssl, &t->conf)) != 0 || (rc = mbedtls_ssl_set_hostname(&c->ssl, name)) != 0) {
        set_err(c->err, sizeof c->err, "TLS setup failed: %s", tls_strerror(rc, eb, sizeof eb));
        mbedtls_ssl_free(&c->ssl);
        return -1;
    }
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
    c->tls = 1; /* from here on bsmtp_close must free ssl */
    while ((rc = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
        if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags) {
            char vb[256];
            int n = mbedtls_x509_crt_verify_info(vb, sizeof vb, "", flags);
            while (n > 0 && (vb[n - 1] == '\n' || vb[n - 1] == ' '))
                vb[--n] = '\0';
            for (char *p = vb; *p; p++)
                if (*p == '\n')
                    *p = ';';
            set_err(c->err, sizeof c->err, "TLS certificate of %s not trusted: %s", name, vb);
        } else {
            set_err(c->err, sizeof c->err, "TLS handshake with %s failed: %s", name,
                    tls_strerror(rc, eb, sizeof eb));
        }
        return -1;
    }
    if (c->verbose)
        fprintf(stderr, "   TLS up: %s %s\n", mbedtls_ssl_get_version(&c->ssl),
                mbedtls_ssl_get_ciphersuite(&c->ssl));
    return 0;
}

/* Fills rbuf with more bytes: >0 read, -1 error (c->err set). */
static int fill(struct bsmtp *c)
{
    char eb[160];
    size_t room = sizeof c->rbuf - c->rlen;
    int n;

    if (!c->connected) {
        set_err(c->err, sizeof c->err, "not connected");
        return -1;
    }
    if (room == 0) {
        set_err(c->err, sizeof c->err, "reply too long");
        return -1;
    }
    for (;;) {
        if (c->tls)
            n = mbedtls_ssl_read(&c->ssl, (unsigned char *)c->rbuf + c->rlen, room);
        else
            n = mbedtls_net_recv_timeout(&c->net, (unsigned char *)c->rbuf + c->rlen, room,
                                         (uint32_t)c->timeout_ms);
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        break;
    }
    if (n > 0) {
        c->rlen += (size_t)n;
        return n;
    }
    if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || n == MBEDTLS_ERR_NET_CONN_RESET)
        set_err(c->err, sizeof c->err, "connection closed by server");
    else if (n == MBEDTLS_ERR_SSL_TIMEOUT)
        set_err(c->err, sizeof c->err, "timed out after %d ms waiting for a reply", c->timeout_ms);
    else
        set_err(c->err, sizeof c->err, "read failed: %s", tls_strerror(n, eb, sizeof eb));
    return -1;
}

int bsmtp_read(struct bsmtp *c, struct smtp_reply *r)
{
    for (;;) {
        size_t used = 0;
        enum smtp_reply_rc rc = smtp_reply_parse(c->rbuf, c->rlen, &used, r);
        if (rc == SMTP_REPLY_OK) {
            if (c->verbose) {
                size_t n = used;
                while (n > 0 && (c->rbuf[n - 1] == '\r' || c->rbuf[n - 1] == '\n'))
                    n--;
                fprintf(stderr, "S: %.*s\n", (int)n, c->rbuf);
            }
            c->rlen -= used;
            memmove(c->rbuf, c->rbuf + used, c->rlen);
            return 0;
        }
        if (rc == SMTP_REPLY_BAD) {
            char show[80];
            size_t n = c->rlen < sizeof show - 1 ? c->rlen : sizeof show - 1;
            for (size_t i = 0; i < n; i++)
                show[i] = (c->rbuf[i] >= 0x20 && c->rbuf[i] < 0x7f) ? c->rbuf[i] : '.';
            show[n] = '\0';
            set_err(c->err, sizeof c->err, "malformed reply from server: \"%s\"", show);
            return -1;
        }
        if (fill(c) < 0)
            return -1;
    }
}

int bsmtp_write(struct bsmtp *c, const void *p, size_t n)
{
    const unsigned char *b = p;
    char eb[160];

    if (!c->connected) {
        set_err(c->err, sizeof c->err, "not connected");
        return -1;
    }
    while (n > 0) {
        int w = c->tls ? mbedtls_ssl_write(&c->ssl, b, n) : mbedtls_net_send(&c->net, b, n);
        if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (w <= 0) {
            if (w == MBEDTLS_ERR_NET_CONN_RESET)
                set_err(c->err, sizeof c->err, "connection reset by server");
            else
                set_err(c->err, sizeof c->err, "write failed: %s", tls_strerror(w, eb, sizeof eb));
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_line(struct bsmtp *c, const char *line, size_t len, const char *shown)
{
    if (c->verbose)
        fprintf(stderr, "C: %s\n", shown ? shown : line);
    return bsmtp_write(c, line, len);
}

int bsmtp_cmd(struct bsmtp *c, struct smtp_reply *r, const char *fmt, ...)
{
    char line[BSMTP_CMD_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 2) {
        set_err(c->err, sizeof c->err, "command too long");
        return -1;
    }
    if (c->verbose)
        fprintf(stderr, "C: %s\n", line);
    memcpy(line + n, "\r\n", 2);
    if (bsmtp_write(c, line, (size_t)n + 2) < 0)
        return -1;
    return bsmtp_read(c, r);
}

/* Is kw (case-insensitive) the keyword of this EHLO line? */
static int ext_is(const char *line, size_t len, const char *kw, const char **params)
{
    size_t k = strlen(kw);
    if (len < k || strncasecmp(line, kw, k) != 0)
        return 0;
    if (len > k && line[k] != ' ' && line[k] != '=')
        return 0;
    *params = line + k;
    return 1;
}

static void parse_ehlo(struct bsmtp *c, const struct smtp_reply *r)
{
    const char *p = r->text, *end = r->text + r->text_len;
    int first = 1;

    c->ext = 0;
    c->size_max = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *params;
        if (first) { /* the greeting line names the server, it is no keyword */
            first = 0;
        } else if (ext_is(p, len, "PIPELINING", &params)) {
            c->ext |= BSMTP_EXT_PIPELINING;
        } else if (ext_is(p, len, "STARTTLS", &params)) {
            c->ext |= BSMTP_EXT_STARTTLS;
        } else if (ext_is(p, len, "8BITMIME", &params)) {
            c->ext |= BSMTP_EXT_8BITMIME;
        } else if (ext_is(p, len, "SMTPUTF8", &params)) {
            c->ext |= BSMTP_EXT_SMTPUTF8;
        } else if (ext_is(p, len, "SIZE", &params)) {
            c->ext |= BSMTP_EXT_SIZE;
            c->size_max = strtoul(params + (*params ? 1 : 0), NULL, 10);
        } else if (ext_is(p, len, "AUTH", &params)) {
            /* "AUTH PLAIN LOGIN" or the old "AUTH=PLAIN" form */
            c->ext |= BSMTP_EXT_AUTH;
            const char *e = p + len;
            while (params < e) {
                while (params < e && (*params == ' ' || *params == '='))
                    params++;
                const char *w = params;
                while (params < e && *params != ' ')
                    params++;
                if (params - w == 5 && strncasecmp(w, "PLAIN", 5) == 0)
                    c->ext |= BSMTP_EXT_AUTH_PLAIN;
            }
        }
        p += len + 1;
    }
}

int bsmtp_ehlo(struct bsmtp *c, const char *helo, struct smtp_reply *r)
{
    if (bsmtp_cmd(c, r, "EHLO %s", helo) < 0)
        return -1;
    if (r->code == 250) {
        parse_ehlo(c, r);
        return 0;
    }
    c->ext = 0;
    if (r->code == 500 || r->code == 502) /* an old server without ESMTP */
        return bsmtp_cmd(c, r, "HELO %s", helo);
    return 0;
}

int bsmtp_starttls(struct bsmtp *c, struct bsmtp_tls *t, const char *name, struct smtp_reply *r)
{
    if (bsmtp_cmd(c, r, "STARTTLS") < 0)
        return -1;
    if (r->code != 220)
        return 0;
    if (c->rlen) {
        set_err(c->err, sizeof c->err, "server sent %zu bytes after its STARTTLS reply: refusing (injection)",
                c->rlen);
        return -1;
    }
    if (bsmtp_tls_start(c, t, name) < 0)
        return -1;
    c->ext = 0; /* what was offered in clear no longer counts (RFC 3207 §4.2) */
    return 0;
}

int bsmtp_auth_plain(struct bsmtp *c, const char *user, const char *pass, struct smtp_reply *r)
{
    unsigned char raw[BSMTP_AUTH_MAX];
    char enc[BSMTP_AUTH_MAX * 4 / 3 + 8], line[sizeof enc + 16];
    size_t ul = strlen(user), pl = strlen(pass);

    if (ul + pl + 2 > sizeof raw) {
        set_err(c->err, sizeof c->err, "user name and password too long for AUTH PLAIN");
        return -1;
    }
    /* authzid (empty) NUL authcid NUL password (RFC 4616) */
    raw[0] = '\0';
    memcpy(raw + 1, user, ul);
    raw[1 + ul] = '\0';
    memcpy(raw + 2 + ul, pass, pl);
    b64_encode(raw, ul + pl + 2, enc);
    memset(raw, 0, sizeof raw);

    int n = snprintf(line, sizeof line, "AUTH PLAIN %s\r\n", enc);
    int rc = send_line(c, line, (size_t)n, "AUTH PLAIN ********");
    if (rc == 0)
        rc = bsmtp_read(c, r);
    if (rc == 0 && r->code == 334 && r->text_len == 0) {
        /* A server that wants the response on its own line after an empty 334. */
        n = snprintf(line, sizeof line, "%s\r\n", enc);
        rc = send_line(c, line, (size_t)n, "********");
        if (rc == 0)
            rc = bsmtp_read(c, r);
    }
    memset(line, 0, sizeof line);
    memset(enc, 0, sizeof enc);
    return rc;
}

void bsmtp_close(struct bsmtp *c, int quit)
{
    if (!c->connected)
        return;
    if (quit) {
        struct smtp_reply r;
        int saved = c->timeout_ms;
        c->timeout_ms = saved < 2000 ? saved : 2000; /* nobody waits long for a 221 */
        (void)bsmtp_cmd(c, &r, "QUIT");
        c->timeout_ms = saved;
    }
    if (c->tls) {
        if (quit)
            (void)mbedtls_ssl_close_notify(&c->ssl);
        mbedtls_ssl_free(&c->ssl);
        c->tls = 0;
    }
    mbedtls_net_free(&c->net);
    c->connected = 0;
    c->rlen = 0;
    c->ext = 0;
}

const char *bsmtp_first_line(const struct smtp_reply *r, char *buf, size_t bufsz)
{
    const char *nl = memchr(r->text, '\n', r->text_len);
    size_t n = nl ? (size_t)(nl - r->text) : r->text_len;
    if (n >= bufsz)
        n = bufsz - 1;
    memcpy(buf, r->text, n);
    buf[n] = '\0';
    return buf;
}
