/* envoi health HOST:PORT: GET /healthz on a service's admin port; exit 0 on
 * HTTP 200. Made for Docker HEALTHCHECK, so it is small, bounded in time and
 * needs nothing but the binary. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "conf.h"

#define HEALTH_TIMEOUT_MS 5000  /* connect + request + response, in total */
#define HEALTH_RESP_MAX 4096    /* we only need the status line */
#define HEALTH_PATH_MAX 256

static void health_usage(FILE *f)
{
    fputs("usage: envoi health HOST:PORT [--path /healthz] [--timeout SECONDS]\n"
          "exit 0 when the admin port answers 200, 1 otherwise, 2 on usage errors\n",
          f);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for ev on fd until the deadline: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short ev, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : n > 0;
    }
}

/* Connects to one of host's addresses before the deadline; returns a
 * non-blocking socket or -1 with errno. */
static int health_connect(const char *host, unsigned port, long long deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char ps[16];
    int fd = -1, err = ECONNREFUSED;

    snprintf(ps, sizeof ps, "%u", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int so = 0;
            socklen_t sl = sizeof so;
            int w = wait_fd(fd, POLLOUT, deadline);
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0)
                break;
            err = w == 0 ? ETIMEDOUT : so ? so : errno;
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        errno = err;
    return fd;
}

int cmd_health(int argc, char **argv)
{
    const char *target = NULL, *path = "/healthz";
    long timeout_ms = HEALTH_TIMEOUT_MS;
    struct conf_addr a;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            health_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            double s = strtod(argv[++i], &end);
            if (*end || s <= 0 || s > 3600) {
                health_usage(stderr);
                return 2;
            }
            timeout_ms = (long)(s * 1000);
        } else if (argv[i][0] != '-' && !target) {
            target = argv[i];
        } else {
            fprintf(stderr, "envoi health: unexpected argument \"%s\"\n", argv[i]);
            health_usage(stderr);
            return 2;
        }
    }
    if (!target || conf_addr_parse(target, 0, &a) < 0 || !a.port || path[0] != '/' ||
        strlen(path) > HEALTH_PATH_MAX || strpbrk(path, " \r\n")) {
        health_usage(stderr);
        return 2;
    }
    const char *host = a.host[0] ? a.host : "127.0.0.1";
    long long deadline = now_ms() + timeout_ms;
    int fd = health_connect(host, a.port, deadline);
    if (fd < 0) {
        fprintf(stderr, "envoi health: %s: %s\n", target, strerror(errno));
        return 1;
    }

    char req[HEALTH_PATH_MAX + 320];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: envoi-health\r\n\r\n", path,
                      a.host[0] ? a.host : "localhost");
    size_t sent = 0;
    while (sent < (size_t)rl) {
        ssize_t w = send(fd, req + sent, (size_t)rl - sent, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline) > 0)
            continue;
        if (w <= 0) {
            fprintf(stderr, "envoi health: %s: send: %s\n", target, w < 0 ? strerror(errno) : "closed");
            close(fd);
            return 1;
        }
        sent += (size_t)w;
    }

    /* Read until the status line is complete, the peer closes or time is up. */
    char resp[HEALTH_RESP_MAX + 1];
    size_t got = 0;
    while (got < HEALTH_RESP_MAX && !memchr(resp, '\n', got)) {
        int w = wait_fd(fd, POLLIN, deadline);
        if (w <= 0) {
            fprintf(stderr, "envoi health: %s: %s\n", target, w == 0 ? "timed out" : strerror(errno));
            close(fd);
            return 1;
        }
        ssize_t n = recv(fd, resp + got, HEALTH_RESP_MAX - got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    resp[got] = '\0';
    char *eol = strpbrk(resp, "\r\n");
    if (eol)
        *eol = '\0';
    int code = 0;
    if (strncmp(resp, "HTTP/1.", 7) != 0 || sscanf(resp + 8, " %3d", &code) != 1) {
        fprintf(stderr, "envoi health: %s: not an HTTP response\n", target);
        return 1;
    }
    if (code != 200) {
        fprintf(stderr, "envoi health: %s: %s\n", target, resp);
        return 1;
    }
    return 0;
}
