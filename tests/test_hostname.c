/* One definition of a host name (lib/hostname.c): the parser's
 * classification, the router's string API, its hello API and its pattern
 * checker must agree on every name.  Names are fixed edge cases plus
 * seeded random strings over an alphabet of the bytes that matter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hostname.h"
#include "xorshift.h"
#include "sniroute.h"

static int T_DEF, T_NOSNI, T_EXACT;

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void) { return sni_xorshift64(&rng); }

/* The parser's view: flags and normalised form of s[0..n), through the
 * same buffers a sni_hello has. */
static unsigned classify(sni_hello *h, const char *s, size_t n) {
  memset(h, 0, sizeof *h);
  memcpy(h->sni, s, n);
  h->sni_len = (uint16_t)n;
  h->sni_present = 1;
  size_t lo_len;
  h->name_flags = (uint8_t)sni_host_classify(h->sni, n, h->sni_normalized,
                                             &lo_len, NULL, NULL);
  h->sni_normalized_len = (uint16_t)lo_len;
  return h->name_flags;
}

static sni_router *specials_only(void) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_DEFAULT, NULL, 0,
                                          &T_DEF), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_NO_SNI, NULL, 0,
                                          &T_NOSNI), 0);
  assert_int_equal(sni_router_compile(r), 0);
  return r;
}

/* Everything the modules must agree on for one name. */
static void check_name(const sni_router *sp, sni_hello *h, const char *s,
                       size_t n) {
  unsigned f = classify(h, s, n);
  int host = !(f & SNI_NAME_NOT_HOSTNAME);
  void *t;
  /* string API and hello API decide no_sni exactly as the parser does */
  int want = host ? SNI_ROUTE_DEFAULT : SNI_ROUTE_NO_SNI;
  assert_int_equal(sni_router_match(sp, s, n, NULL, 0, &t), want);
  assert_int_equal(sni_router_match_hello(sp, h, 0, &t), want);
  /* the pattern checker accepts as an exact pattern exactly the host
   * names (patterns are C strings; '*' and a leading '.' are syntax) */
  if (n == 0 || memchr(s, 0, n) || memchr(s, '*', n) || s[0] == '.') return;
  char pat[SNI_MAX_NAME + 8];
  memcpy(pat, s, n);
  pat[n] = 0;
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  int rc = sni_router_add(r, pat, NULL, 0, &T_EXACT);
  if (!host) {
    if (rc != SNI_EPATTERN) fail_msg("pattern '%s' accepted, not a host name", pat);
    sni_router_free(r);
    return;
  }
  if (rc != 0) fail_msg("host name '%s' refused: %s", pat, sni_router_errmsg(r));
  assert_int_equal(sni_router_compile(r), 0);
  /* and such a route is found by both APIs */
  assert_int_equal(sni_router_match(r, s, n, NULL, 0, &t), SNI_ROUTE_EXACT);
  assert_ptr_equal(t, &T_EXACT);
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_EXACT);
  assert_ptr_equal(t, &T_EXACT);
  sni_router_free(r);
}

static const char *const fixed[] = {
    "a.com", "A.COM.", "a", "a.", ".", "", "..", "a..com", ".a.com",
    "a.com..", "x-y_z.example", "1.2.3.4", "1.2.3.4.", "1.2.3.com", "a.123",
    "a.12-3", "a.-", "_", "-", "9", "example.com:443", "[::1]", "::1",
    "a b.com", "a\tb.com", "\xc3\xa9t\xc3\xa9.fr", "xn--tt-bja.fr",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p",
};

