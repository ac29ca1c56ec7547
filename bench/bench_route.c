/* sniroute-bench-route: build and lookup cost of the router at 1k, 100k
 * and 1M routes, against a simple baseline (sorted array of reversed
 * names, one binary search per level) timed in the same run.
 *
 * Usage: sniroute-bench-route [N ...]   (default: 1000 100000 1000000)
 *
 * Table mix: 70% exact names, 25% wildcards (half `*.s`, half `.s`), 5%
 * tail wildcards; 5% of the exact and wildcard names get a second,
 * ALPN-qualified route (acme-tls/1).  Queries: half hits (a name each route
 * matches), half misses (random labels under common TLDs, which walk every
 * level), shuffled.  Names are 2-5 labels of 3-12 random letters.
 *
 * Timing: CLOCK_MONOTONIC around batches of 16 consecutive lookups, minus
 * the measured cost of an empty timed batch, divided by 16; p50/p99 are
 * over batches; each figure is the median of 5 rounds over the queries.
 * The batch's query names are read before its timer starts: a server
 * routes a name it has just parsed, which is in cache; the router's own
 * tables are not warmed.
 *
 * Yardstick: at 1M routes the run also times one dependent DRAM load (a
 * pointer chase over 256 MB from malloc, the yardstick) and prints
 * the router's p50 and p99 as multiples of it on the routes=1000000 line,
 * with the p50 of 8-label misses over that of 2-label misses (the median
 * of per-round ratios, the label sets measured in turn).  The router's
 * own tables sit on transparent huge pages (default allocator, Linux), so
 * the same chase on huge pages is printed too (dram_load_huge_ns): against
 * it a lookup is compared with a load that takes no page walk either. */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdatomic.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "parser_util.h"
#include "sniroute.h"
#include "xorshift.h"

#define BATCH 16
#define DEFAULT_TARGET ((void *)~(uintptr_t)0)
#define ROUNDS 5

static uint64_t rnd_state = 0x243F6A8885A308D3u;
static uint64_t rnd(void) { return sni_xorshift64(&rnd_state); }

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- a string pool -------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
  size_t *off;
  size_t n, ncap;
} pool;

static const char *pool_add(pool *p, const char *s) {
  size_t l = strlen(s) + 1;
  if (p->len + l > p->cap) {
    p->cap = (p->cap + l) * 2;
    p->buf = realloc(p->buf, p->cap);
  }
  if (p->n == p->ncap) {
    p->ncap = p->ncap ? p->ncap * 2 : 1024;
    p->off = realloc(p->off, p->ncap * sizeof *p->off);
  }
  if (!p->buf || !p->off) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  memcpy(p->buf + p->len, s, l);
  p->off[p->n++] = p->len;
  p->len += l;
  return p->buf + p->len - l;
}
static const char *pool_get(const pool *p, size_t i) {
  return p->buf + p->off[i];
}
static void pool_free(pool *p) {
  free(p->buf);
  free(p->off);
  memset(p, 0, sizeof *p);
}

static void rlabel(char *out) {
  size_t n = 3 + rnd() % 10;
  for (size_t i = 0; i < n; i++) out[i] = (char)('a' + rnd() % 26);
  out[n] = 0;
}

static const char *const tlds[] = {"com", "net", "org", "io", "co.uk"};

/* A random domain `l1...lk.tld` with nl labels before the TLD.  With
 * uniq != 0 the last label before the TLD ends in a unique base-26 tag,
 * so route literals never clash. */
static void rdomain_u(char *out, int nl, size_t uniq) {
  out[0] = 0;
  char l[40];
  for (int i = 0; i < nl; i++) {
    rlabel(l);
    if (uniq && i == nl - 1) {
      size_t u = uniq, k = strlen(l);
      while (u) {
        l[k++] = (char)('a' + u % 26);
        u /= 26;
      }
      l[k] = 0;
    }
    strcat(out, l);
    strcat(out, ".");
  }
  strcat(out, tlds[rnd() % 5]);
}
static void rdomain(char *out, int nl) { rdomain_u(out, nl, 0); }

/* ---- the baseline: sorted reversed names, binary search per level ---- */

typedef struct {
  const char *key; /* reversed literal, with a kind byte in front */
  void *target;
} bentry;

static int bcmp_entry(const void *a, const void *b) {
  return strcmp(((const bentry *)a)->key, ((const bentry *)b)->key);
}

