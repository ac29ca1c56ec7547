/* The routing table: build-time pattern checks and grouping, then a frozen
 * flat open-addressing table that lookups read without locks or
 * allocation.  Semantics are the table in include/sniroute.h. */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#endif
#include "sniroute.h"
#include "hostname.h"
#include "router_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* ---- allocation ------------------------------------------------------- */

static void *sni_default_alloc(void *ctx, size_t n) {
  (void)ctx;
  return malloc(n);
}
static void sni_default_free(void *ctx, void *p, size_t n) {
  (void)ctx;
  (void)n;
  free(p);
}

void *sni_rt_alloc(const sni_allocator *a, size_t n) {
  return a->alloc(a->ctx, n ? n : 1);
}
void sni_rt_free(const sni_allocator *a, void *p, size_t n) {
  if (p) a->free(a->ctx, p, n ? n : 1);
}

int sni_rt_allocator(sni_allocator *dst, const sni_allocator *a) {
  if (!a) {
    dst->alloc = sni_default_alloc;
    dst->free = sni_default_free;
    dst->ctx = NULL;
    return 0;
  }
  if (!a->alloc || !a->free) return SNI_EINVAL;
  *dst = *a;
  return 0;
}

/* Growable arrays: the caller's allocator has no realloc, so grow by
 * copying; doubling keeps the copies amortised O(1). */
static int sni_grow(const sni_allocator *a, void **p, size_t *cap, size_t need,
                    size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) {
    if (nc > ((size_t)-1 / 2) / elem) return SNI_ENOMEM;
    nc *= 2;
  }
  void *np = sni_rt_alloc(a, nc * elem);
  if (!np) return SNI_ENOMEM;
  if (*p) {
    memcpy(np, *p, *cap * elem);
    sni_rt_free(a, *p, *cap * elem);
  }
  *p = np;
  *cap = nc;
  return 0;
}

/* ---- hashing ---------------------------------------------------------- */

