/*
 * The QUIC Initial reader: the ClientHello out of a client's Initial
 * packets (RFC 9000 17.2.2, RFC 9001 5, RFC 9369), fed datagram by
 * datagram, through the handshake-layer parser.
 *
 * Per packet the order is: parse the long header, remove header
 * protection, decrypt into the end of the caller's buffer, check every
 * frame against a working copy of the received-range list (CRYPTO bytes
 * are copied to their stream offsets as they are checked), and only if
 * the whole packet is sound make the working copy the real list and feed
 * the bytes that became contiguous to the parser.  Bytes a rejected packet
 * copied lie outside the committed ranges or equal what is there, so a
 * rejection needs no undo.
 *
 * No allocation, no system call, no global state (the crypto's cached CPU
 * probe aside).
 */
#include "crypto.h"

#include <string.h>

#define QUIC_MAGIC 0x51494e31u /* "QIN1" */

/* Long header (RFC 9000 17.2): form bit, then type bits (v1 numbering
 * below; RFC 9369 3.2 rotates them for v2), reserved bits and the
 * packet number length, the last four protected (RFC 9001 5.4.1). */
#define LH_FORM 0x80u
#define LH_TYPE_SHIFT 4
#define LH_TYPE_MASK 0x03u
#define LH_PROTECTED 0x0fu
#define LH_RESERVED 0x0cu
#define LH_PN_LEN 0x03u
#define LH_FIXED_LEN 7u /* first byte, version, DCID length, SCID length */
#define QUIC_MIN_ORIGINAL_DCID 8u /* RFC 9000 7.2 */
#define QUIC_SAMPLE_OFFSET 4u      /* RFC 9001 5.4.2: pn offset + 4 */
#define QUIC_MAX_DERIVE_PER_DATAGRAM 2u
#define QUIC_MIN_BUF 2048u
#define QUIC_VARINT_MAX ((((uint64_t)1) << 62) - 1)

enum { PKT_INITIAL = 0, PKT_0RTT, PKT_HANDSHAKE, PKT_RETRY };

/* Frame types allowed in an Initial packet (RFC 9000 12.4, 19). */
enum {
  FRAME_PADDING = 0x00,
  FRAME_PING = 0x01,
  FRAME_ACK = 0x02,
  FRAME_ACK_ECN = 0x03,
  FRAME_CRYPTO = 0x06,
  FRAME_CONNECTION_CLOSE = 0x1c
};

typedef struct quic_range {
  uint32_t start, end;
} quic_range;

/* Keys for one DCID: AEAD, header protection, IV, and the DCID itself. */
typedef struct quic_keyset {
  sni_aes128_gcm gcm;
  sni_aes128 hp;
  uint8_t iv[SNI_QUIC_IV_LEN];
  uint8_t dcid[SNI_QUIC_MAX_CID_LEN];
  uint8_t dcid_len;
} quic_keyset;

typedef struct quic_impl {
  quic_keyset keys; /* first: the alignment the AES schedules want */
  sni_parser parser;
  sni_hello *out;
  uint8_t *buf;
  uint32_t cap;
  uint32_t max_hello;
  uint32_t magic;
  int32_t err;    /* sticky: 0 or a negative SNI_E* code */
  uint32_t fed;   /* stream bytes handed to the parser */
  uint32_t wire;  /* bytes of the datagrams used */
  uint32_t n_ranges;
  uint64_t largest_pn;
  uint8_t have_keys;
  uint8_t have_pn;
  uint8_t done;
  sni_quic_info info;
  quic_range ranges[SNI_QUIC_MAX_FRAGMENTS]; /* sorted, disjoint */
} quic_impl;

#define QUIC_ALIGN 16u
_Static_assert(sizeof(quic_impl) + QUIC_ALIGN - 1 <= sizeof(sni_quic),
               "sni_quic too small for the reader state");

/* The public struct is only uint64_t-aligned (the header stays plain C and
 * C++), while the AES-NI code loads its key schedules aligned: the state
 * starts at the first 16-byte boundary inside it. */
static quic_impl *impl_of(sni_quic *q) {
  uintptr_t a = (uintptr_t)(void *)q;
  a = (a + QUIC_ALIGN - 1) & ~(uintptr_t)(QUIC_ALIGN - 1);
  return (quic_impl *)(void *)((unsigned char *)q + (a - (uintptr_t)(void *)q));
}

static const quic_impl *impl_of_const(const sni_quic *q) {
  return impl_of((sni_quic *)(uintptr_t)(const void *)q);
}