static void *bfind(const bentry *v, size_t n, const char *key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid].key, key);
    if (c == 0) return v[mid].target;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* Exact, then suffixes longest first (for the whole name only `.s`), then
 * tail prefixes longest first: the router's order, without ALPN. */
static void *baseline_match(const bentry *v, size_t n, const char *name,
                            size_t len) {
  char nm[300], key[300];
  if (len && name[len - 1] == '.') len--;
  if (len == 0 || len > 253) return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    nm[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
  }
  /* reversed name with a kind byte: key = K + reverse(nm) */
  key[0] = 'E';
  for (size_t i = 0; i < len; i++) key[1 + i] = nm[len - 1 - i];
  key[1 + len] = 0;
  void *t = bfind(v, n, key);
  if (t) return t;
  key[0] = 'D';
  if ((t = bfind(v, n, key))) return t; /* `.name` */
  for (size_t i = len; i-- > 0;) {
    if (nm[i] != '.') continue;
    /* suffix after this dot: reversed it is the first len-1-i bytes */
    char save = key[1 + len - 1 - i];
    key[1 + len - 1 - i] = 0;
    key[0] = 'D';
    t = bfind(v, n, key);
    if (!t) {
      key[0] = 'S';
      t = bfind(v, n, key);
    }
    key[1 + len - 1 - i] = save;
    if (t) return t;
  }
  key[0] = 'T';
  for (size_t i = len; i-- > 0;) {
    if (nm[i] != '.') continue;
    memcpy(key + 1, nm, i);
    key[1 + i] = 0;
    if ((t = bfind(v, n, key))) return t;
  }
  return NULL;
}

/* ---- measurement ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  const char **q;
  size_t *ql;
  size_t n;
} qset;

static double timer_overhead(void) {
  double best[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    double s[1000];
    for (int i = 0; i < 1000; i++) {
      double t0 = now_ns();
      double t1 = now_ns();
      s[i] = t1 - t0;
    }
    qsort(s, 1000, sizeof *s, cmp_double);
    best[r] = s[500];
  }
  qsort(best, ROUNDS, sizeof *best, cmp_double);
  return best[ROUNDS / 2];
}

static volatile uintptr_t sink;

/* Let the loads that warm a batch finish before its timer starts: without
 * this, their misses are still in flight inside the timed region. */
static void settle(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("mfence\n\tlfence" ::: "memory");
#else
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* What a timed batch needs: the router (NULL: the baseline), the
 * queries, and for lookups from hellos, their builders and results. */
typedef struct bctx {
  const sni_router *r;
  const bentry *bv;
  size_t bn;
  const qset *qs;
  buf ext, wire;
  sni_hello hs[BATCH];
  int rc[BATCH];
} bctx;

/* One batch of string lookups (or the baseline's); ns for the batch.  A
 * server routes a name it has just parsed: the batch's names are brought
 * into cache first, so the query fetch is not timed. */
static double batch_names(bctx *c, size_t b) {
  static const uint8_t alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/',
                                 '1', '.', '1'};
  const char **q = c->qs->q + b * BATCH;
  const size_t *ql = c->qs->ql + b * BATCH;
  uintptr_t acc = 0;
  for (int i = 0; i < BATCH; i++)
    for (size_t j = 0; j < ql[i]; j += 16) acc += (uintptr_t)q[i][j];
  for (int i = 0; i < BATCH; i++) acc += (uintptr_t)q[i][ql[i] - 1];
  settle();
  double t0 = now_ns();
  if (c->r) {
    for (int i = 0; i < BATCH; i++) {
      void *t;
      sni_router_match(c->r, q[i], ql[i], alpn, sizeof alpn, &t);
      acc += (uintptr_t)t;
    }
  } else {
    for (int i = 0; i < BATCH; i++)
      acc += (uintptr_t)baseline_match(c->bv, c->bn, q[i], ql[i]);
  }
  double t1 = now_ns();
  sink += acc;
  return t1 - t0;
}

/* The same lookups from a parsed hello, as sniroute-proxy makes them: the
 * batch's names go into ClientHellos (SNI, ALPN h2,http/1.1, TLS 1.3)
 * parsed routing-only before the timer starts, which covers only
 * sni_router_match_hello() (it takes the parser's classified, lowercased
 * name as it is). */
