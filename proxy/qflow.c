/* Flow table and hello pool of the QUIC forwarder (qflow.h). */
#include "qflow.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Blocks kept on the free list: enough for a burst of new flows without
 * malloc, little enough not to pin memory after one. */
#define POOL_KEEP 8u

int px_qtab_init(px_qtab *t, unsigned max) {
  size_t cap = 16;
  while (cap < (size_t)max * 2) cap *= 2;
  t->slot = calloc(cap, sizeof *t->slot);
  if (!t->slot) return -1;
  t->mask = cap - 1;
  t->n = 0;
  t->max = max;
  if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != sizeof t->seed)
    t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
  return 0;
}

void px_qtab_free(px_qtab *t) {
  free(t->slot);
  t->slot = NULL;
}

/* A 64-bit mixer (the finaliser of splitmix64): every input bit changes
 * about half the output bits. */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

uint32_t px_qtab_hash(const px_qtab *t, unsigned li, const px_qpeer *p) {
  uint64_t h = mix(t->seed ^ li);
  if (p->sa.sa_family == AF_INET) {
    h = mix(h ^ p->in.sin_addr.s_addr ^ ((uint64_t)p->in.sin_port << 32));
  } else {
    uint64_t a[2];
    memcpy(a, &p->in6.sin6_addr, sizeof a);
    h = mix(h ^ a[0]);
    h = mix(h ^ a[1] ^ ((uint64_t)p->in6.sin6_port << 32) ^
            ((uint64_t)p->in6.sin6_scope_id << 48));
  }
  return (uint32_t)h;
}

static int same_peer(const px_qpeer *a, const px_qpeer *b) {
  if (a->sa.sa_family != b->sa.sa_family) return 0;
  if (a->sa.sa_family == AF_INET)
    return a->in.sin_port == b->in.sin_port &&
           a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
  return a->in6.sin6_port == b->in6.sin6_port &&
         a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
         memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
                sizeof a->in6.sin6_addr) == 0;
}

px_qflow *px_qtab_find(const px_qtab *t, uint32_t h, unsigned li,
                       const px_qpeer *p) {
  for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
    px_qflow *f = t->slot[i];
    if (!f) return NULL;
    if (f->hash == h && f->li == li && same_peer(&f->peer, p)) return f;
  }
}

int px_qtab_insert(px_qtab *t, px_qflow *f) {
  if (t->n >= t->max) return -1;
  size_t i = f->hash & t->mask;
  while (t->slot[i]) i = (i + 1) & t->mask;
  t->slot[i] = f;
  t->n++;
  return 0;
}

/* Backward-shift deletion: no tombstones, so probe sequences stay as short
 * as the load allows however many flows come and go. */
void px_qtab_remove(px_qtab *t, px_qflow *f) {
  size_t i = f->hash & t->mask;
  while (t->slot[i] != f) {
    if (!t->slot[i]) return;
    i = (i + 1) & t->mask;
  }
  for (size_t j = (i + 1) & t->mask;; j = (j + 1) & t->mask) {
    px_qflow *g = t->slot[j];
    if (!g) break;
    size_t home = g->hash & t->mask;
    /* g may move into the hole at i unless its home lies in (i, j]. */
    if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
      t->slot[i] = g;
      i = j;
    }
  }
  t->slot[i] = NULL;
  t->n--;
}

void px_qpool_init(px_qpool *p, unsigned max, size_t held_cap) {
  memset(p, 0, sizeof *p);
  p->max = max;
  p->held_cap = held_cap;
}

px_qpend *px_qpool_get(px_qpool *p) {
  if (p->used >= p->max) return NULL;
  px_qpend *b = p->free;
  if (b) {
    p->free = b->next_free;
    p->kept--;
  } else {
    /* Aligned like the reader's state needs (uint64_t); malloc gives it. */
    b = malloc(sizeof *b + p->held_cap);
    if (!b) return NULL;
  }
  b->next_free = NULL;
  b->nheld = b->held_bytes = 0;
  p->used++;
  return b;
}

void px_qpool_put(px_qpool *p, px_qpend *b) {
  if (!b) return;
  p->used--;
  if (p->kept < POOL_KEEP) {
    b->next_free = p->free;
    p->free = b;
    p->kept++;
  } else {
    free(b);
  }
}

void px_qpool_free(px_qpool *p) {
  while (p->free) {
    px_qpend *b = p->free;
    p->free = b->next_free;
    free(b);
  }
  p->kept = 0;
}
