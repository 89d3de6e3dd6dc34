/* Fuzz: SPF record parser, and the macro expander on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static spf_record rec;
    const char *err = NULL;
    const char *txt = (const char *)data;
    if (spf_record_parse(txt, size, &rec, &err) == 0) {
        /* every term must lie inside the record */
        for (int i = 0; i < rec.nterms; i++)
            if ((size_t)rec.terms[i].toff + rec.terms[i].tlen > size ||
                (size_t)rec.terms[i].aoff + rec.terms[i].alen > size)
                abort();
    }
    spf_is_record(txt, size);
    spf_domain_spec_check(txt, size);
    return 0;
}
