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

/* What a lookup needs of a table entry once its name has matched. */
typedef struct sni_rt_hdr {
  void *target;
  uint32_t alt;   /* first alternative in alts */
  uint16_t n_alt;
  uint8_t flags;
  uint8_t len;    /* of the literal */
} sni_rt_hdr;

/* A table entry with its whole literal, in the arena: the special routes,
 * and the names too long for a slot.  Packed 8-byte aligned. */
typedef struct sni_rt_rec {
  sni_rt_hdr h;
  char name[];
} sni_rt_rec;
#define SNI_RT_REC_WORDS(len) ((sizeof(sni_rt_rec) + (size_t)(len) + 7) / 8)

/* The hash table: open addressing with linear probing over slots of one
 * cache line, each holding a whole entry, so a hit costs the one line a
 * lookup prefetches.  meta: the occupant's 56-bit key fingerprint (0: an
 * empty slot) above an 8-bit run, the number of slots from this one that
 * hold every key whose home this is (0: none, so most misses end in the
 * home line; SNI_RT_RUN_OPEN: scan to the next empty slot).  A literal of
 * up to SNI_RT_INLINE bytes is kept in the slot; a longer one is compared
 * from its arena record (word offset in far), a second line for long
 * names only. */
#define SNI_RT_INLINE 40
#define SNI_RT_RUN_OPEN 0xFFu
typedef struct sni_rt_slot {
  uint64_t meta;
  sni_rt_hdr h;
  union {
    char name[SNI_RT_INLINE];
    uint32_t far;
  } u;
} sni_rt_slot;
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
  /* frozen tables; slots and arena are cache-line aligned inside the
   * blocks bmem and amem (bsize, asize bytes) */
  sni_rt_slot *slots;
  uint32_t nslots;
  /* A filter of the keys (two bits of one word each, 16 bits per key):
   * small enough to stay in cache, it spares most levels that hold no
   * entry a read of the slot table. */
  uint64_t *filter;
  uint32_t nfilter;
  void *fmem;
  size_t fsize;
  uint32_t special[3]; /* default, no_sni, not_tls records */
  uint64_t *arena;
  size_t arena_words;
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