static void test_fixed_names(void **state) {
  (void)state;
  sni_router *sp = specials_only();
  sni_hello *h = malloc(sizeof *h);
  assert_non_null(h);
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    check_name(sp, h, fixed[i], strlen(fixed[i]));
  /* label and name length limits, around the edges */
  char buf[SNI_MAX_NAME + 1];
  for (size_t l = 62; l <= 64; l++) {
    memset(buf, 'a', l);
    memcpy(buf + l, ".com", 4);
    check_name(sp, h, buf, l + 4);
  }
  for (size_t n = 250; n <= SNI_MAX_NAME; n++) {
    /* labels of 49 bytes and dots, the last one shortened to fit */
    for (size_t k = 0; k < n; k++) buf[k] = k % 50 == 49 ? '.' : 'b';
    buf[n - 1] = 'c';
    check_name(sp, h, buf, n);
    buf[n - 1] = '.'; /* and with a trailing dot */
    check_name(sp, h, buf, n);
  }
  free(h);
  sni_router_free(sp);
}

static void test_random_names(void **state) {
  (void)state;
  static const char alpha[] = "aZ09-_.:*\xc3 .";
  sni_router *sp = specials_only();
  sni_hello *h = malloc(sizeof *h);
  assert_non_null(h);
  char buf[SNI_MAX_NAME + 1];
  for (int it = 0; it < 20000; it++) {
    size_t n = (size_t)(rnd() % 16);
    if (it % 10 == 0) n = (size_t)(rnd() % (SNI_MAX_NAME + 1));
    /* mostly label bytes, so that many names are host names */
    for (size_t k = 0; k < n; k++)
      buf[k] = rnd() % 4 ? (char)('a' + rnd() % 26)
                         : alpha[rnd() % (sizeof alpha - 1)];
    check_name(sp, h, buf, n);
  }
  free(h);
  sni_router_free(sp);
}

/* The hello API trusts the parser's flags and normalised name: it does
 * not lowercase or validate them again. */
static void test_hello_trusts_parser(void **state) {
  (void)state;
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_add(r, "a.com", NULL, 0, &T_EXACT), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_NO_SNI, NULL, 0,
                                          &T_NOSNI), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_DEFAULT, NULL, 0,
                                          &T_DEF), 0);
  assert_int_equal(sni_router_compile(r), 0);
  sni_hello *h = malloc(sizeof *h);
  assert_non_null(h);
  void *t;
  classify(h, "A.Com.", 6);
  assert_string_equal(h->sni_normalized, "a.com");
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_EXACT);
  h->name_flags |= SNI_NAME_NOT_HOSTNAME; /* the flags decide */
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_NO_SNI);
  h->name_flags = SNI_NAME_IP_LITERAL;
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_NO_SNI);
  h->name_flags = 0;
  memcpy(h->sni_normalized, "A.com", 5); /* not what the parser writes */
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_DEFAULT);
  /* bytes the parser would never leave are still read in bounds */
  memset(h->sni_normalized, '.', sizeof h->sni_normalized);
  h->sni_normalized_len = SNI_MAX_NAME - 2;
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_NO_SNI);
  h->sni_normalized_len = SNI_MAX_NAME;
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_NO_SNI);
  memset(h->sni_normalized, 0, sizeof h->sni_normalized);
  h->sni_normalized_len = 200; /* one label of NUL bytes: matches nothing */
  assert_int_equal(sni_router_match_hello(r, h, 0, &t), SNI_ROUTE_DEFAULT);
  free(h);
  sni_router_free(r);
}

/* Internal route kinds are the public ones: each kind returns its own
 * number, wildcards of both spellings SNI_ROUTE_WILDCARD. */