/* ---- wire helpers -------------------------------------------------------- */

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 9000 16: the two top bits give the length (1, 2, 4, 8 bytes). */
static int rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
  const uint8_t *p = *pp;
  if (p >= end) return -1;
  size_t n = (size_t)1 << (p[0] >> 6);
  if ((size_t)(end - p) < n) return -1;
  uint64_t x = p[0] & 0x3fu;
  for (size_t i = 1; i < n; i++) x = x << 8 | p[i];
  *pp = p + n;
  *v = x;
  return 0;
}

/* The packet type of a long header's first byte, per version. */
static int packet_type(uint32_t version, uint8_t first) {
  unsigned t = (first >> LH_TYPE_SHIFT) & LH_TYPE_MASK;
  if (version == SNI_QUIC_VERSION_2) {
    /* RFC 9369 3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00 */
    static const uint8_t v2[4] = {PKT_RETRY, PKT_INITIAL, PKT_0RTT, PKT_HANDSHAKE};
    return v2[t];
  }
  return (int)t;
}

/* RFC 9000 A.3: the packet number closest to the next expected one. */
static uint64_t decode_pn(uint64_t expected, uint64_t truncated, unsigned bits) {
  uint64_t win = (uint64_t)1 << bits, hwin = win / 2, mask = win - 1;
  uint64_t cand = (expected & ~mask) | truncated;
  if (cand + hwin <= expected && cand < (((uint64_t)1) << 62) - win) return cand + win;
  if (cand > expected + hwin && cand >= win) return cand - win;
  return cand;
}

/* ---- packets ------------------------------------------------------------- */

/* One long-header packet inside a datagram. */
typedef struct quic_pkt {
  const uint8_t *p;
  size_t len;    /* the whole packet, header included */
  size_t pn_off; /* where the protected packet number starts */
  uint32_t version;
  int type;
  const uint8_t *dcid, *scid;
  uint8_t dcid_len, scid_len;
} quic_pkt;

/* What the header walk found at d. */
enum { HDR_STOP = 0, HDR_SKIP, HDR_INITIAL };

/* Parses the long header at d (len bytes to the end of the datagram).
 * HDR_STOP: nothing more in this datagram can be read as a packet (a short
 * header, zero padding, Version Negotiation, Retry, an unknown version or
 * a malformed header); *why says which.  Otherwise k describes the packet. */
static int parse_header(const uint8_t *d, size_t len, quic_pkt *k, int *why) {
  const uint8_t *c = d, *e = d + len;
  *why = SNI_ENOTQUIC;
  if (len < LH_FIXED_LEN || !(d[0] & LH_FORM)) return HDR_STOP;
  k->p = d;
  k->version = rd32(d + 1);
  if (k->version == 0) return HDR_STOP; /* Version Negotiation: a server's */
  if (!sni_quic_version_supported(k->version)) {
    *why = SNI_EQUICVER; /* its length fields are unknown: stop here */
    return HDR_STOP;
  }
  c += 5;
  k->dcid_len = *c++;
  if (k->dcid_len > SNI_QUIC_MAX_CID_LEN || (size_t)(e - c) < k->dcid_len + 1u)
    return HDR_STOP;
  k->dcid = c;
  c += k->dcid_len;
  k->scid_len = *c++;
  if (k->scid_len > SNI_QUIC_MAX_CID_LEN || (size_t)(e - c) < k->scid_len) return HDR_STOP;
  k->scid = c;
  c += k->scid_len;
  k->type = packet_type(k->version, d[0]);
  if (k->type == PKT_RETRY) return HDR_STOP; /* a server's; fills the datagram */
  uint64_t v;
  if (k->type == PKT_INITIAL) {
    if (rd_varint(&c, e, &v) || v > (uint64_t)(e - c)) return HDR_STOP; /* token */
    c += v;
  }
  if (rd_varint(&c, e, &v) || v > (uint64_t)(e - c)) return HDR_STOP;
  k->pn_off = (size_t)(c - d);
  k->len = k->pn_off + (size_t)v;
  return k->type == PKT_INITIAL ? HDR_INITIAL : HDR_SKIP;
}

static int keyset_derive(quic_keyset *ks, uint32_t version, const uint8_t *dcid,
                         size_t dcid_len) {
  sni_quic_initial_keys k;
  int rc = sni_quic_initial_keys_derive(version, dcid, dcid_len, SNI_QUIC_CLIENT, &k);
  if (rc) return rc;
  sni_aes128_gcm_init(&ks->gcm, k.key);
  sni_aes128_init(&ks->hp, k.hp);
  memcpy(ks->iv, k.iv, sizeof ks->iv);
  memcpy(ks->dcid, dcid, dcid_len);
  ks->dcid_len = (uint8_t)dcid_len;
  return 0;
}

