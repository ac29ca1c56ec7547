/* The QUIC Initial reader (sni_quic_*): RFC 9001/9369 packets, our own
 * Chromium capture against its truth.json in every datagram order, every
 * TCP corpus hello re-sent through a packetizer (random CRYPTO splits,
 * order, PING/PADDING, coalesced 0-RTT, DCID change, Retry, duplicates),
 * every strict prefix of a datagram sequence, junk and bit flips never
 * being sticky, and the protocol errors that are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "parser_util.h"
#include "quic_rfc.h"
#include "quic_util.h"
#include "sniroute.h"

static uint8_t qbuf[SNI_QUIC_DEFAULT_BUF];

/* The parse of the same handshake message framed as one TLS record, with
 * the framing fields set as a QUIC read reports them: what sni_quic must
 * produce byte for byte. */
static void expected_hello(const uint8_t *hs, size_t n, uint32_t wire, sni_hello *exp) {
  buf w = {0};
  frame_records(&w, hs, n, 16384);
  int rc = sni_parse(exp, w.p, w.n);
  assert_true(rc > 0);
  b_free(&w);
  exp->records = 0;
  exp->record_version = 0;
  memset(exp->record_versions, 0, sizeof exp->record_versions);
  memset(exp->record_lengths, 0, sizeof exp->record_lengths);
  exp->n_record_list = 0;
  exp->truncated &= (uint16_t)~SNI_TRUNC_RECORDS;
  exp->quic = 1;
  exp->wire_len = wire;
}

/* Feeds datagrams in the order given; returns the first non-EAGAIN result
 * and its index in *at (n if none). */
static int feed_all(sni_quic *q, sni_hello *h, const uint8_t *const *d, const size_t *len,
                    size_t n, size_t *at) {
  assert_int_equal(sni_quic_init(q, h, qbuf, sizeof qbuf, NULL), 0);
  for (size_t i = 0; i < n; i++) {
    uint8_t *copy = dup_exact(d[i], len[i]); /* ASan sees any overread */
    int rc = sni_quic_feed(q, copy, len[i]);
    free(copy);
    if (rc != SNI_EAGAIN) {
      *at = i;
      return rc;
    }
  }
  *at = n;
  return SNI_EAGAIN;
}

/* ---- RFC vectors --------------------------------------------------------- */

static void test_rfc_vectors(void **state) {
  (void)state;
  static const struct {
    const char *pkt;
    uint32_t version;
  } v[] = {{quic_rfc9001_client_initial, SNI_QUIC_VERSION_1},
           {quic_rfc9369_client_initial, SNI_QUIC_VERSION_2}};
  uint8_t frame[512], pkt[1300];
  size_t fl = qt_unhex(QUIC_RFC_CRYPTO_FRAME, frame, sizeof frame);
  assert_int_equal(fl, 245);
  for (size_t i = 0; i < 2; i++) {
    size_t n = qt_unhex(v[i].pkt, pkt, sizeof pkt);
    assert_int_equal(n, 1200);
    sni_quic q;
    sni_hello h, exp;
    const uint8_t *d = pkt;
    size_t at;
    assert_int_equal(feed_all(&q, &h, &d, &n, 1, &at), 1200);
    expected_hello(frame + 4, fl - 4, 1200, &exp);
    assert_memory_equal(&h, &exp, sizeof h);
    assert_string_equal(h.sni, "example.com");
    sni_quic_info in;
    assert_int_equal(sni_quic_get_info(&q, &in), 0);
    assert_int_equal(in.version, v[i].version);
    assert_int_equal(in.dcid_len, 8);
    assert_memory_equal(in.dcid, qt_dcid_a, 8);
    assert_int_equal(in.scid_len, 0);
    assert_int_equal(in.initial_packets, 1);
    assert_int_equal(in.crypto_frames, 1);
    assert_int_equal(sni_quic_status(&q), 1200);
    assert_int_equal(sni_quic_feed(&q, pkt, n), 0); /* already complete */
  }
}

/* ---- our own capture against truth.json ---------------------------------- */

static const json_value *jget(const json_value *o, const char *k) {
  const json_value *v = json_get(o, k);
  if (!v) fail_msg("truth.json lacks %s", k);
  return v;
}

