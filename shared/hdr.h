/* hdr: header-section helpers over a raw RFC 5322 message (CRLF or LF),
 * tolerant of malformed input: the header section ends at the first empty
 * line; malformed lines before it are passed through untouched. */
#ifndef ENVOI_HDR_H
#define ENVOI_HDR_H

#include <stddef.h>

/* Return 1 to drop the field. name excludes the colon; value includes
 * continuation lines and the final line end. */
typedef int (*hdr_drop_fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);

/* Copies msg with prepend (may be NULL) on top and every header field for
 * which drop() says 1 removed. Returns a malloc'd buffer, its length in *outlen. */
char *hdr_filter(const char *msg, size_t len, const char *prepend, hdr_drop_fn drop, void *arg, size_t *outlen);
/* 1 if the field name equals want (case-insensitive). */
int hdr_name_is(const char *name, size_t nlen, const char *want);
/* Finds the first field called name; value and vlen get its value (unfolded
 * bytes as in the message). Returns 1 if found. */
int hdr_find(const char *msg, size_t len, const char *name, const char **value, size_t *vlen);

#endif
