/* sbuf: a growable byte buffer with a hard cap, so no input can grow memory
 * without bound. Used for message bodies and output queues. */
#ifndef ENVOI_SBUF_H
#define ENVOI_SBUF_H

#include <stddef.h>

struct sbuf {
    char *p;
    size_t len, cap, max; /* max 0 means unbounded (internal use only) */
};

/* An empty buffer that refuses to grow past max bytes. */
void sbuf_init(struct sbuf *b, size_t max);
/* Appends n bytes; 0, or -1 when it would pass max or memory is short (b unchanged). */
int sbuf_add(struct sbuf *b, const void *data, size_t n);
/* Appends a NUL-terminated string. */
int sbuf_adds(struct sbuf *b, const char *s);
/* Appends printf-formatted text. */
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (a consumed prefix). */
void sbuf_consume(struct sbuf *b, size_t n);
/* Hands the bytes to the caller (malloc'd, NUL-terminated) and empties b. */
char *sbuf_steal(struct sbuf *b, size_t *len);
/* Frees the storage; b is empty and reusable afterwards. */
void sbuf_free(struct sbuf *b);

#endif
