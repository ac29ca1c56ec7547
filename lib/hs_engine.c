/*
 * The handshake engine: walks the schema of lib/hs_schema.c over handshake
 * bytes.  One code path for every input shape: it runs on the span it is
 * given, reading elements in place; only an element's fixed part (at most
 * SNI_HS_TMP bytes: a length, an entry header) that straddles the end of a
 * span is carried over in `tmp`, and content (lists, names, skipped
 * bodies) is consumed piecewise as it arrives.  Positions are absolute
 * offsets in the message, so every bound depends on the bytes only, never
 * on how they were cut: one-shot and streaming results are byte-identical.
 *
 * No allocation, no system call, no global state.
 */
#include "hs_int.h"
#include "hs_schema.h"
#include "hostname.h"

#include <string.h>

#if defined(__SSE2__) && !defined(SNI_NO_SIMD)
#define SNI_USE_SSE2 1
#include <emmintrin.h>
#endif

/* Forced inlining is what gives every element its own constant-folded
 * code; unoptimised builds (Debug, the sanitizer runs) leave it to the
 * compiler, since forcing 50 copies of the step through -O0 with ASan
 * costs minutes and gigabytes of compile for no benefit there. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__)
#define SNI_HOT_INLINE inline __attribute__((always_inline))
#else
#define SNI_HOT_INLINE inline
#endif

/* Copies n big-endian 16-bit values from src to host-order dst; nonzero if
 * any is GREASE.  Most list bytes of a hello go through here, so on x86-64
 * it does 8 values per step with SSE2; the scalar loop is the reference. */
static SNI_HOT_INLINE unsigned copy_be16(uint16_t *dst, const uint8_t *src,
                                         size_t n) {
  unsigned g = 0;
  size_t i = 0;
#if defined(SNI_USE_SSE2) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (n >= 8) {
    const __m128i lowmask = _mm_set1_epi16(0x0f0f),
                  pat = _mm_set1_epi16(0x0a0a);
    __m128i any = _mm_setzero_si128();
    /* Whole blocks, the last one overlapping the previous: rewriting
     * equal values is harmless and avoids a scalar tail. */
    for (;;) {
      if (i + 8 > n) i = n - 8;
      __m128i raw =
          _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
      __m128i sw = _mm_or_si128(_mm_slli_epi16(raw, 8), _mm_srli_epi16(raw, 8));
      _mm_storeu_si128((__m128i *)(void *)(dst + i), sw);
      __m128i same = _mm_cmpeq_epi16(raw, sw);
      __m128i nib = _mm_cmpeq_epi16(_mm_and_si128(raw, lowmask), pat);
      any = _mm_or_si128(any, _mm_and_si128(same, nib));
      i += 8;
      if (i >= n) break;
    }
    return (unsigned)_mm_movemask_epi8(any) != 0;
  }
#endif
  for (; i < n; i++) {
    uint16_t v = sni_rd16(src + 2 * i);
    dst[i] = v;
    g |= (unsigned)sni_grease16(v);
  }
  return g;
}

/* Appends n items at src to list `id`: keeps the first entries up to the
 * capacity and flags truncation; GREASE counts for the lists that say so. */
static SNI_HOT_INLINE void put_list16(sni_hello *h, unsigned id,
                                      const uint8_t *src, size_t n) {
  const sni_list_desc *d = &sni_hs_lists[id];
  uint16_t *arr = (uint16_t *)(void *)((uint8_t *)h + d->off);
  uint8_t *cntp = (uint8_t *)h + d->offn;
  size_t cnt = *cntp, room = d->cap - cnt;
  size_t store = n < room ? n : room;
  unsigned g = copy_be16(arr + cnt, src, store);
  for (size_t i = store; i < n; i++)
    g |= (unsigned)sni_grease16(sni_rd16(src + 2 * i));
  if (store < n) h->truncated |= d->trunc;
  *cntp = (uint8_t)(cnt + store);
  if (g && d->grease) h->grease = 1;
}