static uint64_t sni_load_le64(const char *p) {
  unsigned char b[8];
  memcpy(b, p, 8);
  return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 |
         (uint64_t)b[3] << 24 | (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 |
         (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
}

static inline uint64_t sni_rt_mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0xFF51AFD7ED558CCDu;
  return h ^ (h >> 32);
}

/* Hash of the label p[0..n), 8 bytes per multiply; the length is mixed
 * in first, so the overlapping last word of a label over 8 bytes is
 * unambiguous.  A label of up to 8 bytes is read as a whole word: the
 * buffer must hold 8 readable bytes past the end of the name. */
static inline uint64_t sni_rt_label_hash(const char *p, size_t n) {
  /* the first n bytes of a little-endian word */
  static const uint64_t first[9] = {
      0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFF, 0xFFFFFFFFFFFF,
      0xFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF};
  uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15u;
  if (n <= 8) return sni_rt_mix(h, sni_load_le64(p) & first[n]);
  for (size_t i = 0; i + 8 < n; i += 8) h = sni_rt_mix(h, sni_load_le64(p + i));
  return sni_rt_mix(h, sni_load_le64(p + n - 8));
}

/* Chaining labels: a suffix hash folds labels right to left, a prefix
 * hash left to right; each step is one multiply, so hashing every suffix
 * of a name costs one step per label. */
static inline uint64_t sni_rt_chain(uint64_t acc, uint64_t lh) {
  acc = (acc ^ lh) * 0xC4CEB9FE1A85EC53u;
  return acc ^ (acc >> 29);
}

/* The chain already mixes every label in with a multiply; one more
 * multiply spreads the group, and the fold gives the low half (bucket
 * index) the high bits' entropy. */
static inline uint64_t sni_rt_key(uint64_t h, unsigned group) {
  h = (h ^ ((uint64_t)group << 59)) * 0xD6E8FEB86659FD93u;
  return h ^ (h >> 32);
}

/* Bucket of a key: its low 32 bits scaled to the table (no division). */
static inline size_t sni_rt_fastrange(uint64_t key, uint32_t n) {
  return (size_t)(((key & 0xFFFFFFFFu) * (uint64_t)n) >> 32);
}

/* Tag of a key: its top 16 bits, 0 (the empty way) made 1.  Independent of
 * the bucket index bits, so keys sharing a bucket rarely share a tag. */
static inline uint16_t sni_rt_tag(uint64_t key) {
  uint16_t t = (uint16_t)(key >> 48);
  return (uint16_t)(t | (t == 0));
}

/* The wildcard filter: one 64-bit word per SNI_RT_FWORD_KEYS entries of
 * the wildcard groups (`.s` and `*.s`, `s.*`), two bits set per entry.
 * A name of n labels may plan a wildcard probe at nearly every level, and
 * each probe is a cache miss into the buckets; the filter, 1.3 bytes per
 * wildcard entry (400 KB for 300,000 wildcards), stays in the core's
 * cache, and a probe whose bits are not both set is dropped before it
 * touches the table: about 1 in 30 absent levels passes.  Without it an
 * 8-label miss read some ten bucket lines.  Two bits at six keys a word
 * pass as few absent keys as four at eight, for half the instructions
 * per level.  Exact names are not filtered: they are one probe per
 * lookup, and the bulk of a table, too many for a filter that stays in
 * cache (a miss then costs its bucket line, as it did). */
#define SNI_RT_FWORD_KEYS 6
/* Past this size the filter would leave the core's cache and its test
 * would cost a memory access before the bucket's: a larger wildcard set
 * shares these words instead (at a million wildcards about one absent
 * level in six passes). */
#define SNI_RT_FILTER_MAX ((size_t)512 << 10)

/* The key's two filter bits. */
static inline uint64_t sni_rt_fmask(uint64_t key) {
  return (uint64_t)1 << (key & 63) | (uint64_t)1 << ((key >> 6) & 63);
}

/* The key's filter word: chosen by its top half, as its bits and bucket
 * come from its low half. */
static inline uint64_t *sni_rt_fword(const sni_router *r, uint64_t key) {
  return &r->filter[sni_rt_fastrange(key >> 32, r->nfilter)];
}

/* An exact name is hashed whole, as if one label: a lookup has its key,
 * and prefetches its bucket, before it splits and hashes the labels. */
static inline uint64_t sni_rt_exact_hash(const sni_router *r, const char *p,
                                         size_t n) {
  return sni_rt_chain(r->seed, sni_rt_label_hash(p, n));
}

/* ---- builder ---------------------------------------------------------- */

struct sni_rt_strblk {
  struct sni_rt_strblk *next;
  size_t size, used;
  /* bytes follow */
};

static void sni_rt_seterr(sni_router *r, unsigned line, const char *pat,
                          size_t plen, const char *why) {
  char *e = r->err;
  size_t cap = sizeof r->err, n = 0;
  if (line) n += (size_t)snprintf(e, cap, "line %u: ", line);
  if (pat && n < cap) {
    if (plen > 80) plen = 80;
    n += (size_t)snprintf(e + n, cap - n, "pattern '");
    for (size_t i = 0; i < plen && n + 5 < cap; i++) {
      unsigned char c = (unsigned char)pat[i];
      if (c < 0x20 || c >= 0x7f || c == '\\')
        n += (size_t)snprintf(e + n, cap - n, "\\x%02x", c);
      else
        e[n++] = (char)c;
    }
    if (n < cap) n += (size_t)snprintf(e + n, cap - n, "': ");
  }
  if (n < cap) snprintf(e + n, cap - n, "%s", why);
}

void sni_rt_seterr_line(sni_router *r, unsigned line, const char *why) {
  sni_rt_seterr(r, line, NULL, 0, why);
}

int sni_router_create(sni_router **out, const sni_allocator *a) {
  if (!out) return SNI_EINVAL;
  *out = NULL;
  sni_allocator al;
  if (sni_rt_allocator(&al, a)) return SNI_EINVAL;
  sni_router *r = sni_rt_alloc(&al, sizeof *r);
  if (!r) return SNI_ENOMEM;
  memset(r, 0, sizeof *r);
  r->a = al;
  for (int i = 0; i < 3; i++) r->special[i] = SNI_RT_NONE;
  /* A per-router seed keeps a tenant who picks many names from crafting
   * a hash flood that holds for every deployment; semantics never depend
   * on it. */
  uint64_t seed = (uint64_t)(uintptr_t)r ^ ((uint64_t)time(NULL) << 20) ^
                  (uint64_t)clock();
  r->seed = sni_rt_key(seed, 7) | 1;
  *out = r;
  return 0;
}

const char *sni_router_errmsg(const sni_router *r) {
  return r ? r->err : "";
}

/* The alternatives block: allocated even when empty (one entry), and
 * freed with the same size, which the caller's allocator is told. */
static size_t sni_rt_alts_bytes(const sni_router *r) {
  return (r->nalts ? r->nalts : 1) * sizeof *r->alts;
}

static void sni_rt_free_build(sni_router *r) {
  sni_rt_free(&r->a, r->routes, r->routes_cap * sizeof *r->routes);
  sni_rt_free(&r->a, r->names, r->names_cap);
  sni_rt_free(&r->a, r->refs, r->refs_cap * sizeof *r->refs);
  r->routes = NULL;
  r->names = NULL;
  r->refs = NULL;
  r->routes_cap = r->names_cap = r->refs_cap = 0;
  r->nroutes_build = r->names_len = r->nrefs = 0;
}

void sni_router_free(sni_router *r) {
  if (!r) return;
  sni_rt_free_build(r);
  sni_rt_free(&r->a, r->bmem, r->bsize);
  sni_rt_free(&r->a, r->amem, r->asize);
  sni_rt_free(&r->a, r->fmem, r->fsize);
  sni_rt_free(&r->a, r->alts, sni_rt_alts_bytes(r));
  sni_rt_free(&r->a, r->pbytes, r->pbytes_cap);
  struct sni_rt_strblk *b = r->strs;
  while (b) {
    struct sni_rt_strblk *nx = b->next;
    sni_rt_free(&r->a, b, sizeof *b + b->size);
    b = nx;
  }
  sni_allocator a = r->a;
  sni_rt_free(&a, r, sizeof *r);
}

/* A stable copy of a target string: blocks never move, so the pointer
 * handed out stays valid until the router is freed. */
const char *sni_rt_strdup(sni_router *r, const char *s, size_t n) {
  struct sni_rt_strblk *b = r->strs;
  if (!b || b->size - b->used < n + 1) {
    size_t sz = n + 1 > 4096 ? n + 1 : 4096;
    b = sni_rt_alloc(&r->a, sizeof *b + sz);
    if (!b) return NULL;
    b->size = sz;
    b->used = 0;
    b->next = r->strs;
    r->strs = b;
  }
  char *d = (char *)(b + 1) + b->used;
  memcpy(d, s, n);
  d[n] = 0;
  b->used += n + 1;
  return d;
}

/* Start a route: protocols are pushed into the shared byte store first, so
 * a failure later rolls back to this mark. */
void sni_rt_begin(sni_router *r, sni_rt_mark *m) {
  m->pbytes_len = r->pbytes_len;
  m->nrefs = r->nrefs;
}

void sni_rt_rollback(sni_router *r, const sni_rt_mark *m) {
  r->pbytes_len = m->pbytes_len;
  r->nrefs = m->nrefs;
}

int sni_rt_push_proto(sni_router *r, const sni_rt_mark *m, const char *p,
                      size_t n) {
  if (n == 0 || n > 255) return SNI_EINVAL;
  /* One protocol twice in one route is harmless; keep it once so the
   * conflict check only sees real clashes. */
  for (size_t i = m->nrefs; i < r->nrefs; i++) {
    const uint8_t *q = r->pbytes + r->refs[i];
    if (q[0] == n && memcmp(q + 1, p, n) == 0) return 0;
  }
  if (r->nrefs >= UINT32_MAX - 1 || r->pbytes_len + n + 1 >= UINT32_MAX)
    return SNI_ENOMEM;
  void *pb = r->pbytes, *rf = r->refs;
  if (sni_grow(&r->a, &pb, &r->pbytes_cap, r->pbytes_len + n + 1, 1))
    return SNI_ENOMEM;
  r->pbytes = pb;
  if (sni_grow(&r->a, &rf, &r->refs_cap, r->nrefs + 1, sizeof *r->refs))
    return SNI_ENOMEM;
  r->refs = rf;
  r->refs[r->nrefs++] = (uint32_t)r->pbytes_len;
  r->pbytes[r->pbytes_len] = (uint8_t)n;
  memcpy(r->pbytes + r->pbytes_len + 1, p, n);
  r->pbytes_len += n + 1;
  return 0;
}

/* The kind of pattern p[0..n) (n >= 1, trailing dot removed) and where
 * its literal lies; *lim is the longest literal a matching name allows. */
static unsigned sni_rt_pattern_kind(const char *p, size_t n, size_t *off,
                                    size_t *bn, size_t *lim) {
  *off = 0;
  *bn = n;
  *lim = SNI_RT_MAX_NAME;
  if (n >= 2 && p[0] == '*' && p[1] == '.') {
    *off = 2;
    *bn = n - 2;
    *lim -= 2;
    return SNI_RT_STAR;
  }
  if (p[0] == '.') {
    *off = 1;
    *bn = n - 1;
    return SNI_RT_DOT;
  }
  if (n >= 2 && p[n - 1] == '*' && p[n - 2] == '.') {
    *bn = n - 2;
    *lim -= 2;
    return SNI_RT_TAIL;
  }
  return SNI_RT_EXACT;
}

/* Check and normalise a pattern.  Returns 0 with kind and the literal part
 * (lowercased, no '*' label, no dots around it) in out/outlen, else sets
 * *why.  The literal obeys the host-name rules of lib/hostname.c; only
 * the pattern syntax ('*', the messages) is decided here. */
static int sni_rt_parse_pattern(const char *p, size_t n, unsigned *kind,
                                char *out, size_t *outlen, const char **why) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] >= 0x80) {
      *why = "non-ASCII pattern: write internationalised names as IDN "
             "A-labels (xn--...)";
      return -1;
    }
  if (n > 1 && p[n - 1] == '.') n--;
  if (n == 0 || (n == 1 && p[0] == '.')) {
    *why = "empty pattern";
    return -1;
  }
  size_t off, bn, lim, at = 0;
  *kind = sni_rt_pattern_kind(p, n, &off, &bn, &lim);
  const char *b = p + off;
  if (bn == 0) *why = "empty label";
  else if (bn == 1 && b[0] == '*')
    *why = "'*' alone is not a pattern (use the default route)";
  else if (bn > lim)
    *why = "name longer than 253 bytes";
  else
    *why = sni_host_check_literal(b, bn, *kind == SNI_RT_TAIL, out, &at);
  if (!*why) {
    *outlen = bn;
    return 0;
  }
  /* The literal check stops at the first offending byte: a '*' there is
   * a misplaced wildcard rather than a stray byte. */
  if (bn && bn <= lim && !(bn == 1 && b[0] == '*') && at < bn &&
      b[at] == '*') /* at is set: the literal was checked */
    *why = bn + 2 == n ? "'*' may stand as the first or the last label, "
                         "not as both"
                       : "'*' may stand only as a whole first or last label";
  return -1;
}

