/* log: structured one-line logs to stderr (see log.h). */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

static const char *log_service = "envoi";
static enum log_level log_min = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, enum log_level min)
{
    log_service = service;
    log_min = min;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

static int log_safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._@:/+-=<>[]", c) != NULL;
}

const char *log_quote(char *out, size_t outsz, const char *s, size_t n)
{
    size_t o = 0;
    int bare = n > 0;
    for (size_t i = 0; i < n && bare; i++)
        bare = log_safe_char((unsigned char)s[i]) && s[i] != '\0';
    if (outsz == 0)
        return out;
    if (bare) {
        size_t k = n < outsz - 1 ? n : outsz - 1;
        memcpy(out, s, k);
        out[k] = '\0';
        return out;
    }
    /* Reserve room for the closing quote and NUL. */
    if (outsz < 3) {
        out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[5];
        size_t tl;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tl = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            tl = 4;
        } else {
            tmp[0] = (char)c;
            tl = 1;
        }
        if (o + tl + 2 > outsz)
            break;
        memcpy(out + o, tmp, tl);
        o += tl;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

static void log_vemit(enum log_level lvl, const char *msg, const char *fmt, va_list ap)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s svc=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), log_names[lvl], log_service, msg);
    if (n < 0)
        return;
    if (fmt && *fmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    /* One line per event, always: a newline inside a value would split it. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}

void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vemit(lvl, msg, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(LOG_ERROR, msg, fmt, ap);
    va_end(ap);
    exit(2);
}
