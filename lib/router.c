/* The routing table: build-time pattern checks and grouping, then a frozen
 * flat open-addressing table that lookups read without locks or
 * allocation.  Semantics are the table in include/sniroute.h. */
#include "sniroute.h"
#include "router_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- names ------------------------------------------------------------ */

/* Byte classes for one pass over a name: lowercase map plus validity. */
enum { SNI_C_BAD = 0, SNI_C_OK = 1, SNI_C_DIGIT = 2, SNI_C_DOT = 3 };

/* The class of every byte, as a constant table: lookups must not write
 * shared state, so there is no lazy initialisation. */
#define SNI_CLS(c)                                                            \
  (((c) >= '0' && (c) <= '9')                                         ? 2   \
   : (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ||            \
      (c) == '-' || (c) == '_')                                       ? 1   \
   : (c) == '.'                                                       ? 3   \
                                                                      : 0)
#define R4(x) SNI_CLS(x), SNI_CLS(x + 1), SNI_CLS(x + 2), SNI_CLS(x + 3)
#define R16(x) R4(x), R4(x + 4), R4(x + 8), R4(x + 12)
#define R64(x) R16(x), R16(x + 16), R16(x + 32), R16(x + 48)
static const unsigned char sni_ctab[256] = {R64(0), R64(64), R64(128),
                                            R64(192)};
#undef R4
#undef R16
#undef R64

int sni_rt_normalize(const char *name, size_t len, sni_rt_name *out) {
  if (len && name[len - 1] == '.') len--;
  if (len == 0 || len > SNI_RT_MAX_NAME) return -1;
  /* One branch-free pass: lowercase, note dots, collect bad bytes.  Dots
   * sit at unpredictable places, so a branch per dot would mispredict. */
  unsigned nl = 1, bad = 0;
  out->lstart[0] = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    unsigned k = sni_ctab[c];
    bad |= k == SNI_C_BAD;
    unsigned dot = k == SNI_C_DOT;
    out->lstart[nl] = (uint8_t)(i + 1);
    nl += dot;
    /* Setting bit 5 lowercases A-Z and leaves the other allowed bytes
     * ('0'-'9', 'a'-'z', '-', '_', '.') unchanged. */
    out->buf[i] = (char)(c | 0x20);
  }
  /* nl - 1 dots; labels are lstart[i] .. lstart[i+1] - 2 */
  out->lstart[nl] = (uint8_t)(len + 1);
  if (bad || nl > SNI_RT_MAX_LABELS) return -1;
  for (unsigned i = 0; i < nl; i++) {
    unsigned l = (unsigned)(out->lstart[i + 1] - out->lstart[i]) - 1u;
    if (l == 0 || l > 63) return -1;
  }
  /* an all-digit last label is no host name (it is an IP literal, or
   * could be mistaken for one) */
  size_t i = out->lstart[nl - 1];
  while (i < len && sni_ctab[(unsigned char)out->buf[i]] == SNI_C_DIGIT) i++;
  if (i == len) return -1;
  out->nlabels = nl;
  out->len = len;
  /* Zero bytes after the name so word loads that overrun a label read
   * defined bytes (they are masked off anyway). */
  memset(out->buf + len, 0, 8);
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

/* Hash of one label, 8 bytes per multiply.  p must be readable for 8
 * bytes past p + n rounded down; bytes past n are masked off. */
static inline uint64_t sni_rt_label_hash(const char *p, size_t n) {
  uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15u;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    h = (h ^ sni_load_le64(p + i)) * 0xFF51AFD7ED558CCDu;
    h ^= h >> 32;
  }
  if (i < n) {
    uint64_t w = sni_load_le64(p + i) & (~(uint64_t)0 >> (8 * (8 - (n - i))));
    h = (h ^ w) * 0xFF51AFD7ED558CCDu;
    h ^= h >> 32;
  }
  return h;
}

/* Chaining labels: a suffix hash folds labels right to left, a prefix
 * hash left to right; each step is one multiply, so hashing every suffix
 * of a name costs one step per label. */
static inline uint64_t sni_rt_chain(uint64_t acc, uint64_t lh) {
  acc = (acc ^ lh) * 0xC4CEB9FE1A85EC53u;
  return acc ^ (acc >> 29);
}

