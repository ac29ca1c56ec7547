/* "The parser never allocates": every allocator call of the process is
 * counted while armed (alloc_guard.c: replaced entry points on glibc, the
 * sanitizer's hooks under ASan); parses of the whole corpus, one-shot and
 * streaming, and of failing inputs must not make any.  Where counting is
 * unavailable the tests skip and the nm check (parser_no_allocator_symbols)
 * remains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_guard.h"
#include "crypto.h"
#include "parser_util.h"
#include "sniroute.h"

static void skip_unless_counting(void) {
  if (sni_alloc_guard_available()) return;
  print_message("allocator counting unavailable (not glibc, no ASan)\n");
  skip();
}

/* Proves the counting works, so a zero below means something. */
static void test_interposition_counts(void **state) {
  (void)state;
  skip_unless_counting();
  void *(*volatile m)(size_t) = malloc;
  void (*volatile f)(void *) = free;
  char *(*volatile sd)(const char *) = strdup;
  sni_alloc_guard_arm();
  void *p = m(32);
  char *s = sd("abc");
  f(s);
  f(p);
  assert_int_equal(sni_alloc_guard_disarm(), 4);
  p = m(8); /* not armed: not counted */
  f(p);
  assert_int_equal(sni_alloc_guard_disarm(), 0);
}

static void test_parses_do_not_allocate(void **state) {
  (void)state;
  skip_unless_counting();
  assert_true(n_corpus >= MIN_CORPUS_CASES);
  /* Inputs prepared before arming: a synthetic failure of each kind. */
  static const uint8_t bad[][10] = {
      {'G', 'E', 'T', ' '},
      {0x80, 0x2e, 0x01, 0x03, 0x01},
      {0x16, 0x03, 0x01, 0x00, 0x00},
      {0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x28},
  };
  int results[64 * 4];
  size_t nres = 0;
  sni_alloc_guard_arm();
  for (size_t c = 0; c < n_corpus && nres + 4 <= sizeof results / sizeof *results; c++) {
    const vec *v = &corpus[c];
    sni_hello h;
    sni_parser p;
    results[nres++] = sni_parse(&h, v->wire, v->wire_len) == (int)v->wire_len;
    int rc = sni_parser_init(&p, &h, NULL);
    for (size_t i = 0; i < v->wire_len && rc == 0; i++) {
      int r = sni_parser_feed(&p, v->wire + i, 1);
      (void)sni_parser_need(&p);
      if (r != SNI_EAGAIN) rc = r == 1 ? 1 : -100;
    }
    results[nres++] = rc == 1 && sni_parser_status(&p) == (int)v->wire_len;
    /* Prefixes, and sni_alpn_get on the result. */
    results[nres++] = sni_parse(&h, v->wire, v->wire_len / 2) == SNI_EAGAIN;
    const uint8_t *name;
    size_t len;
    sni_parse(&h, v->wire, v->wire_len);
    results[nres++] = h.n_alpn == 0 || sni_alpn_get(&h, 0, &name, &len) == 0;
  }
  sni_hello h;
  int bad_rc[4];
  for (size_t i = 0; i < 4; i++) bad_rc[i] = sni_parse(&h, bad[i], sizeof bad[i]);
  const char *str = sni_strerror(SNI_EPROTO);
  const char *nm = sni_errname(SNI_EPROTO);
  unsigned long calls = sni_alloc_guard_disarm();
  assert_int_equal(calls, 0);
  for (size_t i = 0; i < nres; i++)
    if (!results[i]) fail_msg("parse check %zu (case %zu) failed", i, i / 4);
  assert_int_equal(bad_rc[0], SNI_ENOTTLS);
  assert_int_equal(bad_rc[1], SNI_ESSLV2);
  assert_int_equal(bad_rc[2], SNI_EPROTO);
  assert_int_equal(bad_rc[3], SNI_EPROTO);
  assert_string_equal(nm, "EPROTO");
  assert_non_null(str);
}

/* The crypto under the QUIC Initial reader (lib/crypto.h) does not
 * allocate either: key derivation, header protection, GCM both ways and
 * SHA-256, on the portable and (when the CPU has it) the AES-NI code. */
