/* QUIC forwarding (quic.h): the worker's UDP sockets, new flows and their
 * hellos, forwarding both ways, deadlines, the flow's log line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "quic.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connid.h"
#include "fpdeny.h"
#include "metrics.h"
#include "qflow.h"
#include "route.h"

/* Hello blocks in use per worker at most (about 40 KiB each with the
 * default quic_hello_bytes): new flows beyond it are dropped until
 * hellos complete or time out. */
#define PENDING_MAX 1024u
#define BATCH 64              /* datagrams per socket and event: fairness */
#define RCVBUF_BYTES (4 << 20) /* asked for; the kernel caps it (rmem_max) */
#define LONG_HEADER 0x80      /* RFC 9000 17.2: the header form bit */
/* epoll data of a QUIC socket (tag bits cleared): a listener index shifted
 * by 4 with this bit, or a flow pointer (16-byte aligned, bit clear). */
#define LISTENER_BIT 8u

typedef struct px_quic {
  int fd[PX_MAX_LISTENERS];
  uint8_t wildcard[PX_MAX_LISTENERS];
  int n;
  px_qtab tab;
  px_qpool pool;
  px_qflow *head[PX_QL_COUNT], *tail[PX_QL_COUNT];
  px_qflow *grave; /* ended in this epoll batch, freed after it */
  atomic_long active;
} px_quic;

/* ------------------------------------------------------------ lists */
static void list_del(px_quic *q, px_qflow *f) {
  if (f->list == PX_QL_NONE) return;
  if (f->prev) f->prev->next = f->next;
  else q->head[f->list] = f->next;
  if (f->next) f->next->prev = f->prev;
  else q->tail[f->list] = f->prev;
  f->prev = f->next = NULL;
  f->list = PX_QL_NONE;
}

/* Inserts f at its place by `queued` (usually the tail: it is recent). */
static void list_put(px_quic *q, px_qflow *f, int l, uint64_t queued) {
  list_del(q, f);
  f->queued = queued;
  px_qflow *a = q->tail[l];
  while (a && a->queued > queued) a = a->prev;
  f->prev = a;
  f->next = a ? a->next : q->head[l];
  if (f->next) f->next->prev = f;
  else q->tail[l] = f;
  if (a) a->next = f;
  else q->head[l] = f;
  f->list = (uint8_t)l;
}

/* The server block of the flow's listener: its routes and hello_timeout. */
static const px_server *flow_server(const px_qflow *f) {
  return &f->cfg->servers[f->cfg->quic[f->li].server];
}

static unsigned hello_ms(const px_qflow *f) {
  /* hello_timeout off: the idle timeout still bounds a pending flow. */
  unsigned ms = flow_server(f)->hello_timeout_ms;
  return ms ? ms : f->cfg->quic_idle_timeout_ms;
}

