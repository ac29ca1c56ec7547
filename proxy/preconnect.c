/* Preconnected upstream sockets (preconnect.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preconnect.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker.h"

void px_preconnect_init(px_preconn *p) {
  for (int i = 0; i < PX_PRECONNECT_SLOTS; i++) p->s[i].fd = -1;
  p->next = UINT64_MAX;
}

static void drop(px_worker *w, px_pooled *s) {
  close(s->fd); /* also leaves the epoll set */
  s->fd = -1;
  s->up = NULL;
  px_count(w, PXC_PRECONNECT_DISCARDED, 1);
}

/* The pooled socket can be handed to a client: nothing but bytes (a
 * server that speaks first) or nothing yet has come from the upstream.
 * A FIN (0), a reset or a refused connect would fail the client's
 * connection; the event saying so may not have been read yet. */
static int usable(int fd) {
  char b;
  ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* The newest of u's pooled connections that is still usable; the ones
 * found dead or past their age on the way are closed.  The newest, as it
 * is the least likely to meet a server's idle timeout. */
int px_preconnect_take(px_worker *w, const px_upstream *u) {
  for (;;) {
    px_pooled *best = NULL;
    for (int i = 0; i < PX_PRECONNECT_SLOTS; i++) {
      px_pooled *s = &w->preconn.s[i];
      if (s->fd < 0 || s->up != u) continue;
      if (w->now - s->born >= PX_PRECONNECT_AGE_MS)
        drop(w, s);
      else if (!best || s->born > best->born)
        best = s;
    }
    if (!best) return -1;
    if (!usable(best->fd)) {
      drop(w, best);
      continue;
    }
    int fd = best->fd;
    best->fd = -1;
    best->up = NULL;
    px_count(w, PXC_PRECONNECT_USED, 1);
    return fd;
  }
}

/* Connects slot s to u's first address and registers it: 0, or -1 when
 * no connect could be started (nothing is then left open). */
static int open_one(px_worker *w, px_pooled *s, int slot,
                    const px_upstream *u) {
  int fd = px_addr_connect(&u->addrs[0], 0);
  if (fd < 0) return -1;
  s->gen++;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
  ev.data.u64 = ((uint64_t)s->gen << 8 | (uint64_t)slot) << 3 | PX_TAG_POOL;
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    return -1;
  }
  s->fd = fd;
  s->up = u;
  s->born = w->now;
  if (s->born + PX_PRECONNECT_AGE_MS < w->preconn.next)
    w->preconn.next = s->born + PX_PRECONNECT_AGE_MS;
  return 0;
}

void px_preconnect_fill(px_worker *w, const px_upstream *u) {
  int have = 0;
  for (int i = 0; i < PX_PRECONNECT_SLOTS; i++)
    have += w->preconn.s[i].fd >= 0 && w->preconn.s[i].up == u;
  /* A refused or failing upstream is not retried here: the next client
   * routed to it tries again. */
  for (int i = 0; i < PX_PRECONNECT_SLOTS && have < u->preconnect; i++)
    if (w->preconn.s[i].fd < 0) {
      if (open_one(w, &w->preconn.s[i], i, u) != 0) return;
      have++;
    }
}

void px_preconnect_event(px_worker *w, uint64_t data, uint32_t events) {
  unsigned slot = (unsigned)(data & 0xffu);
  if (slot >= PX_PRECONNECT_SLOTS) return;
  px_pooled *s = &w->preconn.s[slot];
  if (s->fd < 0 || s->gen != (uint32_t)(data >> 8)) return; /* stale */
  /* Bytes alone are a server that speaks first: they wait in the socket
   * for the client.  Anything else ends the connection's use. */
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) drop(w, s);
}

void px_preconnect_tick(px_worker *w) {
  if (w->now < w->preconn.next) return;
  uint64_t next = UINT64_MAX;
  for (int i = 0; i < PX_PRECONNECT_SLOTS; i++) {
    px_pooled *s = &w->preconn.s[i];
    if (s->fd < 0) continue;
    uint64_t end = s->born + PX_PRECONNECT_AGE_MS;
    if (end <= w->now)
      drop(w, s);
    else if (end < next)
      next = end;
  }
  w->preconn.next = next;
}

void px_preconnect_close_all(px_worker *w) {
  for (int i = 0; i < PX_PRECONNECT_SLOTS; i++)
    if (w->preconn.s[i].fd >= 0) drop(w, &w->preconn.s[i]);
}
