/* One worker = one thread, one epoll instance, its own SO_REUSEPORT
 * listening sockets.  Connections move through
 *
 *   PP (optional PROXY header in) -> HELLO (peek) -> CONNECTING -> RELAY
 *
 * A connection whose hello is incomplete owns no buffer: every peek lands
 * in the worker's single buffer and nothing is read from the socket, so
 * the hello is relayed to the upstream like the rest of the stream. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

enum { ST_PP, ST_HELLO, ST_CONNECTING, ST_RELAY, ST_DEAD };
enum { TL_NONE, TL_HELLO, TL_CONNECT, TL_IDLE, TL_COUNT };
enum { TAG_CLIENT = 0, TAG_UP = 1, TAG_LISTEN = 2, TAG_WAKE = 3, TAG_ODD = 4 };

#define PEEK_CAP 65536
#define RW_BUF 65536
#define PIPE_POOL 128
#define SPLICE_CHUNK (1 << 20)
#define PIPE_BYTES (1 << 20)

/* One direction of the relay: direct (worker buffer, nothing in flight),
 * then, once needed, a kernel pipe for splice(), or with `splice off` a
 * fixed buffer.  Buffering is bounded either way and a full pipe or buffer
 * stops reading from the source: back-pressure. */
typedef struct chan {
  int p[2];
  uint8_t *buf;
  uint32_t off, len;
  size_t inpipe;
  uint64_t bytes;
  uint8_t eof, shut;
} chan;

typedef struct conn {
  struct conn *prev, *next; /* timer list */
  uint64_t deadline;
  uint64_t t_start;
  int cfd, ufd;
  uint8_t tlist, state, lowat, addr_i, attempt, listener;
  /* Sticky: an event with RDHUP/HUP/ERR was seen on the client / upstream
   * socket.  Until then a short read means the socket is drained (see
   * pump_direct()). */
  uint8_t hup_c, hup_u;
  const char *verdict;
  px_cfg *cfg;
  const px_upstream *up;
  const char *route;
  char *info;   /* "sni\0alpn\0", allocated once the hello is parsed */
  px_addr *dst; /* original destination from a PROXY header, if any */
  px_addr client;
  chan c2u, u2c;
} conn;

struct px_worker {
  int id;
  pthread_t th;
  int epfd, evfd;
  int lfd[PX_MAX_LISTENERS];
  px_listener lst[PX_MAX_LISTENERS];
  int nl;
  px_cfg *cfg;
  unsigned gen;
  conn *head[TL_COUNT], *tail[TL_COUNT];
  conn *grave;
  uint64_t now;
  atomic_int stopping;
  int draining, accepting;
  uint64_t drain_deadline, resume_at;
  atomic_long active;
  _Atomic uint64_t ctr[PXC_COUNT];
  int pool[PIPE_POOL][2];
  int npool;
  sni_hello hello;
  uint8_t buf[PEEK_CAP];
};

const char *const px_counter_names[PXC_COUNT] = {
    "accepted",         "hellos_parsed",    "no_sni",
    "not_tls",          "bad_hello",        "too_large",
    "hello_timeouts",   "connect_timeouts", "idle_timeouts",
    "routed",           "no_route",         "connect_failures",
    "proxy_header_rejected", "accept_pauses", "bytes_client_to_upstream",
    "bytes_upstream_to_client"};

static void inc(px_worker *w, int i, uint64_t by) {
  /* Only this worker writes its counters; relaxed load+store avoids a
   * locked instruction while the main thread may read at any time. */
  uint64_t v = atomic_load_explicit(&w->ctr[i], memory_order_relaxed);
  atomic_store_explicit(&w->ctr[i], v + by, memory_order_relaxed);
}

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

/* ---------------------------------------------------------------- timers */
/* Every list holds connections of one kind of deadline, and deadlines of a
 * kind are now + a fixed duration, so appending keeps each list sorted and
 * only heads need checking (after a reload changes a duration, a list may
 * be briefly out of order: an entry then expires late, never early). */
static void timer_del(px_worker *w, conn *c) {
  if (c->tlist == TL_NONE) return;
  int l = c->tlist;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->head[l] = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    w->tail[l] = c->prev;
  c->prev = c->next = NULL;
  c->tlist = TL_NONE;
}

