/* proxy: the PROXY protocol (HAProxy, versions 1 and 2) header that a load
 * balancer sends before SMTP so we learn the real client address. Pure. */
#ifndef ENVOI_PROXY_H
#define ENVOI_PROXY_H

#include <stddef.h>

#define PROXY_V1_MAX 107   /* the spec's longest v1 line, CRLF included */
#define PROXY_V2_MAX 1024  /* what we accept of a v2 header with TLVs */

enum proxy_rc { PROXY_MORE = 0, PROXY_OK = 1, PROXY_BAD = -1 };

struct proxy_info {
    char src[64];   /* client address, "" when the header says LOCAL/UNKNOWN */
};

/* Parses a header at the start of buf. PROXY_MORE: need more bytes. */
enum proxy_rc proxy_parse(const unsigned char *buf, size_t len, size_t *consumed, struct proxy_info *out);

#endif
