/*
 * Prints the client Initial datagrams of one synthetic QUIC connection,
 * one hex line per datagram in sending order, for the proxy's QUIC tests
 * (tests/proxy/quic.py sends them over UDP itself, so it controls source
 * addresses, order and timing).
 *
 *   sniroute-test-quic-flight NAME ALPN[,ALPN...] SEED [--hello]
 *
 * --hello prints the bare ClientHello handshake message instead (one hex
 * line), for a fingerprint reference that does not decrypt QUIC
 * (tests/ja4_ref.py --hex ... --quic).
 *
 * The ClientHello carries NAME as its SNI (none when NAME is "-") and the
 * ALPN list; it is cut into several CRYPTO frames in random order, one
 * frame per packet and one packet per datagram, so the proxy has to hold
 * and reassemble several datagrams before it can route.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser_util.h"
#include "quic_util.h"

#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_QUIC_TRANSPORT_PARAMS 0x0039
#define TLS13 0x0304
#define MAX_ALPN 8
#define PIECES 4

static void build_hello(buf *hs, const char *name, char *alpn) {
  buf ext = {0};
  if (strcmp(name, "-") != 0) ext_sni(&ext, name);
  const char *names[MAX_ALPN];
  size_t n = 0;
  for (char *save = NULL, *t = strtok_r(alpn, ",", &save); t && n < MAX_ALPN;
       t = strtok_r(NULL, ",", &save))
    names[n++] = t;
  if (n) ext_alpn(&ext, names, n);
  const uint16_t v13 = TLS13;
  ext_u16list(&ext, EXT_SUPPORTED_VERSIONS, 1, &v13, 1);
  /* initial_max_data (id 4) = 1 MiB as a 4-byte varint: any value will do,
   * the proxy never reads it. */
  static const uint8_t tp[] = {0x04, 0x04, 0x80, 0x10, 0x00, 0x00};
  ext_raw(&ext, EXT_QUIC_TRANSPORT_PARAMS, tp, sizeof tp);
  hello_spec s = {.exts = &ext, .random_fill = 0x5a};
  build_handshake(hs, &s);
  b_free(&ext);
}

int main(int argc, char **argv) {
  if (argc != 4 && (argc != 5 || strcmp(argv[4], "--hello") != 0)) {
    fprintf(stderr, "usage: %s NAME ALPN[,ALPN...] SEED [--hello]\n",
            argv[0]);
    return 2;
  }
  buf hs = {0};
  build_hello(&hs, argv[1], argv[2]);
  if (argc == 5) {
    for (size_t k = 0; k < hs.n; k++) printf("%02x", hs.p[k]);
    putchar('\n');
    b_free(&hs);
    return 0;
  }
  static qt_flight f;
  qt_options o = {.version = 1,
                  .pieces = PIECES,
                  .max_per_pkt = 1,
                  .pkts_per_dg = 1,
                  .shuffle = 1,
                  .ping_padding = 1,
                  .seed = strtoull(argv[3], NULL, 10)};
  if (qt_packetize(hs.p, hs.n, &o, &f) != 0) {
    fprintf(stderr, "packetizer failed\n");
    return 1;
  }
  for (size_t i = 0; i < f.n; i++) {
    for (size_t k = 0; k < f.len[i]; k++) printf("%02x", f.d[i][k]);
    putchar('\n');
  }
  b_free(&hs);
  return 0;
}
