/* Fuzz target: command lines, verbs and MAIL/RCPT paths. Every line of the
 * input is parsed as a command; MAIL and RCPT arguments go through the path
 * parser, and so does the whole input, as sender and as recipient. A parsed
 * path must be NUL-terminated, bounded, and its '@' where it says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

static void path_check(const char *arg, size_t len, int is_mail)
{
    struct smtp_path p;
    if (smtp_path_parse(arg, len, is_mail, &p) != SMTP_PATH_OK)
        return;
    size_t n = strnlen(p.addr, sizeof p.addr);
    if (n > SMTP_PATH_MAX || (p.at && (p.at >= n || p.addr[p.at] != '@')) || (p.null && (n || !is_mail)) ||
        (p.postmaster && is_mail) || (!p.null && !p.at && !p.postmaster))
        abort();
    for (size_t i = 0; i < n; i++) /* no control bytes: addr goes into command lines */
        if ((unsigned char)p.addr[i] < 0x20 || p.addr[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t off = 0, ll, used;
    while (off < size && smtp_line_next(in + off, size - off, SMTP_LINE_MAX, &ll, &used) == SMTP_LINE_OK) {
        struct smtp_cmd c;
        if (used > size - off || ll >= used)
            abort();
        smtp_cmd_parse(in + off, ll, &c);
        if (c.arg < in + off || c.arg + c.arg_len > in + off + ll)
            abort();
        if ((c.verb == SMTP_V_MAIL || c.verb == SMTP_V_RCPT) && c.syntax_ok)
            path_check(c.arg, c.arg_len, c.verb == SMTP_V_MAIL);
        off += used;
    }
    path_check(in, size, 1);
    path_check(in, size, 0);
    return 0;
}
