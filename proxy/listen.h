/* Listening sockets of a worker and accepting: pausing when
 * max_connections is reached or descriptors run out, resuming later. */
#ifndef PX_LISTEN_H
#define PX_LISTEN_H

#include "config.h"
#include "worker.h"

/* A non-blocking SO_REUSEPORT listening socket; -1 with errno. */
int px_listen_open(const px_listener *l);

/* TCP_DEFER_ACCEPT: the kernel hands a connection over only once the
 * client has sent something, so a connection costs one wake-up instead
 * of two (the handshake, then the hello) and a client that sends nothing
 * is held by the kernel, not the proxy.  When the client stays silent the
 * kernel gives up deferring after its first SYN-ACK retransmission, one
 * initial RTO (1 s, TCP_TIMEOUT_INIT) after the handshake, the shortest
 * deferral it can express, and the connection is accepted without data;
 * conn.c then counts that second towards the client's deadlines.  So a
 * listener defers only where that cannot delay what the proxy must do
 * with a silent client: its server speaks TLS (with `tls off` the
 * upstream may speak first), its `silent` deadline, if any, is not
 * shorter, and its hello_timeout is longer.  With hello_timeout off no
 * listener defers: such a setup waits for silent clients without limit,
 * and those are logged at shutdown like any connection, which a client
 * still held by the kernel would not be (it is reset when the listener
 * closes, as one waiting in the accept queue always was). */
#define PX_DEFER_ACCEPT_MS 1000u
/* Sets or clears TCP_DEFER_ACCEPT on each of w's listeners as w->cfg
 * allows and records it in w->defer_ms (at start and after a reload,
 * which may change the timeouts). */
void px_listen_defer(px_worker *w);
/* Adds (on) or removes the worker's listeners from its epoll set. */
void px_listen_arm(px_worker *w, int on);
/* Re-arms paused listeners once the pause is over and there is room. */
void px_listen_maybe_resume(px_worker *w);
/* Listener li is readable: accepts up to max connections, fewer when
 * none is left (EAGAIN).  Listeners are level-triggered: connections
 * left queued raise the next event. */
void px_listen_accept(px_worker *w, int li, int max);

#endif