/* The result of a successful decryption. */
typedef struct quic_plain {
  const uint8_t *pt; /* plaintext payload (in the caller's buffer) */
  size_t len;
  uint64_t pn;
  uint8_t first; /* first byte without header protection */
} quic_plain;

/* Removes header protection with ks and decrypts k into scratch (room for
 * k->len - tag bytes: the unprotected header as AAD, then the plaintext).
 * 0, or SNI_EAUTH.  The caller checked that the sample lies inside k. */
static int try_keys(const quic_impl *q, const quic_keyset *ks, const quic_pkt *k,
                    uint8_t *scratch, quic_plain *out) {
  uint8_t mask[SNI_QUIC_HP_MASK_LEN], nonce[SNI_QUIC_IV_LEN];
  sni_quic_hp_mask(&ks->hp, k->p + k->pn_off + QUIC_SAMPLE_OFFSET, mask);
  uint8_t first = (uint8_t)(k->p[0] ^ (mask[0] & LH_PROTECTED));
  size_t pn_len = (size_t)(first & LH_PN_LEN) + 1u;
  size_t aad_len = k->pn_off + pn_len;
  size_t ct_len = k->len - aad_len - SNI_GCM_TAG_LEN;
  memcpy(scratch, k->p, aad_len);
  scratch[0] = first;
  uint64_t trunc = 0;
  for (size_t i = 0; i < pn_len; i++) {
    scratch[k->pn_off + i] ^= mask[1 + i];
    trunc = trunc << 8 | scratch[k->pn_off + i];
  }
  uint64_t expected = q->have_pn ? q->largest_pn + 1u : 0u;
  uint64_t pn = decode_pn(expected, trunc, (unsigned)(8u * pn_len));
  sni_quic_nonce(ks->iv, pn, nonce);
  const uint8_t *ct = k->p + aad_len;
  /* Out of place on purpose: ct lies in the caller's const datagram and
   * the plaintext goes to scratch, the tail of q->buf above every held
   * stream byte (initial_packet checks need <= cap - held).  A failed
   * decryption leaves garbage only there (sni_aes128_gcm_decrypt writes
   * before it knows the tag), which nothing reads: out is filled only on
   * success, and authenticate's second try with the packet's own DCID
   * keys rewrites scratch from the intact ciphertext.  Decrypting in place
   * would break that second try. */
  if (sni_aes128_gcm_decrypt(&ks->gcm, nonce, scratch, aad_len, ct, ct_len,
                             ct + ct_len, scratch + aad_len) != 0)
    return SNI_EAUTH;
  out->pt = scratch + aad_len;
  out->len = ct_len;
  out->pn = pn;
  out->first = first;
  return 0;
}

/* ---- frames and reassembly ----------------------------------------------- */

/* The working state of one packet's frames. */
typedef struct quic_work {
  quic_range r[SNI_QUIC_MAX_FRAGMENTS];
  uint32_t n;
  uint32_t crypto_frames;
  const uint8_t *limit; /* CRYPTO bytes may be stored below this */
} quic_work;

/* Adds [s, e) to the sorted, disjoint list, merging what touches it. */
static int range_add(quic_work *w, uint32_t s, uint32_t e) {
  uint32_t i = 0, j, n = w->n;
  while (i < n && w->r[i].end < s) i++;
  for (j = i; j < n && w->r[j].start <= e; j++) {
    if (w->r[j].start < s) s = w->r[j].start;
    if (w->r[j].end > e) e = w->r[j].end;
  }
  if (i == j) {
    if (n >= SNI_QUIC_MAX_FRAGMENTS) return SNI_E2BIG;
    memmove(w->r + i + 1, w->r + i, (n - i) * sizeof *w->r);
    n++;
  } else {
    memmove(w->r + i + 1, w->r + j, (n - j) * sizeof *w->r);
    n -= j - i - 1;
  }
  w->r[i].start = s;
  w->r[i].end = e;
  w->n = n;
  return 0;
}

/* One CRYPTO frame: bounds, agreement with every byte already held (from
 * earlier packets or earlier frames of this one), then stored. */
