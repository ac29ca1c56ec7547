/* sniroute-router-swap: a server's view of run-time reconfiguration.
 *
 * Reader threads route names continuously through an sni_router_slot while
 * the main thread builds new routers from map text and swaps them in, the
 * way a server reloads its map file on SIGHUP.  Each router names its
 * generation in its targets; the readers check that every answer comes
 * from one coherent router and that generations never go backwards.  The
 * old router is freed right after sni_router_slot_swap() returns: the slot
 * guarantees that no reader still uses it.
 *
 * Usage: sniroute-router-swap [THREADS [SWAPS]]   (default 3 readers, 200)
 * Exit status 0 when every lookup was coherent. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sniroute.h"

static sni_router_slot *slot;
static atomic_int stop, started;
static atomic_long lookups, incoherent;

/* Build the router of one generation.  A real server would call
 * sni_router_load_map_file() on its map file instead. */
static sni_router *build(unsigned gen) {
  char map[512];
  snprintf(map, sizeof map,
           "# generation %u\n"
           "www.example.com    web-%u\n"
           ".example.org       org-%u\n"
           ".example.org       acme-%u alpn=acme-tls/1\n"
           "api.*              api-%u\n"
           "no_sni             nosni-%u\n"
           "default            default-%u\n",
           gen, gen, gen, gen, gen, gen, gen);
  sni_router *r = NULL;
  if (sni_router_create(&r, NULL) != 0) return NULL;
  if (sni_router_load_map(r, map, strlen(map), NULL, NULL) < 0 ||
      sni_router_compile(r) != 0) {
    fprintf(stderr, "router: %s\n", sni_router_errmsg(r));
    sni_router_free(r);
    return NULL;
  }
  return r;
}

/* "web-12" -> 12 if the prefix matches, else -1 */
static long gen_of(const void *target, const char *prefix) {
  const char *t = target;
  size_t n = strlen(prefix);
  if (!t || strncmp(t, prefix, n) != 0 || t[n] != '-') return -1;
  return strtol(t + n + 1, NULL, 10);
}

static void *reader(void *arg) {
  (void)arg;
  static const uint8_t acme[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's',
                                 '/', '1'};
  long last = 0, n = 0, bad = 0;
  atomic_fetch_add(&started, 1);
  while (!atomic_load(&stop)) {
    sni_router_guard g;
    const sni_router *r = sni_router_slot_enter(slot, &g);
    void *a, *b, *c, *d;
    sni_router_match(r, "WWW.Example.COM.", 16, NULL, 0, &a);
    sni_router_match(r, "shop.example.org", 16, acme, sizeof acme, &b);
    sni_router_match(r, "api.example.net", 15, NULL, 0, &c);
    sni_router_match(r, "", 0, NULL, 0, &d);
    /* The targets are the router's own strings: use them before exit. */
    long ga = gen_of(a, "web"), gb = gen_of(b, "acme"), gc = gen_of(c, "api"),
         gd = gen_of(d, "nosni");
    if (ga < last || ga != gb || ga != gc || ga != gd) bad++;
    last = ga;
    sni_router_slot_exit(slot, &g);
    n++;
  }
  atomic_fetch_add(&lookups, 4 * n);
  atomic_fetch_add(&incoherent, bad);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 3;
  int swaps = argc > 2 ? atoi(argv[2]) : 200;
  if (threads < 1 || threads > 64 || swaps < 1) {
    fprintf(stderr, "usage: %s [THREADS [SWAPS]]\n", argv[0]);
    return 2;
  }
  sni_router *first = build(0);
  if (!first || sni_router_slot_create(&slot, first, NULL) != 0) return 1;
  pthread_t th[64];
  for (int i = 0; i < threads; i++)
    if (pthread_create(&th[i], NULL, reader, NULL) != 0) return 1;
  while (atomic_load(&started) < threads) sched_yield();
  for (int gen = 1; gen <= swaps; gen++) {
    /* reloads are occasional; let the readers work in between */
    struct timespec pause = {0, 500000};
    nanosleep(&pause, NULL);
    sni_router *next = build((unsigned)gen), *old = NULL;
    if (!next) return 1;
    /* Returns once no reader can hold `old` any more. */
    sni_router_slot_swap(slot, next, &old);
    sni_router_free(old);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  sni_router *last = NULL;
  sni_router_slot_swap(slot, NULL, &last);
  sni_router_free(last);
  sni_router_slot_free(slot);
  long n = atomic_load(&lookups), bad = atomic_load(&incoherent);
  printf("readers=%d swaps=%d lookups=%ld incoherent=%ld\n", threads, swaps,
         n, bad);
  return bad == 0 && n > 0 ? 0 : 1;
}
