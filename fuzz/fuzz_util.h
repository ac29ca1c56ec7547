/* Shared by the fuzz targets: a failed check aborts so libFuzzer keeps the
 * input, and structured targets read their choices from the input through
 * a cursor that yields 0 once it runs out (so every input, even an empty
 * one, still drives a complete run). */
#ifndef SNI_FUZZ_UTIL_H
#define SNI_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);  \
      abort();                                                             \
    }                                                                      \
  } while (0)

typedef struct src {
  const uint8_t *d;
  size_t n, i;
} src;

static inline unsigned u8(src *s) { return s->i < s->n ? s->d[s->i++] : 0u; }
static inline unsigned u16(src *s) { return u8(s) << 8 | u8(s); }
/* A value in [lo, hi]. */
static inline unsigned range(src *s, unsigned lo, unsigned hi) {
  unsigned span = hi - lo + 1u;
  unsigned v = span > 256u ? u16(s) : u8(s);
  return lo + v % span;
}

#endif