static void timer_set(px_worker *w, conn *c, int l, unsigned ms) {
  timer_del(w, c);
  if (ms == 0) return;
  c->deadline = w->now + ms;
  c->tlist = (uint8_t)l;
  c->prev = w->tail[l];
  c->next = NULL;
  if (w->tail[l])
    w->tail[l]->next = c;
  else
    w->head[l] = c;
  w->tail[l] = c;
}

/* ---------------------------------------------------------------- pipes */
static int pipe_get(px_worker *w, int p[2]) {
  if (w->npool > 0) {
    w->npool--;
    p[0] = w->pool[w->npool][0];
    p[1] = w->pool[w->npool][1];
    return 0;
  }
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  /* A larger pipe moves bulk data in fewer splice() calls; pages are only
   * taken for bytes actually in flight. */
  fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
  return 0;
}

static void pipe_put(px_worker *w, chan *ch) {
  if (ch->p[0] < 0) return;
  /* An empty pipe is as good as new; one still holding bytes is not. */
  if (ch->inpipe == 0 && w->npool < PIPE_POOL) {
    w->pool[w->npool][0] = ch->p[0];
    w->pool[w->npool][1] = ch->p[1];
    w->npool++;
  } else {
    close(ch->p[0]);
    close(ch->p[1]);
  }
  ch->p[0] = ch->p[1] = -1;
}

/* ---------------------------------------------------------------- logging */
static void log_conn(px_worker *w, conn *c) {
  if (px_log_fd < 0) return;
  char line[1024], ts[40], cl[64], ua[PX_NAME_MAX + 80 + 3] = "-";
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  struct tm tm;
  gmtime_r(&rt.tv_sec, &tm);
  size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", rt.tv_nsec / 1000000);
  px_addr_str(&c->client, cl, sizeof cl);
  if (c->up)
    snprintf(ua, sizeof ua, "%s(%s)", c->up->name,
             c->up->addr_text[c->addr_i < c->up->naddrs ? c->addr_i : 0]);
  const char *sni = c->info ? c->info : "";
  const char *alpn = c->info ? c->info + strlen(c->info) + 1 : "";
  int n = snprintf(line, sizeof line,
                   "%s w%d client=%s sni=%s alpn=%s route=%s upstream=%s "
                   "bytes_up=%llu bytes_down=%llu ms=%llu verdict=%s\n",
                   ts, w->id, cl, *sni ? sni : "-", *alpn ? alpn : "-",
                   c->route ? c->route : "-", ua,
                   (unsigned long long)c->c2u.bytes,
                   (unsigned long long)c->u2c.bytes,
                   (unsigned long long)(w->now - c->t_start), c->verdict);
  if (n > 0) {
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    /* One write per line keeps lines whole with several workers. */
    if (write(px_log_fd, line, len) < 0) {
    }
  }
}

/* ---------------------------------------------------------------- accept */
static void listeners_arm(px_worker *w, int on) {
  if (w->accepting == on) return;
  for (int i = 0; i < w->nl; i++) {
    if (w->lfd[i] < 0) continue;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ((uint64_t)i << 3) | TAG_LISTEN;
    epoll_ctl(w->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->lfd[i], &ev);
  }
  w->accepting = on;
}

static int over_limit(px_worker *w) {
  unsigned max = w->cfg->max_conns;
  return max && atomic_load_explicit(&px_total_conns, memory_order_relaxed) >=
                    (long)max;
}

static void maybe_resume(px_worker *w) {
  if (w->accepting || w->draining) return;
  if (w->resume_at && w->now < w->resume_at) return;
  if (over_limit(w)) {
    /* Another worker may free a slot: look again soon, without spinning. */
    w->resume_at = w->now + 100;
    return;
  }
  w->resume_at = 0;
  listeners_arm(w, 1);
}

static void pause_accept(px_worker *w, unsigned ms) {
  inc(w, PXC_ACCEPT_PAUSES, 1);
  listeners_arm(w, 0);
  w->resume_at = w->now + ms;
}

