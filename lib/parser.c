/*
 * The ClientHello parser: one streaming core behind sni_parse() and
 * sni_parser_feed().
 *
 * Two layers.  The record layer strips TLS record headers and hands each
 * run of handshake bytes to the handshake layer, which is an element-level
 * state machine: every state reads one element (a length, a fixed field, a
 * list, bytes to copy or skip).  Positions are absolute offsets into the
 * handshake message, so every bound check depends only on the bytes, never
 * on how they were chunked: that is what makes one-shot and streaming
 * results byte-identical.  An element split by a chunk or record boundary
 * is completed in the 8-byte `tmp`; big elements (lists, names, skipped
 * blobs) are consumed piecewise and never buffered.
 *
 * A first chunk that holds one record carrying exactly the whole hello (what
 * nearly every client sends) is first tried by hello_fast(), one pass with
 * plain bounded reads.  It only ever accepts: on anything unusual or
 * malformed it resets the parser and the element states parse the same
 * bytes, so every error and every partial result comes from one place.
 * The fuzzers compare it with the element states on every input.
 *
 * No allocation, no system call, no global state.
 */
#include "sniroute.h"
#include "hostname.h"

#include <string.h>
/* SSE2 is part of x86-64; SNI_NO_SIMD forces the portable loops, which
 * the clang run of scripts/test builds so that both versions are tested. */
/* Hot helpers called from two places that GCC would otherwise keep out of
 * line (measured: about 15% of the instructions of a parse). */
#if defined(__GNUC__) || defined(__clang__)
#define SNI_HOT_INLINE inline __attribute__((always_inline))
#else
#define SNI_HOT_INLINE inline
#endif

#if defined(__SSE2__) && !defined(SNI_NO_SIMD)
#define SNI_USE_SSE2 1
#include <emmintrin.h>
#endif

/* R_HANDSHAKE: started by sni_parser_init_handshake(), the input is the
 * handshake message itself (a QUIC CRYPTO stream), with no record layer. */
enum { R_HDR = 0, R_BODY, R_DONE, R_HANDSHAKE };

enum hs_state {
  HS_HDR = 0,
  HS_VERSION,
  HS_RANDOM,
  HS_SID_LEN,
  HS_CS_LEN,
  HS_COMP_LEN,
  HS_EXTS_LEN,
  HS_EXT_HDR,
  /* generic element states: continue at p->next when finished */
  HS_SKIP,
  HS_COPY,
  HS_LIST16,
  HS_LIST8,
  /* extension bodies */
  E_SNI_LIST,
  E_SNI_ENTRY,
  E_ALPN_LIST,
  E_ALPN_ENTRY,
  E_LIST16_LEN,
  E_VERSIONS_LEN,
  E_LIST8_LEN,
  E_KS_LEN,
  E_KS_ENTRY,
  E_PSK_IDS_LEN,
  E_PSK_ID,
  E_PSK_BINDERS_LEN,
  E_PSK_BINDER,
  E_ECH_TYPE,
  E_ECH_OUTER,
  E_ECH_ENC_LEN,
  E_ECH_PAYLOAD_LEN
};

/* Which sni_hello list a generic list state fills. */
enum list_id {
  L_CIPHERS = 0, L_GROUPS, L_SIGALGS, L_SIGALGS_CERT, L_DC_SIGALGS,
  L_VERSIONS, L_POINT_FORMATS, L_COMPRESSION, L_COUNT
};

typedef struct parser_impl {
  sni_hello *out;
  uint32_t max_hello;
  uint32_t max_records;
  int32_t err;          /* sticky: 0, or a negative SNI_E* code */
  uint32_t pos;         /* handshake bytes consumed (incl. 4-byte header) */
  uint32_t hs_end;      /* message end; 0 until the header is read */
  uint32_t exts_end;    /* end of the extensions block */
  uint32_t ext_end;     /* end of the current extension */
  uint32_t l1_end;      /* end of the current list */
  uint32_t l2_end;      /* end of the current list entry / skip / copy */
  uint32_t copy_start;  /* position where the current copy began */
  uint32_t wire;        /* wire bytes consumed */
  uint32_t rec_left;    /* payload bytes left in the current record */
  uint64_t ext_bloom;   /* cheap duplicate-extension filter */
  uint16_t ext_known;   /* interpreted extension types seen */
  uint16_t psk_ids;     /* identities seen, compared with binders */
  uint16_t psk_binders;
  uint8_t rstate;
  uint8_t state;
  uint8_t next;         /* state after a generic element */
  uint8_t list;         /* enum list_id of the current generic list */
  uint8_t hdr_n;        /* record header bytes held in hdr */
  uint8_t tmp_n;        /* element bytes held in tmp */
  uint8_t hdr[5];
  uint8_t tmp[8];
  uint8_t copy_dst;     /* 0: sni, 1: alpn, 2: random */
  uint8_t sni_seen;
  uint32_t magic;       /* SNI_PARSER_MAGIC once sni_parser_init() ran */
} parser_impl;

/* A caller's parser is plain memory: one that sni_parser_init() never saw
 * holds stack garbage (or zeros), and its `err` would be returned as if it
 * were a code.  A marker set by init and checked on entry turns that into
 * SNI_EINVAL for one compare.  Not a repeated byte, so no memset pattern
 * forges it. */
#define SNI_PARSER_MAGIC 0x534e4931u /* "SNI1" */

_Static_assert(sizeof(parser_impl) <= sizeof(sni_parser),
               "sni_parser too small for the parser state");
_Static_assert(_Alignof(parser_impl) <= _Alignof(sni_parser),
               "sni_parser under-aligned");
_Static_assert(sizeof(sni_hello) + sizeof(sni_parser) <= 2048,
               "sni_hello + sni_parser must stay within 2 KiB");

/* The smallest ClientHello body: version, random, empty session id, one
 * cipher suite, one compression method. */
#define MIN_HELLO_BODY (2u + 32u + 1u + 2u + 2u + 1u + 1u)
#define MAX_RECORD 16384u

static inline uint16_t rd16(const uint8_t *q) {
  return (uint16_t)((unsigned)q[0] << 8 | q[1]);
}

/* Internal copy so the hot loops inline it even in the shared library,
 * where the exported function could be interposed. */
static inline int grease16(uint16_t v) {
  return (v & 0x0f0fu) == 0x0a0au && (v >> 8) == (v & 0xffu);
}

int sni_is_grease(uint16_t v) { return grease16(v); }

