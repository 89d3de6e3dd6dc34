/* nsec3: denial of existence proven with NSEC3 records (RFC 5155 8). */
#ifndef ENVOI_RESOLVER_NSEC3_H
#define ENVOI_RESOLVER_NSEC3_H

#include <ldns/ldns.h>

#define NSEC3_ITER_MAX 150 /* more hash iterations than this: insecure (RFC 9276 3.2) */

enum denial {
    DENIAL_NONE,     /* nothing proves it: bogus in a signed zone */
    DENIAL_PROVEN,   /* signed NSEC or NSEC3 records prove it */
    DENIAL_INSECURE, /* proven only through an Opt-Out span, or with NSEC3 we do not check */
};

/* Whether nsec3s (all from one zone, signatures already checked by the
 * caller) prove that name does not exist (rc NXDOMAIN) or has no record of
 * type (NOERROR). For type DS an Opt-Out span counts as proof that there
 * is no DS (an unsigned delegation); for any other type it gives
 * DENIAL_INSECURE (RFC 5155 9.2). Pure: no I/O, no allocation kept. */
enum denial nsec3_denial(const ldns_rr_list *nsec3s, const ldns_rdf *name, ldns_rr_type type, ldns_pkt_rcode rc);

#endif
