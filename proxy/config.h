/* sniroute-proxy configuration: the file format and the quick command-line
 * form (docs/proxy.md) both end up as one px_cfg with a compiled
 * sni_router whose targets point at the cfg's upstreams. */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include <stdatomic.h>

#include "addr.h"
#include "sniroute.h"

#define PX_MAX_LISTENERS 16
#define PX_MAX_ADDRS 8
#define PX_MAX_TRUSTED 16
#define PX_NAME_MAX 64

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

/* Builds a configuration from argv (quick form and/or --config).  On error
 * prints a message to stderr and returns NULL. */
px_cfg *px_cfg_from_args(int argc, char **argv);
/* Re-reads the same sources as `old` (SIGHUP). */
px_cfg *px_cfg_reload(const px_cfg *old);
void px_cfg_ref(px_cfg *c);
void px_cfg_unref(px_cfg *c);

#endif