/* The chain already mixes every label in with a multiply; one more
 * multiply spreads the tag, and the fold gives the low half (slot index)
 * the high bits' entropy. */
static inline uint64_t sni_rt_key(uint64_t h, unsigned tag) {
  h = (h ^ ((uint64_t)tag << 59)) * 0xD6E8FEB86659FD93u;
  return h ^ (h >> 32);
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
  sni_rt_free(&r->a, r->slots, (size_t)r->nslots * sizeof *r->slots);
  sni_rt_free(&r->a, r->arena, r->arena_words * sizeof *r->arena);
  sni_rt_free(&r->a, r->alts, r->nalts * sizeof *r->alts);
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

/* Check and normalise a pattern.  Returns 0 with kind and the literal part
 * (lowercased, no '*' label, no dots around it) in out/outlen, else sets
 * *why. */
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
  size_t lim = SNI_RT_MAX_NAME; /* longest literal that a match allows */
  const char *b = p;
  size_t bn = n;
  if (n >= 2 && p[0] == '*' && p[1] == '.') {
    *kind = SNI_RT_STAR;
    b += 2;
    bn -= 2;
    lim -= 2;
  } else if (p[0] == '.') {
    *kind = SNI_RT_DOT;
    b += 1;
    bn -= 1;
  } else if (n >= 2 && p[n - 1] == '*' && p[n - 2] == '.') {
    *kind = SNI_RT_TAIL;
    bn -= 2;
    lim -= 2;
  } else {
    *kind = SNI_RT_EXACT;
  }
  if (bn == 0) {
    *why = "empty label";
    return -1;
  }
  if (bn == 1 && b[0] == '*') {
    *why = "'*' alone is not a pattern (use the default route)";
    return -1;
  }
  if (bn > lim) {
    *why = "name longer than 253 bytes";
    return -1;
  }
  size_t start = 0;
  int all_digit = 1;
  for (size_t i = 0; i <= bn; i++) {
    unsigned char c = i < bn ? (unsigned char)b[i] : '.';
    if (c == '.') {
      if (i == start) {
        *why = "empty label";
        return -1;
      }
      if (i - start > 63) {
        *why = "label longer than 63 bytes";
        return -1;
      }
      if (i < bn) all_digit = 1;
      start = i + 1;
      out[i] = '.';
      continue;
    }
    if (c == '*') {
      *why = bn + 2 == n ? "'*' may stand as the first or the last label, "
                           "not as both"
                         : "'*' may stand only as a whole first or last label";
      return -1;
    }
    unsigned char k = sni_ctab[c];
    if (k == SNI_C_BAD) {
      *why = "invalid character (allowed: letters, digits, '-', '_', '.', "
             "and '*' as a whole first or last label)";
      return -1;
    }
    if (k != SNI_C_DIGIT) all_digit = 0;
    out[i] = (char)(c | 0x20);
  }
  if (all_digit && *kind != SNI_RT_TAIL) {
    *why = "last label is all digits: such names are IP literals or not "
           "host names, they take the no_sni route and never match";
    return -1;
  }
  *outlen = bn;
  return 0;
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
  unsigned k;
  switch (which) {
  case SNI_ROUTE_DEFAULT: k = SNI_RT_SP_DEFAULT; break;
  case SNI_ROUTE_NO_SNI: k = SNI_RT_SP_NO_SNI; break;
  case SNI_ROUTE_NOT_TLS: k = SNI_RT_SP_NOT_TLS; break;
  default: return SNI_EINVAL;
  }
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
  /* Copy to a padded buffer: label hashing reads whole words. */
  char buf[SNI_RT_MAX_NAME + 16];
  memcpy(buf, s, n);
  memset(buf + n, 0, 8);
  uint64_t lh[SNI_RT_MAX_LABELS];
  size_t nl = 0, st = 0;
  for (size_t i = 0; i <= n; i++)
    if (i == n || buf[i] == '.') {
      lh[nl++] = sni_rt_label_hash(buf + st, i - st);
      st = i + 1;
    }
  uint64_t h = r->seed;
  if (group == SNI_RT_TAIL) {
    for (size_t i = 0; i < nl; i++) h = sni_rt_chain(h, lh[i]);
  } else {
    for (size_t i = nl; i-- > 0;) h = sni_rt_chain(h, lh[i]);
  }
  return sni_rt_key(h, group);
}

