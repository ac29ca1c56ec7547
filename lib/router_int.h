/* Router internals shared by router.c, mapfile.c and rslot.c.  Not part
 * of the public API. */
#ifndef SNIROUTE_ROUTER_INT_H
#define SNIROUTE_ROUTER_INT_H

#include "sniroute.h"

#define SNI_RT_MAX_NAME 253
#define SNI_RT_MAX_LABELS 127 /* 253 bytes hold at most 127 labels */
#define SNI_RT_NONE 0xFFFFFFFFu

/* Route kinds, numbered as the public sni_route_kind that a match of
 * that kind returns; `*.s` (STAR) returns SNI_ROUTE_WILDCARD like `.s`.
 * EXACT, DOT and TAIL double as table group tags (STAR routes live in the
 * DOT group). */
enum {
  SNI_RT_EXACT = SNI_ROUTE_EXACT,
  SNI_RT_DOT = SNI_ROUTE_WILDCARD,
  SNI_RT_TAIL = SNI_ROUTE_TAIL,
  SNI_RT_SP_DEFAULT = SNI_ROUTE_DEFAULT,
  SNI_RT_SP_NO_SNI = SNI_ROUTE_NO_SNI,
  SNI_RT_SP_NOT_TLS = SNI_ROUTE_NOT_TLS,
  SNI_RT_STAR = SNI_ROUTE_NOT_TLS + 1
};
#define SNI_RT_NGROUPS (SNI_RT_TAIL + 1) /* name groups index 1..TAIL */

enum { SNI_RT_BUILDING = 0, SNI_RT_COMPILED = 1, SNI_RT_FAILED = 2 };

/* Record flags: the group tag in the low bits. */
#define SNI_RT_F_GROUP 0x07u
#define SNI_RT_F_PLAIN 0x08u /* target: the route without ALPN, for the
                                name and (`.s`) every name below it     */
#define SNI_RT_F_STAR  0x10u /* target: `*.s` without ALPN, not for s
                                itself (PLAIN and STAR together are a
                                conflict, so one target suffices)       */

/* One table entry, in the arena; the literal follows the header.  Records
 * are packed (8-byte aligned): one that straddles two cache lines costs a
 * second line fetched in parallel with the first, which is cheaper than
 * the memory that padding to whole lines would take. */
typedef struct sni_rt_rec {
  void *target;
  uint32_t alt;   /* first alternative in alts */
  uint16_t n_alt;
  uint8_t flags;
  uint8_t len;
  char name[];
} sni_rt_rec;
#define SNI_RT_REC_WORDS(len) ((sizeof(sni_rt_rec) + (size_t)(len) + 7) / 8)

/* The hash table: buckets of one cache line.  A way holds a 16-bit tag
 * (0: empty) and a record offset; the tags share 24 bytes, so a probe
 * compares them all with three word operations and a miss usually ends
 * in this one line.  spill is set on a bucket that an insertion found
 * full: only then does a lookup go on to the next bucket. */
#define SNI_RT_WAYS 10
typedef struct sni_rt_bucket {
  uint16_t tag[SNI_RT_WAYS];
  uint16_t spill;
  uint16_t pad;
  uint32_t rec[SNI_RT_WAYS]; /* word offset of the record in arena */
} sni_rt_bucket;
#define SNI_RT_LINE 64

/* An ALPN-qualified route of a record. */
typedef struct sni_rt_alt {
  void *target;
  uint32_t proto; /* offset in pbytes: length byte, then the name */
  uint8_t star;   /* from `*.s`: not for the name s itself */
} sni_rt_alt;

/* A route while building. */
typedef struct sni_rt_route {
  void *target;
  uint32_t name_off; /* literal in names */
  uint32_t alpn_off; /* first protocol in refs */
  uint32_t line;     /* map-file line, 0 from the API */
  uint16_t n_alpn;
  uint8_t len;
  uint8_t kind;
} sni_rt_route;

struct sni_rt_strblk;

struct sni_router {
  sni_allocator a;
  int state;
  uint64_t seed;
  /* frozen tables; buckets and arena are cache-line aligned inside the
   * blocks bmem and amem (bsize, asize bytes) */
  sni_rt_bucket *buckets;
  uint32_t nbuckets;
  uint32_t special[3]; /* default, no_sni, not_tls records */
  uint64_t *arena;
  size_t arena_words;
  uint64_t *filter; /* the wildcard filter (router.c), nfilter words */
  uint32_t nfilter;
  void *fmem;
  size_t fsize;
  void *bmem, *amem;
  size_t bsize, asize;
  sni_rt_alt *alts;
  size_t nalts;
  uint8_t *pbytes; /* protocol names, kept from building */
  size_t pbytes_len, pbytes_cap;
  size_t count[SNI_RT_NGROUPS]; /* entries per group tag */
  /* lmask[group]: bit k set when some entry of that group has a literal
   * of k + 1 labels (k < 128); lookups skip the other lengths. */
  uint64_t lmask[SNI_RT_NGROUPS][2];
  size_t nroutes, nentries, name_bytes;
  /* building */
  sni_rt_route *routes;
  size_t nroutes_build, routes_cap;
  char *names;
  size_t names_len, names_cap;
  uint32_t *refs;
  size_t nrefs, refs_cap;
  struct sni_rt_strblk *strs; /* target strings made by the map loader */
  char err[768];
};

typedef struct sni_rt_mark {
  size_t pbytes_len, nrefs;
} sni_rt_mark;

void *sni_rt_alloc(const sni_allocator *a, size_t n);
void sni_rt_free(const sni_allocator *a, void *p, size_t n);
int sni_rt_allocator(sni_allocator *dst, const sni_allocator *a);
void sni_rt_seterr_line(sni_router *r, unsigned line, const char *why);
const char *sni_rt_strdup(sni_router *r, const char *s, size_t n);
void sni_rt_begin(sni_router *r, sni_rt_mark *m);
void sni_rt_rollback(sni_router *r, const sni_rt_mark *m);
int sni_rt_push_proto(sni_router *r, const sni_rt_mark *m, const char *p,
                      size_t n);
/* kind 0: parse pattern; else a special kind (pattern is its name). */
int sni_rt_commit(sni_router *r, const sni_rt_mark *m, unsigned kind,
                  const char *pattern, size_t plen, void *target,
                  unsigned line);

/* Bytes of a caller's span (a map TARGET, an ALPN name) quoted in an
 * error message. */
#define SNI_RT_SHOW_MAX 64
/* The span is not a string: it may end at the very end of the caller's
 * buffer with no NUL after it, and may hold control bytes.  Quotes at most
 * SNI_RT_SHOW_MAX of its own bytes, with control bytes, bytes >= 0x7f and
 * '\\' as \\xNN, so the message never reads past the span and prints as
 * one line.  out needs SNI_RT_SHOW_BUF bytes. */
#define SNI_RT_SHOW_BUF (SNI_RT_SHOW_MAX * 4 + 4)
void sni_rt_show(char *out, const char *s, size_t n);

#endif