static double batch_hellos(bctx *c, size_t b) {
  static const char *const alpn[] = {"h2", "http/1.1"};
  static const uint16_t tls13 = 0x0304;
  static const sni_limits routing = {0, 0, SNI_PARSE_ROUTING_ONLY};
  for (size_t i = 0; i < BATCH; i++) {
    b_reset(&c->ext);
    b_reset(&c->wire);
    ext_sni_n(&c->ext, c->qs->q[b * BATCH + i], c->qs->ql[b * BATCH + i]);
    ext_alpn(&c->ext, alpn, 2);
    ext_u16list(&c->ext, SNI_EXT_SUPPORTED_VERSIONS, 1, &tls13, 1);
    hello_spec spec = {.exts = &c->ext};
    build_wire(&c->wire, &spec);
    c->rc[i] = sni_parse_ex(&c->hs[i], c->wire.p, c->wire.n, &routing);
  }
  settle();
  uintptr_t acc = 0;
  double t0 = now_ns();
  for (int i = 0; i < BATCH; i++) {
    void *t;
    sni_router_match_hello(c->r, &c->hs[i], c->rc[i], &t);
    acc += (uintptr_t)t;
  }
  double t1 = now_ns();
  sink += acc;
  return t1 - t0;
}

/* p50 and p99 per lookup over the batches of c's queries, timed by fn;
 * median over `rounds` rounds (at most ROUNDS). */
static void measure_with(double (*fn)(bctx *, size_t), bctx *c, double ovh,
                         int rounds, double *p50, double *p99) {
  size_t nb = c->qs->n / BATCH;
  double *s = malloc(nb * sizeof *s);
  double r50[ROUNDS], r99[ROUNDS];
  for (int round = 0; round < rounds; round++) {
    for (size_t b = 0; b < nb; b++) s[b] = (fn(c, b) - ovh) / BATCH;
    qsort(s, nb, sizeof *s, cmp_double);
    r50[round] = s[nb / 2];
    r99[round] = s[nb * 99 / 100];
  }
  qsort(r50, (size_t)rounds, sizeof *r50, cmp_double);
  qsort(r99, (size_t)rounds, sizeof *r99, cmp_double);
  *p50 = r50[rounds / 2];
  *p99 = r99[rounds / 2];
  free(s);
}

static void measure_n(const sni_router *r, const bentry *bv, size_t bn,
                      const qset *qs, double ovh, int rounds, double *p50,
                      double *p99) {
  static bctx c;
  c.r = r;
  c.bv = bv;
  c.bn = bn;
  c.qs = qs;
  measure_with(batch_names, &c, ovh, rounds, p50, p99);
}

static void measure(const sni_router *r, const bentry *bv, size_t bn,
                    const qset *qs, double ovh, double *p50, double *p99) {
  measure_n(r, bv, bn, qs, ovh, ROUNDS, p50, p99);
}

static void measure_hello(const sni_router *r, const qset *qs, double ovh,
                          double *p50, double *p99) {
  static bctx c;
  c.r = r;
  c.qs = qs;
  measure_with(batch_hellos, &c, ovh, ROUNDS, p50, p99);
  b_free(&c.ext);
  b_free(&c.wire);
}

/* ---- the yardstick: one dependent DRAM load ------------------------- */

#define CHASE_BYTES ((size_t)256 << 20)
#define CHASE_LINE 64
#define CHASE_LOADS 200000
#define CHASE_ROUNDS 9

/* Memory for the chase: from malloc like the router's tables under a
 * caller's allocator (4 KiB pages unless THP is "always"), or huge: 2 MiB
 * aligned and advised for transparent huge pages, like the router's own
 * tables with the default allocator. */
static void **chase_alloc(int huge) {
#if defined(MADV_HUGEPAGE)
  if (huge) {
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, CHASE_BYTES) != 0) return NULL;
    (void)madvise(p, CHASE_BYTES, MADV_HUGEPAGE);
    return p;
  }
#else
  (void)huge;
#endif
  return malloc(CHASE_BYTES);
}

/* Median ns of one load in a pointer chase over CHASE_BYTES: one pointer
 * per cache line, the lines linked in one random cycle (Sattolo), so every
 * load depends on the one before and lands on a line the cache does not
 * hold (and, with 4 KiB pages, a page the TLB does not hold). */
