/* sniroute-proxy's connection log and counters.
 *
 * Workers never write the log themselves: each formats its line and
 * appends it to its own bounded ring (one producer, one consumer, no
 * lock), and one logger thread writes the rings out in batches of whole
 * lines.  A log target that does not keep up (a pipe nobody reads, a slow
 * disk) therefore never stops traffic: when a worker's ring is full the
 * line is dropped and counted (log_lines_dropped).  The logger waits for
 * a pipe, FIFO, terminal or socket to become writable before writing (a
 * socket with MSG_DONTWAIT), so it blocks only on a regular file.
 *
 * Every value in a line is escaped (docs/proxy.md, "Log"), so a line
 * always parses back into the right fields whatever the client sent. */
#ifndef PX_LOG_H
#define PX_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Counters, one set per worker, summed on SIGUSR2 and at exit. */
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
  PXC_LOG_DROPPED, /* log lines dropped (ring full) */
  PXC_UPSTREAM_CLOSED_EARLY, /* upstream ended before its first byte */
  PXC_TLS_FAILED, /* `terminate` handshakes that failed */
  /* QUIC flows (quic.h) */
  PXC_QUIC_FLOWS,          /* flows started (an Initial authenticated) */
  PXC_QUIC_ROUTED,
  PXC_QUIC_NO_ROUTE,
  PXC_QUIC_HELLO_TIMEOUTS,
  PXC_QUIC_IDLE_TIMEOUTS,
  PXC_QUIC_FAILOVERS,      /* next upstream address after ECONNREFUSED */
  PXC_QUIC_DROP_NOT_INITIAL, /* unknown client, not a client Initial */
  PXC_QUIC_DROP_SHORT,     /* unknown client, short-header packet */
  PXC_QUIC_DROP_NO_ROUTE,  /* datagrams of flows no route matched */
  PXC_QUIC_DROP_LIMIT,     /* over quic_max_flows, the pending pool or the
                              bytes/datagrams held per new flow */
  PXC_QUIC_DGRAMS_UP,
  PXC_QUIC_DGRAMS_DOWN,
  PXC_QUIC_BYTES_UP,
  PXC_QUIC_BYTES_DOWN,
  PXC_JA4_DENIED, /* clients refused by a `deny ja4` rule */
  /* Connects to `fastopen` upstreams whose SYN did (did not) carry data
   * that the upstream acknowledged: whether Fast Open is in effect. */
  PXC_FASTOPEN_SYN_DATA,
  PXC_FASTOPEN_NO_SYN_DATA,
  /* `preconnect`: pooled connections handed to a client, and closed
   * unused (past their age, closed by the upstream, a reload, a stop). */
  PXC_PRECONNECT_USED,
  PXC_PRECONNECT_DISCARDED,
  PXC_COUNT
};
extern const char *const px_counter_names[PXC_COUNT];

enum { PX_LOG_KV, PX_LOG_JSON }; /* log_format */

/* What one log line says about a finished connection. */
typedef struct px_log_rec {
  int worker;
  int format;            /* PX_LOG_KV or PX_LOG_JSON */
  const px_addr *client;
  const char *server;    /* the server block's label; NULL: absent */
  const px_upstream *up; /* NULL: not routed */
  int addr_i;            /* the upstream address used */
  /* The server name as sent (any bytes); NULL: none. */
  const uint8_t *sni;
  size_t sni_len;
  /* ALPN names packed as on the wire (a length byte, then the name);
   * NULL: none. */
  const uint8_t *alpn;
  size_t alpn_len;
  const char *route, *verdict; /* NULL or "": absent */
  /* The connection id (connid.h), the JA4, the JA3 hash and the ECH
   * outer extension as "CONFIG_ID/KDF/AEAD"; NULL or "": absent. */
  const char *id, *ja4, *ja3, *ech;
  /* What to look at for this verdict; NULL: the field is left out (it
   * follows verdict only on lines that have one). */
  const char *hint;
  uint64_t bytes_up, bytes_down, ms;
  /* A QUIC flow: its version and datagrams each way are logged too;
   * NULL for TCP connections. */
  const struct px_log_quic *quic;
} px_log_rec;

typedef struct px_log_quic {
  uint32_t version; /* 0: no Initial authenticated */
  uint64_t dgrams_up, dgrams_down;
} px_log_quic;

/* Longest line px_log_format() writes (the fields are bounded: a name of
 * at most 255 bytes, ALPN of at most 128): one write() to a pipe of at
 * most PIPE_BUF stays whole. */
#define PX_LOG_LINE_MAX 4096

/* "stderr", "stdout", "off"/"none" or a file path (appended to; stderr
 * when it cannot be opened, with a message).  Starts the logger thread;
 * call with the signals the workers block already blocked. */
void px_log_open(const char *target);
/* Stops the logger after writing out what the rings hold (giving up
 * after 2 s on a target that does not take it: those lines count as
 * dropped). */
void px_log_close(void);
/* A file target is opened again by name (logrotate: the old file was
 * renamed); lines not yet written go to the new file.  Safe while the
 * workers log.  0, or -1 when the file cannot be opened (message on
 * stderr; logging goes on to the old file).  Nothing to do (0) for
 * stderr, stdout and off. */
int px_log_reopen(void);
int px_log_enabled(void);
/* From worker r->worker's thread (0..255).  0, or -1 when the line was
 * dropped (the worker's ring is full): count PXC_LOG_DROPPED. */
int px_log_conn(const px_log_rec *r);
/* The line for r (with its '\n'), at most PX_LOG_LINE_MAX bytes; returns
 * its length. */
size_t px_log_format(const px_log_rec *r, char *out, size_t cap);
/* Lines the logger itself had to drop (write errors, exit timeout); they
 * are added to log_lines_dropped by px_log_counters(). */
uint64_t px_log_dropped(void);
/* One "sniroute-proxy counters: active=N name=value..." line on stderr
 * (waits at most 200 ms for stderr to take it). */
void px_log_counters(long active, const uint64_t sums[PXC_COUNT]);

#endif