static void cmp_list16(const json_value *t, const char *k, const uint16_t *v, unsigned n) {
  const json_value *a = jget(t, k);
  assert_int_equal(a->type, JSON_ARRAY);
  if (a->n != n) fail_msg("%s: %zu entries in truth, %u parsed", k, a->n, n);
  for (unsigned i = 0; i < n; i++)
    if (a->items[i].integer != v[i]) fail_msg("%s[%u] differs", k, i);
}

static void hexstr(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
  out[2 * n] = '\0';
}

static void compare_quic_truth(const json_value *t, const sni_hello *h, const sni_quic *q) {
  assert_string_equal(jget(t, "sni")->str, h->sni);
  assert_int_equal(jget(t, "sni_present")->boolean, h->sni_present);
  const json_value *alpn = jget(t, "alpn");
  assert_int_equal(alpn->n, h->n_alpn);
  for (unsigned i = 0; i < h->n_alpn; i++) {
    const uint8_t *nm;
    size_t len;
    assert_int_equal(sni_alpn_get(h, i, &nm, &len), 0);
    assert_int_equal(len, alpn->items[i].str_len);
    assert_memory_equal(nm, alpn->items[i].str, len);
  }
  assert_int_equal(jget(t, "legacy_version")->integer, h->legacy_version);
  assert_int_equal(jget(t, "record_version")->type, JSON_NULL);
  assert_int_equal(h->record_version, 0);
  cmp_list16(t, "supported_versions", h->versions, h->n_versions);
  cmp_list16(t, "cipher_suites", h->cipher_suites, h->n_ciphers);
  cmp_list16(t, "extensions", h->extensions, h->n_extensions);
  cmp_list16(t, "extension_lengths", h->extension_lengths, h->n_extensions);
  cmp_list16(t, "groups", h->groups, h->n_groups);
  cmp_list16(t, "key_share_groups", h->key_share_groups, h->n_key_shares);
  cmp_list16(t, "key_share_lengths", h->key_share_lengths, h->n_key_shares);
  cmp_list16(t, "signature_algorithms", h->sigalgs, h->n_sigalgs);
  cmp_list16(t, "signature_algorithms_cert", h->sigalgs_cert, h->n_sigalgs_cert);
  cmp_list16(t, "delegated_credentials_sig_algs", h->dc_sigalgs, h->n_dc_sigalgs);
  assert_int_equal(jget(t, "ec_point_formats")->n, h->n_point_formats);
  assert_int_equal(jget(t, "compression_methods")->n, h->n_compression);
  assert_int_equal(jget(t, "session_id_len")->integer, h->session_id_len);
  assert_int_equal(jget(t, "session_ticket")->boolean, h->session_ticket);
  assert_int_equal(jget(t, "psk")->boolean, h->psk);
  assert_int_equal(jget(t, "psk_identities")->integer, h->psk_identities);
  assert_int_equal(jget(t, "early_data")->boolean, h->early_data);
  assert_int_equal(jget(t, "ech")->boolean, h->ech);
  assert_int_equal(jget(t, "grease")->boolean, h->grease);
  assert_int_equal(jget(t, "hello_len")->integer, h->hello_len);
  assert_int_equal(jget(t, "wire_len")->integer, h->wire_len);
  assert_int_equal(jget(t, "records")->integer, h->records);
  assert_int_equal(jget(t, "record_lengths")->n, h->n_record_list);
  char hex[2 * 32 + 1];
  hexstr(h->random, 32, hex);
  assert_string_equal(jget(t, "random")->str, hex);
  sni_quic_info in;
  assert_int_equal(sni_quic_get_info(q, &in), 0);
  assert_int_equal(jget(t, "quic_version")->integer, in.version);
  hexstr(in.dcid, in.dcid_len, hex);
  assert_string_equal(jget(t, "quic_dcid")->str, hex);
  hexstr(in.scid, in.scid_len, hex);
  assert_string_equal(jget(t, "quic_scid")->str, hex);
  assert_int_equal(jget(t, "datagrams")->integer, in.datagrams_used);
  assert_int_equal(h->quic, 1);
}

