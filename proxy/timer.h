/* Connection deadlines of a worker.  Every list holds connections of one
 * kind of deadline, sorted, so only heads need checking.  Deadlines of a
 * kind are mostly now + one fixed duration, so an entry is inserted by
 * walking back from the tail: at once in that case.  Only different
 * durations on one list (server blocks' hello_timeout and silent, a
 * reload that changed a duration) make it walk past later entries. */
#ifndef PX_TIMER_H
#define PX_TIMER_H

#include "worker.h"

/* (Re)arms c on list l for ms from w->now; ms == 0 disarms. */
void px_timer_set(px_worker *w, struct px_conn *c, int l, unsigned ms);
void px_timer_del(px_worker *w, struct px_conn *c);

#endif
