/* Connection log, logger thread and counter names (log.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const px_counter_names[PXC_COUNT] = {
    "accepted",         "hellos_parsed",    "no_sni",
    "not_tls",          "bad_hello",        "too_large",
    "hello_timeouts",   "connect_timeouts", "idle_timeouts",
    "routed",           "no_route",         "connect_failures",
    "proxy_header_rejected", "accept_pauses", "bytes_client_to_upstream",
    "bytes_upstream_to_client", "log_lines_dropped", "upstream_closed_early",
    "tls_handshake_failures", "quic_flows", "quic_routed",
    "quic_no_route", "quic_hello_timeouts", "quic_idle_timeouts",
    "quic_failovers", "quic_dropped_not_initial", "quic_dropped_short_header",
    "quic_dropped_no_route", "quic_dropped_limit", "quic_datagrams_up",
    "quic_datagrams_down", "quic_bytes_up", "quic_bytes_down",
    "ja4_denied", "upstream_fastopen_syn_data",
    "upstream_fastopen_no_syn_data", "upstream_preconnect_used",
    "upstream_preconnect_discarded"};

/* ------------------------------------------------------------ formatting */
typedef struct sbuf {
  char *p;
  size_t len, cap; /* cap excludes the final '\n' */
} sbuf;

static void put(sbuf *s, const char *t, size_t n) {
  if (n > s->cap - s->len) n = s->cap - s->len;
  memcpy(s->p + s->len, t, n);
  s->len += n;
}

static void puts_(sbuf *s, const char *t) { put(s, t, strlen(t)); }

static void putu(sbuf *s, uint64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
  put(s, t, (size_t)n);
}

static const char hex[] = "0123456789ABCDEF";

/* kv: a byte is written as is when it is printable ASCII and not one of
 * the bytes that structure a line (space, '=', ',', quotes, backslash) or
 * the escape itself ('%'); anything else is %XX.  "-" stands for an absent
 * value, so a value that is "-" itself is written %2D. */
static int kv_plain(uint8_t b) {
  return b > 0x20 && b < 0x7f && b != '%' && b != '=' && b != ',' &&
         b != '"' && b != '\\' && b != '\'';
}

static void kv_value(sbuf *s, const uint8_t *v, size_t n) {
  if (n == 1 && v[0] == '-') {
    puts_(s, "%2D");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (kv_plain(v[i])) {
      put(s, (const char *)v + i, 1);
    } else {
      char e[3] = {'%', hex[v[i] >> 4], hex[v[i] & 15]};
      put(s, e, 3);
    }
  }
}

/* JSON: a string of bytes, each byte one character (U+0000..U+00FF):
 * printable ASCII as is except '"' and '\', everything else \u00XX (or
 * \n, \r, \t).  Decoding the string and encoding it as Latin-1 gives the
 * bytes back. */
static void js_value(sbuf *s, const uint8_t *v, size_t n) {
  put(s, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    uint8_t b = v[i];
    if (b == '"' || b == '\\') {
      char e[2] = {'\\', (char)b};
      put(s, e, 2);
    } else if (b == '\n') {
      put(s, "\\n", 2);
    } else if (b == '\r') {
      put(s, "\\r", 2);
    } else if (b == '\t') {
      put(s, "\\t", 2);
    } else if (b < 0x20 || b >= 0x7f) {
      char e[6] = {'\\', 'u', '0', '0', hex[b >> 4], hex[b & 15]};
      put(s, e, 6);
    } else {
      put(s, (const char *)&v[i], 1);
    }
  }
  put(s, "\"", 1);
}

/* One field: ` key=value` (kv) or `,"key":value` (JSON); v NULL or empty
 * is absent ("-" / null). */
static void field(sbuf *s, int json, const char *key, const void *v,
                  size_t n) {
  if (json) {
    puts_(s, ",\"");
    puts_(s, key);
    puts_(s, "\":");
    if (v && n)
      js_value(s, v, n);
    else
      puts_(s, "null");
  } else {
    puts_(s, " ");
    puts_(s, key);
    puts_(s, "=");
    if (v && n)
      kv_value(s, v, n);
    else
      puts_(s, "-");
  }
}

