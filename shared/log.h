/* log: structured one-line logs to stderr.
 *
 * Every line is `ts=<rfc3339> level=<lvl> svc=<service> msg=<word> k=v k=v...`
 * so it can be grepped and parsed by machines. Values with spaces, quotes or
 * control characters are quoted and escaped by log_kv-style helpers; callers
 * pass already-formatted "k=v" fragments through printf-style formatting and
 * must never pass secrets (log "********" instead). */
#ifndef ENVOI_LOG_H
#define ENVOI_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the service name printed as svc= and the minimum level (default info). */
void log_init(const char *service, enum log_level min);
/* Parses "debug|info|warn|error"; returns -1 if unknown. */
int log_level_parse(const char *s);
/* Emits one line: msg is a short event word (e.g. "smtp.connect"), fmt the k=v rest. */
void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes s (length n) into out as a log-safe value: bare if it has only
 * [A-Za-z0-9._@:/+-=<>], otherwise double-quoted with \" \\ and \xNN escapes.
 * Always NUL-terminates; truncates to fit outsz. Returns out. */
const char *log_quote(char *out, size_t outsz, const char *s, size_t n);

#define log_debug(m, ...) log_msg(LOG_DEBUG, m, __VA_ARGS__)
#define log_info(m, ...) log_msg(LOG_INFO, m, __VA_ARGS__)
#define log_warn(m, ...) log_msg(LOG_WARN, m, __VA_ARGS__)
#define log_error(m, ...) log_msg(LOG_ERROR, m, __VA_ARGS__)

/* Before the loop runs only: log and exit(2) (configuration errors). */
void log_fatal(const char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