static void refresh_cfg(px_worker *w) {
  unsigned g = atomic_load_explicit(&px_cfg_gen, memory_order_acquire);
  if (g == w->gen) return;
  px_cfg *n = px_current_cfg(&w->gen);
  px_cfg_unref(w->cfg);
  w->cfg = n;
}

/* ---------------------------------------------------------------- closing */
static void conn_close(px_worker *w, conn *c, const char *verdict) {
  if (c->state == ST_DEAD) return;
  c->verdict = verdict;
  timer_del(w, c);
  if (c->cfd >= 0) close(c->cfd);
  if (c->ufd >= 0) close(c->ufd);
  pipe_put(w, &c->c2u);
  pipe_put(w, &c->u2c);
  free(c->c2u.buf);
  free(c->u2c.buf);
  inc(w, PXC_BYTES_UP, c->c2u.bytes);
  inc(w, PXC_BYTES_DOWN, c->u2c.bytes);
  log_conn(w, c);
  free(c->info);
  free(c->dst);
  px_cfg_unref(c->cfg);
  c->state = ST_DEAD;
  /* Events for this connection may still sit in the current epoll batch:
   * free it after the batch. */
  c->next = w->grave;
  w->grave = c;
  atomic_fetch_sub_explicit(&px_total_conns, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&w->active, 1, memory_order_relaxed);
}

static const uint8_t alert_unrecognized_name[7] = {0x15, 0x03, 0x03, 0x00,
                                                   0x02, 0x02, 112};

/* A fatal alert, so the client reports "unrecognized name" instead of a
 * bare connection reset. */
static void reject_with_alert(px_worker *w, conn *c) {
  /* Read the hello first: closing with unread bytes would send RST, which
   * can make the client drop the alert before reading it. */
  for (int i = 0; i < 16; i++) {
    long n = (long)recv(c->cfd, w->buf, sizeof w->buf, MSG_DONTWAIT);
    if (n <= 0) break;
  }
  if (send(c->cfd, alert_unrecognized_name, sizeof alert_unrecognized_name,
           MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
  }
  shutdown(c->cfd, SHUT_WR);
  conn_close(w, c, "no_route");
}

/* ---------------------------------------------------------------- connect */
static void ep_add(px_worker *w, int fd, conn *c, uint64_t tag) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
  ev.data.u64 = (uint64_t)(uintptr_t)c | tag;
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void start_connect(px_worker *w, conn *c, int from) {
  const px_upstream *u = c->up;
  for (int i = from; i < u->naddrs; i++) {
    const px_addr *a = &u->addrs[i];
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) break;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0 ||
        errno == EINPROGRESS) {
      c->ufd = fd;
      c->hup_u = 0;
      c->addr_i = (uint8_t)i;
      /* The parity bit tells events of a closed earlier attempt (still in
       * this epoll batch) from events of this one. */
      c->attempt ^= 1;
      c->state = ST_CONNECTING;
      ep_add(w, fd, c, TAG_UP | (c->attempt ? TAG_ODD : 0));
      timer_set(w, c, TL_CONNECT, c->cfg->connect_timeout_ms);
      return;
    }
    inc(w, PXC_CONNECT_FAILURES, 1);
    close(fd);
  }
  c->addr_i = (uint8_t)(u->naddrs - 1);
  conn_close(w, c, "connect_failed");
}

static void relay(px_worker *w, conn *c, int from_client, uint32_t ev);

static int send_proxy_header(px_worker *w, conn *c) {
  px_addr dst;
  if (c->dst) {
    dst = *c->dst;
  } else {
    dst.len = sizeof dst.ss;
    if (getsockname(c->cfd, (struct sockaddr *)&dst.ss, &dst.len) != 0)
      memset(&dst, 0, sizeof dst);
  }
  uint8_t hdr[600];
  int n = px_pp_build(c->up->pp, &c->client, &dst, c->info, hdr, sizeof hdr);
  if (n < 0) return -1;
  /* The socket was just connected, its send buffer is empty: a header of a
   * few hundred bytes goes out whole or the connection is broken. */
  long s = (long)send(c->ufd, hdr, (size_t)n, MSG_NOSIGNAL);
  (void)w;
  return s == n ? 0 : -1;
}

