/* Router internals shared by router.c, mapfile.c and rslot.c.  Not part
 * of the public API. */
#ifndef SNIROUTE_ROUTER_INT_H
#define SNIROUTE_ROUTER_INT_H

#include "sniroute.h"

#define SNI_RT_MAX_NAME 253
#define SNI_RT_MAX_LABELS 128 /* 253 bytes hold at most 127 labels */
#define SNI_RT_NONE 0xFFFFFFFFu

/* Route kinds; the first four double as table group tags (STAR routes
 * live in the DOT group). */
enum {
  SNI_RT_EXACT = 1,
  SNI_RT_DOT = 2,
  SNI_RT_STAR = 3,
  SNI_RT_TAIL = 4,
  SNI_RT_SP_DEFAULT = 5,
  SNI_RT_SP_NO_SNI = 6,
  SNI_RT_SP_NOT_TLS = 7
};

enum { SNI_RT_BUILDING = 0, SNI_RT_COMPILED = 1, SNI_RT_FAILED = 2 };

/* Record flags: the group tag in the low bits. */
#define SNI_RT_F_GROUP 0x07u
#define SNI_RT_F_PLAIN 0x08u /* target: the route without ALPN (`.s` for
                                a wildcard group)                       */
#define SNI_RT_F_STAR  0x10u /* target2: `*.s` without ALPN              */

/* One table entry, in the arena; the literal follows the header. */
typedef struct sni_rt_rec {
  void *target;
  void *target2;
  uint32_t alt;   /* first alternative in alts */
  uint16_t n_alt;
  uint8_t flags;
  uint8_t len;
  char name[];
} sni_rt_rec;
#define SNI_RT_REC_WORDS(len) ((sizeof(sni_rt_rec) + (size_t)(len) + 7) / 8)

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
  /* frozen tables */
  uint64_t *slots; /* fingerprint << 32 | record word offset; 0 = empty */
  uint32_t nslots;
  uint32_t special[3]; /* default, no_sni, not_tls records */
  uint64_t *arena;
  size_t arena_words;
  sni_rt_alt *alts;
  size_t nalts;
  uint8_t *pbytes; /* protocol names, kept from building */
  size_t pbytes_len, pbytes_cap;
  size_t count[5]; /* entries per group tag */
  /* lmask[group]: bit k set when some entry of that group has a literal
   * of k + 1 labels (k < 128); lookups skip the other lengths. */
  uint64_t lmask[5][2];
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

/* A normalised query name: lowercase, no trailing dot, 8 zero bytes after
 * it; lstart[i] is where label i starts, lstart[nlabels] = len + 1. */
typedef struct sni_rt_name {
  size_t len;
  unsigned nlabels;
  uint8_t lstart[SNI_RT_MAX_NAME + 3]; /* room for a name of dots */
  char buf[SNI_RT_MAX_NAME + 16];
} sni_rt_name;

typedef struct sni_rt_mark {
  size_t pbytes_len, nrefs;
} sni_rt_mark;

void *sni_rt_alloc(const sni_allocator *a, size_t n);
void sni_rt_free(const sni_allocator *a, void *p, size_t n);
int sni_rt_allocator(sni_allocator *dst, const sni_allocator *a);
/* 0 if name is a valid host name (then normalised into out), else -1. */
int sni_rt_normalize(const char *name, size_t len, sni_rt_name *out);
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
