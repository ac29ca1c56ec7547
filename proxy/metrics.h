/* Prometheus metrics of sniroute-proxy: per-worker counters (no shared
 * cache lines on the hot path), summed when /metrics is scraped (served by
 * mhttp.c; docs/proxy.md, "Metrics").
 *
 * Per-server, per-route and per-upstream series are keyed by name: a
 * server block, route kind or upstream that a reload removes keeps its
 * totals until the process exits, and one that comes back continues
 * counting where it was. */
#ifndef PX_METRICS_H
#define PX_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct px_worker;

enum { PXH_HELLO_WAIT, PXH_CONNECT, PXH_COUNT };

/* Allocates the per-worker blocks; before any worker starts.  0 or -1. */
int px_metrics_init(int nworkers);
void px_metrics_free(void);

/* From worker `worker`'s thread.  A finished connection or QUIC flow of
 * server block `server` (its label), routed or not (route: the rule
 * label, NULL when it never was; upstream: NULL when there was none);
 * connect_failed: no address of the upstream could be reached. */
void px_metrics_conn(int worker, const char *server, const char *route,
                     const char *upstream, uint64_t bytes_up,
                     uint64_t bytes_down, int connect_failed);
/* One observation of histogram h, in microseconds. */
void px_metrics_observe(int worker, int h, uint64_t us);
/* Monotonic microseconds, for the observations. */
uint64_t px_metrics_now_us(void);

/* Sums the workers' counters (PXC_COUNT of them, log.h) into sums;
 * returns the connections open in all of them. */
long px_metrics_sum(struct px_worker **ws, int nworkers, uint64_t *sums);

/* The text exposition (format 0.0.4) of everything: the workers' counters
 * and connections, and the series above.  malloc'ed, *len bytes; NULL when
 * out of memory. */
char *px_metrics_render(struct px_worker **ws, int nworkers, size_t *len);

#endif
