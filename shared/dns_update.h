/* dns_update: RFC 2136 dynamic update semantics on a zone's record list.
 * Pure: the caller verified TSIG and rights, and persists the result. */
#ifndef ENVOI_DNS_UPDATE_H
#define ENVOI_DNS_UPDATE_H

#include <ldns/ldns.h>

#define DNS_UPDATE_RRS_MAX 1000 /* records in one update's prerequisite + update sections */

/* The zone named by an UPDATE's zone section (borrowed), or NULL when the
 * section is not exactly one SOA-typed entry (the caller answers FORMERR). */
const ldns_rdf *dns_update_zone(const ldns_pkt *upd);

/* Checks upd's prerequisites against rrs (the zone's records, SOA among
 * them) and applies its update section to rrs in place. Returns an RFC 2136
 * rcode; on NOERROR *changed says whether any record changed. On any other
 * rcode rrs is unchanged. */
ldns_pkt_rcode dns_update_apply(const ldns_rdf *origin, ldns_rr_list *rrs, const ldns_pkt *upd,
                                int *changed);

/* Raises the SOA serial in rrs by one (RFC 1982 arithmetic) and returns it. */
uint32_t dns_update_bump_serial(ldns_rr_list *rrs);

#endif
