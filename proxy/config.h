/* sniroute-proxy configuration: the file format and the quick command-line
 * form (docs/proxy.md) both end up as one px_cfg with a compiled
 * sni_router whose targets point at the cfg's upstreams. */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include <stdatomic.h>
#include <stdio.h>

#include "addr.h"
#include "sniroute.h"

#define PX_MAX_LISTENERS 16
#define PX_MAX_WORKERS 256 /* the `workers` directive's range is 1..this */
#define PX_MAX_SERVERS 16
#define PX_MAX_ADDRS 8
#define PX_MAX_TRUSTED 16
#define PX_NAME_MAX 64   /* upstream names: at most 63 bytes */
#define PX_ADDR_TEXT 80  /* an address as written: at most 79 bytes */
/* `preconnect N`: N per upstream at most, and pooled connections per
 * worker at most (they are counted in the descriptor budget). */
#define PX_PRECONNECT_MAX 8
#define PX_PRECONNECT_SLOTS 32

typedef struct px_listener {
  px_addr addr;
  char text[PX_ADDR_TEXT];
  int accept_pp; /* expect a PROXY v1/v2 header first */
  px_cidr trusted[PX_MAX_TRUSTED];
  int ntrusted;
  int server; /* index in px_cfg.servers: whose routes apply */
} px_listener;

typedef struct px_upstream {
  char name[PX_NAME_MAX]; /* implicit upstreams: their HOST:PORT */
  px_addr addrs[PX_MAX_ADDRS];
  char addr_text[PX_MAX_ADDRS][PX_ADDR_TEXT];
  int naddrs;
  int pp; /* 0 none, 1 v1, 2 v2 */
  unsigned pp_tlvs; /* v2: PX_PP_TLV_* bits (pp.h), `tlv=` */
  int fastopen;     /* `fastopen`: TCP Fast Open towards its addresses */
  /* `preconnect=N`: unused connections a worker keeps open to its first
   * address once it has routed a client here (preconnect.h); -1 while
   * parsing: not given, the `preconnect` directive's value applies. */
  int preconnect;
  /* `terminate`: the certificate, key and ALPN list, loaded when the
   * configuration is built (tls.h); NULL: TLS passes through. */
  struct px_tls *tls;
} px_upstream;

/* A `server { }` block, or the one implicit server of a file without
 * blocks: the routes of its listeners and what happens before a
 * connection is routed (docs/proxy.md, Server blocks). */
typedef struct px_server {
  char name[PX_NAME_MAX]; /* the log's label: the block's name or index */
  sni_router *router;
  unsigned hello_timeout_ms; /* its own, else the top-level value */
  int tls;                   /* 0: `tls off`, to the default route at once */
  unsigned silent_ms;        /* `silent`: 0 when not set */
  const px_upstream *silent_up;
} px_server;

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
  unsigned preconnect; /* `preconnect N`: for upstreams that do not say */
  char log_target[256]; /* "stderr", "off" or a path */
  int log_format;       /* PX_LOG_KV or PX_LOG_JSON (log.h) */
  px_listener listeners[PX_MAX_LISTENERS];
  int nlisteners;
  /* `listen ADDR:PORT quic`: UDP listeners (quic.h), routed by the same
   * router as the TCP ones; flow settings (docs/proxy.md, QUIC). */
  px_listener quic[PX_MAX_LISTENERS];
  int nquic;
  unsigned quic_idle_timeout_ms, quic_max_flows;
  unsigned quic_hello_datagrams, quic_hello_bytes; /* held per new flow */
  /* `deny ja4` / `deny ja4_file` rules (fpdeny.h), NULL: none.  Per
   * configuration, so that they can later move into server blocks. */
  struct px_fpdeny *deny;
  int ja4_tlv; /* an upstream sends the JA4 in its PROXY v2 header */
  px_upstream **ups; /* each allocated alone: routes point at them */
  int nups;
  px_server servers[PX_MAX_SERVERS]; /* listeners point at them */
  int nservers;
  char source[512]; /* config file path, "" for the quick form */
  /* Operations (main.c, daemon.c, metrics.c); fixed at start like the
   * listeners: a reload parses them but they are not re-applied. */
  char user[PX_NAME_MAX], group[PX_NAME_MAX]; /* "" = keep */
  char pid_file[512];                         /* "" = none */
  px_addr metrics;                            /* valid if metrics_text[0] */
  char metrics_text[80];
} px_cfg;

/* Every directive of the file format, NULL-terminated.  The parser rejects
 * any other; `sniroute-proxy --list-directives` prints them (the man page
 * test compares them with sniroute-proxy.conf(5)). */
extern const char *const px_directives[];

/* Where a configuration comes from. */
typedef struct px_cfg_src {
  int argc; /* quick-form options, argv[0] skipped; --config names the file */
  char **argv;
  const char *text; /* the file's bytes (len), instead of reading it */
  size_t len;
  const char *config; /* the file's name (messages, map paths); overrides
                         --config */
  FILE *err;          /* messages, NULL: stderr */
  int bare;     /* messages "FILE:LINE: text" without "sniroute-proxy: " */
  int numeric;  /* never resolve host names: literals only */
  int sandbox;  /* memory only (fuzzing): `map` refused, RLIMIT_NOFILE
                   neither read nor raised */
} px_cfg_src;

/* Builds a configuration: syntax, values, addresses, routes compiled.  On
 * error writes one "FILE:LINE: message" line (FILE "command line" and
 * LINE the argument's index for the quick form) and returns NULL. */
px_cfg *px_cfg_build(const px_cfg_src *src);
/* px_cfg_build() from argv (quick form and/or --config), errors on
 * stderr; argv is kept for px_cfg_reload(). */
px_cfg *px_cfg_from_args(int argc, char **argv);
/* Re-reads the same sources (SIGHUP).  NULL, with the reason on stderr,
 * on any error, including listen addresses that differ from old's (the
 * caller keeps old). */
px_cfg *px_cfg_reload(const px_cfg *old);
/* Builds and drops a configuration (-t): 0 when it is valid, else -1 with
 * "FILE:LINE: message" on err. */
int px_cfg_check(int argc, char **argv, FILE *err);
void px_cfg_ref(px_cfg *c);
void px_cfg_unref(px_cfg *c);

#endif