static double dram_load_ns(int huge) {
  size_t n = CHASE_BYTES / CHASE_LINE, stride = CHASE_LINE / sizeof(void *);
  void **mem = chase_alloc(huge);
  size_t *perm = malloc(n * sizeof *perm);
  if (!mem || !perm) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n - 1; i > 0; i--) { /* Sattolo: one cycle over all */
    size_t j = (size_t)(rnd() % i);
    size_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (size_t i = 0; i < n; i++)
    mem[perm[i] * stride] = &mem[perm[(i + 1) % n] * stride];
  free(perm);
  void **p = &mem[0];
  for (size_t i = 0; i < CHASE_LOADS; i++) p = (void **)*p; /* warm TLB walk caches */
  double r[CHASE_ROUNDS];
  for (int k = 0; k < CHASE_ROUNDS; k++) {
    double t0 = now_ns();
    for (size_t i = 0; i < CHASE_LOADS; i++) p = (void **)*p;
    r[k] = (now_ns() - t0) / CHASE_LOADS;
  }
  sink += (uintptr_t)p;
  free(mem);
  qsort(r, CHASE_ROUNDS, sizeof *r, cmp_double);
  return r[CHASE_ROUNDS / 2];
}

static void shuffle(qset *qs) {
  for (size_t i = qs->n; i > 1; i--) {
    size_t j = (size_t)(rnd() % i);
    const char *t = qs->q[i - 1];
    qs->q[i - 1] = qs->q[j];
    qs->q[j] = t;
    size_t l = qs->ql[i - 1];
    qs->ql[i - 1] = qs->ql[j];
    qs->ql[j] = l;
  }
}

typedef struct {
  size_t routes;
  double p50, p99, build_s, bpr, b50, b99;
  /* 1M routes only, else 0 */
  double dram, dram_huge, l2_p50, l8_p50, l8_over_l2;
  double h50, h99; /* from a parsed hello */
} result;

/* Misses of 2, 4, 8 and 16 labels, measured round by round in turn (one
 * round of each set, then the next round), so that a change in the
 * machine's load between sets moves all of them: p50 and p99 per set are
 * medians over rounds, and the 8-over-2 ratio is the median of the
 * rounds' ratios. */
static void label_costs(const sni_router *r, size_t n, double ovh,
                        result *res) {
  enum { SETS = 4 };
  static const int labels[SETS] = {1, 3, 7, 15}; /* before the TLD */
  size_t m = 100000 - 100000 % BATCH;
  pool lq[SETS];
  qset q[SETS];
  char text[300];
  memset(lq, 0, sizeof lq);
  for (int k = 0; k < SETS; k++) {
    q[k] = (qset){malloc(m * sizeof(char *)), malloc(m * sizeof(size_t)), m};
    for (size_t i = 0; i < m; i++) {
      rdomain(text, labels[k]);
      pool_add(&lq[k], text);
    }
    for (size_t i = 0; i < m; i++) {
      q[k].q[i] = pool_get(&lq[k], i);
      q[k].ql[i] = strlen(q[k].q[i]);
    }
  }
  double p50[SETS][ROUNDS], p99[SETS][ROUNDS], ratio[ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    for (int k = 0; k < SETS; k++)
      measure_n(r, NULL, 0, &q[k], ovh, 1, &p50[k][round], &p99[k][round]);
    ratio[round] = p50[2][round] / p50[0][round];
  }
  for (int k = 0; k < SETS; k++) {
    qsort(p50[k], ROUNDS, sizeof(double), cmp_double);
    qsort(p99[k], ROUNDS, sizeof(double), cmp_double);
    printf("# routes=%zu miss labels=%d p50=%.1f p99=%.1f ns\n", n,
           labels[k] + 1, p50[k][ROUNDS / 2], p99[k][ROUNDS / 2]);
    free(q[k].q);
    free(q[k].ql);
    pool_free(&lq[k]);
  }
  qsort(ratio, ROUNDS, sizeof *ratio, cmp_double);
  res->l2_p50 = p50[0][ROUNDS / 2];
  res->l8_p50 = p50[2][ROUNDS / 2];
  res->l8_over_l2 = ratio[ROUNDS / 2];
}

