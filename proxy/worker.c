/* Worker threads (worker.h): the epoll loop, deadlines, draining on stop,
 * and the worker's life cycle.  Connections are conn.c's, listeners
 * listen.c's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cfgstore.h"
#include "conn.h"
#include "fdbudget.h"
#include "listen.h"
#include "quic.h"

atomic_long px_total_conns;

uint64_t px_worker_counter(const px_worker *w, int i) {
  return atomic_load_explicit(&((px_worker *)w)->ctr[i], memory_order_relaxed);
}

long px_worker_active(const px_worker *w) {
  return atomic_load_explicit(&((px_worker *)w)->active, memory_order_relaxed);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void px_worker_refresh_cfg(px_worker *w) {
  if (px_cfgstore_gen() == w->gen) return;
  px_cfg *n = px_cfgstore_get(&w->gen);
  /* Pooled connections point at the old configuration's upstreams. */
  px_preconnect_close_all(w);
  px_cfg_unref(w->cfg);
  w->cfg = n;
  px_listen_defer(w);
}

static int next_wait(px_worker *w) {
  uint64_t t = UINT64_MAX;
  for (int l = 1; l < PX_TL_COUNT; l++)
    if (w->head[l] && w->head[l]->deadline < t) t = w->head[l]->deadline;
  if (!w->accepting && !w->draining && w->resume_at && w->resume_at < t)
    t = w->resume_at;
  if (w->draining && w->drain_deadline < t) t = w->drain_deadline;
  uint64_t tq = px_quic_next_deadline(w);
  if (tq < t) t = tq;
  if (w->preconn.next < t) t = w->preconn.next;
  if (t == UINT64_MAX) return -1;
  /* +1: the coarse clock must have passed the deadline when we wake. */
  return t <= w->now ? 0 : (int)(t - w->now + 1 > 60000 ? 60000 : t - w->now + 1);
}

/* Cuts every open connection, with or without a deadline (timeouts may
 * be off): each is reset on both sides and logged. */
static void close_all(px_worker *w, const char *verdict) {
  while (w->all) px_conn_abort(w, w->all, verdict);
}

static void bury(px_worker *w) {
  while (w->grave) {
    px_conn *c = w->grave;
    w->grave = c->next;
    free(c);
  }
}

/* Connections accepted per listener event: a whole batch under load, but
 * one when the listener's event came with few others (PX_ACCEPT_QUIET
 * events at most: at one connection in flight, the ends of the previous
 * one): then another connection is rarely queued, and looking for one
 * would cost a failed accept4() per connection, while one left queued
 * costs the same, an epoll_wait() that returns at once (the listener is
 * level-triggered). */
#define PX_ACCEPT_BATCH 64
#define PX_ACCEPT_QUIET 3
/* At a stop, at most this many queued connections are taken per listener
 * (the listen backlog's order of magnitude). */
#define PX_ACCEPT_DRAIN 4096

/* Listeners first: a new client's hello goes out with its connect
 * (conn.c), while what else came in the same batch is mostly the end of
 * earlier connections (at one connection in flight the client closes and
 * connects again at once), which can wait those microseconds. */
static void dispatch(px_worker *w, const struct epoll_event *evs, int n) {
  for (int i = 0; i < n && w->accepting; i++) {
    uint64_t d = evs[i].data.u64;
    if ((d & 7) == PX_TAG_LISTEN)
      px_listen_accept(w, (int)(d >> 3),
                       n <= PX_ACCEPT_QUIET ? 1 : PX_ACCEPT_BATCH);
  }
  for (int i = 0; i < n; i++) {
    uint64_t d = evs[i].data.u64;
    unsigned tag = (unsigned)(d & 3);
    if ((d & 7) == PX_TAG_QUIC) {
      px_quic_event(w, d & ~(uint64_t)7, evs[i].events);
    } else if ((d & 7) == PX_TAG_POOL) {
      px_preconnect_event(w, d >> 3, evs[i].events);
    } else if (tag == PX_TAG_LISTEN) {
      /* done above */
    } else if (tag == PX_TAG_WAKE) {
      uint64_t v;
      if (read(w->evfd, &v, sizeof v) < 0) {
      }
    } else {
      px_conn *c = (px_conn *)(uintptr_t)(d & ~(uint64_t)15);
      px_conn_event(w, c, (unsigned)(d & 7), evs[i].events);
    }
  }
}

/* After a stop request: stop accepting at once; connections get
 * drain_timeout to finish.  Returns 1 when the worker is done. */