int sni_rt_commit(sni_router *r, const sni_rt_mark *m, unsigned kind,
                  const char *pattern, size_t plen, void *target,
                  unsigned line) {
  char lit[SNI_RT_MAX_NAME + 8];
  size_t ln = 0;
  if (kind == 0) {
    const char *why = NULL;
    if (sni_rt_parse_pattern(pattern, plen, &kind, lit, &ln, &why)) {
      sni_rt_seterr(r, line, pattern, plen, why);
      sni_rt_rollback(r, m);
      return SNI_EPATTERN;
    }
  }
  if (r->nroutes_build >= UINT32_MAX - 2 ||
      r->names_len + ln >= UINT32_MAX - 1 ||
      r->nrefs - m->nrefs > 0xFFFF) {
    sni_rt_seterr(r, line, pattern, plen, "too many routes or protocols");
    sni_rt_rollback(r, m);
    return SNI_ENOMEM;
  }
  void *rp = r->routes, *np = r->names;
  if (sni_grow(&r->a, &rp, &r->routes_cap, r->nroutes_build + 1,
               sizeof *r->routes) ||
      (r->routes = rp,
       sni_grow(&r->a, &np, &r->names_cap, r->names_len + ln + 1, 1))) {
    sni_rt_seterr(r, line, pattern, plen, "out of memory");
    sni_rt_rollback(r, m);
    return SNI_ENOMEM;
  }
  r->names = np;
  sni_rt_route *rt = &r->routes[r->nroutes_build++];
  rt->target = target;
  rt->name_off = (uint32_t)r->names_len;
  rt->alpn_off = (uint32_t)m->nrefs;
  rt->n_alpn = (uint16_t)(r->nrefs - m->nrefs);
  rt->len = (uint8_t)ln;
  rt->kind = (uint8_t)kind;
  rt->line = line;
  memcpy(r->names + r->names_len, lit, ln);
  r->names_len += ln;
  return 0;
}

static int sni_rt_add_common(sni_router *r, unsigned kind, const char *pattern,
                             const char *const *alpn, size_t n_alpn,
                             void *target) {
  if (!r || r->state != SNI_RT_BUILDING) return SNI_EINVAL;
  if (n_alpn && !alpn) return SNI_EINVAL;
  r->err[0] = 0;
  sni_rt_mark m;
  sni_rt_begin(r, &m);
  for (size_t i = 0; i < n_alpn; i++) {
    if (!alpn[i]) {
      sni_rt_rollback(r, &m);
      return SNI_EINVAL;
    }
    int rc = sni_rt_push_proto(r, &m, alpn[i], strlen(alpn[i]));
    if (rc) {
      sni_rt_seterr_line(r, 0, rc == SNI_EINVAL
                                   ? "ALPN protocol names are 1..255 bytes"
                                   : "out of memory");
      sni_rt_rollback(r, &m);
      return rc;
    }
  }
  return sni_rt_commit(r, &m, kind, pattern, pattern ? strlen(pattern) : 0,
                       target, 0);
}

int sni_router_add(sni_router *r, const char *pattern, const char *const *alpn,
                   size_t n_alpn, void *target) {
  if (!pattern) return SNI_EINVAL;
  return sni_rt_add_common(r, 0, pattern, alpn, n_alpn, target);
}

int sni_router_add_special(sni_router *r, sni_route_kind which,
                           const char *const *alpn, size_t n_alpn,
                           void *target) {
  /* internal kinds are numbered as the public ones */
  unsigned k = (unsigned)which;
  if (k < SNI_RT_SP_DEFAULT || k > SNI_RT_SP_NOT_TLS) return SNI_EINVAL;
  static const char *const names[] = {"default", "no_sni", "not_tls"};
  return sni_rt_add_common(r, k, names[k - SNI_RT_SP_DEFAULT], alpn, n_alpn,
                           target);
}

/* ---- compile ---------------------------------------------------------- */

/* Table group of a route kind: `*.s` and `.s` share one entry (one
 * level). */
static unsigned sni_rt_group(unsigned kind) {
  return kind == SNI_RT_STAR ? SNI_RT_DOT : kind;
}

static uint64_t sni_rt_hash_literal(const sni_router *r, const char *s,
                                    size_t n, unsigned group) {
  char buf[SNI_RT_MAX_NAME + 16];
  memcpy(buf, s, n);
  memset(buf + n, 0, 8);
  if (group == SNI_RT_EXACT)
    return sni_rt_key(sni_rt_exact_hash(r, buf, n), group);
  uint8_t ls[SNI_RT_MAX_NAME + 3];
  unsigned nl = sni_host_labels(buf, n, ls);
  uint64_t lh[SNI_RT_MAX_LABELS], h = r->seed;
  for (unsigned i = 0; i < nl; i++)
    lh[i] = sni_rt_label_hash(buf + ls[i], (size_t)(ls[i + 1] - 1 - ls[i]));
  if (group == SNI_RT_TAIL) {
    for (unsigned i = 0; i < nl; i++) h = sni_rt_chain(h, lh[i]);
  } else {
    for (unsigned i = nl; i-- > 0;) h = sni_rt_chain(h, lh[i]);
  }
  return sni_rt_key(h, group);
}