static result run(size_t n) {
  result res = {0};
  pool pats = {0}, queries = {0}, bkeys = {0};
  char name[300], text[300];
  int *kind = malloc(n * sizeof *kind);
  /* patterns */
  size_t nroutes = 0, nalpn = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned k = (unsigned)(rnd() % 100);
    int nl = 1 + (int)(rnd() % 3);
    rdomain_u(name, nl, i + 1);
    if (k < 70) {
      kind[i] = 0;
      snprintf(text, sizeof text, "%s", name);
    } else if (k < 95) {
      kind[i] = k < 82 ? 1 : 2;
      snprintf(text, sizeof text, "%s%s", kind[i] == 1 ? "*." : ".", name);
    } else {
      kind[i] = 3;
      /* the tail prefix: the domain without its TLD */
      char *dot = strrchr(name, '.');
      if (strcmp(name + strlen(name) - 6, ".co.uk") == 0)
        dot = name + strlen(name) - 6;
      *dot = 0;
      snprintf(text, sizeof text, "%s.*", name);
    }
    pool_add(&pats, text);
  }
  /* build */
  double t0 = now_ns();
  sni_router *r = NULL;
  if (sni_router_create(&r, NULL)) exit(1);
  static const char *const acme[] = {"acme-tls/1"};
  for (size_t i = 0; i < n; i++) {
    const char *p = pool_get(&pats, i);
    /* distinct targets so a wrong answer could be told apart */
    int rc = sni_router_add(r, p, NULL, 0, (void *)(uintptr_t)(i + 1));
    if (rc == 0 && kind[i] < 3 && i % 20 == 7)
      rc = sni_router_add(r, p, acme, 1, (void *)(uintptr_t)(i + 1 + n));
    if (rc == 0 && kind[i] < 3 && i % 20 == 7) nalpn++;
    if (rc) {
      fprintf(stderr, "add %s: %s\n", p, sni_router_errmsg(r));
      exit(1);
    }
  }
  sni_router_add_special(r, SNI_ROUTE_DEFAULT, NULL, 0, DEFAULT_TARGET);
  int crc = sni_router_compile(r);
  double t1 = now_ns();
  if (crc) {
    fprintf(stderr, "compile: %s\n", sni_router_errmsg(r));
    exit(1);
  }
  nroutes = n + nalpn + 1;
  res.routes = n;
  res.build_s = (t1 - t0) / 1e9;
  sni_router_stats st;
  sni_router_get_stats(r, &st);
  res.bpr = (double)(st.bytes - st.name_bytes) / (double)nroutes;

  /* baseline: same routes */
  bentry *bv = malloc(n * sizeof *bv);
  for (size_t i = 0; i < n; i++) {
    const char *p = pool_get(&pats, i);
    const char *lit = p;
    size_t l = strlen(p);
    char kc = 'E';
    if (kind[i] == 1) { lit += 2; l -= 2; kc = 'S'; }
    if (kind[i] == 2) { lit += 1; l -= 1; kc = 'D'; }
    text[0] = kc;
    if (kind[i] == 3) {
      text[0] = 'T';
      memcpy(text + 1, p, l - 2);
      text[l - 1] = 0;
    } else {
      for (size_t j = 0; j < l; j++) text[1 + j] = lit[l - 1 - j];
      text[1 + l] = 0;
    }
    pool_add(&bkeys, text);
  }
  for (size_t i = 0; i < n; i++) {
    bv[i].key = pool_get(&bkeys, i);
    bv[i].target = (void *)(uintptr_t)(i + 1);
  }
  qsort(bv, n, sizeof *bv, bcmp_entry);

  /* queries: half hits, half misses */
  size_t nq = n < 200000 ? 200000 : n;
  nq -= nq % BATCH;
  for (size_t i = 0; i < nq; i++) {
    if (i % 2 == 0) {
      size_t j = (size_t)(rnd() % n);
      const char *p = pool_get(&pats, j);
      char l[16];
      rlabel(l);
      switch (kind[j]) {
      case 0: snprintf(text, sizeof text, "%s", p); break;
      case 1: snprintf(text, sizeof text, "%s%s", l, p + 1); break;
      case 2: snprintf(text, sizeof text, "%s%s", l, p); break;
      default:
        snprintf(text, sizeof text, "%.*s%s", (int)(strlen(p) - 1), p,
                 tlds[rnd() % 5]);
        break;
      }
    } else {
      rdomain(text, 1 + (int)(rnd() % 3));
    }
    pool_add(&queries, text);
  }
  qset qs = {malloc(nq * sizeof(char *)), malloc(nq * sizeof(size_t)), nq};
  for (size_t i = 0; i < nq; i++) {
    qs.q[i] = pool_get(&queries, i);
    qs.ql[i] = strlen(qs.q[i]);
  }
  shuffle(&qs);
  /* the two must agree on the ALPN-free part of the answer */
  size_t disagree = 0;
  for (size_t i = 0; i < nq && i < 100000; i++) {
    void *t;
    sni_router_match(r, qs.q[i], qs.ql[i], NULL, 0, &t);
    void *b = baseline_match(bv, n, qs.q[i], qs.ql[i]);
    if ((b ? b : DEFAULT_TARGET) != t) disagree++;
  }
  double ovh = timer_overhead();
  /* the yardstick is taken before and after the router's timings, with
   * the router's memory allocated, and averaged */
  double dram0 = n >= 1000000 ? dram_load_ns(0) : 0;
  double huge0 = n >= 1000000 ? dram_load_ns(1) : 0;
  measure(r, NULL, 0, &qs, ovh, &res.p50, &res.p99);
  measure(NULL, bv, n, &qs, ovh, &res.b50, &res.b99);
  printf("# routes=%zu (+%zu ALPN-qualified, +default) entries=%zu "
         "bytes=%zu name_bytes=%zu queries=%zu timer_overhead_ns=%.1f "
         "baseline_disagreements=%zu\n",
         n, nalpn, st.entries, st.bytes, st.name_bytes, nq, ovh, disagree);
  printf("# routes=%zu router p50=%.1f p99=%.1f ns  baseline p50=%.1f "
         "p99=%.1f ns  baseline/router p50 ratio=%.2f\n",
         n, res.p50, res.p99, res.b50, res.b99, res.b50 / res.p50);
  measure_hello(r, &qs, ovh, &res.h50, &res.h99);
  printf("# routes=%zu router from a parsed hello p50=%.1f p99=%.1f ns\n", n,
         res.h50, res.h99);

  if (n >= 1000000) label_costs(r, n, ovh, &res);
  if (n >= 1000000) {
    double dram1 = dram_load_ns(0), huge1 = dram_load_ns(1);
    res.dram = (dram0 + dram1) / 2;
    res.dram_huge = (huge0 + huge1) / 2;
    printf("# routes=%zu dram_load_ns before=%.1f after=%.1f; on huge "
           "pages before=%.1f after=%.1f\n", n, dram0, dram1, huge0, huge1);
  }
  fflush(stdout);
  free(qs.q);
  free(qs.ql);
  free(bv);
  free(kind);
  pool_free(&pats);
  pool_free(&queries);
  pool_free(&bkeys);
  sni_router_free(r);
  return res;
}