static SNI_HOT_INLINE void put_list8(sni_hello *h, unsigned id,
                                     const uint8_t *src, size_t n) {
  const sni_list_desc *d = &sni_hs_lists[id];
  uint8_t *arr = (uint8_t *)h + d->off;
  uint8_t *cntp = (uint8_t *)h + d->offn;
  size_t cnt = *cntp, room = d->cap - cnt;
  size_t store = n < room ? n : room;
  memcpy(arr + cnt, src, store);
  if (store < n) h->truncated |= d->trunc;
  *cntp = (uint8_t)(cnt + store);
}

static uint8_t *copy_target(sni_hello *h, unsigned which) {
  return which == SC_SNI ? (uint8_t *)h->sni
         : which == SC_ALPN ? h->alpn
                            : h->random;
}

/* ---- rules ----------------------------------------------------------------
 *
 * Each returns 0 to go on, SR_STOP to end the current schema early (its
 * frame must then be complete), or a negative SNI_E* code.  `c` is what a
 * vector element decided: the length (adjustable), and what its content
 * is (body, arg), which a rule may change.
 */
#define SR_STOP 1

typedef struct elem_ctx {
  uint32_t len;   /* content length                                  */
  uint32_t at;    /* position right after the element's fixed part   */
  uint32_t avail; /* bytes of the current span after the fixed part  */
  uint32_t fend;  /* end of the frame holding the element            */
  unsigned body, arg;
} elem_ctx;

/* Duplicate detection.  Interpreted types get one exact bit each.  For
 * the others a 64-bit filter answers "certainly new" for nearly every
 * extension; only a hit pays for a scan of the recorded types.  Types past
 * SNI_CAP_EXTENSIONS are not recorded, so a duplicate among those
 * uninterpreted ones goes unnoticed (see the header). */
