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
  px_conn *p = w->tail[l];
  while (p && p->deadline > c->deadline) p = p->prev;
  /* After p (NULL: first). */
  c->prev = p;
  c->next = p ? p->next : w->head[l];
  if (c->next)
    c->next->prev = c;
  else
    w->tail[l] = c;
  if (p)
    p->next = c;
  else
    w->head[l] = c;
}
