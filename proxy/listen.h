/* Listening sockets of a worker and accepting: pausing when
 * max_connections is reached or descriptors run out, resuming later. */
#ifndef PX_LISTEN_H
#define PX_LISTEN_H

#include "config.h"
#include "worker.h"

/* A non-blocking SO_REUSEPORT listening socket; -1 with errno. */
int px_listen_open(const px_listener *l);
/* Adds (on) or removes the worker's listeners from its epoll set. */
void px_listen_arm(px_worker *w, int on);
/* Re-arms paused listeners once the pause is over and there is room. */
void px_listen_maybe_resume(px_worker *w);
/* Listener li is readable: accepts a batch of connections. */
void px_listen_accept(px_worker *w, int li);

#endif
