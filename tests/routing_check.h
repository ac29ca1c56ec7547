/* The test suites' and fuzzers' one definition of what a routing-only
 * parse (SNI_PARSE_ROUTING_ONLY) must give: compared with the full parse
 * of the same bytes, the fields routing-only fills are equal and the ones
 * it leaves are zero.  routing_differs() returns NULL if so, else the
 * name of the first field that is wrong.  Header-only so that the fuzz
 * targets can use it without the test helpers. */
#ifndef SNI_TEST_ROUTING_CHECK_H
#define SNI_TEST_ROUTING_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sniroute.h"


static inline int sni_test_all_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

/* The lists routing-only mode fills, named by their SNI_TRUNC_* bits:
 * the policy written at SNI_PARSE_ROUTING_ONLY in include/sniroute.h.
 * Every other list, `random` and `grease` are left zero; every other
 * member equals the full parse's.  The members themselves come from
 * SNI_HELLO_FIELDS, so a new one is checked without an edit here. */
#define SNI_TEST_ROUTING_LISTS                                           \
  (SNI_TRUNC_EXTENSIONS | SNI_TRUNC_VERSIONS | SNI_TRUNC_ALPN |          \
   SNI_TRUNC_RECORDS)

static inline const char *routing_differs(const sni_hello *f,
                                          const sni_hello *r) {
#define SAME(x) if (memcmp(&f->x, &r->x, sizeof f->x) != 0) return #x;
#define ZERO(x) if (!sni_test_all_zero(&r->x, sizeof r->x)) return #x;
#define RC_NUM(t, m, k) if (offsetof(sni_hello, m) != \
    offsetof(sni_hello, truncated)) { SAME(m) }
#define RC_FLAG(m, k) if (offsetof(sni_hello, m) == \
    offsetof(sni_hello, grease)) { ZERO(m) } else { SAME(m) }
#define RC_COUNT(t, m)
#define RC_BYTES(m, k) ZERO(m)
#define RC_STR(m, len, present, k) SAME(m) SAME(len)
#define RC_LIST(t, m, count, trunc, k) \
  if ((trunc) & SNI_TEST_ROUTING_LISTS) { SAME(m) SAME(count) } \
  else { ZERO(m) ZERO(count) }
#define RC_ALPN(m, count, len, trunc, k) SAME(m) SAME(count) SAME(len)
  SNI_HELLO_FIELDS(RC_NUM, RC_FLAG, RC_COUNT, RC_BYTES, RC_STR, RC_LIST,
                   RC_ALPN)
#undef RC_NUM
#undef RC_FLAG
#undef RC_COUNT
#undef RC_BYTES
#undef RC_STR
#undef RC_LIST
#undef RC_ALPN
#undef SAME
#undef ZERO
  if ((f->truncated ^ r->truncated) & SNI_TEST_ROUTING_LISTS)
    return "truncated";
  if (r->truncated & ~SNI_TEST_ROUTING_LISTS)
    return "truncated (a list routing-only does not fill)";
  return NULL;
}

#endif