static void test_own_capture_every_order(void **state) {
  (void)state;
  size_t tl, l0, l1;
  uint8_t *tj = corpus_file("063-chromium-quic", "truth.json", &tl);
  uint8_t *d0 = corpus_file("063-chromium-quic", "initial-0.bin", &l0);
  uint8_t *d1 = corpus_file("063-chromium-quic", "initial-1.bin", &l1);
  assert_non_null(tj);
  assert_non_null(d0);
  assert_non_null(d1);
  json_value t;
  char err[128];
  assert_int_equal(json_parse((const char *)tj, tl, &t, err, sizeof err), 0);
  assert_string_equal(jget(&t, "transport")->str, "quic");
  const uint8_t *orders[2][2] = {{d0, d1}, {d1, d0}};
  size_t lens[2][2] = {{l0, l1}, {l1, l0}};
  for (int o = 0; o < 2; o++) {
    sni_quic q;
    sni_hello h;
    size_t at;
    int rc = feed_all(&q, &h, orders[o], lens[o], 2, &at);
    assert_int_equal(at, 1); /* every strict prefix: SNI_EAGAIN */
    assert_int_equal(rc, (int)(l0 + l1));
    compare_quic_truth(&t, &h, &q);
    /* Routing sees it exactly as a TCP hello. */
    void *target = NULL;
    sni_router *r = NULL;
    assert_int_equal(sni_router_create(&r, NULL), 0);
    assert_int_equal(sni_router_add(r, "*.example.com", NULL, 0, (void *)"quic"), 0);
    assert_int_equal(sni_router_compile(r), 0);
    assert_true(sni_router_match_hello(r, &h, rc, &target) > 0);
    assert_string_equal((const char *)target, "quic");
    sni_router_free(r);
  }
  json_free(&t);
  free(tj);
  free(d0);
  free(d1);
}

/* ---- the packetizer over every corpus hello ------------------------------- */

static qt_flight flight;

static void check_flight(const uint8_t *hs, size_t n, const qt_options *o, const char *name) {
  if (qt_packetize(hs, n, o, &flight) != 0) fail_msg("%s: packetizer failed", name);
  const uint8_t *d[QT_MAX_DATAGRAMS];
  uint32_t wire = 0;
  for (size_t i = 0; i < flight.n; i++) {
    d[i] = flight.d[i];
    wire += (uint32_t)flight.len[i];
  }
  sni_quic q;
  sni_hello h, exp;
  size_t at;
  int rc = feed_all(&q, &h, d, flight.len, flight.n, &at);
  if (rc <= 0 || at + 1 != flight.n) {
    sni_quic_info in;
    sni_quic_get_info(&q, &in);
    fail_msg("%s seed %llu: rc %d at %zu of %zu (ignored %u, last %d)", name,
             (unsigned long long)o->seed, rc, at, flight.n, in.packets_ignored,
             in.last_ignored);
  }
  sni_quic_info in;
  sni_quic_get_info(&q, &in);
  /* Under a Retry the first datagram's bytes count too: it was used. */
  expected_hello(hs, n, wire, &exp);
  if (memcmp(&h, &exp, sizeof h) != 0) fail_msg("%s seed %llu: hello differs", name,
                                                (unsigned long long)o->seed);
  assert_int_equal(in.datagrams_used, flight.n);
  assert_int_equal(in.retry, o->retry ? 1 : 0);
}

static void test_packetizer_corpus(void **state) {
  (void)state;
  static const qt_options base[] = {
      /* version, pieces, per pkt, pkts/dg, shuffle, ping, overlap, 0rtt, dcid, retry, ack */
      {SNI_QUIC_VERSION_1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0},
      {SNI_QUIC_VERSION_1, 11, 11, 1, 1, 1, 0, 0, 0, 0, 0, 0},
      {SNI_QUIC_VERSION_2, 24, 4, 3, 1, 1, 1, 1, 0, 0, 1, 0},
      {SNI_QUIC_VERSION_1, 9, 5, 1, 1, 1, 0, 0, 1, 0, 1, 0},
      {SNI_QUIC_VERSION_1, 40, 3, 2, 1, 0, 1, 1, 1, 0, 0, 0},
      {SNI_QUIC_VERSION_1, 8, 3, 1, 1, 1, 0, 0, 0, 1, 0, 0},
      {SNI_QUIC_VERSION_2, 30, 2, 2, 0, 1, 1, 0, 0, 1, 1, 0},
  };
  assert_true(n_corpus >= MIN_CORPUS_CASES);
  static uint8_t hs[1u << 16];
  unsigned runs = 0;
  for (size_t c = 0; c < n_corpus; c++) {
    size_t n = deframe(corpus[c].wire, corpus[c].wire_len, hs, sizeof hs, NULL);
    if (n == 0 || n + 1600 > SNI_QUIC_DEFAULT_BUF) continue; /* SSLv2 etc. */
    for (size_t b = 0; b < sizeof base / sizeof *base; b++)
      for (uint64_t seed = 1; seed <= 6; seed++) {
        qt_options o = base[b];
        o.seed = seed * 1000u + c;
        check_flight(hs, n, &o, corpus[c].name);
        runs++;
      }
  }
  print_message("%u packetized connections\n", runs);
  assert_true(runs > 500);
}

