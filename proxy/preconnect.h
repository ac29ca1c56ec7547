/* Upstream connections opened before a client needs them (`preconnect N`,
 * docs/proxy.md, *Preconnected upstreams*).
 *
 * On loopback and near hosts the upstream's handshake runs inside
 * connect(), and the upstream is woken to accept: together the largest
 * step between a client's hello and its first byte at the upstream.  A
 * worker whose client got its first bytes from the first address of an
 * upstream with `preconnect N` (conn.c) opens connections to that address
 * until N wait unused; the next client routed there takes one and its
 * hello goes out at once.  A
 * pooled connection lives at most PX_PRECONNECT_AGE_MS (no refill then:
 * an idle proxy holds none), is closed when the upstream closes or resets
 * it, and is checked once more when taken.  Each worker's pool is its
 * own (no locking); a reload or a drain closes it. */
#ifndef PX_PRECONNECT_H
#define PX_PRECONNECT_H

#include <stdint.h>

#include "config.h"

struct px_worker;

/* Why a pooled connection has a bounded age: servers close a connection
 * that sent nothing after their handshake or first-byte timeout (seconds
 * to a minute), which a client must never be handed just before. */
#define PX_PRECONNECT_AGE_MS 2000u

typedef struct px_pooled {
  int fd; /* -1: a free slot */
  /* The slot's generation, in its epoll data: an event queued for an
   * earlier socket of the slot is recognised and skipped. */
  uint32_t gen;
  const px_upstream *up; /* of the worker's configuration */
  uint64_t born;         /* the worker's clock at connect() */
} px_pooled;

typedef struct px_preconn {
  px_pooled s[PX_PRECONNECT_SLOTS];
  uint64_t next; /* no slot is past its age before this (worker clock) */
} px_preconn;

void px_preconnect_init(px_preconn *p);

/* A connection to u's first address out of the worker's pool (connected,
 * or its connect still in progress), or -1.  It is still registered with
 * the worker's epoll set under the pool's data: the caller re-registers
 * it (EPOLL_CTL_MOD) or closes it. */
int px_preconnect_take(struct px_worker *w, const px_upstream *u);

/* u (of the worker's current configuration) has just served a client on
 * its first address: open connections to that address until
 * u->preconnect wait unused (stops at the first that cannot be started). */
void px_preconnect_fill(struct px_worker *w, const px_upstream *u);

/* An epoll event of a pooled socket (data: the epoll data >> 3). */
void px_preconnect_event(struct px_worker *w, uint64_t data, uint32_t events);

/* Closes pooled connections past their age and sets preconn.next to the
 * next such deadline (worker clock, ms; UINT64_MAX if none), which the
 * worker's wait honours.  Cheap when nothing is due. */
void px_preconnect_tick(struct px_worker *w);

/* Closes every pooled connection (reload, drain, exit). */
void px_preconnect_close_all(struct px_worker *w);

#endif
