/* sniroute-proxy's connection log and counters.  The log target is opened
 * once at start; each connection is one line written with one write(), so
 * lines from several workers never interleave. */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stdint.h>

#include "config.h"

/* Counters, one set per worker, summed on SIGUSR1 and at exit. */
enum px_counter {
  PXC_ACCEPTED,
  PXC_HELLOS,
  PXC_NO_SNI,
  PXC_NOT_TLS,
  PXC_BAD_HELLO,
  PXC_TOO_LARGE,
  PXC_HELLO_TIMEOUTS,
  PXC_CONNECT_TIMEOUTS,
  PXC_IDLE_TIMEOUTS,
  PXC_ROUTED,
  PXC_NO_ROUTE,
  PXC_CONNECT_FAILURES,
  PXC_PP_REJECTED,
  PXC_ACCEPT_PAUSES,
  PXC_BYTES_UP,
  PXC_BYTES_DOWN,
  PXC_COUNT
};
extern const char *const px_counter_names[PXC_COUNT];

/* What one log line says about a finished connection. */
typedef struct px_log_rec {
  int worker;
  const px_addr *client;
  const px_upstream *up; /* NULL: not routed */
  int addr_i;            /* the upstream address used */
  const char *sni, *alpn, *route, *verdict; /* NULL or "": "-" */
  uint64_t bytes_up, bytes_down, ms;
} px_log_rec;

/* "stderr", "stdout", "off"/"none" or a file path (appended to; stderr
 * when it cannot be opened, with a message). */
void px_log_open(const char *target);
void px_log_close(void);
int px_log_enabled(void);
void px_log_conn(const px_log_rec *r);
/* One "sniroute-proxy counters: active=N name=value..." line on stderr. */
void px_log_counters(long active, const uint64_t sums[PXC_COUNT]);

#endif
