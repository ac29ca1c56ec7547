/* Metrics registry and exposition (metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "quic.h"
#include "worker.h"

/* Route labels and upstream names, interned once: a power of two above
 * the 4096 upstreams a configuration may have plus the route labels. */
#define KEY_SLOTS 8192
#define KEY_NAME_MAX PX_NAME_MAX

enum { K_SERVER, K_ROUTE, K_UPSTREAM, K_KINDS };
/* Each kind's label in the series. */
static const char *const kind_label[K_KINDS] = {"server", "route",
                                                "upstream"};
enum { V_CONNS, V_BYTES_UP, V_BYTES_DOWN, V_FAILS, V_COUNT };

/* Histogram bucket bounds in microseconds (Prometheus' usual latency
 * buckets from 0.5 ms to 10 s); one more bucket counts the rest. */
static const uint64_t bucket_us[] = {500,    1000,   2500,    5000,    10000,
                                     25000,  50000,  100000,  250000,  500000,
                                     1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof bucket_us / sizeof *bucket_us)

typedef struct key {
  atomic_int used; /* set (release) after kind and name are written */
  int kind;
  char name[KEY_NAME_MAX];
} key;

/* One worker's block: written only by that worker. */
typedef struct wblock {
  _Atomic uint64_t v[KEY_SLOTS][V_COUNT];
  _Atomic uint64_t hist[PXH_COUNT][NBUCKETS + 1];
  _Atomic uint64_t hsum_us[PXH_COUNT];
} wblock;

static key keys[KEY_SLOTS];
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static wblock **blocks;
static int nblocks;

int px_metrics_init(int nworkers) {
  blocks = calloc((size_t)nworkers, sizeof *blocks);
  if (!blocks) return -1;
  nblocks = nworkers;
  for (int i = 0; i < nworkers; i++) {
    /* Large and zeroed: pages are only touched for the keys in use. */
    blocks[i] = calloc(1, sizeof **blocks);
    if (!blocks[i]) return -1;
  }
  return 0;
}

void px_metrics_free(void) {
  for (int i = 0; i < nblocks; i++) free(blocks[i]);
  free(blocks);
  blocks = NULL;
  nblocks = 0;
}

uint64_t px_metrics_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned key_hash(int kind, const char *name) {
  uint32_t h = 2166136261u ^ (uint32_t)kind;
  for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  return h & (KEY_SLOTS - 1);
}

static int key_is(const key *k, int kind, const char *name) {
  return k->kind == kind && strcmp(k->name, name) == 0;
}

/* Under keys_lock: finds or fills the slot. */
static int key_insert(int kind, const char *name, unsigned h) {
  for (unsigned i = 0; i < KEY_SLOTS; i++) {
    key *k = &keys[(h + i) & (KEY_SLOTS - 1)];
    if (atomic_load_explicit(&k->used, memory_order_relaxed)) {
      if (key_is(k, kind, name)) return (int)((h + i) & (KEY_SLOTS - 1));
      continue;
    }
    k->kind = kind;
    snprintf(k->name, sizeof k->name, "%s", name);
    atomic_store_explicit(&k->used, 1, memory_order_release);
    return (int)((h + i) & (KEY_SLOTS - 1));
  }
  return -1;
}

/* Lock-free for a known name (every connection); the lock only for the
 * first connection of a new name.  -1 when the table is full. */
static int key_slot(int kind, const char *name) {
  unsigned h = key_hash(kind, name);
  for (unsigned i = 0; i < KEY_SLOTS; i++) {
    const key *k = &keys[(h + i) & (KEY_SLOTS - 1)];
    if (!atomic_load_explicit(&k->used, memory_order_acquire)) break;
    if (key_is(k, kind, name)) return (int)((h + i) & (KEY_SLOTS - 1));
  }
  pthread_mutex_lock(&keys_lock);
  int s = key_insert(kind, name, h);
  pthread_mutex_unlock(&keys_lock);
  return s;
}

/* Single writer per block: a relaxed load and store, no locked add. */
static void bump(_Atomic uint64_t *v, uint64_t by) {
  atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by,
                        memory_order_relaxed);
}

static void count_key(wblock *b, int kind, const char *name, uint64_t up,
                      uint64_t down, int failed) {
  int s = key_slot(kind, name);
  if (s < 0) return;
  bump(&b->v[s][V_CONNS], 1);
  bump(&b->v[s][V_BYTES_UP], up);
  bump(&b->v[s][V_BYTES_DOWN], down);
  if (failed) bump(&b->v[s][V_FAILS], 1);
}

void px_metrics_conn(int worker, const char *server, const char *route,
                     const char *upstream, uint64_t bytes_up,
                     uint64_t bytes_down, int connect_failed) {
  if (worker < 0 || worker >= nblocks) return;
  wblock *b = blocks[worker];
  if (server)
    count_key(b, K_SERVER, server, bytes_up, bytes_down, connect_failed);
  if (route) count_key(b, K_ROUTE, route, bytes_up, bytes_down, connect_failed);
  if (upstream)
    count_key(b, K_UPSTREAM, upstream, bytes_up, bytes_down, connect_failed);
}