static SNI_HOT_INLINE int ext_duplicate(sni_parser_impl *restrict p,
                                        const sni_ext_rule *r, uint16_t type) {
  if (r) {
    uint16_t bit = (uint16_t)(1u << r->bit);
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

_Static_assert(SNI_EXT_SERVER_NAME == 0 &&
                   SNI_HS_EXT_SLOT(SNI_EXT_SERVER_NAME) == 0,
               "type 0 is in slot 0, so no type matches an empty slot");

/* SR_EXTENSION: the type/length header of one extension.  The extension
 * list is filled in both modes: duplicate detection reads it. */
static SNI_HOT_INLINE int rule_extension(sni_parser_impl *restrict p,
                                         sni_hello *h, const uint8_t *q,
                                         elem_ctx *c) {
  uint16_t type = sni_rd16(q);
  const sni_ext_rule *r = &sni_hs_ext_rules[SNI_HS_EXT_SLOT(type)];
  /* An empty slot holds type 0, which only server_name's slot can match. */
  if (r->type != type) r = NULL;
  if (ext_duplicate(p, r, type)) return SNI_EPROTO; /* RFC 8446 4.2 */
  if (h->n_extensions < SNI_CAP_EXTENSIONS) {
    h->extensions[h->n_extensions] = type;
    h->extension_lengths[h->n_extensions] = (uint16_t)c->len;
    h->n_extensions++;
  } else {
    h->truncated |= SNI_TRUNC_EXTENSIONS;
  }
  if (!r) {
    if (sni_grease16(type)) h->grease = 1;
    c->body = SB_SKIP;
    return 0;
  }
  if ((r->flags & SX_LAST) && c->at + c->len != p->ends[0]) return SNI_EPROTO;
  if ((r->flags & SX_EMPTY) && c->len != 0) return SNI_EPROTO;
  if (r->present) *((uint8_t *)h + r->present) = 1;
  if (r->flags & SX_KEEP_LEN) h->session_ticket_len = (uint16_t)c->len;
  if (r->schema == SS_OPAQUE) c->body = SB_SKIP;
  else c->arg = r->schema;
  return 0;
}

/* SR_MSG_HDR: only client_hello starts a stream; a hello over the limit
 * is E2BIG as soon as its length is known. */
static int rule_msg_hdr(sni_parser_impl *restrict p, sni_hello *h,
                        const uint8_t *q, elem_ctx *c) {
  if (q[0] != 1) return SNI_EPROTO;
  if (c->len + SNI_HS_HDR > p->max_hello) return SNI_E2BIG;
  if (c->len < SNI_HS_MIN_BODY) return SNI_EPROTO;
  p->ends[0] = c->len + SNI_HS_HDR;
  h->hello_len = p->ends[0];
  /* The record holding the header must not run past the hello: a client
   * sends nothing else in its first flight. */
  if ((uint64_t)c->at + c->avail + p->rec_left > p->ends[0]) return SNI_EPROTO;
  return 0;
}

/* SR_SNI_NAME: one host_name of 1..255 bytes (RFC 6066 and OpenSSL);
 * other name types are skipped. */
static int rule_sni_name(sni_parser_impl *restrict p, sni_hello *h,
                         const uint8_t *q, elem_ctx *c) {
  if (q[0] != 0) return 0;
  if (p->sni_seen || c->len == 0 || c->len > SNI_MAX_NAME) return SNI_EPROTO;
  p->sni_seen = 1;
  h->sni_present = 1;
  h->sni_len = (uint16_t)c->len;
  c->body = SB_COPY;
  c->arg = SC_SNI;
  p->copy_end = (uint8_t)c->len;
  return 0;
}

/* SR_ALPN_NAME: names are kept whole; once one does not fit, the rest are
 * dropped too so that the list stays a prefix. */
static int rule_alpn_name(sni_parser_impl *restrict p, sni_hello *h,
                          elem_ctx *c) {
  if (!(h->truncated & SNI_TRUNC_ALPN) &&
      h->alpn_len + 1u + c->len <= SNI_CAP_ALPN_BYTES) {
    h->alpn[h->alpn_len] = (uint8_t)c->len;
    h->alpn_len = (uint8_t)(h->alpn_len + 1u + c->len);
    h->n_alpn++;
    p->copy_end = h->alpn_len;
  } else {
    h->truncated |= SNI_TRUNC_ALPN;
    c->body = SB_SKIP;
  }
  return 0;
}

static void rule_key_share(sni_hello *h, const uint8_t *q, const elem_ctx *c) {
  if (h->n_key_shares < SNI_CAP_KEY_SHARES) {
    h->key_share_groups[h->n_key_shares] = sni_rd16(q);
    h->key_share_lengths[h->n_key_shares] = (uint16_t)c->len;
    h->n_key_shares++;
  } else {
    h->truncated |= SNI_TRUNC_KEY_SHARES;
  }
}

/* SR_PSK_IDENTITY: identity<1..2^16-1> then a 4-byte obfuscated age. */
static int rule_psk_identity(sni_parser_impl *restrict p, sni_hello *h,
                             elem_ctx *c) {
  if ((uint64_t)c->at + c->len + 4u > c->fend) return SNI_EPROTO;
  c->len += 4u;
  p->psk_ids++;
  h->psk_identities = p->psk_ids;
  return 0;
}

/* SR_ECH_TYPE: outer (0) goes on with the fields, inner (1) is the whole
 * body, anything else is refused. */
static int rule_ech_type(sni_hello *h, const uint8_t *q) {
  h->ech_type = q[0];
  if (q[0] == 1) return SR_STOP;
  return q[0] == 0 ? 0 : SNI_EPROTO;
}

static SNI_HOT_INLINE int apply_rule(sni_parser_impl *restrict p, unsigned rule,
                                     const uint8_t *q, elem_ctx *c) {
  sni_hello *h = p->out;
  switch (rule) {
  case SR_EXTENSION: return rule_extension(p, h, q, c);
  case SR_MSG_HDR: return rule_msg_hdr(p, h, q, c);
  case SR_LEGACY_VERSION:
    if (q[0] != 3) return SNI_EPROTO; /* SSL 3.0 and later only */
    h->legacy_version = sni_rd16(q);
    return 0;
  case SR_SESSION_ID: h->session_id_len = (uint8_t)c->len; return 0;
  case SR_SNI_NAME: return rule_sni_name(p, h, q, c);
  case SR_ALPN_NAME: return rule_alpn_name(p, h, c);
  case SR_KEY_SHARE:
    if (!p->routing) rule_key_share(h, q, c);
    return 0;
  case SR_PSK_IDENTITY: return rule_psk_identity(p, h, c);
  case SR_PSK_BINDER: p->psk_binders++; return 0;
  case SR_ECH_TYPE: return rule_ech_type(h, q);
  case SR_ECH_OUTER:
    h->ech_kdf = sni_rd16(q);
    h->ech_aead = sni_rd16(q + 2);
    h->ech_config_id = q[4];
    return 0;
  case SR_ECH_ENC: h->ech_enc_len = (uint16_t)c->len; return 0;
  case SR_ECH_PAYLOAD: h->ech_payload_len = (uint16_t)c->len; return 0;
  default: return 0;
  }
}

/* Rules run when a schema ends (its frame is complete). */
static int end_rule(sni_parser_impl *restrict p, unsigned rule) {
  sni_hello *h = p->out;
  if (rule == SR_SNI_END && p->sni_seen) {
    size_t n = 0;
    h->name_flags = (uint8_t)sni_host_classify(h->sni, h->sni_len,
                                               h->sni_normalized, &n, NULL,
                                               NULL);
    h->sni_normalized_len = (uint16_t)n;
  } else if (rule == SR_HELLO_END && p->psk_ids != p->psk_binders) {
    return SNI_EPROTO; /* RFC 8446 4.2.11: one binder per identity */
  }
  return 0;
}

/* ---- the walk ------------------------------------------------------------ */

/* The walk keeps its state (element, depth, frame end, content being
 * consumed) in locals and writes it back when the span runs out, so that
 * the stores into the hello never force reloads of the parser state. */
typedef struct walk {
  uintptr_t org;     /* position of c is c - org (unsigned arithmetic)  */
  const uint8_t *c, *e;
  uint32_t fend;     /* end of the current frame                        */
  uint32_t bulk_end; /* end of the content being consumed               */
  unsigned ip, d, tn, bulk, bulk_arg;
} walk;

#define POS(w) ((uint32_t)((uintptr_t)(w)->c - (w)->org))

static uint32_t frame_end(const sni_parser_impl *restrict p, unsigned d) {
  /* Before the handshake header is read the message has no end yet. */
  return d == 0 && p->ends[0] == 0 ? UINT32_MAX : p->ends[d];
}

#define STEP_MORE 1  /* the span ran out */
#define STEP_WHOLE 2 /* the span holds the rest of the message */

/* Consumes content of the current vector.  Returns 1 when it is complete,
 * 0 when the span ran out. */
static SNI_HOT_INLINE int consume_bulk(sni_parser_impl *restrict p,
                                       sni_hello *restrict h, walk *w) {
  size_t want = w->bulk_end - POS(w), have = (size_t)(w->e - w->c);
  size_t k = have < want ? have : want;
  const uint8_t *c = w->c;
  switch (w->bulk) {
  case SB_COPY:
    memcpy(copy_target(h, w->bulk_arg) + p->copy_end - want, c, k);
    break;
  case SB_LIST8: put_list8(h, w->bulk_arg, c, k); break;
  case SB_LIST16: {
    size_t left = k;
    if (w->tn) { /* an item split by the previous span */
      if (k == 0) return 0;
      p->tmp[1] = *c++;
      left--;
      w->tn = 0;
      put_list16(h, w->bulk_arg, p->tmp, 1);
    }
    put_list16(h, w->bulk_arg, c, left / 2u);
    if (left & 1u) {
      p->tmp[0] = c[left - 1];
      w->tn = 1;
    }
    break;
  }
  default: break; /* SB_SKIP */
  }
  w->c += k;
  if (k < want) return 0;
  w->bulk = 0;
  return 1;
}

/* The fixed part of an element split by the end of a span: gathered in
 * tmp.  Returns it when complete, else NULL (bytes kept).  The lead byte
 * is checked on arrival so that a stream that cannot be a hello is
 * refused after the fewest bytes. */
static SNI_HOT_INLINE const uint8_t *gather(sni_parser_impl *restrict p,
                                            walk *w, const sni_hs_elem *el,
                                            unsigned n, int *rc) {
  size_t t = n - w->tn, have = (size_t)(w->e - w->c);
  if (t > have) t = have;
  memcpy(p->tmp + w->tn, w->c, t);
  w->tn += (unsigned)t;
  w->c += t;
  if ((el->flags & SF_LEAD) && w->tn >= 1 && p->tmp[0] != el->lead)
    *rc = SNI_EPROTO;
  if (w->tn < n) return NULL;
  w->tn = 0;
  return p->tmp;
}

static SNI_HOT_INLINE uint32_t read_len(const uint8_t *q, unsigned width) {
  switch (width) {
  case 1: return q[0];
  case 2: return sni_rd16(q);
  default: return (uint32_t)q[0] << 16 | (uint32_t)sni_rd16(q + 1);
  }
}

/* A vector's length against its element and frame (item is 1 or 2). */
static SNI_HOT_INLINE int check_len(const sni_hs_elem *el, uint32_t at,
                                    uint32_t len, uint32_t end) {
  if (len < el->min || len > el->max || (len & (el->item - 1u)))
    return SNI_EPROTO;
  /* at <= end: the fixed part was checked against the frame first. */
  if (el->flags & SF_FILL) return len == end - at ? 0 : SNI_EPROTO;
  return len <= end - at ? 0 : SNI_EPROTO;
}

/* The end of a schema: a repeated one starts over while its frame has
 * bytes left; otherwise the frame must be complete, and the walk returns
 * to the element after the one that opened it.  0 or an error; the hello
 * is complete when ip becomes SNI_HS_DONE. */
static SNI_HOT_INLINE int end_schema(sni_parser_impl *restrict p, walk *w,
                                     const sni_hs_elem *el, int stopped) {
  uint32_t pos = POS(w);
  if ((el->flags & SF_REPEAT) && !stopped && pos < w->fend) {
    w->ip = sni_hs_schema_start[el->arg];
    return 0;
  }
  if (pos != w->fend) return SNI_EPROTO;
  if (el->rule) {
    int rc = end_rule(p, el->rule);
    if (rc) return rc;
  }
  if (w->d == 0) {
    w->ip = SNI_HS_DONE;
    return 0;
  }
  w->ip = p->opener[w->d] + 1u;
  w->d--;
  w->fend = p->ends[w->d];
  return 0;
}

static const sni_hs_elem *schema_end(unsigned ip) {
  while (sni_hs_schema[ip].kind != SK_END) ip++;
  return &sni_hs_schema[ip];
}

/* Content consumed at once: the span holds all of it. */
static SNI_HOT_INLINE void take_content(sni_parser_impl *restrict p,
                                        sni_hello *restrict h,
                                        const uint8_t *c, unsigned body,
                                        unsigned arg, uint32_t len) {
  switch (body) {
  case SB_COPY: memcpy(copy_target(h, arg) + p->copy_end - len, c, len); break;
  case SB_LIST8: put_list8(h, arg, c, len); break;
  case SB_LIST16: put_list16(h, arg, c, len / 2u); break;
  default: break; /* SB_SKIP */
  }
}

/* The kept-or-skipped decision for content consumed as bytes: routing-only
 * mode validates the lists it does not keep by their length alone. */
static SNI_HOT_INLINE unsigned content_body(const sni_parser_impl *p,
                                            unsigned body, unsigned arg) {
  if (p->routing && ((body == SB_LIST16 || body == SB_LIST8)
                         ? !sni_hs_lists[arg].routing
                         : (body == SB_COPY && arg == SC_RANDOM)))
    return SB_SKIP;
  return body;
}

/* An extension body whose schema is one length-prefixed vector and an END
 * without a rule (the list extensions), with the whole body in the span:
 * the vector is checked and taken here, as the walk of that schema would
 * (the same length checks; the frame end must be met: EPROTO either way),
 * without opening a frame for it.  `in` is a constant per call site, so
 * the shape test folds away.  1 if done, 0 if `in` is not of that shape,
 * or an error. */
static SNI_HOT_INLINE int flat_body(sni_parser_impl *restrict p, walk *w,
                                    const elem_ctx *c,
                                    const sni_hs_elem *in) {
  if (in->kind != SK_VEC || in->pre || !in->width || in->rule ||
      in->body >= SB_SEQ || in[1].kind != SK_END || in[1].rule ||
      in[1].flags)
    return 0;
  if (c->len < in->width) return SNI_EPROTO; /* the length does not fit */
  uint32_t len = read_len(w->c, in->width);
  if (len < in->min || len > in->max || (len & (in->item - 1u)) ||
      len != c->len - in->width)
    return SNI_EPROTO;
  if (len)
    take_content(p, p->out, w->c + in->width,
                 content_body(p, in->body, in->arg), in->arg, len);
  w->c += c->len;
  w->ip++;
  return 1;
}

/* One case per schema, each with its constant descriptor: the shapes that
 * are not one vector fold to "not flat" at compile time. */
#define FLAT(s) \
  case s: return flat_body(p, w, c, &sni_hs_schema[sni_hs_schema_start[s]]);
static SNI_HOT_INLINE int flat_ext(sni_parser_impl *restrict p, walk *w,
                                   const elem_ctx *c) {
  switch (c->arg) {
    FLAT(SS_MESSAGE) FLAT(SS_HELLO) FLAT(SS_EXTENSION) FLAT(SS_OPAQUE)
    FLAT(SS_EMPTY) FLAT(SS_SNI) FLAT(SS_SNI_ENTRY) FLAT(SS_ALPN)
    FLAT(SS_ALPN_NAME) FLAT(SS_GROUPS) FLAT(SS_POINT_FORMATS)
    FLAT(SS_SIGALGS) FLAT(SS_DC_SIGALGS) FLAT(SS_SIGALGS_CERT)
    FLAT(SS_VERSIONS) FLAT(SS_KEY_SHARE) FLAT(SS_KEY_SHARE_ENTRY)
    FLAT(SS_PSK) FLAT(SS_PSK_IDENTITY) FLAT(SS_PSK_BINDER) FLAT(SS_ECH)
  default: return 0;
  }
}
_Static_assert(SS_COUNT == 21, "one FLAT case per schema in flat_ext");
#undef FLAT

/* Where a vector's content goes once its fixed part is read: a frame to
 * walk, or bytes to consume: at once when the span holds them (always when
 * `whole`), else as they come. */
static SNI_HOT_INLINE int start_content(sni_parser_impl *restrict p, walk *w,
                                        const elem_ctx *c, const int whole) {
  unsigned body = c->body;
  /* Most extensions are skipped whole: the shortest path first. */
  if (body == SB_SKIP && (whole || (size_t)(w->e - w->c) >= c->len)) {
    w->ip++;
    w->c += c->len;
    return 0;
  }
  if (body >= SB_SEQ) {
    if (w->ip == sni_hs_schema_start[SS_MESSAGE]) {
      /* The message is frame 0: its end is ends[0] (SR_MSG_HDR). */
      w->fend = p->ends[0];
      w->ip = sni_hs_schema_start[c->arg];
      /* The rest of the message in this span: walk it in one go. */
      if (whole) return 0;
      return (size_t)(w->e - w->c) >= w->fend - POS(w) ? STEP_WHOLE : 0;
    }
    if (body == SB_SEQ && (whole || (size_t)(w->e - w->c) >= c->len)) {
      int rc = flat_ext(p, w, c);
      if (rc) return rc < 0 ? rc : 0;
    }
    if (body == SB_SEQ || c->len) {
      w->d++;
      p->ends[w->d] = w->fend = c->at + c->len;
      p->opener[w->d] = (uint8_t)w->ip;
      w->ip = sni_hs_schema_start[c->arg];
      return 0;
    }
  }
  w->ip++;
  if (c->len == 0 || body >= SB_SEQ) return 0;
  body = content_body(p, body, c->arg);
  if (body == SB_COPY && c->arg == SC_RANDOM) p->copy_end = (uint8_t)c->len;
  if (whole || (size_t)(w->e - w->c) >= c->len) {
    take_content(p, p->out, w->c, body, c->arg, c->len);
    w->c += c->len;
    return 0;
  }
  w->bulk = body;
  w->bulk_arg = c->arg;
  w->bulk_end = c->at + c->len;
  return 0;
}

/* One element whose fixed part is at q. */
static SNI_HOT_INLINE int run_elem(sni_parser_impl *restrict p, walk *w,
                                   const sni_hs_elem *el, const uint8_t *q,
                                   const int whole) {
  elem_ctx c = {0, POS(w), 0, w->fend, el->body, el->arg};
  if (el->kind == SK_VEC) {
    if (el->width) c.len = read_len(q + el->pre, el->width);
    else c.len = (el->flags & SF_FILL) ? w->fend - c.at : el->min;
    int rc = check_len(el, c.at, c.len, w->fend);
    if (rc) return rc;
  }
  if (el->rule) {
    c.avail = (uint32_t)(w->e - w->c);
    int rc = apply_rule(p, el->rule, q, &c);
    if (rc < 0) return rc;
    if (rc == SR_STOP) return end_schema(p, w, schema_end(w->ip), 1);
  }
  if (el->kind == SK_FIXED) {
    w->ip++;
    return 0;
  }
  return start_content(p, w, &c, whole);
}

/* One element (or schema end) at w->ip.  0 to go on, STEP_MORE, or an
 * error.  With `whole` the span holds the rest of the message, so an
 * element that fits its frame is in the span. */
static SNI_HOT_INLINE int step(sni_parser_impl *restrict p, walk *w,
                               const sni_hs_elem *el, const int whole) {
  if (el->kind == SK_END) return end_schema(p, w, el, 0);
  unsigned k = (unsigned)el->pre + el->width;
  const uint8_t *q;
  if (whole || w->tn == 0) {
    uint32_t pos = POS(w);
    if ((el->flags & SF_OPT) && pos == w->fend) {
      w->ip++;
      return 0;
    }
    /* pos <= fend: the walk never passes the end of its frame. */
    if (k > w->fend - pos) return SNI_EPROTO; /* does not fit */
    if (whole || (size_t)(w->e - w->c) >= k) {
      q = w->c;
      w->c += k;
      return run_elem(p, w, el, q, whole);
    }
    if (w->c == w->e) return STEP_MORE;
  }
  int rc = 0;
  q = gather(p, w, el, k, &rc);
  if (rc) return rc;
  if (!q) return STEP_MORE;
  return run_elem(p, w, el, q, whole);
}

/* Runs elements until the span is used up, the hello is complete, or an
 * error.  The switch gives every element its own copy of step() with a
 * constant descriptor (see lib/hs_schema.h). */
/* Case i runs element i; when the walk goes on with element i + 1 (the
 * usual case inside a schema) and no content is pending, it jumps there
 * directly instead of through the dispatch. */
#define E(i, next)                                          \
  case i:                                                   \
  L##i:                                                     \
    rc = step(p, w, &sni_hs_schema[i], whole);              \
    if (rc == 0 && w->ip == (i) + 1u && (whole || !w->bulk)) \
      goto L##next;                                         \
    break;
/* An element after which the walk often goes on at `loop` jumps there
 * the same way: the end of an entry (END_ENTRY) that starts its entry over,
 * and the end of an extension body, which returns to the end of the
 * extension entry (element 10).  The ip tests keep a wrong label harmless. */
#define R(i, loop, next)                                    \
  case i:                                                   \
  L##i:                                                     \
    rc = step(p, w, &sni_hs_schema[i], whole);              \
    if (rc == 0 && (whole || !w->bulk)) {                   \
      if (w->ip == loop##u) goto L##loop;                   \
      if (w->ip == (i) + 1u) goto L##next;                  \
    }                                                       \
    break;
static SNI_HOT_INLINE int walk_span(sni_parser_impl *restrict p,
                                    sni_hello *restrict h, walk *w,
                                    const int whole) {
  for (;;) {
    if (!whole) {
      if (w->bulk && !consume_bulk(p, h, w)) return 0;
      /* The rest of the message is in this span after all (a split
       * element or content was completed): no more carry-over. */
      if (!w->tn && p->ends[0] && (size_t)(w->e - w->c) >= p->ends[0] - POS(w))
        return STEP_WHOLE;
    }
    int rc;
    switch (w->ip) {
    case 0: /* the message header, entered only through the dispatch */
      rc = step(p, w, &sni_hs_schema[0], whole);
      if (rc == 0 && w->ip == 1u && (whole || !w->bulk)) goto L1;
      break;
      E(1, 2) E(2, 3) E(3, 4) E(4, 5) E(5, 6) E(6, 7) E(7, 8)
      E(8, 9) E(9, 10) R(10, 9, 11) E(11, 12) R(12, 10, 13) R(13, 10, 14)
      E(14, 15) R(15, 10, 16) E(16, 17) R(17, 16, 18) E(18, 19) R(19, 10, 20)
      E(20, 21) R(21, 20, 22) E(22, 23) R(23, 10, 24) E(24, 25) R(25, 10, 26)
      E(26, 27) R(27, 10, 28) E(28, 29) R(29, 10, 30) E(30, 31) R(31, 10, 32)
      E(32, 33) R(33, 10, 34) E(34, 35) R(35, 10, 36) E(36, 37) R(37, 36, 38)
      E(38, 39) E(39, 40) R(40, 10, 41) E(41, 42) R(42, 41, 43) E(43, 44)
      R(44, 43, 45) E(45, 46) E(46, 47) E(47, 48) E(48, 49) R(49, 10, 49)
    default: return 0; /* SNI_HS_DONE */
    }
    if (rc) return rc < 0 || rc == STEP_WHOLE ? rc : 0;
  }
}
#undef E
#undef R
_Static_assert(sizeof sni_hs_schema / sizeof sni_hs_schema[0] == 50,
               "one case per element in walk_span");

/* The walk state is copied into a local so that the compiler can keep it
 * in registers. */
static int walk_some(sni_parser_impl *restrict p, walk *wp) {
  walk w = *wp;
  int rc = walk_span(p, p->out, &w, 0);
  *wp = w;
  return rc;
}

static int walk_whole(sni_parser_impl *restrict p, walk *wp) {
  walk w = *wp;
  int rc = walk_span(p, p->out, &w, 1);
  *wp = w;
  return rc;
}

/* Bytes from the current position to the end of the message: known once
 * the header is read, or read ahead from a span that starts with the whole
 * header (SR_MSG_HDR then checks that length like any other). */
static size_t msg_rest(const sni_parser_impl *restrict p, const uint8_t *b,
                       size_t n) {
  if (p->ends[0]) return p->ends[0] - p->pos;
  if (p->pos != 0 || n < SNI_HS_HDR) return SIZE_MAX;
  return SNI_HS_HDR + ((size_t)b[1] << 16 | sni_rd16(b + 2));
}

int sni_hs_consume(sni_parser_impl *restrict p, const uint8_t *b, size_t n) {
  walk w = {(uintptr_t)b - p->pos, b, b + n, frame_end(p, p->depth),
            p->bulk_end, p->ip, p->depth, p->tmp_n, p->bulk, p->bulk_arg};
  /* The span holds the rest of the message (a hello in one record, the
   * last record of a fragmented one): no carry-over. */
  int whole = !w.tn && !w.bulk && n >= msg_rest(p, b, n);
  int rc = whole ? STEP_WHOLE : walk_some(p, &w);
  if (rc == STEP_WHOLE) rc = walk_whole(p, &w);
  p->pos = POS(&w);
  p->ip = (uint8_t)w.ip;
  p->depth = (uint8_t)w.d;
  p->tmp_n = (uint8_t)w.tn;
  p->bulk = (uint8_t)w.bulk;
  p->bulk_arg = (uint8_t)w.bulk_arg;
  p->bulk_end = w.bulk_end;
  return rc;
}

void sni_hs_finish(sni_parser_impl *restrict p) {
  sni_hello *h = p->out;
  uint16_t maxv = 0;
  for (unsigned i = 0; i < h->n_versions; i++)
    if (!sni_grease16(h->versions[i]) && h->versions[i] > maxv)
      maxv = h->versions[i];
  h->max_version = maxv ? maxv : h->legacy_version;
  if (p->routing) h->grease = 0; /* its lists were not all read */
}