static int crypto_frame(const quic_impl *q, quic_work *w, uint64_t off,
                        const uint8_t *data, uint64_t len) {
  uint64_t end = off + len; /* both < 2^62: no overflow */
  if (end > q->max_hello) return SNI_E2BIG;
  if (q->out->hello_len && end > q->out->hello_len) return SNI_EPROTO;
  if (end > (uint64_t)(w->limit - q->buf)) return SNI_ENOSPC;
  if (len == 0) return 0;
  uint32_t s = (uint32_t)off, e = (uint32_t)end;
  for (uint32_t i = 0; i < w->n && w->r[i].start < e; i++) {
    uint32_t lo = w->r[i].start > s ? w->r[i].start : s;
    uint32_t hi = w->r[i].end < e ? w->r[i].end : e;
    if (lo < hi && memcmp(q->buf + lo, data + (lo - s), hi - lo) != 0)
      return SNI_EPROTO; /* the same stream bytes sent twice, differently */
  }
  memcpy(q->buf + s, data, e - s);
  return range_add(w, s, e);
}

/* RFC 9000 19.3: walked and checked (no range may go below packet 0). */
static int skip_ack(const uint8_t **pc, const uint8_t *e, int ecn) {
  uint64_t largest, delay, count, first, gap, len;
  if (rd_varint(pc, e, &largest) || rd_varint(pc, e, &delay) ||
      rd_varint(pc, e, &count) || rd_varint(pc, e, &first) || first > largest)
    return SNI_EPROTO;
  uint64_t smallest = largest - first;
  if (count > (uint64_t)(e - *pc) / 2u) return SNI_EPROTO; /* >= 2 bytes each */
  for (uint64_t i = 0; i < count; i++) {
    if (rd_varint(pc, e, &gap) || rd_varint(pc, e, &len) || gap + 2u > smallest)
      return SNI_EPROTO;
    largest = smallest - gap - 2u;
    if (len > largest) return SNI_EPROTO;
    smallest = largest - len;
  }
  for (int i = 0; ecn && i < 3; i++) /* ECT0, ECT1, ECN-CE counts */
    if (rd_varint(pc, e, &gap)) return SNI_EPROTO;
  return 0;
}

static const uint8_t *skip_padding(const uint8_t *c, const uint8_t *e) {
  /* Most of a client Initial is padding: 32 bytes per step, then 8. */
  while ((size_t)(e - c) >= 4 * sizeof(uint64_t)) {
    uint64_t v[4];
    memcpy(v, c, sizeof v);
    if ((v[0] | v[1] | v[2] | v[3]) != 0) break;
    c += sizeof v;
  }
  while ((size_t)(e - c) >= sizeof(uint64_t)) {
    uint64_t v;
    memcpy(&v, c, sizeof v);
    if (v != 0) break;
    c += sizeof v;
  }
  while (c < e && *c == FRAME_PADDING) c++;
  return c;
}

/* Every frame of a decrypted payload.  0, SNI_EOF for CONNECTION_CLOSE, or
 * the error that makes the packet faulty. */
static int frames(const quic_impl *q, quic_work *w, const uint8_t *pt, size_t n) {
  const uint8_t *c = pt, *e = pt + n;
  uint64_t a, b;
  if (n == 0) return SNI_EPROTO; /* RFC 9000 12.4: a packet holds a frame */
  while (c < e) {
    uint8_t type = *c++;
    int rc = 0;
    switch (type) {
    case FRAME_PADDING:
      c = skip_padding(c, e);
      break;
    case FRAME_PING:
      break;
    case FRAME_ACK:
    case FRAME_ACK_ECN:
      rc = skip_ack(&c, e, type == FRAME_ACK_ECN);
      break;
    case FRAME_CRYPTO:
      if (rd_varint(&c, e, &a) || rd_varint(&c, e, &b) || b > (uint64_t)(e - c))
        return SNI_EPROTO;
      rc = crypto_frame(q, w, a, c, b);
      c += b;
      w->crypto_frames++;
      break;
    case FRAME_CONNECTION_CLOSE: /* error code, frame type, reason */
      if (rd_varint(&c, e, &a) || rd_varint(&c, e, &a) || rd_varint(&c, e, &b) ||
          b > (uint64_t)(e - c))
        return SNI_EPROTO;
      return SNI_EOF;
    default:
      return SNI_EPROTO; /* not allowed in an Initial (or unknown) */
    }
    if (rc) return rc;
  }
  /* Once the handshake header is held, nothing may lie past the hello. */
  if (w->n && w->r[0].start == 0 && w->r[0].end >= 4) {
    uint32_t hl = 4u + ((uint32_t)q->buf[1] << 16 | (uint32_t)q->buf[2] << 8 | q->buf[3]);
    if (w->r[w->n - 1].end > hl) return SNI_EPROTO;
  }
  return 0;
}