void px_metrics_observe(int worker, int h, uint64_t us) {
  if (worker < 0 || worker >= nblocks) return;
  wblock *b = blocks[worker];
  size_t i = 0;
  while (i < NBUCKETS && us > bucket_us[i]) i++;
  bump(&b->hist[h][i], 1);
  bump(&b->hsum_us[h], us);
}

/* ------------------------------------------------------------ exposition */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(sbuf *s, const char *fmt, ...) {
  for (;;) {
    if (s->oom) return;
    va_list ap;
    va_start(ap, fmt);
    /* NULL + 0 is undefined behaviour: the first call only measures. */
    int n = vsnprintf(s->p ? s->p + s->len : NULL, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->oom = 1;
      return;
    }
    if ((size_t)n < s->cap - s->len) {
      s->len += (size_t)n;
      return;
    }
    size_t cap = (s->cap + (size_t)n + 1) * 2;
    char *np = realloc(s->p, cap);
    if (!np) {
      s->oom = 1;
      return;
    }
    s->p = np;
    s->cap = cap;
  }
}

/* A label value as the exposition format wants it: \\, \" and \n. */
static void put_label(sbuf *s, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      put(s, "\\%c", *v);
    else if (*v == '\n')
      put(s, "\\n");
    else
      put(s, "%c", *v);
  }
}

static void family(sbuf *s, const char *name, const char *type,
                   const char *help) {
  put(s, "# HELP sniroute_%s %s\n# TYPE sniroute_%s %s\n", name, help, name,
      type);
}

static const char *const counter_help[PXC_COUNT] = {
    [PXC_ACCEPTED] = "Connections accepted.",
    [PXC_HELLOS] = "ClientHellos parsed completely.",
    [PXC_NO_SNI] = "Hellos without a usable SNI.",
    [PXC_NOT_TLS] = "Connections whose first bytes are not TLS.",
    [PXC_BAD_HELLO] = "Hellos the parser rejected.",
    [PXC_TOO_LARGE] = "Hellos larger than the proxy reads.",
    [PXC_HELLO_TIMEOUTS] = "Connections closed without a hello in time.",
    [PXC_CONNECT_TIMEOUTS] = "Upstream connect attempts that timed out.",
    [PXC_IDLE_TIMEOUTS] = "Relayed connections closed for idleness.",
    [PXC_ROUTED] = "Connections routed to an upstream.",
    [PXC_NO_ROUTE] = "Connections no route matched.",
    [PXC_CONNECT_FAILURES] = "Upstream connect attempts that failed.",
    [PXC_PP_REJECTED] = "PROXY protocol headers rejected.",
    [PXC_ACCEPT_PAUSES] = "Times accepting paused (max_connections, EMFILE).",
    [PXC_BYTES_UP] = "Bytes relayed from clients to upstreams.",
    [PXC_BYTES_DOWN] = "Bytes relayed from upstreams to clients.",
    [PXC_LOG_DROPPED] = "Log lines dropped (log target too slow).",
    [PXC_UPSTREAM_CLOSED_EARLY] =
        "TLS connections whose upstream closed before sending a byte.",
    [PXC_TLS_FAILED] = "TLS handshakes with clients (terminate) that failed.",
    [PXC_QUIC_FLOWS] = "QUIC flows started (a client Initial authenticated).",
    [PXC_QUIC_ROUTED] = "QUIC flows routed to an upstream.",
    [PXC_QUIC_NO_ROUTE] = "QUIC flows no route matched.",
    [PXC_QUIC_HELLO_TIMEOUTS] = "QUIC flows ended without a hello in time.",
    [PXC_QUIC_IDLE_TIMEOUTS] = "QUIC flows ended by quic_idle_timeout.",
    [PXC_QUIC_FAILOVERS] = "QUIC flows moved to the next upstream address.",
    [PXC_QUIC_DROP_NOT_INITIAL] =
        "Datagrams from unknown clients that are not client Initials.",
    [PXC_QUIC_DROP_SHORT] =
        "Short-header datagrams from unknown clients.",
    [PXC_QUIC_DROP_NO_ROUTE] = "Datagrams of QUIC flows no route matched.",
    [PXC_QUIC_DROP_LIMIT] =
        "Datagrams dropped by QUIC flow and held-datagram limits.",
    [PXC_QUIC_DGRAMS_UP] = "QUIC datagrams forwarded to upstreams.",
    [PXC_QUIC_DGRAMS_DOWN] = "QUIC datagrams forwarded to clients.",
    [PXC_QUIC_BYTES_UP] = "QUIC payload bytes forwarded to upstreams.",
    [PXC_QUIC_BYTES_DOWN] = "QUIC payload bytes forwarded to clients.",
    [PXC_JA4_DENIED] = "Clients refused by a deny ja4 rule.",
    [PXC_FASTOPEN_SYN_DATA] =
        "Connects to fastopen upstreams whose SYN carried data.",
    [PXC_FASTOPEN_NO_SYN_DATA] =
        "Connects to fastopen upstreams whose SYN carried no data.",
    [PXC_PRECONNECT_USED] =
        "Preconnected upstream connections handed to a client.",
    [PXC_PRECONNECT_DISCARDED] =
        "Preconnected upstream connections closed unused."};

