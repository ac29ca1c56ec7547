/* Descriptor budget of sniroute-proxy (docs/proxy.md, max_connections).
 *
 * A relayed connection holds up to six descriptors: its two sockets and
 * two pipes (one per direction).  What RLIMIT_NOFILE leaves after the
 * fixed ones (stdio, log, listeners, each worker's epoll and eventfd,
 * configuration and pid files, the metrics server) and the workers' pipe
 * pools is divided by six: that many connections can never run out of
 * descriptors half-way, so it is the default max_connections and the
 * ceiling of a configured one. */
#ifndef PX_FDBUDGET_H
#define PX_FDBUDGET_H

#include "config.h"

#define PX_FD_PER_CONN 6
/* stdio, the log file and its replacement at a reopen, the logger's
 * eventfd, a configuration or map file being read at a reload, the pid
 * file, the metrics listener and a few of its clients, slack. */
#define PX_FD_RESERVE 32

typedef struct px_fd_budget {
  long nofile;        /* RLIMIT_NOFILE (soft) */
  unsigned max_conns; /* connections that fit (>= 1) */
  int pool;           /* empty pipes kept per worker */
} px_fd_budget;

/* Raises the soft RLIMIT_NOFILE to the hard one (once per process; epoll
 * has no FD_SETSIZE limit), then computes the budget. */
void px_fd_budget_get(int workers, int nlisteners, px_fd_budget *b);

/* max_connections: 0 (auto, the default) becomes the budget; a larger
 * value than the budget is capped to it with a warning on stderr. */
void px_limits_apply(px_cfg *c);

#endif