static void field_str(sbuf *s, int json, const char *key, const char *v) {
  field(s, json, key, v, v ? strlen(v) : 0);
}

static void field_num(sbuf *s, int json, const char *key, uint64_t v) {
  puts_(s, json ? ",\"" : " ");
  puts_(s, key);
  puts_(s, json ? "\":" : "=");
  putu(s, v);
}

/* ALPN: kv joins the escaped names with ',' (a ',' inside a name is
 * %2C); JSON writes an array of strings. */
static void field_alpn(sbuf *s, int json, const uint8_t *a, size_t n) {
  puts_(s, json ? ",\"alpn\":" : " alpn=");
  if (!a || !n) {
    puts_(s, json ? "null" : "-");
    return;
  }
  if (json) puts_(s, "[");
  size_t i = 0;
  int first = 1;
  while (i < n) {
    size_t l = a[i++];
    if (l > n - i) l = n - i;
    if (!first) puts_(s, ",");
    first = 0;
    if (json)
      js_value(s, a + i, l);
    else
      kv_value(s, a + i, l);
    i += l;
  }
  if (json) puts_(s, "]");
}

size_t px_log_format(const px_log_rec *r, char *out, size_t cap) {
  if (cap < 2) return 0;
  sbuf s = {out, 0, cap - 1};
  int json = r->format == PX_LOG_JSON;
  char ts[40], cl[64] = "", ua[PX_NAME_MAX + 80 + 3] = "";
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  struct tm tm;
  gmtime_r(&rt.tv_sec, &tm);
  size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", rt.tv_nsec / 1000000);
  if (r->client) px_addr_str(r->client, cl, sizeof cl);
  if (r->up)
    snprintf(ua, sizeof ua, "%s(%s)", r->up->name,
             r->up->addr_text[r->addr_i < r->up->naddrs ? r->addr_i : 0]);
  if (json) {
    puts_(&s, "{\"time\":\"");
    puts_(&s, ts);
    puts_(&s, "\",\"worker\":");
    putu(&s, (uint64_t)r->worker);
  } else {
    puts_(&s, ts);
    puts_(&s, " w");
    putu(&s, (uint64_t)r->worker);
  }
  field_str(&s, json, "id", r->id);
  field_str(&s, json, "client", cl);
  field_str(&s, json, "server", r->server);
  field(&s, json, "sni", r->sni, r->sni ? r->sni_len : 0);
  field_alpn(&s, json, r->alpn, r->alpn_len);
  field_str(&s, json, "ja4", r->ja4);
  field_str(&s, json, "ja3", r->ja3);
  field_str(&s, json, "ech", r->ech);
  if (r->quic) {
    char qv[16] = "";
    if (r->quic->version)
      snprintf(qv, sizeof qv, "0x%08lx", (unsigned long)r->quic->version);
    field_str(&s, json, "quic_version", qv);
  }
  field_str(&s, json, "route", r->route);
  field_str(&s, json, "upstream", ua);
  if (r->quic) {
    field_num(&s, json, "dgrams_up", r->quic->dgrams_up);
    field_num(&s, json, "dgrams_down", r->quic->dgrams_down);
  }
  field_num(&s, json, "bytes_up", r->bytes_up);
  field_num(&s, json, "bytes_down", r->bytes_down);
  field_num(&s, json, "ms", r->ms);
  field_str(&s, json, "verdict", r->verdict);
  if (r->hint) field_str(&s, json, "hint", r->hint);
  if (json) put(&s, "}", 1);
  out[s.len++] = '\n';
  return s.len;
}

