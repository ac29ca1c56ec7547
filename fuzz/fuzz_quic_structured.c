/*
 * Structure-aware QUIC fuzzer: the input chooses frames (CRYPTO pieces of
 * a real ClientHello at any offsets, PADDING, PING, ACK, CONNECTION_CLOSE,
 * corrupted CRYPTO data, forbidden frame types), packets (original keys,
 * a server-chosen DCID under the original keys, Retry keys, junk keys,
 * reserved bits) and datagrams (coalesced Initials, 0-RTT, trailing
 * zeros); the harness protects them with the library's crypto through the
 * test packetizer, so the bytes authenticate and coverage reaches the
 * frame parser and the reassembly.  Checked: without a faulty choice the
 * only results are EAGAIN, completion or E2BIG (too many pieces), and a
 * completed hello equals the TCP parse of the same bytes; errors stick.
 *
 * Input: a stream of choices; past its end every choice is 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic_rfc.h"
#include "quic_util.h"
#include "sniroute.h"
#include "fuzz_util.h"

static uint8_t hello[256];
static size_t hello_len;
static sni_hello expected;

static void setup(void) {
  uint8_t frame[300];
  size_t n = 0;
  int hi = -1;
  for (const char *p = QUIC_RFC_CRYPTO_FRAME; *p; p++) {
    int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
    if (v < 0) continue;
    if (hi < 0) hi = v;
    else {
      frame[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  hello_len = n - 4;
  memcpy(hello, frame + 4, hello_len);
  uint8_t rec[300];
  rec[0] = 0x16, rec[1] = 3, rec[2] = 1, rec[3] = 0, rec[4] = (uint8_t)hello_len;
  memcpy(rec + 5, hello, hello_len);
  CHECK(sni_parse(&expected, rec, hello_len + 5) == (int)hello_len + 5);
  expected.records = 0;
  expected.record_version = 0;
  memset(expected.record_versions, 0, sizeof expected.record_versions);
  memset(expected.record_lengths, 0, sizeof expected.record_lengths);
  expected.n_record_list = 0;
  expected.quic = 1;
}

static void frame1(src *s, uint8_t *f, size_t *n, size_t cap, int *bad);

/* Appends one frame chosen by s; sets *bad for a faulty one.  A frame that
 * does not fit is dropped whole (the writers may stop half way). */
static void frame(src *s, uint8_t *f, size_t *n, size_t cap, int *bad) {
  size_t before = *n;
  int was_bad = *bad;
  frame1(s, f, n, cap, bad);
  if (*n > cap) {
    *n = before;
    *bad = was_bad;
  }
}

static void frame1(src *s, uint8_t *f, size_t *n, size_t cap, int *bad) {
  unsigned kind = u8(s) % 10;
  size_t off, len;
  switch (kind) {
  case 0:
    if (qt_padding(f, n, cap, u8(s) % 16)) *n = cap + 1;
    break;
  case 1:
    if (qt_ping(f, n, cap)) *n = cap + 1;
    break;
  case 2: {
    unsigned largest = u8(s);
    if (qt_ack(f, n, cap, largest, largest ? u8(s) % largest : 0)) *n = cap + 1;
    break;
  }
  case 7: /* corrupted CRYPTO data */
    off = u16(s) % hello_len;
    len = 1 + u8(s) % (hello_len - off);
    if (qt_crypto(f, n, cap, off, hello + off, len) == 0) {
      f[*n - len + u8(s) % len] ^= (uint8_t)(1 + u8(s) % 255);
      *bad = 1;
    } else {
      *n = cap + 1;
    }
    break;
  case 8: /* a frame byte of the fuzzer's choice, then some bytes */
    if (*n + 4 <= cap) {
      f[(*n)++] = (uint8_t)u8(s);
      for (int i = 0; i < 3; i++) f[(*n)++] = (uint8_t)u8(s);
      *bad = 1;
    }
    break;
  case 9:
    if (u8(s) & 1) {
      if (*n + 4 <= cap) {
        uint8_t cc[4] = {0x1c, 0x01, 0x06, 0x00};
        memcpy(f + *n, cc, 4);
        *n += 4;
        *bad = 1;
      }
      break;
    }
    /* fall through */
  default: /* a CRYPTO piece of the real hello */
    off = u16(s) % hello_len;
    len = u8(s) % (hello_len - off + 1);
    if (qt_crypto(f, n, cap, off, hello + off, len)) *n = cap + 1;
    break;
  }
}