typedef struct {
  const uint8_t *p; /* length byte + protocol; qsort has no context */
  uint32_t route;
} sni_rt_pref;

static int sni_rt_pref_cmp(const void *a, const void *b) {
  const sni_rt_pref *x = a, *y = b;
  const uint8_t *p = x->p, *q = y->p;
  size_t n = p[0] < q[0] ? p[0] : q[0];
  int c = memcmp(p + 1, q + 1, n);
  if (c) return c;
  if (p[0] != q[0]) return p[0] < q[0] ? -1 : 1;
  return x->route < y->route ? -1 : x->route > y->route;
}

static void sni_rt_pattern_text(const sni_router *r, const sni_rt_route *rt,
                                char *out, size_t cap) {
  const char *nm = r->names + rt->name_off;
  int l = rt->len;
  switch (rt->kind) {
  case SNI_RT_EXACT: snprintf(out, cap, "%.*s", l, nm); break;
  case SNI_RT_STAR: snprintf(out, cap, "*.%.*s", l, nm); break;
  case SNI_RT_DOT: snprintf(out, cap, ".%.*s", l, nm); break;
  case SNI_RT_TAIL: snprintf(out, cap, "%.*s.*", l, nm); break;
  case SNI_RT_SP_DEFAULT: snprintf(out, cap, "default"); break;
  case SNI_RT_SP_NO_SNI: snprintf(out, cap, "no_sni"); break;
  default: snprintf(out, cap, "not_tls"); break;
  }
}

static void sni_rt_conflict(sni_router *r, const sni_rt_route *a,
                            const sni_rt_route *b, const uint8_t *proto) {
  char pa[300], pb[300], la[32] = "", lb[32] = "", why[SNI_RT_SHOW_BUF + 48];
  sni_rt_pattern_text(r, a, pa, sizeof pa);
  sni_rt_pattern_text(r, b, pb, sizeof pb);
  if (b->line) snprintf(lb, sizeof lb, "line %u: ", b->line);
  if (a->line) snprintf(la, sizeof la, " (line %u)", a->line);
  if (proto) {
    /* ALPN names are any bytes: escaped, so the message is one line. */
    char shown[SNI_RT_SHOW_BUF];
    sni_rt_show(shown, (const char *)proto + 1, proto[0]);
    snprintf(why, sizeof why, "both name ALPN protocol '%s' at one level", shown);
  }
  else
    snprintf(why, sizeof why, "both without ALPN at one level");
  snprintf(r->err, sizeof r->err, "%spattern '%.200s' conflicts with '%.200s'%s: %.250s",
           lb, pb, pa, la, why);
}

/* Check one group's routes without ALPN: at most one, and for the DOT
 * group not `*.s` and `.s` both.  Returns 0 or SNI_ECONFLICT. */
static int sni_rt_take_plain(sni_router *r, const sni_rt_route *rt,
                             const sni_rt_route **plain,
                             const sni_rt_route **star) {
  const sni_rt_route **slot = rt->kind == SNI_RT_STAR ? star : plain;
  if (*slot) {
    sni_rt_conflict(r, *slot, rt, NULL);
    return SNI_ECONFLICT;
  }
  *slot = rt;
  if (*plain && *star) {
    sni_rt_conflict(r, rt == *star ? *plain : *star, rt, NULL);
    return SNI_ECONFLICT;
  }
  return 0;
}

/* Gather a group's ALPN-qualified routes into scratch and refuse one
 * protocol named twice.  Returns 0 with *np set, or SNI_ECONFLICT. */
static int sni_rt_collect_alpn(sni_router *r, uint32_t head,
                               const uint32_t *next, sni_rt_pref *scratch,
                               size_t *np_out) {
  const sni_rt_route *R = r->routes;
  size_t np = 0;
  for (uint32_t i = head; i != SNI_RT_NONE; i = next[i])
    for (unsigned j = 0; j < R[i].n_alpn; j++) {
      scratch[np].p = r->pbytes + r->refs[R[i].alpn_off + j];
      scratch[np].route = i;
      np++;
    }
  if (np > 0xFFFF) {
    snprintf(r->err, sizeof r->err,
             "more than 65535 ALPN-qualified routes for one pattern");
    return SNI_ECONFLICT;
  }
  if (np > 1) {
    qsort(scratch, np, sizeof *scratch, sni_rt_pref_cmp);
    for (size_t k = 1; k < np; k++) {
      const uint8_t *p = scratch[k - 1].p, *q = scratch[k].p;
      if (p[0] == q[0] && memcmp(p + 1, q + 1, p[0]) == 0) {
        sni_rt_conflict(r, &R[scratch[k - 1].route], &R[scratch[k].route], p);
        return SNI_ECONFLICT;
      }
    }
  }
  *np_out = np;
  return 0;
}

/* Build the record for one group (routes linked through next[], in add
 * order) at arena word pos, its alternatives from *alt_pos on.  Returns 0
 * or SNI_ECONFLICT. */
static int sni_rt_emit(sni_router *r, uint32_t head, const uint32_t *next,
                       sni_rt_pref *scratch, size_t pos, size_t *alt_pos) {
  const sni_rt_route *R = r->routes;
  const sni_rt_route *plain = NULL, *star = NULL;
  for (uint32_t i = head; i != SNI_RT_NONE; i = next[i])
    if (R[i].n_alpn == 0 && sni_rt_take_plain(r, &R[i], &plain, &star))
      return SNI_ECONFLICT;
  size_t np = 0;
  if (sni_rt_collect_alpn(r, head, next, scratch, &np)) return SNI_ECONFLICT;
  const sni_rt_route *h = &R[head];
  sni_rt_rec *rec = (sni_rt_rec *)(r->arena + pos);
  rec->target = plain ? plain->target : star ? star->target : NULL;
  rec->alt = (uint32_t)*alt_pos;
  rec->n_alt = (uint16_t)np;
  rec->flags = (uint8_t)(sni_rt_group(h->kind) | (plain ? SNI_RT_F_PLAIN : 0) |
                         (star ? SNI_RT_F_STAR : 0));
  rec->len = h->len;
  memcpy(rec->name, r->names + h->name_off, h->len);
  /* Alternatives keep add order per route, so a record's list reads like
   * the configuration. */
  size_t a = *alt_pos;
  for (uint32_t i = head; i != SNI_RT_NONE; i = next[i])
    for (unsigned j = 0; j < R[i].n_alpn; j++) {
      r->alts[a].target = R[i].target;
      r->alts[a].proto = r->refs[R[i].alpn_off + j];
      r->alts[a].star = R[i].kind == SNI_RT_STAR;
      a++;
    }
  *alt_pos = a;
  return 0;
}

