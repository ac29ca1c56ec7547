/* Connection ids (connid.h). */
#include "connid.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SEQ_MASK 0xFFFFFFFFFFFFull /* 12 hex digits */
#define WORKER_MASK 0xFFFFu

static uint64_t process_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
/* Each worker runs on its own thread: a thread-local counter needs no
 * atomic operation per connection. */
static _Thread_local uint64_t seq;

static void draw_key(void) {
  if (getrandom(&process_key, sizeof process_key, 0) ==
      (ssize_t)sizeof process_key)
    return;
  /* No entropy source (very old kernel): time and pid still differ
   * between restarts. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  process_key = (uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec << 16 ^
                (uint64_t)getpid();
}

uint64_t px_connid_next(void) { return ++seq; }

void px_connid_format(int worker, uint64_t s, char out[PX_CONNID_LEN]) {
  pthread_once(&key_once, draw_key);
  snprintf(out, PX_CONNID_LEN, "%016llx%04x%012llx",
           (unsigned long long)process_key, (unsigned)worker & WORKER_MASK,
           (unsigned long long)(s & SEQ_MASK));
}
