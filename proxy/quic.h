/* QUIC (HTTP/3) forwarding of sniroute-proxy: `listen ADDR:PORT quic`
 * (docs/proxy.md, QUIC).
 *
 * Each worker binds its own SO_REUSEPORT UDP socket per QUIC listener.
 * For UDP the kernel picks the socket of a reuseport group by a hash of
 * the datagram's 4-tuple, which does not change while the group does not:
 * every datagram of one client address reaches the same worker, so flows
 * need no state shared between workers.
 *
 * A datagram from an unknown client address starts a flow only if it
 * holds an authenticated client Initial; the flow's datagrams are held
 * (bounded) until sni_quic_feed() completes the ClientHello, then
 * px_route_decide() picks the upstream exactly as for TCP, a UDP socket
 * connected to it is opened, the held datagrams are sent in arrival order
 * and from then on datagrams pass both ways unparsed.  Replies leave
 * from the address the client sent to (IP_PKTINFO on wildcard
 * listeners).  Flows end after quic_idle_timeout without a datagram. */
#ifndef PX_QUIC_H
#define PX_QUIC_H

#include <stdint.h>

#include "worker.h"

/* Opens w's UDP sockets for cfg's QUIC listeners and adds them to its
 * epoll set.  0, or -1 with errno (a message on stderr). */
int px_quic_open(px_worker *w, const px_cfg *cfg);
/* An epoll event for a QUIC socket: data is the epoll data without its
 * tag bits (PX_TAG_QUIC). */
void px_quic_event(px_worker *w, uint64_t data, uint32_t events);
/* The earliest flow deadline (worker ms), UINT64_MAX when none. */
uint64_t px_quic_next_deadline(const px_worker *w);
/* After each epoll batch: ends flows whose deadline passed, frees the
 * flows closed during the batch. */
void px_quic_tick(px_worker *w);
/* Ends every flow (logged with verdict) and closes the UDP sockets:
 * shutdown.  A QUIC flow cannot be drained: its replies leave through
 * the listening socket. */
void px_quic_stop(px_worker *w, const char *verdict);
void px_quic_free(px_worker *w);
/* Flows open in w (metrics). */
long px_quic_active(const px_worker *w);

#endif
