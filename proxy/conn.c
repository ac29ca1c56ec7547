/* Connection state machine (conn.h): PROXY header in, hello peek, route,
 * connect (with failover over the upstream's addresses), PROXY header
 * out, then relay (relay.c) until both directions have ended. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "conn.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "pp.h"
#include "route.h"
#include "timer.h"

static void log_conn(px_worker *w, px_conn *c) {
  if (!px_log_enabled()) return;
  px_log_rec r = {.worker = w->id,
                  .client = &c->client,
                  .up = c->up,
                  .addr_i = c->addr_i,
                  .sni = c->info,
                  .alpn = c->info ? c->info + strlen(c->info) + 1 : NULL,
                  .route = c->route,
                  .verdict = c->verdict,
                  .bytes_up = c->c2u.bytes,
                  .bytes_down = c->u2c.bytes,
                  .ms = w->now - c->t_start};
  px_log_conn(&r);
}

void px_conn_close(px_worker *w, px_conn *c, const char *verdict) {
  if (c->state == PX_ST_DEAD) return;
  c->verdict = verdict;
  px_timer_del(w, c);
  if (c->cfd >= 0) close(c->cfd);
  if (c->ufd >= 0) close(c->ufd);
  px_chan_release(&w->pool, &c->c2u);
  px_chan_release(&w->pool, &c->u2c);
  px_count(w, PXC_BYTES_UP, c->c2u.bytes);
  px_count(w, PXC_BYTES_DOWN, c->u2c.bytes);
  log_conn(w, c);
  free(c->info);
  free(c->dst);
  px_cfg_unref(c->cfg);
  c->state = PX_ST_DEAD;
  /* Events for this connection may still sit in the current epoll batch:
   * free it after the batch. */
  c->next = w->grave;
  w->grave = c;
  atomic_fetch_sub_explicit(&px_total_conns, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&w->active, 1, memory_order_relaxed);
}

static const uint8_t alert_unrecognized_name[7] = {0x15, 0x03, 0x03, 0x00,
                                                   0x02, 0x02, 112};

/* Reads what the client sent so that close() sends FIN, not RST (a reset
 * can make the client drop an alert before reading it). */
static void drain_client(px_worker *w, px_conn *c) {
  for (int i = 0; i < 16; i++)
    if ((long)recv(c->cfd, w->buf, sizeof w->buf, MSG_DONTWAIT) <= 0) break;
}

/* A fatal alert, so the client reports "unrecognized name" instead of a
 * bare connection reset. */
static void reject_with_alert(px_worker *w, px_conn *c) {
  drain_client(w, c);
  if (send(c->cfd, alert_unrecognized_name, sizeof alert_unrecognized_name,
           MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
  }
  shutdown(c->cfd, SHUT_WR);
  px_conn_close(w, c, "no_route");
}

/* ---------------------------------------------------------------- connect */
static void ep_add(px_worker *w, int fd, px_conn *c, uint64_t tag) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
  ev.data.u64 = (uint64_t)(uintptr_t)c | tag;
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void start_connect(px_worker *w, px_conn *c, int from) {
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
      c->state = PX_ST_CONNECTING;
      ep_add(w, fd, c, PX_TAG_UP | (c->attempt ? PX_TAG_ODD : 0));
      px_timer_set(w, c, PX_TL_CONNECT, c->cfg->connect_timeout_ms);
      return;
    }
    px_count(w, PXC_CONNECT_FAILURES, 1);
    close(fd);
  }
  c->addr_i = (uint8_t)(u->naddrs - 1);
  px_conn_close(w, c, "connect_failed");
}

static int send_proxy_header(px_conn *c) {
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
  return s == n ? 0 : -1;
}

static void relay(px_worker *w, px_conn *c, int from_client, uint32_t ev);

static void on_upstream(px_worker *w, px_conn *c, uint32_t ev) {
  if (c->state == PX_ST_RELAY) {
    relay(w, c, 0, ev);
    return;
  }
  if (c->state != PX_ST_CONNECTING) return;
  /* A failed connect always raises EPOLLERR or EPOLLHUP: only then is
   * SO_ERROR worth a system call. */
  int err = 0;
  if (ev & (EPOLLERR | EPOLLHUP)) {
    socklen_t el = sizeof err;
    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || !err)
      err = ECONNREFUSED;
  }
  if (err) {
    px_count(w, PXC_CONNECT_FAILURES, 1);
    close(c->ufd);
    c->ufd = -1;
    start_connect(w, c, c->addr_i + 1);
    return;
  }
  if (!(ev & EPOLLOUT)) return;
  if (c->up->pp && send_proxy_header(c) != 0) {
    px_conn_close(w, c, "upstream_error");
    return;
  }
  c->state = PX_ST_RELAY;
  px_timer_set(w, c, PX_TL_IDLE, c->cfg->idle_timeout_ms);
  relay(w, c, -1, ev);
}