/* ------------------------------------------------------------ sockets */
static int is_wildcard(const px_addr *a) {
  if (a->ss.ss_family == AF_INET)
    return ((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr.s_addr ==
           htonl(INADDR_ANY);
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)&a->ss;
  return memcmp(&s6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;
}

static int open_listener(const px_listener *l, int wildcard) {
  int fam = l->addr.ss.ss_family;
  int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1, rcv = RCVBUF_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* One socket per worker; the kernel hashes the 4-tuple (quic.h). */
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  /* A wildcard socket must learn which address each datagram was sent to:
   * the reply has to come from it, or the client drops it. */
  if (wildcard && fam == AF_INET)
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (wildcard && fam == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&l->addr.ss, l->addr.len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int px_quic_open(px_worker *w, const px_cfg *cfg) {
  if (cfg->nquic == 0) return 0;
  px_quic *q = calloc(1, sizeof *q);
  if (!q) return -1;
  w->quic = q;
  for (int i = 0; i < PX_MAX_LISTENERS; i++) q->fd[i] = -1;
  unsigned per = (cfg->quic_max_flows + (unsigned)cfg->workers - 1) /
                 (unsigned)cfg->workers;
  if (px_qtab_init(&q->tab, per) != 0) return -1;
  px_qpool_init(&q->pool, PENDING_MAX, cfg->quic_hello_bytes);
  for (int i = 0; i < cfg->nquic; i++, q->n++) {
    const px_listener *l = &cfg->quic[i];
    q->wildcard[i] = (uint8_t)is_wildcard(&l->addr);
    q->fd[i] = open_listener(l, q->wildcard[i]);
    if (q->fd[i] < 0) {
      fprintf(stderr, "sniroute-proxy: listen %s quic: %s\n", l->text,
              strerror(errno));
      return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ((uint64_t)i << 4) | LISTENER_BIT | PX_TAG_QUIC;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, q->fd[i], &ev) != 0) return -1;
  }
  return 0;
}

long px_quic_active(const px_worker *w) {
  px_quic *q = w->quic;
  return q ? atomic_load_explicit(&q->active, memory_order_relaxed) : 0;
}

/* ------------------------------------------------------------ flow end */
static void log_flow(px_worker *w, const px_qflow *f, const char *verdict) {
  if (!px_log_enabled()) return;
  px_addr client;
  memset(&client, 0, sizeof client);
  client.len = f->peer.sa.sa_family == AF_INET ? sizeof f->peer.in
                                               : sizeof f->peer.in6;
  memcpy(&client.ss, &f->peer, client.len);
  px_log_quic lq = {f->version, f->dg_up, f->dg_down};
  const uint8_t *info = (const uint8_t *)f->info;
  const char *ja4 = f->has_fp ? f->info + f->sni_len + f->alpn_len : NULL;
  const char *ja3 = ja4 ? ja4 + strlen(ja4) + 1 : NULL;
  char id[PX_CONNID_LEN];
  px_connid_format(w->id, f->seq, id);
  px_log_rec r = {.worker = w->id,
                  .format = f->cfg->log_format,
                  .client = &client,
                  .server = flow_server(f)->name,
                  .up = f->up,
                  .addr_i = f->addr_i,
                  .sni = f->has_sni ? info : NULL,
                  .sni_len = f->sni_len,
                  .alpn = f->alpn_len ? info + f->sni_len : NULL,
                  .alpn_len = f->alpn_len,
                  .route = f->route,
                  .verdict = verdict,
                  .id = id,
                  .ja4 = ja4,
                  .ja3 = ja3,
                  .ech = ja3 ? ja3 + strlen(ja3) + 1 : NULL,
                  .bytes_up = f->by_up,
                  .bytes_down = f->by_down,
                  .ms = w->now - f->t_start,
                  .quic = &lq};
  if (px_log_conn(&r) != 0) px_count(w, PXC_LOG_DROPPED, 1);
}

/* Logs f once and releases everything but the record itself, which waits
 * in the grave: events for it may still be in the current batch. */
static void flow_end(px_worker *w, px_quic *q, px_qflow *f, const char *verdict) {
  if (f->dead) return;
  log_flow(w, f, verdict);
  px_metrics_conn(w->id, flow_server(f)->name, f->route,
                  f->up ? f->up->name : NULL, f->by_up, f->by_down,
                  strcmp(verdict, "connect_failed") == 0);
  if (f->ufd >= 0) close(f->ufd);
  f->ufd = -1;
  px_qtab_remove(&q->tab, f);
  list_del(q, f);
  px_qpool_put(&q->pool, f->pend);
  f->pend = NULL;
  free(f->info);
  f->info = NULL;
  px_cfg_unref(f->cfg);
  f->dead = 1;
  f->next = q->grave;
  q->grave = f;
  atomic_fetch_sub_explicit(&q->active, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ sending */
static void to_client(px_worker *w, px_quic *q, px_qflow *f, const uint8_t *d,
                      size_t n) {
  struct iovec iov = {(void *)(uintptr_t)d, n};
  union {
    char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } ctl;
  struct msghdr m = {.msg_name = &f->peer,
                     .msg_namelen = f->peer.sa.sa_family == AF_INET
                                        ? sizeof f->peer.in
                                        : sizeof f->peer.in6,
                     .msg_iov = &iov,
                     .msg_iovlen = 1};
  if (f->has_local) {
    memset(&ctl, 0, sizeof ctl);
    m.msg_control = ctl.b;
    struct cmsghdr *c = (struct cmsghdr *)(void *)ctl.b;
    if (f->peer.sa.sa_family == AF_INET) {
      struct in_pktinfo pi = {.ipi_spec_dst = f->local.v4.ipi_addr};
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      m.msg_controllen = CMSG_SPACE(sizeof pi);
    } else {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof f->local.v6);
      memcpy(CMSG_DATA(c), &f->local.v6, sizeof f->local.v6);
      m.msg_controllen = CMSG_SPACE(sizeof f->local.v6);
    }
  }
  /* A full socket buffer drops the datagram, as the network would; QUIC
   * retransmits. */
  if (sendmsg(q->fd[f->li], &m, MSG_DONTWAIT) != (ssize_t)n) return;
  f->dg_down++;
  f->by_down += n;
  px_count(w, PXC_QUIC_DGRAMS_DOWN, 1);
  px_count(w, PXC_QUIC_BYTES_DOWN, n);
}

/* A UDP socket connected to upstream address f->addr_i, in w's epoll set.
 * 0 or -1. */
static int open_upstream(px_worker *w, px_qflow *f) {
  const px_addr *a = &f->up->addrs[f->addr_i];
  int fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = (uint64_t)(uintptr_t)f | PX_TAG_QUIC;
  if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
      epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    return -1;
  }
  f->ufd = fd;
  return 0;
}

/* The first address from f->addr_i on that takes a socket.  0 or -1. */
static int connect_from(px_worker *w, px_qflow *f) {
  for (; f->addr_i < f->up->naddrs; f->addr_i++)
    if (open_upstream(w, f) == 0) return 0;
  f->addr_i = 0; /* the log names the first address */
  return -1;
}

/* ICMP port unreachable came back (ECONNREFUSED): while the upstream has
 * not answered yet, the flow moves to the next address; the client's
 * retransmissions carry its handshake there.  0 when it moved. */
static int failover(px_worker *w, px_qflow *f) {
  if (f->replied || f->addr_i + 1 >= f->up->naddrs) return -1;
  close(f->ufd);
  f->ufd = -1;
  f->addr_i++;
  if (connect_from(w, f) != 0) return -1;
  px_count(w, PXC_QUIC_FAILOVERS, 1);
  return 0;
}

static void to_upstream(px_worker *w, px_qflow *f, const uint8_t *d, size_t n) {
  while (f->ufd >= 0 && send(f->ufd, d, n, MSG_DONTWAIT) != (ssize_t)n) {
    if (errno != ECONNREFUSED || failover(w, f) != 0) return; /* dropped */
  }
  if (f->ufd < 0) return;
  f->dg_up++;
  f->by_up += n;
  px_count(w, PXC_QUIC_DGRAMS_UP, 1);
  px_count(w, PXC_QUIC_BYTES_UP, n);
}

/* ------------------------------------------------------------ hellos */
/* Keeps the name and ALPN list as sent and, when logging, the JA4 (ja4,
 * computed by the caller), JA3 and ECH marks, for the log line. */
static void save_info(px_qflow *f, const sni_hello *h, const char *ja4) {
  size_t sl = h->sni_present ? h->sni_len : 0;
  size_t al = h->alpn_len <= SNI_CAP_ALPN_BYTES ? h->alpn_len : 0;
  char ja3[SNI_JA3_MD5_MAX] = "", ech[PX_ECH_TEXT];
  int fp = px_log_enabled();
  if (fp && sni_ja3_md5(h, ja3, sizeof ja3) < 0) ja3[0] = 0;
  px_ech_text(h, ech);
  size_t l4 = strlen(ja4) + 1, l3 = strlen(ja3) + 1, le = strlen(ech) + 1;
  size_t n = sl + al + (fp ? l4 + l3 + le : 0);
  if (n == 0) return;
  f->info = malloc(n);
  if (!f->info) return; /* the log line goes without them */
  memcpy(f->info, h->sni, sl);
  memcpy(f->info + sl, h->alpn, al);
  if (fp) {
    memcpy(f->info + sl + al, ja4, l4);
    memcpy(f->info + sl + al + l4, ja3, l3);
    memcpy(f->info + sl + al + l4 + l3, ech, le);
  }
  f->sni_len = (uint16_t)sl;
  f->alpn_len = (uint16_t)al;
  f->has_sni = h->sni_present != 0;
  f->has_fp = (uint8_t)fp;
}

/* The hello is complete (rc > 0) or failed for good (rc < 0): route the
 * flow like a TCP connection, then send what was held, in order. */
static void hello_done(px_worker *w, px_quic *q, px_qflow *f, int rc) {
  px_qpend *p = f->pend;
  sni_quic_info qi;
  if (sni_quic_get_info(&p->q, &qi) == 0) f->version = qi.version;
  if (rc == SNI_EOF) {
    flow_end(w, q, f, "closed_before_hello");
    return;
  }
  /* The fingerprints cost a microsecond or two: only for a rule or the
   * log (docs/proxy.md, "Fingerprints"). */
  char ja4[SNI_JA4_MAX] = "";
  int denied = 0;
  if (rc > 0 && (f->cfg->deny || px_log_enabled()))
    denied = px_fpdeny_hello(f->cfg->deny, &p->h, ja4);
  if (rc > 0) save_info(f, &p->h, ja4);
  if (denied) {
    /* `deny ja4` (fpdeny.h): the held datagrams are dropped; the client's
     * retransmissions start new flows that end the same way. */
    px_count(w, PXC_JA4_DENIED, 1);
    flow_end(w, q, f, "ja4_denied");
    return;
  }
  px_route r = px_route_decide(flow_server(f), &p->h, rc);
  f->route = r.label;
  /* A `terminate` upstream speaks TLS over TCP: QUIC cannot go there. */
  f->up = r.up && !r.up->tls ? r.up : NULL;
  list_put(q, f, PX_QL_IDLE, w->now);
  if (!f->up) {
    px_count(w, PXC_QUIC_NO_ROUTE, 1);
    px_count(w, PXC_QUIC_DROP_NO_ROUTE, p->nheld);
  } else if (connect_from(w, f) != 0) {
    flow_end(w, q, f, "connect_failed");
    return;
  } else {
    px_count(w, PXC_QUIC_ROUTED, 1);
    size_t off = 0;
    for (uint32_t i = 0; i < p->nheld; off += p->lens[i++])
      to_upstream(w, f, p->held + off, p->lens[i]);
  }
  px_qpool_put(&q->pool, p);
  f->pend = NULL;
}

/* Holds and reads one datagram of a flow whose hello is incomplete. */
static void pending_datagram(px_worker *w, px_quic *q, px_qflow *f,
                             const uint8_t *d, size_t n) {
  px_qpend *p = f->pend;
  size_t cap = q->pool.held_cap < f->cfg->quic_hello_bytes
                   ? q->pool.held_cap
                   : f->cfg->quic_hello_bytes;
  if (p->nheld >= f->cfg->quic_hello_datagrams || p->nheld >= SNI_QUIC_MAX_PACKETS ||
      n > cap - p->held_bytes) {
    px_count(w, PXC_QUIC_DROP_LIMIT, 1);
    return;
  }
  memcpy(p->held + p->held_bytes, d, n);
  p->lens[p->nheld++] = (uint16_t)n;
  p->held_bytes += (uint32_t)n;
  int rc = sni_quic_feed(&p->q, d, n);
  if (rc != SNI_EAGAIN) hello_done(w, q, f, rc);
}

/* Where a datagram from an unknown client came from and went to. */
typedef struct arrival {
  unsigned li;
  uint32_t hash;
  const px_qpeer *peer;
  const px_qlocal *local;
  int has_local;
} arrival;

static px_qflow *flow_new(px_worker *w, px_quic *q, const arrival *a,
                          px_qpend *p) {
  px_qflow *f = aligned_alloc(16, (sizeof *f + 15) & ~(size_t)15);
  if (!f) return NULL;
  memset(f, 0, sizeof *f);
  f->peer = *a->peer;
  if (a->has_local) f->local = *a->local;
  f->has_local = (uint8_t)a->has_local;
  f->li = (uint8_t)a->li;
  f->hash = a->hash;
  f->ufd = -1;
  f->pend = p;
  f->t_start = f->last = w->now;
  f->seq = px_connid_next();
  px_worker_refresh_cfg(w);
  f->cfg = w->cfg;
  px_cfg_ref(f->cfg);
  px_qtab_insert(&q->tab, f); /* room checked by the caller */
  list_put(q, f, PX_QL_PENDING, w->now);
  atomic_fetch_add_explicit(&q->active, 1, memory_order_relaxed);
  px_count(w, PXC_QUIC_FLOWS, 1);
  return f;
}

/* A datagram from an address without a flow: a flow starts only with an
 * authenticated client Initial (junk costs one hello block, briefly). */
static void first_datagram(px_worker *w, px_quic *q, const arrival *a,
                           const uint8_t *d, size_t n) {
  if (n > 0 && !(d[0] & LONG_HEADER)) {
    px_count(w, PXC_QUIC_DROP_SHORT, 1);
    return;
  }
  if (n < SNI_QUIC_MIN_DATAGRAM) {
    px_count(w, PXC_QUIC_DROP_NOT_INITIAL, 1);
    return;
  }
  px_qpend *p = q->tab.n < q->tab.max ? px_qpool_get(&q->pool) : NULL;
  if (!p) {
    px_count(w, PXC_QUIC_DROP_LIMIT, 1);
    return;
  }
  sni_quic_info qi;
  if (sni_quic_init(&p->q, &p->h, p->rbuf, sizeof p->rbuf, NULL) != 0 ||
      sni_quic_get_info(&p->q, &qi) != 0) {
    px_qpool_put(&q->pool, p);
    return;
  }
  int rc = sni_quic_feed(&p->q, d, n);
  if (sni_quic_get_info(&p->q, &qi) != 0 || qi.initial_packets == 0) {
    px_qpool_put(&q->pool, p);
    px_count(w, PXC_QUIC_DROP_NOT_INITIAL, 1);
    return;
  }
  px_qflow *f = flow_new(w, q, a, p);
  if (!f) {
    px_qpool_put(&q->pool, p);
    px_count(w, PXC_QUIC_DROP_LIMIT, 1);
    return;
  }
  if (n <= q->pool.held_cap) {
    memcpy(p->held, d, n);
    p->lens[0] = (uint16_t)n;
    p->nheld = 1;
    p->held_bytes = (uint32_t)n;
  } else {
    px_count(w, PXC_QUIC_DROP_LIMIT, 1);
  }
  if (rc != SNI_EAGAIN) hello_done(w, q, f, rc);
}

static void client_datagram(px_worker *w, px_quic *q, arrival *a,
                            const uint8_t *d, size_t n) {
  a->hash = px_qtab_hash(&q->tab, a->li, a->peer);
  px_qflow *f = px_qtab_find(&q->tab, a->hash, a->li, a->peer);
  if (!f) {
    first_datagram(w, q, a, d, n);
    return;
  }
  f->last = w->now;
  if (f->pend)
    pending_datagram(w, q, f, d, n);
  else if (!f->up)
    px_count(w, PXC_QUIC_DROP_NO_ROUTE, 1);
  else
    to_upstream(w, f, d, n);
}

/* ------------------------------------------------------------ events */
/* The destination address of a datagram on a wildcard socket. */
static int read_local(struct msghdr *m, px_qlocal *local) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      memcpy(&local->v4, CMSG_DATA(c), sizeof local->v4);
      return 1;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      memcpy(&local->v6, CMSG_DATA(c), sizeof local->v6);
      return 1;
    }
  }
  return 0;
}