/* Datagrams shuffled (no DCID change: any of them may come first). */
static void test_packetizer_datagram_orders(void **state) {
  (void)state;
  static uint8_t hs[1u << 16];
  const vec *v = NULL;
  for (size_t c = 0; c < n_corpus; c++)
    if (strstr(corpus[c].name, "chromium-tcp")) v = &corpus[c];
  assert_non_null(v);
  size_t n = deframe(v->wire, v->wire_len, hs, sizeof hs, NULL);
  assert_true(n > 1500);
  for (uint64_t seed = 1; seed <= 200; seed++) {
    qt_options o = {SNI_QUIC_VERSION_1, 12, 4, 1, 1, 1, 0, 1, 0, 0, 1, seed};
    assert_int_equal(qt_packetize(hs, n, &o, &flight), 0);
    size_t idx[QT_MAX_DATAGRAMS];
    for (size_t i = 0; i < flight.n; i++) idx[i] = i;
    uint64_t s = seed;
    for (size_t i = flight.n; i > 1; i--) {
      s = s * 6364136223846793005u + 1442695040888963407u;
      size_t j = (size_t)(s >> 33) % i, t = idx[i - 1];
      idx[i - 1] = idx[j];
      idx[j] = t;
    }
    const uint8_t *d[QT_MAX_DATAGRAMS];
    size_t len[QT_MAX_DATAGRAMS];
    for (size_t i = 0; i < flight.n; i++) {
      d[i] = flight.d[idx[i]];
      len[i] = flight.len[idx[i]];
    }
    sni_quic q;
    sni_hello h;
    size_t at;
    int rc = feed_all(&q, &h, d, len, flight.n, &at);
    assert_true(rc > 0);
    assert_int_equal(at, flight.n - 1); /* no datagram is redundant */
    assert_string_equal(h.sni, "test-chromium.example.com");
  }
}

/* ---- never sticky: junk, corruption, foreign packets ---------------------- */

static void test_junk_is_ignored(void **state) {
  (void)state;
  uint8_t pkt[1300];
  size_t n = qt_unhex(quic_rfc9001_client_initial, pkt, sizeof pkt);
  sni_quic q;
  sni_hello h;
  assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, NULL), 0);
  /* Every byte flipped in turn: authentication (or the header walk)
   * refuses each, and nothing sticks. */
  unsigned fed = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t *c = dup_exact(pkt, n);
    c[i] ^= (uint8_t)(1u << (i % 8));
    int rc = sni_quic_feed(&q, c, n);
    free(c);
    if (rc != SNI_EAGAIN) fail_msg("flip at %zu: %d", i, rc);
    fed++;
  }
  /* Short, long, empty, non-QUIC, truncated. */
  static uint8_t junk[70000];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 7u + 3u);
  assert_int_equal(sni_quic_feed(&q, junk, 0), SNI_EAGAIN);
  assert_int_equal(sni_quic_feed(&q, pkt, 1199), SNI_EAGAIN);
  assert_int_equal(sni_quic_feed(&q, junk, 1500), SNI_EAGAIN);
  assert_int_equal(sni_quic_feed(&q, junk, sizeof junk), SNI_EAGAIN);
  sni_quic_info in;
  assert_int_equal(sni_quic_get_info(&q, &in), 0);
  assert_int_equal(in.last_ignored, SNI_E2BIG);
  assert_int_equal(in.initial_packets, 0);
  assert_int_equal(sni_quic_feed(&q, pkt, n), 1200);
  assert_string_equal(h.sni, "example.com");
  assert_int_equal(sni_quic_get_info(&q, &in), 0);
  assert_int_equal(in.datagrams, fed + 5);
  assert_int_equal(in.datagrams_ignored, fed + 4);
  assert_int_equal(in.datagrams_used, 1);
}