int main(int argc, char **argv) {
  size_t sizes[8] = {1000, 100000, 1000000};
  int ns = 3;
  if (argc > 1) {
    ns = 0;
    for (int i = 1; i < argc && ns < 8; i++)
      sizes[ns++] = (size_t)strtoull(argv[i], NULL, 10);
  }
  printf("# sniroute-bench-route: lookups of half hits / half misses, "
         "client ALPN h2,http/1.1\n"
         "# method: CLOCK_MONOTONIC around batches of %d lookups minus the "
         "empty-batch timer overhead, per lookup = batch/%d; p50/p99 over "
         "batches, median of %d rounds; each batch's query names are read "
         "before its timer starts (a just-parsed name is in cache)\n"
         "# baseline: sorted array of reversed names, binary search per "
         "level (exact, each suffix, each tail prefix), no ALPN\n"
         "# bytes_per_route: router memory minus name bytes, per route "
         "(ALPN and default routes counted)\n",
         BATCH, BATCH, ROUNDS);
  result res[8];
  for (int i = 0; i < ns; i++) res[i] = run(sizes[i]);
  for (int i = 0; i < ns; i++) {
    printf("routes=%zu lookup_p50_ns=%.1f lookup_p99_ns=%.1f build_s=%.3f "
           "bytes_per_route=%.1f baseline_p50_ns=%.1f",
           res[i].routes, res[i].p50, res[i].p99, res[i].build_s, res[i].bpr,
           res[i].b50);
    if (res[i].dram > 0)
      printf(" dram_load_ns=%.1f p50_over_dram=%.2f (goal <= 1.3) "
             "p99_over_dram=%.2f (goal <= 3) miss_p50_8_over_2_labels=%.2f "
             "(goal <= 1.5) dram_load_huge_ns=%.1f p50_over_dram_huge=%.2f "
             "p99_over_dram_huge=%.2f hello_p50_ns=%.1f hello_p99_ns=%.1f "
             "hello_p50_over_dram=%.2f hello_p99_over_dram=%.2f",
             res[i].dram, res[i].p50 / res[i].dram, res[i].p99 / res[i].dram,
             res[i].l8_over_l2, res[i].dram_huge, res[i].p50 / res[i].dram_huge,
             res[i].p99 / res[i].dram_huge, res[i].h50, res[i].h99,
             res[i].h50 / res[i].dram, res[i].h99 / res[i].dram);
    printf("\n");
  }
  return 0;
}