static void test_crypto_does_not_allocate(void **state) {
  (void)state;
  skip_unless_counting();
  static const uint8_t dcid[] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
  static const uint8_t rfc9001_key[SNI_QUIC_KEY_LEN] = {
      0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76, 0xd5, 0x46,
      0x77, 0x30, 0xef, 0xcb, 0xe3, 0xb1, 0xa2, 0x2d};
  enum { DATAGRAM = 1200, HEADER = 22 }; /* RFC 9001 A.2's sizes */
  static uint8_t pkt[DATAGRAM], tag[SNI_GCM_TAG_LEN];
  uint8_t *body = pkt + HEADER;
  const size_t body_len = sizeof pkt - HEADER;
  sni_quic_initial_keys k[2];
  int rc = 0;
  sni_alloc_guard_arm();
  for (int i = 0; i < 2; i++) {
    sni_crypto_force_portable(i == 0);
    uint8_t mask[SNI_QUIC_HP_MASK_LEN], nonce[SNI_QUIC_IV_LEN], d[SNI_SHA256_LEN];
    rc |= sni_quic_initial_keys_derive(SNI_QUIC_VERSION_1, dcid, sizeof dcid, SNI_QUIC_CLIENT,
                                       &k[i]);
    sni_aes128 hp;
    sni_aes128_init(&hp, k[i].hp);
    sni_quic_hp_mask(&hp, pkt, mask);
    sni_aes128_gcm g;
    sni_aes128_gcm_init(&g, k[i].key);
    sni_quic_nonce(k[i].iv, 2 /* packet number */, nonce);
    rc |= sni_aes128_gcm_encrypt(&g, nonce, pkt, HEADER, body, body_len, body, tag);
    rc |= sni_aes128_gcm_decrypt(&g, nonce, pkt, HEADER, body, body_len, tag, body);
    sni_sha256(pkt, sizeof pkt, d);
  }
  sni_crypto_force_portable(0);
  assert_int_equal(sni_alloc_guard_disarm(), 0);
  assert_int_equal(rc, 0);
  assert_memory_equal(k[0].key, rfc9001_key, sizeof rfc9001_key);
  assert_memory_equal(k[1].key, rfc9001_key, sizeof rfc9001_key);
}

/* The QUIC Initial reader (lib/quic.c) allocates nothing either: our own
 * two-datagram Chromium capture in both orders, junk, a short datagram. */
static void test_quic_does_not_allocate(void **state) {
  (void)state;
  skip_unless_counting();
  size_t l0, l1;
  uint8_t *d0 = corpus_file("063-chromium-quic", "initial-0.bin", &l0);
  uint8_t *d1 = corpus_file("063-chromium-quic", "initial-1.bin", &l1);
  assert_non_null(d0);
  assert_non_null(d1);
  static uint8_t space[SNI_QUIC_DEFAULT_BUF], junk[1300];
  memset(junk, 0xc3, sizeof junk);
  int rc[4];
  sni_quic_info info;
  sni_alloc_guard_arm();
  for (int order = 0; order < 2; order++) {
    sni_quic q;
    sni_hello h;
    rc[0] = sni_quic_init(&q, &h, space, sizeof space, NULL);
    rc[1] = sni_quic_feed(&q, junk, sizeof junk);
    rc[2] = sni_quic_feed(&q, order ? d1 : d0, order ? l1 : l0);
    rc[3] = sni_quic_feed(&q, order ? d0 : d1, order ? l0 : l1);
    (void)sni_quic_feed(&q, junk, 10);
    (void)sni_quic_status(&q);
    (void)sni_quic_get_info(&q, &info);
  }
  assert_int_equal(sni_alloc_guard_disarm(), 0);
  assert_int_equal(rc[0], 0);
  assert_int_equal(rc[1], SNI_EAGAIN);
  assert_int_equal(rc[2], SNI_EAGAIN);
  assert_int_equal(rc[3], (int)(l0 + l1));
  assert_int_equal(info.initial_packets, 2);
  free(d0);
  free(d1);
}

/* JA4 (every variant), JA3 and its MD5 allocate nothing either, on every
 * corpus hello, including the SNI_ENOSPC path. */
static void test_fingerprints_do_not_allocate(void **state) {
  (void)state;
  skip_unless_counting();
  static sni_hello hs[64];
  size_t n = n_corpus < 64 ? n_corpus : 64;
  for (size_t c = 0; c < n; c++)
    assert_true(sni_parse(&hs[c], corpus[c].wire, corpus[c].wire_len) > 0);
  char out[SNI_JA3_MAX];
  int bad = 0;
  sni_alloc_guard_arm();
  for (size_t c = 0; c < n; c++) {
    for (int v = SNI_JA4; v <= SNI_JA4_RO; v++)
      bad |= sni_ja4(&hs[c], (sni_ja4_variant)v, out, sizeof out) <= 0;
    bad |= sni_ja3(&hs[c], out, sizeof out) <= 0;
    bad |= sni_ja3_md5(&hs[c], out, sizeof out) != 32;
    bad |= sni_ja4(&hs[c], SNI_JA4, out, 8) != SNI_ENOSPC;
  }
  assert_int_equal(sni_alloc_guard_disarm(), 0);
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quic_does_not_allocate),
      cmocka_unit_test(test_interposition_counts),
      cmocka_unit_test(test_parses_do_not_allocate),
      cmocka_unit_test(test_crypto_does_not_allocate),
      cmocka_unit_test(test_fingerprints_do_not_allocate),
  };
  return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