int sni_alpn_get(const sni_hello *h, unsigned i, const uint8_t **name,
                 size_t *len) {
  if (!h || !name || !len) return SNI_EINVAL;
  /* alpn_len is a uint8_t and can claim up to 255 bytes of a 128-byte
   * array: the parser never stores that, so such a hello was not filled
   * by it, and the walk below must not trust alpn_len beyond the array. */
  if (h->alpn_len > sizeof h->alpn) return SNI_EINVAL;
  if (i >= h->n_alpn) return SNI_ENOENT;
  size_t off = 0;
  for (unsigned k = 0; k < i; k++) {
    if (off >= h->alpn_len) return SNI_ENOENT;
    off += 1u + h->alpn[off];
  }
  if (off >= h->alpn_len || off + 1u + h->alpn[off] > h->alpn_len)
    return SNI_ENOENT;
  *name = h->alpn + off + 1;
  *len = h->alpn[off];
  return 0;
}

/* Copies n big-endian 16-bit values from src to host-order dst and returns
 * nonzero if any is GREASE.  This loop carries most of a hello's list
 * bytes (cipher suites, groups, signature algorithms), so on x86-64 it
 * handles 8 values per step with SSE2 (always present there); the scalar
 * loop is the reference and handles the tail. */
static inline unsigned copy_be16(uint16_t *dst, const uint8_t *src, size_t n) {
  unsigned g = 0;
  size_t i = 0;
#if defined(SNI_USE_SSE2) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  const __m128i lowmask = _mm_set1_epi16(0x0f0f), pat = _mm_set1_epi16(0x0a0a);
  __m128i any = _mm_setzero_si128();
  if (n >= 8) {
    /* Whole blocks, then one last block ending at n that overlaps the
     * previous one: rewriting equal values is harmless and avoids a
     * scalar tail. */
    for (;;) {
      if (i + 8 > n) i = n - 8;
      __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
      __m128i sw = _mm_or_si128(_mm_slli_epi16(raw, 8), _mm_srli_epi16(raw, 8));
      _mm_storeu_si128((__m128i *)(void *)(dst + i), sw);
      /* GREASE: both bytes equal and each low nibble 0xa. */
      __m128i same = _mm_cmpeq_epi16(raw, sw);
      __m128i nib = _mm_cmpeq_epi16(_mm_and_si128(raw, lowmask), pat);
      any = _mm_or_si128(any, _mm_and_si128(same, nib));
      i += 8;
      if (i >= n) break;
    }
  }
  g = (unsigned)_mm_movemask_epi8(any) != 0;
#endif
  for (; i < n; i++) {
    uint16_t v = rd16(src + 2 * i);
    dst[i] = v;
    g |= (unsigned)grease16(v);
  }
  return g;
}

/* ---- list plumbing ------------------------------------------------------ */

typedef struct list_desc {
  uint16_t off16;   /* offset of the uint16_t array in sni_hello */
  uint16_t offn;    /* offset of the uint8_t count */
  uint16_t cap;
  uint16_t trunc;   /* SNI_TRUNC_* bit */
  uint8_t grease;   /* counts towards sni_hello.grease */
} list_desc;

#define LD(arr, n, capv, bit, g) \
  { (uint16_t)offsetof(sni_hello, arr), (uint16_t)offsetof(sni_hello, n), \
    (uint16_t)(capv), (uint16_t)(bit), (g) }

static const list_desc lists[L_COUNT] = {
  [L_CIPHERS] = LD(cipher_suites, n_ciphers, SNI_CAP_CIPHERS, SNI_TRUNC_CIPHERS, 1),
  [L_GROUPS] = LD(groups, n_groups, SNI_CAP_GROUPS, SNI_TRUNC_GROUPS, 1),
  [L_SIGALGS] = LD(sigalgs, n_sigalgs, SNI_CAP_SIGALGS, SNI_TRUNC_SIGALGS, 0),
  [L_SIGALGS_CERT] = LD(sigalgs_cert, n_sigalgs_cert, SNI_CAP_SIGALGS_CERT,
                        SNI_TRUNC_SIGALGS_CERT, 0),
  [L_DC_SIGALGS] = LD(dc_sigalgs, n_dc_sigalgs, SNI_CAP_DC_SIGALGS,
                      SNI_TRUNC_DC_SIGALGS, 0),
  [L_VERSIONS] = LD(versions, n_versions, SNI_CAP_VERSIONS, SNI_TRUNC_VERSIONS, 1),
  [L_POINT_FORMATS] = LD(point_formats, n_point_formats, SNI_CAP_POINT_FORMATS,
                         SNI_TRUNC_POINT_FORMATS, 0),
  [L_COMPRESSION] = LD(compression, n_compression, SNI_CAP_COMPRESSION,
                       SNI_TRUNC_COMPRESSION, 0),
};

/* Appends n big-endian values at src to list d: keeps the first entries up
 * to the capacity, flags truncation, and raises the GREASE flag for the
 * lists that count towards it. */
static SNI_HOT_INLINE void put_list16(sni_hello *h, const list_desc *d,
                                      const uint8_t *src, size_t n) {
  uint16_t *arr = (uint16_t *)(void *)((uint8_t *)h + d->off16);
  uint8_t *cntp = (uint8_t *)h + d->offn;
  size_t cnt = *cntp, room = d->cap - cnt;
  size_t store = n < room ? n : room;
  unsigned g = copy_be16(arr + cnt, src, store);
  for (size_t i = store; i < n; i++) g |= (unsigned)grease16(rd16(src + 2 * i));
  if (store < n) h->truncated |= d->trunc;
  *cntp = (uint8_t)(cnt + store);
  if (g && d->grease) h->grease = 1;
}

static inline void put_list8(sni_hello *h, const list_desc *d,
                             const uint8_t *src, size_t n) {
  uint8_t *arr = (uint8_t *)h + d->off16;
  uint8_t *cntp = (uint8_t *)h + d->offn;
  size_t cnt = *cntp, room = d->cap - cnt;
  size_t store = n < room ? n : room;
  memcpy(arr + cnt, src, store);
  if (store < n) h->truncated |= d->trunc;
  *cntp = (uint8_t)(cnt + store);
}

static void classify_name(sni_hello *h) {
  size_t n = 0;
  h->name_flags = (uint8_t)sni_host_classify(h->sni, h->sni_len,
                                             h->sni_normalized, &n);
  h->sni_normalized_len = (uint16_t)n;
}

/* ---- the handshake layer ------------------------------------------------ */

/* Duplicate detection.  The types the parser interprets get one exact bit
 * each.  For the others a 64-bit filter answers "certainly new" for nearly
 * every extension, and only a filter hit pays for a scan of the recorded
 * types; types past SNI_CAP_EXTENSIONS are not recorded, so a duplicate
 * among those uninterpreted ones goes unnoticed (see the header). */
