/* sniroute-proxy's QUIC flow table and hello pool (proxy/qflow.c): after
 * any sequence of inserts and removals (backward-shift deletion, long
 * probe runs forced with colliding hashes) every flow still in the table
 * is found and no removed one is; the table refuses more than its
 * maximum; the pool bounds the hello blocks in use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/qflow.h"

#define FLOWS 512

static void peer_of(px_qpeer *p, unsigned i) {
  memset(p, 0, sizeof *p);
  p->in.sin_family = AF_INET;
  p->in.sin_addr.s_addr = htonl(0x7f000001u + (i >> 8));
  p->in.sin_port = htons((uint16_t)(1024 + (i & 0xff)));
}

/* Few distinct hashes (colliding on purpose) or the real one. */
static uint32_t hash_of(const px_qtab *t, unsigned i, int collide) {
  px_qpeer p;
  peer_of(&p, i);
  return collide ? (uint32_t)(i % 7) * 3u : px_qtab_hash(t, 0, &p);
}

static void check_all(const px_qtab *t, px_qflow *f, const int *in, int collide) {
  for (unsigned i = 0; i < FLOWS; i++) {
    px_qflow *g = px_qtab_find(t, hash_of(t, i, collide), 0, &f[i].peer);
    assert_ptr_equal(g, in[i] ? &f[i] : NULL);
  }
}

static void churn(int collide) {
  px_qtab t;
  assert_int_equal(px_qtab_init(&t, FLOWS), 0);
  px_qflow *f = calloc(FLOWS, sizeof *f);
  int *in = calloc(FLOWS, sizeof *in);
  assert_non_null(f);
  assert_non_null(in);
  for (unsigned i = 0; i < FLOWS; i++) {
    peer_of(&f[i].peer, i);
    f[i].hash = hash_of(&t, i, collide);
  }
  uint64_t r = 12345;
  for (int step = 0; step < 20000; step++) {
    r = r * 6364136223846793005u + 1442695040888963407u;
    unsigned i = (unsigned)(r >> 33) % FLOWS;
    if (in[i]) {
      px_qtab_remove(&t, &f[i]);
      in[i] = 0;
    } else {
      assert_int_equal(px_qtab_insert(&t, &f[i]), 0);
      in[i] = 1;
    }
    if (step % 997 == 0) check_all(&t, f, in, collide);
  }
  check_all(&t, f, in, collide);
  unsigned n = 0;
  for (unsigned i = 0; i < FLOWS; i++) n += (unsigned)in[i];
  assert_int_equal(t.n, n);
  px_qtab_free(&t);
  free(f);
  free(in);
}

static void test_churn_real_hash(void **state) {
  (void)state;
  churn(0);
}

static void test_churn_colliding(void **state) {
  (void)state;
  churn(1);
}

static void test_max_and_peers(void **state) {
  (void)state;
  px_qtab t;
  assert_int_equal(px_qtab_init(&t, 2), 0);
  px_qflow a = {0}, b = {0}, c = {0};
  peer_of(&a.peer, 1);
  peer_of(&b.peer, 2);
  peer_of(&c.peer, 3);
  a.hash = b.hash = c.hash = 7; /* same hash: told apart by address */
  b.li = 1;
  assert_int_equal(px_qtab_insert(&t, &a), 0);
  assert_int_equal(px_qtab_insert(&t, &b), 0);
  assert_int_equal(px_qtab_insert(&t, &c), -1); /* max 2 */
  assert_ptr_equal(px_qtab_find(&t, 7, 0, &a.peer), &a);
  assert_null(px_qtab_find(&t, 7, 0, &b.peer)); /* b is on listener 1 */
  assert_ptr_equal(px_qtab_find(&t, 7, 1, &b.peer), &b);
  /* The same address on IPv6 is another peer. */
  px_qpeer v6 = {0};
  v6.in6.sin6_family = AF_INET6;
  v6.in6.sin6_port = a.peer.in.sin_port;
  assert_null(px_qtab_find(&t, 7, 0, &v6));
  px_qtab_free(&t);
}

static void test_pool_bound(void **state) {
  (void)state;
  px_qpool p;
  px_qpool_init(&p, 3, 1500);
  px_qpend *b[4];
  for (int i = 0; i < 3; i++) assert_non_null(b[i] = px_qpool_get(&p));
  assert_null(px_qpool_get(&p));
  px_qpool_put(&p, b[1]);
  assert_non_null(b[3] = px_qpool_get(&p));
  assert_int_equal(b[3]->nheld, 0);
  for (int i = 0; i < 4; i++)
    if (i != 1) px_qpool_put(&p, b[i]);
  assert_int_equal(p.used, 0);
  px_qpool_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_churn_real_hash),
      cmocka_unit_test(test_churn_colliding),
      cmocka_unit_test(test_max_and_peers),
      cmocka_unit_test(test_pool_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