/* ---- the reader ------------------------------------------------------- */

static void ignore_packet(quic_impl *q, int why) {
  q->info.packets_ignored++;
  q->info.last_ignored = why;
}

/* Makes the checked packet part of the state and feeds the parser what
 * became contiguous.  0, or a sticky error. */
static int commit(quic_impl *q, const quic_work *w, const quic_pkt *k,
                  const quic_plain *pl, const quic_keyset *switched) {
  memcpy(q->ranges, w->r, w->n * sizeof *w->r);
  q->n_ranges = w->n;
  if (switched) {
    if (q->have_keys) q->info.retry = 1;
    q->keys = *switched;
  }
  if (!q->have_keys) {
    q->have_keys = 1;
    q->info.version = k->version;
    q->info.dcid_len = k->dcid_len;
    memcpy(q->info.dcid, k->dcid, k->dcid_len);
    q->info.scid_len = k->scid_len;
    memcpy(q->info.scid, k->scid, k->scid_len);
  }
  if (!q->have_pn || pl->pn > q->largest_pn) q->largest_pn = pl->pn;
  q->have_pn = 1;
  q->info.initial_packets++;
  q->info.crypto_frames += w->crypto_frames;
  uint32_t avail = (q->n_ranges && q->ranges[0].start == 0) ? q->ranges[0].end : 0;
  if (avail <= q->fed) return 0;
  int rc = sni_parser_feed(&q->parser, q->buf + q->fed, avail - q->fed);
  if (rc == SNI_EAGAIN) {
    q->fed = avail;
    return 0;
  }
  if (rc < 0) return rc;
  q->fed += (uint32_t)rc;
  if (q->fed != avail) return SNI_EPROTO; /* frames() rules this out */
  q->done = 1;
  return 0;
}

/* Authenticates k with the current keys or, failing that, keys from its
 * own DCID (stored in *alt, *switched set).  0 or the reason to ignore. */
static int authenticate(quic_impl *q, const quic_pkt *k, uint8_t *scratch,
                        quic_plain *pl, quic_keyset *alt, int *switched,
                        unsigned *derived) {
  *switched = 0;
  if (q->have_keys) {
    if (try_keys(q, &q->keys, k, scratch, pl) == 0) return 0;
    if (k->dcid_len == q->keys.dcid_len &&
        memcmp(k->dcid, q->keys.dcid, k->dcid_len) == 0)
      return SNI_EAUTH;
  } else if (k->dcid_len < QUIC_MIN_ORIGINAL_DCID) {
    return SNI_ENOTQUIC; /* RFC 9000 7.2: servers drop these */
  }
  /* Bounds the cost of junk: each derivation is a dozen SHA-256 blocks. */
  if (*derived >= QUIC_MAX_DERIVE_PER_DATAGRAM) return SNI_EAUTH;
  (*derived)++;
  if (keyset_derive(alt, k->version, k->dcid, k->dcid_len) != 0) return SNI_EAUTH;
  if (try_keys(q, alt, k, scratch, pl) != 0) return SNI_EAUTH;
  *switched = 1;
  return 0;
}

/* One client Initial.  0 when handled (used or ignored; *used says which),
 * or a sticky error. */
static int initial_packet(quic_impl *q, const quic_pkt *k, unsigned *derived,
                          int *used) {
  if (k->len < k->pn_off + QUIC_SAMPLE_OFFSET + SNI_QUIC_HP_SAMPLE_LEN) {
    ignore_packet(q, SNI_ENOTQUIC); /* too short to hold a sample */
    return 0;
  }
  if (q->have_keys && k->version != q->info.version) {
    ignore_packet(q, SNI_EQUICVER);
    return 0;
  }
  uint32_t held = q->n_ranges ? q->ranges[q->n_ranges - 1].end : 0;
  size_t need = k->len - SNI_GCM_TAG_LEN;
  if (need > q->cap - held) {
    ignore_packet(q, SNI_ENOSPC);
    return 0;
  }
  uint8_t *scratch = q->buf + q->cap - need;
  quic_plain pl;
  quic_keyset alt;
  int switched;
  int rc = authenticate(q, k, scratch, &pl, &alt, &switched, derived);
  if (rc) {
    ignore_packet(q, rc);
    return 0;
  }
  /* Trusted: keys of the original DCID.  A packet keyed only by its own
   * DCID can come from anyone able to inject into the flow. */
  int trusted = !switched || !q->have_keys;
  quic_work w;
  memcpy(w.r, q->ranges, q->n_ranges * sizeof *w.r);
  w.n = q->n_ranges;
  w.crypto_frames = 0;
  w.limit = scratch;
  if (pl.first & LH_RESERVED) rc = SNI_EPROTO; /* RFC 9000 17.2 */
  else if (q->info.initial_packets >= SNI_QUIC_MAX_PACKETS) rc = SNI_E2BIG;
  else rc = frames(q, &w, pl.pt, pl.len);
  if (rc && !trusted) {
    ignore_packet(q, rc);
    return 0;
  }
  if (rc && rc != SNI_EOF) return rc;
  *used = 1;
  int crc = commit(q, &w, k, &pl, switched ? &alt : NULL);
  return crc ? crc : rc;
}