/* A zeroed block of at least bytes, aligned to align (a power of two)
 * inside the allocation (*raw, *rawsize), or NULL. */
static void *sni_rt_alloc_aligned(const sni_allocator *a, size_t bytes,
                                  size_t align, void **raw, size_t *rawsize) {
  if (bytes > (size_t)-1 - align) return NULL;
  size_t n = bytes + align;
  void *p = sni_rt_alloc(a, n);
  if (!p) return NULL;
  *raw = p;
  *rawsize = n;
  uintptr_t u = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
  char *q = (char *)p + (u - (uintptr_t)p);
  memset(q, 0, bytes);
  return q;
}

#if defined(MADV_HUGEPAGE)
/* A transparent huge page: a table of at least this size is placed and
 * advised for them. */
#define SNI_RT_HUGE ((size_t)2 << 20)

/* With the default allocator, a table of SNI_RT_HUGE or more: rounded up
 * to whole huge pages, aligned to one and advised for them.  A lookup
 * reads a random line of a table of tens of MB, and with 4 KiB pages
 * nearly every probe also missed the TLB (a page walk, nested under a
 * hypervisor).  The kernel may decline (THP off): the table still works.
 * NULL when this does not apply or fails. */
static void *sni_rt_alloc_huge(const sni_router *r, size_t bytes,
                               void **raw, size_t *rawsize) {
  if (r->a.alloc != sni_default_alloc || bytes < SNI_RT_HUGE ||
      bytes > (size_t)-1 - SNI_RT_HUGE)
    return NULL;
  size_t n = (bytes + SNI_RT_HUGE - 1) & ~(SNI_RT_HUGE - 1);
  void *p = NULL;
  if (posix_memalign(&p, SNI_RT_HUGE, n) != 0) return NULL;
  (void)madvise(p, n, MADV_HUGEPAGE); /* advice: failure changes nothing */
  memset(p, 0, bytes);
  *raw = p;
  *rawsize = n;
  return p;
}
#endif

/* A zeroed, cache-line aligned table block (*raw, *rawsize: the
 * allocation, released with the router's allocator), or NULL. */
static void *sni_rt_alloc_table(const sni_router *r, size_t bytes,
                                void **raw, size_t *rawsize) {
#if defined(MADV_HUGEPAGE)
  void *p = sni_rt_alloc_huge(r, bytes, raw, rawsize);
  if (p) return p;
#endif
  return sni_rt_alloc_aligned(&r->a, bytes, SNI_RT_LINE, raw, rawsize);
}

/* Put record rec under key: the first free way from the key's bucket on;
 * every full bucket passed is marked, so lookups know to go on. */
static void sni_rt_insert(sni_router *r, uint64_t key, uint32_t rec,
                          unsigned group) {
  if (group != SNI_RT_EXACT) *sni_rt_fword(r, key) |= sni_rt_fmask(key);
  size_t bi = sni_rt_fastrange(key, r->nbuckets);
  for (;;) {
    sni_rt_bucket *b = &r->buckets[bi];
    for (unsigned w = 0; w < SNI_RT_WAYS; w++)
      if (!b->tag[w]) {
        b->tag[w] = sni_rt_tag(key);
        b->rec[w] = rec;
        return;
      }
    b->spill = 1;
    if (++bi == r->nbuckets) bi = 0;
  }
}

/* Compile-time scratch. */
typedef struct {
  uint32_t *next;  /* next route of the same group, in add order */
  uint32_t *rslot; /* a route's slot in tmp */
  uint64_t *key;   /* a route's table key */
  uint64_t *tmp;   /* grouping table: fingerprint << 32 | route */
  size_t ntmp;
  sni_rt_pref *scratch;
  size_t nscratch;
  uint32_t sp_head[3]; /* first route of each special kind */
  size_t groups;
  size_t wild_groups; /* of them, DOT and TAIL: the filter's entries */
} sni_rt_cx;

static void sni_rt_cx_free(sni_router *r, sni_rt_cx *c) {
  size_t n = r->nroutes_build;
  sni_rt_free(&r->a, c->next, n * sizeof *c->next);
  sni_rt_free(&r->a, c->rslot, n * sizeof *c->rslot);
  sni_rt_free(&r->a, c->key, n * sizeof *c->key);
  sni_rt_free(&r->a, c->tmp, c->ntmp * sizeof *c->tmp);
  sni_rt_free(&r->a, c->scratch, c->nscratch * sizeof *c->scratch);
}

/* Find route i's group in the grouping table: link i in front of the
 * group's list, or start a group.  Walking the routes backwards leaves
 * every list in add order with the first-added route at the head. */
static void sni_rt_group_one(sni_router *r, sni_rt_cx *c, uint32_t i) {
  const sni_rt_route *rt = &r->routes[i];
  unsigned g = sni_rt_group(rt->kind);
  uint64_t key = sni_rt_hash_literal(r, r->names + rt->name_off, rt->len, g);
  uint64_t fp = (key >> 32) | 1;
  c->key[i] = key;
  size_t s = sni_rt_fastrange(key, (uint32_t)c->ntmp);
  for (;; s = s + 1 == c->ntmp ? 0 : s + 1) {
    uint64_t v = c->tmp[s];
    if (!v) {
      c->next[i] = SNI_RT_NONE;
      c->groups++;
      if (g == SNI_RT_DOT || g == SNI_RT_TAIL) c->wild_groups++;
      break;
    }
    if (v >> 32 != fp) continue;
    const sni_rt_route *o = &r->routes[(uint32_t)v];
    if (sni_rt_group(o->kind) != g || o->len != rt->len ||
        memcmp(r->names + o->name_off, r->names + rt->name_off, rt->len))
      continue;
    c->next[i] = (uint32_t)v;
    break;
  }
  c->tmp[s] = fp << 32 | i;
  c->rslot[i] = (uint32_t)s;
}

/* Pass 1: group the routes by (group, literal); specials by kind. */
static void sni_rt_group_all(sni_router *r, sni_rt_cx *c) {
  for (int k = 0; k < 3; k++) c->sp_head[k] = SNI_RT_NONE;
  for (size_t i = r->nroutes_build; i-- > 0;) {
    unsigned g = sni_rt_group(r->routes[i].kind);
    if (g >= SNI_RT_SP_DEFAULT) {
      uint32_t *hd = &c->sp_head[g - SNI_RT_SP_DEFAULT];
      if (*hd == SNI_RT_NONE) c->groups++;
      c->next[i] = *hd;
      *hd = (uint32_t)i;
      continue;
    }
    sni_rt_group_one(r, c, (uint32_t)i);
  }
}