static void on_upstream(px_worker *w, conn *c, uint32_t ev) {
  if (c->state == ST_CONNECTING) {
    /* A failed connect always raises EPOLLERR or EPOLLHUP: only then is
     * SO_ERROR worth a system call. */
    int err = 0;
    if (ev & (EPOLLERR | EPOLLHUP)) {
      socklen_t el = sizeof err;
      if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || !err)
        err = ECONNREFUSED;
    }
    if (err) {
      inc(w, PXC_CONNECT_FAILURES, 1);
      close(c->ufd);
      c->ufd = -1;
      start_connect(w, c, c->addr_i + 1);
      return;
    }
    if (!(ev & EPOLLOUT)) return;
    if (c->up->pp && send_proxy_header(w, c) != 0) {
      conn_close(w, c, "upstream_error");
      return;
    }
    c->state = ST_RELAY;
    timer_set(w, c, TL_IDLE, c->cfg->idle_timeout_ms);
    relay(w, c, -1, ev);
    return;
  }
  if (c->state == ST_RELAY) relay(w, c, 0, ev);
}

/* ---------------------------------------------------------------- hello */
static void save_info(conn *c, const sni_hello *h) {
  char alpn[SNI_CAP_ALPN_BYTES * 2] = "";
  size_t al = 0;
  for (unsigned i = 0; i < h->n_alpn; i++) {
    const uint8_t *nm;
    size_t nl;
    if (sni_alpn_get(h, i, &nm, &nl) != 0) break;
    if (al + nl + 2 >= sizeof alpn) break;
    if (al) alpn[al++] = ',';
    for (size_t k = 0; k < nl; k++)
      alpn[al++] = nm[k] > 0x20 && nm[k] < 0x7f ? (char)nm[k] : '?';
    alpn[al] = 0;
  }
  size_t sl = h->sni_present ? h->sni_len : 0;
  c->info = malloc(sl + al + 2);
  if (!c->info) return;
  for (size_t k = 0; k < sl; k++) {
    unsigned char ch = (unsigned char)h->sni[k];
    /* Names are logged; keep control bytes out of the log. */
    c->info[k] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  c->info[sl] = 0;
  memcpy(c->info + sl + 1, alpn, al + 1);
}

static void do_hello(px_worker *w, conn *c) {
  size_t peeked = 0, need = 0;
  int r = sni_peek_ex(c->cfd, w->buf, sizeof w->buf, &w->hello, NULL, &peeked,
                      &need);
  if (r == SNI_EAGAIN) {
    /* Edge-triggered: the next event comes with new bytes.  The low-water
     * mark also spares wake-ups for a hello trickling in. */
    if (peeked > 0 && need > 1) {
      int v = (int)(peeked + need < 65536 ? peeked + need : 65536);
      if (setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
        c->lowat = 1;
    }
    return;
  }
  if (c->lowat) {
    int one = 1;
    setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    c->lowat = 0;
  }
  px_route rt;
  const char *fail_verdict = "no_route";
  switch (r) {
    case SNI_EOF:
      conn_close(w, c, "closed_before_hello");
      return;
    case SNI_ESYS:
      conn_close(w, c, "client_error");
      return;
    case SNI_ENOTTLS:
      inc(w, PXC_NOT_TLS, 1);
      rt = px_cfg_route(c->cfg, NULL, r);
      fail_verdict = "not_tls";
      break;
    case SNI_EPROTO:
    case SNI_E2BIG:
    case SNI_ENOSPC: {
      /* A hello we cannot read carries no name we could trust: route it
       * like one without SNI (no_sni, else default). */
      inc(w, r == SNI_EPROTO ? PXC_BAD_HELLO : PXC_TOO_LARGE, 1);
      void *t = NULL;
      int k = sni_router_match(c->cfg->router, NULL, 0, NULL, 0, &t);
      rt.up = k > 0 ? t : NULL;
      rt.label = r == SNI_EPROTO ? "bad_hello" : "too_large";
      break;
    }
    default: /* complete hello, or SSLv2 */
      inc(w, PXC_HELLOS, 1);
      if (!w->hello.sni_present) inc(w, PXC_NO_SNI, 1);
      save_info(c, &w->hello);
      rt = px_cfg_route(c->cfg, &w->hello, r);
      break;
  }
  c->route = rt.label;
  if (!rt.up) {
    inc(w, PXC_NO_ROUTE, 1);
    if (r == SNI_ENOTTLS) {
      /* Read what was sent so that close() sends FIN, not RST. */
      for (int i = 0; i < 16; i++)
        if ((long)recv(c->cfd, w->buf, sizeof w->buf, MSG_DONTWAIT) <= 0) break;
      conn_close(w, c, fail_verdict);
    } else
      reject_with_alert(w, c);
    return;
  }
  inc(w, PXC_ROUTED, 1);
  c->up = rt.up;
  start_connect(w, c, 0);
}

static void do_proxy_header(px_worker *w, conn *c) {
  long n = (long)recv(c->cfd, w->buf, 600, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    conn_close(w, c, "closed_before_hello");
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      conn_close(w, c, "client_error");
    return;
  }
  px_addr src, dst;
  memset(&src, 0, sizeof src);
  memset(&dst, 0, sizeof dst);
  int r = px_pp_parse(w->buf, (size_t)n, &src, &dst);
  if (r == 0 && n < 600) return; /* more to come */
  if (r <= 0) {
    inc(w, PXC_PP_REJECTED, 1);
    conn_close(w, c, "bad_proxy_header");
    return;
  }
  /* Consume exactly the header: what follows is the client's hello. */
  if ((long)recv(c->cfd, w->buf, (size_t)r, MSG_DONTWAIT) != r) {
    conn_close(w, c, "client_error");
    return;
  }
  if (src.ss.ss_family == AF_INET || src.ss.ss_family == AF_INET6) {
    c->client = src;
    c->dst = malloc(sizeof *c->dst);
    if (c->dst) *c->dst = dst;
  }
  c->state = ST_HELLO;
  do_hello(w, c);
}

/* ---------------------------------------------------------------- relay */
/* Moves bytes src -> dst until the source has nothing (EAGAIN) or the
 * destination is full (EAGAIN with bytes in flight).  Returns bytes moved,
 * or -1 (source failed) / -2 (destination failed): tear the connection
 * down. */
static long pump_splice(chan *ch, const chan *other, int src, int dst) {
  long moved = 0;
  for (;;) {
    if (ch->inpipe > 0) {
      long n = (long)splice(ch->p[0], NULL, dst, NULL, ch->inpipe,
                            SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        ch->inpipe -= (size_t)n;
        ch->bytes += (uint64_t)n;
        moved += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return moved;
      return -2;
    }
    if (ch->eof) {
      if (!ch->shut) {
        /* When the other way is finished too, close() sends the FIN. */
        if (!other->shut) shutdown(dst, SHUT_WR);
        ch->shut = 1;
      }
      return moved;
    }
    long n = (long)splice(src, NULL, ch->p[1], NULL, SPLICE_CHUNK,
                          SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      ch->inpipe = (size_t)n;
      continue;
    }
    if (n == 0) {
      ch->eof = 1;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return moved;
    return -1;
  }
}

static long pump_rw(chan *ch, const chan *other, int src, int dst) {
  long moved = 0;
  for (;;) {
    if (ch->len > ch->off) {
      long n = (long)send(dst, ch->buf + ch->off, ch->len - ch->off,
                          MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        ch->off += (uint32_t)n;
        ch->bytes += (uint64_t)n;
        moved += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return moved;
      return -2;
    }
    ch->off = ch->len = 0;
    if (ch->eof) {
      if (!ch->shut) {
        /* When the other way is finished too, close() sends the FIN. */
        if (!other->shut) shutdown(dst, SHUT_WR);
        ch->shut = 1;
      }
      return moved;
    }
    long n = (long)recv(src, ch->buf, RW_BUF, MSG_DONTWAIT);
    if (n > 0) {
      ch->len = (uint32_t)n;
      continue;
    }
    if (n == 0) {
      ch->eof = 1;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return moved;
    return -1;
  }
}

static int chan_open(chan *ch, int splice_mode) {
  if (splice_mode) return 0; /* starts direct, see pump_direct() */
  ch->buf = malloc(RW_BUF);
  return ch->buf ? 0 : -1;
}

/* Small exchanges (the hello, a handshake, a request) go through the
 * worker's buffer with recv/send and need no per-connection state at all.
 * The first time the destination cannot take everything, or a read fills
 * the buffer (bulk transfer), the direction moves to a pipe for good: the
 * unsent rest is written into the pipe, and splice() takes over. */
static long pump_direct(px_worker *w, chan *ch, const chan *other, int src,
                        int dst, int src_hup) {
  long moved = 0;
  for (;;) {
    if (ch->eof) {
      if (!ch->shut) {
        if (!other->shut) shutdown(dst, SHUT_WR);
        ch->shut = 1;
      }
      return moved;
    }
    long n = (long)recv(src, w->buf, RW_BUF, MSG_DONTWAIT);
    if (n == 0) {
      ch->eof = 1;
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return moved;
      return -1;
    }
    long sent = 0;
    while (sent < n) {
      long k = (long)send(dst, w->buf + sent, (size_t)(n - sent),
                          MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        sent += k;
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return -2;
    }
    ch->bytes += (uint64_t)sent;
    moved += sent;
    if (sent == n && n < RW_BUF) {
      /* A short read emptied the receive queue.  The socket is registered
       * edge-triggered, so any byte (or FIN) that arrives from now on raises
       * a new event: the recv() that would only return EAGAIN is skipped.
       * A FIN that came before the last event was reported with it
       * (src_hup): then read on until recv() returns 0. */
      if (!src_hup) return moved;
      continue;
    }
    size_t rest = (size_t)(n - sent);
    if (pipe_get(w, ch->p) == 0) {
      /* An empty pipe holds at least 64 KiB = RW_BUF: this cannot block. */
      if (rest && (long)write(ch->p[1], w->buf + sent, rest) != (long)rest)
        return -2;
      ch->inpipe = rest;
    } else {
      ch->buf = malloc(RW_BUF);
      if (!ch->buf) return -2;
      memcpy(ch->buf, w->buf + sent, rest);
      ch->off = 0;
      ch->len = (uint32_t)rest;
    }
    if (rest) return moved; /* wait until dst is writable */
    long more = ch->p[0] >= 0 ? pump_splice(ch, other, src, dst)
                              : pump_rw(ch, other, src, dst);
    return more < 0 ? more : moved + more;
  }
}

static long pump(px_worker *w, chan *ch, const chan *other, int src,
                 int dst, int src_hup) {
  if (ch->p[0] >= 0) return pump_splice(ch, other, src, dst);
  if (ch->buf) return pump_rw(ch, other, src, dst);
  return pump_direct(w, ch, other, src, dst, src_hup);
}

static int chan_pending(const chan *ch) {
  return ch->p[0] >= 0 ? ch->inpipe > 0 : ch->len > ch->off;
}

/* from_client: 1 event on the client socket, 0 on the upstream socket, -1
 * start (pump both ways). */
static void relay(px_worker *w, conn *c, int from_client, uint32_t ev) {
  if (from_client < 0) {
    int sp = c->cfg->use_splice;
    if (chan_open(&c->c2u, sp) || chan_open(&c->u2c, sp)) {
      conn_close(w, c, "no_memory");
      return;
    }
  }
  const uint32_t in = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  int do_c2u, do_u2c;
  if (from_client < 0) {
    /* Start: the hello waits in the client socket.  The upstream's side is
     * pumped only if the connect event already reported bytes from it (a
     * server that speaks first); later bytes raise their own edge. */
    do_c2u = 1;
    do_u2c = (ev & in) != 0;
  } else if (from_client) {
    /* Readable client feeds c2u; writable client drains u2c, which only
     * matters if u2c is waiting for room. */
    do_c2u = (ev & in) != 0;
    do_u2c = (ev & EPOLLOUT) && chan_pending(&c->u2c);
  } else {
    do_u2c = (ev & in) != 0;
    do_c2u = (ev & EPOLLOUT) && chan_pending(&c->c2u);
  }
  long m1 = 0, m2 = 0;
  if (do_c2u) m1 = pump(w, &c->c2u, &c->u2c, c->cfd, c->ufd, c->hup_c);
  if (m1 >= 0 && do_u2c)
    m2 = pump(w, &c->u2c, &c->c2u, c->ufd, c->cfd, c->hup_u);
  if (m1 < 0 || m2 < 0) {
    /* Which side broke the connection, for the log. */
    int client_side = m1 == -1 || m2 == -2;
    conn_close(w, c, client_side ? "client_reset" : "upstream_reset");
    return;
  }
  if (c->c2u.shut && c->u2c.shut) {
    conn_close(w, c, "ok");
    return;
  }
  if ((m1 > 0 || m2 > 0) && c->cfg->idle_timeout_ms &&
      c->deadline != w->now + c->cfg->idle_timeout_ms)
    timer_set(w, c, TL_IDLE, c->cfg->idle_timeout_ms);
}

/* ---------------------------------------------------------------- events */
static void on_client(px_worker *w, conn *c, uint32_t ev) {
  switch (c->state) {
    case ST_PP:
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        do_proxy_header(w, c);
      break;
    case ST_HELLO:
      /* Registration reports "writable" at once; only new bytes matter. */
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) do_hello(w, c);
      break;
    case ST_RELAY:
      relay(w, c, 1, ev);
      break;
    default:
      break; /* connecting: the client's bytes wait in its socket */
  }
}

static void on_accept(px_worker *w, int li) {
  const px_listener *L = &w->lst[li];
  for (int k = 0; k < 64; k++) {
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
    refresh_cfg(w);
    conn *c = aligned_alloc(16, (sizeof(conn) + 15) & ~(size_t)15);
    if (!c) {
      close(fd);
      continue;
    }
    memset(c, 0, sizeof *c);
    c->cfd = fd;
    c->ufd = -1;
    c->c2u.p[0] = c->c2u.p[1] = c->u2c.p[0] = c->u2c.p[1] = -1;
    c->client = peer;
    c->listener = (uint8_t)li;
    c->t_start = w->now;
    c->verdict = "?";
    c->cfg = w->cfg;
    px_cfg_ref(c->cfg);
    atomic_fetch_add_explicit(&px_total_conns, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->active, 1, memory_order_relaxed);
    inc(w, PXC_ACCEPTED, 1);
    if (L->accept_pp) {
      if (!px_cidr_match(L->trusted, L->ntrusted,
                         (struct sockaddr *)&peer.ss)) {
        inc(w, PXC_PP_REJECTED, 1);
        conn_close(w, c, "untrusted_proxy_source");
        continue;
      }
      c->state = ST_PP;
    } else {
      c->state = ST_HELLO;
    }
    timer_set(w, c, TL_HELLO, c->cfg->hello_timeout_ms);
    ep_add(w, fd, c, TAG_CLIENT);
    /* The hello often arrived with the handshake's last ACK: try now. */
    on_client(w, c, EPOLLIN);
  }
}

static void expire(px_worker *w, conn *c, int l) {
  if (l == TL_HELLO) {
    inc(w, PXC_HELLO_TIMEOUTS, 1);
    conn_close(w, c, "hello_timeout");
  } else if (l == TL_CONNECT) {
    inc(w, PXC_CONNECT_TIMEOUTS, 1);
    inc(w, PXC_CONNECT_FAILURES, 1);
    timer_del(w, c);
    close(c->ufd);
    c->ufd = -1;
    start_connect(w, c, c->addr_i + 1);
  } else {
    inc(w, PXC_IDLE_TIMEOUTS, 1);
    conn_close(w, c, "idle_timeout");
  }
}

static int next_wait(px_worker *w) {
  uint64_t t = UINT64_MAX;
  for (int l = 1; l < TL_COUNT; l++)
    if (w->head[l] && w->head[l]->deadline < t) t = w->head[l]->deadline;
  if (!w->accepting && !w->draining && w->resume_at && w->resume_at < t)
    t = w->resume_at;
  if (w->draining && w->drain_deadline < t) t = w->drain_deadline;
  if (t == UINT64_MAX) return -1;
  /* +1: the coarse clock must have passed the deadline when we wake. */
  return t <= w->now ? 0 : (int)(t - w->now + 1 > 60000 ? 60000 : t - w->now + 1);
}

static void close_all(px_worker *w, const char *verdict) {
  for (int l = 1; l < TL_COUNT; l++)
    while (w->head[l]) conn_close(w, w->head[l], verdict);
}

static void *worker_main(void *arg) {
  px_worker *w = arg;
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(w->epfd, evs, 256, next_wait(w));
    w->now = mono_ms();
    for (int i = 0; i < n; i++) {
      uint64_t d = evs[i].data.u64;
      unsigned tag = (unsigned)(d & 3);
      if (tag == TAG_LISTEN) {
        if (w->accepting) on_accept(w, (int)(d >> 3));
        continue;
      }
      if (tag == TAG_WAKE) {
        uint64_t v;
        if (read(w->evfd, &v, sizeof v) < 0) {
        }
        continue;
      }
      conn *c = (conn *)(uintptr_t)(d & ~(uint64_t)15);
      if (c->state == ST_DEAD) continue;
      const uint32_t hup = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
      if (tag == TAG_CLIENT) {
        if (evs[i].events & hup) c->hup_c = 1;
        on_client(w, c, evs[i].events);
      } else {
        if (((d & TAG_ODD) != 0) != (c->attempt != 0)) continue; /* stale */
        if (evs[i].events & hup) c->hup_u = 1;
        on_upstream(w, c, evs[i].events);
      }
    }
    for (int l = 1; l < TL_COUNT; l++)
      while (w->head[l] && w->head[l]->deadline <= w->now)
        expire(w, w->head[l], l);
    while (w->grave) {
      conn *c = w->grave;
      w->grave = c->next;
      free(c);
    }
    if (atomic_load_explicit(&w->stopping, memory_order_acquire) &&
        !w->draining) {
      /* Stop accepting at once; connections get drain_timeout to finish. */
      listeners_arm(w, 0);
      for (int i = 0; i < w->nl; i++) {
        close(w->lfd[i]);
        w->lfd[i] = -1;
      }
      w->draining = 1;
      w->drain_deadline = w->now + w->cfg->drain_timeout_ms;
    }
    if (w->draining) {
      if (atomic_load(&w->active) == 0) break;
      if (w->now >= w->drain_deadline) {
        close_all(w, "drain_timeout");
        while (w->grave) {
          conn *c = w->grave;
          w->grave = c->next;
          free(c);
        }
        break;
      }
    } else {
      maybe_resume(w);
    }
  }
  return NULL;
}

static int open_listener(const px_listener *l) {
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

px_worker *px_worker_start(int id, px_cfg *cfg, int *err) {
  px_worker *w = calloc(1, sizeof *w);
  if (!w) {
    *err = ENOMEM;
    return NULL;
  }
  w->id = id;
  w->cfg = cfg;
  px_cfg_ref(cfg);
  w->gen = atomic_load(&px_cfg_gen);
  w->now = mono_ms();
  w->nl = cfg->nlisteners;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->epfd < 0 || w->evfd < 0) goto bad;
  for (int i = 0; i < w->nl; i++) {
    w->lst[i] = cfg->listeners[i];
    w->lfd[i] = open_listener(&w->lst[i]);
    if (w->lfd[i] < 0) {
      fprintf(stderr, "sniroute-proxy: listen %s: %s\n", w->lst[i].text,
              strerror(errno));
      goto bad;
    }
  }
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = TAG_WAKE;
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
  listeners_arm(w, 1);
  if (pthread_create(&w->th, NULL, worker_main, w) != 0) goto bad;
  return w;
bad:
  *err = errno;
  for (int i = 0; i < w->nl; i++)
    if (w->lfd[i] > 0) close(w->lfd[i]);
  if (w->epfd >= 0) close(w->epfd);
  if (w->evfd >= 0) close(w->evfd);
  px_cfg_unref(w->cfg);
  free(w);
  return NULL;
}

void px_worker_stop(px_worker *w) {
  atomic_store(&w->stopping, 1);
  uint64_t one = 1;
  if (write(w->evfd, &one, sizeof one) < 0) {
  }
}

void px_worker_join(px_worker *w) { pthread_join(w->th, NULL); }

void px_worker_free(px_worker *w) {
  for (int i = 0; i < w->npool; i++) {
    close(w->pool[i][0]);
    close(w->pool[i][1]);
  }
  close(w->epfd);
  close(w->evfd);
  px_cfg_unref(w->cfg);
  free(w);
}
