/*
 * The ClientHello parser's public face and its record layer.
 *
 * Two layers.  The record layer (here) strips TLS record headers and hands
 * each run of handshake bytes to the handshake layer, lib/hs_engine.c,
 * which walks the schema of lib/hs_schema.c.  sni_parser_init_handshake()
 * skips the record layer: QUIC hands over CRYPTO stream bytes, which are
 * the bare handshake message.  There is one parser for every input shape:
 * a whole hello in one buffer and a hello trickling in byte by byte go
 * through the same code, so their results are identical by construction.
 *
 * No allocation, no system call, no global state.
 */
#include "sniroute.h"
#include "hs_int.h"

#include <string.h>

/* A caller's parser is plain memory: one that sni_parser_init() never saw
 * holds stack garbage (or zeros), and its `err` would be returned as if it
 * were a code.  A marker set by init and checked on entry turns that into
 * SNI_EINVAL for one compare.  Not a repeated byte, so no memset pattern
 * forges it. */
#define SNI_PARSER_MAGIC 0x534e4932u /* "SNI2" */

_Static_assert(sizeof(sni_parser_impl) <= sizeof(sni_parser),
               "sni_parser too small for the parser state");
_Static_assert(_Alignof(sni_parser_impl) <= _Alignof(sni_parser),
               "sni_parser under-aligned");
_Static_assert(sizeof(sni_hello) + sizeof(sni_parser) <= 2048,
               "sni_hello + sni_parser must stay within 2 KiB");

#define MAX_RECORD SNI_TLS_MAX_RECORD
#define rd16 sni_rd16
typedef sni_parser_impl parser_impl;

int sni_is_grease(uint16_t v) { return sni_grease16(v); }

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

/* ---- the record layer --------------------------------------------------- */

/* Every wire byte so far is a record header byte or a handshake byte. */
static uint32_t wire_bytes(const parser_impl *p) {
  if (p->rstate == SNI_R_HANDSHAKE) return p->pos;
  return p->pos + SNI_TLS_RECORD_HDR * p->out->records + p->hdr_n;
}

static int complete(parser_impl *p, int used) {
  sni_hs_finish(p);
  p->out->wire_len = wire_bytes(p);
  p->rstate = SNI_R_DONE;
  return used;
}

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
  if (p->ends[0] && (uint64_t)p->pos + len > p->ends[0]) return SNI_EPROTO;
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
    if (l->flags & ~(uint32_t)SNI_PARSE_ROUTING_ONLY) return SNI_EINVAL;
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
  /* With a constant size GCC inlines this as `rep stos`, several times
   * slower here than libc's vector memset; the volatile pointer keeps the
   * call out of line. */
  zero_fn(out, 0, sizeof *out);
  p->out = out;
  p->max_hello = mh;
  p->max_records = mr;
  p->routing = limits && (limits->flags & SNI_PARSE_ROUTING_ONLY);
  p->ip = 0; /* SS_MESSAGE */
  p->magic = SNI_PARSER_MAGIC;
  return 0;
}

int sni_parser_init_handshake(sni_parser *sp, sni_hello *out,
                              const sni_limits *limits) {
  int rc = sni_parser_init(sp, out, limits);
  if (rc == 0) ((parser_impl *)(void *)sp)->rstate = SNI_R_HANDSHAKE;
  return rc;
}

/* Runs handshake bytes through the engine; >= 0 once the hello is
 * complete (how many of the n bytes it used), SNI_EAGAIN, or an error. */
static int hs_feed(parser_impl *p, const uint8_t *c, size_t n) {
  uint32_t before = p->pos;
  int rc = sni_hs_consume(p, c, n);
  if (rc) return rc;
  if (p->ip == SNI_HS_DONE) return (int)(p->pos - before);
  return SNI_EAGAIN;
}

/* Handshake-layer input.  The 4-byte header goes in on its own and, once
 * the message length is known, no byte past the message is handed over:
 * that is the bound the record layer enforces in record mode (the header
 * rule sees rec_left == 0 and no bytes beyond the header). */
static int feed_handshake(parser_impl *p, const uint8_t *chunk, size_t len) {
  const uint8_t *c = chunk, *e = chunk + len;
  while (c < e) {
    uint32_t want = p->ends[0] ? p->ends[0] - p->pos : SNI_HS_HDR - p->pos;
    uint32_t k = (size_t)(e - c) < want ? (uint32_t)(e - c) : want;
    int rc = hs_feed(p, c, k);
    c += k;
    if (rc >= 0) return complete(p, (int)(c - chunk));
    if (rc != SNI_EAGAIN) {
      p->err = (int8_t)rc;
      return rc;
    }
  }
  return SNI_EAGAIN;
}

