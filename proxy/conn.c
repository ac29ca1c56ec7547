/* Connection state machine (conn.h): PROXY header in, hello peek, route,
 * connect (with failover over the upstream's addresses), PROXY header
 * out, then relay (relay.c) until both directions have ended. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "conn.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "connid.h"
#include "fpdeny.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "pp.h"
#include "route.h"
#include "timer.h"
#include "tls.h"


/* SNI and ALPN exactly as the client sent them (any bytes: the log
 * escapes them), and what the log and PROXY header say about the hello. */
typedef struct px_seen {
  /* "" when not computed (fingerprints()) or not computable */
  char ja4[SNI_JA4_MAX], ja3[SNI_JA3_MD5_MAX];
  char ech[PX_ECH_TEXT]; /* px_ech_text() */
  uint16_t sni_len;
  uint8_t has_sni, alpn_len;
  uint8_t data[]; /* the name, then the ALPN list packed as on the wire */
} px_seen;

/* A hello is peeked (left in the socket) while it occupies at most
 * PX_PEEK_QUEUED bytes, which every real client's does.  Beyond that the
 * kernel cannot be relied on to queue the rest unread (the receive window
 * does not grow while nothing is read), so the hello is read into a
 * buffer of its own (growing with what arrives) and parsed as it comes;
 * those bytes go to the upstream first (px_chan_preload()).  One-byte
 * records with their 5-byte headers make the largest hello the parser's
 * default limits accept 6 x SNI_DEFAULT_MAX_HELLO bytes on the wire. */
#define PX_PEEK_QUEUED 16384u
#define PX_HELLO_WIRE_MAX (6u * SNI_DEFAULT_MAX_HELLO)
typedef struct px_hbuf {
  sni_parser p;
  sni_hello h;
  uint8_t *data;
  uint32_t len, cap;
} px_hbuf;

/* A TLS alert record (RFC 8446, 5.1 and 6): type, legacy version, length,
 * then level and description. */
enum {
  TLS_CT_ALERT = 21,
  TLS_LEGACY_MAJOR = 3,
  TLS_LEGACY_MINOR = 3, /* 0x0303, what TLS 1.2 and 1.3 records carry */
  TLS_ALERT_BODY_LEN = 2,
  TLS_ALERT_FATAL = 2,
  TLS_ALERT_HANDSHAKE_FAILURE = 40,
  TLS_ALERT_INTERNAL_ERROR = 80,
  TLS_ALERT_UNRECOGNIZED_NAME = 112
};

/* Verdicts whose cause is usually a configuration mismatch get a hint in
 * the log line. */
static const char *hint_for(const char *verdict) {
  if (verdict && strcmp(verdict, "upstream_closed_early") == 0)
    return "check_upstream_tls_or_proxy_protocol";
  return NULL;
}

/* The server block whose routes and settings apply to c. */
static const px_server *server_of(const px_conn *c) {
  return &c->cfg->servers[c->cfg->listeners[c->listener].server];
}

static void log_line(px_worker *w, const px_log_rec *r) {
  if (px_log_conn(r) != 0) px_count(w, PXC_LOG_DROPPED, 1);
}

static void log_conn(px_worker *w, px_conn *c) {
  if (!px_log_enabled()) return;
  const px_seen *s = c->seen;
  char id[PX_CONNID_LEN];
  px_connid_format(w->id, c->seq, id);
  px_log_rec r = {.worker = w->id,
                  .format = c->cfg->log_format,
                  .client = &c->client,
                  .server = server_of(c)->name,
                  .up = c->up,
                  .addr_i = c->addr_i,
                  .sni = s && s->has_sni ? s->data : NULL,
                  .sni_len = s ? s->sni_len : 0,
                  .alpn = s && s->alpn_len ? s->data + s->sni_len : NULL,
                  .alpn_len = s ? s->alpn_len : 0,
                  .route = c->route,
                  .verdict = c->verdict,
                  .id = id,
                  .ja4 = s ? s->ja4 : NULL,
                  .ja3 = s ? s->ja3 : NULL,
                  .ech = s ? s->ech : NULL,
                  .hint = hint_for(c->verdict),
                  .bytes_up = c->c2u.bytes,
                  .bytes_down = c->u2c.bytes,
                  .ms = w->now - c->t_start};
  log_line(w, &r);
}

static void hbuf_free(px_conn *c) {
  if (!c->hb) return;
  free(c->hb->data);
  free(c->hb);
  c->hb = NULL;
}

