/* envoi sink: an SMTP server that stores every message it receives, in a
 * Maildir (one file per message, written to tmp/, fsynced, renamed to new/)
 * or appended to one file. The lab's last hop until the relay exists, and
 * the far end of process tests. It answers 250 only after the fsync. */
#include "cmds.h"

#include "admin.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "smtp_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sink {
    const char *maildir, *file, *domain;
    unsigned long count;
    char host[64];
};

static int sink_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The envelope goes in front as Return-Path / X-Envoi-Rcpt so tests can check it. */
static int sink_store(struct sink *k, struct smtp_session *s, const char *msg, size_t len)
{
    struct sbuf head;
    sbuf_init(&head, 0);
    sbuf_printf(&head, "Return-Path: <%s>\r\n", s->srv.from.addr);
    for (int i = 0; i < s->srv.nrcpt; i++)
        sbuf_printf(&head, "X-Envoi-Rcpt: <%s>\r\n", s->srv.rcpts[i]);
    int rc = -1, fd;
    if (k->maildir) {
        char tmp[4096], dst[4096];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k->count++;
        snprintf(tmp, sizeof tmp, "%s/tmp/%ld.M%ldP%dQ%lu.%s", k->maildir, (long)ts.tv_sec, ts.tv_nsec / 1000,
                 (int)getpid(), k->count, k->host);
        snprintf(dst, sizeof dst, "%s/new/%s", k->maildir, strrchr(tmp, '/') + 1);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            rc = sink_write_all(fd, head.p, head.len) | sink_write_all(fd, msg, len) | fsync(fd);
            rc |= close(fd);
            if (rc == 0)
                rc = rename(tmp, dst);
            if (rc != 0)
                unlink(tmp);
        }
    } else {
        fd = open(k->file, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            rc = sink_write_all(fd, "From envoi-sink\r\n", 17) | sink_write_all(fd, head.p, head.len) |
                 sink_write_all(fd, msg, len) | sink_write_all(fd, "\r\n", 2) | fsync(fd);
            rc |= close(fd);
        }
    }
    sbuf_free(&head);
    return rc;
}

static void sink_message(struct smtp_session *s, const char *msg, size_t len)
{
    struct sink *k = s->l->arg;
    if (sink_store(k, s, msg, len) < 0) {
        log_error("sink.store.failed", "id=%s err=\"%s\"", s->id, strerror(errno));
        smtp_srv_reply(&s->srv, "451 4.3.0 Cannot store message, try again later");
        return;
    }
    log_info("sink.stored", "id=%s from=<%s> rcpts=%d bytes=%zu", s->id, s->srv.from.addr, s->srv.nrcpt, len);
    char reply[128];
    snprintf(reply, sizeof reply, "250 2.0.0 Ok: stored as %s", s->id);
    smtp_srv_reply(&s->srv, reply);
}

static const struct smtp_listen_ops sink_ops = {.message = sink_message};

static int sink_mkdirs(const char *base)
{
    char p[4096];
    const char *sub[] = {"", "/tmp", "/new", "/cur"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", base, sub[i]);
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

int cmd_sink(int argc, char **argv)
{
    struct sink k = {0};
    struct conf_list listen = {0};
    const char *admin = NULL, *level = NULL, *cert = NULL, *key = NULL;
    long max_size = 0;
    struct conf_flag flags[] = {
        {"listen", CONF_LIST, &listen, ":25", "HOST:PORT to accept SMTP on (repeatable)"},
        {"maildir", CONF_STR, &k.maildir, NULL, "store each message in this Maildir"},
        {"file", CONF_STR, &k.file, NULL, "append each message to this file"},
        {"domain", CONF_STR, &k.domain, "sink.test", "our name in the greeting"},
        {"admin", CONF_STR, &admin, NULL, "HOST:PORT for /healthz and /metrics"},
        {"tls-cert", CONF_STR, &cert, NULL, "PEM certificate (offers STARTTLS)"},
        {"tls-key", CONF_STR, &key, NULL, "PEM key"},
        {"max-size", CONF_INT, &max_size, "52428800", "largest message in bytes"},
        {"log-level", CONF_STR, &level, "info", "debug|info|warn|error"},
    };
    int check;
    if (conf_parse("envoi sink", flags, sizeof flags / sizeof flags[0], argc, argv, &check) < 0)
        return 2;
    log_init("sink", log_level_parse(level) < 0 ? LOG_INFO : log_level_parse(level));
    if (!k.maildir == !k.file) {
        fprintf(stderr, "envoi sink: give exactly one of --maildir DIR or --file FILE\n");
        return 2;
    }
    if (k.maildir && sink_mkdirs(k.maildir) < 0) {
        fprintf(stderr, "envoi sink: cannot create Maildir %s: %s\n", k.maildir, strerror(errno));
        return 2;
    }
    if (check)
        return 0;
    gethostname(k.host, sizeof k.host - 1);
    uv_loop_t *loop = uv_default_loop();
    daemon_init(loop, "sink");
    static struct smtp_listener l;
    l.loop = loop;
    l.ops = &sink_ops;
    l.arg = &k;
    l.service = "sink";
    l.timeout_ms = 300000;
    l.srv.hostname = k.domain;
    l.srv.max_size = (size_t)max_size;
    if (cert) {
        char err[256];
        l.tls = tls_server_config(cert, key ? key : cert, err, sizeof err);
        if (!l.tls) {
            fprintf(stderr, "envoi sink: %s\n", err);
            return 2;
        }
        l.srv.starttls = 1;
    }
    for (int i = 0; i < listen.n; i++) {
        int rc = smtp_listen_add(&l, listen.v[i], 0);
        if (rc < 0) {
            fprintf(stderr, "envoi sink: cannot listen on %s: %s\n", listen.v[i], uv_strerror(rc));
            return 2;
        }
    }
    smtp_listen_start(&l);
    if (admin_start(loop, admin, NULL, NULL) < 0) {
        fprintf(stderr, "envoi sink: cannot listen on admin address %s\n", admin);
        return 2;
    }
    int rc = daemon_run(loop);
    if (l.tls)
        tls_config_unref(l.tls);
    return rc == 0 ? 0 : 1;
}
