/* dnsup: a blocking RFC 2136 UPDATE client with TSIG, for services that
 * publish records at start (the signer's DKIM key, acme's challenges) and
 * for `envoi dns update`. Runs before the event loop or in a tool. */
#ifndef ENVOI_DNSUP_H
#define ENVOI_DNSUP_H

#include <stddef.h>

enum dnsup_op { DNSUP_ADD, DNSUP_DELETE_RRSET, DNSUP_REPLACE };

/* Sends one UPDATE for zone to server ("HOST[:PORT]", TCP), signed with
 * keyspec ("NAME:ALG:BASE64"). rr is a presentation-format record
 * ("name ttl IN TXT \"...\""); for DNSUP_DELETE_RRSET only its name and type
 * count. DNSUP_REPLACE deletes the name's RRset of that type, then adds rr.
 * Returns the response rcode (0 NOERROR), or -1 with err filled. */
int dnsup_send(const char *server, const char *keyspec, const char *zone, enum dnsup_op op, const char *rr,
               char *err, size_t errlen);
/* A TXT record's presentation form with the text split in <=255-byte strings. */
char *dnsup_txt_rr(const char *name, unsigned ttl, const char *text);

#endif