static int known_bit(uint16_t type) {
  switch (type) {
  case 0: return 0;
  case 10: return 1;
  case 11: return 2;
  case 13: return 3;
  case 16: return 4;
  case 34: return 5;
  case 35: return 6;
  case 41: return 7;
  case 42: return 8;
  case 43: return 9;
  case 50: return 10;
  case 51: return 11;
  case 0xfe0d: return 12;
  default: return -1;
  }
}

static int ext_is_duplicate(parser_impl *p, uint16_t type) {
  int kb = known_bit(type);
  if (kb >= 0) {
    uint16_t bit = (uint16_t)(1u << kb);
    if (p->ext_known & bit) return 1;
    p->ext_known |= bit;
    return 0;
  }
  uint64_t bit = (uint64_t)1 << ((type ^ (type >> 6)) & 63u);
  if (!(p->ext_bloom & bit)) {
    p->ext_bloom |= bit;
    return 0;
  }
  const sni_hello *h = p->out;
  for (unsigned i = 0; i < h->n_extensions; i++)
    if (h->extensions[i] == type) return 1;
  return 0;
}

static void finish(parser_impl *p) {
  sni_hello *h = p->out;
  uint16_t maxv = 0;
  for (unsigned i = 0; i < h->n_versions; i++)
    if (!grease16(h->versions[i]) && h->versions[i] > maxv)
      maxv = h->versions[i];
  h->max_version = maxv ? maxv : h->legacy_version;
  h->wire_len = p->wire;
  p->rstate = R_DONE;
}

/*
 * The fast path for an extension whose body is entirely in the current
 * run of bytes (nearly always, even when streaming): the same checks and
 * the same writes, in the same order, as the element states below, with
 * plain bounded reads instead of one state per element.  The fuzzer
 * compares the two on every input (one-shot vs. random splits).
 * Returns 1 if handled, 0 for types left to the states, or SNI_EPROTO.
 */
static SNI_HOT_INLINE int ext_fast(parser_impl *p, sni_hello *h,
                                   uint16_t type, const uint8_t *d,
                                   uint32_t len) {
  const uint8_t *end = d + len;
  switch (type) {
  case 0: { /* server_name: checks as in E_SNI_LIST / E_SNI_ENTRY */
    if (len < 2) return SNI_EPROTO;
    uint32_t list = rd16(d);
    if (list == 0 || list + 2u != len) return SNI_EPROTO;
    d += 2;
    while (d < end) {
      if (end - d < 3) return SNI_EPROTO;
      uint32_t n = rd16(d + 1);
      unsigned nt = d[0];
      d += 3;
      if ((size_t)(end - d) < n) return SNI_EPROTO;
      if (nt == 0) {
        if (p->sni_seen || n == 0 || n > SNI_MAX_NAME) return SNI_EPROTO;
        p->sni_seen = 1;
        h->sni_present = 1;
        h->sni_len = (uint16_t)n;
        memcpy(h->sni, d, n);
      }
      d += n;
    }
    if (p->sni_seen) classify_name(h);
    return 1;
  }
  case 16: { /* ALPN: as E_ALPN_LIST / E_ALPN_ENTRY */
    if (len < 2) return SNI_EPROTO;
    uint32_t list = rd16(d);
    if (list < 2 || list + 2u != len) return SNI_EPROTO;
    d += 2;
    while (d < end) {
      uint32_t n = d[0];
      d += 1;
      if (n == 0 || (size_t)(end - d) < n) return SNI_EPROTO;
      if (!(h->truncated & SNI_TRUNC_ALPN) &&
          h->alpn_len + 1u + n <= SNI_CAP_ALPN_BYTES) {
        h->alpn[h->alpn_len] = (uint8_t)n;
        memcpy(h->alpn + h->alpn_len + 1, d, n);
        h->alpn_len = (uint8_t)(h->alpn_len + 1u + n);
        h->n_alpn++;
      } else {
        h->truncated |= SNI_TRUNC_ALPN;
      }
      d += n;
    }
    return 1;
  }
  case 10: case 13: case 34: case 50: { /* as E_LIST16_LEN + HS_LIST16 */
    if (len < 2) return SNI_EPROTO;
    uint32_t list = rd16(d);
    if (list < 2 || (list & 1u) || list + 2u != len) return SNI_EPROTO;
    enum list_id id = type == 10 ? L_GROUPS : type == 13 ? L_SIGALGS
                      : type == 34 ? L_DC_SIGALGS : L_SIGALGS_CERT;
    put_list16(h, &lists[id], d + 2, list / 2u);
    return 1;
  }
  case 43: { /* supported_versions: as E_VERSIONS_LEN */
    if (len < 1) return SNI_EPROTO;
    uint32_t list = d[0];
    if (list < 2 || (list & 1u) || list + 1u != len) return SNI_EPROTO;
    put_list16(h, &lists[L_VERSIONS], d + 1, list / 2u);
    return 1;
  }
  case 11: { /* ec_point_formats: as E_LIST8_LEN */
    if (len < 1) return SNI_EPROTO;
    uint32_t list = d[0];
    if (list < 1 || list + 1u != len) return SNI_EPROTO;
    put_list8(h, &lists[L_POINT_FORMATS], d + 1, list);
    return 1;
  }
  case 51: { /* key_share: as E_KS_LEN / E_KS_ENTRY */
    if (len < 2) return SNI_EPROTO;
    if (rd16(d) + 2u != len) return SNI_EPROTO;
    d += 2;
    while (d < end) {
      if (end - d < 4) return SNI_EPROTO;
      uint32_t n = rd16(d + 2);
      if (n == 0 || (size_t)(end - d - 4) < n) return SNI_EPROTO;
      if (h->n_key_shares < SNI_CAP_KEY_SHARES) {
        h->key_share_groups[h->n_key_shares] = rd16(d);
        h->key_share_lengths[h->n_key_shares] = (uint16_t)n;
        h->n_key_shares++;
      } else {
        h->truncated |= SNI_TRUNC_KEY_SHARES;
      }
      d += 4 + n;
    }
    return 1;
  }
  default:
    return 0;
  }
}

/*
 * Consume n handshake bytes at b (the record layer guarantees that they
 * belong to the message: n <= hs_end - pos once hs_end is known).
 * Returns 0, or a negative error (the caller makes it sticky).
 * Completion is signalled by the state reaching the end with pos == hs_end;
 * the caller checks hs_end after each call.
 */