/* A version we do not know, and one that differs from the connection's. */
static void test_versions(void **state) {
  (void)state;
  uint8_t pkt[1300];
  size_t n = qt_unhex(quic_rfc9001_client_initial, pkt, sizeof pkt);
  sni_quic q;
  sni_hello h;
  sni_quic_info in;
  assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, NULL), 0);
  uint8_t c[1300];
  memcpy(c, pkt, n);
  c[4] = 0x02; /* version 2 is not 0x6b3343cf */
  assert_int_equal(sni_quic_feed(&q, c, n), SNI_EAGAIN);
  assert_int_equal(sni_quic_get_info(&q, &in), 0);
  assert_int_equal(in.last_ignored, SNI_EQUICVER);
  c[4] = 0x01;
  c[0] = 0x40; /* a short header */
  assert_int_equal(sni_quic_feed(&q, c, n), SNI_EAGAIN);
  assert_int_equal(sni_quic_get_info(&q, &in), 0);
  assert_int_equal(in.last_ignored, SNI_ENOTQUIC);
  assert_int_equal(in.packets_skipped, 2); /* the unknown version too */
  assert_int_equal(sni_quic_feed(&q, pkt, n), 1200);
}

/* ---- protocol errors: sticky when keyed by the original DCID -------------- */

/* One datagram: a client Initial (original keys unless key_dcid given)
 * carrying frames, padded to 1200 bytes. */
static size_t one_initial(const uint8_t *frames, size_t fl, uint8_t *out, uint64_t pn,
                          const uint8_t *dcid, size_t dcid_len, uint8_t reserved) {
  uint8_t f[1300];
  memcpy(f, frames, fl);
  size_t oh = 1 + 4 + 1 + dcid_len + 1 + sizeof qt_scid + 1 + 2 + 2 + SNI_GCM_TAG_LEN;
  if (fl + oh < 1200) {
    memset(f + fl, 0, 1200 - oh - fl);
    fl = 1200 - oh;
  }
  qt_initial pk = {SNI_QUIC_VERSION_1, dcid, dcid_len, dcid, dcid_len, qt_scid,
                   sizeof qt_scid, NULL, 0, pn, 2, reserved};
  size_t n = qt_protect(&pk, f, fl, out, 1500);
  assert_true(n >= 1200);
  return n;
}

/* The first 100 bytes of the RFC hello as a first, good packet. */
static const uint8_t *rfc_hello(size_t *n) {
  static uint8_t frame[512];
  size_t fl = qt_unhex(QUIC_RFC_CRYPTO_FRAME, frame, sizeof frame);
  *n = fl - 4;
  return frame + 4;
}

typedef struct bad_case {
  const char *what;
  uint8_t frames[64];
  size_t len;
  uint8_t reserved;
  int expect;
} bad_case;