static int drain_step(px_worker *w) {
  if (!w->draining) {
    /* What the kernel already queued would be reset by the close: take it
     * first (a quiet listener event accepts only one, see dispatch()). */
    for (int i = 0; i < w->nl; i++)
      if (w->lfd[i] >= 0 && w->accepting)
        px_listen_accept(w, i, PX_ACCEPT_DRAIN);
    px_listen_arm(w, 0);
    for (int i = 0; i < w->nl && !w->keep_listeners; i++) {
      close(w->lfd[i]);
      w->lfd[i] = -1;
    }
    px_quic_stop(w, "shutdown");
    px_preconnect_close_all(w);
    w->draining = 1;
    w->drain_deadline = w->now + w->cfg->drain_timeout_ms;
  }
  if (atomic_load(&w->active) == 0) return 1;
  if (w->now >= w->drain_deadline) {
    close_all(w, "drain_timeout");
    bury(w);
    return 1;
  }
  return 0;
}

static void *worker_main(void *arg) {
  px_worker *w = arg;
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(w->epfd, evs, 256, next_wait(w));
    w->now = mono_ms();
    dispatch(w, evs, n);
    for (int l = 1; l < PX_TL_COUNT; l++)
      while (w->head[l] && w->head[l]->deadline <= w->now)
        px_conn_expire(w, w->head[l], l);
    px_quic_tick(w);
    px_preconnect_tick(w);
    bury(w);
    if (w->draining ||
        atomic_load_explicit(&w->stopping, memory_order_acquire)) {
      if (drain_step(w)) break;
    } else {
      px_listen_maybe_resume(w);
    }
  }
  return NULL;
}

static int open_all(px_worker *w, const px_cfg *cfg) {
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->epfd < 0 || w->evfd < 0) return -1;
  for (int i = 0; i < w->nl; i++) {
    w->lst[i] = cfg->listeners[i];
    w->lfd[i] = px_listen_open(&w->lst[i]);
    if (w->lfd[i] < 0) {
      fprintf(stderr, "sniroute-proxy: listen %s: %s\n", w->lst[i].text,
              strerror(errno));
      return -1;
    }
  }
  px_listen_defer(w);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = PX_TAG_WAKE;
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
  return px_quic_open(w, cfg);
}

px_worker *px_worker_start(int id, px_cfg *cfg, int *err) {
  px_worker *w = calloc(1, sizeof *w);
  if (!w) {
    *err = ENOMEM;
    return NULL;
  }
  w->id = id;
  w->cfg = cfg;
  px_cfg_ref(cfg);
  w->gen = px_cfgstore_gen();
  w->now = mono_ms();
  w->nl = cfg->nlisteners;
  px_fd_budget fb;
  px_fd_budget_get(cfg->workers, cfg->nlisteners, &fb);
  w->pool.max = fb.pool;
  px_preconnect_init(&w->preconn);
  if (open_all(w, cfg) != 0) goto bad;
  px_listen_arm(w, 1);
  if (pthread_create(&w->th, NULL, worker_main, w) != 0) goto bad;
  return w;
bad:
  *err = errno;
  px_quic_free(w);
  for (int i = 0; i < w->nl; i++)
    if (w->lfd[i] > 0) close(w->lfd[i]);
  if (w->epfd >= 0) close(w->epfd);
  if (w->evfd >= 0) close(w->evfd);
  px_cfg_unref(w->cfg);
  free(w);
  return NULL;
}

void px_worker_stop(px_worker *w, int keep_listeners) {
  w->keep_listeners = keep_listeners; /* published by the store below */
  atomic_store(&w->stopping, 1);
  uint64_t one = 1;
  if (write(w->evfd, &one, sizeof one) < 0) {
  }
}

void px_worker_join(px_worker *w) { pthread_join(w->th, NULL); }

void px_workers_close_listeners(px_worker **ws, int n) {
  for (int k = 0; k < n; k++)
    for (int i = 0; i < ws[k]->nl; i++)
      if (ws[k]->lfd[i] >= 0) {
        close(ws[k]->lfd[i]);
        ws[k]->lfd[i] = -1;
      }
}

void px_worker_free(px_worker *w) {
  px_quic_free(w);
  px_preconnect_close_all(w);
  px_pipe_pool_close(&w->pool);
  close(w->epfd);
  close(w->evfd);
  px_cfg_unref(w->cfg);
  free(w);
}
