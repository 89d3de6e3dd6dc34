/* headers: the header fields RFC 6409 §8 lets a submission server add when
 * the client left them out: Date (§8.3) and Message-ID (§8.4). Only the
 * header section is looked at; nothing else is changed. */
#include "submission.h"

#include "sbuf.h"
#include "smtp_listen.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SUBMIT_MSGID_RAND 12 /* random bytes in a Message-ID: 96 bits */

/* 1 when line (length n, without CRLF) starts a field named name. */
static int submit_field_is(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl))
        return 0;
    size_t i = nl;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) /* obs-optional WSP before ':' */
        i++;
    return i < n && line[i] == ':';
}

/* 1 when line starts a header field: ftext name (printable, no ':') then ':'. */
static int submit_field_line(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && line[i] > ' ' && line[i] < 0x7f && line[i] != ':')
        i++;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i > 0 && i < n && line[i] == ':';
}

char *submit_fix_headers(const char *msg, size_t len, const char *domain, size_t *outlen, int *added)
{
    int has_date = 0, has_id = 0, no_header = 0;
    size_t i = 0;
    *added = 0;
    while (i < len) {
        const char *nl = memchr(msg + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - msg) + 1 : len;
        size_t n = end - i;
        while (n && (msg[i + n - 1] == '\n' || msg[i + n - 1] == '\r'))
            n--;
        if (n == 0)
            break; /* end of the header section */
        if (msg[i] == ' ' || msg[i] == '\t') {
            if (i == 0)
                no_header = 1; /* a continuation with nothing to continue */
        } else if (!submit_field_line(msg + i, n)) {
            no_header = i == 0; /* body text straight away: give it a header */
            break;
        }
        has_date |= submit_field_is(msg + i, n, "Date");
        has_id |= submit_field_is(msg + i, n, "Message-ID");
        if (no_header)
            break;
        i = end;
    }
    if (has_date && has_id)
        return NULL;
    struct sbuf out;
    sbuf_init(&out, 0);
    int rc = 0;
    if (!has_date) {
        char date[64];
        rc |= sbuf_printf(&out, "Date: %s\r\n", smtp_date_now(date, sizeof date));
        *added |= 1;
    }
    if (!has_id) {
        unsigned char rnd[SUBMIT_MSGID_RAND];
        char hex[2 * SUBMIT_MSGID_RAND + 1];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        rc |= sbuf_printf(&out, "Message-ID: <%llx.%s@%s>\r\n", (unsigned long long)time(NULL), hex, domain);
        *added |= 2;
    }
    if (no_header && len)
        rc |= sbuf_adds(&out, "\r\n");
    rc |= sbuf_add(&out, msg, len);
    if (rc) {
        sbuf_free(&out);
        return NULL;
    }
    return sbuf_steal(&out, outlen);
}
