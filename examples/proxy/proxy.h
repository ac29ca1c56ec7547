/* sniroute-proxy: shared declarations.  See examples/README.md for the
 * configuration reference. */
#ifndef SNIROUTE_PROXY_H
#define SNIROUTE_PROXY_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sniroute.h"

#define PX_MAX_LISTENERS 16
#define PX_MAX_ADDRS 8
#define PX_MAX_TRUSTED 16
#define PX_NAME_MAX 64

typedef struct px_addr {
  struct sockaddr_storage ss;
  socklen_t len;
} px_addr;

typedef struct px_cidr {
  int family;
  uint8_t bytes[16];
  unsigned prefix;
} px_cidr;

typedef struct px_listener {
  px_addr addr;
  char text[80];
  int accept_pp; /* expect a PROXY v1/v2 header first */
  px_cidr trusted[PX_MAX_TRUSTED];
  int ntrusted;
} px_listener;

typedef struct px_upstream {
  char name[PX_NAME_MAX];
  px_addr addrs[PX_MAX_ADDRS];
  char addr_text[PX_MAX_ADDRS][80];
  int naddrs;
  int pp; /* 0 none, 1 v1, 2 v2 */
} px_upstream;

/* One loaded configuration.  Immutable once published; shared by workers
 * and connections through a reference count so that SIGHUP can swap it
 * while old connections keep the one they were routed with. */
typedef struct px_cfg {
  atomic_int refs;
  int workers;
  unsigned max_conns;
  unsigned hello_timeout_ms, connect_timeout_ms, idle_timeout_ms;
  unsigned drain_timeout_ms;
  int use_splice;
  char log_target[256]; /* "stderr", "off" or a path */
  px_listener listeners[PX_MAX_LISTENERS];
  int nlisteners;
  px_upstream **ups; /* each allocated alone: routes point at them */
  int nups;
  sni_router *router;
  char source[512]; /* config file path, "" for the quick form */
} px_cfg;

/* Route decision for one connection. */
typedef struct px_route {
  const px_upstream *up; /* NULL: no route */
  const char *label; /* route name for the log (static or cfg-owned) */
} px_route;

/* config.c */
/* Builds a configuration from argv (quick form and/or --config).  On error
 * prints a message to stderr and returns NULL. */
px_cfg *px_cfg_from_args(int argc, char **argv);
/* Re-reads the same sources as `old` (SIGHUP). */
px_cfg *px_cfg_reload(const px_cfg *old);
void px_cfg_ref(px_cfg *c);
void px_cfg_unref(px_cfg *c);
/* status is the peek result (> 0 complete hello, or an SNI_E* code). */
px_route px_cfg_route(const px_cfg *c, const sni_hello *h, int status);
int px_parse_addr(const char *text, px_addr *out);
void px_addr_str(const px_addr *a, char *buf, size_t cap);
int px_cidr_match(const px_cidr *list, int n, const struct sockaddr *sa);

/* pp.c: PROXY protocol. */
/* Parses a header at the start of buf.  Returns its length (> 0) and fills
 * src/dst (family AF_UNSPEC for LOCAL/UNKNOWN), 0 when more bytes are
 * needed, -1 when the bytes are not a valid header. */
int px_pp_parse(const uint8_t *buf, size_t len, px_addr *src, px_addr *dst);
/* Writes a v1 or v2 header for src -> dst into out (cap >= 256 + sni).
 * authority (may be NULL/"") goes in a PP2_TYPE_AUTHORITY TLV (v2 only).
 * Returns its length, or -1. */
int px_pp_build(int version, const px_addr *src, const px_addr *dst,
                const char *authority, uint8_t *out, size_t cap);

/* Counters, summed over workers on SIGUSR1. */
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

/* worker.c */
typedef struct px_worker px_worker;
px_worker *px_worker_start(int id, px_cfg *cfg, int *err);
void px_worker_stop(px_worker *w); /* begin draining, wake it */
void px_worker_join(px_worker *w);
void px_worker_free(px_worker *w);
uint64_t px_worker_counter(const px_worker *w, int i);
long px_worker_active(const px_worker *w);

/* main.c: the configuration new connections use. */
px_cfg *px_current_cfg(unsigned *gen);
extern atomic_uint px_cfg_gen;
extern atomic_long px_total_conns;
extern int px_log_fd;

#endif
