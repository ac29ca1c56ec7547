/* QUIC flows of one worker: the flow record, the table that finds a flow
 * by the client's address, and the bounded pool of hello state (quic.h).
 *
 * A flow is what a client address sent to one QUIC listener.  While its
 * ClientHello is incomplete it owns a px_qpend (the reader's state, its
 * reassembly buffer and the datagrams held for the upstream, about 11 KiB
 * plus quic_hello_bytes); once the hello is routed that block goes back to
 * the pool and the flow keeps only what forwarding and its log line need
 * (px_qflow, PX_QFLOW_BYTES at most, checked at compile time). */
#ifndef PX_QFLOW_H
#define PX_QFLOW_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sniroute.h"

/* The client's address: IPv4 or IPv6, never a sockaddr_storage (128
 * bytes per flow for nothing). */
typedef union px_qpeer {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
} px_qpeer;

/* The address the client sent to (IP_PKTINFO / IPV6_PKTINFO), for
 * replies from a wildcard listener. */
typedef union px_qlocal {
  struct in_pktinfo v4;
  struct in6_pktinfo v6;
} px_qlocal;

/* Hello state of a flow that is not routed yet. */
typedef struct px_qpend {
  struct px_qpend *next_free;
  sni_quic q;
  sni_hello h;
  uint32_t nheld, held_bytes;
  uint16_t lens[SNI_QUIC_MAX_PACKETS]; /* held datagrams, arrival order */
  uint8_t rbuf[SNI_QUIC_DEFAULT_BUF];  /* the reader's reassembly space */
  uint8_t held[];                      /* quic_hello_bytes */
} px_qpend;

enum { PX_QL_NONE, PX_QL_PENDING, PX_QL_IDLE, PX_QL_COUNT };

typedef struct px_qflow {
  struct px_qflow *prev, *next; /* deadline list; next also: the grave */
  px_qpeer peer;
  px_qlocal local;
  uint64_t t_start, last; /* ms (worker clock): created, last datagram */
  uint64_t queued;        /* its place in the deadline list (quic.c) */
  uint64_t dg_up, dg_down, by_up, by_down;
  uint64_t seq;           /* its connection id's sequence (connid.h) */
  px_cfg *cfg;            /* the configuration it was routed with */
  const px_upstream *up;  /* NULL: not routed (yet, or no route) */
  const char *route;      /* label for the log, static */
  /* The name and ALPN list as sent, then, when has_fp, "JA4\0JA3\0ECH\0"
   * for the log; malloc'ed at routing. */
  char *info;
  px_qpend *pend;         /* while the hello is incomplete */
  uint32_t hash, version;
  uint16_t sni_len, alpn_len;
  int ufd;                /* connected to the upstream; -1 */
  uint8_t li, addr_i, list, replied, has_local, dead, has_sni, has_fp;
} px_qflow;

/* Stays well under the 512 bytes per idle flow the design aims at, with
 * the table slot and the allocator's header. */
#define PX_QFLOW_BYTES 320
_Static_assert(sizeof(px_qflow) <= PX_QFLOW_BYTES, "px_qflow grew");

/* Open addressing with linear probing; capacity fixed at start. */
typedef struct px_qtab {
  px_qflow **slot;
  size_t mask;
  unsigned n, max;
  uint64_t seed;
} px_qtab;

/* A table for max flows (2*max slots, a power of two).  0 or -1. */
int px_qtab_init(px_qtab *t, unsigned max);
void px_qtab_free(px_qtab *t);
/* Hash of (listener, client address), seeded per table: clients choose
 * their addresses, so the probe sequences must not be predictable. */
uint32_t px_qtab_hash(const px_qtab *t, unsigned li, const px_qpeer *p);
px_qflow *px_qtab_find(const px_qtab *t, uint32_t h, unsigned li,
                       const px_qpeer *p);
/* 0, or -1 when the table holds max flows. */
int px_qtab_insert(px_qtab *t, px_qflow *f);
void px_qtab_remove(px_qtab *t, px_qflow *f);

/* Hello blocks: at most max in use, a few kept for reuse. */
typedef struct px_qpool {
  px_qpend *free;
  unsigned used, kept, max;
  size_t held_cap; /* quic_hello_bytes at start */
} px_qpool;

void px_qpool_init(px_qpool *p, unsigned max, size_t held_cap);
/* NULL when max blocks are in use or out of memory. */
px_qpend *px_qpool_get(px_qpool *p);
void px_qpool_put(px_qpool *p, px_qpend *b);
void px_qpool_free(px_qpool *p);

#endif