#define POS() (base + (uint32_t)(c - b))
#define FAIL(e) do { rc = (e); goto out; } while (0)
/* Make q point at k contiguous element bytes that must fit before lim. */
#define FETCH(k, lim)                                                      \
  do {                                                                     \
    if (tn == 0) {                                                         \
      if ((uint64_t)POS() + (k) > (lim)) FAIL(SNI_EPROTO);                 \
      if ((size_t)(e - c) >= (k)) { q = c; c += (k); break; }              \
    }                                                                      \
    size_t t_ = (k) - tn;                                                  \
    if (t_ > (size_t)(e - c)) t_ = (size_t)(e - c);                        \
    memcpy(p->tmp + tn, c, t_);                                            \
    tn += (unsigned)t_;                                                    \
    c += t_;                                                               \
    if (tn < (k)) goto out;                                                \
    q = p->tmp;                                                            \
    tn = 0;                                                                \
  } while (0)

static inline void start_list(parser_impl *p, unsigned *st, enum list_id id,
                              uint32_t end, uint8_t next) {
  p->list = (uint8_t)id;
  p->l1_end = end;
  p->next = next;
  *st = (id == L_POINT_FORMATS || id == L_COMPRESSION) ? HS_LIST8 : HS_LIST16;
}

static inline void start_skip(parser_impl *p, unsigned *st, uint32_t end,
                              uint8_t next) {
  p->l2_end = end;
  p->next = next;
  *st = HS_SKIP;
}