static size_t sni_rt_fastrange(uint64_t key, uint32_t n) {
  return (size_t)(((key & 0xFFFFFFFFu) * (uint64_t)n) >> 32);
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

/* Build the record for one group (routes linked through next[], in add
 * order).  Returns 0 or SNI_ECONFLICT. */
static int sni_rt_emit(sni_router *r, uint32_t head, const uint32_t *next,
                       sni_rt_pref *scratch, size_t *arena_pos,
                       size_t *alt_pos, uint32_t *rec_out) {
  const sni_rt_route *R = r->routes;
  const sni_rt_route *plain = NULL, *star = NULL;
  size_t np = 0;
  for (uint32_t i = head; i != SNI_RT_NONE; i = next[i]) {
    const sni_rt_route *rt = &R[i];
    if (rt->n_alpn == 0) {
      const sni_rt_route **slot = rt->kind == SNI_RT_STAR ? &star : &plain;
      if (*slot) {
        sni_rt_conflict(r, *slot, rt, NULL);
        return SNI_ECONFLICT;
      }
      *slot = rt;
      if (plain && star) {
        sni_rt_conflict(r, rt == star ? plain : star, rt, NULL);
        return SNI_ECONFLICT;
      }
    }
    for (unsigned j = 0; j < rt->n_alpn; j++) {
      scratch[np].p = r->pbytes + r->refs[rt->alpn_off + j];
      scratch[np].route = i;
      np++;
    }
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
  const sni_rt_route *h = &R[head];
  sni_rt_rec *rec = (sni_rt_rec *)(r->arena + *arena_pos);
  rec->target = plain ? plain->target : NULL;
  rec->target2 = star ? star->target : NULL;
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
  *rec_out = (uint32_t)*arena_pos;
  *arena_pos += SNI_RT_REC_WORDS(h->len);
  return 0;
}

int sni_router_compile(sni_router *r) {
  if (!r || r->state != SNI_RT_BUILDING) return SNI_EINVAL;
  r->err[0] = 0;
  const sni_allocator *A = &r->a;
  size_t n = r->nroutes_build;
  int rc = SNI_ENOMEM;
  uint32_t *next = NULL, *rslot = NULL;
  uint64_t *tmp = NULL;
  sni_rt_pref *scratch = NULL;
  size_t nslots = n + n / 3 + 8; /* load factor <= 0.75 */
  if (nslots >= UINT32_MAX || n >= UINT32_MAX - 1) goto fail;
  next = sni_rt_alloc(A, n * sizeof *next);
  rslot = sni_rt_alloc(A, n * sizeof *rslot);
  tmp = sni_rt_alloc(A, nslots * sizeof *tmp);
  r->slots = sni_rt_alloc(A, nslots * sizeof *r->slots);
  if (r->slots) r->nslots = (uint32_t)nslots;
  if (!next || !rslot || !tmp || !r->slots) goto fail;
  memset(tmp, 0, nslots * sizeof *tmp);
  memset(r->slots, 0, nslots * sizeof *r->slots);

  /* Pass 1: group routes by (group, literal).  Walking backwards and
   * pushing at the head leaves every group's list in add order, with the
   * first-added route at the head. */
  uint32_t sp_head[3] = {SNI_RT_NONE, SNI_RT_NONE, SNI_RT_NONE};
  size_t words = 0, groups = 0;
  for (size_t i = n; i-- > 0;) {
    sni_rt_route *rt = &r->routes[i];
    unsigned g = sni_rt_group(rt->kind);
    if (g >= SNI_RT_SP_DEFAULT) {
      uint32_t *hd = &sp_head[g - SNI_RT_SP_DEFAULT];
      if (*hd == SNI_RT_NONE) {
        words += SNI_RT_REC_WORDS(0);
        groups++;
      }
      next[i] = *hd;
      *hd = (uint32_t)i;
      continue;
    }
    uint64_t key = sni_rt_hash_literal(r, r->names + rt->name_off, rt->len, g);
    uint64_t fp = (key >> 32) | 1;
    size_t s = sni_rt_fastrange(key, r->nslots);
    for (;;) {
      uint64_t v = tmp[s];
      if (!v) {
        tmp[s] = fp << 32 | (uint32_t)i;
        next[i] = SNI_RT_NONE;
        words += SNI_RT_REC_WORDS(rt->len);
        groups++;
        break;
      }
      if (v >> 32 == fp) {
        const sni_rt_route *o = &r->routes[(uint32_t)v];
        if (sni_rt_group(o->kind) == g && o->len == rt->len &&
            memcmp(r->names + o->name_off, r->names + rt->name_off,
                   rt->len) == 0) {
          next[i] = (uint32_t)v;
          tmp[s] = fp << 32 | (uint32_t)i;
          break;
        }
      }
      if (++s == r->nslots) s = 0;
    }
    rslot[i] = (uint32_t)s;
  }
  if (words >= UINT32_MAX) goto fail;
  r->arena_words = words ? words : 1;
  r->arena = sni_rt_alloc(A, r->arena_words * sizeof *r->arena);
  r->nalts = r->nrefs;
  r->alts = sni_rt_alloc(A, (r->nalts ? r->nalts : 1) * sizeof *r->alts);
  scratch = sni_rt_alloc(A, (r->nrefs ? r->nrefs : 1) * sizeof *scratch);
  if (!r->arena || !r->alts || !scratch) goto fail;
  memset(r->arena, 0, r->arena_words * sizeof *r->arena);

  /* Pass 2: emit the groups in the order of their first route, so the
   * conflict reported is the one a reader of the config meets first. */
  size_t apos = 0, alt = 0;
  for (size_t i = 0; i < n; i++) {
    const sni_rt_route *rt = &r->routes[i];
    unsigned g = sni_rt_group(rt->kind);
    uint32_t rec;
    if (g >= SNI_RT_SP_DEFAULT) {
      if (sp_head[g - SNI_RT_SP_DEFAULT] != i) continue;
      rc = sni_rt_emit(r, (uint32_t)i, next, scratch, &apos, &alt, &rec);
      if (rc) goto fail;
      r->special[g - SNI_RT_SP_DEFAULT] = rec;
      continue;
    }
    uint64_t v = tmp[rslot[i]];
    if ((uint32_t)v != i) continue; /* not the group's first route */
    rc = sni_rt_emit(r, (uint32_t)i, next, scratch, &apos, &alt, &rec);
    if (rc) goto fail;
    r->slots[rslot[i]] = (v & 0xFFFFFFFF00000000u) | rec;
    r->count[g]++;
    r->name_bytes += rt->len;
    unsigned labels = 1;
    for (unsigned j = 0; j < rt->len; j++)
      labels += r->names[rt->name_off + j] == '.';
    r->lmask[g][(labels - 1) / 64] |= (uint64_t)1 << ((labels - 1) % 64);
  }
  r->nentries = groups;
  r->nroutes = n;
  sni_rt_free(A, next, n * sizeof *next);
  sni_rt_free(A, rslot, n * sizeof *rslot);
  sni_rt_free(A, tmp, nslots * sizeof *tmp);
  sni_rt_free(A, scratch, (r->nrefs ? r->nrefs : 1) * sizeof *scratch);
  sni_rt_free_build(r);
  r->state = SNI_RT_COMPILED;
  return 0;
fail:
  if (rc == SNI_ENOMEM) snprintf(r->err, sizeof r->err, "out of memory");
  sni_rt_free(A, next, n * sizeof *next);
  sni_rt_free(A, rslot, n * sizeof *rslot);
  sni_rt_free(A, tmp, nslots * sizeof *tmp);
  sni_rt_free(A, scratch, (r->nrefs ? r->nrefs : 1) * sizeof *scratch);
  r->state = SNI_RT_FAILED;
  return rc;
}

int sni_router_get_stats(const sni_router *r, sni_router_stats *st) {
  if (!r || !st || r->state != SNI_RT_COMPILED) return SNI_EINVAL;
  st->routes = r->nroutes;
  st->entries = r->nentries;
  st->bytes = sizeof *r + (size_t)r->nslots * sizeof *r->slots +
              r->arena_words * sizeof *r->arena +
              r->nalts * sizeof *r->alts + r->pbytes_cap;
  st->name_bytes = r->name_bytes;
  return 0;
}

/* ---- lookup ----------------------------------------------------------- */

static const sni_rt_rec *sni_rt_probe(const sni_router *r, uint64_t key,
                                      unsigned group, const char *s,
                                      size_t n) {
  uint64_t fp = (key >> 32) | 1;
  size_t i = sni_rt_fastrange(key, r->nslots);
  for (;;) {
    uint64_t v = r->slots[i];
    if (!v) return NULL;
    if (v >> 32 == fp) {
      const sni_rt_rec *rec = (const sni_rt_rec *)(r->arena + (uint32_t)v);
      if (rec->len == n && (rec->flags & SNI_RT_F_GROUP) == group &&
          memcmp(rec->name, s, n) == 0)
        return rec;
    }
    if (++i == r->nslots) i = 0;
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
  if (rec->flags & SNI_RT_F_PLAIN) {
    *t = rec->target;
    return 1;
  }
  if ((rec->flags & SNI_RT_F_STAR) && !self) {
    *t = rec->target2;
    return 1;
  }
  return 0;
}

static int sni_rt_special(const sni_router *r, int which, const uint8_t *alpn,
                          size_t alpn_len, void **t) {
  /* which: 0 default, 1 no_sni, 2 not_tls; the latter two fall back. */
  if (which && r->special[which] != SNI_RT_NONE &&
      sni_rt_level(r, (const sni_rt_rec *)(r->arena + r->special[which]), 0,
                   alpn, alpn_len, t))
    return which == 1 ? SNI_ROUTE_NO_SNI : SNI_ROUTE_NOT_TLS;
  if (r->special[0] != SNI_RT_NONE &&
      sni_rt_level(r, (const sni_rt_rec *)(r->arena + r->special[0]), 0, alpn,
                   alpn_len, t))
    return SNI_ROUTE_DEFAULT;
  *t = NULL;
  return SNI_ENOENT;
}

#if defined(__GNUC__) || defined(__clang__)
#define SNI_PREFETCH(p) __builtin_prefetch(p)
#else
#define SNI_PREFETCH(p) ((void)(p))
#endif

/* Does group g hold a literal of n labels? */
static int sni_rt_has(const sni_router *r, unsigned g, unsigned n) {
  return (int)((r->lmask[g][(n - 1) / 64] >> ((n - 1) % 64)) & 1u);
}

static int sni_rt_match_norm(const sni_router *r, const sni_rt_name *nm,
                             const uint8_t *alpn, size_t alpn_len, void **t) {
  unsigned nl = nm->nlabels;
  const char *b = nm->buf;
  if (nl == 0 || nl > SNI_RT_MAX_LABELS) return SNI_EINVAL; /* cannot be */
  uint64_t lh[SNI_RT_MAX_LABELS];
  uint64_t suf[SNI_RT_MAX_LABELS + 1];
  for (unsigned i = 0; i < nl; i++)
    lh[i] = sni_rt_label_hash(b + nm->lstart[i],
                              (size_t)(nm->lstart[i + 1] - 1 - nm->lstart[i]));
  uint64_t h = r->seed;
  for (unsigned i = nl; i-- > 0;) {
    h = sni_rt_chain(h, lh[i]);
    suf[i] = h;
  }
  uint64_t kexact = sni_rt_key(suf[0], SNI_RT_EXACT);
  uint64_t kdot[SNI_RT_MAX_LABELS];
  int have_wild = r->count[SNI_RT_DOT] != 0;
  /* Start every table read of the exact and wildcard levels at once: the
   * loads are independent, so their cache misses overlap. */
  /* Only lengths (in labels) that some pattern has are probed, so long
   * names cost little more than short ones. */
  int have_exact = sni_rt_has(r, SNI_RT_EXACT, nl);
  if (have_exact) SNI_PREFETCH(&r->slots[sni_rt_fastrange(kexact, r->nslots)]);
  if (have_wild)
    for (unsigned i = 0; i < nl; i++) {
      if (!sni_rt_has(r, SNI_RT_DOT, nl - i)) continue;
      kdot[i] = sni_rt_key(suf[i], SNI_RT_DOT);
      SNI_PREFETCH(&r->slots[sni_rt_fastrange(kdot[i], r->nslots)]);
    }
  /* Tail prefixes too: a miss then costs one round of memory accesses. */
  uint64_t pre[SNI_RT_MAX_LABELS];
  int have_tail = r->count[SNI_RT_TAIL] != 0 && nl > 1;
  if (have_tail) {
    h = r->seed;
    for (unsigned i = 0; i + 1 < nl; i++) {
      h = sni_rt_chain(h, lh[i]);
      if (!sni_rt_has(r, SNI_RT_TAIL, i + 1)) continue;
      pre[i] = sni_rt_key(h, SNI_RT_TAIL);
      SNI_PREFETCH(&r->slots[sni_rt_fastrange(pre[i], r->nslots)]);
    }
  }
  const sni_rt_rec *rec;
  if (have_exact) {
    rec = sni_rt_probe(r, kexact, SNI_RT_EXACT, b, nm->len);
    if (rec && sni_rt_level(r, rec, 0, alpn, alpn_len, t))
      return SNI_ROUTE_EXACT;
  }
  if (have_wild)
    for (unsigned i = 0; i < nl; i++) {
      if (!sni_rt_has(r, SNI_RT_DOT, nl - i)) continue;
      size_t off = nm->lstart[i];
      rec = sni_rt_probe(r, kdot[i], SNI_RT_DOT, b + off, nm->len - off);
      if (rec && sni_rt_level(r, rec, i == 0, alpn, alpn_len, t))
        return SNI_ROUTE_WILDCARD;
    }
  if (have_tail) {
    for (unsigned i = nl - 1; i-- > 0;) {
      if (!sni_rt_has(r, SNI_RT_TAIL, i + 1)) continue;
      /* prefix = labels 0..i, i.e. up to the dot before label i+1 */
      size_t plen = (size_t)nm->lstart[i + 1] - 1;
      rec = sni_rt_probe(r, pre[i], SNI_RT_TAIL, b, plen);
      if (rec && sni_rt_level(r, rec, 0, alpn, alpn_len, t))
        return SNI_ROUTE_TAIL;
    }
  }
  return sni_rt_special(r, 0, alpn, alpn_len, t);
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
  sni_rt_name nm;
  if (len == 0 || len > SNI_RT_MAX_NAME + 1 ||
      sni_rt_normalize(name, len, &nm))
    return sni_rt_special(r, 1, alpn, alpn_len, target);
  return sni_rt_match_norm(r, &nm, alpn, alpn_len, target);
}

int sni_router_match_hello(const sni_router *r, const sni_hello *h,
                           int parse_result, void **target) {
  if (!target) return SNI_EINVAL;
  *target = NULL;
  if (!r || r->state != SNI_RT_COMPILED) return SNI_EINVAL;
  if (parse_result == SNI_ENOTTLS) return sni_rt_special(r, 2, NULL, 0, target);
  if (!h) return SNI_EINVAL;
  const uint8_t *alpn = h->alpn;
  size_t alpn_len = h->alpn_len;
  if (alpn_len > sizeof h->alpn || !sni_rt_alpn_ok(alpn, alpn_len))
    return SNI_EINVAL;
  if (parse_result == SNI_ESSLV2 || (parse_result >= 0 && h->sslv2))
    return sni_rt_special(r, 1, alpn, alpn_len, target);
  if (parse_result < 0) return parse_result;
  sni_rt_name nm;
  size_t n = h->sni_normalized_len;
  if (!h->sni_present || n == 0 || n > SNI_MAX_NAME ||
      (h->name_flags & (SNI_NAME_NOT_HOSTNAME | SNI_NAME_IP_LITERAL)) ||
      sni_rt_normalize(h->sni_normalized, n, &nm))
    return sni_rt_special(r, 1, alpn, alpn_len, target);
  return sni_rt_match_norm(r, &nm, alpn, alpn_len, target);
}