static void listener_readable(px_worker *w, px_quic *q, unsigned li) {
  for (int k = 0; k < BATCH; k++) {
    px_qpeer peer;
    px_qlocal local;
    union {
      char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {w->buf, sizeof w->buf};
    struct msghdr m = {.msg_name = &peer,
                       .msg_namelen = sizeof peer,
                       .msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = q->wildcard[li] ? ctl.b : NULL,
                       .msg_controllen = q->wildcard[li] ? sizeof ctl.b : 0};
    ssize_t n = recvmsg(q->fd[li], &m, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (peer.sa.sa_family != AF_INET && peer.sa.sa_family != AF_INET6)
      continue;
    arrival a = {.li = li, .peer = &peer, .local = &local};
    a.has_local = q->wildcard[li] && read_local(&m, &local);
    client_datagram(w, q, &a, w->buf, (size_t)n);
  }
}

static void upstream_readable(px_worker *w, px_quic *q, px_qflow *f) {
  for (int k = 0; k < BATCH && f->ufd >= 0; k++) {
    ssize_t n = recv(f->ufd, w->buf, sizeof w->buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      /* A refusal is consumed by this recv; a later one is reported
       * again. */
      if (errno == ECONNREFUSED) {
        if (failover(w, f) == 0) return;
        continue;
      }
      return;
    }
    f->replied = 1;
    f->last = w->now;
    to_client(w, q, f, w->buf, (size_t)n);
  }
}

void px_quic_event(px_worker *w, uint64_t data, uint32_t events) {
  (void)events; /* errors are read from the socket itself */
  px_quic *q = w->quic;
  if (!q) return;
  if (data & LISTENER_BIT) {
    unsigned li = (unsigned)(data >> 4);
    if (li < (unsigned)q->n && q->fd[li] >= 0) listener_readable(w, q, li);
    return;
  }
  px_qflow *f = (px_qflow *)(uintptr_t)data;
  if (!f->dead) upstream_readable(w, q, f);
}

/* ------------------------------------------------------------ deadlines */
uint64_t px_quic_next_deadline(const px_worker *w) {
  const px_quic *q = w->quic;
  uint64_t t = UINT64_MAX;
  if (!q) return t;
  const px_qflow *p = q->head[PX_QL_PENDING], *i = q->head[PX_QL_IDLE];
  if (p) t = p->queued + hello_ms(p);
  /* The head's own `last` may be later (it is requeued then). */
  if (i && i->queued + i->cfg->quic_idle_timeout_ms < t)
    t = i->queued + i->cfg->quic_idle_timeout_ms;
  return t;
}

static void bury(px_quic *q) {
  while (q->grave) {
    px_qflow *f = q->grave;
    q->grave = f->next;
    free(f);
  }
}

void px_quic_tick(px_worker *w) {
  px_quic *q = w->quic;
  if (!q) return;
  bury(q);
  px_qflow *f;
  while ((f = q->head[PX_QL_PENDING]) && f->queued + hello_ms(f) <= w->now) {
    px_count(w, PXC_QUIC_HELLO_TIMEOUTS, 1);
    flow_end(w, q, f, "hello_timeout");
  }
  while ((f = q->head[PX_QL_IDLE])) {
    if (f->last + f->cfg->quic_idle_timeout_ms <= w->now) {
      if (f->up) px_count(w, PXC_QUIC_IDLE_TIMEOUTS, 1);
      flow_end(w, q, f, f->up ? "idle_timeout" : "no_route");
    } else if (f->last != f->queued) {
      list_put(q, f, PX_QL_IDLE, f->last); /* touched since queued */
    } else {
      break;
    }
  }
  bury(q);
}

void px_quic_stop(px_worker *w, const char *verdict) {
  px_quic *q = w->quic;
  if (!q) return;
  for (int l = PX_QL_PENDING; l < PX_QL_COUNT; l++)
    while (q->head[l]) flow_end(w, q, q->head[l], verdict);
  for (int i = 0; i < q->n; i++) {
    if (q->fd[i] >= 0) close(q->fd[i]);
    q->fd[i] = -1;
  }
}

void px_quic_free(px_worker *w) {
  px_quic *q = w->quic;
  if (!q) return;
  px_quic_stop(w, "shutdown");
  bury(q);
  for (int i = 0; i < PX_MAX_LISTENERS; i++)
    if (q->fd[i] >= 0) close(q->fd[i]);
  px_qtab_free(&q->tab);
  px_qpool_free(&q->pool);
  free(q);
  w->quic = NULL;
}
