/* sniroute-proxy workers: one thread, one epoll instance and its own
 * SO_REUSEPORT listening sockets each.  main.c uses the functions; the
 * struct is shared with the modules that run inside a worker (listen.c,
 * conn.c, timer.c), which only ever touch their own worker. */
#ifndef PX_WORKER_H
#define PX_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "preconnect.h"
#include "relay.h"

#define PX_PEEK_CAP 65536 /* >= PX_RW_BUF: also the relay's scratch */

/* Timer lists, one per kind of deadline (timer.h). */
enum { PX_TL_NONE, PX_TL_HELLO, PX_TL_CONNECT, PX_TL_IDLE, PX_TL_COUNT };

/* epoll data: a px_conn pointer (16-byte aligned) or a listener index
 * shifted by 3, with the tag in the low bits. */
enum {
  PX_TAG_CLIENT = 0,
  PX_TAG_UP = 1,
  PX_TAG_LISTEN = 2,
  PX_TAG_WAKE = 3,
  PX_TAG_ODD = 4, /* upstream events: the connect attempt's parity */
  /* A QUIC socket (quic.h): PX_TAG_LISTEN's bits with bit 2 set; the
   * rest of the data is quic.c's. */
  PX_TAG_QUIC = PX_TAG_LISTEN | PX_TAG_ODD,
  /* A preconnected upstream socket (preconnect.h): PX_TAG_WAKE's bits
   * with bit 2 set; the rest of the data is preconnect.c's. */
  PX_TAG_POOL = PX_TAG_WAKE | PX_TAG_ODD
};

struct px_conn;
struct px_quic;

typedef struct px_worker {
  int id;
  pthread_t th;
  int epfd, evfd;
  int lfd[PX_MAX_LISTENERS];
  px_listener lst[PX_MAX_LISTENERS];
  /* The TCP_DEFER_ACCEPT in force on each listener, in ms (listen.h). */
  unsigned defer_ms[PX_MAX_LISTENERS];
  int nl;
  px_cfg *cfg; /* for new connections; refreshed on accept */
  unsigned gen;
  struct px_conn *head[PX_TL_COUNT], *tail[PX_TL_COUNT];
  struct px_conn *grave; /* closed in this epoll batch, freed after it */
  struct px_conn *all;   /* every open connection, timer or not */
  uint64_t now;          /* ms, monotonic, updated once per batch */
  atomic_int stopping;
  /* Set before px_worker_stop(): the drain leaves the listeners open, for
   * the caller to close with the other workers' at once (takeover). */
  int keep_listeners;
  int draining, accepting;
  uint64_t drain_deadline, resume_at;
  atomic_long active;
  _Atomic uint64_t ctr[PXC_COUNT];
  px_pipe_pool pool;
  px_preconn preconn; /* unused upstream connections (preconnect.h) */
  struct px_quic *quic; /* QUIC listeners and flows (quic.c); NULL: none */
  sni_hello hello;
  uint8_t buf[PX_PEEK_CAP];
} px_worker;

/* Connections open in all workers together (max_connections). */
extern atomic_long px_total_conns;

/* Opens the listeners and starts the thread; NULL and *err on failure
 * (with a message on stderr for a listener that cannot be opened). */
px_worker *px_worker_start(int id, px_cfg *cfg, int *err);
/* Begin draining, wake it.  keep_listeners: do not close the listeners
 * (see px_workers_close_listeners()). */
void px_worker_stop(px_worker *w, int keep_listeners);
void px_worker_join(px_worker *w);
/* After joining: closes what listeners the workers left open, one right
 * after another. */
void px_workers_close_listeners(px_worker **ws, int n);
void px_worker_free(px_worker *w);
uint64_t px_worker_counter(const px_worker *w, int i);
long px_worker_active(const px_worker *w);

/* Inside the worker's thread: takes the newest configuration for the next
 * connections if a reload published one. */
void px_worker_refresh_cfg(px_worker *w);

static inline void px_count(px_worker *w, int i, uint64_t by) {
  /* Only this worker writes its counters; relaxed load+store avoids a
   * locked instruction while the main thread may read at any time. */
  uint64_t v = atomic_load_explicit(&w->ctr[i], memory_order_relaxed);
  atomic_store_explicit(&w->ctr[i], v + by, memory_order_relaxed);
}

#endif
