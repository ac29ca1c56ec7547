/* The tests' and benchmarks' one pseudo-random generator: xorshift64
 * (Marsaglia), reproducible from a fixed non-zero seed.  Not for anything
 * that must be unpredictable. */
#ifndef SNI_TEST_XORSHIFT_H
#define SNI_TEST_XORSHIFT_H

#include <stdint.h>

static inline uint64_t sni_xorshift64(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

#endif