/* Is route i the first of its group? */
static int sni_rt_is_head(const sni_router *r, const sni_rt_cx *c,
                          size_t i) {
  unsigned g = sni_rt_group(r->routes[i].kind);
  if (g >= SNI_RT_SP_DEFAULT) return c->sp_head[g - SNI_RT_SP_DEFAULT] == i;
  return (uint32_t)c->tmp[c->rslot[i]] == i;
}

/* Arena words the records take: one record per group. */
static size_t sni_rt_arena_size(const sni_router *r, const sni_rt_cx *c) {
  size_t words = 0;
  for (size_t i = 0; i < r->nroutes_build; i++)
    if (sni_rt_is_head(r, c, i)) words += SNI_RT_REC_WORDS(r->routes[i].len);
  return words;
}

/* Note an entry of group g with literal s[0..len) in the lookup hints. */
static void sni_rt_note(sni_router *r, unsigned g, const char *s,
                        size_t len) {
  unsigned labels = 1;
  for (size_t j = 0; j < len; j++) labels += s[j] == '.';
  r->count[g]++;
  r->name_bytes += len;
  r->lmask[g][(labels - 1) / 64] |= (uint64_t)1 << ((labels - 1) % 64);
}

/* Pass 2: emit the groups in the order of their first route, so the
 * conflict reported is the one a reader of the config meets first. */
static int sni_rt_emit_all(sni_router *r, sni_rt_cx *c) {
  size_t pos = 0, alt = 0;
  for (size_t i = 0; i < r->nroutes_build; i++) {
    if (!sni_rt_is_head(r, c, i)) continue;
    const sni_rt_route *rt = &r->routes[i];
    unsigned g = sni_rt_group(rt->kind);
    int rc = sni_rt_emit(r, (uint32_t)i, c->next, c->scratch, pos, &alt);
    if (rc) return rc;
    if (g >= SNI_RT_SP_DEFAULT) {
      r->special[g - SNI_RT_SP_DEFAULT] = (uint32_t)pos;
    } else {
      sni_rt_insert(r, c->key[i], (uint32_t)pos, g);
      sni_rt_note(r, g, r->names + rt->name_off, rt->len);
    }
    pos += SNI_RT_REC_WORDS(rt->len);
  }
  return 0;
}

/* Allocate the frozen tables for c->groups entries. */
static int sni_rt_alloc_tables(sni_router *r, const sni_rt_cx *c) {
  /* At most 6 entries per 10-way bucket on average: few buckets fill up,
   * so a miss rarely reads a second line. */
  size_t nb = c->groups / 6 + 1;
  size_t words = sni_rt_arena_size(r, c);
  if (nb >= UINT32_MAX / SNI_RT_WAYS || words >= UINT32_MAX ||
      nb > (size_t)-1 / sizeof(sni_rt_bucket))
    return SNI_ENOMEM;
  r->buckets = sni_rt_alloc_table(r, nb * sizeof(sni_rt_bucket), &r->bmem,
                                  &r->bsize);
  size_t fw = c->wild_groups / SNI_RT_FWORD_KEYS + 1;
  if (fw > SNI_RT_FILTER_MAX / sizeof *r->filter)
    fw = SNI_RT_FILTER_MAX / sizeof *r->filter;
  r->nfilter = (uint32_t)fw;
  r->filter = sni_rt_alloc_table(r, r->nfilter * sizeof *r->filter, &r->fmem,
                                 &r->fsize);
  if (!r->buckets || !r->filter) return SNI_ENOMEM;
  r->nbuckets = (uint32_t)nb;
  r->arena_words = words ? words : 1;
  r->arena = sni_rt_alloc_table(r, r->arena_words * sizeof *r->arena,
                                 &r->amem, &r->asize);
  r->nalts = r->nrefs;
  r->alts = sni_rt_alloc(&r->a, sni_rt_alts_bytes(r));
  if (!r->arena || !r->alts) return SNI_ENOMEM;
  return 0;
}

int sni_router_compile(sni_router *r) {
  if (!r || r->state != SNI_RT_BUILDING) return SNI_EINVAL;
  r->err[0] = 0;
  size_t n = r->nroutes_build;
  sni_rt_cx c;
  memset(&c, 0, sizeof c);
  int rc = SNI_ENOMEM;
  c.ntmp = n + n / 3 + 8; /* load factor <= 0.75 */
  c.nscratch = r->nrefs ? r->nrefs : 1;
  if (c.ntmp >= UINT32_MAX || n >= UINT32_MAX - 1) goto fail;
  c.next = sni_rt_alloc(&r->a, n * sizeof *c.next);
  c.rslot = sni_rt_alloc(&r->a, n * sizeof *c.rslot);
  c.key = sni_rt_alloc(&r->a, n * sizeof *c.key);
  c.tmp = sni_rt_alloc(&r->a, c.ntmp * sizeof *c.tmp);
  c.scratch = sni_rt_alloc(&r->a, c.nscratch * sizeof *c.scratch);
  if (!c.next || !c.rslot || !c.key || !c.tmp || !c.scratch) goto fail;
  memset(c.tmp, 0, c.ntmp * sizeof *c.tmp);
  sni_rt_group_all(r, &c);
  if (sni_rt_alloc_tables(r, &c)) goto fail;
  rc = sni_rt_emit_all(r, &c);
  if (rc) goto fail;
  r->nentries = c.groups;
  r->nroutes = n;
  sni_rt_cx_free(r, &c);
  sni_rt_free_build(r);
  r->state = SNI_RT_COMPILED;
  return 0;
fail:
  if (rc == SNI_ENOMEM) snprintf(r->err, sizeof r->err, "out of memory");
  sni_rt_cx_free(r, &c);
  r->state = SNI_RT_FAILED;
  return rc;
}

int sni_router_get_stats(const sni_router *r, sni_router_stats *st) {
  if (!r || !st || r->state != SNI_RT_COMPILED) return SNI_EINVAL;
  st->routes = r->nroutes;
  st->entries = r->nentries;
  st->bytes = sizeof *r + r->bsize + r->asize + r->fsize +
              sni_rt_alts_bytes(r) + r->pbytes_cap;
  st->name_bytes = r->name_bytes;
  return 0;
}

/* ---- lookup ----------------------------------------------------------- */

#if defined(__SSE2__) && !defined(SNI_NO_SIMD)
#include <emmintrin.h>
/* Nonzero when some way of b may hold tag: one compare per 8 tags (the
 * spill mark is compared too, at worst sending a harmless way scan). */
