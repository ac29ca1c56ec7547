/* sniroute-proxy's `deny ja4` rule set (proxy/fpdeny.c): what a rule may
 * look like, exact and JA4_a-prefix matches, and lookups in a large set
 * (two binary searches, whatever the order the rules were added in). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/fpdeny.h"

static const char *add(px_fpdeny *d, const char *s) {
  return px_fpdeny_add(d, s, strlen(s));
}

static void test_rule_syntax(void **state) {
  (void)state;
  px_fpdeny *d = px_fpdeny_new();
  assert_non_null(d);
  const char *good[] = {"t13d1516h2_8daaf6152771_e5627efa2ab1",
                        "q13d0310h3_55b375c5d22e_cd85d2d88918",
                        "t12i000000_000000000000_000000000000",
                        "t13d1516h2_*", "t10i0101Zz_*"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_null(add(d, good[i]));
  const char *bad[] = {
      "",
      "t13d1516h2",                            /* a alone */
      "t13d1516h2_",                           /* nothing after a */
      "t13d1516h2*",                           /* no '_' */
      "t13d1516h2_8daaf6152771_*",             /* a_b_* */
      "t13d1516h2_8daaf6152771_E5627EFA2AB1",  /* uppercase hash */
      "t13d1516h2_8daaf6152771_e5627efa2ab",   /* short c */
      "t13d1516h2_8daaf6152771-e5627efa2ab1",  /* wrong separator */
      "x13d1516h2_8daaf6152771_e5627efa2ab1",  /* transport */
      "t13x1516h2_8daaf6152771_e5627efa2ab1",  /* SNI flag */
      "t13d15a6h2_*",                          /* counts are digits */
      "t13d1516h-_*",                          /* ALPN characters */
      "t13d1516h2_8daaf6152771_e5627efa2ab1 ", /* trailing blank */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_non_null(add(d, bad[i]));
  /* A NUL inside the given length is not a shorter rule. */
  assert_non_null(px_fpdeny_add(d, "t13d1516h2_\0*", 13));
  assert_int_equal(px_fpdeny_count(d), sizeof good / sizeof *good);
  px_fpdeny_free(d);
}

static void test_match(void **state) {
  (void)state;
  px_fpdeny *d = px_fpdeny_new();
  assert_null(add(d, "t13d1516h2_8daaf6152771_e5627efa2ab1"));
  assert_null(add(d, "q13d0310h3_*"));
  px_fpdeny_finish(d);
  assert_true(px_fpdeny_match(d, "t13d1516h2_8daaf6152771_e5627efa2ab1"));
  assert_false(px_fpdeny_match(d, "t13d1516h2_8daaf6152771_e5627efa2ab2"));
  assert_false(px_fpdeny_match(d, "t13d1517h2_8daaf6152771_e5627efa2ab1"));
  assert_true(px_fpdeny_match(d, "q13d0310h3_55b375c5d22e_cd85d2d88918"));
  assert_true(px_fpdeny_match(d, "q13d0310h3_000000000000_000000000000"));
  assert_false(px_fpdeny_match(d, "t13d0310h3_55b375c5d22e_cd85d2d88918"));
  /* Only whole fingerprints are looked up. */
  assert_false(px_fpdeny_match(d, "q13d0310h3_"));
  assert_false(px_fpdeny_match(d, ""));
  assert_false(px_fpdeny_match(NULL, "q13d0310h3_55b375c5d22e_cd85d2d88918"));
  px_fpdeny_free(d);
}

/* Rules added out of order, then every one found and none of the
 * neighbours. */
static void test_many(void **state) {
  (void)state;
  enum { N = 5000 };
  px_fpdeny *d = px_fpdeny_new();
  char fp[SNI_JA4_MAX];
  for (unsigned i = 0; i < N; i++) {
    unsigned k = (i * 7919u) % N; /* a permutation: 7919 is prime */
    snprintf(fp, sizeof fp, "t13d%04uh2_%012x_%012x", k % 10000, k * 2, k);
    assert_null(add(d, fp));
    snprintf(fp, sizeof fp, "t12i%04u11_*", k);
    assert_null(add(d, fp));
  }
  px_fpdeny_finish(d);
  assert_int_equal(px_fpdeny_count(d), 2 * N);
  for (unsigned k = 0; k < N; k++) {
    snprintf(fp, sizeof fp, "t13d%04uh2_%012x_%012x", k, k * 2, k);
    assert_true(px_fpdeny_match(d, fp));
    snprintf(fp, sizeof fp, "t13d%04uh2_%012x_%012x", k, k * 2 + 1, k);
    assert_false(px_fpdeny_match(d, fp));
    snprintf(fp, sizeof fp, "t12i%04u11_%012x_%012x", k, k, k);
    assert_true(px_fpdeny_match(d, fp));
    snprintf(fp, sizeof fp, "t12i%04u12_%012x_%012x", k, k, k);
    assert_false(px_fpdeny_match(d, fp));
  }
  px_fpdeny_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rule_syntax),
      cmocka_unit_test(test_match),
      cmocka_unit_test(test_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