static void test_kind_numbers(void **state) {
  (void)state;
  int tg[7];
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_add(r, "www.a.com", NULL, 0, &tg[0]), 0);
  assert_int_equal(sni_router_add(r, "*.b.com", NULL, 0, &tg[1]), 0);
  assert_int_equal(sni_router_add(r, ".c.com", NULL, 0, &tg[2]), 0);
  assert_int_equal(sni_router_add(r, "www.d.*", NULL, 0, &tg[3]), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_DEFAULT, NULL, 0,
                                          &tg[4]), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_NO_SNI, NULL, 0,
                                          &tg[5]), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_NOT_TLS, NULL, 0,
                                          &tg[6]), 0);
  assert_int_equal(sni_router_add_special(r, (sni_route_kind)0, NULL, 0,
                                          &tg[6]), SNI_EINVAL);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_EXACT, NULL, 0,
                                          &tg[6]), SNI_EINVAL);
  assert_int_equal(sni_router_add_special(r, (sni_route_kind)7, NULL, 0,
                                          &tg[6]), SNI_EINVAL);
  assert_int_equal(sni_router_compile(r), 0);
  static const struct {
    const char *name;
    int kind, target;
  } q[] = {{"www.a.com", SNI_ROUTE_EXACT, 0},
           {"x.b.com", SNI_ROUTE_WILDCARD, 1},
           {"c.com", SNI_ROUTE_WILDCARD, 2},
           {"www.d.co.uk", SNI_ROUTE_TAIL, 3},
           {"e.com", SNI_ROUTE_DEFAULT, 4},
           {"1.2.3.4", SNI_ROUTE_NO_SNI, 5}};
  void *t;
  for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
    assert_int_equal(sni_router_match(r, q[i].name, strlen(q[i].name), NULL,
                                      0, &t),
                     q[i].kind);
    assert_ptr_equal(t, &tg[q[i].target]);
  }
  assert_int_equal(sni_router_match_hello(r, NULL, SNI_ENOTTLS, &t),
                   SNI_ROUTE_NOT_TLS);
  assert_ptr_equal(t, &tg[6]);
  sni_router_free(r);
}

/* Label starts for any bytes stay in bounds and mark every dot. */
static void test_label_starts(void **state) {
  (void)state;
  char buf[SNI_MAX_NAME + 1];
  uint8_t ls[SNI_MAX_NAME + 2];
  for (int it = 0; it < 5000; it++) {
    size_t n = (size_t)(rnd() % 254);
    for (size_t k = 0; k < sizeof buf; k++)
      buf[k] = rnd() % 3 ? '.' : (char)('a' + rnd() % 26);
    unsigned nl = sni_host_labels(buf, n, ls);
    unsigned want = 1;
    for (size_t k = 0; k < n; k++) want += buf[k] == '.';
    assert_int_equal(nl, want);
    assert_int_equal(ls[0], 0);
    assert_int_equal(ls[nl], n + 1);
    for (unsigned i = 1; i < nl; i++) assert_int_equal(buf[ls[i] - 1], '.');
  }
}

/* The label starts sni_host_classify() gives in its pass are the ones
 * sni_host_labels() finds in the normalised name, for every host name
 * (upper case, a trailing dot, 1 to 60 labels, names up to 253 bytes). */
static void test_classify_labels(void **state) {
  (void)state;
  char in[SNI_MAX_NAME + 1], lo[SNI_MAX_NAME + 1];
  uint8_t ls[SNI_MAX_NAME + 2], want[SNI_MAX_NAME + 2];
  unsigned hosts = 0;
  for (int it = 0; it < 20000; it++) {
    memset(in, 0, sizeof in);
    size_t n = 0, labels = 1 + (size_t)(rnd() % 60);
    for (size_t l = 0; l < labels && n < 240; l++) {
      size_t len = 1 + (size_t)(rnd() % 12);
      for (size_t k = 0; k < len && n < 250; k++)
        in[n++] = (char)((rnd() % 2 ? 'A' : 'a') + rnd() % 26);
      if (l + 1 < labels || rnd() % 4 == 0) in[n++] = '.';
    }
    size_t lo_len = 0;
    unsigned nl = 0;
    unsigned flags = sni_host_classify(in, n, lo, &lo_len, ls, &nl);
    if (flags & SNI_NAME_NOT_HOSTNAME) continue;
    hosts++;
    unsigned wl = sni_host_labels(lo, lo_len, want);
    assert_int_equal(nl, wl);
    assert_memory_equal(ls, want, nl + 1);
  }
  assert_true(hosts > 10000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_labels),
      cmocka_unit_test(test_fixed_names),
      cmocka_unit_test(test_random_names),
      cmocka_unit_test(test_hello_trusts_parser),
      cmocka_unit_test(test_kind_numbers),
      cmocka_unit_test(test_label_starts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
