/* One proxied connection and its state machine:
 *
 *   PP (optional PROXY header in) -> HELLO (peek) -> CONNECTING
 *     -> TLS (`terminate` only: handshake with the client) -> RELAY
 *
 * A connection whose hello is incomplete owns no buffer: every peek lands
 * in the worker's single buffer and nothing is read from the socket, so
 * the hello is relayed to the upstream like the rest of the stream.  Only
 * a hello of more than 16 KiB on the wire (legal, never seen from real
 * clients) is read into a buffer of its own and sent first (conn.c). */
#ifndef PX_CONN_H
#define PX_CONN_H

#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "relay.h"
#include "worker.h"

/* PX_ST_TLS: `terminate` only, the client's handshake with the proxy,
 * after the upstream is connected (so that a failed connect can still be
 * told with a plaintext alert). */
enum {
  PX_ST_PP,
  PX_ST_HELLO,
  PX_ST_CONNECTING,
  PX_ST_TLS,
  PX_ST_RELAY,
  PX_ST_DEAD
};

typedef struct px_conn {
  struct px_conn *prev, *next; /* timer list; next also links the grave */
  struct px_conn *aprev, *anext; /* all of the worker's open connections */
  uint64_t deadline;
  uint64_t t_start;
  uint64_t t_us; /* metrics: accept, then connect start (monotonic us) */
  uint64_t seq;  /* the connection id's sequence number (connid.h) */
  int cfd, ufd;
  uint8_t tlist, state, lowat, addr_i, attempt, listener;
  /* Sticky: an event with RDHUP/HUP/ERR was seen on the client / upstream
   * socket.  Until then a short read means the socket is drained (see
   * pump_direct() in relay.c). */
  uint8_t hup_c, hup_u;
  uint8_t tls; /* the client's first bytes were a TLS record */
  /* The hello deadline is the server's `silent` one: no byte yet. */
  uint8_t silent;
  /* Accepted on a listener with TCP_DEFER_ACCEPT (listen.h) and not yet
   * peeked at: finding no byte means the kernel held the client for the
   * deferral already (its deadlines are moved back by that much). */
  uint8_t deferred;
  /* What each socket is registered for in the worker's epoll set:
   * PX_EV_* bits, 0 = not registered (conn.c, ep_want()). */
  uint8_t ev_c, ev_u;
  /* `fastopen`: the PROXY header (if any) and syn_data client bytes went
   * out in the SYN of a connect not yet complete.  The bytes stay queued
   * in the client's socket until it completes, so that a failover can send
   * them again (conn.c, send_early()). */
  uint8_t syn_sent : 1;
  /* The upstream's `preconnect` pool is to be topped up (conn.c).  A bit
   * beside syn_sent: px_conn stays at 400 bytes. */
  uint8_t refill : 1;
  uint16_t syn_data;
  const char *verdict;
  px_cfg *cfg;
  const px_upstream *up;
  const char *route;
  struct px_seen *seen;  /* SNI and ALPN as sent, for the log (conn.c) */
  struct px_hbuf *hb;    /* a hello too large to peek, being read (conn.c) */
  struct px_tls_conn *ssl; /* `terminate`: the client's TLS (tls.h) */
  px_addr *dst; /* original destination from a PROXY header, if any */
  px_addr client;
  px_chan c2u, u2c;
} px_conn;

/* A socket accept()ed on listener li: becomes a connection of w (or is
 * closed when out of memory or from an untrusted PROXY source). */
void px_conn_accept(px_worker *w, int li, int fd, const px_addr *peer);
/* An epoll event; tag is the low bits of the epoll data (PX_TAG_*). */
void px_conn_event(px_worker *w, px_conn *c, unsigned tag, uint32_t events);
/* c's deadline on list l has passed. */
void px_conn_expire(px_worker *w, px_conn *c, int l);
/* Logs and releases everything; c itself goes to w->grave.  Each
 * connection is logged exactly once, here. */
void px_conn_close(px_worker *w, px_conn *c, const char *verdict);
/* The same for a connection that is cut (a reset on one side, a timeout,
 * draining): both sockets are closed with a reset (SO_LINGER 0), so
 * neither peer can take the cut for a complete stream. */
void px_conn_abort(px_worker *w, px_conn *c, const char *verdict);

#endif