static uint64_t sum_key(int slot, int v) {
  uint64_t t = 0;
  for (int w = 0; w < nblocks; w++)
    t += atomic_load_explicit(&blocks[w]->v[slot][v], memory_order_relaxed);
  return t;
}

static void keyed_family(sbuf *s, int kind, int v, const char *name,
                         const char *help) {
  const char *label = kind_label[kind];
  family(s, name, "counter", help);
  for (int i = 0; i < KEY_SLOTS; i++) {
    if (!atomic_load_explicit(&keys[i].used, memory_order_acquire) ||
        keys[i].kind != kind)
      continue;
    put(s, "sniroute_%s{%s=\"", name, label);
    put_label(s, keys[i].name);
    put(s, "\"} %llu\n", (unsigned long long)sum_key(i, v));
  }
}

static void histogram(sbuf *s, int h, const char *name, const char *help) {
  uint64_t cnt[NBUCKETS + 1] = {0}, sum_us = 0;
  for (int w = 0; w < nblocks; w++) {
    for (size_t i = 0; i <= NBUCKETS; i++)
      cnt[i] += atomic_load_explicit(&blocks[w]->hist[h][i],
                                     memory_order_relaxed);
    sum_us +=
        atomic_load_explicit(&blocks[w]->hsum_us[h], memory_order_relaxed);
  }
  family(s, name, "histogram", help);
  uint64_t cum = 0;
  for (size_t i = 0; i < NBUCKETS; i++) {
    cum += cnt[i];
    put(s, "sniroute_%s_bucket{le=\"%g\"} %llu\n", name,
        (double)bucket_us[i] / 1e6, (unsigned long long)cum);
  }
  cum += cnt[NBUCKETS];
  put(s, "sniroute_%s_bucket{le=\"+Inf\"} %llu\n", name,
      (unsigned long long)cum);
  put(s, "sniroute_%s_sum %.6f\n", name, (double)sum_us / 1e6);
  put(s, "sniroute_%s_count %llu\n", name, (unsigned long long)cum);
}

static void keyed(sbuf *s, int kind, const char *what) {
  char name[64], help[128];
  static const char *const suffix[V_COUNT] = {
      "connections_total", "bytes_client_to_upstream_total",
      "bytes_upstream_to_client_total", "connect_failures_total"};
  static const char *const text[V_COUNT] = {
      "Finished connections", "Bytes from clients",
      "Bytes to clients", "Connections no upstream address accepted"};
  for (int v = 0; v < V_COUNT; v++) {
    snprintf(name, sizeof name, "%s_%s", what, suffix[v]);
    snprintf(help, sizeof help, "%s, by %s.", text[v], what);
    keyed_family(s, kind, v, name, help);
  }
}

long px_metrics_sum(px_worker **ws, int nworkers, uint64_t *sums) {
  long active = 0;
  for (int k = 0; k < PXC_COUNT; k++) sums[k] = 0;
  for (int i = 0; i < nworkers; i++) {
    active += px_worker_active(ws[i]);
    for (int k = 0; k < PXC_COUNT; k++) sums[k] += px_worker_counter(ws[i], k);
  }
  return active;
}

char *px_metrics_render(px_worker **ws, int nworkers, size_t *len) {
  sbuf s = {0};
  uint64_t sums[PXC_COUNT];
  long active = px_metrics_sum(ws, nworkers, sums);
  sums[PXC_LOG_DROPPED] += px_log_dropped(); /* the logger's own drops */
  family(&s, "connections_active", "gauge", "Connections open now.");
  put(&s, "sniroute_connections_active %ld\n", active);
  long flows = 0;
  for (int i = 0; i < nworkers; i++) flows += px_quic_active(ws[i]);
  family(&s, "quic_flows_active", "gauge", "QUIC flows open now.");
  put(&s, "sniroute_quic_flows_active %ld\n", flows);
  for (int k = 0; k < PXC_COUNT; k++) {
    char name[80];
    snprintf(name, sizeof name, "%s_total", px_counter_names[k]);
    /* A counter added to log.h without a text here still gets a HELP. */
    family(&s, name, "counter",
           counter_help[k] ? counter_help[k] : "sniroute-proxy counter.");
    put(&s, "sniroute_%s %llu\n", name, (unsigned long long)sums[k]);
  }
  for (int k = 0; k < K_KINDS; k++) keyed(&s, k, kind_label[k]);
  histogram(&s, PXH_HELLO_WAIT, "hello_wait_seconds",
            "From accept to a complete ClientHello (or routing decision).");
  histogram(&s, PXH_CONNECT, "upstream_connect_seconds",
            "From the first connect attempt to a connected upstream.");
  if (s.oom) {
    free(s.p);
    return NULL;
  }
  *len = s.len;
  return s.p;
}
