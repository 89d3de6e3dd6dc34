/* Shared by the SMTP unit tests: an input fed whole, byte by byte or in
 * random pieces (xorshift from a fixed seed, the same on every libc, so a
 * failure reproduces), each piece copied to a heap buffer of exactly its
 * size so ASan catches a read one byte past it; and a regression checker
 * that lists every failing case before failing. */
#ifndef ENVOI_TEST_SMTP_H
#define ENVOI_TEST_SMTP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMODES 6 /* whole, byte by byte, four random splittings */

static uint64_t smtp_test_rng = 88172645463325252ULL;

static inline uint32_t rnd(void)
{
    smtp_test_rng ^= smtp_test_rng << 13;
    smtp_test_rng ^= smtp_test_rng >> 7;
    smtp_test_rng ^= smtp_test_rng << 17;
    return (uint32_t)(smtp_test_rng >> 16);
}

/* Size of the next piece of input for a feeding mode (0..NMODES-1). */
static inline size_t piece_len(int mode, size_t left)
{
    size_t n;
    switch (mode) {
    case 0: n = left; break;
    case 1: n = 1; break;
    case 2: n = 1 + rnd() % 3; break;
    case 3: n = 1 + rnd() % 17; break;
    case 4: n = 1 + rnd() % 200; break;
    default: n = 1 + rnd() % (left ? left : 1); break;
    }
    return n < left ? n : left;
}

static inline char *heap_copy(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* A regression check that reports what failed and counts it, so one test
 * can list every broken case before failing (regress_end). */
static inline int regress(const char *what, int ok)
{
    if (!ok)
        print_message("REGRESSION: %s\n", what);
    return !ok;
}

static inline void regress_end(int failures)
{
    if (failures)
        fail_msg("%d regressions", failures);
}

#endif