/* ------------------------------------------------------------ rings */
#define RING_BYTES (256u * 1024) /* per worker, a power of two */
#define MAX_RINGS 256            /* worker ids 0..255 */
#define BATCH 4096               /* one write; PIPE_BUF keeps it whole */
#define FLUSH_MS 2000            /* at close, for a target not taking it */
/* After writing, the logger looks again NAP_MS later before it sleeps
 * until kicked: lines come in streams, and a kick per line costs the
 * worker a system call and, on its CPU, a context switch each (measured:
 * about 10 us per connection at 3,000 connections/s on one core).  A
 * ring past RING_KICK bytes is kicked for at once, napping or not. */
#define NAP_MS 10
#define RING_KICK (RING_BYTES / 4)

typedef struct ring {
  _Alignas(64) atomic_size_t head; /* written by the worker */
  _Alignas(64) atomic_size_t tail; /* written by the logger */
  _Alignas(64) char data[RING_BYTES];
} ring;

enum { OUT_FILE, OUT_POLL, OUT_SOCK };

static struct {
  int fd, kind;     /* the logger's (main's before start and after stop) */
  char path[256];   /* file target, "" for stderr/stdout */
  int wake;         /* eventfd: new lines, a reopen, stop */
  int running;
  pthread_t th;
  atomic_int sleeping, stop;
  atomic_int newfd; /* a reopened file for the logger to take, or -1 */
  _Atomic uint64_t dropped;
  _Atomic(ring *) rings[MAX_RINGS];
} L = {.fd = -1, .wake = -1, .newfd = -1};

static int out_kind(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
    return OUT_FILE;
  return S_ISSOCK(st.st_mode) ? OUT_SOCK : OUT_POLL;
}

static uint64_t count_lines(const char *p, size_t n) {
  uint64_t k = 0;
  for (size_t i = 0; i < n; i++) k += p[i] == '\n';
  return k;
}

static void drop(const char *p, size_t n) {
  atomic_fetch_add_explicit(&L.dropped, count_lines(p, n),
                            memory_order_relaxed);
}