static inline unsigned sni_rt_tag_hits(const sni_rt_bucket *b, uint16_t tag) {
  __m128i t = _mm_set1_epi16((short)tag);
  __m128i lo = _mm_load_si128((const __m128i *)(const void *)b);
  __m128i hi = _mm_loadl_epi64((const __m128i *)(const void *)(b->tag + 8));
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(lo, t)) |
         (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(hi, t));
}
#else
/* Bit 15 of every 16-bit lane of v that is zero, exactly. */
static inline uint64_t sni_rt_zero16(uint64_t v) {
  const uint64_t low15 = 0x7FFF7FFF7FFF7FFFu;
  return ~(((v & low15) + low15) | v | low15);
}

/* Nonzero when some way of b may hold tag: the tags (and the spill mark)
 * compared as three words. */
static inline uint64_t sni_rt_tag_hits(const sni_rt_bucket *b, uint16_t tag) {
  uint64_t pat = (uint64_t)tag * 0x0001000100010001u, w[3];
  memcpy(w, b, sizeof w);
  return sni_rt_zero16(w[0] ^ pat) | sni_rt_zero16(w[1] ^ pat) |
         sni_rt_zero16(w[2] ^ pat);
}
#endif

/* The record of (group, s[0..n)) filed under key, or NULL.  Records are
 * read only for equal tags. */
static const sni_rt_rec *sni_rt_find(const sni_router *r, uint64_t key,
                                     unsigned group, const char *s,
                                     size_t n) {
  size_t bi = sni_rt_fastrange(key, r->nbuckets);
  uint16_t tag = sni_rt_tag(key);
  for (;;) {
    const sni_rt_bucket *b = &r->buckets[bi];
    if (sni_rt_tag_hits(b, tag))
      for (unsigned k = 0; k < SNI_RT_WAYS; k++) {
        if (b->tag[k] != tag) continue;
        const sni_rt_rec *rec = (const sni_rt_rec *)(r->arena + b->rec[k]);
        if (rec->len == n && (rec->flags & SNI_RT_F_GROUP) == group &&
            memcmp(rec->name, s, n) == 0)
          return rec;
      }
    if (!b->spill) return NULL;
    if (++bi == r->nbuckets) bi = 0;
  }
}

/* Resolve one level (rule 9).  self: the name is the suffix itself, so
 * only `.s` routes apply.  Returns 1 with *t set when the level decides. */
static int sni_rt_level(const sni_router *r, const sni_rt_rec *rec, int self,
                        const uint8_t *alpn, size_t alpn_len, void **t) {
  if (rec->n_alt && alpn_len) {
    const sni_rt_alt *alts = r->alts + rec->alt;
    for (size_t o = 0; o < alpn_len; o += (size_t)alpn[o] + 1) {
      const uint8_t *c = alpn + o;
      for (unsigned k = 0; k < rec->n_alt; k++) {
        const uint8_t *p = r->pbytes + alts[k].proto;
        if (p[0] == c[0] && memcmp(p + 1, c + 1, c[0]) == 0 &&
            !(self && alts[k].star)) {
          *t = alts[k].target;
          return 1;
        }
      }
    }
  }
  if ((rec->flags & SNI_RT_F_PLAIN) ||
      ((rec->flags & SNI_RT_F_STAR) && !self)) {
    *t = rec->target;
    return 1;
  }
  return 0;
}

/* which: SNI_RT_SP_DEFAULT, _NO_SNI or _NOT_TLS; the latter two fall back
 * to the default.  Returns the route kind or SNI_ENOENT. */
static int sni_rt_special(const sni_router *r, unsigned which,
                          const uint8_t *alpn, size_t alpn_len, void **t) {
  uint32_t rec = r->special[which - SNI_RT_SP_DEFAULT];
  if (which != SNI_RT_SP_DEFAULT && rec != SNI_RT_NONE &&
      sni_rt_level(r, (const sni_rt_rec *)(r->arena + rec), 0, alpn, alpn_len,
                   t))
    return (int)which;
  rec = r->special[0];
  if (rec != SNI_RT_NONE &&
      sni_rt_level(r, (const sni_rt_rec *)(r->arena + rec), 0, alpn, alpn_len,
                   t))
    return SNI_ROUTE_DEFAULT;
  *t = NULL;
  return SNI_ENOENT;
}

#if defined(__GNUC__) || defined(__clang__)
#define SNI_PREFETCH(p) __builtin_prefetch(p)
#else
#define SNI_PREFETCH(p) ((void)(p))
#endif

/* The bits of word w of a label-count mask (bit k - 1: literals of k
 * labels) for k <= max. */
static uint64_t sni_rt_upto(const uint64_t *mask, unsigned w, unsigned max) {
  if (max < 64 * w + 1) return 0;
  unsigned top = max - 1 - 64 * w; /* highest bit allowed */
  return top >= 63 ? mask[w] : mask[w] & (((uint64_t)2 << top) - 1);
}

/* One table read a lookup may need: the key, the group, the part of the
 * name it is for, and whether that part is the whole name of a wildcard
 * level (self). */
typedef struct {
  uint64_t key;
  uint8_t off, len, group, self;
} sni_rt_probe;

/* Plan the read of (group g, key from h) as probe *np unless the filter
 * rules it out. */
static inline void sni_rt_plan_one(const sni_router *r, sni_rt_probe *pr,
                                   unsigned *np, uint64_t h, unsigned g,
                                   size_t off, size_t len, int self) {
  uint64_t key = sni_rt_key(h, g);
  if (g != SNI_RT_EXACT) {
    uint64_t m = sni_rt_fmask(key);
    if ((*sni_rt_fword(r, key) & m) != m) return;
  }
  sni_rt_probe *p = &pr[(*np)++];
  p->key = key;
  p->off = (uint8_t)off;
  p->len = (uint8_t)len;
  p->group = (uint8_t)g;
  p->self = (uint8_t)self;
  SNI_PREFETCH(&r->buckets[sni_rt_fastrange(key, r->nbuckets)]);
}

/* Every table read of a name in rule 8's order, each bucket prefetched as
 * soon as its key is known: the reads do not depend on one another, so
 * their cache misses overlap and a lookup costs about one memory latency
 * whatever its number of levels.  Only levels of a length (in labels)
 * that some entry of the group has are planned: the length masks are
 * walked bit by bit, longest first; and a wildcard level the filter rules
 * out is not read at all.  Returns the number of probes. */