/* Takes record header bytes; 0 to go on (check hdr_n), or an error. */
static int record_bytes(parser_impl *p, const uint8_t **cp, const uint8_t *e) {
  uint32_t want = SNI_TLS_RECORD_HDR - p->hdr_n;
  uint32_t k = (size_t)(e - *cp) < want ? (uint32_t)(e - *cp) : want;
  memcpy(p->hdr + p->hdr_n, *cp, k);
  p->hdr_n = (uint8_t)(p->hdr_n + k);
  *cp += k;
  /* Decided byte by byte: ENOTTLS and ESSLV2 on the first record as early
   * as the bytes allow, and a record of another type inside the hello at
   * its first byte. */
  if (p->out->records == 0) return first_bytes_check(p->hdr, p->hdr_n);
  if (p->hdr[0] != 0x16 || (p->hdr_n >= 2 && p->hdr[1] != 3)) return SNI_EPROTO;
  return 0;
}

static int feed_records(parser_impl *p, const uint8_t *chunk, size_t len) {
  const uint8_t *c = chunk, *e = c + len;
  int rc = 0;
  while (c < e) {
    if (p->rec_left == 0) {
      rc = record_bytes(p, &c, e);
      if (rc) break;
      if (p->hdr_n < SNI_TLS_RECORD_HDR) return SNI_EAGAIN;
      rc = record_header(p);
      p->hdr_n = 0;
      if (rc) break;
      continue;
    }
    size_t avail = (size_t)(e - c);
    uint32_t k = avail < p->rec_left ? (uint32_t)avail : p->rec_left;
    p->rec_left -= k; /* before the engine: the header rule reads it */
    rc = hs_feed(p, c, k);
    c += k;
    if (rc >= 0) return complete(p, (int)(c - chunk));
    if (rc != SNI_EAGAIN) break;
    rc = 0;
  }
  if (rc == 0) return SNI_EAGAIN;
  p->err = (int8_t)rc;
  return rc;
}

int sni_parser_feed(sni_parser *sp, const void *chunk, size_t len) {
  if (!sp || (!chunk && len)) return SNI_EINVAL;
  parser_impl *p = (parser_impl *)(void *)sp;
  if (p->magic != SNI_PARSER_MAGIC) return SNI_EINVAL;
  if (p->err) return p->err;
  if (p->rstate == SNI_R_DONE) return 0;
  if (len == 0) return SNI_EAGAIN; /* NULL + 0 below would be UB */
  if (p->rstate == SNI_R_HANDSHAKE) return feed_handshake(p, chunk, len);
  return feed_records(p, chunk, len);
}

size_t sni_parser_need(const sni_parser *sp) {
  if (!sp) return 0;
  const parser_impl *p = (const parser_impl *)(const void *)sp;
  if (p->magic != SNI_PARSER_MAGIC || p->err || p->rstate == SNI_R_DONE)
    return 0;
  /* Bytes of the message still to come: exact once its header is read,
   * else the rest of the header plus the smallest possible body. */
  size_t hs_rem = p->ends[0] ? (size_t)(p->ends[0] - p->pos)
                             : (size_t)(SNI_HS_HDR - p->pos) + SNI_HS_MIN_BODY;
  if (p->rstate == SNI_R_HANDSHAKE) return hs_rem;
  if (p->rec_left == 0) return (size_t)(SNI_TLS_RECORD_HDR - p->hdr_n) + hs_rem;
  /* Every byte of the current record belongs to the hello. */
  if (hs_rem <= p->rec_left) return p->rec_left;
  return hs_rem + SNI_TLS_RECORD_HDR;
}

int sni_parser_status(const sni_parser *sp) {
  if (!sp) return SNI_EINVAL;
  const parser_impl *p = (const parser_impl *)(const void *)sp;
  if (p->magic != SNI_PARSER_MAGIC) return SNI_EINVAL;
  if (p->err) return p->err;
  if (p->rstate == SNI_R_DONE) return (int)p->out->wire_len;
  return SNI_EAGAIN;
}

int sni_parse_ex(sni_hello *out, const void *buf, size_t len,
                 const sni_limits *limits) {
  if (!out || (!buf && len)) return SNI_EINVAL;
  sni_parser p;
  int rc = sni_parser_init(&p, out, limits);
  if (rc) return rc;
  return sni_parser_feed(&p, buf, len);
}

int sni_parse(sni_hello *out, const void *buf, size_t len) {
  return sni_parse_ex(out, buf, len, NULL);
}
