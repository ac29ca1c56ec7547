/* Descriptor budget (fdbudget.h). */
#include "fdbudget.h"

#include <stdio.h>
#include <sys/resource.h>

#include "relay.h"

static long nofile_limit(void) {
  static int raised;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (!raised && rl.rlim_cur < rl.rlim_max) {
    /* systemd and most distributions set soft 1024, hard much higher, and
     * expect programs that need more (without select()) to raise it. */
    struct rlimit up = rl;
    up.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
  }
  raised = 1;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1L << 30) return 1L << 30;
  return (long)rl.rlim_cur;
}

void px_fd_budget_get(int workers, int nlisteners, px_fd_budget *b) {
  if (workers < 1) workers = 1;
  b->nofile = nofile_limit();
  /* Per worker: epoll, eventfd, listeners, pooled upstream connections. */
  long avail = b->nofile - PX_FD_RESERVE -
               (long)workers * (2 + nlisteners + PX_PRECONNECT_SLOTS);
  if (avail < 0) avail = 0;
  /* Pools may take a sixteenth of the budget. */
  long pool = avail / ((long)workers * 2 * 16);
  if (pool > PX_PIPE_POOL) pool = PX_PIPE_POOL;
  b->pool = (int)pool;
  long conns = (avail - (long)workers * 2 * pool) / PX_FD_PER_CONN;
  if (conns < 1) conns = 1;
  if (conns > 10000000) conns = 10000000;
  b->max_conns = (unsigned)conns;
}

void px_limits_apply(px_cfg *c) {
  px_fd_budget b;
  px_fd_budget_get(c->workers, c->nlisteners, &b);
  if (c->max_conns == 0) {
    c->max_conns = b.max_conns;
  } else if (c->max_conns > b.max_conns) {
    fprintf(stderr,
            "sniroute-proxy: max_connections %u needs up to %lu descriptors "
            "but RLIMIT_NOFILE is %ld: capped to %u (raise the limit, "
            "e.g. LimitNOFILE=, to allow more)\n",
            c->max_conns,
            (unsigned long)c->max_conns * PX_FD_PER_CONN + PX_FD_RESERVE,
            b.nofile, b.max_conns);
    c->max_conns = b.max_conns;
  }
}
