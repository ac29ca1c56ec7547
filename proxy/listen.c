/* Listeners and accepting (listen.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "listen.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"

int px_listen_open(const px_listener *l) {
  int fd = socket(l->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* One listening socket per worker; the kernel spreads connections. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  /* Accepted sockets inherit TCP_NODELAY: one system call per connection
   * saved.  Small TLS records must not wait for Nagle. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (l->addr.ss.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&l->addr.ss, l->addr.len) != 0 ||
      listen(fd, 4096) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* PX_DEFER_ACCEPT_MS where listener li of cfg may defer, else 0. */
static unsigned defer_ms(const px_cfg *cfg, int li) {
  const px_server *s = &cfg->servers[cfg->listeners[li].server];
  if (!s->tls) return 0;
  if (s->silent_ms && s->silent_ms < PX_DEFER_ACCEPT_MS) return 0;
  if (!s->hello_timeout_ms || s->hello_timeout_ms <= PX_DEFER_ACCEPT_MS)
    return 0;
  return PX_DEFER_ACCEPT_MS;
}

void px_listen_defer(px_worker *w) {
  for (int i = 0; i < w->nl && i < w->cfg->nlisteners; i++) {
    unsigned ms = defer_ms(w->cfg, i);
    if (w->lfd[i] < 0 || ms == w->defer_ms[i]) continue;
    int secs = (int)(ms / 1000u);
    if (setsockopt(w->lfd[i], IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
                   sizeof secs) == 0)
      w->defer_ms[i] = ms;
  }
}

void px_listen_arm(px_worker *w, int on) {
  if (w->accepting == on) return;
  for (int i = 0; i < w->nl; i++) {
    if (w->lfd[i] < 0) continue;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ((uint64_t)i << 3) | PX_TAG_LISTEN;
    epoll_ctl(w->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->lfd[i], &ev);
  }
  w->accepting = on;
}

static int over_limit(px_worker *w) {
  unsigned max = w->cfg->max_conns;
  return max && atomic_load_explicit(&px_total_conns, memory_order_relaxed) >=
                    (long)max;
}

void px_listen_maybe_resume(px_worker *w) {
  if (w->accepting || w->draining) return;
  if (w->resume_at && w->now < w->resume_at) return;
  if (over_limit(w)) {
    /* Another worker may free a slot: look again soon, without spinning. */
    w->resume_at = w->now + 100;
    return;
  }
  w->resume_at = 0;
  px_listen_arm(w, 1);
}

static void pause_accept(px_worker *w, unsigned ms) {
  px_count(w, PXC_ACCEPT_PAUSES, 1);
  px_listen_arm(w, 0);
  w->resume_at = w->now + ms;
}

void px_listen_accept(px_worker *w, int li, int max) {
  for (int k = 0; k < max; k++) {
    if (over_limit(w)) {
      pause_accept(w, 100);
      return;
    }
    px_addr peer;
    peer.len = sizeof peer.ss;
    int fd = accept4(w->lfd[li], (struct sockaddr *)&peer.ss, &peer.len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM)
        /* Out of descriptors: the pending connection stays queued; wait
         * for closes instead of spinning on a listener that stays
         * readable. */
        pause_accept(w, 100);
      return;
    }
    px_worker_refresh_cfg(w);
    px_conn_accept(w, li, fd, &peer);
  }
}
