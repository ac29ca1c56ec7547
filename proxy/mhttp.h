/* The metrics listener: a small HTTP/1.x server on its own thread that
 * answers GET /metrics (metrics.h) and nothing else.  Bounded: a few
 * clients at a time, a small request buffer, timeouts. */
#ifndef PX_MHTTP_H
#define PX_MHTTP_H

#include "addr.h"

struct px_worker;

/* Binds a (SO_REUSEPORT, so that a --takeover instance can bind it while
 * the old one still serves) and starts the thread.  -1 with a message on
 * stderr. */
int px_mhttp_start(const px_addr *a, const char *text, struct px_worker **ws,
                   int nworkers);
void px_mhttp_stop(void);

#endif
