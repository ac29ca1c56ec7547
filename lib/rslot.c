/* Run-time router swap: readers count themselves in per-parity striped
 * counters, a writer waits for the counters that could hide a reader of
 * the old router to drain.  The protocol is described in sniroute.h. */
#include "sniroute.h"
#include "router_int.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define SNI_SLOT_STRIPES 16

/* One counter per cache line: readers on different cores do not bounce a
 * shared line. */
typedef struct {
  _Atomic unsigned long n;
  char pad[64 - sizeof(unsigned long)];
} sni_slot_ctr;

struct sni_router_slot {
  sni_slot_ctr readers[2][SNI_SLOT_STRIPES];
  _Atomic(sni_router *) cur;
  _Atomic unsigned epoch;
  atomic_flag writer;
  sni_allocator a;
};

int sni_router_slot_create(sni_router_slot **out, sni_router *initial,
                           const sni_allocator *a) {
  if (!out) return SNI_EINVAL;
  *out = NULL;
  sni_allocator al;
  if (sni_rt_allocator(&al, a)) return SNI_EINVAL;
  if (initial && initial->state != SNI_RT_COMPILED) return SNI_EINVAL;
  sni_router_slot *s = sni_rt_alloc(&al, sizeof *s);
  if (!s) return SNI_ENOMEM;
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < SNI_SLOT_STRIPES; i++)
      atomic_init(&s->readers[p][i].n, 0);
  atomic_init(&s->cur, initial);
  atomic_init(&s->epoch, 0);
  atomic_flag_clear(&s->writer);
  s->a = al;
  *out = s;
  return 0;
}

const sni_router *sni_router_slot_enter(sni_router_slot *s,
                                        sni_router_guard *g) {
  /* The guard lives on the reader's stack, so its address spreads
   * threads over the stripes without any thread-local registration. */
  uintptr_t h = (uintptr_t)g;
  h ^= h >> 7;
  h ^= h >> 13;
  unsigned stripe = (unsigned)(h % SNI_SLOT_STRIPES);
  unsigned p = atomic_load(&s->epoch) & 1u;
  atomic_fetch_add(&s->readers[p][stripe].n, 1);
  /* seq_cst: this load is ordered after the increment, which is what lets
   * the writer rely on "counted before it could see the old pointer". */
  g->router = atomic_load(&s->cur);
  g->sni_private_ = p * SNI_SLOT_STRIPES + stripe;
  return g->router;
}

void sni_router_slot_exit(sni_router_slot *s, sni_router_guard *g) {
  unsigned k = g->sni_private_;
  atomic_fetch_sub_explicit(&s->readers[k / SNI_SLOT_STRIPES]
                                        [k % SNI_SLOT_STRIPES].n,
                            1, memory_order_release);
  g->router = NULL;
}

static void sni_slot_drain(sni_router_slot *s, unsigned p) {
  for (int i = 0; i < SNI_SLOT_STRIPES; i++) {
    /* Read-side sections are a lookup long: spin briefly first, and yield
     * only for a reader that was preempted inside its section. */
    for (unsigned spins = 0; atomic_load(&s->readers[p][i].n) != 0; spins++)
      if (spins >= 2000) sched_yield();
  }
}

int sni_router_slot_swap(sni_router_slot *s, sni_router *next,
                         sni_router **old) {
  if (!s || !old) return SNI_EINVAL;
  if (next && next->state != SNI_RT_COMPILED) return SNI_EINVAL;
  while (atomic_flag_test_and_set(&s->writer)) sched_yield();
  sni_router *prev = atomic_exchange(&s->cur, next);
  unsigned e = atomic_load(&s->epoch);
  /* Readers that took the other parity before the last flip may still
   * hold prev; no new reader takes that parity now. */
  sni_slot_drain(s, (e & 1u) ^ 1u);
  atomic_store(&s->epoch, e + 1);
  /* From here new readers use the other parity; drain the current one. */
  sni_slot_drain(s, e & 1u);
  atomic_flag_clear(&s->writer);
  *old = prev;
  return 0;
}

void sni_router_slot_free(sni_router_slot *s) {
  if (!s) return;
  sni_allocator a = s->a;
  sni_rt_free(&a, s, sizeof *s);
}