static uint8_t dg[QT_MAX_DATAGRAM + 64];
static uint8_t space[2048 + 256 * 32];
static const uint8_t junk_dcid[9] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

/* Builds one datagram; returns its length. */
static size_t datagram(src *s, uint64_t *pn, int *bad) {
  size_t dn = 0;
  unsigned pkts = 1 + u8(s) % 3;
  for (unsigned p = 0; p < pkts; p++) {
    uint8_t f[QT_MAX_DATAGRAM];
    size_t fn = 0, cap = (QT_MAX_DATAGRAM - 100) / pkts;
    unsigned frames = 1 + u8(s) % 12;
    for (unsigned i = 0; i < frames; i++) frame(s, f, &fn, cap, bad);
    unsigned keys = u8(s);
    qt_initial pk = {u8(s) & 0x80 ? SNI_QUIC_VERSION_2 : SNI_QUIC_VERSION_1,
                     qt_dcid_a, sizeof qt_dcid_a, qt_dcid_a, sizeof qt_dcid_a,
                     qt_scid, sizeof qt_scid, NULL, 0, (*pn)++, 1 + u8(s) % 4, 0};
    if (pk.version == SNI_QUIC_VERSION_2) *bad = 1; /* a version switch */
    switch (keys % 5) {
    case 1: pk.dcid = qt_dcid_b, pk.dcid_len = sizeof qt_dcid_b; break;
    case 2:
      pk.dcid = pk.key_dcid = qt_dcid_retry;
      pk.dcid_len = pk.key_dcid_len = sizeof qt_dcid_retry;
      break;
    case 3: pk.key_dcid = junk_dcid, pk.key_dcid_len = sizeof junk_dcid; break;
    default: break;
    }
    if ((keys & 0xf0) == 0xf0) {
      pk.reserved_bits = 0x04;
      *bad = 1;
    }
    if (p + 1 == pkts && dn + fn + 60 < 1200) qt_padding(f, &fn, sizeof f, 1200 - dn - fn - 60);
    dn += qt_protect(&pk, f, fn, dg + dn, sizeof dg - dn);
  }
  if (u8(s) & 1) dn += qt_other_long(SNI_QUIC_VERSION_1, 1, qt_dcid_a, 8, 30, dg + dn,
                                     sizeof dg - dn);
  if (u8(s) & 1 && dn < sizeof dg - 40) {
    memset(dg + dn, 0, 40);
    dn += 40;
  }
  return dn;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!hello_len) setup();
  src s = {data, size, 0};
  size_t cap = 2048u + 256u * (u8(&s) % 32);
  sni_quic q;
  sni_hello h;
  CHECK(sni_quic_init(&q, &h, space, cap, NULL) == 0);
  unsigned n = 1 + u8(&s) % 8;
  uint64_t pn = u8(&s);
  int bad = 0, err = 0, done = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t len = datagram(&s, &pn, &bad);
    uint8_t *d = malloc(len ? len : 1);
    CHECK(d != NULL);
    memcpy(d, dg, len);
    int rc = sni_quic_feed(&q, d, len);
    free(d);
    if (err) {
      CHECK(rc == err);
    } else if (done) {
      CHECK(rc == 0);
    } else if (rc > 0) {
      done = 1;
      if (!bad) {
        expected.wire_len = (uint32_t)rc;
        CHECK(memcmp(&h, &expected, sizeof h) == 0);
      }
    } else if (rc != SNI_EAGAIN) {
      CHECK(bad || rc == SNI_E2BIG);
      err = rc;
    }
  }
  return 0;
}
