/* Connection deadlines of a worker.  Every list holds connections of one
 * kind of deadline, and deadlines of a kind are now + a fixed duration, so
 * appending keeps each list sorted and only heads need checking (after a
 * reload changes a duration, a list may be briefly out of order: an entry
 * then expires late, never early). */
#ifndef PX_TIMER_H
#define PX_TIMER_H

#include "worker.h"

/* (Re)arms c on list l for ms from w->now; ms == 0 disarms. */
void px_timer_set(px_worker *w, struct px_conn *c, int l, unsigned ms);
void px_timer_del(px_worker *w, struct px_conn *c);

#endif