static void test_protocol_errors(void **state) {
  (void)state;
  size_t hn;
  const uint8_t *hs = rfc_hello(&hn);
  bad_case cases[] = {
      {"STREAM frame", {0x08, 0x00, 0x01, 'x'}, 4, 0, SNI_EPROTO},
      {"HANDSHAKE_DONE", {0x1e}, 1, 0, SNI_EPROTO},
      {"CONNECTION_CLOSE 0x1d", {0x1d, 0, 0, 0}, 4, 0, SNI_EPROTO},
      {"CONNECTION_CLOSE", {0x1c, 0x0a, 0x00, 0x00}, 4, 0, SNI_EOF},
      {"truncated CRYPTO", {0x06, 0x00, 0x50, 0x00}, 4, 0, SNI_EPROTO},
      {"ACK below zero", {0x02, 0x01, 0x00, 0x00, 0x02}, 5, 0, SNI_EPROTO},
      {"ACK ranges", {0x02, 0x05, 0x00, 0x01, 0x00, 0x04, 0x00}, 7, 0, SNI_EPROTO},
      {"disagreeing overlap", {0x06, 0x00, 0x02, 0x01, 0x01}, 5, 0, SNI_EPROTO},
      {"past the hello", {0x06, 0x40, 0xf0, 0x02, 0xff, 0xff}, 6, 0, SNI_EPROTO},
      {"past max_hello", {0x06, 0x80, 0x01, 0x00, 0x00, 0x01, 0x00}, 7, 0, SNI_E2BIG},
      {"reserved bits", {0x01}, 1, 0x04, SNI_EPROTO},
  };
  uint8_t d1[1500], d2[1500], fr[256];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    /* Packet 0: the hello's first 100 bytes.  Packet 1: the bad frame. */
    size_t fl = 0;
    assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 0, hs, 100), 0);
    size_t n1 = one_initial(fr, fl, d1, 0, qt_dcid_a, 8, 0);
    size_t n2 = one_initial(cases[i].frames, cases[i].len, d2, 1, qt_dcid_b, 8, cases[i].reserved);
    (void)n2;
    /* the second packet uses the original keys: re-protect with key A */
    qt_initial pk = {SNI_QUIC_VERSION_1, qt_dcid_b, 8, qt_dcid_a, 8, qt_scid, sizeof qt_scid,
                     NULL, 0, 1, 2, cases[i].reserved};
    uint8_t f2[1300];
    memcpy(f2, cases[i].frames, cases[i].len);
    memset(f2 + cases[i].len, 0, sizeof f2 - cases[i].len);
    n2 = qt_protect(&pk, f2, 1160, d2, sizeof d2);
    assert_true(n2 >= 1200);
    sni_quic q;
    sni_hello h;
    sni_limits lim = {1024, 0, 0};
    assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, &lim), 0);
    assert_int_equal(sni_quic_feed(&q, d1, n1), SNI_EAGAIN);
    int rc = sni_quic_feed(&q, d2, n2);
    if (rc != cases[i].expect) fail_msg("%s: %d, expected %d", cases[i].what, rc, cases[i].expect);
    assert_int_equal(sni_quic_feed(&q, d1, n1), cases[i].expect); /* sticky */
    assert_int_equal(sni_quic_status(&q), cases[i].expect);

    /* The same packet keyed by its own DCID (a Retry-like switch, which
     * anyone in the path can forge) is ignored instead. */
    assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, &lim), 0);
    assert_int_equal(sni_quic_feed(&q, d1, n1), SNI_EAGAIN);
    n2 = one_initial(f2, 1160, d2, 1, qt_dcid_b, 8, cases[i].reserved);
    assert_int_equal(sni_quic_feed(&q, d2, n2), SNI_EAGAIN);
    sni_quic_info in;
    assert_int_equal(sni_quic_get_info(&q, &in), 0);
    assert_int_equal(in.last_ignored, cases[i].expect);
    assert_int_equal(in.retry, 0);
    /* ... and the real rest of the hello still completes it. */
    fl = 0;
    assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 100, hs + 100, hn - 100), 0);
    n1 = one_initial(fr, fl, d1, 2, qt_dcid_a, 8, 0);
    assert_true(sni_quic_feed(&q, d1, n1) > 0);
  }
}

/* Limits: the reassembly space, the number of pieces held. */
static void test_limits(void **state) {
  (void)state;
  size_t hn;
  const uint8_t *hs = rfc_hello(&hn);
  uint8_t d[1500], fr[1300];
  sni_quic q;
  sni_hello h;
  /* 65 one-byte pieces with gaps between them: too many to hold. */
  size_t fl = 0;
  for (unsigned i = 0; i < 65; i++)
    assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 2u * i + 1u, hs + 2 * i + 1, 1), 0);
  size_t n = one_initial(fr, fl, d, 0, qt_dcid_a, 8, 0);
  assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, NULL), 0);
  assert_int_equal(sni_quic_feed(&q, d, n), SNI_E2BIG);
  /* 64 are fine, and the gaps filled later complete it. */
  fl = 0;
  for (unsigned i = 0; i < 64; i++)
    assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 2u * i + 1u, hs + 2 * i + 1, 1), 0);
  n = one_initial(fr, fl, d, 0, qt_dcid_a, 8, 0);
  assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, NULL), 0);
  assert_int_equal(sni_quic_feed(&q, d, n), SNI_EAGAIN);
  fl = 0;
  assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 0, hs, hn), 0);
  n = one_initial(fr, fl, d, 1, qt_dcid_a, 8, 0);
  assert_int_equal(sni_quic_feed(&q, d, n), (int)(2 * n));
  /* A buffer too small for hello + packet: the packet is not decrypted. */
  assert_int_equal(sni_quic_init(&q, &h, qbuf, 2048, NULL), 0);
  fl = 0;
  /* (no handshake header yet, so only the space bounds the offset) */
  assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 4, hs + 4, 96), 0);
  n = one_initial(fr, fl, d, 0, qt_dcid_a, 8, 0);
  assert_int_equal(sni_quic_feed(&q, d, n), SNI_EAGAIN);
  fl = 0;
  assert_int_equal(qt_crypto(fr, &fl, sizeof fr, 1000, hs, 10), 0);
  n = one_initial(fr, fl, d, 1, qt_dcid_a, 8, 0);
  assert_int_equal(sni_quic_feed(&q, d, n), SNI_ENOSPC);
}