static void kick(void) {
  uint64_t one = 1;
  if (write(L.wake, &one, sizeof one) < 0) {
  }
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Copies whole lines from the rings into b (round robin from *start);
 * returns the bytes taken. */
static size_t gather(char *b, size_t cap, int *start) {
  size_t n = 0;
  for (int k = 0; k < MAX_RINGS && n < cap; k++) {
    int i = (*start + k) % MAX_RINGS;
    ring *r = atomic_load_explicit(&L.rings[i], memory_order_acquire);
    if (!r) continue;
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t avail = h - t, take = avail < cap - n ? avail : cap - n;
    if (!take) continue;
    size_t off = t % RING_BYTES, first = RING_BYTES - off;
    if (first > take) first = take;
    memcpy(b + n, r->data + off, first);
    memcpy(b + n + first, r->data, take - first);
    if (take < avail) { /* cut after the last whole line */
      while (take && b[n + take - 1] != '\n') take--;
      if (!take) break; /* cannot happen: lines are <= BATCH */
    }
    n += take;
    atomic_store_explicit(&r->tail, t + take, memory_order_release);
  }
  *start = (*start + 1) % MAX_RINGS;
  return n;
}

static int rings_empty(void) {
  for (int i = 0; i < MAX_RINGS; i++) {
    ring *r = atomic_load_explicit(&L.rings[i], memory_order_acquire);
    if (r && atomic_load(&r->head) != atomic_load(&r->tail)) return 0;
  }
  return 1;
}

static void take_newfd(void) {
  int nf = atomic_exchange(&L.newfd, -1);
  if (nf < 0) return;
  if (L.fd > STDERR_FILENO) close(L.fd);
  L.fd = nf;
  L.kind = out_kind(nf);
}

/* Logger thread only: once stopping, when it gives up on a target that
 * does not take what is left. */
static uint64_t flush_deadline;

static int past_deadline(void) {
  if (!atomic_load(&L.stop)) return 0;
  if (!flush_deadline) flush_deadline = mono_ms() + FLUSH_MS;
  return mono_ms() >= flush_deadline;
}

/* Writes p[0, n) to the target.  Waits for a pipe, terminal or socket to
 * take it rather than blocking in write(); once stopping, only until the
 * flush deadline.  Lines that cannot be written are dropped (counted). */
static void out(const char *p, size_t n) {
  while (n > 0) {
    if (L.kind != OUT_FILE) {
      struct pollfd pf[2] = {{.fd = L.fd, .events = POLLOUT},
                             {.fd = L.wake, .events = POLLIN}};
      int timeout = -1;
      if (atomic_load(&L.stop)) {
        if (past_deadline()) break;
        uint64_t now = mono_ms(), deadline = flush_deadline;
        if (now >= deadline) break;
        timeout = (int)(deadline - now);
      }
      int r = poll(pf, 2, timeout);
      if (r < 0 && errno != EINTR) break;
      if (pf[1].revents & POLLIN) {
        uint64_t v;
        if (read(L.wake, &v, sizeof v) < 0) {
        }
      }
      if (!(pf[0].revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)))
        continue;
    }
    long k = L.kind == OUT_SOCK
                 ? (long)send(L.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
                 : (long)write(L.fd, p, n);
    if (k > 0) {
      p += k;
      n -= (size_t)k;
      continue;
    }
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    break; /* EPIPE, ENOSPC, EBADF...: these lines are lost */
  }
  if (n) drop(p, n);
}

static void *logger_main(void *arg) {
  (void)arg;
  static char batch[BATCH];
  int start = 0, napped = 0;
  for (;;) {
    take_newfd();
    size_t n = gather(batch, sizeof batch, &start);
    if (n) {
      napped = 0;
      if (past_deadline())
        drop(batch, n);
      else
        out(batch, n);
      continue;
    }
    if (atomic_load(&L.stop)) break;
    if (!napped) {
      napped = 1;
      struct pollfd pf = {.fd = L.wake, .events = POLLIN};
      if (poll(&pf, 1, NAP_MS) > 0) {
        uint64_t v;
        if (read(L.wake, &v, sizeof v) < 0) {
        }
      }
      continue;
    }
    napped = 0;
    /* Sleep until a worker appends to an empty ring: it sees `sleeping`
     * (the fences pair with px_log_conn()'s) and kicks the eventfd. */
    atomic_store(&L.sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (!rings_empty() || atomic_load(&L.newfd) >= 0 ||
        atomic_load(&L.stop)) {
      atomic_store(&L.sleeping, 0);
      continue;
    }
    struct pollfd pf = {.fd = L.wake, .events = POLLIN};
    if (poll(&pf, 1, 1000) > 0) {
      uint64_t v;
      if (read(L.wake, &v, sizeof v) < 0) {
      }
    }
    atomic_store(&L.sleeping, 0);
  }
  return NULL;
}

/* ------------------------------------------------------------ target */
void px_log_open(const char *target) {
  L.path[0] = 0;
  if (strcmp(target, "off") == 0 || strcmp(target, "none") == 0) {
    L.fd = -1;
    return;
  } else if (strcmp(target, "stderr") == 0) {
    L.fd = STDERR_FILENO;
  } else if (strcmp(target, "stdout") == 0) {
    L.fd = STDOUT_FILENO;
  } else {
    L.fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (L.fd < 0) {
      fprintf(stderr, "sniroute-proxy: log %s: %s (logging to stderr)\n",
              target, strerror(errno));
      L.fd = STDERR_FILENO;
    } else {
      snprintf(L.path, sizeof L.path, "%s", target);
    }
  }
  L.kind = out_kind(L.fd);
  atomic_store(&L.stop, 0);
  L.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (L.wake >= 0 && pthread_create(&L.th, NULL, logger_main, NULL) == 0) {
    L.running = 1;
    return;
  }
  fprintf(stderr, "sniroute-proxy: cannot start the logger: %s (log off)\n",
          strerror(errno));
  if (L.wake >= 0) close(L.wake);
  L.wake = -1;
  if (L.fd > STDERR_FILENO) close(L.fd);
  L.fd = -1;
}

int px_log_reopen(void) {
  if (!L.running || !L.path[0]) return 0;
  int fd = open(L.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    fprintf(stderr, "sniroute-proxy: reopening log %s: %s (still logging "
                    "to the old file)\n", L.path, strerror(errno));
    return -1;
  }
  /* The logger swaps it in between two writes and closes the old one: no
   * line is split, and nobody else ever writes the old descriptor.  A
   * reopen the logger has not taken yet is simply replaced. */
  int old = atomic_exchange(&L.newfd, fd);
  if (old >= 0) close(old);
  kick();
  return 0;
}

void px_log_close(void) {
  if (L.running) {
    atomic_store(&L.stop, 1);
    kick();
    /* The logger gives up after FLUSH_MS; a regular file on a hung disk
     * could still hold it in write(): then leave it (the process ends). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FLUSH_MS / 1000 + 2;
    if (pthread_timedjoin_np(L.th, NULL, &until) != 0) {
      L.running = 0;
      return;
    }
    L.running = 0;
    take_newfd();
    close(L.wake);
    L.wake = -1;
    for (int i = 0; i < MAX_RINGS; i++) {
      free(atomic_load(&L.rings[i]));
      atomic_store(&L.rings[i], NULL);
    }
  }
  if (L.fd > STDERR_FILENO) close(L.fd);
  L.fd = -1;
}

int px_log_enabled(void) { return L.running; }

uint64_t px_log_dropped(void) {
  return atomic_load_explicit(&L.dropped, memory_order_relaxed);
}

int px_log_conn(const px_log_rec *r) {
  if (!L.running) return 0;
  if (r->worker < 0 || r->worker >= MAX_RINGS) return -1;
  ring *q = atomic_load_explicit(&L.rings[r->worker], memory_order_relaxed);
  if (!q) { /* only this worker's thread creates its ring */
    q = aligned_alloc(64, sizeof *q);
    if (!q) return -1;
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    atomic_store_explicit(&L.rings[r->worker], q, memory_order_release);
  }
  char line[PX_LOG_LINE_MAX];
  size_t n = px_log_format(r, line, sizeof line);
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
  if (RING_BYTES - (h - t) < n) return -1; /* full: dropped */
  size_t off = h % RING_BYTES, first = RING_BYTES - off;
  if (first > n) first = n;
  memcpy(q->data + off, line, first);
  memcpy(q->data, line + first, n - first);
  atomic_store_explicit(&q->head, h + n, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst);
  /* A sleeping logger is kicked; a napping one only when this line
   * fills the ring past RING_KICK (NAP_MS). */
  if (atomic_exchange(&L.sleeping, 0) ||
      (h - t + n >= RING_KICK && h - t < RING_KICK))
    kick();
  return 0;
}

void px_log_counters(long active, const uint64_t sums[PXC_COUNT]) {
  char out[2048];
  size_t len = 0;
  len += (size_t)snprintf(out + len, sizeof out - len,
                          "sniroute-proxy counters: active=%ld", active);
  for (int k = 0; k < PXC_COUNT && len < sizeof out; k++) {
    uint64_t v = sums[k] + (k == PXC_LOG_DROPPED ? px_log_dropped() : 0);
    len += (size_t)snprintf(out + len, sizeof out - len, " %s=%llu",
                            px_counter_names[k], (unsigned long long)v);
  }
  if (len > sizeof out - 1) len = sizeof out - 1;
  out[len++] = '\n';
  /* Signals are taken on this thread: a stderr nobody reads must not
   * hold it. */
  struct pollfd pf = {.fd = STDERR_FILENO, .events = POLLOUT};
  if (poll(&pf, 1, 200) == 1 && (pf.revents & POLLOUT) &&
      write(STDERR_FILENO, out, len) < 0) {
  }
}