static int hs_consume(parser_impl *p, const uint8_t *b, size_t n) {
  const uint8_t *c = b, *e = b + n, *q;
  const uint32_t base = p->pos;
  sni_hello *h = p->out;
  int rc = 0;
  /* The state and the partial-element count live in locals: stores into
   * the hello's uint8_t fields may alias anything, and would otherwise
   * force a reload of both after every write. */
  unsigned st = p->state, tn = p->tmp_n;

  for (;;) {
    switch (st) {
    case HS_HDR: {
      /* Refuse a wrong message type from its first byte, not after the
       * whole header: a non-hello must not look like a valid prefix. */
      if (tn == 0 && c < e && c[0] != 1) FAIL(SNI_EPROTO);
      FETCH(4, UINT32_MAX);
      if (q[0] != 1) FAIL(SNI_EPROTO); /* only client_hello starts a stream */
      uint32_t len = (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
      if (len + 4u > p->max_hello) FAIL(SNI_E2BIG);
      if (len < MIN_HELLO_BODY) FAIL(SNI_EPROTO);
      p->hs_end = len + 4u;
      h->hello_len = p->hs_end;
      /* The record holding the header must not run past the hello: a
       * client sends nothing else in its first flight. */
      if ((uint64_t)POS() + (uint64_t)(e - c) + p->rec_left > p->hs_end)
        FAIL(SNI_EPROTO);
      st = HS_VERSION;
      break;
    }
    case HS_VERSION:
      if (tn == 0 && c < e && c[0] != 3) FAIL(SNI_EPROTO); /* as above */
      FETCH(2, p->hs_end);
      if (q[0] != 3) FAIL(SNI_EPROTO); /* SSL 3.0 and later only */
      h->legacy_version = rd16(q);
      p->copy_dst = 2;
      p->copy_start = POS();
      p->l2_end = POS() + 32u;
      p->next = HS_SID_LEN;
      st = HS_COPY;
      break;
    case HS_SID_LEN:
      FETCH(1, p->hs_end);
      if (q[0] > 32) FAIL(SNI_EPROTO); /* RFC 8446: legacy_session_id<0..32> */
      h->session_id_len = q[0];
      if ((uint64_t)POS() + q[0] > p->hs_end) FAIL(SNI_EPROTO);
      start_skip(p, &st, POS() + q[0], HS_CS_LEN);
      break;
    case HS_CS_LEN: {
      FETCH(2, p->hs_end);
      uint32_t len = rd16(q);
      if (len < 2 || (len & 1u) || (uint64_t)POS() + len > p->hs_end)
        FAIL(SNI_EPROTO);
      start_list(p, &st, L_CIPHERS, POS() + len, HS_COMP_LEN);
      break;
    }
    case HS_COMP_LEN: {
      FETCH(1, p->hs_end);
      uint32_t len = q[0];
      if (len < 1 || (uint64_t)POS() + len > p->hs_end) FAIL(SNI_EPROTO);
      start_list(p, &st, L_COMPRESSION, POS() + len, HS_EXTS_LEN);
      break;
    }
    case HS_EXTS_LEN: {
      /* Pre-TLS-1.2 clients may omit the extensions block entirely. */
      if (POS() == p->hs_end && tn == 0) {
        p->exts_end = p->hs_end;
        st = HS_EXT_HDR;
        break;
      }
      FETCH(2, p->hs_end);
      uint32_t len = rd16(q);
      if (POS() + len != p->hs_end) FAIL(SNI_EPROTO);
      p->exts_end = p->hs_end;
      st = HS_EXT_HDR;
      break;
    }
    case HS_EXT_HDR: {
      if (POS() == p->exts_end && tn == 0) {
        if (p->psk_ids != p->psk_binders) FAIL(SNI_EPROTO);
        goto out; /* complete: the caller sees pos == hs_end */
      }
      FETCH(4, p->exts_end);
      uint16_t type = rd16(q);
      uint32_t len = rd16(q + 2);
      uint32_t start = POS();
      if ((uint64_t)start + len > p->exts_end) FAIL(SNI_EPROTO);
      if (ext_is_duplicate(p, type)) FAIL(SNI_EPROTO);
      if (h->n_extensions < SNI_CAP_EXTENSIONS) {
        h->extensions[h->n_extensions] = type;
        h->extension_lengths[h->n_extensions] = (uint16_t)len;
        h->n_extensions++;
      } else {
        h->truncated |= SNI_TRUNC_EXTENSIONS;
      }
      if (grease16(type)) h->grease = 1;
      p->ext_end = start + len;
      if ((size_t)(e - c) >= len) {
        int fr = ext_fast(p, h, type, c, len);
        if (fr < 0) FAIL(fr);
        if (fr == 1) {
          c += len;
          break; /* next extension header */
        }
      }
      switch (type) {
      case 0:
        st = E_SNI_LIST;
        break;
      case 10:
        p->list = L_GROUPS;
        st = E_LIST16_LEN;
        break;
      case 11:
        p->list = L_POINT_FORMATS;
        st = E_LIST8_LEN;
        break;
      case 13:
        p->list = L_SIGALGS;
        st = E_LIST16_LEN;
        break;
      case 16:
        st = E_ALPN_LIST;
        break;
      case 34:
        p->list = L_DC_SIGALGS;
        st = E_LIST16_LEN;
        break;
      case 35:
        h->session_ticket = 1;
        h->session_ticket_len = (uint16_t)len;
        start_skip(p, &st, p->ext_end, HS_EXT_HDR);
        break;
      case 41:
        /* RFC 8446 4.2.11: pre_shared_key MUST be the last extension. */
        if (p->ext_end != p->exts_end) FAIL(SNI_EPROTO);
        h->psk = 1;
        st = E_PSK_IDS_LEN;
        break;
      case 42:
        if (len != 0) FAIL(SNI_EPROTO); /* empty in a ClientHello */
        h->early_data = 1;
        st = HS_EXT_HDR;
        break;
      case 43:
        st = E_VERSIONS_LEN;
        break;
      case 50:
        p->list = L_SIGALGS_CERT;
        st = E_LIST16_LEN;
        break;
      case 51:
        st = E_KS_LEN;
        break;
      case 0xfe0d:
        h->ech = 1;
        st = E_ECH_TYPE;
        break;
      default:
        start_skip(p, &st, p->ext_end, HS_EXT_HDR);
        break;
      }
      break;
    }

    /* ---- generic elements ---- */
    case HS_SKIP: {
      size_t want = p->l2_end - POS(), have = (size_t)(e - c);
      if (have < want) {
        c = e;
        goto out;
      }
      c += want;
      st = p->next;
      break;
    }
    case HS_COPY: {
      size_t want = p->l2_end - POS(), have = (size_t)(e - c);
      size_t k = have < want ? have : want;
      uint8_t *dst = p->copy_dst == 0   ? (uint8_t *)h->sni
                     : p->copy_dst == 1 ? h->alpn
                                        : h->random;
      memcpy(dst + (POS() - p->copy_start), c, k);
      c += k;
      if (k < want) goto out;
      st = p->next;
      break;
    }
    case HS_LIST16: {
      const list_desc *d = &lists[p->list];
      /* Bulk path: all whole items of this run at once. */
      if (tn == 0) {
        size_t items = (size_t)(p->l1_end - POS()) / 2u;
        if (items > (size_t)(e - c) / 2u) items = (size_t)(e - c) / 2u;
        put_list16(h, d, c, items);
        c += 2 * items;
      }
      /* An item split across chunks or records. */
      while (POS() < p->l1_end) {
        FETCH(2, p->l1_end);
        put_list16(h, d, q, 1);
        if (tn == 0 && e - c >= 2) break; /* back to the bulk path */
      }
      if (POS() < p->l1_end) break; /* re-enter this state */
      st = p->next;
      break;
    }
    case HS_LIST8: {
      size_t want = p->l1_end - POS(), have = (size_t)(e - c);
      size_t k = have < want ? have : want;
      put_list8(h, &lists[p->list], c, k);
      c += k;
      if (k < want) goto out;
      st = p->next;
      break;
    }

    /* ---- server_name (RFC 6066 section 3) ---- */
    case E_SNI_LIST: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      /* An empty list is only legal in the server's reply. */
      if (len == 0 || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      p->l1_end = p->ext_end;
      st = E_SNI_ENTRY;
      break;
    }
    case E_SNI_ENTRY: {
      if (POS() == p->l1_end && tn == 0) {
        if (p->sni_seen) classify_name(h);
        st = HS_EXT_HDR;
        break;
      }
      FETCH(3, p->l1_end);
      uint32_t len = rd16(q + 1);
      if ((uint64_t)POS() + len > p->l1_end) FAIL(SNI_EPROTO);
      if (q[0] != 0) {
        /* Unknown name types are skipped; RFC 6066 leaves room for them
         * and every implementation frames them with a 16-bit length. */
        start_skip(p, &st, POS() + len, E_SNI_ENTRY);
        break;
      }
      /* One host_name, 1..255 bytes: what RFC 6066 and OpenSSL accept. */
      if (p->sni_seen || len == 0 || len > SNI_MAX_NAME) FAIL(SNI_EPROTO);
      p->sni_seen = 1;
      h->sni_present = 1;
      h->sni_len = (uint16_t)len;
      p->copy_dst = 0;
      p->copy_start = POS();
      p->l2_end = POS() + len;
      p->next = E_SNI_ENTRY;
      st = HS_COPY;
      break;
    }

    /* ---- ALPN (RFC 7301) ---- */
    case E_ALPN_LIST: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      if (len < 2 || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      p->l1_end = p->ext_end;
      st = E_ALPN_ENTRY;
      break;
    }
    case E_ALPN_ENTRY: {
      if (POS() == p->l1_end && tn == 0) {
        st = HS_EXT_HDR;
        break;
      }
      FETCH(1, p->l1_end);
      uint32_t len = q[0];
      /* RFC 7301: empty protocol names MUST NOT be included. */
      if (len == 0 || POS() + len > p->l1_end) FAIL(SNI_EPROTO);
      if (!(h->truncated & SNI_TRUNC_ALPN) &&
          h->alpn_len + 1u + len <= SNI_CAP_ALPN_BYTES) {
        h->alpn[h->alpn_len] = (uint8_t)len;
        p->copy_dst = 1;
        p->copy_start = POS() - (h->alpn_len + 1u);
        h->alpn_len = (uint8_t)(h->alpn_len + 1u + len);
        h->n_alpn++;
        p->l2_end = POS() + len;
        p->next = E_ALPN_ENTRY;
        st = HS_COPY;
      } else {
        /* Keep the list a prefix: once a name is dropped, drop the rest. */
        h->truncated |= SNI_TRUNC_ALPN;
        start_skip(p, &st, POS() + len, E_ALPN_ENTRY);
      }
      break;
    }

    /* ---- 16-bit lists with a 16-bit length: groups, sigalgs ---- */
    case E_LIST16_LEN: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      if (len < 2 || (len & 1u) || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      start_list(p, &st, (enum list_id)p->list, p->ext_end, HS_EXT_HDR);
      break;
    }
    case E_VERSIONS_LEN: {
      FETCH(1, p->ext_end);
      uint32_t len = q[0];
      if (len < 2 || (len & 1u) || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      start_list(p, &st, L_VERSIONS, p->ext_end, HS_EXT_HDR);
      break;
    }
    case E_LIST8_LEN: {
      FETCH(1, p->ext_end);
      uint32_t len = q[0];
      if (len < 1 || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      start_list(p, &st, (enum list_id)p->list, p->ext_end, HS_EXT_HDR);
      break;
    }

    /* ---- key_share (RFC 8446 4.2.8) ---- */
    case E_KS_LEN: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      /* An empty client_shares is legal: the client asks for an HRR. */
      if (POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      p->l1_end = p->ext_end;
      st = E_KS_ENTRY;
      break;
    }
    case E_KS_ENTRY: {
      if (POS() == p->l1_end && tn == 0) {
        st = HS_EXT_HDR;
        break;
      }
      FETCH(4, p->l1_end);
      uint32_t len = rd16(q + 2);
      if (len == 0 || (uint64_t)POS() + len > p->l1_end) FAIL(SNI_EPROTO);
      if (h->n_key_shares < SNI_CAP_KEY_SHARES) {
        h->key_share_groups[h->n_key_shares] = rd16(q);
        h->key_share_lengths[h->n_key_shares] = (uint16_t)len;
        h->n_key_shares++;
      } else {
        h->truncated |= SNI_TRUNC_KEY_SHARES;
      }
      start_skip(p, &st, POS() + len, E_KS_ENTRY);
      break;
    }

    /* ---- pre_shared_key (RFC 8446 4.2.11) ---- */
    case E_PSK_IDS_LEN: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      if (len < 7 || (uint64_t)POS() + len > p->ext_end) FAIL(SNI_EPROTO);
      p->l1_end = POS() + len;
      st = E_PSK_ID;
      break;
    }
    case E_PSK_ID: {
      if (POS() == p->l1_end && tn == 0) {
        st = E_PSK_BINDERS_LEN;
        break;
      }
      FETCH(2, p->l1_end);
      uint32_t len = rd16(q);
      /* identity<1..2^16-1> followed by a 4-byte obfuscated age */
      if (len == 0 || (uint64_t)POS() + len + 4u > p->l1_end) FAIL(SNI_EPROTO);
      p->psk_ids++;
      h->psk_identities = p->psk_ids;
      start_skip(p, &st, POS() + len + 4u, E_PSK_ID);
      break;
    }
    case E_PSK_BINDERS_LEN: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      if (len < 33 || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      p->l1_end = p->ext_end;
      st = E_PSK_BINDER;
      break;
    }
    case E_PSK_BINDER: {
      if (POS() == p->l1_end && tn == 0) {
        st = HS_EXT_HDR;
        break;
      }
      FETCH(1, p->l1_end);
      uint32_t len = q[0];
      if (len < 32 || POS() + len > p->l1_end) FAIL(SNI_EPROTO);
      p->psk_binders++;
      start_skip(p, &st, POS() + len, E_PSK_BINDER);
      break;
    }

    /* ---- encrypted_client_hello (draft-ietf-tls-esni, 0xfe0d) ---- */
    case E_ECH_TYPE:
      FETCH(1, p->ext_end);
      h->ech_type = q[0];
      if (q[0] == 1) {
        /* inner: the type byte is the whole body */
        if (POS() != p->ext_end) FAIL(SNI_EPROTO);
        st = HS_EXT_HDR;
      } else if (q[0] == 0) {
        st = E_ECH_OUTER;
      } else {
        FAIL(SNI_EPROTO);
      }
      break;
    case E_ECH_OUTER:
      FETCH(5, p->ext_end);
      h->ech_kdf = rd16(q);
      h->ech_aead = rd16(q + 2);
      h->ech_config_id = q[4];
      st = E_ECH_ENC_LEN;
      break;
    case E_ECH_ENC_LEN: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      if ((uint64_t)POS() + len > p->ext_end) FAIL(SNI_EPROTO);
      h->ech_enc_len = (uint16_t)len;
      start_skip(p, &st, POS() + len, E_ECH_PAYLOAD_LEN);
      break;
    }
    case E_ECH_PAYLOAD_LEN: {
      FETCH(2, p->ext_end);
      uint32_t len = rd16(q);
      if (len == 0 || POS() + len != p->ext_end) FAIL(SNI_EPROTO);
      h->ech_payload_len = (uint16_t)len;
      start_skip(p, &st, p->ext_end, HS_EXT_HDR);
      break;
    }
    default:
      FAIL(SNI_EINVAL); /* unreachable: corrupted parser state */
    }
  }
out:
  p->state = (uint8_t)st;
  p->tmp_n = (uint8_t)tn;
  p->pos = POS();
  return rc;
}

/* ---- the record layer --------------------------------------------------- */

/* Checks the first record header byte by byte so that a stream that cannot
 * be TLS is refused after the fewest bytes.  Returns 0 to keep going. */
static int first_bytes_check(const uint8_t *hdr, unsigned n) {
  if (n >= 1 && hdr[0] != 0x16 && hdr[0] < 0x80) return SNI_ENOTTLS;
  if (hdr[0] == 0x16) {
    if (n >= 2 && hdr[1] != 3) return SNI_ENOTTLS;
    return 0;
  }
  /* SSLv2 two-byte header: msg type 1 (CLIENT-HELLO) then a version of 3.x
   * (a v3-compatible hello) or 0.2 (a pure SSLv2 one). */
  if (n >= 3 && hdr[2] != 1) return SNI_ENOTTLS;
  if (n >= 4 && hdr[3] != 3 && hdr[3] != 0) return SNI_ENOTTLS;
  if (n >= 5 && hdr[3] == 0 && hdr[4] != 2) return SNI_ENOTTLS;
  return 0;
}

static int sslv2_result(parser_impl *p) {
  sni_hello *h = p->out;
  h->sslv2 = 1;
  h->record_version = 2;
  h->legacy_version = rd16(p->hdr + 3);
  h->max_version = h->legacy_version;
  return SNI_ESSLV2;
}

/* Validates a complete record header; 0 or an error. */
static int record_header(parser_impl *p) {
  sni_hello *h = p->out;
  const uint8_t *r = p->hdr;
  uint32_t len = rd16(r + 3);
  /* Type and major version were checked byte by byte as they arrived
   * (sni_parser_feed), so only the SSLv2 case is left to tell apart. */
  if (h->records == 0 && r[0] != 0x16) return sslv2_result(p);
  if (len == 0 || len > MAX_RECORD) return SNI_EPROTO;
  if (h->records >= p->max_records) return SNI_E2BIG;
  /* Once the message length is known, a record may not carry more. */
  if (p->hs_end && (uint64_t)p->pos + len > p->hs_end) return SNI_EPROTO;
  if (h->records == 0) h->record_version = rd16(r + 1);
  if (h->n_record_list < SNI_CAP_RECORDS) {
    h->record_versions[h->n_record_list] = rd16(r + 1);
    h->record_lengths[h->n_record_list] = (uint16_t)len;
    h->n_record_list++;
  } else {
    h->truncated |= SNI_TRUNC_RECORDS;
  }
  h->records++;
  p->rec_left = len;
  return 0;
}

static void *(*volatile const zero_fn)(void *, int, size_t) = memset;

static int check_limits(const sni_limits *l, uint32_t *max_hello,
                        uint32_t *max_records) {
  *max_hello = SNI_DEFAULT_MAX_HELLO;
  *max_records = 0;
  if (l) {
    if (l->flags != 0) return SNI_EINVAL;
    if (l->max_hello_len > (1u << 24) + 3u) return SNI_EINVAL;
    if (l->max_hello_len) *max_hello = l->max_hello_len;
    *max_records = l->max_records;
  }
  if (*max_records == 0) *max_records = *max_hello;
  return 0;
}

int sni_parser_init(sni_parser *sp, sni_hello *out, const sni_limits *limits) {
  if (!sp || !out) return SNI_EINVAL;
  uint32_t mh, mr;
  int rc = check_limits(limits, &mh, &mr);
  if (rc) return rc;
  parser_impl *p = (parser_impl *)(void *)sp;
  memset(sp, 0, sizeof *sp);
  /* Zeroing the 1.5 KB hello is a large share of a parse.  With a
   * constant size GCC inlines it as `rep stos`, which is several times
   * slower here than libc's vector memset; the volatile pointer keeps the
   * call out of line. */
  zero_fn(out, 0, sizeof *out);
  p->out = out;
  p->max_hello = mh;
  p->max_records = mr;
  p->magic = SNI_PARSER_MAGIC;
  return 0;
}

int sni_parser_init_handshake(sni_parser *sp, sni_hello *out,
                              const sni_limits *limits) {
  int rc = sni_parser_init(sp, out, limits);
  if (rc == 0) ((parser_impl *)(void *)sp)->rstate = R_HANDSHAKE;
  return rc;
}

/* Handshake-layer input.  The 4-byte header goes in on its own and, once
 * the message length is known, no byte past the message is handed over:
 * that is the bound the record layer enforces in record mode (the HS_HDR
 * check sees rec_left == 0 and no bytes beyond the header). */
static int feed_handshake(parser_impl *p, const uint8_t *chunk, size_t len) {
  const uint8_t *c = chunk, *e = chunk + len;
  while (c < e) {
    uint32_t want = p->hs_end ? p->hs_end - p->pos : 4u - p->pos;
    if (want == 0) {
      /* The message ended inside an element: hs_consume refuses that
       * before it gets here, so this only guards the loop. */
      p->err = SNI_EPROTO;
      return SNI_EPROTO;
    }
    uint32_t k = (size_t)(e - c) < want ? (uint32_t)(e - c) : want;
    int rc = hs_consume(p, c, k);
    c += k;
    p->wire += k;
    if (rc) {
      p->err = rc;
      return rc;
    }
    if (p->hs_end && p->pos == p->hs_end && p->state == HS_EXT_HDR) {
      finish(p);
      return (int)(c - chunk);
    }
  }
  return SNI_EAGAIN;
}

/*
 * Whole-hello fast path: when the first bytes fed hold one complete record
 * that carries exactly the whole ClientHello (what nearly every client
 * sends, and what one-shot parsing of a full read always sees), parse it
 * in a single pass with plain bounded reads and no element states.  It
 * only ever accepts: on anything unusual or malformed it restores the
 * freshly initialised state and returns 0, and the element state machine
 * then parses the same bytes and produces the exact error and partial
 * hello.  Returns the wire length on success.
 */
static const uint8_t fast_kind[64] = {
    [0] = 1, [10] = 2, [11] = 3, [13] = 4, [16] = 5, [34] = 6, [35] = 7,
    [41] = 8, [42] = 9, [43] = 10, [50] = 11, [51] = 12};

static int hello_fast(parser_impl *p, const uint8_t *b, size_t len) {
  if (b[0] != 0x16 || b[1] != 3) return 0;
  uint32_t rlen = rd16(b + 3);
  if (rlen > MAX_RECORD || (size_t)rlen + 5u > len) return 0;
  uint32_t hl = (uint32_t)b[6] << 16 | (uint32_t)b[7] << 8 | b[8];
  if (b[5] != 1 || hl + 4u != rlen || rlen > p->max_hello ||
      hl < MIN_HELLO_BODY || p->max_records < 1)
    return 0;
  sni_hello *h = p->out;
  const uint8_t *d = b + 9, *end = b + 5 + rlen;
  if (d[0] != 3) return 0;
  h->record_version = rd16(b + 1);
  h->record_versions[0] = h->record_version;
  h->record_lengths[0] = (uint16_t)rlen;
  h->n_record_list = 1;
  h->records = 1;
  h->hello_len = rlen;
  h->legacy_version = rd16(d);
  memcpy(h->random, d + 2, 32);
  d += 34;
  unsigned sid = *d++; /* hl >= MIN_HELLO_BODY: these reads are in bounds */
  if (sid > 32 || (size_t)(end - d) < sid + 2u) goto fallback;
  h->session_id_len = (uint8_t)sid;
  d += sid;
  uint32_t cs = rd16(d);
  d += 2;
  if (cs < 2 || (cs & 1u) || (size_t)(end - d) < cs + 1u) goto fallback;
  put_list16(h, &lists[L_CIPHERS], d, cs / 2u);
  d += cs;
  uint32_t cm = *d++;
  if (cm < 1 || (size_t)(end - d) < cm) goto fallback;
  put_list8(h, &lists[L_COMPRESSION], d, cm);
  d += cm;
  if (d != end) {
    uint32_t seen = 0;
    uint64_t bloom = 0;
    if (end - d < 2 || rd16(d) + 2u != (size_t)(end - d)) goto fallback;
    d += 2;
    while (d < end) {
      if (end - d < 4) goto fallback;
      uint16_t type = rd16(d);
      uint32_t elen = rd16(d + 2);
      d += 4;
      if ((size_t)(end - d) < elen) goto fallback;
      /* One table lookup classifies the type: interpreted types get an
       * exact duplicate bit, the rest go through the bloom filter. */
      unsigned kb = type < 64 ? fast_kind[type] : type == 0xfe0d ? 13u : 0u;
      if (kb) {
        uint32_t bit = 1u << kb;
        if (seen & bit) goto fallback;
        seen |= bit;
      } else {
        uint64_t bb = (uint64_t)1 << ((type ^ (type >> 6)) & 63u);
        if (bloom & bb) {
          for (unsigned i = 0; i < h->n_extensions; i++)
            if (h->extensions[i] == type) goto fallback;
        }
        bloom |= bb;
        if (grease16(type)) h->grease = 1;
      }
      if (h->n_extensions < SNI_CAP_EXTENSIONS) {
        h->extensions[h->n_extensions] = type;
        h->extension_lengths[h->n_extensions] = (uint16_t)elen;
        h->n_extensions++;
      } else {
        h->truncated |= SNI_TRUNC_EXTENSIONS;
      }
      int fr = ext_fast(p, h, type, d, elen);
      if (fr < 0) goto fallback;
      if (fr == 0) {
        const uint8_t *x = d, *xe = d + elen;
        switch (type) {
        case 35:
          h->session_ticket = 1;
          h->session_ticket_len = (uint16_t)elen;
          break;
        case 42:
          if (elen != 0) goto fallback;
          h->early_data = 1;
          break;
        case 41: { /* as E_PSK_*: last, ids then binders, equal counts */
          if (xe != end || elen < 2) goto fallback;
          uint32_t ids = rd16(x);
          x += 2;
          if (ids < 7 || (size_t)(xe - x) < ids) goto fallback;
          h->psk = 1;
          const uint8_t *ie = x + ids;
          while (x < ie) {
            if (ie - x < 2) goto fallback;
            uint32_t il = rd16(x);
            x += 2;
            if (il == 0 || (size_t)(ie - x) < il + 4u) goto fallback;
            p->psk_ids++;
            x += il + 4u;
          }
          h->psk_identities = p->psk_ids;
          if (xe - x < 2) goto fallback;
          uint32_t bl = rd16(x);
          x += 2;
          if (bl < 33 || bl != (size_t)(xe - x)) goto fallback;
          while (x < xe) {
            uint32_t one = *x++;
            if (one < 32 || (size_t)(xe - x) < one) goto fallback;
            p->psk_binders++;
            x += one;
          }
          break;
        }
        case 0xfe0d: /* as E_ECH_*: inner is one byte, outer is framed */
          h->ech = 1;
          if (elen < 1) goto fallback;
          h->ech_type = x[0];
          if (x[0] == 1) {
            if (elen != 1) goto fallback;
          } else if (x[0] == 0) {
            if (elen < 8) goto fallback;
            h->ech_kdf = rd16(x + 1);
            h->ech_aead = rd16(x + 3);
            h->ech_config_id = x[5];
            uint32_t enc = rd16(x + 6);
            x += 8;
            if ((size_t)(xe - x) < enc + 2u) goto fallback;
            h->ech_enc_len = (uint16_t)enc;
            x += enc;
            uint32_t pl = rd16(x);
            if (pl == 0 || pl + 2u != (size_t)(xe - x)) goto fallback;
            h->ech_payload_len = (uint16_t)pl;
          } else {
            goto fallback;
          }
          break;
        default:
          break;
        }
      }
      d += elen;
    }
    if (p->psk_ids != p->psk_binders) goto fallback;
  }
  p->wire = rlen + 5u;
  finish(p);
  return (int)(rlen + 5u);
fallback: {
    sni_hello *out = p->out;
    uint32_t mh = p->max_hello, mr = p->max_records;
    memset(p, 0, sizeof(sni_parser));
    p->out = out;
    p->max_hello = mh;
    p->max_records = mr;
    p->magic = SNI_PARSER_MAGIC;
    zero_fn(out, 0, sizeof *out);
    return 0;
  }
}

int sni_parser_feed(sni_parser *sp, const void *chunk, size_t len) {
  if (!sp || (!chunk && len)) return SNI_EINVAL;
  parser_impl *p = (parser_impl *)(void *)sp;
  if (p->magic != SNI_PARSER_MAGIC) return SNI_EINVAL;
  if (p->err) return p->err;
  if (p->rstate == R_DONE) return 0;
  if (len == 0) return SNI_EAGAIN; /* NULL + 0 below would be UB */
  if (p->rstate == R_HANDSHAKE) return feed_handshake(p, chunk, len);
  if (p->wire == 0 && len >= 9) {
    int fr = hello_fast(p, chunk, len);
    if (fr > 0) return fr;
  }
  const uint8_t *c = chunk, *e = c + len;
  int rc = 0;
  while (c < e) {
    if (p->rec_left == 0) {
      /* Record header: byte-wise on the first record so that ENOTTLS and
       * ESSLV2 are decided as early as the bytes allow. */
      uint32_t want = 5u - p->hdr_n;
      uint32_t k = (size_t)(e - c) < want ? (uint32_t)(e - c) : want;
      memcpy(p->hdr + p->hdr_n, c, k);
      p->hdr_n = (uint8_t)(p->hdr_n + k);
      c += k;
      p->wire += k;
      if (p->out->records == 0) {
        rc = first_bytes_check(p->hdr, p->hdr_n);
        if (rc) goto fail;
      } else if (p->hdr[0] != 0x16 || (p->hdr_n >= 2 && p->hdr[1] != 3)) {
        /* Later records: decided per byte too, so that a record of another
         * type inside the hello is refused at its first byte. */
        rc = SNI_EPROTO;
        goto fail;
      }
      if (p->hdr_n < 5) break;
      p->hdr_n = 0;
      rc = record_header(p);
      if (rc) goto fail;
      continue;
    }
    size_t avail = (size_t)(e - c);
    uint32_t k = avail < p->rec_left ? (uint32_t)avail : p->rec_left;
    p->rec_left -= k; /* before hs_consume: it checks the record's remainder */
    rc = hs_consume(p, c, k);
    c += k;
    p->wire += k;
    if (rc) goto fail;
    if (p->hs_end && p->pos == p->hs_end && p->state == HS_EXT_HDR) {
      finish(p);
      return (int)(c - (const uint8_t *)chunk);
    }
  }
  return SNI_EAGAIN;
fail:
  p->err = rc;
  return rc;
}

size_t sni_parser_need(const sni_parser *sp) {
  if (!sp) return 0;
  const parser_impl *p = (const parser_impl *)(const void *)sp;
  if (p->magic != SNI_PARSER_MAGIC || p->err || p->rstate == R_DONE) return 0;
  /* Bytes of the message still to come: exact once its header is read,
   * else the rest of the header plus the smallest possible body. */
  size_t hs_rem = p->hs_end ? (size_t)(p->hs_end - p->pos)
                            : (size_t)(4u - p->pos) + MIN_HELLO_BODY;
  if (p->rstate == R_HANDSHAKE) return hs_rem;
  if (p->rec_left == 0) return (size_t)(5u - p->hdr_n) + hs_rem;
  /* Every byte of the current record belongs to the hello. */
  if (hs_rem <= p->rec_left) return p->rec_left;
  return hs_rem + 5u;
}

int sni_parser_status(const sni_parser *sp) {
  if (!sp) return SNI_EINVAL;
  const parser_impl *p = (const parser_impl *)(const void *)sp;
  if (p->magic != SNI_PARSER_MAGIC) return SNI_EINVAL;
  if (p->err) return p->err;
  if (p->rstate == R_DONE) return (int)p->wire;
  return SNI_EAGAIN;
}

int sni_parse_ex(sni_hello *out, const void *buf, size_t len,
                 const sni_limits *limits) {
  if (!out || (!buf && len)) return SNI_EINVAL;
  sni_parser p;
  int rc = sni_parser_init(&p, out, limits);
  if (rc) return rc;
  rc = sni_parser_feed(&p, buf, len);
  return rc;
}

int sni_parse(sni_hello *out, const void *buf, size_t len) {
  return sni_parse_ex(out, buf, len, NULL);
}
