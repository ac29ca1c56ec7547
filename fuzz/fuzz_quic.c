/*
 * Raw datagrams into the QUIC Initial reader.  Input: byte 0 picks the
 * reassembly space (2048 + 256 * (b & 31) bytes), then datagrams as a
 * 2-byte big-endian length and that many bytes (the last one takes what
 * is left).  Each datagram goes into an exact-size copy, so ASan sees any
 * overread.  Checked: results are EAGAIN, a completion (> 0, then 0), or
 * a sticky error repeated on every later call; the counters add up.
 */
#include "sniroute.h"
#include "fuzz_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t space[2048 + 256 * 32];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t cap = 2048u + 256u * (data[0] & 31u);
  sni_quic q;
  sni_hello h;
  CHECK(sni_quic_init(&q, &h, space, cap, NULL) == 0);
  size_t off = 1;
  int done = 0, err = 0;
  unsigned fed = 0;
  while (off < size) {
    size_t len = size - off;
    if (len >= 2) {
      size_t want = (size_t)data[off] << 8 | data[off + 1];
      off += 2;
      len = want < size - off ? want : size - off;
    } else {
      off += len;
      len = 0;
    }
    uint8_t *d = malloc(len ? len : 1);
    CHECK(d != NULL);
    memcpy(d, data + off, len);
    int rc = sni_quic_feed(&q, d, len);
    free(d);
    off += len;
    if (err) {
      CHECK(rc == err);
      continue;
    }
    if (done) {
      CHECK(rc == 0);
      continue;
    }
    fed++;
    if (rc > 0) {
      done = 1;
      CHECK(h.quic == 1 && h.records == 0 && h.wire_len == (uint32_t)rc);
      CHECK(sni_quic_status(&q) == rc);
    } else if (rc != SNI_EAGAIN) {
      CHECK(rc == SNI_EPROTO || rc == SNI_E2BIG || rc == SNI_ENOSPC || rc == SNI_EOF);
      err = rc;
    }
  }
  sni_quic_info in;
  CHECK(sni_quic_get_info(&q, &in) == 0);
  CHECK(in.datagrams == fed);
  CHECK(in.datagrams_used + in.datagrams_ignored == in.datagrams);
  return 0;
}