static void test_bad_arguments(void **state) {
  (void)state;
  sni_quic q;
  sni_hello h;
  sni_quic_info in;
  memset(&q, 0x5a, sizeof q);
  assert_int_equal(sni_quic_feed(&q, "x", 1), SNI_EINVAL);
  assert_int_equal(sni_quic_status(&q), SNI_EINVAL);
  assert_int_equal(sni_quic_get_info(&q, &in), SNI_EINVAL);
  assert_int_equal(sni_quic_init(NULL, &h, qbuf, sizeof qbuf, NULL), SNI_EINVAL);
  assert_int_equal(sni_quic_init(&q, NULL, qbuf, sizeof qbuf, NULL), SNI_EINVAL);
  assert_int_equal(sni_quic_init(&q, &h, NULL, sizeof qbuf, NULL), SNI_EINVAL);
  assert_int_equal(sni_quic_init(&q, &h, qbuf, 100, NULL), SNI_EINVAL);
  sni_limits bad = {0, 0, 0x80000000u}; /* a flags bit that means nothing */
  assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, &bad), SNI_EINVAL);
  assert_int_equal(sni_quic_init(&q, &h, qbuf, sizeof qbuf, NULL), 0);
  assert_int_equal(sni_quic_feed(&q, NULL, 1), SNI_EINVAL);
  assert_int_equal(sni_quic_feed(NULL, "x", 1), SNI_EINVAL);
  assert_int_equal(sni_quic_status(&q), SNI_EAGAIN);
  assert_string_equal(sni_errname(SNI_ENOTQUIC), "ENOTQUIC");
  assert_string_equal(sni_errname(SNI_EAUTH), "EAUTH");
  assert_string_equal(sni_errname(SNI_EQUICVER), "EQUICVER");
}

/* The handshake-layer entry point on its own: every split of a hello. */
static void test_parser_handshake_input(void **state) {
  (void)state;
  static uint8_t hs[1u << 16];
  for (size_t c = 0; c < n_corpus; c++) {
    size_t n = deframe(corpus[c].wire, corpus[c].wire_len, hs, sizeof hs, NULL);
    if (n == 0) continue;
    sni_hello exp, h;
    expected_hello(hs, n, (uint32_t)n, &exp);
    exp.quic = 0;
    for (size_t cut = 1; cut < n; cut += 1 + n / 50) {
      sni_parser p;
      assert_int_equal(sni_parser_init_handshake(&p, &h, NULL), 0);
      assert_int_equal(sni_parser_feed(&p, hs, cut), SNI_EAGAIN);
      assert_true(sni_parser_need(&p) >= 1);
      /* bytes after the hello are not the hello's */
      uint8_t *rest = dup_exact(hs + cut, n - cut + 3);
      memcpy(rest, hs + cut, n - cut);
      assert_int_equal(sni_parser_feed(&p, rest, n - cut + 3), (int)(n - cut));
      free(rest);
      assert_int_equal(sni_parser_status(&p), (int)n);
      assert_memory_equal(&h, &exp, sizeof h);
    }
  }
  sni_hello h;
  sni_parser p;
  assert_int_equal(sni_parser_init_handshake(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, "\x16\x03\x01", 3), SNI_EPROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_vectors),
      cmocka_unit_test(test_own_capture_every_order),
      cmocka_unit_test(test_packetizer_corpus),
      cmocka_unit_test(test_packetizer_datagram_orders),
      cmocka_unit_test(test_junk_is_ignored),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_protocol_errors),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_parser_handshake_input),
  };
  return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