void px_conn_close(px_worker *w, px_conn *c, const char *verdict) {
  if (c->state == PX_ST_DEAD) return;
  c->verdict = verdict;
  px_timer_del(w, c);
  if (c->aprev)
    c->aprev->anext = c->anext;
  else
    w->all = c->anext;
  if (c->anext) c->anext->aprev = c->aprev;
  c->aprev = c->anext = NULL;
  if (c->cfd >= 0) close(c->cfd);
  if (c->ufd >= 0) close(c->ufd);
  px_chan_release(&w->pool, &c->c2u);
  px_chan_release(&w->pool, &c->u2c);
  px_count(w, PXC_BYTES_UP, c->c2u.bytes);
  px_count(w, PXC_BYTES_DOWN, c->u2c.bytes);
  log_conn(w, c);
  px_metrics_conn(w->id, server_of(c)->name, c->route,
                  c->up ? c->up->name : NULL, c->c2u.bytes, c->u2c.bytes,
                  strcmp(verdict, "connect_failed") == 0);
  px_tls_conn_free(c->ssl);
  c->ssl = NULL;
  free(c->seen);
  hbuf_free(c);
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

static void reset_on_close(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

void px_conn_abort(px_worker *w, px_conn *c, const char *verdict) {
  if (c->state == PX_ST_DEAD) return;
  reset_on_close(c->cfd);
  reset_on_close(c->ufd);
  px_conn_close(w, c, verdict);
}

/* Reads what the client sent so that close() sends FIN, not RST (a reset
 * can make the client drop an alert before reading it). */
static void drain_client(px_worker *w, px_conn *c) {
  for (int i = 0; i < 16; i++)
    if ((long)recv(c->cfd, w->buf, sizeof w->buf, MSG_DONTWAIT) <= 0) break;
}

/* Ends a TLS client's connection with a fatal alert, so it reports why
 * (no route, upstream unreachable) instead of a bare connection reset.
 * Only before the proxy sent it anything: the alert is a plaintext record
 * where the client expects its ServerHello. */
static void close_with_alert(px_worker *w, px_conn *c, uint8_t desc,
                             const char *verdict) {
  const uint8_t rec[] = {TLS_CT_ALERT,       TLS_LEGACY_MAJOR,
                         TLS_LEGACY_MINOR,   0,
                         TLS_ALERT_BODY_LEN, TLS_ALERT_FATAL,
                         desc};
  drain_client(w, c);
  if (send(c->cfd, rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
  }
  shutdown(c->cfd, SHUT_WR);
  px_conn_close(w, c, verdict);
}

/* No address of the upstream could be reached.  A client that did not
 * speak TLS is closed with a FIN too (its bytes read off), never a reset
 * that could pass for a network fault. */
static void connect_failed(px_worker *w, px_conn *c) {
  if (c->tls) {
    close_with_alert(w, c, TLS_ALERT_INTERNAL_ERROR, "connect_failed");
  } else {
    drain_client(w, c);
    px_conn_close(w, c, "connect_failed");
  }
}

/* ---------------------------------------------------------------- epoll */
/* c->ev_c / c->ev_u: the socket is registered (reading and its end are
 * always wanted: a FIN or a reset must be seen in every state), and for
 * writing too. */
enum {
  PX_EV_IN = 1,
  PX_EV_OUT = 2,
  /* registered, but with another owner's data (a pooled socket): the next
   * ep_want() must modify it */
  PX_EV_FOREIGN = 4
};

/* Registers c's client (client = 1) or upstream socket for what its state
 * needs, edge-triggered: writability only while a connect is in progress
 * or bytes wait for room.  Nothing else would come of it but events to
 * skip (a writable socket reports so at registration and at every change
 * of state), and an event that is no longer true when epoll_wait() looks
 * again is not reported at all only if nothing else registered is.  Once
 * registered for writing a socket stays so (taking it back would cost a
 * system call to spare an event).  0, or -1 (ENOMEM, or ENOSPC:
 * fs.epoll.max_user_watches). */
static int ep_want(px_worker *w, px_conn *c, int client, int out) {
  uint8_t *reg = client ? &c->ev_c : &c->ev_u;
  uint8_t want =
      (uint8_t)(PX_EV_IN | (out ? PX_EV_OUT : 0) | (*reg & PX_EV_OUT));
  if (*reg == want) return 0;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
  if (want & PX_EV_OUT) ev.events |= EPOLLOUT;
  /* The parity bit tells events of a closed earlier connect attempt
   * (still in this epoll batch) from events of this one. */
  uint64_t tag = client ? PX_TAG_CLIENT
                        : PX_TAG_UP | (c->attempt ? PX_TAG_ODD : 0);
  ev.data.u64 = (uint64_t)(uintptr_t)c | tag;
  if (epoll_ctl(w->epfd, *reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                client ? c->cfd : c->ufd, &ev) != 0)
    return -1;
  *reg = want;
  return 0;
}

/* The client is waited for (more of its hello or PROXY header): its
 * socket must report bytes.  0, or -1 when c was closed. */
static int wait_client(px_worker *w, px_conn *c) {
  if (ep_want(w, c, 1, 0) == 0) return 0;
  px_conn_close(w, c, "no_memory");
  return -1;
}

/* Bytes wait for room in a socket: its writability matters from now on.
 * (Call on a live connection.) */
static void want_room(px_worker *w, px_conn *c) {
  if ((px_chan_pending(&c->u2c) && ep_want(w, c, 1, 1) != 0) ||
      (px_chan_pending(&c->c2u) && ep_want(w, c, 0, 1) != 0))
    px_conn_abort(w, c, "no_memory");
}

/* ---------------------------------------------------------------- connect */
static void begin_relay(px_worker *w, px_conn *c, uint32_t ev, int early);
static int send_early(px_worker *w, px_conn *c, size_t len);

/* send_early()'s outcomes. */
enum {
  PX_EARLY_WAIT,    /* nothing sent: the connect is still in progress */
  PX_EARLY_ALL,     /* the PROXY header and every byte peeked went out */
  PX_EARLY_PART,    /* the header and part of the bytes (the socket is
                       full): the relay takes the rest from the client */
  PX_EARLY_REFUSED, /* the connect failed: try the next address */
  PX_EARLY_BROKEN,  /* the stream cannot be continued: close */
  PX_EARLY_SYN      /* `fastopen`: the bytes went in a SYN that is not yet
                       answered (c->syn_sent); the connect is in progress */
};

/* A `fastopen` upstream socket, from one TCP_INFO: returns whether its
 * connect has completed, and if so counts whether the SYN carried data
 * the upstream acknowledged (TCPI_OPT_SYN_DATA), so that an operator sees
 * whether Fast Open is in effect (no cookie yet, an upstream without it, a
 * middlebox dropping it).  An error counts as not completed. */
static int fastopen_done(px_worker *w, int fd) {
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0 ||
      l <= offsetof(struct tcp_info, tcpi_options) ||
      ti.tcpi_state != TCP_ESTABLISHED)
    return 0;
  px_count(w, (ti.tcpi_options & TCPI_OPT_SYN_DATA) ? PXC_FASTOPEN_SYN_DATA
                                                     : PXC_FASTOPEN_NO_SYN_DATA,
           1);
  return 1;
}

static void connected(px_worker *w, px_conn *c) {
  px_metrics_observe(w->id, PXH_CONNECT, px_metrics_now_us() - c->t_us);
}

/* The new upstream socket fd of c (address i, connect started or done):
 * the early bytes, registration, then the relay or a wait for the
 * connect.  reg: what fd is registered for already (PX_EV_FOREIGN: a
 * pooled socket, under the pool's data).  Returns 1 when c went on (or
 * was closed), 0 when fd failed and was closed: try another. */
static int use_upstream(px_worker *w, px_conn *c, int fd, int i, size_t early,
                        uint8_t reg) {
  c->ufd = fd;
  c->ev_u = reg;
  c->hup_u = 0;
  c->addr_i = (uint8_t)i;
  c->attempt ^= 1; /* a new parity for this attempt's events */
  c->syn_sent = 0;
  int e = early ? send_early(w, c, early) : PX_EARLY_WAIT;
  if (e == PX_EARLY_BROKEN) {
    px_conn_close(w, c, "upstream_error");
    return 1;
  }
  if (e == PX_EARLY_REFUSED || ep_want(w, c, 0, e != PX_EARLY_ALL) != 0) {
    px_count(w, PXC_CONNECT_FAILURES, 1);
    close(fd);
    c->ufd = -1;
    return 0;
  }
  if (e == PX_EARLY_WAIT || e == PX_EARLY_SYN) {
    c->state = PX_ST_CONNECTING;
    px_timer_set(w, c, PX_TL_CONNECT, c->cfg->connect_timeout_ms);
    return 1;
  }
  connected(w, c);
  begin_relay(w, c, 0, e);
  return 1;
}

/* Connects to the upstream's addresses from index `from` on, starting
 * with a preconnected socket to the first one when the pool has one.
 * early: the client's bytes peeked into w->buf just now (0: none, or not
 * there any more), which go out at once if the connect completed inside
 * connect() (send_early()). */
static void start_connect(px_worker *w, px_conn *c, int from, size_t early) {
  const px_upstream *u = c->up;
  if (from == 0 && u->preconnect) {
    int fd = px_preconnect_take(w, u);
    if (fd >= 0 && use_upstream(w, c, fd, 0, early, PX_EV_FOREIGN)) return;
  }
  for (int i = from; i < u->naddrs; i++) {
    /* With a Fast Open cookie from an earlier connection the connect
     * returns at once and send_early()'s bytes ride in the SYN. */
    int fd = px_addr_connect(&u->addrs[i], u->fastopen && early);
    if (fd < 0) px_count(w, PXC_CONNECT_FAILURES, 1);
    if (fd == PX_CONNECT_NO_SOCKET) break;
    if (fd < 0) continue;
    if (use_upstream(w, c, fd, i, early, 0)) return;
  }
  c->addr_i = (uint8_t)(u->naddrs - 1);
  connect_failed(w, c);
}

/* The `tlv=` TLVs after the authority and SSL ones; the checksum last, as
 * it covers them all.  Returns the header's new length, or -1. */
static int add_tlvs(int worker, const px_conn *c, unsigned tlvs, uint8_t *hdr,
                    size_t n, size_t cap) {
  int r = (int)n;
  if (tlvs & PX_PP_TLV_UNIQUE_ID) {
    char id[PX_CONNID_LEN];
    px_connid_format(worker, c->seq, id);
    r = px_pp_v2_add_tlv(hdr, (size_t)r, cap, PX_PP2_TYPE_UNIQUE_ID,
                         (const uint8_t *)id, strlen(id));
  }
  const char *ja4 = c->seen ? c->seen->ja4 : "";
  if (r > 0 && (tlvs & PX_PP_TLV_JA4) && ja4[0])
    r = px_pp_v2_add_tlv(hdr, (size_t)r, cap, PX_PP2_TYPE_JA4,
                         (const uint8_t *)ja4, strlen(ja4));
  if (r > 0 && (tlvs & PX_PP_TLV_CRC32C))
    r = px_pp_v2_add_crc32c(hdr, (size_t)r, cap);
  return r;
}

/* The PROXY header for c's upstream into hdr (cap bytes): its length, or
 * -1. */
static int build_proxy_header(const px_worker *w, const px_conn *c,
                              uint8_t *hdr, size_t cap) {
  px_addr dst;
  if (c->dst) {
    dst = *c->dst;
  } else {
    dst.len = sizeof dst.ss;
    if (getsockname(c->cfd, (struct sockaddr *)&dst.ss, &dst.len) != 0)
      memset(&dst, 0, sizeof dst);
  }
  unsigned tlvs = c->up->pp == 2 ? c->up->pp_tlvs : 0;
  /* The AUTHORITY TLV gets the name with non-printable bytes as '?'. */
  char auth[SNI_MAX_NAME + 1] = "";
  if ((tlvs & PX_PP_TLV_AUTHORITY) && c->seen && c->seen->has_sni) {
    size_t l = c->seen->sni_len < SNI_MAX_NAME ? c->seen->sni_len : SNI_MAX_NAME;
    for (size_t k = 0; k < l; k++) {
      uint8_t ch = c->seen->data[k];
      auth[k] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    auth[l] = 0;
  }
  int n = px_pp_build(c->up->pp, &c->client, &dst, auth, hdr, cap);
  if (n > 0 && c->ssl && c->up->pp == 2) {
    /* What the client negotiated with the proxy (docs/proxy.md). */
    uint8_t tlv[256];
    int tl = px_tls_pp2_ssl(c->ssl, tlv, sizeof tlv);
    n = tl < 0 ? -1
               : px_pp_v2_add_tlv(hdr, (size_t)n, cap, PX_PP2_TYPE_SSL, tlv,
                                  (size_t)tl);
  }
  if (n > 0 && tlvs) n = add_tlvs(w->id, c, tlvs, hdr, (size_t)n, cap);
  return n < 0 ? -1 : n;
}

#define PX_HDR_CAP 1024 /* the PROXY header with every TLV we send */

static int send_proxy_header(const px_worker *w, px_conn *c) {
  uint8_t hdr[PX_HDR_CAP];
  int n = build_proxy_header(w, c, hdr, sizeof hdr);
  if (n < 0) return -1;
  /* The socket was just connected, its send buffer is empty: a header of a
   * few hundred bytes goes out whole or the connection is broken. */
  long s = (long)send(c->ufd, hdr, (size_t)n, MSG_NOSIGNAL);
  return s == n ? 0 : -1;
}

/* The first `data` bytes queued in the client's socket went to the
 * upstream already: they leave it without a copy (MSG_TRUNC: TCP discards)
 * and count as relayed.  0, or -1 when they were not all there. */
static int drop_sent(px_worker *w, px_conn *c, size_t data) {
  if (data && (long)recv(c->cfd, w->buf, data, MSG_TRUNC | MSG_DONTWAIT) !=
                  (long)data)
    return -1;
  c->c2u.bytes += data;
  return 0;
}

/* Right after connect(): where the upstream is near (loopback, the same
 * host or rack) the handshake has completed inside the call, and the
 * PROXY header and the client's bytes peeked into w->buf (len, still
 * queued in the client's socket) go out at once, in one system call,
 * instead of after a wake-up for writability.  What was sent is then
 * dropped from the client's socket without a copy (MSG_TRUNC: TCP
 * discards).  A connect still in progress takes nothing (EAGAIN) and the
 * usual path follows; a failed one reports its error here. */
static int send_early(px_worker *w, px_conn *c, size_t len) {
  uint8_t hdr[PX_HDR_CAP];
  int hl = c->up->pp ? build_proxy_header(w, c, hdr, sizeof hdr) : 0;
  if (hl < 0) return PX_EARLY_BROKEN;
  struct iovec iov[2] = {{hdr, (size_t)hl}, {w->buf, len}};
  struct msghdr m = {.msg_iov = hl ? iov : iov + 1,
                     .msg_iovlen = hl ? 2 : 1};
  long n = (long)sendmsg(c->ufd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  /* EINPROGRESS: a Fast Open SYN left without data (none fitted). */
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                   errno == EINPROGRESS
               ? PX_EARLY_WAIT
               : PX_EARLY_REFUSED;
  if (n < hl) return PX_EARLY_BROKEN; /* part of the header only */
  size_t data = (size_t)n - (size_t)hl;
  if (c->up->fastopen && !fastopen_done(w, c->ufd)) {
    /* In a SYN still unanswered (a remote upstream): the client's copy
     * stays queued until the connect completes (on_upstream()), so that a
     * failed attempt leaves the bytes for the next address.  A SYN holds
     * at most one segment. */
    if (data > UINT16_MAX) return PX_EARLY_BROKEN;
    c->syn_sent = 1;
    c->syn_data = (uint16_t)data;
    return PX_EARLY_SYN;
  }
  if (drop_sent(w, c, data) != 0) return PX_EARLY_BROKEN;
  return data == len ? PX_EARLY_ALL : PX_EARLY_PART;
}

static void relay(px_worker *w, px_conn *c, int from_client, uint32_t ev);

/* relay()'s first argument when the relay starts: pump both ways, or
 * everything the client sent so far went with the connect (send_early()). */
enum { PX_START = -1, PX_START_SENT = -2 };

/* The upstream is connected (and a terminated handshake complete): the
 * PROXY header (unless send_early() sent it: early), then the relay.  The
 * client's socket is registered now if its bytes never had to be waited
 * for: the registration then reports whatever came after the bytes sent
 * early (more bytes, the FIN).  A socket registered before may have had
 * its FIN reported with the hello's last bytes: it is read at once. */
static void begin_relay(px_worker *w, px_conn *c, uint32_t ev, int early) {
  if (!early && c->up->pp && send_proxy_header(w, c) != 0) {
    px_conn_close(w, c, "upstream_error");
    return;
  }
  int fresh = c->ev_c == 0;
  if (ep_want(w, c, 1, c->ssl != NULL) != 0) {
    px_conn_close(w, c, "no_memory");
    return;
  }
  c->state = PX_ST_RELAY;
  c->u2c.hold_empty_eof = c->tls && !c->ssl; /* see closed_early() */
  px_timer_set(w, c, PX_TL_IDLE, c->cfg->idle_timeout_ms);
  relay(w, c, early == PX_EARLY_ALL && fresh ? PX_START_SENT : PX_START, ev);
}

/* `terminate`: the handshake runs in this loop, driven by the client's
 * events, within hello_timeout. */
static void tls_step(px_worker *w, px_conn *c) {
  int r = px_tls_handshake(c->ssl);
  if (r == 0) return;
  if (r < 0) {
    /* OpenSSL has sent its alert; read off what is left so that the
     * close is a FIN the client reads after the alert. */
    px_count(w, PXC_TLS_FAILED, 1);
    drain_client(w, c);
    px_conn_close(w, c, "tls_handshake_failed");
    return;
  }
  /* The upstream may have spoken already: pump both ways. */
  begin_relay(w, c, EPOLLIN, 0);
}

static void start_tls(px_worker *w, px_conn *c) {
  if (px_chan_pending(&c->c2u)) {
    /* The hello was too large to peek and has been read (conn.h): OpenSSL
     * can no longer read it from the socket. */
    close_with_alert(w, c, TLS_ALERT_INTERNAL_ERROR, "tls_hello_too_large");
    return;
  }
  c->ssl = px_tls_conn_new(c->up->tls, c->cfd);
  /* OpenSSL may wait for the client's socket to take its records. */
  if (!c->ssl || ep_want(w, c, 1, 1) != 0) {
    px_conn_close(w, c, "no_memory");
    return;
  }
  c->state = PX_ST_TLS;
  px_timer_set(w, c, PX_TL_HELLO, server_of(c)->hello_timeout_ms);
  tls_step(w, c);
}

/* A Fast Open connect completed: what went in its SYN is the upstream's
 * now, so it leaves the client's socket (uncopied, as in send_early()),
 * and the relay goes on from there; the PROXY header went with it. */
static void syn_data_taken(px_worker *w, px_conn *c, uint32_t ev) {
  c->syn_sent = 0;
  if (drop_sent(w, c, c->syn_data) != 0) {
    px_conn_close(w, c, "upstream_error");
    return;
  }
  begin_relay(w, c, ev, PX_EARLY_PART);
}

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
    start_connect(w, c, c->addr_i + 1, 0);
    return;
  }
  if (!(ev & EPOLLOUT)) return;
  connected(w, c);
  if (c->up->fastopen) fastopen_done(w, c->ufd); /* to count it */
  if (c->up->tls)
    start_tls(w, c);
  else if (c->syn_sent)
    syn_data_taken(w, c, ev);
  else
    begin_relay(w, c, ev, 0);
}

/* ---------------------------------------------------------------- hello */
/* What uses the fingerprints: the log, a deny rule or a JA4 TLV
 * (docs/proxy.md, "Fingerprints", for the cost). */
static int fingerprints_wanted(const px_conn *c) {
  return px_log_enabled() || c->cfg->deny || c->cfg->ja4_tlv;
}

/* The fingerprints, computed only when fingerprints_wanted().  Returns 1
 * when a deny rule refused the client (c is then closed). */
static int fingerprints(px_worker *w, px_conn *c, const sni_hello *h) {
  if (!fingerprints_wanted(c)) return 0;
  int logging = px_log_enabled();
  char ja4[SNI_JA4_MAX];
  int denied = px_fpdeny_hello(c->cfg->deny, h, ja4);
  px_seen *s = c->seen;
  if (s) {
    memcpy(s->ja4, ja4, sizeof ja4);
    if (logging && sni_ja3_md5(h, s->ja3, sizeof s->ja3) < 0) s->ja3[0] = 0;
  }
  if (!denied) return 0;
  px_count(w, PXC_JA4_DENIED, 1);
  close_with_alert(w, c, TLS_ALERT_HANDSHAKE_FAILURE, "ja4_denied");
  return 1;
}

/* The parse a connection needs: the full view when fingerprints() will
 * use the lists, else routing-only, which validates the hello the same way
 * and fills everything routing, the PROXY header and the log's name, ALPN
 * and ECH fields read. */
static const sni_limits *hello_limits(const px_conn *c) {
  static const sni_limits routing = {0, 0, SNI_PARSE_ROUTING_ONLY};
  return fingerprints_wanted(c) ? NULL : &routing;
}

/* Keeps SNI and ALPN as sent, for the log and the PROXY v2 AUTHORITY TLV. */
static void save_info(px_conn *c, const sni_hello *h) {
  size_t snl = h->sni_present ? h->sni_len : 0;
  size_t apl = h->alpn_len <= SNI_CAP_ALPN_BYTES ? h->alpn_len : 0;
  c->seen = malloc(sizeof *c->seen + snl + apl);
  if (c->seen) {
    c->seen->ja4[0] = c->seen->ja3[0] = 0;
    px_ech_text(h, c->seen->ech);
    c->seen->sni_len = (uint16_t)snl;
    c->seen->has_sni = h->sni_present != 0;
    c->seen->alpn_len = (uint8_t)apl;
    memcpy(c->seen->data, h->sni, snl);
    memcpy(c->seen->data + snl, h->alpn, apl);
  }
}

/* Edge-triggered: the next event comes with new bytes.  The low-water
 * mark also spares wake-ups for a hello trickling in. */
static void wait_for_more(px_conn *c, size_t mark) {
  if (mark > 1) {
    int v = (int)(mark < 65536 ? mark : 65536);
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

/* Reads more of a hello being consumed (px_hbuf) and parses it.  Returns
 * what sni_peek_ex() would: the hello's wire length, SNI_EAGAIN (with
 * *need), a parser error, SNI_EOF, SNI_ESYS, or SNI_ENOSPC. */
static int hello_read(px_conn *c, size_t *need) {
  px_hbuf *hb = c->hb;
  for (;;) {
    if (hb->len == hb->cap) {
      if (hb->cap == PX_HELLO_WIRE_MAX) return SNI_ENOSPC;
      uint32_t nc = hb->cap * 2 < PX_HELLO_WIRE_MAX ? hb->cap * 2
                                                    : PX_HELLO_WIRE_MAX;
      uint8_t *nd = realloc(hb->data, nc);
      if (!nd) return SNI_ENOSPC; /* refused as too large, as before */
      hb->data = nd;
      hb->cap = nc;
    }
    long n = (long)recv(c->cfd, hb->data + hb->len, hb->cap - hb->len,
                        MSG_DONTWAIT);
    if (n == 0) return SNI_EOF;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return SNI_ESYS;
    }
    int f = sni_parser_feed(&hb->p, hb->data + hb->len, (size_t)n);
    hb->len += (uint32_t)n;
    if (f != SNI_EAGAIN) return f < 0 ? f : sni_parser_status(&hb->p);
  }
  *need = sni_parser_need(&hb->p);
  return SNI_EAGAIN;
}

/* More than PX_PEEK_QUEUED bytes of a hello are queued: read it from
 * now on (queued: what the peek saw, the buffer's first size). */
static int hello_consume(px_conn *c, size_t queued, size_t *need) {
  px_hbuf *hb = calloc(1, sizeof *hb);
  uint32_t cap = (uint32_t)(queued * 2 < PX_HELLO_WIRE_MAX ? queued * 2
                                                           : PX_HELLO_WIRE_MAX);
  uint8_t *d = hb ? malloc(cap) : NULL;
  if (!d) {
    free(hb);
    return SNI_ENOSPC; /* no memory: refused as too large, as before */
  }
  hb->data = d;
  hb->cap = cap;
  sni_parser_init(&hb->p, &hb->h, hello_limits(c));
  c->hb = hb;
  return hello_read(c, need);
}

/* The routing decision made: connect (the hello timer gives way to the
 * connect timer).  early: bytes peeked into w->buf just now that can go
 * with the connect (start_connect()). */
static void connect_to(px_worker *w, px_conn *c, const char *label,
                       const px_upstream *up, size_t early) {
  c->route = label;
  c->up = up;
  px_count(w, PXC_ROUTED, 1);
  c->refill = up->preconnect ? 1u : 0u;
  start_connect(w, c, 0, up->tls ? 0 : early);
}

/* The upstream's pool is topped up once c's first bytes from it went to
 * the client: at that point the connection waits for its client, so the
 * connects do not hold up its own first reply; and the upstream's first
 * address has just proved to work (a connection that failed over to
 * another, or never heard from the upstream, refills nothing: a dead
 * first address would otherwise cost a second failed connect per
 * client).  Only upstreams of the worker's configuration are pooled (its
 * reference keeps them alive). */
static void refill(px_worker *w, px_conn *c) {
  c->refill = 0;
  if (c->addr_i == 0 && c->cfg == w->cfg && !w->draining)
    px_preconnect_fill(w, c->up);
}

/* The first look at a client accepted from a deferring listener found no
 * byte: the kernel handed it over only when the deferral ran out, so it
 * has been connected that long already (listen.h), which counts towards
 * its deadlines (`silent`, then hello_timeout, both from the connect) and
 * its logged duration. */
static void deferral_spent(px_worker *w, px_conn *c) {
  const px_server *s = server_of(c);
  unsigned full = c->silent ? s->silent_ms : s->hello_timeout_ms;
  c->t_start = c->t_start > PX_DEFER_ACCEPT_MS
                   ? c->t_start - PX_DEFER_ACCEPT_MS
                   : 0;
  if (full)
    px_timer_set(w, c, PX_TL_HELLO,
                 full > PX_DEFER_ACCEPT_MS ? full - PX_DEFER_ACCEPT_MS : 1);
}

/* A byte came before the server's `silent` deadline: from now on the
 * client is held to hello_timeout (counted from accept), like any. */
static void end_silence(px_worker *w, px_conn *c) {
  c->silent = 0;
  unsigned h = server_of(c)->hello_timeout_ms;
  uint64_t end = c->t_start + h;
  px_timer_set(w, c, PX_TL_HELLO,
               !h ? 0 : end > w->now ? (unsigned)(end - w->now) : 1);
}

/* The `silent` deadline passed.  A client that sent nothing is connected
 * to the silent target (whose banner it waits for); one whose bytes are
 * queued but not yet seen, or whose PROXY header is incomplete, is not
 * silent. */
static void silent_expired(px_worker *w, px_conn *c) {
  uint8_t byte;
  if (c->state == PX_ST_HELLO &&
      recv(c->cfd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
      (errno == EAGAIN || errno == EWOULDBLOCK)) {
    c->silent = 0;
    connect_to(w, c, "silent", server_of(c)->silent_up, 0);
    return;
  }
  end_silence(w, c);
}

static void do_hello(px_worker *w, px_conn *c) {
  size_t peeked = 0, need = 0;
  int r, fresh = c->deferred;
  c->deferred = 0;
  if (c->hb) {
    r = hello_read(c, &need);
  } else {
    r = sni_peek_ex(c->cfd, w->buf, sizeof w->buf, &w->hello, hello_limits(c),
                    &peeked, &need);
    if ((r == SNI_EAGAIN || r == SNI_ENOSPC) && peeked >= PX_PEEK_QUEUED)
      r = hello_consume(c, peeked, &need);
  }
  if (c->silent && (r != SNI_EAGAIN || peeked > 0 || c->hb))
    end_silence(w, c);
  if (r == SNI_EAGAIN) {
    if (fresh && peeked == 0 && !c->hb) deferral_spent(w, c);
    /* Peeking: what is queued plus what is missing (nothing before the
     * first byte: the bytes might not be TLS).  Consuming: what is
     * missing. */
    size_t mark = c->hb ? need : peeked > 0 && need > 1 ? peeked + need : 0;
    wait_for_more(c, mark < PX_PEEK_QUEUED ? mark : PX_PEEK_QUEUED);
    wait_client(w, c);
    return;
  }
  /* The peeked copy can go out with the connect, unless the bytes had to
   * be read (they wait in c2u, to be sent first). */
  size_t early = c->hb ? 0 : peeked;
  if (c->lowat) {
    int one = 1;
    setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    c->lowat = 0;
  }
  if (c->hb) {
    /* The bytes read go to the upstream before the rest of the stream. */
    w->hello = c->hb->h;
    px_chan_preload(&c->c2u, c->hb->data, c->hb->len, c->hb->cap);
    c->hb->data = NULL;
    hbuf_free(c);
  }
  if (!count_hello(w, c, r)) return;
  c->tls = r != SNI_ENOTTLS;
  if (r > 0 && fingerprints(w, c, &w->hello)) return;
  uint64_t now_us = px_metrics_now_us();
  px_metrics_observe(w->id, PXH_HELLO_WAIT, now_us - c->t_us);
  c->t_us = now_us; /* the upstream connect starts now */
  px_route rt = px_route_decide(server_of(c), &w->hello, r);
  c->route = rt.label;
  if (!rt.up) {
    px_count(w, PXC_NO_ROUTE, 1);
    if (r == SNI_ENOTTLS) {
      drain_client(w, c);
      px_conn_close(w, c, "not_tls");
    } else {
      close_with_alert(w, c, TLS_ALERT_UNRECOGNIZED_NAME, "no_route");
    }
    return;
  }
  connect_to(w, c, rt.label, rt.up, early);
}

/* After the PROXY header, if any: the hello, or for a `tls off` server
 * its default route at once (nothing is awaited, so an upstream that
 * speaks first is heard). */
static void start_hello(px_worker *w, px_conn *c) {
  const px_server *s = server_of(c);
  c->state = PX_ST_HELLO;
  if (s->tls) {
    do_hello(w, c);
    return;
  }
  px_route rt = px_route_plain(s);
  connect_to(w, c, rt.label, rt.up, 0);
}

static void do_proxy_header(px_worker *w, px_conn *c) {
  /* The whole header must fit in one peek: up to the worker's buffer
   * (64 KiB, just under the v2 maximum; docs/proxy.md). */
  const size_t cap =
      sizeof w->buf < PX_PP_V2_MAX ? sizeof w->buf : PX_PP_V2_MAX;
  int fresh = c->deferred;
  c->deferred = 0;
  long n = (long)recv(c->cfd, w->buf, cap, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    px_conn_close(w, c, "closed_before_hello");
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      px_conn_close(w, c, "client_error");
      return;
    }
    if (fresh) deferral_spent(w, c);
    wait_client(w, c);
    return;
  }
  px_addr src, dst;
  memset(&src, 0, sizeof src);
  memset(&dst, 0, sizeof dst);
  int r = px_pp_parse(w->buf, (size_t)n, &src, &dst);
  if (r == 0 && (size_t)n < cap) { /* more to come */
    wait_client(w, c);
    return;
  }
  if (r <= 0) {
    px_count(w, PXC_PP_REJECTED, 1);
    px_conn_close(w, c, r == 0 ? "proxy_header_too_large" : "bad_proxy_header");
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
  start_hello(w, c);
}

/* ---------------------------------------------------------------- relay */
static long pump(px_worker *w, px_chan *ch, const px_chan *other, int src,
                 int dst, int src_hup) {
  return px_pump(&w->pool, w->buf, ch, other, src, dst, src_hup);
}

/* A TLS upstream always answers a hello with bytes (a ServerHello or an
 * alert): an end (FIN or reset) before any is a misconfiguration,
 * typically a plain server (needs `terminate`) or one that does not
 * expect the PROXY header it was sent.  Returns 1 when c was closed. */
static int closed_early(px_worker *w, px_conn *c, int upstream_failed) {
  if (!c->u2c.hold_empty_eof || c->u2c.bytes != 0) return 0;
  if (!upstream_failed && !c->u2c.eof) return 0;
  px_count(w, PXC_UPSTREAM_CLOSED_EARLY, 1);
  close_with_alert(w, c, TLS_ALERT_INTERNAL_ERROR, "upstream_closed_early");
  return 1;
}

/* After pumping (m1: client->upstream, m2: upstream->client, bytes moved
 * or a PX_PUMP_* failure): ends the connection or re-arms its idle
 * timer. */
static void relay_result(px_worker *w, px_conn *c, long m1, long m2,
                         int from_client, uint32_t ev) {
  if (m1 < 0 || m2 < 0) {
    /* Which side broke the connection, for the log; the other side gets a
     * reset too, never a FIN that would look like a complete stream. */
    int nomem = m1 == PX_PUMP_NOMEM || m2 == PX_PUMP_NOMEM;
    int client_side = m1 == PX_PUMP_SRC || m2 == PX_PUMP_DST;
    if (!nomem && !client_side && closed_early(w, c, 1)) return;
    px_conn_abort(w, c,
                  nomem         ? "no_memory"
                  : client_side ? "client_reset"
                                : "upstream_reset");
    return;
  }
  if (m2 > 0 && c->refill) refill(w, c);
  if (closed_early(w, c, 0)) return;
  if (c->c2u.shut && c->u2c.shut) {
    px_conn_close(w, c, "ok");
    return;
  }
  if ((ev & EPOLLERR) && from_client >= 0) {
    /* A reset on a side whose direction had already ended (nothing read
     * from it any more) and with nothing to send to it. */
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(from_client ? c->cfd : c->ufd, SOL_SOCKET, SO_ERROR, &err,
                   &el) == 0 &&
        err) {
      if (!from_client && closed_early(w, c, 1)) return;
      px_conn_abort(w, c, from_client ? "client_reset" : "upstream_reset");
      return;
    }
  }
  if ((m1 > 0 || m2 > 0) && c->cfg->idle_timeout_ms &&
      c->deadline != w->now + c->cfg->idle_timeout_ms)
    px_timer_set(w, c, PX_TL_IDLE, c->cfg->idle_timeout_ms);
}

static void relay_pump(px_worker *w, px_conn *c, int from_client,
                       uint32_t ev);

/* from_client: 1 event on the client socket, 0 on the upstream socket,
 * PX_START or PX_START_SENT (begin_relay()). */
static void relay(px_worker *w, px_conn *c, int from_client, uint32_t ev) {
  relay_pump(w, c, from_client, ev);
  if (c->state == PX_ST_RELAY) want_room(w, c);
}

static void relay_pump(px_worker *w, px_conn *c, int from_client,
                       uint32_t ev) {
  if (from_client < 0) {
    int sp = c->cfg->use_splice && !c->ssl;
    if (px_chan_open(&c->c2u, sp) || px_chan_open(&c->u2c, sp)) {
      px_conn_close(w, c, "no_memory");
      return;
    }
  }
  if (c->ssl) {
    /* Either direction's OpenSSL call may need the client socket to be
     * readable or writable: any event pumps both. */
    long m1 = px_tls_pump_in(c->ssl, &c->c2u, &c->u2c, c->ufd);
    long m2 = m1 < 0 ? 0
                     : px_tls_pump_out(c->ssl, &c->u2c, &c->c2u, c->ufd,
                                       c->cfd);
    relay_result(w, c, m1, m2, from_client, ev);
    return;
  }
  const uint32_t in = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  int do_c2u, do_u2c;
  if (from_client < 0) {
    /* Start: the hello waits in the client socket (unless it went with the
     * connect: then any later byte raises an edge of its own).  The
     * upstream's side is pumped only if the connect event already reported
     * bytes from it (a server that speaks first); later bytes raise their
     * own edge. */
    do_c2u = from_client == PX_START;
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
  relay_result(w, c, m1, m2, from_client, ev);
}

/* ---------------------------------------------------------------- events */
static void on_client(px_worker *w, px_conn *c, uint32_t ev) {
  switch (c->state) {
    case PX_ST_PP:
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        do_proxy_header(w, c);
      break;
    case PX_ST_HELLO:
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) do_hello(w, c);
      break;
    case PX_ST_TLS:
      tls_step(w, c);
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
  /* The current configuration's listener (same index: a reload cannot
   * change the listen addresses), so a reload that revokes a trusted
   * source applies to the next connection. */
  const px_listener *L = &w->cfg->listeners[li];
  px_conn *c = aligned_alloc(16, (sizeof(px_conn) + 15) & ~(size_t)15);
  if (!c) {
    px_count(w, PXC_ACCEPTED, 1);
    px_log_rec r = {.worker = w->id,
                    .format = w->cfg->log_format,
                    .client = peer,
                    .server = w->cfg->servers[L->server].name,
                    .verdict = "no_memory"};
    if (px_log_enabled()) log_line(w, &r);
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
  c->t_us = px_metrics_now_us();
  c->seq = px_connid_next();
  c->verdict = "?";
  c->cfg = w->cfg;
  px_cfg_ref(c->cfg);
  c->anext = w->all;
  if (w->all) w->all->aprev = c;
  w->all = c;
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
  const px_server *s = server_of(c);
  c->silent = s->tls && s->silent_ms;
  c->deferred = w->defer_ms[li] != 0;
  px_timer_set(w, c, PX_TL_HELLO,
               c->silent ? s->silent_ms : s->hello_timeout_ms);
  /* The hello often arrived with the handshake's last ACK (always, from a
   * deferring listener, unless the deferral ran out): try now.  The
   * socket is registered with epoll only if it has to be waited for. */
  if (c->state == PX_ST_PP)
    do_proxy_header(w, c);
  else
    start_hello(w, c);
}

void px_conn_expire(px_worker *w, px_conn *c, int l) {
  if (l == PX_TL_HELLO && c->silent) {
    silent_expired(w, c);
  } else if (l == PX_TL_HELLO) {
    px_count(w, PXC_HELLO_TIMEOUTS, 1);
    px_conn_close(w, c, c->state == PX_ST_TLS ? "tls_handshake_timeout"
                                              : "hello_timeout");
  } else if (l == PX_TL_CONNECT) {
    px_count(w, PXC_CONNECT_TIMEOUTS, 1);
    px_count(w, PXC_CONNECT_FAILURES, 1);
    px_timer_del(w, c);
    close(c->ufd);
    c->ufd = -1;
    start_connect(w, c, c->addr_i + 1, 0);
  } else {
    px_count(w, PXC_IDLE_TIMEOUTS, 1);
    px_conn_abort(w, c, "idle_timeout");
  }
}