/* ---------------------------------------------------------------- hello */
/* Keeps SNI and ALPN (printable bytes only: they are logged) for the log
 * and the PROXY v2 AUTHORITY TLV. */
static void save_info(px_conn *c, const sni_hello *h) {
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
    c->info[k] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  c->info[sl] = 0;
  memcpy(c->info + sl + 1, alpn, al + 1);
}

/* Edge-triggered: the next event comes with new bytes.  The low-water
 * mark also spares wake-ups for a hello trickling in. */
static void wait_for_more(px_conn *c, size_t peeked, size_t need) {
  if (peeked > 0 && need > 1) {
    int v = (int)(peeked + need < 65536 ? peeked + need : 65536);
    if (setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
      c->lowat = 1;
  }
}

/* Counts the peek result; returns 0 when the connection was closed. */
static int count_hello(px_worker *w, px_conn *c, int r) {
  switch (r) {
    case SNI_EOF:
      px_conn_close(w, c, "closed_before_hello");
      return 0;
    case SNI_ESYS:
      px_conn_close(w, c, "client_error");
      return 0;
    case SNI_ENOTTLS:
      px_count(w, PXC_NOT_TLS, 1);
      return 1;
    case SNI_EPROTO:
      px_count(w, PXC_BAD_HELLO, 1);
      return 1;
    case SNI_E2BIG:
    case SNI_ENOSPC:
      px_count(w, PXC_TOO_LARGE, 1);
      return 1;
    default: /* complete hello, or SSLv2 */
      px_count(w, PXC_HELLOS, 1);
      if (!w->hello.sni_present) px_count(w, PXC_NO_SNI, 1);
      save_info(c, &w->hello);
      return 1;
  }
}

static void do_hello(px_worker *w, px_conn *c) {
  size_t peeked = 0, need = 0;
  int r = sni_peek_ex(c->cfd, w->buf, sizeof w->buf, &w->hello, NULL, &peeked,
                      &need);
  if (r == SNI_EAGAIN) {
    wait_for_more(c, peeked, need);
    return;
  }
  if (c->lowat) {
    int one = 1;
    setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    c->lowat = 0;
  }
  if (!count_hello(w, c, r)) return;
  px_route rt = px_route_decide(c->cfg, &w->hello, r);
  c->route = rt.label;
  if (!rt.up) {
    px_count(w, PXC_NO_ROUTE, 1);
    if (r == SNI_ENOTTLS) {
      drain_client(w, c);
      px_conn_close(w, c, "not_tls");
    } else {
      reject_with_alert(w, c);
    }
    return;
  }
  px_count(w, PXC_ROUTED, 1);
  c->up = rt.up;
  start_connect(w, c, 0);
}

static void do_proxy_header(px_worker *w, px_conn *c) {
  long n = (long)recv(c->cfd, w->buf, 600, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    px_conn_close(w, c, "closed_before_hello");
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      px_conn_close(w, c, "client_error");
    return;
  }
  px_addr src, dst;
  memset(&src, 0, sizeof src);
  memset(&dst, 0, sizeof dst);
  int r = px_pp_parse(w->buf, (size_t)n, &src, &dst);
  if (r == 0 && n < 600) return; /* more to come */
  if (r <= 0) {
    px_count(w, PXC_PP_REJECTED, 1);
    px_conn_close(w, c, "bad_proxy_header");
    return;
  }
  /* Consume exactly the header: what follows is the client's hello. */
  if ((long)recv(c->cfd, w->buf, (size_t)r, MSG_DONTWAIT) != r) {
    px_conn_close(w, c, "client_error");
    return;
  }
  if (src.ss.ss_family == AF_INET || src.ss.ss_family == AF_INET6) {
    c->client = src;
    c->dst = malloc(sizeof *c->dst);
    if (c->dst) *c->dst = dst;
  }
  c->state = PX_ST_HELLO;
  do_hello(w, c);
}

/* ---------------------------------------------------------------- relay */
static long pump(px_worker *w, px_chan *ch, const px_chan *other, int src,
                 int dst, int src_hup) {
  return px_pump(&w->pool, w->buf, ch, other, src, dst, src_hup);
}

/* from_client: 1 event on the client socket, 0 on the upstream socket, -1
 * start (pump both ways). */
static void relay(px_worker *w, px_conn *c, int from_client, uint32_t ev) {
  if (from_client < 0) {
    int sp = c->cfg->use_splice;
    if (px_chan_open(&c->c2u, sp) || px_chan_open(&c->u2c, sp)) {
      px_conn_close(w, c, "no_memory");
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
    do_u2c = (ev & EPOLLOUT) && px_chan_pending(&c->u2c);
  } else {
    do_u2c = (ev & in) != 0;
    do_c2u = (ev & EPOLLOUT) && px_chan_pending(&c->c2u);
  }
  long m1 = 0, m2 = 0;
  if (do_c2u) m1 = pump(w, &c->c2u, &c->u2c, c->cfd, c->ufd, c->hup_c);
  if (m1 >= 0 && do_u2c)
    m2 = pump(w, &c->u2c, &c->c2u, c->ufd, c->cfd, c->hup_u);
  if (m1 < 0 || m2 < 0) {
    /* Which side broke the connection, for the log. */
    int client_side = m1 == -1 || m2 == -2;
    px_conn_close(w, c, client_side ? "client_reset" : "upstream_reset");
    return;
  }
  if (c->c2u.shut && c->u2c.shut) {
    px_conn_close(w, c, "ok");
    return;
  }
  if ((m1 > 0 || m2 > 0) && c->cfg->idle_timeout_ms &&
      c->deadline != w->now + c->cfg->idle_timeout_ms)
    px_timer_set(w, c, PX_TL_IDLE, c->cfg->idle_timeout_ms);
}

/* ---------------------------------------------------------------- events */
static void on_client(px_worker *w, px_conn *c, uint32_t ev) {
  switch (c->state) {
    case PX_ST_PP:
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        do_proxy_header(w, c);
      break;
    case PX_ST_HELLO:
      /* Registration reports "writable" at once; only new bytes matter. */
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) do_hello(w, c);
      break;
    case PX_ST_RELAY:
      relay(w, c, 1, ev);
      break;
    default:
      break; /* connecting: the client's bytes wait in its socket */
  }
}

void px_conn_event(px_worker *w, px_conn *c, unsigned tag, uint32_t events) {
  if (c->state == PX_ST_DEAD) return;
  const uint32_t hup = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  if ((tag & 3) == PX_TAG_CLIENT) {
    if (events & hup) c->hup_c = 1;
    on_client(w, c, events);
    return;
  }
  if (((tag & PX_TAG_ODD) != 0) != (c->attempt != 0)) return; /* stale */
  if (events & hup) c->hup_u = 1;
  on_upstream(w, c, events);
}

void px_conn_accept(px_worker *w, int li, int fd, const px_addr *peer) {
  const px_listener *L = &w->lst[li];
  px_conn *c = aligned_alloc(16, (sizeof(px_conn) + 15) & ~(size_t)15);
  if (!c) {
    close(fd);
    return;
  }
  memset(c, 0, sizeof *c);
  c->cfd = fd;
  c->ufd = -1;
  px_chan_init(&c->c2u);
  px_chan_init(&c->u2c);
  c->client = *peer;
  c->listener = (uint8_t)li;
  c->t_start = w->now;
  c->verdict = "?";
  c->cfg = w->cfg;
  px_cfg_ref(c->cfg);
  atomic_fetch_add_explicit(&px_total_conns, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->active, 1, memory_order_relaxed);
  px_count(w, PXC_ACCEPTED, 1);
  if (L->accept_pp) {
    if (!px_cidr_match(L->trusted, L->ntrusted,
                       (const struct sockaddr *)&peer->ss)) {
      px_count(w, PXC_PP_REJECTED, 1);
      px_conn_close(w, c, "untrusted_proxy_source");
      return;
    }
    c->state = PX_ST_PP;
  } else {
    c->state = PX_ST_HELLO;
  }
  px_timer_set(w, c, PX_TL_HELLO, c->cfg->hello_timeout_ms);
  ep_add(w, fd, c, PX_TAG_CLIENT);
  /* The hello often arrived with the handshake's last ACK: try now. */
  on_client(w, c, EPOLLIN);
}

void px_conn_expire(px_worker *w, px_conn *c, int l) {
  if (l == PX_TL_HELLO) {
    px_count(w, PXC_HELLO_TIMEOUTS, 1);
    px_conn_close(w, c, "hello_timeout");
  } else if (l == PX_TL_CONNECT) {
    px_count(w, PXC_CONNECT_TIMEOUTS, 1);
    px_count(w, PXC_CONNECT_FAILURES, 1);
    px_timer_del(w, c);
    close(c->ufd);
    c->ufd = -1;
    start_connect(w, c, c->addr_i + 1);
  } else {
    px_count(w, PXC_IDLE_TIMEOUTS, 1);
    px_conn_close(w, c, "idle_timeout");
  }
}
