/*
 * A test-only QUIC client packetizer built on the library's own crypto
 * (lib/crypto.h): it protects client Initial packets exactly as RFC 9001
 * says, so the reader can be fed any framing a client might choose.
 * Shared by the QUIC tests, the structured fuzzer and the benchmark.
 */
#ifndef SNI_TEST_QUIC_UTIL_H
#define SNI_TEST_QUIC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define QT_MAX_DATAGRAM 1500u
#define QT_MAX_DATAGRAMS 96u

/* One protected client Initial: header fields and the plaintext frames. */
typedef struct qt_initial {
  uint32_t version;
  const uint8_t *dcid;   /* in the packet */
  size_t dcid_len;
  const uint8_t *key_dcid; /* keys derive from this one (the original) */
  size_t key_dcid_len;
  const uint8_t *scid;
  size_t scid_len;
  const uint8_t *token;
  size_t token_len;
  uint64_t pn;
  unsigned pn_len;       /* 1..4 */
  uint8_t reserved_bits; /* normally 0; set to test the check */
} qt_initial;

/* Hex as the RFCs print it (whitespace anywhere, lowercase or uppercase)
 * into out (cap bytes); the byte count, or SIZE_MAX for any other
 * character, an odd number of digits or more than cap bytes. */
size_t qt_unhex(const char *hex, uint8_t *out, size_t cap);

/* Appends the protected packet carrying payload (frames, already built) to
 * out (cap bytes); returns its length, or 0 if it does not fit.  The
 * payload is padded with PADDING so the header-protection sample fits. */
size_t qt_protect(const qt_initial *pk, const uint8_t *payload, size_t plen, uint8_t *out,
                  size_t cap);

/* Frame writers: append to f (at *n, cap bytes); return 0, or -1 when full. */
int qt_varint(uint8_t *f, size_t *n, size_t cap, uint64_t v);
int qt_crypto(uint8_t *f, size_t *n, size_t cap, uint64_t off, const uint8_t *data,
              size_t len);
int qt_ping(uint8_t *f, size_t *n, size_t cap);
int qt_padding(uint8_t *f, size_t *n, size_t cap, size_t count);
/* ACK of packets [largest - first, largest] (server Initials). */
int qt_ack(uint8_t *f, size_t *n, size_t cap, uint64_t largest, uint64_t first);

/* A 0-RTT or Handshake long-header packet with len random-ish bytes (not
 * decryptable: the reader must skip it by its Length field). */
size_t qt_other_long(uint32_t version, int type_v1, const uint8_t *dcid, size_t dcid_len,
                     size_t len, uint8_t *out, size_t cap);

/* A whole connection's client datagrams. */
typedef struct qt_flight {
  uint8_t d[QT_MAX_DATAGRAMS][QT_MAX_DATAGRAM];
  size_t len[QT_MAX_DATAGRAMS];
  size_t n;
} qt_flight;

typedef struct qt_options {
  uint32_t version;
  unsigned pieces;       /* CRYPTO frames the hello is cut into (>= 1) */
  unsigned max_per_pkt;  /* frames per packet at most */
  unsigned pkts_per_dg;  /* Initial packets per datagram at most (1..3) */
  int shuffle;           /* pieces in random order */
  int ping_padding;      /* PING and small PADDING runs between frames */
  int overlap;           /* some pieces resent, extended over neighbours */
  int zero_rtt;          /* a 0-RTT packet coalesced after the Initials */
  int dcid_change;       /* datagrams after the first use a new DCID */
  int retry;             /* first datagram under keys A, rest re-sent under
                            keys of a new DCID B (Retry) */
  int ack;               /* an ACK frame in later packets */
  uint64_t seed;
} qt_options;

/* Packetizes the handshake message hs[0..n) into f.  Every datagram is
 * padded to at least 1200 bytes.  The last datagram is the one that
 * completes the hello: no prefix of the sequence holds all of it.  Returns
 * 0, or -1 if it does not fit in QT_MAX_DATAGRAMS. */
int qt_packetize(const uint8_t *hs, size_t n, const qt_options *o, qt_flight *f);

/* The DCIDs qt_packetize uses (original, server-chosen, Retry). */
extern const uint8_t qt_dcid_a[8], qt_dcid_b[20], qt_dcid_retry[12], qt_scid[5];

#endif
