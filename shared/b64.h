/* b64: base64 (RFC 4648) encode/decode, shared by AUTH, DKIM and MIME. */
#ifndef ENVOI_B64_H
#define ENVOI_B64_H

#include <stddef.h>

/* Encoded length (without NUL) of n input bytes. */
size_t b64_encoded_len(size_t n);
/* Encodes n bytes into out (b64_encoded_len(n)+1 bytes); NUL-terminates; returns length. */
size_t b64_encode(const void *in, size_t n, char *out);
/* Decodes in[0..n) into out (at least n*3/4+3 bytes). Skips whitespace when
 * lenient, otherwise any non-alphabet byte is an error. Returns the decoded
 * length, or -1 on malformed input. */
long b64_decode(const char *in, size_t n, void *out, int lenient);

#endif
