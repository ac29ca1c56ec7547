/* Configuration hand-over (cfgstore.h). */
#include "cfgstore.h"

#include <pthread.h>

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static px_cfg *cur_cfg;
static atomic_uint cfg_gen;

void px_cfgstore_init(px_cfg *c) {
  pthread_mutex_lock(&cfg_lock);
  cur_cfg = c;
  atomic_store(&cfg_gen, 1);
  pthread_mutex_unlock(&cfg_lock);
}

unsigned px_cfgstore_gen(void) {
  return atomic_load_explicit(&cfg_gen, memory_order_acquire);
}

px_cfg *px_cfgstore_get(unsigned *gen) {
  pthread_mutex_lock(&cfg_lock);
  px_cfg *c = cur_cfg;
  px_cfg_ref(c);
  *gen = atomic_load(&cfg_gen);
  pthread_mutex_unlock(&cfg_lock);
  return c;
}

unsigned px_cfgstore_publish(px_cfg *n) {
  pthread_mutex_lock(&cfg_lock);
  px_cfg *old = cur_cfg;
  cur_cfg = n;
  unsigned g =
      atomic_fetch_add_explicit(&cfg_gen, 1, memory_order_release) + 1;
  pthread_mutex_unlock(&cfg_lock);
  px_cfg_unref(old);
  return g;
}

void px_cfgstore_clear(void) {
  pthread_mutex_lock(&cfg_lock);
  px_cfg *c = cur_cfg;
  cur_cfg = NULL;
  pthread_mutex_unlock(&cfg_lock);
  px_cfg_unref(c);
}
