/* Fuzz target: the database loader. Half the inputs get a correct checksum
 * first so that the checks behind it (sizes, counts, a full table) are
 * reached; a loaded database is then probed and used for scoring. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    unsigned char *img = malloc(size ? size : 1);
    if (!img)
        return 0;
    memcpy(img, data, size);
    if (size > 64 && (data[size - 1] & 1))
        bayes_db_fix_checksum(img, size);
    struct bayes_db *db = bayes_db_from_buffer(img, size, err, sizeof err);
    free(img);
    if (!db)
        return 0;
    uint32_t s, h;
    for (uint64_t k = 1; k < 64; k++)
        bayes_db_lookup(db, k * 0x9e3779b97f4a7c15ULL, &s, &h);
    static const char msg[] = "Subject: win money\r\n\r\nclick here for cheap meds and the kernel patch\r\n";
    struct bayes_result r;
    bayes_classify_message(db, msg, sizeof msg - 1, &r);
    if (r.score < 0 || r.score > 1)
        abort();
    bayes_db_close(db);
    return 0;
}
