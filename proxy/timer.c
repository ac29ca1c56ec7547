/* Connection deadlines (timer.h). */
#include "timer.h"

#include "conn.h"

void px_timer_del(px_worker *w, px_conn *c) {
  if (c->tlist == PX_TL_NONE) return;
  int l = c->tlist;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->head[l] = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    w->tail[l] = c->prev;
  c->prev = c->next = NULL;
  c->tlist = PX_TL_NONE;
}

void px_timer_set(px_worker *w, px_conn *c, int l, unsigned ms) {
  px_timer_del(w, c);
  if (ms == 0) return;
  c->deadline = w->now + ms;
  c->tlist = (uint8_t)l;
  c->prev = w->tail[l];
  c->next = NULL;
  if (w->tail[l])
    w->tail[l]->next = c;
  else
    w->head[l] = c;
  w->tail[l] = c;
}
