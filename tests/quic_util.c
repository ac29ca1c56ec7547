#include "quic_util.h"
#include "xorshift.h"

#include <stdint.h>
#include <string.h>

const uint8_t qt_dcid_a[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
const uint8_t qt_dcid_b[20] = {0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                               11, 12, 13, 14, 15, 16, 17, 18, 19};
const uint8_t qt_dcid_retry[12] = {0x7e, 0x7e, 0x01, 0x02, 0x03, 0x04,
                                   0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};
const uint8_t qt_scid[5] = {0x5c, 0x1d, 0x00, 0x01, 0x02};

#define QT_MIN_DATAGRAM 1200u
#define QT_LEN_FIELD 2u  /* the Length field is always written on 2 bytes */
#define QT_SAMPLE_NEED 4u /* payload bytes past a 1-byte pn before the sample */

int qt_varint(uint8_t *f, size_t *n, size_t cap, uint64_t v) {
  unsigned len = v < 64 ? 1 : v < 16384 ? 2 : v < (1u << 30) ? 4 : 8;
  static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
  if (*n + len > cap) return -1;
  for (unsigned i = 0; i < len; i++) f[*n + i] = (uint8_t)(v >> (8 * (len - 1 - i)));
  f[*n] |= prefix[len];
  *n += len;
  return 0;
}

int qt_crypto(uint8_t *f, size_t *n, size_t cap, uint64_t off, const uint8_t *data,
              size_t len) {
  if (*n >= cap) return -1;
  f[(*n)++] = 0x06;
  if (qt_varint(f, n, cap, off) || qt_varint(f, n, cap, len) || *n + len > cap) return -1;
  memcpy(f + *n, data, len);
  *n += len;
  return 0;
}

int qt_ping(uint8_t *f, size_t *n, size_t cap) {
  if (*n >= cap) return -1;
  f[(*n)++] = 0x01;
  return 0;
}

int qt_padding(uint8_t *f, size_t *n, size_t cap, size_t count) {
  if (*n + count > cap) return -1;
  memset(f + *n, 0, count);
  *n += count;
  return 0;
}

int qt_ack(uint8_t *f, size_t *n, size_t cap, uint64_t largest, uint64_t first) {
  if (*n >= cap) return -1;
  f[(*n)++] = 0x02;
  return qt_varint(f, n, cap, largest) || qt_varint(f, n, cap, 0) ||
                 qt_varint(f, n, cap, 0) || qt_varint(f, n, cap, first)
             ? -1
             : 0;
}

static unsigned type_bits(uint32_t version, int type_v1) {
  if (version == SNI_QUIC_VERSION_2) return (unsigned)((type_v1 + 1) & 3);
  return (unsigned)type_v1;
}

/* Header through the Length field; returns its length. */
static size_t qt_header(const qt_initial *pk, size_t body_len, uint8_t *h) {
  size_t n = 0;
  h[n++] = (uint8_t)(0xc0u | type_bits(pk->version, 0) << 4 | pk->reserved_bits |
                     (pk->pn_len - 1));
  for (int i = 3; i >= 0; i--) h[n++] = (uint8_t)(pk->version >> (8 * i));
  h[n++] = (uint8_t)pk->dcid_len;
  memcpy(h + n, pk->dcid, pk->dcid_len);
  n += pk->dcid_len;
  h[n++] = (uint8_t)pk->scid_len;
  if (pk->scid_len) memcpy(h + n, pk->scid, pk->scid_len);
  n += pk->scid_len;
  qt_varint(h, &n, 64, pk->token_len);
  if (pk->token_len) memcpy(h + n, pk->token, pk->token_len);
  n += pk->token_len;
  h[n++] = (uint8_t)(0x40u | (body_len >> 8));
  h[n++] = (uint8_t)body_len;
  return n;
}

size_t qt_protect(const qt_initial *pk, const uint8_t *payload, size_t plen, uint8_t *out,
                  size_t cap) {
  sni_quic_initial_keys k;
  if (sni_quic_initial_keys_derive(pk->version, pk->key_dcid, pk->key_dcid_len,
                                   SNI_QUIC_CLIENT, &k))
    return 0;
  uint8_t pt[QT_MAX_DATAGRAM];
  size_t need = QT_SAMPLE_NEED + 4u - pk->pn_len; /* sample fits in the packet */
  if (plen > sizeof pt) return 0;
  memcpy(pt, payload, plen);
  if (plen < need) {
    memset(pt + plen, 0, need - plen);
    plen = need;
  }
  size_t body = pk->pn_len + plen + SNI_GCM_TAG_LEN;
  uint8_t hdr[128];
  if (pk->token_len > 32) return 0;
  size_t hl = qt_header(pk, body, hdr);
  if (hl + body > cap) return 0;
  for (unsigned i = 0; i < pk->pn_len; i++)
    hdr[hl + i] = (uint8_t)(pk->pn >> (8 * (pk->pn_len - 1 - i)));
  size_t aad = hl + pk->pn_len;
  memcpy(out, hdr, aad);
  sni_aes128_gcm g;
  sni_aes128_gcm_init(&g, k.key);
  uint8_t nonce[SNI_QUIC_IV_LEN];
  sni_quic_nonce(k.iv, pk->pn, nonce);
  sni_aes128_gcm_encrypt(&g, nonce, out, aad, pt, plen, out + aad, out + aad + plen);
  sni_aes128 hp;
  sni_aes128_init(&hp, k.hp);
  uint8_t mask[SNI_QUIC_HP_MASK_LEN];
  sni_quic_hp_mask(&hp, out + hl + 4, mask);
  out[0] ^= mask[0] & 0x0f;
  for (unsigned i = 0; i < pk->pn_len; i++) out[hl + i] ^= mask[1 + i];
  return aad + plen + SNI_GCM_TAG_LEN;
}

size_t qt_other_long(uint32_t version, int type_v1, const uint8_t *dcid, size_t dcid_len,
                     size_t len, uint8_t *out, size_t cap) {
  size_t n = 0;
  if (1 + 4 + 1 + dcid_len + 1 + 2 + len > cap) return 0;
  out[n++] = (uint8_t)(0xc0u | type_bits(version, type_v1) << 4 | 3u);
  for (int i = 3; i >= 0; i--) out[n++] = (uint8_t)(version >> (8 * i));
  out[n++] = (uint8_t)dcid_len;
  memcpy(out + n, dcid, dcid_len);
  n += dcid_len;
  out[n++] = 0; /* empty SCID */
  out[n++] = (uint8_t)(0x40u | (len >> 8));
  out[n++] = (uint8_t)len;
  for (size_t i = 0; i < len; i++) out[n++] = (uint8_t)(i * 131u + 7u);
  return n;
}

/* ---- the packetizer ------------------------------------------------------ */

#define qt_rand sni_xorshift64

static size_t qt_range(uint64_t *s, size_t lo, size_t hi) {
  return lo + (size_t)(qt_rand(s) % (uint64_t)(hi - lo + 1));
}

typedef struct qt_piece {
  uint32_t s, e;
} qt_piece;

#define QT_MAX_PIECES 512u
#define QT_MAX_PIECE 900u
#define QT_DATAGRAM_BUDGET 1350u

typedef struct qt_state {
  const qt_options *o;
  const uint8_t *hs;
  qt_flight *f;
  uint64_t rng;
  uint64_t pn;
  uint8_t frames[QT_MAX_DATAGRAM];
  size_t fn;
  unsigned nframes, npk;
  uint8_t dg[QT_MAX_DATAGRAM];
  size_t dn;
  const uint8_t *dcid, *key_dcid;
  size_t dcid_len, key_dcid_len;
} qt_state;

static size_t qt_overhead(const qt_state *st) {
  return 1 + 4 + 1 + st->dcid_len + 1 + sizeof qt_scid + 1 + QT_LEN_FIELD + 2 +
         SNI_GCM_TAG_LEN;
}

static int qt_flush_packet(qt_state *st, int last_in_dg) {
  if (st->nframes == 0 && !last_in_dg) return 0;
  size_t oh = qt_overhead(st);
  if (last_in_dg) {
    size_t zrtt = st->o->zero_rtt ? 1 + 4 + 1 + st->dcid_len + 1 + 2 + 40 : 0;
    size_t total = st->dn + oh + st->fn + zrtt;
    if (total < QT_MIN_DATAGRAM &&
        qt_padding(st->frames, &st->fn, sizeof st->frames, QT_MIN_DATAGRAM - total))
      return -1;
  }
  qt_initial pk = {st->o->version, st->dcid, st->dcid_len, st->key_dcid, st->key_dcid_len,
                   qt_scid, sizeof qt_scid, NULL, 0, st->pn++, 2, 0};
  size_t n = qt_protect(&pk, st->frames, st->fn, st->dg + st->dn, sizeof st->dg - st->dn);
  if (n == 0) return -1;
  st->dn += n;
  st->fn = 0;
  st->nframes = 0;
  st->npk++;
  return 0;
}

static int qt_flush_datagram(qt_state *st) {
  if (st->nframes == 0 && st->npk == 0) return 0;
  if (qt_flush_packet(st, 1)) return -1;
  if (st->o->zero_rtt) {
    size_t n = qt_other_long(st->o->version, 1, st->dcid, st->dcid_len, 40, st->dg + st->dn,
                             sizeof st->dg - st->dn);
    if (n == 0) return -1;
    st->dn += n;
  }
  if (st->f->n >= QT_MAX_DATAGRAMS) return -1;
  memcpy(st->f->d[st->f->n], st->dg, st->dn);
  st->f->len[st->f->n++] = st->dn;
  st->dn = 0;
  st->npk = 0;
  return 0;
}

static int qt_add_piece(qt_state *st, qt_piece p) {
  size_t frame = 1 + 8 + 8 + (p.e - p.s);
  size_t room = QT_DATAGRAM_BUDGET - 3 * qt_overhead(st);
  if (st->nframes >= st->o->max_per_pkt || st->dn + st->fn + frame > room) {
    int dg_full = st->npk + 1 >= st->o->pkts_per_dg || st->dn + st->fn + frame > room;
    if (dg_full ? qt_flush_datagram(st) : qt_flush_packet(st, 0)) return -1;
  }
  if (st->o->ping_padding && qt_range(&st->rng, 0, 2) == 0) {
    if (qt_ping(st->frames, &st->fn, sizeof st->frames) ||
        qt_padding(st->frames, &st->fn, sizeof st->frames, qt_range(&st->rng, 0, 7)))
      return -1;
  }
  if (st->o->ack && st->pn > 0 && st->nframes == 0 &&
      qt_ack(st->frames, &st->fn, sizeof st->frames, 1, 1))
    return -1;
  if (qt_crypto(st->frames, &st->fn, sizeof st->frames, p.s, st->hs + p.s, p.e - p.s))
    return -1;
  st->nframes++;
  return 0;
}

/* Cuts [0, n) into pieces, then orders (and duplicates) them. */
static size_t qt_cut(qt_state *st, size_t n, qt_piece *pc) {
  size_t want = st->o->pieces ? st->o->pieces : 1, np = 0, at = 0;
  while (at < n && np < QT_MAX_PIECES / 2) {
    size_t left = n - at, share = left / (want > np ? want - np : 1);
    size_t len = share ? qt_range(&st->rng, share / 2 + 1, share + share / 2) : left;
    if (len > left || np + 1 == want) len = left;
    if (len > QT_MAX_PIECE) len = QT_MAX_PIECE;
    pc[np].s = (uint32_t)at;
    pc[np++].e = (uint32_t)(at + len);
    at += len;
  }
  size_t base = np;
  if (st->o->overlap)
    for (size_t i = 0; i < base && np < QT_MAX_PIECES; i++)
      if (qt_range(&st->rng, 0, 3) == 0) {
        qt_piece d = pc[i];
        d.s = d.s > 5 ? d.s - 5 : 0;
        d.e = d.e + 5 > n ? (uint32_t)n : d.e + 5;
        if (d.e - d.s > QT_MAX_PIECE) d.e = d.s + QT_MAX_PIECE;
        pc[np++] = d;
      }
  if (st->o->shuffle)
    for (size_t i = np; i > 1; i--) {
      size_t j = qt_range(&st->rng, 0, i - 1);
      qt_piece t = pc[i - 1];
      pc[i - 1] = pc[j];
      pc[j] = t;
    }
  return np;
}

/* Drops datagrams after the one that completes the stream. */
static void qt_trim(qt_state *st, const qt_piece *pc, size_t np, const size_t *piece_dg,
                    size_t n) {
  static uint8_t have[1u << 16];
  memset(have, 0, n);
  size_t left = n;
  for (size_t i = 0; i < np; i++) {
    for (uint32_t b = pc[i].s; b < pc[i].e; b++)
      if (!have[b]) {
        have[b] = 1;
        left--;
      }
    if (left == 0) {
      st->f->n = piece_dg[i] + 1;
      return;
    }
  }
}

int qt_packetize(const uint8_t *hs, size_t n, const qt_options *o, qt_flight *f) {
  static qt_state st;
  static qt_piece pc[QT_MAX_PIECES];
  static size_t piece_dg[QT_MAX_PIECES];
  if (n == 0 || n >= (1u << 16)) return -1;
  memset(&st, 0, sizeof st);
  st.o = o;
  st.hs = hs;
  st.f = f;
  st.rng = o->seed * 2654435761u + 1u;
  f->n = 0;
  st.dcid = st.key_dcid = qt_dcid_a;
  st.dcid_len = st.key_dcid_len = sizeof qt_dcid_a;
  size_t np = qt_cut(&st, n, pc);
  size_t first = np;
  if (o->retry) {
    /* Keys A carry about half of the pieces, then the client starts over
     * with everything under the Retry's DCID. */
    first = np / 2;
    for (size_t i = 0; i < first; i++)
      if (qt_add_piece(&st, pc[i])) return -1;
    if (qt_flush_datagram(&st)) return -1;
    st.dcid = st.key_dcid = qt_dcid_retry;
    st.dcid_len = st.key_dcid_len = sizeof qt_dcid_retry;
    for (size_t i = 0; i < first; i++) piece_dg[i] = 0;
    size_t total = first + np > QT_MAX_PIECES ? QT_MAX_PIECES : first + np;
    memmove(pc + first, pc, (total - first) * sizeof *pc);
    for (size_t i = first; i < total; i++) {
      if (qt_add_piece(&st, pc[i])) return -1;
      piece_dg[i] = f->n;
    }
    if (qt_flush_datagram(&st)) return -1;
    qt_trim(&st, pc, total, piece_dg, n);
    return 0;
  }
  for (size_t i = 0; i < np; i++) {
    size_t before = f->n;
    if (qt_add_piece(&st, pc[i])) return -1;
    if (o->dcid_change && before == 0 && f->n == 1) {
      /* The server answered: later packets carry its DCID, keys stay. */
      st.dcid = qt_dcid_b;
      st.dcid_len = sizeof qt_dcid_b;
    }
    piece_dg[i] = f->n;
  }
  if (qt_flush_datagram(&st)) return -1;
  qt_trim(&st, pc, np, piece_dg, n);
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t qt_unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (const char *p = hex; *p; p++) {
    if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') continue;
    int v = hexval(*p);
    if (v < 0) return SIZE_MAX;
    if (hi < 0) {
      hi = v;
      continue;
    }
    if (n >= cap) return SIZE_MAX;
    out[n++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  return hi >= 0 ? SIZE_MAX : n;
}