/* Walks the packets of one datagram.  0 or a sticky error; *used is set
 * when an Initial was taken from it. */
static int datagram(quic_impl *q, const uint8_t *d, size_t len, int *used) {
  unsigned derived = 0;
  size_t off = 0;
  int saw_initial = 0, why = SNI_ENOTQUIC;
  while (off < len && !q->done) {
    quic_pkt k;
    int h = parse_header(d + off, len - off, &k, &why);
    if (h == HDR_STOP) {
      /* A short header (fixed bit set) is a packet; zeros are padding. */
      if (d[off] & LH_FORM || d[off] & 0x40u) q->info.packets_skipped++;
      break;
    }
    off += k.len;
    if (h == HDR_SKIP) {
      q->info.packets_skipped++;
      continue;
    }
    saw_initial = 1;
    int rc = initial_packet(q, &k, &derived, used);
    if (rc) return rc;
  }
  if (!saw_initial && !*used) q->info.last_ignored = why;
  return 0;
}

int sni_quic_init(sni_quic *sq, sni_hello *hello, void *buf, size_t cap,
                  const sni_limits *limits) {
  if (!sq || !hello || !buf || cap < QUIC_MIN_BUF) return SNI_EINVAL;
  quic_impl *q = impl_of(sq);
  memset(sq, 0, sizeof *sq);
  int rc = sni_parser_init_handshake(&q->parser, hello, limits);
  if (rc) return rc;
  hello->quic = 1;
  q->out = hello;
  q->buf = buf;
  q->cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
  q->max_hello = limits && limits->max_hello_len ? limits->max_hello_len
                                                 : SNI_DEFAULT_MAX_HELLO;
  q->magic = QUIC_MAGIC;
  return 0;
}

int sni_quic_feed(sni_quic *sq, const void *dgram, size_t len) {
  if (!sq || (!dgram && len)) return SNI_EINVAL;
  quic_impl *q = impl_of(sq);
  if (q->magic != QUIC_MAGIC) return SNI_EINVAL;
  if (q->err) return q->err;
  if (q->done) return 0;
  q->info.datagrams++;
  int used = 0, rc = 0;
  if (len > SNI_QUIC_MAX_DATAGRAM)
    q->info.last_ignored = SNI_E2BIG;
  else if (len < SNI_QUIC_MIN_DATAGRAM)
    q->info.last_ignored = SNI_ENOTQUIC; /* RFC 9000 14.1 */
  else
    rc = datagram(q, dgram, len, &used);
  if (used) {
    q->info.datagrams_used++;
    q->wire += (uint32_t)len;
  } else {
    q->info.datagrams_ignored++;
  }
  if (rc) {
    q->err = rc;
    return rc;
  }
  if (!q->done) return SNI_EAGAIN;
  q->out->wire_len = q->wire;
  return (int)q->wire;
}

int sni_quic_status(const sni_quic *sq) {
  if (!sq) return SNI_EINVAL;
  const quic_impl *q = impl_of_const(sq);
  if (q->magic != QUIC_MAGIC) return SNI_EINVAL;
  if (q->err) return q->err;
  return q->done ? (int)q->wire : SNI_EAGAIN;
}

int sni_quic_get_info(const sni_quic *sq, sni_quic_info *out) {
  if (!sq || !out) return SNI_EINVAL;
  const quic_impl *q = impl_of_const(sq);
  if (q->magic != QUIC_MAGIC) return SNI_EINVAL;
  *out = q->info;
  return 0;
}
