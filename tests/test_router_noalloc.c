/* Lookups never allocate: every allocation call of the process is counted
 * while routers are matched (alloc_guard.c: replaced entry points on glibc,
 * the sanitizer's hooks under AddressSanitizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_guard.h"
#include "sniroute.h"

static sni_router *build(void) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  char line[128];
  for (int i = 0; i < 20000; i++) {
    const char *alpn = i % 10 == 0 ? " alpn=h2,acme-tls/1" : "";
    switch (i % 20) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8:
    case 9: case 10: case 11: case 12: case 13:
      snprintf(line, sizeof line, "host%d.tenant%d.example t%s\n", i, i % 97,
               alpn);
      break;
    case 14: case 15: case 16:
      snprintf(line, sizeof line, "*.w%d.example t%s\n", i, alpn);
      break;
    case 17: case 18:
      snprintf(line, sizeof line, ".d%d.example t%s\n", i, alpn);
      break;
    default:
      snprintf(line, sizeof line, "www.tail%d.* t%s\n", i, alpn);
      break;
    }
    assert_int_equal(sni_router_load_map(r, line, strlen(line), NULL, NULL),
                     1);
  }
  const char *sp = "default d\nno_sni n alpn=h2\nnot_tls p\n";
  assert_int_equal(sni_router_load_map(r, sp, strlen(sp), NULL, NULL), 3);
  assert_int_equal(sni_router_compile(r), 0);
  return r;
}

/* Where counting is unavailable (not glibc, no ASan) there is nothing to
 * prove with. */
static void skip_unless_counting(void) {
  if (!sni_alloc_guard_available()) skip();
}

static void test_counter_works(void **state) {
  (void)state;
  skip_unless_counting();
  /* positive control: the counter sees an allocation made in the window,
   * so a zero below means something */
  void *(*volatile m)(size_t) = malloc;
  void (*volatile f)(void *) = free;
  sni_alloc_guard_arm();
  void *p = m(64);
  f(p);
  assert_true(sni_alloc_guard_disarm() >= 2);
}

static void test_lookups_do_not_allocate(void **state) {
  (void)state;
  skip_unless_counting();
  sni_router *r = build();
  sni_router_slot *slot = NULL;
  assert_int_equal(sni_router_slot_create(&slot, r, NULL), 0);
  static const char *const names[] = {
      "host13.tenant13.example", "HOST13.TENANT13.EXAMPLE.", "a.w14.example",
      "x.y.w15.example",         "d17.example",              "q.d18.example",
      "www.tail19.co.uk",        "www.tail19",               "nothing.here",
      "",                        "1.2.3.4",                  "a..b",
      "x.tenant1.example"};
  const uint8_t alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1', 2, 'h',
                          '2'};
  sni_hello h;
  memset(&h, 0, sizeof h);
  h.sni_present = 1;
  strcpy(h.sni_normalized, "host13.tenant13.example");
  h.sni_normalized_len = (uint16_t)strlen(h.sni_normalized);
  memcpy(h.alpn, alpn, sizeof alpn);
  h.alpn_len = sizeof alpn;
  h.n_alpn = 2;
  long routed = 0;
  sni_alloc_guard_arm();
  for (int rep = 0; rep < 200; rep++) {
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
      void *t;
      routed += sni_router_match(r, names[i], strlen(names[i]),
                                 rep & 1 ? alpn : NULL,
                                 rep & 1 ? sizeof alpn : 0, &t) > 0;
    }
    void *t;
    routed += sni_router_match_hello(r, &h, 300, &t) > 0;
    routed += sni_router_match_hello(r, NULL, SNI_ENOTTLS, &t) > 0;
    sni_router_guard g;
    const sni_router *cur = sni_router_slot_enter(slot, &g);
    routed += sni_router_match(cur, "a.w14.example", 13, NULL, 0, &t) > 0;
    sni_router_slot_exit(slot, &g);
  }
  assert_int_equal(sni_alloc_guard_disarm(), 0);
  assert_int_equal(routed, 200 * 16);
  sni_router *old = NULL;
  assert_int_equal(sni_router_slot_swap(slot, NULL, &old), 0);
  sni_router_slot_free(slot);
  sni_router_free(old);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_works),
      cmocka_unit_test(test_lookups_do_not_allocate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
