/* Run-time swap under load: reader threads match continuously through an
 * sni_router_slot while a writer installs and frees routers.  Freed memory
 * is poisoned by the test allocator, so a router freed under a reader shows
 * up as a wrong or garbled target even without AddressSanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sniroute.h"

static void *poison_alloc(void *ctx, size_t n) {
  (void)ctx;
  return malloc(n);
}
static void poison_free(void *ctx, void *p, size_t n) {
  (void)ctx;
  memset(p, 0xA5, n);
  free(p);
}
static const sni_allocator poison = {poison_alloc, poison_free, NULL};

static sni_router *make(unsigned gen) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, &poison), 0);
  char map[256];
  snprintf(map, sizeof map,
           "www.example.com gen-%08u\n.example.org org-%08u\n"
           "default def-%08u\n",
           gen, gen, gen);
  assert_int_equal(sni_router_load_map(r, map, strlen(map), NULL, NULL), 3);
  assert_int_equal(sni_router_compile(r), 0);
  return r;
}

static sni_router_slot *slot;
static atomic_int stop;
static atomic_long bad, reads, progress;

static unsigned parse_gen(const char *t, const char *prefix) {
  size_t l = strlen(prefix);
  if (strncmp(t, prefix, l) != 0 || strlen(t) != l + 8) return ~0u;
  return (unsigned)strtoul(t + l, NULL, 10);
}

static void *reader(void *arg) {
  (void)arg;
  unsigned last = 0;
  long n = 0;
  while (!atomic_load(&stop)) {
    sni_router_guard g;
    const sni_router *r = sni_router_slot_enter(slot, &g);
    void *t1 = NULL, *t2 = NULL;
    int k1 = sni_router_match(r, "www.example.com", 15, NULL, 0, &t1);
    int k2 = sni_router_match(r, "a.example.org", 13, NULL, 0, &t2);
    unsigned g1 = k1 == SNI_ROUTE_EXACT ? parse_gen(t1, "gen-") : ~0u;
    unsigned g2 = k2 == SNI_ROUTE_WILDCARD ? parse_gen(t2, "org-") : ~0u;
    /* one router, one generation; and generations never go back */
    if (g1 == ~0u || g1 != g2 || g1 < last) atomic_fetch_add(&bad, 1);
    last = g1;
    sni_router_slot_exit(slot, &g);
    if (++n % 1024 == 0) atomic_fetch_add(&progress, 1024);
  }
  atomic_fetch_add(&reads, n);
  return NULL;
}

static void test_swap_under_readers(void **state) {
  (void)state;
  assert_int_equal(sni_router_slot_create(&slot, make(0), &poison), 0);
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
  /* at least 500 swaps, and on until the readers have matched a lot
   * across them */
  unsigned gen = 1;
  for (; gen <= 500 || (atomic_load(&progress) < 400000 && gen < 100000);
       gen++) {
    sni_router *old = NULL;
    assert_int_equal(sni_router_slot_swap(slot, make(gen), &old), 0);
    assert_non_null(old);
    sni_router_free(old);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  printf("swaps %u, reads %ld, bad %ld\n", gen - 1, atomic_load(&reads),
         atomic_load(&bad));
  assert_int_equal(atomic_load(&bad), 0);
  assert_true(atomic_load(&reads) >= 400000);
  sni_router *last = NULL;
  assert_int_equal(sni_router_slot_swap(slot, NULL, &last), 0);
  void *t;
  assert_int_equal(sni_router_match(last, "www.example.com", 15, NULL, 0, &t),
                   SNI_ROUTE_EXACT);
  char want[32];
  snprintf(want, sizeof want, "gen-%08u", gen - 1);
  assert_string_equal((const char *)t, want);
  sni_router_free(last);
  sni_router_slot_free(slot);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_swap_under_readers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