static unsigned sni_rt_plan(const sni_router *r, size_t n, const uint8_t *ls,
                            unsigned nl, const uint64_t *lh,
                            sni_rt_probe *pr, unsigned np) {
  uint64_t suf[SNI_RT_MAX_LABELS], pre[SNI_RT_MAX_LABELS], h = r->seed;
  unsigned npre = 0;
  for (unsigned i = nl; i-- > 0;) suf[i] = h = sni_rt_chain(h, lh[i]);
  for (unsigned w = 2; w-- > 0;)
    for (uint64_t m = sni_rt_upto(r->lmask[SNI_RT_DOT], w, nl); m;) {
      unsigned bit = 63u - (unsigned)__builtin_clzll(m);
      m ^= (uint64_t)1 << bit;
      unsigned i = nl - (64 * w + bit + 1); /* suffix from label i */
      sni_rt_plan_one(r, pr, &np, suf[i], SNI_RT_DOT, ls[i], n - ls[i],
                      i == 0);
    }
  /* a tail prefix has at most nl - 1 labels, and its hash chains left to
   * right: computed once, up to the longest prefix needed */
  h = r->seed;
  for (unsigned w = 2; w-- > 0;)
    for (uint64_t m = sni_rt_upto(r->lmask[SNI_RT_TAIL], w, nl - 1); m;) {
      unsigned bit = 63u - (unsigned)__builtin_clzll(m);
      m ^= (uint64_t)1 << bit;
      unsigned k = 64 * w + bit + 1; /* labels 0 .. k - 1 */
      for (; npre < k; npre++) pre[npre] = h = sni_rt_chain(h, lh[npre]);
      sni_rt_plan_one(r, pr, &np, pre[k - 1], SNI_RT_TAIL, 0,
                      (size_t)ls[k] - 1, 0);
    }
  return np;
}

/* Route the normalised host name b[0..n) (lowercase, no trailing dot, a
 * host name by lib/hostname.c's rules), whose nl labels start at ls[] as
 * sni_host_labels() gives them.  Its buffer holds 8 bytes past n. */
static int sni_rt_match_name(const sni_router *r, const char *b, size_t n,
                             const uint8_t *ls, unsigned nl,
                             const uint8_t *alpn, size_t alpn_len, void **t) {
  if (nl > SNI_RT_MAX_LABELS) /* only a name that is no host name */
    return sni_rt_special(r, SNI_RT_SP_NO_SNI, alpn, alpn_len, t);
  sni_rt_probe pr[2 * SNI_RT_MAX_LABELS];
  unsigned np = 0;
  if ((r->lmask[SNI_RT_EXACT][(nl - 1) / 64] >> ((nl - 1) % 64)) & 1u)
    sni_rt_plan_one(r, pr, &np, sni_rt_exact_hash(r, b, n), SNI_RT_EXACT, 0,
                    n, 0);
  uint64_t lh[SNI_RT_MAX_LABELS];
  for (unsigned i = 0; i < nl; i++)
    lh[i] = sni_rt_label_hash(b + ls[i], (size_t)(ls[i + 1] - 1 - ls[i]));
  np = sni_rt_plan(r, n, ls, nl, lh, pr, np);
  for (unsigned k = 0; k < np; k++) {
    const sni_rt_rec *rec =
        sni_rt_find(r, pr[k].key, pr[k].group, b + pr[k].off, pr[k].len);
    if (rec && sni_rt_level(r, rec, pr[k].self, alpn, alpn_len, t))
      return pr[k].group; /* numbered as the public kind */
  }
  return sni_rt_special(r, SNI_RT_SP_DEFAULT, alpn, alpn_len, t);
}

static int sni_rt_alpn_ok(const uint8_t *alpn, size_t len) {
  size_t o = 0;
  while (o < len) {
    if (alpn[o] == 0) return 0;
    o += (size_t)alpn[o] + 1;
  }
  return o == len;
}

int sni_router_match(const sni_router *r, const char *name, size_t len,
                     const uint8_t *alpn, size_t alpn_len, void **target) {
  if (!target) return SNI_EINVAL;
  *target = NULL;
  if (!r || r->state != SNI_RT_COMPILED || (!name && len) ||
      (!alpn && alpn_len) || !sni_rt_alpn_ok(alpn, alpn_len))
    return SNI_EINVAL;
  if (len == 0 || len > SNI_MAX_NAME)
    return sni_rt_special(r, SNI_RT_SP_NO_SNI, alpn, alpn_len, target);
  /* The parser's classification, on a copy: it reads and writes whole
   * 16-byte blocks of SNI_MAX_NAME + 1 byte buffers. */
  char in[SNI_MAX_NAME + 1], lo[SNI_MAX_NAME + 1 + 8];
  memcpy(in, name, len);
  memset(in + len, 0, ((len + 15) & ~(size_t)15) - len);
  size_t n;
  uint8_t ls[SNI_MAX_NAME + 2];
  unsigned nl;
  if (sni_host_classify(in, len, lo, &n, ls, &nl) & SNI_NAME_NOT_HOSTNAME)
    return sni_rt_special(r, SNI_RT_SP_NO_SNI, alpn, alpn_len, target);
  memset(lo + n, 0, 8);
  return sni_rt_match_name(r, lo, n, ls, nl, alpn, alpn_len, target);
}

int sni_router_match_hello(const sni_router *r, const sni_hello *h,
                           int parse_result, void **target) {
  if (!target) return SNI_EINVAL;
  *target = NULL;
  if (!r || r->state != SNI_RT_COMPILED) return SNI_EINVAL;
  if (parse_result == SNI_ENOTTLS)
    return sni_rt_special(r, SNI_RT_SP_NOT_TLS, NULL, 0, target);
  if (!h) return SNI_EINVAL;
  const uint8_t *alpn = h->alpn;
  size_t alpn_len = h->alpn_len;
  if (alpn_len > sizeof h->alpn || !sni_rt_alpn_ok(alpn, alpn_len))
    return SNI_EINVAL;
  if (parse_result == SNI_ESSLV2 || (parse_result >= 0 && h->sslv2))
    return sni_rt_special(r, SNI_RT_SP_NO_SNI, alpn, alpn_len, target);
  if (parse_result < 0) return parse_result;
  /* The parser classified and lowercased the name already: its flags
   * decide no_sni, and its normalised form is looked up as it is. */
  size_t n = h->sni_normalized_len;
  if (!h->sni_present || n == 0 || n > SNI_RT_MAX_NAME ||
      (h->name_flags & (SNI_NAME_NOT_HOSTNAME | SNI_NAME_IP_LITERAL)))
    return sni_rt_special(r, SNI_RT_SP_NO_SNI, alpn, alpn_len, target);
  uint8_t ls[SNI_MAX_NAME + 2];
  unsigned nl = sni_host_labels(h->sni_normalized, n, ls);
  if (n + 8 <= sizeof h->sni_normalized)
    return sni_rt_match_name(r, h->sni_normalized, n, ls, nl, alpn, alpn_len,
                             target);
  /* a name within 8 bytes of the array's end: hashing reads a word past
   * the name, so it is looked up from a copy (bytes, not re-checked) */
  char cp[SNI_MAX_NAME + 1 + 8];
  memcpy(cp, h->sni_normalized, n);
  memset(cp + n, 0, 8);
  return sni_rt_match_name(r, cp, n, ls, nl, alpn, alpn_len, target);
}
